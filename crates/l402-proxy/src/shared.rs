//! [`SharedState`]: what outlives a reload and, with `[redis]`, what a fleet shares.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use l402_core::payment_scheme::{DynChargeStore, MemoryChargeStore};
use l402_redis::{RedisChargeStore, RedisConnection, RedisFreeAllowance, RedisRateLimiter};
use l402_tower::{
    FreeAllowance, IpBlocklist, MemoryFreeAllowance, MemoryRateLimiter, Rate, RateLimiter,
};
use sha2::{Digest, Sha256};

use crate::blocklist::BlocklistFile;
use crate::config::{ConfigError, DEFAULT_REDIS_PREFIX, ProxyConfig, RevocationConfig};
use crate::revocation::Revocations;

/// Freebies last this long: a client's count starts again after a day.
pub(crate) const FREEBIE_WINDOW: std::time::Duration = std::time::Duration::from_secs(86_400);

/// Which bucket a limiter fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Limit {
    /// Per token id.
    Paid,
    /// Per client network.
    Unpaid,
}

impl Limit {
    fn name(self) -> &'static str {
        match self {
            Limit::Paid => "paid",
            Limit::Unpaid => "unpaid",
        }
    }
}

/// In-memory counters, kept across rebuilds while their settings stay the same.
#[derive(Default)]
struct Local {
    limiters: HashMap<(String, Limit), (Rate, Arc<MemoryRateLimiter>)>,
    freebies: HashMap<String, (u32, Arc<MemoryFreeAllowance>)>,
}

/// The state a proxy's services share and that outlives a reload: the Payment charges
/// consumed, the freebie counters, the rate-limit buckets, the blocklist and the Redis
/// connection. Built once from the configuration ([`SharedState::from_config`]) and
/// given to every [`ProxyBuilder`](crate::ProxyBuilder) after
/// ([`ProxyBuilder::shared`](crate::ProxyBuilder::shared)): a reload then keeps every
/// count, and a client cannot reset its freebies or its buckets by waiting for one.
///
/// With `[redis]`, freebies, charges and buckets live in Redis, shared by every
/// instance using the same URL and prefix (see the table in `docs/operations.md`);
/// without, in this process.
///
/// A rate limit or freebie count whose settings change in a reload starts afresh (in
/// memory; in Redis the buckets stay, refilled at the new rate).
pub struct SharedState {
    redis: Option<RedisConnection>,
    charges: Arc<dyn DynChargeStore>,
    blocklist: Option<Arc<BlocklistFile>>,
    local: Mutex<Local>,
}

impl fmt::Debug for SharedState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedState")
            .field("redis", &self.redis)
            .field("blocklist", &self.blocklist)
            .finish_non_exhaustive()
    }
}

impl SharedState {
    /// The state `config` describes: a connection to `[redis]` (opened lazily: the
    /// proxy starts while Redis is down, and answers as documented until it is back),
    /// the charge store (in `[redis]`, else in `[revocation]`'s Redis when it has a
    /// URL, else in memory), and the `[blocklist]` file, loaded now and re-read by a
    /// background task when it changes.
    ///
    /// # Errors
    /// Redis settings refused; a blocklist file that cannot be read or parsed.
    ///
    /// # Panics
    /// With a `[blocklist]`, outside a Tokio runtime (the reload task is spawned on it).
    pub fn from_config(config: &ProxyConfig) -> Result<Self, ConfigError> {
        let redis = match &config.redis {
            Some(r) => Some(
                RedisConnection::builder(r.url.clone())
                    .prefix(r.prefix().to_owned())
                    .timeout(r.timeout())
                    .build()
                    .map_err(|e| ConfigError::Redis(l402_core::ErrorChain(&e).to_string()))?,
            ),
            None => None,
        };
        let charges: Arc<dyn DynChargeStore> = match (&redis, &config.revocation) {
            (Some(conn), _) => Arc::new(RedisChargeStore::new(conn.clone())),
            // As before `[redis]` existed: the revocation list's Redis holds the charges.
            (
                None,
                Some(RevocationConfig::Redis {
                    url: Some(url),
                    prefix,
                    ..
                }),
            ) => {
                let conn = RedisConnection::builder(url.clone())
                    .prefix(
                        prefix
                            .clone()
                            .unwrap_or_else(|| DEFAULT_REDIS_PREFIX.to_owned()),
                    )
                    .build()
                    .map_err(|e| ConfigError::Revocation(l402_core::ErrorChain(&e).to_string()))?;
                Arc::new(RedisChargeStore::new(conn))
            }
            (None, _) => Arc::new(MemoryChargeStore::new()),
        };
        let blocklist = match &config.blocklist {
            Some(b) => Some(BlocklistFile::watch(b)?),
            None => None,
        };
        Ok(SharedState {
            redis,
            charges,
            blocklist,
            local: Mutex::new(Local::default()),
        })
    }

