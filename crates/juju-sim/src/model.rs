//! The simulated model's state: applications, units, machines, relations with their bags and
//! change versions, and each unit's local (uniter) view of its relations.

use crate::trace::HookKind;
use crate::workload::Workload;
use charm::{
    AppName, Backend, Charm, ConfigValue, Databag, Event, HookError, HookReport, HookSetup, LogLevel,
    Metadata, RelationId, Status, UnitName,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;

/// Virtual time in microseconds.
pub(crate) type VTime = u64;
pub(crate) type UnitId = usize;
pub(crate) type AppId = usize;
pub(crate) type RelIdx = usize;

/// `seen` value of a remote unit this unit has not joined (or has departed).
pub(crate) const NOT_MEMBER: u64 = u64::MAX;

/// A unit's or a relation's life, as Juju tracks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Life {
    /// In use.
    Alive,
    /// Being removed: its teardown hooks run.
    Dying,
    /// Gone.
    Dead,
}

impl Life {
    /// `alive`, `dying` or `dead`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Life::Alive => "alive",
            Life::Dying => "dying",
            Life::Dead => "dead",
        }
    }
}

/// Runs one hook of a charm type, building the charm afresh (as Juju starts a new process).
pub(crate) trait CharmRunner {
    fn run(
        &self,
        backend: &mut dyn Backend,
        setup: HookSetup<'_>,
        event: &Event,
    ) -> Result<HookReport, HookError>;
}

pub(crate) struct Factory<C, F> {
    pub make: F,
    pub _charm: std::marker::PhantomData<fn() -> C>,
}

impl<C: Charm, F: Fn() -> C> CharmRunner for Factory<C, F> {
    fn run(
        &self,
        backend: &mut dyn Backend,
        setup: HookSetup<'_>,
        event: &Event,
    ) -> Result<HookReport, HookError> {
        let mut charm = (self.make)();
        charm::run_hook(&mut charm, backend, setup, event)
    }
}

/// A machine: one per unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineSpec {
    /// Its hostname.
    pub hostname: String,
    /// Its address (the unit's `ingress-address` and `private-address`).
    pub address: String,
}

pub(crate) struct App {
    pub name: AppName,
    pub runner: Rc<dyn CharmRunner>,
    pub meta: Rc<Metadata>,
    pub charm_rev: u64,
    pub config: BTreeMap<String, ConfigValue>,
    pub config_rev: u64,
    pub units: Vec<UnitId>,
    pub next_unit: u32,
    pub leader: Option<UnitId>,
    pub lease_claimed: VTime,
    pub lease_epoch: u64,
    pub leader_settings: Databag,
    pub ls_version: u64,
    pub status: Status,
    pub version: String,
    pub workloads: Vec<(Vec<String>, Box<dyn Workload>)>,
}

/// What a unit runs next (the operation its resolver chose).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    Install,
    Start,
    ConfigChanged,
    UpgradeCharm,
    LeaderElected,
    LeaderSettingsChanged,
    Created(usize),
    Joined(usize, u32),
    Changed(usize, u32),
    AppChanged(usize),
    Departed(usize, u32),
    Broken(usize),
    Stop,
    Remove,
    UpdateStatus,
    SecretChanged(String),
    Action(usize),
    Custom(String),
}

impl Op {
    pub fn kind(&self) -> HookKind {
        match self {
            Op::Install => HookKind::Install,
            Op::Start => HookKind::Start,
            Op::ConfigChanged => HookKind::ConfigChanged,
            Op::UpgradeCharm => HookKind::UpgradeCharm,
            Op::LeaderElected => HookKind::LeaderElected,
            Op::LeaderSettingsChanged => HookKind::LeaderSettingsChanged,
            Op::Created(_) => HookKind::RelationCreated,
            Op::Joined(..) => HookKind::RelationJoined,
            Op::Changed(..) | Op::AppChanged(_) => HookKind::RelationChanged,
            Op::Departed(..) => HookKind::RelationDeparted,
            Op::Broken(_) => HookKind::RelationBroken,
            Op::Stop => HookKind::Stop,
            Op::Remove => HookKind::Remove,
            Op::UpdateStatus => HookKind::UpdateStatus,
            Op::SecretChanged(_) => HookKind::SecretChanged,
            Op::Action(_) => HookKind::Action,
            Op::Custom(_) => HookKind::Custom,
        }
    }

    pub fn local_rel(&self) -> Option<usize> {
        match self {
            Op::Created(l)
            | Op::Joined(l, _)
            | Op::Changed(l, _)
            | Op::AppChanged(l)
            | Op::Departed(l, _)
            | Op::Broken(l) => Some(*l),
            _ => None,
        }
    }
}

pub(crate) struct ErrorState {
    pub op: Op,
    pub attempts: u32,
    pub retry_at: VTime,
    pub hook: String,
}

/// Transactional writes of one hook, committed only when it succeeds.
#[derive(Default)]
pub(crate) struct Txn {
    /// (relation, bag scope is app, changes), merged per bag.
    pub rel_writes: Vec<(RelIdx, bool, Databag)>,
    pub stored: Option<String>,
    pub state: Vec<(String, Option<String>)>,
    pub secrets: Vec<crate::secrets::SecretOp>,
    /// The unit's opened ports after the hook, if it changed them.
    pub ports: Option<Vec<charm::Port>>,
}

