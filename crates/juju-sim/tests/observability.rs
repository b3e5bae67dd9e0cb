//! Trace modes and sinks, metrics, the status table, and what a hook pays for.

use juju_sim::charms::*;
use juju_sim::{HookKind, HookOutcome, Sim, SimConfig, TraceMode};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

const HOUR: Duration = Duration::from_secs(3600);

fn peers(n: usize, trace: TraceMode) -> Sim {
    let mut sim = Sim::with_config(
        11,
        SimConfig {
            trace,
            ..SimConfig::default()
        },
    );
    sim.deploy("peer", n, PeerCharm::default, peer_metadata());
    sim
}

#[test]
fn sampled_and_streamed_traces_hash_the_same_as_full_ones() {
    let mut full = peers(5, TraceMode::Full);
    full.settle(HOUR);
    let mut sampled = peers(5, TraceMode::Sampled(10));
    let streamed = Rc::new(RefCell::new(Vec::new()));
    let s2 = streamed.clone();
    sampled.set_trace_sink(Box::new(move |r| s2.borrow_mut().push(r.seq)));
    sampled.settle(HOUR);
    let mut off = peers(5, TraceMode::Off);
    off.settle(HOUR);
    let n = full.trace().len();
    assert_eq!(full.trace().records().len() as u64, n);
    assert_eq!(sampled.trace().records().len() as u64, n.div_ceil(10));
    assert!(sampled.trace().records().iter().all(|r| r.seq % 10 == 0));
    assert_eq!(streamed.borrow().len() as u64, n, "the sink sees every hook");
    assert!(off.trace().records().is_empty());
    assert_eq!(full.trace().hash(), sampled.trace().hash());
    assert_eq!(full.trace().hash(), off.trace().hash());
    assert_eq!(full.metrics(), off.metrics());
}

#[test]
fn metrics_add_up() {
    let mut sim = Sim::new(4);
    sim.deploy("server", 2, ServerCharm::default, server_metadata())
        .deploy("client", 5, ClientCharm::default, client_metadata())
        .relate("client:db", "server:db");
    sim.settle(HOUR);
    let m = sim.metrics();
    let recs = sim.trace().records();
    assert_eq!(m.hooks, recs.len() as u64);
    assert_eq!(m.hooks_by_kind.values().sum::<u64>(), m.hooks);
    assert_eq!(m.hooks_by_kind["relation-joined"], 2 * 5 * 2);
    assert_eq!(
        m.relation_changed,
        recs.iter()
            .filter(|r| r.kind == HookKind::RelationChanged)
            .count() as u64
    );
    assert_eq!(
        m.tool_calls,
        recs.iter().map(|r| r.tool_calls as u64).sum::<u64>()
    );
    assert_eq!(
        m.relation_bytes_written,
        recs.iter().map(|r| r.bytes_written).sum::<u64>()
    );
    // Each client wrote "address" = its 8-character address once.
    assert_eq!(m.relation_bytes_written, 5 * ("address".len() as u64 + 8));
    let per_unit = sim
        .units("server")
        .iter()
        .map(|u| sim.unit(u).unwrap().hooks)
        .max()
        .unwrap();
    assert_eq!(m.max_hooks_per_unit, per_unit);
    assert!(m.busiest_unit.unwrap().starts_with("server/"));
    assert!(m.largest_databag_bytes > 0 && m.largest_databag.is_some());
    assert_eq!(m.elections, 2);
    assert!(m.quiescence.is_some() && m.virtual_time >= m.quiescence.unwrap());
    assert_eq!(m.failed_hooks + m.killed_hooks, 0);
    assert!(recs.iter().all(|r| r.outcome == HookOutcome::Ok));
    for s in sim.units("server") {
        assert_eq!(sim.stored(&s, "clients"), Some(serde_json::json!(5)));
    }
}

#[test]
fn a_hook_pays_for_what_it_reads_not_for_the_size_of_the_relation() {
    let calls = |n: usize| {
        let mut sim = peers(n, TraceMode::Full);
        sim.settle(HOUR);
        let changed: Vec<u32> = sim
            .trace()
            .records()
            .iter()
            .filter(|r| r.kind == HookKind::RelationChanged && r.remote_unit.is_some())
            .map(|r| r.tool_calls)
            .collect();
        (*changed.iter().min().unwrap(), *changed.iter().max().unwrap())
    };
    assert_eq!(calls(3), calls(30));
}

#[test]
fn the_status_table_looks_like_juju_status() {
    let mut sim = peers(3, TraceMode::Full);
    sim.settle(HOUR);
    let t = sim.status_table();
    assert!(
        t.contains("App") && t.contains("Unit") && t.contains("Workload"),
        "{t}"
    );
    assert!(t.contains("peer/0*"), "the leader is starred:\n{t}");
    assert!(t.contains("2 peers"), "{t}");
    assert!(t.contains("10.0.0.3"), "{t}");
    let short = sim.status_table_limited(1);
    assert!(short.contains("... 2 more peer units"), "{short}");
}

#[test]
fn deploy_from_charmcraft_yaml() {
    let mut sim = Sim::new(1);
    let yaml = "name: p\npeers:\n  cluster:\n    interface: p\n";
    sim.deploy_charmcraft("p", 2, PeerCharm::default, yaml).unwrap();
    assert!(sim
        .deploy_charmcraft("q", 1, PeerCharm::default, "- not a mapping")
        .is_err());
    assert!(
        sim.deploy_charmcraft("p", 1, PeerCharm::default, yaml).is_err(),
        "duplicate name"
    );
    assert!(sim
        .deploy_charmcraft("Bad_Name", 1, PeerCharm::default, yaml)
        .is_err());
    sim.settle(HOUR);
    assert_eq!(sim.relations().len(), 1);
    assert_eq!(sim.relations()[0].2, ["p:cluster"]);
}
