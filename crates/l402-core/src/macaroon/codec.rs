//! The libmacaroons V2 binary format, first-party caveats only.
//!
//! ```text
//! 02
//! [01 len location]            absent when the location is empty
//!  02 len identifier
//!  00                          end of header
//! per caveat: 02 len caveat_id 00
//!  00                          end of caveats
//!  06 20 <32-byte signature>
//! ```
//!
//! Lengths and field types are unsigned LEB128. The decoder accepts only the canonical
//! form the encoder produces: minimal varints, fields in strictly increasing type order,
//! no empty fields, no caveat locations, no verification ids (third-party caveats), a
//! 32-byte signature and nothing after it. Sizes are bounded before any work is done.

use crate::encoding::{Base64Error, HexError};

/// Maximum size of an encoded macaroon in bytes. An Aperture token with its usual caveats
/// is 200 to 400 bytes, and a client-appended `preimage=` caveat adds 75; the cap leaves
/// room for generous attenuation while keeping hostile input cheap to refuse.
pub const MAX_MACAROON_LEN: usize = 4096;
/// Maximum identifier length (an L402 identifier is 66 bytes).
pub const MAX_IDENTIFIER_LEN: usize = 512;
/// Maximum location length.
pub const MAX_LOCATION_LEN: usize = 512;
/// Maximum length of one caveat.
pub const MAX_CAVEAT_LEN: usize = 1024;
/// Maximum number of caveats.
pub const MAX_CAVEATS: usize = 64;

/// Maximum length of the base64 form of a [`MAX_MACAROON_LEN`]-byte macaroon.
pub(crate) const MAX_MACAROON_BASE64_LEN: usize = MAX_MACAROON_LEN.div_ceil(3) * 4;

const VERSION_2: u8 = 0x02;
const EOS: u64 = 0;
const FIELD_LOCATION: u64 = 1;
const FIELD_IDENTIFIER: u64 = 2;
const FIELD_IDENTIFIER_BYTE: u8 = 2;
const FIELD_VERIFICATION_ID: u64 = 4;
const FIELD_SIGNATURE: u64 = 6;
const SIGNATURE_LEN: usize = 32;

/// Where in the macaroon a decoding error was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Section {
    /// The header (location and identifier).
    Header,
    /// The caveat at this zero-based index.
    Caveat(usize),
    /// The signature.
    Signature,
}

impl core::fmt::Display for Section {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Section::Header => f.write_str("header"),
            Section::Caveat(i) => write!(f, "caveat {i}"),
            Section::Signature => f.write_str("signature"),
        }
    }
}

