//! Macaroons as the fake understands them: LND-format macaroons signed with the fake's
//! root key, checked the way LND's macaroon interceptor answers (code 2, HTTP 500, LND's
//! messages), first-party `time-before` and `ipaddr` caveats included.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::SystemTime;

use http::HeaderMap;
use l402_core::node_credential::lnd::{LndCaveat, MacaroonId, Op};
use l402_core::{Macaroon, RootKey};
use zeroize::Zeroize;

use crate::json::Status;

/// A macaroon permission: an entity and an action, as in
/// `lncli bakemacaroon invoices:read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Permission {
    /// The entity (`invoices`, `offchain`, `info`…).
    pub entity: &'static str,
    /// The action (`read` or `write`).
    pub action: &'static str,
}

impl Permission {
    /// `invoices:read`: `LookupInvoice`, `SubscribeSingleInvoice`.
    pub const INVOICES_READ: Permission = Permission::new("invoices", "read");
    /// `invoices:write`: `AddInvoice` (and `LookupInvoiceV2`).
    pub const INVOICES_WRITE: Permission = Permission::new("invoices", "write");
    /// `offchain:read`: `TrackPaymentV2`, `DecodePayReq`.
    pub const OFFCHAIN_READ: Permission = Permission::new("offchain", "read");
    /// `offchain:write`: `SendPaymentV2`.
    pub const OFFCHAIN_WRITE: Permission = Permission::new("offchain", "write");
    /// `info:read`: `GetInfo`.
    pub const INFO_READ: Permission = Permission::new("info", "read");

    /// A permission.
    #[must_use]
    pub const fn new(entity: &'static str, action: &'static str) -> Self {
        Permission { entity, action }
    }
}

/// Entities of LND's default macaroons (`readPermissions` in LND's `rpcserver.go`).
const ENTITIES: [&str; 9] = [
    "onchain", "offchain", "address", "message", "peers", "info", "invoices", "signer", "macaroon",
];

/// The write side of LND's `admin.macaroon` (`writePermissions` in `rpcserver.go`).
const ADMIN_WRITE: [Permission; 11] = [
    Permission::new("onchain", "write"),
    Permission::new("offchain", "write"),
    Permission::new("address", "write"),
    Permission::new("message", "write"),
    Permission::new("peers", "write"),
    Permission::new("info", "write"),
    Permission::new("invoices", "write"),
    Permission::new("signer", "generate"),
    Permission::new("macaroon", "generate"),
    Permission::new("macaroon", "write"),
    Permission::new("remotesigner", "generate"),
];

/// What `BakeMacaroon` needs.
pub(crate) const MACAROON_GENERATE: Permission = Permission::new("macaroon", "generate");

/// The entities and actions `BakeMacaroon` accepts without `allow_external_permissions`
/// (`validEntities` and `validActions` in LND's `rpcserver.go`, in their order).
pub(crate) const VALID_ENTITIES: [&str; 11] = [
    "onchain",
    "offchain",
    "address",
    "message",
    "remotesigner",
    "peers",
    "info",
    "invoices",
    "signer",
    "macaroon",
    "uri",
];
/// See [`VALID_ENTITIES`].
pub(crate) const VALID_ACTIONS: [&str; 3] = ["read", "write", "generate"];

/// The macaroons a fake node bakes when it starts, named after LND's files or after the
/// least-privilege sets an L402 deployment uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FakeMacaroon {
    /// `admin.macaroon`: every permission, `macaroon:generate` included (so it can bake
    /// others through `BakeMacaroon`).
    Admin,
    /// `readonly.macaroon`: read on every entity.
    Readonly,
    /// LND's stock `invoice.macaroon`: invoices read and write, address read and write,
    /// onchain read (no `info:read`, so no `GetInfo`).
    Invoice,
    /// An L402 server's least-privilege macaroon: `invoices:write invoices:read`.
    InvoiceServer,
    /// An L402 client's least-privilege macaroon: `offchain:write offchain:read`.
    PayClient,
}

impl FakeMacaroon {
    /// Every preset.
    pub const ALL: [FakeMacaroon; 5] = [
        FakeMacaroon::Admin,
        FakeMacaroon::Readonly,
        FakeMacaroon::Invoice,
        FakeMacaroon::InvoiceServer,
        FakeMacaroon::PayClient,
    ];

    pub(crate) fn permissions(self) -> Vec<Permission> {
        match self {
            FakeMacaroon::Admin => {
                let mut all: Vec<Permission> = ENTITIES
                    .iter()
                    .map(|e| Permission::new(e, "read"))
                    .collect();
                all.extend(ADMIN_WRITE);
                all
            }
            FakeMacaroon::Readonly => ENTITIES
                .iter()
                .map(|e| Permission::new(e, "read"))
                .collect(),
            FakeMacaroon::Invoice => vec![
                Permission::INVOICES_READ,
                Permission::INVOICES_WRITE,
                Permission::new("address", "read"),
                Permission::new("address", "write"),
                Permission::new("onchain", "read"),
            ],
            FakeMacaroon::InvoiceServer => {
                vec![Permission::INVOICES_WRITE, Permission::INVOICES_READ]
            }
            FakeMacaroon::PayClient => vec![Permission::OFFCHAIN_WRITE, Permission::OFFCHAIN_READ],
        }
    }
}

