//! Reading secrets (root keys, master secrets) from files or the environment, never from
//! the command line (where `ps` and shell history would show them).

use std::path::Path;

use l402_core::{MasterSecret, RootKey};
use zeroize::Zeroizing;

use crate::exit::CliError;

/// The environment variable holding a root key (64 hex characters).
pub(crate) const ROOT_KEY_ENV: &str = "L402_ROOT_KEY";

/// Longest secret file read: anything longer is not a hex key.
const MAX_SECRET_FILE_LEN: u64 = 4096;

/// Reads a small text file holding a secret, trimmed.
pub(crate) fn read_secret_file(path: &Path) -> Result<Zeroizing<String>, CliError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| CliError::config(format!("cannot read {}: {e}", path.display())))?;
    if meta.len() > MAX_SECRET_FILE_LEN {
        return Err(CliError::config(format!(
            "{} is too large to hold a hex key",
            path.display()
        )));
    }
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| CliError::config(format!("cannot read {}: {e}", path.display())))?,
    );
    Ok(Zeroizing::new(text.trim().to_owned()))
}

/// The root key from `--root-key-file`, else from `L402_ROOT_KEY`.
pub(crate) fn root_key(file: Option<&Path>) -> Result<RootKey, CliError> {
    let (hex, origin) = match file {
        Some(path) => (read_secret_file(path)?, path.display().to_string()),
        None => match std::env::var(ROOT_KEY_ENV) {
            Ok(v) => (
                Zeroizing::new(Zeroizing::new(v).trim().to_owned()),
                ROOT_KEY_ENV.to_owned(),
            ),
            Err(_) => {
                return Err(CliError::config(format!(
                    "no root key: give --root-key-file FILE or set {ROOT_KEY_ENV}"
                )));
            }
        },
    };
    RootKey::from_hex(&hex).map_err(|e| {
        CliError::config(format!(
            "root key in {origin} must be 64 hex characters: {e}"
        ))
    })
}

/// A master secret (hex, at least 32 bytes) from a file.
pub(crate) fn master_secret_from_file(path: &Path) -> Result<MasterSecret, CliError> {
    let hex = read_secret_file(path)?;
    MasterSecret::from_hex(&hex).map_err(|e| {
        CliError::config(format!(
            "master secret in {} must be hex (at least 64 characters): {e}",
            path.display()
        ))
    })
}

/// A master secret (hex) from an environment variable.
pub(crate) fn master_secret_from_env(var: &str) -> Result<MasterSecret, CliError> {
    let hex = Zeroizing::new(
        std::env::var(var)
            .map_err(|_| CliError::config(format!("environment variable {var} is not set")))?,
    );
    MasterSecret::from_hex(hex.trim()).map_err(|e| {
        CliError::config(format!(
            "master secret in {var} must be hex (at least 64 characters): {e}"
        ))
    })
}
