//! Node credential files (an LND macaroon or a CLN rune), read for inspection and checks.

use std::path::Path;

use l402_core::node_credential::lnd::LndMacaroon;
use l402_core::node_credential::rune::Rune;
use l402_core::node_credential::{CredentialRole, Excess};

use crate::exit::CliError;

/// The largest credential file read (macaroons are under 4 KiB, runes shorter).
const MAX_FILE: u64 = 64 * 1024;

/// Which node a credential is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Kind {
    /// An LND macaroon (binary, as LND writes it, or hex).
    Lnd,
    /// A Core Lightning rune (text, or `createrune`'s JSON answer).
    Cln,
}

/// A decoded credential.
#[derive(Debug)]
pub(crate) enum NodeCredential {
    /// An LND macaroon; `hex` when the file held hex rather than binary.
    Lnd { macaroon: LndMacaroon, hex: bool },
    /// A CLN rune.
    Cln(Rune),
}

/// Reads a credential file (size-capped). Errors are usage errors (exit code 2) and never
/// quote the file's contents.
pub(crate) fn read(path: &Path, kind: Option<Kind>) -> Result<NodeCredential, CliError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| CliError::config(format!("cannot read {}: {e}", path.display())))?;
    if meta.len() > MAX_FILE {
        return Err(CliError::config(format!(
            "{} is {} bytes, more than a node credential ({MAX_FILE} at most)",
            path.display(),
            meta.len()
        )));
    }
    let bytes = zeroize::Zeroizing::new(
        std::fs::read(path)
            .map_err(|e| CliError::config(format!("cannot read {}: {e}", path.display())))?,
    );
    parse(&bytes, kind).map_err(|m| CliError::config(format!("{}: {m}", path.display())))
}

/// Decodes credential bytes; without `kind`, a V2 macaroon (binary or hex) is LND's and
/// anything else is tried as a rune.
pub(crate) fn parse(bytes: &[u8], kind: Option<Kind>) -> Result<NodeCredential, String> {
    let lnd = || {
        LndMacaroon::from_bytes(bytes)
            .map(|macaroon| NodeCredential::Lnd {
                hex: bytes.first() != Some(&0x02),
                macaroon,
            })
            .map_err(|e| crate::exit::chain(&e))
    };
    let cln = || {
        let text = core::str::from_utf8(bytes).map_err(|_| "not a rune: not text".to_owned())?;
        let text = text.trim();
        let rune_text = if text.starts_with('{') {
            let v: serde_json::Value =
                serde_json::from_str(text).map_err(|_| "not a rune: invalid json".to_owned())?;
            v.get("rune")
                .and_then(serde_json::Value::as_str)
                .ok_or_else(|| "not a rune: json without a \"rune\" string".to_owned())?
                .to_owned()
        } else {
            text.to_owned()
        };
        let rune_text = zeroize::Zeroizing::new(rune_text);
        Rune::parse(&rune_text)
            .map(NodeCredential::Cln)
            .map_err(|e| format!("not a rune: {}", crate::exit::chain(&e)))
    };
    match kind {
        Some(Kind::Lnd) => lnd(),
        Some(Kind::Cln) => cln(),
        None => {
            let looks_lnd = bytes.first() == Some(&0x02)
                || bytes
                    .iter()
                    .take_while(|b| !b.is_ascii_whitespace())
                    .all(u8::is_ascii_hexdigit)
                    && bytes.starts_with(b"02");
            if looks_lnd { lnd() } else { cln() }
        }
    }
}

impl NodeCredential {
    /// What the credential allows beyond `role`.
    pub(crate) fn excess(&self, role: CredentialRole) -> Excess {
        match self {
            NodeCredential::Lnd { macaroon, .. } => macaroon.id().excess(role),
            NodeCredential::Cln(rune) => rune.excess(role),
        }
    }

    /// Whether it can move money (or mint a credential that can).
    pub(crate) fn can_spend(&self) -> bool {
        match self {
            NodeCredential::Lnd { macaroon, .. } => macaroon.id().can_spend(),
            NodeCredential::Cln(rune) => rune.can_spend(),
        }
    }

    /// Whether it is an admin credential: LND's admin permissions, or a rune without a
    /// method restriction.
    pub(crate) fn is_admin(&self) -> bool {
        match self {
            NodeCredential::Lnd { macaroon, .. } => macaroon.id().is_admin(),
            NodeCredential::Cln(rune) => rune.is_unrestricted(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_neither() {
        assert!(parse(b"", None).is_err());
        assert!(parse(b"\x02\x01", None).is_err());
        assert!(parse(b"02abc", None).is_err());
        assert!(parse(b"{\"rune\": 5}", None).is_err());
        assert!(parse(&[0xff; 40], None).is_err());
    }
}
