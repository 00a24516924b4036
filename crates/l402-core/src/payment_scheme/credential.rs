//! The `Authorization: Payment <base64url JSON>` credential.

use core::fmt;
use std::borrow::Cow;

use http::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde::Serialize;
use zeroize::{Zeroize, Zeroizing};

use super::json_reader::{self, Exact, Reader, Seen, line_column, opt_string};

use super::challenge::PaymentChallenge;
use super::challenge_id::ChallengeBinding;
use super::{INTENT_CHARGE, INTENT_SESSION, METHOD_LIGHTNING, SCHEME};
use crate::Preimage;
use crate::encoding::{Base64Error, HexError, base64url_decode_in, base64url_encode};

/// Longest `Authorization` value parsed as a Payment credential: 64 KiB, Aperture's cap.
pub const MAX_PAYMENT_AUTHORIZATION_LEN: usize = 64 * 1024;
/// Most `Authorization` fields examined in one request.
const MAX_AUTHORIZATION_FIELDS: usize = 8;
/// Decoded credentials up to this size are decoded into a buffer on the stack.
const DECODE_ON_STACK: usize = 2048;
/// Longest preimage text accepted in a payload (32 bytes of hex).
const MAX_PREIMAGE_HEX_LEN: usize = 64;

/// Why an `Authorization` value is not a usable Payment charge credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParsePaymentCredentialError {
    /// The value is longer than [`MAX_PAYMENT_AUTHORIZATION_LEN`].
    #[error("credential of {0} bytes exceeds the size limit")]
    TooLong(usize),
    /// The scheme is not `Payment`.
    #[error("not a Payment credential")]
    NotPaymentScheme,
    /// `Payment` with no token after it.
    #[error("Payment credential is empty")]
    Empty,
    /// The token is not strict base64url.
    #[error("Payment credential is not base64url")]
    Base64(#[source] Base64Error),
    /// The decoded token is not JSON of the credential's shape (a required field missing,
    /// a field repeated or of the wrong type). Only the position is kept: the text could
    /// hold the preimage.
    #[error("Payment credential is not valid json (line {line}, column {column})")]
    Json {
        /// Line of the error, from 1.
        line: usize,
        /// Column of the error, from 1.
        column: usize,
    },
    /// The challenge's `method` is not `lightning`.
    #[error("Payment credential is for an unsupported payment method")]
    UnsupportedMethod,
    /// The challenge's `intent` is `session`, which is recognised but not supported.
    #[error("Payment session credentials are not supported")]
    SessionUnsupported,
    /// The challenge's `intent` is neither `charge` nor `session`.
    #[error("Payment credential has an unknown intent")]
    UnknownIntent,
    /// The charge payload has no `preimage`.
    #[error("Payment charge credential has no preimage")]
    MissingPreimage,
    /// The preimage is empty, longer than 64 characters, or not hex.
    #[error("Payment charge credential preimage is not hex")]
    InvalidPreimage,
    /// Several `Authorization` values carry different Payment credentials.
    #[error("conflicting Payment credentials")]
    Conflicting,
    /// More `Authorization` fields than examined.
    #[error("too many Authorization fields")]
    TooManyFields,
}

/// The proof of a Lightning charge: the payment's preimage as hex.
///
/// A secret: `Debug` is redacted and the text is zeroized on drop. The codec accepts any
/// hex of up to 64 characters (as Aperture's vectors do); [`preimage`](Self::preimage)
/// requires exactly 32 bytes, and verification refuses anything else.
#[derive(Clone, PartialEq, Eq)]
pub struct ChargePayload {
    preimage: Zeroizing<String>,
}

impl ChargePayload {
    /// The payload proving payment with `preimage`.
    #[must_use]
    pub fn new(preimage: &Preimage) -> Self {
        ChargePayload {
            preimage: preimage.expose_hex(),
        }
    }

    /// The preimage.
    ///
    /// # Errors
    /// [`HexError`] unless the payload holds exactly 32 bytes of hex.
    pub fn preimage(&self) -> Result<Preimage, HexError> {
        Preimage::from_hex(&self.preimage)
    }

