//! Running a parsed [`Request`] against any [`charm::Backend`], with Juju's rules and messages.

use crate::error::UsageError;
use crate::render::render;
use crate::request::{parse, ExecRequest, Format, NetworkKey, RelationArg, Request};
use crate::wire::WireRequest;
use charm::{
    AppName, Backend, BackendError, BagOwner, BagScope, Databag, JujuEnv, LogLevel, RelationId, RevokeTarget,
    SecretRef, StatusTarget, UnitName,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// The largest relation databag Juju accepts: Juju 4 refuses a bag whose keys and values add up
/// to more than this at commit (Juju 3.6's storage caps a document near the same size).
pub const MAX_BAG_BYTES: usize = 16 * 1024 * 1024;

/// The largest key and value `state-set` accepts.
pub const MAX_STATE_KEY: usize = 256;
/// See [`MAX_STATE_KEY`].
pub const MAX_STATE_VALUE: usize = 64 * 1024;

/// What the agent knows about the hook a tool runs in: the defaults Juju's tools take from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookContextInfo {
    /// The unit running the hook (`JUJU_UNIT_NAME`).
    pub unit: UnitName,
    /// The endpoint of a relation hook (`JUJU_RELATION`): `relation-ids`' default.
    pub relation_endpoint: Option<String>,
    /// The relation of a relation hook (`JUJU_RELATION_ID`): `-r`'s default.
    pub relation_id: Option<RelationId>,
    /// The remote unit of a relation hook (`JUJU_REMOTE_UNIT`): `relation-get`'s default.
    pub remote_unit: Option<UnitName>,
    /// The remote application of a relation hook (`JUJU_REMOTE_APP`).
    pub remote_app: Option<AppName>,
    /// The running action's name (`JUJU_ACTION_NAME`); the `action-*` tools need one.
    pub action: Option<String>,
}

impl HookContextInfo {
    /// A hook of `unit` with no relation and no action (`install`, `config-changed`...).
    pub fn new(unit: UnitName) -> Self {
        Self {
            unit,
            relation_endpoint: None,
            relation_id: None,
            remote_unit: None,
            remote_app: None,
            action: None,
        }
    }

    /// A relation hook on `endpoint`, relation `id`.
    pub fn with_relation(mut self, endpoint: &str, id: RelationId) -> Self {
        self.relation_endpoint = Some(endpoint.to_owned());
        self.relation_id = Some(id);
        self
    }

    /// With a remote unit (and its application as the remote application).
    pub fn with_remote_unit(mut self, unit: UnitName) -> Self {
        self.remote_app = Some(unit.app());
        self.remote_unit = Some(unit);
        self
    }

    /// With a remote application and no remote unit (an application-bag `relation-changed`).
    pub fn with_remote_app(mut self, app: AppName) -> Self {
        self.remote_app = Some(app);
        self
    }

    /// An action hook.
    pub fn with_action(mut self, name: &str) -> Self {
        self.action = Some(name.to_owned());
        self
    }

    /// What the environment of a hook says (`None` without `JUJU_UNIT_NAME`).
    pub fn from_env(env: &JujuEnv) -> Option<Self> {
        Some(Self {
            unit: env.unit.clone()?,
            relation_endpoint: env.relation.clone(),
            relation_id: env.relation_id,
            remote_unit: env.remote_unit.clone(),
            remote_app: env.remote_app.clone(),
            action: env.action_name.clone(),
        })
    }

    fn hook_relation(&self) -> Option<RelationArg> {
        let id = self.relation_id?;
        let raw = match &self.relation_endpoint {
            Some(ep) => format!("{ep}:{id}"),
            None => id.to_string(),
        };
        Some(RelationArg { raw, id })
    }
}

/// What a tool prints and exits with: the reply the agent sends the client.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Response {
    /// The exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// For `juju-exec`: the hook the agent must schedule (never sent to the client).
    #[serde(skip)]
    pub exec: Option<ExecRequest>,
}

impl Response {
    /// Exit 0, printing `stdout`.
    pub fn ok(stdout: impl Into<String>) -> Self {
        Self {
            stdout: stdout.into(),
            ..Self::default()
        }
    }

