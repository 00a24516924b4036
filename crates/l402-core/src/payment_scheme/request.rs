//! The Lightning `charge` request: what a challenge's `request` parameter says to pay.

use std::borrow::Cow;
use std::str::FromStr;

use lightning_invoice::{Bolt11Invoice, Currency};
use serde::Serialize;

use super::CURRENCY_SAT;
use super::json::{
    CanonicalJsonError, DecodeJsonParamError, MAX_JSON_PARAM_LEN, encode_json_param,
};
use super::json_reader::{self, Exact, Reader, Seen, line_column, opt_string};
use crate::encoding::{Decoded, base64url_decode, base64url_decode_in};
use crate::{Amount, PaymentHash};

/// The Lightning network an invoice is for, as named in `methodDetails.network`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChargeNetwork {
    /// `mainnet` (also what an absent `network` means).
    Mainnet,
    /// `testnet`.
    Testnet,
    /// `signet`.
    Signet,
    /// `regtest`.
    Regtest,
}

impl ChargeNetwork {
    /// The name used in `methodDetails.network`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            ChargeNetwork::Mainnet => "mainnet",
            ChargeNetwork::Testnet => "testnet",
            ChargeNetwork::Signet => "signet",
            ChargeNetwork::Regtest => "regtest",
        }
    }

    /// The network of a BOLT11 currency (`None` for simnet, which has no name here).
    #[must_use]
    pub fn from_currency(currency: Currency) -> Option<Self> {
        match currency {
            Currency::Bitcoin => Some(ChargeNetwork::Mainnet),
            Currency::BitcoinTestnet => Some(ChargeNetwork::Testnet),
            Currency::Signet => Some(ChargeNetwork::Signet),
            Currency::Regtest => Some(ChargeNetwork::Regtest),
            Currency::Simnet => None,
        }
    }
}

impl FromStr for ChargeNetwork {
    type Err = DecodeChargeRequestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "mainnet" => Ok(ChargeNetwork::Mainnet),
            "testnet" => Ok(ChargeNetwork::Testnet),
            "signet" => Ok(ChargeNetwork::Signet),
            "regtest" => Ok(ChargeNetwork::Regtest),
            _ => Err(DecodeChargeRequestError::UnknownNetwork),
        }
    }
}

/// Why a `request` parameter is not a usable Lightning charge request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeChargeRequestError {
    /// Not base64url JSON of the charge request's shape.
    #[error("charge request does not decode")]
    Decode(#[source] DecodeJsonParamError),
    /// `amount` is not a positive decimal string of satoshis (digits only, no leading
    /// zero, at most 21 million bitcoin).
    #[error("charge request amount is not a positive number of satoshis")]
    InvalidAmount,
    /// `currency` is not `sat`.
    #[error("charge request currency is not sat")]
    UnsupportedCurrency,
    /// `methodDetails.paymentHash` is not 64 lower-case hex characters.
    #[error("charge request payment hash is invalid")]
    InvalidPaymentHash,
    /// `methodDetails.network` is not one of `mainnet`, `testnet`, `signet`, `regtest`.
    #[error("charge request network is unknown")]
    UnknownNetwork,
    /// `methodDetails.invoice` is empty, too long, or not bech32 characters.
    #[error("charge request invoice is invalid")]
    InvalidInvoice,
}

/// Why an invoice may not be paid for a charge request (checked by a client before it
/// pays).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChargeInvoiceError {
    /// The invoice does not decode or its signature is invalid.
    #[error("charge invoice is not a valid bolt11 invoice: {0}")]
    Invalid(String),
    /// The invoice has no amount: paying it would let the payee choose.
    #[error("charge invoice has no amount")]
    NoAmount,
    /// The invoice's amount differs from the request's.
    #[error("charge invoice is for {invoice} msat but the request says {request} msat")]
    AmountMismatch {
        /// The invoice's amount, msat.
        invoice: u64,
        /// The request's amount, msat.
        request: u64,
    },
    /// The invoice's payment hash differs from the request's `paymentHash`.
    #[error("charge invoice payment hash differs from the request's")]
    HashMismatch,
    /// The invoice is for another network than the request's `network` (or mainnet).
    #[error("charge invoice is for another network than the request names")]
    NetworkMismatch,
}

