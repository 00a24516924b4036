//! Error chains say each cause once. The workspace's rule: a variant shows its cause in
//! `Display` or returns it from `source()`, never both; otherwise every chain printer
//! (this CLI, `anyhow`, `tracing` with an error chain) prints
//! `payment failed: payment failed: no route`.

use std::error::Error;
use std::path::Path;

use l402_core::backend::FailureReason;
use l402_core::{
    BackendError, Caveat, Challenge, Credential, ErrorChain, Identifier, Macaroon, MintError,
    PayError, PaymentHash, RootKeyError, VerifyError,
};
use l402_reqwest::{L402Error, StoreError};

fn io(text: &str) -> std::io::Error {
    std::io::Error::other(text.to_owned())
}

/// Every message in the chain, outermost first.
fn messages(error: &dyn Error) -> Vec<String> {
    let mut out = vec![error.to_string()];
    let mut source = error.source();
    while let Some(e) = source {
        out.push(e.to_string());
        source = e.source();
    }
    out
}

fn assert_each_cause_once(what: &str, error: &dyn Error) {
    let messages = messages(error);
    assert!(
        messages.len() >= 2,
        "{what}: expected a cause, got {messages:?}"
    );
    for pair in messages.windows(2) {
        assert!(
            !pair[0].contains(&pair[1]),
            "{what}: {:?} repeats its cause {:?} (chain {messages:?})",
            pair[0],
            pair[1]
        );
    }
}

#[test]
fn representative_chains_say_each_cause_once() {
    let zeros = "00".repeat(32);
    let cases: Vec<(&str, Box<dyn Error>)> = vec![
        (
            "credential with bad base64",
            Box::new(Credential::parse_authorization(&format!("L402 !!!:{zeros}")).unwrap_err()),
        ),
        (
            "credential with a bad preimage",
            Box::new(Credential::parse_authorization("L402 AgEEbHNhdAJCAAA:zz").unwrap_err()),
        ),
        (
            "challenge with a bad macaroon",
            Box::new(Challenge::parse(r#"L402 macaroon="!!!", invoice="lnbc1""#).unwrap_err()),
        ),
        (
            "hex macaroon",
            Box::new(Macaroon::from_hex("zz").unwrap_err()),
        ),
        (
            "identifier",
            Box::new(VerifyError::Identifier(
                Identifier::decode(&[0]).unwrap_err(),
            )),
        ),
        (
            "malformed caveat",
            Box::new(VerifyError::MalformedCaveat {
                index: 2,
                error: Caveat::parse("no equals sign").unwrap_err(),
            }),
        ),
        (
            "mint store",
            Box::new(MintError::Store(RootKeyError::Unavailable(Box::new(io(
                "connection reset",
            ))))),
        ),
        (
            "payment not attempted",
            Box::new(L402Error::PaymentFailed(PayError::NotAttempted(
                BackendError::transient("cannot reach the node").with_source(io("refused")),
            ))),
        ),
        (
            "payment lookup",
            Box::new(L402Error::Lookup {
                payment_hash: PaymentHash::from_bytes([1; 32]),
                source: BackendError::transient("timed out"),
            }),
        ),
        (
            "token store",
            Box::new(L402Error::Store(StoreError::Io(io("disk full")))),
        ),
        (
            "aperture import",
            Box::new(l402_reqwest::aperture::ImportError::Io(io("no such file"))),
        ),
        (
            "lnd url",
            Box::new(
                l402_lnd::LndBackend::builder("ftp://node")
                    .macaroon_hex("00")
                    .build()
                    .unwrap_err(),
            ),
        ),
        (
            "cln certificate",
            Box::new(
                l402_cln::ClnBackend::builder("https://node")
                    .rune("abc")
                    .ca_cert(b"not a certificate".to_vec())
                    .build()
                    .unwrap_err(),
            ),
        ),
    ];
    for (what, error) in &cases {
        assert_each_cause_once(what, error.as_ref());
    }

    // The issue's example, as the CLI prints it.
    let no_route = L402Error::PaymentFailed(PayError::Failed(FailureReason::NoRoute));
    assert_eq!(
        ErrorChain(&no_route).to_string(),
        "payment failed: no route"
    );
    let store = L402Error::Store(StoreError::Io(io("disk full")));
    assert_eq!(
        ErrorChain(&store).to_string(),
        "token store i/o error: disk full"
    );
}

/// The same rule, checked on the source text of every crate, so that a new variant cannot
/// break it unnoticed: a `#[error("…{x}…")]` must not name a field marked `#[source]` or
/// `#[from]` (or named `source`, which thiserror treats as the source).
#[test]
fn no_error_variant_shows_and_returns_its_source() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    let mut dirs = vec![crates];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs")
                && !path.ends_with("tests/all/error_chains.rs")
            {
                files.push(path);
            }
        }
    }
    assert!(files.len() > 50, "found only {} source files", files.len());
    let mut violations = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        violations.extend(
            violations_in(&text)
                .into_iter()
                .map(|v| format!("{}: {v}", file.display())),
        );
    }
    assert!(violations.is_empty(), "{violations:#?}");
    // The checker finds what it is meant to find.
    let bad = "#[error(\"payment failed: {0}\")]\n    Failed(#[source] PayError),\n}\n";
    assert_eq!(violations_in(bad).len(), 1);
    let bad = "#[error(\"lookup of {hash}: {source}\")]\n    Lookup {\n        hash: H,\n        source: E,\n    },\n";
    assert_eq!(violations_in(bad).len(), 1);
    let good = "#[error(\"payment failed\")]\n    Failed(#[source] PayError),\n    #[error(\"tier {0}\")]\n    Tier(u8),\n";
    assert!(violations_in(good).is_empty());
}

/// `#[error(...)]` attributes whose format string names a source field.
fn violations_in(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("#[error(") {
        rest = &rest[at + "#[error(".len()..];
        let Some(end) = rest.find(")]") else { break };
        let format = &rest[..end];
        let after = &rest[end + 2..];
        // The variant runs to the next attribute of the enum or the enum's end.
        let variant_end = [after.find("#[error("), after.find("\n}")]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(after.len());
        let variant = &after[..variant_end];
        let named = named_arguments(format);
        for name in named {
            let is_source = if name.bytes().all(|b| b.is_ascii_digit()) {
                // A tuple variant: `Name(#[source] T)`; only the first field is checked,
                // which is the only one the workspace puts sources in.
                name == "0" && tuple_first_field_is_source(variant)
            } else {
                name == "source"
                    || variant.contains(&format!("#[source]\n        {name}:"))
                    || variant.contains(&format!("#[from]\n        {name}:"))
                    || variant.contains(&format!("#[source] {name}:"))
                    || variant.contains(&format!("#[from] {name}:"))
            };
            if is_source {
                out.push(format!("#[error({format})] shows its source {{{name}}}"));
            }
        }
    }
    out
}

fn tuple_first_field_is_source(variant: &str) -> bool {
    let body = variant
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("///"))
        .unwrap_or_default();
    body.split_once('(')
        .is_some_and(|(_, f)| f.starts_with("#[source]") || f.starts_with("#[from]"))
}

/// The names in `{name}` / `{name:?}` placeholders (not `{{` escapes).
fn named_arguments(format: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = format.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '{' {
            continue;
        }
        if chars.peek().is_some_and(|(_, n)| *n == '{') {
            chars.next();
            continue;
        }
        let name: String = format[i + 1..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.push(name);
        }
    }
    out
}
