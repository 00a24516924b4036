//! [`MemoryLedger`]: budgets for one process.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use l402_core::{Amount, PaymentHash};

use super::state::State;
use super::{
    Clock, DEFAULT_RETENTION, LedgerError, Reservation, ReserveError, Reserved, SpendingLedger,
    SpendingSummary, SystemClock,
};

/// A ledger in memory: budgets hold for the middlewares sharing it in one process, and
/// start from zero when the process starts. The middleware's default.
///
/// Clones share the ledger.
#[derive(Debug, Clone)]
pub struct MemoryLedger {
    state: Arc<Mutex<State>>,
    clock: Arc<dyn Clock>,
    retention: Duration,
}

impl Default for MemoryLedger {
    fn default() -> Self {
        MemoryLedger::new()
    }
}

impl MemoryLedger {
    /// An empty ledger on the system clock.
    #[must_use]
    pub fn new() -> Self {
        MemoryLedger {
            state: Arc::default(),
            clock: Arc::new(SystemClock),
            retention: DEFAULT_RETENTION,
        }
    }

    /// Takes the time from `clock` (tests move a [`ManualClock`](super::ManualClock)).
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// How long individual payments are kept before being folded into all-time totals
    /// (default [`DEFAULT_RETENTION`]).
    #[must_use]
    pub fn retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl SpendingLedger for MemoryLedger {
    async fn reserve(&self, reservation: &Reservation) -> Result<Reserved, ReserveError> {
        let now = self.clock.now();
        self.state().reserve(reservation, now, self.retention)
    }

    async fn commit(
        &self,
        origin: &str,
        payment_hash: &PaymentHash,
        amount: Amount,
        fee: Amount,
    ) -> Result<(), LedgerError> {
        let now = self.clock.now();
        self.state()
            .commit(origin, payment_hash, amount, fee, now, self.retention);
        Ok(())
    }

    async fn release(&self, payment_hash: &PaymentHash) -> Result<bool, LedgerError> {
        Ok(self.state().release(payment_hash))
    }

    async fn summary(&self, window: Option<Duration>) -> Result<SpendingSummary, LedgerError> {
        let now = self.clock.now();
        Ok(self.state().summary(window, now, self.retention))
    }
}
