//! Caveats: `condition=value` restrictions on a token, with Aperture's conventions.
//!
//! | caveat | meaning |
//! |---|---|
//! | `services=<name>:<tier>[,<name>:<tier>…]` | the services the token is for; tier is a u8 |
//! | `<service>_capabilities=<cap>[,<cap>…]` | the capabilities allowed for that service |
//! | `<service>_valid_until=<unix seconds>` | expiry: valid while now < value |
//! | `preimage=<hex>` | appended by clients such as lnget; must match the presented preimage |
//!
//! A holder may append caveats but only to narrow what the token allows: for each
//! condition every later occurrence must be within the previous one, and the last one
//! decides. [`Verifier`](crate::Verifier) enforces that.

use core::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Condition of the services caveat.
pub const CONDITION_SERVICES: &str = "services";
/// Suffix of the per-service capabilities condition.
pub const SUFFIX_CAPABILITIES: &str = "_capabilities";
/// Suffix of the per-service expiry condition.
pub const SUFFIX_VALID_UNTIL: &str = "_valid_until";
/// Condition of the client-appended preimage caveat.
pub const CONDITION_PREIMAGE: &str = "preimage";

/// Why a caveat or one of its parts is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CaveatError {
    /// No `=` separates condition and value.
    #[error("caveat has no '=' between condition and value")]
    MissingEquals,
    /// The condition is empty.
    #[error("caveat condition is empty")]
    EmptyCondition,
    /// The condition holds characters a condition cannot (`=`, `,`, `:` or white space).
    #[error("invalid caveat condition {0:?}")]
    InvalidCondition(String),
    /// A service name that is empty or holds `,`, `:`, `=` or white space.
    #[error("invalid service name {0:?}")]
    InvalidServiceName(String),
    /// A `services` value that is not `name:tier[,name:tier…]`.
    #[error("invalid services value {0:?}")]
    InvalidServices(String),
    /// A capability that is empty or holds `,` or white space.
    #[error("invalid capability {0:?}")]
    InvalidCapability(String),
    /// A `_valid_until` value that is not a decimal unix time.
    #[error("invalid expiry timestamp {0:?}")]
    InvalidTimestamp(String),
    /// A `preimage` value that is not 64 hex characters.
    #[error("invalid preimage caveat value")]
    InvalidPreimage,
}

fn is_name_char_ok(c: char) -> bool {
    !(c == ',' || c == ':' || c == '=' || c.is_whitespace() || c.is_control())
}

/// Per byte: [`NAME_BAD`] for ASCII a name cannot hold (`,`, `:`, `=`, space, control),
/// [`NAME_NON_ASCII`] for bytes of multi-byte characters, 0 otherwise.
static NAME_BYTES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = if b >= 0x80 {
            NAME_NON_ASCII
        } else if b <= 0x20
            || b == 0x7f
            || b == b',' as usize
            || b == b':' as usize
            || b == b'=' as usize
        {
            NAME_BAD
        } else {
            0
        };
        b += 1;
    }
    t
};
const NAME_BAD: u8 = 1;
const NAME_NON_ASCII: u8 = 2;

/// Whether `name` is a valid condition or service name: non-empty, without `,`, `:`, `=`,
/// white space or control characters. One table-driven pass over the bytes; only names
/// with non-ASCII characters are checked again character by character.
fn is_valid_name(name: &str) -> bool {
    let flags = name.bytes().fold(0u8, |acc, b| {
        acc | NAME_BYTES.get(usize::from(b)).copied().unwrap_or(NAME_BAD)
    });
    !name.is_empty()
        && flags & NAME_BAD == 0
        && (flags & NAME_NON_ASCII == 0 || name.chars().all(is_name_char_ok))
}

/// A service a token grants access to, with its tier (a privilege level; higher is more).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Service {
    name: String,
    tier: u8,
}

impl Service {
    /// A service at tier 0.
    ///
    /// # Errors
    /// [`CaveatError::InvalidServiceName`] if the name is empty or holds `,`, `:`, `=` or
    /// white space.
    pub fn new(name: impl Into<String>) -> Result<Self, CaveatError> {
        Self::with_tier(name, 0)
    }

