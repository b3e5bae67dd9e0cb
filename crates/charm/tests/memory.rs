//! The in-memory backend and the framework: Juju's access rules, commit on success, rollback on
//! failure, deferral and re-emission order.

use charm::testing::{bag, Harness, RelationState, State};
use charm::*;
use std::cell::RefCell;
use std::time::Duration;

const META: &str = r#"
name: demo
peers: {peers: {interface: demo-peers}}
requires: {db: {interface: pgsql, limit: 1}}
provides: {website: {interface: http}}
config:
  options:
    port: {type: int, default: 8080}
    name: {type: string, default: demo}
    ratio: {type: float}
    debug: {type: boolean, default: false}
actions:
  backup: {description: back up}
"#;

fn meta() -> Metadata {
    Metadata::from_charmcraft_yaml(META).unwrap()
}

fn unit(s: &str) -> UnitName {
    UnitName::parse(s).unwrap()
}

fn app(s: &str) -> AppName {
    AppName::parse(s).unwrap()
}

fn changed(endpoint: &str, id: u32, remote: Option<&str>, remote_app: &str) -> Event {
    Event::RelationChanged(RelationEvent {
        endpoint: endpoint.into(),
        relation_id: RelationId(id),
        remote_app: Some(app(remote_app)),
        remote_unit: remote.map(unit),
        departing_unit: None,
    })
}