/// Largest amount accepted: 21 million bitcoin, in satoshis.
const MAX_SATS: u64 = 21_000_000 * 100_000_000;
/// Longest BOLT11 invoice (`lightning-invoice`'s `MAX_LENGTH`).
const MAX_INVOICE_LEN: usize = 7089;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireRequest<'a> {
    amount: String,
    currency: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    recipient: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_id: Option<&'a str>,
    method_details: WireDetails<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireDetails<'a> {
    invoice: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    payment_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    network: Option<&'a str>,
}

/// The request as read: borrowed from the decoded bytes where no escape forces a copy.
#[cfg_attr(test, derive(Debug, PartialEq))]
struct WireRequestIn<'a> {
    amount: Cow<'a, str>,
    currency: Cow<'a, str>,
    description: Option<Cow<'a, str>>,
    recipient: Option<Cow<'a, str>>,
    external_id: Option<Cow<'a, str>>,
    method_details: WireDetailsIn<'a>,
}

#[cfg_attr(test, derive(Debug, PartialEq))]
struct WireDetailsIn<'a> {
    invoice: Cow<'a, str>,
    payment_hash: Option<Cow<'a, str>>,
    network: Option<Cow<'a, str>>,
}

/// Reads the request object by the `serde` derive's rules (any order, unknown members
/// skipped, known ones not repeated, required ones present, `null` for an absent option).
fn read_request<'a>(r: &mut Reader<'a>) -> json_reader::Result<WireRequestIn<'a>> {
    let mut seen = Seen::default();
    let (mut amount, mut currency, mut details) = (None, None, None);
    let mut opt: [Option<Cow<'a, str>>; 3] = Default::default();
    r.object(|r, key| {
        match key {
            "amount" => {
                seen.mark(0, r)?;
                amount = Some(r.string()?);
            }
            "currency" => {
                seen.mark(1, r)?;
                currency = Some(r.string()?);
            }
            "methodDetails" => {
                seen.mark(2, r)?;
                details = Some(read_details(r)?);
            }
            "description" | "recipient" | "externalId" => {
                let n = match key {
                    "description" => 0,
                    "recipient" => 1,
                    _ => 2,
                };
                seen.mark(3 + n, r)?;
                opt[n as usize] = opt_string(r)?;
            }
            _ => r.skip()?,
        }
        Ok(())
    })?;
    r.end()?;
    let (Some(amount), Some(currency), Some(method_details)) = (amount, currency, details) else {
        return Err(r.error_here());
    };
    let [description, recipient, external_id] = opt;
    Ok(WireRequestIn {
        amount,
        currency,
        description,
        recipient,
        external_id,
        method_details,
    })
}

