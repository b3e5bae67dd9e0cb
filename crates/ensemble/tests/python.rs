//! Unmodified Python `ops` charms (PyPI `ops` 3.9.0 and `charmlibs-rollingops` 1.1.5, from the
//! venv) under the simulator's process driver: a peer relation, a relation with a Rust charm,
//! stored state and deferral, a failed hook retried, charmlibs' rolling restarts, and a refresh
//! from the charmlibs charm to the ensemble one in the middle of its queue.
//!
//! The charms are fixtures in `tests/fixtures/`, laid out as `charmcraft pack` lays them out.
//! Needs `cargo build --workspace --bins` (the hook tools, `hook-bench`, `rolling-restart`), the
//! venv (`.venv` at the workspace root, or `$ENSEMBLE_PYTHON_VENV`), and root: a UTS namespace
//! per unit, and charmlibs runs `/usr/bin/juju-exec`, which the rolling tests install as a link
//! to the hook tools. `./scripts/test` provides all of it.

use charm::ConfigValue;
use ensemble::charm_dirs::{
    default_venv, python_charm_dir, python_venv_charm_dir, rust_charm_dir, site_packages,
};
use juju_sim::process::find_binary;
use juju_sim::{HookOutcome, ProcessConfig, Sim, SimConfig};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .parent()
        .unwrap()
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The venv with `ops` and `charmlibs-rollingops` (a missing one fails the test, with how to
/// make it).
fn venv() -> PathBuf {
    workspace().join(default_venv())
}

/// A fixture packed the way charmcraft's `charm` plugin packs it: `venv/` holds the packages
/// and `dispatch` runs `PYTHONPATH=lib:venv python3 ./src/charm.py`.
fn python_charm(tmp: &Path, name: &str) -> PathBuf {
    python_charm_dir(&fixture(name), &venv(), &tmp.join(name)).unwrap_or_else(|e| panic!("{e}"))
}

/// A model with the process driver; update-status never runs (nothing happens behind a test's
/// back), and a failed hook is retried after about a second instead of Juju's 5 s.
fn model(tmp: &Path, default_seed: u64, test: &str) -> Sim {
    let tools = ProcessConfig::find_hook_tools().unwrap_or_else(|e| panic!("{e}"));
    let cfg = ProcessConfig::new(tmp.join("model"), tools);
    let sim_cfg = SimConfig {
        update_status_interval: None,
        retry_initial: Duration::from_secs(1),
        ..SimConfig::default()
    };
    let seed = juju_sim::seed_from_env(default_seed);
    let mut sim = Sim::with_processes(seed, sim_cfg, cfg).unwrap();
    sim.set_replay_hint(&format!(
        "SIM_SEED={seed} cargo test -p ensemble --test python {test}"
    ));
    sim
}

/// Prints every unit's log of `apps` (for a failing test).
fn dump_logs(sim: &Sim, apps: &[&str]) {
    for app in apps {
        for u in sim.units(app) {
            eprintln!("--- {u}");
            for (t, level, line) in sim.logs(&u) {
                eprintln!("{:>9.3} {level:?} {line}", t.as_secs_f64());
            }
        }
    }
}

/// Runs until `done`, for at most `max` of real time; panics with the logs and the status table
/// if it does not get there.
fn run_until(sim: &mut Sim, apps: &[&str], max: Duration, what: &str, mut done: impl FnMut(&Sim) -> bool) {
    if let Err(e) = sim.run_while(max, |s| !done(s)) {
        dump_logs(sim, apps);
        panic!("{what}: {e}\n{}\n{}", hooks(sim), sim.status_table());
    }
}

/// The trace, one hook a line: unit, hook, attempt, outcome.
fn hooks(sim: &Sim) -> String {
    let lines: Vec<String> = sim
        .trace()
        .records()
        .iter()
        .map(|r| {
            format!(
                "{:>8.3} {} {} #{} {:?}",
                r.start.as_secs_f64(),
                r.unit,
                r.hook,
                r.attempt,
                r.outcome
            )
        })
        .collect();
    lines.join("\n")
}

fn message(sim: &Sim, unit: &str) -> String {
    sim.unit_status(unit).map(|s| s.message).unwrap_or_default()
}

#[test]
fn python_units_form_a_peer_relation_each_with_its_own_hostname() {
    let tmp = tempfile::tempdir().unwrap();
    let charm = python_charm(tmp.path(), "py-peers");
    let mut sim = model(tmp.path(), 1, "peer");
    assert!(
        sim.process_config().unwrap().uts_namespaces,
        "this test runs as root: each unit's hooks run in a UTS namespace with its hostname"
    );
    sim.deploy_charm_dir("py-peers", 3, &charm).unwrap();
    let units = ["py-peers/0", "py-peers/1", "py-peers/2"];
    let expected = |u: &str| {
        let others: Vec<&str> = units.iter().copied().filter(|o| *o != u).collect();
        format!("saw 2 peers: {}", others.join(" "))
    };
    run_until(&mut sim, &["py-peers"], Duration::from_secs(180), "peers", |s| {
        units.iter().all(|u| message(s, u) == expected(u))
    });
    sim.settle(Duration::from_secs(120));

    let rel = sim.peer_relation("py-peers", Some("cluster")).unwrap();
    let mut hosts = BTreeMap::new();
    for u in units {
        assert_eq!(message(&sim, u), expected(u));
        let bag = sim.databag(rel, u).unwrap();
        assert_eq!(bag.get("unit").map(String::as_str), Some(u), "{bag:?}");
        // What `os.uname().nodename` returned in the unit's hook: its own machine's name.
        let machine = sim.unit(u).unwrap().machine.hostname;
        assert_eq!(bag.get("hostname"), Some(&machine), "{u}: {bag:?}");
        hosts.insert(u.to_owned(), machine);
    }
    let distinct: std::collections::BTreeSet<&String> = hosts.values().collect();
    assert_eq!(distinct.len(), 3, "three machines, three names: {hosts:?}");
    let own = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert!(!distinct.contains(&own.trim().to_owned()), "{hosts:?}");

    let leader = sim.leader("py-peers").unwrap();
    let app = sim.databag(rel, "py-peers").unwrap();
    assert_eq!(app.get("leader"), Some(&leader), "{app:?}");
    let seen: BTreeMap<String, String> = serde_json::from_str(app.get("hosts").unwrap()).unwrap();
    assert_eq!(seen, hosts, "the leader read every unit's bag");
    // Every hook was a Python process that succeeded.
    let stats = sim.process_stats();
    assert!(stats.iter().all(|s| s.exit_code == Some(0)), "{stats:?}");
}

#[test]
fn a_python_app_and_a_rust_app_exchange_data_both_ways() {
    let tmp = tempfile::tempdir().unwrap();
    let source = workspace().join("charms/hook-bench");
    let binary = find_binary("hook-bench", "ENSEMBLE_HOOK_BENCH").unwrap_or_else(|e| panic!("{e}"));
    let rust = rust_charm_dir(&source, &binary, &tmp.path().join("rust")).unwrap();
    let python = python_charm_dir(&source.join("python"), &venv(), &tmp.path().join("python"))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut sim = model(tmp.path(), 2, "rust");
    sim.deploy_charm_dir("pinger", 1, &rust).unwrap();
    sim.deploy_charm_dir("echo", 1, &python).unwrap();
    sim.set_config("pinger", "rounds", Some(ConfigValue::Int(3)))
        .unwrap();
    sim.try_relate("pinger:pinger", "echo:ping").unwrap();
    // The Rust pinger writes n = 1, 2, 3, each after reading the Python unit's `seen` of the
    // last; the Python unit echoes each n it reads as `seen`.
    run_until(
        &mut sim,
        &["pinger", "echo"],
        Duration::from_secs(120),
        "3 rounds",
        |s| message(s, "pinger/0") == "3 rounds done",
    );
    sim.settle(Duration::from_secs(120));
    assert_eq!(message(&sim, "echo/0"), "seen 3");
    let rel = sim.relation_between("pinger:pinger", "echo:ping").unwrap();
    assert_eq!(
        sim.databag(rel, "pinger/0").unwrap().get("n").map(String::as_str),
        Some("3")
    );
    assert_eq!(
        sim.databag(rel, "echo/0")
            .unwrap()
            .get("seen")
            .map(String::as_str),
        Some("3")
    );
    // The Python unit saw each round in its own relation-changed hook.
    let python_hooks = sim
        .trace()
        .of_unit("echo/0")
        .filter(|r| r.hook.as_ref() == "ping-relation-changed" && r.outcome == HookOutcome::Ok)
        .count();
    assert!(python_hooks >= 3, "{python_hooks} ping-relation-changed hooks");
}

#[test]
fn stored_state_and_a_deferred_event_survive_between_hook_processes() {
    let tmp = tempfile::tempdir().unwrap();
    let charm = python_charm(tmp.path(), "py-stateful");
    let mut sim = model(tmp.path(), 3, "stored");
    sim.deploy_charm_dir("stateful", 1, &charm).unwrap();
    let u = "stateful/0";
    run_until(
        &mut sim,
        &["stateful"],
        Duration::from_secs(120),
        "start deferred",
        |s| message(s, u).starts_with("start deferred"),
    );
    sim.settle(Duration::from_secs(120));
    assert_eq!(
        message(&sim, u),
        "start deferred; config-changed@config-changed start-deferred@start"
    );
    let state_db = sim.unit_charm_dir(u).unwrap().join(".unit-state.db");
    assert!(
        state_db.is_file(),
        "ops keeps its state in {}",
        state_db.display()
    );

    // The next hook (config-changed) first re-emits the deferred start, which now proceeds.
    sim.set_config("stateful", "ready", Some(ConfigValue::Bool(true)))
        .unwrap();
    sim.settle(Duration::from_secs(120));
    let trail = "config-changed@config-changed start-deferred@start start@config-changed \
                 config-changed@config-changed";
    assert_eq!(message(&sim, u), format!("started; {trail}"));
    // Once it went through, the deferred start is not re-emitted again.
    sim.set_config("stateful", "note", Some(ConfigValue::String("again".into())))
        .unwrap();
    sim.settle(Duration::from_secs(120));
    assert_eq!(
        message(&sim, u),
        format!("started; {trail} config-changed@config-changed")
    );
    // ops logged through juju-log, from the hook that ran the deferred start.
    let logs = sim.logs(u);
    assert!(
        logs.iter()
            .any(|l| l.2.contains("start deferred (1) until ready")),
        "{logs:?}"
    );
    assert!(
        logs.iter().any(|l| l.2.contains("started after 1 deferrals")),
        "{logs:?}"
    );
}

#[test]
fn a_failing_python_hook_is_retried_and_its_failed_attempt_commits_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let charm = python_charm(tmp.path(), "py-flaky");
    let mut sim = model(tmp.path(), 4, "failing");
    sim.deploy_charm_dir("flaky", 1, &charm).unwrap();
    let u = "flaky/0";
    let mut saw_error = false;
    run_until(
        &mut sim,
        &["flaky"],
        Duration::from_secs(120),
        "retried start",
        |s| {
            let st = s.unit_status(u).unwrap_or_default();
            saw_error |= st.name.as_str() == "error";
            st.name.as_str() == "active"
        },
    );
    sim.settle(Duration::from_secs(120));
    assert!(saw_error, "the unit went to error after the failed start");
    let starts: Vec<(u32, HookOutcome)> = sim
        .trace()
        .of_unit(u)
        .filter(|r| r.hook.as_ref() == "start")
        .map(|r| (r.attempt, r.outcome))
        .collect();
    assert_eq!(
        starts,
        [(1, HookOutcome::Failed), (2, HookOutcome::Ok)],
        "start failed once and its retry succeeded"
    );
    let dir = sim.unit_charm_dir(u).unwrap();
    assert!(dir.join("failed-once").is_file(), "the first attempt ran");
    // The failed attempt's stored state (ops commits only on success) and its bag writes
    // (Juju commits only on success) are gone: the retry counted from zero again.
    assert_eq!(message(&sim, u), "started; start runs counted: 1");
    let rel = sim.peer_relation("flaky", Some("cluster")).unwrap();
    let bag = sim.databag(rel, u).unwrap();
    assert_eq!(bag.get("start-runs").map(String::as_str), Some("1"), "{bag:?}");
    assert_eq!(bag.get("doomed"), None, "{bag:?}");
    let logs = sim.logs(u);
    assert!(
        logs.iter()
            .any(|l| l.2.contains("start fails on its first run, on purpose")),
        "the traceback reached the log: {logs:?}"
    );
}