/// Why bytes (or text) are not a macaroon this codec accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input is longer than the size limit; nothing was decoded.
    #[error("macaroon input of {0} bytes exceeds the size limit")]
    TooLong(usize),
    /// No input.
    #[error("empty macaroon")]
    Empty,
    /// The first byte is not the V2 marker `0x02`.
    #[error("unsupported macaroon format (first byte {0:#04x}, expected 0x02)")]
    UnsupportedFormat(u8),
    /// The input ends in the middle of a field.
    #[error("truncated macaroon in {0}")]
    Truncated(Section),
    /// A varint is overlong, not minimal, or too large.
    #[error("invalid varint in {0}")]
    InvalidVarint(Section),
    /// A field type that is unknown, repeated or out of order.
    #[error("unexpected field type {field_type} in {section}")]
    UnexpectedField {
        /// Where.
        section: Section,
        /// The field type found.
        field_type: u64,
    },
    /// A section without its identifier field.
    #[error("missing identifier in {0}")]
    MissingIdentifier(Section),
    /// A zero-length field (non-canonical).
    #[error("empty field in {0}")]
    EmptyField(Section),
    /// A field longer than its limit.
    #[error("field of {len} bytes in {section} exceeds the limit of {max}")]
    FieldTooLong {
        /// Where.
        section: Section,
        /// Its length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// More than [`MAX_CAVEATS`] caveats.
    #[error("more than {MAX_CAVEATS} caveats")]
    TooManyCaveats,
    /// A caveat with a verification id: L402 uses no third-party caveats.
    #[error("third-party caveat at index {0} is not supported")]
    ThirdPartyCaveat(usize),
    /// A first-party caveat with a location.
    #[error("first-party caveat at index {0} has a location")]
    CaveatLocation(usize),
    /// The signature is not 32 bytes.
    #[error("signature must be 32 bytes, got {0}")]
    SignatureLength(u64),
    /// Bytes after the signature.
    #[error("{0} trailing bytes after the signature")]
    TrailingBytes(usize),
    /// A location or caveat that is not UTF-8.
    #[error("{0} is not valid UTF-8")]
    NotUtf8(Section),
    /// The base64 text is malformed.
    #[error("invalid base64")]
    Base64(#[source] Base64Error),
    /// The hex text is malformed.
    #[error("invalid hex")]
    Hex(#[source] HexError),
}

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Encoded size of one field: type, length, payload.
pub(super) fn field_len(field_type: u64, len: usize) -> usize {
    varint_len(field_type) + varint_len(len as u64) + len
}

/// Bytes after the caveats: end-of-caveats, the signature field type and length, and the
/// 32-byte signature.
pub(super) const TAIL_LEN: usize = 3 + SIGNATURE_LEN;

/// A byte range of the encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Span {
    pub(super) start: usize,
    pub(super) end: usize,
}

/// Where the parts of a canonical encoding are. The caveats run from `caveats_start` to
/// `len - TAIL_LEN`, each as `02 len bytes 00`; the signature is the last 32 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Layout {
    pub(super) location: Option<Span>,
    pub(super) identifier: Span,
    pub(super) caveats_start: usize,
    pub(super) caveat_count: usize,
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        // Low seven bits with the continuation bit; truncation is intended.
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_field(out: &mut Vec<u8>, field_type: u64, data: &[u8]) -> Span {
    put_varint(out, field_type);
    put_varint(out, data.len() as u64);
    let start = out.len();
    out.extend_from_slice(data);
    Span {
        start,
        end: out.len(),
    }
}

/// The encoding of a macaroon without caveats.
pub(super) fn encode_header(
    location: Option<&[u8]>,
    identifier: &[u8],
    signature: &[u8; 32],
) -> (Vec<u8>, Layout) {
    let len = 1
        + location.map_or(0, |l| field_len(FIELD_LOCATION, l.len()))
        + field_len(FIELD_IDENTIFIER, identifier.len())
        + 1
        + TAIL_LEN;
    let mut out = Vec::with_capacity(len);
    out.push(VERSION_2);
    let location = location.map(|l| put_field(&mut out, FIELD_LOCATION, l));
    let identifier = put_field(&mut out, FIELD_IDENTIFIER, identifier);
    out.push(EOS as u8);
    let caveats_start = out.len();
    put_tail(&mut out, signature);
    (
        out,
        Layout {
            location,
            identifier,
            caveats_start,
            caveat_count: 0,
        },
    )
}

fn put_tail(out: &mut Vec<u8>, signature: &[u8; 32]) {
    out.push(EOS as u8);
    put_field(out, FIELD_SIGNATURE, signature);
}

/// Appends a caveat to a canonical encoding and replaces its signature.
pub(super) fn push_caveat(buf: &mut Vec<u8>, caveat: &[u8], signature: &[u8; 32]) {
    buf.truncate(buf.len().saturating_sub(TAIL_LEN));
    buf.reserve(field_len(FIELD_IDENTIFIER, caveat.len()) + 1 + TAIL_LEN);
    put_field(buf, FIELD_IDENTIFIER, caveat);
    buf.push(EOS as u8);
    put_tail(buf, signature);
}

/// The next caveat of a caveat region that [`parse`] accepted: `02 len bytes 00`.
pub(super) fn next_caveat<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let (len, body) = match **rest {
        // A one-byte length: every caveat shorter than 128 bytes.
        [2, len, ref body @ ..] if len < 0x80 => (usize::from(len), body),
        _ => {
            let mut r = Reader { buf: rest, pos: 0 };
            if r.varint(Section::Header).ok()? != FIELD_IDENTIFIER {
                return None;
            }
            let len = usize::try_from(r.varint(Section::Header).ok()?).ok()?;
            (len, r.buf.get(r.pos..)?)
        }
    };
    let (caveat, tail) = body.split_at_checked(len)?;
    // Skip the end-of-section byte.
    *rest = tail.get(1..)?;
    Some(caveat)
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// Minimal unsigned LEB128, at most 64 bits.
    fn varint(&mut self, section: Section) -> Result<u64, DecodeError> {
        // One-byte fast path: every field type and most lengths.
        if let Some(b) = self.peek()
            && b < 0x80
        {
            self.pos += 1;
            return Ok(u64::from(b));
        }
        let mut value: u64 = 0;
        for i in 0..10u32 {
            let b = self.peek().ok_or(DecodeError::Truncated(section))?;
            self.pos += 1;
            let low = u64::from(b & 0x7f);
            if i == 9 && b > 1 {
                return Err(DecodeError::InvalidVarint(section));
            }
            value |= low << (7 * i);
            if b & 0x80 == 0 {
                if b == 0 && i > 0 {
                    return Err(DecodeError::InvalidVarint(section));
                }
                return Ok(value);
            }
        }
        Err(DecodeError::InvalidVarint(section))
    }

    fn field(&mut self, len: u64, section: Section, max: usize) -> Result<Span, DecodeError> {
        let n = usize::try_from(len)
            .ok()
            .filter(|&n| n <= max)
            .ok_or(DecodeError::FieldTooLong { section, len, max })?;
        if n == 0 {
            return Err(DecodeError::EmptyField(section));
        }
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.buf.len())
            .ok_or(DecodeError::Truncated(section))?;
        let span = Span {
            start: self.pos,
            end,
        };
        self.pos = end;
        Ok(span)
    }
}

