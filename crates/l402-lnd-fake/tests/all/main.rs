//! The fake LND's answers checked against `shared/backends/lnd-rest.json`, read at test
//! time: every response body, stream line and error matches the swagger definitions
//! (field presence, types, 64-bit integers as strings, base64 bytes, enums) and, where
//! the file gives exact bodies, those bodies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod responses;
mod schema;
