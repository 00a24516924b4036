//! The payment side: SendPaymentV2 and TrackPaymentV2 streams, failures, outcomes
//! unknown, recovery.

use std::time::{Duration, SystemTime};

use l402_core::backend::{FailureReason, InvoiceRequest, PayParams, PaymentStatus};
use l402_core::{Amount, ErrorKind, InvoiceBackend, PayError, PaymentBackend, PaymentHash};
use l402_lnd_fake::FakeMacaroon;
use l402_mock::PaymentFault;

use l402_backend_tests::payments;

use crate::support::{Pair, backend};

fn params() -> PayParams {
    PayParams::new(Amount::from_msat(2_000), Duration::from_secs(10))
}

async fn invoice(pair: &Pair, msat: u64) -> l402_core::backend::CreatedInvoice {
    pair.server_backend()
        .create_invoice(&InvoiceRequest::new(Amount::from_msat(msat)).memo("test"))
        .await
        .unwrap()
}

#[tokio::test]
async fn failure_reasons() {
    let pair = Pair::new().await;
    let agent = pair.agent_backend();

    // Fee above the cap: no route.
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
        PaymentStatus::Failed(FailureReason::NoRoute)
    );
    // A failed payment may be retried.
    agent
        .pay_invoice(&created.invoice, &params())
        .await
        .unwrap();

    // More than the balance.
    let created = invoice(&pair, 5_000_000).await;
    let err = agent
        .pay_invoice(&created.invoice, &params())
        .await
        .unwrap_err();
    assert!(
        matches!(err, PayError::Failed(FailureReason::InsufficientBalance)),
        "{err:?}"
    );

    // Rejected by the payee.
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
async fn node_down_before_sending_is_not_attempted() {
    let pair = Pair::new().await;
    let created = invoice(&pair, 1_000).await;
    let agent = pair.agent_backend();

    // Behind the REST proxy, the node is unreachable (503, code 14, before any message).
    pair.agent.node().faults().unreachable_next(1);
    let err = agent
        .pay_invoice(&created.invoice, &params())
        .await
        .unwrap_err();
    assert!(
        matches!(err, PayError::NotAttempted(ref e) if e.is_transient()),
        "{err:?}"
    );

    // The REST server is gone: connection refused.
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
async fn unknown_payment_and_macaroon_errors() {
    let pair = Pair::new().await;
    let agent = pair.agent_backend();
    // "payment isn't initiated"
    assert_eq!(
        agent
            .lookup_payment(&PaymentHash::from_bytes([9; 32]))
            .await
            .unwrap(),
        PaymentStatus::Unknown
    );

    let created = invoice(&pair, 1_000).await;
    // The invoice-only macaroon cannot pay: refused before anything is sent.
    let server_side = backend(&pair.agent, FakeMacaroon::InvoiceServer);
    let err = server_side
        .pay_invoice(&created.invoice, &params())
        .await
        .unwrap_err();
    match err {
        PayError::NotAttempted(e) => {
            assert_eq!(e.kind(), ErrorKind::Permanent);
            assert!(e.message().contains("permission denied"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    let err = server_side
        .lookup_payment(&created.payment_hash)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Permanent);
    assert_eq!(pair.network.payment_count(), 0);
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
async fn in_flight_then_success() {
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
async fn answer_lost_after_settling_then_recovered_by_tracking() {
    payments::answer_lost_after_settling_then_recovered(&Pair::new().await).await;
}

#[tokio::test]
async fn stream_cut_mid_payment_then_recovered_by_tracking() {
    payments::cut_mid_payment_then_recovered(&Pair::new().await, |pair| {
        pair.agent.cut_next_pay_streams(1);
    })
    .await;
}

#[tokio::test]
async fn client_timeout_after_sending_is_outcome_unknown() {
    payments::client_timeout_after_sending_is_outcome_unknown(&Pair::new().await).await;
}
