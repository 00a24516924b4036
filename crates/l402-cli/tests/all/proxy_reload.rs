//! `l402 proxy`: `--check`, and the configuration reloaded on SIGHUP.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use l402_core::lightning_invoice::Bolt11Invoice;

use crate::support::{
    DevNode, Proxy, TempDir, Upstream, code, eventually, get, l402, run, run_async, stderr, stdout,
};

fn services(upstream: &Upstream, price: u64) -> String {
    format!(
        "[[services]]\nname = \"paid\"\npath = \"/paid\"\nupstream = \"{u}\"\nprice_sat = {price}\n\n\
         [[services]]\nname = \"open\"\npath = \"/\"\nupstream = \"{u}\"\nfree = true\n",
        u = upstream.url()
    )
}

/// Rewrites the proxy's configuration file (by an atomic rename) with `edit` applied.
fn edit_config(proxy: &Proxy, edit: impl FnOnce(String) -> String) {
    let path = proxy.dir.join("proxy.toml");
    let text = edit(std::fs::read_to_string(&path).unwrap());
    let tmp = proxy.dir.join("proxy.toml.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
}

/// Sends SIGHUP and waits for the log to show one more line containing `outcome`.
async fn hangup(proxy: &mut Proxy, outcome: &str) {
    let before = proxy.log().matches(outcome).count();
    proxy.daemon.signal("HUP");
    eventually(outcome, || {
        proxy.daemon.assert_running();
        (proxy.log().matches(outcome).count() > before).then_some(())
    })
    .await;
}

/// The price, in msat, of the invoice in the proxy's 402 for `/paid`.
async fn price_msat(proxy: &Proxy) -> u64 {
    let res = reqwest::get(proxy.url("/paid/x")).await.unwrap();
    assert_eq!(res.status(), 402);
    let header = res
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("L402 "))
        .unwrap();
    let invoice = header.split("invoice=\"").nth(1).unwrap();
    let invoice: Bolt11Invoice = invoice.split('"').next().unwrap().parse().unwrap();
    invoice.amount_milli_satoshis().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_applies_a_new_price_refuses_a_broken_file_and_keeps_tokens() {
    let upstream = Upstream::start().await;
    let node = DevNode::start().await;
    let mut proxy = Proxy::start(&node, &services(&upstream, 3)).await;
    assert_eq!(price_msat(&proxy).await, 3_000);

    // A token bought before the reload.
    let tokens = TempDir::new("reload-tokens");
    let out = run_async(get(&node, tokens.path(), &[], &proxy.url("/paid/a"))).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    node.wait_payments(1).await;

    edit_config(&proxy, |t| t.replace("price_sat = 3", "price_sat = 7"));
    hangup(&mut proxy, "configuration reloaded").await;
    assert_eq!(price_msat(&proxy).await, 7_000);
    // The token sold before still works: no new payment.
    let out = run_async(get(&node, tokens.path(), &[], &proxy.url("/paid/b"))).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "upstream says hi /paid/b");
    assert_eq!(node.status()["payments"], 1);

    // Broken files: refused with the reason, the running configuration keeps serving.
    for (broken, reason) in [
        ("price_sat = 7", "price_sat = 0"),
        ("[[services]]", "[[services"),
        ("price_sat = 7", "price_sat = 7\nbogus = true"),
    ] {
        let good = std::fs::read_to_string(proxy.dir.join("proxy.toml")).unwrap();
        edit_config(&proxy, |t| t.replacen(broken, reason, 1));
        hangup(&mut proxy, "configuration refused").await;
        assert_eq!(price_msat(&proxy).await, 7_000);
        let res = reqwest::get(proxy.url("/free")).await.unwrap();
        assert_eq!(res.text().await.unwrap(), "upstream says hi /free");
        std::fs::write(proxy.dir.join("proxy.toml"), good).unwrap();
    }
    let log = proxy.log();
    assert!(log.contains("a price of 0 is not accepted"), "{log}");
    assert!(log.contains("unknown field"), "{log}");

    // What a reload cannot change is refused by name.
    edit_config(&proxy, |t| {
        t.replace(
            "master_secret_file = \"master.secret\"",
            "master_secret_env = \"X\"",
        )
    });
    hangup(&mut proxy, "configuration refused").await;
    assert!(
        proxy
            .log()
            .contains("[root_keys] cannot change while the proxy runs"),
        "{}",
        proxy.log()
    );
    assert_eq!(price_msat(&proxy).await, 7_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_under_load_fail_no_request() {
    let upstream = Upstream::start().await;
    let node = DevNode::start().await;
    let mut proxy = Proxy::start(&node, &services(&upstream, 3)).await;
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for worker in 0..4 {
        let (stop, done) = (Arc::clone(&stop), Arc::clone(&done));
        let base = proxy.url("");
        workers.push(tokio::spawn(async move {
            // Half over HTTP/1.1 keep-alive, half over h2c: both kinds of open
            // connection see the swap.
            let client = if worker % 2 == 0 {
                reqwest::Client::new()
            } else {
                reqwest::Client::builder()
                    .http2_prior_knowledge()
                    .build()
                    .unwrap()
            };
            let mut failures = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let (path, want) = if done.load(Ordering::Relaxed) % 3 == 0 {
                    ("/paid/x", 402)
                } else {
                    ("/free", 200)
                };
                match client.get(format!("{base}{path}")).send().await {
                    Ok(res) if res.status() == want => {
                        if res.bytes().await.is_err() {
                            failures.push(format!("{path}: body cut"));
                        }
                    }
                    Ok(res) => failures.push(format!("{path}: {}", res.status())),
                    Err(e) => failures.push(format!("{path}: {e}")),
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            failures
        }));
    }
    for round in 0..6 {
        let before = done.load(Ordering::Relaxed);
        let (from, to) = if round % 2 == 0 { (3, 7) } else { (7, 3) };
        edit_config(&proxy, |t| {
            t.replace(&format!("price_sat = {from}"), &format!("price_sat = {to}"))
        });
        hangup(&mut proxy, "configuration reloaded").await;
        eventually("requests between reloads", || {
            (done.load(Ordering::Relaxed) > before + 20).then_some(())
        })
        .await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut failures = Vec::new();
    for w in workers {
        failures.extend(w.await.unwrap());
    }
    assert!(failures.is_empty(), "{failures:?}");
    assert!(done.load(Ordering::Relaxed) > 120);
    assert_eq!(proxy.log().matches("configuration reloaded").count(), 6);
}

#[test]
fn check_validates_without_starting() {
    let dir = TempDir::new("check");
    std::fs::write(dir.join("m.macaroon"), [1u8, 2, 3]).unwrap();
    std::fs::write(
        dir.join("master.secret"),
        "4242424242424242424242424242424242424242424242424242424242424242\n",
    )
    .unwrap();
    let base = "listen = \"127.0.0.1:1\"\n[backend]\nurl = \"http://127.0.0.1:1\"\nmacaroon_file = \"m.macaroon\"\n\
                [root_keys]\nmaster_secret_file = \"master.secret\"\n";
    let service = "[[services]]\nname = \"s\"\nupstream = \"http://127.0.0.1:9\"\nfree = true\n";
    let check = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let mut cmd = l402(&["proxy", "--check"]);
        cmd.arg(&path);
        run(cmd)
    };

    // Good: exit 0, nothing listens (port 1 could not be bound anyway).
    let out = check("good.toml", &format!("{base}{service}"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).ends_with("good.toml: ok, 1 services\n"),
        "{}",
        stdout(&out)
    );
    // The --config form too.
    let mut cmd = l402(&["proxy", "--check", "--config"]);
    cmd.arg(dir.join("good.toml"));
    assert_eq!(code(&run(cmd)), 0);

    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let other = rcgen::KeyPair::generate().unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    std::fs::write(dir.join("other.pem"), other.serialize_pem()).unwrap();
    let tls = |key: &str| format!("[tls]\ncert_file = \"cert.pem\"\nkey_file = \"{key}\"\n");
    let out = check("tls.toml", &format!("{base}{}{service}", tls("key.pem")));
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    for (name, text, want) in [
        ("syntax.toml", format!("{base}[[services]\n"), "syntax.toml"),
        (
            "unknown.toml",
            format!("{base}{service}colour = \"blue\"\n"),
            "unknown field `colour`",
        ),
        ("none.toml", base.to_owned(), "missing field `services`"),
        (
            "price.toml",
            format!("{base}[[services]]\nname = \"s\"\nupstream = \"http://x\"\nprice_sat = 0\n"),
            "service \"s\": a price of 0 is not accepted",
        ),
        (
            "upstream.toml",
            format!("{base}[[services]]\nname = \"s\"\nupstream = \"ftp://x\"\nfree = true\n"),
            "upstream must be an http or https url",
        ),
        (
            "mismatch.toml",
            format!("{base}{}{service}", tls("other.pem")),
            "does not match the certificate",
        ),
        (
            "nokey.toml",
            format!("{base}{}{service}", tls("missing.pem")),
            "missing.pem",
        ),
        (
            "secret.toml",
            format!(
                "{}{service}",
                base.replace("master.secret", "absent.secret")
            ),
            "absent.secret",
        ),
    ] {
        let out = check(name, &text);
        assert_eq!(code(&out), 2, "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains(want), "{name}: {}", stderr(&out));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_charge_spent_before_a_reload_cannot_be_replayed_after_it() {
    let upstream = Upstream::start().await;
    let node = DevNode::start().await;
    let services = format!(
        "[[services]]\nname = \"charged\"\npath = \"/charged\"\nupstream = \"{}\"\n\
         price_sat = 5\nauth_scheme = \"payment\"\n",
        upstream.url()
    );
    let mut proxy = Proxy::start(&node, &services).await;
    let url = proxy.url("/charged/x");
    let credential = crate::proxy_payment::buy(&node, &url).await;
    assert_eq!(
        crate::proxy_payment::status_with(&url, &credential).await,
        200
    );
    assert_eq!(
        crate::proxy_payment::status_with(&url, &credential).await,
        402
    );

    // A reload that leaves the service as it was (another service added).
    edit_config(&proxy, |t| {
        format!(
            "{t}\n[[services]]\nname = \"more\"\npath = \"/more\"\nupstream = \"http://127.0.0.1:9\"\nfree = true\n"
        )
    });
    hangup(&mut proxy, "configuration reloaded").await;
    // The consumed charges outlive the reload: still spent.
    assert_eq!(
        crate::proxy_payment::status_with(&url, &credential).await,
        402
    );
}
