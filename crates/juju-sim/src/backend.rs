//! The per-hook [`Backend`]: it borrows the model, buffers the transactional writes (relation
//! data, stored state, controller state, secrets) and applies the immediate ones (status, logs,
//! leader settings, workload version, actions, scheduled events) at once.

use crate::config::CommandFault;
use crate::engine::{dur, vt, QKind};
use crate::model::*;
use crate::secrets::{Secret, SecretOp};
use crate::sim::Sim;
use crate::workload::microcluster::Exec;
use crate::workload::CommandContext;
use charm::testing::MAX_BAG_BYTES;
use charm::{
    AppName, Backend, BackendError, BagOwner, BagScope, CommandOutput, ConfigValue, Databag, GoalState,
    GoalStatus, LogLevel, RelationId, RevokeTarget, SecretContent, SecretInfo, SecretOptions, SecretOwner,
    SecretRead, SecretRef, Status, StatusName, StatusTarget, UnitName, WorkloadCommand,
};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// The simulated machines' clocks start here (2027-01-15), plus virtual time and any skew.
pub const EPOCH_SECS: u64 = 1_800_000_000;

pub(crate) struct HookDone {
    pub txn: Txn,
    pub tool_calls: u32,
    pub commands: u32,
    pub command_time: VTime,
}

pub(crate) struct HookBackend<'s> {
    sim: &'s mut Sim,
    u: UnitId,
    a: AppId,
    /// The relation of the event, with the joining or departing remote slot.
    event_rel: Option<(usize, Option<u32>, Option<u32>)>,
    action: Option<usize>,
    txn: Txn,
    tool_calls: u32,
    commands: u32,
    command_time: VTime,
}

impl<'s> HookBackend<'s> {
    pub fn new(sim: &'s mut Sim, u: UnitId, op: &Op) -> Self {
        let a = sim.units[u].app;
        let event_rel = match op {
            Op::Joined(li, s) => Some((*li, Some(*s), None)),
            Op::Departed(li, s) => Some((*li, None, Some(*s))),
            other => other.local_rel().map(|li| (li, None, None)),
        };
        let action = match op {
            Op::Action(id) => Some(*id),
            _ => None,
        };
        Self {
            sim,
            u,
            a,
            event_rel,
            action,
            txn: Txn::default(),
            tool_calls: 0,
            commands: 0,
            command_time: 0,
        }
    }

    pub fn finish(self) -> HookDone {
        HookDone {
            txn: self.txn,
            tool_calls: self.tool_calls,
            commands: self.commands,
            command_time: self.command_time,
        }
    }

    fn tool(&mut self) {
        self.tool_calls += 1;
    }

    /// Counts a tool call to an action tool; the running action, or a refusal outside one.
    fn running_action(&mut self, tool: &str) -> Result<usize, BackendError> {
        self.tool();
        self.action
            .ok_or_else(|| BackendError::Refused(format!("{tool}: not running an action")))
    }

    /// The unit's local view of relation `id`, if the unit is in it (or it is the event's).
    fn local(&self, id: RelationId) -> Result<usize, BackendError> {
        let ri = id.0 as usize;
        let li = self.sim.units[self.u]
            .local_rel_of(ri)
            .ok_or(BackendError::RelationNotFound(id))?;
        let lr = &self.sim.units[self.u].rels[li];
        let is_event = self.event_rel.is_some_and(|(e, _, _)| e == li);
        if lr.slot.is_none() || (lr.left && !is_event) {
            return Err(BackendError::RelationNotFound(id));
        }
        Ok(li)
    }

    fn leader_now(&self) -> bool {
        self.sim.is_leader_now(self.u)
    }

    fn buffered(&self, ri: RelIdx, is_app: bool) -> Option<&Databag> {
        self.txn
            .rel_writes
            .iter()
            .find(|(r, a, _)| *r == ri && *a == is_app)
            .map(|(_, _, c)| c)
    }

    fn own_bag_with_writes(&self, li: usize, is_app: bool) -> Databag {
        let lr = &self.sim.units[self.u].rels[li];
        let side = &self.sim.rels[lr.rel].sides[lr.side];
        let mut bag = if is_app {
            side.app_bag.clone()
        } else {
            lr.slot
                .map(|s| side.slots[s as usize].bag.clone())
                .unwrap_or_default()
        };
        if let Some(changes) = self.buffered(lr.rel, is_app) {
            apply(&mut bag, changes);
        }
        bag
    }

