//! One hook's worth of the protocol, over an abstract [`PeerIo`]: what the adapter does through
//! `charm::Context` and what the model check does on its in-memory world, with the same code.
//!
//! A hook is two calls: [`begin`] decides whether this unit runs its head operation now; if it
//! does, the caller runs the callback and passes the outcome to [`end`], which writes the unit's
//! answer and, on the leader, runs [`decide`]. Between the two calls the operation runs; the
//! model check lets the rest of the world move on meanwhile, as Juju does.

use crate::core::{
    apply_changes, decide, enqueue, finish, force_release as release_by_force, leaving_changes, reconcile,
    unit_step, AppView, Changes, Decision, Enqueued, ForceReleaseError, Grant, LeaderBook, LeaderInput,
    Outcome, UnitBag, UnitInput, UnitStep,
};
use crate::wire::{redact, GrantId, Operation, Timestamp, WireError};
use charm::{Databag, UnitName};
use std::collections::{BTreeMap, BTreeSet};

/// What the protocol needs from a hook.
pub trait PeerIo {
    /// The error of the underlying calls.
    type Error;
    /// This unit.
    fn me(&self) -> UnitName;
    /// This unit's bag (with this hook's writes).
    fn own_bag(&mut self) -> Result<Databag, Self::Error>;
    /// The application bag (with this hook's writes).
    fn app_bag(&mut self) -> Result<Databag, Self::Error>;
    /// The other units in the relation now.
    fn peers(&mut self) -> Result<Vec<UnitName>, Self::Error>;
    /// Another unit's bag; `None` if it cannot be read (a unit gone for good).
    fn peer_bag(&mut self, unit: &UnitName) -> Result<Option<Databag>, Self::Error>;
    /// Whether this unit is the leader.
    fn is_leader(&mut self) -> Result<bool, Self::Error>;
    /// This unit's clock.
    fn now(&mut self) -> Timestamp;
    /// Writes this unit's bag.
    fn write_own(&mut self, changes: &Changes) -> Result<(), Self::Error>;
    /// Writes the application bag (leader only).
    fn write_app(&mut self, changes: &Changes) -> Result<(), Self::Error>;
    /// The leader's book (with this hook's changes).
    fn book(&mut self) -> Result<LeaderBook, Self::Error>;
    /// Replaces the leader's book.
    fn set_book(&mut self, book: &LeaderBook) -> Result<(), Self::Error>;
    /// The book's `issued` as it was committed before this hook.
    fn committed_issued(&mut self) -> Result<Option<u64>, Self::Error>;
    /// Whether this unit knows it is being removed.
    fn leaving(&mut self) -> Result<bool, Self::Error>;
    /// Remembers that this unit is being removed.
    fn set_leaving(&mut self) -> Result<(), Self::Error>;
    /// Arranges a hook on this unit soon (the lock-granted event, without delay).
    fn wake_me(&mut self) -> Result<(), Self::Error>;
    /// The run mark: the grant under which this unit last started an operation, kept outside
    /// Juju's transaction (a machine file) until the unit sees its answer committed. A mark
    /// for the grant the unit still holds and has not answered means a run was cut short (its
    /// agent died in the middle) and the operation may still be running. Without such storage
    /// (the default), no run is ever known to be cut short.
    fn run_mark(&mut self) -> Result<Option<GrantId>, Self::Error> {
        Ok(None)
    }
    /// Sets (`Some`) or clears (`None`) the run mark, at once.
    fn set_run_mark(&mut self, _grant: Option<&GrantId>) -> Result<(), Self::Error> {
        Ok(())
    }
    /// The leader's cache of its peers' bags (the keys the protocol reads), as it last read them
    /// while leader, committed with each hook. `None` (the default): no cache, every leader hook
    /// reads every bag. An empty cache makes the next leader hook read every bag.
    fn peer_cache(&mut self) -> Result<Option<BTreeMap<UnitName, Databag>>, Self::Error> {
        Ok(None)
    }
    /// Replaces the cache.
    fn set_peer_cache(&mut self, _cache: &BTreeMap<UnitName, Databag>) -> Result<(), Self::Error> {
        Ok(())
    }
    /// Whether this unit can run operations with this callback id (a target of the charm, or
    /// an alias of one). Operations with other ids are parked ([`crate::core::runnable`]). The
    /// default knows every id.
    fn knows(&self, _callback_id: &str) -> bool {
        true
    }
    /// A line for the log (`warn` for malformed data). Every value from a bag that a message
    /// quotes has gone through [`redact`].
    fn note(&mut self, warn: bool, message: String);
}

