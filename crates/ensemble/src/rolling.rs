//! Rolling operations in the simulator: the rolling-restart example charm
//! ([`rollingops::example::RollingDemo`]) on a simulated workload whose restart takes virtual
//! time, and an invariant checker that sees every operation start and end.
//!
//! **What the checker sees.** The operation is the workload command `demo-service restart
//! <id>`, served by [`DemoService`]: each run is journalled with its unit, request id, start
//! (the virtual time at which the callback ran the command) and end (when the restart job ended
//! on the machine), whatever happens to the hook afterwards. A hook killed in the middle (agent
//! death, forced removal) loses its writes, but its restart keeps running on the machine until
//! its natural end: the checker counts it as running until then (a stuck restart runs until the
//! service's own start timeout, [`JOB_LIMIT`]). The probe charm
//! ([`Probed`]) also notes, for every hook, its name and whether the unit was leader. The rest
//! comes from the simulator's trace, with the values written (`SimConfig::trace_values`): the
//! committed history of every bag.
//!
//! **Invariants** ([`check`]):
//! 1. *Exclusion*: no two operations of different units overlap in time, orphaned restarts of
//!    killed hooks included; two runs of one unit overlap only when the first one's hook was
//!    killed (Juju runs the hook again; callbacks are idempotent). Every operation ran while its
//!    unit held a grant it had not answered.
//! 2. *Completion*: once faults stop (and the operator has force-released a lock left by a
//!    unit that is gone), the lock is free, every live unit's queue is empty, every request left
//!    its queue because a committed run released it or exhausted `max_retry`, and each committed
//!    run changed the queue exactly as its answer says (exactly once per committed run).
//! 3. *Order*: a grant for a request never overtakes a request that the granting leader had
//!    already seen (in a successful hook of its own, as leader, that read the other unit's bag)
//!    before the granted request was even committed; a retry-release never overtakes a request
//!    the leader knows of; retry-hold is exempt.
//!
//! **Virtual time.** The scenarios use the default cost model without jitter
//! ([`sim_config`]): the simulator scales a whole hook's duration by its jitter factor, the
//! workload command's reported duration included, while the command itself sees unscaled time,
//! so with jitter a hook could commit before its own restart "ended".

use charm::{
    Charm, ConfigValue, Context, Databag, Event, HandlerResult, Observers, StatusName, WorkloadCommand,
};
use juju_sim::scenarios::{replay_command, Outcome};
use juju_sim::workload::{CommandContext, CommandResult, Workload};
use juju_sim::{CostModel, Fault, FaultProfile, HookKind, HookOutcome, HookRecord, Rng, Sim, SimConfig};
use rollingops::core::{AppView, UnitBag};
use rollingops::example::{self, request_id, RollingDemo};
use rollingops::wire::{Operation, UnitState};
use serde::Serialize;
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

/// The application's name in these scenarios.
pub const APP: &str = "rolling";

/// The longest a run may take in virtual time before it counts as stuck.
pub const MAX_VIRTUAL: Duration = Duration::from_secs(12 * 3600);

/// What the simulated restart does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Answer {
    /// Done: exit 0, no output.
    Release,
    /// Exit 0 printing `retry-release`.
    RetryRelease,
    /// Exit 0 printing `retry-hold`.
    RetryHold,
    /// Exit 1 half-way through (a failed callback: retry-release).
    Fail,
    /// The service hangs in its start until its own start timeout ([`JOB_LIMIT`]), then the
    /// restart fails with exit 1 (a failed callback: retry-release).
    Stuck,
}

/// How long the simulated service may take to start before it gives up (systemd's
/// `TimeoutStartSec`): a stuck restart ends, failed, after this long.
pub const JOB_LIMIT: Duration = Duration::from_secs(600);

/// One run of the restart command, as the workload saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpRun {
    /// The unit.
    pub unit: String,
    /// The request id (`id` or `generation-<n>` from the kwargs).
    pub id: String,
    /// When the callback ran the command (virtual time, no clock skew): its hook's start.
    pub start: Duration,
    /// When the restart itself started: later than `start` if a restart left running by a
    /// killed hook was still going on the machine.
    pub job_start: Duration,
    /// When the restart ended on the machine (the command returned then), whatever happened to
    /// the hook that ran it.
    pub end: Duration,
    /// What it did.
    pub answer: Answer,
}

/// What the probe saw at the start of one hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The hook's name.
    pub hook: String,
    /// Whether the unit was leader.
    pub leader: bool,
    /// On the leader's relation-changed and -joined: the remote unit and its bag as the hook
    /// read it (the library reads the same bag, from the hook's cache, so this costs no tool
    /// call).
    pub read: Option<(String, Databag)>,
}

/// Everything the checker collects while the model runs.
#[derive(Debug, Default)]
pub struct Journal {
    /// Every run of the restart, in the order they started.
    pub ops: Vec<OpRun>,
    /// For each unit, one note per hook, in order (with [`Probed`] only).
    pub notes: BTreeMap<String, Vec<Note>>,
    /// Hostile units ([`Probed`] only): after the library's handling, each of their hooks may
    /// overwrite their own peer bag with malformed or extreme values ([`hostile_values`]).
    pub rogues: BTreeSet<String>,
    /// Whether the rogues are hostile now (the driver turns it off when faults stop).
    pub hostile: bool,
    /// Hooks run by each rogue, and hostile writes made.
    pub rogue_hooks: BTreeMap<String, (u64, u64)>,
    /// Errors and panics of the library's handling on honest units: (unit, hook, message).
    pub errors: Vec<(String, String, String)>,
}

/// The journal, shared by the workload, the probe and the checker.
pub type SharedJournal = Rc<RefCell<Journal>>;

/// How often the simulated restart answers something other than release (drawn per run from
/// the simulation's seed).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AnswerMix {
    /// Probability of `retry-release`.
    pub retry_release: f64,
    /// Probability of `retry-hold`.
    pub retry_hold: f64,
    /// Probability of exit 1.
    pub fail: f64,
    /// Probability of a restart stuck until the service's start timeout.
    pub stuck: f64,
}

impl AnswerMix {
    /// Every restart releases.
    pub fn always_release() -> Self {
        Self::default()
    }

    /// The mix of `ensemble check rollingops`.
    pub fn chaos() -> Self {
        Self {
            retry_release: 0.08,
            retry_hold: 0.05,
            fail: 0.05,
            stuck: 0.005,
        }
    }

    fn draw(&self, random: u64) -> Answer {
        let u = (random >> 11) as f64 / (1u64 << 53) as f64;
        let mut acc = 0.0;
        for (p, a) in [
            (self.retry_release, Answer::RetryRelease),
            (self.retry_hold, Answer::RetryHold),
            (self.fail, Answer::Fail),
            (self.stuck, Answer::Stuck),
        ] {
            acc += p;
            if u < acc {
                return a;
            }
        }
        Answer::Release
    }
}

/// The simulated `demo-service`: `restart <id>` restarts the service on the unit's machine,
/// which takes `op` of virtual time, and answers from the mix. Like a systemd unit, one machine
/// runs one restart job at a time: a restart asked for while another is still running (one
/// left behind by a hook whose agent died) starts when that one ends, and the command returns
/// when its own job ends. Every run goes to the journal.
pub struct DemoService {
    journal: SharedJournal,
    op: Duration,
    mix: AnswerMix,
    busy_until: BTreeMap<String, Duration>,
}

