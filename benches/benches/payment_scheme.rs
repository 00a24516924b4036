//! l402-core's `Payment` scheme: verifying a Lightning charge credential against its
//! crypto floor, measured in the same run.
//!
//! Run: `cargo bench -p l402-benches --bench payment_scheme`
//! (the ratio report alone: `cargo bench -p l402-benches --bench payment_scheme -- payment/ratio`;
//! full verification alone, for `valgrind --tool=callgrind`: run the built binary with
//! `payment/profile [iterations]`)
//!
//! *Full verification* is what a server does per request (`verify_authorization`, then the
//! store): parse the `Authorization` value (size cap, strict base64url, credential JSON), recompute the challenge id (HMAC
//! of the echoed fields) and compare it in constant time, parse `expires`, decode the
//! bound request (base64url, JSON) and check amount and currency, hash the preimage and
//! compare, then look the charge up in the in-memory store (here: a store of 100,000
//! charges that already holds this one, so the lookup finds it).
//! The *crypto floor* is the hashing that cannot be avoided, with the `hmac` and `sha2`
//! crates and nothing else: one HMAC-SHA256 over the bound fields and one SHA-256 of the
//! preimage.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout
)]

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::{Criterion, criterion_group};
use hmac::{Hmac, Mac};
use l402_core::PaymentHash;
use l402_core::Preimage;
use l402_core::payment_scheme::{
    ChallengeIdSecret, ChargeContext, ChargeRequest, Consumption, MemoryChargeStore,
    PaymentChallenge, PaymentCredential, verify_authorization, verify_charge,
};
use sha2::{Digest, Sha256};

/// A real regtest invoice for 1,000 sat (fixture; its preimage is below).
const INVOICE: &str = "lnbcrt10u1p4p3fgqpp5jm4j6l0qgr02hp6xe8w5ztcl4rer5al3azy477fqau8vsy0u3nnqdpdfs6rqv3qve5hsar4wfjn5gp3xqcrqgrnv96zq2rvdejzjxqrrsscqzzs9qyysgqsp5pktjrrjj47ne0ylmmu4hvavdmd43j2smglhvqtpce2txmtzxky4qltev2xxxlqwf6zamu4ajkttpjmyac9mpvr4fmdqjpj5nqwgvs5753hg0t5rxvpju5hu5lv49g5jxfg09q774v4h8mss7lunumf4r6ngp95f0cv";
const PREIMAGE: &str = "8c2653a1a051bcc2ce1978864402dd07e5699b591ae3de6a6c161c5f16fc6f5b";
const REALM: &str = "api.example.com";
const NOW: u64 = 1_800_000_000;

struct Case {
    secret: ChallengeIdSecret,
    header: String,
    store: MemoryChargeStore,
    now: SystemTime,
    // The floor's inputs.
    secret_bytes: Vec<u8>,
    hmac_input: Vec<u8>,
    preimage: [u8; 32],
}

impl Case {
    fn new() -> Self {
        let secret = ChallengeIdSecret::from_bytes(&[7; 32]).unwrap();
        let invoice: l402_core::lightning_invoice::Bolt11Invoice = INVOICE.parse().unwrap();
        let request = ChargeRequest::for_invoice(&invoice)
            .unwrap()
            .with_description("Weather report");
        let now = UNIX_EPOCH + Duration::from_secs(NOW);
        let challenge = PaymentChallenge::lightning_charge(
            &secret,
            REALM,
            &request,
            now + Duration::from_secs(900),
        )
        .unwrap();
        let preimage = Preimage::from_hex(PREIMAGE).unwrap();
        let header = PaymentCredential::new(challenge.clone(), &preimage)
            .to_header_string()
            .to_string();
        let store = MemoryChargeStore::new();
        let exp = now + Duration::from_secs(900);
        for i in 0..100_000u32 {
            let mut h = [0u8; 32];
            h[..4].copy_from_slice(&i.to_be_bytes());
            store
                .consume_at(&PaymentHash::from_bytes(h), exp, now)
                .unwrap();
        }
        store
            .consume_at(&preimage.payment_hash(), exp, now)
            .unwrap();
        let case = Case {
            secret_bytes: secret.expose_secret().to_vec(),
            hmac_input: challenge.binding().hmac_input().into_bytes(),
            preimage: *preimage.expose_secret(),
            secret,
            header,
            store,
            now,
        };
        assert_eq!(case.full(&case.header), Consumption::AlreadyUsed);
        case
    }

