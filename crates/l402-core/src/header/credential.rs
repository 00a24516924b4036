//! The credential a client presents: `Authorization: L402 <macaroon>:<preimage>`.

use http::header::{AUTHORIZATION, HeaderMap, HeaderName};
use zeroize::Zeroizing;

use super::Scheme;
use crate::caveat::CONDITION_PREIMAGE;
use crate::encoding::HexError;
use crate::macaroon::DecodeError;
use crate::{CaveatKind, Macaroon, Preimage};

/// Longest credential header value parsed: `LSAT ` + base64 of a maximal macaroon + `:` +
/// 64 hex characters, with slack for extra spaces.
pub const MAX_AUTHORIZATION_VALUE_LEN: usize = 8 * 1024;
/// Most values of one credential header examined in one request.
pub const MAX_CREDENTIAL_VALUES: usize = 8;
/// Characters of a preimage in hex.
const PREIMAGE_HEX_LEN: usize = 64;

/// `Macaroon:` header, hex-encoded macaroon carrying a `preimage=` caveat.
const MACAROON: HeaderName = HeaderName::from_static("macaroon");
/// `Grpc-Metadata-Macaroon:` header, the same for gRPC-gateway clients.
const GRPC_METADATA_MACAROON: HeaderName = HeaderName::from_static("grpc-metadata-macaroon");

/// Why a request's credential headers could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseCredentialError {
    /// A header value is longer than [`MAX_AUTHORIZATION_VALUE_LEN`].
    #[error("credential header of {0} bytes exceeds the size limit")]
    TooLong(usize),
    /// More header values than [`MAX_CREDENTIAL_VALUES`].
    #[error("too many credential header values")]
    TooManyValues,
    /// A header value is not visible ASCII.
    #[error("credential header is not valid ASCII")]
    NotAscii,
    /// Not `<scheme> <macaroon>:<preimage>`.
    #[error("malformed credential, expected '<scheme> <macaroon>:<preimage>'")]
    Malformed,
    /// Several comma-separated macaroons before the colon (allowed by a draft, rejected by
    /// Aperture and by us).
    #[error("several macaroons in one credential are not supported")]
    MultipleMacaroons,
    /// The macaroon does not decode.
    #[error("invalid macaroon")]
    Macaroon(#[source] DecodeError),
    /// The preimage is not 64 hex characters.
    #[error("invalid preimage")]
    Preimage(#[source] HexError),
    /// A `Macaroon` header whose macaroon has no `preimage=` caveat.
    #[error("macaroon header without a preimage caveat")]
    MissingPreimage,
    /// A `preimage=` caveat that is malformed or differs from the presented preimage.
    #[error("preimage caveat does not match the presented preimage")]
    PreimageCaveatMismatch,
    /// Several credential values that are not the same credential.
    #[error("conflicting credentials in one request")]
    Conflicting,
}

/// A macaroon and the preimage that proves its invoice was paid.
///
/// `Debug` shows the macaroon and redacts the preimage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    macaroon: Macaroon,
    preimage: Preimage,
}

impl Credential {
    /// A credential.
    #[must_use]
    pub fn new(macaroon: Macaroon, preimage: Preimage) -> Self {
        Credential { macaroon, preimage }
    }

    /// The macaroon.
    #[must_use]
    pub fn macaroon(&self) -> &Macaroon {
        &self.macaroon
    }

    /// The preimage.
    #[must_use]
    pub fn preimage(&self) -> &Preimage {
        &self.preimage
    }

    /// `L402 <standard base64>:<lower-case hex>`, in a buffer zeroized on drop.
    #[must_use]
    pub fn to_header_string(&self, scheme: Scheme) -> Zeroizing<String> {
        let hex = self.preimage.expose_hex();
        Zeroizing::new(format!(
            "{} {}:{}",
            scheme.as_str(),
            self.macaroon.to_base64(),
            hex.as_str()
        ))
    }

    /// The `Authorization` value our client sends, marked sensitive so that HTTP stacks
    /// do not log it.
    ///
    /// # Errors
    /// Never in practice: base64, hex and the scheme are valid header characters.
    pub fn to_header_value(
        &self,
        scheme: Scheme,
    ) -> Result<http::HeaderValue, http::header::InvalidHeaderValue> {
        let s = self.to_header_string(scheme);
        let mut v = http::HeaderValue::from_str(&s)?;
        v.set_sensitive(true);
        Ok(v)
    }

