//! `l402 dev-node`: the README loop (dev-node, echo, proxy, get) run from the files the
//! dev-node writes, on fake LND nodes and (`--backend cln`) fake Core Lightning nodes, and
//! the runes the CLN dev-node hands out allow each side only what it needs.

use std::net::SocketAddr;
use std::time::Duration;

use l402_cln::ClnBackend;
use l402_core::backend::{InvoiceRequest, PayParams};
use l402_core::node_credential::CredentialRole;
use l402_core::node_credential::rune::Rune;
use l402_core::{Amount, InvoiceBackend, PayError, PaymentBackend};

use crate::support::{
    Daemon, DevNode, Proxy, TempDir, code, free_port, l402, run_async, stderr, stdout, summary,
    wait_for_port,
};

/// `l402 get --json URL` configured only by the dev-node's `get.env`, as after
/// `. get.env`.
fn get_from_env(node: &DevNode, url: &str) -> std::process::Command {
    let mut cmd = l402(&["get", "--json", url]);
    cmd.envs(node.get_env());
    cmd
}

/// `l402 echo` on a free port.
async fn echo() -> (Daemon, TempDir, SocketAddr) {
    let dir = TempDir::new("echo");
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut cmd = l402(&["echo", "--listen"]);
    cmd.arg(addr.to_string());
    let mut daemon = Daemon::spawn("echo", cmd, &dir.join("echo.log"));
    wait_for_port(addr, &mut daemon).await;
    (daemon, dir, addr)
}

