//! The databag keys of the token-distributor protocol (see docs/protocols/token-distributor.md).
//!
//! The Python library's keys (LIBPATCH 2 to 8) are kept exactly; ensemble's additions use keys
//! that do not start with `mirror-`, so a Python unit ignores them.

/// Consumer unit bag: the machine's hostname (Python library and ensemble).
pub const HOSTNAME: &str = "hostname";
/// Both sides' unit bags: `up` on the unit that mirrors, `down` otherwise.
pub const MIRROR: &str = "mirror";
/// The value of [`MIRROR`] on a mirroring unit.
pub const UP: &str = "up";
/// The value of [`MIRROR`] on other units.
pub const DOWN: &str = "down";
/// The prefix of mirrored keys: `mirror-<hostname>` holds that host's join token.
pub const MIRROR_PREFIX: &str = "mirror-";
/// The placeholder value: this host needs a token.
pub const EMPTY: &str = "empty";
/// Distributor app bag: the one consumer application allowed to bootstrap (LIBPATCH 7).
pub const BOOTSTRAP_APP: &str = "bootstrap-app";

/// ensemble, consumer unit bag: the generation of this unit's request for a token, present
/// while it is not in the cluster. A fresh generation asks for a fresh token (the last one was
/// stale).
pub const TOKEN_REQUEST: &str = "token-request";
/// ensemble, consumer unit bag: `true` once this unit is in the cluster.
pub const JOINED: &str = "joined";
/// ensemble, distributor unit bag: `request-<host>` mirrors a host's [`TOKEN_REQUEST`].
pub const REQUEST_PREFIX: &str = "request-";
/// ensemble, communicator and distributor unit bags: `answers-<host>` is the request
/// generation that `mirror-<host>` answers.
pub const ANSWERS_PREFIX: &str = "answers-";
/// ensemble, communicator and distributor unit bags: the cluster's member names, sorted,
/// comma-separated.
pub const MEMBERS: &str = "members";
/// ensemble, communicator and distributor unit bags: the communicator's hostname. A unit in
/// the cluster looks at the cluster (`list`) only when it is the communicator or when the named
/// communicator's host has left.
pub const COMMUNICATOR: &str = "communicator";
/// ensemble, distributor unit bag: the hostnames of every consumer unit related now, sorted,
/// comma-separated (a member whose host is not listed has left).
pub const HOSTS: &str = "hosts";
/// ensemble, distributor unit bag: the protocol version ensemble speaks (`1`).
pub const ENSEMBLE: &str = "ensemble";
/// The value of [`ENSEMBLE`].
pub const PROTOCOL_VERSION: &str = "1";

/// `mirror-<host>`.
pub fn mirror_key(host: &str) -> String {
    format!("{MIRROR_PREFIX}{host}")
}

/// `request-<host>`.
pub fn request_key(host: &str) -> String {
    format!("{REQUEST_PREFIX}{host}")
}

/// `answers-<host>`.
pub fn answers_key(host: &str) -> String {
    format!("{ANSWERS_PREFIX}{host}")
}

/// Parses a generation (a positive integer); anything else is `None`.
pub fn parse_generation(s: &str) -> Option<u64> {
    s.parse::<u64>().ok().filter(|g| *g > 0)
}

/// Parses [`MEMBERS`].
pub fn parse_members(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
        .collect()
}
