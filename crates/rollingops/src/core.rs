//! The protocol's decisions as pure functions of what a hook sees: no I/O, no clock, no Juju.
//!
//! - [`enqueue`]: a unit adds a request to its queue.
//! - [`unit_step`]: a unit decides whether to run its head operation under the current grant;
//!   [`finish`] computes what it writes afterwards.
//! - [`decide`]: the leader releases the current grant when its holder is done, and grants the
//!   lock to the next unit.
//! - [`force_release`]: the operator's way out of a grant whose holder cannot answer.
//!
//! The adapter ([`crate::RollingOps`]) and the model check (`tests/model_check.rs`) both drive
//! these same functions through [`crate::engine`].

use crate::wire::{
    self, limits, GrantId, GrantRecord, Operation, ProcessingBackend, Timestamp, UnitState, WireError,
};
use charm::{Databag, UnitName};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// What a callback asks for after it ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OperationResult {
    /// Done: drop the operation and release the lock.
    Release,
    /// Run it again later, after the other units had their turn.
    RetryRelease,
    /// Run it again at once, keeping the lock.
    RetryHold,
}

impl OperationResult {
    /// The value charmlibs uses (`release`, `retry-release`, `retry-hold`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Release => "release",
            Self::RetryRelease => "retry-release",
            Self::RetryHold => "retry-hold",
        }
    }
}

/// A set of changes to one databag, in key order; `None` deletes a key.
pub type Changes = BTreeMap<String, Option<String>>;

/// Applies changes to a bag, with Juju's rule that an empty value deletes.
pub fn apply_changes(bag: &mut Databag, changes: &Changes) {
    for (k, v) in changes {
        match v {
            Some(v) if !v.is_empty() => {
                bag.insert(k.clone(), v.clone());
            }
            _ => {
                bag.remove(k);
            }
        }
    }
}

/// One unit's bag, parsed key by key: a malformed key spoils only what depends on it.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitBag {
    /// The queue.
    pub operations: Result<Vec<Operation>, WireError>,
    /// The queue state.
    pub state: Result<UnitState, WireError>,
    /// When it last ran an operation (its clock); `None` if absent or malformed.
    pub executed_at: Option<Timestamp>,
    /// Which backend processes its queue.
    pub backend: ProcessingBackend,
    /// Whether it runs ensemble ([`wire::ENSEMBLE_PROTOCOL`] present).
    pub ensemble: bool,
    /// The last grant it finished with.
    pub ack: Option<GrantId>,
    /// Whether it is being removed.
    pub leaving: bool,
    /// Whether it left while a run of its operation under its grant may still be running
    /// ([`wire::LEAVING_INTERRUPTED`]): its leaving mark does not release the lock.
    pub interrupted: bool,
    /// Malformed keys other than `operations` and `state`, for the log.
    pub problems: Vec<WireError>,
}

impl UnitBag {
    /// Parses a unit bag.
    pub fn parse(bag: &Databag) -> Self {
        let get = |k: &str| bag.get(k).map(String::as_str).filter(|v| !v.is_empty());
        let mut problems = Vec::new();
        let executed_at = get(wire::EXECUTED_AT).and_then(|v| match Timestamp::parse(wire::EXECUTED_AT, v) {
            Ok(t) => Some(t),
            Err(e) => {
                problems.push(e);
                None
            }
        });
        let ack = get(wire::ENSEMBLE_ACK).and_then(|v| match GrantId::parse(v) {
            Ok(a) => Some(a),
            Err(e) => {
                problems.push(e);
                None
            }
        });
        let backend = match get(wire::PROCESSING_BACKEND) {
            Some("etcd") => ProcessingBackend::Etcd,
            None | Some("peer") => ProcessingBackend::Peer,
            Some(other) => {
                problems.push(WireError::value(wire::PROCESSING_BACKEND, other));
                ProcessingBackend::Peer
            }
        };
        let ensemble = match get(wire::ENSEMBLE_PROTOCOL) {
            None => false,
            Some(wire::PROTOCOL_VERSION) => true,
            Some(other) => {
                problems.push(WireError::value(wire::ENSEMBLE_PROTOCOL, other));
                false
            }
        };
        let (leaving, interrupted) = match get(wire::ENSEMBLE_LEAVING) {
            None => (false, false),
            Some("true") => (true, false),
            Some(wire::LEAVING_INTERRUPTED) => (true, true),
            Some(other) => {
                problems.push(WireError::value(wire::ENSEMBLE_LEAVING, other));
                (false, false)
            }
        };
        Self {
            operations: wire::parse_operations(get(wire::OPERATIONS)),
            state: UnitState::parse(get(wire::STATE)),
            executed_at,
            backend,
            ensemble,
            ack,
            leaving,
            interrupted,
            problems,
        }
    }

