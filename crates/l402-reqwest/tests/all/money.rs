//! Hostile servers and restarts against the money rules: redirects, servers that take
//! the money and keep asking, budgets across restarts, payments in flight at start-up,
//! "already paid", CLTV limits, a caller's own credentials. Money is counted on the mock
//! nodes.

use std::sync::Arc;
use std::time::Duration;

use l402_core::{Amount, Challenge};
use l402_mock::{MockNetwork, Outcome, PaymentFault};
use l402_reqwest::ledger::{FileLedger, MemoryLedger, SpendingLedger};
use l402_reqwest::{
    BudgetScope, FileTokenStore, L402Error, L402Middleware, MemoryTokenStore, TokenRecord,
    TokenStore,
};
use reqwest::StatusCode;
use reqwest::header::AUTHORIZATION;

use crate::support::*;

/// What one 10-sat payment may cost with [`policy`]: 10 sat plus the fee cap (1 sat + 1 %).
const ONE_PAYMENT_MSAT: u64 = 11_100;

fn host_port(base: &str) -> &str {
    base.trim_start_matches("http://")
}

#[tokio::test]
async fn a_challenge_behind_a_cross_origin_redirect_is_not_paid() {
    let net = Net::new();
    let api = net.paywall().await;
    let front = redirector(api.clone()).await;
    let mw = L402Middleware::builder(net.payer.clone())
        .policy(policy())
        .build()
        .unwrap();
    let http = client(&mw);
    for _ in 0..3 {
        let err = http.get(format!("{front}/paid")).send().await.unwrap_err();
        let e = l402_error(&err);
        match e {
            L402Error::CrossOriginRedirect { from, to } => {
                assert_eq!(from, &format!("http://{}", host_port(&front)));
                assert_eq!(to, &format!("http://{}", host_port(&api)));
            }
            other => panic!("expected a cross-origin refusal, got {other}"),
        }
        assert!(e.nothing_paid());
    }
    net.assert_nothing_paid();
    assert_eq!(net.network.invoice_count(), 3);
}

