//! The grant protocol, model-checked with stateright: every interleaving of the units' hooks,
//! leader changes, graceful departures (in both orders Juju allows), agent deaths, forced
//! removals and failed hooks, within bounds.
//!
//! The model runs the crate's own code: every hook goes through `rollingops::engine` (`begin`,
//! `end`, `request`, `force_release`) over an in-memory [`PeerIo`], so the functions checked
//! are the ones the charm runs. Only the world around them is modelled:
//!
//! - **Hooks are transactions.** A hook reads the committed bags (the application bag once, at
//!   its start, as Juju caches it), writes into its own transaction, and commits at its end.
//!   Hooks of one unit are serial; hooks of different units interleave freely, and a unit may
//!   run a hook at any time (update-status, relation-changed and the lock-granted event make
//!   every useful hook happen eventually; useless ones change nothing and are not explored).
//! - **An operation spans its hook.** When `begin` says run, the unit enters its callback and
//!   the world moves on; the hook ends later with one of the three results (or fails: nothing
//!   commits, the operation ran anyway).
//! - **Departure** as Juju does it: a removed unit runs its own departing hook (marking itself
//!   leaving) and leaves the relation's scope, in either order, even while it is running an
//!   operation; its bag stays readable.
//! - **Faults**: an agent dies (the unit stays in the relation, runs no more hooks, its
//!   operation stops), a unit is removed with `--force` (the same, and it leaves the relation),
//!   a hook fails after the operation ran. The operator's runbook for a grant held by a dead
//!   unit: run force-release, then remove the unit.
//! - **Leadership** moves at most `leader_changes` times at will, and whenever the leader is
//!   dead or gone; a leader's hook checks leadership when it gets to the leader's part.
//!
//! Properties:
//! - `mutual exclusion` (always): at most one unit is inside an operation.
//! - `every request served` (always, on states where nothing more can happen): every live
//!   unit's requests were all made and its queue is empty. Together with a finite, acyclic state
//!   graph, this is "every request is eventually served" on every path.
//! - `all served` (sometimes): the run can finish, as a sanity check of the model.
//!
//! The CI bounds are the tests below; `custom_bounds` checks others on demand.

use charm::{Databag, UnitName};
use rollingops::core::{apply_changes, Changes, Grant, LeaderBook, OperationResult, Outcome, UnitBag};
use rollingops::engine::{self, Begin, PeerIo};
use rollingops::wire::{Operation, Timestamp};
use stateright::{Checker, Model, Property};
use std::convert::Infallible;
use std::time::Instant;

#[derive(Debug, Clone, Copy)]
struct Bounds {
    /// Units in the application.
    units: usize,
    /// Units (the last ones) that each request one operation.
    requesters: usize,
    /// The operations' max_retry.
    max_retry: u32,
    /// Voluntary leader changes.
    leader_changes: u8,
    /// Graceful removals.
    removals: u8,
    /// Agent deaths, forced removals and failed hooks together.
    faults: u8,
}

