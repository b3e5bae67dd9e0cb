//! The `ensemble` command end to end.

use std::process::Command;

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
    let (ok, out) = ensemble(&["check", "nope"]);
    assert!(!ok && out.contains("no scenario \"nope\""), "{out}");
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
