//! `l402 token decode/mint/verify`, through the binary, on the shared vectors.

use l402_core::backend::InvoiceRequest;
use l402_core::encoding::base64_encode;
use l402_core::{
    Amount, Challenge, Identifier, InvoiceBackend, Macaroon, PaymentHash, RootKey, TokenId,
};
use serde_json::Value;

use crate::support::{TempDir, code, l402, run, stderr, stdout, stdout_json};

const PREIMAGE: &str = "0000000000000000000000000000000000000000000000000000000000000001";

fn vectors() -> Vec<Value> {
    let shared = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/vectors/macaroon-v2.json"
    );
    let copy = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../l402-core/tests/data/macaroon-v2.json"
    );
    let text = std::fs::read_to_string(shared)
        .or_else(|_| std::fs::read_to_string(copy))
        .expect("vector file");
    let file: Value = serde_json::from_str(&text).unwrap();
    let vectors = file["vectors"].as_array().unwrap().clone();
    assert!(vectors.len() >= 7);
    vectors
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap()
}

#[test]
fn decode_reproduces_every_vector() {
    for v in vectors() {
        let b64 = s(&v["macaroon_base64_std"]);
        let url_safe = b64
            .replace('+', "-")
            .replace('/', "_")
            .trim_end_matches('=')
            .to_owned();
        for input in [b64.to_owned(), url_safe] {
            let out = run(l402(&["token", "decode", &input]));
            assert_eq!(code(&out), 0, "{}: {}", v["name"], stderr(&out));
            let j = stdout_json(&out);
            assert_eq!(j["kind"], "macaroon");
            assert_eq!(j["location"], v["location"], "{}", v["name"]);
            assert_eq!(j["identifier"]["version"], v["identifier"]["version"]);
            assert_eq!(
                j["identifier"]["payment_hash"],
                v["identifier"]["payment_hash_hex"]
            );
            assert_eq!(j["identifier"]["token_id"], v["identifier"]["token_id_hex"]);
            assert_eq!(j["identifier"]["hex"], v["identifier_hex"]);
            assert_eq!(j["caveats"], v["caveats"], "{}", v["name"]);
            assert_eq!(j["signature"], v["signature_hex"], "{}", v["name"]);
            assert_eq!(j["macaroon_base64"], v["macaroon_base64_std"]);
        }
    }
}

