//! [`Redacted`]: secret fields of node answers in `Debug` output.

use core::fmt;

/// Debug-prints a secret text field of a node's answer (a hex preimage) as `<redacted>`,
/// or `None` when the field is absent, so that a `{:?}` of the answer, in a log or a
/// test failure, never shows it.
///
/// ```
/// use l402_node_rest::redact::Redacted;
///
/// assert_eq!(format!("{:?}", Redacted(Some("ab12"))), "<redacted>");
/// assert_eq!(format!("{:?}", Redacted(None)), "None");
/// ```
#[derive(Clone, Copy)]
pub struct Redacted<'a>(pub Option<&'a str>);

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "<redacted>"
        } else {
            "None"
        })
    }
}