    /// Exit `code`, printing `ERROR <message>` on standard error as Juju's tools do.
    pub fn error(code: i32, message: impl AsRef<str>) -> Self {
        Self {
            code,
            stderr: format!("ERROR {}\n", message.as_ref()),
            ..Self::default()
        }
    }
}

/// A failed call: exit code and message.
struct Failure {
    code: i32,
    message: String,
}

fn fail(code: i32, message: impl Into<String>) -> Failure {
    Failure {
        code,
        message: message.into(),
    }
}

/// Parses and runs one call the client sent, and renders the reply: what the agent does for
/// each connection once it has found the hook's backend from `request.context_id`.
///
/// `juju-exec` is not run here (it needs no backend): check [`Request::Exec`] from [`parse`]
/// first, or read [`Response::exec`] of the reply.
pub fn run_tool(request: &WireRequest, backend: &mut dyn Backend, hook: &HookContextInfo) -> Response {
    match parse(
        &request.tool,
        &request.args,
        request.stdin.as_deref(),
        &request.files,
    ) {
        Ok(req) => execute(backend, hook, req),
        Err(e) => e.to_response(),
    }
}

/// Runs a parsed request against `backend` in the hook `hook` describes, and renders what the
/// tool prints. Juju's rules the backend may not check are checked here first (the action
/// tools need an action; a bag over [`MAX_BAG_BYTES`] is refused; `state-set` limits), so a
/// refused call changes nothing; the backend's refusals become Juju's messages.
pub fn execute(backend: &mut dyn Backend, hook: &HookContextInfo, request: Request) -> Response {
    let mut warnings = String::new();
    let result = run(backend, hook, request, &mut warnings);
    match result {
        Ok(Done::Print(stdout)) => Response {
            stdout,
            stderr: warnings,
            ..Response::default()
        },
        Ok(Done::Exec(e)) => Response {
            exec: Some(e),
            ..Response::default()
        },
        Err(f) => {
            let mut r = Response::error(f.code, &f.message);
            r.stderr.insert_str(0, &warnings);
            r
        }
    }
}

enum Done {
    Print(String),
    Exec(ExecRequest),
}

fn print(value: &Value, format: Format) -> Result<Done, Failure> {
    Ok(Done::Print(render(value, format)))
}

fn nothing() -> Result<Done, Failure> {
    Ok(Done::Print(String::new()))
}

/// The relation a call names, or the hook's.
fn relation(arg: Option<RelationArg>, hook: &HookContextInfo, missing: &str) -> Result<RelationArg, Failure> {
    arg.or_else(|| hook.hook_relation())
        .ok_or_else(|| fail(2, missing))
}

/// Turns a backend error into Juju's message for `tool`.
fn backend_failure(
    tool: &str,
    err: BackendError,
    rel: Option<&RelationArg>,
    secret: Option<&SecretRef>,
) -> Failure {
    match err {
        BackendError::RelationNotFound(id) => {
            let raw = rel.map_or_else(|| id.to_string(), |r| r.raw.clone());
            fail(
                2,
                format!("invalid value {raw:?} for option -r: relation not found"),
            )
        }
        BackendError::SecretNotFound => {
            let what = match secret {
                Some(SecretRef::Id(id) | SecretRef::IdWithLabel(id, _)) => id.clone(),
                Some(SecretRef::Label(l)) => l.clone(),
                None => String::new(),
            };
            fail(1, format!("secret {what:?} not found"))
        }
        BackendError::NotLeader(_) => fail(
            1,
            match tool {
                "relation-set" => "cannot write relation settings",
                "relation-get" => "permission denied",
                "leader-set" => "cannot write leadership settings: cannot write settings: not the leader",
                "status-get" => "finding application status: this unit is not the leader",
                _ => "this unit is not the leader",
            },
        ),
        BackendError::Tool { stderr, .. } => {
            let m = stderr.trim();
            fail(1, m.strip_prefix("ERROR ").unwrap_or(m))
        }
        BackendError::Unsupported(what) => fail(1, format!("{what} is not implemented")),
        other => fail(1, other.to_string()),
    }
}