#[tokio::test]
async fn opting_in_pays_the_final_origin_once_and_reuses_its_token() {
    let net = Net::new();
    let api = net.paywall().await;
    let front = redirector(api.clone()).await;
    let store = MemoryTokenStore::new();
    let mw = L402Middleware::builder(net.payer.clone())
        .store(store.clone())
        .policy(policy())
        .follow_cross_origin_redirects(true)
        .build()
        .unwrap();
    let http = client(&mw);
    for _ in 0..3 {
        let res = http.get(format!("{front}/paid")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.text().await.unwrap(), "paid content");
    }
    assert_eq!(net.payments(), 1);
    assert_eq!(net.spent(), Amount::from_msat(10_000 + 110));
    // The token is kept for the origin that sold it, not for the one redirecting.
    let api_key = mw.key_for(&api.parse().unwrap()).unwrap();
    let front_key = mw.key_for(&front.parse().unwrap()).unwrap();
    assert!(matches!(
        store.load(&api_key).await.unwrap(),
        Some(TokenRecord::Paid(_))
    ));
    assert!(store.load(&front_key).await.unwrap().is_none());
    // Going to the API directly uses it too.
    let res = http.get(format!("{api}/paid")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(net.payments(), 1);
}

#[tokio::test]
async fn a_same_origin_redirect_is_paid_as_before() {
    let net = Net::new();
    let api = net.paywall_with_redirect().await;
    let mw = L402Middleware::builder(net.payer.clone())
        .policy(policy())
        .build()
        .unwrap();
    let http = client(&mw);
    for _ in 0..2 {
        let res = http.get(format!("{api}/moved")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.text().await.unwrap(), "paid content");
    }
    assert_eq!(net.payments(), 1);
}

#[tokio::test]
async fn a_server_that_takes_the_money_and_still_asks_is_paid_once() {
    let net = Net::new();
    let hostile = Custom::new(&net.server, 10, aperture_format).rejecting();
    let base = hostile.serve().await;
    let honest = net.paywall().await;
    let mw = L402Middleware::builder(net.payer.clone())
        .policy(policy().suspend_after_unpaid(Duration::from_millis(800)))
        .build()
        .unwrap();
    let http = client(&mw);
    let err = http.get(&base).send().await.unwrap_err();
    assert!(matches!(l402_error(&err), L402Error::StillPaymentRequired));
    assert_eq!(net.payments(), 1);
    for _ in 0..4 {
        let err = http.get(&base).send().await.unwrap_err();
        let e = l402_error(&err);
        assert!(
            matches!(e, L402Error::OriginSuspended { origin, retry_after }
                if origin == &format!("http://{}", host_port(&base)) && *retry_after <= Duration::from_millis(800)),
            "{e}"
        );
        assert!(e.nothing_paid());
    }
    assert_eq!(net.payments(), 1);
    assert_eq!(net.spent(), Amount::from_msat(10_000 + 110));
    // Other origins are paid as usual.
    let res = http.get(format!("{honest}/paid")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(net.payments(), 2);
    // After the suspension, one more payment, then suspended again.
    tokio::time::sleep(Duration::from_millis(900)).await;
    let err = http.get(&base).send().await.unwrap_err();
    assert!(matches!(l402_error(&err), L402Error::StillPaymentRequired));
    let err = http.get(&base).send().await.unwrap_err();
    assert!(matches!(
        l402_error(&err),
        L402Error::OriginSuspended { .. }
    ));
    assert_eq!(net.payments(), 3);
}

#[tokio::test]
async fn a_file_ledger_keeps_the_budget_across_a_restart() {
    let net = Net::new();
    let a = net.paywall().await;
    let b = net.paywall().await;
    let dir = temp_dir("ledger-restart");
    std::fs::create_dir_all(&dir).unwrap();
    let ledger_path = dir.join("spent.json");
    let budget = policy().budget(Amount::from_msat(ONE_PAYMENT_MSAT));
    {
        let mw = L402Middleware::builder(net.payer.clone())
            .ledger(FileLedger::open(&ledger_path).unwrap())
            .policy(budget.clone())
            .build()
            .unwrap();
        let res = client(&mw).get(format!("{a}/paid")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    assert_eq!(net.payments(), 1);
    // The process restarts: same ledger file, nothing in memory.
    let mw = L402Middleware::builder(net.payer.clone())
        .ledger(FileLedger::open(&ledger_path).unwrap())
        .policy(budget)
        .build()
        .unwrap();
    let err = client(&mw)
        .get(format!("{b}/paid"))
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(
            l402_error(&err),
            L402Error::BudgetExceeded {
                scope: BudgetScope::Total,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(net.payments(), 1);
    let summary = mw.ledger().summary(None).await.unwrap();
    assert_eq!(summary.total, Amount::from_msat(10_000));
    assert_eq!(summary.fees, Amount::from_msat(110));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn middlewares_sharing_a_ledger_share_its_budget() {
    let net = Net::new();
    let a = net.paywall().await;
    let b = net.paywall().await;
    let ledger = Arc::new(MemoryLedger::new());
    let build = || {
        L402Middleware::builder(net.payer.clone())
            .ledger(Arc::clone(&ledger))
            .policy(policy().budget(Amount::from_msat(ONE_PAYMENT_MSAT)))
            .build()
            .unwrap()
    };
    let (one, two) = (build(), build());
    let res = client(&one).get(format!("{a}/paid")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let err = client(&two)
        .get(format!("{b}/paid"))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(l402_error(&err), L402Error::BudgetExceeded { .. }));
    assert_eq!(net.payments(), 1);
}

/// A payment still in flight when the process restarts holds amount plus fee cap until
/// it resolves: with a budget of exactly one payment, nothing else is paid meanwhile.
#[tokio::test]
async fn a_payment_in_flight_at_start_up_holds_its_budget() {
    let net = Net::new();
    let a = net.paywall().await;
    let b = net.paywall().await;
    let dir = temp_dir("in-flight-hold");
    let store = FileTokenStore::open(&dir).unwrap();
    net.payer.faults().next_payment(PaymentFault::InFlight {
        duration: Duration::from_millis(1_500),
        then: Outcome::Succeed,
    });
    let budget = policy().budget(Amount::from_msat(ONE_PAYMENT_MSAT));
    {
        let mw = L402Middleware::builder(net.payer.clone())
            .store(store.clone())
            .policy(budget.clone().pay_timeout(Duration::from_millis(100)))
            .build()
            .unwrap();
        let err = client(&mw)
            .get(format!("{a}/paid"))
            .send()
            .await
            .unwrap_err();
        assert!(matches!(
            l402_error(&err),
            L402Error::PaymentInFlight { .. }
        ));
    }
    assert_eq!(net.payments(), 1);
    // Restart: a fresh in-memory ledger, the pending record in the store.
    let mw = L402Middleware::builder(net.payer.clone())
        .store(store.clone())
        .policy(budget)
        .build()
        .unwrap();
    let report = mw.recover().await.unwrap();
    assert_eq!(report.in_flight, 1);
    let held = mw.ledger().summary(None).await.unwrap();
    assert_eq!(held.reserved, Amount::from_msat(ONE_PAYMENT_MSAT));
    let http = client(&mw);
    let err = http.get(format!("{b}/paid")).send().await.unwrap_err();
    assert!(
        matches!(
            l402_error(&err),
            L402Error::BudgetExceeded {
                scope: BudgetScope::Total,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(net.payments(), 1);
    // Once it settles, its token is recovered, its real cost replaces the hold, and the
    // rest of the budget is still too small for another payment.
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    let res = http.get(format!("{a}/paid")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let after = mw.ledger().summary(None).await.unwrap();
    assert_eq!(after.reserved, Amount::ZERO);
    assert_eq!(after.total, Amount::from_msat(10_000));
    let err = http.get(format!("{b}/paid")).send().await.unwrap_err();
    assert!(matches!(l402_error(&err), L402Error::BudgetExceeded { .. }));
    assert_eq!(net.payments(), 1);
    assert_eq!(net.spent(), Amount::from_msat(10_000 + 110));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two agents on one node get the same challenge (a server handing out one invoice to
/// everyone). The second one's node answers "already paid" (in transition) while the
/// first payment is in flight: it is not "nothing paid". The second agent keeps its
/// record, looks the payment up and gets the token, and the shared budget keeps the
/// hold.
#[tokio::test]
async fn already_paid_is_looked_up_not_dropped() {
    let net = Net::new();
    let fixed = Custom::new(&net.server, 10, aperture_format);
    let (mac, inv) = (fixed.mint)();
    let server = fixed.with_mint(move || (mac.clone(), inv.clone()));
    let base = server.serve().await;
    net.payer.faults().next_payment(PaymentFault::InFlight {
        duration: Duration::from_millis(800),
        then: Outcome::Succeed,
    });
    let ledger = Arc::new(MemoryLedger::new());
    let build = || {
        L402Middleware::builder(net.payer.clone())
            .ledger(Arc::clone(&ledger))
            .policy(policy().in_flight_wait(Duration::from_secs(5)))
            .build()
            .unwrap()
    };
    let (first, second) = (build(), build());
    let url = base.clone();
    let first_http = client(&first);
    let one = tokio::spawn(async move { first_http.get(&url).send().await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let res = client(&second).get(&base).send().await;
    let res = match res {
        Ok(res) => res,
        Err(e) => panic!("second agent: {}", l402_error(&e)),
    };
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(one.await.unwrap().unwrap().status(), StatusCode::OK);
    assert_eq!(net.payments(), 1);
    assert_eq!(net.spent(), Amount::from_msat(10_000 + 110));
    let s = ledger.summary(None).await.unwrap();
    assert_eq!(
        (s.total, s.payments, s.reserved),
        (Amount::from_msat(10_000), 1, Amount::ZERO)
    );
}

#[tokio::test]
async fn an_invoice_locking_funds_too_long_is_refused() {
    let net = Net::on(
        MockNetwork::builder()
            .min_final_cltv_expiry_delta(2_016)
            .build(),
    );
    let api = net.paywall().await;
    let mw = L402Middleware::builder(net.payer.clone())
        .policy(policy())
        .build()
        .unwrap();
    let err = client(&mw)
        .get(format!("{api}/paid"))
        .send()
        .await
        .unwrap_err();
    let e = l402_error(&err);
    assert!(
        matches!(
            e,
            L402Error::CltvDeltaTooHigh {
                delta: 2_016,
                max: 1_008
            }
        ),
        "{e}"
    );
    assert!(e.nothing_paid());
    net.assert_nothing_paid();
    // A lower limit of the caller's refuses the network's usual 80 blocks as well.
    let net = Net::new();
    let api = net.paywall().await;
    let mw = L402Middleware::builder(net.payer.clone())
        .policy(policy().max_cltv_delta(40))
        .build()
        .unwrap();
    let err = client(&mw)
        .get(format!("{api}/paid"))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(
        l402_error(&err),
        L402Error::CltvDeltaTooHigh { delta: 80, max: 40 }
    ));
    net.assert_nothing_paid();
}

#[tokio::test]
async fn a_callers_own_authorization_is_sent_as_is_and_never_paid_for() {
    let net = Net::new();
    let server = Custom::new(&net.server, 10, aperture_format);
    let base = server.serve().await;
    let mw = L402Middleware::builder(net.payer.clone())
        .policy(policy())
        .build()
        .unwrap();
    let http = client(&mw);
    let res = http
        .get(&base)
        .header(AUTHORIZATION, "Bearer caller-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
    assert!(res.extensions().get::<Challenge>().is_some());
    net.assert_nothing_paid();
    // With a token bought meanwhile, the caller's header still wins.
    let res = http.get(&base).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(net.payments(), 1);
    let res = http
        .get(&base)
        .header(AUTHORIZATION, "Bearer caller-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(net.payments(), 1);
    let seen = server.seen();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(seen[0], "Bearer caller-secret");
    assert!(seen[1].starts_with("L402 ") || seen[1].starts_with("LSAT "));
    assert_eq!(seen[2], "Bearer caller-secret");
}

/// Several clients, each with its own handle on one ledger file (as separate processes
/// would have), pay different APIs at once against one budget: the node pays exactly what
/// the budget allows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_sharing_a_ledger_file_never_exceed_its_budget_together() {
    let net = Net::new();
    let dir = temp_dir("ledger-fleet");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("spent.json");
    FileLedger::open(&path).unwrap();
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let api = net.paywall().await;
        let mw = L402Middleware::builder(net.payer.clone())
            .ledger(FileLedger::open(&path).unwrap())
            .policy(policy().budget(Amount::from_msat(3 * ONE_PAYMENT_MSAT)))
            .build()
            .unwrap();
        tasks.push(tokio::spawn(async move {
            client(&mw).get(format!("{api}/paid")).send().await
        }));
    }
    let (mut ok, mut refused) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(res) if res.status() == StatusCode::OK => ok += 1,
            Err(e) if matches!(l402_error(&e), L402Error::BudgetExceeded { .. }) => refused += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((ok, refused), (3, 3));
    assert_eq!(net.payments(), 3);
    assert_eq!(net.spent(), Amount::from_msat(3 * (10_000 + 110)));
    let s = FileLedger::open(&path)
        .unwrap()
        .summary(None)
        .await
        .unwrap();
    assert_eq!((s.payments, s.reserved), (3, Amount::ZERO));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same invoice served to two agents sharing a ledger, paying from different nodes:
/// the second one's failure must not release the first one's reservation while its
/// payment is in flight.
#[tokio::test]
async fn a_failed_attempt_never_releases_another_agents_reservation() {
    let net = Net::new();
    let poor = net.network.node("poor").build().unwrap();
    let fixed = Custom::new(&net.server, 10, aperture_format);
    let (mac, inv) = (fixed.mint)();
    let base = fixed
        .with_mint(move || (mac.clone(), inv.clone()))
        .serve()
        .await;
    net.payer.faults().next_payment(PaymentFault::InFlight {
        duration: Duration::from_millis(800),
        then: Outcome::Succeed,
    });
    let ledger = Arc::new(MemoryLedger::new());
    let rich = L402Middleware::builder(net.payer.clone())
        .ledger(Arc::clone(&ledger))
        .policy(policy())
        .build()
        .unwrap();
    let broke = L402Middleware::builder(poor.clone())
        .ledger(Arc::clone(&ledger))
        .policy(policy())
        .build()
        .unwrap();
    let url = base.clone();
    let rich_http = client(&rich);
    let first = tokio::spawn(async move { rich_http.get(&url).send().await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let err = client(&broke).get(&base).send().await.unwrap_err();
    let e = l402_error(&err);
    assert!(matches!(e, L402Error::PaymentFailed(_)), "{e}");
    assert!(e.nothing_paid());
    let held = ledger.summary(None).await.unwrap();
    assert_eq!(held.reserved, Amount::from_msat(ONE_PAYMENT_MSAT));
    assert_eq!(first.await.unwrap().unwrap().status(), StatusCode::OK);
    let after = ledger.summary(None).await.unwrap();
    assert_eq!(
        (after.reserved, after.total),
        (Amount::ZERO, Amount::from_msat(10_000))
    );
    assert_eq!(net.payments(), 1);
    assert_eq!(poor.balance(), Amount::ZERO);
}
