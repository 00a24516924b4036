//! `l402 token verify`: checks a token as a server would, and says which check failed.

use std::path::PathBuf;
use std::time::SystemTime;

use clap::Args;
use l402_core::{
    Caveat, CaveatKind, Credential, Macaroon, Preimage, TokenId, UnknownCaveats, Verifier,
    VerifyContext, VerifyError, from_unix_seconds,
};
use serde_json::json;

use crate::exit::{CliError, CmdResult, FAILURE, OK};
use crate::keys;
use crate::output::print_json;

/// Verify a token with its root key and preimage, as a server would.
///
/// Runs the checks in the server's order: identifier, preimage against the payment hash,
/// signature chain under the root key, then the caveats (attenuation, service, capability,
/// expiry). Prints a JSON receipt and exits 0 when valid; prints the failed check
/// (`{"valid": false, "check": …, "error": …}`) and exits 1 when not.
#[derive(Debug, Args)]
#[command(after_help = "\
Example:
  l402 token verify --root-key-file root.key --preimage 00..01 --service myservice AgJC...

Exit codes: 0 valid, 1 invalid (the failed check is printed), 2 bad input or key.")]
pub(crate) struct VerifyArgs {
    /// File holding the root key as 64 hex characters (else L402_ROOT_KEY).
    #[arg(long, value_name = "FILE")]
    root_key_file: Option<PathBuf>,
    /// The preimage, 64 hex characters. Optional when MACAROON is an `Authorization`
    /// value or the macaroon carries a `preimage=` caveat.
    #[arg(long, value_name = "HEX")]
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
    /// (`L402 <macaroon>:<preimage>`).
    #[arg(value_name = "MACAROON")]
    macaroon: String,
}

pub(crate) fn run(args: &VerifyArgs) -> CmdResult {
    let credential = credential(args)?;
    let root_key = keys::root_key(args.root_key_file.as_deref())?;
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
    match verifier.verify(&credential, &ctx, |_: &TokenId| vec![root_key.clone()]) {
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

/// The credential from the arguments: the macaroon, and the preimage from `--preimage`,
/// the `Authorization` value, or a `preimage=` caveat (they must agree).
fn credential(args: &VerifyArgs) -> Result<Credential, CliError> {
    let given = args
        .preimage
        .as_deref()
        .map(|hex| {
            Preimage::from_hex(hex.trim())
                .map_err(|e| CliError::config(format!("--preimage must be 64 hex characters: {e}")))
        })
        .transpose()?;
    let value = args.macaroon.trim();
    let from_header = Credential::parse_authorization(value)
        .map_err(|e| CliError::config(format!("invalid credential: {}", crate::exit::chain(&e))))?;
    if let Some(cred) = from_header {
        if let Some(p) = given
            && &p != cred.preimage()
        {
            return Err(CliError::config(
                "--preimage differs from the preimage in the credential",
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
                "no preimage: give --preimage HEX (or an `L402 <macaroon>:<preimage>` value)",
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
