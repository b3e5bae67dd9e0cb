//! Property tests over every microcluster parser and plan (issue 11): the workload CLI readers
//! (`cli`), the consumer's decisions and the communicator's plan (`consumer`), the provider's
//! plans (`provider`), and the consumer and provider hooks run whole in `charm::testing::Harness`
//! with arbitrary bags and arbitrary command output.
//!
//! Inputs are arbitrary: bag keys and values, `list -f json` output, standard error, huge
//! values, extreme numbers, and real-looking join tokens (base64 of `{"secret":…}`, whole, cut
//! short or escaped) planted anywhere. Every property checks that nothing panics, that the
//! core's invariants hold, and that no string meant for a log, a status, an error or `Debug`
//! output holds a token.
//!
//! The number of cases is proptest's (256 unless `PROPTEST_CASES` says otherwise); the long mode
//! is `PROPTEST_CASES=1000000 cargo test --release -p microcluster --test properties`.

use base64::Engine as _;
use charm::testing::{Harness, RelationState, State};
use charm::{
    AppName, Charm, CommandOutput, Context, Databag, Event, HandlerResult, Metadata, Observers,
    RelationEvent, RelationId, UnitName,
};
use microcluster::cli::{self, JoinFailure, Member, Role};
use microcluster::consumer::{
    communicator_plan, current_generation, decide, may_bootstrap, needs_list, ConsumerInput, Decision,
    HostNeeds, MirrorView, MINT_BATCH,
};
use microcluster::protocol::parse_generation;
use microcluster::provider::{plan_follower, plan_leader, RelationView};
use microcluster::{Consumer, Provider, RETRY_EVENT};
use proptest::prelude::*;
use std::collections::BTreeMap;

// ----- generators ------------------------------------------------------------------------------

/// A join token as microcluster mints it.
fn token() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(any::<u8>(), 32),
        proptest::collection::vec(any::<u8>(), 32),
        1usize..6,
    )
        .prop_map(|(secret, fp, n)| {
            let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
            let addrs: Vec<String> = (0..n).map(|i| format!("\"10.0.0.{i}:6443\"")).collect();
            let json = format!(
                r#"{{"secret":"{}","fingerprint":"{}","join_addresses":[{}]}}"#,
                hex(&secret),
                hex(&fp),
                addrs.join(",")
            );
            base64::engine::general_purpose::STANDARD.encode(json)
        })
}

/// How a token shows up in text: whole, cut short (at least the 12 characters every token
/// starts with), or JSON-escaped.
fn planted(t: &str, how: u8, cut: usize) -> String {
    if t.len() <= 12 {
        return t.to_owned();
    }
    match how % 3 {
        0 => t.to_owned(),
        1 => t[..(12 + cut % (t.len() - 12)).min(t.len())].to_owned(),
        _ => t.replace('/', "\\/"),
    }
}

/// Arbitrary text, sometimes huge, sometimes with a token planted anywhere.
fn text(t: String) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => any::<String>(),
        1 => (any::<char>(), 0usize..20_000).prop_map(|(c, n)| c.to_string().repeat(n)),
        3 => (any::<String>(), any::<String>(), any::<u8>(), any::<usize>())
            .prop_map(move |(a, b, how, cut)| format!("{a}{}{b}", planted(&t, how, cut))),
        1 => Just("Error: Daemon not yet initialized".to_owned()),
        1 => Just("2 join attempts were unsuccessful. Last error: %!w(<nil>)".to_owned()),
    ]
}

const HOSTS: [&str; 8] = ["h0", "h1", "h2", "node-1.maas", "--force", "", "a b", "h1,h2"];

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => proptest::sample::select(&HOSTS[..]).prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

/// A bag value: protocol words, extreme numbers, host lists, tokens, arbitrary text.
fn value(t: String) -> impl Strategy<Value = String> {
    prop_oneof![
        2 => proptest::sample::select(
            &["up", "down", "empty", "true", "1", "2", "0", "-1", "18446744073709551615", "99999999999999999999", ""][..]
        )
        .prop_map(str::to_owned),
        1 => proptest::collection::vec(host(), 0..4).prop_map(|v| v.join(",")),
        2 => Just(t.clone()),
        2 => text(t),
    ]
}