impl DemoService {
    /// A service whose restart takes `op`.
    pub fn new(journal: SharedJournal, op: Duration, mix: AnswerMix) -> Self {
        Self {
            journal,
            op,
            mix,
            busy_until: BTreeMap::new(),
        }
    }
}

impl Workload for DemoService {
    fn run(&mut self, ctx: &CommandContext<'_>, command: &WorkloadCommand) -> CommandResult {
        let (Some("restart"), Some(id)) = (command.args.first().map(String::as_str), command.args.get(1))
        else {
            return charm::CommandOutput::failed(2, "usage: demo-service restart <id>").into();
        };
        let answer = self.mix.draw(ctx.random);
        let unit = ctx.unit.to_string();
        let job_start = self
            .busy_until
            .get(&unit)
            .copied()
            .unwrap_or_default()
            .max(ctx.now);
        let (job, output) = match answer {
            Answer::Release => (self.op, charm::CommandOutput::ok("")),
            Answer::RetryRelease => (self.op, charm::CommandOutput::ok("retry-release\n")),
            Answer::RetryHold => (self.op, charm::CommandOutput::ok("retry-hold\n")),
            Answer::Fail => (
                self.op / 2,
                charm::CommandOutput::failed(1, "the service did not come back"),
            ),
            Answer::Stuck => (
                JOB_LIMIT,
                charm::CommandOutput::failed(1, "the service timed out starting"),
            ),
        };
        let end = job_start + job;
        self.busy_until.insert(unit.clone(), end);
        self.journal.borrow_mut().ops.push(OpRun {
            unit,
            id: id.clone(),
            start: ctx.now,
            job_start,
            end,
            answer,
        });
        CommandResult {
            output,
            duration: Some(end - ctx.now),
        }
    }
}

/// The example charm with a probe in front of it that notes, for every hook, its name and
/// whether the unit leads.
pub struct Probed {
    journal: SharedJournal,
}

impl Charm for Probed {
    fn register(on: &mut Observers<Self>) {
        on.custom_event(rollingops::LOCK_GRANTED_EVENT);
        on.observe("probe", Self::note);
        on.observe("rolling-demo", Self::handle);
        on.observe("rogue", Self::rogue);
    }
}

/// The hostile values a rogue writes into its own bag on its `n`th hostile write: malformed
/// or extreme numbers, NaN and huge floats, garbage JSON, a megabyte value, unknown callback
/// ids, a forged grant, an acknowledgement of another unit's grant. (Never a valid request for
/// a known callback: a rogue's own runs come only from the honest requests the scenario makes.)
pub fn hostile_values(
    n: u64,
    me: &str,
    other: &str,
    grant: Option<&rollingops::core::Grant>,
) -> Vec<(String, String)> {
    let granted_at = grant.map_or("1795302851.0".to_owned(), |g| g.granted_at.clone());
    let kv = |pairs: &[(&str, String)]| -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
    };
    match n % 9 {
        0 => kv(&[
            ("ensemble-protocol", "1".into()),
            ("ensemble-ack", format!(r#"{{"seq":18446744073709551615,"granted_at":"{granted_at}"}}"#)),
        ]),
        1 => kv(&[(
            "ensemble-ack",
            grant.map_or(r#"{"seq":9007199254740991,"granted_at":""}"#.to_owned(), |g| {
                g.id().render()
            }),
        )]),
        2 => kv(&[
            ("executed_at", "1e308".into()),
            ("operations", r#"[{"callback_id":"restart","requested_at":"1e300"}]"#.into()),
            ("state", "request".into()),
        ]),
        3 => kv(&[
            ("executed_at", "NaN".into()),
            ("ensemble-leaving", "perhaps".into()),
            ("processing_backend", "carrier-pigeon".into()),
            (
                "operations",
                r#"[{"callback_id":"_restart","requested_at":"1795302851.5","max_retry":4294967295,"attempt":4294967295}]"#.into(),
            ),
            ("state", "retry-hold".into()),
        ]),
        4 => kv(&[("operations", "{[\"garbage".into()), ("state", "request".into())]),
        5 => kv(&[("state", "x".repeat(1 << 20))]),
        6 => kv(&[
            (
                "operations",
                r#"[{"callback_id":"_restart","requested_at":"1795302851.5"},{"callback_id":"_failed_restart","requested_at":"1795302851.6"}]"#.into(),
            ),
            ("state", "request".into()),
            ("ensemble-leaving", String::new()),
        ]),
        7 => kv(&[
            ("granted_unit", if n % 2 == 0 { me.to_owned() } else { other.to_owned() }),
            ("granted_at", "inf".into()),
            (
                "ensemble-grant",
                format!(r#"{{"seq":18446744073709551615,"unit":"{other}","granted_at":"{granted_at}"}}"#),
            ),
            ("ensemble-ack", r#"{"seq":null,"granted_at":""}"#.into()),
        ]),
        _ => kv(&[
            (
                "operations",
                format!(
                    r#"[{{"callback_id":"restart","requested_at":"1795302851.5","kwargs":{{"id":"{}"}}}}]"#,
                    "k".repeat(20_000)
                ),
            ),
            ("state", "request".into()),
        ]),
    }
}

impl Probed {
    /// The example charm's handling; on an honest unit, an error or a panic is journalled (the
    /// checker counts it as a violation: no peer's value may make a hook fail). A rogue's own
    /// garbage may make its own requests fail: that is its problem, not a violation.
    fn handle(&mut self, ctx: &mut Context<'_>, event: &Event) -> HandlerResult {
        let unit = ctx.unit().to_string();
        let rogue = self.journal.borrow().rogues.contains(&unit);
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| RollingDemo.on_event(ctx, event)));
        let error = match &result {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => e.to_string(),
            Err(p) => format!(
                "panic: {}",
                p.downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_default()
            ),
        };
        if rogue {
            return Ok(());
        }
        self.journal
            .borrow_mut()
            .errors
            .push((unit, event.hook_name(), rollingops::wire::redact(&error)));
        Err(charm::HandlerError::msg(error))
    }

    /// A rogue's hostile write, after the library's handling, in the same hook.
    fn rogue(&mut self, ctx: &mut Context<'_>, _event: &Event) -> HandlerResult {
        let unit = ctx.unit().to_string();
        let n = {
            let mut j = self.journal.borrow_mut();
            if !j.hostile || !j.rogues.contains(&unit) {
                return Ok(());
            }
            let c = j.rogue_hooks.entry(unit.clone()).or_default();
            c.0 += 1;
            // One hostile write every third hook: enough to meet every kind, few enough that a
            // rogue and the leader do not wake each other for ever.
            if c.0 % 3 != 1 {
                return Ok(());
            }
            c.1 += 1;
            c.1 - 1
        };
        let Some(rel) = ctx.relation_ids(example::PEER_ENDPOINT)?.into_iter().min() else {
            return Ok(());
        };
        let grant = AppView::parse(ctx.app_data(rel)?).grant;
        let other = ctx
            .relation(rel)?
            .units
            .iter()
            .map(ToString::to_string)
            .find(|u| *u != unit)
            .unwrap_or_else(|| unit.clone());
        let values = hostile_values(n, &unit, &other, grant.as_ref());
        let changes: BTreeMap<String, Option<String>> =
            values.into_iter().map(|(k, v)| (k, Some(v))).collect();
        ctx.write(rel, &charm::BagOwner::Unit(ctx.unit().clone()), changes)?;
        Ok(())
    }

    fn note(&mut self, ctx: &mut Context<'_>, event: &Event) -> HandlerResult {
        let leader = ctx.is_leader()?;
        let mut read = None;
        if let (true, Event::RelationChanged(r) | Event::RelationJoined(r)) = (leader, event) {
            if let Some(u) = &r.remote_unit {
                if let Ok(bag) = ctx.data(r.relation_id, &charm::BagOwner::Unit(u.clone())) {
                    read = Some((u.to_string(), bag.clone()));
                }
            }
        }
        self.journal
            .borrow_mut()
            .notes
            .entry(ctx.unit().to_string())
            .or_default()
            .push(Note {
                hook: event.hook_name(),
                leader,
                read,
            });
        Ok(())
    }
}

/// The simulator's settings for these scenarios: the default cost model without jitter (see the
/// module documentation) and the values written kept in the trace (the checker reads them).
pub fn sim_config() -> SimConfig {
    SimConfig {
        cost: CostModel {
            jitter: 0.0,
            ..CostModel::default()
        },
        trace_values: true,
        ..SimConfig::default()
    }
}

/// Deploys `units` units of the example charm as `app`, with the probe if `probe`, and serves
/// `demo-service` (restarts of `op`, answers from `mix`). Returns the journal.
pub fn deploy(
    sim: &mut Sim,
    app: &str,
    units: usize,
    op: Duration,
    mix: AnswerMix,
    probe: bool,
) -> SharedJournal {
    let meta = charm::Metadata::from_charmcraft_yaml(example::CHARMCRAFT_YAML)
        .unwrap_or_else(|e| unreachable!("the example's charmcraft.yaml parses: {e}"));
    let journal = SharedJournal::default();
    if probe {
        let j = journal.clone();
        sim.deploy(app, units, move || Probed { journal: j.clone() }, meta);
    } else {
        sim.deploy(app, units, RollingDemo::default, meta);
    }
    let service = DemoService::new(journal.clone(), op, mix);
    if let Err(e) = sim.serve_commands(app, example::SERVICE, service) {
        sim.fail(&format!("cannot serve {} to {app}: {e}", example::SERVICE));
    }
    journal
}

/// The unit holding the lock, as the application bag says.
pub fn holder(sim: &Sim, app: &str) -> Option<String> {
    let rel = sim.peer_relation(app, Some(example::PEER_ENDPOINT))?;
    let bag = sim.databag(rel, app)?;
    AppView::parse(bag).grant.map(|g| g.unit)
}

/// Queues a restart on `unit` with the `restart` action.
pub fn request(sim: &mut Sim, unit: &str, id: &str, max_retry: Option<u32>) -> Result<usize, String> {
    let mut params = Map::new();
    params.insert("id".into(), Value::String(id.to_owned()));
    if let Some(m) = max_retry {
        params.insert("max-retry".into(), Value::from(m));
    }
    sim.run_action(unit, "restart", params).map_err(|e| e.to_string())
}

/// Raises `restart-generation` to `generation`: every unit queues a restart.
pub fn rolling_restart(sim: &mut Sim, app: &str, generation: i64) -> Result<(), String> {
    sim.set_config(app, "restart-generation", Some(ConfigValue::Int(generation)))
        .map_err(|e| e.to_string())
}

/// Runs the operator's `force-release` action on the leader for `unit`; returns the action's id.
pub fn force_release(sim: &mut Sim, app: &str, unit: &str) -> Result<usize, String> {
    let leader = sim.leader(app).ok_or("no leader to run force-release on")?;
    let mut params = Map::new();
    params.insert("unit".into(), Value::String(unit.to_owned()));
    sim.run_action(&leader, rollingops::FORCE_RELEASE_ACTION, params)
        .map_err(|e| e.to_string())
}

// ----- the checker -----

/// What [`check`] verified.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CheckReport {
    /// Runs of the restart (killed and failed hooks included).
    pub runs: usize,
    /// Runs whose hook committed.
    pub committed_runs: usize,
    /// Runs whose hook was killed (their restart counted as running to its end).
    pub killed_runs: usize,
    /// Overlaps of a killed run with the same unit's next run (allowed).
    pub orphan_overlaps: usize,
    /// Requests that reached a committed queue.
    pub requests: usize,
    /// Requests released by a committed run.
    pub served: usize,
    /// Requests dropped after `max_retry`.
    pub dropped: usize,
    /// Requests left in the queue of a unit that is gone.
    pub left_with_removed_units: usize,
    /// Grants checked for order.
    pub grants: usize,
    /// Pairs of requests whose order was checked.
    pub ordered_pairs: usize,
    /// Grants to a unit in retry-hold (exempt from the order).
    pub retry_hold_grants: usize,
    /// Locks the operator released with force-release.
    pub force_released: usize,
    /// Units that left while a run of theirs had been cut short (they kept the lock).
    pub interrupted_leavings: usize,
    /// Hostile units (see [`hostile_values`]).
    pub rogues: usize,
    /// Hostile writes they made.
    pub hostile_writes: u64,
    /// Overlaps of a rogue's run with another unit's (not a violation: see [`check`]).
    pub rogue_overlaps: usize,
}