    fn own_key_with_writes(&self, li: usize, is_app: bool, key: &str) -> Option<String> {
        let lr = &self.sim.units[self.u].rels[li];
        if let Some(v) = self.buffered(lr.rel, is_app).and_then(|c| c.get(key)) {
            return Some(v.clone()).filter(|v| !v.is_empty());
        }
        let side = &self.sim.rels[lr.rel].sides[lr.side];
        let bag = if is_app {
            Some(&side.app_bag)
        } else {
            lr.slot.map(|s| &side.slots[s as usize].bag)
        };
        bag.and_then(|b| b.get(key).cloned())
    }

    /// The bag `relation-get` would read, with Juju's rules (no tool call counted).
    fn bag_of(&self, id: RelationId, owner: &BagOwner) -> Result<BagRef<'_>, BackendError> {
        let li = self.local(id)?;
        let (ri, side) = {
            let lr = &self.sim.units[self.u].rels[li];
            (lr.rel, lr.side)
        };
        let rel = &self.sim.rels[ri];
        match owner {
            BagOwner::Unit(n) if *n == self.sim.units[self.u].name => Ok(BagRef::Own(li, false)),
            BagOwner::Unit(n) => {
                let not_found = || {
                    BackendError::Refused(format!(
                        "cannot read settings for unit \"{n}\" in relation {id}: unit not found"
                    ))
                };
                let other = self
                    .sim
                    .unit_index
                    .get(n.as_str())
                    .copied()
                    .ok_or_else(not_found)?;
                let oli = self.sim.units[other].local_rel_of(ri).ok_or_else(not_found)?;
                let olr = &self.sim.units[other].rels[oli];
                let slot = olr.slot.ok_or_else(not_found)?;
                Ok(BagRef::Other(&rel.sides[olr.side].slots[slot as usize].bag))
            }
            BagOwner::App(app) if *app == self.sim.apps[self.a].name => {
                if !rel.peer && !self.leader_now() {
                    return Err(BackendError::NotLeader(
                        "relation-get --app of the local application",
                    ));
                }
                Ok(BagRef::Own(li, true))
            }
            BagOwner::App(app) => {
                let rs = &rel.sides[rel.remote_side(side)];
                if self.sim.apps[rs.app].name == *app {
                    Ok(BagRef::Other(&rs.app_bag))
                } else {
                    Err(BackendError::Refused(format!(
                        "application {app:?} is not in relation {id}"
                    )))
                }
            }
        }
    }

    fn secret_view(&self, id: &str) -> Option<Secret> {
        let mut s = self.sim.secrets.get(id).cloned();
        let mut store: BTreeMap<String, Secret> = BTreeMap::new();
        if let Some(s) = s.take() {
            store.insert(id.to_owned(), s);
        }
        for op in self.txn.secrets.iter().filter(|o| o.id() == id) {
            crate::secrets::apply(&mut store, op);
        }
        store.remove(id).filter(|s| !s.removed)
    }

    fn find_secret(&self, r: &SecretRef) -> Result<Secret, BackendError> {
        match r {
            SecretRef::Id(id) | SecretRef::IdWithLabel(id, _) => {
                self.secret_view(id).ok_or(BackendError::SecretNotFound)
            }
            SecretRef::Label(label) => {
                let mut ids: Vec<String> = self.sim.secrets.keys().cloned().collect();
                for op in &self.txn.secrets {
                    if let SecretOp::Add { id, .. } = op {
                        ids.push(id.clone());
                    }
                }
                for id in ids {
                    if let Some(s) = self.secret_view(&id) {
                        let owner_label = self.owns(&s) && s.label.as_deref() == Some(label);
                        let consumer_label = s
                            .consumers
                            .get(&self.u)
                            .is_some_and(|c| c.1.as_deref() == Some(label));
                        if owner_label || consumer_label {
                            return Ok(s);
                        }
                    }
                }
                Err(BackendError::SecretNotFound)
            }
        }
    }

    fn owns(&self, s: &Secret) -> bool {
        match s.owner_unit {
            Some(ou) => ou == self.u,
            None => s.owner_app == self.a,
        }
    }

    fn granted(&self, s: &Secret) -> bool {
        let me = &self.sim.units[self.u];
        s.grants.iter().any(|(rid, unit)| {
            let ri = rid.0 as usize;
            let Some(rel) = self.sim.rels.get(ri) else {
                return false;
            };
            if rel.life == Life::Dead || me.local_rel_of(ri).is_none() {
                return false;
            }
            unit.as_ref().is_none_or(|n| *n == me.name)
        })
    }

    fn owned_secret(&self, id: &str) -> Result<Secret, BackendError> {
        let s = self.secret_view(id).ok_or(BackendError::SecretNotFound)?;
        if !self.owns(&s) {
            return Err(BackendError::Refused(format!(
                "secret {id} is not owned by this unit or application"
            )));
        }
        if s.owner_unit.is_none() && !self.leader_now() {
            return Err(BackendError::NotLeader("changing an application-owned secret"));
        }
        Ok(s)
    }
}