    /// A service at `tier`.
    ///
    /// # Errors
    /// As [`Service::new`].
    pub fn with_tier(name: impl Into<String>, tier: u8) -> Result<Self, CaveatError> {
        let name = name.into();
        if !is_valid_name(&name) {
            return Err(CaveatError::InvalidServiceName(name));
        }
        Ok(Service { name, tier })
    }

    /// The service name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tier.
    #[must_use]
    pub fn tier(&self) -> u8 {
        self.tier
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.tier)
    }
}

/// A first-party caveat `condition=value`.
///
/// `Debug` redacts the value of a `preimage` caveat (a proof of payment).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Caveat {
    condition: String,
    value: String,
}

impl fmt::Debug for Caveat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Caveat");
        d.field("condition", &self.condition);
        if self.condition.eq_ignore_ascii_case(CONDITION_PREIMAGE) {
            d.field("value", &format_args!("<redacted>"));
        } else {
            d.field("value", &self.value);
        }
        d.finish()
    }
}

impl Caveat {
    /// A caveat with any condition (user-defined caveats, checked by a
    /// [`CaveatSatisfier`]).
    ///
    /// # Errors
    /// [`CaveatError`] if the condition is empty or holds `=`, `,`, `:` or white space.
    pub fn new(
        condition: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, CaveatError> {
        let condition = condition.into();
        if condition.is_empty() {
            return Err(CaveatError::EmptyCondition);
        }
        if !is_valid_name(&condition) {
            return Err(CaveatError::InvalidCondition(condition));
        }
        Ok(Caveat {
            condition,
            value: value.into(),
        })
    }

    /// Parses `condition=value`, split at the first `=`, with surrounding ASCII white space
    /// of both parts ignored (Aperture trims too).
    ///
    /// # Errors
    /// [`CaveatError`] if there is no `=` or the condition is invalid.
    pub fn parse(s: &str) -> Result<Self, CaveatError> {
        let (condition, value) = split(s)?;
        Ok(Caveat {
            condition: condition.to_owned(),
            value: value.to_owned(),
        })
    }

    /// `services=name:tier,…`.
    ///
    /// # Errors
    /// [`CaveatError::InvalidServices`] if `services` is empty.
    pub fn services(services: &[Service]) -> Result<Self, CaveatError> {
        if services.is_empty() {
            return Err(CaveatError::InvalidServices(String::new()));
        }
        let value = services
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        Ok(Caveat {
            condition: CONDITION_SERVICES.into(),
            value,
        })
    }

    /// `<service>_capabilities=cap,…` (an empty list allows no capability).
    ///
    /// # Errors
    /// [`CaveatError::InvalidCapability`] for a capability that is empty or holds `,` or
    /// white space.
    pub fn capabilities<S: AsRef<str>>(
        service: &Service,
        capabilities: &[S],
    ) -> Result<Self, CaveatError> {
        for c in capabilities {
            let c = c.as_ref();
            if c.is_empty() || c.contains(',') || c.chars().any(char::is_whitespace) {
                return Err(CaveatError::InvalidCapability(c.to_owned()));
            }
        }
        let value = capabilities
            .iter()
            .map(AsRef::as_ref)
            .collect::<Vec<_>>()
            .join(",");
        Ok(Caveat {
            condition: format!("{}{SUFFIX_CAPABILITIES}", service.name),
            value,
        })
    }

    /// `<service>_valid_until=<unix seconds>`; times before 1970 count as 0.
    #[must_use]
    pub fn valid_until(service: &Service, until: SystemTime) -> Self {
        Caveat {
            condition: format!("{}{SUFFIX_VALID_UNTIL}", service.name),
            value: unix_seconds(until).to_string(),
        }
    }

    /// The condition.
    #[must_use]
    pub fn condition(&self) -> &str {
        &self.condition
    }

    /// The value.
    #[must_use]
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Interprets the caveat by Aperture's conventions.
    ///
    /// # Errors
    /// [`CaveatError`] if a known condition has a malformed value.
    pub fn kind(&self) -> Result<CaveatKind<'_>, CaveatError> {
        kind_of(&self.condition, &self.value)
    }
}

