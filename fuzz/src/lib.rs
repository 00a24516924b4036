//! Fuzz targets for l402-core's parsers. The same functions run over the seed corpus as
//! ordinary tests on stable (`crates/l402-core/tests/all/fuzz_corpus.rs`).

pub mod targets;
