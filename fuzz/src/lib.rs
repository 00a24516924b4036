//! Fuzz targets for l402-core's parsers (and l402-tower's blocklist parser). The same functions run over the seed corpus as
//! ordinary tests on stable (`crates/l402-core/tests/all/fuzz_corpus.rs`).

pub mod blocklist;
pub mod targets;
