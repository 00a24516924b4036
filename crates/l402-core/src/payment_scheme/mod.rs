//! The IETF `Payment` HTTP authentication scheme ("MPP", draft-httpauth-payment) with the
//! Lightning `charge` intent (draft-lightning-charge), as Aperture 0.5+ and lnget 1.1+
//! speak it. ("MPP" is the Machine Payments Protocol, not multi-path payments.)
//!
//! ```text
//! server: 402 + WWW-Authenticate: Payment id="…", realm="…", method="lightning",
//!               intent="charge", request="<base64url JCS JSON>", expires="<RFC 3339>"
//! client: pays the invoice in the request, then
//!         Authorization: Payment <base64url {"challenge":{…echoed…},"payload":{"preimage":"…"}}>
//! server: recomputes the id, checks expiry, amount and preimage, consumes the charge once,
//!         200 + Payment-Receipt: <base64url {"status":"success",…}>
//! ```
//!
//! | item | what |
//! |---|---|
//! | [`PaymentChallenge`] | one challenge; [`PaymentChallenge::parse_list`] / [`from_headers`](PaymentChallenge::from_headers) read challenge lists, [`to_header_string`](PaymentChallenge::to_header_string) writes one |
//! | [`ChargeRequest`] | the `request` parameter of a Lightning charge; [`ChargeRequest::check_invoice`] is the client's check before paying |
//! | [`ChallengeIdSecret`], [`ChallengeBinding`] | the challenge-id HMAC and its secret (explicit, or derived from the root-key [`MasterSecret`](crate::MasterSecret)) |
//! | [`PaymentCredential`] | the `Authorization: Payment` credential codec |
//! | [`PaymentReceipt`] | the `Payment-Receipt` codec |
//! | [`Problem`], [`ProblemType`] | RFC 9457 problem bodies and their statuses |
//! | [`verify_authorization`], [`verify_charge`], [`verify_and_consume`] | server-side verification (from the header value, or from a parsed credential) and single-use consumption |
//! | [`ChargeStore`], [`MemoryChargeStore`] | where consumed charges are recorded |
//! | [`canonicalize`], [`encode_json_param`], [`decode_json_param`] | RFC 8785 canonical JSON and the base64url parameters built on it |
//!
//! Everything here is pure and synchronous except the store, whose trait is async like
//! the root-key stores' so that a shared (Redis) store fits. Every parser caps its input
//! before work, and every codec is checked against Aperture's cross-implementation
//! vectors (`tests/all/mpp_vectors.rs`).
//!
//! ## Example: challenge, pay, verify, consume
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use l402_core::payment_scheme::{
//!     ChallengeIdSecret, ChargeContext, ChargeRequest, MemoryChargeStore, PaymentChallenge,
//!     PaymentCredential, verify_and_consume,
//! };
//! use l402_core::{MasterSecret, Preimage};
//!
//! # pollster::block_on(async {
//! // A real regtest invoice for 1,000 sat and its preimage (test fixtures).
//! const INVOICE: &str = "lnbcrt10u1p4p3fgqpp5jm4j6l0qgr02hp6xe8w5ztcl4rer5al3azy477fqau8vsy0u3nnqdpdfs6rqv3qve5hsar4wfjn5gp3xqcrqgrnv96zq2rvdejzjxqrrsscqzzs9qyysgqsp5pktjrrjj47ne0ylmmu4hvavdmd43j2smglhvqtpce2txmtzxky4qltev2xxxlqwf6zamu4ajkttpjmyac9mpvr4fmdqjpj5nqwgvs5753hg0t5rxvpju5hu5lv49g5jxfg09q774v4h8mss7lunumf4r6ngp95f0cv";
//! const PREIMAGE: &str = "8c2653a1a051bcc2ce1978864402dd07e5699b591ae3de6a6c161c5f16fc6f5b";
//!
//! // Server: the id secret survives restarts because it is derived from the master secret.
//! let secret = ChallengeIdSecret::derive_from(&MasterSecret::from_bytes(&[42; 32])?);
//! let invoice: l402_core::lightning_invoice::Bolt11Invoice = INVOICE.parse()?;
//! let request = ChargeRequest::for_invoice(&invoice).ok_or("amountless invoice")?;
//! let now = SystemTime::now();
//! let challenge = PaymentChallenge::lightning_charge(&secret, "api.example.com", &request, now + Duration::from_secs(900))?;
//! let header = challenge.to_header_string();
//!
//! // Client: pick the charge offer, check the invoice against the request, pay, present.
//! let offer = PaymentChallenge::parse_list(&header)?
//!     .into_iter()
//!     .find(PaymentChallenge::is_lightning_charge)
//!     .ok_or("no charge offer")?;
//! let to_pay = offer.charge_request()?.check_invoice()?;
//! # let _ = to_pay;
//! let preimage = Preimage::from_hex(PREIMAGE)?; // what paying reveals
//! let authorization = PaymentCredential::new(offer, &preimage).to_header_string();
//!
//! // Server: parse, verify and consume; a second use is refused.
//! let store = MemoryChargeStore::new();
//! let credential = PaymentCredential::parse_authorization(&authorization)?;
//! let ctx = ChargeContext::new(&secret, "api.example.com", 1_000, SystemTime::now());
//! let paid = verify_and_consume(&credential, &ctx, &store).await?;
//! let receipt = paid.receipt(SystemTime::now()).to_header_string();
//! # let _ = receipt;
//! assert!(verify_and_consume(&credential, &ctx, &store).await.is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod challenge;
mod challenge_id;
mod credential;
mod json;
mod json_reader;
mod problem;
mod receipt;
mod request;
mod store;
mod time;
mod verify;

pub use challenge::{
    ChallengeExpiryError, MAX_PAYMENT_CHALLENGE_FIELDS, MAX_PAYMENT_CHALLENGE_VALUE_LEN,
    ParsePaymentChallengeError, PaymentChallenge,
};
pub use challenge_id::{
    ChallengeBinding, ChallengeIdSecret, ChallengeIdSecretError, MAX_CHALLENGE_ID_SECRET_LEN,
    MIN_CHALLENGE_ID_SECRET_LEN,
};
pub use credential::{
    ChargePayload, MAX_PAYMENT_AUTHORIZATION_LEN, ParsePaymentCredentialError, PaymentCredential,
};
pub use json::{
    CanonicalJsonError, DecodeJsonParamError, MAX_JSON_LEN, canonicalize, decode_json_param,
    encode_json_param, to_canonical_json,
};
pub use problem::{PROBLEM_BASE_URI, PROBLEM_CONTENT_TYPE, Problem, ProblemType};
pub use receipt::{
    MAX_RECEIPT_LEN, PAYMENT_RECEIPT, ParseReceiptError, PaymentReceipt, RECEIPT_STATUS_SUCCESS,
};
pub use request::{ChargeInvoiceError, ChargeNetwork, ChargeRequest, DecodeChargeRequestError};
pub use store::{
    ChargeStore, ChargeStoreError, Consumption, DEFAULT_CHARGE_STORE_CAPACITY, DynChargeStore,
    MemoryChargeStore,
};
pub use time::{TimestampError, format_rfc3339, parse_rfc3339};
pub use verify::{
    ChargeContext, ChargeVerifyError, ConsumeChargeError, VerifiedCharge, VerifyAuthorizationError,
    verify_and_consume, verify_authorization, verify_charge,
};

/// The scheme name, as written in headers.
pub const SCHEME: &str = "Payment";
/// The Lightning payment method.
pub const METHOD_LIGHTNING: &str = "lightning";
/// The one-time charge intent.
pub const INTENT_CHARGE: &str = "charge";
/// The prepaid session intent (recognised, not supported).
pub const INTENT_SESSION: &str = "session";
/// The currency of Lightning charges.
pub const CURRENCY_SAT: &str = "sat";
/// Aperture's challenge lifetime: 15 minutes after minting.
pub const DEFAULT_CHALLENGE_LIFETIME: std::time::Duration = std::time::Duration::from_secs(15 * 60);
