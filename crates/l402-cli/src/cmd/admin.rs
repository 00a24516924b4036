//! `l402 admin`: a client of the proxy's admin API (`[admin]` in the proxy's TOML).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::Value;

use crate::exit::{self, CliError, CmdResult, OK};
use crate::output::{print_json, print_line};

/// Talk to a running `l402 proxy`'s admin API: health, info, services, revoke a token,
/// recent sales, revenue.
#[derive(Debug, Args)]
#[command(after_help = "\
Example:
  l402 admin --secret-file /etc/l402/admin.secret info
  l402 admin --secret-file admin.secret revoke 3f1c...e9   # 64 hex characters
  l402 admin --secret-file admin.secret recent --limit 10 --json

The secret is the one in the proxy's [admin] bearer_secret_file, read from a file, never
from the command line. See docs/operations.md, \"Admin API\".

Exit codes: 0 done, 1 failure (the secret was refused, or the answer is not the API's),
2 usage or configuration error, 7 could not connect, 22 the API answered with an error
(400, 404, 405, 409, 503: its message is printed).")]
pub(crate) struct AdminArgs {
    /// The admin API's base URL (`[admin] listen`).
    #[arg(
        long,
        value_name = "URL",
        default_value = "http://127.0.0.1:8403",
        env = "L402_ADMIN_URL"
    )]
    url: String,
    /// File holding the bearer secret (the proxy's `bearer_secret_file`).
    #[arg(long, value_name = "FILE", env = "L402_ADMIN_SECRET_FILE")]
    secret_file: PathBuf,
    /// Print the API's JSON answer instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Give up after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    timeout: u64,
    #[command(subcommand)]
    call: AdminCall,
}

#[derive(Debug, Subcommand)]
enum AdminCall {
    /// Whether the proxy answers, and its version.
    Health,
    /// Version, uptime, number of services, node backend and revocation list kinds.
    Info,
    /// The services as currently served (after the last reload).
    Services,
    /// Revoke a token by id (64 hex characters): through Redis for a fleet, or appended
    /// to the revocation file.
    Revoke {
        /// The token id, as upstreams receive it in `X-L402-Token-Id`.
        token_id: String,
    },
    /// The latest sales, newest first.
    Recent {
        /// How many (1 to 1000).
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Revenue per service per UTC day, since the proxy started (this instance only).
    Stats,
}

pub(crate) async fn run(args: AdminArgs) -> CmdResult {
    let secret = crate::keys::read_secret_file(&args.secret_file)?;
    if secret.is_empty() {
        return Err(CliError::config(format!(
            "{} is empty",
            args.secret_file.display()
        )));
    }
    let base = reqwest::Url::parse(&args.url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && !u.cannot_be_a_base())
        .ok_or_else(|| CliError::config(format!("--url {:?} is not an http url", args.url)))?;
    let (method, path) = match &args.call {
        AdminCall::Health => (reqwest::Method::GET, "v1/health".to_owned()),
        AdminCall::Info => (reqwest::Method::GET, "v1/info".to_owned()),
        AdminCall::Services => (reqwest::Method::GET, "v1/services".to_owned()),
        AdminCall::Revoke { token_id } => {
            if token_id.len() != 64 || !token_id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(CliError::config("a token id is 64 hex characters"));
            }
            (
                reqwest::Method::POST,
                format!("v1/tokens/{token_id}/revoke"),
            )
        }
        AdminCall::Recent { limit } => (
            reqwest::Method::GET,
            format!("v1/tokens/recent?limit={limit}"),
        ),
        AdminCall::Stats => (reqwest::Method::GET, "v1/stats".to_owned()),
    };
    let mut url = base;
    if !url.path().ends_with('/') {
        let p = format!("{}/", url.path());
        url.set_path(&p);
    }
    let url = url
        .join(&path)
        .map_err(|e| CliError::config(format!("--url: {e}")))?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(args.timeout.max(1)))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| CliError::failure(format!("cannot build the http client: {e}")))?;
    let response = client
        .request(method, url)
        .bearer_auth(secret.as_str())
        .send()
        .await
        .map_err(|e| {
            if e.is_connect() {
                CliError::with_code(
                    exit::CONNECT,
                    format!("cannot connect to {}: {}", args.url, exit::chain(&e)),
                )
            } else {
                CliError::failure(format!("admin api: {}", exit::chain(&e)))
            }
        })?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| CliError::failure(format!("admin api: {}", exit::chain(&e))))?;
    if status == reqwest::StatusCode::UNAUTHORIZED {
        return Err(CliError::failure(format!(
            "the admin api refused the secret in {} (401): is it the proxy's [admin] bearer_secret_file?",
            args.secret_file.display()
        )));
    }
    let value: Value = serde_json::from_slice(&body).map_err(|_| {
        CliError::failure(format!(
            "the answer ({status}) is not the admin api's json: is {} the admin listener?",
            args.url
        ))
    })?;
    if !status.is_success() {
        let message = value["error"].as_str().unwrap_or("no message");
        return Err(CliError::with_code(
            exit::HTTP_ERROR,
            format!("admin api: {} ({}): {message}", status.as_u16(), path),
        ));
    }
    if args.json {
        print_json(&value)?;
    } else {
        print_line(human(&args.call, &value).trim_end())?;
    }
    Ok(OK)
}

