//! `ensemble`: the toolkit's command.
//!
//! - `ensemble demo`: deploys a scenario in the embedded simulator and shows the status table
//!   and the metrics.
//! - `ensemble check <scenario> --seeds N`: seeded runs with random faults and invariant checks,
//!   in parallel; prints how to replay each failure; exits non-zero on any.
//! - `ensemble bench sim`: the simulator's scale benchmarks.
//! - `ensemble bench rolling`: hand-overs of a rolling restart (rolling ops).
//! - `ensemble bench hooks`: a Rust charm's hook against the same charm in Python `ops`, run
//!   as processes by the simulator's process driver.

#![forbid(unsafe_code)]

use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use juju_sim::charms::{peer_metadata, PeerCharm};
use juju_sim::scenarios::{self, Scenario};
use juju_sim::{bench, Fault, Sim};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    name = "ensemble",
    version,
    about = "Coordinated Juju charms in Rust: demo, check, bench, pack",
    max_term_width = 100
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Deploys the demo model in the embedded simulator, then shows its status and metrics.
    Demo {
        /// Units of the peer-relation example charm (at least 1).
        #[arg(long, default_value_t = 9, value_parser = at_least_one)]
        units: usize,
        /// The seed (the same seed gives the same run).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Also kill the leader's agent a minute in (a new leader is elected when its lease runs
        /// out).
        #[arg(long)]
        faults: bool,
        /// Print one JSON object (the run, each unit's status, leadership, the cluster, the
        /// metrics, the rolling restart) instead of the tables.
        #[arg(long)]
        json: bool,
    },
    /// Runs seeded runs of a scenario with random faults and checks its invariants.
    Check {
        /// The scenario (see --list).
        scenario: Option<String>,
        /// How many seeds to run (1..=N, at least 1).
        #[arg(long, default_value_t = 20, value_parser = at_least_one_u64)]
        seeds: u64,
        /// Run only this seed (to replay a failure).
        #[arg(long)]
        seed: Option<u64>,
        /// Parallel jobs (at least 1; default: the available cores).
        #[arg(long, value_parser = at_least_one)]
        jobs: Option<usize>,
        /// List the scenarios.
        #[arg(long)]
        list: bool,
        /// Print one JSON summary object (scenario, seeds, passed, failed, hooks, seconds, jobs,
        /// and each failure's seed, message and replay command) instead of the text.
        #[arg(long)]
        json: bool,
    },
    /// Builds .charm archives from a Rust charm's directory (charmcraft.yaml + Cargo.toml), one
    /// per platform of this machine's architecture, as `charmcraft pack` names them.
    Pack {
        /// The charm's directory, such as charms/token-distributor.
        dir: std::path::PathBuf,
        /// Use this binary instead of building one (cargo build --release, statically linked).
        #[arg(long)]
        binary: Option<std::path::PathBuf>,
        /// The architecture the binary is for (default: this machine's); packs every platform
        /// of that architecture.
        #[arg(long)]
        arch: Option<String>,
        /// Pack only this platform (a key of `platforms`, or ubuntu-22.04-amd64 for `bases`).
        #[arg(long)]
        platform: Option<String>,
        /// The directory to write the archives to (default: the current directory).
        #[arg(short, long, default_value = ".")]
        output: std::path::PathBuf,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        what: BenchWhat,
    },
}

