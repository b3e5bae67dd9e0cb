//! A rolling-restart charm on [`RollingOps`]: the example that `ensemble demo`, the simulator's
//! `rollingops` scenario, its tests and its benchmark run.
//!
//! The operation restarts the workload with one command, `demo-service restart <id>`
//! ([`SERVICE`]), which returns when the restart is over. Its answer is the callback's result:
//! exit 0 printing nothing (or `release`) releases the lock; printing `retry-release` or
//! `retry-hold` asks for another run; a non-zero exit or a timeout is a failed callback, which
//! counts as `retry-release`, as in charmlibs.
//!
//! What the callback relies on, as any rolling-ops callback must: running it again is safe,
//! and when it returns, no restart it started is still running. A hook can be cut short (the
//! agent dies) while its restart goes on; Juju runs the hook again and the callback runs
//! again, so the service must not start a second restart beside the first: like a systemd
//! unit, `demo-service` runs one restart job at a time and the command waits for both.
//!
//! Operations are requested two ways:
//! - the `restart` action, on one unit: `juju run app/3 restart id=r17 max-retry=2`
//!   (`id` names the request in the workload's command; `max-retry` is charmlibs' `max_retry`,
//!   absent for retrying until the callback releases);
//! - the config option `restart-generation`, on every unit: raising it queues one restart per
//!   unit (id `generation-<n>`), the rolling restart of a whole application.
//!
//! The operator's `force-release` and `drop-parked` actions are the library's
//! ([`crate::FORCE_RELEASE_ACTION`], [`crate::DROP_PARKED_ACTION`]).

use crate::{Kwargs, OperationResult, RequestError, RollingOps, LOCK_GRANTED_EVENT};
use charm::{Charm, Context, Event, HandlerError, HandlerResult, Observers, WorkloadCommand};
use serde_json::{json, Value};

/// The workload command that restarts the service: `demo-service restart <id>`.
pub const SERVICE: &str = "demo-service";
/// The peer endpoint the lock goes around on.
pub const PEER_ENDPOINT: &str = "restart";
/// The callback id of the restart.
pub const RESTART: &str = "restart";
/// The longest the restart command may take before the callback counts as failed: long
/// enough for the service to finish a restart left running by an interrupted hook and then its
/// own (the callback must not give up, and release the lock, while a restart still runs).
pub const RESTART_TIMEOUT_SECS: u64 = 1800;
/// The stored-state key of the last `restart-generation` this unit requested.
const GENERATION_KEY: &str = "rolling-demo.generation";

/// The charm's metadata.
pub const CHARMCRAFT_YAML: &str = r#"
name: rolling-demo
summary: Restarts its workload one unit at a time (ensemble rollingops example)
peers:
  restart:
    interface: rolling_op
config:
  options:
    restart-generation:
      type: int
      default: 0
      description: Raise it to restart every unit once, one unit at a time.
    max-retry:
      type: int
      default: -1
      description: Retries of a failed restart requested through restart-generation (-1 retries until it succeeds).
actions:
  restart:
    description: Queue a restart of this unit's workload; it runs when this unit gets the lock.
    params:
      id:
        type: string
        description: A name for the request, passed to the workload's restart command.
      max-retry:
        type: integer
        description: How many times a failed restart is tried again (absent, retry until it succeeds).
  force-release:
    description: Release the rolling-ops lock held by a unit that cannot release it.
    params:
      unit:
        type: string
        description: The unit holding the lock (a guard against releasing another grant).
    required: [unit]
  drop-parked:
    description: Drop this unit's parked operations (queued with a callback id this charm does not know).
"#;

/// The rolling-restart example charm.
#[derive(Debug, Default)]
pub struct RollingDemo;

/// The request id an operation's kwargs name: `id`, or `generation-<n>`.
pub fn request_id(kwargs: &Kwargs) -> String {
    match (kwargs.get("id"), kwargs.get("generation")) {
        (Some(Value::String(id)), _) => id.clone(),
        (_, Some(g)) => format!("generation-{g}"),
        _ => "unnamed".into(),
    }
}

/// The library, with the restart as its only target.
pub fn rolling() -> RollingOps<RollingDemo> {
    RollingOps::new(PEER_ENDPOINT).target(RESTART, |_, ctx, kwargs| restart(ctx, kwargs))
}

/// The operation: runs `demo-service restart <id>` and maps its answer to a result.
fn restart(ctx: &mut Context<'_>, kwargs: &Kwargs) -> Result<OperationResult, HandlerError> {
    let id = request_id(kwargs);
    let command = WorkloadCommand::new(SERVICE, ["restart", id.as_str()]).timeout_secs(RESTART_TIMEOUT_SECS);
    let out = ctx.run(&command)?;
    if !out.success() {
        return Err(HandlerError::msg(format!(
            "{command} exited {:?}: {}",
            out.code,
            out.stderr.trim()
        )));
    }
    Ok(match out.stdout.trim() {
        "retry-release" => OperationResult::RetryRelease,
        "retry-hold" => OperationResult::RetryHold,
        _ => OperationResult::Release,
    })
}

fn max_retry(v: Option<&Value>) -> Option<u32> {
    v.and_then(Value::as_i64).and_then(|n| u32::try_from(n).ok())
}

impl Charm for RollingDemo {
    fn register(on: &mut Observers<Self>) {
        on.custom_event(LOCK_GRANTED_EVENT);
        on.observe("rolling-demo", Self::on_event);
    }
}

impl RollingDemo {
    /// The charm's one handler: requests on the `restart` action and on a raised
    /// `restart-generation`, then the library's handling of every event.
    pub fn on_event(&mut self, ctx: &mut Context<'_>, event: &Event) -> HandlerResult {
        match event {
            Event::Action(a) if a.name == "restart" => return self.on_restart_action(ctx),
            Event::ConfigChanged => self.on_config(ctx)?,
            _ => {}
        }
        rolling().handle(self, ctx, event)?;
        Ok(())
    }

    fn on_restart_action(&mut self, ctx: &mut Context<'_>) -> HandlerResult {
        let params = ctx.action_params()?;
        let mut kwargs = serde_json::Map::new();
        if let Some(id) = params.get("id").and_then(Value::as_str) {
            kwargs.insert("id".into(), Value::String(id.to_owned()));
        }
        let retries = max_retry(params.get("max-retry"));
        match rolling().request(ctx, RESTART, Value::Object(kwargs), retries) {
            Ok(what) => {
                let mut results = serde_json::Map::new();
                let word = match what {
                    crate::Enqueued::Added => "queued",
                    crate::Enqueued::Deduplicated => "already-queued",
                };
                results.insert("request".into(), Value::String(word.into()));
                ctx.action_set(&results)?;
                Ok(())
            }
            Err(e @ RequestError::Model(_)) => Err(e.into()),
            Err(e) => {
                ctx.action_fail(&format!("cannot queue the restart: {e}"))?;
                Ok(())
            }
        }
    }

    fn on_config(&mut self, ctx: &mut Context<'_>) -> HandlerResult {
        let config = ctx.config()?.clone();
        let generation = config.int("restart-generation")?.unwrap_or(0);
        let done: i64 = ctx.stored(GENERATION_KEY)?;
        if generation <= done {
            return Ok(());
        }
        let retries = max_retry(config.int("max-retry")?.map(Value::from).as_ref());
        rolling().request(ctx, RESTART, json!({ "generation": generation }), retries)?;
        ctx.set_stored(GENERATION_KEY, &generation)?;
        Ok(())
    }
}
