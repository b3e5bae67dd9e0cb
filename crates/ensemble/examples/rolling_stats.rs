//! What `ensemble check rollingops` exercised over seeds 1..=N: the checker's counts summed
//! (restarts, killed ones, orphaned restarts overlapping their unit's next run, requests
//! served and dropped, grants and pairs checked for order) and the failures, if any:
//! `cargo run --release -p ensemble --example rolling_stats -- 2000`.
use ensemble::rolling::{chaos_sim, CheckReport};

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let mut sum = CheckReport::default();
    let (mut hooks, mut failed, mut units_forced) = (0u64, 0u64, 0usize);
    for seed in 1..=n {
        let (sim, result) = chaos_sim(seed);
        match result {
            Ok((o, r)) => {
                hooks += o.hooks;
                sum.runs += r.runs;
                sum.committed_runs += r.committed_runs;
                sum.killed_runs += r.killed_runs;
                sum.orphan_overlaps += r.orphan_overlaps;
                sum.requests += r.requests;
                sum.served += r.served;
                sum.dropped += r.dropped;
                sum.left_with_removed_units += r.left_with_removed_units;
                sum.grants += r.grants;
                sum.ordered_pairs += r.ordered_pairs;
                sum.retry_hold_grants += r.retry_hold_grants;
                sum.force_released += r.force_released;
                sum.interrupted_leavings += r.interrupted_leavings;
            }
            Err(e) => {
                failed += 1;
                println!("seed {seed}: {e}");
            }
        }
        units_forced += sim
            .trace()
            .events()
            .iter()
            .filter(|(_, e)| e.ends_with(" is force-removed"))
            .count();
    }
    println!("{n} seeds, {failed} failed, {hooks} hooks, {units_forced} forced removals");
    println!("{sum:#?}");
}
