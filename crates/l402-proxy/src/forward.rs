//! Forwarding a request upstream and its response back, on hyper-util's client: HTTP/1.1
//! or HTTP/2 per service, http or https, bodies and trailers streamed both ways (never
//! buffered whole), HTTP/1.1 upgrades (WebSocket) spliced after the paywall let them
//! through.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Version};
use http_body::Frame;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use l402_node_rest::trust;
use l402_tower::Receipt;
use url::Url;

use crate::config::{ConfigError, ProxyConfig, ServiceConfig, UpstreamProtocol};
use crate::route::Routed;

/// Receipt headers sent upstream (and removed from what clients send).
pub(crate) const TOKEN_ID: HeaderName = HeaderName::from_static("x-l402-token-id");
pub(crate) const SERVICE: HeaderName = HeaderName::from_static("x-l402-service");
pub(crate) const CAPABILITIES: HeaderName = HeaderName::from_static("x-l402-capabilities");

/// Hop-by-hop headers (RFC 9110 7.6.1), never forwarded as received.
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

/// What a client may claim about the forwarding chain. Unless the configuration trusts
/// them (`trust_forwarded_headers`), removed, and the `X-Forwarded-*` headers set from
/// what the proxy knows: the proxy is the first hop it trusts, so it appends to nothing
/// a client sent.
const FORWARDING: [&str; 5] = [
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
];

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// The client every service uses (one connection pool per service).
type HttpClient = Client<HttpsConnector<HttpConnector>, Body>;

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
    client: HttpClient,
    /// First byte: how long the upstream may take to send its response headers.
    timeout: Duration,
    /// How long a body may go without a frame.
    idle: Duration,
    trust_forwarded: bool,
    http2: bool,
}

/// Largest CA or certificate file read.
const MAX_CERT_FILE_LEN: u64 = 1024 * 1024;

/// The TLS client configuration of `service`'s upstream: verified against its CA file,
/// pinned to its certificate file (whatever its name and chain: a self-signed one, such
/// as LND's `tls.cert`; the handshake signature is still checked with its key), or
/// verified against the Mozilla roots. ALPN is set by the connector.
fn tls_config(service: &ServiceConfig) -> Result<rustls::ClientConfig, ConfigError> {
    let err = |reason: String| ConfigError::Service {
        service: service.name.clone(),
        reason,
    };
    let read = |path: &std::path::Path| {
        let len = std::fs::metadata(path)
            .map_err(|e| err(format!("cannot read {}: {e}", path.display())))?
            .len();
        if len > MAX_CERT_FILE_LEN {
            return Err(err(format!(
                "{} is too large for a certificate",
                path.display()
            )));
        }
        let bytes =
            std::fs::read(path).map_err(|e| err(format!("cannot read {}: {e}", path.display())))?;
        Ok(bytes)
    };
    let config = if let Some(path) = &service.upstream_ca_file {
        let roots =
            trust::root_store(&read(path)?).map_err(|e| err(format!("{}: {e}", path.display())))?;
        trust::roots_client_config(roots)
    } else if let Some(path) = &service.upstream_cert_file {
        let pinned = trust::first_certificate(&read(path)?)
            .map_err(|e| err(format!("{}: {e}", path.display())))?;
        trust::pinned_client_config(pinned)
    } else {
        trust::roots_client_config(trust::webpki_roots())
    };
    config.map_err(|e| err(format!("tls settings refused: {e}")))
}

