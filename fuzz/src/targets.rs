//! `do_test` functions for every parser: they must never panic, and whatever parses must
//! round-trip losslessly. Shared by the cargo-fuzz targets and the stable corpus tests.
//! Assertion failures are findings, so panicking is the point here.

#![allow(clippy::expect_used, clippy::panic)]

use l402_core::Macaroon;
use l402_core::header::{Challenge, Credential, Scheme};
use l402_core::payment_scheme::{
    ChargeRequest, PaymentChallenge, PaymentCredential, PaymentReceipt,
};

/// The V2 binary decoder and both text forms.
#[allow(unreachable_pub)]
pub fn macaroon_decode(data: &[u8]) {
    if let Ok(m) = Macaroon::decode(data) {
        assert_eq!(m.encode(), data, "binary decoding must be lossless");
        assert_eq!(Macaroon::from_base64(&m.to_base64()).as_ref(), Ok(&m));
        assert_eq!(Macaroon::from_hex(&m.to_hex()).as_ref(), Ok(&m));
    }
    if let Ok(s) = core::str::from_utf8(data) {
        if let Ok(m) = Macaroon::from_base64(s) {
            assert_eq!(Macaroon::decode(&m.encode()).as_ref(), Ok(&m));
        }
        if let Ok(m) = Macaroon::from_hex(s) {
            assert_eq!(Macaroon::decode(&m.encode()).as_ref(), Ok(&m));
        }
    }
}

/// The `Authorization` / `Macaroon` header parsers.
#[allow(unreachable_pub)]
pub fn credential_parse(data: &[u8]) {
    let Ok(s) = core::str::from_utf8(data) else {
        return;
    };
    if let Ok(Some(c)) = Credential::parse_authorization(s) {
        for scheme in [Scheme::L402, Scheme::Lsat] {
            let again = Credential::parse_authorization(&c.to_header_string(scheme));
            assert_eq!(again, Ok(Some(c.clone())), "credential must round-trip");
        }
    }
    if let Ok(c) = Credential::parse_macaroon_header(s) {
        assert_eq!(
            Credential::parse_macaroon_header(&c.macaroon().to_hex()),
            Ok(c.clone())
        );
    }
    // Several header values, as a server sees them.
    let mut headers = http::HeaderMap::new();
    for line in s.split('\n') {
        if let Ok(v) = http::HeaderValue::from_str(line) {
            headers.append(http::header::AUTHORIZATION, v.clone());
            headers.append("macaroon", v);
        }
    }
    let _ = Credential::from_headers(&headers);
}

/// The `WWW-Authenticate` challenge parser.
#[allow(unreachable_pub)]
pub fn challenge_parse(data: &[u8]) {
    let Ok(s) = core::str::from_utf8(data) else {
        return;
    };
    let values: Vec<&str> = s.split('\n').collect();
    if let Ok(c) = Challenge::from_values(values.iter().copied()) {
        for scheme in [Scheme::L402, Scheme::Lsat] {
            let again =
                Challenge::parse(&c.to_header_string(scheme)).expect("emitted challenge parses");
            assert_eq!(again.macaroon(), c.macaroon());
            assert_eq!(again.invoice(), c.invoice());
            assert_eq!(again.scheme(), scheme);
        }
    }
}

/// The `Payment` scheme's parsers: challenge lists (one field per line), the
/// `Authorization: Payment` credential, the receipt and the charge request. Whatever
/// parses must format back to a value that parses to the same thing.
#[allow(unreachable_pub)]
pub fn payment_parse(data: &[u8]) {
    let Ok(s) = core::str::from_utf8(data) else {
        return;
    };
    let values: Vec<&str> = s.split('\n').collect();
    if let Ok(list) = PaymentChallenge::from_values(values.iter().copied()) {
        for c in &list {
            let again = PaymentChallenge::parse_list(&c.to_header_string())
                .expect("emitted challenge parses");
            assert_eq!(again, vec![c.clone()], "challenge must round-trip");
        }
        let joined: Vec<String> = list
            .iter()
            .map(PaymentChallenge::to_header_string)
            .collect();
        assert_eq!(
            PaymentChallenge::parse_list(&joined.join(", ")).as_ref(),
            Ok(&list),
            "challenge list must round-trip"
        );
    }
    for line in &values {
        if let Ok(c) = PaymentCredential::parse_authorization(line) {
            let again = PaymentCredential::parse_authorization(&c.to_header_string());
            assert_eq!(again.as_ref(), Ok(&c), "credential must round-trip");
        }
        if let Ok(r) = PaymentReceipt::parse(line) {
            assert_eq!(
                PaymentReceipt::parse(&r.to_header_string()).as_ref(),
                Ok(&r),
                "receipt must round-trip"
            );
        }
        if let Ok(r) = ChargeRequest::decode(line) {
            let encoded = r.encode().expect("request encodes");
            assert_eq!(
                ChargeRequest::decode(&encoded).ok().as_ref(),
                Some(&r),
                "request must round-trip"
            );
        }
    }
    // As a server sees several Authorization values.
    let mut headers = http::HeaderMap::new();
    for line in &values {
        if let Ok(v) = http::HeaderValue::from_str(line) {
            headers.append(http::header::AUTHORIZATION, v.clone());
            headers.append(http::header::WWW_AUTHENTICATE, v);
        }
    }
    let _ = PaymentCredential::from_headers(&headers);
    let _ = PaymentChallenge::from_headers(&headers);
}

/// The node credential readers: LND macaroon ids (with and without a macaroon around
/// them) and CLN runes; what parses must re-encode to an equal value.
#[allow(unreachable_pub)]
pub fn node_credential_parse(data: &[u8]) {
    use l402_core::node_credential::lnd::{LndMacaroon, MacaroonId};
    use l402_core::node_credential::rune::Rune;
    if let Ok(id) = MacaroonId::decode(data) {
        assert_eq!(MacaroonId::decode(&id.encode()).as_ref(), Ok(&id));
    }
    let _ = LndMacaroon::from_bytes(data);
    if let Ok(s) = core::str::from_utf8(data)
        && let Ok(rune) = Rune::parse(s)
    {
        assert_eq!(Rune::parse(&rune.to_base64()).as_ref(), Ok(&rune));
        let _ = rune.can_spend();
        if let Ok(more) = rune.restrict("method=getinfo") {
            assert!(!more.can_spend(), "a getinfo-only restriction cannot spend");
        }
    }
}
