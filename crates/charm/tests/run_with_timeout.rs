//! `run_with_timeout`: the timeout holds whatever the command leaves behind, the whole process
//! group dies with it, and output is bounded. Time bounds here are deliberately loose (shared,
//! noisy machines): they tell "returned near the timeout" from "waited for a 1000 s sleep".

use charm::{run_with_timeout, BackendError, WorkloadCommand, MAX_COMMAND_OUTPUT};
use std::time::{Duration, Instant};

fn sh(script: &str, timeout_secs: u64) -> WorkloadCommand {
    WorkloadCommand::new("sh", ["-c", script]).timeout_secs(timeout_secs)
}

/// Whether process `pid` is gone (or a zombie waiting for its new parent to reap it).
fn dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

fn eventually_dead(pid: u32) -> bool {
    let until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < until {
        if dead(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn first_pid(stdout: &str) -> u32 {
    stdout
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no pid in {stdout:?}"))
}

#[test]
fn a_grandchild_holding_the_output_does_not_outlive_the_timeout() {
    // The command exits at once; the `sleep` it started keeps its standard output open.
    let t = Instant::now();
    let out = run_with_timeout(&sh("sleep 1000 & echo $!", 2)).expect("runs");
    let took = t.elapsed();
    assert!(took < Duration::from_secs(60), "took {took:?}");
    assert_eq!(out.code, Some(0), "the command's own status: {out:?}");
    let pid = first_pid(&out.stdout);
    assert!(eventually_dead(pid), "the grandchild {pid} survived");
}

#[test]
fn without_a_timeout_a_grandchild_holding_the_output_is_bounded_too() {
    let t = Instant::now();
    let cmd = WorkloadCommand::new("sh", ["-c", "sleep 1000 & echo $!"]);
    let out = run_with_timeout(&cmd).expect("runs");
    assert!(t.elapsed() < Duration::from_secs(120), "took {:?}", t.elapsed());
    let pid = first_pid(&out.stdout);
    assert!(eventually_dead(pid), "the grandchild {pid} survived");
}

#[test]
fn on_timeout_the_whole_group_is_killed() {
    // The command waits for its child: both must die at the timeout.
    let t = Instant::now();
    let out = run_with_timeout(&sh("sleep 1000 & echo $!; echo $$; wait", 1)).expect("runs");
    assert!(t.elapsed() < Duration::from_secs(60), "took {:?}", t.elapsed());
    assert_eq!(out.code, None, "killed by the timeout");
    let mut pids = out
        .stdout
        .lines()
        .map(|l| l.trim().parse::<u32>().expect("a pid"));
    let (grandchild, command) = (pids.next().expect("pid"), pids.next().expect("pid"));
    assert!(
        eventually_dead(grandchild),
        "the grandchild {grandchild} survived"
    );
    assert!(eventually_dead(command), "the command {command} survived");
}

#[test]
fn a_flood_of_output_is_an_error_not_unbounded_memory() {
    let t = Instant::now();
    // Writes for ever (well past the bound); the timeout is long, so only the bound stops it.
    let r = run_with_timeout(&sh(
        "while :; do echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; done",
        600,
    ));
    assert!(t.elapsed() < Duration::from_secs(300), "took {:?}", t.elapsed());
    match r {
        Err(BackendError::Workload { reason, .. }) => {
            assert!(reason.contains("standard output"), "{reason}");
            assert!(reason.contains(&MAX_COMMAND_OUTPUT.to_string()), "{reason}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
    let r = run_with_timeout(&sh("head -c 20000000 /dev/zero >&2", 600));
    assert!(
        matches!(&r, Err(BackendError::Workload { reason, .. }) if reason.contains("standard error")),
        "{r:?}"
    );
}

#[test]
fn output_up_to_the_bound_is_returned_whole() {
    let n = MAX_COMMAND_OUTPUT;
    let out = run_with_timeout(&sh(
        &format!("head -c {n} /dev/zero | tr '\\0' x; echo oops >&2; exit 3"),
        600,
    ))
    .expect("runs");
    assert_eq!(out.code, Some(3));
    assert_eq!(out.stdout.len(), n);
    assert_eq!(out.stderr, "oops\n");
}

#[test]
fn a_missing_program_is_an_error() {
    let r = run_with_timeout(&WorkloadCommand::new("/nonexistent/ensemble-test", ["x"]).secret_arg("s3cret"));
    match r {
        Err(e @ BackendError::Workload { .. }) => assert!(!e.to_string().contains("s3cret"), "{e}"),
        other => panic!("{other:?}"),
    }
}
