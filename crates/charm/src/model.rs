//! The values a charm exchanges with Juju: statuses, config values, databags, secrets,
//! goal state and workload commands.

use crate::metadata::ConfigType;
use crate::names::{AppName, RelationId, UnitName};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// One relation databag: string keys to string values.
pub type Databag = BTreeMap<String, String>;

/// Whose databag: a unit's or an application's.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum BagOwner {
    /// A unit's bag.
    Unit(UnitName),
    /// An application's bag.
    App(AppName),
}

impl fmt::Display for BagOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BagOwner::Unit(u) => write!(f, "unit {u}"),
            BagOwner::App(a) => write!(f, "application {a}"),
        }
    }
}

/// Which of this unit's own bags a write goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BagScope {
    /// This unit's bag.
    Unit,
    /// This application's bag (leader only).
    App,
}

/// A config value, typed as `config-get --format=json` reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ConfigValue {
    /// A boolean option.
    Bool(bool),
    /// An int option.
    Int(i64),
    /// A float option.
    Float(f64),
    /// A string (or secret URI) option.
    String(String),
}

impl ConfigValue {
    pub(crate) fn from_yaml(kind: ConfigType, v: &serde_yaml_ng::Value) -> Option<Self> {
        match kind {
            ConfigType::String | ConfigType::Secret => match v {
                serde_yaml_ng::Value::String(s) => Some(Self::String(s.clone())),
                serde_yaml_ng::Value::Number(n) => Some(Self::String(n.to_string())),
                serde_yaml_ng::Value::Bool(b) => Some(Self::String(b.to_string())),
                _ => None,
            },
            ConfigType::Int => v.as_i64().map(Self::Int),
            ConfigType::Float => v.as_f64().map(Self::Float),
            ConfigType::Boolean => v.as_bool().map(Self::Bool),
        }
    }

    /// The type's name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Bool(_) => "boolean",
            Self::Int(_) => "int",
            Self::Float(_) => "float",
            Self::String(_) => "string",
        }
    }
}

/// A workload status name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusName {
    /// Ready and serving.
    Active,
    /// Needs an operator.
    Blocked,
    /// Doing its own work.
    Maintenance,
    /// Waiting for something outside the unit.
    Waiting,
    /// No status set yet.
    Unknown,
    /// Set by Juju on a failed hook; charms cannot set it.
    Error,
}

impl StatusName {
    /// The name as `status-set` takes it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Blocked => "blocked",
            Self::Maintenance => "maintenance",
            Self::Waiting => "waiting",
            Self::Unknown => "unknown",
            Self::Error => "error",
        }
    }

    /// Parses a status name as `status-get` prints it.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "active" => Self::Active,
            "blocked" => Self::Blocked,
            "maintenance" => Self::Maintenance,
            "waiting" => Self::Waiting,
            "unknown" | "" => Self::Unknown,
            "error" => Self::Error,
            _ => return None,
        })
    }
}

/// A status with its message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Status {
    /// The status name.
    pub name: StatusName,
    /// The message shown beside it.
    pub message: String,
}

impl Status {
    /// `active` with a message.
    pub fn active(message: impl Into<String>) -> Self {
        Self {
            name: StatusName::Active,
            message: message.into(),
        }
    }
    /// `blocked` with a message.
    pub fn blocked(message: impl Into<String>) -> Self {
        Self {
            name: StatusName::Blocked,
            message: message.into(),
        }
    }
    /// `maintenance` with a message.
    pub fn maintenance(message: impl Into<String>) -> Self {
        Self {
            name: StatusName::Maintenance,
            message: message.into(),
        }
    }
    /// `waiting` with a message.
    pub fn waiting(message: impl Into<String>) -> Self {
        Self {
            name: StatusName::Waiting,
            message: message.into(),
        }
    }
    /// `unknown`, no message.
    pub fn unknown() -> Self {
        Self {
            name: StatusName::Unknown,
            message: String::new(),
        }
    }
}

impl Default for Status {
    fn default() -> Self {
        Self::unknown()
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            f.write_str(self.name.as_str())
        } else {
            write!(f, "{}: {}", self.name.as_str(), self.message)
        }
    }
}

/// Whose status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StatusTarget {
    /// This unit's.
    Unit,
    /// This application's (leader only to set).
    App,
}

