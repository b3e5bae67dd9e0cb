//! The consumer: a unit of a microcluster charm (MicroOVN and the like) that bootstraps the
//! cluster, joins it with a token from the mirror, or, as the communicator, mints tokens for
//! the others.
//!
//! Every hook runs `list -f json` once; whether the unit is in the cluster is what that command
//! says, never a flag that a crashed hook could leave stale. The decisions are pure functions
//! ([`decide`], [`communicator_plan`]); [`Consumer`] runs the commands and writes the bags.

use crate::cli::{self, ClusterCommand, JoinFailure, ListError, Member, Redacted, RedactedMap, Role};
use crate::protocol::*;
use charm::{BagOwner, Context, Databag, Event, ModelError, RelationId, Status, UnitName};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The custom event the consumer dispatches to itself to look again soon (members still
/// PENDING, a transient join failure); register it with `Observers::custom_event`.
pub const RETRY_EVENT: &str = "microcluster-retry";

/// How long the consumer waits before looking again.
pub const RETRY_DELAY: Duration = Duration::from_secs(5);

/// Where the communicator keeps the tokens it minted, outside Juju's transaction, so a hook
/// that fails after `add` does not lose a token (whose name would stay taken until it expires).
///
/// The file outlives nothing it should not: it names its owner (this unit, the relation and
/// the distributor application) and each token's cluster (the certificate fingerprint the
/// token carries); a file from another owner (an application removed and deployed again onto
/// the same machine, another model's unit) is discarded whole; a cached token is published
/// again only when the cluster itself says that host's name still holds a token (`add` fails
/// with "name is taken") and the token's cluster is the one this unit mints for. The unit
/// empties the file in its `remove` hook and when the relation is broken.
pub const TOKEN_CACHE_FILE: &str = "/var/lib/ensemble/microcluster/minted-tokens.json";

/// The stored-state key of the count of failed joins with the current token.
pub const JOIN_FAILURES_KEY: &str = "microcluster.join-failures";

/// How many times a unit tries to join with one token whose failures look transient before it
/// counts the token as stale and asks for a fresh one (a token that cannot work does not always
/// say so: one whose addresses answer with another cluster's certificate fails with Go's
/// `%!w(<nil>)`). With [`RETRY_DELAY`] between tries, about half a minute.
pub const MAX_JOIN_ATTEMPTS: u32 = 5;

/// The leader setting in which the consumer leader claims the bootstrap (its hostname) before
/// running it (Juju 3.x; see the protocol document).
pub const BOOTSTRAP_CLAIM: &str = "microcluster-bootstrapper";

/// The leader setting holding when the claim was made (Unix seconds, the claimer's clock).
pub const BOOTSTRAP_CLAIM_AT: &str = "microcluster-bootstrapper-at";

/// How long another unit's bootstrap claim stands without a cluster to show for it.
pub const BOOTSTRAP_CLAIM_TIMEOUT: Duration = Duration::from_secs(600);

/// How long the communicator waits before trying `add` again after it failed (a name still
/// taken by a lost token, the workload briefly unavailable).
pub const NAME_TAKEN_RETRY: Duration = Duration::from_secs(60);

/// The most tokens the communicator keeps outstanding (minted, not yet used) at once.
pub const MINT_BATCH: usize = 32;

/// The most bytes of outstanding tokens the communicator keeps in its bag at once.
pub const MINT_BUDGET_BYTES: usize = 256 * 1024;

/// The stored-state key of the consumer's own bookkeeping.
pub const STORED_KEY: &str = "microcluster.consumer";

/// What happened in this hook, for the charm to react to: the Python library's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumerEvent {
    /// About to bootstrap the cluster.
    PreBootstrap,
    /// This unit bootstrapped the cluster.
    Bootstrapped,
    /// About to join the cluster.
    PreJoin,
    /// This unit is now in the cluster; `bootstrapper` if it created it.
    Joined {
        /// Whether this unit bootstrapped the cluster.
        bootstrapper: bool,
    },
    /// This unit, the communicator, minted a token for another host.
    TokenGenerated {
        /// The host the token is for.
        host: String,
    },
}

/// What the distributor's mirror says, merged over its `up` units (sorted by name).
///
/// Built for one host ([`MirrorView::for_host`]: that host's keys and a few flags, without
/// copying the rest of a bag that holds a key per joining host) or in full
/// ([`MirrorView::from_bags`], which the communicator needs).
///
/// Its `Debug` output redacts the tokens (and any other long value from the bags).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct MirrorView {
    /// Whether any distributor unit has its mirror up.
    pub up: bool,
    /// Whether the mirror speaks ensemble's protocol.
    pub ensemble: bool,
    /// `mirror-<host>` values (placeholders included); one host's only in a view for one host.
    pub tokens: BTreeMap<String, String>,
    /// `answers-<host>` values (as `tokens`).
    pub answers: BTreeMap<String, u64>,
    /// `request-<host>` values (as `tokens`).
    pub requests: BTreeMap<String, u64>,
    /// The published member list (a full view only).
    pub members: Option<Vec<String>>,
    /// The hosts of every consumer unit related now (an ensemble mirror; a full view only).
    pub hosts: Option<Vec<String>>,
    /// The communicator's hostname, as it published it (an ensemble mirror only).
    pub communicator: Option<String>,
    /// Whether any mirrored value is a real token (not `empty`).
    pub real_token: bool,
    /// Whether a non-empty member list is published.
    pub members_published: bool,
    /// Whether the published communicator's host is still related (`None` if no communicator
    /// or no host list is published).
    pub communicator_related: Option<bool>,
}

impl MirrorView {
    /// Merges the bags of the distributor units; an `up` unit's value wins, ties go to the
    /// smallest unit name (weakness #4: the Python library's tie-break depended on set order).
    pub fn from_bags(bags: &[(UnitName, Databag)]) -> Self {
        Self::build(bags, None)
    }

    /// The view one host needs: its own keys and the flags.
    pub fn for_host(bags: &[(UnitName, Databag)], host: &str) -> Self {
        Self::build(bags, Some(host))
    }

    fn build(bags: &[(UnitName, Databag)], only: Option<&str>) -> Self {
        let mut sorted: Vec<&(UnitName, Databag)> = bags.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let mut v = Self::default();
        let mut hosts_raw: Option<&str> = None;
        let wanted = |h: &str| only.is_none_or(|o| o == h);
        for (_, bag) in sorted
            .into_iter()
            .filter(|(_, b)| b.get(MIRROR).is_some_and(|m| m == UP))
        {
            v.up = true;
            v.ensemble |= bag.contains_key(ENSEMBLE);
            for (k, val) in bag {
                if let Some(h) = k.strip_prefix(MIRROR_PREFIX) {
                    v.real_token |= val != EMPTY && !val.is_empty();
                    if !wanted(h) {
                        continue;
                    }
                    // A real token beats `empty`; otherwise the first (smallest unit) wins.
                    match v.tokens.get(h) {
                        Some(existing) if existing != EMPTY => {}
                        Some(_) if val == EMPTY => {}
                        _ => {
                            v.tokens.insert(h.to_owned(), val.clone());
                        }
                    }
                } else if let Some(h) = k.strip_prefix(ANSWERS_PREFIX) {
                    if let Some(g) = parse_generation(val).filter(|_| wanted(h)) {
                        v.answers.entry(h.to_owned()).or_insert(g);
                    }
                } else if let Some(h) = k.strip_prefix(REQUEST_PREFIX) {
                    if let Some(g) = parse_generation(val).filter(|_| wanted(h)) {
                        v.requests.entry(h.to_owned()).or_insert(g);
                    }
                } else if k == MEMBERS && !v.members_published {
                    v.members_published = !val.is_empty();
                    if only.is_none() {
                        v.members = Some(parse_members(val));
                    }
                } else if k == HOSTS && hosts_raw.is_none() {
                    hosts_raw = Some(val);
                } else if k == COMMUNICATOR && v.communicator.is_none() {
                    v.communicator = Some(val.clone());
                }
            }
        }
        if let Some(raw) = hosts_raw {
            if let Some(c) = &v.communicator {
                v.communicator_related = Some(raw.split(',').any(|h| h == c));
            }
            if only.is_none() {
                v.hosts = Some(parse_members(raw));
            }
        }
        v
    }

