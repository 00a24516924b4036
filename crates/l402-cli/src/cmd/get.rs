//! `l402 get`: a curl for L402 APIs, like Lightning Labs' lnget.

mod nopay;
mod report;
mod request;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use clap::Args;
use l402_core::{Amount, BoxPaymentBackend, Challenge};
use l402_reqwest::ledger::{FileLedger, SpendingLedger};
use l402_reqwest::{Event, L402Error, L402Middleware, PaymentOptions, SpendingSummary};

use crate::backend::{NodeArgs, NodeSettings};
use crate::budget;
use crate::exit::{self, CliError, CmdResult, chain};
use crate::spend::SpendArgs;
use report::{Reporter, Summary};

/// Fetch a URL, paying its L402 challenge within a spending policy (like lnget).
///
/// On `402 Payment Required` with an L402 (or LSAT) challenge, the invoice is checked
/// before anything is paid: it must carry an amount of at most --max-cost, be for
/// --network, not be expired, pay for the token's payment hash, and fit the --budget left.
/// It is then paid through the node (routing fee at most --max-fee), the token is stored
/// in --token-dir, and the request is sent again with it. Later calls to the same origin
/// reuse the token without paying. A `Payment` scheme charge (MPP) is paid the same way,
/// under the same checks (its request must also agree with its invoice), but is single
/// use: each call pays its own (see --prefer-scheme).
///
/// The body goes to stdout (or -o FILE); progress and a payment summary go to stderr
/// (nothing with -q, one JSON object with --json).
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  l402 get https://api.example.com/forecast
  l402 get --no-pay https://api.example.com/forecast        # show the price, pay nothing
  l402 get -X POST -H 'Content-Type: application/json' -d '{\"q\":1}' --max-cost 50 URL
  l402 get --budget 500 --json URL                          # at most 500 sat over all calls

Node (flags or environment): --backend lnd (L402_BACKEND), --node-url (L402_NODE_URL),
--macaroon-file (L402_MACAROON_FILE), --tls-cert-file (L402_TLS_CERT_FILE).
`l402 dev-node` prints ready-made values for local development.

Exit codes:
  0   success (or --no-pay printed the challenge)
  1   other failure (I/O, network, token store)
  2   configuration or usage error: nothing was attempted
  3   refused by a spending rule (price, budget, network, expiry): nothing paid
  4   payment failed, or its outcome is unknown
  5   paid, but the request did not get what it paid for: the server asked for payment
      again, or the request failed after paying (the token is kept); money moved
  6   paid and the body was written, but the spending ledger could not record the
      payment (repair the ledger: budgets may not count it); money moved
  7   could not connect to the server
  22  the server answered with HTTP status 400 or above (the body is still written)")]
pub(crate) struct GetArgs {
    /// The URL to fetch.
    url: String,
    /// HTTP method (default GET, or POST with -d / --data-file).
    #[arg(short = 'X', long = "request", value_name = "METHOD")]
    method: Option<String>,
    /// Extra request header, `Name: value`; repeatable.
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    headers: Vec<String>,
    /// Request body.
    #[arg(
        short = 'd',
        long = "data",
        value_name = "DATA",
        conflicts_with = "data_file"
    )]
    data: Option<String>,
    /// Request body from a file.
    #[arg(long, value_name = "FILE")]
    data_file: Option<PathBuf>,
    /// Write the body to FILE instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Include the status line and response headers in the output.
    #[arg(short = 'i', long = "include")]
    include: bool,
    /// Follow redirects to other origins too (as curl's -L). Without it only redirects
    /// within the URL's origin (scheme, host, port) are followed. Either way nothing is
    /// paid to an origin reached through a cross-origin redirect.
    #[arg(short = 'L', long = "location")]
    location: bool,
    /// Do not pay: print the challenge (price, invoice, expiry; a `Payment` charge offer
    /// too) and exit 0. Stored tokens are still used, and no node is needed.
    #[arg(long)]
    no_pay: bool,
    #[command(flatten)]
    spend: SpendArgs,
    /// Print nothing on stderr but errors.
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Print the summary on stderr as one JSON object (and --no-pay's challenge as JSON).
    /// Log lines, if any, are JSON objects too; the summary is the last line.
    #[arg(long)]
    json: bool,
    /// Log more on stderr: -v info, -vv debug, -vvv trace (default: warnings only, or
    /// RUST_LOG when set; -q: errors only).
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count, conflicts_with = "quiet")]
    verbose: u8,
    #[command(flatten)]
    node: NodeArgs,
}

pub(crate) async fn run(args: GetArgs) -> CmdResult {
    crate::logging::init_client(args.verbose, args.quiet, args.json);
    let reporter = Reporter::new(args.quiet, args.json, args.url.clone());
    match fetch(&args, &reporter).await {
        Ok(code) => Ok(code),
        Err(e) => Err(reporter.finish_error(e)),
    }
}

