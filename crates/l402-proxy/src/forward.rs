//! Forwarding a request upstream and its response back, bodies streamed both ways.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body::Body as _;
use l402_tower::Receipt;
use reqwest::Url;

use crate::config::{ConfigError, ServiceConfig};
use crate::route::Routed;

/// Receipt headers sent upstream (and removed from what clients send).
pub(crate) const TOKEN_ID: HeaderName = HeaderName::from_static("x-l402-token-id");
pub(crate) const SERVICE: HeaderName = HeaderName::from_static("x-l402-service");
pub(crate) const CAPABILITIES: HeaderName = HeaderName::from_static("x-l402-capabilities");

/// Hop-by-hop headers (RFC 9110 7.6.1), never forwarded.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authorization",
];

/// Credential headers: the token stays at the proxy.
const CREDENTIALS: [&str; 3] = ["authorization", "macaroon", "grpc-metadata-macaroon"];

/// What a client may claim about the forwarding chain: removed, and the `X-Forwarded-*`
/// headers set from what the proxy knows. The proxy is the first hop it trusts, so it
/// appends to nothing a client sent (Aperture does the same).
const FORWARDING: [&str; 5] = [
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
];

/// Where and how one service forwards.
#[derive(Debug, Clone)]
pub(crate) struct Forward {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    name: String,
    upstream: Url,
    headers: Vec<(HeaderName, HeaderValue)>,
    client: reqwest::Client,
    timeout: Duration,
}

impl Forward {
    pub(crate) fn new(
        service: &ServiceConfig,
        timeout: Duration,
        client: reqwest::Client,
    ) -> Result<Self, ConfigError> {
        let headers = service.header_values()?;
        Ok(Forward {
            inner: Arc::new(Inner {
                name: service.name.clone(),
                upstream: service.upstream_url()?,
                headers,
                client,
                timeout,
            }),
        })
    }

    /// As a tower service.
    pub(crate) fn into_service(
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
        tower::service_fn(move |req: Request<Body>| {
            let inner = Arc::clone(&self.inner);
            async move { Ok::<_, Infallible>(inner.forward(req).await) }
        })
    }
}

/// The upstream URL: the base URL's path followed by the routed (canonical) path's
/// segments, and the query. `None` when the result would not be exactly that path under the
/// base path: the URL library re-interpreted something, and nothing is forwarded.
fn target_url(base: &Url, path: &str, query: Option<&str>) -> Option<Url> {
    let base_path = base.path().trim_end_matches('/');
    let mut joined = String::with_capacity(base_path.len() + path.len());
    joined.push_str(base_path);
    for segment in path.strip_prefix('/')?.split('/') {
        joined.push('/');
        joined.push_str(segment);
    }
    let mut url = base.clone();
    url.set_path(&joined);
    url.set_query(query);
    let under_base = url
        .path()
        .strip_prefix(base_path)
        .is_some_and(|rest| rest.starts_with('/'));
    (url.path() == joined && under_base).then_some(url)
}

fn strip(headers: &mut HeaderMap) {
    // Headers named in `Connection` are hop-by-hop too.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in named {
        headers.remove(n);
    }
    for n in HOP_BY_HOP {
        headers.remove(n);
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::from(body))
        .unwrap_or_default()
}