    /// Whether any mirrored value is a real token, or a member list is published: a cluster
    /// exists somewhere.
    pub fn cluster_exists(&self) -> bool {
        self.real_token || self.members_published
    }

    /// The token for `host` that answers request generation `generation`, if any.
    pub fn token_for(&self, host: &str, generation: u64) -> Option<&str> {
        let t = self.tokens.get(host).filter(|t| *t != EMPTY && !t.is_empty())?;
        match self.answers.get(host) {
            Some(a) if *a == generation => Some(t),
            Some(_) => None,
            // A mirror without answers (the Python distributor, or a Python communicator's token):
            // good for a first request only.
            None => (generation == 1).then_some(t.as_str()),
        }
    }
}

/// The distributor units' bags, read whole or one key at a time: a hook's `Context` (a key
/// costs one `relation-get <key> <unit>`), or bags in memory.
pub trait MirrorSource {
    /// What a read can fail with.
    type Error;
    /// One key of `unit`'s bag.
    fn key(&mut self, unit: &UnitName, key: &str) -> Result<Option<String>, Self::Error>;
    /// `unit`'s whole bag.
    fn bag(&mut self, unit: &UnitName) -> Result<Databag, Self::Error>;
}

impl MirrorSource for &[(UnitName, Databag)] {
    type Error = std::convert::Infallible;
    fn key(&mut self, unit: &UnitName, key: &str) -> Result<Option<String>, Self::Error> {
        Ok(self
            .iter()
            .find(|(u, _)| u == unit)
            .and_then(|(_, b)| b.get(key).cloned()))
    }
    fn bag(&mut self, unit: &UnitName) -> Result<Databag, Self::Error> {
        Ok(self
            .iter()
            .find(|(u, _)| u == unit)
            .map(|(_, b)| b.clone())
            .unwrap_or_default())
    }
}

/// Which parts of a one-host view [`MirrorView::for_host_by_key`] reads beyond the host's own
/// keys (`mirror`, `ensemble`, `mirror-<host>`, `answers-<host>`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostNeeds {
    /// `communicator` and, if one is published, `hosts` ([`MirrorView::communicator_related`]).
    pub communicator: bool,
    /// The signs of a cluster ([`MirrorView::cluster_exists`]): `members`, and if no member list
    /// is published, every mirrored value (the whole bag: rare, a leader that may bootstrap).
    pub cluster_signs: bool,
}

impl MirrorView {
    /// The view one host needs, read key by key: a hook of a consumer unit reads a few keys of
    /// the distributor's bag instead of copying a bag that holds a key per joining host (and,
    /// mid-formation, up to [`MINT_BUDGET_BYTES`] of tokens), so a hook costs O(1), not O(N).
    ///
    /// It agrees with [`MirrorView::for_host`] on `up`, `ensemble`, the host's `tokens` and
    /// `answers`, and, when asked for in `needs`, on `communicator`, `communicator_related` and
    /// [`MirrorView::cluster_exists`]; it leaves `requests` empty (only the communicator's full
    /// view needs them).
    pub fn for_host_by_key<S: MirrorSource>(
        source: &mut S,
        units: &[UnitName],
        host: &str,
        needs: HostNeeds,
    ) -> Result<Self, S::Error> {
        let mut sorted: Vec<&UnitName> = units.iter().collect();
        sorted.sort();
        let mut v = Self::default();
        let mut up_units = Vec::new();
        let (tkey, akey) = (mirror_key(host), answers_key(host));
        for u in sorted {
            if source.key(u, MIRROR)?.as_deref() != Some(UP) {
                continue;
            }
            v.up = true;
            up_units.push(u);
            v.ensemble |= source.key(u, ENSEMBLE)?.is_some();
            if let Some(val) = source.key(u, &tkey)? {
                v.real_token |= val != EMPTY && !val.is_empty();
                // A real token beats `empty`; otherwise the first (smallest unit) wins.
                match v.tokens.get(host) {
                    Some(existing) if existing != EMPTY => {}
                    Some(_) if val == EMPTY => {}
                    _ => {
                        v.tokens.insert(host.to_owned(), val);
                    }
                }
            }
            if !v.answers.contains_key(host) {
                if let Some(g) = source.key(u, &akey)?.as_deref().and_then(parse_generation) {
                    v.answers.insert(host.to_owned(), g);
                }
            }
        }
        if needs.communicator {
            for u in &up_units {
                if v.communicator.is_none() {
                    v.communicator = source.key(u, COMMUNICATOR)?;
                }
            }
            // `hosts` (a name per consumer unit) only if there is a communicator to look for.
            if let Some(c) = &v.communicator {
                for u in &up_units {
                    if let Some(raw) = source.key(u, HOSTS)? {
                        v.communicator_related = Some(raw.split(',').any(|h| h == c));
                        break;
                    }
                }
            }
        }
        if needs.cluster_signs {
            for u in &up_units {
                if !v.members_published {
                    v.members_published = source.key(u, MEMBERS)?.is_some_and(|m| !m.is_empty());
                }
            }
            if !v.members_published && !v.real_token {
                for u in &up_units {
                    let bag = source.bag(u)?;
                    v.real_token |= bag
                        .iter()
                        .any(|(k, val)| k.starts_with(MIRROR_PREFIX) && val != EMPTY && !val.is_empty());
                }
            }
        }
        Ok(v)
    }
}

/// The unit's situation at the start of a hook (its `Debug` output redacts the bags).
#[derive(Clone)]
pub struct ConsumerInput<'a> {
    /// This machine's hostname.
    pub hostname: &'a str,
    /// Whether this unit is its application's leader.
    pub is_leader: bool,
    /// This application's name.
    pub app: &'a str,
    /// This unit's bag in the relation.
    pub own: &'a Databag,
    /// The distributor's mirror.
    pub mirror: &'a MirrorView,
    /// The distributor's application bag.
    pub distributor_app: &'a Databag,
    /// `list -f json` on this host.
    pub list: &'a Result<Vec<Member>, ListError>,
}

/// The first decision of a hook (its `Debug` output never shows the token).
#[derive(Clone, PartialEq, Eq)]
pub enum Decision {
    /// Create the cluster.
    Bootstrap,
    /// Join with this token, answering this request generation.
    Join {
        /// The token (never logged).
        token: String,
        /// The request generation it answers.
        generation: u64,
    },
    /// Not in the cluster yet; wait for a token (or for the right to bootstrap).
    Wait {
        /// Why, for the unit's status.
        reason: &'static str,
    },
    /// In the cluster.
    InCluster,
}

/// Whether this unit may bootstrap: the leader of the bootstrap application, with the mirror up
/// and no sign of a cluster.
pub fn may_bootstrap(input: &ConsumerInput<'_>) -> bool {
    let allowed = match input.distributor_app.get(BOOTSTRAP_APP) {
        Some(app) => app == input.app,
        // A distributor before LIBPATCH 7 names no bootstrap application: any leader may.
        None => !input.mirror.ensemble,
    };
    input.is_leader && allowed && input.mirror.up && !input.mirror.cluster_exists()
}

