//! Runs the fuzz targets' `do_test` functions over the checked-in seed corpus, so that
//! stable CI exercises them; `cargo fuzz` on nightly explores beyond it.

#[path = "../../../../fuzz/src/targets.rs"]
mod targets;

use std::path::Path;

fn run_corpus(name: &str, f: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(name);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        f(&data);
        n += 1;
    }
    assert!(n > 0, "empty corpus for {name}");
}

#[test]
fn macaroon_decode_seeds() {
    run_corpus("macaroon_decode", targets::macaroon_decode);
}

#[test]
fn credential_parse_seeds() {
    run_corpus("credential_parse", targets::credential_parse);
}

#[test]
fn challenge_parse_seeds() {
    run_corpus("challenge_parse", targets::challenge_parse);
}

#[test]
fn payment_parse_seeds() {
    run_corpus("payment_parse", targets::payment_parse);
}

#[test]
fn node_credential_parse_seeds() {
    run_corpus("node_credential_parse", targets::node_credential_parse);
}
