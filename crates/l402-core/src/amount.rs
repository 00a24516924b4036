//! [`Amount`]: a quantity of bitcoin in millisatoshis.

use core::fmt;

/// Millisatoshis in one satoshi.
const MSAT_PER_SAT: u64 = 1_000;

/// An amount of bitcoin in millisatoshis (msat), the unit Lightning invoices use.
///
/// Arithmetic is checked: every operation that could overflow returns an `Option`.
///
/// ```
/// use l402_core::Amount;
/// let price = Amount::from_sat(10).unwrap();
/// assert_eq!(price.msat(), 10_000);
/// assert_eq!(price.to_string(), "10000 msat");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct Amount(u64);

impl Amount {
    /// Zero millisatoshis.
    pub const ZERO: Amount = Amount(0);
    /// The largest representable amount.
    pub const MAX: Amount = Amount(u64::MAX);

    /// An amount of `msat` millisatoshis.
    #[must_use]
    pub const fn from_msat(msat: u64) -> Self {
        Amount(msat)
    }

    /// An amount of `sat` satoshis, or `None` if it does not fit in a `u64` of millisatoshis.
    #[must_use]
    pub const fn from_sat(sat: u64) -> Option<Self> {
        match sat.checked_mul(MSAT_PER_SAT) {
            Some(msat) => Some(Amount(msat)),
            None => None,
        }
    }

    /// The amount in millisatoshis.
    #[must_use]
    pub const fn msat(self) -> u64 {
        self.0
    }

    /// The amount in whole satoshis, rounded down.
    #[must_use]
    pub const fn sat_floor(self) -> u64 {
        self.0 / MSAT_PER_SAT
    }

    /// The amount in whole satoshis, rounded up (what a fee cap in satoshis must use).
    #[must_use]
    pub const fn sat_ceil(self) -> u64 {
        self.0.div_ceil(MSAT_PER_SAT)
    }

    /// Whether the amount is zero.
    #[must_use]
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `self + rhs`, or `None` on overflow.
    #[must_use]
    pub const fn checked_add(self, rhs: Amount) -> Option<Amount> {
        match self.0.checked_add(rhs.0) {
            Some(v) => Some(Amount(v)),
            None => None,
        }
    }

    /// `self - rhs`, or `None` if `rhs > self`.
    #[must_use]
    pub const fn checked_sub(self, rhs: Amount) -> Option<Amount> {
        match self.0.checked_sub(rhs.0) {
            Some(v) => Some(Amount(v)),
            None => None,
        }
    }

    /// `self - rhs`, or zero if `rhs > self`.
    #[must_use]
    pub const fn saturating_sub(self, rhs: Amount) -> Amount {
        Amount(self.0.saturating_sub(rhs.0))
    }

    /// `self + rhs`, or [`Amount::MAX`] on overflow.
    #[must_use]
    pub const fn saturating_add(self, rhs: Amount) -> Amount {
        Amount(self.0.saturating_add(rhs.0))
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} msat", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sat_conversions_round_the_right_way() {
        let a = Amount::from_msat(1_001);
        assert_eq!(a.sat_floor(), 1);
        assert_eq!(a.sat_ceil(), 2);
        assert_eq!(Amount::from_sat(u64::MAX), None);
        assert_eq!(Amount::from_sat(3), Some(Amount::from_msat(3_000)));
    }

    #[test]
    fn arithmetic_is_checked() {
        assert_eq!(Amount::MAX.checked_add(Amount::from_msat(1)), None);
        assert_eq!(Amount::ZERO.checked_sub(Amount::from_msat(1)), None);
        assert_eq!(
            Amount::ZERO.saturating_sub(Amount::from_msat(1)),
            Amount::ZERO
        );
    }
}
