//! `l402 get` against hostile and misconfigured set-ups, money counted on the mock nodes:
//! no node configured, servers that take the money and ask again, cross-origin redirects,
//! unreadable ledgers, budgets across runs.

use crate::paid::{FEE_MSAT, PaidNet};
use crate::support::{code, run_async, stderr, stdout, summary};

/// A URL that never asks for payment needs no node at all; one that does fails as a
/// configuration error (exit 2) at the moment it needs the node, with nothing paid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_node_is_needed_until_a_payment_is() {
    let net = PaidNet::start().await;
    let api = net.paid_api(10).await;

    let out = run_async(net.get_cmd(false, &[], &format!("http://{api}/free"))).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "free content");
    assert_eq!(summary(&out)["payments"], 0);

    let out = run_async(net.get_cmd(false, &[], &format!("http://{api}/paid"))).await;
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let s = summary(&out);
    assert!(
        s["error"].as_str().unwrap().contains("L402_NODE_URL"),
        "{s}"
    );
    assert!(s["error"].as_str().unwrap().contains("nothing paid"), "{s}");
    assert_eq!(stdout(&out), "");

    // A node named but unusable (no macaroon file): the same, when it is needed.
    let mut cmd = net.get_cmd(false, &[], &format!("http://{api}/paid"));
    cmd.env("L402_NODE_URL", net.lnd.base_url())
        .env("L402_MACAROON_FILE", net.dir.join("nope"));
    let out = run_async(cmd).await;
    assert_eq!(code(&out), 2, "{}", stderr(&out));

    assert_eq!(net.network.payment_count(), 0);
    assert_eq!(net.paid_msat(), 0);
}

/// The middleware's own log lines reach stderr: `-v` shows the payment it makes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verbose_shows_the_middleware_logs() {
    let net = PaidNet::start().await;
    let api = net.paid_api(10).await;
    let mut cmd = net.get(&["-v"], &format!("http://{api}/paid"));
    cmd.args(["--path-scope", "1"]);
    let out = run_async(cmd).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("paying L402 invoice"),
        "{}",
        stderr(&out)
    );
    assert_eq!(net.paid_msat(), 10_000 + FEE_MSAT);

    // RUST_LOG is honoured without -v; the default shows warnings only.
    let mut cmd = net.get(&[], &format!("http://{api}/free"));
    cmd.env("RUST_LOG", "debug");
    let out = run_async(cmd).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("DEBUG"), "{}", stderr(&out));
    // By default only warnings are logged, and there are none: the token store finds
    // only tokens in its directory (the ledger lives elsewhere).
    let out = run_async(net.get(&[], &format!("http://{api}/free"))).await;
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    let names: Vec<_> = std::fs::read_dir(net.dir.join("tokens"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| !n.contains("ledger") && !n.contains("spent")),
        "{names:?}"
    );
}

/// A ledger that cannot be read stops the call before anything is sent: no request
/// reaches the server (it would have made an invoice), nothing is paid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_ledger_stops_the_call_before_sending() {
    let net = PaidNet::start().await;
    let api = net.paid_api(10).await;
    std::fs::write(net.ledger(), "{ not a ledger").unwrap();
    let out = run_async(net.get(&["--budget", "100"], &format!("http://{api}/paid"))).await;
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let s = summary(&out);
    assert!(s["error"].as_str().unwrap().contains("ledger"), "{s}");
    assert_eq!(net.network.invoice_count(), 0, "a request was sent");
    assert_eq!(net.paid_msat(), 0);
    // Still unreadable: it never starts again from zero on its own.
    assert_eq!(
        std::fs::read_to_string(net.ledger()).unwrap(),
        "{ not a ledger"
    );
}

/// The ledger breaks while the paid request is being answered: the body that was paid
/// for is written, and the exit code says that money moved (6), not "nothing attempted".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_broken_after_paying_still_gets_the_body() {
    let net = PaidNet::start().await;
    let ledger = net.ledger();
    let app = axum::Router::new()
        .route(
            "/paid",
            axum::routing::get(move || {
                let ledger = ledger.clone();
                async move {
                    std::fs::write(&ledger, "garbage").unwrap();
                    "paid content"
                }
            }),
        )
        .route_layer(net.layer(10));
    let api = crate::paid::serve(app).await;
    let out = run_async(net.get(&[], &format!("http://{api}/paid"))).await;
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    assert_eq!(stdout(&out), "paid content");
    let s = summary(&out);
    let error = s["error"].as_str().unwrap();
    assert!(error.contains("paid 10 sat + 0.5 sat fee"), "{error}");
    assert!(error.contains("ledger"), "{error}");
    assert_eq!(s["payments"], 1);
    assert_eq!(net.network.payment_count(), 1);
    assert_eq!(net.paid_msat(), 10_000 + FEE_MSAT);
}

