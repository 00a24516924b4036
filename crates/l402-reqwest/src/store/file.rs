//! The file token store: one JSON file per key in a directory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use l402_core::PaymentHash;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{ChargeRecord, PendingPayment, StoreLock, StoredToken, TokenRecord, TokenStore};
use crate::error::StoreError;

/// Suffix of record files.
const RECORD_SUFFIX: &str = ".json";
/// The lock file taken around every read-modify-write of the directory.
const STORE_LOCK: &str = ".store.lock";
/// Largest record file read: a record holds a macaroon (at most ~4 KiB) and an invoice
/// (at most 7,089 characters); anything much larger is not ours.
const MAX_RECORD_LEN: u64 = 64 * 1024;
/// Version of the file format.
const FORMAT_VERSION: u32 = 1;

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

#[derive(Serialize, Deserialize)]
struct FileRecord {
    version: u32,
    key: String,
    record: TokenRecord,
}

/// Tokens in a directory, one JSON file per key, surviving restarts.
///
/// * Writes are atomic: the record goes to a temporary file in the same directory, which
///   is flushed to disk (`fsync`), then renamed over the old file; the directory is then
///   synced too. A crash leaves the old record or the new one.
/// * Files are created with mode 0600 and the directory with 0700 (on Unix): records hold
///   preimages.
/// * Several processes (or several stores in one process) may share a directory: every
///   read-modify-write happens under an advisory lock (`flock`) on `.store.lock`, and
///   [`lock`](TokenStore::lock) takes a per-key lock file, held across a payment, so that
///   only one of them pays for a key at a time.
///
/// File names are the SHA-256 of the key in hex; the key is stored inside the file.
#[derive(Debug, Clone)]
pub struct FileTokenStore {
    dir: PathBuf,
}

impl FileTokenStore {
    /// Opens (creating if needed) a store in `dir`.
    ///
    /// # Errors
    /// [`StoreError::Io`] if the directory cannot be created.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let dir = dir.into();
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(&dir)?;
        Ok(FileTokenStore { dir })
    }

    /// The directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file holding `key`'s record.
    #[must_use]
    pub fn path_for(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{}{RECORD_SUFFIX}", file_stem(key)))
    }

    async fn blocking<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Path) -> Result<T, StoreError> + Send + 'static,
    {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || f(&dir))
            .await
            .map_err(|_| StoreError::Task)?
    }
}

/// Every readable record in the directory (unreadable ones are skipped with a warning).
fn read_all(dir: &Path) -> io::Result<Vec<FileRecord>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.starts_with('.') || !name.ends_with(RECORD_SUFFIX) {
            continue;
        }
        let Ok(bytes) = fs::read(&path) else {
            continue; // removed meanwhile
        };
        match serde_json::from_slice::<FileRecord>(&bytes) {
            Ok(r) => out.push(r),
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %l402_core::ErrorChain(&e), "skipping unreadable token record");
            }
        }
    }
    Ok(out)
}

fn file_stem(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        s.push(char::from(b"0123456789abcdef"[usize::from(b & 0xf)]));
    }
    s
}

pub(crate) fn open_private(path: &Path, options: &mut OpenOptions) -> io::Result<File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// An exclusive `flock` on a lock file, released when the file is closed.
pub(crate) fn lock_file(path: &Path) -> io::Result<File> {
    let file = open_private(
        path,
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false),
    )?;
    fs4::FileExt::lock(&file)?;
    Ok(file)
}

fn read_record(path: &Path, key: &str) -> Result<Option<TokenRecord>, StoreError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut buf = Vec::new();
    file.take(MAX_RECORD_LEN + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_RECORD_LEN {
        return Err(StoreError::Corrupt(format!(
            "{} is larger than {MAX_RECORD_LEN} bytes",
            path.display()
        )));
    }
    let rec: FileRecord = serde_json::from_slice(&buf)
        .map_err(|e| StoreError::Corrupt(format!("{}: {e}", path.display())))?;
    if rec.version != FORMAT_VERSION {
        return Err(StoreError::Corrupt(format!(
            "{}: unknown format version {}",
            path.display(),
            rec.version
        )));
    }
    if rec.key != key {
        return Err(StoreError::Corrupt(format!(
            "{} holds another key",
            path.display()
        )));
    }
    Ok(Some(rec.record))
}

