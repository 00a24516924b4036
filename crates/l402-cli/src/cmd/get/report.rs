//! Progress lines and the payment summary of `l402 get`, on stderr.

use std::sync::Mutex;

use l402_core::{Amount, Challenge};
use l402_reqwest::{Event, OfferScheme, SpendingSummary};
use serde_json::{Value, json};

use crate::describe;
use crate::exit::CliError;
use crate::output::{print_json, print_line};

/// `10 sat` or `10.5 sat`.
pub(crate) fn fmt_msat(a: Amount) -> String {
    let msat = a.msat();
    if msat.is_multiple_of(1000) {
        format!("{} sat", msat / 1000)
    } else {
        let frac = format!("{:03}", msat % 1000);
        format!("{}.{} sat", msat / 1000, frac.trim_end_matches('0'))
    }
}

/// What one call did, for the final summary.
#[derive(Debug, Default)]
pub(crate) struct Summary {
    pub(crate) status: Option<u16>,
    pub(crate) payments: u64,
    pub(crate) amount: Amount,
    pub(crate) fee: Amount,
    pub(crate) payment_hashes: Vec<String>,
    pub(crate) token_reused: bool,
    /// The scheme of the offer paid (`l402` or `payment`), if one was.
    pub(crate) scheme: Option<&'static str>,
    /// The `Payment-Receipt` of a `Payment` charge, as JSON.
    pub(crate) receipt: Option<Value>,
    pub(crate) price: Option<Amount>,
    pub(crate) refusal: Option<String>,
    pub(crate) spent_total: Amount,
    pub(crate) challenge: Option<Value>,
    pub(crate) error: Option<String>,
    pub(crate) exit_code: u8,
}

impl Summary {
    pub(crate) fn new(spending: &SpendingSummary, events: &[Event], spent_total: Amount) -> Self {
        let mut s = Summary {
            payments: spending.payments,
            amount: spending.total,
            fee: spending.fees,
            spent_total,
            ..Summary::default()
        };
        let mut chosen = None;
        for e in events {
            match e {
                Event::ChallengeSeen { amount, .. } => s.price = *amount,
                Event::OfferChosen { scheme, .. } => chosen = Some(scheme.as_str()),
                Event::PaymentSucceeded { payment_hash, .. } => {
                    s.payment_hashes.push(payment_hash.to_hex());
                    s.scheme = chosen;
                }
                // Recovered at start-up, before any offer was chosen: the event names
                // the scheme that was paid.
                Event::PaymentRecovered {
                    payment_hash,
                    scheme,
                    ..
                } => {
                    s.payment_hashes.push(payment_hash.to_hex());
                    s.scheme = Some(scheme.as_str());
                }
                Event::ReceiptReceived { receipt, .. } => {
                    s.receipt = serde_json::to_value(receipt).ok();
                    s.scheme = Some(OfferScheme::Payment.as_str());
                }
                Event::TokenReused { .. } => s.token_reused = true,
                Event::PaymentRefused { reason, .. } => s.refusal = Some(reason.clone()),
                _ => {}
            }
        }
        s
    }
}

/// Prints progress and the summary as the flags ask.
pub(crate) struct Reporter {
    quiet: bool,
    json: bool,
    url: String,
    budget: Mutex<(Option<Amount>, Amount)>,
}

impl Reporter {
    pub(crate) fn new(quiet: bool, json: bool, url: String) -> Self {
        Reporter {
            quiet,
            json,
            url,
            budget: Mutex::new((None, Amount::ZERO)),
        }
    }

    fn budget(&self) -> (Option<Amount>, Amount) {
        *self
            .budget
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn set_budget(&self, budget: Option<Amount>, spent_before: Amount) {
        *self
            .budget
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = (budget, spent_before);
    }

    /// A closure printing one line per middleware event (unless quiet or JSON).
    pub(crate) fn progress_printer(&self) -> impl Fn(&Event) + Send + Sync + 'static {
        let enabled = !self.quiet && !self.json;
        move |event: &Event| {
            if !enabled {
                return;
            }
            let line = match event {
                Event::ChallengeSeen { amount, .. } => format!(
                    "payment required: {}",
                    amount.map_or_else(|| "no amount".to_owned(), fmt_msat)
                ),
                Event::PaymentStarted {
                    amount, max_fee, ..
                } => format!(
                    "paying {} (fee at most {})",
                    fmt_msat(*amount),
                    fmt_msat(*max_fee)
                ),
                Event::PaymentSucceeded {
                    amount,
                    fee,
                    payment_hash,
                    ..
                } => format!(
                    "paid {} + {} fee (payment hash {payment_hash})",
                    fmt_msat(*amount),
                    fmt_msat(*fee)
                ),
                Event::PaymentFailed { reason, .. } => format!("payment failed: {reason}"),
                Event::PaymentRefused { reason, .. } => format!("not paying: {reason}"),
                Event::PaymentRecovered {
                    payment_hash,
                    amount,
                    fee,
                    ..
                } => format!(
                    "recovered an earlier payment of {} + {} fee (payment hash {payment_hash})",
                    fmt_msat(*amount),
                    fmt_msat(*fee)
                ),
                Event::PendingDropped { payment_hash, .. } => {
                    format!("dropped a pending payment that did not complete {payment_hash}")
                }
                Event::TokenReused { .. } => "used a stored token, nothing paid".to_owned(),
                Event::TokenRejected { .. } => "the server refused the stored token".to_owned(),
                _ => return,
            };
            eprintln!("l402: {line}");
        }
    }

