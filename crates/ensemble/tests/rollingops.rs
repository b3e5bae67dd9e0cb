//! Rolling operations in the simulator: the rolling-restart example charm on a service whose
//! restart takes 10 virtual seconds, with the invariant checker of `ensemble::rolling` (never
//! two restarts at once, orphaned ones included; every request served or dropped as answered;
//! the order the leader saw the requests in). Each test also asserts what its situation is
//! about, and the last ones show that the checker catches what it claims to.

use charm::StatusName;
use ensemble::rolling::{
    check, deploy, force_release, holder, request, rolling_restart, settle_with_operator, sim_config,
    AnswerMix, CheckReport, OpRun, SharedJournal, APP, MAX_VIRTUAL,
};
use juju_sim::{Fault, Sim};
use std::time::Duration;

const OP: Duration = Duration::from_secs(10);

fn seed() -> u64 {
    juju_sim::seed_from_env(1)
}

fn model(units: usize) -> (Sim, SharedJournal) {
    let mut sim = Sim::with_config(seed(), sim_config());
    let journal = deploy(&mut sim, APP, units, OP, AnswerMix::always_release(), true);
    sim.settle(MAX_VIRTUAL);
    (sim, journal)
}

/// Settles (with the operator's force-release of a lock left by a unit that is gone) and runs
/// the checker; fails the test with the seed on any violation.
fn checked(sim: &mut Sim, journal: &SharedJournal) -> (CheckReport, Vec<(Duration, String)>) {
    let released = settle_with_operator(sim, APP).unwrap_or_else(|e| sim.fail(&e));
    match check(sim, &journal.borrow(), APP, &released) {
        Ok(r) => (r, released),
        Err(e) => {
            eprintln!("{}", sim.status_table());
            sim.fail(&e)
        }
    }
}

fn ops(journal: &SharedJournal) -> Vec<OpRun> {
    journal.borrow().ops.clone()
}

/// Runs until a unit other than the leader is in the middle of its restart; returns it and the
/// restart.
fn until_a_follower_restarts(sim: &mut Sim, journal: &SharedJournal) -> (String, OpRun) {
    for _ in 0..10_000 {
        sim.run_for(Duration::from_millis(500));
        let leader = sim.leader(APP);
        let now = sim.now();
        let running = ops(journal).into_iter().find(|o| {
            Some(&o.unit) != leader.as_ref() && o.start < now && now + Duration::from_secs(3) < o.end
        });
        if let Some(o) = running {
            return (o.unit.clone(), o);
        }
    }
    sim.fail("no follower ever restarted")
}

fn assert_no_overlap(ops: &[OpRun]) {
    let mut sorted = ops.to_vec();
    sorted.sort_by_key(|o| o.start);
    for w in sorted.windows(2) {
        if w[0].unit != w[1].unit {
            assert!(
                w[0].end <= w[1].start,
                "{} ({:?}-{:?}) and {} ({:?}-{:?}) overlap",
                w[0].unit,
                w[0].start,
                w[0].end,
                w[1].unit,
                w[1].start,
                w[1].end
            );
        }
    }
}

#[test]
fn five_units_each_request_a_restart_and_all_run_one_at_a_time() {
    let (mut sim, journal) = model(5);
    for (i, u) in sim.alive_units(APP).into_iter().enumerate() {
        request(&mut sim, &u, &format!("r{i}"), Some(2)).unwrap();
    }
    let (report, released) = checked(&mut sim, &journal);
    assert!(released.is_empty());
    let ops = ops(&journal);
    assert_eq!(ops.len(), 5);
    let mut units: Vec<&str> = ops.iter().map(|o| o.unit.as_str()).collect();
    units.sort();
    units.dedup();
    assert_eq!(units.len(), 5, "each unit restarted once: {ops:?}");
    assert_no_overlap(&ops);
    assert_eq!((report.requests, report.served, report.dropped), (5, 5, 0));
    assert!(report.ordered_pairs > 0, "the order was checked: {report:?}");
    // Released and idle: the application status is the library's "active", once.
    assert_eq!(holder(&sim, APP), None);
    assert_eq!(sim.app_status(APP).map(|s| s.name), Some(StatusName::Active));
}

#[test]
fn a_rolling_restart_of_the_whole_application_serves_every_unit_once() {
    let (mut sim, journal) = model(7);
    rolling_restart(&mut sim, APP, 1).unwrap();
    let (report, _) = checked(&mut sim, &journal);
    let ops = ops(&journal);
    assert_eq!(ops.len(), 7);
    assert!(ops.iter().all(|o| o.id == "generation-1"));
    assert_no_overlap(&ops);
    assert_eq!(report.served, 7);
}