/// The text form of an answer.
fn human(call: &AdminCall, v: &Value) -> String {
    let s = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    };
    match call {
        AdminCall::Health => format!("{} (version {})", s(&v["status"]), s(&v["version"])),
        AdminCall::Info => format!(
            "version:    {}\nuptime:     {}s\nservices:   {}\nbackend:    {}\nrevocation: {}",
            s(&v["version"]),
            s(&v["uptime_secs"]),
            s(&v["services"]),
            s(&v["backend"]),
            s(&v["revocation"]),
        ),
        AdminCall::Services => {
            let mut out = String::new();
            for svc in v["services"].as_array().into_iter().flatten() {
                let price = match svc["pricing"].as_str() {
                    Some("static") => format!("{} msat", s(&svc["price_msat"])),
                    Some(other) => other.to_owned(),
                    None => "-".to_owned(),
                };
                out.push_str(&format!(
                    "{}  host={} path={}  {}  {}  -> {}\n",
                    s(&svc["name"]),
                    s(&svc["host"]),
                    s(&svc["path"]),
                    price,
                    s(&svc["auth_scheme"]),
                    s(&svc["upstream"]),
                ));
            }
            out
        }
        AdminCall::Revoke { .. } => {
            if v["already_revoked"] == Value::Bool(true) {
                format!("{} was already revoked", s(&v["token_id"]))
            } else {
                format!("revoked {} ({})", s(&v["token_id"]), s(&v["revocation"]))
            }
        }
        AdminCall::Recent { .. } => {
            let tokens = v["tokens"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            if tokens.is_empty() {
                return "no sales yet".to_owned();
            }
            let mut out = String::new();
            for t in tokens {
                out.push_str(&format!(
                    "{}  {}  {} msat  {}  {}\n",
                    s(&t["time"]),
                    s(&t["service"]),
                    s(&t["amount_msat"]),
                    s(&t["scheme"]),
                    s(&t["token_id"]),
                ));
            }
            out
        }
        AdminCall::Stats => {
            let rows = v["revenue"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            if rows.is_empty() {
                return "no sales since the proxy started".to_owned();
            }
            let mut out = String::new();
            for r in rows {
                out.push_str(&format!(
                    "{}  {}  {} sales  {} msat\n",
                    s(&r["day"]),
                    s(&r["service"]),
                    s(&r["count"]),
                    s(&r["msat"]),
                ));
            }
            out
        }
    }
}
