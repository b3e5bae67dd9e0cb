//! Leadership flags and both stores, one unit at a time in memory.

use charm::reactive::{Flags, FLAGS_KEY};
use charm::testing::{Harness, RelationState, Run, State};
use charm::{Charm, ConfigValue, Event, JujuVersion, Metadata, Observers, Status};
use leadership::example::{self, fingerprint, JujuPasswordCharm, PeerPasswordCharm};
use leadership::{Leadership, LeadershipError};
use std::path::Path;

fn meta() -> Metadata {
    Metadata::from_charmcraft_yaml(example::CHARMCRAFT_YAML).unwrap()
}

fn peer_state(leader: bool, app_bag: &[(&str, &str)]) -> State {
    State {
        leader,
        relations: vec![RelationState::new(1, "cluster", "shared-password")
            .with_unit("shared-password/1", &[])
            .with_local_app_data(app_bag)],
        ..State::default()
    }
}

fn flags(run: &Run) -> Vec<String> {
    serde_json::from_value(run.state.stored_value(FLAGS_KEY).unwrap_or_default()).unwrap_or_default()
}

fn has(run: &Run, flag: &str) -> bool {
    flags(run).iter().any(|f| f == flag)
}

fn file(run: &Run) -> Option<String> {
    run.state
        .files
        .get(Path::new(example::PASSWORD_FILE))
        .map(|(c, _)| String::from_utf8(c.clone()).unwrap())
}

fn peer_run(state: State, event: Event) -> Run {
    let run = Harness::new(meta(), PeerPasswordCharm::default).run(event, state);
    assert!(run.result.is_ok(), "{:?}", run.result);
    run
}

#[test]
fn flags_follow_the_settings_hook_by_hook() {
    // A follower sees a password for the first time.
    let run = peer_run(
        peer_state(false, &[("leader.admin_password", "p1")]),
        Event::UpdateStatus,
    );
    for f in [
        "leadership.set.admin_password",
        "leadership.changed.admin_password",
        "leadership.changed",
    ] {
        assert!(has(&run, f), "{f} should be set: {:?}", flags(&run));
    }
    assert!(!has(&run, "leadership.is_leader"));
    assert_eq!(file(&run).as_deref(), Some("p1"));
    assert_eq!(
        run.state.unit_status,
        Status::active(format!("password {}", fingerprint("p1")))
    );

    // Next hook, nothing changed: the changed flags last one hook only; set stays.
    let mut state = run.state.clone();
    state.files.clear();
    let run = peer_run(state, Event::UpdateStatus);
    assert!(has(&run, "leadership.set.admin_password"));
    assert!(!has(&run, "leadership.changed.admin_password"));
    assert!(!has(&run, "leadership.changed"));
    assert_eq!(file(&run), None, "store_secret must not run without a change");

    // The leader changes it: changed again.
    let mut state = run.state.clone();
    state.relations[0]
        .local_app_data
        .insert("leader.admin_password".into(), "p2".into());
    let run = peer_run(state, Event::RelationChanged(changed_app_bag()));
    assert!(has(&run, "leadership.changed.admin_password"));
    assert_eq!(file(&run).as_deref(), Some("p2"));

    // The leader deletes it: changed, and no longer set.
    let mut state = run.state.clone();
    state.relations[0].local_app_data.clear();
    let run = peer_run(state, Event::RelationChanged(changed_app_bag()));
    assert!(has(&run, "leadership.changed.admin_password"));
    assert!(!has(&run, "leadership.set.admin_password"));
    assert_eq!(
        run.state.unit_status,
        Status::waiting("waiting for the leader's password")
    );
}

fn changed_app_bag() -> charm::RelationEvent {
    charm::RelationEvent {
        endpoint: "cluster".into(),
        relation_id: charm::RelationId(1),
        remote_app: Some(charm::AppName::parse("shared-password").unwrap()),
        remote_unit: None,
        departing_unit: None,
    }
}

#[test]
fn the_leader_generates_once_and_sees_its_own_change_at_once() {
    let run = peer_run(peer_state(true, &[]), Event::LeaderElected);
    let pw = run.state.relations[0].local_app_data["leader.admin_password"].clone();
    assert_eq!(pw.len(), 32);
    // The leader gets no hook for its own change: store_secret ran in the same hook.
    assert_eq!(file(&run).as_deref(), Some(pw.as_str()));
    assert!(has(&run, "leadership.is_leader"));
    // Later hooks do not generate another.
    let run2 = peer_run(run.state.clone(), Event::UpdateStatus);
    assert_eq!(
        run2.state.relations[0].local_app_data["leader.admin_password"],
        pw
    );
    assert!(!has(&run2, "leadership.changed.admin_password"));
}

