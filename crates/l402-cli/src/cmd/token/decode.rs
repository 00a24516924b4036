//! `l402 token decode`: what is inside a macaroon, a credential or a challenge.

use clap::Args;
use l402_core::{Challenge, Credential, Macaroon, Scheme};
use serde_json::{Value, json};

use crate::describe;
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

pub(crate) fn run(args: &DecodeArgs) -> CmdResult {
    let value = decode(&args.value)?;
    print_json(&value)?;
    Ok(OK)
}

/// Strips a leading header name (`Authorization:`, `WWW-Authenticate:`), case-insensitive.
fn strip_header_name(value: &str) -> (&str, Option<&'static str>) {
    let trimmed = value.trim();
    for (name, kind) in [
        ("authorization:", "authorization"),
        ("www-authenticate:", "challenge"),
        ("payment-receipt:", "receipt"),
    ] {
        if let Some(head) = trimmed.get(..name.len())
            && head.eq_ignore_ascii_case(name)
        {
            return (
                trimmed.get(name.len()..).unwrap_or_default().trim(),
                Some(kind),
            );
        }
    }
    (trimmed, None)
}

/// Whether `value` starts with `L402` or `LSAT` followed by white space.
fn has_scheme(value: &str) -> bool {
    value
        .split_once([' ', '\t'])
        .is_some_and(|(scheme, _)| Scheme::from_name(scheme).is_some())
}

/// Decodes any of the accepted forms into the JSON description.
pub(crate) fn decode(input: &str) -> Result<Value, CliError> {
    let (value, header) = strip_header_name(input);
    if value.is_empty() {
        return Err(CliError::config("nothing to decode"));
    }
    if header == Some("receipt") {
        return super::payment::receipt(value);
    }
    if value.eq_ignore_ascii_case("payment") {
        return super::payment::credential(value);
    }
    if super::payment::has_payment_scheme(value) && super::payment::is_token68_after_scheme(value) {
        // One token68 after the scheme: a credential.
        return super::payment::credential(value);
    }
    // A challenge list holding a `Payment` challenge (maybe after another scheme's).
    if (header == Some("challenge") || value.contains('='))
        && value.to_ascii_lowercase().contains("payment ")
        && let Some(decoded) = super::payment::challenges(value)?
    {
        return Ok(decoded);
    }
    // Bare base64url of a JSON object (`eyJ` is `{"`): a Payment receipt. Macaroons
    // start with other bytes.
    if header.is_none() && value.starts_with("eyJ") {
        return super::payment::receipt(value);
    }
    let looks_like_challenge = header == Some("challenge")
        || (has_scheme(value) && (value.contains("macaroon=") || value.contains("token=")));
    if looks_like_challenge {
        let challenge = Challenge::parse(value).map_err(|e| {
            CliError::config(format!("invalid challenge: {}", crate::exit::chain(&e)))
        })?;
        let mut out = json!({ "kind": "challenge" });
        merge(&mut out, describe::challenge(&challenge));
        return Ok(out);
    }
    if has_scheme(value) || header == Some("authorization") {
        let credential = Credential::parse_authorization(value)
            .map_err(|e| {
                CliError::config(format!("invalid credential: {}", crate::exit::chain(&e)))
            })?
            .ok_or_else(|| CliError::config("not an L402 or LSAT credential"))?;
        return Ok(credential_json(&credential));
    }
    let macaroon = Macaroon::from_base64(value).or_else(|b64| {
        if value.bytes().all(|b| b.is_ascii_hexdigit()) {
            Macaroon::from_hex(value).map_err(|e| {
                CliError::config(format!(
                    "invalid macaroon (hex): {}",
                    crate::exit::chain(&e)
                ))
            })
        } else {
            Err(CliError::config(format!(
                "invalid macaroon: {}",
                crate::exit::chain(&b64)
            )))
        }
    })?;
    let mut out = json!({ "kind": "macaroon" });
    merge(&mut out, describe::macaroon(&macaroon));
    Ok(out)
}

fn credential_json(credential: &Credential) -> Value {
    let mut out = json!({ "kind": "credential" });
    merge(&mut out, describe::macaroon(credential.macaroon()));
    let preimage = credential.preimage();
    let matches = l402_core::Identifier::decode(credential.macaroon().identifier())
        .ok()
        .map(|id| id.payment_hash().matches(preimage));
    out["preimage"] = json!(preimage.expose_hex().as_str());
    out["preimage_matches_payment_hash"] = json!(matches);
    out
}

fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(into), Value::Object(from)) = (into, from) {
        into.extend(from);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const VS5_1: &str = "AgJCAACqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqru7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7AAAGIBeQvG3BlkRWNVkmvUhj4gTZa0JinpQIeryQb4XpHM+T";

    #[test]
    fn header_names_are_stripped() {
        assert_eq!(
            strip_header_name(" authorization: L402 x:y"),
            ("L402 x:y", Some("authorization"))
        );
        assert_eq!(strip_header_name("abc"), ("abc", None));
    }

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
