//! The process driver with charms written as shell scripts: Juju's environment, the hook tools
//! over the unit's socket, UTS hostnames, failures, timeouts and floods of output. The Python
//! `ops` charms are in `crates/ensemble/tests/python.rs`.

use juju_sim::{ProcessConfig, Sim, SimConfig};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A charm directory whose `dispatch` is `script` (run by /bin/sh).
fn shell_charm(root: &Path, name: &str, metadata: &str, script: &str) -> PathBuf {
    let dir = root.join(format!("charm-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("metadata.yaml"), metadata).unwrap();
    let dispatch = dir.join("dispatch");
    std::fs::write(&dispatch, format!("#!/bin/sh\n{script}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dispatch, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

fn model(root: &Path, seed: u64, tweak: impl FnOnce(&mut ProcessConfig)) -> Sim {
    let tools = ProcessConfig::find_hook_tools().unwrap();
    let mut cfg = ProcessConfig::new(root.join("model"), tools);
    tweak(&mut cfg);
    let sim_cfg = SimConfig {
        update_status_interval: None,
        ..SimConfig::default()
    };
    let mut sim = Sim::with_processes(seed, sim_cfg, cfg).unwrap();
    sim.set_replay_hint("SIM_SEED={seed} cargo test -p juju-sim --test process");
    sim
}

const PEER_META: &str = "name: shell\npeers:\n  cluster:\n    interface: shell-peers\n";

#[test]
fn shell_charms_form_a_peer_relation_through_the_tools() {
    let tmp = tempfile::tempdir().unwrap();
    let charm = shell_charm(
        tmp.path(),
        "peer",
        PEER_META,
        r#"set -e
case "$JUJU_DISPATCH_PATH" in
  hooks/cluster-relation-created)
    relation-set host="$(hostname)" unit="$JUJU_UNIT_NAME" ;;
  hooks/cluster-relation-changed)
    [ -n "$JUJU_REMOTE_UNIT" ] || exit 0  # the application bag changed
    peer_host=$(relation-get host "$JUJU_REMOTE_UNIT")
    [ -n "$peer_host" ] && state-set "seen-$(echo "$JUJU_REMOTE_UNIT" | tr / -)=$peer_host"
    n=$(state-get --format=json | tr ',' '\n' | grep -c seen- || true)
    status-set active "sees $n peers" ;;
  hooks/start)
    [ "$(is-leader)" = "True" ] && relation-set -r "$(relation-ids cluster)" --app leader="$JUJU_UNIT_NAME"
    status-set active started ;;
esac
"#,
    );
    let mut sim = model(tmp.path(), 7, |_| {});
    sim.deploy_charm_dir("shell", 3, &charm).unwrap();
    if let Err(e) = sim.run_until_idle(Duration::from_secs(30)) {
        for u in ["shell/0", "shell/1", "shell/2"] {
            eprintln!("{u}: {:#?}", sim.logs(u));
        }
        panic!("{e}\n{}", sim.status_table());
    }
    for u in ["shell/0", "shell/1", "shell/2"] {
        assert_eq!(
            sim.unit_status(u).unwrap().message,
            "sees 2 peers",
            "{u}: {:?}",
            sim.logs(u)
        );
    }
    let rel = sim.peer_relation("shell", Some("cluster")).unwrap();
    let bag = sim.databag(rel, "shell/1").unwrap();
    assert_eq!(bag.get("unit").map(String::as_str), Some("shell/1"));
    let host = bag.get("host").unwrap();
    let expected = sim.unit("shell/1").unwrap().machine.hostname;
    if sim.process_config().unwrap().uts_namespaces {
        assert_eq!(host, &expected, "each hook sees its unit's own hostname");
    }
    let app = sim.databag(rel, "shell").unwrap();
    assert_eq!(app.get("leader").map(String::as_str), Some("shell/0"));
    // Every hook ran as a process, and each made its tool calls through the socket.
    let stats = sim.process_stats();
    assert!(stats.iter().all(|s| s.exit_code == Some(0)), "{stats:?}");
    assert!(stats.iter().any(|s| s.tool_calls >= 3));
}

/// Runs `calls` (one shell command per line) in the unit's start hook and records each one's
/// exit code and standard error in `calls.log` in its charm directory.
fn record_calls(calls: &str) -> String {
    let mut script = String::from("case \"$JUJU_DISPATCH_PATH\" in\n  hooks/start)\n    : > calls.log\n");
    for call in calls.lines().filter(|l| !l.trim().is_empty()) {
        script.push_str(&format!(
            "    err=$({call} 2>&1 >/dev/null); echo \"$? $err\" >> calls.log\n"
        ));
    }
    script.push_str("    status-set active done ;;\nesac\n");
    script
}

#[test]
fn bad_tool_calls_fail_like_juju_and_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let calls = r#"
relation-set --bogus x=1
relation-set -r 99 x=1
echo '{"a": ' | relation-set --file -
printf 'a: [1, 2]\n' | relation-set --file -
relation-set -r $(relation-ids cluster) --app "x=$JUJU_UNIT_NAME"
relation-get -r $(relation-ids cluster) - shell/9
head -c 17000000 /dev/zero | tr '\0' a | sed 's/^/big: /' | relation-set -r $(relation-ids cluster) --file -
leader-set "x=$JUJU_UNIT_NAME"
relation-set -r $(relation-ids cluster) ok=yes
"#;
    let charm = shell_charm(tmp.path(), "bad", PEER_META, &record_calls(calls));
    let mut sim = model(tmp.path(), 11, |_| {});
    sim.deploy_charm_dir("shell", 2, &charm).unwrap();
    sim.settle(Duration::from_secs(60));
    // shell/1 is not the leader: its app-bag and leader-settings writes are refused.
    let log = std::fs::read_to_string(sim.unit_charm_dir("shell/1").unwrap().join("calls.log")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    let expect = [
        (2, "ERROR option provided but not defined: --bogus"),
        (2, "ERROR invalid value \"99\" for option -r: relation not found"),
        (1, "ERROR"),
        (1, "ERROR"),
        (1, "ERROR cannot write relation settings"),
        (1, "ERROR cannot read settings for unit \"shell/9\""),
        (1, "quota limit exceeded"),
        (1, "not the leader"),
        (0, ""),
    ];
    assert_eq!(lines.len(), expect.len(), "{log}");
    for (line, (code, text)) in lines.iter().zip(expect) {
        let (got_code, got_err) = line.split_once(' ').unwrap();
        assert_eq!(got_code.parse::<i32>().unwrap(), code, "{line}");
        assert!(got_err.contains(text), "{line:?} should contain {text:?}");
    }
    // Nothing of the refused calls was applied; the good call was.
    let rel = sim.peer_relation("shell", Some("cluster")).unwrap();
    let bag = sim.databag(rel, "shell/1").unwrap();
    let written: Vec<&String> = bag
        .keys()
        .filter(|k| !k.contains("-address") && *k != "egress-subnets")
        .collect();
    assert_eq!(written, ["ok"], "{bag:?}");
    // Only the leader's application-bag and leader-settings writes landed.
    let app = sim.databag(rel, "shell").unwrap();
    assert_eq!(app.get("x").map(String::as_str), Some("shell/0"), "{app:?}");
    assert_eq!(
        sim.leader_settings("shell").get("x").map(String::as_str),
        Some("shell/0")
    );
    assert_eq!(sim.unit_status("shell/1").unwrap().message, "done");
}

#[test]
fn a_crashing_hanging_or_flooding_charm_goes_to_error_and_the_model_runs_on() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = |n: &str| format!("name: {n}\n");
    let crash = shell_charm(
        tmp.path(),
        "crash",
        &meta("crash"),
        "[ \"$JUJU_DISPATCH_PATH\" = hooks/install ] && kill -SEGV $$\nexit 0",
    );
    let hang = shell_charm(
        tmp.path(),
        "hang",
        &meta("hang"),
        "[ \"$JUJU_DISPATCH_PATH\" = hooks/install ] && exec sleep 600\nexit 0",
    );
    let flood = shell_charm(
        tmp.path(),
        "flood",
        &meta("flood"),
        "[ \"$JUJU_DISPATCH_PATH\" = hooks/install ] && exec yes flooding\nexit 0",
    );
    let good = shell_charm(
        tmp.path(),
        "good",
        &meta("good"),
        "[ \"$JUJU_DISPATCH_PATH\" = hooks/start ] && status-set active fine\nexit 0",
    );
    let mut sim = model(tmp.path(), 3, |c| {
        c.hook_timeout = Duration::from_secs(2);
        c.max_output = 1 << 20;
    });
    for (app, dir) in [
        ("crash", &crash),
        ("hang", &hang),
        ("flood", &flood),
        ("good", &good),
    ] {
        sim.deploy_charm_dir(app, 1, dir).unwrap();
    }
    sim.run_while(Duration::from_secs(60), |s| {
        !(["crash/0", "hang/0", "flood/0"]
            .iter()
            .all(|u| s.unit_status(u).is_some_and(|st| st.name.as_str() == "error"))
            && s.unit_status("good/0").is_some_and(|st| st.message == "fine"))
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", sim.status_table()));
    let error_of = |u: &str| {
        sim.logs(u)
            .iter()
            .rev()
            .find(|l| l.2.starts_with("hook failed"))
            .map(|l| l.2.clone())
            .unwrap_or_default()
    };
    assert!(
        error_of("crash/0").contains("killed by signal 11"),
        "{}",
        error_of("crash/0")
    );
    assert!(
        error_of("hang/0").contains("timed out after 2 s"),
        "{}",
        error_of("hang/0")
    );
    assert!(
        error_of("flood/0").contains("printed more than 1048576 bytes"),
        "{}",
        error_of("flood/0")
    );
    assert_eq!(
        sim.unit_status("crash/0").unwrap().message,
        "hook failed: \"install\""
    );
    // The flood's output is kept only in part in the log.
    let lines = sim.logs("flood/0").len();
    assert!(lines < 20_000, "{lines} log lines");
}

#[test]
fn a_background_process_dispatches_a_hook_with_juju_exec_after_its_hook_ended() {
    let tmp = tempfile::tempdir().unwrap();
    let charm = shell_charm(
        tmp.path(),
        "exec",
        "name: exec\n",
        r#"case "$JUJU_DISPATCH_PATH" in
  hooks/start)
    status-set waiting "ticking soon"
    # As charmlibs' worker does: a detached process, no hook context, juju-exec later.
    (unset JUJU_CONTEXT_ID; sleep 1; juju-exec -u "$JUJU_UNIT_NAME" "JUJU_DISPATCH_PATH=hooks/tick $JUJU_CHARM_DIR/dispatch" > exec.out 2>&1; status-get > get.out 2>&1) &
    ;;
  hooks/tick)
    status-set active "ticked in $JUJU_HOOK_NAME with $(is-leader)" ;;
esac
"#,
    );
    let mut sim = model(tmp.path(), 5, |_| {});
    sim.deploy_charm_dir("exec", 1, &charm).unwrap();
    sim.run_while(Duration::from_secs(30), |s| {
        s.unit_status("exec/0")
            .is_none_or(|st| st.name.as_str() != "active")
    })
    .unwrap_or_else(|e| panic!("{e}\n{:?}", sim.logs("exec/0")));
    sim.settle(Duration::from_secs(10));
    assert_eq!(
        sim.unit_status("exec/0").unwrap().message,
        "ticked in tick with True"
    );
    let dir = sim.unit_charm_dir("exec/0").unwrap();
    assert_eq!(std::fs::read_to_string(dir.join("exec.out")).unwrap(), "");
    // A tool called outside any hook is refused.
    let get = std::fs::read_to_string(dir.join("get.out")).unwrap();
    assert!(get.contains("not running in a hook context"), "{get}");
    assert!(sim.trace().records().iter().any(|r| r.hook.as_ref() == "tick"));
}

#[test]
fn refresh_replaces_the_charm_and_keeps_what_it_wrote() {
    let tmp = tempfile::tempdir().unwrap();
    let v1 = shell_charm(
        tmp.path(),
        "v1",
        "name: app\n",
        "[ \"$JUJU_DISPATCH_PATH\" = hooks/install ] && echo kept > state.txt\nstatus-set active v1\n",
    );
    std::fs::write(v1.join("only-in-v1"), "x").unwrap();
    let v2 = shell_charm(
        tmp.path(),
        "v2",
        "name: app\n",
        "[ \"$JUJU_DISPATCH_PATH\" = hooks/upgrade-charm ] && state-set upgraded=$(cat state.txt)\nstatus-set active v2\n",
    );
    let mut sim = model(tmp.path(), 9, |_| {});
    sim.deploy_charm_dir("app", 1, &v1).unwrap();
    sim.settle(Duration::from_secs(30));
    assert_eq!(sim.unit_status("app/0").unwrap().message, "v1");
    let dir = sim.unit_charm_dir("app/0").unwrap();
    assert!(dir.join("only-in-v1").exists());
    sim.refresh_charm_dir("app", &v2).unwrap();
    sim.settle(Duration::from_secs(30));
    assert_eq!(sim.unit_status("app/0").unwrap().message, "v2");
    assert!(!dir.join("only-in-v1").exists(), "the old charm's files are gone");
    assert_eq!(std::fs::read_to_string(dir.join("state.txt")).unwrap(), "kept\n");
    assert_eq!(
        sim.controller_state("app/0").get("upgraded").map(String::as_str),
        Some("kept")
    );
}

#[test]
fn in_process_and_process_charms_share_one_model() {
    use juju_sim::charms::{server_metadata, ServerCharm};
    let tmp = tempfile::tempdir().unwrap();
    // A client as a shell script, talking to an in-process Rust server.
    let client = shell_charm(
        tmp.path(),
        "client",
        "name: client\nrequires:\n  db:\n    interface: addr\n",
        r#"case "$JUJU_DISPATCH_PATH" in
  hooks/db-relation-created) relation-set address="$(relation-get ingress-address "$JUJU_UNIT_NAME")" ;;
  hooks/db-relation-changed) status-set active "server says $(relation-get --app greeting "$JUJU_REMOTE_APP")" ;;
esac
"#,
    );
    let mut sim = model(tmp.path(), 13, |_| {});
    sim.deploy("server", 1, ServerCharm::default, server_metadata());
    sim.deploy_charm_dir("client", 3, &client).unwrap();
    sim.relate("client:db", "server:db");
    sim.settle(Duration::from_secs(60));
    // The in-process server heard from each process client.
    assert_eq!(sim.stored("server/0", "clients"), Some(serde_json::json!(3)));
    let rel = sim.relation_between("client:db", "server:db").unwrap();
    for u in sim.units("client") {
        let address = sim.databag(rel, &u).unwrap().get("address").cloned();
        assert_eq!(address, Some(sim.unit(&u).unwrap().machine.address), "{u}");
    }
    // Both kinds of hooks are in one trace.
    let kinds: std::collections::BTreeSet<&str> =
        sim.trace().records().iter().map(|r| r.unit.as_ref()).collect();
    assert!(kinds.contains("server/0") && kinds.contains("client/2"));
    assert_eq!(
        sim.process_stats()
            .iter()
            .filter(|s| s.unit == "server/0")
            .count(),
        0
    );
}

