//! The uniter's rules, one test each: every test here fails if its rule is broken.

mod common;

use charm::{BagOwner, Event, HandlerError, Status, StatusName};
use common::*;
use juju_sim::{Fault, HookKind, HookOutcome, Sim, SimConfig};
use std::time::Duration;

fn seed() -> u64 {
    juju_sim::seed_from_env(7)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn start_up_sequence_for_leader_and_follower() {
    let mut sim = Sim::new(seed());
    sim.deploy("app", 2, noop(), meta());
    sim.settle(HOUR);
    assert_eq!(
        &hooks(&sim, "app/0")[..5],
        [
            "install",
            "peers-relation-created",
            "leader-elected",
            "config-changed",
            "start"
        ]
    );
    assert_eq!(
        &hooks(&sim, "app/1")[..5],
        [
            "install",
            "peers-relation-created",
            "leader-settings-changed",
            "config-changed",
            "start"
        ]
    );
    // Then each joins the other, relation-changed right after.
    let h0 = hooks(&sim, "app/0");
    let j = h0
        .iter()
        .position(|h| h == "peers-relation-joined(app/1)")
        .unwrap();
    assert_eq!(h0[j + 1], "peers-relation-changed(app/1)");
}

#[test]
fn relation_created_only_after_install_and_for_later_relations() {
    let mut sim = Sim::new(seed());
    sim.deploy("app", 1, noop(), meta())
        .deploy("srv", 1, noop(), server_meta());
    sim.settle(HOUR);
    let before = hooks(&sim, "app/0");
    assert!(!before.iter().any(|h| h.starts_with("db-")));
    sim.relate("app:db", "srv:db");
    sim.settle(HOUR);
    let after: Vec<String> = hooks(&sim, "app/0").into_iter().skip(before.len()).collect();
    let created = after.iter().position(|h| h == "db-relation-created").unwrap();
    let joined = after
        .iter()
        .position(|h| h == "db-relation-joined(srv/0)")
        .unwrap();
    assert!(created < joined, "{after:?}");
    assert_eq!(after[joined + 1], "db-relation-changed(srv/0)");
}

/// An observer whose relation-changed records the last value of `k` it read and how often it ran.
fn observer_charm() -> impl Fn() -> Script {
    script(|ctx, ev| {
        match ev {
            Event::Action(a) if a.name == "write" => {
                let v = ctx
                    .action_params()?
                    .get("v")
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_owned();
                let rel = ctx.relation_on("peers")?.unwrap();
                ctx.set_unit_data(rel.id, "k", Some(&v))?;
            }
            Event::RelationChanged(r) => {
                if let Some(u) = &r.remote_unit {
                    let v = ctx
                        .data(r.relation_id, &BagOwner::Unit(u.clone()))?
                        .get("k")
                        .cloned();
                    if let Some(v) = v {
                        ctx.set_stored("last", &v)?;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    })
}

fn params(v: &str) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    m.insert("v".into(), v.into());
    m
}

#[test]
fn three_writes_between_two_hooks_give_one_relation_changed() {
    let mut sim = Sim::new(seed());
    sim.deploy("app", 2, observer_charm(), meta());
    sim.settle(HOUR);
    sim.fault(Fault::KillAgent {
        unit: "app/1".into(),
        down_for: secs(600),
    });
    let t0 = sim.now();
    for v in ["1", "2", "3"] {
        sim.run_action("app/0", "write", params(v)).unwrap();
    }
    sim.run_for(secs(60));
    // Three separate hooks wrote three times.
    let writes = sim
        .trace()
        .of_unit("app/0")
        .filter(|r| r.start >= t0 && r.hook.as_ref() == "write")
        .count();
    assert_eq!(writes, 3);
    sim.settle(HOUR);
    let changed: Vec<_> = sim
        .trace()
        .of_unit("app/1")
        .filter(|r| r.start >= t0 && r.kind == HookKind::RelationChanged)
        .collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(changed[0].remote_unit.as_deref(), Some("app/0"));
    assert_eq!(sim.stored("app/1", "last"), Some(serde_json::json!("3")));
}

#[test]
fn relation_changed_follows_every_joined_in_that_relation() {
    let mut sim = Sim::new(seed());
    sim.deploy("app", 6, observer_charm(), meta());
    sim.settle(HOUR);
    let rel = sim.peer_relation("app", None).unwrap();
    let mut joined = 0;
    for u in sim.units("app") {
        let recs: Vec<_> = sim
            .trace()
            .of_unit(&u)
            .filter(|r| r.relation == Some(rel))
            .collect();
        for (i, r) in recs.iter().enumerate() {
            if r.kind == HookKind::RelationJoined {
                joined += 1;
                let next = recs[i + 1];
                assert_eq!(next.kind, HookKind::RelationChanged, "{u}: {r} then {next}");
                assert_eq!(next.remote_unit, r.remote_unit);
            }
        }
    }
    assert_eq!(joined, 6 * 5);
}

#[test]
fn app_bag_changes_arrive_with_no_remote_unit_and_not_to_the_writer() {
    let publisher = script(|ctx, ev| {
        if let Event::Action(a) = ev {
            if a.name == "publish" {
                let rel = ctx.relation_on("db")?.unwrap();
                ctx.set_app_data(rel.id, "url", Some("db://x"))?;
                let peers = ctx.relation_on("peers")?.unwrap();
                ctx.set_app_data(peers.id, "shared", Some("yes"))?;
            }
        }
        Ok(())
    });
    let mut sim = Sim::new(seed());
    sim.deploy("app", 2, noop(), meta())
        .deploy("srv", 3, publisher, server_meta())
        .relate("app:db", "srv:db");
    sim.settle(HOUR);
    let t0 = sim.now();
    sim.run_action("srv/0", "publish", Default::default()).unwrap();
    sim.settle(HOUR);
    let after = |u: &str| -> Vec<String> {
        sim.trace()
            .of_unit(u)
            .filter(|r| r.start >= t0 && r.kind == HookKind::RelationChanged)
            .map(|r| format!("{}:{:?}", r.hook, r.remote_unit))
            .collect()
    };
    for c in ["app/0", "app/1"] {
        assert_eq!(after(c), ["db-relation-changed:None"], "{c}");
    }
    // The peer app bag: followers see it (no remote unit), the leader who wrote it does not.
    assert!(after("srv/0").is_empty(), "{:?}", after("srv/0"));
    for f in ["srv/1", "srv/2"] {
        assert_eq!(after(f), ["peers-relation-changed:None"], "{f}");
    }
    let db = sim.relation_between("app:db", "srv:db").unwrap();
    assert_eq!(
        sim.databag(db, "srv").unwrap().get("url").map(String::as_str),
        Some("db://x")
    );
}

#[test]
fn no_relation_changed_for_own_writes() {
    let mut sim = Sim::new(seed());
    sim.deploy("app", 1, observer_charm(), meta());
    sim.settle(HOUR);
    for v in ["1", "2"] {
        sim.run_action("app/0", "write", params(v)).unwrap();
        sim.settle(HOUR);
    }
    let rel = sim.peer_relation("app", None).unwrap();
    assert_eq!(sim.databag(rel, "app/0").unwrap()["k"], "2");
    assert_eq!(sim.hooks_of_kind(HookKind::RelationChanged), 0);
    assert_eq!(
        sim.hooks_of_kind(HookKind::RelationJoined),
        0,
        "no joined in a peer relation of one"
    );
}

fn departure_logger() -> impl Fn() -> Script {
    script(|ctx, ev| {
        match ev {
            Event::RelationDeparted(r) => {
                let msg = format!(
                    "departed remote={:?} departing={:?}",
                    r.remote_unit.as_ref().map(|u| u.to_string()),
                    r.departing_unit.as_ref().map(|u| u.to_string())
                );
                ctx.info(msg);
            }
            Event::Start => ctx.set_status(Status::active("up"))?,
            _ => {}
        }
        Ok(())
    })
}

#[test]
fn graceful_removal_runs_departed_broken_stop_remove() {
    let mut sim = Sim::new(seed());
    sim.deploy("app", 2, departure_logger(), meta())
        .deploy("srv", 2, departure_logger(), server_meta())
        .relate("app:db", "srv:db");
    sim.settle(HOUR);
    let n = hooks(&sim, "app/1").len();
    sim.remove_unit("app/1", false).unwrap();
    sim.settle(HOUR);
    let tail: Vec<String> = hooks(&sim, "app/1").into_iter().skip(n).collect();
    // Relations first (departed for every remote unit, then broken; never broken for a peer),
    // then stop, then remove.
    let mut rel_hooks: Vec<&String> = tail.iter().filter(|h| h.starts_with("db-")).collect();
    rel_hooks.sort();
    assert_eq!(
        rel_hooks,
        [
            "db-relation-broken",
            "db-relation-departed(srv/0)",
            "db-relation-departed(srv/1)"
        ]
    );
    assert_eq!(
        tail.iter().filter(|h| h.starts_with("peers-")).count(),
        1,
        "{tail:?}"
    );
    assert!(tail.contains(&"peers-relation-departed(app/0)".to_string()));
    assert!(!tail.iter().any(|h| h == "peers-relation-broken"));
    assert_eq!(&tail[tail.len() - 2..], ["stop", "remove"]);
    let broken = tail.iter().position(|h| h == "db-relation-broken").unwrap();
    let last_departed = tail
        .iter()
        .rposition(|h| h.starts_with("db-relation-departed"))
        .unwrap();
    assert!(last_departed < broken);
    // The departing unit is the dying unit itself on its side, the removed unit on the others.
    let logs: Vec<String> = sim.logs("app/1").into_iter().map(|l| l.2).collect();
    assert!(logs.contains(&"departed remote=Some(\"srv/0\") departing=Some(\"app/1\")".to_string()));
    for s in ["srv/0", "srv/1"] {
        let logs: Vec<String> = sim.logs(s).into_iter().map(|l| l.2).collect();
        assert!(logs.contains(&"departed remote=Some(\"app/1\") departing=Some(\"app/1\")".to_string()));
    }
    assert!(hooks(&sim, "app/0").contains(&"peers-relation-departed(app/1)".to_string()));
    assert_eq!(sim.unit("app/1").unwrap().life, juju_sim::Life::Dead);
    let db = sim.relation_between("app:db", "srv:db").unwrap();
    assert_eq!(sim.relation_members("srv/0", db), ["app/0"]);
    // A departed unit's data stays readable for the life of the relation.
    assert!(sim.databag(db, "app/1").is_some());
}

#[test]
fn relation_removal_departs_then_breaks_both_sides() {
    let mut sim = Sim::new(seed());
    sim.deploy("app", 2, noop(), meta())
        .deploy("srv", 1, noop(), server_meta())
        .relate("app:db", "srv:db");
    sim.settle(HOUR);
    let db = sim.relation_between("app:db", "srv:db").unwrap();
    let n = hooks(&sim, "srv/0").len();
    sim.remove_relation(db).unwrap();
    sim.settle(HOUR);
    let tail: Vec<String> = hooks(&sim, "srv/0")
        .into_iter()
        .skip(n)
        .filter(|h| h != "update-status")
        .collect();
    assert_eq!(
        tail,
        [
            "db-relation-departed(app/0)",
            "db-relation-departed(app/1)",
            "db-relation-broken"
        ]
    );
    for a in ["app/0", "app/1"] {
        let h: Vec<String> = hooks(&sim, a)
            .into_iter()
            .filter(|h| h.starts_with("db-"))
            .collect();
        assert!(
            h.ends_with(&["db-relation-departed(srv/0)".into(), "db-relation-broken".into()]),
            "{h:?}"
        );
    }
    assert!(!sim.relation_exists(db));
    assert!(sim
        .remove_relation(sim.peer_relation("app", None).unwrap())
        .is_err());
}

#[test]
fn forced_removal_runs_no_further_hook() {
    let mut sim = Sim::new(seed());
    sim.deploy("app", 3, departure_logger(), meta());
    sim.settle(HOUR);
    let n = hooks(&sim, "app/2").len();
    sim.remove_unit("app/2", true).unwrap();
    sim.settle(HOUR);
    assert_eq!(hooks(&sim, "app/2").len(), n);
    for u in ["app/0", "app/1"] {
        assert!(hooks(&sim, u).contains(&"peers-relation-departed(app/2)".to_string()));
    }
}

/// A charm whose config-changed writes everywhere, then fails while `fail` is set.
fn failing_config_charm() -> impl Fn() -> Script {
    script(|ctx, ev| {
        if let Event::ConfigChanged = ev {
            let fail = ctx.config()?.boolean("fail")?.unwrap_or(false);
            if fail {
                let rel = ctx.relation_on("peers")?.unwrap();
                ctx.set_unit_data(rel.id, "x", Some("lost"))?;
                ctx.set_stored("x", &"lost")?;
                let mut st = std::collections::BTreeMap::new();
                st.insert("x".to_string(), "lost".to_string());
                ctx.backend().state_set(&st)?;
                if ctx.is_leader()? {
                    ctx.leader_set([("ls".to_string(), Some("kept".to_string()))])?;
                }
                ctx.set_status(Status::maintenance("trying"))?;
                return Err(HandlerError::msg("config-changed failed"));
            }
            ctx.set_status(Status::active("fine"))?;
        }
        Ok(())
    })
}

#[test]
fn a_failed_hook_commits_nothing_but_its_immediate_effects() {
    let mut sim = Sim::new(seed());
    sim.deploy("app", 2, failing_config_charm(), meta());
    sim.settle(HOUR);
    let rel = sim.peer_relation("app", None).unwrap();
    let changed_before = sim.hooks_of_kind(HookKind::RelationChanged);
    sim.set_config("app", "fail", Some(charm::ConfigValue::Bool(true)))
        .unwrap();
    sim.run_for(secs(30));
    for u in ["app/0", "app/1"] {
        let st = sim.unit_status(u).unwrap();
        assert_eq!(st.name, StatusName::Error, "{u}");
        assert_eq!(st.message, "hook failed: \"config-changed\"");
        assert!(!sim.databag(rel, u).unwrap().contains_key("x"), "{u}");
        assert_eq!(sim.stored(u, "x"), None);
        assert!(sim.controller_state(u).is_empty());
    }
    // Nobody saw a relation-changed for data that was never committed.
    assert_eq!(sim.hooks_of_kind(HookKind::RelationChanged), changed_before);
    // leader-set is immediate: it stays although the hook failed.
    assert_eq!(
        sim.leader_settings("app").get("ls").map(String::as_str),
        Some("kept")
    );
    // Fixing the config lets the next retry succeed.
    sim.set_config("app", "fail", Some(charm::ConfigValue::Bool(false)))
        .unwrap();
    sim.settle(HOUR);
    assert_eq!(sim.unit_status("app/0").unwrap(), Status::active("fine"));
}

#[test]
fn failed_hooks_are_retried_with_backoff() {
    let mut sim = Sim::new(seed());
    sim.deploy("app", 1, failing_config_charm(), meta());
    sim.settle(HOUR);
    sim.set_config("app", "fail", Some(charm::ConfigValue::Bool(true)))
        .unwrap();
    sim.run_for(secs(1200));
    let attempts: Vec<_> = sim
        .trace()
        .of_unit("app/0")
        .filter(|r| r.kind == HookKind::ConfigChanged && r.outcome == HookOutcome::Failed)
        .collect();
    assert!(attempts.len() >= 8, "{}", attempts.len());
    for (i, w) in attempts.windows(2).enumerate() {
        assert_eq!(w[1].attempt, w[0].attempt + 1);
        let gap = (w[1].start - w[0].end()).as_secs_f64();
        let base = (5.0 * 2f64.powi(i as i32)).min(300.0);
        assert!(
            gap >= base * 0.8 - 0.01 && gap <= (base * 1.2).min(300.0) + 0.01,
            "retry {i}: {gap} s"
        );
    }
    // No other hook runs while the unit is in error (update-status included).
    let t_first = attempts[0].start;
    assert!(sim
        .trace()
        .of_unit("app/0")
        .filter(|r| r.start > t_first)
        .all(|r| r.kind == HookKind::ConfigChanged));
    let mut sim2 = Sim::new(seed());
    sim2.deploy("app", 1, juju_sim::charms::FailingCharm::default, meta());
    let err = sim2.run_until_idle(HOUR).unwrap_err().to_string();
    assert!(err.contains(&format!("seed={}", seed())), "{err}");
}

#[test]
fn leader_at_deploy_and_new_leader_after_lease_when_the_agent_dies() {
    let mut sim = Sim::new(seed());
    sim.deploy("app", 3, noop(), meta());
    sim.settle(HOUR);
    assert_eq!(sim.leader("app").as_deref(), Some("app/0"));
    let t_kill = sim.now();
    let n0 = hooks(&sim, "app/0").len();
    sim.fault(Fault::KillAgent {
        unit: "app/0".into(),
        down_for: secs(600),
    });
    sim.run_for(secs(25));
    assert_eq!(
        sim.leader("app").as_deref(),
        Some("app/0"),
        "the lease still holds"
    );
    sim.run_for(secs(40));
    let new = sim.leader("app").unwrap();
    assert_ne!(new, "app/0");
    let elected = sim
        .trace()
        .events()
        .iter()
        .find(|(t, e)| *t >= t_kill && e.ends_with("is elected leader"))
        .unwrap()
        .0;
    let waited = (elected - t_kill).as_secs_f64();
    assert!((30.0..=60.0).contains(&waited), "new leader after {waited} s");
    let le = sim
        .trace()
        .of_unit(&new)
        .find(|r| r.kind == HookKind::LeaderElected && r.start >= t_kill)
        .unwrap();
    assert!(le.start >= elected);
    sim.settle(HOUR);
    // The old leader comes back deposed: no leader-elected, but leader-settings-changed.
    let back: Vec<String> = hooks(&sim, "app/0").into_iter().skip(n0).collect();
    assert!(!back.contains(&"leader-elected".to_string()), "{back:?}");
    assert!(back.contains(&"leader-settings-changed".to_string()), "{back:?}");
    assert_eq!(sim.leader("app"), Some(new));
}

#[test]
fn removing_the_leader_elects_a_new_one_at_once() {
    for force in [true, false] {
        let mut sim = Sim::new(seed());
        sim.deploy("app", 3, noop(), meta());
        sim.settle(HOUR);
        sim.remove_unit("app/0", force).unwrap();
        if force {
            assert!(sim.leader("app").is_some_and(|l| l != "app/0"));
        }
        sim.settle(HOUR);
        let dead_at = sim
            .trace()
            .events()
            .iter()
            .find(|(_, e)| e == "app/0 is dead")
            .unwrap()
            .0;
        let elected = sim
            .trace()
            .events()
            .iter()
            .rev()
            .find(|(_, e)| e.ends_with("is elected leader"))
            .unwrap()
            .0;
        assert_eq!(elected, dead_at, "force={force}");
        let new = sim.leader("app").unwrap();
        assert!(hooks(&sim, &new).contains(&"leader-elected".to_string()));
    }
}

#[test]
fn leader_settings_changed_runs_on_followers_only_and_coalesces() {
    let setter = script(|ctx, ev| {
        if let Event::Action(a) = ev {
            if a.name == "set-leader" {
                let v = ctx
                    .action_params()?
                    .get("v")
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_owned();
                ctx.leader_set([("v".to_string(), Some(v))])?;
            }
        }
        if let Event::LeaderSettingsChanged = ev {
            let v = ctx.leader_get("v")?;
            ctx.set_stored("v", &v)?;
        }
        Ok(())
    });
    let mut sim = Sim::new(seed());
    sim.deploy("app", 3, setter, meta());
    sim.settle(HOUR);
    sim.fault(Fault::KillAgent {
        unit: "app/2".into(),
        down_for: secs(300),
    });
    let t0 = sim.now();
    for v in ["1", "2", "3"] {
        sim.run_action("app/0", "set-leader", params(v)).unwrap();
    }
    sim.settle(HOUR);
    let lsc = |u: &str| {
        sim.trace()
            .of_unit(u)
            .filter(|r| r.start >= t0 && r.kind == HookKind::LeaderSettingsChanged)
            .count()
    };
    assert_eq!(lsc("app/0"), 0);
    assert_eq!(lsc("app/2"), 1, "coalesced while its agent was down");
    assert!(lsc("app/1") >= 1);
    assert_eq!(sim.stored("app/2", "v"), Some(serde_json::json!("3")));
    assert!(sim
        .trace()
        .of_unit("app/0")
        .all(|r| r.kind != HookKind::LeaderSettingsChanged));
}

#[test]
fn an_agent_killed_mid_hook_loses_its_writes_and_reruns_the_hook() {
    let slow = script(|ctx, ev| {
        if let Event::Install = ev {
            ctx.run(&charm::WorkloadCommand::new("slow", ["install"]))?;
            ctx.set_stored("installed", &true)?;
        }
        Ok(())
    });
    let mut sim = Sim::new(seed());
    sim.deploy("app", 1, slow, meta());
    sim.serve_commands(
        "app",
        "slow",
        |_: &juju_sim::workload::CommandContext<'_>, _: &charm::WorkloadCommand| {
            juju_sim::workload::CommandResult {
                output: charm::CommandOutput::ok(""),
                duration: Some(secs(20)),
            }
        },
    )
    .unwrap();
    sim.fault_at(
        secs(10),
        Fault::KillAgent {
            unit: "app/0".into(),
            down_for: secs(30),
        },
    );
    sim.run_until(secs(15));
    assert_eq!(sim.stored("app/0", "installed"), None);
    let first = &sim.trace().records()[0];
    assert_eq!(
        (first.kind, first.outcome),
        (HookKind::Install, HookOutcome::Killed)
    );
    assert!(!sim.unit("app/0").unwrap().agent_up);
    sim.settle(HOUR);
    assert_eq!(sim.stored("app/0", "installed"), Some(serde_json::json!(true)));
    let installs: Vec<_> = sim
        .trace()
        .of_unit("app/0")
        .filter(|r| r.kind == HookKind::Install)
        .collect();
    assert_eq!(installs.len(), 2);
    assert!(installs[1].start >= secs(40));
    assert_eq!(installs[1].outcome, HookOutcome::Ok);
}

#[test]
fn actions_report_results_and_never_put_the_unit_in_error() {
    let ch = script(|ctx, ev| {
        if let Event::Action(a) = ev {
            match a.name.as_str() {
                "write" => {
                    let mut m = serde_json::Map::new();
                    m.insert("out".into(), serde_json::json!({"n": 1, "s": "x"}));
                    ctx.action_set(&m)?;
                    ctx.action_log("working")?;
                }
                "fail" => ctx.action_fail("nope")?,
                "broken" => return Err(HandlerError::msg("boom")),
                _ => {}
            }
        }
        Ok(())
    });
    let mut sim = Sim::new(seed());
    sim.deploy("app", 1, ch, meta());
    sim.settle(HOUR);
    let ok = sim.run_action("app/0", "write", Default::default()).unwrap();
    let failed = sim.run_action("app/0", "fail", Default::default()).unwrap();
    let broken = sim.run_action("app/0", "broken", Default::default()).unwrap();
    assert!(sim.run_action("app/0", "nope", Default::default()).is_err());
    sim.settle(HOUR);
    let a = sim.action(ok).unwrap();
    assert_eq!(a.status, juju_sim::ActionStatus::Completed);
    assert_eq!(a.results.get("out.n").map(String::as_str), Some("1"));
    assert_eq!(a.logs, ["working"]);
    assert_eq!(sim.action(failed).unwrap().status, juju_sim::ActionStatus::Failed);
    assert_eq!(sim.action(failed).unwrap().message, "nope");
    assert_eq!(sim.action(broken).unwrap().status, juju_sim::ActionStatus::Failed);
    assert_ne!(sim.unit_status("app/0").unwrap().name, StatusName::Error);
}

#[test]
fn a_self_dispatched_custom_event_runs_after_its_delay() {
    let ch = script(|ctx, ev| {
        match ev {
            Event::Start => ctx.schedule("tick", secs(30))?,
            Event::Custom { name } if name == "tick" => {
                let rel = ctx.relation_on("peers")?.unwrap();
                ctx.set_unit_data(rel.id, "ticked", Some("yes"))?;
            }
            _ => {}
        }
        Ok(())
    });
    let mut sim = Sim::new(seed());
    sim.deploy("app", 1, ch, meta());
    sim.settle(HOUR);
    let start = sim
        .trace()
        .of_unit("app/0")
        .find(|r| r.kind == HookKind::Start)
        .unwrap()
        .start;
    let tick = sim
        .trace()
        .of_unit("app/0")
        .find(|r| r.kind == HookKind::Custom)
        .unwrap();
    assert_eq!(tick.hook.as_ref(), "tick");
    assert!(tick.start >= start + secs(30));
    let rel = sim.peer_relation("app", None).unwrap();
    assert_eq!(sim.databag(rel, "app/0").unwrap()["ticked"], "yes");
    // juju-exec from outside works too.
    sim.exec("app/0", "later").unwrap();
    sim.settle(HOUR);
    assert!(hooks(&sim, "app/0").contains(&"later".to_string()));
}

#[test]
fn refresh_runs_upgrade_charm_then_config_changed_and_keeps_state() {
    let v1 = script(|ctx, ev| {
        if let Event::RelationCreated(r) = ev {
            ctx.set_unit_data(r.relation_id, "v1", Some("data"))?;
            ctx.set_stored("from", &"v1")?;
        }
        Ok(())
    });
    let v2 = script(|ctx, ev| {
        if let Event::UpgradeCharm = ev {
            let from: String = ctx.stored("from")?;
            ctx.set_stored("upgraded-from", &from)?;
        }
        Ok(())
    });
    let mut sim = Sim::new(seed());
    sim.deploy("app", 2, v1, meta());
    sim.settle(HOUR);
    let n = hooks(&sim, "app/1").len();
    sim.refresh("app", v2, meta()).unwrap();
    sim.settle(HOUR);
    let tail: Vec<String> = hooks(&sim, "app/1").into_iter().skip(n).collect();
    assert_eq!(&tail[..2], ["upgrade-charm", "config-changed"]);
    assert_eq!(
        sim.stored("app/1", "upgraded-from"),
        Some(serde_json::json!("v1"))
    );
    let rel = sim.peer_relation("app", None).unwrap();
    assert_eq!(sim.databag(rel, "app/1").unwrap()["v1"], "data");
    assert_eq!(sim.leader("app").as_deref(), Some("app/0"));
}

#[test]
fn config_changes_run_config_changed_on_every_unit() {
    let mut sim = Sim::new(seed());
    sim.deploy("app", 3, noop(), meta());
    sim.settle(HOUR);
    let before = sim.hooks_of_kind(HookKind::ConfigChanged);
    sim.set_config("app", "v", Some(charm::ConfigValue::String("b".into())))
        .unwrap();
    sim.settle(HOUR);
    assert_eq!(sim.hooks_of_kind(HookKind::ConfigChanged), before + 3);
    assert!(sim.set_config("app", "nope", None).is_err());
}

#[test]
fn update_status_runs_on_a_timer() {
    let mut sim = Sim::new(seed());
    sim.deploy("app", 2, noop(), meta());
    sim.settle(HOUR);
    let t0 = sim.now();
    sim.run_for(secs(3000));
    for u in ["app/0", "app/1"] {
        let starts: Vec<Duration> = sim
            .trace()
            .of_unit(u)
            .filter(|r| r.kind == HookKind::UpdateStatus && r.start >= t0)
            .map(|r| r.start)
            .collect();
        assert!((9..=11).contains(&starts.len()), "{u}: {}", starts.len());
        for w in starts.windows(2) {
            let gap = (w[1] - w[0]).as_secs_f64();
            assert!((299.0..=301.0).contains(&gap), "{gap}");
        }
    }
}

#[test]
fn idle_means_only_update_status_and_nothing_changes() {
    // A charm whose update-status changes its status every time never idles.
    let restless = script(|ctx, ev| {
        if let Event::UpdateStatus = ev {
            let n: u64 = ctx.stored("n")?;
            ctx.set_stored("n", &(n + 1))?;
        }
        Ok(())
    });
    let mut sim = Sim::new(seed());
    sim.deploy("app", 1, restless, meta());
    assert!(sim.run_until_idle(secs(7200)).is_err());
    let mut sim = Sim::new(seed());
    sim.deploy("app", 2, noop(), meta());
    let idle = sim.settle(HOUR);
    assert!(idle.quiescent_at < secs(10), "{idle:?}");
    assert!(idle.now >= idle.quiescent_at);
    assert_eq!(sim.metrics().quiescence, Some(idle.quiescent_at));
}

#[test]
fn clock_skew_changes_what_now_returns() {
    let ch = script(|ctx, ev| {
        if let Event::Custom { .. } = ev {
            let now = ctx.now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
            ctx.set_stored("now", &now)?;
        }
        Ok(())
    });
    let mut sim = Sim::new(seed());
    sim.deploy("app", 2, ch, meta());
    sim.settle(HOUR);
    sim.fault(Fault::ClockSkew {
        unit: "app/1".into(),
        seconds: -3600,
    });
    sim.exec("app/0", "tick").unwrap();
    sim.exec("app/1", "tick").unwrap();
    sim.settle(HOUR);
    let a = sim.stored("app/0", "now").unwrap().as_u64().unwrap();
    let b = sim.stored("app/1", "now").unwrap().as_u64().unwrap();
    assert!((a - b).abs_diff(3600) <= 2, "{a} {b}");
    assert!(a >= juju_sim::EPOCH_SECS);
}

#[test]
fn workload_commands_fail_hang_or_print_garbage() {
    let ch = script(|ctx, ev| {
        if let Event::Custom { .. } = ev {
            let cmd = charm::WorkloadCommand::new("svc", ["status"]).timeout_secs(30);
            let outcome = match ctx.run(&cmd) {
                Ok(out) if out.success() => format!("ok:{}", out.stdout),
                Ok(out) => format!("exit:{:?}", out.code),
                Err(e) => format!("error:{e}"),
            };
            let n: u64 = ctx.stored("n")?;
            ctx.set_stored(&format!("r{n}"), &outcome)?;
            ctx.set_stored("n", &(n + 1))?;
        }
        Ok(())
    });
    let mut sim = Sim::new(seed());
    sim.deploy("app", 1, ch, meta());
    sim.serve_commands(
        "app",
        "svc status",
        |_: &juju_sim::workload::CommandContext<'_>, _: &charm::WorkloadCommand| {
            charm::CommandOutput::ok("running").into()
        },
    )
    .unwrap();
    sim.settle(HOUR);
    for kind in [
        juju_sim::CommandFault::Fail,
        juju_sim::CommandFault::Hang,
        juju_sim::CommandFault::Garbage,
    ] {
        sim.fault(Fault::Command {
            unit: "app/0".into(),
            kind,
            count: 1,
        });
        sim.exec("app/0", "tick").unwrap();
        sim.settle(HOUR);
    }
    sim.exec("app/0", "tick").unwrap();
    sim.settle(HOUR);
    let r = |i: u32| {
        sim.stored("app/0", &format!("r{i}"))
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(r(0), "exit:Some(1)");
    assert!(
        r(1).starts_with("error:") && r(1).contains("timed out after 30 s"),
        "{}",
        r(1)
    );
    assert!(r(2).starts_with("ok:") && r(2) != "ok:running", "{}", r(2));
    assert_eq!(r(3), "ok:running");
    let hang = sim
        .trace()
        .of_unit("app/0")
        .filter(|r| r.kind == HookKind::Custom)
        .nth(1)
        .unwrap();
    assert!(hang.duration >= secs(30));
    assert_eq!(sim.metrics().workload_commands, 4);
}

#[test]
fn relations_follow_metadata_interfaces_and_limits() {
    let mut sim = Sim::new(seed());
    sim.deploy("app", 1, noop(), meta())
        .deploy("app2", 1, noop(), meta())
        .deploy("srv", 1, noop(), server_meta());
    assert!(
        sim.try_relate("app:db", "srv:other").is_err(),
        "interfaces differ"
    );
    assert!(
        sim.try_relate("app:db", "app2:db").is_err(),
        "requires to requires"
    );
    assert!(sim.try_relate("app:nope", "srv:db").is_err());
    sim.try_relate("app:db", "srv:solo").unwrap();
    let err = sim.try_relate("app2:db", "srv:solo").unwrap_err().to_string();
    assert!(err.contains("limited to 1"), "{err}");
    assert!(sim.try_relate("app:db", "srv:solo").is_err(), "already related");
    // An endpoint can be left out when only one fits.
    sim.try_relate("app2", "srv:db").unwrap();
}

#[test]
fn machines_chosen_by_the_test_fill_the_bags() {
    let ch = script(|ctx, ev| {
        if let Event::RelationCreated(r) = ev {
            let h = ctx.hostname()?;
            ctx.set_unit_data(r.relation_id, "host", Some(&h))?;
        }
        Ok(())
    });
    let mut sim = Sim::new(seed());
    sim.deploy("app", 1, ch, meta());
    let u = sim
        .add_unit_on(
            "app",
            juju_sim::MachineSpec {
                hostname: "node-7".into(),
                address: "192.0.2.7".into(),
            },
        )
        .unwrap();
    sim.settle(HOUR);
    let rel = sim.peer_relation("app", None).unwrap();
    let bag = sim.databag(rel, &u).unwrap();
    assert_eq!(bag["host"], "node-7");
    assert_eq!(bag["ingress-address"], "192.0.2.7");
    assert_eq!(bag["private-address"], "192.0.2.7");
    assert_eq!(bag["egress-subnets"], "192.0.2.7/32");
}

#[test]
fn values_stay_out_of_traces_unless_asked() {
    let ch = script(|ctx, ev| {
        if let Event::RelationCreated(r) = ev {
            ctx.set_unit_data(r.relation_id, "token", Some("s3cr3t-token"))?;
        }
        Ok(())
    });
    let ch2 = script(|ctx, ev| {
        if let Event::RelationCreated(r) = ev {
            ctx.set_unit_data(r.relation_id, "token", Some("s3cr3t-token"))?;
        }
        Ok(())
    });
    let mut sim = Sim::new(seed());
    sim.deploy("app", 1, ch, meta());
    sim.settle(HOUR);
    let rec = sim
        .trace()
        .records()
        .iter()
        .find(|r| r.kind == HookKind::RelationCreated)
        .unwrap();
    assert_eq!(rec.keys_written, ["0/app/0/token"]);
    let all = format!(
        "{:?}{}{}",
        sim.trace().records(),
        sim.status_table(),
        sim.metrics()
    );
    assert!(!all.contains("s3cr3t"));
    let mut sim = Sim::with_config(
        seed(),
        SimConfig {
            trace_values: true,
            ..SimConfig::default()
        },
    );
    sim.deploy("app", 1, ch2, meta());
    sim.settle(HOUR);
    assert!(format!("{:?}", sim.trace().records()).contains("s3cr3t"));
}

#[test]
#[should_panic(expected = "seed=7")]
fn a_failing_assertion_prints_the_seed() {
    let mut sim = Sim::new(7);
    sim.deploy("app", 1, noop(), meta());
    sim.settle(HOUR);
    sim.assert_status("app/0", StatusName::Blocked);
}

#[test]
fn a_panicking_charm_is_a_failed_hook() {
    let ch = script(|_, ev| {
        if let Event::Start = ev {
            panic!("charm bug");
        }
        Ok(())
    });
    let mut sim = Sim::new(seed());
    sim.deploy("app", 1, ch, meta());
    sim.run_for(secs(20));
    assert_eq!(sim.unit_status("app/0").unwrap().name, StatusName::Error);
    assert!(sim.logs("app/0").iter().any(|l| l.2.contains("charm bug")));
    assert!(sim.metrics().failed_hooks >= 1);
}

#[test]
fn secrets_are_granted_read_revised_and_transactional() {
    let owner = script(|ctx, ev| {
        match ev {
            Event::RelationJoined(r) if r.endpoint == "db" && ctx.is_leader()? => {
                let mut c = charm::SecretContent::default();
                c.0.insert("password".into(), "pw1".into());
                let id = ctx.secret_add(&c, &charm::SecretOptions::default())?;
                ctx.secret_grant(&id, r.relation_id, None)?;
                ctx.set_app_data(r.relation_id, "secret-id", Some(&id))?;
            }
            Event::Action(a) if a.name == "publish" => {
                let id = ctx.secret_ids()?.pop().unwrap();
                let mut c = charm::SecretContent::default();
                c.0.insert("password".into(), "pw2".into());
                ctx.secret_set(&id, Some(&c), &charm::SecretOptions::default())?;
                // A secret added by a hook that fails never exists.
                let mut lost = charm::SecretContent::default();
                lost.0.insert("k".into(), "v".into());
                ctx.secret_add(&lost, &charm::SecretOptions::default())?;
            }
            _ => {}
        }
        Ok(())
    });
    let consumer = script(|ctx, ev| {
        match ev {
            Event::RelationChanged(r) if r.remote_unit.is_none() => {
                let id = ctx.remote_app_data(r.relation_id)?.get("secret-id").cloned();
                if let Some(id) = id {
                    let c = ctx.secret_get(&charm::SecretRef::Id(id), charm::SecretRead::Tracked)?;
                    ctx.set_stored("pw", &c.0["password"])?;
                }
            }
            Event::SecretChanged(s) => {
                let c = ctx.secret_get(&charm::SecretRef::Id(s.id.clone()), charm::SecretRead::Refresh)?;
                ctx.set_stored("pw", &c.0["password"])?;
            }
            _ => {}
        }
        Ok(())
    });
    let mut sim = Sim::new(seed());
    sim.deploy("app", 1, consumer, meta())
        .deploy("srv", 1, owner, server_meta())
        .relate("app:db", "srv:db");
    sim.settle(HOUR);
    assert_eq!(sim.stored("app/0", "pw"), Some(serde_json::json!("pw1")));
    assert_eq!(sim.secret_ids().len(), 1);
    sim.run_action("srv/0", "publish", Default::default()).unwrap();
    sim.settle(HOUR);
    assert_eq!(sim.stored("app/0", "pw"), Some(serde_json::json!("pw2")));
    assert!(hooks(&sim, "app/0").contains(&"secret-changed".to_string()));
    assert_eq!(sim.secret_ids().len(), 2);
    // Now the same action in a failing hook: nothing of it lands.
    sim.fault(Fault::FailHooks {
        unit: "srv/0".into(),
        count: 1,
    });
    let id = sim.secret_ids()[0].clone();
    sim.run_action("srv/0", "publish", Default::default()).unwrap();
    sim.settle(HOUR);
    assert_eq!(sim.secret_revision(&id), Some(2));
    assert_eq!(sim.secret_ids().len(), 2);
}

#[test]
fn scale_up_and_down() {
    let mut sim = Sim::new(seed());
    sim.deploy("app", 1, noop(), meta());
    sim.settle(HOUR);
    assert_eq!(sim.hooks_of_kind(HookKind::RelationJoined), 0);
    sim.add_units("app", 3);
    sim.settle(HOUR);
    assert_eq!(sim.hooks_of_kind(HookKind::RelationJoined), 4 * 3);
    let rel = sim.peer_relation("app", None).unwrap();
    assert_eq!(sim.relation_members("app/0", rel), ["app/1", "app/2", "app/3"]);
    sim.scale_down("app", 2).unwrap();
    sim.settle(HOUR);
    assert_eq!(sim.alive_units("app"), ["app/0", "app/1"]);
    assert_eq!(sim.relation_members("app/0", rel), ["app/1"]);
}
