//! # l402-mcp
//!
//! An [MCP](https://modelcontextprotocol.io) server, on the official Rust SDK
//! [`rmcp`], that lets an AI agent pay for L402 APIs (and the `Payment` scheme's
//! Lightning charges) **within limits the operator sets and the agent cannot raise**.
//!
//! The paying is done by [`l402_reqwest::L402Middleware`]: its spending policy
//! (per-request cap, fee cap, budgets over a window counted in a
//! [`SpendingLedger`](l402_reqwest::SpendingLedger)), its checks before every payment, its
//! at-most-one payment per request and its recovery of interrupted payments. This crate
//! adds what an agent needs on top: tools with JSON schemas, and limits on where the agent
//! may send requests and how much it may read back.
//!
//! | tool | what it does |
//! |---|---|
//! | `fetch` | fetch a URL, paying its challenge within the limits; status, headers, body (inline text, or a file), what was paid |
//! | `quote` | what a URL would cost, paying nothing: price, expiry, network, whether it fits |
//! | `budget` | the limits, and what was spent in the window and per origin |
//! | `payments` | the payments this server made, with receipts |
//! | `tokens` / `forget_token` | the stored tokens (never their secrets); remove one |
//! | `decode` | the `l402 token decode` view of a challenge, token, receipt or invoice |
//!
//! ## Limits
//!
//! Set by the operator on the [builder](L402McpBuilder); a tool argument can only lower
//! the price cap (`max_cost_sat`) and the timeout (`timeout_secs`):
//!
//! * the [`SpendingPolicy`](l402_reqwest::SpendingPolicy): per-request cap, fee cap,
//!   budgets and their window, network;
//! * destinations: http and https only; allowed and denied hosts; private, loopback,
//!   link-local and other non-public addresses refused unless allowed, checked on the URL,
//!   every redirect and every address a host name resolves to (the connection goes only
//!   to checked addresses); environment proxies are not used;
//! * a 402 from another origin than the request's (after a redirect) is never paid;
//! * the request timeout; the inline body limit (larger or binary bodies go to the
//!   download directory, or are omitted) and the download limit.
//!
//! Every refusal is a tool result with `isError: true` whose structured content names
//! the `limit` and says `nothing_paid`. An unknown tool or arguments of the wrong type
//! are JSON-RPC errors (invalid params).
//!
//! ## Example
//!
//! ```no_run
//! use l402_core::Amount;
//! use l402_mcp::L402Mcp;
//! use l402_reqwest::SpendingPolicy;
//! use rmcp::ServiceExt;
//! # async fn run(node: l402_mock::MockNode) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//!
//! let server = L402Mcp::builder(node)
//!     .policy(
//!         SpendingPolicy::new()
//!             .max_price(Amount::from_msat(100_000)) // 100 sat per request
//!             .budget(Amount::from_msat(1_000_000)) // 1,000 sat...
//!             .budget_window(std::time::Duration::from_secs(24 * 3600)), // ...a day
//!     )
//!     .allow_hosts(["api.example.com"])
//!     .build()?;
//! // Over stdio (or any rmcp transport).
//! server.serve(rmcp::transport::stdio()).await?.waiting().await?;
//! # Ok(()) }
//! ```

#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod body;
pub mod decode;
mod error;
mod hosts;
mod net;
mod server;
pub mod tools;

pub use error::Limit;
pub use rmcp;
pub use server::{
    BuildError, DEFAULT_MAX_DOWNLOAD_BYTES, DEFAULT_MAX_INLINE_BYTES, DEFAULT_TIMEOUT, L402Mcp,
    L402McpBuilder, MAX_REQUEST_BODY, MAX_REQUEST_HEADERS,
};