/// `/proc/<pid>/stat`'s state letter, or `None` when there is no such process.
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

fn read_pid(path: &Path) -> u32 {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(p) = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return p;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no pid in {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn gone_eventually(pid: u32) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        if proc_state(pid).is_none_or(|s| s == 'Z' || s == 'X') {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn the_driver_only_ever_signals_process_groups_it_still_owns() {
    // A hook that leaves a worker running: its group is killed with the model. The driver keeps
    // the hook's own process unreaped meanwhile, so the group's id (that process's pid) cannot
    // be handed to another process, whose group the driver would then kill.
    let tmp = tempfile::tempdir().unwrap();
    let charm = shell_charm(
        tmp.path(),
        "worker",
        "name: worker\n",
        r#"case "$JUJU_DISPATCH_PATH" in
  hooks/install)
    echo $$ > leader.pid
    sleep 1000 > /dev/null 2>&1 &
    echo $! > worker.pid ;;
  hooks/start)
    echo $$ > start.pid
    status-set active up ;;
esac
"#,
    );
    let mut sim = model(tmp.path(), 13, |_| {});
    sim.deploy_charm_dir("worker", 1, &charm).unwrap();
    sim.run_while(Duration::from_secs(30), |s| {
        s.unit_status("worker/0").is_none_or(|st| st.message != "up")
    })
    .unwrap_or_else(|e| panic!("{e}\n{:?}", sim.logs("worker/0")));
    let dir = sim.unit_charm_dir("worker/0").unwrap();
    let leader = read_pid(&dir.join("leader.pid"));
    let worker = read_pid(&dir.join("worker.pid"));
    let start = read_pid(&dir.join("start.pid"));
    // The worker runs on; the install hook's process has exited but is not reaped, so its pid
    // (the group's id) is still taken.
    assert!(
        matches!(proc_state(worker), Some(s) if s != 'Z'),
        "the worker runs"
    );
    assert_eq!(
        proc_state(leader),
        Some('Z'),
        "the install hook's process is kept unreaped"
    );
    // A hook that left nothing running is reaped at once: no zombie piles up.
    assert_eq!(proc_state(start), None, "the start hook's process was reaped");
    drop(sim);
    assert!(gone_eventually(worker), "the worker was killed with the model");
    assert_eq!(proc_state(leader), None, "the install hook's process was reaped");
}
