//! Token-distribution scenarios: microcluster charms forming one cluster through the
//! distributor, in the simulator, and the invariants every run must hold.

use charm::StatusName;
use juju_sim::scenarios::Outcome;
use juju_sim::{FaultProfile, Sim, SimConfig};
use microovn_demo::MicroOvnDemo;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use token_distributor::TokenDistributor;

/// The distributor application's name in these scenarios.
pub const DISTRIBUTOR: &str = "distributor";

/// The longest a formation may take in virtual time before a run counts as stuck.
pub const MAX_VIRTUAL: Duration = Duration::from_secs(6 * 3600);

/// Deploys a distributor of `distributors` units and one consumer application per
/// `(name, units)`, each related to the distributor and served by the simulated microcluster.
pub fn deploy(sim: &mut Sim, consumers: &[(&str, usize)], distributors: usize) {
    let td_meta = charm::Metadata::from_charmcraft_yaml(token_distributor::CHARMCRAFT_YAML)
        .unwrap_or_else(|e| unreachable!("the distributor's charmcraft.yaml parses: {e}"));
    let demo_meta = charm::Metadata::from_charmcraft_yaml(microovn_demo::CHARMCRAFT_YAML)
        .unwrap_or_else(|e| unreachable!("the demo's charmcraft.yaml parses: {e}"));
    sim.deploy(DISTRIBUTOR, distributors, TokenDistributor::default, td_meta);
    for (app, n) in consumers {
        sim.deploy(app, *n, MicroOvnDemo::default, demo_meta.clone());
        if let Err(e) = sim.serve_microcluster(app, "microovn cluster") {
            sim.fail(&format!("cannot serve the microcluster to {app}: {e}"));
        }
        sim.relate(
            &format!("{app}:cluster"),
            &format!("{DISTRIBUTOR}:microcluster-cluster"),
        );
    }
}

/// What the clusters look like: for each live consumer unit, its host and the cluster it is in.
#[derive(Debug, Clone, Default)]
pub struct ClusterReport {
    /// Cluster name -> member names.
    pub clusters: BTreeMap<String, Vec<String>>,
    /// Live consumer units not in any cluster.
    pub outside: Vec<String>,
    /// The largest distributor unit bag, in bytes (keys and values).
    pub largest_distributor_bag: usize,
    /// Live consumer units.
    pub live_units: usize,
}

/// Reads the clusters from the simulated microcluster world.
pub fn report(sim: &Sim, apps: &[&str]) -> ClusterReport {
    let mut r = ClusterReport::default();
    let Some(world) = sim.microcluster() else {
        return r;
    };
    for c in world.clusters() {
        let members: Vec<String> = world.members(c).into_iter().map(|m| m.name).collect();
        if !members.is_empty() {
            r.clusters.insert(c.to_string(), members);
        }
    }
    for app in apps {
        for u in sim.alive_units(app) {
            r.live_units += 1;
            let Some(info) = sim.unit(&u) else { continue };
            if world.cluster_of(&info.machine.hostname).is_none() {
                r.outside.push(u);
            }
        }
    }
    for (id, _, _) in sim.relations() {
        for u in sim.alive_units(DISTRIBUTOR) {
            if let Some(bag) = sim.databag(id, &u) {
                let bytes: usize = bag.iter().map(|(k, v)| k.len() + v.len()).sum();
                r.largest_distributor_bag = r.largest_distributor_bag.max(bytes);
            }
        }
    }
    r
}

/// The invariants of a formed cluster: every live consumer unit is a member exactly once, all
/// of one cluster (one bootstrap application), members are live hosts (departed ones removed),
/// statuses active, and no log line holds anything that looks like a token.
pub fn check_formed(sim: &Sim, apps: &[&str]) -> Result<ClusterReport, String> {
    let r = report(sim, apps);
    if !r.outside.is_empty() {
        return Err(format!("units not in any cluster: {:?}", r.outside));
    }
    if r.clusters.len() != 1 {
        return Err(format!(
            "expected one cluster, found {}: {:?}",
            r.clusters.len(),
            r.clusters.keys()
        ));
    }
    let mut hosts = BTreeSet::new();
    for app in apps {
        for u in sim.alive_units(app) {
            if let Some(info) = sim.unit(&u) {
                if !hosts.insert(info.machine.hostname.clone()) {
                    return Err(format!("two live units share hostname {}", info.machine.hostname));
                }
            }
            match sim.unit_status(&u) {
                Some(s) if s.name == StatusName::Active => {}
                other => return Err(format!("{u} is not active: {other:?}")),
            }
        }
    }
    let members: Vec<&String> = r.clusters.values().flatten().collect();
    let unique: BTreeSet<&String> = members.iter().copied().collect();
    if unique.len() != members.len() {
        return Err(format!("a member is listed twice: {members:?}"));
    }
    let stray: Vec<&&String> = unique.iter().filter(|m| !hosts.contains(m.as_str())).collect();
    if !stray.is_empty() {
        return Err(format!("members that are no live unit's host: {stray:?}"));
    }
    no_token_in_logs(sim, apps)?;
    Ok(r)
}

