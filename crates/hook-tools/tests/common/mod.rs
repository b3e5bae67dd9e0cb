//! Shared test fixtures: a backend that records every call, a model to test against, and a test
//! agent that serves the real `hook-tools` binary over a Unix socket with an in-memory backend.

#![allow(dead_code)]

use charm::testing::{Memory, RelationState, SecretState, State};
use charm::*;
use hook_tools::{handle_connection, parse, run_tool, ExecRequest, HookContextInfo, Response, WireRequest};
use std::collections::BTreeMap;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

pub const CONTEXT: &str = "app-0-hook-7";

pub const META: &str = r#"
name: app
peers:
  cluster: {interface: app-peers}
requires:
  db: {interface: pg}
provides:
  website: {interface: http}
config:
  options:
    name: {type: string, default: "app"}
    port: {type: int, default: 8080}
    ratio: {type: float, default: 0.5}
    debug: {type: boolean, default: false}
    token: {type: string}
"#;

pub fn meta() -> Metadata {
    Metadata::from_charmcraft_yaml(META).expect("metadata")
}

pub fn unit(s: &str) -> UnitName {
    UnitName::parse(s).expect("unit name")
}

pub fn app(s: &str) -> AppName {
    AppName::parse(s).expect("app name")
}

pub fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

pub fn bag(pairs: &[(&str, &str)]) -> Databag {
    charm::testing::bag(pairs)
}

/// A model with something in every corner: two relations (one peer), data in every bag,
/// leader settings, controller state, a secret, action parameters, ports and a network.
pub fn state(leader: bool) -> State {
    State {
        leader,
        config: BTreeMap::from([
            ("name".to_owned(), ConfigValue::String("web".into())),
            ("ratio".to_owned(), ConfigValue::Float(0.25)),
        ]),
        relations: vec![
            RelationState::new(3, "db", "pg")
                .with_unit("pg/0", &[("host", "10.0.0.9"), ("port", "5432")])
                .with_unit("pg/1", &[("host", "10.0.0.10")])
                .with_remote_app_data(&[("database", "appdb"), ("password", "s3cret")])
                .with_local_unit_data(&[("ingress-address", "10.0.0.1")])
                .with_local_app_data(&[("schema", "v1")]),
            RelationState::new(1, "cluster", "app")
                .with_unit("app/1", &[("id", "one")])
                .with_local_app_data(&[("seed", "xyz")]),
        ],
        leader_settings: bag(&[("mode", "ha"), ("leader-ip", "10.0.0.1")]),
        controller_state: BTreeMap::from([("k1".to_owned(), "v1".to_owned())]),
        unit_status: Status::active("serving"),
        app_status: Status::waiting("for peers"),
        secrets: vec![SecretState {
            id: "secret:cq0a1b2c3d4e5f6g7h8i".into(),
            label: Some("db-creds".into()),
            owner: SecretOwner::Application,
            revisions: vec![
                SecretContent(BTreeMap::from([("password".to_owned(), "one".to_owned())])),
                SecretContent(BTreeMap::from([("password".to_owned(), "two".to_owned())])),
            ],
            tracked: 1,
            description: Some("the database".into()),
            expire: None,
            rotate: Some("daily".into()),
            grants: vec![],
        }],
        action_params: serde_json::json!({"target": "s3", "opts": {"level": 3, "fast": true}})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        opened_ports: vec![Port::parse("80/tcp").expect("port")],
        now: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        ..State::default()
    }
}

/// A backend call that succeeded, with its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call(pub String);

/// A backend that hands each call on and records those that succeed.
pub struct Recorder<B> {
    pub inner: B,
    pub calls: Vec<Call>,
}

impl<B> Recorder<B> {
    pub fn new(inner: B) -> Self {
        Self {
            inner,
            calls: Vec::new(),
        }
    }
    /// Records a call that succeeded (a refused call changes nothing).
    fn rec<T, E>(&mut self, s: String, r: Result<T, E>) -> Result<T, E> {
        if r.is_ok() {
            self.calls.push(Call(s));
        }
        r
    }
}

