//! [`Sim`]: the model, its builder API for tests, running, and what tests assert on.

use crate::config::{Fault, SimConfig, TraceMode};
use crate::engine::{dur, vt, QItem, QKind, SEC};
use crate::model::*;
use crate::rng::Rng;
use crate::secrets::Secret;
use crate::trace::{HookKind, Metrics, Trace, TraceSink};
use crate::workload::microcluster::Microcluster;
use crate::workload::Workload;
use charm::{
    AppName, BagOwner, Charm, ConfigValue, Databag, LogLevel, Metadata, RelationId, Role, Status, StatusName,
};
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::rc::Rc;
use std::time::Duration;

/// Something the test asked that the model refuses, or a run that did not settle.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimError {
    /// No such application.
    #[error("no application {0:?}")]
    UnknownApp(String),
    /// No such unit.
    #[error("no unit {0:?}")]
    UnknownUnit(String),
    /// No such relation.
    #[error("no relation {0}")]
    UnknownRelation(RelationId),
    /// A name is not valid.
    #[error("invalid name: {0}")]
    BadName(String),
    /// [`Sim::run_while`]'s condition still held when its time ran out.
    #[error("the condition still holds after {after:.1} s; seed={seed}; replay: {replay}")]
    StillRunning {
        /// Seconds run (virtual, or real with the process driver).
        after: f64,
        /// The seed.
        seed: u64,
        /// How to replay.
        replay: String,
    },
    /// Juju would refuse this (an unknown endpoint, mismatched interfaces, a limit reached, ...).
    #[error("{0}")]
    Refused(String),
    /// The model did not become idle within the bound on virtual time.
    #[error(
        "the model is not idle after {after:.1} s of virtual time ({pending} events pending); \
         seed={seed}; replay: {replay}"
    )]
    NotIdle {
        /// Virtual seconds run.
        after: f64,
        /// Events still queued.
        pending: u64,
        /// The seed.
        seed: u64,
        /// How to replay.
        replay: String,
    },
}

/// Where an action stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionStatus {
    /// Queued on its unit.
    Pending,
    /// Running.
    Running,
    /// Done.
    Completed,
    /// Failed (`action-fail`, or its hook failed).
    Failed,
}

/// An action run with [`Sim::run_action`].
#[derive(Debug, Clone, PartialEq)]
pub struct ActionRecord {
    /// Its id.
    pub id: usize,
    /// The unit.
    pub unit: String,
    /// The action's name.
    pub name: String,
    /// Its parameters.
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Where it stands.
    pub status: ActionStatus,
    /// Results set with `action-set`.
    pub results: BTreeMap<String, String>,
    /// The failure message.
    pub message: String,
    /// Lines logged with `action-log`.
    pub logs: Vec<String>,
    pub(crate) failed: bool,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Idle {
    /// Virtual time at which the model became quiescent: the last hook other than
    /// update-status ended (update-status kept running, and changed nothing).
    pub quiescent_at: Duration,
    /// Virtual time now (after the round of update-status that confirmed it).
    pub now: Duration,
}

/// One application in the status table and in assertions.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitInfo {
    /// The unit.
    pub name: String,
    /// Its life.
    pub life: Life,
    /// Whether its agent runs.
    pub agent_up: bool,
    /// Whether it is the leader.
    pub leader: bool,
    /// Its status (`error` while a hook is failing).
    pub status: Status,
    /// Its machine.
    pub machine: MachineSpec,
    /// Hooks it ran.
    pub hooks: u64,
}

/// A deterministic multi-unit Juju model. See the crate documentation.
pub struct Sim {
    pub(crate) seed: u64,
    pub(crate) cfg: SimConfig,
    pub(crate) rng: Rng,
    pub(crate) now: VTime,
    pub(crate) heap: BinaryHeap<QItem>,
    pub(crate) qseq: u64,
    pub(crate) work: u64,
    pub(crate) apps: Vec<App>,
    pub(crate) app_index: BTreeMap<String, AppId>,
    pub(crate) units: Vec<Unit>,
    pub(crate) unit_index: HashMap<String, UnitId>,
    pub(crate) rels: Vec<Rel>,
    pub(crate) next_machine: u32,
    pub(crate) secrets: BTreeMap<String, Secret>,
    pub(crate) next_secret: u64,
    pub(crate) actions: Vec<ActionRecord>,
    pub(crate) trace: Trace,
    pub(crate) sink: Option<TraceSink>,
    pub(crate) interned: HashMap<String, Rc<str>>,
    pub(crate) kind_counts: [u64; 17],
    pub(crate) failed_hooks: u64,
    pub(crate) killed_hooks: u64,
    pub(crate) tool_calls: u64,
    pub(crate) workload_commands: u64,
    pub(crate) relation_bytes: u64,
    pub(crate) largest_bag: (u64, Option<String>),
    pub(crate) elections: u64,
    pub(crate) changes: u64,
    pub(crate) last_change_at: VTime,
    pub(crate) last_work_end: VTime,
    pub(crate) last_relation_hook_end: VTime,
    pub(crate) hook_seq: u64,
    pub(crate) quiescence: Option<VTime>,
    pub(crate) replay_hint: String,
    pub(crate) violations: Vec<String>,
    pub(crate) microcluster: Option<Microcluster>,
    /// Each machine's files (`Backend::write_file`), by machine id: a re-provisioned machine
    /// starts with an empty disk.
    pub(crate) files: BTreeMap<u32, BTreeMap<std::path::PathBuf, (Vec<u8>, u32)>>,
    pub(crate) mc_prefixes: Vec<(AppId, Vec<String>)>,
    /// The process driver, when hooks may run as processes (see [`Sim::with_processes`]).
    pub(crate) driver: Option<Rc<crate::process::Driver>>,
    /// With the process driver, virtual time is wall-clock time since this instant.
    pub(crate) real_origin: Option<std::time::Instant>,
    /// Checks that see every log line as it is logged ([`Sim::watch_logs`]).
    pub(crate) log_watches: Vec<crate::logwatch::LogWatch>,
    /// Lines logged by every unit so far (action-log lines included).
    pub(crate) lines_logged: u64,
    /// An artificial bug: commit the relation writes of hooks that fail or are killed (for the
    /// test that shows `common_invariants` can fail).
    #[cfg(test)]
    pub(crate) commit_failed_hooks_for_test: bool,
}

