//! TLS: CLN's ca.pem trusted; the server certificate names only `cln` and `localhost`.

use std::time::Duration;

use l402_cln::{ClnBackend, ClnBackendBuilder};
use l402_cln_fake::FakeRune;
use l402_core::{ErrorKind, InvoiceBackend, PaymentHash};

use crate::support::Pair;

fn by_ip(pair: &Pair) -> ClnBackendBuilder {
    // https://127.0.0.1:<port>
    ClnBackend::builder(pair.server.base_url())
        .rune(pair.server.rune(FakeRune::InvoiceOnly))
        .connect_timeout(Duration::from_secs(2))
}

async fn reachable(backend: &ClnBackend) -> Result<(), l402_core::BackendError> {
    backend
        .lookup_invoice(&PaymentHash::from_bytes([3; 32]))
        .await
        .map(|_| ())
}

#[tokio::test]
async fn ca_pem_by_localhost_and_by_ip_with_a_server_name() {
    let pair = Pair::new().await;
    let ca = pair.server.ca_pem().unwrap().to_owned();
    assert!(pair.server.base_url().starts_with("https://127.0.0.1:"));

    // By name: the certificate names localhost.
    let by_name = ClnBackend::builder(pair.server.localhost_url())
        .rune(pair.server.rune(FakeRune::InvoiceOnly))
        .ca_cert(ca.clone().into_bytes())
        .build()
        .unwrap();
    reachable(&by_name).await.unwrap();

    // By IP without a server name: the certificate does not name 127.0.0.1.
    let err = reachable(
        &by_ip(&pair)
            .ca_cert(ca.clone().into_bytes())
            .build()
            .unwrap(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient, "{err}");

    // By IP with the server name set: both names work, another does not.
    for name in ["cln", "localhost"] {
        let backend = by_ip(&pair)
            .ca_cert(ca.clone().into_bytes())
            .tls_server_name(name)
            .build()
            .unwrap();
        reachable(&backend).await.unwrap();
    }
    let wrong = by_ip(&pair)
        .ca_cert(ca.clone().into_bytes())
        .tls_server_name("example.com")
        .build()
        .unwrap();
    assert!(reachable(&wrong).await.is_err());

    // ca.pem from a file, DER too.
    let dir = std::env::temp_dir().join(format!("l402-cln-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ca.pem");
    std::fs::write(&path, &ca).unwrap();
    let from_file = by_ip(&pair)
        .ca_cert_file(&path)
        .tls_server_name("cln")
        .build()
        .unwrap();
    reachable(&from_file).await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let der = by_ip(&pair)
        .ca_cert(pair.server.ca_der().unwrap().to_vec())
        .tls_server_name("cln")
        .build()
        .unwrap();
    reachable(&der).await.unwrap();
}

#[tokio::test]
async fn another_ca_or_the_public_roots_are_refused() {
    let pair = Pair::new().await;
    // The agent node's CA: same kind, different key.
    let other = pair.agent.ca_pem().unwrap().as_bytes().to_vec();
    let err = reachable(
        &by_ip(&pair)
            .ca_cert(other)
            .tls_server_name("cln")
            .build()
            .unwrap(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient, "{err}");
    // The default (public roots) does not know CLN's CA.
    assert!(
        reachable(&by_ip(&pair).tls_server_name("cln").build().unwrap())
            .await
            .is_err()
    );
    assert_eq!(pair.network.invoice_count(), 0);
}
