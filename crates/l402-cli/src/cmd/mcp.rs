//! `l402 mcp`: an MCP server that lets AI agents pay for APIs within hard limits.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use clap::{ArgMatches, Args};
use l402_core::node_credential::CredentialRole;
use l402_mcp::L402Mcp;
use l402_mcp::rmcp::ServiceExt;
use l402_mcp::rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use l402_mcp::rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::mcp_config::{self, McpConfig};
use crate::backend::{BackendKind, NodeArgs, NodeSettings};
use crate::exit::{self, CliError, CmdResult, chain};
use crate::lazy_node::LazyNode;
use crate::spend::SpendArgs;

/// Environment variable holding the bearer secret of `--http` (never a flag: command
/// lines are visible to every user of the machine).
const SECRET_ENV: &str = "L402_MCP_BEARER_SECRET";
/// Shortest bearer secret accepted.
const MIN_SECRET_LEN: usize = 16;
/// Longest bearer secret file read.
const MAX_SECRET_LEN: u64 = 4096;

/// Run an MCP server (stdio, or streamable HTTP with --http) whose tools let an AI agent
/// fetch and pay for L402 APIs within the limits given here.
///
/// Tools: `fetch`, `quote`, `budget`, `payments`, `tokens`, `forget_token`, `decode`.
/// The node, the token store and the spending ledger are configured as for `l402 get`
/// (the same flags and environment, e.g. `. l402-dev/get.env`). Every limit here is the
/// operator's: a tool argument can only lower the price cap (`max_cost_sat`) and the
/// timeout. Private, loopback and link-local addresses are refused unless
/// --allow-private, on the URL, on every redirect and on every address a host name
/// resolves to. A challenge reached through a redirect to another origin is never paid.
/// Every refusal is a tool error naming the limit, with nothing paid.
///
/// Logs go to stderr (stdout is the MCP channel with stdio).
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  l402 mcp --max-cost 100 --budget 1000 --budget-window 24h
  l402 mcp --allow-host api.example.com --allow-host '*.example.org'
  . l402-dev/get.env && l402 mcp --allow-private        # the dev-node loop
  L402_MCP_BEARER_SECRET_FILE=/etc/l402/mcp.secret l402 mcp --http 127.0.0.1:8405

With --http the server listens for MCP's streamable HTTP transport at /mcp and requires
`Authorization: Bearer <secret>`; the secret is read from --bearer-secret-file
(L402_MCP_BEARER_SECRET_FILE) or the environment variable L402_MCP_BEARER_SECRET, never
from the command line. See docs/agents.md.")]
pub(crate) struct McpArgs {
    /// Read the operator's limits from this TOML file (keys as the flags' names with
    /// underscores: `max_cost`, `budget`, `allow_hosts`...; see docs/agents.md). Flags
    /// and their environment variables override it; unknown keys are refused.
    #[arg(long, value_name = "FILE", env = "L402_MCP_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    spend: SpendArgs,
    /// Only fetch these hosts (`api.example.com`, `*.example.com`); repeatable, or a
    /// comma-separated list. Default: any public host.
    #[arg(
        long = "allow-host",
        value_name = "HOST",
        env = "L402_MCP_ALLOW_HOSTS",
        value_delimiter = ','
    )]
    allow_hosts: Vec<String>,
    /// Never fetch these hosts (checked before --allow-host); repeatable.
    #[arg(
        long = "deny-host",
        value_name = "HOST",
        env = "L402_MCP_DENY_HOSTS",
        value_delimiter = ','
    )]
    deny_hosts: Vec<String>,
    /// Allow private, loopback, link-local and other non-public addresses (the dev-node
    /// loop on 127.0.0.1). Off by default: the agent cannot be used against the local
    /// network or a cloud metadata service.
    #[arg(long, env = "L402_MCP_ALLOW_PRIVATE")]
    allow_private: bool,
    /// Largest text body returned inline to the agent, in bytes; larger and binary bodies
    /// are saved to --download-dir and returned as a path.
    #[arg(long, default_value_t = l402_mcp::DEFAULT_MAX_INLINE_BYTES, value_name = "BYTES", env = "L402_MCP_MAX_INLINE_BYTES")]
    max_inline_bytes: usize,
    /// Largest body read at all, in bytes: a larger one is refused (`response_size`).
    #[arg(long, default_value_t = l402_mcp::DEFAULT_MAX_DOWNLOAD_BYTES, value_name = "BYTES", env = "L402_MCP_MAX_DOWNLOAD_BYTES")]
    max_download_bytes: u64,
    /// Where large and binary bodies are saved (default: `<data dir>/l402/downloads`).
    #[arg(long, value_name = "DIR", env = "L402_MCP_DOWNLOAD_DIR")]
    download_dir: Option<PathBuf>,
    /// The `payments` history, kept across restarts (JSON lines; default:
    /// `<data dir>/l402/mcp-payments.jsonl`).
    #[arg(long, value_name = "FILE", env = "L402_MCP_HISTORY_FILE")]
    history: Option<PathBuf>,
    /// Timeout of each HTTP request, in seconds (body included).
    #[arg(
        long,
        default_value_t = 30,
        value_name = "SECS",
        env = "L402_MCP_TIMEOUT"
    )]
    timeout: u64,
    /// Serve the streamable HTTP transport on ADDR (at /mcp) instead of stdio; needs a
    /// bearer secret (see below).
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,
    /// File holding the bearer secret for --http (at least 16 characters).
    #[arg(long, value_name = "FILE", env = "L402_MCP_BEARER_SECRET_FILE")]
    bearer_secret_file: Option<PathBuf>,
    /// Log more on stderr: -v info, -vv debug, -vvv trace (default: warnings).
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(flatten)]
    node: NodeArgs,
}

