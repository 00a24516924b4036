//! `l402 proxy`: the `l402-proxy` crate behind a listener, configured from a TOML file.

use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use clap::Args;
use l402_core::DerivedRootKeyStore;
use l402_core::payment_scheme::ChallengeIdSecret;
use l402_proxy::revocation::Revocations;
use l402_proxy::{Proto, Proxy, RevocationConfig, SharedState};

use crate::config::{DEFAULT_MASTER_SECRET_ENV, ProxyConfig};
use crate::exit::{CliError, CmdResult, OK};
use crate::keys;
use crate::listener;
use crate::logging::{self, LogArgs};
use crate::shutdown;
use crate::tls::CertStore;

/// Run an Aperture-style reverse proxy that sells access to upstream services.
///
/// Each request target is first put in one canonical form; a target with dot segments
/// (plain or percent-encoded), an encoded `/` or `\`, a backslash, a NUL, a `;`, an empty
/// segment, double encoding, or a `Host` that disagrees with the target's authority is
/// refused with 400. The canonical request is matched against the configured services
/// (host and path, each literal or a regular expression; first match wins; no match: 404)
/// and exactly that path (or its `path_rewrite`) is forwarded, under the upstream's base
/// path, over HTTP/1.1 or HTTP/2 (`upstream_protocol`; gRPC and WebSocket upgrades work). A priced service answers unpaid requests with 402
/// and an L402 challenge (an invoice from the node in the `[backend]` table and a token whose root key
/// is derived from the master secret in `[root_keys]`); a request with a valid token is
/// forwarded upstream, bodies streamed both ways, with `Authorization` removed and the
/// receipt added as `X-L402-Token-Id`, `X-L402-Service` (and `X-L402-Capabilities`), and
/// `X-Forwarded-For` (the client's address), `X-Forwarded-Host` and `X-Forwarded-Proto`
/// set by the proxy (what the client sent under those names is dropped unless
/// `trust_forwarded_headers`).
/// An unreachable upstream gives 502, one that sends no response headers within
/// `upstream_timeout_secs` (default 30) gives 504. Tokens can be revoked without a
/// restart through `[revocation]` (a file of token ids, or Redis). A service with
/// `auth_scheme = "payment"` offers the `Payment` scheme (charge intent) instead of L402,
/// `"l402+payment"` both in one 402; each charge credential is accepted once (consumed in
/// memory, or in Redis with `[redis]` or when `[revocation]` uses Redis), its challenge
/// id derived from the master secret. `[services.rate_limit]` answers 429 with
/// `Retry-After` past a token's or a client network's bucket (no invoice is created);
/// `[blocklist]` refuses listed networks with 403, its file re-read when it changes and
/// on SIGHUP; `[redis]` shares freebies, charges, buckets and revocations across a fleet. Serves HTTP/1.1 and HTTP/2 over cleartext (h2c), or with `[tls]` HTTPS
/// (h2 or HTTP/1.1 by ALPN), its certificate re-read when the files change (new
/// connections get the new one, open ones keep theirs; a bad one is logged and the old one
/// kept); stops gracefully on Ctrl-C or SIGTERM, finishing the requests in flight.
///
/// On SIGHUP the configuration file is read again, checked in full and swapped in as a
/// whole: new requests use it, requests in flight finish on the old one, tokens and
/// Payment challenges issued before stay valid (the root keys, revocations and charges
/// outlive reloads). A file that does not check is refused with a logged error and the
/// running configuration keeps serving; `listen`, `[tls]`, `[root_keys]`,
/// `[revocation]`, `[redis]`, `[blocklist]` and `[admin]` need a restart. With `[admin]`, an
/// admin API (`l402 admin`) listens on its own address: live services, revocations, recent
/// sales and revenue, which outlive reloads. `--check FILE` validates a file without starting.
///
/// The configuration file format is documented in crates/l402-cli/examples/proxy.toml.
#[derive(Debug, Args)]
#[command(after_help = "\
Example:
  l402 proxy --config crates/l402-cli/examples/proxy.toml --log-format json
  l402 proxy --check crates/l402-cli/examples/proxy.toml
  kill -HUP $(pidof l402)        # reload the configuration

