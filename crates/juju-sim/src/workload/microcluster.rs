//! A simulated microcluster workload: what `microovn cluster …` (or any other microcluster-based
//! CLI) does when a charm runs it on one of the model's machines.
//!
//! [`Microcluster`] holds the whole world the CLI can see: every cluster that was bootstrapped in
//! the model (several may exist), every machine's local daemon state, and every join token that
//! was minted. The simulator calls [`Microcluster::exec`] with the calling machine's hostname, the
//! arguments after the charm's command prefix (`microovn cluster`), and the virtual time; it gets
//! back an [`Exec`]: either the command's output, or [`Exec::Hang`] (the command never returns,
//! which the simulator maps to its timeout).
//!
//! The simulation is pure: no I/O, no clock, no global random source. Token secrets, cluster
//! fingerprints and certificates come from a splitmix64 generator seeded by the caller, so the
//! same seed and the same calls give the same outputs, byte for byte.
//!
//! # What is reproduced
//!
//! Behaviour and messages follow microcluster v3 and the microovn CLI:
//!
//! | Command | Behaviour |
//! |---|---|
//! | `bootstrap` | A new cluster whose only member (a voter) is named after the host. Fails with `Unable to initialize cluster: Database is online` on a host that already belongs to a cluster. Extra arguments print the help and exit 0, as the real command does. |
//! | `add <name> [--timeout <seconds>]` | Prints a token and a newline. The token is `base64(JSON{"secret","fingerprint","join_addresses"})` with every member's `addr:port`, so it grows with the cluster (about `(180 + 18·members)·4/3` bytes). Single use, bound to `<name>`, expires after `--timeout` seconds (default 3 h, 0 = never). Expired tokens are purged first, as the real daemon does. A name that holds an unexpired token or is a member fails with `unable to add server to microcluster, name "<name>" is taken:` and the cause on the next line (the real CLI wraps *every* `add` error in that sentence, including "Daemon not yet initialized" and an invalid FQDN). |
//! | `join <token>` | The joiner's name is its hostname. Fails on garbage (`illegal base64 data at input byte N`, Go-style JSON errors), an unknown or used token (`CoreTokenRecord not found`), an expired one (`Token expired`), one bound to another name (`Joining server certificate SAN does not contain join token name`), an address already in the cluster (`Remote with address "…" exists`) or a name already a member; these come wrapped as `N join attempts were unsuccessful. Last error: …` with N the token's address count. A token whose addresses reach no live member gives `Last error: %!w(<nil>)`, as Go prints it. A joined member is `PENDING` for [`Config::pending_delay`] of virtual time. A wrong argument count prints the help and exits 0, as the real command does. |
//! | `list [-f\|--format json\|csv\|table\|compact\|yaml]` | Members sorted by name. JSON is the raw `[]ClusterMember` with `name, address, certificate, role, schema_internal_version, schema_external_version, last_heartbeat, status, extensions, secret` (secret always `""`). Only on a member host; elsewhere `Error: Daemon not yet initialized`. |
//! | `remove <name> [-f\|--force]` | From a member host. `No remote exists with the given name "<name>"`; `Cannot remove cluster members, there are no remaining non-pending members` for the last one. Removing an UNREACHABLE member needs `--force` (the leader cannot run its pre-remove hook). A removed member's daemon, if alive, is reset (its host is no longer in any cluster). |
//!
//! Errors go to stderr as cobra prints them (`Error: …`), exit code 1. A host marked down
//! ([`Microcluster::mark_down`]) has no daemon: any command run there fails with the control
//! socket's "connect: connection refused", and other members list it `UNREACHABLE`.
//!
//! # Roles (the dqlite rule chosen)
//!
//! dqlite keeps 3 voters and 3 stand-bys; everything else is a spare. The simulator applies this
//! immediately after every change (a pending member settling, a removal, a host going down or up),
//! and only while the cluster has quorum (more than half of its voters online):
//!
//! 1. While there are fewer than 3 voters, the earliest-joined online stand-by (else spare) is
//!    promoted to voter.
//! 2. Each offline voter, if an online stand-by (else spare) exists, is demoted to spare and that
//!    member promoted to voter.
//! 3. While there are fewer than 3 stand-bys, the earliest-joined online spare becomes stand-by.
//! 4. Each offline stand-by, if an online spare exists, is demoted to spare and that spare promoted.
//!
//! So with every host up, members in join order are voter, voter, voter, stand-by, stand-by,
//! stand-by, spare, spare…; the bootstrapper is a voter at once. A 3-member cluster with one host
//! down lists that voter as `voter`/`UNREACHABLE` (nobody can replace it), while a bigger one
//! promotes a stand-by in its place. Without quorum nothing settles or changes, and commands that
//! need the database fail with `context deadline exceeded`.
//!
//! # Pending
//!
//! A successful `join` records the member with role `PENDING`, a zero `last_heartbeat`
//! (`0001-01-01T00:00:00Z`) and status `ONLINE`. Once the virtual time reaches join time +
//! [`Config::pending_delay`] (default 2 s) the member settles as a spare and the role rule above
//! runs. [`FaultKind::StuckPending`] keeps a member pending forever (a half-failed join).
//!
//! # Faults
//!
//! [`Microcluster::inject_fault`] makes a host's next (or every) command of one [`Verb`] fail,
//! print garbage, hang, take effect and then hang (a hook killed after `join` succeeded), or join
//! but stay pending. Together with [`Microcluster::mark_down`], [`Microcluster::reprovision`] (the
//! machine is wiped but keeps its hostname and address while the cluster still lists the old
//! member) and [`Microcluster::expire_all_tokens`] they cover the failure modes of the token
//! distributor protocol.
//!
//! # Secrets
//!
//! No token or secret appears in an error message or in the `Debug` output of this module's types:
//! token records print `<redacted>`, and [`Exec`]'s `Debug` prints the length of stdout, not its
//! text (stdout of `add` *is* a token).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use charm::CommandOutput;
use serde::Serialize;

/// The token lifetime `add` uses without `--timeout`: 3 hours, as microovn's CLI.
pub const DEFAULT_TOKEN_TIMEOUT: Duration = Duration::from_secs(3 * 3600);

/// Target number of voters dqlite keeps.
const VOTERS: usize = 3;
/// Target number of stand-bys dqlite keeps.
const STAND_BYS: usize = 3;
/// `schema_internal_version` the simulated daemons report.
const SCHEMA_INTERNAL: u64 = 7;
/// `schema_external_version` the simulated daemons report.
const SCHEMA_EXTERNAL: u64 = 3;
/// `extensions` the simulated daemons report.
const EXTENSIONS: [&str; 2] = ["internal:runtime_extension_v1", "internal:heartbeat_v1"];
/// Go's zero `time.Time`, what a pending member's `last_heartbeat` shows.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Settings of the simulated daemons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// How long a joined member stays `PENDING` before dqlite gives it a role. Default 2 s.
    pub pending_delay: Duration,
    /// The cluster port of every member address. Default 6443.
    pub port: u16,
    /// The command prefix, used in help and "unknown command" messages. Default `microovn cluster`.
    pub command_name: String,
    /// The daemon's state directory, used in "control socket" errors. Default
    /// `/var/snap/microovn/common/state`.
    pub state_dir: String,
    /// The wall-clock time (Unix seconds, UTC) that virtual time zero stands for, used for
    /// `last_heartbeat`. Default 2026-01-01T00:00:00Z.
    pub epoch_unix_secs: i64,
    /// How often members heartbeat: `last_heartbeat` of an online member is the last multiple of
    /// this at or before now. Default 10 s.
    pub heartbeat_interval: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            pending_delay: Duration::from_secs(2),
            port: 6443,
            command_name: "microovn cluster".to_string(),
            state_dir: "/var/snap/microovn/common/state".to_string(),
            epoch_unix_secs: 1_767_225_600,
            heartbeat_interval: Duration::from_secs(10),
        }
    }
}

/// What running a command did.
#[derive(Clone, PartialEq, Eq)]
pub enum Exec {
    /// The command returned.
    Done(CommandOutput),
    /// The command never returns; the simulator kills it at its timeout.
    Hang,
}

impl Exec {
    /// The output, if the command returned.
    pub fn output(&self) -> Option<&CommandOutput> {
        match self {
            Exec::Done(out) => Some(out),
            Exec::Hang => None,
        }
    }
}

impl fmt::Debug for Exec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exec::Done(out) => f
                .debug_struct("Done")
                .field("code", &out.code)
                .field("stdout", &format_args!("<{} bytes>", out.stdout.len()))
                .field("stderr", &out.stderr)
                .finish(),
            Exec::Hang => f.write_str("Hang"),
        }
    }
}

/// A cluster, numbered from 1 in bootstrap order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClusterId(pub u32);

impl fmt::Display for ClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cluster-{}", self.0)
    }
}

/// A member's role, as `list` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// A dqlite voter (`voter`).
    Voter,
    /// A dqlite stand-by (`stand-by`).
    StandBy,
    /// A dqlite spare (`spare`).
    Spare,
    /// Joined, not yet given a dqlite role (`PENDING`).
    Pending,
}

impl Role {
    /// The string `list` prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Voter => "voter",
            Role::StandBy => "stand-by",
            Role::Spare => "spare",
            Role::Pending => "PENDING",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A member's status, as `list` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberStatus {
    /// Its daemon answers (`ONLINE`).
    Online,
    /// Its host is down or was re-provisioned (`UNREACHABLE`).
    Unreachable,
}

impl MemberStatus {
    /// The string `list` prints.
    pub fn as_str(self) -> &'static str {
        match self {
            MemberStatus::Online => "ONLINE",
            MemberStatus::Unreachable => "UNREACHABLE",
        }
    }
}

/// One member of a cluster, for tests and the simulator's invariants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInfo {
    /// Its name (the hostname it joined with).
    pub name: String,
    /// Its `addr:port`.
    pub address: String,
    /// Its role.
    pub role: Role,
    /// Its status.
    pub status: MemberStatus,
}

/// The subcommand a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    /// `bootstrap`.
    Bootstrap,
    /// `add`.
    Add,
    /// `join`.
    Join,
    /// `list`.
    List,
    /// `remove`.
    Remove,
    /// Any subcommand.
    Any,
}

/// What a fault does to the command it hits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// The command exits with `code` and this stderr, and has no effect.
    Fail {
        /// The exit code.
        code: i32,
        /// Its standard error.
        stderr: String,
    },
    /// The command exits 0 printing this, and has no effect.
    Garbage(String),
    /// The command never returns, and has no effect.
    Hang,
    /// The command takes effect, then never returns (a hook killed after `join` succeeded).
    HangAfterEffect,
    /// A `join` succeeds but the member stays `PENDING` forever. Other verbs run normally.
    StuckPending,
}

/// How many commands a fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// The next matching command only.
    Once,
    /// The next `n` matching commands.
    Times(u32),
    /// Every matching command until [`Microcluster::clear_faults`].
    Always,
}

