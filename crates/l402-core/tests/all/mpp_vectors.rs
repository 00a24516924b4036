//! Every case of Aperture's cross-implementation vectors for the `Payment` scheme
//! (`tests/data/mpp-aperture.json`, unchanged from Aperture's `mpp/testdata/vectors.json`),
//! section by section. Cases we judge differently are listed in `docs/protocol.md`; each
//! is asserted here as we judge it.

use l402_core::encoding::{base64url_decode, base64url_encode, hex_decode, hex_encode};
use l402_core::payment_scheme::{
    ChallengeBinding, ChallengeIdSecret, ParsePaymentCredentialError, PaymentChallenge,
    PaymentCredential, PaymentReceipt, canonicalize,
};
use serde_json::Value;

fn load() -> Value {
    serde_json::from_str(include_str!("../data/mpp-aperture.json")).expect("vector file parses")
}

fn section(name: &str) -> Vec<Value> {
    load()[name]
        .as_array()
        .unwrap_or_else(|| panic!("no section {name}"))
        .clone()
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

fn opt<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn is_error(v: &Value) -> bool {
    v.get("error").and_then(Value::as_bool).unwrap_or(false)
}

/// The challenge a vector's parameter object describes.
fn challenge_of(p: &Value) -> PaymentChallenge {
    let mut c = PaymentChallenge::new(
        s(p, "id"),
        s(p, "realm"),
        s(p, "method"),
        s(p, "intent"),
        s(p, "request"),
    );
    c.expires = opt(p, "expires").map(str::to_owned);
    c.digest = opt(p, "digest").map(str::to_owned);
    c.description = opt(p, "description").map(str::to_owned);
    c.opaque = opt(p, "opaque").map(str::to_owned);
    c
}

#[test]
fn canonicalization() {
    let cases = section("canonicalization");
    assert_eq!(cases.len(), 22);
    for c in &cases {
        let name = s(c, "name");
        let got = canonicalize(s(c, "input"));
        if is_error(c) {
            assert!(got.is_err(), "{name}: accepted");
            continue;
        }
        let want = s(c, "canonical");
        let got = got.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, want, "{name}");
        assert_eq!(canonicalize(&got).unwrap(), got, "{name}: not idempotent");
    }
}

#[test]
fn base64url() {
    let cases = section("base64url");
    assert_eq!(cases.len(), 17);
    for c in &cases {
        let name = s(c, "name");
        let encoded = s(c, "encoded");
        let got = base64url_decode(encoded);
        if is_error(c) {
            assert!(got.is_err(), "{name}: accepted {got:?}");
            continue;
        }
        let bytes = got.unwrap_or_else(|e| panic!("{name}: {e}"));
        let want = hex_decode(opt(c, "decodedHex").unwrap_or("")).unwrap();
        assert_eq!(hex_encode(&bytes), hex_encode(&want), "{name}");
        let canonical = c["canonical"].as_bool().unwrap();
        assert_eq!(
            base64url_encode(&bytes) == encoded,
            canonical,
            "{name}: canonical form"
        );
        assert_eq!(
            base64url_encode(&bytes),
            encoded.trim_end_matches('='),
            "{name}"
        );
    }
}

#[test]
fn challenge_headers() {
    let cases = section("challengeHeaders");
    assert_eq!(cases.len(), 6);
    for c in &cases {
        let name = s(c, "name");
        let from_params = challenge_of(&c["params"]);
        // We emit exactly Aperture's bytes...
        assert_eq!(
            from_params.to_header_string(),
            s(c, "header"),
            "{name}: format"
        );
        // ...and parse them back to the same parameters.
        let parsed =
            PaymentChallenge::parse_list(s(c, "header")).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(parsed, vec![challenge_of(&c["parsed"])], "{name}: parse");
    }
}

#[test]
fn challenge_lists() {
    let cases = section("challengeLists");
    assert_eq!(cases.len(), 11);
    for c in &cases {
        let name = s(c, "name");
        let got = PaymentChallenge::parse_list(s(c, "header"));
        if is_error(c) {
            assert!(got.is_err(), "{name}: accepted {got:?}");
            continue;
        }
        let want: Vec<PaymentChallenge> = c["challenges"]
            .as_array()
            .unwrap()
            .iter()
            .map(challenge_of)
            .collect();
        assert_eq!(
            got.unwrap_or_else(|e| panic!("{name}: {e}")),
            want,
            "{name}"
        );
    }
}

