//! Turning a tool's command line into a typed [`Request`], with every argv form Python `ops` and
//! charmhelpers use.

use crate::error::UsageError;
use crate::flags::{self, flag, FlagDef, Kind, Parsed};
use crate::settings::{base64_decode, key_values, read_settings};
use charm::{
    Databag, LogLevel, Port, RelationId, SecretContent, SecretOptions, SecretOwner, SecretRead, SecretRef,
    Status, StatusName, StatusTarget, UnitName,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An output format (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Format {
    /// Juju's default for most tools: a string as is, a list one item a line, a boolean as
    /// `True`/`False`, anything else as YAML.
    Smart,
    /// JSON, one line.
    Json,
    /// YAML.
    Yaml,
}

/// A relation named on the command line (`-r db:3`, `-r 3`) or taken from the hook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelationArg {
    /// As given (`db:3`), for messages.
    pub raw: String,
    /// The relation id (the number after the last `:`).
    pub id: RelationId,
}

/// Which part of `network-get`'s answer to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetworkKey {
    /// `--bind-address`.
    BindAddress,
    /// `--ingress-address`.
    IngressAddress,
    /// `--egress-subnets`.
    EgressSubnets,
}

impl NetworkKey {
    /// The key in the map printed when several are asked for.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::BindAddress => "bind-address",
            Self::IngressAddress => "ingress-address",
            Self::EgressSubnets => "egress-subnets",
        }
    }
}

/// `juju-exec -u <unit> "JUJU_DISPATCH_PATH=hooks/<name> ./dispatch"`: a hook the charm asks the
/// agent to dispatch to a unit (a self-scheduled event). The agent, not a backend, runs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecRequest {
    /// The unit to run it on.
    pub unit: UnitName,
    /// `JUJU_DISPATCH_PATH`, such as `hooks/retry-join`.
    pub dispatch_path: String,
    /// Other `NAME=value` assignments before `./dispatch`.
    pub env: BTreeMap<String, String>,
}

/// One hook-tool call, parsed. Defaults that depend on the running hook (the relation of a
/// relation hook, the remote unit) are left `None` here and resolved by [`crate::execute`] from
/// the [`crate::HookContextInfo`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)] // The fields are the tools' flags and arguments, named as Juju names them.
pub enum Request {
    /// `<tool> --help`: print the text and exit 0.
    Help(String),
    /// `relation-get [-r <id>] [--app] [<key>|-] [<unit-or-app>]`.
    RelationGet {
        relation: Option<RelationArg>,
        app: bool,
        key: Option<String>,
        target: Option<String>,
        format: Format,
    },
    /// `relation-set [-r <id>] [--app] [--file <path>|-] [key=value...]`: file settings first,
    /// then the arguments over them; an empty value deletes.
    RelationSet {
        relation: Option<RelationArg>,
        app: bool,
        settings: Databag,
        format_flag: bool,
    },
    /// `relation-ids [<endpoint>]`.
    RelationIds {
        endpoint: Option<String>,
        format: Format,
    },
    /// `relation-list [-r <id>] [--app]`.
    RelationList {
        relation: Option<RelationArg>,
        app: bool,
        format: Format,
    },
    /// `is-leader`.
    IsLeader { format: Format },
    /// `leader-get [<key>|-]`.
    LeaderGet { key: Option<String>, format: Format },
    /// `leader-set key=value...`.
    LeaderSet { settings: Databag },
    /// `status-set [--application] <status> [<message>]`.
    StatusSet { target: StatusTarget, status: Status },
    /// `status-get [--application] [--include-data]`.
    StatusGet {
        target: StatusTarget,
        include_data: bool,
        format: Format,
    },
    /// `juju-log [--debug] [-l <level>] <message>...`.
    JujuLog {
        level: LogLevel,
        message: String,
        /// A `--log-level` Juju does not know: logged as a warning, and the message at INFO.
        invalid_level: Option<String>,
        format_flag: bool,
    },
    /// `config-get [--all] [<key>]`.
    ConfigGet {
        key: Option<String>,
        all: bool,
        format: Format,
    },
    /// `state-get [--strict] [<key>|-]`.
    StateGet {
        key: Option<String>,
        strict: bool,
        format: Format,
    },
    /// `state-set [--file <path>|-] [key=value...]`.
    StateSet { values: BTreeMap<String, String> },
    /// `state-delete <key>`.
    StateDelete { key: String },
    /// `secret-add [options] [key[#base64|#file]=value...]`.
    SecretAdd {
        content: SecretContent,
        options: SecretOptions,
    },
    /// `secret-get <id> [<key>[#base64]] [--label <l>] [--refresh|--peek]`, or `--label <l>` alone.
    SecretGet {
        secret: SecretRef,
        read: SecretRead,
        key: Option<String>,
        base64: bool,
        format: Format,
    },
    /// `secret-set [options] <id> [key[#base64|#file]=value...]`.
    SecretSet {
        id: String,
        content: Option<SecretContent>,
        options: SecretOptions,
    },
    /// `secret-grant [-r <id>] [--unit <unit>] <id>`.
    SecretGrant {
        id: String,
        relation: Option<RelationArg>,
        unit: Option<UnitName>,
    },
    /// `secret-revoke [-r <id>] [--app <app>|--unit <unit>] <id>`.
    SecretRevoke {
        id: String,
        relation: Option<RelationArg>,
        app: Option<charm::AppName>,
        unit: Option<UnitName>,
    },
    /// `secret-remove <id> [--revision <n>]`.
    SecretRemove { id: String, revision: Option<u64> },
    /// `secret-info-get <id>` or `secret-info-get --label <l>`.
    SecretInfoGet { secret: SecretRef, format: Format },
    /// `secret-ids`.
    SecretIds { format: Format },
    /// `action-get [<key>[.<key>...]]`.
    ActionGet { key: Option<String>, format: Format },
    /// `action-set key[.sub]=value...`: keys in dotted form, as the backend takes them.
    ActionSet { results: BTreeMap<String, String> },
    /// `action-fail [<message>]`.
    ActionFail { message: String },
    /// `action-log <message>...`.
    ActionLog { message: String },
    /// `application-version-set <version>`.
    ApplicationVersionSet { version: String },
    /// `goal-state`.
    GoalState { format: Format },
    /// `open-port [--endpoints a,b] <port>`.
    OpenPort { port: Port, endpoints: Vec<String> },
    /// `close-port [--endpoints a,b] <port>`.
    ClosePort { port: Port, endpoints: Vec<String> },
    /// `opened-ports [--endpoints]`.
    OpenedPorts { endpoints: bool, format: Format },
    /// `network-get [-r <id>] <binding> [--bind-address] [--ingress-address] [--egress-subnets]
    /// [--primary-address]`.
    NetworkGet {
        binding: String,
        relation: Option<RelationArg>,
        keys: Vec<NetworkKey>,
        primary_address: bool,
        format: Format,
    },
    /// `juju-reboot [--now]`.
    Reboot { now: bool },
    /// `juju-exec -u <unit> "JUJU_DISPATCH_PATH=<path> ./dispatch"`: for the agent to schedule.
    Exec(ExecRequest),
}

