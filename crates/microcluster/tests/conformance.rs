//! Conformance with the Python library (`microcluster_token_distributor.v0.token_distributor`)
//! at LIBPATCH 2 and LIBPATCH 8, in both directions (docs/protocols/token-distributor.md,
//! "Mixed deployments"):
//!
//! | provider | consumer | tests |
//! |---|---|---|
//! | ensemble | Python @2 | `ensemble_provider_python_consumer_2_*` |
//! | ensemble | Python @8 | `ensemble_provider_python_consumer_8_*` |
//! | Python @2 | ensemble | `python_provider_2_ensemble_consumer_*` |
//! | Python @8 | ensemble | `python_provider_8_ensemble_consumer_*` |
//!
//! The ensemble side runs for real ([`Provider::handle`] and [`Consumer::handle`] in
//! `charm::testing::Harness`, the consumer against a small fake `microovn cluster`). The Python
//! side is the [`python`] module: what the library writes and reads at each patch level, as
//! the reference (../shared/reference/token-distributor.md, §1 and §5) describes it.

use charm::testing::{bag, Harness, RelationState, State};
use charm::{
    Charm, CommandOutput, Context, Databag, Event, HandlerResult, Metadata, Observers, RelationEvent,
    RelationId, UnitName, WorkloadCommand,
};
use microcluster::{Consumer, Provider, RETRY_EVENT};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// The Python library's side of the wire, at LIBPATCH 2 and 8.
mod python {
    use charm::Databag;
    use std::collections::BTreeMap;

    pub const PREFIX: &str = "mirror-";
    pub const EMPTY: &str = "empty";
    pub const BOOTSTRAP_APP: &str = "bootstrap-app";

    /// A patch level of the library.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Patch {
        /// LIBPATCH 2 (commit 73b5bcb, the seed).
        P2,
        /// LIBPATCH 8 (main).
        P8,
    }

    /// A consumer unit's bag, at either level: `hostname`; once in the cluster `mirror`
    /// (`up` on the communicator; at 8 also on a unit that holds a token the distributor still
    /// shows as `empty`); and the tokens the communicator minted. It never deletes a key.
    pub fn consumer_bag(host: &str, mirror: Option<&str>, minted: &[(&str, &str)]) -> Databag {
        let mut b = Databag::new();
        b.insert("hostname".into(), host.into());
        if let Some(m) = mirror {
            b.insert("mirror".into(), m.into());
        }
        for (h, t) in minted {
            b.insert(format!("{PREFIX}{h}"), (*t).into());
        }
        b
    }

    fn up(b: &Databag) -> bool {
        b.get("mirror").is_some_and(|m| m == "up")
    }

    /// `find_value(relation, host, keep_empty=False)`: the most common non-`empty` value of
    /// `mirror-<host>` among the distributor's `up` units (ties: first seen).
    pub fn token_for(distributor: &[Databag], host: &str) -> Option<String> {
        let mut counts: Vec<(String, usize)> = Vec::new();
        for b in distributor.iter().filter(|b| up(b)) {
            if let Some(v) = b.get(&format!("{PREFIX}{host}")).filter(|v| *v != EMPTY) {
                match counts.iter_mut().find(|(t, _)| t == v) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((v.clone(), 1)),
                }
            }
        }
        let best = counts.iter().map(|(_, n)| *n).max()?;
        counts.into_iter().find(|(_, n)| *n == best).map(|(t, _)| t)
    }

    /// `any_data_exists`: a `mirror-*` value other than `empty` in any distributor unit's bag.
    pub fn any_data_exists(distributor: &[Databag]) -> bool {
        distributor
            .iter()
            .any(|b| b.iter().any(|(k, v)| k.starts_with(PREFIX) && v != EMPTY))
    }

    /// Whether the consumer leader of `app`, not in the cluster, bootstraps. At 2 (in
    /// relation-created): when no data exists. At 8 (in relation-joined): also only with a
    /// mirror up and `bootstrap-app` naming its application.
    pub fn may_bootstrap(patch: Patch, distributor: &[Databag], app_bag: &Databag, app: &str) -> bool {
        let allowed = match patch {
            Patch::P2 => true,
            Patch::P8 => distributor.iter().any(up) && app_bag.get(BOOTSTRAP_APP).is_some_and(|a| a == app),
        };
        allowed && !any_data_exists(distributor)
    }

    /// `_update_tokens` on the communicator: `add <host>` for every mirrored `empty` value it
    /// does not hold itself (its own hostname included: weakness #14).
    pub fn to_mint(distributor: &[Databag], own: &Databag) -> Vec<String> {
        let mut hosts = Vec::new();
        for b in distributor.iter().filter(|b| up(b)) {
            for (k, v) in b {
                if let Some(h) = k.strip_prefix(PREFIX) {
                    if v == EMPTY && !own.contains_key(k) && !hosts.iter().any(|x| x == h) {
                        hosts.push(h.to_owned());
                    }
                }
            }
        }
        hosts
    }

    /// One relation as the Python provider's leader sees it.
    pub struct Relation<'a> {
        pub app: &'a str,
        pub consumers: Vec<Databag>,
        pub own: Databag,
    }

    /// The Python provider's leader handling relation-changed (or leader-elected): the new
    /// unit bag of each relation, and the application bag (the same in every relation).
    ///
    /// At 2: one relation (each is mirrored on its own, and leader-elected fails with two:
    /// `get_relation` raised `TooManyRelatedAppsError`; the model refuses two); `mirror=up`;
    /// every key *containing* `mirror-` of an `up` consumer unit copied over whatever was
    /// there; `mirror-<host>=empty` for a hostname not present yet. No application bag.
    ///
    /// At 8: the keys *starting with* `mirror-` of its own bags and of `up` consumers, across
    /// all relations, merged (a real token beats `empty`, never replaced by `empty`), plus the
    /// placeholders, written to every relation; `bootstrap-app` = the first relation's
    /// application, sticky.
    pub fn provider(patch: Patch, relations: &[Relation<'_>], app_bag: &Databag) -> (Vec<Databag>, Databag) {
        match patch {
            Patch::P2 => {
                assert_eq!(relations.len(), 1, "the LIBPATCH 2 model handles one relation");
                let r = &relations[0];
                let mut own = r.own.clone();
                own.insert("mirror".into(), "up".into());
                for c in r.consumers.iter().filter(|b| up(b)) {
                    for (k, v) in c {
                        if k.contains(PREFIX) {
                            own.insert(k.clone(), v.clone());
                        }
                    }
                }
                for c in &r.consumers {
                    if let Some(h) = c.get("hostname") {
                        own.entry(format!("{PREFIX}{h}")).or_insert_with(|| EMPTY.into());
                    }
                }
                (vec![own], app_bag.clone())
            }
            Patch::P8 => {
                let mut merged: BTreeMap<String, String> = BTreeMap::new();
                let mut put = |k: &String, v: &String| {
                    let keep = merged.get(k).is_some_and(|old| old != EMPTY);
                    if !keep {
                        merged.insert(k.clone(), v.clone());
                    }
                };
                for r in relations {
                    for (k, v) in r.own.iter().filter(|(k, _)| k.starts_with(PREFIX)) {
                        put(k, v);
                    }
                    for c in r.consumers.iter().filter(|b| up(b)) {
                        for (k, v) in c.iter().filter(|(k, _)| k.starts_with(PREFIX)) {
                            put(k, v);
                        }
                    }
                }
                for r in relations {
                    for c in &r.consumers {
                        if let Some(h) = c.get("hostname") {
                            merged
                                .entry(format!("{PREFIX}{h}"))
                                .or_insert_with(|| EMPTY.into());
                        }
                    }
                }
                let bags = relations
                    .iter()
                    .map(|r| {
                        let mut own = r.own.clone();
                        own.insert("mirror".into(), "up".into());
                        own.extend(merged.clone());
                        own
                    })
                    .collect();
                let mut app = app_bag.clone();
                if !app.contains_key(BOOTSTRAP_APP) {
                    if let Some(first) = relations.first() {
                        app.insert(BOOTSTRAP_APP.into(), first.app.into());
                    }
                }
                (bags, app)
            }
        }
    }
}

