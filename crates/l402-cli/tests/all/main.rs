//! End-to-end tests of the `l402` binary: they run the built executable as separate
//! processes (dev-node, proxy, get, token) on 127.0.0.1, with bounded timeouts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Without the `dev-node` feature the tests that run `l402 dev-node` are left out, and
// some helpers go unused.
#![cfg_attr(not(feature = "dev-node"), allow(dead_code, unused_imports))]

mod cln;
#[cfg(feature = "dev-node")]
mod dev_node;
mod error_chains;
mod get;
mod get_money;
mod get_payment;
mod mcp_http;
mod mcp_python;
mod node;
mod node_bake;
mod paid;
#[cfg(feature = "dev-node")]
mod pay_loop;
#[cfg(feature = "dev-node")]
mod proxy;
mod proxy_admin;
mod proxy_aperture;
mod proxy_fleet;
mod proxy_paths;
mod proxy_payment;
mod proxy_reload;
mod proxy_revocation;
mod proxy_tls;
mod redaction;
mod support;
mod token;
mod token_payment;
mod token_secrets;
