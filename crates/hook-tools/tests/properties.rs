//! Property tests of the agent side of the hook tools: [`parse`] and [`execute`] (and
//! [`run_tool`] from a wire request) over arbitrary argv, standard input, files, flags, keys,
//! values and YAML/JSON inputs, against an in-memory unit with something in every corner.
//! Whatever the call: no panic, and a refusal reads as Juju's does (a non-zero exit code, 1 or
//! 2, and `ERROR <message>` on standard error).
//!
//! The number of cases is proptest's default (256), or `PROPTEST_CASES`; the long mode is
//! `PROPTEST_CASES=1000000 cargo test --release -p hook-tools --test properties`.

mod common;

use charm::testing::Memory;
use charm::RelationId;
use common::*;
use hook_tools::{execute, parse, run_tool, HookContextInfo, Request, Response, WireRequest, TOOLS};
use proptest::prelude::*;
use std::collections::BTreeMap;

/// Argument words: flags every tool knows or some tool knows, their values, keys and values in
/// every form the tools take, and garbage.
fn word() -> impl Strategy<Value = String> {
    let known = prop::sample::select(vec![
        "-",
        "--",
        "-r",
        "--relation",
        "--relation=db:3",
        "-r=3",
        "db:3",
        "3",
        "1",
        "99",
        "db:x",
        "--app",
        "--app=true",
        "--application",
        "--application=True",
        "--application=False",
        "--format",
        "--format=json",
        "--format=yaml",
        "--format=smart",
        "--format=xml",
        "json",
        "yaml",
        "--file",
        "--file=-",
        "-",
        "/tmp/in.yaml",
        "--unit",
        "app/1",
        "pg/0",
        "pg/9",
        "app",
        "pg",
        "--label",
        "db-creds",
        "--description",
        "--expire",
        "2030-01-01T00:00:00Z",
        "--rotate",
        "daily",
        "weekly",
        "--owner",
        "unit",
        "application",
        "--refresh",
        "--peek",
        "--revision",
        "0",
        "-1",
        "18446744073709551616",
        "--include-data",
        "--all",
        "-a",
        "--debug",
        "--log-level",
        "-l",
        "DEBUG",
        "CRITICAL",
        "--help",
        "-h",
        "--endpoints",
        "website,db",
        "--now",
        "--include",
        "active",
        "blocked",
        "maintenance",
        "waiting",
        "error",
        "unknown",
        "message",
        "key=value",
        "key=",
        "=value",
        "a.b=c",
        "k-1=v",
        "password#base64=aHVudGVyMg==",
        "password#base64=aHVudGVyMg",
        "k#file=/tmp/secret",
        "k#file=/nonexistent",
        "Key=bad",
        "secret:cq0a1b2c3d4e5f6g7h8i",
        "secret:nope",
        "80/tcp",
        "8000-8999/udp",
        "icmp",
        "0/tcp",
        "99999/tcp",
        "80-70/tcp",
        "k1",
        "mode",
        "leader-ip",
        "host",
        "ingress-address",
        "-u",
        "app/0",
        "hooks/tick",
        "./dispatch",
        "JUJU_DISPATCH_PATH=hooks/tick",
        "--timeout",
        "5s",
        "restart",
        "delay",
        "--wait",
    ])
    .prop_map(str::to_owned);
    prop_oneof![
        6 => known,
        1 => "[a-z0-9=#/:.\\-]{0,16}",
        1 => any::<String>(),
    ]
}

