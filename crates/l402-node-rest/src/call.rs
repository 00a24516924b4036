//! One call to a node's REST API, what can go wrong with it, and how that becomes a
//! [`BackendError`].

use core::fmt;
use std::time::Duration;

use l402_core::{BackendError, ErrorKind};
use reqwest::{RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use tokio::time::{Instant, timeout_at};

/// A node's own error answer (LND's gRPC status, CLN's JSON-RPC error).
pub trait NodeError: Sized + fmt::Debug {
    /// Reads the body of a non-success answer; `None` when it is not the node's error body
    /// (a proxy's page, say).
    fn from_body(body: &[u8]) -> Option<Self>;
    /// Whether trying again may help, given the HTTP status it came with.
    fn kind(&self, http: StatusCode) -> ErrorKind;
    /// The node's message.
    fn message(&self) -> &str;
    /// The node's error code as text.
    fn code_text(&self) -> String;
}

/// What went wrong in one call, before it becomes a trait error.
#[derive(Debug)]
pub enum CallError<E> {
    /// No answer: connection refused, reset, TLS failure.
    Transport(reqwest::Error),
    /// The call's own deadline passed.
    Timeout,
    /// The node answered with its error body.
    Node {
        /// The HTTP status it came with.
        http: StatusCode,
        /// The node's error.
        error: E,
    },
    /// A non-success status without the node's error body (a proxy's, say).
    Http(StatusCode),
    /// A success status with a body that is not what the node sends.
    Decode(String),
}

impl<E: NodeError> CallError<E> {
    /// The error for a non-success answer with `body`.
    pub fn from_response(http: StatusCode, body: &[u8]) -> Self {
        match E::from_body(body) {
            Some(error) => CallError::Node { http, error },
            None => CallError::Http(http),
        }
    }

    /// The node's error, if the node answered with one.
    pub fn node_error(&self) -> Option<&E> {
        match self {
            CallError::Node { error, .. } => Some(error),
            _ => None,
        }
    }

    /// Whether trying again may help: no answer, a timeout, a gateway's or rate limiter's
    /// status, or whatever the node's error says.
    pub fn kind(&self) -> ErrorKind {
        match self {
            CallError::Transport(_) | CallError::Timeout => ErrorKind::Transient,
            CallError::Node { http, error } => error.kind(*http),
            CallError::Http(http) => match http.as_u16() {
                408 | 429 | 502 | 503 | 504 => ErrorKind::Transient,
                _ => ErrorKind::Permanent,
            },
            CallError::Decode(_) => ErrorKind::Permanent,
        }
    }

    /// The trait error, its text starting `"<node> <op>: "`. Transport errors keep their
    /// source but show only a fixed phrase, so no URL or node text reaches the message.
    pub fn into_backend(self, node: &str, op: &str) -> BackendError {
        let kind = self.kind();
        match self {
            CallError::Transport(e) => {
                BackendError::new(kind, format!("{node} {op}: {}", transport_text(&e)))
                    .with_source(e)
            }
            CallError::Timeout => BackendError::new(kind, format!("{node} {op}: timed out")),
            CallError::Node { http, error } => BackendError::new(
                kind,
                format!(
                    "{node} {op}: {} (code {}, http {})",
                    error.message(),
                    error.code_text(),
                    http.as_u16()
                ),
            ),
            CallError::Http(http) => {
                BackendError::new(kind, format!("{node} {op}: http status {}", http.as_u16()))
            }
            CallError::Decode(what) => {
                BackendError::new(kind, format!("{node} {op}: unexpected response: {what}"))
            }
        }
    }
}

/// A fixed phrase for a transport failure.
#[must_use]
pub fn transport_text(e: &reqwest::Error) -> &'static str {
    if e.is_connect() {
        "cannot connect"
    } else if e.is_timeout() {
        "timed out"
    } else {
        "connection failed"
    }
}

