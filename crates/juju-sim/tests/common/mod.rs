//! Helpers shared by the integration tests: a charm scripted by a closure, and metadata.
#![allow(dead_code)]

use charm::{Charm, Context, Event, HandlerResult, Metadata, Observers};
use std::rc::Rc;
use std::time::Duration;

pub const HOUR: Duration = Duration::from_secs(3600);

/// The closure a [`Script`] charm runs for every event.
pub type Handler = Rc<dyn Fn(&mut Context<'_>, &Event) -> HandlerResult>;

/// A charm whose one handler is a closure (built afresh for every hook, like any charm).
pub struct Script(pub Handler);

impl Charm for Script {
    fn register(on: &mut Observers<Self>) {
        on.observe("script", |c: &mut Script, ctx, ev| (c.0.clone())(ctx, ev));
        on.custom_event("tick");
        on.custom_event("later");
    }
}

/// A factory for a [`Script`] charm running `f`.
pub fn script(f: impl Fn(&mut Context<'_>, &Event) -> HandlerResult + 'static) -> impl Fn() -> Script {
    let h: Handler = Rc::new(f);
    move || Script(h.clone())
}

/// A charm that does nothing.
pub fn noop() -> impl Fn() -> Script {
    script(|_, _| Ok(()))
}

/// Metadata with a peer endpoint `peers`, a `db` requires endpoint, config and actions.
pub fn meta() -> Metadata {
    Metadata::from_charmcraft_yaml(
        "name: t\n\
         peers:\n  peers:\n    interface: t-peers\n\
         requires:\n  db:\n    interface: db\n\
         config:\n  options:\n    fail:\n      type: boolean\n      default: false\n    v:\n      type: string\n      default: a\n\
         actions:\n  write: {}\n  set-leader: {}\n  fail: {}\n  broken: {}\n",
    )
    .unwrap()
}

/// Metadata with a `db` provides endpoint (limit 1 on `solo`) and a peer endpoint.
pub fn server_meta() -> Metadata {
    Metadata::from_charmcraft_yaml(
        "name: s\n\
         peers:\n  peers:\n    interface: s-peers\n\
         provides:\n  db:\n    interface: db\n  solo:\n    interface: db\n    limit: 1\n  other:\n    interface: other\n\
         actions:\n  publish: {}\n",
    )
    .unwrap()
}

/// The hook names `unit` ran (kept records), with `(remote)` appended when there was one.
pub fn hooks(sim: &juju_sim::Sim, unit: &str) -> Vec<String> {
    sim.trace()
        .of_unit(unit)
        .map(|r| match &r.remote_unit {
            Some(x) => format!("{}({x})", r.hook),
            None => r.hook.to_string(),
        })
        .collect()
}
