//! The `Payment` scheme end to end, as a hostile client and a hostile server would play
//! it: forged, tampered, expired, underpriced, replayed and malformed credentials against
//! the verifier; lying requests against the client's invoice check; round trips of every
//! codec as properties.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bitcoin::hashes::Hash as _;
use bitcoin::hashes::sha256;
use bitcoin::secp256k1::{Secp256k1, SecretKey};
use l402_core::encoding::base64url_encode;
use l402_core::lightning_invoice::{Bolt11Invoice, Currency, InvoiceBuilder, PaymentSecret};
use l402_core::payment_scheme::{
    ChallengeIdSecret, ChargeContext, ChargeInvoiceError, ChargeNetwork, ChargeRequest,
    ChargeVerifyError, ConsumeChargeError, MemoryChargeStore, ParsePaymentCredentialError,
    PaymentChallenge, PaymentCredential, PaymentReceipt, ProblemType, VerifyAuthorizationError,
    canonicalize, decode_json_param, encode_json_param, format_rfc3339, verify_and_consume,
    verify_authorization, verify_charge,
};
use l402_core::{MasterSecret, PaymentHash, Preimage};
use proptest::prelude::*;

const REALM: &str = "api.example.com";
const NOW: u64 = 1_800_000_000;

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW)
}

fn secret() -> ChallengeIdSecret {
    ChallengeIdSecret::derive_from(&MasterSecret::from_bytes(&[42; 32]).unwrap())
}

/// A signed BOLT11 invoice for `msat` (none: amountless) paying to `preimage`'s hash.
fn invoice(currency: Currency, msat: Option<u64>, preimage: &Preimage) -> Bolt11Invoice {
    let secp = Secp256k1::new();
    let key = SecretKey::from_slice(&[0x11; 32]).unwrap();
    let hash = sha256::Hash::from_byte_array(*preimage.payment_hash().as_bytes());
    let mut b = InvoiceBuilder::new(currency)
        .description("test".into())
        .payment_hash(hash)
        .payment_secret(PaymentSecret([7; 32]))
        .duration_since_epoch(Duration::from_secs(NOW))
        .min_final_cltv_expiry_delta(18)
        .expiry_time(Duration::from_secs(3600));
    if let Some(msat) = msat {
        b = b.amount_milli_satoshis(msat);
    }
    b.build_signed(|m| secp.sign_ecdsa_recoverable(m, &key))
        .unwrap()
}

struct Fixture {
    preimage: Preimage,
    challenge: PaymentChallenge,
}

fn fixture(amount_sat: u64) -> Fixture {
    let preimage = Preimage::from_bytes([9; 32]);
    let inv = invoice(Currency::Regtest, Some(amount_sat * 1000), &preimage);
    let request = ChargeRequest::for_invoice(&inv)
        .unwrap()
        .with_description("weather");
    let challenge = PaymentChallenge::lightning_charge(
        &secret(),
        REALM,
        &request,
        now() + Duration::from_secs(900),
    )
    .unwrap();
    Fixture {
        preimage,
        challenge,
    }
}

fn ctx<'a>(secret: &'a ChallengeIdSecret, price: u64, at: SystemTime) -> ChargeContext<'a> {
    ChargeContext::new(secret, REALM, price, at)
}

fn over_the_wire(c: &PaymentCredential) -> PaymentCredential {
    PaymentCredential::parse_authorization(&c.to_header_string()).unwrap()
}

#[test]
fn an_honest_payment_verifies_once_and_gets_a_receipt() {
    let f = fixture(100);
    let cred = over_the_wire(&PaymentCredential::new(f.challenge.clone(), &f.preimage));
    let store = MemoryChargeStore::new();
    let secret = secret();
    let paid =
        pollster::block_on(verify_and_consume(&cred, &ctx(&secret, 100, now()), &store)).unwrap();
    assert_eq!(paid.payment_hash, f.preimage.payment_hash());
    assert_eq!(paid.challenge_id, f.challenge.id);
    let receipt = PaymentReceipt::parse(&paid.receipt(now()).to_header_string()).unwrap();
    assert_eq!(receipt.reference, f.preimage.payment_hash().to_hex());
    assert!(
        !receipt.to_json().contains(&f.preimage.expose_hex()[..]),
        "no preimage in a receipt"
    );
    // Replay: refused, and mapped to a 402 problem.
    let again = pollster::block_on(verify_and_consume(&cred, &ctx(&secret, 100, now()), &store))
        .unwrap_err();
    assert!(matches!(again, ConsumeChargeError::AlreadyUsed));
    assert_eq!(again.problem_type(), Some(ProblemType::VerificationFailed));
}

