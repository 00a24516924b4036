//! End-to-end tests of the `l402` binary: they run the built executable as separate
//! processes (dev-node, proxy, get, token) on 127.0.0.1, with bounded timeouts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cln;
mod get;
mod get_money;
mod paid;
mod pay_loop;
mod proxy;
mod support;
mod token;
mod token_secrets;
