//! Quickstart: the whole L402 token life cycle in one process, with no Lightning node.
//!
//! A server mints a token bound to an invoice's payment hash and sends the challenge; a
//! client parses it, checks the invoice, "pays" (here: uses the fixture invoice's known
//! preimage) and presents the credential; the server verifies it without any node.
//!
//! Run: `cargo run -p quickstart`

#![allow(clippy::print_stdout)]

use std::error::Error;
use std::time::{Duration, SystemTime};

use l402_core::lightning_invoice::Bolt11Invoice;
use l402_core::{
    Challenge, Credential, DerivedRootKeyStore, Identifier, MasterSecret, MintRequest, PaymentHash,
    Preimage, Scheme, Service, Verifier, VerifyContext, VerifyError, VerifyWithStoreError, mint,
};

/// A real regtest invoice for 1000 sat and its preimage (public test fixtures: never use
/// them on a real network).
const INVOICE: &str = "lnbcrt10u1p4p3fgqpp5jm4j6l0qgr02hp6xe8w5ztcl4rer5al3azy477fqau8vsy0u3nnqdpdfs6rqv3qve5hsar4wfjn5gp3xqcrqgrnv96zq2rvdejzjxqrrsscqzzs9qyysgqsp5pktjrrjj47ne0ylmmu4hvavdmd43j2smglhvqtpce2txmtzxky4qltev2xxxlqwf6zamu4ajkttpjmyac9mpvr4fmdqjpj5nqwgvs5753hg0t5rxvpju5hu5lv49g5jxfg09q774v4h8mss7lunumf4r6ngp95f0cv";
const PREIMAGE: &str = "8c2653a1a051bcc2ce1978864402dd07e5699b591ae3de6a6c161c5f16fc6f5b";

fn main() -> Result<(), Box<dyn Error>> {
    pollster::block_on(run())
}

async fn run() -> Result<(), Box<dyn Error>> {
    // Server side: a stateless root-key store (any instance with the secret can verify).
    let store = DerivedRootKeyStore::new(MasterSecret::generate()?);
    let invoice: Bolt11Invoice = INVOICE.parse().map_err(|e| format!("{e:?}"))?;
    let service = Service::new("weather")?;
    let request = MintRequest::new(PaymentHash::from(&invoice))
        .service(service.clone())
        .capabilities(&service, &["forecast"])?
        .valid_until(SystemTime::now() + Duration::from_secs(3600))
        .location("lsat");
    let macaroon = mint(&store, &request).await?;
    let challenge = Challenge::new(macaroon, INVOICE);
    println!("1. server answers 402 Payment Required with:");
    for value in challenge.to_header_values()? {
        println!("   WWW-Authenticate: {}...", &value.to_str()?[..60]);
    }

    // Client side: parse, check the invoice belongs to the token, pay, present.
    let [lsat, l402] = challenge.to_header_values()?;
    let parsed = Challenge::from_values([lsat.to_str()?, l402.to_str()?])?;
    let to_pay = parsed.decode_invoice().map_err(|e| format!("{e:?}"))?;
    let identifier = Identifier::decode(parsed.macaroon().identifier())?;
    assert_eq!(identifier.payment_hash(), &PaymentHash::from(&to_pay));
    println!(
        "2. client sees a {} sat invoice whose payment hash matches token {}",
        to_pay.amount_milli_satoshis().unwrap_or(0) / 1000,
        identifier.token_id()
    );
    let preimage = Preimage::from_hex(PREIMAGE)?;
    let credential = Credential::new(parsed.macaroon().clone(), preimage);
    let header = credential.to_header_string(Scheme::L402);
    println!("3. client paid and retries with Authorization: L402 <macaroon>:<preimage>");

    // Server side again: verification needs no Lightning node.
    let presented = Credential::parse_authorization(&header)?.ok_or("not an L402 credential")?;
    let verifier = Verifier::new();
    let ctx = VerifyContext::new("weather", SystemTime::now()).capability("forecast");
    let receipt = verifier.verify_with_store(&presented, &ctx, &store).await?;
    println!(
        "4. server verified token {} for service {:?}, capabilities {:?}",
        receipt.token_id, receipt.service, receipt.capabilities
    );

    // A holder can narrow a token, never widen it.
    let mut widened = presented.macaroon().clone();
    widened.add_first_party_caveat("weather_capabilities=forecast,admin")?;
    let tampered = Credential::new(widened, presented.preimage().clone());
    match verifier.verify_with_store(&tampered, &ctx, &store).await {
        Err(VerifyWithStoreError::Invalid(e @ VerifyError::Widened { .. })) => {
            println!("5. a widened copy is refused: {e}");
        }
        other => return Err(format!("widened token was not refused: {other:?}").into()),
    }
    Ok(())
}
