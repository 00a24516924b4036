//! `l402 token mint`: a macaroon for a payment hash, signed with a root key.

use std::path::PathBuf;

use clap::Args;
use l402_core::{Identifier, Macaroon, PaymentHash, TokenId};

use crate::exit::{CliError, CmdResult, OK};
use crate::keys;
use crate::output::print_line;

/// Mint a macaroon for a payment hash and print it in standard base64.
///
/// The identifier is an L402 version 0 identifier (payment hash and token id); caveats
/// are added in the order given, as raw `condition=value` text (Aperture's are
/// `services=NAME:TIER`, `NAME_capabilities=A,B`, `NAME_valid_until=UNIX`). The root key
/// is read from --root-key-file or the L402_ROOT_KEY environment variable (64 hex
/// characters), never from the command line.
#[derive(Debug, Args)]
#[command(after_help = "\
Example:
  echo 0101010101010101010101010101010101010101010101010101010101010101 > root.key
  l402 token mint --root-key-file root.key --payment-hash ec4916dd... \\
      --caveat services=myservice:0 --caveat myservice_capabilities=add

Exit codes: 0 minted, 2 bad key, hash, token id or caveat.")]
pub(crate) struct MintArgs {
    /// File holding the root key as 64 hex characters (else L402_ROOT_KEY).
    #[arg(long, value_name = "FILE")]
    root_key_file: Option<PathBuf>,
    /// The invoice's payment hash, 64 hex characters.
    #[arg(long, value_name = "HEX")]
    payment_hash: String,
    /// The token id, 64 hex characters (default: random).
    #[arg(long, value_name = "HEX")]
    token_id: Option<String>,
    /// The macaroon location (not signed; Aperture writes `lsat`).
    #[arg(long, value_name = "TEXT")]
    location: Option<String>,
    /// A first-party caveat, `condition=value`; repeatable, kept in order.
    #[arg(long = "caveat", value_name = "TEXT")]
    caveats: Vec<String>,
}

pub(crate) fn run(args: &MintArgs) -> CmdResult {
    let root_key = keys::root_key(args.root_key_file.as_deref())?;
    let payment_hash = PaymentHash::from_hex(&args.payment_hash)
        .map_err(|e| CliError::config(format!("--payment-hash must be 64 hex characters: {e}")))?;
    let token_id = match &args.token_id {
        Some(hex) => TokenId::from_hex(hex)
            .map_err(|e| CliError::config(format!("--token-id must be 64 hex characters: {e}")))?,
        None => TokenId::random()
            .map_err(|e| CliError::failure(format!("no randomness for a token id: {e}")))?,
    };
    let identifier = Identifier::new(payment_hash, token_id);
    let mut macaroon = Macaroon::new(
        &root_key,
        identifier.encode().to_vec(),
        args.location.clone(),
    )
    .map_err(|e| CliError::config(format!("cannot mint: {e}")))?;
    for caveat in &args.caveats {
        if !caveat.contains('=') {
            return Err(CliError::config(format!(
                "caveat {caveat:?} is not of the form condition=value"
            )));
        }
        macaroon
            .add_first_party_caveat(caveat.clone())
            .map_err(|e| CliError::config(format!("cannot add caveat {caveat:?}: {e}")))?;
    }
    print_line(&macaroon.to_base64())?;
    Ok(OK)
}
