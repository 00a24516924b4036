//! The paywall's events through `MetricsObserver`, read back from a recording `metrics`
//! recorder: every metric moves when its event happens, and no label carries a token id
//! or a path.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use http::{HeaderValue, StatusCode};
use l402_core::{Credential, MemoryRootKeyStore, Preimage, RootKeyStore, Scheme as AuthScheme};
use l402_core::{VerifyError, caveat::CaveatError};
use l402_tower::{L402Layer, MetricsObserver, Reason};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use tower::ServiceExt;

use crate::support::*;

async fn send(
    app: &Router,
    r: http::Request<axum::body::Body>,
) -> http::Response<axum::body::Body> {
    app.clone().oneshot(r).await.unwrap()
}

/// A metric name and its labels.
type Series = (String, Vec<(String, String)>);

/// What the recorder saw, accumulated (a snapshot drains the recorder).
struct Seen {
    snap: Snapshotter,
    totals: RefCell<HashMap<Series, u64>>,
}

impl Seen {
    fn new(snap: Snapshotter) -> Self {
        Seen {
            snap,
            totals: RefCell::new(HashMap::new()),
        }
    }

    /// Drains the recorder into the totals: counters add up, histograms count samples.
    fn drain(&self) {
        let mut totals = self.totals.borrow_mut();
        for (key, _, _, value) in self.snap.snapshot().into_vec() {
            let labels = key
                .key()
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            let n = match value {
                DebugValue::Counter(c) => c,
                DebugValue::Histogram(h) => h.len() as u64,
                DebugValue::Gauge(_) => 0,
            };
            *totals
                .entry((key.key().name().to_owned(), labels))
                .or_default() += n;
        }
    }

    /// The counter `name` (or the samples of the histogram `name`) summed over the series
    /// whose labels include every one of `labels`.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.drain();
        self.totals
            .borrow()
            .iter()
            .filter(|((n, _), _)| n == name)
            .filter(|((_, have), _)| {
                labels
                    .iter()
                    .all(|(k, v)| have.iter().any(|(hk, hv)| hk == k && hv == v))
            })
            .map(|(_, v)| *v)
            .sum()
    }

    fn labels(&self) -> Vec<(String, String)> {
        self.drain();
        self.totals
            .borrow()
            .keys()
            .flat_map(|(_, l)| l.clone())
            .collect()
    }
}

fn counter(seen: &Seen, name: &str, labels: &[(&str, &str)]) -> u64 {
    seen.get(name, labels)
}

fn samples(seen: &Seen, name: &str, labels: &[(&str, &str)]) -> u64 {
    seen.get(name, labels)
}

fn app(net: &Net, store: Arc<MemoryRootKeyStore>, service: &str) -> Router {
    let layer = L402Layer::builder(net.server.clone(), store)
        .service(service)
        .price_sat(10)
        .observer(MetricsObserver::new())
        .metrics_label("weather-api")
        .build()
        .unwrap();
    Router::new()
        .route("/forecast/{day}", get(echo_receipt))
        .route_layer(layer)
}

const SVC: (&str, &str) = ("service", "weather-api");
const L402: (&str, &str) = ("scheme", "l402");

