//! LND macaroons: the permissions in the identifier, and LND's own first-party caveats.
//!
//! LND bakes its macaroons with `macaroon-bakery`: the identifier is one version byte
//! (`3`, bakery's `Version3`; LND refuses any other) followed by the protobuf message
//! `MacaroonId` (`lnrpc/lightning.proto`, the same as the bakery's `macaroonpb`):
//!
//! ```text
//! message MacaroonId { bytes nonce = 1; bytes storageId = 2; repeated Op ops = 3; }
//! message Op         { string entity = 1; repeated string actions = 2; }
//! ```
//!
//! [`MacaroonId::decode`] reads exactly that message with a small strict protobuf reader:
//! length-delimited fields only, each field number at most once (but `ops` and
//! `actions`), no unknown fields, minimal-length varints, UTF-8 strings, and size caps on
//! every part. The caveats LND enforces itself (added by `lncli constrainmacaroon`, from
//! LND's `macaroons/constraints.go`) are `time-before <RFC 3339 time>` (the bakery's
//! `TimeBeforeCaveat`) and `ipaddr <address>`; [`time_before_caveat`] and
//! [`ip_lock_caveat`] write them.
//!
//! ```
//! use l402_core::node_credential::lnd::{MacaroonId, Op};
//!
//! let id = MacaroonId::new(vec![1; 16], b"0".to_vec(), vec![Op::new("invoices", ["read", "write"])]);
//! let bytes = id.encode();
//! assert_eq!(MacaroonId::decode(&bytes).unwrap(), id);
//! ```

use core::fmt;
use std::net::IpAddr;
use std::time::SystemTime;

use super::{CredentialRole, Excess};
use crate::Macaroon;
use crate::macaroon::DecodeError;

/// The identifier version LND accepts (the bakery's `Version3`).
pub const ID_VERSION: u8 = 3;
/// The longest nonce accepted (LND's are 16 bytes).
pub const MAX_NONCE_LEN: usize = 64;
/// The longest storage id accepted (LND's root key ids are short, `0` by default).
pub const MAX_STORAGE_ID_LEN: usize = 128;
/// The most operations in one identifier.
pub const MAX_OPS: usize = 256;
/// The most actions in one operation.
pub const MAX_ACTIONS: usize = 256;
/// The longest entity or action (URI permissions are gRPC method paths).
pub const MAX_NAME_LEN: usize = 256;

/// Where in the identifier a decoding error was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdPart {
    /// The `MacaroonId` message.
    MacaroonId,
    /// The operation at this zero-based index.
    Op(usize),
}

impl fmt::Display for IdPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdPart::MacaroonId => f.write_str("the macaroon id"),
            IdPart::Op(i) => write!(f, "operation {i}"),
        }
    }
}

/// Why an identifier is not an LND `MacaroonId`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// No identifier bytes.
    #[error("empty identifier")]
    Empty,
    /// The version byte is not 3.
    #[error("identifier version {0} is not an lnd macaroon id (expected 3)")]
    Version(u8),
    /// The message ends in the middle of a field.
    #[error("truncated field in {0}")]
    Truncated(IdPart),
    /// A varint is longer than ten bytes, not minimal, or too large.
    #[error("invalid varint in {0}")]
    Varint(IdPart),
    /// A field number or wire type the message does not have, or a single field repeated.
    #[error("unexpected field {field} (wire type {wire_type}) in {part}")]
    UnexpectedField {
        /// Where.
        part: IdPart,
        /// The field number.
        field: u64,
        /// The wire type.
        wire_type: u8,
    },
    /// A field longer than its cap.
    #[error("field of {len} bytes in {part} exceeds the limit of {max}")]
    TooLong {
        /// Where.
        part: IdPart,
        /// Its length.
        len: u64,
        /// The cap.
        max: usize,
    },
    /// More operations or actions than the caps.
    #[error("too many entries in {0}")]
    TooMany(IdPart),
    /// An entity or action that is empty or not UTF-8.
    #[error("invalid name in {0}")]
    Name(IdPart),
    /// An identifier without a nonce or without operations.
    #[error("the macaroon id has no {0}")]
    Missing(&'static str),
}