    /// The preimage text as sent.
    #[must_use]
    pub fn expose_preimage_hex(&self) -> &str {
        &self.preimage
    }
}

impl fmt::Debug for ChargePayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChargePayload { preimage: <redacted> }")
    }
}

/// A Payment credential for a Lightning charge: the challenge echoed unchanged, an
/// optional payer `source`, and the proof.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PaymentCredential {
    /// The challenge, as the server sent it.
    pub challenge: PaymentChallenge,
    /// The payer, if it says (a DID, say).
    pub source: Option<String>,
    /// The proof of payment.
    pub payload: ChargePayload,
}

#[derive(Serialize)]
struct WireOut<'a> {
    challenge: &'a PaymentChallenge,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a str>,
    payload: PayloadOut<'a>,
}

#[derive(Serialize)]
struct PayloadOut<'a> {
    preimage: &'a str,
}

/// A credential as read, borrowing from the decoded token where no escape forces a copy.
#[cfg_attr(test, derive(Debug, PartialEq))]
pub(crate) struct WireIn<'a> {
    pub(crate) challenge: ChallengeIn<'a>,
    pub(crate) source: Option<Cow<'a, str>>,
    pub(crate) payload: PayloadIn<'a>,
}

/// The echoed challenge as read.
#[cfg_attr(test, derive(Debug, PartialEq))]
pub(crate) struct ChallengeIn<'a> {
    pub(crate) id: Cow<'a, str>,
    pub(crate) realm: Cow<'a, str>,
    pub(crate) method: Cow<'a, str>,
    pub(crate) intent: Cow<'a, str>,
    pub(crate) request: Cow<'a, str>,
    pub(crate) expires: Option<Cow<'a, str>>,
    pub(crate) description: Option<Cow<'a, str>>,
    pub(crate) opaque: Option<Cow<'a, str>>,
    pub(crate) digest: Option<Cow<'a, str>>,
}

impl<'a> ChallengeIn<'a> {
    pub(crate) fn binding(&self) -> ChallengeBinding<'_> {
        ChallengeBinding {
            realm: &self.realm,
            method: &self.method,
            intent: &self.intent,
            request: &self.request,
            expires: self.expires.as_deref().unwrap_or(""),
            digest: self.digest.as_deref().unwrap_or(""),
            opaque: self.opaque.as_deref().unwrap_or(""),
        }
    }

    pub(crate) fn borrowed(c: &'a PaymentChallenge) -> Self {
        let b = |s: &'a Option<String>| s.as_deref().map(Cow::Borrowed);
        ChallengeIn {
            id: Cow::Borrowed(&c.id),
            realm: Cow::Borrowed(&c.realm),
            method: Cow::Borrowed(&c.method),
            intent: Cow::Borrowed(&c.intent),
            request: Cow::Borrowed(&c.request),
            expires: b(&c.expires),
            description: b(&c.description),
            opaque: b(&c.opaque),
            digest: b(&c.digest),
        }
    }

    fn into_owned(self) -> PaymentChallenge {
        let o = |s: Option<Cow<'a, str>>| s.map(Cow::into_owned);
        let mut c = PaymentChallenge::new(
            self.id.into_owned(),
            self.realm.into_owned(),
            self.method.into_owned(),
            self.intent.into_owned(),
            self.request.into_owned(),
        );
        c.expires = o(self.expires);
        c.description = o(self.description);
        c.opaque = o(self.opaque);
        c.digest = o(self.digest);
        c
    }
}

/// Any payload object: a charge's `preimage` is read, other members (a session's
/// `action`, `sessionId`, …) are skipped so that such credentials are recognised.
#[cfg_attr(test, derive(Debug, PartialEq))]
pub(crate) struct PayloadIn<'a> {
    pub(crate) preimage: Option<SecretStr<'a>>,
}

/// A secret string as read: borrowed from the decoded token (which is wiped where it
/// lies), or, when escapes forced a copy, an owned copy zeroized on drop.
pub(crate) enum SecretStr<'a> {
    Borrowed(&'a str),
    Owned(Zeroizing<String>),
}

