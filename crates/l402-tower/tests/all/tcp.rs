//! End to end over TCP: an axum server on 127.0.0.1:0 behind the layer, a reqwest client,
//! payments through the mock network.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::routing::{get, post};
use http::header::{AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};
use l402_core::{Amount, Credential, Scheme};
use l402_tower::{L402Layer, Price, PriceRequest, Route};

use crate::support::*;

struct Server {
    net: Net,
    base: String,
    client: reqwest::Client,
}

/// The test API:
/// * `/free`: no paywall;
/// * `/weather/*` (service `weather`): 10 sat by default, `/weather/premium` 100 sat with
///   capability `premium`, `/weather/compute` priced per request from `x-units`;
/// * `/maps` (service `maps`): 5 sat;
/// * `/flash` (service `flash`): tokens valid for four seconds (short, yet long enough to be
///   used once on a loaded machine);
/// * `/pkg.Svc/Call`: a gRPC method of service `weather`.
async fn start() -> Server {
    let net = Net::new();
    let weather = L402Layer::builder(net.server.clone(), Arc::clone(&net.store))
        .service("weather")
        .pricer(|req: &PriceRequest<'_>| {
            let price = if req.path() == "/weather/compute" {
                let units: u64 = req
                    .headers()
                    .get("x-units")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1);
                Price::from_sat(units)
            } else {
                Price::from_sat(10)
            };
            async move { price }
        })
        .route(
            Route::exact("/weather/premium")
                .price_sat(100)
                .capability("premium")
                .grants(&["basic", "premium"]),
        )
        .capabilities(&["basic"])
        .validity(Duration::from_secs(3600))
        .build()
        .unwrap();
    let maps = L402Layer::builder(net.server.clone(), Arc::clone(&net.store))
        .service("maps")
        .price_sat(5)
        .build()
        .unwrap();
    let flash = L402Layer::builder(net.server.clone(), Arc::clone(&net.store))
        .service("flash")
        .price_sat(1)
        .validity(FLASH_VALIDITY)
        .build()
        .unwrap();
    let app = Router::new()
        .route("/weather/forecast", get(echo_receipt))
        .route("/weather/premium", get(echo_receipt))
        .route("/weather/compute", post(echo_receipt))
        .route("/pkg.Svc/Call", post(echo_receipt))
        .route_layer(weather)
        .route("/maps", get(echo_receipt).route_layer(maps))
        .route("/flash", get(echo_receipt).route_layer(flash))
        .route("/free", get(echo_receipt));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server {
        net,
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
    }
}

impl Server {
    async fn get(&self, path: &str, auth: Option<HeaderValue>) -> reqwest::Response {
        let mut r = self.client.get(format!("{}{path}", self.base));
        if let Some(v) = auth {
            r = r.header(AUTHORIZATION, v);
        }
        r.send().await.unwrap()
    }

    /// 402 → pay through the mock network → credential.
    async fn buy(&self, path: &str) -> Credential {
        let res = self.get(path, None).await;
        assert_challenge(res.headers(), res.status(), StatusCode::PAYMENT_REQUIRED);
        self.net.pay(res.headers()).await.1
    }
}

fn auth(credential: &Credential, scheme: Scheme) -> Option<HeaderValue> {
    Some(credential.to_header_value(scheme).unwrap())
}