impl Request {
    /// The tool's name for this request (`"relation-get"`).
    pub fn tool(&self) -> &'static str {
        match self {
            Request::Help(_) => "help",
            Request::RelationGet { .. } => "relation-get",
            Request::RelationSet { .. } => "relation-set",
            Request::RelationIds { .. } => "relation-ids",
            Request::RelationList { .. } => "relation-list",
            Request::IsLeader { .. } => "is-leader",
            Request::LeaderGet { .. } => "leader-get",
            Request::LeaderSet { .. } => "leader-set",
            Request::StatusSet { .. } => "status-set",
            Request::StatusGet { .. } => "status-get",
            Request::JujuLog { .. } => "juju-log",
            Request::ConfigGet { .. } => "config-get",
            Request::StateGet { .. } => "state-get",
            Request::StateSet { .. } => "state-set",
            Request::StateDelete { .. } => "state-delete",
            Request::SecretAdd { .. } => "secret-add",
            Request::SecretGet { .. } => "secret-get",
            Request::SecretSet { .. } => "secret-set",
            Request::SecretGrant { .. } => "secret-grant",
            Request::SecretRevoke { .. } => "secret-revoke",
            Request::SecretRemove { .. } => "secret-remove",
            Request::SecretInfoGet { .. } => "secret-info-get",
            Request::SecretIds { .. } => "secret-ids",
            Request::ActionGet { .. } => "action-get",
            Request::ActionSet { .. } => "action-set",
            Request::ActionFail { .. } => "action-fail",
            Request::ActionLog { .. } => "action-log",
            Request::ApplicationVersionSet { .. } => "application-version-set",
            Request::GoalState { .. } => "goal-state",
            Request::OpenPort { .. } => "open-port",
            Request::ClosePort { .. } => "close-port",
            Request::OpenedPorts { .. } => "opened-ports",
            Request::NetworkGet { .. } => "network-get",
            Request::Reboot { .. } => "juju-reboot",
            Request::Exec(_) => "juju-exec",
        }
    }
}

/// One tool: its flags, its argument synopsis and what it does (for `--help`).
struct ToolSpec {
    name: &'static str,
    args: &'static str,
    purpose: &'static str,
    flags: &'static [FlagDef],
}

const FORMAT: FlagDef = flag(
    &["format"],
    Kind::Value,
    "Specify output format (json|smart|yaml)",
);
const RELATION: FlagDef = flag(&["relation", "r"], Kind::Value, "Specify a relation by id");
const FILE: FlagDef = flag(
    &["file"],
    Kind::Value,
    "file containing key-value pairs (\"-\" for standard input)",
);
const SECRET_OPTS: [FlagDef; 6] = [
    flag(&["description"], Kind::Value, "the secret description"),
    flag(
        &["label"],
        Kind::Value,
        "a label used to identify the secret in hooks",
    ),
    flag(
        &["expire"],
        Kind::Value,
        "either a duration or time when the secret should expire",
    ),
    flag(&["rotate"], Kind::Value, "the secret rotation policy"),
    flag(
        &["owner"],
        Kind::Value,
        "the owner of the secret, either the application or unit",
    ),
    flag(&["file"], Kind::Value, "a YAML file containing secret key values"),
];