async fn fetch(args: &GetArgs, reporter: &Reporter) -> CmdResult {
    let prepared = request::prepare(args)?;
    let policy = args.spend.policy()?;
    let budget = policy.limits().total;
    let window = args.spend.window();
    let (token_dir, store) = args.spend.open_store()?;

    // The ledger is opened and read before anything is sent: a call that cannot count
    // what it spends does not start. --no-pay pays nothing and needs none.
    let ledger = if args.no_pay {
        None
    } else {
        Some(args.spend.open_ledger(&token_dir).await?)
    };
    let spent_before = match &ledger {
        Some(l) => budget::spent(l, window)
            .await
            .map_err(|e| CliError::config(format!("spending ledger: {e}")))?,
        None => (Amount::ZERO, Amount::ZERO),
    };
    reporter.set_budget(budget, spent_before.0);

    let never_pay = args.no_pay;
    // The node is built when a payment (or a lookup of an interrupted one) needs it.
    let node = Arc::new(crate::lazy_node::LazyNode::new(NodeSettings::from(
        &args.node,
    ))?);
    let backend: BoxPaymentBackend = if never_pay {
        BoxPaymentBackend::new(nopay::NoPayment)
    } else {
        BoxPaymentBackend::new(Arc::clone(&node))
    };
    let events: Arc<Mutex<Vec<Event>>> = Arc::default();
    let sink = Arc::clone(&events);
    let progress = reporter.progress_printer();
    let mut builder = L402Middleware::builder(backend);
    if args.spend.path_scope > 0 {
        builder = builder.key_by_path_prefix(args.spend.path_scope);
    }
    if let Some(l) = &ledger {
        builder = builder.ledger(l.clone());
    }
    let middleware = builder
        .store(store)
        .policy(policy)
        .prefer_scheme(args.spend.prefer_scheme.into())
        .recover_on_first_request(!never_pay)
        .events(move |e: &Event| {
            progress(e);
            sink.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(e.clone());
        })
        .build()
        .map_err(|e| CliError::config(format!("spending policy: {e}")))?;
    let stopped_at: Arc<Mutex<Option<reqwest::Url>>> = Arc::default();
    let client = reqwest::Client::builder()
        .user_agent(concat!("l402/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(30))
        .redirect(redirect_policy(args.location, Arc::clone(&stopped_at)))
        .build()
        .map_err(|e| CliError::failure(format!("cannot build the http client: {e}")))?;
    let http = reqwest_middleware::ClientBuilder::new(client)
        .with(middleware.clone())
        .build();

    let mut builder = http
        .request(prepared.method, prepared.url)
        .headers(prepared.headers);
    if let Some(body) = prepared.body {
        builder = builder.body(body);
    }
    if never_pay {
        builder = builder.with_extension(PaymentOptions::never_pay());
    }
    let sent = builder.send().await;

    let spending = middleware.spending();
    let paid = spending.payments > 0;
    let events = std::mem::take(&mut *events.lock().unwrap_or_else(PoisonError::into_inner));
    let this_call = spending.total.saturating_add(spending.fees);
    let mut summary = Summary::new(&spending, &events, spent_before.0.saturating_add(this_call));

    let response = match sent {
        Ok(r) => r,
        Err(e) => {
            let mut err = match node.config_error() {
                Some(why) => CliError::config(format!("cannot pay, nothing paid: {why}")),
                None if paid => paid_but_failed(&spending, &e),
                None => classify(&e),
            };
            if paid
                && let Err(problem) = settle(ledger.as_ref(), &events, window, &mut summary).await
            {
                err = not_recorded(&spending, &problem);
            }
            summary.error = Some(err.message.clone());
            summary.exit_code = err.code;
            return Err(reporter.finish_with(&summary, err));
        }
    };
    summary.status = Some(response.status().as_u16());
    let stopped = stopped_at
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    if let Some(url) = stopped
        && !args.quiet
        && !args.json
    {
        eprintln!(
            "l402: not following the redirect to another origin, {} (use -L to follow)",
            url.origin().ascii_serialization()
        );
    }
    if let Some(challenge) = response.extensions().get::<Challenge>().cloned() {
        // Only with --no-pay does a challenge come back to us.
        summary.exit_code = exit::OK;
        report::print_challenge(&challenge, args.json, &mut summary)?;
        reporter.finish(&summary);
        return Ok(exit::OK);
    }
    if let Some(challenge) = response
        .extensions()
        .get::<l402_core::payment_scheme::PaymentChallenge>()
        .cloned()
    {
        // --no-pay, and the offer is a `Payment` charge.
        summary.exit_code = exit::OK;
        report::print_payment_challenge(&challenge, args.json, &mut summary)?;
        reporter.finish(&summary);
        return Ok(exit::OK);
    }
    // What was paid for is written out first; bookkeeping comes after.
    let status = response.status();
    let written = request::write_response(response, args).await;
    let settled = if paid {
        settle(ledger.as_ref(), &events, window, &mut summary).await
    } else {
        Ok(())
    };
    let code = match (written, settled) {
        (_, Err(problem)) => {
            let e = not_recorded(&spending, &problem);
            summary.error = Some(e.message.clone());
            summary.exit_code = e.code;
            return Err(reporter.finish_with(&summary, e));
        }
        (Ok(()), Ok(())) if status.as_u16() >= 400 => exit::HTTP_ERROR,
        (Ok(()), Ok(())) => exit::OK,
        (Err(e), Ok(())) => {
            summary.error = Some(e.message.clone());
            summary.exit_code = e.code;
            return Err(reporter.finish_with(&summary, e));
        }
    };
    summary.exit_code = code;
    reporter.finish(&summary);
    Ok(code)
}

/// Makes sure the ledger holds every payment this call made (committing is idempotent,
/// so a commit the middleware already made is not counted twice), and reads the total.
async fn settle(
    ledger: Option<&FileLedger>,
    events: &[Event],
    window: Option<Duration>,
    summary: &mut Summary,
) -> Result<(), String> {
    let Some(ledger) = ledger else {
        return Ok(());
    };
    for event in events {
        if let Event::PaymentSucceeded {
            key,
            payment_hash,
            amount,
            fee,
        } = event
        {
            ledger
                .commit(key, payment_hash, *amount, *fee)
                .await
                .map_err(|e| chain(&e))?;
        }
    }
    let (spent, _) = budget::spent(ledger, window).await?;
    summary.spent_total = spent;
    Ok(())
}

/// `paid 10 sat + 0.5 sat fee`.
fn paid_text(spending: &SpendingSummary) -> String {
    format!(
        "paid {} + {} fee",
        report::fmt_msat(spending.total),
        report::fmt_msat(spending.fees)
    )
}

/// The payment went through, but what it was for did not arrive.
fn paid_but_failed(spending: &SpendingSummary, error: &reqwest_middleware::Error) -> CliError {
    let message = match L402Error::from_middleware_error(error) {
        Some(L402Error::StillPaymentRequired) => format!(
            "{}, but the server still asks for payment; not paying it again",
            paid_text(spending)
        ),
        _ => format!(
            "{}, but the request then failed ({}); the token is stored for the next call",
            paid_text(spending),
            classify(error).message
        ),
    };
    CliError::with_code(exit::PAID_NOT_DELIVERED, message)
}

/// The payment went through, but the ledger does not show it.
fn not_recorded(spending: &SpendingSummary, problem: &str) -> CliError {
    CliError::with_code(
        exit::PAID_NOT_RECORDED,
        format!(
            "{}, but the spending ledger could not record it ({problem}); budgets may not \
             count it: repair the ledger",
            paid_text(spending)
        ),
    )
}

/// Most redirects followed for one request (curl's default is 50, reqwest's 10).
const MAX_REDIRECTS: usize = 10;

/// Same-origin redirects only, unless `follow_all` (`-L`). A redirect not followed is
/// remembered in `stopped_at` and its response is the answer, as curl does.
fn redirect_policy(
    follow_all: bool,
    stopped_at: Arc<Mutex<Option<reqwest::Url>>>,
) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
        }
        let same_origin = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if follow_all || same_origin {
            attempt.follow()
        } else {
            *stopped_at.lock().unwrap_or_else(PoisonError::into_inner) =
                Some(attempt.url().clone());
            attempt.stop()
        }
    })
}

