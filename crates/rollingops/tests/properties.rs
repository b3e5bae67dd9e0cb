//! Property tests over the pure core (`rollingops::core`) and the wire parsers
//! (`rollingops::wire`): arbitrary bag contents in (arbitrary strings, extreme numbers,
//! NaN/inf/huge floats, garbage JSON, huge values, mixed with valid records).
//!
//! Properties: no panic; grant sequence numbers only grow across successive decisions of a
//! leader; at most one grant at a time; nothing outside the trust rules in what the core
//! returns for writing or keeping (application bag changes, unit bag changes, the leader's
//! book, the cache's trusted keys).
//!
//! The number of cases is proptest's default (256), or `PROPTEST_CASES`; the long mode:
//! `PROPTEST_CASES=1000000 cargo test --release -p rollingops --test properties`.

use charm::{Databag, UnitName};
use proptest::prelude::*;
use rollingops::core::{
    self, AppView, Decision, Grant, LeaderBook, LeaderInput, OperationResult, Outcome, UnitBag, UnitInput,
    UnitStep,
};
use rollingops::wire::{self, limits, GrantId, GrantRecord, Operation, Timestamp, UnitState};
use std::collections::{BTreeMap, BTreeSet};

const UNITS: u32 = 5;

fn unit(n: u32) -> UnitName {
    UnitName::parse(&format!("app/{n}")).unwrap()
}

/// Numbers a hostile peer likes.
fn extreme_number() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("18446744073709551615".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just("9007199254740991".to_owned()),
        Just("9007199254740992".to_owned()),
        Just("4503599627370496".to_owned()),
        Just("-1".to_owned()),
        Just("0".to_owned()),
        Just("4294967295".to_owned()),
        Just("4294967296".to_owned()),
        Just("1e300".to_owned()),
        Just("-1e300".to_owned()),
        Just("1.7976931348623157e308".to_owned()),
        Just("1e309".to_owned()),
        Just("NaN".to_owned()),
        Just("nan".to_owned()),
        Just("inf".to_owned()),
        Just("-inf".to_owned()),
        Just("1e-320".to_owned()),
        Just("99999999999.9".to_owned()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| f.to_string()),
        (1_700_000_000u64..1_900_000_000, 0u32..1_000_000).prop_map(|(s, us)| format!("{s}.{us}")),
    ]
}

fn timestamp_like() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (1_700_000_000u64..1_900_000_000, 0u32..1_000_000).prop_map(|(s, us)| format!("{s}.{us}")),
        1 => extreme_number(),
        1 => ".{0,20}",
    ]
}

fn callback_id() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just("restart".to_owned()),
        2 => Just("_restart".to_owned()),
        1 => Just(String::new()),
        1 => "[a-z_]{1,10}",
        1 => (0usize..300).prop_map(|n| "c".repeat(n)),
    ]
}

fn json_scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        extreme_number(),
        Just("null".to_owned()),
        Just("true".to_owned()),
        "\"[ -~]{0,12}\"",
        Just("[]".to_owned()),
        Just("{}".to_owned()),
    ]
}