/// A bag key: the protocol's keys, per-host keys, and anything else.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(
            &["mirror", "hostname", "token-request", "joined", "members", "communicator", "hosts", "ensemble", "bootstrap-app"][..]
        )
        .prop_map(str::to_owned),
        4 => (proptest::sample::select(&["mirror-", "answers-", "request-"][..]), host())
            .prop_map(|(p, h)| format!("{p}{h}")),
        // Juju refuses an empty key: any other.
        1 => any::<String>().prop_filter("a key", |k| !k.is_empty()),
    ]
}

fn bag(t: String) -> impl Strategy<Value = Databag> {
    proptest::collection::btree_map(key(), value(t), 0..10)
}

/// A member list as `list` could report it, names and roles from anywhere.
fn members(t: String) -> impl Strategy<Value = Vec<Member>> {
    let role = prop_oneof![
        Just(Role::Voter),
        Just(Role::StandBy),
        Just(Role::Spare),
        Just(Role::Pending),
        Just(Role::Other(t.clone())),
    ];
    let status = proptest::sample::select(&["ONLINE", "UNREACHABLE", "NOT TRUSTED", ""][..]);
    let name = prop_oneof![4 => host(), 1 => Just(t)];
    proptest::collection::vec(
        (name, role, status).prop_map(|(name, role, status)| Member {
            name,
            role,
            status: status.to_owned(),
        }),
        0..6,
    )
}

/// `list -f json` output: a real member list, one with odd fields, or garbage.
fn list_stdout(t: String) -> impl Strategy<Value = String> {
    let member = (host(), value(t.clone()), value(t.clone())).prop_map(
        |(n, r, s)| serde_json::json!({"name": n, "role": r, "status": s, "address": "10.0.0.1:6443"}),
    );
    prop_oneof![
        3 => proptest::collection::vec(member, 0..5)
            .prop_map(|v| serde_json::Value::Array(v).to_string()),
        1 => Just(format!("[\"{t}\"]")),
        1 => Just(format!("\"{t}\"")),
        2 => text(t),
    ]
}

fn output(t: String) -> impl Strategy<Value = CommandOutput> {
    (
        proptest::option::of(-2i32..3),
        prop_oneof![3 => list_stdout(t.clone()), 1 => Just(format!("{t}\n"))],
        text(t),
    )
        .prop_map(|(code, stdout, stderr)| CommandOutput { code, stdout, stderr })
}

// ----- checks ----------------------------------------------------------------------------------

/// Fails if `s` holds `t` or a telling piece of it: its start (every token starts so), or any
/// 16-character window of its text.
fn leaks(s: &str, t: &str) -> Option<String> {
    if s.contains("eyJzZWNyZXQi") {
        return Some("a token's start".into());
    }
    let b = t.as_bytes();
    (0..b.len().saturating_sub(16))
        .map(|i| &t[i..i + 16])
        .find(|w| s.contains(w))
        .map(|w| format!("the piece {w}"))
}

macro_rules! assert_no_leak {
    ($s:expr, $t:expr, $what:expr) => {{
        let s: &str = &$s;
        if let Some(p) = leaks(s, &$t) {
            return Err(TestCaseError::fail(format!(
                "{} holds {p}: {}",
                $what,
                cli::redact(s)
            )));
        }
    }};
}

// ----- cli -------------------------------------------------------------------------------------