/// A bag `relation-get` reads: another unit's or application's (committed), or one of this
/// unit's own (with this hook's writes): local relation index, application bag or not.
enum BagRef<'b> {
    Other(&'b Databag),
    Own(usize, bool),
}

fn apply(bag: &mut Databag, changes: &Databag) {
    for (k, v) in changes {
        if v.is_empty() {
            bag.remove(k);
        } else {
            bag.insert(k.clone(), v.clone());
        }
    }
}

fn garbage(r: u64) -> String {
    let glyphs = ["\u{fffd}", "{", "\"", "]]", "\u{1b}[2K", "null", "::", "\t", "%"];
    let mut s = String::new();
    let mut x = r;
    for _ in 0..12 {
        s.push_str(glyphs[(x % glyphs.len() as u64) as usize]);
        x = x.rotate_right(7) ^ 0x9E37_79B9;
    }
    s
}

impl Backend for HookBackend<'_> {
    fn relation_ids(&mut self, endpoint: &str) -> Result<Vec<RelationId>, BackendError> {
        self.tool();
        let unit = &self.sim.units[self.u];
        let mut ids: Vec<RelationId> = unit
            .rels
            .iter()
            .enumerate()
            .filter(|(li, lr)| {
                let is_event = self.event_rel.is_some_and(|(e, _, _)| e == *li);
                lr.slot.is_some() && (!lr.left || is_event)
            })
            .filter(|(_, lr)| self.sim.rels[lr.rel].sides[lr.side].endpoint == endpoint)
            .map(|(_, lr)| self.sim.rels[lr.rel].id)
            .collect();
        ids.sort();
        Ok(ids)
    }

    fn relation_list(&mut self, id: RelationId) -> Result<Vec<UnitName>, BackendError> {
        self.tool();
        let li = self.local(id)?;
        let lr = &self.sim.units[self.u].rels[li];
        let rel = &self.sim.rels[lr.rel];
        let rs = &rel.sides[rel.remote_side(lr.side)];
        let (joining, departing) = match self.event_rel {
            Some((e, j, d)) if e == li => (j, d),
            _ => (None, None),
        };
        let mut v: Vec<(u64, UnitId)> = lr
            .seen
            .iter()
            .enumerate()
            .filter(|(i, s)| **s != NOT_MEMBER && Some(*i as u32) != departing)
            .map(|(i, _)| (rs.slots[i].key, rs.slots[i].unit))
            .collect();
        if let Some(j) = joining {
            if lr.seen(j) == NOT_MEMBER {
                v.push((rs.slots[j as usize].key, rs.slots[j as usize].unit));
            }
        }
        v.sort_unstable();
        Ok(v.into_iter()
            .map(|(_, u)| self.sim.units[u].name.clone())
            .collect())
    }

    fn relation_remote_app(&mut self, id: RelationId) -> Result<Option<AppName>, BackendError> {
        self.tool();
        let li = self.local(id)?;
        let lr = &self.sim.units[self.u].rels[li];
        let rel = &self.sim.rels[lr.rel];
        let rs = &rel.sides[rel.remote_side(lr.side)];
        Ok(Some(self.sim.apps[rs.app].name.clone()))
    }

    fn relation_get(&mut self, id: RelationId, owner: &BagOwner) -> Result<Databag, BackendError> {
        self.tool();
        Ok(match self.bag_of(id, owner)? {
            BagRef::Other(bag) => bag.clone(),
            BagRef::Own(li, is_app) => self.own_bag_with_writes(li, is_app),
        })
    }

    fn relation_get_key(
        &mut self,
        id: RelationId,
        owner: &BagOwner,
        key: &str,
    ) -> Result<Option<String>, BackendError> {
        self.tool();
        Ok(match self.bag_of(id, owner)? {
            BagRef::Other(bag) => bag.get(key).cloned(),
            BagRef::Own(li, is_app) => self.own_key_with_writes(li, is_app, key),
        })
    }

    fn relation_set(
        &mut self,
        id: RelationId,
        scope: BagScope,
        changes: &Databag,
    ) -> Result<(), BackendError> {
        self.tool();
        let li = self.local(id)?;
        let is_app = scope == BagScope::App;
        if is_app && !self.leader_now() {
            return Err(BackendError::NotLeader("relation-set --app"));
        }
        let ri = self.sim.units[self.u].rels[li].rel;
        // The bag limit (Juju 4 enforces 16 MiB at commit): checked exactly only when close.
        let current = {
            let lr = &self.sim.units[self.u].rels[li];
            let side = &self.sim.rels[ri].sides[lr.side];
            if is_app {
                side.app_bytes
            } else {
                lr.slot.map(|s| side.slots[s as usize].bytes).unwrap_or(0)
            }
        };
        let pending: usize = self.buffered(ri, is_app).map(bag_bytes).unwrap_or(0) + bag_bytes(changes);
        if current + pending > MAX_BAG_BYTES {
            let mut next = self.own_bag_with_writes(li, is_app);
            apply(&mut next, changes);
            let size = bag_bytes(&next);
            if size > MAX_BAG_BYTES {
                return Err(BackendError::Refused(format!(
                    "relation data of {size} bytes exceeds the limit of {MAX_BAG_BYTES}"
                )));
            }
        }
        match self
            .txn
            .rel_writes
            .iter_mut()
            .find(|(r, a, _)| *r == ri && *a == is_app)
        {
            Some((_, _, buf)) => {
                for (k, v) in changes {
                    buf.insert(k.clone(), v.clone());
                }
            }
            None => self.txn.rel_writes.push((ri, is_app, changes.clone())),
        }
        Ok(())
    }

    fn is_leader(&mut self) -> Result<bool, BackendError> {
        self.tool();
        Ok(self.leader_now())
    }

    fn config_get(&mut self) -> Result<BTreeMap<String, ConfigValue>, BackendError> {
        self.tool();
        let app = &self.sim.apps[self.a];
        let mut c = app.meta.config_defaults();
        c.extend(app.config.clone());
        Ok(c)
    }

    fn status_set(&mut self, target: StatusTarget, status: &Status) -> Result<(), BackendError> {
        self.tool();
        if matches!(status.name, StatusName::Error | StatusName::Unknown) {
            return Err(BackendError::Refused(format!(
                "invalid status {:?}: use active, blocked, maintenance or waiting",
                status.name.as_str()
            )));
        }
        match target {
            StatusTarget::Unit => self.sim.set_unit_status(self.u, status.clone()),
            StatusTarget::App => {
                if !self.leader_now() {
                    return Err(BackendError::NotLeader("status-set --application"));
                }
                if self.sim.apps[self.a].status != *status {
                    self.sim.apps[self.a].status = status.clone();
                    self.sim.bump();
                }
            }
        }
        Ok(())
    }

    fn status_get(&mut self, target: StatusTarget) -> Result<Status, BackendError> {
        self.tool();
        match target {
            StatusTarget::Unit => Ok(self.sim.status_of(self.u)),
            StatusTarget::App => {
                if !self.leader_now() {
                    return Err(BackendError::NotLeader("status-get --application"));
                }
                Ok(self.sim.apps[self.a].status.clone())
            }
        }
    }

    fn juju_log(&mut self, level: LogLevel, message: &str) -> Result<(), BackendError> {
        self.tool();
        self.sim.unit_log(self.u, level, message.to_owned());
        Ok(())
    }

    fn leader_get(&mut self) -> Result<Databag, BackendError> {
        self.tool();
        Ok(self.sim.apps[self.a].leader_settings.clone())
    }

    fn leader_set(&mut self, changes: &Databag) -> Result<(), BackendError> {
        self.tool();
        if !self.leader_now() {
            return Err(BackendError::NotLeader("leader-set"));
        }
        let settings = &mut self.sim.apps[self.a].leader_settings;
        let before = settings.clone();
        apply(settings, changes);
        if *settings != before {
            self.sim.apps[self.a].ls_version += 1;
            self.sim.bump();
            let a = self.a;
            let u = self.u;
            self.sim.wake_app(a, Some(u));
        }
        Ok(())
    }

    fn state_get(&mut self) -> Result<BTreeMap<String, String>, BackendError> {
        self.tool();
        let mut s = self.sim.units[self.u].controller_state.clone();
        for (k, v) in &self.txn.state {
            match v {
                Some(v) => s.insert(k.clone(), v.clone()),
                None => s.remove(k),
            };
        }
        Ok(s)
    }

    fn state_set(&mut self, changes: &BTreeMap<String, String>) -> Result<(), BackendError> {
        self.tool();
        for (k, v) in changes {
            if k.len() > 256 || v.len() > 64 * 1024 {
                return Err(BackendError::Refused(format!(
                    "state key {k:?} or its value is too large"
                )));
            }
        }
        for (k, v) in changes {
            self.txn.state.push((k.clone(), Some(v.clone())));
        }
        Ok(())
    }

    fn state_delete(&mut self, key: &str) -> Result<(), BackendError> {
        self.tool();
        self.txn.state.push((key.to_owned(), None));
        Ok(())
    }

    fn secret_add(
        &mut self,
        content: &SecretContent,
        options: &SecretOptions,
    ) -> Result<String, BackendError> {
        self.tool();
        if content.0.is_empty() {
            return Err(BackendError::Refused("secret-add: missing secret value".into()));
        }
        let owner_unit = match options.owner {
            Some(SecretOwner::Unit) => Some(self.u),
            _ => {
                if !self.leader_now() {
                    return Err(BackendError::NotLeader("secret-add --owner application"));
                }
                None
            }
        };
        self.sim.next_secret += 1;
        let id = format!("secret:csim{:016x}", self.sim.next_secret);
        self.txn.secrets.push(SecretOp::Add {
            id: id.clone(),
            owner_app: self.a,
            owner_unit,
            content: content.clone(),
            options: options.clone(),
        });
        Ok(id)
    }

    fn secret_get(&mut self, secret: &SecretRef, read: SecretRead) -> Result<SecretContent, BackendError> {
        self.tool();
        let s = self.find_secret(secret)?;
        let latest = s.latest();
        let content_of = |rev: u64| -> Result<SecretContent, BackendError> {
            s.revisions
                .get(rev.saturating_sub(1) as usize)
                .cloned()
                .flatten()
                .ok_or(BackendError::SecretNotFound)
        };
        if self.owns(&s) {
            return content_of(latest);
        }
        if !self.granted(&s) {
            return Err(BackendError::SecretNotFound);
        }
        let label = match secret {
            SecretRef::IdWithLabel(_, l) => Some(l.clone()),
            _ => None,
        };
        let tracked = s.consumers.get(&self.u).map(|c| c.0);
        let rev = match (read, tracked) {
            (SecretRead::Peek, _) => latest,
            (SecretRead::Refresh, _) | (_, None) => {
                self.txn.secrets.push(SecretOp::Track {
                    id: s.id.clone(),
                    unit: self.u,
                    revision: latest,
                    label,
                });
                latest
            }
            (SecretRead::Tracked, Some(t)) => {
                if label.is_some() {
                    self.txn.secrets.push(SecretOp::Track {
                        id: s.id.clone(),
                        unit: self.u,
                        revision: t,
                        label,
                    });
                }
                t
            }
        };
        content_of(rev)
    }

    fn secret_set(
        &mut self,
        id: &str,
        content: Option<&SecretContent>,
        options: &SecretOptions,
    ) -> Result<(), BackendError> {
        self.tool();
        self.owned_secret(id)?;
        self.txn.secrets.push(SecretOp::Set {
            id: id.to_owned(),
            content: content.cloned(),
            options: options.clone(),
        });
        Ok(())
    }

    fn secret_grant(
        &mut self,
        id: &str,
        relation: RelationId,
        unit: Option<&UnitName>,
    ) -> Result<(), BackendError> {
        self.tool();
        self.owned_secret(id)?;
        self.local(relation)?;
        self.txn.secrets.push(SecretOp::Grant {
            id: id.to_owned(),
            relation,
            unit: unit.cloned(),
        });
        Ok(())
    }

    fn secret_revoke(
        &mut self,
        id: &str,
        relation: RelationId,
        target: &RevokeTarget,
    ) -> Result<(), BackendError> {
        self.tool();
        self.owned_secret(id)?;
        self.txn.secrets.push(SecretOp::Revoke {
            id: id.to_owned(),
            relation,
            target: target.clone(),
        });
        Ok(())
    }

    fn secret_remove(&mut self, id: &str, revision: Option<u64>) -> Result<(), BackendError> {
        self.tool();
        self.owned_secret(id)?;
        self.txn.secrets.push(SecretOp::Remove {
            id: id.to_owned(),
            revision,
        });
        Ok(())
    }

    fn secret_info_get(&mut self, secret: &SecretRef) -> Result<SecretInfo, BackendError> {
        self.tool();
        let s = self.find_secret(secret)?;
        if !self.owns(&s) {
            return Err(BackendError::SecretNotFound);
        }
        Ok(SecretInfo {
            id: s.id.clone(),
            label: s.label.clone(),
            owner: if s.owner_unit.is_some() {
                "unit"
            } else {
                "application"
            }
            .to_owned(),
            revision: s.latest(),
            description: s.description.clone(),
            expiry: s.expire.clone(),
            rotation: s.rotate.clone(),
        })
    }

    fn secret_ids(&mut self) -> Result<Vec<String>, BackendError> {
        self.tool();
        let mut ids: Vec<String> = self.sim.secrets.keys().cloned().collect();
        for op in &self.txn.secrets {
            if let SecretOp::Add { id, .. } = op {
                ids.push(id.clone());
            }
        }
        Ok(ids
            .into_iter()
            .filter(|id| self.secret_view(id).is_some_and(|s| self.owns(&s)))
            .collect())
    }

    fn application_version_set(&mut self, version: &str) -> Result<(), BackendError> {
        self.tool();
        if self.sim.apps[self.a].version != version {
            self.sim.apps[self.a].version = version.to_owned();
            self.sim.bump();
        }
        Ok(())
    }

    fn action_get(&mut self) -> Result<serde_json::Map<String, serde_json::Value>, BackendError> {
        self.tool();
        let id = self
            .action
            .ok_or(BackendError::Refused("action-get: not running an action".into()))?;
        Ok(self.sim.actions[id].params.clone())
    }

    fn action_set(&mut self, results: &BTreeMap<String, String>) -> Result<(), BackendError> {
        let id = self.running_action("action-set")?;
        self.sim.actions[id].results.extend(results.clone());
        Ok(())
    }

    fn action_fail(&mut self, message: &str) -> Result<(), BackendError> {
        let id = self.running_action("action-fail")?;
        let a = &mut self.sim.actions[id];
        a.failed = true;
        a.message = message.to_owned();
        Ok(())
    }

    fn action_log(&mut self, message: &str) -> Result<(), BackendError> {
        let id = self.running_action("action-log")?;
        self.sim.watch_line(self.u, LogLevel::Info, message);
        self.sim.actions[id].logs.push(message.to_owned());
        Ok(())
    }

    fn goal_state(&mut self) -> Result<GoalState, BackendError> {
        self.tool();
        let status = |l: Life| GoalStatus {
            status: if l == Life::Alive { "active" } else { "dying" }.to_owned(),
            since: None,
        };
        let mut g = GoalState::default();
        for &u in &self.sim.apps[self.a].units {
            let x = &self.sim.units[u];
            if x.life != Life::Dead {
                g.units.insert(x.name.to_string(), status(x.life));
            }
        }
        for lr in &self.sim.units[self.u].rels {
            if lr.left {
                continue;
            }
            let rel = &self.sim.rels[lr.rel];
            if rel.life == Life::Dead {
                continue;
            }
            let rs = &rel.sides[rel.remote_side(lr.side)];
            let e = g
                .relations
                .entry(rel.sides[lr.side].endpoint.clone())
                .or_default();
            if !rel.peer {
                e.insert(self.sim.apps[rs.app].name.to_string(), status(rel.life));
            }
            for &ru in &self.sim.apps[rs.app].units {
                let x = &self.sim.units[ru];
                if x.life != Life::Dead && ru != self.u {
                    e.insert(x.name.to_string(), status(x.life));
                }
            }
        }
        Ok(g)
    }

    fn now(&mut self) -> SystemTime {
        let skew = self.sim.units[self.u].skew_secs;
        let base =
            SystemTime::UNIX_EPOCH + Duration::from_secs(EPOCH_SECS) + dur(self.sim.now + self.command_time);
        if skew >= 0 {
            base + Duration::from_secs(skew as u64)
        } else {
            base - Duration::from_secs(skew.unsigned_abs())
        }
    }

    fn hostname(&mut self) -> Result<String, BackendError> {
        Ok(self.sim.units[self.u].machine.hostname.clone())
    }

    fn run_command(&mut self, command: &WorkloadCommand) -> Result<CommandOutput, BackendError> {
        self.commands += 1;
        self.sim.workload_commands += 1;
        let cost = self.sim.cfg.cost.clone();
        match self.sim.draw_command_fault(self.u) {
            Some(CommandFault::Fail) => {
                self.command_time += vt(cost.command);
                return Ok(CommandOutput::failed(
                    1,
                    "simulated failure: the command exited 1",
                ));
            }
            Some(CommandFault::Hang) => {
                let t = command.timeout.unwrap_or(cost.hang);
                self.command_time += vt(t);
                return Err(BackendError::Workload {
                    command: command.to_string(),
                    reason: format!("timed out after {} s", t.as_secs()),
                });
            }
            Some(CommandFault::Garbage) => {
                self.command_time += vt(cost.command);
                let r = self.sim.rng.next_u64();
                return Ok(CommandOutput::ok(garbage(r)));
            }
            None => {}
        }
        let mut argv: Vec<&str> = vec![command.program.as_str()];
        argv.extend(command.args.iter().map(String::as_str));
        let mc_prefix = self
            .sim
            .mc_prefixes
            .iter()
            .find(|(x, p)| *x == self.a && p.len() <= argv.len() && p.iter().zip(&argv).all(|(a, b)| a == b))
            .map(|(_, p)| p.len());
        if let (Some(n), Some(_)) = (mc_prefix, &self.sim.microcluster) {
            let rest: Vec<String> = argv[n..].iter().map(|s| s.to_string()).collect();
            let host = self.sim.units[self.u].machine.hostname.clone();
            let now = dur(self.sim.now + self.command_time);
            let exec = match &mut self.sim.microcluster {
                Some(w) => w.exec(&host, &rest, now),
                None => return Err(BackendError::Unsupported("microcluster")),
            };
            return match exec {
                Exec::Done(out) => {
                    self.command_time += vt(cost.command);
                    Ok(out)
                }
                Exec::Hang => {
                    let t = command.timeout.unwrap_or(cost.hang);
                    self.command_time += vt(t);
                    Err(BackendError::Workload {
                        command: command.to_string(),
                        reason: format!("timed out after {} s", t.as_secs()),
                    })
                }
            };
        }
        let best = self.sim.apps[self.a]
            .workloads
            .iter()
            .enumerate()
            .filter(|(_, (p, _))| p.len() <= argv.len() && p.iter().zip(&argv).all(|(a, b)| a == b))
            .max_by_key(|(i, (p, _))| (p.len(), std::cmp::Reverse(*i)))
            .map(|(i, _)| i);
        let Some(i) = best else {
            self.command_time += vt(cost.command);
            return Err(BackendError::Workload {
                command: command.to_string(),
                reason: "no simulated workload serves this command (see Sim::serve_commands)".into(),
            });
        };
        let random = self.sim.rng.next_u64();
        let now = dur(self.sim.now + self.command_time);
        let unit = self.sim.units[self.u].name.clone();
        let machine = self.sim.units[self.u].machine.clone();
        let ctx = CommandContext {
            unit: &unit,
            hostname: &machine.hostname,
            address: &machine.address,
            now,
            random,
        };
        let result = self.sim.apps[self.a].workloads[i].1.run(&ctx, command);
        let took = result.duration.map(vt).unwrap_or(vt(cost.command));
        if let Some(timeout) = command.timeout {
            if took > vt(timeout) {
                self.command_time += vt(timeout);
                return Err(BackendError::Workload {
                    command: command.to_string(),
                    reason: format!("timed out after {} s", timeout.as_secs()),
                });
            }
        }
        self.command_time += took;
        Ok(result.output)
    }

    fn open_port(&mut self, port: &charm::Port, _endpoints: &[String]) -> Result<(), BackendError> {
        self.tool();
        let mut ports = self
            .txn
            .ports
            .clone()
            .unwrap_or_else(|| self.sim.units[self.u].ports.clone());
        if !ports.contains(port) {
            ports.push(port.clone());
            ports.sort();
        }
        self.txn.ports = Some(ports);
        Ok(())
    }

    fn close_port(&mut self, port: &charm::Port, _endpoints: &[String]) -> Result<(), BackendError> {
        self.tool();
        let mut ports = self
            .txn
            .ports
            .clone()
            .unwrap_or_else(|| self.sim.units[self.u].ports.clone());
        ports.retain(|p| p != port);
        self.txn.ports = Some(ports);
        Ok(())
    }

    fn opened_ports(&mut self) -> Result<Vec<charm::Port>, BackendError> {
        self.tool();
        Ok(self
            .txn
            .ports
            .clone()
            .unwrap_or_else(|| self.sim.units[self.u].ports.clone()))
    }

    fn network_get(
        &mut self,
        binding: &str,
        relation: Option<RelationId>,
    ) -> Result<serde_json::Value, BackendError> {
        self.tool();
        if let Some(r) = relation {
            self.local(r)?;
        }
        if !self.sim.apps[self.a].meta.endpoints.contains_key(binding) {
            return Err(BackendError::Tool {
                tool: "network-get".into(),
                code: Some(1),
                stderr: format!("ERROR no network config found for binding {binding:?}"),
            });
        }
        let addr = self.sim.units[self.u].machine.address.clone();
        Ok(serde_json::json!({
            "bind-addresses": [{"mac-address": "", "interface-name": "eth0",
                "addresses": [{"hostname": "", "value": addr, "address": addr, "cidr": ""}]}],
            "egress-subnets": [format!("{addr}/32")],
            "ingress-addresses": [addr],
        }))
    }

    fn reboot(&mut self, _now: bool) -> Result<(), BackendError> {
        self.tool();
        self.sim.units[self.u].reboot_requested = true;
        Ok(())
    }

    fn write_file(&mut self, path: &std::path::Path, content: &[u8], mode: u32) -> Result<(), BackendError> {
        // The machine's disk is not part of Juju's transaction: written at once.
        let mid = self.sim.units[self.u].machine_id;
        self.sim
            .files
            .entry(mid)
            .or_default()
            .insert(path.to_owned(), (content.to_vec(), mode));
        Ok(())
    }

    fn read_file(&mut self, path: &std::path::Path) -> Result<Option<Vec<u8>>, BackendError> {
        let mid = self.sim.units[self.u].machine_id;
        Ok(self
            .sim
            .files
            .get(&mid)
            .and_then(|f| f.get(path))
            .map(|(c, _)| c.clone()))
    }

    fn random_bytes(&mut self, buf: &mut [u8]) -> Result<(), BackendError> {
        // From the seed, so that a run replays.
        for chunk in buf.chunks_mut(8) {
            let r = self.sim.rng.next_u64().to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
        Ok(())
    }

    fn schedule_event(&mut self, name: &str, delay: Duration) -> Result<(), BackendError> {
        // Under Juju this spawns a detached process at once: it is not rolled back.
        let at = self.sim.now + self.command_time + vt(delay);
        self.sim.push(at, QKind::Exec(self.u, name.to_owned()));
        self.sim.bump();
        Ok(())
    }

    fn load_stored_state(&mut self) -> Result<Option<String>, BackendError> {
        Ok(self
            .txn
            .stored
            .clone()
            .or_else(|| self.sim.units[self.u].stored.clone()))
    }

    fn save_stored_state(&mut self, document: &str) -> Result<(), BackendError> {
        self.txn.stored = Some(document.to_owned());
        Ok(())
    }
}