/// A `juju-log` level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum LogLevel {
    /// TRACE.
    Trace,
    /// DEBUG.
    Debug,
    /// INFO.
    Info,
    /// WARNING.
    Warning,
    /// ERROR.
    Error,
}

impl LogLevel {
    /// The level as `juju-log --log-level` takes it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Trace => "TRACE",
            Self::Debug => "DEBUG",
            Self::Info => "INFO",
            Self::Warning => "WARNING",
            Self::Error => "ERROR",
        }
    }

    /// Parses a level name (case-insensitive; `WARN` and `CRITICAL` accepted).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_uppercase().as_str() {
            "TRACE" => Self::Trace,
            "DEBUG" => Self::Debug,
            "INFO" => Self::Info,
            "WARNING" | "WARN" => Self::Warning,
            "ERROR" | "CRITICAL" => Self::Error,
            _ => return None,
        })
    }
}

/// The content of a secret: keys to values.
///
/// Its `Debug` form hides the values, so a secret never lands in a log by accident.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretContent(pub BTreeMap<String, String>);

impl fmt::Debug for SecretContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|k| (k, "<redacted>")))
            .finish()
    }
}

/// Who owns a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretOwner {
    /// The application (managed by the leader).
    Application,
    /// This unit.
    Unit,
}

impl SecretOwner {
    /// The form `secret-add --owner` takes.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Application => "application",
            Self::Unit => "unit",
        }
    }
}

/// Options for `secret-add` and `secret-set`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SecretOptions {
    /// A label that names the secret for this unit or app.
    pub label: Option<String>,
    /// A description.
    pub description: Option<String>,
    /// When it expires, RFC 3339.
    pub expire: Option<String>,
    /// Rotation policy: never, hourly, daily, weekly, monthly, quarterly, yearly.
    pub rotate: Option<String>,
    /// Owner (secret-add only); application by default.
    pub owner: Option<SecretOwner>,
}

/// How `secret-get` picks the revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SecretRead {
    /// The tracked revision.
    #[default]
    Tracked,
    /// Move to the latest revision and return it (`--refresh`).
    Refresh,
    /// Return the latest revision without tracking it (`--peek`).
    Peek,
}

/// A secret's id or label, as `secret-get` and `secret-info-get` accept them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SecretRef {
    /// `secret:...`.
    Id(String),
    /// A label set by the owner or the observer.
    Label(String),
    /// An id, with a label to set on it.
    IdWithLabel(String, String),
}

/// What `secret-info-get` reports about an owned secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretInfo {
    /// The secret's id.
    pub id: String,
    /// Its label, if any.
    pub label: Option<String>,
    /// Its owner: `application` or `unit`.
    pub owner: String,
    /// Its latest revision.
    pub revision: u64,
    /// Its description.
    pub description: Option<String>,
    /// When it expires (RFC 3339).
    pub expiry: Option<String>,
    /// Its rotation policy.
    pub rotation: Option<String>,
}

/// Who loses access in `secret-revoke`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RevokeTarget {
    /// The whole relation.
    Relation,
    /// One application of it (`--app`).
    App(AppName),
    /// One unit of it (`--unit`).
    Unit(UnitName),
}

/// One entry of `goal-state`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoalStatus {
    /// `active`, `waiting`, `joining`, `dying`...
    pub status: String,
    /// When it reached that status.
    #[serde(default)]
    pub since: Option<String>,
}

/// What `goal-state --format=json` reports.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GoalState {
    /// The units of this application, by name.
    #[serde(default)]
    pub units: BTreeMap<String, GoalStatus>,
    /// Each endpoint's related applications and units, by name.
    #[serde(default)]
    pub relations: BTreeMap<String, BTreeMap<String, GoalStatus>>,
}

impl GoalState {
    /// The number of units the application will have (units that are not dying), as ops'
    /// `planned_units` counts them.
    pub fn planned_units(&self) -> usize {
        self.units.values().filter(|s| s.status != "dying").count()
    }
}

/// A command the charm runs on its workload, such as `microovn cluster list -f json`.
///
/// Its `Debug` output, like `Display`, shows secret arguments as `<redacted>`.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WorkloadCommand {
    /// The program, such as `microovn`.
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// The longest it may run.
    pub timeout: Option<Duration>,
    /// Argument positions whose values are secret (a join token): shown as `<redacted>`.
    pub secret_args: Vec<usize>,
}

