//! Spending ledgers: where budgets are counted, so that they hold across requests,
//! restarts and processes.
//!
//! The middleware talks to a [`SpendingLedger`] around every payment:
//!
//! 1. [`reserve`](SpendingLedger::reserve) before paying: the ledger checks amount plus
//!    fee cap against the [`Limits`] (committed spending in the window plus everything
//!    reserved and not yet resolved) and records the reservation in the same atomic
//!    step, or refuses with [`ReserveError::BudgetExceeded`].
//! 2. [`commit`](SpendingLedger::commit) once the payment succeeded: the reservation is
//!    replaced by what the payment really cost (amount plus the fee paid).
//! 3. [`release`](SpendingLedger::release) once the payment definitely failed.
//!
//! A payment whose outcome is unknown (in flight, an answer lost) keeps its reservation
//! until it is resolved, so that nobody spends what it may have cost.
//!
//! # What a budget covers
//!
//! | ledger | a budget is shared by |
//! |---|---|
//! | [`MemoryLedger`] (the default) | one middleware (its clones included) in one process; it starts from zero on every start |
//! | [`FileLedger`] | every process on one machine that opens the same file; it survives restarts |
//! | a Redis ledger (`l402-redis`) | a fleet of machines sharing one Redis |
//!
//! # Windows
//!
//! [`Limits::window`] counts committed spending over a rolling window (for example the
//! last 24 hours) instead of all time; reservations count whatever their age, since
//! their outcome is not known yet. Ledgers keep individual payments for a
//! [retention](MemoryLedger::retention) period (default [`DEFAULT_RETENTION`], 31
//! days) and fold older ones into all-time totals. A window longer than the retention
//! counts the folded totals as if they were inside the window: a budget never
//! under-counts, it may over-count.
//!
//! # Implementing a ledger
//!
//! See the contract on [`SpendingLedger`]. The time source is a [`Clock`], so that tests
//! can move time ([`ManualClock`]).

mod clock;
mod file;
mod memory;
mod state;

use std::sync::Arc;
use std::time::Duration;

use l402_core::{Amount, PaymentHash};

pub use crate::error::{LedgerError, ReserveError};
pub use crate::spending::{OriginSpending, SpendingSummary};
pub use clock::{Clock, ManualClock, SystemClock};
pub use file::FileLedger;
pub use memory::MemoryLedger;

/// Default time ledgers keep individual payments before folding them into all-time
/// totals: 31 days.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(31 * 24 * 3600);

/// The budgets a [`Reservation`] is checked against. `None` = no limit of that kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The most all origins together may cost, fees included.
    pub total: Option<Amount>,
    /// The most one origin (one token key) may cost, fees included.
    pub per_origin: Option<Amount>,
    /// Count committed spending over this rolling window instead of all time.
    pub window: Option<Duration>,
}

impl Limits {
    /// No limits.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the total budget.
    #[must_use]
    pub fn total(mut self, budget: Amount) -> Self {
        self.total = Some(budget);
        self
    }

    /// Sets the per-origin budget.
    #[must_use]
    pub fn per_origin(mut self, budget: Amount) -> Self {
        self.per_origin = Some(budget);
        self
    }

    /// Sets the rolling window.
    #[must_use]
    pub fn window(mut self, window: Duration) -> Self {
        self.window = Some(window);
        self
    }
}

/// Money to set aside before paying one invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reservation {
    /// The token key the payment is for (an origin, or an origin and path prefix).
    pub origin: String,
    /// The invoice's payment hash: reservations are idempotent by it.
    pub payment_hash: PaymentHash,
    /// The invoice amount.
    pub amount: Amount,
    /// The most routing fee the payment may cost.
    pub max_fee: Amount,
    /// The budgets to check.
    pub limits: Limits,
}

impl Reservation {
    /// A reservation of `amount` plus `max_fee` for `origin`.
    #[must_use]
    pub fn new(
        origin: impl Into<String>,
        payment_hash: PaymentHash,
        amount: Amount,
        max_fee: Amount,
        limits: Limits,
    ) -> Self {
        Reservation {
            origin: origin.into(),
            payment_hash,
            amount,
            max_fee,
            limits,
        }
    }

    /// What is set aside: amount plus fee cap.
    #[must_use]
    pub fn cost(&self) -> Amount {
        self.amount.saturating_add(self.max_fee)
    }
}

