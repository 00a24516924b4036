//! Forwarding a request upstream and its response back, bodies streamed both ways.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body::Body as _;
use l402_tower::Receipt;
use reqwest::Url;

use crate::config::ServiceConfig;
use crate::exit::CliError;

/// Receipt headers sent upstream (and removed from what clients send).
pub(super) const TOKEN_ID: HeaderName = HeaderName::from_static("x-l402-token-id");
pub(super) const SERVICE: HeaderName = HeaderName::from_static("x-l402-service");
pub(super) const CAPABILITIES: HeaderName = HeaderName::from_static("x-l402-capabilities");

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

/// Where and how one service forwards.
#[derive(Debug, Clone)]
pub(super) struct Forward {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    name: String,
    upstream: Url,
    headers: Vec<(HeaderName, HeaderValue)>,
    client: reqwest::Client,
}

impl Forward {
    pub(super) fn new(service: &ServiceConfig, client: reqwest::Client) -> Result<Self, CliError> {
        let mut headers = Vec::new();
        for (k, v) in &service.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| CliError::config(format!("invalid header name {k:?}")))?;
            let value = HeaderValue::from_str(v)
                .map_err(|_| CliError::config(format!("invalid value for header {k:?}")))?;
            headers.push((name, value));
        }
        Ok(Forward {
            inner: Arc::new(Inner {
                name: service.name.clone(),
                upstream: service.upstream_url()?,
                headers,
                client,
            }),
        })
    }

    /// As a tower service.
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
        tower::service_fn(move |req: Request<Body>| {
            let inner = Arc::clone(&self.inner);
            async move { Ok::<_, Infallible>(inner.forward(req).await) }
        })
    }
}

/// The upstream URL: the base URL's path joined with the request's path and query.
fn target_url(base: &Url, uri: &http::Uri) -> Url {
    let mut url = base.clone();
    let base_path = base.path().trim_end_matches('/');
    url.set_path(&format!("{base_path}{}", uri.path()));
    url.set_query(uri.query());
    url
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
        let url = target_url(&self.upstream, &parts.uri);
        let mut headers = parts.headers;
        strip(&mut headers);
        for n in CREDENTIALS {
            headers.remove(n);
        }
        for n in [&TOKEN_ID, &SERVICE, &CAPABILITIES] {
            headers.remove(n);
        }
        let host = headers.remove(header::HOST).or_else(|| {
            parts
                .uri
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        });
        if let Some(host) = host {
            headers.insert(HeaderName::from_static("x-forwarded-host"), host);
        }
        headers.insert(
            HeaderName::from_static("x-forwarded-proto"),
            HeaderValue::from_static("http"),
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
        match request.send().await {
            Ok(upstream) => {
                let status = upstream.status();
                let mut headers = upstream.headers().clone();
                strip(&mut headers);
                let mut response = Response::new(Body::from_stream(upstream.bytes_stream()));
                *response.status_mut() = status;
                *response.headers_mut() = headers;
                response
            }
            Err(e) => {
                tracing::warn!(
                    service = %self.name,
                    error = %crate::exit::chain(&e),
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
        let uri: http::Uri = "/v1/x?a=1".parse().unwrap();
        assert_eq!(
            target_url(&base, &uri).as_str(),
            "http://up:9000/api/v1/x?a=1"
        );
        let base = Url::parse("http://up:9000").unwrap();
        let uri: http::Uri = "/".parse().unwrap();
        assert_eq!(target_url(&base, &uri).as_str(), "http://up:9000/");
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