impl<B: Backend> Backend for Recorder<B> {
    fn relation_ids(&mut self, endpoint: &str) -> Result<Vec<RelationId>, BackendError> {
        let r = self.inner.relation_ids(endpoint);
        self.rec(format!("relation_ids({endpoint})"), r)
    }
    fn relation_list(&mut self, id: RelationId) -> Result<Vec<UnitName>, BackendError> {
        let r = self.inner.relation_list(id);
        self.rec(format!("relation_list({id})"), r)
    }
    fn relation_remote_app(&mut self, id: RelationId) -> Result<Option<AppName>, BackendError> {
        let r = self.inner.relation_remote_app(id);
        self.rec(format!("relation_remote_app({id})"), r)
    }
    fn relation_get(&mut self, id: RelationId, owner: &BagOwner) -> Result<Databag, BackendError> {
        let r = self.inner.relation_get(id, owner);
        self.rec(format!("relation_get({id}, {owner})"), r)
    }
    fn relation_set(
        &mut self,
        id: RelationId,
        scope: BagScope,
        changes: &Databag,
    ) -> Result<(), BackendError> {
        let r = self.inner.relation_set(id, scope, changes);
        self.rec(format!("relation_set({id}, {scope:?}, {changes:?})"), r)
    }
    fn is_leader(&mut self) -> Result<bool, BackendError> {
        let r = self.inner.is_leader();
        self.rec("is_leader".into(), r)
    }
    fn config_get(&mut self) -> Result<BTreeMap<String, ConfigValue>, BackendError> {
        let r = self.inner.config_get();
        self.rec("config_get".into(), r)
    }
    fn status_set(&mut self, target: StatusTarget, status: &Status) -> Result<(), BackendError> {
        let r = self.inner.status_set(target, status);
        self.rec(format!("status_set({target:?}, {status:?})"), r)
    }
    fn status_get(&mut self, target: StatusTarget) -> Result<Status, BackendError> {
        let r = self.inner.status_get(target);
        self.rec(format!("status_get({target:?})"), r)
    }
    fn juju_log(&mut self, level: LogLevel, message: &str) -> Result<(), BackendError> {
        let r = self.inner.juju_log(level, message);
        self.rec(format!("juju_log({level:?}, {message:?})"), r)
    }
    fn leader_get(&mut self) -> Result<Databag, BackendError> {
        let r = self.inner.leader_get();
        self.rec("leader_get".into(), r)
    }
    fn leader_set(&mut self, changes: &Databag) -> Result<(), BackendError> {
        let r = self.inner.leader_set(changes);
        self.rec(format!("leader_set({changes:?})"), r)
    }
    fn state_get(&mut self) -> Result<BTreeMap<String, String>, BackendError> {
        let r = self.inner.state_get();
        self.rec("state_get".into(), r)
    }
    fn state_set(&mut self, changes: &BTreeMap<String, String>) -> Result<(), BackendError> {
        let r = self.inner.state_set(changes);
        self.rec(format!("state_set({changes:?})"), r)
    }
    fn state_delete(&mut self, key: &str) -> Result<(), BackendError> {
        let r = self.inner.state_delete(key);
        self.rec(format!("state_delete({key})"), r)
    }
    fn secret_add(
        &mut self,
        content: &SecretContent,
        options: &SecretOptions,
    ) -> Result<String, BackendError> {
        let r = self.inner.secret_add(content, options);
        self.rec(format!("secret_add({:?}, {options:?})", content.0), r)
    }
    fn secret_get(&mut self, secret: &SecretRef, read: SecretRead) -> Result<SecretContent, BackendError> {
        let r = self.inner.secret_get(secret, read);
        self.rec(format!("secret_get({secret:?}, {read:?})"), r)
    }
    fn secret_set(
        &mut self,
        id: &str,
        content: Option<&SecretContent>,
        options: &SecretOptions,
    ) -> Result<(), BackendError> {
        let r = self.inner.secret_set(id, content, options);
        self.rec(
            format!("secret_set({id}, {:?}, {options:?})", content.map(|c| &c.0)),
            r,
        )
    }
    fn secret_grant(
        &mut self,
        id: &str,
        relation: RelationId,
        unit: Option<&UnitName>,
    ) -> Result<(), BackendError> {
        let r = self.inner.secret_grant(id, relation, unit);
        self.rec(format!("secret_grant({id}, {relation}, {unit:?})"), r)
    }
    fn secret_revoke(
        &mut self,
        id: &str,
        relation: RelationId,
        target: &RevokeTarget,
    ) -> Result<(), BackendError> {
        let r = self.inner.secret_revoke(id, relation, target);
        self.rec(format!("secret_revoke({id}, {relation}, {target:?})"), r)
    }
    fn secret_remove(&mut self, id: &str, revision: Option<u64>) -> Result<(), BackendError> {
        let r = self.inner.secret_remove(id, revision);
        self.rec(format!("secret_remove({id}, {revision:?})"), r)
    }
    fn secret_info_get(&mut self, secret: &SecretRef) -> Result<SecretInfo, BackendError> {
        let r = self.inner.secret_info_get(secret);
        self.rec(format!("secret_info_get({secret:?})"), r)
    }
    fn secret_ids(&mut self) -> Result<Vec<String>, BackendError> {
        let r = self.inner.secret_ids();
        self.rec("secret_ids".into(), r)
    }
    fn application_version_set(&mut self, version: &str) -> Result<(), BackendError> {
        let r = self.inner.application_version_set(version);
        self.rec(format!("application_version_set({version:?})"), r)
    }
    fn action_get(&mut self) -> Result<serde_json::Map<String, serde_json::Value>, BackendError> {
        let r = self.inner.action_get();
        self.rec("action_get".into(), r)
    }
    fn action_set(&mut self, results: &BTreeMap<String, String>) -> Result<(), BackendError> {
        let r = self.inner.action_set(results);
        self.rec(format!("action_set({results:?})"), r)
    }
    fn action_fail(&mut self, message: &str) -> Result<(), BackendError> {
        let r = self.inner.action_fail(message);
        self.rec(format!("action_fail({message:?})"), r)
    }
    fn action_log(&mut self, message: &str) -> Result<(), BackendError> {
        let r = self.inner.action_log(message);
        self.rec(format!("action_log({message:?})"), r)
    }
    fn goal_state(&mut self) -> Result<GoalState, BackendError> {
        let r = self.inner.goal_state();
        self.rec("goal_state".into(), r)
    }
    fn open_port(&mut self, port: &Port, endpoints: &[String]) -> Result<(), BackendError> {
        let r = self.inner.open_port(port, endpoints);
        self.rec(format!("open_port({port}, {endpoints:?})"), r)
    }
    fn close_port(&mut self, port: &Port, endpoints: &[String]) -> Result<(), BackendError> {
        let r = self.inner.close_port(port, endpoints);
        self.rec(format!("close_port({port}, {endpoints:?})"), r)
    }
    fn opened_ports(&mut self) -> Result<Vec<Port>, BackendError> {
        let r = self.inner.opened_ports();
        self.rec("opened_ports".into(), r)
    }
    fn network_get(
        &mut self,
        binding: &str,
        relation: Option<RelationId>,
    ) -> Result<serde_json::Value, BackendError> {
        let r = self.inner.network_get(binding, relation);
        self.rec(format!("network_get({binding}, {relation:?})"), r)
    }
    fn reboot(&mut self, now: bool) -> Result<(), BackendError> {
        let r = self.inner.reboot(now);
        self.rec(format!("reboot({now})"), r)
    }
    fn now(&mut self) -> SystemTime {
        self.inner.now()
    }
    fn hostname(&mut self) -> Result<String, BackendError> {
        self.inner.hostname()
    }
    fn run_command(&mut self, command: &WorkloadCommand) -> Result<CommandOutput, BackendError> {
        self.inner.run_command(command)
    }
    fn schedule_event(&mut self, name: &str, delay: Duration) -> Result<(), BackendError> {
        self.inner.schedule_event(name, delay)
    }
    fn load_stored_state(&mut self) -> Result<Option<String>, BackendError> {
        self.inner.load_stored_state()
    }
    fn save_stored_state(&mut self, document: &str) -> Result<(), BackendError> {
        self.inner.save_stored_state(document)
    }
}

