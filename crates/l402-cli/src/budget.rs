//! Where `l402 get` counts what it spends: a [`FileLedger`] (from `l402-reqwest`), one
//! file per user and machine, so that `--budget` holds across calls, restarts and
//! concurrent calls.
//!
//! The ledger is `--ledger FILE` (`L402_LEDGER_FILE`), by default
//! `<data dir>/l402/ledger.json`, next to the default token directory but never inside
//! one (a token store would try to read it as a token). The middleware reserves amount
//! plus fee cap in it before paying (atomically, under a file lock shared by every
//! process on the machine), and commits what the payment cost. Move the file away to
//! start counting from zero again.
//!
//! Calls of earlier versions kept their totals in `<token-dir>/spent.json`: the first
//! call that finds one adds its total to the ledger (once: the import is keyed by a fixed
//! payment hash) and renames it `spent.json.imported`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use l402_core::{Amount, Preimage};
use l402_reqwest::ledger::{FileLedger, SpendingLedger};
use serde::Deserialize;

use crate::exit::CliError;
use crate::fsutil::create_private_dir;

/// File name of the ledger in the user data directory.
const LEDGER_FILE: &str = "ledger.json";
/// The totals file of earlier versions, inside the token directory.
const LEGACY_FILE: &str = "spent.json";
/// What the legacy file becomes once imported (the token store reads only `*.json`).
const LEGACY_IMPORTED: &str = "spent.json.imported";
/// Origin under which the legacy total is recorded.
const LEGACY_ORIGIN: &str = "(spent.json of an earlier l402 get)";
/// Largest legacy file read.
const MAX_LEGACY_LEN: u64 = 64 * 1024;

/// `<data dir>/l402/ledger.json`.
pub(crate) fn default_path() -> Result<PathBuf, CliError> {
    dirs::data_dir()
        .map(|d| d.join("l402").join(LEDGER_FILE))
        .ok_or_else(|| {
            CliError::config("no user data directory: give --ledger FILE or set L402_LEDGER_FILE")
        })
}

/// Opens (creating it if missing) the ledger in `path`, checks that it reads, and
/// imports a legacy `spent.json` of `token_dir`. Every failure is a configuration error:
/// it happens before anything is sent.
pub(crate) async fn open(path: &Path, token_dir: &Path) -> Result<FileLedger, CliError> {
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    if absolute(path).starts_with(absolute(token_dir)) {
        return Err(CliError::config(format!(
            "the spending ledger {} must not be inside the token directory {}",
            path.display(),
            token_dir.display()
        )));
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_private_dir(parent)
            .map_err(|e| CliError::config(format!("cannot create {}: {e}", parent.display())))?;
    }
    let ledger = FileLedger::open(path).map_err(|e| unreadable(path, &e))?;
    // Reading it once more checks what reservations will read.
    ledger
        .summary(None)
        .await
        .map_err(|e| unreadable(path, &e))?;
    import_legacy(&ledger, token_dir).await?;
    Ok(ledger)
}

fn unreadable(path: &Path, e: &dyn std::error::Error) -> CliError {
    CliError::config(format!(
        "spending ledger {} is unusable ({}); repair it or move it away",
        path.display(),
        crate::exit::chain(e)
    ))
}

/// What is committed in the window (amounts plus fees) and what is reserved.
pub(crate) async fn spent(
    ledger: &FileLedger,
    window: Option<Duration>,
) -> Result<(Amount, Amount), String> {
    let s = ledger
        .summary(window)
        .await
        .map_err(|e| crate::exit::chain(&e))?;
    Ok((s.total.saturating_add(s.fees), s.reserved))
}

#[derive(Deserialize)]
struct Legacy {
    spent_msat: u64,
}

async fn import_legacy(ledger: &FileLedger, token_dir: &Path) -> Result<(), CliError> {
    let legacy = token_dir.join(LEGACY_FILE);
    let meta = match std::fs::metadata(&legacy) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(CliError::config(format!(
                "cannot read {}: {e}",
                legacy.display()
            )));
        }
    };
    let bad = |why: String| {
        CliError::config(format!(
            "cannot import the old spending totals in {} ({why}); fix or delete the file",
            legacy.display()
        ))
    };
    if meta.len() > MAX_LEGACY_LEN {
        return Err(bad("too large".into()));
    }
    let bytes = std::fs::read(&legacy).map_err(|e| bad(e.to_string()))?;
    let old: Legacy = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    if old.spent_msat > 0 {
        // A fixed hash per token directory: importing twice (a crash before the rename)
        // commits once.
        let mut seed = [0u8; 32];
        let dir = std::path::absolute(token_dir).unwrap_or_else(|_| token_dir.to_path_buf());
        for (i, b) in format!("l402 get spent.json {}", dir.display())
            .bytes()
            .enumerate()
        {
            seed[i % 32] ^= b.rotate_left((i / 32 % 8) as u32);
        }
        let hash = Preimage::from_bytes(seed).payment_hash();
        ledger
            .commit(
                LEGACY_ORIGIN,
                &hash,
                Amount::from_msat(old.spent_msat),
                Amount::ZERO,
            )
            .await
            .map_err(|e| bad(crate::exit::chain(&e)))?;
    }
    std::fs::rename(&legacy, token_dir.join(LEGACY_IMPORTED))
        .map_err(|e| bad(format!("cannot rename it: {e}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("l402-budget-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("tokens")).unwrap();
        dir
    }

    #[tokio::test]
    async fn legacy_totals_are_imported_once() {
        let dir = temp("legacy");
        let tokens = dir.join("tokens");
        std::fs::write(
            tokens.join(LEGACY_FILE),
            r#"{"spent_msat": 11000, "payments": 1, "updated_at": 1}"#,
        )
        .unwrap();
        let path = dir.join("ledger.json");
        let ledger = open(&path, &tokens).await.unwrap();
        assert_eq!(
            spent(&ledger, None).await.unwrap(),
            (Amount::from_msat(11_000), Amount::ZERO)
        );
        assert!(!tokens.join(LEGACY_FILE).exists());
        // A crash before the rename: the file is back, and imported again, once.
        std::fs::rename(tokens.join(LEGACY_IMPORTED), tokens.join(LEGACY_FILE)).unwrap();
        let ledger = open(&path, &tokens).await.unwrap();
        assert_eq!(
            spent(&ledger, None).await.unwrap().0,
            Amount::from_msat(11_000)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn unusable_ledgers_are_configuration_errors() {
        let dir = temp("bad");
        let tokens = dir.join("tokens");
        let inside = open(&tokens.join("ledger.json"), &tokens)
            .await
            .unwrap_err();
        assert_eq!(inside.code, crate::exit::CONFIG);
        std::fs::write(dir.join("ledger.json"), "{not json").unwrap();
        let corrupt = open(&dir.join("ledger.json"), &tokens).await.unwrap_err();
        assert_eq!(corrupt.code, crate::exit::CONFIG);
        assert!(
            corrupt.message.contains("move it away"),
            "{}",
            corrupt.message
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
