//! The `WWW-Authenticate` challenge.

use http::header::{HeaderMap, HeaderValue, WWW_AUTHENTICATE};

use super::Scheme;
use super::params;
use crate::Macaroon;
use crate::macaroon::DecodeError;

/// Longest `WWW-Authenticate` field value parsed. A challenge holds a macaroon (at most
/// 5,464 base64 characters) and a BOLT11 invoice (`lightning-invoice` caps those at 7,089
/// characters), with room for other schemes.
pub const MAX_CHALLENGE_VALUE_LEN: usize = 16 * 1024;
/// Most `WWW-Authenticate` fields examined in one response.
const MAX_CHALLENGE_FIELDS: usize = 16;
/// Longest invoice accepted in a challenge (`lightning-invoice`'s `MAX_LENGTH`).
const MAX_INVOICE_LEN: usize = 7089;

/// Why no usable L402 challenge was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseChallengeError {
    /// No `L402` or `LSAT` challenge at all.
    #[error("no L402 or LSAT challenge")]
    NoChallenge,
    /// A field value is longer than [`MAX_CHALLENGE_VALUE_LEN`].
    #[error("challenge header of {0} bytes exceeds the size limit")]
    TooLong(usize),
    /// More `WWW-Authenticate` fields than the parser examines.
    #[error("too many WWW-Authenticate fields")]
    TooManyFields,
    /// A field value is not visible ASCII.
    #[error("challenge header is not valid ASCII")]
    NotAscii,
    /// The challenge has no `macaroon=` (or `token=`) parameter.
    #[error("{0} challenge has no macaroon")]
    MissingMacaroon(Scheme),
    /// The challenge has no `invoice=` parameter.
    #[error("{0} challenge has no invoice")]
    MissingInvoice(Scheme),
    /// The invoice is empty, too long, or holds characters a BOLT11 (bech32) string cannot.
    #[error("{0} challenge has an invalid invoice")]
    InvalidInvoice(Scheme),
    /// The macaroon does not decode.
    #[error("{scheme} challenge has an invalid macaroon")]
    Macaroon {
        /// Which challenge.
        scheme: Scheme,
        /// Why.
        #[source]
        error: DecodeError,
    },
}

/// A payment challenge: the macaroon to complete and the invoice to pay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    scheme: Scheme,
    macaroon: Macaroon,
    invoice: String,
}

impl Challenge {
    /// A challenge for `macaroon`, paid by `invoice` (a BOLT11 string).
    #[must_use]
    pub fn new(macaroon: Macaroon, invoice: impl Into<String>) -> Self {
        Challenge {
            scheme: Scheme::L402,
            macaroon,
            invoice: invoice.into(),
        }
    }

    /// The scheme the challenge was parsed from (`L402` for one built with [`Challenge::new`]).
    #[must_use]
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The macaroon.
    #[must_use]
    pub fn macaroon(&self) -> &Macaroon {
        &self.macaroon
    }

    /// The BOLT11 invoice, as sent.
    #[must_use]
    pub fn invoice(&self) -> &str {
        &self.invoice
    }

    /// Decodes the invoice with `lightning-invoice` (signature checked).
    ///
    /// # Errors
    /// The decoder's error for a malformed invoice.
    pub fn decode_invoice(
        &self,
    ) -> Result<lightning_invoice::Bolt11Invoice, lightning_invoice::ParseOrSemanticError> {
        self.invoice.parse()
    }

    /// One field value: `<scheme> macaroon="<b64>", invoice="<bolt11>"`, exactly as
    /// Aperture writes it.
    #[must_use]
    pub fn to_header_string(&self, scheme: Scheme) -> String {
        format!(
            "{} macaroon=\"{}\", invoice=\"{}\"",
            scheme.as_str(),
            self.macaroon.to_base64(),
            self.invoice
        )
    }