/// Fails if any line ever logged by a unit of the consumers or the distributor (removed units
/// included) holds a join token. It reads the model's [`juju_sim::JOIN_TOKEN_WATCH`], which sees
/// every line as it is logged, not only the last lines a unit keeps ([`Sim::logs`]): tokens are
/// base64 of JSON that starts `{"secret":`, so their text starts [`juju_sim::JOIN_TOKEN_START`]
/// (a precise test: a broad one, any long base64-like run, also flags file paths).
pub fn no_token_in_logs(sim: &Sim, apps: &[&str]) -> Result<(), String> {
    let watch = sim
        .log_watch(juju_sim::JOIN_TOKEN_WATCH)
        .ok_or("the model has no join-token log watch")?;
    if watch.installed_after() > 0 {
        return Err(format!(
            "the join-token log watch missed the first {} lines",
            watch.installed_after()
        ));
    }
    for (unit, hit) in watch.hits() {
        let app = unit.split_once('/').map_or(unit.as_str(), |(a, _)| a);
        if apps.iter().copied().chain([DISTRIBUTOR]).any(|a| a == app) {
            return Err(format!(
                "{unit} logged a join token in {} line(s) (first one redacted): {}",
                hit.count,
                microcluster::cli::redact(&hit.first_line)
            ));
        }
    }
    Ok(())
}

/// `ensemble check token-distribution`: 20 to 50 consumer units (sometimes two applications)
/// and 1 to 3 distributor units, under random faults; then faults stop, and the cluster must
/// form with every invariant of [`check_formed`].
pub fn chaos_run(seed: u64) -> Result<Outcome, String> {
    chaos_sim(seed).1
}

/// The model and result of one [`chaos_run`], for debugging a seed.
pub fn chaos_sim(seed: u64) -> (Sim, Result<Outcome, String>) {
    let mut r = juju_sim::Rng::new(seed ^ 0x746f_6b65_6e73);
    let n = 20 + r.below(31) as usize;
    let two_apps = r.below(3) == 0;
    let distributors = 1 + r.below(3) as usize;
    let cfg = SimConfig {
        faults: FaultProfile {
            // Spare install and remove: a unit that never installs is another scenario.
            spare_hooks: vec!["install".into(), "remove".into()],
            ..FaultProfile::chaos()
        },
        ..SimConfig::default()
    };
    let mut sim = Sim::with_config(seed, cfg);
    sim.set_replay_hint(&juju_sim::scenarios::replay_command("token-distribution", seed));
    let apps: Vec<(&str, usize)> = if two_apps {
        vec![("ovn-a", n / 2), ("ovn-b", n - n / 2)]
    } else {
        vec![("ovn", n)]
    };
    deploy(&mut sim, &apps, distributors);
    let mut faults = 0;
    let window = Duration::from_secs(600);
    for _ in 0..(1 + r.below(4)) {
        let at = Duration::from_secs(r.below(window.as_secs()));
        let f = match r.below(4) {
            0 => juju_sim::Fault::LoseLeader {
                app: DISTRIBUTOR.into(),
                down_for: Duration::from_secs(30 + r.below(120)),
            },
            1 => juju_sim::Fault::KillAgent {
                unit: format!("{}/{}", apps[0].0, r.below(apps[0].1 as u64)),
                down_for: Duration::from_secs(10 + r.below(120)),
            },
            2 => juju_sim::Fault::LoseLeader {
                app: apps[0].0.into(),
                down_for: Duration::from_secs(30 + r.below(120)),
            },
            _ => juju_sim::Fault::ScaleUp {
                app: apps[apps.len() - 1].0.into(),
                count: 1 + r.below(3) as usize,
            },
        };
        sim.fault_at(at, f);
        faults += 1;
    }
    // Faults stop after the window; then the model must settle.
    sim.run_until(window);
    sim.set_fault_profile(FaultProfile::default());
    let idle = match sim.run_until_idle(MAX_VIRTUAL) {
        Ok(i) => i,
        Err(e) => return (sim, Err(format!("seed {seed}: {e}"))),
    };
    let names: Vec<&str> = apps.iter().map(|(a, _)| *a).collect();
    let result = check_formed(&sim, &names)
        .map_err(|e| format!("seed {seed}: {e}"))
        .map(|_| Outcome {
            hooks: sim.metrics().hooks,
            virtual_secs: idle.quiescent_at.as_secs_f64(),
            faults,
        });
    (sim, result)
}

