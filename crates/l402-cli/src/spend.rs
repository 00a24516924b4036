//! The spending flags shared by `l402 get` and `l402 mcp`: caps, budget and its window,
//! the spending ledger, the token store, the network, and how they are opened.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use l402_core::Amount;
use l402_core::lightning_invoice::Currency;
use l402_reqwest::ledger::FileLedger;
use l402_reqwest::{FileTokenStore, SchemePreference, SpendingPolicy};

use crate::budget;
use crate::exit::{CliError, chain};
use crate::fsutil::create_private_dir;

/// How much may be spent, where tokens and the ledger are kept.
#[derive(Debug, Clone, Args)]
pub(crate) struct SpendArgs {
    /// Most to pay for one request, in satoshis (fees excluded).
    #[arg(
        long,
        default_value_t = 1000,
        value_name = "SATS",
        env = "L402_MAX_COST"
    )]
    pub(crate) max_cost: u64,
    /// Most routing fee for one payment, in satoshis.
    #[arg(long, default_value_t = 10, value_name = "SATS", env = "L402_MAX_FEE")]
    pub(crate) max_fee: u64,
    /// Most to spend over all calls on this machine that share the --ledger, in
    /// satoshis, fees included (all time, or per --budget-window). Each payment reserves
    /// its amount plus the fee cap first, so concurrent calls cannot overspend together.
    #[arg(long, value_name = "SATS", env = "L402_BUDGET")]
    pub(crate) budget: Option<u64>,
    /// Count --budget over a rolling window instead of all time: seconds, or a number
    /// with s, m, h or d (`24h`).
    #[arg(
        long,
        value_name = "DURATION",
        env = "L402_BUDGET_WINDOW",
        requires = "budget"
    )]
    pub(crate) budget_window: Option<Window>,
    /// The spending ledger: what every call on this machine paid (default:
    /// `<data dir>/l402/ledger.json`; never inside the token directory). Move it away to
    /// count from zero again.
    #[arg(long, value_name = "FILE", env = "L402_LEDGER_FILE")]
    pub(crate) ledger: Option<PathBuf>,
    /// Where tokens are stored and reused across runs (default: `<data dir>/l402/tokens`).
    #[arg(long, value_name = "DIR", env = "L402_TOKEN_DIR")]
    pub(crate) token_dir: Option<PathBuf>,
    /// Keep one token per first N path segments instead of one per origin (for servers
    /// that sell several services under one host, by path).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub(crate) path_scope: usize,
    /// The network invoices must be for; anything else is refused (nothing paid). The
    /// default is mainnet, for real APIs; `l402 dev-node`'s get.env sets regtest.
    #[arg(long, value_enum, default_value = "mainnet", env = "L402_NETWORK")]
    pub(crate) network: Network,
    /// Which offer to pay when a 402 carries both an L402 challenge and a `Payment`
    /// scheme charge (Aperture's `l402+mpp`): exactly one is paid either way, and when
    /// only one is offered that one is paid. A `Payment` charge credential is single use:
    /// every call pays again.
    #[arg(long, value_enum, default_value = "l402", value_name = "SCHEME")]
    pub(crate) prefer_scheme: PreferScheme,
    /// How long the node may try to pay, in seconds.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    pub(crate) pay_timeout: u64,
}

impl SpendArgs {
    /// The spending policy of the flags (validated).
    pub(crate) fn policy(&self) -> Result<SpendingPolicy, CliError> {
        if self.max_cost == 0 {
            return Err(CliError::config(
                "--max-cost must be above zero (use --no-pay to never pay)",
            ));
        }
        let max_cost = sat(self.max_cost, "--max-cost")?;
        let max_fee = sat(self.max_fee, "--max-fee")?;
        let budget = self.budget.map(|b| sat(b, "--budget")).transpose()?;
        if budget.is_some_and(Amount::is_zero) {
            return Err(CliError::config("--budget must be above zero"));
        }
        if self.pay_timeout == 0 {
            return Err(CliError::config("--pay-timeout must be above zero"));
        }
        let mut policy = SpendingPolicy::new()
            .max_price(max_cost)
            .max_fee_base(max_fee)
            .max_fee_ppm(0)
            .network(self.network.into())
            .pay_timeout(Duration::from_secs(self.pay_timeout));
        if let Some(b) = budget {
            policy = policy.budget(b);
            if let Some(w) = self.window() {
                policy = policy.budget_window(w);
            }
        }
        Ok(policy)
    }

