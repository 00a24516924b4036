//! Runes as the fake understands them: real runes (`l402_core::node_credential::rune`,
//! the `ccan/rune` format and SHA-256 chain) derived from the fake's random master
//! secret, checked the way `checkrune` answers (ccan/rune's messages, codes 1501/1502).
//! A rune narrowed offline (a restriction appended, as `l402 node restrict` does) is
//! accepted and its added restrictions enforced, as on a real node.

use std::collections::HashMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use l402_core::node_credential::rune::{Alternative as CoreAlternative, Restriction, Rune};
use serde_json::{Map, Value};

use crate::json::ClnError;

/// Runes a fake node creates when it starts, named after the recipes in
/// `shared/backends/cln-rest.json` → `runes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FakeRune {
    /// No restrictions: every method (what `lightning-cli createrune` without arguments
    /// makes). Never give this to an L402 server or agent.
    Admin,
    /// The L402 server's rune:
    /// `[["method=invoice","method=listinvoices","method=waitinvoice","method=getinfo"]]`.
    InvoiceOnly,
    /// The L402 agent's rune:
    /// `[["method=xpay","method=listpays","method=listsendpays","method=decode","method=getinfo"],["method/xpay","pnamemaxfee<10001"]]`
    /// (for `xpay`, an integer `maxfee` below 10001 msat is required).
    Payer,
    /// `restrictions=readonly`:
    /// `[["method^list","method^get","method=summary"],["method/listdatastore"]]`.
    Readonly,
}

impl FakeRune {
    /// Every preset.
    pub const ALL: [FakeRune; 4] = [
        FakeRune::Admin,
        FakeRune::InvoiceOnly,
        FakeRune::Payer,
        FakeRune::Readonly,
    ];

    /// The restrictions, as `createrune` takes them.
    #[must_use]
    pub fn restrictions(self) -> Vec<Vec<&'static str>> {
        match self {
            FakeRune::Admin => Vec::new(),
            FakeRune::InvoiceOnly => vec![vec![
                "method=invoice",
                "method=listinvoices",
                "method=waitinvoice",
                "method=getinfo",
            ]],
            FakeRune::Payer => vec![
                vec![
                    "method=xpay",
                    "method=listpays",
                    "method=listsendpays",
                    "method=decode",
                    "method=getinfo",
                ],
                vec!["method/xpay", "pnamemaxfee<10001"],
            ],
            FakeRune::Readonly => vec![
                vec!["method^list", "method^get", "method=summary"],
                vec!["method/listdatastore"],
            ],
        }
    }
}

/// One alternative: `<field><condition><value>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Alternative {
    field: String,
    condition: char,
    value: String,
}

impl Alternative {
    fn from_core(a: &CoreAlternative) -> Self {
        Alternative {
            field: a.field.clone(),
            condition: a.condition,
            value: a.value.clone(),
        }
    }

    /// `None` if the alternative passes, else ccan/rune's complaint.
    fn check(&self, field: Option<&Field>) -> Option<String> {
        let (name, value) = (&self.field, &self.value);
        let Some(field) = field else {
            return match self.condition {
                '!' | '#' => None,
                _ => Some(format!("{name} not present")),
            };
        };
        let text = match field {
            Field::Str(s) => s.clone(),
            Field::Int(i) => i.to_string(),
        };
        let fails =
            |complaint: &str, ok: bool| (!ok).then(|| format!("{name} {complaint} {value}"));
        match self.condition {
            '!' => Some(format!("{name} is present")),
            '=' => fails("is not equal to", text == *value),
            '/' => fails("is equal to", text != *value),
            '^' => fails("does not start with", text.starts_with(value.as_str())),
            '$' => fails("does not end with", text.ends_with(value.as_str())),
            '~' => fails("does not contain", text.contains(value.as_str())),
            '<' | '>' => {
                let Field::Int(have) = field else {
                    return Some(format!("{name} is not an integer field"));
                };
                let Ok(want) = value.parse::<i64>() else {
                    return Some(format!("{value} is not a valid integer"));
                };
                if self.condition == '<' {
                    fails("is greater or equal to", *have < want)
                } else {
                    fails("is less or equal to", *have > want)
                }
            }
            '{' => fails(
                "is equal to or ordered after",
                text.as_str() < value.as_str(),
            ),
            '}' => fails(
                "is equal to or ordered before",
                text.as_str() > value.as_str(),
            ),
            _ => None,
        }
    }
}