// Tests compare what the two readers read (not in constant time: never for secrets).
#[cfg(test)]
impl PartialEq for SecretStr<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

#[cfg(test)]
impl core::fmt::Debug for SecretStr<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SecretStr(<redacted>)")
    }
}

impl SecretStr<'_> {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            SecretStr::Borrowed(s) => s,
            SecretStr::Owned(s) => s,
        }
    }
}

/// Reads the credential object: members in any order, unknown ones skipped, known ones
/// not repeated, required ones present (the rules of the `serde` derive).
fn read_credential<'a>(r: &mut Reader<'a>) -> json_reader::Result<WireIn<'a>> {
    let mut seen = Seen::default();
    let (mut challenge, mut source, mut payload) = (None, None, None);
    r.object(|r, key| {
        match key {
            "challenge" => {
                seen.mark(0, r)?;
                challenge = Some(read_challenge(r)?);
            }
            "source" => {
                seen.mark(1, r)?;
                source = opt_string(r)?;
            }
            "payload" => {
                seen.mark(2, r)?;
                payload = Some(read_payload(r)?);
            }
            _ => r.skip()?,
        }
        Ok(())
    })?;
    r.end()?;
    match (challenge, payload) {
        (Some(challenge), Some(payload)) => Ok(WireIn {
            challenge,
            source,
            payload,
        }),
        _ => Err(r.error_here()),
    }
}

