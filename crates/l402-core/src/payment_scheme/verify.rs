//! Server-side verification of a Lightning charge credential: pure and synchronous, then
//! single-use consumption through a [`ChargeStore`].

use std::time::SystemTime;

use super::INTENT_CHARGE;
use super::challenge::ChallengeExpiryError;
use super::challenge_id::ChallengeIdSecret;
use super::credential::{
    ChallengeIn, ParsePaymentCredentialError, PaymentCredential, with_credential,
};
use super::problem::ProblemType;
use super::receipt::PaymentReceipt;
use super::request::DecodeChargeRequestError;
use super::request::{charge_terms, request_bytes_in};
use super::store::{ChargeStore, ChargeStoreError, Consumption};
use super::time::parse_rfc3339;
use crate::{PaymentHash, Preimage};

/// What the route charges, and what verification needs to know.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ChargeContext<'a> {
    /// The secret challenge ids are HMACs under.
    pub secret: &'a ChallengeIdSecret,
    /// The realm this server issues challenges for.
    pub realm: &'a str,
    /// The route's price, in satoshis.
    pub amount_sat: u64,
    /// The current time.
    pub now: SystemTime,
}

impl<'a> ChargeContext<'a> {
    /// A context for a route in `realm` priced at `amount_sat`, verified at `now`.
    #[must_use]
    pub fn new(
        secret: &'a ChallengeIdSecret,
        realm: &'a str,
        amount_sat: u64,
        now: SystemTime,
    ) -> Self {
        ChargeContext {
            secret,
            realm,
            amount_sat,
            now,
        }
    }
}