proptest! {
    #[test]
    fn redact_hides_every_planted_token_and_is_bounded(
        t in token(),
        a in any::<String>(),
        b in any::<String>(),
        how in any::<u8>(),
        cut in any::<usize>(),
        n in 0usize..4,
    ) {
        let text = format!("{a}{}{b}", planted(&t, how, cut).repeat(n.max(1)));
        let r = cli::redact(&text);
        assert_no_leak!(r, t, "redact's output");
        prop_assert!(r.len() <= cli::REDACT_LIMIT + 40, "{} bytes", r.len());
        let r2 = cli::redact_secret(&text, &t);
        assert_no_leak!(r2, t, "redact_secret's output");
    }

    #[test]
    fn redact_keeps_short_plain_text(s in "[ a-z.:!?,()\"'-]{0,200}") {
        // Runs of letters and dashes shorter than 8 characters and no base64 start: kept as is.
        let words_short = s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')).all(|w| w.len() < 8);
        if words_short {
            prop_assert_eq!(cli::redact(&s), s);
        }
    }

    #[test]
    fn list_output_readers_never_panic_nor_leak(
        (t, stdout, o) in token().prop_flat_map(|t| (Just(t.clone()), list_stdout(t.clone()), output(t)))
    ) {
        // Arbitrary stdout: parsed or refused, never a panic; a member always has a name.
        if let Ok(m) = cli::parse_list(&stdout) {
            prop_assert!(m.iter().all(|m| !m.name.is_empty()));
        }
        let planted_stdout = format!("[\"{t}\"]");
        let e = cli::parse_list(&planted_stdout).expect_err("not a member list");
        assert_no_leak!(e.to_string(), t, "parse_list's error");
        assert_no_leak!(format!("{e:?}"), t, "parse_list's error (Debug)");
        // Any output of the command.
        match cli::list_result(&o) {
            Ok(m) => assert_no_leak!(format!("{m:?}"), t, "a member list's Debug"),
            Err(e) => {
                let s = e.to_string();
                assert_no_leak!(s, t, "list_result's error");
                prop_assert!(s.len() <= cli::REDACT_LIMIT + 200, "{} bytes", s.len());
            }
        }
    }

    #[test]
    fn join_failures_are_classified_without_panic(t in token(), s in text("T".into()), stale in proptest::sample::select(&["Token expired", "CoreTokenRecord not found", "Cluster certificate token does not match that of cluster member", "illegal base64 data at input byte 3"][..])) {
        let _ = cli::classify_join_failure(&s);
        let _ = cli::add_name_taken(&s);
        // A stale sign anywhere makes the failure stale, whatever surrounds it.
        prop_assert_eq!(cli::classify_join_failure(&format!("{s}{stale}{t}")), JoinFailure::StaleToken);
    }

    #[test]
    fn hostnames_and_commands(name in any::<String>(), t in token()) {
        let c = cli::ClusterCommand::new(["microovn", "cluster"]).expect("a command");
        if cli::valid_hostname(&name) {
            prop_assert!(!name.starts_with('-') && !name.contains(char::is_whitespace) && name.len() <= 253);
            let add = c.add(&name);
            prop_assert_eq!(&add.args[1..3], &["add".to_owned(), name.clone()][..]);
        }
        let join = c.join(&t, &[]);
        assert_no_leak!(join.to_string(), t, "join's Display");
        prop_assert_eq!(cli::token_fingerprint(&t).map(|f| f.len()), Some(64));
        let _ = cli::token_fingerprint(&name);
    }
}

// ----- the consumer's decisions and the communicator's plan ------------------------------------

fn td(n: u32) -> UnitName {
    UnitName::parse(&format!("td/{n}")).expect("a unit name")
}

fn distributor_bags(t: String) -> impl Strategy<Value = Vec<(UnitName, Databag)>> {
    proptest::collection::vec(bag(t), 0..3).prop_map(|bags| {
        bags.into_iter()
            .enumerate()
            .map(|(i, b)| (td(i as u32), b))
            .collect()
    })
}

fn list_result(t: String) -> impl Strategy<Value = Result<Vec<Member>, cli::ListError>> {
    prop_oneof![
        2 => members(t).prop_map(Ok),
        1 => Just(Err(cli::ListError::NotAsked)),
        1 => Just(Err(cli::ListError::Failed { code: Some(1), stderr: "Error: Daemon not yet initialized".into() })),
    ]
}

