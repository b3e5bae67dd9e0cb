//! The consumer's secrets and caches (issue 11, items 4 and 8, and the `Debug` review):
//!
//! - no log line, status, error or `Debug` output built from workload output, relation data or
//!   a command line holds a join token (whole, cut short, escaped, or anywhere in a huge value);
//! - the communicator's token cache names its owner and its cluster: a cache left on the machine
//!   by another deployment is never published, a cached token is published again only when the
//!   cluster still holds that name, and the cache leaves with the unit;
//! - a join that cannot succeed counts as stale (by its message, or after
//!   [`MAX_JOIN_ATTEMPTS`] failures of one token), and the unit's status says what it waits for.
//!
//! The consumer runs for real in `charm::testing::Harness` against a scripted `microovn cluster`.

use base64::Engine as _;
use charm::testing::{bag, Harness, RelationState, State};
use charm::{
    Charm, CommandOutput, Context, Databag, Event, HandlerResult, Metadata, Observers, RelationEvent,
    RelationId, StatusName, UnitName, WorkloadCommand,
};
use microcluster::cli::{self, Member, Role};
use microcluster::consumer::{
    communicator_plan, ConsumerInput, Decision, MirrorView, MAX_JOIN_ATTEMPTS, TOKEN_CACHE_FILE,
};
use microcluster::provider::{plan_leader, RelationView};
use microcluster::{Consumer, RETRY_EVENT};
use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

/// A join token as microcluster mints it: base64 of `{"secret","fingerprint","join_addresses"}`.
fn token(secret_seed: u8, fingerprint: &str) -> String {
    let secret: String = (0..32)
        .map(|i| format!("{:02x}", secret_seed.wrapping_add(i)))
        .collect();
    // The fields in microcluster's order (`serde_json::json!` would sort them).
    let json = format!(
        r#"{{"secret":"{secret}","fingerprint":"{fingerprint}","join_addresses":["10.0.0.1:6443","10.0.0.2:6443"]}}"#
    );
    base64::engine::general_purpose::STANDARD.encode(json)
}

/// Every sign of `t` a leak could show: the token, its start (every token starts so), and any
/// 16-character piece of it.
#[track_caller]
fn assert_no_token(text: &str, t: &str, what: &str) {
    assert!(!text.contains("eyJzZWNyZXQi"), "{what} holds a token: {text}");
    for start in (0..t.len().saturating_sub(16)).step_by(4) {
        let piece = &t[start..start + 16];
        assert!(
            !text.contains(piece),
            "{what} holds a piece of a token ({piece}): {text}"
        );
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
        let consumer = Consumer::new("cluster", ["microovn", "cluster"]).expect("a command");
        consumer.handle(ctx, event)?;
        Ok(())
    }
}

type Script = Rc<RefCell<Vec<WorkloadCommand>>>;

/// A consumer unit whose `microovn cluster` answers with `f(args after "cluster")`.
fn consumer(unit: u32, f: impl Fn(&[&str]) -> CommandOutput + 'static) -> (Harness<MicroOvn>, Script) {
    let meta = Metadata::from_charmcraft_yaml(
        "name: ovn\nrequires:\n  cluster:\n    interface: worker-cluster\n    limit: 1\n",
    )
    .unwrap();
    let seen: Script = Rc::default();
    let log = seen.clone();
    let h = Harness::new(meta, MicroOvn::default)
        .unit_number(unit)
        .workload(move |cmd| {
            log.borrow_mut().push(cmd.clone());
            let args: Vec<&str> = cmd.args.iter().skip(1).map(String::as_str).collect();
            f(&args)
        });
    (h, seen)
}

fn state(host: &str, leader: bool, distributor: &[(&str, &str)], own: &[(&str, &str)]) -> State {
    State {
        leader,
        hostname: host.into(),
        relations: vec![RelationState::new(1, "cluster", "td")
            .with_unit("td/0", distributor)
            .with_remote_app_data(&[("bootstrap-app", "ovn")])
            .with_local_unit_data(own)],
        ..State::default()
    }
}

