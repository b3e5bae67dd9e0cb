//! # microcluster: token distribution for microcluster charms
//!
//! Units of a microcluster charm (MicroOVN and the like) form one cluster through a mirror, the
//! `microcluster-token-distributor` charm, instead of a peer relation whose hooks grow as N²:
//!
//! - every consumer unit publishes its `hostname`;
//! - the distributor's leader mirrors a `mirror-<host>` placeholder (`empty`) for every host
//!   that needs a token;
//! - the consumer leader of the one application allowed to (`bootstrap-app`) bootstraps the
//!   cluster; the communicator (the smallest ONLINE voter) mints a token for each placeholder
//!   and publishes it in its own bag; the distributor copies it; the host joins with it.
//!
//! The wire format is the Python library's (LIBPATCH 2 to 8), so Python and ensemble units
//! interoperate; ensemble adds keys that a Python unit ignores, to clean up consumed tokens and
//! departed hosts (the distributor's bag stays O(N)) and to replace stale tokens. The protocol
//! is specified in `docs/protocols/token-distributor.md`.
//!
//! ```
//! use charm::{Charm, Context, Event, HandlerResult, Observers};
//! use microcluster::{Consumer, ConsumerEvent, RETRY_EVENT};
//!
//! #[derive(Default)]
//! struct MicroOvn;
//!
//! fn consumer() -> Consumer {
//!     Consumer::new("cluster", ["microovn", "cluster"]).expect("a command")
//! }
//!
//! impl Charm for MicroOvn {
//!     fn register(on: &mut Observers<Self>) {
//!         on.observe("token-consumer", Self::on_event);
//!         on.custom_event(RETRY_EVENT);
//!     }
//! }
//!
//! impl MicroOvn {
//!     fn on_event(&mut self, ctx: &mut Context<'_>, event: &Event) -> HandlerResult {
//!         for e in consumer().handle(ctx, event)? {
//!             if let ConsumerEvent::Joined { .. } = e {
//!                 ctx.info("in the cluster: start the exporter");
//!             }
//!         }
//!         Ok(())
//!     }
//! }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cli;
pub mod consumer;
pub mod protocol;
pub mod provider;

pub use consumer::{Consumer, ConsumerError, ConsumerEvent, RETRY_EVENT};
pub use provider::{Provider, ProviderError};
