//! A test charm and a small world of units that hands each unit's state from hook to hook, in
//! memory, with Juju's delivery rules for peer relations (a unit's write wakes every other
//! member; the leader's app-bag write wakes every follower; scheduled events wake their unit).
#![allow(dead_code)]

use charm::testing::{Harness, RelationState, Run, State};
use charm::{
    ActionEvent, Charm, Context, Databag, Event, HandlerError, HandlerResult, Metadata, Observers,
    RelationEvent, RelationId, Status, UnitName,
};
use rollingops::{OperationResult, RollingOps};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const ENDPOINT: &str = "restart";
pub const LOG: &str = "/var/log/ops";

pub const CHARMCRAFT: &str = r#"
name: app
config:
  options:
    fail-hooks:
      type: boolean
      default: false
      description: Fail every hook after the library's handler ran (a unit stuck in error).
    alias-charmlibs:
      type: boolean
      default: false
      description: Run operations queued as charmlibs' `_restart` with the `restart` target.
peers:
  restart:
    interface: rolling_op
actions:
  force-release:
    params:
      unit: {type: string}
  request:
    params:
      callback: {type: string}
  drop-parked: {}
"#;

/// The test charm: callbacks append `<callback> <kwargs>` to [`LOG`]; the `request` action
/// queues an operation (params: `callback`, `kwargs`, `max_retry`).
#[derive(Default)]
pub struct TestCharm;

fn log_run(ctx: &mut Context<'_>, line: &str) -> Result<(), HandlerError> {
    let mut log = ctx.read_file(LOG)?.unwrap_or_default();
    log.extend_from_slice(line.as_bytes());
    log.push(b'\n');
    ctx.write_file(LOG, &log, 0o644)?;
    Ok(())
}

pub fn rolling() -> RollingOps<TestCharm> {
    rolling_with(false)
}

/// The library, with charmlibs' `_restart` mapped to `restart` when `alias`.
pub fn rolling_with(alias: bool) -> RollingOps<TestCharm> {
    let r = RollingOps::new(ENDPOINT)
        .target("restart", |_, ctx, kw| {
            log_run(ctx, &format!("restart {}", Value::Object(kw.clone())))?;
            Ok(OperationResult::Release)
        })
        .target("retry", |_, ctx, _| {
            log_run(ctx, "retry")?;
            Ok(OperationResult::RetryRelease)
        })
        .target("hold", |_, ctx, _| {
            log_run(ctx, "hold")?;
            Ok(OperationResult::RetryHold)
        })
        .target("fail", |_, ctx, _| {
            log_run(ctx, "fail")?;
            Err(HandlerError::msg("the workload refused"))
        });
    if alias {
        r.alias("_restart", "restart")
    } else {
        r
    }
}

fn configured(ctx: &mut Context<'_>) -> Result<RollingOps<TestCharm>, HandlerError> {
    Ok(rolling_with(
        ctx.config()?.boolean("alias-charmlibs")? == Some(true),
    ))
}

impl Charm for TestCharm {
    fn register(on: &mut Observers<Self>) {
        RollingOps::declare(on);
        on.observe("charm", Self::on_event);
        on.observe("rolling-ops", |c, ctx, e| Ok(configured(ctx)?.handle(c, ctx, e)?));
        on.observe("faults", |_, ctx, _| {
            if ctx.config()?.boolean("fail-hooks")? == Some(true) {
                return Err(HandlerError::msg("failing as configured"));
            }
            Ok(())
        });
    }
}

impl TestCharm {
    fn on_event(&mut self, ctx: &mut Context<'_>, event: &Event) -> HandlerResult {
        if let Event::Action(a) = event {
            if a.name == "request" {
                let p = ctx.action_params()?;
                let cb = p
                    .get("callback")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let kwargs = p.get("kwargs").cloned().unwrap_or(Value::Null);
                let max_retry = p.get("max_retry").and_then(Value::as_u64).map(|n| n as u32);
                match configured(ctx)?.request(ctx, &cb, kwargs, max_retry) {
                    Ok(e) => {
                        let mut m = serde_json::Map::new();
                        m.insert("result".into(), json!(format!("{e:?}")));
                        ctx.action_set(&m)?;
                    }
                    Err(e) => ctx.action_fail(&format!("{e:?}"))?,
                }
            }
        }
        Ok(())
    }
}

pub fn meta() -> Metadata {
    Metadata::from_charmcraft_yaml(CHARMCRAFT).unwrap()
}

pub fn unit(n: u32) -> UnitName {
    UnitName::parse(&format!("app/{n}")).unwrap()
}

pub fn at_secs(s: f64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros((s * 1e6).round() as u64)
}

pub fn rel_event(remote: Option<u32>, departing: Option<u32>) -> RelationEvent {
    RelationEvent {
        endpoint: ENDPOINT.into(),
        relation_id: RelationId(1),
        remote_app: Some(charm::AppName::parse("app").unwrap()),
        remote_unit: remote.map(unit),
        departing_unit: departing.map(unit),
    }
}

pub fn changed(remote: Option<u32>) -> Event {
    Event::RelationChanged(rel_event(remote, None))
}

pub fn departed(remote: u32, departing: u32) -> Event {
    Event::RelationDeparted(rel_event(Some(remote), Some(departing)))
}

pub fn action(name: &str) -> Event {
    Event::Action(ActionEvent {
        name: name.into(),
        id: Some("1".into()),
    })
}

pub fn granted_event() -> Event {
    Event::Custom {
        name: rollingops::LOCK_GRANTED_EVENT.into(),
    }
}

