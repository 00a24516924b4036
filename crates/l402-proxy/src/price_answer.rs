//! The HTTP pricer's answer: `{"price_msat": N}`, `{"price_sat": N}` or `{"free": true}`,
//! at most [`MAX_ANSWER_LEN`] bytes. Depends on serde alone, so that the fuzz target
//! `pricer_answer` compiles it as is.

use serde::Deserialize;

/// Largest answer read.
pub(crate) const MAX_ANSWER_LEN: usize = 16 * 1024;

/// What the pricer asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Asked {
    /// Millisatoshis (0 is passed on: the layer refuses it with 503).
    Msat(u64),
    /// Satoshis (may not fit in millisatoshis: the caller checks).
    Sat(u64),
    /// No payment.
    Free,
}

/// Exactly one of the fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    price_msat: Option<u64>,
    price_sat: Option<u64>,
    free: Option<bool>,
}

/// Parses an answer; `None` for anything but the three forms, or one too long.
pub(crate) fn parse(body: &[u8]) -> Option<Asked> {
    if body.len() > MAX_ANSWER_LEN {
        return None;
    }
    let answer: Answer = serde_json::from_slice(body).ok()?;
    match (answer.price_msat, answer.price_sat, answer.free) {
        (Some(msat), None, None) => Some(Asked::Msat(msat)),
        (None, Some(sat), None) => Some(Asked::Sat(sat)),
        (None, None, Some(true)) => Some(Asked::Free),
        _ => None,
    }
}

/// The invariants the fuzz target `pricer_answer` checks (and the unit tests over its
/// seed corpus): nothing panics; whatever parses reads back the same from its canonical
/// JSON form.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn fuzz_check(data: &[u8]) {
    if let Some(asked) = parse(data) {
        let canonical = match asked {
            Asked::Msat(n) => format!("{{\"price_msat\":{n}}}"),
            Asked::Sat(n) => format!("{{\"price_sat\":{n}}}"),
            Asked::Free => "{\"free\":true}".to_owned(),
        };
        assert_eq!(parse(canonical.as_bytes()), Some(asked), "{canonical}");
        assert!(data.len() <= MAX_ANSWER_LEN);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn fuzz_seed_corpus() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fuzz/corpus/pricer_answer"
        );
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            fuzz_check(&std::fs::read(entry.unwrap().path()).unwrap());
            n += 1;
        }
        assert!(n > 0);
    }

    proptest::proptest! {
        #[test]
        fn any_answer_is_checked(body in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            fuzz_check(&body);
        }

        #[test]
        fn prices_read_back(n in proptest::num::u64::ANY) {
            let text = format!("{{\"price_msat\": {n}}}");
            proptest::prop_assert_eq!(parse(text.as_bytes()), Some(Asked::Msat(n)));
        }
    }
}