/// Splits `condition=value` at the first `=` and trims both parts, without allocating.
pub(crate) fn split(s: &str) -> Result<(&str, &str), CaveatError> {
    // Usually the condition is plain ASCII name characters up to the `=`: one scan then
    // both finds the `=` and validates the condition (which has nothing to trim).
    let plain = s
        .bytes()
        .position(|b| NAME_BYTES.get(usize::from(b)).copied().unwrap_or(NAME_BAD) != 0);
    if let Some(i) = plain
        && i > 0
        && s.as_bytes().get(i) == Some(&b'=')
        && let (Some(condition), Some(value)) = (s.get(..i), s.get(i + 1..))
    {
        return Ok((condition, value.trim_ascii()));
    }
    split_general(s)
}

/// [`split`] for any input, with the precise error.
fn split_general(s: &str) -> Result<(&str, &str), CaveatError> {
    let (condition, value) = split_once_ascii(s, b'=').ok_or(CaveatError::MissingEquals)?;
    let condition = condition.trim_ascii();
    if condition.is_empty() {
        return Err(CaveatError::EmptyCondition);
    }
    if !is_valid_name(condition) {
        return Err(CaveatError::InvalidCondition(condition.to_owned()));
    }
    Ok((condition, value.trim_ascii()))
}

/// `s.split_once(sep)` for an ASCII separator, scanning bytes (short caveat text is faster
/// scanned directly than through the generic pattern searcher).
fn split_once_ascii(s: &str, sep: u8) -> Option<(&str, &str)> {
    let i = s.bytes().position(|b| b == sep)?;
    // An ASCII byte is always a character boundary, so both halves are valid.
    Some((s.get(..i)?, s.get(i + 1..)?))
}

/// `s.split(sep)` for an ASCII separator, scanning bytes.
#[derive(Clone)]
struct SplitAscii<'a> {
    rest: Option<&'a str>,
    sep: u8,
}

impl<'a> Iterator for SplitAscii<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        match split_once_ascii(rest, self.sep) {
            Some((item, tail)) => {
                self.rest = Some(tail);
                Some(item)
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }
}

fn split_ascii(s: &str, sep: u8) -> SplitAscii<'_> {
    SplitAscii { rest: Some(s), sep }
}

/// What a condition is, by name alone.
pub(crate) enum Class<'a> {
    Services,
    Capabilities(&'a str),
    ValidUntil(&'a str),
    Preimage,
    Other,
}

pub(crate) fn classify(c: &str) -> Class<'_> {
    if c == CONDITION_SERVICES {
        return Class::Services;
    }
    if c == CONDITION_PREIMAGE {
        return Class::Preimage;
    }
    if let Some(service) = c.strip_suffix(SUFFIX_CAPABILITIES)
        && !service.is_empty()
    {
        return Class::Capabilities(service);
    }
    if let Some(service) = c.strip_suffix(SUFFIX_VALID_UNTIL)
        && !service.is_empty()
    {
        return Class::ValidUntil(service);
    }
    Class::Other
}

/// The `(name, tier)` entries of a services value that [`check_services`] accepted.
pub(crate) fn service_entries(value: &str) -> impl Iterator<Item = (&str, u8)> + Clone {
    split_ascii(value, b',').filter_map(|part| {
        let (name, tier) = split_once_ascii(part.trim_ascii(), b':')?;
        Some((name.trim_ascii(), tier.trim_ascii().parse::<u8>().ok()?))
    })
}

/// Checks a services value without allocating.
pub(crate) fn check_services(value: &str) -> Result<(), CaveatError> {
    let ok = !value.trim_ascii().is_empty()
        && split_ascii(value, b',').all(|part| {
            split_once_ascii(part.trim_ascii(), b':').is_some_and(|(name, tier)| {
                is_valid_name(name.trim_ascii()) && tier.trim_ascii().parse::<u8>().is_ok()
            })
        });
    if ok {
        Ok(())
    } else {
        Err(CaveatError::InvalidServices(value.to_owned()))
    }
}

/// The capabilities of a value that [`check_capabilities`] accepted (empty items skipped).
pub(crate) fn capability_list(value: &str) -> impl Iterator<Item = &str> + Clone {
    split_ascii(value, b',')
        .map(str::trim_ascii)
        .filter(|c| !c.is_empty())
}

