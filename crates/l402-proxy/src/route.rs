//! Matching requests to services by host and path prefix, on the canonical target.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{Request, Response, StatusCode};
use regex::Regex;
use tower::ServiceExt;
use tower::util::BoxCloneSyncService;

use crate::target::{Authority, Target, TargetError};

/// A boxed per-service pipeline (paywall, then forwarding).
pub(crate) type Pipeline = BoxCloneSyncService<Request<Body>, Response<Body>, Infallible>;

/// What a service matches: a host and a path, each a literal (prefix) or a regular
/// expression.
#[derive(Debug, Clone)]
pub(crate) struct Matcher {
    host: HostMatch,
    path: PathMatch,
}

#[derive(Debug, Clone)]
enum HostMatch {
    Any,
    /// Lower case.
    Exact(String),
    /// `*.suffix`: the suffix, lower case.
    Subdomains(String),
    /// Tested against `host[:port]`.
    Regex(Regex),
}

#[derive(Debug, Clone)]
enum PathMatch {
    Any,
    /// Without a trailing `/`; empty matches everything.
    Prefix(String),
    Regex(Regex),
}

impl Matcher {
    /// Literal host and path prefix (or none).
    pub(crate) fn new(host: Option<&str>, path: Option<&str>) -> Self {
        let host = match host.map(str::to_ascii_lowercase) {
            None => HostMatch::Any,
            Some(h) => match h.strip_prefix("*.") {
                Some(suffix) => HostMatch::Subdomains(suffix.to_owned()),
                None => HostMatch::Exact(h),
            },
        };
        let path = match path {
            None => PathMatch::Any,
            Some(p) => PathMatch::Prefix(p.trim_end_matches('/').to_owned()),
        };
        Matcher { host, path }
    }

    /// With a host regular expression instead of a literal host.
    pub(crate) fn host_regex(mut self, re: Regex) -> Self {
        self.host = HostMatch::Regex(re);
        self
    }

    /// With a path regular expression instead of a literal prefix.
    pub(crate) fn path_regex(mut self, re: Regex) -> Self {
        self.path = PathMatch::Regex(re);
        self
    }

    /// Whether a request for `authority` and canonical `path` matches.
    pub(crate) fn matches(&self, authority: Option<&Authority>, path: &str) -> bool {
        let host_ok = match (&self.host, authority) {
            (HostMatch::Any, _) => true,
            // Aperture tests its expression against the `Host` header, port included;
            // here, against the canonical authority (none: the empty string).
            (HostMatch::Regex(re), a) => {
                re.is_match(&a.map(Authority::header_value).unwrap_or_default())
            }
            (_, None) => false,
            (HostMatch::Exact(want), Some(a)) => want == a.host(),
            (HostMatch::Subdomains(suffix), Some(a)) => a
                .host()
                .strip_suffix(suffix.as_str())
                .is_some_and(|rest| rest.ends_with('.') && rest.len() > 1),
        };
        host_ok && self.path_matches(path)
    }

    fn path_matches(&self, path: &str) -> bool {
        match &self.path {
            PathMatch::Any => true,
            PathMatch::Prefix(prefix) => prefix_rest(prefix, path).is_some(),
            PathMatch::Regex(re) => re.is_match(path),
        }
    }
}

