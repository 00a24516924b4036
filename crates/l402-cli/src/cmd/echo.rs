//! `l402 echo`: a tiny upstream for trying the proxy.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use clap::Args;
use serde_json::json;

use crate::exit::{CliError, CmdResult, OK};
use crate::logging::{self, LogArgs};
use crate::shutdown;

/// Answer every request with a JSON description of it (method, path, query, headers, body
/// size), so you can see what the proxy forwards (`X-L402-Token-Id`, `X-L402-Service`,
/// no `Authorization`).
#[derive(Debug, Args)]
pub(crate) struct EchoArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000", value_name = "ADDR")]
    listen: SocketAddr,
    #[command(flatten)]
    log: LogArgs,
}

pub(crate) async fn run(args: EchoArgs) -> CmdResult {
    logging::init(&args.log);
    let stop = shutdown::signal();
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| CliError::config(format!("cannot listen on {}: {e}", args.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::failure(format!("no local address: {e}")))?;
    tracing::info!(%addr, "echo server listening");
    let app = Router::new().fallback(echo);
    axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
        .map_err(|e| CliError::failure(format!("echo server failed: {e}")))?;
    Ok(OK)
}

async fn echo(request: Request) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let size = match axum::body::to_bytes(body, 16 * 1024 * 1024).await {
        Ok(b) => b.len(),
        Err(_) => 0,
    };
    let headers: serde_json::Map<String, serde_json::Value> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                json!(String::from_utf8_lossy(v.as_bytes())),
            )
        })
        .collect();
    let text = json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "version": format!("{:?}", parts.version),
        "headers": headers,
        "body_bytes": size,
    })
    .to_string();
    axum::response::Response::builder()
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(text))
        .unwrap_or_default()
}
