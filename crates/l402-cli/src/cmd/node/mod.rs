//! `l402 node`: look at and narrow node credentials offline.

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
    Inspect(inspect::InspectArgs),
    Restrict(restrict::RestrictArgs),
}

/// Runs `l402 node …`.
pub(crate) async fn run(args: NodeArgs) -> CmdResult {
    match args.command {
        NodeCommand::Inspect(a) => inspect::run(&a),
        NodeCommand::Restrict(a) => restrict::run(&a),
    }
}
