//! The peer relation's databag contents, as charmlibs-rollingops 1.1.5 writes them, plus the
//! keys ensemble adds (see `docs/protocols/rollingops.md`).
//!
//! Everything here parses untrusted data: a malformed value is a [`WireError`], never a panic.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// Unit bag: the unit's queue, a compact JSON list of [`Operation`]s.
pub const OPERATIONS: &str = "operations";
/// Unit bag: the unit's [`UnitState`]; absent means idle.
pub const STATE: &str = "state";
/// Unit bag: when the unit last ran an operation (its own clock).
pub const EXECUTED_AT: &str = "executed_at";
/// Unit bag: `peer` or `etcd`.
pub const PROCESSING_BACKEND: &str = "processing_backend";
/// Unit bag: `"true"` once the unit fell back to the peer backend.
pub const ETCD_CLEANUP_NEEDED: &str = "etcd_cleanup_needed";
/// App bag: the unit holding the lock.
pub const GRANTED_UNIT: &str = "granted_unit";
/// App bag: when the lock was granted (the granting leader's clock).
pub const GRANTED_AT: &str = "granted_at";

/// Unit bag (ensemble): the protocol version this unit speaks; present on every unit that
/// runs ensemble, absent on charmlibs units.
pub const ENSEMBLE_PROTOCOL: &str = "ensemble-protocol";
/// Unit bag (ensemble): the [`GrantId`] of the last grant this unit finished with.
pub const ENSEMBLE_ACK: &str = "ensemble-ack";
/// Unit bag (ensemble): `"true"` once the unit is being removed; it runs no operation after.
/// `"interrupted"` when, as it learnt that it is leaving, a run of its operation under the
/// grant it holds had been cut short (its agent died in the middle): the operation may still
/// be running, so the mark does not release the lock (an operator does, with force-release).
pub const ENSEMBLE_LEAVING: &str = "ensemble-leaving";
/// The value of [`ENSEMBLE_LEAVING`] that keeps the lock: see there.
pub const LEAVING_INTERRUPTED: &str = "interrupted";
/// App bag (ensemble): the [`GrantRecord`] of the last grant an ensemble leader made.
pub const ENSEMBLE_GRANT: &str = "ensemble-grant";

/// The protocol version ensemble writes in [`ENSEMBLE_PROTOCOL`].
pub const PROTOCOL_VERSION: &str = "1";

/// The bounds on what rolling ops accepts from a bag (the trust rules of
/// `docs/protocols/rollingops.md`). A value outside them is treated as absent or malformed: it
/// is logged once, bounded and redacted ([`redact`]), and never stored or written back.
pub mod limits {
    /// The largest grant sequence number (2^53 - 1, exact in every JSON implementation).
    pub const MAX_SEQ: u64 = (1 << 53) - 1;
    /// An `ensemble-ack` sequence number above this one is a valid acknowledgement but does not
    /// raise the leader's numbering: a peer cannot push the numbering near [`MAX_SEQ`] (what is
    /// left above it, 2^52 grants, never runs out).
    pub const SEQ_COUNTED_MAX: u64 = 1 << 52;
    /// The largest absolute value of a timestamp, in seconds (about the year 5138).
    pub const MAX_TIMESTAMP_SECS: f64 = 1e11;
    /// The longest timestamp string.
    pub const MAX_TIMESTAMP_LEN: usize = 64;
    /// The longest unit name (`granted_unit`, the unit of `ensemble-grant`).
    pub const MAX_UNIT_NAME_LEN: usize = 128;
    /// The longest callback id.
    pub const MAX_CALLBACK_ID_LEN: usize = 128;
    /// The longest `operations` value, in bytes.
    pub const MAX_OPERATIONS_LEN: usize = 64 * 1024;
    /// The most operations in one queue.
    pub const MAX_QUEUE_LEN: usize = 256;
    /// The longest kwargs of one operation, as compact JSON, in bytes.
    pub const MAX_KWARGS_LEN: usize = 16 * 1024;
    /// The longest `ensemble-ack` or `ensemble-grant` value, in bytes.
    pub const MAX_RECORD_LEN: usize = 512;
    /// The most characters of a peer's value that a log line quotes.
    pub const MAX_QUOTED_CHARS: usize = 64;
}

