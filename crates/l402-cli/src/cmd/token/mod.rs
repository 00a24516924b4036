//! `l402 token`: decode, mint and verify tokens, for people debugging L402.

mod decode;
mod mint;
mod verify;

use clap::{Args, Subcommand};

use crate::exit::CmdResult;

/// `l402 token` and its subcommands.
#[derive(Debug, Args)]
pub(crate) struct TokenArgs {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    Decode(decode::DecodeArgs),
    Mint(mint::MintArgs),
    Verify(verify::VerifyArgs),
}

/// Runs `l402 token …`.
pub(crate) async fn run(args: TokenArgs) -> CmdResult {
    match args.command {
        TokenCommand::Decode(a) => decode::run(&a),
        TokenCommand::Mint(a) => mint::run(&a),
        TokenCommand::Verify(a) => verify::run(&a),
    }
}