fn changed() -> Event {
    let unit = UnitName::parse("td/0").unwrap();
    Event::RelationChanged(RelationEvent {
        endpoint: "cluster".into(),
        relation_id: RelationId(1),
        remote_app: Some(unit.app()),
        remote_unit: Some(unit),
        departing_unit: None,
    })
}

fn all_text(run: &charm::testing::Run) -> String {
    let mut text = String::new();
    for (_, line) in &run.logs {
        text.push_str(line);
        text.push('\n');
    }
    for (_, status) in &run.status_history {
        text.push_str(&format!("{status:?}\n"));
    }
    if let Err(e) = &run.result {
        text.push_str(&format!("{e} {e:?}\n"));
    }
    text
}

fn members_json(names: &[&str]) -> String {
    let list: Vec<serde_json::Value> = names
        .iter()
        .map(|m| serde_json::json!({"name": m, "role": "voter", "status": "ONLINE", "address": "10.0.0.1:6443"}))
        .collect();
    serde_json::Value::Array(list).to_string()
}

// ----- item 4: a token in the log -----------------------------------------------------------

#[test]
fn list_output_that_is_not_json_never_puts_a_token_in_the_log() {
    let t = token(7, "ab12");
    let outputs = [
        // serde_json quotes a string it did not expect.
        format!("\"{t}\""),
        format!("[\"{t}\"]"),
        format!("[{{\"name\":\"h1\",\"role\":{{\"x\":\"{t}\"}},\"status\":\"{t}\"}}]"),
        format!("[{{\"name\":\"h1\",\"role\":[\"{t}\"]}}]"),
        // The token cut short, JSON-escaped, or in a huge value.
        format!("[\"{}\"]", &t[..20]),
        format!("[\"{}\"]", t.replace('/', "\\/")),
        format!("[\"{}{t}\"]", "x".repeat(100_000)),
    ];
    for stdout in outputs {
        let out = stdout.clone();
        let (mut h, _) = consumer(1, move |args| match args {
            ["list", ..] => CommandOutput::ok(out.clone()),
            _ => CommandOutput::failed(1, "Error: unexpected"),
        });
        let run = h.run(
            Event::UpdateStatus,
            state("h1", false, &[("mirror", "up"), ("ensemble", "1")], &[]),
        );
        assert!(run.result.is_ok(), "{:?}", run.result);
        let text = all_text(&run);
        assert!(text.contains("printed garbage"), "{text}");
        assert_no_token(&text, &t, "the log");
        for (_, line) in &run.logs {
            assert!(
                line.len() <= 2 * cli::REDACT_LIMIT,
                "an unbounded log line: {} bytes",
                line.len()
            );
        }
    }
}

#[test]
fn workload_errors_that_echo_a_token_never_reach_the_log_or_the_status() {
    let t = token(9, "cd34");
    // `list` fails and its stderr quotes a token; `join` fails and echoes its argument, cut short
    // or whole, or prints the decoded token.
    let secret_hex: String = (0..32).map(|i| format!("{:02x}", 9u8.wrapping_add(i))).collect();
    let join_errors = [
        format!("Error: invalid token {t}"),
        format!("Error: invalid token {}", &t[..24]),
        format!("Error: cannot decode {{\"secret\":\"{secret_hex}\"}}"),
        format!("Error: {}", "y".repeat(1 << 20)),
    ];
    for err in join_errors {
        let (e, t2) = (err.clone(), t.clone());
        let (mut h, seen) = consumer(1, move |args| match args {
            ["list", ..] => CommandOutput::failed(1, format!("Error: Daemon not yet initialized {t2}")),
            ["join", ..] => CommandOutput::failed(1, e.clone()),
            _ => CommandOutput::failed(1, "Error: unexpected"),
        });
        let run = h.run(
            changed(),
            state(
                "h1",
                false,
                &[
                    ("mirror", "up"),
                    ("ensemble", "1"),
                    ("mirror-h1", &t),
                    ("answers-h1", "1"),
                ],
                &[("token-request", "1")],
            ),
        );
        assert!(run.result.is_ok(), "{:?}", run.result);
        assert!(seen
            .borrow()
            .iter()
            .any(|c| c.args.get(1).is_some_and(|a| a == "join")));
        let text = all_text(&run);
        assert_no_token(&text, &t, "the log or a status");
        assert!(
            !text.contains(&secret_hex[..16]),
            "the decoded secret was logged: {text}"
        );
        // The harness records the commands: their Display and Debug never show the token.
        for c in seen.borrow().iter() {
            assert_no_token(&c.to_string(), &t, "a command's Display");
            assert_no_token(&format!("{c:?}"), &t, "a command's Debug");
        }
    }
}

