//! `l402 proxy` with `[tls]`: HTTP/2 and HTTP/1.1 by ALPN, paying over TLS, certificates
//! rotated under open connections.

use std::sync::Arc;

use http_body_util::{BodyExt as _, Empty};
use l402_lnd::LndBackend;
use l402_reqwest::{L402Middleware, MemoryTokenStore};
use rustls::pki_types::{CertificateDer, ServerName};

use crate::support::{DevNode, Proxy, TIMEOUT, TempDir, Upstream, eventually};

/// A certificate authority made for the test.
struct Ca {
    key: rcgen::KeyPair,
    params: rcgen::CertificateParams,
    cert: rcgen::Certificate,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        Ca { key, params, cert }
    }

    /// A leaf for `localhost` and 127.0.0.1: (chain PEM, key PEM, leaf DER).
    fn leaf(&self) -> (String, String, Vec<u8>) {
        let key = rcgen::KeyPair::generate().unwrap();
        let params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .unwrap();
        let issuer = rcgen::Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem(), cert.der().to_vec())
    }

    fn pem(&self) -> String {
        self.cert.pem()
    }
}

/// Writes a certificate and key into the proxy's directory, each by an atomic rename.
fn install(dir: &TempDir, cert: &str, key: &str) {
    for (name, text) in [("key.pem", key), ("cert.pem", cert)] {
        let tmp = dir.join(&format!("{name}.tmp"));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, dir.join(name)).unwrap();
    }
}

fn tls_table() -> &'static str {
    "[tls]\ncert_file = \"cert.pem\"\nkey_file = \"key.pem\"\nreload_secs = 1\n"
}

/// A rustls client trusting `cas`, offering h2 only.
fn connector(cas: &[&Ca]) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for ca in cas {
        roots.add(ca.cert.der().clone()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

type H2 = hyper::client::conn::http2::SendRequest<Empty<bytes::Bytes>>;

/// Opens one TLS connection and an HTTP/2 session on it; also returns the leaf the
/// server presented.
async fn h2_connect(
    proxy: &Proxy,
    cas: &[&Ca],
) -> Result<(H2, Vec<u8>), Box<dyn std::error::Error>> {
    let tcp = tokio::net::TcpStream::connect(proxy.addr).await?;
    let tls = connector(cas)
        .connect(ServerName::try_from("localhost")?, tcp)
        .await?;
    let (_, session) = tls.get_ref();
    assert_eq!(session.alpn_protocol(), Some(&b"h2"[..]));
    let leaf = session
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c: &CertificateDer<'_>| c.to_vec())
        .unwrap_or_default();
    let (send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tls),
    )
    .await?;
    tokio::spawn(conn);
    Ok((send, leaf))
}

/// `GET path` on an open HTTP/2 session: (status, body).
async fn h2_get(send: &mut H2, path: &str) -> (u16, String) {
    send.ready().await.unwrap();
    let req = http::Request::get(format!("https://localhost{path}"))
        .body(Empty::new())
        .unwrap();
    let res = send.send_request(req).await.unwrap();
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn services(upstream: &Upstream) -> String {
    format!(
        "{}\n[[services]]\nname = \"paid\"\npath = \"/paid\"\nupstream = \"{u}\"\nprice_sat = 3\n\n\
         [[services]]\nname = \"open\"\npath = \"/\"\nupstream = \"{u}\"\nfree = true\n",
        tls_table(),
        u = upstream.url()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_client_pays_over_tls() {
    let upstream = Upstream::start().await;
    let node = DevNode::start().await;
    let ca = Ca::new("test ca");
    let (cert, key, _) = ca.leaf();
    let proxy = Proxy::start_with_files(
        &node,
        &services(&upstream),
        &[("cert.pem", &cert), ("key.pem", &key)],
    )
    .await;

    let status = node.status();
    let payer = LndBackend::builder(status["payer"]["url"].as_str().unwrap())
        .macaroon_file(status["payer"]["macaroon_file"].as_str().unwrap())
        .tls_cert_file(status["payer"]["tls_cert_file"].as_str().unwrap())
        .build()
        .unwrap();
    let l402 = L402Middleware::builder(payer)
        .store(MemoryTokenStore::new())
        .build()
        .unwrap();
    let http = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let client = reqwest_middleware::ClientBuilder::new(http)
        .with(l402)
        .build();
    let url = format!("https://localhost:{}/paid/forecast", proxy.addr.port());
    for _ in 0..2 {
        let res = client.get(&url).send().await.unwrap();
        assert_eq!(res.version(), reqwest::Version::HTTP_2);
        assert_eq!(res.status(), 200);
        assert_eq!(res.text().await.unwrap(), "upstream says hi /paid/forecast");
    }
    // Paid once, the token reused; the upstream is told the client came over https.
    assert_eq!(node.wait_payments(1).await["payments"], 1);
    let seen = upstream.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].headers["x-forwarded-proto"], "https");
    assert!(seen[0].headers.contains_key("x-l402-token-id"));

    // HTTP/1.1 by ALPN, and plain http on the TLS port is refused.
    let h1 = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap())
        .http1_only()
        .build()
        .unwrap();
    let res = h1
        .get(format!("https://127.0.0.1:{}/hello", proxy.addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.version(), reqwest::Version::HTTP_11);
    assert_eq!(res.text().await.unwrap(), "upstream says hi /hello");
    assert!(reqwest::get(proxy.url("/hello")).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_certificate_serves_new_connections_and_open_ones_keep_working() {
    let upstream = Upstream::start().await;
    let node = DevNode::start().await;
    let (old_ca, new_ca) = (Ca::new("old ca"), Ca::new("new ca"));
    let (cert, key, old_leaf) = old_ca.leaf();
    let proxy = Proxy::start_with_files(
        &node,
        &services(&upstream),
        &[("cert.pem", &cert), ("key.pem", &key)],
    )
    .await;

    let (mut open, leaf) = h2_connect(&proxy, &[&old_ca]).await.unwrap();
    assert_eq!(leaf, old_leaf);
    assert_eq!(
        h2_get(&mut open, "/one").await,
        (200, "upstream says hi /one".into())
    );

    // Rotate: a new key and a certificate from another CA.
    let (cert, key, new_leaf) = new_ca.leaf();
    install(&proxy.dir, &cert, &key);
    let start = std::time::Instant::now();
    let mut fresh = loop {
        if let Ok((send, leaf)) = h2_connect(&proxy, &[&old_ca, &new_ca]).await
            && leaf == new_leaf
        {
            break send;
        }
        assert!(
            start.elapsed() < TIMEOUT,
            "the new certificate is never served"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(h2_get(&mut fresh, "/two").await.0, 200);
    // The connection opened before the rotation still works.
    assert_eq!(
        h2_get(&mut open, "/three").await,
        (200, "upstream says hi /three".into())
    );
    // A client that trusts only the old CA cannot connect any more.
    assert!(h2_connect(&proxy, &[&old_ca]).await.is_err());

    // A broken certificate file: refused, logged, the current one keeps serving.
    std::fs::write(
        proxy.dir.join("cert.pem"),
        "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    eventually("the refusal in the log", || {
        proxy
            .log()
            .contains("new tls certificate refused")
            .then_some(())
    })
    .await;
    let (mut again, leaf) = h2_connect(&proxy, &[&new_ca]).await.unwrap();
    assert_eq!(leaf, new_leaf);
    assert_eq!(h2_get(&mut again, "/four").await.0, 200);
    assert_eq!(h2_get(&mut open, "/five").await.0, 200);
}
