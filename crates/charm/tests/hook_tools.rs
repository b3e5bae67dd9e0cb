//! HookTools conformance: every `Backend` call runs the hook tool with exactly the argv, stdin
//! and output format Python `ops` (and charmhelpers, for leader settings) use, and every bad
//! answer from a tool is a typed error.
//!
//! The tools are fake shell scripts (see `common/mod.rs`) that record each call and reply with
//! canned output; the expected forms below are copied from the ops reference table.

mod common;

use charm::{
    AppName, Backend, BackendError, BagOwner, BagScope, Charm, ConfigValue, Context, Event, GoalState,
    GoalStatus, HandlerError, HandlerResult, HookError, HookSetup, HookTools, LogLevel, Metadata, Observers,
    RelationId, RevokeTarget, SecretContent, SecretInfo, SecretOptions, SecretOwner, SecretRead, SecretRef,
    Status, StatusTarget, StoredDocument, StoredStateLocation, UnitName, MAX_CONTROLLER_STATE_VALUE,
    MAX_LOG_CHARS, STATE_FILE,
};
use common::FakeTools;
use serde_json::json;
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

fn unit(s: &str) -> UnitName {
    UnitName::parse(s).unwrap()
}

fn app(s: &str) -> AppName {
    AppName::parse(s).unwrap()
}

