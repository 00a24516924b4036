//! Operations: the proxy's metrics (through the `metrics` facade, exported for
//! Prometheus by [`serve_prometheus`]) and its structured access log.
//!
//! Every paywall reports through [`l402_tower::MetricsObserver`] (challenges,
//! verification reasons, payments and revenue, node and store calls, rate-limit
//! decisions); the proxy adds, per service:
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `l402_proxy_requests_total` | counter | `service`, `status` (the code answered), `paid` (`true`, `false`) |
//! | `l402_proxy_request_duration_seconds` | histogram | `service`, `paid` |
//! | `l402_proxy_upstream_responses_total` | counter | `service`, `status` (the upstream's code, or 502 / 504 when it failed) |
//! | `l402_proxy_upstream_duration_seconds` | histogram | `service` (until the upstream's response headers) |
//!
//! `service` is a configured service name (`-` for requests no service matched); no
//! label holds a path, a client address or a token id.
//!
//! Nothing is recorded unless the configuration has `[metrics]` (or the embedder calls
//! [`ProxyBuilder::metrics`](crate::ProxyBuilder::metrics)); each series' handle is
//! registered on first use and kept.
//!
//! The exporter is `metrics-exporter-prometheus`: the `metrics` facade is what
//! `l402-tower`'s observer already speaks, so one recorder serves both, and the exporter
//! brings its own small HTTP listener on a separate address (`[metrics] listen`), away
//! from the proxied traffic.
//!
//! The access log is one `tracing` event per request at `info`, target
//! `l402_proxy::access`: `service`, `method`, `path` (the canonical routed path, never
//! the query; left out with `[metrics] log_paths = false`), `status`, `paid`,
//! `latency_ms`. Token ids are never logged: an upstream receives them in
//! `X-L402-Token-Id` and can log them itself.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use http::{Request, Response};
use l402_tower::Receipt;
use serde::Deserialize;

/// Histogram buckets (seconds) for request and upstream latencies: 1 ms to 30 s.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// `[metrics]`: where the Prometheus endpoint listens, and what the access log holds.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct MetricsConfig {
    /// Address of the Prometheus text endpoint (any path answers), e.g. `127.0.0.1:9090`.
    /// Keep it off the public interface.
    pub listen: SocketAddr,
    /// Log request paths in the access log (default true; false for paths that may
    /// carry personal data).
    #[serde(default = "yes")]
    pub log_paths: bool,
}

fn yes() -> bool {
    true
}

/// The exporter could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the metrics exporter")]
pub struct ExporterError(#[source] metrics_exporter_prometheus::BuildError);

/// Installs the global Prometheus recorder and serves it on `listen`, on the current
/// Tokio runtime. Call once per process.
///
/// # Errors
/// The address cannot be bound, or a recorder is already installed.
pub fn serve_prometheus(listen: SocketAddr) -> Result<(), ExporterError> {
    prometheus_builder(listen).install().map_err(ExporterError)
}

/// The exporter's builder, with the proxy's histogram buckets: for an application that
/// installs the recorder its own way (tests use
/// [`build`](metrics_exporter_prometheus::PrometheusBuilder::build) with a local
/// recorder).
pub fn prometheus_builder(listen: SocketAddr) -> metrics_exporter_prometheus::PrometheusBuilder {
    let builder = metrics_exporter_prometheus::PrometheusBuilder::new().with_http_listener(listen);
    builder.set_buckets(&LATENCY_BUCKETS).unwrap_or_else(|_| {
        // Only an empty bucket list is refused; ours is not.
        metrics_exporter_prometheus::PrometheusBuilder::new().with_http_listener(listen)
    })
}

/// The access log's `tracing` target.
pub(crate) const ACCESS_LOG: &str = "l402_proxy::access";

/// Marks a response as the answer to a paid request (set by [`Observed`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Paid;

/// The handles of one service's series (a status counter and a duration histogram, each
/// split by a flag), registered with the recorder on first use and kept: an event then
/// costs an atomic add, not a registration (building the key, copying its labels,
/// searching the registry).
#[derive(Debug, Default)]
pub(crate) struct Series {
    /// At most one per status label (500 and `other`) and flag.
    counters: RwLock<Vec<(u16, bool, metrics::Counter)>>,
    durations: [OnceLock<metrics::Histogram>; 2],
}

impl Series {
    fn counter(
        &self,
        status: u16,
        flag: bool,
        register: impl FnOnce() -> metrics::Counter,
    ) -> metrics::Counter {
        // Every status outside 100-599 shares the `other` series.
        let status = if (100..600).contains(&status) {
            status
        } else {
            0
        };
        let found = self
            .counters
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|(s, f, _)| *s == status && *f == flag)
            .map(|(_, _, c)| c.clone());
        found.unwrap_or_else(|| {
            let counter = register();
            self.counters
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .push((status, flag, counter.clone()));
            counter
        })
    }

    fn histogram(
        &self,
        flag: bool,
        register: impl FnOnce() -> metrics::Histogram,
    ) -> metrics::Histogram {
        self.durations[usize::from(flag)]
            .get_or_init(register)
            .clone()
    }
}

