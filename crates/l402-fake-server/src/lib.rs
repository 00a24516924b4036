//! # l402-fake-server
//!
//! What the fake nodes, [`l402-lnd-fake`](https://docs.rs/l402-lnd-fake) and
//! [`l402-cln-fake`](https://docs.rs/l402-cln-fake), need to be an HTTP server, so that each
//! states only what is particular to its node (routes, authentication, JSON, the shape of
//! its certificates):
//!
//! - [`tls_acceptor`]: a rustls server configuration (HTTP/1.1 over TLS 1.2 or 1.3) for a
//!   certificate chain and its PKCS#8 key;
//! - [`serve`]: binds, then serves a request handler over HTTP/1.1, through TLS when given
//!   an acceptor, on the current Tokio runtime, until the returned [`Server`] is shut down
//!   or dropped.
//!
//! For tests and local development only; applications do not need this crate.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::convert::Infallible;
//!
//! let server = l402_fake_server::serve(
//!     "127.0.0.1:0".parse().unwrap(),
//!     None,
//!     "example",
//!     |_request| async { Ok::<_, Infallible>(http::Response::new(String::from("hello"))) },
//! )
//! .await
//! .unwrap();
//! assert!(server.base_url().starts_with("http://127.0.0.1:"));
//! server.shutdown();
//! # }
//! ```

#![warn(missing_docs)]

use core::fmt;
use core::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

/// Boxed error, for handler and body errors.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A TLS acceptor presenting `chain` (leaf first, DER) with the leaf's PKCS#8 `key`,
/// offering HTTP/1.1 by ALPN and rustls' safe default protocol versions, on the `ring`
/// provider.
///
/// # Errors
/// [`rustls::Error`] if the key does not match the certificate or is not usable.
pub fn tls_acceptor(chain: Vec<Vec<u8>>, key: Vec<u8>) -> Result<TlsAcceptor, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            chain.into_iter().map(CertificateDer::from).collect(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
        )?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A running server: see [`serve`]. Shut down when dropped.
pub struct Server {
    addr: SocketAddr,
    base_url: String,
    shutdown: watch::Sender<bool>,
}

impl Server {
    /// The address the server listens on.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL by address: `https://127.0.0.1:41234`, or `http://…` without TLS.
    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Stops accepting connections and closes every open one (idempotent).
    pub fn shutdown(&self) {
        let _ = self.shutdown.send(true);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// Binds `bind`, then serves `handler` on every connection (HTTP/1.1, through `tls` when
/// given) on the current Tokio runtime until the [`Server`] is shut down or dropped.
/// `name` prefixes the server's trace and debug logs (`"fake lnd"`).
///
/// A handler error closes the connection without an answer (as a crashed node would).
///
/// # Errors
/// The [`std::io::Error`] of binding the socket or reading its address.
pub async fn serve<H, F, B, E>(
    bind: SocketAddr,
    tls: Option<TlsAcceptor>,
    name: &'static str,
    handler: H,
) -> std::io::Result<Server>
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Response<B>, E>> + Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError> + 'static,
    E: Into<BoxError> + 'static,
{
    let listener = TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let base_url = format!("{scheme}://{addr}");
    let (shutdown, shutdown_rx) = watch::channel(false);
    tokio::spawn(accept_loop(listener, tls, name, handler, shutdown_rx));
    Ok(Server {
        addr,
        base_url,
        shutdown,
    })
}

/// Accepts connections until `shutdown` changes; then closes the listener and every
/// connection.
async fn accept_loop<H, F, B, E>(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    name: &'static str,
    handler: H,
    mut shutdown: watch::Receiver<bool>,
) where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Response<B>, E>> + Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError> + 'static,
    E: Into<BoxError> + 'static,
{
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => {
                let Ok((tcp, peer)) = accepted else { continue };
                tracing::trace!(%peer, "{name}: connection");
                let handler = handler.clone();
                let tls = tls.clone();
                connections.spawn(async move {
                    match tls {
                        Some(acceptor) => match acceptor.accept(tcp).await {
                            Ok(stream) => serve_connection(stream, peer, name, handler).await,
                            Err(e) => tracing::debug!(error = %e, "{name}: tls handshake failed"),
                        },
                        None => serve_connection(tcp, peer, name, handler).await,
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    connections.shutdown().await;
}

/// The address a request came from, in its extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

async fn serve_connection<I, H, F, B, E>(io: I, peer: SocketAddr, name: &'static str, handler: H)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Result<Response<B>, E>> + Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError> + 'static,
    E: Into<BoxError> + 'static,
{
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(PeerAddr(peer));
        handler(request)
    });
    if let Err(e) = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .await
    {
        tracing::debug!(error = %e, "{name}: connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    async fn hello(
        _request: Request<Incoming>,
    ) -> Result<Response<http_body_util::Full<bytes::Bytes>>, Infallible> {
        Ok(Response::new(http_body_util::Full::new(
            bytes::Bytes::from("hello"),
        )))
    }

    #[tokio::test]
    async fn serves_until_shut_down_then_refuses_connections() {
        let server = serve("127.0.0.1:0".parse().unwrap(), None, "test", hello)
            .await
            .unwrap();
        let url = format!("{}/", server.base_url());
        let client = reqwest::Client::new();
        let body = client.get(&url).send().await.unwrap().text().await.unwrap();
        assert_eq!(body, "hello");
        server.shutdown();
        // The listener is closed once the accept loop sees the shutdown.
        let mut refused = false;
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(server.local_addr())
                .await
                .is_err()
            {
                refused = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(refused, "still accepting connections after shutdown");
    }

    #[tokio::test]
    async fn a_handler_error_drops_the_connection_without_an_answer() {
        let server = serve("127.0.0.1:0".parse().unwrap(), None, "test", |_| async {
            Err::<Response<String>, _>(std::io::Error::other("crash"))
        })
        .await
        .unwrap();
        let err = reqwest::get(format!("{}/", server.base_url()))
            .await
            .unwrap_err();
        assert!(!err.is_status(), "{err}");
    }

    #[test]
    fn a_key_that_is_not_pkcs8_is_an_error_not_a_panic() {
        assert!(tls_acceptor(vec![vec![0x30, 0x00]], vec![1, 2, 3]).is_err());
    }
}
