//! A minimal charm to copy: it greets every unit that joins its peer relation.
//!
//! Build it, then put the binary at `<charm dir>/dispatch` beside this charmcraft.yaml:
//!
//! ```yaml
//! name: hello
//! peers:
//!   peers:
//!     interface: hello-peers
//! ```

use charm::{BagOwner, Charm, Context, Event, HandlerResult, Observers, Status};

#[derive(Default)]
struct Hello;

impl Charm for Hello {
    fn register(on: &mut Observers<Self>) {
        on.observe("hello", Self::on_event);
    }
}

impl Hello {
    fn on_event(&mut self, ctx: &mut Context<'_>, event: &Event) -> HandlerResult {
        match event {
            Event::Start => ctx.set_status(Status::active("ready"))?,
            Event::RelationChanged(r) => {
                let Some(unit) = &r.remote_unit else { return Ok(()) };
                // Read only the remote unit's bag: a hook pays for what it reads.
                let address = ctx
                    .data(r.relation_id, &BagOwner::Unit(unit.clone()))?
                    .get("ingress-address")
                    .cloned()
                    .unwrap_or_default();
                ctx.set_unit_data(
                    r.relation_id,
                    "greeted",
                    Some(&format!("hello {unit} at {address}")),
                )?;
                ctx.set_status(Status::active(format!("greeted {unit}")))?;
            }
            _ => {}
        }
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    charm::main(Hello::default)
}
