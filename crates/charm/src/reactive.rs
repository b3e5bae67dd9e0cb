//! Reactive handlers over flags, with charms.reactive's dispatch rule.
//!
//! A flag is a name that is set or not; flags live in the unit's stored state, so they survive
//! between hooks and roll back with everything else when a hook fails. Handlers declare the flags
//! that must be set (`when`) and clear (`when_not`); [`Reactive::run`] calls, in order, every
//! handler whose conditions hold, then keeps going while flags change:
//!
//! - on the first pass every handler is tested;
//! - after that, a handler that already ran runs again only if one of the flags it tests changed
//!   since it last ran (a handler that has not run yet is tested on every pass);
//! - a pass's candidates are chosen at its start, and each is tested again right before it runs,
//!   so clearing a flag stops a later handler of the same pass;
//! - the loop ends when a pass runs nothing, and fails after [`MAX_PASSES`] passes.
//!
//! ```
//! use charm::reactive::{Flags, Reactive};
//! use charm::testing::{Harness, State};
//! use charm::{Charm, Metadata, Observers};
//!
//! #[derive(Default)]
//! struct Demo;
//!
//! impl Demo {
//!     fn rules() -> Reactive<Self> {
//!         let mut r = Reactive::new();
//!         r.handler("install-app", &["started"], &["app.installed"], |_, _ctx, flags| {
//!             flags.set("app.installed");
//!             Ok(())
//!         });
//!         r.handler("announce", &["app.installed"], &[], |_, ctx, _| {
//!             ctx.set_status(charm::Status::active("installed"))?;
//!             Ok(())
//!         });
//!         r
//!     }
//! }
//!
//! impl Charm for Demo {
//!     fn register(on: &mut Observers<Self>) {
//!         on.observe("reactive", |charm, ctx, _event| {
//!             let mut flags = Flags::load(ctx)?;
//!             flags.set("started");
//!             Self::rules().run(charm, ctx, &mut flags)?;
//!             flags.save(ctx)?;
//!             Ok(())
//!         });
//!     }
//! }
//!
//! let mut h = Harness::new(Metadata::from_charmcraft_yaml("name: demo").unwrap(), Demo::default);
//! let run = h.run(charm::Event::Start, State::default());
//! assert_eq!(run.state.unit_status, charm::Status::active("installed"));
//! ```

use crate::context::{Context, ModelError};
use crate::framework::HandlerError;
use std::collections::{BTreeSet, HashMap};

/// The stored-state key under which flags are kept.
pub const FLAGS_KEY: &str = "reactive.flags";

/// The most passes [`Reactive::run`] makes before it decides the handlers never settle.
pub const MAX_PASSES: usize = 100;

/// The set flags, and when each last changed (in this hook).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags {
    set: BTreeSet<String>,
    changed_at: HashMap<String, u64>,
    clock: u64,
}

impl Flags {
    /// Flags from a list of set flags (no change history).
    pub fn from_set<I: IntoIterator<Item = S>, S: Into<String>>(flags: I) -> Self {
        Self {
            set: flags.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// The flags kept in this unit's stored state.
    pub fn load(ctx: &Context<'_>) -> Result<Self, ModelError> {
        let set: BTreeSet<String> = ctx.stored(FLAGS_KEY)?;
        Ok(Self {
            set,
            ..Self::default()
        })
    }

    /// Keeps the flags in this unit's stored state (committed with the hook).
    pub fn save(&self, ctx: &mut Context<'_>) -> Result<(), ModelError> {
        ctx.set_stored(FLAGS_KEY, &self.set)
    }

    /// Whether `flag` is set.
    pub fn is_set(&self, flag: &str) -> bool {
        self.set.contains(flag)
    }

    /// Sets `flag`.
    pub fn set(&mut self, flag: &str) {
        if self.set.insert(flag.to_owned()) {
            self.touch(flag);
        }
    }

    /// Clears `flag`.
    pub fn clear(&mut self, flag: &str) {
        if self.set.remove(flag) {
            self.touch(flag);
        }
    }

    /// Sets or clears `flag`.
    pub fn toggle(&mut self, flag: &str, on: bool) {
        if on {
            self.set(flag)
        } else {
            self.clear(flag)
        }
    }

    /// The set flags that start with `prefix`.
    pub fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.set
            .iter()
            .map(String::as_str)
            .filter(move |f| f.starts_with(prefix))
    }

    /// Every set flag, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.set.iter().map(String::as_str)
    }

