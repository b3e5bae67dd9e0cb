//! [`Context`]: the model a handler reads and writes, with Juju's access rules and per-hook
//! caches.

use crate::backend::{Backend, BackendError};
use crate::event::{Event, JujuVersion};
use crate::metadata::{Metadata, MetadataSource};
use crate::model::*;
use crate::names::{AppName, RelationId, UnitName};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

/// A model operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The backend (a hook tool, the simulator) failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// Juju's rules forbid reading this bag.
    #[error("cannot read the {owner} databag of relation {relation}: {reason}")]
    ReadDenied {
        /// The relation.
        relation: RelationId,
        /// Whose bag.
        owner: BagOwner,
        /// The rule.
        reason: &'static str,
    },
    /// Juju's rules forbid writing this bag.
    #[error("cannot write the {owner} databag of relation {relation}: {reason}")]
    WriteDenied {
        /// The relation.
        relation: RelationId,
        /// Whose bag.
        owner: BagOwner,
        /// The rule.
        reason: &'static str,
    },
    /// Only the leader may do this.
    #[error("{0}: only the leader may do this")]
    NotLeader(&'static str),
    /// The charm's metadata has no such endpoint.
    #[error("the charm has no endpoint {0:?}")]
    UnknownEndpoint(String),
    /// The relation is not one of this unit's.
    #[error("relation {0} is not one of this unit's relations")]
    UnknownRelation(RelationId),
    /// A config option holds another type than asked for.
    #[error("config option {key:?} is a {found}, not a {expected}")]
    ConfigType {
        /// The option.
        key: String,
        /// The type asked for.
        expected: &'static str,
        /// The type it holds.
        found: &'static str,
    },
    /// A stored value does not deserialize into the type asked for.
    #[error("stored value {key:?}: {reason}")]
    Stored {
        /// The key.
        key: String,
        /// Why.
        reason: String,
    },
    /// The charm's metadata could not be read.
    #[error("charm metadata: {0}")]
    Metadata(String),
    /// An argument is invalid (an action result with a bad key, ...).
    #[error("{0}")]
    Invalid(String),
}

/// The charm's config, typed as `config-get` reports it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config(pub BTreeMap<String, ConfigValue>);

macro_rules! config_getter {
    ($name:ident, $variant:ident, $ty:ty, $tyname:literal) => {
        #[doc = concat!("The option as a ", $tyname, "; `None` if it has no value.")]
        pub fn $name(&self, key: &str) -> Result<Option<$ty>, ModelError> {
            match self.0.get(key) {
                None => Ok(None),
                Some(ConfigValue::$variant(v)) => Ok(Some(v.clone())),
                Some(other) => Err(ModelError::ConfigType {
                    key: key.to_owned(),
                    expected: $tyname,
                    found: other.type_name(),
                }),
            }
        }
    };
}

impl Config {
    config_getter!(string, String, String, "string");
    config_getter!(boolean, Bool, bool, "boolean");
    config_getter!(int, Int, i64, "int");

    /// The option as a float (an int value is accepted); `None` if it has no value.
    pub fn float(&self, key: &str) -> Result<Option<f64>, ModelError> {
        match self.0.get(key) {
            None => Ok(None),
            Some(ConfigValue::Float(v)) => Ok(Some(*v)),
            Some(ConfigValue::Int(v)) => Ok(Some(*v as f64)),
            Some(other) => Err(ModelError::ConfigType {
                key: key.to_owned(),
                expected: "float",
                found: other.type_name(),
            }),
        }
    }
}

