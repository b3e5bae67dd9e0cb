//! Every tool through `parse` → `execute` (in-memory backend) → `render`, in the argv forms
//! Python `ops` and charmhelpers use, with the output parsed back; and every bad input refused
//! with Juju's message and nothing applied.

mod common;

use charm::testing::{Memory, State};
use charm::*;
use common::*;
use hook_tools::{execute, parse, HookContextInfo, Request, Response, TOOLS};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// One unit's hook: an in-memory backend (calls recorded) and what the agent knows of the hook.
struct Hook {
    b: Recorder<Memory<'static>>,
    hook: HookContextInfo,
}

impl Hook {
    fn new(state: State, hook: HookContextInfo) -> Self {
        let meta = meta();
        Self {
            b: Recorder::new(Memory::new(state, &meta, hook.unit.clone(), None)),
            hook,
        }
    }

    /// A hook with no relation (`config-changed`).
    fn plain(leader: bool) -> Self {
        Self::new(state(leader), HookContextInfo::new(unit("app/0")))
    }

    /// `db-relation-changed` from `pg/0`.
    fn relation(leader: bool) -> Self {
        Self::new(
            state(leader),
            HookContextInfo::new(unit("app/0"))
                .with_relation("db", RelationId(3))
                .with_remote_unit(unit("pg/0")),
        )
    }

    fn call_with(
        &mut self,
        tool: &str,
        a: &[&str],
        stdin: Option<&[u8]>,
        files: &[(&str, &[u8])],
    ) -> Response {
        let files: BTreeMap<String, Vec<u8>> =
            files.iter().map(|(k, v)| (k.to_string(), v.to_vec())).collect();
        match parse(tool, &args(a), stdin, &files) {
            Ok(req) => execute(&mut self.b, &self.hook, req),
            Err(e) => e.to_response(),
        }
    }

    fn call(&mut self, tool: &str, a: &[&str]) -> Response {
        self.call_with(tool, a, None, &[])
    }

    /// Runs a call that must succeed; returns its standard output.
    #[track_caller]
    fn ok(&mut self, tool: &str, a: &[&str]) -> String {
        let r = self.call(tool, a);
        assert_eq!(r.code, 0, "{tool} {a:?}: {}", r.stderr);
        r.stdout
    }

