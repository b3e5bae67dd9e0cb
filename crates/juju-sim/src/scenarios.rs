//! Named scenarios for `ensemble check`: a seeded run with random faults, then invariant checks.
//!
//! Each library registers its own scenarios beside these (the `ensemble` binary gathers them);
//! a scenario is a function of a seed that returns what it ran or why it failed.

use crate::charms::*;
use crate::{Fault, FaultProfile, HookKind, HookOutcome, Rng, Sim, SimConfig};
use charm::StatusName;
use std::collections::BTreeMap;
use std::time::Duration;

/// What a passing run did.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Hooks run.
    pub hooks: u64,
    /// Virtual seconds until quiescence.
    pub virtual_secs: f64,
    /// Faults injected at chosen times (random ones come on top).
    pub faults: usize,
}

/// A named scenario.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// Its name (`ensemble check <name>`).
    pub name: &'static str,
    /// What it does.
    pub about: &'static str,
    /// Runs it with a seed.
    pub run: fn(u64) -> Result<Outcome, String>,
}

/// The command that replays one seed of a scenario.
pub fn replay_command(name: &str, seed: u64) -> String {
    format!("ensemble check {name} --seed {seed}")
}

/// The scenarios this crate registers.
pub fn builtin() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "peer",
            about: "a peer relation of 4-11 units under random faults (agent deaths, failed hooks, \
                    leader loss, removals, scaling, clock skew)",
            run: peer,
        },
        Scenario {
            name: "client-server",
            about: "clients related to servers under random faults (agent deaths, failed hooks, \
                    forced and graceful removals, scaling)",
            run: client_server,
        },
    ]
}

fn chaos_config() -> SimConfig {
    SimConfig {
        faults: FaultProfile::chaos(),
        ..SimConfig::default()
    }
}

/// Schedules `k` random faults on `app` in the first `window`.
fn random_faults(sim: &mut Sim, r: &mut Rng, app: &str, window: Duration, k: usize) -> usize {
    for _ in 0..k {
        let at = Duration::from_micros(r.below(window.as_micros() as u64));
        let units = sim.units(app);
        let unit = units[r.below(units.len() as u64) as usize].clone();
        let f = match r.below(8) {
            0 => Fault::KillAgent {
                unit,
                down_for: Duration::from_secs(10 + r.below(120)),
            },
            1 => Fault::FailHooks {
                unit,
                count: 1 + r.below(3) as u32,
            },
            2 => Fault::LoseLeader {
                app: app.to_owned(),
                down_for: Duration::from_secs(30 + r.below(200)),
            },
            3 => Fault::RemoveUnit {
                unit,
                force: r.chance(0.5),
            },
            4 => Fault::ScaleUp {
                app: app.to_owned(),
                count: 1 + r.below(2) as usize,
            },
            5 => Fault::ScaleDown {
                app: app.to_owned(),
                count: 1,
            },
            6 => Fault::ClockSkew {
                unit,
                seconds: r.below(600) as i64 - 300,
            },
            _ => Fault::KillAgent {
                unit,
                down_for: Duration::from_secs(1 + r.below(30)),
            },
        };
        sim.fault_at(at, f);
    }
    k
}

/// Checks that hold for every run: the engine saw no violation; hooks are serial per unit; no
/// unit saw relation-changed for its own writes; failed and killed hooks committed nothing: the
/// trace records what such a hook tried to write, and the model's values of those keys (relation
/// data, controller state, stored state) must be the same after its end as before.
pub fn common_invariants(sim: &Sim) -> Result<(), String> {
    if let Some(v) = sim.violations().first() {
        return Err(format!("engine invariant violated: {v}"));
    }
    let mut last_end: BTreeMap<&str, Duration> = BTreeMap::new();
    for r in sim.trace().records() {
        if let Some(prev) = last_end.get(&*r.unit) {
            if r.start < *prev {
                return Err(format!("hooks overlap on {}: {r}", r.unit));
            }
        }
        last_end.insert(&r.unit, r.end());
        if r.kind == HookKind::RelationChanged && r.remote_unit.as_deref() == Some(&*r.unit) {
            return Err(format!("relation-changed for a unit's own writes: {r}"));
        }
        if r.outcome != HookOutcome::Ok
            && (r.bytes_written > 0 || !r.keys_written.is_empty() || r.attempted_before != r.attempted_after)
        {
            return Err(format!(
                "a hook that did not succeed committed data ({} key(s) it tried to write, {} bytes): {r}",
                r.attempted_keys.len(),
                r.attempted_bytes
            ));
        }
    }
    Ok(())
}