/// Whether this hook must look at the cluster (`list -f json`, one process that lists every
/// member with its certificate, so it is the costliest thing a hook does).
///
/// Every hook that is not a relation hook looks (update-status, the retry event, start-up), so
/// nothing is missed for longer than one update-status interval. A relation hook looks only
/// when it may act: a unit not known to be in the cluster when a token for it is mirrored or it
/// may bootstrap; a unit in the cluster when it is the communicator, or when no communicator is
/// published or the published one's host has left. Most of the N wake-ups that each write to
/// the distributor's bag causes are then cheap.
pub fn needs_list(relation_hook: bool, input: &ConsumerInput<'_>) -> bool {
    if !relation_hook {
        return true;
    }
    let joined = input.own.get(JOINED).is_some_and(|v| v == "true");
    if !joined {
        let generation = current_generation(input.own);
        return input.mirror.token_for(input.hostname, generation).is_some() || may_bootstrap(input);
    }
    if input.own.get(MIRROR).is_some_and(|m| m == UP) {
        return true;
    }
    input.mirror.communicator_related != Some(true)
}

/// The current request generation in this unit's bag (1 if none yet).
pub fn current_generation(own: &Databag) -> u64 {
    own.get(TOKEN_REQUEST)
        .and_then(|g| parse_generation(g))
        .unwrap_or(1)
}

/// Decides what this hook does first.
pub fn decide(input: &ConsumerInput<'_>) -> Decision {
    if let Ok(members) = input.list {
        if members.iter().any(|m| m.name == input.hostname) {
            return Decision::InCluster;
        }
    }
    if !input.mirror.up {
        return Decision::Wait {
            reason: "waiting for the token distributor's mirror",
        };
    }
    let generation = current_generation(input.own);
    if let Some(token) = input.mirror.token_for(input.hostname, generation) {
        return Decision::Join {
            token: token.to_owned(),
            generation,
        };
    }
    if may_bootstrap(input) {
        return Decision::Bootstrap;
    }
    Decision::Wait {
        reason: "waiting for a join token",
    }
}

/// What the communicator does this hook (its `Debug` output redacts the names, which come from
/// the workload's output).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CommunicatorPlan {
    /// Whether this unit is the communicator.
    pub communicator: bool,
    /// Members still PENDING: the communicator waits.
    pub pending: bool,
    /// This unit is the smallest ONLINE voter: the communicator once no member is PENDING (it
    /// looks again soon).
    pub would_communicate: bool,
    /// Hosts to mint a token for, with the request generation it answers (`None` for a host
    /// whose unit runs the Python library).
    pub mint: Vec<(String, Option<u64>)>,
    /// Members to remove first: (name, force). A stale member (a re-provisioned machine) before
    /// it gets a new token, or a member whose unit has departed.
    pub remove: Vec<(String, bool)>,
    /// The member list to publish.
    pub members: Vec<String>,
}

/// The smallest name among ONLINE voters (by equality, weakness #1): the communicator, once no
/// member is PENDING.
pub fn smallest_online_voter(members: &[Member]) -> Option<&str> {
    members
        .iter()
        .filter(|m| m.is_online_voter())
        .map(|m| m.name.as_str())
        .min()
}

/// Decides the communicator's work from one `list` and the mirror.
///
/// The communicator is the smallest name among ONLINE voters (by equality, weakness #1); while
/// any member is PENDING nobody is (the hook returns and looks again soon). It never mints for
/// itself (weakness #14). It removes at most one member per hook, only one that is not ONLINE
/// and only while the cluster keeps a quorum of voters: a stale member that asked for a new
/// token, or (with an ensemble mirror, which drops departed hosts) a member no unit claims.
pub fn communicator_plan(
    hostname: &str,
    members: &[Member],
    mirror: &MirrorView,
    own: &Databag,
) -> CommunicatorPlan {
    let mut plan = CommunicatorPlan {
        members: {
            let mut names: Vec<String> = members.iter().map(|m| m.name.clone()).collect();
            names.sort();
            names
        },
        ..Default::default()
    };
    plan.would_communicate = smallest_online_voter(members) == Some(hostname);
    if members.iter().any(|m| m.role == Role::Pending) {
        plan.pending = true;
        return plan;
    }
    if !plan.would_communicate {
        return plan;
    }
    plan.communicator = true;
    let member_names: BTreeSet<&str> = members.iter().map(|m| m.name.as_str()).collect();
    let voters = members.iter().filter(|m| m.role == Role::Voter).count();
    let online_voters = members.iter().filter(|m| m.is_online_voter()).count();
    let quorum = online_voters * 2 > voters;
    for (host, value) in &mirror.tokens {
        if host == hostname || !cli::valid_hostname(host) {
            continue;
        }
        let request = mirror.requests.get(host).copied();
        let needs = match request {
            Some(g) => value == EMPTY || mirror.answers.get(host) != Some(&g),
            None => value == EMPTY,
        };
        if !needs {
            continue;
        }
        // Already minted for this generation and waiting for the mirror to copy it.
        let minted = own.get(&mirror_key(host)).is_some_and(|t| t != EMPTY)
            && own.get(&answers_key(host)).and_then(|a| parse_generation(a)) == request;
        if minted {
            continue;
        }
        if member_names.contains(host.as_str()) {
            // The name is a member, yet its unit asks for a token. Either the unit has just
            // joined and its acknowledgement has not reached the mirror yet (the member is
            // ONLINE: wait), or the machine lost its state, re-provisioned with the same
            // hostname (the old member is not ONLINE: remove it first, then mint).
            let stale = members.iter().any(|m| m.name == *host && !m.is_online());
            if stale && request.is_some() && plan.remove.is_empty() && quorum {
                plan.remove.push((host.clone(), true));
            }
            continue;
        }
        plan.mint.push((host.clone(), request));
    }
    // Mint in waves: at most MINT_BATCH tokens outstanding (minted, not yet joined), and at
    // most MINT_BUDGET_BYTES of them. A token lists every member's address, so it grows with
    // the cluster; minting for every joining host at once would put O(N²) bytes in the mirror
    // (past Juju's 16 MiB per bag at a few thousand units) and make every consumer hook read it.
    let outstanding: Vec<&String> = own
        .iter()
        .filter(|(k, v)| k.starts_with(MIRROR_PREFIX) && *v != EMPTY)
        .map(|(_, v)| v)
        .collect();
    let per_token = outstanding.iter().map(|t| t.len()).max().unwrap_or(0).max(1);
    let by_bytes = MINT_BUDGET_BYTES.saturating_sub(outstanding.iter().map(|t| t.len()).sum()) / per_token;
    let room = MINT_BATCH.saturating_sub(outstanding.len()).min(by_bytes.max(1));
    plan.mint.truncate(room);

    if let Some(hosts) = mirror.hosts.as_ref().filter(|_| plan.remove.is_empty() && quorum) {
        // Departed units: an ensemble mirror lists the host of every consumer unit related now;
        // a member whose host is not listed and that is not ONLINE is gone.
        let known: BTreeSet<&str> = hosts.iter().map(String::as_str).collect();
        if let Some(m) = members
            .iter()
            .find(|m| m.name != hostname && !m.is_online() && !known.contains(m.name.as_str()))
        {
            plan.remove.push((m.name.clone(), true));
        }
    }
    plan
}

/// Errors of the consumer.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    /// The model refused.
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// The consumer's stored bookkeeping (survives between hooks; rolled back with a failed hook).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Bookkeeping {
    /// Whether this unit bootstrapped the cluster it is in.
    bootstrapper: bool,
}

/// A token minted and not yet seen consumed, kept in [`TOKEN_CACHE_FILE`] (its `Debug`
/// output never shows the token).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Minted {
    token: String,
    generation: Option<u64>,
    /// The cluster that minted it (its certificate's fingerprint, read from the token).
    #[serde(default)]
    cluster: Option<String>,
}

/// Who a [`TOKEN_CACHE_FILE`] belongs to: the unit, its relation to the distributor, and the
/// distributor application. Juju never reuses a relation id in a model, so an application
/// removed and deployed again onto the same machines has another owner.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct CacheOwner {
    unit: String,
    relation: u32,
    distributor: String,
}

/// The content of [`TOKEN_CACHE_FILE`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct TokenCache {
    owner: CacheOwner,
    tokens: BTreeMap<String, Minted>,
}

