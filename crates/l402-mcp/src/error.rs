//! Tool errors: every refusal names the limit that stopped it and says whether anything
//! was paid.

use l402_reqwest::{BudgetScope, L402Error};
use serde::Serialize;

use crate::tools::PaidOut;

/// The limit (or check) that refused a tool call, as it appears in the `limit` field of
/// a tool error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Limit {
    /// The operator's per-request price cap.
    MaxPrice,
    /// The tool call's own `max_cost_sat`, lower than the operator's cap.
    MaxCostSat,
    /// The operator's budget over all origins (per window).
    Budget,
    /// The operator's budget per origin (per window).
    OriginBudget,
    /// The invoice is for another network than the operator's.
    Network,
    /// The invoice has no amount.
    NoAmount,
    /// The invoice or challenge has expired or is about to.
    Expiry,
    /// The invoice asks for a final CLTV delta above the limit.
    CltvDelta,
    /// The challenge came from another origin after a redirect: never paid.
    CrossOriginRedirect,
    /// The origin took a payment without serving and is suspended.
    OriginSuspended,
    /// The challenge does not hold together (hash mismatch, bad invoice, a charge whose
    /// invoice disagrees with its request).
    InvalidChallenge,
    /// A private, loopback, link-local or otherwise non-public address.
    PrivateAddress,
    /// A host on the operator's deny list.
    DeniedHost,
    /// A host not on the operator's allow list.
    AllowedHosts,
    /// Not an http or https URL.
    Scheme,
    /// Too many redirects.
    Redirects,
    /// The request timeout.
    Timeout,
    /// The response size limit.
    ResponseSize,
    /// The request size limit (body or headers).
    RequestSize,
}

impl Limit {
    /// The limit's name, as in tool errors.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::MaxPrice => "max_price",
            Limit::MaxCostSat => "max_cost_sat",
            Limit::Budget => "budget",
            Limit::OriginBudget => "origin_budget",
            Limit::Network => "network",
            Limit::NoAmount => "no_amount",
            Limit::Expiry => "expiry",
            Limit::CltvDelta => "cltv_delta",
            Limit::CrossOriginRedirect => "cross_origin_redirect",
            Limit::OriginSuspended => "origin_suspended",
            Limit::InvalidChallenge => "invalid_challenge",
            Limit::PrivateAddress => "private_address",
            Limit::DeniedHost => "denied_host",
            Limit::AllowedHosts => "allowed_hosts",
            Limit::Scheme => "scheme",
            Limit::Redirects => "redirects",
            Limit::Timeout => "timeout",
            Limit::ResponseSize => "response_size",
            Limit::RequestSize => "request_size",
        }
    }
}

impl core::fmt::Display for Limit {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of failure a tool error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Kind {
    /// A limit or check refused it before anything was paid.
    Refused,
    /// The arguments are well-typed but unusable (an invalid URL, a bad header).
    InvalidRequest,
    /// The node could not pay, or the outcome is not known yet.
    PaymentFailed,
    /// Paid, and the server still asked for payment: not paid again.
    StillPaymentRequired,
    /// The request failed (connection, protocol, the token store, the ledger).
    RequestFailed,
}

/// A tool error, returned as the structured content of a result with `isError: true`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ToolError {
    pub(crate) error: Kind,
    /// The limit that refused it, for refusals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) limit: Option<Limit>,
    pub(crate) message: String,
    /// Whether it is certain that nothing was paid for this call.
    pub(crate) nothing_paid: bool,
    /// What this call paid, if it paid before failing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) paid: Option<PaidOut>,
}

impl ToolError {
    pub(crate) fn refused(limit: Limit, message: impl Into<String>) -> Self {
        ToolError {
            error: Kind::Refused,
            limit: Some(limit),
            message: message.into(),
            nothing_paid: true,
            paid: None,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        ToolError {
            error: Kind::InvalidRequest,
            limit: None,
            message: message.into(),
            nothing_paid: true,
            paid: None,
        }
    }

    pub(crate) fn failed(message: impl Into<String>, nothing_paid: bool) -> Self {
        ToolError {
            error: Kind::RequestFailed,
            limit: None,
            message: message.into(),
            nothing_paid,
            paid: None,
        }
    }
}

/// The limit behind a refusal of the middleware, if it is one. `agent_cap` is the tool
/// call's `max_cost_sat` in msat (when it set one).
pub(crate) fn limit_of(e: &L402Error, operator_cap: l402_core::Amount) -> Option<Limit> {
    Some(match e {
        L402Error::PriceTooHigh { max, .. } if *max < operator_cap => Limit::MaxCostSat,
        L402Error::PriceTooHigh { .. } => Limit::MaxPrice,
        L402Error::BudgetExceeded {
            scope: BudgetScope::Origin,
            ..
        } => Limit::OriginBudget,
        L402Error::BudgetExceeded { .. } => Limit::Budget,
        L402Error::WrongNetwork { .. } => Limit::Network,
        L402Error::NoAmount => Limit::NoAmount,
        L402Error::InvoiceExpired | L402Error::ChallengeExpired => Limit::Expiry,
        L402Error::CltvDeltaTooHigh { .. } => Limit::CltvDelta,
        L402Error::CrossOriginRedirect { .. } => Limit::CrossOriginRedirect,
        L402Error::OriginSuspended { .. } => Limit::OriginSuspended,
        L402Error::PaymentHashMismatch
        | L402Error::InvalidInvoice(_)
        | L402Error::InvalidIdentifier(_)
        | L402Error::InvalidChargeRequest(_)
        | L402Error::ChargeMismatch(_)
        | L402Error::InvalidChallengeExpiry(_) => Limit::InvalidChallenge,
        _ => return None,
    })
}

/// A middleware error as a tool error.
pub(crate) fn from_l402(e: &L402Error, operator_cap: l402_core::Amount) -> ToolError {
    let message = l402_core::ErrorChain(e).to_string();
    if let Some(limit) = limit_of(e, operator_cap) {
        return ToolError::refused(limit, message);
    }
    let error = match e {
        L402Error::StillPaymentRequired => Kind::StillPaymentRequired,
        L402Error::PaymentFailed(_)
        | L402Error::PaymentInFlight { .. }
        | L402Error::Lookup { .. }
        | L402Error::BadPreimage { .. } => Kind::PaymentFailed,
        _ => Kind::RequestFailed,
    };
    ToolError {
        error,
        limit: None,
        message,
        nothing_paid: e.nothing_paid(),
        paid: None,
    }
}

/// A failed request (from the middleware or reqwest) as a tool error: a refusal by the
/// destination rules (in the resolver or the redirect policy), a timeout, a middleware
/// refusal, or a plain failure.
pub(crate) fn from_request(
    e: &reqwest_middleware::Error,
    operator_cap: l402_core::Amount,
) -> ToolError {
    if let Some(l) = L402Error::from_middleware_error(e) {
        return from_l402(l, operator_cap);
    }
    // The destination checks fail inside reqwest (DNS resolution, redirects): find them
    // in the source chain.
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<crate::net::Refused>() {
            return ToolError::refused(r.limit, r.message.clone());
        }
        source = s.source();
    }
    if let reqwest_middleware::Error::Reqwest(r) = e
        && r.is_timeout()
    {
        return ToolError::refused(Limit::Timeout, "the request timed out");
    }
    // A refusal before anything was sent (the first request) pays nothing; a transport
    // failure after a payment is reported by the caller, which knows what it paid.
    ToolError::failed(
        format!("request failed: {}", l402_core::ErrorChain(e)),
        true,
    )
}