#[test]
fn a_new_leader_keeps_the_password() {
    let follower = peer_run(
        peer_state(false, &[("leader.admin_password", "kept")]),
        Event::UpdateStatus,
    );
    let mut state = follower.state.clone();
    state.leader = true;
    let run = peer_run(state, Event::LeaderElected);
    assert!(has(&run, "leadership.is_leader"));
    assert_eq!(
        run.state.relations[0].local_app_data["leader.admin_password"],
        "kept"
    );
}

#[test]
fn without_the_peer_relation_the_leader_waits() {
    let state = State {
        leader: true,
        ..State::default()
    };
    let run = peer_run(state, Event::Install);
    assert_eq!(
        run.state.unit_status,
        Status::waiting("waiting for the leader's password")
    );
    assert!(!has(&run, "leadership.set.admin_password"));
}

#[derive(Default)]
struct Direct;
impl Charm for Direct {
    fn register(on: &mut Observers<Self>) {
        on.observe("direct", |_, ctx, _| {
            let mut flags = Flags::default();
            let e = Leadership::peer("cluster")
                .set(ctx, &mut flags, [("k", Some("v"))])
                .unwrap_err();
            assert!(matches!(e, LeadershipError::NotLeader), "{e}");
            let e = Leadership::juju_leader_settings()
                .set(ctx, &mut flags, [("k", Some("v"))])
                .unwrap_err();
            assert!(matches!(e, LeadershipError::NotLeader), "{e}");
            assert_eq!(flags.iter().count(), 0, "a refused set raises no flag");
            Ok(())
        });
    }
}

#[test]
fn a_follower_cannot_set() {
    let run = Harness::new(meta(), Direct::default).run(Event::UpdateStatus, peer_state(false, &[]));
    assert!(run.result.is_ok(), "{:?}", run.result);
    assert!(run.state.leader_settings.is_empty());
    assert!(run.state.relations[0].local_app_data.is_empty());
}

#[test]
fn the_juju_store_uses_leader_settings_and_is_refused_on_juju_4() {
    let run =
        Harness::new(meta(), JujuPasswordCharm::default).run(Event::LeaderElected, peer_state(true, &[]));
    assert!(run.result.is_ok(), "{:?}", run.result);
    let pw = run.state.leader_settings["admin_password"].clone();
    assert!(run.state.relations[0].local_app_data.is_empty());
    assert_eq!(file(&run).as_deref(), Some(pw.as_str()));

    let juju4 = JujuVersion {
        major: 4,
        minor: 0,
        patch: 0,
    };
    let run = Harness::new(meta(), JujuPasswordCharm::default)
        .juju_version(juju4)
        .run(Event::LeaderElected, peer_state(true, &[]));
    let err = run.result.unwrap_err().to_string();
    assert!(err.contains("no leader settings"), "{err}");
}

fn failing(mut state: State) -> State {
    state
        .config
        .insert("fail-once-after-generate".into(), ConfigValue::Bool(true));
    state
}

#[test]
fn a_failed_hook_after_set_shows_the_two_stores_apart() {
    // Juju's leader settings: written at once, kept although the hook failed.
    let mut h = Harness::new(meta(), JujuPasswordCharm::default);
    let run = h.run(Event::LeaderElected, failing(peer_state(true, &[])));
    assert!(run.result.is_err());
    let kept = run.state.leader_settings["admin_password"].clone();
    let attempt = run.state.files[Path::new(example::FAILED_ATTEMPT_FILE)].0.clone();
    assert_eq!(String::from_utf8(attempt).unwrap(), fingerprint(&kept));
    assert_eq!(file(&run), None);
    // Juju retries: the password is not generated again; the retry stores the kept one.
    let retry = h.run(Event::LeaderElected, run.state.clone());
    assert!(retry.result.is_ok(), "{:?}", retry.result);
    assert_eq!(retry.state.leader_settings["admin_password"], kept);
    assert_eq!(file(&retry).as_deref(), Some(kept.as_str()));

    // The peer application bag: committed with the hook, so the failed hook's password is gone.
    let mut h = Harness::new(meta(), PeerPasswordCharm::default);
    let run = h.run(Event::LeaderElected, failing(peer_state(true, &[])));
    assert!(run.result.is_err());
    assert!(run.state.relations[0].local_app_data.is_empty());
    assert!(run.state.leader_settings.is_empty());
    let retry = h.run(Event::LeaderElected, run.state.clone());
    assert!(retry.result.is_ok(), "{:?}", retry.result);
    assert!(retry.state.relations[0]
        .local_app_data
        .contains_key("leader.admin_password"));
}