    /// The `[redis]` connection, if configured.
    pub fn redis(&self) -> Option<&RedisConnection> {
        self.redis.as_ref()
    }

    /// Where consumed Payment charges are recorded.
    pub fn charges(&self) -> Arc<dyn DynChargeStore> {
        Arc::clone(&self.charges)
    }

    /// The blocklist, if configured.
    pub fn blocklist(&self) -> Option<&IpBlocklist> {
        self.blocklist.as_deref().map(BlocklistFile::list)
    }

    /// Re-reads the blocklist file now (on `SIGHUP`); a file that does not parse is
    /// logged and the list in force stays.
    pub fn reload_blocklist(&self) {
        if let Some(b) = &self.blocklist {
            b.refresh(true);
        }
    }

    /// The revocation list of `config`: a Redis list without a `url` of its own uses
    /// the `[redis]` connection.
    ///
    /// # Errors
    /// As [`Revocations::from_config_with`].
    ///
    /// # Panics
    /// As [`Revocations::from_config_with`].
    pub fn revocations(&self, config: &ProxyConfig) -> Result<Revocations, ConfigError> {
        Revocations::from_config_with(config.revocation.as_ref(), self.redis.as_ref())
    }

    /// The freebie counter of `service`: `per_client` free requests per client per day.
    pub(crate) fn freebies(
        &self,
        service: &str,
        per_client: u32,
    ) -> Result<Arc<dyn FreeAllowance>, ConfigError> {
        if let Some(conn) = &self.redis {
            let allowance = RedisFreeAllowance::builder(conn.clone(), per_client)
                .window(FREEBIE_WINDOW)
                .scope(scope("free", service))
                .build()
                .map_err(|e| ConfigError::Redis(l402_core::ErrorChain(&e).to_string()))?;
            return Ok(Arc::new(allowance));
        }
        let mut local = self.local.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = local
            .freebies
            .entry(service.to_owned())
            .or_insert_with(|| (per_client, new_freebies(per_client)));
        if entry.0 != per_client {
            *entry = (per_client, new_freebies(per_client));
        }
        Ok(Arc::clone(&entry.1) as Arc<dyn FreeAllowance>)
    }

    /// The rate limiter of `service`'s `limit`.
    pub(crate) fn limiter(
        &self,
        service: &str,
        limit: Limit,
        rate: Rate,
    ) -> Result<Arc<dyn RateLimiter>, ConfigError> {
        if let Some(conn) = &self.redis {
            let limiter = RedisRateLimiter::builder(conn.clone(), rate)
                .scope(scope(limit.name(), service))
                .build()
                .map_err(|e| ConfigError::Redis(l402_core::ErrorChain(&e).to_string()))?;
            return Ok(Arc::new(limiter));
        }
        let mut local = self.local.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = local
            .limiters
            .entry((service.to_owned(), limit))
            .or_insert_with(|| (rate, Arc::new(MemoryRateLimiter::new(rate))));
        if entry.0 != rate {
            *entry = (rate, Arc::new(MemoryRateLimiter::new(rate)));
        }
        Ok(Arc::clone(&entry.1) as Arc<dyn RateLimiter>)
    }
}

fn new_freebies(per_client: u32) -> Arc<MemoryFreeAllowance> {
    Arc::new(MemoryFreeAllowance::new(per_client).window(FREEBIE_WINDOW))
}

/// The Redis scope of a service's counters: `<kind>.<service>` when the name is made of
/// the characters a scope allows, else `<kind>.<hex SHA-256 of the name, 32 digits>`.
fn scope(kind: &str, service: &str) -> String {
    let plain = service.len() <= 48
        && service
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if plain {
        return format!("{kind}.{service}");
    }
    let digest = Sha256::digest(service.as_bytes());
    let mut out = format!("{kind}.");
    for b in &digest[..16] {
        use std::fmt::Write as _;
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_valid_redis_names() {
        assert_eq!(scope("paid", "weather"), "paid.weather");
        let odd = scope("free", "métèo/api");
        assert!(odd.starts_with("free.") && odd.len() == 5 + 32, "{odd}");
        assert_ne!(scope("free", "a/b"), scope("free", "a/c"));
    }
}
