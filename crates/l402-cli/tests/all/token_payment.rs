//! `l402 token decode` on the `Payment` scheme (MPP): Aperture's vectors, and a real
//! charge whose invoice is checked against its request.

use std::time::{Duration, SystemTime};

use l402_core::Preimage;
use l402_core::payment_scheme::{
    ChallengeIdSecret, ChargeRequest, PaymentChallenge, PaymentCredential,
};
use serde_json::Value;

use crate::support::{code, l402, run, stderr, stdout, stdout_json};

/// A real regtest invoice for 1,000 sat and its preimage (the core's fixtures).
const INVOICE: &str = "lnbcrt10u1p4p3fgqpp5jm4j6l0qgr02hp6xe8w5ztcl4rer5al3azy477fqau8vsy0u3nnqdpdfs6rqv3qve5hsar4wfjn5gp3xqcrqgrnv96zq2rvdejzjxqrrsscqzzs9qyysgqsp5pktjrrjj47ne0ylmmu4hvavdmd43j2smglhvqtpce2txmtzxky4qltev2xxxlqwf6zamu4ajkttpjmyac9mpvr4fmdqjpj5nqwgvs5753hg0t5rxvpju5hu5lv49g5jxfg09q774v4h8mss7lunumf4r6ngp95f0cv";
const PREIMAGE: &str = "8c2653a1a051bcc2ce1978864402dd07e5699b591ae3de6a6c161c5f16fc6f5b";

fn vectors() -> Value {
    let shared = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/vectors/mpp-aperture.json"
    );
    let copy = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../l402-core/tests/data/mpp-aperture.json"
    );
    let text = std::fs::read_to_string(shared)
        .or_else(|_| std::fs::read_to_string(copy))
        .expect("vector file");
    serde_json::from_str(&text).unwrap()
}

fn section(name: &str) -> Vec<Value> {
    let v = vectors()[name].as_array().unwrap().clone();
    assert!(!v.is_empty(), "{name}");
    v
}

fn decode(input: &str) -> std::process::Output {
    run(l402(&["token", "decode", input]))
}

fn charge_challenge(request: &ChargeRequest) -> PaymentChallenge {
    let secret = ChallengeIdSecret::from_bytes(&[7; 32]).unwrap();
    let expires = SystemTime::now() + Duration::from_secs(900);
    PaymentChallenge::lightning_charge(&secret, "api.example.com", request, expires).unwrap()
}

#[test]
fn decodes_every_challenge_header_and_list_vector() {
    for v in section("challengeHeaders") {
        let header = v["header"].as_str().unwrap();
        let out = decode(&format!("WWW-Authenticate: {header}"));
        assert_eq!(code(&out), 0, "{}: {}", v["name"], stderr(&out));
        let j = stdout_json(&out);
        assert_eq!(j["kind"], "payment_challenge");
        let c = &j["challenges"][0];
        for field in ["id", "realm", "method", "intent"] {
            assert_eq!(c[field], v["parsed"][field], "{}: {field}", v["name"]);
        }
        assert_eq!(
            c["request_encoded"], v["parsed"]["request"],
            "{}",
            v["name"]
        );
        assert!(c["request"].is_object(), "{}: request decoded", v["name"]);
    }
    for v in section("challengeLists") {
        let out = decode(v["header"].as_str().unwrap());
        if v["error"] == true {
            assert_eq!(code(&out), 2, "{}: {}", v["name"], stdout(&out));
            continue;
        }
        assert_eq!(code(&out), 0, "{}: {}", v["name"], stderr(&out));
        let j = stdout_json(&out);
        let want = v["challenges"].as_array().unwrap();
        let got = j["challenges"].as_array().unwrap();
        assert_eq!(got.len(), want.len(), "{}", v["name"]);
        for (g, w) in got.iter().zip(want) {
            assert_eq!(g["id"], w["id"], "{}", v["name"]);
            assert_eq!(g["intent"], w["intent"], "{}", v["name"]);
        }
    }
}