proptest! {
    #[test]
    fn consumer_decisions(
        (t, bags, own, app_bag, list, hostname, leader, app) in token().prop_flat_map(|t| (
            Just(t.clone()),
            distributor_bags(t.clone()),
            bag(t.clone()),
            bag(t.clone()),
            list_result(t),
            host(),
            any::<bool>(),
            proptest::sample::select(&["ovn", "other"][..]),
        ))
    ) {
        let whole = MirrorView::for_host(&bags, &hostname);
        let units: Vec<UnitName> = bags.iter().map(|(u, _)| u.clone()).collect();
        let all = HostNeeds { communicator: true, cluster_signs: true };
        let Ok(by_key) = MirrorView::for_host_by_key(&mut bags.as_slice(), &units, &hostname, all);
        // The view read key by key agrees with the whole-bag view.
        prop_assert_eq!((by_key.up, by_key.ensemble), (whole.up, whole.ensemble));
        prop_assert_eq!(&by_key.tokens, &whole.tokens);
        prop_assert_eq!(&by_key.answers, &whole.answers);
        prop_assert_eq!(by_key.cluster_exists(), whole.cluster_exists());
        let full = MirrorView::from_bags(&bags);
        assert_no_leak!(format!("{whole:?}{full:?}"), t, "MirrorView's Debug");

        prop_assert!(current_generation(&own) >= 1);
        let input = ConsumerInput {
            hostname: &hostname,
            is_leader: leader,
            app,
            own: &own,
            mirror: &whole,
            distributor_app: &app_bag,
            list: &list,
        };
        let _ = needs_list(true, &input);
        prop_assert!(needs_list(false, &input));
        let d = decide(&input);
        assert_no_leak!(format!("{d:?}{input:?}"), t, "a decision's or an input's Debug");
        match &d {
            Decision::Bootstrap => {
                // Only a leader, with the mirror up, no sign of a cluster, and (with an ensemble
                // mirror) only the named application: at most one bootstrap per distributor.
                prop_assert!(leader && whole.up && !whole.cluster_exists() && may_bootstrap(&input));
                if whole.ensemble {
                    prop_assert_eq!(app_bag.get("bootstrap-app").map(String::as_str), Some(app));
                }
                prop_assert!(!matches!(&list, Ok(m) if m.iter().any(|m| m.name == hostname)));
            }
            Decision::Join { token, generation } => {
                prop_assert!(!token.is_empty() && token != "empty");
                prop_assert_eq!(*generation, current_generation(&own));
            }
            Decision::InCluster => {
                prop_assert!(matches!(&list, Ok(m) if m.iter().any(|m| m.name == hostname)));
            }
            Decision::Wait { reason } => prop_assert!(reason.starts_with("waiting for")),
        }
    }

    #[test]
    fn communicator_plan_invariants(
        (t, bags, own, members, hostname) in token().prop_flat_map(|t| (
            Just(t.clone()),
            distributor_bags(t.clone()),
            bag(t.clone()),
            members(t),
            host(),
        ))
    ) {
        let mirror = MirrorView::from_bags(&bags);
        let plan = communicator_plan(&hostname, &members, &mirror, &own);
        assert_no_leak!(format!("{plan:?}"), t, "CommunicatorPlan's Debug");
        let is_member = |h: &str| members.iter().any(|m| m.name == h);
        if plan.pending {
            prop_assert!(!plan.communicator && plan.mint.is_empty() && plan.remove.is_empty());
        }
        if !plan.communicator {
            prop_assert!(plan.mint.is_empty() && plan.remove.is_empty());
        }
        prop_assert!(plan.mint.len() <= MINT_BATCH);
        prop_assert!(plan.remove.len() <= 1);
        for (h, g) in &plan.mint {
            prop_assert!(h != &hostname, "mints for itself");
            prop_assert!(cli::valid_hostname(h), "mints for an invalid name");
            prop_assert!(!is_member(h), "mints for a member");
            prop_assert_eq!(*g, mirror.requests.get(h).copied());
        }
        for (h, _) in &plan.remove {
            prop_assert!(h != &hostname, "removes itself");
            prop_assert!(
                members.iter().filter(|m| &m.name == h).all(|m| !m.is_online()),
                "removes an ONLINE member"
            );
        }
        let mut sorted = plan.members.clone();
        sorted.sort();
        prop_assert_eq!(&sorted, &plan.members);
    }
}

// ----- the provider's plans ----------------------------------------------------------------------

fn relation_views(t: String) -> impl Strategy<Value = Vec<RelationView>> {
    let rel = (
        proptest::sample::select(&["ovn", "other", "rogue"][..]),
        proptest::collection::vec(bag(t.clone()), 0..4),
        bag(t),
    );
    proptest::collection::vec(rel, 0..3).prop_map(|rels| {
        rels.into_iter()
            .enumerate()
            .map(|(i, (app, bags, own))| {
                let app = AppName::parse(app).expect("an app name");
                RelationView {
                    id: RelationId(i as u32 + 1),
                    units: bags
                        .into_iter()
                        .enumerate()
                        .map(|(n, b)| (app.unit(n as u32), b))
                        .collect(),
                    app: Some(app),
                    own,
                }
            })
            .collect()
    })
}

