//! Invoices: real, signed BOLT11 that match the request; invoice states; node identity.

use std::str::FromStr;
use std::time::{Duration, SystemTime};

use l402_core::backend::{InvoiceRequest, InvoiceState, NodeId, PaymentStatus};
use l402_core::lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescriptionRef, Currency};
use l402_core::{ErrorKind, InvoiceBackend, PaymentBackend, PaymentHash};
use l402_mock::{DEFAULT_MIN_FINAL_CLTV_EXPIRY_DELTA, MockError, MockNetwork, RoutingFee};

use crate::support::{invoice, msat, pair, params};

fn description(invoice: &Bolt11Invoice) -> String {
    match invoice.description() {
        Bolt11InvoiceDescriptionRef::Direct(d) => d.to_string(),
        Bolt11InvoiceDescriptionRef::Hash(_) => panic!("expected a direct description"),
    }
}

#[tokio::test]
async fn invoice_decodes_and_matches_the_request() {
    let (_network, alice, bob) = pair(RoutingFee::ZERO, 1_000_000);
    let before = SystemTime::now();
    let created = bob
        .create_invoice(
            &InvoiceRequest::new(msat(12_345))
                .memo("weather forecast, 1 day")
                .expiry(Duration::from_secs(600)),
        )
        .await
        .unwrap();

    // Round trip through the string form: parsing checks the signature.
    let encoded = created.invoice.to_string();
    assert!(encoded.starts_with("lnbcrt"), "{encoded}");
    let parsed = Bolt11Invoice::from_str(&encoded).unwrap();
    assert_eq!(parsed, created.invoice);
    assert!(parsed.check_signature().is_ok());

    assert_eq!(parsed.currency(), Currency::Regtest);
    assert_eq!(parsed.amount_milli_satoshis(), Some(12_345));
    assert_eq!(description(&parsed), "weather forecast, 1 day");
    assert_eq!(parsed.expiry_time(), Duration::from_secs(600));
    assert_eq!(
        parsed.min_final_cltv_expiry_delta(),
        DEFAULT_MIN_FINAL_CLTV_EXPIRY_DELTA
    );
    assert_eq!(PaymentHash::from(&parsed), created.payment_hash);
    let timestamp = SystemTime::UNIX_EPOCH + parsed.duration_since_epoch();
    assert!(timestamp + Duration::from_secs(1) >= before);
    assert!(timestamp <= SystemTime::now());

    // The payee is the node, by the signature as well as by the explicit field.
    let payee = NodeId::from_bytes(parsed.recover_payee_pub_key().serialize());
    assert_eq!(payee, bob.node_id());
    assert_eq!(
        parsed
            .payee_pub_key()
            .map(|k| NodeId::from_bytes(k.serialize())),
        Some(bob.node_id())
    );

    // Payment secrets are random and required.
    assert_ne!(parsed.payment_secret().0, [0; 32]);
    let other = invoice(&bob, 12_345).await;
    assert_ne!(other.invoice.payment_secret(), parsed.payment_secret());
    assert_ne!(other.payment_hash, created.payment_hash);

    // The payment hash is the SHA-256 of the preimage the payee reveals when paid.
    let paid = alice.pay_invoice(&parsed, &params()).await.unwrap();
    assert_eq!(paid.preimage.payment_hash(), created.payment_hash);
    let record = bob.invoice(&created.payment_hash).unwrap();
    assert_eq!(record.preimage, paid.preimage);
    assert_eq!(record.memo, "weather forecast, 1 day");
    assert_eq!(record.amount, Some(msat(12_345)));
    assert_eq!(record.created_at, timestamp);
    assert_eq!(
        record.expires_at,
        Some(timestamp + Duration::from_secs(600))
    );
}

