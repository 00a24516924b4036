//! `l402 get --backend cln`: paying from a (fake) Core Lightning node over clnrest.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use l402_cln_fake::{FakeCln, FakeClnOptions, FakeRune};
use l402_core::{Amount, MemoryRootKeyStore};
use l402_mock::{MockNetwork, RoutingFee};
use l402_tower::L402Layer;

use crate::support::{TempDir, code, l402, run_async, stderr, stdout, summary};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pays_through_core_lightning() {
    let network = MockNetwork::builder()
        .routing_fee(RoutingFee::new(Amount::from_msat(500), 0))
        .build();
    let server = network.node("server").build().unwrap();
    let payer = network
        .node("payer")
        .balance(Amount::from_msat(1_000_000))
        .build()
        .unwrap();
    let cln = FakeCln::start(payer, FakeClnOptions::new()).await.unwrap();

    let layer = L402Layer::builder(server.clone(), Arc::new(MemoryRootKeyStore::new()))
        .service("api")
        .price_sat(7)
        .build()
        .unwrap();
    let app = Router::new()
        .route("/paid", get(|| async { "paid content" }))
        .route_layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = TempDir::new("cln");
    std::fs::write(dir.join("payer.rune"), cln.rune(FakeRune::Payer)).unwrap();
    std::fs::write(dir.join("ca.pem"), cln.ca_pem().unwrap()).unwrap();
    let command = || {
        let mut cmd = l402(&[
            "get",
            "--json",
            "--backend",
            "cln",
            "--network",
            "regtest",
            "--node-url",
            cln.base_url(),
            "--tls-server-name",
            "cln",
        ]);
        cmd.arg("--rune-file")
            .arg(dir.join("payer.rune"))
            .arg("--tls-cert-file")
            .arg(dir.join("ca.pem"))
            .arg("--token-dir")
            .arg(dir.join("tokens"))
            .arg(format!("http://{addr}/paid"));
        cmd
    };
    for payments in [1, 0] {
        let out = run_async(command()).await;
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert_eq!(stdout(&out), "paid content");
        assert_eq!(summary(&out)["payments"], payments);
    }
    assert_eq!(network.payment_count(), 1);
    assert_eq!(server.balance(), Amount::from_msat(7_000));

    // A macaroon flag with the cln backend is a configuration error.
    let mut cmd = command();
    cmd.args(["--macaroon-file", "x"]);
    assert_eq!(code(&run_async(cmd).await), 2);
}
