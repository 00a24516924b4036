//! The proxy's revocation list, from [`RevocationConfig`]: none, a file of revoked token ids the
//! operator edits (re-read when it changes), or Redis (`l402-redis`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use l402_core::{MemoryRevocationList, RevocationList, RootKeyError, TokenId};
use l402_redis::{RedisConnection, RedisRevocationList};

use crate::config::{ConfigError, DEFAULT_REVOCATION_RELOAD_SECS, RevocationConfig};

/// Largest revocation file read: 16 MiB, about 250,000 token ids.
const MAX_FILE_LEN: u64 = 16 * 1024 * 1024;
/// The file is read again after this long even if its modification time and length look
/// unchanged (a file system with coarse timestamps, an edit that keeps the length).
const FORCED_RELOAD: Duration = Duration::from_secs(30);

/// The configured revocation list.
#[derive(Debug)]
pub enum Revocations {
    /// No `[revocation]`: nothing can be revoked from outside.
    None(MemoryRevocationList),
    /// `kind = "memory"`: a file re-read when it changes.
    File(Arc<FileRevocations>),
    /// `kind = "redis"`.
    Redis(RedisRevocationList),
}

impl Revocations {
    /// Builds the list of `config`; a file list is loaded now (a missing or malformed
    /// file is a configuration error) and re-read by a background task.
    ///
    /// # Errors
    /// A file that cannot be read or holds something else than token ids; Redis
    /// settings refused.
    ///
    /// # Panics
    /// With a file list, outside a Tokio runtime (the reload task is spawned on it).
    pub fn from_config(config: Option<&RevocationConfig>) -> Result<Self, ConfigError> {
        Self::from_config_with(config, None)
    }

    /// As [`from_config`](Self::from_config); a Redis list without a `url` of its own
    /// uses `shared`, the connection of `[redis]` (see
    /// [`SharedState::redis`](crate::SharedState::redis)).
    ///
    /// # Errors
    /// As [`from_config`](Self::from_config); a Redis list with neither a `url` nor
    /// `shared`.
    ///
    /// # Panics
    /// As [`from_config`](Self::from_config).
    pub fn from_config_with(
        config: Option<&RevocationConfig>,
        shared: Option<&RedisConnection>,
    ) -> Result<Self, ConfigError> {
        match config {
            None => Ok(Revocations::None(MemoryRevocationList::new())),
            Some(RevocationConfig::Memory { file, reload_secs }) => {
                let list = Arc::new(FileRevocations::open(file)?);
                let every =
                    Duration::from_secs(reload_secs.unwrap_or(DEFAULT_REVOCATION_RELOAD_SECS));
                let weak = Arc::downgrade(&list);
                tokio::spawn(async move {
                    let mut tick = tokio::time::interval(every);
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    loop {
                        tick.tick().await;
                        let Some(list) = weak.upgrade() else { break };
                        list.refresh();
                    }
                });
                Ok(Revocations::File(list))
            }
            Some(RevocationConfig::Redis {
                url,
                prefix,
                max_token_lifetime_secs,
                staleness_secs,
                fail_open: _,
            }) => {
                let err = |e: &dyn std::error::Error| {
                    ConfigError::Revocation(l402_core::ErrorChain(e).to_string())
                };
                let conn = match (url, shared) {
                    (Some(url), _) => RedisConnection::builder(url.clone())
                        .prefix(
                            prefix
                                .clone()
                                .unwrap_or_else(|| crate::config::DEFAULT_REDIS_PREFIX.to_owned()),
                        )
                        .build()
                        .map_err(|e| err(&e))?,
                    (None, Some(shared)) => shared.clone(),
                    (None, None) => {
                        return Err(ConfigError::Revocation(
                            "kind = \"redis\" needs a url, or a [redis] section".to_owned(),
                        ));
                    }
                };
                let mut builder = RedisRevocationList::builder(conn)
                    .max_token_lifetime(Duration::from_secs(*max_token_lifetime_secs));
                if let Some(s) = staleness_secs {
                    builder = builder.staleness(Duration::from_secs(*s));
                }
                Ok(Revocations::Redis(builder.build().map_err(|e| err(&e))?))
            }
        }
    }
}

impl RevocationList for Revocations {
    async fn is_revoked(&self, token_id: &TokenId) -> Result<bool, RootKeyError> {
        match self {
            Revocations::None(list) => list.is_revoked(token_id).await,
            Revocations::File(list) => Ok(list.contains(token_id)),
            Revocations::Redis(list) => list.is_revoked(token_id).await,
        }
    }

    async fn revoke(&self, token_id: &TokenId) -> Result<(), RootKeyError> {
        match self {
            Revocations::None(list) => list.revoke(token_id).await,
            Revocations::File(list) => {
                list.revoke(token_id);
                Ok(())
            }
            Revocations::Redis(list) => list.revoke(token_id).await,
        }
    }