use python::Patch;

// ----- the ensemble charms under test --------------------------------------------------------

const PROVIDER_ENDPOINT: &str = "microcluster-cluster";
const CONSUMER_ENDPOINT: &str = "cluster";

#[derive(Default)]
struct Distributor;

impl Charm for Distributor {
    fn register(on: &mut Observers<Self>) {
        on.observe("provider", |_, ctx: &mut Context<'_>, event| {
            Provider::new(PROVIDER_ENDPOINT).handle(ctx, event)?;
            Ok(())
        });
    }
}

#[derive(Default)]
struct MicroOvn;

impl Charm for MicroOvn {
    fn register(on: &mut Observers<Self>) {
        on.observe("consumer", MicroOvn::on_event);
        on.custom_event(RETRY_EVENT);
    }
}

impl MicroOvn {
    fn on_event(&mut self, ctx: &mut Context<'_>, event: &Event) -> HandlerResult {
        let consumer = Consumer::new(CONSUMER_ENDPOINT, ["microovn", "cluster"]).expect("a command");
        consumer.handle(ctx, event)?;
        Ok(())
    }
}

fn distributor() -> Harness<Distributor> {
    let meta = Metadata::from_charmcraft_yaml(
        "name: distributor\nprovides:\n  microcluster-cluster:\n    interface: worker-cluster\n",
    )
    .unwrap();
    Harness::new(meta, Distributor::default)
}

/// A fake `microovn cluster`: one cluster, tokens minted by `add` and used once by `join`.
#[derive(Debug, Default)]
struct Cluster {
    members: Vec<String>,
    /// Unused tokens, with the name each is for.
    tokens: BTreeMap<String, String>,
    minted: u32,
}

fn members_json(members: &[String]) -> String {
    let list: Vec<serde_json::Value> = members
        .iter()
        .map(|m| serde_json::json!({"name": m, "role": "voter", "status": "ONLINE", "address": "10.0.0.1:6443"}))
        .collect();
    serde_json::Value::Array(list).to_string()
}

