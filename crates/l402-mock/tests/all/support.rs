//! Helpers shared by the tests.

use std::time::Duration;

use l402_core::backend::CreatedInvoice;
use l402_core::backend::{InvoiceRequest, PayParams};
use l402_core::{Amount, InvoiceBackend};
use l402_mock::{MockNetwork, MockNode, RoutingFee};

pub(crate) fn msat(n: u64) -> Amount {
    Amount::from_msat(n)
}

/// Pay with a generous fee cap and timeout.
pub(crate) fn params() -> PayParams {
    PayParams::new(msat(1_000_000), Duration::from_secs(30))
}

/// A regtest network with `fee`, a funded payer "alice" and an empty payee "bob".
pub(crate) fn pair(fee: RoutingFee, alice_balance: u64) -> (MockNetwork, MockNode, MockNode) {
    let network = MockNetwork::builder().routing_fee(fee).build();
    let alice = network
        .node("alice")
        .balance(msat(alice_balance))
        .build()
        .unwrap();
    let bob = network.node("bob").build().unwrap();
    (network, alice, bob)
}

pub(crate) async fn invoice(node: &MockNode, amount: u64) -> CreatedInvoice {
    node.create_invoice(&InvoiceRequest::new(msat(amount)))
        .await
        .unwrap()
}

/// The ledger invariant: no msat created or lost.
pub(crate) fn assert_conserved(network: &MockNetwork) {
    let accounted = network
        .total_balance()
        .checked_add(network.total_fees())
        .and_then(|a| a.checked_add(network.in_flight()))
        .unwrap();
    assert_eq!(accounted, network.total_deposited());
    let by_node = network
        .nodes()
        .iter()
        .fold(Amount::ZERO, |sum, n| sum.checked_add(n.balance()).unwrap());
    assert_eq!(by_node, network.total_balance());
}
