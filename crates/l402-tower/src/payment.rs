//! The `Payment` scheme (MPP) with the Lightning `charge` intent: which offers a route
//! makes, its settings, and the failures it answers with.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use l402_core::payment_scheme::{
    ChallengeIdSecret, DEFAULT_CHALLENGE_LIFETIME, DynChargeStore, Problem, ProblemType,
};

/// Default lifetime of a Payment challenge: 15 minutes after minting, as Aperture (never
/// later than its invoice's expiry).
pub const DEFAULT_PAYMENT_EXPIRY: Duration = DEFAULT_CHALLENGE_LIFETIME;
/// Longest Payment realm accepted (it is sent in every challenge).
pub const MAX_PAYMENT_REALM_LEN: usize = 256;

/// Which payment schemes a 402 offers (per layer with
/// [`L402LayerBuilder::offers`](crate::L402LayerBuilder::offers), per route with
/// [`Route::offers`](crate::Route::offers)), and so which credentials are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Offers {
    /// L402 only (the default): `LSAT …` and `L402 …` challenges; L402 tokens accepted.
    #[default]
    L402,
    /// The `Payment` scheme only: one `Payment … intent="charge"` challenge; charge
    /// credentials accepted, each once.
    Payment,
    /// Both, in one 402 in Aperture's order: `LSAT …`, `L402 …`, then `Payment …` with its
    /// own invoice (two invoices are created); either credential is accepted.
    Both,
}

impl Offers {
    /// Whether L402 is offered.
    #[must_use]
    pub const fn l402(self) -> bool {
        matches!(self, Offers::L402 | Offers::Both)
    }

    /// Whether the `Payment` scheme is offered.
    #[must_use]
    pub const fn payment(self) -> bool {
        matches!(self, Offers::Payment | Offers::Both)
    }
}

/// The Payment settings of a layer that offers it.
pub(crate) struct PaymentConfig {
    pub(crate) secret: ChallengeIdSecret,
    pub(crate) realm: String,
    pub(crate) expiry: Duration,
    pub(crate) store: Arc<dyn DynChargeStore>,
}

/// Why a Payment credential was refused, with the problem it answers with. Details are
/// fixed texts: nothing from the request is echoed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// No Payment credential.
    Required,
    /// It does not parse (too long, not base64url, not JSON, missing fields).
    Malformed,
    /// Not a challenge issued here for this route: id, realm, intent, amount, request.
    InvalidChallenge,
    /// `expires` has passed.
    Expired,
    /// The preimage does not match the payment hash.
    WrongProof,
    /// The charge was used before.
    Used,
    /// The challenge asked for less than the route charges.
    Insufficient,
    /// Another payment method (400).
    MethodUnsupported,
}

const ALL: [Failure; 8] = [
    Failure::Required,
    Failure::Malformed,
    Failure::InvalidChallenge,
    Failure::Expired,
    Failure::WrongProof,
    Failure::Used,
    Failure::Insufficient,
    Failure::MethodUnsupported,
];

impl Failure {
    /// The metric reason of a refused charge credential.
    pub(crate) fn reason(self) -> crate::observe::Reason {
        use crate::observe::Reason;
        match self {
            Failure::Required | Failure::Malformed => Reason::Malformed,
            Failure::InvalidChallenge => Reason::InvalidChallenge,
            Failure::Expired => Reason::Expired,
            Failure::WrongProof => Reason::WrongPreimage,
            Failure::Used => Reason::Replayed,
            Failure::Insufficient => Reason::Underpaid,
            Failure::MethodUnsupported => Reason::MethodUnsupported,
        }
    }

    pub(crate) fn from_problem(kind: ProblemType) -> Self {
        match kind {
            ProblemType::PaymentRequired => Failure::Required,
            ProblemType::PaymentInsufficient => Failure::Insufficient,
            ProblemType::PaymentExpired => Failure::Expired,
            ProblemType::VerificationFailed => Failure::WrongProof,
            ProblemType::MethodUnsupported => Failure::MethodUnsupported,
            ProblemType::MalformedCredential => Failure::Malformed,
            _ => Failure::InvalidChallenge,
        }
    }

    pub(crate) fn kind(self) -> ProblemType {
        match self {
            Failure::Required => ProblemType::PaymentRequired,
            Failure::Malformed => ProblemType::MalformedCredential,
            Failure::InvalidChallenge => ProblemType::InvalidChallenge,
            Failure::Expired => ProblemType::PaymentExpired,
            Failure::WrongProof | Failure::Used => ProblemType::VerificationFailed,
            Failure::Insufficient => ProblemType::PaymentInsufficient,
            Failure::MethodUnsupported => ProblemType::MethodUnsupported,
        }
    }

    fn detail(self) -> &'static str {
        match self {
            Failure::Required => "pay the invoice of a challenge and retry with its credential",
            Failure::Malformed => "the credential could not be parsed",
            Failure::InvalidChallenge => "the credential is not for a challenge issued here",
            Failure::Expired => "the challenge has expired",
            Failure::WrongProof => "the preimage does not match the payment hash",
            Failure::Used => "the charge was already used",
            Failure::Insufficient => "the challenge asked for less than this resource costs",
            Failure::MethodUnsupported => "only the lightning method is supported",
        }
    }

    /// The problem JSON body (computed once per kind).
    pub(crate) fn body(self) -> &'static str {
        static BODIES: OnceLock<Vec<String>> = OnceLock::new();
        let bodies = BODIES.get_or_init(|| {
            ALL.iter()
                .map(|f| Problem::new(f.kind()).with_detail(f.detail()).to_json())
                .collect()
        });
        let i = ALL.iter().position(|f| *f == self).unwrap_or(0);
        bodies.get(i).map_or("", String::as_str)
    }
}
