//! [`RedisLedger`]: one spending budget for a fleet of paying clients.

use core::fmt;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use l402_core::{Amount, PaymentHash};
use l402_reqwest::BudgetScope;
use l402_reqwest::ledger::{
    Clock, DEFAULT_RETENTION, LedgerError, OriginSpending, Reservation, ReserveError, Reserved,
    SpendingLedger, SpendingSummary, SystemClock,
};

use crate::connection::{RedisConnection, validate_name};
use crate::error::{BuildError, StoreError};

/// Key kind of ledger keys: `<prefix>:ledger:{<scope>}:<part>`.
pub(crate) const LEDGER_KIND: &str = "ledger";
/// Default scope: several budgets sharing a prefix need different scopes.
pub const DEFAULT_LEDGER_SCOPE: &str = "default";

/// The shared prelude of the scripts: keys, pruning, windowed sums.
///
/// * `KEYS[1]` spent: sorted set, member = payment hash (hex), score = commit time (ms);
///   `<spent>:o:<sha1 of the origin>` the same for one origin (same hash slot).
/// * `KEYS[2]` pay: hash, payment hash → `amount \t fee \t A \t F \t oA \t oF \t origin`,
///   where `A`, `F` (`oA`, `oF`) are the all-time amount and fee totals (of the origin)
///   *before* this payment: the sum of a window is the total now minus the `A`/`F` of the
///   first payment inside it, two lookups whatever the number of payments.
/// * `KEYS[3]` tot: hash, all-time totals: `a`, `f`, `n` and `a:<origin>`, `f:<origin>`,
///   `n:<origin>`; never pruned.
/// * `KEYS[4]` held: hash, payment hash → `amount \t max_fee \t at \t origin`.
///
/// Commit times never go backwards (a commit is stamped at least at the latest one), so
/// that the order of the sets is the order of the totals; a clock behind the fleet's
/// stamps later, which over-counts (never under-counts) its windows.
const PRELUDE: &str = r"
local spent, pay, tot, held = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local function okey(origin) return spent .. ':o:' .. redis.sha1hex(origin) end
local function num(x) return tonumber(x) or 0 end
local function fmt(x) return string.format('%d', x) end
local function record(v)
  local a, f, ta, tf, oa, of, o =
    string.match(v, '^(%d+)\t(%d+)\t(%d+)\t(%d+)\t(%d+)\t(%d+)\t(.*)$')
  if not a then error('l402 ledger: malformed payment record') end
  return tonumber(a), tonumber(f), tonumber(ta), tonumber(tf), tonumber(oa), tonumber(of), o
end
local function prune(now, retention)
  local cutoff = '(' .. fmt(now - retention)
  local old = redis.call('ZRANGEBYSCORE', spent, '-inf', cutoff)
  for _, h in ipairs(old) do
    local v = redis.call('HGET', pay, h)
    if v then
      local _, _, _, _, _, _, o = record(v)
      redis.call('ZREM', okey(o), h)
      redis.call('HDEL', pay, h)
    end
  end
  if #old > 0 then redis.call('ZREMRANGEBYSCORE', spent, '-inf', cutoff) end
end
-- Amount and fees committed after `from` (exclusive): in total (origin nil) or for one.
local function since(from, origin)
  local zkey = spent
  local fa, ff = 'a', 'f'
  if origin then zkey, fa, ff = okey(origin), 'a:' .. origin, 'f:' .. origin end
  local t = redis.call('HMGET', tot, fa, ff)
  local first = redis.call('ZRANGEBYSCORE', zkey, '(' .. fmt(from), '+inf', 'LIMIT', 0, 1)[1]
  if not first then return 0, 0, 0 end
  local v = redis.call('HGET', pay, first)
  if not v then error('l402 ledger: payment without record') end
  local _, _, ta, tf, oa, of = record(v)
  if origin then ta, tf = oa, of end
  local n = redis.call('ZCOUNT', zkey, '(' .. fmt(from), '+inf')
  return num(t[1]) - ta, num(t[2]) - tf, n
end
local function reserved(v)
  local a, m, at, o = string.match(v, '^(%d+)\t(%d+)\t(%d+)\t(.*)$')
  if not a then error('l402 ledger: malformed reservation') end
  return tonumber(a) + tonumber(m), o
end
";