/// The committed history of every bag of the peer relation.
struct History {
    /// Owner → (commit time, record index, bag after the commit).
    bags: BTreeMap<String, Vec<(Duration, usize, Databag)>>,
}

impl History {
    fn build(records: &[HookRecord], rel: charm::RelationId) -> Self {
        let prefix = format!("{rel}/");
        let mut bags: BTreeMap<String, Vec<(Duration, usize, Databag)>> = BTreeMap::new();
        for (i, r) in records.iter().enumerate() {
            if r.outcome != HookOutcome::Ok {
                continue;
            }
            let mut touched: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
            for (k, v) in &r.values {
                let Some(rest) = k.strip_prefix(&prefix) else {
                    continue;
                };
                let Some((owner, key)) = rest.rsplit_once('/') else {
                    continue;
                };
                touched.entry(owner).or_default().push((key, v));
            }
            for (owner, changes) in touched {
                let list = bags.entry(owner.to_owned()).or_default();
                let mut bag = list.last().map(|(_, _, b)| b.clone()).unwrap_or_default();
                for (k, v) in changes {
                    if v.is_empty() {
                        bag.remove(k);
                    } else {
                        bag.insert(k.to_owned(), v.to_owned());
                    }
                }
                list.push((r.end(), i, bag));
            }
        }
        Self { bags }
    }

    /// The bag as committed at `t` (commits at `t` included unless `strict`).
    fn at(&self, owner: &str, t: Duration, strict: bool) -> Databag {
        let Some(list) = self.bags.get(owner) else {
            return Databag::new();
        };
        list.iter()
            .rev()
            .find(|(at, _, _)| if strict { *at < t } else { *at <= t })
            .map(|(_, _, b)| b.clone())
            .unwrap_or_default()
    }

    /// The bag right after record `idx` committed, if that record wrote it.
    fn after(&self, owner: &str, idx: usize) -> Option<&Databag> {
        self.bags
            .get(owner)?
            .iter()
            .find(|(_, i, _)| *i == idx)
            .map(|(_, _, b)| b)
    }

    /// Whether `owner`'s bag had a commit at exactly `t` (a hook starting then may or may not
    /// have seen it).
    fn commit_at(&self, owner: &str, t: Duration) -> bool {
        self.bags
            .get(owner)
            .is_some_and(|l| l.iter().any(|(at, _, _)| *at == t))
    }