/// One operation: an entity and the actions allowed on it (`invoices` → `read`, `write`).
/// The entity `uri` lists gRPC method paths as actions.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Op {
    /// The entity (`invoices`, `offchain`, `onchain`, `uri`...).
    pub entity: String,
    /// Its actions (`read`, `write`, `generate`, or method paths for `uri`).
    pub actions: Vec<String>,
}

impl Op {
    /// An operation.
    pub fn new<I, S>(entity: impl Into<String>, actions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Op {
            entity: entity.into(),
            actions: actions.into_iter().map(Into::into).collect(),
        }
    }
}

/// The identifier of an LND macaroon.
#[derive(Clone, PartialEq, Eq)]
pub struct MacaroonId {
    /// The random nonce.
    pub nonce: Vec<u8>,
    /// The id of the root key in LND's store (`0` for the default key).
    pub storage_id: Vec<u8>,
    /// The permissions.
    pub ops: Vec<Op>,
}

impl fmt::Debug for MacaroonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MacaroonId")
            .field("nonce", &crate::encoding::hex_encode(&self.nonce))
            .field("storage_id", &String::from_utf8_lossy(&self.storage_id))
            .field("ops", &self.ops)
            .finish()
    }
}

const WIRE_LEN: u8 = 2;

struct Reader<'a> {
    rest: &'a [u8],
    part: IdPart,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, IdError> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let (&b, rest) = self
                .rest
                .split_first()
                .ok_or(IdError::Truncated(self.part))?;
            self.rest = rest;
            let bits = u64::from(b & 0x7f);
            if i == 9 && b > 1 {
                return Err(IdError::Varint(self.part));
            }
            value |= bits << (7 * i);
            if b & 0x80 == 0 {
                if i > 0 && b == 0 {
                    return Err(IdError::Varint(self.part));
                }
                return Ok(value);
            }
        }
        Err(IdError::Varint(self.part))
    }

    /// The next field: its number and its length-delimited payload.
    fn field(&mut self, max: impl Fn(u64) -> Option<usize>) -> Result<(u64, &'a [u8]), IdError> {
        let key = self.varint()?;
        let number = key >> 3;
        let wire_type = (key & 7) as u8;
        let cap = max(number).filter(|_| wire_type == WIRE_LEN);
        let Some(cap) = cap else {
            return Err(IdError::UnexpectedField {
                part: self.part,
                field: number,
                wire_type,
            });
        };
        let len = self.varint()?;
        if len > cap as u64 {
            return Err(IdError::TooLong {
                part: self.part,
                len,
                max: cap,
            });
        }
        let len = usize::try_from(len).map_err(|_| IdError::Truncated(self.part))?;
        if len > self.rest.len() {
            return Err(IdError::Truncated(self.part));
        }
        let (payload, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok((number, payload))
    }
}