/// Text for `--file -`, files and values: YAML and JSON maps, near misses, and garbage.
fn input_text() -> impl Strategy<Value = Vec<u8>> {
    let doc = prop::sample::select(vec![
        "a: b\n",
        "port: 5432\nhost: 10.0.0.1\n",
        "{\"a\": \"b\", \"n\": 1}",
        "{\"a\": ",
        "a: [1, 2]\n",
        "a: {b: c}\n",
        "- a\n- b\n",
        "null\n",
        "~\n",
        "\"just a string\"\n",
        "a: &x 1\nb: *x\n",
        "&a [*a]\n",
        "? [k]\n: v\n",
        "a: 1\na: 2\n",
        "\"\": empty key\n",
        "a: \"\"\n",
        "big: 18446744073709551616\n",
        "f: 1e400\n",
        "!!binary aGVsbG8=\n",
        "\u{feff}a: b\n",
        "a:\tb\n",
        "\0\0\0",
        "aHVudGVyMg==",
    ])
    .prop_map(|s| s.as_bytes().to_vec());
    prop_oneof![
        3 => doc,
        1 => prop::collection::vec(
            prop::sample::select(vec!["a", ":", " ", "\n", "-", "[", "]", "{", "}", "\"", "'", "1", "&", "*", "#", "|", ">"]),
            0..40,
        )
        .prop_map(|v| v.concat().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ]
}

/// What the agent knows of the hook: plain, a relation hook (with or without a remote unit),
/// an action.
fn hook_info() -> impl Strategy<Value = HookContextInfo> {
    (0..5u8).prop_map(|k| {
        let base = HookContextInfo::new(unit("app/0"));
        match k {
            0 => base,
            1 => base
                .with_relation("db", RelationId(3))
                .with_remote_unit(unit("pg/0")),
            2 => base.with_relation("db", RelationId(3)),
            3 => base
                .with_relation("cluster", RelationId(1))
                .with_remote_unit(unit("app/1")),
            _ => base.with_action("restart"),
        }
    })
}

fn tool() -> impl Strategy<Value = String> {
    prop_oneof![
        9 => prop::sample::select(TOOLS).prop_map(str::to_owned),
        1 => prop_oneof![Just("juju-run".to_owned()), Just(String::new()), "[a-z\\-]{0,12}"],
    ]
}

fn files() -> impl Strategy<Value = BTreeMap<String, Vec<u8>>> {
    prop::collection::btree_map(
        prop::sample::select(vec!["/tmp/in.yaml", "/tmp/secret", "-", "relative.yaml"])
            .prop_map(str::to_owned),
        input_text(),
        0..3,
    )
}

/// A refusal as Juju's tools give it.
fn check_refusal(r: &Response) -> Result<(), TestCaseError> {
    prop_assert!(r.code == 1 || r.code == 2, "exit code {}", r.code);
    // Juju prints some warnings (the deprecated `--format` of relation-set and juju-log)
    // without a newline, so the error may share their line.
    let last = r.stderr.lines().last().unwrap_or_default();
    prop_assert!(r.stderr.ends_with('\n'), "stderr {:?}", r.stderr);
    prop_assert!(
        last.starts_with("ERROR ") || (last.contains("deprecated for command") && last.contains("\"ERROR ")),
        "stderr {:?}",
        r.stderr
    );
    prop_assert!(
        r.stdout.is_empty(),
        "a refusal prints nothing on stdout: {:?}",
        r.stdout
    );
    Ok(())
}

fn check_response(r: &Response) -> Result<(), TestCaseError> {
    if r.code == 0 {
        prop_assert!(!r.stderr.contains("ERROR"), "stderr {:?}", r.stderr);
    } else {
        check_refusal(r)?;
    }
    Ok(())
}

proptest! {
    #[test]
    fn parse_and_execute_never_panic_and_refuse_as_juju_does(
        tool in tool(),
        args in prop::collection::vec(word(), 0..7),
        stdin in prop::option::of(input_text()),
        files in files(),
        hook in hook_info(),
        leader in any::<bool>(),
    ) {
        match parse(&tool, &args, stdin.as_deref(), &files) {
            Err(e) => {
                prop_assert!(e.exit_code() == 1 || e.exit_code() == 2);
                check_refusal(&e.to_response())?;
            }
            Ok(request) => {
                let is_exec = matches!(request, Request::Exec(_));
                let meta = meta();
                let mut backend = Memory::new(state(leader), &meta, hook.unit.clone(), None);
                let r = execute(&mut backend, &hook, request);
                check_response(&r)?;
                prop_assert_eq!(r.exec.is_some(), is_exec && r.code == 0);
            }
        }
    }

    #[test]
    fn wire_requests_never_panic(
        text in prop_oneof![
            3 => (tool(), prop::collection::vec(word(), 0..5), prop::option::of("[A-Za-z0-9+/=]{0,12}"))
                .prop_map(|(t, a, s)| serde_json::json!({"tool": t, "args": a, "stdin": s}).to_string()),
            1 => any::<String>(),
            1 => "[{}\\[\\]\":, a-z0-9=]{0,60}",
        ],
        hook in hook_info(),
    ) {
        if let Ok(request) = serde_json::from_str::<WireRequest>(&text) {
            let meta = meta();
            let mut backend = Memory::new(state(true), &meta, hook.unit.clone(), None);
            let r = run_tool(&request, &mut backend, &hook);
            check_response(&r)?;
        }
    }

    #[test]
    fn relation_set_takes_any_yaml_or_json_and_never_panics(
        input in input_text(),
        app in any::<bool>(),
        file in prop_oneof![Just("-"), Just("/tmp/in.yaml")],
        leader in any::<bool>(),
    ) {
        let mut args = vec!["-r".to_owned(), "db:3".to_owned(), "--file".to_owned(), file.to_owned()];
        if app {
            args.push("--app".to_owned());
        }
        let files = BTreeMap::from([("/tmp/in.yaml".to_owned(), input.clone())]);
        let stdin = (file == "-").then_some(input.as_slice());
        match parse("relation-set", &args, stdin, &files) {
            Err(e) => check_refusal(&e.to_response())?,
            Ok(request) => {
                let meta = meta();
                let hook = HookContextInfo::new(unit("app/0"));
                let mut backend = Memory::new(state(leader), &meta, hook.unit.clone(), None);
                check_response(&execute(&mut backend, &hook, request))?;
            }
        }
    }
}
