//! Juju's environment for one hook and the typed event it describes.

use crate::names::{AppName, RelationId, UnitName};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Why the environment does not describe a hook this crate can run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DispatchError {
    /// A variable Juju always sets is missing.
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    /// A variable holds a value that does not parse.
    #[error("environment variable {var} is malformed: {reason}")]
    Malformed {
        /// The variable's name.
        var: &'static str,
        /// What is wrong with it (never its value when it could be secret).
        reason: String,
    },
    /// The dispatch path names no hook, action or event.
    #[error("cannot tell the hook from dispatch path {0:?}: expected hooks/<name> or actions/<name>")]
    BadDispatchPath(String),
    /// The hook name is neither a Juju hook nor a custom event that the charm registered.
    #[error("unknown hook {0:?}: not a Juju hook and not a custom event this charm registered")]
    UnknownHook(String),
    /// A relation hook's name does not match `JUJU_RELATION`.
    #[error("hook {hook:?} is for endpoint {hook_endpoint:?} but JUJU_RELATION is {env_endpoint:?}")]
    EndpointMismatch {
        /// The hook's name.
        hook: String,
        /// The endpoint its name implies.
        hook_endpoint: String,
        /// The endpoint in `JUJU_RELATION`.
        env_endpoint: String,
    },
}

fn malformed(var: &'static str, e: impl std::fmt::Display) -> DispatchError {
    DispatchError::Malformed {
        var,
        reason: e.to_string(),
    }
}

/// What Juju tells a hook through its environment.
///
/// Built from any list of variables, so tests never touch the process environment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JujuEnv {
    /// `JUJU_DISPATCH_PATH` (or `argv[0]` for a charm without dispatch): `hooks/install`, `actions/backup`.
    pub dispatch_path: String,
    /// `JUJU_UNIT_NAME`; the application is derived from it.
    pub unit: Option<UnitName>,
    /// `JUJU_MODEL_NAME`.
    pub model_name: String,
    /// `JUJU_MODEL_UUID`.
    pub model_uuid: String,
    /// `JUJU_VERSION`, such as `3.6.4`.
    pub juju_version: JujuVersion,
    /// `JUJU_CHARM_DIR`.
    pub charm_dir: PathBuf,
    /// `JUJU_RELATION`: the endpoint of a relation hook.
    pub relation: Option<String>,
    /// `JUJU_RELATION_ID`, from `db:3` or `3`.
    pub relation_id: Option<RelationId>,
    /// `JUJU_REMOTE_UNIT`; empty in an application-bag relation-changed.
    pub remote_unit: Option<UnitName>,
    /// `JUJU_REMOTE_APP`.
    pub remote_app: Option<AppName>,
    /// `JUJU_DEPARTING_UNIT`.
    pub departing_unit: Option<UnitName>,
    /// `JUJU_ACTION_NAME`.
    pub action_name: Option<String>,
    /// `JUJU_ACTION_UUID`.
    pub action_uuid: Option<String>,
    /// `JUJU_SECRET_ID`.
    pub secret_id: Option<String>,
    /// `JUJU_SECRET_LABEL`.
    pub secret_label: Option<String>,
    /// `JUJU_SECRET_REVISION`.
    pub secret_revision: Option<u64>,
    /// `JUJU_CONTEXT_ID`, which the hook tools use to reach the agent.
    pub context_id: Option<String>,
    /// `JUJU_STORAGE_ID` (`data/0`), in storage hooks.
    pub storage_id: Option<String>,
    /// `JUJU_WORKLOAD_NAME`: the container of a Pebble hook.
    pub workload_name: Option<String>,
    /// `JUJU_NOTICE_ID`, in `<container>-pebble-custom-notice`.
    pub notice_id: Option<String>,
    /// `JUJU_NOTICE_TYPE`.
    pub notice_type: Option<String>,
    /// `JUJU_NOTICE_KEY`.
    pub notice_key: Option<String>,
    /// `JUJU_PEBBLE_CHECK_NAME`, in `<container>-pebble-check-failed` and `-recovered`.
    pub pebble_check_name: Option<String>,
}

/// A Juju version, as in `JUJU_VERSION`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct JujuVersion {
    /// Major version: 3 for Juju 3.6.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Patch version.
    pub patch: u32,
}

impl JujuVersion {
    /// Parses `3.6.4`, `3.6-beta1` or `4.0.0.1`; missing parts are zero.
    ///
    /// ```
    /// use charm::JujuVersion;
    /// let v = JujuVersion::parse("3.6.4").unwrap();
    /// assert!(v.has_leader_settings());
    /// assert!(!JujuVersion::parse("4.0.1").unwrap().has_leader_settings());
    /// ```
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut parts = s.split(['.', '-']);
        let mut num = |required: bool| -> Result<u32, String> {
            match parts.next() {
                Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                    p.parse().map_err(|_| format!("{s:?} is not a Juju version"))
                }
                None if !required => Ok(0),
                Some(_) if !required => Ok(0),
                _ => Err(format!("{s:?} is not a Juju version")),
            }
        };
        Ok(Self {
            major: num(true)?,
            minor: num(false)?,
            patch: num(false)?,
        })
    }

    /// Whether this Juju has `leader-get` / `leader-set` (removed in Juju 4).
    pub fn has_leader_settings(&self) -> bool {
        self.major < 4
    }
}

impl std::fmt::Display for JujuVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl JujuEnv {
    /// Reads the process environment; `argv0` stands in for a missing `JUJU_DISPATCH_PATH`.
    pub fn from_process() -> Result<Self, DispatchError> {
        let argv0 = std::env::args().next().unwrap_or_default();
        let vars: BTreeMap<String, String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        Self::from_vars(&vars, &argv0)
    }

