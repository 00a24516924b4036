//! The `Payment` scheme (charge intent) through the layer: offers, verification, single
//! use, problem bodies, gRPC, store outages.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::routing::get;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use l402_core::backend::PayParams;
use l402_core::lightning_invoice::Bolt11Invoice;
use l402_core::payment_scheme::{
    ChallengeIdSecret, ChargeRequest, ChargeStore, ChargeStoreError, Consumption,
    MemoryChargeStore, PAYMENT_RECEIPT, PaymentChallenge, PaymentCredential, PaymentReceipt,
    Problem,
};
use l402_core::root_key::BoxError;
use l402_core::{
    Amount, Challenge, Credential, MasterSecret, MemoryRootKeyStore, PaymentBackend, PaymentHash,
    Preimage, Scheme,
};
use l402_mock::MockNode;
use l402_tower::{
    BuildError, L402Layer, L402LayerBuilder, Offers, PaymentCharge, Route, VerifiedCharge,
};
use tower::ServiceExt;

use crate::support::*;

const PROBLEMS: &str = "https://paymentauth.org/problems/";

fn secret() -> ChallengeIdSecret {
    ChallengeIdSecret::derive_from(&MasterSecret::from_bytes(&[7; 32]).unwrap())
}

fn paywall(net: &Net, offers: Offers) -> L402LayerBuilder<MockNode, Arc<MemoryRootKeyStore>> {
    L402Layer::builder(net.server.clone(), Arc::clone(&net.store))
        .service("weather")
        .price_sat(10)
        .offers(offers)
        .payment_id_secret(secret())
}

async fn echo(
    charge: Option<axum::Extension<VerifiedCharge>>,
    extracted: Option<PaymentCharge>,
) -> String {
    assert_eq!(
        charge.as_ref().map(|c| &c.0),
        extracted.as_ref().map(|c| &c.0)
    );
    match charge {
        Some(axum::Extension(c)) => format!("charged {} sat for {}", c.amount_sat, c.payment_hash),
        None => "no charge".to_owned(),
    }
}

fn app(layer: L402Layer<MockNode, Arc<MemoryRootKeyStore>>) -> Router {
    Router::new()
        .route("/forecast", get(echo))
        .route("/cheap", get(echo))
        .route("/dear", get(echo))
        .route_layer(layer)
}

async fn send(app: &Router, req: Request<axum::body::Body>) -> Response<axum::body::Body> {
    app.clone().oneshot(req).await.unwrap()
}

fn www_authenticate(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// The one Payment charge challenge of a 402.
fn charge_challenge(headers: &HeaderMap) -> PaymentChallenge {
    let all = PaymentChallenge::from_headers(headers).unwrap();
    assert_eq!(all.len(), 1, "one Payment challenge");
    all.into_iter().next().unwrap()
}

/// Pays the invoice of `challenge` from `payer`, returns the preimage.
async fn pay_charge(payer: &MockNode, challenge: &PaymentChallenge) -> Preimage {
    let request = challenge.charge_request().unwrap();
    let invoice: Bolt11Invoice = request.check_invoice().unwrap();
    let params = PayParams::new(Amount::from_sat(1_000).unwrap(), Duration::from_secs(10));
    payer.pay_invoice(&invoice, &params).await.unwrap().preimage
}

fn with_auth(path: &str, value: &str) -> Request<axum::body::Body> {
    get_with_raw(path, HeaderValue::from_str(value).unwrap())
}

/// Asserts a Payment 402 with `problem` (the last path segment of its type).
async fn assert_problem(
    res: Response<axum::body::Body>,
    status: StatusCode,
    problem: &str,
) -> HeaderMap {
    assert_eq!(res.status(), status);
    let headers = res.headers().clone();
    assert_eq!(headers.get(CACHE_CONTROL).unwrap(), "no-store");
    assert_eq!(
        headers.get(CONTENT_TYPE).unwrap(),
        "application/problem+json"
    );
    let body = body_string(res.into_body()).await;
    let parsed: Problem = serde_json::from_str(&body).unwrap();
    assert_eq!(parsed.type_uri, format!("{PROBLEMS}{problem}"), "{body}");
    assert_eq!(parsed.status, status.as_u16());
    assert!(!parsed.title.is_empty());
    assert!(parsed.detail.is_some());
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["detail", "status", "title", "type"], "{body}");
    headers
}

