//! Testing a charm in memory, one unit and one event at a time, in the style of `ops.testing`:
//! a [`State`] in, an event run, a [`State`] out, with Juju's commit rules.
//!
//! ```
//! use charm::testing::{Harness, State};
//! use charm::{Charm, Context, Event, HandlerResult, Metadata, Observers, Status};
//!
//! #[derive(Default)]
//! struct Hello;
//! impl Charm for Hello {
//!     fn register(on: &mut Observers<Self>) {
//!         on.observe("hello", |_, ctx, event| {
//!             if *event == Event::Start {
//!                 ctx.set_status(Status::active("hello"))?;
//!             }
//!             Ok(())
//!         });
//!     }
//! }
//!
//! let meta = Metadata::from_charmcraft_yaml("name: hello").unwrap();
//! let mut harness = Harness::new(meta, Hello::default);
//! let run = harness.run(Event::Start, State::default());
//! assert!(run.result.is_ok());
//! assert_eq!(run.state.unit_status, Status::active("hello"));
//! ```

use crate::backend::{Backend, BackendError};
use crate::event::{Event, JujuVersion};
use crate::framework::{run_hook, Charm, HookError, HookReport, HookSetup};
use crate::metadata::Metadata;
use crate::model::*;
use crate::names::{AppName, RelationId, UnitName};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// The largest relation databag Juju accepts (the limit Juju 4 enforces at commit).
pub const MAX_BAG_BYTES: usize = 16 * 1024 * 1024;

/// One relation as the unit under test sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationState {
    /// The relation's id.
    pub id: RelationId,
    /// This charm's endpoint.
    pub endpoint: String,
    /// The remote application (this application, for a peer relation).
    pub remote_app: AppName,
    /// This unit's bag.
    pub local_unit_data: Databag,
    /// This application's bag (the shared bag, in a peer relation).
    pub local_app_data: Databag,
    /// The remote application's bag (unused in a peer relation).
    pub remote_app_data: Databag,
    /// The remote units (the other peers) and their bags.
    pub remote_units: BTreeMap<UnitName, Databag>,
}

impl RelationState {
    /// A relation with no data and no remote units yet.
    pub fn new(id: u32, endpoint: &str, remote_app: &str) -> Self {
        Self {
            id: RelationId(id),
            endpoint: endpoint.to_owned(),
            remote_app: AppName::parse(remote_app)
                .unwrap_or_else(|_| AppName::parse("remote").expect("valid")),
            local_unit_data: Databag::new(),
            local_app_data: Databag::new(),
            remote_app_data: Databag::new(),
            remote_units: BTreeMap::new(),
        }
    }

    /// Adds a remote unit with its bag (`unit` must be a valid unit name).
    pub fn with_unit(mut self, unit: &str, data: &[(&str, &str)]) -> Self {
        if let Ok(u) = UnitName::parse(unit) {
            self.remote_units.insert(u, bag(data));
        }
        self
    }

    /// Sets the remote application's bag.
    pub fn with_remote_app_data(mut self, data: &[(&str, &str)]) -> Self {
        self.remote_app_data = bag(data);
        self
    }

    /// Sets this application's bag.
    pub fn with_local_app_data(mut self, data: &[(&str, &str)]) -> Self {
        self.local_app_data = bag(data);
        self
    }

    /// Sets this unit's bag.
    pub fn with_local_unit_data(mut self, data: &[(&str, &str)]) -> Self {
        self.local_unit_data = bag(data);
        self
    }
}

