//! A `juju status`-like table.

use crate::model::Life;
use crate::sim::Sim;
use charm::StatusName;
use std::fmt::Write;

fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; cols];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line.push_str(c);
            } else {
                let _ = write!(line, "{:<w$}  ", c, w = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub(crate) fn render(sim: &Sim, max_units: usize) -> String {
    let mut out = String::new();
    let v = sim.cfg.juju_version;
    out.push_str(&table(&[
        vec![
            "Model".into(),
            "Controller".into(),
            "Cloud/Region".into(),
            "Version".into(),
            "Time".into(),
        ],
        vec![
            sim.cfg.model.clone(),
            "simulator".into(),
            "juju-sim/default".into(),
            format!("{}.{}.{}", v.major, v.minor, v.patch),
            format!("{:.1}s (virtual), seed {}", sim.now().as_secs_f64(), sim.seed),
        ],
    ]));
    out.push('\n');

    let mut apps = vec![vec![
        "App".into(),
        "Version".into(),
        "Status".into(),
        "Scale".into(),
        "Charm".into(),
        "Rev".into(),
        "Message".into(),
    ]];
    for app in &sim.apps {
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
            app.charm_rev.to_string(),
            app.status.message.clone(),
        ]);
    }
    out.push_str(&table(&apps));
    out.push('\n');

    let mut units = vec![vec![
        "Unit".into(),
        "Workload".into(),
        "Agent".into(),
        "Machine".into(),
        "Address".into(),
        "Message".into(),
    ]];
    for app in &sim.apps {
        let alive: Vec<usize> = app
            .units
            .iter()
            .copied()
            .filter(|&u| sim.units[u].life != Life::Dead)
            .collect();
        for &u in alive.iter().take(max_units) {
            let x = &sim.units[u];
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
            units.push(vec![
                format!("{}{leader}", x.name),
                st.name.as_str().to_owned(),
                agent.to_owned(),
                x.machine_id.to_string(),
                x.machine.address.clone(),
                st.message.clone(),
            ]);
        }
        if alive.len() > max_units {
            units.push(vec![
                format!("... {} more {} units", alive.len() - max_units, app.name),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ]);
        }
    }
    out.push_str(&table(&units));
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
