//! `l402 node`: bake least-privilege node credentials, look at them and narrow them
//! offline.

mod bake;
mod inspect;
mod restrict;

use clap::{Args, Subcommand};

use crate::exit::CmdResult;

/// `l402 node` and its subcommands.
#[derive(Debug, Args)]
pub(crate) struct NodeArgs {
    #[command(subcommand)]
    command: NodeCommand,
}

#[derive(Debug, Subcommand)]
enum NodeCommand {
    Bake(bake::BakeArgs),
    Inspect(inspect::InspectArgs),
    Restrict(restrict::RestrictArgs),
}

/// Runs `l402 node …`.
pub(crate) async fn run(args: NodeArgs) -> CmdResult {
    match args.command {
        NodeCommand::Bake(a) => bake::run(&a).await,
        NodeCommand::Inspect(a) => inspect::run(&a),
        NodeCommand::Restrict(a) => restrict::run(&a),
    }
}