#[test]
fn challenge_ids() {
    let file = load();
    let secret =
        ChallengeIdSecret::from_bytes(&hex_decode(s(&file, "hmacSecretHex")).unwrap()).unwrap();
    let cases = section("challengeIds");
    assert_eq!(cases.len(), 4);
    for c in &cases {
        let name = s(c, "name");
        let challenge = challenge_of(&c["params"]);
        let binding = challenge.binding();
        assert_eq!(binding.hmac_input(), s(c, "hmacInput"), "{name}: input");
        assert_eq!(binding.id(&secret), challenge.id, "{name}: id");
        assert!(challenge.id_matches(&secret), "{name}: match");
        let mut minted = challenge.clone();
        minted.id.clear();
        assert_eq!(minted.signed(&secret).id, challenge.id, "{name}: sign");
    }
    // The recorded collision: two parameter sets with one HMAC input. The verifier
    // recomputes from the echoed fields, so this only matters when fields carry `|`;
    // ours never do (realm, method and intent are fixed by the server).
    let a = ChallengeBinding::new("a|b", "lightning", "charge", "cQ");
    let b = ChallengeBinding::new("a", "b|lightning", "charge", "cQ");
    assert_eq!(a.id(&secret), b.id(&secret));
}

#[test]
fn credentials() {
    let cases = section("credentials");
    assert_eq!(cases.len(), 11);
    let mut charge = 0;
    let mut session = 0;
    let mut rejected = 0;
    for c in &cases {
        let name = s(c, "name");
        let header = s(c, "header");
        let got = PaymentCredential::parse_authorization(header);
        if is_error(c) {
            assert!(got.is_err(), "{name}: accepted");
            rejected += 1;
            continue;
        }
        let json: Value = serde_json::from_str(s(c, "credentialJson")).unwrap();
        // The header is base64url of exactly the credential JSON.
        let token = header.split_once(' ').unwrap().1;
        assert_eq!(
            base64url_decode(token).unwrap(),
            s(c, "credentialJson").as_bytes(),
            "{name}"
        );
        if json["challenge"]["intent"] == "session" {
            assert_eq!(
                got,
                Err(ParsePaymentCredentialError::SessionUnsupported),
                "{name}"
            );
            session += 1;
            continue;
        }
        let cred = got.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            cred.challenge,
            serde_json::from_value::<PaymentChallenge>(json["challenge"].clone()).unwrap(),
            "{name}"
        );
        assert_eq!(
            cred.payload.expose_preimage_hex(),
            json["payload"]["preimage"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            cred.source.as_deref(),
            json.get("source").and_then(Value::as_str),
            "{name}"
        );
        // Re-encoded, it is the vector's token byte for byte (any-case scheme aside).
        assert_eq!(
            cred.to_header_string().split_once(' ').unwrap().1,
            token,
            "{name}: encode"
        );
        charge += 1;
    }
    assert_eq!((charge, session, rejected), (2, 2, 7));
}

#[test]
fn receipts() {
    let cases = section("receipts");
    assert_eq!(cases.len(), 8);
    for c in &cases {
        let name = s(c, "name");
        let json = s(c, "receiptJson");
        let header = s(c, "header");
        // The codec: the header is base64url of the JSON text, both ways.
        assert_eq!(base64url_encode(json.as_bytes()), header, "{name}");
        assert_eq!(base64url_decode(header).unwrap(), json.as_bytes(), "{name}");
        let value: Value = serde_json::from_str(json).unwrap();
        if value.get("status").is_none() {
            // A session's need-top-up event, not a receipt: refused as one.
            assert!(PaymentReceipt::parse(header).is_err(), "{name}");
            continue;
        }
        let receipt = PaymentReceipt::parse(header).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(receipt.is_success(), "{name}");
        assert_eq!(receipt.reference, s(&value, "reference"), "{name}");
        assert_eq!(
            receipt.challenge_id.as_deref(),
            opt(&value, "challengeId"),
            "{name}"
        );
        assert_eq!(
            receipt.refund_sats,
            value.get("refundSats").and_then(Value::as_u64),
            "{name}: exact integer"
        );
        // Our JSON is the same value; for charge receipts (the ones we emit) the same bytes.
        let ours: Value = serde_json::from_str(&receipt.to_json()).unwrap();
        assert_eq!(ours, value, "{name}");
        if receipt.refund_status.is_none() {
            assert_eq!(receipt.to_header_string(), header, "{name}: encode");
        }
    }
}
