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
#[cfg_attr(not(test), allow(dead_code))] // What `dropped_upstream` matches (tested).
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
#[cfg_attr(not(test), allow(dead_code))] // What `dropped_upstream` matches (tested).
const CREDENTIALS: [&str; 3] = ["authorization", "macaroon", "grpc-metadata-macaroon"];

/// What a client may claim about the forwarding chain. Unless the configuration trusts
/// them (`trust_forwarded_headers`), removed, and the `X-Forwarded-*` headers set from
/// what the proxy knows: the proxy is the first hop it trusts, so it appends to nothing
/// a client sent.
#[cfg_attr(not(test), allow(dead_code))] // What `dropped_upstream` matches (tested).
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
    /// The name as the `X-L402-Service` value.
    name_value: HeaderValue,
    upstream: Upstream,
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
        let err = |reason: String| ConfigError::Service {
            service: service.name.clone(),
            reason,
        };
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
                name_value: HeaderValue::from_str(&service.name)
                    .map_err(|_| err("the name is not a valid header value".to_owned()))?,
                upstream: Upstream::new(&service.upstream_url()?)
                    .ok_or_else(|| err("upstream must be an http or https url".to_owned()))?,
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

/// Where a service's requests go: the upstream's scheme and authority, and its base path.
#[derive(Debug)]
struct Upstream {
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
    /// Without a trailing `/`.
    base_path: String,
}

impl Upstream {
    fn new(url: &Url) -> Option<Self> {
        let host = url.host_str()?;
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        Some(Upstream {
            scheme: url.scheme().parse().ok()?,
            authority: authority.parse().ok()?,
            base_path: url.path().trim_end_matches('/').to_owned(),
        })
    }

    /// The upstream URI: the base path followed by the routed (canonical) path, and the
    /// query. `None` when the result would not be exactly that path under the base path
    /// (a path that is not absolute, holds a dot segment or a backslash, plain or
    /// encoded, or that the URI parser would read differently): nothing is forwarded.
    fn target(&self, path: &str, query: Option<&str>) -> Option<http::Uri> {
        if !path.starts_with('/') || !stays_put(path) {
            return None;
        }
        let mut pq = String::with_capacity(
            self.base_path.len() + path.len() + query.map_or(0, |q| q.len() + 1),
        );
        pq.push_str(&self.base_path);
        pq.push_str(path);
        let path_len = pq.len();
        if let Some(q) = query {
            pq.push('?');
            pq.push_str(q);
        }
        let pq = http::uri::PathAndQuery::from_maybe_shared(Bytes::from(pq)).ok()?;
        // Read back as exactly that path and query (no `?` or `#` inside the path).
        if pq.path().len() != path_len || pq.query() != query {
            return None;
        }
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(self.authority.clone());
        parts.path_and_query = Some(pq);
        http::Uri::from_parts(parts).ok()
    }
}

/// Whether `path` cannot climb out of the base path it is appended to: no dot segment,
/// no backslash, no encoded dot, slash or backslash (a canonical path holds none of
/// them; checked again here, cheaply, before anything leaves).
fn stays_put(path: &str) -> bool {
    let b = path.as_bytes();
    if b.contains(&b'\\') {
        return false;
    }
    let encoded = b.windows(3).any(|w| {
        (w[0] == b'%' && w[1] == b'2' && matches!(w[2], b'e' | b'E' | b'f' | b'F'))
            || (w[0] == b'%' && w[1] == b'5' && matches!(w[2], b'c' | b'C'))
    });
    !encoded && path.split('/').all(|seg| seg != "." && seg != "..")
}

/// An address as a header value, formatted on the stack.
fn ip_value(ip: std::net::IpAddr) -> Option<HeaderValue> {
    use std::io::Write as _;
    // The longest address, `ffff:…` with an embedded IPv4, is 45 characters.
    let mut buf = [0u8; 64];
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    write!(cursor, "{ip}").ok()?;
    let len = usize::try_from(cursor.position()).ok()?;
    HeaderValue::from_bytes(buf.get(..len)?).ok()
}

