//! The reactive dispatch rule, pass by pass, and flags kept across hooks.

use charm::reactive::{Flags, Reactive, FLAGS_KEY};
use charm::testing::{Harness, Run, State};
use charm::{Charm, Event, HandlerError, HookError, Metadata, Observers, StoredDocument};
use std::cell::RefCell;

#[derive(Default)]
struct Demo;

thread_local! {
    static RULES: RefCell<Option<Reactive<Demo>>> = const { RefCell::new(None) };
    static LOG: RefCell<Vec<&'static str>> = const { RefCell::new(Vec::new()) };
}

fn log(name: &'static str) {
    LOG.with(|l| l.borrow_mut().push(name));
}

impl Charm for Demo {
    fn register(on: &mut Observers<Self>) {
        on.observe("reactive", |charm, ctx, event| {
            let mut flags = Flags::load(ctx)?;
            if *event == Event::Stop {
                flags.set("stopping");
            }
            RULES.with(|r| match r.borrow().as_ref() {
                Some(rules) => rules.run(charm, ctx, &mut flags).map(drop),
                None => Ok(()),
            })?;
            flags.save(ctx)?;
            Ok(())
        });
    }
}

fn with_flags(flags: &[&str]) -> State {
    let doc = StoredDocument {
        version: 1,
        values: [(FLAGS_KEY.to_string(), serde_json::json!(flags))].into(),
        deferred: vec![],
    };
    State {
        stored: Some(doc.render()),
        ..State::default()
    }
}

fn hook(rules: Reactive<Demo>, event: Event, state: State) -> (Run, Vec<&'static str>) {
    RULES.with(|r| *r.borrow_mut() = Some(rules));
    LOG.with(|l| l.borrow_mut().clear());
    let mut h = Harness::new(
        Metadata::from_charmcraft_yaml("name: demo").unwrap(),
        Demo::default,
    );
    let run = h.run(event, state);
    (run, LOG.with(|l| l.borrow().clone()))
}

fn flags_after(run: &Run) -> Vec<String> {
    serde_json::from_value(run.state.stored_value(FLAGS_KEY).unwrap_or_default()).unwrap_or_default()
}

#[test]
fn first_pass_tests_every_handler_in_order() {
    let mut r = Reactive::new();
    r.handler("a", &["x"], &[], |_, _, _| {
        log("a");
        Ok(())
    });
    r.handler("b", &[], &["x"], |_, _, _| {
        log("b");
        Ok(())
    });
    r.handler("c", &[], &[], |_, _, _| {
        log("c");
        Ok(())
    });
    let (run, seen) = hook(r, Event::UpdateStatus, with_flags(&["x"]));
    assert!(run.result.is_ok(), "{:?}", run.result);
    assert_eq!(seen, ["a", "c"]);
}

#[test]
fn a_handler_reruns_only_when_a_flag_it_tests_changed() {
    let mut r = Reactive::new();
    // "any" tests nothing and "watch" tests only x, so neither reruns when y changes; "setter"
    // stops matching once it sets y; "after-y" matches only once y is set, on pass 2.
    r.handler("any", &[], &[], |_, _, _| {
        log("any");
        Ok(())
    });
    r.handler("watch", &["x"], &[], |_, _, _| {
        log("watch");
        Ok(())
    });
    r.handler("setter", &["x"], &["y"], |_, _, flags| {
        log("setter");
        flags.set("y");
        Ok(())
    });
    r.handler("after-y", &["y"], &[], |_, _, _| {
        log("after-y");
        Ok(())
    });
    let (run, seen) = hook(r, Event::UpdateStatus, with_flags(&["x"]));
    assert!(run.result.is_ok(), "{:?}", run.result);
    // Pass 1: any, watch, setter (y set). after-y was not a candidate of pass 1 (chosen at its
    // start). Pass 2: only after-y (watch and any test nothing that changed).
    assert_eq!(seen, ["any", "watch", "setter", "after-y"]);
    assert_eq!(flags_after(&run), ["x", "y"]);
}

#[test]
fn a_changed_flag_reruns_a_handler_that_tests_it() {
    let mut r = Reactive::new();
    r.handler("count", &["x"], &[], |_, _, _| {
        log("count");
        Ok(())
    });
    r.handler("toggle-once", &[], &["done"], |_, _, flags| {
        log("toggle-once");
        flags.clear("x");
        flags.set("x");
        flags.set("done");
        Ok(())
    });
    let (run, seen) = hook(r, Event::UpdateStatus, with_flags(&["x"]));
    assert!(run.result.is_ok(), "{:?}", run.result);
    // x changed after "count" ran, so "count" runs again on pass 2.
    assert_eq!(seen, ["count", "toggle-once", "count"]);
}

#[test]
fn clearing_a_flag_stops_a_later_candidate_of_the_same_pass() {
    let mut r = Reactive::new();
    r.handler("clear-x", &["x"], &[], |_, _, flags| {
        log("clear-x");
        flags.clear("x");
        Ok(())
    });
    r.handler("needs-x", &["x"], &[], |_, _, _| {
        log("needs-x");
        Ok(())
    });
    let (run, seen) = hook(r, Event::UpdateStatus, with_flags(&["x"]));
    assert!(run.result.is_ok(), "{:?}", run.result);
    assert_eq!(seen, ["clear-x"]);
    assert!(flags_after(&run).is_empty());
}

#[test]
fn a_loop_that_never_settles_fails_the_hook_and_keeps_the_old_flags() {
    let mut r = Reactive::new();
    r.handler("flip", &[], &[], |_, _, _| Ok(()));
    r.handler("on", &[], &["x"], |_, _, flags| {
        flags.set("x");
        Ok(())
    });
    r.handler("off", &["x"], &[], |_, _, flags| {
        flags.clear("x");
        Ok(())
    });
    r.max_passes(10);
    let (run, _) = hook(r, Event::UpdateStatus, with_flags(&["keep"]));
    let err = run.result.as_ref().unwrap_err();
    assert!(err.to_string().contains("never settle"), "{err}");
    assert_eq!(flags_after(&run), ["keep"]);
}

#[test]
fn flags_persist_between_hooks_and_roll_back_on_failure() {
    let rules = || {
        let mut r = Reactive::new();
        r.handler("mark", &["stopping"], &[], |_, _, flags| {
            flags.set("marked");
            Err(HandlerError::msg("fails after marking"))
        });
        r.handler("install", &[], &["installed"], |_, _, flags| {
            flags.set("installed");
            Ok(())
        });
        r
    };
    let (run, _) = hook(rules(), Event::Install, State::default());
    assert!(run.result.is_ok(), "{:?}", run.result);
    assert_eq!(flags_after(&run), ["installed"]);
    let (run2, seen) = hook(rules(), Event::Stop, run.state.clone());
    assert!(matches!(run2.result, Err(HookError::Handler { .. })));
    assert!(seen.is_empty());
    // The failed hook's flags (stopping, marked) are gone: the state is as before it.
    assert_eq!(flags_after(&run2), ["installed"]);
}