/// Maps a failed request to an exit code and message.
fn classify(error: &reqwest_middleware::Error) -> CliError {
    if let Some(e) = L402Error::from_middleware_error(error) {
        let code = match e {
            L402Error::NoAmount
            | L402Error::PriceTooHigh { .. }
            | L402Error::BudgetExceeded { .. }
            | L402Error::InvoiceExpired
            | L402Error::WrongNetwork { .. }
            | L402Error::PaymentHashMismatch
            | L402Error::InvalidInvoice(_)
            | L402Error::InvalidIdentifier(_)
            | L402Error::CltvDeltaTooHigh { .. }
            | L402Error::CrossOriginRedirect { .. }
            | L402Error::OriginSuspended { .. }
            | L402Error::BodyNotReplayable => exit::REFUSED,
            L402Error::PaymentFailed(_)
            | L402Error::PaymentInFlight { .. }
            | L402Error::Lookup { .. }
            | L402Error::BadPreimage { .. } => exit::PAYMENT_FAILED,
            // A token was paid for (by an earlier call), and the server refused it.
            L402Error::StillPaymentRequired => exit::PAID_NOT_DELIVERED,
            L402Error::NoHost => exit::CONFIG,
            _ => exit::FAILURE,
        };
        let prefix = match (code, e) {
            (_, L402Error::Ledger(_)) => "nothing paid, the spending ledger failed",
            (exit::REFUSED, _) => "refused, nothing paid",
            (exit::PAYMENT_FAILED, _) if e.nothing_paid() => "payment failed, nothing paid",
            (exit::PAYMENT_FAILED, _) => "payment failed or unknown",
            (exit::PAID_NOT_DELIVERED, _) => "not paying again",
            _ => "error",
        };
        return CliError::with_code(code, format!("{prefix}: {}", chain(e)));
    }
    match error {
        reqwest_middleware::Error::Reqwest(e) if e.is_connect() => {
            CliError::with_code(exit::CONNECT, format!("cannot connect: {}", chain(e)))
        }
        other => CliError::failure(format!("request failed: {}", chain(other))),
    }
}