/// What a test agent saw and left.
pub struct Served {
    /// The model with every change of the "hook" (the in-memory transaction).
    pub state: State,
    /// The backend calls the tools made.
    pub calls: Vec<Call>,
    /// Every request the clients sent.
    pub requests: Vec<WireRequest>,
    /// Every reply sent.
    pub replies: Vec<Response>,
    /// The `juju-exec` requests received.
    pub execs: Vec<ExecRequest>,
}

/// A test agent: a Unix socket in a temporary directory, served by a thread that runs each
/// call against an in-memory backend, and a directory of tool symlinks to the real binary.
pub struct Agent {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub tools: PathBuf,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Served>>,
}

impl Agent {
    pub fn start(state: State, hook: HookContextInfo) -> Agent {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("agent.socket");
        let tools = dir.path().join("bin");
        hook_tools::install_symlinks(Path::new(env!("CARGO_BIN_EXE_hook-tools")), &tools).expect("symlinks");
        let listener = UnixListener::bind(&socket).expect("bind");
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let handle = std::thread::spawn(move || serve(listener, state, hook, &stop2));
        Agent {
            dir,
            socket,
            tools,
            stop,
            handle: Some(handle),
        }
    }

    /// A command running `tool` through its symlink, pointed at this agent.
    pub fn command(&self, tool: &str) -> Command {
        let mut c = Command::new(self.tools.join(tool));
        c.env("JUJU_AGENT_SOCKET_ADDRESS", &self.socket)
            .env("JUJU_CONTEXT_ID", CONTEXT)
            .env_remove("JUJU_AGENT_SOCKET_NETWORK")
            .current_dir(self.dir.path());
        c
    }

