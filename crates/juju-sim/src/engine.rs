//! The discrete-event core: the event queue, each unit's resolver (Juju's `NextOp`), running a
//! hook, and committing or discarding its transaction.

use crate::backend::HookBackend;
use crate::config::{CommandFault, Fault};
use crate::model::*;
use crate::sim::{ActionStatus, Sim};
use crate::trace::{HookKind, HookOutcome, HookRecord, HOOK_KINDS};
use charm::{BagOwner, Databag, Event, HookSetup, LogLevel, RelationEvent, RelationId, Status};
use std::cmp::Ordering;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;

pub(crate) const SEC: VTime = 1_000_000;

pub(crate) fn vt(d: std::time::Duration) -> VTime {
    d.as_micros().min(u64::MAX as u128) as VTime
}

pub(crate) fn dur(t: VTime) -> std::time::Duration {
    std::time::Duration::from_micros(t)
}

/// What happens at a point of virtual time.
#[derive(Debug, Clone)]
pub(crate) enum QKind {
    /// A unit may have something to run.
    Resolve(UnitId),
    /// A unit's running hook ends.
    HookEnd(UnitId, u64),
    /// A unit's update-status timer fires (the only kind that is not "work").
    Tick(UnitId),
    /// A unit in error may retry its hook.
    Retry(UnitId),
    /// A unit's agent comes back.
    AgentUp(UnitId, u64),
    /// An application's leadership lease runs out unless renewed.
    LeaseExpiry(AppId, u64),
    /// A custom event a charm scheduled for itself (the juju-exec path) is due.
    Exec(UnitId, String),
    /// A fault injected at a chosen time.
    Fault(Box<Fault>),
}

pub(crate) struct QItem {
    pub time: VTime,
    pub tie: u64,
    pub seq: u64,
    pub kind: QKind,
}

impl PartialEq for QItem {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for QItem {}
impl PartialOrd for QItem {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for QItem {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap: reverse, so the earliest event pops first.
        (other.time, other.tie, other.seq).cmp(&(self.time, self.tie, self.seq))
    }
}

enum RelDecision {
    Op(Op),
    Leave,
    Nothing,
}

impl Sim {
    pub(crate) fn push(&mut self, time: VTime, kind: QKind) {
        if !matches!(kind, QKind::Tick(_)) {
            self.work += 1;
        }
        let tie = self.rng.next_u64();
        self.qseq += 1;
        self.heap.push(QItem {
            time,
            tie,
            seq: self.qseq,
            kind,
        });
    }

    /// Records that the model changed (for idle detection and the quiescence time).
    pub(crate) fn bump(&mut self) {
        self.changes += 1;
        self.last_change_at = self.now;
    }

    /// Asks a unit's resolver to look again (at once, in virtual time).
    pub(crate) fn wake(&mut self, u: UnitId) {
        let unit = &mut self.units[u];
        if unit.resolve_pending || unit.running.is_some() || !unit.agent_up || unit.life == Life::Dead {
            return;
        }
        unit.resolve_pending = true;
        let now = self.now;
        self.push(now, QKind::Resolve(u));
    }

    pub(crate) fn wake_app(&mut self, a: AppId, except: Option<UnitId>) {
        for i in 0..self.apps[a].units.len() {
            let u = self.apps[a].units[i];
            if Some(u) != except {
                self.wake(u);
            }
        }
    }

    pub(crate) fn log_event(&mut self, text: String) {
        self.trace.mix_u64(self.now);
        self.trace.mix(text.as_bytes());
        let at = dur(self.now);
        self.trace.events.push((at, text));
    }

    /// Processes one queued event. Returns false when the queue is empty.
    pub(crate) fn step(&mut self) -> bool {
        if self.real_origin.is_some() {
            let Some(next) = self.heap.peek().map(|i| i.time) else {
                return false;
            };
            if self.wait_real(next) {
                return true;
            }
        }
        let Some(item) = self.heap.pop() else {
            return false;
        };
        if !matches!(item.kind, QKind::Tick(_)) {
            self.work -= 1;
        }
        if item.time > self.now {
            self.now = item.time;
        }
        if let Some(origin) = self.real_origin {
            self.now = self.now.max(crate::process::wall_vt(origin));
        }
        match item.kind {
            QKind::Resolve(u) => {
                self.units[u].resolve_pending = false;
                self.resolve_unit(u);
            }
            QKind::HookEnd(u, seq) => self.finish_hook(u, seq),
            QKind::Tick(u) => self.tick(u),
            QKind::Retry(u) => self.wake(u),
            QKind::AgentUp(u, epoch) => self.agent_up(u, epoch),
            QKind::LeaseExpiry(a, epoch) => self.lease_expiry(a, epoch),
            QKind::Exec(u, name) => {
                if self.units[u].life != Life::Dead {
                    self.units[u].execs.push_back(name);
                    self.bump();
                    self.wake(u);
                }
            }
            QKind::Fault(f) => self.apply_fault(*f),
        }
        true
    }

    /// With the process driver: waits until the wall clock reaches `until`, serving what
    /// background processes send meanwhile. Returns true as soon as one was served (the queue
    /// may have changed), false when the time has come (or without the driver).
    pub(crate) fn wait_real(&mut self, until: VTime) -> bool {
        let (Some(origin), Some(driver)) = (self.real_origin, self.driver.clone()) else {
            return false;
        };
        loop {
            let wall = crate::process::wall_vt(origin);
            if wall >= until {
                return false;
            }
            if driver.pump(dur(until - wall)) {
                self.now = self.now.max(crate::process::wall_vt(origin));
                self.absorb_driver();
                return true;
            }
        }
    }

    /// Schedules the `juju-exec` hooks and logs the lines the process driver collected.
    fn absorb_driver(&mut self) {
        let Some(driver) = self.driver.clone() else {
            return;
        };
        for (unit, level, line) in driver.take_logs() {
            if let Some(&u) = self.unit_index.get(&unit) {
                self.unit_log(u, level, line);
            }
        }
        for (unit, name) in driver.take_execs() {
            if let Some(&u) = self.unit_index.get(&unit) {
                self.log_event(format!("{unit}: juju-exec hooks/{name}"));
                self.push(self.now, QKind::Exec(u, name));
            }
        }
    }

    fn tick(&mut self, u: UnitId) {
        let Some(interval) = self.cfg.update_status_interval else {
            return;
        };
        if self.units[u].life == Life::Dead {
            return;
        }
        let now = self.now;
        self.push(now + vt(interval), QKind::Tick(u));
        let unit = &mut self.units[u];
        if unit.started && unit.life == Life::Alive {
            unit.update_status_due = true;
            self.wake(u);
        }
    }

    fn resolve_unit(&mut self, u: UnitId) {
        if let Some(op) = self.next_op(u) {
            self.start_hook(u, op);
        }
    }