/// Gets a Payment challenge at `path` and pays it: (challenge, preimage).
async fn buy(net: &Net, app: &Router, path: &str) -> (PaymentChallenge, Preimage) {
    let res = send(app, req(path)).await;
    let headers = assert_problem(res, StatusCode::PAYMENT_REQUIRED, "payment-required").await;
    let challenge = charge_challenge(&headers);
    let preimage = pay_charge(&net.payer, &challenge).await;
    (challenge, preimage)
}

fn credential(challenge: PaymentChallenge, preimage: &Preimage) -> String {
    PaymentCredential::new(challenge, preimage)
        .to_header_string()
        .to_string()
}

#[tokio::test]
async fn paid_charge_passes_once_with_a_receipt_and_a_replay_is_refused() {
    let net = Net::new();
    let app = app(paywall(&net, Offers::Payment).build().unwrap());
    let res = send(&app, req("/forecast")).await;
    let values = www_authenticate(res.headers());
    assert_eq!(values.len(), 1, "only the Payment offer: {values:?}");
    assert!(values[0].starts_with("Payment id=\""), "{values:?}");
    let headers = assert_problem(res, StatusCode::PAYMENT_REQUIRED, "payment-required").await;
    let challenge = charge_challenge(&headers);
    assert!(challenge.is_lightning_charge());
    assert_eq!(
        challenge.realm, "weather",
        "the realm defaults to the service name"
    );
    let request = challenge.charge_request().unwrap();
    assert_eq!(request.amount_sat, 10);
    let expires = challenge.expires_at().unwrap();
    let lifetime = expires.duration_since(SystemTime::now()).unwrap();
    assert!(lifetime <= Duration::from_secs(15 * 60) && lifetime > Duration::from_secs(14 * 60));

    let (payer_before, server_before) = (net.payer.balance(), net.server.balance());
    let preimage = pay_charge(&net.payer, &challenge).await;
    assert_eq!(net.server.balance().msat() - server_before.msat(), 10_000);
    assert!(payer_before.msat() - net.payer.balance().msat() >= 10_000);

    let auth = credential(challenge.clone(), &preimage);
    let res = send(&app, with_auth("/forecast", &auth)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers().get(CACHE_CONTROL).unwrap(), "private");
    let receipt = PaymentReceipt::from_headers(res.headers())
        .unwrap()
        .unwrap();
    assert_eq!(receipt.status, "success");
    assert_eq!(receipt.method, "lightning");
    assert_eq!(receipt.challenge_id.as_deref(), Some(challenge.id.as_str()));
    let hash = preimage.payment_hash();
    assert_eq!(receipt.reference, hash.to_string());
    let raw = res
        .headers()
        .get(PAYMENT_RECEIPT)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        !raw.contains(preimage.expose_hex().as_str()),
        "never the preimage"
    );
    assert_eq!(
        body_string(res.into_body()).await,
        format!("charged 10 sat for {hash}")
    );

    // Single use: the same credential again is refused, with a fresh challenge.
    let res = send(&app, with_auth("/forecast", &auth)).await;
    let headers = assert_problem(res, StatusCode::PAYMENT_REQUIRED, "verification-failed").await;
    let fresh = charge_challenge(&headers);
    assert_ne!(fresh.id, challenge.id);
    // The scheme name is case-insensitive: a replay in another case is refused too.
    let lower = auth.replacen("Payment", "payment", 1);
    let res = send(&app, with_auth("/forecast", &lower)).await;
    assert_problem(res, StatusCode::PAYMENT_REQUIRED, "verification-failed").await;
}