#[test]
fn decodes_charge_credential_vectors_without_printing_the_preimage() {
    for v in section("credentials") {
        let name = v["name"].as_str().unwrap();
        let header = v["header"].as_str().unwrap();
        let out = decode(header);
        let charge = v["credentialJson"]
            .as_str()
            .and_then(|s| serde_json::from_str::<Value>(s).ok())
            .is_some_and(|j| {
                j["challenge"]["intent"] == "charge" && j["payload"]["preimage"].is_string()
            });
        if name.starts_with("reject") || !charge {
            // Malformed, another scheme, or a session credential: refused cleanly.
            assert_eq!(code(&out), 2, "{name}: {}", stdout(&out));
            assert!(!stderr(&out).is_empty(), "{name}");
            continue;
        }
        assert_eq!(code(&out), 0, "{name}: {}", stderr(&out));
        let j = stdout_json(&out);
        assert_eq!(j["kind"], "payment_credential", "{name}");
        assert_eq!(j["preimage"], "<redacted>", "{name}");
        let wire: Value = serde_json::from_str(v["credentialJson"].as_str().unwrap()).unwrap();
        let preimage = wire["payload"]["preimage"].as_str().unwrap();
        assert!(!stdout(&out).contains(preimage), "{name}: preimage printed");
        assert_eq!(j["challenge"]["id"], wire["challenge"]["id"], "{name}");
    }
}

#[test]
fn decodes_receipt_vectors_bare_or_after_the_header_name() {
    for v in section("receipts") {
        let name = v["name"].as_str().unwrap();
        let header = v["header"].as_str().unwrap();
        let wire: Value = serde_json::from_str(v["receiptJson"].as_str().unwrap()).unwrap();
        for input in [header.to_owned(), format!("Payment-Receipt: {header}")] {
            let out = decode(&input);
            if wire.get("status").is_none() {
                // A session's need-top-up event is not a receipt.
                assert_eq!(code(&out), 2, "{name}");
                continue;
            }
            assert_eq!(code(&out), 0, "{name}: {}", stderr(&out));
            let j = stdout_json(&out);
            assert_eq!(j["kind"], "payment_receipt", "{name}");
            assert_eq!(j["reference"], wire["reference"], "{name}");
            assert_eq!(j["status"], wire["status"], "{name}");
        }
    }
}

#[test]
fn a_real_charge_is_decoded_and_its_invoice_checked_against_the_request() {
    let invoice: l402_core::lightning_invoice::Bolt11Invoice = INVOICE.parse().unwrap();
    let honest = ChargeRequest::for_invoice(&invoice).unwrap();
    let challenge = charge_challenge(&honest);
    let out = decode(&format!(
        "WWW-Authenticate: {}",
        challenge.to_header_string()
    ));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let j = stdout_json(&out);
    let c = &j["challenges"][0];
    assert_eq!(c["invoice_matches_request"], true);
    assert_eq!(c["decoded_invoice"]["amount_msat"], 1_000_000);
    assert_eq!(c["request"]["amount"], "1000");
    assert_eq!(c["expired"], false);

    // A request that claims 1 sat for the same 1,000-sat invoice: shown as a mismatch.
    let mut lying = honest.clone();
    lying.amount_sat = 1;
    let out = decode(&charge_challenge(&lying).to_header_string());
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let c = &stdout_json(&out)["challenges"][0];
    assert_eq!(c["invoice_matches_request"], false);
    assert!(
        c["invoice_check_error"]
            .as_str()
            .unwrap()
            .contains("1000000 msat"),
        "{c}"
    );

    // Its credential: the preimage matches, and is not printed.
    let preimage = Preimage::from_hex(PREIMAGE).unwrap();
    let auth = PaymentCredential::new(challenge, &preimage).to_header_string();
    let out = decode(&format!("Authorization: {}", auth.as_str()));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let j = stdout_json(&out);
    assert_eq!(j["preimage_matches_payment_hash"], true);
    assert!(!stdout(&out).contains(PREIMAGE));
    let wrong = Preimage::from_bytes([1; 32]);
    let auth = PaymentCredential::new(charge_challenge(&honest), &wrong).to_header_string();
    let j = stdout_json(&decode(auth.as_str()));
    assert_eq!(j["preimage_matches_payment_hash"], false);
}