    /// Juju's resolver, in its priority order (see docs/simulator.md).
    pub(crate) fn next_op(&mut self, u: UnitId) -> Option<Op> {
        let unit = &self.units[u];
        if unit.life == Life::Dead || !unit.agent_up || unit.running.is_some() {
            return None;
        }
        let a = unit.app;
        let installed = unit.installed;
        let in_error = unit.error.is_some();
        let alive = unit.life == Life::Alive;

        // 2. relation-created, for every alive relation not yet created (after install).
        if installed && !in_error && alive {
            let mut cands: Vec<usize> = Vec::new();
            for (li, lr) in self.units[u].rels.iter().enumerate() {
                if !lr.created && lr.slot.is_some() && !lr.left && self.rels[lr.rel].life == Life::Alive {
                    cands.push(li);
                }
            }
            if !cands.is_empty() {
                let pick = cands[self.rng.below(cands.len() as u64) as usize];
                return Some(Op::Created(pick));
            }
        }

        // 3. Leadership.
        if installed && !in_error {
            let remote_leader = self.apps[a].leader == Some(u);
            if remote_leader && !self.units[u].local_leader && alive {
                return Some(Op::LeaderElected);
            }
            if !remote_leader && self.units[u].local_leader {
                // resignLeadership: no hook (leader-deposed was never implemented).
                self.units[u].local_leader = false;
                let name = self.units[u].name.to_string();
                self.log_event(format!("{name} resigns leadership"));
            }
            if !remote_leader
                && !self.units[u].local_leader
                && self.units[u].ls_seen != self.apps[a].ls_version
            {
                return Some(Op::LeaderSettingsChanged);
            }
        }

        // 4. Secrets, actions, commands (juju-exec). Actions and commands run even in error.
        if installed {
            let unit = &self.units[u];
            if !in_error {
                if let Some(id) = unit.secret_changes.first() {
                    return Some(Op::SecretChanged(id.clone()));
                }
            }
            if let Some(&id) = unit.actions.front() {
                return Some(Op::Action(id));
            }
            if let Some(name) = unit.execs.front() {
                return Some(Op::Custom(name.clone()));
            }
        }

        // 5. The errored hook (retried when its backoff has passed), or a queued follow-on.
        let unit = &self.units[u];
        if let Some(e) = &unit.error {
            return if self.now >= e.retry_at {
                Some(e.op.clone())
            } else {
                None
            };
        }
        if let Some(q) = &unit.queued {
            return Some(q.clone());
        }

        // 6. Dying: departed and broken first, then stop, then remove.
        if !alive {
            if !installed {
                self.die(u);
                return None;
            }
            if let Some(op) = self.relation_op(u) {
                return Some(op);
            }
            if self.units[u].started {
                return Some(Op::Stop);
            }
            return Some(Op::Remove);
        }

        // 7. Alive: install, upgrade-charm, config-changed, relations, update-status.
        if !installed {
            return Some(Op::Install);
        }
        if unit.charm_seen != self.apps[a].charm_rev {
            return Some(Op::UpgradeCharm);
        }
        if unit.config_seen != self.apps[a].config_rev {
            return Some(Op::ConfigChanged);
        }
        if let Some(op) = self.relation_op(u) {
            return Some(op);
        }
        let unit = &self.units[u];
        if unit.update_status_due && unit.started {
            return Some(Op::UpdateStatus);
        }
        None
    }

    /// The relation resolver: one hook from one relation (chosen at random among those with
    /// something to run, as Juju iterates a Go map).
    fn relation_op(&mut self, u: UnitId) -> Option<Op> {
        let n = self.units[u].rels.len();
        let mut found: Vec<Op> = Vec::new();
        for li in 0..n {
            match self.rel_next(u, li) {
                RelDecision::Op(op) => found.push(op),
                RelDecision::Leave => self.leave_scope(u, li),
                RelDecision::Nothing => {}
            }
        }
        match found.len() {
            0 => None,
            1 => found.pop(),
            k => {
                let i = self.rng.below(k as u64) as usize;
                Some(found.swap_remove(i))
            }
        }
    }

    fn rel_next(&mut self, u: UnitId, li: usize) -> RelDecision {
        let Sim { units, rels, .. } = self;
        let unit_dying = units[u].life != Life::Alive;
        let lr = &mut units[u].rels[li];
        if lr.left || lr.slot.is_none() {
            return RelDecision::Nothing;
        }
        let rel = &rels[lr.rel];
        let dying = unit_dying || rel.life != Life::Alive;
        if !lr.created {
            return if dying {
                RelDecision::Leave
            } else {
                RelDecision::Nothing
            };
        }
        let remote = &rel.sides[rel.remote_side(lr.side)];
        // 1. The relation-changed that follows a relation-joined.
        if let Some(s) = lr.changed_pending {
            return RelDecision::Op(Op::Changed(li, s));
        }
        // 2. A known unit that left (or every unit, when the relation or this unit is dying).
        if dying && lr.members > 0 && lr.to_depart.is_empty() {
            for (s, v) in lr.seen.iter().enumerate() {
                if *v != NOT_MEMBER {
                    lr.to_depart.insert((remote.slots[s].key, s as u32));
                }
            }
        }
        while let Some(&(k, s)) = lr.to_depart.first() {
            let member = lr.seen(s) != NOT_MEMBER;
            let gone = dying || !remote.slots[s as usize].in_scope;
            if member && gone {
                return RelDecision::Op(Op::Departed(li, s));
            }
            lr.to_depart.remove(&(k, s));
        }
        // 3. Broken, once every unit has departed (never for a peer relation).
        if dying {
            return if rel.peer {
                RelDecision::Leave
            } else {
                RelDecision::Op(Op::Broken(li))
            };
        }
        // 4. The remote application's bag changed.
        if remote.app_version > 0 && remote.app_version != lr.app_seen {
            return RelDecision::Op(Op::AppChanged(li));
        }
        // 5. A new remote unit, by name.
        while let Some(&(k, s)) = lr.to_join.first() {
            if remote.slots[s as usize].in_scope && lr.seen(s) == NOT_MEMBER {
                return RelDecision::Op(Op::Joined(li, s));
            }
            lr.to_join.remove(&(k, s));
        }
        // 6. A remote unit whose bag changed since this unit last saw it, by name.
        while let Some(&(k, s)) = lr.to_change.first() {
            let seen = lr.seen(s);
            if seen != NOT_MEMBER && seen != remote.slots[s as usize].version {
                return RelDecision::Op(Op::Changed(li, s));
            }
            lr.to_change.remove(&(k, s));
        }
        RelDecision::Nothing
    }