const SPECS: &[ToolSpec] = &[
    ToolSpec {
        name: "relation-get",
        args: "[<key> [<unit id>]]",
        purpose: "get relation settings",
        flags: &[
            FORMAT,
            RELATION,
            flag(
                &["app"],
                Kind::Bool,
                "Get the relation data for the overall application, not just a unit",
            ),
        ],
    },
    ToolSpec {
        name: "relation-set",
        args: "key=value [key=value ...]",
        purpose: "set relation settings",
        flags: &[
            RELATION,
            flag(
                &["app"],
                Kind::Bool,
                "pick whether you are setting \"application\" settings or \"unit\" settings",
            ),
            FILE,
            flag(&["format"], Kind::Value, "deprecated format flag"),
        ],
    },
    ToolSpec {
        name: "relation-ids",
        args: "<name>",
        purpose: "list all relation ids for the named endpoint",
        flags: &[FORMAT],
    },
    ToolSpec {
        name: "relation-list",
        args: "",
        purpose: "list relation units",
        flags: &[
            FORMAT,
            RELATION,
            flag(
                &["app"],
                Kind::Bool,
                "List remote application instead of participating units",
            ),
        ],
    },
    ToolSpec {
        name: "is-leader",
        args: "",
        purpose: "print application leadership status",
        flags: &[FORMAT],
    },
    ToolSpec {
        name: "leader-get",
        args: "[<key>]",
        purpose: "print application leadership settings",
        flags: &[FORMAT],
    },
    ToolSpec {
        name: "leader-set",
        args: "<key>=<value> [...]",
        purpose: "write application leadership settings",
        flags: &[],
    },
    ToolSpec {
        name: "status-set",
        args: "<maintenance | blocked | waiting | active> [message]",
        purpose: "set status information",
        flags: &[flag(
            &["application"],
            Kind::Bool,
            "set this status for the application to which the unit belongs if the unit is the leader",
        )],
    },
    ToolSpec {
        name: "status-get",
        args: "[--include-data] [--application]",
        purpose: "print status information",
        flags: &[
            FORMAT,
            flag(&["include-data"], Kind::Bool, "print all status data"),
            flag(
                &["application"],
                Kind::Bool,
                "print status for all units of this application if this unit is the leader",
            ),
        ],
    },
    ToolSpec {
        name: "juju-log",
        args: "<message>",
        purpose: "write a message to the juju log",
        flags: &[
            flag(&["debug"], Kind::Bool, "log at debug level"),
            flag(
                &["log-level", "l"],
                Kind::Value,
                "Send log message at the given level",
            ),
            flag(&["format"], Kind::Value, "deprecated format flag"),
        ],
    },
    ToolSpec {
        name: "config-get",
        args: "[<key>]",
        purpose: "print application configuration",
        flags: &[FORMAT, flag(&["all", "a"], Kind::Bool, "print all keys")],
    },
    ToolSpec {
        name: "state-get",
        args: "[<key>]",
        purpose: "print server-side-state value",
        flags: &[
            FORMAT,
            flag(
                &["strict"],
                Kind::Bool,
                "Return an error if the requested key does not exist",
            ),
        ],
    },
    ToolSpec {
        name: "state-set",
        args: "key=value [key=value ...]",
        purpose: "set server-side-state values",
        flags: &[FILE],
    },
    ToolSpec {
        name: "state-delete",
        args: "<key>",
        purpose: "delete server-side-state key value pair",
        flags: &[],
    },
    ToolSpec {
        name: "secret-add",
        args: "[key[#base64|#file]=value...]",
        purpose: "add a new secret",
        flags: &SECRET_OPTS,
    },
    ToolSpec {
        name: "secret-get",
        args: "<ID> [key[#base64]]",
        purpose: "get the content of a secret",
        flags: &[
            FORMAT,
            flag(
                &["label"],
                Kind::Value,
                "a label used to identify the secret in hooks",
            ),
            flag(
                &["refresh"],
                Kind::Bool,
                "get the latest revision and also get this same revision for subsequent calls",
            ),
            flag(&["peek"], Kind::Bool, "get the latest revision just this time"),
        ],
    },
    ToolSpec {
        name: "secret-set",
        args: "<ID> [key[#base64]=value...]",
        purpose: "update an existing secret",
        flags: &SECRET_OPTS,
    },
    ToolSpec {
        name: "secret-grant",
        args: "<ID>",
        purpose: "grant access to a secret",
        flags: &[RELATION, flag(&["unit"], Kind::Value, "the unit to grant access")],
    },
    ToolSpec {
        name: "secret-revoke",
        args: "<ID>",
        purpose: "revoke access to a secret",
        flags: &[
            RELATION,
            flag(
                &["app", "application"],
                Kind::Value,
                "the application to revoke access",
            ),
            flag(&["unit"], Kind::Value, "the unit to revoke access"),
        ],
    },
    ToolSpec {
        name: "secret-remove",
        args: "<ID>",
        purpose: "remove an existing secret",
        flags: &[flag(&["revision"], Kind::Value, "remove the specified revision")],
    },
    ToolSpec {
        name: "secret-info-get",
        args: "<ID>",
        purpose: "get a secret's metadata info",
        flags: &[
            FORMAT,
            flag(&["label"], Kind::Value, "a label used to identify the secret"),
        ],
    },
    ToolSpec {
        name: "secret-ids",
        args: "",
        purpose: "print secret ids",
        flags: &[FORMAT],
    },
    ToolSpec {
        name: "action-get",
        args: "[<key>[.<key>.<key>...]]",
        purpose: "get action parameters",
        flags: &[FORMAT],
    },
    ToolSpec {
        name: "action-set",
        args: "<key>=<value> [<key>=<value> ...]",
        purpose: "set action results",
        flags: &[],
    },
    ToolSpec {
        name: "action-fail",
        args: "[\"<failure message>\"]",
        purpose: "set action fail status with message",
        flags: &[],
    },
    ToolSpec {
        name: "action-log",
        args: "<message>",
        purpose: "record a progress message for the current action",
        flags: &[],
    },
    ToolSpec {
        name: "application-version-set",
        args: "<new-version>",
        purpose: "specify which version of the application is deployed",
        flags: &[],
    },
    ToolSpec {
        name: "goal-state",
        args: "",
        purpose: "print the status of the charm's peers and related units",
        flags: &[FORMAT],
    },
    ToolSpec {
        name: "open-port",
        args: "<port>[/<protocol>] or <from>-<to>[/<protocol>] or icmp",
        purpose: "register a request to open a port or port range",
        flags: &[flag(
            &["endpoints"],
            Kind::Value,
            "a comma-delimited list of application endpoints to target with this operation",
        )],
    },
    ToolSpec {
        name: "close-port",
        args: "<port>[/<protocol>] or <from>-<to>[/<protocol>] or icmp",
        purpose: "register a request to close a port or port range",
        flags: &[flag(
            &["endpoints"],
            Kind::Value,
            "a comma-delimited list of application endpoints to target with this operation",
        )],
    },
    ToolSpec {
        name: "opened-ports",
        args: "",
        purpose: "list all ports or port ranges opened by the unit",
        flags: &[
            FORMAT,
            flag(
                &["endpoints"],
                Kind::Bool,
                "display the list of target application endpoints for each port range",
            ),
        ],
    },
    ToolSpec {
        name: "network-get",
        args: "<binding-name> [--ingress-address] [--bind-address] [--egress-subnets]",
        purpose: "get network config",
        flags: &[
            FORMAT,
            RELATION,
            flag(
                &["primary-address"],
                Kind::Bool,
                "(deprecated) get the primary address for the binding",
            ),
            flag(
                &["bind-address"],
                Kind::Bool,
                "get the address for the binding on which the unit should listen",
            ),
            flag(
                &["ingress-address"],
                Kind::Bool,
                "get the ingress address for the binding",
            ),
            flag(
                &["egress-subnets"],
                Kind::Bool,
                "get the egress subnets for the binding",
            ),
        ],
    },
    ToolSpec {
        name: "juju-reboot",
        args: "",
        purpose: "Reboot the host machine",
        flags: &[flag(
            &["now"],
            Kind::Bool,
            "reboot immediately, killing the invoking process",
        )],
    },
    ToolSpec {
        name: "juju-exec",
        args: "<unit-name> <commands>",
        purpose: "run commands in a unit's hook context (here: dispatch a hook to a unit)",
        flags: &[flag(
            &["unit", "u"],
            Kind::Value,
            "the unit to run the commands on",
        )],
    },
];

