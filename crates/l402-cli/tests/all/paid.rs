//! An in-process mock network for `l402 get` tests that count money: a payer node behind
//! a fake LND (the binary pays through it), a server node selling `/paid` behind
//! `L402Layer`, and hostile servers around it. Money is counted on the mock nodes.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use l402_core::{Amount, MemoryRootKeyStore};
use l402_lnd_fake::{FakeLnd, FakeLndOptions, FakeMacaroon};
use l402_mock::{MockNetwork, MockNode, RoutingFee};
use l402_tower::L402Layer;

use crate::support::{TempDir, l402};

/// What the payer node starts with.
pub(crate) const PAYER_BALANCE: Amount = Amount::from_msat(1_000_000);
/// The routing fee of every payment on the network.
pub(crate) const FEE_MSAT: u64 = 500;

pub(crate) struct PaidNet {
    pub(crate) network: MockNetwork,
    pub(crate) server: MockNode,
    pub(crate) payer: MockNode,
    pub(crate) lnd: FakeLnd,
    pub(crate) dir: TempDir,
}

impl PaidNet {
    pub(crate) async fn start() -> PaidNet {
        let network = MockNetwork::builder()
            .routing_fee(RoutingFee::new(Amount::from_msat(FEE_MSAT), 0))
            .build();
        let server = network.node("server").build().unwrap();
        let payer = network
            .node("payer")
            .balance(PAYER_BALANCE)
            .build()
            .unwrap();
        let lnd = FakeLnd::start(payer.clone(), FakeLndOptions::new())
            .await
            .unwrap();
        let dir = TempDir::new("paid");
        std::fs::write(
            dir.join("payer.macaroon"),
            lnd.macaroon(FakeMacaroon::PayClient),
        )
        .unwrap();
        std::fs::write(dir.join("tls.cert"), lnd.tls_cert_pem().unwrap()).unwrap();
        PaidNet {
            network,
            server,
            payer,
            lnd,
            dir,
        }
    }

    /// The flags that make `l402 get` pay from the payer node.
    pub(crate) fn node_flags(&self) -> Vec<String> {
        vec![
            "--backend".into(),
            "lnd".into(),
            "--node-url".into(),
            self.lnd.base_url().into(),
            "--macaroon-file".into(),
            self.dir.str("payer.macaroon"),
            "--tls-cert-file".into(),
            self.dir.str("tls.cert"),
        ]
    }

    /// `l402 get --json --network regtest` with a token directory under the test's
    /// directory, and the payer's flags when `with_node`.
    pub(crate) fn get_cmd(&self, with_node: bool, extra: &[&str], url: &str) -> Command {
        let mut cmd = l402(&["get", "--json", "--network", "regtest"]);
        if with_node {
            cmd.args(self.node_flags());
        }
        cmd.arg("--token-dir").arg(self.dir.join("tokens"));
        cmd.arg("--ledger").arg(self.ledger());
        cmd.args(extra);
        cmd.arg(url);
        cmd
    }

    /// `get_cmd` with the node.
    pub(crate) fn get(&self, extra: &[&str], url: &str) -> Command {
        self.get_cmd(true, extra, url)
    }

    /// The layer selling `price_sat` through the server node.
    pub(crate) fn layer(&self, price_sat: u64) -> L402Layer<MockNode, Arc<MemoryRootKeyStore>> {
        L402Layer::builder(self.server.clone(), Arc::new(MemoryRootKeyStore::new()))
            .service("api")
            .price_sat(price_sat)
            .build()
            .unwrap()
    }

    /// An API: `/paid` costs `price_sat`, `/free` is free, `/old` redirects (same origin)
    /// to `/paid`.
    pub(crate) async fn paid_api(&self, price_sat: u64) -> SocketAddr {
        let app = Router::new()
            .route("/paid", get(|| async { "paid content" }))
            .route_layer(self.layer(price_sat))
            .route("/free", get(|| async { "free content" }))
            .route("/old", get(|| async { Redirect::to("/paid") }));
        serve(app).await
    }

    /// A server that takes the money and asks again: every request, with a token or
    /// not, gets a new challenge (the `Authorization` header is dropped before the layer).
    pub(crate) async fn greedy_api(&self, price_sat: u64) -> SocketAddr {
        let layer = self.layer(price_sat);
        let app = Router::new()
            .route("/paid", get(|| async { "never reached" }))
            .route_layer(layer)
            .layer(axum::middleware::map_request(
                |mut req: Request| async move {
                    req.headers_mut().remove(http::header::AUTHORIZATION);
                    req
                },
            ));
        serve(app).await
    }

    /// The spending ledger of this test's calls.
    pub(crate) fn ledger(&self) -> std::path::PathBuf {
        self.dir.join("ledger.json")
    }

    pub(crate) fn paid_msat(&self) -> u64 {
        PAYER_BALANCE.msat() - self.payer.balance().msat()
    }
}

/// A server on another origin that redirects every request to `target`.
pub(crate) async fn redirector(target: String) -> SocketAddr {
    let app = Router::new().fallback(move || {
        let target = target.clone();
        async move { Redirect::temporary(&target).into_response() }
    });
    serve(app).await
}

pub(crate) async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}
