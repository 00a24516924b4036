//! Hundreds of concurrent payments on a multi-thread runtime: the ledger stays exact.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use l402_core::backend::{FailureReason, InvoiceState, PaymentStatus};
use l402_core::{Amount, PayError, PaymentBackend, PaymentHash};
use l402_mock::{MockNetwork, MockNode, Outcome, PaymentFault, RoutingFee};
use tokio::sync::Barrier;
use tokio::task::JoinSet;

use crate::support::{assert_conserved, invoice, msat, params};

const TASKS: usize = 300;

fn nodes(network: &MockNetwork, count: usize, balance: u64) -> Vec<MockNode> {
    (0..count)
        .map(|i| {
            network
                .node(format!("node-{i}"))
                .balance(msat(balance))
                .build()
                .unwrap()
        })
        .collect()
}

/// Pays, from `payer` to `payee`, a fresh invoice of `amount`; all tasks start together.
async fn pay_one(
    payer: MockNode,
    payee: MockNode,
    amount: u64,
    barrier: Arc<Barrier>,
) -> (PaymentHash, Result<Amount, PayError>) {
    let created = invoice(&payee, amount).await;
    barrier.wait().await;
    let result = payer
        .pay_invoice(&created.invoice, &params())
        .await
        .map(|paid| {
            assert!(created.payment_hash.matches(&paid.preimage));
            paid.fee
        });
    (created.payment_hash, result)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundreds_of_concurrent_payments_balance_to_the_msat() {
    let network = MockNetwork::builder()
        .routing_fee(RoutingFee::new(msat(13), 1_700))
        .build();
    // Ten nodes pay each other, each spending far more than it starts with: some payments
    // run out of money, the others rely on funds received meanwhile.
    let nodes = nodes(&network, 10, 20_000);
    let barrier = Arc::new(Barrier::new(TASKS));
    let mut tasks = JoinSet::new();
    for i in 0..TASKS {
        let payer = nodes[i % 10].clone();
        let payee = nodes[(i * 3 + i / 10) % 10].clone();
        let payee = if payee.node_id() == payer.node_id() {
            nodes[(i + 1) % 10].clone()
        } else {
            payee
        };
        let amount = 1_000 + (i as u64 * 337) % 9_000;
        tasks.spawn(pay_one(payer, payee, amount, Arc::clone(&barrier)));
    }

    let mut paid = HashSet::new();
    let mut unpaid = HashSet::new();
    let mut fees = Amount::ZERO;
    while let Some(joined) = tasks.join_next().await {
        let (hash, result) = joined.unwrap();
        match result {
            Ok(fee) => {
                fees = fees.checked_add(fee).unwrap();
                paid.insert(hash);
            }
            Err(PayError::Failed(FailureReason::InsufficientBalance)) => {
                unpaid.insert(hash);
            }
            Err(other) => panic!("unexpected payment error: {other}"),
        }
    }
    assert_eq!(paid.len() + unpaid.len(), TASKS);
    // The amounts are chosen so that both happen.
    assert!(!paid.is_empty());
    assert!(!unpaid.is_empty());

    // Exactly the paid invoices are settled, and they account for every msat.
    let mut received = Amount::ZERO;
    for record in network.invoices() {
        match record.state {
            InvoiceState::Settled {
                amount_received, ..
            } => {
                assert!(paid.contains(&record.payment_hash));
                assert_eq!(Some(amount_received), record.amount);
                received = received.checked_add(amount_received).unwrap();
            }
            InvoiceState::Open => assert!(unpaid.contains(&record.payment_hash)),
            other => panic!("unexpected invoice state {other:?}"),
        }
    }
    assert_eq!(network.invoice_count(), TASKS);
    assert_eq!(network.total_paid(), received);
    assert_eq!(network.total_fees(), fees);
    assert_eq!(network.in_flight(), Amount::ZERO);
    assert_eq!(network.total_deposited(), msat(200_000));
    assert_conserved(&network);

    // Every node's balance is its deposit, plus what it received, minus what it sent.
    for node in &nodes {
        let mut expected = 20_000i128;
        for p in network.payments() {
            if let PaymentStatus::Succeeded(s) = &p.status {
                if p.payer == node.node_id() {
                    expected -= i128::from(s.amount.msat() + s.fee.msat());
                }
                if p.payee == node.node_id() {
                    expected += i128::from(s.amount.msat());
                }
            }
        }
        assert_eq!(i128::from(node.balance().msat()), expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_payments_never_overdraw_a_payer() {
    // Each payment costs 1_000 + 10 msat; 50_000 msat pays for exactly 49 of them.
    let network = MockNetwork::builder()
        .routing_fee(RoutingFee::new(msat(10), 0))
        .build();
    let payer = network.node("payer").balance(msat(50_000)).build().unwrap();
    let payees = nodes(&network, 3, 0);
    let barrier = Arc::new(Barrier::new(TASKS));
    let mut tasks = JoinSet::new();
    for i in 0..TASKS {
        tasks.spawn(pay_one(
            payer.clone(),
            payees[i % 3].clone(),
            1_000,
            Arc::clone(&barrier),
        ));
    }
    let (mut ok, mut insufficient) = (0, 0);
    while let Some(joined) = tasks.join_next().await {
        match joined.unwrap().1 {
            Ok(_) => ok += 1,
            Err(PayError::Failed(FailureReason::InsufficientBalance)) => insufficient += 1,
            Err(other) => panic!("unexpected payment error: {other}"),
        }
    }
    assert_eq!(ok, 49);
    assert_eq!(insufficient, TASKS - 49);
    assert_eq!(payer.balance(), msat(50_000 - 49 * 1_010));
    let received: u64 = payees.iter().map(|p| p.balance().msat()).sum();
    assert_eq!(received, 49_000);
    assert_eq!(network.total_fees(), msat(490));
    assert_conserved(&network);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_node_paying_the_same_invoice_concurrently_pays_once() {
    let network = MockNetwork::new();
    let payer = network
        .node("payer")
        .balance(msat(1_000_000))
        .build()
        .unwrap();
    let payee = network.node("payee").build().unwrap();
    let created = invoice(&payee, 5_000).await;
    let barrier = Arc::new(Barrier::new(100));
    let mut tasks = JoinSet::new();
    for _ in 0..100 {
        let (payer, invoice, barrier) =
            (payer.clone(), created.invoice.clone(), Arc::clone(&barrier));
        tasks.spawn(async move {
            barrier.wait().await;
            payer.pay_invoice(&invoice, &params()).await
        });
    }
    let (mut ok, mut already) = (0, 0);
    while let Some(joined) = tasks.join_next().await {
        match joined.unwrap() {
            Ok(_) => ok += 1,
            Err(PayError::Failed(FailureReason::AlreadyPaid)) => already += 1,
            Err(other) => panic!("unexpected payment error: {other}"),
        }
    }
    assert_eq!((ok, already), (1, 99));
    assert_eq!(payee.balance(), msat(5_000));
    assert_eq!(payer.balance(), msat(1_000_000 - 5_000));
    assert_eq!(network.payment_count(), 1);
    assert_conserved(&network);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_nodes_paying_the_same_invoice_concurrently_pay_once() {
    let network = MockNetwork::new();
    let payers = nodes(&network, 20, 10_000);
    let payee = network.node("payee").build().unwrap();
    let created = invoice(&payee, 5_000).await;
    let barrier = Arc::new(Barrier::new(payers.len()));
    let mut tasks = JoinSet::new();
    for payer in payers.clone() {
        let (invoice, barrier) = (created.invoice.clone(), Arc::clone(&barrier));
        tasks.spawn(async move {
            barrier.wait().await;
            payer.pay_invoice(&invoice, &params()).await
        });
    }
    let (mut ok, mut refused) = (0, 0);
    while let Some(joined) = tasks.join_next().await {
        match joined.unwrap() {
            Ok(_) => ok += 1,
            Err(PayError::Failed(FailureReason::IncorrectPaymentDetails)) => refused += 1,
            Err(other) => panic!("unexpected payment error: {other}"),
        }
    }
    assert_eq!((ok, refused), (1, 19));
    assert_eq!(payee.balance(), msat(5_000));
    assert_eq!(network.total_balance(), msat(20 * 10_000));
    assert_conserved(&network);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_in_flight_payments_settle_consistently() {
    let network = MockNetwork::builder()
        .routing_fee(RoutingFee::new(msat(1), 0))
        .build();
    let payers = nodes(&network, 5, 100_000);
    let payee = network.node("payee").build().unwrap();
    for (i, payer) in payers.iter().enumerate() {
        // Half of the payers' payments hang then fail, the other half hang then succeed.
        let then = if i % 2 == 0 {
            Outcome::Succeed
        } else {
            Outcome::Fail(FailureReason::NoRoute)
        };
        payer.faults().every_payment(Some(PaymentFault::InFlight {
            duration: Duration::from_millis(50),
            then,
        }));
    }
    let barrier = Arc::new(Barrier::new(100));
    let mut tasks = JoinSet::new();
    for i in 0..100 {
        tasks.spawn(pay_one(
            payers[i % 5].clone(),
            payee.clone(),
            1_000,
            Arc::clone(&barrier),
        ));
    }
    let (mut ok, mut failed) = (0, 0);
    while let Some(joined) = tasks.join_next().await {
        match joined.unwrap().1 {
            Ok(_) => ok += 1,
            Err(PayError::Failed(FailureReason::NoRoute)) => failed += 1,
            Err(other) => panic!("unexpected payment error: {other}"),
        }
    }
    // Payers 0, 2 and 4 succeed (60 payments), 1 and 3 fail (40).
    assert_eq!((ok, failed), (60, 40));
    assert_eq!(payee.balance(), msat(60_000));
    assert_eq!(network.in_flight(), Amount::ZERO);
    assert_eq!(network.total_fees(), msat(60));
    for (i, payer) in payers.iter().enumerate() {
        let expected = if i % 2 == 0 {
            100_000 - 20 * 1_001
        } else {
            100_000
        };
        assert_eq!(payer.balance(), msat(expected));
    }
    assert_conserved(&network);
}