/// Reads the request in its canonical (RFC 8785) layout, the one this crate and Aperture
/// write: `{"amount","currency"[,"description"][,"externalId"],"methodDetails":
/// {"invoice"[,"network"][,"paymentHash"]}[,"recipient"]}`, no white space, no escapes.
/// `None` for anything else, which [`read_request`] then reads; where this reads a
/// request, that reads the same one.
fn read_request_exact(text: &str) -> Option<WireRequestIn<'_>> {
    let mut x = Exact::new(text);
    let amount = x.member(br#"{"amount":""#)?;
    let currency = x.member(br#","currency":""#)?;
    let description = x.opt_member(br#","description":""#)?;
    let external_id = x.opt_member(br#","externalId":""#)?;
    let invoice = x.member(br#","methodDetails":{"invoice":""#)?;
    let network = x.opt_member(br#","network":""#)?;
    let payment_hash = x.opt_member(br#","paymentHash":""#)?;
    x.lit(b"}")?;
    let recipient = x.opt_member(br#","recipient":""#)?;
    x.lit(b"}")?;
    x.end()?;
    Some(WireRequestIn {
        amount,
        currency,
        description,
        recipient,
        external_id,
        method_details: WireDetailsIn {
            invoice,
            payment_hash,
            network,
        },
    })
}

fn read_details<'a>(r: &mut Reader<'a>) -> json_reader::Result<WireDetailsIn<'a>> {
    let mut seen = Seen::default();
    let (mut invoice, mut payment_hash, mut network) = (None, None, None);
    r.object(|r, key| {
        match key {
            "invoice" => {
                seen.mark(0, r)?;
                invoice = Some(r.string()?);
            }
            "paymentHash" => {
                seen.mark(1, r)?;
                payment_hash = opt_string(r)?;
            }
            "network" => {
                seen.mark(2, r)?;
                network = opt_string(r)?;
            }
            _ => r.skip()?,
        }
        Ok(())
    })?;
    let Some(invoice) = invoice else {
        return Err(r.error_here());
    };
    Ok(WireDetailsIn {
        invoice,
        payment_hash,
        network,
    })
}

/// The checked terms of a request: what a verifier needs, without copying the invoice.
pub(crate) struct ChargeTerms<'a> {
    pub(crate) amount_sat: u64,
    pub(crate) payment_hash: Option<PaymentHash>,
    pub(crate) network: Option<ChargeNetwork>,
    pub(crate) invoice: Cow<'a, str>,
}

/// Decodes a `request` parameter's base64url.
pub(crate) fn request_bytes(param: &str) -> Result<Vec<u8>, DecodeChargeRequestError> {
    if param.len() > MAX_JSON_PARAM_LEN {
        return Err(DecodeChargeRequestError::Decode(
            DecodeJsonParamError::TooLong(param.len()),
        ));
    }
    base64url_decode(param)
        .map_err(|e| DecodeChargeRequestError::Decode(DecodeJsonParamError::Base64(e)))
}

/// [`request_bytes`], into `buf` when the result fits.
pub(crate) fn request_bytes_in<'b>(
    param: &str,
    buf: &'b mut [u8],
) -> Result<Decoded<'b>, DecodeChargeRequestError> {
    if param.len() > MAX_JSON_PARAM_LEN {
        return Err(DecodeChargeRequestError::Decode(
            DecodeJsonParamError::TooLong(param.len()),
        ));
    }
    base64url_decode_in(param, buf)
        .map_err(|e| DecodeChargeRequestError::Decode(DecodeJsonParamError::Base64(e)))
}

fn parse_wire(bytes: &[u8]) -> Result<WireRequestIn<'_>, DecodeChargeRequestError> {
    let text = json_reader::utf8(bytes).map_err(|e| {
        DecodeChargeRequestError::Decode(DecodeJsonParamError::Syntax {
            line: 1,
            column: e.valid_up_to() + 1,
        })
    })?;
    if let Some(wire) = read_request_exact(text) {
        return Ok(wire);
    }
    read_request(&mut Reader::new(text)).map_err(|e| {
        let (line, column) = line_column(text, e.at);
        DecodeChargeRequestError::Decode(DecodeJsonParamError::Syntax { line, column })
    })
}

/// Whether every byte is an ASCII letter or digit (a bech32 string), without an early
/// exit so that the loop vectorizes.
fn is_alphanumeric(s: &str) -> bool {
    // Range checks as wrapping subtractions (a digit, or a letter of either case once
    // the case bit is set), which the compiler turns into vector compares.
    s.bytes().fold(true, |ok, b| {
        ok & ((b.wrapping_sub(b'0') < 10) | ((b | 0x20).wrapping_sub(b'a') < 26))
    })
}

/// Checks every field of a request read from `bytes` (see [`ChargeRequest::decode`]).
pub(crate) fn charge_terms(bytes: &[u8]) -> Result<ChargeTerms<'_>, DecodeChargeRequestError> {
    let w = parse_wire(bytes)?;
    check_terms(w.currency.as_ref(), w.amount.as_ref(), w.method_details)
}

fn check_terms<'a>(
    currency: &str,
    amount: &str,
    d: WireDetailsIn<'a>,
) -> Result<ChargeTerms<'a>, DecodeChargeRequestError> {
    if currency != CURRENCY_SAT {
        return Err(DecodeChargeRequestError::UnsupportedCurrency);
    }
    let amount_sat = parse_sats(amount).ok_or(DecodeChargeRequestError::InvalidAmount)?;
    if d.invoice.is_empty() || d.invoice.len() > MAX_INVOICE_LEN || !is_alphanumeric(&d.invoice) {
        return Err(DecodeChargeRequestError::InvalidInvoice);
    }
    let payment_hash = d
        .payment_hash
        .map(|h| {
            if h.bytes().fold(false, |up, b| up | b.is_ascii_uppercase()) {
                return Err(DecodeChargeRequestError::InvalidPaymentHash);
            }
            PaymentHash::from_hex(&h).map_err(|_| DecodeChargeRequestError::InvalidPaymentHash)
        })
        .transpose()?;
    let network = d.network.as_deref().map(str::parse).transpose()?;
    Ok(ChargeTerms {
        amount_sat,
        payment_hash,
        network,
        invoice: d.invoice,
    })
}

