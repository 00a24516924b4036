//! Import of the token file written by Aperture's Go client (and lnget).
//!
//! The file (`l402.token`, or `l402.token.pending` for a payment not completed) holds one
//! token, all integers big-endian:
//!
//! ```text
//! u32   macaroon length n
//! n     macaroon, binary V2
//! 32    payment hash
//! 32    preimage (all zero while the payment is pending)
//! u64   amount paid, msat
//! u64   routing fee paid, msat
//! i64   creation time, unix nanoseconds
//! ```

use std::path::Path;
use std::time::{Duration, SystemTime};

use l402_core::macaroon::DecodeError;
use l402_core::{Amount, Identifier, Macaroon, PaymentHash, Preimage};

use crate::error::StoreError;
use crate::store::{PendingPayment, StoredToken, TokenRecord, TokenStore};

/// Largest macaroon accepted in a token file (a V2 macaroon with many caveats is a few
/// KiB).
const MAX_MACAROON_LEN: usize = 64 * 1024;

/// Why a token file could not be imported.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The file ends before the last field.
    #[error("token file is truncated")]
    Truncated,
    /// The file has bytes after the last field.
    #[error("token file has {0} trailing bytes")]
    TrailingBytes(usize),
    /// The macaroon length is implausibly large.
    #[error("macaroon of {0} bytes exceeds the size limit")]
    MacaroonTooLong(usize),
    /// The macaroon does not decode.
    #[error("invalid macaroon in token file")]
    Macaroon(#[source] DecodeError),
    /// The payment hash is not the one the macaroon commits to, or the preimage does not
    /// hash to it.
    #[error("token file payment hash does not match its macaroon or preimage")]
    HashMismatch,
    /// The file could not be read.
    #[error("could not read token file")]
    Io(#[from] std::io::Error),
    /// The store could not save the token.
    #[error("could not store imported token")]
    Store(#[from] StoreError),
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ImportError> {
        if self.0.len() < n {
            return Err(ImportError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ImportError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
}

/// Parses the bytes of an Aperture client token file into a record: a paid token, or a
/// pending payment when the preimage is all zero (its invoice is not in the file, so the
/// record's [`PendingPayment::invoice`] is empty; recovery needs only the hash).
///
/// # Errors
/// [`ImportError`] if the bytes are not a well-formed, consistent token file.
pub fn parse_token_file(bytes: &[u8]) -> Result<TokenRecord, ImportError> {
    let mut r = Reader(bytes);
    let len = usize::try_from(u32::from_be_bytes(r.array()?)).unwrap_or(usize::MAX);
    if len > MAX_MACAROON_LEN {
        return Err(ImportError::MacaroonTooLong(len));
    }
    let macaroon = Macaroon::decode(r.take(len)?).map_err(ImportError::Macaroon)?;
    let payment_hash = PaymentHash::from_bytes(r.array()?);
    let preimage: [u8; 32] = r.array()?;
    let amount = Amount::from_msat(u64::from_be_bytes(r.array()?));
    let fee = Amount::from_msat(u64::from_be_bytes(r.array()?));
    let nanos = i64::from_be_bytes(r.array()?);
    if !r.0.is_empty() {
        return Err(ImportError::TrailingBytes(r.0.len()));
    }
    let created_at = u64::try_from(nanos)
        .ok()
        .and_then(|n| SystemTime::UNIX_EPOCH.checked_add(Duration::from_nanos(n)))
        .unwrap_or(SystemTime::UNIX_EPOCH);
    // The macaroon must commit to the file's payment hash (when its identifier is ours).
    if let Ok(id) = Identifier::decode(macaroon.identifier())
        && id.payment_hash() != &payment_hash
    {
        return Err(ImportError::HashMismatch);
    }
    if preimage == [0u8; 32] {
        return Ok(TokenRecord::Pending(PendingPayment::new(
            macaroon,
            "",
            payment_hash,
            amount,
            created_at,
        )));
    }
    let preimage = Preimage::from_bytes(preimage);
    if !payment_hash.matches(&preimage) {
        return Err(ImportError::HashMismatch);
    }
    Ok(TokenRecord::Paid(StoredToken::new(
        macaroon, preimage, amount, fee, created_at,
    )))
}

/// Reads an Aperture client token file and saves it in `store` under `key` (an origin
/// such as `https://api.example.com:443`, see [`KeyScope`](crate::KeyScope)). A pending
/// token becomes a pending record, resolved by lookup before any payment for that key.
///
/// # Errors
/// [`ImportError`] if the file cannot be read or parsed, or the store fails.
pub async fn import_token_file(
    path: impl AsRef<Path>,
    store: &dyn TokenStore,
    key: &str,
) -> Result<TokenRecord, ImportError> {
    let bytes = std::fs::read(path)?;
    let record = parse_token_file(&bytes)?;
    store.save(key, &record).await?;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use l402_core::{RootKey, TokenId};

    fn file(mac: &Macaroon, hash: &PaymentHash, preimage: [u8; 32]) -> Vec<u8> {
        let m = mac.encode();
        let mut out = Vec::new();
        out.extend_from_slice(&u32::try_from(m.len()).unwrap().to_be_bytes());
        out.extend_from_slice(&m);
        out.extend_from_slice(hash.as_bytes());
        out.extend_from_slice(&preimage);
        out.extend_from_slice(&21_000u64.to_be_bytes());
        out.extend_from_slice(&1_005u64.to_be_bytes());
        out.extend_from_slice(&1_700_000_000_123_456_789i64.to_be_bytes());
        out
    }

    fn macaroon_for(hash: PaymentHash) -> Macaroon {
        let id = Identifier::new(hash, TokenId::from_bytes([9; 32]));
        Macaroon::new(
            &RootKey::from_bytes([3; 32]),
            id.encode().to_vec(),
            Some("lsat".into()),
        )
        .unwrap()
    }

    #[test]
    fn imports_a_hand_built_paid_token() {
        let preimage = Preimage::from_bytes([5; 32]);
        let hash = preimage.payment_hash();
        let mac = macaroon_for(hash);
        let bytes = file(&mac, &hash, [5; 32]);
        let TokenRecord::Paid(t) = parse_token_file(&bytes).unwrap() else {
            panic!("expected a paid token");
        };
        assert_eq!(t.macaroon, mac);
        assert_eq!(t.preimage, preimage);
        assert_eq!(t.amount, Amount::from_msat(21_000));
        assert_eq!(t.fee, Amount::from_msat(1_005));
        assert_eq!(
            t.created_at,
            SystemTime::UNIX_EPOCH
                + Duration::from_secs(1_700_000_000)
                + Duration::from_nanos(123_456_789)
        );
    }

    #[test]
    fn imports_a_pending_token_and_rejects_bad_files() {
        let hash = Preimage::from_bytes([6; 32]).payment_hash();
        let mac = macaroon_for(hash);
        let bytes = file(&mac, &hash, [0; 32]);
        assert!(matches!(
            parse_token_file(&bytes).unwrap(),
            TokenRecord::Pending(p) if p.payment_hash == hash
        ));
        assert!(matches!(
            parse_token_file(&bytes[..bytes.len() - 1]),
            Err(ImportError::Truncated)
        ));
        let mut long = bytes.clone();
        long.push(0);
        assert!(matches!(
            parse_token_file(&long),
            Err(ImportError::TrailingBytes(1))
        ));
        // A preimage that does not hash to the payment hash.
        let wrong = file(&mac, &hash, [7; 32]);
        assert!(matches!(
            parse_token_file(&wrong),
            Err(ImportError::HashMismatch)
        ));
        assert!(matches!(
            parse_token_file(&[0xff, 0xff, 0xff, 0xff]),
            Err(ImportError::MacaroonTooLong(_))
        ));
    }
}
