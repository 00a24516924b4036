#![no_main]

//! The proxy's (`l402-proxy`) request-target canonicaliser (`crates/l402-proxy/src/target.rs`,
//! compiled here as is): no panic, accepted paths are fixed points free of refused forms.

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/l402-proxy/src/target.rs"]
#[allow(dead_code, unreachable_pub)]
mod target;

fuzz_target!(|data: &[u8]| {
    target::fuzz_check(data);
});