/// A Lightning `charge` request (draft-lightning-charge): the amount, the invoice that is
/// authoritative for it, and optional details.
///
/// Encoded as base64url of its RFC 8785 canonical JSON:
/// `{"amount":"<sats>","currency":"sat","description"?,"externalId"?,
/// "methodDetails":{"invoice":"<bolt11>","network"?,"paymentHash"?},"recipient"?}`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChargeRequest {
    /// The amount, in satoshis (positive).
    pub amount_sat: u64,
    /// Human-readable memo.
    pub description: Option<String>,
    /// Payment recipient, in the method's native format.
    pub recipient: Option<String>,
    /// The merchant's reference (an order id).
    pub external_id: Option<String>,
    /// `methodDetails.invoice`: the BOLT11 invoice to pay.
    pub invoice: String,
    /// `methodDetails.paymentHash`: the invoice's payment hash, for a server that does not
    /// want to decode the invoice.
    pub payment_hash: Option<PaymentHash>,
    /// `methodDetails.network`; `None` means mainnet.
    pub network: Option<ChargeNetwork>,
}

impl ChargeRequest {
    /// A request to pay `invoice` for `amount_sat` satoshis, with no optional detail.
    #[must_use]
    pub fn new(amount_sat: u64, invoice: impl Into<String>) -> Self {
        ChargeRequest {
            amount_sat,
            description: None,
            recipient: None,
            external_id: None,
            invoice: invoice.into(),
            payment_hash: None,
            network: None,
        }
    }

    /// The request a server makes for an invoice it created: the amount, payment hash and
    /// network are the invoice's. `None` when the invoice has no amount or is not a whole
    /// number of satoshis (a charge is counted in satoshis), or is for simnet.
    #[must_use]
    pub fn for_invoice(invoice: &Bolt11Invoice) -> Option<Self> {
        let msat = invoice.amount_milli_satoshis()?;
        if msat == 0 || msat % 1000 != 0 {
            return None;
        }
        let network = ChargeNetwork::from_currency(invoice.currency())?;
        let mut r = ChargeRequest::new(msat / 1000, invoice.to_string());
        r.payment_hash = Some(PaymentHash::from(invoice));
        r.network = Some(network);
        Some(r)
    }

    /// Sets the description.
    #[must_use]
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Sets the external id.
    #[must_use]
    pub fn with_external_id(mut self, external_id: impl Into<String>) -> Self {
        self.external_id = Some(external_id.into());
        self
    }

    /// The amount as an [`Amount`].
    #[must_use]
    pub fn amount(&self) -> Amount {
        Amount::from_msat(self.amount_sat.saturating_mul(1000))
    }

    /// The network (`network`, or mainnet when absent).
    #[must_use]
    pub fn network_or_mainnet(&self) -> ChargeNetwork {
        self.network.unwrap_or(ChargeNetwork::Mainnet)
    }

    /// The canonical JSON text.
    ///
    /// # Errors
    /// Never in practice (every field is a string); typed for the encoder's signature.
    pub fn to_canonical_json(&self) -> Result<String, CanonicalJsonError> {
        super::json::to_canonical_json(&self.wire())
    }

    /// The `request` parameter: base64url (no padding) of the canonical JSON.
    ///
    /// # Errors
    /// As [`to_canonical_json`](Self::to_canonical_json).
    pub fn encode(&self) -> Result<String, CanonicalJsonError> {
        encode_json_param(&self.wire())
    }