/// Records one finished request: the metrics (in `series`, when on) and the access-log
/// line.
#[allow(clippy::too_many_arguments)]
pub(crate) fn request_done(
    series: Option<&Series>,
    service: &str,
    method: &http::Method,
    path: Option<&str>,
    status: u16,
    paid: bool,
    latency: Duration,
) {
    if let Some(series) = series {
        let paid_label = if paid { "true" } else { "false" };
        series
            .counter(status, paid, || {
                metrics::counter!(
                    "l402_proxy_requests_total",
                    "service" => service.to_owned(),
                    "status" => status_label(status),
                    "paid" => paid_label,
                )
            })
            .increment(1);
        series
            .histogram(paid, || {
                metrics::histogram!(
                    "l402_proxy_request_duration_seconds",
                    "service" => service.to_owned(),
                    "paid" => paid_label,
                )
            })
            .record(latency.as_secs_f64());
    }
    let latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
    match path {
        Some(path) => tracing::info!(
            target: ACCESS_LOG,
            service,
            %method,
            path,
            status,
            paid,
            latency_ms,
            "request"
        ),
        None => tracing::info!(
            target: ACCESS_LOG,
            service,
            %method,
            status,
            paid,
            latency_ms,
            "request"
        ),
    }
}

/// A status code as a label: one of at most 500 values.
fn status_label(status: u16) -> String {
    if (100..600).contains(&status) {
        status.to_string()
    } else {
        "other".to_owned()
    }
}

/// Wraps a service's forwarder: times the upstream and counts its status (when
/// `metrics`), and marks the responses of paid requests (for the access log and the
/// request metrics).
#[derive(Clone)]
pub(crate) struct Observed<S> {
    inner: S,
    service: Arc<str>,
    /// The upstream series, when the metrics are on.
    series: Option<Arc<Series>>,
}

impl<S> Observed<S> {
    pub(crate) fn new(inner: S, service: &str, metrics: bool) -> Self {
        Observed {
            inner,
            service: service.into(),
            series: metrics.then(Arc::default),
        }
    }
}

impl<S> tower::Service<Request<Body>> for Observed<S>
where
    S: tower::Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let series = self.series.clone();
        let paid = req.extensions().get::<Receipt>().is_some()
            && (series.is_some() || tracing::enabled!(target: ACCESS_LOG, tracing::Level::INFO));
        let service = Arc::clone(&self.service);
        let future = self.inner.call(req);
        Box::pin(async move {
            let Some(series) = series else {
                let mut response = future.await?;
                if paid {
                    response.extensions_mut().insert(Paid);
                }
                return Ok(response);
            };
            let start = Instant::now();
            let mut response = future.await?;
            let latency = start.elapsed();
            let status = response.status().as_u16();
            series
                .counter(status, false, || {
                    metrics::counter!(
                        "l402_proxy_upstream_responses_total",
                        "service" => service.to_string(),
                        "status" => status_label(status),
                    )
                })
                .increment(1);
            series
                .histogram(false, || {
                    metrics::histogram!(
                        "l402_proxy_upstream_duration_seconds",
                        "service" => service.to_string(),
                    )
                })
                .record(latency.as_secs_f64());
            if paid {
                response.extensions_mut().insert(Paid);
            }
            Ok(response)
        })
    }
}
