//! `charm::main` end to end: the test binary re-runs itself as a charm process with Juju's
//! environment, against hook tools that are shell scripts recording their calls.

use charm::{BagOwner, Charm, Context, Event, HandlerError, HandlerResult, Observers, StateStore, Status};
use std::path::{Path, PathBuf};
use std::process::Command;

const AS_CHARM: &str = "ENSEMBLE_TEST_AS_CHARM";

#[derive(Default)]
struct Greeter;

impl Charm for Greeter {
    fn register(on: &mut Observers<Self>) {
        on.observe("greeter", Self::on_event);
        on.custom_event("tick");
    }
}

impl Greeter {
    fn on_event(&mut self, ctx: &mut Context<'_>, event: &Event) -> HandlerResult {
        match event {
            Event::RelationChanged(r) => {
                let Some(unit) = &r.remote_unit else { return Ok(()) };
                let addr = ctx
                    .data(r.relation_id, &BagOwner::Unit(unit.clone()))?
                    .get("ingress-address")
                    .cloned()
                    .unwrap_or_default();
                ctx.set_unit_data(r.relation_id, "greeted", Some(&addr))?;
                let n: u32 = ctx.stored("greetings")?;
                ctx.set_stored("greetings", &(n + 1))?;
                ctx.set_status(Status::active("greeted"))?;
            }
            Event::Custom { name } if name == "tick" => ctx.set_status(Status::active("ticked"))?,
            Event::StorageAttached(s) => {
                let found = ctx.storages(&s.name)?;
                let text: Vec<String> = found
                    .iter()
                    .map(|(id, info)| format!("{id} {} at {}", info.kind, info.location.display()))
                    .collect();
                ctx.set_status(Status::active(text.join(", ")))?;
            }
            Event::UpgradeCharm => ctx.storage_add("data", 2)?,
            Event::Stop => return Err(HandlerError::msg("refusing to stop")),
            _ => {}
        }
        Ok(())
    }
}

#[derive(Default)]
struct ControllerStored;

impl Charm for ControllerStored {
    const STATE_STORE: StateStore = StateStore::Controller;
    fn register(on: &mut Observers<Self>) {
        on.observe("count", |_, ctx, _| {
            let n: u32 = ctx.stored("n")?;
            ctx.set_stored("n", &(n + 1))?;
            Ok(())
        });
    }
}

