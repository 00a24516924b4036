//! The axum extractor for the receipt of a verified request (feature `axum`).

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;
use l402_core::Receipt;

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
