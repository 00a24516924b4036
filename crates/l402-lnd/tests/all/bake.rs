//! `LndBackend::bake_macaroon` against the fake: least-privilege macaroons that work for
//! their role and nothing else, LND's refusals, and answers that are not what was asked.

use std::time::Duration;

use l402_core::backend::{InvoiceRequest, PayParams};
use l402_core::{Amount, InvoiceBackend, PayError, PaymentBackend};
use l402_lnd::{BakeError, CredentialRole, LndBackend, MacaroonPermission};
use l402_lnd_fake::{FakeLnd, FakeLndOptions, FakeMacaroon};
use l402_mock::MockNetwork;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn node() -> (MockNetwork, FakeLnd) {
    let network = MockNetwork::builder().build();
    let server = network
        .node("server")
        .balance(Amount::from_msat(10_000_000))
        .build()
        .unwrap();
    let lnd = FakeLnd::start(server, FakeLndOptions::new().plain_http())
        .await
        .unwrap();
    (network, lnd)
}

fn baker(url: &str, hex: String) -> LndBackend {
    LndBackend::builder(url)
        .macaroon_hex(hex)
        .for_baking()
        .request_timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

fn perms(list: &[(&str, &str)]) -> Vec<MacaroonPermission> {
    list.iter()
        .map(|(e, a)| MacaroonPermission::new(*e, *a))
        .collect()
}

#[tokio::test]
async fn baked_invoice_macaroon_creates_invoices_and_cannot_pay() {
    let (_net, lnd) = node().await;
    let admin = baker(lnd.base_url(), lnd.macaroon_hex(FakeMacaroon::Admin));
    let baked = admin
        .bake_macaroon(
            &perms(&[
                ("invoices", "read"),
                ("invoices", "write"),
                ("info", "read"),
            ]),
            0,
        )
        .await
        .unwrap();
    assert_eq!(
        baked.id().permissions(),
        vec!["info:read", "invoices:read", "invoices:write"]
    );
    let backend = LndBackend::builder(lnd.base_url())
        .macaroon_bytes(baked.macaroon().encode())
        .role(CredentialRole::Invoice)
        .refuse_excess_permissions()
        .build()
        .unwrap();
    let created = backend
        .create_invoice(&InvoiceRequest::new(Amount::from_msat(5_000)))
        .await
        .unwrap();
    let before = lnd.node().payments().len();
    let err = backend
        .pay_invoice(
            &created.invoice,
            &PayParams::new(Amount::from_msat(1_000), Duration::from_secs(5)),
        )
        .await
        .unwrap_err();
    match err {
        PayError::NotAttempted(e) => assert!(e.message().contains("permission denied"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(lnd.node().payments().len(), before, "nothing was paid");
}

#[tokio::test]
async fn refusals_are_typed() {
    let (_net, lnd) = node().await;
    let admin = baker(lnd.base_url(), lnd.macaroon_hex(FakeMacaroon::Admin));
    assert!(matches!(
        admin.bake_macaroon(&[], 0).await,
        Err(BakeError::InvalidRequest(_))
    ));
    match admin
        .bake_macaroon(&perms(&[("wallet", "read")]), 0)
        .await
        .unwrap_err()
    {
        BakeError::Rejected { code, message } => {
            assert_eq!(code, 2);
            assert!(
                message.starts_with("invalid permission entity"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    // A macaroon without macaroon:generate: LND's permission denied.
    let weak = baker(
        lnd.base_url(),
        lnd.macaroon_hex(FakeMacaroon::InvoiceServer),
    );
    match weak
        .bake_macaroon(&perms(&[("info", "read")]), 0)
        .await
        .unwrap_err()
    {
        BakeError::Denied { message, .. } => assert_eq!(message, "permission denied"),
        other => panic!("{other:?}"),
    }
    // Nobody listening.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gone = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let nobody = baker(&gone, lnd.macaroon_hex(FakeMacaroon::Admin));
    assert!(matches!(
        nobody.bake_macaroon(&perms(&[("info", "read")]), 0).await,
        Err(BakeError::Unavailable(_))
    ));
}

/// A node that answers every request with `body` (HTTP 200).
async fn answering(body: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = [0u8; 8192];
            let _ = stream.read(&mut buf).await;
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes()).await;
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_node_answering_more_than_asked_is_refused() {
    let (_net, lnd) = node().await;
    // The node hands back its admin macaroon when asked for an invoice-only one.
    let admin_hex = lnd.macaroon_hex(FakeMacaroon::Admin);
    let url = answering(serde_json::json!({ "macaroon": admin_hex }).to_string()).await;
    let b = baker(&url, admin_hex.clone());
    match b
        .bake_macaroon(&perms(&[("invoices", "read")]), 0)
        .await
        .unwrap_err()
    {
        BakeError::InvalidResponse(why) => {
            assert!(why.contains("onchain:write"), "{why}");
            assert!(!why.contains(&admin_hex));
        }
        other => panic!("{other:?}"),
    }
    // Not a macaroon at all.
    let url = answering(r#"{"macaroon":"0201"}"#.to_owned()).await;
    assert!(matches!(
        baker(&url, admin_hex.clone())
            .bake_macaroon(&perms(&[("invoices", "read")]), 0)
            .await,
        Err(BakeError::InvalidResponse(_))
    ));
    // The right permissions under another root key id.
    let other = lnd
        .bake_macaroon(&[l402_lnd_fake::Permission::INVOICES_READ])
        .unwrap();
    let url = answering(serde_json::json!({ "macaroon": other }).to_string()).await;
    match baker(&url, admin_hex)
        .bake_macaroon(&perms(&[("invoices", "read")]), 5)
        .await
        .unwrap_err()
    {
        BakeError::InvalidResponse(why) => assert!(why.contains("root key"), "{why}"),
        other => panic!("{other:?}"),
    }
}
