//! Building the request from curl-style flags, and writing the response out.

use std::path::Path;

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use reqwest::Url;
use tokio::io::AsyncWriteExt;

use super::GetArgs;
use crate::exit::CliError;

/// The request to send.
pub(super) struct Prepared {
    pub(super) method: Method,
    pub(super) url: Url,
    pub(super) headers: HeaderMap,
    pub(super) body: Option<Vec<u8>>,
}

/// Longest body read from --data-file (the request is kept in memory to be sent again
/// after paying).
const MAX_BODY_FILE_LEN: u64 = 64 * 1024 * 1024;

pub(super) fn prepare(args: &GetArgs) -> Result<Prepared, CliError> {
    let url = Url::parse(&args.url)
        .map_err(|e| CliError::config(format!("invalid url {:?}: {e}", args.url)))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(CliError::config(format!(
            "unsupported url scheme {:?} (want http or https)",
            url.scheme()
        )));
    }
    let body = match (&args.data, &args.data_file) {
        (Some(d), _) => Some(d.clone().into_bytes()),
        (None, Some(path)) => Some(read_body(path)?),
        (None, None) => None,
    };
    let method = match &args.method {
        Some(m) => Method::from_bytes(m.as_bytes())
            .map_err(|_| CliError::config(format!("invalid method {m:?}")))?,
        None if body.is_some() => Method::POST,
        None => Method::GET,
    };
    let mut headers = HeaderMap::new();
    for h in &args.headers {
        let (name, value) = h
            .split_once(':')
            .ok_or_else(|| CliError::config(format!("header {h:?} is not `Name: value`")))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| CliError::config(format!("invalid header name in {h:?}")))?;
        let value = HeaderValue::from_str(value.trim())
            .map_err(|_| CliError::config(format!("invalid header value in {h:?}")))?;
        headers.append(name, value);
    }
    Ok(Prepared {
        method,
        url,
        headers,
        body,
    })
}

fn read_body(path: &Path) -> Result<Vec<u8>, CliError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| CliError::config(format!("cannot read {}: {e}", path.display())))?;
    if meta.len() > MAX_BODY_FILE_LEN {
        return Err(CliError::config(format!(
            "{} is larger than {MAX_BODY_FILE_LEN} bytes",
            path.display()
        )));
    }
    std::fs::read(path)
        .map_err(|e| CliError::config(format!("cannot read {}: {e}", path.display())))
}

/// Writes the (optional) status line and headers, then streams the body, to stdout or
/// `-o FILE`.
pub(super) async fn write_response(
    mut response: reqwest::Response,
    args: &GetArgs,
) -> Result<(), CliError> {
    let mut out: Box<dyn tokio::io::AsyncWrite + Unpin + Send> = match &args.output {
        Some(path) => Box::new(
            tokio::fs::File::create(path)
                .await
                .map_err(|e| CliError::config(format!("cannot create {}: {e}", path.display())))?,
        ),
        None => Box::new(tokio::io::stdout()),
    };
    let write_err = |e: std::io::Error| CliError::failure(format!("cannot write the output: {e}"));
    if args.include {
        let mut head = format!("{:?} {}\r\n", response.version(), response.status());
        for (name, value) in response.headers() {
            head.push_str(name.as_str());
            head.push_str(": ");
            head.push_str(&String::from_utf8_lossy(value.as_bytes()));
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        out.write_all(head.as_bytes()).await.map_err(write_err)?;
    }
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => out.write_all(&chunk).await.map_err(write_err)?,
            Ok(None) => break,
            Err(e) => {
                return Err(CliError::failure(format!(
                    "reading the response body failed: {}",
                    crate::exit::chain(&e)
                )));
            }
        }
    }
    out.flush().await.map_err(write_err)?;
    Ok(())
}
