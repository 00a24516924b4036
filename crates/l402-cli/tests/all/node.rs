//! `l402 node inspect/restrict`, through the binary, on macaroons and runes minted here.

use l402_core::node_credential::lnd::{LndMacaroon, MacaroonId, Op};
use l402_core::node_credential::rune::Rune;
use l402_core::{Macaroon, RootKey};

use crate::support::{TempDir, code, l402, run, stderr, stdout, stdout_json};

/// An LND macaroon with these permissions, as LND bakes one (binary V2, location `lnd`).
pub(crate) fn lnd_macaroon(ops: &[(&str, &[&str])]) -> Vec<u8> {
    let id = MacaroonId::new(
        vec![0x5a; 16],
        b"0".to_vec(),
        ops.iter()
            .map(|(e, a)| Op::new(*e, a.iter().copied()))
            .collect(),
    );
    Macaroon::new(
        &RootKey::from_bytes([4; 32]),
        id.encode(),
        Some("lnd".into()),
    )
    .unwrap()
    .encode()
}

pub(crate) const ADMIN_OPS: &[(&str, &[&str])] = &[
    ("address", &["read", "write"]),
    ("info", &["read", "write"]),
    ("invoices", &["read", "write"]),
    ("macaroon", &["generate", "read", "write"]),
    ("message", &["read", "write"]),
    ("offchain", &["read", "write"]),
    ("onchain", &["read", "write"]),
    ("peers", &["read", "write"]),
    ("signer", &["generate", "read"]),
];
pub(crate) const INVOICE_OPS: &[(&str, &[&str])] = &[("invoices", &["read", "write"])];