    fn wire(&self) -> WireRequest<'_> {
        WireRequest {
            amount: self.amount_sat.to_string(),
            currency: CURRENCY_SAT,
            description: self.description.as_deref(),
            recipient: self.recipient.as_deref(),
            external_id: self.external_id.as_deref(),
            method_details: WireDetails {
                invoice: &self.invoice,
                payment_hash: self.payment_hash.map(|h| h.to_hex()),
                network: self.network.map(ChargeNetwork::as_str),
            },
        }
    }

    /// Decodes a `request` parameter (its JSON need not be canonical; unknown members
    /// are ignored, repeated ones refused).
    ///
    /// # Errors
    /// [`DecodeChargeRequestError`] naming the first field that is wrong.
    pub fn decode(param: &str) -> Result<Self, DecodeChargeRequestError> {
        let bytes = request_bytes(param)?;
        let w = parse_wire(&bytes)?;
        let (description, recipient, external_id) = (w.description, w.recipient, w.external_id);
        let terms = check_terms(w.currency.as_ref(), w.amount.as_ref(), w.method_details)?;
        Ok(ChargeRequest {
            amount_sat: terms.amount_sat,
            description: description.map(Cow::into_owned),
            recipient: recipient.map(Cow::into_owned),
            external_id: external_id.map(Cow::into_owned),
            invoice: terms.invoice.into_owned(),
            payment_hash: terms.payment_hash,
            network: terms.network,
        })
    }

    /// Decodes the invoice (signature checked) and checks it against the request before
    /// anything is paid: it must have an amount, and its amount, payment hash (when the
    /// request names one) and network (the request's, or mainnet) must agree with the
    /// request. The invoice is authoritative, so a request that disagrees with it is a
    /// server lying about what is being paid for.
    ///
    /// # Errors
    /// [`ChargeInvoiceError`] naming the disagreement.
    pub fn check_invoice(&self) -> Result<Bolt11Invoice, ChargeInvoiceError> {
        let invoice: Bolt11Invoice =
            self.invoice
                .parse()
                .map_err(|e: lightning_invoice::ParseOrSemanticError| {
                    ChargeInvoiceError::Invalid(e.to_string())
                })?;
        let msat = invoice
            .amount_milli_satoshis()
            .ok_or(ChargeInvoiceError::NoAmount)?;
        let expected = self.amount_sat.saturating_mul(1000);
        if msat != expected {
            return Err(ChargeInvoiceError::AmountMismatch {
                invoice: msat,
                request: expected,
            });
        }
        if let Some(hash) = &self.payment_hash
            && *hash != PaymentHash::from(&invoice)
        {
            return Err(ChargeInvoiceError::HashMismatch);
        }
        if ChargeNetwork::from_currency(invoice.currency()) != Some(self.network_or_mainnet()) {
            return Err(ChargeInvoiceError::NetworkMismatch);
        }
        Ok(invoice)
    }
}

