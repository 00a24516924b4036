#![no_main]

//! `l402-proxy`'s Aperture YAML reader (`l402_proxy::aperture`, feature `aperture`): no
//! panic, an accepted configuration prints as TOML that reads back as the same services.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    l402_proxy::aperture::fuzz_check(data);
});