#[tokio::test]
async fn network_settings_shape_the_invoices() {
    for (currency, prefix) in [
        (Currency::Bitcoin, "lnbc1"),
        (Currency::BitcoinTestnet, "lntb1"),
        (Currency::Signet, "lntbs1"),
        (Currency::Regtest, "lnbcrt1"),
    ] {
        let network = MockNetwork::builder()
            .currency(currency.clone())
            .min_final_cltv_expiry_delta(18)
            .build();
        assert_eq!(network.currency(), currency);
        let node = network.node("n").build().unwrap();
        let created = invoice(&node, 1_000).await;
        let parsed = Bolt11Invoice::from_str(&created.invoice.to_string()).unwrap();
        assert_eq!(parsed.currency(), currency);
        assert!(parsed.to_string().starts_with(prefix), "{parsed}");
        assert_eq!(parsed.min_final_cltv_expiry_delta(), 18);
        assert_eq!(node.node_info().await.unwrap().network, currency);
    }
}

#[tokio::test]
async fn zero_amount_makes_an_amountless_invoice() {
    let (_network, _alice, bob) = pair(RoutingFee::ZERO, 0);
    let created = bob
        .create_invoice(&InvoiceRequest::new(msat(0)).memo("tip"))
        .await
        .unwrap();
    assert_eq!(created.invoice.amount_milli_satoshis(), None);
    assert_eq!(bob.invoice(&created.payment_hash).unwrap().amount, None);
}

#[tokio::test]
async fn unencodable_requests_are_refused_as_permanent_errors() {
    let (network, _alice, bob) = pair(RoutingFee::ZERO, 0);
    let short = InvoiceRequest::new(msat(1_000)).expiry(Duration::from_millis(999));
    let err = bob.create_invoice(&short).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Permanent);
    assert_eq!(err.message(), "invoice expiry must be at least one second");

    let long_memo = InvoiceRequest::new(msat(1_000)).memo("x".repeat(640));
    let err = bob.create_invoice(&long_memo).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Permanent);
    assert_eq!(
        bob.create_invoice_at(&long_memo, SystemTime::now()),
        Err(MockError::MemoTooLong)
    );
    // 639 bytes is the most a description holds.
    let max_memo = InvoiceRequest::new(msat(1_000)).memo("x".repeat(639));
    assert!(bob.create_invoice(&max_memo).await.is_ok());

    let huge = InvoiceRequest::new(msat(u64::MAX));
    assert_eq!(
        bob.create_invoice_at(&huge, SystemTime::now()),
        Err(MockError::AmountTooLarge)
    );
    let before_epoch = SystemTime::UNIX_EPOCH - Duration::from_secs(1);
    assert_eq!(
        bob.create_invoice_at(&InvoiceRequest::new(msat(1)), before_epoch),
        Err(MockError::TimestampOutOfRange)
    );
    // Only the one valid request left an invoice behind.
    assert_eq!(network.invoice_count(), 1);
}

#[tokio::test]
async fn lookup_invoice_reports_every_state() {
    let (_network, alice, bob) = pair(RoutingFee::ZERO, 1_000_000);
    let open = invoice(&bob, 1_000).await;
    assert_eq!(
        bob.lookup_invoice(&open.payment_hash).await.unwrap(),
        Some(InvoiceState::Open)
    );
    // Another node's invoice, or an unknown hash: the node does not know it.
    assert_eq!(
        alice.lookup_invoice(&open.payment_hash).await.unwrap(),
        None
    );
    let unknown = PaymentHash::from_bytes([7; 32]);
    assert_eq!(bob.lookup_invoice(&unknown).await.unwrap(), None);

    let canceled = invoice(&bob, 1_000).await;
    bob.cancel_invoice(&canceled.payment_hash).unwrap();
    assert_eq!(
        bob.lookup_invoice(&canceled.payment_hash).await.unwrap(),
        Some(InvoiceState::Canceled)
    );
    assert_eq!(
        bob.cancel_invoice(&canceled.payment_hash),
        Err(MockError::InvoiceNotOpen)
    );
    assert_eq!(
        alice.cancel_invoice(&open.payment_hash),
        Err(MockError::UnknownInvoice)
    );

    let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
    let expired = bob
        .create_invoice_at(
            &InvoiceRequest::new(msat(1_000)).expiry(Duration::from_secs(60)),
            an_hour_ago,
        )
        .unwrap();
    assert!(
        expired.invoice.would_expire(
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
        )
    );
    assert_eq!(
        bob.lookup_invoice(&expired.payment_hash).await.unwrap(),
        Some(InvoiceState::Expired)
    );
    assert_eq!(
        bob.cancel_invoice(&expired.payment_hash),
        Err(MockError::InvoiceNotOpen)
    );

    let before = SystemTime::now();
    alice.pay_invoice(&open.invoice, &params()).await.unwrap();
    match bob.lookup_invoice(&open.payment_hash).await.unwrap() {
        Some(InvoiceState::Settled {
            settled_at,
            amount_received,
        }) => {
            assert_eq!(amount_received, msat(1_000));
            assert!(settled_at >= before && settled_at <= SystemTime::now());
        }
        other => panic!("expected settled, got {other:?}"),
    }
    assert_eq!(
        bob.cancel_invoice(&open.payment_hash),
        Err(MockError::InvoiceNotOpen)
    );
}

