//! `l402 proxy` with `auth_scheme = "payment"`: a charge paid by hand from the payer node
//! opens one request, and only one.

use std::time::Duration;

use l402_core::backend::PayParams;
use l402_core::payment_scheme::{PaymentChallenge, PaymentCredential, PaymentReceipt};
use l402_core::{Amount, PaymentBackend};

use crate::support::{
    DevNode, Proxy, RedisServer, TempDir, Upstream, code, redis_server_binary, stderr,
};

/// Pays the one Payment challenge of a 402 at `url` by hand from the payer node; returns
/// the `Authorization` value.
pub(crate) async fn buy(node: &DevNode, url: &str) -> String {
    let res = reqwest::get(url).await.unwrap();
    assert_eq!(res.status(), 402);
    let value = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    let challenge = PaymentChallenge::parse_list(&value)
        .unwrap()
        .into_iter()
        .next()
        .unwrap();
    let s = node.status();
    let payer = l402_lnd::LndBackend::builder(s["payer"]["url"].as_str().unwrap())
        .macaroon_file(s["payer"]["macaroon_file"].as_str().unwrap())
        .tls_cert_file(s["payer"]["tls_cert_file"].as_str().unwrap())
        .build()
        .unwrap();
    let invoice = challenge.charge_request().unwrap().check_invoice().unwrap();
    let params = PayParams::new(Amount::from_sat(100).unwrap(), Duration::from_secs(20));
    let paid = payer.pay_invoice(&invoice, &params).await.unwrap();
    PaymentCredential::new(challenge, &paid.preimage)
        .to_header_string()
        .to_string()
}