impl TokenCache {
    /// The cached token for `host` answering `generation`, if it was minted by `cluster` (when
    /// that is known).
    fn reusable(&self, host: &str, generation: Option<u64>, cluster: Option<&str>) -> Option<&Minted> {
        self.tokens.get(host).filter(|m| {
            m.generation == generation
                && match (cluster, m.cluster.as_deref()) {
                    (Some(c), Some(mc)) => c == mc,
                    _ => true,
                }
        })
    }
}

/// The transient failures of joins with the token answering `generation`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct JoinFailures {
    generation: u64,
    count: u32,
}

/// The consumer, over a charm's `Context`.
///
/// ```
/// use microcluster::Consumer;
/// let consumer = Consumer::new("cluster", ["microovn", "cluster"]).expect("a command");
/// ```
#[derive(Debug, Clone)]
pub struct Consumer {
    endpoint: String,
    command: ClusterCommand,
    bootstrap_args: Vec<String>,
    join_args: Vec<String>,
}

impl Consumer {
    /// A consumer on `endpoint` driving the workload's cluster command (`microovn cluster`).
    pub fn new<I, S>(endpoint: &str, command: I) -> Option<Self>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Some(Self {
            endpoint: endpoint.to_owned(),
            command: ClusterCommand::new(command)?,
            bootstrap_args: Vec::new(),
            join_args: Vec::new(),
        })
    }

    /// Extra arguments for `bootstrap`.
    pub fn bootstrap_args(mut self, args: Vec<String>) -> Self {
        self.bootstrap_args = args;
        self
    }

    /// Extra arguments for `join`.
    pub fn join_args(mut self, args: Vec<String>) -> Self {
        self.join_args = args;
        self
    }

    /// Mints tokens with this lifetime instead of the workload's default (3 h for microovn).
    pub fn token_timeout(mut self, t: Duration) -> Self {
        self.command = self.command.with_token_timeout(t);
        self
    }

    /// The cluster command builder.
    pub fn command(&self) -> &ClusterCommand {
        &self.command
    }

    /// Whether this unit is in the cluster, asked of the workload (`list` succeeds and names
    /// this host): crash-safe, unlike a stored flag.
    pub fn is_in_cluster(&self, ctx: &mut Context<'_>) -> Result<bool, ConsumerError> {
        let host = ctx.hostname()?;
        let out = ctx.run(&self.command.list())?;
        Ok(cli::list_result(&out).is_ok_and(|m| m.iter().any(|m| m.name == host)))
    }

    fn run_logged(
        &self,
        ctx: &mut Context<'_>,
        cmd: &charm::WorkloadCommand,
        secret: &str,
    ) -> Result<charm::CommandOutput, ConsumerError> {
        let out = ctx.run(cmd)?;
        if !out.success() {
            // The command line and its standard error are both outside text (a member name
            // from `list`, a token the workload echoes): one redacted, bounded line.
            let line = format!("`{cmd}` failed (exit {:?}): {}", out.code, out.stderr.trim());
            ctx.warn(cli::redact_secret(&line, secret));
        }
        Ok(out)
    }

    /// Handles any event: the consumer looks at the relation in every hook (it is cheap: one
    /// `list`, one read of each distributor unit) and returns what happened.
    pub fn handle(&self, ctx: &mut Context<'_>, event: &Event) -> Result<Vec<ConsumerEvent>, ConsumerError> {
        let mut events = Vec::new();
        if let Event::Remove = event {
            return self.on_remove(ctx).map(|_| events);
        }
        if let Event::RelationBroken(r) = event {
            if r.endpoint == self.endpoint {
                // The tokens were minted for this relation's consumers: they leave with it.
                self.clear_cache(ctx)?;
            }
        }
        let Some(rel) = ctx.relation_on(&self.endpoint)? else {
            ctx.set_status(Status::blocked("waiting for the token distributor relation"))?;
            return Ok(events);
        };
        if let Event::RelationBroken(r) = event {
            if r.relation_id == rel.id {
                return Ok(events);
            }
        }
        let id = rel.id;
        let hostname = ctx.hostname()?;
        let own = ctx.unit_data(id)?.clone();
        let distributor_app = ctx.remote_app_data(id)?;
        let is_leader = ctx.is_leader()?;
        let app = ctx.app().to_string();
        // Read only the keys this hook needs: the distributor's bag holds a key per joining host
        // and the tokens being used, and every consumer hook would copy it.
        let relation_hook = event.relation().is_some();
        let needs = HostNeeds {
            communicator: relation_hook
                && own.get(JOINED).is_some_and(|v| v == "true")
                && own.get(MIRROR).is_none_or(|m| m != UP),
            cluster_signs: is_leader && distributor_app.get(BOOTSTRAP_APP).is_none_or(|a| *a == app),
        };
        let mirror =
            MirrorView::for_host_by_key(&mut ContextSource { ctx, id }, &rel.units, &hostname, needs)?;
        let not_listed: Result<Vec<Member>, ListError> = Err(ListError::NotAsked);
        let mut input = ConsumerInput {
            hostname: &hostname,
            is_leader,
            app: &app,
            own: &own,
            mirror: &mirror,
            distributor_app: &distributor_app,
            list: &not_listed,
        };
        let mut writes: BTreeMap<String, Option<String>> = BTreeMap::new();
        if own.get(HOSTNAME) != Some(&hostname) {
            writes.insert(HOSTNAME.into(), Some(hostname.clone()));
        }
        if !needs_list(relation_hook, &input) {
            if own.get(JOINED).is_some_and(|v| v == "true") {
                ctx.set_status(Status::active("in the cluster"))?;
            } else {
                writes.insert(TOKEN_REQUEST.into(), Some(current_generation(&own).to_string()));
                writes.insert(MIRROR.into(), Some(DOWN.into()));
                ctx.set_status(Status::waiting("waiting for a join token"))?;
            }
            self.write(ctx, id, writes)?;
            return Ok(events);
        }
        let list_out = ctx.run(&self.command.list())?;
        let list = cli::list_result(&list_out);
        if let Err(ListError::Garbage(e)) = &list {
            ctx.warn(cli::redact(&format!(
                "`{}` printed garbage: {e}",
                self.command.list()
            )));
        }
        input.list = &list;
        let members: Vec<Member> = match decide(&input) {
            Decision::InCluster => list.clone().unwrap_or_default(),
            Decision::Bootstrap => {
                // Claim the bootstrap first, in Juju's leader settings: written at once and kept
                // even if this hook then dies, so a leader elected meanwhile does not create a
                // second cluster. Another unit's claim stands while its host is still related.
                if ctx.juju_version().has_leader_settings() {
                    let now = ctx
                        .now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs())
                        .unwrap_or(0);
                    if let Some(claim) = ctx.leader_get(BOOTSTRAP_CLAIM)?.filter(|c| *c != hostname) {
                        let at: u64 = ctx
                            .leader_get(BOOTSTRAP_CLAIM_AT)?
                            .and_then(|t| t.parse().ok())
                            .unwrap_or(0);
                        let full = MirrorView::from_bags(&whole_bags(ctx, id, &rel.units)?);
                        let related = full.hosts.as_ref().is_none_or(|h| h.contains(&claim));
                        // A claim without a cluster to show for it after a while is void (its
                        // bootstrap failed, or its unit is gone); clocks need only agree roughly.
                        let fresh = now.saturating_sub(at) < BOOTSTRAP_CLAIM_TIMEOUT.as_secs();
                        if related && fresh {
                            ctx.set_status(Status::waiting(format!(
                                "waiting for {claim} to bootstrap the cluster"
                            )))?;
                            writes.insert(TOKEN_REQUEST.into(), Some(current_generation(&own).to_string()));
                            ctx.schedule(RETRY_EVENT, NAME_TAKEN_RETRY)?;
                            self.write(ctx, id, writes)?;
                            return Ok(events);
                        }
                    }
                    ctx.leader_set([
                        (BOOTSTRAP_CLAIM.to_owned(), Some(hostname.clone())),
                        (BOOTSTRAP_CLAIM_AT.to_owned(), Some(now.to_string())),
                    ])?;
                }
                events.push(ConsumerEvent::PreBootstrap);
                ctx.set_status(Status::maintenance("bootstrapping the cluster"))?;
                let out = self.run_logged(ctx, &self.command.bootstrap(&self.bootstrap_args), "")?;
                // Exit 0 is not proof: ask the cluster (a rare second `list`).
                let members = match out.success() {
                    true => self.members_including(ctx, &hostname)?,
                    false => None,
                };
                let Some(members) = members else {
                    ctx.set_status(Status::blocked("cannot bootstrap the cluster; see the log"))?;
                    ctx.schedule(RETRY_EVENT, RETRY_DELAY)?;
                    self.write(ctx, id, writes)?;
                    return Ok(events);
                };
                ctx.set_stored(STORED_KEY, &Bookkeeping { bootstrapper: true })?;
                events.push(ConsumerEvent::Bootstrapped);
                events.push(ConsumerEvent::Joined { bootstrapper: true });
                members
            }
            Decision::Join { token, generation } => {
                events.push(ConsumerEvent::PreJoin);
                ctx.set_status(Status::maintenance("joining the cluster"))?;
                let out = self.run_logged(ctx, &self.command.join(&token, &self.join_args), &token)?;
                // Exit 0 is not proof: ask the cluster (one more `list`, once per join).
                let joined = out.success() && self.members_including(ctx, &hostname)?.is_some();
                if out.success() && !joined {
                    ctx.warn("`join` exited 0 but the cluster does not list this host; trying again soon");
                    writes.insert(TOKEN_REQUEST.into(), Some(generation.to_string()));
                    ctx.set_status(Status::waiting("joining failed; trying again soon"))?;
                    ctx.schedule(RETRY_EVENT, RETRY_DELAY)?;
                    self.write(ctx, id, writes)?;
                    return Ok(events);
                }
                if joined {
                    ctx.remove_stored(JOIN_FAILURES_KEY);
                    ctx.set_stored(STORED_KEY, &Bookkeeping { bootstrapper: false })?;
                    events.push(ConsumerEvent::Joined { bootstrapper: false });
                    writes.insert(TOKEN_REQUEST.into(), None);
                    writes.insert(JOINED.into(), Some("true".into()));
                    writes.insert(MIRROR.into(), Some(DOWN.into()));
                    ctx.set_status(Status::active("joined the cluster"))?;
                    self.write(ctx, id, writes)?;
                    return Ok(events);
                }
                let mut failures: JoinFailures = ctx.stored(JOIN_FAILURES_KEY).unwrap_or_default();
                if failures.generation != generation {
                    failures = JoinFailures { generation, count: 0 };
                }
                failures.count = failures.count.saturating_add(1);
                let class = cli::classify_join_failure(&out.stderr);
                let stale = match class {
                    JoinFailure::StaleToken => {
                        Some("it does not fit the cluster (expired, used, or another cluster's)")
                    }
                    JoinFailure::Transient if failures.count >= MAX_JOIN_ATTEMPTS => {
                        Some("joining with it failed too many times")
                    }
                    JoinFailure::Transient => None,
                };
                match stale {
                    Some(why) => {
                        // A generation past the largest starts again at 1 (never a panic).
                        let next = generation.checked_add(1).unwrap_or(1);
                        ctx.info(cli::redact(&format!(
                            "the join token for {hostname} is stale ({why}); asking for a fresh one ({next})"
                        )));
                        ctx.remove_stored(JOIN_FAILURES_KEY);
                        writes.insert(TOKEN_REQUEST.into(), Some(next.to_string()));
                        ctx.set_status(Status::waiting(format!(
                            "waiting for a fresh join token: the last one was stale ({why})"
                        )))?;
                    }
                    None => {
                        ctx.set_stored(JOIN_FAILURES_KEY, &failures)?;
                        writes.insert(TOKEN_REQUEST.into(), Some(generation.to_string()));
                        ctx.set_status(Status::waiting(format!(
                            "joining failed ({} of {MAX_JOIN_ATTEMPTS} tries with this token); trying again soon",
                            failures.count
                        )))?;
                        ctx.schedule(RETRY_EVENT, RETRY_DELAY)?;
                    }
                }
                writes.insert(JOINED.into(), None);
                self.write(ctx, id, writes)?;
                return Ok(events);
            }
            Decision::Wait { reason } => {
                writes.insert(TOKEN_REQUEST.into(), Some(current_generation(&own).to_string()));
                writes.insert(JOINED.into(), None);
                writes.insert(MIRROR.into(), Some(DOWN.into()));
                ctx.set_status(Status::waiting(reason))?;
                self.write(ctx, id, writes)?;
                return Ok(events);
            }
        };

        // In the cluster.
        writes.insert(TOKEN_REQUEST.into(), None);
        writes.insert(JOINED.into(), Some("true".into()));
        // The communicator needs the whole mirror; other units stop at the plan's first test.
        let mirror = if smallest_online_voter(&members) == Some(hostname.as_str()) {
            MirrorView::from_bags(&whole_bags(ctx, id, &rel.units)?)
        } else {
            MirrorView::default()
        };
        let plan = communicator_plan(&hostname, &members, &mirror, &own);

        if plan.pending && plan.would_communicate {
            ctx.schedule(RETRY_EVENT, RETRY_DELAY)?;
        }
        if !plan.communicator {
            if !plan.pending {
                writes.insert(MIRROR.into(), Some(DOWN.into()));
                for k in own.keys().filter(|k| is_communicator_key(k)) {
                    writes.insert(k.clone(), None);
                }
            }
            ctx.set_status(Status::active(if plan.pending {
                "in the cluster (members pending)"
            } else {
                "in the cluster"
            }))?;
            self.write(ctx, id, writes)?;
            return Ok(events);
        }
        writes.insert(MIRROR.into(), Some(UP.into()));
        writes.insert(MEMBERS.into(), Some(plan.members.join(",")));
        writes.insert(COMMUNICATOR.into(), Some(hostname.clone()));
        for (name, force) in &plan.remove {
            ctx.info(cli::redact(&format!(
                "removing cluster member {name}: its machine left or lost its state"
            )));
            self.run_logged(ctx, &self.command.remove(name, *force), "")?;
        }
        let mut names_held = 0usize;
        let owner = CacheOwner {
            unit: ctx.unit().to_string(),
            relation: id.0,
            distributor: rel.app.as_ref().map(|a| a.to_string()).unwrap_or_default(),
        };
        let mut cache = self.read_cache(ctx, &owner)?;
        // The cluster this unit mints for, as far as its published tokens tell.
        let mut cluster: Option<String> = own
            .iter()
            .filter(|(k, v)| k.starts_with(MIRROR_PREFIX) && *v != EMPTY)
            .find_map(|(_, v)| cli::token_fingerprint(v));

        let mut cache_dirty = false;
        for (host, generation) in &plan.mint {
            // Always ask the cluster first: a cached token is used only when the cluster says
            // the name still holds one (a token minted in a hook that then failed). A cache
            // from another life of this machine is never published: the new cluster knows no
            // token for that name, so `add` mints a fresh one.
            let add = self.command.add(host);
            let out = ctx.run(&add)?;
            let token = if out.success() {
                let token = out.stdout.trim().to_owned();
                if token.is_empty() || token.contains(char::is_whitespace) {
                    ctx.warn(cli::redact(&format!("`{add}` printed no usable token")));
                    continue;
                }
                let minted_by = cli::token_fingerprint(&token);
                if cluster.is_none() {
                    cluster.clone_from(&minted_by);
                }
                cache.tokens.insert(
                    host.clone(),
                    Minted {
                        token: token.clone(),
                        generation: *generation,
                        cluster: minted_by,
                    },
                );
                // Keep it outside the hook's transaction at once.
                self.write_cache(ctx, &cache)?;
                token
            } else if let Some(m) = cli::add_name_taken(&out.stderr)
                .then(|| cache.reusable(host, *generation, cluster.as_deref()))
                .flatten()
            {
                m.token.clone()
            } else {
                // "name is taken" for a host that is no member, and no token of ours for it: a
                // token minted in a hook that then failed, whose value is lost, or one this
                // host's unit gave up as stale. It expires (ensemble mints with a short
                // lifetime); look again until it has.
                let line = format!("`{add}` failed (exit {:?}): {}", out.code, out.stderr.trim());
                ctx.warn(cli::redact(&line));
                names_held += 1;
                continue;
            };
            events.push(ConsumerEvent::TokenGenerated { host: host.clone() });
            writes.insert(mirror_key(host), Some(token));
            match generation {
                Some(g) => writes.insert(answers_key(host), Some(g.to_string())),
                None => writes.insert(answers_key(host), None),
            };
        }
        // Withdraw tokens the mirror no longer needs (consumed, departed, superseded).
        let minted_now: BTreeSet<&str> = plan.mint.iter().map(|(h, _)| h.as_str()).collect();
        for k in own.keys() {
            if let Some(h) = k.strip_prefix(MIRROR_PREFIX) {
                let needed = mirror
                    .tokens
                    .get(h)
                    .is_some_and(|v| v == EMPTY || Some(v) == own.get(k))
                    && !plan.members.iter().any(|m| m == h);
                if !needed && !minted_now.contains(h) {
                    writes.insert(k.clone(), None);
                    writes.insert(answers_key(h), None);
                    if cache.tokens.remove(h).is_some() {
                        cache_dirty = true;
                    }
                }
            }
        }
        // Forget cached tokens for hosts the mirror no longer asks about (joined, departed):
        // the cache stays as small as the requests in flight.
        let before = cache.tokens.len();
        cache.tokens.retain(|h, _| {
            minted_now.contains(h.as_str())
                || own.contains_key(&mirror_key(h))
                || mirror.tokens.get(h).is_some_and(|v| v == EMPTY)
        });
        cache_dirty |= cache.tokens.len() != before;
        if cache_dirty {
            self.write_cache(ctx, &cache)?;
        }
        if names_held > 0 {
            ctx.schedule(RETRY_EVENT, NAME_TAKEN_RETRY)?;
        }

        let queued = plan.mint.len() - names_held.min(plan.mint.len());
        let mut status = if queued > 0 {
            format!("in the cluster; communicator, minted {queued} token(s)")
        } else {
            "in the cluster; communicator".to_owned()
        };
        if names_held > 0 {
            // Say what those hosts wait for: `add` refused their names.
            status.push_str(&format!(
                "; {names_held} host(s) wait for `add` (name taken by an unused token until it expires)"
            ));
        }
        ctx.set_status(Status::active(status))?;
        self.write(ctx, id, writes)?;
        Ok(events)
    }

    /// `list` again; the members if they include `host`.
    fn members_including(
        &self,
        ctx: &mut Context<'_>,
        host: &str,
    ) -> Result<Option<Vec<Member>>, ConsumerError> {
        let out = ctx.run(&self.command.list())?;
        Ok(cli::list_result(&out)
            .ok()
            .filter(|m| m.iter().any(|m| m.name == host)))
    }

    fn write(
        &self,
        ctx: &mut Context<'_>,
        id: RelationId,
        writes: BTreeMap<String, Option<String>>,
    ) -> Result<(), ConsumerError> {
        let own = ctx.unit_data(id)?.clone();
        let changes: Vec<(String, Option<String>)> = writes
            .into_iter()
            .filter(|(k, v)| own.get(k) != v.as_ref())
            .collect();
        if !changes.is_empty() {
            let owner = BagOwner::Unit(ctx.unit().clone());
            ctx.write(id, &owner, changes)?;
        }
        Ok(())
    }

    /// The cache, if `owner`'s; a cache of another owner (another life of this machine) or
    /// that cannot be read is discarded with one log line.
    fn read_cache(&self, ctx: &mut Context<'_>, owner: &CacheOwner) -> Result<TokenCache, ConsumerError> {
        let fresh = TokenCache {
            owner: owner.clone(),
            tokens: BTreeMap::new(),
        };
        let bytes = match ctx.read_file(TOKEN_CACHE_FILE)? {
            Some(b) if !b.is_empty() => b,
            _ => return Ok(fresh),
        };
        match serde_json::from_slice::<TokenCache>(&bytes) {
            Ok(cache) if cache.owner == *owner => Ok(cache),
            Ok(other) => {
                ctx.info(cli::redact(&format!(
                    "discarding {} cached token(s) minted by another deployment on this machine \
                     (unit {}, relation {}, distributor {})",
                    other.tokens.len(),
                    other.owner.unit,
                    other.owner.relation,
                    other.owner.distributor
                )));
                Ok(fresh)
            }
            Err(_) => {
                ctx.info("discarding an unreadable or outdated token cache");
                Ok(fresh)
            }
        }
    }

    fn write_cache(&self, ctx: &mut Context<'_>, cache: &TokenCache) -> Result<(), ConsumerError> {
        let bytes = serde_json::to_vec(cache).unwrap_or_default();
        ctx.write_file(TOKEN_CACHE_FILE, &bytes, 0o600)?;
        Ok(())
    }

    fn on_remove(&self, ctx: &mut Context<'_>) -> Result<(), ConsumerError> {
        // The cache leaves with the unit, whatever happens next.
        self.clear_cache(ctx)?;
        let host = ctx.hostname()?;
        if self.is_in_cluster(ctx)? {
            self.run_logged(ctx, &self.command.remove(&host, false), "")?;
        }
        Ok(())
    }

    /// Empties [`TOKEN_CACHE_FILE`] if it holds anything (the charm API writes files, it does
    /// not delete them; an empty file is read as no cache).
    fn clear_cache(&self, ctx: &mut Context<'_>) -> Result<(), ConsumerError> {
        if ctx.read_file(TOKEN_CACHE_FILE)?.is_some_and(|b| !b.is_empty()) {
            ctx.write_file(TOKEN_CACHE_FILE, b"", 0o600)?;
        }
        Ok(())
    }
}