/// Reserve: `ARGV` = now ms, retention ms, window ms (0 = all time), total limit,
/// origin limit (-1 = none), payment hash, origin, amount, max fee.
///
/// Answers `{0}` reserved, `{1}` already held, `{2}` already committed, or
/// `{-1, scope (0 total, 1 origin), remaining}` when a budget has no room.
const RESERVE: &str = r"
local now, retention, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local limit_total, limit_origin = tonumber(ARGV[4]), tonumber(ARGV[5])
local hash, origin = ARGV[6], ARGV[7]
local amount, max_fee = tonumber(ARGV[8]), tonumber(ARGV[9])
prune(now, retention)
if redis.call('HEXISTS', held, hash) == 1 then return {1} end
if redis.call('HEXISTS', pay, hash) == 1 then return {2} end
local total, mine = 0, 0
if window == 0 or window > retention then
  local t = redis.call('HMGET', tot, 'a', 'f', 'a:' .. origin, 'f:' .. origin)
  total = num(t[1]) + num(t[2])
  mine = num(t[3]) + num(t[4])
else
  local a, f = since(now - window, nil)
  total = a + f
  if limit_origin >= 0 then
    local oa, of = since(now - window, origin)
    mine = oa + of
  end
end
for _, v in ipairs(redis.call('HVALS', held)) do
  local cost, o = reserved(v)
  total = total + cost
  if o == origin then mine = mine + cost end
end
local cost = amount + max_fee
if limit_total >= 0 and cost > limit_total - total then
  return {-1, 0, math.max(limit_total - total, 0)}
end
if limit_origin >= 0 and cost > limit_origin - mine then
  return {-1, 1, math.max(limit_origin - mine, 0)}
end
redis.call('HSET', held, hash, ARGV[8] .. '\t' .. ARGV[9] .. '\t' .. ARGV[1] .. '\t' .. origin)
return {0}
";

/// Commit: `ARGV` = now ms, retention ms, payment hash, origin, amount, fee. Answers 1
/// when recorded, 0 when the hash was already committed.
const COMMIT: &str = r"
local now, retention = tonumber(ARGV[1]), tonumber(ARGV[2])
local hash, origin, amount, fee = ARGV[3], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
prune(now, retention)
redis.call('HDEL', held, hash)
if redis.call('HEXISTS', pay, hash) == 1 then return 0 end
local last = redis.call('ZRANGE', spent, -1, -1, 'WITHSCORES')[2]
local at = math.max(now, num(last))
local t = redis.call('HMGET', tot, 'a', 'f', 'a:' .. origin, 'f:' .. origin)
redis.call('ZADD', spent, at, hash)
redis.call('ZADD', okey(origin), at, hash)
redis.call('HSET', pay, hash, table.concat({ARGV[5], ARGV[6], fmt(num(t[1])), fmt(num(t[2])),
  fmt(num(t[3])), fmt(num(t[4])), origin}, '\t'))
redis.call('HINCRBY', tot, 'a', amount)
redis.call('HINCRBY', tot, 'f', fee)
redis.call('HINCRBY', tot, 'n', 1)
redis.call('HINCRBY', tot, 'a:' .. origin, amount)
redis.call('HINCRBY', tot, 'f:' .. origin, fee)
redis.call('HINCRBY', tot, 'n:' .. origin, 1)
return 1
";

/// Summary: `ARGV` = now ms, retention ms, window ms (0 = all time). Answers
/// `{totals as field/value pairs (those of tot, or the same computed for the window),
/// reservations}`. Read-only: payments older than the retention that were not pruned
/// yet are outside every window the script computes (windows are at most the retention).
const SUMMARY: &str = r"
local now, retention, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if window == 0 or window > retention then
  return {redis.call('HGETALL', tot), redis.call('HVALS', held)}
