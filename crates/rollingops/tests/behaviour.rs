//! The manager's behaviour, one hook at a time in memory: requests, retries, the scheduling
//! order, departures, the operator's action, statuses.

mod common;

use charm::testing::State;
use charm::{Event, StatusName};
use common::*;
use rollingops::core::{AppView, UnitBag};
use rollingops::wire::{self, UnitState};
use serde_json::json;

fn queue(w: &World, u: u32) -> Vec<String> {
    UnitBag::parse(&w.bags[&u])
        .queue()
        .iter()
        .map(|o| o.callback_id.clone())
        .collect()
}

fn unit_state(w: &World, u: u32) -> UnitState {
    UnitBag::parse(&w.bags[&u]).state.unwrap()
}

fn holder(w: &World) -> Option<String> {
    AppView::parse(&w.app).grant.map(|g| g.unit)
}

#[test]
fn request_validation_errors_are_typed() {
    let mut w = World::new(2, 0);
    for (cb, kwargs, want) in [
        ("", json!(null), "EmptyCallbackId"),
        ("frobnicate", json!(null), "UnknownCallback(\"frobnicate\")"),
        ("restart", json!([1, 2]), "KwargsNotObject(\"an array\")"),
        ("restart", json!("x"), "KwargsNotObject(\"a string\")"),
        ("restart", json!(3), "KwargsNotObject(\"a number\")"),
    ] {
        let run = w.run_with(1, action("request"), |s| {
            s.action_params = json!({"callback": cb, "kwargs": kwargs})
                .as_object()
                .unwrap()
                .clone();
        });
        assert_eq!(run.action_failure.as_deref(), Some(want));
    }
    // No peer relation.
    let mut h = charm::testing::Harness::new(meta(), TestCharm::default).unit_number(1);
    let state = State {
        action_params: json!({"callback": "restart"}).as_object().unwrap().clone(),
        ..State::default()
    };
    let run = h.run(action("request"), state);
    assert_eq!(run.action_failure.as_deref(), Some("NoPeerRelation(\"restart\")"));
    assert!(w.bags[&1].is_empty(), "nothing is written on a refused request");
}

#[test]
fn the_tail_is_deduplicated() {
    let mut w = World::new(2, 0);
    let r = w.request(1, "restart", json!({"a": 1}), None);
    assert_eq!(r.action_results["result"], "Added");
    let r = w.request(1, "restart", json!({"a": 1}), Some(3));
    assert_eq!(r.action_results["result"], "Deduplicated");
    w.request(1, "retry", json!(null), None);
    w.request(1, "restart", json!({"a": 1}), None);
    assert_eq!(queue(&w, 1), ["restart", "retry", "restart"]);
    w.request(1, "restart", json!({"a": 2}), None);
    assert_eq!(queue(&w, 1).len(), 4);
}