    /// The protocol's keys of a raw bag whose values are within the trust rules: what the
    /// leader may keep in its cache of peer bags (nothing outside the rules is ever stored).
    /// A malformed `operations` or `state` is kept out as well: its unit is then simply not a
    /// candidate, as it is with the malformed value.
    pub fn trusted_keys(raw: &Databag) -> Databag {
        let bag = Self::parse(raw);
        let mut out = Databag::new();
        let mut keep = |k: &str, ok: bool| {
            if let Some(v) = raw.get(k).filter(|v| ok && !v.is_empty()) {
                out.insert(k.to_owned(), v.clone());
            }
        };
        keep(wire::OPERATIONS, bag.operations.is_ok());
        keep(wire::STATE, bag.state.is_ok());
        keep(wire::EXECUTED_AT, bag.executed_at.is_some());
        keep(wire::PROCESSING_BACKEND, bag.backend == ProcessingBackend::Etcd);
        keep(wire::ENSEMBLE_PROTOCOL, bag.ensemble);
        keep(wire::ENSEMBLE_ACK, bag.ack.is_some());
        keep(wire::ENSEMBLE_LEAVING, bag.leaving);
        out
    }

    /// The queue, or empty if malformed.
    pub fn queue(&self) -> &[Operation] {
        self.operations.as_deref().unwrap_or(&[])
    }

    /// Whether the unit has operations waiting (a malformed queue counts as none).
    pub fn is_waiting(&self) -> bool {
        !self.queue().is_empty()
    }
}

/// The lock as the application bag shows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Grant {
    /// `granted_unit`, a unit name (a value that is not one counts as no grant).
    pub unit: String,
    /// `granted_at`, as written (empty if absent or malformed).
    pub granted_at: String,
    /// The ensemble sequence number, when [`wire::ENSEMBLE_GRANT`] describes this very grant.
    pub seq: Option<u64>,
}

impl Grant {
    /// The grant's identity, as a unit acknowledges it.
    pub fn id(&self) -> GrantId {
        GrantId {
            seq: self.seq,
            granted_at: self.granted_at.clone(),
        }
    }

    /// Whether the grant is to `unit`.
    pub fn is_for(&self, unit: &UnitName) -> bool {
        self.unit == unit.as_str()
    }
}

/// The application bag, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AppView {
    /// The current grant, if any.
    pub grant: Option<Grant>,
    /// The last ensemble grant record (it outlives its grant).
    pub record: Option<GrantRecord>,
    /// Malformed keys, for the log.
    pub problems: Vec<WireError>,
}

impl AppView {
    /// Parses the application bag.
    pub fn parse(bag: &Databag) -> Self {
        let get = |k: &str| bag.get(k).map(String::as_str).filter(|v| !v.is_empty());
        let mut problems = Vec::new();
        let record = get(wire::ENSEMBLE_GRANT).and_then(|v| match GrantRecord::parse(v) {
            Ok(r) => Some(r),
            Err(e) => {
                problems.push(e);
                None
            }
        });
        let unit = get(wire::GRANTED_UNIT).filter(|u| {
            let ok = wire::valid_unit_name(u);
            if !ok {
                problems.push(WireError::value(wire::GRANTED_UNIT, u));
            }
            ok
        });
        let granted_at = match get(wire::GRANTED_AT) {
            Some(at) if unit.is_some() => match Timestamp::parse(wire::GRANTED_AT, at) {
                Ok(_) => at.to_owned(),
                Err(e) => {
                    problems.push(e);
                    String::new()
                }
            },
            _ => String::new(),
        };
        let grant = unit.map(|unit| {
            let seq = record
                .as_ref()
                .filter(|r| r.unit == unit && r.granted_at == granted_at)
                .map(|r| r.seq);
            Grant {
                unit: unit.to_owned(),
                granted_at,
                seq,
            }
        });
        Self {
            grant,
            record,
            problems,
        }
    }
}

// ----- enqueue -----

