//! `l402 node bake` against the fake nodes: each role baked on LND and on CLN, inspected,
//! restricted and used through the real backends (a pay-only credential cannot create
//! invoices, an invoice-only one cannot pay, a read-only one can do neither), and bad
//! input refused with exit code 2 and nothing written.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use l402_cln::ClnBackend;
use l402_cln_fake::{FakeCln, FakeClnOptions, FakeRune};
use l402_core::backend::{InvoiceRequest, PayParams};
use l402_core::{Amount, InvoiceBackend, PayError, PaymentBackend};
use l402_lnd::LndBackend;
use l402_lnd_fake::{FakeLnd, FakeLndOptions, FakeMacaroon};
use l402_mock::{MockNetwork, MockNode};
use serde_json::{Value, json};

use crate::support::{TempDir, code, l402, run_async, stderr, stdout, stdout_json};

fn network() -> (MockNetwork, MockNode, MockNode) {
    let network = MockNetwork::builder().build();
    let server = network.node("server").build().unwrap();
    let agent = network
        .node("agent")
        .balance(Amount::from_msat(10_000_000))
        .build()
        .unwrap();
    (network, server, agent)
}

fn pay_params() -> PayParams {
    PayParams::new(Amount::from_msat(10_000), Duration::from_secs(10))
}

#[cfg(unix)]
fn assert_private(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{}", path.display());
}

#[cfg(not(unix))]
fn assert_private(_path: &Path) {}

/// `l402 node bake` for LND at `lnd` with the macaroon in `mac`.
fn lnd_bake(lnd: &FakeLnd, dir: &TempDir, mac: &str, role: &str, out: &str) -> Command {
    let mut cmd = l402(&["node", "bake", "--role", role, "--node-url", lnd.base_url()]);
    cmd.arg("--macaroon-file")
        .arg(dir.join(mac))
        .arg("--tls-cert-file")
        .arg(dir.join("tls.cert"))
        .arg("--out")
        .arg(dir.join(out));
    cmd
}

fn cln_bake(cln: &FakeCln, dir: &TempDir, rune: &str, role: &str, out: &str) -> Command {
    let mut cmd = l402(&[
        "node",
        "bake",
        "--backend",
        "cln",
        "--role",
        role,
        "--node-url",
        cln.base_url(),
        "--tls-server-name",
        "cln",
    ]);
    cmd.arg("--rune-file")
        .arg(dir.join(rune))
        .arg("--tls-cert-file")
        .arg(dir.join("ca.pem"))
        .arg("--out")
        .arg(dir.join(out));
    cmd
}

async fn ok(cmd: Command) -> Output {
    let out = run_async(cmd).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    out
}

async fn inspect(dir: &TempDir, file: &str) -> Value {
    let out = ok(l402(&["node", "inspect", &dir.str(file), "--json"])).await;
    stdout_json(&out)
}