/// A charm whose behaviour is a closure set per test.
type Script = Box<dyn Fn(&mut Context<'_>, &Event) -> HandlerResult>;
thread_local! {
    static SCRIPT: RefCell<Option<Script>> = const { RefCell::new(None) };
    static LOG: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

#[derive(Default)]
struct Scripted;

impl Charm for Scripted {
    fn register(on: &mut Observers<Self>) {
        on.observe("main", |_, ctx, ev| {
            SCRIPT.with(|s| match s.borrow().as_ref() {
                Some(f) => f(ctx, ev),
                None => Ok(()),
            })
        });
        on.custom_event("tick");
    }
}

fn run(
    state: State,
    event: Event,
    f: impl Fn(&mut Context<'_>, &Event) -> HandlerResult + 'static,
) -> testing::Run {
    SCRIPT.with(|s| *s.borrow_mut() = Some(Box::new(f)));
    let mut h = Harness::new(meta(), Scripted::default);
    h.run(event, state)
}

fn peers_state(leader: bool) -> State {
    State {
        leader,
        relations: vec![
            RelationState::new(1, "peers", "demo")
                .with_unit("demo/1", &[("ingress-address", "10.0.0.2")])
                .with_local_app_data(&[("shared", "yes")]),
            RelationState::new(2, "db", "pg")
                .with_unit("pg/0", &[("host", "db0")])
                .with_remote_app_data(&[("database", "demo")])
                .with_local_app_data(&[("secret-ish", "x")]),
        ],
        ..State::default()
    }
}

#[test]
fn follower_cannot_write_app_bag_but_reads_peer_app_bag() {
    let r = run(peers_state(false), Event::UpdateStatus, |ctx, _| {
        let err = ctx.set_app_data(RelationId(1), "k", Some("v")).unwrap_err();
        assert!(matches!(err, ModelError::WriteDenied { .. }), "{err}");
        assert_eq!(
            ctx.app_data(RelationId(1))?.get("shared").map(String::as_str),
            Some("yes")
        );
        let err = ctx.app_data(RelationId(2)).unwrap_err();
        assert!(matches!(err, ModelError::ReadDenied { .. }), "{err}");
        Ok(())
    });
    r.result.unwrap();
}

#[test]
fn one_key_reads_follow_the_rules_and_see_this_hooks_writes() {
    let r = run(peers_state(false), Event::UpdateStatus, |ctx, _| {
        let pg0 = BagOwner::Unit(unit("pg/0"));
        assert_eq!(ctx.data_key(RelationId(2), &pg0, "host")?.as_deref(), Some("db0"));
        assert_eq!(ctx.data_key(RelationId(2), &pg0, "host")?.as_deref(), Some("db0"));
        assert_eq!(ctx.data_key(RelationId(2), &pg0, "port")?, None);
        let remote = BagOwner::App(app("pg"));
        assert_eq!(
            ctx.data_key(RelationId(2), &remote, "database")?.as_deref(),
            Some("demo")
        );
        // The same read rule as a whole-bag read.
        let own_app = BagOwner::App(app("demo"));
        let err = ctx.data_key(RelationId(2), &own_app, "secret-ish").unwrap_err();
        assert!(matches!(err, ModelError::ReadDenied { .. }), "{err}");
        // A key read before a write shows the write.
        let me = BagOwner::Unit(ctx.unit().clone());
        assert_eq!(ctx.data_key(RelationId(2), &me, "k")?, None);
        ctx.set_unit_data(RelationId(2), "k", Some("v"))?;
        assert_eq!(ctx.data_key(RelationId(2), &me, "k")?.as_deref(), Some("v"));
        ctx.set_unit_data(RelationId(2), "k", None)?;
        assert_eq!(ctx.data_key(RelationId(2), &me, "k")?, None);
        Ok(())
    });
    r.result.unwrap();
    // One backend read per key: "host" twice is one read; the denied read made none.
    let gets = r.calls.iter().filter(|c| **c == "relation-get").count();
    assert_eq!(gets, 4, "{:?}", r.calls);
}

#[test]
fn leader_reads_and_writes_app_bags() {
    let r = run(peers_state(true), Event::UpdateStatus, |ctx, _| {
        assert_eq!(
            ctx.app_data(RelationId(2))?.get("secret-ish").map(String::as_str),
            Some("x")
        );
        ctx.set_app_data(RelationId(1), "k", Some("v"))?;
        ctx.set_app_data(RelationId(1), "shared", None)?;
        Ok(())
    });
    r.result.unwrap();
    assert_eq!(r.state.relation(1).unwrap().local_app_data, bag(&[("k", "v")]));
}

#[test]
fn remote_bags_are_read_only_and_readable() {
    let r = run(peers_state(false), Event::UpdateStatus, |ctx, _| {
        assert_eq!(
            ctx.remote_app_data(RelationId(2))?
                .get("database")
                .map(String::as_str),
            Some("demo")
        );
        let pg = BagOwner::Unit(unit("pg/0"));
        assert_eq!(
            ctx.data(RelationId(2), &pg)?.get("host").map(String::as_str),
            Some("db0")
        );
        for owner in [pg, BagOwner::App(app("pg")), BagOwner::Unit(unit("demo/1"))] {
            let err = ctx
                .write(RelationId(2), &owner, [("k".to_string(), Some("v".to_string()))])
                .unwrap_err();
            assert!(matches!(err, ModelError::WriteDenied { .. }), "{owner}: {err}");
        }
        Ok(())
    });
    r.result.unwrap();
    assert_eq!(
        r.state.relation(2).unwrap().remote_units[&unit("pg/0")],
        bag(&[("host", "db0")])
    );
}

#[test]
fn unknown_endpoint_and_relation_are_typed_errors() {
    let r = run(peers_state(false), Event::UpdateStatus, |ctx, _| {
        assert!(matches!(
            ctx.relations("nope"),
            Err(ModelError::UnknownEndpoint(_))
        ));
        assert!(matches!(
            ctx.relation(RelationId(99)),
            Err(ModelError::UnknownRelation(_))
        ));
        assert!(matches!(
            ctx.set_unit_data(RelationId(99), "k", Some("v")),
            Err(ModelError::UnknownRelation(_))
        ));
        Ok(())
    });
    r.result.unwrap();
}

#[test]
fn relations_and_units() {
    let r = run(peers_state(false), Event::UpdateStatus, |ctx, _| {
        let peers = ctx.relations("peers")?;
        assert_eq!(peers.len(), 1);
        assert_eq!(peers[0].app, Some(app("demo")));
        assert_eq!(peers[0].units, vec![unit("demo/1")]);
        let db = ctx.relation_on("db")?.expect("db relation");
        assert_eq!(db.app, Some(app("pg")));
        assert!(ctx.relation_on("website")?.is_none());
        Ok(())
    });
    r.result.unwrap();
}

#[test]
fn read_your_own_writes_then_commit() {
    let r = run(peers_state(false), Event::UpdateStatus, |ctx, _| {
        ctx.set_unit_data(RelationId(1), "addr", Some("10.0.0.1"))?;
        assert_eq!(
            ctx.unit_data(RelationId(1))?.get("addr").map(String::as_str),
            Some("10.0.0.1")
        );
        ctx.set_unit_data(RelationId(1), "addr", Some("10.0.0.9"))?;
        assert_eq!(
            ctx.unit_data(RelationId(1))?.get("addr").map(String::as_str),
            Some("10.0.0.9")
        );
        Ok(())
    });
    r.result.unwrap();
    assert_eq!(
        r.state.relation(1).unwrap().local_unit_data,
        bag(&[("addr", "10.0.0.9")])
    );
}

#[test]
fn a_failed_hook_commits_only_the_immediate_effects() {
    let before = peers_state(true);
    let r = run(before.clone(), Event::ConfigChanged, |ctx, _| {
        ctx.set_unit_data(RelationId(1), "addr", Some("10.0.0.1"))?;
        ctx.set_app_data(RelationId(1), "shared", Some("changed"))?;
        ctx.set_stored("count", &7u32)?;
        ctx.secret_add(
            &SecretContent(bag(&[("token", "abc")])),
            &SecretOptions::default(),
        )?;
        ctx.backend().state_set(&bag(&[("k", "v")]))?;
        ctx.set_status(Status::maintenance("working"))?;
        ctx.set_app_status(Status::waiting("app working"))?;
        ctx.leader_set([("password".to_string(), Some("pw".to_string()))])?;
        ctx.set_workload_version("1.2")?;
        ctx.info("about to fail");
        Err(HandlerError::msg("boom"))
    });
    let err = r.result.unwrap_err();
    assert!(err.to_string().contains("boom"), "{err}");
    // Transactional: nothing of it.
    assert_eq!(r.state.relations, before.relations);
    assert_eq!(r.state.stored, None);
    assert!(r.state.secrets.is_empty());
    assert!(r.state.controller_state.is_empty());
    // Immediate: kept.
    assert_eq!(r.state.unit_status, Status::maintenance("working"));
    assert_eq!(r.state.app_status, Status::waiting("app working"));
    assert_eq!(r.state.leader_settings, bag(&[("password", "pw")]));
    assert_eq!(r.state.workload_version, "1.2");
    assert_eq!(r.logs, vec![(LogLevel::Info, "about to fail".to_string())]);
}

#[test]
fn a_successful_hook_commits_everything() {
    let r = run(peers_state(true), Event::ConfigChanged, |ctx, _| {
        ctx.set_unit_data(RelationId(1), "addr", Some("10.0.0.1"))?;
        ctx.set_stored("count", &7u32)?;
        ctx.secret_add(
            &SecretContent(bag(&[("token", "abc")])),
            &SecretOptions::default(),
        )?;
        ctx.backend().state_set(&bag(&[("k", "v")]))?;
        Ok(())
    });
    r.result.unwrap();
    assert_eq!(
        r.state.relation(1).unwrap().local_unit_data,
        bag(&[("addr", "10.0.0.1")])
    );
    assert_eq!(r.state.stored_value("count"), Some(serde_json::json!(7)));
    assert_eq!(r.state.secrets.len(), 1);
    assert_eq!(r.state.controller_state, bag(&[("k", "v")]));
}

#[test]
fn stored_state_survives_between_hooks() {
    let mut state = State::default();
    for expected in 1..=3u32 {
        let r = run(state, Event::UpdateStatus, |ctx, _| {
            let n: u32 = ctx.stored("n")?;
            ctx.set_stored("n", &(n + 1))?;
            Ok(())
        });
        r.result.unwrap();
        assert_eq!(r.state.stored_value("n"), Some(serde_json::json!(expected)));
        state = r.state;
    }
    // A value of the wrong type is a typed error, not a panic.
    let r = run(state, Event::UpdateStatus, |ctx, _| {
        let e = ctx.stored::<Vec<String>>("n").unwrap_err();
        assert!(matches!(e, ModelError::Stored { .. }));
        Ok(())
    });
    r.result.unwrap();
}

#[test]
fn corrupt_stored_state_fails_the_hook_and_is_kept() {
    let state = State {
        stored: Some("{not json".into()),
        ..State::default()
    };
    let r = run(state, Event::UpdateStatus, |_, _| Ok(()));
    assert!(matches!(r.result, Err(HookError::Storage(_))));
    assert_eq!(r.state.stored.as_deref(), Some("{not json"));
}

#[test]
fn config_is_typed_with_defaults() {
    let state = State {
        config: [("name".to_string(), ConfigValue::String("x".into()))].into(),
        ..State::default()
    };
    let r = run(state, Event::ConfigChanged, |ctx, _| {
        let c = ctx.config()?;
        assert_eq!(c.int("port")?, Some(8080));
        assert_eq!(c.string("name")?, Some("x".into()));
        assert_eq!(c.boolean("debug")?, Some(false));
        assert_eq!(c.float("ratio")?, None);
        assert_eq!(c.float("port")?, Some(8080.0));
        assert!(matches!(c.string("port"), Err(ModelError::ConfigType { .. })));
        Ok(())
    });
    r.result.unwrap();
}

#[test]
fn leader_only_operations_are_refused_on_followers() {
    let r = run(State::default(), Event::UpdateStatus, |ctx, _| {
        assert!(matches!(
            ctx.leader_set([("k".to_string(), Some("v".to_string()))]),
            Err(ModelError::NotLeader(_))
        ));
        assert!(matches!(
            ctx.set_app_status(Status::active("")),
            Err(ModelError::NotLeader(_))
        ));
        assert!(matches!(ctx.app_status(), Err(ModelError::NotLeader(_))));
        Ok(())
    });
    r.result.unwrap();
    assert!(r.state.leader_settings.is_empty());
}

#[test]
fn is_leader_is_asked_once_per_hook() {
    let r = run(State::default(), Event::UpdateStatus, |ctx, _| {
        for _ in 0..5 {
            assert!(!ctx.is_leader()?);
        }
        Ok(())
    });
    r.result.unwrap();
    assert_eq!(r.calls.iter().filter(|c| **c == "is-leader").count(), 1);
}

#[test]
fn a_bag_read_is_cached_for_the_hook() {
    let r = run(peers_state(false), Event::UpdateStatus, |ctx, _| {
        let u = BagOwner::Unit(unit("demo/1"));
        for _ in 0..3 {
            ctx.data(RelationId(1), &u)?;
        }
        Ok(())
    });
    r.result.unwrap();
    assert_eq!(r.calls.iter().filter(|c| **c == "relation-get").count(), 1);
}

/// A charm with two handlers; the first defers while told to, and both record what they saw.
#[derive(Default)]
struct Deferrer;

thread_local! {
    static DEFER_WHILE: RefCell<bool> = const { RefCell::new(true) };
}

fn record(who: &str, ev: &Event) {
    LOG.with(|l| l.borrow_mut().push(format!("{who}:{}", ev.hook_name())));
}

impl Charm for Deferrer {
    fn register(on: &mut Observers<Self>) {
        on.observe("first", |_, ctx, ev| {
            record("first", ev);
            if DEFER_WHILE.with(|d| *d.borrow()) && *ev != Event::UpdateStatus {
                ctx.defer();
            }
            Ok(())
        });
        on.observe("second", |_, _, ev| {
            record("second", ev);
            if *ev == Event::Remove {
                return Err(HandlerError::msg("second fails on remove"));
            }
            Ok(())
        });
    }
}

fn deferrer_run(h: &mut Harness<Deferrer>, ev: Event, state: State) -> (testing::Run, Vec<String>) {
    LOG.with(|l| l.borrow_mut().clear());
    let r = h.run(ev, state);
    (r, LOG.with(|l| l.borrow().clone()))
}

#[test]
fn deferral_reemits_for_the_deferring_handler_only_in_order() {
    let mut h = Harness::new(meta(), Deferrer::default);
    DEFER_WHILE.with(|d| *d.borrow_mut() = true);
    let (r, seen) = deferrer_run(&mut h, Event::Install, State::default());
    r.result.unwrap();
    assert_eq!(seen, ["first:install", "second:install"]);
    assert_eq!(r.state.deferred(), vec![("first".to_string(), Event::Install)]);

    let (r, seen) = deferrer_run(&mut h, Event::ConfigChanged, r.state);
    r.result.unwrap();
    assert_eq!(
        seen,
        ["first:install", "first:config-changed", "second:config-changed"]
    );
    assert_eq!(
        r.state.deferred(),
        vec![
            ("first".to_string(), Event::Install),
            ("first".to_string(), Event::ConfigChanged)
        ]
    );

    // The same event again is a duplicate of a queued one: not run twice, not queued twice.
    let (r, seen) = deferrer_run(&mut h, Event::ConfigChanged, r.state);
    r.result.unwrap();
    assert_eq!(
        seen,
        ["first:install", "first:config-changed", "second:config-changed"]
    );
    assert_eq!(r.state.deferred().len(), 2);

    // The handler stops deferring: both queued events run once, oldest first, and are dropped.
    DEFER_WHILE.with(|d| *d.borrow_mut() = false);
    let (r, seen) = deferrer_run(&mut h, Event::Start, r.state);
    r.result.unwrap();
    assert_eq!(
        seen,
        [
            "first:install",
            "first:config-changed",
            "first:start",
            "second:start"
        ]
    );
    assert!(r.state.deferred().is_empty());
}

#[test]
fn a_failed_hook_rolls_back_the_deferral_queue() {
    let mut h = Harness::new(meta(), Deferrer::default);
    DEFER_WHILE.with(|d| *d.borrow_mut() = true);
    let (r, _) = deferrer_run(&mut h, Event::Install, State::default());
    let queued = r.state.deferred();
    DEFER_WHILE.with(|d| *d.borrow_mut() = false);
    // first re-runs install without deferring (would drop it), then second fails on remove.
    let (r2, seen) = deferrer_run(&mut h, Event::Remove, r.state.clone());
    assert!(matches!(r2.result, Err(HookError::Handler { ref observer, .. }) if observer == "second"));
    assert_eq!(seen, ["first:install", "first:remove", "second:remove"]);
    assert_eq!(
        r2.state.deferred(),
        queued,
        "the queue must be as before the failed hook"
    );
}

#[test]
fn a_notice_for_a_vanished_handler_is_dropped() {
    let doc = StoredDocument {
        version: 1,
        values: Default::default(),
        deferred: vec![Notice {
            observer: "gone".into(),
            event: Event::Install,
        }],
    };
    let state = State {
        stored: Some(doc.render()),
        ..State::default()
    };
    let r = run(state, Event::UpdateStatus, |_, _| Ok(()));
    r.result.unwrap();
    assert!(r.state.deferred().is_empty());
}

#[test]
fn unregistered_custom_events_are_refused() {
    let r = run(State::default(), Event::Custom { name: "nope".into() }, |_, _| {
        Ok(())
    });
    assert!(matches!(
        r.result,
        Err(HookError::Dispatch(DispatchError::UnknownHook(_)))
    ));
    let r = run(
        State::default(),
        Event::Custom { name: "tick".into() },
        |_, ev| {
            assert_eq!(*ev, Event::Custom { name: "tick".into() });
            Ok(())
        },
    );
    r.result.unwrap();
}

#[test]
fn secrets_lifecycle() {
    let r = run(peers_state(true), Event::UpdateStatus, |ctx, _| {
        let id = ctx.secret_add(
            &SecretContent(bag(&[("token", "t1")])),
            &SecretOptions {
                label: Some("tok".into()),
                ..Default::default()
            },
        )?;
        let by_label = ctx.secret_get(&SecretRef::Label("tok".into()), SecretRead::Tracked)?;
        assert_eq!(by_label.0["token"], "t1");
        ctx.secret_set(
            &id,
            Some(&SecretContent(bag(&[("token", "t2")]))),
            &SecretOptions::default(),
        )?;
        let tracked = ctx.secret_get(&SecretRef::Id(id.clone()), SecretRead::Tracked)?;
        assert_eq!(tracked.0["token"], "t1");
        let peek = ctx.secret_get(&SecretRef::Id(id.clone()), SecretRead::Peek)?;
        assert_eq!(peek.0["token"], "t2");
        let refreshed = ctx.secret_get(&SecretRef::Id(id.clone()), SecretRead::Refresh)?;
        assert_eq!(refreshed.0["token"], "t2");
        let info = ctx.secret_info(&SecretRef::Id(id.clone()))?;
        assert_eq!((info.revision, info.label.as_deref()), (2, Some("tok")));
        ctx.secret_grant(&id, RelationId(2), Some(&unit("pg/0")))?;
        ctx.secret_revoke(&id, RelationId(2), &RevokeTarget::Unit(unit("pg/0")))?;
        assert_eq!(ctx.secret_ids()?, vec![id.clone()]);
        ctx.secret_remove(&id, None)?;
        assert!(matches!(
            ctx.secret_get(&SecretRef::Id(id), SecretRead::Tracked),
            Err(ModelError::Backend(BackendError::SecretNotFound))
        ));
        Ok(())
    });
    r.result.unwrap();
    // Secret values never show in Debug output.
    let c = SecretContent(bag(&[("token", "hunter2")]));
    assert!(!format!("{c:?}").contains("hunter2"));
}

#[test]
fn actions_results_are_flattened_and_validated() {
    let mut state = State::default();
    state
        .action_params
        .insert("target".into(), serde_json::json!("disk"));
    let ev = Event::Action(ActionEvent {
        name: "backup".into(),
        id: Some("1".into()),
    });
    let r = run(state, ev, |ctx, _| {
        assert_eq!(ctx.action_params()?["target"], "disk");
        let results = serde_json::json!({"size": 3, "where": {"path": "/b", "ok": true}});
        ctx.action_set(results.as_object().unwrap())?;
        let dup = serde_json::json!({"a.b": "1", "a": {"b": "2"}});
        assert!(matches!(
            ctx.action_set(dup.as_object().unwrap()),
            Err(ModelError::Invalid(_))
        ));
        let bad = serde_json::json!({"Bad Key": "1"});
        assert!(matches!(
            ctx.action_set(bad.as_object().unwrap()),
            Err(ModelError::Invalid(_))
        ));
        ctx.action_log("halfway")?;
        ctx.action_fail("disk full")?;
        Ok(())
    });
    r.result.unwrap();
    assert_eq!(r.action_results["size"], "3");
    assert_eq!(r.action_results["where.path"], "/b");
    assert_eq!(r.action_results["where.ok"], "true");
    assert_eq!(r.action_logs, ["halfway"]);
    assert_eq!(r.action_failure.as_deref(), Some("disk full"));
}

#[test]
fn seams_clock_hostname_workload_schedule() {
    SCRIPT.with(|s| {
        *s.borrow_mut() = Some(Box::new(|ctx: &mut Context<'_>, _: &Event| -> HandlerResult {
            assert_eq!(ctx.hostname()?, "node-7");
            let t = ctx.now();
            assert_eq!(t, std::time::UNIX_EPOCH + Duration::from_secs(42));
            let out = ctx.run(&WorkloadCommand::new(
                "microovn",
                ["cluster", "list", "-f", "json"],
            ))?;
            assert_eq!(out.stdout, "[]");
            ctx.schedule("tick", Duration::from_secs(5))?;
            assert!(ctx.schedule("bad name!", Duration::from_secs(5)).is_err());
            Ok(())
        }))
    });
    let mut h = Harness::new(meta(), Scripted::default).workload(|c| {
        assert_eq!(c.to_string(), "microovn cluster list -f json");
        CommandOutput::ok("[]")
    });
    let state = State {
        hostname: "node-7".into(),
        now: std::time::UNIX_EPOCH + Duration::from_secs(42),
        ..State::default()
    };
    let r = h.run(Event::UpdateStatus, state);
    r.result.unwrap();
    assert_eq!(r.commands.len(), 1);
    assert_eq!(r.scheduled, vec![("tick".to_string(), Duration::from_secs(5))]);
}

#[test]
fn goal_state_counts_planned_units() {
    let r = run(peers_state(false), Event::UpdateStatus, |ctx, _| {
        let g = ctx.goal_state()?;
        assert_eq!(g.planned_units(), 2);
        assert!(g.relations["db"].contains_key("pg"));
        Ok(())
    });
    r.result.unwrap();
}

#[test]
fn broken_relation_is_hidden_in_its_own_hook() {
    let ev = Event::RelationBroken(RelationEvent {
        endpoint: "db".into(),
        relation_id: RelationId(2),
        remote_app: Some(app("pg")),
        remote_unit: None,
        departing_unit: None,
    });
    let r = run(peers_state(false), ev, |ctx, _| {
        assert!(ctx.relations("db")?.is_empty());
        assert_eq!(ctx.relations("peers")?.len(), 1);
        Ok(())
    });
    r.result.unwrap();
}

#[test]
fn app_bag_change_event_has_no_remote_unit() {
    let r = run(
        peers_state(false),
        changed("peers", 1, None, "demo"),
        |ctx, ev| {
            let rel = ev.relation().unwrap();
            assert!(rel.remote_unit.is_none());
            assert_eq!(
                ctx.app_data(rel.relation_id)?.get("shared").map(String::as_str),
                Some("yes")
            );
            Ok(())
        },
    );
    r.result.unwrap();
}

#[test]
fn oversized_bag_is_refused_and_nothing_half_applied() {
    let r = run(peers_state(false), Event::UpdateStatus, |ctx, _| {
        let big = "x".repeat(testing::MAX_BAG_BYTES + 1);
        let e = ctx.set_unit_data(RelationId(1), "big", Some(&big)).unwrap_err();
        assert!(matches!(e, ModelError::Backend(BackendError::Refused(_))), "{e}");
        assert!(ctx.unit_data(RelationId(1))?.is_empty());
        Ok(())
    });
    r.result.unwrap();
    assert!(r.state.relation(1).unwrap().local_unit_data.is_empty());
}

#[test]
fn the_example_charm_greets_a_peer() {
    // The README's example, driven in memory.
    #[derive(Default)]
    struct Hello;
    impl Charm for Hello {
        fn register(on: &mut Observers<Self>) {
            on.observe("hello", |_, ctx, event| {
                if let Event::RelationChanged(r) = event {
                    let Some(u) = &r.remote_unit else { return Ok(()) };
                    let addr = ctx
                        .data(r.relation_id, &BagOwner::Unit(u.clone()))?
                        .get("ingress-address")
                        .cloned()
                        .unwrap_or_default();
                    ctx.set_unit_data(r.relation_id, "greeted", Some(&format!("hello {u} at {addr}")))?;
                    ctx.set_status(Status::active(format!("greeted {u}")))?;
                }
                Ok(())
            });
        }
    }
    let mut h = Harness::new(meta(), Hello::default);
    let r = h.run(changed("peers", 1, Some("demo/1"), "demo"), peers_state(false));
    r.result.unwrap();
    assert_eq!(
        r.state.relation(1).unwrap().local_unit_data["greeted"],
        "hello demo/1 at 10.0.0.2"
    );
    assert_eq!(r.state.unit_status, Status::active("greeted demo/1"));
    // The event names the relation, so no relation-ids or relation-list call is needed.
    assert_eq!(r.calls, ["relation-get", "relation-set", "status-set"]);
}

#[test]
fn storage_in_the_harness_lists_gets_and_adds_on_commit_only() {
    let mut state = State::default();
    for (i, loc) in [(0, "/srv/data/0"), (1, "/srv/data/1")] {
        state.storage.insert(
            StorageId {
                name: "data".into(),
                index: i,
            },
            StorageInfo {
                kind: "filesystem".into(),
                location: loc.into(),
            },
        );
    }
    let attached = Event::StorageAttached(StorageEvent {
        name: "data".into(),
        index: Some(1),
    });
    let r = run(state.clone(), attached.clone(), |ctx, ev| {
        let Event::StorageAttached(s) = ev else {
            return Ok(());
        };
        let id = s.id().unwrap();
        assert_eq!(
            ctx.storage_get(&id)?.location,
            std::path::PathBuf::from("/srv/data/1")
        );
        assert_eq!(ctx.storages("data")?.len(), 2);
        assert!(ctx.storage_list("logs")?.is_empty());
        let missing = StorageId {
            name: "data".into(),
            index: 9,
        };
        assert!(ctx.storage_get(&missing).is_err());
        ctx.storage_add("data", 2)?;
        assert!(ctx.storage_add("data", 0).is_err());
        Ok(())
    });
    r.result.unwrap();
    assert_eq!(r.state.storage_added.get("data"), Some(&2));
    assert_eq!(
        r.calls,
        [
            "storage-get",
            "storage-list",
            "storage-get",
            "storage-get",
            "storage-list",
            "storage-get",
            "storage-add",
            "storage-add"
        ]
    );
    // A failing hook's storage-add is not committed, as Juju discards it.
    let r = run(state, attached, |ctx, _| {
        ctx.storage_add("data", 1)?;
        Err(HandlerError::msg("boom"))
    });
    assert!(r.result.is_err());
    assert!(r.state.storage_added.is_empty());
}

#[test]
fn the_harness_runs_every_new_hook_kind_without_error() {
    let w = WorkloadEvent {
        container: "workload".into(),
        notice: None,
        check: None,
    };
    for e in [
        Event::CollectMetrics,
        Event::MeterStatusChanged,
        Event::LeaderDeposed,
        Event::StorageDetaching(StorageEvent {
            name: "data".into(),
            index: Some(0),
        }),
        Event::PebbleReady(w.clone()),
        Event::PebbleCheckFailed(WorkloadEvent {
            check: Some("http".into()),
            ..w.clone()
        }),
    ] {
        let r = run(State::default(), e.clone(), |_, _| Ok(()));
        assert!(r.result.is_ok(), "{e:?}: {:?}", r.result);
    }
}
