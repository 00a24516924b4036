//! # l402-cln
//!
//! A [Core Lightning](https://github.com/ElementsProject/lightning) backend for L402,
//! over CLN's REST plugin (`clnrest`): [`ClnBackend`] implements
//! [`InvoiceBackend`](l402_core::InvoiceBackend) (for servers) and
//! [`PaymentBackend`](l402_core::PaymentBackend) (for paying clients). HTTP is `reqwest`
//! with rustls (ring): no OpenSSL, no unix socket.
//!
//! ## Calls and runes
//!
//! Every call is `POST /v1/<method>` with a JSON object of named parameters and the rune
//! in the `Rune` header; success is HTTP 201.
//!
//! | trait method | CLN method | parameters sent |
//! |---|---|---|
//! | `create_invoice` | `invoice` | `amount_msat`, `label` (`l402-<16 hex>`, unique), `description`, `expiry` |
//! | `lookup_invoice` | `listinvoices` | `payment_hash` |
//! | `node_info` (optional) | `getinfo` | none |
//! | `pay_invoice` | `xpay` | `invstring`, `maxfee` (integer msat), `retry_for` (s), `amount_msat` for amountless invoices, `maxdelay` (blocks) when `PayParams::max_cltv_delta` is set |
//! | `lookup_payment` | `listpays` (`listsendpays` if `listpays` is unknown) | `payment_hash` |
//!
//! A server needs a rune limited to
//! `[["method=invoice","method=listinvoices","method=waitinvoice","method=getinfo"]]`; an
//! agent one limited to `xpay`, `listpays`, `listsendpays`, `getinfo` (optionally with a
//! `pnamemaxfee<N>` cap on `xpay`): see `docs/backends.md` for `lightning-cli createrune`.
//! The rune is zeroized on drop and never shown by `Debug`. The removed `decodepay` and
//! the deprecated `pay` are never used.
//!
//! [`ClnBackend::create_rune`] (`createrune`; the backend's rune must allow it) asks the
//! node for such a restricted rune; build the backend that makes runes with
//! [`ClnBackendBuilder::for_baking`]. `l402 node bake --backend cln` uses it.
//!
//! ## TLS
//!
//! cln-grpc / clnrest generate a proper CA (`ca.pem`) and a leaf server certificate
//! signed by it, naming only `cln` and `localhost`.
//! [`ClnBackendBuilder::ca_cert_file`] trusts `ca.pem` (ordinary webpki verification).
//! Connect to `https://localhost:<port>`, or, when reaching the node by IP address, set
//! [`ClnBackendBuilder::tls_server_name`] to `"cln"` or `"localhost"`: the certificate is
//! then checked against that name instead of the URL's host. Plain `http://` works for
//! `clnrest-protocol=http`.
//!
//! ## Errors
//!
//! * No connection, a timeout, a 500 without an error code, or a proxy's 502/503/504:
//!   [`ErrorKind::Transient`](l402_core::ErrorKind::Transient).
//! * Any CLN error (`{"code","message","data"}`, e.g. a rune refused with 401 / 1502):
//!   [`ErrorKind::Permanent`](l402_core::ErrorKind::Permanent). CLN's message is kept in
//!   [`BackendError::message`](l402_core::BackendError::message), for logs only.
//! * `xpay`: codes 203, 205/206, 207, 209, 210, 219 (218, 201, and 200 "in progress")
//!   and -32602 are [`PayError::Failed`](l402_core::PayError::Failed) (with the matching
//!   [`FailureReason`](l402_core::backend::FailureReason); 219, 218, 201 and 200 are
//!   [`AlreadyPaid`](l402_core::backend::FailureReason::AlreadyPaid), which is not
//!   "nothing paid": look the payment up). A refused connection, or a
//!   401/403/404/405 (rune, unknown method) is
//!   [`PayError::NotAttempted`](l402_core::PayError::NotAttempted). Anything else after
//!   the request went out (connection dropped, a timeout of `PayParams::timeout` plus
//!   [`ClnBackendBuilder::pay_timeout_margin`], code -1 or null, a 406 which clnrest
//!   sends after running the method, an unreadable answer) is
//!   [`PayError::OutcomeUnknown`](l402_core::PayError::OutcomeUnknown): recover with
//!   `lookup_payment`.
//! * xpay's answer has no payment hash and no status: its `payment_preimage` is checked
//!   against the invoice's hash before it is returned, as are the preimages of
//!   `listinvoices` (`payment_preimage`), `listpays` (`preimage`) and `listsendpays`
//!   (`payment_preimage`).
//!
//! ## Example
//!
//! ```no_run
//! use std::time::Duration;
//! use l402_core::backend::{InvoiceRequest, PayParams};
//! use l402_core::{Amount, InvoiceBackend, PaymentBackend};
//! use l402_cln::ClnBackend;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // Server side: an invoice-only rune, CLN's ca.pem trusted, reached by IP.
//! let server = ClnBackend::builder("https://127.0.0.1:3010")
//!     .rune_file("/run/secrets/server.rune")
//!     .ca_cert_file("/home/cln/.lightning/bitcoin/ca.pem")
//!     .tls_server_name("cln")
//!     .build()?;
//! let created = server
//!     .create_invoice(&InvoiceRequest::new(Amount::from_msat(21_000)).memo("api call"))
//!     .await?;
//!
//! // Client side: a pay-only rune on another node.
//! let agent = ClnBackend::builder("https://localhost:3010")
//!     .rune(std::env::var("AGENT_RUNE")?)
//!     .ca_cert_file("/secrets/agent-ca.pem")
//!     .build()?;
//! let params = PayParams::new(Amount::from_msat(1_000), Duration::from_secs(30));
//! let paid = agent.pay_invoice(&created.invoice, &params).await?;
//! assert!(created.payment_hash.matches(&paid.preimage));
//! # Ok(()) }
//! ```
//!
//! The backend needs a Tokio runtime (reqwest and its timers).
//!
//! The unix-socket JSON-RPC transport (`cln-rpc`) is not offered: clnrest covers both
//! sides and keeps the rune as the access control.

#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod backend;
mod builder;
mod create_rune;
mod rune;
mod tls;
mod wire;

pub use backend::ClnBackend;
pub use builder::{
    BuildError, ClnBackendBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_PAY_TIMEOUT_MARGIN,
    DEFAULT_REQUEST_TIMEOUT,
};
pub use create_rune::{CreateRuneError, CreatedRune, MAX_CREATE_RESTRICTIONS};
/// Errors inside [`BuildError`], from the plumbing shared with the other REST node backend.
pub use l402_core::node_credential::CredentialRole;
pub use l402_node_rest::endpoint::UrlError;
pub use l402_node_rest::trust::{CertificateError, ReadFileError};
