//! The trace of every hook, its hash, and the metrics derived from it.

use charm::RelationId;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

/// The kind of a hook, without its endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HookKind {
    /// `install`.
    Install,
    /// `start`.
    Start,
    /// `config-changed`.
    ConfigChanged,
    /// `upgrade-charm`.
    UpgradeCharm,
    /// `leader-elected`.
    LeaderElected,
    /// `leader-settings-changed`.
    LeaderSettingsChanged,
    /// `<endpoint>-relation-created`.
    RelationCreated,
    /// `<endpoint>-relation-joined`.
    RelationJoined,
    /// `<endpoint>-relation-changed`.
    RelationChanged,
    /// `<endpoint>-relation-departed`.
    RelationDeparted,
    /// `<endpoint>-relation-broken`.
    RelationBroken,
    /// `stop`.
    Stop,
    /// `remove`.
    Remove,
    /// `update-status`.
    UpdateStatus,
    /// `secret-changed`.
    SecretChanged,
    /// An action.
    Action,
    /// A custom event the charm dispatched to itself (the juju-exec path).
    Custom,
}

/// Every hook kind, in a fixed order.
pub const HOOK_KINDS: [HookKind; 17] = [
    HookKind::Install,
    HookKind::Start,
    HookKind::ConfigChanged,
    HookKind::UpgradeCharm,
    HookKind::LeaderElected,
    HookKind::LeaderSettingsChanged,
    HookKind::RelationCreated,
    HookKind::RelationJoined,
    HookKind::RelationChanged,
    HookKind::RelationDeparted,
    HookKind::RelationBroken,
    HookKind::Stop,
    HookKind::Remove,
    HookKind::UpdateStatus,
    HookKind::SecretChanged,
    HookKind::Action,
    HookKind::Custom,
];

impl HookKind {
    /// The kind's name: `install`, `relation-changed`, `action`, `custom`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Install => "install",
            Self::Start => "start",
            Self::ConfigChanged => "config-changed",
            Self::UpgradeCharm => "upgrade-charm",
            Self::LeaderElected => "leader-elected",
            Self::LeaderSettingsChanged => "leader-settings-changed",
            Self::RelationCreated => "relation-created",
            Self::RelationJoined => "relation-joined",
            Self::RelationChanged => "relation-changed",
            Self::RelationDeparted => "relation-departed",
            Self::RelationBroken => "relation-broken",
            Self::Stop => "stop",
            Self::Remove => "remove",
            Self::UpdateStatus => "update-status",
            Self::SecretChanged => "secret-changed",
            Self::Action => "action",
            Self::Custom => "custom",
        }
    }

    pub(crate) fn index(&self) -> usize {
        *self as usize
    }
}

impl fmt::Display for HookKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a hook ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HookOutcome {
    /// It succeeded and its changes were committed.
    Ok,
    /// It failed (a handler error, a panic, an injected failure); nothing was committed.
    Failed,
    /// The unit's agent died during the hook; nothing was committed.
    Killed,
}

/// One hook as the trace records it. Values written appear only when
/// [`crate::SimConfig::trace_values`] is set, so secrets never land in a trace by default.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HookRecord {
    /// The hook's sequence number (0, 1, ... over the whole run).
    pub seq: u64,
    /// The unit.
    #[serde(serialize_with = "ser_rc")]
    pub unit: Rc<str>,
    /// The hook's kind.
    pub kind: HookKind,
    /// The hook's full name (`db-relation-changed`, or the action's name).
    #[serde(serialize_with = "ser_rc")]
    pub hook: Rc<str>,
    /// The relation, for relation hooks.
    pub relation: Option<RelationId>,
    /// The remote unit (`JUJU_REMOTE_UNIT`), if any.
    #[serde(serialize_with = "ser_opt_rc")]
    pub remote_unit: Option<Rc<str>>,
    /// Virtual time at which the hook started.
    pub start: Duration,
    /// How long it took in virtual time.
    pub duration: Duration,
    /// Which attempt this was (1 for the first run, more for retries).
    pub attempt: u32,
    /// Hook-tool calls made.
    pub tool_calls: u32,
    /// Workload commands run.
    pub commands: u32,
    /// Relation keys written and committed, as `<relation id>/<bag owner>/<key>`.
    pub keys_written: Vec<String>,
    /// Bytes (keys plus values) of relation data committed.
    pub bytes_written: u64,
    /// The values written (only with [`crate::SimConfig::trace_values`]).
    pub values: Vec<(String, String)>,
    /// For a hook that failed or was killed: what its transaction would have written, as
    /// `<relation id>/<bag owner>/<key>`, `state/<unit>/<key>` (controller state) and
    /// `stored/<unit>` (stored state). Empty for a hook that succeeded.
    pub attempted_keys: Vec<String>,
    /// Bytes (keys plus values) of [`HookRecord::attempted_keys`].
    pub attempted_bytes: u64,
    /// A digest of the model's values of [`HookRecord::attempted_keys`] just before the
    /// simulator processed the hook's end.
    pub attempted_before: u64,
    /// The same digest just after: equal to [`HookRecord::attempted_before`] when nothing the
    /// hook tried to write was committed.
    pub attempted_after: u64,
    /// How it ended.
    pub outcome: HookOutcome,
}

fn ser_rc<S: serde::Serializer>(v: &Rc<str>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v)
}

fn ser_opt_rc<S: serde::Serializer>(v: &Option<Rc<str>>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_some(&**v),
        None => s.serialize_none(),
    }
}

impl HookRecord {
    /// The virtual time at which the hook ended.
    pub fn end(&self) -> Duration {
        self.start + self.duration
    }
}

