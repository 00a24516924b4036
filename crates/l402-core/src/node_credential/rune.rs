//! Core Lightning runes (`ccan/rune`, as `createrune` makes them).
//!
//! A rune is URL-safe base64 of 32 bytes of SHA-256 state followed by its restriction
//! text. The text is restrictions joined by `&`; a restriction is alternatives joined by
//! `|` (it passes when one alternative does); an alternative is a field name (up to the
//! first punctuation other than `_`), a condition (one of `!=/^$~<>{}#`) and a value in
//! which `\`, `|` and `&` are escaped with `\`. The first restriction may be the unique
//! id, `=<id>` or `=<id>-<version>` (the empty field name).
//!
//! The state is SHA-256 run, without finalisation, over the node's secret and then each
//! restriction, every part padded exactly as SHA-256 pads a message. So anyone holding a
//! rune can append a restriction ([`Rune::restrict`]) without the secret, and the node
//! accepts the result; no one can remove one.
//!
//! ```
//! use l402_core::node_credential::rune::Rune;
//!
//! let master = Rune::from_secret(&[0; 16]).unwrap();
//! assert_eq!(master.to_base64(), "N0cI__dxndWXnsh11WzSKG9tPPfsMXo7JWMqqyjsN7s=");
//! let r = master.restrict("f1=v1").unwrap();
//! assert_eq!(r.to_base64(), "dFxuOc1B7p-DiK-K2IK65O5Oj2s3P3aCzGTYV0VR-l9mMT12MQ==");
//! ```

use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE;
use sha2::compress256;
use sha2::digest::generic_array::GenericArray;
use zeroize::Zeroize;

use super::{CredentialRole, Excess};

/// The longest rune text accepted (base64 characters).
pub const MAX_RUNE_LEN: usize = 4096;
/// The most restrictions in one rune.
pub const MAX_RESTRICTIONS: usize = 64;
/// The most alternatives in one restriction.
pub const MAX_ALTERNATIVES: usize = 64;

/// The conditions of the restriction format.
pub const CONDITIONS: &str = "!=/^$~<>{}#";

/// Why text is not a rune, or a restriction cannot be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuneError {
    /// Longer than [`MAX_RUNE_LEN`].
    #[error("rune of {0} characters exceeds the size limit")]
    TooLong(usize),
    /// Not URL-safe base64.
    #[error("rune is not url-safe base64")]
    Base64,
    /// Fewer than 32 bytes.
    #[error("rune is shorter than its 32-byte hash")]
    Short,
    /// The restriction text is not UTF-8 or holds a NUL.
    #[error("rune restrictions are not text")]
    Text,
    /// A malformed restriction, with the reason.
    #[error("malformed restriction {index}: {reason}")]
    Restriction {
        /// Zero-based index.
        index: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// More than [`MAX_RESTRICTIONS`] or [`MAX_ALTERNATIVES`].
    #[error("too many restrictions or alternatives")]
    TooMany,
    /// A master secret that does not fit one SHA-256 block with its padding.
    #[error("a rune secret is 1 to 55 bytes")]
    Secret,
}

/// One alternative: `<field><condition><value>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Alternative {
    /// The field name (`method`, `pnameamount_msat`, `time`, empty for the unique id).
    pub field: String,
    /// The condition character, one of [`CONDITIONS`].
    pub condition: char,
    /// The value, unescaped.
    pub value: String,
}

impl Alternative {
    /// Parses one alternative as `createrune`'s JSON form gives it
    /// (`"pnamemaxfee<10001"`): the field name up to the first punctuation other than `_`,
    /// the condition, and the rest taken literally as the value (nothing is escaped in
    /// that form).
    ///
    /// # Errors
    /// [`RuneError::Restriction`] without a known condition.
    pub fn parse(text: &str) -> Result<Self, RuneError> {
        let bad = |reason| RuneError::Restriction { index: 0, reason };
        let at = text
            .find(|c: char| c.is_ascii_punctuation() && c != '_')
            .ok_or(bad("alternative without a condition"))?;
        let (field, rest) = text.split_at(at);
        let mut chars = rest.chars();
        let condition = chars.next().ok_or(bad("alternative without a condition"))?;
        if !CONDITIONS.contains(condition) {
            return Err(bad("unknown condition"));
        }
        Ok(Alternative {
            field: field.to_owned(),
            condition,
            value: chars.as_str().to_owned(),
        })
    }