/// Each tampering of the echoed challenge, and the verdict it must get.
#[test]
fn a_tampered_challenge_is_refused_before_the_preimage_matters() {
    let f = fixture(100);
    let secret = secret();
    let cheaper = {
        let mut r = f.challenge.charge_request().unwrap();
        r.amount_sat = 1;
        r.encode().unwrap()
    };
    type Tamper = Box<dyn Fn(&mut PaymentChallenge)>;
    let tamper: Vec<(&str, Tamper)> = vec![
        (
            "cheaper request",
            Box::new(move |c| c.request = cheaper.clone()),
        ),
        (
            "later expiry",
            Box::new(|c| c.expires = Some(format_rfc3339(now() + Duration::from_secs(86_400)))),
        ),
        ("no expiry", Box::new(|c| c.expires = None)),
        ("other realm", Box::new(|c| c.realm = "evil.example".into())),
        (
            "digest added",
            Box::new(|c| c.digest = Some("sha-256=:x:".into())),
        ),
        ("forged id", Box::new(|c| c.id = base64url_encode(&[0; 32]))),
    ];
    for (what, f_) in tamper {
        let mut c = f.challenge.clone();
        f_(&mut c);
        let cred = over_the_wire(&PaymentCredential::new(c, &f.preimage));
        let e = verify_charge(&cred, &ctx(&secret, 100, now())).unwrap_err();
        assert!(
            matches!(e, ChargeVerifyError::InvalidChallengeId),
            "{what}: {e:?}"
        );
        assert_eq!(e.problem_type(), ProblemType::InvalidChallenge, "{what}");
    }
    // The description is not bound: changing it is harmless.
    let mut c = f.challenge.clone();
    c.description = Some("free!".into());
    assert!(
        verify_charge(
            &PaymentCredential::new(c, &f.preimage),
            &ctx(&secret, 100, now())
        )
        .is_ok()
    );
    // A challenge signed by another secret (another deployment) is not ours.
    let other = ChallengeIdSecret::from_bytes(&[1; 32]).unwrap();
    let cred = PaymentCredential::new(f.challenge.clone(), &f.preimage);
    assert!(matches!(
        verify_charge(&cred, &ctx(&other, 100, now())),
        Err(ChargeVerifyError::InvalidChallengeId)
    ));
}

#[test]
fn expiry_price_realm_and_proof_are_checked() {
    let f = fixture(100);
    let secret = secret();
    let cred = PaymentCredential::new(f.challenge.clone(), &f.preimage);
    let expires = f.challenge.expires_at().unwrap();
    let e = verify_charge(&cred, &ctx(&secret, 100, expires)).unwrap_err();
    assert!(matches!(e, ChargeVerifyError::Expired));
    assert_eq!(e.problem_type(), ProblemType::PaymentExpired);
    assert!(verify_charge(&cred, &ctx(&secret, 100, expires - Duration::from_secs(1))).is_ok());
    // A 100-sat challenge presented at a 500-sat route.
    let e = verify_charge(&cred, &ctx(&secret, 500, now())).unwrap_err();
    assert!(matches!(
        e,
        ChargeVerifyError::Insufficient {
            paid: 100,
            price: 500
        }
    ));
    assert_eq!(e.problem_type(), ProblemType::PaymentInsufficient);
    // A pricier route's challenge is not accepted at a cheaper route either.
    let e = verify_charge(&cred, &ctx(&secret, 10, now())).unwrap_err();
    assert!(matches!(e, ChargeVerifyError::AmountMismatch { .. }));
    // Another realm sharing the secret.
    let e = verify_charge(
        &cred,
        &ChargeContext::new(&secret, "other.example", 100, now()),
    )
    .unwrap_err();
    assert!(matches!(e, ChargeVerifyError::WrongRealm));
    // A preimage that is not the invoice's.
    let wrong = PaymentCredential::new(f.challenge.clone(), &Preimage::from_bytes([8; 32]));
    let e = verify_charge(&wrong, &ctx(&secret, 100, now())).unwrap_err();
    assert!(matches!(e, ChargeVerifyError::WrongPreimage));
    assert_eq!(e.problem_type(), ProblemType::VerificationFailed);
    // The hash itself as the "preimage".
    let hash_hex = f.preimage.payment_hash().to_hex();
    let json = format!(
        r#"{{"challenge":{},"payload":{{"preimage":"{hash_hex}"}}}}"#,
        serde_json::to_string(&f.challenge).unwrap()
    );
    let cred = PaymentCredential::parse_authorization(&format!(
        "Payment {}",
        base64url_encode(json.as_bytes())
    ))
    .unwrap();
    assert!(matches!(
        verify_charge(&cred, &ctx(&secret, 100, now())),
        Err(ChargeVerifyError::WrongPreimage)
    ));
    // A short preimage parses (the codec follows the vectors) but never verifies.
    let json = format!(
        r#"{{"challenge":{},"payload":{{"preimage":"a3f1e2d4b5c6a7e8"}}}}"#,
        serde_json::to_string(&f.challenge).unwrap()
    );
    let cred = PaymentCredential::parse_authorization(&format!(
        "Payment {}",
        base64url_encode(json.as_bytes())
    ))
    .unwrap();
    let e = verify_charge(&cred, &ctx(&secret, 100, now())).unwrap_err();
    assert!(matches!(e, ChargeVerifyError::MalformedPreimage));
    assert_eq!(e.problem_type(), ProblemType::MalformedCredential);
}

