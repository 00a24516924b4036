//! Reproduces every interop vector produced by the reference Go implementation
//! (go-macaroon v2.1.0, as pinned by Aperture), byte for byte.

use std::time::SystemTime;

use l402_core::encoding::{hex_decode, hex_encode};
use l402_core::{
    Credential, Identifier, Macaroon, PaymentHash, Preimage, RootKey, Scheme, TokenId,
    UnknownCaveats, Verifier, VerifyContext, VerifyError, from_unix_seconds,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct File {
    preimage_for_ec4916dd: String,
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    name: String,
    root_key_hex: String,
    location: Option<String>,
    identifier_hex: String,
    identifier: IdentFields,
    caveats: Vec<String>,
    signature_hex: String,
    macaroon_base64_std: String,
}

#[derive(Deserialize)]
struct IdentFields {
    version: u16,
    payment_hash_hex: String,
    token_id_hex: String,
}

fn load() -> File {
    let text = include_str!("../data/macaroon-v2.json");
    serde_json::from_str(text).expect("vector file parses")
}

#[test]
fn every_vector_is_reproduced_exactly() {
    let file = load();
    assert!(file.vectors.len() >= 7, "all vectors present");
    for v in &file.vectors {
        let key = RootKey::from_hex(&v.root_key_hex).unwrap();
        let ident = Identifier::new(
            PaymentHash::from_hex(&v.identifier.payment_hash_hex).unwrap(),
            TokenId::from_hex(&v.identifier.token_id_hex).unwrap(),
        );
        assert_eq!(ident.version(), v.identifier.version, "{}", v.name);
        assert_eq!(hex_encode(&ident.encode()), v.identifier_hex, "{}", v.name);

        let mut mac = Macaroon::new(&key, ident.encode().to_vec(), v.location.clone()).unwrap();
        for c in &v.caveats {
            mac.add_first_party_caveat(c.clone()).unwrap();
        }
        assert_eq!(hex_encode(mac.signature()), v.signature_hex, "{}", v.name);
        assert_eq!(mac.to_base64(), v.macaroon_base64_std, "{}", v.name);

        let decoded = Macaroon::from_base64(&v.macaroon_base64_std).unwrap();
        assert_eq!(decoded, mac, "{}", v.name);
        assert_eq!(decoded.location(), v.location.as_deref(), "{}", v.name);
        assert!(decoded.caveats().eq(&v.caveats), "{}", v.name);
        assert_eq!(
            Identifier::decode(decoded.identifier()).unwrap(),
            ident,
            "{}",
            v.name
        );
        assert_eq!(
            hex_decode(&v.identifier_hex).unwrap(),
            decoded.identifier(),
            "{}",
            v.name
        );
        assert!(decoded.verify_signature(&key), "{}", v.name);
        let url_safe = v
            .macaroon_base64_std
            .replace('+', "-")
            .replace('/', "_")
            .trim_end_matches('=')
            .to_owned();
        assert_eq!(Macaroon::from_base64(&url_safe).unwrap(), mac, "{}", v.name);
    }
}

#[test]
fn vectors_with_a_known_preimage_verify_end_to_end() {
    let file = load();
    let preimage = Preimage::from_hex(&file.preimage_for_ec4916dd).unwrap();
    // Before every valid_until in the vectors (1893456000 = 2030-01-01).
    let now = from_unix_seconds(1_800_000_000);
    let mut checked = 0;
    for v in file
        .vectors
        .iter()
        .filter(|v| v.identifier.payment_hash_hex.starts_with("ec4916dd"))
    {
        let key = RootKey::from_hex(&v.root_key_hex).unwrap();
        let mac = Macaroon::from_base64(&v.macaroon_base64_std).unwrap();
        let cred = Credential::new(mac, preimage.clone());
        // Round trip through the Authorization header form too.
        let header = cred.to_header_string(Scheme::L402);
        let cred = Credential::parse_authorization(&header).unwrap().unwrap();
        let verifier = Verifier::new();
        let lookup = |_: &TokenId| vec![key.clone()];
        if v.caveats.is_empty() {
            // No services caveat: not bound to any service, so refused.
            let ctx = VerifyContext::new("myservice", now);
            assert_eq!(
                verifier.verify(&cred, &ctx, lookup),
                Err(VerifyError::WrongService("myservice".into())),
                "{}",
                v.name
            );
        } else {
            let ctx = VerifyContext::new("myservice", now).capability("add");
            let receipt = verifier.verify(&cred, &ctx, lookup).unwrap();
            assert_eq!(
                receipt.capabilities().map(Iterator::collect::<Vec<_>>),
                Some(vec!["add", "subtract"]),
                "{}",
                v.name
            );
            assert_eq!(
                receipt.valid_until(),
                Some(from_unix_seconds(1_893_456_000)),
                "{}",
                v.name
            );
            assert_eq!(receipt.token_id().to_hex(), v.identifier.token_id_hex);
        }
        checked += 1;
    }
    assert_eq!(checked, 3, "VC, VB and VBpaid");
}

#[test]
fn aperture_parity_mode_still_checks_known_caveats() {
    let file = load();
    let v = file.vectors.iter().find(|v| v.name == "VB").unwrap();
    let key = RootKey::from_hex(&v.root_key_hex).unwrap();
    let preimage = Preimage::from_hex(&file.preimage_for_ec4916dd).unwrap();
    let mut mac = Macaroon::from_base64(&v.macaroon_base64_std).unwrap();
    mac.add_first_party_caveat("ip=127.0.0.1").unwrap();
    let cred = Credential::new(mac, preimage);
    let now = from_unix_seconds(1_800_000_000);
    let ctx = VerifyContext::new("myservice", now);
    assert_eq!(
        Verifier::new().verify(&cred, &ctx, |_| vec![key.clone()]),
        Err(VerifyError::UnknownCaveat {
            index: 3,
            condition: "ip".into()
        })
    );
    let parity = Verifier::builder()
        .unknown_caveats(UnknownCaveats::Ignore)
        .build()
        .unwrap();
    assert!(parity.verify(&cred, &ctx, |_| vec![key.clone()]).is_ok());
    let late = VerifyContext::new(
        "myservice",
        SystemTime::now() + std::time::Duration::from_secs(10 * 365 * 86400),
    );
    assert!(matches!(
        parity.verify(&cred, &late, |_| vec![key.clone()]),
        Err(VerifyError::Expired { .. })
    ));
}