#[test]
fn redact_hides_tokens_anywhere_cut_short_or_escaped_and_is_bounded() {
    let t = token(1, "ef56");
    for text in [
        t.clone(),
        format!("a{t}b"),
        format!("x:{t}:{t}"),
        format!("cut short: {}", &t[..12]),
        format!("escaped: {}", t.replace('/', "\\/")),
        format!("{}{t}", "é".repeat(2000)),
    ] {
        let r = cli::redact(&text);
        assert_no_token(&r, &t, "redact's output");
        assert!(r.len() <= cli::REDACT_LIMIT + 64, "{} bytes", r.len());
    }
    assert_eq!(
        cli::redact("name \"node-1\" is taken"),
        "name \"node-1\" is taken"
    );
}

#[test]
fn a_short_secret_inside_a_token_does_not_cut_the_token_into_pieces_that_pass() {
    // Found by the long property mode (`the_consumer_hook_never_panics_nor_logs_a_token`): the
    // mirror's "token" for the unit was `2`, and `join` echoed a real token on stderr; replacing
    // every `2` with `<redacted>` first cut the real token into short runs that were logged.
    let t = "eyJzZWNyZXQiOiIwMTkzYWVlMGFjODg4YzAzMTg4M2I5YzM0NmVmZmM1NGJiODA3MThmNzRkNzAwY2NhOWUwYmVjMjEwMmIxZGIwIiwiZmluZ2VycHJpbnQiOiI2NmQ0MzI3YTdmNDViNGJhODFlOTg3NTYxNzFlZjQ3YWQ4YTM4MWM4YjUzNTY1MjYzMzUwNDhjYWNkMTUyZTVlIiwiam9pbl9hZGRyZXNzZXMiOlsiMTAuMC4wLjA6NjQ0MyIsIjEwLjAuMC4xOjY0NDMiLCIxMC4wLjAuMjo2NDQzIiwiMTAuMC4wLjM6NjQ0MyJdfQ==";
    let r = cli::redact_secret(&format!("`join` failed (exit None): {t}"), "2");
    assert_no_token(&r, t, "redact_secret's output");
    assert_eq!(cli::redact_secret("exit 2", "2"), "exit <redacted>");
}

// ----- the Debug review --------------------------------------------------------------------