#[test]
fn inspect_lnd_macaroon_lists_permissions_and_caveats() {
    let dir = TempDir::new("node-inspect-lnd");
    let m = Macaroon::decode(&lnd_macaroon(INVOICE_OPS)).unwrap();
    let mut m = m;
    m.add_first_party_caveat("ipaddr 10.0.0.1").unwrap();
    std::fs::write(dir.join("invoice.macaroon"), m.encode()).unwrap();
    let out = run(l402(&[
        "node",
        "inspect",
        &dir.str("invoice.macaroon"),
        "--json",
    ]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v = stdout_json(&out);
    assert_eq!(v["kind"], "lnd-macaroon");
    assert_eq!(v["location"], "lnd");
    assert_eq!(v["nonce"], "5a".repeat(16));
    assert_eq!(v["storage_id"], "0");
    assert_eq!(
        v["permissions"],
        serde_json::json!(["invoices:read", "invoices:write"])
    );
    assert_eq!(v["caveats"][0]["ip"], "10.0.0.1");
    assert_eq!(v["can_spend"], false);
    assert_eq!(v["beyond_role"]["invoice"]["extra"], serde_json::json!([]));

    // Hex in a file (what `lncli bakemacaroon` prints) reads the same.
    std::fs::write(
        dir.join("admin.hex"),
        format!(
            "{}\n",
            Macaroon::decode(&lnd_macaroon(ADMIN_OPS)).unwrap().to_hex()
        ),
    )
    .unwrap();
    let out = run(l402(&["node", "inspect", &dir.str("admin.hex")]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("can spend:   yes"), "{text}");
    assert!(text.contains("admin:       yes"), "{text}");
    assert!(
        text.contains("beyond an invoice backend:") && text.contains("onchain:write"),
        "{text}"
    );
}

#[test]
fn inspect_cln_rune_lists_restrictions() {
    let dir = TempDir::new("node-inspect-cln");
    let master = Rune::from_secret(&[8; 32]).unwrap();
    let invoice = master
        .restrict("method=invoice|method=listinvoices|method=getinfo")
        .unwrap();
    // As `createrune` answers, in JSON.
    std::fs::write(
        dir.join("invoice.json"),
        serde_json::json!({ "rune": invoice.to_base64(), "unique_id": "0" }).to_string(),
    )
    .unwrap();
    let out = run(l402(&[
        "node",
        "inspect",
        &dir.str("invoice.json"),
        "--json",
    ]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v = stdout_json(&out);
    assert_eq!(v["kind"], "cln-rune");
    assert_eq!(
        v["restrictions"],
        serde_json::json!(["method=invoice|method=listinvoices|method=getinfo"])
    );
    assert_eq!(v["can_spend"], false);
    std::fs::write(dir.join("admin.rune"), master.to_base64()).unwrap();
    let v = stdout_json(&run(l402(&[
        "node",
        "inspect",
        &dir.str("admin.rune"),
        "--json",
    ])));
    assert_eq!(v["unrestricted"], true);
    assert_eq!(v["can_spend"], true);
}

#[test]
fn inspect_refuses_bad_input_with_exit_2() {
    let dir = TempDir::new("node-inspect-bad");
    let good = lnd_macaroon(INVOICE_OPS);
    // Truncated macaroon.
    std::fs::write(dir.join("cut"), &good[..good.len() / 2]).unwrap();
    // A valid macaroon whose identifier is not LND's (an L402 token's).
    let l402_mac = Macaroon::new(&RootKey::from_bytes([1; 32]), vec![0; 66], None).unwrap();
    std::fs::write(dir.join("l402"), l402_mac.encode()).unwrap();
    // A rune whose text is malformed.
    let mut bytes = vec![0u8; 32];
    bytes.extend(b"method");
    std::fs::write(
        dir.join("bad.rune"),
        l402_core::encoding::base64url_encode(&bytes),
    )
    .unwrap();
    std::fs::write(dir.join("junk"), "hello world").unwrap();
    for (name, want) in [
        ("cut", "not a macaroon"),
        ("l402", "not an lnd macaroon"),
        ("bad.rune", "malformed restriction"),
        ("junk", "not a rune"),
        ("missing", "cannot read"),
    ] {
        let out = run(l402(&["node", "inspect", &dir.str(name)]));
        assert_eq!(code(&out), 2, "{name}");
        assert!(stderr(&out).contains(want), "{name}: {}", stderr(&out));
        assert!(stdout(&out).is_empty(), "{name}");
    }
}

#[test]
fn restrict_lnd_adds_lnds_caveats_into_a_new_private_file() {
    let dir = TempDir::new("node-restrict-lnd");
    let input = dir.join("invoice.macaroon");
    let original = lnd_macaroon(INVOICE_OPS);
    std::fs::write(&input, &original).unwrap();
    let out_path = dir.str("narrow.macaroon");
    let out = run(l402(&[
        "node",
        "restrict",
        &dir.str("invoice.macaroon"),
        "--out",
        &out_path,
        "--timeout",
        "60",
        "--ip",
        "10.1.2.3",
    ]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(std::fs::read(&input).unwrap(), original, "input untouched");
    let new = LndMacaroon::from_bytes(&std::fs::read(&out_path).unwrap()).unwrap();
    let caveats = new.caveats();
    assert_eq!(caveats.len(), 2);
    assert!(caveats[0].starts_with("time-before 20"), "{caveats:?}");
    assert_eq!(caveats[1], "ipaddr 10.1.2.3");
    // The chain continues from the original signature: the node's key still verifies it.
    assert!(
        new.macaroon()
            .verify_signature(&RootKey::from_bytes([4; 32]))
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The output must not exist: nothing is overwritten.
    let before = std::fs::read(&out_path).unwrap();
    let again = run(l402(&[
        "node",
        "restrict",
        &dir.str("invoice.macaroon"),
        "--out",
        &out_path,
        "--timeout",
        "5",
    ]));
    assert_eq!(code(&again), 2);
    assert_eq!(std::fs::read(&out_path).unwrap(), before);
    // A rune flag on a macaroon is a usage error, and nothing is written.
    let wrong = run(l402(&[
        "node",
        "restrict",
        &dir.str("invoice.macaroon"),
        "--out",
        &dir.str("x"),
        "--restriction",
        "method=getinfo",
    ]));
    assert_eq!(code(&wrong), 2);
    assert!(!dir.join("x").exists());
}

#[test]
fn restrict_cln_appends_restrictions_the_node_accepts() {
    let dir = TempDir::new("node-restrict-cln");
    let master = Rune::from_secret(&[8; 32]).unwrap();
    let payer = master.restrict("method=xpay|method=listpays").unwrap();
    std::fs::write(dir.join("payer.rune"), payer.to_base64()).unwrap();
    let out_path = dir.str("narrow.rune");
    let out = run(l402(&[
        "node",
        "restrict",
        &dir.str("payer.rune"),
        "--out",
        &out_path,
        "--restriction",
        "method/xpay|pnameamount_msat<100001",
        "--timeout",
        "3600",
    ]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = std::fs::read_to_string(&out_path).unwrap();
    let new = Rune::parse(&text).unwrap();
    // What the node computes from its secret for the same restrictions.
    let expected = payer
        .restrict("method/xpay|pnameamount_msat<100001")
        .unwrap()
        .restrict(&new.restrictions()[2].to_string())
        .unwrap();
    assert_eq!(new, expected);
    assert!(new.restrictions()[2].to_string().starts_with("time<"));
    // Malformed restriction: exit 2, nothing written.
    let bad = run(l402(&[
        "node",
        "restrict",
        &dir.str("payer.rune"),
        "--out",
        &dir.str("bad"),
        "--restriction",
        "method",
    ]));
    assert_eq!(code(&bad), 2);
    assert!(!dir.join("bad").exists());
    let ip = run(l402(&[
        "node",
        "restrict",
        &dir.str("payer.rune"),
        "--out",
        &dir.str("ip"),
        "--ip",
        "1.2.3.4",
    ]));
    assert_eq!(code(&ip), 2);
}

fn proxy_config(dir: &TempDir, credential: &str, allow: bool) -> std::path::PathBuf {
    std::fs::write(dir.join("s"), "42".repeat(32)).unwrap();
    let allow = if allow {
        "allow_spending_credential = true\n"
    } else {
        ""
    };
    let path = dir.join(&format!("p-{allow_len}.toml", allow_len = allow.len()));
    std::fs::write(
        &path,
        format!(
            "[backend]\nurl = \"https://127.0.0.1:1\"\n{credential}\n{allow}\
             [root_keys]\nmaster_secret_file = \"s\"\n\
             [[services]]\nname = \"a\"\nupstream = \"http://x\"\nfree = true\n"
        ),
    )
    .unwrap();
    path
}

#[test]
fn proxy_refuses_a_credential_that_can_spend_unless_allowed() {
    let dir = TempDir::new("node-proxy-spend");
    std::fs::write(dir.join("admin.macaroon"), lnd_macaroon(ADMIN_OPS)).unwrap();
    std::fs::write(dir.join("invoice.macaroon"), lnd_macaroon(INVOICE_OPS)).unwrap();
    let admin = proxy_config(&dir, "macaroon_file = \"admin.macaroon\"", false);
    let mut cmd = l402(&["proxy", "--check", "--config"]);
    cmd.arg(&admin);
    let out = run(cmd);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("can spend") && err.contains("onchain:write"),
        "{err}"
    );
    assert!(err.contains("allow_spending_credential"), "{err}");

    // The explicit opt-in starts (the check passes), with the builder's warning.
    let allowed = proxy_config(&dir, "macaroon_file = \"admin.macaroon\"", true);
    let mut cmd = l402(&["proxy", "--check", "--config"]);
    cmd.arg(&allowed);
    let out = run(cmd);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    // An invoice-only macaroon needs no opt-in.
    let invoice = dir.join("invoice.toml");
    std::fs::copy(
        proxy_config(&dir, "macaroon_file = \"invoice.macaroon\"", false),
        &invoice,
    )
    .unwrap();
    let mut cmd = l402(&["proxy", "--check", "--config"]);
    cmd.arg(&invoice);
    let out = run(cmd);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    // CLN: an unrestricted rune is refused, an invoice-only one accepted.
    let master = Rune::from_secret(&[8; 32]).unwrap();
    std::fs::write(dir.join("admin.rune"), master.to_base64()).unwrap();
    let cln = proxy_config(&dir, "kind = \"cln\"\nrune_file = \"admin.rune\"", false);
    let mut cmd = l402(&["proxy", "--check", "--config"]);
    cmd.arg(&cln);
    let out = run(cmd);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("unrestricted"), "{}", stderr(&out));
    let invoice_rune = master
        .restrict("method=invoice|method=listinvoices|method=getinfo")
        .unwrap();
    std::fs::write(dir.join("admin.rune"), invoice_rune.to_base64()).unwrap();
    let mut cmd = l402(&["proxy", "--check", "--config"]);
    cmd.arg(&cln);
    let out = run(cmd);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}
