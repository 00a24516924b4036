//! Fault injection: unreachable nodes, latency, invoice failures, payments in flight,
//! cut connections and injected failures.

use std::time::Duration;

use l402_core::backend::{FailureReason, InvoiceRequest, InvoiceState, PayParams, PaymentStatus};
use l402_core::{BackendError, ErrorKind, InvoiceBackend, PayError, PaymentBackend};
use l402_mock::{MockNode, Outcome, PaymentFault, RoutingFee};
use tokio::time::Instant;

use crate::support::{assert_conserved, invoice, msat, pair, params};

fn assert_transient(err: &BackendError) {
    assert_eq!(err.kind(), ErrorKind::Transient, "{err}");
}

fn outcome_unknown(result: Result<impl std::fmt::Debug, PayError>) -> BackendError {
    match result {
        Err(PayError::OutcomeUnknown(e)) => e,
        other => panic!("expected an unknown outcome, got {other:?}"),
    }
}

/// Every trait call of `node` fails as unreachable.
async fn assert_unreachable(node: &MockNode, other: &MockNode) {
    let created = invoice(other, 1_000).await;
    assert_transient(
        &node
            .create_invoice(&InvoiceRequest::new(msat(1)))
            .await
            .unwrap_err(),
    );
    assert_transient(
        &node
            .lookup_invoice(&created.payment_hash)
            .await
            .unwrap_err(),
    );
    assert_transient(&node.node_info().await.unwrap_err());
    assert_transient(
        &node
            .lookup_payment(&created.payment_hash)
            .await
            .unwrap_err(),
    );
    match node.pay_invoice(&created.invoice, &params()).await {
        Err(PayError::NotAttempted(e)) => assert_transient(&e),
        other => panic!("expected not attempted, got {other:?}"),
    }
    assert!(node.payment(&created.payment_hash).is_none());
}

#[tokio::test]
async fn unreachable_node_fails_every_call_until_cleared() {
    let (network, alice, bob) = pair(RoutingFee::ZERO, 100_000);
    alice.faults().unreachable(true);
    assert_unreachable(&alice, &bob).await;
    assert_unreachable(&alice, &bob).await;
    assert_eq!(alice.balance(), msat(100_000));
    assert_eq!(network.payment_count(), 0);

    // Its API is down, but the node itself still receives payments.
    bob.deposit(msat(5_000)).unwrap();
    let to_alice = alice
        .create_invoice_at(
            &InvoiceRequest::new(msat(2_000)),
            std::time::SystemTime::now(),
        )
        .unwrap();
    bob.pay_invoice(&to_alice.invoice, &params()).await.unwrap();
    assert_eq!(alice.balance(), msat(102_000));

    alice.faults().unreachable(false);
    let created = invoice(&bob, 1_000).await;
    alice
        .pay_invoice(&created.invoice, &params())
        .await
        .unwrap();
    assert!(alice.node_info().await.is_ok());
    assert_conserved(&network);
}

#[tokio::test]
async fn unreachable_for_the_next_calls_only() {
    let (_network, alice, bob) = pair(RoutingFee::ZERO, 100_000);
    let created = invoice(&bob, 1_000).await;
    alice.faults().unreachable_next(2);
    assert_transient(&alice.node_info().await.unwrap_err());
    match alice.pay_invoice(&created.invoice, &params()).await {
        Err(PayError::NotAttempted(e)) => assert_transient(&e),
        other => panic!("expected not attempted, got {other:?}"),
    }
    // Third call: through.
    alice
        .pay_invoice(&created.invoice, &params())
        .await
        .unwrap();
    assert!(alice.node_info().await.is_ok());
    // Other nodes were never affected.
    assert!(bob.node_info().await.is_ok());
}

