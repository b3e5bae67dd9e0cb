//! The `microcluster-token-distributor` charm: a mirror of join tokens for microcluster charms.
//!
//! Its leader mirrors what the consumer units need (see `docs/protocols/token-distributor.md`);
//! its other units keep their mirror down. It keeps no state of its own.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use charm::{Charm, Context, Event, HandlerResult, Observers, Status};
use microcluster::Provider;

/// The endpoint consumers relate to.
pub const ENDPOINT: &str = "microcluster-cluster";

/// The charm's `charmcraft.yaml`.
pub const CHARMCRAFT_YAML: &str = include_str!("../charmcraft.yaml");

/// The charm.
#[derive(Debug, Default)]
pub struct TokenDistributor;

impl Charm for TokenDistributor {
    fn register(on: &mut Observers<Self>) {
        on.observe("token-distributor", Self::on_event);
    }
}

impl TokenDistributor {
    fn on_event(&mut self, ctx: &mut Context<'_>, event: &Event) -> HandlerResult {
        if matches!(event, Event::Stop | Event::Remove) {
            return Ok(());
        }
        let plan = Provider::new(ENDPOINT).handle(ctx, event)?;
        let leader = ctx.is_leader()?;
        let relations = ctx.relation_ids(ENDPOINT)?.len();
        let status = if relations == 0 {
            Status::blocked("waiting for a microcluster charm to relate")
        } else if leader {
            let pending = plan
                .unit_bags
                .first()
                .map(|(_, ch)| ch.keys().filter(|k| k.starts_with("mirror-")).count())
                .unwrap_or(0);
            if pending > 0 {
                Status::active(format!("mirroring ({pending} keys changed)"))
            } else {
                Status::active("mirroring")
            }
        } else {
            Status::active("standby")
        };
        ctx.set_status(status)?;
        Ok(())
    }
}
