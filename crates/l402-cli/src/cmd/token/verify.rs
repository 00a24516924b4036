//! `l402 token verify`: checks a token as a server would, and says which check failed.
//!
//! Secrets come from files, stdin (`-`) or the environment, never only from the command
//! line, where `ps` and shell history show them: the root key (`--root-key-file`, or
//! `L402_ROOT_KEY`), the master secret the key is derived from (`--master-secret-file`),
//! the preimage (`--preimage-file`) and the whole credential (`MACAROON` = `-`). The old
//! `--preimage HEX` still works but warns.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use clap::Args;
use l402_core::{
    Caveat, CaveatKind, Credential, DerivedRootKeyStore, Macaroon, Preimage, RootKey, TokenId,
    UnknownCaveats, Verifier, VerifyContext, VerifyError, from_unix_seconds,
};
use serde_json::json;
use zeroize::Zeroizing;

use crate::exit::{CliError, CmdResult, FAILURE, OK};
use crate::keys;
use crate::output::print_json;

/// Longest credential read from stdin (a macaroon with many caveats stays far below).
const MAX_STDIN_LEN: u64 = 64 * 1024;

/// Verify a token with its root key and preimage, as a server would.
///
/// Runs the checks in the server's order: identifier, preimage against the payment hash,
/// signature chain under the root key, then the caveats (attenuation, service, capability,
/// expiry). Prints a JSON receipt and exits 0 when valid; prints the failed check
/// (`{"valid": false, "check": …, "error": …}`) and exits 1 when not.
///
/// Secrets are read from files or stdin, never from the command line: give `-` as one
/// FILE (or as MACAROON) to read it from stdin.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  l402 token verify --root-key-file root.key --preimage-file preimage.hex \\
      --service myservice AgJC...
  l402 token verify --master-secret-file master.secret - < authorization.txt
  pass show l402/root-key | l402 token verify --root-key-file - --preimage-file p.hex AgJC...

Exit codes: 0 valid, 1 invalid (the failed check is printed), 2 bad input or key.")]
pub(crate) struct VerifyArgs {
    /// File holding the root key as 64 hex characters, `-` for stdin (else L402_ROOT_KEY).
    #[arg(long, value_name = "FILE", conflicts_with = "master_secret_file")]
    root_key_file: Option<PathBuf>,
    /// File holding the master secret of `l402 proxy` (hex), `-` for stdin: the root key is
    /// derived from it and the token id, as the proxy does.
    #[arg(long, value_name = "FILE")]
    master_secret_file: Option<PathBuf>,
    /// File holding the preimage (64 hex characters), `-` for stdin. Not needed when
    /// MACAROON is an `Authorization` value or the macaroon carries a `preimage=` caveat.
    #[arg(long, value_name = "FILE", conflicts_with = "preimage")]
    preimage_file: Option<PathBuf>,
    /// The preimage on the command line (deprecated: visible to other users in the process
    /// list and kept in shell history; use --preimage-file).
    #[arg(long, value_name = "HEX", hide_short_help = true)]
    preimage: Option<String>,
    /// The service the request is for (default: the first service the token names).
    #[arg(long, value_name = "NAME")]
    service: Option<String>,
    /// A capability the request requires.
    #[arg(long, value_name = "CAP")]
    capability: Option<String>,
    /// The time to check expiry against, in Unix seconds (default: now).
    #[arg(long, value_name = "UNIX")]
    now: Option<u64>,
    /// Skip caveat conditions this tool does not know, as Aperture does (default: reject
    /// them, so that a holder's added restrictions are never silently dropped).
    #[arg(long)]
    ignore_unknown_caveats: bool,
    /// The macaroon (standard or URL-safe base64, or hex), or an `Authorization` value
    /// (`L402 <macaroon>:<preimage>`); `-` reads it from stdin (do so for an
    /// `Authorization` value: it holds the preimage).
    #[arg(value_name = "MACAROON")]
    macaroon: String,
}

/// Where the root keys of a token come from.
enum Keys {
    Root(RootKey),
    Derived(DerivedRootKeyStore),
}