    fn encode_into(&self, out: &mut String) {
        out.push_str(&self.field);
        out.push(self.condition);
        for c in self.value.chars() {
            if matches!(c, '\\' | '|' | '&') {
                out.push('\\');
            }
            out.push(c);
        }
    }

    /// Whether this alternative can pass for a call of `method`: a `method` alternative is
    /// evaluated; one on any other field (a parameter, the time, the rate) is assumed to
    /// pass, since a caller can choose it.
    fn may_pass(&self, method: &str) -> bool {
        if self.field != "method" {
            return true;
        }
        let v = self.value.as_str();
        match self.condition {
            '=' => method == v,
            '/' => method != v,
            '^' => method.starts_with(v),
            '$' => method.ends_with(v),
            '~' => method.contains(v),
            '{' => method < v,
            '}' => method > v,
            '#' => true,
            _ => false,
        }
    }
}

impl fmt::Display for Alternative {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        self.encode_into(&mut s);
        f.write_str(&s)
    }
}

/// A restriction: passes when one of its alternatives does.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Restriction {
    /// The alternatives, at least one.
    pub alternatives: Vec<Alternative>,
}

impl Restriction {
    /// Parses one restriction's text (`method=invoice|method=listinvoices`).
    ///
    /// # Errors
    /// [`RuneError::Restriction`] (index 0) or [`RuneError::TooMany`].
    pub fn parse(text: &str) -> Result<Self, RuneError> {
        let mut chars = text.chars().peekable();
        let r = parse_restriction(&mut chars, 0)?;
        if chars.next().is_some() {
            return Err(RuneError::Restriction {
                index: 0,
                reason: "unescaped '&' in a single restriction",
            });
        }
        Ok(r)
    }

    /// The canonical text (what is hashed).
    #[must_use]
    pub fn encode(&self) -> String {
        let mut s = String::new();
        for (i, a) in self.alternatives.iter().enumerate() {
            if i > 0 {
                s.push('|');
            }
            a.encode_into(&mut s);
        }
        s
    }

    fn is_unique_id(&self) -> bool {
        self.alternatives.iter().any(|a| a.field.is_empty())
    }

    fn may_pass(&self, method: &str) -> bool {
        self.is_unique_id() || self.alternatives.iter().any(|a| a.may_pass(method))
    }
}

impl fmt::Display for Restriction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

type Chars<'a> = core::iter::Peekable<core::str::Chars<'a>>;

fn parse_restriction(chars: &mut Chars<'_>, index: usize) -> Result<Restriction, RuneError> {
    let bad = |reason| RuneError::Restriction { index, reason };
    let mut alternatives = Vec::new();
    loop {
        if alternatives.len() == MAX_ALTERNATIVES {
            return Err(RuneError::TooMany);
        }
        let mut field = String::new();
        let condition = loop {
            match chars.next() {
                None => return Err(bad("alternative without a condition")),
                Some(c) if c.is_ascii_punctuation() && c != '_' => break c,
                Some(c) => field.push(c),
            }
        };
        if !CONDITIONS.contains(condition) {
            return Err(bad("unknown condition"));
        }
        let mut value = String::new();
        let mut more = false;
        while let Some(c) = chars.next() {
            match c {
                '|' => {
                    more = true;
                    break;
                }
                '&' => break,
                '\\' => value.push(chars.next().ok_or(bad("dangling escape"))?),
                c => value.push(c),
            }
        }
        alternatives.push(Alternative {
            field,
            condition,
            value,
        });
        if !more {
            break;
        }
    }
    Ok(Restriction { alternatives })
}

/// Methods that move money, sign for the wallet, or mint or widen credentials. A rune
/// that may call one of them "can spend".
pub const SPENDING_METHODS: &[&str] = &[
    "pay",
    "xpay",
    "renepay",
    "keysend",
    "sendpay",
    "sendonion",
    "injectpaymentonion",
    "withdraw",
    "txsend",
    "sendpsbt",
    "signpsbt",
    "fundchannel",
    "fundchannel_start",
    "multifundchannel",
    "close",
    "createrune",
    "commando",
    "plugin",
];

