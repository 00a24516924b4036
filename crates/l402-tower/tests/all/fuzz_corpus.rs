//! Runs the fuzz target `blocklist_parse` over its checked-in seed corpus, so that stable
//! CI exercises it; `cargo fuzz run blocklist_parse` on nightly explores beyond it.

#[path = "../../../../fuzz/src/blocklist.rs"]
mod blocklist;

use std::path::Path;

#[test]
fn blocklist_parse_seeds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/blocklist_parse");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        blocklist::blocklist_parse(&std::fs::read(entry.unwrap().path()).unwrap());
        n += 1;
    }
    assert!(n > 0, "empty corpus for blocklist_parse");
}