#[test]
fn a_follower_runs_its_operation_after_the_leaders_grant() {
    let mut w = World::new(3, 0);
    w.request(2, "restart", json!({"delay": 3}), Some(2));
    assert_eq!(unit_state(&w, 2), UnitState::Request);
    assert_eq!(w.status(2).name, StatusName::Waiting);
    assert_eq!(
        w.status(2).message,
        "waiting for the rolling-ops lock to run restart"
    );
    w.settle();
    assert_eq!(w.ran(2), [r#"restart {"delay":3}"#]);
    assert!(w.ran(1).is_empty() && w.ran(0).is_empty());
    assert_eq!(queue(&w, 2), Vec::<String>::new());
    assert_eq!(unit_state(&w, 2), UnitState::Idle);
    assert_eq!(holder(&w), None, "the leader released the lock");
    assert_eq!(w.status(2).name, StatusName::Active);
    // The grant record stays, with the sequence number, after the release.
    let record = AppView::parse(&w.app).record.unwrap();
    assert_eq!((record.seq, record.unit.as_str()), (1, "app/2"));
}

#[test]
fn max_retry_one_gives_two_runs() {
    let mut w = World::new(2, 0);
    w.request(1, "retry", json!(null), Some(1));
    w.settle();
    assert_eq!(w.ran(1), ["retry", "retry"]);
    assert!(queue(&w, 1).is_empty());
    assert_eq!(unit_state(&w, 1), UnitState::Idle);

    let mut w = World::new(2, 0);
    w.request(1, "retry", json!(null), Some(0));
    w.settle();
    assert_eq!(w.ran(1), ["retry"]);

    // None: forever. Stop after a few hand-overs: still queued, attempt counting.
    let mut w = World::new(2, 0);
    w.request(1, "retry", json!(null), None);
    for _ in 0..40 {
        if let Some((u, e)) = w.pending.pop_front() {
            w.run(u, e);
        }
    }
    assert!(w.ran(1).len() >= 5, "{:?}", w.ran(1));
    let q = UnitBag::parse(&w.bags[&1]);
    assert_eq!(q.queue().len(), 1);
    assert!(q.queue()[0].attempt >= 4);
}

#[test]
fn a_failing_callback_counts_as_retry_release() {
    let mut w = World::new(2, 0);
    w.request(1, "fail", json!(null), Some(5));
    // Leader grants, unit 1 runs once.
    let (u, e) = w.pending.pop_front().unwrap();
    assert_eq!(u, 0);
    w.run(u, e);
    let run = w.run(1, changed(None));
    assert!(run.result.is_ok(), "the hook does not fail: {:?}", run.result);
    assert_eq!(w.ran(1), ["fail"]);
    assert_eq!(unit_state(&w, 1), UnitState::RetryRelease);
    let q = UnitBag::parse(&w.bags[&1]);
    assert_eq!(q.queue()[0].attempt, 1);
    assert!(run
        .logs
        .iter()
        .any(|(_, m)| m.contains("operation fail failed (the workload refused)")));
}

#[test]
fn retry_release_alternates_and_retry_hold_keeps_the_lock() {
    let mut w = World::new(3, 0);
    w.request(1, "retry", json!(null), Some(1));
    w.request(2, "retry", json!(null), Some(1));
    w.settle();
    let order: Vec<u32> = w.runs.iter().map(|(u, _)| *u).collect();
    assert_eq!(order, [1, 2, 1, 2]);

    let mut w = World::new(3, 0);
    w.request(1, "hold", json!(null), Some(2));
    w.request(2, "restart", json!(null), None);
    w.settle();
    let order: Vec<u32> = w.runs.iter().map(|(u, _)| *u).collect();
    assert_eq!(order, [1, 1, 1, 2], "retry-hold keeps the lock");
}

#[test]
fn an_unknown_callback_is_parked() {
    let mut w = World::new(2, 0);
    // A queue written by a charm revision that had a callback this one lacks.
    w.bags.get_mut(&1).unwrap().extend(charm::testing::bag(&[
        (
            "operations",
            r#"[{"callback_id":"vanished","requested_at":"1795302851.949266","max_retry":null,"attempt":0,"result":null,"kwargs":{}}]"#,
        ),
        ("state", "request"),
    ]));
    w.pending.push_back((0, changed(Some(1))));
    w.settle();
    assert!(w.ran(1).is_empty());
    assert_eq!(queue(&w, 1), ["vanished"], "kept, not dropped");
    assert_eq!(unit_state(&w, 1), UnitState::Idle);
    assert_eq!(holder(&w), None);
}

#[test]
fn order_is_first_seen_by_the_leader_with_ties_by_unit_number() {
    let mut w = World::new(12, 0);
    // Unit 11 and unit 2 request before the leader looks: seen together, so unit 2 (lower
    // number, not "app/11" < "app/2" as strings) goes first. Unit 5 comes later.
    w.request(11, "restart", json!(null), None);
    w.request(2, "restart", json!(null), None);
    w.pending.clear();
    // Give unit 0 (the leader) a busy lock so that nobody is granted at first sight.
    w.request(0, "hold", json!(null), Some(0));
    w.run(0, changed(Some(11)));
    w.request(5, "restart", json!(null), None);
    w.settle();
    let order: Vec<u32> = w.runs.iter().map(|(u, _)| *u).collect();
    assert_eq!(order, [0, 2, 11, 5]);
}

#[test]
fn skewed_clocks_change_nothing() {
    let mut w = World::new(4, 0);
    // Unit 1's clock is 11 days ahead, unit 2's 11 days behind, unit 3's a year behind.
    w.clock(1, 1_801_000_000.0);
    w.clock(2, 1_799_000_000.0);
    w.clock(3, 1_768_000_000.0);
    w.request(1, "hold", json!(null), Some(0));
    w.run(0, changed(Some(1)));
    assert_eq!(holder(&w).as_deref(), Some("app/1"));
    // Requests in the order 1 (busy), 2, 3: requested_at says 3 is oldest; ensemble ignores it.
    w.request(2, "restart", json!(null), None);
    w.run(0, changed(Some(2)));
    w.request(3, "restart", json!(null), None);
    w.run(0, changed(Some(3)));
    // charmlibs' hole: a unit whose clock is ahead wrote executed_at long after granted_at.
    // Here unit 3 (a year behind) holds nothing; unit 1's future executed_at is not looked at
    // for anyone else's grant.
    w.settle();
    let order: Vec<u32> = w.runs.iter().map(|(u, _)| *u).collect();
    assert_eq!(order, [1, 2, 3]);
}

#[test]
fn a_non_holder_with_a_future_executed_at_does_not_release_the_holder() {
    // The scenario of charmlibs' bug: app/2 holds the lock; app/1 (clock 30 s ahead) has an
    // executed_at after granted_at. A charmlibs leader released app/2 here.
    let mut w = World::new(4, 0);
    w.bags.insert(
        1,
        charm::testing::bag(&[
            ("executed_at", "1800000030.0"),
            ("state", "idle"),
            ("operations", "[]"),
        ]),
    );
    w.request(2, "restart", json!(null), None);
    w.request(3, "restart", json!(null), None);
    w.run(0, changed(Some(2)));
    assert_eq!(holder(&w).as_deref(), Some("app/2"));
    w.run(0, changed(Some(1)));
    w.run(0, changed(Some(3)));
    assert_eq!(
        holder(&w).as_deref(),
        Some("app/2"),
        "only the holder can release"
    );
}

#[test]
fn the_leader_runs_its_own_operation_in_the_next_hook_without_delay() {
    let mut w = World::new(3, 0);
    let run = w.request(0, "restart", json!(null), None);
    // Granted in the requesting hook, not run there; a custom event is dispatched at once.
    assert_eq!(holder(&w).as_deref(), Some("app/0"));
    assert!(w.ran(0).is_empty());
    assert_eq!(
        run.scheduled,
        [(
            rollingops::LOCK_GRANTED_EVENT.to_owned(),
            std::time::Duration::ZERO
        )]
    );
    // Followers see the app bag change; the leader's custom event runs the operation and
    // releases in the same hook.
    let (u, e) = w.pending.pop_back().unwrap();
    assert_eq!((u, &e), (0, &granted_event()));
    w.run(u, e);
    assert_eq!(w.ran(0), ["restart {}"]);
    assert_eq!(holder(&w), None);
    w.settle();
    assert_eq!(w.ran(0).len(), 1);
}

#[test]
fn a_hand_over_takes_two_hooks_on_the_critical_path() {
    let mut w = World::new(3, 0);
    w.request(1, "restart", json!(null), None);
    w.request(2, "restart", json!(null), None);
    w.pending.clear();
    w.run(0, changed(Some(2)));
    assert_eq!(holder(&w).as_deref(), Some("app/1"));
    // Holder runs and releases (its bag write), then: leader hook, next holder hook.
    w.run(1, changed(None));
    assert_eq!(w.ran(1).len(), 1);
    w.run(0, changed(Some(1)));
    assert_eq!(holder(&w).as_deref(), Some("app/2"));
    w.run(2, changed(None));
    assert_eq!(w.ran(2).len(), 1);
}

#[test]
fn a_holder_that_leaves_gracefully_releases() {
    let mut w = World::new(3, 0);
    w.request(1, "restart", json!(null), None);
    w.request(2, "restart", json!(null), None);
    w.pending.clear();
    w.run(0, changed(Some(2)));
    assert_eq!(holder(&w).as_deref(), Some("app/1"));
    // app/1 is removed before it ran: its own relation-departed hooks come first, then the
    // others see it depart; its data stays readable.
    let run = w.run(1, departed(0, 1));
    assert!(run.result.is_ok());
    assert!(w.ran(1).is_empty(), "a leaving unit runs nothing");
    assert_eq!(
        w.bags[&1].get(wire::ENSEMBLE_LEAVING).map(String::as_str),
        Some("true")
    );
    w.members.remove(&1);
    w.readable.insert(1);
    w.pending.clear();
    w.run(0, departed(1, 1));
    assert_eq!(holder(&w).as_deref(), Some("app/2"));
    w.settle();
    assert_eq!(w.ran(2).len(), 1);
}

#[test]
fn a_leaving_holder_seen_late_is_released_on_the_next_leader_hook() {
    let mut w = World::new(3, 0);
    w.request(1, "restart", json!(null), None);
    w.request(2, "restart", json!(null), None);
    w.pending.clear();
    w.run(0, changed(Some(2)));
    // The leader sees app/1 depart while app/1 may still be running its operation: the lock
    // stays where it is.
    w.members.remove(&1);
    w.readable.insert(1);
    w.run(0, departed(1, 1));
    assert_eq!(holder(&w).as_deref(), Some("app/1"));
    assert_eq!(w.app_status().name, StatusName::Blocked);
    // app/1's own departing hook runs later and says it is done; the leader's next hook (here
    // update-status) releases.
    w.run(1, departed(0, 1));
    w.run(0, Event::UpdateStatus);
    assert_eq!(holder(&w).as_deref(), Some("app/2"));
}

#[test]
fn a_holder_removed_with_force_keeps_the_lock_until_an_operator_releases_it() {
    let mut w = World::new(3, 0);
    w.request(1, "restart", json!(null), None);
    w.request(2, "restart", json!(null), None);
    w.pending.clear();
    w.run(0, changed(Some(2)));
    w.tick(600.0);
    // Forced removal: no hook of app/1 runs; the others see it depart.
    w.dead.insert(1);
    w.members.remove(&1);
    w.readable.insert(1);
    w.run(0, departed(1, 1));
    w.tick(125.0);
    w.run(0, Event::UpdateStatus);
    assert_eq!(holder(&w).as_deref(), Some("app/1"));
    let s = w.app_status();
    assert_eq!(s.name, StatusName::Blocked);
    assert_eq!(
        s.message,
        "rolling ops: app/1 left holding the lock (12m); if its operation is not running, run the \
         force-release action with unit=app/1; 1 unit queued"
    );

    // The action: on a follower it fails; naming another unit fails; naming the holder works.
    let run = w.run(2, action(rollingops::FORCE_RELEASE_ACTION));
    assert_eq!(
        run.action_failure.as_deref(),
        Some("run force-release on the leader unit")
    );
    let run = w.run_with(0, action(rollingops::FORCE_RELEASE_ACTION), |s| {
        s.action_params = json!({"unit": "app/2"}).as_object().unwrap().clone();
    });
    assert_eq!(
        run.action_failure.as_deref(),
        Some("cannot force-release: the lock is held by app/1, not app/2")
    );
    let run = w.run_with(0, action(rollingops::FORCE_RELEASE_ACTION), |s| {
        s.action_params = json!({"unit": "app/1"}).as_object().unwrap().clone();
    });
    assert_eq!(run.action_failure, None);
    assert_eq!(run.action_results["released"], "app/1");
    assert_eq!(run.action_results["granted"], "app/2");
    assert_eq!(holder(&w).as_deref(), Some("app/2"));
    w.settle();
    assert_eq!(w.ran(2).len(), 1);
    assert_eq!(holder(&w), None);
}

#[test]
fn a_holder_whose_agent_died_keeps_the_lock_and_goes_to_the_back_when_released() {
    let mut w = World::new(4, 0);
    w.request(1, "restart", json!(null), None);
    w.request(2, "restart", json!(null), None);
    w.request(3, "restart", json!(null), None);
    w.pending.clear();
    w.run(0, changed(Some(3)));
    assert_eq!(holder(&w).as_deref(), Some("app/1"));
    w.dead.insert(1);
    w.settle();
    assert_eq!(holder(&w).as_deref(), Some("app/1"), "never reused silently");
    let s = w.app_status();
    assert_eq!(s.name, StatusName::Maintenance);
    assert!(
        s.message.starts_with("rolling ops: app/1 holds the lock ("),
        "{s:?}"
    );
    w.run_with(0, action(rollingops::FORCE_RELEASE_ACTION), |s| {
        s.action_params = json!({"unit": "app/1"}).as_object().unwrap().clone();
    });
    // The agent comes back: it is served after the others.
    w.dead.remove(&1);
    w.settle();
    let order: Vec<u32> = w.runs.iter().map(|(u, _)| *u).collect();
    assert_eq!(order, [2, 3, 1]);
}

#[test]
fn garbage_from_a_peer_is_skipped_and_logged() {
    let mut w = World::new(3, 0);
    w.bags.insert(
        1,
        charm::testing::bag(&[("operations", "{not json"), ("state", "request")]),
    );
    w.request(2, "restart", json!(null), None);
    let run = w.run(0, changed(Some(1)));
    assert!(run.result.is_ok());
    assert!(run
        .logs
        .iter()
        .any(|(_, m)| m.starts_with("rolling ops: skipping app/1: the operations queue is not a list")));
    assert_eq!(holder(&w).as_deref(), Some("app/2"));
    // The peer's own queue is never overwritten.
    assert_eq!(w.bags[&1]["operations"], "{not json");
    // On the unit itself, a request does not lose the queue: it is refused.
    let run = w.run_with(1, action("request"), |s| {
        s.action_params = json!({"callback": "restart"}).as_object().unwrap().clone();
    });
    assert!(run.action_failure.unwrap().starts_with("CorruptQueue("));
    assert_eq!(w.bags[&1]["operations"], "{not json");
    // A malformed state, a malformed app bag record: skipped, no panic.
    w.bags.insert(1, charm::testing::bag(&[("state", "acquire")]));
    w.app.insert(wire::ENSEMBLE_GRANT.into(), "{".into());
    let run = w.run(0, Event::UpdateStatus);
    assert!(run.result.is_ok());
}

#[test]
fn state_and_waiting_queries() {
    use rollingops::{LockStatus, RollingOps};
    #[derive(Default)]
    struct Probe;
    impl charm::Charm for Probe {
        fn register(on: &mut charm::Observers<Self>) {
            on.observe("probe", |_, ctx, _| {
                let r: RollingOps<Probe> = RollingOps::new(ENDPOINT)
                    .target("restart", |_, _, _| Ok(rollingops::OperationResult::Release));
                let s = r.state(ctx)?;
                let mut m = serde_json::Map::new();
                m.insert("status".into(), json!(format!("{:?}", s.status)));
                if s.status == LockStatus::NotReady {
                    m.insert(
                        "waiting".into(),
                        json!(format!("{:?}", r.is_waiting(ctx, None).err())),
                    );
                    ctx.action_set(&m)?;
                    return Ok(());
                }
                m.insert("waiting".into(), json!(r.is_waiting(ctx, None)?));
                m.insert("waiting-2".into(), json!(r.is_waiting(ctx, Some(&unit(2)))?));
                m.insert(
                    "restart-2".into(),
                    json!(r.is_waiting_callback(ctx, "restart", Some(&unit(2)))?),
                );
                m.insert(
                    "other-2".into(),
                    json!(r.is_waiting_callback(ctx, "other", Some(&unit(2)))?),
                );
                m.insert(
                    "unknown".into(),
                    json!(format!("{:?}", r.is_waiting(ctx, Some(&unit(9))).err())),
                );
                ctx.action_set(&m)?;
                Ok(())
            });
        }
    }
    let mut w = World::new(3, 0);
    w.request(2, "restart", json!(null), None);
    let mut h = charm::testing::Harness::new(meta(), Probe::default).unit_number(1);
    let run = h.run(action("probe"), w.state_for(1));
    assert!(run.result.is_ok(), "{:?}", run.result);
    assert_eq!(run.action_results["status"], "Idle");
    assert_eq!(run.action_results["waiting"], "false");
    assert_eq!(run.action_results["waiting-2"], "true");
    assert_eq!(run.action_results["restart-2"], "true");
    assert_eq!(run.action_results["other-2"], "false");
    assert_eq!(
        run.action_results["unknown"],
        "Some(UnitNotInRelation(\"app/9\"))"
    );
    let mut h = charm::testing::Harness::new(meta(), Probe::default).unit_number(2);
    let run = h.run(action("probe"), w.state_for(2));
    assert_eq!(run.action_results["status"], "Waiting");
    w.run(0, changed(Some(2)));
    let run = h.run(action("probe"), w.state_for(2));
    assert_eq!(run.action_results["status"], "Granted");
    let mut h = charm::testing::Harness::new(meta(), Probe::default).unit_number(2);
    let run = h.run(action("probe"), State::default());
    assert_eq!(run.action_results["status"], "NotReady");
    assert_eq!(run.action_results["waiting"], "Some(NoPeerRelation(\"restart\"))");
}

#[test]
fn statuses_tell_what_is_happening() {
    let mut w = World::new(4, 0);
    w.request(1, "restart", json!(null), None);
    w.request(1, "retry", json!(null), Some(0));
    assert_eq!(
        w.status(1).message,
        "waiting for the rolling-ops lock to run restart; 2 queued"
    );
    w.request(2, "restart", json!(null), None);
    w.request(3, "restart", json!(null), None);
    w.pending.clear();
    w.run(0, changed(Some(3)));
    let s = w.app_status();
    assert_eq!(
        (s.name, s.message.as_str()),
        (
            StatusName::Maintenance,
            "rolling ops: app/1 holds the lock (0s); 2 units queued"
        )
    );
    let run = w.run(1, changed(None));
    assert!(run
        .status_history
        .iter()
        .any(|(_, s)| s.message == "running restart (rolling ops)"));
    w.settle();
    assert_eq!(w.status(1).name, StatusName::Active);
    assert_eq!(w.app_status().name, StatusName::Active);
}

#[test]
fn a_holder_stuck_in_error_reruns_its_operation_and_keeps_the_lock() {
    let mut w = World::new(3, 0);
    w.request(1, "restart", json!(null), None);
    w.request(2, "restart", json!(null), None);
    w.pending.clear();
    w.run(0, changed(Some(2)));
    w.states
        .get_mut(&1)
        .unwrap()
        .config
        .insert("fail-hooks".into(), charm::ConfigValue::Bool(true));
    // The operation runs, then the hook fails: nothing commits; Juju retries the hook and the
    // operation runs again (callbacks are idempotent). The lock stays with app/1.
    for _ in 0..3 {
        let run = w.run(1, changed(None));
        assert!(run.result.is_err());
    }
    assert_eq!(w.ran(1).len(), 3);
    assert_eq!(holder(&w).as_deref(), Some("app/1"));
    w.run(0, Event::UpdateStatus);
    assert!(w
        .app_status()
        .message
        .starts_with("rolling ops: app/1 holds the lock"));
    // `juju resolved`: the hook succeeds at last, the unit answers, the lock moves on.
    w.states.get_mut(&1).unwrap().config.clear();
    w.run(1, changed(None));
    w.settle();
    assert_eq!(w.ran(1).len(), 4);
    assert_eq!(w.ran(2).len(), 1);
    assert_eq!(holder(&w), None);
}

#[test]
fn a_new_leader_keeps_the_grant_it_finds() {
    let mut w = World::new(4, 0);
    w.request(1, "restart", json!(null), None);
    w.request(2, "restart", json!(null), None);
    w.request(3, "restart", json!(null), None);
    w.pending.clear();
    w.run(0, changed(Some(3)));
    assert_eq!(holder(&w).as_deref(), Some("app/1"));
    // Leadership moves to app/3 (which is waiting itself): it keeps app/1's grant.
    w.leader = 3;
    w.run(3, Event::LeaderElected);
    assert_eq!(holder(&w).as_deref(), Some("app/1"));
    w.settle();
    let order: Vec<u32> = w.runs.iter().map(|(u, _)| *u).collect();
    assert_eq!(order, [1, 2, 3]);
    assert_eq!(holder(&w), None);
}

#[test]
fn the_leader_leaving_while_holding_releases_and_hands_over() {
    let mut w = World::new(3, 0);
    w.request(0, "restart", json!(null), None);
    w.request(1, "restart", json!(null), None);
    w.pending.clear();
    assert_eq!(holder(&w).as_deref(), Some("app/0"));
    // The leader is removed before its lock-granted hook: its departing hook answers the grant
    // without running, releases it and grants app/1.
    w.run(0, departed(1, 0));
    assert!(w.ran(0).is_empty());
    assert_eq!(holder(&w).as_deref(), Some("app/1"));
    w.settle();
    assert_eq!(w.ran(1).len(), 1);
}

fn fail_hooks(w: &mut World, u: u32, on: bool) {
    let config = &mut w.states.get_mut(&u).unwrap().config;
    if on {
        config.insert("fail-hooks".into(), charm::ConfigValue::Bool(true));
    } else {
        config.clear();
    }
}

#[test]
fn a_holder_whose_run_was_cut_short_keeps_the_lock_when_it_leaves() {
    let mut w = World::new(3, 0);
    w.request(1, "restart", json!(null), None);
    w.request(2, "restart", json!(null), None);
    w.pending.clear();
    w.run(0, changed(Some(2)));
    assert_eq!(holder(&w).as_deref(), Some("app/1"));
    // app/1 starts its operation, and its hook is cut short (a failed hook commits nothing,
    // as a killed one): the operation may still be running.
    fail_hooks(&mut w, 1, true);
    assert!(w.run(1, changed(None)).result.is_err());
    assert_eq!(w.ran(1).len(), 1);
    fail_hooks(&mut w, 1, false);
    // The unit is removed before it runs that hook again: it leaves without answering.
    let run = w.run(1, departed(0, 1));
    assert!(run.result.is_ok());
    assert_eq!(w.ran(1).len(), 1, "a leaving unit runs nothing");
    let bag = UnitBag::parse(&w.bags[&1]);
    assert!(bag.leaving && bag.interrupted, "{:?}", w.bags[&1]);
    assert_eq!(bag.ack, None, "the grant is not answered");
    w.members.remove(&1);
    w.readable.insert(1);
    w.run(0, departed(1, 1));
    w.run(0, Event::UpdateStatus);
    assert_eq!(holder(&w).as_deref(), Some("app/1"), "never reused silently");
    assert_eq!(w.app_status().name, StatusName::Blocked);
    assert!(w.ran(2).is_empty());
    // The operator checks that the operation is over, then releases the lock.
    let run = w.run_with(0, action(rollingops::FORCE_RELEASE_ACTION), |s| {
        s.action_params = json!({"unit": "app/1"}).as_object().unwrap().clone();
    });
    assert_eq!(run.action_results["granted"], "app/2");
    w.settle();
    assert_eq!(w.ran(2).len(), 1);
    assert_eq!(holder(&w), None);
}

#[test]
fn a_holder_whose_run_committed_leaves_without_keeping_anything() {
    let mut w = World::new(3, 0);
    w.request(1, "restart", json!(null), None);
    w.request(1, "retry", json!(null), None);
    w.pending.clear();
    w.run(0, changed(Some(1)));
    // app/1 runs its operation and commits its answer; it is removed before the leader moved
    // the lock on. Its run mark is cleared (the answer is committed), so it leaves plainly.
    w.run(1, changed(None));
    assert_eq!(w.ran(1).len(), 1);
    let run = w.run(1, departed(0, 1));
    assert!(run.result.is_ok());
    assert_eq!(
        w.bags[&1].get(wire::ENSEMBLE_LEAVING).map(String::as_str),
        Some("true"),
        "the committed run clears the run mark"
    );
}

#[test]
fn a_status_set_in_a_failed_hook_does_not_stay() {
    let mut w = World::new(2, 0);
    // The request's hook fails after the library set the waiting status: the request is not
    // committed, the status (applied at once, as in Juju) is.
    fail_hooks(&mut w, 1, true);
    let run = w.run_with(1, action("request"), |s| {
        s.action_params = json!({"callback": "restart"}).as_object().unwrap().clone();
    });
    assert!(run.result.is_err());
    assert_eq!(w.status(1).name, StatusName::Waiting);
    assert!(queue(&w, 1).is_empty());
    fail_hooks(&mut w, 1, false);
    w.run(1, Event::UpdateStatus);
    assert_eq!(w.status(1).name, StatusName::Active, "{:?}", w.status(1));
}

#[test]
fn a_new_leader_clears_an_application_status_its_predecessor_left() {
    let mut w = World::new(3, 0);
    w.request(1, "restart", json!(null), None);
    w.pending.clear();
    w.run(0, changed(Some(1)));
    assert_eq!(w.app_status().name, StatusName::Maintenance);
    // Leadership moves to app/2 (the application status is the application's, whoever sets
    // it); the lock is released under the new leader.
    let status = w.app_status();
    w.leader = 2;
    w.states.get_mut(&2).unwrap().app_status = status;
    w.settle();
    assert_eq!(holder(&w), None);
    assert_eq!(w.app_status().name, StatusName::Active, "{:?}", w.app_status());
}
