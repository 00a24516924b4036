//! l402-core: mint, verify (0/3/20 caveats), parse a credential, format a challenge, and
//! the raw crypto floor that verification cannot go below.
//!
//! Run: `cargo bench -p l402-benches --bench core`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::{Criterion, criterion_group, criterion_main};
use hmac::{Hmac, Mac};
use l402_core::{
    Caveat, Challenge, Credential, MemoryRootKeyStore, MintRequest, Preimage, RootKey, Scheme,
    Service, TokenId, UnknownCaveats, Verifier, VerifyContext, from_unix_seconds, mint,
};
use sha2::{Digest, Sha256};

const INVOICE: &str = "lnbcrt10u1p4p3fgqpp5jm4j6l0qgr02hp6xe8w5ztcl4rer5al3azy477fqau8vsy0u3nnqdpdfs6rqv3qve5hsar4wfjn5gp3xqcrqgrnv96zq2rvdejzjxqrrsscqzzs9qyysgqsp5pktjrrjj47ne0ylmmu4hvavdmd43j2smglhvqtpce2txmtzxky4qltev2xxxlqwf6zamu4ajkttpjmyac9mpvr4fmdqjpj5nqwgvs5753hg0t5rxvpju5hu5lv49g5jxfg09q774v4h8mss7lunumf4r6ngp95f0cv";
const NOW: u64 = 1_800_000_000;

/// A token with `n` caveats in Aperture's style: services, capabilities, valid_until, then
/// user caveats for the rest.
fn token(n: usize) -> (RootKey, Preimage, l402_core::Macaroon) {
    let key = RootKey::from_bytes([5; 32]);
    let preimage = Preimage::from_bytes([6; 32]);
    let svc = Service::new("api").unwrap();
    let mut req = MintRequest::new(preimage.payment_hash()).service(svc.clone());
    let mut count = 1;
    if n >= 2 {
        req = req.capabilities(&svc, &["read", "write"]).unwrap();
        count += 1;
    }
    if n >= 3 {
        req = req.valid_until(from_unix_seconds(NOW + 3600));
        count += 1;
    }
    for i in count..n {
        req = req.caveat(Caveat::new(format!("c{i}"), "value").unwrap());
    }
    let mac = req
        .mint_with_key(TokenId::from_bytes([7; 32]), &key)
        .unwrap();
    let mac = if n == 0 {
        l402_core::Macaroon::new(&key, mac.identifier().to_vec(), None).unwrap()
    } else {
        mac
    };
    assert_eq!(mac.caveats().len(), n);
    (key, preimage, mac)
}

fn hmac(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(msg);
    m.finalize().into_bytes().into()
}

/// The floor: one key-derivation HMAC, one HMAC per identifier and caveat, one SHA-256 of
/// the preimage. No parsing, no allocation, no comparison.
fn crypto_floor(
    root_key: &[u8; 32],
    identifier: &[u8],
    caveats: &[&[u8]],
    preimage: &[u8; 32],
) -> [u8; 32] {
    let hash: [u8; 32] = Sha256::digest(preimage).into();
    let k = hmac(b"macaroons-key-generator", root_key);
    let mut sig = hmac(&k, identifier);
    for c in caveats {
        sig = hmac(&sig, c);
    }
    sig[0] ^= hash[0];
    sig
}

fn bench_verify(c: &mut Criterion) {
    let mut g = c.benchmark_group("verify");
    let verifier = Verifier::builder()
        .unknown_caveats(UnknownCaveats::Ignore)
        .build()
        .unwrap();
    for n in [0usize, 3, 20] {
        let (key, preimage, mac) = token(n);
        let header = Credential::new(mac.clone(), preimage.clone())
            .to_header_string(Scheme::L402)
            .to_string();
        let now = from_unix_seconds(NOW);
        let keys = vec![key.clone()];
        let ctx = VerifyContext::new("api", now);
        let verify = |h: &str| {
            let cred = Credential::parse_authorization(h).unwrap().unwrap();
            let paid = verifier.check_payment(&cred).unwrap();
            match n {
                0 => {
                    // No services caveat: the signature and preimage are what is measured.
                    let _ = paid.verify(&keys, &ctx);
                }
                _ => {
                    paid.verify(&keys, &ctx).unwrap();
                }
            }
        };
        verify(&header);
        g.bench_function(format!("full_{n}_caveats"), |b| {
            b.iter(|| verify(black_box(&header)))
        });

        let caveats: Vec<&[u8]> = mac.caveats().iter().map(|c| c.as_bytes()).collect();
        let ident = mac.identifier().to_vec();
        g.bench_function(format!("crypto_floor_{n}_caveats"), |b| {
            b.iter(|| {
                crypto_floor(
                    black_box(key.expose_secret()),
                    black_box(&ident),
                    black_box(&caveats),
                    black_box(preimage.expose_secret()),
                )
            })
        });
    }
    g.finish();
}

fn bench_codecs(c: &mut Criterion) {
    let (_, preimage, mac) = token(3);
    let header = Credential::new(mac.clone(), preimage)
        .to_header_string(Scheme::L402)
        .to_string();
    c.bench_function("parse_credential_3_caveats", |b| {
        b.iter(|| Credential::parse_authorization(black_box(&header)).unwrap())
    });
    let challenge = Challenge::new(mac, INVOICE);
    c.bench_function("format_challenge", |b| {
        b.iter(|| black_box(&challenge).to_header_values().unwrap())
    });
}

fn bench_mint(c: &mut Criterion) {
    let store = MemoryRootKeyStore::new();
    let preimage = Preimage::from_bytes([6; 32]);
    let svc = Service::new("api").unwrap();
    let req = MintRequest::new(preimage.payment_hash())
        .service(svc.clone())
        .capabilities(&svc, &["read"])
        .unwrap()
        .valid_until(SystemTime::now() + Duration::from_secs(3600));
    c.bench_function("mint_memory_store_3_caveats", |b| {
        b.iter(|| pollster::block_on(mint(&store, black_box(&req))).unwrap())
    });
}

criterion_group!(benches, bench_verify, bench_codecs, bench_mint);
criterion_main!(benches);