/// What [`enqueue`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// The operation joined the queue.
    Added,
    /// The queue's last operation is the same request: nothing changed.
    Deduplicated,
}

/// Adds `op` to a unit's queue: ignored when it equals the tail (same callback and kwargs);
/// the state becomes `request` when the queue was empty, and is left alone otherwise (a unit in
/// `retry-release` stays there). Also marks the unit as peer-processed, as charmlibs does.
/// A request that would take the queue past the trust rules' bounds ([`limits::MAX_QUEUE_LEN`],
/// [`limits::MAX_OPERATIONS_LEN`]) is refused ([`WireError::QueueFull`]): a unit never writes a
/// queue that its peers would reject.
pub fn enqueue(bag: &UnitBag, op: Operation) -> Result<(Enqueued, Changes), WireError> {
    let mut queue = bag.operations.clone()?;
    if queue.last().is_some_and(|tail| tail.same_request(&op)) {
        return Ok((Enqueued::Deduplicated, Changes::new()));
    }
    queue.push(op);
    let rendered = wire::render_operations(&queue);
    if queue.len() > limits::MAX_QUEUE_LEN || rendered.len() > limits::MAX_OPERATIONS_LEN {
        return Err(WireError::QueueFull);
    }
    let mut c = Changes::new();
    c.insert(wire::OPERATIONS.into(), Some(rendered));
    if queue.len() == 1 {
        c.insert(wire::STATE.into(), Some(UnitState::Request.as_str().into()));
    }
    c.insert(wire::PROCESSING_BACKEND.into(), Some("peer".into()));
    c.insert(wire::ETCD_CLEANUP_NEEDED.into(), Some("true".into()));
    c.insert(
        wire::ENSEMBLE_PROTOCOL.into(),
        Some(wire::PROTOCOL_VERSION.into()),
    );
    Ok((Enqueued::Added, c))
}

// ----- the unit's side -----

/// Why a unit acknowledges a grant without running anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckReason {
    /// The unit is being removed: it runs nothing more.
    Leaving,
    /// The queue is empty (or malformed): nothing to run.
    NothingQueued,
    /// A charmlibs grant that this unit already ran under charmlibs, before a refresh
    /// (`executed_at > granted_at`, both as charmlibs compares them).
    RanBeforeRefresh,
    /// Every queued operation is parked: its callback id is not one this charm knows (see
    /// [`runnable`]). Nothing runs, nothing is dropped; the grant is answered so that the lock
    /// moves on.
    Parked,
}

/// Which callback ids this unit can run (the charm's targets and their aliases).
pub type Known<'a> = &'a dyn Fn(&str) -> bool;

/// The index of the operation a unit runs next: the first one whose callback id it knows.
/// Operations with unknown ids are *parked*: kept in the queue, in place, never run, never
/// dropped (an operator drops them with [`drop_parked`], or a charm maps their ids).
pub fn runnable(queue: &[Operation], known: Known<'_>) -> Option<usize> {
    queue.iter().position(|o| known(&o.callback_id))
}

/// The parked operations of a queue (unknown callback ids), in order.
pub fn parked<'q>(queue: &'q [Operation], known: Known<'_>) -> Vec<&'q Operation> {
    queue.iter().filter(|o| !known(&o.callback_id)).collect()
}

/// What a unit does about the lock in this hook.
#[derive(Debug, Clone, PartialEq)]
pub enum UnitStep {
    /// The lock is not this unit's, or this unit already answered the current grant.
    Nothing,
    /// The grant is this unit's but was written in this very hook (by this unit, as leader):
    /// it runs in a later hook, once the grant is committed.
    NotYetCommitted,
    /// Run the head operation, then write [`finish`]'s changes.
    Run(Operation),
    /// Answer the grant without running anything.
    Ack(AckReason),
}

/// What a unit sees when it decides whether to run.
#[derive(Clone, Copy)]
pub struct UnitInput<'a> {
    /// This unit.
    pub me: &'a UnitName,
    /// Its own bag.
    pub bag: &'a UnitBag,
    /// The application bag.
    pub app: &'a AppView,
    /// Whether this unit is being removed.
    pub leaving: bool,
    /// Whether this unit wrote the current grant in this hook (not committed yet).
    pub grant_written_this_hook: bool,
    /// The callback ids this unit can run.
    pub known: Known<'a>,
}