    /// Reads the given variables; `argv0` stands in for a missing `JUJU_DISPATCH_PATH`.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use charm::JujuEnv;
    /// let vars = BTreeMap::from([
    ///     ("JUJU_DISPATCH_PATH".to_string(), "hooks/install".to_string()),
    ///     ("JUJU_UNIT_NAME".to_string(), "demo/0".to_string()),
    /// ]);
    /// let env = JujuEnv::from_vars(&vars, "./dispatch").unwrap();
    /// assert_eq!(env.unit.unwrap().as_str(), "demo/0");
    /// ```
    pub fn from_vars(vars: &BTreeMap<String, String>, argv0: &str) -> Result<Self, DispatchError> {
        let get = |k: &str| vars.get(k).map(String::as_str).filter(|v| !v.is_empty());
        let dispatch_path = match get("JUJU_DISPATCH_PATH") {
            Some(p) => p.to_owned(),
            None => dispatch_path_from_argv0(argv0)?,
        };
        let unit = get("JUJU_UNIT_NAME")
            .ok_or(DispatchError::Missing("JUJU_UNIT_NAME"))
            .and_then(|u| UnitName::parse(u).map_err(|e| malformed("JUJU_UNIT_NAME", e)))?;
        let unit_opt = |var: &'static str| -> Result<Option<UnitName>, DispatchError> {
            get(var)
                .map(|u| UnitName::parse(u).map_err(|e| malformed(var, e)))
                .transpose()
        };
        let juju_version = match get("JUJU_VERSION") {
            Some(v) => JujuVersion::parse(v).map_err(|e| malformed("JUJU_VERSION", e))?,
            None => JujuVersion::default(),
        };
        let remote_unit = unit_opt("JUJU_REMOTE_UNIT")?;
        let remote_app = match get("JUJU_REMOTE_APP") {
            Some(a) => Some(AppName::parse(a).map_err(|e| malformed("JUJU_REMOTE_APP", e))?),
            None => remote_unit.as_ref().map(UnitName::app),
        };
        Ok(Self {
            dispatch_path,
            unit: Some(unit),
            model_name: get("JUJU_MODEL_NAME").unwrap_or_default().to_owned(),
            model_uuid: get("JUJU_MODEL_UUID").unwrap_or_default().to_owned(),
            juju_version,
            charm_dir: PathBuf::from(get("JUJU_CHARM_DIR").unwrap_or(".")),
            relation: get("JUJU_RELATION").map(str::to_owned),
            relation_id: get("JUJU_RELATION_ID")
                .map(|r| RelationId::parse(r).map_err(|e| malformed("JUJU_RELATION_ID", e)))
                .transpose()?,
            remote_unit,
            remote_app,
            departing_unit: unit_opt("JUJU_DEPARTING_UNIT")?,
            action_name: get("JUJU_ACTION_NAME").map(str::to_owned),
            action_uuid: get("JUJU_ACTION_UUID").map(str::to_owned),
            secret_id: get("JUJU_SECRET_ID").map(str::to_owned),
            secret_label: get("JUJU_SECRET_LABEL").map(str::to_owned),
            secret_revision: get("JUJU_SECRET_REVISION")
                .map(|r| r.parse().map_err(|e| malformed("JUJU_SECRET_REVISION", e)))
                .transpose()?,
            context_id: get("JUJU_CONTEXT_ID").map(str::to_owned),
            storage_id: get("JUJU_STORAGE_ID").map(str::to_owned),
            workload_name: get("JUJU_WORKLOAD_NAME").map(str::to_owned),
            notice_id: get("JUJU_NOTICE_ID").map(str::to_owned),
            notice_type: get("JUJU_NOTICE_TYPE").map(str::to_owned),
            notice_key: get("JUJU_NOTICE_KEY").map(str::to_owned),
            pebble_check_name: get("JUJU_PEBBLE_CHECK_NAME").map(str::to_owned),
        })
    }

    /// This unit's name (always present in an environment built by [`JujuEnv::from_vars`]).
    pub fn unit_name(&self) -> Result<&UnitName, DispatchError> {
        self.unit.as_ref().ok_or(DispatchError::Missing("JUJU_UNIT_NAME"))
    }

    /// The hook or action name that the dispatch path names: `install`, `db-relation-changed`.
    pub fn hook_name(&self) -> Result<HookName<'_>, DispatchError> {
        let p = self.dispatch_path.trim_start_matches("./");
        let bad = || DispatchError::BadDispatchPath(self.dispatch_path.clone());
        let (dir, name) = p.rsplit_once('/').ok_or_else(bad)?;
        let dir = dir.rsplit('/').next().unwrap_or(dir);
        if name.is_empty() {
            return Err(bad());
        }
        match dir {
            "hooks" => Ok(HookName::Hook(name)),
            "actions" => Ok(HookName::Action(name)),
            _ => Err(bad()),
        }
    }
}

fn dispatch_path_from_argv0(argv0: &str) -> Result<String, DispatchError> {
    let mut parts = argv0.rsplit('/');
    match (parts.next(), parts.next()) {
        (Some(name), Some(dir @ ("hooks" | "actions"))) if !name.is_empty() => Ok(format!("{dir}/{name}")),
        _ => Err(DispatchError::Missing("JUJU_DISPATCH_PATH")),
    }
}

