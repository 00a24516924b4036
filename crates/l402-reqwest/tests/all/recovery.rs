//! Crash safety: pending records, lost answers, payments in flight, restarts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use l402_core::backend::{
    BackendError, FailureReason, PayError, PayParams, PaymentBackend, PaymentStatus, PaymentSuccess,
};
use l402_core::{Amount, PaymentHash};
use l402_mock::{Outcome, PaymentFault};
use l402_reqwest::{
    Event, FileLedger, FileTokenStore, L402Error, L402Middleware, OfferScheme, PendingPayment,
    SpendingLedger, StoreError, StoreLock, TokenRecord, TokenStore,
};
use reqwest::StatusCode;

use crate::support::*;

#[tokio::test]
async fn a_lost_answer_is_resolved_by_lookup_without_paying_again() {
    let net = Net::new();
    let base = net.paywall().await;
    net.payer
        .faults()
        .next_payment(PaymentFault::CutAfterSettle);
    let events = Events::default();
    let mw = L402Middleware::builder(net.payer.clone())
        .policy(policy())
        .events(events.handler())
        .build()
        .unwrap();
    let http = client(&mw);
    let res = http.get(format!("{base}/paid")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(net.payments(), 1);
    assert_eq!(
        events.count(|e| matches!(e, Event::PaymentRecovered { .. })),
        1
    );
    let res = http.get(format!("{base}/paid")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(net.payments(), 1);
    assert_eq!(mw.spending().payments, 1);
}

#[tokio::test]
async fn a_failed_payment_pays_nothing_and_clears_its_pending_record() {
    let net = Net::new();
    let base = net.paywall().await;
    net.payer
        .faults()
        .next_payment(PaymentFault::Fail(FailureReason::NoRoute));
    let dir = temp_dir("failed");
    let store = FileTokenStore::open(&dir).unwrap();
    let mw = L402Middleware::builder(net.payer.clone())
        .store(store.clone())
        .policy(policy())
        .build()
        .unwrap();
    let http = client(&mw);
    let err = http.get(format!("{base}/paid")).send().await.unwrap_err();
    let e = l402_error(&err);
    assert!(matches!(e, L402Error::PaymentFailed(_)), "{e}");
    assert!(e.nothing_paid());
    assert_eq!(net.payer.balance(), sat(START_BALANCE_SAT));
    assert!(store.pending().await.unwrap().is_empty());
    // The next request pays normally.
    let res = http.get(format!("{base}/paid")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_payment_stuck_in_flight_is_never_paid_twice() {
    let net = Net::new();
    let base = net.paywall().await;
    net.payer.faults().next_payment(PaymentFault::InFlight {
        duration: Duration::from_millis(1_200),
        then: Outcome::Succeed,
    });
    let mw = L402Middleware::builder(net.payer.clone())
        .policy(
            policy()
                .pay_timeout(Duration::from_millis(100))
                .in_flight_wait(Duration::from_millis(100)),
        )
        .build()
        .unwrap();
    let http = client(&mw);
    for _ in 0..2 {
        let err = http.get(format!("{base}/paid")).send().await.unwrap_err();
        let e = l402_error(&err);
        assert!(matches!(e, L402Error::PaymentInFlight { .. }), "{e}");
        assert!(!e.nothing_paid());
        assert!(e.to_string().ends_with("is still in flight"));
        assert_eq!(net.payments(), 1);
    }
    // Once it lands, the token is recovered; still one payment.
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    let res = http.get(format!("{base}/paid")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(net.payments(), 1);
}

#[tokio::test]
async fn waits_for_a_payment_in_flight_within_the_bound() {
    let net = Net::new();
    let base = net.paywall().await;
    net.payer.faults().next_payment(PaymentFault::InFlight {
        duration: Duration::from_millis(300),
        then: Outcome::Succeed,
    });
    let mw = L402Middleware::builder(net.payer.clone())
        .policy(
            policy()
                .pay_timeout(Duration::from_millis(50))
                .in_flight_wait(Duration::from_secs(5)),
        )
        .build()
        .unwrap();
    let res = client(&mw)
        .get(format!("{base}/paid"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(net.payments(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_payment_is_recovered_after_restart() {
    let net = Net::new();
    let base = net.paywall().await;
    let dir = temp_dir("crash");
    net.payer.faults().next_payment(PaymentFault::InFlight {
        duration: Duration::from_millis(500),
        then: Outcome::Succeed,
    });
    let first = L402Middleware::builder(net.payer.clone())
        .store(FileTokenStore::open(&dir).unwrap())
        .policy(policy())
        .build()
        .unwrap();
    let http = client(&first);
    let url = format!("{base}/paid");
    let task = tokio::spawn(async move { http.get(url).send().await });
    // "Crash" once the pending record is on disk and the payment is under way.
    let store = FileTokenStore::open(&dir).unwrap();
    while store.pending().await.unwrap().is_empty() || net.payments() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    task.abort();
    let _ = task.await;
    drop(first);

    // A new process: the payment is still in flight, so nothing is paid.
    let events = Events::default();
    let second = L402Middleware::builder(net.payer.clone())
        .store(FileTokenStore::open(&dir).unwrap())
        .policy(policy())
        .events(events.handler())
        .build()
        .unwrap();
    let report = second.recover().await.unwrap();
    assert_eq!(report.in_flight, 1);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let report = second.recover().await.unwrap();
    assert_eq!(report.recovered, 1);
    assert!(store.pending().await.unwrap().is_empty());
    let res = client(&second)
        .get(format!("{base}/paid"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(net.payments(), 1);
    assert_eq!(
        events.count(|e| matches!(e, Event::PaymentRecovered { .. })),
        1
    );
    assert_eq!(
        events.count(|e| matches!(e, Event::PaymentStarted { .. })),
        0
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A file store whose writes of paid tokens fail: the process "dies" between paying and
/// storing the token, as far as the disk is concerned.
#[derive(Clone)]
struct NoPaidWrites {
    inner: FileTokenStore,
    fail: Arc<AtomicBool>,
}

#[async_trait::async_trait]
impl TokenStore for NoPaidWrites {
    async fn load(&self, key: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.inner.load(key).await
    }
    async fn save(&self, key: &str, record: &TokenRecord) -> Result<(), StoreError> {
        if self.fail.load(Ordering::SeqCst) && matches!(record, TokenRecord::Paid(_)) {
            return Err(StoreError::Io(std::io::Error::other("disk gone")));
        }
        self.inner.save(key, record).await
    }
    async fn remove(&self, key: &str, hash: &PaymentHash) -> Result<bool, StoreError> {
        self.inner.remove(key, hash).await
    }
    async fn pending(&self) -> Result<Vec<(String, PendingPayment)>, StoreError> {
        self.inner.pending().await
    }
    async fn lock(&self, key: &str) -> Result<StoreLock, StoreError> {
        self.inner.lock(key).await
    }
}

#[tokio::test]
async fn a_crash_between_paying_and_storing_is_recovered_by_hash() {
    let net = Net::new();
    let base = net.paywall().await;
    let dir = temp_dir("store-crash");
    let failing = NoPaidWrites {
        inner: FileTokenStore::open(&dir).unwrap(),
        fail: Arc::new(AtomicBool::new(true)),
    };
    // The answer is lost too (CutAfterSettle) and lookups are down: the first instance
    // cannot learn the outcome, keeps the pending record and refuses to pay again.
    net.payer
        .faults()
        .next_payment(PaymentFault::CutAfterSettle);
    let flaky = FlakyPayer::new(&net.payer);
    flaky.lookups_down.store(true, Ordering::SeqCst);
    let first = L402Middleware::builder(flaky.clone())
        .store(failing.clone())
        .policy(policy())
        .build()
        .unwrap();
    for _ in 0..2 {
        let err = client(&first)
            .get(format!("{base}/paid"))
            .send()
            .await
            .unwrap_err();
        assert!(
            matches!(l402_error(&err), L402Error::Lookup { .. }),
            "{err}"
        );
        assert_eq!(net.payments(), 1);
    }
    drop(first);

    // Restart with lookups back: the token comes back by payment hash.
    flaky.lookups_down.store(false, Ordering::SeqCst);
    failing.fail.store(false, Ordering::SeqCst);
    let second = L402Middleware::builder(flaky.clone())
        .store(FileTokenStore::open(&dir).unwrap())
        .policy(policy())
        .build()
        .unwrap();
    let res = client(&second)
        .get(format!("{base}/paid"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(net.payments(), 1);
    assert!(failing.pending().await.unwrap().is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_paid_token_that_could_not_be_stored_is_used_from_memory_and_recovered_later() {
    let net = Net::new();
    let base = net.paywall().await;
    let dir = temp_dir("no-paid-writes");
    let failing = NoPaidWrites {
        inner: FileTokenStore::open(&dir).unwrap(),
        fail: Arc::new(AtomicBool::new(true)),
    };
    let first = L402Middleware::builder(net.payer.clone())
        .store(failing.clone())
        .policy(policy())
        .build()
        .unwrap();
    let res = client(&first)
        .get(format!("{base}/paid"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // On disk only the pending record.
    assert_eq!(failing.pending().await.unwrap().len(), 1);
    drop(first);
    let second = L402Middleware::builder(net.payer.clone())
        .store(FileTokenStore::open(&dir).unwrap())
        .policy(policy())
        .build()
        .unwrap();
    let report = second.recover().await.unwrap();
    assert_eq!(report.recovered, 1);
    let res = client(&second)
        .get(format!("{base}/paid"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(net.payments(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn tokens_survive_a_restart_on_a_file_store() {
    let net = Net::new();
    let base = net.paywall().await;
    let dir = temp_dir("restart");
    for _ in 0..3 {
        let mw = L402Middleware::builder(net.payer.clone())
            .store(FileTokenStore::open(&dir).unwrap())
            .policy(policy())
            .build()
            .unwrap();
        let res = client(&mw)
            .get(format!("{base}/paid"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    assert_eq!(net.payments(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_middlewares_sharing_a_file_store_pay_once() {
    let net = Net::new();
    let base = net.paywall().await;
    let dir = temp_dir("two-instances");
    let make = || {
        L402Middleware::builder(net.payer.clone())
            .store(FileTokenStore::open(&dir).unwrap())
            .policy(policy())
            .build()
            .unwrap()
    };
    let (a, b) = (make(), make());
    let mut tasks = Vec::new();
    for i in 0..20 {
        let http = client(if i % 2 == 0 { &a } else { &b });
        let url = format!("{base}/paid");
        tasks.push(tokio::spawn(async move {
            http.get(url).send().await.unwrap().status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(net.payments(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_queued_behind_a_stuck_payment_time_out_together() {
    let net = Net::new();
    let base = net.paywall().await;
    net.payer.faults().next_payment(PaymentFault::InFlight {
        duration: Duration::from_secs(5),
        then: Outcome::Succeed,
    });
    let mw = L402Middleware::builder(net.payer.clone())
        .policy(
            policy()
                .pay_timeout(Duration::from_millis(100))
                .in_flight_wait(Duration::from_millis(300)),
        )
        .build()
        .unwrap();
    let http = client(&mw);
    let t0 = std::time::Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let http = http.clone();
        let url = format!("{base}/paid");
        tasks.push(tokio::spawn(async move {
            http.get(url).send().await.unwrap_err()
        }));
    }
    for t in tasks {
        let err = t.await.unwrap();
        assert!(
            matches!(l402_error(&err), L402Error::PaymentInFlight { .. }),
            "{err}"
        );
    }
    // Not 20 waits one after the other.
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    assert_eq!(net.payments(), 1);
}

#[tokio::test]
async fn a_payment_the_node_has_not_recorded_yet_is_not_paid_twice() {
    // The answer to the payment is lost, and the node's first lookups do not know the
    // payment yet (it was still being set up when the connection dropped). Taking that
    // first "unknown" as final would let the next request pay a second invoice.
    let net = Net::new();
    let base = net.paywall().await;
    net.payer
        .faults()
        .next_payment(PaymentFault::CutAfterSettle);
    let flaky = FlakyPayer::new(&net.payer);
    flaky
        .unknown_lookups
        .store(3, std::sync::atomic::Ordering::SeqCst);
    let mw = L402Middleware::builder(flaky.clone())
        .policy(policy())
        .build()
        .unwrap();
    let http = client(&mw);
    let res = http.get(format!("{base}/paid")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = http.get(format!("{base}/paid")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(net.payments(), 1, "paid exactly once");
    assert_eq!(mw.spending().payments, 1);
}

/// A payment made by a process that died between paying and recording the outcome comes
/// back after a restart with what it really cost: amount, fee and scheme in the event,
/// the token and the tally, and counted by the (persistent) spending ledger.
#[tokio::test]
async fn a_payment_recovered_after_a_crash_keeps_its_amount_and_scheme() {
    let net = Net::new();
    let base = net.paywall().await;
    let dir = temp_dir("recovered-amount");
    let ledger_path = dir.join("ledger.json");
    let tokens = dir.join("tokens");
    let failing = NoPaidWrites {
        inner: FileTokenStore::open(&tokens).unwrap(),
        fail: Arc::new(AtomicBool::new(true)),
    };
    net.payer
        .faults()
        .next_payment(PaymentFault::CutAfterSettle);
    let flaky = FlakyPayer::new(&net.payer);
    flaky.lookups_down.store(true, Ordering::SeqCst);
    let first = L402Middleware::builder(flaky.clone())
        .store(failing.clone())
        .ledger(FileLedger::open(&ledger_path).unwrap())
        .policy(policy())
        .build()
        .unwrap();
    let err = client(&first)
        .get(format!("{base}/paid"))
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(l402_error(&err), L402Error::Lookup { .. }),
        "{err}"
    );
    assert_eq!(net.payments(), 1);
    drop(first);

    // The pending record written before paying holds the amount, the fee cap and the
    // scheme.
    let pending = failing.pending().await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].1.amount, sat(10));
    assert!(pending[0].1.max_fee.is_some());

    flaky.lookups_down.store(false, Ordering::SeqCst);
    let events = Events::default();
    let second = L402Middleware::builder(flaky.clone())
        .store(FileTokenStore::open(&tokens).unwrap())
        .ledger(FileLedger::open(&ledger_path).unwrap())
        .policy(policy())
        .events(events.handler())
        .build()
        .unwrap();
    let report = second.recover().await.unwrap();
    assert_eq!(report.recovered, 1);
    let recovered: Vec<_> = events
        .all()
        .into_iter()
        .filter_map(|e| match e {
            Event::PaymentRecovered {
                amount,
                fee,
                scheme,
                ..
            } => Some((amount, fee, scheme)),
            _ => None,
        })
        .collect();
    assert_eq!(recovered.len(), 1);
    let (amount, fee, scheme) = recovered[0];
    assert_eq!((amount, scheme), (sat(10), OfferScheme::L402));
    // The fee is the one the node reports for the payment.
    assert_eq!(fee, net.spent().saturating_sub(sat(10)));
    assert_eq!(second.spending().total, sat(10));
    let tokens = FileTokenStore::open(&tokens)
        .unwrap()
        .tokens()
        .await
        .unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].1.amount, sat(10));
    // The budget counts it, in the ledger a third process opens.
    let summary = FileLedger::open(&ledger_path)
        .unwrap()
        .summary(None)
        .await
        .unwrap();
    assert_eq!(summary.total, sat(10));
    assert_eq!(summary.fees, fee);
    assert_eq!(summary.payments, 1);
    assert_eq!(net.payments(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A node whose payment list omits the amount (CLN's `listpays` may): the amount recorded
/// before paying is what recovery reports and commits.
#[derive(Clone)]
struct NoLookupAmount(l402_mock::MockNode);

impl PaymentBackend for NoLookupAmount {
    async fn pay_invoice(
        &self,
        invoice: &l402_core::lightning_invoice::Bolt11Invoice,
        params: &PayParams,
    ) -> Result<PaymentSuccess, PayError> {
        self.0.pay_invoice(invoice, params).await
    }
    async fn lookup_payment(&self, hash: &PaymentHash) -> Result<PaymentStatus, BackendError> {
        Ok(match self.0.lookup_payment(hash).await? {
            PaymentStatus::Succeeded(s) => {
                PaymentStatus::Succeeded(PaymentSuccess::new(s.preimage, Amount::ZERO, s.fee))
            }
            other => other,
        })
    }
}

#[tokio::test]
async fn a_recovered_payment_the_node_reports_without_amount_keeps_the_recorded_one() {
    let net = Net::new();
    let base = net.paywall().await;
    net.payer
        .faults()
        .next_payment(PaymentFault::CutAfterSettle);
    let events = Events::default();
    let mw = L402Middleware::builder(NoLookupAmount(net.payer.clone()))
        .policy(policy())
        .events(events.handler())
        .build()
        .unwrap();
    let res = client(&mw)
        .get(format!("{base}/paid"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(net.payments(), 1);
    assert_eq!(
        events.count(|e| matches!(e, Event::PaymentRecovered { amount, .. } if *amount == sat(10))),
        1
    );
    assert_eq!(mw.spending().total, sat(10));
    let summary = mw.ledger().summary(None).await.unwrap();
    assert_eq!(summary.total, sat(10));
}

/// A pending record written before the amount and fee cap were kept still reads, and
/// takes its amount from the stored invoice.
#[test]
fn an_old_pending_record_without_amount_takes_it_from_the_invoice() {
    let net = Net::new();
    let created = net
        .server
        .create_invoice_at(
            &l402_core::backend::InvoiceRequest::new(sat(21)),
            std::time::SystemTime::now(),
        )
        .unwrap();
    let record = TokenRecord::Pending(PendingPayment::new(
        macaroon_for(created.payment_hash),
        created.invoice.to_string(),
        created.payment_hash,
        sat(21),
        std::time::SystemTime::now(),
    ));
    let mut json = serde_json::to_value(&record).unwrap();
    let fields = json.as_object_mut().unwrap();
    assert!(fields.remove("amount").is_some());
    assert!(!fields.contains_key("max_fee"));
    let TokenRecord::Pending(old) = serde_json::from_value(json).unwrap() else {
        panic!("not a pending record");
    };
    assert_eq!(old.amount, Amount::ZERO);
    assert_eq!(old.max_fee, None);
    assert_eq!(old.amount_due(), sat(21));
}