/// Reads `SIM_SEED` from the environment (to replay a failing test), or returns `default`.
pub fn seed_from_env(default: u64) -> u64 {
    std::env::var("SIM_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(default)
}

impl Sim {
    /// A model with Juju 3.6's defaults, driven by `seed`.
    pub fn new(seed: u64) -> Self {
        Self::with_config(seed, SimConfig::default())
    }

    /// A model with these settings, driven by `seed`.
    pub fn with_config(seed: u64, cfg: SimConfig) -> Self {
        Self {
            seed,
            cfg,
            rng: Rng::new(seed),
            now: 0,
            heap: BinaryHeap::new(),
            qseq: 0,
            work: 0,
            apps: Vec::new(),
            app_index: BTreeMap::new(),
            units: Vec::new(),
            unit_index: HashMap::new(),
            rels: Vec::new(),
            next_machine: 0,
            secrets: BTreeMap::new(),
            next_secret: 0,
            actions: Vec::new(),
            trace: Trace::new(),
            sink: None,
            interned: HashMap::new(),
            kind_counts: [0; 17],
            failed_hooks: 0,
            killed_hooks: 0,
            tool_calls: 0,
            workload_commands: 0,
            relation_bytes: 0,
            largest_bag: (0, None),
            elections: 0,
            changes: 0,
            last_change_at: 0,
            last_work_end: 0,
            last_relation_hook_end: 0,
            hook_seq: 0,
            quiescence: None,
            replay_hint: format!("SIM_SEED={seed} cargo test"),
            violations: Vec::new(),
            log_watches: vec![crate::logwatch::LogWatch::new(
                crate::logwatch::JOIN_TOKEN_WATCH,
                Rc::new(|line: &str| line.contains(crate::logwatch::JOIN_TOKEN_START)),
                0,
            )],
            lines_logged: 0,
            #[cfg(test)]
            commit_failed_hooks_for_test: false,
            microcluster: None,
            files: BTreeMap::new(),
            mc_prefixes: Vec::new(),
            driver: None,
            real_origin: None,
        }
    }

    /// A model whose applications may run as processes ([`Sim::deploy_charm_dir`]): each hook
    /// runs the unit's charm directory's `dispatch` with Juju's environment, and its hook-tool
    /// calls reach this model over the unit's socket. Time in such a model is real: a hook
    /// takes as long as its process runs, and `run_*` wait on the wall clock (the seed still
    /// decides every ordering choice). In-process applications ([`Sim::deploy`]) live in the
    /// same model.
    pub fn with_processes(
        seed: u64,
        cfg: SimConfig,
        processes: crate::ProcessConfig,
    ) -> Result<Self, SimError> {
        let driver = crate::process::Driver::new(processes, &cfg.model).map_err(SimError::Refused)?;
        let mut sim = Self::with_config(seed, cfg);
        sim.driver = Some(Rc::new(driver));
        sim.real_origin = Some(std::time::Instant::now());
        Ok(sim)
    }

    /// Deploys an application whose charm is the directory `charm_dir` (with an executable
    /// `dispatch` and its `metadata.yaml` or `charmcraft.yaml`): each unit gets a copy, and its
    /// hooks run as processes. Needs a model made with [`Sim::with_processes`].
    pub fn deploy_charm_dir(
        &mut self,
        app: &str,
        units: usize,
        charm_dir: &std::path::Path,
    ) -> Result<&mut Self, SimError> {
        let (runner, meta) = self.process_runner(app, charm_dir, 1)?;
        self.deploy_runner(app, units, runner, meta)?;
        Ok(self)
    }

    /// Refreshes an application to the charm in `charm_dir`: each unit's charm directory gets
    /// the new charm's files (what the old charm wrote itself, such as its state, stays), then
    /// upgrade-charm and config-changed run.
    pub fn refresh_charm_dir(&mut self, app: &str, charm_dir: &std::path::Path) -> Result<(), SimError> {
        let a = self.app_id(app)?;
        let rev = self.apps[a].charm_rev + 1;
        let (runner, meta) = self.process_runner(app, charm_dir, rev)?;
        self.refresh_runner(a, runner, meta);
        Ok(())
    }

    fn process_runner(
        &self,
        app: &str,
        charm_dir: &std::path::Path,
        rev: u64,
    ) -> Result<(Rc<dyn CharmRunner>, Metadata), SimError> {
        let Some(driver) = self.driver.clone() else {
            return Err(SimError::Refused(
                "this model runs no processes: make it with Sim::with_processes".into(),
            ));
        };
        let meta = Metadata::load(charm_dir)
            .map_err(|e| SimError::Refused(format!("charm of {app} in {}: {e}", charm_dir.display())))?;
        let source = charm_dir
            .canonicalize()
            .map_err(|e| SimError::Refused(format!("charm of {app} in {}: {e}", charm_dir.display())))?;
        Ok((
            Rc::new(crate::process::ProcessRunner { source, rev, driver }),
            meta,
        ))
    }

    /// What each hook process did, in the order they ran (empty without the process driver).
    pub fn process_stats(&self) -> Vec<crate::ProcessHookStat> {
        self.driver.as_ref().map(|d| d.stats()).unwrap_or_default()
    }

    /// A unit's charm directory under the process driver (`JUJU_CHARM_DIR`).
    pub fn unit_charm_dir(&self, unit: &str) -> Option<std::path::PathBuf> {
        self.driver.as_ref().map(|d| d.charm_dir(unit))
    }

    /// The process driver's settings, if this model has one.
    pub fn process_config(&self) -> Option<&crate::ProcessConfig> {
        self.driver.as_ref().map(|d| d.config())
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The settings.
    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// Sets how a failure message tells the reader to replay this run (`{seed}` is replaced by
    /// the seed), e.g. `"ensemble check peer --seed {seed}"`.
    pub fn set_replay_hint(&mut self, hint: &str) -> &mut Self {
        self.replay_hint = hint.replace("{seed}", &self.seed.to_string());
        self
    }

    /// The replay hint, with the seed.
    pub fn replay_hint(&self) -> &str {
        &self.replay_hint
    }

    /// Streams every hook record to `sink` as it happens (whatever the trace mode).
    pub fn set_trace_sink(&mut self, sink: TraceSink) -> &mut Self {
        self.sink = Some(sink);
        self
    }

    /// Virtual time since the start.
    pub fn now(&self) -> Duration {
        dur(self.now)
    }

    // ----- building the model -----

    /// Deploys `units` units of a charm as application `app`. The charm is built with `make`
    /// afresh for every hook. Unit 0 is the leader at deploy. Peer relations are created at once.
    ///
    /// # Panics
    /// If Juju would refuse the deployment (see [`Sim::try_deploy`]); the message has the seed.
    pub fn deploy<C, F>(&mut self, app: &str, units: usize, make: F, meta: Metadata) -> &mut Self
    where
        C: Charm + 'static,
        F: Fn() -> C + 'static,
    {
        if let Err(e) = self.try_deploy(app, units, make, meta) {
            self.fail(&format!("deploy {app}: {e}"));
        }
        self
    }

    /// Deploys an application whose metadata is a `charmcraft.yaml` text (parsed once).
    pub fn deploy_charmcraft<C, F>(
        &mut self,
        app: &str,
        units: usize,
        make: F,
        charmcraft_yaml: &str,
    ) -> Result<&mut Self, SimError>
    where
        C: Charm + 'static,
        F: Fn() -> C + 'static,
    {
        let meta = Metadata::from_charmcraft_yaml(charmcraft_yaml)
            .map_err(|e| SimError::Refused(format!("charmcraft.yaml of {app}: {e}")))?;
        self.try_deploy(app, units, make, meta)?;
        Ok(self)
    }

    /// Deploys an application; see [`Sim::deploy`].
    pub fn try_deploy<C, F>(
        &mut self,
        app: &str,
        units: usize,
        make: F,
        meta: Metadata,
    ) -> Result<(), SimError>
    where
        C: Charm + 'static,
        F: Fn() -> C + 'static,
    {
        let runner = Rc::new(Factory {
            make,
            _charm: std::marker::PhantomData,
        });
        self.deploy_runner(app, units, runner, meta)
    }

    fn deploy_runner(
        &mut self,
        app: &str,
        units: usize,
        runner: Rc<dyn CharmRunner>,
        meta: Metadata,
    ) -> Result<(), SimError> {
        let name = AppName::parse(app).map_err(|e| SimError::BadName(e.to_string()))?;
        if self.app_index.contains_key(app) {
            return Err(SimError::Refused(format!("application {app:?} already exists")));
        }
        let a = self.apps.len();
        self.apps.push(App {
            name,
            runner,
            meta: Rc::new(meta),
            charm_rev: 1,
            config: BTreeMap::new(),
            config_rev: 1,
            units: Vec::new(),
            next_unit: 0,
            leader: None,
            lease_claimed: 0,
            lease_epoch: 0,
            leader_settings: Databag::new(),
            ls_version: 0,
            status: Status::unknown(),
            version: String::new(),
            workloads: Vec::new(),
        });
        self.app_index.insert(app.to_owned(), a);
        self.create_peer_relations(a);
        // The first unit claims leadership at once (see add_unit_id): unit 0 leads at deploy.
        for _ in 0..units {
            self.add_unit_id(a, None);
        }
        Ok(())
    }

    fn create_peer_relations(&mut self, a: AppId) {
        let peers: Vec<(String, String)> = self.apps[a]
            .meta
            .endpoints
            .iter()
            .filter(|(_, e)| e.role == Role::Peers)
            .map(|(n, e)| (n.clone(), e.interface.clone()))
            .collect();
        for (ep, interface) in peers {
            let exists = self
                .rels
                .iter()
                .any(|r| r.peer && r.life != Life::Dead && r.sides[0].app == a && r.sides[0].endpoint == ep);
            if exists {
                continue;
            }
            let ri = self.rels.len();
            self.rels.push(Rel {
                id: RelationId(ri as u32),
                peer: true,
                life: Life::Alive,
                interface,
                sides: vec![new_side(a, &ep)],
            });
            self.attach_relation(ri);
        }
    }

    /// Gives every alive unit of the relation's applications its local view of it, and lets the
    /// installed ones enter its scope.
    fn attach_relation(&mut self, ri: RelIdx) {
        for side in 0..self.rels[ri].sides.len() {
            let a = self.rels[ri].sides[side].app;
            for i in 0..self.apps[a].units.len() {
                let u = self.apps[a].units[i];
                if self.units[u].life != Life::Alive || self.units[u].local_rel_of(ri).is_some() {
                    continue;
                }
                self.units[u].rels.push(LocalRel::new(ri, side));
                let li = self.units[u].rels.len() - 1;
                if self.units[u].installed {
                    self.enter_scope(u, li);
                }
            }
        }
    }

    pub(crate) fn add_unit_id(&mut self, a: AppId, machine: Option<MachineSpec>) -> UnitId {
        let number = self.apps[a].next_unit;
        self.apps[a].next_unit += 1;
        let name = self.apps[a].name.unit(number);
        let mid = self.next_machine;
        self.next_machine += 1;
        let machine = machine.unwrap_or_else(|| MachineSpec {
            hostname: format!("juju-{}-{mid}", self.cfg.model),
            address: format!(
                "10.{}.{}.{}",
                (mid + 1) >> 16 & 255,
                (mid + 1) >> 8 & 255,
                (mid + 1) & 255
            ),
        });
        let u = self.units.len();
        let rels: Vec<LocalRel> = self
            .rels
            .iter()
            .enumerate()
            .filter(|(_, r)| r.life == Life::Alive)
            .flat_map(|(ri, r)| {
                r.sides
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.app == a)
                    .map(move |(side, _)| LocalRel::new(ri, side))
            })
            .collect();
        self.units.push(Unit {
            name_rc: Rc::from(name.as_str()),
            sort_key: name_sort_key(number),
            name: name.clone(),
            app: a,
            machine_id: mid,
            machine,
            life: Life::Alive,
            agent_up: true,
            agent_epoch: 0,
            running: None,
            resolve_pending: false,
            installed: false,
            started: false,
            config_seen: 0,
            charm_seen: self.apps[a].charm_rev,
            local_leader: false,
            ls_seen: 0,
            queued: None,
            error: None,
            actions: Default::default(),
            execs: Default::default(),
            secret_changes: Default::default(),
            update_status_due: false,
            rels,
            stored: None,
            controller_state: BTreeMap::new(),
            status: Status::unknown(),
            skew_secs: 0,
            fail_hooks: 0,
            command_faults: Default::default(),
            hooks_run: 0,
            logs: Default::default(),
            log_count: 0,
            last_hook_end: 0,
            ports: Vec::new(),
            reboot_requested: false,
        });
        self.unit_index.insert(name.to_string(), u);
        self.apps[a].units.push(u);
        if self.mc_prefixes.iter().any(|(x, _)| *x == a) {
            let m = self.units[u].machine.clone();
            let reused = self.units[..u].iter().any(|o| o.machine.hostname == m.hostname);
            if let Some(w) = &mut self.microcluster {
                if reused {
                    w.reprovision(&m.hostname);
                }
                w.set_host_address(&m.hostname, &m.address);
            }
        }
        if let Some(interval) = self.cfg.update_status_interval {
            let phase = self.rng.below(vt(interval).max(1));
            let now = self.now;
            self.push(now + phase.max(1), QKind::Tick(u));
        }
        self.bump();
        self.wake(u);
        if self.apps[a].leader.is_none() {
            self.elect(a);
        }
        u
    }

    /// Adds `count` units to `app`.
    pub fn add_units(&mut self, app: &str, count: usize) -> &mut Self {
        match self.app_id(app) {
            Ok(a) => {
                for _ in 0..count {
                    self.add_unit_id(a, None);
                }
            }
            Err(e) => self.fail(&e.to_string()),
        }
        self
    }

    /// Adds one unit to `app` on a machine with this hostname and address (a re-provisioned
    /// machine keeping its hostname, say). Returns the unit's name.
    pub fn add_unit_on(&mut self, app: &str, machine: MachineSpec) -> Result<String, SimError> {
        let a = self.app_id(app)?;
        let u = self.add_unit_id(a, Some(machine));
        Ok(self.units[u].name.to_string())
    }

    /// Relates two endpoints, `"app:endpoint"` each (one of them may be just `"app"` when the
    /// other names its endpoint and only one endpoint fits).
    ///
    /// # Panics
    /// If Juju would refuse the relation (see [`Sim::try_relate`]).
    pub fn relate(&mut self, a: &str, b: &str) -> &mut Self {
        if let Err(e) = self.try_relate(a, b) {
            self.fail(&format!("relate {a} {b}: {e}"));
        }
        self
    }

    /// Relates two endpoints and returns the relation's id. Juju's checks apply: both endpoints
    /// exist, one provides and the other requires, the interfaces match, and neither endpoint's
    /// `limit` is exceeded.
    pub fn try_relate(&mut self, a: &str, b: &str) -> Result<RelationId, SimError> {
        let (aa, ae) = self.endpoint(a, b)?;
        let (ba, be) = self.endpoint(b, a)?;
        if aa == ba {
            return Err(SimError::Refused(format!(
                "{a} and {b}: an application relates to itself only through a peer endpoint"
            )));
        }
        let ea = self.apps[aa].meta.endpoints[&ae].clone();
        let eb = self.apps[ba].meta.endpoints[&be].clone();
        let roles_ok = matches!(
            (ea.role, eb.role),
            (Role::Provides, Role::Requires) | (Role::Requires, Role::Provides)
        );
        if !roles_ok {
            return Err(SimError::Refused(format!(
                "{a} and {b}: one endpoint must provide and the other require"
            )));
        }
        if ea.interface != eb.interface {
            return Err(SimError::Refused(format!(
                "{a} and {b}: interfaces differ ({} and {})",
                ea.interface, eb.interface
            )));
        }
        for (app, ep, spec) in [(aa, &ae, &ea), (ba, &be, &eb)] {
            let existing = self.count_relations(app, ep);
            if let Some(limit) = spec.limit {
                if existing >= limit as usize {
                    return Err(SimError::Refused(format!(
                        "endpoint {}:{ep} is limited to {limit} relation(s)",
                        self.apps[app].name
                    )));
                }
            }
        }
        let dup = self.rels.iter().any(|r| {
            r.life != Life::Dead
                && !r.peer
                && r.sides.iter().any(|s| s.app == aa && s.endpoint == ae)
                && r.sides.iter().any(|s| s.app == ba && s.endpoint == be)
        });
        if dup {
            return Err(SimError::Refused(format!("{a} and {b} are already related")));
        }
        let ri = self.rels.len();
        let id = RelationId(ri as u32);
        self.rels.push(Rel {
            id,
            peer: false,
            life: Life::Alive,
            interface: ea.interface.clone(),
            sides: vec![new_side(aa, &ae), new_side(ba, &be)],
        });
        self.bump();
        self.log_event(format!(
            "relation {id} added: {}:{ae} {}:{be}",
            self.apps[aa].name, self.apps[ba].name
        ));
        self.attach_relation(ri);
        Ok(id)
    }

    fn count_relations(&self, a: AppId, ep: &str) -> usize {
        self.rels
            .iter()
            .filter(|r| r.life != Life::Dead && r.sides.iter().any(|s| s.app == a && s.endpoint == ep))
            .count()
    }

    fn endpoint(&self, spec: &str, other: &str) -> Result<(AppId, String), SimError> {
        let (app, ep) = match spec.split_once(':') {
            Some((a, e)) => (a, Some(e)),
            None => (spec, None),
        };
        let a = self.app_id(app)?;
        let meta = &self.apps[a].meta;
        match ep {
            Some(e) if meta.endpoints.contains_key(e) => Ok((a, e.to_owned())),
            Some(e) => Err(SimError::Refused(format!(
                "application {app} has no endpoint {e:?}"
            ))),
            None => {
                // Pick the one non-peer endpoint whose interface the other side offers.
                let other_iface: Option<String> = other.split_once(':').and_then(|(oa, oe)| {
                    let o = self.app_index.get(oa)?;
                    Some(self.apps[*o].meta.endpoints.get(oe)?.interface.clone())
                });
                let fits: Vec<&String> = meta
                    .endpoints
                    .iter()
                    .filter(|(_, e)| e.role != Role::Peers)
                    .filter(|(_, e)| other_iface.as_ref().is_none_or(|i| *i == e.interface))
                    .map(|(n, _)| n)
                    .collect();
                match fits.as_slice() {
                    [one] => Ok((a, (*one).clone())),
                    _ => Err(SimError::Refused(format!(
                        "name the endpoint of {app}: {} fit",
                        fits.len()
                    ))),
                }
            }
        }
    }

    /// Removes a relation: every unit in it runs relation-departed for each remote unit, then
    /// relation-broken.
    pub fn remove_relation(&mut self, id: RelationId) -> Result<(), SimError> {
        self.log_event(format!("relation {id} removal requested"));
        self.remove_relation_idx(id)
    }

    /// Removes a unit: gracefully (departed, broken, stop, remove; the unit is then dead and,
    /// if it led, a new leader is elected at once) or forced (dead at once: no further hook).
    pub fn remove_unit(&mut self, unit: &str, force: bool) -> Result<(), SimError> {
        let u = self.unit_id(unit)?;
        self.remove_unit_id(u, force);
        Ok(())
    }

    /// Removes the `count` newest alive units of `app`, gracefully.
    pub fn scale_down(&mut self, app: &str, count: usize) -> Result<(), SimError> {
        self.app_id(app)?;
        self.apply_fault(Fault::ScaleDown {
            app: app.to_owned(),
            count,
        });
        Ok(())
    }

    /// Sets a config option (`None` resets it to its default); every unit runs config-changed.
    pub fn set_config(&mut self, app: &str, key: &str, value: Option<ConfigValue>) -> Result<(), SimError> {
        let a = self.app_id(app)?;
        if !self.apps[a].meta.config.contains_key(key) {
            return Err(SimError::Refused(format!(
                "application {app} has no config option {key:?}"
            )));
        }
        match value {
            Some(v) => self.apps[a].config.insert(key.to_owned(), v),
            None => self.apps[a].config.remove(key),
        };
        self.apps[a].config_rev += 1;
        self.bump();
        self.wake_app(a, None);
        Ok(())
    }

    /// Refreshes an application to another charm: each unit runs upgrade-charm, then
    /// config-changed; databags, stored state and leadership are kept.
    pub fn refresh<C, F>(&mut self, app: &str, make: F, meta: Metadata) -> Result<(), SimError>
    where
        C: Charm + 'static,
        F: Fn() -> C + 'static,
    {
        let a = self.app_id(app)?;
        let runner = Rc::new(Factory {
            make,
            _charm: std::marker::PhantomData,
        });
        self.refresh_runner(a, runner, meta);
        Ok(())
    }

    fn refresh_runner(&mut self, a: AppId, runner: Rc<dyn CharmRunner>, meta: Metadata) {
        let app = self.apps[a].name.to_string();
        self.apps[a].runner = runner;
        self.apps[a].meta = Rc::new(meta);
        self.apps[a].charm_rev += 1;
        self.bump();
        self.log_event(format!("{app} refreshed to revision {}", self.apps[a].charm_rev));
        self.create_peer_relations(a);
        self.wake_app(a, None);
    }

    /// Serves workload commands that start with `prefix` (`"microovn cluster"`: words, split on
    /// whitespace) on every unit of `app` with `workload`. The longest matching prefix wins.
    pub fn serve_commands(
        &mut self,
        app: &str,
        prefix: &str,
        workload: impl Workload + 'static,
    ) -> Result<&mut Self, SimError> {
        let a = self.app_id(app)?;
        let words: Vec<String> = prefix.split_whitespace().map(str::to_owned).collect();
        self.apps[a].workloads.push((words, Box::new(workload)));
        Ok(self)
    }

    /// Serves the simulated microcluster CLI to every unit of `app` for commands that start with
    /// `prefix` (`"microovn cluster"`): the rest of the command goes to
    /// [`Microcluster::exec`] with the unit's hostname. One microcluster world serves the whole
    /// model (seeded from the model's seed unless set with [`Sim::set_microcluster`]); each
    /// machine's cluster address is its address. A machine that goes away (its unit is dead)
    /// is marked down in the world; a unit added on a known hostname re-provisions that host.
    pub fn serve_microcluster(&mut self, app: &str, prefix: &str) -> Result<&mut Self, SimError> {
        let a = self.app_id(app)?;
        if self.microcluster.is_none() {
            self.microcluster = Some(Microcluster::new(self.seed ^ 0x6d69_6372_6f63_6c75));
        }
        let words: Vec<String> = prefix.split_whitespace().map(str::to_owned).collect();
        self.mc_prefixes.retain(|(x, _)| *x != a);
        self.mc_prefixes.push((a, words));
        let hosts: Vec<MachineSpec> = self.apps[a]
            .units
            .iter()
            .map(|&u| self.units[u].machine.clone())
            .collect();
        if let Some(w) = &mut self.microcluster {
            for m in hosts {
                w.set_host_address(&m.hostname, &m.address);
            }
        }
        Ok(self)
    }

    /// Replaces the microcluster world (for a custom [`crate::workload::microcluster::Config`]).
    pub fn set_microcluster(&mut self, world: Microcluster) -> &mut Self {
        self.microcluster = Some(world);
        self
    }

    /// The microcluster world, if one is served.
    pub fn microcluster(&self) -> Option<&Microcluster> {
        self.microcluster.as_ref()
    }

    /// The microcluster world, to inject faults or mark hosts down.
    pub fn microcluster_mut(&mut self) -> Option<&mut Microcluster> {
        self.microcluster.as_mut()
    }

    /// Queues an action on a unit; returns its id (see [`Sim::action`]).
    pub fn run_action(
        &mut self,
        unit: &str,
        name: &str,
        params: serde_json::Map<String, serde_json::Value>,
    ) -> Result<usize, SimError> {
        let u = self.unit_id(unit)?;
        let a = self.units[u].app;
        if !self.apps[a].meta.actions.contains_key(name) {
            return Err(SimError::Refused(format!(
                "application {} has no action {name:?}",
                self.apps[a].name
            )));
        }
        let id = self.actions.len();
        self.actions.push(ActionRecord {
            id,
            unit: unit.to_owned(),
            name: name.to_owned(),
            params,
            status: ActionStatus::Pending,
            results: BTreeMap::new(),
            message: String::new(),
            logs: Vec::new(),
            failed: false,
        });
        self.units[u].actions.push_back(id);
        self.bump();
        self.wake(u);
        Ok(id)
    }

    /// An action's record.
    pub fn action(&self, id: usize) -> Option<&ActionRecord> {
        self.actions.get(id)
    }

    /// Dispatches a custom event to a unit now, as `juju-exec` would.
    pub fn exec(&mut self, unit: &str, event: &str) -> Result<(), SimError> {
        let u = self.unit_id(unit)?;
        let now = self.now;
        self.push(now, QKind::Exec(u, event.to_owned()));
        Ok(())
    }

    /// Marks a unit's failed hook resolved (`juju resolved`): with `retry`, the hook runs again
    /// at once; without, it is skipped as if it had succeeded with no changes.
    pub fn resolve(&mut self, unit: &str, retry: bool) -> Result<(), SimError> {
        let u = self.unit_id(unit)?;
        let Some(e) = self.units[u].error.take() else {
            return Ok(());
        };
        self.bump();
        if retry {
            self.units[u].error = Some(crate::model::ErrorState {
                retry_at: self.now,
                ..e
            });
        }
        self.wake(u);
        Ok(())
    }

    /// Injects a fault now.
    pub fn fault(&mut self, fault: Fault) -> &mut Self {
        self.apply_fault(fault);
        self
    }

    /// Injects a fault at virtual time `at` (from the start; a time already past means now).
    pub fn fault_at(&mut self, at: Duration, fault: Fault) -> &mut Self {
        let t = vt(at).max(self.now);
        self.push(t, QKind::Fault(Box::new(fault)));
        self
    }

    // ----- running -----

    /// Runs until the model is idle: no hook pending other than the periodic update-status,
    /// and one whole round of update-status changed nothing. Gives up after `max` of virtual
    /// time (a failing hook retried forever never idles).
    pub fn run_until_idle(&mut self, max: Duration) -> Result<Idle, SimError> {
        self.run_until_idle_with(max, |_| {})
    }

    /// [`Sim::run_until_idle`], calling `progress` every 1024 events (for progress bars).
    pub fn run_until_idle_with(
        &mut self,
        max: Duration,
        mut progress: impl FnMut(&Sim),
    ) -> Result<Idle, SimError> {
        let deadline = self.now.saturating_add(vt(max));
        let interval = self.cfg.update_status_interval.map(vt);
        // (quiet since, change counter then)
        let mut quiet: Option<(VTime, u64)> = None;
        let mut n: u64 = 0;
        loop {
            if self.work == 0 {
                match quiet {
                    Some((q, c)) if c == self.changes => {
                        let round_done = match interval {
                            None => true,
                            Some(i) => self.heap.peek().is_none_or(|e| e.time > q + i),
                        };
                        if round_done {
                            self.quiescence = Some(q);
                            return Ok(Idle {
                                quiescent_at: dur(q),
                                now: dur(self.now),
                            });
                        }
                    }
                    _ => quiet = Some((self.last_activity(), self.changes)),
                }
            } else if let Some((_, c)) = quiet {
                // Work during the update-status round is fine as long as it changes nothing.
                if c != self.changes {
                    quiet = None;
                }
            }
            let Some(next) = self.heap.peek() else {
                self.quiescence = Some(self.now);
                return Ok(Idle {
                    quiescent_at: dur(self.now),
                    now: dur(self.now),
                });
            };
            if next.time > deadline {
                self.now = deadline;
                return Err(self.not_idle());
            }
            self.step();
            n += 1;
            if n % 1024 == 0 {
                progress(self);
            }
        }
    }

    fn last_activity(&self) -> VTime {
        self.units
            .iter()
            .map(|u| u.last_hook_end)
            .max()
            .unwrap_or(0)
            .min(self.now)
    }

    fn not_idle(&self) -> SimError {
        SimError::NotIdle {
            after: dur(self.now).as_secs_f64(),
            pending: self.work,
            seed: self.seed,
            replay: self.replay_hint.clone(),
        }
    }

    /// Runs until `keep_going` returns false, for at most `max` more (virtual, or with the
    /// process driver real) time. With the process driver it also waits for what background
    /// processes send (`juju-exec`) when no event is due.
    pub fn run_while(
        &mut self,
        max: Duration,
        mut keep_going: impl FnMut(&Sim) -> bool,
    ) -> Result<(), SimError> {
        let deadline = self.now.saturating_add(vt(max));
        loop {
            if !keep_going(self) {
                return Ok(());
            }
            match self.heap.peek().map(|n| n.time) {
                Some(t) if t <= deadline => {
                    self.step();
                }
                _ if self.wait_real(deadline) => {}
                _ => {
                    self.now = self.now.max(deadline);
                    return Err(SimError::StillRunning {
                        after: dur(self.now).as_secs_f64(),
                        seed: self.seed,
                        replay: self.replay_hint.clone(),
                    });
                }
            }
        }
    }

    /// Runs every event up to `now + d`.
    pub fn run_for(&mut self, d: Duration) -> &mut Self {
        let until = self.now.saturating_add(vt(d));
        self.run_until_vt(until);
        self
    }

    /// Runs every event up to virtual time `t` (from the start).
    pub fn run_until(&mut self, t: Duration) -> &mut Self {
        self.run_until_vt(vt(t));
        self
    }

    fn run_until_vt(&mut self, until: VTime) {
        loop {
            match self.heap.peek().map(|n| n.time) {
                Some(t) if t <= until => {
                    self.step();
                }
                _ if self.wait_real(until) => {}
                _ => break,
            }
        }
        if until > self.now {
            self.now = until;
        }
    }

    // ----- looking at the model -----

    pub(crate) fn app_id(&self, app: &str) -> Result<AppId, SimError> {
        self.app_index
            .get(app)
            .copied()
            .ok_or_else(|| SimError::UnknownApp(app.to_owned()))
    }

    pub(crate) fn unit_id(&self, unit: &str) -> Result<UnitId, SimError> {
        self.unit_index
            .get(unit)
            .copied()
            .ok_or_else(|| SimError::UnknownUnit(unit.to_owned()))
    }

    /// The units of an application (dead ones included), in deploy order.
    pub fn units(&self, app: &str) -> Vec<String> {
        match self.app_id(app) {
            Ok(a) => self.apps[a]
                .units
                .iter()
                .map(|&u| self.units[u].name.to_string())
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The alive units of an application.
    pub fn alive_units(&self, app: &str) -> Vec<String> {
        match self.app_id(app) {
            Ok(a) => self.apps[a]
                .units
                .iter()
                .filter(|&&u| self.units[u].life == Life::Alive)
                .map(|&u| self.units[u].name.to_string())
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// A unit's state.
    pub fn unit(&self, unit: &str) -> Option<UnitInfo> {
        let u = self.unit_id(unit).ok()?;
        let x = &self.units[u];
        Some(UnitInfo {
            name: x.name.to_string(),
            life: x.life,
            agent_up: x.agent_up,
            leader: self.apps[x.app].leader == Some(u),
            status: self.status_of(u),
            machine: x.machine.clone(),
            hooks: x.hooks_run,
        })
    }

    pub(crate) fn status_of(&self, u: UnitId) -> Status {
        let x = &self.units[u];
        match &x.error {
            Some(e) => Status {
                name: StatusName::Error,
                message: format!("hook failed: {:?}", e.hook),
            },
            None => x.status.clone(),
        }
    }

    /// A unit's status: `error` (with `hook failed: "<hook>"`) while a hook is failing,
    /// otherwise what the charm set.
    pub fn unit_status(&self, unit: &str) -> Option<Status> {
        self.unit_id(unit).ok().map(|u| self.status_of(u))
    }

    /// An application's status, as its leader set it.
    pub fn app_status(&self, app: &str) -> Option<Status> {
        self.app_id(app).ok().map(|a| self.apps[a].status.clone())
    }

    /// The workload version an application reported.
    pub fn workload_version(&self, app: &str) -> Option<String> {
        self.app_id(app).ok().map(|a| self.apps[a].version.clone())
    }

    /// The application's leader.
    pub fn leader(&self, app: &str) -> Option<String> {
        let a = self.app_id(app).ok()?;
        self.apps[a].leader.map(|u| self.units[u].name.to_string())
    }

    /// The application's leader settings.
    pub fn leader_settings(&self, app: &str) -> Databag {
        self.app_id(app)
            .map(|a| self.apps[a].leader_settings.clone())
            .unwrap_or_default()
    }

    /// The peer relation of `app` on `endpoint` (the first peer endpoint if `None`).
    pub fn peer_relation(&self, app: &str, endpoint: Option<&str>) -> Option<RelationId> {
        let a = self.app_id(app).ok()?;
        self.rels
            .iter()
            .find(|r| {
                r.peer
                    && r.sides[0].app == a
                    && endpoint.is_none_or(|e| r.sides[0].endpoint == e)
                    && r.life != Life::Dead
            })
            .map(|r| r.id)
    }

    /// The relation between two endpoints (`"app:endpoint"`), if any.
    pub fn relation_between(&self, a: &str, b: &str) -> Option<RelationId> {
        let (aa, ae) = a.split_once(':')?;
        let (ba, be) = b.split_once(':')?;
        let (ai, bi) = (self.app_id(aa).ok()?, self.app_id(ba).ok()?);
        self.rels
            .iter()
            .find(|r| {
                !r.peer
                    && r.life != Life::Dead
                    && r.sides.iter().any(|s| s.app == ai && s.endpoint == ae)
                    && r.sides.iter().any(|s| s.app == bi && s.endpoint == be)
            })
            .map(|r| r.id)
    }

    /// The relations in the model (removed ones excluded): id, interface, and the
    /// `app:endpoint` of each side (one side for a peer relation).
    pub fn relations(&self) -> Vec<(RelationId, String, Vec<String>)> {
        self.rels
            .iter()
            .filter(|r| r.life != Life::Dead)
            .map(|r| {
                let ends = r
                    .sides
                    .iter()
                    .map(|s| format!("{}:{}", self.apps[s.app].name, s.endpoint))
                    .collect();
                (r.id, r.interface.clone(), ends)
            })
            .collect()
    }

    /// Whether a relation is still in the model (not yet removed).
    pub fn relation_exists(&self, id: RelationId) -> bool {
        self.rels.get(id.0 as usize).is_some_and(|r| r.life != Life::Dead)
    }

    /// A committed databag: a unit's (`"app/0"`) or an application's (`"app"`) in a relation.
    pub fn databag(&self, id: RelationId, owner: &str) -> Option<&Databag> {
        let rel = self.rels.get(id.0 as usize)?;
        if owner.contains('/') {
            let u = self.unit_id(owner).ok()?;
            let lr = self.units[u].local_rel_of(id.0 as usize)?;
            let lr = &self.units[u].rels[lr];
            Some(&rel.sides[lr.side].slots[lr.slot? as usize].bag)
        } else {
            let a = self.app_id(owner).ok()?;
            rel.sides.iter().find(|s| s.app == a).map(|s| &s.app_bag)
        }
    }

    /// A committed databag, by [`BagOwner`].
    pub fn bag(&self, id: RelationId, owner: &BagOwner) -> Option<&Databag> {
        match owner {
            BagOwner::Unit(u) => self.databag(id, u.as_str()),
            BagOwner::App(a) => self.databag(id, a.as_str()),
        }
    }

    /// The remote units a unit has joined in a relation (its `relation-list`).
    pub fn relation_members(&self, unit: &str, id: RelationId) -> Vec<String> {
        let Ok(u) = self.unit_id(unit) else {
            return Vec::new();
        };
        let Some(li) = self.units[u].local_rel_of(id.0 as usize) else {
            return Vec::new();
        };
        let lr = &self.units[u].rels[li];
        let rel = &self.rels[lr.rel];
        let rs = &rel.sides[rel.remote_side(lr.side)];
        let mut v: Vec<(u64, String)> = lr
            .seen
            .iter()
            .enumerate()
            .filter(|(_, s)| **s != NOT_MEMBER)
            .map(|(i, _)| (rs.slots[i].key, self.units[rs.slots[i].unit].name.to_string()))
            .collect();
        v.sort();
        v.into_iter().map(|(_, n)| n).collect()
    }

    /// A unit's committed stored-state document (the framework's JSON).
    pub fn stored_document(&self, unit: &str) -> Option<&str> {
        let u = self.unit_id(unit).ok()?;
        self.units[u].stored.as_deref()
    }

    /// One stored value of a unit (as the charm stored it with `Context::set_stored`).
    pub fn stored(&self, unit: &str, key: &str) -> Option<serde_json::Value> {
        let doc = charm::StoredDocument::parse(self.stored_document(unit)?).ok()?;
        doc.values.get(key).cloned()
    }

    /// A unit's controller-side state (`state-set`).
    pub fn controller_state(&self, unit: &str) -> BTreeMap<String, String> {
        self.unit_id(unit)
            .map(|u| self.units[u].controller_state.clone())
            .unwrap_or_default()
    }

    /// Installs a log watch: from now on, `matches` is called on every line any unit logs (see
    /// [`crate::logwatch`]), and [`Sim::log_watch`] tells which units logged a matching line.
    /// Install it before the first hook to see every line; a watch of the same name is replaced.
    ///
    /// ```
    /// let mut sim = juju_sim::Sim::new(1);
    /// sim.watch_logs("password", |line| line.contains("hunter2"));
    /// assert_eq!(sim.log_watch("password").unwrap().installed_after(), 0);
    /// ```
    pub fn watch_logs(&mut self, name: &str, matches: impl Fn(&str) -> bool + 'static) -> &mut Self {
        self.log_watches.retain(|w| w.name() != name);
        self.log_watches.push(crate::logwatch::LogWatch::new(
            name,
            Rc::new(matches),
            self.lines_logged,
        ));
        self
    }

    /// A log watch and what it has seen; every model has [`crate::JOIN_TOKEN_WATCH`].
    pub fn log_watch(&self, name: &str) -> Option<&crate::logwatch::LogWatch> {
        self.log_watches.iter().find(|w| w.name() == name)
    }

    /// A unit's last log lines (at most `SimConfig::log_lines_per_unit`; every line is seen by
    /// the log watches, [`Sim::watch_logs`]).
    pub fn logs(&self, unit: &str) -> Vec<(Duration, LogLevel, String)> {
        self.unit_id(unit)
            .map(|u| {
                self.units[u]
                    .logs
                    .iter()
                    .map(|(t, l, m)| (dur(*t), *l, m.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A file on `unit`'s machine (written by its charm with `Context::write_file`).
    pub fn machine_file(&self, unit: &str, path: &str) -> Option<&[u8]> {
        let u = self.units.iter().find(|u| u.name.as_str() == unit)?;
        self.files
            .get(&u.machine_id)?
            .get(std::path::Path::new(path))
            .map(|(c, _)| c.as_slice())
    }

    /// Puts a file on `unit`'s machine, as if something before the unit (an earlier deployment
    /// on a reused machine, an operator) had left it there.
    pub fn put_machine_file(
        &mut self,
        unit: &str,
        path: &str,
        content: &[u8],
        mode: u32,
    ) -> Result<(), SimError> {
        let u = self.unit_id(unit)?;
        let machine = self.units[u].machine_id;
        self.files
            .entry(machine)
            .or_default()
            .insert(std::path::PathBuf::from(path), (content.to_vec(), mode));
        Ok(())
    }

    /// The ports `unit` has opened.
    pub fn opened_ports(&self, unit: &str) -> Vec<charm::Port> {
        self.units
            .iter()
            .find(|u| u.name.as_str() == unit)
            .map(|u| u.ports.clone())
            .unwrap_or_default()
    }

    /// The ids of the secrets in the model.
    pub fn secret_ids(&self) -> Vec<String> {
        self.secrets
            .values()
            .filter(|s| !s.removed)
            .map(|s| s.id.clone())
            .collect()
    }

    /// The latest revision of a secret.
    pub fn secret_revision(&self, id: &str) -> Option<u64> {
        self.secrets.get(id).map(|s| s.latest())
    }

    /// The trace.
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// Invariant violations the engine noticed while running (a hook started on a unit before
    /// its previous hook ended; a unit got relation-changed for its own writes). Always empty
    /// unless the simulator itself is broken; `ensemble check` asserts it.
    pub fn violations(&self) -> &[String] {
        &self.violations
    }

    /// How many hooks of `kind` ran.
    pub fn hooks_of_kind(&self, kind: HookKind) -> u64 {
        self.kind_count(kind)
    }

    /// The run's metrics.
    pub fn metrics(&self) -> Metrics {
        let mut busiest: Option<(u64, UnitId)> = None;
        for (i, u) in self.units.iter().enumerate() {
            if busiest.is_none_or(|(n, _)| u.hooks_run > n) {
                busiest = Some((u.hooks_run, i));
            }
        }
        Metrics {
            hooks: self.trace.count,
            hooks_by_kind: self.kinds_map(),
            failed_hooks: self.failed_hooks,
            killed_hooks: self.killed_hooks,
            max_hooks_per_unit: busiest.map(|b| b.0).unwrap_or(0),
            busiest_unit: busiest.map(|(_, u)| self.units[u].name.to_string()),
            relation_changed: self.kind_count(HookKind::RelationChanged),
            tool_calls: self.tool_calls,
            workload_commands: self.workload_commands,
            relation_bytes_written: self.relation_bytes,
            largest_databag_bytes: self.largest_bag.0,
            largest_databag: self.largest_bag.1.clone(),
            elections: self.elections,
            units: self.units.len(),
            virtual_time: dur(self.now),
            quiescence: self.quiescence.map(dur),
            last_relation_hook: dur(self.last_relation_hook_end),
        }
    }

    /// A `juju status`-like table of every application and unit.
    pub fn status_table(&self) -> String {
        self.status_table_limited(usize::MAX)
    }

    /// The status table, showing at most `max_units` units per application.
    pub fn status_table_limited(&self, max_units: usize) -> String {
        crate::status::render(self, max_units)
    }

    // ----- assertions that print the seed -----

    /// Panics with `message`, the seed and how to replay the run.
    pub fn fail(&self, message: &str) -> ! {
        panic!("{message}\n  seed={} (replay: {})", self.seed, self.replay_hint)
    }

    /// Panics (with the seed and the replay hint) unless `cond` holds.
    pub fn check(&self, cond: bool, message: impl FnOnce() -> String) {
        if !cond {
            self.fail(&message());
        }
    }

    /// Panics (with the seed) unless the unit's status has this name.
    pub fn assert_status(&self, unit: &str, expected: StatusName) {
        match self.unit_status(unit) {
            Some(s) if s.name == expected => {}
            Some(s) => self.fail(&format!("{unit}: status {s}, expected {}", expected.as_str())),
            None => self.fail(&format!("no unit {unit}")),
        }
    }

    /// Panics (with the seed) unless every alive unit of `app` has a status with this name.
    pub fn assert_app_units(&self, app: &str, expected: StatusName) {
        for u in self.alive_units(app) {
            self.assert_status(&u, expected);
        }
    }

    /// Runs until idle or panics with the seed and the replay hint.
    pub fn settle(&mut self, max: Duration) -> Idle {
        match self.run_until_idle(max) {
            Ok(i) => i,
            Err(e) => self.fail(&e.to_string()),
        }
    }

    /// The number of seconds in a virtual-time tick, for docs and tests.
    pub const SECOND: Duration = Duration::from_micros(SEC);

    /// Replaces the random fault profile (e.g. to stop injecting faults before settling).
    pub fn set_fault_profile(&mut self, faults: crate::FaultProfile) -> &mut Self {
        self.cfg.faults = faults;
        self
    }

    /// Lowers the trace mode (e.g. for scale runs) at any time.
    pub fn set_trace_mode(&mut self, mode: TraceMode) -> &mut Self {
        self.cfg.trace = mode;
        self
    }
}

fn new_side(app: AppId, ep: &str) -> Side {
    Side {
        app,
        endpoint: ep.to_owned(),
        app_bag: Databag::new(),
        app_bytes: 0,
        app_version: 0,
        slots: Vec::new(),
    }
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("seed", &self.seed)
            .field("now", &dur(self.now))
            .field("apps", &self.apps.len())
            .field("units", &self.units.len())
            .field("hooks", &self.trace.count)
            .finish()
    }
}
