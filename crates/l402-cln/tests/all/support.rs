//! Networks, fake nodes and backends for the tests.

use std::time::Duration;

use l402_cln::{ClnBackend, ClnBackendBuilder};
use l402_cln_fake::{FakeCln, FakeClnOptions, FakeRune};
use l402_core::Amount;
use l402_mock::{MockNetwork, RoutingFee};

/// A builder for `cln` with test timeouts, trusting its CA, by `https://localhost`.
pub(crate) fn builder(cln: &FakeCln, rune: String) -> ClnBackendBuilder {
    let mut builder = ClnBackend::builder(cln.localhost_url())
        .rune(rune)
        .request_timeout(Duration::from_secs(5))
        .connect_timeout(Duration::from_secs(2))
        .pay_timeout_margin(Duration::from_millis(500));
    if let Some(pem) = cln.ca_pem() {
        builder = builder.ca_cert(pem.as_bytes().to_vec());
    }
    builder
}

/// A backend for `cln` with a preset rune.
pub(crate) fn backend(cln: &FakeCln, rune: FakeRune) -> ClnBackend {
    builder(cln, cln.rune(rune)).build().unwrap()
}

/// Two fake CLN nodes on one network: a server (payee) and an agent (payer, funded).
pub(crate) struct Pair {
    pub(crate) network: MockNetwork,
    pub(crate) server: FakeCln,
    pub(crate) agent: FakeCln,
}

impl Pair {
    pub(crate) async fn new() -> Self {
        Self::with_options(FakeClnOptions::new()).await
    }

    pub(crate) async fn with_options(options: FakeClnOptions) -> Self {
        let network = MockNetwork::builder()
            .routing_fee(RoutingFee::new(Amount::from_msat(1_000), 0))
            .build();
        let server_node = network.node("server").build().unwrap();
        let agent_node = network
            .node("agent")
            .balance(Amount::from_msat(1_000_000))
            .build()
            .unwrap();
        let server = FakeCln::start(server_node, options.clone()).await.unwrap();
        let agent = FakeCln::start(agent_node, options).await.unwrap();
        Pair {
            network,
            server,
            agent,
        }
    }

    /// The server side with its least-privilege rune.
    pub(crate) fn server_backend(&self) -> ClnBackend {
        backend(&self.server, FakeRune::InvoiceOnly)
    }

    /// The agent side with its least-privilege rune.
    pub(crate) fn agent_backend(&self) -> ClnBackend {
        backend(&self.agent, FakeRune::Payer)
    }
}

impl l402_backend_tests::Harness for Pair {
    type Server = ClnBackend;
    type Agent = ClnBackend;

    fn server_backend(&self) -> ClnBackend {
        Pair::server_backend(self)
    }

    fn agent_backend(&self) -> ClnBackend {
        Pair::agent_backend(self)
    }

    fn server_node(&self) -> &l402_mock::MockNode {
        self.server.node()
    }

    fn agent_node(&self) -> &l402_mock::MockNode {
        self.agent.node()
    }
}
