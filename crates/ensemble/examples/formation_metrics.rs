//! Prints the metrics of one token-distribution formation: `cargo run --release -p ensemble --example formation_metrics -- 100`.
fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let mut sim = juju_sim::Sim::new(1);
    sim.set_trace_mode(juju_sim::TraceMode::Off);
    ensemble::formation::deploy(&mut sim, &[("ovn", n)], 1);
    let t = std::time::Instant::now();
    let idle = sim
        .run_until_idle(ensemble::formation::MAX_VIRTUAL)
        .expect("idle");
    let r = ensemble::formation::check_formed(&sim, &["ovn"]);
    println!(
        "{n} units: formed={:?} in {:.1} virtual s, {:.2} wall s",
        r.as_ref().map(|r| r.largest_distributor_bag),
        idle.quiescent_at.as_secs_f64(),
        t.elapsed().as_secs_f64()
    );
    println!("{}", sim.metrics());
}
