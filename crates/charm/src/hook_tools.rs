//! [`HookTools`]: the backend that runs Juju's hook-tool commands.
//!
//! Every call uses exactly the argv, stdin and output formats that Python `ops` and
//! charmhelpers use, so the same charm runs under real Juju and under the simulator's process
//! driver, whose tools speak the same forms.

use crate::backend::{Backend, BackendError};
use crate::event::JujuEnv;
use crate::model::*;
use crate::names::{AppName, RelationId, UnitName};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// `juju-log` splits messages longer than this, as ops does. ops counts characters; this counts
/// bytes (the same for ASCII), so that every part stays under Linux's 128 KiB limit for one
/// argument (`E2BIG`) whatever the characters.
pub const MAX_LOG_CHARS: usize = 131_071;

/// The largest value Juju's controller storage takes for one key (`state-set`).
pub const MAX_CONTROLLER_STATE_VALUE: usize = 64 * 1024;

/// Where the framework keeps stored state and deferred events between hooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredStateLocation {
    /// A file on the unit's machine, replaced atomically, mode 0600 (the default).
    File(PathBuf),
    /// Juju's controller storage (`state-get` / `state-set`) under this key: it survives the
    /// machine, but values are capped at 64 KiB.
    Controller(String),
}

/// The name of the stored state file inside the charm directory.
pub const STATE_FILE: &str = ".ensemble-state.json";

/// The backend that runs real hook tools.
#[derive(Debug)]
pub struct HookTools {
    tool_dir: Option<PathBuf>,
    unit: Option<UnitName>,
    charm_dir: PathBuf,
    storage: StoredStateLocation,
    endpoints: HashMap<RelationId, String>,
    event_remote_app: Option<(RelationId, AppName)>,
    tool_calls: usize,
}

impl HookTools {
    /// A backend for the hook that `env` describes; tools are found on `PATH`.
    pub fn from_env(env: &JujuEnv) -> Self {
        let mut endpoints = HashMap::new();
        if let (Some(ep), Some(id)) = (&env.relation, env.relation_id) {
            endpoints.insert(id, ep.clone());
        }
        Self {
            tool_dir: None,
            unit: env.unit.clone(),
            charm_dir: env.charm_dir.clone(),
            storage: StoredStateLocation::File(env.charm_dir.join(STATE_FILE)),
            endpoints,
            event_remote_app: env.relation_id.zip(env.remote_app.clone()),
            tool_calls: 0,
        }
    }

    /// Runs the tools from `dir` instead of `PATH` (tests, the simulator's tool directory).
    pub fn with_tool_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.tool_dir = Some(dir.into());
        self
    }

    /// Keeps stored state at `location`.
    pub fn with_storage(mut self, location: StoredStateLocation) -> Self {
        self.storage = location;
        self
    }

    /// How many hook-tool processes this backend has run.
    pub fn tool_calls(&self) -> usize {
        self.tool_calls
    }

    fn program(&self, tool: &str) -> PathBuf {
        match &self.tool_dir {
            Some(d) => d.join(tool),
            None => PathBuf::from(tool),
        }
    }

    /// Runs one tool; returns its standard output.
    fn run(&mut self, tool: &str, args: &[&str], stdin: Option<&[u8]>) -> Result<String, BackendError> {
        self.tool_calls += 1;
        let mut cmd = Command::new(self.program(tool));
        cmd.args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|source| BackendError::Spawn {
            tool: tool.to_owned(),
            source,
        })?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            // A tool that exits early closes its stdin; its exit status tells the story.
            let _ = pipe.write_all(input);
        }
        let out = child.wait_with_output().map_err(|source| BackendError::Spawn {
            tool: tool.to_owned(),
            source,
        })?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
            return Err(classify(tool, args, out.status.code(), stderr));
        }
        String::from_utf8(out.stdout).map_err(|_| BackendError::Output {
            tool: tool.to_owned(),
            detail: "output is not UTF-8".into(),
        })
    }

    fn run_json(&mut self, tool: &str, args: &[&str]) -> Result<Value, BackendError> {
        let out = self.run(tool, args, None)?;
        let text = out.trim();
        if text.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(text).map_err(|e| BackendError::Output {
            tool: tool.to_owned(),
            detail: if tool.starts_with("secret") {
                "not valid JSON".to_owned()
            } else {
                format!("not valid JSON ({e})")
            },
        })
    }

    fn rel_ref(&self, id: RelationId) -> String {
        match self.endpoints.get(&id) {
            Some(ep) => format!("{ep}:{id}"),
            None => id.to_string(),
        }
    }

    /// Writes secret content to private files (mode 0600 in a 0700 directory), so that it never
    /// appears in a command line; the directory is removed when the returned guard drops.
    fn secret_files(
        &self,
        content: &SecretContent,
    ) -> Result<(tempfile::TempDir, Vec<String>), BackendError> {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::Builder::new()
            .prefix("ensemble-secret-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()
            .map_err(|e| BackendError::Storage(format!("secret content files: {e}")))?;
        let mut args = Vec::new();
        for (k, v) in &content.0 {
            if k.is_empty() || k.contains(['#', '=', '/']) {
                return Err(BackendError::Refused(format!("invalid secret key {k:?}")));
            }
            let path = dir.path().join(k);
            write_new_private(&path, v.as_bytes())
                .map_err(|e| BackendError::Storage(format!("secret content files: {e}")))?;
            args.push(format!("{k}#file={}", path.display()));
        }
        Ok((dir, args))
    }
}

