//! The `ensemble` command end to end.

use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ensemble"))
        .args(args)
        .env("COLUMNS", "300")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn ensemble(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ensemble"))
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn demo_shows_the_status_table_and_the_metrics() {
    let (ok, out) = ensemble(&["demo", "--units", "4", "--faults"]);
    assert!(ok, "{out}");
    assert!(out.contains("Unit") && out.contains("peer-demo/3"), "{out}");
    assert!(out.contains("relation-changed"), "{out}");
    // Four applications elect a leader at deploy; the fault costs peer-demo one more election.
    assert!(out.contains("leader elections       5"), "{out}");
    // The fault is told when it happens, then what follows from it, in order, before the table.
    let told: Vec<&str> = out
        .lines()
        .filter(|l| l.trim_start().starts_with("at "))
        .collect();
    assert!(told.len() >= 3, "{out}");
    assert!(
        told[0].contains("60.0 s  fault: the leader's agent goes down"),
        "{out}"
    );
    assert!(told.iter().any(|l| l.contains("is elected leader")), "{out}");
    assert!(told.iter().any(|l| l.contains("agent is back")), "{out}");
    assert!(out.find("fault:").unwrap() < out.find("Unit ").unwrap(), "{out}");
    let (_, quiet) = ensemble(&["demo", "--units", "4"]);
    assert!(!quiet.contains("fault:"), "{quiet}");
    // Leadership: five units, one fingerprint.
    let fingerprints: std::collections::BTreeSet<&str> = out
        .lines()
        .filter(|l| l.trim_start().starts_with("shared-password/"))
        .filter_map(|l| l.split("password ").nth(1))
        .map(|f| f.split_whitespace().next().unwrap_or(""))
        .collect();
    assert_eq!(fingerprints.len(), 1, "{out}");
    // Token distribution: one cluster of the four units.
    assert!(out.contains("cluster-1: 4 members"), "{out}");
    assert!(out.contains("units outside any cluster: 0"), "{out}");
    // Rolling restart: five units, one after the other, checked.
    let restarts: Vec<&str> = out.lines().filter(|l| l.contains("restarting from")).collect();
    assert_eq!(restarts.len(), 5, "{out}");
    assert!(
        out.contains("checked: never two at once, each request served once (5 of 5)"),
        "{out}"
    );
}

#[test]
fn check_passes_and_names_unknown_scenarios() {
    let (ok, out) = ensemble(&["check", "peer", "--seeds", "3", "--jobs", "2"]);
    assert!(ok, "{out}");
    assert!(out.contains("3 passed, 0 failed"), "{out}");
    let (ok, out) = ensemble(&["check", "client-server", "--seed", "11"]);
    assert!(ok && out.contains("1 passed, 0 failed"), "{out}");
    let o = run(&["check", "nope"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no scenario \"nope\""), "{}", stderr(&o));
    assert!(stderr(&o).contains("client-server"));
    let (ok, out) = ensemble(&["check", "--list"]);
    assert!(ok && out.contains("client-server"), "{out}");
}

#[test]
fn bench_runs_one_case_as_json() {
    let (ok, out) = ensemble(&["bench", "sim", "--case", "client-server-20"]);
    assert!(ok, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["units"], 23);
    assert!(v["hooks"].as_u64().unwrap() > 60);
}

#[test]
fn check_without_a_scenario_is_a_usage_error_with_the_list() {
    let o = run(&["check"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stdout(&o), "", "usage errors go to standard error");
    let err = stderr(&o);
    assert!(err.starts_with("error: name the scenario to check"), "{err}");
    assert!(err.contains("rollingops") && err.contains("peer"), "{err}");
    assert!(err.lines().all(|l| l.chars().count() <= 100), "{err}");
}

#[test]
fn counts_of_zero_are_refused() {
    for args in [
        &["check", "peer", "--seeds", "0"][..],
        &["check", "peer", "--jobs", "0"],
        &["demo", "--units", "0"],
        &["bench", "hooks", "--hooks", "0"],
        &["bench", "rolling", "--units", "10,0"],
    ] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("must be at least 1"),
            "{args:?}: {}",
            stderr(&o)
        );
        assert_eq!(stdout(&o), "", "{args:?}");
    }
}

