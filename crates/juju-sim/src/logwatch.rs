//! Log watches: checks that see every line a unit logs, as it is logged.
//!
//! A unit keeps only its last [`crate::SimConfig::log_lines_per_unit`] lines ([`crate::Sim::logs`]),
//! so a check that reads them after a run sees only the end of the story. A watch is a predicate
//! installed on the model ([`crate::Sim::watch_logs`]) that the simulator calls on every
//! `juju-log` line, every line a hook process printed, every line the simulator logs for a unit
//! (a failed hook) and every `action-log` line, the moment it is written. It keeps counts and,
//! per unit, its first matching line (cut to [`MAX_WATCHED_LINE`] bytes): its memory grows with
//! the units that matched, never with the lines logged.
//!
//! Every model starts with one watch, [`JOIN_TOKEN_WATCH`], for the simulated microcluster's
//! join tokens.

use charm::LogLevel;
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

/// The watch every model starts with: lines that hold a microcluster join token.
pub const JOIN_TOKEN_WATCH: &str = "microcluster-join-token";

/// How a microcluster join token's text starts: tokens are base64 of JSON that starts
/// `{"secret":` (the simulated microcluster mints them the same way), so the text starts with
/// these twelve characters. A precise test: a broad one (any long base64-like run) also flags
/// file paths.
pub const JOIN_TOKEN_START: &str = "eyJzZWNyZXQi";

/// The most bytes of a matching line a watch keeps.
pub const MAX_WATCHED_LINE: usize = 4096;

/// A unit's lines that a watch matched.
#[derive(Clone)]
pub struct WatchHit {
    /// How many of its lines matched.
    pub count: u64,
    /// When the first one was logged (virtual time).
    pub first_at: Duration,
    /// Its level.
    pub first_level: LogLevel,
    /// The first matching line, cut to [`MAX_WATCHED_LINE`] bytes. It may hold a secret (that is
    /// what the watch looks for): the `Debug` form shows only its size.
    pub first_line: String,
}

impl fmt::Debug for WatchHit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatchHit")
            .field("count", &self.count)
            .field("first_at", &self.first_at)
            .field("first_level", &self.first_level)
            .field("first_line", &format_args!("<{} bytes>", self.first_line.len()))
            .finish()
    }
}

/// One installed watch and what it saw.
#[derive(Clone)]
pub struct LogWatch {
    name: String,
    matches: Rc<dyn Fn(&str) -> bool>,
    installed_after: u64,
    seen: u64,
    matched: u64,
    hits: BTreeMap<String, WatchHit>,
}

impl fmt::Debug for LogWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogWatch")
            .field("name", &self.name)
            .field("installed_after", &self.installed_after)
            .field("seen", &self.seen)
            .field("matched", &self.matched)
            .field("hits", &self.hits)
            .finish()
    }
}

impl LogWatch {
    pub(crate) fn new(name: &str, matches: Rc<dyn Fn(&str) -> bool>, installed_after: u64) -> Self {
        Self {
            name: name.to_owned(),
            matches,
            installed_after,
            seen: 0,
            matched: 0,
            hits: BTreeMap::new(),
        }
    }

    pub(crate) fn observe(&mut self, unit: &str, at: Duration, level: LogLevel, line: &str) {
        self.seen += 1;
        if !(self.matches)(line) {
            return;
        }
        self.matched += 1;
        match self.hits.get_mut(unit) {
            Some(h) => h.count += 1,
            None => {
                let mut cut = line.len().min(MAX_WATCHED_LINE);
                while !line.is_char_boundary(cut) {
                    cut -= 1;
                }
                self.hits.insert(
                    unit.to_owned(),
                    WatchHit {
                        count: 1,
                        first_at: at,
                        first_level: level,
                        first_line: line[..cut].to_owned(),
                    },
                );
            }
        }
    }

    /// The watch's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many lines had been logged in the model when the watch was installed: those it did
    /// not see. Zero for a watch installed before the first hook (and for [`JOIN_TOKEN_WATCH`]).
    pub fn installed_after(&self) -> u64 {
        self.installed_after
    }

    /// How many lines it has seen.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// How many of them matched.
    pub fn matched(&self) -> u64 {
        self.matched
    }

    /// The units with a matching line, by name (removed units included).
    pub fn hits(&self) -> &BTreeMap<String, WatchHit> {
        &self.hits
    }
}
