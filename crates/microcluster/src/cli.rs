//! The microcluster command-line contract: building commands, parsing `list -f json`, telling
//! failures apart, and keeping tokens out of logs.
//!
//! `<cmd> bootstrap | add <name> [--timeout <s>] | join <token> | list -f json | remove <name> [--force]`,
//! where `<cmd>` is the charm's command (`microovn cluster`).

use charm::{CommandOutput, WorkloadCommand};
use serde::Deserialize;
use std::time::Duration;

/// The longest a cluster command may run before it is killed.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a token ensemble mints stays valid (`add --timeout`): long enough for the joiner to
/// use it, short enough that a token lost with a failed hook frees its name soon (the
/// workload's own default is 3 h).
pub const DEFAULT_TOKEN_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// A member's role: dqlite's `voter`, `stand-by`, `spare`, or microcluster's `PENDING`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// A voter.
    Voter,
    /// A stand-by.
    StandBy,
    /// A spare.
    Spare,
    /// About to be added or removed.
    Pending,
    /// Anything else this version does not know.
    Other(String),
}

impl Role {
    fn parse(s: &str) -> Self {
        match s {
            "voter" => Self::Voter,
            "stand-by" => Self::StandBy,
            "spare" => Self::Spare,
            "PENDING" => Self::Pending,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// One member, as `list -f json` reports it (the fields ensemble reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its name (the machine's hostname).
    pub name: String,
    /// Its role.
    pub role: Role,
    /// `ONLINE`, `UNREACHABLE`, ...
    pub status: String,
}

impl Member {
    /// Whether it is an online voter.
    pub fn is_online_voter(&self) -> bool {
        self.role == Role::Voter && self.status == "ONLINE"
    }

    /// Whether it is online.
    pub fn is_online(&self) -> bool {
        self.status == "ONLINE"
    }
}

#[derive(Deserialize)]
struct RawMember {
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    status: String,
}

/// Why `list -f json` output could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListError {
    /// The command failed: usually "this host is not in a cluster".
    #[error("cluster list failed (exit {code:?}): {stderr}")]
    Failed {
        /// Its exit code.
        code: Option<i32>,
        /// Its standard error, redacted.
        stderr: String,
    },
    /// The command printed something that is not the member list.
    #[error("cluster list printed something that is not a member list: {0}")]
    Garbage(String),
    /// The hook did not ask (see `consumer::needs_list`).
    #[error("the cluster was not asked in this hook")]
    NotAsked,
}

/// Parses `list -f json` output.
///
/// ```
/// let members = microcluster::cli::parse_list(r#"[{"name":"a","role":"voter","status":"ONLINE","address":"10.0.0.1:6443"}]"#).unwrap();
/// assert!(members[0].is_online_voter());
/// assert!(microcluster::cli::parse_list("Error: nope").is_err());
/// ```
pub fn parse_list(stdout: &str) -> Result<Vec<Member>, ListError> {
    let raw: Vec<RawMember> =
        serde_json::from_str(stdout.trim()).map_err(|e| ListError::Garbage(e.to_string()))?;
    let mut out = Vec::with_capacity(raw.len());
    for m in raw {
        if m.name.is_empty() {
            return Err(ListError::Garbage("a member has no name".into()));
        }
        out.push(Member {
            name: m.name,
            role: Role::parse(&m.role),
            status: m.status,
        });
    }
    Ok(out)
}

/// The result of `list -f json` on this host.
pub fn list_result(out: &CommandOutput) -> Result<Vec<Member>, ListError> {
    if !out.success() {
        return Err(ListError::Failed {
            code: out.code,
            stderr: redact(out.stderr.trim()),
        });
    }
    parse_list(&out.stdout)
}

/// Builds the charm's cluster commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterCommand {
    prefix: Vec<String>,
    token_timeout: Option<Duration>,
}

impl ClusterCommand {
    /// Commands under `prefix`, such as `["microovn", "cluster"]`. An empty prefix is refused.
    pub fn new<I, S>(prefix: I) -> Option<Self>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let prefix: Vec<String> = prefix.into_iter().map(Into::into).collect();
        if prefix.is_empty() || prefix[0].is_empty() {
            return None;
        }
        Some(Self {
            prefix,
            token_timeout: Some(DEFAULT_TOKEN_TIMEOUT),
        })
    }

    /// Mints tokens with this lifetime (`add --timeout`; [`DEFAULT_TOKEN_TIMEOUT`] unless set).
    pub fn with_token_timeout(mut self, t: Duration) -> Self {
        self.token_timeout = Some(t);
        self
    }

    fn base(&self) -> WorkloadCommand {
        WorkloadCommand::new(&self.prefix[0], self.prefix[1..].iter().cloned())
            .timeout_secs(COMMAND_TIMEOUT.as_secs())
    }

    /// `bootstrap [extra...]`.
    pub fn bootstrap(&self, extra: &[String]) -> WorkloadCommand {
        let mut c = self.base().arg("bootstrap");
        c.args.extend(extra.iter().cloned());
        c
    }

    /// `add <name>`.
    pub fn add(&self, name: &str) -> WorkloadCommand {
        let mut c = self.base().arg("add").arg(name);
        if let Some(t) = self.token_timeout {
            c = c.arg("--timeout").arg(t.as_secs().to_string());
        }
        c
    }

    /// `join <token> [extra...]`; the token is a secret argument, never shown.
    pub fn join(&self, token: &str, extra: &[String]) -> WorkloadCommand {
        let mut c = self.base().arg("join").secret_arg(token);
        c.args.extend(extra.iter().cloned());
        c
    }

    /// `list -f json`.
    pub fn list(&self) -> WorkloadCommand {
        self.base().arg("list").arg("-f").arg("json")
    }

    /// `remove <name> [--force]`.
    pub fn remove(&self, name: &str, force: bool) -> WorkloadCommand {
        let c = self.base().arg("remove").arg(name);
        if force {
            c.arg("--force")
        } else {
            c
        }
    }
}

