//! Shared helpers: the mock network, servers, clients.

#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header::WWW_AUTHENTICATE};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use l402_core::backend::{InvoiceRequest, PayParams, PaymentStatus, PaymentSuccess};
use l402_core::lightning_invoice::Bolt11Invoice;
use l402_core::{
    Amount, BackendError, Credential, Identifier, Macaroon, MemoryRootKeyStore, PayError,
    PaymentBackend, PaymentHash, RootKey, TokenId,
};
use l402_mock::{MockNetwork, MockNode, RoutingFee};
use l402_reqwest::{Event, L402Error, L402Middleware, SpendingPolicy};
use l402_tower::{L402Layer, Route};
use reqwest_middleware::ClientWithMiddleware;

pub fn sat(n: u64) -> Amount {
    Amount::from_sat(n).unwrap()
}

/// A network with a server node (issues invoices) and a funded payer node.
pub struct Net {
    pub network: MockNetwork,
    pub server: MockNode,
    pub payer: MockNode,
    pub keys: Arc<MemoryRootKeyStore>,
}

pub const START_BALANCE_SAT: u64 = 1_000_000;

impl Net {
    /// Routing fee: 100 msat + 0.1 %.
    pub fn new() -> Self {
        Self::with_fee(RoutingFee::new(Amount::from_msat(100), 1_000))
    }

    pub fn with_fee(fee: RoutingFee) -> Self {
        Self::on(MockNetwork::builder().routing_fee(fee).build())
    }

    /// On a network built by the caller.
    pub fn on(network: MockNetwork) -> Self {
        let server = network.node("server").build().unwrap();
        let payer = network
            .node("payer")
            .balance(sat(START_BALANCE_SAT))
            .build()
            .unwrap();
        Net {
            network,
            server,
            payer,
            keys: Arc::new(MemoryRootKeyStore::new()),
        }
    }

    /// Asserts that the payer paid nothing at all.
    pub fn assert_nothing_paid(&self) {
        assert_eq!(self.payer.balance(), sat(START_BALANCE_SAT));
        assert_eq!(self.payer.payments().len(), 0);
    }

    /// Number of payments the payer sent.
    pub fn payments(&self) -> usize {
        self.payer.payments().len()
    }

    /// A paywalled API on a new port: `/paid` 10 sat, `/expensive` 500 sat, `POST /upload`
    /// 10 sat (echoes the body length), `/free`. Token validity `validity`.
    pub async fn paywall_with(&self, validity: Duration) -> String {
        let layer = L402Layer::builder(self.server.clone(), Arc::clone(&self.keys))
            .service("api")
            .price_sat(10)
            .route(Route::exact("/expensive").price_sat(500))
            .validity(validity)
            .build()
            .unwrap();
        let app = Router::new()
            .route("/paid", get(|| async { "paid content" }))
            .route("/expensive", get(|| async { "expensive content" }))
            .route(
                "/upload",
                post(|body: String| async move { format!("got {} bytes", body.len()) }),
            )
            .route_layer(layer)
            .route("/free", get(|| async { "free content" }));
        serve(app).await
    }

    pub async fn paywall(&self) -> String {
        self.paywall_with(Duration::from_secs(3600)).await
    }

    /// Money the payer sent (amounts and fees), on the node.
    pub fn spent(&self) -> Amount {
        sat(START_BALANCE_SAT).saturating_sub(self.payer.balance())
    }
}

/// A server whose every path answers `307 Temporary Redirect` to `to` + the path.
pub async fn redirector(to: String) -> String {
    let app = Router::new().fallback(move |uri: axum::http::Uri| {
        let to = to.clone();
        async move {
            let location = format!("{to}{}", uri.path());
            (
                StatusCode::TEMPORARY_REDIRECT,
                [(axum::http::header::LOCATION, location)],
            )
        }
    });
    serve(app).await
}

impl Net {
    /// A paywall (`/paid`, 10 sat) that also redirects `/moved` to `/paid` on itself.
    pub async fn paywall_with_redirect(&self) -> String {
        let layer = L402Layer::builder(self.server.clone(), Arc::clone(&self.keys))
            .service("api")
            .price_sat(10)
            .build()
            .unwrap();
        let app = Router::new()
            .route("/paid", get(|| async { "paid content" }))
            .route_layer(layer)
            .route(
                "/moved",
                get(|| async {
                    (
                        StatusCode::TEMPORARY_REDIRECT,
                        [(axum::http::header::LOCATION, "/paid")],
                    )
                }),
            );
        serve(app).await
    }
}

/// Serves `app` on 127.0.0.1:0; its base URL.
pub async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// A policy for tests: cheap fee cap (1 sat + 1 %), short waits.
pub fn policy() -> SpendingPolicy {
    SpendingPolicy::new()
        .max_fee_base(sat(1))
        .max_fee_ppm(10_000)
        .pay_timeout(Duration::from_secs(5))
        .in_flight_wait(Duration::from_millis(200))
        .poll_interval(Duration::from_millis(20))
}

pub fn client<P: PaymentBackend + 'static>(mw: &L402Middleware<P>) -> ClientWithMiddleware {
    reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(mw.clone())
        .build()
}

/// The L402 error inside a middleware error.
pub fn l402_error(e: &reqwest_middleware::Error) -> &L402Error {
    L402Error::from_middleware_error(e).unwrap_or_else(|| panic!("not an L402 error: {e:?}"))
}

/// Records events.
#[derive(Clone, Default)]
pub struct Events(pub Arc<Mutex<Vec<Event>>>);