/// Decides whether this unit runs its head operation now.
///
/// A unit runs only under a grant to itself that it has not answered yet ([`wire::ENSEMBLE_ACK`]
/// differs from the grant's id) and that was committed before this hook.
pub fn unit_step(input: UnitInput<'_>) -> UnitStep {
    let Some(grant) = input.app.grant.as_ref().filter(|g| g.is_for(input.me)) else {
        return UnitStep::Nothing;
    };
    if input.bag.ack.as_ref() == Some(&grant.id()) {
        return UnitStep::Nothing;
    }
    if input.leaving {
        if input.bag.interrupted {
            // A run under this grant was cut short: it may still be running. Keep the grant
            // (the leader keeps the lock until an operator releases it).
            return UnitStep::Nothing;
        }
        return UnitStep::Ack(AckReason::Leaving);
    }
    if grant.seq.is_none() && input.bag.ack.is_none() {
        // A charmlibs grant, and this unit never answered a grant as ensemble: it may have run
        // this grant under charmlibs before a refresh. charmlibs' own test, kept for this case.
        if let (Some(done), Ok(at)) = (
            &input.bag.executed_at,
            Timestamp::parse(wire::GRANTED_AT, &grant.granted_at),
        ) {
            if done.seconds() > at.seconds() {
                return UnitStep::Ack(AckReason::RanBeforeRefresh);
            }
        }
    }
    if input.grant_written_this_hook {
        return UnitStep::NotYetCommitted;
    }
    let queue = input.bag.queue();
    match runnable(queue, input.known) {
        Some(i) => UnitStep::Run(queue[i].clone()),
        None if queue.is_empty() => UnitStep::Ack(AckReason::NothingQueued),
        None => UnitStep::Ack(AckReason::Parked),
    }
}

/// What a unit writes, outside any turn, so that its `state` matches what it can run: `idle`
/// when every queued operation is parked (the leader then does not grant it), `request` again
/// when a parked operation became runnable (the charm now knows its id) while the unit was idle.
/// Nothing for a leaving unit, a malformed queue, or a state that already matches.
pub fn reconcile(bag: &UnitBag, known: Known<'_>) -> Changes {
    let mut c = Changes::new();
    let (Ok(queue), Ok(state)) = (&bag.operations, &bag.state) else {
        return c;
    };
    if bag.leaving || queue.is_empty() {
        return c;
    }
    let can_run = runnable(queue, known).is_some();
    let want = match (state, can_run) {
        (UnitState::Idle, true) => UnitState::Request,
        (UnitState::Idle, false) => return c,
        (_, false) => UnitState::Idle,
        (_, true) => return c,
    };
    c.insert(wire::STATE.into(), Some(want.as_str().into()));
    c
}

/// What a unit writes to drop its parked operations (the operator's `drop-parked` action):
/// the queue without them and the state that goes with it. `None` if there is nothing to drop
/// (or the queue is malformed).
pub fn drop_parked(bag: &UnitBag, known: Known<'_>) -> Option<(Changes, Vec<Operation>)> {
    let queue = bag.operations.as_ref().ok()?;
    let (keep, dropped): (Vec<Operation>, Vec<Operation>) =
        queue.iter().cloned().partition(|o| known(&o.callback_id));
    if dropped.is_empty() {
        return None;
    }
    let mut c = Changes::new();
    c.insert(wire::OPERATIONS.into(), Some(wire::render_operations(&keep)));
    let state = match bag.state.clone().unwrap_or(UnitState::Idle) {
        _ if keep.is_empty() || bag.leaving => UnitState::Idle,
        UnitState::Idle => UnitState::Request,
        s => s,
    };
    c.insert(wire::STATE.into(), Some(state.as_str().into()));
    Some((c, dropped))
}

/// How the unit's turn ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The callback ran and answered (a failed callback counts as
    /// [`OperationResult::RetryRelease`]).
    Ran(OperationResult),
    /// Nothing ran ([`UnitStep::Ack`]).
    Skipped(AckReason),
}