/// Everything one hook can see and change.
///
/// A `Context` lives for one hook. It caches what it reads (leadership, relations, bags,
/// config), so a handler pays once for each bag it reads, and shows its own writes at once.
pub struct Context<'a> {
    backend: &'a mut dyn Backend,
    meta: &'a dyn MetadataSource,
    unit: UnitName,
    app: AppName,
    juju_version: JujuVersion,
    event_relation: Option<(RelationId, String, Option<AppName>, bool)>,
    leader: Option<bool>,
    hostname: Option<String>,
    relation_ids: HashMap<String, Vec<RelationId>>,
    relations: HashMap<RelationId, Relation>,
    bags: HashMap<(RelationId, BagOwner), Databag>,
    keys: HashMap<(RelationId, BagOwner, String), Option<String>>,
    config: Option<Config>,
    leader_settings: Option<Databag>,
    pub(crate) stored: BTreeMap<String, serde_json::Value>,
    pub(crate) stored_dirty: bool,
    pub(crate) defer_requested: bool,
}

impl<'a> Context<'a> {
    /// A context for one hook of `unit`, handling `event`.
    pub fn new(
        backend: &'a mut dyn Backend,
        meta: &'a dyn MetadataSource,
        unit: UnitName,
        juju_version: JujuVersion,
        event: &Event,
    ) -> Self {
        let event_relation = event.relation().map(|r| {
            (
                r.relation_id,
                r.endpoint.clone(),
                r.remote_app.clone(),
                matches!(event, Event::RelationBroken(_)),
            )
        });
        let app = unit.app();
        Self {
            backend,
            meta,
            unit,
            app,
            juju_version,
            event_relation,
            leader: None,
            hostname: None,
            relation_ids: HashMap::new(),
            relations: HashMap::new(),
            bags: HashMap::new(),
            keys: HashMap::new(),
            config: None,
            leader_settings: None,
            stored: BTreeMap::new(),
            stored_dirty: false,
            defer_requested: false,
        }
    }

    /// This unit.
    pub fn unit(&self) -> &UnitName {
        &self.unit
    }

    /// This application.
    pub fn app(&self) -> &AppName {
        &self.app
    }

