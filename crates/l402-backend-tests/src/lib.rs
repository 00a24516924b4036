//! The behaviour every node payment backend must show, written once.
//!
//! `l402-lnd` and `l402-cln` run these against their fake nodes (two nodes on one mock
//! network, the agent funded with 1,000,000 msat, a routing fee of 1,000 msat): each
//! crate implements [`Harness`] for its pair and calls the functions of [`payments`] from
//! its own `#[tokio::test]`s, so a behaviour is specified in one place and every backend
//! is held to it. What differs between nodes (error codes, stream shapes, recovery
//! calls) stays in each crate's own tests.
//!
//! This crate is not published; it is a dev-dependency only.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod payments;

use l402_core::backend::{CreatedInvoice, InvoiceRequest};
use l402_core::{Amount, InvoiceBackend, PaymentBackend};
use l402_mock::MockNode;

/// A payee and a funded payer, each behind the backend under test.
pub trait Harness {
    /// The payee's backend (least-privilege invoice credential).
    type Server: InvoiceBackend;
    /// The payer's backend (least-privilege payment credential).
    type Agent: PaymentBackend + Clone + Send + Sync + 'static;

    /// A backend for the payee.
    fn server_backend(&self) -> Self::Server;
    /// A backend for the payer.
    fn agent_backend(&self) -> Self::Agent;
    /// The payee's mock node (balances, faults).
    fn server_node(&self) -> &MockNode;
    /// The payer's mock node (balances, faults, payments).
    fn agent_node(&self) -> &MockNode;
}

/// The payer's starting balance in every harness, in millisatoshis.
pub const AGENT_START_MSAT: u64 = 1_000_000;
/// The network's routing fee per payment, in millisatoshis.
pub const ROUTING_FEE_MSAT: u64 = 1_000;

/// An invoice of `msat` (0 = amountless) from the payee, memo `test`.
pub async fn invoice<H: Harness>(harness: &H, msat: u64) -> CreatedInvoice {
    harness
        .server_backend()
        .create_invoice(&InvoiceRequest::new(Amount::from_msat(msat)).memo("test"))
        .await
        .unwrap()
}
