//! The framework: named handlers, stored state, deferral, and the hook's one transaction.

use crate::backend::{Backend, BackendError};
use crate::context::Context;
use crate::event::{DispatchError, Event, JujuVersion};
use crate::metadata::{LazyMetadata, MetadataSource};
use crate::names::UnitName;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// What a handler returns when it fails: any error. The hook then exits non-zero, Juju retries
/// it, and nothing the hook wrote to relation data or stored state is committed.
pub struct HandlerError(Box<dyn std::error::Error + Send + Sync + 'static>);

impl HandlerError {
    /// An error from a message.
    pub fn msg(message: impl fmt::Display) -> Self {
        Self(message.to_string().into())
    }

    /// The underlying error.
    pub fn into_inner(self) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self.0
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for HandlerError {
    fn from(e: E) -> Self {
        Self(Box::new(e))
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

/// A handler's result.
pub type HandlerResult = Result<(), HandlerError>;

/// A handler: a function of the charm, the hook's context and the event.
pub type Handler<C> = fn(&mut C, &mut Context<'_>, &Event) -> HandlerResult;

/// A charm: a type, built afresh for every hook, that names its handlers.
///
/// ```
/// use charm::{Charm, Context, Event, HandlerResult, Observers, Status};
///
/// #[derive(Default)]
/// struct Hello;
///
/// impl Charm for Hello {
///     fn register(on: &mut Observers<Self>) {
///         on.observe("hello", Self::on_event);
///     }
/// }
///
/// impl Hello {
///     fn on_event(&mut self, ctx: &mut Context<'_>, event: &Event) -> HandlerResult {
///         if let Event::Start = event {
///             ctx.set_status(Status::active("hello"))?;
///         }
///         Ok(())
///     }
/// }
/// ```
pub trait Charm: Sized {
    /// Where stored state and deferred events live under Juju; see [`StateStore`].
    const STATE_STORE: StateStore = StateStore::CharmDir;

    /// Names the handlers that see each event, in order, and the custom events the charm (or its
    /// libraries) dispatches to itself.
    fn register(on: &mut Observers<Self>);
}

/// Where a charm keeps its stored state under Juju.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateStore {
    /// A file in the charm directory ([`crate::STATE_FILE`]), replaced atomically, mode 0600:
    /// fast, but lost with the machine.
    CharmDir,
    /// Juju's controller storage (`state-get` / `state-set`, under the key
    /// [`CONTROLLER_STATE_KEY`]): survives the machine, at most 64 KiB, one more tool call per
    /// hook that changes it.
    Controller,
}

/// The key under which [`StateStore::Controller`] keeps the document.
pub const CONTROLLER_STATE_KEY: &str = "ensemble";

/// The handlers of a charm, in the order they see each event.
pub struct Observers<C> {
    handlers: Vec<(&'static str, Handler<C>)>,
    custom: Vec<&'static str>,
}

impl<C> Observers<C> {
    /// Adds a handler. Its name identifies it in deferred events, so keep it stable across
    /// charm revisions.
    pub fn observe(&mut self, name: &'static str, handler: Handler<C>) -> &mut Self {
        self.handlers.push((name, handler));
        self
    }

    /// Declares a custom event (`hooks/<name>`) that the charm or a library dispatches to itself.
    pub fn custom_event(&mut self, name: &'static str) -> &mut Self {
        if !self.custom.contains(&name) {
            self.custom.push(name);
        }
        self
    }

    /// The declared custom events.
    pub fn custom_events(&self) -> &[&'static str] {
        &self.custom
    }
}

impl<C: Charm> Observers<C> {
    /// The observers a charm registers.
    pub fn of() -> Self {
        let mut o = Self {
            handlers: Vec::new(),
            custom: Vec::new(),
        };
        C::register(&mut o);
        o
    }
}

/// A hook that failed: nothing of it is committed, and the process exits non-zero.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// The environment does not describe a hook this charm runs.
    #[error(transparent)]
    Dispatch(#[from] DispatchError),
    /// The charm's metadata could not be read.
    #[error(transparent)]
    Metadata(#[from] crate::metadata::MetadataError),
    /// A handler failed.
    #[error("handler {observer:?} failed on {event}: {message}")]
    Handler {
        /// The handler's name.
        observer: String,
        /// The event's hook name.
        event: String,
        /// The error.
        message: String,
    },
    /// The stored state could not be loaded or saved.
    #[error("stored state: {0}")]
    Storage(String),
    /// The backend failed outside a handler.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Who runs this hook and with which metadata.
#[derive(Clone, Copy)]
pub struct HookSetup<'a> {
    /// This unit.
    pub unit: &'a UnitName,
    /// The charm's metadata.
    pub meta: &'a dyn MetadataSource,
    /// The Juju version.
    pub juju_version: JujuVersion,
}

/// What a successful hook did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HookReport {
    /// How many handler calls ran (deferred ones included).
    pub handler_calls: usize,
    /// How many deferred events remain queued.
    pub deferred: usize,
}

/// A deferred event and the handler it is for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    /// The handler's name.
    pub observer: String,
    /// The event.
    pub event: Event,
}

/// The document the framework keeps between hooks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredDocument {
    /// Format version.
    #[serde(default)]
    pub version: u32,
    /// Stored values by key.
    #[serde(default)]
    pub values: BTreeMap<String, serde_json::Value>,
    /// Deferred events, oldest first.
    #[serde(default)]
    pub deferred: Vec<Notice>,
}

impl StoredDocument {
    /// Parses the document; a malformed one is an error (never silently dropped).
    pub fn parse(text: &str) -> Result<Self, HookError> {
        serde_json::from_str(text).map_err(|e| {
            HookError::Storage(format!(
                "the stored state document is corrupt ({e}); it was left as it is"
            ))
        })
    }

    /// Serializes the document.
    pub fn render(&self) -> String {
        // A document of maps, strings and JSON values always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Runs one hook: re-emits deferred events, emits `event` to every handler, then commits the
/// stored state if every handler succeeded.
pub fn run_hook<C: Charm>(
    charm: &mut C,
    backend: &mut dyn Backend,
    setup: HookSetup<'_>,
    event: &Event,
) -> Result<HookReport, HookError> {
    let observers = Observers::<C>::of();
    if let Event::Custom { name } = event {
        if !observers.custom.contains(&name.as_str()) {
            return Err(DispatchError::UnknownHook(name.clone()).into());
        }
    }
    let loaded = backend.load_stored_state()?;
    let mut doc = match &loaded {
        Some(text) => StoredDocument::parse(text)?,
        None => StoredDocument::default(),
    };
    let find = |name: &str| {
        observers
            .handlers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, h)| *h)
    };

    let mut ctx = Context::new(backend, setup.meta, setup.unit.clone(), setup.juju_version, event);
    ctx.stored = std::mem::take(&mut doc.values);
    let mut report = HookReport::default();
    let mut queue_changed = false;
    let mut kept = Vec::new();

    let call = |ctx: &mut Context<'_>,
                charm: &mut C,
                name: &str,
                h: Handler<C>,
                ev: &Event|
     -> Result<bool, HookError> {
        ctx.defer_requested = false;
        h(charm, ctx, ev).map_err(|e| HookError::Handler {
            observer: name.to_owned(),
            event: ev.hook_name(),
            message: e.to_string(),
        })?;
        Ok(std::mem::take(&mut ctx.defer_requested))
    };

    for notice in std::mem::take(&mut doc.deferred) {
        let Some(h) = find(&notice.observer) else {
            ctx.warn(format!(
                "dropping a deferred {} for handler {:?}, which this charm no longer has",
                notice.event.hook_name(),
                notice.observer
            ));
            queue_changed = true;
            continue;
        };
        report.handler_calls += 1;
        if call(&mut ctx, charm, &notice.observer, h, &notice.event)? {
            kept.push(notice);
        } else {
            queue_changed = true;
        }
    }
    for (name, h) in &observers.handlers {
        let duplicate = kept
            .iter()
            .any(|n: &Notice| n.observer == *name && n.event == *event);
        if duplicate {
            continue;
        }
        report.handler_calls += 1;
        if call(&mut ctx, charm, name, *h, event)? {
            kept.push(Notice {
                observer: (*name).to_owned(),
                event: event.clone(),
            });
            queue_changed = true;
        }
    }
    let dirty = ctx.stored_dirty;
    doc.values = std::mem::take(&mut ctx.stored);
    doc.deferred = kept;
    doc.version = 1;
    report.deferred = doc.deferred.len();
    drop(ctx);
    if dirty || queue_changed {
        backend.save_stored_state(&doc.render())?;
    }
    Ok(report)
}

/// Runs the charm under Juju: reads the environment and metadata, runs the hook through the
/// real hook tools, and returns the process exit code (non-zero when the hook failed, so that
/// Juju retries it).
///
/// ```no_run
/// # use charm::{Charm, Observers};
/// # #[derive(Default)] struct MyCharm;
/// # impl Charm for MyCharm { fn register(_: &mut Observers<Self>) {} }
/// fn main() -> std::process::ExitCode {
///     charm::main(MyCharm::default)
/// }
/// ```
pub fn main<C: Charm>(make: impl FnOnce() -> C) -> std::process::ExitCode {
    let cpu_at_start = cpu_time::ProcessTime::try_now().ok();
    init_tracing();
    match main_inner(make, cpu_at_start) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hook failed: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn main_inner<C: Charm>(
    make: impl FnOnce() -> C,
    cpu_at_start: Option<cpu_time::ProcessTime>,
) -> Result<(), HookError> {
    let env = crate::event::JujuEnv::from_process()?;
    let mut backend = crate::hook_tools::HookTools::from_env(&env);
    if C::STATE_STORE == StateStore::Controller {
        backend = backend.with_storage(crate::hook_tools::StoredStateLocation::Controller(
            CONTROLLER_STATE_KEY.to_owned(),
        ));
    }
    let result = (|| {
        let meta = LazyMetadata::new(&env.charm_dir);
        let observers = Observers::<C>::of();
        let event = match Event::from_env(&env, observers.custom_events()) {
            Err(DispatchError::UnknownHook(name)) => {
                ignore_unknown_hook(&mut backend, &name);
                return Ok(());
            }
            other => other?,
        };
        let unit = env.unit_name()?;
        let mut charm = make();
        let setup = HookSetup {
            unit,
            meta: &meta,
            juju_version: env.juju_version,
        };
        run_hook(&mut charm, &mut backend, setup, &event).map(|_| ())
    })();
    if let Err(e) = &result {
        let _ = backend.juju_log(crate::model::LogLevel::Error, &format!("hook failed: {e}"));
    }
    if let Some(path) = std::env::var_os(HOOK_STATS_ENV) {
        write_hook_stats(
            Path::new(&path),
            &env,
            cpu_at_start,
            backend.tool_calls(),
            result.is_ok(),
        );
    }
    result
}

/// A hook this charm has no event for (a hook a newer Juju added, a custom event the charm did
/// not declare) is not an error: as ops does, the framework says so at debug level and the hook
/// succeeds, so that the unit does not go into error for a hook nobody observes.
pub fn ignore_unknown_hook(backend: &mut dyn Backend, hook: &str) {
    let shown: String = hook.chars().take(128).collect();
    let message = format!("no event for hook {shown:?}: nothing observes it, ignored");
    tracing::debug!("{message}");
    let _ = backend.juju_log(crate::model::LogLevel::Debug, &message);
}

/// When this variable names a file, every hook appends one JSON line to it: the dispatch path,
/// the CPU time the charm process used from the start of `main` to the end of the hook
/// (`cpu_main_ns`) and in all (`cpu_total_ns`, which adds the kernel's exec and the dynamic
/// loader), hook-tool processes excluded, the number of hook-tool calls, and whether the hook
/// succeeded. Benchmarks and the simulator's process driver read it; unset, it costs nothing.
pub const HOOK_STATS_ENV: &str = "ENSEMBLE_HOOK_STATS";

fn write_hook_stats(
    path: &Path,
    env: &crate::event::JujuEnv,
    cpu_at_start: Option<cpu_time::ProcessTime>,
    tool_calls: usize,
    ok: bool,
) {
    use std::io::Write;
    let total = cpu_time::ProcessTime::try_now().ok();
    let ns = |d: std::time::Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    let cpu_total_ns = total.map(|t| ns(t.as_duration()));
    let cpu_main_ns = total
        .zip(cpu_at_start)
        .map(|(t, s)| ns(t.as_duration().saturating_sub(s.as_duration())));
    let line = serde_json::json!({
        "dispatch": env.dispatch_path,
        "cpu_main_ns": cpu_main_ns,
        "cpu_total_ns": cpu_total_ns,
        "tool_calls": tool_calls,
        "ok": ok,
    });
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| writeln!(f, "{line}"));
    if let Err(e) = written {
        eprintln!("cannot write hook stats to {}: {e}", path.display());
    }
}

/// With `ENSEMBLE_LOG` set (`debug`, `charm=trace`, ...), `tracing` events of the charm and its
/// libraries go to standard error, which Juju keeps in the unit's log. Unset, no subscriber is
/// installed, to keep hooks cheap; what a charm must tell the operator goes to `juju-log`.
fn init_tracing() {
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_env("ENSEMBLE_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .without_time()
            .with_env_filter(filter)
            .try_init();
    }
}
