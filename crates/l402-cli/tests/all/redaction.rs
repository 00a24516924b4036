//! `Debug` of every secret-bearing type in the workspace shows none of the secret: not in
//! hex (either case), not in base64 (either alphabet, padded or not), not as a byte list.
//! A hostile log reader gets nothing it could pay with, sign with or call a node with.

use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use l402_core::InvoiceBackend as _;
use l402_core::backend::PaymentSuccess;
use l402_core::encoding::hex_encode;
use l402_core::{
    Amount, Caveat, Challenge, Credential, DerivedRootKeyStore, Macaroon, MasterSecret,
    MemoryRootKeyStore, Preimage, RootKey, RootKeyStore, Scheme, TokenId,
};
use l402_reqwest::{MemoryTokenStore, PendingPayment, StoredToken, TokenRecord, TokenStore};

const PREIMAGE: [u8; 32] = [0xa7; 32];
const ROOT_KEY: [u8; 32] = [0x3c; 32];
const MASTER_SECRET: [u8; 40] = [0x5e; 40];
const MOCK_NODE_KEY: [u8; 32] = [0x42; 32];
const RUNE: &str = "bm9kZS1ydW5lLXNlY3JldC10ZXh0LWZvci10ZXN0cw==";
const REDIS_PASSWORD: &str = "redis-password-for-the-redaction-test";

/// Every text form a secret could leak in. Long enough (16 bytes and more) that a match is
/// never a coincidence.
fn forms(secret: &[u8]) -> Vec<String> {
    let hex = hex_encode(secret);
    let list = format!("{:?}", &secret[..secret.len().min(12)]);
    vec![
        hex.to_uppercase(),
        hex,
        STANDARD.encode(secret),
        STANDARD_NO_PAD.encode(secret),
        URL_SAFE.encode(secret),
        URL_SAFE_NO_PAD.encode(secret),
        // `[167, 167, ...` without the closing bracket.
        list.trim_end_matches(']').to_owned(),
    ]
}

fn assert_clean(what: &str, debug: &str, secrets: &[(&str, Vec<String>)]) {
    for (name, forms) in secrets {
        for form in forms {
            assert!(
                !debug.contains(form.as_str()),
                "{what}'s Debug shows the {name} as {form:?}: {debug}"
            );
        }
    }
}

/// A node macaroon as LND bakes one: its signature is the credential.
fn node_macaroon() -> Macaroon {
    let mut m = Macaroon::new(
        &RootKey::from_bytes([0x99; 32]),
        b"lnd-node-macaroon-id".to_vec(),
        None,
    )
    .unwrap();
    m.add_first_party_caveat("lnd-custom ops").unwrap();
    m
}

