//! What a test can see: listings, counts, totals, per node and network-wide.

use std::time::SystemTime;

use l402_core::PaymentBackend;
use l402_core::backend::{FailureReason, InvoiceState, PaymentStatus};
use l402_mock::{MockNetwork, RoutingFee};

use crate::support::{assert_conserved, invoice, msat, params};

#[tokio::test]
async fn invoices_payments_and_totals_are_listed() {
    let network = MockNetwork::builder()
        .routing_fee(RoutingFee::new(msat(1), 0))
        .build();
    let alice = network.node("alice").balance(msat(10_000)).build().unwrap();
    let bob = network.node("bob").balance(msat(500)).build().unwrap();
    let carol = network.node("carol").build().unwrap();

    let before = SystemTime::now();
    let from_bob = invoice(&bob, 2_000).await;
    let from_carol = invoice(&carol, 3_000).await;
    let unpaid = invoice(&carol, 4_000).await;
    let from_alice = invoice(&alice, 1_000).await;

    alice
        .pay_invoice(&from_bob.invoice, &params())
        .await
        .unwrap();
    alice
        .pay_invoice(&from_carol.invoice, &params())
        .await
        .unwrap();
    // Bob cannot afford 1_001 msat... after receiving 2_000 he can.
    bob.pay_invoice(&from_alice.invoice, &params())
        .await
        .unwrap();
    let short = invoice(&alice, 100_000).await;
    assert!(bob.pay_invoice(&short.invoice, &params()).await.is_err());

    // Network-wide listings, oldest first.
    let hashes: Vec<_> = network.invoices().iter().map(|r| r.payment_hash).collect();
    assert_eq!(
        hashes,
        [
            from_bob.payment_hash,
            from_carol.payment_hash,
            unpaid.payment_hash,
            from_alice.payment_hash,
            short.payment_hash,
        ]
    );
    assert_eq!(network.invoice_count(), 5);
    assert_eq!(network.payment_count(), 4);
    let payments = network.payments();
    assert_eq!(payments.len(), 4);
    assert_eq!(payments[0].payer, alice.node_id());
    assert_eq!(payments[0].payee, bob.node_id());
    assert_eq!(payments[0].amount, msat(2_000));
    assert_eq!(payments[0].fee, msat(1));
    assert!(payments[0].started_at >= before);
    assert_eq!(
        payments[3].status,
        PaymentStatus::Failed(FailureReason::InsufficientBalance)
    );
    assert_eq!(payments[3].fee, msat(0));

    // Per node.
    assert_eq!(carol.invoices().len(), 2);
    assert_eq!(
        carol.invoice(&unpaid.payment_hash).unwrap().state,
        InvoiceState::Open
    );
    assert!(carol.invoice(&from_bob.payment_hash).is_none());
    assert_eq!(alice.payments().len(), 2);
    assert_eq!(bob.payments().len(), 2);
    assert!(carol.payments().is_empty());
    assert!(matches!(
        alice.payment(&from_carol.payment_hash).unwrap().status,
        PaymentStatus::Succeeded(_)
    ));
    assert!(bob.payment(&from_carol.payment_hash).is_none());
    let settled = network
        .invoices()
        .iter()
        .filter(|r| matches!(r.state, InvoiceState::Settled { .. }))
        .count();
    assert_eq!(settled, 3);

    // Totals.
    assert_eq!(network.total_paid(), msat(6_000));
    assert_eq!(network.total_fees(), msat(3));
    assert_eq!(alice.balance(), msat(10_000 - 5_002 + 1_000));
    assert_eq!(bob.balance(), msat(500 + 2_000 - 1_001));
    assert_eq!(carol.balance(), msat(3_000));
    assert_eq!(network.total_deposited(), msat(10_500));
    assert_eq!(network.total_balance(), msat(10_500 - 3));
    assert_conserved(&network);

    // Lookup of an invoice by hash, and of nodes by id; handles share state.
    let record = network.invoice(&from_carol.payment_hash).unwrap();
    assert_eq!(record.payee, carol.node_id());
    let found = network.node_by_id(&carol.node_id()).unwrap();
    assert_eq!(found.balance(), carol.balance());
    assert_eq!(found.alias(), "carol");
    let ids: Vec<_> = network.nodes().iter().map(|n| n.node_id()).collect();
    assert_eq!(ids, [alice.node_id(), bob.node_id(), carol.node_id()]);
    assert_eq!(carol.network().invoice_count(), 5);
    let stranger = MockNetwork::new().node("x").build().unwrap();
    assert!(network.node_by_id(&stranger.node_id()).is_none());
}

#[test]
fn network_defaults() {
    let network = MockNetwork::default();
    assert_eq!(
        network.currency(),
        l402_core::lightning_invoice::Currency::Regtest
    );
    assert_eq!(network.routing_fee(), RoutingFee::ZERO);
    assert_eq!(
        network.min_final_cltv_expiry_delta(),
        l402_mock::DEFAULT_MIN_FINAL_CLTV_EXPIRY_DELTA
    );
    assert!(network.nodes().is_empty());
    assert_eq!(network.total_deposited(), msat(0));
}

#[test]
fn deposits_are_checked_for_overflow() {
    let network = MockNetwork::new();
    let node = network
        .node("rich")
        .balance(l402_core::Amount::MAX)
        .build()
        .unwrap();
    assert_eq!(
        node.deposit(msat(1)),
        Err(l402_mock::MockError::BalanceOverflow)
    );
    assert_eq!(
        network.node("also").balance(msat(1)).build().unwrap_err(),
        l402_mock::MockError::BalanceOverflow
    );
    assert_eq!(node.balance(), l402_core::Amount::MAX);
    assert_eq!(network.nodes().len(), 1);
}
