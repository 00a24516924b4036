//! A small validator for the JSON-schema subset CLN's `doc/schemas` use: `type`
//! (JSON types and CLN's `msat`, `u64`, `u32`, `u16`, `hex`, `hash`, `secret`, `txid`,
//! `pubkey`, `short_channel_id`…), `required`, `properties`, `additionalProperties`,
//! `items`, `enum`, `minLength`/`maxLength`, `oneOf`, `allOf`, `if`/`then`/`else`.

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::Value;

/// `cln-rest.json`, found beside the workspace as CI lays it out (`../shared/backends`).
pub(crate) fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        // Beside the workspace (`../shared`), from a checkout or from a worktree nested
        // one level deeper.
        let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let path = manifest
            .ancestors()
            .map(|dir| dir.join("shared/backends/cln-rest.json"))
            .find(|path| path.exists())
            .unwrap_or_else(|| manifest.join("../../../shared/backends/cln-rest.json"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        serde_json::from_str(&text).unwrap()
    })
}

/// A method's response schema.
pub(crate) fn response_schema(method: &str) -> &'static Value {
    spec()
        .pointer(&format!("/methods/{method}/response_schema"))
        .unwrap_or_else(|| panic!("no response schema for {method}"))
}

/// A method's request schema.
pub(crate) fn request_schema(method: &str) -> &'static Value {
    spec()
        .pointer(&format!("/methods/{method}/request_schema"))
        .unwrap_or_else(|| panic!("no request schema for {method}"))
}

/// Errors of `value` against `schema` (empty when it matches).
pub(crate) fn check(schema: &Value, value: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    walk(schema, value, "$", &mut errors);
    errors
}

/// Panics with the errors, if any.
pub(crate) fn assert_valid(schema: &Value, value: &Value, what: &str) {
    let errors = check(schema, value);
    assert!(errors.is_empty(), "{what}: {errors:#?}\n{value:#}");
}

/// The error body shape: `{"code": int|null, "message": string, "data": any}`, exactly
/// these keys.
pub(crate) fn assert_error_body(value: &Value, what: &str) {
    let object = value
        .as_object()
        .unwrap_or_else(|| panic!("{what}: not an object: {value}"));
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["code", "data", "message"], "{what}: {value}");
    assert!(value["code"].is_null() || value["code"].is_i64(), "{what}");
    assert!(value["message"].is_string(), "{what}");
}

fn is_hex(s: &str) -> bool {
    s.len().is_multiple_of(2) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn is_scid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('x').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Checks a `type`, JSON or CLN's.
fn check_type(ty: &str, value: &Value) -> Result<(), String> {
    let ok = match ty {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        // Responses carry msat as JSON integers.
        "msat" | "sat" | "u64" => value.is_u64(),
        "msat_or_any" => value.is_u64() || value.as_str() == Some("any"),
        "u32" => value.as_u64().is_some_and(|n| n <= u64::from(u32::MAX)),
        "u16" => value.as_u64().is_some_and(|n| n <= u64::from(u16::MAX)),
        "hex" => value.as_str().is_some_and(is_hex),
        "hash" | "secret" | "txid" => value.as_str().is_some_and(|s| is_lower_hex(s, 64)),
        "pubkey" => value
            .as_str()
            .is_some_and(|s| is_lower_hex(s, 66) && (s.starts_with("02") || s.starts_with("03"))),
        "signature" => value.as_str().is_some_and(|s| is_hex(s) && s.len() <= 144),
        "short_channel_id" => value.as_str().is_some_and(is_scid),
        "short_channel_id_dir" => value.as_str().is_some_and(|s| {
            s.rsplit_once('/')
                .is_some_and(|(scid, dir)| is_scid(scid) && (dir == "0" || dir == "1"))
        }),
        other => return Err(format!("unsupported schema type {other:?}")),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("expected {ty}, got {value}"))
    }
}

