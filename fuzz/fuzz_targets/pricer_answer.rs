#![no_main]

//! The proxy's HTTP pricer answer parser (`crates/l402-proxy/src/price_answer.rs`,
//! compiled here as is): no panic, whatever parses reads back the same.

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/l402-proxy/src/price_answer.rs"]
#[allow(dead_code, unreachable_pub)]
mod price_answer;

fuzz_target!(|data: &[u8]| {
    price_answer::fuzz_check(data);
});