/// What [`begin`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Begin {
    /// Run this operation under this grant, then call [`end`] with the outcome.
    Run {
        /// The head operation.
        op: Operation,
        /// The grant it runs under.
        grant: Grant,
    },
    /// Nothing to run: call [`end`] with this (a turn answered without running, or none).
    Done(Option<(Grant, Outcome)>),
}

/// What one hook did, for statuses and tests.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    /// This unit's bag after the hook.
    pub own: Option<UnitBag>,
    /// The application bag after the hook.
    pub app: AppView,
    /// The leader's decision, if this unit is the leader.
    pub decision: Option<Decision>,
    /// The outcome of this unit's turn, if it had one.
    pub turn: Option<Outcome>,
}

fn parse_own<I: PeerIo>(io: &mut I) -> Result<UnitBag, I::Error> {
    Ok(UnitBag::parse(&io.own_bag()?))
}

/// One log line for the values of a bag that are outside the trust rules (already redacted).
fn note_problems<I: PeerIo>(io: &mut I, whose: &str, problems: &[WireError]) {
    if problems.is_empty() {
        return;
    }
    let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
    io.note(
        true,
        format!("rolling ops: ignoring in {whose}: {}", list.join("; ")),
    );
}

/// Starts a hook: marks the unit as leaving when `leaving_now` (its own departure or `stop`),
/// then decides whether it runs its head operation.
pub fn begin<I: PeerIo>(io: &mut I, leaving_now: bool) -> Result<Begin, I::Error> {
    let me = io.me();
    let app = AppView::parse(&io.app_bag()?);
    // A run mark for the grant this unit holds, unanswered: a run was cut short. Any other
    // mark is stale (answered, or a grant that is gone): cleared.
    let mut interrupted = false;
    if let Some(mark) = io.run_mark()? {
        let ack = UnitBag::parse(&io.own_bag()?).ack;
        let held = app.grant.as_ref().filter(|g| g.is_for(&me)).map(Grant::id);
        if held.as_ref() == Some(&mark) && ack.as_ref() != Some(&mark) {
            interrupted = true;
        } else {
            io.set_run_mark(None)?;
        }
    }
    if leaving_now && !io.leaving()? {
        io.set_leaving()?;
        io.write_own(&leaving_changes(interrupted))?;
        let message = if interrupted {
            "rolling ops: this unit is leaving; it runs no more operations, and keeps the lock: \
             its last operation was cut short and may still be running (an operator releases \
             it with force-release)"
        } else {
            "rolling ops: this unit is leaving; it runs no more operations"
        };
        io.note(interrupted, message.into());
    }
    let leaving = io.leaving()?;
    let bag = parse_own(io)?;
    note_problems(io, "this unit's bag", &bag.problems);
    let mut written_now = false;
    if let Some(g) = app.grant.as_ref().filter(|g| g.is_for(&me)) {
        if let Some(seq) = g.seq {
            if bag.ack.as_ref().and_then(|a| a.seq) != Some(seq) && io.book()?.issued == Some(seq) {
                written_now = io.committed_issued()? != Some(seq);
            }
        }
    }
    let step = {
        let known = |id: &str| io.knows(id);
        unit_step(UnitInput {
            me: &me,
            bag: &bag,
            app: &app,
            leaving,
            grant_written_this_hook: written_now,
            known: &known,
        })
    };
    if step == UnitStep::Nothing && !leaving {
        // Outside a turn: make `state` match what this unit can run (parked operations).
        let changes = {
            let known = |id: &str| io.knows(id);
            reconcile(&bag, &known)
        };
        if !changes.is_empty() {
            io.write_own(&changes)?;
        }
    }
    let grant = app.grant.clone();
    Ok(match (step, grant) {
        (UnitStep::Run(op), Some(grant)) => {
            io.set_run_mark(Some(&grant.id()))?;
            Begin::Run { op, grant }
        }
        (UnitStep::Ack(reason), Some(grant)) => Begin::Done(Some((grant, Outcome::Skipped(reason)))),
        (UnitStep::NotYetCommitted, _) => {
            io.wake_me()?;
            Begin::Done(None)
        }
        _ => Begin::Done(None),
    })
}

/// Which peers' bags a leader hook reads afresh; the others come from the leader's cache, when
/// the [`PeerIo`] keeps one ([`PeerIo::peer_cache`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh<'a> {
    /// Every bag (leader-elected, update-status, start, upgrade-charm, the operator's action).
    All,
    /// The bag of the unit whose change this hook reports, if any (relation-changed and
    /// -joined); the leader's own bag, the holder's and the one it is about to grant are always
    /// read afresh.
    Changed(Option<&'a UnitName>),
}