#[tokio::test]
async fn no_secret_reaches_debug_output() {
    let preimage = Preimage::from_bytes(PREIMAGE);
    let node = node_macaroon();
    let secrets = [
        ("preimage", forms(&PREIMAGE)),
        ("root key", forms(&ROOT_KEY)),
        ("master secret", forms(&MASTER_SECRET)),
        ("mock node key", forms(&MOCK_NODE_KEY)),
        ("node macaroon", forms(node.as_bytes())),
        ("node macaroon signature", forms(node.signature())),
        (
            "rune",
            vec![RUNE.to_owned(), RUNE.trim_end_matches('=').to_owned()],
        ),
    ];
    let mut shown: Vec<(&str, String)> = Vec::new();

    // l402-core
    let root = RootKey::from_bytes(ROOT_KEY);
    let mut token = Macaroon::new(&root, vec![7; 66], Some("lsat".into())).unwrap();
    token.add_first_party_caveat("services=api:0").unwrap();
    // A client-appended caveat, in Aperture's form and in odd spacing and case.
    let pre_hex = preimage.expose_hex();
    token
        .add_first_party_caveat(format!("preimage={}", pre_hex.as_str()))
        .unwrap();
    token
        .add_first_party_caveat(format!(" PreImage = {}", pre_hex.to_uppercase()))
        .unwrap();
    let credential = Credential::new(token.clone(), preimage.clone());
    shown.push(("RootKey", format!("{root:?}")));
    shown.push(("Preimage", format!("{preimage:?}")));
    shown.push(("Macaroon", format!("{token:?}")));
    shown.push(("Macaroon (alternate)", format!("{token:#?}")));
    shown.push(("node Macaroon", format!("{node:?}")));
    shown.push(("Caveats", format!("{:?}", token.caveats())));
    let caveat = Caveat::parse(&format!("preimage={}", pre_hex.as_str())).unwrap();
    shown.push(("Caveat", format!("{caveat:?}")));
    shown.push(("Credential", format!("{credential:?}")));
    shown.push((
        "Challenge",
        format!("{:?}", Challenge::new(token.clone(), "lnbc1")),
    ));
    shown.push((
        "PaymentSuccess",
        format!(
            "{:?}",
            PaymentSuccess::new(preimage.clone(), Amount::ZERO, Amount::ZERO)
        ),
    ));
    let master = MasterSecret::from_bytes(&MASTER_SECRET).unwrap();
    shown.push(("MasterSecret", format!("{master:?}")));
    let derived = DerivedRootKeyStore::new(master.clone()).with_previous_secret(master);
    shown.push(("DerivedRootKeyStore", format!("{derived:?}")));
    let id = TokenId::from_bytes([1; 32]);
    shown.push((
        "derived RootKey",
        format!("{:?}", derived.create(&id, None).await.unwrap()),
    ));
    let memory = MemoryRootKeyStore::new();
    memory.create(&id, None).await.unwrap();
    shown.push(("MemoryRootKeyStore", format!("{memory:?}")));

    // l402-reqwest
    let stored = StoredToken::new(
        token.clone(),
        preimage.clone(),
        Amount::from_msat(10_000),
        Amount::ZERO,
        SystemTime::now(),
    )
    .with_scheme(Scheme::Lsat);
    let pending = PendingPayment::new(
        token.clone(),
        "lnbc1",
        preimage.payment_hash(),
        Amount::from_msat(10_000),
        SystemTime::now(),
    );
    let store = MemoryTokenStore::new();
    store
        .save("a", &TokenRecord::Paid(stored.clone()))
        .await
        .unwrap();
    shown.push(("StoredToken", format!("{stored:?}")));
    shown.push(("PendingPayment", format!("{pending:?}")));
    shown.push(("TokenRecord", format!("{:?}", TokenRecord::Paid(stored))));
    shown.push(("MemoryTokenStore", format!("{store:?}")));

    // l402-lnd and l402-cln: builders and backends holding the node credential.
    let lnd = l402_lnd::LndBackend::builder("https://127.0.0.1:1").macaroon_bytes(node.encode());
    shown.push(("LndBackendBuilder", format!("{lnd:?}")));
    shown.push((
        "LndBackend",
        format!("{:?}", lnd.webpki_roots().build().unwrap()),
    ));
    let lnd = l402_lnd::LndBackend::builder("https://127.0.0.1:1").macaroon_hex(node.to_hex());
    shown.push(("LndBackendBuilder (hex)", format!("{lnd:?}")));
    let cln = l402_cln::ClnBackend::builder("https://127.0.0.1:1").rune(RUNE);
    shown.push(("ClnBackendBuilder", format!("{cln:?}")));
    shown.push((
        "ClnBackend",
        format!("{:?}", cln.webpki_roots().build().unwrap()),
    ));

    // l402-redis: the connection URL may carry a password.
    let redis =
        l402_redis::RedisConnection::builder(format!("redis://user:{REDIS_PASSWORD}@127.0.0.1:1/"))
            .prefix("redaction");
    shown.push(("RedisConnectionBuilder", format!("{redis:?}")));
    // An unparsable URL: the error chain must not repeat it.
    let bad_url = l402_redis::RedisConnection::builder(format!(
        "redis://user:{REDIS_PASSWORD}@127.0.0.1:notaport/"
    ))
    .prefix("redaction")
    .build()
    .unwrap_err();
    shown.push(("redis BuildError", format!("{bad_url:?}")));
    shown.push((
        "redis BuildError chain",
        l402_core::ErrorChain(&bad_url).to_string(),
    ));

    // l402-mock and the fake nodes.
    let network = l402_mock::MockNetwork::new();
    let builder = network.node("alice").secret_key(MOCK_NODE_KEY);
    shown.push(("NodeBuilder", format!("{builder:?}")));
    let alice = builder
        .balance(Amount::from_msat(1_000_000))
        .build()
        .unwrap();
    let invoice = alice
        .create_invoice(&l402_core::backend::InvoiceRequest::new(Amount::from_msat(
            5_000,
        )))
        .await
        .unwrap();
    shown.push(("MockNode", format!("{alice:?}")));
    shown.push(("MockNetwork", format!("{network:?}")));
    let record = alice.invoice(&invoice.payment_hash).unwrap();
    let invoice_secrets = [("invoice preimage", forms(record.preimage.expose_secret()))];
    shown.push(("InvoiceRecord", format!("{record:?}")));
    let lnd_fake = l402_lnd_fake::FakeLnd::start(alice.clone(), Default::default())
        .await
        .unwrap();
    let fake_macaroon = lnd_fake.macaroon(l402_lnd_fake::FakeMacaroon::Admin);
    let fake_secrets = [("fake LND macaroon", forms(&fake_macaroon))];
    shown.push(("FakeLnd", format!("{lnd_fake:?}")));
    let cln_fake = l402_cln_fake::FakeCln::start(alice, Default::default())
        .await
        .unwrap();
    let fake_rune = cln_fake.rune(l402_cln_fake::FakeRune::Admin);
    let rune_secrets = [("fake CLN rune", vec![fake_rune])];
    shown.push(("FakeCln", format!("{cln_fake:?}")));

    for (what, debug) in &shown {
        assert_clean(what, debug, &secrets);
        assert_clean(what, debug, &invoice_secrets);
        assert_clean(what, debug, &fake_secrets);
        assert_clean(what, debug, &rune_secrets);
    }
    // The redaction keeps what is useful for debugging.
    let macaroon_debug = &shown[2].1;
    assert!(
        macaroon_debug.contains("services=api:0"),
        "{macaroon_debug}"
    );
    assert!(
        macaroon_debug.contains("preimage=<redacted>"),
        "{macaroon_debug}"
    );
}