/// A hook's `Context` as a [`MirrorSource`] for one relation.
struct ContextSource<'c, 'a> {
    ctx: &'c mut Context<'a>,
    id: RelationId,
}

impl MirrorSource for ContextSource<'_, '_> {
    type Error = ModelError;
    fn key(&mut self, unit: &UnitName, key: &str) -> Result<Option<String>, ModelError> {
        self.ctx.data_key(self.id, &BagOwner::Unit(unit.clone()), key)
    }
    fn bag(&mut self, unit: &UnitName) -> Result<Databag, ModelError> {
        Ok(self.ctx.data(self.id, &BagOwner::Unit(unit.clone()))?.clone())
    }
}

/// Every distributor unit's whole bag.
fn whole_bags(
    ctx: &mut Context<'_>,
    id: RelationId,
    units: &[UnitName],
) -> Result<Vec<(UnitName, Databag)>, ModelError> {
    units
        .iter()
        .map(|u| Ok((u.clone(), ctx.data(id, &BagOwner::Unit(u.clone()))?.clone())))
        .collect()
}

impl std::fmt::Debug for MirrorView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redact_all = |v: &Option<Vec<String>>| {
            v.as_ref()
                .map(|v| v.iter().map(|s| cli::redact(s)).collect::<Vec<_>>())
        };
        f.debug_struct("MirrorView")
            .field("up", &self.up)
            .field("ensemble", &self.ensemble)
            .field("tokens", &RedactedMap(&self.tokens))
            .field("answers", &RedactedMap(&self.answers))
            .field("requests", &RedactedMap(&self.requests))
            .field("members", &redact_all(&self.members))
            .field("hosts", &redact_all(&self.hosts))
            .field("communicator", &self.communicator.as_deref().map(Redacted))
            .field("real_token", &self.real_token)
            .field("members_published", &self.members_published)
            .field("communicator_related", &self.communicator_related)
            .finish()
    }
}

