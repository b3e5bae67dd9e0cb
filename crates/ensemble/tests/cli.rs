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
    assert!(out.contains("leader elections       2"), "{out}");
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
