//! `ClnBackend::create_rune` against the fake: restricted runes that work for their role
//! and nothing else, CLN's refusals, and answers that are not what was asked.

use std::time::Duration;

use l402_cln::{ClnBackend, CreateRuneError, CredentialRole};
use l402_cln_fake::FakeRune;
use l402_core::backend::{InvoiceRequest, PayParams};
use l402_core::node_credential::rune::{Restriction, Rune};
use l402_core::{Amount, InvoiceBackend, PaymentBackend};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{Pair, builder};

fn restrictions(list: &[&str]) -> Vec<Restriction> {
    list.iter()
        .map(|r| Restriction::parse(r).unwrap())
        .collect()
}

#[tokio::test]
async fn created_runes_work_for_their_role_only() {
    let pair = Pair::new().await;
    let maker = builder(&pair.agent, pair.agent.rune(FakeRune::Admin))
        .for_baking()
        .build()
        .unwrap();
    let pay = maker
        .create_rune(&restrictions(&[
            "method=xpay|method=listpays|method=listsendpays|method=getinfo",
        ]))
        .await
        .unwrap();
    assert!(pay.unique_id.parse::<u64>().is_ok());
    assert_eq!(pay.rune.unique_id(), Some(pay.unique_id.as_str()));
    let payer = builder(&pair.agent, pay.rune.to_base64())
        .role(CredentialRole::Payment)
        .refuse_excess_permissions()
        .build()
        .unwrap();
    let server = crate::support::backend(&pair.server, FakeRune::InvoiceOnly);
    let created = server
        .create_invoice(&InvoiceRequest::new(Amount::from_msat(5_000)))
        .await
        .unwrap();
    payer
        .pay_invoice(
            &created.invoice,
            &PayParams::new(Amount::from_msat(10_000), Duration::from_secs(5)),
        )
        .await
        .unwrap();
    // The pay-only rune cannot create invoices on its node: CLN's 1502.
    let before = pair.agent.node().invoices().len();
    let err = payer
        .create_invoice(&InvoiceRequest::new(Amount::from_msat(5_000)))
        .await
        .unwrap_err();
    assert!(err.message().contains("1502"), "{err}");
    assert_eq!(pair.agent.node().invoices().len(), before);
}

#[tokio::test]
async fn refusals_are_typed() {
    let pair = Pair::new().await;
    let maker = builder(&pair.server, pair.server.rune(FakeRune::Admin))
        .for_baking()
        .build()
        .unwrap();
    assert!(matches!(
        maker.create_rune(&[]).await,
        Err(CreateRuneError::InvalidRequest(_))
    ));
    let weak = builder(&pair.server, pair.server.rune(FakeRune::InvoiceOnly))
        .for_baking()
        .build()
        .unwrap();
    match weak
        .create_rune(&restrictions(&["method=getinfo"]))
        .await
        .unwrap_err()
    {
        CreateRuneError::Denied { code, message } => {
            assert_eq!(code, 1502);
            assert!(message.starts_with("Not permitted"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let foreign = builder(&pair.server, pair.agent.rune(FakeRune::Admin))
        .for_baking()
        .build()
        .unwrap();
    assert!(matches!(
        foreign
            .create_rune(&restrictions(&["method=getinfo"]))
            .await,
        Err(CreateRuneError::Denied { code: 1501, .. })
    ));
}

/// A node that answers every request with `body` (HTTP 201).
async fn answering(body: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = [0u8; 8192];
            let _ = stream.read(&mut buf).await;
            let reply = format!(
                "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes()).await;
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_node_answering_another_rune_is_refused() {
    let pair = Pair::new().await;
    let admin = pair.server.rune(FakeRune::Admin);
    // Asked for an invoice-only rune, the node hands back an unrestricted one.
    let unique_id = Rune::parse(&admin).unwrap().unique_id().unwrap().to_owned();
    let url =
        answering(serde_json::json!({"rune": admin, "unique_id": unique_id}).to_string()).await;
    let lying = ClnBackend::builder(url)
        .rune(admin.clone())
        .for_baking()
        .build()
        .unwrap();
    match lying
        .create_rune(&restrictions(&["method=invoice|method=listinvoices"]))
        .await
        .unwrap_err()
    {
        CreateRuneError::InvalidResponse(why) => assert!(!why.contains(&admin), "{why}"),
        other => panic!("{other:?}"),
    }
    let url = answering(r#"{"rune":"!!","unique_id":"1"}"#.to_owned()).await;
    let garbled = ClnBackend::builder(url)
        .rune(admin)
        .for_baking()
        .build()
        .unwrap();
    assert!(matches!(
        garbled
            .create_rune(&restrictions(&["method=getinfo"]))
            .await,
        Err(CreateRuneError::InvalidResponse(_))
    ));
}