/// Why a join failed, as far as the consumer must act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinFailure {
    /// The token cannot work any more (expired, already used, for another name, an address or
    /// name already in the cluster): ask for a fresh one.
    StaleToken,
    /// Anything else (the cluster unreachable, a timeout): try the same token again later.
    Transient,
}

/// Classifies a failed `join`'s standard error.
///
/// ```
/// use microcluster::cli::{classify_join_failure, JoinFailure};
/// assert_eq!(classify_join_failure("Error: 1 join attempts were unsuccessful. Last error: Token expired"), JoinFailure::StaleToken);
/// assert_eq!(classify_join_failure("Error: context deadline exceeded"), JoinFailure::Transient);
/// ```
pub fn classify_join_failure(stderr: &str) -> JoinFailure {
    const STALE: [&str; 9] = [
        "token expired",
        "coretokenrecord not found",
        "token record not found",
        "does not contain join token name",
        "exists",
        "already",
        "illegal base64",
        "invalid character",
        "unexpected end of json",
    ];
    let lower = stderr.to_ascii_lowercase();
    if STALE.iter().any(|s| lower.contains(s)) {
        JoinFailure::StaleToken
    } else {
        JoinFailure::Transient
    }
}

/// Whether a failed `add`'s standard error says the name is taken.
pub fn add_name_taken(stderr: &str) -> bool {
    stderr.contains("is taken")
}

/// Whether `name` is a hostname `add` accepts (labels of letters, digits and dashes, dots
/// between them, at most 253 characters). Relation data is untrusted: anything else is refused
/// before it reaches a command line.
pub fn valid_hostname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Replaces every long base64-looking run (a join token, a certificate, a secret) with
/// `<redacted>`, so workload output can go to logs.
///
/// ```
/// let token = "eyJzZWNyZXQiOiIwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZiJ9";
/// let out = microcluster::cli::redact(&format!("Error: bad token {token}"));
/// assert_eq!(out, "Error: bad token <redacted>");
/// ```
pub fn redact(text: &str) -> String {
    const MIN_RUN: usize = 32;
    let is_b64 = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '-' | '_');
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= MIN_RUN {
            out.push_str("<redacted>");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if is_b64(c) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Redacts `secret` wherever it appears, then any other long base64 run.
pub fn redact_secret(text: &str, secret: &str) -> String {
    let text = if secret.is_empty() {
        text.to_owned()
    } else {
        text.replace(secret, "<redacted>")
    };
    redact(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_parsing() {
        let json = r#"[
          {"name":"n1","address":"10.0.0.1:6443","role":"voter","status":"ONLINE"},
          {"name":"n2","address":"10.0.0.2:6443","role":"PENDING","status":"ONLINE"},
          {"name":"n3","address":"10.0.0.3:6443","role":"vote","status":"ONLINE"}
        ]"#;
        let m = parse_list(json).unwrap();
        assert_eq!(m[1].role, Role::Pending);
        // Equality, not substring: "vote" is not a voter (weakness #1).
        assert!(!m[2].is_online_voter());
        assert_eq!(m[2].role, Role::Other("vote".into()));
        for bad in [
            "",
            "{}",
            "[{\"role\":\"voter\"}]",
            "[{\"name\":\"\"}]",
            "garbage",
            "[1,2]",
        ] {
            assert!(parse_list(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn commands() {
        let c = ClusterCommand::new(["microovn", "cluster"]).unwrap();
        assert_eq!(c.list().to_string(), "microovn cluster list -f json");
        assert_eq!(c.add("h1").to_string(), "microovn cluster add h1 --timeout 1800");

        assert_eq!(
            c.join("SECRET", &["--x".into()]).to_string(),
            "microovn cluster join <redacted> --x"
        );
        assert_eq!(
            c.clone()
                .with_token_timeout(Duration::from_secs(600))
                .add("h1")
                .to_string(),
            "microovn cluster add h1 --timeout 600"
        );
        assert_eq!(
            c.remove("h1", true).to_string(),
            "microovn cluster remove h1 --force"
        );
        assert!(ClusterCommand::new(Vec::<String>::new()).is_none());
    }

    #[test]
    fn hostnames() {
        for ok in ["a", "node-1", "n1.maas", "x".repeat(63).as_str()] {
            assert!(valid_hostname(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "a..b", "a b", "a;rm", "--force", &"x".repeat(64)] {
            assert!(!valid_hostname(bad), "{bad}");
        }
    }

    #[test]
    fn join_failures() {
        for stale in [
            "Error: 1 join attempts were unsuccessful. Last error: CoreTokenRecord not found",
            "Last error: Joining server certificate SAN does not contain join token name",
            "Remote with address \"10.0.0.3:6443\" exists",
            "illegal base64 data at input byte 4",
        ] {
            assert_eq!(classify_join_failure(stale), JoinFailure::StaleToken, "{stale}");
        }
        assert_eq!(
            classify_join_failure("dial tcp: connection refused"),
            JoinFailure::Transient
        );
    }

    #[test]
    fn redaction_keeps_short_words() {
        assert_eq!(redact("name \"node-1\" is taken"), "name \"node-1\" is taken");
        let t = "A".repeat(40);
        assert_eq!(redact_secret(&format!("x {t} y"), &t), "x <redacted> y");
    }
}
