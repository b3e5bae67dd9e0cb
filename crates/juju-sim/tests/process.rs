//! The process driver with charms written as shell scripts: Juju's environment, the hook tools
//! over the unit's socket, UTS hostnames, failures, timeouts and floods of output. The Python
//! `ops` charms are in `crates/ensemble/tests/python.rs`.

use juju_sim::{ProcessConfig, Sim, SimConfig};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A charm directory whose `dispatch` is `script` (run by /bin/sh).
fn shell_charm(root: &Path, name: &str, metadata: &str, script: &str) -> PathBuf {
    let dir = root.join(format!("charm-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("metadata.yaml"), metadata).unwrap();
    let dispatch = dir.join("dispatch");
    std::fs::write(&dispatch, format!("#!/bin/sh\n{script}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dispatch, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

fn model(root: &Path, seed: u64, tweak: impl FnOnce(&mut ProcessConfig)) -> Sim {
    let tools = ProcessConfig::find_hook_tools().unwrap();
    let mut cfg = ProcessConfig::new(root.join("model"), tools);
    tweak(&mut cfg);
    let sim_cfg = SimConfig {
        update_status_interval: None,
        ..SimConfig::default()
    };
    let mut sim = Sim::with_processes(seed, sim_cfg, cfg).unwrap();
    sim.set_replay_hint("SIM_SEED={seed} cargo test -p juju-sim --test process");
    sim
}

const PEER_META: &str = "name: shell\npeers:\n  cluster:\n    interface: shell-peers\n";

#[test]
fn shell_charms_form_a_peer_relation_through_the_tools() {
    let tmp = tempfile::tempdir().unwrap();
    let charm = shell_charm(
        tmp.path(),
        "peer",
        PEER_META,
        r#"set -e
case "$JUJU_DISPATCH_PATH" in
  hooks/cluster-relation-created)
    relation-set host="$(hostname)" unit="$JUJU_UNIT_NAME" ;;
  hooks/cluster-relation-changed)
    [ -n "$JUJU_REMOTE_UNIT" ] || exit 0  # the application bag changed
    peer_host=$(relation-get host "$JUJU_REMOTE_UNIT")
    [ -n "$peer_host" ] && state-set "seen-$(echo "$JUJU_REMOTE_UNIT" | tr / -)=$peer_host"
    n=$(state-get --format=json | tr ',' '\n' | grep -c seen- || true)
    status-set active "sees $n peers" ;;
  hooks/start)
    [ "$(is-leader)" = "True" ] && relation-set -r "$(relation-ids cluster)" --app leader="$JUJU_UNIT_NAME"
    status-set active started ;;
esac
"#,
    );
    let mut sim = model(tmp.path(), 7, |_| {});
    sim.deploy_charm_dir("shell", 3, &charm).unwrap();
    if let Err(e) = sim.run_until_idle(Duration::from_secs(30)) {
        for u in ["shell/0", "shell/1", "shell/2"] {
            eprintln!("{u}: {:#?}", sim.logs(u));
        }
        panic!("{e}\n{}", sim.status_table());
    }
    for u in ["shell/0", "shell/1", "shell/2"] {
        assert_eq!(
            sim.unit_status(u).unwrap().message,
            "sees 2 peers",
            "{u}: {:?}",
            sim.logs(u)
        );
    }
    let rel = sim.peer_relation("shell", Some("cluster")).unwrap();
    let bag = sim.databag(rel, "shell/1").unwrap();
    assert_eq!(bag.get("unit").map(String::as_str), Some("shell/1"));
    let host = bag.get("host").unwrap();
    let expected = sim.unit("shell/1").unwrap().machine.hostname;
    if sim.process_config().unwrap().uts_namespaces {
        assert_eq!(host, &expected, "each hook sees its unit's own hostname");
    }
    let app = sim.databag(rel, "shell").unwrap();
    assert_eq!(app.get("leader").map(String::as_str), Some("shell/0"));
    // Every hook ran as a process, and each made its tool calls through the socket.
    let stats = sim.process_stats();
    assert!(stats.iter().all(|s| s.exit_code == Some(0)), "{stats:?}");
    assert!(stats.iter().any(|s| s.tool_calls >= 3));
}
