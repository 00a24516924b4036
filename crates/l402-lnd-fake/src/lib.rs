//! # l402-lnd-fake
//!
//! A fake LND REST server for tests and local development: the few calls an L402
//! backend makes, with the exact JSON shapes, encodings, stream framing, errors and
//! macaroon permissions of LND 0.21, served from an [`l402_mock::MockNode`].
//!
//! | call | route | permission |
//! |---|---|---|
//! | `GetInfo` | `GET /v1/getinfo` | `info:read` |
//! | `AddInvoice` | `POST /v1/invoices` | `invoices:write` |
//! | `LookupInvoice` | `GET /v1/invoice/{r_hash_str hex}` | `invoices:read` |
//! | `SendPaymentV2` | `POST /v2/router/send` (stream) | `offchain:write` |
//! | `TrackPaymentV2` | `GET /v2/router/track/{URL-safe base64}` (stream) | `offchain:read` |
//! | `BakeMacaroon` | `POST /v1/macaroon` | `macaroon:generate` |
//!
//! Everything else answers as LND 0.21's REST proxy does for an unknown route
//! (`404 {"code":5,"message":"Not Found","details":[]}`), including the removed
//! `SendPaymentSync` (`POST /v1/channels/transactions`).
//!
//! What the fake reproduces:
//! * protojson output: every field present, 64-bit integers as strings, bytes as
//!   standard base64, payment hashes and preimages in `lnrpc.Payment` as hex;
//! * request parsing: unknown fields rejected with 400, 64-bit integers as strings or
//!   numbers, bytes in paths decoded as grpc-gateway does (`%2F` splits the path, hex
//!   in the track path gives "invalid hash length of 48, want 32");
//! * streams: `{"result": …}` lines, `{"error": …}` lines (status from the gRPC code
//!   when the error comes before the first message), the end after a final state;
//! * macaroons: the `Grpc-Metadata-macaroon` header, hex; missing, unknown and
//!   insufficient macaroons get LND's answers. The fake's macaroons are LND-format V2
//!   macaroons ([`FakeMacaroon`] presets, or [`FakeLnd::bake_macaroon`]): a version-3
//!   protobuf `MacaroonId` with the permissions, signed with the fake's random root key,
//!   so `l402 node inspect` reads them; first-party `time-before` and `ipaddr` caveats
//!   added offline are enforced (the peer address is the connection's), any other caveat
//!   is refused; a `uri:` permission for a call allows that call;
//! * `BakeMacaroon`: LND's checks and messages (an empty list, an unknown entity or
//!   action, a `uri` action that names no call, unless `allow_external_permissions`);
//!   `root_key_id` becomes the storage id, with a root key of its own made on first use;
//!   operations in the bakery's canonical order;
//! * TLS: a self-signed `CA:TRUE` ECDSA P-256 certificate, like LND's `tls.cert`, or
//!   plain HTTP (LND's `--no-rest-tls`).
//!
//! Faults come from the mock node ([`MockNode::faults`]: unreachable, latency, payments
//! in flight or failing, answers lost after settling) and from the fake itself
//! ([`FakeLnd::cut_next_pay_streams`]). A mock node that is unreachable makes the fake
//! answer `503 {"code":14,…}`, as LND's REST proxy does when its gRPC server is gone;
//! [`FakeLnd::shutdown`] stops the server, so connections are refused.
//!
//! ## Example
//!
//! ```no_run
//! use l402_lnd_fake::{FakeLnd, FakeLndOptions, FakeMacaroon};
//! use l402_mock::MockNetwork;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let network = MockNetwork::new();
//! let node = network.node("server").build()?;
//! let lnd = FakeLnd::start(node, FakeLndOptions::new()).await?;
//! println!("LND REST at {}", lnd.base_url());
//! println!("macaroon {}", lnd.macaroon_hex(FakeMacaroon::InvoiceServer));
//! let cert_pem = lnd.tls_cert_pem();
//! # let _ = cert_pem;
//! # Ok(()) }
//! ```
//!
//! The server runs on the Tokio runtime that calls [`FakeLnd::start`]; it stops when
//! [`FakeLnd::shutdown`] is called or the [`FakeLnd`] is dropped.

#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod auth;
mod body;
mod cert;
mod json;
mod server;

use core::convert::Infallible;
use core::fmt;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError};

use l402_mock::MockNode;

pub use auth::{FakeMacaroon, Permission};