/// A rune: its hash state and restrictions. The state authenticates to the node, so
/// `Debug` hides it and it is zeroized on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Rune {
    state: [u8; 32],
    restrictions: Vec<Restriction>,
}

impl Drop for Rune {
    fn drop(&mut self) {
        self.state.zeroize();
    }
}

impl fmt::Debug for Rune {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rune")
            .field("state", &"<redacted>")
            .field("restrictions", &self.restrictions_text())
            .finish()
    }
}

fn words(state: &[u8; 32]) -> [u32; 8] {
    let mut w = [0u32; 8];
    for (word, chunk) in w.iter_mut().zip(state.chunks_exact(4)) {
        let mut b = [0u8; 4];
        b.copy_from_slice(chunk);
        *word = u32::from_be_bytes(b);
    }
    w
}

/// Runs SHA-256 blocks over `data` followed by its padding, with `prior` bytes already
/// hashed (a multiple of 64), as `rune_sha256_endmarker` pads between parts.
fn absorb(state: &mut [u32; 8], prior: u64, data: &[u8]) -> u64 {
    let total = prior + data.len() as u64;
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&(total << 3).to_be_bytes());
    for block in msg.chunks_exact(64) {
        compress256(
            state,
            core::slice::from_ref(GenericArray::from_slice(block)),
        );
    }
    let absorbed = msg.len() as u64;
    msg.zeroize();
    prior + absorbed
}

impl Rune {
    /// A master rune from a node secret (as `ccan/rune`'s `rune_new`): no restrictions.
    ///
    /// # Errors
    /// [`RuneError::Secret`] unless the secret is 1 to 55 bytes.
    pub fn from_secret(secret: &[u8]) -> Result<Self, RuneError> {
        if secret.is_empty() || secret.len() > 55 {
            return Err(RuneError::Secret);
        }
        let mut state = [
            0x6a09_e667,
            0xbb67_ae85,
            0x3c6e_f372,
            0xa54f_f53a,
            0x510e_527f,
            0x9b05_688c,
            0x1f83_d9ab,
            0x5be0_cd19,
        ];
        absorb(&mut state, 0, secret);
        Ok(Rune::from_words(&state, Vec::new()))
    }

    fn from_words(words: &[u32; 8], restrictions: Vec<Restriction>) -> Self {
        let mut state = [0u8; 32];
        for (chunk, w) in state.chunks_exact_mut(4).zip(words) {
            chunk.copy_from_slice(&w.to_be_bytes());
        }
        Rune {
            state,
            restrictions,
        }
    }

    /// Parses a rune as `createrune` prints it (padded or unpadded URL-safe base64;
    /// surrounding white space is ignored).
    ///
    /// # Errors
    /// [`RuneError`] for anything `ccan/rune` would refuse, and beyond the size caps.
    pub fn parse(text: &str) -> Result<Self, RuneError> {
        let text = text.trim();
        if text.len() > MAX_RUNE_LEN {
            return Err(RuneError::TooLong(text.len()));
        }
        let unpadded = text.trim_end_matches('=');
        let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(unpadded)
            .map_err(|_| RuneError::Base64)?;
        if bytes.len() < 32 {
            bytes.zeroize();
            return Err(RuneError::Short);
        }
        let mut state = [0u8; 32];
        state.copy_from_slice(&bytes[..32]);
        let body = core::str::from_utf8(&bytes[32..])
            .ok()
            .filter(|t| !t.contains('\0'))
            .map(str::to_owned);
        bytes.zeroize();
        let body = body.ok_or(RuneError::Text)?;
        let mut chars = body.chars().peekable();
        let mut restrictions: Vec<Restriction> = Vec::new();
        while chars.peek().is_some() {
            if restrictions.len() == MAX_RESTRICTIONS {
                return Err(RuneError::TooMany);
            }
            let index = restrictions.len();
            let r = parse_restriction(&mut chars, index)?;
            check_unique_id(&r, index)?;
            restrictions.push(r);
        }
        Ok(Rune {
            state,
            restrictions,
        })
    }