#[test]
fn the_holder_removed_gracefully_mid_restart_releases_when_its_restart_is_over() {
    let (mut sim, journal) = model(5);
    rolling_restart(&mut sim, APP, 1).unwrap();
    let (h, op) = until_a_follower_restarts(&mut sim, &journal);
    sim.remove_unit(&h, false).unwrap();
    let (report, released) = checked(&mut sim, &journal);
    assert!(released.is_empty(), "no operator needed: {released:?}");
    assert_eq!(report.served, 5, "its own restart finished and was answered too");
    let after: Vec<OpRun> = ops(&journal).into_iter().filter(|o| o.start > op.start).collect();
    assert!(!after.is_empty());
    assert!(
        after.iter().all(|o| o.start >= op.end),
        "the next restart waited for {h}'s"
    );
    assert!(!sim.alive_units(APP).contains(&h));
}

#[test]
fn the_holder_removed_with_force_keeps_the_lock_until_the_operator_releases_it() {
    let (mut sim, journal) = model(5);
    rolling_restart(&mut sim, APP, 1).unwrap();
    let (h, op) = until_a_follower_restarts(&mut sim, &journal);
    sim.remove_unit(&h, true).unwrap();
    sim.run_for(Duration::from_secs(600));
    // Never reused silently: nobody restarted since, and the application says why.
    assert_eq!(holder(&sim, APP).as_deref(), Some(h.as_str()));
    assert!(ops(&journal).iter().all(|o| o.start <= op.start));
    let status = sim.app_status(APP).unwrap();
    assert_eq!(status.name, StatusName::Blocked, "{status:?}");
    assert!(
        status
            .message
            .starts_with(&format!("rolling ops: {h} left holding the lock (")),
        "{status:?}"
    );
    assert!(status
        .message
        .contains(&format!("force-release action with unit={h}")));
    // The operator's action frees it; everyone else is served.
    let id = force_release(&mut sim, APP, &h).unwrap();
    sim.run_for(Duration::from_secs(5));
    let action = sim.action(id).unwrap();
    assert_eq!(action.results.get("released"), Some(&h));
    let (report, _) = checked(&mut sim, &journal);
    assert_eq!(report.served, 4);
    assert_no_overlap(&ops(&journal));
}

#[test]
fn an_agent_killed_mid_restart_keeps_the_grant_and_runs_again_when_back() {
    let (mut sim, journal) = model(5);
    rolling_restart(&mut sim, APP, 1).unwrap();
    let (h, op) = until_a_follower_restarts(&mut sim, &journal);
    sim.fault(Fault::KillAgent {
        unit: h.clone(),
        down_for: Duration::from_secs(300),
    });
    sim.run_for(Duration::from_secs(150));
    assert_eq!(
        holder(&sim, APP).as_deref(),
        Some(h.as_str()),
        "not reused silently"
    );
    assert!(ops(&journal).iter().all(|o| o.start <= op.start));
    let status = sim.app_status(APP).unwrap();
    assert_eq!(status.name, StatusName::Maintenance);
    assert!(
        status
            .message
            .starts_with(&format!("rolling ops: {h} holds the lock (")),
        "{status:?}"
    );
    // The agent comes back, runs the hook again (the restart with it) and answers.
    let (report, released) = checked(&mut sim, &journal);
    assert!(released.is_empty());
    assert_eq!(report.killed_runs, 1);
    let runs_of_h = ops(&journal).iter().filter(|o| o.unit == h).count();
    assert_eq!(runs_of_h, 2, "killed, then run again");
    assert_eq!(report.served, 5);
}

#[test]
fn a_unit_removed_while_its_agent_is_down_mid_restart_keeps_the_lock() {
    // The agent dies in the middle of the restart, which goes on; the unit is removed while the
    // agent is down, so it departs without running that hook again. It must not release the
    // lock while its restart may still run.
    let (mut sim, journal) = model(5);
    rolling_restart(&mut sim, APP, 1).unwrap();
    let (h, op) = until_a_follower_restarts(&mut sim, &journal);
    sim.fault(Fault::KillAgent {
        unit: h.clone(),
        down_for: Duration::from_secs(2),
    });
    sim.remove_unit(&h, false).unwrap();
    sim.run_for(Duration::from_secs(120));
    assert_eq!(holder(&sim, APP).as_deref(), Some(h.as_str()));
    assert!(ops(&journal).iter().all(|o| o.start <= op.start));
    assert_eq!(sim.app_status(APP).map(|s| s.name), Some(StatusName::Blocked));
    let (report, released) = checked(&mut sim, &journal);
    assert_eq!(released.len(), 1, "the operator released it");
    assert_eq!(report.interrupted_leavings, 1);
    assert_eq!(report.served, 4);
}