/// Ends a hook: writes this unit's answer to its turn, if it had one, then runs the leader's
/// part if this unit leads. `departing` is the unit whose departure this hook reports. Every
/// peer's bag is read afresh; see [`end_with`].
pub fn end<I: PeerIo>(
    io: &mut I,
    turn: Option<(Grant, Outcome)>,
    departing: Option<&UnitName>,
) -> Result<Report, I::Error> {
    end_with(io, turn, departing, Refresh::All)
}

/// [`end`], reading afresh only the bags `refresh` names (with a [`PeerIo::peer_cache`]).
pub fn end_with<I: PeerIo>(
    io: &mut I,
    turn: Option<(Grant, Outcome)>,
    departing: Option<&UnitName>,
    refresh: Refresh<'_>,
) -> Result<Report, I::Error> {
    let mut report = Report::default();
    if let Some((grant, outcome)) = &turn {
        let bag = parse_own(io)?;
        let now = io.now();
        let changes = {
            let known = |id: &str| io.knows(id);
            finish(&bag, grant, outcome, &now, &known)
        };
        io.write_own(&changes)?;
        report.turn = Some(outcome.clone());
    }
    if io.is_leader()? {
        report.decision = Some(lead(io, departing, refresh)?);
    }
    report.own = Some(UnitBag::parse(&io.own_bag()?));
    report.app = AppView::parse(&io.app_bag()?);
    Ok(report)
}

/// The keys of a unit's bag the protocol reads (what the leader's cache keeps).
const CACHED_KEYS: [&str; 7] = [
    crate::wire::OPERATIONS,
    crate::wire::STATE,
    crate::wire::EXECUTED_AT,
    crate::wire::PROCESSING_BACKEND,
    crate::wire::ENSEMBLE_PROTOCOL,
    crate::wire::ENSEMBLE_ACK,
    crate::wire::ENSEMBLE_LEAVING,
];

/// What the cache keeps of a bag: the protocol's keys, and only values within the trust rules.
fn protocol_keys(bag: &Databag) -> Databag {
    let trusted = UnitBag::trusted_keys(bag);
    debug_assert!(trusted.keys().all(|k| CACHED_KEYS.contains(&k.as_str())));
    trusted
}