    /// The event, remote unit, relation and snapshot version for an operation.
    fn event_for(&self, u: UnitId, op: &Op) -> (Event, Option<UnitId>, Option<RelationId>, u64) {
        let unit = &self.units[u];
        let app = &self.apps[unit.app];
        let rel_event = |li: usize, remote: Option<u32>, departing: Option<UnitId>| {
            let lr = &unit.rels[li];
            let rel = &self.rels[lr.rel];
            let rs = &rel.sides[rel.remote_side(lr.side)];
            let remote_unit = remote.map(|s| rs.slots[s as usize].unit);
            (
                RelationEvent {
                    endpoint: rel.sides[lr.side].endpoint.clone(),
                    relation_id: rel.id,
                    remote_app: Some(self.apps[rs.app].name.clone()),
                    remote_unit: remote_unit.map(|r| self.units[r].name.clone()),
                    departing_unit: departing.map(|d| self.units[d].name.clone()),
                },
                remote_unit,
                rel.id,
            )
        };
        let slot_version = |li: usize, s: u32| {
            let lr = &unit.rels[li];
            let rel = &self.rels[lr.rel];
            rel.sides[rel.remote_side(lr.side)].slots[s as usize].version
        };
        match op {
            Op::Install => (Event::Install, None, None, 0),
            Op::Start => (Event::Start, None, None, 0),
            Op::ConfigChanged => (Event::ConfigChanged, None, None, app.config_rev),
            Op::UpgradeCharm => (Event::UpgradeCharm, None, None, app.charm_rev),
            Op::LeaderElected => (Event::LeaderElected, None, None, app.ls_version),
            Op::LeaderSettingsChanged => (Event::LeaderSettingsChanged, None, None, app.ls_version),
            Op::Created(li) => {
                let (e, r, id) = rel_event(*li, None, None);
                (Event::RelationCreated(e), r, Some(id), 0)
            }
            Op::Joined(li, s) => {
                let (e, r, id) = rel_event(*li, Some(*s), None);
                (Event::RelationJoined(e), r, Some(id), slot_version(*li, *s))
            }
            Op::Changed(li, s) => {
                let (e, r, id) = rel_event(*li, Some(*s), None);
                (Event::RelationChanged(e), r, Some(id), slot_version(*li, *s))
            }
            Op::AppChanged(li) => {
                let lr = &unit.rels[*li];
                let rel = &self.rels[lr.rel];
                let v = rel.sides[rel.remote_side(lr.side)].app_version;
                let (e, r, id) = rel_event(*li, None, None);
                (Event::RelationChanged(e), r, Some(id), v)
            }
            Op::Departed(li, s) => {
                let lr = &unit.rels[*li];
                let rel = &self.rels[lr.rel];
                let remote = rel.sides[rel.remote_side(lr.side)].slots[*s as usize].unit;
                let departing = if unit.life != Life::Alive { u } else { remote };
                let (e, r, id) = rel_event(*li, Some(*s), Some(departing));
                (Event::RelationDeparted(e), r, Some(id), 0)
            }
            Op::Broken(li) => {
                let (e, r, id) = rel_event(*li, None, None);
                (Event::RelationBroken(e), r, Some(id), 0)
            }
            Op::Stop => (Event::Stop, None, None, 0),
            Op::Remove => (Event::Remove, None, None, 0),
            Op::UpdateStatus => (Event::UpdateStatus, None, None, 0),
            Op::SecretChanged(id) => {
                let label = self
                    .secrets
                    .get(id)
                    .and_then(|s| s.consumers.get(&u))
                    .and_then(|c| c.1.clone());
                (
                    Event::SecretChanged(charm::SecretEvent {
                        id: id.clone(),
                        label,
                        revision: None,
                    }),
                    None,
                    None,
                    0,
                )
            }
            Op::Action(id) => {
                let a = &self.actions[*id];
                (
                    Event::Action(charm::ActionEvent {
                        name: a.name.clone(),
                        id: Some(a.id.to_string()),
                    }),
                    None,
                    None,
                    0,
                )
            }
            Op::Custom(name) => (Event::Custom { name: name.clone() }, None, None, 0),
        }
    }