/// What the dispatch path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookName<'a> {
    /// `hooks/<name>`.
    Hook(&'a str),
    /// `actions/<name>`.
    Action(&'a str),
}

/// The relation an event concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelationEvent {
    /// The endpoint (`JUJU_RELATION`).
    pub endpoint: String,
    /// The relation (`JUJU_RELATION_ID`).
    pub relation_id: RelationId,
    /// The remote application (`JUJU_REMOTE_APP`).
    pub remote_app: Option<AppName>,
    /// The remote unit (`JUJU_REMOTE_UNIT`); `None` when an application bag changed.
    pub remote_unit: Option<UnitName>,
    /// The unit leaving the relation (`JUJU_DEPARTING_UNIT`), in relation-departed.
    pub departing_unit: Option<UnitName>,
}

/// The secret an event concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretEvent {
    /// `JUJU_SECRET_ID`, such as `secret:cq9...`.
    pub id: String,
    /// `JUJU_SECRET_LABEL`.
    pub label: Option<String>,
    /// `JUJU_SECRET_REVISION` (secret-remove and secret-expired).
    pub revision: Option<u64>,
}

/// The storage instance a storage hook concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageEvent {
    /// The storage's name, as in the charm's `storage` metadata (`data`).
    pub name: String,
    /// The instance's index (`JUJU_STORAGE_ID` `data/3` gives 3); `None` when Juju did not say.
    pub index: Option<u32>,
}

impl StorageEvent {
    /// The instance's id, `data/3`, as the storage hook tools take it.
    pub fn id(&self) -> Option<crate::model::StorageId> {
        self.index.map(|index| crate::model::StorageId {
            name: self.name.clone(),
            index,
        })
    }
}

/// A Pebble notice (`JUJU_NOTICE_*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PebbleNotice {
    /// `JUJU_NOTICE_ID`.
    pub id: String,
    /// `JUJU_NOTICE_TYPE` (`custom`).
    pub kind: String,
    /// `JUJU_NOTICE_KEY` (`example.com/a`).
    pub key: String,
}

/// The container a workload (Pebble) hook concerns. ensemble has no Pebble client: these
/// events exist so that a charm with containers can observe them, and so that they never put a
/// unit in error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadEvent {
    /// The container's name (`JUJU_WORKLOAD_NAME`, or the hook name's prefix).
    pub container: String,
    /// The notice, in `<container>-pebble-custom-notice`.
    pub notice: Option<PebbleNotice>,
    /// The check, in `<container>-pebble-check-failed` and `-recovered`.
    pub check: Option<String>,
}

/// An action invocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionEvent {
    /// The action's name, as in actions.yaml.
    pub name: String,
    /// `JUJU_ACTION_UUID`.
    pub id: Option<String>,
}

/// One event, as Juju (or the charm itself, for custom events) dispatches it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Event {
    /// `install`: the first hook a unit runs.
    Install,
    /// `start`: after the first config-changed.
    Start,
    /// `stop`: the unit is going away.
    Stop,
    /// `remove`: the last hook.
    Remove,
    /// `config-changed`.
    ConfigChanged,
    /// `update-status`: periodic, every 5 minutes by default.
    UpdateStatus,
    /// `upgrade-charm`: after a refresh.
    UpgradeCharm,
    /// `leader-elected`: this unit became leader.
    LeaderElected,
    /// `leader-settings-changed`: a follower sees new leader settings.
    LeaderSettingsChanged,
    /// `pre-series-upgrade`.
    PreSeriesUpgrade,
    /// `post-series-upgrade`.
    PostSeriesUpgrade,
    /// `collect-metrics`: Juju collects the charm's metrics (`add-metric`), every 5 minutes.
    CollectMetrics,
    /// `meter-status-changed`.
    MeterStatusChanged,
    /// `leader-deposed`: declared by Juju, never sent (Juju 3.6 does not implement it).
    LeaderDeposed,
    /// `<name>-storage-attached`: a storage instance is attached (before `install` for storage
    /// declared at deploy time).
    StorageAttached(StorageEvent),
    /// `<name>-storage-detaching`: a storage instance is about to be detached.
    StorageDetaching(StorageEvent),
    /// `<container>-pebble-ready`.
    PebbleReady(WorkloadEvent),
    /// `<container>-pebble-custom-notice`.
    PebbleCustomNotice(WorkloadEvent),
    /// `<container>-pebble-check-failed`.
    PebbleCheckFailed(WorkloadEvent),
    /// `<container>-pebble-check-recovered`.
    PebbleCheckRecovered(WorkloadEvent),
    /// `<endpoint>-relation-created`.
    RelationCreated(RelationEvent),
    /// `<endpoint>-relation-joined`.
    RelationJoined(RelationEvent),
    /// `<endpoint>-relation-changed`.
    RelationChanged(RelationEvent),
    /// `<endpoint>-relation-departed`.
    RelationDeparted(RelationEvent),
    /// `<endpoint>-relation-broken`.
    RelationBroken(RelationEvent),
    /// `secret-changed`: an observed secret has a new revision.
    SecretChanged(SecretEvent),
    /// `secret-rotate`: an owned secret is due for rotation.
    SecretRotate(SecretEvent),
    /// `secret-remove`: an owned secret's revision is no longer tracked.
    SecretRemove(SecretEvent),
    /// `secret-expired`: an owned secret's revision expired.
    SecretExpired(SecretEvent),
    /// `actions/<name>`.
    Action(ActionEvent),
    /// `hooks/<name>` where the name is a custom event the charm or a library dispatches to itself.
    Custom {
        /// The event's name.
        name: String,
    },
}