    fn last(&self, owner: &str) -> Databag {
        self.bags
            .get(owner)
            .and_then(|l| l.last())
            .map(|(_, _, b)| b.clone())
            .unwrap_or_default()
    }
}

fn secs(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}

fn is_unit_of(unit: &str, app: &str) -> bool {
    unit.split_once('/').is_some_and(|(a, _)| a == app)
}

/// What a committed run must leave in the queue: the head dropped on release, or its attempt
/// raised on a retry (dropped past `max_retry`); the state as charmlibs sets it.
fn expected_after(before: &[Operation], answer: Answer) -> (Vec<Operation>, UnitState) {
    let mut q = before.to_vec();
    let retry = match answer {
        Answer::Release => None,
        Answer::RetryHold => Some(UnitState::RetryHold),
        Answer::RetryRelease | Answer::Fail | Answer::Stuck => Some(UnitState::RetryRelease),
    };
    let mut state = UnitState::Idle;
    if !q.is_empty() {
        match retry {
            None => {
                q.remove(0);
            }
            Some(s) => {
                q[0].attempt += 1;
                if q[0].max_retry.is_some_and(|m| q[0].attempt > m) {
                    q.remove(0);
                } else {
                    state = s;
                }
            }
        }
    }
    if state == UnitState::Idle && !q.is_empty() {
        state = UnitState::Request;
    }
    (q, state)
}

fn queue_key(q: &[Operation]) -> Vec<(String, u32)> {
    q.iter().map(|o| (o.token(), o.attempt)).collect()
}

/// Checks the three invariants (see the module documentation) on a finished run of `app`:
/// the model must be idle, faults stopped, and the trace kept in full with values.
/// `force_released` lists the operator's force-releases (when, which unit).
pub fn check(
    sim: &Sim,
    journal: &Journal,
    app: &str,
    force_released: &[(Duration, String)],
) -> Result<CheckReport, String> {
    let mut report = CheckReport::default();
    let records = sim.trace().records();
    if records.len() as u64 != sim.trace().len() {
        return Err("the checker needs the whole trace (TraceMode::Full)".into());
    }
    if !sim.config().trace_values {
        return Err("the checker needs the values in the trace (SimConfig::trace_values)".into());
    }
    let rel = sim
        .peer_relation(app, Some(example::PEER_ENDPOINT))
        .ok_or("the peer relation is gone")?;
    let history = History::build(records, rel);
    let rogues = &journal.rogues;
    let honest = |u: &str| is_unit_of(u, app) && !rogues.contains(u);

    // 0. No hook of an honest unit failed because of what it read, and state stays bounded.
    if let Some((u, hook, e)) = journal.errors.first() {
        return Err(format!("{u}'s {hook} hook failed in the library's handling: {e}"));
    }
    for u in sim.units(app) {
        let stored = sim.stored_document(&u).map_or(0, str::len);
        if stored > MAX_STORED {
            return Err(format!(
                "{u}'s stored state holds {stored} bytes (at most {MAX_STORED})"
            ));
        }
        if let Some((_, _, line)) = sim.logs(&u).iter().find(|(_, _, l)| l.len() > MAX_LOG_LINE) {
            return Err(format!(
                "{u} logged a line of {} bytes: {}",
                line.len(),
                rollingops::wire::redact(line)
            ));
        }
    }

    // Hook records by unit, and the probe's notes matched to them.
    let mut by_unit: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, r) in records.iter().enumerate() {
        if is_unit_of(&r.unit, app) {
            by_unit.entry(&r.unit).or_default().push(i);
        }
    }
    let probed = !journal.notes.is_empty();
    let mut leader_at: Vec<Option<bool>> = vec![None; records.len()];
    let mut read_at: Vec<Option<(String, UnitBag)>> = vec![None; records.len()];
    if probed {
        for (u, idxs) in &by_unit {
            let notes = journal.notes.get(*u).map(Vec::as_slice).unwrap_or(&[]);
            for (k, &i) in idxs.iter().enumerate() {
                let Some(n) = notes.get(k) else {
                    return Err(format!(
                        "the checker lost track: no probe note for {}",
                        records[i]
                    ));
                };
                if *n.hook != *records[i].hook {
                    return Err(format!(
                        "the checker lost track: probe note {:?} for {}",
                        n.hook, records[i]
                    ));
                }
                leader_at[i] = Some(n.leader);
                read_at[i] = n.read.as_ref().map(|(u, b)| (u.clone(), UnitBag::parse(b)));
            }
        }
    }
    let mut by_start: BTreeMap<(&str, Duration), usize> = BTreeMap::new();
    for (u, idxs) in &by_unit {
        for &i in idxs {
            by_start.insert((u, records[i].start), i);
        }
    }

    // Every run, with its hook.
    let mut runs: Vec<(&OpRun, usize)> = Vec::new();
    let mut per_hook: BTreeMap<usize, usize> = BTreeMap::new();
    for op in &journal.ops {
        let Some(&i) = by_start.get(&(op.unit.as_str(), op.start)) else {
            return Err(format!(
                "{} ran {} at {} in no hook the trace knows",
                op.unit,
                op.id,
                secs(op.start)
            ));
        };
        *per_hook.entry(i).or_default() += 1;
        if per_hook[&i] > 1 {
            return Err(format!("two restarts in one hook: {}", records[i]));
        }
        let r = &records[i];
        runs.push((op, i));
        report.runs += 1;
        match r.outcome {
            HookOutcome::Ok => report.committed_runs += 1,
            HookOutcome::Killed => report.killed_runs += 1,
            HookOutcome::Failed => {}
        }
    }

    // 1. Exclusion.
    runs.sort_by_key(|(op, _)| (op.start, op.end));
    let mut active: Vec<usize> = Vec::new();
    for j in 0..runs.len() {
        let (op, _) = runs[j];
        active.retain(|&a| runs[a].0.end > op.start);
        for &a in &active {
            let (other, oi) = runs[a];
            if other.unit != op.unit && (rogues.contains(&other.unit) || rogues.contains(&op.unit)) {
                // A rogue that rewrites its own acknowledgement runs again under a grant the
                // leader already released: no protocol can stop a hostile unit from running its
                // own workload. Exclusion is promised among honest units.
                report.rogue_overlaps += 1;
                continue;
            }
            if other.unit != op.unit {
                return Err(format!(
                    "two units ran their operation at once: {} ran {} from {} to {}, {} ran {} from {} to {}",
                    other.unit,
                    other.id,
                    secs(other.start),
                    secs(other.end),
                    op.unit,
                    op.id,
                    secs(op.start),
                    secs(op.end)
                ));
            }
            if records[oi].outcome != HookOutcome::Killed {
                return Err(format!(
                    "{} ran {} twice at once, and the first hook was not killed: {}",
                    op.unit, op.id, records[oi]
                ));
            }
            report.orphan_overlaps += 1;
        }
        active.push(j);
    }
    for &(op, i) in &runs {
        let r = &records[i];
        if r.outcome != HookOutcome::Killed && r.end() < op.end {
            return Err(format!(
                "{} ended at {} before its restart of {} did ({}): the cost model needs no jitter",
                r,
                secs(r.end()),
                op.id,
                secs(op.end)
            ));
        }
        let app_view = AppView::parse(&history.at(app, op.start, false));
        let own = UnitBag::parse(&history.at(&op.unit, op.start, false));
        let held = app_view
            .grant
            .as_ref()
            .is_some_and(|g| g.unit == op.unit && own.ack.as_ref() != Some(&g.id()));
        if !held {
            return Err(format!(
                "{} ran {} without an unanswered grant (lock: {:?}): {}",
                op.unit,
                op.id,
                app_view.grant.map(|g| g.unit),
                records[i]
            ));
        }
    }

    // 2. Completion: each committed run changed the queue as its answer says; every request left
    // its queue through such a run; nothing is left.
    let mut explained: BTreeSet<usize> = BTreeSet::new();
    let mut served: BTreeSet<(String, String)> = BTreeSet::new();
    let mut dropped: BTreeSet<(String, String)> = BTreeSet::new();
    for &(op, i) in &runs {
        if records[i].outcome != HookOutcome::Ok || !honest(&op.unit) {
            continue;
        }
        let before = UnitBag::parse(&history.at(&op.unit, op.start, false));
        let Some(head) = before.queue().first() else {
            return Err(format!(
                "{} ran {} with an empty queue: {}",
                op.unit, op.id, records[i]
            ));
        };
        if request_id(&head.kwargs) != op.id {
            return Err(format!(
                "{} ran {} but the head of its queue is {}: {}",
                op.unit,
                op.id,
                request_id(&head.kwargs),
                records[i]
            ));
        }
        let after = UnitBag::parse(history.after(&op.unit, i).ok_or_else(|| {
            format!(
                "{} committed a run of {} without writing its bag: {}",
                op.unit, op.id, records[i]
            )
        })?);
        let (want, state) = expected_after(before.queue(), op.answer);
        if queue_key(after.queue()) != queue_key(&want) || after.state.as_ref().ok() != Some(&state) {
            return Err(format!(
                "{} answered {:?} for {} (attempt {}), but its queue went from {:?} to {:?} ({:?})",
                op.unit,
                op.answer,
                op.id,
                head.attempt,
                queue_key(before.queue()),
                queue_key(after.queue()),
                after.state
            ));
        }
        if !after.queue().iter().any(|o| o.token() == head.token()) {
            let key = (op.unit.clone(), head.token());
            if op.answer == Answer::Release {
                served.insert(key);
            } else {
                dropped.insert(key);
            }
        }
        explained.insert(i);
    }
    let mut requests: BTreeMap<(String, String), Duration> = BTreeMap::new();
    for (owner, list) in &history.bags {
        if !honest(owner) {
            continue;
        }
        let mut prev: Vec<Operation> = Vec::new();
        for (at, i, bag) in list {
            let q = UnitBag::parse(bag).queue().to_vec();
            for o in &q {
                requests.entry((owner.clone(), o.token())).or_insert(*at);
            }
            let gone = prev.iter().any(|o| !q.iter().any(|n| n.token() == o.token()));
            if gone && !explained.contains(i) {
                return Err(format!(
                    "a request left {owner}'s queue without a committed run: {}",
                    records[*i]
                ));
            }
            prev = q;
        }
    }
    report.requests = requests.len();
    report.force_released = force_released.len();
    report.interrupted_leavings = history
        .bags
        .iter()
        .filter(|(o, l)| {
            is_unit_of(o, app)
                && l.iter().any(|(_, _, b)| {
                    b.get(rollingops::wire::ENSEMBLE_LEAVING).map(String::as_str)
                        == Some(rollingops::wire::LEAVING_INTERRUPTED)
                })
        })
        .count();
    report.served = served.len();
    report.dropped = dropped.len();
    let alive = sim.alive_units(app);
    let last_app = AppView::parse(&history.last(app));
    if let Some(g) = &last_app.grant {
        return Err(format!(
            "the lock is still held by {} once faults stopped",
            g.unit
        ));
    }
    for (owner, list) in &history.bags {
        if !honest(owner) {
            continue;
        }
        let q = list
            .last()
            .map(|(_, _, b)| UnitBag::parse(b).queue().to_vec())
            .unwrap_or_default();
        if q.is_empty() {
            continue;
        }
        if alive.contains(owner) {
            return Err(format!(
                "{owner} still has {} request(s) queued once faults stopped: {:?}",
                q.len(),
                q.iter().map(|o| request_id(&o.kwargs)).collect::<Vec<_>>()
            ));
        }
        report.left_with_removed_units += q.len();
    }
    for u in alive.iter().filter(|u| honest(u)) {
        // Active, or never set (a unit that never queued anything).
        let st = sim.unit_status(u).unwrap_or_default();
        if !matches!(st.name, StatusName::Active | StatusName::Unknown) {
            return Err(format!("{u} is {st} once faults stopped"));
        }
    }
    if let Some(st) = sim.app_status(app) {
        if matches!(
            st.name,
            StatusName::Blocked | StatusName::Maintenance | StatusName::Waiting
        ) {
            return Err(format!("the application is {st} once faults stopped"));
        }
    }

    // 3. Order.
    if probed {
        check_order(
            sim,
            app,
            records,
            &history,
            &requests,
            &leader_at,
            &read_at,
            force_released,
            rogues,
            &mut report,
        )?;
    }
    report.rogues = rogues.len();
    report.hostile_writes = journal.rogue_hooks.values().map(|(_, w)| w).sum();
    Ok(report)
}