fn serve(cluster: &Rc<RefCell<Cluster>>, host: &str, cmd: &WorkloadCommand) -> CommandOutput {
    let mut c = cluster.borrow_mut();
    let args: Vec<&str> = cmd.args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["cluster", "list", "-f", "json"] if c.members.iter().any(|m| m == host) => {
            CommandOutput::ok(members_json(&c.members))
        }
        ["cluster", "list", ..] => CommandOutput::failed(1, "Error: Daemon not yet initialized"),
        ["cluster", "bootstrap", ..] => {
            c.members = vec![host.to_owned()];
            CommandOutput::ok("")
        }
        ["cluster", "add", name, ..] => {
            if c.members.iter().any(|m| m == name) || c.tokens.values().any(|n| n == name) {
                return CommandOutput::failed(1, format!("Error: name {name:?} is taken"));
            }
            c.minted += 1;
            let token = format!("TOKEN{}for{name}", c.minted);
            c.tokens.insert(token.clone(), (*name).to_owned());
            CommandOutput::ok(format!("{token}\n"))
        }
        ["cluster", "join", token, ..] => match c.tokens.get(*token) {
            Some(name) if name == host => {
                c.tokens.remove(*token);
                c.members.push(host.to_owned());
                CommandOutput::ok("")
            }
            _ => CommandOutput::failed(1, "Error: CoreTokenRecord not found"),
        },
        _ => CommandOutput::failed(2, format!("unexpected command {cmd}")),
    }
}

fn consumer(app: &str, unit: u32, host: &str, cluster: &Rc<RefCell<Cluster>>) -> Harness<MicroOvn> {
    let meta = Metadata::from_charmcraft_yaml(&format!(
        "name: {app}\nrequires:\n  cluster:\n    interface: worker-cluster\n    limit: 1\n"
    ))
    .unwrap();
    let (cluster, host) = (cluster.clone(), host.to_owned());
    Harness::new(meta, MicroOvn::default)
        .unit_number(unit)
        .workload(move |cmd| serve(&cluster, &host, cmd))
}

fn changed(endpoint: &str, id: u32, remote: &str) -> Event {
    let unit = UnitName::parse(remote).unwrap();
    Event::RelationChanged(RelationEvent {
        endpoint: endpoint.into(),
        relation_id: RelationId(id),
        remote_app: Some(unit.app()),
        remote_unit: Some(unit),
        departing_unit: None,
    })
}

fn relation(id: u32, endpoint: &str, app: &str, units: &[(&str, &Databag)]) -> RelationState {
    let mut r = RelationState::new(id, endpoint, app);
    for (u, b) in units {
        r.remote_units.insert(UnitName::parse(u).unwrap(), (*b).clone());
    }
    r
}

/// The distributor leader's bags after one relation-changed from `remote` in relation `id`.
fn run_provider(state: State, id: u32, remote: &str) -> State {
    let run = distributor().run(changed(PROVIDER_ENDPOINT, id, remote), state);
    if let Err(e) = &run.result {
        panic!("the provider's hook failed: {e}");
    }
    run.state
}

fn own(state: &State, id: u32) -> &Databag {
    &state.relation(id).unwrap().local_unit_data
}

fn app_bag(state: &State, id: u32) -> &Databag {
    &state.relation(id).unwrap().local_app_data
}

/// What a Python consumer at any patch level depends on in an ensemble distributor's bag:
/// `mirror` is `up` or `down`; a key containing `mirror-` (LIBPATCH 2 matches by substring) is
/// `mirror-<valid hostname>`; the value `empty` appears under such keys only.
#[track_caller]
fn assert_python_safe(b: &Databag) {
    assert!(
        matches!(b.get("mirror").map(String::as_str), Some("up" | "down")),
        "{b:?}"
    );
    for (k, v) in b {
        if k.contains(python::PREFIX) || v == python::EMPTY {
            let host = k
                .strip_prefix(python::PREFIX)
                .unwrap_or_else(|| panic!("key {k:?} in {b:?}"));
            assert!(microcluster::cli::valid_hostname(host), "key {k:?}");
            assert!(!v.is_empty(), "key {k:?}");
        }
    }
}

fn leader(relations: Vec<RelationState>) -> State {
    State {
        leader: true,
        relations,
        ..State::default()
    }
}

// ----- ensemble provider × Python consumer @2 -------------------------------------------------

#[test]
fn ensemble_provider_python_consumer_2_placeholders_and_bootstrap() {
    // Python units write `hostname` only: no `token-request`, no `joined`.
    let c0 = python::consumer_bag("h0", None, &[]);
    let c1 = python::consumer_bag("h1", None, &[]);
    let state = leader(vec![relation(
        1,
        PROVIDER_ENDPOINT,
        "ovn",
        &[("ovn/0", &c0), ("ovn/1", &c1)],
    )]);
    let s = run_provider(state, 1, "ovn/1");
    let b = own(&s, 1);
    assert_python_safe(b);
    assert_eq!(b["mirror"], "up");
    assert_eq!(b["mirror-h0"], "empty");
    assert_eq!(b["mirror-h1"], "empty");
    // Generations are mirrored only for units that ask with one.
    assert!(!b.keys().any(|k| k.starts_with("request-")), "{b:?}");
    // The Python leader (in relation-created) sees no data and bootstraps; no token yet.
    let view = [b.clone()];
    assert!(python::may_bootstrap(Patch::P2, &view, app_bag(&s, 1), "ovn"));
    assert_eq!(python::token_for(&view, "h1"), None);
}