/// The README loop on `backend`: `dev-node`, `echo`, `proxy --config` the generated
/// `proxy.toml`, and `get` configured only by `get.env`: one payment, then the token is
/// reused, and the fake nodes count one payment.
async fn readme_loop(backend: &str) {
    let (_echo, _echo_dir, echo_addr) = echo().await;
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let upstream = format!("http://{echo_addr}");
    let node = DevNode::start_with(&[
        "--backend",
        backend,
        "--upstream",
        &upstream,
        "--proxy-listen",
        &listen,
    ])
    .await;
    let status = node.status();
    assert_eq!(status["backend"], backend);
    assert_eq!(status["payments"], 0);
    let env = node.get_env();
    let var = |name: &str| {
        env.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("get.env has no {name}"))
    };
    let has = |name: &str| env.iter().any(|(k, _)| k == name);
    assert_eq!(var("L402_BACKEND"), backend);
    assert_eq!(var("L402_NODE_URL"), status["payer"]["url"]);
    assert_eq!(var("L402_NETWORK"), "regtest");
    assert_eq!(var("L402_TOKEN_DIR"), node.file("tokens"));
    let config = std::path::PathBuf::from(node.file("proxy.toml"));
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains(&format!("kind = \"{backend}\"\n")), "{text}");
    if backend == "cln" {
        assert_eq!(var("L402_RUNE_FILE"), node.file("payer.rune"));
        assert_eq!(var("L402_TLS_CERT_FILE"), node.file("payer-ca.pem"));
        assert_eq!(var("L402_TLS_SERVER_NAME"), "cln");
        assert!(!has("L402_MACAROON_FILE"));
        assert!(!text.contains("macaroon"), "{text}");
        assert!(text.contains("rune_file = \"server.rune\"\n"), "{text}");
    } else {
        assert_eq!(var("L402_MACAROON_FILE"), node.file("payer.macaroon"));
        assert_eq!(var("L402_TLS_CERT_FILE"), node.file("payer-tls.cert"));
        assert!(!has("L402_RUNE_FILE") && !has("L402_TLS_SERVER_NAME"));
        assert!(!text.contains("rune"), "{text}");
        assert!(
            text.contains("macaroon_file = \"server.macaroon\"\n"),
            "{text}"
        );
    }

    // The proxy runs from the generated config as written.
    let proxy = Proxy::spawn(TempDir::new("devproxy"), &config, port).await;

    // First call: one payment of 10 sat (plus the dev-node's 1 sat routing fee).
    let url = proxy.url("/echo/hello");
    let out = run_async(get_from_env(&node, &url)).await;
    assert_eq!(code(&out), 0, "{}\n{}", stderr(&out), proxy.log());
    let body: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(body["path"], "/echo/hello");
    assert_eq!(body["headers"]["x-l402-service"], "echo");
    assert!(body["headers"].get("authorization").is_none());
    let s = summary(&out);
    assert_eq!(s["status"], 200);
    assert_eq!(s["payments"], 1);
    assert_eq!(s["amount_msat"], 10_000);
    assert_eq!(s["fee_msat"], 1_000);
    // Neither side warned about its credential.
    assert!(!stderr(&out).contains("WARN"), "{}", stderr(&out));
    assert!(!proxy.log().contains("WARN"), "{}", proxy.log());

    // Second call, a new process: the stored token (in the data directory) is reused.
    let out = run_async(get_from_env(&node, &url)).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let s = summary(&out);
    assert_eq!(s["payments"], 0);
    assert_eq!(s["token_reused"], true);
    assert!(
        std::fs::read_dir(node.file("tokens")).unwrap().count() > 0,
        "the token is kept in the data directory"
    );

    // The fake nodes saw exactly one payment, from the payer to the server.
    let status = node.wait_payments(1).await;
    assert_eq!(status["server"]["balance_msat"], 10_000);
    assert_eq!(status["payer"]["balance_msat"], 1_000_000_000 - 11_000);
    assert_eq!(status["total_paid_msat"], 10_000);
    assert_eq!(status["total_fees_msat"], 1_000);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(node.status()["payments"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_loop_runs_on_lnd() {
    readme_loop("lnd").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_loop_runs_on_core_lightning() {
    readme_loop("cln").await;
}

/// A CLN backend for one of the dev-node's nodes, from the files its status names,
/// refusing a rune that allows more than `role` needs.
fn backend(node: &DevNode, which: &str, role: CredentialRole) -> ClnBackend {
    let s = &node.status()[which];
    ClnBackend::builder(s["url"].as_str().unwrap())
        .rune_file(s["rune_file"].as_str().unwrap())
        .ca_cert_file(s["tls_cert_file"].as_str().unwrap())
        .tls_server_name(s["tls_server_name"].as_str().unwrap())
        .role(role)
        .refuse_excess_permissions()
        .build()
        .unwrap_or_else(|e| panic!("{which}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cln_dev_node_hands_out_least_privilege_runes() {
    let node = DevNode::start_with(&["--backend", "cln"]).await;
    let read = |name: &str| {
        let path = node.file(name);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
        Rune::parse(&std::fs::read_to_string(&path).unwrap()).unwrap()
    };

    // Offline: the server's rune makes invoices and cannot spend; the payer's pays and
    // can do nothing else that spends.
    let server = read("server.rune");
    assert!(!server.can_spend());
    assert!(server.excess(CredentialRole::Invoice).is_empty());
    for m in ["invoice", "listinvoices", "getinfo"] {
        assert!(server.allows_method(m), "{m}");
    }
    for m in ["xpay", "pay", "withdraw", "createrune", "listpays"] {
        assert!(!server.allows_method(m), "{m}");
    }
    let payer = read("payer.rune");
    assert!(!payer.is_unrestricted());
    assert!(payer.excess(CredentialRole::Payment).is_empty());
    for m in ["xpay", "listpays", "listsendpays", "getinfo"] {
        assert!(payer.allows_method(m), "{m}");
    }
    for m in ["invoice", "pay", "withdraw", "createrune", "fundchannel"] {
        assert!(!payer.allows_method(m), "{m}");
    }

    // `l402 node inspect` agrees.
    for (name, can_spend) in [("server.rune", false), ("payer.rune", true)] {
        let out = run_async(l402(&["node", "inspect", "--json", &node.file(name)])).await;
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["kind"], "cln-rune");
        assert_eq!(v["admin"], false);
        assert_eq!(v["unrestricted"], false);
        assert_eq!(v["can_spend"], can_spend, "{name}");
    }

    // On the nodes: each rune passes its role's check and does its job; the server's
    // cannot pay, the payer's cannot create invoices.
    let invoices = backend(&node, "server", CredentialRole::Invoice);
    let payments = backend(&node, "payer", CredentialRole::Payment);
    let created = invoices
        .create_invoice(&InvoiceRequest::new(Amount::from_msat(5_000)))
        .await
        .unwrap();
    let err = payments
        .create_invoice(&InvoiceRequest::new(Amount::from_msat(5_000)))
        .await
        .unwrap_err();
    assert!(!err.is_transient(), "{err}");
    let params = PayParams::new(Amount::from_msat(10_000), Duration::from_secs(10));
    let err = PaymentBackend::pay_invoice(&invoices, &created.invoice, &params)
        .await
        .unwrap_err();
    assert!(matches!(err, PayError::NotAttempted(_)), "{err}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(node.status()["payments"], 0);
    assert_eq!(node.status()["payer"]["balance_msat"], 1_000_000_000);
}

/// A SIGTERM sent the moment the status file appears (the nodes listen, the files are
/// written) stops the dev node with exit code 0, not killed by the signal, and leaves
/// the files it documents (the master secret and revocation file kept across runs).
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_right_after_start_exits_cleanly() {
    let mut node = DevNode::start().await;
    let status = node.daemon.terminate();
    assert_eq!(status.code(), Some(0), "{status}");
    for file in [
        "master.secret",
        "revoked.txt",
        "dev-node.json",
        "proxy.toml",
        "get.env",
    ] {
        assert!(
            std::path::Path::new(&node.file(file)).exists(),
            "{file} missing"
        );
    }
}