/// A field's value for the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Field {
    Str(String),
    Int(i64),
}

/// The value of `field` for a call of `method` with `params`.
fn field(name: &str, method: &str, params: &Map<String, Value>) -> Option<Field> {
    match name {
        "method" => Some(Field::Str(method.to_owned())),
        "pnum" => i64::try_from(params.len()).ok().map(Field::Int),
        "time" => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .ok()
            .and_then(|d| i64::try_from(d.as_secs()).ok())
            .map(Field::Int),
        _ => {
            let param = name.strip_prefix("pname")?;
            match params.get(param)? {
                Value::Number(n) => n.as_i64().map(Field::Int),
                Value::String(s) => Some(Field::Str(s.clone())),
                other => Some(Field::Str(other.to_string())),
            }
        }
    }
}

/// The runes a fake node accepts: those derived from its master rune.
#[derive(Debug, Default)]
pub(crate) struct RuneStore {
    /// Made on the first `create`, from 32 random bytes (CLN's secret is 32 bytes too).
    master: Option<Rune>,
    next_id: u64,
    /// When each rune this node created (by unique id) last passed a check, for `rate`
    /// and `per` (CLN keeps it in its database; derived runes share their id's).
    /// `None` until first used.
    last_used: HashMap<String, Option<Instant>>,
}

/// CLN's `readonly` restrictions: `method^list|method^get|method=summary` and
/// `method/listdatastore`.
const READONLY: [&[&str]; 2] = [
    &["method^list", "method^get", "method=summary"],
    &["method/listdatastore"],
];

/// CLN's warning for a rune without restrictions.
const UNRESTRICTED_WARNING: &str = "WARNING: This rune has no restrictions! Anyone who has access to this rune could drain funds from your node. Be careful when giving this to apps that you don't trust. Consider using the restrictions parameter to only allow access to specific rpc methods.";

/// One nanosecond-precision second.
const SEC_NS: u128 = 1_000_000_000;

/// `rate=N` (per minute) as CLN checks it: the shortest gap between two uses.
fn rate_interval(alt: &CoreAlternative) -> Result<u128, &'static str> {
    if alt.condition != '=' {
        return Err("rate operator must be =");
    }
    match alt.value.parse::<u64>() {
        Ok(r)
            if r != 0
                && r < u64::from(u32::MAX)
                && alt.value.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Ok(60 * SEC_NS / u128::from(r))
        }
        _ => Err("malformed rate"),
    }
}

/// `per=N[unit]` as CLN checks it.
fn per_interval(alt: &CoreAlternative) -> Result<u128, &'static str> {
    if alt.condition != '=' {
        return Err("per operator must be =");
    }
    let digits = alt.value.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = alt.value.split_at(digits);
    let r: u64 = match number.parse() {
        Ok(r) if r != 0 && r < u64::from(u32::MAX) => r,
        _ => return Err("malformed per"),
    };
    let multiplier: u128 = match unit {
        "" | "sec" => SEC_NS,
        "nsec" => 1,
        "usec" => 1_000,
        "msec" => 1_000_000,
        "min" => 60 * SEC_NS,
        "hour" => 3600 * SEC_NS,
        "day" => 86_400 * SEC_NS,
        _ => return Err("malformed suffix"),
    };
    Ok(u128::from(r) * multiplier)
}