    /// The rune as `createrune` prints it.
    #[must_use]
    pub fn to_base64(&self) -> String {
        let mut bytes = self.state.to_vec();
        bytes.extend_from_slice(self.restrictions_text().as_bytes());
        let s = URL_SAFE.encode(&bytes);
        bytes.zeroize();
        s
    }

    /// The restrictions.
    #[must_use]
    pub fn restrictions(&self) -> &[Restriction] {
        &self.restrictions
    }

    /// The restriction text (`&`-joined), without the hash.
    #[must_use]
    pub fn restrictions_text(&self) -> String {
        let parts: Vec<String> = self.restrictions.iter().map(Restriction::encode).collect();
        parts.join("&")
    }

    /// The unique id (`=<id>`), if the rune has one.
    #[must_use]
    pub fn unique_id(&self) -> Option<&str> {
        let first = self.restrictions.first()?;
        match first.alternatives.as_slice() {
            [a] if a.field.is_empty() => Some(a.value.as_str()),
            _ => None,
        }
    }

    /// The rune with one more restriction, given as text (`method=invoice|method=getinfo`
    /// or `time<1700000000`): the hash chain continues from this rune's state, so the node
    /// accepts it, and the new rune allows at most what this one does.
    ///
    /// # Errors
    /// [`RuneError`]: malformed text, a unique id (only the node sets one), or too many
    /// restrictions.
    pub fn restrict(&self, restriction: &str) -> Result<Self, RuneError> {
        let index = self.restrictions.len();
        if index == MAX_RESTRICTIONS {
            return Err(RuneError::TooMany);
        }
        let r = Restriction::parse(restriction).map_err(|e| match e {
            RuneError::Restriction { reason, .. } => RuneError::Restriction { index, reason },
            other => other,
        })?;
        self.restrict_with(r)
    }

    /// [`restrict`](Self::restrict) with a parsed restriction.
    ///
    /// # Errors
    /// [`RuneError`]: no alternatives, a unique id, or too many restrictions or
    /// alternatives.
    pub fn restrict_with(&self, r: Restriction) -> Result<Self, RuneError> {
        let index = self.restrictions.len();
        if index == MAX_RESTRICTIONS || r.alternatives.len() > MAX_ALTERNATIVES {
            return Err(RuneError::TooMany);
        }
        if r.alternatives.is_empty() {
            return Err(RuneError::Restriction {
                index,
                reason: "empty restriction",
            });
        }
        if r.is_unique_id() {
            return Err(RuneError::Restriction {
                index,
                reason: "a unique id can only come first",
            });
        }
        Ok(self.append(r))
    }

    /// A rune derived from a master rune with a unique id first (`=<id>`), as
    /// `createrune` starts every rune it makes.
    ///
    /// # Errors
    /// [`RuneError::Restriction`] if this rune already has restrictions or the id is
    /// empty or holds `-` (the version separator) or a character that needs escaping.
    pub fn with_unique_id(&self, id: &str) -> Result<Self, RuneError> {
        let bad = |reason| RuneError::Restriction { index: 0, reason };
        if !self.restrictions.is_empty() {
            return Err(bad("a unique id can only come first"));
        }
        if id.is_empty() || id.contains(['-', '\\', '|', '&']) {
            return Err(bad("invalid unique id"));
        }
        Ok(self.append(Restriction {
            alternatives: vec![Alternative {
                field: String::new(),
                condition: '=',
                value: id.to_owned(),
            }],
        }))
    }

    /// Whether `self` was derived from `master` (this rune's restrictions, added to the
    /// master one by one, give the same state), as the node checks a presented rune.
    #[must_use]
    pub fn is_derived_from(&self, master: &Rune) -> bool {
        if self.restrictions.len() < master.restrictions.len()
            || self.restrictions[..master.restrictions.len()] != master.restrictions[..]
        {
            return false;
        }
        let mut derived = master.clone();
        for r in &self.restrictions[master.restrictions.len()..] {
            derived = derived.append(r.clone());
        }
        crate::macaroon::ct_eq_32(&derived.state, &self.state)
    }

