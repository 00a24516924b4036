#![no_main]

//! The proxy's admin API request parser (`crates/l402-proxy/src/admin_call.rs`, compiled
//! here as is): no panic, whatever parses reads back as the same call.

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/l402-proxy/src/admin_call.rs"]
#[allow(dead_code, unreachable_pub)]
mod admin_call;

fuzz_target!(|data: &[u8]| {
    admin_call::fuzz_check(data);
});
