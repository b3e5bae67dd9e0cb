//! # hook-bench: the charm `ensemble bench hooks` times
//!
//! Two roles, by endpoint:
//! - **ping** (the behaviour measured): on `ping-relation-changed` with a remote unit, read that
//!   unit's bag, write `seen` = its `n` in this unit's bag, and set the status `seen <n>`. The
//!   same behaviour, written with Python `ops` as its users write it, is `python/src/charm.py`.
//! - **pinger** (the driver): writes `n` = 1 in relation-created, and each time the remote unit
//!   has seen the current value, writes the next, up to the `rounds` option.

#![forbid(unsafe_code)]

use charm::{BagOwner, Charm, Context, Event, HandlerResult, Observers, RelationEvent, Status};

/// The charm (stateless: everything it needs is in the bags).
#[derive(Default)]
pub struct HookBench;

impl Charm for HookBench {
    fn register(on: &mut Observers<Self>) {
        on.observe("hook-bench", Self::on_event);
    }
}

impl HookBench {
    fn on_event(&mut self, ctx: &mut Context<'_>, event: &Event) -> HandlerResult {
        match event {
            Event::RelationChanged(r) if r.endpoint == "ping" => Self::echo(ctx, r),
            Event::RelationCreated(r) if r.endpoint == "pinger" => {
                ctx.set_unit_data(r.relation_id, "n", Some("1"))?;
                Ok(())
            }
            Event::RelationChanged(r) if r.endpoint == "pinger" => Self::next_round(ctx, r),
            _ => Ok(()),
        }
    }

    /// The measured behaviour: one read of the remote bag, one write, one status.
    fn echo(ctx: &mut Context<'_>, r: &RelationEvent) -> HandlerResult {
        let Some(unit) = &r.remote_unit else {
            return Ok(());
        };
        let bag = ctx.data(r.relation_id, &BagOwner::Unit(unit.clone()))?;
        let Some(n) = bag.get("n").cloned() else {
            return Ok(());
        };
        ctx.set_unit_data(r.relation_id, "seen", Some(&n))?;
        ctx.set_status(Status::active(format!("seen {n}")))?;
        Ok(())
    }

    fn next_round(ctx: &mut Context<'_>, r: &RelationEvent) -> HandlerResult {
        let Some(unit) = &r.remote_unit else {
            return Ok(());
        };
        let seen = ctx
            .data(r.relation_id, &BagOwner::Unit(unit.clone()))?
            .get("seen")
            .cloned();
        let own = ctx.data(r.relation_id, &BagOwner::Unit(ctx.unit().clone()))?;
        let n: u64 = own.get("n").and_then(|v| v.parse().ok()).unwrap_or(0);
        let rounds = ctx.config()?.int("rounds")?.unwrap_or(10).max(0) as u64;
        if seen.as_deref() == Some(n.to_string().as_str()) {
            if n < rounds {
                ctx.set_unit_data(r.relation_id, "n", Some(&(n + 1).to_string()))?;
            } else {
                ctx.set_status(Status::active(format!("{rounds} rounds done")))?;
            }
        }
        Ok(())
    }
}