fn name(bytes: &[u8], part: IdPart) -> Result<String, IdError> {
    match core::str::from_utf8(bytes) {
        Ok(s) if !s.is_empty() => Ok(s.to_owned()),
        _ => Err(IdError::Name(part)),
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_field(out: &mut Vec<u8>, number: u64, payload: &[u8]) {
    put_varint(out, number << 3 | u64::from(WIRE_LEN));
    put_varint(out, payload.len() as u64);
    out.extend_from_slice(payload);
}

impl MacaroonId {
    /// An identifier.
    #[must_use]
    pub fn new(nonce: Vec<u8>, storage_id: Vec<u8>, ops: Vec<Op>) -> Self {
        MacaroonId {
            nonce,
            storage_id,
            ops,
        }
    }

    /// Reads an identifier: the version byte `3`, then a `MacaroonId`.
    ///
    /// # Errors
    /// [`IdError`] for anything but exactly that message within the caps.
    pub fn decode(identifier: &[u8]) -> Result<Self, IdError> {
        let (&version, message) = identifier.split_first().ok_or(IdError::Empty)?;
        if version != ID_VERSION {
            return Err(IdError::Version(version));
        }
        let mut r = Reader {
            rest: message,
            part: IdPart::MacaroonId,
        };
        let (mut nonce, mut storage_id) = (None, None);
        let mut ops = Vec::new();
        while !r.rest.is_empty() {
            let (number, payload) = r.field(|n| match n {
                1 => Some(MAX_NONCE_LEN),
                2 => Some(MAX_STORAGE_ID_LEN),
                3 => Some(crate::macaroon::MAX_IDENTIFIER_LEN),
                _ => None,
            })?;
            let slot = match number {
                1 => &mut nonce,
                2 => &mut storage_id,
                _ => {
                    if ops.len() == MAX_OPS {
                        return Err(IdError::TooMany(IdPart::MacaroonId));
                    }
                    ops.push(Self::decode_op(payload, IdPart::Op(ops.len()))?);
                    continue;
                }
            };
            if slot.replace(payload.to_vec()).is_some() {
                return Err(IdError::UnexpectedField {
                    part: IdPart::MacaroonId,
                    field: number,
                    wire_type: WIRE_LEN,
                });
            }
        }
        let nonce = nonce
            .filter(|n| !n.is_empty())
            .ok_or(IdError::Missing("nonce"))?;
        if ops.is_empty() {
            return Err(IdError::Missing("operations"));
        }
        Ok(MacaroonId {
            nonce,
            storage_id: storage_id.unwrap_or_default(),
            ops,
        })
    }

    fn decode_op(bytes: &[u8], part: IdPart) -> Result<Op, IdError> {
        let mut r = Reader { rest: bytes, part };
        let mut entity = None;
        let mut actions = Vec::new();
        while !r.rest.is_empty() {
            let (number, payload) = r.field(|n| (n == 1 || n == 2).then_some(MAX_NAME_LEN))?;
            if number == 1 {
                if entity.replace(name(payload, part)?).is_some() {
                    return Err(IdError::UnexpectedField {
                        part,
                        field: 1,
                        wire_type: WIRE_LEN,
                    });
                }
            } else {
                if actions.len() == MAX_ACTIONS {
                    return Err(IdError::TooMany(part));
                }
                actions.push(name(payload, part)?);
            }
        }
        let entity = entity.ok_or(IdError::Name(part))?;
        if actions.is_empty() {
            return Err(IdError::Name(part));
        }
        Ok(Op { entity, actions })
    }

    /// The identifier bytes: the version byte and the message, fields in number order (as
    /// Go's protobuf writes them).
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![ID_VERSION];
        if !self.nonce.is_empty() {
            put_field(&mut out, 1, &self.nonce);
        }
        if !self.storage_id.is_empty() {
            put_field(&mut out, 2, &self.storage_id);
        }
        for op in &self.ops {
            let mut inner = Vec::new();
            put_field(&mut inner, 1, op.entity.as_bytes());
            for action in &op.actions {
                put_field(&mut inner, 2, action.as_bytes());
            }
            put_field(&mut out, 3, &inner);
        }
        out
    }

    /// Every permission as `entity:action`, sorted and without duplicates.
    #[must_use]
    pub fn permissions(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .ops
            .iter()
            .flat_map(|op| op.actions.iter().map(move |a| format!("{}:{a}", op.entity)))
            .collect();
        all.sort();
        all.dedup();
        all
    }

    /// What the permissions allow beyond `role`. An invoice backend needs
    /// `invoices:read invoices:write` (and uses `info:read`), a payment backend
    /// `offchain:read offchain:write` (and `info:read`); `uri` permissions for the same
    /// calls count as those.
    #[must_use]
    pub fn excess(&self, role: CredentialRole) -> Excess {
        let mut needed: Vec<&str> = vec!["info:read", "uri:/lnrpc.Lightning/GetInfo"];
        if role.invoices() {
            needed.extend([
                "invoices:read",
                "invoices:write",
                "uri:/lnrpc.Lightning/AddInvoice",
                "uri:/lnrpc.Lightning/LookupInvoice",
            ]);
        }
        if role.pays() {
            needed.extend([
                "offchain:read",
                "offchain:write",
                "uri:/routerrpc.Router/SendPaymentV2",
                "uri:/routerrpc.Router/TrackPaymentV2",
            ]);
        }
        let permissions: Vec<String> = self
            .permissions()
            .into_iter()
            .filter(|p| !needed.contains(&p.as_str()))
            .collect();
        let can_spend = permissions.iter().any(|p| can_spend(p));
        Excess {
            permissions,
            can_spend,
        }
    }

    /// Whether the permissions can move the node's money (or bake a macaroon that can).
    #[must_use]
    pub fn can_spend(&self) -> bool {
        self.permissions().iter().any(|p| can_spend(p))
    }

    /// Whether this looks like LND's `admin.macaroon`: write on both `offchain` and
    /// `onchain`, and `macaroon:generate`.
    #[must_use]
    pub fn is_admin(&self) -> bool {
        let p = self.permissions();
        ["offchain:write", "onchain:write", "macaroon:generate"]
            .iter()
            .all(|need| p.iter().any(|have| have == need))
    }
}

/// gRPC methods that move money, sign for the wallet or mint credentials.
const SPENDING_METHODS: &[&str] = &[
    "SendCoins",
    "SendMany",
    "SendPayment",
    "SendPaymentSync",
    "SendPaymentV2",
    "SendToRoute",
    "SendToRouteSync",
    "SendToRouteV2",
    "OpenChannel",
    "OpenChannelSync",
    "BatchOpenChannel",
    "CloseChannel",
    "AbandonChannel",
    "FundPsbt",
    "SignPsbt",
    "FinalizePsbt",
    "PublishTransaction",
    "SignOutputRaw",
    "ComputeInputScript",
    "BakeMacaroon",
];

/// Whether one `entity:action` permission can move money: `offchain:write` (pay),
/// `onchain:write` (send coins), `signer:generate` (sign for the wallet's keys),
/// `macaroon:generate` (bake a macaroon with any permission), or a `uri` permission for
/// such a method.
#[must_use]
pub fn can_spend(permission: &str) -> bool {
    match permission {
        "offchain:write" | "onchain:write" | "signer:generate" | "macaroon:generate" => true,
        p => p
            .strip_prefix("uri:")
            .and_then(|path| path.rsplit('/').next())
            .is_some_and(|method| SPENDING_METHODS.contains(&method)),
    }
}

/// Why bytes are not an LND macaroon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InspectError {
    /// Not a V2 macaroon (binary, or hex of one).
    #[error("not a macaroon")]
    Macaroon(#[source] DecodeError),
    /// A macaroon whose identifier is not LND's.
    #[error("not an lnd macaroon")]
    Identifier(#[source] IdError),
}

/// An LND macaroon and its decoded identifier. The macaroon is a secret (it authenticates
/// to the node): `Debug` shows only the identifier and the caveats.
#[derive(Clone)]
pub struct LndMacaroon {
    macaroon: Macaroon,
    id: MacaroonId,
}

impl fmt::Debug for LndMacaroon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LndMacaroon")
            .field("id", &self.id)
            .field("caveats", &self.macaroon.caveats())
            .finish_non_exhaustive()
    }
}

