//! `l402 dev-node`: two mock nodes (LND REST or Core Lightning clnrest) on one mock
//! Lightning network, for trying the whole pay-per-request loop on one machine with no
//! real node.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use l402_cln_fake::{FakeCln, FakeClnOptions};
use l402_core::{Amount, RootKey};
use l402_lnd_fake::{FakeLnd, FakeLndOptions, FakeMacaroon};
use l402_mock::{MockNetwork, MockNode, RoutingFee};
use serde_json::{Value, json};

use crate::backend::BackendKind;
use crate::exit::{CliError, CmdResult, OK};
use crate::fsutil::{create_private_dir, write_atomic};
use crate::logging::{self, LogArgs};
use crate::shutdown;

/// Run a mock Lightning network with two nodes speaking LND's REST API (or, with
/// `--backend cln`, Core Lightning's clnrest): a "server" node that creates invoices (for
/// `l402 proxy`) and a funded "payer" node that pays them (for `l402 get`).
///
/// Writes into --data-dir: each node's TLS certificate (`server-tls.cert`,
/// `payer-tls.cert`) and least-privilege macaroon (`server.macaroon`: invoices only;
/// `payer.macaroon`: payments only), a proxy master secret (`master.secret`, kept across
/// runs), the proxy's revocation file (`revoked.txt`, kept across runs), a ready proxy
/// config (`proxy.toml`), the environment for `l402 get` (`get.env`; tokens go to
/// `tokens/` in the data directory), and `dev-node.json` (backend, URLs, files and live
/// balances, rewritten after each payment). Then prints the commands to run.
/// Certificates and credentials are new on every start; balances live in memory only.
/// With `--backend cln` the credentials are runes (`server.rune`: invoices only;
/// `payer.rune`: payments only) and the certificates each node's CA (`server-ca.pem`,
/// `payer-ca.pem`), checked against the name `cln`.
#[derive(Debug, Args)]
#[command(after_help = "\
Example (three terminals):
  l402 dev-node --data-dir l402-dev
  l402 echo --listen 127.0.0.1:9000 & l402 proxy --config l402-dev/proxy.toml
  . l402-dev/get.env && l402 get http://127.0.0.1:8402/echo/hello

`get.env` sets L402_BACKEND, L402_NODE_URL, L402_MACAROON_FILE, L402_TLS_CERT_FILE,
L402_NETWORK=regtest and L402_TOKEN_DIR (tokens kept in the data directory); with
--backend cln, L402_RUNE_FILE and L402_TLS_SERVER_NAME=cln instead of L402_MACAROON_FILE.")]
pub(crate) struct DevNodeArgs {
    /// The node implementation the two fake nodes speak: LND's REST API or Core
    /// Lightning's clnrest.
    #[arg(long, value_enum, default_value = "lnd")]
    backend: BackendKind,
    /// Address of the server node's REST API (invoices).
    #[arg(long, default_value = "127.0.0.1:10080", value_name = "ADDR")]
    listen: SocketAddr,
    /// Address of the payer node's REST API (payments).
    #[arg(long, default_value = "127.0.0.1:10081", value_name = "ADDR")]
    payer_listen: SocketAddr,
    /// Directory for certificates, credentials and generated configs.
    #[arg(long, default_value = "l402-dev", value_name = "DIR")]
    data_dir: PathBuf,
    /// The payer node's starting balance, in satoshis.
    #[arg(long, default_value_t = 1_000_000, value_name = "SATS")]
    payer_balance: u64,
    /// Routing fee charged on every payment, in millisatoshis.
    #[arg(long, default_value_t = 1_000, value_name = "MSAT")]
    routing_fee_msat: u64,
    /// Upstream URL written into the generated proxy.toml.
    #[arg(long, default_value = "http://127.0.0.1:9000", value_name = "URL")]
    upstream: String,
    /// Listen address written into the generated proxy.toml.
    #[arg(long, default_value = "127.0.0.1:8402", value_name = "ADDR")]
    proxy_listen: SocketAddr,
    #[command(flatten)]
    log: LogArgs,
}