fn operation_json() -> impl Strategy<Value = String> {
    (
        callback_id(),
        timestamp_like(),
        prop::option::of(json_scalar()),
        prop::option::of(json_scalar()),
        prop_oneof![
            3 => Just("{}".to_owned()),
            1 => json_scalar().prop_map(|v| format!(r#"{{"k":{v}}}"#)),
            1 => (0usize..20_000).prop_map(|n| format!(r#"{{"big":"{}"}}"#, "k".repeat(n))),
        ],
        any::<bool>(),
    )
        .prop_map(|(cb, at, max_retry, attempt, kwargs, quote)| {
            let at = if quote { format!("\"{at}\"") } else { at };
            let mut fields = vec![
                format!(r#""callback_id":"{cb}""#),
                format!(r#""requested_at":{at}"#),
            ];
            if let Some(m) = max_retry {
                fields.push(format!(r#""max_retry":{m}"#));
            }
            if let Some(a) = attempt {
                fields.push(format!(r#""attempt":{a}"#));
            }
            fields.push(format!(r#""kwargs":{kwargs}"#));
            format!("{{{}}}", fields.join(","))
        })
}

fn operations_value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec(operation_json(), 0..4).prop_map(|ops| format!("[{}]", ops.join(","))),
        1 => (0usize..300).prop_map(|n| format!("[{}]", vec![
            r#"{"callback_id":"restart","requested_at":"1795302851.5"}"#; n
        ].join(","))),
        1 => garbage(),
    ]
}

/// Garbage: random text, broken JSON, deep nesting, huge values.
fn garbage() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,40}",
        "[\\[\\]{}\",:0-9a-z]{0,40}",
        (0usize..200).prop_map(|n| format!("{}1{}", "[".repeat(n), "]".repeat(n))),
        (0usize..200_000).prop_map(|n| "x".repeat(n)),
        Just("\u{0}\u{7f}\u{202e}\n\r\t".to_owned()),
    ]
}

fn ack_value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (prop_oneof![extreme_number(), Just("null".to_owned()), (0u64..20).prop_map(|n| n.to_string())],
              timestamp_like())
            .prop_map(|(seq, at)| format!(r#"{{"seq":{seq},"granted_at":"{at}"}}"#)),
        1 => garbage(),
    ]
}

fn unit_name_like() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (0..UNITS).prop_map(|n| format!("app/{n}")),
        1 => Just("other/0".to_owned()),
        1 => Just("app/99999999999".to_owned()),
        1 => garbage(),
    ]
}

fn record_value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (prop_oneof![extreme_number(), (0u64..20).prop_map(|n| n.to_string())], unit_name_like(), timestamp_like())
            .prop_map(|(seq, u, at)| format!(r#"{{"seq":{seq},"unit":"{u}","granted_at":"{at}"}}"#)),
        1 => garbage(),
    ]
}

fn maybe(s: impl Strategy<Value = String>) -> impl Strategy<Value = Option<String>> {
    prop::option::weighted(0.7, s)
}

fn unit_bag() -> impl Strategy<Value = Databag> {
    (
        maybe(operations_value()),
        maybe(prop_oneof![
            Just("request".to_owned()),
            Just("idle".to_owned()),
            Just("retry-release".to_owned()),
            Just("retry-hold".to_owned()),
            garbage()
        ]),
        maybe(timestamp_like()),
        maybe(prop_oneof![
            Just("peer".to_owned()),
            Just("etcd".to_owned()),
            garbage()
        ]),
        maybe(prop_oneof![Just("1".to_owned()), garbage()]),
        maybe(ack_value()),
        maybe(prop_oneof![
            Just("true".to_owned()),
            Just("interrupted".to_owned()),
            garbage()
        ]),
        maybe(garbage()),
    )
        .prop_map(|(ops, state, exec, backend, proto, ack, leaving, junk)| {
            let mut b = Databag::new();
            for (k, v) in [
                (wire::OPERATIONS, ops),
                (wire::STATE, state),
                (wire::EXECUTED_AT, exec),
                (wire::PROCESSING_BACKEND, backend),
                (wire::ENSEMBLE_PROTOCOL, proto),
                (wire::ENSEMBLE_ACK, ack),
                (wire::ENSEMBLE_LEAVING, leaving),
                ("granted_unit", junk),
            ] {
                if let Some(v) = v {
                    b.insert(k.to_owned(), v);
                }
            }
            b
        })
}

fn app_bag() -> impl Strategy<Value = Databag> {
    (
        maybe(unit_name_like()),
        maybe(timestamp_like()),
        maybe(record_value()),
    )
        .prop_map(|(u, at, rec)| {
            let mut b = Databag::new();
            for (k, v) in [
                (wire::GRANTED_UNIT, u),
                (wire::GRANTED_AT, at),
                (wire::ENSEMBLE_GRANT, rec),
            ] {
                if let Some(v) = v {
                    b.insert(k.to_owned(), v);
                }
            }
            b
        })
}

/// One leader hook's input: the members' bags, and whether the application bag is the one the
/// previous decision wrote (`None`) or something else (a charmlibs leader, a corrupted bag).
fn step() -> impl Strategy<Value = (BTreeMap<u32, Databag>, Option<Databag>, u64)> {
    (
        prop::collection::btree_map(0..UNITS, unit_bag(), 0..=UNITS as usize),
        prop::option::weighted(0.3, app_bag()),
        0u64..10_000_000_000,
    )
}

fn assert_app_changes_trusted(changes: &core::Changes) {
    for (k, v) in changes {
        let Some(v) = v else { continue };
        match k.as_str() {
            wire::GRANTED_UNIT => assert!(wire::valid_unit_name(v), "granted_unit {v:?}"),
            wire::GRANTED_AT => assert!(Timestamp::parse(wire::GRANTED_AT, v).is_ok()),
            wire::ENSEMBLE_GRANT => assert!(GrantRecord::parse(v).is_ok(), "record {v:?}"),
            other => panic!("the leader writes {other:?}"),
        }
    }
}

fn assert_book_trusted(book: &LeaderBook) {
    for tokens in book.seen.values() {
        assert!(tokens.len() <= limits::MAX_QUEUE_LEN);
        for t in tokens.keys() {
            assert!(
                t.len() <= limits::MAX_TIMESTAMP_LEN + 1 + limits::MAX_CALLBACK_ID_LEN,
                "a token of {} bytes",
                t.len()
            );
        }
    }
    if let Some((id, _)) = &book.holder_seen {
        assert!(GrantId::parse(&id.render()).is_ok(), "holder {id:?}");
    }
    assert!(book.issued.is_none_or(|s| s <= limits::MAX_SEQ));
}

/// A unit bag's changes must parse back cleanly: a unit never writes what its peers reject.
fn assert_unit_changes_trusted(before: &Databag, changes: &core::Changes) {
    let mut after = before.clone();
    core::apply_changes(&mut after, changes);
    for (k, v) in changes {
        let Some(v) = v else { continue };
        match k.as_str() {
            wire::OPERATIONS => assert!(wire::parse_operations(Some(v)).is_ok(), "queue {v:?}"),
            wire::STATE => assert!(UnitState::parse(Some(v)).is_ok()),
            wire::EXECUTED_AT => assert!(Timestamp::parse(wire::EXECUTED_AT, v).is_ok(), "{v:?}"),
            wire::ENSEMBLE_ACK => assert!(GrantId::parse(v).is_ok(), "ack {v:?}"),
            wire::ENSEMBLE_PROTOCOL => assert_eq!(v, wire::PROTOCOL_VERSION),
            wire::ENSEMBLE_LEAVING => assert!(v == "true" || v == wire::LEAVING_INTERRUPTED),
            wire::PROCESSING_BACKEND => assert_eq!(v, "peer"),
            wire::ETCD_CLEANUP_NEEDED => assert_eq!(v, "true"),
            other => panic!("a unit writes {other:?}"),
        }
    }
}

fn known(id: &str) -> bool {
    id == "restart"
}

proptest! {
    #[test]
    fn parsers_never_panic_and_bound_their_errors(s in prop_oneof![garbage(), operations_value(), ack_value(), record_value(), extreme_number()]) {
        let errors = [
            wire::parse_operations(Some(&s)).err(),
            GrantId::parse(&s).err(),
            GrantRecord::parse(&s).err(),
            Timestamp::parse(wire::GRANTED_AT, &s).err(),
            UnitState::parse(Some(&s)).err(),
        ];
        for e in errors.into_iter().flatten() {
            prop_assert!(e.to_string().len() < 512, "an error of {} bytes", e.to_string().len());
        }
        if let Ok(t) = Timestamp::parse(wire::GRANTED_AT, &s) {
            prop_assert!(t.seconds().is_finite() && t.seconds().abs() <= limits::MAX_TIMESTAMP_SECS);
        }
        if let Ok(id) = GrantId::parse(&s) {
            prop_assert!(id.seq.is_none_or(|n| n <= limits::MAX_SEQ));
        }
        if let Ok(ops) = wire::parse_operations(Some(&s)) {
            prop_assert!(ops.len() <= limits::MAX_QUEUE_LEN);
            prop_assert!(wire::parse_operations(Some(&wire::render_operations(&ops))).is_ok());
        }
        prop_assert!(wire::redact(&s).len() <= 4 * limits::MAX_QUOTED_CHARS * 2 + 32);
    }

    #[test]
    fn bags_parse_and_the_cache_keeps_only_trusted_values(bag in unit_bag(), app in app_bag()) {
        let parsed = UnitBag::parse(&bag);
        for p in &parsed.problems {
            prop_assert!(p.to_string().len() < 512);
        }
        let trusted = UnitBag::trusted_keys(&bag);
        let again = UnitBag::parse(&trusted);
        prop_assert!(again.problems.is_empty(), "{:?}", again.problems);
        prop_assert!(again.operations.is_ok() && again.state.is_ok());
        for v in trusted.values() {
            prop_assert!(v.len() <= limits::MAX_OPERATIONS_LEN);
        }
        let view = AppView::parse(&app);
        if let Some(g) = &view.grant {
            prop_assert!(wire::valid_unit_name(&g.unit));
            prop_assert!(g.granted_at.is_empty() || Timestamp::parse(wire::GRANTED_AT, &g.granted_at).is_ok());
            prop_assert!(g.seq.is_none_or(|s| (1..=limits::MAX_SEQ).contains(&s)));
        }
    }

    #[test]
    fn successive_decisions_grant_one_at_a_time_with_growing_numbers(
        steps in prop::collection::vec(step(), 1..6),
    ) {
        let me = unit(0);
        let members: BTreeSet<UnitName> = (0..UNITS).map(unit).collect();
        let mut book = LeaderBook::default();
        let mut app = Databag::new();
        let mut last_seq = 0u64;
        let mut bags: BTreeMap<UnitName, UnitBag> = BTreeMap::new();
        for (raw, replace_app, micros) in steps {
            if let Some(a) = replace_app {
                app = a;
            }
            for (u, b) in raw {
                bags.insert(unit(u), UnitBag::parse(&b));
            }
            let view = AppView::parse(&app);
            let now = Timestamp::from_micros(1_700_000_000_000_000 + i128::from(micros));
            let d: Decision = core::decide(LeaderInput {
                me: &me,
                members: &members,
                bags: &bags,
                app: &view,
                book: &book,
                now: &now,
            });
            assert_app_changes_trusted(&d.app);
            assert_book_trusted(&d.book);
            if let Some((u, seq)) = &d.granted {
                prop_assert!(*seq > last_seq, "grant {seq} after {last_seq}");
                prop_assert!(*seq <= limits::MAX_SEQ);
                last_seq = *seq;
                prop_assert!(view.grant.is_none() || d.released.is_some(), "a second grant while one is held");
                prop_assert!(members.contains(u));
                prop_assert_eq!(d.app.get(wire::GRANTED_UNIT), Some(&Some(u.to_string())));
            } else if view.grant.is_some() && d.released.is_none() {
                prop_assert!(!d.app.contains_key(wire::GRANTED_UNIT));
            }
            if let Some(issued) = book.issued {
                prop_assert!(d.book.issued.is_some_and(|i| i >= issued));
            }
            core::apply_changes(&mut app, &d.app);
            book = d.book;
        }
    }

    #[test]
    fn a_units_turn_writes_only_trusted_values(
        bag in unit_bag(),
        app in app_bag(),
        result in prop_oneof![
            Just(OperationResult::Release),
            Just(OperationResult::RetryRelease),
            Just(OperationResult::RetryHold)
        ],
        leaving in any::<bool>(),
        micros in 0i128..10_000_000_000_000_000,
    ) {
        let me = unit(1);
        let parsed = UnitBag::parse(&bag);
        let view = AppView::parse(&app);
        let now = Timestamp::from_micros(micros);
        let step = core::unit_step(UnitInput {
            me: &me,
            bag: &parsed,
            app: &view,
            leaving,
            grant_written_this_hook: false,
            known: &known,
        });
        let grant = view.grant.clone().unwrap_or(Grant {
            unit: me.to_string(),
            granted_at: String::new(),
            seq: None,
        });
        let outcome = match &step {
            UnitStep::Run(op) => {
                prop_assert!(known(&op.callback_id), "an unknown operation runs");
                Some(Outcome::Ran(result))
            }
            UnitStep::Ack(reason) => Some(Outcome::Skipped(reason.clone())),
            _ => None,
        };
        if let Some(outcome) = outcome {
            let changes = core::finish(&parsed, &grant, &outcome, &now, &known);
            assert_unit_changes_trusted(&bag, &changes);
            // Parked operations are never dropped by a turn.
            let mut after = bag.clone();
            core::apply_changes(&mut after, &changes);
            if let (Ok(before), Ok(after)) = (&parsed.operations, &UnitBag::parse(&after).operations) {
                let parked = |q: &[Operation]| q.iter().filter(|o| !known(&o.callback_id)).count();
                prop_assert_eq!(parked(before), parked(after));
            }
        }
        let changes = core::reconcile(&parsed, &known);
        assert_unit_changes_trusted(&bag, &changes);
        if let Some((changes, _)) = core::drop_parked(&parsed, &known) {
            assert_unit_changes_trusted(&bag, &changes);
        }
        let op = Operation::new("restart", serde_json::Map::new(), Some(2), now.clone());
        if let Ok((_, changes)) = core::enqueue(&parsed, op) {
            assert_unit_changes_trusted(&bag, &changes);
        }
        if parsed.operations.is_ok() && view.grant.is_some() {
            let _ = core::force_release(&view, "app/1", &LeaderBook::default());
        }
    }
}
