//! # l402-mock
//!
//! An in-process mock Lightning network for testing anything built on the
//! [`l402_core`] backend traits: L402 servers, paying clients, and whole round trips,
//! without a node, a socket, or an HTTP dependency.
//!
//! A [`MockNetwork`] is a ledger shared by any number of [`MockNode`]s. Each node has a
//! secp256k1 key and implements [`InvoiceBackend`](l402_core::InvoiceBackend) and
//! [`PaymentBackend`](l402_core::PaymentBackend):
//!
//! * its invoices are real BOLT11 invoices, signed with its key, that
//!   [`lightning_invoice`](l402_core::lightning_invoice) parses and checks (regtest unless
//!   the network says otherwise);
//! * paying another node's invoice moves msat from payer to payee, charges the network's
//!   [`RoutingFee`], settles the invoice and returns its preimage;
//! * payments fail the way a real node's do (no route, fee above the cap, insufficient
//!   balance, expired, already paid, wrong network, wrong amount);
//! * [`Faults`] make a node unreachable, slow, or its payments hang in flight, fail, or
//!   lose their answer after settling, for the next *n* calls or until cleared;
//! * everything is observable: balances, invoices, payments, totals.
//!
//! ## Example: two nodes, one payment
//!
//! ```
//! use std::time::Duration;
//! use l402_core::backend::{InvoiceRequest, InvoiceState, PayParams, PaymentStatus};
//! use l402_core::{Amount, InvoiceBackend, PaymentBackend};
//! use l402_mock::{MockNetwork, RoutingFee};
//!
//! # pollster::block_on(async {
//! let network = MockNetwork::builder()
//!     .routing_fee(RoutingFee::new(Amount::from_msat(1_000), 0))
//!     .build();
//! let alice = network.node("alice").balance(Amount::from_msat(100_000)).build()?;
//! let bob = network.node("bob").build()?;
//!
//! // Bob (a server) asks for 21 sat; Alice (a client) pays with a fee cap.
//! let created = bob
//!     .create_invoice(&InvoiceRequest::new(Amount::from_msat(21_000)).memo("coffee"))
//!     .await?;
//! let params = PayParams::new(Amount::from_msat(5_000), Duration::from_secs(30));
//! let paid = alice.pay_invoice(&created.invoice, &params).await?;
//! assert!(created.payment_hash.matches(&paid.preimage));
//!
//! assert_eq!(alice.balance(), Amount::from_msat(100_000 - 21_000 - 1_000));
//! assert_eq!(bob.balance(), Amount::from_msat(21_000));
//! assert_eq!(network.total_fees(), Amount::from_msat(1_000));
//! assert!(matches!(
//!     bob.lookup_invoice(&created.payment_hash).await?,
//!     Some(InvoiceState::Settled { .. })
//! ));
//! assert_eq!(
//!     alice.lookup_payment(&created.payment_hash).await?,
//!     PaymentStatus::Succeeded(paid)
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! ## Faults
//!
//! ```
//! use std::time::Duration;
//! use l402_mock::{MockNetwork, Outcome, PaymentFault};
//!
//! let network = MockNetwork::new();
//! let client = network.node("client").build()?;
//! // The next payment hangs for two seconds, then succeeds.
//! client.faults().next_payment(PaymentFault::InFlight {
//!     duration: Duration::from_secs(2),
//!     then: Outcome::Succeed,
//! });
//! // The one after settles, but its answer is lost (crash-recovery tests).
//! client.faults().next_payment(PaymentFault::CutAfterSettle);
//! // The node's API is down for the next three calls.
//! client.faults().unreachable_next(3);
//! # Ok::<(), l402_mock::MockError>(())
//! ```
//!
//! ## Runtime
//!
//! The crate depends on tokio's timers only. Without latency or in-flight faults no call
//! waits, so nodes work under any executor (the example above uses `pollster`); with them,
//! calls sleep with [`tokio::time`] and need a tokio runtime with timers enabled. Paused
//! tokio time (`start_paused`) is honored.
//!
//! ## Consistency
//!
//! All state of a network sits behind one `std::sync::Mutex`, never held across an
//! `.await`; each payment is checked and applied under it at once. At every moment
//! `total_balance() + total_fees() + in_flight() == total_deposited()`, however many
//! payments run concurrently, and a node pays a given invoice at most once.
//!
//! ## Secrets
//!
//! Node secret keys and preimages never appear in `Debug` output. Preimages are available
//! on purpose, through [`InvoiceRecord::preimage`] and successful payments.

#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod error;
mod fault;
mod ledger;
mod network;
mod node;
mod record;

pub use error::MockError;
pub use fault::{Faults, Outcome, PaymentFault};
pub use network::{
    DEFAULT_MIN_FINAL_CLTV_EXPIRY_DELTA, MockNetwork, MockNetworkBuilder, RoutingFee,
};
pub use node::{MockNode, NodeBuilder};
pub use record::{InvoiceRecord, PaymentRecord};
