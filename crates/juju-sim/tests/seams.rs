//! The machine seams: files per machine, seeded randomness, ports committed with the hook.

use charm::{Charm, Context, Event, HandlerError, HandlerResult, Metadata, Observers, Port};
use juju_sim::Sim;
use std::time::Duration;

#[derive(Default)]
struct Seams;

impl Charm for Seams {
    fn register(on: &mut Observers<Self>) {
        on.observe("seams", Self::on_event);
    }
}

impl Seams {
    fn on_event(&mut self, ctx: &mut Context<'_>, event: &Event) -> HandlerResult {
        match event {
            Event::Install => {
                let nonce = ctx.random_hex(8)?;
                let me = ctx.unit().to_string();
                ctx.write_file("/etc/who", format!("{me} {nonce}").as_bytes(), 0o600)?;
                ctx.backend().open_port(&Port::parse("80/tcp").unwrap(), &[])?;
            }
            Event::ConfigChanged if ctx.read_file("/etc/fail-once")?.is_none() => {
                ctx.write_file("/etc/fail-once", b"x", 0o600)?;
                ctx.backend().open_port(&Port::parse("443/tcp").unwrap(), &[])?;
                return Err(HandlerError::msg("failing once"));
            }
            _ => {}
        }
        Ok(())
    }
}

fn run(seed: u64) -> Sim {
    let meta = Metadata::from_charmcraft_yaml("name: seams\n").unwrap();
    let mut sim = Sim::new(seed);
    sim.deploy("seams", 2, Seams::default, meta);
    sim.settle(Duration::from_secs(3600));
    sim
}

#[test]
fn each_machine_has_its_own_disk_and_randomness_replays() {
    let a = run(7);
    let f0 = String::from_utf8(a.machine_file("seams/0", "/etc/who").unwrap().to_vec()).unwrap();
    let f1 = String::from_utf8(a.machine_file("seams/1", "/etc/who").unwrap().to_vec()).unwrap();
    assert!(
        f0.starts_with("seams/0 ") && f1.starts_with("seams/1 "),
        "{f0} / {f1}"
    );
    assert_ne!(f0[8..], f1[8..], "two draws differ");
    let b = run(7);
    assert_eq!(
        b.machine_file("seams/0", "/etc/who"),
        a.machine_file("seams/0", "/etc/who")
    );
    let c = run(8);
    assert_ne!(
        c.machine_file("seams/0", "/etc/who"),
        a.machine_file("seams/0", "/etc/who")
    );
}

#[test]
fn ports_commit_with_the_hook_and_files_do_not_roll_back() {
    let sim = run(1);
    // The failed config-changed opened 443 and wrote /etc/fail-once: the port was rolled back
    // with the hook, the file (the machine's disk) was not; the retry succeeded.
    assert_eq!(sim.opened_ports("seams/0"), vec![Port::parse("80/tcp").unwrap()]);
    assert!(sim.machine_file("seams/0", "/etc/fail-once").is_some());
}