#[tokio::test]
async fn latency_delays_every_call_until_cleared() {
    let (_network, alice, bob) = pair(RoutingFee::ZERO, 100_000);
    let delay = Duration::from_millis(120);
    bob.faults().latency(delay);

    let start = Instant::now();
    let created = invoice(&bob, 1_000).await;
    assert!(start.elapsed() >= delay);

    let start = Instant::now();
    assert_eq!(
        bob.lookup_invoice(&created.payment_hash).await.unwrap(),
        Some(InvoiceState::Open)
    );
    assert!(start.elapsed() >= delay);

    // The payer has no latency; the payee's API latency does not slow payments to it.
    let start = Instant::now();
    alice
        .pay_invoice(&created.invoice, &params())
        .await
        .unwrap();
    assert!(start.elapsed() < delay);

    let start = Instant::now();
    bob.node_info().await.unwrap();
    bob.lookup_payment(&created.payment_hash).await.unwrap();
    assert!(start.elapsed() >= delay * 2);

    bob.faults().latency(Duration::ZERO);
    let start = Instant::now();
    bob.node_info().await.unwrap();
    assert!(start.elapsed() < delay);
}

#[tokio::test(start_paused = true)]
async fn latency_for_the_next_calls_only() {
    let (_network, alice, bob) = pair(RoutingFee::ZERO, 100_000);
    let created = invoice(&bob, 1_000).await;
    alice.faults().latency_next(1, Duration::from_secs(30));

    let start = Instant::now();
    alice
        .pay_invoice(&created.invoice, &params())
        .await
        .unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(30));

    let start = Instant::now();
    alice.node_info().await.unwrap();
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test]
async fn invoice_creation_fails_for_the_next_calls_or_until_cleared() {
    let (network, _alice, bob) = pair(RoutingFee::ZERO, 0);
    bob.faults().fail_next_invoices(2);
    for _ in 0..2 {
        assert_transient(
            &bob.create_invoice(&InvoiceRequest::new(msat(1_000)))
                .await
                .unwrap_err(),
        );
    }
    // Other calls are unaffected, and the third creation works.
    assert!(bob.node_info().await.is_ok());
    invoice(&bob, 1_000).await;

    bob.faults().fail_invoices(true);
    for _ in 0..3 {
        let err = bob
            .create_invoice(&InvoiceRequest::new(msat(1_000)))
            .await
            .unwrap_err();
        assert!(err.is_transient());
    }
    bob.faults().fail_invoices(false);
    invoice(&bob, 1_000).await;
    assert_eq!(network.invoice_count(), 2);
}

#[tokio::test]
async fn in_flight_payment_waits_then_succeeds() {
    let (network, alice, bob) = pair(RoutingFee::new(msat(7), 0), 100_000);
    let created = invoice(&bob, 1_000).await;
    let hold = Duration::from_millis(800);
    alice.faults().next_payment(PaymentFault::InFlight {
        duration: hold,
        then: Outcome::Succeed,
    });

    let start = Instant::now();
    let probe = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            alice.lookup_payment(&created.payment_hash).await.unwrap(),
            PaymentStatus::InFlight
        );
        // The invoice is held: accepted but not settled, money locked.
        assert_eq!(
            bob.lookup_invoice(&created.payment_hash).await.unwrap(),
            Some(InvoiceState::Accepted)
        );
        assert_eq!(alice.balance(), msat(100_000 - 1_007));
        assert_eq!(bob.balance(), msat(0));
        assert_eq!(network.in_flight(), msat(1_007));
        assert_conserved(&network);
        // Paying again meanwhile: refused.
        assert!(matches!(
            alice.pay_invoice(&created.invoice, &params()).await,
            Err(PayError::Failed(FailureReason::AlreadyPaid))
        ));
    };
    let pay_params = params();
    let (paid, ()) = tokio::join!(alice.pay_invoice(&created.invoice, &pay_params), probe);
    let paid = paid.unwrap();
    assert!(start.elapsed() >= hold);
    assert!(created.payment_hash.matches(&paid.preimage));
    assert_eq!(
        alice.lookup_payment(&created.payment_hash).await.unwrap(),
        PaymentStatus::Succeeded(paid)
    );
    assert_eq!(bob.balance(), msat(1_000));
    assert_eq!(network.in_flight(), msat(0));
    assert_eq!(network.total_fees(), msat(7));
    assert_conserved(&network);
}

