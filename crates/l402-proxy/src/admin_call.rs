//! The admin API's requests: a method, a path, a query and a body (at most
//! [`MAX_BODY_LEN`] bytes) to one [`Call`], or the typed reason why not. Depends on serde
//! alone, so that the fuzz target `admin_call` compiles it as is.

use serde::Deserialize;

/// Largest request body read.
pub(crate) const MAX_BODY_LEN: usize = 4096;
/// Largest `limit` of `GET /v1/tokens/recent`.
pub(crate) const MAX_RECENT_LIMIT: usize = 1000;
/// `limit` of `GET /v1/tokens/recent` when the query gives none.
pub(crate) const DEFAULT_RECENT_LIMIT: usize = 50;
/// Longest query string read.
const MAX_QUERY_LEN: usize = 256;

/// One admin call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Call {
    /// `GET /v1/health`.
    Health,
    /// `GET /v1/info`.
    Info,
    /// `GET /v1/services`.
    Services,
    /// `POST /v1/tokens/{id}/revoke` or `POST /v1/revocations {"token_id": id}`.
    Revoke([u8; 32]),
    /// `GET /v1/tokens/recent?limit=N`.
    Recent {
        /// How many, newest first.
        limit: usize,
    },
    /// `GET /v1/stats`.
    Stats,
}

/// Why a request is not a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CallError {
    /// No such call (404).
    NotFound,
    /// The call exists with another method (405), given in `Allow`.
    MethodNotAllowed(&'static str),
    /// The query or the body is refused (400).
    BadRequest(String),
}

/// `POST /v1/revocations`'s body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeRequest {
    token_id: String,
}

/// A body that must be empty or `{}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

/// Parses a request. `query` is the part after `?`, if any.
pub(crate) fn parse(
    method: &str,
    path: &str,
    query: Option<&str>,
    body: &[u8],
) -> Result<Call, CallError> {
    if body.len() > MAX_BODY_LEN {
        return Err(CallError::BadRequest(format!(
            "the request body is larger than {MAX_BODY_LEN} bytes"
        )));
    }
    let (call, allow) = match path {
        "/v1/health" => (Some(Call::Health), "GET"),
        "/v1/info" => (Some(Call::Info), "GET"),
        "/v1/services" => (Some(Call::Services), "GET"),
        "/v1/stats" => (Some(Call::Stats), "GET"),
        "/v1/tokens/recent" => (None, "GET"),
        "/v1/revocations" => (None, "POST"),
        _ => match path
            .strip_prefix("/v1/tokens/")
            .and_then(|rest| rest.strip_suffix("/revoke"))
        {
            Some(id) => {
                if method != "POST" {
                    return Err(CallError::MethodNotAllowed("POST"));
                }
                no_query(query)?;
                empty_body(body)?;
                return Ok(Call::Revoke(token_id(id)?));
            }
            None => return Err(CallError::NotFound),
        },
    };
    if method != allow {
        return Err(CallError::MethodNotAllowed(allow));
    }
    match call {
        Some(call) => {
            no_query(query)?;
            empty_body(body)?;
            Ok(call)
        }
        None if allow == "GET" => {
            empty_body(body)?;
            Ok(Call::Recent {
                limit: recent_limit(query)?,
            })
        }
        None => {
            no_query(query)?;
            let request: RevokeRequest = serde_json::from_slice(body).map_err(|_| {
                CallError::BadRequest(
                    "the body must be {\"token_id\": \"<64 hex characters>\"}".to_owned(),
                )
            })?;
            Ok(Call::Revoke(token_id(&request.token_id)?))
        }
    }
}

fn no_query(query: Option<&str>) -> Result<(), CallError> {
    match query {
        None | Some("") => Ok(()),
        Some(_) => Err(CallError::BadRequest(
            "this call takes no query parameters".to_owned(),
        )),
    }
}

fn empty_body(body: &[u8]) -> Result<(), CallError> {
    if body.iter().all(u8::is_ascii_whitespace) || serde_json::from_slice::<Empty>(body).is_ok() {
        Ok(())
    } else {
        Err(CallError::BadRequest(
            "this call takes no body (or {})".to_owned(),
        ))
    }
}

/// `limit=N`, 1 to [`MAX_RECENT_LIMIT`]; nothing else.
fn recent_limit(query: Option<&str>) -> Result<usize, CallError> {
    let bad = || {
        CallError::BadRequest(format!(
            "the only query parameter is limit, from 1 to {MAX_RECENT_LIMIT}"
        ))
    };
    let query = match query {
        None | Some("") => return Ok(DEFAULT_RECENT_LIMIT),
        Some(q) if q.len() > MAX_QUERY_LEN => return Err(bad()),
        Some(q) => q,
    };
    let value = query.strip_prefix("limit=").ok_or_else(bad)?;
    if value.is_empty() || value.len() > 4 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match value.parse::<usize>() {
        Ok(n) if (1..=MAX_RECENT_LIMIT).contains(&n) => Ok(n),
        _ => Err(bad()),
    }
}

/// 64 hex characters, either case.
fn token_id(hex: &str) -> Result<[u8; 32], CallError> {
    let bad = || CallError::BadRequest("a token id is 64 hex characters".to_owned());
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let digit = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        };
        let (Some(hi), Some(lo)) = (digit(pair[0]), digit(pair[1])) else {
            return Err(bad());
        };
        out[i] = (hi << 4) | lo;
    }
    Ok(out)
}