/// What follows `prefix` in `path` when `path` is `prefix` or below it (at a segment
/// boundary): empty or starting with `/`.
fn prefix_rest<'a>(prefix: &str, path: &'a str) -> Option<&'a str> {
    path.strip_prefix(prefix)
        .filter(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// A prefix rewrite: a path under `from` is sent as the same path under `to`.
#[derive(Debug, Clone)]
pub(crate) struct Rewrite {
    /// Without a trailing `/`.
    from: String,
    /// Without a trailing `/`.
    to: String,
}

impl Rewrite {
    pub(crate) fn new(from: &str, to: &str) -> Self {
        Rewrite {
            from: from.trim_end_matches('/').to_owned(),
            to: to.trim_end_matches('/').to_owned(),
        }
    }

    /// `path` rewritten; `None` if it is not under the prefix (it always is when the
    /// service matched it) or would not stay canonical.
    fn apply(&self, path: &str) -> Option<String> {
        let rest = prefix_rest(&self.from, path)?;
        let mut out = format!("{}{rest}", self.to);
        if out.is_empty() {
            out.push('/');
        }
        // Both parts are canonical, so is the whole; checked anyway, cheaply.
        (crate::target::canonical_path(&out).ok()? == out).then_some(out)
    }
}

/// One configured service.
pub(crate) struct Entry {
    pub(crate) name: String,
    pub(crate) matcher: Matcher,
    /// The paywall, then the forwarder.
    pub(crate) service: Pipeline,
    /// Paths served without payment, and the forwarder alone that serves them.
    pub(crate) whitelist: Vec<Regex>,
    pub(crate) open: Option<Pipeline>,
    pub(crate) rewrite: Option<Rewrite>,
    /// Its request series, when the metrics are on.
    pub(crate) series: crate::metrics::Series,
}

/// The services, in configuration order, and what the listener tells about each request.
pub(crate) struct Table {
    entries: Arc<Vec<Entry>>,
    proto: Proto,
    /// Request paths go in the access log (`[metrics] log_paths`).
    pub(crate) log_paths: bool,
    /// Requests are counted and timed through the `metrics` facade.
    pub(crate) metrics: bool,
    /// The request series of requests no service matched.
    unmatched: crate::metrics::Series,
}

/// The client's address, put in the request's extensions by the listener (sent upstream
/// as `X-Forwarded-For`). axum's `ConnectInfo<SocketAddr>` is read too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// The scheme clients used to reach the proxy, from the listener (sent upstream as
/// `X-Forwarded-Proto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Proto {
    /// Plain HTTP (HTTP/1.1 or h2c).
    Http,
    /// HTTP over TLS (HTTP/1.1 or h2).
    Https,
}

impl Proto {
    /// The scheme's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Http => "http",
            Proto::Https => "https",
        }
    }
}

/// The client's address: the [`ClientAddr`] extension, else axum's `ConnectInfo`.
pub(crate) fn client_addr(extensions: &http::Extensions) -> Option<SocketAddr> {
    extensions
        .get::<ClientAddr>()
        .map(|c| c.0)
        .or_else(|| extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0))
}

/// What routing decided, in the request's extensions for the paywall and the forwarder:
/// the canonical target and the client's connection.
#[derive(Debug, Clone)]
pub(crate) struct Routed {
    /// The canonical target; its path is the one routed and priced.
    pub(crate) target: Target,
    /// The service's rewrite of the path, if it rewrites (see [`Routed::upstream_path`]).
    pub(crate) rewritten: Option<String>,
    /// The client's address, if the listener knows it.
    pub(crate) peer: Option<SocketAddr>,
    /// The listener's scheme.
    pub(crate) proto: Proto,
}

impl Routed {
    /// The path forwarded (under the upstream's base path): the target's, or the
    /// service's rewrite of it.
    pub(crate) fn upstream_path(&self) -> &str {
        self.rewritten.as_deref().unwrap_or(&self.target.path)
    }
}

impl Table {
    pub(crate) fn new(entries: Vec<Entry>, proto: Proto) -> Self {
        Table {
            entries: Arc::new(entries),
            proto,
            log_paths: true,
            metrics: false,
            unmatched: crate::metrics::Series::default(),
        }
    }