/// The most bytes a unit's stored state may hold in these scenarios (the leader's book and its
/// cache of peer bags, for 20-odd units): a peer's huge values must never be kept.
pub const MAX_STORED: usize = 256 * 1024;
/// The longest log line any unit may write (a peer's values are quoted bounded).
pub const MAX_LOG_LINE: usize = 2048;

fn class(state: &UnitState) -> Option<u8> {
    match state {
        UnitState::RetryHold => Some(0),
        UnitState::Request => Some(1),
        UnitState::RetryRelease => Some(2),
        UnitState::Idle => None,
    }
}

/// Whether a hook of this kind, on the leader, runs the library's leader part.
fn leads(kind: HookKind) -> bool {
    matches!(
        kind,
        HookKind::RelationChanged
            | HookKind::RelationJoined
            | HookKind::RelationDeparted
            | HookKind::LeaderElected
            | HookKind::UpdateStatus
            | HookKind::Custom
            | HookKind::Start
            | HookKind::UpgradeCharm
    )
}

#[allow(clippy::too_many_arguments)]
fn check_order(
    sim: &Sim,
    app: &str,
    records: &[HookRecord],
    history: &History,
    requests: &BTreeMap<(String, String), Duration>,
    leader_at: &[Option<bool>],
    read_at: &[Option<(String, UnitBag)>],
    force_released: &[(Duration, String)],
    rogues: &BTreeSet<String>,
    report: &mut CheckReport,
) -> Result<(), String> {
    // When each unit started to go away.
    let mut gone_at: BTreeMap<String, Duration> = BTreeMap::new();
    for (t, e) in sim.trace().events() {
        for suffix in [" is dying", " is force-removed", " is dead"] {
            if let Some(u) = e.strip_suffix(suffix) {
                gone_at.entry(u.to_owned()).or_insert(*t);
            }
        }
    }
    // Rogues' queues are whatever they wrote: only honest units' requests are ordered.
    let units: Vec<String> = history
        .bags
        .keys()
        .filter(|o| is_unit_of(o, app) && !rogues.contains(*o))
        .cloned()
        .collect();
    let Some(app_list) = history.bags.get(app) else {
        return Ok(());
    };
    let mut prev_grant = None;
    for (_, h, bag) in app_list {
        let view = AppView::parse(bag);
        let grant = view.grant.clone();
        let new = grant.is_some() && grant != prev_grant;
        prev_grant = grant.clone();
        let (Some(g), true) = (grant, new) else { continue };
        if rogues.contains(&g.unit) {
            continue;
        }
        let hr = &records[*h];
        let leader = hr.unit.to_string();
        let s = hr.start;
        // A unit's bag as the leader saw it when it decided: its own with this hook's writes,
        // others' as committed before the hook started (None if a commit landed at that very
        // instant: ambiguous).
        let seen = |u: &str| -> Option<UnitBag> {
            if u == leader {
                Some(UnitBag::parse(
                    &history
                        .after(u, *h)
                        .cloned()
                        .unwrap_or_else(|| history.at(u, s, false)),
                ))
            } else if history.commit_at(u, s) {
                None
            } else {
                Some(UnitBag::parse(&history.at(u, s, true)))
            }
        };
        let Some(b) = seen(&g.unit) else { continue };
        let (Some(b_head), Ok(b_state)) = (b.queue().first(), b.state.as_ref()) else {
            continue;
        };
        let Some(b_class) = class(b_state) else { continue };
        report.grants += 1;
        if b_class == 0 {
            report.retry_hold_grants += 1;
            continue;
        }
        let c_b = requests.get(&(g.unit.clone(), b_head.token())).copied();
        // The leader's earlier successful hooks, as leader.
        let leader_hooks: Vec<(usize, &HookRecord)> = records[..*h]
            .iter()
            .enumerate()
            .filter(|(i, r)| {
                *r.unit == *leader
                    && r.outcome == HookOutcome::Ok
                    && leader_at[*i] == Some(true)
                    && leads(r.kind)
            })
            .collect();
        for a in &units {
            if *a == g.unit || gone_at.get(a).is_some_and(|t| *t <= s) {
                continue;
            }
            if force_released.iter().any(|(t, u)| u == a && *t <= s) {
                continue;
            }
            let departed = records[..*h].iter().any(|r| {
                *r.unit == *leader
                    && r.kind == HookKind::RelationDeparted
                    && r.remote_unit.as_deref() == Some(a.as_str())
            });
            if departed {
                continue;
            }
            let Some(abag) = seen(a) else { continue };
            // The leader's view of A's bag is current: the last time it read that bag (its
            // relation-changed or -joined for A, as the probe saw it, in this hook or committed
            // before it) the bag was what it is now. (The leader caches its peers' bags and
            // reads afresh only the one whose change a hook reports; hooks that read every bag
            // are not counted, which only makes the check less strict.)
            let last_read = (0..=*h).rev().find_map(|i| {
                let (u, bag) = read_at[i].as_ref()?;
                let mine = *records[i].unit == *leader
                    && u == a
                    && (i == *h || (records[i].outcome == HookOutcome::Ok && leader_at[i] == Some(true)));
                mine.then_some(bag)
            });
            let same = |x: &UnitBag, y: &UnitBag| {
                queue_key(x.queue()) == queue_key(y.queue())
                    && x.state == y.state
                    && x.leaving == y.leaving
                    && x.backend == y.backend
            };
            let known = *a == leader || last_read.is_some_and(|b| same(b, &abag));
            if !known {
                continue;
            }
            if abag.leaving || abag.backend != rollingops::ProcessingBackend::Peer {
                continue;
            }
            let (Some(a_head), Ok(a_state)) = (abag.queue().first(), abag.state.as_ref()) else {
                continue;
            };
            let Some(a_class) = class(a_state) else { continue };
            if a_class < b_class {
                return Err(format!(
                    "{leader} granted the lock to {} ({:?}) while {a} was in {:?}: {hr}",
                    g.unit, b_state, a_state
                ));
            }
            if a_class != 1 || b_class != 1 {
                continue;
            }
            let (Some(c_a), Some(c_b)) = (requests.get(&(a.clone(), a_head.token())).copied(), c_b) else {
                continue;
            };
            report.ordered_pairs += 1;
            if c_a >= c_b {
                continue;
            }
            // A hook of the leader that saw A's request before B's was committed: one that
            // read A's bag with the request in it (its own bag, for the leader's requests).
            let a_token = a_head.token();
            let saw = leader_hooks.iter().find(|(i, r)| {
                r.start < c_b
                    && if *a == leader {
                        r.start >= c_a
                    } else {
                        read_at[*i].as_ref().is_some_and(|(u, bag)| {
                            u == a && bag.queue().iter().any(|o| o.token() == a_token)
                        })
                    }
            });
            if let Some((_, r)) = saw {
                return Err(format!(
                    "{leader} granted {}'s request {} (committed at {}) before {a}'s request {} \
                     (committed at {}, seen by {leader} in {r}): {hr}",
                    g.unit,
                    request_id(&b_head.kwargs),
                    secs(c_b),
                    request_id(&a_head.kwargs),
                    secs(c_a)
                ));
            }
        }
    }
    Ok(())
}

