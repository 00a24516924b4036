//! Paying: amounts, duplicates, payments in flight, lost answers, cut connections,
//! timeouts, the CLTV limit.

use std::time::{Duration, Instant};

use l402_core::backend::{FailureReason, PayParams, PaymentStatus};
use l402_core::{Amount, PayError, PaymentBackend};
use l402_mock::{Outcome, PaymentFault};

use crate::{AGENT_START_MSAT, Harness, ROUTING_FEE_MSAT, invoice};

/// The parameters the tests pay with: a 2,000 msat fee cap, 10 s timeout.
#[must_use]
pub fn params() -> PayParams {
    PayParams::new(Amount::from_msat(2_000), Duration::from_secs(10))
}

/// An invoice of another node is paid with its amount and the routing fee, the balances
/// move by exactly that, the lookup agrees, and paying it again is `AlreadyPaid`.
pub async fn pays_an_invoice_of_another_node<H: Harness>(pair: &H) {
    let created = invoice(pair, 21_000).await;
    let agent = pair.agent_backend();
    let paid = agent
        .pay_invoice(&created.invoice, &params())
        .await
        .unwrap();
    assert!(created.payment_hash.matches(&paid.preimage));
    assert_eq!(paid.amount, Amount::from_msat(21_000));
    assert_eq!(paid.fee, Amount::from_msat(ROUTING_FEE_MSAT));
    assert_eq!(
        pair.agent_node().balance(),
        Amount::from_msat(AGENT_START_MSAT - 21_000 - ROUTING_FEE_MSAT)
    );
    assert_eq!(pair.server_node().balance(), Amount::from_msat(21_000));
    assert_eq!(
        agent.lookup_payment(&created.payment_hash).await.unwrap(),
        PaymentStatus::Succeeded(paid)
    );
    assert!(matches!(
        agent.pay_invoice(&created.invoice, &params()).await,
        Err(PayError::Failed(FailureReason::AlreadyPaid))
    ));
}

/// An amountless invoice is refused without an amount and paid with one.
pub async fn amountless_invoice_with_an_amount<H: Harness>(pair: &H) {
    let created = invoice(pair, 0).await;
    assert_eq!(created.invoice.amount_milli_satoshis(), None);
    let agent = pair.agent_backend();
    assert!(matches!(
        agent.pay_invoice(&created.invoice, &params()).await,
        Err(PayError::Failed(FailureReason::InvalidInvoice))
    ));
    let paid = agent
        .pay_invoice(&created.invoice, &params().amount(Amount::from_msat(4_000)))
        .await
        .unwrap();
    assert_eq!(paid.amount, Amount::from_msat(4_000));
}

