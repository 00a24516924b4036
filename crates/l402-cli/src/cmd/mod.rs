//! One module per command.

pub(crate) mod admin;
#[cfg(feature = "dev-node")]
pub(crate) mod dev_node;
pub(crate) mod echo;
pub(crate) mod get;
pub(crate) mod mcp;
mod mcp_config;
pub(crate) mod node;
pub(crate) mod proxy;
pub(crate) mod token;
