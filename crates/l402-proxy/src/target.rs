//! The canonical request target: one path and one authority, decided once, before routing.
//!
//! What is routed is exactly what is forwarded: the route table matches the canonical path
//! and host computed here, the paywall prices that path, and the forwarder sends that same
//! path (under the service's base path) and that same authority (as `X-Forwarded-Host`).
//! Nothing downstream looks at the raw request target again.
//!
//! **Path.** The request path must be absolute (`/…`) and is split into segments. Refused
//! (400, never routed, never forwarded), because servers disagree about what they mean and
//! any disagreement between the proxy and the upstream is a way past the paywall:
//!
//! * dot segments, `.` and `..`, plain or percent-encoded in any case (`%2e%2e`, `.%2E`);
//! * an encoded `/` (`%2F`) or `\` (`%5C`), a raw `\`, a NUL or any other control
//!   character, raw or encoded;
//! * a raw `;` (path parameters: `/free;/../paid`, `/paid;x` read as `/paid` by some servers);
//! * an empty segment other than a trailing slash (`//x`, `/a//b`: some servers merge them);
//! * double encoding (`%252e`: a percent escape that decodes to another escape);
//! * a malformed escape (`%zz`, `%2`), or a path longer than [`MAX_PATH_LEN`].
//!
//! What remains is written in one form (RFC 3986 §6.2.2): escapes of unreserved characters
//! are decoded (`%7E` is `~`, `%65cho` is `echo`), other escapes are written in upper case
//! (`%3f` is `%3F`), and characters a path may not hold raw are escaped.
//!
//! **Authority.** The host comes from the request target's authority (absolute form, or
//! HTTP/2's `:authority`) or else the `Host` header. When both are present they must name
//! the same host and port; more than one `Host` header, user info, a malformed host, or an
//! HTTP/1.1 request with neither is refused. Hosts are compared in lower case without a
//! trailing dot.

use core::fmt;
use std::fmt::Write as _;

use http::{Request, Version, header};

/// Longest request path accepted, in bytes (as received). Far above what any API needs;
/// bounds the work spent on a hostile target.
pub(crate) const MAX_PATH_LEN: usize = 8 * 1024;

/// Why a request target is refused (answered with 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum TargetError {
    /// The path does not start with `/` (asterisk form, authority form).
    NotAbsolute,
    /// Longer than [`MAX_PATH_LEN`].
    TooLong,
    /// A `.` or `..` segment, plain or encoded.
    DotSegment,
    /// `%2F` in a segment.
    EncodedSlash,
    /// A `\`, raw or encoded.
    Backslash,
    /// A NUL, raw or encoded.
    Nul,
    /// Another control character, raw or encoded.
    ControlCharacter,
    /// A raw `;`.
    Semicolon,
    /// An empty segment before the last.
    EmptySegment,
    /// An escape that decodes to another escape.
    DoubleEncoding,
    /// `%` not followed by two hex digits.
    BadEscape,
    /// More than one `Host` header.
    MultipleHosts,
    /// A host that is not a DNS name or IP address, or a bad port.
    BadHost,
    /// User info in the authority.
    UserInfo,
    /// An HTTP/1.1 request with no host at all.
    MissingHost,
    /// The request target's authority and the `Host` header disagree.
    AuthorityMismatch,
    /// The canonical path and the query do not form a request target.
    Unrepresentable,
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TargetError::NotAbsolute => "the path must start with '/'",
            TargetError::TooLong => "the path is too long",
            TargetError::DotSegment => "dot segments are not accepted",
            TargetError::EncodedSlash => "an encoded '/' is not accepted",
            TargetError::Backslash => "a backslash is not accepted",
            TargetError::Nul => "a nul character is not accepted",
            TargetError::ControlCharacter => "control characters are not accepted",
            TargetError::Semicolon => "';' is not accepted in the path",
            TargetError::EmptySegment => "empty path segments are not accepted",
            TargetError::DoubleEncoding => "double percent-encoding is not accepted",
            TargetError::BadEscape => "malformed percent-encoding",
            TargetError::MultipleHosts => "more than one host header",
            TargetError::BadHost => "malformed host",
            TargetError::UserInfo => "user info is not accepted in the authority",
            TargetError::MissingHost => "no host header",
            TargetError::AuthorityMismatch => "the request target and the host header disagree",
            TargetError::Unrepresentable => "the request target cannot be represented",
        })
    }
}

impl std::error::Error for TargetError {}

/// A host and optional port, in canonical form: lower case, no trailing dot, IPv6 in
/// brackets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Authority {
    host: String,
    port: Option<u16>,
}