fn walk(schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let Some(schema) = schema.as_object() else {
        return;
    };
    let mut fail = |msg: String| errors.push(format!("{at}: {msg}"));
    if let Some(ty) = schema.get("type").and_then(Value::as_str)
        && let Err(msg) = check_type(ty, value)
    {
        return fail(msg);
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        fail(format!("{value} not in the enum"));
    }
    if let Some(s) = value.as_str() {
        let len = s.chars().count() as u64;
        if schema
            .get("minLength")
            .and_then(Value::as_u64)
            .is_some_and(|min| len < min)
        {
            fail(format!("{s:?} is too short"));
        }
        if schema
            .get("maxLength")
            .and_then(Value::as_u64)
            .is_some_and(|max| len > max)
        {
            fail(format!("{s:?} is too long"));
        }
    }
    if let Some(object) = value.as_object() {
        let properties = schema.get("properties").and_then(Value::as_object);
        for name in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !object.contains_key(name) {
                fail(format!("missing required field {name}"));
            }
        }
        if schema.get("additionalProperties") == Some(&Value::Bool(false)) {
            for key in object.keys() {
                if !properties.is_some_and(|p| p.contains_key(key)) {
                    fail(format!("unexpected field {key}"));
                }
            }
        }
        for (name, sub) in properties.into_iter().flatten() {
            if let Some(v) = object.get(name) {
                walk(sub, v, &format!("{at}.{name}"), errors);
            }
        }
    }
    if let (Some(items), Some(item_schema)) = (value.as_array(), schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            walk(item_schema, item, &format!("{at}[{i}]"), errors);
        }
    }
    for sub in schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        walk(sub, value, at, errors);
    }
    if let Some(one_of) = schema.get("oneOf").and_then(Value::as_array) {
        let passing = one_of.iter().filter(|s| check(s, value).is_empty()).count();
        if passing != 1 {
            errors.push(format!("{at}: {passing} of oneOf match"));
        }
    }
    if let Some(condition) = schema.get("if") {
        let branch = if check(condition, value).is_empty() {
            schema.get("then")
        } else {
            schema.get("else")
        };
        if let Some(branch) = branch {
            walk(branch, value, at, errors);
        }
    }
}

#[test]
fn the_files_own_examples_pass_and_broken_ones_fail() {
    let methods = spec()["methods"].as_object().unwrap();
    let mut checked = 0;
    for (name, method) in methods {
        let Some(schema) = method.get("response_schema") else {
            continue;
        };
        let examples = method.get("example").into_iter().chain(
            method
                .get("more_examples")
                .and_then(Value::as_array)
                .into_iter()
                .flatten(),
        );
        for example in examples {
            if example.pointer("/response/status") == Some(&Value::from(201)) {
                assert_valid(schema, &example["response"]["body"], name);
                checked += 1;
            }
            if let (Some(request), Some(body)) = (
                method.get("request_schema"),
                example.pointer("/request/body"),
            ) {
                assert_valid(request, body, &format!("{name} request"));
            }
        }
        for error in method
            .get("error_examples")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let body = error
                .get("body")
                .or_else(|| error.get("body_shape"))
                .unwrap();
            assert_error_body(body, name);
        }
    }
    assert!(checked >= 9, "only {checked} examples");

    let paid = &spec()["methods"]["listinvoices"]["example"]["response"]["body"];
    let schema = response_schema("listinvoices");
    let broken = |f: &dyn Fn(&mut Value)| {
        let mut v = paid.clone();
        f(&mut v);
        v
    };
    let cases: [(&str, Value); 7] = [
        (
            "missing required",
            broken(&|v| {
                v["invoices"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("expires_at");
            }),
        ),
        (
            "enum",
            broken(&|v| v["invoices"][0]["status"] = "settled".into()),
        ),
        (
            "msat as a string",
            broken(&|v| {
                v["invoices"][0]["amount_msat"] = "1000000msat".into();
            }),
        ),
        (
            "hash length",
            broken(&|v| v["invoices"][0]["payment_hash"] = "abcd".into()),
        ),
        (
            "upper-case hex",
            broken(&|v| {
                let upper = v["invoices"][0]["payment_preimage"]
                    .as_str()
                    .unwrap()
                    .to_uppercase();
                v["invoices"][0]["payment_preimage"] = upper.into();
            }),
        ),
        // The `else` branch (not paid) allows no preimage.
        (
            "preimage while unpaid",
            broken(&|v| v["invoices"][0]["status"] = "unpaid".into()),
        ),
        ("extra top-level field", broken(&|v| v["extra"] = 1.into())),
    ];
    for (what, value) in cases {
        assert!(!check(schema, &value).is_empty(), "{what} passed");
    }
    // The `then` branch (paid) requires the preimage.
    let mut no_preimage = paid.clone();
    no_preimage["invoices"][0]
        .as_object_mut()
        .unwrap()
        .remove("payment_preimage");
    assert!(!check(schema, &no_preimage).is_empty());
    // listpays: a failed payment has no amount_msat.
    let mut failed = spec()["methods"]["listpays"]["example"]["response"]["body"].clone();
    failed["pays"][0]["status"] = "failed".into();
    failed["pays"][0]
        .as_object_mut()
        .unwrap()
        .remove("preimage");
    assert!(!check(response_schema("listpays"), &failed).is_empty());
    failed["pays"][0]
        .as_object_mut()
        .unwrap()
        .remove("amount_msat");
    failed["pays"][0]
        .as_object_mut()
        .unwrap()
        .remove("completed_at");
    assert_valid(response_schema("listpays"), &failed, "failed pay");
}