/// What a unit writes after its turn: the updated queue and state, `executed_at`, and the
/// acknowledgement of the grant. The operation the turn ran is the first runnable one
/// ([`runnable`], as [`unit_step`] chose it); parked operations stay where they are.
///
/// `executed_at` is `max(now, granted_at + 1 µs)`: a charmlibs leader, which releases when
/// `executed_at > granted_at`, then releases this unit whatever the two clocks say.
pub fn finish(bag: &UnitBag, grant: &Grant, outcome: &Outcome, now: &Timestamp, known: Known<'_>) -> Changes {
    let mut c = Changes::new();
    let mut executed = now.clone();
    if let Ok(at) = Timestamp::parse(wire::GRANTED_AT, &grant.granted_at) {
        // Bounded by Timestamp::parse; checked all the same.
        if let Some(after) = at.micros().checked_add(1) {
            if executed.micros() <= at.micros() {
                executed = Timestamp::from_micros(after);
            }
        }
    }
    c.insert(wire::ENSEMBLE_ACK.into(), Some(grant.id().render()));
    c.insert(
        wire::ENSEMBLE_PROTOCOL.into(),
        Some(wire::PROTOCOL_VERSION.into()),
    );
    match outcome {
        Outcome::Skipped(AckReason::RanBeforeRefresh) => return c,
        Outcome::Skipped(AckReason::Leaving) => {
            c.insert(wire::STATE.into(), Some(UnitState::Idle.as_str().into()));
            c.insert(wire::EXECUTED_AT.into(), Some(executed.as_str().into()));
            return c;
        }
        _ => {}
    }
    c.insert(wire::EXECUTED_AT.into(), Some(executed.as_str().into()));
    let Ok(mut queue) = bag.operations.clone() else {
        // A malformed queue is left as it is for an operator to look at; nothing ran.
        c.insert(wire::STATE.into(), Some(UnitState::Idle.as_str().into()));
        return c;
    };
    let had_queue = !queue.is_empty();
    let ran = match outcome {
        Outcome::Ran(r) => runnable(&queue, known).map(|i| (i, *r)),
        Outcome::Skipped(_) => None,
    };
    let mut state = UnitState::Idle;
    if let Some((i, result)) = ran {
        match result {
            OperationResult::Release => {
                queue.remove(i);
            }
            OperationResult::RetryRelease | OperationResult::RetryHold => {
                let op = &mut queue[i];
                op.attempt = op.attempt.saturating_add(1);
                if op.max_retry.is_some_and(|m| op.attempt > m) {
                    queue.remove(i);
                } else if result == OperationResult::RetryHold {
                    state = UnitState::RetryHold;
                } else {
                    state = UnitState::RetryRelease;
                }
            }
        }
    }
    if state == UnitState::Idle && runnable(&queue, known).is_some() {
        state = UnitState::Request;
    }
    if had_queue {
        c.insert(wire::OPERATIONS.into(), Some(wire::render_operations(&queue)));
    }
    c.insert(wire::STATE.into(), Some(state.as_str().into()));
    c
}

/// What a unit writes when it learns that it is being removed: the leaving mark (the leader
/// never grants it again, and releases a grant it holds) and `state=idle` (a charmlibs leader
/// does not grant it either). Its queue is kept as it is, for the record.
///
/// `interrupted`: a run of its operation under the grant it holds was cut short (its agent died
/// during the hook) and may still be running; the mark then says so
/// ([`wire::LEAVING_INTERRUPTED`]) and does not release the lock.
pub fn leaving_changes(interrupted: bool) -> Changes {
    let mut c = Changes::new();
    let mark = if interrupted {
        wire::LEAVING_INTERRUPTED
    } else {
        "true"
    };
    c.insert(wire::ENSEMBLE_LEAVING.into(), Some(mark.into()));
    c.insert(wire::STATE.into(), Some(UnitState::Idle.as_str().into()));
    c.insert(
        wire::ENSEMBLE_PROTOCOL.into(),
        Some(wire::PROTOCOL_VERSION.into()),
    );
    c
}

// ----- the leader's side -----

