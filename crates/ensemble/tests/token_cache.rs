//! A token from another life (issue 11, item 8), in the simulator: the communicator's machine
//! keeps the token cache an earlier deployment left there, holding a token minted by another
//! cluster for the hostname of a unit of this one. The cluster must still form, that token must
//! never be published, and no token may reach a log.

use ensemble::formation::{check_formed, deploy, DISTRIBUTOR, MAX_VIRTUAL};
use juju_sim::Sim;
use microcluster::consumer::TOKEN_CACHE_FILE;

fn seed() -> u64 {
    juju_sim::seed_from_env(1)
}

/// Standard base64 (test data only).
fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A token of an old cluster (another certificate) whose addresses are this model's machines:
/// joining with it reaches this cluster's daemons, which do not know it.
fn old_token(addresses: &[String]) -> String {
    let addrs: Vec<String> = addresses.iter().map(|a| format!("\"{a}:6443\"")).collect();
    base64(
        format!(
            r#"{{"secret":"{}","fingerprint":"{}","join_addresses":[{}]}}"#,
            "5e".repeat(32),
            "0f".repeat(32),
            addrs.join(",")
        )
        .as_bytes(),
    )
}

#[test]
fn a_cache_left_on_the_machine_by_another_deployment_is_never_published() {
    for format in ["old", "owned"] {
        let mut sim = Sim::new(seed());
        deploy(&mut sim, &[("ovn", 3)], 1);
        let units = sim.units("ovn");
        let machines: Vec<_> = units
            .iter()
            .map(|u| {
                sim.unit(u)
                    .unwrap_or_else(|| sim.fail(&format!("no unit {u}")))
                    .machine
            })
            .collect();
        let addresses: Vec<String> = machines.iter().map(|m| m.address.clone()).collect();
        let token = old_token(&addresses);
        // Every host of this deployment has a token from the old life, generation 1: whichever
        // unit becomes the communicator finds it.
        let tokens: serde_json::Map<String, serde_json::Value> = machines
            .iter()
            .map(|m| {
                (
                    m.hostname.clone(),
                    serde_json::json!({"token": token, "generation": 1, "cluster": "0f".repeat(32)}),
                )
            })
            .collect();
        let file = match format {
            // The format of the cache before it named its owner: host -> token.
            "old" => serde_json::Value::Object(tokens),
            // Another owner: the same unit name in an earlier relation (a removed application).
            _ => serde_json::json!({
                "owner": {"unit": "ovn/0", "relation": 0, "distributor": DISTRIBUTOR},
                "tokens": tokens,
            }),
        }
        .to_string();
        for u in &units {
            sim.put_machine_file(u, TOKEN_CACHE_FILE, file.as_bytes(), 0o600)
                .unwrap_or_else(|e| sim.fail(&e.to_string()));
        }
        sim.settle(MAX_VIRTUAL);
        let report = match check_formed(&sim, &["ovn"]) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{}", sim.status_table_limited(20));
                sim.fail(&format!("({format} cache) {e}"))
            }
        };
        assert_eq!(report.clusters.values().next().map(Vec::len), Some(3));
        for u in &units {
            for (_, _, line) in sim.logs(u) {
                assert!(!line.contains("5e5e5e5e"), "{u} logged the old token's secret");
            }
            // A cache a unit rewrote (the communicator's) holds no old token; the others never
            // read theirs (only a communicator does, and it discards another owner's).
            if let Some(c) = sim
                .machine_file(u, TOKEN_CACHE_FILE)
                .filter(|c| *c != file.as_bytes())
            {
                let c = String::from_utf8_lossy(c);
                assert!(!c.contains(&token), "{u}'s cache still holds the old token");
            }
        }
    }
}
