//! # l402-cln-fake
//!
//! A fake Core Lightning `clnrest` server for tests and local development: the few
//! methods an L402 backend calls, with the exact JSON shapes, status codes, error bodies
//! and rune checks of CLN v26.06 (`shared/backends/cln-rest.json`), served from an
//! [`l402_mock::MockNode`].
//!
//! | method | what the fake does |
//! |---|---|
//! | `getinfo` | the node id, alias, `network` (`regtest`…), `version` `v26.06.6` |
//! | `invoice` | a real BOLT11 invoice from the mock node; labels must be unique (error 900); `expiry` defaults to one week |
//! | `listinvoices` | by `payment_hash`, `label` or `invstring`, or all; `unpaid` / `paid` / `expired`, `payment_preimage` only once paid |
//! | `xpay` | pays through the mock node; no `payment_hash` or `status` in the answer; errors 203, 205, 207, 209, 219, -32602 |
//! | `listpays` | the node's payments (`preimage` once `complete`) |
//! | `listsendpays` | the same, one part each (`payment_preimage` once `complete`) |
//! | `createrune` | a rune from the node's master secret with the next unique id, or `rune` with restrictions appended; `restrictions` as `readonly` or an array of arrays; CLN's `warning_unrestricted_rune`; CLN's -32602 messages |
//!
//! Every call is `POST /v1/<method>` with a JSON object of named parameters (`null`
//! values dropped) and the rune in the `Rune` header. Success is HTTP **201**; method
//! errors are HTTP 500 with `{"code","message","data"}`; an unknown method is 404
//! (`-32601`, checked after the rune), another HTTP method 405, an unsupported
//! `Content-Type` 406 (before the call) or `Accept` 406 (after it); a missing rune 403
//! (1501), an unknown rune 401 (1501), a rune that does not allow the call 401 (1502,
//! with ccan/rune's "Not permitted: …" text). Unknown parameters are refused (-32602).
//!
//! ## Runes
//!
//! The fake's runes are real runes (URL-safe base64 of the 32-byte SHA-256 state and the
//! restriction text `=<id>&method=invoice|…`), derived from the fake's random master
//! secret, so a rune narrowed offline still works. Restrictions are evaluated as
//! `checkrune` does (`method`, `pnameX`, `pnum`, `time`, and `rate` / `per` against the
//! last use of the rune's unique id; conditions `= / ^ $ ~ < > { } ! #`; integer
//! comparisons need integer parameters). Presets: [`FakeRune`];
//! more with [`FakeCln::create_rune`].
//!
//! ## TLS
//!
//! HTTPS with a fresh CA (`ca.pem`) and a leaf server certificate signed by it naming
//! only `cln` and `localhost`, as cln-grpc generates them: a client trusts
//! [`FakeCln::ca_pem`] and must either connect to `https://localhost:<port>` or set the
//! TLS server name when it connects to `127.0.0.1`. Or plain HTTP
//! (`clnrest-protocol=http`).
//!
//! ## Faults
//!
//! From the mock node ([`MockNode::faults`]): an unreachable node makes the fake drop the
//! connection without an answer (lightningd and its plugins gone); payments can hang in
//! flight, fail, or lose their answer after settling (the connection is dropped). From
//! the fake: [`FakeCln::cut_next_xpay`] drops `xpay` connections once the payment is
//! sent, [`FakeCln::shutdown`] refuses connections, and
//! [`FakeClnOptions::without_listpays`] makes `listpays` an unknown command (the pay
//! plugin disabled).
//!
//! ## Example
//!
//! ```no_run
//! use l402_cln_fake::{FakeCln, FakeClnOptions, FakeRune};
//! use l402_mock::MockNetwork;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let network = MockNetwork::new();
//! let node = network.node("server").build()?;
//! let cln = FakeCln::start(node, FakeClnOptions::new()).await?;
//! let url = cln.localhost_url(); // https://localhost:<port>
//! let rune = cln.rune(FakeRune::InvoiceOnly);
//! let ca_pem = cln.ca_pem();
//! # let _ = (url, rune, ca_pem);
//! # Ok(()) }
//! ```
//!
//! The server runs on the Tokio runtime that calls [`FakeCln::start`]; it stops when
//! [`FakeCln::shutdown`] is called or the [`FakeCln`] is dropped.