#[tokio::test]
async fn l402_only_routes_stay_exactly_as_before() {
    let net = Net::new();
    // The layer offers Payment; the route explicitly only L402.
    let layer = paywall(&net, Offers::Payment)
        .route(Route::exact("/forecast").offers(Offers::L402))
        .build()
        .unwrap();
    let res = send(&app(layer), req("/forecast")).await;
    assert_challenge(res.headers(), res.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(res.headers().len(), 5, "{:?}", res.headers()); // with content-length
    assert_eq!(
        res.headers().get(CONTENT_TYPE).unwrap(),
        "text/plain; charset=utf-8"
    );
    assert_eq!(body_string(res.into_body()).await, "payment required");

    // A Payment credential on an L402-only route is not looked at: the plain L402 402.
    let (challenge, preimage) = {
        let both = app(paywall(&net, Offers::Payment).build().unwrap());
        buy(&net, &both, "/forecast").await
    };
    let layer = paywall(&net, Offers::L402).build().unwrap();
    let res = send(
        &app(layer),
        with_auth("/forecast", &credential(challenge, &preimage)),
    )
    .await;
    assert_challenge(res.headers(), res.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(body_string(res.into_body()).await, "payment required");
}

#[tokio::test]
async fn both_offers_send_lsat_l402_then_payment_with_two_invoices() {
    let net = Net::new();
    let app = app(paywall(&net, Offers::Both).build().unwrap());
    let res = send(&app, req("/forecast")).await;
    let values = www_authenticate(res.headers());
    assert_eq!(values.len(), 3, "{values:?}");
    assert!(values[0].starts_with("LSAT macaroon=\""));
    assert!(values[1].starts_with("L402 macaroon=\""));
    assert!(values[2].starts_with("Payment id=\""));
    assert!(values[2].contains("intent=\"charge\""));
    let headers = assert_problem(res, StatusCode::PAYMENT_REQUIRED, "payment-required").await;
    let l402 = Challenge::from_headers(&headers).unwrap();
    let charge = charge_challenge(&headers);
    let l402_invoice = l402.decode_invoice().unwrap();
    let charge_invoice = charge.charge_request().unwrap().check_invoice().unwrap();
    assert_ne!(
        l402_invoice.payment_hash(),
        charge_invoice.payment_hash(),
        "two invoices"
    );
    assert_eq!(l402_invoice.amount_milli_satoshis(), Some(10_000));
    assert_eq!(charge_invoice.amount_milli_satoshis(), Some(10_000));

    // Either is accepted: the L402 token (reusable) and the charge (once).
    let (_, token) = net.pay(&headers).await;
    for _ in 0..2 {
        let res = send(&app, get_with("/forecast", &token, Scheme::L402)).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.headers().get(PAYMENT_RECEIPT).is_none());
    }
    let preimage = pay_charge(&net.payer, &charge).await;
    let res = send(&app, with_auth("/forecast", &credential(charge, &preimage))).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get(PAYMENT_RECEIPT).is_some());
}

