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