/// A server that takes the money and answers 402 again is paid once; the call says the
/// payment went through and the server asked again (exit 5), not "payment failed", and
/// the middleware's warning is on stderr.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_asking_again_after_payment_is_paid_once() {
    let net = PaidNet::start().await;
    let api = net.greedy_api(10).await;
    let out = run_async(net.get(&[], &format!("http://{api}/paid"))).await;
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    let s = summary(&out);
    let error = s["error"].as_str().unwrap();
    assert!(error.contains("paid 10 sat + 0.5 sat fee"), "{error}");
    assert!(error.contains("still asks for payment"), "{error}");
    assert!(!error.contains("payment failed"), "{error}");
    assert!(
        stderr(&out).contains("server still requires payment after paying once"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stdout(&out), "");
    assert_eq!(net.network.payment_count(), 1);
    assert_eq!(net.paid_msat(), 10_000 + FEE_MSAT);
}

/// `--budget` holds across processes: the second run, a new process, knows what the
/// first paid and refuses (exit 3); the nodes show one payment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_budget_survives_a_restart() {
    let net = PaidNet::start().await;
    let first = net.paid_api(10).await;
    let second = net.paid_api(10).await;
    let limits = ["--budget", "15", "--max-fee", "1", "--budget-window", "24h"];

    let out = run_async(net.get(&limits, &format!("http://{first}/paid"))).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(summary(&out)["budget"]["spent_msat"], 10_500);

    let out = run_async(net.get(&limits, &format!("http://{second}/paid"))).await;
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let s = summary(&out);
    assert!(s["error"].as_str().unwrap().contains("budget"), "{s}");
    assert_eq!(s["budget"]["spent_msat"], 10_500);
    assert_eq!(s["budget"]["remaining_msat"], 4_500);
    assert_eq!(stdout(&out), "");

    assert_eq!(net.network.payment_count(), 1);
    assert_eq!(net.paid_msat(), 10_000 + FEE_MSAT);
}

/// Four processes at once against four origins with a budget for two payments: the
/// reservations in the shared file let exactly two pay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_share_one_budget() {
    let net = PaidNet::start().await;
    let mut calls = Vec::new();
    for _ in 0..4 {
        let api = net.paid_api(10).await;
        calls.push(run_async(net.get(
            &["--budget", "25", "--max-fee", "1"],
            &format!("http://{api}/paid"),
        )));
    }
    let outs = futures_join_all(calls).await;
    let mut codes: Vec<i32> = outs.iter().map(code).collect();
    codes.sort_unstable();
    assert_eq!(
        codes,
        [0, 0, 3, 3],
        "{:?}",
        outs.iter().map(stderr).collect::<Vec<_>>()
    );
    assert_eq!(net.network.payment_count(), 2);
    assert_eq!(net.paid_msat(), 2 * (10_000 + FEE_MSAT));
}

async fn futures_join_all<F>(futures: Vec<F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

/// Redirects: same-origin ones are followed (and paid behind); a cross-origin one is not
/// followed without -L (curl's behaviour), and with -L the origin it leads to is never
/// paid (exit 3). Counted on the nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_origin_redirects_are_never_paid() {
    let net = PaidNet::start().await;
    let api = net.paid_api(10).await;
    let hop = crate::paid::redirector(format!("http://{api}/paid")).await;

    let out = run_async(net.get_cmd(true, &[], &format!("http://{hop}/start"))).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(summary(&out)["status"], 307);
    assert_eq!(summary(&out)["payments"], 0);
    assert_eq!(net.network.invoice_count(), 0, "the redirect was followed");

    let out = run_async(net.get(&["-L"], &format!("http://{hop}/start"))).await;
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let s = summary(&out);
    assert!(
        s["error"]
            .as_str()
            .unwrap()
            .contains("refused, nothing paid"),
        "{s}"
    );
    assert_eq!(stdout(&out), "");
    assert_eq!(net.network.payment_count(), 0);
    assert_eq!(net.paid_msat(), 0);

    // Within one origin a redirect is followed and paid behind, once.
    let out = run_async(net.get(&[], &format!("http://{api}/old"))).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "paid content");
    assert_eq!(net.network.payment_count(), 1);
    assert_eq!(net.paid_msat(), 10_000 + FEE_MSAT);
}
