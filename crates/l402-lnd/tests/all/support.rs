//! Networks, fake nodes and backends for the tests.

use std::time::Duration;

use l402_core::Amount;
use l402_lnd::LndBackend;
use l402_lnd_fake::{FakeLnd, FakeLndOptions, FakeMacaroon};
use l402_mock::{MockNetwork, RoutingFee};

/// A backend for `lnd` with a preset macaroon, pinning its certificate.
pub(crate) fn backend(lnd: &FakeLnd, macaroon: FakeMacaroon) -> LndBackend {
    let mut builder = LndBackend::builder(lnd.base_url())
        .macaroon_hex(lnd.macaroon_hex(macaroon))
        .request_timeout(Duration::from_secs(5))
        .connect_timeout(Duration::from_secs(2))
        .pay_timeout_margin(Duration::from_millis(500));
    if let Some(pem) = lnd.tls_cert_pem() {
        builder = builder.tls_cert(pem.as_bytes().to_vec());
    }
    builder.build().unwrap()
}

/// Two fake LND nodes on one network: a server (payee) and an agent (payer, funded).
pub(crate) struct Pair {
    pub(crate) network: MockNetwork,
    pub(crate) server: FakeLnd,
    pub(crate) agent: FakeLnd,
}

impl Pair {
    pub(crate) async fn new() -> Self {
        Self::with_options(FakeLndOptions::new()).await
    }

    pub(crate) async fn with_options(options: FakeLndOptions) -> Self {
        let network = MockNetwork::builder()
            .routing_fee(RoutingFee::new(Amount::from_msat(1_000), 0))
            .build();
        let server_node = network.node("server").build().unwrap();
        let agent_node = network
            .node("agent")
            .balance(Amount::from_msat(1_000_000))
            .build()
            .unwrap();
        let server = FakeLnd::start(server_node, options.clone()).await.unwrap();
        let agent = FakeLnd::start(agent_node, options).await.unwrap();
        Pair {
            network,
            server,
            agent,
        }
    }

    /// The server side with its least-privilege macaroon.
    pub(crate) fn server_backend(&self) -> LndBackend {
        backend(&self.server, FakeMacaroon::InvoiceServer)
    }

    /// The agent side with its least-privilege macaroon.
    pub(crate) fn agent_backend(&self) -> LndBackend {
        backend(&self.agent, FakeMacaroon::PayClient)
    }
}

impl l402_backend_tests::Harness for Pair {
    type Server = LndBackend;
    type Agent = LndBackend;

    fn server_backend(&self) -> LndBackend {
        Pair::server_backend(self)
    }

    fn agent_backend(&self) -> LndBackend {
        Pair::agent_backend(self)
    }

    fn server_node(&self) -> &l402_mock::MockNode {
        self.server.node()
    }

    fn agent_node(&self) -> &l402_mock::MockNode {
        self.agent.node()
    }
}
