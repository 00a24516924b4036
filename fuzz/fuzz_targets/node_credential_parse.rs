#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    l402_fuzz::targets::node_credential_parse(data);
});