/// The TLS name the CLN fakes' server certificates carry (as cln-grpc makes them); the
/// URLs name the nodes by IP address, so clients check this name instead.
const CLN_TLS_SERVER_NAME: &str = "cln";

/// The server node's rune: create and look up invoices, node info; nothing that spends
/// (the server recipe in docs/backends.md).
const SERVER_RUNE: &[&[&str]] = &[&[
    "method=invoice",
    "method=listinvoices",
    "method=waitinvoice",
    "method=getinfo",
]];

/// The payer node's rune: pay, look payments up, node info; nothing else (the agent
/// recipe in docs/backends.md).
const PAYER_RUNE: &[&[&str]] = &[&[
    "method=xpay",
    "method=listpays",
    "method=listsendpays",
    "method=getinfo",
]];

/// What a node is for.
#[derive(Debug, Clone, Copy)]
enum Role {
    /// Creates invoices (the proxy's node).
    Server,
    /// Pays them (`l402 get`'s node).
    Payer,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Payer => "payer",
        }
    }
}

/// The fake REST server in front of a mock node.
enum Fake {
    Lnd(FakeLnd),
    Cln(FakeCln),
}

/// A started node and its files.
struct Started {
    fake: Fake,
    /// LND: the macaroon; CLN: the rune.
    credential_file: PathBuf,
    /// LND: the node's `tls.cert` (pinned); CLN: its `ca.pem` (trusted as CA).
    tls_cert_file: PathBuf,
}

impl Started {
    fn url(&self) -> &str {
        match &self.fake {
            Fake::Lnd(lnd) => lnd.base_url(),
            Fake::Cln(cln) => cln.base_url(),
        }
    }

    fn node(&self) -> &MockNode {
        match &self.fake {
            Fake::Lnd(lnd) => lnd.node(),
            Fake::Cln(cln) => cln.node(),
        }
    }

    fn shutdown(&self) {
        match &self.fake {
            Fake::Lnd(lnd) => lnd.shutdown(),
            Fake::Cln(cln) => cln.shutdown(),
        }
    }
}