    fn append(&self, r: Restriction) -> Self {
        // Bytes hashed so far: the secret's block, then each padded restriction.
        let mut prior = 64u64;
        for existing in &self.restrictions {
            let len = existing.encode().len() as u64;
            prior += (len + 9).div_ceil(64) * 64;
        }
        let mut state = words(&self.state);
        absorb(&mut state, prior, r.encode().as_bytes());
        let mut restrictions = self.restrictions.clone();
        restrictions.push(r);
        Rune::from_words(&state, restrictions)
    }

    /// Whether the rune may call `method` (every restriction has an alternative that can
    /// pass for it; conditions on parameters or time are assumed satisfiable).
    #[must_use]
    pub fn allows_method(&self, method: &str) -> bool {
        self.restrictions.iter().all(|r| r.may_pass(method))
    }

    /// Whether no restriction limits the method (a rune that can call anything, such as
    /// `createrune` without restrictions makes).
    #[must_use]
    pub fn is_unrestricted(&self) -> bool {
        self.restrictions.iter().all(|r| {
            r.is_unique_id()
                || r.alternatives
                    .iter()
                    .any(|a| a.field != "method" || a.condition == '#')
        })
    }

    /// What the rune allows beyond `role`: `unrestricted`, or the [`SPENDING_METHODS`] it
    /// may call that the role does not need (an invoice backend calls `invoice`,
    /// `listinvoices`, `getinfo`; a payment backend `xpay`, `listpays`, `listsendpays`,
    /// `getinfo`).
    #[must_use]
    pub fn excess(&self, role: CredentialRole) -> Excess {
        if self.is_unrestricted() {
            return Excess {
                permissions: vec!["unrestricted".to_owned()],
                can_spend: true,
            };
        }
        let needed: &[&str] = if role.pays() { &["xpay"] } else { &[] };
        let permissions: Vec<String> = SPENDING_METHODS
            .iter()
            .filter(|m| !needed.contains(m) && self.allows_method(m))
            .map(|m| format!("method={m}"))
            .collect();
        let can_spend = !permissions.is_empty();
        Excess {
            permissions,
            can_spend,
        }
    }

    /// Whether the rune can spend: unrestricted, or it may call a [`SPENDING_METHODS`]
    /// method.
    #[must_use]
    pub fn can_spend(&self) -> bool {
        self.is_unrestricted() || SPENDING_METHODS.iter().any(|m| self.allows_method(m))
    }
}

