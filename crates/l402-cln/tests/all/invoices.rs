//! The invoice side: create, look up, node info, runes, node down.

use std::time::{Duration, SystemTime};

use l402_cln::ClnBackend;
use l402_cln_fake::{FakeClnOptions, FakeRune};
use l402_core::backend::{InvoiceRequest, InvoiceState, PayParams};
use l402_core::lightning_invoice::Currency;
use l402_core::{Amount, ErrorKind, InvoiceBackend, PaymentBackend, PaymentHash};

use crate::support::{Pair, backend, builder};

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
    // Our expiry, not CLN's week.
    assert_eq!(created.invoice.expiry_time(), Duration::from_secs(600));
    assert_eq!(created.invoice.currency(), Currency::Regtest);
    assert_eq!(
        created.invoice.get_payee_pub_key().serialize(),
        *pair.server.node().node_id().as_bytes()
    );
    let record = pair.server.node().invoice(&created.payment_hash).unwrap();
    assert_eq!(record.memo, "coffee");

    assert_eq!(
        server.lookup_invoice(&created.payment_hash).await.unwrap(),
        Some(InvoiceState::Open)
    );

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
async fn every_invoice_gets_its_own_label() {
    let pair = Pair::new().await;
    let server = pair.server_backend();
    for _ in 0..3 {
        server
            .create_invoice(&InvoiceRequest::new(Amount::from_msat(1_000)))
            .await
            .unwrap();
    }
    assert_eq!(pair.server.node().invoices().len(), 3);
}

#[tokio::test]
async fn unknown_hash_is_none() {
    let pair = Pair::new().await;
    let server = pair.server_backend();
    let unknown = PaymentHash::from_bytes([7; 32]);
    assert_eq!(server.lookup_invoice(&unknown).await.unwrap(), None);
    server
        .create_invoice(&InvoiceRequest::new(Amount::from_msat(1_000)))
        .await
        .unwrap();
    assert_eq!(server.lookup_invoice(&unknown).await.unwrap(), None);
}

#[tokio::test]
async fn expired_invoices() {
    let pair = Pair::new().await;
    let old = pair
        .server
        .node()
        .create_invoice_at(
            &InvoiceRequest::new(Amount::from_msat(5_000)).expiry(Duration::from_secs(60)),
            SystemTime::now() - Duration::from_secs(3600),
        )
        .unwrap();
    assert_eq!(
        pair.server_backend()
            .lookup_invoice(&old.payment_hash)
            .await
            .unwrap(),
        Some(InvoiceState::Expired)
    );
}

#[tokio::test]
async fn node_info_with_the_invoice_only_rune() {
    let pair = Pair::new().await;
    let info = pair.server_backend().node_info().await.unwrap();
    assert_eq!(info.network, Currency::Regtest);
    assert_eq!(info.node_id, pair.server.node().node_id());
    assert_eq!(info.alias, "server");
    // The payer rune allows getinfo too.
    let info = pair.agent_backend().node_info().await.unwrap();
    assert_eq!(info.node_id, pair.agent.node().node_id());
}

#[tokio::test]
async fn bad_and_restricted_runes_are_permanent() {
    let pair = Pair::new().await;
    // A rune of another node: 401, 1501.
    let foreign = builder(&pair.server, pair.agent.rune(FakeRune::Admin))
        .build()
        .unwrap();
    let err = foreign
        .create_invoice(&InvoiceRequest::new(Amount::from_msat(1_000)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Permanent);
    assert!(err.message().contains("Not authorized"), "{err}");
    assert!(err.message().contains("code 1501, http 401"), "{err}");

    // The payer rune cannot make invoices: 401, 1502.
    let payer = backend(&pair.server, FakeRune::Payer);
    let err = payer
        .create_invoice(&InvoiceRequest::new(Amount::from_msat(1_000)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Permanent);
    assert!(
        err.message()
            .contains("Not permitted: method is not equal to xpay"),
        "{err}"
    );

    // A rune that can only list invoices.
    let list_only = builder(
        &pair.server,
        pair.server
            .create_rune(&[&["method=listinvoices"]])
            .unwrap(),
    )
    .build()
    .unwrap();
    assert_eq!(
        list_only
            .lookup_invoice(&PaymentHash::from_bytes([1; 32]))
            .await
            .unwrap(),
        None
    );
    assert!(
        list_only
            .create_invoice(&InvoiceRequest::new(Amount::from_msat(1_000)))
            .await
            .is_err()
    );
    assert!(list_only.node_info().await.is_err());
    assert_eq!(pair.network.invoice_count(), 0);
}

#[tokio::test]
async fn node_down_is_transient() {
    let pair = Pair::new().await;
    let server = pair.server_backend();
    // lightningd gone behind clnrest: the connection drops without an answer.
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
    let pair = Pair::with_options(FakeClnOptions::new().plain_http()).await;
    assert!(pair.server.base_url().starts_with("http://"));
    let server = ClnBackend::builder(pair.server.base_url())
        .rune(pair.server.rune(FakeRune::InvoiceOnly))
        .build()
        .unwrap();
    let created = server
        .create_invoice(&InvoiceRequest::new(Amount::from_msat(3_000)))
        .await
        .unwrap();
    let agent = ClnBackend::builder(pair.agent.base_url())
        .rune(pair.agent.rune(FakeRune::Payer))
        .build()
        .unwrap();
    let paid = agent
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
    use l402_cln::{BuildError, UrlError};
    let build = |b: l402_cln::ClnBackendBuilder| b.build().unwrap_err();
    assert!(matches!(
        build(ClnBackend::builder("not a url")),
        BuildError::InvalidUrl(_)
    ));
    assert!(matches!(
        build(ClnBackend::builder("ftp://x").rune("abc")),
        BuildError::InvalidUrl(UrlError::UnsupportedScheme(_))
    ));
    assert!(matches!(
        build(ClnBackend::builder("https://x")),
        BuildError::MissingRune
    ));
    assert!(matches!(
        build(ClnBackend::builder("https://x").rune("")),
        BuildError::InvalidRune(_)
    ));
    assert!(matches!(
        build(ClnBackend::builder("https://x").rune("a b")),
        BuildError::InvalidRune(_)
    ));
    assert!(matches!(
        build(ClnBackend::builder("https://x").rune_file("/nonexistent/r.rune")),
        BuildError::ReadFile(_)
    ));
    assert!(matches!(
        build(
            ClnBackend::builder("https://x")
                .rune("abc")
                .ca_cert(b"garbage".to_vec())
        ),
        BuildError::InvalidCertificate(_)
    ));
    assert!(matches!(
        build(
            ClnBackend::builder("https://x")
                .rune("abc")
                .tls_server_name("not a name!")
        ),
        BuildError::InvalidServerName(_)
    ));
    assert!(matches!(
        build(
            ClnBackend::builder("http://127.0.0.1:1")
                .rune("abc")
                .tls_server_name("cln")
        ),
        BuildError::TlsWithoutHttps
    ));
    assert!(matches!(
        build(
            ClnBackend::builder("https://x")
                .rune("abc")
                .request_timeout(Duration::ZERO)
        ),
        BuildError::ZeroTimeout
    ));
    let ok = ClnBackend::builder("https://x/cln")
        .rune("SeCrEtRuNe")
        .build()
        .unwrap();
    let debug = format!("{ok:?}");
    assert!(!debug.contains("SeCrEtRuNe"), "{debug}");
    let builder = format!("{:?}", ClnBackend::builder("https://x").rune("SeCrEtRuNe"));
    assert!(!builder.contains("SeCrEtRuNe"), "{builder}");
}
