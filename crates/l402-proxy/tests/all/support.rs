//! An echo upstream, a mock Lightning network and a proxy built over them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http::header::AUTHORIZATION;
use http::{HeaderMap, Request, Response};
use http_body_util::BodyExt as _;
use l402_core::backend::PayParams;
use l402_core::{
    Amount, BoxInvoiceBackend, Challenge, Credential, MemoryRootKeyStore, PaymentBackend, Scheme,
};
use l402_mock::{MockNetwork, MockNode};
pub use l402_proxy::ServiceConfig;
use l402_proxy::{ClientAddr, Proxy, ProxyConfig};
use tower::ServiceExt as _;

/// An upstream answering every request with what it received, as JSON:
/// `{"path": ..., "query": ..., "headers": {...}}`.
pub async fn echo_upstream() -> SocketAddr {
    let app = axum::Router::new().fallback(|req: Request<Body>| async move {
        let headers: serde_json::Map<String, serde_json::Value> = req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    serde_json::Value::from(v.to_str().unwrap_or("?")),
                )
            })
            .collect();
        axum::Json(serde_json::json!({
            "path": req.uri().path(),
            "query": req.uri().query(),
            "headers": headers,
        }))
    });
    serve(app).await
}

/// Serves `app` on an ephemeral port.
pub async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// A seller node and a funded payer.
pub struct Net {
    pub server: MockNode,
    pub payer: MockNode,
}

impl Net {
    pub fn new() -> Self {
        let network = MockNetwork::new();
        Net {
            server: network.node("server").build().unwrap(),
            payer: network
                .node("payer")
                .balance(Amount::from_sat(1_000_000).unwrap())
                .build()
                .unwrap(),
        }
    }

    /// A proxy serving `services`.
    pub fn proxy(&self, services: Vec<ServiceConfig>) -> Proxy {
        Proxy::builder(
            ProxyConfig::new(services),
            BoxInvoiceBackend::new(self.server.clone()),
            Arc::new(MemoryRootKeyStore::new()),
        )
        .build()
        .unwrap()
    }

    /// Pays the challenge in `headers`.
    pub async fn pay(&self, headers: &HeaderMap) -> Credential {
        let challenge = Challenge::from_headers(headers).expect("a challenge");
        let invoice = challenge.decode_invoice().expect("a valid invoice");
        let params = PayParams::new(Amount::from_sat(100).unwrap(), Duration::from_secs(10));
        let paid = self.payer.pay_invoice(&invoice, &params).await.unwrap();
        Credential::new(challenge.macaroon().clone(), paid.preimage)
    }
}

/// The invoice amount of the challenge in `headers`, in msat.
pub fn invoice_msat(headers: &HeaderMap) -> u64 {
    let challenge = Challenge::from_headers(headers).expect("a challenge");
    challenge
        .decode_invoice()
        .unwrap()
        .amount_milli_satoshis()
        .unwrap()
}

/// A service `name` for `upstream`'s base URL `base`.
pub fn service(name: &str, upstream: SocketAddr, base: &str) -> ServiceConfig {
    ServiceConfig::new(name, format!("http://{upstream}{base}"))
}

/// A GET for `uri` from 192.0.2.1, with a credential if given.
pub fn get(uri: &str, credential: Option<&Credential>) -> Request<Body> {
    let mut req = Request::get(uri).body(Body::empty()).unwrap();
    req.extensions_mut()
        .insert(ClientAddr(SocketAddr::from(([192, 0, 2, 1], 5000))));
    if let Some(c) = credential {
        req.headers_mut()
            .insert(AUTHORIZATION, c.to_header_value(Scheme::L402).unwrap());
    }
    req
}

/// Sends `req` through `proxy`; the status and the body.
pub async fn send(proxy: &Proxy, req: Request<Body>) -> (Response<()>, Vec<u8>) {
    let response = proxy.clone().oneshot(req).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes().to_vec();
    (Response::from_parts(parts, ()), body)
}

/// What the echo upstream saw.
pub fn echoed(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| panic!("not an echo: {}", String::from_utf8_lossy(body)))
}

/// Serves `proxy` on an ephemeral port as the `l402` command does (HTTP/1.1 and h2c,
/// upgrades, the client's address).
pub async fn listen(proxy: Proxy) -> SocketAddr {
    let app = axum::Router::new().fallback_service(proxy);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    addr
}

/// A stream of what a channel receives.
pub struct ChannelStream<T>(pub tokio::sync::mpsc::Receiver<T>);

impl<T> futures_core::Stream for ChannelStream<T> {
    type Item = T;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<T>> {
        self.0.poll_recv(cx)
    }
}