/// The leader's own bookkeeping, kept in its stored state. None of it is needed for safety:
/// a new leader starts with an empty book and stays correct; the book only makes the order
/// fair (first come, first served; round robin for retries) and the status informative.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct LeaderBook {
    /// The next ticket number.
    #[serde(default)]
    pub next_ticket: u64,
    /// For each unit, the tickets of the operations seen in its queue: the order in which this
    /// leader first saw each request (operation token → ticket).
    #[serde(default)]
    pub seen: BTreeMap<String, BTreeMap<String, u64>>,
    /// For each unit, the ticket at which this leader last released it (retry order).
    #[serde(default)]
    pub released: BTreeMap<String, u64>,
    /// The sequence number of the last grant this leader wrote.
    #[serde(default)]
    pub issued: Option<u64>,
    /// The current grant and when this leader first saw it (its own clock, microseconds): for
    /// the status only.
    #[serde(default)]
    pub holder_seen: Option<(GrantId, i128)>,
    /// Units this leader saw depart (Juju never reuses a unit name), kept while the relation
    /// still lists them: they are not members any more.
    #[serde(default)]
    pub departed: BTreeSet<String>,
    /// The unit of the last grant this leader made and the token of the head of its queue then
    /// (for the fairness rule at its release, see [`decide`]).
    #[serde(default)]
    pub granted_head: Option<(String, String)>,
}

/// Everything the leader looks at.
#[derive(Debug, Clone, Copy)]
pub struct LeaderInput<'a> {
    /// The leader.
    pub me: &'a UnitName,
    /// The units in the relation now, the leader included (a departing unit excluded).
    pub members: &'a BTreeSet<UnitName>,
    /// The bags of the members, and of the holder if it departed but its bag is still readable.
    pub bags: &'a BTreeMap<UnitName, UnitBag>,
    /// The application bag.
    pub app: &'a AppView,
    /// The leader's book.
    pub book: &'a LeaderBook,
    /// The leader's clock.
    pub now: &'a Timestamp,
}

/// Why the leader released a grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseReason {
    /// The holder acknowledged this very grant.
    Acked,
    /// The holder is being removed and said so: it runs nothing more.
    Leaving,
    /// A charmlibs holder (no ensemble keys) is idle (charmlibs' rule).
    LegacyIdle,
    /// A charmlibs holder's `executed_at` is after `granted_at` (charmlibs' rule, restricted to
    /// the holder: the one place ensemble compares two clocks).
    LegacyExecuted,
    /// The operator ran the force-release action.
    Forced,
}

/// The holder of the lock, for the status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// `granted_unit`.
    pub unit: String,
    /// Whether it is still in the relation.
    pub present: bool,
    /// How long this leader has seen it hold the lock, in seconds (approximate after a leader
    /// change).
    pub held_secs: u64,
}

/// What the leader does.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decision {
    /// Changes to the application bag (empty when nothing changes).
    pub app: Changes,
    /// The new book.
    pub book: LeaderBook,
    /// The grant released in this hook, and why.
    pub released: Option<(String, ReleaseReason)>,
    /// The unit granted in this hook, and the grant's sequence number.
    pub granted: Option<(UnitName, u64)>,
    /// The holder after this hook.
    pub holder: Option<Holder>,
    /// Units waiting for the lock after this hook (the holder excluded).
    pub queued: usize,
    /// Units skipped because their bag is malformed.
    pub skipped: Vec<(UnitName, WireError)>,
    /// The lock is free and units wait, but no sequence number is left to grant it with
    /// ([`limits::MAX_SEQ`]; after 2^52 grants at the least).
    pub exhausted: bool,
}

/// Whether the holder of `grant` is done with it.
fn release_reason(grant: &Grant, bag: Option<&UnitBag>) -> Option<ReleaseReason> {
    let bag = bag?;
    if bag.ack.as_ref() == Some(&grant.id()) {
        return Some(ReleaseReason::Acked);
    }
    if bag.leaving && !bag.interrupted {
        return Some(ReleaseReason::Leaving);
    }
    if bag.ensemble {
        return None;
    }
    if bag.state == Ok(UnitState::Idle) {
        return Some(ReleaseReason::LegacyIdle);
    }
    let at = Timestamp::parse(wire::GRANTED_AT, &grant.granted_at).ok()?;
    match &bag.executed_at {
        Some(done) if done.seconds() > at.seconds() => Some(ReleaseReason::LegacyExecuted),
        _ => None,
    }
}

