//! [`RollingOps`]: the charm-facing manager, a thin adapter from `charm::Context` to the
//! protocol's [`engine`](crate::engine).

use crate::core::{
    self as protocol, AckReason, Changes, Decision, Enqueued, LeaderBook, OperationResult, Outcome, UnitBag,
};
use crate::engine::{self, Begin, PeerIo, Refresh, Report};
use crate::wire::{limits, redact, GrantId, Operation, ProcessingBackend, Timestamp, WireError};
use charm::{
    BagOwner, Context, Databag, Event, HandlerError, ModelError, Observers, RelationId, Status,
    StoredDocument, UnitName,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// The custom event the library dispatches to its own unit when that unit was granted the
/// lock by itself, as leader (charmlibs' name, without its 10 s delay).
pub const LOCK_GRANTED_EVENT: &str = "rollingops_lock_granted";
/// The action an operator runs on the leader to release a grant whose holder cannot answer.
pub const FORCE_RELEASE_ACTION: &str = "force-release";
/// The action an operator runs on a unit to drop its parked operations (queued operations whose
/// callback id this charm does not know).
pub const DROP_PARKED_ACTION: &str = "drop-parked";
/// How long a holder may keep the lock before the application status tells the operator about
/// the `force-release` action, in seconds.
pub const STUCK_HINT_SECS: u64 = 600;

/// The keyword arguments of an operation.
pub type Kwargs = Map<String, Value>;

/// What a callback returns; an error counts as [`OperationResult::RetryRelease`].
pub type CallbackResult = Result<OperationResult, HandlerError>;

type Callback<C> = Box<dyn Fn(&mut C, &mut Context<'_>, &Kwargs) -> CallbackResult>;

/// Why a request was refused.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The callback id is empty.
    #[error("the callback id is empty")]
    EmptyCallbackId,
    /// No callback target has this id (the id redacted).
    #[error("unknown callback id {0:?}")]
    UnknownCallback(String),
    /// The callback id or the kwargs are larger than the trust rules allow
    /// ([`limits::MAX_CALLBACK_ID_LEN`], [`limits::MAX_KWARGS_LEN`]).
    #[error("the {0} is too large")]
    TooLarge(&'static str),
    /// This unit's queue is full ([`limits::MAX_QUEUE_LEN`], [`limits::MAX_OPERATIONS_LEN`]).
    #[error("this unit's operations queue is full")]
    QueueFull,
    /// The kwargs are not a JSON object.
    #[error("kwargs must be a JSON object, not {0}")]
    KwargsNotObject(&'static str),
    /// The peer relation does not exist (yet).
    #[error("the peer relation {0:?} does not exist")]
    NoPeerRelation(String),
    /// This unit's own queue is malformed: nothing is added, so nothing is lost.
    #[error("this unit's operations queue is malformed, so no request can be added: {0}")]
    CorruptQueue(WireError),
    /// The model refused.
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// A failure of the manager outside a request.
#[derive(Debug, thiserror::Error)]
pub enum RollingOpsError {
    /// The named unit is not in the peer relation.
    #[error("unit {0} is not in the peer relation")]
    UnitNotInRelation(String),
    /// The peer relation does not exist (yet).
    #[error("the peer relation {0:?} does not exist")]
    NoPeerRelation(String),
    /// A unit's bag is malformed.
    #[error("unit {unit}: {error}")]
    Wire {
        /// The unit.
        unit: String,
        /// What is wrong.
        error: WireError,
    },
    /// The model refused.
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// Where this unit stands ([`RollingOps::state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockStatus {
    /// The peer relation does not exist yet.
    NotReady,
    /// Operations are queued and the lock is not this unit's.
    Waiting,
    /// This unit holds the lock and has not finished its turn.
    Granted,
    /// Nothing queued.
    Idle,
}

/// This unit's rolling-ops state, as charmlibs' `RollingOpsState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollingOpsState {
    /// Where the unit stands.
    pub status: LockStatus,
    /// The backend processing its queue (always [`ProcessingBackend::Peer`] for ensemble).
    pub processing_backend: ProcessingBackend,
}

/// The prefix of the files in which the library keeps what must outlive a hook outside Juju's
/// transaction, in the charm directory (the hook's working directory, one per unit):
/// `.rollingops-<endpoint>.status`, the statuses it set (a status applies at once, even if the
/// hook then fails, so its memo must too), and `.rollingops-<endpoint>.run`, the run mark (see
/// [`engine::PeerIo::run_mark`]).
const FILE_PREFIX: &str = ".rollingops-";

/// What this unit remembers between hooks (stored state, committed with the hook).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Memo {
    #[serde(default)]
    leaving: bool,
}

/// The statuses this library set last (a machine file, written at once like the statuses).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct StatusMemo {
    /// The unit status message this library set last, if it set one.
    #[serde(default)]
    unit: Option<String>,
    /// The application status message this library set last, if it set one.
    #[serde(default)]
    app: Option<String>,
    /// Whether `app` is known for this term of leadership: a new leader reads the application
    /// status once, and takes it over if a leader before it set it.
    #[serde(default)]
    app_known: bool,
}

/// Rolling operations over a peer relation: at most one unit of the application runs an
/// operation at a time.
///
/// Build it with the peer endpoint and the callback targets, call [`RollingOps::handle`] for
/// every event (once per hook), and [`RollingOps::request`] to queue an operation. Declare the
/// custom event with [`RollingOps::declare`] and, for operators, the `force-release` action.
///
/// ```
/// use charm::{Charm, Context, Event, HandlerResult, Observers};
/// use rollingops::{OperationResult, RollingOps};
///
/// #[derive(Default)]
/// struct Db;
///
/// fn rolling() -> RollingOps<Db> {
///     RollingOps::new("restart").target("restart", |_db, ctx, kwargs| {
///         ctx.info(format!("restarting with {kwargs:?}"));
///         Ok(OperationResult::Release)
///     })
/// }
///
/// impl Charm for Db {
///     fn register(on: &mut Observers<Self>) {
///         RollingOps::declare(on);
///         on.observe("rolling-ops", |db, ctx, event| Ok(rolling().handle(db, ctx, event)?));
///         on.observe("config", Db::on_config);
///     }
/// }
///
/// impl Db {
///     fn on_config(&mut self, ctx: &mut Context<'_>, event: &Event) -> HandlerResult {
///         if *event == Event::ConfigChanged {
///             rolling().request(ctx, "restart", serde_json::json!({"reason": "config"}), Some(2))?;
///         }
///         Ok(())
///     }
/// }
/// ```
pub struct RollingOps<C> {
    endpoint: String,
    targets: BTreeMap<String, Callback<C>>,
    aliases: BTreeMap<String, String>,
    statuses: bool,
}

impl<C> RollingOps<C> {
    /// A manager on the peer relation `peer_endpoint`, with no callback targets yet.
    pub fn new(peer_endpoint: &str) -> Self {
        Self {
            endpoint: peer_endpoint.to_owned(),
            targets: BTreeMap::new(),
            aliases: BTreeMap::new(),
            statuses: true,
        }
    }

    /// Adds a callback target: the function that runs operation `id` with its kwargs.
    pub fn target(
        mut self,
        id: &str,
        callback: impl Fn(&mut C, &mut Context<'_>, &Kwargs) -> CallbackResult + 'static,
    ) -> Self {
        self.targets.insert(id.to_owned(), Box::new(callback));
        self
    }

    /// Maps the callback id `id` to the target `target`: queued operations named `id` (by an
    /// earlier revision of the charm, or by charmlibs-rollingops before a refresh) run
    /// `target`'s callback. Without a mapping, such operations are parked: kept in the queue,
    /// never run, never dropped (see `docs/protocols/rollingops.md`, "Refresh"). An alias to a
    /// target that does not exist maps nothing.
    ///
    /// ```
    /// use rollingops::{OperationResult, RollingOps};
    /// struct App;
    /// // charmlibs' test charm queued `_restart`; this charm calls it `restart`.
    /// let rolling: RollingOps<App> = RollingOps::new("restart")
    ///     .target("restart", |_, _, _| Ok(OperationResult::Release))
    ///     .alias("_restart", "restart");
    /// assert!(rolling.knows("_restart"));
    /// assert!(!rolling.knows("_failed_restart"));
    /// ```
    pub fn alias(mut self, id: &str, target: &str) -> Self {
        self.aliases.insert(id.to_owned(), target.to_owned());
        self
    }

    /// Whether this manager runs operations named `callback_id` (a target, or an alias of one).
    pub fn knows(&self, callback_id: &str) -> bool {
        self.resolve(callback_id).is_some()
    }

    fn resolve(&self, callback_id: &str) -> Option<&Callback<C>> {
        self.targets
            .get(callback_id)
            .or_else(|| self.aliases.get(callback_id).and_then(|t| self.targets.get(t)))
    }

    fn known_ids(&self) -> std::collections::BTreeSet<String> {
        self.targets
            .keys()
            .chain(self.aliases.keys().filter(|a| self.knows(a)))
            .cloned()
            .collect()
    }

    /// Leaves unit and application statuses to the charm.
    pub fn without_status(mut self) -> Self {
        self.statuses = false;
        self
    }

    /// Declares the library's custom event ([`LOCK_GRANTED_EVENT`]) in the charm's observers.
    pub fn declare(on: &mut Observers<C>) {
        on.custom_event(LOCK_GRANTED_EVENT);
    }

    fn book_key(&self) -> String {
        format!("rollingops.{}.leader", self.endpoint)
    }

    fn memo_key(&self) -> String {
        format!("rollingops.{}.unit", self.endpoint)
    }

    fn cache_key(&self) -> String {
        format!("rollingops.{}.peers", self.endpoint)
    }

    /// The peer relation's id: one `relation-ids` call (no `relation-list`: only the leader
    /// needs the members).
    fn relation(&self, ctx: &mut Context<'_>) -> Result<Option<RelationId>, ModelError> {
        Ok(ctx.relation_ids(&self.endpoint)?.into_iter().min())
    }

    fn io<'c, 'a>(&self, ctx: &'c mut Context<'a>, rel: RelationId) -> CtxIo<'c, 'a> {
        CtxIo {
            ctx,
            rel,
            book_key: self.book_key(),
            memo_key: self.memo_key(),
            cache_key: self.cache_key(),
            endpoint: self.endpoint.clone(),
            woken: false,
            known: self.known_ids(),
        }
    }

    /// Queues operation `callback_id` with `kwargs` (a JSON object, or null for none) on this
    /// unit. `max_retry`: `None` retries forever, `Some(0)` never, `Some(n)` allows n retries
    /// (n + 1 runs). A request equal to the tail of the queue (same callback and kwargs) is
    /// ignored. The operation never runs in the hook that requested it.
    pub fn request(
        &self,
        ctx: &mut Context<'_>,
        callback_id: &str,
        kwargs: Value,
        max_retry: Option<u32>,
    ) -> Result<Enqueued, RequestError> {
        if callback_id.is_empty() {
            return Err(RequestError::EmptyCallbackId);
        }
        if callback_id.len() > limits::MAX_CALLBACK_ID_LEN {
            return Err(RequestError::TooLarge("callback id"));
        }
        if !self.knows(callback_id) {
            return Err(RequestError::UnknownCallback(redact(callback_id)));
        }
        let kwargs = match kwargs {
            Value::Null => Map::new(),
            Value::Object(m) => m,
            Value::Bool(_) => return Err(RequestError::KwargsNotObject("a boolean")),
            Value::Number(_) => return Err(RequestError::KwargsNotObject("a number")),
            Value::String(_) => return Err(RequestError::KwargsNotObject("a string")),
            Value::Array(_) => return Err(RequestError::KwargsNotObject("an array")),
        };
        if serde_json::to_string(&kwargs).map_or(true, |k| k.len() > limits::MAX_KWARGS_LEN) {
            return Err(RequestError::TooLarge("kwargs"));
        }
        let rel = self
            .relation(ctx)?
            .ok_or_else(|| RequestError::NoPeerRelation(self.endpoint.clone()))?;
        let now = Timestamp::from_system_time(ctx.now());
        let op = Operation::new(callback_id, kwargs, max_retry, now);
        let mut io = self.io(ctx, rel);
        let what = engine::request(&mut io, op)?.map_err(|e| match e {
            WireError::QueueFull => RequestError::QueueFull,
            e => RequestError::CorruptQueue(e),
        })?;
        if what == Enqueued::Added && self.statuses {
            let own = UnitBag::parse(&io.own_bag()?);
            let report = Report {
                own: Some(own),
                app: crate::core::AppView::parse(&io.app_bag()?),
                decision: None,
                turn: None,
            };
            self.set_unit_status(&mut io, &report)?;
        }
        Ok(what)
    }

    /// This unit's state.
    pub fn state(&self, ctx: &mut Context<'_>) -> Result<RollingOpsState, RollingOpsError> {
        let processing_backend = ProcessingBackend::Peer;
        let Some(rel) = self.relation(ctx)? else {
            return Ok(RollingOpsState {
                status: LockStatus::NotReady,
                processing_backend,
            });
        };
        let mut io = self.io(ctx, rel);
        let me = io.me();
        let bag = UnitBag::parse(&io.own_bag()?);
        let app = crate::core::AppView::parse(&io.app_bag()?);
        let granted = app
            .grant
            .as_ref()
            .is_some_and(|g| g.is_for(&me) && bag.ack.as_ref() != Some(&g.id()));
        let status = if granted {
            LockStatus::Granted
        } else if bag.is_waiting() {
            LockStatus::Waiting
        } else {
            LockStatus::Idle
        };
        Ok(RollingOpsState {
            status,
            processing_backend,
        })
    }

    fn queue_of(
        &self,
        ctx: &mut Context<'_>,
        unit: Option<&UnitName>,
    ) -> Result<Vec<Operation>, RollingOpsError> {
        let rel = self
            .relation(ctx)?
            .ok_or_else(|| RollingOpsError::NoPeerRelation(self.endpoint.clone()))?;
        let me = ctx.unit().clone();
        let unit = unit.cloned().unwrap_or(me.clone());
        if unit != me && !ctx.relation(rel)?.units.contains(&unit) {
            return Err(RollingOpsError::UnitNotInRelation(unit.to_string()));
        }
        let bag = UnitBag::parse(ctx.data(rel, &BagOwner::Unit(unit.clone()))?);
        bag.operations.map_err(|error| RollingOpsError::Wire {
            unit: unit.to_string(),
            error,
        })
    }

    /// Whether `unit` (this unit if `None`) has operations queued.
    pub fn is_waiting(
        &self,
        ctx: &mut Context<'_>,
        unit: Option<&UnitName>,
    ) -> Result<bool, RollingOpsError> {
        Ok(!self.queue_of(ctx, unit)?.is_empty())
    }

    /// Whether `unit` (this unit if `None`) has an operation `callback_id` queued.
    pub fn is_waiting_callback(
        &self,
        ctx: &mut Context<'_>,
        callback_id: &str,
        unit: Option<&UnitName>,
    ) -> Result<bool, RollingOpsError> {
        Ok(self
            .queue_of(ctx, unit)?
            .iter()
            .any(|o| o.callback_id == callback_id))
    }

    /// Handles one event: runs this unit's operation if it holds the lock, and on the leader
    /// releases and grants the lock. Call it once per hook, for every event (it ignores those
    /// it has no use for), and the `force-release` action.
    pub fn handle(&self, charm: &mut C, ctx: &mut Context<'_>, event: &Event) -> Result<(), RollingOpsError> {
        let mine = |r: &charm::RelationEvent| r.endpoint == self.endpoint;
        let relevant = match event {
            Event::Action(a) if a.name == FORCE_RELEASE_ACTION => return self.force_release_action(ctx),
            Event::Action(a) if a.name == DROP_PARKED_ACTION => return self.drop_parked_action(ctx),
            Event::RelationChanged(r) | Event::RelationJoined(r) | Event::RelationDeparted(r) => mine(r),
            Event::Custom { name } => name == LOCK_GRANTED_EVENT,
            Event::LeaderElected | Event::UpdateStatus | Event::Stop | Event::UpgradeCharm | Event::Start => {
                true
            }
            _ => false,
        };
        if !relevant {
            return Ok(());
        }
        let Some(rel) = self.relation(ctx)? else {
            return Ok(());
        };
        let me = ctx.unit().clone();
        let (leaving_now, departing) = match event {
            Event::Stop => (true, None),
            Event::RelationDeparted(r) if mine(r) => match &r.departing_unit {
                Some(d) if *d == me => (true, None),
                d => (false, d.clone().or_else(|| r.remote_unit.clone())),
            },
            _ => (false, None),
        };
        // The leader reads afresh the bag whose change the hook reports (and its own, the
        // holder's, the next holder's); every bag on its other hooks, and when it is leaving
        // (it hands the lock over one last time).
        let refresh = match event {
            _ if leaving_now => Refresh::All,
            Event::RelationChanged(r) | Event::RelationJoined(r) => Refresh::Changed(r.remote_unit.as_ref()),
            Event::RelationDeparted(_) | Event::Custom { .. } => Refresh::Changed(None),
            _ => Refresh::All,
        };
        let mut io = self.io(ctx, rel);
        let turn = match engine::begin(&mut io, leaving_now)? {
            Begin::Run { op, grant } => {
                if self.statuses {
                    let msg = format!("running {} (rolling ops)", op.callback_id);
                    io.ctx.set_status(Status::maintenance(msg.clone()))?;
                    let mut memo = io.status_memo();
                    memo.unit = Some(msg);
                    io.set_status_memo(&memo)?;
                }
                let outcome = self.run(charm, io.ctx, &op);
                Some((grant, outcome))
            }
            Begin::Done(t) => t,
        };
        let report = engine::end_with(&mut io, turn, departing.as_ref(), refresh)?;
        if report.decision.is_none() && io.has_peer_cache() {
            // Not the leader: the cache is stale by the time it leads again.
            io.ctx
                .set_stored(&self.cache_key(), &BTreeMap::<String, Databag>::new())?;
        }
        if self.statuses && !io.leaving()? {
            self.set_unit_status(&mut io, &report)?;
            match &report.decision {
                Some(d) => self.set_app_status(&mut io, d)?,
                None => {
                    // Not the leader: what it knew of the application status is stale by the
                    // time it leads again.
                    let mut memo = io.status_memo();
                    if memo.app_known || memo.app.is_some() {
                        memo.app_known = false;
                        memo.app = None;
                        io.set_status_memo(&memo)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn run(&self, charm: &mut C, ctx: &mut Context<'_>, op: &Operation) -> Outcome {
        let Some(callback) = self.resolve(&op.callback_id) else {
            // The engine runs only operations this manager knows (`PeerIo::knows`).
            return Outcome::Skipped(AckReason::Parked);
        };
        match callback(charm, ctx, &op.kwargs) {
            Ok(r) => Outcome::Ran(r),
            Err(e) => {
                ctx.error(format!(
                    "rolling ops: operation {} failed ({}); it will be retried",
                    redact(&op.callback_id),
                    redact(&e.to_string())
                ));
                Outcome::Ran(OperationResult::RetryRelease)
            }
        }
    }

    /// The operator's `drop-parked` action, on any unit: drops the operations of this unit's
    /// queue whose callback id this charm does not know. Results: `dropped` (how many) and
    /// `callbacks` (their ids, redacted).
    fn drop_parked_action(&self, ctx: &mut Context<'_>) -> Result<(), RollingOpsError> {
        let Some(rel) = self.relation(ctx)? else {
            ctx.action_fail("there is no peer relation, so no queue")?;
            return Ok(());
        };
        let mut io = self.io(ctx, rel);
        let bag = UnitBag::parse(&io.own_bag()?);
        if let Err(e) = &bag.operations {
            io.ctx
                .action_fail(&format!("this unit's queue is malformed: {e}"))?;
            return Ok(());
        }
        let known = |id: &str| io.knows(id);
        let dropped = protocol::drop_parked(&bag, &known);
        let mut results = Map::new();
        match dropped {
            Some((changes, ops)) => {
                io.write_own(&changes)?;
                let ids: Vec<String> = ops.iter().map(|o| redact(&o.callback_id)).collect();
                io.ctx.info(format!(
                    "rolling ops: the operator dropped {} parked operation(s): {}",
                    ops.len(),
                    ids.join(", ")
                ));
                results.insert("dropped".into(), Value::String(ops.len().to_string()));
                results.insert("callbacks".into(), Value::String(ids.join(",")));
            }
            None => {
                results.insert("dropped".into(), Value::String("0".into()));
            }
        }
        io.ctx.action_set(&results)?;
        if self.statuses {
            let report = Report {
                own: Some(UnitBag::parse(&io.own_bag()?)),
                app: crate::core::AppView::parse(&io.app_bag()?),
                decision: None,
                turn: None,
            };
            self.set_unit_status(&mut io, &report)?;
        }
        Ok(())
    }

    fn force_release_action(&self, ctx: &mut Context<'_>) -> Result<(), RollingOpsError> {
        if !ctx.is_leader()? {
            ctx.action_fail("run force-release on the leader unit")?;
            return Ok(());
        }
        let params = ctx.action_params()?;
        let Some(named) = params.get("unit").and_then(Value::as_str).map(str::to_owned) else {
            ctx.action_fail("the unit parameter (the unit holding the lock) is required")?;
            return Ok(());
        };
        let Some(rel) = self.relation(ctx)? else {
            ctx.action_fail("there is no peer relation, so no lock")?;
            return Ok(());
        };
        let mut io = self.io(ctx, rel);
        let (grant, d) = match engine::force_release(&mut io, &named)? {
            Ok(x) => x,
            Err(e) => {
                io.ctx.action_fail(&format!("cannot force-release: {e}"))?;
                return Ok(());
            }
        };
        let mut results = Map::new();
        results.insert("released".into(), Value::String(grant.unit.clone()));
        if let Some((u, seq)) = &d.granted {
            results.insert("granted".into(), Value::String(u.to_string()));
            results.insert("grant-seq".into(), Value::String(seq.to_string()));
        }
        io.ctx.action_set(&results)?;
        if self.statuses {
            self.set_app_status(&mut io, &d)?;
        }
        Ok(())
    }

    fn set_unit_status(&self, io: &mut CtxIo<'_, '_>, report: &Report) -> Result<(), ModelError> {
        let mut memo = io.status_memo();
        let me = io.me();
        let Some(own) = &report.own else { return Ok(()) };
        let queue = own.queue();
        let parked = {
            let known = |id: &str| io.knows(id);
            protocol::parked(queue, &known)
                .iter()
                .map(|o| o.callback_id.clone())
                .collect::<Vec<_>>()
        };
        let runnable: Vec<&Operation> = queue.iter().filter(|o| io.knows(&o.callback_id)).collect();
        let parked_note = match parked.first() {
            None => String::new(),
            Some(first) => format!(
                "{} parked: no callback {:?} in this charm (add an alias, or run the {DROP_PARKED_ACTION} action)",
                parked.len(),
                redact(first)
            ),
        };
        let status = match runnable.first() {
            None if !parked.is_empty() => Some(Status::blocked(format!("rolling ops: {parked_note}"))),
            Some(head) => {
                let held = report
                    .app
                    .grant
                    .as_ref()
                    .is_some_and(|g| g.is_for(&me) && own.ack.as_ref() != Some(&g.id()));
                let mut more = match queue.len() {
                    1 => String::new(),
                    n => format!("; {n} queued"),
                };
                if !parked.is_empty() {
                    more = format!("{more}; {parked_note}");
                }
                Some(if held {
                    Status::maintenance(format!(
                        "rolling-ops lock granted: {} runs next{more}",
                        head.callback_id
                    ))
                } else {
                    Status::waiting(format!(
                        "waiting for the rolling-ops lock to run {}{more}",
                        head.callback_id
                    ))
                })
            }
            None if memo.unit.is_some() => Some(Status::active("")),
            None => None,
        };
        if let Some(s) = status {
            let msg = (!s.message.is_empty()).then(|| s.message.clone());
            if msg != memo.unit || msg.is_none() {
                io.ctx.set_status(s)?;
                memo.unit = msg;
                io.set_status_memo(&memo)?;
            }
        }
        Ok(())
    }

    fn set_app_status(&self, io: &mut CtxIo<'_, '_>, d: &Decision) -> Result<(), ModelError> {
        let mut memo = io.status_memo();
        if !memo.app_known {
            let current = io.ctx.app_status()?;
            memo.app = current
                .message
                .starts_with("rolling ops")
                .then(|| current.message.clone());
            memo.app_known = true;
            io.set_status_memo(&memo)?;
        }
        let queued = match d.queued {
            0 => String::new(),
            1 => "; 1 unit queued".to_owned(),
            n => format!("; {n} units queued"),
        };
        let status = match &d.holder {
            Some(h) if h.present && h.held_secs < STUCK_HINT_SECS => Some(Status::maintenance(format!(
                "rolling ops: {} holds the lock ({}){queued}",
                h.unit,
                duration(h.held_secs)
            ))),
            Some(h) if h.present => Some(Status::maintenance(format!(
                "rolling ops: {} holds the lock ({}){queued}; if it never answers and its \
                 operation is not running, run the {FORCE_RELEASE_ACTION} action with unit={}",
                h.unit,
                duration(h.held_secs),
                h.unit
            ))),
            Some(h) => Some(Status::blocked(format!(
                "rolling ops: {} left holding the lock ({}); if its operation is not running, \
                 run the {FORCE_RELEASE_ACTION} action with unit={}{queued}",
                h.unit,
                duration(h.held_secs),
                h.unit
            ))),
            None if d.exhausted => Some(Status::blocked(format!(
                "rolling ops: no grant sequence number left, the lock cannot be granted{queued}"
            ))),
            None if d.queued > 0 => Some(Status::waiting(format!(
                "rolling ops: waiting for the next leader hook to grant the lock{queued}"
            ))),
            None if memo.app.is_some() => Some(Status::active("")),
            None => None,
        };
        if let Some(s) = status {
            let msg = (!s.message.is_empty()).then(|| s.message.clone());
            if msg != memo.app || msg.is_none() {
                io.ctx.set_app_status(s)?;
                memo.app = msg;
                io.set_status_memo(&memo)?;
            }
        }
        Ok(())
    }
}

/// `42s`, `7m`, `3h12m`.
fn duration(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// [`PeerIo`] over a hook's `Context`.
struct CtxIo<'c, 'a> {
    ctx: &'c mut Context<'a>,
    rel: RelationId,
    book_key: String,
    memo_key: String,
    cache_key: String,
    endpoint: String,
    woken: bool,
    /// The callback ids the manager knows (targets and aliases).
    known: std::collections::BTreeSet<String>,
}

impl CtxIo<'_, '_> {
    fn memo(&mut self) -> Result<Memo, ModelError> {
        Ok(self.ctx.stored::<Memo>(&self.memo_key).unwrap_or_default())
    }

    fn set_memo(&mut self, memo: &Memo) -> Result<(), ModelError> {
        self.ctx.set_stored(&self.memo_key, memo)
    }

    fn has_peer_cache(&mut self) -> bool {
        self.ctx
            .stored::<BTreeMap<String, Databag>>(&self.cache_key)
            .is_ok_and(|c| !c.is_empty())
    }

    fn file(&self, what: &str) -> String {
        format!("{FILE_PREFIX}{}.{what}", self.endpoint)
    }

    /// The status memo; an unreadable one counts as empty (the statuses are then set again).
    fn status_memo(&mut self) -> StatusMemo {
        let path = self.file("status");
        match self.ctx.read_file(&path) {
            Ok(Some(bytes)) => serde_json::from_slice(&bytes).unwrap_or_default(),
            _ => StatusMemo::default(),
        }
    }

    fn set_status_memo(&mut self, memo: &StatusMemo) -> Result<(), ModelError> {
        let path = self.file("status");
        let text = serde_json::to_vec(memo).unwrap_or_default();
        self.ctx.write_file(&path, &text, 0o600)
    }
}

impl PeerIo for CtxIo<'_, '_> {
    type Error = ModelError;

    fn me(&self) -> UnitName {
        self.ctx.unit().clone()
    }

    fn own_bag(&mut self) -> Result<Databag, ModelError> {
        Ok(self.ctx.unit_data(self.rel)?.clone())
    }

    fn app_bag(&mut self) -> Result<Databag, ModelError> {
        Ok(self.ctx.app_data(self.rel)?.clone())
    }

    fn peers(&mut self) -> Result<Vec<UnitName>, ModelError> {
        Ok(self.ctx.relation(self.rel)?.units.clone())
    }

    fn peer_bag(&mut self, unit: &UnitName) -> Result<Option<Databag>, ModelError> {
        match self.ctx.data(self.rel, &BagOwner::Unit(unit.clone())) {
            Ok(b) => Ok(Some(b.clone())),
            Err(ModelError::Backend(e)) => {
                self.ctx.debug(format!(
                    "rolling ops: cannot read the bag of {unit}: {}",
                    redact(&e.to_string())
                ));
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn is_leader(&mut self) -> Result<bool, ModelError> {
        self.ctx.is_leader()
    }

    fn now(&mut self) -> Timestamp {
        Timestamp::from_system_time(self.ctx.now())
    }

    fn write_own(&mut self, changes: &Changes) -> Result<(), ModelError> {
        let owner = BagOwner::Unit(self.ctx.unit().clone());
        self.ctx.write(self.rel, &owner, changes.clone())
    }

    fn write_app(&mut self, changes: &Changes) -> Result<(), ModelError> {
        let owner = BagOwner::App(self.ctx.app().clone());
        self.ctx.write(self.rel, &owner, changes.clone())
    }

    fn book(&mut self) -> Result<LeaderBook, ModelError> {
        match self.ctx.stored::<LeaderBook>(&self.book_key) {
            Ok(b) => Ok(b),
            Err(e) => {
                self.ctx.warn(format!(
                    "rolling ops: the leader's book is unreadable ({}); starting anew",
                    redact(&e.to_string())
                ));
                Ok(LeaderBook::default())
            }
        }
    }

    fn set_book(&mut self, book: &LeaderBook) -> Result<(), ModelError> {
        self.ctx.set_stored(&self.book_key, book)
    }

    fn committed_issued(&mut self) -> Result<Option<u64>, ModelError> {
        let doc = self.ctx.backend().load_stored_state()?;
        let issued = doc
            .and_then(|d| StoredDocument::parse(&d).ok())
            .and_then(|d| d.values.get(&self.book_key).cloned())
            .and_then(|v| serde_json::from_value::<LeaderBook>(v).ok())
            .and_then(|b| b.issued);
        Ok(issued)
    }

    fn leaving(&mut self) -> Result<bool, ModelError> {
        Ok(self.memo()?.leaving)
    }

    fn set_leaving(&mut self) -> Result<(), ModelError> {
        let mut memo = self.memo()?;
        memo.leaving = true;
        self.set_memo(&memo)
    }

    fn wake_me(&mut self) -> Result<(), ModelError> {
        if !self.woken {
            self.woken = true;
            self.ctx.schedule(LOCK_GRANTED_EVENT, Duration::ZERO)?;
        }
        Ok(())
    }

    fn peer_cache(&mut self) -> Result<Option<BTreeMap<UnitName, Databag>>, ModelError> {
        let raw: BTreeMap<String, Databag> = match self.ctx.stored(&self.cache_key) {
            Ok(c) => c,
            Err(e) => {
                self.ctx.warn(format!(
                    "rolling ops: the leader's cache of peer bags is unreadable ({}); reading every bag",
                    redact(&e.to_string())
                ));
                BTreeMap::new()
            }
        };
        Ok(Some(
            raw.into_iter()
                .filter_map(|(u, b)| UnitName::parse(&u).ok().map(|u| (u, b)))
                .collect(),
        ))
    }

    fn set_peer_cache(&mut self, cache: &BTreeMap<UnitName, Databag>) -> Result<(), ModelError> {
        let raw: BTreeMap<String, &Databag> = cache.iter().map(|(u, b)| (u.to_string(), b)).collect();
        self.ctx.set_stored(&self.cache_key, &raw)
    }

    fn run_mark(&mut self) -> Result<Option<GrantId>, ModelError> {
        let path = self.file("run");
        let Some(bytes) = self.ctx.read_file(&path)? else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&bytes);
        if text.trim().is_empty() {
            return Ok(None);
        }
        match GrantId::parse(text.trim()) {
            Ok(g) => Ok(Some(g)),
            Err(e) => {
                self.ctx.warn(format!(
                    "rolling ops: the run mark {path} is malformed ({e}); ignored"
                ));
                Ok(None)
            }
        }
    }

    fn set_run_mark(&mut self, grant: Option<&GrantId>) -> Result<(), ModelError> {
        let path = self.file("run");
        let text = grant.map(GrantId::render).unwrap_or_default();
        self.ctx.write_file(&path, text.as_bytes(), 0o600)
    }

    fn knows(&self, callback_id: &str) -> bool {
        self.known.contains(callback_id)
    }

    fn note(&mut self, warn: bool, message: String) {
        if warn {
            self.ctx.warn(message);
        } else {
            self.ctx.info(message);
        }
    }
}