impl Events {
    pub fn handler(&self) -> impl Fn(&Event) + Send + Sync + 'static {
        let events = Arc::clone(&self.0);
        move |e: &Event| events.lock().unwrap().push(e.clone())
    }

    pub fn all(&self) -> Vec<Event> {
        self.0.lock().unwrap().clone()
    }

    pub fn count(&self, f: impl Fn(&Event) -> bool) -> usize {
        self.all().iter().filter(|e| f(e)).count()
    }
}

/// Mints a challenge by hand: a macaroon for `hash` and an invoice string.
pub fn macaroon_for(hash: PaymentHash) -> Macaroon {
    let id = Identifier::new(hash, TokenId::random().unwrap());
    Macaroon::new(&RootKey::from_bytes([7; 32]), id.encode().to_vec(), None).unwrap()
}

type Mint = Arc<dyn Fn() -> (Macaroon, String) + Send + Sync>;
type Format = Arc<dyn Fn(&str, &str) -> Vec<String> + Send + Sync>;

/// A hand-written L402 server: answers 402 with challenges minted by `mint` and written
/// by `format`; with `accept`, a credential whose preimage matches its macaroon's payment
/// hash gets 200 "paid". Records the `Authorization` values it sees.
#[derive(Clone)]
pub struct Custom {
    pub mint: Mint,
    pub format: Format,
    pub accept: bool,
    pub seen: Arc<Mutex<Vec<String>>>,
}

impl Custom {
    /// Invoices of `price_sat` from `node`, formatted by `format`.
    pub fn new(
        node: &MockNode,
        price_sat: u64,
        format: impl Fn(&str, &str) -> Vec<String> + Send + Sync + 'static,
    ) -> Self {
        let node = node.clone();
        Custom {
            mint: Arc::new(move || {
                let created = node
                    .create_invoice_at(&InvoiceRequest::new(sat(price_sat)), SystemTime::now())
                    .unwrap();
                (
                    macaroon_for(created.payment_hash),
                    created.invoice.to_string(),
                )
            }),
            format: Arc::new(format),
            accept: true,
            seen: Arc::default(),
        }
    }

    pub fn with_mint(
        mut self,
        mint: impl Fn() -> (Macaroon, String) + Send + Sync + 'static,
    ) -> Self {
        self.mint = Arc::new(mint);
        self
    }

    pub fn rejecting(mut self) -> Self {
        self.accept = false;
        self
    }

    pub async fn serve(&self) -> String {
        let app = Router::new()
            .route("/", get(custom_handler).post(custom_handler))
            .with_state(self.clone());
        serve(app).await
    }

    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// Aperture's two fields.
pub fn aperture_format(mac: &str, inv: &str) -> Vec<String> {
    vec![
        format!("LSAT macaroon=\"{mac}\", invoice=\"{inv}\""),
        format!("L402 macaroon=\"{mac}\", invoice=\"{inv}\""),
    ]
}

/// Reads the whole body before answering (as a server that validates input first does),
/// so that a client streaming a body sees the 402 rather than a closed connection.
async fn custom_handler(
    State(s): State<Custom>,
    headers: HeaderMap,
    _body: axum::body::Bytes,
) -> Response {
    if let Some(v) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        s.seen.lock().unwrap().push(v.to_owned());
    }
    if s.accept
        && let Ok(Some(c)) = Credential::from_headers(&headers)
        && let Ok(id) = Identifier::decode(c.macaroon().identifier())
        && id.payment_hash().matches(c.preimage())
    {
        return (StatusCode::OK, "paid").into_response();
    }
    let (mac, inv) = (s.mint)();
    let mut res = (StatusCode::PAYMENT_REQUIRED, "payment required").into_response();
    for v in (s.format)(&mac.to_base64(), &inv) {
        res.headers_mut()
            .append(WWW_AUTHENTICATE, HeaderValue::from_str(&v).unwrap());
    }
    res
}

/// A payer whose lookups can be switched off (the node's API is down for lookups only).
#[derive(Clone)]
pub struct FlakyPayer {
    pub node: MockNode,
    pub lookups_down: Arc<std::sync::atomic::AtomicBool>,
    /// The next this-many lookups answer `Unknown`, as a node does for a payment it has
    /// not recorded yet.
    pub unknown_lookups: Arc<std::sync::atomic::AtomicUsize>,
}

impl FlakyPayer {
    pub fn new(node: &MockNode) -> Self {
        FlakyPayer {
            node: node.clone(),
            lookups_down: Arc::default(),
            unknown_lookups: Arc::default(),
        }
    }
}

impl PaymentBackend for FlakyPayer {
    async fn pay_invoice(
        &self,
        invoice: &Bolt11Invoice,
        params: &PayParams,
    ) -> Result<PaymentSuccess, PayError> {
        self.node.pay_invoice(invoice, params).await
    }

    async fn lookup_payment(&self, hash: &PaymentHash) -> Result<PaymentStatus, BackendError> {
        if self.lookups_down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(BackendError::transient("lookups are down"));
        }
        let unknown = self.unknown_lookups.fetch_update(
            std::sync::atomic::Ordering::SeqCst,
            std::sync::atomic::Ordering::SeqCst,
            |n| n.checked_sub(1),
        );
        if unknown.is_ok() {
            return Ok(PaymentStatus::Unknown);
        }
        self.node.lookup_payment(hash).await
    }
}

/// A fresh directory under the system temp dir.
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "l402-reqwest-it-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}
