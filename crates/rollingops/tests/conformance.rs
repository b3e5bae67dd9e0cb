//! Wire conformance with charmlibs-rollingops 1.1.5: bags written by charmlibs are read as
//! charmlibs means them, and the bags ensemble writes are, key for key and byte for byte, what
//! charmlibs writes (plus ensemble's own keys, which charmlibs ignores).

mod common;

use charm::testing::bag;
use charm::Event;
use common::*;
use rollingops::core::{AppView, UnitBag};
use rollingops::wire::{self, UnitState};
use serde_json::json;

/// The unit bag from the trace of a charmlibs run (reference protocol notes, step 1).
const CHARMLIBS_QUEUE: &str = r#"[{"callback_id":"restart","requested_at":"1795302851.949266","max_retry":2,"attempt":0,"result":null,"kwargs":{"delay":3}}]"#;

fn charmlibs_requester() -> charm::Databag {
    bag(&[
        ("operations", CHARMLIBS_QUEUE),
        ("state", "request"),
        ("processing_backend", "peer"),
        ("etcd_cleanup_needed", "true"),
    ])
}

#[test]
fn a_charmlibs_unit_bag_reads_as_charmlibs_means_it() {
    let b = UnitBag::parse(&charmlibs_requester());
    let q = b.operations.as_ref().unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].callback_id, "restart");
    assert_eq!(q[0].requested_at.as_str(), "1795302851.949266");
    assert_eq!(q[0].max_retry, Some(2));
    assert_eq!(q[0].attempt, 0);
    assert_eq!(q[0].kwargs["delay"], json!(3));
    assert_eq!(b.state, Ok(UnitState::Request));
    assert!(!b.ensemble && b.ack.is_none() && !b.leaving);
    // Re-rendered, byte for byte.
    assert_eq!(wire::render_operations(q), CHARMLIBS_QUEUE);

    let idle = UnitBag::parse(&bag(&[
        ("operations", "[]"),
        ("state", "idle"),
        ("executed_at", "1795302860.5"),
    ]));
    assert_eq!(idle.state, Ok(UnitState::Idle));
    assert_eq!(idle.executed_at.unwrap().as_str(), "1795302860.5");
    // A missing state is idle.
    assert_eq!(UnitBag::parse(&bag(&[])).state, Ok(UnitState::Idle));

    let app = AppView::parse(&bag(&[
        ("granted_unit", "app/1"),
        ("granted_at", "1795302851.960001"),
    ]));
    let g = app.grant.unwrap();
    assert_eq!(
        (g.unit.as_str(), g.granted_at.as_str(), g.seq),
        ("app/1", "1795302851.960001", None)
    );
}

