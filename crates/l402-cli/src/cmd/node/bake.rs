//! `l402 node bake`: ask the node for a least-privilege credential and write it to a file.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use l402_cln::{ClnBackend, CreateRuneError};
use l402_core::node_credential::lnd::LndMacaroon;
use l402_core::node_credential::rune::{Restriction, Rune};
use l402_lnd::{BakeError, LndBackend, MacaroonPermission};
use zeroize::Zeroizing;

use crate::backend::BackendKind;
use crate::credential::{self, Kind, NodeCredential};
use crate::exit::{CliError, CmdResult, OK, chain};
use crate::output::{print_json, print_line};

/// What the new credential is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Role {
    /// Pay invoices and look payments up (an L402 client, `l402 get`).
    Pay,
    /// Create and look up invoices (an L402 server, `l402 proxy`).
    Invoice,
    /// Read the node's state; no invoices, no payments.
    Read,
}

/// LND permissions of each role.
pub(crate) fn lnd_permissions(role: Role) -> Vec<MacaroonPermission> {
    let list: &[(&str, &str)] = match role {
        Role::Pay => &[
            ("offchain", "read"),
            ("offchain", "write"),
            ("info", "read"),
        ],
        Role::Invoice => &[
            ("invoices", "read"),
            ("invoices", "write"),
            ("info", "read"),
        ],
        // LND's readonly.macaroon.
        Role::Read => &[
            ("onchain", "read"),
            ("offchain", "read"),
            ("address", "read"),
            ("message", "read"),
            ("peers", "read"),
            ("info", "read"),
            ("invoices", "read"),
            ("signer", "read"),
            ("macaroon", "read"),
        ],
    };
    list.iter()
        .map(|(e, a)| MacaroonPermission::new(*e, *a))
        .collect()
}

/// CLN restrictions of each role (before a fee cap or rate limit).
pub(crate) fn cln_restrictions(role: Role) -> Vec<&'static str> {
    match role {
        Role::Pay => {
            vec!["method=xpay|method=listpays|method=listsendpays|method=decode|method=getinfo"]
        }
        Role::Invoice => {
            vec!["method=invoice|method=listinvoices|method=waitinvoice|method=getinfo"]
        }
        // CLN's `restrictions=readonly`.
        Role::Read => vec![
            "method^list|method^get|method=summary",
            "method/listdatastore",
        ],
    }
}

/// Ask the node for a new credential that can do one thing, and write it to a file.
///
/// LND: `BakeMacaroon` with the role's permissions (pay: `offchain:read offchain:write
/// info:read`; invoice: `invoices:read invoices:write info:read`; read: what LND's
/// `readonly.macaroon` has). CLN: `createrune` with the role's method restrictions (pay:
/// `xpay listpays listsendpays decode getinfo`; invoice: `invoice listinvoices
/// waitinvoice getinfo`; read: CLN's `readonly`), optionally a cap on xpay's `maxfee`
/// and a rate limit. The credential used to bake comes from a file (LND: one with
/// `macaroon:generate`, such as `admin.macaroon`; CLN: a rune allowed `createrune`).
/// The new credential is written with mode 0600 (an LND macaroon in binary, as LND writes
/// its files; a rune as text), and what it allows is printed. Narrow it further offline
/// with `l402 node restrict`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  l402 node bake --role invoice --node-url https://localhost:8080 \\
      --macaroon-file ~/.lnd/data/chain/bitcoin/mainnet/admin.macaroon \\
      --tls-cert-file ~/.lnd/tls.cert --root-key-id 2 --out proxy.macaroon
  l402 node bake --role pay --backend cln --node-url https://localhost:3010 \\
      --rune-file admin.rune --tls-cert-file ca.pem --tls-server-name cln \\
      --max-fee-msat 10000 --rate 60 --out agent.rune

