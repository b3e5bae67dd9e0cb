//! Token distribution with every charm a process per hook under the simulator's process driver,
//! the simulated microcluster served as the `microovn` command:
//!
//! - a Python `ops` consumer runs `microovn cluster bootstrap | add | join | list -f json` as a
//!   real MicroOVN charm does and forms one cluster through the Rust distributor;
//! - the Rust consumer does the same, every hook tool going through the real `HookTools`
//!   backend and the hook-tools agent, including its one-key reads of the distributor's bag
//!   (`relation-get --format=json -r <id> <key> <unit>`).
//!
//! Needs `cargo build --workspace --bins` and, for the Python charm, the venv (`./scripts/test`
//! makes both).

use ensemble::charm_dirs::{default_venv, python_charm_dir, rust_charm_dir};
use ensemble::formation::check_formed;
use juju_sim::process::find_binary;
use juju_sim::{ProcessConfig, Sim, SimConfig};
use std::path::Path;
use std::time::Duration;

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .parent()
        .unwrap()
}

/// A model with the Rust distributor (`distributor`, 1 unit) and 3 units of the consumer charm
/// in `consumer_dir` (`microovn`), related, the microcluster served as `microovn cluster`; run
/// until the cluster has formed.
fn form(tmp: &Path, consumer_dir: &Path, seed: u64, test: &str) -> Sim {
    let distributor = rust_charm_dir(
        &workspace().join("charms/token-distributor"),
        &find_binary("token-distributor", "ENSEMBLE_TOKEN_DISTRIBUTOR").unwrap(),
        &tmp.join("distributor"),
    )
    .unwrap();
    let mut cfg = ProcessConfig::new(tmp.join("model"), ProcessConfig::find_hook_tools().unwrap());
    cfg.workload_programs = vec!["microovn".into()];
    let sim_cfg = SimConfig {
        update_status_interval: None,
        ..SimConfig::default()
    };
    let mut sim = Sim::with_processes(juju_sim::seed_from_env(seed), sim_cfg, cfg).unwrap();
    sim.set_replay_hint(&format!(
        "SIM_SEED={{seed}} cargo test -p ensemble --test microcluster_processes {test}"
    ));
    sim.deploy_charm_dir("distributor", 1, &distributor).unwrap();
    sim.deploy_charm_dir("microovn", 3, consumer_dir).unwrap();
    sim.serve_microcluster("microovn", "microovn cluster").unwrap();
    sim.relate("microovn:cluster", "distributor:microcluster-cluster");
    let formed = |s: &Sim| check_formed(s, &["microovn"]).is_ok();
    if let Err(e) = sim.run_while(Duration::from_secs(120), |s| !formed(s)) {
        for u in sim.units("microovn") {
            let lines: Vec<_> = sim
                .logs(&u)
                .into_iter()
                .filter(|l| !l.2.starts_with("ops ") && !l.2.starts_with("Emitting"))
                .collect();
            eprintln!("{u}: {lines:#?}");
        }
        panic!(
            "{e}\n{}\n{:?}",
            sim.status_table(),
            check_formed(&sim, &["microovn"])
        );
    }
    let report = check_formed(&sim, &["microovn"]).unwrap();
    assert_eq!(report.clusters.values().next().unwrap().len(), 3);
    sim
}

#[test]
fn a_python_consumer_forms_one_cluster_through_the_rust_distributor() {
    let tmp = tempfile::tempdir().unwrap();
    let consumer = python_charm_dir(
        &workspace().join("crates/ensemble/tests/fixtures/py-microcluster-consumer"),
        &workspace().join(default_venv()),
        &tmp.path().join("py-microovn"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let sim = form(tmp.path(), &consumer, 21, "a_python_consumer");
    // Each unit ran the command as a process would: through the workload program.
    assert!(sim.metrics().workload_commands >= 5);
    // The distributor mirrors (check_formed also checked that no log line holds a token).
    let rel = sim
        .relation_between("microovn:cluster", "distributor:microcluster-cluster")
        .unwrap();
    let bag = sim.databag(rel, "distributor/0").unwrap();
    assert_eq!(bag.get("mirror").map(String::as_str), Some("up"));
}

#[test]
fn rust_consumers_form_one_cluster_through_the_rust_distributor_as_processes() {
    let tmp = tempfile::tempdir().unwrap();
    let consumer = rust_charm_dir(
        &workspace().join("charms/microovn-demo"),
        &find_binary("microovn-demo", "ENSEMBLE_MICROOVN_DEMO").unwrap(),
        &tmp.path().join("microovn"),
    )
    .unwrap();
    let mut sim = form(tmp.path(), &consumer, 3, "rust_consumers");
    // Then the joined units acknowledge and the distributor withdraws every token.
    let rel = sim
        .relation_between("microovn:cluster", "distributor:microcluster-cluster")
        .unwrap();
    let tokens_left = |s: &Sim| {
        s.databag(rel, "distributor/0")
            .is_none_or(|b| b.keys().any(|k| k.starts_with("mirror-")))
    };
    if let Err(e) = sim.run_while(Duration::from_secs(60), tokens_left) {
        panic!("{e}: {:?}", sim.databag(rel, "distributor/0"));
    }
    check_formed(&sim, &["microovn"]).unwrap();
}
