//! # l402
//!
//! The L402 command-line tool, built only from this workspace's libraries:
//!
//! | command | what it does |
//! |---|---|
//! | `l402 get URL` | a curl for L402 APIs: pays the challenge within a spending policy, reuses tokens |
//! | `l402 mcp` | an MCP server: tools that let an AI agent fetch and pay within the operator's limits |
//! | `l402 proxy --config FILE` | an Aperture-style paying reverse proxy built on `l402-tower` |
//! | `l402 admin health/info/services/revoke/recent/stats` | a client of the proxy's admin API (`[admin]`) |
//! | `l402 token decode/mint/verify` | inspect, mint and check tokens by hand |
//! | `l402 node bake/inspect/restrict` | bake a least-privilege LND macaroon or CLN rune; what one allows; narrow one offline |
//! | `l402 dev-node` | two mock LND (or, `--backend cln`, Core Lightning) nodes, a server and a funded payer, on one mock network |
//! | `l402 echo` | a tiny upstream that describes each request it gets, to try the proxy |
//!
//! `dev-node` is behind the default-on cargo feature `dev-node`, the only part of the
//! binary that links the mock Lightning network and the fake LND and CLN servers.
//! `cargo install l402-cli --no-default-features` builds a binary without them.
//!
//! Run `l402 --help` and `l402 <command> --help` for every flag; the exit codes are in
//! [`exit`].

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod backend;
mod budget;
mod cmd;
mod config;
mod credential;
mod exit;
mod fsutil;
mod keys;
mod lazy_node;
mod listener;
mod logging;
mod output;
mod shutdown;
mod spend;
mod tls;

use l402_mcp::decode::describe;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// L402 from the command line: pay for APIs over Lightning, sell them, and debug tokens.
#[derive(Debug, Parser)]
#[command(name = "l402", version, about, long_about = None, after_help = exit::EXIT_CODES_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Fetch a URL, paying its L402 challenge within a spending policy (like lnget).
    Get(Box<cmd::get::GetArgs>),
    /// Run an Aperture-style reverse proxy that sells access to upstream services.
    Proxy(cmd::proxy::ProxyArgs),
    /// Talk to a running proxy's admin API: health, services, revoke a token, sales.
    Admin(cmd::admin::AdminArgs),
    /// Run an MCP server whose tools let AI agents pay for APIs within hard limits.
    Mcp(Box<cmd::mcp::McpArgs>),
    /// Decode, mint and verify L402 tokens.
    Token(cmd::token::TokenArgs),
    /// Bake least-privilege LND macaroons and CLN runes; inspect and restrict them offline.
    Node(cmd::node::NodeArgs),
    /// Run two mock LND or Core Lightning nodes (server and funded payer) for local
    /// development.
    #[cfg(feature = "dev-node")]
    DevNode(cmd::dev_node::DevNodeArgs),
    /// Run a tiny upstream HTTP server that answers every request with a description of it.
    Echo(cmd::echo::EchoArgs),
}

fn main() -> ExitCode {
    // The matches too: `l402 mcp --config` needs to know which flags were given.
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("l402: cannot start the async runtime: {e}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Get(args) => cmd::get::run(*args).await,
            Command::Mcp(args) => cmd::mcp::run(*args, matches.subcommand_matches("mcp")).await,
            Command::Admin(args) => cmd::admin::run(args).await,
            Command::Proxy(args) => cmd::proxy::run(args).await,
            Command::Token(args) => cmd::token::run(args).await,
            Command::Node(args) => cmd::node::run(args).await,
            #[cfg(feature = "dev-node")]
            Command::DevNode(args) => cmd::dev_node::run(args).await,
            Command::Echo(args) => cmd::echo::run(args).await,
        }
    });
    // Do not wait for lingering tasks (open keep-alive connections) once a command is done.
    runtime.shutdown_background();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if !e.reported {
                eprintln!("l402: {}", e.message);
            }
            ExitCode::from(e.code)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