impl Keys {
    fn for_token(&self, id: &TokenId) -> Vec<RootKey> {
        match self {
            Keys::Root(key) => vec![key.clone()],
            Keys::Derived(store) => store.derive_keys(id),
        }
    }
}

fn is_stdin(path: &Path) -> bool {
    path == Path::new("-")
}

/// Reads all of stdin (bounded), trimmed.
fn read_stdin(what: &str) -> Result<Zeroizing<String>, CliError> {
    let mut text = Zeroizing::new(String::new());
    std::io::stdin()
        .take(MAX_STDIN_LEN + 1)
        .read_to_string(&mut text)
        .map_err(|e| CliError::config(format!("cannot read the {what} from stdin: {e}")))?;
    if text.len() as u64 > MAX_STDIN_LEN {
        return Err(CliError::config(format!(
            "the {what} on stdin is longer than {MAX_STDIN_LEN} bytes"
        )));
    }
    Ok(Zeroizing::new(text.trim().to_owned()))
}

/// A secret from a file, or from stdin for `-`.
fn read_secret(path: &Path, what: &str) -> Result<Zeroizing<String>, CliError> {
    if is_stdin(path) {
        read_stdin(what)
    } else {
        keys::read_secret_file(path)
    }
}

/// At most one input may be stdin.
fn check_one_stdin(args: &VerifyArgs) -> Result<(), CliError> {
    let stdin_inputs = [
        args.root_key_file.as_deref(),
        args.master_secret_file.as_deref(),
        args.preimage_file.as_deref(),
        Some(Path::new(&args.macaroon)),
    ]
    .into_iter()
    .flatten()
    .filter(|p| is_stdin(p))
    .count();
    if stdin_inputs > 1 {
        return Err(CliError::config(
            "only one input can be read from stdin (`-`)",
        ));
    }
    Ok(())
}

fn keys(args: &VerifyArgs) -> Result<Keys, CliError> {
    if let Some(path) = &args.master_secret_file {
        let hex = read_secret(path, "master secret")?;
        let secret = l402_core::MasterSecret::from_hex(&hex).map_err(|e| {
            CliError::config(format!(
                "master secret must be hex (at least 64 characters): {e}"
            ))
        })?;
        return Ok(Keys::Derived(DerivedRootKeyStore::new(secret)));
    }
    match &args.root_key_file {
        Some(path) if is_stdin(path) => {
            let hex = read_stdin("root key")?;
            RootKey::from_hex(&hex).map(Keys::Root).map_err(|e| {
                CliError::config(format!("root key on stdin must be 64 hex characters: {e}"))
            })
        }
        other => keys::root_key(other.as_deref()).map(Keys::Root),
    }
}

pub(crate) fn run(args: &VerifyArgs) -> CmdResult {
    check_one_stdin(args)?;
    let credential = credential(args)?;
    let keys = keys(args)?;
    let service = match &args.service {
        Some(s) => s.clone(),
        None => first_service(credential.macaroon()).unwrap_or_default(),
    };
    let now = args.now.map_or_else(SystemTime::now, from_unix_seconds);
    let mut ctx = VerifyContext::new(&service, now);
    if let Some(cap) = &args.capability {
        ctx = ctx.capability(cap);
    }
    let policy = if args.ignore_unknown_caveats {
        UnknownCaveats::Ignore
    } else {
        UnknownCaveats::Reject
    };
    let verifier = Verifier::builder()
        .unknown_caveats(policy)
        .build()
        .map_err(|e| CliError::failure(format!("cannot build the verifier: {e}")))?;
    match verifier.verify(&credential, &ctx, |id: &TokenId| keys.for_token(id)) {
        Ok(receipt) => {
            let receipt = serde_json::to_value(&receipt)
                .map_err(|e| CliError::failure(format!("cannot format the receipt: {e}")))?;
            print_json(&json!({ "valid": true, "receipt": receipt }))?;
            Ok(OK)
        }
        Err(e) => {
            print_json(&json!({
                "valid": false,
                "check": check_name(&e),
                "error": crate::exit::chain(&e),
            }))?;
            Ok(FAILURE)
        }
    }
}