#[test]
fn ensemble_provider_python_consumer_2_a_python_communicators_token_reaches_its_host() {
    // h0 bootstrapped and is the communicator: mirror up, a token for h1 (and, weakness #14,
    // nothing it could mint for itself). No `members`, no `answers-h1`.
    let c0 = python::consumer_bag("h0", Some("up"), &[("h1", "PYTOKEN1")]);
    let c1 = python::consumer_bag("h1", None, &[]);
    let c2 = python::consumer_bag("h2", None, &[]);
    let state = leader(vec![relation(
        1,
        PROVIDER_ENDPOINT,
        "ovn",
        &[("ovn/0", &c0), ("ovn/1", &c1), ("ovn/2", &c2)],
    )]);
    let s = run_provider(state, 1, "ovn/0");
    let b = own(&s, 1).clone();
    assert_python_safe(&b);
    assert_eq!(b["mirror-h1"], "PYTOKEN1");
    assert!(!b.contains_key("answers-h1"), "{b:?}");
    let view = [b.clone()];
    assert_eq!(python::token_for(&view, "h1").as_deref(), Some("PYTOKEN1"));
    assert_eq!(python::token_for(&view, "h2"), None);
    // The Python communicator's next round: h2 still needs a token (and its own placeholder,
    // which it tries and fails on, as with the Python distributor).
    assert!(python::to_mint(&view, &c0).contains(&"h2".to_owned()));
    // A cluster exists: a Python leader that is not in it does not bootstrap.
    assert!(!python::may_bootstrap(Patch::P2, &view, app_bag(&s, 1), "ovn"));

    // h1 joined: a Python unit says so nowhere. Without an ensemble communicator's `members`,
    // its token stays (a Python consumer never reads it again; the bag grows as with the
    // Python distributor).
    let c1 = python::consumer_bag("h1", Some("down"), &[]);
    let mut s = s;
    s.relations[0]
        .remote_units
        .insert(UnitName::parse("ovn/1").unwrap(), c1);
    let s = run_provider(s, 1, "ovn/1");
    assert_eq!(own(&s, 1)["mirror-h1"], "PYTOKEN1");
}

#[test]
fn ensemble_provider_python_consumer_2_cleanup_by_members_keeps_a_sign_of_the_cluster() {
    // A charm being refreshed from the Python library to ensemble: h0 already runs ensemble and
    // is the communicator (it publishes `members`); h1 and h2 still run the Python library and
    // joined with tokens the ensemble communicator minted for them.
    let c0 = bag(&[
        ("hostname", "h0"),
        ("joined", "true"),
        ("mirror", "up"),
        ("members", "h0,h1,h2"),
        ("communicator", "h0"),
    ]);
    let c1 = python::consumer_bag("h1", Some("down"), &[]);
    let c2 = python::consumer_bag("h2", Some("down"), &[]);
    let c3 = python::consumer_bag("h3", None, &[]);
    let mut rel = relation(
        1,
        PROVIDER_ENDPOINT,
        "ovn",
        &[("ovn/0", &c0), ("ovn/1", &c1), ("ovn/2", &c2), ("ovn/3", &c3)],
    );
    rel.local_unit_data = bag(&[
        ("mirror", "up"),
        ("ensemble", "1"),
        ("mirror-h1", "TOKEN1"),
        ("answers-h1", "1"),
        ("mirror-h2", "TOKEN2"),
        ("mirror-h3", "empty"),
    ]);
    let s = run_provider(leader(vec![rel]), 1, "ovn/0");
    let b = own(&s, 1).clone();
    assert_python_safe(&b);
    // The members' tokens are withdrawn, but one stays while a Python consumer is related: a
    // Python leader takes any real token as the sign that a cluster exists (it never reads
    // `members`), and would otherwise bootstrap a second cluster.
    let kept: Vec<&String> = ["mirror-h1", "mirror-h2"]
        .iter()
        .filter_map(|k| b.get(*k))
        .collect();
    assert_eq!(kept, [&"TOKEN1".to_owned()], "{b:?}");
    assert!(!b.contains_key("answers-h1"));
    assert_eq!(b["mirror-h3"], "empty");
    let view = [b.clone()];
    assert!(!python::may_bootstrap(Patch::P2, &view, app_bag(&s, 1), "ovn"));
    assert!(!python::may_bootstrap(Patch::P8, &view, app_bag(&s, 1), "ovn"));

    // Once every consumer runs ensemble, nothing consumed is kept.
    let mut s = s;
    for (u, h) in [("ovn/1", "h1"), ("ovn/2", "h2"), ("ovn/3", "h3")] {
        s.relations[0].remote_units.insert(
            UnitName::parse(u).unwrap(),
            bag(&[("hostname", h), ("joined", "true")]),
        );
    }
    s.relations[0].remote_units.insert(
        UnitName::parse("ovn/0").unwrap(),
        bag(&[
            ("hostname", "h0"),
            ("joined", "true"),
            ("mirror", "up"),
            ("members", "h0,h1,h2,h3"),
            ("communicator", "h0"),
        ]),
    );
    // One relation-changed per unit whose bag changed, as Juju runs them.
    for u in ["ovn/1", "ovn/2", "ovn/3", "ovn/0"] {
        s = run_provider(s, 1, u);
    }
    assert!(
        !own(&s, 1).keys().any(|k| k.starts_with("mirror-")),
        "{:?}",
        own(&s, 1)
    );
}