/// Sends `request` and reads its JSON answer, all within `timeout`.
///
/// # Errors
/// [`CallError`]: no answer, the deadline, the node's error, another status, or a body
/// that is not the expected JSON.
pub async fn unary<T: DeserializeOwned, E: NodeError>(
    request: RequestBuilder,
    timeout: Duration,
) -> Result<T, CallError<E>> {
    let deadline = Instant::now() + timeout;
    let call = async {
        let response = request.send().await.map_err(CallError::Transport)?;
        let http = response.status();
        let body = response.bytes().await.map_err(CallError::Transport)?;
        if !http.is_success() {
            return Err(CallError::from_response(http, &body));
        }
        serde_json::from_slice(&body).map_err(|e| CallError::Decode(e.to_string()))
    };
    timeout_at(deadline, call)
        .await
        .map_err(|_| CallError::Timeout)?
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A node whose error body is `{"code": n, "message": "…"}`; codes 14 and up are
    /// transient.
    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct TestError {
        code: i32,
        message: String,
    }

    impl NodeError for TestError {
        fn from_body(body: &[u8]) -> Option<Self> {
            serde_json::from_slice(body).ok()
        }
        fn kind(&self, _http: StatusCode) -> ErrorKind {
            if self.code >= 14 {
                ErrorKind::Transient
            } else {
                ErrorKind::Permanent
            }
        }
        fn message(&self) -> &str {
            &self.message
        }
        fn code_text(&self) -> String {
            self.code.to_string()
        }
    }

    /// Serves one connection with `response` (or never answers when `None`).
    async fn serve_once(response: Option<&'static str>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf).await;
            match response {
                Some(r) => {
                    let _ = stream.write_all(r.as_bytes()).await;
                }
                None => tokio::time::sleep(Duration::from_secs(30)).await,
            }
        });
        format!("http://{addr}/")
    }

    fn reply(status: &str, body: &str) -> &'static str {
        Box::leak(
            format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .into_boxed_str(),
        )
    }

    async fn call(
        response: Option<&'static str>,
    ) -> Result<serde_json::Value, CallError<TestError>> {
        let url = serve_once(response).await;
        let request = reqwest::Client::new().get(url);
        unary(request, Duration::from_millis(300)).await
    }

    #[tokio::test]
    async fn reads_answers_and_errors() {
        assert_eq!(
            call(Some(reply("200 OK", r#"{"a":1}"#))).await.unwrap(),
            serde_json::json!({"a": 1})
        );

        let e = call(Some(reply(
            "500 Internal Server Error",
            r#"{"code":2,"message":"no"}"#,
        )))
        .await
        .unwrap_err();
        assert_eq!(e.node_error().map(|e| e.code), Some(2));
        assert_eq!(e.kind(), ErrorKind::Permanent);
        assert_eq!(
            e.into_backend("node", "op").message().to_owned(),
            "node op: no (code 2, http 500)"
        );

        let e = call(Some(reply("503 Service Unavailable", "<html>busy</html>")))
            .await
            .unwrap_err();
        assert!(matches!(e, CallError::Http(s) if s.as_u16() == 503));
        assert_eq!(e.kind(), ErrorKind::Transient);

        let e = call(Some(reply("200 OK", "not json"))).await.unwrap_err();
        assert!(matches!(e, CallError::Decode(_)));
        assert_eq!(e.kind(), ErrorKind::Permanent);
    }

    #[tokio::test]
    async fn gives_up_at_the_deadline_and_on_refused_connections() {
        let e = call(None).await.unwrap_err();
        assert!(matches!(e, CallError::Timeout));
        assert_eq!(
            e.into_backend("node", "op").message().to_owned(),
            "node op: timed out"
        );

        // A port nothing listens on.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let request = reqwest::Client::new().get(format!("http://{addr}/"));
        let e = unary::<serde_json::Value, TestError>(request, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Transient);
        let text = e.into_backend("node", "op").message().to_owned();
        assert_eq!(text, "node op: cannot connect");
    }
}