/// A value from a bag (or an error message quoting one) made fit for a log line or a status:
/// at most [`limits::MAX_QUOTED_CHARS`] characters, control characters escaped, and, when
/// shortened, its full length in bytes. Every log line and status that quotes peer data goes
/// through this function.
///
/// ```
/// let big = "x".repeat(1 << 20);
/// let r = rollingops::wire::redact(&big);
/// assert!(r.len() < 100);
/// assert!(r.ends_with("… (1048576 bytes)"));
/// assert_eq!(rollingops::wire::redact("a\nb"), "a\\nb");
/// ```
pub fn redact(value: &str) -> String {
    let mut out = String::new();
    let mut chars = value.chars();
    for c in chars.by_ref().take(limits::MAX_QUOTED_CHARS) {
        out.extend(c.escape_debug());
    }
    if chars.next().is_some() {
        out.push_str(&format!("… ({} bytes)", value.len()));
    }
    out
}

/// A malformed value in the peer relation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// `operations` is not a JSON list of operations.
    #[error("the operations queue is not a list of operations: {0}")]
    Operations(String),
    /// `state` holds an unknown value (redacted).
    #[error("unknown state {0:?}")]
    State(String),
    /// A timestamp is not a float epoch within the bounds (the value redacted).
    #[error("{key} is not a timestamp: {value:?}")]
    Timestamp {
        /// The key.
        key: &'static str,
        /// The value found, redacted.
        value: String,
    },
    /// An ensemble key holds a value that does not parse.
    #[error("{key} is malformed: {reason}")]
    Ensemble {
        /// The key.
        key: &'static str,
        /// Why.
        reason: String,
    },
    /// A request would take this unit's queue past the bounds of the trust rules.
    #[error(
        "the queue is full ({} operations or {} bytes at most)",
        limits::MAX_QUEUE_LEN,
        limits::MAX_OPERATIONS_LEN
    )]
    QueueFull,
    /// A key holds a value outside the trust rules (an unknown word, a bad unit name).
    #[error("{key} holds an unexpected value {value:?}")]
    Value {
        /// The key.
        key: &'static str,
        /// The value found, redacted.
        value: String,
    },
}

impl WireError {
    fn operations(reason: impl fmt::Display) -> Self {
        Self::Operations(redact(&reason.to_string()))
    }

    fn ensemble(key: &'static str, reason: impl fmt::Display) -> Self {
        Self::Ensemble {
            key,
            reason: redact(&reason.to_string()),
        }
    }

    /// An unexpected value of `key` (redacted).
    pub fn value(key: &'static str, value: &str) -> Self {
        Self::Value {
            key,
            value: redact(value),
        }
    }
}

/// A point in time as charmlibs writes it: `str(datetime.timestamp())`, a float number of
/// seconds since the epoch such as `"1795302851.949266"`.
///
/// The string is kept as it was read: ensemble compares timestamps written by different units
/// only for equality (as tokens), never for order, except in the documented compatibility rule
/// for charmlibs holders.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(String);

impl Timestamp {
    /// The timestamp of `t`, at microsecond precision, formatted as Python's `str(float)` does.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use rollingops::Timestamp;
    /// let t = UNIX_EPOCH + Duration::from_micros(1_795_302_851_949_266);
    /// assert_eq!(Timestamp::from_system_time(t).as_str(), "1795302851.949266");
    /// let t = UNIX_EPOCH + Duration::from_secs(1_795_302_851);
    /// assert_eq!(Timestamp::from_system_time(t).as_str(), "1795302851.0");
    /// ```
    pub fn from_system_time(t: SystemTime) -> Self {
        let micros: i128 = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_micros() as i128,
            Err(e) => -(e.duration().as_micros() as i128),
        };
        Self::from_micros(micros)
    }

    /// The timestamp `micros` microseconds after the epoch.
    pub fn from_micros(micros: i128) -> Self {
        // Python computes `micros / 10**6` as a correctly rounded float division; so does this.
        Self(python_float_repr(micros as f64 / 1e6))
    }

    /// Parses a timestamp token: at most [`limits::MAX_TIMESTAMP_LEN`] bytes, a finite float
    /// of at most [`limits::MAX_TIMESTAMP_SECS`] in absolute value.
    pub fn parse(key: &'static str, s: &str) -> Result<Self, WireError> {
        let ok = s.len() <= limits::MAX_TIMESTAMP_LEN
            && !s.trim().is_empty()
            && s.trim()
                .parse::<f64>()
                .is_ok_and(|v| v.is_finite() && v.abs() <= limits::MAX_TIMESTAMP_SECS);
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(WireError::Timestamp {
                key,
                value: redact(s),
            })
        }
    }

    /// The token as written on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Seconds since the epoch (0 for a token that does not parse, which `parse` prevents).
    pub fn seconds(&self) -> f64 {
        self.0.trim().parse().unwrap_or(0.0)
    }

    /// Microseconds since the epoch, rounded.
    pub fn micros(&self) -> i128 {
        (self.seconds() * 1e6).round() as i128
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Python's `repr(float)` for the range of epoch timestamps: the shortest string that reads
/// back to the same float, with `.0` on whole numbers.
fn python_float_repr(v: f64) -> String {
    let s = format!("{v}");
    if s.contains('.') || s.contains('e') || s.contains("inf") || s.contains("NaN") {
        s
    } else {
        format!("{s}.0")
    }
}

/// What a unit's queue state says (`state` key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum UnitState {
    /// Nothing to do (also a missing key).
    Idle,
    /// The head operation waits for the lock.
    Request,
    /// The head operation asked to run again after others had their turn.
    RetryRelease,
    /// The head operation asked to run again at once, keeping the lock.
    RetryHold,
}