#[test]
fn debug_output_of_every_type_holding_a_token_is_redacted() {
    let t = token(3, "0a0b");
    let td = UnitName::parse("td/0").unwrap();
    let bags = vec![(
        td.clone(),
        bag(&[
            ("mirror", "up"),
            ("ensemble", "1"),
            ("mirror-h1", &t),
            ("answers-h1", "1"),
            ("communicator", &t),
            ("members", &t),
            ("hosts", &t),
        ]),
    )];
    let view = MirrorView::from_bags(&bags);
    assert_no_token(&format!("{view:?}"), &t, "MirrorView's Debug");
    let d = view.token_for("h1", 1).map(|tok| Decision::Join {
        token: tok.to_owned(),
        generation: 1,
    });
    assert!(d.is_some());
    assert_no_token(&format!("{d:?}"), &t, "Decision's Debug");

    let own = bag(&[("mirror-h2", &t)]);
    let app = bag(&[("bootstrap-app", &t)]);
    let members = vec![Member {
        name: t.clone(),
        role: Role::Other(t.clone()),
        status: t.clone(),
    }];
    let list = Ok(members.clone());
    let input = ConsumerInput {
        hostname: "h1",
        is_leader: true,
        app: "ovn",
        own: &own,
        mirror: &view,
        distributor_app: &app,
        list: &list,
    };
    assert_no_token(&format!("{input:?}"), &t, "ConsumerInput's Debug");
    let plan = communicator_plan(&t, &members, &view, &own);
    assert_no_token(&format!("{plan:?}"), &t, "CommunicatorPlan's Debug");

    let comm = bag(&[
        ("hostname", "h0"),
        ("mirror", "up"),
        ("joined", "true"),
        ("mirror-h1", &t),
        ("answers-h1", "1"),
        ("members", "h0"),
    ]);
    let relations = vec![RelationView {
        id: RelationId(1),
        app: Some("ovn".parse().unwrap()),
        units: vec![
            (UnitName::parse("ovn/0").unwrap(), comm),
            (
                UnitName::parse("ovn/1").unwrap(),
                bag(&[("hostname", "h1"), ("token-request", "1")]),
            ),
            (UnitName::parse("ovn/2").unwrap(), bag(&[("hostname", &t)])),
        ],
        own: Databag::new(),
    }];
    assert_no_token(&format!("{relations:?}"), &t, "RelationView's Debug");
    let pplan = plan_leader(&relations, &Databag::new());
    assert!(format!("{pplan:?}").contains("<redacted>"), "{pplan:?}");
    assert_no_token(&format!("{pplan:?}"), &t, "ProviderPlan's Debug");
}

// ----- item 8: a token from another life ---------------------------------------------------

/// A communicator (h0, the only member) asked for a token for h1 (generation 1); `add` answers
/// with `add`.
fn communicator(add: impl Fn() -> CommandOutput + 'static) -> (Harness<MicroOvn>, Script) {
    consumer(0, move |args| match args {
        ["list", ..] => CommandOutput::ok(members_json(&["h0"])),
        ["add", "h1", ..] => add(),
        _ => CommandOutput::failed(1, "Error: unexpected"),
    })
}

fn communicator_state(cache: Option<&[u8]>) -> State {
    let mut s = state(
        "h0",
        true,
        &[
            ("mirror", "up"),
            ("ensemble", "1"),
            ("members", "h0"),
            ("hosts", "h0,h1"),
            ("mirror-h1", "empty"),
            ("request-h1", "1"),
        ],
        &[("joined", "true"), ("mirror", "up")],
    );
    if let Some(c) = cache {
        s.files
            .insert(PathBuf::from(TOKEN_CACHE_FILE), (c.to_vec(), 0o600));
    }
    s
}

fn published(run: &charm::testing::Run) -> Option<String> {
    run.state
        .relation(1)
        .and_then(|r| r.local_unit_data.get("mirror-h1").cloned())
}

fn adds(seen: &Script) -> usize {
    seen.borrow()
        .iter()
        .filter(|c| c.args.get(1).is_some_and(|a| a == "add"))
        .count()
}

fn cache_file(run: &charm::testing::Run) -> Vec<u8> {
    run.state
        .files
        .get(&PathBuf::from(TOKEN_CACHE_FILE))
        .map(|(c, _)| c.clone())
        .unwrap_or_default()
}

#[test]
fn a_cache_left_by_another_deployment_is_never_published() {
    let old = token(1, "old-cluster");
    let new = token(2, "new-cluster");
    // The file as the previous life of this machine left it (today's format: host -> token).
    let stale_file = serde_json::json!({"h1": {"token": old, "generation": 1}}).to_string();
    // And as a unit of another deployment (another relation, the same unit name) leaves it.
    let other_owner = serde_json::json!({
        "owner": {"unit": "ovn/0", "relation": 99, "distributor": "td"},
        "tokens": {"h1": {"token": old, "generation": 1, "cluster": "old-cluster"}},
    })
    .to_string();
    for file in [stale_file, other_owner] {
        let fresh = new.clone();
        let (mut h, seen) = communicator(move || CommandOutput::ok(format!("{fresh}\n")));
        let run = h.run(changed(), communicator_state(Some(file.as_bytes())));
        assert!(run.result.is_ok(), "{:?}", run.result);
        assert_eq!(adds(&seen), 1, "the cluster is asked for a fresh token");
        assert_eq!(
            published(&run).as_deref(),
            Some(new.as_str()),
            "the old life's token was published"
        );
        // The cache now names its owner and the new token's cluster, and holds no old token.
        let cache = String::from_utf8(cache_file(&run)).unwrap();
        assert!(!cache.contains(&old), "{cache}");
        let v: serde_json::Value = serde_json::from_str(&cache).unwrap();
        assert_eq!(v["owner"]["unit"], "ovn/0");
        assert_eq!(v["owner"]["relation"], 1);
        assert_eq!(v["owner"]["distributor"], "td");
        assert_eq!(v["tokens"]["h1"]["cluster"], "new-cluster");
        assert_no_token(&all_text(&run), &old, "the log");
    }
}

