//! # juju-sim: a deterministic multi-unit Juju simulator
//!
//! Runs Rust charms in-process, thousands of units at a time, under the rules of Juju's unit
//! agent (the uniter), on virtual time, with faults, a trace of every hook and metrics. One
//! seed drives every choice, so a run replays exactly.
//!
//! ```
//! use charm::{BagOwner, Charm, Context, Event, HandlerResult, Metadata, Observers, Status};
//! use juju_sim::Sim;
//! use std::time::Duration;
//!
//! /// Each unit publishes its hostname and counts the peers it has heard from.
//! #[derive(Default)]
//! struct Peer;
//!
//! impl Charm for Peer {
//!     fn register(on: &mut Observers<Self>) {
//!         on.observe("peer", Self::on_event);
//!     }
//! }
//!
//! impl Peer {
//!     fn on_event(&mut self, ctx: &mut Context<'_>, event: &Event) -> HandlerResult {
//!         match event {
//!             Event::RelationCreated(r) => {
//!                 let host = ctx.hostname()?;
//!                 ctx.set_unit_data(r.relation_id, "host", Some(&host))?;
//!             }
//!             Event::RelationChanged(r) => {
//!                 if let Some(unit) = &r.remote_unit {
//!                     let bag = ctx.data(r.relation_id, &BagOwner::Unit(unit.clone()))?;
//!                     if bag.contains_key("host") {
//!                         let seen: u64 = ctx.stored("seen")?;
//!                         ctx.set_stored("seen", &(seen + 1))?;
//!                     }
//!                 }
//!             }
//!             Event::Start => ctx.set_status(Status::active("ready"))?,
//!             _ => {}
//!         }
//!         Ok(())
//!     }
//! }
//!
//! let meta = Metadata::from_charmcraft_yaml("name: peer\npeers:\n  cluster:\n    interface: peer\n").unwrap();
//! let mut sim = Sim::new(42);
//! sim.deploy("peer", 3, Peer::default, meta);
//! let idle = sim.run_until_idle(Duration::from_secs(3600)).unwrap();
//! assert!(idle.quiescent_at > Duration::ZERO);
//! assert_eq!(sim.unit_status("peer/1").unwrap(), Status::active("ready"));
//! assert_eq!(sim.leader("peer").as_deref(), Some("peer/0"));
//! // Each unit heard from both others.
//! assert_eq!(sim.stored("peer/2", "seen"), Some(serde_json::json!(2)));
//! println!("{}", sim.status_table());
//! println!("{}", sim.metrics());
//! ```
//!
//! ## The rules (see `docs/simulator.md` for the full list)
//! - Each unit runs one hook at a time, chosen by Juju's resolver order: relation-created,
//!   leadership, secrets, actions and `juju-exec` events, the errored or queued hook, teardown
//!   when dying, then install, upgrade-charm, config-changed, the relation resolver and
//!   update-status. Start-up is install → relation-created → leader-elected or
//!   leader-settings-changed → config-changed → start.
//! - Relation changes are versioned per remote unit and per remote application and
//!   **coalesce**: several writes between two hooks of an observer give one relation-changed.
//!   relation-changed follows every relation-joined; application-bag changes arrive with no
//!   remote unit; a unit never sees its own writes; departed and broken run on removal; peer
//!   relations are never broken.
//! - Relation data, stored state, controller state and secrets are committed only when the
//!   hook returns `Ok` (a failed, panicking or killed hook commits nothing); status, logs,
//!   leader settings, the workload version, action results and scheduled events apply at once.
//! - Leadership is a lease: unit 0 leads at deploy; a removed leader is replaced at once; a
//!   leader whose agent dies is replaced when its lease runs out; leader-settings-changed runs
//!   on followers only.
//! - A failed hook puts the unit in error; it is retried after 5 s, 10 s, ... at most 5 min,
//!   with jitter from the seed.
//! - A charm that panics in a hook counts as a failed hook (the panic is caught; Rust's panic
//!   hook still prints its message to standard error).
//!
//! ## Determinism
//! Every choice (the order of units acting at the same virtual time, the order across
//! relations, jitter, faults, leader elections) draws from one seeded generator; no hash-map
//! order influences anything. [`Trace::hash`] hashes every hook; the same seed gives the same
//! hash. A failed assertion made through [`Sim::fail`], [`Sim::check`] or [`Sim::settle`]
//! prints the seed and how to replay it (`SIM_SEED=<n> cargo test ...` by default; see
//! [`seed_from_env`] and [`Sim::set_replay_hint`]).

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod backend;
pub mod bench;
pub mod charms;
mod config;
mod engine;
pub mod logwatch;
mod model;
pub mod process;
mod rng;
pub mod scenarios;
mod secrets;
mod sim;
mod status;
mod trace;
pub mod workload;

pub use backend::EPOCH_SECS;
pub use config::{CommandFault, CostModel, Fault, FaultProfile, SimConfig, TraceMode};
pub use logwatch::{LogWatch, WatchHit, JOIN_TOKEN_START, JOIN_TOKEN_WATCH};
pub use model::{Life, MachineSpec};
pub use process::{ProcessConfig, ProcessHookStat};
pub use rng::Rng;
pub use sim::{seed_from_env, ActionRecord, ActionStatus, Idle, Sim, SimError, UnitInfo};
pub use trace::{HookKind, HookOutcome, HookRecord, Metrics, Trace, TraceSink, HOOK_KINDS};