#[test]
fn ensemble_provider_python_consumer_2_ignores_bootstrap_app() {
    // Two consumer applications: the distributor names the first one's in every relation; a
    // LIBPATCH 8 leader of the second one honours it, a LIBPATCH 2 one cannot (LP#2161627).
    let a0 = python::consumer_bag("a0", None, &[]);
    let b0 = python::consumer_bag("b0", None, &[]);
    let state = leader(vec![
        relation(1, PROVIDER_ENDPOINT, "ovn-a", &[("ovn-a/0", &a0)]),
        relation(2, PROVIDER_ENDPOINT, "ovn-b", &[("ovn-b/0", &b0)]),
    ]);
    let s = run_provider(state, 2, "ovn-b/0");
    for id in [1, 2] {
        assert_eq!(app_bag(&s, id)["bootstrap-app"], "ovn-a");
        assert_python_safe(own(&s, id));
        assert_eq!(own(&s, id)["mirror-a0"], "empty");
        assert_eq!(own(&s, id)["mirror-b0"], "empty");
    }
    let view = [own(&s, 2).clone()];
    assert!(!python::may_bootstrap(Patch::P8, &view, app_bag(&s, 2), "ovn-b"));
    assert!(python::may_bootstrap(
        Patch::P8,
        &[own(&s, 1).clone()],
        app_bag(&s, 1),
        "ovn-a"
    ));
    assert!(python::may_bootstrap(Patch::P2, &view, app_bag(&s, 2), "ovn-b"));
}

// ----- ensemble provider × Python consumer @8 -------------------------------------------------

#[test]
fn ensemble_provider_python_consumer_8_bootstrap_app_and_cross_relation_tokens() {
    // ovn-a formed: a0 is the communicator and minted a token for b1, a unit of ovn-b (the
    // placeholder is mirrored in every relation).
    let a0 = python::consumer_bag("a0", Some("up"), &[("b1", "PYTOKENB1")]);
    let b1 = python::consumer_bag("b1", None, &[]);
    let state = leader(vec![
        relation(1, PROVIDER_ENDPOINT, "ovn-a", &[("ovn-a/0", &a0)]),
        relation(2, PROVIDER_ENDPOINT, "ovn-b", &[("ovn-b/1", &b1)]),
    ]);
    let s = run_provider(state, 1, "ovn-a/0");
    for id in [1, 2] {
        assert_python_safe(own(&s, id));
        assert_eq!(app_bag(&s, id)["bootstrap-app"], "ovn-a");
    }
    // The Python unit of ovn-b reads its token in its own relation.
    assert_eq!(
        python::token_for(&[own(&s, 2).clone()], "b1").as_deref(),
        Some("PYTOKENB1")
    );
    // bootstrap-app stays while ovn-a is related, even after a relation to a new application.
    let c0 = python::consumer_bag("c0", None, &[]);
    let mut s = s;
    s.relations
        .push(relation(3, PROVIDER_ENDPOINT, "ovn-c", &[("ovn-c/0", &c0)]));
    let s = run_provider(s, 3, "ovn-c/0");
    for id in [1, 2, 3] {
        assert_eq!(app_bag(&s, id)["bootstrap-app"], "ovn-a");
    }
    assert!(!python::may_bootstrap(
        Patch::P8,
        &[own(&s, 3).clone()],
        app_bag(&s, 3),
        "ovn-c"
    ));
}

#[test]
fn ensemble_provider_python_consumer_8_a_former_communicator_keeps_its_mirror_up() {
    // LIBPATCH 3+: a unit that minted a token the distributor still shows as `empty` keeps
    // `mirror=up` after it stopped being the communicator. Both up units' tokens are copied.
    let c0 = python::consumer_bag("h0", Some("up"), &[("h3", "PYTOKEN3")]);
    let c1 = python::consumer_bag("h1", Some("up"), &[("h2", "PYTOKEN2")]);
    let c2 = python::consumer_bag("h2", None, &[]);
    let c3 = python::consumer_bag("h3", None, &[]);
    let mut rel = relation(
        1,
        PROVIDER_ENDPOINT,
        "ovn",
        &[("ovn/0", &c0), ("ovn/1", &c1), ("ovn/2", &c2), ("ovn/3", &c3)],
    );
    rel.local_unit_data = bag(&[("mirror", "up"), ("mirror-h2", "empty"), ("mirror-h3", "empty")]);
    let s = run_provider(leader(vec![rel]), 1, "ovn/1");
    let view = [own(&s, 1).clone()];
    assert_python_safe(&view[0]);
    assert_eq!(python::token_for(&view, "h2").as_deref(), Some("PYTOKEN2"));
    assert_eq!(python::token_for(&view, "h3").as_deref(), Some("PYTOKEN3"));
    // A token already mirrored is never replaced by `empty` when its minter lowers its mirror.
    let mut s = s;
    s.relations[0].remote_units.insert(
        UnitName::parse("ovn/1").unwrap(),
        python::consumer_bag("h1", Some("down"), &[("h2", "PYTOKEN2")]),
    );
    let s = run_provider(s, 1, "ovn/1");
    assert_eq!(own(&s, 1)["mirror-h2"], "PYTOKEN2");
}

#[test]
fn ensemble_provider_lowers_its_mirror_when_deposed() {
    // Weakness #5, as a Python consumer sees it: after leadership moved, the old leader's bag
    // says `down` and mirrors nothing, so a consumer never corroborates a stale token.
    let c1 = python::consumer_bag("h1", None, &[]);
    let mut rel = relation(1, PROVIDER_ENDPOINT, "ovn", &[("ovn/1", &c1)]);
    rel.local_unit_data = bag(&[("mirror", "up"), ("mirror-h1", "STALE"), ("ensemble", "1")]);
    let state = State {
        leader: false,
        relations: vec![rel],
        ..State::default()
    };
    let s = run_provider(state, 1, "ovn/1");
    assert_eq!(own(&s, 1), &bag(&[("mirror", "down")]));
    assert_eq!(python::token_for(&[own(&s, 1).clone()], "h1"), None);
}