Exit codes: 0 stopped by a signal (or --check: the configuration is good), 1 server
failure, 2 configuration error.")]
pub(crate) struct ProxyArgs {
    /// The TOML configuration file; re-read on SIGHUP.
    #[arg(long, value_name = "FILE", env = "L402_PROXY_CONFIG")]
    config: Option<PathBuf>,
    /// Check the configuration (files, keys, certificates, node settings) and exit: 0 if
    /// it would start, 2 with the reason if not. Takes the file, or checks `--config`.
    #[arg(long, value_name = "FILE", num_args = 0..=1)]
    check: Option<Option<PathBuf>>,
    /// Run (or `--check`, or `--print-config`) an Aperture YAML configuration instead:
    /// its services and LND settings; a key this proxy does not support is named in an
    /// error (exit 2). Re-read on SIGHUP.
    #[arg(long, value_name = "FILE", conflicts_with = "config")]
    aperture_config: Option<PathBuf>,
    /// With `--aperture-config`: print the equivalent TOML configuration and exit.
    #[arg(long, requires = "aperture_config")]
    print_config: bool,
    /// With `--aperture-config`: LND's REST URL (Aperture's `lndhost` is LND's gRPC
    /// address; by default its port 10009 becomes REST's 8080).
    #[arg(long, value_name = "URL", requires = "aperture_config")]
    lnd_rest_url: Option<String>,
    #[command(flatten)]
    log: LogArgs,
}

pub(crate) async fn run(args: ProxyArgs) -> CmdResult {
    logging::init(&args.log);
    let source = match (&args.check, &args.config, &args.aperture_config) {
        (Some(Some(_)), Some(_), _) | (Some(Some(_)), _, Some(_)) => {
            return Err(CliError::config(
                "give the file to --check, --config or --aperture-config, only once",
            ));
        }
        (Some(Some(file)), None, None) | (_, Some(file), None) => Source::Toml(file.clone()),
        (_, None, Some(file)) => Source::Aperture(file.clone(), args.lnd_rest_url.clone()),
        (_, None, None) => return Err(CliError::config("give --config FILE")),
        (_, Some(_), Some(_)) => {
            return Err(CliError::config(
                "give --config or --aperture-config, not both",
            ));
        }
    };
    if args.print_config {
        let (_, toml) = source.load_with_text()?;
        crate::output::print_line(toml.trim_end())?;
        return Ok(OK);
    }
    let path = source.path().to_owned();
    let config = source.load()?;
    let state = State::new(&config)?;
    let proxy = state.build(&config)?;
    let certs = match &config.tls {
        Some(tls) => Some(
            CertStore::load(tls.cert_file.clone(), tls.key_file.clone())
                .map_err(|e| CliError::config(format!("[tls]: {}", crate::exit::chain(&e))))?,
        ),
        None => None,
    };
    let acceptor = match &certs {
        Some(certs) => {
            let server = certs
                .server_config()
                .map_err(|e| CliError::config(format!("[tls]: {e}")))?;
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(server)))
        }
        None => None,
    };
    let admin_secret = match &config.proxy.admin {
        Some(admin) => Some(
            l402_proxy::admin::BearerSecret::from_file(&admin.bearer_secret_file)
                .map_err(|e| CliError::config(format!("[admin]: {}", crate::exit::chain(&e))))?,
        ),
        None => None,
    };
    if args.check.is_some() {
        crate::output::print_line(&format!(
            "{}: ok, {} services",
            path.display(),
            proxy.services()
        ))?;
        return Ok(OK);
    }
    // Before the port opens: a SIGTERM as soon as it accepts is a graceful stop, and
    // SIGHUP reloads instead of ending the process.
    let stop = shutdown::signal();
    #[cfg(unix)]
    let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .map_err(|e| CliError::failure(format!("cannot handle SIGHUP: {e}")))?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| CliError::config(format!("cannot listen on {}: {e}", config.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::failure(format!("no local address: {e}")))?;
    if let (Some(certs), Some(tls)) = (&certs, &config.tls) {
        tokio::spawn(Arc::clone(certs).watch(tls.reload_interval()));
    }
    let admin = match (&config.proxy.admin, admin_secret) {
        (Some(admin), Some(secret)) => {
            let tcp = tokio::net::TcpListener::bind(admin.listen)
                .await
                .map_err(|e| {
                    CliError::config(format!("[admin]: cannot listen on {}: {e}", admin.listen))
                })?;
            Some((secret, tcp))
        }
        _ => None,
    };
    if let Some(metrics) = &config.proxy.metrics {
        l402_proxy::metrics::serve_prometheus(metrics.listen)
            .map_err(|e| CliError::config(format!("[metrics]: {}", l402_core::ErrorChain(&e))))?;
        tracing::info!(listen = %metrics.listen, "prometheus metrics listening");
    }
    let scheme = if certs.is_some() { "https" } else { "http" };
    tracing::info!(%addr, scheme, services = proxy.services(), "l402 proxy listening");
    let current: listener::Current = Arc::new(ArcSwap::from_pointee(proxy));
    if let Some((secret, tcp)) = admin {
        let live = Arc::clone(&current);
        let service = l402_proxy::admin::Admin::builder(
            secret,
            Arc::new(move || Proxy::clone(&live.load())),
            Arc::clone(&state.sales),
        )
        .revocations(Arc::clone(&state.revocations))
        .backend(match config.backend.kind {
            crate::backend::BackendKind::Lnd => "lnd",
            crate::backend::BackendKind::Cln => "cln",
        })
        .build();
        if let Ok(addr) = tcp.local_addr() {
            tracing::info!(%addr, "admin api listening");
        }
        tokio::spawn(listener::serve_admin(tcp, service));
    }
    #[cfg(unix)]
    tokio::spawn(
        Reloader {
            source,
            started: config,
            state,
            current: Arc::clone(&current),
            certs,
        }
        .run(hangup),
    );
    listener::serve(listener, acceptor, current, stop).await;
    tracing::info!("l402 proxy stopped");
    Ok(OK)
}