/// What a relation's own bag becomes once the plan's changes are applied.
fn applied(own: &Databag, changes: Option<&BTreeMap<String, Option<String>>>) -> Databag {
    let mut b = own.clone();
    for (k, v) in changes.into_iter().flatten() {
        match v {
            Some(v) => b.insert(k.clone(), v.clone()),
            None => b.remove(k),
        };
    }
    b
}

proptest! {
    #[test]
    fn provider_plan_invariants(
        (t, relations, app_bag) in token().prop_flat_map(|t| (
            Just(t.clone()),
            relation_views(t.clone()),
            bag(t),
        ))
    ) {
        let plan = plan_leader(&relations, &app_bag);
        assert_no_leak!(format!("{plan:?}{relations:?}"), t, "ProviderPlan's or RelationView's Debug");
        let related: Vec<String> = relations.iter().filter_map(|r| r.app.as_ref().map(|a| a.to_string())).collect();
        if let Some(a) = &plan.bootstrap_app {
            prop_assert!(related.contains(a), "bootstrap-app names an application not related");
        }
        // The largest request generation of each valid host, over every relation.
        let mut requests: BTreeMap<&str, Option<u64>> = BTreeMap::new();
        for r in &relations {
            for (_, b) in &r.units {
                if let Some(h) = b.get("hostname").filter(|h| cli::valid_hostname(h)) {
                    let g = b.get("token-request").and_then(|g| parse_generation(g));
                    let e = requests.entry(h.as_str()).or_insert(None);
                    *e = (*e).max(g);
                }
            }
        }
        for r in &relations {
            let changes = plan.unit_bags.iter().find(|(id, _)| *id == r.id).map(|(_, c)| c);
            let after = applied(&r.own, changes);
            prop_assert_eq!(after.get("mirror").map(String::as_str), Some("up"));
            for (k, _) in after.iter().filter(|(k, _)| k.starts_with("mirror-")) {
                let h = &k["mirror-".len()..];
                if changes.is_some_and(|c| c.contains_key(k)) {
                    prop_assert!(cli::valid_hostname(h), "mirrors an invalid host {:?}", cli::redact(h));
                }
            }
        }
        // Never `empty` over a real token that still answers its host's request (the leader's
        // mirrored bag is the first relation's).
        if let Some(first) = relations.first() {
            let changes = plan.unit_bags.iter().find(|(id, _)| *id == first.id).map(|(_, c)| c);
            for (k, v) in &first.own {
                let Some(h) = k.strip_prefix("mirror-") else { continue };
                if v.is_empty() || v == "empty" || !cli::valid_hostname(h) {
                    continue;
                }
                let Some(request) = requests.get(h) else { continue };
                let answers = first.own.get(&format!("answers-{h}")).and_then(|a| parse_generation(a));
                let answering = match (answers, *request) {
                    (Some(a), Some(w)) => a == w,
                    (None, None) => true,
                    (None, Some(w)) => w == 1,
                    (Some(_), None) => false,
                };
                if answering {
                    let new = changes.and_then(|c| c.get(k));
                    prop_assert!(
                        !matches!(new, Some(Some(v)) if v == "empty"),
                        "a real token for {h} replaced by `empty`"
                    );
                }
            }
        }
        let follower = plan_follower(&relations);
        for r in &relations {
            let changes = follower.unit_bags.iter().find(|(id, _)| *id == r.id).map(|(_, c)| c);
            let after = applied(&r.own, changes);
            prop_assert!(after.get("mirror").is_none_or(|m| m == "down"));
            prop_assert!(!after.keys().any(|k| k.starts_with("mirror-") || k.starts_with("request-") || k.starts_with("answers-")));
        }
    }
}

// ----- the hooks, whole, in the Harness ---------------------------------------------------------

#[derive(Default)]
struct MicroOvn;

impl Charm for MicroOvn {
    fn register(on: &mut Observers<Self>) {
        on.observe("consumer", |_, ctx: &mut Context<'_>, event| -> HandlerResult {
            Consumer::new("cluster", ["microovn", "cluster"])
                .expect("a command")
                .handle(ctx, event)?;
            Ok(())
        });
        on.custom_event(RETRY_EVENT);
    }
}

