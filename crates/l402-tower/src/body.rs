//! How the layer builds the bodies of the responses it writes itself (402, 401, 503).

/// Builds the body of a response the layer writes itself.
///
/// The layer is generic over the response body type `B` of the wrapped service, so it needs
/// a way to make one. Two strategies ship:
///
/// * [`TextBody`] (the default): a short fixed text, for bodies that implement
///   `From<&'static str>` (axum's `Body`, `http_body_util::Full<Bytes>`, `String`).
/// * [`EmptyBody`]: an empty body from [`Default`], for every body type that has one
///   (tonic's `Body`, `http_body_util::Empty`, boxed bodies). Select it with
///   [`L402Layer::empty_bodies`](crate::L402Layer::empty_bodies).
///
/// The text is always one of this crate's fixed messages; nothing from a Lightning node or
/// a store ever reaches a response body.
pub trait MakeBody<B> {
    /// A body holding `message` (or nothing, if the strategy writes empty bodies).
    fn make_body(message: &'static str) -> B;
}

/// Writes the fixed message as the body: needs `B: From<&'static str>`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TextBody;

impl<B: From<&'static str>> MakeBody<B> for TextBody {
    fn make_body(message: &'static str) -> B {
        B::from(message)
    }
}

/// Writes empty bodies: needs `B: Default` (as tower-http's layers do).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EmptyBody;

impl<B: Default> MakeBody<B> for EmptyBody {
    fn make_body(_message: &'static str) -> B {
        B::default()
    }
}