/// Every tool this crate serves, in the order of the issue that asked for them. The driver
/// installs one symlink per name to the `hook-tools` binary.
pub const TOOLS: &[&str] = &[
    "relation-get",
    "relation-set",
    "relation-ids",
    "relation-list",
    "is-leader",
    "leader-get",
    "leader-set",
    "status-set",
    "status-get",
    "juju-log",
    "config-get",
    "state-get",
    "state-set",
    "state-delete",
    "secret-add",
    "secret-get",
    "secret-set",
    "secret-grant",
    "secret-revoke",
    "secret-remove",
    "secret-info-get",
    "secret-ids",
    "action-get",
    "action-set",
    "action-fail",
    "action-log",
    "application-version-set",
    "goal-state",
    "open-port",
    "close-port",
    "opened-ports",
    "network-get",
    "juju-reboot",
    "juju-exec",
];

/// The `--help` text of a tool, as Juju prints it (usage, summary, options).
pub fn help_text(tool: &str) -> Option<String> {
    let spec = SPECS.iter().find(|s| s.name == tool)?;
    let mut t = format!(
        "Usage: {} [options] {}\n\nSummary:\n{}\n",
        spec.name, spec.args, spec.purpose
    );
    if !spec.flags.is_empty() {
        t.push_str("\nOptions:\n");
        for f in spec.flags {
            let names: Vec<String> = f
                .names
                .iter()
                .map(|n| {
                    if n.len() == 1 {
                        format!("-{n}")
                    } else {
                        format!("--{n}")
                    }
                })
                .collect();
            let default = match f.kind {
                Kind::Bool => " (= false)",
                Kind::Value => "",
            };
            t.push_str(&format!("{}{}\n    {}\n", names.join(", "), default, f.help));
        }
    }
    Some(t)
}

