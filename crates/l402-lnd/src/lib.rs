//! # l402-lnd
//!
//! An [LND](https://github.com/lightningnetwork/lnd) backend for L402, over LND's REST
//! API: [`LndBackend`] implements [`InvoiceBackend`](l402_core::InvoiceBackend) (for
//! servers) and [`PaymentBackend`](l402_core::PaymentBackend) (for paying clients). HTTP
//! is `reqwest` with rustls (ring): no protoc, no OpenSSL.
//!
//! ## Calls and macaroons
//!
//! | trait method | LND call | permission |
//! |---|---|---|
//! | `create_invoice` | `POST /v1/invoices` (`AddInvoice`) | `invoices:write` |
//! | `lookup_invoice` | `GET /v1/invoice/{hex}` (`LookupInvoice`) | `invoices:read` |
//! | `node_info` (optional) | `GET /v1/getinfo` (`GetInfo`) | `info:read` |
//! | `pay_invoice` | `POST /v2/router/send` (`SendPaymentV2`, a stream) | `offchain:write` |
//! | `lookup_payment` | `GET /v2/router/track/{hash}` (`TrackPaymentV2`, a stream) | `offchain:read` |
//!
//! A server needs only `invoices:write invoices:read`; an agent only
//! `offchain:write offchain:read` (see `docs/backends.md` for `lncli bakemacaroon`).
//!
//! [`LndBackend::bake_macaroon`] (`POST /v1/macaroon`, `BakeMacaroon`, needs
//! `macaroon:generate`) asks the node for such a least-privilege macaroon; build the
//! baking backend with [`LndBackendBuilder::for_baking`]. `l402 node bake` uses it.
//! The macaroon goes hex-encoded in the `Grpc-Metadata-macaroon` header; it is zeroized on
//! drop and never shown by `Debug`. The removed `SendPaymentSync` is never used.
//!
//! ## TLS
//!
//! LND's `tls.cert` is a self-signed CA certificate, which rustls refuses as a server
//! certificate. [`LndBackendBuilder::tls_cert`] / [`tls_cert_file`](LndBackendBuilder::tls_cert_file)
//! *pin* it instead: the server must present exactly that certificate, and must prove it
//! holds its key (the handshake signature is verified). For LND behind a proxy with an
//! ordinary certificate, use the public roots (the default) or
//! [`ca_cert`](LndBackendBuilder::ca_cert). Plain `http://` works for `--no-rest-tls`.
//!
//! ## Errors
//!
//! * No connection, a timeout, or LND's `Unavailable` / `DeadlineExceeded` /
//!   `ResourceExhausted` codes: [`ErrorKind::Transient`](l402_core::ErrorKind::Transient).
//! * Any other LND error (`{"code","message","details"}`, e.g. "permission denied"):
//!   [`ErrorKind::Permanent`](l402_core::ErrorKind::Permanent). LND's message is kept in
//!   [`BackendError::message`](l402_core::BackendError::message), for logs only.
//! * Payments: [`PayError::Failed`](l402_core::PayError::Failed) only when LND said
//!   `FAILED` (with its `failure_reason`), when it refused a duplicate (`AlreadyExists`,
//!   "invoice is already paid" or "payment is in transition":
//!   [`AlreadyPaid`](l402_core::backend::FailureReason::AlreadyPaid), which is not
//!   "nothing paid": look the payment up), or when the invoice
//!   is expired or its amount does not fit, checked before sending.
//!   [`PayError::NotAttempted`](l402_core::PayError::NotAttempted) when the connection was
//!   refused or LND rejected the request before its first stream message.
//!   Everything else after the request went out (stream cut, timeout of
//!   `PayParams::timeout` plus [`LndBackendBuilder::pay_timeout_margin`], unreadable
//!   message) is [`PayError::OutcomeUnknown`](l402_core::PayError::OutcomeUnknown):
//!   recover with `lookup_payment`.
//! * A `SUCCEEDED` payment's preimage is checked against the payment hash before it is
//!   returned.
//!
//! ## Example
//!
//! ```no_run
//! use std::time::Duration;
//! use l402_core::backend::{InvoiceRequest, PayParams};
//! use l402_core::{Amount, InvoiceBackend, PaymentBackend};
//! use l402_lnd::LndBackend;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // Server side: an invoice-only macaroon, LND's own tls.cert pinned.
//! let server = LndBackend::builder("https://localhost:8080")
//!     .macaroon_file("/secrets/server.macaroon")
//!     .tls_cert_file("/home/lnd/.lnd/tls.cert")
//!     .build()?;
//! let created = server
//!     .create_invoice(&InvoiceRequest::new(Amount::from_msat(21_000)).memo("api call"))
//!     .await?;
//!
//! // Client side: a pay-only macaroon on another node.
//! let agent = LndBackend::builder("https://agent-lnd:8080")
//!     .macaroon_hex(std::env::var("AGENT_MACAROON_HEX")?)
//!     .tls_cert_file("/secrets/agent-tls.cert")
//!     .build()?;
//! let params = PayParams::new(Amount::from_msat(1_000), Duration::from_secs(30));
//! let paid = agent.pay_invoice(&created.invoice, &params).await?;
//! assert!(created.payment_hash.matches(&paid.preimage));
//! # Ok(()) }
//! ```
//!
//! The backend needs a Tokio runtime (reqwest and its timers).

#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod backend;
mod bake;
mod builder;
mod macaroon;
mod tls;
mod wire;

pub use backend::LndBackend;
pub use bake::{BakeError, MAX_BAKE_PERMISSIONS, MacaroonPermission};
pub use builder::{
    BuildError, DEFAULT_CONNECT_TIMEOUT, DEFAULT_PAY_TIMEOUT_MARGIN, DEFAULT_REQUEST_TIMEOUT,
    LndBackendBuilder,
};
/// Errors inside [`BuildError`], from the plumbing shared with the other REST node backend.
pub use l402_core::node_credential::CredentialRole;
pub use l402_node_rest::endpoint::UrlError;
pub use l402_node_rest::trust::{CertificateError, ReadFileError};