    /// The two `WWW-Authenticate` values Aperture sends, legacy `LSAT` first (old clients
    /// and lnget read only the first field), then `L402`.
    ///
    /// # Errors
    /// [`http::header::InvalidHeaderValue`] if the invoice holds characters a header cannot
    /// (a BOLT11 invoice never does).
    pub fn to_header_values(&self) -> Result<[HeaderValue; 2], http::header::InvalidHeaderValue> {
        Ok([
            HeaderValue::try_from(self.to_header_string(Scheme::Lsat))?,
            HeaderValue::try_from(self.to_header_string(Scheme::L402))?,
        ])
    }

    /// Appends the two `WWW-Authenticate` fields to `headers`.
    ///
    /// # Errors
    /// As [`Challenge::to_header_values`]; `headers` is unchanged on error.
    pub fn append_to(
        &self,
        headers: &mut HeaderMap,
    ) -> Result<(), http::header::InvalidHeaderValue> {
        let [lsat, l402] = self.to_header_values()?;
        headers.append(WWW_AUTHENTICATE, lsat);
        headers.append(WWW_AUTHENTICATE, l402);
        Ok(())
    }

    /// Finds the challenge in a response's `WWW-Authenticate` fields: every field is read,
    /// comma-joined challenges are split, schemes are case-insensitive, `macaroon=` or
    /// `token=` is accepted, values may be quoted or not and in any order, and unknown
    /// parameters and other schemes are ignored. `L402` is preferred over `LSAT`.
    ///
    /// # Errors
    /// [`ParseChallengeError`]: the error of the preferred challenge when none is usable.
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, ParseChallengeError> {
        let mut values = Vec::new();
        for (n, v) in headers.get_all(WWW_AUTHENTICATE).iter().enumerate() {
            if n >= MAX_CHALLENGE_FIELDS {
                return Err(ParseChallengeError::TooManyFields);
            }
            values.push(v.to_str().map_err(|_| ParseChallengeError::NotAscii)?);
        }
        Self::from_values(values)
    }

    /// Like [`Challenge::from_headers`], from field values as strings.
    ///
    /// # Errors
    /// As [`Challenge::from_headers`].
    pub fn from_values<'a>(
        values: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, ParseChallengeError> {
        let mut best: Option<Challenge> = None;
        let mut first_error: Option<(Scheme, ParseChallengeError)> = None;
        for (n, value) in values.into_iter().enumerate() {
            if n >= MAX_CHALLENGE_FIELDS {
                return Err(ParseChallengeError::TooManyFields);
            }
            if value.len() > MAX_CHALLENGE_VALUE_LEN {
                return Err(ParseChallengeError::TooLong(value.len()));
            }
            for raw in params::parse(value) {
                let Some(scheme) = Scheme::from_name(raw.scheme) else {
                    continue;
                };
                match Self::from_raw(scheme, &raw) {
                    Ok(c) => {
                        if best.as_ref().is_none_or(|b| b.scheme == Scheme::Lsat) {
                            best = Some(c);
                        }
                    }
                    Err(e) => {
                        let replace = match &first_error {
                            None => true,
                            Some((s, _)) => *s == Scheme::Lsat && scheme == Scheme::L402,
                        };
                        if replace {
                            first_error = Some((scheme, e));
                        }
                    }
                }
            }
        }
        match (best, first_error) {
            (Some(c), _) => Ok(c),
            (None, Some((_, e))) => Err(e),
            (None, None) => Err(ParseChallengeError::NoChallenge),
        }
    }

    /// Parses one field value (which may hold several challenges).
    ///
    /// # Errors
    /// As [`Challenge::from_headers`].
    pub fn parse(value: &str) -> Result<Self, ParseChallengeError> {
        Self::from_values([value])
    }

