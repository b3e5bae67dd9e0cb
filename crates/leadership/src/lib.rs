//! # leadership: leader-only settings and the leadership layer's flags
//!
//! The leader writes settings that every unit reads; every unit learns, hook by hook, what
//! changed, through flags with the semantics of the reactive leadership layer:
//!
//! | flag | set when |
//! |---|---|
//! | `leadership.is_leader` | this unit is the leader, for this hook |
//! | `leadership.set.<key>` | the setting `<key>` has a value |
//! | `leadership.changed.<key>` | `<key>` changed since this unit's last successful hook (lasts one hook) |
//! | `leadership.changed` | any key changed since this unit's last successful hook (lasts one hook) |
//!
//! Flags are computed at the start of every hook ([`Leadership::update_flags`]) by comparing the
//! settings with a copy kept in the unit's stored state, so they roll back with the hook: a hook
//! that fails sees the same changes when Juju retries it. On the leader, [`Leadership::set`]
//! raises the changed flags at once, because the leader gets no hook for its own change.
//!
//! ## Two stores behind one API
//!
//! | | [`Store::PeerAppBag`] (default) | [`Store::LeaderSettings`] |
//! |---|---|---|
//! | where | the peer relation's application bag | Juju's leader settings (`leader-get` / `leader-set`) |
//! | a write is | committed with the hook: lost if the hook fails | written at once: kept even if the hook fails |
//! | followers are woken by | `<peer>-relation-changed` (no remote unit) | `leader-settings-changed` |
//! | before the peer relation exists | no settings; `set` fails with [`LeadershipError::NoPeerRelation`] | available from `install` |
//! | Juju 4 | yes | no (`leader-get` / `leader-set` are gone): [`LeadershipError::Unsupported`] |
//!
//! In the peer store the settings are the application bag's keys that start with a prefix
//! ([`DEFAULT_PREFIX`], so other libraries may share the bag); a charm moving from the reactive
//! leadership layer keeps its data with [`Store::LeaderSettings`], whose keys are used as they are.
//!
//! ```
//! use charm::reactive::{Flags, Reactive};
//! use charm::{Charm, Observers};
//! use leadership::Leadership;
//!
//! #[derive(Default)]
//! struct Demo;
//!
//! fn store() -> Leadership {
//!     Leadership::peer("cluster")
//! }
//!
//! impl Charm for Demo {
//!     fn register(on: &mut Observers<Self>) {
//!         on.observe("leadership", |charm, ctx, _| {
//!             let mut flags = Flags::load(ctx)?;
//!             store().update_flags(ctx, &mut flags)?;
//!             let mut rules = Reactive::new();
//!             rules.handler("generate", &["leadership.is_leader"], &["leadership.set.password"], |_, ctx, flags| {
//!                 store().set(ctx, flags, [("password", Some("s3cret"))])?;
//!                 Ok(())
//!             });
//!             rules.run(charm, ctx, &mut flags)?;
//!             flags.save(ctx)?;
//!             Ok(())
//!         });
//!     }
//! }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod example;

use charm::reactive::Flags;
use charm::{Context, ModelError, RelationId};
use std::collections::BTreeMap;

/// The flag set while this unit is the leader.
pub const IS_LEADER: &str = "leadership.is_leader";
/// The flag set for one hook when any setting changed.
pub const CHANGED: &str = "leadership.changed";
/// The prefix of `leadership.changed.<key>`.
pub const CHANGED_PREFIX: &str = "leadership.changed.";
/// The prefix of `leadership.set.<key>`.
pub const SET_PREFIX: &str = "leadership.set.";
/// The stored-state key of this unit's copy of the settings it last saw.
pub const SNAPSHOT_KEY: &str = "leadership.seen";
/// The default prefix of settings in the peer application bag.
pub const DEFAULT_PREFIX: &str = "leader.";

/// A leadership operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum LeadershipError {
    /// Only the leader writes settings.
    #[error("only the leader may change leader settings")]
    NotLeader,
    /// The peer store needs the peer relation, which does not exist (yet).
    #[error("the peer relation {0:?} does not exist yet, so leader settings cannot be written")]
    NoPeerRelation(String),
    /// The store is not available on this Juju.
    #[error("{0}")]
    Unsupported(String),
    /// A key is empty.
    #[error("a leader setting's key must not be empty")]
    EmptyKey,
    /// The model refused.
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// Where the settings live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Store {
    /// The application bag of the peer relation on `endpoint`, keys prefixed with `prefix`.
    PeerAppBag {
        /// The peer endpoint.
        endpoint: String,
        /// The prefix of the keys that are settings.
        prefix: String,
    },
    /// Juju's leader settings (Juju 3.x).
    LeaderSettings,
}

