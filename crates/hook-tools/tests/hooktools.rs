//! The strongest check of the tools: `charm::HookTools` (the backend a Rust charm uses under
//! real Juju, with the exact argv and output parsing of Python `ops`) runs against the real
//! `hook-tools` binary and a test agent serving an in-memory backend; every call must give the
//! same result, make the same changes (the same mutating backend calls, with the same
//! arguments) and leave the same model as calling the in-memory backend directly.
//!
//! `HookTools` runs the tools with the process environment, so each case sets
//! `JUJU_AGENT_SOCKET_ADDRESS` under one lock and the cases run one at a time.

mod common;

use charm::testing::{Memory, State};
use charm::*;
use common::*;
use hook_tools::HookContextInfo;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Mutex;

static ENV_LOCK: Mutex<()> = Mutex::new(());

/// Backend calls that change something (or, for `secret_get`, may): these must match exactly.
const MUTATING: &[&str] = &[
    "relation_set",
    "status_set",
    "juju_log",
    "leader_set",
    "state_set",
    "state_delete",
    "secret_add",
    "secret_get",
    "secret_set",
    "secret_grant",
    "secret_revoke",
    "secret_remove",
    "application_version_set",
    "action_set",
    "action_fail",
    "action_log",
    "open_port",
    "close_port",
    "reboot",
];

fn mutating(calls: &[Call]) -> Vec<String> {
    calls
        .iter()
        .filter(|c| MUTATING.iter().any(|m| c.0.starts_with(&format!("{m}("))))
        .map(|c| c.0.clone())
        .collect()
}

/// An outcome both ways can be compared on: the value, or the kind of error.
fn outcome<T: Debug>(r: &Result<T, BackendError>) -> String {
    match r {
        Ok(v) => format!("Ok({v:?})"),
        Err(BackendError::RelationNotFound(id)) => format!("RelationNotFound({id})"),
        Err(BackendError::SecretNotFound) => "SecretNotFound".into(),
        Err(_) => "Err".into(),
    }
}

struct Compared<T> {
    direct: Result<T, BackendError>,
    tools: Result<T, BackendError>,
    served: Served,
}

/// Runs `f` against the in-memory backend directly and through `HookTools` + the binary + the
/// agent, and checks that both agree.
#[track_caller]
fn compare<T: Debug>(
    state: State,
    hook: HookContextInfo,
    f: impl Fn(&mut dyn Backend) -> Result<T, BackendError>,
) -> Compared<T> {
    let c = compare_loosely(state, hook, f);
    assert_eq!(
        outcome(&c.direct),
        outcome(&c.tools),
        "the same kind of error; tools said {:?}; replies {:?}",
        c.tools,
        c.served.replies
    );
    c
}

/// [`compare`], where an error may be of another kind.
#[track_caller]
fn compare_loosely<T: Debug>(
    state: State,
    hook: HookContextInfo,
    f: impl Fn(&mut dyn Backend) -> Result<T, BackendError>,
) -> Compared<T> {
    let meta = meta();
    let mut direct = Recorder::new(Memory::new(state.clone(), &meta, hook.unit.clone(), None));
    let direct_result = f(&mut direct);

    let guard = ENV_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let agent = Agent::start(state, hook.clone());
    std::env::set_var("JUJU_AGENT_SOCKET_ADDRESS", &agent.socket);
    std::env::set_var("JUJU_CONTEXT_ID", CONTEXT);
    let env = JujuEnv {
        unit: Some(hook.unit.clone()),
        charm_dir: agent.dir.path().to_owned(),
        ..JujuEnv::default()
    };
    let mut tools = HookTools::from_env(&env).with_tool_dir(&agent.tools);
    let tools_result = f(&mut tools);
    let tool_calls = tools.tool_calls();
    let served = agent.finish();
    drop(guard);

    let ok = |r: &Result<T, BackendError>| r.as_ref().ok().map(|v| format!("{v:?}"));
    assert_eq!(
        ok(&direct_result),
        ok(&tools_result),
        "direct vs through the tools; tools said {tools_result:?}; replies {:?}",
        served.replies
    );
    assert_eq!(
        mutating(&direct.calls),
        mutating(&served.calls),
        "the same changes, with the same arguments"
    );
    assert_eq!(direct.inner.txn, served.state, "the same model after");
    assert_eq!(
        tool_calls,
        served.requests.len(),
        "every tool call reached the agent"
    );
    Compared {
        direct: direct_result,
        tools: tools_result,
        served,
    }
}