pub(crate) async fn status_with(url: &str, auth: &str) -> u16 {
    reqwest::Client::new()
        .get(url)
        .header("authorization", auth)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_sharing_redis_accepts_a_charge_once_across_proxies() {
    let Some(binary) = redis_server_binary("proxy_payment::redis") else {
        return;
    };
    let redis = RedisServer::start(&binary).await;
    let upstream = Upstream::start().await;
    let node = DevNode::start().await;
    let services = format!(
        "[revocation]\nkind = \"redis\"\nurl = \"{}\"\nprefix = \"pay-test\"\n\
         max_token_lifetime_secs = 600\n\n\
         [[services]]\nname = \"charged\"\npath = \"/charged\"\nupstream = \"{}\"\n\
         price_sat = 4\nauth_scheme = \"payment\"\n",
        redis.url(),
        upstream.url()
    );
    // Two proxies with the same master secret and the same Redis.
    let a = Proxy::start(&node, &services).await;
    let b = Proxy::start(&node, &services).await;
    let auth = buy(&node, &a.url("/charged")).await;
    // Minted by A, accepted by B (the id secret is derived from the shared master secret)…
    assert_eq!(status_with(&b.url("/charged"), &auth).await, 200);
    // …and then spent for the whole fleet.
    assert_eq!(status_with(&a.url("/charged"), &auth).await, 402);
    assert_eq!(status_with(&b.url("/charged"), &auth).await, 402);
    drop(redis);
    // Redis gone: a fresh charge is not served for free.
    let auth = buy(&node, &a.url("/charged")).await;
    assert_eq!(status_with(&a.url("/charged"), &auth).await, 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_service_sells_single_use_charges() {
    let upstream = Upstream::start().await;
    let node = DevNode::start().await;
    let services = format!(
        r#"
[[services]]
name = "charged"
path = "/charged"
upstream = "{up}"
price_sat = 7
auth_scheme = "payment"
payment_realm = "api.example.com"
payment_expiry_secs = 300

[[services]]
name = "both"
path = "/both"
upstream = "{up}"
price_sat = 7
auth_scheme = "l402+payment"
"#,
        up = upstream.url()
    );
    let proxy = Proxy::start(&node, &services).await;
    let http = reqwest::Client::new();

    let res = http.get(proxy.url("/charged/x")).send().await.unwrap();
    assert_eq!(res.status(), 402);
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let values: Vec<String> = res
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(values.len(), 1, "{values:?}");
    let challenge = PaymentChallenge::parse_list(&values[0])
        .unwrap()
        .into_iter()
        .next()
        .unwrap();
    assert_eq!(challenge.realm, "api.example.com");
    let left = challenge
        .expires_at()
        .unwrap()
        .duration_since(std::time::SystemTime::now())
        .unwrap();
    assert!(left <= Duration::from_secs(300), "{left:?}");
    let request = challenge.charge_request().unwrap();
    assert_eq!(request.amount_sat, 7);

    // Pay by hand from the payer node.
    let s = node.status();
    let payer = l402_lnd::LndBackend::builder(s["payer"]["url"].as_str().unwrap())
        .macaroon_file(s["payer"]["macaroon_file"].as_str().unwrap())
        .tls_cert_file(s["payer"]["tls_cert_file"].as_str().unwrap())
        .build()
        .unwrap();
    let invoice = request.check_invoice().unwrap();
    let params = PayParams::new(Amount::from_sat(100).unwrap(), Duration::from_secs(20));
    let paid = payer.pay_invoice(&invoice, &params).await.unwrap();
    node.wait_payments(1).await;

    let auth = PaymentCredential::new(challenge.clone(), &paid.preimage)
        .to_header_string()
        .to_string();
    let res = http
        .get(proxy.url("/charged/x"))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "private");
    let receipt =
        PaymentReceipt::parse(res.headers()["payment-receipt"].to_str().unwrap()).unwrap();
    assert_eq!(receipt.status, "success");
    assert_eq!(receipt.challenge_id.as_deref(), Some(challenge.id.as_str()));
    assert_eq!(res.text().await.unwrap(), "upstream says hi /charged/x");
    let seen = upstream.seen();
    assert!(
        seen.last().unwrap().headers.get("authorization").is_none(),
        "the credential is not forwarded"
    );

    // The same credential again: refused, with a fresh challenge.
    let res = http
        .get(proxy.url("/charged/x"))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 402);
    assert_eq!(res.headers().get_all("www-authenticate").iter().count(), 1);
    let problem: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        problem["type"],
        "https://paymentauth.org/problems/verification-failed"
    );
    assert_eq!(
        upstream.seen().len(),
        seen.len(),
        "the replay never reached upstream"
    );

    // Both offers: LSAT, L402, Payment.
    let res = http.get(proxy.url("/both")).send().await.unwrap();
    assert_eq!(res.status(), 402);
    let schemes: Vec<String> = res
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().split(' ').next().unwrap().to_owned())
        .collect();
    assert_eq!(schemes, ["LSAT", "L402", "Payment"]);
}

#[test]
fn payment_settings_are_validated_at_load() {
    for (extra, needle) in [
        ("auth_scheme = \"mpp\"", "auth_scheme"),
        ("payment_realm = \"x\"", "payment_realm"),
        (
            "auth_scheme = \"payment\"\npayment_expiry_secs = 0",
            "payment_expiry_secs",
        ),
        (
            "auth_scheme = \"payment\"\npayment_realm = \"\"",
            "payment_realm",
        ),
    ] {
        let dir = TempDir::new("paycfg");
        std::fs::write(dir.join("master.secret"), "42".repeat(32)).unwrap();
        std::fs::write(
            dir.join("p.toml"),
            format!(
                "[backend]\nkind = \"lnd\"\nurl = \"https://127.0.0.1:1\"\n\
                 [root_keys]\nmaster_secret_file = \"master.secret\"\n\
                 [[services]]\nname = \"s\"\nupstream = \"http://127.0.0.1:9\"\nprice_sat = 1\n{extra}\n"
            ),
        )
        .unwrap();
        let mut cmd = crate::support::l402(&["proxy", "--check", "--config"]);
        cmd.arg(dir.join("p.toml"));
        let out = crate::support::run(cmd);
        assert_eq!(code(&out), 2, "{}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{extra}: {}", stderr(&out));
    }
}