fn run(
    b: &mut dyn Backend,
    hook: &HookContextInfo,
    request: Request,
    warnings: &mut String,
) -> Result<Done, Failure> {
    let tool = request.tool();
    let be = |e: BackendError| backend_failure(tool, e, None, None);
    match request {
        Request::Help(text) => Ok(Done::Print(text)),
        Request::Exec(e) => Ok(Done::Exec(e)),

        Request::RelationGet {
            relation: r,
            app,
            key,
            target,
            format,
        } => {
            let rel = relation(r, hook, "no relation id specified")?;
            let owner = bag_owner(app, target, hook)?;
            let err = |e| backend_failure(tool, e, Some(&rel), None);
            let value = match key {
                None => string_map(b.relation_get(rel.id, &owner).map_err(err)?),
                Some(k) => b
                    .relation_get_key(rel.id, &owner, &k)
                    .map_err(err)?
                    .map_or(Value::Null, Value::String),
            };
            print(&value, format)
        }
        Request::RelationSet {
            relation: r,
            app,
            settings,
            format_flag,
        } => {
            if format_flag {
                warnings.push_str("--format flag deprecated for command \"relation-set\"");
            }
            let rel = relation(r, hook, "no relation id specified")?;
            check_bag_size(&settings)?;
            let scope = if app { BagScope::App } else { BagScope::Unit };
            b.relation_set(rel.id, scope, &settings)
                .map_err(|e| backend_failure(tool, e, Some(&rel), None))?;
            nothing()
        }
        Request::RelationIds { endpoint, format } => {
            let endpoint = endpoint
                .or_else(|| hook.relation_endpoint.clone())
                .ok_or_else(|| fail(2, "no endpoint name specified"))?;
            let ids = b.relation_ids(&endpoint).map_err(be)?;
            let list: Vec<Value> = ids
                .iter()
                .map(|id| Value::String(format!("{endpoint}:{id}")))
                .collect();
            print(&Value::Array(list), format)
        }
        Request::RelationList {
            relation: r,
            app,
            format,
        } => {
            let rel = relation(r, hook, "no relation id specified")?;
            let err = |e| backend_failure(tool, e, Some(&rel), None);
            let value = if app {
                match b.relation_remote_app(rel.id).map_err(err)? {
                    Some(a) => Value::String(a.to_string()),
                    None => Value::String(String::new()),
                }
            } else {
                let units = b.relation_list(rel.id).map_err(err)?;
                Value::Array(units.iter().map(|u| Value::String(u.to_string())).collect())
            };
            print(&value, format)
        }
        Request::IsLeader { format } => print(&Value::Bool(b.is_leader().map_err(be)?), format),
        Request::LeaderGet { key, format } => {
            let settings = b.leader_get().map_err(be)?;
            print(&select(settings, key.as_deref()), format)
        }
        Request::LeaderSet { settings } => {
            b.leader_set(&settings).map_err(be)?;
            nothing()
        }
        Request::StatusSet { target, status } => {
            b.status_set(target, &status).map_err(be)?;
            nothing()
        }
        Request::StatusGet {
            target,
            include_data,
            format,
        } => {
            let details = |s: &charm::Status| -> Value {
                let mut m = Map::new();
                m.insert("status".into(), json!(s.name.as_str()));
                if include_data {
                    m.insert("message".into(), json!(s.message));
                    m.insert("status-data".into(), json!({}));
                }
                Value::Object(m)
            };
            match target {
                StatusTarget::Unit => {
                    let s = b.status_get(StatusTarget::Unit).map_err(be)?;
                    if !include_data && format == Format::Smart {
                        return print(&json!(s.name.as_str()), format);
                    }
                    print(&details(&s), format)
                }
                StatusTarget::App => {
                    if !b.is_leader().map_err(be)? {
                        return Err(fail(1, "finding application status: this unit is not the leader"));
                    }
                    let app = b.status_get(StatusTarget::App).map_err(be)?;
                    if !include_data && format == Format::Smart {
                        return print(&json!(app.name.as_str()), format);
                    }
                    let unit = b.status_get(StatusTarget::Unit).map_err(be)?;
                    let mut d = details(&app);
                    if let Value::Object(m) = &mut d {
                        m.insert("units".into(), json!({ hook.unit.to_string(): details(&unit) }));
                    }
                    print(&json!({ "application-status": d }), format)
                }
            }
        }
        Request::JujuLog {
            level,
            message,
            invalid_level,
            format_flag,
        } => {
            if format_flag {
                warnings.push_str("--format flag deprecated for command \"juju-log\"");
            }
            if let Some(l) = invalid_level {
                b.juju_log(
                    LogLevel::Warning,
                    &format!("Specified log level of {l:?} is not valid"),
                )
                .map_err(be)?;
            }
            b.juju_log(level, &message).map_err(be)?;
            nothing()
        }
        Request::ConfigGet { key, all: _, format } => {
            let config = b.config_get().map_err(be)?;
            let map: Map<String, Value> = config
                .into_iter()
                .map(|(k, v)| (k, serde_json::to_value(v).unwrap_or(Value::Null)))
                .collect();
            let value = match key {
                None => Value::Object(map),
                Some(k) => map.get(&k).cloned().unwrap_or(Value::Null),
            };
            print(&value, format)
        }
        Request::StateGet { key, strict, format } => {
            let state = b.state_get().map_err(be)?;
            let value = match key {
                None => string_map(state),
                Some(k) => match state.get(&k) {
                    Some(v) => Value::String(v.clone()),
                    None if strict => return Err(fail(1, format!("{k:?} not found"))),
                    None => Value::String(String::new()),
                },
            };
            print(&value, format)
        }
        Request::StateSet { values } => {
            for (k, v) in &values {
                if k.len() > MAX_STATE_KEY {
                    return Err(fail(
                        1,
                        format!("max allowed key length ({MAX_STATE_KEY}): quota limit exceeded"),
                    ));
                }
                if v.len() > MAX_STATE_VALUE {
                    return Err(fail(
                        1,
                        format!("max allowed value length ({MAX_STATE_VALUE}): quota limit exceeded"),
                    ));
                }
            }
            b.state_set(&values).map_err(be)?;
            nothing()
        }
        Request::StateDelete { key } => {
            b.state_delete(&key).map_err(be)?;
            nothing()
        }
        Request::SecretAdd { content, options } => {
            if options.owner != Some(charm::SecretOwner::Unit) && !b.is_leader().map_err(be)? {
                return Err(fail(1, "this unit is not the leader"));
            }
            let id = b.secret_add(&content, &options).map_err(be)?;
            Ok(Done::Print(format!("{id}\n")))
        }
        Request::SecretGet {
            secret,
            read,
            key,
            base64,
            format,
        } => {
            let content = b
                .secret_get(&secret, read)
                .map_err(|e| backend_failure(tool, e, None, Some(&secret)))?;
            match key {
                None => print(&string_map(content.0), format),
                Some(k) => {
                    let v = content
                        .0
                        .get(&k)
                        .ok_or_else(|| fail(1, format!("key {k:?} not found")))?;
                    let v = if base64 {
                        crate::settings::base64_encode(v.as_bytes())
                    } else {
                        v.clone()
                    };
                    // A single value prints plain in the default format.
                    let format = if format == Format::Yaml {
                        Format::Smart
                    } else {
                        format
                    };
                    print(&Value::String(v), format)
                }
            }
        }
        Request::SecretSet { id, content, options } => {
            let secret = SecretRef::Id(id.clone());
            b.secret_set(&id, content.as_ref(), &options)
                .map_err(|e| backend_failure(tool, e, None, Some(&secret)))?;
            nothing()
        }
        Request::SecretGrant {
            id,
            relation: r,
            unit,
        } => {
            let rel = relation(r, hook, "missing relation")?;
            let secret = SecretRef::Id(id.clone());
            b.secret_grant(&id, rel.id, unit.as_ref())
                .map_err(|e| backend_failure(tool, e, Some(&rel), Some(&secret)))?;
            nothing()
        }
        Request::SecretRevoke {
            id,
            relation: r,
            app,
            unit,
        } => {
            let rel = relation(r, hook, "missing relation")?;
            let target = match (app, unit) {
                (_, Some(u)) => RevokeTarget::Unit(u),
                (Some(a), None) => RevokeTarget::App(a),
                (None, None) => RevokeTarget::Relation,
            };
            let secret = SecretRef::Id(id.clone());
            b.secret_revoke(&id, rel.id, &target)
                .map_err(|e| backend_failure(tool, e, Some(&rel), Some(&secret)))?;
            nothing()
        }
        Request::SecretRemove { id, revision } => {
            let secret = SecretRef::Id(id.clone());
            b.secret_remove(&id, revision)
                .map_err(|e| backend_failure(tool, e, None, Some(&secret)))?;
            nothing()
        }
        Request::SecretInfoGet { secret, format } => {
            let info = b
                .secret_info_get(&secret)
                .map_err(|e| backend_failure(tool, e, None, Some(&secret)))?;
            let mut m = Map::new();
            m.insert("revision".into(), json!(info.revision));
            m.insert("label".into(), json!(info.label.unwrap_or_default()));
            m.insert("owner".into(), json!(info.owner));
            for (k, v) in [
                ("description", info.description),
                ("expiry", info.expiry),
                ("rotation", info.rotation),
            ] {
                if let Some(v) = v.filter(|v| !v.is_empty()) {
                    m.insert(k.into(), json!(v));
                }
            }
            // Juju keys the answer by the bare id (the URI without `secret:`).
            let id = info.id.strip_prefix("secret:").unwrap_or(&info.id).to_owned();
            print(&json!({ id: m }), format)
        }
        Request::SecretIds { format } => {
            let ids = b.secret_ids().map_err(be)?;
            print(&json!(ids), format)
        }
        Request::ActionGet { key, format } => {
            in_action(hook)?;
            let params = b.action_get().map_err(be)?;
            let mut value = Value::Object(params);
            if let Some(path) = key {
                for part in path.split('.') {
                    value = match value {
                        Value::Object(mut m) => m.remove(part).unwrap_or(Value::Null),
                        _ => Value::Null,
                    };
                }
            }
            print(&value, format)
        }
        Request::ActionSet { results } => {
            in_action(hook)?;
            b.action_set(&results).map_err(be)?;
            nothing()
        }
        Request::ActionFail { message } => {
            in_action(hook)?;
            b.action_fail(&message).map_err(be)?;
            nothing()
        }
        Request::ActionLog { message } => {
            in_action(hook)?;
            b.action_log(&message).map_err(be)?;
            nothing()
        }
        Request::ApplicationVersionSet { version } => {
            b.application_version_set(&version).map_err(be)?;
            nothing()
        }
        Request::GoalState { format } => {
            let g = b.goal_state().map_err(be)?;
            print(&serde_json::to_value(g).unwrap_or(Value::Null), format)
        }
        Request::OpenPort { port, endpoints } => {
            b.open_port(&port, &endpoints).map_err(be)?;
            nothing()
        }
        Request::ClosePort { port, endpoints } => {
            b.close_port(&port, &endpoints).map_err(be)?;
            nothing()
        }
        Request::OpenedPorts { endpoints, format } => {
            let ports = b.opened_ports().map_err(be)?;
            let list: Vec<Value> = ports
                .iter()
                .map(|p| {
                    Value::String(if endpoints {
                        format!("{p} (*)")
                    } else {
                        p.to_string()
                    })
                })
                .collect();
            print(&Value::Array(list), format)
        }
        Request::NetworkGet {
            binding,
            relation: r,
            keys,
            primary_address,
            format,
        } => {
            let rel = match r {
                Some(r) => Some(r),
                None => hook.hook_relation(),
            };
            let info = b
                .network_get(&binding, rel.as_ref().map(|r| r.id))
                .map_err(|e| backend_failure(tool, e, rel.as_ref(), None))?;
            network_output(&binding, info, &keys, primary_address, format)
        }
        Request::Reboot { now } => {
            if hook.action.is_some() {
                return Err(fail(1, "juju-reboot is not supported when running an action"));
            }
            b.reboot(now).map_err(be)?;
            nothing()
        }
    }
}