    /// Parses one `Authorization` value. `Ok(None)` when it uses another scheme (such as
    /// `Bearer`), so that other authentication can coexist.
    ///
    /// Accepts `L402` or `LSAT` in any case, one or more spaces, either base64 flavour and
    /// hex of either case. A client-appended `preimage=` caveat must match the preimage.
    ///
    /// # Errors
    /// [`ParseCredentialError`] for an L402/LSAT value that is malformed.
    pub fn parse_authorization(value: &str) -> Result<Option<Self>, ParseCredentialError> {
        if value.len() > MAX_AUTHORIZATION_VALUE_LEN {
            return Err(ParseCredentialError::TooLong(value.len()));
        }
        // Byte-level scanning: every delimiter is ASCII, so splitting at one keeps UTF-8
        // boundaries intact.
        let is_blank = |b: &u8| *b == b' ' || *b == b'\t';
        let bytes = value.as_bytes();
        let start = bytes
            .iter()
            .position(|b| !is_blank(b))
            .unwrap_or(bytes.len());
        let end = bytes
            .iter()
            .rposition(|b| !is_blank(b))
            .map_or(start, |p| p + 1);
        let value = value.get(start..end).unwrap_or_default();
        let bytes = value.as_bytes();
        let scheme_end = bytes.iter().position(is_blank).unwrap_or(bytes.len());
        let (scheme, rest) = value.split_at(scheme_end);
        if Scheme::from_name(scheme).is_none() {
            return Ok(None);
        }
        let rest_start = rest
            .bytes()
            .position(|b| !is_blank(&b))
            .unwrap_or(rest.len());
        let rest = rest.get(rest_start..).unwrap_or_default();
        // The preimage is 64 hex digits, so the last colon is normally 65 bytes from the
        // end: try there first. A preimage that decodes holds no colon, so the split is the
        // one a search from the end finds; anything else takes that search, which also
        // gives the precise error.
        let fast = rest
            .len()
            .checked_sub(PREIMAGE_HEX_LEN + 1)
            .filter(|&i| i > 0 && rest.as_bytes().get(i) == Some(&b':'))
            .and_then(|i| {
                let preimage = Preimage::from_hex(rest.get(i + 1..)?).ok()?;
                Some((rest.get(..i)?, preimage))
            });
        let (mac, preimage) = match fast {
            Some(split) => split,
            None => {
                let colon = rest.rfind(':').ok_or(ParseCredentialError::Malformed)?;
                let (mac, preimage) = rest.split_at(colon);
                let preimage = preimage.get(1..).unwrap_or_default();
                if mac.is_empty() {
                    return Err(ParseCredentialError::Malformed);
                }
                let preimage =
                    Preimage::from_hex(preimage).map_err(ParseCredentialError::Preimage)?;
                (mac, preimage)
            }
        };
        // Decode first and explain failures after, so the happy path scans the text once.
        let macaroon = Macaroon::from_base64(mac).map_err(|e| {
            if mac.as_bytes().contains(&b',') {
                ParseCredentialError::MultipleMacaroons
            } else if mac.bytes().any(|b| is_blank(&b) || b == b':') {
                ParseCredentialError::Malformed
            } else {
                ParseCredentialError::Macaroon(e)
            }
        })?;
        let embedded = preimage_caveat(&macaroon)?;
        if embedded.is_some_and(|p| p != preimage) {
            return Err(ParseCredentialError::PreimageCaveatMismatch);
        }
        Ok(Some(Credential { macaroon, preimage }))
    }

    /// Parses a `Macaroon` / `Grpc-Metadata-Macaroon` value: a hex macaroon whose preimage
    /// is in a `preimage=` caveat.
    ///
    /// # Errors
    /// [`ParseCredentialError`] if malformed or without a preimage caveat.
    pub fn parse_macaroon_header(value: &str) -> Result<Self, ParseCredentialError> {
        if value.len() > MAX_AUTHORIZATION_VALUE_LEN {
            return Err(ParseCredentialError::TooLong(value.len()));
        }
        let macaroon = Macaroon::from_hex(value.trim()).map_err(ParseCredentialError::Macaroon)?;
        let preimage = preimage_caveat(&macaroon)?.ok_or(ParseCredentialError::MissingPreimage)?;
        Ok(Credential { macaroon, preimage })
    }