#[tokio::test(start_paused = true)]
async fn in_flight_past_the_timeout_is_unknown_then_completes() {
    let (network, alice, bob) = pair(RoutingFee::ZERO, 100_000);
    let created = invoice(&bob, 1_000).await;
    alice.faults().next_payment(PaymentFault::InFlight {
        duration: Duration::from_millis(300),
        then: Outcome::Succeed,
    });

    let start = Instant::now();
    let result = alice
        .pay_invoice(
            &created.invoice,
            &PayParams::new(msat(0), Duration::from_millis(50)),
        )
        .await;
    let err = outcome_unknown(result);
    assert_transient(&err);
    assert!(start.elapsed() >= Duration::from_millis(50));
    assert!(start.elapsed() < Duration::from_millis(300));
    assert_eq!(
        alice.lookup_payment(&created.payment_hash).await.unwrap(),
        PaymentStatus::InFlight
    );

    tokio::time::sleep(Duration::from_millis(300)).await;
    let PaymentStatus::Succeeded(paid) = alice.lookup_payment(&created.payment_hash).await.unwrap()
    else {
        panic!("expected the payment to have succeeded");
    };
    assert!(created.payment_hash.matches(&paid.preimage));
    assert_eq!(
        paid.preimage,
        bob.invoice(&created.payment_hash).unwrap().preimage
    );
    assert!(matches!(
        bob.lookup_invoice(&created.payment_hash).await.unwrap(),
        Some(InvoiceState::Settled { .. })
    ));
    assert_eq!(bob.balance(), msat(1_000));
    assert_conserved(&network);
}

#[tokio::test(start_paused = true)]
async fn in_flight_payment_completes_even_if_the_call_is_dropped() {
    let (network, alice, bob) = pair(RoutingFee::ZERO, 100_000);
    let created = invoice(&bob, 1_000).await;
    alice.faults().next_payment(PaymentFault::InFlight {
        duration: Duration::from_millis(200),
        then: Outcome::Succeed,
    });
    // The caller gives up (the future is dropped) long before the node does.
    let dropped = tokio::time::timeout(
        Duration::from_millis(20),
        alice.pay_invoice(&created.invoice, &params()),
    )
    .await;
    assert!(dropped.is_err());
    assert_eq!(network.in_flight(), msat(1_000));

    tokio::time::sleep(Duration::from_millis(250)).await;
    // No call was made to the node meanwhile: the test's view resolves the payment.
    assert_eq!(bob.balance(), msat(1_000));
    assert_eq!(network.in_flight(), msat(0));
    assert!(matches!(
        alice.payment(&created.payment_hash).unwrap().status,
        PaymentStatus::Succeeded(_)
    ));
    assert_conserved(&network);
}

#[tokio::test(start_paused = true)]
async fn in_flight_honors_paused_time() {
    let (network, alice, bob) = pair(RoutingFee::ZERO, 100_000);
    let created = invoice(&bob, 1_000).await;
    alice.faults().next_payment(PaymentFault::InFlight {
        duration: Duration::from_secs(3_600),
        then: Outcome::Succeed,
    });
    let start = Instant::now();
    let paid = alice
        .pay_invoice(
            &created.invoice,
            &PayParams::new(msat(0), Duration::from_secs(7_200)),
        )
        .await
        .unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(3_600));
    assert!(created.payment_hash.matches(&paid.preimage));
    assert_conserved(&network);
}