// ----- the scenario -----

/// `ensemble check rollingops`: 5 to 20 units of the rolling-restart charm, restarts requested
/// on random units and rolling restarts of the whole application, under random faults for 20
/// minutes (agent deaths, in the middle of a restart too; failed hooks; leader loss; removal of
/// the holder, graceful and forced; scaling; clock skew up to a day; restarts that fail, hang or
/// ask to retry). Then faults stop; the operator force-releases a lock left by a unit that is
/// gone (once its restart cannot be running any more); the model must settle with every
/// invariant of [`check`].
pub fn chaos_run(seed: u64) -> Result<Outcome, String> {
    chaos_sim(seed).1.map(|(o, _)| o)
}

/// One run of [`chaos_run`], with the model and the checker's report, for debugging a seed.
pub fn chaos_sim(seed: u64) -> (Sim, Result<(Outcome, CheckReport), String>) {
    let mut r = Rng::new(seed ^ 0x0072_6f6c_6c69_6e67);
    let n = 5 + r.below(16) as usize;
    let mut cfg = sim_config();
    cfg.faults = FaultProfile {
        // Workload faults come from the simulated service itself (it journals them); a unit
        // that never installs is another scenario.
        command_failure: 0.0,
        command_hang: 0.0,
        command_garbage: 0.0,
        spare_hooks: vec!["install".into()],
        ..FaultProfile::chaos()
    };
    let mut sim = Sim::with_config(seed, cfg);
    sim.set_replay_hint(&replay_command("rollingops", seed));
    // Mostly 10 s restarts; some long enough to outlive a leader's lease (30 to 60 s after its
    // agent died), so that a leader deposed in the middle of its own restart matters.
    let op = Duration::from_secs([5, 10, 10, 10, 30, 90][r.below(6) as usize]);
    let journal = deploy(&mut sim, APP, n, op, AnswerMix::chaos(), true);
    // Hostile peers in half the seeds: one or two units (never the first leader) that write
    // malformed and extreme values into their own bag while faults last.
    if r.chance(0.5) {
        let mut j = journal.borrow_mut();
        for _ in 0..1 + r.below(2) {
            j.rogues.insert(format!("{APP}/{}", 1 + r.below(n as u64 - 1)));
        }
        j.hostile = true;
    }
    let result = drive(&mut sim, &mut r, n, &journal).and_then(|(faults, released)| {
        let idle = sim.run_until_idle(MAX_VIRTUAL).map_err(|e| e.to_string())?;
        let report = check(&sim, &journal.borrow(), APP, &released)?;
        Ok((
            Outcome {
                hooks: sim.trace().len(),
                virtual_secs: idle.quiescent_at.as_secs_f64(),
                faults,
            },
            report,
        ))
    });
    if std::env::var("SIM_DEBUG").is_ok() {
        for (t, e) in sim.trace().events() {
            println!("{:.3} {e}", t.as_secs_f64());
        }
        for o in &journal.borrow().ops {
            println!(
                "op {} {} {:.3}-{:.3} {:?}",
                o.unit,
                o.id,
                o.start.as_secs_f64(),
                o.end.as_secs_f64(),
                o.answer
            );
        }
        println!("{}", sim.status_table());
    }
    (sim, result)
}

