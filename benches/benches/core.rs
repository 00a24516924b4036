//! l402-core: mint, verify (0/3/20 caveats), parse a credential, format a challenge, and
//! the raw crypto floor that verification cannot go below.
//!
//! Run: `cargo bench -p l402-benches --bench core`
//!
//! After criterion's runs, `verify/ratio` times full verification and the floor in
//! alternating rounds (so drifts in machine load hit both alike) and prints the median of
//! the per-round ratios: `cargo bench -p l402-benches --bench core -- verify/ratio`. It also
//! prints the ratio to the bare SHA-256 compressions verification performs, a stricter
//! reference that no HMAC implementation can beat.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout
)]

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use criterion::{Criterion, criterion_group};
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
    caveats: &[Vec<u8>],
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

/// One verification benchmark: a token with `n` caveats, its header, and the floor's inputs.
struct Case {
    n: usize,
    verifier: Verifier,
    header: String,
    keys: Vec<RootKey>,
    key: RootKey,
    preimage: Preimage,
    identifier: Vec<u8>,
    caveats: Vec<Vec<u8>>,
}

impl Case {
    fn new(n: usize) -> Self {
        let (key, preimage, mac) = token(n);
        let header = Credential::new(mac.clone(), preimage.clone())
            .to_header_string(Scheme::L402)
            .to_string();
        let case = Case {
            n,
            verifier: Verifier::builder()
                .unknown_caveats(UnknownCaveats::Ignore)
                .build()
                .unwrap(),
            header,
            keys: vec![key.clone()],
            key,
            preimage,
            identifier: mac.identifier().to_vec(),
            caveats: mac.caveats().map(|c| c.as_bytes().to_vec()).collect(),
        };
        case.full(&case.header);
        case
    }

    /// Everything a server does per request, header parsing included.
    fn full(&self, header: &str) {
        let ctx = VerifyContext::new("api", from_unix_seconds(NOW));
        let cred = Credential::parse_authorization(header).unwrap().unwrap();
        let paid = self.verifier.check_payment(&cred).unwrap();
        match self.n {
            // No services caveat: the signature and preimage are what is measured.
            0 => drop(black_box(paid.verify(&self.keys, &ctx))),
            _ => drop(black_box(paid.verify(&self.keys, &ctx).unwrap())),
        }
    }

    fn floor(&self) -> [u8; 32] {
        crypto_floor(
            black_box(self.key.expose_secret()),
            black_box(&self.identifier),
            black_box(&self.caveats),
            black_box(self.preimage.expose_secret()),
        )
    }
}

fn bench_verify(c: &mut Criterion) {
    let mut g = c.benchmark_group("verify");
    for n in [0usize, 3, 20] {
        let case = Case::new(n);
        g.bench_function(format!("full_{n}_caveats"), |b| {
            b.iter(|| case.full(black_box(&case.header)))
        });
        g.bench_function(format!("crypto_floor_{n}_caveats"), |b| {
            b.iter(|| case.floor())
        });
    }
    g.finish();
}

/// The stricter reference: the SHA-256 compressions verification performs, with nothing
/// else: two for the key derivation (the generator key's states are cached), five for the
/// 66-byte identifier, four per short caveat and one for the preimage.
fn compressions(n: usize) -> usize {
    2 + 5 + 4 * n + 1
}

fn compress_only(count: usize) -> [u32; 8] {
    let mut state = [0x6a09_e667u32; 8];
    let block = sha2::digest::generic_array::GenericArray::from([7u8; 64]);
    for _ in 0..count {
        sha2::compress256(black_box(&mut state), core::slice::from_ref(&block));
    }
    state
}

/// Full verification against the floor in alternating rounds; prints the median ratio.
fn ratio_report() {
    const ROUNDS: usize = 21;
    println!("verify/ratio: full verification / crypto floor, {ROUNDS} alternating rounds");
    for n in [0usize, 3, 20] {
        let case = Case::new(n);
        // About 20 ms per side per round.
        let iterations = (20_000_000 / (700 + 250 * n as u64)).max(1);
        let time = |f: &dyn Fn()| {
            let start = Instant::now();
            for _ in 0..iterations {
                f();
            }
            start.elapsed().as_nanos() as f64 / iterations as f64
        };
        let (mut ratios, mut fulls, mut floors) = (Vec::new(), Vec::new(), Vec::new());
        let (mut strict, mut bare) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let full = time(&|| case.full(black_box(&case.header)));
            let floor = time(&|| {
                black_box(case.floor());
            });
            let compress = time(&|| {
                black_box(compress_only(compressions(n)));
            });
            ratios.push(full / floor);
            strict.push(full / compress);
            fulls.push(full);
            floors.push(floor);
            bare.push(compress);
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        println!(
            "  {n:2} caveats: full {:6.0} ns   floor {:6.0} ns   ratio {:.2}   \
             ({} bare compressions {:6.0} ns, ratio {:.2})",
            median(&mut fulls),
            median(&mut floors),
            median(&mut ratios),
            compressions(n),
            median(&mut bare),
            median(&mut strict),
        );
    }
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

fn main() {
    benches();
    // Criterion's positional argument is a filter; run the ratio report when it matches.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    if filter.is_none_or(|f| "verify/ratio".contains(f.as_str())) {
        ratio_report();
    }
    Criterion::default().configure_from_args().final_summary();
}
