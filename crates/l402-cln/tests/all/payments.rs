//! The payment side: xpay, listpays / listsendpays, failures, outcomes unknown, recovery.

use std::time::{Duration, SystemTime};

use l402_cln_fake::{FakeClnOptions, FakeRune};
use l402_core::backend::{CreatedInvoice, FailureReason, InvoiceRequest, PayParams, PaymentStatus};
use l402_core::{Amount, ErrorKind, InvoiceBackend, PayError, PaymentBackend, PaymentHash};
use l402_mock::PaymentFault;

use l402_backend_tests::payments;

use crate::support::{Pair, backend};

fn params() -> PayParams {
    PayParams::new(Amount::from_msat(2_000), Duration::from_secs(10))
}

async fn invoice(pair: &Pair, msat: u64) -> CreatedInvoice {
    pair.server_backend()
        .create_invoice(&InvoiceRequest::new(Amount::from_msat(msat)).memo("test"))
        .await
        .unwrap()
}

#[tokio::test]
async fn failure_reasons() {
    let pair = Pair::new().await;
    let agent = pair.agent_backend();

    // Fee above the cap: no route (205); xpay sent nothing, so nothing is listed.
    let created = invoice(&pair, 10_000).await;
    let err = agent
        .pay_invoice(
            &created.invoice,
            &PayParams::new(Amount::ZERO, Duration::from_secs(10)),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, PayError::Failed(FailureReason::NoRoute)),
        "{err:?}"
    );
    assert_eq!(
        agent.lookup_payment(&created.payment_hash).await.unwrap(),
        PaymentStatus::Unknown
    );
    // A failed payment may be retried.
    agent
        .pay_invoice(&created.invoice, &params())
        .await
        .unwrap();

    // More than the balance: xpay finds no route either (205).
    let created = invoice(&pair, 5_000_000).await;
    let err = agent
        .pay_invoice(&created.invoice, &params())
        .await
        .unwrap_err();
    assert!(
        matches!(err, PayError::Failed(FailureReason::NoRoute)),
        "{err:?}"
    );

    // Rejected by the payee (203): listed as failed.
    let created = invoice(&pair, 1_000).await;
    pair.agent
        .node()
        .faults()
        .next_payment(PaymentFault::Fail(FailureReason::IncorrectPaymentDetails));
    let err = agent
        .pay_invoice(&created.invoice, &params())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            PayError::Failed(FailureReason::IncorrectPaymentDetails)
        ),
        "{err:?}"
    );
    assert!(matches!(
        agent.lookup_payment(&created.payment_hash).await.unwrap(),
        PaymentStatus::Failed(_)
    ));

    // Another failure (209).
    let created = invoice(&pair, 1_000).await;
    pair.agent
        .node()
        .faults()
        .next_payment(PaymentFault::Fail(FailureReason::Other("boom".into())));
    let err = agent
        .pay_invoice(&created.invoice, &params())
        .await
        .unwrap_err();
    assert!(
        matches!(err, PayError::Failed(FailureReason::Other(ref m)) if m.contains("boom")),
        "{err:?}"
    );

    // Expired: refused before sending.
    let old = pair
        .server
        .node()
        .create_invoice_at(
            &InvoiceRequest::new(Amount::from_msat(1_000)).expiry(Duration::from_secs(60)),
            SystemTime::now() - Duration::from_secs(600),
        )
        .unwrap();
    let err = agent
        .pay_invoice(&old.invoice, &params())
        .await
        .unwrap_err();
    assert!(
        matches!(err, PayError::Failed(FailureReason::InvoiceExpired)),
        "{err:?}"
    );
    assert!(err.is_definitely_unpaid());
}

#[tokio::test]
async fn node_down() {
    let pair = Pair::new().await;
    let created = invoice(&pair, 1_000).await;
    let agent = pair.agent_backend();

    // lightningd gone mid-call: the connection drops after the request was sent, so the
    // backend cannot know; the lookup then says nothing was sent.
    pair.agent.node().faults().unreachable_next(1);
    let err = agent
        .pay_invoice(&created.invoice, &params())
        .await
        .unwrap_err();
    assert!(matches!(err, PayError::OutcomeUnknown(_)), "{err:?}");
    assert_eq!(
        agent.lookup_payment(&created.payment_hash).await.unwrap(),
        PaymentStatus::Unknown
    );

    // clnrest gone: connection refused, nothing sent.
    pair.agent.shutdown();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let err = agent
        .pay_invoice(&created.invoice, &params())
        .await
        .unwrap_err();
    assert!(
        matches!(err, PayError::NotAttempted(ref e) if e.is_transient()),
        "{err:?}"
    );
    let err = agent
        .lookup_payment(&created.payment_hash)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient);
    assert_eq!(pair.network.payment_count(), 0);
}