end
local from = math.max(now - window, now - retention)
local out = {}
local a, f, n = since(from, nil)
for _, x in ipairs({'a', fmt(a), 'f', fmt(f), 'n', fmt(n)}) do out[#out + 1] = x end
local all = redis.call('HGETALL', tot)
for i = 1, #all, 2 do
  local o = string.match(all[i], '^n:(.*)$')
  if o then
    local oa, of, on = since(from, o)
    if on > 0 then
      for _, x in ipairs({'a:' .. o, fmt(oa), 'f:' .. o, fmt(of), 'n:' .. o, fmt(on)}) do
        out[#out + 1] = x
      end
    end
  end
end
return {out, redis.call('HVALS', held)}
";

/// A [`SpendingLedger`] in Redis: every client of a fleet that uses the same connection
/// prefix and scope shares one set of budgets, and they survive restarts of every client.
///
/// # Atomicity
/// Each [`reserve`](SpendingLedger::reserve) is one Lua script: it sums what was
/// committed in the window and everything reserved, checks the limits, and records the
/// reservation, as one step on the Redis server (scripts run one at a time). Two clients
/// can never both take the room left for one. [`commit`](SpendingLedger::commit) and
/// [`release`](SpendingLedger::release) are one script or command each, idempotent by
/// payment hash (a call retried after a lost answer changes nothing more).
///
/// # Windows and retention
/// Committed payments are kept one by one in sorted sets scored by their commit time,
/// each with the running totals before it, so a rolling window is exact and costs two
/// lookups whatever the number of payments in it. Payments older than the
/// [retention](RedisLedgerBuilder::retention) (default [`DEFAULT_RETENTION`], 31 days)
/// are dropped from it by the scripts themselves (their time to live is the retention);
/// they stay in the all-time totals, which a budget without a window (or with a window
/// longer than the retention) counts: a budget never under-counts. Time comes from the
/// ledger's [`Clock`] (the client's clock): machines of one fleet should keep their
/// clocks in sync (NTP); a commit stamped in the future counts inside every window.
///
/// Reservations have no expiry: a reservation whose payment's outcome is never learnt
/// (a client that crashed for good with a payment in flight) keeps its amount until it
/// is released. An expiry would let a budget under-count a payment that did go through;
/// once the node shows the payment failed, release it by hand
/// (`HDEL <prefix>:ledger:{<scope>}:held <payment hash hex>`), or commit it if it
/// succeeded.
///
/// # Failures
/// Bounded by the connection's timeout. A reserve that fails (Redis down, a timeout) is
/// [`ReserveError::Ledger`]: the middleware refuses to pay (fails closed). A reserve
/// that timed out after Redis applied it leaves a reservation held, which over-counts
/// (never under-counts) until released. A commit that fails keeps the reservation held
/// (over-counting) and the middleware logs it.
///
/// # Keys
/// `<prefix>:ledger:{<scope>}:spent`, `…:pay`, `…:tot` and `…:held` (the braces make
/// them one Redis Cluster hash slot, as a script needs). Origins appear in values (they
/// are URLs the clients call); no secret is stored.
#[derive(Clone)]
pub struct RedisLedger {
    conn: RedisConnection,
    keys: Arc<[String; 4]>,
    scope: Arc<str>,
    retention_ms: u64,
    clock: Arc<dyn Clock>,
    scripts: Arc<Scripts>,
}

struct Scripts {
    reserve: redis::Script,
    commit: redis::Script,
    summary: redis::Script,
}

impl fmt::Debug for RedisLedger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLedger")
            .field("conn", &self.conn)
            .field("scope", &self.scope)
            .field("retention_ms", &self.retention_ms)
            .finish_non_exhaustive()
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, ms)
}

/// Lua numbers are doubles: amounts and times stay exact below 2^53.
const MAX_EXACT: u64 = 1 << 53;

fn exact(n: u64) -> Result<u64, LedgerError> {
    if n < MAX_EXACT {
        Ok(n)
    } else {
        Err(LedgerError::backend(
            "amount or time too large for the redis ledger",
        ))
    }
}

fn backend(e: StoreError) -> LedgerError {
    LedgerError::backend(e)
}

impl RedisLedger {
    /// A builder for a ledger on `conn` (its prefix is the fleet's namespace).
    pub fn builder(conn: RedisConnection) -> RedisLedgerBuilder {
        RedisLedgerBuilder {
            conn,
            scope: DEFAULT_LEDGER_SCOPE.to_owned(),
            retention: DEFAULT_RETENTION,
            clock: None,
        }
    }

    /// The Redis keys of this ledger: spent, pay, tot, held.
    #[must_use]
    pub fn redis_keys(&self) -> &[String; 4] {
        &self.keys
    }

    fn now_ms(&self) -> Result<u64, LedgerError> {
        exact(unix_ms(self.clock.now()))
    }

    fn window_ms(&self, window: Option<Duration>) -> Result<u64, LedgerError> {
        // A zero window would mean "all time" to the script: make it the shortest one.
        window.map_or(Ok(0), |w| exact(ms(w).max(1)))
    }