impl Authority {
    /// Parses `host[:port]` (a `Host` header or a URI authority).
    pub(crate) fn parse(raw: &str) -> Result<Self, TargetError> {
        if raw.contains('@') {
            return Err(TargetError::UserInfo);
        }
        let (host, port) = if let Some(rest) = raw.strip_prefix('[') {
            let (inner, after) = rest.split_once(']').ok_or(TargetError::BadHost)?;
            inner
                .parse::<std::net::Ipv6Addr>()
                .map_err(|_| TargetError::BadHost)?;
            let port = match after {
                "" => None,
                p => Some(port(p.strip_prefix(':').ok_or(TargetError::BadHost)?)?),
            };
            (format!("[{}]", inner.to_ascii_lowercase()), port)
        } else {
            let (name, port) = match raw.rsplit_once(':') {
                Some((name, p)) => (name, Some(port(p)?)),
                None => (raw, None),
            };
            let name = name.strip_suffix('.').unwrap_or(name);
            let valid = !name.is_empty()
                && name.len() <= 253
                && name.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && label
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                });
            if !valid {
                return Err(TargetError::BadHost);
            }
            (name.to_ascii_lowercase(), port)
        };
        Ok(Authority { host, port })
    }

    /// The host as the route table matches it: lower case, no port, IPv6 without brackets.
    pub(crate) fn host(&self) -> &str {
        self.host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(&self.host)
    }

    /// `host[:port]`: the value sent upstream as `X-Forwarded-Host`.
    pub(crate) fn header_value(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{port}", self.host),
            None => self.host.clone(),
        }
    }
}

/// A port: 1 to 5 digits, at most 65535.
fn port(digits: &str) -> Result<u16, TargetError> {
    if digits.is_empty() || digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TargetError::BadHost);
    }
    digits.parse().map_err(|_| TargetError::BadHost)
}

/// The request target, as routed and as forwarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// The authority, if the request named one.
    pub(crate) authority: Option<Authority>,
    /// The canonical path.
    pub(crate) path: String,
    /// The query, as received (it is not routed on).
    pub(crate) query: Option<String>,
}

impl Target {
    /// The canonical target of `req`.
    ///
    /// # Errors
    /// A [`TargetError`] naming the first rule the target breaks.
    pub(crate) fn of<B>(req: &Request<B>) -> Result<Self, TargetError> {
        let path = canonical_path(req.uri().path())?;
        let authority = authority(req)?;
        Ok(Target {
            authority,
            path,
            query: req.uri().query().map(str::to_owned),
        })
    }

    /// The canonical path and the query, as an origin-form URI.
    ///
    /// # Errors
    /// [`TargetError::Unrepresentable`] if they do not parse back (the canonical path
    /// holds only characters a path may hold, so this does not happen).
    pub(crate) fn origin_form(&self) -> Result<http::Uri, TargetError> {
        let pq = match &self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.clone(),
        };
        http::Uri::builder()
            .path_and_query(pq)
            .build()
            .map_err(|_| TargetError::Unrepresentable)
    }
}

/// The one authority of `req`: the target's, else the `Host` header's; both present must
/// agree.
fn authority<B>(req: &Request<B>) -> Result<Option<Authority>, TargetError> {
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let header = match (hosts.next(), hosts.next()) {
        (Some(_), Some(_)) => return Err(TargetError::MultipleHosts),
        (Some(v), None) => Some(Authority::parse(
            v.to_str().map_err(|_| TargetError::BadHost)?,
        )?),
        (None, _) => None,
    };
    let target = req
        .uri()
        .authority()
        .map(|a| Authority::parse(a.as_str()))
        .transpose()?;
    match (target, header) {
        (Some(t), Some(h)) if t != h => Err(TargetError::AuthorityMismatch),
        (Some(t), _) => Ok(Some(t)),
        (None, Some(h)) => Ok(Some(h)),
        (None, None) if req.version() == Version::HTTP_11 => Err(TargetError::MissingHost),
        (None, None) => Ok(None),
    }
}