#[test]
fn mint_reproduces_every_vector() {
    let dir = TempDir::new("mint");
    for v in vectors() {
        std::fs::write(dir.join("root.key"), format!("{}\n", s(&v["root_key_hex"]))).unwrap();
        let mut args = vec![
            "token".to_owned(),
            "mint".into(),
            "--root-key-file".into(),
            dir.str("root.key"),
            "--payment-hash".into(),
            s(&v["identifier"]["payment_hash_hex"]).into(),
            "--token-id".into(),
            s(&v["identifier"]["token_id_hex"]).into(),
        ];
        if let Some(loc) = v["location"].as_str() {
            args.extend(["--location".into(), loc.into()]);
        }
        for c in v["caveats"].as_array().unwrap() {
            args.extend(["--caveat".into(), s(c).into()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(l402(&args));
        assert_eq!(code(&out), 0, "{}: {}", v["name"], stderr(&out));
        assert_eq!(
            stdout(&out).trim(),
            s(&v["macaroon_base64_std"]),
            "{}",
            v["name"]
        );
    }
}

#[test]
fn mint_then_verify_round_trip_with_the_key_in_the_environment() {
    let key = "0707070707070707070707070707070707070707070707070707070707070707";
    let hash = "ec4916dd28fc4c10d78e287ca5d9cc51ee1ae73cbfde08c6b37324cbfaac8bc5";
    let mut mint = l402(&[
        "token",
        "mint",
        "--payment-hash",
        hash,
        "--caveat",
        "services=weather:0",
        "--caveat",
        "weather_capabilities=forecast",
    ]);
    mint.env("L402_ROOT_KEY", key);
    let out = run(mint);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let mac = stdout(&out).trim().to_owned();

    let verify = |extra: &[&str]| {
        let mut cmd = l402(&["token", "verify", "--preimage", PREIMAGE]);
        cmd.args(extra).arg(&mac).env("L402_ROOT_KEY", key);
        run(cmd)
    };
    let out = verify(&["--capability", "forecast"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let j = stdout_json(&out);
    assert_eq!(j["valid"], true);
    assert_eq!(j["receipt"]["service"], "weather");
    assert_eq!(j["receipt"]["payment_hash"], hash);

    let out = verify(&["--capability", "history"]);
    assert_eq!(code(&out), 1);
    assert_eq!(stdout_json(&out)["check"], "capability");
    let out = verify(&["--service", "other"]);
    assert_eq!(code(&out), 1);
    assert_eq!(stdout_json(&out)["check"], "service");

    // The Authorization form carries the preimage itself.
    let mut cmd = l402(&["token", "verify"]);
    cmd.arg(format!("L402 {mac}:{PREIMAGE}"))
        .env("L402_ROOT_KEY", key);
    assert_eq!(code(&run(cmd)), 0);
}

#[test]
fn verify_the_aperture_vectors_and_name_each_failed_check() {
    let dir = TempDir::new("verify");
    let all = vectors();
    let vb = all.iter().find(|v| v["name"] == "VB").unwrap();
    std::fs::write(dir.join("root.key"), s(&vb["root_key_hex"])).unwrap();
    let mac = s(&vb["macaroon_base64_std"]);
    let verify = |preimage: &str, now: &str, extra: &[&str], mac: &str| {
        let mut cmd = l402(&["token", "verify", "--root-key-file"]);
        cmd.arg(dir.join("root.key"))
            .args(["--preimage", preimage, "--now", now])
            .args(extra)
            .arg(mac);
        run(cmd)
    };
    let out = verify(
        PREIMAGE,
        "1800000000",
        &["--service", "myservice", "--capability", "add"],
        mac,
    );
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let j = stdout_json(&out);
    assert_eq!(j["receipt"]["token_id"], vb["identifier"]["token_id_hex"]);
    assert_eq!(j["receipt"]["valid_until"], 1_893_456_000);
    assert_eq!(
        j["receipt"]["capabilities"],
        serde_json::json!(["add", "subtract"])
    );

    // The preimage caveat variant needs no --preimage.
    let paid = all.iter().find(|v| v["name"] == "VBpaid").unwrap();
    let mut cmd = l402(&["token", "verify", "--root-key-file"]);
    cmd.arg(dir.join("root.key"))
        .args(["--now", "1800000000"])
        .arg(s(&paid["macaroon_base64_std"]));
    assert_eq!(code(&run(cmd)), 0);

    let wrong = "0000000000000000000000000000000000000000000000000000000000000002";
    let out = verify(wrong, "1800000000", &[], mac);
    assert_eq!(
        (code(&out), stdout_json(&out)["check"].clone()),
        (1, "preimage".into())
    );
    let out = verify(PREIMAGE, "1900000000", &[], mac);
    assert_eq!(
        (code(&out), stdout_json(&out)["check"].clone()),
        (1, "expired".into())
    );

    // An appended caveat we do not know: rejected, unless told to ignore it.
    let mut attenuated = Macaroon::from_base64(mac).unwrap();
    attenuated.add_first_party_caveat("ip=127.0.0.1").unwrap();
    let attenuated = attenuated.to_base64();
    let out = verify(PREIMAGE, "1800000000", &[], &attenuated);
    assert_eq!(
        (code(&out), stdout_json(&out)["check"].clone()),
        (1, "unknown_caveat".into())
    );
    let out = verify(
        PREIMAGE,
        "1800000000",
        &["--ignore-unknown-caveats"],
        &attenuated,
    );
    assert_eq!(code(&out), 0);

    // Another key: the signature check fails.
    std::fs::write(dir.join("root.key"), "ab".repeat(32)).unwrap();
    let out = verify(PREIMAGE, "1800000000", &[], mac);
    assert_eq!(
        (code(&out), stdout_json(&out)["check"].clone()),
        (1, "signature".into())
    );
}

#[test]
fn decode_credentials_challenges_and_foreign_macaroons() {
    let vb = vectors().into_iter().find(|v| v["name"] == "VB").unwrap();
    let mac = s(&vb["macaroon_base64_std"]);
    let out = run(l402(&[
        "token",
        "decode",
        &format!("Authorization: LSAT {mac}:{PREIMAGE}"),
    ]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let j = stdout_json(&out);
    assert_eq!(j["kind"], "credential");
    assert_eq!(j["preimage_matches_payment_hash"], true);

    // A macaroon whose identifier is not an L402 one still decodes.
    let key = RootKey::from_bytes([9; 32]);
    let mut foreign = Macaroon::new(&key, b"user=alice".to_vec(), Some("example".into())).unwrap();
    foreign.add_first_party_caveat("time < 2030").unwrap();
    let out = run(l402(&["token", "decode", &foreign.to_base64()]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let j = stdout_json(&out);
    assert_eq!(j["identifier"]["hex"], "757365723d616c696365");
    assert!(
        j["identifier"]["note"]
            .as_str()
            .unwrap()
            .contains("not an L402")
    );
    assert_eq!(j["caveats"][0], "time < 2030");
    // Hex works too.
    let out = run(l402(&["token", "decode", &foreign.to_hex()]));
    assert_eq!(stdout_json(&out)["signature"], j["signature"]);

    // A challenge with a real (mock) invoice.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let node = l402_mock::MockNetwork::new().node("srv").build().unwrap();
    let created = rt
        .block_on(node.create_invoice(&InvoiceRequest::new(Amount::from_msat(21_000)).memo("api")))
        .unwrap();
    let id = Identifier::new(
        PaymentHash::from(&created.invoice),
        TokenId::from_bytes([3; 32]),
    );
    let mac = Macaroon::new(&key, id.encode().to_vec(), Some("lsat".into())).unwrap();
    let challenge = Challenge::new(mac, created.invoice.to_string());
    let header = format!(
        "WWW-Authenticate: {}",
        challenge.to_header_string(l402_core::Scheme::L402)
    );
    let out = run(l402(&["token", "decode", &header]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let j = stdout_json(&out);
    assert_eq!(j["kind"], "challenge");
    assert_eq!(j["decoded_invoice"]["amount_msat"], 21_000);
    assert_eq!(
        j["decoded_invoice"]["payment_hash"],
        created.payment_hash.to_hex()
    );
    assert_eq!(j["decoded_invoice"]["network"], "regtest");
    assert_eq!(j["decoded_invoice"]["expiry_seconds"], 3600);
    assert_eq!(j["invoice_matches_token"], true);
    assert_eq!(j["identifier"]["token_id"], "03".repeat(32));
}

#[test]
fn bad_input_and_missing_keys_are_configuration_errors() {
    assert_eq!(code(&run(l402(&["token", "decode", "!!!"]))), 2);
    let out = run(l402(&["token", "mint", "--payment-hash", &"aa".repeat(32)]));
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("L402_ROOT_KEY"), "{}", stderr(&out));
    let mut cmd = l402(&["token", "mint", "--payment-hash", "xyz"]);
    cmd.env("L402_ROOT_KEY", "01".repeat(32));
    assert_eq!(code(&run(cmd)), 2);
    let mut cmd = l402(&["token", "mint", "--payment-hash", &"aa".repeat(32)]);
    cmd.env("L402_ROOT_KEY", "short");
    assert_eq!(code(&run(cmd)), 2);
    let mut cmd = l402(&["token", "verify", "AgJC"]);
    cmd.env("L402_ROOT_KEY", "01".repeat(32));
    assert_eq!(code(&run(cmd)), 2);
    // base64 of a non-macaroon.
    assert_eq!(
        code(&run(l402(&["token", "decode", &base64_encode(b"hello")]))),
        2
    );
}

#[test]
fn help_documents_every_command_and_the_exit_codes() {
    let out = run(l402(&["--help"]));
    assert_eq!(code(&out), 0);
    let text = stdout(&out);
    for word in ["get", "proxy", "token", "Exit codes", "22"] {
        assert!(text.contains(word), "{word} missing from --help");
    }
    // `dev-node` exists exactly when its feature is on.
    assert_eq!(text.contains("dev-node"), cfg!(feature = "dev-node"));
    let dev_node = run(l402(&["dev-node", "--help"]));
    assert_eq!(code(&dev_node) == 0, cfg!(feature = "dev-node"));
    for cmd in [
        vec!["get", "--help"],
        vec!["proxy", "--help"],
        vec!["token", "decode", "--help"],
        vec!["token", "mint", "--help"],
        vec!["token", "verify", "--help"],
    ] {
        let out = run(l402(&cmd));
        assert_eq!(code(&out), 0, "{cmd:?}");
    }
    let get = stdout(&run(l402(&["get", "--help"])));
    for flag in [
        "--max-cost",
        "--max-fee",
        "--budget",
        "--no-pay",
        "--token-dir",
        "--network",
        "L402_NODE_URL",
        "22",
    ] {
        assert!(get.contains(flag), "{flag} missing from get --help");
    }
}
