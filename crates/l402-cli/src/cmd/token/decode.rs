//! `l402 token decode`: what is inside a macaroon, a credential or a challenge.

use clap::Args;
use serde_json::Value;

use crate::exit::{CliError, CmdResult, OK};
use crate::output::print_json;

/// Decode a macaroon, an `Authorization` value, a `WWW-Authenticate` challenge or a
/// `Payment-Receipt` and print it as JSON.
///
/// Prints `location`, `identifier` (`version`, `payment_hash`, `token_id`, `hex`; raw hex
/// and a `note` when it is not an L402 version 0 identifier), `caveats`, `signature`
/// (hex) and the standard base64 form. For a challenge, also the invoice as sent and
/// decoded (amount, payment hash, network, expiry) and whether it pays for the token; for
/// a credential, whether the preimage matches the payment hash.
///
/// The `Payment` scheme (MPP) is recognised too: a challenge list (`Payment id="…",
/// realm="…", method="lightning", intent="charge", request="…"`, each with its request
/// decoded, and for a charge its invoice decoded and checked against the request as
/// `l402 get` does before paying), a credential (`Payment <base64url>`: the echoed
/// challenge, and whether the preimage, shown redacted, matches) and a receipt (bare
/// base64url, or after `Payment-Receipt:`).
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  l402 token decode AgJCAACqqq...
  l402 token decode 'L402 AgJCAACqqq...:0000...0001'
  l402 token decode 'WWW-Authenticate: L402 macaroon=\"AgJC...\", invoice=\"lnbcrt...\"'
  l402 token decode 'WWW-Authenticate: Payment id=\"...\", realm=\"...\", method=\"lightning\", ...'
  l402 token decode 'Authorization: Payment eyJjaGFsbGVuZ2UiOnsi...'
  l402 token decode 'Payment-Receipt: eyJzdGF0dXMiOiJzdWNjZXNzIi...'

Exit codes: 0 decoded, 2 not a macaroon, credential, challenge or receipt.")]
pub(crate) struct DecodeArgs {
    /// A bare macaroon (standard or URL-safe base64, or hex), an `Authorization` value
    /// (`L402 <macaroon>:<preimage>`) or a `WWW-Authenticate` value (`L402 macaroon="…",
    /// invoice="…"`); a leading `Authorization:` or `WWW-Authenticate:` header name is
    /// ignored. Also a `Payment` challenge, `Payment` credential or `Payment-Receipt`
    /// value (a leading `Payment-Receipt:` is ignored).
    value: String,
}

/// Decodes any of the accepted forms into the JSON description (shared with the
/// `decode` tool of `l402 mcp`).
pub(crate) fn decode(input: &str) -> Result<Value, CliError> {
    l402_mcp::decode::decode(input).map_err(|e| CliError::config(e.to_string()))
}

pub(crate) fn run(args: &DecodeArgs) -> CmdResult {
    let value = decode(&args.value)?;
    print_json(&value)?;
    Ok(OK)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const VS5_1: &str = "AgJCAACqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqru7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7AAAGIBeQvG3BlkRWNVkmvUhj4gTZa0JinpQIeryQb4XpHM+T";

    #[test]
    fn bare_macaroon_in_both_alphabets() {
        let std = decode(VS5_1).unwrap();
        let url = VS5_1.replace('+', "-").replace('/', "_");
        assert_eq!(decode(&url).unwrap(), std);
        assert_eq!(std["identifier"]["version"], 0);
    }

    #[test]
    fn garbage_is_a_config_error() {
        assert_eq!(
            decode("not a token!").unwrap_err().code,
            crate::exit::CONFIG
        );
        assert_eq!(decode("").unwrap_err().code, crate::exit::CONFIG);
    }
}
