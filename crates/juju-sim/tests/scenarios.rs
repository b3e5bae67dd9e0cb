//! The registered `ensemble check` scenarios pass for a few seeds, and their invariant checks
//! catch a broken run.

use juju_sim::scenarios;

#[test]
fn builtin_scenarios_pass_for_a_few_seeds() {
    for s in scenarios::builtin() {
        for seed in 1..=4 {
            if let Err(e) = (s.run)(seed) {
                panic!(
                    "{} failed: {e}\n  replay: {}",
                    s.name,
                    scenarios::replay_command(s.name, seed)
                );
            }
        }
    }
}

#[test]
fn common_invariants_hold_on_a_clean_run() {
    let mut sim = juju_sim::Sim::new(3);
    sim.deploy(
        "peer",
        4,
        juju_sim::charms::PeerCharm::default,
        juju_sim::charms::peer_metadata(),
    );
    sim.settle(std::time::Duration::from_secs(3600));
    scenarios::common_invariants(&sim).unwrap();
    assert_eq!(
        scenarios::replay_command("peer", 9),
        "ensemble check peer --seed 9"
    );
}