// ----- charmlibs-rollingops -----

/// charmlibs runs `/usr/bin/juju-exec` by absolute path: make it the driver's, a link to the
/// hook tools (tests run as root). An existing link is replaced; anything else is left alone
/// and the test fails.
fn install_juju_exec() {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let tools = ProcessConfig::find_hook_tools().unwrap_or_else(|e| panic!("{e}"));
    let tools = tools.canonicalize().unwrap();
    let path = Path::new("/usr/bin/juju-exec");
    match std::fs::symlink_metadata(path) {
        Ok(m) if !m.file_type().is_symlink() => panic!(
            "{} exists and is not a symbolic link (a real Juju agent's?): these tests install \
             the simulator's juju-exec there and will not overwrite it; remove it or run them on \
             another machine",
            path.display()
        ),
        Ok(_) if std::fs::read_link(path).ok().as_deref() == Some(tools.as_path()) => return,
        _ => {}
    }
    let tmp = path.with_file_name(format!(".juju-exec.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&tools, &tmp)
        .and_then(|()| std::fs::rename(&tmp, path))
        .unwrap_or_else(|e| {
            panic!(
                "cannot install {} -> {} (these tests run as root): {e}",
                path.display(),
                tools.display()
            )
        });
}

/// One line of the restarts' JSON-lines file.
#[derive(Debug, Clone, Deserialize)]
struct Record {
    unit: String,
    event: String,
    request: i64,
    #[serde(rename = "impl")]
    by: String,
    hook: String,
    t: f64,
}

fn records(path: &Path) -> Vec<Record> {
    match std::fs::read_to_string(path) {
        Ok(text) => text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("{}: {e}", path.display()),
    }
}

/// Checks that the restarts never overlapped (in the order the records were appended, each
/// `start` is followed by the `end` of the same restart) and returns the completed restarts:
/// (unit, request) → how many times each ran.
fn completed(records: &[Record]) -> BTreeMap<(String, i64), usize> {
    assert!(records.len() % 2 == 0, "a restart is still running: {records:#?}");
    let mut done = BTreeMap::new();
    for pair in records.chunks(2) {
        let (s, e) = (&pair[0], &pair[1]);
        assert!(
            s.event == "start" && e.event == "end" && s.unit == e.unit && s.request == e.request,
            "two restarts overlapped, or one did not end: {s:?} then {e:?}\n{records:#?}"
        );
        assert!(s.t <= e.t && s.hook == e.hook && s.by == e.by, "{s:?} {e:?}");
        *done.entry((s.unit.clone(), s.request)).or_insert(0) += 1;
    }
    done
}

/// The operations queued in the units' bags (committed), in all.
fn queued(sim: &Sim, app: &str) -> usize {
    let Some(rel) = sim.peer_relation(app, Some("restart")) else {
        return 0;
    };
    sim.units(app)
        .iter()
        .filter_map(|u| sim.databag(rel, u)?.get("operations"))
        .filter(|ops| !ops.is_empty())
        .map(|ops| {
            serde_json::from_str::<Vec<serde_json::Value>>(ops)
                .unwrap_or_else(|e| panic!("operations {ops:?}: {e}"))
                .len()
        })
        .sum()
}

/// Whether every unit's queue is empty and nobody holds the lock, as the bags say.
fn all_idle(sim: &Sim, app: &str) -> bool {
    let Some(rel) = sim.peer_relation(app, Some("restart")) else {
        return false;
    };
    let queues_empty = queued(sim, app) == 0;
    let granted = sim
        .databag(rel, app)
        .and_then(|b| b.get("granted_unit"))
        .is_some_and(|g| !g.is_empty());
    queues_empty && !granted
}

fn rolling_model(tmp: &Path, seed: u64, test: &str, restarts: i64) -> (Sim, PathBuf) {
    let site = site_packages(&venv()).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        site.join("charmlibs/rollingops").is_dir(),
        "the venv has no charmlibs-rollingops: `{}/bin/pip install -r scripts/python-requirements.txt`",
        venv().display()
    );
    install_juju_exec();
    let charm = python_venv_charm_dir(&fixture("py-rolling"), &venv(), &tmp.join("py-rolling"))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut sim = model(tmp, seed, test);
    let trace_file = tmp.join("restarts.jsonl");
    sim.deploy_charm_dir("rolling", 3, &charm).unwrap();
    sim.set_config(
        "rolling",
        "trace-file",
        Some(ConfigValue::String(trace_file.display().to_string())),
    )
    .unwrap();
    sim.set_config("rolling", "restarts", Some(ConfigValue::Int(restarts)))
        .unwrap();
    (sim, trace_file)
}

#[test]
fn charmlibs_rollingops_restarts_three_python_units_one_at_a_time() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut sim, trace_file) = rolling_model(tmp.path(), 5, "charmlibs", 1);
    // charmlibs' leader runs its own restart from a worker that sleeps 10 s, then juju-exec.
    run_until(
        &mut sim,
        &["rolling"],
        Duration::from_secs(300),
        "3 restarts",
        |s| records(&trace_file).len() == 6 && all_idle(s, "rolling"),
    );
    sim.settle(Duration::from_secs(120));
    let records = records(&trace_file);
    let done = completed(&records);
    let want: BTreeMap<(String, i64), usize> =
        sim.units("rolling").into_iter().map(|u| ((u, 1), 1)).collect();
    assert_eq!(done, want, "each unit restarted once: {records:#?}");
    assert!(records.iter().all(|r| r.by == "python"));

    // The leader's own restart ran in rollingops_lock_granted, which only the worker's
    // /usr/bin/juju-exec dispatches (update-status never runs in this model).
    let leader = sim.leader("rolling").unwrap();
    let own = records.iter().find(|r| r.unit == leader).unwrap();
    assert_eq!(own.hook, "rollingops_lock_granted", "{records:#?}");
    let granted_hooks: Vec<&str> = sim
        .trace()
        .records()
        .iter()
        .filter(|r| r.hook.as_ref() == "rollingops_lock_granted" && r.outcome == HookOutcome::Ok)
        .map(|r| r.unit.as_ref())
        .collect();
    assert!(granted_hooks.contains(&leader.as_str()), "{granted_hooks:?}");
    assert!(
        sim.trace()
            .records()
            .iter()
            .all(|r| r.hook.as_ref() != "update-status"),
        "update-status ran"
    );
    // The followers ran theirs in a peer relation-changed hook.
    for r in records.iter().filter(|r| r.unit != leader) {
        assert_eq!(r.hook, "restart-relation-changed", "{r:?}");
    }
    let worker_log = sim
        .unit_charm_dir(&leader)
        .unwrap()
        .join("rollingops/peer_rollingops_worker.log");
    let worker_log = std::fs::read_to_string(&worker_log)
        .unwrap_or_else(|e| panic!("charmlibs' worker log {}: {e}", worker_log.display()));
    assert!(
        worker_log.contains("rollingops_lock_granted hook dispatched"),
        "the worker's /usr/bin/juju-exec succeeded: {worker_log}"
    );
}