#[tokio::test]
async fn every_metric_moves_with_its_event_and_labels_stay_bounded() {
    let recorder = DebuggingRecorder::new();
    let snap = Seen::new(recorder.snapshotter());
    let _guard = metrics::set_default_local_recorder(&recorder);
    let net = Net::new();
    let app = app(&net, Arc::clone(&net.store), "weather");

    // A challenge: an invoice from the node, a key in the store.
    let res = send(&app, req("/forecast/monday")).await;
    assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(
        counter(&snap, "l402_challenges_issued_total", &[SVC, L402]),
        1
    );
    let ok = ("outcome", "ok");
    let invoice = ("operation", "create_invoice");
    assert_eq!(
        counter(&snap, "l402_node_requests_total", &[SVC, invoice, ok]),
        1
    );
    assert_eq!(
        samples(&snap, "l402_node_request_duration_seconds", &[SVC, invoice]),
        1
    );
    let create = ("operation", "root_key_create");
    assert_eq!(
        counter(&snap, "l402_store_requests_total", &[SVC, create, ok]),
        1
    );

    // Paid: verified ok, one payment of 10 sat, a lookup and a mark-paid.
    let (_, credential) = net.pay(res.headers()).await;
    let res = send(
        &app,
        get_with("/forecast/monday", &credential, AuthScheme::L402),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let reason_ok = ("reason", "ok");
    assert_eq!(
        counter(&snap, "l402_verifications_total", &[SVC, L402, reason_ok]),
        1
    );
    assert_eq!(counter(&snap, "l402_payments_total", &[SVC, L402]), 1);
    assert_eq!(
        counter(&snap, "l402_payments_msat_total", &[SVC, L402]),
        10_000
    );
    let lookup = ("operation", "root_key_lookup");
    assert_eq!(
        counter(&snap, "l402_store_requests_total", &[SVC, lookup, ok]),
        1
    );
    assert_eq!(
        samples(&snap, "l402_store_request_duration_seconds", &[SVC, lookup]),
        1
    );
    let mark = ("operation", "root_key_mark_paid");
    assert_eq!(
        counter(&snap, "l402_store_requests_total", &[SVC, mark, ok]),
        1
    );

    // The same token again: another verification, not another payment.
    let res = send(
        &app,
        get_with("/forecast/tuesday", &credential, AuthScheme::L402),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        counter(&snap, "l402_verifications_total", &[SVC, L402, reason_ok]),
        2
    );
    assert_eq!(counter(&snap, "l402_payments_total", &[SVC, L402]), 1);
    assert_eq!(
        counter(&snap, "l402_payments_msat_total", &[SVC, L402]),
        10_000
    );

    // A wrong preimage.
    let wrong = Credential::new(credential.macaroon().clone(), Preimage::from_bytes([9; 32]));
    let res = send(&app, get_with("/forecast/monday", &wrong, AuthScheme::L402)).await;
    assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
    let reason = ("reason", "wrong_preimage");
    assert_eq!(
        counter(&snap, "l402_verifications_total", &[SVC, reason]),
        1
    );

    // A malformed header.
    let res = send(
        &app,
        get_with_raw(
            "/forecast/monday",
            HeaderValue::from_static("L402 not-a-token"),
        ),
    )
    .await;
    assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
    let reason = ("reason", "malformed");
    assert_eq!(
        counter(&snap, "l402_verifications_total", &[SVC, reason]),
        1
    );

    // A token for another service sharing the store.
    let other = self::app(&net, Arc::clone(&net.store), "maps");
    let res = send(&other, req("/forecast/monday")).await;
    let (_, maps_token) = net.pay(res.headers()).await;
    let res = send(
        &app,
        get_with("/forecast/monday", &maps_token, AuthScheme::L402),
    )
    .await;
    assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
    let reason = ("reason", "wrong_service");
    assert_eq!(
        counter(&snap, "l402_verifications_total", &[SVC, reason]),
        1
    );

    // A revoked token.
    let id = l402_core::Identifier::decode(credential.macaroon().identifier()).unwrap();
    net.store.revoke(id.token_id()).await.unwrap();
    let res = send(
        &app,
        get_with("/forecast/monday", &credential, AuthScheme::L402),
    )
    .await;
    assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
    let reason = ("reason", "unknown_or_revoked");
    assert_eq!(
        counter(&snap, "l402_verifications_total", &[SVC, reason]),
        1
    );

    // The node failing: an error counted, a 503 answered.
    net.server.faults().fail_next_invoices(1);
    let res = send(&app, req("/forecast/monday")).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let error = ("outcome", "error");
    assert_eq!(
        counter(&snap, "l402_node_requests_total", &[SVC, invoice, error]),
        1
    );

    // No label anywhere holds a token id, a path or anything outside the fixed sets.
    let token_hex = id.token_id().to_hex();
    let labels = snap.labels();
    assert!(!labels.is_empty());
    for (key, value) in labels {
        assert!(
            !value.contains(&token_hex) && !value.contains('/'),
            "{key}={value}"
        );
        assert!(
            matches!(
                key.as_str(),
                "service" | "scheme" | "reason" | "operation" | "outcome"
            ),
            "{key}={value}"
        );
    }
}

#[tokio::test]
async fn store_errors_are_counted() {
    let recorder = DebuggingRecorder::new();
    let snap = Seen::new(recorder.snapshotter());
    let _guard = metrics::set_default_local_recorder(&recorder);
    let net = Net::new();
    let app = app(&net, Arc::clone(&net.store), "weather");
    let res = send(&app, req("/forecast/monday")).await;
    let (_, credential) = net.pay(res.headers()).await;
    // A store that fails every lookup.
    let failing = L402Layer::builder(net.server.clone(), DownStore)
        .service("weather")
        .price_sat(10)
        .observer(MetricsObserver::new())
        .metrics_label("weather-api")
        .build()
        .unwrap();
    let down = Router::new()
        .route("/forecast/{day}", get(echo_receipt))
        .route_layer(failing);
    let res = send(
        &down,
        get_with("/forecast/monday", &credential, AuthScheme::L402),
    )
    .await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let lookup = ("operation", "root_key_lookup");
    let error = ("outcome", "error");
    assert_eq!(
        counter(&snap, "l402_store_requests_total", &[SVC, lookup, error]),
        1
    );
    // The challenge needs the store too.
    let res = send(&down, req("/forecast/monday")).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let create = ("operation", "root_key_create");
    assert_eq!(
        counter(&snap, "l402_store_requests_total", &[SVC, create, error]),
        1
    );
}

struct DownStore;

impl RootKeyStore for DownStore {
    async fn create(
        &self,
        _: &l402_core::TokenId,
        _: Option<std::time::SystemTime>,
    ) -> Result<l402_core::RootKey, l402_core::RootKeyError> {
        Err(l402_core::RootKeyError::Unavailable("down".into()))
    }
    async fn lookup(
        &self,
        _: &l402_core::TokenId,
    ) -> Result<Vec<l402_core::RootKey>, l402_core::RootKeyError> {
        Err(l402_core::RootKeyError::Unavailable("down".into()))
    }
    async fn revoke(&self, _: &l402_core::TokenId) -> Result<(), l402_core::RootKeyError> {
        Err(l402_core::RootKeyError::Unavailable("down".into()))
    }
}

#[test]
fn verify_errors_map_to_bounded_reasons() {
    let id = l402_core::TokenId::from_bytes([1; 32]);
    let cases = [
        (VerifyError::PreimageMismatch, Reason::WrongPreimage),
        (VerifyError::UnknownToken(id), Reason::UnknownOrRevoked),
        (VerifyError::InvalidSignature, Reason::BadSignature),
        (
            VerifyError::Expired {
                service: "s".into(),
                valid_until: 1,
            },
            Reason::Expired,
        ),
        (VerifyError::WrongService("s".into()), Reason::WrongService),
        (
            VerifyError::CapabilityNotAllowed {
                service: "s".into(),
                capability: "c".into(),
            },
            Reason::Caveat,
        ),
        (
            VerifyError::MalformedCaveat {
                index: 0,
                error: CaveatError::MissingEquals,
            },
            Reason::Malformed,
        ),
    ];
    for (error, reason) in cases {
        assert_eq!(Reason::of_verify_error(&error), reason, "{error}");
    }
}

#[tokio::test]
async fn payment_charges_count_once_and_replays_by_reason() {
    use l402_core::backend::PayParams;
    use l402_core::payment_scheme::{ChallengeIdSecret, PaymentChallenge, PaymentCredential};
    use l402_core::{Amount, MasterSecret, PaymentBackend};

    let recorder = DebuggingRecorder::new();
    let snap = Seen::new(recorder.snapshotter());
    let _guard = metrics::set_default_local_recorder(&recorder);
    let net = Net::new();
    let secret = ChallengeIdSecret::derive_from(&MasterSecret::from_bytes(&[7; 32]).unwrap());
    let layer = L402Layer::builder(net.server.clone(), Arc::clone(&net.store))
        .service("weather")
        .price_sat(4)
        .offers(l402_tower::Offers::Payment)
        .payment_id_secret(secret)
        .observer(MetricsObserver::new())
        .metrics_label("weather-api")
        .build()
        .unwrap();
    let app = Router::new()
        .route("/forecast/{day}", get(echo_receipt))
        .route_layer(layer);
    let payment = ("scheme", "payment");
    let res = send(&app, req("/forecast/monday")).await;
    assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(
        counter(&snap, "l402_challenges_issued_total", &[SVC, payment]),
        1
    );
    let challenge = PaymentChallenge::from_headers(res.headers())
        .unwrap()
        .into_iter()
        .next()
        .unwrap();
    let invoice = challenge.charge_request().unwrap().check_invoice().unwrap();
    let params = PayParams::new(
        Amount::from_sat(100).unwrap(),
        std::time::Duration::from_secs(10),
    );
    let preimage = net
        .payer
        .pay_invoice(&invoice, &params)
        .await
        .unwrap()
        .preimage;
    let auth = PaymentCredential::new(challenge, &preimage)
        .to_header_string()
        .to_string();
    for _ in 0..2 {
        send(
            &app,
            get_with_raw("/forecast/monday", HeaderValue::from_str(&auth).unwrap()),
        )
        .await;
    }
    assert_eq!(
        counter(
            &snap,
            "l402_verifications_total",
            &[SVC, payment, ("reason", "ok")]
        ),
        1
    );
    assert_eq!(
        counter(
            &snap,
            "l402_verifications_total",
            &[SVC, payment, ("reason", "replayed")]
        ),
        1
    );
    assert_eq!(counter(&snap, "l402_payments_total", &[SVC, payment]), 1);
    assert_eq!(
        counter(&snap, "l402_payments_msat_total", &[SVC, payment]),
        4_000
    );
    let consume = ("operation", "charge_consume");
    assert_eq!(
        counter(&snap, "l402_store_requests_total", &[SVC, consume]),
        2
    );
}

/// One observer keeps the handles of the first label it sees: its events keep counting
/// in the right series, and a second label still gets its own.
#[test]
fn a_cached_observer_counts_every_event_of_every_label() {
    use l402_tower::{Observer as _, Operation, Scheme};
    let recorder = DebuggingRecorder::new();
    let snap = Seen::new(recorder.snapshotter());
    let _guard = metrics::set_default_local_recorder(&recorder);
    let observer = MetricsObserver::new();
    for _ in 0..3 {
        observer.verified("a", Scheme::L402, Reason::Ok);
        observer.verified("b", Scheme::L402, Reason::Ok);
        observer.call(
            "a",
            Operation::RootKeyLookup,
            true,
            std::time::Duration::from_millis(1),
        );
    }
    observer.verified("a", Scheme::L402, Reason::Expired);
    let ok = ("reason", "ok");
    assert_eq!(
        snap.get("l402_verifications_total", &[("service", "a"), ok]),
        3
    );
    assert_eq!(
        snap.get("l402_verifications_total", &[("service", "b"), ok]),
        3
    );
    assert_eq!(
        snap.get(
            "l402_verifications_total",
            &[("service", "a"), ("reason", "expired")]
        ),
        1
    );
    let lookup = [("service", "a"), ("operation", "root_key_lookup")];
    assert_eq!(snap.get("l402_store_requests_total", &lookup), 3);
    assert_eq!(snap.get("l402_store_request_duration_seconds", &lookup), 3);
}
