//! Hex and base64 as L402 needs them: strict output, liberal input.
//!
//! * Output: lower-case hex; standard base64 with padding (what Aperture accepts).
//! * Input: hex of either case; base64 in the standard or URL-safe alphabet, padded or
//!   not. Padding, when present, must be correct, and unused trailing bits must be zero,
//!   so that every accepted string denotes exactly one byte string.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Why a hex string was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HexError {
    /// The string has an odd number of characters.
    #[error("hex string has odd length {0}")]
    OddLength(usize),
    /// A character is not a hex digit.
    #[error("invalid hex character at position {0}")]
    InvalidCharacter(usize),
    /// The decoded value has the wrong length.
    #[error("expected {expected} bytes of hex, got {actual}")]
    WrongLength {
        /// Bytes expected.
        expected: usize,
        /// Bytes found.
        actual: usize,
    },
}

/// Why a base64 string was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Base64Error {
    /// A character outside both base64 alphabets.
    #[error("invalid base64 character at position {0}")]
    InvalidCharacter(usize),
    /// The length (without padding) is impossible for base64, or the padding is wrong.
    #[error("invalid base64 length or padding")]
    InvalidLength,
    /// The unused bits of the last character are not zero (a non-canonical encoding).
    #[error("non-canonical base64: trailing bits are not zero")]
    TrailingBits,
}

const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";

/// Encodes bytes as lower-case hex.
#[must_use]
pub fn hex_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(HEX_LOWER[usize::from(b >> 4)]));
        out.push(char::from(HEX_LOWER[usize::from(b & 0x0f)]));
    }
    out
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes hex of either case.
///
/// # Errors
/// [`HexError`] on an odd length or a non-hex character.
pub fn hex_decode(s: &str) -> Result<Vec<u8>, HexError> {
    let bytes = s.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return Err(HexError::OddLength(bytes.len()));
    }
    let mut out = Vec::with_capacity(bytes.len() / 2);
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let (hi, lo) = match pair {
            [hi, lo] => (*hi, *lo),
            _ => return Err(HexError::OddLength(bytes.len())),
        };
        let hi = hex_val(hi).ok_or(HexError::InvalidCharacter(2 * i))?;
        let lo = hex_val(lo).ok_or(HexError::InvalidCharacter(2 * i + 1))?;
        out.push((hi << 4) | lo);
    }
    Ok(out)
}

/// Decodes exactly `N` bytes of hex of either case, without allocating.
///
/// # Errors
/// [`HexError`] on a wrong length or a non-hex character.
pub fn hex_decode_array<const N: usize>(s: &str) -> Result<[u8; N], HexError> {
    let bytes = s.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return Err(HexError::OddLength(bytes.len()));
    }
    if bytes.len() != 2 * N {
        return Err(HexError::WrongLength {
            expected: N,
            actual: bytes.len() / 2,
        });
    }
    let mut out = [0u8; N];
    for (i, (slot, pair)) in out.iter_mut().zip(bytes.chunks_exact(2)).enumerate() {
        let (hi, lo) = match pair {
            [hi, lo] => (*hi, *lo),
            _ => return Err(HexError::OddLength(bytes.len())),
        };
        let hi = hex_val(hi).ok_or(HexError::InvalidCharacter(2 * i))?;
        let lo = hex_val(lo).ok_or(HexError::InvalidCharacter(2 * i + 1))?;
        *slot = (hi << 4) | lo;
    }
    Ok(out)
}

/// Encodes bytes as standard base64 with padding.
#[must_use]
pub fn base64_encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Maps a character of either base64 alphabet to its 6-bit value.
fn b64_val(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
    }
}

/// Decodes base64 in the standard or URL-safe alphabet, padded or not.
///
/// If padding is present it must make the length a multiple of four.
///
/// # Errors
/// [`Base64Error`] on a bad character, an impossible length, wrong padding or
/// non-zero trailing bits.
pub fn base64_decode(s: &str) -> Result<Vec<u8>, Base64Error> {
    let input = s.as_bytes();
    let body_len = input.iter().rposition(|&c| c != b'=').map_or(0, |p| p + 1);
    let (body, padding) = input.split_at(body_len);
    if padding.len() > 2 {
        return Err(Base64Error::InvalidLength);
    }
    if !padding.is_empty() && !input.len().is_multiple_of(4) {
        return Err(Base64Error::InvalidLength);
    }
    let rem = body.len() % 4;
    if rem == 1 {
        return Err(Base64Error::InvalidLength);
    }
    // Fast path: the standard alphabet (what Aperture and we emit), then URL-safe, each
    // decoded by the `base64` crate; a string mixing both alphabets falls through to a
    // character-at-a-time decoder.
    let map_err = |e| match e {
        base64::DecodeError::InvalidByte(i, _) => Base64Error::InvalidCharacter(i),
        base64::DecodeError::InvalidLastSymbol(_, _) => Base64Error::TrailingBits,
        _ => Base64Error::InvalidLength,
    };
    match STANDARD_BODY.decode(body) {
        Err(base64::DecodeError::InvalidByte(_, b'-' | b'_')) => {}
        other => return other.map_err(map_err),
    }
    match URL_SAFE_BODY.decode(body) {
        Err(base64::DecodeError::InvalidByte(_, b'+' | b'/')) => decode_mixed(body),
        other => other.map_err(map_err),
    }
}