#[test]
fn ensemble_writes_the_bags_charmlibs_writes() {
    let mut w = World::new(2, 0);
    w.clock(1, 1_795_302_851.949266);
    w.clock(0, 1_795_302_852.0);
    w.request(1, "restart", json!({"delay": 3}), Some(2));
    assert_eq!(
        w.bags[&1],
        bag(&[
            ("operations", CHARMLIBS_QUEUE),
            ("state", "request"),
            ("processing_backend", "peer"),
            ("etcd_cleanup_needed", "true"),
            ("ensemble-protocol", "1"),
        ])
    );
    // The leader's grant: charmlibs' two keys, plus ensemble's record.
    w.run(0, changed(Some(1)));
    assert_eq!(
        w.app,
        bag(&[
            ("granted_unit", "app/1"),
            ("granted_at", "1795302852.0"),
            (
                "ensemble-grant",
                r#"{"seq":1,"unit":"app/1","granted_at":"1795302852.0"}"#
            ),
        ])
    );
    // The holder's answer: charmlibs' keys after a run, plus the acknowledgement.
    w.clock(1, 1_795_302_853.25);
    w.run(1, changed(None));
    assert_eq!(
        w.bags[&1],
        bag(&[
            ("operations", "[]"),
            ("state", "idle"),
            ("executed_at", "1795302853.25"),
            ("processing_backend", "peer"),
            ("etcd_cleanup_needed", "true"),
            ("ensemble-protocol", "1"),
            ("ensemble-ack", r#"{"seq":1,"granted_at":"1795302852.0"}"#),
        ])
    );
    // The release: charmlibs' keys deleted, ensemble's record kept for the numbering.
    w.run(0, changed(Some(1)));
    assert_eq!(
        w.app,
        bag(&[(
            "ensemble-grant",
            r#"{"seq":1,"unit":"app/1","granted_at":"1795302852.0"}"#
        )])
    );
}

#[test]
fn a_retry_writes_the_attempt_as_charmlibs_does() {
    let mut w = World::new(2, 0);
    w.clock(1, 1_795_302_851.949266);
    w.request(1, "retry", json!({"b": [1, {"y": 2, "x": 1}], "a": "z"}), Some(3));
    w.run(0, changed(Some(1)));
    w.run(1, changed(None));
    assert_eq!(
        w.bags[&1]["operations"],
        r#"[{"callback_id":"retry","requested_at":"1795302851.949266","max_retry":3,"attempt":1,"result":null,"kwargs":{"a":"z","b":[1,{"x":1,"y":2}]}}]"#
    );
    assert_eq!(w.bags[&1]["state"], "retry-release");
}

#[test]
fn a_charmlibs_leader_releases_an_ensemble_holder_whatever_the_clocks() {
    // A charmlibs leader granted app/1 at T (its clock); app/1 runs ensemble and its clock is
    // 100 s behind. charmlibs releases when executed_at > granted_at: ensemble's executed_at is
    // never before the grant it answers.
    let mut w = World::new(2, 0);
    w.bags.insert(1, charmlibs_requester());
    w.app = bag(&[("granted_unit", "app/1"), ("granted_at", "1795302951.5")]);
    w.clock(1, 1_795_302_851.5);
    let run = w.run(1, changed(None));
    assert!(run.result.is_ok());
    assert_eq!(w.ran(1), [r#"restart {"delay":3}"#]);
    let b = &w.bags[&1];
    assert_eq!(b["executed_at"], "1795302951.500001");
    assert_eq!(b["ensemble-ack"], r#"{"seq":null,"granted_at":"1795302951.5"}"#);
    assert_eq!(b["state"], "idle");
    // It does not run the same grant twice.
    w.run(1, Event::UpdateStatus);
    assert_eq!(w.ran(1).len(), 1);
}

#[test]
fn an_ensemble_leader_releases_a_charmlibs_holder_by_charmlibs_rule() {
    let mut w = World::new(3, 0);
    w.clock(0, 1_795_302_900.0);
    w.bags.insert(1, charmlibs_requester());
    w.bags.insert(2, charmlibs_requester());
    w.run(0, changed(Some(1)));
    assert_eq!(AppView::parse(&w.app).grant.unwrap().unit, "app/1");
    // charmlibs unit app/1 runs and writes what charmlibs writes (no ensemble keys), with one
    // more operation queued: state request, executed_at after granted_at.
    w.bags.insert(
        1,
        bag(&[
            (
                "operations",
                &CHARMLIBS_QUEUE.replace("1795302851.949266", "1795302899.0"),
            ),
            ("state", "request"),
            ("executed_at", "1795302901.0"),
            ("processing_backend", "peer"),
            ("etcd_cleanup_needed", "true"),
        ]),
    );
    w.run(0, changed(Some(1)));
    let g = AppView::parse(&w.app).grant.unwrap();
    assert_eq!(
        g.unit, "app/2",
        "released by executed_at > granted_at, restricted to the holder"
    );
    // app/2 (charmlibs) finishes: idle.
    w.bags.insert(
        2,
        bag(&[("operations", "[]"), ("state", "idle"), ("executed_at", "1.0")]),
    );
    w.run(0, changed(Some(2)));
    assert_eq!(
        AppView::parse(&w.app).grant.unwrap().unit,
        "app/1",
        "released because the holder is idle, even with its clock far behind"
    );
}

#[test]
fn a_refresh_from_charmlibs_mid_queue_continues_from_the_bags() {
    // Bags as charmlibs left them: app/1 granted and not yet run, app/2 waiting.
    let mut w = World::new(3, 0);
    w.bags.insert(1, charmlibs_requester());
    w.bags.insert(2, charmlibs_requester());
    w.app = bag(&[("granted_unit", "app/1"), ("granted_at", "1795302851.960001")]);
    // After the refresh, every unit runs upgrade-charm; the leader first.
    for u in [0, 1, 2] {
        w.pending.push_back((u, Event::UpgradeCharm));
    }
    w.settle();
    assert_eq!(w.ran(1), [r#"restart {"delay":3}"#]);
    assert_eq!(w.ran(2), [r#"restart {"delay":3}"#]);
    let order: Vec<u32> = w.runs.iter().map(|(u, _)| *u).collect();
    assert_eq!(order, [1, 2]);
    assert_eq!(AppView::parse(&w.app).grant, None);
    assert_eq!(AppView::parse(&w.app).record.unwrap().seq, 1);
}

#[test]
fn a_grant_already_run_under_charmlibs_is_not_run_again_after_a_refresh() {
    let mut w = World::new(2, 0);
    // app/1 ran under charmlibs (executed_at after granted_at) with one more op queued; the
    // charmlibs leader had not released yet when the charm was refreshed.
    w.bags.insert(
        1,
        bag(&[
            ("operations", CHARMLIBS_QUEUE),
            ("state", "request"),
            ("executed_at", "1795302855.0"),
        ]),
    );
    w.app = bag(&[("granted_unit", "app/1"), ("granted_at", "1795302851.960001")]);
    w.run(1, Event::UpgradeCharm);
    assert!(w.ran(1).is_empty());
    assert_eq!(
        w.bags[&1]["ensemble-ack"],
        r#"{"seq":null,"granted_at":"1795302851.960001"}"#
    );
    // Then the leader releases and grants again (seq 1): the queued operation runs once.
    w.pending.clear();
    w.run(0, Event::UpgradeCharm);
    let g = AppView::parse(&w.app).grant.unwrap();
    assert_eq!((g.unit.as_str(), g.seq), ("app/1", Some(1)));
    w.settle();
    assert_eq!(w.ran(1).len(), 1);
}

#[test]
fn a_stale_ensemble_record_does_not_bind_a_charmlibs_grant() {
    // An ensemble leader granted seq 4 to app/1 earlier; then a charmlibs leader granted app/1
    // again: the record no longer describes the grant, which has no sequence number.
    let app = AppView::parse(&bag(&[
        ("granted_unit", "app/1"),
        ("granted_at", "1795302999.0"),
        (
            "ensemble-grant",
            r#"{"seq":4,"unit":"app/1","granted_at":"1795302851.0"}"#,
        ),
    ]));
    assert_eq!(app.grant.unwrap().seq, None);
    assert_eq!(app.record.unwrap().seq, 4);
}

#[test]
fn sequence_numbers_never_go_back() {
    // The record was lost (bag edited by hand), but units acknowledged grants up to 9: the next
    // grant is 10, so that no old acknowledgement matches it.
    let mut w = World::new(3, 0);
    w.request(2, "restart", json!(null), None);
    w.bags.get_mut(&1).unwrap().insert(
        wire::ENSEMBLE_ACK.into(),
        r#"{"seq":9,"granted_at":"1.0"}"#.into(),
    );
    w.run(0, changed(Some(2)));
    assert_eq!(AppView::parse(&w.app).grant.unwrap().seq, Some(10));
}
