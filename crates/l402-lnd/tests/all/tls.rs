//! TLS: LND's CA-flagged self-signed certificate is pinned; anything else is refused.

use std::time::Duration;

use l402_core::{ErrorKind, InvoiceBackend, PaymentHash};
use l402_lnd::LndBackend;
use l402_lnd_fake::FakeMacaroon;

use crate::support::Pair;

fn with_tls(
    pair: &Pair,
    configure: impl FnOnce(l402_lnd::LndBackendBuilder) -> l402_lnd::LndBackendBuilder,
) -> LndBackend {
    configure(
        LndBackend::builder(pair.server.base_url())
            .macaroon_hex(pair.server.macaroon_hex(FakeMacaroon::InvoiceServer))
            .connect_timeout(Duration::from_secs(2)),
    )
    .build()
    .unwrap()
}

async fn reachable(backend: &LndBackend) -> Result<(), l402_core::BackendError> {
    backend
        .lookup_invoice(&PaymentHash::from_bytes([3; 32]))
        .await
        .map(|_| ())
}

#[tokio::test]
async fn pinned_certificate_is_accepted_pem_der_and_file() {
    let pair = Pair::new().await;
    let pem = pair.server.tls_cert_pem().unwrap().to_owned();
    let der = pair.server.tls_cert_der().unwrap().to_vec();
    reachable(&with_tls(&pair, |b| b.tls_cert(pem.clone().into_bytes())))
        .await
        .unwrap();
    reachable(&with_tls(&pair, |b| b.tls_cert(der)))
        .await
        .unwrap();

    let dir = std::env::temp_dir().join(format!("l402-lnd-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tls.cert");
    std::fs::write(&path, &pem).unwrap();
    reachable(&with_tls(&pair, |b| b.tls_cert_file(&path)))
        .await
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();

    // The name in the URL does not matter when pinning.
    let by_name = LndBackend::builder(pair.server.base_url().replace("127.0.0.1", "localhost"))
        .macaroon_hex(pair.server.macaroon_hex(FakeMacaroon::InvoiceServer))
        .tls_cert(pem.into_bytes())
        .build()
        .unwrap();
    reachable(&by_name).await.unwrap();
}

#[tokio::test]
async fn another_certificate_is_refused() {
    let pair = Pair::new().await;
    // The agent node's certificate: same kind, different key.
    let other = pair.agent.tls_cert_pem().unwrap().as_bytes().to_vec();
    let err = reachable(&with_tls(&pair, |b| b.tls_cert(other)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient, "{err}");
    assert_eq!(pair.network.invoice_count(), 0);
}

#[tokio::test]
async fn ca_flagged_certificate_is_refused_by_ordinary_verification() {
    let pair = Pair::new().await;
    // Trusting tls.cert as a CA does not work: rustls refuses a CA certificate as the
    // server's own (CaUsedAsEndEntity), which is why pinning exists.
    let pem = pair.server.tls_cert_pem().unwrap().as_bytes().to_vec();
    assert!(
        reachable(&with_tls(&pair, |b| b.ca_cert(pem)))
            .await
            .is_err()
    );
    // Nor do the public roots.
    assert!(
        reachable(&with_tls(&pair, |b| b.webpki_roots()))
            .await
            .is_err()
    );
    assert!(reachable(&with_tls(&pair, |b| b)).await.is_err());
}
