//! The responses the layer writes itself.

use http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Response, StatusCode};

use crate::body::MakeBody;
use crate::payment::Failure;

/// Body of a 402 (and of a 401 when that option is on).
pub(crate) const PAYMENT_REQUIRED_MESSAGE: &str = "payment required";
/// Body of a 401 answering an invalid credential, when that option is on.
pub(crate) const UNAUTHORIZED_MESSAGE: &str = "invalid or expired l402 credential";
/// Body of a 503: fixed text, never the node's or the store's error.
pub(crate) const UNAVAILABLE_MESSAGE: &str = "payment service temporarily unavailable";
/// `grpc-message` of a gRPC payment challenge (Aperture's text).
pub(crate) const GRPC_PAYMENT_REQUIRED: &str = "payment required";
/// `grpc-message` of a gRPC answer when the backend is down.
pub(crate) const GRPC_UNAVAILABLE: &str = "payment service temporarily unavailable";
/// Body of a 429.
pub(crate) const RATE_LIMITED_MESSAGE: &str = "too many requests";
/// `grpc-message` of a rate-limited call.
const GRPC_RATE_LIMITED: &str = "too many requests";
/// gRPC status `RESOURCE_EXHAUSTED`, for a rate-limited call.
const GRPC_STATUS_RESOURCE_EXHAUSTED: &str = "8";
/// gRPC status `INTERNAL`, which Aperture sends with a payment challenge.
const GRPC_STATUS_INTERNAL: &str = "13";
/// gRPC status `UNAVAILABLE`.
const GRPC_STATUS_UNAVAILABLE: &str = "14";
/// gRPC status `INVALID_ARGUMENT`, for a Payment credential of another method.
const GRPC_STATUS_INVALID_ARGUMENT: &str = "3";
/// `grpc-message` of a Payment credential of another method.
const GRPC_METHOD_UNSUPPORTED: &str = "payment method unsupported";

const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");
const TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
const APPLICATION_GRPC: HeaderValue = HeaderValue::from_static("application/grpc");
const PROBLEM_JSON: HeaderValue =
    HeaderValue::from_static(l402_core::payment_scheme::PROBLEM_CONTENT_TYPE);

/// Why the layer answers instead of the inner service.
#[derive(Debug)]
pub(crate) enum Rejection {
    /// 402 (or 401) with a fresh challenge: the two `WWW-Authenticate` values, LSAT first.
    Challenge {
        /// `true` when a credential was presented but is invalid.
        invalid_credential: bool,
        /// Answer 401 instead of 402 for invalid credentials.
        unauthorized: bool,
        /// The `WWW-Authenticate` values, LSAT first.
        values: [HeaderValue; 2],
        /// gRPC caller.
        grpc: bool,
    },
    /// 402 from a route that offers the `Payment` scheme: every challenge (`LSAT`, `L402`,
    /// then `Payment`, as offered) and a problem body.
    Payment {
        /// The `WWW-Authenticate` values, in order.
        values: Vec<HeaderValue>,
        /// Why: the problem body.
        failure: Failure,
        /// gRPC caller.
        grpc: bool,
    },
    /// 400: a Payment credential of another payment method.
    MethodUnsupported {
        /// gRPC caller.
        grpc: bool,
    },
    /// 429: a rate limit refused the request; retry after the given seconds.
    RateLimited {
        /// The `Retry-After` value.
        retry_after: HeaderValue,
        /// gRPC caller.
        grpc: bool,
    },
    /// 503: a backend or store failed; retry after the given seconds.
    Unavailable {
        /// The `Retry-After` value.
        retry_after: HeaderValue,
        /// gRPC caller.
        grpc: bool,
    },
}

