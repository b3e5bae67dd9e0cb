//! Replays one seed of `ensemble check token-distribution` and shows where it stands: the
//! status table, the clusters, the distributor's bags (values cut short), and optionally one
//! unit's logs and last hooks and another's communicator plan:
//! `cargo run --release -p ensemble --example replay_formation -- <seed> [<unit> [<communicator unit>]]`.
fn main() {
    let seed: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(1);
    let (sim, result) = ensemble::formation::chaos_sim(seed);
    println!("{result:?}");
    println!("{}", sim.status_table_limited(80));
    let w = sim.microcluster().expect("a world");
    for c in w.clusters() {
        let m: Vec<String> = w
            .members(c)
            .into_iter()
            .map(|m| format!("{}:{}:{:?}", m.name, m.role.as_str(), m.status))
            .collect();
        println!("{c}: {m:?}");
    }
    if let Some(u) = std::env::args().nth(3) {
        plan_now(&sim, &u);
    }
    if let Some(u) = std::env::args().nth(2) {
        for (t, l, m) in sim.logs(&u) {
            println!("log {u} {t:?} {l:?} {m}");
        }
        let recs: Vec<_> = sim.trace().of_unit(&u).collect();
        for r in recs.iter().rev().take(30).rev() {
            println!(
                "hook {u} {:?} {} {:?} {:?}",
                r.start, r.hook, r.remote_unit, r.outcome
            );
        }
    }
    if let Some(v) = sim.stored("distributor/0", "microcluster.provider") {
        let s = v.to_string();
        println!("summary: {}", &s[..s.len().min(1500)]);
    }
    for (id, a, _) in sim.relations() {
        for u in sim
            .alive_units(ensemble::formation::DISTRIBUTOR)
            .into_iter()
            .chain(std::env::args().nth(3))
        {
            if let Some(b) = sim.databag(id, &u) {
                let keys: Vec<String> = b
                    .iter()
                    .map(|(k, v)| format!("{k}={}", &v[..v.len().min(24)]))
                    .collect();
                println!("{id} {a} {u}: {keys:?}");
            }
        }
    }
}

/// The communicator's plan for the final state.
fn plan_now(sim: &juju_sim::Sim, comm: &str) {
    use microcluster::cli::{Member, Role};
    let w = sim.microcluster().expect("world");
    let c = w.clusters()[0];
    let members: Vec<Member> = w
        .members(c)
        .into_iter()
        .map(|m| Member {
            name: m.name,
            role: match m.role.as_str() {
                "voter" => Role::Voter,
                "stand-by" => Role::StandBy,
                "spare" => Role::Spare,
                _ => Role::Pending,
            },
            status: "ONLINE".into(),
        })
        .collect();
    let id = charm::RelationId(1);
    let dist = sim.databag(id, "distributor/0").cloned().unwrap_or_default();
    let own = sim.databag(id, comm).cloned().unwrap_or_default();
    let bags = vec![(charm::UnitName::parse("distributor/0").unwrap(), dist)];
    let mirror = microcluster::consumer::MirrorView::from_bags(&bags);
    let host = sim.unit(comm).unwrap().machine.hostname;
    let plan = microcluster::consumer::communicator_plan(&host, &members, &mirror, &own);
    println!(
        "plan for {comm} ({host}): communicator={} pending={} mint={:?} remove={:?}",
        plan.communicator, plan.pending, plan.mint, plan.remove
    );
    println!(
        "cache: {:?}",
        sim.machine_file(comm, microcluster::consumer::TOKEN_CACHE_FILE)
            .map(|b| String::from_utf8_lossy(b).chars().take(300).collect::<String>())
    );
}
