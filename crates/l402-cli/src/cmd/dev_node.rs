//! `l402 dev-node`: two mock LND nodes on one mock Lightning network, for trying the whole
//! pay-per-request loop on one machine with no real node.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use l402_core::{Amount, RootKey};
use l402_lnd_fake::{FakeLnd, FakeLndOptions, FakeMacaroon};
use l402_mock::{MockNetwork, MockNode, RoutingFee};
use serde_json::{Value, json};

use crate::exit::{CliError, CmdResult, OK};
use crate::fsutil::{create_private_dir, write_atomic};
use crate::logging::{self, LogArgs};
use crate::shutdown;

/// Run a mock Lightning network with two nodes speaking LND's REST API: a "server" node
/// that creates invoices (for `l402 proxy`) and a funded "payer" node that pays them (for
/// `l402 get`).
///
/// Writes into --data-dir: each node's TLS certificate (`server-tls.cert`,
/// `payer-tls.cert`) and least-privilege macaroon (`server.macaroon`: invoices only;
/// `payer.macaroon`: payments only), a proxy master secret (`master.secret`, kept across
/// runs), the proxy's revocation file (`revoked.txt`, kept across runs), a ready proxy
/// config (`proxy.toml`), the environment for `l402 get`
/// (`get.env`; tokens go to `tokens/` in the data directory), and `dev-node.json` (URLs, files and live balances, rewritten after each
/// payment). Then prints the commands to run. Certificates and macaroons are new on every
/// start; balances live in memory only.
#[derive(Debug, Args)]
#[command(after_help = "\
Example (three terminals):
  l402 dev-node --data-dir l402-dev
  l402 echo --listen 127.0.0.1:9000 & l402 proxy --config l402-dev/proxy.toml
  . l402-dev/get.env && l402 get http://127.0.0.1:8402/echo/hello

`get.env` sets L402_BACKEND, L402_NODE_URL, L402_MACAROON_FILE, L402_TLS_CERT_FILE,
L402_NETWORK=regtest and L402_TOKEN_DIR (tokens kept in the data directory).")]
pub(crate) struct DevNodeArgs {
    /// Address of the server node's LND REST API (invoices).
    #[arg(long, default_value = "127.0.0.1:10080", value_name = "ADDR")]
    listen: SocketAddr,
    /// Address of the payer node's LND REST API (payments).
    #[arg(long, default_value = "127.0.0.1:10081", value_name = "ADDR")]
    payer_listen: SocketAddr,
    /// Directory for certificates, macaroons and generated configs.
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

/// A started node and its files.
struct Started {
    lnd: FakeLnd,
    macaroon_file: PathBuf,
    tls_cert_file: PathBuf,
}

pub(crate) async fn run(args: DevNodeArgs) -> CmdResult {
    logging::init(&args.log);
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
    let server = start(
        server_node,
        args.listen,
        &dir,
        "server",
        FakeMacaroon::InvoiceServer,
    )
    .await?;
    let payer = start(
        payer_node,
        args.payer_listen,
        &dir,
        "payer",
        FakeMacaroon::PayClient,
    )
    .await?;

    let secret_file = dir.join("master.secret");
    ensure_master_secret(&secret_file)?;
    ensure_revocation_file(&dir.join("revoked.txt"))?;
    let proxy_file = dir.join("proxy.toml");
    write_file(&proxy_file, proxy_toml(&args, &server).as_bytes(), false)?;
    let env_file = dir.join("get.env");
    write_file(&env_file, get_env(&payer, &dir).as_bytes(), false)?;
    let status_file = dir.join("dev-node.json");
    write_status(&status_file, &network, &server, &payer, &proxy_file)?;

    println!("l402 dev-node: a mock Lightning network (regtest) with two LND REST nodes");
    println!();
    println!("  server node (invoices): {}", server.lnd.base_url());
    println!("    macaroon  {}", server.macaroon_file.display());
    println!("    tls cert  {}", server.tls_cert_file.display());
    println!(
        "  payer node (payments):  {}  balance {} sat",
        payer.lnd.base_url(),
        args.payer_balance
    );
    println!("    macaroon  {}", payer.macaroon_file.display());
    println!("    tls cert  {}", payer.tls_cert_file.display());
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
    println!(
        "  l402 get --backend lnd --node-url {} --macaroon-file {} --tls-cert-file {} --network regtest --token-dir {} http://{}/echo/hello",
        payer.lnd.base_url(),
        payer.macaroon_file.display(),
        payer.tls_cert_file.display(),
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
                let (server_msat, payer_msat, payments) = now;
                println!(
                    "payments: {payments}  server balance: {server_msat} msat  payer balance: {payer_msat} msat"
                );
                if let Err(e) = write_status(&status_file, &network, &server, &payer, &proxy_file) {
                    tracing::warn!(error = %e.message, "cannot update the status file");
                }
            }
        }
    };
    tokio::select! {
        () = watch => {}
        () = shutdown::signal() => {}
    }
    server.lnd.shutdown();
    payer.lnd.shutdown();
    Ok(OK)
}