/// `bytes` in lower-case hex, in `out`.
fn hex_lower<'a>(bytes: &[u8; 32], out: &'a mut [u8; 64]) -> &'a [u8] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0x0f)];
    }
    out
}

/// Whether a request header a client sent stays out of the upstream request: hop-by-hop
/// headers, credentials, the receipt headers (the proxy sets them), `Host` (the upstream's
/// own is set) and, unless trusted, what the client claims about the forwarding chain.
fn dropped_upstream(name: &HeaderName, trust_forwarded: bool) -> bool {
    match name.as_str() {
        // HOP_BY_HOP, CREDENTIALS, the receipt headers, `Host`.
        "connection"
        | "keep-alive"
        | "proxy-connection"
        | "te"
        | "trailer"
        | "transfer-encoding"
        | "upgrade"
        | "proxy-authorization"
        | "authorization"
        | "macaroon"
        | "grpc-metadata-macaroon"
        | "x-l402-token-id"
        | "x-l402-service"
        | "x-l402-capabilities"
        | "host" => true,
        // FORWARDING.
        "forwarded" | "x-forwarded-for" | "x-forwarded-host" | "x-forwarded-proto"
        | "x-real-ip" => !trust_forwarded,
        _ => false,
    }
}

/// Whether a response header is hop-by-hop (never forwarded as received).
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "proxy-authorization"
    )
}