impl fmt::Display for HookRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "#{} {:>10.3}s {} {}",
            self.seq,
            self.start.as_secs_f64(),
            self.unit,
            self.hook
        )?;
        if let Some(r) = &self.remote_unit {
            write!(f, " ({r})")?;
        }
        write!(
            f,
            " {:.3}s tools={} cmds={} bytes={}",
            self.duration.as_secs_f64(),
            self.tool_calls,
            self.commands,
            self.bytes_written
        )?;
        if self.attempt > 1 {
            write!(f, " attempt={}", self.attempt)?;
        }
        match self.outcome {
            HookOutcome::Ok => Ok(()),
            HookOutcome::Failed => f.write_str(" FAILED"),
            HookOutcome::Killed => f.write_str(" KILLED"),
        }
    }
}

/// A receiver for every hook record as it happens (for streaming very large runs).
pub type TraceSink = Box<dyn FnMut(&HookRecord)>;

/// The trace: kept records, a running hash over every hook and simulator event, and counts.
#[derive(Default)]
pub struct Trace {
    pub(crate) records: Vec<HookRecord>,
    pub(crate) events: Vec<(Duration, String)>,
    pub(crate) hash: u64,
    pub(crate) count: u64,
}

impl Trace {
    pub(crate) fn new() -> Self {
        Self {
            hash: FNV_OFFSET,
            ..Default::default()
        }
    }

    /// The hook records kept (all of them under [`crate::TraceMode::Full`]).
    pub fn records(&self) -> &[HookRecord] {
        &self.records
    }

    /// Simulator events: elections, agent deaths, faults, removals, with their virtual time.
    pub fn events(&self) -> &[(Duration, String)] {
        &self.events
    }

    /// A hash of every hook and simulator event so far, in order. Two runs with the same seed
    /// and the same scenario have the same hash.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// How many hooks ran.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// Whether no hook ran.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The kept records of one unit.
    pub fn of_unit<'a>(&'a self, unit: &'a str) -> impl Iterator<Item = &'a HookRecord> + 'a {
        self.records.iter().filter(move |r| &*r.unit == unit)
    }

    /// The hook names one unit ran, in order (kept records only).
    pub fn hooks_of(&self, unit: &str) -> Vec<String> {
        self.of_unit(unit).map(|r| r.hook.to_string()).collect()
    }

    pub(crate) fn mix(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.hash ^= *b as u64;
            self.hash = self.hash.wrapping_mul(FNV_PRIME);
        }
    }

    pub(crate) fn mix_u64(&mut self, v: u64) {
        self.mix(&v.to_le_bytes());
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Counters over a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Metrics {
    /// Hooks run (failed and killed ones included).
    pub hooks: u64,
    /// Hooks by kind (`install`, `relation-changed`, ...).
    pub hooks_by_kind: BTreeMap<String, u64>,
    /// Hooks that failed.
    pub failed_hooks: u64,
    /// Hooks whose agent died during them.
    pub killed_hooks: u64,
    /// The most hooks any one unit ran.
    pub max_hooks_per_unit: u64,
    /// The unit that ran the most hooks.
    pub busiest_unit: Option<String>,
    /// relation-changed hooks.
    pub relation_changed: u64,
    /// Hook-tool calls.
    pub tool_calls: u64,
    /// Workload commands.
    pub workload_commands: u64,
    /// Bytes (keys plus values) of relation data committed.
    pub relation_bytes_written: u64,
    /// The size in bytes of the largest databag ever committed.
    pub largest_databag_bytes: u64,
    /// Whose bag that was: `relation <id>, unit <name>` or `relation <id>, application <name>`.
    pub largest_databag: Option<String>,
    /// Leader elections (the first one at deploy included).
    pub elections: u64,
    /// Units ever deployed.
    pub units: usize,
    /// Virtual time now.
    pub virtual_time: Duration,
    /// Virtual time at which the model last became quiescent (see
    /// [`crate::Sim::run_until_idle`]).
    pub quiescence: Option<Duration>,
    /// Virtual time at which the last relation hook (created, joined, changed, departed,
    /// broken) ended: when the relations settled.
    pub last_relation_hook: Duration,
}

impl fmt::Display for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "hooks                  {}", self.hooks)?;
        for (k, v) in &self.hooks_by_kind {
            writeln!(f, "  {k:<24} {v}")?;
        }
        writeln!(f, "failed hooks           {}", self.failed_hooks)?;
        writeln!(f, "killed hooks           {}", self.killed_hooks)?;
        writeln!(
            f,
            "max hooks per unit     {}{}",
            self.max_hooks_per_unit,
            self.busiest_unit
                .as_ref()
                .map(|u| format!(" ({u})"))
                .unwrap_or_default()
        )?;
        writeln!(f, "relation-changed       {}", self.relation_changed)?;
        writeln!(f, "hook-tool calls        {}", self.tool_calls)?;
        writeln!(f, "workload commands      {}", self.workload_commands)?;
        writeln!(f, "relation bytes written {}", self.relation_bytes_written)?;
        writeln!(
            f,
            "largest databag        {} B{}",
            self.largest_databag_bytes,
            self.largest_databag
                .as_ref()
                .map(|b| format!(" ({b})"))
                .unwrap_or_default()
        )?;
        writeln!(f, "leader elections       {}", self.elections)?;
        writeln!(f, "units                  {}", self.units)?;
        writeln!(
            f,
            "virtual time           {:.1} s",
            self.virtual_time.as_secs_f64()
        )?;
        match self.quiescence {
            Some(q) => writeln!(f, "quiescent at           {:.1} s", q.as_secs_f64()),
            None => writeln!(f, "quiescent at           not yet"),
        }
    }
}
