//! The seed's example as a charm: the leader generates a password once; every unit writes it to
//! a file whenever it changes.
//!
//! Two handlers, as in the reactive leadership layer's README:
//!
//! - `generate_secret`, when `leadership.is_leader` and not `leadership.set.admin_password`:
//!   the leader sets `admin_password` to a fresh random value;
//! - `store_secret`, when `leadership.changed.admin_password`: the unit writes the password to
//!   [`PASSWORD_FILE`] (mode 0600).
//!
//! The unit's status shows a fingerprint of the password (the first 8 hex digits of its
//! SHA-256), never the password. [`PeerPasswordCharm`] keeps the setting in the peer relation's
//! application bag; [`JujuPasswordCharm`] in Juju's leader settings.
//!
//! For fault tests, the config option `fail-once-after-generate` makes the leader's hook fail
//! once, right after it set the password: the first time, it writes the fingerprint of the
//! password it set to [`FAILED_ATTEMPT_FILE`] and fails. With the Juju store the password
//! survives the failed hook; with the peer store it is rolled back and generated anew.

use crate::Leadership;
use charm::reactive::{Flags, Reactive};
use charm::{Charm, Context, Event, HandlerError, HandlerResult, Observers, Status};
use sha2::{Digest, Sha256};

/// Where every unit writes the password.
pub const PASSWORD_FILE: &str = "/etc/foopass";
/// Where the leader notes the fingerprint of a password set in a hook that it then failed.
pub const FAILED_ATTEMPT_FILE: &str = "/var/lib/shared-password/failed-attempt";
/// The setting's key.
pub const KEY: &str = "admin_password";
/// The peer endpoint the charm declares.
pub const PEER_ENDPOINT: &str = "cluster";

/// The charm's metadata.
pub const CHARMCRAFT_YAML: &str = r#"
name: shared-password
summary: The leadership layer's example, in Rust
peers:
  cluster:
    interface: shared-password-peers
config:
  options:
    fail-once-after-generate:
      type: boolean
      default: false
      description: Fault injection for tests; fail the leader's hook once, right after it set the password.
"#;

/// The first 8 hex digits of the SHA-256 of `secret`: enough to compare, useless to guess from.
pub fn fingerprint(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

/// The example charm, with the setting in the peer application bag (`JUJU_SETTINGS = false`) or
/// in Juju's leader settings (`true`).
#[derive(Debug, Default)]
pub struct SharedPassword<const JUJU_SETTINGS: bool>;

/// The example on the peer relation's application bag.
pub type PeerPasswordCharm = SharedPassword<false>;
/// The example on Juju's leader settings.
pub type JujuPasswordCharm = SharedPassword<true>;

impl<const J: bool> SharedPassword<J> {
    fn store() -> Leadership {
        if J {
            Leadership::juju_leader_settings()
        } else {
            Leadership::peer(PEER_ENDPOINT)
        }
    }

    fn rules() -> Reactive<Self> {
        let mut r = Reactive::new();
        r.handler(
            "generate_secret",
            &["leadership.is_leader"],
            &["leadership.set.admin_password"],
            Self::generate_secret,
        );
        r.handler(
            "store_secret",
            &["leadership.changed.admin_password"],
            &[],
            Self::store_secret,
        );
        r
    }

    fn generate_secret(&mut self, ctx: &mut Context<'_>, flags: &mut Flags) -> HandlerResult {
        let password = ctx.random_hex(16)?;
        match Self::store().set(ctx, flags, [(KEY, Some(password.as_str()))]) {
            Ok(_) => {}
            // Before the peer relation exists there is nowhere to put it: a later hook will.
            Err(crate::LeadershipError::NoPeerRelation(_)) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        ctx.info(format!(
            "generated the admin password (fingerprint {})",
            fingerprint(&password)
        ));
        if ctx.config()?.boolean("fail-once-after-generate")? == Some(true)
            && ctx.read_file(FAILED_ATTEMPT_FILE)?.is_none()
        {
            ctx.write_file(FAILED_ATTEMPT_FILE, fingerprint(&password).as_bytes(), 0o600)?;
            return Err(HandlerError::msg(
                "failing once after setting the password, as configured",
            ));
        }
        Ok(())
    }

    fn store_secret(&mut self, ctx: &mut Context<'_>, _flags: &mut Flags) -> HandlerResult {
        match Self::store().get(ctx, KEY)? {
            Some(password) => {
                ctx.write_file(PASSWORD_FILE, password.as_bytes(), 0o600)?;
                ctx.set_status(Status::active(format!("password {}", fingerprint(&password))))?;
            }
            None => ctx.set_status(Status::waiting("waiting for the leader's password"))?,
        }
        Ok(())
    }

    fn on_event(&mut self, ctx: &mut Context<'_>, _event: &Event) -> HandlerResult {
        let mut flags = Flags::load(ctx)?;
        Self::store().update_flags(ctx, &mut flags)?;
        Self::rules().run(self, ctx, &mut flags)?;
        if !flags.is_set("leadership.set.admin_password") {
            ctx.set_status(Status::waiting("waiting for the leader's password"))?;
        }
        flags.save(ctx)?;
        Ok(())
    }
}

impl<const J: bool> Charm for SharedPassword<J> {
    fn register(on: &mut Observers<Self>) {
        on.observe("shared-password", Self::on_event);
    }
}
