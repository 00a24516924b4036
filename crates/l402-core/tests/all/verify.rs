//! Every way verification can fail, each with its exact error.

use std::time::{Duration, SystemTime};

use l402_core::macaroon::{DecodeError, MAX_MACAROON_LEN};
use l402_core::{
    Caveat, CaveatError, CaveatSatisfier, Credential, DerivedRootKeyStore, IdentifierError,
    Macaroon, MasterSecret, MemoryRootKeyStore, MintRequest, ParseCredentialError, Preimage,
    RootKey, RootKeyStore, Scheme, Service, TokenId, UnknownCaveats, Verifier, VerifyContext,
    VerifyError, VerifyWithStoreError, from_unix_seconds, mint, unix_seconds,
};
use pollster::block_on;

const NOW: u64 = 1_800_000_000;

fn now() -> SystemTime {
    from_unix_seconds(NOW)
}

struct Fixture {
    key: RootKey,
    preimage: Preimage,
    token_id: TokenId,
    macaroon: Macaroon,
}

/// A token for `api` (tier 1) and `other` (tier 0), capabilities read,write on `api`,
/// valid for an hour from NOW.
fn fixture() -> Fixture {
    let key = RootKey::from_bytes([5; 32]);
    let preimage = Preimage::from_bytes([6; 32]);
    let token_id = TokenId::from_bytes([7; 32]);
    let api = Service::with_tier("api", 1).unwrap();
    let macaroon = MintRequest::new(preimage.payment_hash())
        .service(api.clone())
        .service(Service::new("other").unwrap())
        .capabilities(&api, &["read", "write"])
        .unwrap()
        .valid_until(from_unix_seconds(NOW + 3600))
        .location("lsat")
        .mint_with_key(token_id, &key)
        .unwrap();
    Fixture {
        key,
        preimage,
        token_id,
        macaroon,
    }
}

fn verify_with(f: &Fixture, mac: Macaroon, ctx: &VerifyContext<'_>) -> Result<(), VerifyError> {
    let cred = Credential::new(mac, f.preimage.clone());
    Verifier::new()
        .verify(&cred, ctx, |_| vec![f.key.clone()])
        .map(|_| ())
}

fn attenuated(f: &Fixture, caveat: &str) -> Macaroon {
    let mut m = f.macaroon.clone();
    m.add_first_party_caveat(caveat).unwrap();
    m
}

#[test]
fn receipts_hold_long_and_non_ascii_text() {
    // Receipt text is kept inline up to a limit and on the heap past it: the accessors
    // must read the same either way.
    let key = RootKey::from_bytes([5; 32]);
    let preimage = Preimage::from_bytes([6; 32]);
    for extra in [0usize, 1, 2, 5, 12] {
        let name = format!("caf\u{e9}{}", "x".repeat(extra));
        let svc = Service::with_tier(name.as_str(), 2).unwrap();
        let caps: Vec<String> = (0..extra).map(|i| format!("c\u{e9}{i}")).collect();
        let mac = MintRequest::new(preimage.payment_hash())
            .service(svc.clone())
            .service(Service::new("b").unwrap())
            .capabilities(&svc, &caps)
            .unwrap()
            .mint_with_key(TokenId::from_bytes([7; 32]), &key)
            .unwrap();
        let cred = Credential::new(mac, preimage.clone());
        let ctx = VerifyContext::new(&name, now());
        let r = Verifier::new()
            .verify(&cred, &ctx, |_| vec![key.clone()])
            .unwrap();
        assert_eq!(r.service(), name);
        assert_eq!(r.tier(), 2);
        assert_eq!(
            r.services().collect::<Vec<_>>(),
            [(name.as_str(), 2), ("b", 0)]
        );
        assert_eq!(
            r.capabilities().map(Iterator::collect::<Vec<_>>),
            Some(caps.iter().map(String::as_str).collect())
        );
        assert_eq!(r.clone(), r);
    }
}