impl Rejection {
    pub(crate) fn into_response<B, M: MakeBody<B>>(self) -> Response<B> {
        let mut headers = HeaderMap::new();
        headers.insert(CACHE_CONTROL, NO_STORE);
        let (status, body) = match self {
            Rejection::Challenge {
                invalid_credential,
                unauthorized,
                values: [lsat, l402],
                grpc,
            } => {
                headers.append(WWW_AUTHENTICATE, lsat);
                headers.append(WWW_AUTHENTICATE, l402);
                if grpc {
                    grpc_headers(&mut headers, GRPC_STATUS_INTERNAL, GRPC_PAYMENT_REQUIRED);
                    (StatusCode::OK, M::make_body(""))
                } else if invalid_credential && unauthorized {
                    headers.insert(CONTENT_TYPE, TEXT_PLAIN);
                    (StatusCode::UNAUTHORIZED, M::make_body(UNAUTHORIZED_MESSAGE))
                } else {
                    headers.insert(CONTENT_TYPE, TEXT_PLAIN);
                    (
                        StatusCode::PAYMENT_REQUIRED,
                        M::make_body(PAYMENT_REQUIRED_MESSAGE),
                    )
                }
            }
            Rejection::Payment {
                values,
                failure,
                grpc,
            } => {
                for value in values {
                    headers.append(WWW_AUTHENTICATE, value);
                }
                if grpc {
                    grpc_headers(&mut headers, GRPC_STATUS_INTERNAL, GRPC_PAYMENT_REQUIRED);
                    (StatusCode::OK, M::make_body(""))
                } else {
                    headers.insert(CONTENT_TYPE, PROBLEM_JSON);
                    (failure.kind().status(), M::make_body(failure.body()))
                }
            }
            Rejection::MethodUnsupported { grpc } => {
                let failure = Failure::MethodUnsupported;
                if grpc {
                    grpc_headers(
                        &mut headers,
                        GRPC_STATUS_INVALID_ARGUMENT,
                        GRPC_METHOD_UNSUPPORTED,
                    );
                    (StatusCode::OK, M::make_body(""))
                } else {
                    headers.insert(CONTENT_TYPE, PROBLEM_JSON);
                    (failure.kind().status(), M::make_body(failure.body()))
                }
            }
            Rejection::RateLimited { retry_after, grpc } => {
                headers.insert(RETRY_AFTER, retry_after);
                if grpc {
                    grpc_headers(
                        &mut headers,
                        GRPC_STATUS_RESOURCE_EXHAUSTED,
                        GRPC_RATE_LIMITED,
                    );
                    (StatusCode::OK, M::make_body(""))
                } else {
                    headers.insert(CONTENT_TYPE, TEXT_PLAIN);
                    (
                        StatusCode::TOO_MANY_REQUESTS,
                        M::make_body(RATE_LIMITED_MESSAGE),
                    )
                }
            }
            Rejection::Unavailable { retry_after, grpc } => {
                headers.insert(RETRY_AFTER, retry_after);
                if grpc {
                    grpc_headers(&mut headers, GRPC_STATUS_UNAVAILABLE, GRPC_UNAVAILABLE);
                    (StatusCode::OK, M::make_body(""))
                } else {
                    headers.insert(CONTENT_TYPE, TEXT_PLAIN);
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        M::make_body(UNAVAILABLE_MESSAGE),
                    )
                }
            }
        };
        let mut response = Response::new(body);
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        response
    }
}

fn grpc_headers(headers: &mut HeaderMap, status: &'static str, message: &'static str) {
    headers.insert(CONTENT_TYPE, APPLICATION_GRPC);
    headers.insert("grpc-status", HeaderValue::from_static(status));
    headers.insert("grpc-message", HeaderValue::from_static(message));
}

/// Whether the request is a gRPC call (`content-type: application/grpc…`), as Aperture
/// decides it.
pub(crate) fn is_grpc(headers: &HeaderMap) -> bool {
    const PREFIX: &[u8] = b"application/grpc";
    headers.get(CONTENT_TYPE).is_some_and(|v| {
        v.as_bytes()
            .get(..PREFIX.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(PREFIX))
    })
}