/// A fault armed on one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The subcommand it hits.
    pub verb: Verb,
    /// What it does.
    pub kind: FaultKind,
    /// How many times.
    pub repeat: Repeat,
}

impl Fault {
    /// A fault hitting the next `verb` command once.
    pub fn once(verb: Verb, kind: FaultKind) -> Self {
        Self {
            verb,
            kind,
            repeat: Repeat::Once,
        }
    }

    /// A fault hitting every `verb` command.
    pub fn always(verb: Verb, kind: FaultKind) -> Self {
        Self {
            verb,
            kind,
            repeat: Repeat::Always,
        }
    }
}

/// Every cluster, machine and token of a model, and the CLI that acts on them.
#[derive(Debug, Clone)]
pub struct Microcluster {
    config: Config,
    rng: SplitMix64,
    now: Duration,
    next_cluster: u32,
    next_seq: u64,
    clusters: BTreeMap<ClusterId, Cluster>,
    hosts: BTreeMap<String, Host>,
}

#[derive(Debug, Clone)]
struct Host {
    /// The IP part of its address.
    ip: String,
    /// No daemon (machine or snap down).
    down: bool,
    /// Bumped when the machine is re-provisioned; a member is this host's only if they match.
    generation: u64,
    /// The cluster its local daemon belongs to.
    member_of: Option<ClusterId>,
    faults: Vec<Fault>,
}

#[derive(Debug, Clone)]
struct Cluster {
    fingerprint: String,
    /// In join order.
    members: Vec<Member>,
    tokens: Vec<TokenRecord>,
}

#[derive(Debug, Clone)]
struct Member {
    name: String,
    address: String,
    certificate: String,
    cert_fingerprint: String,
    role: Role,
    /// The host generation that joined.
    generation: u64,
    seq: u64,
    /// When a pending member settles; `None` when stuck or already settled.
    settles_at: Option<Duration>,
    /// `None` while pending (Go's zero time).
    last_heartbeat: Option<Duration>,
}

#[derive(Clone)]
struct TokenRecord {
    name: String,
    secret: String,
    expiry: Expiry,
}

impl fmt::Debug for TokenRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRecord")
            .field("name", &self.name)
            .field("secret", &"<redacted>")
            .field("expiry", &self.expiry)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    Never,
    At(Duration),
    Expired,
}

impl Expiry {
    fn expired(self, now: Duration) -> bool {
        match self {
            Expiry::Never => false,
            Expiry::At(t) => t < now,
            Expiry::Expired => true,
        }
    }
}

/// The wire form of a token, in Go's field order.
#[derive(Serialize)]
struct TokenWire<'a> {
    secret: &'a str,
    fingerprint: &'a str,
    join_addresses: Vec<&'a str>,
}

/// A member as `list -f json` prints it, in Go's field order.
#[derive(Serialize)]
struct ListedMember<'a> {
    name: &'a str,
    address: &'a str,
    certificate: &'a str,
    role: &'a str,
    schema_internal_version: u64,
    schema_external_version: u64,
    last_heartbeat: String,
    status: &'a str,
    extensions: [&'a str; 2],
    secret: &'a str,
}

impl Microcluster {
    /// An empty world (no clusters, no hosts) with default settings and the given seed.
    pub fn new(seed: u64) -> Self {
        Self::with_config(seed, Config::default())
    }