#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod cert;
mod json;
mod rune;
mod server;

use core::fmt;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use l402_mock::MockNode;

pub use rune::FakeRune;

use crate::server::lock;

/// Why a fake node could not start, or a rune could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FakeClnError {
    /// The listening socket could not be bound.
    #[error("cannot bind the fake cln socket")]
    Bind(#[source] std::io::Error),
    /// The TLS certificates could not be generated.
    #[error("cannot generate the tls certificates")]
    Certificate(#[source] rcgen::Error),
    /// The TLS configuration was refused.
    #[error("cannot configure tls")]
    Tls(#[source] rustls::Error),
    /// No randomness for the runes.
    #[error("no randomness available")]
    Randomness(#[source] getrandom::Error),
    /// A rune restriction is not in `createrune`'s format.
    #[error("invalid rune restriction: {0}")]
    InvalidRestriction(String),
}

impl From<rune::CreateError> for FakeClnError {
    fn from(e: rune::CreateError) -> Self {
        match e {
            rune::CreateError::Restriction(s) => FakeClnError::InvalidRestriction(s),
            rune::CreateError::Randomness(e) => FakeClnError::Randomness(e),
        }
    }
}

/// How to run a [`FakeCln`].
#[derive(Debug, Clone)]
#[must_use]
pub struct FakeClnOptions {
    tls: bool,
    bind: SocketAddr,
    listpays: bool,
}

impl Default for FakeClnOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeClnOptions {
    /// HTTPS with fresh cln-grpc-style certificates, on `127.0.0.1` and a free port,
    /// every method available.
    pub fn new() -> Self {
        FakeClnOptions {
            tls: true,
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            listpays: true,
        }
    }

    /// Plain HTTP instead of HTTPS (`clnrest-protocol=http`).
    pub fn plain_http(mut self) -> Self {
        self.tls = false;
        self
    }

    /// The address to listen on; default `127.0.0.1:0` (a free port).
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }

    /// Makes `listpays` an unknown command (404, `-32601`), as on a node with the pay
    /// plugin disabled; `listsendpays` still works.
    pub fn without_listpays(mut self) -> Self {
        self.listpays = false;
        self
    }
}

/// A running fake clnrest server. See the [crate docs](crate).
///
/// `Debug` does not show runes.
pub struct FakeCln {
    state: Arc<server::State>,
    server: l402_fake_server::Server,
    tls: Option<TlsFiles>,
    presets: HashMap<FakeRune, String>,
}

/// The PEM and DER forms of the CA and server certificates.
struct TlsFiles {
    ca_der: Vec<u8>,
    ca_pem: String,
    cert_der: Vec<u8>,
    cert_pem: String,
}

impl FakeCln {
    /// Starts serving `node` on the current Tokio runtime.
    ///
    /// # Errors
    /// [`FakeClnError`] if the socket cannot be bound, the certificates cannot be made or
    /// no randomness is available.
    pub async fn start(node: MockNode, options: FakeClnOptions) -> Result<FakeCln, FakeClnError> {
        let state = Arc::new(server::State::new(node, options.listpays));
        let mut presets = HashMap::new();
        {
            let mut store = lock(&state.runes);
            for preset in FakeRune::ALL {
                presets.insert(preset, store.create(&preset.restrictions())?);
            }
        }
        let (acceptor, tls) = if options.tls {
            let identity = cert::generate().map_err(FakeClnError::Certificate)?;
            let acceptor =
                l402_fake_server::tls_acceptor(vec![identity.cert_der.clone()], identity.key_der)
                    .map_err(FakeClnError::Tls)?;
            (
                Some(acceptor),
                Some(TlsFiles {
                    ca_der: identity.ca_der,
                    ca_pem: identity.ca_pem,
                    cert_der: identity.cert_der,
                    cert_pem: identity.cert_pem,
                }),
            )
        } else {
            (None, None)
        };
        let handler_state = Arc::clone(&state);
        let server = l402_fake_server::serve(options.bind, acceptor, "fake cln", move |request| {
            server::handle(Arc::clone(&handler_state), request)
        })
        .await
        .map_err(FakeClnError::Bind)?;
        // Before the address is handed out, so before any request can name it.
        *lock(&state.port) = server.local_addr().port();
        tracing::info!(base_url = %server.base_url(), node_id = %state.node.node_id(), "fake cln started");
        Ok(FakeCln {
            state,
            server,
            tls,
            presets,
        })
    }

    /// The base URL by IP address, e.g. `https://127.0.0.1:41234`. Over HTTPS the
    /// server certificate does not name the address: set the TLS server name, or use
    /// [`localhost_url`](Self::localhost_url).
    #[must_use]
    pub fn base_url(&self) -> &str {
        self.server.base_url()
    }

    /// The base URL with the host `localhost`, which the server certificate names.
    #[must_use]
    pub fn localhost_url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://localhost:{}", self.server.local_addr().port())
    }

    /// The address the server listens on.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The CA certificate (`ca.pem`), `None` over plain HTTP.
    #[must_use]
    pub fn ca_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(|t| t.ca_pem.as_str())
    }

    /// The CA certificate (DER), `None` over plain HTTP.
    #[must_use]
    pub fn ca_der(&self) -> Option<&[u8]> {
        self.tls.as_ref().map(|t| t.ca_der.as_slice())
    }

    /// The server's leaf certificate (`server.pem`), `None` over plain HTTP.
    #[must_use]
    pub fn server_cert_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(|t| t.cert_pem.as_str())
    }

    /// The server's leaf certificate (DER), `None` over plain HTTP.
    #[must_use]
    pub fn server_cert_der(&self) -> Option<&[u8]> {
        self.tls.as_ref().map(|t| t.cert_der.as_slice())
    }

    /// A preset rune, as the `Rune` header wants it.
    #[must_use]
    pub fn rune(&self, preset: FakeRune) -> String {
        self.presets.get(&preset).cloned().unwrap_or_default()
    }

    /// Creates a rune with these restrictions (an AND of ORs, as
    /// `lightning-cli createrune restrictions='[["method=invoice","method=getinfo"]]'`).
    ///
    /// # Errors
    /// [`FakeClnError::InvalidRestriction`] if an alternative is not
    /// `<field><condition><value>` or a restriction is empty;
    /// [`FakeClnError::Randomness`] if no random bytes are available.
    pub fn create_rune(&self, restrictions: &[&[&str]]) -> Result<String, FakeClnError> {
        let restrictions: Vec<Vec<&str>> = restrictions.iter().map(|r| r.to_vec()).collect();
        Ok(lock(&self.state.runes).create(&restrictions)?)
    }

    /// The mock node behind the server.
    #[must_use]
    pub fn node(&self) -> &MockNode {
        &self.state.node
    }

    /// Drops the connection of the next `count` `xpay` calls as soon as their payment
    /// is sent (the payment goes on), as when the network fails mid-payment.
    pub fn cut_next_xpay(&self, count: u32) {
        lock(&self.state.faults).cut_xpay = count;
    }

    /// Stops the server: the listener closes (new connections are refused) and open
    /// connections are dropped. Payments already sent to the mock node go on.
    pub fn shutdown(&self) {
        self.server.shutdown();
    }
}

impl fmt::Debug for FakeCln {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeCln")
            .field("base_url", &self.server.base_url())
            .field("node", &self.state.node)
            .finish_non_exhaustive()
    }
}