    /// The number of services.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Dispatches `req` to the first matching entry, logging it.
    pub(crate) async fn serve(&self, mut req: Request<Body>) -> Response<Body> {
        // The access log and the metrics cost nothing (not even the clock) when off.
        let logged = tracing::enabled!(target: crate::metrics::ACCESS_LOG, tracing::Level::INFO);
        let start = (logged || self.metrics).then(Instant::now);
        let method = req.method().clone();
        // One canonical target, decided before routing; nothing after this looks at the
        // raw target again.
        let target = Target::of(&req).and_then(|t| Ok((t.origin_form()?, t)));
        let (uri, target) = match target {
            Ok(found) => found,
            Err(e) => {
                // Escaped (Debug) and cut short: the raw target is hostile input.
                let raw: String = req.uri().to_string().chars().take(256).collect();
                tracing::info!(
                    service = "-",
                    %method,
                    target = ?raw,
                    status = 400,
                    reason = %e,
                    "request target refused"
                );
                return bad_request(&e);
            }
        };
        *req.uri_mut() = uri;
        let found = self
            .entries
            .iter()
            .find(|e| e.matcher.matches(target.authority.as_ref(), &target.path));
        // Kept for the access log only.
        let path = (logged && self.log_paths).then(|| target.path.clone());
        let peer = client_addr(req.extensions());
        let rewritten = match found.and_then(|e| e.rewrite.as_ref()) {
            None => None,
            Some(rewrite) => match rewrite.apply(&target.path) {
                Some(path) => Some(path),
                None => return bad_request(&TargetError::Unrepresentable),
            },
        };
        let whitelisted = found.is_some_and(|e| {
            !e.whitelist.is_empty() && e.whitelist.iter().any(|re| re.is_match(&target.path))
        });
        req.extensions_mut().insert(Routed {
            target,
            rewritten,
            peer,
            proto: self.proto,
        });
        let (name, series, response) = match found {
            Some(entry) => {
                let pipeline = match (&entry.open, whitelisted) {
                    (Some(open), true) => open,
                    _ => &entry.service,
                };
                let response = match pipeline.clone().oneshot(req).await {
                    Ok(r) => r,
                    Err(never) => match never {},
                };
                (entry.name.as_str(), &entry.series, response)
            }
            None => (
                "-",
                &self.unmatched,
                Response::builder()
                    .status(StatusCode::NOT_FOUND)
                    .body(Body::from("no service matches this request\n"))
                    .unwrap_or_default(),
            ),
        };
        if let Some(start) = start {
            crate::metrics::request_done(
                self.metrics.then_some(series),
                name,
                &method,
                path.as_deref(),
                response.status().as_u16(),
                response
                    .extensions()
                    .get::<crate::metrics::Paid>()
                    .is_some(),
                start.elapsed(),
            );
        }
        response
    }
}

fn bad_request(e: &TargetError) -> Response<Body> {
    Response::builder()
        .status(StatusCode::BAD_REQUEST)
        .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::from(format!("bad request target: {e}\n")))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(h: &str) -> Option<Authority> {
        Some(Authority::parse(h).unwrap())
    }

    #[test]
    fn matching() {
        let m = Matcher::new(Some("API.example.com"), Some("/v1/"));
        assert!(m.matches(host("api.example.com").as_ref(), "/v1"));
        assert!(m.matches(host("api.example.com:8080").as_ref(), "/v1/x"));
        assert!(!m.matches(host("api.example.com").as_ref(), "/v10"));
        assert!(!m.matches(host("other.com").as_ref(), "/v1"));
        assert!(!m.matches(None, "/v1"));
        let w = Matcher::new(Some("*.example.com"), None);
        assert!(w.matches(host("a.example.com").as_ref(), "/"));
        assert!(!w.matches(host("example.com").as_ref(), "/"));
        assert!(!w.matches(host("aexample.com").as_ref(), "/"));
        assert!(Matcher::new(None, Some("/")).matches(None, "/anything"));
    }

    #[test]
    fn regex_matching_is_unanchored_like_aperture() {
        let re = |s: &str| crate::config::compile_regex(s).unwrap();
        let m = Matcher::new(None, None).host_regex(re("^api\\.example\\.com(:\\d+)?$"));
        assert!(m.matches(host("API.example.com:8443").as_ref(), "/"));
        assert!(!m.matches(host("api.example.com.evil.test").as_ref(), "/"));
        // Unanchored: a fragment matches anywhere (Aperture's MatchString).
        let m = Matcher::new(None, None).path_regex(re("/v[0-9]+/"));
        assert!(m.matches(None, "/api/v2/x"));
        assert!(!m.matches(None, "/api/vx/x"));
        // No authority: the host expression sees the empty string.
        let m = Matcher::new(None, None).host_regex(re("example"));
        assert!(!m.matches(None, "/"));
    }

    #[test]
    fn prefix_rewrites() {
        let r = Rewrite::new("/weather/", "/v2");
        assert_eq!(r.apply("/weather").as_deref(), Some("/v2"));
        assert_eq!(r.apply("/weather/").as_deref(), Some("/v2/"));
        assert_eq!(r.apply("/weather/today").as_deref(), Some("/v2/today"));
        assert_eq!(r.apply("/weatherx"), None);
        let r = Rewrite::new("/weather", "/");
        assert_eq!(r.apply("/weather").as_deref(), Some("/"));
        assert_eq!(r.apply("/weather/a").as_deref(), Some("/a"));
    }
}