// ----- Python provider @2 and @8 × ensemble consumer ------------------------------------------

/// One ensemble consumer unit's hook: relation-changed from `distributor/0`, with the
/// distributor's unit bags and app bag as given and this unit's own bag from its last hook.
struct ConsumerHook<'a> {
    app: &'a str,
    unit: u32,
    host: &'a str,
    leader: bool,
    own: Databag,
    distributor: Vec<(&'a str, Databag)>,
    distributor_app: Databag,
}

struct Ran {
    own: Databag,
    commands: Vec<String>,
    logs: Vec<String>,
}

fn run_consumer(h: ConsumerHook<'_>, cluster: &Rc<RefCell<Cluster>>) -> Ran {
    let mut rel = RelationState::new(1, CONSUMER_ENDPOINT, "distributor");
    for (u, b) in &h.distributor {
        rel.remote_units.insert(UnitName::parse(u).unwrap(), b.clone());
    }
    rel.remote_app_data = h.distributor_app;
    rel.local_unit_data = h.own;
    let state = State {
        leader: h.leader,
        hostname: h.host.into(),
        relations: vec![rel],
        ..State::default()
    };
    let remote = h.distributor.first().map(|(u, _)| *u).unwrap_or("distributor/0");
    let run = consumer(h.app, h.unit, h.host, cluster).run(changed(CONSUMER_ENDPOINT, 1, remote), state);
    if let Err(e) = &run.result {
        panic!("the consumer's hook failed: {e}");
    }
    Ran {
        own: run.state.relation(1).unwrap().local_unit_data.clone(),
        commands: run.commands.iter().map(|c| c.to_string()).collect(),
        logs: run.logs.into_iter().map(|(_, l)| l).collect(),
    }
}

#[test]
fn python_provider_2_ensemble_consumer_forms_from_mirror_keys_alone() {
    let cluster = Rc::new(RefCell::new(Cluster::default()));
    let app_bag = Databag::new();
    // The consumers' first hooks: hostname and a request; neither bootstraps before the mirror
    // is up.
    let mut bags: BTreeMap<&str, Databag> = BTreeMap::new();
    for (unit, host, leader) in [(0, "h0", true), (1, "h1", false)] {
        let ran = run_consumer(
            ConsumerHook {
                app: "ovn",
                unit,
                host,
                leader,
                own: Databag::new(),
                distributor: vec![],
                distributor_app: app_bag.clone(),
            },
            &cluster,
        );
        assert_eq!(ran.own["hostname"], host);
        assert!(!ran.commands.iter().any(|c| c.contains("bootstrap")));
        bags.insert(host, ran.own);
    }
    // The LIBPATCH 2 distributor mirrors placeholders: no `ensemble`, no `bootstrap-app`, no
    // generations.
    let mirror = |bags: &BTreeMap<&str, Databag>, own: &Databag| {
        let rel = python::Relation {
            app: "ovn",
            consumers: bags.values().cloned().collect(),
            own: own.clone(),
        };
        python::provider(Patch::P2, &[rel], &Databag::new()).0.remove(0)
    };
    let td = mirror(&bags, &Databag::new());
    assert_eq!(td["mirror-h0"], "empty");
    assert!(!td.contains_key("ensemble") && !td.contains_key("request-h1"));

    // The leader bootstraps (no `bootstrap-app` from a distributor before LIBPATCH 7, and no
    // real token), becomes the communicator and mints for h1 only, never for itself.
    let ran = run_consumer(
        ConsumerHook {
            app: "ovn",
            unit: 0,
            host: "h0",
            leader: true,
            own: bags["h0"].clone(),
            distributor: vec![("distributor/0", td.clone())],
            distributor_app: app_bag.clone(),
        },
        &cluster,
    );
    assert!(
        ran.commands.iter().any(|c| c == "microovn cluster bootstrap"),
        "{:?}",
        ran.commands
    );
    assert!(ran
        .commands
        .iter()
        .any(|c| c.starts_with("microovn cluster add h1")));
    assert!(!ran
        .commands
        .iter()
        .any(|c| c.starts_with("microovn cluster add h0")));
    assert_eq!(ran.own["mirror"], "up");
    let token = ran.own["mirror-h1"].clone();
    // No generation to answer: a Python distributor mirrors no `request-h1`.
    assert!(!ran.own.contains_key("answers-h1"));
    bags.insert("h0", ran.own);

    // The LIBPATCH 2 distributor copies the `mirror-*` keys of the up unit, and nothing else.
    let td = mirror(&bags, &td);
    assert_eq!(td["mirror-h1"], token);
    for k in ["members", "communicator", "answers-h1", "joined", "token-request"] {
        assert!(!td.contains_key(k), "{k} travelled: {td:?}");
    }

    // h1 joins with the token found under its hostname alone, and acknowledges.
    let ran = run_consumer(
        ConsumerHook {
            app: "ovn",
            unit: 1,
            host: "h1",
            leader: false,
            own: bags["h1"].clone(),
            distributor: vec![("distributor/0", td.clone())],
            distributor_app: app_bag,
        },
        &cluster,
    );
    assert!(ran
        .commands
        .iter()
        .any(|c| c == "microovn cluster join <redacted>"));
    assert_eq!(ran.own["joined"], "true");
    assert!(!ran.own.contains_key("token-request"));
    assert_eq!(cluster.borrow().members, ["h0", "h1"]);
    assert!(
        ran.logs.iter().all(|l| !l.contains(&token)),
        "a token in the logs"
    );
}

