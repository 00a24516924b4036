//! Paying between nodes: balances, fees, settlement, lookups.

use std::time::{Duration, SystemTime};

use l402_core::backend::{FailureReason, InvoiceRequest, InvoiceState, PayParams, PaymentStatus};
use l402_core::{BoxLightningBackend, InvoiceBackend, PayError, PaymentBackend};
use l402_mock::{MockNetwork, RoutingFee};

use crate::support::{assert_conserved, invoice, msat, pair, params};

#[tokio::test]
async fn payment_moves_amount_and_fee_exactly() {
    // 1_000 msat + 1% of 50_000 msat = 1_500 msat.
    let (network, alice, bob) = pair(RoutingFee::new(msat(1_000), 10_000), 1_000_000);
    let created = invoice(&bob, 50_000).await;
    let before = SystemTime::now();

    let paid = alice
        .pay_invoice(
            &created.invoice,
            &PayParams::new(msat(2_000), Duration::from_secs(5)),
        )
        .await
        .unwrap();
    assert_eq!(paid.amount, msat(50_000));
    assert_eq!(paid.fee, msat(1_500));
    assert!(created.payment_hash.matches(&paid.preimage));

    assert_eq!(alice.balance(), msat(1_000_000 - 50_000 - 1_500));
    assert_eq!(bob.balance(), msat(50_000));
    assert_eq!(network.total_fees(), msat(1_500));
    assert_eq!(network.total_paid(), msat(50_000));
    assert_eq!(network.in_flight(), msat(0));
    assert_conserved(&network);

    match bob.lookup_invoice(&created.payment_hash).await.unwrap() {
        Some(InvoiceState::Settled {
            settled_at,
            amount_received,
        }) => {
            assert_eq!(amount_received, msat(50_000));
            assert!(settled_at >= before && settled_at <= SystemTime::now());
        }
        other => panic!("expected settled, got {other:?}"),
    }
    assert_eq!(
        alice.lookup_payment(&created.payment_hash).await.unwrap(),
        PaymentStatus::Succeeded(paid.clone())
    );
    // Bob did not pay anything.
    assert_eq!(
        bob.lookup_payment(&created.payment_hash).await.unwrap(),
        PaymentStatus::Unknown
    );
}

#[tokio::test]
async fn fee_exactly_at_the_cap_is_paid() {
    let (network, alice, bob) = pair(RoutingFee::new(msat(10), 1_000), 100_000);
    let created = invoice(&bob, 20_000).await; // fee 10 + 20 = 30 msat
    let paid = alice
        .pay_invoice(
            &created.invoice,
            &PayParams::new(msat(30), Duration::from_secs(5)),
        )
        .await
        .unwrap();
    assert_eq!(paid.fee, msat(30));
    assert_eq!(alice.balance(), msat(100_000 - 20_030));
    assert_conserved(&network);
}

#[tokio::test]
async fn spending_the_whole_balance_is_allowed() {
    let (network, alice, bob) = pair(RoutingFee::new(msat(5), 0), 1_005);
    let created = invoice(&bob, 1_000).await;
    alice
        .pay_invoice(&created.invoice, &params())
        .await
        .unwrap();
    assert_eq!(alice.balance(), msat(0));
    assert_conserved(&network);
}

#[tokio::test]
async fn amountless_invoice_is_paid_with_the_given_amount() {
    let (network, alice, bob) = pair(RoutingFee::ZERO, 100_000);
    let created = invoice(&bob, 0).await;
    let paid = alice
        .pay_invoice(&created.invoice, &params().amount(msat(7_777)))
        .await
        .unwrap();
    assert_eq!(paid.amount, msat(7_777));
    assert_eq!(bob.balance(), msat(7_777));
    assert!(matches!(
        bob.lookup_invoice(&created.payment_hash).await.unwrap(),
        Some(InvoiceState::Settled { amount_received, .. }) if amount_received == msat(7_777)
    ));
    assert_conserved(&network);
}

#[tokio::test]
async fn received_funds_can_be_spent() {
    let (network, alice, bob) = pair(RoutingFee::new(msat(1), 0), 10_000);
    let to_bob = invoice(&bob, 4_000).await;
    alice.pay_invoice(&to_bob.invoice, &params()).await.unwrap();
    let to_alice = invoice(&alice, 3_000).await;
    bob.pay_invoice(&to_alice.invoice, &params()).await.unwrap();
    assert_eq!(alice.balance(), msat(10_000 - 4_001 + 3_000));
    assert_eq!(bob.balance(), msat(4_000 - 3_001));
    assert_eq!(network.total_fees(), msat(2));
    assert_eq!(network.total_paid(), msat(7_000));
    assert_conserved(&network);
}

#[tokio::test]
async fn a_failed_payment_can_be_retried() {
    let (network, alice, bob) = pair(RoutingFee::ZERO, 500);
    let created = invoice(&bob, 1_000).await;
    let err = alice
        .pay_invoice(&created.invoice, &params())
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        PayError::Failed(FailureReason::InsufficientBalance)
    ));
    assert_eq!(
        alice.lookup_payment(&created.payment_hash).await.unwrap(),
        PaymentStatus::Failed(FailureReason::InsufficientBalance)
    );

    alice.deposit(msat(500)).unwrap();
    let paid = alice
        .pay_invoice(&created.invoice, &params())
        .await
        .unwrap();
    assert_eq!(
        alice.lookup_payment(&created.payment_hash).await.unwrap(),
        PaymentStatus::Succeeded(paid)
    );
    assert_eq!(alice.balance(), msat(0));
    assert_eq!(network.total_deposited(), msat(1_000));
    // Both attempts are on record; the node reports the latest.
    assert_eq!(alice.payments().len(), 2);
    assert_conserved(&network);
}

#[tokio::test]
async fn nodes_work_behind_the_type_erased_backend() {
    let network = MockNetwork::new();
    let server = BoxLightningBackend::new(network.node("server").build().unwrap());
    let client_node = network.node("client").balance(msat(5_000)).build().unwrap();
    let client = BoxLightningBackend::new(client_node.clone());

    let created = server
        .invoices()
        .create_invoice(&InvoiceRequest::new(msat(2_000)))
        .await
        .unwrap();
    let paid = client
        .payments()
        .pay_invoice(&created.invoice, &params())
        .await
        .unwrap();
    assert!(created.payment_hash.matches(&paid.preimage));
    assert_eq!(client_node.balance(), msat(3_000));
}

#[test]
fn nodes_work_without_a_tokio_runtime_when_no_fault_waits() {
    let (network, alice, bob) = pair(RoutingFee::ZERO, 1_000);
    pollster::block_on(async {
        let created = bob
            .create_invoice(&InvoiceRequest::new(msat(600)))
            .await
            .unwrap();
        alice
            .pay_invoice(&created.invoice, &params())
            .await
            .unwrap();
        assert!(matches!(
            bob.lookup_invoice(&created.payment_hash).await.unwrap(),
            Some(InvoiceState::Settled { .. })
        ));
    });
    assert_eq!(bob.balance(), msat(600));
    assert_conserved(&network);
}