/// Why a fake node could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FakeLndError {
    /// The listening socket could not be bound.
    #[error("cannot bind the fake lnd socket")]
    Bind(#[source] std::io::Error),
    /// The TLS certificate could not be generated.
    #[error("cannot generate the tls certificate")]
    Certificate(#[source] rcgen::Error),
    /// The TLS configuration was refused.
    #[error("cannot configure tls")]
    Tls(#[source] rustls::Error),
    /// No randomness for the macaroons.
    #[error("no randomness available")]
    Randomness(#[source] getrandom::Error),
}

/// How to run a [`FakeLnd`].
#[derive(Debug, Clone)]
#[must_use]
pub struct FakeLndOptions {
    tls: bool,
    bind: SocketAddr,
    cancel_expired_invoices: bool,
}

impl Default for FakeLndOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeLndOptions {
    /// HTTPS with a fresh LND-style certificate, on `127.0.0.1` and a free port; expired
    /// invoices reported `CANCELED` (what LND's expiry watcher leaves).
    pub fn new() -> Self {
        FakeLndOptions {
            tls: true,
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            cancel_expired_invoices: true,
        }
    }

    /// Plain HTTP instead of HTTPS (LND's `--no-rest-tls`).
    pub fn plain_http(mut self) -> Self {
        self.tls = false;
        self
    }

    /// The address to listen on; default `127.0.0.1:0` (a free port).
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }

    /// Whether an expired unpaid invoice is reported `CANCELED` (default, as after LND's
    /// expiry watcher ran) or still `OPEN` (as just before it runs).
    pub fn cancel_expired_invoices(mut self, cancel: bool) -> Self {
        self.cancel_expired_invoices = cancel;
        self
    }
}

/// A running fake LND REST server. See the [crate docs](crate).
///
/// `Debug` does not show macaroons.
pub struct FakeLnd {
    state: Arc<server::State>,
    server: l402_fake_server::Server,
    cert_der: Option<Vec<u8>>,
    cert_pem: Option<String>,
    presets: HashMap<FakeMacaroon, Vec<u8>>,
}

impl FakeLnd {
    /// Starts serving `node` on the current Tokio runtime.
    ///
    /// # Errors
    /// [`FakeLndError`] if the socket cannot be bound, the certificate cannot be made or
    /// no randomness is available.
    pub async fn start(node: MockNode, options: FakeLndOptions) -> Result<FakeLnd, FakeLndError> {
        let macaroons = auth::MacaroonStore::new().map_err(FakeLndError::Randomness)?;
        let state = Arc::new(server::State::new(
            node,
            options.cancel_expired_invoices,
            macaroons,
        ));
        let mut presets = HashMap::new();
        {
            let mut store = state
                .macaroons
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for preset in FakeMacaroon::ALL {
                let token = store
                    .bake(preset.permissions())
                    .map_err(FakeLndError::Randomness)?;
                presets.insert(preset, token);
            }
        }
        let (acceptor, cert_der, cert_pem) = if options.tls {
            let identity = cert::generate().map_err(FakeLndError::Certificate)?;
            let acceptor =
                l402_fake_server::tls_acceptor(vec![identity.cert_der.clone()], identity.key_der)
                    .map_err(FakeLndError::Tls)?;
            (
                Some(acceptor),
                Some(identity.cert_der),
                Some(identity.cert_pem),
            )
        } else {
            (None, None, None)
        };
        let handler_state = Arc::clone(&state);
        let server = l402_fake_server::serve(options.bind, acceptor, "fake lnd", move |request| {
            let state = Arc::clone(&handler_state);
            async move { Ok::<_, Infallible>(server::handle(state, request).await) }
        })
        .await
        .map_err(FakeLndError::Bind)?;
        tracing::info!(base_url = %server.base_url(), node_id = %state.node.node_id(), "fake lnd started");
        Ok(FakeLnd {
            state,
            server,
            cert_der,
            cert_pem,
            presets,
        })
    }

    /// The base URL, e.g. `https://127.0.0.1:41234`.
    #[must_use]
    pub fn base_url(&self) -> &str {
        self.server.base_url()
    }

    /// The address the server listens on.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The server certificate (DER), `None` over plain HTTP.
    #[must_use]
    pub fn tls_cert_der(&self) -> Option<&[u8]> {
        self.cert_der.as_deref()
    }

    /// The server certificate (PEM, as in LND's `tls.cert` file), `None` over plain HTTP.
    #[must_use]
    pub fn tls_cert_pem(&self) -> Option<&str> {
        self.cert_pem.as_deref()
    }

    /// The bytes of a preset macaroon (what a `.macaroon` file holds).
    #[must_use]
    pub fn macaroon(&self, preset: FakeMacaroon) -> Vec<u8> {
        self.presets.get(&preset).cloned().unwrap_or_default()
    }

    /// A preset macaroon, hex-encoded as the `Grpc-Metadata-macaroon` header wants it.
    #[must_use]
    pub fn macaroon_hex(&self, preset: FakeMacaroon) -> String {
        hex(&self.macaroon(preset))
    }

    /// Bakes a macaroon with exactly these permissions (as
    /// `lncli bakemacaroon entity:action…`); returns it hex-encoded.
    ///
    /// # Errors
    /// [`FakeLndError::Randomness`] if no random bytes are available.
    pub fn bake_macaroon(&self, permissions: &[Permission]) -> Result<String, FakeLndError> {
        let token = self
            .state
            .macaroons
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .bake(permissions.to_vec())
            .map_err(FakeLndError::Randomness)?;
        Ok(hex(&token))
    }

    /// The mock node behind the server.
    #[must_use]
    pub fn node(&self) -> &MockNode {
        &self.state.node
    }

    /// Cuts the next `count` `SendPaymentV2` streams after their first message (at once
    /// with `no_inflight_updates`): the connection drops while the payment goes on, as
    /// when the network fails mid-payment.
    pub fn cut_next_pay_streams(&self, count: u32) {
        self.state
            .faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .cut_pay_streams = count;
    }

    /// Stops the server: the listener closes (new connections are refused) and open
    /// connections are dropped. Payments already sent to the mock node go on.
    pub fn shutdown(&self) {
        self.server.shutdown();
    }
}

impl fmt::Debug for FakeLnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeLnd")
            .field("base_url", &self.server.base_url())
            .field("node", &self.state.node)
            .finish_non_exhaustive()
    }
}

fn hex(bytes: &[u8]) -> String {
    l402_core::encoding::hex_encode(bytes)
}