fn check_unique_id(r: &Restriction, index: usize) -> Result<(), RuneError> {
    if !r.is_unique_id() {
        return Ok(());
    }
    let bad = |reason| RuneError::Restriction { index, reason };
    if index != 0 {
        return Err(bad("a unique id can only come first"));
    }
    match r.alternatives.as_slice() {
        [a] if a.condition == '=' && !a.value.is_empty() => Ok(()),
        [_] => Err(bad("a unique id must use '='")),
        _ => Err(bad("a unique id must be alone in its restriction")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    // From ccan/rune's test vectors (master secret: 16 zero bytes).
    const MASTER: &str = "N0cI__dxndWXnsh11WzSKG9tPPfsMXo7JWMqqyjsN7s=";

    #[test]
    fn ccan_vectors() {
        let master = Rune::from_secret(&[0; 16]).unwrap();
        assert_eq!(master.to_base64(), MASTER);
        assert_eq!(Rune::parse(MASTER).unwrap(), master);
        let r = master.restrict("f1=1|f2=3").unwrap();
        assert_eq!(
            r.to_base64(),
            "hcNkPcEC8KDW8g7rjClAkhUWiPrkHvfI7HJyqyORg3ZmMT0xfGYyPTM="
        );
        let r2 = r.restrict("f3~\\&\\|\\\\").unwrap();
        assert_eq!(
            r2.to_base64(),
            "S253BW1Lragb1CpCSLXYGt9AdrE4iFMlXmnO0alV5vlmMT0xfGYyPTMmZjN-XCZcfFxc"
        );
        // Parsed back, the appended restriction and its escapes survive.
        let back = Rune::parse(&r2.to_base64()).unwrap();
        assert_eq!(back.restrictions()[1].alternatives[0].value, "&|\\");
        // Unique id vectors parse, and derive from the master.
        let id = Rune::parse("YDVzGiy7Aiy-tnZFqg-KJmU9jMRU4OCH1NGdKCuNpL09MQ==").unwrap();
        assert_eq!(id.unique_id(), Some("1"));
        assert_eq!(master.with_unique_id("1").unwrap(), id);
        assert!(id.is_derived_from(&master));
        assert!(r2.is_derived_from(&master));
        assert!(
            !Rune::from_secret(&[1; 16])
                .unwrap()
                .restrict("f1=1|f2=3")
                .unwrap()
                .is_derived_from(&master)
        );
        // Dropping a restriction from the text (keeping the state) is not derived.
        let mut dropped = r2.clone();
        dropped.restrictions.pop();
        assert!(!dropped.is_derived_from(&master));
        // A unique id with the wrong condition is malformed.
        assert!(Rune::parse("YDVzGiy7Aiy-tnZFqg-KJmU9jMRU4OCH1NGdKCuNpL0hMQ==").is_err());
    }

    #[test]
    fn spending_analysis() {
        let master = Rune::from_secret(&[9; 32]).unwrap();
        assert!(master.is_unrestricted());
        assert!(master.can_spend());
        let invoice = master
            .restrict("method=invoice|method=listinvoices|method=waitinvoice|method=getinfo")
            .unwrap();
        assert!(!invoice.is_unrestricted());
        assert!(!invoice.can_spend());
        assert!(invoice.excess(CredentialRole::Invoice).is_empty());
        let payer = master
            .restrict("method=xpay|method=listpays|method=getinfo")
            .unwrap()
            .restrict("method/xpay|pnamemaxfee<10001")
            .unwrap();
        assert!(payer.can_spend());
        assert!(payer.excess(CredentialRole::Payment).is_empty());
        assert_eq!(
            payer.excess(CredentialRole::Invoice).permissions,
            ["method=xpay"]
        );
        let readonly = master
            .restrict("method^list|method^get|method=summary")
            .unwrap();
        assert!(!readonly.can_spend());
        let not_pay = master.restrict("method/pay").unwrap();
        assert!(
            not_pay.can_spend(),
            "a blacklist of one method still allows xpay"
        );
    }

    #[test]
    fn malformed_runes() {
        assert_eq!(Rune::parse("not base64!"), Err(RuneError::Base64));
        assert_eq!(Rune::parse("AAAA"), Err(RuneError::Short));
        let mut bytes = vec![0u8; 32];
        bytes.extend(b"method");
        assert!(matches!(
            Rune::parse(&URL_SAFE.encode(&bytes)),
            Err(RuneError::Restriction { .. })
        ));
        let mut bytes = vec![0u8; 32];
        bytes.extend(b"a=\\");
        assert!(Rune::parse(&URL_SAFE.encode(&bytes)).is_err());
        let mut bytes = vec![0u8; 32];
        bytes.extend([0xff, 0xfe]);
        assert_eq!(Rune::parse(&URL_SAFE.encode(&bytes)), Err(RuneError::Text));
        assert!(Rune::parse(&"A".repeat(MAX_RUNE_LEN + 1)).is_err());
        let master = Rune::from_secret(&[1]).unwrap();
        assert!(master.restrict("=5").is_err());
        assert!(master.restrict("a=1&b=2").is_err());
        assert!(master.restrict("a?1").is_err());
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,200}") {
            let _ = Rune::parse(&s);
        }

        #[test]
        fn restrict_round_trips(values in proptest::collection::vec("[ -~]{0,40}", 1..5)) {
            let mut rune = Rune::from_secret(&[3; 16]).unwrap();
            for v in &values {
                let alt = Alternative { field: "f".into(), condition: '=', value: v.clone() };
                rune = rune.restrict(&alt.to_string()).unwrap();
                prop_assert_eq!(&rune.restrictions().last().unwrap().alternatives[0].value, v);
            }
            prop_assert_eq!(Rune::parse(&rune.to_base64()).unwrap(), rune);
        }
    }
}