Exit codes: 0 written; 2 bad flag, unreadable or malformed baking credential, a
credential the node refuses to bake with, or the output exists (nothing written); 1 the
node could not be reached or gave an unexpected answer (nothing written).")]
pub(crate) struct BakeArgs {
    /// What the new credential is for.
    #[arg(long, value_enum)]
    role: Role,
    /// The node implementation.
    #[arg(long, value_enum, default_value = "lnd", env = "L402_BACKEND")]
    backend: BackendKind,
    /// The node's REST URL (LND: `https://host:8080`; CLN clnrest: `https://host:3010`).
    #[arg(long, value_name = "URL", env = "L402_NODE_URL")]
    node_url: Option<String>,
    /// LND: the macaroon to bake with, one with `macaroon:generate` (`admin.macaroon`).
    #[arg(long, value_name = "FILE")]
    macaroon_file: Option<PathBuf>,
    /// CLN: the rune to create runes with (it must allow `createrune`).
    #[arg(long, value_name = "FILE")]
    rune_file: Option<PathBuf>,
    /// LND: its `tls.cert`, pinned. CLN: its `ca.pem`, trusted as CA. Without it the
    /// public web PKI roots are used.
    #[arg(long, value_name = "FILE", env = "L402_TLS_CERT_FILE")]
    tls_cert_file: Option<PathBuf>,
    /// CLN: the name to check the certificate against (`cln` or `localhost`) when the URL
    /// names the node by IP address.
    #[arg(long, value_name = "NAME", env = "L402_TLS_SERVER_NAME")]
    tls_server_name: Option<String>,
    /// Where to write the new credential.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Replace `--out` if it exists.
    #[arg(long)]
    force: bool,
    /// LND: the root key id to bake under (default 0, LND's); `lncli deletemacaroonid ID`
    /// later revokes every macaroon baked under it, so give each credential its own.
    #[arg(long, value_name = "ID")]
    root_key_id: Option<u64>,
    /// CLN, `--role pay`: require xpay's `maxfee` below this many msat plus one (the
    /// backend always sends one).
    #[arg(long, value_name = "MSAT")]
    max_fee_msat: Option<u64>,
    /// CLN: at most this many calls a minute (`rate=N`, shared by every rune derived
    /// from this one).
    #[arg(long, value_name = "PER_MINUTE")]
    rate: Option<u32>,
    /// Print what the new credential allows as JSON.
    #[arg(long)]
    json: bool,
}

impl BakeArgs {
    fn check(&self) -> Result<(), CliError> {
        match self.backend {
            BackendKind::Lnd => {
                if self.rune_file.is_some() || self.tls_server_name.is_some() {
                    return Err(CliError::config(
                        "a rune and a tls server name are for --backend cln",
                    ));
                }
                if self.rate.is_some() || self.max_fee_msat.is_some() {
                    return Err(CliError::config(
                        "--rate and --max-fee-msat are for --backend cln (a macaroon has no \
                         rate limit or fee cap)",
                    ));
                }
            }
            BackendKind::Cln => {
                if self.macaroon_file.is_some() || self.root_key_id.is_some() {
                    return Err(CliError::config(
                        "a macaroon and a root key id are for --backend lnd",
                    ));
                }
                if self.max_fee_msat.is_some() && self.role != Role::Pay {
                    return Err(CliError::config("--max-fee-msat is for --role pay"));
                }
                if self.rate == Some(0) {
                    return Err(CliError::config("--rate must be at least 1"));
                }
            }
        }
        if self.node_url.is_none() {
            return Err(CliError::config(
                "no node url: give --node-url URL or set L402_NODE_URL",
            ));
        }
        if self.out.exists() && !self.force {
            return Err(CliError::config(format!(
                "{} already exists; not overwriting it (give --force to replace it)",
                self.out.display()
            )));
        }
        if self.out.is_dir() {
            return Err(CliError::config(format!(
                "{} is a directory",
                self.out.display()
            )));
        }
        Ok(())
    }

