//! The simulated microcluster CLI, served through `run_command` under a command prefix.

mod common;

use charm::{Event, StatusName, WorkloadCommand};
use common::*;
use juju_sim::{Fault, Sim};

fn cluster(args: &[&str]) -> WorkloadCommand {
    WorkloadCommand::new("microovn", ["cluster"].iter().chain(args).copied()).timeout_secs(60)
}

/// The leader bootstraps; each unit reports how many members `list` shows.
fn microovn() -> impl Fn() -> Script {
    script(|ctx, ev| {
        match ev {
            Event::LeaderElected => {
                let out = ctx.run(&cluster(&["bootstrap"]))?;
                ctx.set_stored("bootstrap", &out.code)?;
            }
            Event::Custom { name } if name == "tick" => {
                let out = ctx.run(&cluster(&["list", "-f", "json"]))?;
                let members: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).unwrap_or_default();
                ctx.set_stored("members", &members.len())?;
                ctx.set_stored("code", &out.code)?;
            }
            _ => {}
        }
        Ok(())
    })
}

#[test]
fn microcluster_commands_reach_the_simulated_cluster() {
    let mut sim = Sim::new(juju_sim::seed_from_env(5));
    sim.deploy("microovn", 2, microovn(), meta());
    sim.serve_microcluster("microovn", "microovn cluster").unwrap();
    sim.settle(HOUR);
    assert_eq!(sim.stored("microovn/0", "bootstrap"), Some(serde_json::json!(0)));
    let host0 = sim.unit("microovn/0").unwrap().machine.hostname;
    let world = sim.microcluster().unwrap();
    let id = world.cluster_of(&host0).expect("bootstrapped");
    assert_eq!(world.members(id).len(), 1);
    for u in ["microovn/0", "microovn/1"] {
        sim.exec(u, "tick").unwrap();
    }
    sim.settle(HOUR);
    assert_eq!(sim.stored("microovn/0", "members"), Some(serde_json::json!(1)));
    // Not a member: the CLI says so and exits 1.
    assert_eq!(sim.stored("microovn/1", "code"), Some(serde_json::json!(1)));
    // Commands outside the prefix are served by nobody.
    assert!(sim.metrics().workload_commands >= 3);
    // A dead unit's machine goes away with it.
    sim.remove_unit("microovn/0", true).unwrap();
    assert!(sim.microcluster().unwrap().is_down(&host0));
    sim.fault(Fault::FailHooks {
        unit: "microovn/1".into(),
        count: 0,
    });
    sim.assert_status("microovn/1", StatusName::Unknown);
    // A re-provisioned machine keeps its hostname: fresh, up, in no cluster, while the cluster
    // still lists the old member.
    let machine = sim.unit("microovn/0").unwrap().machine;
    let new = sim.add_unit_on("microovn", machine).unwrap();
    assert_eq!(new, "microovn/2");
    let world = sim.microcluster().unwrap();
    assert!(!world.is_down(&host0));
    assert_eq!(world.cluster_of(&host0), None);
    assert_eq!(world.members(id).len(), 1);
}
