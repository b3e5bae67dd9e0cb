//! Token distribution in the simulator: microcluster units form one cluster through the
//! distributor, under the uniter's rules, with faults. Every test checks the cluster: every live
//! unit a member exactly once, one cluster per bootstrap application, statuses active, no token
//! in any log.

use ensemble::formation::{check_formed, deploy, report, DISTRIBUTOR, MAX_VIRTUAL};
use juju_sim::{Fault, MachineSpec, Sim};
use std::time::Duration;

fn seed() -> u64 {
    juju_sim::seed_from_env(1)
}

fn formed(sim: &mut Sim, apps: &[&str]) -> ensemble::formation::ClusterReport {
    sim.settle(MAX_VIRTUAL);
    match check_formed(sim, apps) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{}", sim.status_table_limited(60));
            sim.fail(&e)
        }
    }
}

#[test]
fn three_units_at_once() {
    let mut sim = Sim::new(seed());
    deploy(&mut sim, &[("ovn", 3)], 1);
    let r = formed(&mut sim, &["ovn"]);
    assert_eq!(r.clusters.values().next().map(Vec::len), Some(3));
}

#[test]
fn fifty_units_at_once() {
    let mut sim = Sim::new(seed());
    deploy(&mut sim, &[("ovn", 50)], 1);
    let r = formed(&mut sim, &["ovn"]);
    assert_eq!(r.clusters.values().next().map(Vec::len), Some(50));
}

#[test]
fn units_one_at_a_time() {
    let mut sim = Sim::new(seed());
    deploy(&mut sim, &[("ovn", 1)], 1);
    formed(&mut sim, &["ovn"]);
    for n in 2..=12 {
        sim.add_units("ovn", 1);
        let r = formed(&mut sim, &["ovn"]);
        assert_eq!(r.clusters.values().next().map(Vec::len), Some(n));
    }
}

#[test]
fn two_consumer_applications_form_one_cluster() {
    let mut sim = Sim::new(seed());
    deploy(&mut sim, &[("ovn-a", 4), ("ovn-b", 5)], 1);
    let r = formed(&mut sim, &["ovn-a", "ovn-b"]);
    assert_eq!(r.clusters.values().next().map(Vec::len), Some(9));
}

#[test]
fn the_distributors_bag_stays_small() {
    for n in [10usize, 100] {
        let mut sim = Sim::new(seed());
        deploy(&mut sim, &[("ovn", n)], 1);
        let r = formed(&mut sim, &["ovn"]);
        let per_unit = r.largest_distributor_bag / n;
        assert!(
            per_unit < 200,
            "{n} units: {per_unit} bytes per unit ({} in all)",
            r.largest_distributor_bag
        );
    }
}

#[test]
fn the_distributor_leader_is_replaced_mid_formation() {
    let mut sim = Sim::new(seed());
    deploy(&mut sim, &[("ovn", 12)], 3);
    sim.fault_at(
        Duration::from_secs(20),
        Fault::LoseLeader {
            app: DISTRIBUTOR.into(),
            down_for: Duration::from_secs(300),
        },
    );
    formed(&mut sim, &["ovn"]);
}

#[test]
fn all_distributor_units_lost_and_redeployed_mid_formation() {
    let mut sim = Sim::new(seed());
    deploy(&mut sim, &[("ovn", 10)], 2);
    sim.run_until(Duration::from_secs(15));
    for u in sim.units(DISTRIBUTOR) {
        sim.remove_unit(&u, true)
            .unwrap_or_else(|e| sim.fail(&e.to_string()));
    }
    sim.run_until(Duration::from_secs(60));
    sim.add_units(DISTRIBUTOR, 2);
    formed(&mut sim, &["ovn"]);
}

