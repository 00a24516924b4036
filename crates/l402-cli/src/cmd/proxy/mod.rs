//! `l402 proxy`: an Aperture-style reverse proxy built on `l402-tower`.

mod forward;
mod revocation;
mod route;
pub(crate) mod target;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use l402_core::payment_scheme::{ChallengeIdSecret, DynChargeStore, MemoryChargeStore};
use l402_core::{BoxInvoiceBackend, DerivedRootKeyStore};
use l402_redis::{RedisChargeStore, RedisConnection};
use l402_tower::L402Layer;
use tower::Layer;
use tower::util::BoxCloneSyncService;

use crate::config::{DEFAULT_MASTER_SECRET_ENV, ProxyConfig, RevocationConfig, ServiceConfig};
use crate::exit::{CliError, CmdResult, OK};
use crate::keys;
use crate::logging::{self, LogArgs};
use crate::shutdown;
use forward::Forward;
use revocation::Revocations;
use route::{Entry, Matcher, Proto, Table};

/// Run an Aperture-style reverse proxy that sells access to upstream services.
///
/// Each request target is first put in one canonical form; a target with dot segments
/// (plain or percent-encoded), an encoded `/` or `\`, a backslash, a NUL, a `;`, an empty
/// segment, double encoding, or a `Host` that disagrees with the target's authority is
/// refused with 400. The canonical request is matched against the configured services
/// (host and/or path prefix, first match wins; no match: 404) and exactly that path is
/// forwarded, under the upstream's base path. A priced service answers unpaid requests with 402
/// and an L402 challenge (an invoice from the node in the `[backend]` table and a token whose root key
/// is derived from the master secret in `[root_keys]`); a request with a valid token is
/// forwarded upstream, bodies streamed both ways, with `Authorization` removed and the
/// receipt added as `X-L402-Token-Id`, `X-L402-Service` (and `X-L402-Capabilities`), and
/// `X-Forwarded-For` (the client's address), `X-Forwarded-Host` and `X-Forwarded-Proto`
/// set by the proxy (what the client sent under those names is dropped).
/// An unreachable upstream gives 502, one that sends no response headers within
/// `upstream_timeout_secs` (default 30) gives 504. Tokens can be revoked without a
/// restart through `[revocation]` (a file of token ids, or Redis). A service with
/// `auth_scheme = "payment"` offers the `Payment` scheme (charge intent) instead of L402,
/// `"l402+payment"` both in one 402; each charge credential is accepted once (consumed in
/// memory, or in Redis when `[revocation]` uses Redis), its challenge id derived from the
/// master secret. Serves HTTP/1.1 and HTTP/2 over cleartext (h2c);
/// stops gracefully on Ctrl-C or SIGTERM.
///
/// The configuration file format is documented in crates/l402-cli/examples/proxy.toml.
#[derive(Debug, Args)]
#[command(after_help = "\
Example:
  l402 proxy --config crates/l402-cli/examples/proxy.toml --log-format json

Exit codes: 0 stopped by a signal, 1 server failure, 2 configuration error.")]
pub(crate) struct ProxyArgs {
    /// The TOML configuration file.
    #[arg(long, value_name = "FILE", env = "L402_PROXY_CONFIG")]
    config: PathBuf,
    /// Check the configuration (files, keys, node settings) and exit.
    #[arg(long)]
    check: bool,
    #[command(flatten)]
    log: LogArgs,
}

type Store = Arc<DerivedRootKeyStore<Revocations>>;