/// Re-reads the configuration on SIGHUP and swaps the proxy it describes in.
#[cfg(unix)]
struct Reloader {
    source: Source,
    /// The configuration the process started with: what a reload cannot change.
    started: ProxyConfig,
    state: State,
    current: listener::Current,
    certs: Option<Arc<CertStore>>,
}

#[cfg(unix)]
impl Reloader {
    async fn run(self, mut hangup: tokio::signal::unix::Signal) {
        let mut last_cert_error = None;
        while hangup.recv().await.is_some() {
            match self.reload() {
                Ok(services) => tracing::info!(
                    config = %self.source.path().display(),
                    services,
                    "configuration reloaded"
                ),
                Err(e) => tracing::error!(
                    config = %self.source.path().display(),
                    error = %e.message,
                    "configuration refused; the previous one keeps serving"
                ),
            }
            if let Some(certs) = &self.certs {
                certs.reload_logged(&mut last_cert_error);
            }
        }
    }

    /// Reads, checks and builds the new configuration in full, then swaps it in; requests
    /// already running finish on the proxy they started with.
    fn reload(&self) -> Result<usize, CliError> {
        // The blocklist file is re-read whether or not the configuration checks.
        self.state.shared.reload_blocklist();
        let config = self.source.load()?;
        let fixed = |what: &str| {
            Err(CliError::config(format!(
                "{what} cannot change while the proxy runs: restart it for that"
            )))
        };
        if config.listen != self.started.listen {
            return fixed("listen");
        }
        if config.tls != self.started.tls {
            return fixed("[tls]");
        }
        if config.root_keys != self.started.root_keys {
            return fixed("[root_keys]");
        }
        if config.proxy.revocation != self.started.proxy.revocation {
            return fixed("[revocation]");
        }
        if config.proxy.redis != self.started.proxy.redis {
            return fixed("[redis]");
        }
        if config.proxy.blocklist != self.started.proxy.blocklist {
            return fixed("[blocklist]");
        }
        if config.proxy.admin != self.started.proxy.admin {
            return fixed("[admin]");
        }
        let proxy = self.state.build(&config)?;
        let services = proxy.services();
        self.current.store(Arc::new(proxy));
        Ok(services)
    }
}

/// Where the configuration comes from.
enum Source {
    /// An `l402 proxy` TOML file.
    Toml(PathBuf),
    /// An Aperture YAML file, and LND's REST URL if given.
    Aperture(PathBuf, Option<String>),
}

impl Source {
    fn path(&self) -> &std::path::Path {
        match self {
            Source::Toml(p) | Source::Aperture(p, _) => p,
        }
    }

