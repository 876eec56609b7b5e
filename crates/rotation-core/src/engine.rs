//! What an engine crate supplies: connect and test, change a user's own password, create or
//! update the alternate user. Engines never talk to Secrets Manager; the protocol hands them
//! parsed secrets.

use crate::error::EngineError;
use crate::secret::{DbSecret, SecretRules};
use std::future::Future;

/// Arguments of a single-user password change.
pub struct SetPassword<'a> {
    /// Credentials that log in now: AWSCURRENT, or AWSPREVIOUS when AWSCURRENT no longer does.
    pub login: &'a DbSecret,
    /// The AWSCURRENT version (the password that stays valid in dual-password modes).
    pub current: &'a DbSecret,
    /// The AWSPENDING version: same user, new password.
    pub pending: &'a DbSecret,
    /// Admin credentials, for engines whose users cannot change their own password.
    pub admin: Option<&'a DbSecret>,
}

/// Arguments of an alternating-users update.
pub struct SetAlternate<'a> {
    /// Admin credentials from `masterarn`, with host and port of the rotated secret.
    pub admin: &'a DbSecret,
    /// The AWSCURRENT user: the model whose privileges the other user gets.
    pub current: &'a DbSecret,
    /// The AWSPENDING user (the alternate of the current one) with its new password.
    pub pending: &'a DbSecret,
}

/// The engine-specific half of a rotation function.
pub trait Engine: Send + Sync + 'static {
    /// Which secrets this engine accepts, and its defaults.
    const RULES: SecretRules;

    /// The default of `EXCLUDE_CHARACTERS` for this engine's functions.
    const DEFAULT_EXCLUDE_CHARACTERS: &'static str;

    /// Whether single-user rotation uses the secret's `masterarn` when present (engines whose
    /// users cannot change their own password, such as Redis).
    const SINGLE_USER_USES_ADMIN: bool = false;

    /// Whether setSecret makes the change again when AWSPENDING already logs in. The
    /// default (no) suits engines whose change is one atomic statement. An engine whose change
    /// has a second part that can fail after the first (Redis: `ACL SAVE` after
    /// `ACL SETUSER`) says yes, so that a retry completes it; its change must be idempotent.
    const REPEAT_SET_WHEN_PENDING_WORKS: bool = false;

    /// Refuse an alternate user name the server cannot hold, before anything is created.
    /// `current` are working credentials, in case the limit depends on the server.
    fn check_username(
        &self,
        current: &DbSecret,
        alternate: &str,
    ) -> impl Future<Output = Result<(), EngineError>> + Send;

    /// Log in and run a trivial query.
    fn check_login(&self, creds: &DbSecret)
    -> impl Future<Output = Result<(), EngineError>> + Send;

    /// Single user: make the database accept `pending`'s password for the user.
    fn set_password(
        &self,
        req: SetPassword<'_>,
    ) -> impl Future<Output = Result<(), EngineError>> + Send;

    /// Alternating users: create `pending`'s user if missing, as a copy of `current`'s, and
    /// set its password.
    fn set_alternate(
        &self,
        req: SetAlternate<'_>,
    ) -> impl Future<Output = Result<(), EngineError>> + Send;
}
