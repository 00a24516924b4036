//! A strict, allocation-free JSON reader for the two objects read on every paid request
//! (the credential and its charge request), so that verification is not dominated by a
//! general deserializer.
//!
//! It accepts exactly RFC 8259 JSON, as `serde_json` does: no trailing characters,
//! no control characters in strings, only the defined escapes, surrogate escapes in valid
//! pairs, numbers by the grammar, nesting at most 128 deep. Strings are borrowed from the
//! input unless an escape forces a copy. The tests and the `payment_parse` fuzz target
//! check that it accepts and reads exactly what the `serde_json` derive does.

use std::borrow::Cow;

/// Deepest nesting accepted in skipped values (`serde_json`'s recursion limit).
const MAX_DEPTH: usize = 128;

/// A syntax or shape error, located at a byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct JsonError {
    pub(crate) at: usize,
}

pub(crate) type Result<T> = core::result::Result<T, JsonError>;

pub(crate) struct Reader<'a> {
    text: &'a str,
    i: usize,
}

/// What a string held: text, with whether an escape was decoded.
pub(crate) type Str<'a> = Cow<'a, str>;

impl<'a> Reader<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Reader { text, i: 0 }
    }

    fn err<T>(&self) -> Result<T> {
        Err(self.error_here())
    }

    /// An error at the current position.
    pub(crate) fn error_here(&self) -> JsonError {
        JsonError { at: self.i }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Result<()> {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            self.err()
        }
    }

    /// Only white space may follow the value.
    pub(crate) fn end(&mut self) -> Result<()> {
        self.ws();
        if self.i == self.text.len() {
            Ok(())
        } else {
            self.err()
        }
    }

    /// Whether the next value is `null` (consumed if so).
    pub(crate) fn null(&mut self) -> Result<bool> {
        self.ws();
        if self.text.as_bytes()[self.i..].starts_with(b"null") {
            self.i += 4;
            return Ok(true);
        }
        Ok(false)
    }

    /// A string.
    pub(crate) fn string(&mut self) -> Result<Str<'a>> {
        self.eat(b'"')?;
        let bytes = self.text.as_bytes();
        let start = self.i;
        let mut i = start + plain_run(bytes.get(start..).unwrap_or_default());
        loop {
            match bytes.get(i) {
                None => {
                    self.i = i;
                    return self.err();
                }
                Some(b'"') => {
                    self.i = i + 1;
                    return Ok(Cow::Borrowed(&self.text[start..i]));
                }
                Some(b'\\') => break,
                Some(c) if *c < 0x20 => {
                    self.i = i;
                    return self.err();
                }
                Some(_) => i += 1,
            }
        }
        // An escape: copy from here on.
        let mut out = String::with_capacity(i - start + 16);
        out.push_str(&self.text[start..i]);
        loop {
            match bytes.get(i) {
                None => {
                    self.i = i;
                    return self.err();
                }
                Some(b'"') => {
                    self.i = i + 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {
                    self.i = i;
                    let c = match bytes.get(i + 1) {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            let hi = self.hex4(i + 2)?;
                            i += 6;
                            let code = if (0xd800..0xdc00).contains(&hi) {
                                if bytes.get(i) != Some(&b'\\') || bytes.get(i + 1) != Some(&b'u') {
                                    self.i = i;
                                    return self.err();
                                }
                                let lo = self.hex4(i + 2)?;
                                if !(0xdc00..0xe000).contains(&lo) {
                                    self.i = i;
                                    return self.err();
                                }
                                i += 6;
                                0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                            } else if (0xdc00..0xe000).contains(&hi) {
                                return self.err();
                            } else {
                                hi
                            };
                            match char::from_u32(code) {
                                Some(c) => out.push(c),
                                None => return self.err(),
                            }
                            continue;
                        }
                        _ => return self.err(),
                    };
                    out.push(c);
                    i += 2;
                }
                Some(c) if *c < 0x20 => {
                    self.i = i;
                    return self.err();
                }
                Some(_) => {
                    // Copy one whole character (the text is UTF-8).
                    let len = self.text[i..].chars().next().map_or(1, char::len_utf8);
                    out.push_str(&self.text[i..i + len]);
                    i += len;
                }
            }
        }
    }

    fn hex4(&mut self, at: usize) -> Result<u32> {
        let digits = self
            .text
            .as_bytes()
            .get(at..at + 4)
            .ok_or(JsonError { at })?;
        let mut v = 0u32;
        for &d in digits {
            let n = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                b'A'..=b'F' => d - b'A' + 10,
                _ => return Err(JsonError { at }),
            };
            v = v << 4 | u32::from(n);
        }
        Ok(v)
    }

    /// Reads an object, calling `member` for each key with the reader positioned at its
    /// value; `member` must consume the value.
    pub(crate) fn object(
        &mut self,
        mut member: impl FnMut(&mut Self, &str) -> Result<()>,
    ) -> Result<()> {
        self.eat(b'{')?;
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        loop {
            let key = self.string()?;
            self.eat(b':')?;
            member(self, &key)?;
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return self.err(),
            }
            self.ws();
        }
    }

    /// Skips any value.
    pub(crate) fn skip(&mut self) -> Result<()> {
        self.skip_at(0)
    }

    fn skip_at(&mut self, depth: usize) -> Result<()> {
        if depth >= MAX_DEPTH {
            return self.err();
        }
        self.ws();
        match self.peek() {
            Some(b'"') => self.string().map(drop),
            Some(b'{') => self.object(|r, _| r.skip_at(depth + 1)),
            Some(b'[') => {
                self.i += 1;
                self.ws();
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Ok(());
                }
                loop {
                    self.skip_at(depth + 1)?;
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(());
                        }
                        _ => return self.err(),
                    }
                }
            }
            Some(b't') => self.word(b"true"),
            Some(b'f') => self.word(b"false"),
            Some(b'n') => self.word(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => self.err(),
        }
    }

    fn word(&mut self, w: &[u8]) -> Result<()> {
        if self.text.as_bytes()[self.i..].starts_with(w) {
            self.i += w.len();
            Ok(())
        } else {
            self.err()
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - start
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    fn number(&mut self) -> Result<()> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return self.err(),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return self.err();
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return self.err();
            }
        }
        Ok(())
    }
}