/// One section's fields, in strictly increasing type order.
#[derive(Default)]
struct RawSection {
    location: Option<Span>,
    identifier: Option<Span>,
    verification_id: Option<Span>,
}

fn read_section(
    r: &mut Reader<'_>,
    section: Section,
    id_max: usize,
) -> Result<RawSection, DecodeError> {
    let mut out = RawSection::default();
    let mut last_type = 0u64;
    loop {
        let field_type = r.varint(section)?;
        if field_type == EOS {
            return Ok(out);
        }
        if field_type <= last_type {
            return Err(DecodeError::UnexpectedField {
                section,
                field_type,
            });
        }
        last_type = field_type;
        let len = r.varint(section)?;
        match field_type {
            FIELD_LOCATION => out.location = Some(r.field(len, section, MAX_LOCATION_LEN)?),
            FIELD_IDENTIFIER => out.identifier = Some(r.field(len, section, id_max)?),
            FIELD_VERIFICATION_ID if matches!(section, Section::Caveat(_)) => {
                out.verification_id = Some(r.field(len, section, MAX_CAVEAT_LEN)?);
            }
            _ => {
                return Err(DecodeError::UnexpectedField {
                    section,
                    field_type,
                });
            }
        }
    }
}

fn check_utf8(buf: &[u8], span: Span, section: Section) -> Result<(), DecodeError> {
    match buf.get(span.start..span.end) {
        Some(text) if text.is_ascii() || core::str::from_utf8(text).is_ok() => Ok(()),
        _ => Err(DecodeError::NotUtf8(section)),
    }
}

/// Checks that every caveat of a caveat region is UTF-8. The framing bytes of caveats
/// shorter than 128 bytes are ASCII, so a region of such caveats is UTF-8 exactly when
/// they all are: one pass over the region usually settles it. Otherwise each caveat is
/// checked, to name the first one that is not.
fn check_caveats_utf8(region: &[u8]) -> Result<(), DecodeError> {
    if core::str::from_utf8(region).is_ok() {
        return Ok(());
    }
    let mut rest = region;
    let mut index = 0;
    while let Some(caveat) = next_caveat(&mut rest) {
        if core::str::from_utf8(caveat).is_err() {
            return Err(DecodeError::NotUtf8(Section::Caveat(index)));
        }
        index += 1;
    }
    Ok(())
}

