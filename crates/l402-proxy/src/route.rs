//! Matching requests to services by host and path prefix, on the canonical target.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{Request, Response, StatusCode};
use tower::ServiceExt;
use tower::util::BoxCloneSyncService;

use crate::target::{Authority, Target, TargetError};

/// A boxed per-service pipeline (paywall, then forwarding).
pub(crate) type Pipeline = BoxCloneSyncService<Request<Body>, Response<Body>, Infallible>;

/// What a service matches.
#[derive(Debug, Clone)]
pub(crate) struct Matcher {
    host: Option<String>,
    path: Option<String>,
}

impl Matcher {
    pub(crate) fn new(host: Option<&str>, path: Option<&str>) -> Self {
        Matcher {
            host: host.map(str::to_ascii_lowercase),
            path: path.map(|p| p.trim_end_matches('/').to_owned()),
        }
    }

    /// Whether a request for `host` (lower case, no port) and `path` matches.
    pub(crate) fn matches(&self, host: Option<&str>, path: &str) -> bool {
        let host_ok = match (&self.host, host) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(want), Some(got)) => match want.strip_prefix("*.") {
                Some(suffix) => got
                    .strip_suffix(suffix)
                    .is_some_and(|rest| rest.ends_with('.') && rest.len() > 1),
                None => want == got,
            },
        };
        let path_ok = match &self.path {
            None => true,
            Some(prefix) if prefix.is_empty() => true,
            Some(prefix) => path
                .strip_prefix(prefix.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/')),
        };
        host_ok && path_ok
    }
}

/// One configured service.
pub(crate) struct Entry {
    pub(crate) name: String,
    pub(crate) matcher: Matcher,
    pub(crate) service: Pipeline,
}

/// The services, in configuration order, and what the listener tells about each request.
pub(crate) struct Table {
    entries: Arc<Vec<Entry>>,
    proto: Proto,
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

/// What routing decided, in the request's extensions for the paywall and the forwarder:
/// the canonical target and the client's connection.
#[derive(Debug, Clone)]
pub(crate) struct Routed {
    /// The canonical target; its path is the one routed and the one forwarded.
    pub(crate) target: Target,
    /// The client's address, if the listener knows it.
    pub(crate) peer: Option<SocketAddr>,
    /// The listener's scheme.
    pub(crate) proto: Proto,
}

impl Table {
    pub(crate) fn new(entries: Vec<Entry>, proto: Proto) -> Self {
        Table {
            entries: Arc::new(entries),
            proto,
        }
    }

    /// The number of services.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Dispatches `req` to the first matching entry, logging it.
    pub(crate) async fn serve(&self, mut req: Request<Body>) -> Response<Body> {
        let start = Instant::now();
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
        let host = target.authority.as_ref().map(Authority::host);
        let found = self
            .entries
            .iter()
            .find(|e| e.matcher.matches(host, &target.path));
        let path = target.path.clone();
        let peer = req
            .extensions()
            .get::<ClientAddr>()
            .map(|c| c.0)
            .or_else(|| {
                req.extensions()
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|c| c.0)
            });
        req.extensions_mut().insert(Routed {
            target,
            peer,
            proto: self.proto,
        });
        let (name, response) = match found {
            Some(entry) => {
                let response = match entry.service.clone().oneshot(req).await {
                    Ok(r) => r,
                    Err(never) => match never {},
                };
                (entry.name.as_str(), response)
            }
            None => (
                "-",
                Response::builder()
                    .status(StatusCode::NOT_FOUND)
                    .body(Body::from("no service matches this request\n"))
                    .unwrap_or_default(),
            ),
        };
        tracing::info!(
            service = name,
            %method,
            path,
            status = response.status().as_u16(),
            elapsed_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
            "request"
        );
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

    #[test]
    fn matching() {
        let m = Matcher::new(Some("API.example.com"), Some("/v1/"));
        assert!(m.matches(Some("api.example.com"), "/v1"));
        assert!(m.matches(Some("api.example.com"), "/v1/x"));
        assert!(!m.matches(Some("api.example.com"), "/v10"));
        assert!(!m.matches(Some("other.com"), "/v1"));
        assert!(!m.matches(None, "/v1"));
        let w = Matcher::new(Some("*.example.com"), None);
        assert!(w.matches(Some("a.example.com"), "/"));
        assert!(!w.matches(Some("example.com"), "/"));
        assert!(!w.matches(Some("aexample.com"), "/"));
        assert!(Matcher::new(None, Some("/")).matches(None, "/anything"));
    }
}