    fn full(&self, header: &str) -> Consumption {
        let ctx = ChargeContext::new(&self.secret, REALM, 1_000, self.now);
        let paid = verify_authorization(header, &ctx).unwrap();
        self.store
            .consume_at(&paid.payment_hash, paid.expires_at, self.now)
            .unwrap()
    }

    fn floor(&self) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(black_box(&self.secret_bytes)).unwrap();
        mac.update(black_box(&self.hmac_input));
        let mut id: [u8; 32] = mac.finalize().into_bytes().into();
        let hash: [u8; 32] = Sha256::digest(black_box(&self.preimage)).into();
        id[0] ^= hash[0];
        id
    }
}

fn bench(c: &mut Criterion) {
    let case = Case::new();
    println!(
        "payment: credential {} bytes, hmac input {} bytes",
        case.header.len(),
        case.hmac_input.len()
    );
    let mut g = c.benchmark_group("payment");
    g.bench_function("verify_charge_full", |b| {
        b.iter(|| black_box(case.full(black_box(&case.header))))
    });
    g.bench_function("crypto_floor", |b| b.iter(|| black_box(case.floor())));
    g.bench_function("parse_then_verify_owned", |b| {
        b.iter(|| {
            let cred = PaymentCredential::parse_authorization(black_box(&case.header)).unwrap();
            let ctx = ChargeContext::new(&case.secret, REALM, 1_000, case.now);
            black_box(verify_charge(&cred, &ctx).unwrap())
        })
    });
    g.bench_function("parse_credential", |b| {
        b.iter(|| PaymentCredential::parse_authorization(black_box(&case.header)).unwrap())
    });
    g.finish();
}

/// Full verification against the floor in alternating rounds; prints the median ratio.
fn ratio_report() {
    const ROUNDS: usize = 21;
    let case = Case::new();
    let iterations = 10_000;
    let time = |f: &dyn Fn()| {
        let start = Instant::now();
        for _ in 0..iterations {
            f();
        }
        start.elapsed().as_nanos() as f64 / f64::from(iterations)
    };
    let (mut ratios, mut fulls, mut floors) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let full = time(&|| {
            black_box(case.full(black_box(&case.header)));
        });
        let floor = time(&|| {
            black_box(case.floor());
        });
        ratios.push(full / floor);
        fulls.push(full);
        floors.push(floor);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (lo, hi) = {
        let mut r = ratios.clone();
        r.sort_by(f64::total_cmp);
        (r[0], r[r.len() - 1])
    };
    println!(
        "payment/ratio: full {:6.0} ns   floor {:6.0} ns   ratio {:.2} (rounds {lo:.2}-{hi:.2}, {ROUNDS} alternating rounds)",
        median(&mut fulls),
        median(&mut floors),
        median(&mut ratios),
    );
}

/// Full verification only, many times, and nothing else: for instruction counts under
/// `valgrind --tool=callgrind` (`-- payment/profile [iterations]`).
fn profile(iterations: usize) {
    let case = Case::new();
    for _ in 0..iterations {
        black_box(case.full(black_box(&case.header)));
    }
}

criterion_group!(benches, bench);

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with('-'));
    if args.next().as_deref() == Some("payment/profile") {
        profile(args.next().and_then(|n| n.parse().ok()).unwrap_or(20_000));
        return;
    }
    benches();
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    if filter.is_none_or(|f| "payment/ratio".contains(f.as_str())) {
        ratio_report();
    }
    Criterion::default().configure_from_args().final_summary();
}
