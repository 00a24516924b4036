//! The builder checks the macaroon against the backend's role; the fake enforces the
//! caveats `l402 node restrict` adds.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use l402_core::backend::InvoiceRequest;
use l402_core::node_credential::lnd::{ip_lock_caveat, time_before_caveat};
use l402_core::{Amount, InvoiceBackend, Macaroon};
use l402_lnd::{BuildError, CredentialRole, LndBackend, LndBackendBuilder};
use l402_lnd_fake::{FakeLnd, FakeLndOptions, FakeMacaroon};
use l402_mock::MockNetwork;

#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `f` with logs captured; returns its result and the log text.
fn captured<T>(f: impl FnOnce() -> T) -> (T, String) {
    let logs = Logs::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    let out = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    (out, text)
}

async fn node() -> (MockNetwork, FakeLnd) {
    let network = MockNetwork::builder().build();
    let server = network.node("server").build().unwrap();
    let lnd = FakeLnd::start(server, FakeLndOptions::new()).await.unwrap();
    (network, lnd)
}

fn builder(lnd: &FakeLnd, hex: String) -> LndBackendBuilder {
    let mut b = LndBackend::builder(lnd.base_url())
        .macaroon_hex(hex)
        .request_timeout(Duration::from_secs(5));
    if let Some(pem) = lnd.tls_cert_pem() {
        b = b.tls_cert(pem.as_bytes().to_vec());
    }
    b
}

#[tokio::test]
async fn invoice_only_macaroon_builds_quietly_for_an_invoice_backend() {
    let (_net, lnd) = node().await;
    let hex = lnd.macaroon_hex(FakeMacaroon::InvoiceServer);
    let (built, logs) = captured(|| {
        builder(&lnd, hex.clone())
            .role(CredentialRole::Invoice)
            .refuse_excess_permissions()
            .build()
    });
    assert!(built.is_ok(), "{built:?}");
    assert!(logs.is_empty(), "{logs}");
}

#[tokio::test]
async fn admin_macaroon_warns_naming_the_extra_permissions() {
    let (_net, lnd) = node().await;
    let hex = lnd.macaroon_hex(FakeMacaroon::Admin);
    let (built, logs) = captured(|| {
        builder(&lnd, hex.clone())
            .role(CredentialRole::Invoice)
            .build()
    });
    assert!(built.is_ok());
    assert!(logs.contains("WARN"), "{logs}");
    assert!(logs.contains("onchain:write"), "{logs}");
    assert!(logs.contains("offchain:write"), "{logs}");
    assert!(logs.contains("can_spend=true"), "{logs}");
    assert!(!logs.contains(&hex), "the macaroon is never logged");
    // A payment backend with a pay-only macaroon: quiet. With the admin one: warns.
    let pay = lnd.macaroon_hex(FakeMacaroon::PayClient);
    let (_, quiet) = captured(|| builder(&lnd, pay).role(CredentialRole::Payment).build());
    assert!(quiet.is_empty(), "{quiet}");
    let (_, loud) = captured(|| builder(&lnd, hex).role(CredentialRole::Payment).build());
    assert!(
        loud.contains("onchain:write") && !loud.contains("offchain:write"),
        "{loud}"
    );
}

#[tokio::test]
async fn refusing_builder_fails_on_excess_and_on_unreadable_macaroons() {
    let (_net, lnd) = node().await;
    let admin = lnd.macaroon_hex(FakeMacaroon::Admin);
    let err = builder(&lnd, admin.clone())
        .role(CredentialRole::Invoice)
        .refuse_excess_permissions()
        .build()
        .unwrap_err();
    match &err {
        BuildError::ExcessPermissions { role, extra } => {
            assert_eq!(*role, CredentialRole::Invoice);
            assert!(extra.contains("onchain:write"), "{extra}");
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.to_string().contains(&admin));
    // The stock invoice.macaroon also has address and onchain:read: more than needed.
    let stock = lnd.macaroon_hex(FakeMacaroon::Invoice);
    assert!(matches!(
        builder(&lnd, stock)
            .role(CredentialRole::Invoice)
            .refuse_excess_permissions()
            .build(),
        Err(BuildError::ExcessPermissions { .. })
    ));
    // Opaque bytes: nothing to read, so a refusing builder refuses.
    assert!(matches!(
        builder(&lnd, "02".repeat(40))
            .role(CredentialRole::Invoice)
            .refuse_excess_permissions()
            .build(),
        Err(BuildError::UnknownPermissions(_))
    ));
}

fn with_caveat(hex: &str, caveat: &str) -> String {
    let mut m = Macaroon::from_hex(hex).unwrap();
    m.add_first_party_caveat(caveat).unwrap();
    m.to_hex()
}

async fn create(lnd: &FakeLnd, hex: String) -> Result<(), String> {
    let backend = builder(lnd, hex)
        .role(CredentialRole::Invoice)
        .build()
        .unwrap();
    backend
        .create_invoice(&InvoiceRequest::new(Amount::from_msat(1_000)))
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn the_fake_enforces_time_and_ip_caveats() {
    let (_net, lnd) = node().await;
    let hex = lnd.macaroon_hex(FakeMacaroon::InvoiceServer);
    let later = SystemTime::now() + Duration::from_secs(3600);
    let earlier = SystemTime::now() - Duration::from_secs(1);
    create(&lnd, with_caveat(&hex, &time_before_caveat(later)))
        .await
        .unwrap();
    let expired = create(&lnd, with_caveat(&hex, &time_before_caveat(earlier))).await;
    assert!(expired.is_err());
    let local = with_caveat(&hex, &ip_lock_caveat("127.0.0.1".parse().unwrap()));
    create(&lnd, local).await.unwrap();
    let elsewhere = with_caveat(&hex, &ip_lock_caveat("10.9.9.9".parse().unwrap()));
    assert!(create(&lnd, elsewhere).await.is_err());
    // A caveat the node does not know is refused too, and so is a tampered signature.
    assert!(
        create(&lnd, with_caveat(&hex, "lnd-custom x y"))
            .await
            .is_err()
    );
    let mut forged = Macaroon::from_hex(&hex).unwrap().encode();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert!(
        create(&lnd, l402_core::encoding::hex_encode(&forged))
            .await
            .is_err()
    );
}