/// Parses one tool call: `tool` is the tool's name, `args` its arguments (not the name),
/// `stdin` what the client read from standard input (only for `--file -`), and `files` the
/// content of every file the arguments name (`--file <path>`, `key#file=<path>`), keyed by the
/// path exactly as the arguments give it.
///
/// ```
/// use hook_tools::{parse, Format, Request};
/// let args: Vec<String> = ["--format=json", "-r", "db:3", "-", "app/1"].iter().map(|s| s.to_string()).collect();
/// let Request::RelationGet { relation, key, target, format, .. } = parse("relation-get", &args, None, &Default::default()).unwrap() else { panic!() };
/// assert_eq!(relation.unwrap().id.0, 3);
/// assert_eq!((key, target.as_deref(), format), (None, Some("app/1"), Format::Json));
/// ```
pub fn parse(
    tool: &str,
    args: &[String],
    stdin: Option<&[u8]>,
    files: &BTreeMap<String, Vec<u8>>,
) -> Result<Request, UsageError> {
    let spec = SPECS
        .iter()
        .find(|s| s.name == tool)
        .ok_or_else(|| UsageError::UnknownTool(tool.to_owned()))?;
    let p = flags::parse(spec.flags, args)?;
    if p.help {
        return Ok(Request::Help(help_text(tool).unwrap_or_default()));
    }
    let input = Input { stdin, files };
    let default_format = match tool {
        "secret-get" | "secret-info-get" | "secret-ids" | "goal-state" => Format::Yaml,
        _ => Format::Smart,
    };
    let format = match spec.flags.iter().any(|f| f.names[0] == "format") {
        true => format_of(&p, default_format)?,
        false => default_format,
    };
    let pos = &p.positional;
    Ok(match tool {
        "relation-get" => {
            let (key, rest) = split_first(pos);
            let key = key.filter(|k| k != "-");
            let (target, rest) = split_first(rest);
            no_more(rest)?;
            Request::RelationGet {
                relation: relation_of(&p)?,
                app: p.flag("app"),
                key,
                target,
                format,
            }
        }
        "relation-set" => {
            let overrides = key_values(pos)?;
            let mut settings = match p.value("file") {
                Some(path) => read_settings(&input.read(path)?)?,
                None => Databag::new(),
            };
            settings.extend(overrides);
            Request::RelationSet {
                relation: relation_of(&p)?,
                app: p.flag("app"),
                settings,
                format_flag: p.value("format").is_some(),
            }
        }
        "relation-ids" => {
            let (endpoint, rest) = split_first(pos);
            no_more(rest)?;
            Request::RelationIds { endpoint, format }
        }
        "relation-list" => {
            no_more(pos)?;
            Request::RelationList {
                relation: relation_of(&p)?,
                app: p.flag("app"),
                format,
            }
        }
        "is-leader" => {
            no_more(pos)?;
            Request::IsLeader { format }
        }
        "leader-get" => {
            let (key, rest) = split_first(pos);
            no_more(rest)?;
            Request::LeaderGet {
                key: key.filter(|k| k != "-"),
                format,
            }
        }
        "leader-set" => Request::LeaderSet {
            settings: key_values(pos)?,
        },
        "status-set" => {
            let Some(name) = pos.first() else {
                return Err(UsageError::Invalid(
                    "invalid args, require <status> [message] [data]".into(),
                ));
            };
            let name = match name.as_str() {
                "active" => StatusName::Active,
                "blocked" => StatusName::Blocked,
                "maintenance" => StatusName::Maintenance,
                "waiting" => StatusName::Waiting,
                _ => {
                    return Err(UsageError::Invalid(format!(
                        "invalid status {name:?}, expected one of [maintenance blocked waiting active]"
                    )))
                }
            };
            let message = pos.get(1).cloned().unwrap_or_default();
            no_more(pos.get(2..).unwrap_or(&[]))?;
            Request::StatusSet {
                target: if p.flag("application") {
                    StatusTarget::App
                } else {
                    StatusTarget::Unit
                },
                status: Status { name, message },
            }
        }
        "status-get" => {
            no_more(pos)?;
            Request::StatusGet {
                target: if p.flag("application") {
                    StatusTarget::App
                } else {
                    StatusTarget::Unit
                },
                include_data: p.flag("include-data"),
                format,
            }
        }
        "juju-log" => {
            if pos.is_empty() {
                return Err(UsageError::Invalid("no message specified".into()));
            }
            let (level, invalid_level) = if p.flag("debug") {
                (LogLevel::Debug, None)
            } else {
                match p.value("log-level") {
                    None => (LogLevel::Info, None),
                    Some(l) => match LogLevel::parse(l) {
                        Some(level) => (level, None),
                        None => (LogLevel::Info, Some(l.to_owned())),
                    },
                }
            };
            Request::JujuLog {
                level,
                message: pos.join(" "),
                invalid_level,
                format_flag: p.value("format").is_some(),
            }
        }
        "config-get" => {
            let (key, rest) = split_first(pos);
            no_more(rest)?;
            let all = p.flag("all");
            if let (true, Some(k)) = (all, &key) {
                return Err(UsageError::Invalid(format!(
                    "cannot use argument --all together with key {k:?}"
                )));
            }
            Request::ConfigGet { key, all, format }
        }
        "state-get" => {
            let (key, rest) = split_first(pos);
            no_more(rest)?;
            Request::StateGet {
                key: key.filter(|k| k != "-"),
                strict: p.flag("strict"),
                format,
            }
        }
        "state-set" => {
            let overrides = key_values(pos)?;
            let mut values = match p.value("file") {
                Some(path) => read_settings(&input.read(path)?)?,
                None => BTreeMap::new(),
            };
            values.extend(overrides);
            Request::StateSet { values }
        }
        "state-delete" => {
            let (key, rest) = split_first(pos);
            no_more(rest)?;
            let key = key.ok_or_else(|| UsageError::Invalid("no key specified".into()))?;
            Request::StateDelete { key }
        }
        "secret-add" => {
            if pos.is_empty() && p.value("file").is_none() {
                return Err(UsageError::Invalid("missing secret value or filename".into()));
            }
            let options = secret_options(&p, true)?;
            let content = secret_content(pos, p.value("file"), &input)?;
            if content.0.is_empty() {
                return Err(UsageError::Invalid("empty secret value not valid".into()));
            }
            Request::SecretAdd { content, options }
        }
        "secret-get" => {
            let (id, rest) = split_first(pos);
            let id = id.map(secret_uri).transpose()?;
            let (key, rest) = split_first(rest);
            no_more(rest)?;
            let label = p.value("label").map(str::to_owned);
            let secret = match (id, label) {
                (Some(id), None) => SecretRef::Id(id),
                (Some(id), Some(l)) => SecretRef::IdWithLabel(id, l),
                (None, Some(l)) => SecretRef::Label(l),
                (None, None) => {
                    return Err(UsageError::Invalid("require either a secret URI or label".into()))
                }
            };
            let read = match (p.flag("refresh"), p.flag("peek")) {
                (true, true) => {
                    return Err(UsageError::Invalid(
                        "specify one of --peek or --refresh but not both".into(),
                    ))
                }
                (true, false) => SecretRead::Refresh,
                (false, true) => SecretRead::Peek,
                (false, false) => SecretRead::Tracked,
            };
            let (key, base64) = match key {
                Some(k) => match k.strip_suffix("#base64") {
                    Some(k) => (Some(k.to_owned()), true),
                    None => (Some(k), false),
                },
                None => (None, false),
            };
            Request::SecretGet {
                secret,
                read,
                key,
                base64,
                format,
            }
        }
        "secret-set" => {
            let (id, rest) = split_first(pos);
            let id = secret_uri(id.ok_or_else(|| UsageError::Invalid("missing secret URI".into()))?)?;
            let options = secret_options(&p, false)?;
            let content = if rest.is_empty() && p.value("file").is_none() {
                None
            } else {
                Some(secret_content(rest, p.value("file"), &input)?)
            };
            Request::SecretSet { id, content, options }
        }
        "secret-grant" => {
            let (id, rest) = split_first(pos);
            no_more(rest)?;
            let id = secret_uri(id.ok_or_else(|| UsageError::Invalid("missing secret URI".into()))?)?;
            let unit = p.value("unit").map(|u| unit_flag(&p, "unit", u)).transpose()?;
            Request::SecretGrant {
                id,
                relation: relation_of(&p)?,
                unit,
            }
        }
        "secret-revoke" => {
            let (id, rest) = split_first(pos);
            no_more(rest)?;
            let id = secret_uri(id.ok_or_else(|| UsageError::Invalid("missing secret URI".into()))?)?;
            let unit = p.value("unit").map(|u| unit_flag(&p, "unit", u)).transpose()?;
            let app = match p.value("app") {
                Some(a) => Some(charm::AppName::parse(a).map_err(|e| UsageError::InvalidValue {
                    option: p.typed("app"),
                    value: a.to_owned(),
                    reason: e.to_string(),
                })?),
                None => None,
            };
            if app.is_some() && unit.is_some() {
                return Err(UsageError::Invalid(
                    "specify only one of application or unit".into(),
                ));
            }
            Request::SecretRevoke {
                id,
                relation: relation_of(&p)?,
                app,
                unit,
            }
        }
        "secret-remove" => {
            let (id, rest) = split_first(pos);
            no_more(rest)?;
            let id = secret_uri(id.ok_or_else(|| UsageError::Invalid("missing secret URI".into()))?)?;
            let revision = match p.value("revision") {
                Some(r) => Some(r.parse::<u64>().ok().filter(|r| *r > 0).ok_or_else(|| {
                    UsageError::InvalidValue {
                        option: p.typed("revision"),
                        value: r.to_owned(),
                        reason: "revision must be a positive integer".into(),
                    }
                })?),
                None => None,
            };
            Request::SecretRemove { id, revision }
        }
        "secret-info-get" => {
            let (id, rest) = split_first(pos);
            let id = id.map(secret_uri).transpose()?;
            no_more(rest)?;
            let secret = match (id, p.value("label")) {
                (Some(id), None) => SecretRef::Id(id),
                (None, Some(l)) => SecretRef::Label(l.to_owned()),
                (None, None) => {
                    return Err(UsageError::Invalid("require either a secret URI or label".into()))
                }
                (Some(_), Some(_)) => {
                    return Err(UsageError::Invalid(
                        "specify either a secret URI or label but not both".into(),
                    ))
                }
            };
            Request::SecretInfoGet { secret, format }
        }
        "secret-ids" => {
            no_more(pos)?;
            Request::SecretIds { format }
        }
        "action-get" => {
            let (key, rest) = split_first(pos);
            no_more(rest)?;
            Request::ActionGet { key, format }
        }
        "action-set" => {
            let mut results = BTreeMap::new();
            for arg in pos {
                let Some((k, v)) = arg.split_once('=') else {
                    return Err(UsageError::Invalid(format!(
                        "argument {arg:?} must be of the form key...=value"
                    )));
                };
                for part in k.split('.') {
                    if !valid_action_key(part) {
                        return Err(UsageError::Invalid(format!(
                            "key {part:?} must start and end with lowercase alphanumeric, and contain only lowercase alphanumeric, hyphens and periods"
                        )));
                    }
                }
                results.insert(k.to_owned(), v.to_owned());
            }
            Request::ActionSet { results }
        }
        "action-fail" => {
            let (message, rest) = split_first(pos);
            no_more(rest)?;
            Request::ActionFail {
                message: message.unwrap_or_default(),
            }
        }
        "action-log" => {
            if pos.is_empty() {
                return Err(UsageError::Invalid("no message specified".into()));
            }
            Request::ActionLog {
                message: pos.join(" "),
            }
        }
        "application-version-set" => {
            let (version, rest) = split_first(pos);
            let version = version.ok_or_else(|| UsageError::Invalid("no version specified".into()))?;
            no_more(rest)?;
            Request::ApplicationVersionSet { version }
        }
        "goal-state" => {
            no_more(pos)?;
            Request::GoalState { format }
        }
        "open-port" | "close-port" => {
            let (spec, rest) = split_first(pos);
            let spec = spec.ok_or_else(|| UsageError::Invalid("no port or range specified".into()))?;
            no_more(rest)?;
            let port = Port::parse(&spec).ok_or_else(|| {
                UsageError::Invalid(format!(
                    "expected <port>[/<protocol>] or <from>-<to>[/<protocol>] or icmp; got {spec:?}"
                ))
            })?;
            let endpoints: Vec<String> = p
                .value("endpoints")
                .map(|e| {
                    e.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            if tool == "open-port" {
                Request::OpenPort { port, endpoints }
            } else {
                Request::ClosePort { port, endpoints }
            }
        }
        "opened-ports" => {
            no_more(pos)?;
            Request::OpenedPorts {
                endpoints: p.flag("endpoints"),
                format,
            }
        }
        "network-get" => {
            let (binding, rest) = split_first(pos);
            let binding = binding.ok_or_else(|| UsageError::Invalid("no arguments specified".into()))?;
            if binding.is_empty() {
                return Err(UsageError::Invalid("no binding name specified".into()));
            }
            no_more(rest)?;
            let mut keys = Vec::new();
            for (name, key) in [
                ("bind-address", NetworkKey::BindAddress),
                ("ingress-address", NetworkKey::IngressAddress),
                ("egress-subnets", NetworkKey::EgressSubnets),
            ] {
                if p.flag(name) {
                    keys.push(key);
                }
            }
            let primary_address = p.flag("primary-address");
            if primary_address && !keys.is_empty() {
                return Err(UsageError::Invalid(
                    "--primary-address must be the only flag specified".into(),
                ));
            }
            Request::NetworkGet {
                binding,
                relation: relation_of(&p)?,
                keys,
                primary_address,
                format,
            }
        }
        "juju-reboot" => {
            no_more(pos)?;
            Request::Reboot { now: p.flag("now") }
        }
        "juju-exec" => Request::Exec(exec_request(&p)?),
        other => return Err(UsageError::UnknownTool(other.to_owned())),
    })
}

/// Standard input and the files the client sent.
struct Input<'a> {
    stdin: Option<&'a [u8]>,
    files: &'a BTreeMap<String, Vec<u8>>,
}

impl Input<'_> {
    fn read(&self, path: &str) -> Result<Vec<u8>, UsageError> {
        if path == "-" {
            return Ok(self.stdin.unwrap_or_default().to_vec());
        }
        self.files
            .get(path)
            .cloned()
            .ok_or_else(|| UsageError::Input(format!("open {path}: no such file or directory")))
    }
}