/// How the flags changed at the start of a hook: a pure function of what the hook sees.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlagUpdate {
    /// Keys whose value differs from this unit's last successful hook.
    pub changed: Vec<String>,
    /// The flags to set.
    pub set: Vec<String>,
    /// The flags to clear.
    pub clear: Vec<String>,
}

/// Computes the leadership flags from whether this unit leads, the settings it last saw and the
/// settings now. `current_flags` are the leadership flags set now (from the last hook).
///
/// ```
/// use std::collections::BTreeMap;
/// let before = BTreeMap::from([("a".to_string(), "1".to_string())]);
/// let now = BTreeMap::from([("a".to_string(), "2".to_string()), ("b".to_string(), "x".to_string())]);
/// let u = leadership::compute_flags(false, &before, &now, &["leadership.is_leader"]);
/// assert_eq!(u.changed, ["a", "b"]);
/// assert!(u.set.contains(&"leadership.changed.a".to_string()));
/// assert!(u.set.contains(&"leadership.set.b".to_string()));
/// assert!(u.clear.contains(&"leadership.is_leader".to_string()));
/// ```
pub fn compute_flags(
    is_leader: bool,
    seen: &BTreeMap<String, String>,
    now: &BTreeMap<String, String>,
    current_flags: &[&str],
) -> FlagUpdate {
    let mut keys: Vec<&String> = seen.keys().chain(now.keys()).collect();
    keys.sort();
    keys.dedup();
    let changed: Vec<String> = keys
        .into_iter()
        .filter(|k| seen.get(*k) != now.get(*k))
        .cloned()
        .collect();
    let mut want: Vec<String> = Vec::new();
    if is_leader {
        want.push(IS_LEADER.to_owned());
    }
    if !changed.is_empty() {
        want.push(CHANGED.to_owned());
    }
    want.extend(changed.iter().map(|k| format!("{CHANGED_PREFIX}{k}")));
    want.extend(now.keys().map(|k| format!("{SET_PREFIX}{k}")));
    let ours = |f: &str| {
        f == IS_LEADER || f == CHANGED || f.starts_with(CHANGED_PREFIX) || f.starts_with(SET_PREFIX)
    };
    let clear = current_flags
        .iter()
        .filter(|f| ours(f) && !want.iter().any(|w| w == *f))
        .map(|f| (*f).to_owned())
        .collect();
    FlagUpdate {
        changed,
        set: want,
        clear,
    }
}

/// Leader settings on one store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leadership {
    store: Store,
}

impl Leadership {
    /// Settings in the application bag of the peer relation on `endpoint` (the default store,
    /// and the only one on Juju 4), under [`DEFAULT_PREFIX`].
    pub fn peer(endpoint: &str) -> Self {
        Self {
            store: Store::PeerAppBag {
                endpoint: endpoint.to_owned(),
                prefix: DEFAULT_PREFIX.to_owned(),
            },
        }
    }

    /// Settings in Juju's leader settings (`leader-get` / `leader-set`; Juju 3.x).
    pub fn juju_leader_settings() -> Self {
        Self {
            store: Store::LeaderSettings,
        }
    }