async fn start(
    node: MockNode,
    addr: SocketAddr,
    dir: &Path,
    name: &str,
    preset: FakeMacaroon,
) -> Result<Started, CliError> {
    let lnd = FakeLnd::start(node, FakeLndOptions::new().bind(addr))
        .await
        .map_err(|e| {
            CliError::config(format!(
                "cannot start the {name} node on {addr}: {}",
                crate::exit::chain(&e)
            ))
        })?;
    let macaroon_file = dir.join(format!("{name}.macaroon"));
    write_file(&macaroon_file, &lnd.macaroon(preset), true)?;
    let tls_cert_file = dir.join(format!("{name}-tls.cert"));
    let pem = lnd
        .tls_cert_pem()
        .ok_or_else(|| CliError::failure("the fake node has no certificate"))?;
    write_file(&tls_cert_file, pem.as_bytes(), false)?;
    Ok(Started {
        lnd,
        macaroon_file,
        tls_cert_file,
    })
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

[backend]
kind = "lnd"
url = {url}
macaroon_file = "server.macaroon"
tls_cert_file = "server-tls.cert"

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
        url = toml_string(server.lnd.base_url()),
        upstream_q = toml_string(&args.upstream),
    )
}

fn get_env(payer: &Started, dir: &Path) -> String {
    format!(
        "# Generated by `l402 dev-node`: `. get.env` then `l402 get URL`.\n\
         export L402_BACKEND=lnd\n\
         export L402_NODE_URL={}\n\
         export L402_MACAROON_FILE='{}'\n\
         export L402_TLS_CERT_FILE='{}'\n\
         export L402_NETWORK=regtest\n\
         export L402_TOKEN_DIR='{}'\n",
        payer.lnd.base_url(),
        payer.macaroon_file.display(),
        payer.tls_cert_file.display(),
        dir.join("tokens").display(),
    )
}

fn snapshot(network: &MockNetwork, server: &Started, payer: &Started) -> (u64, u64, usize) {
    let _ = network;
    (
        server.lnd.node().balance().msat(),
        payer.lnd.node().balance().msat(),
        network.payment_count(),
    )
}

fn node_json(s: &Started) -> Value {
    json!({
        "url": s.lnd.base_url(),
        "macaroon_file": s.macaroon_file,
        "tls_cert_file": s.tls_cert_file,
        "node_id": s.lnd.node().node_id().to_string(),
        "balance_msat": s.lnd.node().balance().msat(),
    })
}

fn write_status(
    path: &Path,
    network: &MockNetwork,
    server: &Started,
    payer: &Started,
    proxy_file: &Path,
) -> Result<(), CliError> {
    let status = json!({
        "network": "regtest",
        "server": node_json(server),
        "payer": node_json(payer),
        "payments": network.payment_count(),
        "total_paid_msat": network.total_paid().msat(),
        "total_fees_msat": network.total_fees().msat(),
        "proxy_config": proxy_file,
    });
    let text = serde_json::to_string_pretty(&status)
        .map_err(|e| CliError::failure(format!("cannot format the status: {e}")))?;
    write_file(path, text.as_bytes(), false)
}
