//! Knobs: the cost model that gives every hook a duration, Juju's timers, trace settings and the
//! random fault profile.

use std::time::Duration;

/// How long things take in virtual time.
///
/// A hook's duration is `hook_base + tool_call × (hook-tool calls) + Σ command costs`, then
/// scaled by a factor drawn uniformly from `[1 − jitter, 1 + jitter]`. A workload command costs
/// `command` unless the simulated workload reports its own duration, or unless it hangs (then
/// it costs its timeout).
#[derive(Debug, Clone, PartialEq)]
pub struct CostModel {
    /// Fixed cost of one hook: the agent preparing the context, starting the charm process and
    /// flushing the result. Default 50 ms.
    pub hook_base: Duration,
    /// Cost of one hook-tool call (`relation-get`, `status-set`, ...): a `jujuc` fork and an
    /// agent round trip. Default 5 ms.
    pub tool_call: Duration,
    /// Default cost of one workload command. Default 100 ms.
    pub command: Duration,
    /// What a hanging command costs when it has no timeout of its own. Default 300 s.
    pub hang: Duration,
    /// Relative jitter of hook durations, drawn from the seed. Default 0.1 (±10 %).
    pub jitter: f64,
}

impl Default for CostModel {
    fn default() -> Self {
        Self {
            hook_base: Duration::from_millis(50),
            tool_call: Duration::from_millis(5),
            command: Duration::from_millis(100),
            hang: Duration::from_secs(300),
            jitter: 0.1,
        }
    }
}

/// What the trace keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TraceMode {
    /// Every hook record is kept in memory.
    #[default]
    Full,
    /// One hook record in `n` is kept (all are still hashed, counted and streamed to a sink).
    Sampled(u64),
    /// No record is kept (hash, metrics and sink only): for very large runs.
    Off,
}

/// The simulator's settings. [`SimConfig::default`] is Juju 3.6 with its default timers.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// The cost model.
    pub cost: CostModel,
    /// The update-status interval (Juju's default: 5 minutes). `None` disables update-status.
    pub update_status_interval: Option<Duration>,
    /// The leadership lease: claimed for this long and renewed when half of it remains
    /// (Juju: 60 s, renewed every 30 s).
    pub lease_duration: Duration,
    /// The first hook retry delay (Juju: 5 s); doubled on each failure.
    pub retry_initial: Duration,
    /// The longest hook retry delay (Juju: 5 minutes).
    pub retry_max: Duration,
    /// Relative jitter of retry delays, drawn from the seed. Default 0.2 (±20 %).
    pub retry_jitter: f64,
    /// The Juju version the charms see.
    pub juju_version: charm::JujuVersion,
    /// What the trace keeps.
    pub trace: TraceMode,
    /// Whether trace records carry the values written (off by default, so that secrets such as
    /// join tokens never land in traces).
    pub trace_values: bool,
    /// How many log lines each unit keeps (the count of all lines is always kept).
    pub log_lines_per_unit: usize,
    /// The random faults, if any.
    pub faults: FaultProfile,
    /// The model's name (it appears in hostnames and the status table).
    pub model: String,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            cost: CostModel::default(),
            update_status_interval: Some(Duration::from_secs(300)),
            lease_duration: Duration::from_secs(60),
            retry_initial: Duration::from_secs(5),
            retry_max: Duration::from_secs(300),
            retry_jitter: 0.2,
            juju_version: charm::JujuVersion {
                major: 3,
                minor: 6,
                patch: 4,
            },
            trace: TraceMode::Full,
            trace_values: false,
            log_lines_per_unit: 32,
            faults: FaultProfile::default(),
            model: "sim".into(),
        }
    }
}

/// Random faults, drawn from the seed. Every probability is per event (per hook, per command)
/// and defaults to zero.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FaultProfile {
    /// Probability that a unit's agent dies in the middle of a hook (the hook's writes are lost).
    pub agent_death_per_hook: f64,
    /// How long a dead agent stays down (drawn uniformly from `[d/2, d]`).
    pub agent_down_for: Duration,
    /// Probability that a hook fails as if the charm returned an error.
    pub hook_failure: f64,
    /// Probability that a workload command exits non-zero.
    pub command_failure: f64,
    /// Probability that a workload command hangs until its timeout.
    pub command_hang: f64,
    /// Probability that a workload command exits 0 but prints garbage.
    pub command_garbage: f64,
    /// Hooks of these kinds (`install`, `relation-changed`, ...) are never failed or killed by
    /// the profile; empty means every kind may be.
    pub spare_hooks: Vec<String>,
}

impl FaultProfile {
    /// A profile with a little of everything, for `ensemble check`.
    pub fn chaos() -> Self {
        Self {
            agent_death_per_hook: 0.002,
            agent_down_for: Duration::from_secs(90),
            hook_failure: 0.01,
            command_failure: 0.02,
            command_hang: 0.005,
            command_garbage: 0.01,
            spare_hooks: Vec::new(),
        }
    }

    /// Whether any random fault is enabled.
    pub fn any(&self) -> bool {
        self.agent_death_per_hook > 0.0
            || self.hook_failure > 0.0
            || self.command_failure > 0.0
            || self.command_hang > 0.0
            || self.command_garbage > 0.0
    }
}

/// A fault injected at a chosen virtual time (see [`crate::Sim::fault_at`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// The unit's agent dies (a hook in progress loses its writes) and comes back after
    /// `down_for`. A leader's lease then runs out before another unit is elected.
    KillAgent {
        /// The unit.
        unit: String,
        /// How long the agent stays down.
        down_for: Duration,
    },
    /// The unit's next `count` hooks fail as if the charm returned an error.
    FailHooks {
        /// The unit.
        unit: String,
        /// How many hooks.
        count: u32,
    },
    /// The application's leader loses its lease: its agent dies for `down_for`, so another unit
    /// is elected once the lease runs out.
    LoseLeader {
        /// The application.
        app: String,
        /// How long the old leader's agent stays down.
        down_for: Duration,
    },
    /// The unit is removed: gracefully (departed, broken, stop, remove hooks) or forced (it is
    /// dead at once and runs no further hook).
    RemoveUnit {
        /// The unit.
        unit: String,
        /// Forced removal.
        force: bool,
    },
    /// `count` units are added to the application.
    ScaleUp {
        /// The application.
        app: String,
        /// How many units.
        count: usize,
    },
    /// The application's `count` newest alive units are removed gracefully.
    ScaleDown {
        /// The application.
        app: String,
        /// How many units.
        count: usize,
    },
    /// The relation is removed (its units run departed and broken hooks).
    RemoveRelation {
        /// The relation's id.
        relation: charm::RelationId,
    },
    /// The unit's machine clock is skewed by this many seconds (negative: behind).
    ClockSkew {
        /// The unit.
        unit: String,
        /// The skew in seconds.
        seconds: i64,
    },
    /// The unit's next `count` workload commands misbehave.
    Command {
        /// The unit.
        unit: String,
        /// How they misbehave.
        kind: CommandFault,
        /// How many commands.
        count: u32,
    },
}

/// How a workload command misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandFault {
    /// It exits non-zero.
    Fail,
    /// It hangs past its timeout (the hook is charged the timeout, the call fails).
    Hang,
    /// It exits 0 but prints garbage.
    Garbage,
}
