//! A liberal tokenizer for `WWW-Authenticate` field values (RFC 9110 §11.6.1 with the
//! looseness real servers need): several comma-joined challenges per field, parameters
//! quoted or not, in any order, unknown schemes and parameters carried along.

use std::borrow::Cow;

/// One challenge: a scheme and its `name=value` parameters.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct RawChallenge<'a> {
    pub(crate) scheme: &'a str,
    pub(crate) params: Vec<(&'a str, Cow<'a, str>)>,
}

impl RawChallenge<'_> {
    /// The first parameter called `name` (case-insensitive).
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }
}

fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Splits a field value into challenges. Never fails: what cannot be understood is
/// skipped, and the caller decides whether the challenges it needs are there.
pub(crate) fn parse(value: &str) -> Vec<RawChallenge<'_>> {
    let bytes = value.as_bytes();
    let mut out: Vec<RawChallenge<'_>> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        // Separators between items.
        while i < bytes.len() && (is_ws(bytes[i]) || bytes[i] == b',') {
            i += 1;
        }
        if i >= bytes.len() {
            break;
        }
        let start = i;
        while i < bytes.len() && !is_ws(bytes[i]) && bytes[i] != b',' && bytes[i] != b'=' {
            i += 1;
        }
        let token = &value[start..i];
        let mut j = i;
        while j < bytes.len() && is_ws(bytes[j]) {
            j += 1;
        }
        if token.is_empty() {
            // A stray '=' or quote: skip one byte to make progress.
            i = start + 1;
            continue;
        }
        if j < bytes.len() && bytes[j] == b'=' {
            // name=value, belonging to the current challenge.
            j += 1;
            while j < bytes.len() && is_ws(bytes[j]) {
                j += 1;
            }
            let (val, next) = read_value(value, j);
            i = next;
            if let Some(current) = out.last_mut() {
                current.params.push((token, val));
            }
        } else {
            out.push(RawChallenge {
                scheme: token,
                params: Vec::new(),
            });
            i = j;
        }
    }
    out
}

/// Reads a quoted string (with backslash escapes) or a bare value up to ',' or white space.
fn read_value(value: &str, mut i: usize) -> (Cow<'_, str>, usize) {
    let bytes = value.as_bytes();
    if i < bytes.len() && bytes[i] == b'"' {
        i += 1;
        let start = i;
        let mut owned: Option<String> = None;
        while i < bytes.len() && bytes[i] != b'"' {
            if bytes[i] == b'\\' && i + 1 < bytes.len() {
                let o = owned.get_or_insert_with(|| value[start..i].to_owned());
                i += 1;
                // Escapes are single ASCII bytes in valid headers; copy the char whole.
                let ch_len = value[i..].chars().next().map_or(1, char::len_utf8);
                o.push_str(&value[i..i + ch_len]);
                i += ch_len;
                continue;
            }
            let ch_len = value[i..].chars().next().map_or(1, char::len_utf8);
            if let Some(o) = owned.as_mut() {
                o.push_str(&value[i..i + ch_len]);
            }
            i += ch_len;
        }
        let end = i.min(bytes.len());
        let v = match owned {
            Some(o) => Cow::Owned(o),
            None => Cow::Borrowed(&value[start..end]),
        };
        // Skip the closing quote if there is one.
        (v, (end + 1).min(bytes.len()))
    } else {
        let start = i;
        while i < bytes.len() && bytes[i] != b',' && !is_ws(bytes[i]) {
            i += 1;
        }
        (Cow::Borrowed(&value[start..i]), i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_comma_joined_challenges() {
        let v = r#"Bearer realm="x", L402 macaroon="AgE=", invoice="lnbc1", LSAT token=abc==, invoice=lnbc2"#;
        let c = parse(v);
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].scheme, "Bearer");
        assert_eq!(c[0].param("realm"), Some("x"));
        assert_eq!(c[1].param("macaroon"), Some("AgE="));
        assert_eq!(c[1].param("invoice"), Some("lnbc1"));
        assert_eq!(c[2].param("token"), Some("abc=="));
        assert_eq!(c[2].param("INVOICE"), Some("lnbc2"));
    }

    #[test]
    fn handles_escapes_and_junk() {
        let c = parse(r#"L402 a="x\"y", b = "z""#);
        assert_eq!(c[0].param("a"), Some("x\"y"));
        assert_eq!(c[0].param("b"), Some("z"));
        for junk in [
            "=",
            "\"",
            "L402 a=\"unterminated",
            ",,,",
            "a=b",
            "L402 ==",
            "é=\"é",
        ] {
            let _ = parse(junk);
        }
    }
}
