//! The errors a tool's command line can have, with the exit codes Juju's tools use for them.

use crate::Response;

/// A command line a hook tool refuses before touching the model, or input (a `--file`, standard
/// input) it cannot read.
///
/// Juju's tools exit 2 for a bad command line (an unknown flag, a missing argument, an unknown
/// relation id) and 1 for everything that fails while running, bad input files included:
/// [`UsageError::exit_code`] follows that.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsageError {
    /// The tool name is not one of [`crate::TOOLS`].
    #[error("unknown command {0:?}")]
    UnknownTool(String),
    /// A flag the tool does not define, as typed (`--bogus`, `-x`).
    #[error("option provided but not defined: {0}")]
    UnknownFlag(String),
    /// A flag that takes a value came last, with none.
    #[error("option needs an argument: {0}")]
    MissingValue(String),
    /// A flag's value is not valid.
    #[error("invalid value {value:?} for option {option}: {reason}")]
    InvalidValue {
        /// The flag, as typed.
        option: String,
        /// Its value.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// Positional arguments left over.
    #[error("unrecognized args: {}", go_list(.0))]
    UnrecognizedArgs(Vec<String>),
    /// Any other bad command line (a missing argument, a malformed `key=value`).
    #[error("{0}")]
    Invalid(String),
    /// Input the tool could not read or parse: a `--file` or standard input that is not a YAML
    /// or JSON map, a secret file that does not exist. Exit code 1, as in Juju.
    #[error("{0}")]
    Input(String),
}

impl UsageError {
    /// The exit code Juju's tool exits with: 1 for bad input, 2 for a bad command line.
    pub fn exit_code(&self) -> i32 {
        match self {
            UsageError::Input(_) => 1,
            _ => 2,
        }
    }

    /// The reply the tool gives: its exit code and `ERROR <message>` on standard error.
    pub fn to_response(&self) -> Response {
        Response::error(self.exit_code(), self.to_string())
    }
}

/// A list of strings as Go's `%q` prints a `[]string`: `["a" "b"]`.
pub(crate) fn go_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", quoted.join(" "))
}
