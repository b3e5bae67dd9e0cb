//! Property tests over the charm's readers of untrusted text: Juju's environment (a typed
//! [`Event`] from arbitrary variables) and the metadata files (charmcraft.yaml, metadata.yaml,
//! config.yaml, actions.yaml). Whatever the input: no panic, and typed errors.
//!
//! The number of cases is proptest's default (256), or `PROPTEST_CASES`; the long mode is
//! `PROPTEST_CASES=1000000 cargo test --release -p charm --test properties`.

use charm::{DispatchError, Event, JujuEnv, Metadata, MetadataError};
use proptest::prelude::*;
use std::collections::BTreeMap;

const VARS: &[&str] = &[
    "JUJU_DISPATCH_PATH",
    "JUJU_UNIT_NAME",
    "JUJU_MODEL_NAME",
    "JUJU_MODEL_UUID",
    "JUJU_VERSION",
    "JUJU_CHARM_DIR",
    "JUJU_RELATION",
    "JUJU_RELATION_ID",
    "JUJU_REMOTE_UNIT",
    "JUJU_REMOTE_APP",
    "JUJU_DEPARTING_UNIT",
    "JUJU_ACTION_NAME",
    "JUJU_ACTION_UUID",
    "JUJU_SECRET_ID",
    "JUJU_SECRET_LABEL",
    "JUJU_SECRET_REVISION",
    "JUJU_CONTEXT_ID",
    "JUJU_HOOK_NAME",
    "JUJU_STORAGE_ID",
    "JUJU_WORKLOAD_NAME",
    "JUJU_NOTICE_ID",
    "JUJU_NOTICE_TYPE",
    "JUJU_NOTICE_KEY",
    "JUJU_PEBBLE_CHECK_NAME",
];

/// Values close to what Juju sets, and garbage.
fn env_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        prop::sample::select(vec![
            "hooks/install",
            "hooks/db-relation-changed",
            "hooks/cluster-relation-departed",
            "hooks/secret-changed",
            "hooks/secret-rotate",
            "hooks/leader-elected",
            "hooks/data-storage-attached",
            "hooks/workload-pebble-ready",
            "hooks/workload-pebble-custom-notice",
            "hooks/workload-pebble-check-failed",
            "hooks/data-storage-detaching",
            "hooks/collect-metrics",
            "data/0",
            "data/4294967296",
            "workload",
            "example.com/a",
            "hooks/my-custom-event",
            "hooks/",
            "actions/backup",
            "actions/",
            "./hooks/start",
            "/",
            "app/0",
            "app/-1",
            "app/18446744073709551616",
            "App/0",
            "app-1/3",
            "pg",
            "db",
            "db:3",
            "3",
            "-1",
            "db:",
            ":3",
            "4294967296",
            "3.6.4",
            "4.0-beta1",
            "3.",
            "99999999999.1.1",
            "secret:cq9abc",
            "18446744073709551615",
            "18446744073709551616",
            "0",
        ])
        .prop_map(str::to_owned),
        "[a-z0-9/:.\\-]{0,24}",
        any::<String>(),
    ]
}

fn env_vars() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(
        prop_oneof![
            4 => prop::sample::select(VARS).prop_map(str::to_owned),
            1 => "[A-Z_]{1,12}",
        ],
        env_value(),
        0..12,
    )
}

