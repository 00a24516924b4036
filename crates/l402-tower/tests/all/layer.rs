//! Layer tests through `tower::ServiceExt::oneshot`: no sockets.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::routing::get;
use http::header::{AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use l402_core::root_key::BoxError;
use l402_core::{
    Amount, Caveat, Challenge, Credential, MemoryRootKeyStore, MintRequest, Preimage, RootKey,
    RootKeyError, RootKeyStore, Scheme, Service, TokenId, UnknownCaveats, Verifier, mint,
};
use l402_mock::MockNode;
use l402_tower::{
    BuildError, L402Layer, L402LayerBuilder, MemoryFreeAllowance, Price, PriceRequest, Route,
};
use tower::{ServiceExt, service_fn};

use crate::support::*;

fn paywall(net: &Net) -> L402LayerBuilder<MockNode, Arc<MemoryRootKeyStore>> {
    L402Layer::builder(net.server.clone(), Arc::clone(&net.store))
        .service("weather")
        .price_sat(10)
}

fn weather_app(layer: L402Layer<MockNode, Arc<MemoryRootKeyStore>>) -> Router {
    Router::new()
        .route("/forecast", get(echo_receipt))
        .route("/premium", get(echo_receipt))
        .route("/health", get(echo_receipt))
        .route_layer(layer)
}

async fn send(app: &Router, req: Request<axum::body::Body>) -> Response<axum::body::Body> {
    app.clone().oneshot(req).await.unwrap()
}

/// Gets a challenge at `path` and pays it.
async fn buy(net: &Net, app: &Router, path: &str) -> Credential {
    let res = send(app, req(path)).await;
    assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
    net.pay(res.headers()).await.1
}

#[tokio::test]
async fn no_credential_gets_an_exact_402_challenge() {
    let net = Net::new();
    let layer = paywall(&net)
        .tier(2)
        .capabilities(&["basic"])
        .validity(Duration::from_secs(3600))
        .memo("weather api")
        .invoice_expiry(Duration::from_secs(600))
        .build()
        .unwrap();
    let res = send(&weather_app(layer), req("/forecast")).await;
    assert_challenge(res.headers(), res.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(
        res.headers().get("content-type").unwrap(),
        "text/plain; charset=utf-8"
    );

    let challenge = Challenge::from_headers(res.headers()).unwrap();
    let invoice = challenge.decode_invoice().unwrap();
    assert_eq!(invoice.amount_milli_satoshis(), Some(10_000));
    assert_eq!(invoice.expiry_time(), Duration::from_secs(600));
    assert_eq!(
        invoice.description().to_string(),
        "weather api",
        "memo is the invoice description"
    );
    let mac = challenge.macaroon();
    assert_eq!(mac.location(), Some("lsat"));
    let caveats: Vec<&str> = mac.caveats().collect();
    assert_eq!(caveats[0], "services=weather:2");
    assert_eq!(caveats[1], "weather_capabilities=basic");
    assert!(caveats[2].starts_with("weather_valid_until="));
    let until: u64 = caveats[2]["weather_valid_until=".len()..].parse().unwrap();
    let now = l402_core::unix_seconds(SystemTime::now());
    assert!(
        (now + 3590..=now + 3601).contains(&until),
        "{until} vs {now}"
    );
    assert_eq!(body_string(res.into_body()).await, "payment required");
    assert_eq!(net.server.invoices().len(), 1);
}

#[tokio::test]
async fn paid_credential_passes_with_the_receipt() {
    let net = Net::new();
    let app = weather_app(
        paywall(&net)
            .tier(1)
            .capabilities(&["basic"])
            .build()
            .unwrap(),
    );
    let credential = buy(&net, &app, "/forecast").await;
    for scheme in [Scheme::L402, Scheme::Lsat] {
        let res = send(&app, get_with("/forecast", &credential, scheme)).await;
        assert_eq!(res.status(), StatusCode::OK, "{scheme}");
        let body = body_string(res.into_body()).await;
        let token_id = l402_core::Identifier::decode(credential.macaroon().identifier())
            .unwrap()
            .token_id()
            .to_hex();
        assert_eq!(
            body,
            format!("paid {token_id} weather tier=1 caps=Some([\"basic\"])")
        );
    }
    // The token is reusable on every route of the service, and minted only once.
    let res = send(&app, get_with("/premium", &credential, Scheme::L402)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(net.server.invoices().len(), 1);
}

#[tokio::test]
async fn lowercase_scheme_and_macaroon_headers_are_accepted() {
    let net = Net::new();
    let app = weather_app(paywall(&net).build().unwrap());
    let credential = buy(&net, &app, "/forecast").await;
    let mac = credential.macaroon().to_base64();
    let pre = credential.preimage().expose_hex();
    let value = HeaderValue::from_str(&format!("lsat   {mac}:{}", pre.to_uppercase())).unwrap();
    assert_eq!(
        send(&app, get_with_raw("/forecast", value)).await.status(),
        StatusCode::OK
    );

    // Macaroon header: hex macaroon with a preimage caveat.
    let mut m = credential.macaroon().clone();
    m.add_first_party_caveat(format!("preimage={}", pre.as_str()))
        .unwrap();
    for header in ["macaroon", "grpc-metadata-macaroon"] {
        let mut request = req("/forecast");
        request
            .headers_mut()
            .insert(header, HeaderValue::from_str(&m.to_hex()).unwrap());
        assert_eq!(
            send(&app, request).await.status(),
            StatusCode::OK,
            "{header}"
        );
    }
}

#[tokio::test]
async fn lnget_style_appended_preimage_caveat() {
    let net = Net::new();
    let app = weather_app(paywall(&net).build().unwrap());
    let credential = buy(&net, &app, "/forecast").await;
    let pre = credential.preimage().expose_hex();
    let mut m = credential.macaroon().clone();
    m.add_first_party_caveat(format!("preimage={}", pre.as_str()))
        .unwrap();
    let with_caveat = Credential::new(m.clone(), credential.preimage().clone());
    let res = send(&app, get_with("/forecast", &with_caveat, Scheme::L402)).await;
    assert_eq!(res.status(), StatusCode::OK);

    // A preimage caveat holding another preimage is refused.
    let mut bad = credential.macaroon().clone();
    bad.add_first_party_caveat(format!("preimage={}", "ab".repeat(32)))
        .unwrap();
    let value =
        HeaderValue::from_str(&format!("L402 {}:{}", bad.to_base64(), pre.as_str())).unwrap();
    let res = send(&app, get_with_raw("/forecast", value)).await;
    assert_challenge(res.headers(), res.status(), StatusCode::PAYMENT_REQUIRED);
}

#[tokio::test]
async fn malformed_credentials_get_402_never_500() {
    let net = Net::new();
    let app = weather_app(paywall(&net).build().unwrap());
    let credential = buy(&net, &app, "/forecast").await;
    let mac = credential.macaroon().to_base64();
    let pre = credential.preimage().expose_hex();
    let junk: Vec<Vec<u8>> = vec![
        b"L402".to_vec(),
        b"L402 ".to_vec(),
        b"L402 :".to_vec(),
        b"L402 abc:def".to_vec(),
        b"LSAT !!!!:0000".to_vec(),
        format!("L402 {mac}").into_bytes(),
        format!("L402 {mac},{mac}:{}", pre.as_str()).into_bytes(),
        format!("L402 {mac}:{}", &pre[2..]).into_bytes(),
        format!("L402 {}:{}", &mac[4..], pre.as_str()).into_bytes(),
        format!("L402 {mac}:{}", "00".repeat(32)).into_bytes(), // unpaid: wrong preimage
        format!("L402 {}:{}", "A".repeat(20_000), pre.as_str()).into_bytes(),
        vec![b'L', b'4', b'0', b'2', b' ', 0xff, 0xfe, b':', b'0'],
        b"L402 AgJ=:00".to_vec(),
    ];
    for value in junk {
        let value = HeaderValue::from_bytes(&value).unwrap();
        let res = send(&app, get_with_raw("/forecast", value.clone())).await;
        assert_challenge(res.headers(), res.status(), StatusCode::PAYMENT_REQUIRED);
    }
    // Conflicting credentials in one request.
    let other = Credential::new(credential.macaroon().clone(), Preimage::from_bytes([3; 32]));
    let mut request = get_with("/forecast", &credential, Scheme::L402);
    request
        .headers_mut()
        .append(AUTHORIZATION, other.to_header_value(Scheme::L402).unwrap());
    let res = send(&app, request).await;
    assert_challenge(res.headers(), res.status(), StatusCode::PAYMENT_REQUIRED);
    // Too many values.
    let mut request = req("/forecast");
    for _ in 0..20 {
        request.headers_mut().append(
            AUTHORIZATION,
            credential.to_header_value(Scheme::L402).unwrap(),
        );
    }
    let res = send(&app, request).await;
    assert_challenge(res.headers(), res.status(), StatusCode::PAYMENT_REQUIRED);
    // Junk macaroon header.
    let mut request = req("/forecast");
    request
        .headers_mut()
        .insert("macaroon", HeaderValue::from_static("zz"));
    let res = send(&app, request).await;
    assert_challenge(res.headers(), res.status(), StatusCode::PAYMENT_REQUIRED);
    // Other schemes are ignored: no credential, plain 402.
    let res = send(
        &app,
        get_with_raw("/forecast", HeaderValue::from_static("Bearer x")),
    )
    .await;
    assert_challenge(res.headers(), res.status(), StatusCode::PAYMENT_REQUIRED);
}

#[tokio::test]
async fn invalid_credentials_can_get_401() {
    let net = Net::new();
    let app = weather_app(paywall(&net).unauthorized_on_invalid(true).build().unwrap());
    // No credential: still 402.
    let res = send(&app, req("/forecast")).await;
    assert_challenge(res.headers(), res.status(), StatusCode::PAYMENT_REQUIRED);
    let (_, credential) = net.pay(res.headers()).await;
    // Invalid: 401 with a fresh challenge.
    let unpaid = Credential::new(credential.macaroon().clone(), Preimage::from_bytes([9; 32]));
    let res = send(&app, get_with("/forecast", &unpaid, Scheme::L402)).await;
    assert_challenge(res.headers(), res.status(), StatusCode::UNAUTHORIZED);
    let res = send(
        &app,
        get_with_raw("/forecast", HeaderValue::from_static("L402 x")),
    )
    .await;
    assert_challenge(res.headers(), res.status(), StatusCode::UNAUTHORIZED);
    // Valid: 200.
    let res = send(&app, get_with("/forecast", &credential, Scheme::L402)).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn tampered_tokens_are_refused() {
    let net = Net::new();
    let app = weather_app(paywall(&net).capabilities(&["basic"]).build().unwrap());
    let credential = buy(&net, &app, "/forecast").await;
    // Rewrite a caveat in the encoded macaroon without re-signing.
    let bytes = credential.macaroon().encode();
    let needle = b"weather_capabilities=basic";
    let pos = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    let mut tampered = bytes.clone();
    tampered[pos + needle.len() - 5..pos + needle.len()].copy_from_slice(b"admin");
    let mac = l402_core::Macaroon::decode(&tampered).unwrap();
    let forged = Credential::new(mac, credential.preimage().clone());
    let res = send(&app, get_with("/forecast", &forged, Scheme::L402)).await;
    assert_challenge(res.headers(), res.status(), StatusCode::PAYMENT_REQUIRED);
}

#[tokio::test]
async fn widened_tokens_are_refused() {
    let net = Net::new();
    let layer = paywall(&net)
        .capabilities(&["basic"])
        .validity(Duration::from_secs(60))
        .build()
        .unwrap();
    let app = weather_app(layer);
    let credential = buy(&net, &app, "/forecast").await;
    let far = l402_core::unix_seconds(SystemTime::now()) + 1_000_000;
    for caveat in [
        format!("weather_valid_until={far}"),
        "weather_capabilities=basic,admin".to_owned(),
        "services=weather:0,other:0".to_owned(),
        "services=weather:5".to_owned(),
    ] {
        let mut m = credential.macaroon().clone();
        m.add_first_party_caveat(caveat.clone()).unwrap();
        let widened = Credential::new(m, credential.preimage().clone());
        let res = send(&app, get_with("/forecast", &widened, Scheme::L402)).await;
        assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED, "{caveat}");
    }
    // Narrowing is fine.
    let mut m = credential.macaroon().clone();
    m.add_first_party_caveat("weather_capabilities=").unwrap();
    let narrowed = Credential::new(m, credential.preimage().clone());
    let res = send(&app, get_with("/forecast", &narrowed, Scheme::L402)).await;
    assert_eq!(res.status(), StatusCode::OK);
}

/// A token minted directly in the layer's store, with a known preimage.
async fn forge(
    store: &MemoryRootKeyStore,
    request: impl FnOnce(MintRequest) -> MintRequest,
) -> Credential {
    let preimage = Preimage::random().unwrap();
    let req = request(MintRequest::new(preimage.payment_hash()));
    let mac = mint(store, &req).await.unwrap();
    Credential::new(mac, preimage)
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let net = Net::new();
    let app = weather_app(paywall(&net).build().unwrap());
    let weather = Service::new("weather").unwrap();
    let past = SystemTime::now() - Duration::from_secs(10);
    let expired = forge(&net.store, |r| r.service(weather.clone()).valid_until(past)).await;
    let res = send(&app, get_with("/forecast", &expired, Scheme::L402)).await;
    assert_challenge(res.headers(), res.status(), StatusCode::PAYMENT_REQUIRED);
    let future = SystemTime::now() + Duration::from_secs(60);
    let live = forge(&net.store, |r| r.service(weather).valid_until(future)).await;
    let res = send(&app, get_with("/forecast", &live, Scheme::L402)).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn tokens_for_another_service_or_unknown_tokens_are_refused() {
    let net = Net::new();
    // Two services sharing one store and node: a token bought for one is refused by the other.
    let weather = weather_app(paywall(&net).build().unwrap());
    let maps = Router::new().route("/maps", get(echo_receipt)).route_layer(
        L402Layer::builder(net.server.clone(), Arc::clone(&net.store))
            .service("maps")
            .price_sat(10)
            .build()
            .unwrap(),
    );
    let credential = buy(&net, &weather, "/forecast").await;
    assert_eq!(
        send(&weather, get_with("/forecast", &credential, Scheme::L402))
            .await
            .status(),
        StatusCode::OK
    );
    let res = send(&maps, get_with("/maps", &credential, Scheme::L402)).await;
    assert_challenge(res.headers(), res.status(), StatusCode::PAYMENT_REQUIRED);

    // A token whose root key is not in the store (another server's, or revoked).
    let other_store = MemoryRootKeyStore::new();
    let unknown = forge(&other_store, |r| {
        r.service(Service::new("weather").unwrap())
    })
    .await;
    let res = send(&weather, get_with("/forecast", &unknown, Scheme::L402)).await;
    assert_challenge(res.headers(), res.status(), StatusCode::PAYMENT_REQUIRED);
    // Revocation.
    let token_id = *l402_core::Identifier::decode(credential.macaroon().identifier())
        .unwrap()
        .token_id();
    net.store.revoke(&token_id).await.unwrap();
    let res = send(&weather, get_with("/forecast", &credential, Scheme::L402)).await;
    assert_challenge(res.headers(), res.status(), StatusCode::PAYMENT_REQUIRED);
}

#[tokio::test]
async fn capabilities_are_enforced_per_route() {
    let net = Net::new();
    let layer = paywall(&net)
        .capabilities(&["basic"])
        .route(
            Route::exact("/premium")
                .price_sat(50)
                .capability("premium")
                .grants(&["basic", "premium"]),
        )
        .build()
        .unwrap();
    let app = weather_app(layer);
    let basic = buy(&net, &app, "/forecast").await;
    assert_eq!(
        send(&app, get_with("/forecast", &basic, Scheme::L402))
            .await
            .status(),
        StatusCode::OK
    );
    // A basic token does not open the premium route: a fresh, pricier challenge.
    let res = send(&app, get_with("/premium", &basic, Scheme::L402)).await;
    assert_challenge(res.headers(), res.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(invoice_amount(res.headers()), Amount::from_sat(50).unwrap());
    let (_, premium) = net.pay(res.headers()).await;
    let res = send(&app, get_with("/premium", &premium, Scheme::L402)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(body_string(res.into_body()).await.contains("\"premium\""));
    // An attenuated premium token that dropped the capability is refused there.
    let mut m = premium.macaroon().clone();
    m.add_first_party_caveat("weather_capabilities=basic")
        .unwrap();
    let narrowed = Credential::new(m, premium.preimage().clone());
    assert_eq!(
        send(&app, get_with("/premium", &narrowed, Scheme::L402))
            .await
            .status(),
        StatusCode::PAYMENT_REQUIRED
    );
    assert_eq!(
        send(&app, get_with("/forecast", &narrowed, Scheme::L402))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn backend_failure_is_503_without_node_text() {
    let net = Net::new();
    let app = weather_app(
        paywall(&net)
            .retry_after(Duration::from_secs(7))
            .build()
            .unwrap(),
    );
    for fault in ["fail_invoices", "unreachable"] {
        match fault {
            "fail_invoices" => net.server.faults().fail_invoices(true),
            _ => net.server.faults().unreachable(true),
        };
        let res = send(&app, req("/forecast")).await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE, "{fault}");
        assert_eq!(res.headers().get(RETRY_AFTER).unwrap(), "7");
        assert!(res.headers().get(WWW_AUTHENTICATE).is_none());
        let body = body_string(res.into_body()).await;
        assert_eq!(body, "payment service temporarily unavailable");
        net.server.faults().clear();
    }
    assert_eq!(
        send(&app, req("/forecast")).await.status(),
        StatusCode::PAYMENT_REQUIRED
    );
}

/// A store whose operations can be made to fail, counting lookups.
#[derive(Default)]
struct FlakyStore {
    inner: MemoryRootKeyStore,
    fail_lookup: Mutex<bool>,
    fail_create: Mutex<bool>,
    lookups: Mutex<u32>,
}

impl RootKeyStore for FlakyStore {
    async fn create(
        &self,
        token_id: &TokenId,
        expires_at: Option<SystemTime>,
    ) -> Result<RootKey, RootKeyError> {
        if *self.fail_create.lock().unwrap() {
            return Err(RootKeyError::Unavailable(BoxError::from(
                "db on fire at 10.0.0.7",
            )));
        }
        self.inner.create(token_id, expires_at).await
    }
    async fn lookup(&self, token_id: &TokenId) -> Result<Vec<RootKey>, RootKeyError> {
        *self.lookups.lock().unwrap() += 1;
        if *self.fail_lookup.lock().unwrap() {
            return Err(RootKeyError::Unavailable(BoxError::from(
                "db on fire at 10.0.0.7",
            )));
        }
        self.inner.lookup(token_id).await
    }
    async fn revoke(&self, token_id: &TokenId) -> Result<(), RootKeyError> {
        self.inner.revoke(token_id).await
    }
}

#[tokio::test]
async fn store_failures_fail_closed_with_503_and_no_lookup_before_the_preimage_check() {
    let net = Net::new();
    let store = Arc::new(FlakyStore::default());
    let layer = L402Layer::builder(net.server.clone(), Arc::clone(&store))
        .service("weather")
        .price_sat(10)
        .build()
        .unwrap();
    let app = Router::new()
        .route("/forecast", get(echo_receipt))
        .route_layer(layer);
    let res = send(&app, req("/forecast")).await;
    let (_, credential) = net.pay(res.headers()).await;

    // Wrong preimage: refused without touching the store.
    let unpaid = Credential::new(credential.macaroon().clone(), Preimage::from_bytes([1; 32]));
    let res = send(&app, get_with("/forecast", &unpaid, Scheme::L402)).await;
    assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(*store.lookups.lock().unwrap(), 0);

    // Store down while verifying: 503, not 402 and not a pass.
    *store.fail_lookup.lock().unwrap() = true;
    let res = send(&app, get_with("/forecast", &credential, Scheme::L402)).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers().get(RETRY_AFTER).unwrap(), "5");
    let body = body_string(res.into_body()).await;
    assert!(
        !body.contains("10.0.0.7") && !body.contains("fire"),
        "{body}"
    );
    *store.fail_lookup.lock().unwrap() = false;
    assert_eq!(
        send(&app, get_with("/forecast", &credential, Scheme::L402))
            .await
            .status(),
        StatusCode::OK
    );

    // Store down while minting: 503.
    *store.fail_create.lock().unwrap() = true;
    let res = send(&app, req("/forecast")).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().get(RETRY_AFTER).is_some());
    assert_eq!(
        body_string(res.into_body()).await,
        "payment service temporarily unavailable"
    );
}

fn grpc(path: &str) -> Request<axum::body::Body> {
    let mut r = req(path);
    *r.method_mut() = Method::POST;
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/grpc+proto"),
    );
    r
}

#[tokio::test]
async fn grpc_callers_get_200_with_grpc_status() {
    let net = Net::new();
    let app = Router::new()
        .route("/pkg.Svc/Method", axum::routing::post(echo_receipt))
        .route_layer(paywall(&net).build().unwrap());
    let res = send(&app, grpc("/pkg.Svc/Method")).await;
    assert_challenge(res.headers(), res.status(), StatusCode::OK);
    assert_eq!(res.headers().get("grpc-status").unwrap(), "13");
    assert_eq!(
        res.headers().get("grpc-message").unwrap(),
        "payment required"
    );
    assert_eq!(
        res.headers().get("content-type").unwrap(),
        "application/grpc"
    );
    let (_, credential) = net.pay(res.headers()).await;
    // gRPC clients send the credential as metadata: Authorization works.
    let mut request = grpc("/pkg.Svc/Method");
    request.headers_mut().insert(
        AUTHORIZATION,
        credential.to_header_value(Scheme::L402).unwrap(),
    );
    let res = send(&app, request).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("grpc-status").is_none());
    // Backend down: grpc-status 14.
    net.server.faults().unreachable(true);
    let res = send(&app, grpc("/pkg.Svc/Method")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers().get("grpc-status").unwrap(), "14");
    assert!(res.headers().get(RETRY_AFTER).is_some());
}

#[tokio::test]
async fn free_prices_pass_through_without_touching_the_node() {
    let net = Net::new();
    // Free by default, one priced route, one explicitly free route.
    let layer = L402Layer::builder(net.server.clone(), Arc::clone(&net.store))
        .service("weather")
        .price(Amount::ZERO)
        .route(Route::exact("/premium").price(Amount::from_msat(1)))
        .route(Route::exact("/health").free())
        .build()
        .unwrap();
    let app = weather_app(layer);
    for path in ["/forecast", "/health"] {
        let res = send(&app, req(path)).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(body_string(res.into_body()).await, "free");
    }
    // Even junk credentials pass on a free route.
    let res = send(
        &app,
        get_with_raw("/health", HeaderValue::from_static("L402 junk")),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(net.server.invoices().len(), 0);
    let res = send(&app, req("/premium")).await;
    assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(invoice_amount(res.headers()), Amount::from_msat(1));

    // Dynamic: free is an explicit answer.
    let layer = L402Layer::builder(net.server.clone(), Arc::clone(&net.store))
        .service("weather")
        .pricer(|req: &PriceRequest<'_>| {
            let price = match req.path() {
                "/forecast" | "/health" => Price::Free,
                _ => Price::from_msat(5_000),
            };
            async move { Ok(price) }
        })
        .build()
        .unwrap();
    let app = weather_app(layer);
    assert_eq!(send(&app, req("/forecast")).await.status(), StatusCode::OK);
    assert_eq!(send(&app, req("/health")).await.status(), StatusCode::OK);
    let res = send(&app, req("/premium")).await;
    assert_eq!(invoice_amount(res.headers()), Amount::from_msat(5_000));
}

#[tokio::test]
async fn dynamic_pricer_sees_method_path_and_headers() {
    let net = Net::new();
    type Seen = Vec<(Method, String, Option<String>)>;
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let log = Arc::clone(&seen);
    let layer = L402Layer::builder(net.server.clone(), Arc::clone(&net.store))
        .service("weather")
        .pricer(move |req: &PriceRequest<'_>| {
            let units = req
                .headers()
                .get("x-units")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            log.lock()
                .unwrap()
                .push((req.method().clone(), req.uri().to_string(), units.clone()));
            let n: u64 = units.and_then(|u| u.parse().ok()).unwrap_or(1);
            async move { Ok(Price::from_msat(1_000 * n)) }
        })
        .build()
        .unwrap();
    let app = Router::new()
        .route("/compute", axum::routing::post(echo_receipt))
        .route_layer(layer);
    let mut request = Request::post("/compute?fast=1")
        .header("x-units", "42")
        .body(axum::body::Body::empty())
        .unwrap();
    let res = send(&app, request).await;
    assert_eq!(invoice_amount(res.headers()), Amount::from_msat(42_000));
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        &[(
            Method::POST,
            "/compute?fast=1".to_owned(),
            Some("42".to_owned())
        )]
    );
    // A valid token is not priced again.
    let (_, credential) = net.pay(res.headers()).await;
    request = Request::post("/compute")
        .header(
            AUTHORIZATION,
            credential.to_header_value(Scheme::L402).unwrap(),
        )
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(send(&app, request).await.status(), StatusCode::OK);
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn route_table_prices_and_methods() {
    let net = Net::new();
    let layer = paywall(&net)
        .route(Route::prefix("/premium").method(Method::GET).price_sat(99))
        .route(Route::exact("/forecast").price(Amount::from_msat(2_500)))
        // Only the prices are under test here: any token opens every route.
        .allow_cheap_tokens_on_dear_routes()
        .build()
        .unwrap();
    let app = Router::new()
        .route("/forecast", get(echo_receipt))
        .route("/premium", get(echo_receipt).post(echo_receipt))
        .route_layer(layer);
    let res = send(&app, req("/forecast")).await;
    assert_eq!(invoice_amount(res.headers()), Amount::from_msat(2_500));
    let res = send(&app, req("/premium")).await;
    assert_eq!(invoice_amount(res.headers()), Amount::from_sat(99).unwrap());
    let request = Request::post("/premium")
        .body(axum::body::Body::empty())
        .unwrap();
    let res = send(&app, request).await;
    assert_eq!(
        invoice_amount(res.headers()),
        Amount::from_sat(10).unwrap(),
        "default price"
    );
}

#[tokio::test]
async fn one_layer_per_route() {
    let net = Net::new();
    let cheap = paywall(&net).price_sat(1).build().unwrap();
    let dear = paywall(&net).price_sat(1_000).build().unwrap();
    let app = Router::new()
        .route("/cheap", get(echo_receipt).route_layer(cheap))
        .route("/dear", get(echo_receipt).route_layer(dear));
    assert_eq!(
        invoice_amount(send(&app, req("/cheap")).await.headers()),
        Amount::from_sat(1).unwrap()
    );
    assert_eq!(
        invoice_amount(send(&app, req("/dear")).await.headers()),
        Amount::from_sat(1_000).unwrap()
    );
    // route_layer: unknown paths are 404, not 402.
    assert_eq!(
        send(&app, req("/nope")).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn free_allowance_then_payment() {
    let net = Net::new();
    let layer = paywall(&net)
        .free_allowance(MemoryFreeAllowance::new(2), |req: &PriceRequest<'_>| {
            req.headers()
                .get("x-api-key")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .build()
        .unwrap();
    let app = weather_app(layer);
    let keyed = |key: &'static str| {
        let mut r = req("/forecast");
        r.headers_mut()
            .insert("x-api-key", HeaderValue::from_static(key));
        r
    };
    for _ in 0..2 {
        let res = send(&app, keyed("alice")).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(body_string(res.into_body()).await, "free");
    }
    let res = send(&app, keyed("alice")).await;
    assert_challenge(res.headers(), res.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(send(&app, keyed("bob")).await.status(), StatusCode::OK);
    // No key: pays.
    assert_eq!(
        send(&app, req("/forecast")).await.status(),
        StatusCode::PAYMENT_REQUIRED
    );
    assert_eq!(net.server.invoices().len(), 2);
}

#[tokio::test]
async fn unknown_caveat_policy_is_configurable() {
    let net = Net::new();
    let strict = weather_app(paywall(&net).build().unwrap());
    let lenient = weather_app(
        paywall(&net)
            .verifier(
                Verifier::builder()
                    .unknown_caveats(UnknownCaveats::Ignore)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap(),
    );
    let credential = buy(&net, &strict, "/forecast").await;
    let mut m = credential.macaroon().clone();
    m.add_first_party_caveat("ip=10.0.0.1").unwrap();
    let restricted = Credential::new(m, credential.preimage().clone());
    assert_eq!(
        send(&strict, get_with("/forecast", &restricted, Scheme::L402))
            .await
            .status(),
        StatusCode::PAYMENT_REQUIRED
    );
    assert_eq!(
        send(&lenient, get_with("/forecast", &restricted, Scheme::L402))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn user_caveats_and_location_are_minted() {
    let net = Net::new();
    let layer = paywall(&net)
        .verifier(
            Verifier::builder()
                .unknown_caveats(UnknownCaveats::Ignore)
                .build()
                .unwrap(),
        )
        .caveat(Caveat::new("plan", "hobby").unwrap())
        .location("https://api.example.com")
        .build()
        .unwrap();
    let app = weather_app(layer);
    let res = send(&app, req("/forecast")).await;
    let challenge = Challenge::from_headers(res.headers()).unwrap();
    assert_eq!(
        challenge.macaroon().location(),
        Some("https://api.example.com")
    );
    assert_eq!(challenge.macaroon().caveats().last().unwrap(), "plan=hobby");
    let (_, credential) = net.pay(res.headers()).await;
    assert_eq!(
        send(&app, get_with("/forecast", &credential, Scheme::L402))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn builder_validates() {
    let net = Net::new();
    let base = || L402Layer::builder(net.server.clone(), Arc::clone(&net.store));
    assert_eq!(
        base().price_sat(1).build().unwrap_err(),
        BuildError::MissingService
    );
    assert_eq!(
        base().service("w").build().unwrap_err(),
        BuildError::MissingPrice
    );
    assert!(matches!(
        base().service("a b").price_sat(1).build(),
        Err(BuildError::Service(_))
    ));
    assert_eq!(
        base().service("w").price_sat(u64::MAX).build().unwrap_err(),
        BuildError::PriceOverflow
    );
    assert_eq!(
        base()
            .service("w")
            .price_sat(1)
            .route(Route::exact("/x").price_sat(u64::MAX))
            .build()
            .unwrap_err(),
        BuildError::PriceOverflow
    );
    assert_eq!(
        base()
            .service("w")
            .price_sat(1)
            .capabilities(&["a"])
            .require_capability("b")
            .build()
            .unwrap_err(),
        BuildError::CapabilityNotGranted("b".into())
    );
    assert_eq!(
        base()
            .service("w")
            .price_sat(1)
            .route(Route::exact("/x").capability("b").grants(&["a"]))
            .build()
            .unwrap_err(),
        BuildError::CapabilityNotGranted("b".into())
    );
    assert!(matches!(
        base()
            .service("w")
            .price_sat(1)
            .require_capability("a b")
            .build(),
        Err(BuildError::Capability(_))
    ));
    assert!(matches!(
        base()
            .service("w")
            .price_sat(1)
            .capabilities(&["a,b"])
            .build(),
        Err(BuildError::Capability(_))
    ));
    assert_eq!(
        base()
            .service("w")
            .price_sat(1)
            .tier(1)
            .min_tier(2)
            .build()
            .unwrap_err(),
        BuildError::TierTooLow {
            tier: 1,
            required: 2
        }
    );
    assert_eq!(
        base()
            .service("w")
            .price_sat(1)
            .caveat(Caveat::new("plan", "x").unwrap())
            .build()
            .unwrap_err(),
        BuildError::UnverifiableCaveat("plan".into())
    );
    assert_eq!(
        base()
            .service("w")
            .price_sat(1)
            .caveat(Caveat::new("w_valid_until", "1").unwrap())
            .build()
            .unwrap_err(),
        BuildError::ReservedCaveat("w_valid_until".into())
    );
    assert_eq!(
        base()
            .service("w")
            .price_sat(1)
            .validity(Duration::from_millis(500))
            .build()
            .unwrap_err(),
        BuildError::ValidityTooShort
    );
    assert_eq!(
        base()
            .service("w")
            .price_sat(1)
            .invoice_expiry(Duration::ZERO)
            .build()
            .unwrap_err(),
        BuildError::ZeroInvoiceExpiry
    );
    assert_eq!(
        base()
            .service("w")
            .price_sat(1)
            .memo("m".repeat(640))
            .build()
            .unwrap_err(),
        BuildError::MemoTooLong(640)
    );
    assert!(
        base()
            .service("w")
            .price_sat(1)
            .capabilities(&["a"])
            .require_capability("a")
            .build()
            .is_ok()
    );
}

/// A non-axum service with a body that only has `Default` (as tonic's): `empty_bodies`.
#[tokio::test]
async fn works_with_plain_tower_services_and_default_only_bodies() {
    use bytes_body::Empty;
    let net = Net::new();
    let layer = paywall(&net).build().unwrap().empty_bodies();
    let svc = tower::ServiceBuilder::new()
        .layer(layer)
        .service(service_fn(|req: Request<()>| async move {
            let paid = req.extensions().get::<l402_core::Receipt>().is_some();
            let status = if paid {
                StatusCode::OK
            } else {
                StatusCode::IM_A_TEAPOT
            };
            Ok::<_, std::convert::Infallible>(
                Response::builder()
                    .status(status)
                    .body(Empty::new())
                    .unwrap(),
            )
        }));
    let res = svc
        .clone()
        .oneshot(Request::get("/x").body(()).unwrap())
        .await
        .unwrap();
    assert_challenge(res.headers(), res.status(), StatusCode::PAYMENT_REQUIRED);
    let (_, credential) = net.pay(res.headers()).await;
    let req = Request::get("/x")
        .header(
            AUTHORIZATION,
            credential.to_header_value(Scheme::L402).unwrap(),
        )
        .body(())
        .unwrap();
    assert_eq!(svc.oneshot(req).await.unwrap().status(), StatusCode::OK);
}

mod bytes_body {
    /// `http_body_util::Empty<Bytes>`: `Default`, no `From<&str>`.
    pub type Empty = http_body_util::Empty<axum::body::Bytes>;
}