pub(crate) async fn run(args: DevNodeArgs) -> CmdResult {
    logging::init(&args.log);
    // Before any listener is bound or file written: a SIGTERM sent as soon as the nodes
    // answer (or the status file appears) then stops it cleanly instead of killing it.
    let stop = shutdown::signal();
    let balance = Amount::from_sat(args.payer_balance)
        .ok_or_else(|| CliError::config("--payer-balance is too large"))?;
    create_private_dir(&args.data_dir)
        .map_err(|e| CliError::config(format!("cannot create {}: {e}", args.data_dir.display())))?;
    let dir = std::fs::canonicalize(&args.data_dir).map_err(|e| {
        CliError::config(format!("cannot resolve {}: {e}", args.data_dir.display()))
    })?;

    let network = MockNetwork::builder()
        .routing_fee(RoutingFee::new(Amount::from_msat(args.routing_fee_msat), 0))
        .build();
    let server_node = network
        .node("server")
        .build()
        .map_err(|e| CliError::failure(format!("cannot create the server node: {e}")))?;
    let payer_node = network
        .node("payer")
        .balance(balance)
        .build()
        .map_err(|e| CliError::failure(format!("cannot create the payer node: {e}")))?;
    let server = start(args.backend, server_node, args.listen, &dir, Role::Server).await?;
    let payer = start(
        args.backend,
        payer_node,
        args.payer_listen,
        &dir,
        Role::Payer,
    )
    .await?;

    let secret_file = dir.join("master.secret");
    ensure_master_secret(&secret_file)?;
    ensure_revocation_file(&dir.join("revoked.txt"))?;
    let proxy_file = dir.join("proxy.toml");
    write_file(&proxy_file, proxy_toml(&args, &server).as_bytes(), false)?;
    let env_file = dir.join("get.env");
    write_file(
        &env_file,
        get_env(args.backend, &payer, &dir).as_bytes(),
        false,
    )?;
    let status_file = dir.join("dev-node.json");
    let status = |network: &MockNetwork| {
        write_status(
            &status_file,
            args.backend,
            network,
            &server,
            &payer,
            &proxy_file,
        )
    };
    status(&network)?;

    let (nodes, credential, cert) = match args.backend {
        BackendKind::Lnd => ("two LND REST nodes", "macaroon", "tls cert"),
        BackendKind::Cln => ("two Core Lightning (clnrest) nodes", "rune    ", "ca cert "),
    };
    println!("l402 dev-node: a mock Lightning network (regtest) with {nodes}");
    println!();
    println!("  server node (invoices): {}", server.url());
    println!("    {credential}  {}", server.credential_file.display());
    println!("    {cert}  {}", server.tls_cert_file.display());
    println!(
        "  payer node (payments):  {}  balance {} sat",
        payer.url(),
        args.payer_balance
    );
    println!("    {credential}  {}", payer.credential_file.display());
    println!("    {cert}  {}", payer.tls_cert_file.display());
    println!();
    println!(
        "Sell an API (proxy config written for you, upstream {}):",
        args.upstream
    );
    println!("  l402 proxy --config {}", proxy_file.display());
    println!(
        "  (revoke a token: add its id to {}; the proxy re-reads it)",
        dir.join("revoked.txt").display()
    );
    println!();
    println!("Pay for it:");
    let node_flags = match args.backend {
        BackendKind::Lnd => format!(
            "--backend lnd --node-url {} --macaroon-file {} --tls-cert-file {}",
            payer.url(),
            payer.credential_file.display(),
            payer.tls_cert_file.display(),
        ),
        BackendKind::Cln => format!(
            "--backend cln --node-url {} --rune-file {} --tls-cert-file {} --tls-server-name {CLN_TLS_SERVER_NAME}",
            payer.url(),
            payer.credential_file.display(),
            payer.tls_cert_file.display(),
        ),
    };
    println!(
        "  l402 get {node_flags} --network regtest --token-dir {} http://{}/echo/hello",
        dir.join("tokens").display(),
        args.proxy_listen
    );
    println!(
        "  (or: . {} && l402 get http://{}/echo/hello)",
        env_file.display(),
        args.proxy_listen
    );
    println!();
    println!(
        "Balances are in {} (rewritten after each payment). Ctrl-C stops.",
        status_file.display()
    );

    let watch = async {
        let mut last = snapshot(&network, &server, &payer);
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let now = snapshot(&network, &server, &payer);
            if now != last {
                last = now;
                let (server_msat, payer_msat, payments, _) = now;
                println!(
                    "payments: {payments}  server balance: {server_msat} msat  payer balance: {payer_msat} msat"
                );
                if let Err(e) = status(&network) {
                    tracing::warn!(error = %e.message, "cannot update the status file");
                }
            }
        }
    };
    tokio::select! {
        () = watch => {}
        () = stop => {}
    }
    server.shutdown();
    payer.shutdown();
    Ok(OK)
}