/// Builds a databag from pairs.
pub fn bag(pairs: &[(&str, &str)]) -> Databag {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A secret in the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretState {
    /// Its id.
    pub id: String,
    /// Its label.
    pub label: Option<String>,
    /// Who owns it.
    pub owner: SecretOwner,
    /// Its revisions, oldest first (revision numbers start at 1).
    pub revisions: Vec<SecretContent>,
    /// The revision this unit tracks.
    pub tracked: u64,
    /// Its description.
    pub description: Option<String>,
    /// When it expires.
    pub expire: Option<String>,
    /// Its rotation policy.
    pub rotate: Option<String>,
    /// Who it is granted to: relation, and a unit or the whole remote application.
    pub grants: Vec<(RelationId, Option<UnitName>)>,
}

/// Everything the unit under test can see, before and after a hook.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    /// Whether the unit is the leader.
    pub leader: bool,
    /// Config values set by the operator (metadata defaults fill the rest).
    pub config: BTreeMap<String, ConfigValue>,
    /// Relations.
    pub relations: Vec<RelationState>,
    /// Leader settings.
    pub leader_settings: Databag,
    /// The framework's stored state document (stored values and deferred events).
    pub stored: Option<String>,
    /// Controller-side unit state (`state-get` / `state-set`).
    pub controller_state: BTreeMap<String, String>,
    /// This unit's status.
    pub unit_status: Status,
    /// The application's status.
    pub app_status: Status,
    /// The workload version.
    pub workload_version: String,
    /// Secrets.
    pub secrets: Vec<SecretState>,
    /// The machine's hostname.
    pub hostname: String,
    /// The machine's clock.
    pub now: SystemTime,
    /// Goal state; derived from the relations when `None`.
    pub goal_state: Option<GoalState>,
    /// The running action's parameters.
    pub action_params: serde_json::Map<String, serde_json::Value>,
    /// Opened ports (committed with the hook).
    pub opened_ports: Vec<Port>,
    /// `network-get` answers by binding name; a default one is made up when absent.
    pub networks: BTreeMap<String, serde_json::Value>,
    /// Whether the charm asked for a reboot.
    pub reboot_requested: bool,
    /// Storage instances attached to the unit (`storage-list`, `storage-get`).
    pub storage: BTreeMap<StorageId, StorageInfo>,
    /// Instances the charm asked for with `storage-add`, by storage name (committed with the
    /// hook, as Juju does).
    pub storage_added: BTreeMap<String, u32>,
    /// Files on the machine: content and permission bits (written at once, never rolled back).
    pub files: BTreeMap<std::path::PathBuf, (Vec<u8>, u32)>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            leader: false,
            config: BTreeMap::new(),
            relations: Vec::new(),
            leader_settings: Databag::new(),
            stored: None,
            controller_state: BTreeMap::new(),
            unit_status: Status::unknown(),
            app_status: Status::unknown(),
            workload_version: String::new(),
            secrets: Vec::new(),
            hostname: "machine-0".into(),
            now: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            goal_state: None,
            action_params: Default::default(),
            files: BTreeMap::new(),
            opened_ports: Vec::new(),
            networks: BTreeMap::new(),
            reboot_requested: false,
            storage: BTreeMap::new(),
            storage_added: BTreeMap::new(),
        }
    }
}

impl State {
    /// The relation with this id.
    pub fn relation(&self, id: u32) -> Option<&RelationState> {
        self.relations.iter().find(|r| r.id == RelationId(id))
    }

    /// A stored value, decoded (`None` if absent or if the document does not parse).
    pub fn stored_value(&self, key: &str) -> Option<serde_json::Value> {
        let doc = crate::framework::StoredDocument::parse(self.stored.as_deref()?).ok()?;
        doc.values.get(key).cloned()
    }

    /// The deferred events, oldest first: (handler name, event).
    pub fn deferred(&self) -> Vec<(String, Event)> {
        self.stored
            .as_deref()
            .and_then(|s| crate::framework::StoredDocument::parse(s).ok())
            .map(|d| d.deferred.into_iter().map(|n| (n.observer, n.event)).collect())
            .unwrap_or_default()
    }
}

/// What one hook did.
#[derive(Debug)]
pub struct Run {
    /// The state after the hook: with every change if it succeeded; otherwise with only the
    /// changes Juju applies at once (status, logs, leader settings, workload version).
    pub state: State,
    /// The hook's result.
    pub result: Result<HookReport, HookError>,
    /// Every `juju-log` line.
    pub logs: Vec<(LogLevel, String)>,
    /// Every status set, in order.
    pub status_history: Vec<(StatusTarget, Status)>,
    /// Action results set.
    pub action_results: BTreeMap<String, String>,
    /// The action's failure message, if it failed.
    pub action_failure: Option<String>,
    /// Action log lines.
    pub action_logs: Vec<String>,
    /// Workload commands run.
    pub commands: Vec<WorkloadCommand>,
    /// Custom events scheduled: (name, delay).
    pub scheduled: Vec<(String, Duration)>,
    /// The name of every backend call made, in order.
    pub calls: Vec<&'static str>,
}

type Workload = Box<dyn FnMut(&WorkloadCommand) -> CommandOutput>;