    /// An empty world with the given settings and seed.
    pub fn with_config(seed: u64, config: Config) -> Self {
        Self {
            config,
            rng: SplitMix64(seed),
            now: Duration::ZERO,
            next_cluster: 1,
            next_seq: 0,
            clusters: BTreeMap::new(),
            hosts: BTreeMap::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The latest virtual time seen.
    pub fn now(&self) -> Duration {
        self.now
    }

    /// Runs the CLI on `host` (the calling machine's hostname) with `args` (what follows the
    /// command prefix, e.g. `["list", "-f", "json"]`) at virtual time `now` (time never goes
    /// back: an earlier `now` counts as the latest one seen).
    pub fn exec(&mut self, host: &str, args: &[String], now: Duration) -> Exec {
        self.advance(now);
        self.ensure_host(host);
        let verb = match args.first().map(String::as_str) {
            Some("bootstrap") => Some(Verb::Bootstrap),
            Some("add") => Some(Verb::Add),
            Some("join") => Some(Verb::Join),
            Some("list") => Some(Verb::List),
            Some("remove") => Some(Verb::Remove),
            _ => None,
        };
        let fault = verb.and_then(|v| self.take_fault(host, v));
        let mut stuck = false;
        let mut hang_after = false;
        match fault {
            Some(FaultKind::Fail { code, stderr }) => return Exec::Done(CommandOutput::failed(code, stderr)),
            Some(FaultKind::Garbage(out)) => return Exec::Done(CommandOutput::ok(out)),
            Some(FaultKind::Hang) => return Exec::Hang,
            Some(FaultKind::HangAfterEffect) => hang_after = true,
            Some(FaultKind::StuckPending) => stuck = true,
            None => {}
        }
        let out = self.dispatch(host, args, stuck);
        if hang_after {
            Exec::Hang
        } else {
            Exec::Done(out)
        }
    }

    /// Moves virtual time to `now` (if later): pending members whose delay is over settle, and
    /// online members heartbeat. [`Microcluster::exec`] does this itself.
    pub fn advance(&mut self, now: Duration) {
        if now > self.now {
            self.now = now;
        }
        let ids: Vec<ClusterId> = self.clusters.keys().copied().collect();
        for id in ids {
            self.settle(id);
            self.heartbeat(id);
        }
    }

    /// Sets the IP address of `host`'s cluster address (without the port). Hosts get
    /// `10.42.x.y` addresses in the order they are first seen otherwise. Members that already
    /// joined keep the address they joined with.
    pub fn set_host_address(&mut self, host: &str, ip: &str) {
        self.ensure_host(host);
        if let Some(h) = self.hosts.get_mut(host) {
            h.ip = ip.to_string();
        }
    }

    /// `host`'s cluster address, `ip:port`.
    pub fn host_address(&mut self, host: &str) -> String {
        self.ensure_host(host);
        self.address_of(host)
    }

    /// Marks `host` down: its daemon is gone, its commands fail, and the others list it
    /// `UNREACHABLE`.
    pub fn mark_down(&mut self, host: &str) {
        self.ensure_host(host);
        if let Some(h) = self.hosts.get_mut(host) {
            h.down = true;
        }
        self.rebalance_all();
    }

    /// Brings `host` back up, with the local state it had.
    pub fn mark_up(&mut self, host: &str) {
        self.ensure_host(host);
        if let Some(h) = self.hosts.get_mut(host) {
            h.down = false;
        }
        self.advance(self.now);
        self.rebalance_all();
    }

    /// Whether `host` is marked down.
    pub fn is_down(&self, host: &str) -> bool {
        self.hosts.get(host).is_some_and(|h| h.down)
    }

    /// Re-provisions `host`: a fresh machine with the same hostname and address, up, with no
    /// local cluster state and no faults. Any cluster that listed the old machine still lists it,
    /// now `UNREACHABLE`.
    pub fn reprovision(&mut self, host: &str) {
        self.ensure_host(host);
        if let Some(h) = self.hosts.get_mut(host) {
            h.generation += 1;
            h.member_of = None;
            h.down = false;
            h.faults.clear();
        }
        self.rebalance_all();
    }

    /// Arms a fault on `host`. Faults are tried in the order they were armed; the first one whose
    /// verb matches is used. `Repeat::Times(0)` arms nothing.
    pub fn inject_fault(&mut self, host: &str, fault: Fault) {
        if fault.repeat == Repeat::Times(0) {
            return;
        }
        self.ensure_host(host);
        if let Some(h) = self.hosts.get_mut(host) {
            h.faults.push(fault);
        }
    }

    /// Disarms every fault on `host`.
    pub fn clear_faults(&mut self, host: &str) {
        if let Some(h) = self.hosts.get_mut(host) {
            h.faults.clear();
        }
    }

    /// Expires every token of every cluster (they stay recorded until the next `add` purges
    /// them, as in the real database).
    pub fn expire_all_tokens(&mut self) {
        for c in self.clusters.values_mut() {
            for t in &mut c.tokens {
                t.expiry = Expiry::Expired;
            }
        }
    }

    /// Every cluster, in bootstrap order.
    pub fn clusters(&self) -> Vec<ClusterId> {
        self.clusters.keys().copied().collect()
    }

    /// The cluster `host`'s local daemon belongs to.
    pub fn cluster_of(&self, host: &str) -> Option<ClusterId> {
        self.hosts.get(host).and_then(|h| h.member_of)
    }

    /// A cluster's members, in join order (empty for an unknown cluster).
    pub fn members(&self, cluster: ClusterId) -> Vec<MemberInfo> {
        let Some(c) = self.clusters.get(&cluster) else {
            return Vec::new();
        };
        c.members
            .iter()
            .map(|m| MemberInfo {
                name: m.name.clone(),
                address: m.address.clone(),
                role: m.role,
                status: self.status_of(m),
            })
            .collect()
    }

    /// How many unexpired tokens a cluster holds.
    pub fn tokens_outstanding(&self, cluster: ClusterId) -> usize {
        self.clusters.get(&cluster).map_or(0, |c| {
            c.tokens.iter().filter(|t| !t.expiry.expired(self.now)).count()
        })
    }

    /// How many unexpired tokens all clusters hold.
    pub fn total_tokens_outstanding(&self) -> usize {
        self.clusters.keys().map(|&id| self.tokens_outstanding(id)).sum()
    }

    /// The names of a cluster's unexpired tokens, sorted.
    pub fn token_names(&self, cluster: ClusterId) -> Vec<String> {
        let mut names: Vec<String> = self
            .clusters
            .get(&cluster)
            .map(|c| {
                c.tokens
                    .iter()
                    .filter(|t| !t.expiry.expired(self.now))
                    .map(|t| t.name.clone())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Checks the world's invariants: every host's cluster lists it; names and addresses are
    /// unique in a cluster; no cluster is empty; at most 3 voters and 3 stand-bys; with quorum,
    /// the role rule leaves nothing to promote; no token is named after a member.
    pub fn check_invariants(&self) -> Result<(), String> {
        for (name, h) in &self.hosts {
            if let Some(id) = h.member_of {
                let c = self
                    .clusters
                    .get(&id)
                    .ok_or_else(|| format!("{name} is in unknown {id}"))?;
                if !c
                    .members
                    .iter()
                    .any(|m| &m.name == name && m.generation == h.generation)
                {
                    return Err(format!("{name} thinks it is in {id}, which does not list it"));
                }
            }
        }
        for (id, c) in &self.clusters {
            if c.members.is_empty() {
                return Err(format!("{id} has no members"));
            }
            for (i, m) in c.members.iter().enumerate() {
                for other in &c.members[i + 1..] {
                    if other.name == m.name {
                        return Err(format!("{id} lists {} twice", m.name));
                    }
                    if other.address == m.address {
                        return Err(format!("{id} lists address {} twice", m.address));
                    }
                }
                if c.tokens
                    .iter()
                    .any(|t| t.name == m.name && !t.expiry.expired(self.now))
                {
                    return Err(format!("{id} holds a token named after member {}", m.name));
                }
            }
            let count = |r: Role| c.members.iter().filter(|m| m.role == r).count();
            if count(Role::Voter) > VOTERS || count(Role::StandBy) > STAND_BYS {
                return Err(format!("{id} has too many voters or stand-bys"));
            }
            if self.has_quorum(c) {
                let online_spare = c.members.iter().any(|m| m.role == Role::Spare && self.is_live(m));
                let online_standby = c
                    .members
                    .iter()
                    .any(|m| m.role == Role::StandBy && self.is_live(m));
                if count(Role::Voter) < VOTERS && (online_spare || online_standby) {
                    return Err(format!(
                        "{id} has fewer than {VOTERS} voters and a member to promote"
                    ));
                }
                if count(Role::StandBy) < STAND_BYS && online_spare {
                    return Err(format!(
                        "{id} has fewer than {STAND_BYS} stand-bys and a spare to promote"
                    ));
                }
            }
        }
        Ok(())
    }

    // ----- the commands -----

    fn dispatch(&mut self, host: &str, args: &[String], stuck: bool) -> CommandOutput {
        let Some(sub) = args.first() else {
            return CommandOutput::ok(self.group_help());
        };
        let rest = &args[1..];
        match sub.as_str() {
            "bootstrap" => self.cmd_bootstrap(host, rest),
            "add" => self.cmd_add(host, rest),
            "join" => self.cmd_join(host, rest, stuck),
            "list" => self.cmd_list(host, rest),
            "remove" => self.cmd_remove(host, rest),
            "-h" | "--help" | "help" => CommandOutput::ok(self.group_help()),
            other => error(format!(
                "unknown command \"{other}\" for \"{0}\"\nRun '{0} --help' for usage.",
                self.config.command_name
            )),
        }
    }

    fn cmd_bootstrap(&mut self, host: &str, args: &[String]) -> CommandOutput {
        let parsed = match parse_flags(args, &[]) {
            Ok(p) => p,
            Err(e) => return error(e),
        };
        if parsed.help || !parsed.positionals.is_empty() {
            return CommandOutput::ok(self.help("bootstrap", "Sets up a new cluster", ""));
        }
        if let Some(e) = self.socket_error(host, "Post", "control") {
            return error(e);
        }
        if self.local_cluster(host).is_some() {
            return error("Unable to initialize cluster: Database is online");
        }
        if let Err(e) = validate_fqdn(host) {
            return error(format!("Cluster member name {host:?} is not a valid FQDN: {e}"));
        }
        let id = ClusterId(self.next_cluster);
        self.next_cluster += 1;
        let fingerprint = self.rng.hex64();
        let mut member = self.new_member(host);
        member.role = Role::Voter;
        member.settles_at = None;
        member.last_heartbeat = Some(self.now);
        self.clusters.insert(
            id,
            Cluster {
                fingerprint,
                members: vec![member],
                tokens: Vec::new(),
            },
        );
        if let Some(h) = self.hosts.get_mut(host) {
            h.member_of = Some(id);
        }
        self.heartbeat(id);
        CommandOutput::ok("")
    }

    fn cmd_add(&mut self, host: &str, args: &[String]) -> CommandOutput {
        let specs = [FlagSpec {
            long: "timeout",
            short: None,
            takes_value: true,
        }];
        let parsed = match parse_flags(args, &specs) {
            Ok(p) => p,
            Err(e) => return error(e),
        };
        if parsed.help {
            return CommandOutput::ok(self.help(
                "add <NAME>",
                "Generates a token for a new server",
                "      --timeout float   Number of seconds the token will be valid for (Default: 3 hours) \
                 (default 10800)\n",
            ));
        }
        if parsed.positionals.len() != 1 {
            return error(format!("accepts 1 arg(s), received {}", parsed.positionals.len()));
        }
        let name = parsed.positionals[0].clone();
        let expiry = match parsed.values.get("timeout") {
            None => Expiry::At(self.now + DEFAULT_TOKEN_TIMEOUT),
            Some(v) => match v.trim().parse::<f64>() {
                Ok(secs) if secs == 0.0 || secs.is_nan() => Expiry::Never,
                Ok(secs) if secs < 0.0 => Expiry::Expired,
                Ok(secs) => Expiry::At(self.now.saturating_add(Duration::from_secs_f64(secs.min(1e15)))),
                Err(_) => {
                    return error(format!(
                        "invalid argument {v:?} for \"--timeout\" flag: strconv.ParseFloat: parsing {v:?}: \
                         invalid syntax"
                    ))
                }
            },
        };
        let taken = |cause: &str| {
            error(format!(
                "unable to add server to microcluster, name {name:?} is taken:\n{cause}"
            ))
        };
        if let Some(e) = self.socket_error(host, "Post", "control/tokens") {
            return taken(&e);
        }
        let Some(id) = self.local_cluster(host) else {
            return taken("Daemon not yet initialized");
        };
        if let Err(e) = validate_fqdn(&name) {
            return taken(&format!("Token name {name:?} is not a valid FQDN: {e}"));
        }
        if !self.has_quorum(&self.clusters[&id]) {
            return taken("context deadline exceeded");
        }
        let now = self.now;
        let secret = self.rng.hex64();
        let Some(c) = self.clusters.get_mut(&id) else {
            return taken("Daemon not yet initialized");
        };
        c.tokens.retain(|t| !t.expiry.expired(now));
        if c.tokens.iter().any(|t| t.name == name) {
            return taken("Failed to create \"core_token_records\" entry: UNIQUE constraint failed: core_token_records.name");
        }
        if c.members.iter().any(|m| m.name == name) {
            return taken(&format!("Cluster member with name {name:?} already exists"));
        }
        let wire = TokenWire {
            secret: &secret,
            fingerprint: &c.fingerprint,
            join_addresses: c.members.iter().map(|m| m.address.as_str()).collect(),
        };
        let json = serde_json::to_vec(&wire).unwrap_or_default();
        let token = base64_encode(&json);
        c.tokens.push(TokenRecord { name, secret, expiry });
        CommandOutput::ok(format!("{token}\n"))
    }

    fn cmd_join(&mut self, host: &str, args: &[String], stuck: bool) -> CommandOutput {
        let parsed = match parse_flags(args, &[]) {
            Ok(p) => p,
            Err(e) => return error(e),
        };
        if parsed.help || parsed.positionals.len() != 1 {
            return CommandOutput::ok(self.help("join <TOKEN>", "Joins an existing cluster", ""));
        }
        if let Some(e) = self.socket_error(host, "Post", "control") {
            return error(e);
        }
        if self.local_cluster(host).is_some() {
            return error("Unable to initialize cluster: Database is online");
        }
        if let Err(e) = validate_fqdn(host) {
            return error(format!("Cluster member name {host:?} is not a valid FQDN: {e}"));
        }
        let token = match decode_token(&parsed.positionals[0]) {
            Ok(t) => t,
            Err(e) => return error(e),
        };
        let own_address = self.address_of(host);
        let attempts = token.join_addresses.len();
        let mut last_err: Option<String> = None;
        for addr in &token.join_addresses {
            let Some(id) = self.daemon_at(addr) else {
                continue; // "Failed to get certificate of cluster member"
            };
            if self.clusters[&id].fingerprint != token.fingerprint {
                continue; // "Cluster certificate token does not match that of cluster member"
            }
            match self.admit(id, host, &own_address, &token.secret, stuck) {
                Ok(()) => {
                    if let Some(h) = self.hosts.get_mut(host) {
                        h.member_of = Some(id);
                    }
                    return CommandOutput::ok("");
                }
                Err(e) => last_err = Some(e),
            }
        }
        let last = last_err.unwrap_or_else(|| "%!w(<nil>)".to_string());
        error(format!(
            "{attempts} join attempts were unsuccessful. Last error: {last}"
        ))
    }

    /// The leader's side of a join: checks the token and records the member as pending.
    fn admit(
        &mut self,
        id: ClusterId,
        host: &str,
        address: &str,
        secret: &str,
        stuck: bool,
    ) -> Result<(), String> {
        if !self.has_quorum(&self.clusters[&id]) {
            return Err("context deadline exceeded".to_string());
        }
        let now = self.now;
        let delay = self.config.pending_delay;
        let c = &self.clusters[&id];
        if c.members.iter().any(|m| m.address == address) {
            return Err(format!("Remote with address {address:?} exists"));
        }
        let Some(pos) = c.tokens.iter().position(|t| t.secret == secret) else {
            return Err("CoreTokenRecord not found".to_string());
        };
        if c.tokens[pos].expiry.expired(now) {
            return Err("Token expired".to_string());
        }
        if c.tokens[pos].name != host {
            return Err("Joining server certificate SAN does not contain join token name".to_string());
        }
        if c.members.iter().any(|m| m.name == host) {
            return Err("This \"core_cluster_members\" entry already exists".to_string());
        }
        let mut member = self.new_member(host);
        member.address = address.to_string();
        member.settles_at = if stuck { None } else { Some(now + delay) };
        let c = self.clusters.get_mut(&id).ok_or("Daemon not yet initialized")?;
        c.tokens.remove(pos);
        c.members.push(member);
        self.settle(id);
        Ok(())
    }

    fn cmd_list(&mut self, host: &str, args: &[String]) -> CommandOutput {
        let specs = [FlagSpec {
            long: "format",
            short: Some('f'),
            takes_value: true,
        }];
        let parsed = match parse_flags(args, &specs) {
            Ok(p) => p,
            Err(e) => return error(e),
        };
        if parsed.help {
            return CommandOutput::ok(self.help(
                "list",
                "List servers in the cluster",
                "  -f, --format   Format (csv|json|table|yaml|compact) (default \"table\")\n",
            ));
        }
        if let Some(e) = self.socket_error(host, "Get", "1.0/cluster") {
            return error(e);
        }
        let Some(id) = self.local_cluster(host) else {
            return error("Daemon not yet initialized");
        };
        let c = &self.clusters[&id];
        if !self.has_quorum(c) {
            return error("Failed to get cluster members: context deadline exceeded");
        }
        let mut members: Vec<&Member> = c.members.iter().collect();
        members.sort_by(|a, b| a.name.cmp(&b.name));
        let format = parsed.values.get("format").map_or("table", String::as_str);
        let rows: Vec<[String; 5]> = {
            let mut rows: Vec<[String; 5]> = members
                .iter()
                .map(|m| {
                    [
                        m.name.clone(),
                        m.address.clone(),
                        m.role.as_str().to_string(),
                        m.cert_fingerprint.clone(),
                        self.status_of(m).as_str().to_string(),
                    ]
                })
                .collect();
            rows.sort_by(|a, b| natural_cmp(&a[0], &b[0]));
            rows
        };
        match format {
            "json" => {
                let listed: Vec<ListedMember<'_>> = members.iter().map(|m| self.listed(m)).collect();
                let json = serde_json::to_string(&listed).unwrap_or_default();
                CommandOutput::ok(format!("{json}\n"))
            }
            "yaml" => CommandOutput::ok(
                members
                    .iter()
                    .map(|m| yaml_member(&self.listed(m)))
                    .collect::<String>(),
            ),
            "csv" => CommandOutput::ok(
                rows.iter()
                    .map(|r| format!("{}\n", r.join(",")))
                    .collect::<String>(),
            ),
            "table" => CommandOutput::ok(render_table(&rows, true)),
            "compact" => CommandOutput::ok(render_table(&rows, false)),
            other => error(format!("Invalid format {other:?}")),
        }
    }

    fn cmd_remove(&mut self, host: &str, args: &[String]) -> CommandOutput {
        let specs = [FlagSpec {
            long: "force",
            short: Some('f'),
            takes_value: false,
        }];
        let parsed = match parse_flags(args, &specs) {
            Ok(p) => p,
            Err(e) => return error(e),
        };
        if parsed.help {
            return CommandOutput::ok(self.help(
                "remove <NAME>",
                "Removes a server from the cluster",
                "  -f, --force   Forcibly remove the cluster member\n",
            ));
        }
        if parsed.positionals.len() != 1 {
            return error(format!("accepts 1 arg(s), received {}", parsed.positionals.len()));
        }
        let name = parsed.positionals[0].clone();
        let force = parsed.values.get("force").is_some_and(|v| v == "true");
        if let Some(e) = self.socket_error(host, "Delete", &format!("1.0/cluster/{name}")) {
            return error(e);
        }
        let Some(id) = self.local_cluster(host) else {
            return error("Daemon not yet initialized");
        };
        let c = &self.clusters[&id];
        let Some(pos) = c.members.iter().position(|m| m.name == name) else {
            return error(format!("No remote exists with the given name {name:?}"));
        };
        if !self.has_quorum(c) {
            return error("context deadline exceeded");
        }
        let settled = c.members.iter().filter(|m| m.role != Role::Pending).count();
        if settled < 2 {
            return error("Cannot remove cluster members, there are no remaining non-pending members");
        }
        let target = &c.members[pos];
        if !force && !self.is_live(target) {
            let addr = &target.address;
            return error(format!(
                "Failed to run pre-remove hook on cluster member {name:?}: Post \
                 \"https://{addr}/core/internal/hooks/pre-remove\": dial tcp {addr}: connect: no route to host"
            ));
        }
        let Some(c) = self.clusters.get_mut(&id) else {
            return error("Daemon not yet initialized");
        };
        let removed = c.members.remove(pos);
        if let Some(h) = self.hosts.get_mut(&removed.name) {
            if h.member_of == Some(id) && h.generation == removed.generation {
                h.member_of = None;
            }
        }
        self.rebalance(id);
        CommandOutput::ok("")
    }

    // ----- the model -----

    fn ensure_host(&mut self, host: &str) {
        if self.hosts.contains_key(host) {
            return;
        }
        let n = self.hosts.len() + 10;
        let ip = format!("10.42.{}.{}", n / 250, n % 250 + 1);
        self.hosts.insert(
            host.to_string(),
            Host {
                ip,
                down: false,
                generation: 0,
                member_of: None,
                faults: Vec::new(),
            },
        );
    }

    fn address_of(&self, host: &str) -> String {
        let ip = self.hosts.get(host).map_or("127.0.0.1", |h| h.ip.as_str());
        format!("{ip}:{}", self.config.port)
    }

    fn new_member(&mut self, host: &str) -> Member {
        let seq = self.next_seq;
        self.next_seq += 1;
        let der: Vec<u8> = (0..54).flat_map(|_| self.rng.next().to_le_bytes()).collect();
        let b64 = base64_encode(&der[..430]);
        let mut certificate = String::from("-----BEGIN CERTIFICATE-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            certificate.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            certificate.push('\n');
        }
        certificate.push_str("-----END CERTIFICATE-----\n");
        let generation = self.hosts.get(host).map_or(0, |h| h.generation);
        Member {
            name: host.to_string(),
            address: self.address_of(host),
            certificate,
            cert_fingerprint: self.rng.hex64(),
            role: Role::Pending,
            generation,
            seq,
            settles_at: None,
            last_heartbeat: None,
        }
    }

    /// The cluster `host`'s daemon belongs to, if it is up.
    fn local_cluster(&self, host: &str) -> Option<ClusterId> {
        self.hosts.get(host).filter(|h| !h.down).and_then(|h| h.member_of)
    }

    /// The error of a CLI that cannot reach its local daemon.
    fn socket_error(&self, host: &str, method: &str, endpoint: &str) -> Option<String> {
        self.is_down(host).then(|| {
            format!(
                "{method} \"http://control.socket/core/{endpoint}\": dial unix {}/control.socket: connect: \
                 connection refused",
                self.config.state_dir
            )
        })
    }

    /// Whether the daemon that joined as `m` still runs.
    fn is_live(&self, m: &Member) -> bool {
        self.hosts
            .get(&m.name)
            .is_some_and(|h| !h.down && h.generation == m.generation)
    }

    fn status_of(&self, m: &Member) -> MemberStatus {
        if self.is_live(m) {
            MemberStatus::Online
        } else {
            MemberStatus::Unreachable
        }
    }

    /// The cluster whose live member answers at `addr`.
    fn daemon_at(&self, addr: &str) -> Option<ClusterId> {
        self.clusters.iter().find_map(|(id, c)| {
            c.members
                .iter()
                .any(|m| m.address == addr && self.is_live(m))
                .then_some(*id)
        })
    }

    fn has_quorum(&self, c: &Cluster) -> bool {
        let voters: Vec<&Member> = c.members.iter().filter(|m| m.role == Role::Voter).collect();
        let online = voters.iter().filter(|m| self.is_live(m)).count();
        online * 2 > voters.len()
    }

    fn take_fault(&mut self, host: &str, verb: Verb) -> Option<FaultKind> {
        let h = self.hosts.get_mut(host)?;
        let pos = h
            .faults
            .iter()
            .position(|f| f.verb == verb || f.verb == Verb::Any)?;
        let kind = h.faults[pos].kind.clone();
        match &mut h.faults[pos].repeat {
            Repeat::Always => {}
            Repeat::Once | Repeat::Times(0 | 1) => {
                h.faults.remove(pos);
            }
            Repeat::Times(n) => *n -= 1,
        }
        Some(kind)
    }

    /// Settles the pending members whose delay is over, in order, and applies the role rule.
    fn settle(&mut self, id: ClusterId) {
        let now = self.now;
        let Some(c) = self.clusters.get(&id) else { return };
        if !self.has_quorum(c) {
            return;
        }
        let mut due: Vec<(Duration, u64)> = c
            .members
            .iter()
            .filter(|m| m.role == Role::Pending)
            .filter_map(|m| m.settles_at.filter(|&t| t <= now).map(|t| (t, m.seq)))
            .collect();
        due.sort();
        for (at, seq) in due {
            if let Some(m) = self
                .clusters
                .get_mut(&id)
                .and_then(|c| c.members.iter_mut().find(|m| m.seq == seq))
            {
                m.role = Role::Spare;
                m.settles_at = None;
                m.last_heartbeat = Some(at);
            }
            self.rebalance(id);
        }
    }

    fn heartbeat(&mut self, id: ClusterId) {
        let interval = self.config.heartbeat_interval.as_nanos().max(1);
        let beat = Duration::from_nanos(
            u64::try_from(self.now.as_nanos() / interval * interval).unwrap_or(u64::MAX),
        );
        let live: Vec<bool> = match self.clusters.get(&id) {
            Some(c) => c.members.iter().map(|m| self.is_live(m)).collect(),
            None => return,
        };
        if let Some(c) = self.clusters.get_mut(&id) {
            for (m, live) in c.members.iter_mut().zip(live) {
                if let (true, Some(last)) = (live, m.last_heartbeat) {
                    m.last_heartbeat = Some(last.max(beat));
                }
            }
        }
    }

    fn rebalance_all(&mut self) {
        let ids: Vec<ClusterId> = self.clusters.keys().copied().collect();
        for id in ids {
            self.rebalance(id);
        }
    }

    /// The role rule of the module documentation.
    fn rebalance(&mut self, id: ClusterId) {
        let Some(c) = self.clusters.get(&id) else { return };
        if !self.has_quorum(c) {
            return;
        }
        let live: Vec<bool> = c.members.iter().map(|m| self.is_live(m)).collect();
        let Some(c) = self.clusters.get_mut(&id) else {
            return;
        };
        let members = &mut c.members;
        let first_online = |members: &[Member], roles: &[Role]| {
            roles
                .iter()
                .find_map(|r| (0..members.len()).find(|&i| live[i] && members[i].role == *r))
        };
        // 1. fill voters.
        while members.iter().filter(|m| m.role == Role::Voter).count() < VOTERS {
            let Some(i) = first_online(members, &[Role::StandBy, Role::Spare]) else {
                break;
            };
            members[i].role = Role::Voter;
        }
        // 2. replace offline voters.
        for off in 0..members.len() {
            if members[off].role != Role::Voter || live[off] {
                continue;
            }
            let Some(i) = first_online(members, &[Role::StandBy, Role::Spare]) else {
                break;
            };
            members[i].role = Role::Voter;
            members[off].role = Role::Spare;
        }
        // 3. fill stand-bys.
        while members.iter().filter(|m| m.role == Role::StandBy).count() < STAND_BYS {
            let Some(i) = first_online(members, &[Role::Spare]) else {
                break;
            };
            members[i].role = Role::StandBy;
        }
        // 4. replace offline stand-bys.
        for off in 0..members.len() {
            if members[off].role != Role::StandBy || live[off] {
                continue;
            }
            let Some(i) = first_online(members, &[Role::Spare]) else {
                break;
            };
            members[i].role = Role::StandBy;
            members[off].role = Role::Spare;
        }
    }

    fn listed<'a>(&self, m: &'a Member) -> ListedMember<'a> {
        ListedMember {
            name: &m.name,
            address: &m.address,
            certificate: &m.certificate,
            role: m.role.as_str(),
            schema_internal_version: SCHEMA_INTERNAL,
            schema_external_version: SCHEMA_EXTERNAL,
            last_heartbeat: m
                .last_heartbeat
                .map_or_else(|| ZERO_TIME.to_string(), |t| self.timestamp(t)),
            status: self.status_of(m).as_str(),
            extensions: EXTENSIONS,
            secret: "",
        }
    }

    /// Virtual time as Go's RFC 3339 (nano) UTC timestamp.
    fn timestamp(&self, t: Duration) -> String {
        let secs = self.config.epoch_unix_secs + i64::try_from(t.as_secs()).unwrap_or(i64::MAX / 2);
        rfc3339(secs, t.subsec_nanos())
    }

    fn group_help(&self) -> String {
        format!(
            "Manages the cluster\n\nUsage:\n  {0} [command]\n\nAvailable Commands:\n  add         Generates a \
             token for a new server\n  bootstrap   Sets up a new cluster\n  join        Joins an existing \
             cluster\n  list        List servers in the cluster\n  remove      Removes a server from the \
             cluster\n\nFlags:\n  -h, --help   help for cluster\n\nUse \"{0} [command] --help\" for more \
             information about a command.\n",
            self.config.command_name
        )
    }

    fn help(&self, usage: &str, short: &str, flags: &str) -> String {
        let verb = usage.split(' ').next().unwrap_or(usage);
        format!(
            "{short}\n\nUsage:\n  {} {usage} [flags]\n\nFlags:\n{flags}  -h, --help   help for {verb}\n",
            self.config.command_name
        )
    }
}

/// A failed command as cobra prints it.
fn error(msg: impl fmt::Display) -> CommandOutput {
    CommandOutput::failed(1, format!("Error: {msg}\n"))
}

// ----- flags, pflag style -----

struct FlagSpec {
    long: &'static str,
    short: Option<char>,
    takes_value: bool,
}

#[derive(Default)]
struct Parsed {
    positionals: Vec<String>,
    values: BTreeMap<&'static str, String>,
    help: bool,
}

/// Parses interspersed flags as spf13/pflag does; the error is cobra's message.
fn parse_flags(args: &[String], specs: &[FlagSpec]) -> Result<Parsed, String> {
    let mut parsed = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            parsed.positionals.extend(args[i..].iter().cloned());
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            if name == "help" {
                parsed.help = true;
                continue;
            }
            let spec = specs
                .iter()
                .find(|s| s.long == name)
                .ok_or_else(|| format!("unknown flag: --{name}"))?;
            let value = if spec.takes_value {
                match inline {
                    Some(v) => v,
                    None if i < args.len() => {
                        i += 1;
                        args[i - 1].clone()
                    }
                    None => return Err(format!("flag needs an argument: --{name}")),
                }
            } else {
                inline.unwrap_or_else(|| "true".to_string())
            };
            parsed.values.insert(spec.long, value);
        } else if let Some(shorts) = arg.strip_prefix('-').filter(|s| !s.is_empty()) {
            let chars: Vec<char> = shorts.chars().collect();
            let mut k = 0;
            while k < chars.len() {
                let c = chars[k];
                k += 1;
                if c == 'h' {
                    parsed.help = true;
                    continue;
                }
                let spec = specs
                    .iter()
                    .find(|s| s.short == Some(c))
                    .ok_or_else(|| format!("unknown shorthand flag: '{c}' in {arg}"))?;
                if spec.takes_value {
                    let rest: String = chars[k..].iter().collect();
                    let value = if let Some(v) = rest.strip_prefix('=') {
                        v.to_string()
                    } else if !rest.is_empty() {
                        rest
                    } else if i < args.len() {
                        i += 1;
                        args[i - 1].clone()
                    } else {
                        return Err(format!("flag needs an argument: '{c}' in {arg}"));
                    };
                    parsed.values.insert(spec.long, value);
                    break;
                }
                parsed.values.insert(spec.long, "true".to_string());
            }
        } else {
            parsed.positionals.push(arg.clone());
        }
    }
    Ok(parsed)
}

/// microcluster's `ValidateFQDN`: 1-255 characters, each dot-separated label a valid hostname
/// per LXD's `validate.IsHostname`.
fn validate_fqdn(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 255 {
        return Err("Name must be 1-255 characters long".to_string());
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err("Name must be 1-63 characters long".to_string());
        }
        if label.starts_with('-') {
            return Err("Name must not start with \"-\" character".to_string());
        }
        if label.ends_with('-') {
            return Err("Name must not end with \"-\" character".to_string());
        }
        if label.parse::<u64>().is_ok() {
            return Err("Name cannot be a number".to_string());
        }
        if !label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err("Name can only contain alphanumeric and hyphen characters".to_string());
        }
    }
    Ok(())
}