    fn summary_json(&self, s: &Summary) -> Value {
        let (budget, _) = self.budget();
        json!({
            "url": self.url,
            "status": s.status,
            "paid": s.payments > 0,
            "payments": s.payments,
            "amount_msat": s.amount.msat(),
            "fee_msat": s.fee.msat(),
            "payment_hashes": s.payment_hashes,
            "token_reused": s.token_reused,
            "scheme": s.scheme,
            "receipt": s.receipt,
            "price_msat": s.price.map(Amount::msat),
            "refusal": s.refusal,
            "budget": budget.map(|b| json!({
                "limit_msat": b.msat(),
                "spent_msat": s.spent_total.msat(),
                "remaining_msat": b.saturating_sub(s.spent_total).msat(),
            })),
            "spent_total_msat": s.spent_total.msat(),
            "challenge": s.challenge,
            "error": s.error,
            "exit_code": s.exit_code,
        })
    }

    /// The final summary.
    pub(crate) fn finish(&self, s: &Summary) {
        if self.json {
            eprintln!("{}", self.summary_json(s));
            return;
        }
        if self.quiet {
            return;
        }
        let mut line = match s.status {
            Some(status) => format!("l402: HTTP {status}"),
            None => "l402: no response".to_owned(),
        };
        if s.payments > 0 {
            line.push_str(&format!(
                "; paid {} + {} fee",
                fmt_msat(s.amount),
                fmt_msat(s.fee)
            ));
        } else if s.token_reused {
            line.push_str("; stored token used, nothing paid");
        } else {
            line.push_str("; nothing paid");
        }
        if let (Some(b), _) = self.budget() {
            line.push_str(&format!(
                "; budget {} of {} spent",
                fmt_msat(s.spent_total),
                fmt_msat(b)
            ));
        }
        eprintln!("{line}");
    }

    /// The final summary of a failed call; the error is marked reported when the JSON
    /// summary carries it.
    pub(crate) fn finish_with(&self, s: &Summary, mut e: CliError) -> CliError {
        self.finish(s);
        e.reported = self.json;
        e
    }

    /// A summary for an error that has none yet (before the request was sent), in JSON
    /// mode; the error itself is printed by `main` otherwise.
    pub(crate) fn finish_error(&self, mut e: CliError) -> CliError {
        if self.json && !e.reported {
            let s = Summary {
                error: Some(e.message.clone()),
                exit_code: e.code,
                ..Summary::default()
            };
            eprintln!("{}", self.summary_json(&s));
            e.reported = true;
        }
        e
    }
}

/// `--no-pay`: prints the challenge on stdout, as text or JSON.
pub(crate) fn print_challenge(
    challenge: &Challenge,
    json: bool,
    summary: &mut Summary,
) -> Result<(), CliError> {
    let described = describe::challenge(challenge);
    summary.challenge = Some(described.clone());
    if json {
        return print_json(&described);
    }
    let inv = &described["decoded_invoice"];
    let price = inv["amount_msat"].as_u64().map_or_else(
        || "none (amountless invoice)".to_owned(),
        |m| fmt_msat(Amount::from_msat(m)),
    );
    let mut text = String::from("payment required (not paid: --no-pay)\n");
    text.push_str(&format!("price:        {price}\n"));
    text.push_str(&format!(
        "network:      {}\n",
        inv["network"].as_str().unwrap_or("unknown")
    ));
    text.push_str(&format!(
        "payment hash: {}\n",
        inv["payment_hash"].as_str().unwrap_or("unknown")
    ));
    text.push_str(&format!(
        "expires at:   {} (in {} s)\n",
        inv["expires_at"],
        inv["expires_at"]
            .as_u64()
            .map(|t| t.saturating_sub(l402_core::unix_seconds(std::time::SystemTime::now())))
            .unwrap_or(0)
    ));
    if let Some(d) = inv["description"].as_str() {
        text.push_str(&format!("description:  {d}\n"));
    }
    text.push_str(&format!("invoice:      {}\n", challenge.invoice()));
    text.push_str(&format!(
        "macaroon:     {}",
        challenge.macaroon().to_base64()
    ));
    print_line(&text)
}

/// `--no-pay`'s view of a `Payment` scheme charge offer.
pub(crate) fn print_payment_challenge(
    challenge: &l402_core::payment_scheme::PaymentChallenge,
    json: bool,
    summary: &mut Summary,
) -> Result<(), CliError> {
    let described = describe::payment_challenge(challenge);
    summary.challenge = Some(described.clone());
    if json {
        return print_json(&described);
    }
    let inv = &described["decoded_invoice"];
    let price = inv["amount_msat"].as_u64().map_or_else(
        || "none (amountless invoice)".to_owned(),
        |m| fmt_msat(Amount::from_msat(m)),
    );
    let mut text = String::from("payment required (not paid: --no-pay)\n");
    text.push_str("scheme:       Payment (lightning charge)\n");
    text.push_str(&format!("price:        {price}\n"));
    text.push_str(&format!(
        "network:      {}\n",
        inv["network"].as_str().unwrap_or("unknown")
    ));
    text.push_str(&format!(
        "payment hash: {}\n",
        inv["payment_hash"].as_str().unwrap_or("unknown")
    ));
    if let Some(e) = &challenge.expires {
        text.push_str(&format!("expires:      {e}\n"));
    }
    if described["invoice_matches_request"] == false {
        text.push_str(&format!(
            "warning:      {} (l402 get would refuse it)\n",
            described["invoice_check_error"]
                .as_str()
                .unwrap_or("invoice does not match")
        ));
    }
    text.push_str(&format!(
        "invoice:      {}",
        described["invoice"].as_str().unwrap_or("")
    ));
    print_line(&text)
}