fn split_first(v: &[String]) -> (Option<String>, &[String]) {
    match v.split_first() {
        Some((f, rest)) => (Some(f.clone()), rest),
        None => (None, v),
    }
}

fn no_more(rest: &[String]) -> Result<(), UsageError> {
    if rest.is_empty() {
        Ok(())
    } else {
        Err(UsageError::UnrecognizedArgs(rest.to_vec()))
    }
}

fn format_of(p: &Parsed, default: Format) -> Result<Format, UsageError> {
    match p.value("format") {
        None => Ok(default),
        Some("smart") => Ok(Format::Smart),
        Some("json") => Ok(Format::Json),
        Some("yaml") => Ok(Format::Yaml),
        Some(other) => Err(UsageError::InvalidValue {
            option: p.typed("format"),
            value: other.to_owned(),
            reason: format!("unknown format {other:?}"),
        }),
    }
}

fn relation_of(p: &Parsed) -> Result<Option<RelationArg>, UsageError> {
    let Some(raw) = p.value("relation") else {
        return Ok(None);
    };
    let num = raw.rsplit(':').next().unwrap_or(raw);
    let id = num.parse::<u32>().map_err(|_| UsageError::InvalidValue {
        option: p.typed("relation"),
        value: raw.to_owned(),
        reason: "invalid relation id".into(),
    })?;
    Ok(Some(RelationArg {
        raw: raw.to_owned(),
        id: RelationId(id),
    }))
}