/// Checks that `buf` is a canonical first-party V2 macaroon within the limits and says
/// where its parts are. Allocates nothing.
pub(super) fn parse(buf: &[u8]) -> Result<Layout, DecodeError> {
    if buf.len() > MAX_MACAROON_LEN {
        return Err(DecodeError::TooLong(buf.len()));
    }
    let mut r = Reader { buf, pos: 0 };
    match r.peek() {
        None => return Err(DecodeError::Empty),
        Some(VERSION_2) => r.pos = 1,
        Some(other) => return Err(DecodeError::UnsupportedFormat(other)),
    }

    let header = read_section(&mut r, Section::Header, MAX_IDENTIFIER_LEN)?;
    let identifier = header
        .identifier
        .ok_or(DecodeError::MissingIdentifier(Section::Header))?;
    if let Some(location) = header.location {
        check_utf8(buf, location, Section::Header)?;
    }

    let caveats_start = r.pos;
    let mut caveat_count = 0;
    loop {
        match r.peek() {
            None => return Err(DecodeError::Truncated(Section::Signature)),
            Some(0) => {
                r.pos += 1;
                break;
            }
            Some(_) => {}
        }
        let index = caveat_count;
        if index >= MAX_CAVEATS {
            return Err(DecodeError::TooManyCaveats);
        }
        let section = Section::Caveat(index);
        // Fast path for the usual caveat, `02 len bytes 00` with a one-byte length; the
        // general reader below accepts exactly the same and explains everything else.
        if let Some(&[FIELD_IDENTIFIER_BYTE, len, ..]) = buf.get(r.pos..r.pos + 2)
            && (1..0x80).contains(&len)
        {
            let start = r.pos + 2;
            let end = start + usize::from(len);
            if buf.get(end) == Some(&0) {
                // UTF-8 is checked below, for the whole region at once.
                r.pos = end + 1;
                caveat_count += 1;
                continue;
            }
        }
        let raw = read_section(&mut r, section, MAX_CAVEAT_LEN)?;
        if raw.verification_id.is_some() {
            return Err(DecodeError::ThirdPartyCaveat(index));
        }
        if raw.location.is_some() {
            return Err(DecodeError::CaveatLocation(index));
        }
        let id = raw
            .identifier
            .ok_or(DecodeError::MissingIdentifier(section))?;
        check_utf8(buf, id, section)?;
        caveat_count += 1;
    }

    check_caveats_utf8(buf.get(caveats_start..r.pos).unwrap_or_default())?;

    let field_type = r.varint(Section::Signature)?;
    if field_type != FIELD_SIGNATURE {
        return Err(DecodeError::UnexpectedField {
            section: Section::Signature,
            field_type,
        });
    }
    let len = r.varint(Section::Signature)?;
    if len != SIGNATURE_LEN as u64 {
        return Err(DecodeError::SignatureLength(len));
    }
    r.field(len, Section::Signature, SIGNATURE_LEN)?;
    if r.pos != buf.len() {
        return Err(DecodeError::TrailingBytes(buf.len() - r.pos));
    }
    Ok(Layout {
        location: header.location,
        identifier,
        caveats_start,
        caveat_count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Macaroon, RootKey};
    use proptest::prelude::*;

    fn sample() -> Macaroon {
        let mut m = Macaroon::new(
            &RootKey::from_bytes([1; 32]),
            vec![9; 66],
            Some("lsat".into()),
        )
        .unwrap();
        m.add_first_party_caveat("services=a:0").unwrap();
        m
    }

    /// Replaces the first occurrence of `from` in `bytes` with `to`.
    fn patch(bytes: &mut [u8], from: &[u8], to: &[u8]) {
        let at = bytes.windows(from.len()).position(|w| w == from).unwrap();
        bytes[at..at + to.len()].copy_from_slice(to);
    }

    #[test]
    fn caveats_short_and_long_come_back_as_text() {
        // A caveat of 128 bytes or more has a two-byte length, which makes the caveat region
        // as a whole non-UTF-8: the per-caveat path must then decide.
        let long = format!("note={}", "\u{e9}".repeat(100));
        let caveats = [
            "services=a:0",
            long.as_str(),
            "a_valid_until=9",
            "\u{e9}t\u{e9}=x",
        ];
        let mut m = sample();
        for c in &caveats[1..] {
            m.add_first_party_caveat(c).unwrap();
        }
        for m in [m.clone(), Macaroon::decode(&m.encode()).unwrap()] {
            assert_eq!(m.caveats().collect::<Vec<_>>(), caveats);
        }
    }

    #[test]
    fn names_the_first_caveat_that_is_not_utf8() {
        let long = format!("note={}", "\u{e9}".repeat(100));
        for (with_long, expected) in [(false, 1), (true, 2)] {
            let mut m = sample();
            if with_long {
                m.add_first_party_caveat(&long).unwrap();
            }
            m.add_first_party_caveat("zz=1").unwrap();
            m.add_first_party_caveat("zz=2").unwrap();
            let mut bytes = m.encode();
            patch(&mut bytes, b"zz=1", b"z\xff=1");
            assert_eq!(
                Macaroon::decode(&bytes),
                Err(DecodeError::NotUtf8(Section::Caveat(expected)))
            );
            // A lone continuation byte inside the long caveat.
            if with_long {
                let mut bytes = m.encode();
                patch(&mut bytes, "\u{e9}".as_bytes(), b"\xa9");
                assert_eq!(
                    Macaroon::decode(&bytes),
                    Err(DecodeError::NotUtf8(Section::Caveat(1)))
                );
            }
        }
    }

    #[test]
    fn rejects_trailing_bytes() {
        let mut bytes = sample().encode();
        bytes.push(0);
        assert_eq!(Macaroon::decode(&bytes), Err(DecodeError::TrailingBytes(1)));
    }

    #[test]
    fn rejects_every_truncation() {
        let bytes = sample().encode();
        for n in 0..bytes.len() {
            assert!(
                Macaroon::decode(&bytes[..n]).is_err(),
                "prefix of {n} bytes"
            );
        }
    }

    #[test]
    fn rejects_third_party_caveat() {
        // header, then a caveat with identifier and verification id.
        let mut b = vec![2, 2, 1, b'x', 0];
        b.extend_from_slice(&[2, 1, b'c', 4, 1, b'v', 0, 0, 6, 32]);
        b.extend_from_slice(&[0; 32]);
        assert_eq!(Macaroon::decode(&b), Err(DecodeError::ThirdPartyCaveat(0)));
    }

    #[test]
    fn rejects_caveat_location_and_out_of_order_fields() {
        let mut b = vec![2, 2, 1, b'x', 0, 1, 1, b'l', 2, 1, b'c', 0, 0, 6, 32];
        b.extend_from_slice(&[0; 32]);
        assert_eq!(Macaroon::decode(&b), Err(DecodeError::CaveatLocation(0)));

        let mut b = vec![2, 2, 1, b'x', 1, 1, b'l', 0, 0, 6, 32];
        b.extend_from_slice(&[0; 32]);
        assert_eq!(
            Macaroon::decode(&b),
            Err(DecodeError::UnexpectedField {
                section: Section::Header,
                field_type: 1
            })
        );
    }

    #[test]
    fn rejects_non_minimal_varint_and_oversize_fields() {
        let b = [2, 2, 0x81, 0x00, b'x'];
        assert_eq!(
            Macaroon::decode(&b),
            Err(DecodeError::InvalidVarint(Section::Header))
        );
        let b = [2, 2, 0x80, 0x08];
        assert_eq!(
            Macaroon::decode(&b),
            Err(DecodeError::FieldTooLong {
                section: Section::Header,
                len: 1024,
                max: MAX_IDENTIFIER_LEN
            })
        );
        let big = vec![2u8; MAX_MACAROON_LEN + 1];
        assert_eq!(
            Macaroon::decode(&big),
            Err(DecodeError::TooLong(MAX_MACAROON_LEN + 1))
        );
    }

    #[test]
    fn rejects_wrong_signature_length_and_other_formats() {
        let mut b = vec![2, 2, 1, b'x', 0, 0, 6, 31];
        b.extend_from_slice(&[0; 31]);
        assert_eq!(Macaroon::decode(&b), Err(DecodeError::SignatureLength(31)));
        assert_eq!(
            Macaroon::decode(b"MDAx"),
            Err(DecodeError::UnsupportedFormat(b'M'))
        );
        assert_eq!(Macaroon::decode(&[]), Err(DecodeError::Empty));
    }

    #[test]
    fn builder_enforces_limits() {
        let key = RootKey::from_bytes([1; 32]);
        assert_eq!(
            Macaroon::new(&key, vec![], None),
            Err(super::super::BuildError::IdentifierLength(0))
        );
        let mut m = Macaroon::new(&key, vec![1], None).unwrap();
        for i in 0..MAX_CAVEATS {
            m.add_first_party_caveat(format!("c{i}=v")).unwrap();
        }
        assert_eq!(
            m.add_first_party_caveat("one=more"),
            Err(super::super::BuildError::TooManyCaveats)
        );
        assert!(Macaroon::decode(&m.encode()).is_ok());
    }

    fn arb_macaroon() -> impl Strategy<Value = Macaroon> {
        (
            any::<[u8; 32]>(),
            proptest::collection::vec(any::<u8>(), 1..100),
            proptest::option::of("[ -~]{1,40}"),
            proptest::collection::vec("[ -~]{1,60}", 0..8),
        )
            .prop_map(|(key, id, loc, caveats)| {
                let mut m = Macaroon::new(&RootKey::from_bytes(key), id, loc).unwrap();
                for c in caveats {
                    m.add_first_party_caveat(c).unwrap();
                }
                m
            })
    }

    proptest! {
        #[test]
        fn binary_and_text_forms_round_trip(m in arb_macaroon()) {
            let bytes = m.encode();
                        prop_assert_eq!(&Macaroon::decode(&bytes).unwrap(), &m);
            prop_assert_eq!(&Macaroon::from_base64(&m.to_base64()).unwrap(), &m);
            prop_assert_eq!(&Macaroon::from_hex(&m.to_hex()).unwrap(), &m);
        }

        #[test]
        fn decode_is_lossless_or_an_error(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(m) = Macaroon::decode(&bytes) {
                prop_assert_eq!(m.encode(), bytes);
            }
        }

        #[test]
        fn mutated_encodings_never_panic(m in arb_macaroon(), idx in any::<usize>(), byte in any::<u8>()) {
            let mut bytes = m.encode();
            let i = idx % bytes.len();
            bytes[i] = byte;
            if let Ok(back) = Macaroon::decode(&bytes) {
                prop_assert_eq!(back.encode(), bytes);
            }
        }
    }
}