    /// The baking credential's file, checked to be a readable credential of the kind.
    fn credential_file(&self) -> Result<&Path, CliError> {
        let (file, kind, hint) = match self.backend {
            BackendKind::Lnd => (
                &self.macaroon_file,
                Kind::Lnd,
                "no lnd macaroon to bake with: give --macaroon-file FILE (one with \
                 macaroon:generate, such as admin.macaroon)",
            ),
            BackendKind::Cln => (
                &self.rune_file,
                Kind::Cln,
                "no cln rune to create runes with: give --rune-file FILE (a rune allowed \
                 createrune)",
            ),
        };
        let file = file.as_deref().ok_or_else(|| CliError::config(hint))?;
        if same_file(file, &self.out) {
            return Err(CliError::config(
                "--out names the baking credential itself; write the new one elsewhere",
            ));
        }
        // Truncated, non-LND, malformed: exit 2 before any call.
        credential::read(file, Some(kind))?;
        Ok(file)
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

pub(crate) async fn run(args: &BakeArgs) -> CmdResult {
    args.check()?;
    let file = args.credential_file()?;
    let url = args.node_url.as_deref().unwrap_or_default();
    let (bytes, cred) = match args.backend {
        BackendKind::Lnd => {
            let macaroon = bake_lnd(args, url, file).await?;
            let bytes = Zeroizing::new(macaroon.macaroon().encode());
            (
                bytes,
                NodeCredential::Lnd {
                    macaroon,
                    hex: false,
                },
            )
        }
        BackendKind::Cln => {
            let rune = create_cln(args, url, file).await?;
            let mut text = Zeroizing::new(rune.to_base64().into_bytes());
            text.push(b'\n');
            (text, NodeCredential::Cln(rune))
        }
    };
    write_private(&args.out, &bytes, args.force)?;
    let value = super::inspect::describe(&cred);
    if args.json {
        let mut value = value;
        if let Some(o) = value.as_object_mut() {
            o.insert("file".into(), args.out.display().to_string().into());
        }
        print_json(&value)?;
    } else {
        print_line(&format!("wrote {}", args.out.display()))?;
        print_line(&super::inspect::text(&value))?;
    }
    Ok(OK)
}

async fn bake_lnd(args: &BakeArgs, url: &str, file: &Path) -> Result<LndMacaroon, CliError> {
    let mut builder = LndBackend::builder(url).macaroon_file(file).for_baking();
    if let Some(cert) = &args.tls_cert_file {
        builder = builder.tls_cert_file(cert);
    }
    let node = builder
        .build()
        .map_err(|e| CliError::config(format!("lnd backend: {}", chain(&e))))?;
    let root_key_id = args.root_key_id.unwrap_or(0);
    node.bake_macaroon(&lnd_permissions(args.role), root_key_id)
        .await
        .map_err(|e| match &e {
            BakeError::Denied { .. } => CliError::config(format!(
                "{}; the macaroon in {} cannot bake: it needs macaroon:generate (admin.macaroon \
                 has it), must be this node's and unexpired",
                chain(&e),
                file.display()
            )),
            _ => CliError::failure(chain(&e)),
        })
}

async fn create_cln(args: &BakeArgs, url: &str, file: &Path) -> Result<Rune, CliError> {
    let mut builder = ClnBackend::builder(url).rune_file(file).for_baking();
    if let Some(ca) = &args.tls_cert_file {
        builder = builder.ca_cert_file(ca);
    }
    if let Some(name) = &args.tls_server_name {
        builder = builder.tls_server_name(name.clone());
    }
    let node = builder
        .build()
        .map_err(|e| CliError::config(format!("cln backend: {}", chain(&e))))?;
    let mut texts: Vec<String> = cln_restrictions(args.role)
        .into_iter()
        .map(str::to_owned)
        .collect();
    if let Some(max) = args.max_fee_msat {
        let bound = max
            .checked_add(1)
            .ok_or_else(|| CliError::config("--max-fee-msat is too large"))?;
        texts.push(format!("method/xpay|pnamemaxfee<{bound}"));
    }
    if let Some(rate) = args.rate {
        texts.push(format!("rate={rate}"));
    }
    let restrictions = texts
        .iter()
        .map(|t| Restriction::parse(t))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CliError::failure(format!("restriction: {}", chain(&e))))?;
    node.create_rune(&restrictions)
        .await
        .map(|created| created.rune)
        .map_err(|e| match &e {
            CreateRuneError::Denied { .. } => CliError::config(format!(
                "{}; the rune in {} cannot create runes: it must be this node's and allowed \
                 createrune",
                chain(&e),
                file.display()
            )),
            _ => CliError::failure(chain(&e)),
        })
}

/// Writes `bytes` to `path` with mode 0600: into a new temporary file beside it, then
/// linked into place (refusing an existing file) or, with `force`, renamed over it. On
/// any error nothing is left behind.
fn write_private(path: &Path, bytes: &[u8], force: bool) -> Result<(), CliError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| CliError::config(format!("{} is not a file name", path.display())))?;
    // Unique enough: `create_new` refuses anything already there.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tmp = dir.join(format!(
        ".{}.{}-{nanos}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&tmp)
        .map_err(|e| CliError::config(format!("cannot create {}: {e}", path.display())))?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    drop(file);
    let placed = written.and_then(|()| {
        if force {
            std::fs::rename(&tmp, path)
        } else {
            match std::fs::hard_link(&tmp, path) {
                // A file system without hard links: the existence check above, then a
                // rename.
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists && !path.exists() => {
                    std::fs::rename(&tmp, path)
                }
                other => other,
            }
        }
    });
    let _ = std::fs::remove_file(&tmp);
    placed.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            CliError::config(format!(
                "{} already exists; not overwriting it (give --force to replace it)",
                path.display()
            ))
        } else {
            CliError::failure(format!("cannot write {}: {e}", path.display()))
        }
    })
}
