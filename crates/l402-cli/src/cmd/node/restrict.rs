//! `l402 node restrict`: narrow a node credential offline into a new file.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use clap::Args;
use l402_core::node_credential::lnd::{ip_lock_caveat, time_before_caveat};

use crate::credential::{self, Kind, NodeCredential};
use crate::exit::{CliError, CmdResult, OK};
use crate::output::print_line;

/// Write a narrower copy of an LND macaroon or a Core Lightning rune, without contacting
/// a node; the input file is never modified.
///
/// LND: adds the first-party caveats LND itself enforces (those of `lncli
/// constrainmacaroon`): `--timeout` adds `time-before <now + SECS>`, `--ip` adds `ipaddr
/// <ADDR>`. CLN: appends rune restrictions (`--restriction`, as `createrune` takes them,
/// `|` between alternatives); `--timeout` appends `time<<now + SECS>`. The new credential
/// allows at most what the old one does. The output is created with mode 0600 and must
/// not exist.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  l402 node restrict invoice.macaroon --out proxy.macaroon --timeout 86400 --ip 10.0.0.5
  l402 node restrict agent.rune --out agent-1h.rune --timeout 3600 \\
      --restriction 'method/xpay|pnameamount_msat<100001'

Exit codes: 0 written, 2 unreadable or malformed input, bad flag, or the output exists
(nothing written).")]
pub(crate) struct RestrictArgs {
    /// The credential to narrow (read only).
    file: PathBuf,
    /// Where to write the new credential (must not exist).
    #[arg(long)]
    out: PathBuf,
    /// Which node the credential is for (detected when absent).
    #[arg(long, value_enum)]
    backend: Option<Kind>,
    /// Valid for this many seconds from now.
    #[arg(long, value_name = "SECS")]
    timeout: Option<u64>,
    /// LND: usable only from this IP address.
    #[arg(long, value_name = "ADDR")]
    ip: Option<IpAddr>,
    /// CLN: a restriction to append (repeatable).
    #[arg(long, value_name = "TEXT")]
    restriction: Vec<String>,
}

pub(crate) fn run(args: &RestrictArgs) -> CmdResult {
    if args.timeout.is_none() && args.ip.is_none() && args.restriction.is_empty() {
        return Err(CliError::config(
            "nothing to add: give --timeout, --ip or --restriction",
        ));
    }
    if args.timeout == Some(0) {
        return Err(CliError::config("--timeout must be at least 1 second"));
    }
    let not_after = args
        .timeout
        .map(|s| {
            SystemTime::now()
                .checked_add(Duration::from_secs(s))
                .ok_or_else(|| CliError::config("--timeout is too large"))
        })
        .transpose()?;
    if args.out.exists() {
        return Err(CliError::config(format!(
            "{} already exists; not overwriting it",
            args.out.display()
        )));
    }
    let cred = credential::read(&args.file, args.backend)?;
    let (bytes, summary) = match cred {
        NodeCredential::Lnd { macaroon, hex } => {
            if !args.restriction.is_empty() {
                return Err(CliError::config(
                    "--restriction is for runes; a macaroon takes --timeout and --ip",
                ));
            }
            let mut added = Vec::new();
            added.extend(not_after.map(time_before_caveat));
            added.extend(args.ip.map(ip_lock_caveat));
            let mut m = macaroon;
            for c in &added {
                m = m.with_caveat(c).map_err(|e| {
                    CliError::config(format!("cannot add {c:?}: {}", crate::exit::chain(&e)))
                })?;
            }
            let bytes = if hex {
                let mut h = m.macaroon().to_hex().into_bytes();
                h.push(b'\n');
                h
            } else {
                m.macaroon().encode()
            };
            (bytes, added)
        }
        NodeCredential::Cln(rune) => {
            if args.ip.is_some() {
                return Err(CliError::config(
                    "a rune cannot be locked to an ip address; use --restriction",
                ));
            }
            let mut added = args.restriction.clone();
            if let Some(t) = not_after {
                added.push(format!("time<{}", l402_core::unix_seconds(t)));
            }
            let mut r = rune;
            for text in &added {
                r = r.restrict(text).map_err(|e| {
                    CliError::config(format!(
                        "cannot add restriction {text:?}: {}",
                        crate::exit::chain(&e)
                    ))
                })?;
            }
            let mut bytes = r.to_base64().into_bytes();
            bytes.push(b'\n');
            (bytes, added)
        }
    };
    let bytes = zeroize::Zeroizing::new(bytes);
    write_new_private(&args.out, &bytes)?;
    print_line(&format!("wrote {}", args.out.display()))?;
    for s in summary {
        print_line(&format!("  added: {s}"))?;
    }
    Ok(OK)
}

/// Creates `path` (mode 0600 on Unix), refusing to replace anything; on a failed write
/// the partial file is removed.
fn write_new_private(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| CliError::config(format!("cannot create {}: {e}", path.display())))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| {
            let _ = std::fs::remove_file(path);
            CliError::failure(format!("cannot write {}: {e}", path.display()))
        })
}