    /// The charm's metadata (read from the charm directory the first time it is needed).
    pub fn meta(&self) -> Result<&'a Metadata, ModelError> {
        self.meta
            .metadata()
            .map_err(|e| ModelError::Metadata(e.to_string()))
    }

    /// The Juju version running this hook.
    pub fn juju_version(&self) -> JujuVersion {
        self.juju_version
    }

    /// Direct access to the backend, for calls the model does not wrap.
    pub fn backend(&mut self) -> &mut dyn Backend {
        &mut *self.backend
    }

    /// Whether this unit is the leader (asked once per hook).
    pub fn is_leader(&mut self) -> Result<bool, ModelError> {
        if let Some(l) = self.leader {
            return Ok(l);
        }
        let l = self.backend.is_leader()?;
        self.leader = Some(l);
        Ok(l)
    }

    // ----- relations -----

    /// The ids of the relations on `endpoint` (a broken relation is hidden in its own
    /// relation-broken hook, as ops does).
    pub fn relation_ids(&mut self, endpoint: &str) -> Result<Vec<RelationId>, ModelError> {
        if !self.meta()?.endpoints.contains_key(endpoint) {
            return Err(ModelError::UnknownEndpoint(endpoint.to_owned()));
        }
        if let Some(ids) = self.relation_ids.get(endpoint) {
            return Ok(ids.clone());
        }
        let mut ids = self.backend.relation_ids(endpoint)?;
        if let Some((broken_id, ep, _, true)) = &self.event_relation {
            if ep == endpoint {
                ids.retain(|id| id != broken_id);
            }
        }
        self.relation_ids.insert(endpoint.to_owned(), ids.clone());
        Ok(ids)
    }

    /// The relations on `endpoint`.
    pub fn relations(&mut self, endpoint: &str) -> Result<Vec<Relation>, ModelError> {
        let ids = self.relation_ids(endpoint)?;
        ids.into_iter().map(|id| self.relation(id).cloned()).collect()
    }

    /// The one relation on `endpoint`, if any (the first, by id, if there are several).
    pub fn relation_on(&mut self, endpoint: &str) -> Result<Option<Relation>, ModelError> {
        let ids = self.relation_ids(endpoint)?;
        match ids.into_iter().min() {
            Some(id) => Ok(Some(self.relation(id)?.clone())),
            None => Ok(None),
        }
    }

    fn endpoint_of(&mut self, id: RelationId) -> Result<String, ModelError> {
        if let Some(r) = self.relations.get(&id) {
            return Ok(r.endpoint.clone());
        }
        if let Some((eid, ep, _, _)) = &self.event_relation {
            if *eid == id {
                return Ok(ep.clone());
            }
        }
        let endpoints: Vec<String> = self.meta()?.endpoints.keys().cloned().collect();
        for ep in endpoints {
            if self.relation_ids(&ep)?.contains(&id) {
                return Ok(ep);
            }
        }
        Err(ModelError::UnknownRelation(id))
    }

    /// One relation, by id: its endpoint, remote application and remote units.
    pub fn relation(&mut self, id: RelationId) -> Result<&Relation, ModelError> {
        if !self.relations.contains_key(&id) {
            let endpoint = self.endpoint_of(id)?;
            let units = self.backend.relation_list(id)?;
            let app = match &self.event_relation {
                Some((eid, _, Some(app), _)) if *eid == id => Some(app.clone()),
                _ if self.meta()?.is_peer(&endpoint) => Some(self.app.clone()),
                _ => match units.first() {
                    Some(u) => Some(u.app()),
                    None => self.backend.relation_remote_app(id)?,
                },
            };
            self.relations.insert(
                id,
                Relation {
                    id,
                    endpoint,
                    app,
                    units,
                },
            );
        }
        Ok(&self.relations[&id])
    }

    fn is_peer_relation(&mut self, id: RelationId) -> Result<bool, ModelError> {
        let ep = self.endpoint_of(id)?;
        Ok(self.meta()?.is_peer(&ep))
    }

    /// A databag of relation `id`, with Juju's read rules: every unit bag and the remote app bag
    /// are readable; this application's bag only by the leader, or by any unit in a peer
    /// relation.
    pub fn data(&mut self, id: RelationId, owner: &BagOwner) -> Result<&Databag, ModelError> {
        self.check_read(id, owner)?;
        let key = (id, owner.clone());
        if !self.bags.contains_key(&key) {
            let bag = self.backend.relation_get(id, owner)?;
            self.bags.insert(key.clone(), bag);
        }
        Ok(&self.bags[&key])
    }

    /// One key of a databag of relation `id` (`None` if absent), with the read rules of
    /// [`Context::data`]. Reading a few keys of a large bag this way costs what those keys
    /// cost (`relation-get <key> <unit>`), not the whole bag; a bag already read whole answers
    /// from the cache, and each key is read once per hook.
    pub fn data_key(
        &mut self,
        id: RelationId,
        owner: &BagOwner,
        key: &str,
    ) -> Result<Option<String>, ModelError> {
        self.check_read(id, owner)?;
        if let Some(bag) = self.bags.get(&(id, owner.clone())) {
            return Ok(bag.get(key).cloned());
        }
        let cache_key = (id, owner.clone(), key.to_owned());
        if let Some(v) = self.keys.get(&cache_key) {
            return Ok(v.clone());
        }
        let v = self
            .backend
            .relation_get_key(id, owner, key)?
            .filter(|v| !v.is_empty());
        self.keys.insert(cache_key, v.clone());
        Ok(v)
    }

    fn check_read(&mut self, id: RelationId, owner: &BagOwner) -> Result<(), ModelError> {
        if let BagOwner::App(a) = owner {
            if *a == self.app && !self.is_peer_relation(id)? && !self.is_leader()? {
                return Err(ModelError::ReadDenied {
                    relation: id,
                    owner: owner.clone(),
                    reason: "only the leader reads its own application's bag outside a peer relation",
                });
            }
        }
        Ok(())
    }

    /// This unit's own bag in relation `id`.
    pub fn unit_data(&mut self, id: RelationId) -> Result<&Databag, ModelError> {
        let owner = BagOwner::Unit(self.unit.clone());
        self.data(id, &owner)
    }

    /// This application's bag in relation `id` (the shared bag of a peer relation).
    pub fn app_data(&mut self, id: RelationId) -> Result<&Databag, ModelError> {
        let owner = BagOwner::App(self.app.clone());
        self.data(id, &owner)
    }

    /// The remote application's bag in relation `id` (this application's, for a peer relation).
    pub fn remote_app_data(&mut self, id: RelationId) -> Result<Databag, ModelError> {
        match self.relation(id)?.app.clone() {
            Some(app) => Ok(self.data(id, &BagOwner::App(app))?.clone()),
            None => Ok(Databag::new()),
        }
    }

    /// Writes to one of this unit's bags, with Juju's write rules: a unit writes its own bag, and
    /// its application's bag only when it is the leader. `None` (or an empty string) deletes a
    /// key. The change is visible to this hook at once and committed when the hook succeeds.
    pub fn write(
        &mut self,
        id: RelationId,
        owner: &BagOwner,
        changes: impl IntoIterator<Item = (String, Option<String>)>,
    ) -> Result<(), ModelError> {
        let scope = match owner {
            BagOwner::Unit(u) if *u == self.unit => BagScope::Unit,
            BagOwner::App(a) if *a == self.app => {
                if !self.is_leader()? {
                    return Err(ModelError::WriteDenied {
                        relation: id,
                        owner: owner.clone(),
                        reason: "only the leader writes its application's bag",
                    });
                }
                BagScope::App
            }
            _ => {
                return Err(ModelError::WriteDenied {
                    relation: id,
                    owner: owner.clone(),
                    reason: "a unit writes only its own bag and its own application's",
                })
            }
        };
        // Make sure the relation is ours before writing (a typed error, not a tool failure).
        self.endpoint_of(id)?;
        let changes: Databag = changes
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect();
        if changes.is_empty() {
            return Ok(());
        }
        if let Some(k) = changes.keys().find(|k| k.is_empty()) {
            return Err(ModelError::Invalid(format!("relation data key {k:?} is empty")));
        }
        self.backend.relation_set(id, scope, &changes)?;
        for (k, v) in &changes {
            if let Some(cached) = self.keys.get_mut(&(id, owner.clone(), k.clone())) {
                *cached = Some(v.clone()).filter(|v| !v.is_empty());
            }
        }
        if let Some(bag) = self.bags.get_mut(&(id, owner.clone())) {
            for (k, v) in changes {
                if v.is_empty() {
                    bag.remove(&k);
                } else {
                    bag.insert(k, v);
                }
            }
        }
        Ok(())
    }

    /// Sets (or, with `None`, deletes) one key in this unit's bag.
    pub fn set_unit_data(
        &mut self,
        id: RelationId,
        key: &str,
        value: Option<&str>,
    ) -> Result<(), ModelError> {
        let owner = BagOwner::Unit(self.unit.clone());
        self.write(id, &owner, [(key.to_owned(), value.map(str::to_owned))])
    }

    /// Sets (or, with `None`, deletes) one key in this application's bag (leader only).
    pub fn set_app_data(&mut self, id: RelationId, key: &str, value: Option<&str>) -> Result<(), ModelError> {
        let owner = BagOwner::App(self.app.clone());
        self.write(id, &owner, [(key.to_owned(), value.map(str::to_owned))])
    }

    // ----- config, status, logs -----

    /// The charm's config (read once per hook).
    pub fn config(&mut self) -> Result<&Config, ModelError> {
        if self.config.is_none() {
            self.config = Some(Config(self.backend.config_get()?));
        }
        Ok(self.config.get_or_insert_with(Config::default))
    }

    /// Sets this unit's status (immediately; not rolled back if the hook fails).
    pub fn set_status(&mut self, status: Status) -> Result<(), ModelError> {
        Ok(self.backend.status_set(StatusTarget::Unit, &status)?)
    }

    /// Sets the application's status (leader only).
    pub fn set_app_status(&mut self, status: Status) -> Result<(), ModelError> {
        if !self.is_leader()? {
            return Err(ModelError::NotLeader("set the application status"));
        }
        Ok(self.backend.status_set(StatusTarget::App, &status)?)
    }

    /// This unit's status.
    pub fn status(&mut self) -> Result<Status, ModelError> {
        Ok(self.backend.status_get(StatusTarget::Unit)?)
    }

    /// The application's status (leader only, as in Juju).
    pub fn app_status(&mut self) -> Result<Status, ModelError> {
        if !self.is_leader()? {
            return Err(ModelError::NotLeader("read the application status"));
        }
        Ok(self.backend.status_get(StatusTarget::App)?)
    }

    /// Writes to the Juju log. Logging never fails a hook: a failure to log is reported to
    /// standard error instead.
    pub fn log(&mut self, level: LogLevel, message: impl AsRef<str>) {
        let message = message.as_ref();
        if let Err(e) = self.backend.juju_log(level, message) {
            eprintln!("juju-log failed ({e}); the message was: {message}");
        }
    }

    /// Logs at DEBUG.
    pub fn debug(&mut self, message: impl AsRef<str>) {
        self.log(LogLevel::Debug, message)
    }
    /// Logs at INFO.
    pub fn info(&mut self, message: impl AsRef<str>) {
        self.log(LogLevel::Info, message)
    }
    /// Logs at WARNING.
    pub fn warn(&mut self, message: impl AsRef<str>) {
        self.log(LogLevel::Warning, message)
    }
    /// Logs at ERROR.
    pub fn error(&mut self, message: impl AsRef<str>) {
        self.log(LogLevel::Error, message)
    }

    // ----- leader settings -----

    /// All leader settings (`leader-get`; Juju 3.x only).
    pub fn leader_settings(&mut self) -> Result<&Databag, ModelError> {
        if self.leader_settings.is_none() {
            self.leader_settings = Some(self.backend.leader_get()?);
        }
        Ok(self.leader_settings.get_or_insert_with(Databag::new))
    }

    /// One leader setting.
    pub fn leader_get(&mut self, key: &str) -> Result<Option<String>, ModelError> {
        Ok(self.leader_settings()?.get(key).cloned())
    }

    /// Writes leader settings (leader only; immediate and never rolled back). `None` deletes.
    pub fn leader_set(
        &mut self,
        changes: impl IntoIterator<Item = (String, Option<String>)>,
    ) -> Result<(), ModelError> {
        if !self.is_leader()? {
            return Err(ModelError::NotLeader("leader-set"));
        }
        let changes: Databag = changes
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect();
        if changes.is_empty() {
            return Ok(());
        }
        self.backend.leader_set(&changes)?;
        if let Some(s) = &mut self.leader_settings {
            for (k, v) in changes {
                if v.is_empty() {
                    s.remove(&k);
                } else {
                    s.insert(k, v);
                }
            }
        }
        Ok(())
    }

    // ----- stored state -----

    /// A stored value, or `T::default()` if none is stored. Stored state survives between hooks
    /// and is committed only when the hook succeeds.
    pub fn stored<T: DeserializeOwned + Default>(&self, key: &str) -> Result<T, ModelError> {
        match self.stored.get(key) {
            None => Ok(T::default()),
            Some(v) => T::deserialize(v).map_err(|e| ModelError::Stored {
                key: key.to_owned(),
                reason: e.to_string(),
            }),
        }
    }

    /// Stores a value under `key` (committed when the hook succeeds).
    pub fn set_stored<T: Serialize>(&mut self, key: &str, value: &T) -> Result<(), ModelError> {
        let v = serde_json::to_value(value).map_err(|e| ModelError::Stored {
            key: key.to_owned(),
            reason: e.to_string(),
        })?;
        if self.stored.get(key) != Some(&v) {
            self.stored.insert(key.to_owned(), v);
            self.stored_dirty = true;
        }
        Ok(())
    }

    /// Removes a stored value.
    pub fn remove_stored(&mut self, key: &str) {
        if self.stored.remove(key).is_some() {
            self.stored_dirty = true;
        }
    }

    // ----- deferral -----

    /// Defers the current event for the current handler: it runs again, before the next event,
    /// for this handler only.
    pub fn defer(&mut self) {
        self.defer_requested = true;
    }

    // ----- secrets -----

    /// Creates a secret; returns its id.
    pub fn secret_add(
        &mut self,
        content: &SecretContent,
        options: &SecretOptions,
    ) -> Result<String, ModelError> {
        Ok(self.backend.secret_add(content, options)?)
    }
    /// Reads a secret's content.
    pub fn secret_get(&mut self, secret: &SecretRef, read: SecretRead) -> Result<SecretContent, ModelError> {
        Ok(self.backend.secret_get(secret, read)?)
    }
    /// Sets a secret's content (a new revision) and/or options.
    pub fn secret_set(
        &mut self,
        id: &str,
        content: Option<&SecretContent>,
        options: &SecretOptions,
    ) -> Result<(), ModelError> {
        Ok(self.backend.secret_set(id, content, options)?)
    }
    /// Grants a secret to a relation's application, or one of its units.
    pub fn secret_grant(
        &mut self,
        id: &str,
        relation: RelationId,
        unit: Option<&UnitName>,
    ) -> Result<(), ModelError> {
        Ok(self.backend.secret_grant(id, relation, unit)?)
    }
    /// Revokes a secret.
    pub fn secret_revoke(
        &mut self,
        id: &str,
        relation: RelationId,
        target: &RevokeTarget,
    ) -> Result<(), ModelError> {
        Ok(self.backend.secret_revoke(id, relation, target)?)
    }
    /// Removes a secret (one revision, or all).
    pub fn secret_remove(&mut self, id: &str, revision: Option<u64>) -> Result<(), ModelError> {
        Ok(self.backend.secret_remove(id, revision)?)
    }
    /// Describes an owned secret.
    pub fn secret_info(&mut self, secret: &SecretRef) -> Result<SecretInfo, ModelError> {
        Ok(self.backend.secret_info_get(secret)?)
    }
    /// The ids of the secrets this unit or application owns.
    pub fn secret_ids(&mut self) -> Result<Vec<String>, ModelError> {
        Ok(self.backend.secret_ids()?)
    }

    // ----- misc -----

    /// Sets the workload version shown by `juju status`.
    pub fn set_workload_version(&mut self, version: &str) -> Result<(), ModelError> {
        Ok(self.backend.application_version_set(version)?)
    }

    /// The running action's parameters.
    pub fn action_params(&mut self) -> Result<serde_json::Map<String, serde_json::Value>, ModelError> {
        Ok(self.backend.action_get()?)
    }

    /// Sets action results; nested objects become dotted keys, as Juju expects.
    ///
    /// Keys must be lowercase letters, digits, dashes and dots; a key set twice (`a.b` and `a: {b}`)
    /// is an error.
    pub fn action_set(
        &mut self,
        results: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), ModelError> {
        let mut flat = BTreeMap::new();
        flatten("", results, &mut flat)?;
        Ok(self.backend.action_set(&flat)?)
    }

    /// Marks the running action failed.
    pub fn action_fail(&mut self, message: &str) -> Result<(), ModelError> {
        Ok(self.backend.action_fail(message)?)
    }

    /// Logs progress of the running action.
    pub fn action_log(&mut self, message: &str) -> Result<(), ModelError> {
        Ok(self.backend.action_log(message)?)
    }

    /// Juju's goal state: the units and relations the model is heading to.
    pub fn goal_state(&mut self) -> Result<GoalState, ModelError> {
        Ok(self.backend.goal_state()?)
    }

    /// The attached instances of the storage `name` (`storage-list`), such as `data/0`.
    pub fn storage_list(&mut self, name: &str) -> Result<Vec<StorageId>, ModelError> {
        Ok(self.backend.storage_list(name)?)
    }

    /// A storage instance's kind and location (`storage-get`): where a filesystem is mounted.
    pub fn storage_get(&mut self, id: &StorageId) -> Result<StorageInfo, ModelError> {
        Ok(self.backend.storage_get(id)?)
    }

    /// Every attached instance of the storage `name`, with its kind and location.
    pub fn storages(&mut self, name: &str) -> Result<Vec<(StorageId, StorageInfo)>, ModelError> {
        let ids = self.storage_list(name)?;
        ids.into_iter()
            .map(|id| {
                let info = self.storage_get(&id)?;
                Ok((id, info))
            })
            .collect()
    }

    /// Asks Juju for `count` more instances of the storage `name` (`storage-add`); like
    /// relation data, the request is committed only if the hook succeeds.
    pub fn storage_add(&mut self, name: &str, count: u32) -> Result<(), ModelError> {
        Ok(self.backend.storage_add(name, count)?)
    }

    /// The time on this unit's machine.
    pub fn now(&mut self) -> SystemTime {
        self.backend.now()
    }

    /// This machine's hostname (read once per hook).
    pub fn hostname(&mut self) -> Result<String, ModelError> {
        if let Some(h) = &self.hostname {
            return Ok(h.clone());
        }
        let h = self.backend.hostname()?;
        self.hostname = Some(h.clone());
        Ok(h)
    }

    /// Runs a workload command.
    pub fn run(&mut self, command: &WorkloadCommand) -> Result<CommandOutput, ModelError> {
        Ok(self.backend.run_command(command)?)
    }

    /// Writes a file on this unit's machine, atomically, with permission bits `mode` (not rolled
    /// back if the hook fails).
    pub fn write_file(
        &mut self,
        path: impl AsRef<std::path::Path>,
        content: &[u8],
        mode: u32,
    ) -> Result<(), ModelError> {
        Ok(self.backend.write_file(path.as_ref(), content, mode)?)
    }

    /// Reads a file on this unit's machine; `None` if it does not exist.
    pub fn read_file(&mut self, path: impl AsRef<std::path::Path>) -> Result<Option<Vec<u8>>, ModelError> {
        Ok(self.backend.read_file(path.as_ref())?)
    }

    /// `bytes` random bytes as lowercase hex (a password, a nonce).
    pub fn random_hex(&mut self, bytes: usize) -> Result<String, ModelError> {
        let mut buf = vec![0u8; bytes];
        self.backend.random_bytes(&mut buf)?;
        Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Dispatches the custom event `name` to this unit after `delay`.
    pub fn schedule(&mut self, name: &str, delay: Duration) -> Result<(), ModelError> {
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(ModelError::Invalid(format!(
                "custom event name {name:?} is not [a-zA-Z0-9_-]+"
            )));
        }
        Ok(self.backend.schedule_event(name, delay)?)
    }
}

fn flatten(
    prefix: &str,
    map: &serde_json::Map<String, serde_json::Value>,
    out: &mut BTreeMap<String, String>,
) -> Result<(), ModelError> {
    for (k, v) in map {
        if k.is_empty()
            || !k
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        {
            return Err(ModelError::Invalid(format!(
                "action result key {k:?} must be lowercase letters, digits, dashes and dots"
            )));
        }
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            serde_json::Value::Object(m) => flatten(&key, m, out)?,
            serde_json::Value::String(s) => {
                if out.insert(key.clone(), s.clone()).is_some() {
                    return Err(ModelError::Invalid(format!(
                        "action result key {key:?} set twice"
                    )));
                }
            }
            other => {
                if out.insert(key.clone(), other.to_string()).is_some() {
                    return Err(ModelError::Invalid(format!(
                        "action result key {key:?} set twice"
                    )));
                }
            }
        }
    }
    Ok(())
}
