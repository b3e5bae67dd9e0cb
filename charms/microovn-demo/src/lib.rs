//! An example consumer charm: a MicroOVN-like charm that forms one cluster through the token
//! distributor. It is what a real microcluster charm looks like with ensemble: one handler that
//! hands every event to the consumer and reacts to its events.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use charm::{Charm, Context, Event, HandlerResult, Observers};
use microcluster::{Consumer, ConsumerEvent, RETRY_EVENT};

/// The endpoint related to the distributor.
pub const ENDPOINT: &str = "cluster";

/// The charm's `charmcraft.yaml`.
pub const CHARMCRAFT_YAML: &str = include_str!("../charmcraft.yaml");

/// The workload's cluster command.
pub const COMMAND: [&str; 2] = ["microovn", "cluster"];

/// The charm.
#[derive(Debug, Default)]
pub struct MicroOvnDemo;

impl Charm for MicroOvnDemo {
    fn register(on: &mut Observers<Self>) {
        on.observe("token-consumer", Self::on_event);
        on.custom_event(RETRY_EVENT);
    }
}

/// The consumer this charm uses.
pub fn consumer() -> Consumer {
    // COMMAND is never empty.
    Consumer::new(ENDPOINT, COMMAND).unwrap_or_else(|| unreachable!("COMMAND is not empty"))
}

impl MicroOvnDemo {
    fn on_event(&mut self, ctx: &mut Context<'_>, event: &Event) -> HandlerResult {
        for e in consumer().handle(ctx, event)? {
            match e {
                ConsumerEvent::PreBootstrap | ConsumerEvent::PreJoin => {
                    ctx.debug("preparing the workload before it enters the cluster")
                }
                ConsumerEvent::Bootstrapped => ctx.info("bootstrapped the cluster"),
                ConsumerEvent::Joined { bootstrapper } => {
                    ctx.info(format!("in the cluster (bootstrapper: {bootstrapper})"))
                }
                ConsumerEvent::TokenGenerated { host } => ctx.debug(format!("minted a token for {host}")),
            }
        }
        Ok(())
    }
}