impl LndMacaroon {
    /// Reads a macaroon as LND writes it (`admin.macaroon`: binary V2) or as hex of that
    /// (what `lncli bakemacaroon` prints; surrounding white space is ignored).
    ///
    /// # Errors
    /// [`InspectError`]: not a macaroon, or not one of LND's.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, InspectError> {
        let macaroon = match bytes.first() {
            Some(0x02) => Macaroon::decode(bytes),
            _ => match core::str::from_utf8(bytes) {
                Ok(text) => Macaroon::from_hex(text.trim()),
                Err(_) => Macaroon::decode(bytes),
            },
        }
        .map_err(InspectError::Macaroon)?;
        Self::from_macaroon(macaroon)
    }

    /// Checks that a decoded macaroon has an LND identifier.
    ///
    /// # Errors
    /// [`InspectError::Identifier`].
    pub fn from_macaroon(macaroon: Macaroon) -> Result<Self, InspectError> {
        let id = MacaroonId::decode(macaroon.identifier()).map_err(InspectError::Identifier)?;
        Ok(LndMacaroon { macaroon, id })
    }

    /// The identifier.
    #[must_use]
    pub fn id(&self) -> &MacaroonId {
        &self.id
    }

    /// The macaroon.
    #[must_use]
    pub fn macaroon(&self) -> &Macaroon {
        &self.macaroon
    }

    /// The first-party caveats, in order.
    #[must_use]
    pub fn caveats(&self) -> Vec<String> {
        self.macaroon.caveats().map(str::to_owned).collect()
    }

    /// The macaroon with one more first-party caveat (the signature chain continues from
    /// the current signature; no key is needed).
    ///
    /// # Errors
    /// [`crate::macaroon::BuildError`] when the caveat or the macaroon would be too long.
    pub fn with_caveat(&self, caveat: &str) -> Result<Self, crate::macaroon::BuildError> {
        let mut macaroon = self.macaroon.clone();
        macaroon.add_first_party_caveat(caveat)?;
        Ok(LndMacaroon {
            macaroon,
            id: self.id.clone(),
        })
    }
}