#[test]
fn a_valid_token_yields_a_full_receipt() {
    let f = fixture();
    let cred = Credential::new(f.macaroon.clone(), f.preimage.clone());
    let ctx = VerifyContext::new("api", now())
        .capability("write")
        .min_tier(1);
    let r = Verifier::new()
        .verify(&cred, &ctx, |id| {
            assert_eq!(id, &f.token_id);
            vec![f.key.clone()]
        })
        .unwrap();
    assert_eq!(r.token_id(), &f.token_id);
    assert_eq!(r.payment_hash(), &f.preimage.payment_hash());
    assert_eq!(r.service(), "api");
    assert_eq!(r.tier(), 1);
    assert_eq!(r.services().collect::<Vec<_>>(), [("api", 1), ("other", 0)]);
    assert_eq!(
        r.capabilities().map(Iterator::collect::<Vec<_>>),
        Some(vec!["read", "write"])
    );
    assert!(r.allows("read") && r.allows("write") && !r.allows("delete"));
    assert_eq!(r.valid_until(), Some(from_unix_seconds(NOW + 3600)));
    assert_eq!(
        f.macaroon.caveats().collect::<Vec<_>>(),
        [
            "services=api:1,other:0",
            "api_capabilities=read,write",
            "api_valid_until=1800003600",
            "other_valid_until=1800003600"
        ],
        "Aperture's caveat order"
    );
}

#[test]
fn wrong_preimage_fails_before_any_key_lookup() {
    let f = fixture();
    let cred = Credential::new(f.macaroon.clone(), Preimage::from_bytes([0; 32]));
    let ctx = VerifyContext::new("api", now());
    let r = Verifier::new().verify(&cred, &ctx, |_| {
        panic!("store touched before preimage check")
    });
    assert_eq!(r, Err(VerifyError::PreimageMismatch));
}

#[test]
fn wrong_root_key_or_unknown_token_fails() {
    let f = fixture();
    let cred = Credential::new(f.macaroon.clone(), f.preimage.clone());
    let ctx = VerifyContext::new("api", now());
    assert_eq!(
        Verifier::new().verify(&cred, &ctx, |_| vec![RootKey::from_bytes([9; 32])]),
        Err(VerifyError::InvalidSignature)
    );
    assert_eq!(
        Verifier::new().verify(&cred, &ctx, |_| vec![]),
        Err(VerifyError::UnknownToken(f.token_id))
    );
    // Any of several keys (rotation) may match.
    assert!(
        Verifier::new()
            .verify(&cred, &ctx, |_| vec![
                RootKey::from_bytes([9; 32]),
                f.key.clone()
            ])
            .is_ok()
    );
}

#[test]
fn tampered_caveat_breaks_the_signature() {
    let f = fixture();
    let bytes = f.macaroon.encode();
    let needle = b"read,write";
    let pos = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    let mut tampered = bytes.clone();
    tampered[pos..pos + 4].copy_from_slice(b"root");
    let mac = Macaroon::decode(&tampered).unwrap();
    assert_eq!(
        verify_with(&f, mac, &VerifyContext::new("api", now())),
        Err(VerifyError::InvalidSignature)
    );
    // Dropping the last caveat (keeping the signature) also fails.
    let mut shorter = Macaroon::new(&f.key, f.macaroon.identifier().to_vec(), None).unwrap();
    for c in f.macaroon.caveats().take(3) {
        shorter.add_first_party_caveat(c).unwrap();
    }
    assert_ne!(shorter.signature(), f.macaroon.signature());
}

#[test]
fn widening_caveats_are_rejected_even_with_a_valid_chain() {
    let f = fixture();
    let ctx = VerifyContext::new("api", now());
    let cases = [
        ("api_valid_until=1900000000", 4, "api_valid_until"),
        ("services=api:1,other:0,admin:0", 4, "services"),
        ("services=api:2", 4, "services"),
        ("api_capabilities=read,write,delete", 4, "api_capabilities"),
    ];
    for (caveat, index, condition) in cases {
        assert_eq!(
            verify_with(&f, attenuated(&f, caveat), &ctx),
            Err(VerifyError::Widened {
                index,
                condition: condition.into()
            }),
            "{caveat}"
        );
    }
    // Narrowing is fine, and the last occurrence decides.
    let narrowed = attenuated(&f, "api_capabilities=read");
    assert_eq!(
        verify_with(&f, narrowed, &ctx.clone().capability("write")),
        Err(VerifyError::CapabilityNotAllowed {
            service: "api".into(),
            capability: "write".into()
        })
    );
    let narrowed = attenuated(&f, "services=other:0");
    assert_eq!(
        verify_with(&f, narrowed.clone(), &ctx),
        Err(VerifyError::WrongService("api".into()))
    );
    assert!(verify_with(&f, narrowed, &VerifyContext::new("other", now())).is_ok());
    let sooner = attenuated(&f, &format!("api_valid_until={}", NOW + 10));
    assert!(matches!(
        verify_with(
            &f,
            sooner,
            &VerifyContext::new("api", from_unix_seconds(NOW + 10))
        ),
        Err(VerifyError::Expired { .. })
    ));
}

