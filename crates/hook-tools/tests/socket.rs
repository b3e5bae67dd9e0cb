//! The client binary and the agent together, over a real Unix socket: the tools run through
//! symlinks named after them, exactly as a charm's hook runs them.

mod common;

use common::*;
use hook_tools::HookContextInfo;
use std::io::Write;
use std::process::{Output, Stdio};

fn hook() -> HookContextInfo {
    HookContextInfo::new(unit("app/0"))
        .with_relation("db", charm::RelationId(3))
        .with_remote_unit(unit("pg/0"))
}

fn run(agent: &Agent, tool: &str, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = agent.command(tool);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn tool");
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input).expect("write stdin");
    }
    child.wait_with_output().expect("wait")
}

fn text(b: &[u8]) -> &str {
    std::str::from_utf8(b).expect("utf-8")
}

#[track_caller]
fn ok(out: &Output) -> &str {
    assert!(
        out.status.success(),
        "exit {:?}, stderr {}",
        out.status.code(),
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[test]
fn relation_set_json_on_stdin_then_relation_get_reads_it_back() {
    let agent = Agent::start(state(true), hook());
    let out = run(
        &agent,
        "relation-set",
        &["-r", "db:3", "--file", "-"],
        Some(br#"{"user": "app", "ingress-address": "", "note": "caf\u00e9 \"q\""}"#),
    );
    assert_eq!(ok(&out), "");
    let out = run(
        &agent,
        "relation-get",
        &["--format=json", "-r", "db:3", "-", "app/0"],
        None,
    );
    let bag: std::collections::BTreeMap<String, String> = serde_json::from_str(ok(&out)).unwrap();
    assert_eq!(bag, bag_of(&[("user", "app"), ("note", "café \"q\"")]));
    // One key, in the default (smart) format, with the hook's remote unit as the default.
    let out = run(&agent, "relation-get", &["host"], None);
    assert_eq!(ok(&out), "10.0.0.9\n");
    let served = agent.finish();
    let rel = served.state.relation(3).unwrap();
    assert_eq!(
        rel.local_unit_data,
        bag_of(&[("user", "app"), ("note", "café \"q\"")])
    );
    assert_eq!(
        served.requests[0].stdin.as_deref(),
        Some(&br#"{"user": "app", "ingress-address": "", "note": "caf\u00e9 \"q\""}"#[..])
    );
}

fn bag_of(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    bag(pairs)
}

#[test]
fn relation_set_yaml_on_stdin_and_from_a_file_as_charmhelpers_writes_it() {
    let agent = Agent::start(state(true), hook());
    // What `yaml.safe_dump` writes for charmhelpers' relation_set, values forced to str; a
    // None value (null) deletes.
    let out = run(
        &agent,
        "relation-set",
        &["-r", "3", "--app", "--file", "-"],
        Some(b"port: '5432'\nschema: null\nurl: http://x/?a=1&b=2\n"),
    );
    ok(&out);
    let path = agent.dir.path().join("settings.yaml");
    std::fs::write(&path, "multi: |\n  line one\n  line two\nflag: 'true'\n").unwrap();
    // Relative to the tool's working directory, and arguments override the file.
    ok(&run(
        &agent,
        "relation-set",
        &["-r", "3", "--file", "settings.yaml", "flag=false"],
        None,
    ));
    let served = agent.finish();
    let rel = served.state.relation(3).unwrap();
    assert_eq!(
        rel.local_app_data,
        bag_of(&[("port", "5432"), ("url", "http://x/?a=1&b=2")])
    );
    assert_eq!(rel.local_unit_data["multi"], "line one\nline two\n");
    assert_eq!(rel.local_unit_data["flag"], "false");
    assert_eq!(rel.local_unit_data["ingress-address"], "10.0.0.1");
}

#[test]
fn malformed_stdin_is_refused_and_nothing_is_applied() {
    let before = state(true);
    let agent = Agent::start(before.clone(), hook());
    for (input, what) in [
        (&b"{\"a\": \"b\""[..], "truncated JSON"),
        (b"a: [1, 2]\n", "a list value"),
        (b"- a\n- b\n", "a YAML list"),
        (b"\xff\xfe\x00", "not UTF-8"),
    ] {
        let out = run(
            &agent,
            "relation-set",
            &["-r", "3", "--file", "-", "x=y"],
            Some(input),
        );
        assert_eq!(out.status.code(), Some(1), "{what}");
        assert!(
            text(&out.stderr).starts_with("ERROR "),
            "{what}: {}",
            text(&out.stderr)
        );
    }
    let served = agent.finish();
    assert_eq!(served.state.relations, before.relations);
    assert!(served.calls.is_empty(), "{:?}", served.calls);
    // The agent received the bytes exactly.
    assert_eq!(served.requests[3].stdin.as_deref(), Some(&b"\xff\xfe\x00"[..]));
}

#[test]
fn a_bag_over_16_mib_is_refused_and_nothing_is_applied() {
    let before = state(true);
    let agent = Agent::start(before.clone(), hook());
    let big = format!("{{\"blob\": \"{}\"}}", "x".repeat(hook_tools::MAX_BAG_BYTES));
    let out = run(
        &agent,
        "relation-set",
        &["-r", "db:3", "--file", "-"],
        Some(big.as_bytes()),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("max allowed total size (16777216)"),
        "{}",
        text(&out.stderr)
    );
    // Just under the limit, alone, fits; with what the bag holds already, it does not.
    let near = format!("{{\"blob\": \"{}\"}}", "x".repeat(hook_tools::MAX_BAG_BYTES - 4));
    let out = run(
        &agent,
        "relation-set",
        &["-r", "db:3", "--file", "-"],
        Some(near.as_bytes()),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let served = agent.finish();
    assert_eq!(served.state.relations, before.relations);
}

#[test]
fn secret_add_reads_content_files_and_secret_get_returns_it() {
    let agent = Agent::start(state(true), hook());
    std::fs::write(agent.dir.path().join("cert.pem"), "-----BEGIN-----\nabc\n").unwrap();
    let out = run(
        &agent,
        "secret-add",
        &[
            "--label",
            "tls",
            "--owner",
            "unit",
            "cert#file=cert.pem",
            "user=admin",
        ],
        None,
    );
    let id = ok(&out).trim().to_owned();
    assert!(id.starts_with("secret:"), "{id}");
    let out = run(&agent, "secret-get", &["--format=json", &id], None);
    let content: std::collections::BTreeMap<String, String> = serde_json::from_str(ok(&out)).unwrap();
    assert_eq!(
        content,
        bag_of(&[("cert", "-----BEGIN-----\nabc\n"), ("user", "admin")])
    );
    let out = run(&agent, "secret-get", &[&id, "user"], None);
    assert_eq!(ok(&out), "admin\n");
    let out = run(&agent, "secret-get", &["--label", "tls", "--format=json"], None);
    assert!(ok(&out).contains("\"user\":\"admin\""));
    let out = run(&agent, "secret-get", &["--label", "tls", "user"], None);
    assert_eq!(out.status.code(), Some(2), "\"user\" is no secret URI");
    // A content file that does not exist: nothing is created.
    let out = run(&agent, "secret-add", &["key#file=missing.pem"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("missing.pem"), "{}", text(&out.stderr));
    let served = agent.finish();
    assert_eq!(served.state.secrets.len(), 2);
}

#[test]
fn the_multi_call_form_and_help() {
    let agent = Agent::start(state(false), hook());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hook-tools"))
        .args(["is-leader", "--format=json"])
        .env("JUJU_AGENT_SOCKET_ADDRESS", &agent.socket)
        .env("JUJU_CONTEXT_ID", CONTEXT)
        .output()
        .unwrap();
    assert_eq!(ok(&out), "false\n");
    // charmhelpers checks `relation-set --help` for `--file` before using it.
    let out = run(&agent, "relation-set", &["--help"], None);
    assert!(ok(&out).contains("--file"));
    let out = run(&agent, "relation-get", &["--bogus"], None);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "ERROR option provided but not defined: --bogus\n"
    );
    agent.finish();
}

#[test]
fn juju_exec_without_a_context_reaches_the_agent() {
    let agent = Agent::start(state(true), hook());
    let out = agent
        .command("juju-exec")
        .env_remove("JUJU_CONTEXT_ID")
        .args(["-u", "app/0", "JUJU_DISPATCH_PATH=hooks/retry-join ./dispatch"])
        .output()
        .unwrap();
    ok(&out);
    let served = agent.finish();
    assert_eq!(served.requests[0].context_id, None);
    assert_eq!(served.execs.len(), 1);
    assert_eq!(served.execs[0].unit, unit("app/0"));
    assert_eq!(served.execs[0].dispatch_path, "hooks/retry-join");
}

#[test]
fn no_agent_is_a_clear_error_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("nobody.socket");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hook-tools"))
        .args(["is-leader"])
        .env("JUJU_AGENT_SOCKET_ADDRESS", &socket)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("ERROR cannot reach the unit agent at ") && err.contains("nobody.socket"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn an_abstract_socket_address_works() {
    use std::os::linux::net::SocketAddrExt;
    let name = format!("ensemble-hook-tools-test-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let listener = std::os::unix::net::UnixListener::bind_addr(&addr).unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        hook_tools::handle_connection(&mut s, |req| {
            hook_tools::Response::ok(format!("{} {}\n", req.tool, req.args.join(" ")))
        })
        .unwrap();
    });
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hook-tools"))
        .args(["goal-state", "--format=json"])
        .env("JUJU_AGENT_SOCKET_ADDRESS", format!("@{name}"))
        .env("JUJU_AGENT_SOCKET_NETWORK", "unix")
        .output()
        .unwrap();
    server.join().unwrap();
    assert_eq!(ok(&out), "goal-state --format=json\n");
}