fn unit_flag(p: &Parsed, name: &'static str, value: &str) -> Result<UnitName, UsageError> {
    UnitName::parse(value).map_err(|e| UsageError::InvalidValue {
        option: p.typed(name),
        value: value.to_owned(),
        reason: e.to_string(),
    })
}

/// A secret URI as Juju accepts one: `secret:<id>`, `secret://<model>/<id>`, or a bare id
/// (20 characters of lowercase base32hex).
fn secret_uri(s: String) -> Result<String, UsageError> {
    let bare = s.len() == 20
        && s.bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'v').contains(&c));
    let rest = s.strip_prefix("secret:").unwrap_or("");
    if bare || (!rest.is_empty() && !rest.contains(char::is_whitespace)) {
        Ok(s)
    } else {
        Err(UsageError::Invalid(format!("secret URI {s:?} not valid")))
    }
}

/// Juju's action result key rule: `^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$` for each dotted part.
fn valid_action_key(k: &str) -> bool {
    let b = k.as_bytes();
    let ok = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => ok(f) && ok(l) && b.iter().all(|c| ok(c) || *c == b'-'),
        _ => false,
    }
}

/// Juju's secret key rule: `^([a-z](?:-?[a-z0-9]){2,})$`.
fn valid_secret_key(k: &str) -> bool {
    let b = k.as_bytes();
    if b.len() < 3 || !b[0].is_ascii_lowercase() || b.last() == Some(&b'-') {
        return false;
    }
    let mut prev_dash = false;
    let mut units = 0;
    for &c in &b[1..] {
        if c == b'-' {
            if prev_dash {
                return false;
            }
            prev_dash = true;
        } else if c.is_ascii_lowercase() || c.is_ascii_digit() {
            prev_dash = false;
            units += 1;
        } else {
            return false;
        }
    }
    units >= 2
}

/// The largest secret value and the largest secret Juju 3.6 accepts.
const MAX_SECRET_VALUE: usize = 8 * 1024;
const MAX_SECRET_CONTENT: usize = 64 * 1024;

/// Secret content from `key=value`, `key#base64=...` and `key#file=<path>` arguments, over the
/// content of a `--file` (YAML or JSON), checked as Juju checks it.
fn secret_content(
    args: &[String],
    file: Option<&str>,
    input: &Input<'_>,
) -> Result<SecretContent, UsageError> {
    // Raw pairs: the key keeps its `#base64` suffix until the end.
    let mut raw: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    if let Some(path) = file {
        let data = input.read(path)?;
        for (k, v) in read_settings(&data)? {
            raw.insert(k, v.into_bytes());
        }
    }
    for arg in args {
        // As Juju does: ignore base64 padding when looking for the `=`.
        let stripped = arg.trim_end_matches('=');
        let idx = stripped
            .find('=')
            .filter(|i| *i > 0)
            .ok_or_else(|| UsageError::Invalid(format!("key value {arg:?} not valid")))?;
        let (key, value) = (&arg[..idx], &arg[idx + 1..]);
        match key.strip_suffix("#file") {
            Some(k) => {
                let content = input
                    .files
                    .get(value)
                    .ok_or_else(|| {
                        UsageError::Input(format!(
                            "reading content for secret key {k:?}: open {value}: no such file or directory"
                        ))
                    })?
                    .clone();
                if content.len() > MAX_SECRET_VALUE {
                    return Err(UsageError::Input(format!(
                        "secret content in file {value:?} too large: {} bytes",
                        content.len()
                    )));
                }
                raw.insert(k.to_owned(), content);
            }
            None => {
                raw.insert(key.to_owned(), value.as_bytes().to_vec());
            }
        }
    }
    let mut out = BTreeMap::new();
    let mut total = 0;
    for (k, v) in raw {
        if v.len() > MAX_SECRET_VALUE {
            return Err(UsageError::Invalid(format!(
                "secret content for key {k:?} too large: {} bytes",
                v.len()
            )));
        }
        total += v.len();
        let (key, bytes) = match k.strip_suffix("#base64") {
            Some(key) => {
                let text = String::from_utf8(v).unwrap_or_default();
                let decoded = base64_decode(&text).ok_or_else(|| {
                    UsageError::Invalid(format!("secret value for key {key:?} is not valid base64"))
                })?;
                (key.to_owned(), decoded)
            }
            None => (k, v),
        };
        if !valid_secret_key(&key) {
            return Err(UsageError::Invalid(format!("key {key:?} not valid")));
        }
        let value = String::from_utf8(bytes).map_err(|_| {
            UsageError::Input(format!(
                "secret content for key {key:?} is not UTF-8 text, which this simulator keeps secrets as"
            ))
        })?;
        out.insert(key, value);
    }
    if total > MAX_SECRET_CONTENT {
        return Err(UsageError::Invalid(format!(
            "secret content too large: {total} bytes"
        )));
    }
    Ok(SecretContent(out))
}