/// The order in which units get the lock: retry-hold first, then requests by the time this
/// leader first saw their head operation, then retry-release by the time this leader last
/// released them; ties by unit number. No two units' clocks are compared.
///
/// `retry-hold` ranks first only for the holder released in this very decision (the one that
/// asked to keep the lock); any other unit in `retry-hold` (a stale or forged state) ranks as
/// `retry-release`, so that no peer can jump the queue forever by writing it.
fn priority(
    unit: &UnitName,
    bag: &UnitBag,
    book: &LeaderBook,
    just_released: Option<&str>,
) -> Option<(u8, u64, u64, u32)> {
    let head = bag.operations.as_ref().ok()?.first()?;
    let released = book.released.get(unit.as_str()).copied().unwrap_or(0);
    let last_seq = bag.ack.as_ref().and_then(|a| a.seq).unwrap_or(0);
    match bag.state.as_ref().ok()? {
        UnitState::Idle => None,
        UnitState::RetryHold if just_released == Some(unit.as_str()) => {
            Some((0, released, last_seq, unit.number()))
        }
        UnitState::RetryHold => Some((2, released, last_seq, unit.number())),
        UnitState::Request => {
            let ticket = book
                .seen
                .get(unit.as_str())
                .and_then(|s| s.get(&head.token()))
                .copied()
                .unwrap_or(u64::MAX);
            Some((1, ticket, 0, unit.number()))
        }
        UnitState::RetryRelease => Some((2, released, last_seq, unit.number())),
    }
}

/// The leader's decision: release the current grant if its holder is done, then grant the
/// lock to the first unit in order if it is free.
///
/// Release rule: only the granted unit's bag counts. An ensemble holder releases by
/// acknowledging the grant's id or by saying it is leaving; a charmlibs holder by charmlibs'
/// rule (idle, or `executed_at > granted_at`). A holder that left the relation without either
/// keeps the lock until an operator runs [`force_release`].
pub fn decide(input: LeaderInput<'_>) -> Decision {
    let mut book = input.book.clone();
    let mut d = Decision::default();

    // Tickets for requests seen for the first time; forget what left the queues.
    let tick = book.next_ticket;
    let mut used = false;
    let mut seen = BTreeMap::new();
    for (unit, bag) in input.bags {
        if !input.members.contains(unit) {
            continue;
        }
        let old = book.seen.remove(unit.as_str()).unwrap_or_default();
        let mut now_seen = BTreeMap::new();
        for op in bag.queue() {
            let t = op.token();
            let ticket = old.get(&t).copied().unwrap_or_else(|| {
                used = true;
                tick
            });
            now_seen.insert(t, ticket);
        }
        if !now_seen.is_empty() {
            seen.insert(unit.as_str().to_owned(), now_seen);
        }
    }
    book.seen = seen;
    if used {
        book.next_ticket = tick.saturating_add(1);
    }
    book.released
        .retain(|u, _| input.members.iter().any(|m| m.as_str() == u));

    // Release.
    let mut grant = input.app.grant.clone();
    if let Some(g) = &grant {
        let holder = UnitName::parse(&g.unit).ok();
        let bag = holder.as_ref().and_then(|h| input.bags.get(h));
        if let Some(reason) = release_reason(g, bag) {
            d.app.insert(wire::GRANTED_UNIT.into(), None);
            d.app.insert(wire::GRANTED_AT.into(), None);
            book.released.insert(g.unit.clone(), book.next_ticket);
            book.next_ticket = book.next_ticket.saturating_add(1);
            // A holder that answered yet still requests with the head it was granted for (a
            // parked head, or a peer that rewrites its request): that request goes to the back
            // of the queue, so one unit cannot keep the lock by asking again and again.
            if let (Some((u, token)), Some(b)) = (book.granted_head.take(), bag) {
                let same = u == g.unit
                    && b.state == Ok(UnitState::Request)
                    && b.queue().first().is_some_and(|h| h.token() == token);
                if same {
                    if let Some(t) = book.seen.get_mut(&u).and_then(|s| s.get_mut(&token)) {
                        *t = book.next_ticket;
                        book.next_ticket = book.next_ticket.saturating_add(1);
                    }
                }
            }
            d.released = Some((g.unit.clone(), reason));
            grant = None;
        }
    }

    // Schedule.
    let mut candidates = Vec::new();
    for (unit, bag) in input.bags {
        if !input.members.contains(unit) {
            continue;
        }
        if let Err(e) = &bag.operations {
            d.skipped.push((unit.clone(), e.clone()));
            continue;
        }
        if let Err(e) = &bag.state {
            d.skipped.push((unit.clone(), e.clone()));
            continue;
        }
        if bag.leaving || bag.backend == ProcessingBackend::Etcd {
            continue;
        }
        let just_released = d.released.as_ref().map(|(u, _)| u.as_str());
        if let Some(p) = priority(unit, bag, &book, just_released) {
            candidates.push((p, unit.clone()));
        }
    }
    candidates.sort();
    d.queued = candidates.len();
    let next_seq = || {
        // Acknowledgements count only up to SEQ_COUNTED_MAX: a peer cannot push the numbering
        // to its end. The record and the book are the leader's own.
        let max_ack = input
            .bags
            .values()
            .filter_map(|b| b.ack.as_ref()?.seq)
            .filter(|s| *s <= limits::SEQ_COUNTED_MAX)
            .max();
        [input.app.record.as_ref().map(|r| r.seq), max_ack, book.issued]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(0)
            .checked_add(1)
            .filter(|s| *s <= limits::MAX_SEQ)
    };
    let next = grant.is_none().then(next_seq).flatten();
    if grant.is_none() && next.is_none() && !candidates.is_empty() {
        d.exhausted = true;
    }
    if let Some(seq) = next {
        if let Some((_, unit)) = candidates.first() {
            let record = GrantRecord {
                seq,
                unit: unit.as_str().to_owned(),
                granted_at: input.now.as_str().to_owned(),
            };
            d.app.insert(wire::GRANTED_UNIT.into(), Some(record.unit.clone()));
            d.app
                .insert(wire::GRANTED_AT.into(), Some(record.granted_at.clone()));
            d.app.insert(wire::ENSEMBLE_GRANT.into(), Some(record.render()));
            book.issued = Some(seq);
            book.granted_head = input
                .bags
                .get(unit)
                .and_then(|b| b.queue().first())
                .map(|h| (unit.as_str().to_owned(), h.token()));
            d.granted = Some((unit.clone(), seq));
            d.queued -= 1;
            grant = Some(Grant {
                unit: record.unit,
                granted_at: record.granted_at,
                seq: Some(seq),
            });
        }
    }
    if d.granted.is_none() {
        if let Some(g) = &grant {
            if candidates.iter().any(|(_, u)| g.unit == u.as_str()) {
                d.queued -= 1;
            }
        }
    }

    // The holder, for the status.
    let now_us = input.now.micros();
    d.holder = grant.as_ref().map(|g| {
        let since = match &book.holder_seen {
            Some((id, at)) if *id == g.id() => *at,
            _ => now_us,
        };
        book.holder_seen = Some((g.id(), since));
        Holder {
            unit: g.unit.clone(),
            present: input.members.iter().any(|m| g.unit == m.as_str()),
            held_secs: now_us
                .checked_sub(since)
                .and_then(|us| u64::try_from(us / 1_000_000).ok())
                .unwrap_or(0),
        }
    });
    if grant.is_none() {
        book.holder_seen = None;
    }
    d.book = book;
    d
}