#[test]
fn refreshing_from_charmlibs_to_ensemble_mid_queue_finishes_every_operation_once() {
    let tmp = tempfile::tempdir().unwrap();
    let binary = find_binary("rolling-restart", "ENSEMBLE_ROLLING_RESTART").unwrap_or_else(|e| panic!("{e}"));
    let rust = rust_charm_dir(
        &workspace().join("charms/rolling-restart"),
        &binary,
        &tmp.path().join("rust-rolling"),
    )
    .unwrap();
    // Each unit queues two restarts when it starts: six in all.
    let (mut sim, trace_file) = rolling_model(tmp.path(), 6, "refreshing", 2);
    run_until(
        &mut sim,
        &["rolling"],
        Duration::from_secs(300),
        "the first restart",
        |s| records(&trace_file).len() == 2 && queued(s, "rolling") == 5,
    );
    // The first restart is over and its hook committed: the five others are queued in
    // charmlibs' format when the Rust charm takes over.
    let before = records(&trace_file);
    let rel = sim.peer_relation("rolling", Some("restart")).unwrap();
    for u in sim.units("rolling") {
        let bag = sim.databag(rel, &u).unwrap();
        assert!(
            !bag.contains_key("ensemble-protocol"),
            "{u} runs charmlibs: {bag:?}"
        );
    }
    sim.refresh_charm_dir("rolling", &rust).unwrap();
    run_until(
        &mut sim,
        &["rolling"],
        Duration::from_secs(300),
        "6 restarts",
        |s| records(&trace_file).len() >= 12 && all_idle(s, "rolling"),
    );
    sim.settle(Duration::from_secs(120));

    let records = records(&trace_file);
    let done = completed(&records);
    let want: BTreeMap<(String, i64), usize> = sim
        .units("rolling")
        .into_iter()
        .flat_map(|u| [((u.clone(), 1), 1), ((u, 2), 1)])
        .collect();
    assert_eq!(done, want, "every queued restart ran exactly once: {records:#?}");
    assert_eq!(before.len(), 2, "{before:?}");
    assert!(before.iter().all(|r| r.by == "python"), "{before:?}");
    let after = &records[before.len()..];
    assert!(
        after.iter().all(|r| r.by == "rust"),
        "after the refresh only the Rust charm ran restarts: {records:#?}"
    );
    assert_eq!(after.len(), 10);
    // Every unit ran the Rust charm's upgrade-charm.
    for u in sim.units("rolling") {
        assert!(
            sim.trace()
                .of_unit(&u)
                .any(|r| r.hook.as_ref() == "upgrade-charm" && r.outcome == HookOutcome::Ok),
            "{u} did not upgrade"
        );
    }
}

