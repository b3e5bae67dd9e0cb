//! Mixed deployments in the simulator: the ensemble distributor with consumers that follow the
//! Python library (LIBPATCH 2 and 8), ensemble consumers with a distributor that follows it, a
//! consumer application refreshed from the Python library to ensemble, and an ensemble and a
//! Python application on one distributor. Each forms one cluster (every live unit a member
//! exactly once, statuses active, no token in any log).
//!
//! The Python side is a small in-process test double of the library's wire behaviour as the
//! reference describes it (../shared/reference/token-distributor.md §1 and §5): what it writes
//! to which bag, in which hook, and what it reads. It is not the library: it leaves out its
//! events and statuses beyond what the checks need, and where the library blocks its hook while
//! a member is PENDING, the double looks again a second later. crates/microcluster/tests/conformance.rs checks the same rules hook by
//! hook; crates/ensemble/tests/microcluster_processes.rs runs a real Python `ops` consumer.

use charm::{Charm, Context, Databag, Event, HandlerError, HandlerResult, Metadata, Observers, Status};
use ensemble::formation::{check_formed, DISTRIBUTOR, MAX_VIRTUAL};
use juju_sim::Sim;
use std::collections::BTreeMap;

const CLUSTER: &str = "cluster";
const DISTRIBUTOR_ENDPOINT: &str = "microcluster-cluster";
const PREFIX: &str = "mirror-";
const EMPTY: &str = "empty";
const BOOTSTRAP_APP: &str = "bootstrap-app";
const IN_CLUSTER: &str = "in_cluster";

/// A patch level of the Python library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Patch {
    P2,
    P8,
}

fn is_up(b: &Databag) -> bool {
    b.get("mirror").is_some_and(|m| m == "up")
}

/// The remote units' bags in relation `id`.
fn remote_bags(ctx: &mut Context<'_>, id: charm::RelationId) -> Result<Vec<Databag>, HandlerError> {
    let units = ctx.relation(id)?.units.clone();
    let mut bags = Vec::new();
    for u in units {
        bags.push(ctx.data(id, &charm::BagOwner::Unit(u))?.clone());
    }
    Ok(bags)
}

fn cmd(args: &[&str]) -> charm::WorkloadCommand {
    charm::WorkloadCommand::new("microovn", ["cluster"].iter().chain(args).copied()).timeout_secs(60)
}

/// A consumer unit that follows the Python library.
struct PyConsumer {
    patch: Patch,
}

impl Charm for PyConsumer {
    fn register(on: &mut Observers<Self>) {
        on.observe("token-consumer", Self::on_event);
        on.custom_event(WAIT_EVENT);
    }
}

/// The library blocks its hook while a member is PENDING (`_wait_for_pending`); the double
/// looks again a second later instead.
const WAIT_EVENT: &str = "py-wait-for-pending";

impl PyConsumer {
    fn in_cluster(ctx: &Context<'_>) -> Result<bool, HandlerError> {
        Ok(ctx.stored::<bool>(IN_CLUSTER)?)
    }