fn settle(sim: &mut Sim, max: Duration) -> Result<crate::Idle, String> {
    sim.run_until_idle(max).map_err(|e| e.to_string())
}

/// The `peer` scenario.
pub fn peer(seed: u64) -> Result<Outcome, String> {
    let mut r = Rng::new(seed ^ 0x5ce7_a110);
    let n = 4 + r.below(8) as usize;
    let mut sim = Sim::with_config(seed, chaos_config());
    sim.set_replay_hint(&replay_command("peer", seed));
    sim.deploy("peer", n, PeerCharm::default, peer_metadata());
    let k = 3 + r.below(5) as usize;
    let faults = random_faults(&mut sim, &mut r, "peer", Duration::from_secs(900), k);
    sim.run_for(Duration::from_secs(1200));
    sim.set_fault_profile(FaultProfile::default());
    let idle = settle(&mut sim, Duration::from_secs(12 * 3600));
    if std::env::var("SIM_DEBUG").is_ok() {
        for (t, e) in sim.trace().events() {
            println!("{:.1} {e}", t.as_secs_f64());
        }
        println!("{}", sim.status_table());
        for r in sim.trace().records().iter().rev().take(30).rev() {
            println!("{r}");
        }
    }
    let idle = idle?;
    common_invariants(&sim)?;

    let alive = sim.alive_units("peer");
    let rel = sim
        .peer_relation("peer", None)
        .ok_or("the peer relation is gone")?;
    let outcome = Outcome {
        hooks: sim.trace().len(),
        virtual_secs: idle.quiescent_at.as_secs_f64(),
        faults,
    };
    if alive.is_empty() {
        // Every unit was removed: nothing left to lead.
        return match sim.leader("peer") {
            None => Ok(outcome),
            Some(l) => Err(format!("{l} leads an application with no alive unit")),
        };
    }
    let leader = sim.leader("peer").ok_or("no leader")?;
    if !alive.contains(&leader) {
        return Err(format!("the leader {leader} is not alive"));
    }
    let app_bag = sim.databag(rel, "peer").cloned().unwrap_or_default();
    if app_bag.get("leader") != Some(&leader) {
        return Err(format!(
            "the peer app bag names {:?} as leader, but the leader is {leader}",
            app_bag.get("leader")
        ));
    }
    for u in &alive {
        let st = sim.unit_status(u).unwrap_or_default();
        if st.name != StatusName::Active {
            return Err(format!("{u} is {st}"));
        }
        let mut members = sim.relation_members(u, rel);
        members.sort();
        let mut others: Vec<String> = alive.iter().filter(|o| *o != u).cloned().collect();
        others.sort();
        if members != others {
            return Err(format!("{u} knows peers {members:?}, expected {others:?}"));
        }
        let bag = sim.databag(rel, u).cloned().unwrap_or_default();
        if !bag.contains_key("address") || bag.get("address") != bag.get("ingress-address") {
            return Err(format!("{u} did not publish its address"));
        }
    }
    Ok(outcome)
}