fn in_action(hook: &HookContextInfo) -> Result<(), Failure> {
    match hook.action {
        Some(_) => Ok(()),
        None => Err(fail(1, "not running an action")),
    }
}

fn string_map(m: std::collections::BTreeMap<String, String>) -> Value {
    Value::Object(m.into_iter().map(|(k, v)| (k, Value::String(v))).collect())
}

fn select(m: std::collections::BTreeMap<String, String>, key: Option<&str>) -> Value {
    match key {
        None => string_map(m),
        Some(k) => m.get(k).map_or(Value::Null, |v| Value::String(v.clone())),
    }
}

/// Whose bag `relation-get` reads, with Juju's defaults: the named unit or application, else
/// the hook's remote unit, else (switching to `--app`) the hook's remote application.
fn bag_owner(app: bool, target: Option<String>, hook: &HookContextInfo) -> Result<BagOwner, Failure> {
    let none = || fail(2, "no unit or application specified");
    match target {
        Some(t) if app => {
            if let Ok(a) = AppName::parse(&t) {
                Ok(BagOwner::App(a))
            } else if let Ok(u) = UnitName::parse(&t) {
                Ok(BagOwner::App(u.app()))
            } else {
                Err(fail(2, format!("invalid application name {t:?}")))
            }
        }
        Some(t) => UnitName::parse(&t).map(BagOwner::Unit).map_err(|_| {
            fail(
                2,
                format!("invalid unit name {t:?}; use --app to read an application's settings"),
            )
        }),
        None if app => hook.remote_app.clone().map(BagOwner::App).ok_or_else(none),
        None => match (&hook.remote_unit, &hook.remote_app) {
            (Some(u), _) => Ok(BagOwner::Unit(u.clone())),
            (None, Some(a)) => Ok(BagOwner::App(a.clone())),
            (None, None) => Err(none()),
        },
    }
}