// ----- tokens -----

struct DecodedToken {
    secret: String,
    fingerprint: String,
    join_addresses: Vec<String>,
}

/// Go's `DecodeToken`: standard base64, then JSON into `types.Token`. Errors read as Go's do and
/// never contain the token.
fn decode_token(token: &str) -> Result<DecodedToken, String> {
    let bytes = base64_decode(token).map_err(|at| format!("illegal base64 data at input byte {at}"))?;
    let value: serde_json::Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) if e.is_eof() => return Err("unexpected end of JSON input".to_string()),
        Err(_) => {
            let first = bytes
                .iter()
                .copied()
                .find(|b| !b" \t\r\n".contains(b))
                .unwrap_or(b' ');
            let starts_value = matches!(
                first,
                b'{' | b'[' | b'"' | b't' | b'f' | b'n' | b'-' | b'0'..=b'9'
            );
            return Err(if starts_value {
                "invalid character in JSON input".to_string()
            } else {
                format!(
                    "invalid character {} looking for beginning of value",
                    go_quote_byte(first)
                )
            });
        }
    };
    let kind = |v: &serde_json::Value| match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "bool",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    };
    let mut out = DecodedToken {
        secret: String::new(),
        fingerprint: String::new(),
        join_addresses: Vec::new(),
    };
    let obj = match &value {
        serde_json::Value::Object(o) => o,
        serde_json::Value::Null => return Ok(out),
        other => {
            return Err(format!(
                "json: cannot unmarshal {} into Go value of type types.Token",
                kind(other)
            ))
        }
    };
    let string_field = |key: &str| -> Result<String, String> {
        match obj.get(key) {
            None | Some(serde_json::Value::Null) => Ok(String::new()),
            Some(serde_json::Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(format!(
                "json: cannot unmarshal {} into Go struct field Token.{key} of type string",
                kind(other)
            )),
        }
    };
    out.secret = string_field("secret")?;
    out.fingerprint = string_field("fingerprint")?;
    match obj.get("join_addresses") {
        None | Some(serde_json::Value::Null) => {}
        Some(serde_json::Value::Array(items)) => {
            for item in items {
                match item {
                    serde_json::Value::String(s) => out.join_addresses.push(s.clone()),
                    other => {
                        return Err(format!(
                            "json: cannot unmarshal {} into Go struct field Token.join_addresses of type \
                             types.AddrPort",
                            kind(other)
                        ))
                    }
                }
            }
        }
        Some(other) => {
            return Err(format!(
            "json: cannot unmarshal {} into Go struct field Token.join_addresses of type []types.AddrPort",
            kind(other)
        ))
        }
    }
    Ok(out)
}