    fn start_hook(&mut self, u: UnitId, op: Op) {
        let a = self.units[u].app;
        let attempt = match &self.units[u].error {
            Some(e) if e.op == op => e.attempts + 1,
            _ => 1,
        };
        let (event, remote, relation, snap) = self.event_for(u, &op);
        if let Op::UpdateStatus = op {
            self.units[u].update_status_due = false;
        }
        if let Op::Action(id) = op {
            self.actions[id].status = ActionStatus::Running;
        }
        let runner = self.apps[a].runner.clone();
        let meta = self.apps[a].meta.clone();
        let name = self.units[u].name.clone();
        let juju_version = self.cfg.juju_version;
        let start = self.now;
        if start < self.units[u].last_hook_end {
            self.violations.push(format!(
                "{name} started {} at {start}µs before its previous hook ended",
                event.hook_name()
            ));
        }
        if let (Event::RelationChanged(r), Some(_)) = (&event, remote) {
            if r.remote_unit.as_ref() == Some(&name) {
                self.violations
                    .push(format!("{name} got relation-changed for its own writes"));
            }
        }
        // (A retried leader-settings-changed may run on a unit elected while it was in error,
        // as in Juju: the errored hook runs before leader-elected.)
        if op == Op::LeaderSettingsChanged && attempt == 1 && self.is_leader_now(u) {
            self.violations
                .push(format!("{name} got leader-settings-changed while leader"));
        }
        let hook_name = event.hook_name();

        let mut backend = HookBackend::new(self, u, &op);
        let setup = HookSetup {
            unit: &name,
            meta: &*meta,
            juju_version,
        };
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| runner.run(&mut backend, setup, &event)));
        let done = backend.finish();
        self.absorb_driver();
        let mut ok = matches!(result, Ok(Ok(_)));
        match &result {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                let msg = format!("hook failed: {e}");
                self.unit_log(u, LogLevel::Error, msg);
            }
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".into());
                self.unit_log(u, LogLevel::Error, format!("hook panicked: {what}"));
            }
        }
        let kind = op.kind();
        let spared = self
            .cfg
            .faults
            .spare_hooks
            .iter()
            .any(|k| k == kind.as_str() || *k == hook_name);
        if ok && self.units[u].fail_hooks > 0 {
            self.units[u].fail_hooks -= 1;
            ok = false;
            self.unit_log(u, LogLevel::Error, "hook failed: injected failure".into());
        } else if ok
            && !spared
            && self.cfg.faults.hook_failure > 0.0
            && self.rng.chance(self.cfg.faults.hook_failure)
        {
            ok = false;
            self.unit_log(
                u,
                LogLevel::Error,
                "hook failed: injected failure (profile)".into(),
            );
        }

        let cost = &self.cfg.cost;
        let mut d = vt(cost.hook_base) + vt(cost.tool_call) * done.tool_calls as u64 + done.command_time;
        if cost.jitter > 0.0 {
            let f = 1.0 + cost.jitter * (2.0 * self.rng.unit_f64() - 1.0);
            d = ((d as f64) * f.max(0.0)) as VTime;
        }
        let mut d = d.max(1);
        if let Some(origin) = self.real_origin {
            // Real time: the hook took what it took.
            d = crate::process::wall_vt(origin).saturating_sub(start).max(1);
        }
        let mut end = start + d;
        let mut kill = false;
        if !spared
            && self.cfg.faults.agent_death_per_hook > 0.0
            && self.rng.chance(self.cfg.faults.agent_death_per_hook)
        {
            kill = true;
            end = start + 1 + self.rng.below(d);
        }
        self.hook_seq += 1;
        let seq = self.hook_seq;
        self.units[u].running = Some(Box::new(Running {
            seq,
            op,
            event_hook: hook_name,
            remote,
            relation,
            snap,
            attempt,
            start,
            end,
            txn: done.txn,
            ok,
            kill,
            tool_calls: done.tool_calls,
            commands: done.commands,
        }));
        self.push(end, QKind::HookEnd(u, seq));
    }

    fn finish_hook(&mut self, u: UnitId, seq: u64) {
        match &self.units[u].running {
            Some(r) if r.seq == seq => {}
            _ => return, // stale: the hook was cut short by a fault
        }
        let Some(run) = self.units[u].running.take() else {
            return;
        };
        self.units[u].last_hook_end = self.now;
        if run.op != Op::UpdateStatus {
            self.last_work_end = self.now;
        }
        if run.op.local_rel().is_some() {
            self.last_relation_hook_end = self.now;
        }
        if run.kill {
            let mut run = run;
            let attempted = self.attempted(u, &mut run);
            self.record(u, &run, HookOutcome::Killed, KeysWritten::default(), attempted);
            let down = self
                .cfg
                .faults
                .agent_down_for
                .max(std::time::Duration::from_secs(2));
            let half = vt(down) / 2;
            let down_for = half + self.rng.below(half + 1);
            let name = self.units[u].name.to_string();
            self.log_event(format!("{name} agent dies during {}", run.event_hook));
            self.agent_down(u, down_for);
            return;
        }
        if run.ok {
            self.commit(u, run);
        } else {
            self.fail_hook(u, run);
        }
        self.wake(u);
    }

    /// Ends a running hook at once because the agent died (or the unit was force-removed).
    pub(crate) fn kill_running(&mut self, u: UnitId) {
        if let Some(mut run) = self.units[u].running.take() {
            run.end = self.now.max(run.start);
            self.units[u].last_hook_end = run.end;
            let attempted = self.attempted(u, &mut run);
            self.record(u, &run, HookOutcome::Killed, KeysWritten::default(), attempted);
        }
    }

    fn fail_hook(&mut self, u: UnitId, mut run: Box<Running>) {
        let attempted = self.attempted(u, &mut run);
        self.record(u, &run, HookOutcome::Failed, KeysWritten::default(), attempted);
        match &run.op {
            Op::Action(id) => {
                self.units[u].actions.pop_front();
                let a = &mut self.actions[*id];
                a.status = ActionStatus::Failed;
                if a.message.is_empty() {
                    a.message = "action hook failed".into();
                }
                self.bump();
            }
            Op::Custom(_) => {
                // juju-exec reports the failure to its caller; the unit does not go into error.
                self.units[u].execs.pop_front();
            }
            op => {
                let delay = self.retry_delay(run.attempt);
                let retry_at = self.now + delay;
                let prev = self.units[u].error.is_some();
                self.units[u].error = Some(ErrorState {
                    op: op.clone(),
                    attempts: run.attempt,
                    retry_at,
                    hook: run.event_hook.clone(),
                });
                if !prev {
                    self.bump();
                }
                self.push(retry_at, QKind::Retry(u));
            }
        }
    }

    fn retry_delay(&mut self, attempt: u32) -> VTime {
        let max = vt(self.cfg.retry_max);
        let base = vt(self.cfg.retry_initial)
            .saturating_mul(1u64 << attempt.saturating_sub(1).min(30))
            .min(max);
        let j = self.cfg.retry_jitter;
        let f = 1.0 + j * (2.0 * self.rng.unit_f64() - 1.0);
        (((base as f64) * f) as VTime).clamp(1, max)
    }

    fn commit(&mut self, u: UnitId, mut run: Box<Running>) {
        let txn = std::mem::take(&mut run.txn);
        let mut keys = KeysWritten::default();
        for (ri, is_app, changes) in txn.rel_writes {
            self.commit_bag(u, ri, is_app, &changes, &mut keys);
        }
        if let Some(doc) = txn.stored {
            if self.units[u].stored.as_deref() != Some(doc.as_str()) {
                self.units[u].stored = Some(doc);
                self.bump();
            }
        }
        for (k, v) in txn.state {
            let cs = &mut self.units[u].controller_state;
            let changed = match v {
                Some(v) => cs.insert(k, v.clone()).as_ref() != Some(&v),
                None => cs.remove(&k).is_some(),
            };
            if changed {
                self.bump();
            }
        }
        if let Some(ports) = txn.ports {
            if self.units[u].ports != ports {
                self.units[u].ports = ports;
                self.bump();
            }
        }
        for op in txn.secrets {
            if let Some(id) = crate::secrets::apply(&mut self.secrets, &op) {
                self.secret_revised(&id);
            }
            self.bump();
        }
        if self.units[u].error.as_ref().is_some_and(|e| e.op == run.op) {
            self.units[u].error = None;
            self.bump();
        }
        self.bookkeep(u, &run);
        self.record(u, &run, HookOutcome::Ok, keys, Attempted::default());
    }

    fn secret_revised(&mut self, id: &str) {
        let Some(s) = self.secrets.get(id) else { return };
        let latest = s.latest();
        let stale: Vec<UnitId> = s
            .consumers
            .iter()
            .filter(|(_, (tracked, _))| *tracked < latest)
            .map(|(u, _)| *u)
            .collect();
        for c in stale {
            if self.units[c].life != Life::Dead {
                self.units[c].secret_changes.insert(id.to_owned());
                self.wake(c);
            }
        }
    }

    fn commit_bag(&mut self, u: UnitId, ri: RelIdx, is_app: bool, changes: &Databag, keys: &mut KeysWritten) {
        let Some(li) = self.units[u].local_rel_of(ri) else {
            return;
        };
        let (side, slot) = {
            let lr = &self.units[u].rels[li];
            (lr.side, lr.slot)
        };
        let Some(slot) = slot else { return };
        let rel_id = self.rels[ri].id;
        let keep_keys = self.keeps_records();
        let values = self.cfg.trace_values;
        let mut written = 0u64;
        let (changed, bytes_after) = {
            let s = &mut self.rels[ri].sides[side];
            let (bag, bytes) = if is_app {
                (&mut s.app_bag, &mut s.app_bytes)
            } else {
                let sl = &mut s.slots[slot as usize];
                (&mut sl.bag, &mut sl.bytes)
            };
            let mut changed = false;
            for (k, v) in changes {
                written += (k.len() + v.len()) as u64;
                keys.hash = keys.hash.rotate_left(5) ^ fnv(k.as_bytes()) ^ (ri as u64) ^ (is_app as u64);
                if v.is_empty() {
                    if let Some(old) = bag.remove(k) {
                        *bytes -= k.len() + old.len();
                        changed = true;
                    }
                } else {
                    match bag.get_mut(k) {
                        Some(old) if old == v => {}
                        Some(old) => {
                            *bytes = *bytes - old.len() + v.len();
                            old.clone_from(v);
                            changed = true;
                        }
                        None => {
                            *bytes += k.len() + v.len();
                            bag.insert(k.clone(), v.clone());
                            changed = true;
                        }
                    }
                }
            }
            (changed, *bytes)
        };
        keys.bytes += written;
        self.relation_bytes += written;
        if keep_keys {
            let owner = if is_app {
                self.apps[self.units[u].app].name.to_string()
            } else {
                self.units[u].name.to_string()
            };
            for (k, v) in changes {
                keys.keys.push(format!("{rel_id}/{owner}/{k}"));
                if values {
                    keys.values.push((format!("{rel_id}/{owner}/{k}"), v.clone()));
                }
            }
        }
        if bytes_after as u64 > self.largest_bag.0 {
            let owner = if is_app {
                BagOwner::App(self.apps[self.units[u].app].name.clone())
            } else {
                BagOwner::Unit(self.units[u].name.clone())
            };
            self.largest_bag = (bytes_after as u64, Some(format!("relation {rel_id}, {owner}")));
        }
        if !changed {
            return;
        }
        self.bump();
        let peer = self.rels[ri].peer;
        let obs_side = if peer { side } else { 1 - side };
        if is_app {
            self.rels[ri].sides[side].app_version += 1;
            let v = self.rels[ri].sides[side].app_version;
            if peer {
                // No relation-changed for a unit's own writes.
                self.units[u].rels[li].app_seen = v;
            }
            let obs: Vec<UnitId> = self.rels[ri].sides[obs_side]
                .slots
                .iter()
                .filter(|o| o.in_scope && o.unit != u)
                .map(|o| o.unit)
                .collect();
            for o in obs {
                self.wake(o);
            }
        } else {
            let key = {
                let s = &mut self.rels[ri].sides[side].slots[slot as usize];
                s.version += 1;
                s.key
            };
            let n = self.rels[ri].sides[obs_side].slots.len();
            for oi in 0..n {
                let (ou, olr, in_scope) = {
                    let o = &self.rels[ri].sides[obs_side].slots[oi];
                    (o.unit, o.lr, o.in_scope)
                };
                if !in_scope || ou == u {
                    continue;
                }
                let lr = &mut self.units[ou].rels[olr];
                if lr.seen(slot) != NOT_MEMBER {
                    lr.to_change.insert((key, slot));
                    self.wake(ou);
                }
            }
        }
    }

    fn bookkeep(&mut self, u: UnitId, run: &Running) {
        let snap = run.snap;
        match &run.op {
            Op::Install => {
                self.units[u].installed = true;
                for li in 0..self.units[u].rels.len() {
                    self.enter_scope(u, li);
                }
            }
            Op::Start => {
                let unit = &mut self.units[u];
                unit.started = true;
                if unit.queued == Some(Op::Start) {
                    unit.queued = None;
                }
            }
            Op::ConfigChanged => {
                let unit = &mut self.units[u];
                unit.config_seen = snap;
                unit.queued = if unit.started { None } else { Some(Op::Start) };
            }
            Op::UpgradeCharm => {
                let unit = &mut self.units[u];
                unit.charm_seen = snap;
                unit.queued = Some(Op::ConfigChanged);
            }
            Op::LeaderElected => {
                let unit = &mut self.units[u];
                unit.local_leader = true;
                unit.ls_seen = snap;
            }
            Op::LeaderSettingsChanged => self.units[u].ls_seen = snap,
            Op::Created(li) => self.units[u].rels[*li].created = true,
            Op::Joined(li, s) => {
                let key = self.remote_slot_key(u, *li, *s);
                let current = self.remote_slot_version(u, *li, *s);
                let gone = !self.remote_slot_in_scope(u, *li, *s);
                let lr = &mut self.units[u].rels[*li];
                lr.set_seen(*s, snap);
                lr.members += 1;
                lr.changed_pending = Some(*s);
                lr.to_join.remove(&(key, *s));
                if current != snap {
                    lr.to_change.insert((key, *s));
                }
                if gone {
                    // It left while this unit was joining it: it departs next.
                    lr.to_depart.insert((key, *s));
                }
            }
            Op::Changed(li, s) => {
                let key = self.remote_slot_key(u, *li, *s);
                let current = self.remote_slot_version(u, *li, *s);
                let lr = &mut self.units[u].rels[*li];
                if lr.changed_pending == Some(*s) {
                    lr.changed_pending = None;
                }
                if lr.seen(*s) != NOT_MEMBER {
                    lr.set_seen(*s, snap);
                    if current == snap {
                        lr.to_change.remove(&(key, *s));
                    } else {
                        lr.to_change.insert((key, *s));
                    }
                }
            }
            Op::AppChanged(li) => self.units[u].rels[*li].app_seen = snap,
            Op::Departed(li, s) => {
                let key = self.remote_slot_key(u, *li, *s);
                let lr = &mut self.units[u].rels[*li];
                if lr.seen(*s) != NOT_MEMBER {
                    lr.set_seen(*s, NOT_MEMBER);
                    lr.members -= 1;
                }
                lr.to_depart.remove(&(key, *s));
                lr.to_change.remove(&(key, *s));
                if lr.changed_pending == Some(*s) {
                    lr.changed_pending = None;
                }
            }
            Op::Broken(li) => self.leave_scope(u, *li),
            Op::Stop => self.units[u].started = false,
            Op::Remove => self.die(u),
            Op::UpdateStatus => {}
            Op::SecretChanged(id) => {
                self.units[u].secret_changes.remove(id);
            }
            Op::Action(id) => {
                self.units[u].actions.pop_front();
                let a = &mut self.actions[*id];
                if a.status == ActionStatus::Running {
                    a.status = if a.failed {
                        ActionStatus::Failed
                    } else {
                        ActionStatus::Completed
                    };
                }
                self.bump();
            }
            Op::Custom(_) => {
                self.units[u].execs.pop_front();
            }
        }
    }

    fn remote_slot_key(&self, u: UnitId, li: usize, s: u32) -> u64 {
        let lr = &self.units[u].rels[li];
        let rel = &self.rels[lr.rel];
        rel.sides[rel.remote_side(lr.side)].slots[s as usize].key
    }

    fn remote_slot_in_scope(&self, u: UnitId, li: usize, s: u32) -> bool {
        let lr = &self.units[u].rels[li];
        let rel = &self.rels[lr.rel];
        rel.sides[rel.remote_side(lr.side)].slots[s as usize].in_scope
    }

    fn remote_slot_version(&self, u: UnitId, li: usize, s: u32) -> u64 {
        let lr = &self.units[u].rels[li];
        let rel = &self.rels[lr.rel];
        rel.sides[rel.remote_side(lr.side)].slots[s as usize].version
    }

    /// The unit enters the relation's scope: Juju pre-fills its bag with its addresses, and the
    /// other units will see it join.
    pub(crate) fn enter_scope(&mut self, u: UnitId, li: usize) {
        let (ri, side) = {
            let lr = &self.units[u].rels[li];
            if lr.slot.is_some() || lr.left {
                return;
            }
            (lr.rel, lr.side)
        };
        if self.rels[ri].life != Life::Alive || self.units[u].life != Life::Alive {
            return;
        }
        let addr = self.units[u].machine.address.clone();
        let mut bag = Databag::new();
        bag.insert("egress-subnets".into(), format!("{addr}/32"));
        bag.insert("ingress-address".into(), addr.clone());
        bag.insert("private-address".into(), addr);
        let bytes = bag_bytes(&bag);
        let key = self.units[u].sort_key;
        let slot = self.rels[ri].sides[side].slots.len() as u32;
        self.rels[ri].sides[side].slots.push(Slot {
            unit: u,
            lr: li,
            in_scope: true,
            bag,
            bytes,
            version: 1,
            key,
        });
        self.units[u].rels[li].slot = Some(slot);
        let peer = self.rels[ri].peer;
        let obs_side = if peer { side } else { 1 - side };
        let n = self.rels[ri].sides[obs_side].slots.len();
        let mut woken = Vec::new();
        for oi in 0..n {
            let (ou, olr, in_scope, okey) = {
                let o = &self.rels[ri].sides[obs_side].slots[oi];
                (o.unit, o.lr, o.in_scope, o.key)
            };
            if !in_scope || ou == u {
                continue;
            }
            self.units[ou].rels[olr].to_join.insert((key, slot));
            self.units[u].rels[li].to_join.insert((okey, oi as u32));
            woken.push(ou);
        }
        for o in woken {
            self.wake(o);
        }
        self.wake(u);
    }

    /// The unit leaves the relation's scope: the others see it depart.
    pub(crate) fn leave_scope(&mut self, u: UnitId, li: usize) {
        let (ri, side, slot) = {
            let lr = &mut self.units[u].rels[li];
            if lr.left {
                return;
            }
            lr.left = true;
            (lr.rel, lr.side, lr.slot)
        };
        let Some(slot) = slot else { return };
        let key = {
            let s = &mut self.rels[ri].sides[side].slots[slot as usize];
            s.in_scope = false;
            s.key
        };
        let peer = self.rels[ri].peer;
        let obs_side = if peer { side } else { 1 - side };
        let n = self.rels[ri].sides[obs_side].slots.len();
        let mut woken = Vec::new();
        for oi in 0..n {
            let (ou, olr, in_scope) = {
                let o = &self.rels[ri].sides[obs_side].slots[oi];
                (o.unit, o.lr, o.in_scope)
            };
            if !in_scope || ou == u {
                continue;
            }
            let lr = &mut self.units[ou].rels[olr];
            if lr.seen(slot) != NOT_MEMBER {
                lr.to_depart.insert((key, slot));
                woken.push(ou);
            }
        }
        for o in woken {
            self.wake(o);
        }
        let rel = &mut self.rels[ri];
        if rel.life == Life::Dying && rel.sides.iter().all(|s| s.slots.iter().all(|sl| !sl.in_scope)) {
            rel.life = Life::Dead;
            let id = rel.id;
            self.log_event(format!("relation {id} removed"));
        }
    }

    /// The unit is dead: it leaves every scope, and if it led its application the lease is
    /// revoked and a new leader elected at once (Juju ≥ 2.8).
    pub(crate) fn die(&mut self, u: UnitId) {
        if self.units[u].life == Life::Dead {
            return;
        }
        self.kill_running(u);
        self.units[u].life = Life::Dead;
        self.units[u].local_leader = false;
        self.bump();
        let name = self.units[u].name.to_string();
        self.log_event(format!("{name} is dead"));
        for li in 0..self.units[u].rels.len() {
            if self.units[u].rels[li].slot.is_some() {
                self.leave_scope(u, li);
            } else {
                self.units[u].rels[li].left = true;
            }
        }
        let a = self.units[u].app;
        if self.mc_prefixes.iter().any(|(x, _)| *x == a) {
            // The machine goes away with its unit: its daemon is gone.
            let host = self.units[u].machine.hostname.clone();
            if let Some(w) = &mut self.microcluster {
                w.mark_down(&host);
            }
        }
        if self.apps[a].leader == Some(u) {
            self.apps[a].leader = None;
            self.apps[a].lease_epoch += 1;
            self.log_event(format!("lease of {name} revoked"));
            self.elect(a);
        }
    }

    /// Elects a leader among the application's alive units whose agents run (seeded choice).
    pub(crate) fn elect(&mut self, a: AppId) {
        let cands: Vec<UnitId> = self.apps[a]
            .units
            .iter()
            .copied()
            .filter(|&c| self.units[c].life == Life::Alive && self.units[c].agent_up)
            .collect();
        if cands.is_empty() {
            return;
        }
        let pick = cands[self.rng.below(cands.len() as u64) as usize];
        self.claim(a, pick);
    }

    pub(crate) fn claim(&mut self, a: AppId, u: UnitId) {
        let app = &mut self.apps[a];
        app.leader = Some(u);
        app.lease_claimed = self.now;
        app.lease_epoch += 1;
        // The leader-settings watcher fires on a leadership change: followers run
        // leader-settings-changed (a deposed leader included).
        app.ls_version += 1;
        self.elections += 1;
        self.bump();
        let name = self.units[u].name.to_string();
        self.log_event(format!("{name} is elected leader"));
        self.wake_app(a, None);
    }

    pub(crate) fn agent_down(&mut self, u: UnitId, down_for: VTime) {
        if self.units[u].life == Life::Dead {
            return;
        }
        self.kill_running(u);
        let unit = &mut self.units[u];
        unit.agent_up = false;
        unit.agent_epoch += 1;
        let epoch = unit.agent_epoch;
        let a = unit.app;
        let now = self.now;
        self.push(now + down_for, QKind::AgentUp(u, epoch));
        if self.apps[a].leader == Some(u) {
            let lease = vt(self.cfg.lease_duration);
            let half = (lease / 2).max(1);
            let claimed = self.apps[a].lease_claimed;
            let last_renewal = claimed + (now.saturating_sub(claimed) / half) * half;
            let epoch = self.apps[a].lease_epoch;
            self.push(last_renewal + lease, QKind::LeaseExpiry(a, epoch));
        }
    }

    fn agent_up(&mut self, u: UnitId, epoch: u64) {
        let unit = &mut self.units[u];
        if unit.agent_epoch != epoch || unit.life == Life::Dead || unit.agent_up {
            return;
        }
        unit.agent_up = true;
        let a = unit.app;
        let name = unit.name.to_string();
        self.log_event(format!("{name} agent is back"));
        if self.apps[a].leader == Some(u) {
            // Back before the lease ran out: it renews the lease at once.
            self.apps[a].lease_claimed = self.now;
            self.apps[a].lease_epoch += 1;
        } else if self.apps[a].leader.is_none() {
            self.elect(a);
        }
        self.wake(u);
    }

    fn lease_expiry(&mut self, a: AppId, epoch: u64) {
        if self.apps[a].lease_epoch != epoch {
            return;
        }
        let Some(l) = self.apps[a].leader else { return };
        if self.units[l].agent_up {
            return;
        }
        let name = self.units[l].name.to_string();
        self.log_event(format!("lease of {name} expired"));
        self.apps[a].leader = None;
        self.apps[a].lease_epoch += 1;
        self.elect(a);
    }

    pub(crate) fn unit_log(&mut self, u: UnitId, level: LogLevel, message: String) {
        self.watch_line(u, level, &message);
        let cap = self.cfg.log_lines_per_unit;
        let now = self.now;
        let unit = &mut self.units[u];
        unit.log_count += 1;
        if cap == 0 {
            return;
        }
        if unit.logs.len() >= cap {
            unit.logs.pop_front();
        }
        unit.logs.push_back((now, level, message));
    }

    /// Shows a line `u` logs to every log watch ([`Sim::watch_logs`]).
    pub(crate) fn watch_line(&mut self, u: UnitId, level: LogLevel, line: &str) {
        self.lines_logged += 1;
        let at = dur(self.now);
        let unit = self.units[u].name.as_str();
        for w in &mut self.log_watches {
            w.observe(unit, at, level, line);
        }
    }

    pub(crate) fn keeps_records(&self) -> bool {
        !matches!(self.cfg.trace, crate::config::TraceMode::Off) || self.sink.is_some()
    }

    /// What a hook that did not succeed tried to write, with a digest of the model's values of
    /// those keys just before and just after its end is processed (see [`Attempted`]). The two
    /// are taken around this step only, because other units commit while a hook runs (a new
    /// leader writes the application bag): what changes here is what this hook committed.
    fn attempted(&mut self, u: UnitId, run: &mut Running) -> Attempted {
        if !self.keeps_records() {
            return Attempted::default();
        }
        let mut a = Attempted::default();
        let owner_app = self.apps[self.units[u].app].name.to_string();
        let owner_unit = self.units[u].name.to_string();
        for (ri, is_app, changes) in &run.txn.rel_writes {
            let rel_id = self.rels[*ri].id;
            let owner = if *is_app { &owner_app } else { &owner_unit };
            for (k, v) in changes {
                a.keys.push(format!("{rel_id}/{owner}/{k}"));
                a.bytes += (k.len() + v.len()) as u64;
            }
        }
        for (k, v) in &run.txn.state {
            a.keys.push(format!("state/{owner_unit}/{k}"));
            a.bytes += (k.len() + v.as_ref().map_or(0, String::len)) as u64;
        }
        if let Some(doc) = &run.txn.stored {
            a.keys.push(format!("stored/{owner_unit}"));
            a.bytes += doc.len() as u64;
        }
        a.before = self.txn_digest(u, &run.txn);
        #[cfg(test)]
        if self.commit_failed_hooks_for_test {
            // An artificial bug, for the test that shows the invariant can fail.
            for (ri, is_app, changes) in std::mem::take(&mut run.txn.rel_writes) {
                self.commit_bag(u, ri, is_app, &changes, &mut KeysWritten::default());
            }
        }
        a.after = self.txn_digest(u, &run.txn);
        a
    }

    /// A digest of the model's current values of the keys `txn` writes (see `attempted`).
    fn txn_digest(&self, u: UnitId, txn: &crate::model::Txn) -> u64 {
        let mut h = fnv(b"");
        let mut mix = |bytes: Option<&[u8]>| {
            h = h.rotate_left(7) ^ bytes.map_or(0x9e37_79b9_7f4a_7c15, fnv);
        };
        for (ri, is_app, changes) in &txn.rel_writes {
            let bag = self.units[u].local_rel_of(*ri).and_then(|li| {
                let lr = &self.units[u].rels[li];
                let side = &self.rels[*ri].sides[lr.side];
                if *is_app {
                    Some(&side.app_bag)
                } else {
                    lr.slot
                        .and_then(|sl| side.slots.get(sl as usize))
                        .map(|sl| &sl.bag)
                }
            });
            for k in changes.keys() {
                mix(bag.and_then(|b| b.get(k)).map(String::as_bytes));
            }
        }
        for (k, _) in &txn.state {
            mix(self.units[u].controller_state.get(k).map(String::as_bytes));
        }
        if txn.stored.is_some() {
            mix(self.units[u].stored.as_deref().map(str::as_bytes));
        }
        h
    }

    fn record(
        &mut self,
        u: UnitId,
        run: &Running,
        outcome: HookOutcome,
        keys: KeysWritten,
        attempted: Attempted,
    ) {
        let kind = run.op.kind();
        self.kind_counts[kind.index()] += 1;
        self.units[u].hooks_run += 1;
        match outcome {
            HookOutcome::Ok => {}
            HookOutcome::Failed => self.failed_hooks += 1,
            HookOutcome::Killed => self.killed_hooks += 1,
        }
        self.tool_calls += run.tool_calls as u64;
        let count = self.trace.count;
        self.trace.count += 1;
        let duration = run.end.saturating_sub(run.start);
        let t = &mut self.trace;
        t.mix_u64(u as u64);
        t.mix_u64(kind.index() as u64);
        t.mix_u64(run.relation.map(|r| r.0 as u64 + 1).unwrap_or(0));
        t.mix_u64(run.remote.map(|r| r as u64 + 1).unwrap_or(0));
        t.mix_u64(run.start);
        t.mix_u64(duration);
        t.mix_u64(((run.attempt as u64) << 32) | run.tool_calls as u64);
        t.mix_u64(((run.commands as u64) << 32) | outcome as u64);
        t.mix_u64(keys.bytes);
        t.mix_u64(keys.hash);
        let keep = match self.cfg.trace {
            crate::config::TraceMode::Full => true,
            crate::config::TraceMode::Sampled(n) => n > 0 && count % n == 0,
            crate::config::TraceMode::Off => false,
        };
        if !keep && self.sink.is_none() {
            return;
        }
        let hook: Rc<str> = match kind {
            HookKind::Action | HookKind::Custom => Rc::from(run.event_hook.as_str()),
            _ => self.intern(&run.event_hook),
        };
        let rec = HookRecord {
            seq: count,
            unit: self.units[u].name_rc.clone(),
            kind,
            hook,
            relation: run.relation,
            remote_unit: run.remote.map(|r| self.units[r].name_rc.clone()),
            start: dur(run.start),
            duration: dur(duration),
            attempt: run.attempt,
            tool_calls: run.tool_calls,
            commands: run.commands,
            keys_written: keys.keys,
            bytes_written: keys.bytes,
            values: keys.values,
            attempted_keys: attempted.keys,
            attempted_bytes: attempted.bytes,
            attempted_before: attempted.before,
            attempted_after: attempted.after,
            outcome,
        };
        if let Some(sink) = &mut self.sink {
            sink(&rec);
        }
        if keep {
            self.trace.records.push(rec);
        }
    }

    fn intern(&mut self, name: &str) -> Rc<str> {
        if let Some(r) = self.interned.get(name) {
            return r.clone();
        }
        let r: Rc<str> = Rc::from(name);
        self.interned.insert(name.to_owned(), r.clone());
        r
    }

    /// The count of hooks of each kind.
    pub(crate) fn kind_count(&self, kind: HookKind) -> u64 {
        self.kind_counts[kind.index()]
    }

    pub(crate) fn kinds_map(&self) -> std::collections::BTreeMap<String, u64> {
        HOOK_KINDS
            .iter()
            .filter(|k| self.kind_counts[k.index()] > 0)
            .map(|k| (k.as_str().to_owned(), self.kind_counts[k.index()]))
            .collect()
    }

    pub(crate) fn apply_fault(&mut self, f: Fault) {
        let desc = format!("{f:?}");
        if let Err(e) = self.try_apply_fault(f) {
            self.log_event(format!("fault not applied: {e}"));
        } else {
            self.log_event(format!("fault: {desc}"));
        }
    }

    fn try_apply_fault(&mut self, f: Fault) -> Result<(), crate::SimError> {
        match f {
            Fault::KillAgent { unit, down_for } => {
                let u = self.unit_id(&unit)?;
                self.agent_down(u, vt(down_for));
            }
            Fault::FailHooks { unit, count } => {
                let u = self.unit_id(&unit)?;
                self.units[u].fail_hooks += count;
            }
            Fault::LoseLeader { app, down_for } => {
                let a = self.app_id(&app)?;
                if let Some(l) = self.apps[a].leader {
                    self.agent_down(l, vt(down_for));
                }
            }
            Fault::RemoveUnit { unit, force } => {
                let u = self.unit_id(&unit)?;
                self.remove_unit_id(u, force);
            }
            Fault::ScaleUp { app, count } => {
                let a = self.app_id(&app)?;
                for _ in 0..count {
                    self.add_unit_id(a, None);
                }
            }
            Fault::ScaleDown { app, count } => {
                let a = self.app_id(&app)?;
                let mut alive: Vec<UnitId> = self.apps[a]
                    .units
                    .iter()
                    .copied()
                    .filter(|&u| self.units[u].life == Life::Alive)
                    .collect();
                alive.sort_by_key(|&u| std::cmp::Reverse(self.units[u].name.number()));
                for u in alive.into_iter().take(count) {
                    self.remove_unit_id(u, false);
                }
            }
            Fault::RemoveRelation { relation } => self.remove_relation_idx(relation)?,
            Fault::ClockSkew { unit, seconds } => {
                let u = self.unit_id(&unit)?;
                self.units[u].skew_secs = seconds;
            }
            Fault::Command { unit, kind, count } => {
                let u = self.unit_id(&unit)?;
                for _ in 0..count {
                    self.units[u].command_faults.push_back(kind);
                }
            }
        }
        Ok(())
    }

    pub(crate) fn remove_unit_id(&mut self, u: UnitId, force: bool) {
        if self.units[u].life == Life::Dead {
            return;
        }
        let name = self.units[u].name.to_string();
        if force {
            self.log_event(format!("{name} is force-removed"));
            self.die(u);
            return;
        }
        if self.units[u].life == Life::Dying {
            return;
        }
        self.log_event(format!("{name} is dying"));
        self.units[u].life = Life::Dying;
        self.bump();
        self.wake(u);
    }

    pub(crate) fn remove_relation_idx(&mut self, id: RelationId) -> Result<(), crate::SimError> {
        let ri = id.0 as usize;
        let rel = self
            .rels
            .get_mut(ri)
            .ok_or(crate::SimError::UnknownRelation(id))?;
        if rel.peer {
            return Err(crate::SimError::Refused(format!(
                "relation {id} is a peer relation: it lives as long as its application"
            )));
        }
        if rel.life != Life::Alive {
            return Ok(());
        }
        rel.life = Life::Dying;
        self.bump();
        let members: Vec<(UnitId, usize, bool)> = self.rels[ri]
            .sides
            .iter()
            .flat_map(|s| s.slots.iter().map(|sl| (sl.unit, sl.lr, sl.in_scope)))
            .collect();
        let mut any_in_scope = false;
        for (u, _, in_scope) in &members {
            if *in_scope {
                any_in_scope = true;
                self.wake(*u);
            }
        }
        // Units that never entered scope never will.
        for u in 0..self.units.len() {
            if let Some(li) = self.units[u].local_rel_of(ri) {
                if self.units[u].rels[li].slot.is_none() {
                    self.units[u].rels[li].left = true;
                }
            }
        }
        if !any_in_scope {
            self.rels[ri].life = Life::Dead;
        }
        Ok(())
    }

    /// Whether `unit` is leader now (for the backend).
    pub(crate) fn is_leader_now(&self, u: UnitId) -> bool {
        self.apps[self.units[u].app].leader == Some(u)
    }

    /// Applies a command fault drawn for this unit, if any.
    pub(crate) fn draw_command_fault(&mut self, u: UnitId) -> Option<CommandFault> {
        if let Some(f) = self.units[u].command_faults.pop_front() {
            return Some(f);
        }
        let p = &self.cfg.faults;
        let (pf, ph, pg) = (p.command_failure, p.command_hang, p.command_garbage);
        if pf + ph + pg <= 0.0 {
            return None;
        }
        let x = self.rng.unit_f64();
        if x < pf {
            Some(CommandFault::Fail)
        } else if x < pf + ph {
            Some(CommandFault::Hang)
        } else if x < pf + ph + pg {
            Some(CommandFault::Garbage)
        } else {
            None
        }
    }

    pub(crate) fn set_unit_status(&mut self, u: UnitId, status: Status) {
        if self.units[u].status != status {
            self.units[u].status = status;
            self.bump();
        }
    }
}

/// What one hook committed to relation data (keys only unless values are asked for).
#[derive(Default)]
pub(crate) struct KeysWritten {
    pub keys: Vec<String>,
    pub values: Vec<(String, String)>,
    pub bytes: u64,
    pub hash: u64,
}

/// What a hook that did not succeed tried to write (nothing for a hook that succeeded: its
/// writes are in [`KeysWritten`]).
#[derive(Default)]
pub(crate) struct Attempted {
    pub keys: Vec<String>,
    pub bytes: u64,
    /// Digest of the model's values of `keys` before the hook's end was processed.
    pub before: u64,
    /// The same, after.
    pub after: u64,
}

fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}