async fn start(
    backend: BackendKind,
    node: MockNode,
    addr: SocketAddr,
    dir: &Path,
    role: Role,
) -> Result<Started, CliError> {
    let name = role.name();
    let cannot_start = |e: &dyn std::error::Error| {
        CliError::config(format!(
            "cannot start the {name} node on {addr}: {}",
            crate::exit::chain(e)
        ))
    };
    match backend {
        BackendKind::Lnd => {
            let lnd = FakeLnd::start(node, FakeLndOptions::new().bind(addr))
                .await
                .map_err(|e| cannot_start(&e))?;
            let preset = match role {
                Role::Server => FakeMacaroon::InvoiceServer,
                Role::Payer => FakeMacaroon::PayClient,
            };
            let credential_file = dir.join(format!("{name}.macaroon"));
            write_file(&credential_file, &lnd.macaroon(preset), true)?;
            let tls_cert_file = dir.join(format!("{name}-tls.cert"));
            let pem = lnd
                .tls_cert_pem()
                .ok_or_else(|| CliError::failure("the fake node has no certificate"))?;
            write_file(&tls_cert_file, pem.as_bytes(), false)?;
            Ok(Started {
                fake: Fake::Lnd(lnd),
                credential_file,
                tls_cert_file,
            })
        }
        BackendKind::Cln => {
            let cln = FakeCln::start(node, FakeClnOptions::new().bind(addr))
                .await
                .map_err(|e| cannot_start(&e))?;
            let restrictions = match role {
                Role::Server => SERVER_RUNE,
                Role::Payer => PAYER_RUNE,
            };
            let rune = zeroize::Zeroizing::new(cln.create_rune(restrictions).map_err(|e| {
                CliError::failure(format!(
                    "cannot create the {name} node's rune: {}",
                    crate::exit::chain(&e)
                ))
            })?);
            let credential_file = dir.join(format!("{name}.rune"));
            let line = zeroize::Zeroizing::new(format!("{}\n", *rune));
            write_file(&credential_file, line.as_bytes(), true)?;
            let tls_cert_file = dir.join(format!("{name}-ca.pem"));
            let pem = cln
                .ca_pem()
                .ok_or_else(|| CliError::failure("the fake node has no certificate"))?;
            write_file(&tls_cert_file, pem.as_bytes(), false)?;
            Ok(Started {
                fake: Fake::Cln(cln),
                credential_file,
                tls_cert_file,
            })
        }
    }
}

fn write_file(path: &Path, bytes: &[u8], private: bool) -> Result<(), CliError> {
    write_atomic(path, bytes, private)
        .map_err(|e| CliError::failure(format!("cannot write {}: {e}", path.display())))
}

/// Creates a random master secret for the proxy unless the file exists (tokens minted in
/// an earlier run stay valid).
fn ensure_master_secret(path: &Path) -> Result<(), CliError> {
    if path.exists() {
        return Ok(());
    }
    // 32 random bytes from the OS, the same source a root key comes from.
    let secret = RootKey::generate().map_err(|e| {
        CliError::failure(format!(
            "cannot generate a master secret: {}",
            crate::exit::chain(&e)
        ))
    })?;
    let line = zeroize::Zeroizing::new(format!(
        "{}\n",
        l402_core::encoding::hex_encode(secret.expose_secret())
    ));
    write_file(path, line.as_bytes(), true)
}

/// Creates the proxy's (empty) revocation file unless it exists: revocations made in an
/// earlier run stay in force.
fn ensure_revocation_file(path: &Path) -> Result<(), CliError> {
    if path.exists() {
        return Ok(());
    }
    write_file(
        path,
        b"# Token ids revoked by `l402 proxy` (hex, one per line); re-read when this file changes.\n",
        false,
    )
}

