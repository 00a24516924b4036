//! Macaroons as the fake understands them: opaque tokens with a permission set, checked
//! the way LND's macaroon interceptor answers (code 2, HTTP 500, LND's messages).

use std::collections::HashMap;

use http::HeaderMap;

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

/// Entities of LND's default macaroons.
const ENTITIES: [&str; 9] = [
    "onchain", "offchain", "address", "message", "peers", "info", "invoices", "signer", "macaroon",
];

/// The macaroons a fake node bakes when it starts, named after LND's files or after the
/// least-privilege sets an L402 deployment uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FakeMacaroon {
    /// `admin.macaroon`: every permission.
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
            FakeMacaroon::Admin => ENTITIES
                .iter()
                .flat_map(|e| [Permission::new(e, "read"), Permission::new(e, "write")])
                .collect(),
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

/// The macaroons a fake node accepts.
#[derive(Debug, Default)]
pub(crate) struct MacaroonStore {
    baked: HashMap<Vec<u8>, Vec<Permission>>,
}

impl MacaroonStore {
    /// Bakes a new macaroon (random opaque bytes) with these permissions.
    pub(crate) fn bake(
        &mut self,
        permissions: Vec<Permission>,
    ) -> Result<Vec<u8>, getrandom::Error> {
        let mut token = vec![0u8; 64];
        getrandom::fill(&mut token)?;
        // Version byte of a V2 macaroon, so the bytes look like one in logs.
        if let Some(first) = token.first_mut() {
            *first = 0x02;
        }
        self.baked.insert(token.clone(), permissions);
        Ok(token)
    }

    /// Checks the `Grpc-Metadata-macaroon` header against `needed`, with LND's answers.
    pub(crate) fn check(&self, headers: &HeaderMap, needed: Permission) -> Result<(), Status> {
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
        match self.baked.get(&bytes) {
            None => Err(Status::new(
                2,
                "verification failed: signature mismatch after caveat verification",
            )),
            Some(permissions) if permissions.contains(&needed) => Ok(()),
            Some(_) => Err(Status::new(2, "permission denied")),
        }
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
    use super::*;

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