impl std::fmt::Debug for ConsumerInput<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerInput")
            .field("hostname", &Redacted(self.hostname))
            .field("is_leader", &self.is_leader)
            .field("app", &self.app)
            .field("own", &RedactedMap(self.own))
            .field("mirror", self.mirror)
            .field("distributor_app", &RedactedMap(self.distributor_app))
            .field("list", self.list)
            .finish()
    }
}

impl std::fmt::Debug for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bootstrap => f.write_str("Bootstrap"),
            Self::Join { token: _, generation } => f
                .debug_struct("Join")
                .field("token", &cli::REDACTED)
                .field("generation", generation)
                .finish(),
            Self::Wait { reason } => f.debug_struct("Wait").field("reason", reason).finish(),
            Self::InCluster => f.write_str("InCluster"),
        }
    }
}

impl std::fmt::Debug for CommunicatorPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = |v: &[String]| v.iter().map(|s| cli::redact(s)).collect::<Vec<_>>();
        let mint: Vec<(String, Option<u64>)> = self.mint.iter().map(|(h, g)| (cli::redact(h), *g)).collect();
        let remove: Vec<(String, bool)> = self
            .remove
            .iter()
            .map(|(h, force)| (cli::redact(h), *force))
            .collect();
        f.debug_struct("CommunicatorPlan")
            .field("communicator", &self.communicator)
            .field("pending", &self.pending)
            .field("would_communicate", &self.would_communicate)
            .field("mint", &mint)
            .field("remove", &remove)
            .field("members", &names(&self.members))
            .finish()
    }
}