pub(crate) async fn run(mut args: McpArgs, matches: Option<&ArgMatches>) -> CmdResult {
    crate::logging::init_client(args.verbose, false, false);
    if let Some(path) = args.config.clone() {
        apply_config(&mut args, &McpConfig::read(&path)?, matches)?;
    }
    // The secret is checked before anything else starts.
    let secret = match args.http {
        Some(_) => Some(read_secret(args.bearer_secret_file.as_deref())?),
        None => None,
    };
    if args.timeout == 0 {
        return Err(CliError::config("--timeout must be above zero"));
    }
    let policy = args.spend.policy()?;
    let (token_dir, store) = args.spend.open_store()?;
    let ledger = args.spend.open_ledger(&token_dir).await?;
    let settings = NodeSettings::from(&args.node);
    warn_if_admin(&settings);
    let node = Arc::new(LazyNode::new(settings)?);
    let download_dir = match &args.download_dir {
        Some(d) => d.clone(),
        None => dirs::data_dir()
            .map(|d| d.join("l402").join("downloads"))
            .ok_or_else(|| CliError::config("no user data directory: give --download-dir DIR"))?,
    };
    let history = match &args.history {
        Some(h) => h.clone(),
        None => dirs::data_dir()
            .map(|d| d.join("l402").join("mcp-payments.jsonl"))
            .ok_or_else(|| CliError::config("no user data directory: give --history FILE"))?,
    };
    if let Some(parent) = history.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::fsutil::create_private_dir(parent)
            .map_err(|e| CliError::config(format!("cannot create {}: {e}", parent.display())))?;
    }
    let mut builder = L402Mcp::builder(node)
        .history_file(history)
        .policy(policy)
        .store(store)
        .ledger(ledger)
        .prefer_scheme(args.spend.prefer_scheme.into())
        .allow_hosts(
            args.allow_hosts
                .iter()
                .filter(|h| !h.trim().is_empty())
                .cloned(),
        )
        .deny_hosts(
            args.deny_hosts
                .iter()
                .filter(|h| !h.trim().is_empty())
                .cloned(),
        )
        .allow_private(args.allow_private)
        .max_inline_bytes(args.max_inline_bytes)
        .max_download_bytes(args.max_download_bytes)
        .download_dir(download_dir)
        .timeout(Duration::from_secs(args.timeout));
    if args.spend.path_scope > 0 {
        builder = builder.key_by_path_prefix(args.spend.path_scope);
    }
    let server = builder
        .build()
        .map_err(|e| CliError::config(format!("mcp server: {}", chain(&e))))?;
    if let Err(e) = server.middleware().recover().await {
        tracing::warn!(error = %chain(&e), "could not recover pending payments");
    }
    match (args.http, secret) {
        (Some(addr), Some(secret)) => serve_http(server, addr, secret).await,
        _ => serve_stdio(server).await,
    }
}