impl Forward {
    pub(crate) fn new(config: &ProxyConfig, service: &ServiceConfig) -> Result<Self, ConfigError> {
        let headers = service.header_values()?;
        let http2 = service.upstream_protocol == UpstreamProtocol::Http2;
        let tls = tls_config(service)?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(config.connect_timeout(service)));
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http();
        let connector = if http2 {
            builder.enable_http2().wrap_connector(http)
        } else {
            builder.enable_http1().wrap_connector(http)
        };
        let mut client = Client::builder(TokioExecutor::new());
        client
            .http2_only(http2)
            .pool_idle_timeout(Duration::from_secs(90))
            .retry_canceled_requests(true);
        Ok(Forward {
            inner: Arc::new(Inner {
                name: service.name.clone(),
                upstream: service.upstream_url()?,
                headers,
                client: client.build(connector),
                timeout: config.upstream_timeout(service),
                idle: config.idle_timeout(service),
                trust_forwarded: config.trust_forwarded_headers,
                http2,
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

/// The protocol a request asks to switch to (HTTP/1.1 `Connection: upgrade` and
/// `Upgrade`), if any.
fn upgrade_of(version: Version, headers: &HeaderMap) -> Option<HeaderValue> {
    if version != Version::HTTP_11 {
        return None;
    }
    let asks = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    asks.then(|| headers.get(header::UPGRADE).cloned())
        .flatten()
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::from(body))
        .unwrap_or_default()
}

pin_project_lite::pin_project! {
    /// A body cut with an error when it sends nothing for `idle`.
    struct IdleTimeout<B> {
        #[pin]
        inner: B,
        #[pin]
        sleep: tokio::time::Sleep,
        idle: Duration,
    }
}

/// A body that went silent for longer than the idle timeout.
#[derive(Debug, thiserror::Error)]
#[error("body idle for longer than the idle timeout")]
struct IdleError;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<B> IdleTimeout<B> {
    fn new(inner: B, idle: Duration) -> Self {
        IdleTimeout {
            inner,
            sleep: tokio::time::sleep(idle),
            idle,
        }
    }
}

impl<B> http_body::Body for IdleTimeout<B>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        match this.inner.poll_frame(cx) {
            Poll::Ready(frame) => {
                let deadline = tokio::time::Instant::now() + *this.idle;
                this.sleep.as_mut().reset(deadline);
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => match this.sleep.poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(IdleError.into()))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Inner {
    async fn forward(&self, req: Request<Body>) -> Response<Body> {
        let (mut parts, body) = req.into_parts();
        // The routed target, never the raw one: what was routed is what goes upstream.
        let Some(routed) = parts.extensions.get::<Routed>().cloned() else {
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
        let Ok(uri) = url.as_str().parse::<http::Uri>() else {
            return text(StatusCode::BAD_REQUEST, "bad request target\n");
        };
        let upgrade = if self.http2 {
            None
        } else {
            upgrade_of(parts.version, &parts.headers)
        };
        let client_upgrade = upgrade
            .as_ref()
            .and_then(|_| parts.extensions.remove::<hyper::upgrade::OnUpgrade>());
        let mut headers = std::mem::take(&mut parts.headers);
        // gRPC needs `TE: trailers`, the one value HTTP/2 allows.
        let te_trailers = headers
            .get(header::TE)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"trailers"));
        strip(&mut headers);
        if te_trailers {
            headers.insert(header::TE, HeaderValue::from_static("trailers"));
        }
        if let Some(protocol) = &upgrade {
            headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            headers.insert(header::UPGRADE, protocol.clone());
        }
        for n in CREDENTIALS {
            headers.remove(n);
        }
        for n in [&TOKEN_ID, &SERVICE, &CAPABILITIES] {
            headers.remove(n);
        }
        headers.remove(header::HOST);
        self.forwarded_headers(&mut headers, &routed);
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
        let mut request = Request::new(Body::new(IdleTimeout::new(body, self.idle)));
        *request.method_mut() = parts.method;
        *request.uri_mut() = uri;
        *request.version_mut() = Version::HTTP_11;
        *request.headers_mut() = headers;
        match tokio::time::timeout(self.timeout, self.client.request(request)).await {
            Err(_elapsed) => {
                tracing::warn!(
                    service = %self.name,
                    timeout_ms = u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
                    "upstream request timed out"
                );
                text(StatusCode::GATEWAY_TIMEOUT, "upstream timed out\n")
            }
            Ok(Ok(mut upstream)) => {
                if upstream.status() == StatusCode::SWITCHING_PROTOCOLS {
                    return self.switch(upstream, client_upgrade, upgrade);
                }
                let mut headers = std::mem::take(upstream.headers_mut());
                strip(&mut headers);
                let status = upstream.status();
                let body = Body::new(IdleTimeout::new(upstream.into_body(), self.idle));
                let mut response = Response::new(body);
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

    /// `X-Forwarded-For`, `-Host` and `-Proto`: set by the proxy, or appended to what a
    /// trusted balancer sent.
    fn forwarded_headers(&self, headers: &mut HeaderMap, routed: &Routed) {
        let peer = routed.peer.map(|p| p.ip().to_string());
        if !self.trust_forwarded {
            for n in FORWARDING {
                headers.remove(n);
            }
        }
        if let Some(peer) = peer {
            let chain = match headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
                Some(before) if self.trust_forwarded => format!("{before}, {peer}"),
                _ => peer,
            };
            headers.remove(&X_FORWARDED_FOR);
            if let Ok(v) = HeaderValue::from_str(&chain) {
                headers.insert(X_FORWARDED_FOR, v);
            }
        }
        if !headers.contains_key(&X_FORWARDED_HOST)
            && let Some(v) = routed
                .target
                .authority
                .as_ref()
                .and_then(|a| HeaderValue::from_str(&a.header_value()).ok())
        {
            headers.insert(X_FORWARDED_HOST, v);
        }
        if !headers.contains_key(&X_FORWARDED_PROTO) {
            headers.insert(
                X_FORWARDED_PROTO,
                HeaderValue::from_static(routed.proto.as_str()),
            );
        }
    }

    /// The upstream switched protocols: answers 101 to the client and splices the two
    /// upgraded connections.
    fn switch(
        &self,
        mut upstream: Response<hyper::body::Incoming>,
        client: Option<hyper::upgrade::OnUpgrade>,
        asked: Option<HeaderValue>,
    ) -> Response<Body> {
        let (Some(client), Some(asked)) = (client, asked) else {
            tracing::warn!(service = %self.name, "upstream switched protocols unasked");
            return text(StatusCode::BAD_GATEWAY, "upstream unavailable\n");
        };
        let upstream_upgrade = hyper::upgrade::on(&mut upstream);
        let mut headers = std::mem::take(upstream.headers_mut());
        let protocol = headers.get(header::UPGRADE).cloned().unwrap_or(asked);
        strip(&mut headers);
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, protocol);
        let name = self.name.clone();
        tokio::spawn(async move {
            let (client, upstream) = match tokio::try_join!(client, upstream_upgrade) {
                Ok(both) => both,
                Err(e) => {
                    tracing::warn!(service = %name, error = %e, "upgrade failed");
                    return;
                }
            };
            let mut client = TokioIo::new(client);
            let mut upstream = TokioIo::new(upstream);
            if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
                tracing::debug!(service = %name, error = %e, "upgraded connection ended");
            }
        });
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        *response.headers_mut() = headers;
        response
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
