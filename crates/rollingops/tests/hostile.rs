//! Hostile and careless peers, one hook at a time in memory: extreme numbers, huge values,
//! unknown callback ids (a refresh from charmlibs-rollingops), a holder that never answers.

mod common;

use charm::{Event, StatusName};
use common::*;
use rollingops::core::{AppView, UnitBag};
use rollingops::wire::{self, limits, GrantRecord, UnitState};
use serde_json::json;

fn queue(w: &World, u: u32) -> Vec<String> {
    UnitBag::parse(&w.bags[&u])
        .queue()
        .iter()
        .map(|o| o.callback_id.clone())
        .collect()
}

fn holder(w: &World) -> Option<String> {
    AppView::parse(&w.app).grant.map(|g| g.unit)
}

fn record(w: &World) -> Option<GrantRecord> {
    AppView::parse(&w.app).record
}

fn charmlibs_queue(ids: &[&str]) -> String {
    let ops: Vec<String> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            format!(
                r#"{{"callback_id":"{id}","requested_at":"1795302851.{i}","max_retry":null,"attempt":0,"result":null,"kwargs":{{}}}}"#
            )
        })
        .collect();
    format!("[{}]", ops.join(","))
}

#[test]
fn an_ack_with_the_largest_seq_does_not_stop_the_leader() {
    let mut w = World::new(3, 0);
    w.bags.insert(
        1,
        charm::testing::bag(&[
            ("ensemble-protocol", "1"),
            (
                "ensemble-ack",
                r#"{"seq":18446744073709551615,"granted_at":"1795302851.0"}"#,
            ),
        ]),
    );
    w.request(2, "restart", json!(null), None);
    w.settle();
    assert_eq!(w.ran(2).len(), 1, "the honest request is served");
    let first = record(&w).expect("a grant record").seq;
    assert!(first <= limits::MAX_SEQ);
    // The numbering keeps growing, one grant after the other.
    w.request(2, "restart", json!({"again": 1}), None);
    w.settle();
    assert_eq!(w.ran(2).len(), 2);
    assert!(record(&w).unwrap().seq > first);
}