/// Sets from the file every limit whose flag was left to its default.
fn apply_config(
    args: &mut McpArgs,
    file: &McpConfig,
    matches: Option<&ArgMatches>,
) -> Result<(), CliError> {
    let unset = |id: &str| mcp_config::unset(matches, id);
    macro_rules! take {
        ($($key:ident => $field:expr),* $(,)?) => {
            $(if let Some(v) = &file.$key && unset(stringify!($key)) {
                $field = v.clone();
            })*
        };
    }
    take! {
        max_cost => args.spend.max_cost,
        max_fee => args.spend.max_fee,
        pay_timeout => args.spend.pay_timeout,
        allow_hosts => args.allow_hosts,
        deny_hosts => args.deny_hosts,
        allow_private => args.allow_private,
        max_inline_bytes => args.max_inline_bytes,
        max_download_bytes => args.max_download_bytes,
        timeout => args.timeout,
    }
    if let Some(b) = file.budget
        && unset("budget")
    {
        args.spend.budget = Some(b);
    }
    if let Some(w) = &file.budget_window
        && unset("budget_window")
    {
        args.spend.budget_window = Some(mcp_config::window(w)?);
    }
    if let Some(n) = &file.network
        && unset("network")
    {
        args.spend.network = mcp_config::network(n)?;
    }
    if let Some(p) = &file.prefer_scheme
        && unset("prefer_scheme")
    {
        args.spend.prefer_scheme = mcp_config::prefer_scheme(p)?;
    }
    if args.spend.budget_window.is_some() && args.spend.budget.is_none() {
        return Err(CliError::config(
            "a budget window needs a budget (--budget or `budget` in the config file)",
        ));
    }
    Ok(())
}

async fn serve_stdio(server: L402Mcp) -> CmdResult {
    let running = server
        .serve(l402_mcp::rmcp::transport::stdio())
        .await
        .map_err(|e| CliError::failure(format!("mcp: {}", chain(&e))))?;
    running
        .waiting()
        .await
        .map_err(|e| CliError::failure(format!("mcp: {}", chain(&e))))?;
    Ok(exit::OK)
}