fn go_quote_byte(b: u8) -> String {
    if b.is_ascii_graphic() || b == b' ' {
        format!("'{}'", b as char)
    } else {
        format!("'\\x{b:02x}'")
    }
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (Go's `base64.StdEncoding`).
fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (k, shift) in [18u32, 12, 6, 0].iter().enumerate() {
            if k <= chunk.len() {
                out.push(char::from(BASE64[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard padded base64 as Go does (newlines ignored); the error is the offending
/// input byte's index.
fn base64_decode(input: &str) -> Result<Vec<u8>, usize> {
    let bytes: Vec<u8> = input.bytes().filter(|&b| b != b'\n' && b != b'\r').collect();
    let value = |c: u8| BASE64.iter().position(|&x| x == c).map(|v| v as u32);
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    let mut i = 0;
    while i < bytes.len() {
        let mut quad = [0u32; 4];
        let mut n = 0;
        for (k, slot) in quad.iter_mut().enumerate() {
            let idx = i + k;
            let Some(&c) = bytes.get(idx) else { return Err(i) };
            if c == b'=' {
                let end_ok = match k {
                    2 => bytes.get(idx + 1) == Some(&b'=') && idx + 2 == bytes.len(),
                    3 => idx + 1 == bytes.len(),
                    _ => false,
                };
                if !end_ok {
                    return Err(idx);
                }
                break;
            }
            *slot = value(c).ok_or(idx)?;
            n += 1;
        }
        let triple = (quad[0] << 18) | (quad[1] << 12) | (quad[2] << 6) | quad[3];
        let [_, a, b, c] = triple.to_be_bytes();
        out.push(a);
        if n >= 3 {
            out.push(b);
        }
        if n == 4 {
            out.push(c);
        }
        i += 4;
    }
    Ok(out)
}

// ----- output -----

/// Go's RFC 3339 with nanoseconds, trailing zeros trimmed, UTC.
fn rfc3339(unix_secs: i64, nanos: u32) -> String {
    let days = unix_secs.div_euclid(86_400);
    let rem = unix_secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut s = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Natural order: digit runs compare as numbers (LXD's `SortColumnsNaturally`).
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let si = i;
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let na = std::str::from_utf8(&a[si..i])
                .unwrap_or("0")
                .trim_start_matches('0');
            let nb = std::str::from_utf8(&b[sj..j])
                .unwrap_or("0")
                .trim_start_matches('0');
            let ord = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
            if ord != Ordering::Equal {
                return ord;
            }
        } else {
            if a[i] != b[j] {
                return a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
    }
    (a.len() - i).cmp(&(b.len() - j))
}

/// LXD's table (`bordered`) or compact rendering.
fn render_table(rows: &[[String; 5]], bordered: bool) -> String {
    let header = ["NAME", "ADDRESS", "ROLE", "FINGERPRINT", "STATUS"];
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: &[&str]| -> String {
        if bordered {
            let body: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!(" {c:<w$} "))
                .collect();
            format!("|{}|\n", body.join("|"))
        } else {
            let body: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            format!("  {}\n", body.join("  ").trim_end())
        }
    };
    let rule: String = if bordered {
        let parts: Vec<String> = widths.iter().map(|w| "-".repeat(w + 2)).collect();
        format!("+{}+\n", parts.join("+"))
    } else {
        String::new()
    };
    let mut out = rule.clone();
    out.push_str(&line(&header));
    out.push_str(&rule);
    for r in rows {
        let cells: Vec<&str> = r.iter().map(String::as_str).collect();
        out.push_str(&line(&cells));
        out.push_str(&rule);
    }
    out
}

/// One member as `yaml.Marshal` of `[]ClusterMember` prints it.
fn yaml_member(m: &ListedMember<'_>) -> String {
    let mut s = format!("- name: {}\n  address: {}\n  certificate: |\n", m.name, m.address);
    for line in m.certificate.lines() {
        s.push_str("    ");
        s.push_str(line);
        s.push('\n');
    }
    s.push_str(&format!(
        "  role: {}\n  schema_internal_version: {}\n  schema_external_version: {}\n  last_heartbeat: {}\n  \
         status: {}\n  extensions:\n",
        m.role, m.schema_internal_version, m.schema_external_version, m.last_heartbeat, m.status
    ));
    for e in m.extensions {
        s.push_str(&format!("  - {e}\n"));
    }
    s.push_str("  secret: \"\"\n");
    s
}

// ----- randomness -----

/// splitmix64: the world's only source of randomness, seeded by the caller.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// 32 random bytes as 64 lowercase hex digits (Go's `RandomCryptoString`, a SHA-256).
    fn hex64(&mut self) -> String {
        (0..4).map(|_| format!("{:016x}", self.next())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    fn run(w: &mut Microcluster, host: &str, cmd: &str, now: Duration) -> CommandOutput {
        match w.exec(host, &args(cmd), now) {
            Exec::Done(out) => out,
            Exec::Hang => panic!("{cmd} on {host} hung"),
        }
    }

    fn ok(w: &mut Microcluster, host: &str, cmd: &str, now: Duration) -> String {
        let out = run(w, host, cmd, now);
        assert!(out.success(), "{cmd} on {host} failed: {}", out.stderr);
        out.stdout
    }

    fn fails(w: &mut Microcluster, host: &str, cmd: &str, now: Duration) -> String {
        let out = run(w, host, cmd, now);
        assert_eq!(
            out.code,
            Some(1),
            "{cmd} on {host} should fail, printed {:?}",
            out.stdout
        );
        assert!(out.stdout.is_empty());
        assert!(
            out.stderr.starts_with("Error: ") && out.stderr.ends_with('\n'),
            "{}",
            out.stderr
        );
        out.stderr
    }

    fn token(w: &mut Microcluster, host: &str, name: &str, now: Duration) -> String {
        let out = ok(w, host, &format!("add {name}"), now);
        assert!(out.ends_with('\n'));
        out.trim_end().to_string()
    }

    fn join(w: &mut Microcluster, host: &str, tok: &str, now: Duration) -> CommandOutput {
        match w.exec(host, &["join".to_string(), tok.to_string()], now) {
            Exec::Done(out) => out,
            Exec::Hang => panic!("join hung"),
        }
    }

    fn list(w: &mut Microcluster, host: &str, now: Duration) -> Vec<serde_json::Value> {
        let out = ok(w, host, "list -f json", now);
        serde_json::from_str(&out).expect("list -f json prints JSON")
    }

    fn roles(w: &Microcluster, id: ClusterId) -> Vec<(String, &'static str)> {
        w.members(id)
            .into_iter()
            .map(|m| (m.name, m.role.as_str()))
            .collect()
    }

    /// A cluster of hosts `h0..hN` built at 10 s intervals, all settled; returns its id and time.
    fn cluster_of_n(w: &mut Microcluster, n: usize) -> (ClusterId, Duration) {
        let mut t = Duration::ZERO;
        ok(w, "h0", "bootstrap", t);
        for i in 1..n {
            t += 10 * S;
            let tok = token(w, "h0", &format!("h{i}"), t);
            let out = join(w, &format!("h{i}"), &tok, t);
            assert!(out.success(), "{}", out.stderr);
        }
        t += 10 * S;
        w.advance(t);
        w.check_invariants().unwrap();
        (w.cluster_of("h0").unwrap(), t)
    }

    fn decode(tok: &str) -> serde_json::Value {
        serde_json::from_slice(&base64_decode(tok).unwrap()).unwrap()
    }

    #[test]
    fn bootstrap_makes_a_one_voter_cluster() {
        let mut w = Microcluster::new(1);
        assert_eq!(ok(&mut w, "juju-0", "bootstrap", S), "");
        let id = w.cluster_of("juju-0").unwrap();
        assert_eq!(w.clusters(), vec![id]);
        let m = w.members(id);
        assert_eq!(m.len(), 1);
        assert_eq!(
            (m[0].name.as_str(), m[0].role, m[0].status),
            ("juju-0", Role::Voter, MemberStatus::Online)
        );
        assert!(m[0].address.ends_with(":6443"));
        let l = list(&mut w, "juju-0", 15 * S);
        assert_eq!(l.len(), 1);
        assert_eq!(l[0]["name"], "juju-0");
        assert_eq!(l[0]["role"], "voter");
        assert_eq!(l[0]["status"], "ONLINE");
        assert_eq!(l[0]["last_heartbeat"], "2026-01-01T00:00:10Z");
        w.check_invariants().unwrap();
    }

    #[test]
    fn bootstrap_twice_fails() {
        let mut w = Microcluster::new(1);
        ok(&mut w, "a", "bootstrap", S);
        let err = fails(&mut w, "a", "bootstrap", 2 * S);
        assert_eq!(err, "Error: Unable to initialize cluster: Database is online\n");
        assert_eq!(w.clusters().len(), 1);
    }

    #[test]
    fn bootstrap_with_arguments_prints_help_and_does_nothing() {
        let mut w = Microcluster::new(1);
        let out = run(&mut w, "a", "bootstrap extra", S);
        assert!(out.success() && out.stdout.contains("Usage:"));
        assert!(w.clusters().is_empty());
    }

    #[test]
    fn add_then_join_makes_a_pending_member_that_becomes_a_voter() {
        let mut w = Microcluster::new(7);
        ok(&mut w, "a", "bootstrap", S);
        let tok = token(&mut w, "a", "b", 2 * S);
        assert_eq!(w.total_tokens_outstanding(), 1);
        let out = join(&mut w, "b", &tok, 3 * S);
        assert!(out.success() && out.stdout.is_empty(), "{}", out.stderr);
        let id = w.cluster_of("a").unwrap();
        assert_eq!(w.cluster_of("b"), Some(id));
        assert_eq!(w.tokens_outstanding(id), 0);
        // Pending for 2 s, seen from both members.
        for host in ["a", "b"] {
            let l = list(&mut w, host, 4 * S);
            let b = l.iter().find(|m| m["name"] == "b").unwrap();
            assert_eq!(b["role"], "PENDING");
            assert_eq!(b["status"], "ONLINE");
            assert_eq!(b["last_heartbeat"], ZERO_TIME);
        }
        w.advance(5 * S - Duration::from_millis(1));
        assert_eq!(roles(&w, id)[1].1, "PENDING");
        w.advance(5 * S);
        assert_eq!(roles(&w, id), vec![("a".into(), "voter"), ("b".into(), "voter")]);
        let l = list(&mut w, "b", 6 * S);
        assert_eq!(l[1]["last_heartbeat"], "2026-01-01T00:00:05Z");
        w.check_invariants().unwrap();
    }

    #[test]
    fn list_json_has_the_real_fields_in_order() {
        let mut w = Microcluster::new(3);
        ok(&mut w, "a", "bootstrap", S);
        let out = ok(&mut w, "a", "list --format json", 2 * S);
        assert!(out.ends_with("]\n"));
        let keys: Vec<&str> = out
            .match_indices("\":")
            .map(|(i, _)| &out[out[..i].rfind('"').unwrap() + 1..i])
            .collect();
        assert_eq!(
            keys,
            [
                "name",
                "address",
                "certificate",
                "role",
                "schema_internal_version",
                "schema_external_version",
                "last_heartbeat",
                "status",
                "extensions",
                "secret"
            ]
        );
        let l = list(&mut w, "a", 2 * S);
        assert!(l[0]["certificate"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert_eq!(l[0]["secret"], "");
        assert!(l[0]["extensions"].is_array());
        for form in ["list -fjson", "list -f=json", "list --format=json"] {
            assert_eq!(ok(&mut w, "a", form, 2 * S), out);
        }
    }

    #[test]
    fn list_other_formats() {
        let mut w = Microcluster::new(3);
        cluster_of_n(&mut w, 2);
        let csv = ok(&mut w, "h0", "list --format csv", 100 * S);
        assert_eq!(csv.lines().count(), 2);
        assert!(csv.starts_with("h0,10.42.") && csv.contains(",voter,") && csv.contains(",ONLINE\n"));
        let table = ok(&mut w, "h0", "list", 100 * S);
        assert!(table.contains("| NAME ") && table.starts_with('+'));
        let yaml = ok(&mut w, "h0", "list -f yaml", 100 * S);
        assert!(yaml.starts_with("- name: h0\n") && yaml.contains("  role: voter\n"));
        assert!(ok(&mut w, "h0", "list -f compact", 100 * S).contains("NAME"));
        assert_eq!(
            fails(&mut w, "h0", "list -f xml", 100 * S),
            "Error: Invalid format \"xml\"\n"
        );
        assert_eq!(
            fails(&mut w, "h0", "list -f", 100 * S),
            "Error: flag needs an argument: 'f' in -f\n"
        );
    }

    #[test]
    fn list_only_on_members() {
        let mut w = Microcluster::new(1);
        assert_eq!(
            fails(&mut w, "x", "list -f json", S),
            "Error: Daemon not yet initialized\n"
        );
        ok(&mut w, "a", "bootstrap", S);
        assert_eq!(
            fails(&mut w, "x", "list -f json", S),
            "Error: Daemon not yet initialized\n"
        );
        let tok = token(&mut w, "a", "x", S);
        assert!(join(&mut w, "x", &tok, 2 * S).success());
        assert_eq!(list(&mut w, "x", 2 * S).len(), 2);
    }

    #[test]
    fn token_is_single_use() {
        let mut w = Microcluster::new(1);
        ok(&mut w, "a", "bootstrap", S);
        let tok = token(&mut w, "a", "b", S);
        assert!(join(&mut w, "b", &tok, 2 * S).success());
        // b re-provisioned (same name and address) and its old self removed: the used token is gone.
        w.reprovision("b");
        let out = join(&mut w, "b", &tok, 3 * S);
        assert!(
            out.stderr.contains("Remote with address"),
            "the old b still holds the address"
        );
        ok(&mut w, "a", "remove b --force", 5 * S);
        let out = join(&mut w, "b", &tok, 5 * S);
        assert_eq!(
            out.stderr,
            "Error: 1 join attempts were unsuccessful. Last error: CoreTokenRecord not found\n"
        );
        // And another host cannot use it either.
        let out = join(&mut w, "c", &tok, 3 * S);
        assert!(out.stderr.contains("CoreTokenRecord not found"));
        assert!(!out.stderr.contains(&tok));
    }

    #[test]
    fn token_expires_after_three_hours() {
        let mut w = Microcluster::new(1);
        ok(&mut w, "a", "bootstrap", Duration::ZERO);
        let tok = token(&mut w, "a", "b", Duration::ZERO);
        let tok2 = token(&mut w, "a", "c", Duration::ZERO);
        let id = w.cluster_of("a").unwrap();
        assert!(
            join(&mut w, "c", &tok2, DEFAULT_TOKEN_TIMEOUT).success(),
            "valid at exactly 3 h"
        );
        w.advance(DEFAULT_TOKEN_TIMEOUT + S);
        assert_eq!(w.tokens_outstanding(id), 0);
        let out = join(&mut w, "b", &tok, DEFAULT_TOKEN_TIMEOUT + S);
        assert_eq!(
            out.stderr,
            "Error: 1 join attempts were unsuccessful. Last error: Token expired\n"
        );
        assert_eq!(w.cluster_of("b"), None);
        // The expired record is purged by the next add, so the name is free again.
        let fresh = token(&mut w, "a", "b", DEFAULT_TOKEN_TIMEOUT + 2 * S);
        assert!(join(&mut w, "b", &fresh, DEFAULT_TOKEN_TIMEOUT + 3 * S).success());
    }

    #[test]
    fn timeout_flag_is_honoured() {
        let mut w = Microcluster::new(1);
        ok(&mut w, "a", "bootstrap", Duration::ZERO);
        let short = ok(&mut w, "a", "add b --timeout 60", Duration::ZERO)
            .trim()
            .to_string();
        let never = ok(&mut w, "a", "add c --timeout=0", Duration::ZERO)
            .trim()
            .to_string();
        let out = join(&mut w, "b", &short, 61 * S);
        assert!(out.stderr.contains("Token expired"));
        assert!(join(&mut w, "c", &never, Duration::from_secs(1_000_000)).success());
        let err = fails(&mut w, "a", "add d --timeout soon", Duration::ZERO);
        assert!(err.contains("invalid argument \"soon\" for \"--timeout\" flag"));
        let neg = ok(&mut w, "a", "add e --timeout -1", Duration::from_secs(1_000_000))
            .trim()
            .to_string();
        assert!(join(&mut w, "e", &neg, Duration::from_secs(1_000_000))
            .stderr
            .contains("Token expired"));
    }

    #[test]
    fn expire_all_tokens_hook() {
        let mut w = Microcluster::new(1);
        ok(&mut w, "a", "bootstrap", S);
        let tok = token(&mut w, "a", "b", S);
        token(&mut w, "a", "c", S);
        assert_eq!(w.total_tokens_outstanding(), 2);
        w.expire_all_tokens();
        assert_eq!(w.total_tokens_outstanding(), 0);
        assert!(join(&mut w, "b", &tok, 2 * S).stderr.contains("Token expired"));
    }

    #[test]
    fn token_is_bound_to_its_name() {
        let mut w = Microcluster::new(1);
        ok(&mut w, "a", "bootstrap", S);
        let tok = token(&mut w, "a", "b", S);
        let out = join(&mut w, "c", &tok, 2 * S);
        assert_eq!(
            out.stderr,
            "Error: 1 join attempts were unsuccessful. Last error: Joining server certificate SAN does not \
             contain join token name\n"
        );
        assert_eq!(w.cluster_of("c"), None);
        // The token survives a wrong-name attempt.
        assert!(join(&mut w, "b", &tok, 3 * S).success());
    }

    #[test]
    fn name_taken() {
        let mut w = Microcluster::new(1);
        ok(&mut w, "a", "bootstrap", S);
        token(&mut w, "a", "b", S);
        let err = fails(&mut w, "a", "add b", 2 * S);
        assert!(
            err.starts_with("Error: unable to add server to microcluster, name \"b\" is taken:\n"),
            "{err}"
        );
        assert!(err.contains("UNIQUE constraint failed: core_token_records.name"));
        let err = fails(&mut w, "a", "add a", 2 * S);
        assert!(
            err.starts_with("Error: unable to add server to microcluster, name \"a\" is taken:\n"),
            "{err}"
        );
        // The CLI blames the name for every failure, as the real one does.
        let err = fails(&mut w, "a", "add bad_name", 2 * S);
        assert!(err.contains("name \"bad_name\" is taken:\nToken name \"bad_name\" is not a valid FQDN"));
        assert!(fails(&mut w, "a", "add -x", 2 * S).contains("unknown shorthand flag: 'x' in -x"));
        assert!(fails(&mut w, "a", "add 123", 2 * S).contains("Name cannot be a number"));
        assert!(fails(&mut w, "a", "add x-", 2 * S).contains("must not end with"));
        assert!(fails(&mut w, "nobody", "add z", 2 * S).ends_with("is taken:\nDaemon not yet initialized\n"));
        assert_eq!(
            fails(&mut w, "a", "add", 2 * S),
            "Error: accepts 1 arg(s), received 0\n"
        );
        ok(&mut w, "a", "add host-1.maas", 2 * S);
        assert_eq!(w.total_tokens_outstanding(), 2);
    }

    #[test]
    fn role_assignment_at_one_to_eight_members() {
        let expected = [
            "voter", "voter", "voter", "stand-by", "stand-by", "stand-by", "spare", "spare",
        ];
        for n in 1..=8 {
            let mut w = Microcluster::new(n as u64);
            let (id, t) = cluster_of_n(&mut w, n);
            let r: Vec<&str> = roles(&w, id).into_iter().map(|(_, r)| r).collect();
            assert_eq!(r, expected[..n], "{n} members");
            let l = list(&mut w, "h0", t);
            assert_eq!(l.len(), n);
            assert!(l.iter().all(|m| m["status"] == "ONLINE"));
        }
    }

    #[test]
    fn removing_a_voter_promotes_a_stand_by_and_a_spare() {
        let mut w = Microcluster::new(1);
        let (id, t) = cluster_of_n(&mut w, 8);
        assert_eq!(ok(&mut w, "h3", "remove h1", t), "");
        assert_eq!(w.cluster_of("h1"), None, "the removed daemon is reset");
        let r = roles(&w, id);
        assert_eq!(r.len(), 7);
        assert_eq!(
            r.iter().map(|(_, r)| *r).collect::<Vec<_>>(),
            ["voter", "voter", "voter", "stand-by", "stand-by", "stand-by", "spare"]
        );
        assert_eq!(r[2], ("h3".into(), "voter"));
        assert_eq!(r[5], ("h6".into(), "stand-by"));
        w.check_invariants().unwrap();
        // The removed host may join again with a new token.
        let tok = token(&mut w, "h0", "h1", t);
        assert!(join(&mut w, "h1", &tok, t).success());
    }

    #[test]
    fn remove_rules() {
        let mut w = Microcluster::new(1);
        ok(&mut w, "a", "bootstrap", S);
        assert_eq!(
            fails(&mut w, "a", "remove a", S),
            "Error: Cannot remove cluster members, there are no remaining non-pending members\n"
        );
        assert_eq!(
            fails(&mut w, "a", "remove zz", S),
            "Error: No remote exists with the given name \"zz\"\n"
        );
        assert_eq!(
            fails(&mut w, "x", "remove a", S),
            "Error: Daemon not yet initialized\n"
        );
        let tok = token(&mut w, "a", "b", S);
        assert!(join(&mut w, "b", &tok, S).success());
        // b is pending: a is still the only non-pending member.
        assert!(fails(&mut w, "a", "remove b", 2 * S).contains("no remaining non-pending members"));
        // Self-removal once b has settled.
        ok(&mut w, "b", "remove b", 4 * S);
        assert_eq!(w.cluster_of("b"), None);
        assert_eq!(roles(&w, w.cluster_of("a").unwrap()), vec![("a".into(), "voter")]);
        w.check_invariants().unwrap();
    }

    #[test]
    fn down_host_is_unreachable_and_its_cli_fails() {
        let mut w = Microcluster::new(1);
        let (id, t) = cluster_of_n(&mut w, 3);
        w.mark_down("h2");
        let l = list(&mut w, "h0", t);
        let h2 = l.iter().find(|m| m["name"] == "h2").unwrap();
        assert_eq!(
            (h2["role"].as_str(), h2["status"].as_str()),
            (Some("voter"), Some("UNREACHABLE"))
        );
        let hb = h2["last_heartbeat"].clone();
        let later = list(&mut w, "h0", t + 100 * S);
        assert_eq!(
            later.iter().find(|m| m["name"] == "h2").unwrap()["last_heartbeat"],
            hb,
            "frozen"
        );
        let err = fails(&mut w, "h2", "list -f json", t);
        assert!(err.contains("control.socket: connect: connection refused"));
        // Removing an unreachable member needs --force.
        assert!(fails(&mut w, "h0", "remove h2", t).contains("pre-remove hook"));
        ok(&mut w, "h0", "remove h2 --force", t);
        assert_eq!(w.members(id).len(), 2);
        w.check_invariants().unwrap();
    }

    #[test]
    fn down_voter_is_replaced_when_a_stand_by_exists() {
        let mut w = Microcluster::new(1);
        let (id, t) = cluster_of_n(&mut w, 5);
        w.mark_down("h0");
        let r = roles(&w, id);
        assert_eq!(r[0], ("h0".into(), "spare"));
        assert_eq!(r[3], ("h3".into(), "voter"));
        assert_eq!(r[4], ("h4".into(), "stand-by"));
        w.mark_up("h0");
        assert_eq!(roles(&w, id)[0], ("h0".into(), "stand-by"));
        assert_eq!(list(&mut w, "h0", t).len(), 5);
        w.check_invariants().unwrap();
    }

    #[test]
    fn lost_quorum_blocks_the_database() {
        let mut w = Microcluster::new(1);
        let (id, t) = cluster_of_n(&mut w, 3);
        let tok = token(&mut w, "h0", "late", t);
        w.mark_down("h1");
        w.mark_down("h2");
        assert!(fails(&mut w, "h0", "list -f json", t).contains("context deadline exceeded"));
        assert!(fails(&mut w, "h0", "add x", t).contains("context deadline exceeded"));
        assert!(join(&mut w, "late", &tok, t)
            .stderr
            .contains("context deadline exceeded"));
        w.mark_up("h2");
        assert_eq!(list(&mut w, "h0", t).len(), 3);
        assert!(join(&mut w, "late", &tok, t).success());
        assert_eq!(w.members(id).len(), 4);
    }

    #[test]
    fn two_clusters_and_a_shared_one() {
        let mut w = Microcluster::new(5);
        ok(&mut w, "ovn-0", "bootstrap", S);
        ok(&mut w, "ceph-0", "bootstrap", S);
        let (a, b) = (w.cluster_of("ovn-0").unwrap(), w.cluster_of("ceph-0").unwrap());
        assert_ne!(a, b);
        assert_eq!(w.clusters(), vec![a, b]);
        // A token of one cluster is unknown to the other; names are per cluster.
        let ta = token(&mut w, "ovn-0", "x", S);
        let tb = token(&mut w, "ceph-0", "x", S);
        assert_ne!(decode(&ta)["fingerprint"], decode(&tb)["fingerprint"]);
        // Any host holding a token can join: x (another application's unit) joins a.
        assert!(join(&mut w, "x", &ta, 2 * S).success());
        assert_eq!(w.cluster_of("x"), Some(a));
        // x cannot then join b, nor bootstrap.
        assert!(join(&mut w, "x", &tb, 2 * S)
            .stderr
            .contains("Database is online"));
        assert!(fails(&mut w, "x", "bootstrap", 2 * S).contains("Database is online"));
        assert_eq!(w.tokens_outstanding(b), 1);
        assert_eq!(list(&mut w, "ovn-0", 5 * S).len(), 2);
        assert_eq!(list(&mut w, "ceph-0", 5 * S).len(), 1);
        w.check_invariants().unwrap();
    }

    #[test]
    fn reprovisioned_host_is_stuck_until_forcibly_removed() {
        let mut w = Microcluster::new(1);
        let (id, t) = cluster_of_n(&mut w, 3);
        w.reprovision("h2");
        assert_eq!(w.cluster_of("h2"), None);
        assert_eq!(
            fails(&mut w, "h2", "list -f json", t),
            "Error: Daemon not yet initialized\n"
        );
        let l = list(&mut w, "h0", t);
        assert_eq!(
            l.iter().find(|m| m["name"] == "h2").unwrap()["status"],
            "UNREACHABLE"
        );
        // The name is still a member: no new token; the old (used) token is useless.
        assert!(fails(&mut w, "h0", "add h2", t).contains("is taken"));
        ok(&mut w, "h0", "remove h2 --force", t);
        // The address is free again and so is the name.
        let tok = token(&mut w, "h0", "h2", t);
        assert!(join(&mut w, "h2", &tok, t).success());
        w.advance(t + 5 * S);
        assert_eq!(roles(&w, id)[2], ("h2".into(), "voter"));
        w.check_invariants().unwrap();
    }

    #[test]
    fn reprovisioned_host_with_an_unused_token_hits_its_old_address() {
        let mut w = Microcluster::new(1);
        let (_, t) = cluster_of_n(&mut w, 3);
        // h2's old incarnation is still listed with h2's address: a fresh machine re-using that
        // IP under a new name collides on the address.
        w.reprovision("h2");
        let ip = w.host_address("h2").trim_end_matches(":6443").to_string();
        w.set_host_address("new", &ip);
        let tok = token(&mut w, "h0", "new", t);
        let out = join(&mut w, "new", &tok, t);
        assert!(
            out.stderr
                .contains(&format!("Remote with address \"{ip}:6443\" exists")),
            "{}",
            out.stderr
        );
    }

    #[test]
    fn garbage_tokens() {
        let mut w = Microcluster::new(1);
        ok(&mut w, "a", "bootstrap", S);
        let cases = [
            ("hello", "Error: illegal base64 data at input byte 4\n"),
            ("@@@@", "Error: illegal base64 data at input byte 0\n"),
            ("", "Error: unexpected end of JSON input\n"),
            (
                "aGVsbG8=",
                "Error: invalid character 'h' looking for beginning of value\n",
            ),
            (
                "W10=",
                "Error: json: cannot unmarshal array into Go value of type types.Token\n",
            ),
            (
                "e30=",
                "Error: 0 join attempts were unsuccessful. Last error: %!w(<nil>)\n",
            ),
        ];
        for (tok, want) in cases {
            assert_eq!(join(&mut w, "b", tok, S).stderr, want, "token {tok:?}");
        }
        // A well-formed token whose addresses reach nobody.
        let wire =
            br#"{"secret":"00","fingerprint":"11","join_addresses":["10.9.9.9:6443","10.9.9.8:6443"]}"#;
        let out = join(&mut w, "b", &base64_encode(wire), S);
        assert_eq!(
            out.stderr,
            "Error: 2 join attempts were unsuccessful. Last error: %!w(<nil>)\n"
        );
        // Right cluster, invented secret.
        let real = decode(&token(&mut w, "a", "b", S));
        let forged = serde_json::json!({"secret": "f".repeat(64), "fingerprint": real["fingerprint"],
            "join_addresses": real["join_addresses"]});
        let out = join(&mut w, "b", &base64_encode(forged.to_string().as_bytes()), S);
        assert!(out.stderr.ends_with("Last error: CoreTokenRecord not found\n"));
        assert_eq!(w.cluster_of("b"), None);
        let out = run(&mut w, "b", "join", S);
        assert!(
            out.success() && out.stdout.contains("join <TOKEN>"),
            "wrong arg count prints help"
        );
    }

    #[test]
    fn token_format_and_growth() {
        let mut w = Microcluster::new(9);
        let (_, t) = cluster_of_n(&mut w, 1);
        let mut sizes = Vec::new();
        for i in 1..=12 {
            let tok = token(&mut w, "h0", &format!("h{i}"), t);
            let v = decode(&tok);
            let secret = v["secret"].as_str().unwrap();
            assert_eq!(secret.len(), 64);
            assert!(secret.bytes().all(|b| b.is_ascii_hexdigit()));
            assert_eq!(v["fingerprint"].as_str().unwrap().len(), 64);
            let addrs = v["join_addresses"].as_array().unwrap();
            assert_eq!(addrs.len(), i);
            let json = base64_decode(&tok).unwrap();
            assert!(json.starts_with(br#"{"secret":""#), "Go field order");
            sizes.push(tok.len());
            // The reference's estimate: (180 + 19·members)·4/3 bytes.
            let approx = (180 + 19 * i) * 4 / 3;
            assert!(
                tok.len().abs_diff(approx) <= 8 + i * 2,
                "{} vs {approx}",
                tok.len()
            );
            assert!(join(&mut w, &format!("h{i}"), &tok, t).success());
        }
        assert!(sizes.windows(2).all(|p| p[1] > p[0]), "{sizes:?}");
        assert_eq!(sizes[0], 260);
    }

    #[test]
    fn faults() {
        let mut w = Microcluster::new(1);
        ok(&mut w, "a", "bootstrap", S);
        w.inject_fault(
            "a",
            Fault::once(Verb::List, FaultKind::Garbage("not json".into())),
        );
        assert_eq!(ok(&mut w, "a", "list -f json", S), "not json");
        assert_eq!(list(&mut w, "a", S).len(), 1, "once only");
        w.inject_fault(
            "a",
            Fault::always(
                Verb::Add,
                FaultKind::Fail {
                    code: 2,
                    stderr: "boom".into(),
                },
            ),
        );
        for _ in 0..3 {
            assert_eq!(run(&mut w, "a", "add b", S), CommandOutput::failed(2, "boom"));
        }
        assert_eq!(w.total_tokens_outstanding(), 0, "a failed command has no effect");
        w.clear_faults("a");
        let tok = token(&mut w, "a", "b", S);
        w.inject_fault(
            "b",
            Fault {
                verb: Verb::Any,
                kind: FaultKind::Hang,
                repeat: Repeat::Times(2),
            },
        );
        assert_eq!(w.exec("b", &args("list"), S), Exec::Hang);
        assert_eq!(w.exec("b", &["join".into(), tok.clone()], S), Exec::Hang);
        assert_eq!(w.cluster_of("b"), None, "a hang before the effect");
        // Took effect, then hung: the hook died but b is in the cluster.
        w.inject_fault("b", Fault::once(Verb::Join, FaultKind::HangAfterEffect));
        assert_eq!(w.exec("b", &["join".into(), tok.clone()], S), Exec::Hang);
        assert!(w.cluster_of("b").is_some());
        assert!(join(&mut w, "b", &tok, S).stderr.contains("Database is online"));
        assert!(!format!("{:?}", Exec::Done(CommandOutput::ok(tok.clone()))).contains(&tok));
    }

    #[test]
    fn stuck_pending() {
        let mut w = Microcluster::new(1);
        ok(&mut w, "a", "bootstrap", S);
        let tok = token(&mut w, "a", "b", S);
        w.inject_fault("b", Fault::once(Verb::Join, FaultKind::StuckPending));
        assert!(join(&mut w, "b", &tok, S).success());
        let id = w.cluster_of("a").unwrap();
        w.advance(Duration::from_secs(100_000));
        assert_eq!(roles(&w, id)[1], ("b".into(), "PENDING"));
        w.check_invariants().unwrap();
    }

    #[test]
    fn pending_delay_is_configurable() {
        let config = Config {
            pending_delay: Duration::from_secs(30),
            ..Config::default()
        };
        let mut w = Microcluster::with_config(1, config);
        ok(&mut w, "a", "bootstrap", S);
        let tok = token(&mut w, "a", "b", S);
        assert!(join(&mut w, "b", &tok, S).success());
        let id = w.cluster_of("a").unwrap();
        w.advance(30 * S);
        assert_eq!(roles(&w, id)[1].1, "PENDING");
        w.advance(31 * S);
        assert_eq!(roles(&w, id)[1].1, "voter");
    }

    #[test]
    fn determinism() {
        fn script(seed: u64) -> Vec<String> {
            let mut w = Microcluster::new(seed);
            let mut outs = vec![ok(&mut w, "a", "bootstrap", S)];
            for (i, h) in ["b", "c", "d"].iter().enumerate() {
                let t = S * (i as u32 + 2);
                let tok = token(&mut w, "a", h, t);
                outs.push(tok.clone());
                outs.push(join(&mut w, h, &tok, t).stderr);
            }
            outs.push(ok(&mut w, "c", "list -f json", 100 * S));
            outs.push(format!("{w:?}"));
            outs
        }
        assert_eq!(script(42), script(42));
        assert_ne!(script(42)[1], script(43)[1]);
    }

    #[test]
    fn debug_output_never_shows_a_token_or_secret() {
        let mut w = Microcluster::new(1);
        ok(&mut w, "a", "bootstrap", S);
        let tok = token(&mut w, "a", "b", S);
        let secret = decode(&tok)["secret"].as_str().unwrap().to_string();
        let debug = format!("{w:?}");
        assert!(!debug.contains(&tok) && !debug.contains(&secret));
        assert!(debug.contains("<redacted>"));
        let exec = w.exec("a", &args("add c"), S);
        assert!(!format!("{exec:?}").contains(exec.output().unwrap().stdout.trim()));
    }

    #[test]
    fn unknown_subcommand_and_help() {
        let mut w = Microcluster::new(1);
        let err = fails(&mut w, "a", "frob", S);
        assert!(err.starts_with("Error: unknown command \"frob\" for \"microovn cluster\""));
        assert!(ok(&mut w, "a", "", S).contains("Available Commands"));
        assert!(ok(&mut w, "a", "add --help", S).contains("--timeout"));
    }

    #[test]
    fn helpers() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_767_225_600, 500_000_000), "2026-01-01T00:00:00.5Z");
        assert_eq!(rfc3339(951_782_400, 0), "2000-02-29T00:00:00Z");
        for data in [&b""[..], b"f", b"fo", b"foo", b"foob", b"fooba", b"foobar"] {
            assert_eq!(base64_decode(&base64_encode(data)).unwrap(), data);
        }
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_decode("Zm8=\n").unwrap(), b"fo");
        assert_eq!(base64_decode("Zm=8"), Err(2));
        assert_eq!(natural_cmp("h9", "h10"), Ordering::Less);
        assert_eq!(natural_cmp("h10", "h10"), Ordering::Equal);
        assert!(validate_fqdn("juju-a1b2c3-0.maas").is_ok());
        assert!(validate_fqdn("a..b").is_err());
    }
}