#[test]
fn expiry_wrong_service_capability_and_tier_are_enforced() {
    let f = fixture();
    let m = f.macaroon.clone();
    assert_eq!(
        verify_with(
            &f,
            m.clone(),
            &VerifyContext::new("api", from_unix_seconds(NOW + 3600))
        ),
        Err(VerifyError::Expired {
            service: "api".into(),
            valid_until: NOW + 3600
        })
    );
    assert!(
        verify_with(
            &f,
            m.clone(),
            &VerifyContext::new("api", from_unix_seconds(NOW + 3599))
        )
        .is_ok()
    );
    assert_eq!(
        verify_with(&f, m.clone(), &VerifyContext::new("billing", now())),
        Err(VerifyError::WrongService("billing".into()))
    );
    assert_eq!(
        verify_with(
            &f,
            m.clone(),
            &VerifyContext::new("api", now()).capability("admin")
        ),
        Err(VerifyError::CapabilityNotAllowed {
            service: "api".into(),
            capability: "admin".into()
        })
    );
    // `other` has no capabilities caveat: unrestricted, as in Aperture.
    assert!(
        verify_with(
            &f,
            m.clone(),
            &VerifyContext::new("other", now()).capability("admin")
        )
        .is_ok()
    );
    assert_eq!(
        verify_with(&f, m, &VerifyContext::new("other", now()).min_tier(1)),
        Err(VerifyError::TierTooLow {
            service: "other".into(),
            tier: 0,
            required: 1
        })
    );
}

#[test]
fn unknown_caveats_are_rejected_by_default_and_ignored_in_parity_mode() {
    let f = fixture();
    let m = attenuated(&f, "ip=10.0.0.1");
    let ctx = VerifyContext::new("api", now());
    assert_eq!(
        verify_with(&f, m.clone(), &ctx),
        Err(VerifyError::UnknownCaveat {
            index: 4,
            condition: "ip".into()
        })
    );
    let parity = Verifier::builder()
        .unknown_caveats(UnknownCaveats::Ignore)
        .build()
        .unwrap();
    let cred = Credential::new(m, f.preimage.clone());
    assert!(parity.verify(&cred, &ctx, |_| vec![f.key.clone()]).is_ok());
}

#[test]
fn malformed_caveats_are_reported_with_their_index() {
    let f = fixture();
    let ctx = VerifyContext::new("api", now());
    assert_eq!(
        verify_with(&f, attenuated(&f, "no-equals-sign"), &ctx),
        Err(VerifyError::MalformedCaveat {
            index: 4,
            error: CaveatError::MissingEquals
        })
    );
    assert_eq!(
        verify_with(&f, attenuated(&f, "api_valid_until=soon"), &ctx),
        Err(VerifyError::MalformedCaveat {
            index: 4,
            error: CaveatError::InvalidTimestamp("soon".into())
        })
    );
}

#[test]
fn preimage_caveat_must_match_the_presented_preimage() {
    let f = fixture();
    let ctx = VerifyContext::new("api", now());
    let good = attenuated(
        &f,
        &format!("preimage={}", f.preimage.expose_hex().as_str()),
    );
    assert!(verify_with(&f, good, &ctx).is_ok());
    let other = Preimage::from_bytes([1; 32]);
    let bad = attenuated(&f, &format!("preimage={}", other.expose_hex().as_str()));
    assert_eq!(
        verify_with(&f, bad, &ctx),
        Err(VerifyError::PreimageCaveatMismatch(4))
    );
}