/// The leader's part of a hook: reads the bags (every one, or with a cache those `refresh`
/// names, the leader's own, the holder's and the one it is about to grant), decides, writes.
///
/// A cached bag can only be behind: a unit's bag changes by its own writes, each of which gives
/// the leader a relation-changed hook that reads it. A stale entry never affects mutual
/// exclusion (the release reads the holder's bag afresh, the grant needs the free lock of the
/// application bag, read afresh); at worst a request is seen, and served, a hook later.
pub fn lead<I: PeerIo>(
    io: &mut I,
    departing: Option<&UnitName>,
    refresh: Refresh<'_>,
) -> Result<Decision, I::Error> {
    let me = io.me();
    let peers: BTreeSet<UnitName> = io.peers()?.into_iter().collect();
    let mut book = io.book()?;
    let book_before = book.clone();
    if let Some(d) = departing {
        book.departed.insert(d.as_str().to_owned());
    }
    book.departed.retain(|d| peers.iter().any(|p| p.as_str() == d));
    let mut members: BTreeSet<UnitName> = peers
        .into_iter()
        .filter(|p| !book.departed.contains(p.as_str()))
        .collect();
    members.insert(me.clone());
    let app_raw = io.app_bag()?;
    let app = AppView::parse(&app_raw);
    note_problems(io, "the application bag", &app.problems);
    let holder = app.grant.as_ref().and_then(|g| UnitName::parse(&g.unit).ok());
    let cache_before = io.peer_cache()?;
    let mut cache = cache_before.clone().unwrap_or_default();
    cache.retain(|u, _| members.contains(u));
    let mut fresh: BTreeSet<UnitName> = BTreeSet::new();
    let mut bags = BTreeMap::new();
    for u in &members {
        let cached = cache_before.is_some()
            && *u != me
            && Some(u) != holder.as_ref()
            && !matches!(refresh, Refresh::All)
            && refresh != Refresh::Changed(Some(u));
        if cached {
            if let Some(raw) = cache.get(u) {
                bags.insert(u.clone(), UnitBag::parse(raw));
                continue;
            }
        }
        let raw = if *u == me {
            Some(io.own_bag()?)
        } else {
            io.peer_bag(u)?
        };
        fresh.insert(u.clone());
        if let Some(raw) = raw {
            let bag = UnitBag::parse(&raw);
            if *u != me {
                note_problems(io, &format!("the bag of {u}"), &bag.problems);
            }
            cache.insert(u.clone(), protocol_keys(&raw));
            bags.insert(u.clone(), bag);
        }
    }
    if let Some(holder) = holder {
        if let std::collections::btree_map::Entry::Vacant(slot) = bags.entry(holder) {
            let holder = slot.key().clone();
            if let Some(raw) = io.peer_bag(&holder)? {
                slot.insert(UnitBag::parse(&raw));
            }
        }
    }
    let now = io.now();
    let d = loop {
        let d = decide(LeaderInput {
            me: &me,
            members: &members,
            bags: &bags,
            app: &app,
            book: &book,
            now: &now,
        });
        // Grant only on a bag read in this hook: a cached one may be behind (the unit may be
        // leaving, or done); if it was, decide again with it.
        match &d.granted {
            Some((g, _)) if !fresh.contains(g) => {
                fresh.insert(g.clone());
                match io.peer_bag(g)? {
                    Some(raw) => {
                        cache.insert(g.clone(), protocol_keys(&raw));
                        bags.insert(g.clone(), UnitBag::parse(&raw));
                    }
                    None => {
                        cache.remove(g);
                        bags.remove(g);
                    }
                }
            }
            _ => break d,
        }
    };
    if cache_before.is_some() && cache_before.as_ref() != Some(&cache) {
        io.set_peer_cache(&cache)?;
    }
    for (u, e) in &d.skipped {
        io.note(true, format!("rolling ops: skipping {u}: {e}"));
    }
    if let Some((u, why)) = &d.released {
        io.note(
            false,
            format!("rolling ops: released the lock of {} ({why:?})", redact(u)),
        );
    }
    if let Some((u, seq)) = &d.granted {
        io.note(
            false,
            format!("rolling ops: granted the lock to {u} (grant {seq})"),
        );
    }
    if d.exhausted {
        io.note(
            true,
            "rolling ops: no grant sequence number is left; the lock cannot be granted".into(),
        );
    }
    if !d.app.is_empty() {
        io.write_app(&d.app)?;
    }
    if d.book != book_before {
        io.set_book(&d.book)?;
    }
    if d.granted.as_ref().is_some_and(|(u, _)| *u == me) {
        io.wake_me()?;
    }
    Ok(d)
}

/// Queues a request on this unit; on the leader, also runs the leader's part, so that a free
/// lock is granted in this hook (the operation itself runs in a later hook).
pub fn request<I: PeerIo>(io: &mut I, op: Operation) -> Result<Result<Enqueued, WireError>, I::Error> {
    let bag = parse_own(io)?;
    let (what, changes) = match enqueue(&bag, op) {
        Ok(x) => x,
        Err(e) => return Ok(Err(e)),
    };
    if what == Enqueued::Added {
        // Behind parked operations the state may be idle: the new operation makes it a request.
        let mut changes = changes;
        let after = UnitBag::parse(&with_changes(io.own_bag()?, &changes));
        let more = {
            let known = |id: &str| io.knows(id);
            reconcile(&after, &known)
        };
        changes.extend(more);
        io.write_own(&changes)?;
        if io.is_leader()? {
            lead(io, None, Refresh::Changed(None))?;
        }
    }
    Ok(Ok(what))
}

/// The operator's action on the leader: releases the grant held by `named` (see
/// [`crate::core::force_release`]), then grants the lock to the next unit. Returns the released
/// grant and the leader's decision.
pub fn force_release<I: PeerIo>(
    io: &mut I,
    named: &str,
) -> Result<Result<(Grant, Decision), ForceReleaseError>, I::Error> {
    let app = AppView::parse(&io.app_bag()?);
    let book = io.book()?;
    let (changes, book, grant) = match release_by_force(&app, named, &book) {
        Ok(x) => x,
        Err(e) => return Ok(Err(e)),
    };
    io.write_app(&changes)?;
    io.set_book(&book)?;
    io.note(
        false,
        format!(
            "rolling ops: the operator force-released the lock of {} (granted at {})",
            redact(&grant.unit),
            redact(&grant.granted_at)
        ),
    );
    let d = lead(io, None, Refresh::All)?;
    Ok(Ok((grant, d)))
}

/// A bag with changes applied (a helper for [`PeerIo`] implementations).
pub fn with_changes(mut bag: Databag, changes: &Changes) -> Databag {
    apply_changes(&mut bag, changes);
    bag
}