fn toml_string(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

fn proxy_toml(args: &DevNodeArgs, server: &Started) -> String {
    format!(
        r#"# Generated by `l402 dev-node`: the proxy in front of {upstream}, selling it through the
# dev-node's server node. Rewritten on every dev-node start: copy it before editing.
# Relative paths are relative to this file.
listen = {listen}
upstream_timeout_secs = 30

{backend}
[root_keys]
master_secret_file = "master.secret"

# Revoke a token: add its id (`l402 token decode`) to revoked.txt; no restart needed.
[revocation]
kind = "memory"
file = "revoked.txt"

# Paths are matched and forwarded in one canonical form: targets with dot segments,
# encoded slashes, backslashes or NULs are refused with 400 before routing.
[[services]]
name = "echo"
path = "/echo"
upstream = {upstream_q}
price_sat = 10
capabilities = ["read"]
validity_secs = 3600

[[services]]
name = "health"
path = "/health"
upstream = {upstream_q}
free = true
"#,
        upstream = args.upstream,
        listen = toml_string(&args.proxy_listen.to_string()),
        backend = backend_toml(args.backend, server),
        upstream_q = toml_string(&args.upstream),
    )
}

/// The `[backend]` table of the generated proxy config.
fn backend_toml(backend: BackendKind, server: &Started) -> String {
    let url = toml_string(server.url());
    match backend {
        BackendKind::Lnd => format!(
            r#"[backend]
kind = "lnd"
url = {url}
macaroon_file = "server.macaroon"
tls_cert_file = "server-tls.cert"
"#
        ),
        BackendKind::Cln => format!(
            r#"[backend]
kind = "cln"
url = {url}
rune_file = "server.rune"
tls_cert_file = "server-ca.pem"
tls_server_name = "{CLN_TLS_SERVER_NAME}"
"#
        ),
    }
}

fn get_env(backend: BackendKind, payer: &Started, dir: &Path) -> String {
    let node = match backend {
        BackendKind::Lnd => format!(
            "export L402_BACKEND=lnd\n\
             export L402_NODE_URL={}\n\
             export L402_MACAROON_FILE='{}'\n\
             export L402_TLS_CERT_FILE='{}'\n",
            payer.url(),
            payer.credential_file.display(),
            payer.tls_cert_file.display(),
        ),
        BackendKind::Cln => format!(
            "export L402_BACKEND=cln\n\
             export L402_NODE_URL={}\n\
             export L402_RUNE_FILE='{}'\n\
             export L402_TLS_CERT_FILE='{}'\n\
             export L402_TLS_SERVER_NAME={CLN_TLS_SERVER_NAME}\n",
            payer.url(),
            payer.credential_file.display(),
            payer.tls_cert_file.display(),
        ),
    };
    format!(
        "# Generated by `l402 dev-node`: `. get.env` then `l402 get URL`.\n\
         {node}\
         export L402_NETWORK=regtest\n\
         export L402_TOKEN_DIR='{}'\n",
        dir.join("tokens").display(),
    )
}

fn snapshot(network: &MockNetwork, server: &Started, payer: &Started) -> (u64, u64, usize, usize) {
    (
        server.node().balance().msat(),
        payer.node().balance().msat(),
        network.payment_count(),
        network.invoice_count(),
    )
}

fn node_json(backend: BackendKind, s: &Started) -> Value {
    let node_id = s.node().node_id().to_string();
    let balance_msat = s.node().balance().msat();
    match backend {
        BackendKind::Lnd => json!({
            "url": s.url(),
            "macaroon_file": s.credential_file,
            "tls_cert_file": s.tls_cert_file,
            "node_id": node_id,
            "balance_msat": balance_msat,
        }),
        BackendKind::Cln => json!({
            "url": s.url(),
            "rune_file": s.credential_file,
            "tls_cert_file": s.tls_cert_file,
            "tls_server_name": CLN_TLS_SERVER_NAME,
            "node_id": node_id,
            "balance_msat": balance_msat,
        }),
    }
}

fn write_status(
    path: &Path,
    backend: BackendKind,
    network: &MockNetwork,
    server: &Started,
    payer: &Started,
    proxy_file: &Path,
) -> Result<(), CliError> {
    let status = json!({
        "backend": match backend {
            BackendKind::Lnd => "lnd",
            BackendKind::Cln => "cln",
        },
        "network": "regtest",
        "server": node_json(backend, server),
        "payer": node_json(backend, payer),
        "invoices": network.invoice_count(),
        "payments": network.payment_count(),
        "total_paid_msat": network.total_paid().msat(),
        "total_fees_msat": network.total_fees().msat(),
        "proxy_config": proxy_file,
    });
    let text = serde_json::to_string_pretty(&status)
        .map_err(|e| CliError::failure(format!("cannot format the status: {e}")))?;
    write_file(path, text.as_bytes(), false)
}
