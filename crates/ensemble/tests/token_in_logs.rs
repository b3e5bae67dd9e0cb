//! `no_token_in_logs` sees every line a unit ever logged, not only the last ones it keeps.

use charm::{Charm, Event, LogLevel, Metadata, Observers};
use ensemble::formation::no_token_in_logs;
use juju_sim::Sim;
use std::time::Duration;

// base64 of {"secret":"00","fingerprint":"ff","join_addresses":[]}
const TOKEN: &str = "eyJzZWNyZXQiOiIwMCIsImZpbmdlcnByaW50IjoiZmYiLCJqb2luX2FkZHJlc3NlcyI6W119";

/// Logs a token in install (when it is unit 1), then far more lines than a unit keeps.
#[derive(Default)]
struct EarlyLeak;

impl Charm for EarlyLeak {
    fn register(on: &mut Observers<Self>) {
        on.observe("early-leak", |_, ctx, event| {
            match event {
                Event::Install if ctx.unit().as_str().ends_with("/1") => {
                    ctx.log(LogLevel::Debug, format!("join token {TOKEN}"));
                }
                Event::Start => {
                    for i in 0..64 {
                        ctx.log(LogLevel::Info, format!("state in /var/lib/app/{i}.db"));
                    }
                }
                _ => {}
            }
            Ok(())
        });
    }
}

fn model(app: &str) -> Sim {
    let mut sim = Sim::new(5);
    let meta = Metadata::from_charmcraft_yaml(&format!("name: {app}\n")).unwrap();
    sim.deploy(app, 2, EarlyLeak::default, meta);
    sim.settle(Duration::from_secs(3600));
    sim
}

#[test]
fn a_token_logged_before_32_later_lines_is_caught() {
    let sim = model("app");
    assert!(sim.logs("app/1").len() <= 32);
    assert!(
        sim.logs("app/1").iter().all(|(_, _, l)| !l.contains(TOKEN)),
        "out of the kept lines"
    );
    let err = no_token_in_logs(&sim, &["app"]).unwrap_err();
    assert!(err.contains("app/1 logged a join token"), "{err}");
    assert!(
        !err.contains("eyJzZWNyZXQi"),
        "the message itself must not carry the token: {err}"
    );
}

#[test]
fn a_token_logged_by_an_application_not_checked_is_not_reported() {
    let sim = model("other");
    assert_eq!(no_token_in_logs(&sim, &["app"]), Ok(()));
}
