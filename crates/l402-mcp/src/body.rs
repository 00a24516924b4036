//! Response bodies: text within the inline limit is returned; binary or larger bodies go
//! to a file in the download directory (if one is configured), up to the download limit.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use reqwest::Response;
use tokio::io::AsyncWriteExt;

use crate::error::{Limit, ToolError};

/// Where a body went.
#[derive(Debug)]
pub(crate) enum Body {
    Inline(String),
    File(PathBuf),
    Omitted(String),
}

/// The body limits.
#[derive(Debug, Clone)]
pub(crate) struct BodyLimits {
    pub(crate) max_inline: usize,
    pub(crate) max_download: u64,
    pub(crate) dir: Option<PathBuf>,
}

/// Whether a content type is text (`None`: no content type, decided by the bytes).
fn textual(content_type: Option<&str>) -> Option<bool> {
    let ct = content_type?.to_ascii_lowercase();
    let essence = ct.split(';').next().unwrap_or_default().trim().to_owned();
    Some(
        essence.starts_with("text/")
            || essence.ends_with("+json")
            || essence.ends_with("+xml")
            || matches!(
                essence.as_str(),
                "application/json"
                    | "application/xml"
                    | "application/javascript"
                    | "application/x-www-form-urlencoded"
                    | "application/x-ndjson"
                    | "application/problem+json"
            ),
    )
}

/// Text that can be shown to an agent: UTF-8 without NUL or other control bytes than
/// white space.
fn printable(bytes: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(bytes).ok()?;
    s.chars()
        .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
        .then(|| s.to_owned())
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

async fn create(dir: &Path) -> std::io::Result<(tokio::fs::File, PathBuf)> {
    tokio::fs::create_dir_all(dir).await?;
    let ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!("body-{ms}-{}-{n}.bin", std::process::id()));
    let mut opts = tokio::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    opts.mode(0o600);
    Ok((opts.open(&path).await?, path))
}

fn io_error(e: &std::io::Error) -> ToolError {
    ToolError::failed(format!("cannot save the body: {e}"), true)
}

/// Reads the body within the limits. A body above `max_download` is a
/// [`Limit::ResponseSize`] error (the partial file removed).
pub(crate) async fn read(
    res: &mut Response,
    limits: &BodyLimits,
) -> Result<(Body, u64), ToolError> {
    let content_type = res
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = textual(content_type.as_deref());
    let mut buf: Vec<u8> = Vec::new();
    let mut file: Option<(tokio::fs::File, PathBuf)> = None;
    let mut total: u64 = 0;
    let mut omitted: Option<String> = None;
    loop {
        let chunk = match res.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => {
                if let Some((_, p)) = file.take() {
                    let _ = tokio::fs::remove_file(&p).await;
                }
                return Err(if e.is_timeout() {
                    ToolError::refused(Limit::Timeout, "the response body timed out")
                } else {
                    ToolError::failed(
                        format!("reading the body failed: {}", l402_core::ErrorChain(&e)),
                        true,
                    )
                });
            }
        };
        total = total.saturating_add(chunk.len() as u64);
        if total > limits.max_download {
            if let Some((_, p)) = file.take() {
                let _ = tokio::fs::remove_file(&p).await;
            }
            return Err(ToolError::refused(
                Limit::ResponseSize,
                format!(
                    "the response body is larger than the {} byte limit",
                    limits.max_download
                ),
            ));
        }
        if omitted.is_some() {
            continue;
        }
        let to_file = file.is_some()
            || text == Some(false)
            || buf.len().saturating_add(chunk.len()) > limits.max_inline;
        if to_file && file.is_none() {
            match &limits.dir {
                Some(dir) => {
                    let (mut f, p) = create(dir).await.map_err(|e| io_error(&e))?;
                    f.write_all(&buf).await.map_err(|e| io_error(&e))?;
                    buf.clear();
                    file = Some((f, p));
                }
                None => {
                    omitted = Some(if text == Some(false) {
                        "binary body, and no download directory is configured".to_owned()
                    } else {
                        format!(
                            "body larger than the {} byte inline limit, and no download \
                             directory is configured",
                            limits.max_inline
                        )
                    });
                    buf.clear();
                    continue;
                }
            }
        }
        match &mut file {
            Some((f, _)) => f.write_all(&chunk).await.map_err(|e| io_error(&e))?,
            None => buf.extend_from_slice(&chunk),
        }
    }
    if let Some(why) = omitted {
        return Ok((Body::Omitted(why), total));
    }
    if let Some((mut f, p)) = file {
        f.flush().await.map_err(|e| io_error(&e))?;
        return Ok((Body::File(p), total));
    }
    match printable(&buf) {
        Some(s) => Ok((Body::Inline(s), total)),
        // No content type (or a text one) but binary bytes: never inlined.
        None => match &limits.dir {
            Some(dir) => {
                let (mut f, p) = create(dir).await.map_err(|e| io_error(&e))?;
                f.write_all(&buf).await.map_err(|e| io_error(&e))?;
                f.flush().await.map_err(|e| io_error(&e))?;
                Ok((Body::File(p), total))
            }
            None => Ok((
                Body::Omitted("binary body, and no download directory is configured".into()),
                total,
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_types() {
        assert_eq!(textual(Some("text/plain; charset=utf-8")), Some(true));
        assert_eq!(textual(Some("application/json")), Some(true));
        assert_eq!(textual(Some("application/vnd.api+json")), Some(true));
        assert_eq!(textual(Some("image/png")), Some(false));
        assert_eq!(textual(Some("application/octet-stream")), Some(false));
        assert_eq!(textual(None), None);
        assert!(printable(b"hello\n").is_some());
        assert!(printable(b"a\0b").is_none());
        assert!(printable(&[0xff, 0xfe]).is_none());
    }
}
