//! # charm: Juju charms in Rust
//!
//! A charm is a type that names its handlers; Juju starts it afresh for every hook, and each
//! handler reads and writes the model through a [`Context`]:
//!
//! ```
//! use charm::{Charm, Context, Event, HandlerResult, Observers, Status};
//!
//! #[derive(Default)]
//! struct Greeter;
//!
//! impl Charm for Greeter {
//!     fn register(on: &mut Observers<Self>) {
//!         on.observe("greeter", Self::on_event);
//!     }
//! }
//!
//! impl Greeter {
//!     fn on_event(&mut self, ctx: &mut Context<'_>, event: &Event) -> HandlerResult {
//!         match event {
//!             Event::RelationChanged(r) => {
//!                 // Read the remote unit's bag, answer in ours.
//!                 if let Some(unit) = &r.remote_unit {
//!                     let owner = charm::BagOwner::Unit(unit.clone());
//!                     let name = ctx.data(r.relation_id, &owner)?.get("name").cloned();
//!                     if let Some(name) = name {
//!                         ctx.set_unit_data(r.relation_id, "greeting", Some(&format!("hello {name}")))?;
//!                     }
//!                 }
//!                 ctx.set_status(Status::active("greeting"))?;
//!             }
//!             Event::Start => ctx.set_status(Status::active("ready"))?,
//!             _ => {}
//!         }
//!         Ok(())
//!     }
//! }
//! // In the charm's binary: `fn main() -> std::process::ExitCode { charm::main(Greeter::default) }`
//! ```
//!
//! ## What Juju guarantees, and what this crate enforces
//! - **One transaction per hook.** Relation data, stored state ([`Context::set_stored`]) and
//!   secrets are committed only when every handler returns `Ok`; a handler error makes the
//!   process exit non-zero, so Juju retries the hook with nothing of it applied. Status, logs and
//!   leader settings take effect at once and are never rolled back.
//! - **Databag rules** as typed errors ([`ModelError`]): a unit writes only its own bag, and its
//!   application's bag only as leader; it reads its application's bag only as leader, or in a
//!   peer relation. Reads see the hook's own writes.
//! - **Deferral** with ops' semantics: [`Context::defer`] queues the event for the handler that
//!   deferred it; it runs again before the next event, in order, and duplicates are dropped.
//!
//! ## Backends
//! Every call goes through the [`Backend`] trait: [`HookTools`] runs Juju's hook tools with the
//! exact argv and formats Python `ops` uses; [`testing::Harness`] runs one unit in memory,
//! `ops.testing`-style; the `juju-sim` crate runs thousands of units in one process. The clock,
//! the hostname and workload commands go through the backend too, so a simulator can skew
//! clocks, name machines and serve a simulated workload.
//!
//! ## Juju 3.6 and Juju 4
//! Targets machine charms on Juju 3.6 (LTS). On Juju 4, `leader-get` / `leader-set` are gone:
//! [`Context::leader_set`] fails there (check [`JujuVersion::has_leader_settings`]); keep shared
//! settings in a peer relation's application bag instead.

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod backend;
mod context;
mod event;
mod framework;
mod hook_tools;
mod metadata;
mod model;
mod names;
pub mod reactive;
mod sys;
pub mod testing;

pub use backend::{Backend, BackendError};
pub use context::{Config, Context, ModelError};
pub use event::{
    ActionEvent, DispatchError, Event, HookName, JujuEnv, JujuVersion, PebbleNotice, RelationEvent,
    SecretEvent, StorageEvent, WorkloadEvent,
};
pub use framework::{
    ignore_unknown_hook, main, run_hook, Charm, Handler, HandlerError, HandlerResult, HookError, HookReport,
    HookSetup, Notice, Observers, StateStore, StoredDocument, CONTROLLER_STATE_KEY, HOOK_STATS_ENV,
};
pub use hook_tools::{
    atomic_write_mode, atomic_write_private, run_with_timeout, HookTools, StoredStateLocation,
    MAX_COMMAND_OUTPUT, MAX_CONTROLLER_STATE_VALUE, MAX_LOG_CHARS, STATE_FILE,
};
pub use metadata::{
    ActionSpec, ConfigOption, ConfigType, Endpoint, LazyMetadata, Metadata, MetadataError, MetadataSource,
    Role,
};
pub use model::*;
pub use names::{AppName, NameError, RelationId, UnitName};