#[derive(Default)]
struct Distributor;

impl Charm for Distributor {
    fn register(on: &mut Observers<Self>) {
        on.observe("provider", |_, ctx: &mut Context<'_>, event| -> HandlerResult {
            Provider::new("microcluster-cluster").handle(ctx, event)?;
            Ok(())
        });
    }
}

fn changed(endpoint: &str, remote: &UnitName) -> Event {
    Event::RelationChanged(RelationEvent {
        endpoint: endpoint.into(),
        relation_id: RelationId(1),
        remote_app: Some(remote.app()),
        remote_unit: Some(remote.clone()),
        departing_unit: None,
    })
}

fn run_text(run: &charm::testing::Run) -> String {
    let mut s = String::new();
    for (_, l) in &run.logs {
        s.push_str(l);
        s.push('\n');
    }
    for (_, st) in &run.status_history {
        s.push_str(&format!("{st:?}\n"));
    }
    if let Err(e) = &run.result {
        s.push_str(&format!("{e}\n{e:?}\n"));
    }
    for c in &run.commands {
        s.push_str(&format!("{c}\n"));
    }
    s
}

proptest! {
    #[test]
    fn the_consumer_hook_never_panics_nor_logs_a_token(
        (t, td_bags, own, app_bag, outputs, hostname, leader, event) in token().prop_flat_map(|t| (
            Just(t.clone()),
            proptest::collection::vec(bag(t.clone()), 1..3),
            bag(t.clone()),
            bag(t.clone()),
            proptest::collection::vec(output(t), 5),
            host(),
            any::<bool>(),
            0u8..4,
        ))
    ) {
        let meta = Metadata::from_charmcraft_yaml(
            "name: ovn\nrequires:\n  cluster:\n    interface: worker-cluster\n    limit: 1\n",
        ).expect("metadata");
        let outs = outputs.clone();
        let mut h = Harness::new(meta, MicroOvn::default).workload(move |cmd| {
            let verb = cmd.args.get(1).map(String::as_str).unwrap_or("");
            let i = ["list", "add", "join", "bootstrap", "remove"].iter().position(|v| *v == verb).unwrap_or(0);
            outs[i].clone()
        });
        let mut rel = RelationState::new(1, "cluster", "td");
        for (i, b) in td_bags.iter().enumerate() {
            rel.remote_units.insert(td(i as u32), b.clone());
        }
        rel.remote_app_data = app_bag;
        rel.local_unit_data = own;
        let state = State { leader, hostname, relations: vec![rel], ..State::default() };
        let event = match event {
            0 => changed("cluster", &td(0)),
            1 => Event::UpdateStatus,
            2 => Event::Custom { name: RETRY_EVENT.into() },
            _ => Event::Remove,
        };
        let run = h.run(event, state);
        assert_no_leak!(run_text(&run), t, "a log line, status, error or command line");
    }

    #[test]
    fn the_provider_hook_never_panics_nor_logs_a_token(
        (t, bags, own, leader) in token().prop_flat_map(|t| (
            Just(t.clone()),
            proptest::collection::vec(bag(t.clone()), 1..4),
            bag(t),
            any::<bool>(),
        ))
    ) {
        let meta = Metadata::from_charmcraft_yaml(
            "name: td\nprovides:\n  microcluster-cluster:\n    interface: worker-cluster\n",
        ).expect("metadata");
        let mut h = Harness::new(meta, Distributor::default);
        let mut rel = RelationState::new(1, "microcluster-cluster", "ovn");
        let app = AppName::parse("ovn").expect("an app name");
        for (i, b) in bags.iter().enumerate() {
            rel.remote_units.insert(app.unit(i as u32), b.clone());
        }
        rel.local_unit_data = own;
        let state = State { leader, relations: vec![rel], ..State::default() };
        let run = h.run(changed("microcluster-cluster", &app.unit(0)), state);
        prop_assert!(run.result.is_ok(), "{}", cli::redact(&format!("{:?}", run.result)));
        assert_no_leak!(run_text(&run), t, "a log line, status or error");
    }
}