/// RFC 3986 unreserved characters.
fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Characters kept raw in a canonical segment: unreserved, sub-delims but `;`, `:`, `@`.
fn raw_ok(b: u8) -> bool {
    unreserved(b)
        || matches!(
            b,
            b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b'=' | b':' | b'@'
        )
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Refuses a decoded byte that no segment may hold.
fn check_decoded(b: u8) -> Result<(), TargetError> {
    match b {
        0 => Err(TargetError::Nul),
        b'/' => Err(TargetError::EncodedSlash),
        b'\\' => Err(TargetError::Backslash),
        b if b < 0x20 || b == 0x7f => Err(TargetError::ControlCharacter),
        _ => Ok(()),
    }
}

/// The canonical form of an absolute request path (see the module docs).
///
/// # Errors
/// A [`TargetError`] naming the first rule the path breaks.
pub(crate) fn canonical_path(raw: &str) -> Result<String, TargetError> {
    if raw.len() > MAX_PATH_LEN {
        return Err(TargetError::TooLong);
    }
    let rest = raw.strip_prefix('/').ok_or(TargetError::NotAbsolute)?;
    let mut out = String::with_capacity(raw.len() + 8);
    let mut decoded = Vec::new();
    let mut segments = rest.split('/').peekable();
    while let Some(segment) = segments.next() {
        out.push('/');
        if segment.is_empty() {
            if segments.peek().is_some() {
                return Err(TargetError::EmptySegment);
            }
            break;
        }
        decoded.clear();
        let bytes = segment.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            match b {
                b'%' => {
                    let v = match (
                        bytes.get(i + 1).copied().and_then(hex),
                        bytes.get(i + 2).copied().and_then(hex),
                    ) {
                        (Some(hi), Some(lo)) => hi << 4 | lo,
                        _ => return Err(TargetError::BadEscape),
                    };
                    check_decoded(v)?;
                    if unreserved(v) {
                        out.push(char::from(v));
                    } else {
                        let _ = write!(out, "%{v:02X}");
                    }
                    decoded.push(v);
                    i += 3;
                    continue;
                }
                b'\\' => return Err(TargetError::Backslash),
                b';' => return Err(TargetError::Semicolon),
                0 => return Err(TargetError::Nul),
                b if b < 0x21 || b == 0x7f => return Err(TargetError::ControlCharacter),
                b if raw_ok(b) => out.push(char::from(b)),
                // `"`, `<`, `>`, `[`, `]`, `^`, `` ` ``, `{`, `|`, `}`, non-ASCII bytes.
                b => {
                    let _ = write!(out, "%{b:02X}");
                }
            }
            decoded.push(b);
            i += 1;
        }
        if decoded == b"." || decoded == b".." {
            return Err(TargetError::DotSegment);
        }
        if decoded
            .windows(3)
            .any(|w| w[0] == b'%' && hex(w[1]).is_some() && hex(w[2]).is_some())
        {
            return Err(TargetError::DoubleEncoding);
        }
    }
    Ok(out)
}