/// The `client-server` scenario.
pub fn client_server(seed: u64) -> Result<Outcome, String> {
    let mut r = Rng::new(seed ^ 0xc11e_5e7e);
    let servers = 2 + r.below(2) as usize;
    let clients = 5 + r.below(26) as usize;
    let mut sim = Sim::with_config(seed, chaos_config());
    sim.set_replay_hint(&replay_command("client-server", seed));
    sim.deploy("server", servers, ServerCharm::default, server_metadata())
        .deploy("client", clients, ClientCharm::default, client_metadata())
        .relate("client:db", "server:db");
    let k = 2 + r.below(6) as usize;
    let mut faults = random_faults(&mut sim, &mut r, "client", Duration::from_secs(600), k);
    if r.chance(0.5) {
        let units = sim.units("server");
        let unit = units[r.below(units.len() as u64) as usize].clone();
        sim.fault_at(
            Duration::from_secs(r.below(600)),
            Fault::KillAgent {
                unit,
                down_for: Duration::from_secs(30 + r.below(120)),
            },
        );
        faults += 1;
    }
    sim.run_for(Duration::from_secs(900));
    sim.set_fault_profile(FaultProfile::default());
    let idle = settle(&mut sim, Duration::from_secs(12 * 3600))?;
    common_invariants(&sim)?;

    let rel = sim
        .relation_between("client:db", "server:db")
        .ok_or("the relation is gone")?;
    let alive_clients = sim.alive_units("client");
    for s in sim.alive_units("server") {
        let st = sim.unit_status(&s).unwrap_or_default();
        if st.name != StatusName::Active {
            return Err(format!("{s} is {st}"));
        }
        let mut members = sim.relation_members(&s, rel);
        members.sort();
        let mut expected = alive_clients.clone();
        expected.sort();
        if members != expected {
            return Err(format!("{s} knows clients {members:?}, expected {expected:?}"));
        }
        let heard = sim.stored(&s, "clients").and_then(|v| v.as_u64()).unwrap_or(0);
        if heard < alive_clients.len() as u64 {
            return Err(format!(
                "{s} heard from {heard} clients, {} are alive",
                alive_clients.len()
            ));
        }
    }
    for c in &alive_clients {
        let st = sim.unit_status(c).unwrap_or_default();
        if st.name != StatusName::Active {
            return Err(format!("{c} is {st}"));
        }
    }
    Ok(Outcome {
        hooks: sim.trace().len(),
        virtual_secs: idle.quiescent_at.as_secs_f64(),
        faults,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use charm::{Charm, Context, Event, HandlerResult, Observers};

    /// Writes the name of its config-changed and start hooks to its peer bag and its stored
    /// state.
    #[derive(Default)]
    struct Scribe;

    impl Charm for Scribe {
        fn register(on: &mut Observers<Self>) {
            on.observe("scribe", Self::on_event);
        }
    }

    impl Scribe {
        fn on_event(&mut self, ctx: &mut Context<'_>, event: &Event) -> HandlerResult {
            if !matches!(event, Event::ConfigChanged | Event::Start) {
                return Ok(());
            }
            let hook = format!("{} at {:?}", event.hook_name(), ctx.now());
            if let Some(rel) = ctx.relation_on("cluster")? {
                ctx.set_unit_data(rel.id, "last-hook", Some(&hook))?;
            }
            ctx.set_stored("last-hook", &hook)?;
            Ok(())
        }
    }

    /// Four peers; once settled, two hooks of one of them fail (with writes in their
    /// transactions).
    fn failing_model(commit_failed_hooks: bool) -> Sim {
        let mut sim = Sim::new(21);
        sim.commit_failed_hooks_for_test = commit_failed_hooks;
        let meta = charm::Metadata::from_charmcraft_yaml(
            "name: scribe\npeers:\n  cluster:\n    interface: scribe\nconfig:\n  options:\n    x:\n      type: string\n",
        )
        .expect("valid metadata");
        sim.deploy("scribe", 4, Scribe::default, meta);
        sim.settle(Duration::from_secs(3600));
        sim.fault(Fault::FailHooks {
            unit: "scribe/1".into(),
            count: 2,
        });
        sim.set_config("scribe", "x", Some(charm::ConfigValue::String("y".into())))
            .expect("an option");
        sim.settle(Duration::from_secs(3600));
        sim
    }

    #[test]
    fn failed_hooks_tried_to_write_and_committed_nothing() {
        let sim = failing_model(false);
        let failed: Vec<_> = sim
            .trace()
            .records()
            .iter()
            .filter(|r| r.outcome == HookOutcome::Failed)
            .collect();
        assert_eq!(failed.len(), 2, "{failed:?}");
        for r in failed {
            assert_eq!(&*r.hook, "config-changed");
            assert_eq!(r.attempted_keys.len(), 2, "{:?}", r.attempted_keys);
            assert!(r
                .attempted_keys
                .iter()
                .any(|k| k.ends_with("/scribe/1/last-hook")));
            assert!(r.attempted_keys.contains(&"stored/scribe/1".to_owned()));
            assert!(r.attempted_bytes > 0);
            assert_eq!(r.attempted_before, r.attempted_after);
        }
        assert_eq!(common_invariants(&sim), Ok(()));
    }

    #[test]
    fn the_invariant_fails_when_a_failed_hooks_writes_are_committed() {
        let sim = failing_model(true);
        let err = common_invariants(&sim).unwrap_err();
        assert!(
            err.contains("a hook that did not succeed committed data"),
            "{err}"
        );
    }
}