fn hook() -> HookContextInfo {
    HookContextInfo::new(unit("app/0"))
}

fn action_hook() -> HookContextInfo {
    hook().with_action("backup")
}

// ---------------------------------------------------------------------------------------------
// Relations
// ---------------------------------------------------------------------------------------------

#[test]
fn relation_ids() {
    for ep in ["db", "cluster", "website", "nope"] {
        compare(state(true), hook(), |b| b.relation_ids(ep));
    }
    let c = compare(state(true), hook(), |b| b.relation_ids("db"));
    assert_eq!(c.tools.unwrap(), vec![RelationId(3)]);
    assert_eq!(c.served.replies[0].stdout, "[\"db:3\"]\n");
}

#[test]
fn relation_list_and_remote_app() {
    let c = compare(state(true), hook(), |b| b.relation_list(RelationId(3)));
    assert_eq!(c.tools.unwrap(), vec![unit("pg/0"), unit("pg/1")]);
    compare(state(true), hook(), |b| b.relation_list(RelationId(1)));
    let c = compare(state(true), hook(), |b| b.relation_list(RelationId(9)));
    assert!(matches!(
        c.tools,
        Err(BackendError::RelationNotFound(RelationId(9)))
    ));
    assert_eq!(
        c.served.replies[0].stderr,
        "ERROR invalid value \"9\" for option -r: relation not found\n"
    );
    assert_eq!(c.served.replies[0].code, 2);
    let c = compare(state(true), hook(), |b| b.relation_remote_app(RelationId(3)));
    assert_eq!(c.tools.unwrap(), Some(app("pg")));
    compare(state(true), hook(), |b| b.relation_remote_app(RelationId(1)));
    compare(state(true), hook(), |b| b.relation_remote_app(RelationId(9)));
}

#[test]
fn relation_get_every_bag() {
    let owners = [
        BagOwner::Unit(unit("pg/0")),
        BagOwner::Unit(unit("app/0")),
        BagOwner::Unit(unit("pg/7")),
        BagOwner::App(app("pg")),
        BagOwner::App(app("app")),
        BagOwner::App(app("other")),
    ];
    for leader in [true, false] {
        for owner in &owners {
            for id in [3, 1, 9] {
                compare(state(leader), hook(), |b| b.relation_get(RelationId(id), owner));
            }
        }
    }
    let c = compare(state(false), hook(), |b| {
        b.relation_get(RelationId(3), &BagOwner::App(app("pg")))
    });
    assert_eq!(
        c.tools.unwrap(),
        bag(&[("database", "appdb"), ("password", "s3cret")])
    );
    // A non-leader reading its own application's bag in a non-peer relation.
    let c = compare(state(false), hook(), |b| {
        b.relation_get(RelationId(3), &BagOwner::App(app("app")))
    });
    assert!(c.tools.is_err());
    assert_eq!(c.served.replies[0].stderr, "ERROR permission denied\n");
}

#[test]
fn relation_set_unit_and_app_bags() {
    let changes = bag(&[
        ("user", "app"),
        ("ingress-address", ""),
        ("multi", "a\nb: c\n- d"),
    ]);
    for leader in [true, false] {
        for scope in [BagScope::Unit, BagScope::App] {
            for id in [3, 1, 9] {
                compare(state(leader), hook(), |b| {
                    b.relation_set(RelationId(id), scope, &changes)
                });
            }
        }
    }
    let c = compare(state(false), hook(), |b| {
        b.relation_set(RelationId(3), BagScope::App, &changes)
    });
    assert!(c.direct.is_err() && c.tools.is_err());
    assert_eq!(
        c.served.replies[0].stderr,
        "ERROR cannot write relation settings\n"
    );
    let c = compare(state(true), hook(), |b| {
        b.relation_set(RelationId(3), BagScope::Unit, &changes)?;
        b.relation_get(RelationId(3), &BagOwner::Unit(unit("app/0")))
    });
    assert_eq!(
        c.tools.unwrap(),
        bag(&[("user", "app"), ("multi", "a\nb: c\n- d")]),
        "read-your-writes, and the empty value deleted the key"
    );
}