/// Runs a charm's hooks in memory.
pub struct Harness<C> {
    make: Box<dyn Fn() -> C>,
    meta: Metadata,
    unit: UnitName,
    juju_version: JujuVersion,
    workload: Option<Workload>,
}

impl<C: Charm> Harness<C> {
    /// A harness for unit 0 of the charm described by `meta`; `make` builds the charm afresh
    /// for every hook, as Juju starts a new process.
    pub fn new(meta: Metadata, make: impl Fn() -> C + 'static) -> Self {
        let app = AppName::parse(&meta.name).unwrap_or_else(|_| AppName::parse("charm").expect("valid"));
        Self {
            make: Box::new(make),
            unit: app.unit(0),
            meta,
            juju_version: JujuVersion {
                major: 3,
                minor: 6,
                patch: 4,
            },
            workload: None,
        }
    }

    /// Runs as unit `number` of the application.
    pub fn unit_number(mut self, number: u32) -> Self {
        self.unit = self.unit.app().unit(number);
        self
    }

    /// Runs under this Juju version.
    pub fn juju_version(mut self, v: JujuVersion) -> Self {
        self.juju_version = v;
        self
    }

    /// Serves workload commands with `f`.
    pub fn workload(mut self, f: impl FnMut(&WorkloadCommand) -> CommandOutput + 'static) -> Self {
        self.workload = Some(Box::new(f));
        self
    }

    /// The unit under test.
    pub fn unit(&self) -> &UnitName {
        &self.unit
    }

    /// Runs one event against `state`.
    pub fn run(&mut self, event: Event, state: State) -> Run {
        let mut backend = Memory::new(state, &self.meta, self.unit.clone(), self.workload.as_mut());
        let mut charm = (self.make)();
        let setup = HookSetup {
            unit: &self.unit,
            meta: &self.meta,
            juju_version: self.juju_version,
        };
        let result = run_hook(&mut charm, &mut backend, setup, &event);
        let state = if result.is_ok() {
            backend.txn
        } else {
            backend.committed
        };
        Run {
            state,
            result,
            logs: backend.logs,
            status_history: backend.status_history,
            action_results: backend.action_results,
            action_failure: backend.action_failure,
            action_logs: backend.action_logs,
            commands: backend.commands,
            scheduled: backend.scheduled,
            calls: backend.calls,
        }
    }
}

/// The in-memory backend: one unit's view of the model. Reads see every write of the hook;
/// relation data, stored state, controller state and secrets live in a transaction that the
/// harness keeps only when the hook succeeds.
pub struct Memory<'w> {
    /// The state with every change of this hook.
    pub txn: State,
    /// The state with only the changes Juju applies at once.
    pub committed: State,
    meta: Metadata,
    unit: UnitName,
    workload: Option<&'w mut Workload>,
    logs: Vec<(LogLevel, String)>,
    status_history: Vec<(StatusTarget, Status)>,
    action_results: BTreeMap<String, String>,
    action_failure: Option<String>,
    action_logs: Vec<String>,
    commands: Vec<WorkloadCommand>,
    scheduled: Vec<(String, Duration)>,
    calls: Vec<&'static str>,
    random_counter: u64,
}

impl<'w> Memory<'w> {
    /// A backend over `state` for `unit`.
    pub fn new(state: State, meta: &Metadata, unit: UnitName, workload: Option<&'w mut Workload>) -> Self {
        Self {
            committed: state.clone(),
            txn: state,
            meta: meta.clone(),
            unit,
            workload,
            logs: Vec::new(),
            status_history: Vec::new(),
            action_results: BTreeMap::new(),
            action_failure: None,
            action_logs: Vec::new(),
            commands: Vec::new(),
            scheduled: Vec::new(),
            calls: Vec::new(),
            random_counter: 0,
        }
    }

    fn rel(&self, id: RelationId) -> Result<&RelationState, BackendError> {
        self.txn
            .relations
            .iter()
            .find(|r| r.id == id)
            .ok_or(BackendError::RelationNotFound(id))
    }

    fn secret_mut(&mut self, r: &SecretRef) -> Result<&mut SecretState, BackendError> {
        let found = self.txn.secrets.iter_mut().find(|s| match r {
            SecretRef::Id(id) | SecretRef::IdWithLabel(id, _) => s.id == *id,
            SecretRef::Label(l) => s.label.as_deref() == Some(l.as_str()),
        });
        found.ok_or(BackendError::SecretNotFound)
    }

