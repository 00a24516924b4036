//! The builder checks the rune against the backend's role; runes narrowed offline work
//! against the fake and are refused beyond their new restrictions.

use std::io::Write;
use std::sync::{Arc, Mutex};

use l402_cln::{BuildError, CredentialRole};
use l402_cln_fake::{FakeCln, FakeClnOptions, FakeRune};
use l402_core::backend::InvoiceRequest;
use l402_core::node_credential::rune::Rune;
use l402_core::{Amount, InvoiceBackend};
use l402_mock::MockNetwork;

use crate::support::builder;

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

async fn node() -> (MockNetwork, FakeCln) {
    let network = MockNetwork::builder().build();
    let server = network.node("server").build().unwrap();
    let cln = FakeCln::start(server, FakeClnOptions::new()).await.unwrap();
    (network, cln)
}

#[tokio::test]
async fn roles_warn_and_refuse_as_configured() {
    let (_net, cln) = node().await;
    let invoice = cln.rune(FakeRune::InvoiceOnly);
    let (built, logs) = captured(|| {
        builder(&cln, invoice.clone())
            .role(CredentialRole::Invoice)
            .refuse_excess_permissions()
            .build()
    });
    assert!(built.is_ok(), "{built:?}");
    assert!(logs.is_empty(), "{logs}");

    let admin = cln.rune(FakeRune::Admin);
    let (built, logs) = captured(|| {
        builder(&cln, admin.clone())
            .role(CredentialRole::Invoice)
            .build()
    });
    assert!(built.is_ok());
    assert!(
        logs.contains("WARN") && logs.contains("unrestricted"),
        "{logs}"
    );
    assert!(!logs.contains(&admin), "the rune is never logged");

    // The payer rune is fine for paying, too much for an invoice backend.
    let payer = cln.rune(FakeRune::Payer);
    let (_, quiet) = captured(|| {
        builder(&cln, payer.clone())
            .role(CredentialRole::Payment)
            .build()
    });
    assert!(quiet.is_empty(), "{quiet}");
    match builder(&cln, payer)
        .role(CredentialRole::Invoice)
        .refuse_excess_permissions()
        .build()
    {
        Err(BuildError::ExcessPermissions { extra, .. }) => {
            assert_eq!(extra, "method=xpay");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        builder(&cln, admin)
            .role(CredentialRole::Payment)
            .refuse_excess_permissions()
            .build(),
        Err(BuildError::ExcessPermissions { .. })
    ));
}

#[tokio::test]
async fn a_rune_narrowed_offline_works_until_its_new_restrictions_refuse() {
    let (_net, cln) = node().await;
    let invoice = Rune::parse(&cln.rune(FakeRune::InvoiceOnly)).unwrap();
    let create = |rune: String| {
        let backend = builder(&cln, rune)
            .role(CredentialRole::Invoice)
            .build()
            .unwrap();
        async move {
            backend
                .create_invoice(&InvoiceRequest::new(Amount::from_msat(1_000)))
                .await
        }
    };
    let later = invoice.restrict("time<99999999999").unwrap();
    create(later.to_base64()).await.unwrap();
    let expired = invoice.restrict("time<1000").unwrap();
    assert!(create(expired.to_base64()).await.is_err());
    let lookups_only = invoice.restrict("method=listinvoices").unwrap();
    assert!(create(lookups_only.to_base64()).await.is_err());
}