/// The invariants the fuzz target `proxy_target` checks over arbitrary input (and the unit
/// tests over its seed corpus): a request path, a newline, a `Host` value. Nothing panics;
/// an accepted path is its own canonical form and holds none of the refused forms; an
/// accepted authority reads back as itself.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn fuzz_check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (path, host) = text.split_once('\n').unwrap_or((&text, ""));
    if let Ok(c) = canonical_path(path) {
        assert_eq!(canonical_path(&c).as_ref(), Ok(&c), "{path:?}");
        assert!(!c.contains(['\\', ';', '\0']), "{path:?} -> {c:?}");
        let lower = c.to_ascii_lowercase();
        for bad in ["%2e", "%2f", "%5c", "%00", "//"] {
            assert!(!lower.contains(bad), "{path:?} -> {c:?}");
        }
        assert!(c.split('/').all(|seg| seg != "." && seg != ".."), "{c:?}");
    }
    if let Ok(a) = Authority::parse(host) {
        assert_eq!(
            Authority::parse(&a.header_value()).as_ref(),
            Ok(&a),
            "{host:?}"
        );
    }
    // As a server receives it: through http's URI parser, with the Host header.
    if let Ok(uri) = path.parse::<http::Uri>() {
        let mut req = Request::new(());
        *req.uri_mut() = uri;
        if let Ok(v) = http::HeaderValue::from_str(host) {
            req.headers_mut().insert(header::HOST, v);
        }
        if let Ok(t) = Target::of(&req) {
            assert_eq!(canonical_path(&t.path).as_ref(), Ok(&t.path));
            assert!(t.origin_form().is_ok(), "{path:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn canonical_forms() {
        for (raw, want) in [
            ("/", "/"),
            ("/echo/hello", "/echo/hello"),
            ("/echo/", "/echo/"),
            ("/%65cho/%7Euser", "/echo/~user"),
            ("/a%2eb", "/a.b"),
            ("/a%3fb%2a", "/a%3Fb%2A"),
            ("/a%3Bb", "/a%3Bb"),
            ("/a:b@c!$&'()*+,=", "/a:b@c!$&'()*+,="),
            ("/a%25b", "/a%25b"),
            ("/caf\u{e9}", "/caf%C3%A9"),
            ("/a{b}|", "/a%7Bb%7D%7C"),
            ("/...", "/..."),
            ("/.well-known/x", "/.well-known/x"),
        ] {
            assert_eq!(canonical_path(raw).as_deref(), Ok(want), "{raw}");
        }
    }

    #[test]
    fn tricks_are_refused() {
        use TargetError::*;
        for (raw, why) in [
            ("/a/../b", DotSegment),
            ("/a/./b", DotSegment),
            ("/a/..", DotSegment),
            ("/..", DotSegment),
            ("/a/%2e%2e/b", DotSegment),
            ("/a/.%2E/b", DotSegment),
            ("/a/%2E./b", DotSegment),
            ("/a/%2e", DotSegment),
            ("/a%2fb", EncodedSlash),
            ("/a%2F..%2Fb", EncodedSlash),
            ("/a\\b", Backslash),
            ("/a%5cb", Backslash),
            ("/a%5C", Backslash),
            ("/a%00", Nul),
            ("/a\0", Nul),
            ("/a%0a", ControlCharacter),
            ("/a%7F", ControlCharacter),
            ("/a;b", Semicolon),
            ("/..;/b", Semicolon),
            ("//a", EmptySegment),
            ("/a//b", EmptySegment),
            ("/a/%252e%252e", DoubleEncoding),
            ("/a%252F", DoubleEncoding),
            ("/a%zz", BadEscape),
            ("/a%2", BadEscape),
            ("/a%", BadEscape),
            ("*", NotAbsolute),
            ("", NotAbsolute),
        ] {
            assert_eq!(canonical_path(raw), Err(why), "{raw:?}");
        }
        let long = format!("/{}", "a".repeat(MAX_PATH_LEN));
        assert_eq!(canonical_path(&long), Err(TargetError::TooLong));
    }

    fn request(uri: &str, hosts: &[&str]) -> Request<()> {
        let mut b = Request::builder().uri(uri);
        for h in hosts {
            b = b.header("host", *h);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn one_authority() {
        let t = Target::of(&request("/x", &["Example.COM.:8402"])).unwrap();
        let a = t.authority.unwrap();
        assert_eq!(a.host(), "example.com");
        assert_eq!(a.header_value(), "example.com:8402");
        let t = Target::of(&request("http://A.test/x", &["a.test"])).unwrap();
        assert_eq!(t.authority.unwrap().header_value(), "a.test");
        let t = Target::of(&request("http://[::1]:9/x", &[])).unwrap();
        let a = t.authority.unwrap();
        assert_eq!((a.host(), a.header_value().as_str()), ("::1", "[::1]:9"));
        for (uri, hosts, why) in [
            (
                "http://a.test/x",
                &["b.test"][..],
                TargetError::AuthorityMismatch,
            ),
            (
                "http://a.test/x",
                &["a.test:81"],
                TargetError::AuthorityMismatch,
            ),
            ("/x", &["a.test", "b.test"], TargetError::MultipleHosts),
            ("/x", &["u@a.test"], TargetError::UserInfo),
            ("/x", &["a b"], TargetError::BadHost),
            ("/x", &["a..b"], TargetError::BadHost),
            ("/x", &["a%2eb"], TargetError::BadHost),
            ("/x", &["a.test:99999"], TargetError::BadHost),
            ("/x", &["a.test:"], TargetError::BadHost),
            ("/x", &["[::1]x"], TargetError::BadHost),
            ("/x", &["[zz]"], TargetError::BadHost),
            ("/x", &[], TargetError::MissingHost),
        ] {
            assert_eq!(
                Target::of(&request(uri, hosts)),
                Err(why),
                "{uri} {hosts:?}"
            );
        }
        // HTTP/1.0 may leave the host out.
        let mut r = request("/x", &[]);
        *r.version_mut() = Version::HTTP_10;
        assert_eq!(Target::of(&r).unwrap().authority, None);
    }

    #[test]
    fn fuzz_seed_corpus() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fuzz/corpus/proxy_target"
        );
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            fuzz_check(&std::fs::read(entry.unwrap().path()).unwrap());
            n += 1;
        }
        assert!(n > 20, "{n} seeds");
    }

    proptest! {
        #[test]
        fn canonical_paths_are_fixed_points_and_free_of_tricks(
            raw in "(/([a-zA-Z0-9._~!$&'()*+,=:@;\\\\-]|%[0-9a-fA-F]{2}|%2[eE]|%25){0,6}){1,6}/?"
        ) {
            if let Ok(c) = canonical_path(&raw) {
                // Canonical twice is canonical once: routing and forwarding agree.
                let again = canonical_path(&c);
                prop_assert_eq!(again.as_deref(), Ok(c.as_str()));
                prop_assert!(!c.contains('\\') && !c.contains(';'));
                for seg in c.split('/').skip(1) {
                    prop_assert!(seg != "." && seg != "..");
                }
                let lower = c.to_ascii_lowercase();
                for bad in ["%2e", "%2f", "%5c", "%00"] {
                    prop_assert!(!lower.contains(bad), "{}", c);
                }
            }
        }

        #[test]
        fn never_panics(raw in "\\PC{0,64}") {
            let _ = canonical_path(&raw);
            let _ = Authority::parse(&raw);
        }
    }
}