#[test]
fn the_leader_lost_mid_queue_hands_over_to_a_new_leader() {
    let (mut sim, journal) = model(6);
    let old = sim.leader(APP).unwrap();
    rolling_restart(&mut sim, APP, 1).unwrap();
    sim.run_for(Duration::from_secs(25));
    assert!(ops(&journal).len() >= 2);
    sim.fault(Fault::LoseLeader {
        app: APP.into(),
        down_for: Duration::from_secs(120),
    });
    let (report, _) = checked(&mut sim, &journal);
    assert_ne!(sim.leader(APP), Some(old));
    assert_eq!(report.served, 6);
    assert_no_overlap(&ops(&journal));
}

#[test]
fn skewed_clocks_do_not_break_exclusion_or_order() {
    let (mut sim, journal) = model(6);
    for (u, secs) in [(1, 86_400), (2, -86_400), (3, 3_600), (4, -600)] {
        sim.fault(Fault::ClockSkew {
            unit: format!("{APP}/{u}"),
            seconds: secs,
        });
    }
    rolling_restart(&mut sim, APP, 1).unwrap();
    sim.run_for(Duration::from_secs(15));
    for (i, u) in [5, 2, 1, 4].into_iter().enumerate() {
        request(&mut sim, &format!("{APP}/{u}"), &format!("r{i}"), None).unwrap();
        sim.run_for(Duration::from_secs(1));
    }
    let (report, _) = checked(&mut sim, &journal);
    assert_eq!(report.served, 10);
    assert!(report.ordered_pairs > 0);
    assert_no_overlap(&ops(&journal));
}

#[test]
fn a_fixed_seed_batch_of_the_scenario_passes() {
    for s in 1..=8 {
        if let Err(e) = ensemble::rolling::chaos_run(s) {
            panic!("seed {s}: {e}\n  replay: ensemble check rollingops --seed {s}");
        }
    }
}

// ----- the checker catches what it claims to -----

fn a_clean_run() -> (Sim, SharedJournal) {
    let (mut sim, journal) = model(3);
    rolling_restart(&mut sim, APP, 1).unwrap();
    sim.settle(MAX_VIRTUAL);
    assert!(check(&sim, &journal.borrow(), APP, &[]).is_ok());
    (sim, journal)
}

#[test]
fn the_checker_catches_two_restarts_at_once() {
    let (sim, journal) = a_clean_run();
    let mut j = journal.borrow_mut();
    j.ops.sort_by_key(|o| o.start);
    j.ops[0].end = j.ops[1].start + Duration::from_millis(1);
    let e = check(&sim, &j, APP, &[]).unwrap_err();
    assert!(e.contains("two units ran their operation at once"), "{e}");
}

#[test]
fn the_checker_catches_a_queue_that_does_not_follow_the_answer() {
    let (sim, journal) = a_clean_run();
    let mut j = journal.borrow_mut();
    j.ops[1].answer = ensemble::rolling::Answer::RetryRelease;
    let e = check(&sim, &j, APP, &[]).unwrap_err();
    assert!(e.contains("answered RetryRelease"), "{e}");
}

#[test]
fn the_checker_catches_a_restart_outside_any_grant() {
    let (sim, journal) = a_clean_run();
    let mut j = journal.borrow_mut();
    // Pretend the second unit's restart ran in its first hook, long before its grant.
    let second = j.ops[1].unit.clone();
    let first_hook = sim.trace().of_unit(&second).next().unwrap().start;
    j.ops[1].start = first_hook;
    j.ops[1].job_start = first_hook;
    j.ops[1].end = first_hook + Duration::from_millis(1);
    let e = check(&sim, &j, APP, &[]).unwrap_err();
    assert!(e.contains("without an unanswered grant"), "{e}");
}

#[test]
fn requests_are_served_in_the_order_the_leader_saw_them() {
    // app/2 asks first, then app/3, then app/1: neither unit numbers nor clocks decide (app/2's
    // clock is a day behind), the order in which the leader saw the requests does.
    let (mut sim, journal) = model(4);
    sim.fault(Fault::ClockSkew {
        unit: format!("{APP}/2"),
        seconds: -86_400,
    });
    for (u, id) in [(2, "first"), (3, "second"), (1, "third")] {
        request(&mut sim, &format!("{APP}/{u}"), id, None).unwrap();
        sim.run_for(Duration::from_secs(2));
    }
    let (report, _) = checked(&mut sim, &journal);
    assert!(report.ordered_pairs > 0);
    let mut o = ops(&journal);
    o.sort_by_key(|o| o.start);
    let order: Vec<&str> = o.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(order, ["first", "second", "third"]);
}