/// When re-run as a charm, this "test" is the charm's main.
#[test]
fn charm_process_entry() {
    match std::env::var(AS_CHARM).as_deref() {
        Ok("greeter") => std::process::exit(match charm::main(Greeter::default) {
            c if c == std::process::ExitCode::SUCCESS => 0,
            _ => 1,
        }),
        Ok("controller") => std::process::exit(match charm::main(ControllerStored::default) {
            c if c == std::process::ExitCode::SUCCESS => 0,
            _ => 1,
        }),
        _ => {}
    }
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let tools = dir.path().join("tools");
        let charm_dir = dir.path().join("charm");
        std::fs::create_dir_all(&tools).unwrap();
        std::fs::create_dir_all(&charm_dir).unwrap();
        std::fs::write(
            charm_dir.join("metadata.yaml"),
            "name: greeter\npeers:\n  peers:\n    interface: greeter-peers\n",
        )
        .unwrap();
        let log = dir.path().join("calls.log");
        let script = |out: &str| {
            format!(
                "#!/bin/sh\nprintf '%s' \"$(basename \"$0\")\" >> {log}\nfor a in \"$@\"; do printf ' %s' \"$a\" >> {log}; done\nprintf '\\n' >> {log}\n[ -t 0 ] || cat > /dev/null\nprintf '%s' '{out}'\n",
                log = log.display()
            )
        };
        let tools_out = [
            ("relation-get", r#"{"ingress-address":"10.1.2.3"}"#),
            ("relation-set", ""),
            ("status-set", ""),
            ("juju-log", ""),
            ("state-get", r#"{}"#),
            ("state-set", ""),
            ("relation-ids", r#"["peers:4"]"#),
            ("relation-list", r#"["greeter/1"]"#),
            ("storage-list", r#"["data/0","data/1"]"#),
            ("storage-get", r#"{"kind":"filesystem","location":"/srv/data"}"#),
            ("storage-add", ""),
        ];
        for (name, out) in tools_out {
            let p = tools.join(name);
            std::fs::write(&p, script(out)).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        Self { dir }
    }

    fn charm_dir(&self) -> PathBuf {
        self.dir.path().join("charm")
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn run(&self, which: &str, hook: &str, extra: &[(&str, &str)]) -> std::process::Output {
        let path = format!("{}:/usr/bin:/bin", self.dir.path().join("tools").display());
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "--exact",
            "charm_process_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env_clear()
        .env(AS_CHARM, which)
        .env("PATH", path)
        .env("JUJU_DISPATCH_PATH", hook)
        .env("JUJU_UNIT_NAME", "greeter/0")
        .env("JUJU_VERSION", "3.6.4")
        .env("JUJU_CHARM_DIR", self.charm_dir());
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }
}

const CHANGED: &[(&str, &str)] = &[
    ("JUJU_RELATION", "peers"),
    ("JUJU_RELATION_ID", "peers:4"),
    ("JUJU_REMOTE_UNIT", "greeter/1"),
    ("JUJU_REMOTE_APP", "greeter"),
];

fn stored(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join(charm::STATE_FILE)).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn a_hook_runs_through_the_real_tools_and_commits_stored_state() {
    let f = Fixture::new();
    let out = f.run("greeter", "hooks/peers-relation-changed", CHANGED);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        f.calls(),
        [
            "relation-get --format=json -r peers:4 - greeter/1",
            "relation-set -r peers:4 --file -",
            "status-set --application=False active -- greeted",
        ]
    );
    assert_eq!(stored(&f.charm_dir())["values"]["greetings"], 1);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(f.charm_dir().join(charm::STATE_FILE))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let out = f.run("greeter", "hooks/peers-relation-changed", CHANGED);
    assert!(out.status.success());
    assert_eq!(stored(&f.charm_dir())["values"]["greetings"], 2);
}

#[test]
fn a_failing_handler_exits_non_zero_and_logs_the_error() {
    let f = Fixture::new();
    let out = f.run("greeter", "hooks/stop", &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("refusing to stop"), "{stderr}");
    let calls = f.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(
        calls[0].starts_with("juju-log --log-level ERROR -- hook failed:"),
        "{calls:?}"
    );
    assert!(!f.charm_dir().join(charm::STATE_FILE).exists());
}

#[test]
fn bad_environments_fail_cleanly() {
    let f = Fixture::new();
    for (hook, extra, expect) in [
        ("hooks/peers-relation-changed", &[][..], "JUJU_RELATION"),
        (
            "hooks/data-storage-attached",
            &[("JUJU_STORAGE_ID", "other/0")][..],
            "JUJU_STORAGE_ID",
        ),
        (
            "hooks/install",
            &[("JUJU_UNIT_NAME", "not-a-unit")][..],
            "JUJU_UNIT_NAME",
        ),
    ] {
        let out = f.run("greeter", hook, extra);
        assert!(!out.status.success(), "{hook} should fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expect), "{hook}: {stderr}");
        assert!(!stderr.contains("panicked"), "{hook}: {stderr}");
    }
}

#[test]
fn custom_events_dispatch_when_registered() {
    let f = Fixture::new();
    let out = f.run("greeter", "hooks/tick", &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(f.calls(), ["status-set --application=False active -- ticked"]);
}

#[test]
fn missing_metadata_fails_only_when_needed() {
    let f = Fixture::new();
    std::fs::remove_file(f.charm_dir().join("metadata.yaml")).unwrap();
    // The relation hook names its relation, so it never needs the metadata.
    let out = f.run("greeter", "hooks/peers-relation-changed", CHANGED);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn controller_storage_uses_state_get_and_state_set() {
    let f = Fixture::new();
    let out = f.run("controller", "hooks/update-status", &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(f.calls(), ["state-get --format=json", "state-set --file -"]);
    assert!(!f.charm_dir().join(charm::STATE_FILE).exists());
}

/// Every kind of hook Juju 3.6 can send that the charm does not act on, and a hook name no
/// Juju sends: each exits 0, as in ops; the unknown one says so at debug level.
#[test]
fn hooks_nobody_observes_succeed() {
    let f = Fixture::new();
    let cases: &[(&str, &[(&str, &str)])] = &[
        ("hooks/data-storage-detaching", &[("JUJU_STORAGE_ID", "data/0")]),
        ("hooks/collect-metrics", &[]),
        ("hooks/meter-status-changed", &[]),
        ("hooks/leader-deposed", &[]),
        ("hooks/pre-series-upgrade", &[]),
        ("hooks/post-series-upgrade", &[]),
        (
            "hooks/workload-pebble-ready",
            &[("JUJU_WORKLOAD_NAME", "workload")],
        ),
        (
            "hooks/workload-pebble-custom-notice",
            &[
                ("JUJU_WORKLOAD_NAME", "workload"),
                ("JUJU_NOTICE_ID", "1"),
                ("JUJU_NOTICE_TYPE", "custom"),
                ("JUJU_NOTICE_KEY", "example.com/a"),
            ],
        ),
        (
            "hooks/workload-pebble-check-failed",
            &[
                ("JUJU_WORKLOAD_NAME", "workload"),
                ("JUJU_PEBBLE_CHECK_NAME", "http"),
            ],
        ),
        (
            "hooks/workload-pebble-check-recovered",
            &[
                ("JUJU_WORKLOAD_NAME", "workload"),
                ("JUJU_PEBBLE_CHECK_NAME", "http"),
            ],
        ),
        ("hooks/secret-changed", &[("JUJU_SECRET_ID", "secret:abc")]),
        ("hooks/update-status", &[]),
    ];
    for (hook, extra) in cases {
        let out = f.run("greeter", hook, extra);
        assert!(
            out.status.success(),
            "{hook}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        f.calls(),
        Vec::<String>::new(),
        "the greeter acts on none of them"
    );
    // A hook no Juju sends, and an undeclared custom event: debug, exit 0.
    for hook in ["hooks/frobnicate", "hooks/some-future-hook"] {
        let out = f.run("greeter", hook, &[]);
        assert!(
            out.status.success(),
            "{hook}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let calls = f.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(
        calls[0].starts_with("juju-log --log-level DEBUG -- no event for hook \"frobnicate\""),
        "{calls:?}"
    );
}

#[test]
fn storage_hooks_and_the_storage_api_use_ops_argv() {
    let f = Fixture::new();
    let out = f.run(
        "greeter",
        "hooks/data-storage-attached",
        &[("JUJU_STORAGE_ID", "data/1")],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        f.calls(),
        [
            "storage-list --format=json data",
            "storage-get --format=json -s data/0",
            "storage-get --format=json -s data/1",
            "status-set --application=False active -- data/0 filesystem at /srv/data, data/1 filesystem at /srv/data",
        ]
    );
    let out = f.run("greeter", "hooks/upgrade-charm", &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(f.calls().last().unwrap(), "storage-add data=2");
}