    async fn invoke<T: redis::FromRedisValue>(
        &self,
        script: &redis::Script,
        args: &[String],
    ) -> Result<T, LedgerError> {
        let mut invocation = script.prepare_invoke();
        for key in self.keys.iter() {
            invocation.key(key);
        }
        for arg in args {
            invocation.arg(arg);
        }
        let invocation = &invocation;
        self.conn
            .run(|mut conn| async move { invocation.invoke_async::<T>(&mut conn).await })
            .await
            .map_err(backend)
    }
}

#[async_trait::async_trait]
impl SpendingLedger for RedisLedger {
    async fn reserve(&self, r: &Reservation) -> Result<Reserved, ReserveError> {
        let limit = |l: Option<Amount>| -> Result<String, LedgerError> {
            l.map_or(Ok("-1".to_owned()), |a| {
                exact(a.msat()).map(|m| m.to_string())
            })
        };
        let args = [
            self.now_ms()?.to_string(),
            self.retention_ms.to_string(),
            self.window_ms(r.limits.window)?.to_string(),
            limit(r.limits.total)?,
            limit(r.limits.per_origin)?,
            r.payment_hash.to_hex(),
            r.origin.clone(),
            exact(r.amount.msat())?.to_string(),
            exact(r.max_fee.msat())?.to_string(),
        ];
        let reply: Vec<i64> = self.invoke(&self.scripts.reserve, &args).await?;
        match reply.as_slice() {
            [0] => Ok(Reserved::New),
            [1] => Ok(Reserved::AlreadyHeld),
            [2] => Ok(Reserved::AlreadyCommitted),
            [-1, scope, remaining] => Err(ReserveError::BudgetExceeded {
                scope: if *scope == 0 {
                    BudgetScope::Total
                } else {
                    BudgetScope::Origin
                },
                needed: r.cost(),
                remaining: Amount::from_msat(u64::try_from(*remaining).unwrap_or(0)),
            }),
            _ => Err(backend(StoreError::UnexpectedReply).into()),
        }
    }

    async fn commit(
        &self,
        origin: &str,
        payment_hash: &PaymentHash,
        amount: Amount,
        fee: Amount,
    ) -> Result<(), LedgerError> {
        let args = [
            self.now_ms()?.to_string(),
            self.retention_ms.to_string(),
            payment_hash.to_hex(),
            origin.to_owned(),
            exact(amount.msat())?.to_string(),
            exact(fee.msat())?.to_string(),
        ];
        let _: i64 = self.invoke(&self.scripts.commit, &args).await?;
        Ok(())
    }

    async fn release(&self, payment_hash: &PaymentHash) -> Result<bool, LedgerError> {
        let mut cmd = redis::cmd("HDEL");
        cmd.arg(&self.keys[3]).arg(payment_hash.to_hex());
        let removed: i64 = self.conn.query(&cmd).await.map_err(backend)?;
        Ok(removed > 0)
    }

    async fn summary(&self, window: Option<Duration>) -> Result<SpendingSummary, LedgerError> {
        let args = [
            self.now_ms()?.to_string(),
            self.retention_ms.to_string(),
            self.window_ms(window)?.to_string(),
        ];
        let (totals, held): (Vec<String>, Vec<String>) =
            self.invoke(&self.scripts.summary, &args).await?;
        let mut s = SpendingSummary::default();
        let mut per: BTreeMap<String, OriginSpending> = BTreeMap::new();
        for pair in totals.chunks_exact(2) {
            let n: u64 = pair[1].parse().map_err(|_| malformed())?;
            match pair[0].split_once(':') {
                None => match pair[0].as_str() {
                    "a" => s.total = Amount::from_msat(n),
                    "f" => s.fees = Amount::from_msat(n),
                    "n" => s.payments = n,
                    _ => return Err(malformed()),
                },
                Some((field, origin)) => {
                    let o = per.entry(origin.to_owned()).or_default();
                    match field {
                        "a" => o.amount = Amount::from_msat(n),
                        "f" => o.fees = Amount::from_msat(n),
                        "n" => o.payments = n,
                        _ => return Err(malformed()),
                    }
                }
            }
        }
        for v in &held {
            let (amount, max_fee, origin) = parse_held(v)?;
            let cost = amount.saturating_add(max_fee);
            s.reserved = s.reserved.saturating_add(cost);
            let o = per.entry(origin.to_owned()).or_default();
            o.reserved = o.reserved.saturating_add(cost);
        }
        s.per_origin = per;
        Ok(s)
    }
}

fn malformed() -> LedgerError {
    backend(StoreError::Malformed)
}

