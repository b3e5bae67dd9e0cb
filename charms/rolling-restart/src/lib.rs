//! # rolling-restart: one unit at a time, on ensemble's rollingops
//!
//! The Rust counterpart of the Python charm `crates/ensemble/tests/fixtures/py-rolling`, which
//! uses charmlibs-rollingops 1.1.5 (PyPI): the same peer endpoint (`restart`, interface
//! `rolling_op`), the same callback id (`restart`), the same kwargs (`{"request": n}`) and the
//! same record of each restart. Because [`rollingops::RollingOps`] reads and writes
//! charmlibs' databag format, an application refreshed from the Python charm to this one in the
//! middle of a queue finishes every queued restart, each once.
//!
//! - **Requests**: when a unit starts, it requests `restarts` restarts, numbered from 1 (stored
//!   state remembers how many it requested, so a second `start` adds none). A unit refreshed
//!   from the Python charm does not run `start` again: it only finishes what is queued.
//! - **The restart** appends `{"unit", "event": "start", "request", "impl": "rust", "hook",
//!   "t"}` to the JSON-lines file named by `trace-file`, waits `restart-seconds`, and appends
//!   the `end` record. The file is written directly by the hook process: this charm is meant
//!   for the simulator's process driver, where every unit of a model shares one machine.
//! - The `force-release` and `drop-parked` actions and the statuses are the library's.
//! - Operations queued as `_restart` (charmlibs-rollingops' own test charm's id) run the
//!   restart too ([`CHARMLIBS_RESTART`]); any other unknown id is parked until an operator
//!   runs `drop-parked`.

#![forbid(unsafe_code)]

use charm::{Charm, Context, Event, HandlerError, HandlerResult, Observers};
use rollingops::{CallbackResult, Kwargs, OperationResult, RollingOps};
use serde_json::{json, Value};
use std::io::Write;
use std::time::{Duration, UNIX_EPOCH};

/// The peer endpoint the lock goes around on (as in the Python charm).
pub const PEER_ENDPOINT: &str = "restart";
/// The callback id of the restart (as in the Python charm).
pub const RESTART: &str = "restart";
/// The stored-state key of how many restarts this unit has requested.
const REQUESTED_KEY: &str = "rolling-restart.requested";

/// The charm. It remembers the hook it runs in, for the records.
#[derive(Debug, Default)]
pub struct RollingRestart {
    hook: String,
}

/// The callback id of the restart in charmlibs-rollingops' own test charm, kept as an alias
/// so that restarts queued there before a refresh run here instead of being parked.
pub const CHARMLIBS_RESTART: &str = "_restart";

/// The library, with the restart as its only target (also under charmlibs' id).
pub fn rolling() -> RollingOps<RollingRestart> {
    RollingOps::new(PEER_ENDPOINT)
        .target(RESTART, RollingRestart::restart)
        .alias(CHARMLIBS_RESTART, RESTART)
}

impl Charm for RollingRestart {
    fn register(on: &mut Observers<Self>) {
        RollingOps::declare(on);
        on.observe("rolling-restart", Self::on_event);
    }
}

impl RollingRestart {
    /// The charm's one handler: requests on `start`, then the library's handling of every event.
    pub fn on_event(&mut self, ctx: &mut Context<'_>, event: &Event) -> HandlerResult {
        self.hook = event.hook_name();
        if *event == Event::Start {
            self.request_restarts(ctx)?;
        }
        rolling().handle(self, ctx, event)?;
        Ok(())
    }

    fn request_restarts(&mut self, ctx: &mut Context<'_>) -> HandlerResult {
        let wanted = ctx.config()?.int("restarts")?.unwrap_or(1).max(0);
        let requested: i64 = ctx.stored(REQUESTED_KEY)?;
        let lib = rolling();
        for n in requested + 1..=wanted {
            lib.request(ctx, RESTART, json!({ "request": n }), None)?;
            ctx.info(format!("requested restart {n}"));
        }
        ctx.set_stored(REQUESTED_KEY, &requested.max(wanted))?;
        Ok(())
    }

    /// The operation: a start record, `restart-seconds` of restarting, an end record.
    fn restart(&mut self, ctx: &mut Context<'_>, kwargs: &Kwargs) -> CallbackResult {
        let config = ctx.config()?.clone();
        let path = config.string("trace-file")?.unwrap_or_default();
        if path.is_empty() {
            return Err(HandlerError::msg("the trace-file option is not set"));
        }
        let seconds = config.float("restart-seconds")?.unwrap_or(1.0).clamp(0.0, 3600.0);
        let request = kwargs.get("request").cloned().unwrap_or(Value::Null);
        self.record(ctx, &path, "start", &request)?;
        std::thread::sleep(Duration::from_secs_f64(seconds));
        self.record(ctx, &path, "end", &request)?;
        Ok(OperationResult::Release)
    }

    fn record(&self, ctx: &mut Context<'_>, path: &str, event: &str, request: &Value) -> HandlerResult {
        let t = ctx
            .now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let line = json!({
            "unit": ctx.unit().to_string(),
            "event": event,
            "request": request,
            "impl": "rust",
            "hook": self.hook,
            "t": t,
        });
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| HandlerError::msg(format!("cannot open {path}: {e}")))?;
        // One write per line: appends from different units do not interleave.
        file.write_all(format!("{line}\n").as_bytes())
            .map_err(|e| HandlerError::msg(format!("cannot write {path}: {e}")))?;
        Ok(())
    }
}