/// Several units of `app`, their bags and their own states.
pub struct World {
    pub app: Databag,
    pub bags: BTreeMap<u32, Databag>,
    pub states: BTreeMap<u32, State>,
    /// Units in the relation.
    pub members: BTreeSet<u32>,
    /// Units gone from the relation whose bags stay readable (Juju keeps them).
    pub readable: BTreeSet<u32>,
    pub leader: u32,
    pub pending: VecDeque<(u32, Event)>,
    /// Every hook run: (unit, hook name).
    pub hooks: Vec<(u32, String)>,
    /// Units whose agent is dead: they run no hook.
    pub dead: BTreeSet<u32>,
    /// Every operation run, in order: (unit, log line).
    pub runs: Vec<(u32, String)>,
}

impl World {
    pub fn new(n: u32, leader: u32) -> Self {
        let mut w = World {
            app: Databag::new(),
            bags: BTreeMap::new(),
            states: BTreeMap::new(),
            members: BTreeSet::new(),
            readable: BTreeSet::new(),
            leader,
            pending: VecDeque::new(),
            hooks: Vec::new(),
            dead: BTreeSet::new(),
            runs: Vec::new(),
        };
        for i in 0..n {
            w.bags.insert(i, Databag::new());
            w.states.insert(
                i,
                State {
                    now: at_secs(1_800_000_000.0),
                    ..State::default()
                },
            );
            w.members.insert(i);
        }
        w
    }

    /// Sets unit `u`'s clock.
    pub fn clock(&mut self, u: u32, secs: f64) {
        self.states.get_mut(&u).unwrap().now = at_secs(secs);
    }

    /// Advances every clock by `secs`.
    pub fn tick(&mut self, secs: f64) {
        for s in self.states.values_mut() {
            s.now += Duration::from_micros((secs * 1e6) as u64);
        }
    }

    pub fn state_for(&self, u: u32) -> State {
        let mut s = self.states[&u].clone();
        s.leader = u == self.leader;
        let mut r = RelationState::new(1, ENDPOINT, "app");
        r.local_unit_data = self.bags[&u].clone();
        r.local_app_data = self.app.clone();
        for m in self.members.iter().chain(self.readable.iter()) {
            if *m != u {
                r.remote_units.insert(unit(*m), self.bags[m].clone());
            }
        }
        s.relations = vec![r];
        s
    }

    /// Runs one hook on `u` and keeps what it committed; queues the hooks its writes cause.
    pub fn run(&mut self, u: u32, event: Event) -> Run {
        self.run_with(u, event, |_| {})
    }

    pub fn run_with(&mut self, u: u32, event: Event, tweak: impl FnOnce(&mut State)) -> Run {
        let mut state = self.state_for(u);
        tweak(&mut state);
        let mut h = Harness::new(meta(), TestCharm::default).unit_number(u);
        self.hooks.push((u, event.hook_name()));
        let run = h.run(event, state);
        let mut st = run.state.clone();
        let before = self.ran(u).len();
        let after: Vec<String> = st
            .files
            .get(Path::new(LOG))
            .map(|(c, _)| {
                String::from_utf8(c.clone())
                    .unwrap()
                    .lines()
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        for line in after.into_iter().skip(before) {
            self.runs.push((u, line));
        }
        if run.result.is_ok() {
            let r = st.relations.remove(0);
            let before_bag = self.bags[&u].clone();
            let before_app = self.app.clone();
            self.bags.insert(u, r.local_unit_data);
            self.app = r.local_app_data;
            if self.bags[&u] != before_bag {
                for m in self.members.clone() {
                    if m != u {
                        self.pending.push_back((m, changed(Some(u))));
                    }
                }
            }
            if self.app != before_app {
                for m in self.members.clone() {
                    if m != u {
                        self.pending.push_back((m, changed(None)));
                    }
                }
            }
            for (name, delay) in &run.scheduled {
                assert_eq!(
                    *delay,
                    Duration::ZERO,
                    "rolling ops must not wait before dispatching"
                );
                self.pending.push_back((u, Event::Custom { name: name.clone() }));
            }
        } else {
            st.relations.clear();
        }
        self.states.insert(u, st);
        run
    }

    /// Queues an operation on `u` through the test charm's `request` action.
    pub fn request(&mut self, u: u32, callback: &str, kwargs: Value, max_retry: Option<u32>) -> Run {
        let run = self.run_with(u, action("request"), |s| {
            s.action_params = json!({"callback": callback, "kwargs": kwargs, "max_retry": max_retry})
                .as_object()
                .unwrap()
                .clone();
        });
        assert!(run.result.is_ok(), "{:?}", run.result);
        assert_eq!(run.action_failure, None);
        run
    }

    /// Runs queued hooks (coalescing duplicates, as Juju does) until none is left; returns how
    /// many ran.
    pub fn settle(&mut self) -> usize {
        let mut n = 0;
        while let Some((u, e)) = self.pending.pop_front() {
            if self.dead.contains(&u) || !self.members.contains(&u) {
                continue;
            }
            self.pending.retain(|p| !(p.0 == u && p.1 == e));
            let run = self.run(u, e);
            assert!(run.result.is_ok(), "{:?}", run.result);
            n += 1;
            assert!(n < 10_000, "the world does not settle");
        }
        n
    }

    /// What unit `u`'s callbacks ran, in order.
    pub fn ran(&self, u: u32) -> Vec<String> {
        self.states[&u]
            .files
            .get(Path::new(LOG))
            .map(|(c, _)| {
                String::from_utf8(c.clone())
                    .unwrap()
                    .lines()
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn status(&self, u: u32) -> Status {
        self.states[&u].unit_status.clone()
    }

    pub fn app_status(&self) -> Status {
        self.states[&self.leader].app_status.clone()
    }
}
