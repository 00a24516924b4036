//! `l402 node inspect`: what a node credential allows, offline.

use std::path::PathBuf;

use clap::Args;
use l402_core::encoding::hex_encode;
use l402_core::node_credential::CredentialRole;
use l402_core::node_credential::lnd::{LndCaveat, LndMacaroon};
use l402_core::node_credential::rune::Rune;
use serde_json::{Value, json};

use crate::credential::{self, Kind, NodeCredential};
use crate::exit::{CmdResult, OK};
use crate::output::{print_json, print_line};

/// Print what an LND macaroon or a Core Lightning rune allows, without contacting a node.
///
/// For a macaroon: its location, the nonce, storage id and permissions in its identifier
/// (LND's protobuf `MacaroonId`) and its first-party caveats. For a rune: its unique id and
/// restrictions. For both: what it allows beyond an invoice backend and a payment
/// backend, and whether it can spend. Signatures are not checked (only the node can).
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  l402 node inspect ~/.lnd/data/chain/bitcoin/mainnet/invoice.macaroon
  l402 node inspect server.rune --json

Exit codes: 0 inspected, 2 unreadable file, truncated or non-LND macaroon, malformed rune.")]
pub(crate) struct InspectArgs {
    /// The credential file: an LND macaroon (binary or hex) or a rune (text or
    /// `createrune`'s JSON).
    file: PathBuf,
    /// Which node the credential is for (detected when absent).
    #[arg(long, value_enum)]
    backend: Option<Kind>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: &InspectArgs) -> CmdResult {
    let cred = credential::read(&args.file, args.backend)?;
    let value = describe(&cred);
    if args.json {
        print_json(&value)?;
    } else {
        print_line(&text(&value))?;
    }
    Ok(OK)
}

fn roles(cred: &NodeCredential) -> Value {
    let mut out = serde_json::Map::new();
    for (name, role) in [
        ("invoice", CredentialRole::Invoice),
        ("payment", CredentialRole::Payment),
    ] {
        let ex = cred.excess(role);
        out.insert(
            name.to_owned(),
            json!({ "extra": ex.permissions, "extra_can_spend": ex.can_spend }),
        );
    }
    Value::Object(out)
}

/// The JSON description.
pub(crate) fn describe(cred: &NodeCredential) -> Value {
    let mut v = match cred {
        NodeCredential::Lnd { macaroon, .. } => lnd(macaroon),
        NodeCredential::Cln(rune) => cln(rune),
    };
    if let Some(o) = v.as_object_mut() {
        o.insert("can_spend".into(), json!(cred.can_spend()));
        o.insert("admin".into(), json!(cred.is_admin()));
        o.insert("beyond_role".into(), roles(cred));
    }
    v
}

fn lnd(m: &LndMacaroon) -> Value {
    let id = m.id();
    let ops: Vec<Value> = id
        .ops
        .iter()
        .map(|op| json!({ "entity": op.entity, "actions": op.actions }))
        .collect();
    let caveats: Vec<Value> = m
        .caveats()
        .iter()
        .map(|c| match LndCaveat::parse(c) {
            LndCaveat::TimeBefore(t) => json!({
                "caveat": c,
                "expires_unix": l402_core::unix_seconds(t),
                "expired": t <= std::time::SystemTime::now(),
            }),
            LndCaveat::IpAddr(ip) => json!({ "caveat": c, "ip": ip.to_string() }),
            _ => json!({ "caveat": c }),
        })
        .collect();
    json!({
        "kind": "lnd-macaroon",
        "location": m.macaroon().location(),
        "nonce": hex_encode(&id.nonce),
        "storage_id": String::from_utf8_lossy(&id.storage_id),
        "ops": ops,
        "permissions": id.permissions(),
        "caveats": caveats,
    })
}

fn cln(r: &Rune) -> Value {
    let restrictions: Vec<String> = r.restrictions().iter().map(ToString::to_string).collect();
    json!({
        "kind": "cln-rune",
        "unique_id": r.unique_id(),
        "restrictions": restrictions,
        "unrestricted": r.is_unrestricted(),
    })
}

fn list(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The text form.
pub(crate) fn text(v: &Value) -> String {
    let mut lines = Vec::new();
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    if s("kind") == "lnd-macaroon" {
        lines.push("lnd macaroon".to_owned());
        lines.push(format!("  location:    {}", s("location")));
        lines.push(format!("  nonce:       {}", s("nonce")));
        lines.push(format!("  storage id:  {}", s("storage_id")));
        lines.push(format!(
            "  permissions: {}",
            list(&v["permissions"]).join(" ")
        ));
        let caveats: Vec<String> = v["caveats"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|c| {
                        let mut t = c["caveat"].as_str().unwrap_or("").to_owned();
                        if c["expired"].as_bool() == Some(true) {
                            t.push_str(" (expired)");
                        }
                        t
                    })
                    .collect()
            })
            .unwrap_or_default();
        if caveats.is_empty() {
            lines.push("  caveats:     none".to_owned());
        } else {
            lines.push("  caveats:".to_owned());
            lines.extend(caveats.into_iter().map(|c| format!("    {c}")));
        }
    } else {
        lines.push("cln rune".to_owned());
        if let Some(id) = v["unique_id"].as_str() {
            lines.push(format!("  unique id:    {id}"));
        }
        let r = list(&v["restrictions"]);
        if v["unrestricted"].as_bool() == Some(true) {
            lines.push("  restrictions: none on methods (can call every method)".to_owned());
        }
        if !r.is_empty() {
            lines.push("  restrictions (all must pass; '|' separates alternatives):".to_owned());
            lines.extend(r.into_iter().map(|x| format!("    {x}")));
        }
    }
    let yes = |b: bool| if b { "yes" } else { "no" };
    lines.push(format!(
        "  can spend:   {}",
        yes(v["can_spend"].as_bool() == Some(true))
    ));
    lines.push(format!(
        "  admin:       {}",
        yes(v["admin"].as_bool() == Some(true))
    ));
    for (role, label) in [("invoice", "an invoice"), ("payment", "a payment")] {
        let extra = list(&v["beyond_role"][role]["extra"]);
        lines.push(format!(
            "  beyond {label} backend: {}",
            if extra.is_empty() {
                "nothing".to_owned()
            } else {
                extra.join(" ")
            }
        ));
    }
    lines.join("\n")
}
