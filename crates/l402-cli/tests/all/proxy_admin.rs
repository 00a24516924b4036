//! `l402 proxy` with `[admin]`, driven by `l402 admin`: credentials, the calls, a
//! revocation honoured by a second proxy sharing Redis, sales, reloads, and the admin API
//! kept off the paying port.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::{
    DevNode, Proxy, RedisServer, TempDir, Upstream, code, eventually, free_port, get, l402,
    redis_server_binary, run_async, stderr, stdout, summary,
};

const SECRET: &str = "admin-secret-for-the-tests-0123456789abcdef";

/// A secret file with mode 0600 in its own directory.
fn secret_file() -> TempDir {
    let dir = TempDir::new("admin-secret");
    let file = dir.join("admin.secret");
    std::fs::write(&file, format!("{SECRET}\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    dir
}

fn admin_section(port: u16, secret: &TempDir) -> String {
    format!(
        "[admin]\nlisten = \"127.0.0.1:{port}\"\nbearer_secret_file = {:?}\n\n",
        secret.join("admin.secret")
    )
}

fn paid(upstream: &Upstream, price: u64) -> String {
    format!(
        "[[services]]\nname = \"paid\"\npath = \"/paid\"\nupstream = \"{}\"\nprice_sat = {price}\n",
        upstream.url()
    )
}

/// Runs `l402 admin --url … --secret-file … ARGS`.
async fn admin(port: u16, secret: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = l402(&["admin", "--url", &format!("http://127.0.0.1:{port}")]);
    cmd.arg("--secret-file").arg(secret).args(args);
    run_async(cmd).await
}

/// `l402 admin --json ARGS`, which must succeed.
async fn admin_json(port: u16, secret: &TempDir, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = admin(port, &secret.join("admin.secret"), &all).await;
    assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Waits until the admin listener accepts connections.
async fn wait_admin(port: u16, proxy: &Proxy) {
    eventually("the admin listener", || {
        std::net::TcpStream::connect(("127.0.0.1", port))
            .ok()
            .map(|_| ())
    })
    .await;
    let _ = proxy;
}

/// Pays on `proxy` with `tokens`, then returns the token id the upstream received.
async fn pay(node: &DevNode, proxy: &Proxy, upstream: &Upstream, tokens: &TempDir) -> String {
    let out = run_async(get(node, tokens.path(), &[], &proxy.url("/paid/a"))).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let seen = upstream.seen();
    seen.last().unwrap().headers["x-l402-token-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

/// `l402 get --no-pay` with the stored token: the status.
async fn status_with_token(node: &DevNode, proxy: &Proxy, tokens: &TempDir) -> u64 {
    let out = run_async(get(
        node,
        tokens.path(),
        &["--no-pay"],
        &proxy.url("/paid/b"),
    ))
    .await;
    summary(&out)["status"].as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_calls_credentials_reload_and_the_paying_port() {
    let upstream = Upstream::start().await;
    let node = DevNode::start().await;
    let secret = secret_file();
    let port = free_port();
    let services = format!(
        "{}[revocation]\nkind = \"memory\"\nfile = \"revoked.txt\"\n\n{}",
        admin_section(port, &secret),
        paid(&upstream, 10)
    );
    let proxy = Proxy::start_with_files(&node, &services, &[("revoked.txt", "# none yet\n")]).await;
    wait_admin(port, &proxy).await;

    // Wrong, missing and almost-right credentials: 401 with WWW-Authenticate, nothing else.
    let client = reqwest::Client::new();
    let admin_url = format!("http://127.0.0.1:{port}/v1/services");
    for auth in [
        None,
        Some(format!("Bearer {}", &SECRET[..SECRET.len() - 1])),
        Some(format!("Bearer {SECRET}0")),
        Some(format!("Basic {SECRET}")),
    ] {
        let mut req = client.get(&admin_url);
        if let Some(a) = &auth {
            req = req.header("authorization", a);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 401, "{auth:?}");
        let mut names: Vec<_> = res
            .headers()
            .keys()
            .map(|k| k.as_str().to_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["content-length", "content-type", "date", "www-authenticate"]
        );
        assert_eq!(res.headers()["www-authenticate"], "Bearer");
        assert_eq!(res.text().await.unwrap(), r#"{"error":"unauthorized"}"#);
    }
    let wrong = TempDir::new("wrong-secret");
    std::fs::write(wrong.join("s"), "not-the-admin-secret-but-long-enough-0000").unwrap();
    let out = admin(port, &wrong.join("s"), &["health"]).await;
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("refused the secret"),
        "{}",
        stderr(&out)
    );

    // The admin API is not on the paying port: there /v1/health is just an unrouted path.
    let res = client
        .get(proxy.url("/v1/health"))
        .bearer_auth(SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let mut on_paying = l402(&["admin", "--url", &proxy.url("")]);
    on_paying
        .arg("--secret-file")
        .arg(secret.join("admin.secret"))
        .arg("health");
    assert_ne!(code(&run_async(on_paying).await), 0);

    // The calls, in text and JSON.
    let out = admin(port, &secret.join("admin.secret"), &["health"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).starts_with("ok"), "{}", stdout(&out));
    let info = admin_json(port, &secret, &["info"]).await;
    assert_eq!(info["services"], 1);
    assert_eq!(info["backend"], "lnd");
    assert_eq!(info["revocation"], "memory");
    let services = admin_json(port, &secret, &["services"]).await;
    assert_eq!(services["services"][0]["price_msat"], 10_000);
    let stats = admin_json(port, &secret, &["stats"]).await;
    assert_eq!(stats["revenue"], serde_json::json!([]));

    // A sale shows in recent and stats.
    let tokens = TempDir::new("tokens");
    let id = pay(&node, &proxy, &upstream, &tokens).await;
    let recent = admin_json(port, &secret, &["recent", "--limit", "5"]).await;
    assert_eq!(recent["tokens"][0]["token_id"], id.as_str(), "{recent}");
    assert_eq!(recent["tokens"][0]["amount_msat"], 10_000);
    let out = admin(port, &secret.join("admin.secret"), &["stats"]).await;
    assert!(
        stdout(&out).contains("paid  1 sales  10000 msat"),
        "{}",
        stdout(&out)
    );

    // Revoked through `l402 admin`: refused at once, in the file too.
    assert_eq!(status_with_token(&node, &proxy, &tokens).await, 200);
    let out = admin(port, &secret.join("admin.secret"), &["revoke", &id]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).starts_with("revoked"), "{}", stdout(&out));
    assert_eq!(status_with_token(&node, &proxy, &tokens).await, 402);
    let file = std::fs::read_to_string(proxy.dir.join("revoked.txt")).unwrap();
    assert!(file.contains(&id), "{file}");
    let log = proxy.log();
    assert!(log.contains("admin call"), "{log}");
    assert!(!log.contains(SECRET), "{log}");

    // A reload with a new price: /v1/services shows it; the revocation and the sales stay.
    let path = proxy.dir.join("proxy.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("price_sat = 10", "price_sat = 12")).unwrap();
    let before = proxy.log().matches("configuration reloaded").count();
    proxy.daemon.signal("HUP");
    eventually("the reload", || {
        (proxy.log().matches("configuration reloaded").count() > before).then_some(())
    })
    .await;
    let services = admin_json(port, &secret, &["services"]).await;
    assert_eq!(services["services"][0]["price_msat"], 12_000);
    assert_eq!(status_with_token(&node, &proxy, &tokens).await, 402);
    let stats = admin_json(port, &secret, &["stats"]).await;
    assert_eq!(stats["revenue"][0]["count"], 1, "{stats}");
    let recent = admin_json(port, &secret, &["recent"]).await;
    assert_eq!(recent["tokens"][0]["token_id"], id.as_str());

    // Errors of the API: exit 22 with its message.
    let out = admin(
        port,
        &secret.join("admin.secret"),
        &["recent", "--limit", "0"],
    )
    .await;
    assert_eq!(code(&out), 22, "{}", stderr(&out));
    assert!(stderr(&out).contains("limit"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_revocation_list_revoke_is_409_with_a_clear_message() {
    let upstream = Upstream::start().await;
    let node = DevNode::start().await;
    let secret = secret_file();
    let port = free_port();
    let services = format!("{}{}", admin_section(port, &secret), paid(&upstream, 10));
    let proxy = Proxy::start(&node, &services).await;
    wait_admin(port, &proxy).await;
    let id = "ab".repeat(32);
    let out = admin(port, &secret.join("admin.secret"), &["revoke", &id]).await;
    assert_eq!(code(&out), 22, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("409") && stderr(&out).contains("no [revocation] is configured"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_readable_secret_file_is_refused_at_start() {
    let node = DevNode::start().await;
    let secret = secret_file();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(
            secret.join("admin.secret"),
            std::fs::Permissions::from_mode(0o640),
        )
        .unwrap();
    }
    let dir = TempDir::new("admin-perm");
    std::fs::write(dir.join("s"), "42".repeat(32)).unwrap();
    std::fs::write(
        dir.join("p.toml"),
        format!(
            "listen = \"127.0.0.1:{}\"\n[backend]\nurl = \"{}\"\nmacaroon_file = \"{}\"\ntls_cert_file = \"{}\"\n\
             [root_keys]\nmaster_secret_file = \"s\"\n{}\
             [[services]]\nname = \"a\"\nupstream = \"http://127.0.0.1:1\"\nfree = true\n",
            free_port(),
            node.server_url(),
            node.file("server.macaroon"),
            node.file("server-tls.cert"),
            admin_section(free_port(), &secret),
        ),
    )
    .unwrap();
    let mut cmd = l402(&["proxy", "--config"]);
    cmd.arg(dir.join("p.toml"));
    let out = run_async(cmd).await;
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("chmod 600"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_revoke_on_one_proxy_is_honoured_by_another_sharing_redis() {
    let Some(binary) = redis_server_binary("proxy_admin::redis") else {
        return;
    };
    let redis = RedisServer::start(&binary).await;
    let upstream = Upstream::start().await;
    let node = DevNode::start().await;
    let secret = secret_file();
    let revocation = format!(
        "[revocation]\nkind = \"redis\"\nurl = \"{}\"\nprefix = \"admin-test\"\n\
         max_token_lifetime_secs = 600\nstaleness_secs = 1\n\n",
        redis.url()
    );
    let (port_a, port_b) = (free_port(), free_port());
    let a = Proxy::start(
        &node,
        &format!(
            "{}{revocation}{}",
            admin_section(port_a, &secret),
            paid(&upstream, 10)
        ),
    )
    .await;
    let b = Proxy::start(
        &node,
        &format!(
            "{}{revocation}{}",
            admin_section(port_b, &secret),
            paid(&upstream, 10)
        ),
    )
    .await;
    wait_admin(port_a, &a).await;

    // One token, paid on A, presented to both (the same master secret): the client's
    // stored record is copied under B's origin.
    let tokens = TempDir::new("tokens");
    let id = pay(&node, &a, &upstream, &tokens).await;
    copy_token(&tokens, a.addr.port(), b.addr.port());
    assert_eq!(status_with_token(&node, &b, &tokens).await, 200);

    let out = admin(port_a, &secret.join("admin.secret"), &["revoke", &id]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(status_with_token(&node, &a, &tokens).await, 402);
    // B refuses it within its staleness bound (1 s here; polled, not timed).
    let start = Instant::now();
    while status_with_token(&node, &b, &tokens).await != 402 {
        assert!(start.elapsed() < Duration::from_secs(20), "{}", b.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let info = admin_json(port_b, &secret, &["info"]).await;
    assert_eq!(info["revocation"], "redis");
}

/// Copies the paid token record stored for `127.0.0.1:<from>` to `127.0.0.1:<to>`.
fn copy_token(tokens: &TempDir, from: u16, to: u16) {
    let store = l402_reqwest::store::FileTokenStore::open(tokens.path()).unwrap();
    for entry in std::fs::read_dir(tokens.path()).unwrap() {
        let path = entry.unwrap().path();
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Ok(mut record) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        let Some(key) = record["key"].as_str().map(str::to_owned) else {
            continue;
        };
        if record["record"]["state"] != "paid" || !key.contains(&format!(":{from}")) {
            continue;
        }
        let new_key = key.replace(&format!(":{from}"), &format!(":{to}"));
        record["key"] = serde_json::Value::from(new_key.clone());
        let copy = store.path_for(&new_key);
        std::fs::write(&copy, record.to_string()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        return;
    }
    panic!("no paid token stored for port {from}");
}