/// What [`SpendingLedger::reserve`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reserved {
    /// The budgets had room: the cost is now reserved.
    New,
    /// A reservation for this payment hash was already held (a retried reserve): nothing
    /// more was reserved, and the budgets were not checked again.
    AlreadyHeld,
    /// This payment hash was already committed (paid): nothing was reserved. Paying the
    /// same invoice again cannot cost anything more (nodes pay a payment hash once).
    AlreadyCommitted,
}

/// Where budgets are counted: reserve before paying, commit or release once the outcome
/// is known.
///
/// # Contract
///
/// * [`reserve`](Self::reserve) is atomic with respect to every other user of the same
///   ledger (tasks, processes, machines, as far as the ledger is shared): it sums the
///   committed costs inside [`Limits::window`] (all of them without a window) and every
///   held reservation, total and for the reservation's origin, checks that the
///   reservation's [cost](Reservation::cost) fits what is left of each set limit, and
///   records it, as one step. Two reservations can never both fit into room for one.
/// * Reservations are idempotent by payment hash: reserving a hash already held answers
///   [`Reserved::AlreadyHeld`] and reserves nothing more; a hash already committed
///   answers [`Reserved::AlreadyCommitted`].
/// * [`commit`](Self::commit) records what a payment cost (amount and fee) at the
///   ledger's current time and drops its reservation. It is idempotent by payment hash
///   (a second commit of a hash changes nothing) and works without a reservation (a
///   payment recovered after a restart of a process whose ledger was in memory).
/// * [`release`](Self::release) drops a reservation; answers whether one was held.
/// * Every successful write is durable to the degree the ledger promises (a file ledger:
///   on disk before it returns).
/// * A ledger that cannot be read (corrupt, unreachable) fails with [`LedgerError`];
///   it never starts again from zero on its own.
/// * Methods may be called concurrently from many tasks.
#[async_trait::async_trait]
pub trait SpendingLedger: Send + Sync + 'static {
    /// Checks the limits and reserves the cost, atomically.
    ///
    /// # Errors
    /// [`ReserveError::BudgetExceeded`] if a limit has no room (nothing reserved);
    /// [`ReserveError::Ledger`] if the ledger failed (nothing reserved).
    async fn reserve(&self, reservation: &Reservation) -> Result<Reserved, ReserveError>;

    /// Replaces the reservation of `payment_hash` by what the payment cost.
    ///
    /// # Errors
    /// [`LedgerError`] if the ledger failed; the reservation, if any, is then still held.
    async fn commit(
        &self,
        origin: &str,
        payment_hash: &PaymentHash,
        amount: Amount,
        fee: Amount,
    ) -> Result<(), LedgerError>;

    /// Drops the reservation of `payment_hash`; `Ok(true)` if one was held.
    ///
    /// # Errors
    /// [`LedgerError`] if the ledger failed; the reservation, if any, is then still held.
    async fn release(&self, payment_hash: &PaymentHash) -> Result<bool, LedgerError>;

    /// What was committed inside `window` (all time if `None`) and what is reserved,
    /// in total and per origin.
    ///
    /// # Errors
    /// [`LedgerError`] if the ledger cannot be read.
    async fn summary(&self, window: Option<Duration>) -> Result<SpendingSummary, LedgerError>;

    /// The same for one origin. The default implementation takes it from
    /// [`summary`](Self::summary).
    ///
    /// # Errors
    /// [`LedgerError`] if the ledger cannot be read.
    async fn usage(
        &self,
        origin: &str,
        window: Option<Duration>,
    ) -> Result<OriginSpending, LedgerError> {
        Ok(self
            .summary(window)
            .await?
            .per_origin
            .remove(origin)
            .unwrap_or_default())
    }
}

#[async_trait::async_trait]
impl<T: SpendingLedger + ?Sized> SpendingLedger for Arc<T> {
    async fn reserve(&self, reservation: &Reservation) -> Result<Reserved, ReserveError> {
        (**self).reserve(reservation).await
    }
    async fn commit(
        &self,
        origin: &str,
        payment_hash: &PaymentHash,
        amount: Amount,
        fee: Amount,
    ) -> Result<(), LedgerError> {
        (**self).commit(origin, payment_hash, amount, fee).await
    }
    async fn release(&self, payment_hash: &PaymentHash) -> Result<bool, LedgerError> {
        (**self).release(payment_hash).await
    }
    async fn summary(&self, window: Option<Duration>) -> Result<SpendingSummary, LedgerError> {
        (**self).summary(window).await
    }
    async fn usage(
        &self,
        origin: &str,
        window: Option<Duration>,
    ) -> Result<OriginSpending, LedgerError> {
        (**self).usage(origin, window).await
    }
}