const RELATION_SUFFIXES: [&str; 5] = [
    "-relation-created",
    "-relation-joined",
    "-relation-changed",
    "-relation-departed",
    "-relation-broken",
];

impl Event {
    /// Builds the event that `env` describes. `custom` lists the custom event names the charm
    /// registered; any other unknown hook name is an error.
    pub fn from_env(env: &JujuEnv, custom: &[&str]) -> Result<Self, DispatchError> {
        let name = match env.hook_name()? {
            HookName::Action(name) => {
                if let Some(env_name) = &env.action_name {
                    if env_name != name {
                        return Err(malformed(
                            "JUJU_ACTION_NAME",
                            format!("{env_name:?} does not match dispatch path action {name:?}"),
                        ));
                    }
                }
                return Ok(Event::Action(ActionEvent {
                    name: name.to_owned(),
                    id: env.action_uuid.clone(),
                }));
            }
            HookName::Hook(name) => name,
        };
        let simple = match name {
            "install" => Some(Event::Install),
            "start" => Some(Event::Start),
            "stop" => Some(Event::Stop),
            "remove" => Some(Event::Remove),
            "config-changed" => Some(Event::ConfigChanged),
            "update-status" => Some(Event::UpdateStatus),
            "upgrade-charm" => Some(Event::UpgradeCharm),
            "leader-elected" => Some(Event::LeaderElected),
            "leader-settings-changed" => Some(Event::LeaderSettingsChanged),
            "pre-series-upgrade" => Some(Event::PreSeriesUpgrade),
            "post-series-upgrade" => Some(Event::PostSeriesUpgrade),
            "collect-metrics" => Some(Event::CollectMetrics),
            "meter-status-changed" => Some(Event::MeterStatusChanged),
            "leader-deposed" => Some(Event::LeaderDeposed),
            _ => None,
        };
        if let Some(e) = simple {
            return Ok(e);
        }
        if let Some(kind) = name.strip_prefix("secret-") {
            if matches!(kind, "changed" | "rotate" | "remove" | "expired") {
                let s = SecretEvent {
                    id: env
                        .secret_id
                        .clone()
                        .ok_or(DispatchError::Missing("JUJU_SECRET_ID"))?,
                    label: env.secret_label.clone(),
                    revision: env.secret_revision,
                };
                return Ok(match kind {
                    "changed" => Event::SecretChanged(s),
                    "rotate" => Event::SecretRotate(s),
                    "remove" => Event::SecretRemove(s),
                    _ => Event::SecretExpired(s),
                });
            }
        }
        if let Some(e) = storage_event(env, name)? {
            return Ok(e);
        }
        if let Some(e) = workload_event(env, name)? {
            return Ok(e);
        }
        for (i, suffix) in RELATION_SUFFIXES.iter().enumerate() {
            if let Some(endpoint) = name.strip_suffix(suffix).filter(|e| !e.is_empty()) {
                let env_endpoint = env
                    .relation
                    .clone()
                    .ok_or(DispatchError::Missing("JUJU_RELATION"))?;
                if env_endpoint != endpoint {
                    return Err(DispatchError::EndpointMismatch {
                        hook: name.to_owned(),
                        hook_endpoint: endpoint.to_owned(),
                        env_endpoint,
                    });
                }
                let r = RelationEvent {
                    endpoint: env_endpoint,
                    relation_id: env
                        .relation_id
                        .ok_or(DispatchError::Missing("JUJU_RELATION_ID"))?,
                    remote_app: env.remote_app.clone(),
                    remote_unit: env.remote_unit.clone(),
                    departing_unit: env.departing_unit.clone(),
                };
                return Ok(match i {
                    0 => Event::RelationCreated(r),
                    1 => Event::RelationJoined(r),
                    2 => Event::RelationChanged(r),
                    3 => Event::RelationDeparted(r),
                    _ => Event::RelationBroken(r),
                });
            }
        }
        if custom.contains(&name) {
            return Ok(Event::Custom {
                name: name.to_owned(),
            });
        }
        Err(DispatchError::UnknownHook(name.to_owned()))
    }

    /// The hook name Juju would use for this event (`db-relation-changed`); actions give their
    /// action name.
    ///
    /// ```
    /// use charm::Event;
    /// assert_eq!(Event::ConfigChanged.hook_name(), "config-changed");
    /// ```
    pub fn hook_name(&self) -> String {
        match self {
            Event::Install => "install".into(),
            Event::Start => "start".into(),
            Event::Stop => "stop".into(),
            Event::Remove => "remove".into(),
            Event::ConfigChanged => "config-changed".into(),
            Event::UpdateStatus => "update-status".into(),
            Event::UpgradeCharm => "upgrade-charm".into(),
            Event::LeaderElected => "leader-elected".into(),
            Event::LeaderSettingsChanged => "leader-settings-changed".into(),
            Event::PreSeriesUpgrade => "pre-series-upgrade".into(),
            Event::PostSeriesUpgrade => "post-series-upgrade".into(),
            Event::CollectMetrics => "collect-metrics".into(),
            Event::MeterStatusChanged => "meter-status-changed".into(),
            Event::LeaderDeposed => "leader-deposed".into(),
            Event::StorageAttached(s) => format!("{}-storage-attached", s.name),
            Event::StorageDetaching(s) => format!("{}-storage-detaching", s.name),
            Event::PebbleReady(w) => format!("{}-pebble-ready", w.container),
            Event::PebbleCustomNotice(w) => format!("{}-pebble-custom-notice", w.container),
            Event::PebbleCheckFailed(w) => format!("{}-pebble-check-failed", w.container),
            Event::PebbleCheckRecovered(w) => format!("{}-pebble-check-recovered", w.container),
            Event::RelationCreated(r) => format!("{}-relation-created", r.endpoint),
            Event::RelationJoined(r) => format!("{}-relation-joined", r.endpoint),
            Event::RelationChanged(r) => format!("{}-relation-changed", r.endpoint),
            Event::RelationDeparted(r) => format!("{}-relation-departed", r.endpoint),
            Event::RelationBroken(r) => format!("{}-relation-broken", r.endpoint),
            Event::SecretChanged(_) => "secret-changed".into(),
            Event::SecretRotate(_) => "secret-rotate".into(),
            Event::SecretRemove(_) => "secret-remove".into(),
            Event::SecretExpired(_) => "secret-expired".into(),
            Event::Action(a) => a.name.clone(),
            Event::Custom { name } => name.clone(),
        }
    }

