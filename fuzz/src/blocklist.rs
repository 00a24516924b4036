//! The blocklist file parser (`l402_tower::IpBlocklist::parse_text`): no panic; what
//! parses is exactly one network per entry line, each listed as written (its host bits
//! cleared), so the list refuses the addresses the operator wrote and no others.
//! Shared by the cargo-fuzz target `blocklist_parse` and the stable corpus test in
//! `crates/l402-tower/tests/all/fuzz_corpus.rs`.

#![allow(clippy::expect_used, clippy::panic)]

use l402_tower::{IpBlocklist, MAX_BLOCKLIST_LEN};

/// Parses `data` as a blocklist file and checks what it accepted.
#[allow(unreachable_pub)]
pub fn blocklist_parse(data: &[u8]) {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let Ok(nets) = IpBlocklist::parse_text(text) else {
        return;
    };
    assert!(nets.len() <= MAX_BLOCKLIST_LEN);
    let entries = text
        .lines()
        .filter(|l| !l.split('#').next().unwrap_or_default().trim().is_empty())
        .count();
    assert_eq!(nets.len(), entries, "one network per entry line");
    let list = IpBlocklist::new();
    list.replace(nets.clone());
    for net in &nets {
        assert_eq!(net.trunc(), *net, "host bits are cleared");
        assert!(list.contains(net.network()) && list.contains(net.broadcast()));
        // Written back, it parses to the same list.
        let again = IpBlocklist::parse_text(&net.to_string()).expect("a network reads back");
        assert_eq!(again, vec![*net]);
    }
}