/// Why a charge credential does not verify.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChargeVerifyError {
    /// The id is not the HMAC of the echoed fields: not a challenge this server (or its
    /// fleet) issued, or one whose fields were changed.
    #[error("challenge id does not match the challenge")]
    InvalidChallengeId,
    /// The intent is not `charge`.
    #[error("challenge intent is not charge")]
    WrongIntent,
    /// The challenge is for another realm.
    #[error("challenge is for another realm")]
    WrongRealm,
    /// The challenge has no usable `expires` (this server always sends one).
    #[error("challenge has no valid expiry")]
    Expiry(#[source] ChallengeExpiryError),
    /// `expires` has passed.
    #[error("challenge has expired")]
    Expired,
    /// The bound `request` does not decode as a charge request.
    #[error("challenge request is invalid")]
    InvalidRequest(#[source] DecodeChargeRequestError),
    /// The challenge asked for less than the route charges.
    #[error("challenge asked for {paid} sat but the route charges {price} sat")]
    Insufficient {
        /// What the challenge asked for.
        paid: u64,
        /// What the route charges.
        price: u64,
    },
    /// The challenge asked for more than the route charges: it is another route's.
    #[error("challenge asked for {paid} sat but the route charges {price} sat")]
    AmountMismatch {
        /// What the challenge asked for.
        paid: u64,
        /// What the route charges.
        price: u64,
    },
    /// The request has no payment hash and its invoice does not decode.
    #[error("challenge request names no payment hash")]
    NoPaymentHash,
    /// The preimage is not 32 bytes of hex.
    #[error("preimage is not 32 bytes of hex")]
    MalformedPreimage,
    /// The preimage does not hash to the payment hash.
    #[error("preimage does not match the payment hash")]
    WrongPreimage,
}

impl ChargeVerifyError {
    /// The problem type to answer with.
    #[must_use]
    pub fn problem_type(&self) -> ProblemType {
        match self {
            ChargeVerifyError::Expired => ProblemType::PaymentExpired,
            ChargeVerifyError::Insufficient { .. } => ProblemType::PaymentInsufficient,
            ChargeVerifyError::MalformedPreimage => ProblemType::MalformedCredential,
            ChargeVerifyError::WrongPreimage => ProblemType::VerificationFailed,
            ChargeVerifyError::InvalidChallengeId
            | ChargeVerifyError::WrongIntent
            | ChargeVerifyError::WrongRealm
            | ChargeVerifyError::Expiry(_)
            | ChargeVerifyError::InvalidRequest(_)
            | ChargeVerifyError::AmountMismatch { .. }
            | ChargeVerifyError::NoPaymentHash => ProblemType::InvalidChallenge,
        }
    }
}

/// Why a verified charge could not be consumed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumeChargeError {
    /// The credential does not verify.
    #[error("charge credential does not verify")]
    Verify(#[source] ChargeVerifyError),
    /// The charge was used before: a replay.
    #[error("charge was already used")]
    AlreadyUsed,
    /// The store could not answer (answer 503: the charge is not consumed).
    #[error("charge store unavailable")]
    Store(#[source] ChargeStoreError),
}

impl ConsumeChargeError {
    /// The problem type to answer with; `None` for a store failure (a 503, not the
    /// client's fault).
    #[must_use]
    pub fn problem_type(&self) -> Option<ProblemType> {
        match self {
            ConsumeChargeError::Verify(e) => Some(e.problem_type()),
            ConsumeChargeError::AlreadyUsed => Some(ProblemType::VerificationFailed),
            ConsumeChargeError::Store(_) => None,
        }
    }
}

/// A charge credential that verified: what was paid for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifiedCharge {
    /// The challenge id.
    pub challenge_id: String,
    /// The payment hash the preimage matched.
    pub payment_hash: PaymentHash,
    /// The amount paid, in satoshis.
    pub amount_sat: u64,
    /// When the challenge expires (the store keeps the charge until then).
    pub expires_at: SystemTime,
}

impl VerifiedCharge {
    /// The receipt to send with the response.
    #[must_use]
    pub fn receipt(&self, at: SystemTime) -> PaymentReceipt {
        PaymentReceipt::lightning_charge(&self.payment_hash, &self.challenge_id, at)
    }

    /// Consumes the charge in `store`: succeeds once per payment hash.
    ///
    /// # Errors
    /// [`ConsumeChargeError::AlreadyUsed`] for a replay, [`ConsumeChargeError::Store`]
    /// when the store cannot answer.
    pub async fn consume<S: ChargeStore + ?Sized>(
        &self,
        store: &S,
    ) -> Result<(), ConsumeChargeError> {
        match store.consume(&self.payment_hash, self.expires_at).await {
            Ok(Consumption::Fresh) => Ok(()),
            Ok(Consumption::AlreadyUsed) => Err(ConsumeChargeError::AlreadyUsed),
            Err(e) => Err(ConsumeChargeError::Store(e)),
        }
    }
}

/// Verifies a Lightning charge credential, without consuming it:
///
/// 1. the id is recomputed from the echoed fields and compared in constant time (before
///    anything else of the echo is decoded);
/// 2. intent `charge`, the server's realm;
/// 3. `expires` present, RFC 3339, and later than `now`;
/// 4. the request decodes, its currency is `sat`, its amount is the route's price;
/// 5. `sha256(preimage)` equals the payment hash (the request's `paymentHash`, else the
///    invoice's), in constant time.
///
/// # Errors
/// [`ChargeVerifyError`] for the first check that fails; its
/// [`problem_type`](ChargeVerifyError::problem_type) is the answer's.
pub fn verify_charge(
    credential: &PaymentCredential,
    ctx: &ChargeContext<'_>,
) -> Result<VerifiedCharge, ChargeVerifyError> {
    verify_parts(
        &ChallengeIn::borrowed(&credential.challenge),
        credential.payload.expose_preimage_hex(),
        ctx,
    )
}

/// Why an `Authorization` value is not a verified charge.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyAuthorizationError {
    /// The value is not a usable Payment charge credential.
    #[error("invalid Payment credential")]
    Parse(#[source] ParsePaymentCredentialError),
    /// The credential does not verify.
    #[error("Payment credential does not verify")]
    Verify(#[source] ChargeVerifyError),
}

impl VerifyAuthorizationError {
    /// The problem type to answer with: `method-unsupported` (400) for another payment
    /// method, `malformed-credential` for anything else that does not parse (a session
    /// credential included: its challenge was not issued here), else the verdict's.
    #[must_use]
    pub fn problem_type(&self) -> ProblemType {
        match self {
            VerifyAuthorizationError::Parse(ParsePaymentCredentialError::UnsupportedMethod) => {
                ProblemType::MethodUnsupported
            }
            VerifyAuthorizationError::Parse(
                ParsePaymentCredentialError::SessionUnsupported
                | ParsePaymentCredentialError::UnknownIntent,
            ) => ProblemType::InvalidChallenge,
            VerifyAuthorizationError::Parse(_) => ProblemType::MalformedCredential,
            VerifyAuthorizationError::Verify(e) => e.problem_type(),
        }
    }
}

/// Parses and verifies an `Authorization: Payment …` value in one pass, without copying
/// the credential out of the decoded token: what a server runs per request (it is
/// [`PaymentCredential::parse_authorization`] then [`verify_charge`], minus the copies).
/// Nothing is consumed; call [`VerifiedCharge::consume`] next.
///
/// # Errors
/// [`VerifyAuthorizationError`].
pub fn verify_authorization(
    value: &str,
    ctx: &ChargeContext<'_>,
) -> Result<VerifiedCharge, VerifyAuthorizationError> {
    with_credential(value, |c| {
        verify_parts(&c.challenge, c.preimage.as_str(), ctx)
    })
    .map_err(VerifyAuthorizationError::Parse)?
    .map_err(VerifyAuthorizationError::Verify)
}

fn verify_parts(
    c: &ChallengeIn<'_>,
    preimage_hex: &str,
    ctx: &ChargeContext<'_>,
) -> Result<VerifiedCharge, ChargeVerifyError> {
    if !c.binding().matches(ctx.secret, &c.id) {
        return Err(ChargeVerifyError::InvalidChallengeId);
    }
    if c.intent != INTENT_CHARGE {
        return Err(ChargeVerifyError::WrongIntent);
    }
    if c.realm != ctx.realm {
        return Err(ChargeVerifyError::WrongRealm);
    }
    let expires_at = c
        .expires
        .as_deref()
        .ok_or(ChargeVerifyError::Expiry(ChallengeExpiryError::Missing))
        .and_then(|e| {
            parse_rfc3339(e)
                .map_err(|e| ChargeVerifyError::Expiry(ChallengeExpiryError::Invalid(e)))
        })?;
    if expires_at <= ctx.now {
        return Err(ChargeVerifyError::Expired);
    }
    // Decoded on the stack when it fits (a request with a typical invoice is about
    // 600 bytes), so the usual request allocates nothing for it.
    let mut stack = [0u8; 1024];
    let mut bytes =
        request_bytes_in(&c.request, &mut stack).map_err(ChargeVerifyError::InvalidRequest)?;
    let terms = charge_terms(bytes.as_mut_slice()).map_err(ChargeVerifyError::InvalidRequest)?;
    if terms.amount_sat < ctx.amount_sat {
        return Err(ChargeVerifyError::Insufficient {
            paid: terms.amount_sat,
            price: ctx.amount_sat,
        });
    }
    if terms.amount_sat != ctx.amount_sat {
        return Err(ChargeVerifyError::AmountMismatch {
            paid: terms.amount_sat,
            price: ctx.amount_sat,
        });
    }
    let payment_hash = match terms.payment_hash {
        Some(h) => h,
        None => terms
            .invoice
            .parse::<lightning_invoice::Bolt11Invoice>()
            .map(|i| PaymentHash::from(&i))
            .map_err(|_| ChargeVerifyError::NoPaymentHash)?,
    };
    let preimage =
        Preimage::from_hex(preimage_hex).map_err(|_| ChargeVerifyError::MalformedPreimage)?;
    if !payment_hash.matches(&preimage) {
        return Err(ChargeVerifyError::WrongPreimage);
    }
    Ok(VerifiedCharge {
        challenge_id: c.id.clone().into_owned(),
        payment_hash,
        amount_sat: terms.amount_sat,
        expires_at,
    })
}

/// [`verify_charge`], then [`VerifiedCharge::consume`]: what a server does per request.
/// Nothing is consumed unless the credential verifies.
///
/// # Errors
/// [`ConsumeChargeError`].
pub async fn verify_and_consume<S: ChargeStore + ?Sized>(
    credential: &PaymentCredential,
    ctx: &ChargeContext<'_>,
    store: &S,
) -> Result<VerifiedCharge, ConsumeChargeError> {
    let verified = verify_charge(credential, ctx).map_err(ConsumeChargeError::Verify)?;
    verified.consume(store).await?;
    Ok(verified)
}