fn lnd_backend(lnd: &FakeLnd, dir: &TempDir, file: &str) -> LndBackend {
    LndBackend::builder(lnd.base_url())
        .macaroon_file(dir.join(file))
        .tls_cert_file(dir.join("tls.cert"))
        .request_timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn cln_backend(cln: &FakeCln, dir: &TempDir, file: &str) -> ClnBackend {
    ClnBackend::builder(cln.base_url())
        .rune_file(dir.join(file))
        .ca_cert_file(dir.join("ca.pem"))
        .tls_server_name("cln")
        .request_timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn not_attempted(e: &PayError) -> String {
    match e {
        PayError::NotAttempted(e) => e.message().to_owned(),
        other => panic!("the node must refuse before paying: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lnd_roles_are_baked_inspected_restricted_and_hold() {
    let (_net, server_node, agent_node) = network();
    let server = FakeLnd::start(server_node, FakeLndOptions::new())
        .await
        .unwrap();
    let agent = FakeLnd::start(agent_node, FakeLndOptions::new())
        .await
        .unwrap();
    let sdir = TempDir::new("bake-lnd-server");
    let adir = TempDir::new("bake-lnd-agent");
    for (dir, lnd) in [(&sdir, &server), (&adir, &agent)] {
        std::fs::write(
            dir.join("admin.macaroon"),
            lnd.macaroon(FakeMacaroon::Admin),
        )
        .unwrap();
        std::fs::write(dir.join("tls.cert"), lnd.tls_cert_pem().unwrap()).unwrap();
    }

    // Invoice role, on the server, under its own root key id.
    let mut cmd = lnd_bake(
        &server,
        &sdir,
        "admin.macaroon",
        "invoice",
        "proxy.macaroon",
    );
    cmd.args(["--root-key-id", "3"]);
    let out = ok(cmd).await;
    let text = stdout(&out);
    assert!(text.contains("wrote "), "{text}");
    assert!(
        text.contains("permissions: info:read invoices:read invoices:write"),
        "{text}"
    );
    assert!(text.contains("can spend:   no"), "{text}");
    assert_private(&sdir.join("proxy.macaroon"));
    let v = inspect(&sdir, "proxy.macaroon").await;
    assert_eq!(
        v["permissions"],
        json!(["info:read", "invoices:read", "invoices:write"])
    );
    assert_eq!(v["storage_id"], "3");
    assert_eq!(v["beyond_role"]["invoice"]["extra"], json!([]));

    // Pay role, on the agent; JSON output.
    let mut cmd = lnd_bake(&agent, &adir, "admin.macaroon", "pay", "agent.macaroon");
    cmd.arg("--json");
    let out = ok(cmd).await;
    let v = stdout_json(&out);
    assert_eq!(
        v["permissions"],
        json!(["info:read", "offchain:read", "offchain:write"])
    );
    assert_eq!(v["beyond_role"]["payment"]["extra"], json!([]));
    assert_eq!(v["can_spend"], true);
    assert_private(&adir.join("agent.macaroon"));

    // Read role.
    ok(lnd_bake(
        &server,
        &sdir,
        "admin.macaroon",
        "read",
        "read.macaroon",
    ))
    .await;
    let v = inspect(&sdir, "read.macaroon").await;
    assert_eq!(v["can_spend"], false);
    assert!(
        v["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p.as_str().unwrap().ends_with(":read")),
        "{v}"
    );

    // Restricted offline (an hour, this address): still works, as LND checks it.
    for (dir, from, to) in [
        (&sdir, "proxy.macaroon", "proxy-1h.macaroon"),
        (&adir, "agent.macaroon", "agent-1h.macaroon"),
    ] {
        ok(l402(&[
            "node",
            "restrict",
            &dir.str(from),
            "--out",
            &dir.str(to),
            "--timeout",
            "3600",
            "--ip",
            "127.0.0.1",
        ]))
        .await;
    }

    let invoicer = lnd_backend(&server, &sdir, "proxy-1h.macaroon");
    let payer = lnd_backend(&agent, &adir, "agent-1h.macaroon");
    let reader = lnd_backend(&server, &sdir, "read.macaroon");
    let created = invoicer
        .create_invoice(&InvoiceRequest::new(Amount::from_msat(2_000)))
        .await
        .unwrap();
    payer
        .pay_invoice(&created.invoice, &pay_params())
        .await
        .unwrap();
    assert_eq!(agent.node().payments().len(), 1);

    // The pay-only macaroon cannot create invoices: LND's refusal, no invoice made.
    let err = payer
        .create_invoice(&InvoiceRequest::new(Amount::from_msat(1_000)))
        .await
        .unwrap_err();
    assert!(err.message().contains("permission denied"), "{err}");
    assert!(agent.node().invoices().is_empty());
    // The invoice-only one cannot pay: refused, nothing paid from the server.
    let other = agent
        .node()
        .create_invoice(&InvoiceRequest::new(Amount::from_msat(1_000)))
        .await
        .unwrap();
    let err = invoicer
        .pay_invoice(&other.invoice, &pay_params())
        .await
        .unwrap_err();
    assert!(not_attempted(&err).contains("permission denied"), "{err:?}");
    // The read-only one can do neither.
    let err = reader
        .create_invoice(&InvoiceRequest::new(Amount::from_msat(1_000)))
        .await
        .unwrap_err();
    assert!(err.message().contains("permission denied"), "{err}");
    let err = reader
        .pay_invoice(&other.invoice, &pay_params())
        .await
        .unwrap_err();
    assert!(not_attempted(&err).contains("permission denied"), "{err:?}");
    assert!(server.node().payments().is_empty());
    assert_eq!(server.node().invoices().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cln_roles_are_baked_inspected_restricted_and_hold() {
    let (_net, server_node, agent_node) = network();
    let server = FakeCln::start(server_node, FakeClnOptions::new())
        .await
        .unwrap();
    let agent = FakeCln::start(agent_node, FakeClnOptions::new())
        .await
        .unwrap();
    let sdir = TempDir::new("bake-cln-server");
    let adir = TempDir::new("bake-cln-agent");
    for (dir, cln) in [(&sdir, &server), (&adir, &agent)] {
        std::fs::write(dir.join("admin.rune"), cln.rune(FakeRune::Admin)).unwrap();
        std::fs::write(dir.join("ca.pem"), cln.ca_pem().unwrap()).unwrap();
    }

    let out = ok(cln_bake(
        &server,
        &sdir,
        "admin.rune",
        "invoice",
        "proxy.rune",
    ))
    .await;
    let text = stdout(&out);
    assert!(
        text.contains("method=invoice|method=listinvoices|method=waitinvoice|method=getinfo"),
        "{text}"
    );
    assert!(text.contains("can spend:   no"), "{text}");
    assert_private(&sdir.join("proxy.rune"));

    let mut cmd = cln_bake(&agent, &adir, "admin.rune", "pay", "agent.rune");
    cmd.args(["--max-fee-msat", "10000", "--rate", "600", "--json"]);
    let v = stdout_json(&ok(cmd).await);
    assert_eq!(
        v["restrictions"],
        json!([
            format!("={}", v["unique_id"].as_str().unwrap()),
            "method=xpay|method=listpays|method=listsendpays|method=decode|method=getinfo",
            "method/xpay|pnamemaxfee<10001",
            "rate=600"
        ])
    );
    assert_eq!(v["beyond_role"]["payment"]["extra"], json!([]));

    ok(cln_bake(&server, &sdir, "admin.rune", "read", "read.rune")).await;
    let v = inspect(&sdir, "read.rune").await;
    assert_eq!(v["can_spend"], false);

    // Narrowed offline: an hour.
    for (dir, from, to) in [
        (&sdir, "proxy.rune", "proxy-1h.rune"),
        (&adir, "agent.rune", "agent-1h.rune"),
    ] {
        ok(l402(&[
            "node",
            "restrict",
            &dir.str(from),
            "--out",
            &dir.str(to),
            "--timeout",
            "3600",
        ]))
        .await;
    }
    let invoicer = cln_backend(&server, &sdir, "proxy-1h.rune");
    let payer = cln_backend(&agent, &adir, "agent-1h.rune");
    let reader = cln_backend(&server, &sdir, "read.rune");
    let created = invoicer
        .create_invoice(&InvoiceRequest::new(Amount::from_msat(2_000)))
        .await
        .unwrap();
    payer
        .pay_invoice(&created.invoice, &pay_params())
        .await
        .unwrap();
    assert_eq!(agent.node().payments().len(), 1);

    let err = payer
        .create_invoice(&InvoiceRequest::new(Amount::from_msat(1_000)))
        .await
        .unwrap_err();
    assert!(err.message().contains("Not permitted"), "{err}");
    assert!(agent.node().invoices().is_empty());
    let other = agent
        .node()
        .create_invoice(&InvoiceRequest::new(Amount::from_msat(1_000)))
        .await
        .unwrap();
    let err = invoicer
        .pay_invoice(&other.invoice, &pay_params())
        .await
        .unwrap_err();
    assert!(not_attempted(&err).contains("Not permitted"), "{err:?}");
    let err = reader
        .create_invoice(&InvoiceRequest::new(Amount::from_msat(1_000)))
        .await
        .unwrap_err();
    assert!(err.message().contains("Not permitted"), "{err}");
    let err = reader
        .pay_invoice(&other.invoice, &pay_params())
        .await
        .unwrap_err();
    assert!(not_attempted(&err).contains("Not permitted"), "{err:?}");
    assert!(server.node().payments().is_empty());
    assert_eq!(server.node().invoices().len(), 1);
}

/// Exit code 2, a message containing `needle`, and no output file.
async fn refused(cmd: Command, out_file: &Path, needle: &str) {
    let out = run_async(cmd).await;
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains(needle), "{}", stderr(&out));
    assert!(!out_file.exists(), "nothing is written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lnd_bad_input_is_refused_and_nothing_is_written() {
    let (_net, server_node, _agent) = network();
    let lnd = FakeLnd::start(server_node, FakeLndOptions::new())
        .await
        .unwrap();
    let dir = TempDir::new("bake-lnd-bad");
    std::fs::write(dir.join("tls.cert"), lnd.tls_cert_pem().unwrap()).unwrap();
    let admin = lnd.macaroon(FakeMacaroon::Admin);
    std::fs::write(dir.join("admin.macaroon"), &admin).unwrap();
    std::fs::write(dir.join("truncated.macaroon"), &admin[..admin.len() / 2]).unwrap();
    std::fs::write(dir.join("junk.macaroon"), b"\x02not a macaroon at all").unwrap();
    std::fs::write(
        dir.join("invoice.macaroon"),
        lnd.macaroon(FakeMacaroon::InvoiceServer),
    )
    .unwrap();
    let out = dir.join("new.macaroon");
    for (mac, needle) in [
        ("truncated.macaroon", "truncated.macaroon"),
        ("junk.macaroon", "junk.macaroon"),
        ("missing.macaroon", "cannot read"),
    ] {
        refused(
            lnd_bake(&lnd, &dir, mac, "pay", "new.macaroon"),
            &out,
            needle,
        )
        .await;
    }
    // The node refuses a macaroon without macaroon:generate.
    refused(
        lnd_bake(&lnd, &dir, "invoice.macaroon", "pay", "new.macaroon"),
        &out,
        "macaroon:generate",
    )
    .await;
    // Flags of the other node.
    let mut cmd = lnd_bake(&lnd, &dir, "admin.macaroon", "pay", "new.macaroon");
    cmd.args(["--rate", "5"]);
    refused(cmd, &out, "--backend cln").await;
    // Writing over the baking credential.
    refused(
        {
            let mut cmd = lnd_bake(&lnd, &dir, "admin.macaroon", "pay", "admin.macaroon");
            cmd.arg("--force");
            cmd
        },
        &dir.join("never"),
        "baking credential itself",
    )
    .await;
    assert_eq!(std::fs::read(dir.join("admin.macaroon")).unwrap(), admin);

    // An existing file is kept unless --force.
    std::fs::write(&out, b"keep").unwrap();
    let res = run_async(lnd_bake(
        &lnd,
        &dir,
        "admin.macaroon",
        "pay",
        "new.macaroon",
    ))
    .await;
    assert_eq!(code(&res), 2);
    assert!(stderr(&res).contains("--force"), "{}", stderr(&res));
    assert_eq!(std::fs::read(&out).unwrap(), b"keep");
    let mut cmd = lnd_bake(&lnd, &dir, "admin.macaroon", "pay", "new.macaroon");
    cmd.arg("--force");
    ok(cmd).await;
    assert_ne!(std::fs::read(&out).unwrap(), b"keep");
    assert_private(&out);
    std::fs::remove_file(&out).unwrap();

    // A node that is gone: exit 1, nothing written.
    lnd.shutdown();
    let res = run_async(lnd_bake(
        &lnd,
        &dir,
        "admin.macaroon",
        "pay",
        "new.macaroon",
    ))
    .await;
    assert_eq!(code(&res), 1, "{}", stderr(&res));
    assert!(!out.exists());
    // No temporary files left behind.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cln_bad_input_is_refused_and_nothing_is_written() {
    let (_net, server_node, _agent) = network();
    let cln = FakeCln::start(server_node, FakeClnOptions::new())
        .await
        .unwrap();
    let dir = TempDir::new("bake-cln-bad");
    std::fs::write(dir.join("ca.pem"), cln.ca_pem().unwrap()).unwrap();
    std::fs::write(dir.join("admin.rune"), cln.rune(FakeRune::Admin)).unwrap();
    std::fs::write(dir.join("invoice.rune"), cln.rune(FakeRune::InvoiceOnly)).unwrap();
    std::fs::write(dir.join("malformed.rune"), "not a rune!").unwrap();
    std::fs::write(dir.join("short.rune"), "c2hvcnQ=").unwrap();
    let out = dir.join("new.rune");
    for (rune, needle) in [
        ("malformed.rune", "not a rune"),
        ("short.rune", "not a rune"),
    ] {
        refused(cln_bake(&cln, &dir, rune, "pay", "new.rune"), &out, needle).await;
    }
    // The node refuses a rune that does not allow createrune.
    refused(
        cln_bake(&cln, &dir, "invoice.rune", "invoice", "new.rune"),
        &out,
        "createrune",
    )
    .await;
    // An LND macaroon given as a rune.
    std::fs::write(dir.join("lnd.macaroon"), [2u8, 1, 0, 5]).unwrap();
    refused(
        cln_bake(&cln, &dir, "lnd.macaroon", "pay", "new.rune"),
        &out,
        "lnd.macaroon",
    )
    .await;
    let mut cmd = cln_bake(&cln, &dir, "admin.rune", "invoice", "new.rune");
    cmd.args(["--max-fee-msat", "5"]);
    refused(cmd, &out, "--role pay").await;
    let mut cmd = cln_bake(&cln, &dir, "admin.rune", "pay", "new.rune");
    cmd.args(["--macaroon-file", "x"]);
    refused(cmd, &out, "--backend lnd").await;
}