const ROTATE_POLICIES: &[&str] = &[
    "never",
    "hourly",
    "daily",
    "weekly",
    "monthly",
    "quarterly",
    "yearly",
];

fn secret_options(p: &Parsed, add: bool) -> Result<SecretOptions, UsageError> {
    let s = |n: &str| p.value(n).map(str::to_owned);
    if let Some(r) = p.value("rotate") {
        if !ROTATE_POLICIES.contains(&r) {
            return Err(UsageError::Invalid(format!("rotate policy {r:?} not valid")));
        }
    }
    if let Some(e) = p.value("expire") {
        if !valid_expiry(e) {
            return Err(UsageError::Invalid(format!(
                "expire time or duration {e:?} not valid"
            )));
        }
    }
    let owner = match p.value("owner") {
        None if add => Some(SecretOwner::Application),
        None => None,
        Some("application") => Some(SecretOwner::Application),
        Some("unit") => Some(SecretOwner::Unit),
        Some(o) => return Err(UsageError::Invalid(format!("secret owner {o:?} not valid"))),
    };
    Ok(SecretOptions {
        label: s("label"),
        description: s("description"),
        expire: s("expire"),
        rotate: s("rotate"),
        owner,
    })
}

/// An RFC 3339 time (with or without a zone) or a positive Go duration (`24h`, `1h30m`).
fn valid_expiry(e: &str) -> bool {
    let b = e.as_bytes();
    let rfc3339 = b.len() >= 19
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[7] == b'-'
        && (b[10] == b'T' || b[10] == b't')
        && b[13] == b':';
    if rfc3339 {
        return true;
    }
    // Go durations: one or more <number><unit>.
    let mut rest = e;
    let mut any = false;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_end == 0 {
            return false;
        }
        let unit_end = rest[num_end..]
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .map_or(rest.len(), |i| i + num_end);
        if !matches!(
            &rest[num_end..unit_end],
            "ns" | "us" | "µs" | "ms" | "s" | "m" | "h"
        ) {
            return false;
        }
        if rest[..num_end].parse::<f64>().map_or(true, |n| n <= 0.0 && !any) {
            return false;
        }
        any = true;
        rest = &rest[unit_end..];
    }
    any
}

/// `juju-exec [-u <unit>] [<unit>] <commands...>`, where the commands must be
/// `[NAME=value ...] JUJU_DISPATCH_PATH=<path> [NAME=value ...] ./dispatch`.
fn exec_request(p: &Parsed) -> Result<ExecRequest, UsageError> {
    let mut pos = p.positional.as_slice();
    let unit = match p.value("unit") {
        Some(u) => u.to_owned(),
        None => {
            let (u, rest) = split_first(pos);
            pos = rest;
            u.ok_or_else(|| UsageError::Invalid("missing unit-name".into()))?
        }
    };
    let unit = UnitName::parse(&unit).map_err(|e| UsageError::Invalid(e.to_string()))?;
    if pos.is_empty() {
        return Err(UsageError::Invalid("missing commands".into()));
    }
    let command = pos.join(" ");
    let words: Vec<&str> = command.split_whitespace().collect();
    let unsupported = || {
        UsageError::Invalid(format!(
            "cannot run {command:?}: this agent runs only \"JUJU_DISPATCH_PATH=<path> ./dispatch\""
        ))
    };
    let (last, assignments) = words.split_last().ok_or_else(unsupported)?;
    if !(*last == "./dispatch" || last.ends_with("/dispatch")) {
        return Err(unsupported());
    }
    let mut env = BTreeMap::new();
    for w in assignments {
        if *w == "exec" {
            continue;
        }
        let (k, v) = w.split_once('=').ok_or_else(unsupported)?;
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(v);
        env.insert(k.to_owned(), v.to_owned());
    }
    let dispatch_path = env
        .remove("JUJU_DISPATCH_PATH")
        .filter(|d| !d.is_empty())
        .ok_or_else(unsupported)?;
    Ok(ExecRequest {
        unit,
        dispatch_path,
        env,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_has_a_spec_and_help() {
        for t in TOOLS {
            let h = help_text(t).unwrap_or_else(|| panic!("{t}"));
            assert!(h.starts_with(&format!("Usage: {t} ")), "{h}");
        }
        assert_eq!(SPECS.len(), TOOLS.len());
        assert!(help_text("relation-set").unwrap().contains("--file"));
    }

    #[test]
    fn secret_keys() {
        for good in ["abc", "a-bc", "pass-word1", "a1b"] {
            assert!(valid_secret_key(good), "{good}");
        }
        for bad in ["ab", "Abc", "a--b", "abc-", "1ab", "a_bc", "a.bc"] {
            assert!(!valid_secret_key(bad), "{bad}");
        }
    }

    #[test]
    fn expiry() {
        for good in [
            "2025-01-01T06:06:06Z",
            "2025-01-01T06:06:06",
            "24h",
            "1h30m",
            "1.5h",
            "90s",
        ] {
            assert!(valid_expiry(good), "{good}");
        }
        for bad in ["", "tomorrow", "24", "h", "-1h", "0s", "2025-01-01"] {
            assert!(!valid_expiry(bad), "{bad}");
        }
    }

    #[test]
    fn action_keys() {
        for good in ["a", "out-file", "x1", "9"] {
            assert!(valid_action_key(good), "{good}");
        }
        for bad in ["", "-a", "a-", "A", "a_b"] {
            assert!(!valid_action_key(bad), "{bad}");
        }
    }
}