/// Why [`force_release`] refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForceReleaseError {
    /// Nobody holds the lock.
    #[error("nobody holds the lock")]
    NotHeld,
    /// Another unit holds it than the one named.
    #[error("the lock is held by {held_by}, not {named}")]
    HeldByOther {
        /// The holder.
        held_by: String,
        /// The unit the operator named (redacted).
        named: String,
    },
}

/// The operator's release of a grant whose holder cannot answer (its agent died, it was
/// removed with force, it is stuck in error). The operator names the holder, as a guard
/// against releasing a newer grant by mistake. The released unit's head request goes to the
/// back of the queue. The caller then runs [`decide`] to grant the lock to the next unit.
pub fn force_release(
    app: &AppView,
    named: &str,
    book: &LeaderBook,
) -> Result<(Changes, LeaderBook, Grant), ForceReleaseError> {
    let grant = app.grant.clone().ok_or(ForceReleaseError::NotHeld)?;
    if grant.unit != named {
        return Err(ForceReleaseError::HeldByOther {
            held_by: grant.unit,
            named: wire::redact(named),
        });
    }
    let mut book = book.clone();
    let back = book.next_ticket;
    book.next_ticket = back.saturating_add(1);
    if let Some(seen) = book.seen.get_mut(named) {
        for t in seen.values_mut() {
            *t = (*t).max(back);
        }
    }
    book.released.insert(named.to_owned(), back);
    book.holder_seen = None;
    let mut c = Changes::new();
    c.insert(wire::GRANTED_UNIT.into(), None);
    c.insert(wire::GRANTED_AT.into(), None);
    Ok((c, book, grant))
}
