//! Writing results to stdout.

use std::io::Write;

use serde_json::Value;

use crate::exit::CliError;

/// Prints `value` as pretty JSON and a newline on stdout.
pub(crate) fn print_json(value: &Value) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::failure(format!("cannot format json: {e}")))?;
    print_line(&text)
}

/// Prints a line on stdout; a closed stdout (`| head`) is not an error worth a message.
pub(crate) fn print_line(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(|e| CliError::failure(format!("cannot write to stdout: {e}")))
}
