//! [`FileLedger`]: budgets for every process on one machine, across restarts.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use l402_core::{Amount, PaymentHash};
use serde::{Deserialize, Serialize};

use super::state::State;
use super::{
    Clock, DEFAULT_RETENTION, LedgerError, Reservation, ReserveError, Reserved, SpendingLedger,
    SpendingSummary, SystemClock,
};
use crate::store::file::{lock_file, write_atomic};

/// Largest ledger file read (about 300,000 payments in the retention period).
const MAX_LEDGER_LEN: u64 = 64 * 1024 * 1024;
/// Version of the file format.
const FORMAT_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LedgerFile {
    version: u32,
    ledger: State,
}

/// A ledger in a JSON file: budgets hold across restarts and for every process on the
/// machine that opens the same file.
///
/// * Every change is a read-modify-write under an exclusive advisory lock (`flock`) on
///   a lock file next to it (`<file>.lock`), so that a reservation is atomic across
///   processes.
/// * Writes are atomic and durable: the new content goes to a temporary file in the same
///   directory, flushed to disk (`fsync`), renamed over the old file, and the directory
///   is synced. A crash leaves the old ledger or the new one.
/// * The file and its lock file are created with mode 0600 (on Unix).
/// * A file that does not parse (or that disappeared after it was opened) is
///   [`LedgerError::Corrupt`] (or [`LedgerError::Io`]), on every operation, until it is
///   repaired or moved away: the ledger never starts again from zero on its own.
///
/// Use it with a [`FileTokenStore`](crate::FileTokenStore) (in another directory): a
/// payment interrupted by a crash keeps its reservation until the store's pending record
/// is resolved at the next start. With a token store in memory, a process that dies
/// between reserving and learning the outcome leaves its reservation held (the budget
/// over-counts, [`summary`](SpendingLedger::summary) shows it as `reserved`); once the
/// node says the payment failed, [`release`](SpendingLedger::release) it by payment hash
/// (logged, and in [`Event::PaymentStarted`](crate::Event::PaymentStarted)).
#[derive(Debug, Clone)]
pub struct FileLedger {
    path: Arc<PathBuf>,
    clock: Arc<dyn Clock>,
    retention: Duration,
}

impl FileLedger {
    /// Opens the ledger in `path`, creating an empty one if there is no such file (the
    /// directory must exist), and checks that it parses.
    ///
    /// # Errors
    /// [`LedgerError::Io`] if the file cannot be read or created,
    /// [`LedgerError::Corrupt`] if it does not parse.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, LedgerError> {
        let path = path.into();
        let _lock = lock_file(&lock_path(&path))?;
        match read(&path) {
            Ok(_) => {}
            Err(LedgerError::Io(e)) if e.kind() == io::ErrorKind::NotFound => {
                write(&path, &State::default())?;
            }
            Err(e) => return Err(e),
        }
        Ok(FileLedger {
            path: Arc::new(path),
            clock: Arc::new(SystemClock),
            retention: DEFAULT_RETENTION,
        })
    }

    /// Takes the time from `clock` (tests move a [`ManualClock`](super::ManualClock)).
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// How long individual payments are kept before being folded into all-time totals
    /// (default [`DEFAULT_RETENTION`]).
    #[must_use]
    pub fn retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// The ledger file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the ledger under the lock, writing the result back if `f` says it
    /// changed something.
    async fn update<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<LedgerError> + Send + 'static,
        F: FnOnce(&mut State) -> Result<(T, bool), E> + Send + 'static,
    {
        let path = Arc::clone(&self.path);
        tokio::task::spawn_blocking(move || {
            let _lock = lock_file(&lock_path(&path)).map_err(LedgerError::from)?;
            let mut state = read(&path)?;
            let (out, changed) = f(&mut state)?;
            if changed {
                write(&path, &state)?;
            }
            Ok(out)
        })
        .await
        .map_err(|_| E::from(LedgerError::Task))?
    }
}

fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".lock");
    path.with_file_name(name)
}