#[test]
fn python_provider_2_ensemble_consumer_a_leader_does_not_bootstrap_beside_a_cluster() {
    // A LIBPATCH 2 distributor shows a cluster only by real tokens (it never deletes them), and
    // names no bootstrap application: the leader of a second application, or a new leader not
    // in the cluster, must not bootstrap while any real token is mirrored.
    let cluster = Rc::new(RefCell::new(Cluster::default()));
    let td = bag(&[
        ("mirror", "up"),
        ("mirror-a0", "empty"),
        ("mirror-a1", "USEDTOKENA1"),
        ("mirror-h5", "empty"),
    ]);
    let ran = run_consumer(
        ConsumerHook {
            app: "ovn",
            unit: 5,
            host: "h5",
            leader: true,
            own: bag(&[("hostname", "h5"), ("token-request", "1")]),
            distributor: vec![("distributor/0", td.clone())],
            distributor_app: Databag::new(),
        },
        &cluster,
    );
    assert!(
        !ran.commands.iter().any(|c| c.contains("bootstrap")),
        "{:?}",
        ran.commands
    );
    assert!(cluster.borrow().members.is_empty());
    // With nothing but placeholders, the same leader bootstraps.
    let mut empty_only = td;
    empty_only.insert("mirror-a1".into(), "empty".into());
    let ran = run_consumer(
        ConsumerHook {
            app: "ovn",
            unit: 5,
            host: "h5",
            leader: true,
            own: bag(&[("hostname", "h5"), ("token-request", "1")]),
            distributor: vec![("distributor/0", empty_only)],
            distributor_app: Databag::new(),
        },
        &cluster,
    );
    assert!(
        ran.commands.iter().any(|c| c == "microovn cluster bootstrap"),
        "{:?}",
        ran.commands
    );
}

#[test]
fn python_provider_2_ensemble_consumer_a_stale_token_is_not_retried() {
    // The unit found its token stale and asked for a fresh one (generation 2); a LIBPATCH 2
    // distributor never withdraws the old one and mirrors no answers: the unit waits instead of
    // looping on `join` with it (no stale-token recovery with a Python distributor).
    let cluster = Rc::new(RefCell::new(Cluster::default()));
    let td = bag(&[("mirror", "up"), ("mirror-h1", "OLDTOKEN")]);
    let ran = run_consumer(
        ConsumerHook {
            app: "ovn",
            unit: 1,
            host: "h1",
            leader: false,
            own: bag(&[("hostname", "h1"), ("token-request", "2")]),
            distributor: vec![("distributor/0", td.clone())],
            distributor_app: Databag::new(),
        },
        &cluster,
    );
    assert!(
        !ran.commands.iter().any(|c| c.contains("join")),
        "{:?}",
        ran.commands
    );
    assert_eq!(ran.own["token-request"], "2");
    // Its first request is answered by the same bag.
    let ran = run_consumer(
        ConsumerHook {
            app: "ovn",
            unit: 1,
            host: "h1",
            leader: false,
            own: bag(&[("hostname", "h1"), ("token-request", "1")]),
            distributor: vec![("distributor/0", td)],
            distributor_app: Databag::new(),
        },
        &cluster,
    );
    assert!(ran
        .commands
        .iter()
        .any(|c| c == "microovn cluster join <redacted>"));
}

#[test]
fn python_provider_8_ensemble_consumer_honours_bootstrap_app() {
    let cluster = Rc::new(RefCell::new(Cluster::default()));
    let consumers = [
        bag(&[("hostname", "a0"), ("token-request", "1")]),
        bag(&[("hostname", "b0"), ("token-request", "1")]),
    ];
    let rels = [
        python::Relation {
            app: "ovn-a",
            consumers: vec![consumers[0].clone()],
            own: Databag::new(),
        },
        python::Relation {
            app: "ovn-b",
            consumers: vec![consumers[1].clone()],
            own: Databag::new(),
        },
    ];
    let (bags, app) = python::provider(Patch::P8, &rels, &Databag::new());
    assert_eq!(app["bootstrap-app"], "ovn-a");
    // ovn-b's leader waits; ovn-a's bootstraps.
    for (name, unit_bag, host, boots) in [("ovn-b", &bags[1], "b0", false), ("ovn-a", &bags[0], "a0", true)] {
        let ran = run_consumer(
            ConsumerHook {
                app: name,
                unit: 0,
                host,
                leader: true,
                own: bag(&[("hostname", host), ("token-request", "1")]),
                distributor: vec![("distributor/0", unit_bag.clone())],
                distributor_app: app.clone(),
            },
            &cluster,
        );
        let bootstrapped = ran.commands.iter().any(|c| c == "microovn cluster bootstrap");
        assert_eq!(bootstrapped, boots, "{name}: {:?}", ran.commands);
    }
}