/// A positive decimal number of satoshis: ASCII digits, no sign, no leading zero, at most
/// 21 million bitcoin.
fn parse_sats(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 16 || b[0] == b'0' || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.parse::<u64>().ok().filter(|n| (1..=MAX_SATS).contains(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn text() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9]{0,40}|[a-z\"\\\\\n\u{1}/\u{e9} ]{0,8}"
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Wherever the exact-layout reader reads a request, the general reader reads the
        /// same one; on canonical JSON with no escapes the fast path is taken.
        #[test]
        fn exact_layout_reader_agrees_with_the_general_one(
            amount in text(),
            currency in text(),
            invoice in text(),
            opt in proptest::array::uniform5(proptest::option::of(text())),
            m in proptest::option::of((any::<usize>(), prop::sample::select(b"\"\\,:{}[] \nan0\x01".to_vec()), any::<u8>())),
        ) {
            let mut v = serde_json::json!({
                "amount": amount, "currency": currency,
                "methodDetails": {"invoice": invoice},
            });
            for (key, val) in ["description", "externalId", "recipient"].iter().zip(&opt[..3]) {
                if let Some(val) = val {
                    v[*key] = val.as_str().into();
                }
            }
            for (key, val) in ["network", "paymentHash"].iter().zip(&opt[3..]) {
                if let Some(val) = val {
                    v["methodDetails"][*key] = val.as_str().into();
                }
            }
            let base = crate::payment_scheme::canonicalize(&v.to_string()).unwrap();
            let mut b = base.clone().into_bytes();
            if let Some((at, byte, kind)) = m {
                let at = at % (b.len() + 1);
                match kind % 3 {
                    0 if at < b.len() => b[at] = byte,
                    1 => b.insert(at, byte),
                    _ if at < b.len() => { b.remove(at); }
                    _ => {}
                }
            }
            let Ok(t) = String::from_utf8(b) else { return Ok(()) };
            let general = read_request(&mut Reader::new(&t));
            match read_request_exact(&t) {
                Some(fast) => prop_assert_eq!(Ok(fast), general.map_err(|_| ()), "{}", t),
                None => prop_assert!(m.is_some() || base.contains('\\'), "fast path missed {}", t),
            }
        }
    }

    #[test]
    fn alphanumeric_is_ascii_letters_and_digits() {
        for b in 0..=255u8 {
            let s = [b];
            let s = core::str::from_utf8(&s).unwrap_or("\u{80}");
            assert_eq!(
                is_alphanumeric(s),
                s.bytes().all(|c| c.is_ascii_alphanumeric()),
                "{b}"
            );
        }
    }

    #[test]
    fn amounts_are_positive_decimal_sats() {
        for ok in ["1", "100", "2100000000000000"] {
            assert!(parse_sats(ok).is_some(), "{ok}");
        }
        for bad in [
            "",
            "0",
            "01",
            "-1",
            "+1",
            "1.0",
            "1e3",
            " 1",
            "2100000000000001",
            "99999999999999999999",
        ] {
            assert_eq!(parse_sats(bad), None, "{bad}");
        }
    }

    #[test]
    fn encodes_canonically_and_decodes_back() {
        let mut r = ChargeRequest::new(100, "lnbc1u1pexample").with_description("Weather report");
        r.payment_hash = Some(PaymentHash::from_bytes([0xbc; 32]));
        r.network = Some(ChargeNetwork::Mainnet);
        let json = r.to_canonical_json().unwrap();
        assert_eq!(
            json,
            format!(
                r#"{{"amount":"100","currency":"sat","description":"Weather report","methodDetails":{{"invoice":"lnbc1u1pexample","network":"mainnet","paymentHash":"{}"}}}}"#,
                "bc".repeat(32)
            )
        );
        assert_eq!(ChargeRequest::decode(&r.encode().unwrap()).unwrap(), r);
    }

    fn param(json: &str) -> String {
        crate::encoding::base64url_encode(json.as_bytes())
    }

    #[test]
    fn refuses_bad_fields() {
        let bad = [
            (
                r#"{"amount":"0","currency":"sat","methodDetails":{"invoice":"lnbc1"}}"#,
                "amount",
            ),
            (
                r#"{"amount":100,"currency":"sat","methodDetails":{"invoice":"lnbc1"}}"#,
                "decode",
            ),
            (
                r#"{"amount":"1","currency":"usd","methodDetails":{"invoice":"lnbc1"}}"#,
                "currency",
            ),
            (
                r#"{"amount":"1","currency":"sat","methodDetails":{"invoice":""}}"#,
                "invoice",
            ),
            (
                r#"{"amount":"1","currency":"sat","methodDetails":{"invoice":"ln bc"}}"#,
                "invoice",
            ),
            (
                r#"{"amount":"1","currency":"sat","methodDetails":{"invoice":"lnbc1","network":"simnet"}}"#,
                "network",
            ),
            (
                r#"{"amount":"1","currency":"sat","methodDetails":{"invoice":"lnbc1","paymentHash":"bc230847"}}"#,
                "hash",
            ),
            (r#"{"amount":"1","currency":"sat"}"#, "decode"),
            (
                r#"{"amount":"1","amount":"2","currency":"sat","methodDetails":{"invoice":"lnbc1"}}"#,
                "decode",
            ),
        ];
        for (json, what) in bad {
            let e = ChargeRequest::decode(&param(json)).unwrap_err();
            let ok = matches!(
                (&e, what),
                (DecodeChargeRequestError::InvalidAmount, "amount")
                    | (DecodeChargeRequestError::Decode(_), "decode")
                    | (DecodeChargeRequestError::UnsupportedCurrency, "currency")
                    | (DecodeChargeRequestError::InvalidInvoice, "invoice")
                    | (DecodeChargeRequestError::UnknownNetwork, "network")
                    | (DecodeChargeRequestError::InvalidPaymentHash, "hash")
            );
            assert!(ok, "{json}: {e:?}");
        }
        let upper = format!(
            r#"{{"amount":"1","currency":"sat","methodDetails":{{"invoice":"lnbc1","paymentHash":"{}"}}}}"#,
            "BC".repeat(32)
        );
        assert!(matches!(
            ChargeRequest::decode(&param(&upper)),
            Err(DecodeChargeRequestError::InvalidPaymentHash)
        ));
    }
}