/// The one-pass header verifier gives the same verdicts as parse-then-verify.
#[test]
fn verifying_the_header_agrees_with_parse_then_verify() {
    let f = fixture(100);
    let secret = secret();
    let good = PaymentCredential::new(f.challenge.clone(), &f.preimage);
    let header = good.to_header_string();
    let paid = verify_authorization(&header, &ctx(&secret, 100, now())).unwrap();
    assert_eq!(
        paid,
        verify_charge(&good, &ctx(&secret, 100, now())).unwrap()
    );
    let cases: Vec<(String, ProblemType)> = vec![
        (PaymentCredential::new(f.challenge.clone(), &Preimage::from_bytes([1; 32])).to_header_string().to_string(), ProblemType::VerificationFailed),
        (header.replace("Payment ", "Payment !"), ProblemType::MalformedCredential),
        ("Payment ".to_owned(), ProblemType::MalformedCredential),
        ("Payment e30".to_owned(), ProblemType::MalformedCredential),
        (
            format!("Payment {}", base64url_encode(br#"{"challenge":{"id":"i","realm":"r","method":"tempo","intent":"charge","request":"cQ"},"payload":{}}"#)),
            ProblemType::MethodUnsupported,
        ),
        (
            format!("Payment {}", base64url_encode(br#"{"challenge":{"id":"i","realm":"r","method":"lightning","intent":"session","request":"cQ"},"payload":{"action":"open","preimage":"aa"}}"#)),
            ProblemType::InvalidChallenge,
        ),
    ];
    for (h, want) in cases {
        let e = verify_authorization(&h, &ctx(&secret, 100, now())).unwrap_err();
        assert_eq!(e.problem_type(), want, "{h}: {e:?}");
    }
    let e = verify_authorization(
        &header,
        &ctx(&secret, 100, f.challenge.expires_at().unwrap()),
    )
    .unwrap_err();
    assert!(matches!(
        e,
        VerifyAuthorizationError::Verify(ChargeVerifyError::Expired)
    ));
    assert_eq!(e.problem_type(), ProblemType::PaymentExpired);
    assert_eq!(e.problem_type().status().as_u16(), 402);
}

#[test]
fn a_request_without_payment_hash_is_checked_against_its_invoice() {
    let preimage = Preimage::from_bytes([5; 32]);
    let inv = invoice(Currency::Regtest, Some(21_000), &preimage);
    let mut request = ChargeRequest::for_invoice(&inv).unwrap();
    request.payment_hash = None;
    let secret = secret();
    let c = PaymentChallenge::lightning_charge(
        &secret,
        REALM,
        &request,
        now() + Duration::from_secs(60),
    )
    .unwrap();
    assert!(
        verify_charge(
            &PaymentCredential::new(c.clone(), &preimage),
            &ctx(&secret, 21, now())
        )
        .is_ok()
    );
    let wrong = PaymentCredential::new(c, &Preimage::from_bytes([6; 32]));
    assert!(matches!(
        verify_charge(&wrong, &ctx(&secret, 21, now())),
        Err(ChargeVerifyError::WrongPreimage)
    ));
}

#[test]
fn nothing_is_consumed_unless_the_credential_verifies() {
    let f = fixture(100);
    let secret = secret();
    let store = MemoryChargeStore::new();
    let wrong = PaymentCredential::new(f.challenge.clone(), &Preimage::from_bytes([8; 32]));
    let e = pollster::block_on(verify_and_consume(
        &wrong,
        &ctx(&secret, 100, now()),
        &store,
    ))
    .unwrap_err();
    assert!(matches!(e, ConsumeChargeError::Verify(_)));
    assert!(
        store.is_empty(),
        "a failed verification consumed the charge"
    );
    let good = PaymentCredential::new(f.challenge.clone(), &f.preimage);
    assert!(
        pollster::block_on(verify_and_consume(&good, &ctx(&secret, 100, now()), &store)).is_ok()
    );
}

#[test]
fn malformed_credentials_get_typed_errors_and_the_right_problem() {
    use l402_core::payment_scheme::Problem;
    let cases = [
        ("Payment !!!", "malformed"),
        ("Payment e30", "malformed"),
        ("Payment ", "malformed"),
    ];
    for (h, _) in cases {
        let e = PaymentCredential::parse_authorization(h).unwrap_err();
        assert!(
            !matches!(e, ParsePaymentCredentialError::UnsupportedMethod),
            "{h}"
        );
    }
    // An unknown method is refused as such (a 400 problem at the server).
    let json = r#"{"challenge":{"id":"i","realm":"r","method":"stripe","intent":"charge","request":"cQ"},"payload":{}}"#;
    let e = PaymentCredential::parse_authorization(&format!(
        "Payment {}",
        base64url_encode(json.as_bytes())
    ))
    .unwrap_err();
    assert_eq!(e, ParsePaymentCredentialError::UnsupportedMethod);
    assert_eq!(Problem::new(ProblemType::MethodUnsupported).status, 400);
}

/// The client's side against a lying server: the request must describe the invoice.
#[test]
fn the_client_refuses_invoices_that_disagree_with_the_request() {
    let preimage = Preimage::from_bytes([3; 32]);
    let inv = invoice(Currency::Regtest, Some(100_000), &preimage);
    let honest = ChargeRequest::for_invoice(&inv).unwrap();
    assert_eq!(
        honest.check_invoice().unwrap().payment_hash(),
        inv.payment_hash()
    );

    // The request says 10 sat, the invoice takes 100 (lnget would pay it).
    let mut lie = honest.clone();
    lie.amount_sat = 10;
    assert_eq!(
        lie.check_invoice(),
        Err(ChargeInvoiceError::AmountMismatch {
            invoice: 100_000,
            request: 10_000
        })
    );
    // The request names another payment hash.
    let mut lie = honest.clone();
    lie.payment_hash = Some(PaymentHash::from_bytes([0; 32]));
    assert_eq!(lie.check_invoice(), Err(ChargeInvoiceError::HashMismatch));
    // The request says mainnet (or nothing, which means mainnet) for a regtest invoice.
    let mut lie = honest.clone();
    lie.network = Some(ChargeNetwork::Mainnet);
    assert_eq!(
        lie.check_invoice(),
        Err(ChargeInvoiceError::NetworkMismatch)
    );
    lie.network = None;
    assert_eq!(
        lie.check_invoice(),
        Err(ChargeInvoiceError::NetworkMismatch)
    );
    // An amountless invoice: the payee would choose what is paid.
    let open = invoice(Currency::Regtest, None, &preimage);
    let mut lie = honest.clone();
    lie.invoice = open.to_string();
    assert_eq!(lie.check_invoice(), Err(ChargeInvoiceError::NoAmount));
    assert!(ChargeRequest::for_invoice(&open).is_none());
    // Not an invoice at all.
    let mut lie = honest;
    lie.invoice = "lnbcrt1garbage".into();
    assert!(matches!(
        lie.check_invoice(),
        Err(ChargeInvoiceError::Invalid(_))
    ));
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let f = fixture(100);
    let cred = PaymentCredential::new(f.challenge, &f.preimage);
    let hex = f.preimage.expose_hex();
    assert!(!format!("{cred:?}").contains(&hex[..16]));
    assert!(!format!("{:?}", secret()).contains("42"));
}

fn text() -> impl Strategy<Value = String> {
    // Anything a header value can carry inside a quoted-string: visible ASCII, space, tab
    // and non-ASCII.
    "[ -~\t\u{e9}\u{3042}]{0,40}"
}

fn challenge_strategy() -> impl Strategy<Value = PaymentChallenge> {
    (
        "[ -~]{1,30}",
        text(),
        "[a-z]{1,10}",
        "[a-z]{1,10}",
        "[A-Za-z0-9_-]{1,60}",
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(text()),
    )
        .prop_map(
            |(id, realm, method, intent, request, expires, digest, description, opaque)| {
                let mut c = PaymentChallenge::new(id, realm, method, intent, request);
                c.expires = expires;
                c.digest = digest;
                c.description = description;
                c.opaque = opaque;
                c
            },
        )
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        "\\PC{0,8}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            proptest::collection::btree_map("\\PC{0,6}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn challenges_round_trip_alone_and_in_lists(
        a in challenge_strategy(),
        b in challenge_strategy(),
        other in "(Basic realm=\"x\"|L402 macaroon=\"AgE=\", invoice=\"lnbc1\"|Bearer)",
    ) {
        prop_assert_eq!(PaymentChallenge::parse_list(&a.to_header_string()), Ok(vec![a.clone()]));
        let joined = format!("{}, {other}, {}", a.to_header_string(), b.to_header_string());
        prop_assert_eq!(PaymentChallenge::parse_list(&joined), Ok(vec![a.clone(), b.clone()]));
        prop_assert_eq!(
            PaymentChallenge::from_values([a.to_header_string().as_str(), other.as_str(), b.to_header_string().as_str()]),
            Ok(vec![a, b])
        );
    }

    #[test]
    fn credentials_round_trip(c in challenge_strategy(), p in any::<[u8; 32]>(), source in proptest::option::of("\\PC{0,20}")) {
        let mut c = c;
        c.method = "lightning".into();
        c.intent = "charge".into();
        let mut cred = PaymentCredential::new(c, &Preimage::from_bytes(p));
        cred.source = source;
        let back = PaymentCredential::parse_authorization(&cred.to_header_string()).unwrap();
        prop_assert_eq!(back.payload.preimage().unwrap(), Preimage::from_bytes(p));
        prop_assert_eq!(back, cred);
    }

    #[test]
    fn receipts_round_trip(h in any::<[u8; 32]>(), id in "[A-Za-z0-9_-]{0,43}", secs in 0u64..4_000_000_000) {
        let r = PaymentReceipt::lightning_charge(&PaymentHash::from_bytes(h), &id, UNIX_EPOCH + Duration::from_secs(secs));
        prop_assert_eq!(PaymentReceipt::parse(&r.to_header_string()), Ok(r));
    }

    #[test]
    fn requests_round_trip(
        sats in 1u64..=2_100_000_000_000_000,
        invoice in "ln[a-z0-9]{1,200}",
        hash in proptest::option::of(any::<[u8; 32]>()),
        network in proptest::option::of(prop_oneof![Just(ChargeNetwork::Mainnet), Just(ChargeNetwork::Testnet), Just(ChargeNetwork::Signet), Just(ChargeNetwork::Regtest)]),
        description in proptest::option::of("\\PC{0,30}"),
        external in proptest::option::of("\\PC{0,30}"),
    ) {
        let mut r = ChargeRequest::new(sats, invoice);
        r.payment_hash = hash.map(PaymentHash::from_bytes);
        r.network = network;
        r.description = description;
        r.external_id = external;
        let encoded = r.encode().unwrap();
        prop_assert_eq!(ChargeRequest::decode(&encoded).unwrap(), r.clone());
        // The encoding is of canonical JSON.
        let json = String::from_utf8(l402_core::encoding::base64url_decode(&encoded).unwrap()).unwrap();
        prop_assert_eq!(canonicalize(&json).unwrap(), json);
    }

    #[test]
    fn canonical_json_is_idempotent_and_value_preserving(v in json_value()) {
        let text = serde_json::to_string(&v).unwrap();
        let once = canonicalize(&text).unwrap();
        prop_assert_eq!(canonicalize(&once).unwrap(), once.clone());
        let p = encode_json_param(&v).unwrap();
        let back: serde_json::Value = decode_json_param(&p).unwrap();
        prop_assert_eq!(canonicalize(&serde_json::to_string(&back).unwrap()).unwrap(), once);
    }

    #[test]
    fn parsers_never_panic(s in "\\PC{0,300}") {
        let _ = PaymentChallenge::parse_list(&s);
        let _ = PaymentCredential::parse_authorization(&s);
        let _ = PaymentCredential::parse_authorization(&format!("Payment {s}"));
        let _ = PaymentReceipt::parse(&s);
        let _ = ChargeRequest::decode(&s);
    }
}

/// The reference reading of a credential: the `serde` derive over `serde_json`.
#[derive(serde::Deserialize)]
struct RefCredential {
    challenge: PaymentChallenge,
    #[serde(default)]
    source: Option<String>,
    payload: RefPayload,
}

#[derive(serde::Deserialize)]
struct RefPayload {
    #[serde(default)]
    preimage: Option<String>,
}

/// A JSON member, sometimes mangled: escaped, null, repeated, or an unknown neighbour.
fn member(key: &'static str, value: String) -> impl Strategy<Value = Vec<String>> {
    let v = value.clone();
    prop_oneof![
        6 => Just(vec![format!("\"{key}\":{value}")]),
        1 => Just(vec![format!("\"{key}\":null")]),
        1 => Just(vec![]),
        1 => Just(vec![format!("\"{key}\":{v}"), format!("\"{key}\":{v}")]),
        1 => Just(vec![format!("\"{}\":{value}", key.chars().map(|c| format!("\\u{:04x}", c as u32)).collect::<String>())]),
        1 => Just(vec![format!("\"{key}\":{value}"), "\"x\":[1,{\"y\":-2.5e3},\"\\\"\",null,true]".to_owned()]),
        1 => Just(vec![format!("\"{key}\":7")]),
    ]
}

fn object(members: Vec<Vec<String>>, order: Vec<usize>) -> String {
    let mut flat: Vec<String> = members.into_iter().flatten().collect();
    for (i, j) in order.into_iter().enumerate() {
        if !flat.is_empty() {
            let n = flat.len();
            flat.swap(i % n, j % n);
        }
    }
    format!("{{{}}}", flat.join(","))
}

fn credential_json() -> impl Strategy<Value = String> {
    let challenge = (
        member("id", "\"kM9x\"".into()),
        member("realm", "\"api \\\"q\\\" \\u00e9\"".into()),
        member("method", "\"lightning\"".into()),
        member("intent", "\"charge\"".into()),
        member("request", "\"eyJhbW91bnQiOiIxMDAifQ\"".into()),
        member("expires", "\"2026-03-15T12:05:00Z\"".into()),
        member("opaque", "\"e30\"".into()),
        proptest::collection::vec(any::<usize>(), 0..6),
    )
        .prop_map(|(a, b, c, d, e, f, g, order)| object(vec![a, b, c, d, e, f, g], order));
    let payload = (
        member("preimage", format!("\"{}\"", "ab".repeat(32))),
        member("action", "\"open\"".into()),
    )
        .prop_map(|(a, b)| object(vec![a, b], vec![]));
    (
        challenge.prop_flat_map(|c| member("challenge", c)),
        payload.prop_flat_map(|p| member("payload", p)),
        member("source", "\"did:key:z6Mk\"".into()),
        proptest::collection::vec(any::<usize>(), 0..3),
        prop_oneof![4 => Just(""), 1 => Just(" "), 1 => Just(" x"), 1 => Just("}")],
    )
        .prop_map(|(c, p, s, order, tail)| format!("{}{tail}", object(vec![c, p, s], order)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Our one-pass reader accepts and reads exactly what the serde derive does.
    #[test]
    fn the_credential_reader_agrees_with_serde(json in credential_json()) {
        let header = format!("Payment {}", base64url_encode(json.as_bytes()));
        let ours = PaymentCredential::parse_authorization(&header);
        match serde_json::from_str::<RefCredential>(&json) {
            Err(_) => prop_assert!(
                matches!(ours, Err(ParsePaymentCredentialError::Json { .. })),
                "serde refused, we said {:?}: {}", ours, json
            ),
            Ok(r) => match ours {
                Err(ParsePaymentCredentialError::Json { .. }) => prop_assert!(false, "serde accepted, we refused: {}", json),
                Err(_) => {}
                Ok(c) => {
                    prop_assert_eq!(&c.challenge, &r.challenge);
                    prop_assert_eq!(c.source, r.source);
                    prop_assert_eq!(Some(c.payload.expose_preimage_hex().to_owned()), r.payload.preimage);
                }
            },
        }
    }
}