impl std::fmt::Debug for Minted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Minted")
            .field("token", &cli::REDACTED)
            .field("generation", &self.generation)
            .finish()
    }
}

fn is_communicator_key(k: &str) -> bool {
    k.starts_with(MIRROR_PREFIX) || k.starts_with(ANSWERS_PREFIX) || k == MEMBERS || k == COMMUNICATOR
}

#[cfg(test)]
mod tests {
    use super::*;
    use charm::testing::bag;

    fn m(name: &str, role: Role, status: &str) -> Member {
        Member {
            name: name.into(),
            role,
            status: status.into(),
        }
    }

    fn mirror(pairs: &[(&str, &str)]) -> MirrorView {
        MirrorView::from_bags(&[(UnitName::parse("td/0").unwrap(), bag(pairs))])
    }

    #[test]
    fn communicator_is_the_smallest_online_voter_by_equality() {
        let members = [
            m("b", Role::Voter, "ONLINE"),
            m("a", Role::Voter, "UNREACHABLE"),
            m("c", Role::Voter, "ONLINE"),
        ];
        let v = mirror(&[("mirror", "up")]);
        assert!(communicator_plan("b", &members, &v, &Databag::new()).communicator);
        assert!(!communicator_plan("c", &members, &v, &Databag::new()).communicator);
        let odd = [
            m("a", Role::Other("vote".into()), "ONLINE"),
            m("b", Role::Voter, "ONLINE"),
        ];
        assert!(communicator_plan("b", &odd, &v, &Databag::new()).communicator);
    }

    #[test]
    fn pending_members_mean_try_again_soon() {
        let members = [m("a", Role::Voter, "ONLINE"), m("b", Role::Pending, "ONLINE")];
        let p = communicator_plan(
            "a",
            &members,
            &mirror(&[("mirror", "up"), ("mirror-c", "empty")]),
            &Databag::new(),
        );
        assert!(p.pending && !p.communicator && p.mint.is_empty());
    }

    #[test]
    fn never_mints_for_itself_and_mints_for_requests() {
        let members = [m("a", Role::Voter, "ONLINE")];
        let v = mirror(&[
            ("mirror", "up"),
            ("ensemble", "1"),
            ("mirror-a", "empty"),
            ("mirror-b", "empty"),
            ("request-b", "1"),
        ]);
        let p = communicator_plan("a", &members, &v, &Databag::new());
        assert_eq!(p.mint, vec![("b".to_string(), Some(1))]);
        // Already minted for generation 1: not again.
        let own = bag(&[("mirror-b", "T"), ("answers-b", "1")]);
        assert!(communicator_plan("a", &members, &v, &own).mint.is_empty());
        // A new generation asks again.
        let v2 = mirror(&[
            ("mirror", "up"),
            ("ensemble", "1"),
            ("mirror-b", "T"),
            ("answers-b", "1"),
            ("request-b", "2"),
        ]);
        assert_eq!(
            communicator_plan("a", &members, &v2, &own).mint,
            vec![("b".to_string(), Some(2))]
        );
    }

    #[test]
    fn a_stale_member_is_removed_before_its_new_token() {
        let members = [
            m("a", Role::Voter, "ONLINE"),
            m("b", Role::Voter, "UNREACHABLE"),
            m("c", Role::Voter, "ONLINE"),
        ];
        let v = mirror(&[
            ("mirror", "up"),
            ("ensemble", "1"),
            ("mirror-b", "empty"),
            ("request-b", "2"),
            ("members", "a,b,c"),
        ]);
        let p = communicator_plan("a", &members, &v, &Databag::new());
        assert_eq!(p.remove, vec![("b".to_string(), true)]);
        assert!(p.mint.is_empty());
        // An ONLINE member whose acknowledgement has not reached the mirror yet is left alone
        // (found by `ensemble check token-distribution`, seed 431).
        let online = [m("a", Role::Voter, "ONLINE"), m("b", Role::Voter, "ONLINE")];
        let p = communicator_plan("a", &online, &v, &Databag::new());
        assert!(p.remove.is_empty() && p.mint.is_empty(), "{p:?}");
    }

    #[test]
    fn departed_members_are_removed_only_with_quorum() {
        // The mirror's `members` still lists b (the last round's), but its `hosts` does not.
        let v = mirror(&[
            ("mirror", "up"),
            ("ensemble", "1"),
            ("members", "a,b,c"),
            ("hosts", "a,c"),
        ]);
        let members = [
            m("a", Role::Voter, "ONLINE"),
            m("b", Role::Voter, "UNREACHABLE"),
            m("c", Role::Voter, "ONLINE"),
        ];
        assert_eq!(
            communicator_plan("a", &members, &v, &Databag::new()).remove,
            vec![("b".to_string(), true)]
        );
        // Two of three voters unreachable: no quorum, no removal.
        let members = [
            m("a", Role::Voter, "ONLINE"),
            m("b", Role::Voter, "UNREACHABLE"),
            m("c", Role::Voter, "UNREACHABLE"),
        ];
        assert!(communicator_plan("a", &members, &v, &Databag::new())
            .remove
            .is_empty());
        // An ONLINE member is never removed, even if the mirror does not know it yet.
        let members = [m("a", Role::Voter, "ONLINE"), m("d", Role::Voter, "ONLINE")];
        assert!(communicator_plan("a", &members, &v, &Databag::new())
            .remove
            .is_empty());
    }