// ---------------------------------------------------------------------------------------------
// Leadership, config, status, logs
// ---------------------------------------------------------------------------------------------

#[test]
fn is_leader_and_config() {
    for leader in [true, false] {
        let c = compare(state(leader), hook(), |b| b.is_leader());
        assert_eq!(c.tools.unwrap(), leader);
    }
    let c = compare(state(true), hook(), |b| b.config_get());
    let config = c.tools.unwrap();
    assert_eq!(config["name"], ConfigValue::String("web".into()));
    assert_eq!(config["port"], ConfigValue::Int(8080));
    assert_eq!(config["ratio"], ConfigValue::Float(0.25));
    assert_eq!(config["debug"], ConfigValue::Bool(false));
    assert!(!config.contains_key("token"));
}

#[test]
fn status_set_and_get() {
    for leader in [true, false] {
        for target in [StatusTarget::Unit, StatusTarget::App] {
            for status in [
                Status::blocked("need db"),
                Status::maintenance(""),
                Status::active("-x"),
            ] {
                compare(state(leader), hook(), |b| b.status_set(target, &status));
            }
            compare(state(leader), hook(), |b| {
                b.status_set(target, &Status::unknown())
            });
            // A non-leader reading the application's status: see the next test.
            if leader || target == StatusTarget::Unit {
                compare(state(leader), hook(), |b| {
                    b.status_get(target).map(|s| s.to_string())
                });
            }
        }
    }
    let c = compare(state(true), hook(), |b| b.status_get(StatusTarget::App));
    assert_eq!(c.tools.unwrap(), Status::waiting("for peers"));
    let c = compare(state(false), hook(), |b| {
        b.status_set(StatusTarget::App, &Status::active(""))
    });
    assert_eq!(c.served.replies[0].stderr, "ERROR this unit is not the leader\n");
}