/// A refresh from charmlibs' callback ids (those of charmlibs' own test charm) to the Rust charm,
/// which maps `_restart` to its `restart` (an alias) and does not know `_failed_restart`: the
/// `_restart` operations run, each once; the `_failed_restart` ones are parked (kept, not run,
/// the unit blocked naming the id) without holding the lock, until the operator's `drop-parked`.
#[test]
fn refreshing_from_charmlibs_ids_runs_the_aliased_and_parks_the_unknown() {
    let tmp = tempfile::tempdir().unwrap();
    let binary = find_binary("rolling-restart", "ENSEMBLE_ROLLING_RESTART").unwrap_or_else(|e| panic!("{e}"));
    let rust = rust_charm_dir(
        &workspace().join("charms/rolling-restart"),
        &binary,
        &tmp.path().join("rust-rolling"),
    )
    .unwrap();
    let (mut sim, trace_file) = rolling_model(tmp.path(), 7, "refreshing-ids", 2);
    sim.set_config(
        "rolling",
        "callback-ids",
        Some(ConfigValue::String("_restart,_failed_restart".into())),
    )
    .unwrap();
    run_until(
        &mut sim,
        &["rolling"],
        Duration::from_secs(300),
        "the first restart",
        |s| records(&trace_file).len() == 2 && queued(s, "rolling") == 5,
    );
    let before = records(&trace_file);
    sim.refresh_charm_dir("rolling", &rust).unwrap();
    run_until(
        &mut sim,
        &["rolling"],
        Duration::from_secs(300),
        "the aliased restarts, and the unknown ones parked",
        |s| {
            records(&trace_file).len() >= 6
                && queued(s, "rolling") == 3
                && s.units("rolling").iter().all(|u| {
                    s.unit_status(u)
                        .is_some_and(|st| st.name == charm::StatusName::Blocked)
                })
        },
    );
    sim.settle(Duration::from_secs(120));
    let records_now = records(&trace_file);
    assert_eq!(before.len(), 2, "{before:?}");
    assert_eq!(
        records_now.len(),
        6,
        "each `_restart` ran once, nothing else: {records_now:#?}"
    );
    assert!(
        records_now[2..].iter().all(|r| r.by == "rust"),
        "{records_now:#?}"
    );
    assert_eq!(
        queued(&sim, "rolling"),
        3,
        "the `_failed_restart` operations are kept"
    );
    let rel = sim.peer_relation("rolling", Some("restart")).unwrap();
    assert!(
        sim.databag(rel, "rolling")
            .and_then(|b| b.get("granted_unit"))
            .is_none_or(|g| g.is_empty()),
        "a parked queue does not hold the lock"
    );
    for u in sim.units("rolling") {
        let st = sim.unit_status(&u).unwrap();
        assert!(
            st.message.contains("_failed_restart") && st.message.contains("drop-parked"),
            "{u}: {st}"
        );
        sim.run_action(&u, "drop-parked", serde_json::Map::new()).unwrap();
    }
    sim.settle(Duration::from_secs(120));
    assert_eq!(queued(&sim, "rolling"), 0);
    for u in sim.units("rolling") {
        assert_eq!(
            sim.unit_status(&u).unwrap().name,
            charm::StatusName::Active,
            "{u}"
        );
    }
}