    /// Applies an immediate change to both the transaction and the committed state.
    fn both(&mut self, f: impl Fn(&mut State)) {
        f(&mut self.txn);
        f(&mut self.committed);
    }
}

fn apply(bag: &mut Databag, changes: &Databag) {
    for (k, v) in changes {
        if v.is_empty() {
            bag.remove(k);
        } else {
            bag.insert(k.clone(), v.clone());
        }
    }
}

fn bag_size(bag: &Databag) -> usize {
    bag.iter().map(|(k, v)| k.len() + v.len()).sum()
}

impl Backend for Memory<'_> {
    fn relation_ids(&mut self, endpoint: &str) -> Result<Vec<RelationId>, BackendError> {
        self.calls.push("relation-ids");
        Ok(self
            .txn
            .relations
            .iter()
            .filter(|r| r.endpoint == endpoint)
            .map(|r| r.id)
            .collect())
    }

    fn relation_list(&mut self, id: RelationId) -> Result<Vec<UnitName>, BackendError> {
        self.calls.push("relation-list");
        Ok(self.rel(id)?.remote_units.keys().cloned().collect())
    }

    fn relation_remote_app(&mut self, id: RelationId) -> Result<Option<AppName>, BackendError> {
        self.calls.push("relation-list");
        Ok(Some(self.rel(id)?.remote_app.clone()))
    }

    fn relation_get(&mut self, id: RelationId, owner: &BagOwner) -> Result<Databag, BackendError> {
        self.calls.push("relation-get");
        let my_app = self.unit.app();
        let peer = self.meta.is_peer(&self.rel(id)?.endpoint);
        let r = self.rel(id)?;
        match owner {
            BagOwner::Unit(u) if *u == self.unit => Ok(r.local_unit_data.clone()),
            BagOwner::Unit(u) => r.remote_units.get(u).cloned().ok_or_else(|| {
                BackendError::Refused(format!(
                    "cannot read settings for unit \"{u}\" in relation {id}: unit not found"
                ))
            }),
            BagOwner::App(a) if *a == my_app => {
                if !peer && !self.txn.leader {
                    return Err(BackendError::NotLeader(
                        "relation-get --app of the local application",
                    ));
                }
                Ok(r.local_app_data.clone())
            }
            BagOwner::App(a) if *a == r.remote_app => Ok(r.remote_app_data.clone()),
            BagOwner::App(a) => Err(BackendError::Refused(format!(
                "application \"{a}\" is not in relation {id}"
            ))),
        }
    }

    fn relation_set(
        &mut self,
        id: RelationId,
        scope: BagScope,
        changes: &Databag,
    ) -> Result<(), BackendError> {
        self.calls.push("relation-set");
        if scope == BagScope::App && !self.txn.leader {
            return Err(BackendError::NotLeader("relation-set --app"));
        }
        let r = self
            .txn
            .relations
            .iter_mut()
            .find(|r| r.id == id)
            .ok_or(BackendError::RelationNotFound(id))?;
        let target = match scope {
            BagScope::Unit => &mut r.local_unit_data,
            BagScope::App => &mut r.local_app_data,
        };
        let mut next = target.clone();
        apply(&mut next, changes);
        if bag_size(&next) > MAX_BAG_BYTES {
            return Err(BackendError::Refused(format!(
                "relation data of {} bytes exceeds the limit of {MAX_BAG_BYTES}",
                bag_size(&next)
            )));
        }
        *target = next;
        Ok(())
    }

    fn is_leader(&mut self) -> Result<bool, BackendError> {
        self.calls.push("is-leader");
        Ok(self.txn.leader)
    }

    fn config_get(&mut self) -> Result<BTreeMap<String, ConfigValue>, BackendError> {
        self.calls.push("config-get");
        let mut c = self.meta.config_defaults();
        c.extend(self.txn.config.clone());
        Ok(c)
    }

    fn status_set(&mut self, target: StatusTarget, status: &Status) -> Result<(), BackendError> {
        self.calls.push("status-set");
        if matches!(status.name, StatusName::Error | StatusName::Unknown) {
            return Err(BackendError::Refused(format!(
                "invalid status {:?}",
                status.name.as_str()
            )));
        }
        if target == StatusTarget::App && !self.txn.leader {
            return Err(BackendError::NotLeader("status-set --application"));
        }
        self.status_history.push((target, status.clone()));
        let s = status.clone();
        self.both(|st| match target {
            StatusTarget::Unit => st.unit_status = s.clone(),
            StatusTarget::App => st.app_status = s.clone(),
        });
        Ok(())
    }

    fn status_get(&mut self, target: StatusTarget) -> Result<Status, BackendError> {
        self.calls.push("status-get");
        Ok(match target {
            StatusTarget::Unit => self.txn.unit_status.clone(),
            StatusTarget::App => self.txn.app_status.clone(),
        })
    }

    fn juju_log(&mut self, level: LogLevel, message: &str) -> Result<(), BackendError> {
        self.calls.push("juju-log");
        self.logs.push((level, message.to_owned()));
        Ok(())
    }

    fn leader_get(&mut self) -> Result<Databag, BackendError> {
        self.calls.push("leader-get");
        Ok(self.txn.leader_settings.clone())
    }

    fn leader_set(&mut self, changes: &Databag) -> Result<(), BackendError> {
        self.calls.push("leader-set");
        if !self.txn.leader {
            return Err(BackendError::NotLeader("leader-set"));
        }
        let c = changes.clone();
        self.both(|st| apply(&mut st.leader_settings, &c));
        Ok(())
    }

    fn state_get(&mut self) -> Result<BTreeMap<String, String>, BackendError> {
        self.calls.push("state-get");
        Ok(self.txn.controller_state.clone())
    }

    fn state_set(&mut self, changes: &BTreeMap<String, String>) -> Result<(), BackendError> {
        self.calls.push("state-set");
        for (k, v) in changes {
            if k.len() > 256 || v.len() > 64 * 1024 {
                return Err(BackendError::Refused(format!(
                    "state key {k:?} or its value is too large"
                )));
            }
        }
        self.txn.controller_state.extend(changes.clone());
        Ok(())
    }

    fn state_delete(&mut self, key: &str) -> Result<(), BackendError> {
        self.calls.push("state-delete");
        self.txn.controller_state.remove(key);
        Ok(())
    }

    fn secret_add(
        &mut self,
        content: &SecretContent,
        options: &SecretOptions,
    ) -> Result<String, BackendError> {
        self.calls.push("secret-add");
        if content.0.is_empty() {
            return Err(BackendError::Refused("secret-add: missing secret value".into()));
        }
        let id = format!("secret:ensemble{:04}", self.txn.secrets.len() + 1);
        self.txn.secrets.push(SecretState {
            id: id.clone(),
            label: options.label.clone(),
            owner: options.owner.unwrap_or(SecretOwner::Application),
            revisions: vec![content.clone()],
            tracked: 1,
            description: options.description.clone(),
            expire: options.expire.clone(),
            rotate: options.rotate.clone(),
            grants: Vec::new(),
        });
        Ok(id)
    }

    fn secret_get(&mut self, secret: &SecretRef, read: SecretRead) -> Result<SecretContent, BackendError> {
        self.calls.push("secret-get");
        let s = self.secret_mut(secret)?;
        if let SecretRef::IdWithLabel(_, l) = secret {
            s.label = Some(l.clone());
        }
        let latest = s.revisions.len() as u64;
        let rev = match read {
            SecretRead::Tracked => s.tracked,
            SecretRead::Refresh => {
                s.tracked = latest;
                latest
            }
            SecretRead::Peek => latest,
        };
        s.revisions
            .get(rev.saturating_sub(1) as usize)
            .cloned()
            .ok_or(BackendError::SecretNotFound)
    }

    fn secret_set(
        &mut self,
        id: &str,
        content: Option<&SecretContent>,
        options: &SecretOptions,
    ) -> Result<(), BackendError> {
        self.calls.push("secret-set");
        let s = self.secret_mut(&SecretRef::Id(id.to_owned()))?;
        if let Some(c) = content {
            s.revisions.push(c.clone());
        }
        if options.label.is_some() {
            s.label = options.label.clone();
        }
        if options.description.is_some() {
            s.description = options.description.clone();
        }
        if options.expire.is_some() {
            s.expire = options.expire.clone();
        }
        if options.rotate.is_some() {
            s.rotate = options.rotate.clone();
        }
        Ok(())
    }

    fn secret_grant(
        &mut self,
        id: &str,
        relation: RelationId,
        unit: Option<&UnitName>,
    ) -> Result<(), BackendError> {
        self.calls.push("secret-grant");
        self.rel(relation)?;
        let s = self.secret_mut(&SecretRef::Id(id.to_owned()))?;
        let g = (relation, unit.cloned());
        if !s.grants.contains(&g) {
            s.grants.push(g);
        }
        Ok(())
    }

    fn secret_revoke(
        &mut self,
        id: &str,
        relation: RelationId,
        target: &RevokeTarget,
    ) -> Result<(), BackendError> {
        self.calls.push("secret-revoke");
        let s = self.secret_mut(&SecretRef::Id(id.to_owned()))?;
        s.grants.retain(|(r, u)| {
            *r != relation
                || match target {
                    RevokeTarget::Relation | RevokeTarget::App(_) => false,
                    RevokeTarget::Unit(t) => u.as_ref() != Some(t),
                }
        });
        Ok(())
    }

    fn secret_remove(&mut self, id: &str, revision: Option<u64>) -> Result<(), BackendError> {
        self.calls.push("secret-remove");
        self.secret_mut(&SecretRef::Id(id.to_owned()))?;
        match revision {
            None => self.txn.secrets.retain(|s| s.id != id),
            Some(r) => {
                let s = self.secret_mut(&SecretRef::Id(id.to_owned()))?;
                let idx = r.checked_sub(1).ok_or(BackendError::SecretNotFound)? as usize;
                let slot = s.revisions.get_mut(idx).ok_or(BackendError::SecretNotFound)?;
                slot.0.clear();
            }
        }
        Ok(())
    }

    fn secret_info_get(&mut self, secret: &SecretRef) -> Result<SecretInfo, BackendError> {
        self.calls.push("secret-info-get");
        let s = self.secret_mut(secret)?;
        Ok(SecretInfo {
            id: s.id.clone(),
            label: s.label.clone(),
            owner: s.owner.as_str().to_owned(),
            revision: s.revisions.len() as u64,
            description: s.description.clone(),
            expiry: s.expire.clone(),
            rotation: s.rotate.clone(),
        })
    }

    fn secret_ids(&mut self) -> Result<Vec<String>, BackendError> {
        self.calls.push("secret-ids");
        Ok(self.txn.secrets.iter().map(|s| s.id.clone()).collect())
    }

    fn application_version_set(&mut self, version: &str) -> Result<(), BackendError> {
        self.calls.push("application-version-set");
        let v = version.to_owned();
        self.both(|st| st.workload_version = v.clone());
        Ok(())
    }

    fn action_get(&mut self) -> Result<serde_json::Map<String, serde_json::Value>, BackendError> {
        self.calls.push("action-get");
        Ok(self.txn.action_params.clone())
    }

    fn action_set(&mut self, results: &BTreeMap<String, String>) -> Result<(), BackendError> {
        self.calls.push("action-set");
        self.action_results.extend(results.clone());
        Ok(())
    }

    fn action_fail(&mut self, message: &str) -> Result<(), BackendError> {
        self.calls.push("action-fail");
        self.action_failure = Some(message.to_owned());
        Ok(())
    }

    fn action_log(&mut self, message: &str) -> Result<(), BackendError> {
        self.calls.push("action-log");
        self.action_logs.push(message.to_owned());
        Ok(())
    }

    fn goal_state(&mut self) -> Result<GoalState, BackendError> {
        self.calls.push("goal-state");
        if let Some(g) = &self.txn.goal_state {
            return Ok(g.clone());
        }
        let active = || GoalStatus {
            status: "active".into(),
            since: None,
        };
        let mut g = GoalState::default();
        g.units.insert(self.unit.to_string(), active());
        for r in &self.txn.relations {
            let e = g.relations.entry(r.endpoint.clone()).or_default();
            if !self.meta.is_peer(&r.endpoint) {
                e.insert(r.remote_app.to_string(), active());
            }
            for u in r.remote_units.keys() {
                if self.meta.is_peer(&r.endpoint) {
                    g.units.insert(u.to_string(), active());
                }
                e.insert(u.to_string(), active());
            }
        }
        Ok(g)
    }

    fn now(&mut self) -> SystemTime {
        self.txn.now
    }

    fn hostname(&mut self) -> Result<String, BackendError> {
        Ok(self.txn.hostname.clone())
    }

    fn run_command(&mut self, command: &WorkloadCommand) -> Result<CommandOutput, BackendError> {
        self.commands.push(command.clone());
        match self.workload.as_mut() {
            Some(w) => Ok(w(command)),
            None => Err(BackendError::Workload {
                command: command.to_string(),
                reason: "this harness serves no workload (see Harness::workload)".into(),
            }),
        }
    }

    fn schedule_event(&mut self, name: &str, delay: Duration) -> Result<(), BackendError> {
        self.scheduled.push((name.to_owned(), delay));
        Ok(())
    }

    fn open_port(&mut self, port: &Port, _endpoints: &[String]) -> Result<(), BackendError> {
        self.calls.push("open-port");
        if !self.txn.opened_ports.contains(port) {
            self.txn.opened_ports.push(port.clone());
            self.txn.opened_ports.sort();
        }
        Ok(())
    }

    fn close_port(&mut self, port: &Port, _endpoints: &[String]) -> Result<(), BackendError> {
        self.calls.push("close-port");
        self.txn.opened_ports.retain(|p| p != port);
        Ok(())
    }

    fn opened_ports(&mut self) -> Result<Vec<Port>, BackendError> {
        self.calls.push("opened-ports");
        Ok(self.txn.opened_ports.clone())
    }

    fn storage_list(&mut self, name: &str) -> Result<Vec<StorageId>, BackendError> {
        self.calls.push("storage-list");
        Ok(self
            .txn
            .storage
            .keys()
            .filter(|id| id.name == name)
            .cloned()
            .collect())
    }

    fn storage_get(&mut self, id: &StorageId) -> Result<StorageInfo, BackendError> {
        self.calls.push("storage-get");
        self.txn
            .storage
            .get(id)
            .cloned()
            .ok_or_else(|| BackendError::Refused(format!("storage {id} not found")))
    }

    fn storage_add(&mut self, name: &str, count: u32) -> Result<(), BackendError> {
        self.calls.push("storage-add");
        if count == 0 {
            return Err(BackendError::Refused(
                "storage-add: the count must be at least 1".into(),
            ));
        }
        let n = self.txn.storage_added.entry(name.to_owned()).or_insert(0);
        *n = n.saturating_add(count);
        Ok(())
    }

    fn network_get(
        &mut self,
        binding: &str,
        relation: Option<RelationId>,
    ) -> Result<serde_json::Value, BackendError> {
        self.calls.push("network-get");
        if let Some(r) = relation {
            self.rel(r)?;
        }
        if let Some(v) = self.txn.networks.get(binding) {
            return Ok(v.clone());
        }
        if !self.meta.endpoints.contains_key(binding) {
            return Err(BackendError::Refused(format!(
                "no network config found for binding {binding:?}"
            )));
        }
        Ok(serde_json::json!({
            "bind-addresses": [{"mac-address": "", "interface-name": "eth0",
                "addresses": [{"hostname": "", "value": "10.0.0.1", "address": "10.0.0.1", "cidr": "10.0.0.0/24"}]}],
            "egress-subnets": ["10.0.0.1/32"],
            "ingress-addresses": ["10.0.0.1"],
        }))
    }

    fn reboot(&mut self, _now: bool) -> Result<(), BackendError> {
        self.calls.push("juju-reboot");
        self.both(|st| st.reboot_requested = true);
        Ok(())
    }

    fn write_file(&mut self, path: &std::path::Path, content: &[u8], mode: u32) -> Result<(), BackendError> {
        self.calls.push("write-file");
        let entry = (path.to_owned(), (content.to_vec(), mode));
        self.both(|st| {
            st.files.insert(entry.0.clone(), entry.1.clone());
        });
        Ok(())
    }

    fn read_file(&mut self, path: &std::path::Path) -> Result<Option<Vec<u8>>, BackendError> {
        self.calls.push("read-file");
        Ok(self.txn.files.get(path).map(|(c, _)| c.clone()))
    }

    fn random_bytes(&mut self, buf: &mut [u8]) -> Result<(), BackendError> {
        // Deterministic: the same state gives the same bytes, so tests replay.
        for b in buf.iter_mut() {
            self.random_counter = self.random_counter.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.random_counter;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            *b = (z ^ (z >> 31)) as u8;
        }
        Ok(())
    }

    fn load_stored_state(&mut self) -> Result<Option<String>, BackendError> {
        Ok(self.txn.stored.clone())
    }

    fn save_stored_state(&mut self, document: &str) -> Result<(), BackendError> {
        self.txn.stored = Some(document.to_owned());
        Ok(())
    }
}