impl UnitState {
    /// The value on the wire.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Request => "request",
            Self::RetryRelease => "retry-release",
            Self::RetryHold => "retry-hold",
        }
    }

    /// Parses a wire value; `None` (absent key) is idle.
    pub fn parse(s: Option<&str>) -> Result<Self, WireError> {
        match s {
            None | Some("") | Some("idle") => Ok(Self::Idle),
            Some("request") => Ok(Self::Request),
            Some("retry-release") => Ok(Self::RetryRelease),
            Some("retry-hold") => Ok(Self::RetryHold),
            Some(other) => Err(WireError::State(redact(other))),
        }
    }
}

/// Which backend processes a unit's queue (`processing_backend` key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ProcessingBackend {
    /// The peer relation (also a missing key).
    Peer,
    /// etcd (charmlibs' cluster mode): the peer leader skips such units.
    Etcd,
}

impl ProcessingBackend {
    /// The value on the wire.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Peer => "peer",
            Self::Etcd => "etcd",
        }
    }
}

/// One queued operation, with the fields (and their order) of charmlibs' pydantic model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    /// The callback to run.
    pub callback_id: String,
    /// When the requesting unit queued it (its own clock); with the callback id it identifies
    /// the operation within its unit's queue.
    #[serde(deserialize_with = "de_timestamp")]
    pub requested_at: Timestamp,
    /// How many retries are allowed; `None` means forever.
    #[serde(default)]
    pub max_retry: Option<u32>,
    /// How many times it ran and asked to run again.
    #[serde(default)]
    pub attempt: u32,
    /// Always null in the peer queue; kept as read.
    #[serde(default)]
    pub result: Value,
    /// The callback's keyword arguments.
    #[serde(default)]
    pub kwargs: Map<String, Value>,
}

fn de_timestamp<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
    let v = Value::deserialize(d)?;
    let s = match &v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => return Err(serde::de::Error::custom(format!("not a timestamp: {other}"))),
    };
    Timestamp::parse("requested_at", &s).map_err(serde::de::Error::custom)
}

impl Operation {
    /// A new operation, attempt 0.
    pub fn new(
        callback_id: &str,
        kwargs: Map<String, Value>,
        max_retry: Option<u32>,
        requested_at: Timestamp,
    ) -> Self {
        Self {
            callback_id: callback_id.to_owned(),
            requested_at,
            max_retry,
            attempt: 0,
            result: Value::Null,
            kwargs: sorted_map(kwargs),
        }
    }

    /// Whether `other` is the same request for deduplication: same callback and arguments
    /// (timestamps, `max_retry` and `attempt` do not count), as charmlibs compares.
    pub fn same_request(&self, other: &Operation) -> bool {
        self.callback_id == other.callback_id && self.kwargs == other.kwargs
    }

    /// The token that identifies this operation within its unit's queue.
    pub fn token(&self) -> String {
        format!("{}/{}", self.requested_at, self.callback_id)
    }
}

fn sorted_value(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(sorted_map(m)),
        Value::Array(a) => Value::Array(a.into_iter().map(sorted_value).collect()),
        other => other,
    }
}

/// The map with its keys (recursively) in sorted order, whatever serde_json's map type keeps.
fn sorted_map(m: Map<String, Value>) -> Map<String, Value> {
    let mut entries: Vec<(String, Value)> = m.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.into_iter().map(|(k, v)| (k, sorted_value(v))).collect()
}

