//! # hook-tools: Juju's hook tools, served by the simulator
//!
//! Under Juju, a charm's hooks call tools (`relation-get`, `relation-set`, `is-leader`, ...)
//! that talk to the unit agent over a socket. This crate gives the simulator's process driver
//! the same thing, in two halves:
//!
//! - **The client**: the `hook-tools` binary, installed as one symlink per tool name
//!   ([`TOOLS`], [`install_symlinks`]). It understands nothing of the tools: it sends the call
//!   (name, arguments, standard input for `--file -`, the files the arguments name) to the
//!   socket in `JUJU_AGENT_SOCKET_ADDRESS`, prints the reply and exits with its code. The
//!   protocol is in [`wire`].
//! - **The agent side** (this library): [`parse`] turns a call into a typed [`Request`], with
//!   every argv form Python `ops` and charmhelpers use; [`execute`] runs it against any
//!   [`charm::Backend`] with Juju's rules and Juju's error messages, and renders the output in
//!   the `smart`, `json` or `yaml` forms they parse ([`render`]); [`handle_connection`] serves
//!   one socket connection, so the driver only maps context ids to backends.
//!
//! ```
//! use charm::testing::{Memory, RelationState, State};
//! use charm::{Metadata, RelationId, UnitName};
//! use hook_tools::{parse, execute, HookContextInfo};
//!
//! let meta = Metadata::from_charmcraft_yaml("name: app\nrequires: {db: {interface: pg}}").unwrap();
//! let unit = UnitName::parse("app/0").unwrap();
//! let state = State {
//!     relations: vec![RelationState::new(3, "db", "pg").with_unit("pg/0", &[("host", "10.0.0.9")])],
//!     ..State::default()
//! };
//! let mut backend = Memory::new(state, &meta, unit.clone(), None);
//! let hook = HookContextInfo::new(unit)
//!     .with_relation("db", RelationId(3))
//!     .with_remote_unit(UnitName::parse("pg/0").unwrap());
//!
//! let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
//! let get = parse("relation-get", &args(&["--format=json", "-"]), None, &Default::default()).unwrap();
//! assert_eq!(execute(&mut backend, &hook, get).stdout, "{\"host\":\"10.0.0.9\"}\n");
//!
//! let set = parse("relation-set", &args(&["--file", "-"]), Some(b"port: 5432\n"), &Default::default()).unwrap();
//! assert_eq!(execute(&mut backend, &hook, set).code, 0);
//! assert_eq!(backend.txn.relations[0].local_unit_data["port"], "5432");
//!
//! let bad = parse("relation-get", &args(&["-r", "7", "-", "pg/0"]), None, &Default::default()).unwrap();
//! let reply = execute(&mut backend, &hook, bad);
//! assert_eq!((reply.code, reply.stderr.as_str()), (2, "ERROR invalid value \"7\" for option -r: relation not found\n"));
//! ```
//!
//! `juju-exec` (a charm scheduling a hook for itself) parses to [`Request::Exec`]: the driver
//! schedules it; [`execute`] hands it back in [`Response::exec`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
mod error;
mod execute;
mod flags;
mod render;
mod request;
mod settings;
pub mod wire;

pub use error::UsageError;
pub use execute::{
    execute, run_tool, HookContextInfo, Response, MAX_BAG_BYTES, MAX_STATE_KEY, MAX_STATE_VALUE,
};
pub use render::render;
pub use request::{help_text, parse, ExecRequest, Format, NetworkKey, RelationArg, Request, TOOLS};
pub use settings::{base64_decode, base64_encode};
pub use wire::{handle_connection, WireRequest};

use std::path::Path;

/// Makes `dir/<tool>` a symlink to `binary` for every tool in [`TOOLS`], replacing what is
/// there: how the driver installs the tools for a unit.
pub fn install_symlinks(binary: &Path, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for tool in TOOLS {
        let link = dir.join(tool);
        match std::fs::remove_file(&link) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        std::os::unix::fs::symlink(binary, &link)?;
    }
    Ok(())
}
