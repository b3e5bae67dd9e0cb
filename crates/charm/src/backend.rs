//! The one seam between a charm and the world: every call a hook makes to Juju, the clock, the
//! hostname and the workload goes through [`Backend`].
//!
//! Two backends ship here: [`crate::HookTools`] (real hook-tool commands, for Juju and the
//! simulator's process driver) and the in-memory one behind [`crate::testing`]. The simulator
//! provides a third, in-process.

use crate::model::*;
use crate::names::{AppName, RelationId, UnitName};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// A failed backend call.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// A hook tool exited non-zero.
    #[error("{tool} failed (exit code {code:?}): {stderr}")]
    Tool {
        /// The tool.
        tool: String,
        /// Its exit code.
        code: Option<i32>,
        /// Its standard error, trimmed.
        stderr: String,
    },
    /// A hook tool could not be started.
    #[error("cannot run {tool}: {source}")]
    Spawn {
        /// The tool.
        tool: String,
        /// Why.
        source: std::io::Error,
    },
    /// A hook tool printed something that is not what it should print.
    #[error("{tool} printed unexpected output: {detail}")]
    Output {
        /// The tool.
        tool: String,
        /// What was wrong (never secret content).
        detail: String,
    },
    /// The relation does not exist (any more).
    #[error("relation {0} not found")]
    RelationNotFound(RelationId),
    /// The secret does not exist or this unit cannot see it.
    #[error("secret not found")]
    SecretNotFound,
    /// The call needs leadership and this unit is not the leader.
    #[error("{0}: this unit is not the leader")]
    NotLeader(&'static str),
    /// The call breaks one of Juju's rules (another unit's bag, a bag too large, ...).
    #[error("{0}")]
    Refused(String),
    /// The workload command could not be run at all.
    #[error("cannot run workload command {command}: {reason}")]
    Workload {
        /// The command, with secret arguments redacted.
        command: String,
        /// Why.
        reason: String,
    },
    /// Stored state could not be read or written.
    #[error("stored state: {0}")]
    Storage(String),
    /// The backend does not offer this call.
    #[error("{0} is not available in this backend")]
    Unsupported(&'static str),
}

/// Everything a hook can ask of Juju and of its machine.
///
/// The methods mirror Juju's hook tools one for one; [`crate::Context`] builds the charm-facing
/// model (caching, access rules) on top. A backend does not enforce the commit rules itself under
/// real Juju (the agent does); in-memory backends must buffer relation data, stored state and
/// secrets until the hook succeeds.
pub trait Backend {
    /// `relation-ids <endpoint>`.
    fn relation_ids(&mut self, endpoint: &str) -> Result<Vec<RelationId>, BackendError>;
    /// `relation-list -r <id>`: the remote units (peers other than this unit) in the relation.
    fn relation_list(&mut self, id: RelationId) -> Result<Vec<UnitName>, BackendError>;
    /// `relation-list --app -r <id>`: the remote application.
    fn relation_remote_app(&mut self, id: RelationId) -> Result<Option<AppName>, BackendError>;
    /// `relation-get - <unit-or-app>`: one whole bag (this unit's own shows its uncommitted writes).
    fn relation_get(&mut self, id: RelationId, owner: &BagOwner) -> Result<Databag, BackendError>;
    /// `relation-get <key> <unit-or-app>`: one key of a bag (`None` if absent). The default reads
    /// the whole bag; a backend that can read one key for less (a large bag of which the charm
    /// needs a few keys) overrides it.
    fn relation_get_key(
        &mut self,
        id: RelationId,
        owner: &BagOwner,
        key: &str,
    ) -> Result<Option<String>, BackendError> {
        Ok(self.relation_get(id, owner)?.remove(key))
    }
    /// `relation-set`: writes to this unit's or this application's bag; an empty value deletes.
    fn relation_set(
        &mut self,
        id: RelationId,
        scope: BagScope,
        changes: &Databag,
    ) -> Result<(), BackendError>;

    /// `is-leader`.
    fn is_leader(&mut self) -> Result<bool, BackendError>;
    /// `config-get`: every option that has a value.
    fn config_get(&mut self) -> Result<BTreeMap<String, ConfigValue>, BackendError>;
    /// `status-set`.
    fn status_set(&mut self, target: StatusTarget, status: &Status) -> Result<(), BackendError>;
    /// `status-get`.
    fn status_get(&mut self, target: StatusTarget) -> Result<Status, BackendError>;
    /// `juju-log`.
    fn juju_log(&mut self, level: LogLevel, message: &str) -> Result<(), BackendError>;

    /// `leader-get -`: all leader settings.
    fn leader_get(&mut self) -> Result<Databag, BackendError>;
    /// `leader-set k=v ...`: immediate, not rolled back; an empty value deletes.
    fn leader_set(&mut self, changes: &Databag) -> Result<(), BackendError>;

    /// `state-get`: this unit's controller-side state.
    fn state_get(&mut self) -> Result<BTreeMap<String, String>, BackendError>;
    /// `state-set`.
    fn state_set(&mut self, changes: &BTreeMap<String, String>) -> Result<(), BackendError>;
    /// `state-delete`.
    fn state_delete(&mut self, key: &str) -> Result<(), BackendError>;

    /// `secret-add`: returns the new secret's id.
    fn secret_add(
        &mut self,
        content: &SecretContent,
        options: &SecretOptions,
    ) -> Result<String, BackendError>;
    /// `secret-get`.
    fn secret_get(&mut self, secret: &SecretRef, read: SecretRead) -> Result<SecretContent, BackendError>;
    /// `secret-set`: a new revision and/or new options.
    fn secret_set(
        &mut self,
        id: &str,
        content: Option<&SecretContent>,
        options: &SecretOptions,
    ) -> Result<(), BackendError>;
    /// `secret-grant`.
    fn secret_grant(
        &mut self,
        id: &str,
        relation: RelationId,
        unit: Option<&UnitName>,
    ) -> Result<(), BackendError>;
    /// `secret-revoke`.
    fn secret_revoke(
        &mut self,
        id: &str,
        relation: RelationId,
        target: &RevokeTarget,
    ) -> Result<(), BackendError>;
    /// `secret-remove`.
    fn secret_remove(&mut self, id: &str, revision: Option<u64>) -> Result<(), BackendError>;
    /// `secret-info-get`.
    fn secret_info_get(&mut self, secret: &SecretRef) -> Result<SecretInfo, BackendError>;
    /// `secret-ids`.
    fn secret_ids(&mut self) -> Result<Vec<String>, BackendError>;

    /// `application-version-set`.
    fn application_version_set(&mut self, version: &str) -> Result<(), BackendError>;
    /// `action-get`: the action's parameters.
    fn action_get(&mut self) -> Result<serde_json::Map<String, serde_json::Value>, BackendError>;
    /// `action-set`, with keys already flattened to dotted form.
    fn action_set(&mut self, results: &BTreeMap<String, String>) -> Result<(), BackendError>;
    /// `action-fail`.
    fn action_fail(&mut self, message: &str) -> Result<(), BackendError>;
    /// `action-log`.
    fn action_log(&mut self, message: &str) -> Result<(), BackendError>;
    /// `goal-state`.
    fn goal_state(&mut self) -> Result<GoalState, BackendError>;

    /// `open-port [--endpoints a,b] <port>`.
    fn open_port(&mut self, _port: &Port, _endpoints: &[String]) -> Result<(), BackendError> {
        Err(BackendError::Unsupported("open-port"))
    }
    /// `close-port [--endpoints a,b] <port>`.
    fn close_port(&mut self, _port: &Port, _endpoints: &[String]) -> Result<(), BackendError> {
        Err(BackendError::Unsupported("close-port"))
    }
    /// `opened-ports`.
    fn opened_ports(&mut self) -> Result<Vec<Port>, BackendError> {
        Err(BackendError::Unsupported("opened-ports"))
    }
    /// `network-get [-r <id>] <binding>`: Juju's JSON answer (`bind-addresses`,
    /// `egress-subnets`, `ingress-addresses`).
    fn network_get(
        &mut self,
        _binding: &str,
        _relation: Option<RelationId>,
    ) -> Result<serde_json::Value, BackendError> {
        Err(BackendError::Unsupported("network-get"))
    }
    /// `juju-reboot [--now]`: reboot the machine after the hook (or at once).
    fn reboot(&mut self, _now: bool) -> Result<(), BackendError> {
        Err(BackendError::Unsupported("juju-reboot"))
    }

    /// `storage-list --format=json <name>`: the instances of the storage `name` attached to
    /// this unit.
    fn storage_list(&mut self, _name: &str) -> Result<Vec<StorageId>, BackendError> {
        Err(BackendError::Unsupported("storage-list"))
    }
    /// `storage-get --format=json -s <id>`: the instance's kind and location.
    fn storage_get(&mut self, _id: &StorageId) -> Result<StorageInfo, BackendError> {
        Err(BackendError::Unsupported("storage-get"))
    }
    /// `storage-add <name>=<count>`: asks Juju for `count` more instances (committed with the
    /// hook, as relation data is).
    fn storage_add(&mut self, _name: &str, _count: u32) -> Result<(), BackendError> {
        Err(BackendError::Unsupported("storage-add"))
    }

    /// The time now on this unit's machine (the simulator may skew it).
    fn now(&mut self) -> SystemTime;
    /// This unit's machine hostname.
    fn hostname(&mut self) -> Result<String, BackendError>;
    /// Runs a workload command (`microovn cluster list -f json`, `systemctl restart ...`).
    fn run_command(&mut self, command: &WorkloadCommand) -> Result<CommandOutput, BackendError>;
    /// Arranges for the custom event `name` to be dispatched to this unit after `delay` (under
    /// Juju: a detached process that waits, then runs `juju-exec`).
    fn schedule_event(&mut self, name: &str, delay: Duration) -> Result<(), BackendError>;

    /// Fills `buf` with random bytes (passwords, nonces). Under Juju they come from the
    /// kernel; the simulator draws them from its seed so that runs replay.
    fn random_bytes(&mut self, buf: &mut [u8]) -> Result<(), BackendError> {
        use std::io::Read;
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(buf))
            .map_err(|e| BackendError::Storage(format!("cannot read /dev/urandom: {e}")))
    }

    /// Writes a file on the unit's machine (a workload's config, a password file), replacing it
    /// atomically, with permission bits `mode`. Not rolled back if the hook fails: the machine's
    /// disk is not part of Juju's transaction. The simulator keeps each machine's files apart.
    fn write_file(&mut self, path: &Path, content: &[u8], mode: u32) -> Result<(), BackendError> {
        let fail = |e: std::io::Error| BackendError::Storage(format!("cannot write {}: {e}", path.display()));
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        crate::hook_tools::atomic_write_mode(path, content, mode).map_err(fail)
    }

    /// Reads a file on the unit's machine; `None` if it does not exist.
    fn read_file(&mut self, path: &Path) -> Result<Option<Vec<u8>>, BackendError> {
        match std::fs::read(path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(BackendError::Storage(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }

    /// Reads the framework's stored state document (stored state and deferred events), if any.
    fn load_stored_state(&mut self) -> Result<Option<String>, BackendError>;
    /// Writes the framework's stored state document; called only when the hook succeeds.
    fn save_stored_state(&mut self, document: &str) -> Result<(), BackendError>;
}
