#![no_main]

//! `l402 proxy`'s request-target canonicaliser (`crates/l402-cli/src/cmd/proxy/target.rs`,
//! compiled here as is): no panic, accepted paths are fixed points free of refused forms.

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/l402-cli/src/cmd/proxy/target.rs"]
#[allow(dead_code, unreachable_pub)]
mod target;

fuzz_target!(|data: &[u8]| {
    target::fuzz_check(data);
});
