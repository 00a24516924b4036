//! The spending ledger of `l402 get`: what every call with one token directory paid, in
//! a small JSON file, so that `--budget` holds across calls.
//!
//! `<token-dir>/spent.json` holds `{"spent_msat": …, "payments": …, "updated_at": …}`
//! (amounts plus routing fees). Updates are atomic (temporary file and rename) under an
//! exclusive lock on `<token-dir>/spent.lock`; a call with `--budget` holds that lock from
//! before it reads the ledger until it has recorded its payment, so concurrent calls cannot
//! overspend together. Delete `spent.json` to start counting from zero again.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::exit::CliError;
use crate::fsutil::write_atomic;

/// File name of the ledger inside the token directory.
pub(crate) const LEDGER_FILE: &str = "spent.json";
const LOCK_FILE: &str = "spent.lock";
const MAX_LEDGER_LEN: u64 = 64 * 1024;

/// The persisted totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Spent {
    /// Amounts plus fees paid, in millisatoshis.
    pub(crate) spent_msat: u64,
    /// Number of payments.
    pub(crate) payments: u64,
    /// When the file was last written, Unix seconds.
    #[serde(default)]
    pub(crate) updated_at: u64,
}

/// The ledger, locked for as long as this value lives.
#[derive(Debug)]
pub(crate) struct Ledger {
    path: PathBuf,
    _lock: File,
}

impl Ledger {
    /// Locks the ledger of `dir` (waiting for other calls to finish with it).
    pub(crate) fn lock(dir: &Path) -> Result<Self, CliError> {
        let lock_path = dir.join(LOCK_FILE);
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options
            .open(&lock_path)
            .map_err(|e| CliError::failure(format!("cannot open {}: {e}", lock_path.display())))?;
        fs4::FileExt::lock(&file)
            .map_err(|e| CliError::failure(format!("cannot lock {}: {e}", lock_path.display())))?;
        Ok(Ledger {
            path: dir.join(LEDGER_FILE),
            _lock: file,
        })
    }

    /// The totals so far (zero when there is no ledger yet).
    pub(crate) fn read(&self) -> Result<Spent, CliError> {
        let bytes = match std::fs::metadata(&self.path) {
            Ok(meta) if meta.len() > MAX_LEDGER_LEN => {
                return Err(self.corrupt("too large"));
            }
            Ok(_) => std::fs::read(&self.path).map_err(|e| {
                CliError::failure(format!("cannot read {}: {e}", self.path.display()))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Spent::default()),
            Err(e) => {
                return Err(CliError::failure(format!(
                    "cannot read {}: {e}",
                    self.path.display()
                )));
            }
        };
        serde_json::from_slice(&bytes).map_err(|e| self.corrupt(&e.to_string()))
    }

    /// Adds a call's spending and writes the ledger.
    pub(crate) fn add(&self, cost_msat: u64, payments: u64) -> Result<Spent, CliError> {
        let mut spent = self.read()?;
        if cost_msat == 0 && payments == 0 {
            return Ok(spent);
        }
        spent.spent_msat = spent.spent_msat.saturating_add(cost_msat);
        spent.payments = spent.payments.saturating_add(payments);
        spent.updated_at = l402_core::unix_seconds(std::time::SystemTime::now());
        let text = serde_json::to_vec_pretty(&spent)
            .map_err(|e| CliError::failure(format!("cannot format the ledger: {e}")))?;
        write_atomic(&self.path, &text, true)
            .map_err(|e| CliError::failure(format!("cannot write {}: {e}", self.path.display())))?;
        Ok(spent)
    }

    fn corrupt(&self, why: &str) -> CliError {
        CliError::config(format!(
            "spending ledger {} is unreadable ({why}); fix or delete it",
            self.path.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ledger_accumulates_across_opens() {
        let dir = std::env::temp_dir().join(format!("l402-ledger-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        {
            let l = Ledger::lock(&dir).unwrap();
            assert_eq!(l.read().unwrap(), Spent::default());
            l.add(11_000, 1).unwrap();
        }
        let l = Ledger::lock(&dir).unwrap();
        let s = l.add(5_000, 1).unwrap();
        assert_eq!((s.spent_msat, s.payments), (16_000, 2));
        drop(l);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