#[test]
fn python_provider_8_ensemble_consumer_joins_across_relations_and_past_a_stale_leader() {
    let cluster = Rc::new(RefCell::new(Cluster::default()));
    cluster.borrow_mut().members = vec!["a0".into()];
    cluster.borrow_mut().tokens.insert("TOKENB1".into(), "b1".into());
    // ovn-a's communicator (ensemble) minted for b1 of ovn-b: its bag carries ensemble's keys
    // too, of which the LIBPATCH 8 distributor copies only `mirror-*`.
    let a0 = bag(&[
        ("hostname", "a0"),
        ("joined", "true"),
        ("mirror", "up"),
        ("members", "a0"),
        ("communicator", "a0"),
        ("mirror-b1", "TOKENB1"),
        ("answers-b1", "1"),
    ]);
    let b1 = bag(&[("hostname", "b1"), ("token-request", "1")]);
    let rels = [
        python::Relation {
            app: "ovn-a",
            consumers: vec![a0],
            own: Databag::new(),
        },
        python::Relation {
            app: "ovn-b",
            consumers: vec![b1.clone()],
            own: Databag::new(),
        },
    ];
    let (bags, app) = python::provider(Patch::P8, &rels, &Databag::new());
    assert_eq!(bags[1]["mirror-b1"], "TOKENB1");
    assert!(!bags[1].contains_key("answers-b1") && !bags[1].contains_key("members"));
    // A deposed Python leader (weakness #5) still says `up`, with a placeholder for b1, and
    // sorts first: a real token beats `empty`.
    let stale = bag(&[("mirror", "up"), ("mirror-b1", "empty")]);
    let ran = run_consumer(
        ConsumerHook {
            app: "ovn-b",
            unit: 1,
            host: "b1",
            leader: false,
            own: b1,
            distributor: vec![("distributor/0", stale), ("distributor/1", bags[1].clone())],
            distributor_app: app,
        },
        &cluster,
    );
    assert!(
        ran.commands
            .iter()
            .any(|c| c == "microovn cluster join <redacted>"),
        "{:?}",
        ran.commands
    );
    assert_eq!(ran.own["joined"], "true");
    assert_eq!(cluster.borrow().members, ["a0", "b1"]);
}

#[test]
fn python_provider_ensemble_communicator_writes_only_what_python_copies() {
    // What the ensemble communicator publishes, read by both Python providers: the copies are
    // exactly its `mirror-<host>` tokens (LIBPATCH 2 copies keys containing `mirror-`, 8 keys
    // starting with it), so ensemble's own keys never reach Python consumers.
    let cluster = Rc::new(RefCell::new(Cluster::default()));
    cluster.borrow_mut().members = vec!["h0".into()];
    let td = bag(&[
        ("mirror", "up"),
        ("mirror-h0", "empty"),
        ("mirror-h1", "empty"),
        ("mirror-h2", "empty"),
    ]);
    let ran = run_consumer(
        ConsumerHook {
            app: "ovn",
            unit: 0,
            host: "h0",
            leader: true,
            own: bag(&[("hostname", "h0"), ("joined", "true")]),
            distributor: vec![("distributor/0", td.clone())],
            distributor_app: Databag::new(),
        },
        &cluster,
    );
    let minted: Vec<&String> = ran.own.keys().filter(|k| k.starts_with("mirror-")).collect();
    assert_eq!(minted, ["mirror-h1", "mirror-h2"]);
    for patch in [Patch::P2, Patch::P8] {
        let rel = python::Relation {
            app: "ovn",
            consumers: vec![ran.own.clone()],
            own: td.clone(),
        };
        let (bags, _) = python::provider(patch, &[rel], &Databag::new());
        let copied: Vec<&String> = bags[0]
            .iter()
            .filter(|(k, v)| td.get(*k) != Some(*v))
            .map(|(k, _)| k)
            .collect();
        assert_eq!(copied, ["mirror-h1", "mirror-h2"], "{patch:?}");
        // Each Python consumer finds its own token.
        assert_eq!(python::token_for(&bags, "h1"), ran.own.get("mirror-h1").cloned());
    }
}

#[test]
fn the_python_model_matches_the_reference() {
    // The model's own rules, from the reference: LIBPATCH 2 copies keys *containing* `mirror-`
    // and overwrites; LIBPATCH 8 copies keys *starting with* it and a real token beats `empty`.
    let up = bag(&[
        ("hostname", "h0"),
        ("mirror", "up"),
        ("foo-mirror-x", "1"),
        ("mirror-h1", "empty"),
    ]);
    let own = bag(&[("mirror-h1", "REAL")]);
    let rel = |c: &Databag| python::Relation {
        app: "ovn",
        consumers: vec![c.clone()],
        own: own.clone(),
    };
    let (p2, a2) = python::provider(Patch::P2, &[rel(&up)], &Databag::new());
    assert_eq!(p2[0]["foo-mirror-x"], "1");
    assert_eq!(p2[0]["mirror-h1"], "empty");
    assert!(a2.is_empty());
    let (p8, a8) = python::provider(Patch::P8, &[rel(&up)], &Databag::new());
    assert!(!p8[0].contains_key("foo-mirror-x"));
    assert_eq!(p8[0]["mirror-h1"], "REAL");
    assert_eq!(a8["bootstrap-app"], "ovn");
    // A consumer reads `up` units only, and never `empty`.
    let down = bag(&[("mirror", "down"), ("mirror-h1", "T")]);
    assert_eq!(python::token_for(&[down], "h1"), None);
}