/// A high bit in each byte of `w` that is a quote, a backslash or a control character,
/// exact up to the first such byte (above it a borrow may flag others, so only the
/// lowest flag is used).
fn special_bytes(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below = |x: u64, n: u64| x.wrapping_sub(ONES * n) & !x & HIGH;
    below(w ^ (ONES * u64::from(b'"')), 1)
        | below(w ^ (ONES * u64::from(b'\\')), 1)
        | below(w, 0x20)
}

/// The length of the run at the start of `bytes` with no quote, backslash or control
/// character: a string's text up to its end, its first escape or the first byte it may
/// not hold. The first 32 bytes eight at a time (most strings end there), the rest by
/// `memchr` (SIMD) for a quote or backslash and a branch-free reduction the compiler
/// vectorises for control characters: a fraction of an instruction per byte.
fn plain_run(bytes: &[u8]) -> usize {
    const SHORT: usize = 32;
    let mut done = 0;
    while done < SHORT {
        let rest = bytes.get(done..).unwrap_or_default();
        let word = match rest.first_chunk::<8>() {
            Some(w) => *w,
            None => {
                // Past the end counts as special; the result is clamped to the end.
                let mut w = [b'"'; 8];
                if let Some(head) = w.get_mut(..rest.len()) {
                    head.copy_from_slice(rest);
                }
                w
            }
        };
        let flags = special_bytes(u64::from_le_bytes(word));
        if flags != 0 {
            let at = done + (flags.trailing_zeros() / 8) as usize;
            return at.min(bytes.len());
        }
        done += 8;
    }
    let rest = bytes.get(done..).unwrap_or_default();
    let end = memchr::memchr2(b'"', b'\\', rest).unwrap_or(rest.len());
    let run = rest.get(..end).unwrap_or_default();
    done + if run.iter().fold(u8::MAX, |m, &b| m.min(b)) >= 0x20 {
        end
    } else {
        run.iter().position(|&b| b < 0x20).unwrap_or(end)
    }
}

/// A cursor over one exact layout of a JSON object, with no white space: the forms this
/// crate and Aperture write (members in a fixed order, strings without escapes). Each
/// step answers `None` where the text departs from the layout, and the caller then reads
/// the text with [`Reader`], which decides. Where the layout matches, it reads exactly
/// what [`Reader`] would read: every member once, in an order the object rules allow,
/// each string borrowed as [`Reader::string`] borrows it (the tests hold the two to it).
pub(crate) struct Exact<'a> {
    text: &'a str,
    i: usize,
}

impl<'a> Exact<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Exact { text, i: 0 }
    }

    /// Consumes `lit`, which must come next.
    pub(crate) fn lit<const N: usize>(&mut self, lit: &[u8; N]) -> Option<()> {
        self.eat(lit).then_some(())
    }

    /// Whether `lit` comes next; consumed if so. (A fixed-size comparison, which the
    /// compiler inlines as a few loads.)
    pub(crate) fn eat<const N: usize>(&mut self, lit: &[u8; N]) -> bool {
        let next = self.text.as_bytes().get(self.i..).unwrap_or_default();
        let matches = next.first_chunk::<N>() == Some(lit);
        if matches {
            self.i += N;
        }
        matches
    }

    /// The rest of a string whose opening quote was consumed, and its closing quote:
    /// only a string with no escape (so it is the text between the quotes).
    pub(crate) fn string_rest(&mut self) -> Option<&'a str> {
        let next = self.text.as_bytes().get(self.i..)?;
        let n = plain_run(next);
        if next.get(n) != Some(&b'"') {
            return None;
        }
        let s = self.text.get(self.i..self.i + n)?;
        self.i += n + 1;
        Some(s)
    }

    /// `key` (given with its punctuation, up to the value's opening quote), then the
    /// string value.
    pub(crate) fn member<const N: usize>(&mut self, key: &[u8; N]) -> Option<Str<'a>> {
        self.lit(key)?;
        self.string_rest().map(Cow::Borrowed)
    }

    /// `,"key":"value"` if it comes next (`key` given with its punctuation).
    pub(crate) fn opt_member<const N: usize>(&mut self, key: &[u8; N]) -> Option<Option<Str<'a>>> {
        if !self.eat(key) {
            return Some(None);
        }
        self.string_rest().map(|s| Some(Cow::Borrowed(s)))
    }

    /// Whether the whole text was read.
    pub(crate) fn end(&self) -> Option<()> {
        (self.i == self.text.len()).then_some(())
    }
}

