//! A `juju status`-like table.

use crate::model::Life;
use crate::sim::Sim;
use charm::StatusName;
use std::fmt::Write;

/// Lays out rows in columns two spaces apart, as `juju status` does; the columns listed in
/// `right` (numbers: Scale, Rev) are right-aligned.
fn table(rows: &[Vec<String>], right: &[usize]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; cols];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for (n, r) in rows.iter().enumerate() {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line.push_str(c);
            } else if right.contains(&i) && n > 0 {
                let _ = write!(line, "{:>w$}  ", c, w = widths[i]);
            } else {
                let _ = write!(line, "{:<w$}  ", c, w = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn row(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| (*c).to_owned()).collect()
}

/// The table in `juju status`'s 3.6 layout: the model, the applications (sorted by name), the
/// units (with `*` on the leader, their public address and opened ports) and the machines.
/// The timestamp is the virtual time since the start of the run.
pub(crate) fn render(sim: &Sim, max_units: usize) -> String {
    let mut out = String::new();
    let v = sim.cfg.juju_version;
    let secs = sim.now().as_secs();
    out.push_str(&table(
        &[
            row(&[
                "Model",
                "Controller",
                "Cloud/Region",
                "Version",
                "SLA",
                "Timestamp",
            ]),
            vec![
                sim.cfg.model.clone(),
                "simulator".into(),
                "juju-sim/default".into(),
                format!("{}.{}.{}", v.major, v.minor, v.patch),
                "unsupported".into(),
                format!("{:02}:{:02}:{:02}Z", secs / 3600, secs / 60 % 60, secs % 60),
            ],
        ],
        &[],
    ));
    out.push('\n');

    let mut order: Vec<usize> = (0..sim.apps.len()).collect();
    order.sort_by(|&a, &b| sim.apps[a].name.as_str().cmp(sim.apps[b].name.as_str()));

    let mut apps = vec![row(&[
        "App", "Version", "Status", "Scale", "Charm", "Channel", "Rev", "Exposed", "Message",
    ])];
    for &a in &order {
        let app = &sim.apps[a];
        let scale = app
            .units
            .iter()
            .filter(|&&u| sim.units[u].life != Life::Dead)
            .count();
        let status = if app.status.name == StatusName::Unknown {
            // Juju derives the application's status from its units' when the leader set none.
            let worst = app
                .units
                .iter()
                .filter(|&&u| sim.units[u].life != Life::Dead)
                .map(|&u| sim.status_of(u).name)
                .max_by_key(|n| severity(*n));
            worst.unwrap_or(StatusName::Unknown).as_str().to_owned()
        } else {
            app.status.name.as_str().to_owned()
        };
        apps.push(vec![
            app.name.to_string(),
            app.version.clone(),
            status,
            scale.to_string(),
            app.meta.name.clone(),
            String::new(),
            app.charm_rev.to_string(),
            "no".into(),
            app.status.message.clone(),
        ]);
    }
    out.push_str(&table(&apps, &[3, 6]));
    out.push('\n');

    let mut units = vec![row(&[
        "Unit",
        "Workload",
        "Agent",
        "Machine",
        "Public address",
        "Ports",
        "Message",
    ])];
    // (machine id, address, hostname, agent up) of the units shown, for the machine section.
    let mut machines: Vec<(u32, String, String, bool)> = Vec::new();
    let mut hidden_machines = 0usize;
    for &a in &order {
        let app = &sim.apps[a];
        let mut alive: Vec<usize> = app
            .units
            .iter()
            .copied()
            .filter(|&u| sim.units[u].life != Life::Dead)
            .collect();
        alive.sort_by_key(|&u| sim.units[u].name.number());
        for (i, &u) in alive.iter().enumerate() {
            let x = &sim.units[u];
            if i >= max_units {
                hidden_machines += 1;
                continue;
            }
            let st = sim.status_of(u);
            let leader = if app.leader == Some(u) { "*" } else { "" };
            let agent = if !x.agent_up {
                "lost"
            } else if x.running.is_some() {
                "executing"
            } else if x.life == Life::Dying {
                "dying"
            } else {
                "idle"
            };
            let ports: Vec<String> = x.ports.iter().map(ToString::to_string).collect();
            units.push(vec![
                format!("{}{leader}", x.name),
                st.name.as_str().to_owned(),
                agent.to_owned(),
                x.machine_id.to_string(),
                x.machine.address.clone(),
                ports.join(","),
                st.message.clone(),
            ]);
            if !machines.iter().any(|m| m.0 == x.machine_id) {
                machines.push((
                    x.machine_id,
                    x.machine.address.clone(),
                    x.machine.hostname.clone(),
                    x.agent_up,
                ));
            }
        }
        if alive.len() > max_units {
            let mut r = vec![String::new(); 7];
            r[0] = format!("... {} more {} units", alive.len() - max_units, app.name);
            units.push(r);
        }
    }
    out.push_str(&table(&units, &[]));
    out.push('\n');

    machines.sort_by_key(|m| m.0);
    let mut rows = vec![row(&[
        "Machine", "State", "Address", "Inst id", "Base", "AZ", "Message",
    ])];
    for (id, address, hostname, up) in machines {
        rows.push(vec![
            id.to_string(),
            if up { "started" } else { "down" }.into(),
            address,
            hostname,
            "ubuntu@24.04".into(),
            String::new(),
            if up { "Running" } else { "agent lost" }.into(),
        ]);
    }
    if hidden_machines > 0 {
        let mut r = vec![String::new(); 7];
        r[0] = format!("... {hidden_machines} more machines");
        rows.push(r);
    }
    out.push_str(&table(&rows, &[]));
    out
}

fn severity(n: StatusName) -> u8 {
    match n {
        StatusName::Error => 6,
        StatusName::Blocked => 5,
        StatusName::Maintenance => 4,
        StatusName::Waiting => 3,
        StatusName::Active => 2,
        StatusName::Unknown => 1,
    }
}