#[derive(Subcommand)]
enum BenchWhat {
    /// The simulator's scale benchmarks (build with --release).
    Sim {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Only the small cases (100 units).
        #[arg(long)]
        quick: bool,
        /// Also the 3,000-unit peer relation (about 18 million hooks).
        #[arg(long)]
        large: bool,
        /// Run one case in this process (`peer-1000`, `client-server-10000`) and print its JSON.
        #[arg(long)]
        case: Option<String>,
    },
    /// A Rust charm's hook against the same charm in Python ops, as processes (build with
    /// --release; run from the workspace; needs the Python venv that ./scripts/test makes).
    Hooks {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Measured hooks per charm (at least 1).
        #[arg(long, default_value_t = 200, value_parser = at_least_one)]
        hooks: usize,
        /// The Python virtual environment with ops (default: $ENSEMBLE_PYTHON_VENV or .venv).
        #[arg(long)]
        venv: Option<std::path::PathBuf>,
        /// The model's seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// A rolling restart of the example charm, no faults: hooks on the critical path of a
    /// hand-over, hooks per hand-over across all units, and the total virtual time against N ×
    /// (operation + 2 hooks) (build with --release).
    Rolling {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Application sizes, one run each (each at least 1).
        #[arg(long, value_delimiter = ',', default_value = "10,30,100", value_parser = at_least_one)]
        units: Vec<usize>,
        /// How long one restart takes, in virtual seconds.
        #[arg(long, default_value_t = 10)]
        op_secs: u64,
        /// The model's seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

/// A count that must be at least 1 (`--jobs 0` would run nothing and report success).
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// A count of seeds, at least 1 (`--seeds 0` would run nothing and report success).
fn at_least_one_u64(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// A mistake in how the command was called (as clap's own): said on standard error, exit 2.
#[derive(Debug)]
struct Usage(String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo {
            units,
            seed,
            faults,
            json,
        } => demo(units, seed, faults, json),
        Command::Check {
            scenario,
            seeds,
            seed,
            jobs,
            list,
            json,
        } => check(scenario, seeds, seed, jobs, list, json),
        Command::Pack {
            dir,
            binary,
            arch,
            platform,
            output,
        } => pack(&dir, binary, arch, platform, &output),
        Command::Bench {
            what:
                BenchWhat::Sim {
                    json,
                    quick,
                    large,
                    case,
                },
        } => bench_sim(json, quick, large, case),
        Command::Bench {
            what:
                BenchWhat::Hooks {
                    json,
                    hooks,
                    venv,
                    seed,
                },
        } => bench_hooks(json, hooks, venv, seed),
        Command::Bench {
            what:
                BenchWhat::Rolling {
                    json,
                    units,
                    op_secs,
                    seed,
                },
        } => bench_rolling(json, &units, op_secs, seed),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            let usage = e.downcast_ref::<Usage>().is_some()
                || matches!(
                    e.downcast_ref::<ensemble::pack::PackError>(),
                    Some(ensemble::pack::PackError::Options(_))
                );
            if usage {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn bar(len: u64, template: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(template) {
        pb.set_style(style.progress_chars("=> "));
    }
    pb
}

fn demo(units: usize, seed: u64, faults: bool, json: bool) -> anyhow::Result<ExitCode> {
    if units == 0 {
        return Err(Usage("--units must be at least 1".into()).into());
    }
    // In --json mode nothing but the one JSON object goes to standard output.
    let say = |s: &str| {
        if !json {
            println!("{s}");
        }
    };
    say(&format!(
        "Deploying the demo model in the embedded Juju simulator, seed {seed}:"
    ));
    say(&format!(
        "  peer-demo        {units} units of an example charm with a peer relation"
    ));
    say("  shared-password  5 units sharing a leader-generated password (leadership)");
    say(&format!(
        "  microovn         {units} units forming one microcluster through the token distributor"
    ));
    say("  distributor      1 unit of the microcluster-token-distributor charm");
    say("and then, in a model of its own, a rolling restart of 5 units (rolling ops).\n");
    let started = Instant::now();
    let mut sim = Sim::new(seed);
    sim.set_replay_hint(&format!("ensemble demo --seed {seed}"));
    sim.deploy("peer-demo", units, PeerCharm::default, peer_metadata());
    let pw_meta = charm::Metadata::from_charmcraft_yaml(leadership::example::CHARMCRAFT_YAML)
        .context("the shared-password charm's metadata")?;
    sim.deploy(
        "shared-password",
        5,
        leadership::example::PeerPasswordCharm::default,
        pw_meta,
    );
    ensemble::formation::deploy(&mut sim, &[("microovn", units)], 1);
    if faults {
        sim.fault_at(
            Duration::from_secs(60),
            Fault::LoseLeader {
                app: "peer-demo".into(),
                down_for: Duration::from_secs(180),
            },
        );
    }
    let pb = if json {
        ProgressBar::hidden()
    } else {
        bar(0, "{spinner} {msg}")
    };
    pb.enable_steady_tick(Duration::from_millis(100));
    // With --faults, each fault and what follows from it (leases running out, elections, agents
    // coming back) is told as the run reaches it, with its virtual time.
    let mut narration = Narration::default();
    let idle = sim
        .run_until_idle_with(Duration::from_secs(24 * 3600), |s| {
            pb.set_message(format!(
                "{} hooks, {:.0} s of virtual time",
                s.trace().len(),
                s.now().as_secs_f64()
            ));
            if faults {
                for line in narration.advance(s.trace().events()) {
                    if !json {
                        pb.suspend(|| println!("{}", line.text));
                    }
                }
            }
        })
        .context("the demo model did not settle")?;
    if faults {
        for line in narration.advance(sim.trace().events()) {
            if !json {
                pb.suspend(|| println!("{}", line.text));
            }
        }
        if !json && !narration.told.is_empty() {
            println!();
        }
    }
    pb.finish_and_clear();
    say(&format!(
        "Settled: quiescent after {:.1} s of virtual time ({} hooks, {:.2} s of wall time).\n",
        idle.quiescent_at.as_secs_f64(),
        sim.trace().len(),
        started.elapsed().as_secs_f64()
    ));
    say(&sim.status_table_limited(40));
    say("Leadership: the password each shared-password unit stored (a fingerprint, never the password)");
    let pw_leader = sim.leader("shared-password");
    for u in sim.alive_units("shared-password") {
        let status = sim.unit_status(&u).map(|s| s.message).unwrap_or_default();
        let leader = if pw_leader.as_deref() == Some(u.as_str()) {
            " (leader)"
        } else {
            ""
        };
        say(&format!("  {u:<20} {status}{leader}"));
    }
    let report = ensemble::formation::report(&sim, &["microovn"]);
    say("\nToken distribution:");
    for (cluster, members) in &report.clusters {
        say(&format!("  {cluster}: {} members", members.len()));
    }
    say(&format!(
        "  units outside any cluster: {}; largest distributor bag: {} bytes ({} per unit)\n",
        report.outside.len(),
        report.largest_distributor_bag,
        report.largest_distributor_bag / report.live_units.max(1)
    ));
    say(&format!("Metrics\n{}", sim.metrics()));
    let rolling = demo_rolling(seed)?;
    if json {
        let apps = [
            "peer-demo",
            "shared-password",
            "microovn",
            ensemble::formation::DISTRIBUTOR,
        ];
        let applications: serde_json::Map<String, serde_json::Value> = apps
            .iter()
            .map(|app| {
                let units: Vec<serde_json::Value> = sim
                    .alive_units(app)
                    .into_iter()
                    .map(|u| {
                        let status = sim.unit_status(&u);
                        serde_json::json!({
                            "unit": u,
                            "leader": sim.leader(app).as_deref() == Some(u.as_str()),
                            "workload": status.as_ref().map(|s| s.name),
                            "message": status.map(|s| s.message).unwrap_or_default(),
                        })
                    })
                    .collect();
                ((*app).to_owned(), serde_json::json!({ "units": units }))
            })
            .collect();
        let out = serde_json::json!({
            "seed": seed,
            "units": units,
            "faults": faults,
            "quiescent_at_secs": idle.quiescent_at.as_secs_f64(),
            "hooks": sim.trace().len(),
            "wall_secs": started.elapsed().as_secs_f64(),
            "applications": applications,
            "token_distribution": {
                "clusters": report.clusters.iter().map(|(c, m)| (c.clone(), m.len())).collect::<std::collections::BTreeMap<_, _>>(),
                "outside": report.outside.len(),
                "largest_distributor_bag": report.largest_distributor_bag,
            },
            "metrics": sim.metrics(),
            "fault_events": narration.told,
            "rolling_restart": rolling,
        });
        println!("{}", serde_json::to_string(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    print_rolling(&rolling);
    Ok(ExitCode::SUCCESS)
}

/// Tells the demo's faults as the simulator logs them: each `fault:` event, and after the first
/// one the leadership and agent events that follow (the initial elections are not told).
#[derive(Default)]
struct Narration {
    seen: usize,
    faulted: bool,
    told: Vec<Told>,
}

/// One told event.
#[derive(Debug, Clone, serde::Serialize)]
struct Told {
    secs: f64,
    event: String,
    #[serde(skip)]
    text: String,
}

impl Narration {
    /// The new events worth telling since the last call.
    fn advance(&mut self, events: &[(Duration, String)]) -> Vec<Told> {
        let mut out = Vec::new();
        for (t, event) in events.iter().skip(self.seen) {
            let is_fault = event.starts_with("fault");
            self.faulted |= is_fault;
            let follows = self.faulted
                && [
                    "is elected leader",
                    "lease of",
                    "agent is back",
                    "agent dies",
                    "resigns",
                ]
                .iter()
                .any(|k| event.contains(k));
            if !(is_fault || follows) {
                continue;
            }
            let what = if event.starts_with("fault: LoseLeader") {
                format!(
                    "fault: the leader's agent goes down ({})",
                    event.trim_start_matches("fault: ")
                )
            } else {
                event.clone()
            };
            let told = Told {
                secs: t.as_secs_f64(),
                event: event.clone(),
                text: format!("  at {:>8.1} s  {what}", t.as_secs_f64()),
            };
            self.told.push(told.clone());
            out.push(told);
        }
        self.seen = events.len();
        out
    }
}

/// The demo's rolling restart, as `--json` gives it.
#[derive(Debug, serde::Serialize)]
struct RollingDemo {
    units: usize,
    /// Each restart in the order they ran: unit, start and end (virtual seconds), leader.
    restarts: Vec<RollingRestart>,
    requests: usize,
    served: usize,
    min_gap_secs: f64,
    max_gap_secs: f64,
}

#[derive(Debug, serde::Serialize)]
struct RollingRestart {
    unit: String,
    start_secs: f64,
    end_secs: f64,
    leader: bool,
}

fn print_rolling(r: &RollingDemo) {
    println!(
        "\nRolling restart: {} units of the rolling-demo charm (rollingops), each restart 10 s \
         of virtual time, all requested at once (restart-generation raised)",
        r.units
    );
    for (i, o) in r.restarts.iter().enumerate() {
        let mark = if o.leader { " (leader)" } else { "" };
        println!(
            "  {}. {:<16} restarting from {:>6.2} s to {:>6.2} s{mark}",
            i + 1,
            o.unit,
            o.start_secs,
            o.end_secs
        );
    }
    println!(
        "  checked: never two at once, each request served once ({} of {}), in the order the \
         leader saw them; {:.2}-{:.2} s of virtual time between two restarts",
        r.served, r.requests, r.min_gap_secs, r.max_gap_secs
    );
}

/// The demo's last part: a rolling restart of 5 units of the rolling-ops example charm, in a
/// model of its own (the cost model without jitter, the trace with its values, for the
/// invariant checker); the order and a check that no two restarts overlapped.
fn demo_rolling(seed: u64) -> anyhow::Result<RollingDemo> {
    use ensemble::rolling;
    const APP: &str = "rolling-demo";
    let units = 5;
    let mut sim = Sim::with_config(seed, rolling::sim_config());
    sim.set_replay_hint(&format!("ensemble demo --seed {seed}"));
    let journal = rolling::deploy(
        &mut sim,
        APP,
        units,
        Duration::from_secs(10),
        rolling::AnswerMix::always_release(),
        true,
    );
    sim.run_until_idle(rolling::MAX_VIRTUAL)
        .context("the rolling-demo model did not settle")?;
    let t0 = sim.now();
    let leader = sim.leader(APP).unwrap_or_default();
    rolling::rolling_restart(&mut sim, APP, 1).map_err(anyhow::Error::msg)?;
    sim.run_until_idle(rolling::MAX_VIRTUAL)
        .context("the rolling restart did not finish")?;
    let report = rolling::check(&sim, &journal.borrow(), APP, &[]).map_err(anyhow::Error::msg)?;
    let mut ops = journal.borrow().ops.clone();
    ops.sort_by_key(|o| o.start);
    let gaps: Vec<f64> = ops
        .windows(2)
        .map(|w| (w[1].start.saturating_sub(w[0].end)).as_secs_f64())
        .collect();
    Ok(RollingDemo {
        units,
        restarts: ops
            .iter()
            .map(|o| RollingRestart {
                unit: o.unit.clone(),
                start_secs: (o.start - t0).as_secs_f64(),
                end_secs: (o.end - t0).as_secs_f64(),
                leader: o.unit == leader,
            })
            .collect(),
        requests: report.requests,
        served: report.served,
        min_gap_secs: gaps.iter().copied().fold(f64::INFINITY, f64::min),
        max_gap_secs: gaps.iter().copied().fold(0.0, f64::max),
    })
}

/// Every registered scenario.
fn registry() -> Vec<Scenario> {
    ensemble::registry()
}

/// The scenarios, one per paragraph: the name, then its description wrapped under it, no line
/// over 100 characters.
fn scenario_list(all: &[Scenario]) -> String {
    let mut s = String::from("Scenarios:\n");
    for sc in all {
        s.push_str(&format!("  {}\n", sc.name));
        let mut line = String::from("     ");
        for word in sc.about.split_whitespace() {
            if line.len() + 1 + word.len() > 100 && !line.trim().is_empty() {
                s.push_str(line.trim_end());
                s.push('\n');
                line = String::from("     ");
            }
            line.push(' ');
            line.push_str(word);
        }
        s.push_str(line.trim_end());
        s.push('\n');
    }
    s
}

fn check(
    name: Option<String>,
    seeds: u64,
    seed: Option<u64>,
    jobs: Option<usize>,
    list: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let all = registry();
    if list {
        print!("{}", scenario_list(&all));
        return Ok(ExitCode::SUCCESS);
    }
    let Some(name) = name else {
        return Err(Usage(format!(
            "name the scenario to check: ensemble check <scenario>\n{}",
            scenario_list(&all).trim_end()
        ))
        .into());
    };
    let Some(scenario) = all.iter().find(|s| s.name == name).copied() else {
        return Err(Usage(format!(
            "no scenario {name:?}\n{}",
            scenario_list(&all).trim_end()
        ))
        .into());
    };
    let report = run_seeds(scenario, seeds, seed, jobs, !json);
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_check(&report);
    }
    Ok(if report.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// What `ensemble check` found: the `--json` output, one object.
#[derive(Debug, serde::Serialize)]
struct CheckReport {
    scenario: &'static str,
    seeds: usize,
    passed: usize,
    failed: usize,
    hooks: u64,
    seconds: f64,
    jobs: usize,
    failures: Vec<CheckFailure>,
}

/// One failed seed.
#[derive(Debug, serde::Serialize)]
struct CheckFailure {
    seed: u64,
    message: String,
    replay: String,
}

fn print_check(r: &CheckReport) {
    println!(
        "{}: {} passed, {} failed ({} seeds, {} hooks, {:.1} s on {} threads)",
        r.scenario, r.passed, r.failed, r.seeds, r.hooks, r.seconds, r.jobs
    );
    for f in &r.failures {
        println!("\nseed {}: {}", f.seed, f.message);
        println!("  replay: {}", f.replay);
    }
}

/// Runs the seeds of one scenario in parallel (with a progress bar when `progress`); returns
/// the summary and each failure with its replay command.
fn run_seeds(
    scenario: Scenario,
    seeds: u64,
    seed: Option<u64>,
    jobs: Option<usize>,
    progress: bool,
) -> CheckReport {
    let list: Vec<u64> = match seed {
        Some(s) => vec![s],
        None => (1..=seeds).collect(),
    };
    let jobs = jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
        .max(1)
        .min(list.len().max(1));
    let pb = if progress {
        bar(
            list.len() as u64,
            "{bar:40} {pos}/{len} seeds  {msg}  [{elapsed_precise}]",
        )
    } else {
        ProgressBar::hidden()
    };
    let next = AtomicUsize::new(0);
    let failed_count = AtomicU64::new(0);
    let failures: Mutex<Vec<(u64, String)>> = Mutex::new(Vec::new());
    let hooks = AtomicU64::new(0);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&seed) = list.get(i) else { break };
                let run = std::panic::catch_unwind(|| (scenario.run)(seed));
                match run {
                    Ok(Ok(outcome)) => {
                        hooks.fetch_add(outcome.hooks, Ordering::Relaxed);
                    }
                    Ok(Err(msg)) => {
                        failed_count.fetch_add(1, Ordering::Relaxed);
                        if let Ok(mut f) = failures.lock() {
                            f.push((seed, msg));
                        }
                    }
                    Err(panic) => {
                        let msg = panic
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_else(|| "panicked".into());
                        failed_count.fetch_add(1, Ordering::Relaxed);
                        if let Ok(mut f) = failures.lock() {
                            f.push((seed, format!("panicked: {msg}")));
                        }
                    }
                }
                pb.set_message(format!("{} failed", failed_count.load(Ordering::Relaxed)));
                pb.inc(1);
            });
        }
    });
    pb.finish_and_clear();
    let mut failures = failures.into_inner().unwrap_or_default();
    failures.sort();
    let passed = list.len() - failures.len();
    CheckReport {
        scenario: scenario.name,
        seeds: list.len(),
        passed,
        failed: failures.len(),
        hooks: hooks.load(Ordering::Relaxed),
        seconds: started.elapsed().as_secs_f64(),
        jobs,
        failures: failures
            .into_iter()
            .map(|(seed, message)| CheckFailure {
                seed,
                message,
                replay: scenarios::replay_command(scenario.name, seed),
            })
            .collect(),
    }
}

fn run_case(case: &str) -> anyhow::Result<bench::BenchResult> {
    let (kind, n) = case
        .rsplit_once('-')
        .and_then(|(k, n)| Some((k, n.parse::<usize>().ok()?)))
        .with_context(|| format!("bad case {case:?}: expected peer-<N> or client-server-<N>"))?;
    let r = match kind {
        "peer" => bench::peer(n, 1),
        "client-server" => bench::client_server(n, 1),
        _ => bail!("bad case {case:?}: expected peer-<N> or client-server-<N>"),
    };
    r.map_err(anyhow::Error::msg)
}

fn bench_hooks(
    json: bool,
    hooks: usize,
    venv: Option<std::path::PathBuf>,
    seed: u64,
) -> anyhow::Result<ExitCode> {
    use ensemble::hook_bench;
    use juju_sim::process::find_binary;
    if hooks == 0 {
        bail!("--hooks must be at least 1");
    }
    if cfg!(debug_assertions) {
        eprintln!("note: this is a debug build; measure with `cargo build --release --workspace --bins && target/release/ensemble bench hooks`");
    }
    let work = tempfile::tempdir().context("creating a work directory")?;
    let opts = hook_bench::HookBenchOptions {
        hooks,
        charm_source: hook_bench::default_charm_source(),
        rust_binary: find_binary("hook-bench", "ENSEMBLE_HOOK_BENCH").map_err(anyhow::Error::msg)?,
        hook_tools: find_binary("hook-tools", "ENSEMBLE_HOOK_TOOLS").map_err(anyhow::Error::msg)?,
        venv: venv.unwrap_or_else(ensemble::charm_dirs::default_venv),
        work_dir: work.path().to_owned(),
        seed,
    };
    if !opts.charm_source.join("charmcraft.yaml").is_file() {
        bail!("run this from the workspace: no charms/hook-bench/charmcraft.yaml here");
    }
    let report = hook_bench::run(&opts).map_err(anyhow::Error::msg)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{} hooks of {} per charm, side by side:", hooks, report.hook);
        println!(
            "{:<8} {:>12} {:>10} {:>14} {:>12} {:>11}",
            "charm", "wall median", "wall p90", "RSS median", "RSS p90", "tool calls"
        );
        for (name, s) in [("rust", &report.rust), ("python", &report.python)] {
            println!(
                "{:<8} {:>9.2} ms {:>7.2} ms {:>10} KiB {:>8} KiB {:>11}",
                name, s.wall_ms_median, s.wall_ms_p90, s.rss_kib_median, s.rss_kib_p90, s.tool_calls_median
            );
        }
        println!(
            "wall_ratio {:.1}  rss_ratio {:.1}",
            report.wall_ratio, report.rss_ratio
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn bench_sim(json: bool, quick: bool, large: bool, case: Option<String>) -> anyhow::Result<ExitCode> {
    if let Some(case) = case {
        let r = run_case(&case)?;
        println!("{}", serde_json::to_string(&r)?);
        return Ok(ExitCode::SUCCESS);
    }
    if cfg!(debug_assertions) {
        eprintln!("note: this is a debug build; measure with `cargo run --release -p ensemble -- bench sim`");
    }
    let mut cases: Vec<String> = vec!["client-server-100".into(), "peer-100".into()];
    if !quick {
        cases.extend(
            [
                "client-server-1000",
                "client-server-10000",
                "peer-300",
                "peer-1000",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
    }
    if large {
        cases.push("peer-3000".into());
    }
    cases.sort_by_key(|c| {
        (
            c.starts_with("peer"),
            c.rsplit('-').next().and_then(|n| n.parse::<u64>().ok()),
        )
    });
    // Each case runs in its own process, so that its peak RSS is its own.
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let pb = bar(cases.len() as u64, "{bar:30} {pos}/{len} {msg}");
    let mut results = Vec::new();
    for case in &cases {
        pb.set_message(case.clone());
        let out = std::process::Command::new(&exe)
            .args(["bench", "sim", "--case", case])
            .output()
            .with_context(|| format!("cannot run the {case} case"))?;
        if !out.status.success() {
            bail!("{case} failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let r: bench::BenchResult = serde_json::from_slice(&out.stdout).context("bad case output")?;
        results.push(r);
        pb.inc(1);
    }
    pb.finish_and_clear();
    if json {
        println!("{}", serde_json::to_string_pretty(&results)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<15} {:>6} {:>10} {:>10} {:>9} {:>12} {:>8} {:>11} {:>11} {:>9}",
        "scenario",
        "units",
        "hooks",
        "changed",
        "wall s",
        "hooks/s",
        "µs/hook",
        "rel. vs",
        "idle vs",
        "peak MiB"
    );
    for r in &results {
        println!(
            "{:<15} {:>6} {:>10} {:>10} {:>9.2} {:>12.0} {:>8.2} {:>11.1} {:>11.1} {:>9}",
            r.scenario,
            r.units,
            r.hooks,
            r.relation_changed,
            r.wall_secs,
            r.hooks_per_sec,
            r.us_per_hook,
            r.relations_settled_virtual_secs,
            r.quiescent_virtual_secs,
            r.peak_rss_kib
                .map(|k| format!("{:.1}", k as f64 / 1024.0))
                .unwrap_or_else(|| "?".into())
        );
    }
    println!(
        "\nchanged: relation-changed hooks; rel. vs: virtual seconds until the last relation hook; \
         idle vs: virtual seconds to quiescence (update-status rounds included)"
    );
    Ok(ExitCode::SUCCESS)
}

fn bench_rolling(json: bool, units: &[usize], op_secs: u64, seed: u64) -> anyhow::Result<ExitCode> {
    if cfg!(debug_assertions) {
        eprintln!(
            "note: this is a debug build; measure with `cargo run --release -p ensemble -- bench rolling`"
        );
    }
    let mut results = Vec::new();
    for &n in units {
        if n < 2 {
            bail!("--units: a rolling restart needs at least 2 units");
        }
        let r =
            ensemble::rolling::bench(n, Duration::from_secs(op_secs), seed).map_err(anyhow::Error::msg)?;
        results.push(r);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&results)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:>5} {:>10} {:>10} {:>7} {:>8} {:>8} {:>8} {:>10} {:>21} {:>9} {:>8} {:>9} {:>7}",
        "units",
        "total vs",
        "goal vs",
        "hook s",
        "leader s",
        "op+ s",
        "critical",
        "(min-max)",
        "hand-over s (min/med/max)",
        "hooks",
        "requests",
        "hooks/h-o",
        "wall s"
    );
    for r in &results {
        println!(
            "{:>5} {:>10.1} {:>10.1} {:>7.3} {:>8.3} {:>8.3} {:>8} {:>10} {:>21} {:>9} {:>8} {:>9.1} {:>7.2}",
            r.units,
            r.total_secs,
            r.goal_secs,
            r.median_hook_secs,
            r.median_leader_hook_secs,
            r.restart_hook_overhead_secs,
            r.critical_hooks.1,
            format!("({}-{})", r.critical_hooks.0, r.critical_hooks.2),
            format!(
                "{:.3}/{:.3}/{:.3}",
                r.handover_secs.0, r.handover_secs.1, r.handover_secs.2
            ),
            r.hooks,
            r.request_hooks,
            r.hooks_per_handover,
            r.wall_secs
        );
    }
    println!(
        "\ntotal vs: virtual seconds from the config change (every unit requests a restart) to the \
         end of the last restart; goal vs: units x (restart + 2 median hooks); hook s: median \
         hook (restarts' hooks excluded); leader s: median leader relation-changed; op+ s: a \
         restart's hook beyond the restart; critical: hooks from one unit's release to the next \
         unit's restart (median, min-max); hand-over s: the same in virtual seconds; requests: \
         hooks before the first restart; hooks/h-o: hooks across all units per hand-over once the \
         requests' wave (N x N relation-changed) has passed"
    );
    Ok(ExitCode::SUCCESS)
}

/// The `[package] name` of a Cargo.toml.
fn package_key(manifest: &str, key: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package {
            if let Some(v) = line
                .strip_prefix(key)
                .map(str::trim)
                .and_then(|r| r.strip_prefix('='))
            {
                return Some(v.trim().trim_matches('"').to_owned());
            }
        }
    }
    None
}

/// The charm's version for the archive's `version` file (Juju shows it as the charm's
/// version): the crate's version, with the git commit of the charm's directory when it is in a
/// git checkout (`0.1.0+g1a2b3c4`, `.dirty` when it has uncommitted changes).
fn charm_version(dir: &std::path::Path) -> Option<String> {
    let cargo = std::fs::read_to_string(dir.join("Cargo.toml")).ok();
    let crate_version = cargo.as_deref().and_then(|m| package_key(m, "version"));
    let git = std::process::Command::new("git")
        .args([
            "describe",
            "--always",
            "--dirty=.dirty",
            "--abbrev=10",
            "--match=NONE",
        ])
        .current_dir(dir)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    match (crate_version, git) {
        (Some(v), Some(g)) => Some(format!("{v}+g{g}")),
        (Some(v), None) => Some(v),
        (None, Some(g)) => Some(format!("g{g}")),
        (None, None) => None,
    }
}

fn pack(
    dir: &std::path::Path,
    binary: Option<std::path::PathBuf>,
    arch: Option<String>,
    platform: Option<String>,
    out_dir: &std::path::Path,
) -> anyhow::Result<ExitCode> {
    use ensemble::pack::{prepare_output_dir, Project};
    // Everything that can be checked is checked before the (slow) build.
    if binary.is_none() && arch.is_some() {
        return Err(Usage("--arch is for a binary built elsewhere: pass --binary too".into()).into());
    }
    let cc = dir.join("charmcraft.yaml");
    let text = std::fs::read_to_string(&cc)
        .map_err(|e| anyhow::anyhow!("{}: {e} (a charm directory has a charmcraft.yaml)", cc.display()))?;
    let project = Project::parse(&text)?;
    let arch = match (&arch, &platform) {
        (Some(a), _) => a.clone(),
        (None, Some(p)) if binary.is_some() => project
            .targets
            .iter()
            .find(|t| &t.platform == p)
            .map(|t| t.arch.clone())
            .unwrap_or_else(|| ensemble::pack::host_arch().to_owned()),
        _ => ensemble::pack::host_arch().to_owned(),
    };
    let targets = project.select(platform.as_deref(), &arch)?;
    prepare_output_dir(out_dir)?;
    let version = charm_version(dir);
    let binary = match binary {
        Some(b) => b,
        None => build_binary(dir)?,
    };
    let written = ensemble::pack::pack(&project, &targets, &binary, version.as_deref(), out_dir)?;
    for (t, path) in targets.iter().zip(&written) {
        println!(
            "Packed {} for {} into {}",
            project.name,
            t.platform,
            path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Builds the charm's binary for this machine, statically linked; returns its path.
fn build_binary(dir: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    let manifest_path = dir.join("Cargo.toml");
    let manifest = std::fs::read_to_string(&manifest_path)
        .map_err(|e| anyhow::anyhow!("{}: {e} (or pass --binary)", manifest_path.display()))?;
    let name = package_key(&manifest, "name").context("Cargo.toml has no [package] name")?;
    let triple = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    println!("Building {name} for {triple}, statically linked...");
    let status = std::process::Command::new("cargo")
        .args([
            "build",
            "--release",
            "--locked",
            "-p",
            &name,
            "--target",
            &triple,
            "--manifest-path",
        ])
        .arg(&manifest_path)
        .env("RUSTFLAGS", "-C target-feature=+crt-static -C strip=debuginfo")
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("cargo build failed: {status}");
    }
    let meta = std::process::Command::new("cargo")
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--manifest-path",
        ])
        .arg(&manifest_path)
        .output()
        .context("cannot run cargo metadata")?;
    let meta: serde_json::Value =
        serde_json::from_slice(&meta.stdout).context("cargo metadata printed no JSON")?;
    let target = meta["target_directory"]
        .as_str()
        .context("cargo metadata has no target_directory")?;
    Ok(std::path::PathBuf::from(format!(
        "{target}/{triple}/release/{name}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn odd_seeds_fail(seed: u64) -> Result<scenarios::Outcome, String> {
        if seed % 2 == 1 {
            return Err(format!("seed {seed} is odd"));
        }
        Ok(scenarios::Outcome {
            hooks: 1,
            virtual_secs: 0.0,
            faults: 0,
        })
    }

    fn panics(_: u64) -> Result<scenarios::Outcome, String> {
        panic!("scenario bug")
    }

    #[test]
    fn check_counts_failures_and_panics() {
        let s = Scenario {
            name: "odd",
            about: "",
            run: odd_seeds_fail,
        };
        assert_eq!(run_seeds(s, 6, None, Some(2), false).failed, 3);
        assert_eq!(run_seeds(s, 6, Some(4), None, false).failed, 0);
        assert_eq!(run_seeds(s, 6, Some(3), None, false).failed, 1);
        let p = Scenario {
            name: "panics",
            about: "",
            run: panics,
        };
        assert_eq!(run_seeds(p, 2, None, Some(1), false).failed, 2);
        // The --json summary names each failure with its replay command.
        let r = run_seeds(s, 4, None, Some(2), false);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["failed"], 2);
        assert_eq!(v["failures"][0]["seed"], 1);
        assert_eq!(v["failures"][0]["message"], "seed 1 is odd");
        assert!(v["failures"][1]["replay"].as_str().unwrap().contains("--seed 3"));
    }

    #[test]
    fn the_registry_has_the_simulator_scenarios() {
        let names: Vec<&str> = registry().iter().map(|s| s.name).collect();
        assert!(names.contains(&"peer") && names.contains(&"client-server"));
    }

    #[test]
    fn bench_cases_parse() {
        assert!(run_case("peer-x").is_err());
        assert!(run_case("nope-10").is_err());
        let r = run_case("peer-12").unwrap();
        assert_eq!(r.units, 12);
        assert!(r.hooks > 12 * 11);
    }
}