#[test]
fn mistyped_flags_and_subcommands_get_a_suggestion() {
    for (args, tip) in [
        (&["chek", "peer"][..], "'check'"),
        (&["check", "peer", "--seds", "3"], "'--seeds'"),
        (&["demo", "--unit", "3"], "'--units'"),
    ] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = stderr(&o);
        assert!(
            err.contains("tip: a similar") && err.contains(tip),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn no_help_line_is_over_100_characters() {
    for args in [
        &["--help"][..],
        &["demo", "--help"],
        &["check", "--help"],
        &["pack", "--help"],
        &["bench", "--help"],
        &["bench", "sim", "--help"],
        &["bench", "hooks", "--help"],
        &["bench", "rolling", "--help"],
        &["check", "--list"],
    ] {
        let o = run(args);
        assert!(o.status.success(), "{args:?}");
        let out = stdout(&o);
        for line in out.lines() {
            assert!(
                line.chars().count() <= 100,
                "{args:?}: {} chars: {line}",
                line.chars().count()
            );
        }
    }
}

#[test]
fn check_json_is_one_summary_object() {
    let o = run(&["check", "peer", "--seeds", "3", "--jobs", "2", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 1, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["scenario"], "peer");
    assert_eq!(v["seeds"], 3);
    assert_eq!(v["passed"], 3);
    assert_eq!(v["failed"], 0);
    assert_eq!(v["jobs"], 2);
    assert!(v["hooks"].as_u64().unwrap() > 0);
    assert_eq!(v["failures"], serde_json::json!([]));
}

#[test]
fn demo_json_is_one_object() {
    let o = run(&["demo", "--units", "3", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 1, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["seed"], 1);
    assert_eq!(
        v["applications"]["peer-demo"]["units"].as_array().unwrap().len(),
        3
    );
    assert_eq!(
        v["applications"]["shared-password"]["units"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    let leaders = v["applications"]["peer-demo"]["units"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["leader"] == true)
        .count();
    assert_eq!(leaders, 1);
    assert_eq!(v["token_distribution"]["outside"], 0);
    assert_eq!(v["rolling_restart"]["restarts"].as_array().unwrap().len(), 5);
    assert_eq!(v["rolling_restart"]["served"], 5);
    assert!(v["metrics"].is_object());
    assert_eq!(v["fault_events"], serde_json::json!([]));
    let o = run(&["demo", "--units", "3", "--faults", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let events = v["fault_events"].as_array().unwrap();
    assert_eq!(events[0]["secs"], 60.0);
    assert!(events[0]["event"]
        .as_str()
        .unwrap()
        .starts_with("fault: LoseLeader"));
}

#[test]
fn the_status_table_has_juju_status_3_6_layout() {
    let o = run(&["demo", "--units", "3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    let at = |prefix: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting {prefix:?}:\n{out}"))
    };
    let header = |i: usize| {
        lines[i]
            .split("  ")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        header(at("Model ")),
        [
            "Model",
            "Controller",
            "Cloud/Region",
            "Version",
            "SLA",
            "Timestamp"
        ]
    );
    let apps = at("App ");
    assert_eq!(
        header(apps),
        ["App", "Version", "Status", "Scale", "Charm", "Channel", "Rev", "Exposed", "Message"]
    );
    // Applications sorted by name; Scale right-aligned under its header.
    let names: Vec<&str> = lines[apps + 1..apps + 5]
        .iter()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(names, ["distributor", "microovn", "peer-demo", "shared-password"]);
    let scale_end = lines[apps].find("Scale").unwrap() + "Scale".len();
    assert_eq!(&lines[apps + 4][scale_end - 1..scale_end], "5", "{out}");
    assert_eq!(
        header(at("Unit ")),
        [
            "Unit",
            "Workload",
            "Agent",
            "Machine",
            "Public address",
            "Ports",
            "Message"
        ]
    );
    let machines = at("Machine ");
    assert_eq!(
        header(machines),
        ["Machine", "State", "Address", "Inst id", "Base", "AZ", "Message"]
    );
    assert!(
        lines[machines + 1].starts_with("0 ") && lines[machines + 1].contains("started"),
        "{out}"
    );
}