/// Parses an `operations` value; an absent or empty value is an empty queue. Bounds: at most
/// [`limits::MAX_OPERATIONS_LEN`] bytes and [`limits::MAX_QUEUE_LEN`] operations; each
/// callback id not empty and at most [`limits::MAX_CALLBACK_ID_LEN`] bytes; each operation's
/// kwargs at most [`limits::MAX_KWARGS_LEN`] bytes of JSON; `max_retry` and `attempt` fit in a
/// `u32`; timestamps as [`Timestamp::parse`]. Anything outside makes the whole queue malformed.
///
/// ```
/// let q = rollingops::wire::parse_operations(Some(
///     r#"[{"callback_id":"restart","requested_at":"1795302851.949266","max_retry":2,"attempt":0,"result":null,"kwargs":{"delay":3}}]"#,
/// )).unwrap();
/// assert_eq!(q[0].callback_id, "restart");
/// assert!(rollingops::wire::parse_operations(Some("{garbage")).is_err());
/// ```
pub fn parse_operations(s: Option<&str>) -> Result<Vec<Operation>, WireError> {
    match s {
        None => Ok(Vec::new()),
        Some(s) if s.trim().is_empty() => Ok(Vec::new()),
        Some(s) if s.len() > limits::MAX_OPERATIONS_LEN => Err(WireError::operations(format!(
            "{} bytes, more than {}",
            s.len(),
            limits::MAX_OPERATIONS_LEN
        ))),
        Some(s) => {
            let ops = serde_json::from_str::<Vec<Operation>>(s).map_err(WireError::operations)?;
            if ops.len() > limits::MAX_QUEUE_LEN {
                return Err(WireError::operations(format!(
                    "{} operations, more than {}",
                    ops.len(),
                    limits::MAX_QUEUE_LEN
                )));
            }
            ops.into_iter()
                .map(|mut o| {
                    if o.callback_id.is_empty() || o.callback_id.len() > limits::MAX_CALLBACK_ID_LEN {
                        return Err(WireError::operations(format!(
                            "a callback id of {} bytes (1 to {})",
                            o.callback_id.len(),
                            limits::MAX_CALLBACK_ID_LEN
                        )));
                    }
                    let kwargs_len = serde_json::to_string(&o.kwargs).map_or(usize::MAX, |k| k.len());
                    if kwargs_len > limits::MAX_KWARGS_LEN {
                        return Err(WireError::operations(format!(
                            "kwargs of more than {} bytes",
                            limits::MAX_KWARGS_LEN
                        )));
                    }
                    o.kwargs = sorted_map(std::mem::take(&mut o.kwargs));
                    Ok(o)
                })
                .collect()
        }
    }
}

/// Renders a queue as charmlibs does: compact JSON, fields in model order, kwargs sorted.
pub fn render_operations(ops: &[Operation]) -> String {
    // A list of structs of strings, numbers and JSON values always serializes.
    serde_json::to_string(ops).unwrap_or_else(|_| "[]".to_owned())
}

/// Whether `s` is a unit name (`app/7`) of at most [`limits::MAX_UNIT_NAME_LEN`] bytes.
pub fn valid_unit_name(s: &str) -> bool {
    s.len() <= limits::MAX_UNIT_NAME_LEN && charm::UnitName::parse(s).is_ok()
}

/// Which grant something refers to: the ensemble sequence number when the grant has one, and
/// the `granted_at` token the leader wrote with it (the only identity a charmlibs grant has).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GrantId {
    /// The ensemble sequence number; `None` for a grant made by a charmlibs leader.
    pub seq: Option<u64>,
    /// The `granted_at` token of the grant, compared only for equality.
    pub granted_at: String,
}

impl GrantId {
    /// Parses an [`ENSEMBLE_ACK`] value: at most [`limits::MAX_RECORD_LEN`] bytes, `seq` null
    /// or at most [`limits::MAX_SEQ`], `granted_at` empty or a [`Timestamp`].
    pub fn parse(s: &str) -> Result<Self, WireError> {
        if s.len() > limits::MAX_RECORD_LEN {
            return Err(WireError::ensemble(ENSEMBLE_ACK, format!("{} bytes", s.len())));
        }
        let id: Self = serde_json::from_str(s).map_err(|e| WireError::ensemble(ENSEMBLE_ACK, e))?;
        if id.seq.is_some_and(|n| n > limits::MAX_SEQ) {
            return Err(WireError::ensemble(ENSEMBLE_ACK, "seq out of bounds"));
        }
        if !id.granted_at.is_empty() {
            Timestamp::parse(GRANTED_AT, &id.granted_at)?;
        }
        Ok(id)
    }