pub(crate) async fn run(args: ProxyArgs) -> CmdResult {
    logging::init(&args.log);
    let config = ProxyConfig::load(&args.config)?;
    let backend = config.node().invoice_backend()?;
    let (store, id_secret) = root_key_store(&config)?;
    let store = Arc::new(store);
    let payment = PaymentSettings {
        id_secret,
        charges: charge_store(&config)?,
    };
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("l402-proxy/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| CliError::failure(format!("cannot build the http client: {e}")))?;
    let mut entries = Vec::new();
    for service in &config.services {
        entries.push(entry(
            &config, service, &backend, &store, &payment, &client,
        )?);
    }
    if args.check {
        crate::output::print_line(&format!(
            "{}: ok, {} services",
            args.config.display(),
            entries.len()
        ))?;
        return Ok(OK);
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| CliError::config(format!("cannot listen on {}: {e}", config.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::failure(format!("no local address: {e}")))?;
    // The listener is plain TCP: clients speak `http` (HTTP/1.1 or h2c).
    let table = Table::new(entries, Proto::Http);
    tracing::info!(%addr, services = config.services.len(), "l402 proxy listening");
    let app = axum::Router::new().fallback_service(table.into_service());
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown::signal())
    .await
    .map_err(|e| CliError::failure(format!("proxy server failed: {e}")))?;
    tracing::info!("l402 proxy stopped");
    Ok(OK)
}

/// What every service offering the Payment scheme shares.
struct PaymentSettings {
    /// Derived from the master secret: challenges survive restarts and verify on every
    /// proxy sharing the secret.
    id_secret: ChallengeIdSecret,
    /// Consumed charges: one store for every service (payment hashes are unique), in
    /// Redis when `[revocation]` uses Redis so that a fleet shares it.
    charges: Arc<dyn DynChargeStore>,
}

/// The charge store: Redis (same URL and prefix as `[revocation]`) when the revocation
/// list is in Redis, else in memory.
fn charge_store(config: &ProxyConfig) -> Result<Arc<dyn DynChargeStore>, CliError> {
    match &config.revocation {
        Some(RevocationConfig::Redis { url, prefix, .. }) => {
            let conn = RedisConnection::builder(url.clone())
                .prefix(prefix.clone())
                .build()
                .map_err(|e| {
                    CliError::config(format!("[revocation]: {}", crate::exit::chain(&e)))
                })?;
            Ok(Arc::new(RedisChargeStore::new(conn)))
        }
        _ => Ok(Arc::new(MemoryChargeStore::new())),
    }
}

fn root_key_store(
    config: &ProxyConfig,
) -> Result<(DerivedRootKeyStore<Revocations>, ChallengeIdSecret), CliError> {
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
        config.revocation,
        Some(RevocationConfig::Redis {
            fail_open: true,
            ..
        })
    );
    let revocations = Revocations::from_config(config.revocation.as_ref())?;
    let id_secret = ChallengeIdSecret::derive_from(&secret);
    let mut store = DerivedRootKeyStore::with_revocation_list(secret, revocations)
        .fail_open_on_revocation_error(fail_open);
    if let Some(prev) = &rk.previous_master_secret_file {
        store = store.with_previous_secret(keys::master_secret_from_file(prev)?);
    }
    Ok((store, id_secret))
}

fn entry(
    config: &ProxyConfig,
    service: &ServiceConfig,
    backend: &BoxInvoiceBackend,
    store: &Store,
    payment: &PaymentSettings,
    client: &reqwest::Client,
) -> Result<Entry, CliError> {
    let forward = Forward::new(service, client.clone())?;
    let matcher = Matcher::new(service.host.as_deref(), service.path.as_deref());
    let service_err = |e: &dyn std::error::Error| {
        CliError::config(format!(
            "service {:?}: {}",
            service.name,
            crate::exit::chain(e)
        ))
    };
    let svc = match service.price()? {
        None => BoxCloneSyncService::new(forward.into_service()),
        Some(price) => {
            let mut builder = L402Layer::builder(backend.clone(), Arc::clone(store))
                .service(service.name.clone())
                .price(price);
            if !service.capabilities.is_empty() {
                builder = builder.capabilities(&service.capabilities);
            }
            // Capped by the revocation list's token lifetime when revocations expire.
            if let Some(validity) = config.validity(service) {
                builder = builder.validity(validity);
            }
            if let Some(memo) = &service.memo {
                builder = builder.memo(memo.clone());
            }
            let offers = service.auth_scheme.offers();
            builder = builder.offers(offers);
            if offers.payment() {
                builder = builder
                    .payment_id_secret(payment.id_secret.clone())
                    .charge_store(Arc::clone(&payment.charges));
                if let Some(realm) = &service.payment_realm {
                    builder = builder.payment_realm(realm.clone());
                }
                if let Some(secs) = service.payment_expiry_secs {
                    builder = builder.payment_expiry(Duration::from_secs(secs));
                }
            }
            let layer = builder.build().map_err(|e| service_err(&e))?;
            BoxCloneSyncService::new(layer.layer(forward.into_service()))
        }
    };
    Ok(Entry {
        name: service.name.clone(),
        matcher,
        service: svc,
    })
}