/// Unpadded, canonical decoders for the two alphabets.
const BODY_CONFIG: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::RequireNone)
    .with_decode_allow_trailing_bits(false);
const STANDARD_BODY: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, BODY_CONFIG);
const URL_SAFE_BODY: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, BODY_CONFIG);

/// Decodes unpadded base64 mixing both alphabets, one character at a time.
fn decode_mixed(body: &[u8]) -> Result<Vec<u8>, Base64Error> {
    let mut out = Vec::with_capacity(body.len() / 4 * 3 + 2);
    let mut acc: u32 = 0;
    let mut bits: u32 = 0;
    for (i, &c) in body.iter().enumerate() {
        let v = b64_val(c).ok_or(Base64Error::InvalidCharacter(i))?;
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            // Truncation to the low byte is the point of the cast.
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    if bits > 0 && acc & ((1 << bits) - 1) != 0 {
        return Err(Base64Error::TrailingBits);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hex_accepts_both_cases_and_emits_lower() {
        assert_eq!(hex_decode("0aFf").unwrap(), vec![0x0a, 0xff]);
        assert_eq!(hex_encode(&[0x0a, 0xff]), "0aff");
        assert_eq!(hex_decode("abc"), Err(HexError::OddLength(3)));
        assert_eq!(hex_decode("zz"), Err(HexError::InvalidCharacter(0)));
        assert_eq!(
            hex_decode_array::<2>("00"),
            Err(HexError::WrongLength {
                expected: 2,
                actual: 1
            })
        );
    }

    #[test]
    fn base64_accepts_both_alphabets_with_and_without_padding() {
        let data = [0xfbu8, 0xff, 0xbf, 0x01];
        for s in ["+/+/AQ==", "-_-_AQ==", "+/+/AQ", "-_-_AQ"] {
            assert_eq!(base64_decode(s).unwrap(), data, "{s}");
        }
        assert_eq!(base64_encode(&data), "+/+/AQ==");
    }

    #[test]
    fn base64_rejects_malformed_input() {
        assert_eq!(base64_decode("A"), Err(Base64Error::InvalidLength));
        assert_eq!(base64_decode("AQ="), Err(Base64Error::InvalidLength));
        assert_eq!(base64_decode("AQ==="), Err(Base64Error::InvalidLength));
        assert_eq!(base64_decode("AR=="), Err(Base64Error::TrailingBits));
        assert_eq!(base64_decode("A*=="), Err(Base64Error::InvalidCharacter(1)));
        assert_eq!(base64_decode("").unwrap(), Vec::<u8>::new());
        assert_eq!(base64_decode("+_8=").unwrap(), vec![0xfb, 0xff]);
        assert_eq!(base64_decode("+_A*"), Err(Base64Error::InvalidCharacter(3)));
        assert_eq!(base64_decode("-_A*"), Err(Base64Error::InvalidCharacter(3)));
        assert_eq!(base64_decode("A=AA"), Err(Base64Error::InvalidCharacter(1)));
    }

    proptest! {
        #[test]
        fn base64_round_trips(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let std = base64_encode(&data);
            prop_assert_eq!(base64_decode(&std).unwrap(), data.clone());
            let url = std.replace('+', "-").replace('/', "_");
            prop_assert_eq!(base64_decode(url.trim_end_matches('=')).unwrap(), data);
        }

        #[test]
        fn hex_round_trips(data in proptest::collection::vec(any::<u8>(), 0..100)) {
            let h = hex_encode(&data);
            prop_assert_eq!(hex_decode(&h.to_uppercase()).unwrap(), data);
        }

        #[test]
        fn base64_decoder_never_panics(s in "\\PC{0,64}") {
            let _ = base64_decode(&s);
        }

        #[test]
        fn both_decoders_agree(s in "[A-Za-z0-9+/_=-]{0,40}") {
            let body = s.trim_end_matches('=');
            if body.len() % 4 != 1 && !body.contains('=') {
                let fast = STANDARD_BODY.decode(body.replace('-', "+").replace('_', "/")).ok();
                prop_assert_eq!(decode_mixed(body.as_bytes()).ok(), fast);
            }
        }
    }
}