    /// Stops the agent and returns what it saw.
    pub fn finish(mut self) -> Served {
        self.stop.store(true, Ordering::SeqCst);
        let _ = UnixStream::connect(&self.socket);
        self.handle
            .take()
            .expect("running")
            .join()
            .expect("agent thread panicked")
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            self.stop.store(true, Ordering::SeqCst);
            let _ = UnixStream::connect(&self.socket);
            let _ = h.join();
        }
    }
}

fn serve(listener: UnixListener, state: State, hook: HookContextInfo, stop: &AtomicBool) -> Served {
    let meta = meta();
    let mut backend = Recorder::new(Memory::new(state, &meta, hook.unit.clone(), None));
    let mut requests = Vec::new();
    let mut replies = Vec::new();
    let mut execs = Vec::new();
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(mut stream) = stream else { continue };
        let _ = handle_connection(&mut stream, |req| {
            requests.push(req.clone());
            let reply = if req.tool == "juju-exec" {
                match parse(&req.tool, &req.args, None, &req.files) {
                    Ok(hook_tools::Request::Exec(e)) => {
                        execs.push(e);
                        Response::ok("")
                    }
                    Ok(_) => Response::error(1, "not an exec"),
                    Err(e) => e.to_response(),
                }
            } else if req.context_id.as_deref() != Some(CONTEXT) {
                Response::error(1, format!("bad context id {:?}", req.context_id))
            } else {
                run_tool(&req, &mut backend, &hook)
            };
            replies.push(reply.clone());
            reply
        });
    }
    Served {
        state: backend.inner.txn.clone(),
        calls: backend.calls,
        requests,
        replies,
        execs,
    }
}
