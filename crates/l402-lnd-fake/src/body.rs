//! Response bodies: whole JSON documents, and streams fed through a channel (an `Err`
//! item aborts the connection, as a node crash or a network cut would).

use core::pin::Pin;
use core::task::{Context, Poll};
use std::io;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body::{Body, Frame};
use http_body_util::{BodyExt as _, Full, combinators::BoxBody};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::json::{Status, line};

/// The body type of every response.
pub(crate) type ResBody = BoxBody<Bytes, io::Error>;

/// A body whose chunks come from a channel.
pub(crate) struct ChannelBody {
    rx: mpsc::Receiver<Result<Bytes, io::Error>>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.rx
            .poll_recv(cx)
            .map(|item| item.map(|chunk| chunk.map(Frame::data)))
    }
}

/// A stream's sending half.
pub(crate) type StreamSender = mpsc::Sender<Result<Bytes, io::Error>>;

/// A streaming 200 response and the sender that feeds it.
pub(crate) fn stream() -> (StreamSender, Response<ResBody>) {
    let (tx, rx) = mpsc::channel(16);
    (tx, respond(StatusCode::OK, ChannelBody { rx }.boxed()))
}

fn respond(status: StatusCode, body: ResBody) -> Response<ResBody> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn full(bytes: impl Into<Bytes>) -> ResBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A 200 response with a JSON document.
pub(crate) fn ok_json(value: &Value) -> Response<ResBody> {
    respond(StatusCode::OK, full(value.to_string()))
}

/// A unary error: `{"code","message","details"}` with the status from the code.
pub(crate) fn unary_error(status: &Status) -> Response<ResBody> {
    respond(status.http_status(), full(status.to_json().to_string()))
}

/// A stream that fails before its first message: the status from the code, the body one
/// `{"error": …}` line.
pub(crate) fn stream_error(status: &Status) -> Response<ResBody> {
    let value = serde_json::json!({ "error": status.to_json() });
    respond(status.http_status(), full(line(&value)))
}
