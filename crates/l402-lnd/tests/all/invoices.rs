//! The invoice side: create, look up, node info, permissions.

use std::time::{Duration, SystemTime};

use l402_core::backend::{InvoiceRequest, InvoiceState, PayParams};
use l402_core::lightning_invoice::Currency;
use l402_core::{Amount, ErrorKind, InvoiceBackend, PaymentBackend, PaymentHash};
use l402_lnd::LndBackend;
use l402_lnd_fake::{FakeLnd, FakeLndOptions, FakeMacaroon, Permission};
use l402_mock::MockNetwork;

use crate::support::{Pair, backend};

#[tokio::test]
async fn create_then_lookup_round_trip() {
    let pair = Pair::new().await;
    let server = pair.server_backend();
    let created = server
        .create_invoice(
            &InvoiceRequest::new(Amount::from_msat(21_000))
                .memo("coffee")
                .expiry(Duration::from_secs(600)),
        )
        .await
        .unwrap();
    assert_eq!(created.invoice.amount_milli_satoshis(), Some(21_000));
    assert_eq!(created.invoice.expiry_time(), Duration::from_secs(600));
    assert_eq!(created.invoice.currency(), Currency::Regtest);
    assert_eq!(
        created.invoice.get_payee_pub_key().serialize(),
        *pair.server.node().node_id().as_bytes()
    );
    assert!(pair.server.node().invoice(&created.payment_hash).is_some());

    assert_eq!(
        server.lookup_invoice(&created.payment_hash).await.unwrap(),
        Some(InvoiceState::Open)
    );

    // Paid by the agent node: settled, with the amount received.
    let paid = pair
        .agent_backend()
        .pay_invoice(
            &created.invoice,
            &PayParams::new(Amount::from_msat(2_000), Duration::from_secs(10)),
        )
        .await
        .unwrap();
    assert!(created.payment_hash.matches(&paid.preimage));
    match server.lookup_invoice(&created.payment_hash).await.unwrap() {
        Some(InvoiceState::Settled {
            settled_at,
            amount_received,
        }) => {
            assert_eq!(amount_received, Amount::from_msat(21_000));
            assert!(settled_at <= SystemTime::now());
        }
        other => panic!("not settled: {other:?}"),
    }
}

#[tokio::test]
async fn unknown_hash_is_none_before_and_after_the_first_invoice() {
    let pair = Pair::new().await;
    let server = pair.server_backend();
    let unknown = PaymentHash::from_bytes([7; 32]);
    // "there are no existing invoices"
    assert_eq!(server.lookup_invoice(&unknown).await.unwrap(), None);
    server
        .create_invoice(&InvoiceRequest::new(Amount::from_msat(1_000)))
        .await
        .unwrap();
    // "unable to locate invoice"
    assert_eq!(server.lookup_invoice(&unknown).await.unwrap(), None);
}

#[tokio::test]
async fn expired_and_canceled_invoices() {
    for cancel_expired in [true, false] {
        let network = MockNetwork::new();
        let node = network.node("server").build().unwrap();
        let lnd = FakeLnd::start(
            node.clone(),
            FakeLndOptions::new().cancel_expired_invoices(cancel_expired),
        )
        .await
        .unwrap();
        let server = backend(&lnd, FakeMacaroon::InvoiceServer);
        let old = node
            .create_invoice_at(
                &InvoiceRequest::new(Amount::from_msat(5_000)).expiry(Duration::from_secs(60)),
                SystemTime::now() - Duration::from_secs(3600),
            )
            .unwrap();
        assert_eq!(
            server.lookup_invoice(&old.payment_hash).await.unwrap(),
            Some(InvoiceState::Expired),
            "cancel_expired = {cancel_expired}"
        );
        let fresh = server
            .create_invoice(&InvoiceRequest::new(Amount::from_msat(5_000)))
            .await
            .unwrap();
        node.cancel_invoice(&fresh.payment_hash).unwrap();
        assert_eq!(
            server.lookup_invoice(&fresh.payment_hash).await.unwrap(),
            Some(InvoiceState::Canceled)
        );
    }
}

#[tokio::test]
async fn node_info_needs_info_read() {
    let pair = Pair::new().await;
    let admin = backend(&pair.server, FakeMacaroon::Admin);
    let info = admin.node_info().await.unwrap();
    assert_eq!(info.network, Currency::Regtest);
    assert_eq!(info.node_id, pair.server.node().node_id());
    assert_eq!(info.alias, "server");

    // The least-privilege server macaroon (and LND's stock invoice.macaroon) cannot call
    // GetInfo: a permanent "permission denied".
    for preset in [FakeMacaroon::InvoiceServer, FakeMacaroon::Invoice] {
        let err = backend(&pair.server, preset).node_info().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Permanent);
        assert!(err.message().contains("permission denied"), "{err}");
    }
}