    /// The dispatch path for this event: `hooks/<hook>` or `actions/<name>`.
    pub fn dispatch_path(&self) -> String {
        match self {
            Event::Action(a) => format!("actions/{}", a.name),
            other => format!("hooks/{}", other.hook_name()),
        }
    }

    /// The relation this event concerns, if any.
    pub fn relation(&self) -> Option<&RelationEvent> {
        match self {
            Event::RelationCreated(r)
            | Event::RelationJoined(r)
            | Event::RelationChanged(r)
            | Event::RelationDeparted(r)
            | Event::RelationBroken(r) => Some(r),
            _ => None,
        }
    }

    /// The environment variables (beyond the unit's own) that describe this event to a process.
    pub fn env_vars(&self) -> Vec<(&'static str, String)> {
        let mut v = vec![("JUJU_DISPATCH_PATH", self.dispatch_path())];
        if let Some(r) = self.relation() {
            v.push(("JUJU_RELATION", r.endpoint.clone()));
            v.push(("JUJU_RELATION_ID", format!("{}:{}", r.endpoint, r.relation_id)));
            if let Some(a) = &r.remote_app {
                v.push(("JUJU_REMOTE_APP", a.to_string()));
            }
            v.push((
                "JUJU_REMOTE_UNIT",
                r.remote_unit.as_ref().map(|u| u.to_string()).unwrap_or_default(),
            ));
            if let Some(d) = &r.departing_unit {
                v.push(("JUJU_DEPARTING_UNIT", d.to_string()));
            }
        }
        match self {
            Event::SecretChanged(s)
            | Event::SecretRotate(s)
            | Event::SecretRemove(s)
            | Event::SecretExpired(s) => {
                v.push(("JUJU_SECRET_ID", s.id.clone()));
                if let Some(l) = &s.label {
                    v.push(("JUJU_SECRET_LABEL", l.clone()));
                }
                if let Some(r) = s.revision {
                    v.push(("JUJU_SECRET_REVISION", r.to_string()));
                }
            }
            Event::StorageAttached(s) | Event::StorageDetaching(s) => {
                if let Some(id) = s.id() {
                    v.push(("JUJU_STORAGE_ID", id.to_string()));
                }
            }
            Event::PebbleReady(w)
            | Event::PebbleCustomNotice(w)
            | Event::PebbleCheckFailed(w)
            | Event::PebbleCheckRecovered(w) => {
                v.push(("JUJU_WORKLOAD_NAME", w.container.clone()));
                if let Some(n) = &w.notice {
                    v.push(("JUJU_NOTICE_ID", n.id.clone()));
                    v.push(("JUJU_NOTICE_TYPE", n.kind.clone()));
                    v.push(("JUJU_NOTICE_KEY", n.key.clone()));
                }
                if let Some(c) = &w.check {
                    v.push(("JUJU_PEBBLE_CHECK_NAME", c.clone()));
                }
            }
            Event::Action(a) => {
                v.push(("JUJU_ACTION_NAME", a.name.clone()));
                if let Some(id) = &a.id {
                    v.push(("JUJU_ACTION_UUID", id.clone()));
                }
            }
            _ => {}
        }
        v
    }
}

/// `<name>-storage-attached` and `<name>-storage-detaching`; the name and index come from
/// `JUJU_STORAGE_ID` (`data/0`) when Juju sets it, else the name from the hook's.
fn storage_event(env: &JujuEnv, hook: &str) -> Result<Option<Event>, DispatchError> {
    let (prefix, attached) = if let Some(p) = hook.strip_suffix("-storage-attached") {
        (p, true)
    } else if let Some(p) = hook.strip_suffix("-storage-detaching") {
        (p, false)
    } else {
        return Ok(None);
    };
    if prefix.is_empty() {
        return Ok(None);
    }
    let s = match &env.storage_id {
        Some(id) => {
            let parsed = crate::model::StorageId::parse(id).map_err(|e| malformed("JUJU_STORAGE_ID", e))?;
            if parsed.name != prefix {
                return Err(malformed(
                    "JUJU_STORAGE_ID",
                    format!("storage {:?} does not match hook {hook:?}", parsed.name),
                ));
            }
            StorageEvent {
                name: parsed.name,
                index: Some(parsed.index),
            }
        }
        None => StorageEvent {
            name: prefix.to_owned(),
            index: None,
        },
    };
    Ok(Some(if attached {
        Event::StorageAttached(s)
    } else {
        Event::StorageDetaching(s)
    }))
}

const WORKLOAD_SUFFIXES: [&str; 4] = [
    "-pebble-ready",
    "-pebble-custom-notice",
    "-pebble-check-failed",
    "-pebble-check-recovered",
];