    /// The same store with another key prefix (peer store only; `""` uses the whole bag).
    pub fn with_prefix(mut self, new_prefix: &str) -> Self {
        if let Store::PeerAppBag { prefix, .. } = &mut self.store {
            *prefix = new_prefix.to_owned();
        }
        self
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    fn check_juju(&self, ctx: &Context<'_>) -> Result<(), LeadershipError> {
        if self.store == Store::LeaderSettings && !ctx.juju_version().has_leader_settings() {
            return Err(LeadershipError::Unsupported(format!(
                "Juju {} has no leader settings (leader-get/leader-set); use the peer relation store",
                ctx.juju_version()
            )));
        }
        Ok(())
    }

    fn peer_relation(ctx: &mut Context<'_>, endpoint: &str) -> Result<Option<RelationId>, LeadershipError> {
        Ok(ctx.relation_ids(endpoint)?.into_iter().min())
    }

    /// Every setting.
    pub fn settings(&self, ctx: &mut Context<'_>) -> Result<BTreeMap<String, String>, LeadershipError> {
        self.check_juju(ctx)?;
        match &self.store {
            Store::LeaderSettings => Ok(ctx.leader_settings()?.clone()),
            Store::PeerAppBag { endpoint, prefix } => {
                let Some(id) = Self::peer_relation(ctx, endpoint)? else {
                    return Ok(BTreeMap::new());
                };
                Ok(ctx
                    .app_data(id)?
                    .iter()
                    .filter_map(|(k, v)| k.strip_prefix(prefix.as_str()).map(|k| (k.to_owned(), v.clone())))
                    .filter(|(k, _)| !k.is_empty())
                    .collect())
            }
        }
    }

    /// One setting.
    pub fn get(&self, ctx: &mut Context<'_>, key: &str) -> Result<Option<String>, LeadershipError> {
        Ok(self.settings(ctx)?.remove(key))
    }

    /// Computes the flags for this hook (call it first in every hook, before any handler reads
    /// them) and keeps the settings seen in the unit's stored state.
    pub fn update_flags(
        &self,
        ctx: &mut Context<'_>,
        flags: &mut Flags,
    ) -> Result<FlagUpdate, LeadershipError> {
        let is_leader = ctx.is_leader()?;
        let now = self.settings(ctx)?;
        let seen: BTreeMap<String, String> = ctx.stored(SNAPSHOT_KEY)?;
        let current: Vec<String> = flags.iter().map(str::to_owned).collect();
        let current: Vec<&str> = current.iter().map(String::as_str).collect();
        let update = compute_flags(is_leader, &seen, &now, &current);
        for f in &update.clear {
            flags.clear(f);
        }
        for f in &update.set {
            flags.set(f);
        }
        ctx.set_stored(SNAPSHOT_KEY, &now)?;
        Ok(update)
    }

    /// Writes settings (leader only); `None` deletes a key. Raises `leadership.changed.<key>`
    /// and `leadership.changed` at once for every key whose value changes, and updates
    /// `leadership.set.<key>`.
    pub fn set<K, V, I>(
        &self,
        ctx: &mut Context<'_>,
        flags: &mut Flags,
        changes: I,
    ) -> Result<Vec<String>, LeadershipError>
    where
        I: IntoIterator<Item = (K, Option<V>)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        self.check_juju(ctx)?;
        if !ctx.is_leader()? {
            return Err(LeadershipError::NotLeader);
        }
        let changes: Vec<(String, Option<String>)> = changes
            .into_iter()
            .map(|(k, v)| {
                (
                    k.as_ref().to_owned(),
                    v.map(|v| v.as_ref().to_owned()).filter(|v| !v.is_empty()),
                )
            })
            .collect();
        if changes.iter().any(|(k, _)| k.is_empty()) {
            return Err(LeadershipError::EmptyKey);
        }
        let before = self.settings(ctx)?;
        let changed: Vec<(String, Option<String>)> = changes
            .into_iter()
            .filter(|(k, v)| before.get(k) != v.as_ref())
            .collect();
        if changed.is_empty() {
            return Ok(Vec::new());
        }
        match &self.store {
            Store::LeaderSettings => ctx.leader_set(changed.clone())?,
            Store::PeerAppBag { endpoint, prefix } => {
                let id = Self::peer_relation(ctx, endpoint)?
                    .ok_or_else(|| LeadershipError::NoPeerRelation(endpoint.clone()))?;
                let own = charm::BagOwner::App(ctx.app().clone());
                let prefixed: Vec<(String, Option<String>)> = changed
                    .iter()
                    .map(|(k, v)| (format!("{prefix}{k}"), v.clone()))
                    .collect();
                ctx.write(id, &own, prefixed)?;
            }
        }
        let mut seen: BTreeMap<String, String> = ctx.stored(SNAPSHOT_KEY)?;
        for (k, v) in &changed {
            flags.set(CHANGED);
            flags.set(&format!("{CHANGED_PREFIX}{k}"));
            flags.toggle(&format!("{SET_PREFIX}{k}"), v.is_some());
            match v {
                Some(v) => seen.insert(k.clone(), v.clone()),
                None => seen.remove(k),
            };
        }
        ctx.set_stored(SNAPSHOT_KEY, &seen)?;
        Ok(changed.into_iter().map(|(k, _)| k).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn nothing_changed_clears_last_hooks_changed_flags() {
        let s = m(&[("a", "1")]);
        let u = compute_flags(
            true,
            &s,
            &s,
            &[
                "leadership.changed",
                "leadership.changed.a",
                "leadership.set.a",
                "other",
            ],
        );
        assert!(u.changed.is_empty());
        assert_eq!(u.set, ["leadership.is_leader", "leadership.set.a"]);
        assert_eq!(u.clear, ["leadership.changed", "leadership.changed.a"]);
    }

    #[test]
    fn deletion_is_a_change_and_clears_set() {
        let u = compute_flags(
            false,
            &m(&[("a", "1")]),
            &m(&[]),
            &["leadership.set.a", "leadership.is_leader"],
        );
        assert_eq!(u.changed, ["a"]);
        assert_eq!(u.set, ["leadership.changed", "leadership.changed.a"]);
        assert_eq!(u.clear, ["leadership.set.a", "leadership.is_leader"]);
    }
}