#[test]
fn the_communicator_is_removed() {
    let mut sim = Sim::new(seed());
    deploy(&mut sim, &[("ovn", 6)], 1);
    formed(&mut sim, &["ovn"]);
    // The communicator is the smallest ONLINE voter: the bootstrapper's host, ovn/0's.
    for force in [false, true] {
        let world = sim.microcluster().expect("a world");
        let c = world.clusters()[0];
        let smallest = world
            .members(c)
            .into_iter()
            .filter(|m| m.role == juju_sim::workload::microcluster::Role::Voter)
            .map(|m| m.name)
            .min()
            .expect("a voter");
        let unit = sim
            .alive_units("ovn")
            .into_iter()
            .find(|u| sim.unit(u).is_some_and(|i| i.machine.hostname == smallest))
            .expect("the communicator's unit");
        sim.remove_unit(&unit, force)
            .unwrap_or_else(|e| sim.fail(&e.to_string()));
        sim.add_units("ovn", 1);
        formed(&mut sim, &["ovn"]);
    }
}

#[test]
fn a_hook_dies_right_after_join() {
    // Kill the agent of a joining unit in the middle of its hooks: whatever it had written is
    // lost, but `join` happened. The unit must still end in the cluster (membership is what
    // `list` says, not a stored flag).
    let mut sim = Sim::new(seed());
    deploy(&mut sim, &[("ovn", 5)], 1);
    for t in [8u64, 10, 12, 14] {
        sim.fault_at(
            Duration::from_secs(t),
            Fault::KillAgent {
                unit: "ovn/3".into(),
                down_for: Duration::from_secs(20),
            },
        );
    }
    formed(&mut sim, &["ovn"]);
}

#[test]
fn a_reprovisioned_machine_keeps_its_hostname() {
    let mut sim = Sim::new(seed());
    deploy(&mut sim, &[("ovn", 5)], 1);
    formed(&mut sim, &["ovn"]);
    let old = sim.unit("ovn/4").expect("ovn/4").machine;
    sim.remove_unit("ovn/4", true)
        .unwrap_or_else(|e| sim.fail(&e.to_string()));
    sim.run_for(Duration::from_secs(30));
    let new = sim
        .add_unit_on(
            "ovn",
            MachineSpec {
                hostname: old.hostname.clone(),
                address: old.address.clone(),
            },
        )
        .unwrap_or_else(|e| sim.fail(&e.to_string()));
    let r = formed(&mut sim, &["ovn"]);
    assert_eq!(
        r.clusters.values().next().map(Vec::len),
        Some(5),
        "{new} joined under the old name"
    );
}

#[test]
fn a_token_expires_before_use() {
    let mut sim = Sim::new(seed());
    deploy(&mut sim, &[("ovn", 3)], 1);
    formed(&mut sim, &["ovn"]);
    // A unit's agent is down while its token is minted, and the token expires before it comes
    // back: it asks for a fresh one.
    sim.add_units("ovn", 1);
    sim.fault(Fault::KillAgent {
        unit: "ovn/3".into(),
        down_for: Duration::from_secs(4 * 3600),
    });
    sim.run_for(Duration::from_secs(600));
    if let Some(w) = sim.microcluster_mut() {
        w.expire_all_tokens();
    }
    formed(&mut sim, &["ovn"]);
}

#[test]
fn workload_commands_fail_or_print_garbage() {
    let mut sim = Sim::new(seed());
    deploy(&mut sim, &[("ovn", 6)], 1);
    for (i, kind) in [
        juju_sim::CommandFault::Fail,
        juju_sim::CommandFault::Garbage,
        juju_sim::CommandFault::Hang,
    ]
    .into_iter()
    .enumerate()
    {
        sim.fault(Fault::Command {
            unit: format!("ovn/{i}"),
            kind,
            count: 3,
        });
    }
    formed(&mut sim, &["ovn"]);
}

#[test]
fn report_counts_units() {
    let mut sim = Sim::new(seed());
    deploy(&mut sim, &[("ovn", 2)], 1);
    sim.settle(MAX_VIRTUAL);
    assert_eq!(report(&sim, &["ovn"]).live_units, 2);
}