#[tokio::test]
async fn node_info_reports_network_id_and_alias() {
    let network = MockNetwork::builder().currency(Currency::Signet).build();
    let node = network.node("carol").build().unwrap();
    let info = node.node_info().await.unwrap();
    assert_eq!(info.network, Currency::Signet);
    assert_eq!(info.node_id, node.node_id());
    assert_eq!(info.alias, "carol");
    assert_eq!(info, node.info());
    assert_eq!(node.alias(), "carol");
}

#[tokio::test]
async fn fixed_secret_keys_give_fixed_node_ids() {
    // The secp256k1 generator point G is the public key of secret key 1.
    let mut one = [0u8; 32];
    one[31] = 1;
    let network = MockNetwork::new();
    let node = network.node("g").secret_key(one).build().unwrap();
    assert_eq!(
        node.node_id().to_string(),
        "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
    );
    // Same key on the same network: refused. On another network: the same id.
    assert_eq!(
        network.node("again").secret_key(one).build().unwrap_err(),
        MockError::DuplicateNode
    );
    let elsewhere = MockNetwork::new()
        .node("g")
        .secret_key(one)
        .build()
        .unwrap();
    assert_eq!(elsewhere.node_id(), node.node_id());

    assert_eq!(
        network
            .node("zero")
            .secret_key([0; 32])
            .build()
            .unwrap_err(),
        MockError::InvalidSecretKey
    );
    assert_eq!(
        network
            .node("big")
            .secret_key([0xff; 32])
            .build()
            .unwrap_err(),
        MockError::InvalidSecretKey
    );
    // Random keys differ.
    let a = network.node("a").build().unwrap();
    let b = network.node("b").build().unwrap();
    assert_ne!(a.node_id(), b.node_id());
    assert_eq!(network.nodes().len(), 3);
}

#[tokio::test]
async fn debug_output_never_shows_secrets() {
    let (network, alice, bob) = pair(RoutingFee::ZERO, 10_000);
    let created = invoice(&bob, 1_000).await;
    let paid = alice
        .pay_invoice(&created.invoice, &params())
        .await
        .unwrap();
    let preimage_hex = paid.preimage.expose_hex().to_string();

    let key = [0x5a; 32];
    let builder = network.node("secret").secret_key(key);
    let builder_debug = format!("{builder:?}");
    assert!(builder_debug.contains("<redacted>"), "{builder_debug}");
    assert!(!builder_debug.contains("5a5a"), "{builder_debug}");
    let keyed = builder.build().unwrap();

    let outputs = [
        format!("{network:?}"),
        format!("{alice:?}"),
        format!("{keyed:?}"),
        format!("{:?}", keyed.faults()),
        format!("{:?}", network.invoices()),
        format!("{:?}", network.payments()),
        format!(
            "{:?}",
            alice.lookup_payment(&created.payment_hash).await.unwrap()
        ),
        format!("{paid:?}"),
    ];
    for out in &outputs {
        assert!(!out.contains(&preimage_hex), "preimage in {out}");
        assert!(!out.contains("5a5a5a"), "secret key in {out}");
    }
    assert!(outputs[1].contains(&alice.node_id().to_string()));
    assert!(outputs[1].contains("alice"));
    assert!(matches!(
        alice.lookup_payment(&created.payment_hash).await.unwrap(),
        PaymentStatus::Succeeded(_)
    ));
}