#[tokio::test]
async fn wrong_and_insufficient_macaroons_are_permanent() {
    let pair = Pair::new().await;
    // A macaroon from another node.
    let other = LndBackend::builder(pair.server.base_url())
        .macaroon_hex(pair.agent.macaroon_hex(FakeMacaroon::Admin))
        .tls_cert(pair.server.tls_cert_der().unwrap().to_vec())
        .build()
        .unwrap();
    let err = other
        .create_invoice(&InvoiceRequest::new(Amount::from_msat(1_000)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Permanent);
    assert!(err.message().contains("verification failed"), "{err}");

    // A pay-only macaroon on the server side.
    let pay_only = backend(&pair.server, FakeMacaroon::PayClient);
    let err = pay_only
        .create_invoice(&InvoiceRequest::new(Amount::from_msat(1_000)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Permanent);
    assert!(err.message().contains("permission denied"), "{err}");

    // invoices:read alone can look up but not create.
    let read_only = LndBackend::builder(pair.server.base_url())
        .macaroon_hex(
            pair.server
                .bake_macaroon(&[Permission::INVOICES_READ])
                .unwrap(),
        )
        .tls_cert(pair.server.tls_cert_pem().unwrap().as_bytes().to_vec())
        .build()
        .unwrap();
    assert_eq!(
        read_only
            .lookup_invoice(&PaymentHash::from_bytes([1; 32]))
            .await
            .unwrap(),
        None
    );
    assert!(
        read_only
            .create_invoice(&InvoiceRequest::new(Amount::from_msat(1_000)))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn node_down_is_transient() {
    let pair = Pair::new().await;
    let server = pair.server_backend();
    // The node's gRPC side unreachable behind its REST proxy: 503, code 14.
    pair.server.node().faults().unreachable_next(1);
    let err = server
        .create_invoice(&InvoiceRequest::new(Amount::from_msat(1_000)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient, "{err}");

    // The whole node gone: connection refused.
    pair.server.shutdown();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let err = server
        .lookup_invoice(&PaymentHash::from_bytes([1; 32]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient, "{err}");
    let err = server.node_info().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient, "{err}");
}

#[tokio::test]
async fn invalid_requests_are_refused_locally() {
    let pair = Pair::new().await;
    let err = pair
        .server_backend()
        .create_invoice(&InvoiceRequest::new(Amount::from_msat(1_000)).expiry(Duration::ZERO))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Permanent);
    assert_eq!(pair.network.invoice_count(), 0);
}

#[tokio::test]
async fn plain_http_works() {
    let pair = Pair::with_options(FakeLndOptions::new().plain_http()).await;
    assert!(pair.server.base_url().starts_with("http://"));
    let created = pair
        .server_backend()
        .create_invoice(&InvoiceRequest::new(Amount::from_msat(3_000)))
        .await
        .unwrap();
    let paid = pair
        .agent_backend()
        .pay_invoice(
            &created.invoice,
            &PayParams::new(Amount::from_msat(2_000), Duration::from_secs(10)),
        )
        .await
        .unwrap();
    assert_eq!(paid.amount, Amount::from_msat(3_000));
}

#[test]
fn builder_validates() {
    use l402_lnd::{BuildError, UrlError};
    let build = |b: l402_lnd::LndBackendBuilder| b.build().unwrap_err();
    assert!(matches!(
        build(LndBackend::builder("not a url")),
        BuildError::InvalidUrl(_)
    ));
    assert!(matches!(
        build(LndBackend::builder("ftp://x").macaroon_hex("00")),
        BuildError::InvalidUrl(UrlError::UnsupportedScheme(_))
    ));
    assert!(matches!(
        build(LndBackend::builder("https://x")),
        BuildError::MissingMacaroon
    ));
    assert!(matches!(
        build(LndBackend::builder("https://x").macaroon_hex("zz")),
        BuildError::InvalidMacaroon(_)
    ));
    assert!(matches!(
        build(LndBackend::builder("https://x").macaroon_hex("")),
        BuildError::InvalidMacaroon(_)
    ));
    assert!(matches!(
        build(LndBackend::builder("https://x").macaroon_file("/nonexistent/m.macaroon")),
        BuildError::ReadFile(_)
    ));
    assert!(matches!(
        build(
            LndBackend::builder("https://x")
                .macaroon_hex("00")
                .tls_cert(b"garbage".to_vec())
        ),
        BuildError::InvalidCertificate(_)
    ));
    assert!(matches!(
        build(
            LndBackend::builder("http://127.0.0.1:1")
                .macaroon_hex("00")
                .webpki_roots()
        ),
        BuildError::TlsWithoutHttps
    ));
    assert!(matches!(
        build(
            LndBackend::builder("https://x")
                .macaroon_hex("00")
                .request_timeout(Duration::ZERO)
        ),
        BuildError::ZeroTimeout
    ));
    let ok = LndBackend::builder("https://x/lnd")
        .macaroon_hex("ABCDEF")
        .build()
        .unwrap();
    let debug = format!("{ok:?}");
    assert!(!debug.to_lowercase().contains("abcdef"), "{debug}");
    let builder = format!(
        "{:?}",
        LndBackend::builder("https://x").macaroon_hex("abcdef")
    );
    assert!(!builder.contains("abcdef"), "{builder}");
}