impl Inner {
    async fn forward(&self, req: Request<Body>) -> Response<Body> {
        let (parts, body) = req.into_parts();
        // The routed target, never the raw one: what was routed is what goes upstream.
        let Some(routed) = parts.extensions.get::<Routed>() else {
            tracing::error!(service = %self.name, "request reached the forwarder unrouted");
            return text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n");
        };
        let target = &routed.target;
        let Some(url) = target_url(
            &self.upstream,
            &routed.upstream_path,
            target.query.as_deref(),
        ) else {
            tracing::warn!(service = %self.name, path = %routed.upstream_path, "path does not stay under the upstream base path");
            return text(StatusCode::BAD_REQUEST, "bad request target\n");
        };
        let mut headers = parts.headers;
        strip(&mut headers);
        for n in CREDENTIALS.into_iter().chain(FORWARDING) {
            headers.remove(n);
        }
        for n in [&TOKEN_ID, &SERVICE, &CAPABILITIES] {
            headers.remove(n);
        }
        headers.remove(header::HOST);
        if let Some(v) = target
            .authority
            .as_ref()
            .and_then(|a| HeaderValue::from_str(&a.header_value()).ok())
        {
            headers.insert(HeaderName::from_static("x-forwarded-host"), v);
        }
        if let Some(v) = routed
            .peer
            .and_then(|p| HeaderValue::from_str(&p.ip().to_string()).ok())
        {
            headers.insert(HeaderName::from_static("x-forwarded-for"), v);
        }
        headers.insert(
            HeaderName::from_static("x-forwarded-proto"),
            HeaderValue::from_static(routed.proto.as_str()),
        );
        if let Some(receipt) = parts.extensions.get::<Receipt>() {
            if let Ok(v) = HeaderValue::from_str(&receipt.token_id().to_hex()) {
                headers.insert(TOKEN_ID, v);
            }
            if let Ok(v) = HeaderValue::from_str(receipt.service()) {
                headers.insert(SERVICE, v);
            }
            if let Some(caps) = receipt.capabilities()
                && let Ok(v) = HeaderValue::from_str(&caps.collect::<Vec<_>>().join(","))
            {
                headers.insert(CAPABILITIES, v);
            }
        }
        for (k, v) in &self.headers {
            headers.insert(k.clone(), v.clone());
        }
        let mut request = self
            .client
            .request(parts.method.clone(), url)
            .headers(headers);
        if !body.is_end_stream() {
            request = request.body(reqwest::Body::wrap_stream(body.into_data_stream()));
        }
        match tokio::time::timeout(self.timeout, request.send()).await {
            Err(_elapsed) => {
                tracing::warn!(
                    service = %self.name,
                    timeout_ms = u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
                    "upstream request timed out"
                );
                text(StatusCode::GATEWAY_TIMEOUT, "upstream timed out\n")
            }
            Ok(Ok(upstream)) => {
                let status = upstream.status();
                let mut headers = upstream.headers().clone();
                strip(&mut headers);
                let mut response = Response::new(Body::from_stream(upstream.bytes_stream()));
                *response.status_mut() = status;
                *response.headers_mut() = headers;
                response
            }
            Ok(Err(e)) => {
                tracing::warn!(
                    service = %self.name,
                    error = %l402_core::ErrorChain(&e),
                    "upstream request failed"
                );
                text(StatusCode::BAD_GATEWAY, "upstream unavailable\n")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn urls_are_joined() {
        let base = Url::parse("http://up:9000/api/").unwrap();
        assert_eq!(
            target_url(&base, "/v1/x", Some("a=1")).unwrap().as_str(),
            "http://up:9000/api/v1/x?a=1"
        );
        let base = Url::parse("http://up:9000").unwrap();
        assert_eq!(
            target_url(&base, "/", None).unwrap().as_str(),
            "http://up:9000/"
        );
        // Whatever reaches here unchecked cannot leave the base path.
        let base = Url::parse("https://host/api").unwrap();
        for bad in ["/../../x", "/%2e%2e/x", "/a\\..\\..\\x", "x"] {
            assert_eq!(target_url(&base, bad, None), None, "{bad}");
        }
    }

    proptest::proptest! {
        /// For any path the canonicaliser accepts, the upstream URL's path is the base
        /// path followed by exactly that path: the URL library changes nothing.
        #[test]
        fn accepted_paths_go_upstream_unchanged(
            raw in "(/([a-zA-Z0-9._~!$&'()*+,=:@\\[\\]{}|^`\"<> -]|%[0-9a-fA-F]{2}|%2[eE]){0,6}){1,6}/?",
            base in "(/[a-z]{1,3}){0,2}/?",
        ) {
            if let Ok(path) = crate::target::canonical_path(&raw) {
                let base_url = Url::parse(&format!("https://up{base}")).unwrap();
                let url = target_url(&base_url, &path, None).unwrap();
                let want = format!("{}{path}", base_url.path().trim_end_matches('/'));
                proptest::prop_assert_eq!(url.path(), want.as_str());
            }
        }
    }

    #[test]
    fn hop_by_hop_headers_are_stripped() {
        let mut h = HeaderMap::new();
        h.insert("connection", HeaderValue::from_static("close, x-private"));
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
    }
}
