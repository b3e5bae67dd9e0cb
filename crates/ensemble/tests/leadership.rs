//! The leadership layer's example (seed 003) in the simulator: 20 units under Juju's rules.

use charm::{ConfigValue, Metadata};
use juju_sim::{Fault, Sim};
use leadership::example::{
    fingerprint, JujuPasswordCharm, PeerPasswordCharm, CHARMCRAFT_YAML, FAILED_ATTEMPT_FILE, PASSWORD_FILE,
};
use std::collections::BTreeSet;
use std::time::Duration;

const APP: &str = "shared-password";
const MAX: Duration = Duration::from_secs(6 * 3600);

fn meta() -> Metadata {
    Metadata::from_charmcraft_yaml(CHARMCRAFT_YAML).expect("the example's metadata parses")
}

fn seed() -> u64 {
    juju_sim::seed_from_env(3)
}

/// The passwords every live unit wrote to its file.
fn passwords(sim: &Sim) -> BTreeSet<String> {
    sim.alive_units(APP)
        .iter()
        .map(|u| match sim.machine_file(u, PASSWORD_FILE) {
            Some(b) => String::from_utf8_lossy(b).into_owned(),
            None => sim.fail(&format!("{u} wrote no password file")),
        })
        .collect()
}

/// How many times a unit logged that it generated the password.
fn generations(sim: &Sim) -> usize {
    sim.units(APP)
        .iter()
        .flat_map(|u| sim.logs(u))
        .filter(|(_, _, m)| m.starts_with("generated the admin password"))
        .count()
}

#[test]
fn twenty_units_share_one_password_through_leader_changes_and_late_joiners() {
    let mut sim = Sim::new(seed());
    sim.deploy(APP, 20, PeerPasswordCharm::default, meta());
    // The leader is removed mid-way, while followers are still catching up.
    let first_leader = sim.leader(APP).expect("a leader at deploy");
    sim.fault_at(
        Duration::from_secs(3),
        Fault::RemoveUnit {
            unit: first_leader.clone(),
            force: false,
        },
    );
    sim.settle(MAX);
    let new_leader = sim.leader(APP).expect("a new leader");
    sim.check(new_leader != first_leader, || {
        format!("{first_leader} was removed but still leads")
    });
    let pw = passwords(&sim);
    sim.check(pw.len() == 1, || {
        format!("units disagree: {} passwords", pw.len())
    });
    sim.check(generations(&sim) == 1, || {
        format!("generated {} times", generations(&sim))
    });
    // Every unit's status shows the fingerprint, never the password.
    let the = pw.iter().next().cloned().unwrap_or_default();
    for u in sim.alive_units(APP) {
        let s = sim.unit_status(&u).unwrap_or_default();
        sim.check(s.message == format!("password {}", fingerprint(&the)), || {
            format!("{u}: {s}")
        });
        sim.check(!s.message.contains(&the), || format!("{u} shows the password"));
    }
    // A follower that joins late gets it.
    sim.add_units(APP, 2);
    sim.settle(MAX);
    let after = passwords(&sim);
    sim.check(after == pw, || "a late joiner got another password".into());
    sim.check(sim.alive_units(APP).len() == 21, || "21 units expected".into());
    sim.check(generations(&sim) == 1, || {
        "a new leader generated another password".into()
    });
}

#[test]
fn the_leaders_agent_dying_does_not_regenerate() {
    let mut sim = Sim::new(seed());
    sim.deploy(APP, 20, PeerPasswordCharm::default, meta());
    sim.fault_at(
        Duration::from_secs(2),
        Fault::LoseLeader {
            app: APP.into(),
            down_for: Duration::from_secs(120),
        },
    );
    sim.settle(MAX);
    sim.check(passwords(&sim).len() == 1, || "units disagree".into());
    sim.check(generations(&sim) == 1, || {
        format!("generated {} times", generations(&sim))
    });
}

fn failed_attempt(sim: &Sim) -> String {
    sim.units(APP)
        .iter()
        .find_map(|u| sim.machine_file(u, FAILED_ATTEMPT_FILE))
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_else(|| sim.fail("no unit recorded a failed attempt"))
}

#[test]
fn a_hook_failing_after_leader_set_shows_the_two_stores_apart() {
    // Juju's leader settings: the password set in the failed hook is kept, and used.
    let mut sim = Sim::new(seed());
    sim.deploy(APP, 20, JujuPasswordCharm::default, meta());
    sim.set_config(APP, "fail-once-after-generate", Some(ConfigValue::Bool(true)))
        .unwrap_or_else(|e| panic!("{e}"));
    sim.settle(MAX);
    let pw = passwords(&sim);
    sim.check(pw.len() == 1, || "units disagree".into());
    let kept = fingerprint(pw.iter().next().map(String::as_str).unwrap_or_default());
    sim.check(failed_attempt(&sim) == kept, || {
        "the Juju store lost the failed hook's password".into()
    });

    // The peer application bag: the failed hook's password is rolled back; a new one is made.
    let mut sim = Sim::new(seed());
    sim.deploy(APP, 20, PeerPasswordCharm::default, meta());
    sim.set_config(APP, "fail-once-after-generate", Some(ConfigValue::Bool(true)))
        .unwrap_or_else(|e| panic!("{e}"));
    sim.settle(MAX);
    let pw = passwords(&sim);
    sim.check(pw.len() == 1, || "units disagree".into());
    let used = fingerprint(pw.iter().next().map(String::as_str).unwrap_or_default());
    sim.check(failed_attempt(&sim) != used, || {
        "the peer store kept a rolled-back password".into()
    });
    sim.check(generations(&sim) == 2, || {
        format!("expected two generations, saw {}", generations(&sim))
    });
}