/// LND's time caveat (`macaroons.TimeoutConstraint`, the bakery's `TimeBeforeCaveat`):
/// `time-before <RFC 3339 UTC time>`, here in whole seconds.
#[must_use]
pub fn time_before_caveat(not_after: SystemTime) -> String {
    format!(
        "time-before {}",
        crate::payment_scheme::format_rfc3339(not_after)
    )
}

/// LND's IP lock (`macaroons.IPLockConstraint`): `ipaddr <address>`, the address as Go
/// prints it (an IPv4-mapped IPv6 address as plain IPv4).
#[must_use]
pub fn ip_lock_caveat(ip: IpAddr) -> String {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    format!("ipaddr {ip}")
}

/// A first-party caveat LND checks itself, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LndCaveat {
    /// `time-before T`: refused from `T` on.
    TimeBefore(SystemTime),
    /// `ipaddr A`: only from this address.
    IpAddr(IpAddr),
    /// Anything else (`iprange`, `lnd-custom`, unknown conditions).
    Other(String),
}

impl LndCaveat {
    /// Parses one caveat; a `time-before` or `ipaddr` with an unreadable value is `Other`
    /// (LND refuses such a macaroon).
    #[must_use]
    pub fn parse(caveat: &str) -> Self {
        if let Some(t) = caveat.strip_prefix("time-before ")
            && let Ok(t) = crate::payment_scheme::parse_rfc3339(t)
        {
            return LndCaveat::TimeBefore(t);
        }
        if let Some(a) = caveat.strip_prefix("ipaddr ")
            && let Ok(a) = a.parse::<IpAddr>()
        {
            return LndCaveat::IpAddr(a);
        }
        LndCaveat::Other(caveat.to_owned())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn admin() -> MacaroonId {
        let ops = [
            "address", "info", "invoices", "macaroon", "message", "offchain", "onchain", "peers",
            "signer",
        ]
        .into_iter()
        .map(|e| Op::new(e, ["read", "write"]))
        .chain([Op::new("macaroon", ["generate"])])
        .collect();
        MacaroonId::new(vec![7; 16], b"0".to_vec(), ops)
    }

    #[test]
    fn round_trip_and_known_bytes() {
        let id = MacaroonId::new(vec![0xaa], b"0".to_vec(), vec![Op::new("info", ["read"])]);
        let bytes = id.encode();
        // 03 | nonce: 0a 01 aa | storageId: 12 01 30 | ops: 1a 0c (0a 04 "info" 12 04 "read")
        assert_eq!(
            crate::encoding::hex_encode(&bytes),
            "030a01aa1201301a0c0a04696e666f120472656164"
        );
        assert_eq!(MacaroonId::decode(&bytes).unwrap(), id);
    }

    #[test]
    fn roles_and_excess() {
        let invoice = MacaroonId::new(
            vec![1],
            vec![],
            vec![Op::new("invoices", ["read", "write"])],
        );
        assert!(invoice.excess(CredentialRole::Invoice).is_empty());
        assert!(!invoice.can_spend());
        let pay = invoice.excess(CredentialRole::Payment);
        assert_eq!(pay.permissions, ["invoices:read", "invoices:write"]);
        assert!(!pay.can_spend);
        let a = admin();
        assert!(a.is_admin());
        let ex = a.excess(CredentialRole::Invoice);
        assert!(ex.can_spend);
        assert!(ex.permissions.contains(&"onchain:write".to_owned()));
        assert!(ex.permissions.contains(&"offchain:write".to_owned()));
        assert!(!ex.permissions.contains(&"invoices:write".to_owned()));
        let uri = MacaroonId::new(
            vec![1],
            vec![],
            vec![Op::new(
                "uri",
                ["/lnrpc.Lightning/AddInvoice", "/lnrpc.Lightning/SendCoins"],
            )],
        );
        let ex = uri.excess(CredentialRole::Invoice);
        assert_eq!(ex.permissions, ["uri:/lnrpc.Lightning/SendCoins"]);
        assert!(ex.can_spend);
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        let good = admin().encode();
        assert_eq!(MacaroonId::decode(&[]), Err(IdError::Empty));
        assert_eq!(MacaroonId::decode(&[2, 0x0a]), Err(IdError::Version(2)));
        for cut in 1..good.len() {
            // A cut on an operation boundary is a shorter, valid id; never the same one.
            assert_ne!(
                MacaroonId::decode(&good[..cut]),
                Ok(admin()),
                "cut at {cut}"
            );
        }
        assert!(MacaroonId::decode(&good[..good.len() - 1]).is_err());
        // A varint field (wire type 0) where bytes are expected.
        assert!(matches!(
            MacaroonId::decode(&[3, 0x08, 0x01]),
            Err(IdError::UnexpectedField { wire_type: 0, .. })
        ));
        // Unknown field 4.
        assert!(matches!(
            MacaroonId::decode(&[3, 0x22, 0x00]),
            Err(IdError::UnexpectedField { field: 4, .. })
        ));
        // Two nonces.
        assert!(matches!(
            MacaroonId::decode(&[3, 0x0a, 1, 1, 0x0a, 1, 2]),
            Err(IdError::UnexpectedField { field: 1, .. })
        ));
        // Non-minimal varint length.
        assert_eq!(
            MacaroonId::decode(&[3, 0x0a, 0x81, 0x00, 1]),
            Err(IdError::Varint(IdPart::MacaroonId))
        );
        // An eleven-byte varint.
        let mut long = vec![3];
        long.extend([0xff; 10]);
        long.push(1);
        assert_eq!(
            MacaroonId::decode(&long),
            Err(IdError::Varint(IdPart::MacaroonId))
        );
        // A nonce over the cap.
        let mut big = vec![3, 0x0a, 65];
        big.extend([0; 65]);
        assert!(matches!(
            MacaroonId::decode(&big),
            Err(IdError::TooLong { max: 64, .. })
        ));
        // No operations.
        assert_eq!(
            MacaroonId::decode(&[3, 0x0a, 1, 1]),
            Err(IdError::Missing("operations"))
        );
        // An action that is not UTF-8.
        assert_eq!(
            MacaroonId::decode(&[3, 0x0a, 1, 1, 0x1a, 6, 0x0a, 1, b'a', 0x12, 1, 0xff]),
            Err(IdError::Name(IdPart::Op(0)))
        );
    }

    #[test]
    fn constraint_strings_are_lnds() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        assert_eq!(time_before_caveat(t), "time-before 2023-11-14T22:13:20Z");
        assert_eq!(
            LndCaveat::parse(&time_before_caveat(t)),
            LndCaveat::TimeBefore(t)
        );
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(ip_lock_caveat(mapped), "ipaddr 10.0.0.1");
        assert_eq!(
            ip_lock_caveat("2001:db8::1".parse().unwrap()),
            "ipaddr 2001:db8::1"
        );
        assert_eq!(
            LndCaveat::parse("ipaddr 10.0.0.1"),
            LndCaveat::IpAddr("10.0.0.1".parse().unwrap())
        );
        assert_eq!(
            LndCaveat::parse("ipaddr nope"),
            LndCaveat::Other("ipaddr nope".into())
        );
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut with_version = vec![3];
            with_version.extend(&bytes);
            if let Ok(id) = MacaroonId::decode(&with_version) {
                prop_assert_eq!(MacaroonId::decode(&id.encode()), Ok(id));
            }
            let _ = MacaroonId::decode(&bytes);
        }

        #[test]
        fn encode_decode_round_trips(
            nonce in proptest::collection::vec(any::<u8>(), 1..64),
            storage in proptest::collection::vec(any::<u8>(), 0..32),
            ops in proptest::collection::vec(
                ("[a-z]{1,12}", proptest::collection::vec("[a-z/.]{1,20}", 1..4)),
                1..6,
            ),
        ) {
            let id = MacaroonId::new(
                nonce,
                storage,
                ops.into_iter().map(|(e, a)| Op::new(e, a)).collect(),
            );
            prop_assert_eq!(MacaroonId::decode(&id.encode()), Ok(id));
        }
    }
}
