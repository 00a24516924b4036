//! https upstreams: a pinned certificate is required exactly; without one, the upstream
//! must chain to a trusted root.

use std::net::SocketAddr;

use http::StatusCode;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;

use crate::support::*;

/// A self-signed certificate with `CA:TRUE` (as LND's `tls.cert`) for 127.0.0.1: its
/// DER, PEM and key.
fn identity() -> (Vec<u8>, String, Vec<u8>) {
    let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.der().to_vec(), cert.pem(), key.serialize_der())
}

/// The echo upstream over TLS with `cert` and `key`.
async fn tls_echo(cert: Vec<u8>, key: Vec<u8>) -> SocketAddr {
    let plain = echo_upstream().await;
    let acceptor = l402_fake_server::tls_acceptor(vec![cert], key).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Terminates TLS and relays to the plain echo server.
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
                    .build_http::<hyper::body::Incoming>();
                let svc =
                    tower::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
                        let client = client.clone();
                        async move {
                            let pq = req
                                .uri()
                                .path_and_query()
                                .map_or("/", |p| p.as_str())
                                .to_owned();
                            *req.uri_mut() = format!("http://{plain}{pq}").parse().unwrap();
                            client.request(req).await
                        }
                    });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), TowerToHyperService::new(svc))
                    .await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_pinned_certificate_is_required_exactly() {
    let (der, pem, key) = identity();
    let up = tls_echo(der, key).await;
    let (_, other_pem, _) = identity();
    let dir = std::env::temp_dir().join(format!("l402-proxy-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (right, wrong) = (dir.join("right.pem"), dir.join("wrong.pem"));
    std::fs::write(&right, pem).unwrap();
    std::fs::write(&wrong, other_pem).unwrap();
    let net = Net::new();
    let mk = |name: &str, pin: Option<&std::path::Path>| {
        let mut s = ServiceConfig::new(name, format!("https://{up}/api"));
        s.path = Some(format!("/{name}"));
        s.free = true;
        s.upstream_cert_file = pin.map(std::path::Path::to_owned);
        s
    };
    let proxy = net.proxy(vec![
        mk("pinned", Some(&right)),
        mk("impostor", Some(&wrong)),
        mk("roots", None),
    ]);
    let (resp, body) = send(&proxy, get("http://h.test/pinned/x", None)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(echoed(&body)["path"], "/api/pinned/x");
    // Another certificate than the pinned one: nothing is sent, 502.
    let (resp, _) = send(&proxy, get("http://h.test/impostor/x", None)).await;
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    // No pin: the Mozilla roots, which a self-signed certificate does not chain to.
    let (resp, _) = send(&proxy, get("http://h.test/roots/x", None)).await;
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    let _ = std::fs::remove_dir_all(&dir);
}
