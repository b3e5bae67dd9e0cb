//! Replays one seed of `ensemble check rollingops` and shows where it stands: the result and
//! the checker's report, the status table, and optionally one unit's logs and last hooks:
//! `cargo run --release -p ensemble --example replay_rolling -- <seed> [<unit>]`
//! (`SIM_DEBUG=1` also prints the simulator's events and every restart).
fn main() {
    let seed: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(1);
    let (sim, result) = ensemble::rolling::chaos_sim(seed);
    println!("{result:#?}");
    println!("{}", sim.status_table_limited(40));
    println!("{}", sim.metrics());
    if let Some(u) = std::env::args().nth(2) {
        for (t, l, m) in sim.logs(&u) {
            println!("log {u} {:.3} {l:?} {m}", t.as_secs_f64());
        }
        let recs: Vec<_> = sim.trace().of_unit(&u).collect();
        for r in recs.iter().rev().take(40).rev() {
            println!("{r}");
        }
    }
}
