//! Every way a payment fails, and that no failure moves money.

use std::time::{Duration, SystemTime};

use l402_core::backend::{FailureReason, InvoiceRequest, InvoiceState, PayParams, PaymentStatus};
use l402_core::lightning_invoice::Currency;
use l402_core::{Amount, InvoiceBackend, PayError, PaymentBackend};
use l402_mock::{MockNetwork, MockNode, RoutingFee};

use crate::support::{assert_conserved, invoice, msat, pair, params};

fn failure(err: PayError) -> FailureReason {
    match err {
        PayError::Failed(reason) => reason,
        other => panic!("expected a definite failure, got {other:?}"),
    }
}

/// Balances of both nodes, to check that nothing moved.
fn balances(a: &MockNode, b: &MockNode) -> (Amount, Amount) {
    (a.balance(), b.balance())
}

#[tokio::test]
async fn invoice_from_a_node_off_the_network_has_no_route() {
    let (network, alice, bob) = pair(RoutingFee::ZERO, 100_000);
    let stranger = MockNetwork::new().node("stranger").build().unwrap();
    let created = invoice(&stranger, 1_000).await;

    let err = alice
        .pay_invoice(&created.invoice, &params())
        .await
        .unwrap_err();
    assert_eq!(failure(err), FailureReason::NoRoute);
    // The attempt was sent and failed: recorded, nothing paid.
    assert_eq!(
        alice.lookup_payment(&created.payment_hash).await.unwrap(),
        PaymentStatus::Failed(FailureReason::NoRoute)
    );
    assert_eq!(balances(&alice, &bob), (msat(100_000), msat(0)));
    assert_eq!(stranger.balance(), msat(0));
    assert_conserved(&network);
}

#[tokio::test]
async fn unknown_payment_hash_at_a_known_payee_is_incorrect_details() {
    // The same key on another network signs an invoice Bob never issued.
    let key = [0x11; 32];
    let network = MockNetwork::new();
    let alice = network
        .node("alice")
        .balance(msat(100_000))
        .build()
        .unwrap();
    let bob = network.node("bob").secret_key(key).build().unwrap();
    let bob_twin = MockNetwork::new()
        .node("bob")
        .secret_key(key)
        .build()
        .unwrap();
    let forged = invoice(&bob_twin, 1_000).await;
    assert_eq!(
        forged.invoice.recover_payee_pub_key().serialize(),
        *bob.node_id().as_bytes()
    );

    let err = alice
        .pay_invoice(&forged.invoice, &params())
        .await
        .unwrap_err();
    assert_eq!(failure(err), FailureReason::IncorrectPaymentDetails);
    assert_eq!(balances(&alice, &bob), (msat(100_000), msat(0)));
    assert_conserved(&network);
}

#[tokio::test]
async fn expired_invoice_is_refused_before_sending() {
    let (network, alice, bob) = pair(RoutingFee::ZERO, 100_000);
    let created = bob
        .create_invoice_at(
            &InvoiceRequest::new(msat(1_000)).expiry(Duration::from_secs(10)),
            SystemTime::now() - Duration::from_secs(60),
        )
        .unwrap();
    let err = alice
        .pay_invoice(&created.invoice, &params())
        .await
        .unwrap_err();
    assert_eq!(failure(err), FailureReason::InvoiceExpired);
    assert_eq!(
        alice.lookup_payment(&created.payment_hash).await.unwrap(),
        PaymentStatus::Unknown
    );
    assert_eq!(
        bob.lookup_invoice(&created.payment_hash).await.unwrap(),
        Some(InvoiceState::Expired)
    );
    assert_eq!(network.payment_count(), 0);
    assert_eq!(balances(&alice, &bob), (msat(100_000), msat(0)));
}

#[tokio::test]
async fn paying_twice_is_refused_as_already_paid() {
    let (network, alice, bob) = pair(RoutingFee::new(msat(3), 0), 100_000);
    let created = invoice(&bob, 1_000).await;
    let paid = alice
        .pay_invoice(&created.invoice, &params())
        .await
        .unwrap();
    let after_first = balances(&alice, &bob);

    let err = alice
        .pay_invoice(&created.invoice, &params())
        .await
        .unwrap_err();
    assert_eq!(failure(err), FailureReason::AlreadyPaid);
    assert_eq!(balances(&alice, &bob), after_first);
    // The success stays on record.
    assert_eq!(
        alice.lookup_payment(&created.payment_hash).await.unwrap(),
        PaymentStatus::Succeeded(paid)
    );
    assert_eq!(network.payment_count(), 1);
    assert_conserved(&network);
}

#[tokio::test]
async fn invoice_paid_by_another_node_is_incorrect_details() {
    let (network, alice, bob) = pair(RoutingFee::ZERO, 100_000);
    let carol = network
        .node("carol")
        .balance(msat(100_000))
        .build()
        .unwrap();
    let created = invoice(&bob, 1_000).await;
    alice
        .pay_invoice(&created.invoice, &params())
        .await
        .unwrap();

    let err = carol
        .pay_invoice(&created.invoice, &params())
        .await
        .unwrap_err();
    assert_eq!(failure(err), FailureReason::IncorrectPaymentDetails);
    assert_eq!(carol.balance(), msat(100_000));
    assert_eq!(bob.balance(), msat(1_000));
    assert_conserved(&network);
}

#[tokio::test]
async fn canceled_invoice_is_incorrect_details() {
    let (network, alice, bob) = pair(RoutingFee::ZERO, 100_000);
    let created = invoice(&bob, 1_000).await;
    bob.cancel_invoice(&created.payment_hash).unwrap();
    let err = alice
        .pay_invoice(&created.invoice, &params())
        .await
        .unwrap_err();
    assert_eq!(failure(err), FailureReason::IncorrectPaymentDetails);
    assert_eq!(balances(&alice, &bob), (msat(100_000), msat(0)));
    assert_eq!(
        bob.lookup_invoice(&created.payment_hash).await.unwrap(),
        Some(InvoiceState::Canceled)
    );
    assert_conserved(&network);
}

