//! Tests of the proxy as a tower service, against real upstreams on 127.0.0.1.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    unreachable_pub
)]

mod admin;
mod fleet;
mod grpc;
mod metrics;
mod protocols;
mod routing;
mod support;
mod tls;
