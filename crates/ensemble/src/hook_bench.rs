//! `ensemble bench hooks`: the per-hook cost of a Rust charm against the same charm written
//! with Python `ops`, both run as processes by the simulator's process driver, side by side in
//! one model.
//!
//! The behaviour (charms/hook-bench): on `ping-relation-changed`, read the remote unit's bag,
//! write one key, set the status. A third application, the pinger (the Rust charm's other
//! role), writes the next value each time both have seen the last one, so the two sides take
//! turns on the same machine at the same time. A hook's wall time runs from spawning
//! `dispatch` to its exit, its tool calls included; peak memory is the hook process's
//! `ru_maxrss`.

use crate::charm_dirs::{python_charm_dir, rust_charm_dir};
use juju_sim::{ProcessConfig, ProcessHookStat, Sim, SimConfig};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What to run.
#[derive(Debug, Clone)]
pub struct HookBenchOptions {
    /// Measured hooks per charm.
    pub hooks: usize,
    /// The `hook-bench` charm's source (its `charmcraft.yaml` and `python/`).
    pub charm_source: PathBuf,
    /// The built `hook-bench` binary.
    pub rust_binary: PathBuf,
    /// The `hook-tools` binary.
    pub hook_tools: PathBuf,
    /// The Python virtual environment with `ops`.
    pub venv: PathBuf,
    /// Where the model's files go.
    pub work_dir: PathBuf,
    /// The model's seed.
    pub seed: u64,
}

/// Figures for one charm.
#[derive(Debug, Clone, Serialize)]
pub struct SideReport {
    /// Hooks measured.
    pub hooks: usize,
    /// Median wall time per hook, ms.
    pub wall_ms_median: f64,
    /// 90th percentile wall time per hook, ms.
    pub wall_ms_p90: f64,
    /// Median peak RSS per hook, KiB.
    pub rss_kib_median: u64,
    /// 90th percentile peak RSS per hook, KiB.
    pub rss_kib_p90: u64,
    /// Hook-tool calls per hook (median): each one a process the hook starts.
    pub tool_calls_median: u32,
}

/// The report `--json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct HookBenchReport {
    /// The Rust charm.
    pub rust: SideReport,
    /// The Python `ops` charm.
    pub python: SideReport,
    /// Python's median wall time over Rust's.
    pub wall_ratio: f64,
    /// Python's median peak RSS over Rust's.
    pub rss_ratio: f64,
    /// The measured hook.
    pub hook: String,
}

const HOOK: &str = "ping-relation-changed";

/// Runs the benchmark.
pub fn run(opts: &HookBenchOptions) -> Result<HookBenchReport, String> {
    let rust_dir = rust_charm_dir(
        &opts.charm_source,
        &opts.rust_binary,
        &opts.work_dir.join("charm-rust"),
    )
    .map_err(|e| e.to_string())?;
    let python_dir = python_charm_dir(
        &opts.charm_source.join("python"),
        &opts.venv,
        &opts.work_dir.join("charm-python"),
    )?;
    let cfg = ProcessConfig::new(opts.work_dir.join("model"), &opts.hook_tools);
    let sim_cfg = SimConfig {
        update_status_interval: None,
        ..SimConfig::default()
    };
    let mut sim = Sim::with_processes(opts.seed, sim_cfg, cfg).map_err(|e| e.to_string())?;
    let err = |e: juju_sim::SimError| e.to_string();
    sim.deploy_charm_dir("pinger", 1, &rust_dir).map_err(err)?;
    sim.deploy_charm_dir("rust", 1, &rust_dir).map_err(err)?;
    sim.deploy_charm_dir("python", 1, &python_dir).map_err(err)?;
    sim.set_config(
        "pinger",
        "rounds",
        Some(charm::ConfigValue::Int(opts.hooks as i64)),
    )
    .map_err(err)?;
    sim.try_relate("pinger:pinger", "rust:ping").map_err(err)?;
    sim.try_relate("pinger:pinger", "python:ping").map_err(err)?;
    let done = format!("seen {}", opts.hooks);
    let finished = |s: &Sim| {
        ["rust/0", "python/0"]
            .iter()
            .all(|u| s.unit_status(u).is_some_and(|st| st.message == done))
    };
    let budget = Duration::from_secs(60 + opts.hooks as u64 * 5);
    sim.run_while(budget, |s| !finished(s)).map_err(|e| {
        format!(
            "{e}\n{}\nrust/0: {:?}\npython/0: {:?}",
            sim.status_table(),
            sim.logs("rust/0").last(),
            sim.logs("python/0").last()
        )
    })?;
    let stats = sim.process_stats();
    let rust = side(&stats, "rust/0")?;
    let python = side(&stats, "python/0")?;
    Ok(HookBenchReport {
        wall_ratio: python.wall_ms_median / rust.wall_ms_median,
        rss_ratio: python.rss_kib_median as f64 / rust.rss_kib_median.max(1) as f64,
        rust,
        python,
        hook: HOOK.into(),
    })
}

fn side(stats: &[ProcessHookStat], unit: &str) -> Result<SideReport, String> {
    let hooks: Vec<&ProcessHookStat> = stats
        .iter()
        .filter(|s| s.unit == unit && s.hook == HOOK && s.exit_code == Some(0))
        .collect();
    if hooks.is_empty() {
        return Err(format!("{unit} ran no successful {HOOK} hook"));
    }
    let mut wall: Vec<f64> = hooks.iter().map(|s| s.wall.as_secs_f64() * 1e3).collect();
    let mut rss: Vec<u64> = hooks.iter().map(|s| s.max_rss_kib).collect();
    let mut tools: Vec<u32> = hooks.iter().map(|s| s.tool_calls).collect();
    wall.sort_by(f64::total_cmp);
    rss.sort_unstable();
    tools.sort_unstable();
    Ok(SideReport {
        hooks: hooks.len(),
        wall_ms_median: pick(&wall, 0.5),
        wall_ms_p90: pick(&wall, 0.9),
        rss_kib_median: pick(&rss, 0.5),
        rss_kib_p90: pick(&rss, 0.9),
        tool_calls_median: pick(&tools, 0.5),
    })
}

fn pick<T: Copy>(sorted: &[T], q: f64) -> T {
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
}

/// The `hook-bench` charm's source in this workspace (`charms/hook-bench`), found from the
/// current directory.
pub fn default_charm_source() -> PathBuf {
    Path::new("charms").join("hook-bench")
}