/// The credential from the arguments: the macaroon, and the preimage from
/// `--preimage-file`, `--preimage`, the `Authorization` value, or a `preimage=` caveat
/// (they must agree).
fn credential(args: &VerifyArgs) -> Result<Credential, CliError> {
    let given_hex = match (&args.preimage_file, &args.preimage) {
        (Some(path), _) => Some(read_secret(path, "preimage")?),
        (None, Some(hex)) => {
            eprintln!(
                "l402: warning: --preimage puts the preimage in the process list and shell \
                 history; use --preimage-file FILE (or - for stdin)"
            );
            Some(Zeroizing::new(hex.trim().to_owned()))
        }
        (None, None) => None,
    };
    let given = given_hex
        .map(|hex| {
            Preimage::from_hex(&hex).map_err(|e| {
                CliError::config(format!("the preimage must be 64 hex characters: {e}"))
            })
        })
        .transpose()?;
    let from_stdin = args.macaroon == "-";
    let text = if from_stdin {
        read_stdin("credential")?
    } else {
        Zeroizing::new(args.macaroon.trim().to_owned())
    };
    let value = text.as_str();
    let from_header = Credential::parse_authorization(value)
        .map_err(|e| CliError::config(format!("invalid credential: {}", crate::exit::chain(&e))))?;
    if let Some(cred) = from_header {
        if !from_stdin {
            eprintln!(
                "l402: warning: the credential's preimage was given on the command line; \
                 pass `-` and write the credential to stdin instead"
            );
        }
        if let Some(p) = given
            && &p != cred.preimage()
        {
            return Err(CliError::config(
                "the preimage given differs from the preimage in the credential",
            ));
        }
        return Ok(cred);
    }
    let macaroon = Macaroon::from_base64(value)
        .or_else(|e| {
            if value.bytes().all(|b| b.is_ascii_hexdigit()) {
                Macaroon::from_hex(value)
            } else {
                Err(e)
            }
        })
        .map_err(|e| CliError::config(format!("invalid macaroon: {}", crate::exit::chain(&e))))?;
    let embedded = macaroon.caveats().find_map(|c| {
        Caveat::parse(c).ok().and_then(|c| match c.kind() {
            Ok(CaveatKind::Preimage(p)) => Some(p),
            _ => None,
        })
    });
    let preimage = match (given, embedded) {
        (Some(p), _) => p,
        (None, Some(p)) => p,
        (None, None) => {
            return Err(CliError::config(
                "no preimage: give --preimage-file FILE (or an `L402 <macaroon>:<preimage>` \
                 value on stdin)",
            ));
        }
    };
    Ok(Credential::new(macaroon, preimage))
}

/// The first service named by the token's last `services` caveat.
fn first_service(macaroon: &Macaroon) -> Option<String> {
    macaroon
        .caveats()
        .filter_map(|c| {
            let caveat = Caveat::parse(c).ok()?;
            match caveat.kind() {
                Ok(CaveatKind::Services(services)) => services.first().map(|s| s.name().to_owned()),
                _ => None,
            }
        })
        .last()
}

/// A short, stable name for the check that failed.
fn check_name(e: &VerifyError) -> &'static str {
    match e {
        VerifyError::Identifier(_) => "identifier",
        VerifyError::PreimageMismatch => "preimage",
        VerifyError::UnknownToken(_) => "root_key",
        VerifyError::InvalidSignature => "signature",
        VerifyError::MalformedCaveat { .. } => "malformed_caveat",
        VerifyError::UnknownCaveat { .. } => "unknown_caveat",
        VerifyError::Widened { .. } => "widened_caveat",
        VerifyError::PreimageCaveatMismatch(_) => "preimage_caveat",
        VerifyError::WrongService(_) => "service",
        VerifyError::TierTooLow { .. } => "tier",
        VerifyError::CapabilityNotAllowed { .. } => "capability",
        VerifyError::Expired { .. } => "expired",
        VerifyError::NotSatisfied { .. } => "caveat_not_satisfied",
        _ => "other",
    }
}