fn classify(tool: &str, args: &[&str], code: Option<i32>, stderr: String) -> BackendError {
    let lower = stderr.to_ascii_lowercase();
    // As ops does: `network-get -r` names a relation too.
    if (tool.starts_with("relation-") || tool == "network-get") && lower.contains("relation not found") {
        let id = args
            .windows(2)
            .find(|w| w[0] == "-r")
            .and_then(|w| RelationId::parse(w[1]).ok());
        if let Some(id) = id {
            return BackendError::RelationNotFound(id);
        }
    }
    if tool.starts_with("secret-") && lower.contains("not found") {
        return BackendError::SecretNotFound;
    }
    BackendError::Tool {
        tool: tool.to_owned(),
        code,
        stderr,
    }
}

fn output_err(tool: &str, detail: impl Into<String>) -> BackendError {
    BackendError::Output {
        tool: tool.to_owned(),
        detail: detail.into(),
    }
}

fn string_map(tool: &str, v: Value) -> Result<BTreeMap<String, String>, BackendError> {
    match v {
        Value::Null => Ok(BTreeMap::new()),
        Value::Object(m) => m
            .into_iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k, s)),
                _ => Err(output_err(tool, format!("value of key {k:?} is not a string"))),
            })
            .collect(),
        _ => Err(output_err(tool, "expected a JSON object of strings")),
    }
}

fn string_list(tool: &str, v: Value) -> Result<Vec<String>, BackendError> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(a) => a
            .into_iter()
            .map(|x| match x {
                Value::String(s) => Ok(s),
                _ => Err(output_err(tool, "expected a JSON list of strings")),
            })
            .collect(),
        _ => Err(output_err(tool, "expected a JSON list of strings")),
    }
}

fn parse_status(tool: &str, v: &Value) -> Result<Status, BackendError> {
    if !v.is_object() {
        return Err(output_err(tool, "expected a JSON object"));
    }
    let name = v.get("status").and_then(Value::as_str).unwrap_or("unknown");
    let name = StatusName::parse(name).ok_or_else(|| output_err(tool, format!("unknown status {name:?}")))?;
    let message = v.get("message").and_then(Value::as_str).unwrap_or("").to_owned();
    Ok(Status { name, message })
}

fn opts_args(options: &SecretOptions, args: &mut Vec<String>) {
    let pairs = [
        ("--label", &options.label),
        ("--description", &options.description),
        ("--expire", &options.expire),
        ("--rotate", &options.rotate),
    ];
    for (flag, v) in pairs {
        if let Some(v) = v {
            args.push(flag.to_owned());
            args.push(v.clone());
        }
    }
}