#[test]
fn a_hand_over_takes_two_hooks_on_the_critical_path() {
    // From one unit's release to the next unit's restart: the leader's hook (release and grant
    // in one write) and the next unit's hook; one when the leader hands over its own turn. A
    // third only when the next unit is busy with another hook as the grant lands.
    let r = ensemble::rolling::bench(8, OP, seed()).unwrap();
    assert_eq!(r.restarts, 8);
    assert_eq!(r.critical_hooks.1, 2, "{r:?}");
    assert!(r.critical_hooks.2 <= 3, "{r:?}");
}

#[test]
fn the_leaders_hooks_read_a_few_bags_whatever_the_size() {
    // The leader caches its peers' bags and reads afresh only the one whose change the hook
    // reports (and its own, the holder's, the next holder's): the tool calls of its
    // relation-changed hooks do not grow with the application.
    let calls = |n: usize| {
        let mut sim = Sim::with_config(seed(), sim_config());
        deploy(&mut sim, APP, n, OP, AnswerMix::always_release(), false);
        sim.settle(MAX_VIRTUAL);
        let leader = sim.leader(APP).unwrap();
        let from = sim.trace().records().len();
        rolling_restart(&mut sim, APP, 1).unwrap();
        sim.settle(MAX_VIRTUAL);
        let mut c: Vec<u32> = sim.trace().records()[from..]
            .iter()
            .filter(|r| *r.unit == *leader && r.kind == juju_sim::HookKind::RelationChanged)
            .map(|r| r.tool_calls)
            .collect();
        c.sort_unstable();
        (c[c.len() / 2], c[c.len() - 1])
    };
    let (small_median, _) = calls(6);
    let (large_median, large_max) = calls(40);
    assert_eq!(small_median, large_median);
    assert!(
        large_max < 40,
        "a relation-changed hook of the leader made {large_max} tool calls"
    );
}

// ----- hostile peers -----

/// Two rogues (never the leader) that overwrite their own bag with malformed and extreme values
/// while the honest units request restarts; then they stop, and the checker runs: no honest
/// hook failed, state and log lines stayed bounded, every honest request was served.
fn hostile_run() -> (Sim, SharedJournal, CheckReport) {
    let (mut sim, journal) = model(5);
    {
        let mut j = journal.borrow_mut();
        j.rogues.insert(format!("{APP}/2"));
        j.rogues.insert(format!("{APP}/4"));
        j.hostile = true;
    }
    for round in 0..6 {
        for u in [0, 1, 3] {
            request(&mut sim, &format!("{APP}/{u}"), &format!("r{round}-{u}"), Some(1)).unwrap();
        }
        sim.run_for(Duration::from_secs(20));
    }
    rolling_restart(&mut sim, APP, 1).unwrap();
    sim.run_for(Duration::from_secs(120));
    journal.borrow_mut().hostile = false;
    for u in [format!("{APP}/2"), format!("{APP}/4"), sim.leader(APP).unwrap()] {
        sim.exec(&u, rollingops::LOCK_GRANTED_EVENT).unwrap();
    }
    let (report, _) = checked(&mut sim, &journal);
    (sim, journal, report)
}

#[test]
fn hostile_peers_neither_stop_nor_starve_the_honest_units() {
    let (_, journal, report) = hostile_run();
    assert_eq!(report.rogues, 2);
    assert!(
        report.hostile_writes >= 9,
        "every kind of hostile value: {report:?}"
    );
    let ops = ops(&journal);
    for u in [0, 1, 3] {
        let served = ops.iter().filter(|o| o.unit == format!("{APP}/{u}")).count();
        assert!(served >= 7, "{APP}/{u} ran {served} restarts");
    }
    assert_no_overlap(&ops);
}

#[test]
fn the_checker_catches_a_hook_that_failed_on_a_peers_value() {
    let (sim, journal, _) = hostile_run();
    let mut j = journal.borrow_mut();
    j.errors.push((
        format!("{APP}/0"),
        "restart-relation-changed".into(),
        "panic: overflow".into(),
    ));
    let e = check(&sim, &j, APP, &[]).unwrap_err();
    assert!(e.contains("failed in the library's handling"), "{e}");
}