#[test]
fn unknown_identifier_versions_are_rejected() {
    let f = fixture();
    let mut ident = f.macaroon.identifier().to_vec();
    ident[1] = 1;
    let m = Macaroon::new(&f.key, ident, None).unwrap();
    assert_eq!(
        verify_with(&f, m, &VerifyContext::new("api", now())),
        Err(VerifyError::Identifier(IdentifierError::UnknownVersion(1)))
    );
    let m = Macaroon::new(&f.key, vec![0, 0, 1], None).unwrap();
    assert_eq!(
        verify_with(&f, m, &VerifyContext::new("api", now())),
        Err(VerifyError::Identifier(IdentifierError::WrongLength(3)))
    );
}

#[test]
fn malformed_credentials_are_typed_errors() {
    let f = fixture();
    let b64 = f.macaroon.to_base64();
    let hex = f.preimage.expose_hex();
    let hex = hex.as_str();
    // Bad base64.
    assert!(matches!(
        Credential::parse_authorization(&format!("L402 {}*:{hex}", &b64[..b64.len() - 1])),
        Err(ParseCredentialError::Macaroon(DecodeError::Base64(_)))
    ));
    // Bad hex.
    assert!(matches!(
        Credential::parse_authorization(&format!("L402 {b64}:{}zz", &hex[..62])),
        Err(ParseCredentialError::Preimage(_))
    ));
    // Truncated macaroon.
    let bytes = f.macaroon.encode();
    let truncated = l402_core::encoding::base64_encode(&bytes[..bytes.len() - 5]);
    assert!(matches!(
        Credential::parse_authorization(&format!("L402 {truncated}:{hex}")),
        Err(ParseCredentialError::Macaroon(DecodeError::Truncated(_)))
    ));
    // Trailing bytes.
    let mut trailing = bytes.clone();
    trailing.extend_from_slice(b"xx");
    let trailing = l402_core::encoding::base64_encode(&trailing);
    assert_eq!(
        Credential::parse_authorization(&format!("L402 {trailing}:{hex}")),
        Err(ParseCredentialError::Macaroon(DecodeError::TrailingBytes(
            2
        )))
    );
    // Oversized.
    let huge = l402_core::encoding::base64_encode(&vec![2u8; MAX_MACAROON_LEN + 1]);
    assert!(matches!(
        Credential::parse_authorization(&format!("L402 {huge}:{hex}")),
        Err(ParseCredentialError::Macaroon(DecodeError::TooLong(_)))
            | Err(ParseCredentialError::TooLong(_))
    ));
    assert!(matches!(
        Macaroon::from_base64(&huge),
        Err(DecodeError::TooLong(_))
    ));
}

struct Region;
impl CaveatSatisfier for Region {
    fn condition(&self) -> &str {
        "region"
    }
    fn satisfy_previous(&self, previous: &str, current: &str) -> Result<(), String> {
        let prev: Vec<_> = previous.split(',').collect();
        if current.split(',').all(|r| prev.contains(&r)) {
            Ok(())
        } else {
            Err("region list widened".into())
        }
    }
    fn satisfy_final(&self, value: &str, ctx: &VerifyContext<'_>) -> Result<(), String> {
        let here = ctx.attribute("region").unwrap_or("");
        if value.split(',').any(|r| r == here) {
            Ok(())
        } else {
            Err(format!("region {here} not allowed"))
        }
    }
}

#[test]
fn user_defined_caveats_go_through_their_satisfier() {
    let f = fixture();
    let verifier = Verifier::builder().satisfier(Region).build().unwrap();
    let m = attenuated(&f, "region=eu,us");
    let cred = Credential::new(m, f.preimage.clone());
    let eu = [("region", "eu")];
    let asia = [("region", "asia")];
    let ok = VerifyContext::new("api", now()).attributes(&eu);
    assert!(verifier.verify(&cred, &ok, |_| vec![f.key.clone()]).is_ok());
    let bad = VerifyContext::new("api", now()).attributes(&asia);
    assert_eq!(
        verifier.verify(&cred, &bad, |_| vec![f.key.clone()]),
        Err(VerifyError::NotSatisfied {
            condition: "region".into(),
            reason: "region asia not allowed".into()
        })
    );
    let mut widened = cred.macaroon().clone();
    widened.add_first_party_caveat("region=eu,asia").unwrap();
    let cred = Credential::new(widened, f.preimage.clone());
    assert!(matches!(
        verifier.verify(&cred, &ok, |_| vec![f.key.clone()]),
        Err(VerifyError::Widened { index: 5, .. })
    ));
    assert!(
        Verifier::builder()
            .satisfier(ReservedServices)
            .build()
            .is_err()
    );
}

