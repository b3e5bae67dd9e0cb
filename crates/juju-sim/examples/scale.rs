//! Runs one scale benchmark: `cargo run --release -p juju-sim --example scale -- peer 300`.
fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "peer".into());
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(100);
    let r = match which.as_str() {
        "client-server" => juju_sim::bench::client_server(n, 1),
        _ => juju_sim::bench::peer(n, 1),
    };
    match r {
        Ok(r) => println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default()),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