pub(crate) struct Running {
    pub seq: u64,
    pub op: Op,
    pub event_hook: String,
    pub remote: Option<UnitId>,
    pub relation: Option<RelationId>,
    pub snap: u64,
    pub attempt: u32,
    pub start: VTime,
    pub end: VTime,
    pub txn: Txn,
    pub ok: bool,
    pub kill: bool,
    pub tool_calls: u32,
    pub commands: u32,
}

pub(crate) struct Unit {
    pub name: UnitName,
    pub name_rc: Rc<str>,
    pub sort_key: u64,
    pub app: AppId,
    pub machine_id: u32,
    pub machine: MachineSpec,
    pub life: Life,
    pub agent_up: bool,
    pub agent_epoch: u64,
    pub running: Option<Box<Running>>,
    pub resolve_pending: bool,
    pub installed: bool,
    pub started: bool,
    pub config_seen: u64,
    pub charm_seen: u64,
    pub local_leader: bool,
    pub ls_seen: u64,
    pub queued: Option<Op>,
    pub error: Option<ErrorState>,
    pub actions: VecDeque<usize>,
    pub execs: VecDeque<String>,
    pub secret_changes: BTreeSet<String>,
    pub update_status_due: bool,
    pub rels: Vec<LocalRel>,
    pub stored: Option<String>,
    pub controller_state: BTreeMap<String, String>,
    pub status: Status,
    pub skew_secs: i64,
    pub fail_hooks: u32,
    pub command_faults: VecDeque<crate::config::CommandFault>,
    pub hooks_run: u64,
    pub logs: VecDeque<(VTime, LogLevel, String)>,
    pub log_count: u64,
    pub last_hook_end: VTime,
    pub ports: Vec<charm::Port>,
    pub reboot_requested: bool,
}

impl Unit {
    pub fn local_rel_of(&self, rel: RelIdx) -> Option<usize> {
        self.rels.iter().position(|l| l.rel == rel)
    }
}

/// One unit's slot on one side of a relation: its bag and the bag's change version.
pub(crate) struct Slot {
    pub unit: UnitId,
    pub lr: usize,
    pub in_scope: bool,
    pub bag: Databag,
    pub bytes: usize,
    pub version: u64,
    /// The unit's name sort key.
    pub key: u64,
}

pub(crate) struct Side {
    pub app: AppId,
    pub endpoint: String,
    pub app_bag: Databag,
    pub app_bytes: usize,
    pub app_version: u64,
    pub slots: Vec<Slot>,
}

pub(crate) struct Rel {
    pub id: RelationId,
    pub peer: bool,
    pub life: Life,
    pub interface: String,
    pub sides: Vec<Side>,
}

impl Rel {
    pub fn remote_side(&self, side: usize) -> usize {
        if self.peer {
            0
        } else {
            1 - side
        }
    }
}

/// A unit's local (uniter) view of one relation: what it has run, whom it has joined and which
/// change version of each remote bag it has seen. The `to_*` sets are hints (sorted by unit
/// name) that the resolver checks against the current state, so the choice stays
/// level-triggered while costing only what changed.
pub(crate) struct LocalRel {
    pub rel: RelIdx,
    pub side: usize,
    pub slot: Option<u32>,
    pub created: bool,
    pub seen: Vec<u64>,
    pub members: usize,
    pub app_seen: u64,
    pub changed_pending: Option<u32>,
    pub to_join: BTreeSet<(u64, u32)>,
    pub to_change: BTreeSet<(u64, u32)>,
    pub to_depart: BTreeSet<(u64, u32)>,
    pub left: bool,
}

impl LocalRel {
    pub fn new(rel: RelIdx, side: usize) -> Self {
        Self {
            rel,
            side,
            slot: None,
            created: false,
            seen: Vec::new(),
            members: 0,
            app_seen: 0,
            changed_pending: None,
            to_join: BTreeSet::new(),
            to_change: BTreeSet::new(),
            to_depart: BTreeSet::new(),
            left: false,
        }
    }

    pub fn seen(&self, slot: u32) -> u64 {
        self.seen.get(slot as usize).copied().unwrap_or(NOT_MEMBER)
    }

    pub fn set_seen(&mut self, slot: u32, v: u64) {
        let i = slot as usize;
        if self.seen.len() <= i {
            self.seen.resize(i + 1, NOT_MEMBER);
        }
        self.seen[i] = v;
    }
}

/// A key that sorts unit numbers the way Juju sorts unit names (as strings: `a/10` < `a/2`).
pub(crate) fn name_sort_key(n: u32) -> u64 {
    let s = n.to_string();
    let b = s.as_bytes();
    let mut k = 0u64;
    for i in 0..10 {
        let d = b.get(i).map(|c| (c - b'0' + 1) as u64).unwrap_or(0);
        k = k * 11 + d;
    }
    k
}

pub(crate) fn bag_bytes(bag: &Databag) -> usize {
    bag.iter().map(|(k, v)| k.len() + v.len()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_key_matches_string_order() {
        let mut nums: Vec<u32> = vec![0, 1, 2, 10, 11, 19, 100, 20, 9, 999, 1000, 4294967295];
        let mut by_string = nums.clone();
        by_string.sort_by_key(|n| n.to_string());
        nums.sort_by_key(|n| name_sort_key(*n));
        assert_eq!(nums, by_string);
    }
}