fn check_bag_size(settings: &Databag) -> Result<(), Failure> {
    let size: usize = settings
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| k.len() + v.len())
        .sum();
    if size > MAX_BAG_BYTES {
        return Err(fail(
            1,
            format!("cannot write relation settings: max allowed total size ({MAX_BAG_BYTES}): quota limit exceeded"),
        ));
    }
    Ok(())
}

fn network_output(
    binding: &str,
    info: Value,
    keys: &[NetworkKey],
    primary_address: bool,
    format: Format,
) -> Result<Done, Failure> {
    if !primary_address && keys.is_empty() {
        return print(&info, format);
    }
    let no_address = || {
        fail(
            1,
            format!("no addresses attached to space for binding {binding:?}"),
        )
    };
    let first_address = || -> Option<Value> {
        let addr = info.get("bind-addresses")?.get(0)?.get("addresses")?.get(0)?;
        addr.get("value").or_else(|| addr.get("address")).cloned()
    };
    if primary_address {
        return print(&first_address().ok_or_else(no_address)?, format);
    }
    let mut m = Map::new();
    for key in keys {
        let v = match key {
            NetworkKey::EgressSubnets => info.get("egress-subnets").cloned().unwrap_or(json!([])),
            NetworkKey::IngressAddress => match info.get("ingress-addresses").and_then(|a| a.get(0)) {
                Some(a) => a.clone(),
                None => first_address().ok_or_else(no_address)?,
            },
            NetworkKey::BindAddress => first_address().ok_or_else(no_address)?,
        };
        m.insert(key.as_str().into(), v);
    }
    if keys.len() == 1 {
        let only = m.remove(keys[0].as_str()).unwrap_or(Value::Null);
        return print(&only, format);
    }
    print(&Value::Object(m), format)
}

/// Turns a [`UsageError`] into the tool's reply (for callers that parse themselves).
impl From<UsageError> for Response {
    fn from(e: UsageError) -> Self {
        e.to_response()
    }
}
