//! The `[blocklist]` file: client networks refused with 403, re-read when the file
//! changes and on demand (`SIGHUP`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use l402_tower::{IpBlocklist, MAX_BLOCKLIST_TEXT_LEN};

use crate::config::{BlocklistConfig, ConfigError, DEFAULT_BLOCKLIST_RELOAD_SECS};

/// The file is read again after this long even if its modification time and length look
/// unchanged (coarse timestamps, an edit that keeps the length).
const FORCED_RELOAD: Duration = Duration::from_secs(30);

/// What the file looked like when last read: modification time and length.
type Stamp = (Option<SystemTime>, u64);

/// A blocklist loaded from a file the operator edits.
///
/// Unlike revocations, an entry removed from the file is unblocked: the list is replaced
/// by the file's as a whole. A file that cannot be read or does not parse is refused
/// (logged with the line at fault) and the list in force stays.
#[derive(Debug)]
pub struct BlocklistFile {
    path: PathBuf,
    list: IpBlocklist,
    stamp: Mutex<(Stamp, Instant)>,
}

impl BlocklistFile {
    /// Loads `path`.
    ///
    /// # Errors
    /// The file cannot be read, is too large, or holds a line that is not an address or
    /// a CIDR network.
    pub fn open(path: &Path) -> Result<Self, ConfigError> {
        let stamp = stamp(path)
            .map_err(|e| ConfigError::Blocklist(format!("cannot read {}: {e}", path.display())))?;
        let nets =
            read(path).map_err(|e| ConfigError::Blocklist(format!("{}: {e}", path.display())))?;
        let list = IpBlocklist::new();
        list.replace(nets);
        Ok(BlocklistFile {
            path: path.to_owned(),
            list,
            stamp: Mutex::new((stamp, Instant::now())),
        })
    }

    /// Loads the file of `config` and re-reads it every `reload_secs` on the current
    /// Tokio runtime while the returned value is alive.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    ///
    /// # Panics
    /// Outside a Tokio runtime.
    pub fn watch(config: &BlocklistConfig) -> Result<Arc<Self>, ConfigError> {
        let file = Arc::new(Self::open(&config.file)?);
        let every = Duration::from_secs(
            config
                .reload_secs
                .unwrap_or(DEFAULT_BLOCKLIST_RELOAD_SECS)
                .max(1),
        );
        let weak = Arc::downgrade(&file);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(file) = weak.upgrade() else { break };
                file.refresh(false);
            }
        });
        Ok(file)
    }

    /// The list (clones share it: a reload reaches every holder).
    pub fn list(&self) -> &IpBlocklist {
        &self.list
    }

    /// Re-reads the file if it changed, or whatever its stamp says when `force` (a
    /// `SIGHUP`).
    pub fn refresh(&self, force: bool) {
        let now = match stamp(&self.path) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(file = %self.path.display(), error = %e, "cannot read the blocklist file; keeping the list in force");
                return;
            }
        };
        let mut last = self.stamp.lock().unwrap_or_else(PoisonError::into_inner);
        if !force && last.0 == now && last.1.elapsed() < FORCED_RELOAD {
            return;
        }
        // Once per change (and per forced reload), whether or not the file is good.
        *last = (now, Instant::now());
        match read(&self.path) {
            Ok(nets) => {
                let (before, after) = (self.list.len(), nets.len());
                self.list.replace(nets);
                if before != after || force {
                    tracing::info!(file = %self.path.display(), networks = after, "blocklist loaded");
                }
            }
            Err(e) => {
                tracing::warn!(file = %self.path.display(), error = %e, "blocklist file refused; the list in force stays");
            }
        }
    }
}

fn stamp(path: &Path) -> std::io::Result<Stamp> {
    let meta = std::fs::metadata(path)?;
    Ok((meta.modified().ok(), meta.len()))
}

fn read(path: &Path) -> Result<Vec<ipnet::IpNet>, String> {
    let len = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    if len > MAX_BLOCKLIST_TEXT_LEN as u64 {
        return Err(format!("larger than {MAX_BLOCKLIST_TEXT_LEN} bytes"));
    }
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    IpBlocklist::parse_text(&text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_bad_edit_keeps_the_list_and_a_good_one_replaces_it() {
        let dir = std::env::temp_dir().join(format!("l402-block-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("blocked.txt");
        std::fs::write(&file, "# abuse\n203.0.113.0/24\n").unwrap();
        let b = BlocklistFile::open(&file).unwrap();
        let ip = |s: &str| s.parse().unwrap();
        assert!(b.list().contains(ip("203.0.113.9")));
        std::fs::write(&file, "203.0.113.0/24\nnot a network at all\n").unwrap();
        b.refresh(true);
        assert!(b.list().contains(ip("203.0.113.9")));
        std::fs::write(&file, "198.51.100.1\n").unwrap();
        b.refresh(true);
        assert!(!b.list().contains(ip("203.0.113.9")));
        assert!(b.list().contains(ip("198.51.100.1")));
        std::fs::write(&file, "10.0.0.0/33\n").unwrap();
        let e = BlocklistFile::open(&file).unwrap_err().to_string();
        assert!(
            e.starts_with("[blocklist]: ") && e.contains("line 1"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
