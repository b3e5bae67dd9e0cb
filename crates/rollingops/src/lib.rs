//! # rollingops: one unit at a time, over the peer relation
//!
//! A disruptive operation (a restart, a reconfiguration) is requested on any unit and runs on
//! at most one unit of the application at a time. The leader hands a lock around through the
//! peer relation; each unit keeps its own queue of operations. The databag contents are those
//! of charmlibs-rollingops 1.1.5's peer backend, so units running either library interoperate,
//! and a charm refreshed from charmlibs to ensemble picks up the queues and the grant it finds.
//! The full wire protocol is specified in `docs/protocols/rollingops.md`.
//!
//! What ensemble does better than charmlibs:
//! - **No clock comparison between units.** A grant carries a sequence number; only the
//!   granted unit can release it, by acknowledging that number. The scheduling order is the
//!   order in which the leader first saw each request.
//! - **Departure without double grants.** A holder that leaves gracefully releases (it says so
//!   in its bag before it goes); a holder that vanished (agent dead, removed with force, stuck
//!   in error), or that leaves after a run of its operation was cut short (a run mark outside
//!   Juju's transaction tells), keeps the lock, the application status says so with the time
//!   held, and an operator releases it with the `force-release` action.
//! - **Constant cost per leader hook**: the leader caches its peers' bags and reads afresh only
//!   the one whose change a hook reports, so a hand-over costs the same few tool calls at any
//!   size.
//! - **The leader runs its own operations at once**: it dispatches a custom event to itself
//!   without delay, instead of a background process that sleeps 10 s.
//! - **Statuses** that tell what is happening: waiting for the lock, running an operation, who
//!   holds the lock and for how long, how many units are queued.
//!
//! ## Layers
//! - [`wire`]: the keys and value formats.
//! - [`core`]: the protocol's decisions as pure functions.
//! - [`engine`]: one hook's worth of the protocol over an abstract [`engine::PeerIo`] (the
//!   adapter and the model check share it).
//! - [`RollingOps`]: the adapter over `charm::Context`.
//! - [`example`]: a rolling-restart charm (the one `ensemble demo`, `ensemble check rollingops`
//!   and the benchmarks run).
//!
//! ## Using it
//! The charm declares a peer endpoint, the custom event ([`RollingOps::declare`]) and the
//! operator's action in its `charmcraft.yaml`:
//! ```yaml
//! peers:
//!   restart:
//!     interface: rolling_op
//! actions:
//!   force-release:
//!     description: Release the rolling-ops lock held by a unit that cannot release it.
//!     params:
//!       unit:
//!         type: string
//!         description: The unit holding the lock (a guard against releasing another grant).
//!     required: [unit]
//!   drop-parked:
//!     description: Drop this unit's parked operations (unknown callback ids).
//! ```
//!
//! ## Untrusted input
//! Every value read from the peer relation is checked against the trust rules
//! ([`wire::limits`], `docs/protocols/rollingops.md` §7.1): out-of-bounds numbers, non-finite
//! or huge timestamps, garbage JSON and oversized values are treated as absent, logged once
//! through [`wire::redact`] and never stored; arithmetic on numbers from a bag is checked.
//! Operations whose callback id the charm does not know are *parked* (kept, never run, never
//! dropped) until the charm maps the id ([`RollingOps::alias`]) or the operator runs
//! `drop-parked`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod core;
pub mod engine;
pub mod example;
mod manager;
pub mod wire;

pub use crate::core::{Enqueued, OperationResult};
pub use manager::{
    CallbackResult, Kwargs, LockStatus, RequestError, RollingOps, RollingOpsError, RollingOpsState,
    DROP_PARKED_ACTION, FORCE_RELEASE_ACTION, LOCK_GRANTED_EVENT, STUCK_HINT_SECS,
};
pub use wire::{ProcessingBackend, Timestamp, WireError};