/// A set of known members seen so far, to refuse repeats as the `serde` derive does.
#[derive(Default)]
pub(crate) struct Seen(u32);

impl Seen {
    /// Marks member `n`; an error if it was seen before.
    pub(crate) fn mark(&mut self, n: u32, r: &Reader<'_>) -> Result<()> {
        let bit = 1 << n;
        if self.0 & bit != 0 {
            return r.err();
        }
        self.0 |= bit;
        Ok(())
    }
}

/// An optional string member: `null` is absent, as for `Option` with the `serde` derive.
pub(crate) fn opt_string<'a>(r: &mut Reader<'a>) -> Result<Option<Str<'a>>> {
    if r.null()? {
        Ok(None)
    } else {
        r.string().map(Some)
    }
}

/// `bytes` as text if it is UTF-8: the same verdict as [`core::str::from_utf8`], whose
/// error (with the position of the first invalid byte) is returned on refusal. Accepted
/// text is checked by `simdutf8` (SIMD, a fraction of the standard check's instructions
/// per byte on the ASCII text these objects are); only refused text is checked again by
/// the standard library, for the position.
pub(crate) fn utf8(bytes: &[u8]) -> core::result::Result<&str, core::str::Utf8Error> {
    match simdutf8::basic::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(_) => core::str::from_utf8(bytes),
    }
}

/// The byte offset of an error, as a (line, column) pair from 1 (as `serde_json` reports).
pub(crate) fn line_column(text: &str, at: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..at.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = before.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn skip_all(text: &str) -> bool {
        let mut r = Reader::new(text);
        r.skip().and_then(|()| r.end()).is_ok()
    }

    #[test]
    fn strict_json() {
        for ok in [
            "{}",
            "[]",
            " {\"a\" : [1, -0.5e+3, true, null, \"x\\u00e9\\ud83d\\ude00\"]} ",
            "0",
            "\"\"",
        ] {
            assert!(skip_all(ok), "{ok}");
        }
        for bad in [
            "",
            "{",
            "{,}",
            "[1,]",
            "{\"a\":1,}",
            "01",
            "1.",
            "1e",
            "-",
            "+1",
            ".5",
            "tru",
            "\"\\x\"",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"a\nb\"",
            "{} x",
            "{'a':1}",
            "NaN",
        ] {
            assert!(!skip_all(bad), "{bad:?}");
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(!skip_all(&deep));
    }

    proptest! {
        #[test]
        fn agrees_with_serde_json_on_validity(s in "[\\[\\]{}\",:0-9.eE+\\-a-z\\\\ \u{e9}]{0,24}") {
            let ours = skip_all(&s);
            let theirs = serde_json::from_str::<serde::de::IgnoredAny>(&s).is_ok();
            prop_assert_eq!(ours, theirs, "{:?}", s);
        }

        /// The SIMD check accepts exactly what the standard one does, and refuses with its
        /// error (valid and invalid sequences of every length around a 64-byte block).
        #[test]
        fn utf8_agrees_with_the_standard_check(
            head in "[a-z]{0,70}",
            tail in proptest::collection::vec(any::<u8>(), 0..80),
            text in "\\PC{0,40}",
        ) {
            let mut b = head.into_bytes();
            b.extend_from_slice(&tail);
            prop_assert_eq!(utf8(&b), core::str::from_utf8(&b));
            prop_assert_eq!(utf8(text.as_bytes()), Ok(text.as_str()));
        }

        #[test]
        fn reads_strings_as_serde_json_does(v in "\\PC{0,30}") {
            let text = serde_json::to_string(&v).unwrap();
            let mut r = Reader::new(&text);
            prop_assert_eq!(r.string().unwrap(), v.as_str());
            // The same string with every character escaped.
            let escaped: String = v.encode_utf16().map(|u| format!("\\u{u:04x}")).collect();
            let text = format!("\"{escaped}\"");
            let mut r = Reader::new(&text);
            prop_assert_eq!(r.string().unwrap(), v.as_str());
        }
    }
}