#[tokio::test]
async fn a_tampered_challenge_is_an_invalid_challenge() {
    let net = Net::new();
    let app = app(paywall(&net, Offers::Payment).build().unwrap());
    let (challenge, preimage) = buy(&net, &app, "/forecast").await;

    // Another (cheaper) request: an amount the server did not ask for.
    let invoice = challenge.charge_request().unwrap().invoice;
    let mut cheaper = ChargeRequest::new(1, invoice);
    cheaper.payment_hash = Some(preimage.payment_hash());
    let mut tampered = challenge.clone();
    tampered.request = cheaper.encode().unwrap();
    let res = send(
        &app,
        with_auth("/forecast", &credential(tampered, &preimage)),
    )
    .await;
    assert_problem(res, StatusCode::PAYMENT_REQUIRED, "invalid-challenge").await;

    // A later expiry.
    let mut tampered = challenge.clone();
    tampered.expires = Some("2099-01-01T00:00:00Z".to_owned());
    let res = send(
        &app,
        with_auth("/forecast", &credential(tampered, &preimage)),
    )
    .await;
    assert_problem(res, StatusCode::PAYMENT_REQUIRED, "invalid-challenge").await;

    // Another realm, re-signed with another secret.
    let other = ChallengeIdSecret::from_bytes(&[9; 32]).unwrap();
    let tampered = challenge.clone().signed(&other);
    let res = send(
        &app,
        with_auth("/forecast", &credential(tampered, &preimage)),
    )
    .await;
    assert_problem(res, StatusCode::PAYMENT_REQUIRED, "invalid-challenge").await;

    // None of these consumed the charge: the genuine credential still passes once.
    let res = send(
        &app,
        with_auth("/forecast", &credential(challenge, &preimage)),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_expired_challenge_is_refused_even_when_paid() {
    let net = Net::new();
    let app = app(paywall(&net, Offers::Payment).build().unwrap());
    let (challenge, preimage) = buy(&net, &app, "/forecast").await;
    // The same request, signed by the server's secret, with an expiry in the past.
    let request = challenge.charge_request().unwrap();
    let past = SystemTime::now() - Duration::from_secs(1);
    let expired = PaymentChallenge::lightning_charge(&secret(), "weather", &request, past).unwrap();
    let res = send(
        &app,
        with_auth("/forecast", &credential(expired, &preimage)),
    )
    .await;
    assert_problem(res, StatusCode::PAYMENT_REQUIRED, "payment-expired").await;
}

#[tokio::test]
async fn challenge_expiry_never_outlives_the_invoice() {
    let net = Net::new();
    let layer = paywall(&net, Offers::Payment)
        .invoice_expiry(Duration::from_secs(120))
        .build()
        .unwrap();
    let (challenge, _) = buy(&net, &app(layer), "/forecast").await;
    let left = challenge
        .expires_at()
        .unwrap()
        .duration_since(SystemTime::now())
        .unwrap();
    assert!(left <= Duration::from_secs(120), "{left:?}");
}

#[tokio::test]
async fn a_charge_for_a_cheaper_route_does_not_open_a_dearer_one() {
    let net = Net::new();
    let layer = paywall(&net, Offers::Payment)
        .route(Route::exact("/cheap").price_sat(10))
        .route(Route::exact("/dear").price_sat(100))
        .build()
        .unwrap();
    let app = app(layer);
    let (challenge, preimage) = buy(&net, &app, "/cheap").await;
    let auth = credential(challenge, &preimage);
    let res = send(&app, with_auth("/dear", &auth)).await;
    assert_problem(res, StatusCode::PAYMENT_REQUIRED, "payment-insufficient").await;
    // Still good where it was bought.
    let res = send(&app, with_auth("/cheap", &auth)).await;
    assert_eq!(res.status(), StatusCode::OK);
    // A dearer charge is not accepted on the cheaper route either: it is another
    // route's challenge (and would be consumed for the wrong resource).
    let (dear, dear_preimage) = buy(&net, &app, "/dear").await;
    let dear_auth = credential(dear, &dear_preimage);
    let res = send(&app, with_auth("/cheap", &dear_auth)).await;
    assert_problem(res, StatusCode::PAYMENT_REQUIRED, "invalid-challenge").await;
    let res = send(&app, with_auth("/dear", &dear_auth)).await;
    assert_eq!(res.status(), StatusCode::OK);

    // A challenge the server signed for less than the route costs: insufficient.
    let (dear, _) = buy(&net, &app, "/dear").await;
    let mut less = dear.charge_request().unwrap();
    less.amount_sat = 99;
    let under = PaymentChallenge::lightning_charge(
        &secret(),
        "weather",
        &less,
        SystemTime::now() + Duration::from_secs(60),
    )
    .unwrap();
    let res = send(&app, with_auth("/dear", &credential(under, &preimage))).await;
    assert_problem(res, StatusCode::PAYMENT_REQUIRED, "payment-insufficient").await;
}

#[tokio::test]
async fn a_wrong_preimage_is_a_verification_failure_and_consumes_nothing() {
    let net = Net::new();
    let store = Arc::new(MemoryChargeStore::new());
    let layer = paywall(&net, Offers::Payment)
        .charge_store(Arc::clone(&store))
        .build()
        .unwrap();
    let app = app(layer);
    let (challenge, preimage) = buy(&net, &app, "/forecast").await;
    let wrong = Preimage::from_bytes([1; 32]);
    let res = send(
        &app,
        with_auth("/forecast", &credential(challenge.clone(), &wrong)),
    )
    .await;
    assert_problem(res, StatusCode::PAYMENT_REQUIRED, "verification-failed").await;
    assert!(store.is_empty());
    let res = send(
        &app,
        with_auth("/forecast", &credential(challenge, &preimage)),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn malformed_oversized_and_foreign_credentials_never_consume_or_500() {
    let net = Net::new();
    let store = Arc::new(MemoryChargeStore::new());
    let layer = paywall(&net, Offers::Payment)
        .charge_store(Arc::clone(&store))
        .build()
        .unwrap();
    let app = app(layer);
    let (challenge, preimage) = buy(&net, &app, "/forecast").await;

    for bad in [
        "Payment".to_owned(),
        "Payment !!!!".to_owned(),
        "Payment e30".to_owned(), // {}
        format!("Payment {}", "A".repeat(70 * 1024)),
        format!(
            "Payment {}",
            credential(challenge.clone(), &preimage)[8..].replace('A', "*")
        ),
    ] {
        let res = send(&app, with_auth("/forecast", &bad)).await;
        let status = res.status();
        assert_problem(res, status, "malformed-credential").await;
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    }
    // Not UTF-8 after the scheme.
    let value = HeaderValue::from_bytes(b"Payment \xff\xfe").unwrap();
    let res = send(&app, get_with_raw("/forecast", value)).await;
    assert_problem(res, StatusCode::PAYMENT_REQUIRED, "malformed-credential").await;

    // Another payment method: 400, no challenge needed.
    let mut foreign = challenge.clone();
    foreign.method = "tempo".to_owned();
    let foreign = foreign.signed(&secret());
    let res = send(
        &app,
        with_auth("/forecast", &credential(foreign, &preimage)),
    )
    .await;
    assert_eq!(www_authenticate(res.headers()).len(), 0);
    assert_problem(res, StatusCode::BAD_REQUEST, "method-unsupported").await;

    assert!(store.is_empty(), "nothing consumed");
    let res = send(
        &app,
        with_auth("/forecast", &credential(challenge, &preimage)),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn grpc_callers_get_200_with_grpc_status_and_the_challenges() {
    let net = Net::new();
    let app = app(paywall(&net, Offers::Both).build().unwrap());
    let mut r = req("/forecast");
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    let res = send(&app, r).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers().get("grpc-status").unwrap(), "13");
    assert_eq!(
        res.headers().get("grpc-message").unwrap(),
        "payment required"
    );
    let values = www_authenticate(res.headers());
    assert_eq!(values.len(), 3);
    let charge = charge_challenge(res.headers());

    // Paid: passes, with the receipt.
    let preimage = pay_charge(&net.payer, &charge).await;
    let auth = credential(charge, &preimage);
    let grpc = |value: &str| {
        let mut r = with_auth("/forecast", value);
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        r
    };
    let res = send(&app, grpc(&auth)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("grpc-status").is_none());
    assert!(res.headers().get(PAYMENT_RECEIPT).is_some());
    // Replayed: the gRPC payment-required form again.
    let res = send(&app, grpc(&auth)).await;
    assert_eq!(res.headers().get("grpc-status").unwrap(), "13");
    assert_eq!(www_authenticate(res.headers()).len(), 3);
}

/// A charge store that cannot answer.
struct DownStore;

impl ChargeStore for DownStore {
    async fn consume(
        &self,
        _: &PaymentHash,
        _: SystemTime,
    ) -> Result<Consumption, ChargeStoreError> {
        Err(ChargeStoreError::Unavailable(BoxError::from(
            "connection refused",
        )))
    }
}

#[tokio::test]
async fn a_charge_store_outage_fails_closed_with_503() {
    let net = Net::new();
    let app_up = app(paywall(&net, Offers::Payment).build().unwrap());
    let (challenge, preimage) = buy(&net, &app_up, "/forecast").await;
    let app_down = app(paywall(&net, Offers::Payment)
        .charge_store(DownStore)
        .build()
        .unwrap());
    let auth = credential(challenge, &preimage);
    let res = send(&app_down, with_auth("/forecast", &auth)).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers().get(RETRY_AFTER).unwrap(), "5");
    assert!(res.headers().get(PAYMENT_RECEIPT).is_none());
    let body = body_string(res.into_body()).await;
    assert!(!body.contains("refused"), "{body}");
    // The charge was not consumed: it still works where the store answers.
    let res = send(&app_up, with_auth("/forecast", &auth)).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_id_secret_derived_from_the_master_secret_survives_a_restart() {
    let net = Net::new();
    let master = MasterSecret::from_bytes(&[3; 32]).unwrap();
    let build = || {
        L402Layer::builder(net.server.clone(), Arc::clone(&net.store))
            .service("weather")
            .price_sat(10)
            .offers(Offers::Payment)
            .payment_master_secret(&master)
            .build()
            .unwrap()
    };
    let (challenge, preimage) = buy(&net, &app(build()), "/forecast").await;
    // A new layer (a restart): the challenge still verifies.
    let res = send(
        &app(build()),
        with_auth("/forecast", &credential(challenge, &preimage)),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[test]
fn build_refuses_payment_without_a_secret_and_with_a_bad_realm_or_expiry() {
    let net = Net::new();
    let base = || {
        L402Layer::builder(net.server.clone(), Arc::clone(&net.store))
            .service("weather")
            .price_sat(10)
    };
    assert_eq!(
        base().offers(Offers::Payment).build().unwrap_err(),
        BuildError::MissingPaymentSecret
    );
    assert_eq!(
        base()
            .route(Route::exact("/x").offers(Offers::Both))
            .build()
            .unwrap_err(),
        BuildError::MissingPaymentSecret
    );
    assert!(base().build().is_ok(), "L402 alone needs no secret");
    for realm in ["", "a\nb", &"r".repeat(257)] {
        assert_eq!(
            paywall(&net, Offers::Payment)
                .payment_realm(realm)
                .build()
                .unwrap_err(),
            BuildError::InvalidPaymentRealm
        );
    }
    assert_eq!(
        paywall(&net, Offers::Payment)
            .payment_expiry(Duration::ZERO)
            .build()
            .unwrap_err(),
        BuildError::ZeroPaymentExpiry
    );
}

#[tokio::test]
async fn payment_only_dear_routes_do_not_trip_the_cheap_token_check() {
    let net = Net::new();
    // L402 tokens sold at 10 sat would open a 100-sat L402 route; on a Payment-only route
    // they are not accepted at all, so the configuration is sound.
    let layer = paywall(&net, Offers::L402)
        .route(Route::exact("/dear").price_sat(100).offers(Offers::Payment))
        .build()
        .unwrap();
    let app = app(layer);
    let res = send(&app, req("/forecast")).await;
    let (_, token) = net.pay(res.headers()).await;
    let res = send(&app, get_with("/dear", &token, Scheme::L402)).await;
    let headers = assert_problem(res, StatusCode::PAYMENT_REQUIRED, "payment-required").await;
    assert_eq!(www_authenticate(&headers).len(), 1);
    let _: Credential = token;
}

#[tokio::test]
async fn dynamic_prices_are_charged_in_whole_satoshis_rounded_up() {
    use l402_tower::{Price, PriceRequest};
    let net = Net::new();
    let layer = L402Layer::builder(net.server.clone(), Arc::clone(&net.store))
        .service("weather")
        .pricer(|_: &PriceRequest<'_>| async { Ok(Price::from_msat(1_500)) })
        .offers(Offers::Payment)
        .payment_id_secret(secret())
        .build()
        .unwrap();
    let app = app(layer);
    let (challenge, preimage) = buy(&net, &app, "/forecast").await;
    let request = challenge.charge_request().unwrap();
    assert_eq!(request.amount_sat, 2, "1.5 sat is charged as 2, never 1");
    let invoice = request.check_invoice().unwrap();
    assert_eq!(invoice.amount_milli_satoshis(), Some(2_000));
    // A challenge (signed by the server) for 1 sat does not pay a 1.5-sat request.
    let mut less = request.clone();
    less.amount_sat = 1;
    let under = PaymentChallenge::lightning_charge(
        &secret(),
        "weather",
        &less,
        SystemTime::now() + Duration::from_secs(60),
    )
    .unwrap();
    let res = send(&app, with_auth("/forecast", &credential(under, &preimage))).await;
    assert_problem(res, StatusCode::PAYMENT_REQUIRED, "payment-insufficient").await;
    let res = send(
        &app,
        with_auth("/forecast", &credential(challenge, &preimage)),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Whatever follows `Payment`, the answer is 402 or 400 with a problem body, never a
    /// pass, a 500 or a consumed charge.
    #[test]
    fn hostile_payment_credentials_are_refused_without_consuming(
        tail in proptest::collection::vec(0x20u8..0x7f, 0..300),
        scheme in proptest::sample::select(vec!["Payment ", "payment ", "PAYMENT\t", "Payment  "]),
        b64 in proptest::bool::ANY,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let net = Net::new();
            let store = Arc::new(MemoryChargeStore::new());
            let layer = paywall(&net, Offers::Both)
                .charge_store(Arc::clone(&store))
                .build()
                .unwrap();
            let app = app(layer);
            let tail = if b64 {
                // Base64url of arbitrary JSON-ish bytes: gets past the base64 layer.
                l402_core::payment_scheme::encode_json_param(&String::from_utf8_lossy(&tail))
                    .unwrap()
            } else {
                String::from_utf8(tail).unwrap()
            };
            let value = HeaderValue::from_str(&format!("{scheme}{tail}")).unwrap();
            let res = send(&app, get_with_raw("/forecast", value)).await;
            let status = res.status();
            assert!(
                status == StatusCode::PAYMENT_REQUIRED || status == StatusCode::BAD_REQUEST,
                "{status}"
            );
            assert_eq!(
                res.headers().get(CONTENT_TYPE).unwrap(),
                "application/problem+json"
            );
            assert!(store.is_empty());
        });
    }
}
