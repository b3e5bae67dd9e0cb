//! One seed, one trace: the same seeded scenario (with faults) hashes the same twice, and a
//! different seed gives a different trace.

use juju_sim::charms::*;
use juju_sim::{Fault, FaultProfile, Sim, SimConfig};
use std::time::Duration;

fn run(seed: u64) -> (u64, u64, String) {
    let cfg = SimConfig {
        faults: FaultProfile::chaos(),
        ..SimConfig::default()
    };
    let mut sim = Sim::with_config(seed, cfg);
    sim.deploy("server", 3, ServerCharm::default, server_metadata())
        .deploy("client", 12, ClientCharm::default, client_metadata())
        .deploy("peer", 6, PeerCharm::default, peer_metadata())
        .relate("client:db", "server:db");
    sim.fault_at(
        Duration::from_secs(3),
        Fault::KillAgent {
            unit: "peer/0".into(),
            down_for: Duration::from_secs(120),
        },
    )
    .fault_at(
        Duration::from_secs(5),
        Fault::RemoveUnit {
            unit: "client/3".into(),
            force: false,
        },
    )
    .fault_at(
        Duration::from_secs(8),
        Fault::ScaleUp {
            app: "peer".into(),
            count: 2,
        },
    );
    sim.run_for(Duration::from_secs(600));
    sim.set_fault_profile(FaultProfile::default());
    sim.settle(Duration::from_secs(24 * 3600));
    let text: String = sim.trace().records().iter().map(|r| format!("{r}\n")).collect();
    (sim.trace().hash(), sim.trace().len(), text)
}

#[test]
fn the_same_seed_gives_the_same_trace() {
    let seed = juju_sim::seed_from_env(2024);
    let (h1, n1, t1) = run(seed);
    let (h2, n2, t2) = run(seed);
    assert!(n1 > 300, "a non-trivial run: {n1} hooks");
    assert_eq!(n1, n2);
    assert_eq!(t1, t2);
    assert_eq!(h1, h2, "seed={seed}");
    let (h3, _, t3) = run(seed + 1);
    assert_ne!(h1, h3);
    assert_ne!(t1, t3);
}
