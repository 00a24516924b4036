//! RFC 9457 problem details for Payment failures (`application/problem+json`).

use http::StatusCode;
use serde::{Deserialize, Serialize};

/// The media type of problem bodies.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";
/// The base of the Payment scheme's problem type URIs.
pub const PROBLEM_BASE_URI: &str = "https://paymentauth.org/problems/";

/// The kinds of Payment failure a server reports, each with its type URI and status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProblemType {
    /// No credential: pay the challenge (402).
    PaymentRequired,
    /// The challenge asked for less than the route charges (402).
    PaymentInsufficient,
    /// The challenge's `expires` has passed (402).
    PaymentExpired,
    /// The proof does not verify: the preimage does not hash to the payment hash, or the
    /// charge was already used (402).
    VerificationFailed,
    /// The payment method is not supported (400).
    MethodUnsupported,
    /// The credential cannot be parsed (402).
    MalformedCredential,
    /// The echoed challenge is not one this server issued for this route: wrong id, realm,
    /// intent, amount or currency, or a request that does not decode (402).
    InvalidChallenge,
    /// Paid, but refused by the server's policy (403). RFC 9457's `about:blank` type: the
    /// Payment drafts define none for it.
    PolicyRefused,
}

impl ProblemType {
    /// The type URI.
    #[must_use]
    pub const fn uri(self) -> &'static str {
        match self {
            ProblemType::PaymentRequired => "https://paymentauth.org/problems/payment-required",
            ProblemType::PaymentInsufficient => {
                "https://paymentauth.org/problems/payment-insufficient"
            }
            ProblemType::PaymentExpired => "https://paymentauth.org/problems/payment-expired",
            ProblemType::VerificationFailed => {
                "https://paymentauth.org/problems/verification-failed"
            }
            ProblemType::MethodUnsupported => "https://paymentauth.org/problems/method-unsupported",
            ProblemType::MalformedCredential => {
                "https://paymentauth.org/problems/malformed-credential"
            }
            ProblemType::InvalidChallenge => "https://paymentauth.org/problems/invalid-challenge",
            ProblemType::PolicyRefused => "about:blank",
        }
    }

    /// The HTTP status: 402, except `method-unsupported` (400) and a policy refusal (403).
    #[must_use]
    pub const fn status(self) -> StatusCode {
        match self {
            ProblemType::MethodUnsupported => StatusCode::BAD_REQUEST,
            ProblemType::PolicyRefused => StatusCode::FORBIDDEN,
            _ => StatusCode::PAYMENT_REQUIRED,
        }
    }

    /// A short, fixed, human-readable title.
    #[must_use]
    pub const fn title(self) -> &'static str {
        match self {
            ProblemType::PaymentRequired => "Payment Required",
            ProblemType::PaymentInsufficient => "Payment Insufficient",
            ProblemType::PaymentExpired => "Payment Expired",
            ProblemType::VerificationFailed => "Verification Failed",
            ProblemType::MethodUnsupported => "Method Unsupported",
            ProblemType::MalformedCredential => "Malformed Credential",
            ProblemType::InvalidChallenge => "Invalid Challenge",
            ProblemType::PolicyRefused => "Forbidden",
        }
    }

    /// Whether the response should carry a fresh challenge (every 402 does).
    #[must_use]
    pub fn needs_challenge(self) -> bool {
        self.status() == StatusCode::PAYMENT_REQUIRED
    }
}

/// An RFC 9457 problem body: `{"type","title","status","detail"?,"challengeId"?}`.
///
/// Put only fixed text in `detail`: never input echoed back, node errors or secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Problem {
    /// The type URI.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// The title.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// An explanation of this occurrence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The challenge concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge_id: Option<String>,
}

impl Problem {
    /// The problem of `kind`, without detail.
    #[must_use]
    pub fn new(kind: ProblemType) -> Self {
        Problem {
            type_uri: kind.uri().to_owned(),
            title: kind.title().to_owned(),
            status: kind.status().as_u16(),
            detail: None,
            challenge_id: None,
        }
    }

    /// Sets the detail.
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Sets the challenge id.
    #[must_use]
    pub fn with_challenge_id(mut self, id: impl Into<String>) -> Self {
        self.challenge_id = Some(id.into());
        self
    }

    /// The JSON body.
    #[must_use]
    pub fn to_json(&self) -> String {
        // Strings and an integer always serialize.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The kind, when the type URI is one of ours.
    #[must_use]
    pub fn kind(&self) -> Option<ProblemType> {
        ALL.iter()
            .copied()
            .find(|k| k.uri() == self.type_uri && k.status().as_u16() == self.status)
    }
}

const ALL: [ProblemType; 8] = [
    ProblemType::PaymentRequired,
    ProblemType::PaymentInsufficient,
    ProblemType::PaymentExpired,
    ProblemType::VerificationFailed,
    ProblemType::MethodUnsupported,
    ProblemType::MalformedCredential,
    ProblemType::InvalidChallenge,
    ProblemType::PolicyRefused,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_bodies() {
        for k in ALL {
            assert!(k.uri().starts_with(PROBLEM_BASE_URI) || k == ProblemType::PolicyRefused);
            let p = Problem::new(k);
            let back: Problem = serde_json::from_str(&p.to_json()).unwrap();
            assert_eq!(back.kind(), Some(k));
        }
        assert_eq!(
            ProblemType::MethodUnsupported.status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(ProblemType::PolicyRefused.status(), StatusCode::FORBIDDEN);
        assert!(!ProblemType::MethodUnsupported.needs_challenge());
        assert_eq!(
            Problem::new(ProblemType::PaymentExpired)
                .with_challenge_id("c")
                .to_json(),
            r#"{"type":"https://paymentauth.org/problems/payment-expired","title":"Payment Expired","status":402,"challengeId":"c"}"#
        );
    }
}