impl Bounds {
    /// 5 units, 3 of them requesting, no fault: the plain protocol.
    const fn base(max_retry: u32) -> Self {
        Bounds {
            units: 5,
            requesters: 3,
            max_retry,
            leader_changes: 0,
            removals: 0,
            faults: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Life {
    Alive,
    /// Removal requested: its own departing hook has not run yet.
    Dying,
    /// Its own departing hook ran.
    Left,
    /// Its agent is dead: no more hooks.
    Dead,
}

/// A hook in progress (an operation running).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Txn {
    own: Databag,
    /// The application bag as read at the hook's start, with the hook's writes.
    app: Databag,
    app_writes: Changes,
    book: LeaderBook,
    leaving: bool,
    committed_issued: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Unit {
    bag: Databag,
    book: LeaderBook,
    leaving: bool,
    life: Life,
    in_relation: bool,
    to_request: u8,
    requested: u8,
    /// The hook running an operation, and the grant it runs under.
    running: Option<(Txn, Grant)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct World {
    app: Databag,
    units: Vec<Unit>,
    leader: usize,
    leader_changes: u8,
    removals: u8,
    faults: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Action {
    /// A hook that requests one operation, then handles the event (the charm pattern where the
    /// library's handler runs after the charm's).
    Request(usize),
    /// Any other hook.
    Hook(usize),
    /// The unit's own departing hook.
    OwnDeparture(usize),
    /// The running operation ends with this result.
    Finish(usize, OperationResult),
    /// The hook running the operation fails: nothing commits.
    FailHook(usize),
    /// `juju remove-unit`.
    Remove(usize),
    /// The removed unit leaves the relation's scope (the others see it depart).
    LeaveScope(usize),
    /// The unit's agent dies.
    Crash(usize),
    /// `juju remove-unit --force`.
    ForceRemove(usize),
    /// Leadership moves.
    NewLeader(usize),
    /// The operator's runbook for a dead holder: force-release on the leader, then remove the
    /// dead unit.
    ForceRelease,
}

fn name(i: usize) -> UnitName {
    UnitName::parse(&format!("app/{i}")).expect("valid")
}

/// Each unit's clock: far apart (days), in both directions; it moves with each request, so
/// that the requests of one unit carry distinct times.
fn clock(i: usize, requested: u8) -> Timestamp {
    let skew = if i % 2 == 0 {
        86_400 * i as i128
    } else {
        -86_400 * i as i128
    };
    Timestamp::from_micros((1_800_000_000 + skew + requested as i128) * 1_000_000)
}

/// [`PeerIo`] over the world: reads the committed world, writes into the hook's transaction.
struct Io<'w> {
    world: &'w World,
    me: usize,
    txn: Txn,
}

impl Io<'_> {
    fn start(world: &World, me: usize) -> Io<'_> {
        let u = &world.units[me];
        Io {
            world,
            me,
            txn: Txn {
                own: u.bag.clone(),
                app: world.app.clone(),
                app_writes: Changes::new(),
                book: u.book.clone(),
                leaving: u.leaving,
                committed_issued: u.book.issued,
            },
        }
    }
}

/// Commits a hook's transaction into the world.
fn commit(world: &mut World, me: usize, txn: Txn) {
    let u = &mut world.units[me];
    u.bag = txn.own;
    u.book = txn.book;
    u.leaving = txn.leaving;
    apply_changes(&mut world.app, &txn.app_writes);
}

impl PeerIo for Io<'_> {
    type Error = Infallible;
    fn me(&self) -> UnitName {
        name(self.me)
    }
    fn own_bag(&mut self) -> Result<Databag, Infallible> {
        Ok(self.txn.own.clone())
    }
    fn app_bag(&mut self) -> Result<Databag, Infallible> {
        Ok(self.txn.app.clone())
    }
    fn peers(&mut self) -> Result<Vec<UnitName>, Infallible> {
        Ok((0..self.world.units.len())
            .filter(|i| *i != self.me && self.world.units[*i].in_relation)
            .map(name)
            .collect())
    }
    fn peer_bag(&mut self, unit: &UnitName) -> Result<Option<Databag>, Infallible> {
        // Juju keeps a departed unit's bag readable.
        Ok(self
            .world
            .units
            .get(unit.number() as usize)
            .map(|u| u.bag.clone()))
    }
    fn is_leader(&mut self) -> Result<bool, Infallible> {
        Ok(self.world.leader == self.me)
    }
    fn now(&mut self) -> Timestamp {
        clock(self.me, self.world.units[self.me].requested)
    }
    fn write_own(&mut self, changes: &Changes) -> Result<(), Infallible> {
        apply_changes(&mut self.txn.own, changes);
        Ok(())
    }
    fn write_app(&mut self, changes: &Changes) -> Result<(), Infallible> {
        apply_changes(&mut self.txn.app, changes);
        self.txn.app_writes.extend(changes.clone());
        Ok(())
    }
    fn book(&mut self) -> Result<LeaderBook, Infallible> {
        Ok(self.txn.book.clone())
    }
    fn set_book(&mut self, book: &LeaderBook) -> Result<(), Infallible> {
        self.txn.book = book.clone();
        Ok(())
    }
    fn committed_issued(&mut self) -> Result<Option<u64>, Infallible> {
        Ok(self.txn.committed_issued)
    }
    fn leaving(&mut self) -> Result<bool, Infallible> {
        Ok(self.txn.leaving)
    }
    fn set_leaving(&mut self) -> Result<(), Infallible> {
        self.txn.leaving = true;
        Ok(())
    }
    fn wake_me(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
    fn note(&mut self, _warn: bool, _message: String) {}
}

fn ok<T>(r: Result<T, Infallible>) -> T {
    match r {
        Ok(t) => t,
        Err(e) => match e {},
    }
}

struct RollingModel {
    b: Bounds,
}

impl RollingModel {
    /// Runs a hook on `me` from `begin` on; returns the next world.
    fn hook(&self, world: &World, me: usize, leaving_now: bool, request: bool) -> World {
        let mut next = world.clone();
        let mut io = Io::start(world, me);
        if request {
            let u = &world.units[me];
            let op = Operation::new(
                "op",
                Default::default(),
                Some(self.b.max_retry),
                clock(me, u.requested),
            );
            ok(engine::request(&mut io, op)).expect("the model's queues are well-formed");
            next.units[me].to_request -= 1;
            next.units[me].requested += 1;
        }
        match ok(engine::begin(&mut io, leaving_now)) {
            Begin::Run { grant, .. } => {
                next.units[me].running = Some((io.txn, grant));
            }
            Begin::Done(turn) => {
                ok(engine::end(&mut io, turn, None));
                let txn = io.txn;
                commit(&mut next, me, txn);
            }
        }
        next
    }

    fn finish(&self, world: &World, me: usize, result: OperationResult) -> World {
        let mut next = world.clone();
        let Some((txn, grant)) = next.units[me].running.take() else {
            return next;
        };
        let mut io = Io { world, me, txn };
        ok(engine::end(&mut io, Some((grant, Outcome::Ran(result))), None));
        let txn = io.txn;
        commit(&mut next, me, txn);
        next
    }

    fn can_hook(&self, u: &Unit) -> bool {
        u.running.is_none() && !matches!(u.life, Life::Dead)
    }

    fn holder(&self, world: &World) -> Option<usize> {
        let g = rollingops::core::AppView::parse(&world.app).grant?;
        Some(UnitName::parse(&g.unit).ok()?.number() as usize)
    }

    fn done(&self, world: &World) -> bool {
        world.units.iter().all(|u| {
            u.life != Life::Alive || (u.to_request == 0 && UnitBag::parse(&u.bag).queue().is_empty())
        })
    }

    fn stuck(&self, world: &World) -> bool {
        // Cheap cases first: an operation can end; a live unit can still request.
        if world
            .units
            .iter()
            .any(|u| u.running.is_some() || (u.to_request > 0 && u.life == Life::Alive))
        {
            return false;
        }
        let mut actions = Vec::new();
        self.actions(world, &mut actions);
        actions.into_iter().all(|a| self.next_state(world, a).is_none())
    }
}

impl Model for RollingModel {
    type State = World;
    type Action = Action;

    fn init_states(&self) -> Vec<World> {
        let units = (0..self.b.units)
            .map(|i| Unit {
                bag: Databag::new(),
                book: LeaderBook::default(),
                leaving: false,
                life: Life::Alive,
                in_relation: true,
                to_request: u8::from(i >= self.b.units - self.b.requesters),
                requested: 0,
                running: None,
            })
            .collect();
        vec![World {
            app: Databag::new(),
            units,
            // The leader requests too: its own operations take the custom-event path.
            leader: self.b.units - 1,
            leader_changes: 0,
            removals: 0,
            faults: 0,
        }]
    }

    fn actions(&self, w: &World, actions: &mut Vec<Action>) {
        let faults_left = w.faults < self.b.faults;
        let holder = self.holder(w);
        for (i, u) in w.units.iter().enumerate() {
            // Faults and removals hit the units that matter to the protocol: the holder, the
            // leader, a unit inside an operation.
            let matters = Some(i) == holder || i == w.leader || u.running.is_some();
            if self.can_hook(u) {
                if u.to_request > 0 && u.life == Life::Alive {
                    actions.push(Action::Request(i));
                }
                // Another unit's hook can only matter if it leads, holds the lock or leaves.
                if i == w.leader || Some(i) == holder || u.life != Life::Alive {
                    actions.push(Action::Hook(i));
                }
                if u.life == Life::Dying {
                    actions.push(Action::OwnDeparture(i));
                }
            }
            if u.running.is_some() {
                actions.push(Action::Finish(i, OperationResult::Release));
                actions.push(Action::Finish(i, OperationResult::RetryRelease));
                actions.push(Action::Finish(i, OperationResult::RetryHold));
                if faults_left {
                    actions.push(Action::FailHook(i));
                }
            }
            if matters && u.life == Life::Alive && w.removals < self.b.removals {
                actions.push(Action::Remove(i));
            }
            if matches!(u.life, Life::Dying | Life::Left) && u.in_relation {
                actions.push(Action::LeaveScope(i));
            }
            if matters && faults_left && u.life != Life::Dead {
                actions.push(Action::Crash(i));
                actions.push(Action::ForceRemove(i));
            }
            let leader = &w.units[w.leader];
            let leader_gone = leader.life == Life::Dead || !leader.in_relation;
            if i != w.leader
                && u.in_relation
                && u.life != Life::Dead
                && (leader_gone || w.leader_changes < self.b.leader_changes)
            {
                actions.push(Action::NewLeader(i));
            }
        }
        actions.push(Action::ForceRelease);
    }

    fn next_state(&self, w: &World, action: Action) -> Option<World> {
        let next = match action {
            Action::Request(i) => self.hook(w, i, false, true),
            Action::Hook(i) => self.hook(w, i, false, false),
            Action::OwnDeparture(i) => {
                let mut n = self.hook(w, i, true, false);
                n.units[i].life = Life::Left;
                n
            }
            Action::Finish(i, r) => self.finish(w, i, r),
            Action::FailHook(i) => {
                let mut n = w.clone();
                n.units[i].running = None;
                n.faults += 1;
                n
            }
            Action::Remove(i) => {
                let mut n = w.clone();
                n.units[i].life = Life::Dying;
                n.removals += 1;
                n
            }
            Action::LeaveScope(i) => {
                let mut n = w.clone();
                n.units[i].in_relation = false;
                n
            }
            Action::Crash(i) | Action::ForceRemove(i) => {
                let mut n = w.clone();
                n.units[i].life = Life::Dead;
                n.units[i].running = None;
                if matches!(action, Action::ForceRemove(_)) {
                    n.units[i].in_relation = false;
                }
                n.faults += 1;
                n
            }
            Action::NewLeader(i) => {
                let mut n = w.clone();
                let old = &w.units[w.leader];
                if old.life != Life::Dead && old.in_relation {
                    n.leader_changes += 1;
                }
                n.leader = i;
                n
            }
            Action::ForceRelease => {
                let h = self.holder(w)?;
                let leader = &w.units[w.leader];
                // The operator releases only a grant whose holder is dead (its operation is
                // not running), on a live leader.
                if w.units.get(h)?.life != Life::Dead || !self.can_hook(leader) || !leader.in_relation {
                    return None;
                }
                let mut n = w.clone();
                let mut io = Io::start(w, w.leader);
                ok(engine::force_release(&mut io, name(h).as_str())).ok()?;
                let txn = io.txn;
                commit(&mut n, w.leader, txn);
                n.units[h].in_relation = false;
                n
            }
        };
        (next != *w).then_some(next)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always("mutual exclusion", |_, w: &World| {
                w.units.iter().filter(|u| u.running.is_some()).count() <= 1
            }),
            Property::always("every request served", |m: &RollingModel, w: &World| {
                m.done(w) || !m.stuck(w)
            }),
            Property::sometimes("all served", |m: &RollingModel, w: &World| {
                m.done(w) && w.units.iter().all(|u| u.life == Life::Alive)
            }),
        ]
    }
}

fn check(b: Bounds) -> usize {
    let start = Instant::now();
    let checker = RollingModel { b }.checker().spawn_bfs().join();
    let n = checker.unique_state_count();
    eprintln!(
        "model check {b:?}: {n} states, max depth {}, {:.1?}",
        checker.max_depth(),
        start.elapsed()
    );
    checker.assert_properties();
    n
}

// The CI bounds: one fault class at a time on 5 units, all of them together on 3. With the
// test profile's opt-level for this crate (root Cargo.toml) they take about 25 s of CPU in all.

#[test]
fn five_units_with_retries() {
    assert!(check(Bounds::base(1)) > 5_000);
}

#[test]
fn five_units_with_a_leader_change() {
    assert!(
        check(Bounds {
            leader_changes: 1,
            ..Bounds::base(0)
        }) > 5_000
    );
}

#[test]
fn five_units_with_a_graceful_removal() {
    assert!(
        check(Bounds {
            removals: 1,
            ..Bounds::base(0)
        }) > 5_000
    );
}

#[test]
fn five_units_with_a_fault() {
    assert!(
        check(Bounds {
            faults: 1,
            ..Bounds::base(0)
        }) > 5_000
    );
}

#[test]
fn three_units_with_every_fault_together() {
    assert!(
        check(Bounds {
            units: 3,
            requesters: 2,
            max_retry: 0,
            leader_changes: 1,
            removals: 1,
            faults: 1,
        }) > 100_000
    );
}

/// Retries and a leader change together on 4 units; larger bounds on demand:
/// `ROLLINGOPS_MODEL=units,requesters,max_retry,leader_changes,removals,faults cargo test
/// --release -p rollingops --test model_check custom_bounds`.
#[test]
fn custom_bounds() {
    let spec = std::env::var("ROLLINGOPS_MODEL").unwrap_or_else(|_| "4,2,1,1,0,0".into());
    let n: Vec<u32> = spec
        .split(',')
        .map(|x| x.trim().parse().expect("a number"))
        .collect();
    check(Bounds {
        units: n[0] as usize,
        requesters: n[1] as usize,
        max_retry: n[2],
        leader_changes: n[3] as u8,
        removals: n[4] as u8,
        faults: n[5] as u8,
    });
}