async fn serve_http(server: L402Mcp, addr: SocketAddr, secret: Zeroizing<String>) -> CmdResult {
    let mut hosts = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    hosts.push(addr.ip().to_string());
    let config = StreamableHttpServerConfig::default().with_allowed_hosts(hosts);
    let service = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let secret = Arc::new(secret);
    let app = axum::Router::new()
        .nest_service("/mcp", service)
        .layer(axum::middleware::from_fn(
            move |req: Request, next: Next| {
                let secret = Arc::clone(&secret);
                async move { require_bearer(&secret, req, next).await }
            },
        ));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| CliError::config(format!("cannot listen on {addr}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| CliError::failure(e.to_string()))?;
    eprintln!("l402 mcp: streamable HTTP on http://{local}/mcp (bearer secret required)");
    axum::serve(listener, app)
        .with_graceful_shutdown(crate::shutdown::signal())
        .await
        .map_err(|e| CliError::failure(format!("mcp http server: {e}")))?;
    Ok(exit::OK)
}

/// Whether `header` is `Bearer <secret>`, compared in constant time.
fn bearer_matches(secret: &str, header: Option<&[u8]>) -> bool {
    let Some(value) = header else { return false };
    let Some(token) = value
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case(b"bearer "))
        .and_then(|_| value.get(7..))
    else {
        return false;
    };
    bool::from(token.ct_eq(secret.as_bytes()))
}

async fn require_bearer(secret: &str, req: Request, next: Next) -> Response {
    let header = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .map(http::HeaderValue::as_bytes);
    if bearer_matches(secret, header) {
        return next.run(req).await;
    }
    (
        http::StatusCode::UNAUTHORIZED,
        [(http::header::WWW_AUTHENTICATE, "Bearer")],
        "a bearer secret is required\n",
    )
        .into_response()
}

/// The bearer secret: from the file, else the environment; trimmed; at least
/// [`MIN_SECRET_LEN`] characters.
fn read_secret(file: Option<&std::path::Path>) -> Result<Zeroizing<String>, CliError> {
    let secret = match file {
        Some(path) => {
            let meta = std::fs::metadata(path)
                .map_err(|e| CliError::config(format!("cannot read {}: {e}", path.display())))?;
            if meta.len() > MAX_SECRET_LEN {
                return Err(CliError::config(format!(
                    "the bearer secret file {} is larger than {MAX_SECRET_LEN} bytes",
                    path.display()
                )));
            }
            let bytes =
                Zeroizing::new(std::fs::read(path).map_err(|e| {
                    CliError::config(format!("cannot read {}: {e}", path.display()))
                })?);
            Zeroizing::new(
                std::str::from_utf8(&bytes)
                    .map_err(|_| CliError::config("the bearer secret file is not utf-8"))?
                    .trim()
                    .to_owned(),
            )
        }
        None => match std::env::var(SECRET_ENV) {
            Ok(v) => Zeroizing::new(v.trim().to_owned()),
            Err(_) => {
                return Err(CliError::config(format!(
                    "--http needs a bearer secret: --bearer-secret-file FILE \
                     (L402_MCP_BEARER_SECRET_FILE) or {SECRET_ENV}"
                )));
            }
        },
    };
    if secret.chars().count() < MIN_SECRET_LEN {
        return Err(CliError::config(format!(
            "the bearer secret must be at least {MIN_SECRET_LEN} characters"
        )));
    }
    if secret.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(CliError::config(
            "the bearer secret must not hold spaces or control characters",
        ));
    }
    Ok(secret)
}

/// Warns when the paying credential is an admin one: an agent's server should hold one
/// that can only pay (`l402 node bake --role pay`, or `l402 node inspect FILE` to see).
fn warn_if_admin(settings: &NodeSettings) {
    let (file, kind) = match settings.kind {
        BackendKind::Lnd => (&settings.macaroon_file, crate::credential::Kind::Lnd),
        BackendKind::Cln => (&settings.rune_file, crate::credential::Kind::Cln),
    };
    let Some(file) = file else { return };
    if let Ok(cred) = crate::credential::read(file, Some(kind))
        && cred.is_admin()
    {
        let extra = cred.excess(CredentialRole::Payment);
        tracing::warn!(
            file = %file.display(),
            extra = %extra,
            "the node credential is an admin one; an agent's server should hold a pay-only \
             credential (`l402 node inspect FILE` shows what one allows)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_compare() {
        let s = "0123456789abcdef";
        assert!(bearer_matches(s, Some(b"Bearer 0123456789abcdef")));
        assert!(bearer_matches(s, Some(b"bearer 0123456789abcdef")));
        assert!(!bearer_matches(s, Some(b"Bearer 0123456789abcdeg")));
        assert!(!bearer_matches(s, Some(b"Bearer 0123456789abcde")));
        assert!(!bearer_matches(s, Some(b"Basic 0123456789abcdef")));
        assert!(!bearer_matches(s, Some(b"Bearer")));
        assert!(!bearer_matches(s, None));
    }

    #[test]
    fn short_secrets_are_refused() {
        let dir = std::env::temp_dir().join(format!("l402-mcp-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_default();
        let file = dir.join("secret");
        std::fs::write(&file, "short\n").unwrap_or_default();
        assert!(read_secret(Some(&file)).is_err());
        std::fs::write(&file, "a-long-enough-secret\n").unwrap_or_default();
        assert_eq!(
            read_secret(Some(&file))
                .map(|s| s.as_str().to_owned())
                .ok()
                .as_deref(),
            Some("a-long-enough-secret")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