#[test]
fn status_get_app_as_a_non_leader_is_refused() {
    // The in-memory backend answers; Juju (and so the tools) refuse a non-leader.
    let agent = Agent::start(state(false), hook());
    let out = agent
        .command("status-get")
        .args(["--include-data", "--format=json", "--application=true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "ERROR finding application status: this unit is not the leader\n"
    );
    agent.finish();
}

#[test]
fn juju_log_every_level() {
    for level in [
        LogLevel::Trace,
        LogLevel::Debug,
        LogLevel::Info,
        LogLevel::Warning,
        LogLevel::Error,
    ] {
        compare(state(true), hook(), |b| {
            b.juju_log(level, "-starts with a dash\nand two lines")
        });
    }
}

#[test]
fn leader_settings() {
    let c = compare(state(false), hook(), |b| b.leader_get());
    assert_eq!(
        c.tools.unwrap(),
        bag(&[("mode", "ha"), ("leader-ip", "10.0.0.1")])
    );
    let changes = bag(&[("mode", ""), ("token", "a=b")]);
    for leader in [true, false] {
        compare(state(leader), hook(), |b| {
            b.leader_set(&changes)?;
            b.leader_get()
        });
    }
    let c = compare(state(false), hook(), |b| b.leader_set(&changes));
    assert_eq!(
        c.served.replies[0].stderr,
        "ERROR cannot write leadership settings: cannot write settings: not the leader\n"
    );
}

// ---------------------------------------------------------------------------------------------
// Controller state
// ---------------------------------------------------------------------------------------------

#[test]
fn controller_state() {
    compare(state(true), hook(), |b| b.state_get());
    let values = BTreeMap::from([
        ("k2".to_owned(), "line1\nline2: x".to_owned()),
        ("empty".to_owned(), String::new()),
    ]);
    let c = compare(state(true), hook(), |b| {
        b.state_set(&values)?;
        b.state_delete("k1")?;
        b.state_get()
    });
    assert_eq!(
        c.tools.unwrap(),
        BTreeMap::from([
            ("k2".to_owned(), "line1\nline2: x".to_owned()),
            ("empty".to_owned(), String::new())
        ])
    );
    let c = compare(state(true), hook(), |b| b.state_delete("absent"));
    assert!(c.tools.is_ok());
}

// ---------------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------------

const SECRET: &str = "secret:cq0a1b2c3d4e5f6g7h8i";

fn content(pairs: &[(&str, &str)]) -> SecretContent {
    SecretContent(bag(pairs))
}

#[test]
fn secret_add() {
    let options = SecretOptions {
        label: Some("tls".into()),
        description: Some("a cert, with spaces".into()),
        expire: Some("2030-01-01T00:00:00Z".into()),
        rotate: Some("monthly".into()),
        owner: Some(SecretOwner::Unit),
    };
    let c = compare(state(false), hook(), |b| {
        let id = b.secret_add(&content(&[("cert", "-----BEGIN\n=x="), ("key-2", "k")]), &options)?;
        b.secret_get(&SecretRef::Id(id), SecretRead::Tracked).map(|c| c.0)
    });
    assert_eq!(
        c.tools.unwrap(),
        bag(&[("cert", "-----BEGIN\n=x="), ("key-2", "k")])
    );
    let app_owned = SecretOptions {
        owner: Some(SecretOwner::Application),
        ..SecretOptions::default()
    };
    compare(state(true), hook(), |b| {
        b.secret_add(&content(&[("password", "p")]), &app_owned)
    });
    // Only the leader adds application secrets.
    let agent = Agent::start(state(false), hook());
    let out = agent.command("secret-add").args(["password=p"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "ERROR this unit is not the leader\n"
    );
    assert_eq!(agent.finish().state.secrets.len(), 1);
}

#[test]
fn secret_get_every_way() {
    let refs = [
        SecretRef::Id(SECRET.into()),
        SecretRef::Label("db-creds".into()),
        SecretRef::IdWithLabel(SECRET.into(), "relabelled".into()),
        SecretRef::Id("secret:nosuchsecret".into()),
        SecretRef::Label("nope".into()),
    ];
    for r in &refs {
        for read in [SecretRead::Tracked, SecretRead::Refresh, SecretRead::Peek] {
            compare(state(true), hook(), |b| {
                let first = b.secret_get(r, read)?.0;
                let again = b.secret_get(r, SecretRead::Tracked)?.0;
                Ok((first, again))
            });
        }
    }
    let c = compare(state(true), hook(), |b| {
        b.secret_get(&SecretRef::Label("db-creds".into()), SecretRead::Refresh)
            .map(|c| c.0)
    });
    assert_eq!(c.tools.unwrap(), bag(&[("password", "two")]));
    let c = compare(state(true), hook(), |b| {
        b.secret_get(&SecretRef::Label("nope".into()), SecretRead::Tracked)
            .map(|c| c.0)
    });
    assert!(matches!(c.tools, Err(BackendError::SecretNotFound)));
    assert_eq!(c.served.replies[0].stderr, "ERROR secret \"nope\" not found\n");
}

#[test]
fn secret_set_grant_revoke_remove() {
    let opts = SecretOptions {
        label: Some("new-label".into()),
        description: Some("d".into()),
        ..SecretOptions::default()
    };
    compare(state(true), hook(), |b| {
        b.secret_set(SECRET, Some(&content(&[("password", "three")])), &opts)?;
        b.secret_get(&SecretRef::Label("new-label".into()), SecretRead::Peek)
            .map(|c| c.0)
    });
    compare(state(true), hook(), |b| b.secret_set(SECRET, None, &opts));
    compare(state(true), hook(), |b| {
        b.secret_set("secret:nosuchsecret", None, &opts)
    });
    for u in [Some(unit("pg/0")), None] {
        compare(state(true), hook(), |b| {
            b.secret_grant(SECRET, RelationId(3), u.as_ref())
        });
    }
    // An unknown relation: `HookTools` says SecretNotFound, as ops does for any "not found"
    // from a secret tool; the tool's message names the relation.
    let c = compare_loosely(state(true), hook(), |b| {
        b.secret_grant(SECRET, RelationId(9), None)
    });
    assert!(matches!(
        c.direct,
        Err(BackendError::RelationNotFound(RelationId(9)))
    ));
    assert_eq!(
        c.served.replies[0].stderr,
        "ERROR invalid value \"9\" for option -r: relation not found\n"
    );
    for target in [
        RevokeTarget::Relation,
        RevokeTarget::App(app("pg")),
        RevokeTarget::Unit(unit("pg/0")),
    ] {
        compare(state(true), hook(), |b| {
            b.secret_grant(SECRET, RelationId(3), Some(&unit("pg/0")))?;
            b.secret_revoke(SECRET, RelationId(3), &target)
        });
    }
    for rev in [None, Some(1), Some(5)] {
        compare(state(true), hook(), |b| b.secret_remove(SECRET, rev));
    }
}

#[test]
fn secret_info_and_ids() {
    for r in [
        SecretRef::Id(SECRET.into()),
        SecretRef::Label("db-creds".into()),
        SecretRef::Label("nope".into()),
    ] {
        compare(state(true), hook(), |b| b.secret_info_get(&r));
    }
    let c = compare(state(true), hook(), |b| {
        b.secret_info_get(&SecretRef::Id(SECRET.into()))
    });
    let info = c.tools.unwrap();
    assert_eq!(info.revision, 2);
    assert_eq!(info.rotation.as_deref(), Some("daily"));
    let c = compare(state(true), hook(), |b| b.secret_ids());
    assert_eq!(c.tools.unwrap(), vec![SECRET.to_owned()]);
    // A secret without a label: Juju prints `"label": ""`, which means none.
    compare(state(true), hook(), |b| {
        let id = b.secret_add(
            &content(&[("abc", "x")]),
            &SecretOptions {
                owner: Some(SecretOwner::Unit),
                ..SecretOptions::default()
            },
        )?;
        b.secret_info_get(&SecretRef::Id(id))
    });
}

// ---------------------------------------------------------------------------------------------
// Actions, workload version, goal state, ports, network, reboot
// ---------------------------------------------------------------------------------------------

#[test]
fn actions() {
    let c = compare(state(true), action_hook(), |b| b.action_get());
    assert_eq!(
        serde_json::Value::Object(c.tools.unwrap()),
        serde_json::json!({"target": "s3", "opts": {"level": 3, "fast": true}})
    );
    let results = BTreeMap::from([
        ("out.size".to_owned(), "10G".to_owned()),
        ("msg".to_owned(), "a = b\nc".to_owned()),
    ]);
    compare(state(true), action_hook(), |b| b.action_set(&results));
    for m in ["boom", "", "-x"] {
        compare(state(true), action_hook(), |b| b.action_fail(m));
    }
    compare(state(true), action_hook(), |b| b.action_log("50% -- done"));
    // Outside an action, Juju refuses: the tools do; the in-memory backend does not check.
    let agent = Agent::start(state(true), hook());
    let out = agent.command("action-get").arg("--format=json").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "ERROR not running an action\n"
    );
    agent.finish();
}

#[test]
fn workload_version_goal_state_ports_network_reboot() {
    compare(state(true), hook(), |b| b.application_version_set("1.2.3-beta+x"));
    compare(state(true), hook(), |b| b.application_version_set("-dash"));
    let c = compare(state(true), hook(), |b| b.goal_state());
    let g = c.tools.unwrap();
    assert_eq!(g.planned_units(), 2);
    assert!(g.relations["db"].contains_key("pg/1"));
    for spec in ["8000-8999/udp", "icmp", "443/tcp"] {
        let port = Port::parse(spec).unwrap();
        for eps in [vec![], vec!["website".to_owned(), "db".to_owned()]] {
            compare(state(true), hook(), |b| {
                b.open_port(&port, &eps)?;
                b.opened_ports()
            });
        }
    }
    compare(state(true), hook(), |b| {
        b.close_port(&Port::parse("80/tcp").unwrap(), &[])?;
        b.opened_ports()
    });
    for (binding, rel) in [
        ("db", None),
        ("db", Some(RelationId(3))),
        ("website", None),
        ("nope", None),
    ] {
        compare(state(true), hook(), |b| b.network_get(binding, rel));
    }
    compare(state(true), hook(), |b| b.network_get("db", Some(RelationId(9))));
    for now in [false, true] {
        compare(state(true), hook(), |b| b.reboot(now));
    }
}