    fn from_raw(
        scheme: Scheme,
        raw: &params::RawChallenge<'_>,
    ) -> Result<Self, ParseChallengeError> {
        let mac = raw
            .param("macaroon")
            .or_else(|| raw.param("token"))
            .ok_or(ParseChallengeError::MissingMacaroon(scheme))?;
        let invoice = raw
            .param("invoice")
            .ok_or(ParseChallengeError::MissingInvoice(scheme))?;
        if invoice.is_empty()
            || invoice.len() > MAX_INVOICE_LEN
            || !invoice.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(ParseChallengeError::InvalidInvoice(scheme));
        }
        let macaroon = Macaroon::from_base64(mac)
            .map_err(|error| ParseChallengeError::Macaroon { scheme, error })?;
        Ok(Challenge {
            scheme,
            macaroon,
            invoice: invoice.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RootKey;

    fn mac() -> Macaroon {
        Macaroon::new(
            &RootKey::from_bytes([1; 32]),
            vec![1; 66],
            Some("lsat".into()),
        )
        .unwrap()
    }

    #[test]
    fn emits_aperture_form_lsat_first() {
        let c = Challenge::new(mac(), "lnbcrt1abc");
        let [a, b] = c.to_header_values().unwrap();
        let m = mac().to_base64();
        assert_eq!(
            a,
            format!("LSAT macaroon=\"{m}\", invoice=\"lnbcrt1abc\"").as_str()
        );
        assert_eq!(
            b,
            format!("L402 macaroon=\"{m}\", invoice=\"lnbcrt1abc\"").as_str()
        );
    }

    #[test]
    fn parses_the_forms_servers_send() {
        let m = mac().to_base64();
        let url = m.replace('+', "-").replace('/', "_");
        let url = url.trim_end_matches('=');
        let cases = [
            format!("L402 macaroon=\"{m}\", invoice=\"lnbc1\""),
            format!("l402 invoice=\"lnbc1\", macaroon=\"{m}\""),
            format!("L402 macaroon={m}, invoice=lnbc1"),
            format!("L402 version=\"0\", token=\"{m}\", invoice=\"lnbc1\""),
            format!("Bearer realm=\"api\", L402 macaroon=\"{url}\", invoice=\"lnbc1\", foo=bar"),
            format!(
                "Payment id=\"x\", method=\"lightning\", L402 macaroon=\"{m}\", invoice=\"lnbc1\""
            ),
        ];
        for v in &cases {
            let c = Challenge::parse(v).unwrap_or_else(|e| panic!("{v}: {e}"));
            assert_eq!(c.macaroon(), &mac(), "{v}");
            assert_eq!(c.invoice(), "lnbc1", "{v}");
        }
    }

    #[test]
    fn prefers_l402_over_lsat() {
        let m = mac().to_base64();
        let c = Challenge::from_values([
            format!("LSAT macaroon=\"{m}\", invoice=\"lnbclsat\"").as_str(),
            format!("L402 macaroon=\"{m}\", invoice=\"lnbcl402\"").as_str(),
        ])
        .unwrap();
        assert_eq!(c.scheme(), Scheme::L402);
        assert_eq!(c.invoice(), "lnbcl402");
        let c = Challenge::parse(&format!("LSAT macaroon=\"{m}\", invoice=\"lnbclsat\"")).unwrap();
        assert_eq!(c.scheme(), Scheme::Lsat);
    }

    #[test]
    fn reports_what_is_missing() {
        assert_eq!(
            Challenge::parse("Bearer realm=\"x\""),
            Err(ParseChallengeError::NoChallenge)
        );
        assert_eq!(
            Challenge::parse("L402 invoice=\"lnbc1\""),
            Err(ParseChallengeError::MissingMacaroon(Scheme::L402))
        );
        let m = mac().to_base64();
        assert_eq!(
            Challenge::parse(&format!("L402 macaroon=\"{m}\"")),
            Err(ParseChallengeError::MissingInvoice(Scheme::L402))
        );
        assert!(matches!(
            Challenge::parse("L402 macaroon=\"!!\", invoice=\"lnbc1\""),
            Err(ParseChallengeError::Macaroon { .. })
        ));
        let long = "a".repeat(MAX_CHALLENGE_VALUE_LEN + 1);
        assert_eq!(
            Challenge::parse(&long),
            Err(ParseChallengeError::TooLong(long.len()))
        );
    }
}
