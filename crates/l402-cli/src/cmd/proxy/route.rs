//! Matching requests to services by host and path prefix.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use http::{Request, Response, StatusCode};
use tower::ServiceExt;
use tower::util::BoxCloneSyncService;

/// A boxed per-service pipeline (paywall, then forwarding).
pub(super) type Pipeline = BoxCloneSyncService<Request<Body>, Response<Body>, Infallible>;

/// What a service matches.
#[derive(Debug, Clone)]
pub(super) struct Matcher {
    host: Option<String>,
    path: Option<String>,
}

impl Matcher {
    pub(super) fn new(host: Option<&str>, path: Option<&str>) -> Self {
        Matcher {
            host: host.map(str::to_ascii_lowercase),
            path: path.map(|p| p.trim_end_matches('/').to_owned()),
        }
    }

    /// Whether a request for `host` (lower case, no port) and `path` matches.
    pub(super) fn matches(&self, host: Option<&str>, path: &str) -> bool {
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
pub(super) struct Entry {
    pub(super) name: String,
    pub(super) matcher: Matcher,
    pub(super) service: Pipeline,
}

/// The services, in configuration order.
pub(super) struct Table {
    entries: Arc<Vec<Entry>>,
}

/// The request's host: the URI authority (HTTP/2) or the `Host` header, lower case,
/// without the port.
fn request_host<B>(req: &Request<B>) -> Option<String> {
    let raw = req.uri().host().map(str::to_owned).or_else(|| {
        req.headers()
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(|h| match h.rsplit_once(':') {
                Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host.to_owned(),
                _ => h.to_owned(),
            })
    })?;
    Some(
        raw.trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase(),
    )
}

impl Table {
    pub(super) fn new(entries: Vec<Entry>) -> Self {
        Table {
            entries: Arc::new(entries),
        }
    }

    /// A service dispatching each request to the first matching entry, logging it.
    pub(super) fn into_service(
        self,
    ) -> impl tower::Service<
        Request<Body>,
        Response = Response<Body>,
        Error = Infallible,
        Future = impl Future<Output = Result<Response<Body>, Infallible>> + Send,
    > + Clone
    + Send
    + Sync
    + 'static {
        let entries = self.entries;
        tower::service_fn(move |req: Request<Body>| {
            let entries = Arc::clone(&entries);
            async move {
                let start = Instant::now();
                let host = request_host(&req);
                let method = req.method().clone();
                let path = req.uri().path().to_owned();
                let found = entries
                    .iter()
                    .find(|e| e.matcher.matches(host.as_deref(), &path));
                let (name, response) = match found {
                    Some(entry) => {
                        let response = entry.service.clone().oneshot(req).await?;
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
                Ok::<_, Infallible>(response)
            }
        })
    }
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

    #[test]
    fn host_from_header_without_port() {
        let req = Request::builder()
            .uri("/x")
            .header("host", "Example.COM:8402")
            .body(())
            .unwrap_or_default();
        assert_eq!(request_host(&req).as_deref(), Some("example.com"));
    }
}