    /// The budget window, if any.
    pub(crate) fn window(&self) -> Option<Duration> {
        self.budget_window.map(|w| w.0)
    }

    /// The token directory (created, private) and the store in it.
    pub(crate) fn open_store(&self) -> Result<(PathBuf, FileTokenStore), CliError> {
        let token_dir = match &self.token_dir {
            Some(d) => d.clone(),
            None => default_token_dir()?,
        };
        create_private_dir(&token_dir)
            .map_err(|e| CliError::config(format!("cannot create {}: {e}", token_dir.display())))?;
        let store = FileTokenStore::open(&token_dir).map_err(|e| {
            CliError::config(format!(
                "cannot open token store {}: {}",
                token_dir.display(),
                chain(&e)
            ))
        })?;
        Ok((token_dir, store))
    }

    /// The spending ledger (opened and read: a command that cannot count what it spends
    /// does not start).
    pub(crate) async fn open_ledger(
        &self,
        token_dir: &std::path::Path,
    ) -> Result<FileLedger, CliError> {
        let path = match &self.ledger {
            Some(p) => p.clone(),
            None => budget::default_path()?,
        };
        budget::open(&path, token_dir).await
    }
}

/// A `--budget-window` duration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window(Duration);

impl std::str::FromStr for Window {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
            Some(i) => s.split_at(i),
            None => (s, "s"),
        };
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("{s:?} is not a duration like 3600, 90m, 24h or 7d"))?;
        let unit = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            other => {
                return Err(format!(
                    "unknown duration unit {other:?} (use s, m, h or d)"
                ));
            }
        };
        match n.checked_mul(unit) {
            Some(0) => Err("the window must be above zero".to_owned()),
            Some(secs) => Ok(Window(Duration::from_secs(secs))),
            None => Err(format!("{s:?} is too long")),
        }
    }
}

/// `--prefer-scheme`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum PreferScheme {
    /// L402 (or LSAT) when offered (as lnget).
    L402,
    /// The `Payment` scheme's Lightning charge when offered.
    Payment,
}

impl From<PreferScheme> for SchemePreference {
    fn from(p: PreferScheme) -> SchemePreference {
        match p {
            PreferScheme::L402 => SchemePreference::L402First,
            PreferScheme::Payment => SchemePreference::PaymentFirst,
        }
    }
}

/// A Lightning network, as `--network` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Network {
    /// Bitcoin mainnet (`lnbc` invoices).
    #[value(alias = "bitcoin")]
    Mainnet,
    /// Testnet (`lntb`).
    Testnet,
    /// Signet (`lntbs`).
    Signet,
    /// Regtest (`lnbcrt`), e.g. `l402 dev-node`.
    Regtest,
    /// Simnet (`lnsb`).
    Simnet,
}

impl From<Network> for Currency {
    fn from(n: Network) -> Currency {
        match n {
            Network::Mainnet => Currency::Bitcoin,
            Network::Testnet => Currency::BitcoinTestnet,
            Network::Signet => Currency::Signet,
            Network::Regtest => Currency::Regtest,
            Network::Simnet => Currency::Simnet,
        }
    }
}

pub(crate) fn sat(sats: u64, flag: &str) -> Result<Amount, CliError> {
    Amount::from_sat(sats).ok_or_else(|| CliError::config(format!("{flag} is too large")))
}

pub(crate) fn default_token_dir() -> Result<PathBuf, CliError> {
    dirs::data_dir()
        .map(|d| d.join("l402").join("tokens"))
        .ok_or_else(|| {
            CliError::config("no user data directory: give --token-dir DIR or set L402_TOKEN_DIR")
        })
}