/// `<container>-pebble-ready` and the other Pebble hooks.
fn workload_event(env: &JujuEnv, hook: &str) -> Result<Option<Event>, DispatchError> {
    for (i, suffix) in WORKLOAD_SUFFIXES.iter().enumerate() {
        let Some(container) = hook.strip_suffix(suffix).filter(|c| !c.is_empty()) else {
            continue;
        };
        if let Some(w) = &env.workload_name {
            if w != container {
                return Err(malformed(
                    "JUJU_WORKLOAD_NAME",
                    format!("container {w:?} does not match hook {hook:?}"),
                ));
            }
        }
        let mut w = WorkloadEvent {
            container: container.to_owned(),
            notice: None,
            check: None,
        };
        if i == 1 {
            w.notice = Some(PebbleNotice {
                id: env
                    .notice_id
                    .clone()
                    .ok_or(DispatchError::Missing("JUJU_NOTICE_ID"))?,
                kind: env.notice_type.clone().unwrap_or_else(|| "custom".to_owned()),
                key: env
                    .notice_key
                    .clone()
                    .ok_or(DispatchError::Missing("JUJU_NOTICE_KEY"))?,
            });
        }
        if i >= 2 {
            w.check = Some(
                env.pebble_check_name
                    .clone()
                    .ok_or(DispatchError::Missing("JUJU_PEBBLE_CHECK_NAME"))?,
            );
        }
        return Ok(Some(match i {
            0 => Event::PebbleReady(w),
            1 => Event::PebbleCustomNotice(w),
            2 => Event::PebbleCheckFailed(w),
            _ => Event::PebbleCheckRecovered(w),
        }));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Result<JujuEnv, DispatchError> {
        let mut vars: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        vars.entry("JUJU_UNIT_NAME".into()).or_insert("demo/0".into());
        JujuEnv::from_vars(&vars, "./dispatch")
    }

    fn event(pairs: &[(&str, &str)]) -> Result<Event, DispatchError> {
        Event::from_env(&env(pairs)?, &["my-event"])
    }

    #[test]
    fn every_simple_hook() {
        let cases = [
            ("install", Event::Install),
            ("start", Event::Start),
            ("stop", Event::Stop),
            ("remove", Event::Remove),
            ("config-changed", Event::ConfigChanged),
            ("update-status", Event::UpdateStatus),
            ("upgrade-charm", Event::UpgradeCharm),
            ("leader-elected", Event::LeaderElected),
            ("leader-settings-changed", Event::LeaderSettingsChanged),
            ("pre-series-upgrade", Event::PreSeriesUpgrade),
            ("post-series-upgrade", Event::PostSeriesUpgrade),
            ("collect-metrics", Event::CollectMetrics),
            ("meter-status-changed", Event::MeterStatusChanged),
            ("leader-deposed", Event::LeaderDeposed),
        ];
        for (hook, want) in cases {
            let path = format!("hooks/{hook}");
            let got = event(&[("JUJU_DISPATCH_PATH", &path)]).unwrap();
            assert_eq!(got, want);
            assert_eq!(got.hook_name(), hook);
            assert_eq!(got.dispatch_path(), path);
        }
    }

    #[test]
    fn relation_hooks() {
        let kinds = ["created", "joined", "changed", "departed", "broken"];
        for kind in kinds {
            let path = format!("hooks/db-relation-{kind}");
            let e = event(&[
                ("JUJU_DISPATCH_PATH", &path),
                ("JUJU_RELATION", "db"),
                ("JUJU_RELATION_ID", "db:7"),
                ("JUJU_REMOTE_UNIT", "pg/2"),
                ("JUJU_REMOTE_APP", "pg"),
                ("JUJU_DEPARTING_UNIT", "pg/2"),
            ])
            .unwrap();
            let r = e.relation().unwrap();
            assert_eq!(r.endpoint, "db");
            assert_eq!(r.relation_id, RelationId(7));
            assert_eq!(r.remote_unit.as_ref().unwrap().as_str(), "pg/2");
            assert_eq!(r.remote_app.as_ref().unwrap().as_str(), "pg");
            assert_eq!(r.departing_unit.as_ref().unwrap().as_str(), "pg/2");
            assert_eq!(e.hook_name(), format!("db-relation-{kind}"));
            let ok = matches!(
                (kind, &e),
                ("created", Event::RelationCreated(_))
                    | ("joined", Event::RelationJoined(_))
                    | ("changed", Event::RelationChanged(_))
                    | ("departed", Event::RelationDeparted(_))
                    | ("broken", Event::RelationBroken(_))
            );
            assert!(ok, "{kind} gave {e:?}");
        }
    }

    #[test]
    fn app_bag_change_has_no_remote_unit() {
        let e = event(&[
            ("JUJU_DISPATCH_PATH", "hooks/peers-relation-changed"),
            ("JUJU_RELATION", "peers"),
            ("JUJU_RELATION_ID", "3"),
            ("JUJU_REMOTE_UNIT", ""),
            ("JUJU_REMOTE_APP", "demo"),
        ])
        .unwrap();
        let r = e.relation().unwrap();
        assert_eq!(r.remote_unit, None);
        assert_eq!(r.remote_app.as_ref().unwrap().as_str(), "demo");
    }

    #[test]
    fn remote_app_derived_from_remote_unit() {
        let e = event(&[
            ("JUJU_DISPATCH_PATH", "hooks/db-relation-joined"),
            ("JUJU_RELATION", "db"),
            ("JUJU_RELATION_ID", "db:1"),
            ("JUJU_REMOTE_UNIT", "pg/0"),
        ])
        .unwrap();
        assert_eq!(e.relation().unwrap().remote_app.as_ref().unwrap().as_str(), "pg");
    }

    #[test]
    fn secrets_actions_custom() {
        let e = event(&[
            ("JUJU_DISPATCH_PATH", "hooks/secret-expired"),
            ("JUJU_SECRET_ID", "secret:abc"),
            ("JUJU_SECRET_LABEL", "tok"),
            ("JUJU_SECRET_REVISION", "4"),
        ])
        .unwrap();
        assert_eq!(
            e,
            Event::SecretExpired(SecretEvent {
                id: "secret:abc".into(),
                label: Some("tok".into()),
                revision: Some(4)
            })
        );
        for (hook, ok) in [
            ("secret-changed", true),
            ("secret-rotate", true),
            ("secret-remove", true),
        ] {
            let path = format!("hooks/{hook}");
            let e = event(&[("JUJU_DISPATCH_PATH", &path), ("JUJU_SECRET_ID", "secret:x")]).unwrap();
            assert_eq!(e.hook_name() == hook, ok);
        }
        let a = event(&[
            ("JUJU_DISPATCH_PATH", "actions/backup"),
            ("JUJU_ACTION_NAME", "backup"),
            ("JUJU_ACTION_UUID", "42"),
        ])
        .unwrap();
        assert_eq!(
            a,
            Event::Action(ActionEvent {
                name: "backup".into(),
                id: Some("42".into())
            })
        );
        assert_eq!(a.dispatch_path(), "actions/backup");
        let c = event(&[("JUJU_DISPATCH_PATH", "hooks/my-event")]).unwrap();
        assert_eq!(
            c,
            Event::Custom {
                name: "my-event".into()
            }
        );
    }

    #[test]
    fn storage_hooks() {
        let e = event(&[
            ("JUJU_DISPATCH_PATH", "hooks/cache-db-storage-attached"),
            ("JUJU_STORAGE_ID", "cache-db/3"),
        ])
        .unwrap();
        let s = StorageEvent {
            name: "cache-db".into(),
            index: Some(3),
        };
        assert_eq!(e, Event::StorageAttached(s.clone()));
        assert_eq!(e.hook_name(), "cache-db-storage-attached");
        assert_eq!(s.id().unwrap().to_string(), "cache-db/3");
        // Before JUJU_STORAGE_ID (old Juju), the name comes from the hook's.
        let e = event(&[("JUJU_DISPATCH_PATH", "hooks/data-storage-detaching")]).unwrap();
        assert_eq!(
            e,
            Event::StorageDetaching(StorageEvent {
                name: "data".into(),
                index: None
            })
        );
        for bad in ["other/0", "data", "data/x", "data/-1"] {
            assert!(matches!(
                event(&[
                    ("JUJU_DISPATCH_PATH", "hooks/data-storage-attached"),
                    ("JUJU_STORAGE_ID", bad)
                ])
                .unwrap_err(),
                DispatchError::Malformed {
                    var: "JUJU_STORAGE_ID",
                    ..
                }
            ));
        }
    }

    #[test]
    fn workload_hooks() {
        let w = |notice: Option<PebbleNotice>, check: Option<&str>| WorkloadEvent {
            container: "my-app".into(),
            notice,
            check: check.map(str::to_owned),
        };
        let base = [("JUJU_WORKLOAD_NAME", "my-app")];
        let e = event(&[("JUJU_DISPATCH_PATH", "hooks/my-app-pebble-ready"), base[0]]).unwrap();
        assert_eq!(e, Event::PebbleReady(w(None, None)));
        let e = event(&[
            ("JUJU_DISPATCH_PATH", "hooks/my-app-pebble-custom-notice"),
            base[0],
            ("JUJU_NOTICE_ID", "7"),
            ("JUJU_NOTICE_TYPE", "custom"),
            ("JUJU_NOTICE_KEY", "example.com/a"),
        ])
        .unwrap();
        let notice = PebbleNotice {
            id: "7".into(),
            kind: "custom".into(),
            key: "example.com/a".into(),
        };
        assert_eq!(e, Event::PebbleCustomNotice(w(Some(notice), None)));
        for (hook, want) in [
            ("failed", Event::PebbleCheckFailed(w(None, Some("http")))),
            ("recovered", Event::PebbleCheckRecovered(w(None, Some("http")))),
        ] {
            let path = format!("hooks/my-app-pebble-check-{hook}");
            let e = event(&[
                ("JUJU_DISPATCH_PATH", &path),
                base[0],
                ("JUJU_PEBBLE_CHECK_NAME", "http"),
            ])
            .unwrap();
            assert_eq!(e, want);
            assert_eq!(format!("hooks/{}", e.hook_name()), path);
        }
        // Without JUJU_WORKLOAD_NAME the container comes from the hook's name; a mismatch is an
        // error, as are missing notice or check variables.
        assert_eq!(
            event(&[("JUJU_DISPATCH_PATH", "hooks/my-app-pebble-ready")]).unwrap(),
            Event::PebbleReady(w(None, None))
        );
        assert!(matches!(
            event(&[
                ("JUJU_DISPATCH_PATH", "hooks/my-app-pebble-ready"),
                ("JUJU_WORKLOAD_NAME", "db")
            ])
            .unwrap_err(),
            DispatchError::Malformed {
                var: "JUJU_WORKLOAD_NAME",
                ..
            }
        ));
        assert_eq!(
            event(&[("JUJU_DISPATCH_PATH", "hooks/my-app-pebble-check-failed")]).unwrap_err(),
            DispatchError::Missing("JUJU_PEBBLE_CHECK_NAME")
        );
        assert_eq!(
            event(&[("JUJU_DISPATCH_PATH", "hooks/my-app-pebble-custom-notice")]).unwrap_err(),
            DispatchError::Missing("JUJU_NOTICE_ID")
        );
    }

    #[test]
    fn new_events_round_trip_through_their_environment() {
        let events = [
            Event::StorageAttached(StorageEvent {
                name: "data".into(),
                index: Some(0),
            }),
            Event::StorageDetaching(StorageEvent {
                name: "logs-2".into(),
                index: Some(11),
            }),
            Event::PebbleCustomNotice(WorkloadEvent {
                container: "w".into(),
                notice: Some(PebbleNotice {
                    id: "1".into(),
                    kind: "custom".into(),
                    key: "k".into(),
                }),
                check: None,
            }),
            Event::PebbleCheckRecovered(WorkloadEvent {
                container: "w".into(),
                notice: None,
                check: Some("c".into()),
            }),
            Event::CollectMetrics,
        ];
        for e in events {
            let mut vars: BTreeMap<String, String> = e
                .env_vars()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            vars.insert("JUJU_UNIT_NAME".into(), "demo/0".into());
            let env = JujuEnv::from_vars(&vars, "").unwrap();
            assert_eq!(Event::from_env(&env, &[]).unwrap(), e);
            let json = serde_json::to_string(&e).unwrap();
            assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), e);
        }
    }

    #[test]
    fn argv0_fallback() {
        let mut vars = BTreeMap::new();
        vars.insert("JUJU_UNIT_NAME".to_string(), "demo/0".to_string());
        let env = JujuEnv::from_vars(&vars, "/var/lib/juju/agents/unit-demo-0/charm/hooks/start").unwrap();
        assert_eq!(Event::from_env(&env, &[]).unwrap(), Event::Start);
        assert_eq!(
            JujuEnv::from_vars(&vars, "./dispatch").unwrap_err(),
            DispatchError::Missing("JUJU_DISPATCH_PATH")
        );
    }

    #[test]
    fn bad_environments_are_typed_errors() {
        assert_eq!(
            event(&[("JUJU_DISPATCH_PATH", "hooks/frobnicate")]).unwrap_err(),
            DispatchError::UnknownHook("frobnicate".into())
        );
        assert!(matches!(
            event(&[("JUJU_DISPATCH_PATH", "bin/install")]).unwrap_err(),
            DispatchError::BadDispatchPath(_)
        ));
        assert!(matches!(
            event(&[("JUJU_DISPATCH_PATH", "hooks/db-relation-changed")]).unwrap_err(),
            DispatchError::Missing("JUJU_RELATION")
        ));
        assert!(matches!(
            event(&[
                ("JUJU_DISPATCH_PATH", "hooks/db-relation-changed"),
                ("JUJU_RELATION", "other"),
                ("JUJU_RELATION_ID", "1")
            ])
            .unwrap_err(),
            DispatchError::EndpointMismatch { .. }
        ));
        assert!(matches!(
            event(&[
                ("JUJU_DISPATCH_PATH", "hooks/db-relation-changed"),
                ("JUJU_RELATION", "db"),
                ("JUJU_RELATION_ID", "db:one")
            ])
            .unwrap_err(),
            DispatchError::Malformed {
                var: "JUJU_RELATION_ID",
                ..
            }
        ));
        assert!(matches!(
            event(&[
                ("JUJU_DISPATCH_PATH", "hooks/install"),
                ("JUJU_UNIT_NAME", "nounit")
            ])
            .unwrap_err(),
            DispatchError::Malformed {
                var: "JUJU_UNIT_NAME",
                ..
            }
        ));
        assert!(matches!(
            event(&[("JUJU_DISPATCH_PATH", "hooks/install"), ("JUJU_VERSION", "three")]).unwrap_err(),
            DispatchError::Malformed {
                var: "JUJU_VERSION",
                ..
            }
        ));
        assert!(matches!(
            event(&[("JUJU_DISPATCH_PATH", "hooks/secret-changed")]).unwrap_err(),
            DispatchError::Missing("JUJU_SECRET_ID")
        ));
        let vars = BTreeMap::from([("JUJU_DISPATCH_PATH".to_string(), "hooks/install".to_string())]);
        assert_eq!(
            JujuEnv::from_vars(&vars, "").unwrap_err(),
            DispatchError::Missing("JUJU_UNIT_NAME")
        );
    }

    #[test]
    fn env_vars_round_trip() {
        let e = Event::RelationDeparted(RelationEvent {
            endpoint: "peers".into(),
            relation_id: RelationId(2),
            remote_app: Some(AppName::parse("demo").unwrap()),
            remote_unit: Some(UnitName::parse("demo/1").unwrap()),
            departing_unit: Some(UnitName::parse("demo/1").unwrap()),
        });
        let mut vars: BTreeMap<String, String> = e
            .env_vars()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        vars.insert("JUJU_UNIT_NAME".into(), "demo/0".into());
        let env = JujuEnv::from_vars(&vars, "").unwrap();
        assert_eq!(Event::from_env(&env, &[]).unwrap(), e);
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), e);
    }

    #[test]
    fn juju_versions() {
        assert_eq!(
            JujuVersion::parse("3.6-beta2").unwrap(),
            JujuVersion {
                major: 3,
                minor: 6,
                patch: 0
            }
        );
        assert_eq!(JujuVersion::parse("3").unwrap().major, 3);
        assert!(JujuVersion::parse("").is_err());
    }
}
