#![no_main]

//! The `[blocklist]` file parser (`l402_tower::IpBlocklist::parse_text`): see
//! `fuzz/src/blocklist.rs`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    l402_fuzz::blocklist::blocklist_parse(data);
});