    fn load(&self) -> Result<ProxyConfig, CliError> {
        match self {
            Source::Toml(p) => ProxyConfig::load(p),
            Source::Aperture(p, url) => Ok(ProxyConfig::load_aperture(p, url.as_deref())?.0),
        }
    }

    /// The configuration and, for Aperture's, the TOML it converts to.
    fn load_with_text(&self) -> Result<(ProxyConfig, String), CliError> {
        match self {
            Source::Toml(p) => {
                let c = ProxyConfig::load(p)?;
                Ok((c, String::new()))
            }
            Source::Aperture(p, url) => ProxyConfig::load_aperture(p, url.as_deref()),
        }
    }
}

/// What outlives a reload: the root keys (with the revocation list), the Payment
/// scheme's challenge id secret, the proxy's [`SharedState`] (consumed charges, freebies,
/// rate-limit buckets, the blocklist; in Redis with `[redis]`) and the sales the admin API
/// shows. Tokens and challenges issued before a reload stay valid after it, revocations stay
/// in force, and no count starts again.
struct State {
    store: Arc<DerivedRootKeyStore<Arc<Revocations>>>,
    revocations: Arc<Revocations>,
    id_secret: ChallengeIdSecret,
    shared: Arc<SharedState>,
    sales: Arc<l402_proxy::admin::Sales>,
}

impl State {
    fn new(config: &ProxyConfig) -> Result<Self, CliError> {
        let shared = Arc::new(
            SharedState::from_config(&config.proxy).map_err(|e| CliError::config(e.to_string()))?,
        );
        let (store, id_secret) = root_key_store(config, &shared)?;
        let capacity = config
            .proxy
            .admin
            .as_ref()
            .map_or(l402_proxy::admin::DEFAULT_RECENT_TOKENS, |a| {
                a.recent_capacity()
            });
        Ok(State {
            revocations: Arc::clone(store.revocation_list()),
            store: Arc::new(store),
            id_secret,
            shared,
            sales: Arc::new(l402_proxy::admin::Sales::new(capacity)),
        })
    }

    /// A proxy serving `config`'s services with this state.
    fn build(&self, config: &ProxyConfig) -> Result<Proxy, CliError> {
        let backend = config.node().invoice_backend()?;
        let proto = if config.tls.is_some() {
            Proto::Https
        } else {
            Proto::Http
        };
        Proxy::builder(config.proxy.clone(), backend, Arc::clone(&self.store))
            .payment_id_secret(self.id_secret.clone())
            .shared(Arc::clone(&self.shared))
            .sales(Arc::clone(&self.sales))
            .proto(proto)
            .build()
            .map_err(|e| CliError::config(crate::exit::chain(&e)))
    }
}

/// The root key store (derived from the master secret, with the revocation list) and the
/// Payment scheme's challenge id secret, derived from the same secret: challenges survive
/// restarts and verify on every proxy sharing it.
fn root_key_store(
    config: &ProxyConfig,
    shared: &SharedState,
) -> Result<(DerivedRootKeyStore<Arc<Revocations>>, ChallengeIdSecret), CliError> {
    let rk = &config.root_keys;
    let secret = match (&rk.master_secret_file, &rk.master_secret_env) {
        (Some(_), Some(_)) => {
            return Err(CliError::config(
                "[root_keys]: give master_secret_file or master_secret_env, not both",
            ));
        }
        (Some(file), None) => keys::master_secret_from_file(file)?,
        (None, Some(var)) => keys::master_secret_from_env(var)?,
        (None, None) => keys::master_secret_from_env(DEFAULT_MASTER_SECRET_ENV)?,
    };
    let fail_open = matches!(
        config.proxy.revocation,
        Some(RevocationConfig::Redis {
            fail_open: true,
            ..
        })
    );
    let revocations = Arc::new(
        shared
            .revocations(&config.proxy)
            .map_err(|e| CliError::config(e.to_string()))?,
    );
    let id_secret = ChallengeIdSecret::derive_from(&secret);
    let mut store = DerivedRootKeyStore::with_revocation_list(secret, revocations)
        .fail_open_on_revocation_error(fail_open);
    if let Some(prev) = &rk.previous_master_secret_file {
        store = store.with_previous_secret(keys::master_secret_from_file(prev)?);
    }
    Ok((store, id_secret))
}
