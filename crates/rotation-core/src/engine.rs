//! What an engine crate supplies: connect and test, change a user's own password, create or
//! update the alternate user, and, for the preflight check, say how a login travelled and
//! which rights a change would lack. Engines never talk to Secrets Manager; the protocol hands
//! them parsed secrets.

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

/// How a login reached the database, as the preflight check reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// TLS, with the server's certificate verified against the function's trust store.
    Tls,
    /// Plaintext, because the secret (`"ssl": false`) or `TLS_MODE` turned TLS off.
    PlaintextChosen,
    /// Plaintext, because the server offers no TLS and nothing required it.
    PlaintextFallback,
}

/// Arguments of a preflight rights check.
#[derive(Clone, Copy)]
pub struct RightsCheck<'a> {
    /// Who makes the change: the `masterarn` admin, or the user itself (single user without an
    /// admin).
    pub actor: &'a DbSecret,
    /// The AWSCURRENT user, whose password or whose copy the change makes.
    pub current: &'a DbSecret,
    /// Alternating users: the name of the user the change creates or resets.
    pub alternate: Option<&'a str>,
}

/// What a preflight rights check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rights {
    /// The actor has every right the change needs.
    Complete,
    /// Each entry names one missing right and the statement that grants it.
    Missing(Vec<String>),
    /// The server would not say; the sentence says why and how to check by hand.
    Unknown(String),
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

    /// Log in and run a trivial query: [`Engine::probe_login`], without saying how.
    fn check_login(
        &self,
        creds: &DbSecret,
    ) -> impl Future<Output = Result<(), EngineError>> + Send {
        async move { self.probe_login(creds).await.map(drop) }
    }

    /// Log in and run a trivial query, and say how the login travelled (for the preflight).
    fn probe_login(
        &self,
        creds: &DbSecret,
    ) -> impl Future<Output = Result<Transport, EngineError>> + Send;

    /// Preflight: whether the actor has the rights the change setSecret would make needs, read
    /// from the server without changing anything.
    fn check_rights(
        &self,
        req: RightsCheck<'_>,
    ) -> impl Future<Output = Result<Rights, EngineError>> + Send;

    /// Preflight, single user: how setSecret would change the password with these rights,
    /// where the engine has more than one way (MySQL: a hash or the password itself, dual
    /// passwords or a window of failed logins), as a sentence for the report; `None` where
    /// there is one way. Read from the server without changing anything.
    fn change_mode(
        &self,
        req: RightsCheck<'_>,
    ) -> impl Future<Output = Result<Option<String>, EngineError>> + Send {
        let _ = req;
        async { Ok(None) }
    }

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

    /// The step (or preflight) is over, however it ended: close anything kept open for the
    /// step's later operations (an engine may keep a login's session to use it again in the
    /// same step, rather than log in twice with one password). Nothing stays open between
    /// invocations.
    fn end_step(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// One session an engine keeps for a step's next operation with the same credentials, so that
/// a step logs in once per password ([`Engine::end_step`] closes it). Closing is the engine's:
/// what this hands back is the engine's to close.
pub struct KeptSession<S> {
    slot: std::sync::Mutex<Option<(DbSecret, S)>>,
}

impl<S> Default for KeptSession<S> {
    fn default() -> Self {
        KeptSession {
            slot: std::sync::Mutex::new(None),
        }
    }
}

impl<S> std::fmt::Debug for KeptSession<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeptSession")
            .field(
                "user",
                &self.lock().as_ref().map(|(c, _)| c.username.clone()),
            )
            .finish()
    }
}

impl<S> KeptSession<S> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(DbSecret, S)>> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The kept session, if it was opened with credentials that log in as `creds` do (the
    /// same account, password, database and TLS mode); otherwise it stays kept.
    pub fn take_for(&self, creds: &DbSecret) -> Option<S> {
        let mut slot = self.lock();
        match slot.take() {
            Some((with, session)) if with.same_login(creds) => Some(session),
            other => {
                *slot = other;
                None
            }
        }
    }

    /// Keep `session`, opened with `creds`; the one it displaces, to close.
    pub fn keep(&self, creds: &DbSecret, session: S) -> Option<S> {
        self.lock()
            .replace((creds.clone(), session))
            .map(|(_, old)| old)
    }

    /// Whatever is kept, to close.
    pub fn take(&self) -> Option<S> {
        self.lock().take().map(|(_, s)| s)
    }
}