/// Starts paying an invoice of 10,000 msat that stays in flight for 400 ms, then
/// succeeds; returns the payment's task once it is under way.
async fn pay_in_flight<H: Harness>(
    pair: &H,
) -> (
    l402_core::backend::CreatedInvoice,
    H::Agent,
    tokio::task::JoinHandle<Result<l402_core::backend::PaymentSuccess, PayError>>,
) {
    let created = invoice(pair, 10_000).await;
    pair.agent_node()
        .faults()
        .next_payment(PaymentFault::InFlight {
            duration: Duration::from_millis(400),
            then: Outcome::Succeed,
        });
    let agent = pair.agent_backend();
    let paying = {
        let agent = agent.clone();
        let invoice = created.invoice.clone();
        tokio::spawn(async move { agent.pay_invoice(&invoice, &params()).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    (created, agent, paying)
}

/// A payment in flight looks up as `InFlight`, then as `Succeeded` with its preimage.
pub async fn in_flight_then_success<H: Harness>(pair: &H) {
    let (created, agent, paying) = pay_in_flight(pair).await;
    assert_eq!(
        agent.lookup_payment(&created.payment_hash).await.unwrap(),
        PaymentStatus::InFlight
    );
    let paid = paying.await.unwrap().unwrap();
    assert!(created.payment_hash.matches(&paid.preimage));
    assert_eq!(
        agent.lookup_payment(&created.payment_hash).await.unwrap(),
        PaymentStatus::Succeeded(paid)
    );
}

/// A second attempt while the first is in flight is refused as `AlreadyPaid`, which is
/// not "definitely unpaid": money is on its way, so a caller must look the payment up
/// rather than forget it. One payment in all.
pub async fn a_payment_in_transition_is_not_definitely_unpaid<H: Harness>(pair: &H) {
    let (created, agent, paying) = pay_in_flight(pair).await;
    let err = agent
        .pay_invoice(&created.invoice, &params())
        .await
        .unwrap_err();
    assert!(
        matches!(err, PayError::Failed(FailureReason::AlreadyPaid)),
        "{err:?}"
    );
    assert!(!err.is_definitely_unpaid());
    let paid = paying.await.unwrap().unwrap();
    assert_eq!(
        agent.lookup_payment(&created.payment_hash).await.unwrap(),
        PaymentStatus::Succeeded(paid)
    );
    assert_eq!(pair.agent_node().payments().len(), 1);
}

/// The CLTV limit reaches the node: the mock's invoices ask for a final delta of 80
/// blocks, so a limit of 79 finds no route (nothing paid) and 80 pays.
pub async fn the_cltv_limit_reaches_the_node<H: Harness>(pair: &H) {
    let created = invoice(pair, 10_000).await;
    let agent = pair.agent_backend();
    let before = pair.agent_node().balance();
    let err = agent
        .pay_invoice(&created.invoice, &params().max_cltv_delta(79))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PayError::Failed(FailureReason::NoRoute)),
        "{err:?}"
    );
    assert!(err.is_definitely_unpaid());
    assert_eq!(pair.agent_node().balance(), before);
    let paid = agent
        .pay_invoice(&created.invoice, &params().max_cltv_delta(80))
        .await
        .unwrap();
    assert!(created.payment_hash.matches(&paid.preimage));
}

/// The node settles but its answer is lost: `OutcomeUnknown` (not "definitely unpaid"),
/// and the lookup by hash recovers the preimage, amount and fee.
pub async fn answer_lost_after_settling_then_recovered<H: Harness>(pair: &H) {
    let created = invoice(pair, 7_000).await;
    pair.agent_node()
        .faults()
        .next_payment(PaymentFault::CutAfterSettle);
    let agent = pair.agent_backend();
    let err = agent
        .pay_invoice(&created.invoice, &params())
        .await
        .unwrap_err();
    assert!(matches!(err, PayError::OutcomeUnknown(_)), "{err:?}");
    assert!(!err.is_definitely_unpaid());
    match agent.lookup_payment(&created.payment_hash).await.unwrap() {
        PaymentStatus::Succeeded(success) => {
            assert!(created.payment_hash.matches(&success.preimage));
            assert_eq!(success.amount, Amount::from_msat(7_000));
            assert_eq!(success.fee, Amount::from_msat(ROUTING_FEE_MSAT));
        }
        other => panic!("not recovered: {other:?}"),
    }
}

/// The connection is cut while a payment is in flight (`cut` arranges it the node's
/// way): `OutcomeUnknown`, the lookup says `InFlight`, then `Succeeded` once it settles.
pub async fn cut_mid_payment_then_recovered<H: Harness>(pair: &H, cut: impl FnOnce(&H)) {
    let created = invoice(pair, 8_000).await;
    pair.agent_node()
        .faults()
        .next_payment(PaymentFault::InFlight {
            duration: Duration::from_millis(300),
            then: Outcome::Succeed,
        });
    cut(pair);
    let agent = pair.agent_backend();
    let err = agent
        .pay_invoice(&created.invoice, &params())
        .await
        .unwrap_err();
    assert!(matches!(err, PayError::OutcomeUnknown(_)), "{err:?}");
    assert_eq!(
        agent.lookup_payment(&created.payment_hash).await.unwrap(),
        PaymentStatus::InFlight
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match agent.lookup_payment(&created.payment_hash).await.unwrap() {
            PaymentStatus::Succeeded(success) => {
                assert!(created.payment_hash.matches(&success.preimage));
                break;
            }
            PaymentStatus::InFlight if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// A payment still in flight when the caller's pay timeout (1 s, plus the test
/// backend's 500 ms margin) runs out is a transient `OutcomeUnknown`, well within 5 s,
/// and looks up as `InFlight`.
pub async fn client_timeout_after_sending_is_outcome_unknown<H: Harness>(pair: &H) {
    let created = invoice(pair, 9_000).await;
    pair.agent_node()
        .faults()
        .next_payment(PaymentFault::InFlight {
            duration: Duration::from_secs(30),
            then: Outcome::Succeed,
        });
    let agent = pair.agent_backend();
    let started = Instant::now();
    let err = agent
        .pay_invoice(
            &created.invoice,
            &PayParams::new(Amount::from_msat(2_000), Duration::from_secs(1)),
        )
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        matches!(err, PayError::OutcomeUnknown(ref e) if e.is_transient()),
        "{err:?}"
    );
    assert_eq!(
        agent.lookup_payment(&created.payment_hash).await.unwrap(),
        PaymentStatus::InFlight
    );
}