#[test]
fn a_cached_token_is_published_again_only_while_the_cluster_holds_the_name() {
    let cached = token(4, "this-cluster");
    let fresh = token(5, "this-cluster");
    // A first hook mints and caches, then "fails" before its bag write is kept: the next hook
    // starts from the state before, with the file (written outside the transaction) in place.
    let first = fresh.clone();
    let (mut h, _) = communicator(move || CommandOutput::ok(format!("{first}\n")));
    let run = h.run(changed(), communicator_state(None));
    let file = cache_file(&run);
    assert!(!file.is_empty());

    // The name still holds the token: the cached one is published again.
    let (mut h, seen) = communicator(|| {
        CommandOutput::failed(
            1,
            "Error: unable to add server to microcluster, name \"h1\" is taken",
        )
    });
    let run = h.run(changed(), communicator_state(Some(&file)));
    assert_eq!(adds(&seen), 1);
    assert_eq!(published(&run).as_deref(), Some(fresh.as_str()));

    // The cluster holds no token for the name any more (it expired; or this is another
    // cluster): a new token, never the cached one.
    let newer = cached.clone();
    let (mut h, seen) = communicator(move || CommandOutput::ok(format!("{newer}\n")));
    let run = h.run(changed(), communicator_state(Some(&file)));
    assert_eq!(
        adds(&seen),
        1,
        "the cluster must be asked before a cached token is reused"
    );
    assert_eq!(published(&run).as_deref(), Some(cached.as_str()));
}

#[test]
fn a_cached_token_of_another_cluster_is_not_reused_even_when_the_name_is_taken() {
    let mine = token(6, "this-cluster");
    let theirs = token(7, "other-cluster");
    let cache = serde_json::json!({
        "owner": {"unit": "ovn/0", "relation": 1, "distributor": "td"},
        "tokens": {"h1": {"token": theirs, "generation": 1, "cluster": "other-cluster"}},
    })
    .to_string();
    let (mut h, _) = communicator(|| {
        CommandOutput::failed(
            1,
            "Error: unable to add server to microcluster, name \"h1\" is taken",
        )
    });
    let mut s = communicator_state(Some(cache.as_bytes()));
    // This unit already published a token of its own cluster for another host.
    s.relations[0]
        .local_unit_data
        .insert("mirror-h2".into(), mine.clone());
    let run = h.run(changed(), s);
    assert_ne!(published(&run).as_deref(), Some(theirs.as_str()));
    assert!(
        run.scheduled.iter().any(|(e, _)| e == RETRY_EVENT),
        "it looks again later"
    );
    let st = &run.state.unit_status;
    assert!(
        st.message.contains("1 host(s) wait for `add`"),
        "the status must say what h1 waits for: {st:?}"
    );
}