    /// Runs a call that must succeed and print JSON; returns it parsed.
    #[track_caller]
    fn json(&mut self, tool: &str, a: &[&str]) -> Value {
        let out = self.ok(tool, a);
        assert!(out.ends_with('\n') && out.matches('\n').count() == 1, "{out:?}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{tool} {a:?} printed {out:?}: {e}"))
    }

    /// Runs a call that must fail with `code` and `message`; checks that it changed nothing.
    #[track_caller]
    fn refused(&mut self, tool: &str, a: &[&str], code: i32, message: &str) {
        self.refused_with(tool, a, None, &[], code, message)
    }

    #[track_caller]
    fn refused_with(
        &mut self,
        tool: &str,
        a: &[&str],
        stdin: Option<&[u8]>,
        files: &[(&str, &[u8])],
        code: i32,
        message: &str,
    ) {
        let before = self.b.inner.txn.clone();
        let calls = self.b.calls.len();
        let r = self.call_with(tool, a, stdin, files);
        assert_eq!(
            (r.code, r.stderr.as_str(), r.stdout.as_str()),
            (code, format!("ERROR {message}\n").as_str(), ""),
            "{tool} {a:?}"
        );
        assert_eq!(self.b.inner.txn, before, "{tool} {a:?} changed the model");
        let changed: Vec<&Call> = self.b.calls[calls..]
            .iter()
            .filter(|c| {
                !c.0.contains("_get") && !c.0.starts_with("is_leader") && !c.0.starts_with("relation_")
            })
            .collect();
        assert!(changed.is_empty(), "{tool} {a:?} made calls {changed:?}");
    }

    fn state(&self) -> &State {
        &self.b.inner.txn
    }

    fn calls(&self) -> Vec<String> {
        self.b.calls.iter().map(|c| c.0.clone()).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// relation-get / relation-set / relation-ids / relation-list
// ---------------------------------------------------------------------------------------------

#[test]
fn relation_get_in_every_form() {
    let mut h = Hook::relation(true);
    // ops
    assert_eq!(
        h.json("relation-get", &["--format=json", "-r", "db:3", "-", "pg/0"]),
        json!({"host": "10.0.0.9", "port": "5432"})
    );
    assert_eq!(
        h.json(
            "relation-get",
            &["--format=json", "-r", "db:3", "--app", "-", "pg"]
        ),
        json!({"database": "appdb", "password": "s3cret"})
    );
    assert_eq!(
        h.json("relation-get", &["--format=json", "-r", "db:3", "host", "pg/1"]),
        json!("10.0.0.10")
    );
    // charmhelpers: bare ids, smart output, the key first
    assert_eq!(h.ok("relation-get", &["-r", "3", "port", "pg/0"]), "5432\n");
    assert_eq!(
        h.ok("relation-get", &["--format", "json", "-r", "3", "port", "pg/0"]),
        "\"5432\"\n"
    );
    // defaults from the hook: its relation and remote unit
    assert_eq!(
        h.json("relation-get", &["--format=json"]),
        json!({"host": "10.0.0.9", "port": "5432"})
    );
    assert_eq!(h.ok("relation-get", &["host"]), "10.0.0.9\n");
    assert_eq!(h.ok("relation-get", &["-", "pg/1"]), "host: \"10.0.0.10\"\n");
    // --app with a unit name reads that unit's application
    assert_eq!(h.ok("relation-get", &["--app", "database", "pg/0"]), "appdb\n");
    assert_eq!(
        h.json("relation-get", &["--app", "--format=json", "database"]),
        json!("appdb")
    );
    // this unit's own bag and this application's (leader)
    assert_eq!(
        h.json("relation-get", &["--format=json", "-", "app/0"]),
        json!({"ingress-address": "10.0.0.1"})
    );
    assert_eq!(
        h.json("relation-get", &["--format=json", "--app", "-", "app"]),
        json!({"schema": "v1"})
    );
    // a key nobody set
    assert_eq!(h.ok("relation-get", &["--format=json", "nope", "pg/0"]), "null\n");
    assert_eq!(h.ok("relation-get", &["nope", "pg/0"]), "");
    // yaml parses back to the same map
    let y = h.ok("relation-get", &["--format=yaml", "-", "pg/0"]);
    let back: BTreeMap<String, String> = serde_yaml_ng::from_str(&y).unwrap();
    assert_eq!(back, bag(&[("host", "10.0.0.9"), ("port", "5432")]));
}

#[test]
fn relation_get_defaults_to_the_remote_app_in_an_app_bag_change() {
    let hook = HookContextInfo::new(unit("app/0"))
        .with_relation("db", RelationId(3))
        .with_remote_app(app("pg"));
    let mut h = Hook::new(state(false), hook);
    assert_eq!(
        h.json("relation-get", &["--format=json"]),
        json!({"database": "appdb", "password": "s3cret"})
    );
}

#[test]
fn relation_get_refusals() {
    let mut h = Hook::plain(false);
    h.refused("relation-get", &["-", "pg/0"], 2, "no relation id specified");
    h.refused(
        "relation-get",
        &["-r", "3"],
        2,
        "no unit or application specified",
    );
    h.refused(
        "relation-get",
        &["-r", "7", "-", "pg/0"],
        2,
        "invalid value \"7\" for option -r: relation not found",
    );
    h.refused(
        "relation-get",
        &["-r", "db:x", "-", "pg/0"],
        2,
        "invalid value \"db:x\" for option -r: invalid relation id",
    );
    h.refused(
        "relation-get",
        &["-r", "3", "-", "pg"],
        2,
        "invalid unit name \"pg\"; use --app to read an application's settings",
    );
    h.refused(
        "relation-get",
        &["-r", "3", "--bogus"],
        2,
        "option provided but not defined: --bogus",
    );
    h.refused(
        "relation-get",
        &["-r", "3", "a", "pg/0", "extra"],
        2,
        "unrecognized args: [\"extra\"]",
    );
    h.refused(
        "relation-get",
        &["--format=xml", "-r", "3"],
        2,
        "invalid value \"xml\" for option --format: unknown format \"xml\"",
    );
    // A non-leader reads its own application's bag only in a peer relation.
    h.refused(
        "relation-get",
        &["-r", "3", "--app", "-", "app"],
        1,
        "permission denied",
    );
    assert_eq!(
        h.json("relation-get", &["--format=json", "-r", "1", "--app", "-", "app"]),
        json!({"seed": "xyz"})
    );
}

#[test]
fn relation_set_in_every_form() {
    let mut h = Hook::relation(true);
    // charmhelpers' argument form, an empty value deleting
    h.ok("relation-set", &["-r", "3", "user=app", "ingress-address="]);
    assert_eq!(
        h.state().relation(3).unwrap().local_unit_data,
        bag(&[("user", "app")])
    );
    // ops: JSON on stdin, `endpoint:id`
    let r = h.call_with(
        "relation-set",
        &["-r", "db:3", "--app", "--file", "-"],
        Some(br#"{"schema": "v2", "dsn": "postgres://u@h/db?x=1"}"#),
        &[],
    );
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    assert_eq!(
        h.state().relation(3).unwrap().local_app_data,
        bag(&[("schema", "v2"), ("dsn", "postgres://u@h/db?x=1")])
    );
    // charmhelpers: yaml.safe_dump to a file, then `--file <path>`; arguments override it
    let r = h.call_with(
        "relation-set",
        &["--file", "/tmp/tmpab12.yaml", "b=override"],
        None,
        &[("/tmp/tmpab12.yaml", b"a: '1'\nb: '2'\nc: null\nuser: null\n")],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        h.state().relation(3).unwrap().local_unit_data,
        bag(&[("a", "1"), ("b", "override")])
    );
    // the deprecated --format is accepted, with a warning
    let r = h.call("relation-set", &["--format=json", "d=4"]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (0, "--format flag deprecated for command \"relation-set\"")
    );
    // reads see the writes
    assert_eq!(
        h.json("relation-get", &["--format=json", "-", "app/0"]),
        json!({"a": "1", "b": "override", "d": "4"})
    );
    // an empty `--file -` changes nothing and is fine
    assert_eq!(
        h.call_with("relation-set", &["--file", "-"], Some(b""), &[]).code,
        0
    );
}

#[test]
fn relation_set_refusals_change_nothing() {
    let mut h = Hook::relation(false);
    h.refused(
        "relation-set",
        &["-r", "3", "--app", "k=v"],
        1,
        "cannot write relation settings",
    );
    h.refused(
        "relation-set",
        &["-r", "7", "k=v"],
        2,
        "invalid value \"7\" for option -r: relation not found",
    );
    h.refused(
        "relation-set",
        &["k=v", "novalue"],
        2,
        "expected \"key=value\", got \"novalue\"",
    );
    h.refused("relation-set", &["=v"], 2, "expected \"key=value\", got \"=v\"");
    h.refused(
        "relation-set",
        &["a=1", "a=2"],
        2,
        "key \"a\" specified more than once",
    );
    // There is no way to name another unit's bag: relation-set writes this unit's (or, for the
    // leader, this application's).
    h.refused(
        "relation-set",
        &["--unit", "pg/0", "k=v"],
        2,
        "option provided but not defined: --unit",
    );
    h.refused("relation-set", &["--file"], 2, "option needs an argument: --file");
    h.refused_with(
        "relation-set",
        &["--file", "/tmp/gone.yaml"],
        None,
        &[],
        1,
        "open /tmp/gone.yaml: no such file or directory",
    );
    for bad in [
        &b"{\"a\": 1,"[..],
        b"a: {b: c}\n",
        b"[1, 2]",
        b"a: b: c\n",
        b"\xc3\x28",
    ] {
        let r = h.call_with("relation-set", &["--file", "-", "x=y"], Some(bad), &[]);
        assert_eq!(r.code, 1, "{bad:?}");
        assert!(
            r.stderr.starts_with("ERROR cannot parse settings: "),
            "{}",
            r.stderr
        );
    }
    assert_eq!(h.state(), &state(false));
    assert!(h.calls().is_empty(), "{:?}", h.calls());
}

#[test]
fn relation_set_refuses_a_bag_over_16_mib() {
    let mut h = Hook::relation(true);
    let big = "x".repeat(hook_tools::MAX_BAG_BYTES);
    let arg = format!("blob={big}");
    h.refused(
        "relation-set",
        &[&arg],
        1,
        "cannot write relation settings: max allowed total size (16777216): quota limit exceeded",
    );
    // Alone it would fit; with what the bag holds already it does not: the backend refuses.
    let near = format!("blob={}", "x".repeat(hook_tools::MAX_BAG_BYTES - 10));
    let r = h.call("relation-set", &[&near]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("exceeds the limit of 16777216"), "{}", r.stderr);
    assert_eq!(h.state(), &state(true));
    // Deleting keys makes room: the same write fits once the bag is emptied.
    let r = h.call("relation-set", &[&near, "ingress-address="]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn relation_ids_and_relation_list() {
    let mut h = Hook::relation(true);
    assert_eq!(h.json("relation-ids", &["db", "--format=json"]), json!(["db:3"]));
    assert_eq!(
        h.json("relation-ids", &["--format=json", "cluster"]),
        json!(["cluster:1"])
    );
    assert_eq!(h.json("relation-ids", &["--format=json", "website"]), json!([]));
    assert_eq!(
        h.ok("relation-ids", &[]),
        "db:3\n",
        "the hook's endpoint by default"
    );
    assert_eq!(
        h.json("relation-list", &["--format=json", "-r", "db:3"]),
        json!(["pg/0", "pg/1"])
    );
    assert_eq!(h.ok("relation-list", &[]), "pg/0\npg/1\n");
    assert_eq!(
        h.ok("relation-list", &["--format=json", "--app", "-r", "db:3"]),
        "\"pg\"\n"
    );
    assert_eq!(h.ok("relation-list", &["--app", "-r", "1"]), "app\n");
    let mut h = Hook::plain(true);
    h.refused("relation-ids", &[], 2, "no endpoint name specified");
    h.refused("relation-list", &[], 2, "no relation id specified");
    h.refused(
        "relation-list",
        &["-r", "9"],
        2,
        "invalid value \"9\" for option -r: relation not found",
    );
    h.refused("relation-ids", &["a", "b"], 2, "unrecognized args: [\"b\"]");
}

// ---------------------------------------------------------------------------------------------
// Leadership, config, status, logs
// ---------------------------------------------------------------------------------------------

#[test]
fn is_leader_leader_get_leader_set() {
    let mut h = Hook::plain(true);
    assert_eq!(h.json("is-leader", &["--format=json"]), json!(true));
    assert_eq!(h.ok("is-leader", &[]), "True\n");
    assert_eq!(h.ok("is-leader", &["--format=yaml"]), "true\n");
    assert_eq!(
        h.json("leader-get", &["--format=json", "-"]),
        json!({"mode": "ha", "leader-ip": "10.0.0.1"})
    );
    assert_eq!(h.ok("leader-get", &["mode"]), "ha\n");
    assert_eq!(h.ok("leader-get", &["--format=json", "nope"]), "null\n");
    h.ok("leader-set", &["mode=", "token=a=b", "empty-later="]);
    assert_eq!(
        h.state().leader_settings,
        bag(&[("leader-ip", "10.0.0.1"), ("token", "a=b")])
    );
    // leader-set is immediate: it is in the committed state too.
    assert_eq!(h.b.inner.committed.leader_settings, h.state().leader_settings);

    let mut h = Hook::plain(false);
    assert_eq!(h.ok("is-leader", &["--format=json"]), "false\n");
    assert_eq!(h.ok("is-leader", &[]), "False\n");
    h.refused(
        "leader-set",
        &["mode=solo"],
        1,
        "cannot write leadership settings: cannot write settings: not the leader",
    );
    h.refused("leader-set", &["mode"], 2, "expected \"key=value\", got \"mode\"");
}

#[test]
fn config_get() {
    let mut h = Hook::plain(false);
    let all = json!({"name": "web", "port": 8080, "ratio": 0.25, "debug": false});
    assert_eq!(h.json("config-get", &["--format=json"]), all);
    assert_eq!(h.json("config-get", &["--format=json", "--all"]), all);
    assert_eq!(h.json("config-get", &["-a", "--format=json"]), all);
    assert_eq!(h.json("config-get", &["--format=json", "port"]), json!(8080));
    assert_eq!(h.ok("config-get", &["port"]), "8080\n");
    assert_eq!(h.ok("config-get", &["debug"]), "False\n");
    assert_eq!(h.ok("config-get", &["--format=json", "token"]), "null\n");
    assert_eq!(h.ok("config-get", &["token"]), "");
    let y: BTreeMap<String, serde_yaml_ng::Value> =
        serde_yaml_ng::from_str(&h.ok("config-get", &[])).unwrap();
    assert_eq!(y["port"], serde_yaml_ng::Value::from(8080));
    h.refused(
        "config-get",
        &["--all", "port"],
        2,
        "cannot use argument --all together with key \"port\"",
    );
}

#[test]
fn status_set_and_status_get() {
    let mut h = Hook::plain(true);
    // ops
    h.ok(
        "status-set",
        &["--application=True", "blocked", "--", "-need a db"],
    );
    h.ok(
        "status-set",
        &["--application=False", "maintenance", "--", "installing"],
    );
    assert_eq!(h.state().app_status, Status::blocked("-need a db"));
    assert_eq!(h.state().unit_status, Status::maintenance("installing"));
    // charmhelpers
    h.ok("status-set", &["active", "ready"]);
    h.ok("status-set", &["--application", "waiting"]);
    assert_eq!(h.state().unit_status, Status::active("ready"));
    assert_eq!(h.state().app_status, Status::waiting(""));
    // status is immediate
    assert_eq!(h.b.inner.committed.unit_status, Status::active("ready"));

    assert_eq!(
        h.json(
            "status-get",
            &["--include-data", "--format=json", "--application=false"]
        ),
        json!({"status": "active", "message": "ready", "status-data": {}})
    );
    assert_eq!(
        h.json(
            "status-get",
            &["--include-data", "--format=json", "--application=true"]
        ),
        json!({"application-status": {"status": "waiting", "message": "", "status-data": {},
            "units": {"app/0": {"status": "active", "message": "ready", "status-data": {}}}}})
    );
    assert_eq!(h.ok("status-get", &[]), "active\n");
    assert_eq!(
        h.json("status-get", &["--format=json"]),
        json!({"status": "active"})
    );

    h.refused(
        "status-set",
        &["error", "x"],
        2,
        "invalid status \"error\", expected one of [maintenance blocked waiting active]",
    );
    h.refused(
        "status-set",
        &[],
        2,
        "invalid args, require <status> [message] [data]",
    );
    h.refused(
        "status-set",
        &["active", "a", "b"],
        2,
        "unrecognized args: [\"b\"]",
    );
    h.refused("status-set", &["--application=maybe", "active"], 2, "invalid value \"maybe\" for option --application: strconv.ParseBool: parsing \"maybe\": invalid syntax");
    let mut h = Hook::plain(false);
    h.refused(
        "status-set",
        &["--application", "active"],
        1,
        "this unit is not the leader",
    );
    h.refused(
        "status-get",
        &["--application", "--format=json"],
        1,
        "finding application status: this unit is not the leader",
    );
}

#[test]
fn juju_log_in_every_form() {
    let mut h = Hook::plain(false);
    h.ok("juju-log", &["--log-level", "WARNING", "--", "-a message"]);
    h.ok("juju-log", &["-l", "DEBUG", "two", "words"]);
    h.ok("juju-log", &["--debug", "dbg"]);
    h.ok("juju-log", &["plain"]);
    h.ok("juju-log", &["-l", "CRITICAL", "crit"]);
    let r = h.call("juju-log", &["--log-level=LOUD", "odd"]);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    let r = h.call("juju-log", &["--format=json", "old"]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (0, "--format flag deprecated for command \"juju-log\"")
    );
    assert_eq!(
        h.calls(),
        [
            "juju_log(Warning, \"-a message\")",
            "juju_log(Debug, \"two words\")",
            "juju_log(Debug, \"dbg\")",
            "juju_log(Info, \"plain\")",
            "juju_log(Error, \"crit\")",
            "juju_log(Warning, \"Specified log level of \\\"LOUD\\\" is not valid\")",
            "juju_log(Info, \"odd\")",
            "juju_log(Info, \"old\")",
        ]
    );
    h.refused("juju-log", &[], 2, "no message specified");
    h.refused("juju-log", &["-l"], 2, "option needs an argument: -l");
}

// ---------------------------------------------------------------------------------------------
// Controller state
// ---------------------------------------------------------------------------------------------

#[test]
fn state_get_set_delete() {
    let mut h = Hook::plain(false);
    assert_eq!(h.json("state-get", &["--format=json"]), json!({"k1": "v1"}));
    assert_eq!(h.ok("state-get", &["k1"]), "v1\n");
    assert_eq!(h.ok("state-get", &["-"]), "k1: v1\n");
    assert_eq!(h.ok("state-get", &["--format=json", "nope"]), "\"\"\n");
    // ops' JujuStorage writes YAML to `state-set --file -`
    let r = h.call_with(
        "state-set",
        &["--file", "-"],
        Some(b"\"#notices#\": '[]'\nStoredStateData[_stored]: '{n: 2}'\n"),
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    h.ok("state-set", &["k2=v2", "k3="]);
    h.ok("state-delete", &["k1"]);
    assert_eq!(
        h.json("state-get", &["--format=json"]),
        json!({"#notices#": "[]", "StoredStateData[_stored]": "{n: 2}", "k2": "v2", "k3": ""})
    );
    h.refused("state-get", &["--strict", "nope"], 1, "\"nope\" not found");
    h.refused("state-delete", &[], 2, "no key specified");
    let long_key = format!("{}=v", "k".repeat(257));
    h.refused(
        "state-set",
        &["ok=1", &long_key],
        1,
        "max allowed key length (256): quota limit exceeded",
    );
    let long_value = format!("k={}", "v".repeat(64 * 1024 + 1));
    h.refused(
        "state-set",
        &["ok=1", &long_value],
        1,
        "max allowed value length (65536): quota limit exceeded",
    );
}

// ---------------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------------

const SECRET: &str = "secret:cq0a1b2c3d4e5f6g7h8i";

#[test]
fn secret_add_content_forms() {
    let mut h = Hook::plain(true);
    // ops: every value from a private file, the owner explicit
    let out = h.call_with(
        "secret-add",
        &[
            "--label",
            "tls",
            "--description",
            "the cert",
            "--expire",
            "2030-01-01T00:00:00Z",
            "--rotate",
            "monthly",
            "--owner",
            "unit",
            "cert#file=/tmp/ensemble-secret-x/cert",
            "key-pem#file=/tmp/ensemble-secret-x/key-pem",
        ],
        None,
        &[
            ("/tmp/ensemble-secret-x/cert", b"-----BEGIN CERT-----\n"),
            ("/tmp/ensemble-secret-x/key-pem", b"k=="),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let id = out.stdout.trim().to_owned();
    let s = h.state().secrets.iter().find(|s| s.id == id).unwrap().clone();
    assert_eq!(s.label.as_deref(), Some("tls"));
    assert_eq!(s.owner, SecretOwner::Unit);
    assert_eq!(s.rotate.as_deref(), Some("monthly"));
    assert_eq!(s.expire.as_deref(), Some("2030-01-01T00:00:00Z"));
    assert_eq!(
        s.revisions[0].0,
        bag(&[("cert", "-----BEGIN CERT-----\n"), ("key-pem", "k==")])
    );
    // plain values, base64 values (padding and all), and a YAML file
    let out = h.call_with(
        "secret-add",
        &["user=admin", "token#base64=czNjcmV0Lw==", "--file", "extra.yaml"],
        None,
        &[("extra.yaml", b"from-file: yes\n")],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let id2 = out.stdout.trim().to_owned();
    assert_eq!(
        h.json("secret-get", &["--format=json", &id2]),
        json!({"user": "admin", "token": "s3cret/", "from-file": "yes"})
    );
    assert_eq!(h.ok("secret-get", &[&id2, "token"]), "s3cret/\n");
    assert_eq!(h.ok("secret-get", &[&id2, "token#base64"]), "czNjcmV0Lw==\n");
    // The default YAML quotes what a YAML 1.1 reader would take for a boolean.
    assert_eq!(
        h.ok("secret-get", &[&id2]),
        "from-file: \"yes\"\ntoken: s3cret/\nuser: admin\n"
    );
}

#[test]
fn secret_add_refusals_create_nothing() {
    let mut h = Hook::plain(true);
    h.refused("secret-add", &[], 2, "missing secret value or filename");
    h.refused("secret-add", &["ab=x"], 2, "key \"ab\" not valid");
    h.refused("secret-add", &["Password=x"], 2, "key \"Password\" not valid");
    h.refused("secret-add", &["novalue"], 2, "key value \"novalue\" not valid");
    h.refused(
        "secret-add",
        &["--owner", "model", "pass=x"],
        2,
        "secret owner \"model\" not valid",
    );
    h.refused(
        "secret-add",
        &["--rotate", "often", "pass=x"],
        2,
        "rotate policy \"often\" not valid",
    );
    h.refused(
        "secret-add",
        &["--expire", "soon", "pass=x"],
        2,
        "expire time or duration \"soon\" not valid",
    );
    h.refused(
        "secret-add",
        &["pass#base64=!!!"],
        2,
        "secret value for key \"pass\" is not valid base64",
    );
    h.refused(
        "secret-add",
        &["pass#file=/nope"],
        1,
        "reading content for secret key \"pass\": open /nope: no such file or directory",
    );
    h.refused_with(
        "secret-add",
        &["blob#file=/bin"],
        None,
        &[("/bin", &[0xff, 0xfe])],
        1,
        "secret content for key \"blob\" is not UTF-8 text, which this simulator keeps secrets as",
    );
    let big = format!("pass={}", "x".repeat(8 * 1024 + 1));
    h.refused(
        "secret-add",
        &[&big],
        2,
        "secret content for key \"pass\" too large: 8193 bytes",
    );
    let mut h = Hook::plain(false);
    h.refused("secret-add", &["pass=x"], 1, "this unit is not the leader");
    h.ok("secret-add", &["--owner", "unit", "pass=x"]);
}

#[test]
fn secret_get_info_ids_set_grant_revoke_remove() {
    let mut h = Hook::relation(true);
    assert_eq!(
        h.json("secret-get", &["--format=json", SECRET]),
        json!({"password": "one"})
    );
    assert_eq!(
        h.json("secret-get", &["--format=json", "--label", "db-creds", "--peek"]),
        json!({"password": "two"})
    );
    assert_eq!(
        h.ok("secret-get", &[SECRET, "password"]),
        "one\n",
        "peek does not track"
    );
    assert_eq!(
        h.json("secret-get", &["--format=json", SECRET, "--refresh"]),
        json!({"password": "two"})
    );
    assert_eq!(
        h.ok("secret-get", &[SECRET, "password"]),
        "two\n",
        "refresh tracks"
    );
    // ops' form for "this id, and give it this label"
    h.ok("secret-get", &["--format=json", SECRET, "--label", "relabelled"]);
    assert_eq!(h.state().secrets[0].label.as_deref(), Some("relabelled"));

    assert_eq!(
        h.json("secret-info-get", &["--format=json", SECRET]),
        json!({"cq0a1b2c3d4e5f6g7h8i": {"revision": 2, "label": "relabelled", "owner": "application",
            "description": "the database", "rotation": "daily"}})
    );
    assert_eq!(
        h.json("secret-info-get", &["--format=json", "--label", "relabelled"]),
        h.json("secret-info-get", &["--format=json", SECRET])
    );
    assert_eq!(h.json("secret-ids", &["--format=json"]), json!([SECRET]));
    assert_eq!(h.ok("secret-ids", &[]), format!("- {SECRET}\n"));

    h.ok(
        "secret-set",
        &[SECRET, "password=three", "--description", "rotated"],
    );
    assert_eq!(h.state().secrets[0].revisions.len(), 3);
    assert_eq!(h.state().secrets[0].description.as_deref(), Some("rotated"));
    h.ok("secret-set", &["--label", "again", SECRET]);
    assert_eq!(
        h.state().secrets[0].revisions.len(),
        3,
        "options only: no new revision"
    );
    h.ok("secret-grant", &[SECRET, "--unit", "pg/0"]); // the hook's relation by default
    h.ok("secret-grant", &["-r", "1", SECRET]);
    assert_eq!(
        h.state().secrets[0].grants,
        vec![(RelationId(3), Some(unit("pg/0"))), (RelationId(1), None)]
    );
    h.ok("secret-revoke", &["--relation", "db:3", "--unit", "pg/0", SECRET]);
    h.ok("secret-revoke", &["-r", "1", "--app", "app", SECRET]);
    assert!(h.state().secrets[0].grants.is_empty());
    h.ok("secret-remove", &[SECRET, "--revision", "1"]);
    assert!(h.state().secrets[0].revisions[0].0.is_empty());
    h.ok("secret-remove", &[SECRET]);
    assert!(h.state().secrets.is_empty());

    h.refused(
        "secret-get",
        &["--format=json", SECRET],
        1,
        &format!("secret {SECRET:?} not found"),
    );
    h.refused("secret-get", &["--label", "gone"], 1, "secret \"gone\" not found");
    h.refused("secret-get", &[], 2, "require either a secret URI or label");
    h.refused(
        "secret-get",
        &["--label", "x", "--peek", "--refresh"],
        2,
        "specify one of --peek or --refresh but not both",
    );
    h.refused(
        "secret-get",
        &["not-a-uri"],
        2,
        "secret URI \"not-a-uri\" not valid",
    );
    h.refused(
        "secret-info-get",
        &[SECRET, "--label", "x"],
        2,
        "specify either a secret URI or label but not both",
    );
    h.refused(
        "secret-grant",
        &[SECRET, "-r", "9"],
        2,
        "invalid value \"9\" for option -r: relation not found",
    );
    h.refused(
        "secret-revoke",
        &[SECRET, "--app", "pg", "--unit", "pg/0"],
        2,
        "specify only one of application or unit",
    );
    h.refused(
        "secret-remove",
        &[SECRET, "--revision", "0"],
        2,
        "invalid value \"0\" for option --revision: revision must be a positive integer",
    );
    h.refused("secret-set", &[], 2, "missing secret URI");
}

// ---------------------------------------------------------------------------------------------
// Actions, workload version, goal state, ports, network, reboot, juju-exec
// ---------------------------------------------------------------------------------------------

#[test]
fn action_tools() {
    let mut h = Hook::new(
        state(false),
        HookContextInfo::new(unit("app/0")).with_action("backup"),
    );
    assert_eq!(
        h.json("action-get", &["--format=json"]),
        json!({"target": "s3", "opts": {"level": 3, "fast": true}})
    );
    assert_eq!(h.ok("action-get", &["opts.level"]), "3\n");
    assert_eq!(h.ok("action-get", &["opts.fast"]), "True\n");
    assert_eq!(h.ok("action-get", &["--format=json", "opts.nope"]), "null\n");
    h.ok("action-set", &["outfile.size=10G", "result=a=b", "n-1.x2=ok"]);
    h.ok("action-log", &["50%", "done"]);
    h.ok("action-fail", &["it broke"]);
    h.ok("action-fail", &[]);
    assert_eq!(
        &h.calls()[4..],
        [
            "action_set({\"n-1.x2\": \"ok\", \"outfile.size\": \"10G\", \"result\": \"a=b\"})",
            "action_log(\"50% done\")",
            "action_fail(\"it broke\")",
            "action_fail(\"\")",
        ]
    );
    h.refused(
        "action-set",
        &["Out=1"],
        2,
        "key \"Out\" must start and end with lowercase alphanumeric, and contain only lowercase alphanumeric, hyphens and periods",
    );
    h.refused("action-set", &["a..b=1"], 2, "key \"\" must start and end with lowercase alphanumeric, and contain only lowercase alphanumeric, hyphens and periods");
    h.refused(
        "action-set",
        &["novalue"],
        2,
        "argument \"novalue\" must be of the form key...=value",
    );
    h.refused("action-fail", &["a", "b"], 2, "unrecognized args: [\"b\"]");
    h.refused("action-log", &[], 2, "no message specified");
    h.refused(
        "juju-reboot",
        &[],
        1,
        "juju-reboot is not supported when running an action",
    );
    let mut h = Hook::plain(false);
    for (tool, a) in [
        ("action-get", &[][..]),
        ("action-set", &["a=b"][..]),
        ("action-fail", &["x"][..]),
        ("action-log", &["x"][..]),
    ] {
        h.refused(tool, a, 1, "not running an action");
    }
}

#[test]
fn version_goal_state_ports() {
    let mut h = Hook::plain(false);
    h.ok("application-version-set", &["--", "-1.2.3"]);
    assert_eq!(h.state().workload_version, "-1.2.3");
    h.refused("application-version-set", &[], 2, "no version specified");
    let g = h.json("goal-state", &["--format=json"]);
    assert_eq!(g["units"]["app/0"]["status"], "active");
    assert_eq!(g["units"]["app/1"]["status"], "active");
    assert_eq!(g["relations"]["db"]["pg/0"]["status"], "active");
    let parsed: GoalState = serde_json::from_value(g).unwrap();
    assert_eq!(parsed.planned_units(), 2);
    let y: GoalState = serde_yaml_ng::from_str(&h.ok("goal-state", &[])).unwrap();
    assert_eq!(y, parsed);

    h.ok("open-port", &["8000-8999/udp"]);
    h.ok("open-port", &["--endpoints", "website,db", "icmp"]);
    h.ok("close-port", &["80/tcp"]);
    h.ok("open-port", &["443"]);
    assert_eq!(
        h.json("opened-ports", &["--format=json"]),
        json!(["icmp", "443/tcp", "8000-8999/udp"])
    );
    assert_eq!(h.ok("opened-ports", &[]), "icmp\n443/tcp\n8000-8999/udp\n");
    assert_eq!(
        h.ok("opened-ports", &["--endpoints"]),
        "icmp (*)\n443/tcp (*)\n8000-8999/udp (*)\n"
    );
    assert!(h
        .calls()
        .contains(&"open_port(icmp, [\"website\", \"db\"])".to_owned()));
    h.refused(
        "open-port",
        &["99999/tcp"],
        2,
        "expected <port>[/<protocol>] or <from>-<to>[/<protocol>] or icmp; got \"99999/tcp\"",
    );
    h.refused("close-port", &[], 2, "no port or range specified");
}

#[test]
fn network_get_forms() {
    let mut h = Hook::relation(false);
    let full = h.json("network-get", &["--format=json", "db"]);
    assert_eq!(full["ingress-addresses"], json!(["10.0.0.1"]));
    assert_eq!(full["bind-addresses"][0]["addresses"][0]["value"], "10.0.0.1");
    assert_eq!(h.json("network-get", &["--format=json", "-r", "3", "db"]), full);
    // charmhelpers: `--format yaml`, and the one-value flags
    let y: Value = serde_yaml_ng::from_str(&h.ok("network-get", &["db", "--format", "yaml"])).unwrap();
    assert_eq!(y, full);
    assert_eq!(h.ok("network-get", &["db", "--ingress-address"]), "10.0.0.1\n");
    assert_eq!(h.ok("network-get", &["--primary-address", "db"]), "10.0.0.1\n");
    assert_eq!(
        h.json(
            "network-get",
            &["--format=json", "db", "--bind-address", "--egress-subnets"]
        ),
        json!({"bind-address": "10.0.0.1", "egress-subnets": ["10.0.0.1/32"]})
    );
    h.refused("network-get", &[], 2, "no arguments specified");
    h.refused(
        "network-get",
        &["nope"],
        1,
        "no network config found for binding \"nope\"",
    );
    h.refused(
        "network-get",
        &["db", "-r", "9"],
        2,
        "invalid value \"9\" for option -r: relation not found",
    );
    h.refused(
        "network-get",
        &["db", "--primary-address", "--bind-address"],
        2,
        "--primary-address must be the only flag specified",
    );
}

#[test]
fn juju_reboot_and_juju_exec() {
    let mut h = Hook::plain(false);
    h.ok("juju-reboot", &[]);
    h.ok("juju-reboot", &["--now"]);
    assert!(h.state().reboot_requested);
    assert_eq!(h.calls(), ["reboot(false)", "reboot(true)"]);

    let none = BTreeMap::new();
    for form in [
        &["-u", "app/0", "JUJU_DISPATCH_PATH=hooks/retry-join ./dispatch"][..],
        &[
            "--unit",
            "app/0",
            "JUJU_DISPATCH_PATH=hooks/retry-join",
            "./dispatch",
        ][..],
        &["app/0", "JUJU_DISPATCH_PATH=\"hooks/retry-join\" exec ./dispatch"][..],
    ] {
        let req = parse("juju-exec", &args(form), None, &none).unwrap();
        let Request::Exec(e) = &req else { panic!("{req:?}") };
        assert_eq!(
            (e.unit.as_str(), e.dispatch_path.as_str()),
            ("app/0", "hooks/retry-join"),
            "{form:?}"
        );
        // execute hands it back to the driver.
        let r = execute(&mut h.b, &h.hook, req.clone());
        assert_eq!((r.code, r.exec.as_ref()), (0, Some(e)));
    }
    let req = parse(
        "juju-exec",
        &args(&["-u", "app/0", "FOO=1 JUJU_DISPATCH_PATH=actions/x ./dispatch"]),
        None,
        &none,
    )
    .unwrap();
    let Request::Exec(e) = req else { panic!() };
    assert_eq!(e.env, BTreeMap::from([("FOO".to_owned(), "1".to_owned())]));
    for (bad, msg) in [
        (
            &["-u", "app/0", "hooks/install"][..],
            "cannot run \"hooks/install\": this agent runs only \"JUJU_DISPATCH_PATH=<path> ./dispatch\"",
        ),
        (&["-u", "app/0"][..], "missing commands"),
        (&[][..], "missing unit-name"),
        (
            &["-u", "nope", "x"][..],
            "invalid unit name \"nope\": expected <application>/<number>",
        ),
    ] {
        let e = parse("juju-exec", &args(bad), None, &none).unwrap_err();
        assert_eq!((e.exit_code(), e.to_string().as_str()), (2, msg), "{bad:?}");
    }
}

#[test]
fn unknown_tools_flags_and_help() {
    let mut h = Hook::plain(false);
    h.refused("relation-gte", &[], 2, "unknown command \"relation-gte\"");
    h.refused("is-leader", &["-x"], 2, "option provided but not defined: -x");
    for tool in TOOLS {
        let r = h.call(tool, &["--help"]);
        assert_eq!(r.code, 0, "{tool}");
        assert!(
            r.stdout.starts_with(&format!("Usage: {tool} ")),
            "{tool}: {}",
            r.stdout
        );
        assert_eq!(h.call(tool, &["-h"]).stdout, r.stdout);
    }
    assert!(h.calls().is_empty());
}

/// Every tool at least once, successfully, with its output parsed back in the shape
/// `charm::HookTools` expects.
#[test]
fn every_tool_round_trips() {
    let mut h = Hook::new(
        state(true),
        HookContextInfo::new(unit("app/0"))
            .with_relation("db", RelationId(3))
            .with_remote_unit(unit("pg/0"))
            .with_action("backup"),
    );
    let mut seen = BTreeSet::new();
    let mut run = |h: &mut Hook, tool: &'static str, a: &[&str]| -> Value {
        seen.insert(tool);
        let out = h.ok(tool, a);
        if out.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&out).unwrap_or(Value::String(out))
        }
    };
    assert!(run(&mut h, "relation-ids", &["db", "--format=json"]).is_array());
    assert!(run(&mut h, "relation-list", &["--format=json", "-r", "db:3"]).is_array());
    assert!(run(
        &mut h,
        "relation-get",
        &["--format=json", "-r", "db:3", "-", "pg/0"]
    )
    .is_object());
    assert!(run(&mut h, "relation-set", &["-r", "db:3", "a=b"]).is_null());
    assert!(run(&mut h, "is-leader", &["--format=json"]).is_boolean());
    assert!(run(&mut h, "leader-get", &["--format=json", "-"]).is_object());
    assert!(run(&mut h, "leader-set", &["a=b"]).is_null());
    assert!(run(
        &mut h,
        "status-set",
        &["--application=False", "active", "--", "ok"]
    )
    .is_null());
    assert!(run(
        &mut h,
        "status-get",
        &["--include-data", "--format=json", "--application=true"]
    )["application-status"]
        .is_object());
    assert!(run(&mut h, "juju-log", &["--log-level", "INFO", "--", "hi"]).is_null());
    assert!(run(&mut h, "config-get", &["--format=json"]).is_object());
    assert!(run(&mut h, "state-set", &["x=1"]).is_null());
    assert!(run(&mut h, "state-get", &["--format=json"]).is_object());
    assert!(run(&mut h, "state-delete", &["x"]).is_null());
    let id = run(&mut h, "secret-add", &["--owner", "application", "pass=word"]);
    let id = id.as_str().unwrap().trim().to_owned();
    assert!(run(&mut h, "secret-get", &["--format=json", &id]).is_object());
    assert!(run(&mut h, "secret-set", &[&id, "pass=new"]).is_null());
    assert!(run(&mut h, "secret-grant", &["--relation", "3", &id]).is_null());
    assert!(run(&mut h, "secret-revoke", &["--relation", "3", &id]).is_null());
    assert!(run(&mut h, "secret-info-get", &["--format=json", &id]).is_object());
    assert!(run(&mut h, "secret-ids", &["--format=json"]).is_array());
    assert!(run(&mut h, "secret-remove", &[&id]).is_null());
    assert!(run(&mut h, "action-get", &["--format=json"]).is_object());
    assert!(run(&mut h, "action-set", &["a.b=c"]).is_null());
    assert!(run(&mut h, "action-log", &["--", "50%"]).is_null());
    assert!(run(&mut h, "action-fail", &["--", "no"]).is_null());
    assert!(run(&mut h, "application-version-set", &["--", "1.0"]).is_null());
    assert!(run(&mut h, "goal-state", &["--format=json"])["units"].is_object());
    assert!(run(&mut h, "open-port", &["8080/tcp"]).is_null());
    assert!(run(&mut h, "close-port", &["8080/tcp"]).is_null());
    assert!(run(&mut h, "opened-ports", &["--format=json"]).is_array());
    assert!(run(&mut h, "network-get", &["--format=json", "db"]).is_object());
    let mut plain = Hook::plain(true);
    assert!(run(&mut plain, "juju-reboot", &[]).is_null());
    let r = plain.call(
        "juju-exec",
        &["-u", "app/0", "JUJU_DISPATCH_PATH=hooks/x ./dispatch"],
    );
    assert!(r.code == 0 && r.exec.is_some());
    seen.insert("juju-exec");
    let all: BTreeSet<&str> = TOOLS.iter().copied().collect();
    assert_eq!(seen, all, "every tool is covered");
}
