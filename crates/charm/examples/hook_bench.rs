//! Benchmark: the cost of one hook of a trivial Rust charm under real hook-tool processes.
//!
//! Runs the `hello` example charm's `peers-relation-changed` hook many times, as Juju would: a
//! new process per hook with Juju's environment, talking to hook tools that are separate
//! processes on `PATH` (this binary, installed under the tools' names, answers as each tool).
//! The hook does one relation-get, one relation-set and one status-set.
//!
//! ```sh
//! cargo build --release --examples -p charm
//! target/release/examples/hook_bench --hooks 2000
//! # several builds side by side, interleaved hook by hook:
//! target/release/examples/hook_bench --hooks 2000 --charm target/release/examples/hello \
//!     --charm target/x86_64-unknown-linux-gnu/release/examples/hello
//! ```
//!
//! Prints JSON, median and p90: per-hook wall time (spawn to exit, tool processes included); the
//! charm process's own CPU time from the start of `main` to the end of the hook
//! (`charm_cpu_in_main_ms`) and with the kernel's exec and the dynamic loader
//! (`charm_cpu_with_exec_ms`), tool processes excluded in both; and one tool process alone.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TOOLS: &[&str] = &[
    "relation-get",
    "relation-set",
    "relation-ids",
    "relation-list",
    "status-set",
    "juju-log",
    "is-leader",
    "config-get",
];

fn act_as_tool(name: &str) -> std::process::ExitCode {
    let out = match name {
        "relation-get" => r#"{"ingress-address":"10.0.0.2","private-address":"10.0.0.2"}"#,
        "relation-ids" => r#"["peers:1"]"#,
        "relation-list" => r#"["hello/1"]"#,
        "is-leader" => "false",
        "config-get" => "{}",
        _ => "",
    };
    if name == "relation-set" {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
    }
    println!("{out}");
    std::process::ExitCode::SUCCESS
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx]
}

fn summary(mut v: Vec<f64>) -> serde_json::Value {
    v.sort_by(|a, b| a.total_cmp(b));
    serde_json::json!({
        "median": (percentile(&v, 0.5) * 1000.0).round() / 1000.0,
        "p90": (percentile(&v, 0.9) * 1000.0).round() / 1000.0,
    })
}

fn main() -> std::process::ExitCode {
    let argv0 = std::env::args().next().unwrap_or_default();
    let me = Path::new(&argv0)
        .file_name()
        .and_then(|s| s.to_str())
        .unwrap_or("");
    if TOOLS.contains(&me) {
        return act_as_tool(me);
    }
    match bench() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hook_bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn bench() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let mut hooks = 1000usize;
    let mut charms: Vec<PathBuf> = Vec::new();
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "--hooks" => {
                hooks = args
                    .get(i + 1)
                    .and_then(|s| s.parse().ok())
                    .ok_or("--hooks needs a number")?;
                i += 1;
            }
            "--charm" => {
                let p = PathBuf::from(args.get(i + 1).ok_or("--charm needs a path")?);
                charms.push(std::fs::canonicalize(&p).map_err(|e| format!("{}: {e}", p.display()))?);
                i += 1;
            }
            other => {
                return Err(format!(
                    "unknown argument {other:?} (use --hooks N, --charm PATH)"
                ))
            }
        }
        i += 1;
    }
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    if charms.is_empty() {
        let hello = me.with_file_name("hello");
        if !hello.exists() {
            return Err(format!(
                "{} not found: build it with `cargo build --release --examples -p charm`",
                hello.display()
            ));
        }
        charms.push(hello);
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let tools = dir.path().join("tools");
    let charm_dir = dir.path().join("charm");
    std::fs::create_dir_all(&tools).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&charm_dir).map_err(|e| e.to_string())?;
    for t in TOOLS {
        std::os::unix::fs::symlink(&me, tools.join(t)).map_err(|e| e.to_string())?;
    }
    std::fs::write(
        charm_dir.join("metadata.yaml"),
        "name: hello\npeers:\n  peers:\n    interface: hello-peers\n",
    )
    .map_err(|e| e.to_string())?;
    let path = format!(
        "{}:{}",
        tools.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let stats: Vec<PathBuf> = (0..charms.len())
        .map(|i| dir.path().join(format!("stats-{i}.jsonl")))
        .collect();

    let run_hook = |charm: &Path, stats: &Path| -> Result<Duration, String> {
        let start = Instant::now();
        let status = Command::new(charm)
            .env_clear()
            .env("PATH", &path)
            .env("JUJU_DISPATCH_PATH", "hooks/peers-relation-changed")
            .env("JUJU_UNIT_NAME", "hello/0")
            .env("JUJU_MODEL_NAME", "bench")
            .env("JUJU_VERSION", "3.6.4")
            .env("JUJU_CHARM_DIR", &charm_dir)
            .env("JUJU_RELATION", "peers")
            .env("JUJU_RELATION_ID", "peers:1")
            .env("JUJU_REMOTE_UNIT", "hello/1")
            .env("JUJU_REMOTE_APP", "hello")
            .env("ENSEMBLE_HOOK_STATS", stats)
            .current_dir(&charm_dir)
            .stdin(Stdio::null())
            .status()
            .map_err(|e| format!("{}: {e}", charm.display()))?;
        let took = start.elapsed();
        if !status.success() {
            return Err(format!("the hook failed: {status}"));
        }
        Ok(took)
    };
    // Warm up the page cache, then measure, the charms interleaved so they share the machine's
    // conditions.
    for (c, st) in charms.iter().zip(&stats) {
        for _ in 0..20 {
            run_hook(c, st)?;
        }
        std::fs::remove_file(st).map_err(|e| e.to_string())?;
    }
    let mut wall: Vec<Vec<f64>> = vec![Vec::with_capacity(hooks); charms.len()];
    for _ in 0..hooks {
        for (i, (c, st)) in charms.iter().zip(&stats).enumerate() {
            wall[i].push(run_hook(c, st)?.as_secs_f64() * 1000.0);
        }
    }
    let mut results = Vec::new();
    for ((c, st), wall) in charms.iter().zip(&stats).zip(wall) {
        let text = std::fs::read_to_string(st).map_err(|e| e.to_string())?;
        let mut cpu = Vec::new();
        let mut cpu_total = Vec::new();
        let mut tool_calls = Vec::new();
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
            cpu.push(v["cpu_main_ns"].as_f64().unwrap_or(f64::NAN) / 1e6);
            cpu_total.push(v["cpu_total_ns"].as_f64().unwrap_or(f64::NAN) / 1e6);
            tool_calls.push(v["tool_calls"].as_u64().unwrap_or(0));
        }
        if cpu.len() != hooks {
            return Err(format!("expected {hooks} stats lines, found {}", cpu.len()));
        }
        tool_calls.sort_unstable();
        tool_calls.dedup();
        results.push(serde_json::json!({
            "charm": c.display().to_string(),
            "tool_calls_per_hook": tool_calls,
            "hook_wall_ms": summary(wall),
            "charm_cpu_in_main_ms": summary(cpu),
            "charm_cpu_with_exec_ms": summary(cpu_total),
        }));
    }
    // One tool process alone, for scale.
    let mut tool_alone = Vec::new();
    for _ in 0..200 {
        let start = Instant::now();
        Command::new(tools.join("status-set"))
            .stdout(Stdio::null())
            .status()
            .map_err(|e| e.to_string())?;
        tool_alone.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    let report = serde_json::json!({
        "hooks_per_charm": hooks,
        "charms": results,
        "one_tool_process_wall_ms": summary(tool_alone),
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
    });
    println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    Ok(())
}
