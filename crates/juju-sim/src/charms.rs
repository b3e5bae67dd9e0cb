//! Example charms used by the tests, `ensemble demo`, `ensemble check` and the benchmarks.
//!
//! - [`PeerCharm`]: every unit publishes its address in the peer relation; relation-changed
//!   reads only the remote unit's bag; the leader names itself in the application bag.
//! - [`ClientCharm`] and [`ServerCharm`]: each client publishes its address once; each server
//!   unit reads only the remote unit's bag in relation-changed and counts the clients it heard
//!   from in its stored state.

use charm::{BagOwner, Charm, Context, Event, HandlerError, HandlerResult, Metadata, Observers, Status};

/// The metadata of [`PeerCharm`] (peer endpoint `cluster`, action `greet`).
pub fn peer_metadata() -> Metadata {
    Metadata::from_charmcraft_yaml(
        "name: peer-demo\n\
         peers:\n  cluster:\n    interface: peer-demo\n\
         config:\n  options:\n    greeting:\n      type: string\n      default: hello\n\
         actions:\n  greet:\n    description: greet\n",
    )
    .expect("valid metadata")
}

/// The metadata of [`ClientCharm`] (requires `db`).
pub fn client_metadata() -> Metadata {
    Metadata::from_charmcraft_yaml("name: client\nrequires:\n  db:\n    interface: addr\n")
        .expect("valid metadata")
}

/// The metadata of [`ServerCharm`] (provides `db`).
pub fn server_metadata() -> Metadata {
    Metadata::from_charmcraft_yaml("name: server\nprovides:\n  db:\n    interface: addr\n")
        .expect("valid metadata")
}

/// A peer-relation charm: publishes `address` in its unit bag once (in relation-created),
/// counts in stored state (`heard`) the relation-changed hooks that showed a remote address,
/// and, as leader, names itself in the peer application bag (`leader`, in leader-elected and
/// repaired in update-status).
#[derive(Default)]
pub struct PeerCharm;

impl Charm for PeerCharm {
    fn register(on: &mut Observers<Self>) {
        on.observe("peer", Self::on_event);
    }
}

impl PeerCharm {
    fn publish_leader(ctx: &mut Context<'_>) -> HandlerResult {
        if !ctx.is_leader()? {
            return Ok(());
        }
        if let Some(rel) = ctx.relation_on("cluster")? {
            let me = ctx.unit().to_string();
            if ctx.app_data(rel.id)?.get("leader") != Some(&me) {
                ctx.set_app_data(rel.id, "leader", Some(&me))?;
            }
        }
        Ok(())
    }

    fn on_event(&mut self, ctx: &mut Context<'_>, event: &Event) -> HandlerResult {
        match event {
            Event::Install => ctx.set_status(Status::maintenance("installing"))?,
            Event::RelationCreated(r) => {
                let address = ctx.unit_data(r.relation_id)?.get("ingress-address").cloned();
                ctx.set_unit_data(r.relation_id, "address", address.as_deref())?;
            }
            // A retried leader-elected may run after leadership moved on (the hook is retried
            // as it was), and a unit re-elected while in error gets no new leader-elected: so
            // check leadership, and repair the bag in update-status too.
            Event::LeaderElected => Self::publish_leader(ctx)?,
            Event::Start => ctx.set_status(Status::active("ready"))?,
            Event::RelationChanged(r) => {
                if let Some(unit) = &r.remote_unit {
                    let has = ctx
                        .data(r.relation_id, &BagOwner::Unit(unit.clone()))?
                        .contains_key("address");
                    if has {
                        let heard: u64 = ctx.stored("heard")?;
                        ctx.set_stored("heard", &(heard + 1))?;
                    }
                }
            }
            Event::UpdateStatus => {
                Self::publish_leader(ctx)?;
                if let Some(rel) = ctx.relation_on("cluster")? {
                    let n = rel.units.len();
                    ctx.set_status(Status::active(format!("{n} peers")))?;
                }
            }
            Event::Action(a) if a.name == "greet" => {
                let greeting = ctx.config()?.string("greeting")?.unwrap_or_default();
                let mut m = serde_json::Map::new();
                m.insert("message".into(), format!("{greeting} from {}", ctx.unit()).into());
                ctx.action_set(&m)?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// A client: publishes `address` in its unit bag once (in relation-created).
#[derive(Default)]
pub struct ClientCharm;

impl Charm for ClientCharm {
    fn register(on: &mut Observers<Self>) {
        on.observe("client", |_, ctx, event| {
            match event {
                Event::RelationCreated(r) => {
                    let address = ctx.unit_data(r.relation_id)?.get("ingress-address").cloned();
                    ctx.set_unit_data(r.relation_id, "address", address.as_deref())?;
                }
                Event::Start => ctx.set_status(Status::active("ready"))?,
                _ => {}
            }
            Ok(())
        });
    }
}

/// A server: in relation-changed, reads only the remote unit's bag and counts the clients
/// that published an address (stored `clients`).
#[derive(Default)]
pub struct ServerCharm;

impl Charm for ServerCharm {
    fn register(on: &mut Observers<Self>) {
        on.observe("server", |_, ctx, event| {
            match event {
                Event::RelationChanged(r) => {
                    let Some(unit) = &r.remote_unit else { return Ok(()) };
                    let has = ctx
                        .data(r.relation_id, &BagOwner::Unit(unit.clone()))?
                        .contains_key("address");
                    if has {
                        let n: u64 = ctx.stored("clients")?;
                        ctx.set_stored("clients", &(n + 1))?;
                    }
                }
                Event::RelationDeparted(_) => {
                    let n: u64 = ctx.stored("departed")?;
                    ctx.set_stored("departed", &(n + 1))?;
                }
                Event::Start => ctx.set_status(Status::active("serving"))?,
                _ => {}
            }
            Ok(())
        });
    }
}

/// A charm whose every handler fails: for tests of retries and error states.
#[derive(Default)]
pub struct FailingCharm;

impl Charm for FailingCharm {
    fn register(on: &mut Observers<Self>) {
        on.observe("fail", |_, _, _| Err(HandlerError::msg("always fails")));
    }
}