impl RuneStore {
    /// Creates a rune with these restrictions (as `createrune restrictions=…`): the
    /// unique id first, then each restriction.
    pub(crate) fn create(&mut self, restrictions: &[Vec<&str>]) -> Result<String, CreateError> {
        let parsed = restrictions
            .iter()
            .map(|alternatives| {
                if alternatives.is_empty() {
                    return Err(CreateError::Restriction("empty restriction".to_owned()));
                }
                alternatives
                    .iter()
                    .map(|a| {
                        CoreAlternative::parse(a)
                            .map_err(|e| CreateError::Restriction(format!("{a:?}: {e}")))
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(|alternatives| Restriction { alternatives })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let master = self.master()?;
        let id = self.next_id.to_string();
        let mut rune = master
            .with_unique_id(&id)
            .map_err(|e| CreateError::Restriction(e.to_string()))?;
        for r in parsed {
            rune = rune
                .restrict_with(r)
                .map_err(|e| CreateError::Restriction(e.to_string()))?;
        }
        self.next_id += 1;
        self.last_used.insert(id, None);
        Ok(rune.to_base64())
    }

    /// Checks a `Rune` header value for a call, as clnrest (through `checkrune`) does.
    /// `Err` carries the HTTP status and the error body.
    pub(crate) fn check(
        &mut self,
        rune: Option<&str>,
        method: &str,
        params: &Map<String, Value>,
    ) -> Result<(), (u16, ClnError)> {
        let Some(rune) = rune else {
            return Err((403, ClnError::new(1501, "Not authorized: Missing rune")));
        };
        if URL_SAFE.decode(rune).is_err() && URL_SAFE_NO_PAD.decode(rune).is_err() {
            return Err((401, ClnError::new(-32602, "rune: should be base64 string")));
        }
        let not_derived = || {
            (
                401,
                ClnError::new(1501, "Not authorized: Not derived from master"),
            )
        };
        let parsed = Rune::parse(rune).map_err(|_| not_derived())?;
        let Some(master) = &self.master else {
            return Err(not_derived());
        };
        if !parsed.is_derived_from(master) {
            return Err(not_derived());
        }
        let now = Instant::now();
        let last_used = parsed
            .unique_id()
            .and_then(|id| self.last_used.get(id).copied().flatten());
        for restriction in parsed.restrictions() {
            let alternatives: Vec<&CoreAlternative> = restriction
                .alternatives
                .iter()
                .filter(|a| !a.field.is_empty())
                .collect();
            if alternatives.is_empty() {
                continue; // the unique id
            }
            let mut complaints = Vec::new();
            let mut passed = false;
            for core in alternatives {
                let outcome = match core.field.as_str() {
                    "rate" | "per" => {
                        let interval = if core.field == "rate" {
                            rate_interval(core)
                        } else {
                            per_interval(core)
                        };
                        match interval {
                            Err(why) => Some(why.to_owned()),
                            // An unknown rune's last use is unknown: CLN lets it pass.
                            Ok(min) => last_used
                                .filter(|last| now.duration_since(*last).as_nanos() < min)
                                .map(|_| "too soon".to_owned()),
                        }
                    }
                    _ => {
                        let alternative = Alternative::from_core(core);
                        alternative.check(field(&alternative.field, method, params).as_ref())
                    }
                };
                match outcome {
                    None => {
                        passed = true;
                        break;
                    }
                    Some(complaint) => complaints.push(complaint),
                }
            }
            if !passed {
                return Err((
                    401,
                    ClnError::new(1502, format!("Not permitted: {}", complaints.join(" AND "))),
                ));
            }
        }
        if let Some(id) = parsed.unique_id()
            && self.last_used.contains_key(id)
        {
            self.last_used.insert(id.to_owned(), Some(now));
        }
        Ok(())
    }

    /// `createrune` (and its alias `invokerune`): a new rune with the next unique id, or
    /// `rune` (any rune with a numeric unique id, not necessarily this node's) with the
    /// restrictions appended; CLN's parameter checks and messages.
    pub(crate) fn create_call(&mut self, params: &Map<String, Value>) -> Result<Value, ClnError> {
        if let Some(unknown) = params
            .keys()
            .find(|k| !["rune", "restrictions"].contains(&k.as_str()))
        {
            return Err(ClnError::param(format!("unknown parameter: {unknown}")));
        }
        let base = params
            .get("rune")
            .map(|v| {
                let bad =
                    |what: &str| ClnError::param(format!("rune: {what}: invalid token '{v}'"));
                let text = v.as_str().ok_or_else(|| bad("should be base64 string"))?;
                let rune = Rune::parse(text).map_err(|_| bad("should be base64 string"))?;
                match rune.unique_id() {
                    Some(id) if id.parse::<u64>().is_ok() => Ok(rune),
                    _ => Err(bad("should have valid numeric unique_id")),
                }
            })
            .transpose()?;
        let restrictions = match params.get("restrictions") {
            None => Vec::new(),
            Some(v) => restrictions_param(v)?,
        };
        let mut rune = match base {
            Some(rune) => rune,
            None => {
                let master = self
                    .master()
                    .map_err(|e| ClnError::new(-1, format!("fake cln: {e:?}")))?;
                let id = self.next_id.to_string();
                let rune = master
                    .with_unique_id(&id)
                    .map_err(|e| ClnError::new(-1, format!("fake cln: {e}")))?;
                self.next_id += 1;
                self.last_used.insert(id, None);
                rune
            }
        };
        for r in restrictions {
            rune = rune
                .restrict_with(r)
                .map_err(|e| ClnError::new(-1, format!("fake cln: {e}")))?;
        }
        let mut out = Map::new();
        out.insert("rune".into(), Value::from(rune.to_base64()));
        out.insert(
            "unique_id".into(),
            Value::from(rune.unique_id().unwrap_or_default()),
        );
        if rune.restrictions().len() <= 1 {
            out.insert(
                "warning_unrestricted_rune".into(),
                Value::from(UNRESTRICTED_WARNING),
            );
        }
        Ok(Value::Object(out))
    }

    fn master(&mut self) -> Result<Rune, CreateError> {
        if let Some(m) = &self.master {
            return Ok(m.clone());
        }
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(CreateError::Randomness)?;
        let m = Rune::from_secret(&secret).map_err(|e| CreateError::Restriction(e.to_string()));
        secret.fill(0);
        let m = m?;
        self.master = Some(m.clone());
        Ok(m)
    }
}

/// `createrune`'s `restrictions`: the string `readonly`, or an array of arrays of
/// alternatives; anything else is refused naming the offending token, as CLN does.
fn restrictions_param(value: &Value) -> Result<Vec<Restriction>, ClnError> {
    let refuse = |token: &Value| {
        ClnError::param(format!(
            "restrictions: not a valid restriction (should be array): invalid token '{token}'"
        ))
    };
    let one = |token: &Value| -> Result<Restriction, ClnError> {
        let Value::Array(items) = token else {
            return Err(refuse(token));
        };
        // CLN accepts an empty alternative list; the fake's rune format does not.
        if items.is_empty() {
            return Err(refuse(token));
        }
        let alternatives = items
            .iter()
            .map(|item| {
                item.as_str()
                    .and_then(|text| CoreAlternative::parse(text).ok())
                    .filter(|a| !a.field.is_empty())
                    .ok_or_else(|| refuse(token))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Restriction { alternatives })
    };
    match value {
        Value::String(s) if s == "readonly" => Ok(READONLY
            .iter()
            .map(|alts| Restriction {
                alternatives: alts
                    .iter()
                    .filter_map(|a| CoreAlternative::parse(a).ok())
                    .collect(),
            })
            .collect()),
        Value::Array(items) => items.iter().map(one).collect(),
        other => Err(refuse(other)),
    }
}

/// Why a rune could not be created.
#[derive(Debug)]
pub(crate) enum CreateError {
    Restriction(String),
    Randomness(getrandom::Error),
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn params(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn recipes_allow_and_refuse_with_clns_messages() {
        let mut store = RuneStore::default();
        let invoice_only = store.create(&FakeRune::InvoiceOnly.restrictions()).unwrap();
        let payer = store.create(&FakeRune::Payer.restrictions()).unwrap();
        assert!(
            store
                .check(Some(&invoice_only), "invoice", &Map::new())
                .is_ok()
        );
        let (status, err) = store
            .check(Some(&invoice_only), "xpay", &Map::new())
            .unwrap_err();
        assert_eq!(status, 401);
        assert_eq!(err.code, Some(1502));
        assert_eq!(
            err.message,
            "Not permitted: method is not equal to invoice AND method is not equal to listinvoices AND method is not equal to waitinvoice AND method is not equal to getinfo"
        );
        assert!(
            store
                .check(Some(&payer), "xpay", &params(json!({"maxfee": 10000})))
                .is_ok()
        );
        let (_, err) = store
            .check(Some(&payer), "xpay", &params(json!({"maxfee": 10001})))
            .unwrap_err();
        assert_eq!(
            err.message,
            "Not permitted: method is equal to xpay AND pnamemaxfee is greater or equal to 10001"
        );
        let (_, err) = store
            .check(Some(&payer), "xpay", &params(json!({"maxfee": "10msat"})))
            .unwrap_err();
        assert!(err.message.ends_with("pnamemaxfee is not an integer field"));
        let (_, err) = store.check(Some(&payer), "xpay", &Map::new()).unwrap_err();
        assert!(err.message.ends_with("pnamemaxfee not present"));
        assert!(store.check(Some(&payer), "listpays", &Map::new()).is_ok());
        assert_eq!(
            store.check(None, "getinfo", &Map::new()).unwrap_err().0,
            403
        );
        assert_eq!(
            store
                .check(Some("bm90IG91cnM="), "getinfo", &Map::new())
                .unwrap_err()
                .1
                .code,
            Some(1501)
        );
    }

    #[test]
    fn runes_narrowed_offline_are_accepted_and_their_restrictions_enforced() {
        let mut store = RuneStore::default();
        let invoice_only = store.create(&FakeRune::InvoiceOnly.restrictions()).unwrap();
        let core = Rune::parse(&invoice_only).unwrap();
        let lookups = core.restrict("method=listinvoices").unwrap().to_base64();
        assert!(
            store
                .check(Some(&lookups), "listinvoices", &Map::new())
                .is_ok()
        );
        let (status, err) = store
            .check(Some(&lookups), "invoice", &Map::new())
            .unwrap_err();
        assert_eq!((status, err.code), (401, Some(1502)));
        // Expired: `time<` a moment in the past.
        let expired = core.restrict("time<1000").unwrap().to_base64();
        let (_, err) = store
            .check(Some(&expired), "invoice", &Map::new())
            .unwrap_err();
        assert!(
            err.message.contains("time is greater or equal to 1000"),
            "{}",
            err.message
        );
        let later = core.restrict("time<99999999999").unwrap().to_base64();
        assert!(store.check(Some(&later), "invoice", &Map::new()).is_ok());
        // Dropping the appended restriction from the text while keeping the narrowed
        // state is not derived from the master.
        let narrowed = Rune::parse(&lookups).unwrap();
        let mut bytes = URL_SAFE.decode(narrowed.to_base64()).unwrap();
        bytes.truncate(32);
        bytes.extend_from_slice(core.restrictions_text().as_bytes());
        let stripped = URL_SAFE.encode(&bytes);
        let (_, err) = store
            .check(Some(&stripped), "invoice", &Map::new())
            .unwrap_err();
        assert_eq!(err.code, Some(1501));
        // A rune of another node (another secret) is not ours.
        let other = Rune::from_secret(&[1; 32])
            .unwrap()
            .with_unique_id("0")
            .unwrap();
        let (_, err) = store
            .check(Some(&other.to_base64()), "invoice", &Map::new())
            .unwrap_err();
        assert_eq!(err.code, Some(1501));
    }

    proptest::proptest! {
        /// Whatever `createrune` accepts makes a rune that reads back with exactly those
        /// restrictions after its unique id (escaping of `|`, `&` and `\\` included);
        /// nothing panics.
        #[test]
        fn createrune_restrictions_round_trip(
            restrictions in proptest::collection::vec(
                proptest::collection::vec("[a-z_]{0,6}[=/^$~<>{}#!&|\\\\a-z0-9]{0,8}", 0..4),
                0..4,
            ),
            readonly in proptest::bool::ANY,
        ) {
            let mut store = RuneStore::default();
            let value = if readonly { json!("readonly") } else { json!(restrictions) };
            let mut p = Map::new();
            p.insert("restrictions".into(), value.clone());
            if let Ok(answer) = store.create_call(&p) {
                let rune = Rune::parse(answer["rune"].as_str().unwrap()).unwrap();
                let expected = restrictions_param(&value).unwrap();
                proptest::prop_assert_eq!(&rune.restrictions()[1..], expected.as_slice());
                proptest::prop_assert_eq!(
                    answer.get("warning_unrestricted_rune").is_some(),
                    expected.is_empty()
                );
            }
        }
    }

    #[test]
    fn rune_text_is_in_clns_format() {
        let mut store = RuneStore::default();
        let _admin = store.create(&[]).unwrap();
        let rune = store.create(&FakeRune::InvoiceOnly.restrictions()).unwrap();
        let bytes = URL_SAFE.decode(&rune).unwrap();
        assert_eq!(
            std::str::from_utf8(bytes.get(32..).unwrap()).unwrap(),
            "=1&method=invoice|method=listinvoices|method=waitinvoice|method=getinfo"
        );
        assert!(store.create(&[vec!["method"]]).is_err());
        assert!(store.create(&[vec![]]).is_err());
    }
}