    fn touch(&mut self, flag: &str) {
        self.clock += 1;
        self.changed_at.insert(flag.to_owned(), self.clock);
    }

    fn changed_since(&self, flag: &str, t: u64) -> bool {
        self.changed_at.get(flag).is_some_and(|c| *c > t)
    }
}

/// A reactive handler's function.
pub type ReactiveFn<C> = fn(&mut C, &mut Context<'_>, &mut Flags) -> Result<(), HandlerError>;

struct Rule<C> {
    name: &'static str,
    when: Vec<&'static str>,
    when_not: Vec<&'static str>,
    run: ReactiveFn<C>,
}

impl<C> Rule<C> {
    fn test(&self, flags: &Flags) -> bool {
        self.when.iter().all(|f| flags.is_set(f)) && !self.when_not.iter().any(|f| flags.is_set(f))
    }

    fn tested_flags(&self) -> impl Iterator<Item = &&'static str> {
        self.when.iter().chain(&self.when_not)
    }
}

/// A reactive dispatch that failed.
#[derive(Debug, thiserror::Error)]
pub enum ReactiveError {
    /// A handler failed.
    #[error("reactive handler {name:?} failed: {message}")]
    Handler {
        /// The handler.
        name: &'static str,
        /// Its error.
        message: String,
    },
    /// Handlers kept running each other for [`MAX_PASSES`] passes.
    #[error("reactive handlers never settle: still running after {passes} passes: {running:?}")]
    NeverSettles {
        /// How many passes ran.
        passes: usize,
        /// The handlers that ran in the last pass.
        running: Vec<&'static str>,
    },
}

/// What a dispatch ran.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReactiveReport {
    /// Every handler call, in order.
    pub ran: Vec<&'static str>,
    /// The number of passes that ran something.
    pub passes: usize,
}

/// Handlers over flags.
pub struct Reactive<C> {
    rules: Vec<Rule<C>>,
    max_passes: usize,
}

impl<C> Default for Reactive<C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C> Reactive<C> {
    /// No handlers yet.
    pub fn new() -> Self {
        Self {
            rules: Vec::new(),
            max_passes: MAX_PASSES,
        }
    }

    /// Adds a handler that runs when every flag of `when` is set and none of `when_not` is.
    pub fn handler(
        &mut self,
        name: &'static str,
        when: &[&'static str],
        when_not: &[&'static str],
        run: ReactiveFn<C>,
    ) -> &mut Self {
        self.rules.push(Rule {
            name,
            when: when.to_vec(),
            when_not: when_not.to_vec(),
            run,
        });
        self
    }

    /// Sets the bound on passes (default [`MAX_PASSES`]).
    pub fn max_passes(&mut self, passes: usize) -> &mut Self {
        self.max_passes = passes.max(1);
        self
    }

    /// Runs the handlers until the flags settle.
    pub fn run(
        &self,
        charm: &mut C,
        ctx: &mut Context<'_>,
        flags: &mut Flags,
    ) -> Result<ReactiveReport, ReactiveError> {
        let mut last_run: Vec<Option<u64>> = vec![None; self.rules.len()];
        let mut report = ReactiveReport::default();
        for pass in 0..self.max_passes {
            let candidates: Vec<usize> = (0..self.rules.len())
                .filter(|&i| {
                    let r = &self.rules[i];
                    let eligible = match last_run[i] {
                        None => true,
                        Some(t) => r.tested_flags().any(|f| flags.changed_since(f, t)),
                    };
                    eligible && r.test(flags)
                })
                .collect();
            let mut ran_this_pass = Vec::new();
            for i in candidates {
                let r = &self.rules[i];
                if !r.test(flags) {
                    continue;
                }
                last_run[i] = Some(flags.clock);
                (r.run)(charm, ctx, flags).map_err(|e| ReactiveError::Handler {
                    name: r.name,
                    message: e.to_string(),
                })?;
                report.ran.push(r.name);
                ran_this_pass.push(r.name);
            }
            if ran_this_pass.is_empty() {
                return Ok(report);
            }
            report.passes = pass + 1;
            if pass + 1 == self.max_passes {
                return Err(ReactiveError::NeverSettles {
                    passes: self.max_passes,
                    running: ran_this_pass,
                });
            }
        }
        Ok(report)
    }
}