/// Writes `bytes` to `path` atomically: temporary file, fsync, rename, directory fsync.
pub(crate) fn write_atomic(dir: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("record");
    let tmp = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
    let result = (|| {
        let mut file = open_private(&tmp, OpenOptions::new().write(true).create_new(true))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

#[async_trait::async_trait]
impl TokenStore for FileTokenStore {
    async fn load(&self, key: &str) -> Result<Option<TokenRecord>, StoreError> {
        let path = self.path_for(key);
        let key = key.to_owned();
        // Files are replaced by rename, so a read needs no lock.
        self.blocking(move |_| read_record(&path, &key)).await
    }

    async fn save(&self, key: &str, record: &TokenRecord) -> Result<(), StoreError> {
        let path = self.path_for(key);
        let bytes = serde_json::to_vec_pretty(&FileRecord {
            version: FORMAT_VERSION,
            key: key.to_owned(),
            record: record.clone(),
        })
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.blocking(move |dir| {
            let _lock = lock_file(&dir.join(STORE_LOCK))?;
            write_atomic(dir, &path, &bytes)?;
            Ok(())
        })
        .await
    }

    async fn remove(&self, key: &str, payment_hash: &PaymentHash) -> Result<bool, StoreError> {
        let path = self.path_for(key);
        let key = key.to_owned();
        let hash = *payment_hash;
        self.blocking(move |dir| {
            let _lock = lock_file(&dir.join(STORE_LOCK))?;
            match read_record(&path, &key)? {
                Some(r) if *r.payment_hash() == hash => {
                    fs::remove_file(&path)?;
                    sync_dir(dir)?;
                    Ok(true)
                }
                _ => Ok(false),
            }
        })
        .await
    }

    async fn pending(&self) -> Result<Vec<(String, PendingPayment)>, StoreError> {
        self.blocking(|dir| {
            Ok(read_all(dir)?
                .into_iter()
                .filter_map(|rec| match rec.record {
                    TokenRecord::Pending(p) => Some((rec.key, p)),
                    _ => None,
                })
                .collect())
        })
        .await
    }

    async fn charges(&self) -> Result<Vec<(String, ChargeRecord)>, StoreError> {
        self.blocking(|dir| {
            Ok(read_all(dir)?
                .into_iter()
                .filter_map(|rec| match rec.record {
                    TokenRecord::Charge(c) => Some((rec.key, c)),
                    _ => None,
                })
                .collect())
        })
        .await
    }

    async fn tokens(&self) -> Result<Vec<(String, StoredToken)>, StoreError> {
        self.blocking(|dir| {
            Ok(read_all(dir)?
                .into_iter()
                .filter_map(|rec| match rec.record {
                    TokenRecord::Paid(t) => Some((rec.key, t)),
                    _ => None,
                })
                .collect())
        })
        .await
    }

    async fn lock(&self, key: &str) -> Result<StoreLock, StoreError> {
        let path = self.dir.join(format!(".{}.lock", file_stem(key)));
        let file = self.blocking(move |_| Ok(lock_file(&path)?)).await?;
        Ok(StoreLock::new(file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::token;
    use std::time::Duration;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "l402-reqwest-unit-{name}-{}-{}",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[tokio::test]
    async fn saves_loads_and_survives_reopening() {
        let dir = temp_dir("reopen");
        let store = FileTokenStore::open(&dir).unwrap();
        let rec = TokenRecord::Paid(token(1));
        store.save("http://a:80", &rec).await.unwrap();
        assert_eq!(store.load("http://a:80").await.unwrap(), Some(rec.clone()));
        assert_eq!(store.load("http://b:80").await.unwrap(), None);
        drop(store);
        let again = FileTokenStore::open(&dir).unwrap();
        assert_eq!(again.load("http://a:80").await.unwrap(), Some(rec));
        let _ = fs::remove_dir_all(&dir);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("perms");
        let store = FileTokenStore::open(&dir).unwrap();
        store.save("k", &TokenRecord::Paid(token(2))).await.unwrap();
        let mode = fs::metadata(store.path_for("k"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let mode = fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let _ = fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn writes_are_atomic_and_leave_no_temporary_files() {
        let dir = temp_dir("atomic");
        let store = FileTokenStore::open(&dir).unwrap();
        // Many concurrent writers of two different records: every read sees one of them
        // whole, and no temporary file is left behind.
        let a = TokenRecord::Paid(token(3));
        let b = TokenRecord::Paid(token(4));
        let mut tasks = Vec::new();
        for i in 0..40 {
            let store = store.clone();
            let rec = if i % 2 == 0 { a.clone() } else { b.clone() };
            tasks.push(tokio::spawn(async move {
                store.save("k", &rec).await.unwrap();
                store.load("k").await.unwrap().unwrap()
            }));
        }
        for t in tasks {
            let seen = t.await.unwrap();
            assert!(seen == a || seen == b);
        }
        let leftovers: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
        // A corrupt file is an error, not a silent miss.
        fs::write(store.path_for("bad"), b"{not json").unwrap();
        assert!(matches!(
            store.load("bad").await,
            Err(StoreError::Corrupt(_))
        ));
        let _ = fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn two_stores_on_one_directory_share_records_and_locks() {
        let dir = temp_dir("shared");
        let one = FileTokenStore::open(&dir).unwrap();
        let two = FileTokenStore::open(&dir).unwrap();
        let t = token(5);
        let pending = TokenRecord::Pending(crate::store::PendingPayment::new(
            t.macaroon.clone(),
            "lnbcrt1",
            t.payment_hash,
            t.amount,
            t.created_at,
        ));
        one.save("k", &pending).await.unwrap();
        let listed = two.pending().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].0, "k");
        // Compare-and-delete: a wrong hash deletes nothing.
        assert!(
            !two.remove("k", &PaymentHash::from_bytes([0; 32]))
                .await
                .unwrap()
        );
        two.save("k", &TokenRecord::Paid(t.clone())).await.unwrap();
        assert_eq!(
            one.load("k").await.unwrap(),
            Some(TokenRecord::Paid(t.clone()))
        );
        assert!(one.pending().await.unwrap().is_empty());

        // The per-key lock excludes the other store until released.
        let held = one.lock("k").await.unwrap();
        let two_c = two.clone();
        let waiter = tokio::spawn(async move { two_c.lock("k").await.map(|_| ()) });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!waiter.is_finished());
        // Another key is not blocked.
        let _other = two.lock("other").await.unwrap();
        drop(held);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(one.remove("k", &t.payment_hash).await.unwrap());
        assert_eq!(two.load("k").await.unwrap(), None);
        let _ = fs::remove_dir_all(&dir);
    }
}
