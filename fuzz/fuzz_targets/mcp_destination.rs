#![no_main]

//! `l402-mcp`'s host patterns and address classes (`crates/l402-mcp/src/hosts.rs`,
//! compiled here as is): no panic, patterns read back as themselves, an address is
//! classified the same in every form.

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/l402-mcp/src/hosts.rs"]
#[allow(dead_code, unreachable_pub)]
mod hosts;

fuzz_target!(|data: &[u8]| {
    hosts::fuzz_check(data);
});