    /// Finds the credential in a request's headers, as Aperture does: `Authorization`
    /// first, then `Grpc-Metadata-Macaroon`, then `Macaroon`. `Ok(None)` when there is no
    /// L402 credential at all.
    ///
    /// Several `Authorization` values are accepted only when they carry the same credential
    /// (Aperture's own client sends an `LSAT` and an `L402` copy); values of other schemes
    /// are ignored. Likewise for several macaroon header values.
    ///
    /// # Errors
    /// [`ParseCredentialError`] for a malformed or conflicting credential.
    pub fn from_headers(headers: &HeaderMap) -> Result<Option<Self>, ParseCredentialError> {
        let mut found: Option<Credential> = None;
        for (n, v) in headers.get_all(AUTHORIZATION).iter().enumerate() {
            if n >= MAX_CREDENTIAL_VALUES {
                return Err(ParseCredentialError::TooManyValues);
            }
            let v = v.to_str().map_err(|_| ParseCredentialError::NotAscii)?;
            if let Some(c) = Self::parse_authorization(v)? {
                merge(&mut found, c)?;
            }
        }
        if found.is_some() {
            return Ok(found);
        }
        for name in [GRPC_METADATA_MACAROON, MACAROON] {
            for (n, v) in headers.get_all(&name).iter().enumerate() {
                if n >= MAX_CREDENTIAL_VALUES {
                    return Err(ParseCredentialError::TooManyValues);
                }
                let v = v.to_str().map_err(|_| ParseCredentialError::NotAscii)?;
                merge(&mut found, Self::parse_macaroon_header(v)?)?;
            }
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }
}

fn merge(found: &mut Option<Credential>, c: Credential) -> Result<(), ParseCredentialError> {
    match found {
        None => {
            *found = Some(c);
            Ok(())
        }
        Some(prev) if *prev == c => Ok(()),
        Some(_) => Err(ParseCredentialError::Conflicting),
    }
}

/// The preimage in the macaroon's `preimage=` caveats; all of them must agree.
fn preimage_caveat(m: &Macaroon) -> Result<Option<Preimage>, ParseCredentialError> {
    let mut found: Option<Preimage> = None;
    for raw in m.caveat_bytes() {
        // Cheap filter on the bytes first: most caveats are not preimage caveats.
        if !raw
            .trim_ascii_start()
            .starts_with(CONDITION_PREIMAGE.as_bytes())
        {
            continue;
        }
        let Ok(raw) = core::str::from_utf8(raw) else {
            continue;
        };
        let Ok((condition, value)) = crate::caveat::split(raw) else {
            continue;
        };
        if condition != CONDITION_PREIMAGE {
            continue;
        }
        let Ok(CaveatKind::Preimage(p)) = crate::caveat::kind_of(condition, value) else {
            return Err(ParseCredentialError::PreimageCaveatMismatch);
        };
        match &found {
            Some(prev) if *prev != p => return Err(ParseCredentialError::PreimageCaveatMismatch),
            _ => found = Some(p),
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RootKey;
    use http::HeaderValue;

    fn mac() -> Macaroon {
        Macaroon::new(&RootKey::from_bytes([1; 32]), vec![1; 66], None).unwrap()
    }
    fn pre() -> Preimage {
        Preimage::from_bytes([7; 32])
    }

    #[test]
    fn parses_liberally() {
        let m = mac().to_base64();
        let url = m.replace('+', "-").replace('/', "_");
        let hex = pre().expose_hex().to_uppercase();
        for v in [
            format!("L402 {m}:{}", pre().expose_hex().as_str()),
            format!("lsat   {url}:{hex}"),
            format!("LsAt\t{}:{hex}", url.trim_end_matches('=')),
        ] {
            let c = Credential::parse_authorization(&v).unwrap().unwrap();
            assert_eq!(c, Credential::new(mac(), pre()), "{v}");
        }
        assert_eq!(Credential::parse_authorization("Bearer abc").unwrap(), None);
    }

    #[test]
    fn a_colon_where_the_preimage_should_start_is_not_trusted_blindly() {
        // The quick look 65 bytes from the end finds a colon, but the split that counts is
        // at the last colon, as it always was.
        let m = mac().to_base64();
        let p = pre().expose_hex();
        let p = p.as_str();
        assert_eq!(
            Credential::parse_authorization(&format!("L402 {m}:{}:", &p[..63])),
            Err(ParseCredentialError::Preimage(HexError::WrongLength {
                expected: 32,
                actual: 0
            }))
        );
        assert_eq!(
            Credential::parse_authorization(&format!("L402 {m}:{}:{}", &p[..31], &p[32..])),
            Err(ParseCredentialError::Preimage(HexError::WrongLength {
                expected: 32,
                actual: 16
            }))
        );
        // Nothing before the colon.
        assert_eq!(
            Credential::parse_authorization(&format!("L402 :{p}")),
            Err(ParseCredentialError::Malformed)
        );
        // A macaroon that itself ends in a colon: the last colon still decides.
        assert!(matches!(
            Credential::parse_authorization(&format!("L402 {m}::{p}")),
            Err(ParseCredentialError::Malformed | ParseCredentialError::Macaroon(_))
        ));
    }

    #[test]
    fn round_trips_and_is_sensitive() {
        let c = Credential::new(mac(), pre());
        let v = c.to_header_value(Scheme::L402).unwrap();
        assert!(v.is_sensitive());
        assert_eq!(
            Credential::parse_authorization(v.to_str().unwrap()).unwrap(),
            Some(c.clone())
        );
        assert!(!format!("{c:?}").contains(pre().expose_hex().as_str()));
    }

    #[test]
    fn rejects_malformed_values() {
        let m = mac().to_base64();
        let p = pre().expose_hex();
        let p = p.as_str();
        assert_eq!(
            Credential::parse_authorization(&format!("L402 {m}")),
            Err(ParseCredentialError::Malformed)
        );
        assert_eq!(
            Credential::parse_authorization(&format!("L402 {m},{m}:{p}")),
            Err(ParseCredentialError::MultipleMacaroons)
        );
        assert!(matches!(
            Credential::parse_authorization(&format!("L402 {m}:{}", &p[1..])),
            Err(ParseCredentialError::Preimage(_))
        ));
        assert!(matches!(
            Credential::parse_authorization(&format!("L402 !!!!:{p}")),
            Err(ParseCredentialError::Macaroon(_))
        ));
        let long = format!("L402 {}", "A".repeat(MAX_AUTHORIZATION_VALUE_LEN));
        assert!(matches!(
            Credential::parse_authorization(&long),
            Err(ParseCredentialError::TooLong(_))
        ));
    }

    #[test]
    fn checks_appended_preimage_caveats() {
        let mut m = mac();
        m.add_first_party_caveat(format!("preimage={}", pre().expose_hex().as_str()))
            .unwrap();
        let ok = format!("L402 {}:{}", m.to_base64(), pre().expose_hex().as_str());
        assert!(Credential::parse_authorization(&ok).unwrap().is_some());
        let other = Preimage::from_bytes([8; 32]);
        let bad = format!("L402 {}:{}", m.to_base64(), other.expose_hex().as_str());
        assert_eq!(
            Credential::parse_authorization(&bad),
            Err(ParseCredentialError::PreimageCaveatMismatch)
        );
        let c = Credential::parse_macaroon_header(&m.to_hex()).unwrap();
        assert_eq!(c.preimage(), &pre());
        assert_eq!(
            Credential::parse_macaroon_header(&mac().to_hex()),
            Err(ParseCredentialError::MissingPreimage)
        );
    }

    #[test]
    fn duplicate_values_must_agree() {
        let c = Credential::new(mac(), pre());
        let mut h = HeaderMap::new();
        h.append(AUTHORIZATION, c.to_header_value(Scheme::Lsat).unwrap());
        h.append(AUTHORIZATION, c.to_header_value(Scheme::L402).unwrap());
        h.append(AUTHORIZATION, HeaderValue::from_static("Bearer xyz"));
        assert_eq!(Credential::from_headers(&h).unwrap(), Some(c.clone()));
        let other = Credential::new(mac(), Preimage::from_bytes([9; 32]));
        h.append(AUTHORIZATION, other.to_header_value(Scheme::L402).unwrap());
        assert_eq!(
            Credential::from_headers(&h),
            Err(ParseCredentialError::Conflicting)
        );
        assert_eq!(Credential::from_headers(&HeaderMap::new()).unwrap(), None);
    }

    #[test]
    fn reads_macaroon_headers() {
        let mut m = mac();
        m.add_first_party_caveat(format!("preimage={}", pre().expose_hex().as_str()))
            .unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            "grpc-metadata-macaroon",
            HeaderValue::from_str(&m.to_hex()).unwrap(),
        );
        let c = Credential::from_headers(&h).unwrap().unwrap();
        assert_eq!(c.preimage(), &pre());
        let mut h = HeaderMap::new();
        h.insert(
            "macaroon",
            HeaderValue::from_str(&m.to_hex().to_uppercase()).unwrap(),
        );
        assert!(Credential::from_headers(&h).unwrap().is_some());
    }
}