enum Step {
    Request,
    Wave,
    Fault,
}

/// The fault window, then the settling with the operator; returns the faults injected and the
/// operator's force-releases.
fn drive(
    sim: &mut Sim,
    r: &mut Rng,
    n: usize,
    journal: &SharedJournal,
) -> Result<(usize, Vec<(Duration, String)>), String> {
    let window = Duration::from_secs(1200);
    let mut steps: Vec<(Duration, Step)> = Vec::new();
    let at = |r: &mut Rng| Duration::from_millis(r.below(window.as_millis() as u64));
    for _ in 0..(8 + r.below(23)) {
        steps.push((at(r), Step::Request));
    }
    for _ in 0..(1 + r.below(2)) {
        steps.push((at(r), Step::Wave));
    }
    let k = 3 + r.below(8) as usize;
    for _ in 0..k {
        steps.push((at(r), Step::Fault));
    }
    steps.sort_by_key(|(t, _)| *t);
    let mut next_id = 0;
    let mut generation = 0;
    for (t, step) in steps {
        sim.run_until(t);
        let alive = sim.alive_units(APP);
        if alive.is_empty() {
            break;
        }
        let pick = |r: &mut Rng| alive[r.below(alive.len() as u64) as usize].clone();
        match step {
            Step::Request => {
                next_id += 1;
                let unit = pick(r);
                if journal.borrow().rogues.contains(&unit) {
                    // Requests are made on honest units only (a rogue's queue is garbage).
                    continue;
                }
                let max_retry = match r.below(4) {
                    0 => None,
                    m => Some(m as u32 - 1),
                };
                // A request on a unit whose action then fails is simply not made.
                let _ = request(sim, &unit, &format!("r{next_id}"), max_retry);
            }
            Step::Wave => {
                generation += 1;
                rolling_restart(sim, APP, generation)?;
            }
            Step::Fault => {
                let holder = holder(sim, APP).filter(|h| alive.contains(h));
                let target = |r: &mut Rng| match &holder {
                    Some(h) if r.chance(0.6) => h.clone(),
                    _ => pick(r),
                };
                let removable = alive.len() > 2;
                let f = match r.below(11) {
                    0 | 1 => Fault::KillAgent {
                        unit: target(r),
                        down_for: Duration::from_secs(1 + r.below(120)),
                    },
                    2 => Fault::FailHooks {
                        unit: target(r),
                        count: 1 + r.below(3) as u32,
                    },
                    3 => Fault::LoseLeader {
                        app: APP.into(),
                        down_for: Duration::from_secs(30 + r.below(200)),
                    },
                    4 if removable => Fault::RemoveUnit {
                        unit: target(r),
                        force: false,
                    },
                    5 if removable => Fault::RemoveUnit {
                        unit: target(r),
                        force: true,
                    },
                    6 => Fault::ScaleUp {
                        app: APP.into(),
                        count: 1 + r.below(2) as usize,
                    },
                    7 if removable && n > 5 => Fault::ScaleDown {
                        app: APP.into(),
                        count: 1,
                    },
                    // The holder's agent dies in the middle of its restart and, while it is
                    // down, the unit is removed: it departs without running the hook again.
                    9 if removable && holder.is_some() => {
                        let h = holder.clone().unwrap_or_default();
                        sim.fault(Fault::KillAgent {
                            unit: h.clone(),
                            down_for: Duration::from_secs(1 + r.below(8)),
                        });
                        Fault::RemoveUnit {
                            unit: h,
                            force: false,
                        }
                    }
                    8 => Fault::ClockSkew {
                        unit: pick(r),
                        seconds: if r.chance(0.3) {
                            if r.chance(0.5) {
                                86_400
                            } else {
                                -86_400
                            }
                        } else {
                            r.below(7200) as i64 - 3600
                        },
                    },
                    _ => Fault::KillAgent {
                        unit: pick(r),
                        down_for: Duration::from_secs(2 + r.below(60)),
                    },
                };
                sim.fault(f);
            }
        }
    }
    sim.run_until(window);
    sim.set_fault_profile(FaultProfile::default());
    // The rogues stop: each runs one more hook (the lock-granted event, which the library
    // handles as any hook), so that a grant whose answer a hostile write had overwritten is
    // answered; the leader too.
    let rogues: Vec<String> = {
        let mut j = journal.borrow_mut();
        j.hostile = false;
        j.rogues.iter().cloned().collect()
    };
    let alive = sim.alive_units(APP);
    for u in rogues.iter().chain(sim.leader(APP).iter()) {
        if alive.contains(u) {
            sim.exec(u, rollingops::LOCK_GRANTED_EVENT)
                .map_err(|e| e.to_string())?;
        }
    }
    let released = settle_with_operator(sim, APP)?;
    Ok((k, released))
}

/// Runs until idle; while the lock is held by a unit that is gone, waits until its restart
/// cannot be running any more (its last command's start plus the command's timeout), then runs
/// `force-release` on the leader, as the application's status tells an operator to. (A lock
/// left with a unit that is gone never lets the model idle: the application's status counts the
/// time it has been held.)
pub fn settle_with_operator(sim: &mut Sim, app: &str) -> Result<Vec<(Duration, String)>, String> {
    let mut released = Vec::new();
    let deadline = sim.now() + MAX_VIRTUAL;
    loop {
        let idle = sim.run_until_idle(Duration::from_secs(3600)).is_ok();
        let stuck = holder(sim, app).filter(|h| !sim.alive_units(app).contains(h));
        let Some(h) = stuck else {
            if idle {
                return Ok(released);
            }
            if sim.now() >= deadline {
                return Err(format!(
                    "the model is not idle after {:.0} s of virtual time; {}",
                    sim.now().as_secs_f64(),
                    sim.replay_hint()
                ));
            }
            continue;
        };
        if released.len() > 8 || sim.now() >= deadline {
            return Err(format!(
                "the lock stays with {h}, which is gone; {}",
                sim.replay_hint()
            ));
        }
        let timeout = Duration::from_secs(example::RESTART_TIMEOUT_SECS);
        let last_start = sim
            .trace()
            .of_unit(&h)
            .filter(|r| r.commands > 0)
            .map(|r| r.start)
            .max()
            .unwrap_or_default();
        let safe = last_start + timeout + Duration::from_secs(1);
        if sim.now() < safe {
            sim.run_until(safe);
        }
        let id = force_release(sim, app, &h)?;
        sim.run_for(Duration::from_secs(60));
        let ok = sim
            .action(id)
            .is_some_and(|a| a.status == juju_sim::ActionStatus::Completed);
        if ok {
            released.push((sim.now(), h));
        }
    }
}

// ----- the benchmark -----