    fn retention(&self) -> Option<Duration> {
        match self {
            Revocations::None(list) => list.retention(),
            Revocations::File(_) => None,
            Revocations::Redis(list) => list.retention(),
        }
    }
}

/// Why an operator's revocation (the admin API's) did not happen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RevokeError {
    /// No `[revocation]` is configured: a revocation would last only until the process
    /// ends and reach no other instance.
    #[error(
        "no [revocation] is configured: add one (kind = \"memory\" with a file, or kind = \"redis\" for a fleet) to revoke tokens"
    )]
    NotConfigured,
    /// The revocation file could not be written (the token is revoked in this process
    /// all the same).
    #[error("cannot append to the revocation file")]
    File(#[source] std::io::Error),
    /// Redis could not record it.
    #[error("the revocation store cannot record it")]
    Store(#[source] RootKeyError),
}

/// What an operator's revocation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Revoked {
    /// Newly revoked.
    Now,
    /// It already was (known to this instance).
    Already,
}

impl Revocations {
    /// Revokes `token_id` for good, as an operator does: in Redis (every instance sharing
    /// it refuses the token within its staleness bound, this one at once), or appended to
    /// the revocation file and applied here at once (other processes reading the file
    /// see it at their next check).
    ///
    /// # Errors
    /// [`RevokeError::NotConfigured`] without `[revocation]`; [`RevokeError::File`] or
    /// [`RevokeError::Store`] when it could not be recorded.
    pub async fn revoke_persistently(&self, token_id: &TokenId) -> Result<Revoked, RevokeError> {
        match self {
            Revocations::None(_) => Err(RevokeError::NotConfigured),
            Revocations::File(list) => list.append(token_id),
            Revocations::Redis(list) => list
                .revoke(token_id)
                .await
                .map(|()| Revoked::Now)
                .map_err(RevokeError::Store),
        }
    }

    /// The configured kind: `none`, `memory` (a file) or `redis`.
    pub fn kind(&self) -> &'static str {
        match self {
            Revocations::None(_) => "none",
            Revocations::File(_) => "memory",
            Revocations::Redis(_) => "redis",
        }
    }
}

/// What the file looked like when last read: modification time and length.
type Stamp = (Option<SystemTime>, u64);

/// Revoked token ids from a file: 64 hex characters a line, blank lines and `#` comments
/// ignored. Re-read when its modification time or length changes, and at least every
/// 30 seconds.
///
/// A revocation is final for the life of the process: ids read from the file are added to
/// those already revoked, and an id removed from the file stays revoked until a restart.
/// So a file caught half-written (an editor truncating it, then writing), or replaced by
/// a malformed one (refused, logged), never brings a revoked token back.
#[derive(Debug)]
pub struct FileRevocations {
    path: PathBuf,
    revoked: RwLock<HashSet<TokenId>>,
    /// The file's stamp when last read, and when that was.
    stamp: Mutex<(Stamp, Instant)>,
    /// Held while appending: the ids revoked here that could not be written to the file.
    append: Mutex<HashSet<TokenId>>,
}

impl FileRevocations {
    /// Loads `path`.
    ///
    /// # Errors
    /// The file cannot be read, is too large, or holds something else than token ids.
    pub fn open(path: &Path) -> Result<Self, ConfigError> {
        let stamp = stamp(path)
            .map_err(|e| ConfigError::Revocation(format!("cannot read {}: {e}", path.display())))?;
        let ids =
            read(path).map_err(|e| ConfigError::Revocation(format!("{}: {e}", path.display())))?;
        Ok(FileRevocations {
            path: path.to_owned(),
            revoked: RwLock::new(ids),
            stamp: Mutex::new((stamp, Instant::now())),
            append: Mutex::new(HashSet::new()),
        })
    }

    fn contains(&self, id: &TokenId) -> bool {
        self.revoked
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(id)
    }

    fn revoke(&self, id: &TokenId) {
        self.revoked
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(*id);
    }

    /// Revokes `id` here at once and appends it to the file, one line written in one
    /// `write` with `O_APPEND` (no reader sees half of it; appends are serialized).
    fn append(&self, id: &TokenId) -> Result<Revoked, RevokeError> {
        let mut unwritten = self.append.lock().unwrap_or_else(PoisonError::into_inner);
        if self.contains(id) && !unwritten.contains(id) {
            return Ok(Revoked::Already);
        }
        // Refused here from now on, whether or not the file can be written.
        self.revoke(id);
        match append_line(&self.path, id) {
            Ok(()) => {
                unwritten.remove(id);
                tracing::info!(file = %self.path.display(), "token id appended to the revocation file");
                Ok(Revoked::Now)
            }
            Err(e) => {
                // Revoking it again writes it then.
                unwritten.insert(*id);
                Err(RevokeError::File(e))
            }
        }
    }

