//! The axum extractors for the receipt of a verified request and the charge that paid for
//! it (feature `axum`).

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;
use l402_core::Receipt;
use l402_core::payment_scheme::VerifiedCharge;

/// The [`Receipt`] of the token that paid for this request.
///
/// Present on requests that presented a valid token. Extracting it from a request that
/// passed without one (a free route, a free allowance, or a handler not behind the layer)
/// is rejected with [`MissingReceipt`] (500: a wiring mistake); use `Option<L402Receipt>`
/// where both can happen.
///
/// ```
/// use axum::{Router, routing::get};
/// use l402_tower::L402Receipt;
///
/// async fn handler(L402Receipt(receipt): L402Receipt) -> String {
///     format!("token {}", receipt.token_id())
/// }
///
/// async fn maybe(receipt: Option<L402Receipt>) -> &'static str {
///     if receipt.is_some() { "paid" } else { "free" }
/// }
///
/// let app: Router = Router::new().route("/paid", get(handler)).route("/maybe", get(maybe));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L402Receipt(pub Receipt);

/// The request carries no L402 receipt: the handler is not behind
/// [`L402Layer`](crate::L402Layer), or the request passed without a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no l402 receipt in the request extensions")]
#[non_exhaustive]
pub struct MissingReceipt;

impl IntoResponse for MissingReceipt {
    fn into_response(self) -> Response {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "missing l402 receipt: is the route behind L402Layer?",
        )
            .into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for L402Receipt {
    type Rejection = MissingReceipt;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Receipt>()
            .cloned()
            .map(L402Receipt)
            .ok_or(MissingReceipt)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for L402Receipt {
    type Rejection = core::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Receipt>().cloned().map(L402Receipt))
    }
}

/// The [`VerifiedCharge`] of the `Payment` charge that paid for this request.
///
/// Present on requests that presented a valid, fresh charge credential on a route that
/// offers the `Payment` scheme. Extracting it from a request that passed otherwise is
/// rejected with [`MissingCharge`] (500: a wiring mistake); use `Option<PaymentCharge>`
/// where both can happen (a route offering [`Offers::Both`](crate::Offers::Both)).
///
/// ```
/// use axum::{Router, routing::get};
/// use l402_tower::{L402Receipt, PaymentCharge};
///
/// async fn handler(charge: Option<PaymentCharge>, token: Option<L402Receipt>) -> String {
///     match (charge, token) {
///         (Some(PaymentCharge(c)), _) => format!("charged {} sat", c.amount_sat),
///         (None, Some(L402Receipt(r))) => format!("token {}", r.token_id()),
///         (None, None) => "free".to_owned(),
///     }
/// }
///
/// let app: Router = Router::new().route("/paid", get(handler));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentCharge(pub VerifiedCharge);

/// The request carries no verified `Payment` charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no payment charge in the request extensions")]
#[non_exhaustive]
pub struct MissingCharge;

impl IntoResponse for MissingCharge {
    fn into_response(self) -> Response {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "missing payment charge: does the route offer the Payment scheme?",
        )
            .into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PaymentCharge {
    type Rejection = MissingCharge;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<VerifiedCharge>()
            .cloned()
            .map(PaymentCharge)
            .ok_or(MissingCharge)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for PaymentCharge {
    type Rejection = core::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<VerifiedCharge>()
            .cloned()
            .map(PaymentCharge))
    }
}