    fn on_event(&mut self, ctx: &mut Context<'_>, event: &Event) -> HandlerResult {
        match event {
            Event::RelationCreated(r) if r.endpoint == CLUSTER => {
                let host = ctx.hostname()?;
                ctx.set_unit_data(r.relation_id, "hostname", Some(&host))?;
                // LIBPATCH 2 bootstraps here, before any distributor data can be visible.
                if self.patch == Patch::P2 && !self.bootstrap(ctx, r.relation_id)? {
                    return Ok(());
                }
                self.handle_mirror(ctx, r.relation_id)
            }
            // LIBPATCH 3+ bootstraps in relation-joined; 6+ defers while no mirror is up; 7+
            // only for the application named by `bootstrap-app`.
            Event::RelationJoined(r) if r.endpoint == CLUSTER && self.patch == Patch::P8 => {
                self.bootstrap(ctx, r.relation_id).map(drop)
            }
            Event::RelationChanged(r) if r.endpoint == CLUSTER => {
                if !Self::in_cluster(ctx)? {
                    let host = ctx.hostname()?;
                    let Some(token) = token_for(&remote_bags(ctx, r.relation_id)?, &host) else {
                        ctx.set_status(Status::maintenance("Token not in mirror"))?;
                        return Ok(());
                    };
                    let out = ctx.run(&cmd(&["join"]).secret_arg(token))?;
                    if !out.success() {
                        ctx.set_status(Status::blocked("Joining cluster failed"))?;
                        ctx.defer();
                        return Ok(());
                    }
                    ctx.set_stored(IN_CLUSTER, &true)?;
                    ctx.set_status(Status::active("Joined cluster"))?;
                }
                self.handle_mirror(ctx, r.relation_id)
            }
            Event::Custom { name, .. } if name == WAIT_EVENT => match ctx.relation_on(CLUSTER)? {
                Some(r) => self.handle_mirror(ctx, r.id),
                None => Ok(()),
            },
            Event::Remove if Self::in_cluster(ctx)? => {
                let host = ctx.hostname()?;
                ctx.run(&cmd(&["remove", &host]))?;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Bootstraps if this unit may; `false` if the hook stops here.
    fn bootstrap(&self, ctx: &mut Context<'_>, id: charm::RelationId) -> Result<bool, HandlerError> {
        if Self::in_cluster(ctx)? || !ctx.is_leader()? {
            return Ok(true);
        }
        let bags = remote_bags(ctx, id)?;
        if self.patch == Patch::P8 {
            if !bags.iter().any(is_up) {
                ctx.defer();
                return Ok(false);
            }
            let app = ctx.app().to_string();
            if ctx.remote_app_data(id)?.get(BOOTSTRAP_APP) != Some(&app) {
                return Ok(true);
            }
        }
        let data_exists = bags
            .iter()
            .any(|b| b.iter().any(|(k, v)| k.starts_with(PREFIX) && v != EMPTY));
        if data_exists {
            return Ok(true);
        }
        if !ctx.run(&cmd(&["bootstrap"]))?.success() {
            ctx.set_status(Status::blocked("Bootstrap failed"))?;
            ctx.defer();
            return Ok(false);
        }
        ctx.set_stored(IN_CLUSTER, &true)?;
        ctx.set_status(Status::active("Bootstrapped cluster"))?;
        Ok(true)
    }

    /// `_handle_mirror`: the communicator raises its mirror and mints a token for every
    /// mirrored `empty` it does not hold yet (its own name included, weakness #14).
    fn handle_mirror(&self, ctx: &mut Context<'_>, id: charm::RelationId) -> HandlerResult {
        if !Self::in_cluster(ctx)? {
            ctx.set_unit_data(id, "mirror", Some("down"))?;
            return Ok(());
        }
        let out = ctx.run(&cmd(&["list", "-f", "json"]))?;
        let members: Vec<serde_json::Value> = match serde_json::from_str(&out.stdout) {
            Ok(m) if out.success() => m,
            _ => return Ok(()),
        };
        let field = |m: &serde_json::Value, f: &str| m[f].as_str().unwrap_or_default().to_owned();
        if members.iter().any(|m| field(m, "role") == "PENDING") {
            ctx.schedule(WAIT_EVENT, std::time::Duration::from_secs(1))?;
            return Ok(());
        }
        let host = ctx.hostname()?;
        let smallest = members
            .iter()
            .filter(|m| field(m, "role") == "voter" && field(m, "status") == "ONLINE")
            .map(|m| field(m, "name"))
            .min();
        let own = ctx.unit_data(id)?.clone();
        let bags = remote_bags(ctx, id)?;
        if smallest.as_deref() == Some(host.as_str()) {
            ctx.set_unit_data(id, "mirror", Some("up"))?;
            for b in bags.iter().filter(|b| is_up(b)) {
                for (k, v) in b {
                    let Some(name) = k.strip_prefix(PREFIX) else {
                        continue;
                    };
                    if v != EMPTY || own.contains_key(k) || ctx.unit_data(id)?.contains_key(k) {
                        continue;
                    }
                    let out = ctx.run(&cmd(&["add", name]))?;
                    if out.success() {
                        ctx.set_unit_data(id, k, Some(out.stdout.trim()))?;
                    } else {
                        ctx.info(format!("cannot add {name} to the cluster"));
                    }
                }
            }
            ctx.set_status(Status::active("Communicator"))?;
        } else {
            // LIBPATCH 3+ (`_safely_down_mirror`): stay up while holding a token the
            // distributor still shows as `empty`.
            let pending_copy = self.patch == Patch::P8
                && own.iter().any(|(k, v)| {
                    k.starts_with(PREFIX)
                        && v != EMPTY
                        && bags
                            .iter()
                            .filter(|b| is_up(b))
                            .any(|b| b.get(k).is_some_and(|x| x == EMPTY))
                });
            let m = if pending_copy { "up" } else { "down" };
            ctx.set_unit_data(id, "mirror", Some(m))?;
            ctx.set_status(Status::active("In cluster"))?;
        }
        Ok(())
    }
}

/// `find_value(host, keep_empty=False)` over the distributor's `up` units.
fn token_for(bags: &[Databag], host: &str) -> Option<String> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for b in bags.iter().filter(|b| is_up(b)) {
        if let Some(v) = b.get(&format!("{PREFIX}{host}")).filter(|v| *v != EMPTY) {
            *counts.entry(v.clone()).or_default() += 1;
        }
    }
    counts.into_iter().max_by_key(|(_, n)| *n).map(|(t, _)| t)
}

/// A distributor that follows the Python library: only its leader acts, in relation-changed
/// and leader-elected; it never lowers its mirror and never deletes a key.
struct PyDistributor {
    patch: Patch,
}

impl Charm for PyDistributor {
    fn register(on: &mut Observers<Self>) {
        on.observe("token-distributor", Self::on_event);
    }
}

impl PyDistributor {
    fn on_event(&mut self, ctx: &mut Context<'_>, event: &Event) -> HandlerResult {
        let ours = matches!(event, Event::RelationChanged(r) if r.endpoint == DISTRIBUTOR_ENDPOINT);
        if !(ours || matches!(event, Event::LeaderElected)) || !ctx.is_leader()? {
            return Ok(());
        }
        let ids = ctx.relation_ids(DISTRIBUTOR_ENDPOINT)?;
        match self.patch {
            Patch::P2 => {
                // Each relation is mirrored on its own, and leader-elected raised
                // TooManyRelatedAppsError with two: the double handles one.
                if ids.len() > 1 {
                    return Err(HandlerError::msg("TooManyRelatedAppsError"));
                }
                let Some(&id) = ids.first() else { return Ok(()) };
                let bags = remote_bags(ctx, id)?;
                let mut own = ctx.unit_data(id)?.clone();
                own.insert("mirror".into(), "up".into());
                for b in bags.iter().filter(|b| is_up(b)) {
                    for (k, v) in b.iter().filter(|(k, _)| k.contains(PREFIX)) {
                        own.insert(k.clone(), v.clone());
                    }
                }
                for h in bags.iter().filter_map(|b| b.get("hostname")) {
                    own.entry(format!("{PREFIX}{h}")).or_insert_with(|| EMPTY.into());
                }
                write_changes(ctx, id, own)?;
            }
            Patch::P8 => {
                let mut merged: BTreeMap<String, String> = BTreeMap::new();
                let mut hosts = Vec::new();
                let mut bootstrap_app = None;
                for &id in &ids {
                    let own = ctx.unit_data(id)?.clone();
                    let bags = remote_bags(ctx, id)?;
                    let copies = own
                        .into_iter()
                        .chain(bags.iter().filter(|b| is_up(b)).flat_map(|b| b.clone()));
                    for (k, v) in copies.filter(|(k, _)| k.starts_with(PREFIX)) {
                        if merged.get(&k).is_none_or(|old| old == EMPTY) {
                            merged.insert(k, v);
                        }
                    }
                    hosts.extend(bags.iter().filter_map(|b| b.get("hostname").cloned()));
                    bootstrap_app = bootstrap_app.or(ctx.app_data(id)?.get(BOOTSTRAP_APP).cloned());
                }
                for h in hosts {
                    merged
                        .entry(format!("{PREFIX}{h}"))
                        .or_insert_with(|| EMPTY.into());
                }
                let first_app = match ids.first() {
                    Some(&id) => ctx.relation(id)?.app.as_ref().map(|a| a.to_string()),
                    None => None,
                };
                let bootstrap_app = bootstrap_app.or(first_app);
                for &id in &ids {
                    let mut writes = merged.clone();
                    writes.insert("mirror".into(), "up".into());
                    write_changes(ctx, id, writes)?;
                    if let Some(app) = bootstrap_app.as_ref() {
                        if ctx.app_data(id)?.get(BOOTSTRAP_APP) != Some(app) {
                            ctx.set_app_data(id, BOOTSTRAP_APP, Some(app))?;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Writes the keys of `bag` whose values differ from this unit's bag (Juju runs no hook for a
/// write that changes nothing, but the simulator should not be asked to judge).
fn write_changes(ctx: &mut Context<'_>, id: charm::RelationId, bag: Databag) -> HandlerResult {
    let own = ctx.unit_data(id)?.clone();
    let changes: Vec<(String, Option<String>)> = bag
        .into_iter()
        .filter(|(k, v)| own.get(k) != Some(v))
        .map(|(k, v)| (k, Some(v)))
        .collect();
    let me = charm::BagOwner::Unit(ctx.unit().clone());
    ctx.write(id, &me, changes)?;
    Ok(())
}

fn consumer_meta() -> Metadata {
    Metadata::from_charmcraft_yaml(microovn_demo::CHARMCRAFT_YAML).unwrap()
}

fn distributor_meta() -> Metadata {
    Metadata::from_charmcraft_yaml(token_distributor::CHARMCRAFT_YAML).unwrap()
}

enum Side {
    Ensemble,
    Python(Patch),
}

/// A distributor, then the consumer applications, each related to it and served by the
/// simulated microcluster.
fn deploy(sim: &mut Sim, distributor: Side, consumers: &[(&str, usize, Side)]) {
    match distributor {
        Side::Ensemble => sim.deploy(
            DISTRIBUTOR,
            1,
            token_distributor::TokenDistributor::default,
            distributor_meta(),
        ),
        Side::Python(patch) => sim.deploy(
            DISTRIBUTOR,
            1,
            move || PyDistributor { patch },
            distributor_meta(),
        ),
    };
    for (app, n, side) in consumers {
        match side {
            Side::Ensemble => sim.deploy(app, *n, microovn_demo::MicroOvnDemo::default, consumer_meta()),
            Side::Python(p) => {
                let patch = *p;
                sim.deploy(app, *n, move || PyConsumer { patch }, consumer_meta())
            }
        };
        sim.serve_microcluster(app, "microovn cluster")
            .unwrap_or_else(|e| panic!("{e}"));
        sim.relate(
            &format!("{app}:cluster"),
            &format!("{DISTRIBUTOR}:microcluster-cluster"),
        );
    }
}

fn formed(sim: &mut Sim, apps: &[&str]) -> ensemble::formation::ClusterReport {
    sim.settle(MAX_VIRTUAL);
    match check_formed(sim, apps) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{}", sim.status_table_limited(60));
            sim.fail(&e)
        }
    }
}

fn seed() -> u64 {
    juju_sim::seed_from_env(5)
}

/// The distributor's unit bag in the relation with `app`.
fn distributor_bag(sim: &Sim, app: &str) -> Databag {
    let id = sim
        .relation_between(
            &format!("{app}:cluster"),
            &format!("{DISTRIBUTOR}:microcluster-cluster"),
        )
        .expect("related");
    sim.databag(id, &format!("{DISTRIBUTOR}/0"))
        .cloned()
        .unwrap_or_default()
}

fn real_tokens(bag: &Databag) -> usize {
    bag.iter()
        .filter(|(k, v)| k.starts_with(PREFIX) && *v != EMPTY)
        .count()
}

#[test]
fn python_consumers_at_2_form_through_the_ensemble_distributor() {
    let mut sim = Sim::new(seed());
    deploy(&mut sim, Side::Ensemble, &[("ovn", 5, Side::Python(Patch::P2))]);
    let r = formed(&mut sim, &["ovn"]);
    assert_eq!(r.clusters.values().next().map(Vec::len), Some(5));
    // Without an ensemble communicator nothing says a Python unit joined: every token minted
    // stays mirrored (as with the Python distributor).
    assert_eq!(real_tokens(&distributor_bag(&sim, "ovn")), 4);
}

#[test]
fn python_consumers_at_8_two_applications_form_one_cluster_through_the_ensemble_distributor() {
    let mut sim = Sim::new(seed());
    deploy(
        &mut sim,
        Side::Ensemble,
        &[
            ("ovn-a", 3, Side::Python(Patch::P8)),
            ("ovn-b", 3, Side::Python(Patch::P8)),
        ],
    );
    let r = formed(&mut sim, &["ovn-a", "ovn-b"]);
    assert_eq!(r.clusters.values().next().map(Vec::len), Some(6));
}

#[test]
fn ensemble_consumers_form_through_a_python_distributor_at_2() {
    let mut sim = Sim::new(seed());
    deploy(&mut sim, Side::Python(Patch::P2), &[("ovn", 5, Side::Ensemble)]);
    let r = formed(&mut sim, &["ovn"]);
    assert_eq!(r.clusters.values().next().map(Vec::len), Some(5));
    // The Python distributor copied only `mirror-*` keys; ensemble's never reached it.
    let bag = distributor_bag(&sim, "ovn");
    let ensemble_keys = [
        "ensemble",
        "hosts",
        "members",
        "communicator",
        "joined",
        "token-request",
    ];
    assert!(
        !bag.keys().any(|k| ensemble_keys.contains(&k.as_str())
            || k.starts_with("request-")
            || k.starts_with("answers-")),
        "{bag:?}"
    );
    assert_eq!(real_tokens(&bag), 4);
}

#[test]
fn ensemble_consumers_two_applications_form_one_cluster_through_a_python_distributor_at_8() {
    let mut sim = Sim::new(seed());
    deploy(
        &mut sim,
        Side::Python(Patch::P8),
        &[("ovn-a", 3, Side::Ensemble), ("ovn-b", 4, Side::Ensemble)],
    );
    let r = formed(&mut sim, &["ovn-a", "ovn-b"]);
    assert_eq!(r.clusters.values().next().map(Vec::len), Some(7));
}

#[test]
fn a_python_application_refreshed_to_ensemble_keeps_its_cluster_and_cleans_up() {
    let mut sim = Sim::new(seed());
    deploy(&mut sim, Side::Ensemble, &[("ovn", 4, Side::Python(Patch::P8))]);
    formed(&mut sim, &["ovn"]);
    assert_eq!(real_tokens(&distributor_bag(&sim, "ovn")), 3);
    sim.refresh("ovn", microovn_demo::MicroOvnDemo::default, consumer_meta())
        .unwrap_or_else(|e| panic!("{e}"));
    sim.add_units("ovn", 2);
    let r = formed(&mut sim, &["ovn"]);
    assert_eq!(r.clusters.values().next().map(Vec::len), Some(6));
    // Every unit runs ensemble now: the consumed tokens are gone.
    assert_eq!(real_tokens(&distributor_bag(&sim, "ovn")), 0);
}

#[test]
fn an_ensemble_and_a_python_application_on_one_ensemble_distributor() {
    let mut sim = Sim::new(seed());
    deploy(
        &mut sim,
        Side::Ensemble,
        &[
            ("ovn-a", 3, Side::Ensemble),
            ("ovn-b", 3, Side::Python(Patch::P8)),
        ],
    );
    let r = formed(&mut sim, &["ovn-a", "ovn-b"]);
    assert_eq!(r.clusters.values().next().map(Vec::len), Some(6));
    // The ensemble communicator's `members` let the distributor clean up the Python units'
    // tokens too, all but one: a Python leader's only sign that a cluster exists.
    for app in ["ovn-a", "ovn-b"] {
        let bag = distributor_bag(&sim, app);
        assert_eq!(real_tokens(&bag), 1, "{bag:?}");
        assert!(!bag.values().any(|v| v == EMPTY), "{bag:?}");
    }
}