/// Why the fake could not bake a macaroon.
#[derive(Debug)]
pub(crate) enum BakeFailure {
    /// No random bytes for the nonce or a root key.
    Randomness(getrandom::Error),
    /// The identifier is beyond what the fake's macaroon codec takes.
    TooLarge,
}

/// The macaroons a fake node accepts: real V2 macaroons with LND's identifier (version 3
/// and a protobuf `MacaroonId`), signed with the root key of their storage id (LND keeps
/// one per `root_key_id`, made on first use; `0` is the default), so that
/// `l402 node inspect` reads them and caveats appended offline are checked as LND does.
pub(crate) struct MacaroonStore {
    root_keys: HashMap<Vec<u8>, RootKey>,
}

impl core::fmt::Debug for MacaroonStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("MacaroonStore(<redacted>)")
    }
}

fn random_root_key() -> Result<RootKey, getrandom::Error> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key)?;
    let root_key = RootKey::from_bytes(key);
    key.zeroize();
    Ok(root_key)
}

impl MacaroonStore {
    /// A store with a fresh random default root key (storage id `0`).
    pub(crate) fn new() -> Result<Self, getrandom::Error> {
        let mut root_keys = HashMap::new();
        root_keys.insert(b"0".to_vec(), random_root_key()?);
        Ok(MacaroonStore { root_keys })
    }

    /// Bakes a new macaroon with these permissions under the default root key.
    pub(crate) fn bake(
        &mut self,
        permissions: Vec<Permission>,
    ) -> Result<Vec<u8>, getrandom::Error> {
        let ops = permissions
            .into_iter()
            .map(|p| (p.entity.to_owned(), p.action.to_owned()))
            .collect();
        self.bake_ops(b"0", ops).map_err(|e| match e {
            BakeFailure::Randomness(e) => e,
            // The presets are a few short names.
            BakeFailure::TooLarge => getrandom::Error::UNSUPPORTED,
        })
    }

    /// Bakes a new macaroon as LND does: a random 16-byte nonce, the storage id (a root
    /// key made for it if new), operations sorted and grouped by entity, location `lnd`.
    pub(crate) fn bake_ops(
        &mut self,
        storage_id: &[u8],
        permissions: Vec<(String, String)>,
    ) -> Result<Vec<u8>, BakeFailure> {
        let mut nonce = vec![0u8; 16];
        getrandom::fill(&mut nonce).map_err(BakeFailure::Randomness)?;
        // The bakery's canonical order: sorted by entity then action, no duplicates.
        let mut permissions = permissions;
        permissions.sort();
        permissions.dedup();
        let mut ops: Vec<Op> = Vec::new();
        for (entity, action) in permissions {
            match ops.iter_mut().find(|op| op.entity == entity) {
                Some(op) => op.actions.push(action),
                None => ops.push(Op::new(entity, [action])),
            }
        }
        let root_key = match self.root_keys.get(storage_id) {
            Some(key) => key.clone(),
            None => {
                let key = random_root_key().map_err(BakeFailure::Randomness)?;
                self.root_keys.insert(storage_id.to_vec(), key.clone());
                key
            }
        };
        let id = MacaroonId::new(nonce, storage_id.to_vec(), ops);
        // The macaroon codec caps identifiers; LND has no such cap.
        let macaroon = Macaroon::new(&root_key, id.encode(), Some("lnd".to_owned()))
            .map_err(|_| BakeFailure::TooLarge)?;
        Ok(macaroon.encode())
    }

