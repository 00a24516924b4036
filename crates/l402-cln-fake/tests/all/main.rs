//! The fake clnrest's answers checked against `shared/backends/cln-rest.json`, read at
//! test time: every response body matches the method's schema (required fields, types
//! including CLN's custom ones, enums, `additionalProperties`, the `if`/`then`/`else`
//! branches by status) and, where the file gives exact bodies, those bodies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod responses;
mod schema;