/// `headers` without those `drop` refuses, nor those the `Connection` header names (they
/// are hop-by-hop too): one pass that moves what is kept, instead of a removal (a hash
/// look-up) per name that could be there.
fn filtered(headers: HeaderMap, drop: impl Fn(&HeaderName) -> bool) -> HeaderMap {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    let mut out = HeaderMap::with_capacity(headers.len() + 8);
    let mut values = headers.into_iter().peekable();
    while let Some((name, value)) = values.next() {
        // `None` names only follow a first value, which is always named.
        let Some(name) = name else { continue };
        let keep = !drop(&name) && !named.contains(&name);
        if values.peek().is_some_and(|(next, _)| next.is_none()) {
            // More values of the same header follow.
            if keep {
                out.append(&name, value);
            }
            while let Some((_, value)) = values.next_if(|(next, _)| next.is_none()) {
                if keep {
                    out.append(&name, value);
                }
            }
        } else if keep {
            out.append(name, value);
        }
    }
    out
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
    ///
    /// The clock runs only while the body has nothing to give: it is armed (one timer)
    /// when the body first answers `Pending` after a frame, and left alone while frames
    /// arrive, so a body that is always ready (the usual small response) never touches
    /// the timer wheel. The deadline is `idle` after the proxy started waiting.
    struct IdleTimeout<B> {
        #[pin]
        inner: B,
        sleep: Option<Pin<Box<tokio::time::Sleep>>>,
        // The sleep's deadline counts from the current wait.
        armed: bool,
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
            sleep: None,
            armed: false,
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
        let this = self.project();
        match this.inner.poll_frame(cx) {
            Poll::Ready(frame) => {
                *this.armed = false;
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let sleep = match this.sleep {
                    Some(sleep) => {
                        if !*this.armed {
                            sleep
                                .as_mut()
                                .reset(tokio::time::Instant::now() + *this.idle);
                        }
                        sleep
                    }
                    None => this.sleep.insert(Box::pin(tokio::time::sleep(*this.idle))),
                };
                *this.armed = true;
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(IdleError.into()))),
                    Poll::Pending => Poll::Pending,
                }
            }
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
        let Some(routed) = parts.extensions.remove::<Routed>() else {
            tracing::error!(service = %self.name, "request reached the forwarder unrouted");
            return text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n");
        };
        let Some(uri) = self
            .upstream
            .target(routed.upstream_path(), routed.target.query.as_deref())
        else {
            tracing::warn!(service = %self.name, path = %routed.upstream_path(), "path does not stay under the upstream base path");
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
        let headers = std::mem::take(&mut parts.headers);
        // gRPC needs `TE: trailers`, the one value HTTP/2 allows.
        let te_trailers = headers
            .get(header::TE)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"trailers"));
        let trust = self.trust_forwarded;
        let mut headers = filtered(headers, |name| dropped_upstream(name, trust));
        if te_trailers {
            headers.insert(header::TE, HeaderValue::from_static("trailers"));
        }
        if let Some(protocol) = &upgrade {
            headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            headers.insert(header::UPGRADE, protocol.clone());
        }
        self.forwarded_headers(&mut headers, &routed);
        if let Some(receipt) = parts.extensions.get::<Receipt>() {
            let mut hex = [0u8; 64];
            if let Ok(v) =
                HeaderValue::from_bytes(hex_lower(receipt.token_id().as_bytes(), &mut hex))
            {
                headers.insert(TOKEN_ID, v);
            }
            let service = if receipt.service() == self.name {
                Some(self.name_value.clone())
            } else {
                HeaderValue::from_str(receipt.service()).ok()
            };
            if let Some(v) = service {
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
        // A body that has ended (a GET) goes as the empty body: nothing to time.
        let body = if http_body::Body::is_end_stream(&body) {
            Body::empty()
        } else {
            Body::new(IdleTimeout::new(body, self.idle))
        };
        let mut request = Request::new(body);
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
                let headers = filtered(std::mem::take(upstream.headers_mut()), hop_by_hop);
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
        // What a client claimed is already gone unless trusted (`dropped_upstream`).
        if let Some(peer) = routed.peer {
            let chain = match headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
                Some(before) if self.trust_forwarded => {
                    HeaderValue::from_str(&format!("{before}, {}", peer.ip())).ok()
                }
                _ => ip_value(peer.ip()),
            };
            headers.remove(&X_FORWARDED_FOR);
            if let Some(v) = chain {
                headers.insert(X_FORWARDED_FOR, v);
            }
        }
        if !headers.contains_key(&X_FORWARDED_HOST)
            && let Some(v) =
                routed.target.authority.as_ref().and_then(|a| {
                    HeaderValue::from_maybe_shared(Bytes::from(a.header_value())).ok()
                })
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
        let headers = std::mem::take(upstream.headers_mut());
        let protocol = headers.get(header::UPGRADE).cloned().unwrap_or(asked);
        let mut headers = filtered(headers, hop_by_hop);
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

    fn target_url(base: &Url, path: &str, query: Option<&str>) -> Option<String> {
        Upstream::new(base)?
            .target(path, query)
            .map(|u| u.to_string())
    }

    #[test]
    fn urls_are_joined() {
        let base = Url::parse("http://up:9000/api/").unwrap();
        assert_eq!(
            target_url(&base, "/v1/x", Some("a=1")).as_deref(),
            Some("http://up:9000/api/v1/x?a=1")
        );
        let base = Url::parse("http://up:9000").unwrap();
        assert_eq!(
            target_url(&base, "/", None).as_deref(),
            Some("http://up:9000/")
        );
        let base = Url::parse("https://[::1]:8443/").unwrap();
        assert_eq!(
            target_url(&base, "/a", None).as_deref(),
            Some("https://[::1]:8443/a")
        );
        // Whatever reaches here unchecked cannot leave the base path.
        let base = Url::parse("https://host/api").unwrap();
        for bad in [
            "/../../x",
            "/%2e%2e/x",
            "/.%2E/x",
            "/a/..",
            "/a/./b",
            "/a\\..\\..\\x",
            "/a%5c..%5C..%5cx",
            "/a%2f..%2F..%2fx",
            "/a?b",
            "/a#b",
            "x",
            "",
        ] {
            assert_eq!(target_url(&base, bad, None), None, "{bad}");
        }
    }

    proptest::proptest! {
        /// For any path the canonicaliser accepts, the upstream URI's path is the base
        /// path followed by exactly that path: the URI parser changes nothing.
        #[test]
        fn accepted_paths_go_upstream_unchanged(
            raw in "(/([a-zA-Z0-9._~!$&'()*+,=:@\\[\\]{}|^`\"<> -]|%[0-9a-fA-F]{2}|%2[eE]){0,6}){1,6}/?",
            base in "(/[a-z]{1,3}){0,2}/?",
        ) {
            if let Ok(path) = crate::target::canonical_path(&raw) {
                let base_url = Url::parse(&format!("https://up{base}")).unwrap();
                let uri = Upstream::new(&base_url).unwrap().target(&path, Some("q=1")).unwrap();
                let want = format!("{}{path}", base_url.path().trim_end_matches('/'));
                proptest::prop_assert_eq!(uri.path(), want.as_str());
                proptest::prop_assert_eq!(uri.query(), Some("q=1"));
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
        h.append("x-kept", HeaderValue::from_static("2"));
        h.insert("x-last", HeaderValue::from_static("3"));
        let h = filtered(h, hop_by_hop);
        assert_eq!(h.len(), 3);
        let kept: Vec<_> = h.get_all("x-kept").iter().collect();
        assert_eq!(kept, ["1", "2"]);
        assert!(h.contains_key("x-last"));
    }

    #[test]
    fn the_named_lists_are_what_is_dropped() {
        for name in HOP_BY_HOP {
            let name = HeaderName::from_static(name);
            assert!(hop_by_hop(&name), "{name}");
            assert!(dropped_upstream(&name, true), "{name}");
        }
        for name in CREDENTIALS.iter().chain(&["host"]) {
            assert!(
                dropped_upstream(&HeaderName::from_static(name), true),
                "{name}"
            );
        }
        for name in [&TOKEN_ID, &SERVICE, &CAPABILITIES] {
            assert!(dropped_upstream(name, true), "{name}");
        }
        for name in FORWARDING {
            let name = HeaderName::from_static(name);
            assert!(dropped_upstream(&name, false), "{name}");
            assert!(!dropped_upstream(&name, true), "{name}");
        }
        for name in ["accept", "content-type", "x-custom", "cookie"] {
            let name = HeaderName::from_static(name);
            assert!(
                !dropped_upstream(&name, false) && !hop_by_hop(&name),
                "{name}"
            );
        }
    }

    #[test]
    fn addresses_format_as_header_values() {
        for ip in [
            "192.0.2.7",
            "2001:db8::1",
            "::ffff:192.0.2.7",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ] {
            let ip: std::net::IpAddr = ip.parse().unwrap();
            assert_eq!(ip_value(ip).unwrap(), ip.to_string().as_str());
        }
        let mut out = [0u8; 64];
        let id = [0xabu8; 32];
        assert_eq!(hex_lower(&id, &mut out), "ab".repeat(32).as_bytes());
    }

    /// A body that never sends anything.
    struct Silent;

    impl http_body::Body for Silent {
        type Data = Bytes;
        type Error = Infallible;
        fn poll_frame(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            Poll::Pending
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_body_is_cut_after_the_idle_timeout() {
        use http_body_util::BodyExt as _;
        let mut body = IdleTimeout::new(Silent, Duration::from_secs(5));
        let frame = body.frame().await.unwrap();
        assert!(frame.unwrap_err().is::<IdleError>());
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_keeps_sending_is_not_cut() {
        use http_body_util::BodyExt as _;
        // A frame every 3 s, 10 times: 30 s in all, never 5 s without a frame.
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(1);
        tokio::spawn(async move {
            for _ in 0..10 {
                tokio::time::sleep(Duration::from_secs(3)).await;
                tx.send(Ok(Frame::data(Bytes::from_static(b"x"))))
                    .await
                    .unwrap();
            }
        });
        let body = IdleTimeout::new(
            http_body_util::StreamBody::new(futures_util::stream::unfold(rx, |mut rx| async {
                rx.recv().await.map(|frame| (frame, rx))
            })),
            Duration::from_secs(5),
        );
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(bytes.len(), 10);
    }
}