#[tokio::test]
async fn restricted_runes_refuse_before_sending() {
    let pair = Pair::new().await;
    let agent = pair.agent_backend();
    assert_eq!(
        agent
            .lookup_payment(&PaymentHash::from_bytes([9; 32]))
            .await
            .unwrap(),
        PaymentStatus::Unknown
    );
    let created = invoice(&pair, 1_000).await;

    // The invoice-only rune cannot pay.
    let server_side = backend(&pair.agent, FakeRune::InvoiceOnly);
    match server_side
        .pay_invoice(&created.invoice, &params())
        .await
        .unwrap_err()
    {
        PayError::NotAttempted(e) => {
            assert_eq!(e.kind(), ErrorKind::Permanent);
            assert!(e.message().contains("Not permitted"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    let err = server_side
        .lookup_payment(&created.payment_hash)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Permanent);

    // The payer rune caps maxfee below 10001 msat.
    match agent
        .pay_invoice(
            &created.invoice,
            &PayParams::new(Amount::from_msat(10_001), Duration::from_secs(10)),
        )
        .await
        .unwrap_err()
    {
        PayError::NotAttempted(e) => {
            assert_eq!(e.kind(), ErrorKind::Permanent);
            assert!(
                e.message()
                    .contains("pnamemaxfee is greater or equal to 10001"),
                "{e}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(pair.network.payment_count(), 0);
    agent
        .pay_invoice(
            &created.invoice,
            &PayParams::new(Amount::from_msat(10_000), Duration::from_secs(10)),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn listsendpays_when_listpays_is_unknown() {
    let pair = Pair::with_options(FakeClnOptions::new().without_listpays()).await;
    let agent = pair.agent_backend();
    let unknown = PaymentHash::from_bytes([5; 32]);
    assert_eq!(
        agent.lookup_payment(&unknown).await.unwrap(),
        PaymentStatus::Unknown
    );
    let created = invoice(&pair, 6_000).await;
    pair.agent
        .node()
        .faults()
        .next_payment(PaymentFault::CutAfterSettle);
    assert!(matches!(
        agent.pay_invoice(&created.invoice, &params()).await,
        Err(PayError::OutcomeUnknown(_))
    ));
    match agent.lookup_payment(&created.payment_hash).await.unwrap() {
        PaymentStatus::Succeeded(success) => {
            assert!(created.payment_hash.matches(&success.preimage));
            assert_eq!(success.amount, Amount::from_msat(6_000));
            assert_eq!(success.fee, Amount::from_msat(1_000));
        }
        other => panic!("not recovered: {other:?}"),
    }
}

// The behaviour every backend shares, specified once in `l402-backend-tests`.

#[tokio::test]
async fn pays_an_invoice_of_another_node() {
    payments::pays_an_invoice_of_another_node(&Pair::new().await).await;
}

#[tokio::test]
async fn amountless_invoice_with_an_amount() {
    payments::amountless_invoice_with_an_amount(&Pair::new().await).await;
}

#[tokio::test]
async fn in_flight_shows_pending_then_success() {
    payments::in_flight_then_success(&Pair::new().await).await;
}

#[tokio::test]
async fn a_payment_in_transition_is_not_definitely_unpaid() {
    payments::a_payment_in_transition_is_not_definitely_unpaid(&Pair::new().await).await;
}

#[tokio::test]
async fn the_cltv_limit_reaches_the_node() {
    payments::the_cltv_limit_reaches_the_node(&Pair::new().await).await;
}

#[tokio::test]
async fn answer_lost_after_settling_then_recovered_by_listpays() {
    payments::answer_lost_after_settling_then_recovered(&Pair::new().await).await;
}

#[tokio::test]
async fn connection_dropped_mid_payment_then_recovered() {
    payments::cut_mid_payment_then_recovered(&Pair::new().await, |pair| {
        pair.agent.cut_next_xpay(1);
    })
    .await;
}

#[tokio::test]
async fn client_timeout_after_sending_is_outcome_unknown() {
    payments::client_timeout_after_sending_is_outcome_unknown(&Pair::new().await).await;
}