/// Checks a capabilities value without allocating.
pub(crate) fn check_capabilities(value: &str) -> Result<(), CaveatError> {
    match capability_list(value).find(|c| c.bytes().any(|b| b.is_ascii_whitespace())) {
        Some(bad) => Err(CaveatError::InvalidCapability(bad.to_owned())),
        None => Ok(()),
    }
}

/// Interprets a split caveat by Aperture's conventions.
pub(crate) fn kind_of<'a>(c: &'a str, value: &'a str) -> Result<CaveatKind<'a>, CaveatError> {
    if c == CONDITION_SERVICES {
        return parse_services(value).map(CaveatKind::Services);
    }
    if c == CONDITION_PREIMAGE {
        return crate::Preimage::from_hex(value)
            .map(CaveatKind::Preimage)
            .map_err(|_| CaveatError::InvalidPreimage);
    }
    if let Some(service) = c.strip_suffix(SUFFIX_CAPABILITIES)
        && !service.is_empty()
    {
        return parse_capabilities(value).map(|capabilities| CaveatKind::Capabilities {
            service,
            capabilities,
        });
    }
    if let Some(service) = c.strip_suffix(SUFFIX_VALID_UNTIL)
        && !service.is_empty()
    {
        return value
            .parse::<u64>()
            .map(|until| CaveatKind::ValidUntil { service, until })
            .map_err(|_| CaveatError::InvalidTimestamp(value.to_owned()));
    }
    Ok(CaveatKind::Other)
}

impl fmt::Display for Caveat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.condition, self.value)
    }
}

impl core::str::FromStr for Caveat {
    type Err = CaveatError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// What a caveat means under Aperture's conventions.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CaveatKind<'a> {
    /// `services=…`.
    Services(Vec<Service>),
    /// `<service>_capabilities=…`.
    Capabilities {
        /// The service.
        service: &'a str,
        /// The allowed capabilities (possibly none).
        capabilities: Vec<&'a str>,
    },
    /// `<service>_valid_until=…`.
    ValidUntil {
        /// The service.
        service: &'a str,
        /// Unix seconds; valid while now is before it.
        until: u64,
    },
    /// `preimage=…`.
    Preimage(crate::Preimage),
    /// Any other condition (user-defined, or unknown).
    Other,
}

fn parse_services(value: &str) -> Result<Vec<Service>, CaveatError> {
    check_services(value)?;
    service_entries(value)
        .map(|(name, tier)| Service::with_tier(name, tier))
        .collect()
}

fn parse_capabilities(value: &str) -> Result<Vec<&str>, CaveatError> {
    check_capabilities(value)?;
    Ok(capability_list(value).collect())
}

/// Seconds since the Unix epoch, 0 for earlier times.
#[must_use]
pub fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The `SystemTime` of a Unix timestamp in seconds.
#[must_use]
pub fn from_unix_seconds(secs: u64) -> SystemTime {
    UNIX_EPOCH
        .checked_add(Duration::from_secs(secs))
        .unwrap_or(UNIX_EPOCH)
}

/// Checks a user-defined caveat condition.
///
/// Register satisfiers with [`VerifierBuilder::satisfier`](crate::VerifierBuilder::satisfier).
/// The verifier calls [`satisfy_previous`](Self::satisfy_previous) for every occurrence after
/// the first (it must refuse any value wider than the one before), then
/// [`satisfy_final`](Self::satisfy_final) once with the last value against the request.
///
/// ```
/// use l402_core::{CaveatSatisfier, VerifyContext};
///
/// /// `max_items=<n>`: a later caveat may only lower the limit.
/// struct MaxItems;
/// impl CaveatSatisfier for MaxItems {
///     fn condition(&self) -> &str { "max_items" }
///     fn satisfy_previous(&self, previous: &str, current: &str) -> Result<(), String> {
///         let (p, c) = (previous.parse::<u64>(), current.parse::<u64>());
///         match (p, c) {
///             (Ok(p), Ok(c)) if c <= p => Ok(()),
///             _ => Err("limit can only be lowered".into()),
///         }
///     }
///     fn satisfy_final(&self, value: &str, ctx: &VerifyContext<'_>) -> Result<(), String> {
///         let limit: u64 = value.parse().map_err(|_| "not a number")?;
///         let asked: u64 = ctx.attribute("items").and_then(|v| v.parse().ok()).unwrap_or(0);
///         if asked <= limit { Ok(()) } else { Err(format!("at most {limit} items")) }
///     }
/// }
/// ```
pub trait CaveatSatisfier: Send + Sync {
    /// The condition this satisfier checks.
    fn condition(&self) -> &str;