struct ReservedServices;
impl CaveatSatisfier for ReservedServices {
    fn condition(&self) -> &str {
        "services"
    }
    fn satisfy_previous(&self, _: &str, _: &str) -> Result<(), String> {
        Ok(())
    }
    fn satisfy_final(&self, _: &str, _: &VerifyContext<'_>) -> Result<(), String> {
        Ok(())
    }
}

#[test]
fn minted_tokens_verify_against_their_store_and_revocation_sticks() {
    for store in [
        Box::new(MemoryRootKeyStore::new()) as Box<dyn l402_core::DynRootKeyStore>,
        Box::new(DerivedRootKeyStore::new(
            MasterSecret::from_bytes(&[3; 32]).unwrap(),
        )),
    ] {
        let preimage = Preimage::from_bytes([8; 32]);
        let req = MintRequest::new(preimage.payment_hash())
            .service(Service::new("api").unwrap())
            .valid_until(SystemTime::now() + Duration::from_secs(60))
            .caveat(Caveat::new("custom", "1").unwrap());
        let store: &dyn l402_core::DynRootKeyStore = &*store;
        let mac = block_on(mint(store, &req)).unwrap();
        let cred = Credential::new(mac, preimage);
        let ctx = VerifyContext::new("api", SystemTime::now());
        let parity = Verifier::builder()
            .unknown_caveats(UnknownCaveats::Ignore)
            .build()
            .unwrap();
        let receipt = block_on(parity.verify_with_store(&cred, &ctx, store)).unwrap();
        block_on(store.revoke(receipt.token_id())).unwrap();
        assert!(matches!(
            block_on(parity.verify_with_store(&cred, &ctx, store)),
            Err(VerifyWithStoreError::Invalid(VerifyError::UnknownToken(_)))
        ));
    }
}

#[test]
fn rotated_secrets_keep_old_tokens_valid_until_retired() {
    let store = DerivedRootKeyStore::new(MasterSecret::from_bytes(&[1; 32]).unwrap());
    let preimage = Preimage::from_bytes([2; 32]);
    let req = MintRequest::new(preimage.payment_hash()).service(Service::new("api").unwrap());
    let cred = Credential::new(block_on(mint(&store, &req)).unwrap(), preimage);
    let ctx = VerifyContext::new("api", SystemTime::now());
    store.rotate(MasterSecret::from_bytes(&[2; 32]).unwrap());
    assert!(block_on(Verifier::new().verify_with_store(&cred, &ctx, &store)).is_ok());
    store.retire_previous();
    assert!(matches!(
        block_on(Verifier::new().verify_with_store(&cred, &ctx, &store)),
        Err(VerifyWithStoreError::Invalid(VerifyError::InvalidSignature))
    ));
}

#[test]
fn minting_needs_a_service_and_header_round_trips() {
    let store = MemoryRootKeyStore::new();
    let preimage = Preimage::from_bytes([2; 32]);
    let r = block_on(mint(&store, &MintRequest::new(preimage.payment_hash())));
    assert!(matches!(r, Err(l402_core::MintError::NoService)));
    assert!(store.is_empty(), "nothing stored for a refused request");
    let req = MintRequest::new(preimage.payment_hash()).service(Service::new("api").unwrap());
    let mac = block_on(mint(&store, &req)).unwrap();
    let cred = Credential::new(mac, preimage);
    for scheme in [Scheme::L402, Scheme::Lsat] {
        let s = cred.to_header_string(scheme);
        assert_eq!(
            Credential::parse_authorization(&s).unwrap(),
            Some(cred.clone())
        );
    }
    let _ = unix_seconds(SystemTime::now());
}