/// `ensemble check token-distribution-500`: 500 units deployed at once, no faults.
pub fn large_run(seed: u64) -> Result<Outcome, String> {
    at_scale(seed, 500, "token-distribution-500")
}

/// `ensemble check token-distribution-1000`: 1,000 units deployed at once, no faults; the
/// measure of the distributor's bag at 1,000 units.
pub fn thousand_run(seed: u64) -> Result<Outcome, String> {
    at_scale(seed, 1000, "token-distribution-1000")
}

/// `n` units deployed at once form one cluster, and the distributor's largest bag once formed is
/// under 200 bytes per unit.
fn at_scale(seed: u64, n: usize, scenario: &str) -> Result<Outcome, String> {
    let mut sim = Sim::new(seed);
    sim.set_trace_mode(juju_sim::TraceMode::Off);
    sim.set_replay_hint(&juju_sim::scenarios::replay_command(scenario, seed));
    deploy(&mut sim, &[("ovn", n)], 1);
    let idle = sim
        .run_until_idle(MAX_VIRTUAL)
        .map_err(|e| format!("seed {seed}: {e}"))?;
    let r = check_formed(&sim, &["ovn"]).map_err(|e| format!("seed {seed}: {e}"))?;
    if r.live_units != n {
        return Err(format!("seed {seed}: {} live units, not {n}", r.live_units));
    }
    let per_unit = r.largest_distributor_bag / n;
    if per_unit >= 200 {
        return Err(format!(
            "seed {seed}: the distributor's bag is {per_unit} bytes per unit at {n} units"
        ));
    }
    Ok(Outcome {
        hooks: sim.metrics().hooks,
        virtual_secs: idle.quiescent_at.as_secs_f64(),
        faults: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use charm::{Charm, LogLevel, Metadata, Observers};

    /// Logs a path, then (when told by its config) a microcluster token.
    #[derive(Default)]
    struct Logger;

    impl Charm for Logger {
        fn register(on: &mut Observers<Self>) {
            on.observe("logger", |_, ctx, event| {
                if matches!(event, charm::Event::ConfigChanged) {
                    ctx.log(
                        LogLevel::Info,
                        "state in /tmp/.tmpAbCdEf0123/model/app-0/charm/.unit-state.db",
                    );
                    if ctx.config()?.boolean("leak")?.unwrap_or(false) {
                        // base64 of {"secret":"00","fingerprint":"ff","join_addresses":[]}
                        ctx.log(
                            LogLevel::Info,
                            "token eyJzZWNyZXQiOiIwMCIsImZpbmdlcnByaW50IjoiZmYiLCJqb2luX2FkZHJlc3NlcyI6W119",
                        );
                    }
                }
                Ok(())
            });
        }
    }

    #[test]
    fn a_token_in_a_log_is_caught_and_a_path_is_not() {
        let meta = Metadata::from_charmcraft_yaml(
            "name: app\nconfig:\n  options:\n    leak:\n      type: boolean\n      default: false\n",
        )
        .unwrap();
        let mut sim = Sim::new(1);
        sim.deploy("app", 1, Logger::default, meta);
        sim.settle(Duration::from_secs(3600));
        assert_eq!(no_token_in_logs(&sim, &["app"]), Ok(()));
        sim.set_config("app", "leak", Some(charm::ConfigValue::Bool(true)))
            .unwrap();
        sim.settle(Duration::from_secs(3600));
        let err = no_token_in_logs(&sim, &["app"]).unwrap_err();
        assert!(err.contains("app/0 logged a join token"), "{err}");
        assert!(
            !err.contains("eyJzZWNyZXQi"),
            "the message itself must not carry the token: {err}"
        );
    }
}