    /// Checks that `current` is no wider than `previous` (attenuation).
    ///
    /// # Errors
    /// A short lower-case reason; it may reach logs, not the client.
    fn satisfy_previous(&self, previous: &str, current: &str) -> Result<(), String>;

    /// Checks the last value against the request.
    ///
    /// # Errors
    /// A short lower-case reason; it may reach logs, not the client.
    fn satisfy_final(&self, value: &str, ctx: &crate::VerifyContext<'_>) -> Result<(), String>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_aperture_caveats() {
        let c = Caveat::parse("services=my_api:0, other:2").unwrap();
        assert_eq!(
            c.kind().unwrap(),
            CaveatKind::Services(vec![
                Service::with_tier("my_api", 0).unwrap(),
                Service::with_tier("other", 2).unwrap()
            ])
        );
        let c = Caveat::parse("my_api_valid_until=1735689600").unwrap();
        assert_eq!(
            c.kind().unwrap(),
            CaveatKind::ValidUntil {
                service: "my_api",
                until: 1_735_689_600
            }
        );
        let c = Caveat::parse("foo_capabilities=read,write").unwrap();
        assert_eq!(
            c.kind().unwrap(),
            CaveatKind::Capabilities {
                service: "foo",
                capabilities: vec!["read", "write"]
            }
        );
        let c = Caveat::parse("foo_capabilities=").unwrap();
        assert_eq!(
            c.kind().unwrap(),
            CaveatKind::Capabilities {
                service: "foo",
                capabilities: vec![]
            }
        );
        assert_eq!(
            Caveat::parse("ip=1.2.3.4").unwrap().kind().unwrap(),
            CaveatKind::Other
        );
        assert_eq!(
            Caveat::parse("a=b=c").unwrap().value(),
            "b=c",
            "split at the first '='"
        );
    }

    #[test]
    fn rejects_malformed_caveats() {
        assert_eq!(Caveat::parse("novalue"), Err(CaveatError::MissingEquals));
        assert_eq!(Caveat::parse("=x"), Err(CaveatError::EmptyCondition));
        assert!(matches!(
            Caveat::parse("services=").unwrap().kind(),
            Err(CaveatError::InvalidServices(_))
        ));
        assert!(matches!(
            Caveat::parse("services=a:256").unwrap().kind(),
            Err(CaveatError::InvalidServices(_))
        ));
        assert!(matches!(
            Caveat::parse("services=a").unwrap().kind(),
            Err(CaveatError::InvalidServices(_))
        ));
        assert!(matches!(
            Caveat::parse("a_valid_until=-1").unwrap().kind(),
            Err(CaveatError::InvalidTimestamp(_))
        ));
        assert_eq!(
            Caveat::parse("preimage=00").unwrap().kind(),
            Err(CaveatError::InvalidPreimage)
        );
        assert!(Service::new("a:b").is_err());
        assert!(Service::new("").is_err());
    }

    #[test]
    fn builds_caveats_in_aperture_form() {
        let s = Service::new("foo").unwrap();
        assert_eq!(
            Caveat::services(std::slice::from_ref(&s))
                .unwrap()
                .to_string(),
            "services=foo:0"
        );
        assert_eq!(
            Caveat::capabilities(&s, &["read", "write"])
                .unwrap()
                .to_string(),
            "foo_capabilities=read,write"
        );
        assert_eq!(
            Caveat::valid_until(&s, from_unix_seconds(1_893_456_000)).to_string(),
            "foo_valid_until=1893456000"
        );
        assert!(Caveat::capabilities(&s, &["a b"]).is_err());
    }

    proptest::proptest! {
        #[test]
        fn quick_split_agrees_with_the_general_one(
            s in "[ a-z_=:,\t\u{e9}\u{a0}\u{1}]{0,16}(=[ a-z:,=]{0,8})?",
        ) {
            proptest::prop_assert_eq!(split(&s), split_general(&s));
        }
    }
}