/// Lower-case hex of 32 bytes.
pub(crate) fn hex32(bytes: &[u8; 32]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(64);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// The invariants the fuzz target `admin_call` checks (and the unit tests over its seed
/// corpus): nothing panics; whatever parses reads back as the same call from its
/// canonical form. The input is `METHOD PATH[?QUERY]\n` then the body.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn fuzz_check(data: &[u8]) {
    let (head, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(head) = std::str::from_utf8(head) else {
        return;
    };
    let (method, target) = head.split_once(' ').unwrap_or((head, ""));
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let Ok(call) = parse(method, path, query, body) else {
        return;
    };
    assert!(body.len() <= MAX_BODY_LEN);
    let again = match call {
        Call::Health => parse("GET", "/v1/health", None, b""),
        Call::Info => parse("GET", "/v1/info", None, b""),
        Call::Services => parse("GET", "/v1/services", None, b""),
        Call::Stats => parse("GET", "/v1/stats", None, b""),
        Call::Recent { limit } => {
            assert!((1..=MAX_RECENT_LIMIT).contains(&limit));
            parse(
                "GET",
                "/v1/tokens/recent",
                Some(&format!("limit={limit}")),
                b"",
            )
        }
        Call::Revoke(id) => {
            let hex = hex32(&id);
            let by_path = parse("POST", &format!("/v1/tokens/{hex}/revoke"), None, b"");
            assert_eq!(by_path, Ok(call));
            parse(
                "POST",
                "/v1/revocations",
                None,
                format!("{{\"token_id\":\"{hex}\"}}").as_bytes(),
            )
        }
    };
    assert_eq!(again, Ok(call));
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const ID: &str = "abababababababababababababababababababababababababababababababab";

    #[test]
    fn calls() {
        assert_eq!(parse("GET", "/v1/health", None, b""), Ok(Call::Health));
        assert_eq!(parse("GET", "/v1/info", Some(""), b" \n"), Ok(Call::Info));
        assert_eq!(
            parse("GET", "/v1/services", None, b"{}"),
            Ok(Call::Services)
        );
        assert_eq!(parse("GET", "/v1/stats", None, b""), Ok(Call::Stats));
        assert_eq!(
            parse("GET", "/v1/tokens/recent", None, b""),
            Ok(Call::Recent {
                limit: DEFAULT_RECENT_LIMIT
            })
        );
        assert_eq!(
            parse("GET", "/v1/tokens/recent", Some("limit=7"), b""),
            Ok(Call::Recent { limit: 7 })
        );
        let revoke = Ok(Call::Revoke([0xab; 32]));
        assert_eq!(
            parse("POST", &format!("/v1/tokens/{ID}/revoke"), None, b""),
            revoke
        );
        assert_eq!(
            parse(
                "POST",
                &format!("/v1/tokens/{}/revoke", ID.to_ascii_uppercase()),
                None,
                b""
            ),
            revoke
        );
        assert_eq!(
            parse(
                "POST",
                "/v1/revocations",
                None,
                format!("{{\"token_id\": \"{ID}\"}}").as_bytes()
            ),
            revoke
        );
    }

    #[test]
    fn refusals() {
        let bad = |r: Result<Call, CallError>| matches!(r, Err(CallError::BadRequest(_)));
        assert_eq!(
            parse("GET", "/v1/nope", None, b""),
            Err(CallError::NotFound)
        );
        assert_eq!(
            parse("GET", "/v1/health/", None, b""),
            Err(CallError::NotFound)
        );
        assert_eq!(
            parse("POST", "/v1/health", None, b""),
            Err(CallError::MethodNotAllowed("GET"))
        );
        assert_eq!(
            parse("GET", &format!("/v1/tokens/{ID}/revoke"), None, b""),
            Err(CallError::MethodNotAllowed("POST"))
        );
        assert_eq!(
            parse("GET", "/v1/revocations", None, b""),
            Err(CallError::MethodNotAllowed("POST"))
        );
        assert!(bad(parse("GET", "/v1/health", Some("x=1"), b"")));
        assert!(bad(parse("GET", "/v1/health", None, b"junk")));
        for q in [
            "limit=0",
            "limit=1001",
            "limit=",
            "limit=-1",
            "limit=1&limit=2",
            "x=1",
        ] {
            assert!(bad(parse("GET", "/v1/tokens/recent", Some(q), b"")), "{q}");
        }
        assert!(bad(parse("POST", "/v1/tokens/abcd/revoke", None, b"")));
        assert!(bad(parse(
            "POST",
            &format!("/v1/tokens/{}zz/revoke", &ID[..62]),
            None,
            b""
        )));
        assert!(bad(parse("POST", "/v1/revocations", None, b"{}")));
        assert!(bad(parse(
            "POST",
            "/v1/revocations",
            None,
            format!("{{\"token_id\": \"{ID}\", \"more\": 1}}").as_bytes()
        )));
        let big = vec![b' '; MAX_BODY_LEN + 1];
        assert!(bad(parse("GET", "/v1/health", None, &big)));
    }

    #[test]
    fn fuzz_seed_corpus() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus/admin_call");
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            fuzz_check(&std::fs::read(entry.unwrap().path()).unwrap());
            n += 1;
        }
        assert!(n > 0);
    }

    proptest::proptest! {
        #[test]
        fn any_request_is_checked(data in proptest::collection::vec(proptest::num::u8::ANY, 0..128)) {
            fuzz_check(&data);
        }

        #[test]
        fn any_token_id_reads_back(id in proptest::array::uniform32(proptest::num::u8::ANY)) {
            let hex = hex32(&id);
            proptest::prop_assert_eq!(
                parse("POST", &format!("/v1/tokens/{hex}/revoke"), None, b""),
                Ok(Call::Revoke(id))
            );
        }

        #[test]
        fn limits_in_range_parse(n in 1usize..=MAX_RECENT_LIMIT) {
            proptest::prop_assert_eq!(
                parse("GET", "/v1/tokens/recent", Some(&format!("limit={n}")), b""),
                Ok(Call::Recent { limit: n })
            );
        }
    }
}
