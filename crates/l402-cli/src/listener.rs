//! The proxy's listener: TCP, optionally TLS, HTTP/1.1 and HTTP/2 on every connection.
//!
//! In the clear a connection speaks HTTP/1.1 or h2c (prior knowledge), told apart by its
//! first bytes; over TLS the client picks `h2` or `http/1.1` by ALPN. Every request is
//! answered by the proxy current when it arrives ([`Current`]): a reload swaps it, and
//! requests already running finish on the one they started with.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use l402_proxy::{ClientAddr, Proxy};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

/// The proxy serving new requests; swapped whole by a reload.
pub(crate) type Current = Arc<ArcSwap<Proxy>>;

/// Bound on a TLS handshake: a client that opens a connection and sends nothing does not
/// hold it for longer.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on reading an HTTP/1.1 request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a shutdown waits for open connections to finish their requests.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Accepts connections on `tcp` until `shutdown` resolves, then waits (at most
/// [`DRAIN_TIMEOUT`]) for the requests in flight.
pub(crate) async fn serve(
    tcp: TcpListener,
    tls: Option<TlsAcceptor>,
    current: Current,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = tcp.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let conn = Conn {
            builder: builder.clone(),
            current: Arc::clone(&current),
            peer,
        };
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => conn.serve(stream, watcher).await,
                Some(acceptor) => conn.serve_tls(stream, &acceptor, watcher).await,
            }
        });
    }
    drop(tcp);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the drain timeout; closing them");
    }
}

/// One accepted connection.
struct Conn {
    builder: auto::Builder<TokioExecutor>,
    current: Current,
    peer: SocketAddr,
}

impl Conn {
    async fn serve_tls(
        self,
        stream: TcpStream,
        acceptor: &TlsAcceptor,
        watcher: hyper_util::server::graceful::Watcher,
    ) {
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
            Ok(Ok(tls)) => self.serve(tls, watcher).await,
            Ok(Err(e)) => tracing::debug!(peer = %self.peer, error = %e, "tls handshake failed"),
            Err(_) => tracing::debug!(peer = %self.peer, "tls handshake timed out"),
        }
    }

    async fn serve<I>(self, io: I, watcher: hyper_util::server::graceful::Watcher)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let Conn {
            builder,
            current,
            peer,
        } = self;
        let service = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
            // The proxy current now serves this request to its end, even if a reload
            // swaps in another meanwhile.
            let proxy = Proxy::clone(&current.load());
            req.extensions_mut().insert(ClientAddr(peer));
            proxy.oneshot(req)
        });
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
        if let Err(e) = watcher.watch(conn.into_owned()).await {
            tracing::debug!(peer = %peer, error = %e, "connection ended with an error");
        }
    }
}

/// Serves the admin API on its own listener (plain HTTP/1.1 and h2c), until the process
/// ends. Never the paying listener: `tcp` is bound to `[admin] listen`.
pub(crate) async fn serve_admin(tcp: TcpListener, admin: l402_proxy::admin::Admin) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    builder.http2().timer(TokioTimer::new());
    loop {
        let (stream, peer) = match tcp.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = %e, "admin accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let builder = builder.clone();
        let admin = admin.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
                req.extensions_mut().insert(ClientAddr(peer));
                admin.clone().oneshot(req)
            });
            if let Err(e) = builder
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(peer = %peer, error = %e, "admin connection ended with an error");
            }
        });
    }
}