/// The figures of one rolling restart ([`bench`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchReport {
    /// Units.
    pub units: usize,
    /// The restart's duration (virtual seconds).
    pub op_secs: f64,
    /// Restarts run.
    pub restarts: usize,
    /// Virtual seconds from the config change to the end of the last restart.
    pub total_secs: f64,
    /// The median hook duration in the run, restarts' hooks excluded (virtual seconds).
    pub median_hook_secs: f64,
    /// The median duration of the leader's relation-changed hooks (virtual seconds).
    pub median_leader_hook_secs: f64,
    /// N × (operation + 2 median hooks).
    pub goal_secs: f64,
    /// Hand-overs (from one unit's release to the next unit's start).
    pub handovers: usize,
    /// Hooks on the critical path of a hand-over: (min, median, max).
    pub critical_hooks: (usize, usize, usize),
    /// Virtual seconds from a release to the next start: (min, median, max).
    pub handover_secs: (f64, f64, f64),
    /// Hooks across all units from the config change to the end of the last restart.
    pub hooks: u64,
    /// Of those, the hooks that started before the first restart (every unit's config-changed
    /// and request, and the relation-changed each request causes on every other unit: N²).
    pub request_hooks: u64,
    /// Hooks across all units per hand-over once the requests' wave has passed (from the start
    /// of the restart a tenth of the way through to the end of the last one): each hand-over
    /// writes two bags, the holder's and the application's, so about 2(N−1).
    pub hooks_per_handover: f64,
    /// The restart's hook beyond the restart itself: its own hook cost (virtual seconds, median).
    pub restart_hook_overhead_secs: f64,
    /// Wall-clock seconds of the run.
    pub wall_secs: f64,
}

fn median<T: Copy + Ord>(v: &mut [T]) -> T {
    v.sort_unstable();
    v[v.len() / 2]
}

/// A rolling restart of `units` units with restarts of `op`, no faults: the hand-over figures
/// of docs/benchmarks.md.
pub fn bench(units: usize, op: Duration, seed: u64) -> Result<BenchReport, String> {
    let started = std::time::Instant::now();
    let mut sim = Sim::with_config(seed, sim_config());
    let journal = deploy(&mut sim, APP, units, op, AnswerMix::always_release(), false);
    sim.run_until_idle(MAX_VIRTUAL).map_err(|e| e.to_string())?;
    let t0 = sim.now();
    let first = sim.trace().records().len();
    rolling_restart(&mut sim, APP, 1)?;
    sim.run_until_idle(MAX_VIRTUAL).map_err(|e| e.to_string())?;
    let wall_secs = started.elapsed().as_secs_f64();
    let records = &sim.trace().records()[first..];
    let j = journal.borrow();
    let ops = &j.ops;
    if ops.len() != units {
        return Err(format!("{} restarts for {units} units", ops.len()));
    }
    let end = ops.iter().map(|o| o.end).max().unwrap_or(t0);
    let op_hook = |o: &OpRun| {
        records
            .iter()
            .position(|r| *r.unit == *o.unit && r.start == o.start)
            .ok_or_else(|| format!("no hook for the restart of {}", o.unit))
    };
    let mut hook_durs: Vec<Duration> = Vec::new();
    let mut leader_durs: Vec<Duration> = Vec::new();
    let leader = sim.leader(APP).unwrap_or_default();
    let op_starts: BTreeSet<(String, Duration)> = ops.iter().map(|o| (o.unit.clone(), o.start)).collect();
    for r in records {
        if r.start > end {
            break;
        }
        if op_starts.contains(&(r.unit.to_string(), r.start)) {
            continue;
        }
        hook_durs.push(r.duration);
        if *r.unit == *leader && r.kind == HookKind::RelationChanged {
            leader_durs.push(r.duration);
        }
    }
    let median_hook = median(&mut hook_durs);
    let median_leader = if leader_durs.is_empty() {
        Duration::ZERO
    } else {
        median(&mut leader_durs)
    };
    let mut sorted: Vec<&OpRun> = ops.iter().collect();
    sorted.sort_by_key(|o| o.start);
    let mut crit = Vec::new();
    let mut lat = Vec::new();
    for w in sorted.windows(2) {
        let (a, b) = (w[0], w[1]);
        let ra = op_hook(a)?;
        let rb = op_hook(b)?;
        let release = records[ra].end();
        // The hook that granted b: the last commit of the application bag naming b before b
        // started.
        let grant = records[..rb]
            .iter()
            .rposition(|r| {
                r.outcome == HookOutcome::Ok
                    && r.end() <= b.start
                    && r.values
                        .iter()
                        .any(|(k, v)| k.ends_with("/granted_unit") && *v == b.unit)
            })
            .ok_or_else(|| format!("no grant to {} before its restart", b.unit))?;
        // The chain: the granting hook unless it is the releasing hook itself, the hooks b ran
        // between the grant's commit and its restart, and the restart's hook.
        let mut hooks = usize::from(grant != ra);
        hooks += records[..rb]
            .iter()
            .filter(|r| *r.unit == *b.unit && r.end() > records[grant].end() && r.start < b.start)
            .count();
        hooks += 1;
        crit.push(hooks);
        lat.push(b.start.saturating_sub(release));
    }
    let hooks = records.iter().filter(|r| r.start <= end).count() as u64;
    let first_start = sorted.first().map(|o| o.start).unwrap_or(end);
    let request_hooks = records.iter().filter(|r| r.start < first_start).count() as u64;
    let k = (sorted.len() / 10).max(1).min(sorted.len().saturating_sub(1));
    let from = sorted.get(k).map(|o| o.start).unwrap_or(end);
    let steady = records
        .iter()
        .filter(|r| r.start >= from && r.start <= end)
        .count() as u64;
    let steady_handovers = sorted.len().saturating_sub(k + 1);
    let mut overhead: Vec<Duration> = Vec::new();
    for o in ops {
        let r = &records[op_hook(o)?];
        overhead.push(r.duration.saturating_sub(o.end - o.start));
    }
    let restart_overhead = median(&mut overhead);
    let handovers = crit.len();
    let total = end.saturating_sub(t0);
    let goal = (op + median_hook * 2) * units as u32;
    let (cmin, cmax) = (
        crit.iter().copied().min().unwrap_or(0),
        crit.iter().copied().max().unwrap_or(0),
    );
    let cmed = if crit.is_empty() { 0 } else { median(&mut crit) };
    let (lmin, lmax) = (
        lat.iter().copied().min().unwrap_or_default(),
        lat.iter().copied().max().unwrap_or_default(),
    );
    let lmed = if lat.is_empty() {
        Duration::ZERO
    } else {
        median(&mut lat)
    };
    Ok(BenchReport {
        units,
        op_secs: op.as_secs_f64(),
        restarts: ops.len(),
        total_secs: total.as_secs_f64(),
        median_hook_secs: median_hook.as_secs_f64(),
        median_leader_hook_secs: median_leader.as_secs_f64(),
        goal_secs: goal.as_secs_f64(),
        handovers,
        critical_hooks: (cmin, cmed, cmax),
        handover_secs: (lmin.as_secs_f64(), lmed.as_secs_f64(), lmax.as_secs_f64()),
        hooks,
        request_hooks,
        hooks_per_handover: if steady_handovers == 0 {
            0.0
        } else {
            steady as f64 / steady_handovers as f64
        },
        restart_hook_overhead_secs: restart_overhead.as_secs_f64(),
        wall_secs,
    })
}