impl WorkloadCommand {
    /// A command from a program and its arguments.
    ///
    /// ```
    /// use charm::WorkloadCommand;
    /// let c = WorkloadCommand::new("microovn", ["cluster", "join"]).secret_arg("TOKEN").timeout_secs(60);
    /// assert_eq!(c.to_string(), "microovn cluster join <redacted>");
    /// ```
    pub fn new<I, S>(program: impl Into<String>, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            timeout: None,
            secret_args: Vec::new(),
        }
    }

    /// Appends an argument.
    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }

    /// Appends an argument that must never be shown (a token, a password).
    pub fn secret_arg(mut self, a: impl Into<String>) -> Self {
        self.secret_args.push(self.args.len());
        self.args.push(a.into());
        self
    }

    /// Sets the timeout.
    pub fn timeout_secs(mut self, secs: u64) -> Self {
        self.timeout = Some(Duration::from_secs(secs));
        self
    }
}

impl fmt::Display for WorkloadCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.program)?;
        for (i, a) in self.args.iter().enumerate() {
            if self.secret_args.contains(&i) {
                f.write_str(" <redacted>")?;
            } else {
                write!(f, " {a}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for WorkloadCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let args: Vec<&str> = self
            .args
            .iter()
            .enumerate()
            .map(|(i, a)| match self.secret_args.contains(&i) {
                true => "<redacted>",
                false => a.as_str(),
            })
            .collect();
        f.debug_struct("WorkloadCommand")
            .field("program", &self.program)
            .field("args", &args)
            .field("timeout", &self.timeout)
            .field("secret_args", &self.secret_args)
            .finish()
    }
}

/// What a workload command did.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CommandOutput {
    /// Its exit code; `None` if it was killed (for example by its timeout).
    pub code: Option<i32>,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

impl CommandOutput {
    /// Exit code 0 with the given output.
    pub fn ok(stdout: impl Into<String>) -> Self {
        Self {
            code: Some(0),
            stdout: stdout.into(),
            stderr: String::new(),
        }
    }

    /// A failure with the given code and standard error.
    pub fn failed(code: i32, stderr: impl Into<String>) -> Self {
        Self {
            code: Some(code),
            stdout: String::new(),
            stderr: stderr.into(),
        }
    }

    /// Whether the command exited 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// A relation as this unit sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relation {
    /// Its id.
    pub id: RelationId,
    /// This charm's endpoint.
    pub endpoint: String,
    /// The application on the other side (this application, for a peer relation).
    pub app: Option<AppName>,
    /// The remote units (peers other than this unit) that have joined, sorted by name.
    pub units: Vec<UnitName>,
}

/// A port or range the unit opens: `80/tcp`, `8000-8999/udp`, `icmp`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Port {
    /// `tcp`, `udp` or `icmp`.
    pub protocol: String,
    /// The first port (0 for icmp).
    pub from: u16,
    /// The last port (equal to `from` for one port).
    pub to: u16,
}

impl Port {
    /// Parses `80/tcp`, `8000-8999/udp`, `80` (tcp) or `icmp`.
    ///
    /// ```
    /// use charm::Port;
    /// assert_eq!(Port::parse("8000-8999/udp").unwrap().to_string(), "8000-8999/udp");
    /// assert_eq!(Port::parse("icmp").unwrap().to_string(), "icmp");
    /// assert!(Port::parse("99999/tcp").is_none());
    /// ```
    pub fn parse(s: &str) -> Option<Self> {
        if s == "icmp" {
            return Some(Self {
                protocol: "icmp".into(),
                from: 0,
                to: 0,
            });
        }
        let (range, protocol) = s.split_once('/').unwrap_or((s, "tcp"));
        if !matches!(protocol, "tcp" | "udp") {
            return None;
        }
        let (from, to) = match range.split_once('-') {
            Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
            None => {
                let p: u16 = range.parse().ok()?;
                (p, p)
            }
        };
        if from == 0 || to < from {
            return None;
        }
        Some(Self {
            protocol: protocol.into(),
            from,
            to,
        })
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.protocol == "icmp" {
            f.write_str("icmp")
        } else if self.from == self.to {
            write!(f, "{}/{}", self.from, self.protocol)
        } else {
            write!(f, "{}-{}/{}", self.from, self.to, self.protocol)
        }
    }
}