#[tokio::test]
async fn static_per_route_and_dynamic_prices() {
    let s = start().await;
    let res = s.get("/free", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), "free");

    // Static (the pricer's flat price), per route, dynamic.
    let res = s.get("/weather/forecast", None).await;
    assert_eq!(invoice_amount(res.headers()), Amount::from_sat(10).unwrap());
    let res = s.get("/weather/premium", None).await;
    assert_eq!(
        invoice_amount(res.headers()),
        Amount::from_sat(100).unwrap()
    );
    let res = s.get("/maps", None).await;
    assert_eq!(invoice_amount(res.headers()), Amount::from_sat(5).unwrap());
    let res = s
        .client
        .post(format!("{}/weather/compute", s.base))
        .header("x-units", "7")
        .send()
        .await
        .unwrap();
    assert_challenge(res.headers(), res.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(invoice_amount(res.headers()), Amount::from_sat(7).unwrap());
    let (_, credential) = s.net.pay(res.headers()).await;
    let res = s
        .client
        .post(format!("{}/weather/compute", s.base))
        .header(
            AUTHORIZATION,
            credential.to_header_value(Scheme::L402).unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().starts_with("paid "));

    // The payee got exactly the prices of the invoices paid.
    let credential = s.buy("/weather/forecast").await;
    let res = s
        .get("/weather/forecast", auth(&credential, Scheme::L402))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(s.net.server.balance(), Amount::from_sat(17).unwrap());

    // Unknown paths stay 404 (route_layer).
    assert_eq!(s.get("/nope", None).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn capabilities_are_enforced() {
    let s = start().await;
    let basic = s.buy("/weather/forecast").await;
    assert_eq!(
        s.get("/weather/forecast", auth(&basic, Scheme::L402))
            .await
            .status(),
        StatusCode::OK
    );
    let res = s.get("/weather/premium", auth(&basic, Scheme::L402)).await;
    assert_challenge(res.headers(), res.status(), StatusCode::PAYMENT_REQUIRED);
    let (_, premium) = s.net.pay(res.headers()).await;
    let res = s
        .get("/weather/premium", auth(&premium, Scheme::L402))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("\"premium\""));
}

/// How long `/flash` tokens are valid.
const FLASH_VALIDITY: Duration = Duration::from_secs(4);

#[tokio::test]
async fn tokens_expire() {
    let s = start().await;
    let credential = s.buy("/flash").await;
    assert_eq!(
        s.get("/flash", auth(&credential, Scheme::L402))
            .await
            .status(),
        StatusCode::OK
    );
    // Valid until the next whole second after the validity; wait past it.
    let until = l402_core::unix_seconds(SystemTime::now()) + FLASH_VALIDITY.as_secs() + 1;
    while l402_core::unix_seconds(SystemTime::now()) < until {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let res = s.get("/flash", auth(&credential, Scheme::L402)).await;
    assert_challenge(res.headers(), res.status(), StatusCode::PAYMENT_REQUIRED);
}

#[tokio::test]
async fn tampered_widened_and_replayed_tokens_are_refused() {
    let s = start().await;
    let credential = s.buy("/weather/forecast").await;
    // Tampered: a caveat rewritten without re-signing.
    let bytes = credential.macaroon().encode();
    let needle = b"weather_capabilities=basic";
    let pos = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    let mut tampered = bytes.clone();
    tampered[pos + needle.len() - 5..pos + needle.len()].copy_from_slice(b"admin");
    let forged = Credential::new(
        l402_core::Macaroon::decode(&tampered).unwrap(),
        credential.preimage().clone(),
    );
    let res = s
        .get("/weather/forecast", auth(&forged, Scheme::L402))
        .await;
    assert_challenge(res.headers(), res.status(), StatusCode::PAYMENT_REQUIRED);
    // Widened: a validly chained caveat that grants more.
    let mut m = credential.macaroon().clone();
    m.add_first_party_caveat("weather_capabilities=basic,premium")
        .unwrap();
    let widened = Credential::new(m, credential.preimage().clone());
    let res = s
        .get("/weather/premium", auth(&widened, Scheme::L402))
        .await;
    assert_challenge(res.headers(), res.status(), StatusCode::PAYMENT_REQUIRED);
    // Replayed to another service on the same server, same store.
    let res = s.get("/maps", auth(&credential, Scheme::L402)).await;
    assert_challenge(res.headers(), res.status(), StatusCode::PAYMENT_REQUIRED);
    // The genuine token still works.
    assert_eq!(
        s.get("/weather/forecast", auth(&credential, Scheme::L402))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn lsat_scheme_and_appended_preimage_caveat() {
    let s = start().await;
    let credential = s.buy("/maps").await;
    let res = s.get("/maps", auth(&credential, Scheme::Lsat)).await;
    assert_eq!(res.status(), StatusCode::OK);
    // lnget appends `preimage=<hex>` to the macaroon it sends.
    let pre = credential.preimage().expose_hex();
    let mut m = credential.macaroon().clone();
    m.add_first_party_caveat(format!("preimage={}", pre.as_str()))
        .unwrap();
    let lnget = Credential::new(m, credential.preimage().clone());
    let res = s.get("/maps", auth(&lnget, Scheme::Lsat)).await;
    assert_eq!(res.status(), StatusCode::OK);
    // Aperture's client sends both schemes.
    let res = s
        .client
        .get(format!("{}/maps", s.base))
        .header(
            AUTHORIZATION,
            credential.to_header_value(Scheme::Lsat).unwrap(),
        )
        .header(
            AUTHORIZATION,
            credential.to_header_value(Scheme::L402).unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn grpc_content_type() {
    let s = start().await;
    let res = s
        .client
        .post(format!("{}/pkg.Svc/Call", s.base))
        .header("content-type", "application/grpc")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers().get("grpc-status").unwrap(), "13");
    assert_eq!(
        res.headers().get("grpc-message").unwrap(),
        "payment required"
    );
    assert_eq!(res.headers().get_all(WWW_AUTHENTICATE).iter().count(), 2);
    let (_, credential) = s.net.pay(res.headers()).await;
    let res = s
        .client
        .post(format!("{}/pkg.Svc/Call", s.base))
        .header("content-type", "application/grpc")
        .header(
            AUTHORIZATION,
            credential.to_header_value(Scheme::L402).unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("grpc-status").is_none());
}

#[tokio::test]
async fn backend_down() {
    let s = start().await;
    // A token bought before the outage keeps working: verification needs no node.
    let credential = s.buy("/weather/forecast").await;
    s.net.server.faults().unreachable(true);
    let res = s.get("/weather/forecast", None).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers().get(RETRY_AFTER).unwrap(), "5");
    assert!(res.headers().get(WWW_AUTHENTICATE).is_none());
    assert_eq!(
        res.text().await.unwrap(),
        "payment service temporarily unavailable"
    );
    assert_eq!(
        s.get("/weather/forecast", auth(&credential, Scheme::L402))
            .await
            .status(),
        StatusCode::OK
    );
    s.net.server.faults().unreachable(false);
    s.net.server.faults().fail_invoices(true);
    let res = s.get("/maps", None).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = res.text().await.unwrap();
    assert!(!body.contains("injected"), "{body}");
    s.net.server.faults().clear();
    assert_eq!(
        s.get("/maps", None).await.status(),
        StatusCode::PAYMENT_REQUIRED
    );
}