impl Backend for HookTools {
    fn relation_ids(&mut self, endpoint: &str) -> Result<Vec<RelationId>, BackendError> {
        let v = self.run_json("relation-ids", &[endpoint, "--format=json"])?;
        let ids = string_list("relation-ids", v)?
            .iter()
            .map(|s| RelationId::parse(s).map_err(|e| output_err("relation-ids", e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        for id in &ids {
            self.endpoints.insert(*id, endpoint.to_owned());
        }
        Ok(ids)
    }

    fn relation_list(&mut self, id: RelationId) -> Result<Vec<UnitName>, BackendError> {
        let r = self.rel_ref(id);
        let v = self.run_json("relation-list", &["--format=json", "-r", &r])?;
        let mut units = string_list("relation-list", v)?
            .iter()
            .map(|s| UnitName::parse(s).map_err(|e| output_err("relation-list", e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        units.sort();
        Ok(units)
    }

    fn relation_remote_app(&mut self, id: RelationId) -> Result<Option<AppName>, BackendError> {
        if let Some((eid, app)) = &self.event_remote_app {
            if *eid == id {
                return Ok(Some(app.clone()));
            }
        }
        let r = self.rel_ref(id);
        match self.run_json("relation-list", &["--format=json", "--app", "-r", &r])? {
            Value::Null => Ok(None),
            Value::String(s) if s.is_empty() => Ok(None),
            Value::String(s) => AppName::parse(&s)
                .map(Some)
                .map_err(|e| output_err("relation-list", e.to_string())),
            _ => Err(output_err("relation-list", "expected a JSON string")),
        }
    }

    fn relation_get(&mut self, id: RelationId, owner: &BagOwner) -> Result<Databag, BackendError> {
        let r = self.rel_ref(id);
        let v = match owner {
            BagOwner::Unit(u) => {
                self.run_json("relation-get", &["--format=json", "-r", &r, "-", u.as_str()])?
            }
            BagOwner::App(a) => self.run_json(
                "relation-get",
                &["--format=json", "-r", &r, "--app", "-", a.as_str()],
            )?,
        };
        string_map("relation-get", v)
    }

    fn relation_get_key(
        &mut self,
        id: RelationId,
        owner: &BagOwner,
        key: &str,
    ) -> Result<Option<String>, BackendError> {
        // A key that the tool would take for a flag or for "the whole bag": read the bag.
        if key.is_empty() || key.starts_with('-') {
            return Ok(self.relation_get(id, owner)?.remove(key));
        }
        let r = self.rel_ref(id);
        let v = match owner {
            BagOwner::Unit(u) => {
                self.run_json("relation-get", &["--format=json", "-r", &r, key, u.as_str()])?
            }
            BagOwner::App(a) => self.run_json(
                "relation-get",
                &["--format=json", "-r", &r, "--app", key, a.as_str()],
            )?,
        };
        match v {
            Value::Null => Ok(None),
            Value::String(s) if s.is_empty() => Ok(None),
            Value::String(s) => Ok(Some(s)),
            _ => Err(output_err(
                "relation-get",
                format!("value of key {key:?} is not a string"),
            )),
        }
    }

    fn relation_set(
        &mut self,
        id: RelationId,
        scope: BagScope,
        changes: &Databag,
    ) -> Result<(), BackendError> {
        let r = self.rel_ref(id);
        let body = serde_json::to_vec(changes).unwrap_or_default();
        let mut args = vec!["-r", r.as_str()];
        if scope == BagScope::App {
            args.push("--app");
        }
        args.extend(["--file", "-"]);
        self.run("relation-set", &args, Some(&body)).map(drop)
    }

    fn is_leader(&mut self) -> Result<bool, BackendError> {
        match self.run_json("is-leader", &["--format=json"])? {
            Value::Bool(b) => Ok(b),
            _ => Err(output_err("is-leader", "expected true or false")),
        }
    }

    fn config_get(&mut self) -> Result<BTreeMap<String, ConfigValue>, BackendError> {
        let v = self.run_json("config-get", &["--format=json"])?;
        let map = match v {
            Value::Null => return Ok(BTreeMap::new()),
            Value::Object(m) => m,
            _ => return Err(output_err("config-get", "expected a JSON object")),
        };
        let mut out = BTreeMap::new();
        for (k, v) in map {
            let cv = match v {
                Value::Null => continue,
                Value::Bool(b) => ConfigValue::Bool(b),
                Value::Number(n) => match n.as_i64() {
                    Some(i) => ConfigValue::Int(i),
                    None => ConfigValue::Float(n.as_f64().unwrap_or(0.0)),
                },
                Value::String(s) => ConfigValue::String(s),
                _ => {
                    return Err(output_err(
                        "config-get",
                        format!("option {k:?} has a non-scalar value"),
                    ))
                }
            };
            out.insert(k, cv);
        }
        Ok(out)
    }

    fn status_set(&mut self, target: StatusTarget, status: &Status) -> Result<(), BackendError> {
        if matches!(status.name, StatusName::Error | StatusName::Unknown) {
            return Err(BackendError::Refused(format!(
                "a charm cannot set status {:?}",
                status.name.as_str()
            )));
        }
        let app = match target {
            StatusTarget::App => "--application=True",
            StatusTarget::Unit => "--application=False",
        };
        let mut args = vec![app, status.name.as_str()];
        if !status.message.is_empty() {
            args.extend(["--", status.message.as_str()]);
        }
        self.run("status-set", &args, None).map(drop)
    }

    fn status_get(&mut self, target: StatusTarget) -> Result<Status, BackendError> {
        let app = match target {
            StatusTarget::App => "--application=true",
            StatusTarget::Unit => "--application=false",
        };
        let v = self.run_json("status-get", &["--include-data", "--format=json", app])?;
        match target {
            StatusTarget::Unit => parse_status("status-get", &v),
            StatusTarget::App => {
                let inner = v
                    .get("application-status")
                    .ok_or_else(|| output_err("status-get", "missing application-status"))?;
                parse_status("status-get", inner)
            }
        }
    }

    fn juju_log(&mut self, level: LogLevel, message: &str) -> Result<(), BackendError> {
        let mut rest = message;
        loop {
            let mut end = rest.len().min(MAX_LOG_CHARS);
            while !rest.is_char_boundary(end) {
                end -= 1;
            }
            let (part, tail) = rest.split_at(end);
            self.run("juju-log", &["--log-level", level.as_str(), "--", part], None)?;
            rest = tail;
            if rest.is_empty() {
                return Ok(());
            }
        }
    }

    fn leader_get(&mut self) -> Result<Databag, BackendError> {
        let v = self.run_json("leader-get", &["--format=json", "-"])?;
        string_map("leader-get", v)
    }

    fn leader_set(&mut self, changes: &Databag) -> Result<(), BackendError> {
        let args: Vec<String> = changes.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.run("leader-set", &args, None).map(drop)
    }

    fn state_get(&mut self) -> Result<BTreeMap<String, String>, BackendError> {
        let v = self.run_json("state-get", &["--format=json"])?;
        string_map("state-get", v)
    }

    fn state_set(&mut self, changes: &BTreeMap<String, String>) -> Result<(), BackendError> {
        let body = serde_json::to_vec(changes).unwrap_or_default();
        self.run("state-set", &["--file", "-"], Some(&body)).map(drop)
    }

    fn state_delete(&mut self, key: &str) -> Result<(), BackendError> {
        self.run("state-delete", &[key], None).map(drop)
    }

    fn secret_add(
        &mut self,
        content: &SecretContent,
        options: &SecretOptions,
    ) -> Result<String, BackendError> {
        let (_dir, files) = self.secret_files(content)?;
        let mut args = Vec::new();
        opts_args(options, &mut args);
        args.push("--owner".into());
        args.push(options.owner.unwrap_or(SecretOwner::Application).as_str().into());
        args.extend(files);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self.run("secret-add", &args, None)?;
        let id = out.trim();
        if id.is_empty() || id.contains(char::is_whitespace) {
            return Err(output_err("secret-add", "expected a secret id"));
        }
        Ok(id.to_owned())
    }

    fn secret_get(&mut self, secret: &SecretRef, read: SecretRead) -> Result<SecretContent, BackendError> {
        let mut args = vec!["--format=json".to_owned()];
        match secret {
            SecretRef::Id(id) => args.push(id.clone()),
            SecretRef::Label(l) => args.extend(["--label".into(), l.clone()]),
            SecretRef::IdWithLabel(id, l) => args.extend([id.clone(), "--label".into(), l.clone()]),
        }
        match read {
            SecretRead::Tracked => {}
            SecretRead::Refresh => args.push("--refresh".into()),
            SecretRead::Peek => args.push("--peek".into()),
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let v = self.run_json("secret-get", &args)?;
        let map = string_map("secret-get", v)
            .map_err(|_| output_err("secret-get", "expected a JSON object of strings"))?;
        Ok(SecretContent(map))
    }

    fn secret_set(
        &mut self,
        id: &str,
        content: Option<&SecretContent>,
        options: &SecretOptions,
    ) -> Result<(), BackendError> {
        let mut args = Vec::new();
        opts_args(options, &mut args);
        args.push(id.to_owned());
        let _dir = match content {
            Some(c) => {
                let (dir, files) = self.secret_files(c)?;
                args.extend(files);
                Some(dir)
            }
            None => None,
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.run("secret-set", &args, None).map(drop)
    }

    fn secret_grant(
        &mut self,
        id: &str,
        relation: RelationId,
        unit: Option<&UnitName>,
    ) -> Result<(), BackendError> {
        let rel = relation.to_string();
        let mut args = vec!["--relation", rel.as_str()];
        if let Some(u) = unit {
            args.extend(["--unit", u.as_str()]);
        }
        args.push(id);
        self.run("secret-grant", &args, None).map(drop)
    }

    fn secret_revoke(
        &mut self,
        id: &str,
        relation: RelationId,
        target: &RevokeTarget,
    ) -> Result<(), BackendError> {
        let rel = relation.to_string();
        let mut args = vec!["--relation", rel.as_str()];
        match target {
            RevokeTarget::Relation => {}
            RevokeTarget::App(a) => args.extend(["--app", a.as_str()]),
            RevokeTarget::Unit(u) => args.extend(["--unit", u.as_str()]),
        }
        args.push(id);
        self.run("secret-revoke", &args, None).map(drop)
    }

    fn secret_remove(&mut self, id: &str, revision: Option<u64>) -> Result<(), BackendError> {
        let rev = revision.map(|r| r.to_string());
        let mut args = vec![id];
        if let Some(r) = &rev {
            args.extend(["--revision", r.as_str()]);
        }
        self.run("secret-remove", &args, None).map(drop)
    }

    fn secret_info_get(&mut self, secret: &SecretRef) -> Result<SecretInfo, BackendError> {
        let args: Vec<&str> = match secret {
            SecretRef::Id(id) | SecretRef::IdWithLabel(id, _) => vec!["--format=json", id.as_str()],
            SecretRef::Label(l) => vec!["--format=json", "--label", l.as_str()],
        };
        let v = self.run_json("secret-info-get", &args)?;
        let Value::Object(map) = v else {
            return Err(output_err("secret-info-get", "expected a JSON object"));
        };
        let (id, info) = map
            .into_iter()
            .next()
            .ok_or_else(|| output_err("secret-info-get", "empty result"))?;
        let s = |k: &str| info.get(k).and_then(Value::as_str).map(str::to_owned);
        Ok(SecretInfo {
            // Juju keys the answer by the bare id; `secret-add` printed the URI.
            id: if id.starts_with("secret:") {
                id
            } else {
                format!("secret:{id}")
            },
            // Juju prints `"label": ""` for a secret without one.
            label: s("label").filter(|l| !l.is_empty()),
            owner: s("owner").unwrap_or_default(),
            revision: info.get("revision").and_then(Value::as_u64).unwrap_or(0),
            description: s("description"),
            expiry: s("expiry"),
            rotation: s("rotation"),
        })
    }

    fn secret_ids(&mut self) -> Result<Vec<String>, BackendError> {
        let v = self.run_json("secret-ids", &["--format=json"])?;
        string_list("secret-ids", v)
    }

    fn application_version_set(&mut self, version: &str) -> Result<(), BackendError> {
        self.run("application-version-set", &["--", version], None)
            .map(drop)
    }

    fn action_get(&mut self) -> Result<serde_json::Map<String, Value>, BackendError> {
        match self.run_json("action-get", &["--format=json"])? {
            Value::Null => Ok(Default::default()),
            Value::Object(m) => Ok(m),
            _ => Err(output_err("action-get", "expected a JSON object")),
        }
    }

    fn action_set(&mut self, results: &BTreeMap<String, String>) -> Result<(), BackendError> {
        let args: Vec<String> = results.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.run("action-set", &args, None).map(drop)
    }

    fn action_fail(&mut self, message: &str) -> Result<(), BackendError> {
        if message.is_empty() {
            self.run("action-fail", &[], None).map(drop)
        } else {
            self.run("action-fail", &["--", message], None).map(drop)
        }
    }

    fn action_log(&mut self, message: &str) -> Result<(), BackendError> {
        self.run("action-log", &["--", message], None).map(drop)
    }

    fn goal_state(&mut self) -> Result<GoalState, BackendError> {
        let v = self.run_json("goal-state", &["--format=json"])?;
        if !v.is_object() {
            return Err(output_err("goal-state", "expected a JSON object"));
        }
        serde_json::from_value(v).map_err(|e| output_err("goal-state", e.to_string()))
    }

    fn open_port(&mut self, port: &Port, endpoints: &[String]) -> Result<(), BackendError> {
        let spec = port.to_string();
        let eps = endpoints.join(",");
        let mut args = Vec::new();
        if !endpoints.is_empty() {
            args.extend(["--endpoints", eps.as_str()]);
        }
        args.push(&spec);
        self.run("open-port", &args, None).map(drop)
    }

    fn close_port(&mut self, port: &Port, endpoints: &[String]) -> Result<(), BackendError> {
        let spec = port.to_string();
        let eps = endpoints.join(",");
        let mut args = Vec::new();
        if !endpoints.is_empty() {
            args.extend(["--endpoints", eps.as_str()]);
        }
        args.push(&spec);
        self.run("close-port", &args, None).map(drop)
    }

    fn opened_ports(&mut self) -> Result<Vec<Port>, BackendError> {
        let v = self.run_json("opened-ports", &["--format=json"])?;
        string_list("opened-ports", v)?
            .iter()
            .map(|p| Port::parse(p).ok_or_else(|| output_err("opened-ports", format!("bad port {p:?}"))))
            .collect()
    }

    fn network_get(&mut self, binding: &str, relation: Option<RelationId>) -> Result<Value, BackendError> {
        let rel = relation.map(|r| self.rel_ref(r));
        let mut args = vec!["--format=json"];
        if let Some(r) = &rel {
            args.extend(["-r", r.as_str()]);
        }
        args.push(binding);
        match self.run_json("network-get", &args)? {
            v @ Value::Object(_) => Ok(v),
            _ => Err(output_err("network-get", "expected a JSON object")),
        }
    }

    fn storage_list(&mut self, name: &str) -> Result<Vec<StorageId>, BackendError> {
        let v = self.run_json("storage-list", &["--format=json", name])?;
        string_list("storage-list", v)?
            .iter()
            .map(|s| StorageId::parse(s).map_err(|e| output_err("storage-list", e)))
            .collect()
    }

    fn storage_get(&mut self, id: &StorageId) -> Result<StorageInfo, BackendError> {
        let id = id.to_string();
        let v = self.run_json("storage-get", &["--format=json", "-s", &id])?;
        serde_json::from_value(v).map_err(|e| output_err("storage-get", e.to_string()))
    }

    fn storage_add(&mut self, name: &str, count: u32) -> Result<(), BackendError> {
        let arg = format!("{name}={count}");
        self.run("storage-add", &[&arg], None).map(drop)
    }

    fn reboot(&mut self, now: bool) -> Result<(), BackendError> {
        let args: &[&str] = if now { &["--now"] } else { &[] };
        self.run("juju-reboot", args, None).map(drop)
    }

    fn now(&mut self) -> SystemTime {
        SystemTime::now()
    }

    fn hostname(&mut self) -> Result<String, BackendError> {
        let h = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map_err(|e| BackendError::Storage(format!("cannot read the hostname: {e}")))?;
        Ok(h.trim().to_owned())
    }

    fn run_command(&mut self, command: &WorkloadCommand) -> Result<CommandOutput, BackendError> {
        run_with_timeout(command)
    }

    fn schedule_event(&mut self, name: &str, delay: Duration) -> Result<(), BackendError> {
        let unit = self
            .unit
            .as_ref()
            .ok_or(BackendError::Unsupported("schedule_event without JUJU_UNIT_NAME"))?
            .to_string();
        let secs = format!("{:.3}", delay.as_secs_f64());
        let script = r#"sleep "$1"; exec juju-exec -u "$2" "JUJU_DISPATCH_PATH=hooks/$3 ./dispatch""#;
        Command::new("sh")
            .args(["-c", script, "ensemble-schedule", &secs, &unit, name])
            .current_dir(&self.charm_dir)
            .env_remove("JUJU_CONTEXT_ID")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(drop)
            .map_err(|source| BackendError::Spawn {
                tool: "sh (schedule_event)".into(),
                source,
            })
    }

    fn load_stored_state(&mut self) -> Result<Option<String>, BackendError> {
        match self.storage.clone() {
            StoredStateLocation::File(path) => match std::fs::read_to_string(&path) {
                Ok(s) => Ok(Some(s)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(BackendError::Storage(format!(
                    "cannot read {}: {e}",
                    path.display()
                ))),
            },
            StoredStateLocation::Controller(key) => Ok(self.state_get()?.remove(&key)),
        }
    }

    fn save_stored_state(&mut self, document: &str) -> Result<(), BackendError> {
        match self.storage.clone() {
            StoredStateLocation::File(path) => atomic_write_private(&path, document.as_bytes())
                .map_err(|e| BackendError::Storage(format!("cannot write {}: {e}", path.display()))),
            StoredStateLocation::Controller(key) => {
                if document.len() > MAX_CONTROLLER_STATE_VALUE {
                    return Err(BackendError::Storage(format!(
                        "stored state is {} bytes; Juju's controller storage takes at most {MAX_CONTROLLER_STATE_VALUE}",
                        document.len()
                    )));
                }
                self.state_set(&BTreeMap::from([(key, document.to_owned())]))
            }
        }
    }
}

/// Writes `data` to `path` through a temporary file and a rename, with mode 0600, so a crash
/// leaves either the old content or the new.
pub fn atomic_write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    atomic_write_mode(path, data, 0o600)
}

/// Writes `data` to `path` through a temporary file and a rename, with permission bits `mode`
/// (the process umask does not apply), so a crash leaves either the old content or the new.
pub fn atomic_write_mode(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let tmp = path.with_extension("tmp");
    // A stale temporary file (or a symlink) would keep its own mode: start afresh.
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)?;
    f.set_permissions(std::fs::Permissions::from_mode(mode))?;
    f.write_all(data)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)
}

/// The most bytes [`run_with_timeout`] reads from a workload command's standard output, and
/// again from its standard error. A command that writes more fails with
/// [`BackendError::Workload`] (its process group is killed at once): a truncated output could
/// parse as a shorter, valid answer, so it is never returned.
pub const MAX_COMMAND_OUTPUT: usize = 4 * 1024 * 1024;

/// How long [`run_with_timeout`] waits, once the command has exited, for processes it left
/// behind to close its output (at most the rest of its timeout); then it kills its process group.
const PIPE_GRACE: Duration = Duration::from_secs(5);

/// How long the output readers get to see the end of the output once the group is killed;
/// a process that left the group and still holds the output is then abandoned to its reader.
const DRAIN_GRACE: Duration = Duration::from_secs(1);

/// One output stream of a command, read by its own thread into a bounded buffer.
struct Capture {
    buf: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    /// 0 while reading, 1 at the end of the output, 2 when the output went over the bound.
    state: std::sync::Arc<std::sync::atomic::AtomicU8>,
}

const READING: u8 = 0;
const ENDED: u8 = 1;
const OVERFLOWED: u8 = 2;

impl Capture {
    fn spawn<R: Read + Send + 'static>(pipe: Option<R>, limit: usize) -> Self {
        use std::sync::atomic::{AtomicU8, Ordering};
        use std::sync::{Arc, Mutex};
        let buf = Arc::new(Mutex::new(Vec::new()));
        let state = Arc::new(AtomicU8::new(READING));
        let Some(mut pipe) = pipe else {
            state.store(ENDED, Ordering::SeqCst);
            return Self { buf, state };
        };
        let (b, st) = (Arc::clone(&buf), Arc::clone(&state));
        let spawned = std::thread::Builder::new()
            .name("workload-output".into())
            .spawn(move || {
                let mut chunk = [0u8; 8192];
                let end = loop {
                    match pipe.read(&mut chunk) {
                        Ok(0) => break ENDED,
                        Ok(n) => {
                            let mut v = b.lock().unwrap_or_else(|p| p.into_inner());
                            if v.len().saturating_add(n) > limit {
                                // Stop reading: the pipe closes and the writer gets EPIPE.
                                break OVERFLOWED;
                            }
                            v.extend_from_slice(&chunk[..n]);
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(_) => break ENDED,
                    }
                };
                st.store(end, Ordering::SeqCst);
            });
        if spawned.is_err() {
            // The pipe was moved into the closure that failed to start: it is closed, so the
            // command sees EPIPE; report the stream as ended with what was read (nothing).
            state.store(ENDED, Ordering::SeqCst);
        }
        Self { buf, state }
    }

    fn state(&self) -> u8 {
        self.state.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.buf.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Runs a workload command, killing it when its timeout passes.
///
/// - The command runs in its own process group; on timeout, the whole group is killed (what the
///   command started too), and the result has no exit code (`code: None`).
/// - At most [`MAX_COMMAND_OUTPUT`] bytes are read from each of standard output and standard
///   error; a command that writes more fails with [`BackendError::Workload`] and its group is
///   killed.
/// - A process the command left behind that keeps its output open does not hold this call past
///   the timeout: once the command has exited, such processes get at most 5 s (and never more
///   than the rest of the timeout) to close it, then the group is killed and the command's own
///   exit status is returned with the output read so far.
/// - The group is only ever signalled while its leader (the command) is unreaped, so its id
///   cannot belong to another process group.
pub fn run_with_timeout(command: &WorkloadCommand) -> Result<CommandOutput, BackendError> {
    use std::os::unix::process::CommandExt;
    let fail = |reason: String| BackendError::Workload {
        command: command.to_string(),
        reason,
    };
    let mut child = Command::new(&command.program)
        .args(&command.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    let pgid = child.id();
    let out = Capture::spawn(child.stdout.take(), MAX_COMMAND_OUTPUT);
    let err = Capture::spawn(child.stderr.take(), MAX_COMMAND_OUTPUT);
    let start = Instant::now();
    // A timeout too large to add to the clock is no timeout.
    let deadline = command.timeout.and_then(|t| start.checked_add(t));
    let mut exited_at: Option<Instant> = None;
    let mut timed_out = false;
    let mut overflow: Option<&str> = None;
    let mut killed = false;
    loop {
        if out.state() == OVERFLOWED {
            overflow = Some("standard output");
        } else if err.state() == OVERFLOWED {
            overflow = Some("standard error");
        }
        if overflow.is_some() {
            crate::sys::kill_group(pgid);
            killed = true;
            break;
        }
        let now = Instant::now();
        if exited_at.is_none() {
            match crate::sys::has_exited(pgid) {
                Ok(true) => exited_at = Some(now),
                Ok(false) => {}
                Err(e) => {
                    // Only when the child cannot be waited for (SIGCHLD ignored, so the kernel
                    // reaped it): its id may be anyone's now, so its group is not signalled.
                    return Err(fail(format!("cannot wait for it: {e}")));
                }
            }
        }
        if let Some(at) = exited_at {
            if out.state() != READING && err.state() != READING {
                break;
            }
            // The command is gone but something it started holds its output.
            let grace_over = now.duration_since(at) >= PIPE_GRACE;
            if grace_over || deadline.is_some_and(|d| now >= d) {
                crate::sys::kill_group(pgid);
                killed = true;
                break;
            }
        } else if deadline.is_some_and(|d| now >= d) {
            crate::sys::kill_group(pgid);
            killed = true;
            timed_out = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    if killed {
        // Let the readers see the end of the output; a process outside the group may still
        // hold it, and is left to its reader thread (whose buffer is bounded).
        let drain_until = Instant::now() + DRAIN_GRACE;
        while (out.state() == READING || err.state() == READING) && Instant::now() < drain_until {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    // Reaped only now: until here the group's id could not be reused.
    let status = child
        .wait()
        .map_err(|e| fail(format!("cannot wait for it: {e}")))?;
    if let Some(stream) = overflow {
        return Err(fail(format!(
            "its {stream} is longer than {MAX_COMMAND_OUTPUT} bytes"
        )));
    }
    Ok(CommandOutput {
        code: if timed_out { None } else { status.code() },
        stdout: String::from_utf8_lossy(&out.take()).into_owned(),
        stderr: String::from_utf8_lossy(&err.take()).into_owned(),
    })
}

fn write_new_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(data)
}
