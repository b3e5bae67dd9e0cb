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
///
/// Its `Debug` output redacts an unknown role (it is workload output).
#[derive(Clone, PartialEq, Eq)]
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

impl std::fmt::Debug for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Voter => f.write_str("Voter"),
            Self::StandBy => f.write_str("StandBy"),
            Self::Spare => f.write_str("Spare"),
            Self::Pending => f.write_str("Pending"),
            Self::Other(s) => f.debug_tuple("Other").field(&Redacted(s)).finish(),
        }
    }
}

/// One member, as `list -f json` reports it (the fields ensemble reads).
///
/// Its `Debug` output redacts every field (they are workload output).
#[derive(Clone, PartialEq, Eq)]
pub struct Member {
    /// Its name (the machine's hostname).
    pub name: String,
    /// Its role.
    pub role: Role,
    /// `ONLINE`, `UNREACHABLE`, ...
    pub status: String,
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member")
            .field("name", &Redacted(&self.name))
            .field("role", &self.role)
            .field("status", &Redacted(&self.status))
            .finish()
    }
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
    /// The command printed something that is not the member list (the parser's message,
    /// redacted: a JSON parser's message may quote the output).
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
        serde_json::from_str(stdout.trim()).map_err(|e| ListError::Garbage(redact(&e.to_string())))?;
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
/// Stale: the token is expired, used, for another name, garbage, or does not fit the cluster its
/// addresses lead to (another cluster's certificate: a token from another life of the machines).
/// Anything else is transient; the consumer counts transient failures of one token and asks for
/// a fresh one past a bound (`consumer::MAX_JOIN_ATTEMPTS`), because some failures of a token
/// that cannot work say nothing (a token whose addresses answer with another cluster's
/// certificate fails with Go's `%!w(<nil>)`).
///
/// ```
/// use microcluster::cli::{classify_join_failure, JoinFailure};
/// assert_eq!(classify_join_failure("Error: 1 join attempts were unsuccessful. Last error: Token expired"), JoinFailure::StaleToken);
/// assert_eq!(classify_join_failure("Error: context deadline exceeded"), JoinFailure::Transient);
/// ```
pub fn classify_join_failure(stderr: &str) -> JoinFailure {
    const STALE: [&str; 13] = [
        "token expired",
        "does not match",
        "fingerprint",
        "unknown authority",
        "token is invalid",
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

/// The cluster a token was minted by: the fingerprint of the cluster's certificate that every
/// microcluster token carries (`base64(JSON{"secret","fingerprint","join_addresses"})`), or
/// `None` if `token` is not such a token. Never logged (it is no secret, but it is no use in a
/// log either).
///
/// ```
/// let t = "eyJzZWNyZXQiOiJzIiwiZmluZ2VycHJpbnQiOiJhYmMiLCJqb2luX2FkZHJlc3NlcyI6W119";
/// assert_eq!(microcluster::cli::token_fingerprint(t).as_deref(), Some("abc"));
/// assert_eq!(microcluster::cli::token_fingerprint("garbage"), None);
/// ```
pub fn token_fingerprint(token: &str) -> Option<String> {
    use base64::Engine as _;
    /// A token lists every member's address; anything far larger is not a token.
    const MAX_TOKEN: usize = 1 << 20;
    if token.len() > MAX_TOKEN {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get("fingerprint")?.as_str().map(str::to_owned)
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

/// The most bytes [`redact`] returns before it cuts the text short (plus a short note of how
/// much was cut): a log line or an error built from workload output or relation data stays small
/// whatever that output is.
pub const REDACT_LIMIT: usize = 1024;

/// The marker that replaces a secret.
pub const REDACTED: &str = "<redacted>";

/// Whether `c` can be part of a base64 (standard or URL-safe) run, or of such a run escaped
/// (`\/` in JSON, `%2F` in a URL): a token escaped that way is still one run.
fn in_run(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '-' | '_' | '\\' | '%')
}

/// Whether a run must be hidden: any run of 32 characters or more (a token, a certificate, a
/// 64-hex secret, a fingerprint) unless it is plainly words (lowercase letters joined by `-` or
/// `_`, such as a hook name), and a shorter run that holds the start of base64-encoded JSON
/// (`eyJ`, the first characters of every microcluster token, so a token cut short is hidden too).
fn secret_run(run: &str) -> bool {
    const MIN_RUN: usize = 32;
    const MIN_JSON_RUN: usize = 8;
    let words = run
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b == b'-' || b == b'_');
    (run.len() >= MIN_RUN && !words) || (run.len() >= MIN_JSON_RUN && run.contains("eyJ"))
}

/// The one path by which text from outside (workload output, relation data, command lines)
/// reaches a log line, an error message, a status or `Debug` output.
///
/// It replaces every long base64-looking run (a join token, a certificate, a secret) with
/// `<redacted>`, and also a shorter run that holds the start of base64-encoded JSON (a token
/// cut short), wherever it sits in the text; then it cuts the result to [`REDACT_LIMIT`]
/// bytes, noting how much was cut. It cuts only after redacting, so a token is never cut into
/// a piece short enough to pass, and it stops reading once the limit is reached, so a huge
/// input costs no more than a small one.
///
/// ```
/// let token = "eyJzZWNyZXQiOiIwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZiJ9";
/// let out = microcluster::cli::redact(&format!("Error: bad token {token}"));
/// assert_eq!(out, "Error: bad token <redacted>");
/// assert_eq!(microcluster::cli::redact("cut: eyJzZWNyZXQiOiIw"), "cut: <redacted>");
/// assert!(microcluster::cli::redact(&"a ".repeat(10_000)).len() < 1100);
/// ```
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(REDACT_LIMIT + 64));
    let mut run_start: Option<usize> = None;
    let mut consumed = 0usize;
    let flush = |run: &str, out: &mut String| {
        if secret_run(run) {
            out.push_str(REDACTED);
        } else {
            out.push_str(run);
        }
    };
    for (i, c) in text.char_indices() {
        if out.len() >= REDACT_LIMIT {
            break;
        }
        if in_run(c) {
            run_start.get_or_insert(i);
            continue;
        }
        if let Some(start) = run_start.take() {
            flush(&text[start..i], &mut out);
        }
        out.push(c);
        consumed = i + c.len_utf8();
    }
    if out.len() < REDACT_LIMIT {
        if let Some(start) = run_start.take() {
            flush(&text[start..], &mut out);
            consumed = text.len();
        }
    }
    if out.len() > REDACT_LIMIT {
        let mut cut = REDACT_LIMIT;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    let left = text.len().saturating_sub(consumed);
    if left > 0 {
        out.push_str(&format!("… ({left} more bytes)"));
    }
    out
}

/// Redacts `secret` wherever it appears, then as [`redact`] does.
///
/// The secret is first replaced by a sentinel made of run characters, so that a secret found
/// inside a longer run (a garbage "token" such as `2` inside a real token the workload echoes)
/// does not cut that run into pieces short enough to pass; the sentinel becomes `<redacted>`
/// once the runs are redacted.
///
/// ```
/// let t = "eyJzZWNyZXQiOiIwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZiJ9";
/// let out = microcluster::cli::redact_secret(&format!("exit 2: {t}"), "2");
/// assert_eq!(out, "exit <redacted>: <redacted>");
/// ```
pub fn redact_secret(text: &str, secret: &str) -> String {
    const SENTINEL: &str = "zzSECRETzz";
    if secret.is_empty() || !text.contains(secret) {
        return redact(text);
    }
    redact(&text.replace(secret, SENTINEL)).replace(SENTINEL, REDACTED)
}

/// A string shown through [`redact`] by `Debug` (quoted) and `Display`: for `Debug` impls of
/// types that hold tokens or text from outside.
pub struct Redacted<'a>(pub &'a str);

impl std::fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", redact(self.0))
    }
}

impl std::fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact(self.0))
    }
}

/// A map of strings (a databag) shown by `Debug` with every key and value through [`redact`].
pub struct RedactedMap<'a, V>(pub &'a std::collections::BTreeMap<String, V>);

impl<V: AsRedacted> std::fmt::Debug for RedactedMap<'_, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| (Redacted(k), v.as_redacted())))
            .finish()
    }
}

/// A value a [`RedactedMap`] can show redacted.
pub trait AsRedacted {
    /// The value, redacted, for `Debug`.
    fn as_redacted(&self) -> Box<dyn std::fmt::Debug + '_>;
}

impl AsRedacted for String {
    fn as_redacted(&self) -> Box<dyn std::fmt::Debug + '_> {
        Box::new(Redacted(self))
    }
}

impl AsRedacted for Option<String> {
    fn as_redacted(&self) -> Box<dyn std::fmt::Debug + '_> {
        Box::new(self.as_deref().map(Redacted))
    }
}

impl AsRedacted for u64 {
    fn as_redacted(&self) -> Box<dyn std::fmt::Debug + '_> {
        Box::new(*self)
    }
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
