//! The scale benchmarks (run in release mode by `ensemble bench sim`; see docs/benchmarks.md).
//!
//! - **client-server**: a client application of N units related to a 3-unit server
//!   application; each client writes its address once; each server unit reads only the remote
//!   unit's bag in relation-changed and counts clients in its stored state.
//! - **peer**: a peer relation of N units; each unit writes its address once; relation-changed
//!   reads only the remote unit's bag. About 2·N² hooks: the O(N²) that peer relations cost.

use crate::charms::{client_metadata, peer_metadata, server_metadata, ClientCharm, PeerCharm, ServerCharm};
use crate::{Sim, SimConfig, TraceMode};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// One benchmark's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchResult {
    /// `client-server` or `peer`.
    pub scenario: String,
    /// Units deployed.
    pub units: usize,
    /// Hooks run.
    pub hooks: u64,
    /// relation-changed hooks among them.
    pub relation_changed: u64,
    /// Wall-clock seconds, deploy to idle.
    pub wall_secs: f64,
    /// Hooks per second of wall time.
    pub hooks_per_sec: f64,
    /// Wall-clock microseconds per hook.
    pub us_per_hook: f64,
    /// Virtual seconds until the model was quiescent (update-status included: a charm that
    /// sets its status there settles in the first round).
    pub quiescent_virtual_secs: f64,
    /// Virtual seconds until the last relation hook ended (the relations settled).
    pub relations_settled_virtual_secs: f64,
    /// The process's peak resident set (VmHWM) after the run, in KiB, where known.
    pub peak_rss_kib: Option<u64>,
}

/// The process's peak resident set size (`VmHWM` in `/proc/self/status`), in KiB.
pub fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn bench_config() -> SimConfig {
    SimConfig {
        trace: TraceMode::Off,
        log_lines_per_unit: 0,
        ..SimConfig::default()
    }
}

const BOUND: Duration = Duration::from_secs(7 * 24 * 3600);

fn finish(scenario: &str, units: usize, sim: &Sim, started: Instant, quiescent: Duration) -> BenchResult {
    let wall = started.elapsed().as_secs_f64();
    let m = sim.metrics();
    BenchResult {
        scenario: scenario.into(),
        units,
        hooks: m.hooks,
        relation_changed: m.relation_changed,
        wall_secs: wall,
        hooks_per_sec: m.hooks as f64 / wall.max(1e-9),
        us_per_hook: wall * 1e6 / (m.hooks.max(1) as f64),
        quiescent_virtual_secs: quiescent.as_secs_f64(),
        relations_settled_virtual_secs: m.last_relation_hook.as_secs_f64(),
        peak_rss_kib: peak_rss_kib(),
    }
}

/// Deploys `clients` clients related to 3 servers and runs until idle; checks that every server
/// heard from every client.
pub fn client_server(clients: usize, seed: u64) -> Result<BenchResult, String> {
    let started = Instant::now();
    let mut sim = Sim::with_config(seed, bench_config());
    sim.deploy("server", 3, ServerCharm::default, server_metadata())
        .deploy("client", clients, ClientCharm::default, client_metadata())
        .relate("client:db", "server:db");
    let idle = sim.run_until_idle(BOUND).map_err(|e| e.to_string())?;
    for s in sim.units("server") {
        let heard = sim.stored(&s, "clients").and_then(|v| v.as_u64()).unwrap_or(0);
        if heard < clients as u64 {
            return Err(format!(
                "{s} heard from {heard} of {clients} clients (seed={seed})"
            ));
        }
    }
    Ok(finish(
        "client-server",
        clients + 3,
        &sim,
        started,
        idle.quiescent_at,
    ))
}

/// Deploys `units` units of a peer charm and runs until idle; checks that every unit joined
/// every other.
pub fn peer(units: usize, seed: u64) -> Result<BenchResult, String> {
    let started = Instant::now();
    let mut sim = Sim::with_config(seed, bench_config());
    sim.deploy("peer", units, PeerCharm::default, peer_metadata());
    let idle = sim.run_until_idle(BOUND).map_err(|e| e.to_string())?;
    let rel = sim.peer_relation("peer", None).ok_or("no peer relation")?;
    for u in [0, units / 2, units.saturating_sub(1)] {
        let name = format!("peer/{u}");
        let n = sim.relation_members(&name, rel).len();
        if n + 1 != units {
            return Err(format!("{name} joined {n} of {} peers (seed={seed})", units - 1));
        }
    }
    Ok(finish("peer", units, &sim, started, idle.quiescent_at))
}