#[test]
fn the_cache_leaves_with_the_unit_and_the_relation() {
    let t = token(8, "c");
    let first = t.clone();
    let (mut h, _) = communicator(move || CommandOutput::ok(format!("{first}\n")));
    let run = h.run(changed(), communicator_state(None));
    assert!(!cache_file(&run).is_empty());
    let with_cache = run.state;

    let (mut h, _) = communicator(|| CommandOutput::failed(1, "Error: unexpected"));
    let run = h.run(Event::Remove, with_cache.clone());
    assert!(run.result.is_ok(), "{:?}", run.result);
    assert!(cache_file(&run).is_empty(), "the remove hook left the cache");

    let (mut h, _) = communicator(|| CommandOutput::failed(1, "Error: unexpected"));
    let broken = Event::RelationBroken(RelationEvent {
        endpoint: "cluster".into(),
        relation_id: RelationId(1),
        remote_app: Some("td".parse().unwrap()),
        remote_unit: None,
        departing_unit: None,
    });
    let run = h.run(broken, with_cache);
    assert!(run.result.is_ok(), "{:?}", run.result);
    assert!(cache_file(&run).is_empty(), "relation-broken left the cache");
}

fn joiner(err: &'static str) -> Harness<MicroOvn> {
    consumer(1, move |args| match args {
        ["list", ..] => CommandOutput::failed(1, "Error: Daemon not yet initialized"),
        ["join", ..] => CommandOutput::failed(1, format!("Error: {err}\n")),
        _ => CommandOutput::failed(1, "Error: unexpected"),
    })
    .0
}

fn joiner_state(t: &str) -> State {
    state(
        "h1",
        false,
        &[
            ("mirror", "up"),
            ("ensemble", "1"),
            ("mirror-h1", t),
            ("answers-h1", "1"),
        ],
        &[("token-request", "1")],
    )
}

fn request(s: &State) -> Option<String> {
    s.relation(1)
        .and_then(|r| r.local_unit_data.get("token-request").cloned())
}

#[test]
fn a_token_that_does_not_fit_the_cluster_is_stale_at_once() {
    let t = token(10, "x");
    let mut h = joiner("1 join attempts were unsuccessful. Last error: Cluster certificate token does not match that of cluster member");
    let run = h.run(changed(), joiner_state(&t));
    assert_eq!(request(&run.state).as_deref(), Some("2"));
    let st = &run.state.unit_status;
    assert_eq!(st.name, StatusName::Waiting);
    assert!(
        st.message.contains("fresh join token") && st.message.contains("stale"),
        "{st:?}"
    );
}

#[test]
fn a_token_that_keeps_failing_is_stale_after_a_bound_and_the_status_says_so() {
    let t = token(11, "x");
    // The message of a token whose addresses answer with another cluster's certificate: it
    // says nothing of the cause.
    let mut h = joiner("2 join attempts were unsuccessful. Last error: %!w(<nil>)");
    let mut s = joiner_state(&t);
    for attempt in 1..MAX_JOIN_ATTEMPTS {
        let run = h.run(
            Event::Custom {
                name: RETRY_EVENT.into(),
            },
            s,
        );
        assert!(run.result.is_ok(), "{:?}", run.result);
        assert_eq!(request(&run.state).as_deref(), Some("1"), "attempt {attempt}");
        let st = &run.state.unit_status;
        assert_eq!(st.name, StatusName::Waiting);
        assert!(
            st.message.contains(&format!("{attempt} of {MAX_JOIN_ATTEMPTS}")),
            "the status must say how many tries are left: {st:?}"
        );
        s = run.state;
    }
    let run = h.run(
        Event::Custom {
            name: RETRY_EVENT.into(),
        },
        s,
    );
    assert_eq!(
        request(&run.state).as_deref(),
        Some("2"),
        "never gives up the token"
    );
    let st = &run.state.unit_status;
    assert_eq!(st.name, StatusName::Waiting);
    assert!(st.message.contains("fresh join token"), "{st:?}");
}

#[test]
fn a_huge_generation_never_overflows() {
    let t = token(12, "x");
    let mut h = joiner("Token expired");
    let mut s = joiner_state(&t);
    let max = u64::MAX.to_string();
    s.relations[0]
        .local_unit_data
        .insert("token-request".into(), max.clone());
    s.relations[0].remote_units.values_mut().for_each(|b| {
        b.insert("answers-h1".into(), max.clone());
    });
    let run = h.run(changed(), s);
    assert!(run.result.is_ok(), "{:?}", run.result);
    assert_ne!(request(&run.state), Some(max));
}