/// Reads the credential in the layout this crate (and Aperture's field order) writes:
/// `{"challenge":{"id","realm","method","intent","request"[,"expires"][,"description"]
/// [,"opaque"][,"digest"]}[,"source"],"payload":{"preimage"}}`, no white space, no
/// escapes. `None` for anything else, which [`read_credential`] then reads; where this
/// reads a credential, that reads the same one.
fn read_credential_exact(text: &str) -> Option<WireIn<'_>> {
    let mut x = Exact::new(text);
    let id = x.member(br#"{"challenge":{"id":""#)?;
    let realm = x.member(br#","realm":""#)?;
    let method = x.member(br#","method":""#)?;
    let intent = x.member(br#","intent":""#)?;
    let request = x.member(br#","request":""#)?;
    let expires = x.opt_member(br#","expires":""#)?;
    let description = x.opt_member(br#","description":""#)?;
    let opaque = x.opt_member(br#","opaque":""#)?;
    let digest = x.opt_member(br#","digest":""#)?;
    x.lit(b"}")?;
    let source = x.opt_member(br#","source":""#)?;
    x.lit(br#","payload":{"preimage":""#)?;
    let preimage = x.string_rest()?;
    x.lit(b"}}")?;
    x.end()?;
    Some(WireIn {
        challenge: ChallengeIn {
            id,
            realm,
            method,
            intent,
            request,
            expires,
            description,
            opaque,
            digest,
        },
        source,
        payload: PayloadIn {
            preimage: Some(SecretStr::Borrowed(preimage)),
        },
    })
}

fn read_challenge<'a>(r: &mut Reader<'a>) -> json_reader::Result<ChallengeIn<'a>> {
    let mut seen = Seen::default();
    let mut req: [Option<Cow<'a, str>>; 5] = Default::default();
    let mut opt: [Option<Cow<'a, str>>; 4] = Default::default();
    r.object(|r, key| {
        const REQUIRED: [&str; 5] = ["id", "realm", "method", "intent", "request"];
        const OPTIONAL: [&str; 4] = ["expires", "description", "opaque", "digest"];
        if let Some(n) = REQUIRED.iter().position(|k| *k == key) {
            seen.mark(n as u32, r)?;
            req[n] = Some(r.string()?);
        } else if let Some(n) = OPTIONAL.iter().position(|k| *k == key) {
            seen.mark(5 + n as u32, r)?;
            opt[n] = opt_string(r)?;
        } else {
            r.skip()?;
        }
        Ok(())
    })?;
    let [
        Some(id),
        Some(realm),
        Some(method),
        Some(intent),
        Some(request),
    ] = req
    else {
        return Err(r.error_here());
    };
    let [expires, description, opaque, digest] = opt;
    Ok(ChallengeIn {
        id,
        realm,
        method,
        intent,
        request,
        expires,
        description,
        opaque,
        digest,
    })
}

fn read_payload<'a>(r: &mut Reader<'a>) -> json_reader::Result<PayloadIn<'a>> {
    let mut seen = Seen::default();
    let mut preimage = None;
    r.object(|r, key| {
        if key == "preimage" {
            seen.mark(0, r)?;
            preimage = opt_string(r)?.map(|p| match p {
                Cow::Borrowed(p) => SecretStr::Borrowed(p),
                Cow::Owned(p) => SecretStr::Owned(Zeroizing::new(p)),
            });
        } else {
            r.skip()?;
        }
        Ok(())
    })?;
    Ok(PayloadIn { preimage })
}

/// Which bytes of a decoded token held the preimage and must be wiped.
enum Wipe {
    Nothing,
    Range(usize, usize),
    All,
}

/// Parses an `Authorization` value and hands the checked credential, borrowed from the
/// decoded token, to `f`; then wipes the preimage from the decoded bytes.
pub(crate) fn with_credential<R>(
    value: &str,
    f: impl FnOnce(CheckedCredential<'_>) -> R,
) -> Result<R, ParsePaymentCredentialError> {
    if value.len() > MAX_PAYMENT_AUTHORIZATION_LEN {
        return Err(ParsePaymentCredentialError::TooLong(value.len()));
    }
    let token = payment_token(value).ok_or(ParsePaymentCredentialError::NotPaymentScheme)?;
    if token.is_empty() {
        return Err(ParsePaymentCredentialError::Empty);
    }
    // Decoded on the stack when it fits (a charge credential with a typical invoice is
    // about 1 KB), so the usual request allocates nothing for it.
    let mut stack = [0u8; DECODE_ON_STACK];
    let mut json =
        base64url_decode_in(token, &mut stack).map_err(ParsePaymentCredentialError::Base64)?;
    parse_and_wipe(json.as_mut_slice(), f)
}

/// Parses decoded credential JSON, hands the checked credential to `f`, then zeroes the
/// bytes of `json` that held the preimage (all of them when its place is unknown).
fn parse_and_wipe<R>(
    json: &mut [u8],
    f: impl FnOnce(CheckedCredential<'_>) -> R,
) -> Result<R, ParsePaymentCredentialError> {
    let parsed = match json_reader::utf8(json) {
        Ok(text) => match read_credential_exact(text) {
            Some(wire) => Ok(wire),
            None => read_credential(&mut Reader::new(text)).map_err(|e| {
                let (line, column) = line_column(text, e.at);
                ParsePaymentCredentialError::Json { line, column }
            }),
        },
        Err(e) => {
            let (line, column) = (1, e.valid_up_to() + 1);
            Err(ParsePaymentCredentialError::Json { line, column })
        }
    };
    let (outcome, wipe) = match parsed {
        // Where the preimage was is unknown: wipe everything.
        Err(e) => (Err(e), Wipe::All),
        Ok(wire) => {
            let wipe = match &wire.payload.preimage {
                None => Wipe::Nothing,
                Some(SecretStr::Owned(_)) => Wipe::All,
                Some(SecretStr::Borrowed(p)) => {
                    // The preimage's place in the buffer it borrows from.
                    let start = (p.as_ptr() as usize).wrapping_sub(json.as_ptr() as usize);
                    Wipe::Range(start, p.len())
                }
            };
            (check(wire).map(f), wipe)
        }
    };
    match wipe {
        Wipe::Nothing => {}
        Wipe::Range(start, len) => match json.get_mut(start..start.saturating_add(len)) {
            Some(bytes) => bytes.zeroize(),
            None => json.zeroize(),
        },
        Wipe::All => json.zeroize(),
    }
    outcome
}

/// A credential that passed the codec's checks, borrowed from the decoded token.
pub(crate) struct CheckedCredential<'a> {
    pub(crate) challenge: ChallengeIn<'a>,
    pub(crate) source: Option<Cow<'a, str>>,
    pub(crate) preimage: SecretStr<'a>,
}

fn check(wire: WireIn<'_>) -> Result<CheckedCredential<'_>, ParsePaymentCredentialError> {
    let c = &wire.challenge;
    if c.id.is_empty() {
        return Err(ParsePaymentCredentialError::Json { line: 1, column: 1 });
    }
    if c.method != METHOD_LIGHTNING {
        return Err(ParsePaymentCredentialError::UnsupportedMethod);
    }
    if c.intent == INTENT_SESSION {
        return Err(ParsePaymentCredentialError::SessionUnsupported);
    }
    if c.intent != INTENT_CHARGE {
        return Err(ParsePaymentCredentialError::UnknownIntent);
    }
    let Some(preimage) = wire.payload.preimage else {
        return Err(ParsePaymentCredentialError::MissingPreimage);
    };
    let p = preimage.as_str();
    // A fold without an early exit, so that it vectorises.
    let hex = p.bytes().fold(true, |ok, b| ok & b.is_ascii_hexdigit());
    if p.is_empty() || p.len() > MAX_PREIMAGE_HEX_LEN || !hex {
        return Err(ParsePaymentCredentialError::InvalidPreimage);
    }
    Ok(CheckedCredential {
        challenge: wire.challenge,
        source: wire.source,
        preimage,
    })
}

impl PaymentCredential {
    /// A credential answering `challenge` with `preimage`.
    #[must_use]
    pub fn new(challenge: PaymentChallenge, preimage: &Preimage) -> Self {
        PaymentCredential {
            challenge,
            source: None,
            payload: ChargePayload::new(preimage),
        }
    }

    /// The JSON text: `{"challenge":{…},"source"?:…,"payload":{"preimage":"…"}}`, members
    /// in Aperture's order. Zeroized on drop (it holds the preimage).
    #[must_use]
    pub fn to_json(&self) -> Zeroizing<Vec<u8>> {
        let wire = WireOut {
            challenge: &self.challenge,
            source: self.source.as_deref(),
            payload: PayloadOut {
                preimage: &self.payload.preimage,
            },
        };
        // Room for everything up front, so that no reallocation leaves a copy of the
        // preimage behind.
        let c = &self.challenge;
        let estimate = 256
            + [&c.id, &c.realm, &c.method, &c.intent, &c.request]
                .iter()
                .map(|s| 2 * s.len())
                .sum::<usize>()
            + [
                &c.expires,
                &c.description,
                &c.opaque,
                &c.digest,
                &self.source,
            ]
            .iter()
            .map(|s| s.as_ref().map_or(0, |s| 2 * s.len() + 16))
            .sum::<usize>();
        let mut out = Zeroizing::new(Vec::with_capacity(estimate));
        // Serializing strings into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, &wire);
        out
    }

    /// The `Authorization` value: `Payment <base64url JSON, no padding>`. Zeroized on
    /// drop.
    #[must_use]
    pub fn to_header_string(&self) -> Zeroizing<String> {
        let json = self.to_json();
        let mut out = Zeroizing::new(String::with_capacity(8 + json.len().div_ceil(3) * 4));
        out.push_str(SCHEME);
        out.push(' ');
        out.push_str(&Zeroizing::new(base64url_encode(&json)));
        out
    }

    /// The `Authorization` value as a header value, marked sensitive.
    ///
    /// # Errors
    /// [`http::header::InvalidHeaderValue`] never in practice (base64url is visible
    /// ASCII).
    pub fn to_header_value(&self) -> Result<HeaderValue, http::header::InvalidHeaderValue> {
        let mut v = HeaderValue::try_from(self.to_header_string().as_str())?;
        v.set_sensitive(true);
        Ok(v)
    }

    /// Parses one `Authorization` value: `Payment` in any case, one or more spaces or
    /// tabs, then strict base64url (padded or not) of the credential JSON. Charge
    /// credentials for the `lightning` method only; session credentials are recognised
    /// and refused with [`ParsePaymentCredentialError::SessionUnsupported`].
    ///
    /// # Errors
    /// [`ParsePaymentCredentialError`] naming what is wrong.
    pub fn parse_authorization(value: &str) -> Result<Self, ParsePaymentCredentialError> {
        with_credential(value, |c| PaymentCredential {
            challenge: c.challenge.into_owned(),
            source: c.source.map(Cow::into_owned),
            payload: ChargePayload {
                preimage: match c.preimage {
                    SecretStr::Borrowed(p) => Zeroizing::new(p.to_owned()),
                    SecretStr::Owned(p) => p,
                },
            },
        })
    }

    /// Whether an `Authorization` value uses the `Payment` scheme (any case), without
    /// parsing it: how a server that speaks both L402 and Payment routes a request.
    #[must_use]
    pub fn is_payment_authorization(value: &str) -> bool {
        payment_token(value).is_some()
    }

    /// The Payment credential among a request's `Authorization` fields: `None` when no
    /// field uses the `Payment` scheme; several are accepted only if they parse to the
    /// same credential.
    ///
    /// # Errors
    /// The first Payment field's [`ParsePaymentCredentialError`], or
    /// [`Conflicting`](ParsePaymentCredentialError::Conflicting).
    pub fn from_headers(headers: &HeaderMap) -> Result<Option<Self>, ParsePaymentCredentialError> {
        let mut found: Option<Self> = None;
        for (n, v) in headers.get_all(AUTHORIZATION).iter().enumerate() {
            if n >= MAX_AUTHORIZATION_FIELDS {
                return Err(ParsePaymentCredentialError::TooManyFields);
            }
            let Ok(s) = v.to_str() else { continue };
            if !Self::is_payment_authorization(s) {
                continue;
            }
            let c = Self::parse_authorization(s)?;
            match &found {
                None => found = Some(c),
                Some(f) if *f == c => {}
                Some(_) => return Err(ParsePaymentCredentialError::Conflicting),
            }
        }
        Ok(found)
    }
}

/// The token after `Payment` and white space, or `None` for another scheme.
fn payment_token(value: &str) -> Option<&str> {
    let value = value.trim_start_matches([' ', '\t']);
    let scheme = value.get(..SCHEME.len())?;
    if !scheme.eq_ignore_ascii_case(SCHEME) {
        return None;
    }
    let rest = &value[SCHEME.len()..];
    if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
        return None;
    }
    Some(rest.trim_matches([' ', '\t']))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Strings with characters that need escapes, non-ASCII and plain ones.
    fn text() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9_=-]{0,40}|[a-z\"\\\\\n\u{1}/\u{e9}\u{1f600} ]{0,8}"
    }

    /// A credential's JSON in the layout the fast path reads, every string written by
    /// `serde_json` (so with escapes where needed).
    fn credential_text(req: &[String; 5], opt: &[Option<String>; 5], preimage: &str) -> String {
        let q = |s: &str| serde_json::to_string(s).unwrap();
        let mut t = format!(
            r#"{{"challenge":{{"id":{},"realm":{},"method":{},"intent":{},"request":{}"#,
            q(&req[0]),
            q(&req[1]),
            q(&req[2]),
            q(&req[3]),
            q(&req[4])
        );
        for (key, v) in ["expires", "description", "opaque", "digest"]
            .iter()
            .zip(opt)
        {
            if let Some(v) = v {
                t.push_str(&format!(r#","{key}":{}"#, q(v)));
            }
        }
        t.push('}');
        if let Some(source) = &opt[4] {
            t.push_str(&format!(r#","source":{}"#, q(source)));
        }
        t.push_str(&format!(r#","payload":{{"preimage":{}}}}}"#, q(preimage)));
        t
    }

    /// Replaces, inserts or deletes one byte: `(position, byte, kind)`.
    fn mutate(text: &str, m: Option<(usize, u8, u8)>) -> Option<String> {
        let mut b = text.as_bytes().to_vec();
        if let Some((at, byte, kind)) = m {
            let at = at % (b.len() + 1);
            match kind % 3 {
                0 if at < b.len() => b[at] = byte,
                1 => b.insert(at, byte),
                _ if at < b.len() => {
                    b.remove(at);
                }
                _ => {}
            }
        }
        String::from_utf8(b).ok()
    }

    fn interesting_byte() -> impl Strategy<Value = u8> {
        prop::sample::select(b"\"\\,:{}[] \nanx0\x01".to_vec())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Wherever the exact-layout reader reads a credential, the general reader reads
        /// the same one; on the layout with no escapes the fast path is taken.
        #[test]
        fn exact_layout_reader_agrees_with_the_general_one(
            req in proptest::array::uniform5(text()),
            opt in proptest::array::uniform5(proptest::option::of(text())),
            preimage in text(),
            m in proptest::option::of((any::<usize>(), interesting_byte(), any::<u8>())),
        ) {
            let base = credential_text(&req, &opt, &preimage);
            let Some(t) = mutate(&base, m) else { return Ok(()) };
            let general = read_credential(&mut Reader::new(&t));
            match read_credential_exact(&t) {
                Some(fast) => prop_assert_eq!(Ok(fast), general.map_err(|_| ()), "{}", t),
                None => {
                    let mut all: Vec<&str> = req.iter().map(String::as_str).collect();
                    all.extend(opt.iter().flatten().map(String::as_str));
                    all.push(&preimage);
                    let plain = serde_json::to_string(&all).unwrap();
                    prop_assert!(m.is_some() || plain.contains('\\'), "fast path missed {}", t);
                }
            }
        }
    }

    fn challenge() -> PaymentChallenge {
        PaymentChallenge::new("id", "r", "lightning", "charge", "cQ")
            .with_expires("2026-03-15T12:05:00Z")
    }

    #[test]
    fn round_trips_and_redacts() {
        let p = Preimage::from_bytes([0xab; 32]);
        let c = PaymentCredential::new(challenge(), &p);
        let h = c.to_header_string();
        assert!(h.starts_with("Payment ey"));
        let back = PaymentCredential::parse_authorization(&h).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.payload.preimage().unwrap(), p);
        let dbg = format!("{back:?}");
        assert!(dbg.contains("<redacted>") && !dbg.contains("abab"), "{dbg}");
        assert!(c.to_header_value().unwrap().is_sensitive());
    }

    #[test]
    fn scheme_is_a_whole_word_in_any_case() {
        assert!(PaymentCredential::is_payment_authorization("PAYMENT x"));
        assert!(PaymentCredential::is_payment_authorization("\tpayment\tx"));
        assert!(!PaymentCredential::is_payment_authorization("Paymentx y"));
        assert!(!PaymentCredential::is_payment_authorization("L402 x:y"));
        assert_eq!(
            PaymentCredential::parse_authorization("Payment"),
            Err(ParsePaymentCredentialError::Empty)
        );
    }

    fn header(json: &str) -> String {
        format!("Payment {}", base64url_encode(json.as_bytes()))
    }

    #[test]
    fn refuses_other_methods_intents_and_bad_proofs() {
        let c = r#"{"id":"i","realm":"r","method":"lightning","intent":"charge","request":"cQ"}"#;
        let cases = [
            (
                r#"{"challenge":{"id":"i","realm":"r","method":"tempo","intent":"charge","request":"cQ"},"payload":{"preimage":"aa"}}"#.to_owned(),
                ParsePaymentCredentialError::UnsupportedMethod,
            ),
            (
                r#"{"challenge":{"id":"i","realm":"r","method":"lightning","intent":"session","request":"cQ"},"payload":{"action":"bearer"}}"#.to_owned(),
                ParsePaymentCredentialError::SessionUnsupported,
            ),
            (
                r#"{"challenge":{"id":"i","realm":"r","method":"lightning","intent":"x","request":"cQ"},"payload":{}}"#.to_owned(),
                ParsePaymentCredentialError::UnknownIntent,
            ),
            (format!(r#"{{"challenge":{c},"payload":{{}}}}"#), ParsePaymentCredentialError::MissingPreimage),
            (format!(r#"{{"challenge":{c},"payload":{{"preimage":""}}}}"#), ParsePaymentCredentialError::InvalidPreimage),
            (format!(r#"{{"challenge":{c},"payload":{{"preimage":"xyz"}}}}"#), ParsePaymentCredentialError::InvalidPreimage),
            (
                format!(r#"{{"challenge":{c},"payload":{{"preimage":"{}"}}}}"#, "a".repeat(66)),
                ParsePaymentCredentialError::InvalidPreimage,
            ),
        ];
        for (json, want) in cases {
            assert_eq!(
                PaymentCredential::parse_authorization(&header(&json)),
                Err(want),
                "{json}"
            );
        }
        let dup = format!(
            r#"{{"challenge":{c},"payload":{{"preimage":"aa"}},"payload":{{"preimage":"bb"}}}}"#
        );
        assert!(matches!(
            PaymentCredential::parse_authorization(&header(&dup)),
            Err(ParsePaymentCredentialError::Json { .. })
        ));
        let big = format!("Payment {}", "A".repeat(MAX_PAYMENT_AUTHORIZATION_LEN));
        assert_eq!(
            PaymentCredential::parse_authorization(&big),
            Err(ParsePaymentCredentialError::TooLong(big.len()))
        );
    }

    #[test]
    fn the_decoded_token_is_wiped_where_the_preimage_was() {
        let secret = "ab".repeat(32);
        let text = format!(
            r#"{{"challenge":{{"id":"i","realm":"r","method":"lightning","intent":"charge","request":"cQ"}},"payload":{{"preimage":"{secret}"}}}}"#
        );
        let at = text.find(&secret).unwrap();
        let mut json = text.clone().into_bytes();
        let seen = parse_and_wipe(&mut json, |c| c.preimage.as_str().to_owned()).unwrap();
        assert_eq!(seen, secret);
        assert!(
            json[at..at + 64].iter().all(|&b| b == 0),
            "preimage left behind"
        );
        assert_eq!(
            &json[..at],
            &text.as_bytes()[..at],
            "only the preimage is wiped"
        );
        assert_eq!(&json[at + 64..], &text.as_bytes()[at + 64..]);
        // Escaped, its place is unknown: everything goes.
        let escaped = text.replacen("ab", "\\u0061b", 1);
        let mut json = escaped.into_bytes();
        parse_and_wipe(&mut json, |_| ()).unwrap();
        assert!(json.iter().all(|&b| b == 0));
        // Not parseable: everything goes too.
        let mut json = text.as_bytes()[..text.len() - 1].to_vec();
        assert!(parse_and_wipe(&mut json, |_| ()).is_err());
        assert!(json.iter().all(|&b| b == 0));
    }

    #[test]
    fn json_errors_never_echo_the_preimage() {
        let secret = "f".repeat(64);
        let json = format!(
            r#"{{"challenge":{{"id":"i","realm":"r","method":"lightning","intent":"charge","request":"cQ"}},"payload":{{"preimage":"{secret}"}},"source":7}}"#
        );
        let e = PaymentCredential::parse_authorization(&header(&json)).unwrap_err();
        assert!(!format!("{e} {e:?}").contains(&secret[..8]));
    }

    #[test]
    fn headers_pick_the_payment_field() {
        let p = Preimage::from_bytes([1; 32]);
        let c = PaymentCredential::new(challenge(), &p);
        let mut h = HeaderMap::new();
        h.append(AUTHORIZATION, HeaderValue::from_static("L402 abc:def"));
        assert_eq!(PaymentCredential::from_headers(&h), Ok(None));
        h.append(AUTHORIZATION, c.to_header_value().unwrap());
        assert_eq!(PaymentCredential::from_headers(&h), Ok(Some(c.clone())));
        h.append(AUTHORIZATION, c.to_header_value().unwrap());
        assert_eq!(PaymentCredential::from_headers(&h), Ok(Some(c.clone())));
        let other = PaymentCredential::new(challenge(), &Preimage::from_bytes([2; 32]));
        h.append(AUTHORIZATION, other.to_header_value().unwrap());
        assert_eq!(
            PaymentCredential::from_headers(&h),
            Err(ParsePaymentCredentialError::Conflicting)
        );
    }
}
