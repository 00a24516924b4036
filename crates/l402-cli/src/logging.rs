//! Logs through `tracing`, as text or JSON lines on stderr.

use std::io::IsTerminal;

use clap::{Args, ValueEnum};
use tracing_subscriber::EnvFilter;

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Logging flags of the long-running commands.
#[derive(Debug, Clone, Args)]
pub(crate) struct LogArgs {
    /// Log format on stderr.
    #[arg(long, value_enum, default_value = "text", env = "L402_LOG_FORMAT")]
    pub(crate) log_format: LogFormat,
    /// Log filter, in `tracing` EnvFilter syntax (e.g. `info`, `debug,hyper=info`).
    #[arg(long, default_value = "info", env = "RUST_LOG")]
    pub(crate) log: String,
}

/// Installs the global subscriber; a second call (tests) is ignored.
pub(crate) fn init(args: &LogArgs) {
    let filter = EnvFilter::try_new(&args.log).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match args.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Installs the subscriber of the one-shot client commands (`l402 get`) on stderr:
/// warnings by default (or `RUST_LOG` when set), `-v` info, `-vv` debug, `-vvv` trace,
/// `quiet` errors only; JSON lines with `json`.
pub(crate) fn init_client(verbose: u8, quiet: bool, json: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    let from_env = (verbose == 0 && !quiet)
        .then(|| std::env::var("RUST_LOG").ok())
        .flatten()
        .and_then(|v| EnvFilter::try_new(v).ok());
    let filter = from_env.unwrap_or_else(|| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(!json && std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