#[test]
fn an_ack_near_the_end_of_the_numbering_does_not_use_it_up() {
    let mut w = World::new(3, 0);
    let near = format!(r#"{{"seq":{},"granted_at":"1795302851.0"}}"#, limits::MAX_SEQ);
    w.bags.insert(
        1,
        charm::testing::bag(&[("ensemble-protocol", "1"), ("ensemble-ack", &near)]),
    );
    for i in 0..3 {
        w.request(2, "restart", json!({ "i": i }), None);
        w.settle();
    }
    assert_eq!(w.ran(2).len(), 3);
    assert!(record(&w).unwrap().seq < limits::SEQ_COUNTED_MAX);
}

#[test]
fn a_huge_granted_at_does_not_break_the_holder() {
    // A grant whose granted_at parses as a huge finite float (from a broken leader).
    let mut w = World::new(3, 0);
    w.bags.insert(
        1,
        charm::testing::bag(&[
            ("operations", &charmlibs_queue(&["restart"])),
            ("state", "request"),
        ]),
    );
    w.app.insert("granted_unit".into(), "app/1".into());
    w.app.insert("granted_at".into(), "1e300".into());
    let run = w.run(1, changed(None));
    assert!(run.result.is_ok(), "{:?}", run.result);
    assert_eq!(w.ran(1).len(), 1);
    w.settle();
    assert_eq!(holder(&w), None, "the holder's answer released the lock");
    assert!(queue(&w, 1).is_empty());
}

#[test]
fn a_megabyte_value_is_logged_bounded_and_not_stored() {
    let mut w = World::new(3, 0);
    let huge = "x".repeat(1 << 20);
    w.bags.insert(
        1,
        charm::testing::bag(&[
            ("state", huge.as_str()),
            ("ensemble-ack", huge.as_str()),
            ("executed_at", huge.as_str()),
            ("processing_backend", huge.as_str()),
            ("ensemble-leaving", huge.as_str()),
            ("ensemble-protocol", huge.as_str()),
        ]),
    );
    w.request(2, "restart", json!(null), None);
    for event in [changed(Some(1)), Event::UpdateStatus, Event::LeaderElected] {
        let run = w.run(0, event);
        assert!(run.result.is_ok());
        for (_, line) in &run.logs {
            assert!(line.len() < 1024, "a log line of {} bytes", line.len());
        }
        assert!(
            run.logs.iter().any(|(_, l)| l.contains("bytes)")),
            "{:?}",
            run.logs
        );
    }
    // Nothing of it in the leader's stored state (its cache of peer bags).
    let stored = format!("{:?}", w.states[&0].stored);
    assert!(stored.len() < 64 * 1024, "stored state of {} bytes", stored.len());
    w.settle();
    assert_eq!(w.ran(2).len(), 1);
}

#[test]
fn a_holder_that_never_answers_points_at_force_release() {
    let mut w = World::new(3, 0);
    w.request(1, "restart", json!(null), None);
    w.pending.clear();
    w.run(0, changed(Some(1)));
    assert_eq!(holder(&w).as_deref(), Some("app/1"));
    w.dead.insert(1);
    w.tick(68.0 * 60.0);
    w.run(0, Event::UpdateStatus);
    let s = w.app_status();
    assert_eq!(s.name, StatusName::Maintenance);
    assert!(s.message.contains("app/1 holds the lock (68m)"), "{}", s.message);
    assert!(
        s.message.contains("force-release action with unit=app/1"),
        "{}",
        s.message
    );
}

#[test]
fn charmlibs_callback_ids_are_parked_not_dropped_and_the_lock_moves_on() {
    // After a refresh from charmlibs' test charm: app/1 has `_restart` queued, which this charm
    // does not know.
    let mut w = World::new(3, 0);
    w.bags.insert(
        1,
        charm::testing::bag(&[
            ("operations", &charmlibs_queue(&["_restart", "_failed_restart"])),
            ("state", "request"),
        ]),
    );
    w.request(2, "restart", json!(null), None);
    w.pending.push_back((1, Event::UpgradeCharm));
    w.pending.push_back((0, Event::UpdateStatus));
    w.settle();
    assert!(w.ran(1).is_empty(), "nothing unknown runs");
    assert_eq!(
        queue(&w, 1),
        ["_restart", "_failed_restart"],
        "nothing is dropped"
    );
    assert_eq!(UnitBag::parse(&w.bags[&1]).state.unwrap(), UnitState::Idle);
    assert_eq!(w.ran(2).len(), 1, "the others are served");
    assert_eq!(holder(&w), None, "a parked queue does not hold the lock");
    let s = w.status(1);
    assert_eq!(s.name, StatusName::Blocked);
    assert!(s.message.contains("\"_restart\""), "{}", s.message);
    assert!(s.message.contains("drop-parked"), "{}", s.message);

    // A new request behind the parked ones runs; they stay.
    w.request(1, "restart", json!({"n": 1}), None);
    w.settle();
    assert_eq!(w.ran(1).len(), 1);
    assert_eq!(queue(&w, 1), ["_restart", "_failed_restart"]);

    // The charm maps charmlibs' id: `_restart` runs, `_failed_restart` stays parked.
    w.states
        .get_mut(&1)
        .unwrap()
        .config
        .insert("alias-charmlibs".into(), charm::ConfigValue::Bool(true));
    w.pending.push_back((1, Event::UpgradeCharm));
    w.settle();
    assert_eq!(w.ran(1).len(), 2);
    assert_eq!(queue(&w, 1), ["_failed_restart"]);

    // The operator drops what is left.
    let run = w.run(1, action("drop-parked"));
    assert_eq!(run.action_results["dropped"], "1");
    assert_eq!(run.action_results["callbacks"], "_failed_restart");
    assert!(queue(&w, 1).is_empty());
    assert_eq!(w.status(1).name, StatusName::Active);
}

#[test]
fn a_grant_to_a_parked_queue_is_answered_without_running() {
    // A charmlibs leader granted app/1 before the refresh; its queue holds only unknown ids.
    let mut w = World::new(3, 0);
    w.bags.insert(
        1,
        charm::testing::bag(&[
            ("operations", &charmlibs_queue(&["_restart"])),
            ("state", "request"),
        ]),
    );
    w.app.insert("granted_unit".into(), "app/1".into());
    w.app.insert("granted_at".into(), "1795302852.0".into());
    w.request(2, "restart", json!(null), None);
    w.pending.push_back((1, changed(None)));
    w.settle();
    assert!(w.ran(1).is_empty());
    assert_eq!(queue(&w, 1), ["_restart"]);
    assert_eq!(w.ran(2).len(), 1, "the lock moved on");
    assert_eq!(holder(&w), None);
}

#[test]
fn forged_grants_and_garbage_in_a_peer_bag_change_nothing() {
    let mut w = World::new(4, 0);
    w.request(1, "restart", json!(null), None);
    w.pending.clear();
    w.run(0, changed(Some(1)));
    let grant = AppView::parse(&w.app).grant.unwrap();
    // app/3 acknowledges app/1's grant, writes a forged grant into its own bag, NaN times.
    let ack = format!(
        r#"{{"seq":{},"granted_at":"{}"}}"#,
        grant.seq.unwrap(),
        grant.granted_at
    );
    w.bags.insert(
        3,
        charm::testing::bag(&[
            ("ensemble-protocol", "1"),
            ("ensemble-ack", &ack),
            ("granted_unit", "app/3"),
            ("granted_at", "NaN"),
            ("executed_at", "inf"),
            (
                "operations",
                r#"[{"callback_id":"restart","requested_at":"NaN"}]"#,
            ),
            ("state", "request"),
        ]),
    );
    w.request(2, "restart", json!(null), None);
    w.run(0, changed(Some(3)));
    assert_eq!(holder(&w).as_deref(), Some("app/1"), "only the holder releases");
    w.settle();
    assert_eq!(w.ran(1).len(), 1);
    assert_eq!(w.ran(2).len(), 1);
    assert!(w.ran(3).is_empty());
}

#[test]
fn a_request_never_makes_a_queue_that_peers_would_reject() {
    let mut w = World::new(2, 0);
    let big = "y".repeat(limits::MAX_KWARGS_LEN);
    let run = w.run_with(1, action("request"), |s| {
        s.action_params = json!({"callback": "restart", "kwargs": {"k": big}})
            .as_object()
            .unwrap()
            .clone();
    });
    assert_eq!(run.action_failure.as_deref(), Some("TooLarge(\"kwargs\")"));
    for i in 0..limits::MAX_QUEUE_LEN {
        w.run_with(1, action("request"), |s| {
            s.action_params = json!({"callback": "restart", "kwargs": {"i": i}})
                .as_object()
                .unwrap()
                .clone();
        });
    }
    let run = w.run_with(1, action("request"), |s| {
        s.action_params = json!({"callback": "restart", "kwargs": {"i": "last"}})
            .as_object()
            .unwrap()
            .clone();
    });
    assert_eq!(run.action_failure.as_deref(), Some("QueueFull"));
    assert!(wire::parse_operations(w.bags[&1].get("operations").map(String::as_str)).is_ok());
}

mod fairness {
    use super::*;
    use charm::{Databag, UnitName};
    use rollingops::core::{self, LeaderBook, LeaderInput};
    use rollingops::wire::Timestamp;
    use std::collections::{BTreeMap, BTreeSet};

    fn u(n: u32) -> UnitName {
        UnitName::parse(&format!("app/{n}")).unwrap()
    }

    fn bag(pairs: &[(&str, &str)]) -> UnitBag {
        UnitBag::parse(&charm::testing::bag(pairs))
    }

    fn decide(
        bags: &BTreeMap<UnitName, UnitBag>,
        app: &Databag,
        book: &LeaderBook,
        t: i128,
    ) -> core::Decision {
        let members: BTreeSet<UnitName> = (0..3).map(u).collect();
        core::decide(LeaderInput {
            me: &u(0),
            members: &members,
            bags,
            app: &AppView::parse(app),
            book,
            now: &Timestamp::from_micros(1_800_000_000_000_000 + t),
        })
    }

    #[test]
    fn a_peer_stuck_in_retry_hold_does_not_jump_the_queue() {
        let q = charmlibs_queue(&["restart"]);
        let mut bags = BTreeMap::new();
        bags.insert(u(1), bag(&[("operations", &q), ("state", "retry-hold")]));
        bags.insert(u(2), bag(&[("operations", &q), ("state", "request")]));
        let d = decide(&bags, &Databag::new(), &LeaderBook::default(), 0);
        assert_eq!(d.granted.map(|(u, _)| u.to_string()).as_deref(), Some("app/2"));
    }

    #[test]
    fn a_peer_that_asks_again_with_the_same_request_goes_to_the_back() {
        let q = charmlibs_queue(&["restart"]);
        let mut bags = BTreeMap::new();
        bags.insert(u(1), bag(&[("operations", &q), ("state", "request")]));
        let mut app = Databag::new();
        let d = decide(&bags, &app, &LeaderBook::default(), 0);
        assert_eq!(
            d.granted.as_ref().map(|(u, _)| u.to_string()).as_deref(),
            Some("app/1")
        );
        core::apply_changes(&mut app, &d.app);
        let grant = AppView::parse(&app).grant.unwrap();
        // app/2 asks; app/1 answers the grant but leaves its request as it was.
        bags.insert(u(2), bag(&[("operations", &q), ("state", "request")]));
        let ack = grant.id().render();
        bags.insert(
            u(1),
            bag(&[
                ("operations", &q),
                ("state", "request"),
                ("ensemble-protocol", "1"),
                ("ensemble-ack", &ack),
            ]),
        );
        let d = decide(&bags, &app, &d.book, 1);
        assert!(d.released.is_some());
        assert_eq!(d.granted.map(|(u, _)| u.to_string()).as_deref(), Some("app/2"));
    }
}