    /// Renders the value of [`ENSEMBLE_ACK`]: `{"seq":17,"granted_at":"1795302851.949266"}`.
    pub fn render(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The [`ENSEMBLE_GRANT`] record: the last grant an ensemble leader made. It stays after the
/// grant is released, so that the next leader continues the numbering.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GrantRecord {
    /// The grant's sequence number (1, 2, ...).
    pub seq: u64,
    /// The unit it was granted to.
    pub unit: String,
    /// The `granted_at` token written with it.
    pub granted_at: String,
}

impl GrantRecord {
    /// Parses an [`ENSEMBLE_GRANT`] value: at most [`limits::MAX_RECORD_LEN`] bytes, `seq`
    /// from 1 to [`limits::MAX_SEQ`], `unit` a unit name (see [`valid_unit_name`]),
    /// `granted_at` a [`Timestamp`].
    pub fn parse(s: &str) -> Result<Self, WireError> {
        if s.len() > limits::MAX_RECORD_LEN {
            return Err(WireError::ensemble(ENSEMBLE_GRANT, format!("{} bytes", s.len())));
        }
        let r: Self = serde_json::from_str(s).map_err(|e| WireError::ensemble(ENSEMBLE_GRANT, e))?;
        if r.seq == 0 || r.seq > limits::MAX_SEQ {
            return Err(WireError::ensemble(ENSEMBLE_GRANT, "seq out of bounds"));
        }
        if !valid_unit_name(&r.unit) {
            return Err(WireError::ensemble(ENSEMBLE_GRANT, "unit is not a unit name"));
        }
        Timestamp::parse(GRANTED_AT, &r.granted_at)?;
        Ok(r)
    }

    /// Renders the value: `{"seq":17,"unit":"app/1","granted_at":"1795302851.949266"}`.
    pub fn render(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_format_as_python() {
        let cases = [
            (1_795_302_851_949_266_i128, "1795302851.949266"),
            (1_795_302_851_000_000, "1795302851.0"),
            (1_795_302_851_100_000, "1795302851.1"),
            (1_795_302_851_000_001, "1795302851.000001"),
            (0, "0.0"),
        ];
        for (micros, want) in cases {
            assert_eq!(Timestamp::from_micros(micros).as_str(), want);
        }
        let t = UNIX_EPOCH + Duration::from_nanos(1_795_302_851_949_266_999);
        assert_eq!(Timestamp::from_system_time(t).as_str(), "1795302851.949266");
        assert_eq!(
            Timestamp::from_micros(1_795_302_851_949_266).micros(),
            1_795_302_851_949_266
        );
    }

    #[test]
    fn bad_timestamps_are_errors() {
        for bad in ["", "soon", "nan", "inf", "2026-11-22T00:00:00"] {
            assert!(Timestamp::parse("granted_at", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn states_round_trip() {
        for s in [
            UnitState::Idle,
            UnitState::Request,
            UnitState::RetryRelease,
            UnitState::RetryHold,
        ] {
            assert_eq!(UnitState::parse(Some(s.as_str())).unwrap(), s);
        }
        assert_eq!(UnitState::parse(None).unwrap(), UnitState::Idle);
        assert!(UnitState::parse(Some("acquire")).is_err());
    }

    #[test]
    fn operations_are_lenient_but_typed() {
        let q = parse_operations(Some(
            r#"[{"callback_id":"r","requested_at":1795302851.5,"kwargs":{"b":1,"a":{"z":1,"y":2}}}]"#,
        ))
        .unwrap();
        assert_eq!(q[0].requested_at.as_str(), "1795302851.5");
        assert_eq!(q[0].attempt, 0);
        assert_eq!(q[0].max_retry, None);
        assert_eq!(
            render_operations(&q),
            r#"[{"callback_id":"r","requested_at":"1795302851.5","max_retry":null,"attempt":0,"result":null,"kwargs":{"a":{"y":2,"z":1},"b":1}}]"#
        );
        for bad in [
            "{}",
            "[1]",
            r#"[{"requested_at":"1"}]"#,
            r#"[{"callback_id":"r","requested_at":"x"}]"#,
            "[",
        ] {
            assert!(parse_operations(Some(bad)).is_err(), "{bad}");
        }
    }
}
