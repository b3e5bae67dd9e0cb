//! The simulated microcluster as a command: under the process driver, a Python `ops` consumer
//! charm runs `microovn cluster bootstrap | add | join | list -f json` as a real MicroOVN charm
//! does, the simulator's microcluster serves them, and the units form one cluster through the
//! Rust token distributor, itself a process. Needs `cargo build --workspace --bins` and the
//! Python venv (`./scripts/test` makes both).

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

#[test]
fn a_python_consumer_forms_one_cluster_through_the_rust_distributor() {
    let tmp = tempfile::tempdir().unwrap();
    let venv = workspace().join(default_venv());
    let consumer = python_charm_dir(
        &workspace().join("crates/ensemble/tests/fixtures/py-microcluster-consumer"),
        &venv,
        &tmp.path().join("py-microovn"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let distributor = rust_charm_dir(
        &workspace().join("charms/token-distributor"),
        &find_binary("token-distributor", "ENSEMBLE_TOKEN_DISTRIBUTOR").unwrap(),
        &tmp.path().join("distributor"),
    )
    .unwrap();
    let mut cfg = ProcessConfig::new(
        tmp.path().join("model"),
        ProcessConfig::find_hook_tools().unwrap(),
    );
    cfg.workload_programs = vec!["microovn".into()];
    let sim_cfg = SimConfig {
        update_status_interval: None,
        ..SimConfig::default()
    };
    let seed = juju_sim::seed_from_env(21);
    let mut sim = Sim::with_processes(seed, sim_cfg, cfg).unwrap();
    sim.set_replay_hint("SIM_SEED={seed} cargo test -p ensemble --test python_microcluster");
    sim.deploy_charm_dir("microcluster-token-distributor", 1, &distributor)
        .unwrap();
    sim.deploy_charm_dir("py-microovn", 3, &consumer).unwrap();
    sim.serve_microcluster("py-microovn", "microovn cluster").unwrap();
    sim.relate(
        "py-microovn:cluster",
        "microcluster-token-distributor:microcluster-cluster",
    );
    let formed = |s: &Sim| check_formed(s, &["py-microovn"]).is_ok();
    if let Err(e) = sim.run_while(Duration::from_secs(40), |s| !formed(s)) {
        for u in sim.units("py-microovn") {
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
            check_formed(&sim, &["py-microovn"])
        );
    }
    let report = check_formed(&sim, &["py-microovn"]).unwrap();
    assert_eq!(report.clusters.values().next().unwrap().len(), 3);
    // Each unit ran the command as a process would: through the workload program.
    assert!(sim.metrics().workload_commands >= 5);
    // The distributor ended with a real token for every host (check_formed also checked that no
    // log line holds one).
    let rel = sim
        .relation_between(
            "py-microovn:cluster",
            "microcluster-token-distributor:microcluster-cluster",
        )
        .unwrap();
    let bag = sim.databag(rel, "microcluster-token-distributor/0").unwrap();
    assert_eq!(bag.get("mirror").map(String::as_str), Some("up"));
}