/// YAML-ish text: fragments of real metadata in random order and nesting, and garbage.
fn yamlish() -> impl Strategy<Value = String> {
    let fragment = prop::sample::select(vec![
        "name: demo\n",
        "name: \n",
        "name: [a, b]\n",
        "peers:\n  cluster:\n    interface: demo-peers\n",
        "requires:\n  db:\n    interface: pgsql\n    limit: 1\n",
        "requires:\n  db:\n    limit: -3\n",
        "requires:\n  db: 7\n",
        "provides:\n  web: {interface: http, scope: container}\n",
        "provides: [1, 2]\n",
        "config:\n  options:\n    port: {type: int, default: 8080}\n",
        "config:\n  options:\n    port: {type: int, default: 99999999999999999999999}\n",
        "config:\n  options:\n    f: {type: float, default: 1e400}\n",
        "config:\n  options:\n    s: {type: secret}\n    b: {type: boolean, default: maybe}\n",
        "options:\n  x: {type: string, default: 3}\n",
        "options:\n  x: {type: nonsense}\n",
        "actions:\n  restart:\n    description: go\n    params:\n      delay: {type: integer}\n",
        "restart:\n  params: 5\n",
        "actions: 12\n",
        "? [a]\n: b\n",
        "&a [*a]\n",
        "a: &x 1\nb: *x\n",
        "- 1\n- 2\n",
        "--- \n",
        "...\n",
        "\t\n",
        "{{{{\n",
        "key: \"unterminated\n",
        "!!binary aGVsbG8=\n",
        "containers:\n  workload: {resource: img}\n",
        "  indented: badly\n",
    ]);
    prop_oneof![
        prop::collection::vec(fragment, 0..8).prop_map(|v| v.concat()),
        any::<String>(),
        "[a-z:\\- \\n\\[\\]{}&*!|>'\"#0-9]{0,200}",
    ]
}

proptest! {
    #[test]
    fn the_environment_reader_never_panics_and_errors_are_typed(
        vars in env_vars(),
        argv0 in prop_oneof![Just("./dispatch".to_owned()), Just("hooks/install".to_owned()), any::<String>()],
        custom in prop::collection::vec(prop::sample::select(vec!["my-custom-event", "tick", "", "install"]), 0..3),
    ) {
        match JujuEnv::from_vars(&vars, &argv0) {
            Ok(env) => {
                prop_assert!(env.unit.is_some());
                match Event::from_env(&env, &custom) {
                    Ok(event) => {
                        // The event names a hook and round-trips through its own variables.
                        prop_assert!(!event.hook_name().is_empty());
                        let _ = event.env_vars();
                        let _ = event.dispatch_path();
                    }
                    Err(e) => check_dispatch_error(&e)?,
                }
            }
            Err(e) => check_dispatch_error(&e)?,
        }
    }

    #[test]
    fn charmcraft_yaml_never_panics(text in yamlish()) {
        match Metadata::from_charmcraft_yaml(&text) {
            Ok(meta) => {
                prop_assert!(!meta.name.is_empty());
                let _ = meta.config_defaults();
                let _ = meta.peer_endpoint();
            }
            Err(e) => check_metadata_error(&e)?,
        }
    }

    #[test]
    fn packed_metadata_never_panics(
        metadata in yamlish(),
        config in prop::option::of(yamlish()),
        actions in prop::option::of(yamlish()),
    ) {
        match Metadata::from_packed(&metadata, config.as_deref(), actions.as_deref()) {
            Ok(meta) => {
                prop_assert!(!meta.name.is_empty());
                let _ = meta.config_defaults();
            }
            Err(e) => check_metadata_error(&e)?,
        }
    }
}

fn check_dispatch_error(e: &DispatchError) -> Result<(), TestCaseError> {
    let text = e.to_string();
    prop_assert!(!text.is_empty());
    match e {
        DispatchError::Missing(var) => prop_assert!(var.starts_with("JUJU_")),
        DispatchError::Malformed { var, .. } => prop_assert!(var.starts_with("JUJU_")),
        DispatchError::BadDispatchPath(_)
        | DispatchError::UnknownHook(_)
        | DispatchError::EndpointMismatch { .. } => {}
    }
    Ok(())
}

fn check_metadata_error(e: &MetadataError) -> Result<(), TestCaseError> {
    match e {
        MetadataError::Invalid { file, reason } => {
            prop_assert!(file.ends_with(".yaml"), "{file}");
            prop_assert!(!reason.is_empty());
        }
        other => prop_assert!(false, "reading text cannot give {other:?}"),
    }
    Ok(())
}
