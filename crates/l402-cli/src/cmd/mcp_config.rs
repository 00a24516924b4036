//! `l402 mcp --config FILE`: the operator's limits in a TOML file.
//!
//! Keys are the names of the flags they stand for, with underscores (`max_cost`,
//! `allow_hosts`...). A flag given on the command line, or its environment variable,
//! overrides the file; the file overrides the flags' defaults. Unknown keys are refused.

use std::io::Read;
use std::path::Path;

use clap::ArgMatches;
use clap::ValueEnum;
use clap::parser::ValueSource;
use serde::Deserialize;

use crate::exit::CliError;
use crate::spend::{Network, PreferScheme, Window};

/// Largest config file read.
pub(crate) const MAX_CONFIG_LEN: u64 = 64 * 1024;

/// The limits a config file may set; every key optional.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct McpConfig {
    /// `--max-cost`, satoshis.
    pub(crate) max_cost: Option<u64>,
    /// `--max-fee`, satoshis.
    pub(crate) max_fee: Option<u64>,
    /// `--budget`, satoshis.
    pub(crate) budget: Option<u64>,
    /// `--budget-window` (`24h`, or seconds as a string).
    pub(crate) budget_window: Option<String>,
    /// `--network`.
    pub(crate) network: Option<String>,
    /// `--prefer-scheme`.
    pub(crate) prefer_scheme: Option<String>,
    /// `--pay-timeout`, seconds.
    pub(crate) pay_timeout: Option<u64>,
    /// `--allow-host`.
    pub(crate) allow_hosts: Option<Vec<String>>,
    /// `--deny-host`.
    pub(crate) deny_hosts: Option<Vec<String>>,
    /// `--allow-private`.
    pub(crate) allow_private: Option<bool>,
    /// `--max-inline-bytes`.
    pub(crate) max_inline_bytes: Option<usize>,
    /// `--max-download-bytes`.
    pub(crate) max_download_bytes: Option<u64>,
    /// `--timeout`, seconds.
    pub(crate) timeout: Option<u64>,
}

impl McpConfig {
    /// Parses a config file's text.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.message().to_owned())
    }

    /// Reads and parses `path` (at most [`MAX_CONFIG_LEN`] bytes).
    pub(crate) fn read(path: &Path) -> Result<Self, CliError> {
        let err = |m: String| CliError::config(format!("mcp config {}: {m}", path.display()));
        let file = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
        let mut bytes = Vec::new();
        file.take(MAX_CONFIG_LEN + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| err(e.to_string()))?;
        if bytes.len() as u64 > MAX_CONFIG_LEN {
            return Err(err(format!("larger than {MAX_CONFIG_LEN} bytes")));
        }
        let text = String::from_utf8(bytes).map_err(|_| err("not UTF-8".to_owned()))?;
        McpConfig::parse(&text).map_err(err)
    }
}

/// Whether the flag `id` was left to its default (neither given nor set by its
/// environment variable), so that the file may set it.
pub(crate) fn unset(matches: Option<&ArgMatches>, id: &str) -> bool {
    matches
        .and_then(|m| m.value_source(id))
        .is_none_or(|s| s == ValueSource::DefaultValue)
}

/// `budget_window` as a window.
pub(crate) fn window(s: &str) -> Result<Window, CliError> {
    s.parse()
        .map_err(|e: String| CliError::config(format!("mcp config budget_window: {e}")))
}

/// `network` as a network.
pub(crate) fn network(s: &str) -> Result<Network, CliError> {
    Network::from_str(s, true)
        .map_err(|_| CliError::config(format!("mcp config network: unknown network {s:?}")))
}

/// `prefer_scheme` as a preference.
pub(crate) fn prefer_scheme(s: &str) -> Result<PreferScheme, CliError> {
    PreferScheme::from_str(s, true).map_err(|_| {
        CliError::config(format!(
            "mcp config prefer_scheme: unknown scheme {s:?} (l402 or payment)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_every_key_and_refuses_unknown_ones() {
        let c = McpConfig::parse(
            "max_cost = 100\nmax_fee = 2\nbudget = 1000\nbudget_window = \"24h\"\n\
             network = \"regtest\"\nprefer_scheme = \"payment\"\npay_timeout = 30\n\
             allow_hosts = [\"api.example.com\"]\ndeny_hosts = [\"evil.example.com\"]\n\
             allow_private = true\nmax_inline_bytes = 1000\nmax_download_bytes = 2000\n\
             timeout = 5\n",
        )
        .unwrap();
        assert_eq!(c.max_cost, Some(100));
        assert_eq!(
            c.allow_hosts.as_deref(),
            Some(&["api.example.com".to_owned()][..])
        );
        assert_eq!(c.timeout, Some(5));
        let e = McpConfig::parse("max_costs = 100\n").unwrap_err();
        assert!(e.contains("unknown field `max_costs`"), "{e}");
        let e = McpConfig::parse("max_cost = \"lots\"\n").unwrap_err();
        assert!(e.contains("invalid type"), "{e}");
        assert_eq!(McpConfig::parse("").unwrap(), McpConfig::default());
    }

    proptest! {
        #[test]
        fn any_text_parses_or_is_refused_without_panicking(text in "\\PC{0,200}") {
            let _ = McpConfig::parse(&text);
        }

        #[test]
        fn caps_round_trip(cost in any::<u32>(), fee in any::<u32>(), private in any::<bool>()) {
            let text = format!("max_cost = {cost}\nmax_fee = {fee}\nallow_private = {private}\n");
            let c = McpConfig::parse(&text).unwrap();
            prop_assert_eq!(c.max_cost, Some(u64::from(cost)));
            prop_assert_eq!(c.max_fee, Some(u64::from(fee)));
            prop_assert_eq!(c.allow_private, Some(private));
        }
    }
}