    /// Re-reads the file if it changed.
    pub fn refresh(&self) {
        let now = match stamp(&self.path) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(file = %self.path.display(), error = %e, "cannot read the revocation file; keeping the revocations loaded");
                return;
            }
        };
        let mut last = self.stamp.lock().unwrap_or_else(PoisonError::into_inner);
        if last.0 == now && last.1.elapsed() < FORCED_RELOAD {
            return;
        }
        // Once per change (and per forced reload), whether or not the file is good.
        *last = (now, Instant::now());
        match read(&self.path) {
            Ok(ids) => {
                let mut revoked = self.revoked.write().unwrap_or_else(PoisonError::into_inner);
                let before = revoked.len();
                revoked.extend(ids);
                if revoked.len() > before {
                    tracing::info!(
                        file = %self.path.display(),
                        added = revoked.len() - before,
                        revoked = revoked.len(),
                        "revocation file loaded"
                    );
                }
            }
            Err(e) => {
                tracing::warn!(file = %self.path.display(), error = %e, "revocation file refused; the revocations already loaded stay in force");
            }
        }
    }
}

/// Appends `id`'s line to the file, in one `write` with `O_APPEND`: a reader never sees
/// half of it.
fn append_line(path: &Path, id: &TokenId) -> std::io::Result<()> {
    use std::io::{Read as _, Seek as _, Write as _};
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .open(path)?;
    let mut line = String::with_capacity(66);
    // On a line of its own if the operator left the last one unterminated.
    if file.metadata()?.len() > 0 {
        let mut last = [0u8; 1];
        file.seek(std::io::SeekFrom::End(-1))?;
        file.read_exact(&mut last)?;
        if last[0] != b'\n' {
            line.push('\n');
        }
    }
    line.push_str(&id.to_hex());
    line.push('\n');
    file.write_all(line.as_bytes())?;
    file.sync_data()
}

fn stamp(path: &Path) -> std::io::Result<Stamp> {
    let meta = std::fs::metadata(path)?;
    Ok((meta.modified().ok(), meta.len()))
}

fn read(path: &Path) -> Result<HashSet<TokenId>, String> {
    let len = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    if len > MAX_FILE_LEN {
        return Err(format!("larger than {MAX_FILE_LEN} bytes"));
    }
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    parse(&text)
}

/// Parses the file's text.
fn parse(text: &str) -> Result<HashSet<TokenId>, String> {
    let mut ids = HashSet::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let id = TokenId::from_hex(line)
            .map_err(|_| format!("line {}: not a token id (64 hex characters)", n + 1))?;
        ids.insert(id);
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn file_format() {
        let a = "ab".repeat(32);
        let b = "CD".repeat(32);
        let ids = parse(&format!("# revoked\n{a}\n\n  {b}  # leaked\n")).unwrap();
        assert_eq!(ids.len(), 2);
        assert!(ids.contains(&TokenId::from_hex(&b).unwrap()));
        assert_eq!(
            parse(&format!("{a}\nnot-hex\n")).unwrap_err(),
            "line 2: not a token id (64 hex characters)"
        );
        assert!(parse(&a[..63]).is_err());
    }

    #[test]
    fn an_appended_revocation_applies_at_once_and_reads_back() {
        let dir = std::env::temp_dir().join(format!("l402-rev-append-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("revoked.txt");
        let a = TokenId::from_bytes([1; 32]);
        let b = TokenId::from_bytes([2; 32]);
        // The last line has no newline: the appended id goes on a line of its own.
        std::fs::write(&file, format!("# by hand\n{}", a.to_hex())).unwrap();
        let list = FileRevocations::open(&file).unwrap();
        assert_eq!(list.append(&b).unwrap(), Revoked::Now);
        assert!(list.contains(&b));
        assert_eq!(list.append(&b).unwrap(), Revoked::Already);
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(text.matches(&b.to_hex()).count(), 1, "{text}");
        let again = FileRevocations::open(&file).unwrap();
        assert!(again.contains(&a) && again.contains(&b));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn revocations_are_final_whatever_the_file_becomes() {
        let dir = std::env::temp_dir().join(format!("l402-rev-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("revoked.txt");
        let a = TokenId::from_bytes([1; 32]);
        let b = TokenId::from_bytes([2; 32]);
        std::fs::write(&file, format!("{}\n", a.to_hex())).unwrap();
        let list = FileRevocations::open(&file).unwrap();
        assert!(list.contains(&a) && !list.contains(&b));
        std::fs::write(&file, format!("{}\n{}\n", a.to_hex(), b.to_hex())).unwrap();
        list.refresh();
        assert!(list.contains(&b));
        std::fs::write(&file, "garbage that is longer than before\n").unwrap();
        list.refresh();
        assert!(list.contains(&a) && list.contains(&b));
        // Caught half-written, or emptied: still revoked.
        std::fs::write(&file, "").unwrap();
        list.refresh();
        assert!(list.contains(&a) && list.contains(&b));
        std::fs::remove_file(&file).unwrap();
        list.refresh();
        assert!(list.contains(&a));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