fn read(path: &Path) -> Result<State, LedgerError> {
    let file = File::open(path)?;
    let mut buf = Vec::new();
    file.take(MAX_LEDGER_LEN + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_LEDGER_LEN {
        return Err(LedgerError::Corrupt(format!(
            "{} is larger than {MAX_LEDGER_LEN} bytes",
            path.display()
        )));
    }
    let file: LedgerFile = serde_json::from_slice(&buf)
        .map_err(|e| LedgerError::Corrupt(format!("{}: {e}", path.display())))?;
    if file.version != FORMAT_VERSION {
        return Err(LedgerError::Corrupt(format!(
            "{}: unknown format version {}",
            path.display(),
            file.version
        )));
    }
    Ok(file.ledger)
}

fn write(path: &Path, state: &State) -> Result<(), LedgerError> {
    let bytes = serde_json::to_vec(&LedgerFile {
        version: FORMAT_VERSION,
        ledger: state.clone(),
    })
    .map_err(|e| LedgerError::Io(io::Error::other(e)))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    write_atomic(&dir, path, &bytes)?;
    Ok(())
}

#[async_trait::async_trait]
impl SpendingLedger for FileLedger {
    async fn reserve(&self, reservation: &Reservation) -> Result<Reserved, ReserveError> {
        let clock = Arc::clone(&self.clock);
        let retention = self.retention;
        let r = reservation.clone();
        self.update(move |state| {
            let out = state.reserve(&r, clock.now(), retention)?;
            Ok((out, out == Reserved::New))
        })
        .await
    }

    async fn commit(
        &self,
        origin: &str,
        payment_hash: &PaymentHash,
        amount: Amount,
        fee: Amount,
    ) -> Result<(), LedgerError> {
        let clock = Arc::clone(&self.clock);
        let retention = self.retention;
        let origin = origin.to_owned();
        let hash = *payment_hash;
        self.update(move |state| {
            let changed = state.commit(&origin, &hash, amount, fee, clock.now(), retention);
            Ok(((), changed))
        })
        .await
    }

    async fn release(&self, payment_hash: &PaymentHash) -> Result<bool, LedgerError> {
        let hash = *payment_hash;
        self.update(move |state| {
            let released = state.release(&hash);
            Ok((released, released))
        })
        .await
    }

    async fn summary(&self, window: Option<Duration>) -> Result<SpendingSummary, LedgerError> {
        let path = Arc::clone(&self.path);
        let now = self.clock.now();
        let retention = self.retention;
        // The file is replaced by rename: a read needs no lock.
        tokio::task::spawn_blocking(move || Ok(read(&path)?.summary(window, now, retention)))
            .await
            .map_err(|_| LedgerError::Task)?
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::time::SystemTime;

    use super::*;
    use crate::error::BudgetScope;
    use crate::ledger::{Limits, ManualClock};

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "l402-ledger-{name}-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        fs::create_dir_all(&dir).unwrap();
        dir.join("ledger.json")
    }

    fn h(n: u8) -> PaymentHash {
        PaymentHash::from_bytes([n; 32])
    }

    /// Removes a ledger file and its lock file.
    fn remove(path: &Path) {
        let _ = fs::remove_file(path);
        let _ = fs::remove_file(lock_path(path));
    }

    fn res(n: u8, msat: u64, limits: Limits) -> Reservation {
        Reservation::new(
            "https://a.example:443",
            h(n),
            Amount::from_msat(msat),
            Amount::from_msat(1),
            limits,
        )
    }

    #[tokio::test]
    async fn spending_survives_reopening() {
        let path = temp("reopen");
        let limits = Limits::new().total(Amount::from_msat(100));
        let one = FileLedger::open(&path).unwrap();
        assert_eq!(
            one.reserve(&res(1, 50, limits)).await.unwrap(),
            Reserved::New
        );
        one.commit(
            "https://a.example:443",
            &h(1),
            Amount::from_msat(50),
            Amount::from_msat(1),
        )
        .await
        .unwrap();
        assert_eq!(
            one.reserve(&res(2, 30, limits)).await.unwrap(),
            Reserved::New
        );
        drop(one);
        // A restarted process resumes with what was spent and what is still reserved.
        let two = FileLedger::open(&path).unwrap();
        let s = two.summary(None).await.unwrap();
        assert_eq!(
            (s.total, s.fees, s.payments),
            (Amount::from_msat(50), Amount::from_msat(1), 1)
        );
        assert_eq!(s.reserved, Amount::from_msat(31));
        assert_eq!(
            two.reserve(&res(3, 30, limits)).await,
            Err(ReserveError::BudgetExceeded {
                scope: BudgetScope::Total,
                needed: Amount::from_msat(31),
                remaining: Amount::from_msat(18),
            })
        );
        assert!(two.release(&h(2)).await.unwrap());
        assert_eq!(
            two.reserve(&res(3, 30, limits)).await.unwrap(),
            Reserved::New
        );
        remove(&path);
    }

    #[tokio::test]
    async fn windows_use_the_injected_clock() {
        let path = temp("clock");
        let clock = ManualClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        let ledger = FileLedger::open(&path).unwrap().with_clock(clock.clone());
        let limits = Limits::new()
            .total(Amount::from_msat(51))
            .window(Duration::from_secs(86_400));
        ledger.reserve(&res(1, 50, limits)).await.unwrap();
        ledger
            .commit(
                "https://a.example:443",
                &h(1),
                Amount::from_msat(50),
                Amount::from_msat(1),
            )
            .await
            .unwrap();
        clock.advance(Duration::from_secs(86_399));
        assert!(ledger.reserve(&res(2, 50, limits)).await.is_err());
        clock.advance(Duration::from_secs(1));
        assert_eq!(
            ledger.reserve(&res(2, 50, limits)).await.unwrap(),
            Reserved::New
        );
        remove(&path);
    }

    #[tokio::test]
    async fn a_corrupt_file_is_an_error_and_is_never_reset() {
        let path = temp("corrupt");
        let ledger = FileLedger::open(&path).unwrap();
        ledger
            .commit("o", &h(1), Amount::from_msat(5), Amount::ZERO)
            .await
            .unwrap();
        fs::write(&path, b"{\"version\":1,\"ledger\":{\"spent\":[{\"origin\":").unwrap();
        let limits = Limits::new().total(Amount::from_msat(100));
        assert!(matches!(
            ledger.reserve(&res(2, 1, limits)).await,
            Err(ReserveError::Ledger(LedgerError::Corrupt(_)))
        ));
        assert!(matches!(
            ledger
                .commit("o", &h(2), Amount::from_msat(1), Amount::ZERO)
                .await,
            Err(LedgerError::Corrupt(_))
        ));
        assert!(matches!(
            ledger.summary(None).await,
            Err(LedgerError::Corrupt(_))
        ));
        assert!(matches!(
            FileLedger::open(&path),
            Err(LedgerError::Corrupt(_))
        ));
        // Left as it was, for someone to look at.
        assert_eq!(
            fs::read(&path).unwrap(),
            b"{\"version\":1,\"ledger\":{\"spent\":[{\"origin\":"
        );
        fs::write(&path, b"{\"version\":9,\"ledger\":{}}").unwrap();
        assert!(matches!(
            FileLedger::open(&path),
            Err(LedgerError::Corrupt(_))
        ));
        fs::write(&path, b"").unwrap();
        assert!(matches!(
            FileLedger::open(&path),
            Err(LedgerError::Corrupt(_))
        ));
        // Deleted after opening: an error, not a fresh budget.
        fs::remove_file(&path).unwrap();
        assert!(matches!(
            ledger.reserve(&res(2, 1, limits)).await,
            Err(ReserveError::Ledger(LedgerError::Io(_)))
        ));
        remove(&path);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let path = temp("mode");
        let ledger = FileLedger::open(&path).unwrap();
        ledger
            .commit("o", &h(1), Amount::from_msat(5), Amount::ZERO)
            .await
            .unwrap();
        for p in [path.clone(), lock_path(&path)] {
            assert_eq!(
                fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o600,
                "{}",
                p.display()
            );
        }
        let dir = path.parent().unwrap();
        let names: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "no temporary files left: {names:?}");
        remove(&path);
    }

    /// Many ledgers (as many processes would) on one file, reserving concurrently, never
    /// reserve more than the budget together.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_reservations_on_one_file_never_exceed_the_budget() {
        let path = temp("concurrent");
        FileLedger::open(&path).unwrap();
        let limits = Limits::new().total(Amount::from_msat(10 * 11));
        let mut tasks = Vec::new();
        for n in 0..40u8 {
            let ledger = FileLedger::open(&path).unwrap();
            tasks.push(tokio::spawn(async move {
                ledger.reserve(&res(n, 10, limits)).await
            }));
        }
        let mut granted = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(Reserved::New) => granted += 1,
                Err(ReserveError::BudgetExceeded { .. }) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(granted, 10);
        let s = FileLedger::open(&path)
            .unwrap()
            .summary(None)
            .await
            .unwrap();
        assert_eq!(s.reserved, Amount::from_msat(110));
        remove(&path);
    }
}