/// `amount \t max_fee \t at \t origin`.
fn parse_held(v: &str) -> Result<(Amount, Amount, &str), LedgerError> {
    let mut parts = v.splitn(4, '\t');
    let amount = parts.next().and_then(|p| p.parse().ok());
    let max_fee = parts.next().and_then(|p| p.parse().ok());
    let at = parts.next().and_then(|p| p.parse::<u64>().ok());
    match (amount, max_fee, at, parts.next()) {
        (Some(a), Some(m), Some(_), Some(o)) => Ok((Amount::from_msat(a), Amount::from_msat(m), o)),
        _ => Err(malformed()),
    }
}

/// Builds a [`RedisLedger`]. Setters consume and return the builder;
/// [`build`](Self::build) validates.
#[must_use]
pub struct RedisLedgerBuilder {
    conn: RedisConnection,
    scope: String,
    retention: Duration,
    clock: Option<Arc<dyn Clock>>,
}

impl fmt::Debug for RedisLedgerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLedgerBuilder")
            .field("conn", &self.conn)
            .field("scope", &self.scope)
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

impl RedisLedgerBuilder {
    /// Separates budgets that share a prefix (default [`DEFAULT_LEDGER_SCOPE`]): 1 to 64
    /// of `A-Z a-z 0-9 _ - .`. Clients sharing a budget use the same prefix and scope.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = scope.into();
        self
    }

    /// How long payments are kept one by one for rolling windows (default
    /// [`DEFAULT_RETENTION`]); older ones count in the all-time totals only.
    pub fn retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// Takes the time from `clock` (tests move a
    /// [`ManualClock`](l402_reqwest::ledger::ManualClock)); default the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Builds the ledger. Does not contact Redis.
    ///
    /// # Errors
    /// [`BuildError::Prefix`] for an invalid scope, [`BuildError::TooShort`] for a
    /// retention under one millisecond.
    pub fn build(self) -> Result<RedisLedger, BuildError> {
        validate_name(&self.scope).map_err(|()| BuildError::Prefix(self.scope.clone()))?;
        let retention_ms = ms(self.retention);
        if retention_ms == 0 {
            return Err(BuildError::TooShort("retention"));
        }
        let key = |part: &str| {
            self.conn
                .key(LEDGER_KIND, &format!("{{{}}}:{part}", self.scope))
        };
        let keys = [key("spent"), key("pay"), key("tot"), key("held")];
        let script = |body: &str| redis::Script::new(&format!("{PRELUDE}\n{body}"));
        Ok(RedisLedger {
            keys: Arc::new(keys),
            scope: self.scope.into(),
            retention_ms: retention_ms.min(MAX_EXACT - 1),
            clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
            scripts: Arc::new(Scripts {
                reserve: script(RESERVE),
                commit: script(COMMIT),
                summary: script(SUMMARY),
            }),
            conn: self.conn,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keys_share_one_slot_and_scopes_are_checked() {
        let conn = RedisConnection::builder("redis://127.0.0.1:1/")
            .prefix("fleet")
            .build()
            .unwrap();
        let l = RedisLedger::builder(conn.clone())
            .scope("agents")
            .build()
            .unwrap();
        assert_eq!(l.redis_keys()[0], "fleet:ledger:{agents}:spent");
        assert_eq!(l.redis_keys()[3], "fleet:ledger:{agents}:held");
        assert!(matches!(
            RedisLedger::builder(conn.clone()).scope("a}b").build(),
            Err(BuildError::Prefix(_))
        ));
        assert!(matches!(
            RedisLedger::builder(conn).retention(Duration::ZERO).build(),
            Err(BuildError::TooShort("retention"))
        ));
    }

    #[test]
    fn records_parse_strictly() {
        assert_eq!(
            parse_held("10\t2\t5\thttp://a\tb").unwrap().2,
            "http://a\tb"
        );
        assert!(parse_held("10\t2\thttp://a").is_err());
    }

    #[tokio::test]
    async fn huge_amounts_are_refused_before_redis() {
        // Port 1: nothing listens; the answer comes without a call.
        let conn = RedisConnection::builder("redis://127.0.0.1:1/")
            .prefix("p")
            .build()
            .unwrap();
        let l = RedisLedger::builder(conn).build().unwrap();
        let r = Reservation::new(
            "http://a",
            PaymentHash::from_bytes([1; 32]),
            Amount::from_msat(u64::MAX),
            Amount::ZERO,
            l402_reqwest::ledger::Limits::new(),
        );
        assert!(matches!(l.reserve(&r).await, Err(ReserveError::Ledger(_))));
    }
}