#[tokio::test]
async fn in_flight_then_failure_refunds_the_payer() {
    let (network, alice, bob) = pair(RoutingFee::new(msat(5), 0), 100_000);
    let created = invoice(&bob, 1_000).await;
    alice.faults().next_payment(PaymentFault::InFlight {
        duration: Duration::from_millis(100),
        then: Outcome::Fail(FailureReason::Timeout),
    });
    let err = alice
        .pay_invoice(&created.invoice, &params())
        .await
        .unwrap_err();
    assert!(matches!(err, PayError::Failed(FailureReason::Timeout)));
    assert_eq!(alice.balance(), msat(100_000));
    assert_eq!(bob.balance(), msat(0));
    assert_eq!(network.total_fees(), msat(0));
    assert_eq!(
        alice.lookup_payment(&created.payment_hash).await.unwrap(),
        PaymentStatus::Failed(FailureReason::Timeout)
    );
    assert_eq!(
        bob.lookup_invoice(&created.payment_hash).await.unwrap(),
        Some(InvoiceState::Open)
    );
    // The invoice is open again: a retry pays it.
    alice
        .pay_invoice(&created.invoice, &params())
        .await
        .unwrap();
    assert_eq!(bob.balance(), msat(1_000));
    assert_conserved(&network);
}