    fn input<'a>(
        own: &'a Databag,
        v: &'a MirrorView,
        app_bag: &'a Databag,
        list: &'a Result<Vec<Member>, ListError>,
        leader: bool,
    ) -> ConsumerInput<'a> {
        ConsumerInput {
            hostname: "h1",
            is_leader: leader,
            app: "ovn",
            own,
            mirror: v,
            distributor_app: app_bag,
            list,
        }
    }

    #[test]
    fn decisions() {
        let not_member: Result<Vec<Member>, ListError> = Err(ListError::Failed {
            code: Some(1),
            stderr: "Daemon not yet initialized".into(),
        });
        let own = Databag::new();
        let empty_app = Databag::new();
        let boot_app = bag(&[("bootstrap-app", "ovn")]);
        let other_app = bag(&[("bootstrap-app", "other")]);
        let v = mirror(&[("mirror", "up"), ("ensemble", "1"), ("mirror-h1", "empty")]);
        assert_eq!(
            decide(&input(&own, &v, &boot_app, &not_member, true)),
            Decision::Bootstrap
        );
        assert!(matches!(
            decide(&input(&own, &v, &other_app, &not_member, true)),
            Decision::Wait { .. }
        ));
        assert!(matches!(
            decide(&input(&own, &v, &boot_app, &not_member, false)),
            Decision::Wait { .. }
        ));
        // An ensemble mirror without bootstrap-app: nobody bootstraps yet.
        assert!(matches!(
            decide(&input(&own, &v, &empty_app, &not_member, true)),
            Decision::Wait { .. }
        ));
        // A cluster exists (members published): never a second bootstrap.
        let v2 = mirror(&[("mirror", "up"), ("ensemble", "1"), ("members", "h0")]);
        assert!(matches!(
            decide(&input(&own, &v2, &boot_app, &not_member, true)),
            Decision::Wait { .. }
        ));
        // A token for our generation: join.
        let v3 = mirror(&[
            ("mirror", "up"),
            ("ensemble", "1"),
            ("mirror-h1", "TOK"),
            ("answers-h1", "1"),
        ]);
        assert_eq!(
            decide(&input(&own, &v3, &boot_app, &not_member, false)),
            Decision::Join {
                token: "TOK".into(),
                generation: 1
            }
        );
        // A token for an older generation: wait.
        let own2 = bag(&[("token-request", "2")]);
        assert!(matches!(
            decide(&input(&own2, &v3, &boot_app, &not_member, false)),
            Decision::Wait { .. }
        ));
        // The workload says we are a member: in the cluster, whatever the bags say.
        let member = Ok(vec![m("h1", Role::Voter, "ONLINE")]);
        assert_eq!(
            decide(&input(&own2, &v3, &boot_app, &member, false)),
            Decision::InCluster
        );
        // No mirror up: wait.
        let down = mirror(&[("mirror", "down")]);
        assert!(matches!(
            decide(&input(&own, &down, &boot_app, &not_member, true)),
            Decision::Wait { .. }
        ));
    }

    /// A source that counts what it reads.
    struct Counting<'b> {
        bags: &'b [(UnitName, Databag)],
        keys: Vec<String>,
        whole: usize,
    }

    impl MirrorSource for Counting<'_> {
        type Error = std::convert::Infallible;
        fn key(&mut self, unit: &UnitName, key: &str) -> Result<Option<String>, Self::Error> {
            self.keys.push(key.to_owned());
            let mut b = self.bags;
            b.key(unit, key)
        }
        fn bag(&mut self, unit: &UnitName) -> Result<Databag, Self::Error> {
            self.whole += 1;
            let mut b = self.bags;
            b.bag(unit)
        }
    }

    #[test]
    fn the_view_read_key_by_key_agrees_with_the_whole_bag_view() {
        let td = |n: &str, pairs: &[(&str, &str)]| (UnitName::parse(n).unwrap(), bag(pairs));
        let mut others: Vec<(&str, &str)> = vec![("mirror", "up"), ("ensemble", "1")];
        let placeholders: Vec<(String, String)> = (0..50)
            .map(|i| (format!("mirror-x{i}"), "empty".to_owned()))
            .collect();
        let extra: Vec<(&str, &str)> = placeholders
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        others.extend(extra);
        let cases: Vec<Vec<(UnitName, Databag)>> = vec![
            // An ensemble mirror: a token for h1, members, communicator, hosts.
            vec![td(
                "td/0",
                &[
                    &others[..],
                    &[
                        ("mirror-h1", "TOK"),
                        ("answers-h1", "2"),
                        ("members", "h0"),
                        ("communicator", "h0"),
                        ("hosts", "h0,h1"),
                    ],
                ]
                .concat(),
            )],
            // The communicator's host has left.
            vec![td(
                "td/0",
                &[("mirror", "up"), ("communicator", "h9"), ("hosts", "h0,h1")],
            )],
            // Two up mirrors (a stale Python leader): a real token beats empty, smallest first.
            vec![
                td("td/1", &[("mirror", "up"), ("mirror-h1", "empty")]),
                td(
                    "td/0",
                    &[("mirror", "up"), ("mirror-h1", "PY"), ("mirror-h7", "T7")],
                ),
                td("td/2", &[("mirror", "down"), ("mirror-h1", "STALE")]),
            ],
            // A Python mirror whose only sign of a cluster is another host's token.
            vec![td(
                "td/0",
                &[("mirror", "up"), ("mirror-h7", "T7"), ("mirror-h1", "empty")],
            )],
            // No cluster yet.
            vec![td("td/0", &[("mirror", "up"), ("mirror-h1", "empty")])],
            // Mirror down.
            vec![td("td/0", &[("mirror", "down"), ("mirror-h1", "T")])],
        ];
        let all = HostNeeds {
            communicator: true,
            cluster_signs: true,
        };
        for bags in &cases {
            let whole = MirrorView::for_host(bags, "h1");
            let units: Vec<UnitName> = bags.iter().map(|(u, _)| u.clone()).collect();
            let mut src = Counting {
                bags,
                keys: Vec::new(),
                whole: 0,
            };
            let Ok(by_key) = MirrorView::for_host_by_key(&mut src, &units, "h1", all);
            assert_eq!(
                (by_key.up, by_key.ensemble, &by_key.tokens, &by_key.answers),
                (whole.up, whole.ensemble, &whole.tokens, &whole.answers),
                "{bags:?}"
            );
            assert_eq!(by_key.communicator, whole.communicator, "{bags:?}");
            assert_eq!(
                by_key.communicator_related, whole.communicator_related,
                "{bags:?}"
            );
            assert_eq!(by_key.cluster_exists(), whole.cluster_exists(), "{bags:?}");
            let token = |v: &MirrorView| v.token_for("h1", 1).map(str::to_owned);
            assert_eq!(token(&by_key), token(&whole));
        }
        // A unit in the cluster with an ensemble mirror reads a handful of keys, never the
        // placeholders of the 50 other hosts, and never a whole bag.
        let mut src = Counting {
            bags: &cases[0],
            keys: Vec::new(),
            whole: 0,
        };
        let units = [UnitName::parse("td/0").unwrap()];
        let Ok(v) = MirrorView::for_host_by_key(&mut src, &units, "h1", all);
        assert!(v.cluster_exists());
        assert_eq!(
            src.keys,
            [
                "mirror",
                "ensemble",
                "mirror-h1",
                "answers-h1",
                "communicator",
                "hosts",
                "members"
            ]
        );
        assert_eq!(src.whole, 0);
        // Without the needs, only the host's keys.
        src.keys.clear();
        let Ok(_) = MirrorView::for_host_by_key(&mut src, &units, "h1", HostNeeds::default());
        assert_eq!(src.keys, ["mirror", "ensemble", "mirror-h1", "answers-h1"]);
    }

    #[test]
    fn mirror_merge_prefers_real_tokens_and_smallest_unit() {
        let a = (
            UnitName::parse("td/1").unwrap(),
            bag(&[("mirror", "up"), ("mirror-h", "empty")]),
        );
        let b = (
            UnitName::parse("td/0").unwrap(),
            bag(&[("mirror", "up"), ("mirror-h", "T0")]),
        );
        let c = (
            UnitName::parse("td/2").unwrap(),
            bag(&[("mirror", "down"), ("mirror-h", "STALE")]),
        );
        let v = MirrorView::from_bags(&[a, b, c]);
        assert_eq!(v.tokens["h"], "T0");
    }
}