#[tokio::test]
async fn amount_rules_are_enforced_as_invalid_invoice() {
    let (network, alice, bob) = pair(RoutingFee::ZERO, 100_000);

    // Amountless invoice, no amount given.
    let amountless = invoice(&bob, 0).await;
    let err = alice
        .pay_invoice(&amountless.invoice, &params())
        .await
        .unwrap_err();
    assert_eq!(failure(err), FailureReason::InvalidInvoice);
    // Amountless invoice, zero given.
    let err = alice
        .pay_invoice(&amountless.invoice, &params().amount(msat(0)))
        .await
        .unwrap_err();
    assert_eq!(failure(err), FailureReason::InvalidInvoice);

    // Invoice with an amount, amount given too (even the same one).
    let priced = invoice(&bob, 1_000).await;
    for given in [1_000, 2_000] {
        let err = alice
            .pay_invoice(&priced.invoice, &params().amount(msat(given)))
            .await
            .unwrap_err();
        assert_eq!(failure(err), FailureReason::InvalidInvoice);
    }

    // None of these was sent.
    assert_eq!(network.payment_count(), 0);
    assert_eq!(balances(&alice, &bob), (msat(100_000), msat(0)));
    assert_eq!(
        bob.lookup_invoice(&priced.payment_hash).await.unwrap(),
        Some(InvoiceState::Open)
    );
}

#[tokio::test]
async fn invoice_for_another_network_is_invalid() {
    let (network, alice, _bob) = pair(RoutingFee::ZERO, 100_000);
    let mainnet = MockNetwork::builder().currency(Currency::Bitcoin).build();
    let shop = mainnet.node("shop").build().unwrap();
    let created = invoice(&shop, 1_000).await;
    let err = alice
        .pay_invoice(&created.invoice, &params())
        .await
        .unwrap_err();
    assert_eq!(failure(err), FailureReason::InvalidInvoice);
    assert_eq!(network.payment_count(), 0);
    assert_eq!(alice.balance(), msat(100_000));
}

#[tokio::test]
async fn fee_above_the_cap_has_no_route() {
    // Fee: 100 + 5% of 10_000 = 600 msat.
    let (network, alice, bob) = pair(RoutingFee::new(msat(100), 50_000), 100_000);
    let created = invoice(&bob, 10_000).await;
    let err = alice
        .pay_invoice(
            &created.invoice,
            &PayParams::new(msat(599), Duration::from_secs(5)),
        )
        .await
        .unwrap_err();
    assert_eq!(failure(err), FailureReason::NoRoute);
    assert_eq!(balances(&alice, &bob), (msat(100_000), msat(0)));
    assert_eq!(
        bob.lookup_invoice(&created.payment_hash).await.unwrap(),
        Some(InvoiceState::Open)
    );
    assert_eq!(network.total_fees(), msat(0));

    // With the cap raised it goes through.
    let paid = alice
        .pay_invoice(
            &created.invoice,
            &PayParams::new(msat(600), Duration::from_secs(5)),
        )
        .await
        .unwrap();
    assert_eq!(paid.fee, msat(600));
    assert_conserved(&network);
}

#[tokio::test]
async fn balance_short_of_amount_plus_fee_is_insufficient() {
    let (network, alice, bob) = pair(RoutingFee::new(msat(10), 0), 1_009);
    let created = invoice(&bob, 1_000).await;
    let err = alice
        .pay_invoice(&created.invoice, &params())
        .await
        .unwrap_err();
    assert_eq!(failure(err), FailureReason::InsufficientBalance);
    assert_eq!(balances(&alice, &bob), (msat(1_009), msat(0)));
    assert_eq!(
        alice.payment(&created.payment_hash).unwrap().status,
        PaymentStatus::Failed(FailureReason::InsufficientBalance)
    );
    assert_conserved(&network);
}

#[tokio::test]
async fn a_node_does_not_pay_itself() {
    let (network, alice, _bob) = pair(RoutingFee::ZERO, 100_000);
    let own = invoice(&alice, 1_000).await;
    let err = alice
        .pay_invoice(&own.invoice, &params())
        .await
        .unwrap_err();
    assert!(
        matches!(failure(err), FailureReason::Other(m) if m == "self-payments are not allowed")
    );
    assert_eq!(network.payment_count(), 0);
    assert_eq!(alice.balance(), msat(100_000));
}

#[tokio::test]
async fn a_route_above_the_cltv_limit_finds_no_route() {
    let (network, alice, bob) = pair(RoutingFee::ZERO, 100_000);
    // The network's invoices ask for DEFAULT_MIN_FINAL_CLTV_EXPIRY_DELTA (80) blocks.
    let created = invoice(&bob, 1_000).await;
    let before = balances(&alice, &bob);
    let err = alice
        .pay_invoice(&created.invoice, &params().max_cltv_delta(79))
        .await
        .unwrap_err();
    assert_eq!(failure(err), FailureReason::NoRoute);
    assert_eq!(balances(&alice, &bob), before);
    // Recorded as a failed payment, as a node that found no route does.
    assert_eq!(
        alice.lookup_payment(&created.payment_hash).await.unwrap(),
        PaymentStatus::Failed(FailureReason::NoRoute)
    );
    // At the limit it pays.
    alice
        .pay_invoice(&created.invoice, &params().max_cltv_delta(80))
        .await
        .unwrap();
    assert_eq!(network.payment_count(), 2);
    assert_conserved(&network);
}
