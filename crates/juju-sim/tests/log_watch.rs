//! Log watches see every line a unit logs, not only the last lines a unit keeps.

use charm::{Charm, Event, LogLevel, Metadata, Observers};
use juju_sim::{Sim, JOIN_TOKEN_WATCH};
use std::time::Duration;

// base64 of {"secret":"00","fingerprint":"ff","join_addresses":[]}
const TOKEN: &str = "eyJzZWNyZXQiOiIwMCIsImZpbmdlcnByaW50IjoiZmYiLCJqb2luX2FkZHJlc3NlcyI6W119";

/// Logs a token in install, then many harmless lines in start.
#[derive(Default)]
struct Chatty;

impl Charm for Chatty {
    fn register(on: &mut Observers<Self>) {
        on.observe("chatty", |_, ctx, event| {
            match event {
                Event::Install => ctx.log(LogLevel::Debug, format!("joining with {TOKEN}")),
                Event::Start => {
                    for i in 0..100 {
                        ctx.log(LogLevel::Info, format!("harmless line {i}, password hunter2"));
                    }
                }
                _ => {}
            }
            Ok(())
        });
    }
}

#[test]
fn a_token_logged_before_many_later_lines_is_seen_by_the_watch() {
    let mut sim = Sim::new(3);
    sim.watch_logs("password", |l| l.contains("hunter2"));
    sim.deploy(
        "chatty",
        2,
        Chatty::default,
        Metadata::from_charmcraft_yaml("name: chatty\n").unwrap(),
    );
    sim.settle(Duration::from_secs(3600));
    // The unit keeps only its last lines: the token is gone from them.
    assert!(sim.logs("chatty/0").iter().all(|(_, _, l)| !l.contains(TOKEN)));
    let w = sim.log_watch(JOIN_TOKEN_WATCH).expect("every model has it");
    assert_eq!(w.installed_after(), 0);
    assert_eq!(w.matched(), 2, "{w:?}");
    let hit = &w.hits()["chatty/0"];
    assert_eq!(hit.count, 1);
    assert_eq!(hit.first_level, LogLevel::Debug);
    assert!(hit.first_line.contains(TOKEN));
    assert!(
        !format!("{w:?}").contains(TOKEN),
        "Debug never shows the matched lines"
    );
    assert!(w.seen() >= 200, "{w:?}");
    let p = sim.log_watch("password").unwrap();
    assert_eq!(p.matched(), 200);
    assert_eq!(p.hits().len(), 2);
}

#[test]
fn a_watch_installed_late_says_how_many_lines_it_missed() {
    let mut sim = Sim::new(4);
    sim.deploy(
        "chatty",
        1,
        Chatty::default,
        Metadata::from_charmcraft_yaml("name: chatty\n").unwrap(),
    );
    sim.settle(Duration::from_secs(3600));
    sim.watch_logs("late", |_| true);
    assert!(sim.log_watch("late").unwrap().installed_after() >= 101);
}
