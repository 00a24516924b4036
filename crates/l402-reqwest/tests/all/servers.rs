//! Servers other than ours: re-challenging forever, LSAT-only, and challenge headers in
//! the forms other servers emit.

use l402_reqwest::{L402Error, L402Middleware};
use reqwest::StatusCode;

use crate::support::*;

#[tokio::test]
async fn a_server_that_keeps_asking_gets_one_payment_then_an_error() {
    let net = Net::new();
    let custom = Custom::new(&net.server, 10, aperture_format).rejecting();
    let base = custom.serve().await;
    let mw = L402Middleware::builder(net.payer.clone())
        .policy(policy())
        .build()
        .unwrap();
    let err = client(&mw).get(&base).send().await.unwrap_err();
    let e = l402_error(&err);
    assert!(matches!(e, L402Error::StillPaymentRequired));
    assert!(!e.nothing_paid());
    assert_eq!(
        e.to_string(),
        "server still requires payment after paying once"
    );
    assert_eq!(net.payments(), 1);
    // The first request went without a token, the retry with the paid one.
    assert_eq!(custom.seen().len(), 1);
}

#[tokio::test]
async fn presents_lsat_to_a_server_that_offers_only_lsat() {
    let net = Net::new();
    let lsat_only = Custom::new(&net.server, 10, |mac, inv| {
        vec![format!("LSAT macaroon=\"{mac}\", invoice=\"{inv}\"")]
    });
    let both = Custom::new(&net.server, 10, aperture_format);
    let lsat_base = lsat_only.serve().await;
    let both_base = both.serve().await;
    let mw = L402Middleware::builder(net.payer.clone())
        .policy(policy())
        .build()
        .unwrap();
    let http = client(&mw);
    for base in [&lsat_base, &both_base] {
        for _ in 0..2 {
            let res = http.get(base).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK);
        }
    }
    assert_eq!(net.payments(), 2);
    let lsat_seen = lsat_only.seen();
    assert_eq!(lsat_seen.len(), 2);
    assert!(
        lsat_seen.iter().all(|v| v.starts_with("LSAT ")),
        "{lsat_seen:?}"
    );
    let seen = both.seen();
    assert_eq!(seen.len(), 2);
    for v in &seen {
        // One value: `L402 <standard base64>:<64 lower-case hex>`.
        let (scheme, rest) = v.split_once(' ').unwrap();
        assert_eq!(scheme, "L402");
        let (mac, pre) = rest.rsplit_once(':').unwrap();
        assert!(!mac.contains(['-', '_']));
        assert_eq!(pre.len(), 64);
        assert!(
            pre.chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        );
    }
}

#[tokio::test]
async fn parses_the_challenge_forms_other_servers_emit() {
    type F = fn(&str, &str) -> Vec<String>;
    let forms: Vec<(&str, F)> = vec![
        ("unquoted values", |m, i| {
            vec![format!("L402 macaroon={m}, invoice={i}")]
        }),
        ("token= instead of macaroon=", |m, i| {
            vec![format!("L402 token=\"{m}\", invoice=\"{i}\"")]
        }),
        ("newer draft with version first", |m, i| {
            vec![format!(
                "L402 version=\"0\", token=\"{m}\", invoice=\"{i}\""
            )]
        }),
        ("extra parameters, reversed order", |m, i| {
            vec![format!(
                "L402 invoice=\"{i}\", realm=\"api\", macaroon=\"{m}\", foo=bar"
            )]
        }),
        ("lower-case scheme", |m, i| {
            vec![format!("l402 macaroon=\"{m}\", invoice=\"{i}\"")]
        }),
        ("other schemes in the same field", |m, i| {
            vec![format!(
                "Bearer realm=\"api\", L402 macaroon=\"{m}\", invoice=\"{i}\""
            )]
        }),
        ("other schemes in other fields", |m, i| {
            vec![
                "Payment id=\"abc\", method=\"lightning\"".to_owned(),
                "Basic realm=\"x\"".to_owned(),
                format!("LSAT macaroon=\"{m}\", invoice=\"{i}\""),
            ]
        }),
        ("one field with both schemes", |m, i| {
            vec![format!(
                "LSAT macaroon=\"{m}\", invoice=\"{i}\", L402 macaroon=\"{m}\", invoice=\"{i}\""
            )]
        }),
    ];
    let net = Net::new();
    for (name, form) in forms {
        let custom = Custom::new(&net.server, 10, form);
        let base = custom.serve().await;
        let mw = L402Middleware::builder(net.payer.clone())
            .policy(policy())
            .build()
            .unwrap();
        let before = net.payments();
        let res = client(&mw).get(&base).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{name}");
        assert_eq!(net.payments(), before + 1, "{name}");
    }
}

#[tokio::test]
async fn a_402_without_an_l402_challenge_is_passed_on() {
    let net = Net::new();
    let custom = Custom::new(&net.server, 10, |_, _| vec!["Payment id=\"x\"".to_owned()]);
    let base = custom.serve().await;
    let mw = L402Middleware::builder(net.payer.clone())
        .policy(policy())
        .build()
        .unwrap();
    let res = client(&mw).get(&base).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
    net.assert_nothing_paid();
}
