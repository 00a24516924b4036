//! A small validator for the swagger fragments `lnd-rest.json` uses.

use std::path::PathBuf;
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

/// `lnd-rest.json`, found beside the workspace as CI lays it out (`../shared/backends`).
pub(crate) fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        // Beside the workspace (`../shared`), from a checkout or from a worktree nested
        // one level deeper.
        let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let path = manifest
            .ancestors()
            .map(|dir| dir.join("shared/backends/lnd-rest.json"))
            .find(|path| path.exists())
            .unwrap_or_else(|| manifest.join("../../../shared/backends/lnd-rest.json"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        serde_json::from_str(&text).unwrap()
    })
}

/// A definition by name.
pub(crate) fn definition(name: &str) -> &'static Value {
    spec()
        .pointer(&format!("/swagger_definitions/{name}"))
        .unwrap_or_else(|| panic!("no definition {name}"))
}

/// Errors of `value` against `schema` (empty when it matches). Objects must have every
/// property (`EmitUnpopulated`) and no other; a `$ref` to an object may be `null` (an
/// unset message).
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

/// Checks one stream line of a `lnrpc.Payment` stream (`SendPaymentV2`,
/// `TrackPaymentV2`): see [`assert_stream_line_of`].
pub(crate) fn assert_stream_line(line: &Value, what: &str) {
    assert_stream_line_of(line, "lnrpcPayment", what);
}

/// Checks one stream line: exactly one of `result` (against `result_definition`, as the
/// stream schema's `result`) or `error` (`rpcStatus`, as the stream schema says).
pub(crate) fn assert_stream_line_of(line: &Value, result_definition: &str, what: &str) {
    let stream = &spec()["streaming"]["swagger_schema"]["properties"];
    let object = line
        .as_object()
        .unwrap_or_else(|| panic!("{what}: not an object: {line}"));
    assert_eq!(object.len(), 1, "{what}: a stream line has one key: {line}");
    let (key, value) = object.iter().next().unwrap();
    let result_ref = json!({ "$ref": format!("#/definitions/{result_definition}") });
    let schema = match key.as_str() {
        "result" => &result_ref,
        _ => stream
            .get(key)
            .unwrap_or_else(|| panic!("{what}: unexpected key {key}")),
    };
    assert!(!value.is_null(), "{what}: null {key}");
    assert_valid(schema, value, what);
}

fn walk(schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.trim_start_matches("#/definitions/");
        let target = definition(name);
        if value.is_null() && target.get("type").and_then(Value::as_str) == Some("object") {
            return;
        }
        return walk(target, value, at, errors);
    }
    let ty = schema.get("type").and_then(Value::as_str);
    let format = schema.get("format").and_then(Value::as_str);
    let mut fail = |msg: String| errors.push(format!("{at}: {msg}"));
    match ty {
        Some("object") => {
            let Some(object) = value.as_object() else {
                return fail(format!("expected an object, got {value}"));
            };
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for name in properties.keys() {
                    if !object.contains_key(name) {
                        fail(format!("missing field {name}"));
                    }
                }
                for key in object.keys() {
                    if !properties.contains_key(key) && schema.get("additionalProperties").is_none()
                    {
                        fail(format!("unexpected field {key}"));
                    }
                }
                for (name, sub) in properties {
                    if let Some(v) = object.get(name) {
                        walk(sub, v, &format!("{at}.{name}"), errors);
                    }
                }
            } else if let Some(additional) = schema.get("additionalProperties") {
                for (key, v) in object {
                    walk(additional, v, &format!("{at}[{key}]"), errors);
                }
            }
        }
        Some("array") => match value.as_array() {
            Some(items) => {
                if let Some(item_schema) = schema.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        walk(item_schema, item, &format!("{at}[{i}]"), errors);
                    }
                }
            }
            None => fail(format!("expected an array, got {value}")),
        },
        Some("string") => {
            let Some(s) = value.as_str() else {
                return fail(format!("expected a string, got {value}"));
            };
            let digits = s.strip_prefix('-').unwrap_or(s);
            let decimal = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
            match format {
                Some("int64") if !decimal(digits) => fail(format!("not an int64 string: {s:?}")),
                Some("uint64") if !decimal(s) => fail(format!("not a uint64 string: {s:?}")),
                Some("byte") if STANDARD.decode(s).is_err() => {
                    fail(format!("not standard base64: {s:?}"));
                }
                _ => {}
            }
            let allowed = schema.get("enum").and_then(Value::as_array);
            if allowed.is_some_and(|allowed| !allowed.iter().any(|a| a == value)) {
                fail(format!("{s:?} not in the enum"));
            }
        }
        Some("integer") => {
            if !(value.is_i64() || value.is_u64()) {
                fail(format!("expected a JSON integer, got {value}"));
            }
        }
        Some("number") => {
            if !value.is_number() {
                fail(format!("expected a number, got {value}"));
            }
        }
        Some("boolean") => {
            if !value.is_boolean() {
                fail(format!("expected a boolean, got {value}"));
            }
        }
        None if schema.as_object().is_some_and(|o| o.is_empty()) => {}
        other => fail(format!("unsupported schema type {other:?}")),
    }
}

#[test]
fn the_files_own_examples_pass_and_broken_ones_fail() {
    let calls = spec()["calls"].as_object().unwrap();
    let mut checked = 0;
    for (name, call) in calls {
        let Some(definition_name) = call
            .pointer("/response/swagger_definition")
            .and_then(Value::as_str)
        else {
            continue;
        };
        let schema = definition(definition_name);
        let response = &call["example"]["response"];
        if let Some(body) = response.get("body") {
            assert_valid(schema, body, name);
            checked += 1;
        }
        for line in response
            .get("body_lines")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            assert_stream_line_of(line, definition_name, name);
            checked += 1;
        }
    }
    assert!(checked >= 6, "only {checked} examples");

    let invoice = &spec()["calls"]["LookupInvoice"]["example"]["response"]["body"];
    let schema = definition("lnrpcInvoice");
    let mut broken = invoice.clone();
    broken["value"] = Value::from(1000);
    assert!(!check(schema, &broken).is_empty(), "int64 as a number");
    let mut broken = invoice.clone();
    broken.as_object_mut().unwrap().remove("settle_date");
    assert!(!check(schema, &broken).is_empty(), "missing field");
    let mut broken = invoice.clone();
    broken["state"] = Value::from("PAID");
    assert!(!check(schema, &broken).is_empty(), "enum");
    let mut broken = invoice.clone();
    broken["r_hash"] =
        Value::from("96eb2d7de040deab8746c9dd412f1fa8f23a77f1e8895f7920ef0ec811fc8ce6x");
    assert!(!check(schema, &broken).is_empty(), "bytes");
    let mut broken = invoice.clone();
    broken["extra"] = Value::from(1);
    assert!(!check(schema, &broken).is_empty(), "extra field");
}