#[tokio::test(start_paused = true)]
async fn held_invoice_cannot_be_paid_or_canceled_by_others() {
    let (network, alice, bob) = pair(RoutingFee::ZERO, 100_000);
    let carol = network
        .node("carol")
        .balance(msat(100_000))
        .build()
        .unwrap();
    let created = invoice(&bob, 1_000).await;
    alice.faults().next_payment(PaymentFault::InFlight {
        duration: Duration::from_millis(200),
        then: Outcome::Succeed,
    });
    let unknown = outcome_unknown(
        alice
            .pay_invoice(&created.invoice, &PayParams::new(msat(0), Duration::ZERO))
            .await,
    );
    assert_transient(&unknown);
    assert!(matches!(
        carol.pay_invoice(&created.invoice, &params()).await,
        Err(PayError::Failed(FailureReason::IncorrectPaymentDetails))
    ));
    assert_eq!(
        bob.cancel_invoice(&created.payment_hash),
        Err(l402_mock::MockError::InvoiceNotOpen)
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(carol.balance(), msat(100_000));
    assert_eq!(bob.balance(), msat(1_000));
    assert_conserved(&network);
}

#[tokio::test]
async fn cut_after_settle_loses_the_answer_but_not_the_payment() {
    let (network, alice, bob) = pair(RoutingFee::new(msat(2), 0), 100_000);
    let created = invoice(&bob, 1_000).await;
    alice.faults().next_payment(PaymentFault::CutAfterSettle);

    let err = outcome_unknown(alice.pay_invoice(&created.invoice, &params()).await);
    assert_transient(&err);

    // The payee has the money and the invoice is settled; the payer paid amount and fee.
    assert!(matches!(
        bob.lookup_invoice(&created.payment_hash).await.unwrap(),
        Some(InvoiceState::Settled { amount_received, .. }) if amount_received == msat(1_000)
    ));
    assert_eq!(bob.balance(), msat(1_000));
    assert_eq!(alice.balance(), msat(100_000 - 1_002));

    // Crash recovery: the lookup yields the preimage.
    let PaymentStatus::Succeeded(recovered) =
        alice.lookup_payment(&created.payment_hash).await.unwrap()
    else {
        panic!("expected the payment to have succeeded");
    };
    assert!(created.payment_hash.matches(&recovered.preimage));
    assert_eq!(recovered.amount, msat(1_000));
    assert_eq!(recovered.fee, msat(2));
    // And paying again is refused rather than paying twice.
    assert!(matches!(
        alice.pay_invoice(&created.invoice, &params()).await,
        Err(PayError::Failed(FailureReason::AlreadyPaid))
    ));
    assert_eq!(alice.balance(), msat(100_000 - 1_002));
    assert_conserved(&network);
}

#[tokio::test]
async fn cut_answer_of_a_failed_payment_resolves_to_the_failure() {
    let (network, alice, bob) = pair(RoutingFee::ZERO, 10);
    let created = invoice(&bob, 1_000).await;
    alice.faults().next_payment(PaymentFault::CutAfterSettle);
    outcome_unknown(alice.pay_invoice(&created.invoice, &params()).await);
    assert_eq!(
        alice.lookup_payment(&created.payment_hash).await.unwrap(),
        PaymentStatus::Failed(FailureReason::InsufficientBalance)
    );
    assert_eq!(alice.balance(), msat(10));
    assert_conserved(&network);
}

#[tokio::test]
async fn injected_failure_moves_nothing_and_waits_for_a_sent_payment() {
    let (network, alice, bob) = pair(RoutingFee::ZERO, 100_000);
    alice
        .faults()
        .next_payment(PaymentFault::Fail(FailureReason::Other("boom".into())));

    // A payment refused by the local checks does not use the fault.
    let amountless = invoice(&bob, 0).await;
    assert!(matches!(
        alice.pay_invoice(&amountless.invoice, &params()).await,
        Err(PayError::Failed(FailureReason::InvalidInvoice))
    ));
    // Nor does a call to an unreachable node.
    alice.faults().unreachable_next(1);
    let created = invoice(&bob, 1_000).await;
    assert!(matches!(
        alice.pay_invoice(&created.invoice, &params()).await,
        Err(PayError::NotAttempted(_))
    ));
    assert_eq!(alice.faults().pending_payment_faults(), 1);

    let err = alice
        .pay_invoice(&created.invoice, &params())
        .await
        .unwrap_err();
    assert!(matches!(err, PayError::Failed(FailureReason::Other(ref m)) if m == "boom"));
    assert_eq!(alice.faults().pending_payment_faults(), 0);
    assert_eq!(alice.balance(), msat(100_000));
    assert_eq!(
        bob.lookup_invoice(&created.payment_hash).await.unwrap(),
        Some(InvoiceState::Open)
    );
    // The fault was for one payment only.
    alice
        .pay_invoice(&created.invoice, &params())
        .await
        .unwrap();
    assert_conserved(&network);
}

#[tokio::test]
async fn queued_faults_apply_in_order_then_the_standing_one() {
    let (network, alice, bob) = pair(RoutingFee::ZERO, 100_000);
    alice
        .faults()
        .next_payment(PaymentFault::Fail(FailureReason::NoRoute))
        .next_payment(PaymentFault::Fail(FailureReason::Timeout))
        .every_payment(Some(PaymentFault::Fail(FailureReason::InsufficientBalance)));

    let mut reasons = Vec::new();
    for _ in 0..4 {
        let created = invoice(&bob, 1_000).await;
        match alice.pay_invoice(&created.invoice, &params()).await {
            Err(PayError::Failed(reason)) => reasons.push(reason),
            other => panic!("expected a failure, got {other:?}"),
        }
    }
    assert_eq!(
        reasons,
        [
            FailureReason::NoRoute,
            FailureReason::Timeout,
            FailureReason::InsufficientBalance,
            FailureReason::InsufficientBalance,
        ]
    );

    alice.faults().every_payment(None);
    let created = invoice(&bob, 1_000).await;
    alice
        .pay_invoice(&created.invoice, &params())
        .await
        .unwrap();
    assert_conserved(&network);
}

#[tokio::test]
async fn clear_removes_every_fault() {
    let (_network, alice, bob) = pair(RoutingFee::ZERO, 100_000);
    alice
        .faults()
        .unreachable(true)
        .latency(Duration::from_secs(60))
        .fail_invoices(true)
        .next_payment(PaymentFault::CutAfterSettle)
        .every_payment(Some(PaymentFault::Fail(FailureReason::NoRoute)));
    alice.faults().clear();
    assert_eq!(alice.faults().pending_payment_faults(), 0);

    let start = Instant::now();
    invoice(&alice, 1_000).await;
    let created = invoice(&bob, 1_000).await;
    alice
        .pay_invoice(&created.invoice, &params())
        .await
        .unwrap();
    assert!(start.elapsed() < Duration::from_secs(1));
}