fn bag(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[track_caller]
fn assert_output_error(result: Result<impl std::fmt::Debug, BackendError>, tool: &str) {
    match result {
        Err(BackendError::Output { tool: t, .. }) if t == tool => {}
        other => panic!("expected an output error from {tool}, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Relations
// ---------------------------------------------------------------------------------------------

#[test]
fn relation_ids_argv_and_parse() {
    let t = FakeTools::new();
    let mut b = t.backend();
    t.set_output("relation-ids", r#"["db:3","db:12"]"#);
    assert_eq!(b.relation_ids("db").unwrap(), vec![RelationId(3), RelationId(12)]);
    t.expect(&[&["relation-ids", "db", "--format=json"]]);
}

#[test]
fn relation_ids_null_and_empty_output_mean_no_relations() {
    let t = FakeTools::new();
    let mut b = t.backend();
    for out in ["null", "", "[]", "null\n"] {
        t.set_output("relation-ids", out);
        assert_eq!(
            b.relation_ids("db").unwrap(),
            Vec::<RelationId>::new(),
            "output {out:?}"
        );
    }
    assert_eq!(t.calls().len(), 4);
}

#[test]
fn relation_list_uses_bare_id_until_the_endpoint_is_known() {
    let t = FakeTools::new();
    let mut b = t.backend();
    t.set_output("relation-list", r#"["pg/1","pg/0","pg/10"]"#);
    // Nothing tells the backend which endpoint relation 7 is on: the bare id.
    assert_eq!(
        b.relation_list(RelationId(7)).unwrap(),
        vec![unit("pg/0"), unit("pg/1"), unit("pg/10")]
    );
    t.expect(&[&["relation-list", "--format=json", "-r", "7"]]);

    // relation-ids teaches it: `endpoint:id` from then on.
    t.set_output("relation-ids", r#"["db:7"]"#);
    b.relation_ids("db").unwrap();
    b.relation_list(RelationId(7)).unwrap();
    t.expect(&[
        &["relation-ids", "db", "--format=json"],
        &["relation-list", "--format=json", "-r", "db:7"],
    ]);
    // Another relation stays bare.
    b.relation_list(RelationId(8)).unwrap();
    t.expect(&[&["relation-list", "--format=json", "-r", "8"]]);
}

#[test]
fn relation_list_uses_the_event_endpoint() {
    for rel_id in ["db:3", "3"] {
        let t = FakeTools::new();
        let mut b = t.backend_with(&[
            ("JUJU_DISPATCH_PATH", "hooks/db-relation-changed"),
            ("JUJU_RELATION", "db"),
            ("JUJU_RELATION_ID", rel_id),
            ("JUJU_REMOTE_UNIT", "pg/1"),
        ]);
        t.set_output("relation-list", r#"["pg/1"]"#);
        assert_eq!(b.relation_list(RelationId(3)).unwrap(), vec![unit("pg/1")]);
        t.expect(&[&["relation-list", "--format=json", "-r", "db:3"]]);
    }
}

#[test]
fn relation_list_null_is_empty() {
    let t = FakeTools::new();
    let mut b = t.backend();
    t.set_output("relation-list", "null");
    assert!(b.relation_list(RelationId(3)).unwrap().is_empty());
}

#[test]
fn relation_remote_app_argv_and_parse() {
    let t = FakeTools::new();
    let mut b = t.backend();
    t.set_output("relation-ids", r#"["db:3"]"#);
    b.relation_ids("db").unwrap();
    t.reset();
    t.set_output("relation-list", "\"pg\"\n");
    assert_eq!(b.relation_remote_app(RelationId(3)).unwrap(), Some(app("pg")));
    t.expect(&[&["relation-list", "--format=json", "--app", "-r", "db:3"]]);
    for none in ["null", "\"\"", ""] {
        t.set_output("relation-list", none);
        assert_eq!(
            b.relation_remote_app(RelationId(3)).unwrap(),
            None,
            "output {none:?}"
        );
    }
}

#[test]
fn relation_remote_app_of_the_event_relation_comes_from_the_environment() {
    let t = FakeTools::new();
    let mut b = t.backend_with(&[
        ("JUJU_DISPATCH_PATH", "hooks/db-relation-changed"),
        ("JUJU_RELATION", "db"),
        ("JUJU_RELATION_ID", "db:3"),
        ("JUJU_REMOTE_APP", "pg"),
    ]);
    t.set_output("relation-list", "\"other\"");
    assert_eq!(b.relation_remote_app(RelationId(3)).unwrap(), Some(app("pg")));
    t.expect(&[]);
    // Another relation still asks.
    assert_eq!(b.relation_remote_app(RelationId(4)).unwrap(), Some(app("other")));
    t.expect(&[&["relation-list", "--format=json", "--app", "-r", "4"]]);
}

#[test]
fn relation_get_unit_and_app_bags() {
    let t = FakeTools::new();
    let mut b = t.backend_with(&[
        ("JUJU_DISPATCH_PATH", "hooks/db-relation-changed"),
        ("JUJU_RELATION", "db"),
        ("JUJU_RELATION_ID", "db:3"),
    ]);
    t.set_output(
        "relation-get",
        r#"{"host":"10.0.0.1","port":"5432","multi":"a\nb \"q\" é"}"#,
    );
    let got = b
        .relation_get(RelationId(3), &BagOwner::Unit(unit("pg/1")))
        .unwrap();
    assert_eq!(
        got,
        bag(&[("host", "10.0.0.1"), ("port", "5432"), ("multi", "a\nb \"q\" é")])
    );
    t.expect(&[&["relation-get", "--format=json", "-r", "db:3", "-", "pg/1"]]);

    t.set_output("relation-get", r#"{"endpoints":"a,b"}"#);
    let got = b.relation_get(RelationId(3), &BagOwner::App(app("pg"))).unwrap();
    assert_eq!(got, bag(&[("endpoints", "a,b")]));
    t.expect(&[&["relation-get", "--format=json", "-r", "db:3", "--app", "-", "pg"]]);
}

#[test]
fn relation_get_null_and_empty_are_empty_bags() {
    let t = FakeTools::new();
    let mut b = t.backend();
    for out in ["null", "", "{}"] {
        t.set_output("relation-get", out);
        assert!(b
            .relation_get(RelationId(3), &BagOwner::Unit(unit("pg/1")))
            .unwrap()
            .is_empty());
    }
}

#[test]
fn relation_get_one_key() {
    let t = FakeTools::new();
    let mut b = t.backend_with(&[
        ("JUJU_DISPATCH_PATH", "hooks/db-relation-changed"),
        ("JUJU_RELATION", "db"),
        ("JUJU_RELATION_ID", "db:3"),
    ]);
    t.set_output("relation-get", r#""10.0.0.1""#);
    let got = b
        .relation_get_key(RelationId(3), &BagOwner::Unit(unit("pg/1")), "host")
        .unwrap();
    assert_eq!(got.as_deref(), Some("10.0.0.1"));
    t.expect(&[&["relation-get", "--format=json", "-r", "db:3", "host", "pg/1"]]);

    t.set_output("relation-get", r#""a,b""#);
    let got = b
        .relation_get_key(RelationId(3), &BagOwner::App(app("pg")), "endpoints")
        .unwrap();
    assert_eq!(got.as_deref(), Some("a,b"));
    t.expect(&[&[
        "relation-get",
        "--format=json",
        "-r",
        "db:3",
        "--app",
        "endpoints",
        "pg",
    ]]);

    // An absent key: `null`, nothing, or an empty string.
    for out in ["null", "", "\"\""] {
        t.set_output("relation-get", out);
        let got = b
            .relation_get_key(RelationId(3), &BagOwner::Unit(unit("pg/1")), "gone")
            .unwrap();
        assert_eq!(got, None, "output {out:?}");
    }
    t.set_output("relation-get", r#"{"host":"x"}"#);
    assert_output_error(
        b.relation_get_key(RelationId(3), &BagOwner::Unit(unit("pg/1")), "host"),
        "relation-get",
    );
}

#[test]
fn relation_get_a_key_that_looks_like_a_flag_reads_the_bag() {
    let t = FakeTools::new();
    let mut b = t.backend();
    t.set_output("relation-get", r#"{"-x":"1","y":"2"}"#);
    let got = b
        .relation_get_key(RelationId(3), &BagOwner::Unit(unit("pg/1")), "-x")
        .unwrap();
    assert_eq!(got.as_deref(), Some("1"));
    t.expect(&[&["relation-get", "--format=json", "-r", "3", "-", "pg/1"]]);
}

#[test]
fn relation_set_sends_json_on_stdin() {
    let t = FakeTools::new();
    let mut b = t.backend_with(&[
        ("JUJU_DISPATCH_PATH", "hooks/db-relation-changed"),
        ("JUJU_RELATION", "db"),
        ("JUJU_RELATION_ID", "db:3"),
    ]);
    let changes = bag(&[
        ("host", "10.0.0.2"),
        ("gone", ""),
        ("text", "line1\nline2 \"quoted\" ü"),
    ]);
    b.relation_set(RelationId(3), BagScope::Unit, &changes).unwrap();
    t.expect_with_json_stdin(
        &["relation-set", "-r", "db:3", "--file", "-"],
        &json!({"host": "10.0.0.2", "gone": "", "text": "line1\nline2 \"quoted\" ü"}),
    );

    b.relation_set(RelationId(3), BagScope::App, &bag(&[("leader", "demo/0")]))
        .unwrap();
    t.expect_with_json_stdin(
        &["relation-set", "-r", "db:3", "--app", "--file", "-"],
        &json!({"leader": "demo/0"}),
    );

    // An unknown endpoint: the bare id.
    b.relation_set(RelationId(9), BagScope::Unit, &bag(&[("k", "v")]))
        .unwrap();
    t.expect_with_json_stdin(&["relation-set", "-r", "9", "--file", "-"], &json!({"k": "v"}));
}

// ---------------------------------------------------------------------------------------------
// Leadership, config, status, logs
// ---------------------------------------------------------------------------------------------

#[test]
fn is_leader_argv_and_parse() {
    let t = FakeTools::new();
    let mut b = t.backend();
    t.set_output("is-leader", "true\n");
    assert!(b.is_leader().unwrap());
    t.set_output("is-leader", "false");
    assert!(!b.is_leader().unwrap());
    t.expect(&[&["is-leader", "--format=json"], &["is-leader", "--format=json"]]);
}

#[test]
fn config_get_argv_and_typed_values() {
    let t = FakeTools::new();
    let mut b = t.backend();
    t.set_output(
        "config-get",
        r#"{"debug":true,"port":8080,"neg":-3,"ratio":0.25,"whole":2.0,"name":"ovn","unset":null,"big":18446744073709551615}"#,
    );
    let got = b.config_get().unwrap();
    let want = BTreeMap::from([
        ("debug".to_owned(), ConfigValue::Bool(true)),
        ("port".to_owned(), ConfigValue::Int(8080)),
        ("neg".to_owned(), ConfigValue::Int(-3)),
        ("ratio".to_owned(), ConfigValue::Float(0.25)),
        ("whole".to_owned(), ConfigValue::Float(2.0)),
        ("name".to_owned(), ConfigValue::String("ovn".to_owned())),
        ("big".to_owned(), ConfigValue::Float(18446744073709551615.0)),
    ]);
    assert_eq!(got, want);
    t.expect(&[&["config-get", "--format=json"]]);

    t.set_output("config-get", "null");
    assert!(b.config_get().unwrap().is_empty());
}

#[test]
fn status_set_argv() {
    let t = FakeTools::new();
    let mut b = t.backend();
    b.status_set(StatusTarget::Unit, &Status::active("serving 3 clients"))
        .unwrap();
    b.status_set(StatusTarget::App, &Status::blocked("need a db"))
        .unwrap();
    b.status_set(StatusTarget::Unit, &Status::maintenance(""))
        .unwrap();
    b.status_set(StatusTarget::App, &Status::waiting("")).unwrap();
    b.status_set(StatusTarget::Unit, &Status::waiting("-x --not-a-flag"))
        .unwrap();
    t.expect(&[
        &[
            "status-set",
            "--application=False",
            "active",
            "--",
            "serving 3 clients",
        ],
        &["status-set", "--application=True", "blocked", "--", "need a db"],
        &["status-set", "--application=False", "maintenance"],
        &["status-set", "--application=True", "waiting"],
        &[
            "status-set",
            "--application=False",
            "waiting",
            "--",
            "-x --not-a-flag",
        ],
    ]);
}

#[test]
fn status_set_refuses_error_and_unknown_without_running_the_tool() {
    let t = FakeTools::new();
    let mut b = t.backend();
    let error = Status {
        name: charm::StatusName::Error,
        message: "boom".into(),
    };
    assert!(matches!(
        b.status_set(StatusTarget::Unit, &error),
        Err(BackendError::Refused(_))
    ));
    assert!(matches!(
        b.status_set(StatusTarget::Unit, &Status::unknown()),
        Err(BackendError::Refused(_))
    ));
    t.expect(&[]);
}

#[test]
fn status_get_unit_form() {
    let t = FakeTools::new();
    let mut b = t.backend();
    t.set_output(
        "status-get",
        r#"{"message":"need a db","status":"blocked","status-data":{}}"#,
    );
    assert_eq!(
        b.status_get(StatusTarget::Unit).unwrap(),
        Status::blocked("need a db")
    );
    t.expect(&[&[
        "status-get",
        "--include-data",
        "--format=json",
        "--application=false",
    ]]);

    t.set_output(
        "status-get",
        r#"{"message":"","status":"unknown","status-data":{}}"#,
    );
    assert_eq!(b.status_get(StatusTarget::Unit).unwrap(), Status::unknown());
}

#[test]
fn status_get_application_form() {
    let t = FakeTools::new();
    let mut b = t.backend();
    t.set_output(
        "status-get",
        r#"{"application-status":{"message":"2 units","status":"active","status-data":{}},
            "units":{"demo/0":{"message":"","status":"blocked","status-data":{}}}}"#,
    );
    assert_eq!(
        b.status_get(StatusTarget::App).unwrap(),
        Status::active("2 units")
    );
    t.expect(&[&[
        "status-get",
        "--include-data",
        "--format=json",
        "--application=true",
    ]]);

    // The unit form where the application form is expected.
    t.set_output(
        "status-get",
        r#"{"message":"m","status":"active","status-data":{}}"#,
    );
    assert_output_error(b.status_get(StatusTarget::App), "status-get");
}

#[test]
fn juju_log_argv_for_every_level() {
    let t = FakeTools::new();
    let mut b = t.backend();
    for level in [
        LogLevel::Trace,
        LogLevel::Debug,
        LogLevel::Info,
        LogLevel::Warning,
        LogLevel::Error,
    ] {
        b.juju_log(level, "-starts with a dash\nand has two lines")
            .unwrap();
    }
    let m = "-starts with a dash\nand has two lines";
    t.expect(&[
        &["juju-log", "--log-level", "TRACE", "--", m],
        &["juju-log", "--log-level", "DEBUG", "--", m],
        &["juju-log", "--log-level", "INFO", "--", m],
        &["juju-log", "--log-level", "WARNING", "--", m],
        &["juju-log", "--log-level", "ERROR", "--", m],
    ]);
}

#[test]
fn juju_log_splits_long_messages_as_ops_does() {
    assert_eq!(MAX_LOG_CHARS, 131_071);
    let t = FakeTools::new();
    let mut b = t.backend();

    let exact = "x".repeat(MAX_LOG_CHARS);
    b.juju_log(LogLevel::Info, &exact).unwrap();
    t.expect(&[&["juju-log", "--log-level", "INFO", "--", &exact]]);

    let a = "a".repeat(MAX_LOG_CHARS);
    let bb = "b".repeat(MAX_LOG_CHARS);
    let message = format!("{a}{bb}ccccc");
    b.juju_log(LogLevel::Warning, &message).unwrap();
    t.expect(&[
        &["juju-log", "--log-level", "WARNING", "--", &a],
        &["juju-log", "--log-level", "WARNING", "--", &bb],
        &["juju-log", "--log-level", "WARNING", "--", "ccccc"],
    ]);
}

#[test]
fn juju_log_keeps_each_argument_under_the_kernel_limit_for_non_ascii_messages() {
    // Linux refuses (E2BIG) a single argument of 128 KiB or more. A message of 131071
    // two-byte characters is 262142 bytes: it must still reach juju-log, split on character
    // boundaries, every part short enough to be an argument.
    let t = FakeTools::new();
    let mut b = t.backend();
    let message = format!("a{}", "é".repeat(MAX_LOG_CHARS));
    b.juju_log(LogLevel::Info, &message).unwrap();
    let calls = t.argvs();
    assert!(calls.len() >= 2, "{} calls", calls.len());
    let mut joined = String::new();
    for argv in &calls {
        assert_eq!(argv[..4], ["juju-log", "--log-level", "INFO", "--"]);
        assert_eq!(argv.len(), 5);
        assert!(argv[4].len() <= MAX_LOG_CHARS, "part of {} bytes", argv[4].len());
        joined.push_str(&argv[4]);
    }
    assert_eq!(joined, message);
}

// ---------------------------------------------------------------------------------------------
// Leader settings and controller state
// ---------------------------------------------------------------------------------------------

#[test]
fn leader_get_and_set() {
    let t = FakeTools::new();
    let mut b = t.backend();
    t.set_output("leader-get", r#"{"token":"abc","peers":"a,b"}"#);
    assert_eq!(
        b.leader_get().unwrap(),
        bag(&[("token", "abc"), ("peers", "a,b")])
    );
    t.expect(&[&["leader-get", "--format=json", "-"]]);
    t.set_output("leader-get", "null");
    assert!(b.leader_get().unwrap().is_empty());
    t.reset();

    b.leader_set(&bag(&[("k", "v"), ("k2", ""), ("spaced", "a b=c")]))
        .unwrap();
    t.expect(&[&["leader-set", "k=v", "k2=", "spaced=a b=c"]]);
}

#[test]
fn state_get_set_delete() {
    let t = FakeTools::new();
    let mut b = t.backend();
    t.set_output("state-get", r#"{"a":"1","b":"{\"x\":2}"}"#);
    assert_eq!(b.state_get().unwrap(), bag(&[("a", "1"), ("b", "{\"x\":2}")]));
    t.expect(&[&["state-get", "--format=json"]]);
    t.set_output("state-get", "");
    assert!(b.state_get().unwrap().is_empty());
    t.reset();

    b.state_set(&bag(&[("a", "1"), ("doc", "{\"n\":1}\nline")]))
        .unwrap();
    t.expect_with_json_stdin(
        &["state-set", "--file", "-"],
        &json!({"a": "1", "doc": "{\"n\":1}\nline"}),
    );

    b.state_delete("a").unwrap();
    t.expect(&[&["state-delete", "a"]]);
}

// ---------------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------------

fn content(pairs: &[(&str, &str)]) -> SecretContent {
    SecretContent(bag(pairs))
}

/// Checks the `k#file=PATH` arguments of a call from `first` on: keys in order, content passed
/// through private files (0600 in a 0700 directory) that are gone once the call returned, and no
/// value anywhere in the argv.
#[track_caller]
fn assert_secret_files(call: &common::Call, first: usize, secret: &SecretContent) {
    let args = &call.argv[1..];
    assert_eq!(
        args.len() - first,
        secret.0.len(),
        "one file argument per key: {:?}",
        call.argv
    );
    for (i, (k, v)) in secret.0.iter().enumerate() {
        let arg = &args[first + i];
        let prefix = format!("{k}#file=");
        let path = arg
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{arg:?} is not {prefix}PATH"));
        let f = call
            .files
            .get(&(first + i))
            .expect("the tool could read the file");
        assert_eq!(&f.content, v, "content of {k}");
        assert_eq!(f.mode, "600", "mode of {k}'s file");
        assert_eq!(f.dir_mode, "700", "mode of {k}'s directory");
        assert!(
            !std::path::Path::new(path).exists(),
            "{path} must be removed after the call"
        );
    }
    for arg in &call.argv {
        for v in secret.0.values() {
            assert!(!arg.contains(v.as_str()), "secret value in argv: {arg:?}");
        }
    }
    assert_eq!(call.stdin, None);
}

#[test]
fn secret_add_with_every_option() {
    let t = FakeTools::new();
    let mut b = t.backend();
    t.set_output("secret-add", "secret:cq9sv8fmp25c77a6f5eg\n");
    let secret = content(&[("password", "s3cr3t-pw\nline2"), ("username", "admin-user-x")]);
    let options = SecretOptions {
        label: Some("db-creds".into()),
        description: Some("database credentials".into()),
        expire: Some("2030-01-01T00:00:00Z".into()),
        rotate: Some("daily".into()),
        owner: Some(SecretOwner::Unit),
    };
    let id = b.secret_add(&secret, &options).unwrap();
    assert_eq!(id, "secret:cq9sv8fmp25c77a6f5eg");
    let calls = t.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].argv[..11],
        [
            "secret-add",
            "--label",
            "db-creds",
            "--description",
            "database credentials",
            "--expire",
            "2030-01-01T00:00:00Z",
            "--rotate",
            "daily",
            "--owner",
            "unit",
        ]
    );
    assert_secret_files(&calls[0], 10, &secret);
}

#[test]
fn secret_add_defaults_to_application_owner() {
    let t = FakeTools::new();
    let mut b = t.backend();
    t.set_output("secret-add", "secret:abc");
    let secret = content(&[("token", "tok-123456")]);
    assert_eq!(
        b.secret_add(&secret, &SecretOptions::default()).unwrap(),
        "secret:abc"
    );
    let calls = t.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].argv[..3], ["secret-add", "--owner", "application"]);
    assert_secret_files(&calls[0], 2, &secret);
}

#[test]
fn secret_add_refuses_bad_keys_and_bad_ids() {
    let t = FakeTools::new();
    let mut b = t.backend();
    for key in ["", "a=b", "a#b", "a/b"] {
        let r = b.secret_add(&content(&[(key, "v")]), &SecretOptions::default());
        assert!(matches!(r, Err(BackendError::Refused(_))), "key {key:?}: {r:?}");
    }
    t.expect(&[]);
    for out in ["", "\n", "secret:a secret:b"] {
        t.set_output("secret-add", out);
        assert_output_error(
            b.secret_add(&content(&[("k", "v")]), &SecretOptions::default()),
            "secret-add",
        );
    }
}

#[test]
fn secret_get_argv_forms() {
    let t = FakeTools::new();
    let mut b = t.backend();
    t.set_output("secret-get", r#"{"password":"pw","username":"u"}"#);
    let want = content(&[("password", "pw"), ("username", "u")]);
    let id = SecretRef::Id("secret:abc".into());
    assert_eq!(b.secret_get(&id, SecretRead::Tracked).unwrap(), want);
    b.secret_get(&id, SecretRead::Refresh).unwrap();
    b.secret_get(&id, SecretRead::Peek).unwrap();
    b.secret_get(
        &SecretRef::IdWithLabel("secret:abc".into(), "creds".into()),
        SecretRead::Refresh,
    )
    .unwrap();
    b.secret_get(&SecretRef::Label("creds".into()), SecretRead::Tracked)
        .unwrap();
    b.secret_get(&SecretRef::Label("creds".into()), SecretRead::Peek)
        .unwrap();
    t.expect(&[
        &["secret-get", "--format=json", "secret:abc"],
        &["secret-get", "--format=json", "secret:abc", "--refresh"],
        &["secret-get", "--format=json", "secret:abc", "--peek"],
        &[
            "secret-get",
            "--format=json",
            "secret:abc",
            "--label",
            "creds",
            "--refresh",
        ],
        &["secret-get", "--format=json", "--label", "creds"],
        &["secret-get", "--format=json", "--label", "creds", "--peek"],
    ]);
}

#[test]
fn secret_set_argv_forms() {
    let t = FakeTools::new();
    let mut b = t.backend();
    let secret = content(&[("password", "new-pw-7781")]);
    let options = SecretOptions {
        label: Some("creds".into()),
        description: Some("rotated".into()),
        ..Default::default()
    };
    b.secret_set("secret:abc", Some(&secret), &options).unwrap();
    let calls = t.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].argv[..6],
        [
            "secret-set",
            "--label",
            "creds",
            "--description",
            "rotated",
            "secret:abc"
        ]
    );
    assert_secret_files(&calls[0], 5, &secret);
    t.reset();

    let options = SecretOptions {
        rotate: Some("weekly".into()),
        expire: Some("2031-02-03T04:05:06Z".into()),
        ..Default::default()
    };
    b.secret_set("secret:abc", None, &options).unwrap();
    t.expect(&[&[
        "secret-set",
        "--expire",
        "2031-02-03T04:05:06Z",
        "--rotate",
        "weekly",
        "secret:abc",
    ]]);
}

#[test]
fn secret_grant_revoke_remove_argv() {
    let t = FakeTools::new();
    // The endpoint is known, but secret tools take the bare relation id.
    let mut b = t.backend_with(&[
        ("JUJU_DISPATCH_PATH", "hooks/db-relation-changed"),
        ("JUJU_RELATION", "db"),
        ("JUJU_RELATION_ID", "db:3"),
    ]);
    b.secret_grant("secret:abc", RelationId(3), None).unwrap();
    b.secret_grant("secret:abc", RelationId(3), Some(&unit("pg/1")))
        .unwrap();
    b.secret_revoke("secret:abc", RelationId(3), &RevokeTarget::Relation)
        .unwrap();
    b.secret_revoke("secret:abc", RelationId(3), &RevokeTarget::App(app("pg")))
        .unwrap();
    b.secret_revoke("secret:abc", RelationId(3), &RevokeTarget::Unit(unit("pg/1")))
        .unwrap();
    b.secret_remove("secret:abc", None).unwrap();
    b.secret_remove("secret:abc", Some(4)).unwrap();
    t.expect(&[
        &["secret-grant", "--relation", "3", "secret:abc"],
        &["secret-grant", "--relation", "3", "--unit", "pg/1", "secret:abc"],
        &["secret-revoke", "--relation", "3", "secret:abc"],
        &["secret-revoke", "--relation", "3", "--app", "pg", "secret:abc"],
        &["secret-revoke", "--relation", "3", "--unit", "pg/1", "secret:abc"],
        &["secret-remove", "secret:abc"],
        &["secret-remove", "secret:abc", "--revision", "4"],
    ]);
}

#[test]
fn secret_info_get_argv_and_parse() {
    let t = FakeTools::new();
    let mut b = t.backend();
    t.set_output(
        "secret-info-get",
        r#"{"cq9sv8fmp25c77a6f5eg":{"revision":4,"label":"creds","owner":"application",
            "rotation":"daily","expiry":"2030-01-01T00:00:00Z","description":"db"}}"#,
    );
    let want = SecretInfo {
        id: "secret:cq9sv8fmp25c77a6f5eg".into(),
        label: Some("creds".into()),
        owner: "application".into(),
        revision: 4,
        description: Some("db".into()),
        expiry: Some("2030-01-01T00:00:00Z".into()),
        rotation: Some("daily".into()),
    };
    assert_eq!(
        b.secret_info_get(&SecretRef::Id("secret:cq9sv8fmp25c77a6f5eg".into()))
            .unwrap(),
        want
    );
    assert_eq!(
        b.secret_info_get(&SecretRef::Label("creds".into())).unwrap(),
        want
    );
    assert_eq!(
        b.secret_info_get(&SecretRef::IdWithLabel("secret:x".into(), "creds".into()))
            .unwrap(),
        want
    );
    t.expect(&[
        &["secret-info-get", "--format=json", "secret:cq9sv8fmp25c77a6f5eg"],
        &["secret-info-get", "--format=json", "--label", "creds"],
        &["secret-info-get", "--format=json", "secret:x"],
    ]);

    // Juju prints an empty label for a secret without one, and keys the answer by the bare id.
    t.set_output(
        "secret-info-get",
        r#"{"abc":{"revision":1,"owner":"unit","label":""}}"#,
    );
    let info = b.secret_info_get(&SecretRef::Id("secret:abc".into())).unwrap();
    assert_eq!(
        info,
        SecretInfo {
            id: "secret:abc".into(),
            label: None,
            owner: "unit".into(),
            revision: 1,
            description: None,
            expiry: None,
            rotation: None,
        }
    );
}

#[test]
fn secret_ids_argv_and_parse() {
    let t = FakeTools::new();
    let mut b = t.backend();
    t.set_output("secret-ids", r#"["secret:a","secret:b"]"#);
    assert_eq!(b.secret_ids().unwrap(), ["secret:a", "secret:b"]);
    t.expect(&[&["secret-ids", "--format=json"]]);
    t.set_output("secret-ids", "null");
    assert!(b.secret_ids().unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Actions, version, goal state
// ---------------------------------------------------------------------------------------------

#[test]
fn application_version_set_argv() {
    let t = FakeTools::new();
    let mut b = t.backend();
    b.application_version_set("24.03.1").unwrap();
    b.application_version_set("-rc1").unwrap();
    t.expect(&[
        &["application-version-set", "--", "24.03.1"],
        &["application-version-set", "--", "-rc1"],
    ]);
}

#[test]
fn action_tools_argv_and_parse() {
    let t = FakeTools::new();
    let mut b = t.backend_with(&[
        ("JUJU_DISPATCH_PATH", "actions/backup"),
        ("JUJU_ACTION_NAME", "backup"),
    ]);
    t.set_output(
        "action-get",
        r#"{"target":"/srv","count":3,"opts":{"fast":true}}"#,
    );
    let params = b.action_get().unwrap();
    assert_eq!(
        serde_json::Value::Object(params),
        json!({"target": "/srv", "count": 3, "opts": {"fast": true}})
    );
    t.expect(&[&["action-get", "--format=json"]]);
    t.set_output("action-get", "null");
    assert!(b.action_get().unwrap().is_empty());
    t.reset();

    b.action_set(&bag(&[
        ("result.path", "/srv/b.tar"),
        ("count", "3"),
        ("msg", "a b=c"),
    ]))
    .unwrap();
    b.action_log("-50% done").unwrap();
    b.action_fail("disk full").unwrap();
    b.action_fail("").unwrap();
    t.expect(&[
        &["action-set", "count=3", "msg=a b=c", "result.path=/srv/b.tar"],
        &["action-log", "--", "-50% done"],
        &["action-fail", "--", "disk full"],
        &["action-fail"],
    ]);
}

#[test]
fn goal_state_argv_and_parse() {
    let t = FakeTools::new();
    let mut b = t.backend();
    t.set_output(
        "goal-state",
        r#"{"units":{"demo/0":{"status":"active","since":"2025-01-01 10:00:00Z"},
                     "demo/1":{"status":"waiting"},"demo/2":{"status":"dying"}},
            "relations":{"db":{"pg":{"status":"joined"},"pg/0":{"status":"active","since":"x"}}}}"#,
    );
    let gs = b.goal_state().unwrap();
    let st = |s: &str, since: Option<&str>| GoalStatus {
        status: s.into(),
        since: since.map(Into::into),
    };
    let want = GoalState {
        units: BTreeMap::from([
            ("demo/0".into(), st("active", Some("2025-01-01 10:00:00Z"))),
            ("demo/1".into(), st("waiting", None)),
            ("demo/2".into(), st("dying", None)),
        ]),
        relations: BTreeMap::from([(
            "db".into(),
            BTreeMap::from([
                ("pg".into(), st("joined", None)),
                ("pg/0".into(), st("active", Some("x"))),
            ]),
        )]),
    };
    assert_eq!(gs, want);
    assert_eq!(gs.planned_units(), 2);
    t.expect(&[&["goal-state", "--format=json"]]);
}

#[test]
fn tool_calls_counts_every_process() {
    let t = FakeTools::new();
    let mut b = t.backend();
    assert_eq!(b.tool_calls(), 0);
    b.juju_log(LogLevel::Info, &"z".repeat(MAX_LOG_CHARS + 1))
        .unwrap();
    b.status_set(StatusTarget::Unit, &Status::active("")).unwrap();
    assert_eq!(b.tool_calls(), 3);
    assert_eq!(t.calls().len(), 3);
}

// ---------------------------------------------------------------------------------------------
// Bad input: always a typed error, never a panic
// ---------------------------------------------------------------------------------------------

type Probe = (&'static str, fn(&mut HookTools) -> Result<(), BackendError>);

/// One call of every backend method that parses JSON, with the tool it runs.
fn json_probes() -> Vec<Probe> {
    vec![
        ("relation-ids", |b| b.relation_ids("db").map(drop)),
        ("relation-list", |b| b.relation_list(RelationId(3)).map(drop)),
        ("relation-list", |b| {
            b.relation_remote_app(RelationId(3)).map(drop)
        }),
        ("relation-get", |b| {
            b.relation_get(RelationId(3), &BagOwner::Unit(UnitName::parse("pg/1").unwrap()))
                .map(drop)
        }),
        ("is-leader", |b| b.is_leader().map(drop)),
        ("config-get", |b| b.config_get().map(drop)),
        ("storage-list", |b| b.storage_list("data").map(drop)),
        ("storage-get", |b| {
            b.storage_get(&charm::StorageId {
                name: "data".into(),
                index: 0,
            })
            .map(drop)
        }),
        ("status-get", |b| b.status_get(StatusTarget::Unit).map(drop)),
        ("status-get", |b| b.status_get(StatusTarget::App).map(drop)),
        ("leader-get", |b| b.leader_get().map(drop)),
        ("state-get", |b| b.state_get().map(drop)),
        ("secret-get", |b| {
            b.secret_get(&SecretRef::Id("secret:abc".into()), SecretRead::Tracked)
                .map(drop)
        }),
        ("secret-info-get", |b| {
            b.secret_info_get(&SecretRef::Id("secret:abc".into())).map(drop)
        }),
        ("secret-ids", |b| b.secret_ids().map(drop)),
        ("action-get", |b| b.action_get().map(drop)),
        ("goal-state", |b| b.goal_state().map(drop)),
    ]
}

/// Every backend method, with the tool it runs.
fn all_probes() -> Vec<Probe> {
    let mut v = json_probes();
    v.extend::<Vec<Probe>>(vec![
        ("relation-set", |b| {
            b.relation_set(
                RelationId(3),
                BagScope::Unit,
                &BTreeMap::from([("k".into(), "v".into())]),
            )
        }),
        ("status-set", |b| {
            b.status_set(StatusTarget::Unit, &Status::active("m"))
        }),
        ("juju-log", |b| b.juju_log(LogLevel::Info, "m")),
        ("leader-set", |b| {
            b.leader_set(&BTreeMap::from([("k".into(), "v".into())]))
        }),
        ("state-set", |b| {
            b.state_set(&BTreeMap::from([("k".into(), "v".into())]))
        }),
        ("state-delete", |b| b.state_delete("k")),
        ("secret-add", |b| {
            b.secret_add(
                &SecretContent(BTreeMap::from([("k".into(), "v".into())])),
                &SecretOptions::default(),
            )
            .map(drop)
        }),
        ("secret-set", |b| {
            b.secret_set(
                "secret:abc",
                Some(&SecretContent(BTreeMap::from([("k".into(), "v".into())]))),
                &SecretOptions::default(),
            )
        }),
        ("secret-grant", |b| {
            b.secret_grant("secret:abc", RelationId(3), None)
        }),
        ("secret-revoke", |b| {
            b.secret_revoke("secret:abc", RelationId(3), &RevokeTarget::Relation)
        }),
        ("secret-remove", |b| b.secret_remove("secret:abc", None)),
        ("application-version-set", |b| b.application_version_set("1")),
        ("action-set", |b| {
            b.action_set(&BTreeMap::from([("k".into(), "v".into())]))
        }),
        ("action-fail", |b| b.action_fail("m")),
        ("action-log", |b| b.action_log("m")),
        ("storage-add", |b| b.storage_add("data", 1)),
    ]);
    v
}

#[test]
fn every_tool_is_probed() {
    let probed: std::collections::BTreeSet<&str> = all_probes().iter().map(|(t, _)| *t).collect();
    let all: std::collections::BTreeSet<&str> = common::TOOLS.iter().copied().collect();
    assert_eq!(probed, all);
}

#[test]
fn a_failing_tool_is_a_tool_error_with_its_stderr() {
    for (tool, probe) in all_probes() {
        let t = FakeTools::new();
        let mut b = t.backend();
        t.set_output(tool, "{}");
        t.set_failure(tool, 2, "ERROR permission denied\n  \n");
        match probe(&mut b) {
            Err(BackendError::Tool {
                tool: got,
                code,
                stderr,
            }) => {
                assert_eq!(got, tool);
                assert_eq!(code, Some(2), "{tool}");
                assert_eq!(stderr, "ERROR permission denied", "{tool}");
            }
            other => panic!("{tool}: expected a tool error, got {other:?}"),
        }
        assert_eq!(t.calls().len(), 1, "{tool} ran once");
    }
}

#[test]
fn a_missing_tool_is_a_spawn_error() {
    for (tool, probe) in all_probes() {
        let t = FakeTools::new();
        let mut b = t.backend();
        t.remove_tool(tool);
        match probe(&mut b) {
            Err(BackendError::Spawn { tool: got, source }) => {
                assert_eq!(got, tool);
                assert_eq!(source.kind(), std::io::ErrorKind::NotFound, "{tool}");
            }
            other => panic!("{tool}: expected a spawn error, got {other:?}"),
        }
    }
    // A tool directory that does not exist.
    let t = FakeTools::new();
    let mut b = HookTools::from_env(&t.env(&[])).with_tool_dir(t.root().join("no-such-dir"));
    assert!(matches!(b.is_leader(), Err(BackendError::Spawn { .. })));
}

#[test]
fn relation_not_found_from_relation_tools() {
    let stderr = "ERROR invalid value \"db:3\" for option -r: relation not found\n";
    for (tool, probe) in all_probes() {
        let t = FakeTools::new();
        let mut b = t.backend_with(&[
            ("JUJU_DISPATCH_PATH", "hooks/db-relation-changed"),
            ("JUJU_RELATION", "db"),
            ("JUJU_RELATION_ID", "db:3"),
        ]);
        t.set_failure(tool, 2, stderr);
        let r = probe(&mut b);
        if tool.starts_with("relation-") && tool != "relation-ids" {
            assert!(
                matches!(r, Err(BackendError::RelationNotFound(RelationId(3)))),
                "{tool}: {r:?}"
            );
        } else if tool.starts_with("secret-") {
            // "not found" from a secret tool means the secret.
            assert!(matches!(r, Err(BackendError::SecretNotFound)), "{tool}: {r:?}");
        } else {
            // relation-ids takes no relation: which one was not found is unknown, so no
            // RelationNotFound naming a made-up id.
            assert!(matches!(r, Err(BackendError::Tool { .. })), "{tool}: {r:?}");
        }
    }
    // The id comes from the bare `-r` form too.
    let t = FakeTools::new();
    let mut b = t.backend();
    t.set_failure("relation-list", 1, "ERROR relation not found");
    assert!(matches!(
        b.relation_list(RelationId(17)),
        Err(BackendError::RelationNotFound(RelationId(17)))
    ));
}

#[test]
fn secret_not_found_from_secret_tools_only() {
    for (tool, probe) in all_probes() {
        let t = FakeTools::new();
        let mut b = t.backend();
        t.set_failure(tool, 1, "ERROR secret \"cq9sv8fmp25c77a6f5eg\" not found");
        let r = probe(&mut b);
        if tool.starts_with("secret-") {
            assert!(matches!(r, Err(BackendError::SecretNotFound)), "{tool}: {r:?}");
        } else {
            assert!(matches!(r, Err(BackendError::Tool { .. })), "{tool}: {r:?}");
        }
    }
}

#[test]
fn output_that_is_not_json_is_an_output_error() {
    for bad in [
        "db:3",
        "{",
        "{\"a\": }",
        "tru",
        "[\"a\",]",
        "{\"a\":\"b\"} trailing",
    ] {
        for (tool, probe) in json_probes() {
            let t = FakeTools::new();
            let mut b = t.backend();
            t.set_output(tool, bad);
            assert_output_error(probe(&mut b), tool);
        }
    }
}

#[test]
fn output_that_is_not_utf8_is_an_output_error() {
    for (tool, probe) in all_probes() {
        let t = FakeTools::new();
        let mut b = t.backend();
        t.set_output_bytes(tool, b"\"\xff\xfe\"");
        assert_output_error(probe(&mut b), tool);
    }
}

#[test]
fn output_of_the_wrong_shape_is_an_output_error() {
    let cases: &[(&str, &str)] = &[
        // A list or a scalar where a map is expected.
        ("relation-get", r#"["a","b"]"#),
        ("relation-get", r#""value""#),
        ("config-get", "[1,2]"),
        ("leader-get", "[]"),
        ("state-get", r#"["k"]"#),
        ("secret-get", r#"["k"]"#),
        ("secret-info-get", r#"["secret:abc"]"#),
        ("secret-info-get", "{}"),
        ("action-get", "[1]"),
        ("goal-state", "[]"),
        ("goal-state", r#"{"units":{"demo/0":{"since":"x"}}}"#),
        ("status-get", "[]"),
        ("status-get", r#""active""#),
        ("status-get", r#"{"status":"bogus","message":""}"#),
        // Non-string values in a bag.
        ("relation-get", r#"{"port":5432}"#),
        ("relation-get", r#"{"k":null}"#),
        ("leader-get", r#"{"k":true}"#),
        ("state-get", r#"{"k":{"x":"y"}}"#),
        ("secret-get", r#"{"k":1}"#),
        ("config-get", r#"{"o":["a"]}"#),
        ("config-get", r#"{"o":{"a":"b"}}"#),
        // Lists of the wrong things.
        ("relation-ids", r#"{"db:3":true}"#),
        ("relation-ids", r#"["db:x"]"#),
        ("relation-ids", r#"["db:"]"#),
        ("relation-ids", r#"[3]"#),
        ("relation-list", r#"["pg"]"#),
        ("relation-list", r#"["PG/1"]"#),
        ("relation-list", r#"["pg/1/2"]"#),
        ("relation-list", r#"[1]"#),
        ("relation-list", r#"{"pg/1":{}}"#),
        ("secret-ids", r#"{"a":"b"}"#),
        ("secret-ids", "[1]"),
        ("is-leader", r#""true""#),
        ("is-leader", "1"),
        ("is-leader", ""),
    ];
    for (tool, out) in cases {
        let probes: Vec<Probe> = json_probes().into_iter().filter(|(t, _)| t == tool).collect();
        assert!(!probes.is_empty());
        for (_, probe) in probes {
            let t = FakeTools::new();
            let mut b = t.backend();
            t.set_output(tool, out);
            match probe(&mut b) {
                Err(BackendError::Output { tool: got, .. }) => assert_eq!(&got, tool),
                other => panic!("{tool} printing {out}: expected an output error, got {other:?}"),
            }
        }
    }
}

#[test]
fn relation_remote_app_of_the_wrong_shape() {
    for out in [r#"["pg"]"#, r#"{"app":"pg"}"#, r#""Bad_Name""#, "3"] {
        let t = FakeTools::new();
        let mut b = t.backend();
        t.set_output("relation-list", out);
        assert_output_error(b.relation_remote_app(RelationId(3)), "relation-list");
    }
}

#[test]
fn a_failing_secret_get_never_shows_the_secret() {
    const MARKER: &str = "MARKER-hunter2-9f2c";
    let outputs = [
        format!("{{\"password\": \"{MARKER}"),
        format!("{{\"password\": \"{MARKER}\"}} {MARKER}"),
        format!("{{\"password\": [\"{MARKER}\"]}}"),
        format!("{{\"password\": {{\"{MARKER}\": \"{MARKER}\"}}}}"),
        format!("\"{MARKER}\""),
        format!("[\"{MARKER}\"]"),
        MARKER.to_owned(),
        format!("{MARKER}\n{{\"password\": \"x\"}}"),
    ];
    for out in &outputs {
        let t = FakeTools::new();
        let mut b = t.backend();
        t.set_output("secret-get", out);
        let err = b
            .secret_get(&SecretRef::Label("creds".into()), SecretRead::Peek)
            .expect_err("bad output must fail");
        assert!(matches!(err, BackendError::Output { .. }), "{err:?}");
        assert!(
            !err.to_string().contains(MARKER),
            "Display leaks the secret: {err}"
        );
        assert!(
            !format!("{err:?}").contains(MARKER),
            "Debug leaks the secret: {err:?}"
        );
        assert!(!format!("{err:#}").contains("hunter2"));
    }
}

#[test]
fn secret_content_debug_is_redacted() {
    let t = FakeTools::new();
    let mut b = t.backend();
    t.set_output("secret-get", r#"{"password":"hunter2-xyz"}"#);
    let c = b
        .secret_get(&SecretRef::Id("secret:abc".into()), SecretRead::Tracked)
        .unwrap();
    assert_eq!(c.0["password"], "hunter2-xyz");
    assert!(!format!("{c:?}").contains("hunter2"));
}

// ---------------------------------------------------------------------------------------------
// Stored state
// ---------------------------------------------------------------------------------------------

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn stored_state_file_defaults_to_the_charm_dir() {
    let t = FakeTools::new();
    let mut b = t.backend();
    assert_eq!(b.load_stored_state().unwrap(), None);
    b.save_stored_state("{\"version\":1}").unwrap();
    let path = t.charm_dir().join(STATE_FILE);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"version\":1}");
    assert_eq!(mode(&path), 0o600);
    assert_eq!(b.load_stored_state().unwrap().as_deref(), Some("{\"version\":1}"));
    assert_eq!(b.tool_calls(), 0);
    t.expect(&[]);
}

#[test]
fn stored_state_file_is_replaced_atomically_with_mode_0600() {
    let t = FakeTools::new();
    let path = t.root().join("state").join("doc.json");
    std::fs::create_dir(path.parent().unwrap()).unwrap();
    let mut b = t.backend().with_storage(StoredStateLocation::File(path.clone()));
    assert_eq!(b.load_stored_state().unwrap(), None, "a missing file is no state");

    b.save_stored_state("first").unwrap();
    assert_eq!(mode(&path), 0o600);
    let first_inode = std::fs::metadata(&path).unwrap().ino();
    // A reader holding the old file keeps seeing the old content: the file is replaced, never
    // rewritten in place.
    let old_link = t.root().join("old-link");
    std::fs::hard_link(&path, &old_link).unwrap();

    b.save_stored_state("second, longer document").unwrap();
    assert_eq!(
        b.load_stored_state().unwrap().as_deref(),
        Some("second, longer document")
    );
    assert_ne!(std::fs::metadata(&path).unwrap().ino(), first_inode);
    assert_eq!(std::fs::read_to_string(&old_link).unwrap(), "first");
    assert_eq!(mode(&path), 0o600);
    // Nothing else is left in the directory.
    let names: Vec<String> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["doc.json"]);
    assert_eq!(b.tool_calls(), 0);
}

#[test]
fn stored_state_file_is_0600_even_over_a_stale_temporary_file() {
    let t = FakeTools::new();
    let path = t.root().join("doc.json");
    // A temporary file left behind by someone else, readable by all.
    let stale = path.with_extension("tmp");
    std::fs::write(&stale, "stale").unwrap();
    std::fs::set_permissions(&stale, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut b = t.backend().with_storage(StoredStateLocation::File(path.clone()));
    b.save_stored_state("private").unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "private");
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn stored_state_file_errors_are_storage_errors() {
    let t = FakeTools::new();
    // Saving into a directory that does not exist.
    let mut b = t.backend().with_storage(StoredStateLocation::File(
        t.root().join("missing-dir").join("doc.json"),
    ));
    assert!(matches!(b.save_stored_state("x"), Err(BackendError::Storage(_))));
    // Loading something that is not a file.
    let mut b = t
        .backend()
        .with_storage(StoredStateLocation::File(t.root().to_path_buf()));
    assert!(matches!(b.load_stored_state(), Err(BackendError::Storage(_))));
}

#[test]
fn stored_state_in_controller_storage() {
    let t = FakeTools::new();
    let mut b = t
        .backend()
        .with_storage(StoredStateLocation::Controller("ensemble".into()));
    t.set_output("state-get", r#"{"ensemble":"{\"version\":1}","other":"x"}"#);
    assert_eq!(b.load_stored_state().unwrap().as_deref(), Some("{\"version\":1}"));
    t.expect(&[&["state-get", "--format=json"]]);

    t.set_output("state-get", r#"{"other":"x"}"#);
    assert_eq!(b.load_stored_state().unwrap(), None);
    t.set_output("state-get", "null");
    assert_eq!(b.load_stored_state().unwrap(), None);
    t.reset();

    b.save_stored_state("{\"version\":2}").unwrap();
    t.expect_with_json_stdin(
        &["state-set", "--file", "-"],
        &json!({"ensemble": "{\"version\":2}"}),
    );
    assert!(
        !t.charm_dir().join(STATE_FILE).exists(),
        "no state file with controller storage"
    );
}

#[test]
fn controller_storage_refuses_documents_over_64_kib() {
    assert_eq!(MAX_CONTROLLER_STATE_VALUE, 64 * 1024);
    let t = FakeTools::new();
    let mut b = t
        .backend()
        .with_storage(StoredStateLocation::Controller("ensemble".into()));
    let too_big = "x".repeat(64 * 1024 + 1);
    assert!(matches!(
        b.save_stored_state(&too_big),
        Err(BackendError::Storage(_))
    ));
    // Bytes count, not characters.
    let too_big_utf8 = "é".repeat(32 * 1024 + 1);
    assert!(matches!(
        b.save_stored_state(&too_big_utf8),
        Err(BackendError::Storage(_))
    ));
    t.expect(&[]);

    let just_fits = "y".repeat(64 * 1024);
    b.save_stored_state(&just_fits).unwrap();
    t.expect_with_json_stdin(&["state-set", "--file", "-"], &json!({ "ensemble": just_fits }));
}

#[test]
fn controller_storage_errors_are_typed() {
    let t = FakeTools::new();
    let mut b = t
        .backend()
        .with_storage(StoredStateLocation::Controller("ensemble".into()));
    t.set_output("state-get", r#"{"ensemble":{"nested":true}}"#);
    assert_output_error(b.load_stored_state(), "state-get");
    t.set_failure("state-set", 1, "ERROR quota exceeded");
    assert!(matches!(
        b.save_stored_state("{}"),
        Err(BackendError::Tool { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// End to end: run_hook over the fake tools
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Greeter;

impl Charm for Greeter {
    fn register(on: &mut Observers<Self>) {
        on.observe("greeter", Self::on_event);
    }
}

impl Greeter {
    fn on_event(&mut self, ctx: &mut Context<'_>, event: &Event) -> HandlerResult {
        let Event::RelationChanged(r) = event else {
            return Err(HandlerError::msg(format!("unexpected event {event:?}")));
        };
        let remote = r
            .remote_unit
            .clone()
            .ok_or_else(|| HandlerError::msg("no remote unit"))?;
        let name = ctx
            .data(r.relation_id, &BagOwner::Unit(remote))?
            .get("name")
            .cloned()
            .unwrap_or_default();
        ctx.set_unit_data(r.relation_id, "greeting", Some(&format!("hello {name}")))?;
        ctx.set_status(Status::active(format!("greeted {name}")))?;
        let n: u32 = ctx.stored("greetings")?;
        ctx.set_stored("greetings", &(n + 1))?;
        if name == "fail" {
            return Err(HandlerError::msg("asked to fail"));
        }
        Ok(())
    }
}

const RELATION_CHANGED: &[(&str, &str)] = &[
    ("JUJU_DISPATCH_PATH", "hooks/db-relation-changed"),
    ("JUJU_RELATION", "db"),
    ("JUJU_RELATION_ID", "db:3"),
    ("JUJU_REMOTE_UNIT", "pg/1"),
    ("JUJU_REMOTE_APP", "pg"),
];

fn run_greeter(t: &FakeTools, storage: Option<StoredStateLocation>) -> Result<charm::HookReport, HookError> {
    let env = t.env(RELATION_CHANGED);
    let meta = Metadata::from_charmcraft_yaml("name: demo\nrequires: {db: {interface: pgsql}}\n").unwrap();
    let event = Event::from_env(&env, &[]).unwrap();
    let mut backend = HookTools::from_env(&env).with_tool_dir(t.bin());
    if let Some(s) = storage {
        backend = backend.with_storage(s);
    }
    let setup = HookSetup {
        unit: env.unit.as_ref().unwrap(),
        meta: &meta,
        juju_version: env.juju_version,
    };
    charm::run_hook(&mut Greeter, &mut backend, setup, &event)
}

fn greeter_calls(name: &str) -> Vec<Vec<String>> {
    let status = format!("greeted {name}");
    common::owned(&[
        &["relation-get", "--format=json", "-r", "db:3", "-", "pg/1"],
        &["relation-set", "-r", "db:3", "--file", "-"],
        &["status-set", "--application=False", "active", "--", &status],
    ])
}

#[test]
fn run_hook_relation_changed_end_to_end() {
    let t = FakeTools::new();
    t.set_output("relation-get", r#"{"name":"alice"}"#);
    let report = run_greeter(&t, None).unwrap();
    assert_eq!(report.handler_calls, 1);
    assert_eq!(report.deferred, 0);

    let calls = t.calls();
    assert_eq!(
        calls.iter().map(|c| c.argv.clone()).collect::<Vec<_>>(),
        greeter_calls("alice")
    );
    assert_eq!(calls[0].stdin, None);
    assert_eq!(calls[1].stdin.as_deref(), Some(r#"{"greeting":"hello alice"}"#));
    assert_eq!(calls[2].stdin, None);

    let path = t.charm_dir().join(STATE_FILE);
    assert_eq!(mode(&path), 0o600);
    let doc = StoredDocument::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(doc.values.get("greetings"), Some(&json!(1)));

    // The next hook loads it.
    t.reset();
    run_greeter(&t, None).unwrap();
    let doc = StoredDocument::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(doc.values.get("greetings"), Some(&json!(2)));
    assert_eq!(t.argvs(), greeter_calls("alice"));
}

#[test]
fn run_hook_failing_handler_writes_no_state() {
    let t = FakeTools::new();
    t.set_output("relation-get", r#"{"name":"fail"}"#);
    match run_greeter(&t, None) {
        Err(HookError::Handler { observer, event, .. }) => {
            assert_eq!(observer, "greeter");
            assert_eq!(event, "db-relation-changed");
        }
        other => panic!("expected a handler error, got {other:?}"),
    }
    // The calls up to the failure ran (Juju discards the relation-set with the hook).
    assert_eq!(t.argvs(), greeter_calls("fail"));
    assert!(
        !t.charm_dir().join(STATE_FILE).exists(),
        "a failed hook leaves no state file"
    );
    let names: Vec<_> = std::fs::read_dir(t.charm_dir()).unwrap().collect();
    assert!(names.is_empty(), "nothing written to the charm dir: {names:?}");

    // With state from an earlier hook, a failing hook leaves it as it was.
    t.set_output("relation-get", r#"{"name":"bob"}"#);
    run_greeter(&t, None).unwrap();
    let path = t.charm_dir().join(STATE_FILE);
    let before = std::fs::read_to_string(&path).unwrap();
    t.set_output("relation-get", r#"{"name":"fail"}"#);
    assert!(run_greeter(&t, None).is_err());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
}

#[test]
fn run_hook_with_controller_storage_end_to_end() {
    let storage = StoredStateLocation::Controller("ensemble".into());
    let t = FakeTools::new();
    t.set_output("relation-get", r#"{"name":"carol"}"#);
    t.set_output(
        "state-get",
        &json!({"ensemble": r#"{"version":1,"values":{"greetings":41},"deferred":[]}"#}).to_string(),
    );
    run_greeter(&t, Some(storage.clone())).unwrap();
    let calls = t.calls();
    let mut want = vec![common::owned(&[&["state-get", "--format=json"]]).remove(0)];
    want.extend(greeter_calls("carol"));
    want.extend(common::owned(&[&["state-set", "--file", "-"]]));
    assert_eq!(calls.iter().map(|c| c.argv.clone()).collect::<Vec<_>>(), want);
    let stdin: BTreeMap<String, String> = serde_json::from_str(calls[4].stdin.as_deref().unwrap()).unwrap();
    assert_eq!(stdin.keys().collect::<Vec<_>>(), ["ensemble"]);
    let doc = StoredDocument::parse(&stdin["ensemble"]).unwrap();
    assert_eq!(doc.values.get("greetings"), Some(&json!(42)));

    // A failing handler: no state-set.
    t.reset();
    t.set_output("relation-get", r#"{"name":"fail"}"#);
    assert!(run_greeter(&t, Some(storage)).is_err());
    let tools: Vec<String> = t.argvs().into_iter().map(|a| a[0].clone()).collect();
    assert_eq!(tools, ["state-get", "relation-get", "relation-set", "status-set"]);
}

#[test]
fn storage_tools_argv_and_untrusted_output() {
    let t = FakeTools::new();
    let mut b = t.backend();
    t.set_output("storage-list", r#"["data/0","data/12"]"#);
    let ids = b.storage_list("data").unwrap();
    assert_eq!(
        ids.iter().map(|i| i.to_string()).collect::<Vec<_>>(),
        ["data/0", "data/12"]
    );
    t.set_output("storage-get", r#"{"kind":"block","location":"/dev/vdb"}"#);
    let info = b.storage_get(&ids[1]).unwrap();
    assert_eq!(
        (info.kind.as_str(), info.location.to_str()),
        ("block", Some("/dev/vdb"))
    );
    t.set_output("storage-add", "");
    b.storage_add("data", 3).unwrap();
    t.expect(&[
        &["storage-list", "--format=json", "data"],
        &["storage-get", "--format=json", "-s", "data/12"],
        &["storage-add", "data=3"],
    ]);
    for bad in [r#"["data"]"#, r#"["../x/1"]"#, r#"[1]"#, "{"] {
        t.set_output("storage-list", bad);
        assert!(
            matches!(b.storage_list("data"), Err(BackendError::Output { .. })),
            "{bad}"
        );
    }
    for bad in [r#"{"kind":1}"#, r#"["x"]"#, "nope"] {
        t.set_output("storage-get", bad);
        assert!(
            matches!(b.storage_get(&ids[0]), Err(BackendError::Output { .. })),
            "{bad}"
        );
    }
}
