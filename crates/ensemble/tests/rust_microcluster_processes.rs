//! The Rust consumer and the Rust distributor, each a process per hook under the simulator's
//! process driver, form one cluster: every hook tool goes through the real `HookTools` backend
//! and the hook-tools agent, including the consumer's one-key reads of the distributor's bag
//! (`relation-get --format=json -r <id> <key> <unit>`). Needs `cargo build --workspace --bins`.

use ensemble::charm_dirs::rust_charm_dir;
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
fn rust_consumers_form_one_cluster_through_the_rust_distributor_as_processes() {
    let tmp = tempfile::tempdir().unwrap();
    let consumer = rust_charm_dir(
        &workspace().join("charms/microovn-demo"),
        &find_binary("microovn-demo", "ENSEMBLE_MICROOVN_DEMO").unwrap(),
        &tmp.path().join("microovn"),
    )
    .unwrap();
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
    let seed = juju_sim::seed_from_env(3);
    let mut sim = Sim::with_processes(seed, sim_cfg, cfg).unwrap();
    sim.set_replay_hint("SIM_SEED={seed} cargo test -p ensemble --test rust_microcluster_processes");
    sim.deploy_charm_dir("distributor", 1, &distributor).unwrap();
    sim.deploy_charm_dir("microovn", 3, &consumer).unwrap();
    sim.serve_microcluster("microovn", "microovn cluster").unwrap();
    sim.relate("microovn:cluster", "distributor:microcluster-cluster");
    let formed = |s: &Sim| check_formed(s, &["microovn"]).is_ok();
    if let Err(e) = sim.run_while(Duration::from_secs(60), |s| !formed(s)) {
        panic!(
            "{e}\n{}\n{:?}",
            sim.status_table(),
            check_formed(&sim, &["microovn"])
        );
    }
    let report = check_formed(&sim, &["microovn"]).unwrap();
    assert_eq!(report.clusters.values().next().unwrap().len(), 3);
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