    /// Checks the `Grpc-Metadata-macaroon` header against `needed` (or the call's `uri`
    /// permission), with LND's answers: the signature, then each first-party caveat
    /// (`time-before` and `ipaddr`, against `peer` when known), then the permission.
    pub(crate) fn check(
        &self,
        headers: &HeaderMap,
        needed: Permission,
        uri: &str,
        peer: Option<IpAddr>,
    ) -> Result<(), Status> {
        let values: Vec<_> = headers.get_all("grpc-metadata-macaroon").iter().collect();
        let value = match values.as_slice() {
            [one] => *one,
            other => {
                return Err(Status::new(
                    2,
                    format!("expected 1 macaroon, got {}", other.len()),
                ));
            }
        };
        let bytes = decode_go_hex(value.as_bytes()).map_err(|m| Status::new(2, m))?;
        let mismatch = || {
            Status::new(
                2,
                "verification failed: signature mismatch after caveat verification",
            )
        };
        let macaroon = Macaroon::decode(&bytes).map_err(|_| mismatch())?;
        let id = MacaroonId::decode(macaroon.identifier()).map_err(|_| mismatch())?;
        let Some(root_key) = self.root_keys.get(&id.storage_id) else {
            return Err(Status::new(
                2,
                format!(
                    "cannot get macaroon: root key with id {} doesn't exist",
                    String::from_utf8_lossy(&id.storage_id)
                ),
            ));
        };
        if !macaroon.verify_signature(root_key) {
            return Err(mismatch());
        }
        for caveat in macaroon.caveats() {
            let failed = |why: &str| {
                Status::new(
                    2,
                    format!("verification failed: caveat {caveat:?} not satisfied: {why}"),
                )
            };
            match LndCaveat::parse(caveat) {
                LndCaveat::TimeBefore(t) => {
                    if SystemTime::now() >= t {
                        return Err(failed("macaroon has expired"));
                    }
                }
                LndCaveat::IpAddr(ip) => {
                    let same = peer.is_some_and(|p| canonical(p) == canonical(ip));
                    if !same {
                        return Err(failed("macaroon locked to different IP address"));
                    }
                }
                _ => return Err(failed("caveat not recognized")),
            }
        }
        // The permission, or the call's full URI (`uri:/lnrpc.Lightning/GetInfo`).
        let allowed = id.ops.iter().any(|op| {
            (op.entity == needed.entity && op.actions.iter().any(|a| a == needed.action))
                || (op.entity == "uri" && op.actions.iter().any(|a| a == uri))
        });
        if allowed {
            Ok(())
        } else {
            Err(Status::new(2, "permission denied"))
        }
    }
}

/// An IPv4-mapped IPv6 address as IPv4, as Go compares them.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// Decodes hex as Go's `encoding/hex` does, with its error messages.
pub(crate) fn decode_go_hex(s: &[u8]) -> Result<Vec<u8>, String> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(s.len() / 2);
    for pair in s.chunks(2) {
        let (hi, lo) = match pair {
            [hi, lo] => (*hi, *lo),
            [single] => {
                return Err(match nibble(*single) {
                    None => invalid_byte(*single),
                    Some(_) => "encoding/hex: odd length hex string".to_owned(),
                });
            }
            _ => break,
        };
        let h = nibble(hi).ok_or_else(|| invalid_byte(hi))?;
        let l = nibble(lo).ok_or_else(|| invalid_byte(lo))?;
        out.push(h << 4 | l);
    }
    Ok(out)
}

fn invalid_byte(c: u8) -> String {
    format!(
        "encoding/hex: invalid byte: U+{:04X} {:?}",
        c,
        char::from(c)
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    proptest::proptest! {
        /// A baked macaroon holds exactly the permissions asked for, in the bakery's
        /// order, under the storage id asked for, and passes the store's own check for
        /// each of them.
        #[test]
        fn baked_macaroons_hold_what_was_asked(
            permissions in proptest::collection::vec(("[a-z]{1,12}", "[a-z:/.]{1,12}"), 1..12),
            root_key_id in proptest::num::u64::ANY,
        ) {
            let mut store = MacaroonStore::new().unwrap();
            let storage = root_key_id.to_string();
            let bytes = store.bake_ops(storage.as_bytes(), permissions.clone()).unwrap();
            let m = l402_core::node_credential::lnd::LndMacaroon::from_bytes(&bytes).unwrap();
            let mut expected: Vec<String> =
                permissions.iter().map(|(e, a)| format!("{e}:{a}")).collect();
            expected.sort();
            expected.dedup();
            proptest::prop_assert_eq!(m.id().permissions(), expected);
            proptest::prop_assert_eq!(&m.id().storage_id, storage.as_bytes());
            let mut headers = HeaderMap::new();
            headers.insert(
                "grpc-metadata-macaroon",
                l402_core::encoding::hex_encode(&bytes).parse().unwrap(),
            );
            let (entity, action) = &permissions[0];
            let entity: &'static str = Box::leak(entity.clone().into_boxed_str());
            let action: &'static str = Box::leak(action.clone().into_boxed_str());
            proptest::prop_assert!(
                store.check(&headers, Permission::new(entity, action), "/x", None).is_ok()
            );
        }
    }

    #[test]
    fn go_hex_messages() {
        assert_eq!(decode_go_hex(b"0aFF"), Ok(vec![0x0a, 0xff]));
        assert_eq!(
            decode_go_hex(b"0g"),
            Err("encoding/hex: invalid byte: U+0067 'g'".to_owned())
        );
        assert_eq!(
            decode_go_hex(b"abc"),
            Err("encoding/hex: odd length hex string".to_owned())
        );
    }
}
