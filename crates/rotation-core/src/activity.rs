//! What a step is waiting for right now, so that a step that runs out of time can say what it
//! was doing, against which endpoint, and for how long.
//!
//! [`Activity`] is shared by the protocol, the Secrets Manager client (every call names its
//! API) and [`Tracked`], which wraps the engine so that every database operation names its
//! host and port. Nothing here holds a password: a description is built from names only.

use crate::engine::{Engine, Rights, RightsCheck, SetAlternate, SetPassword, Transport};
use crate::error::EngineError;
use crate::secret::DbSecret;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What is being waited for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// A sentence fragment: "Secrets Manager GetSecretValue", "the database at host:port
    /// (logging in as 'app')".
    pub what: String,
    /// Whether it is the database (else Secrets Manager), for the advice.
    pub database: bool,
    /// How long it had been waited for.
    pub for_: Duration,
}

impl std::fmt::Display for Waiting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "waiting {:.1?} for {}", self.for_, self.what)
    }
}

/// The operation in progress, if any (shared, cheap to clone).
#[derive(Debug, Clone, Default)]
pub struct Activity(Arc<Mutex<Option<(String, bool, Instant)>>>);

impl Activity {
    /// Run `fut`, recorded as waiting for `what` while it runs.
    pub async fn run<T>(&self, what: String, database: bool, fut: impl Future<Output = T>) -> T {
        self.set(Some((what, database, Instant::now())));
        let out = fut.await;
        self.set(None);
        out
    }

    /// Forget what was recorded (a new step begins).
    pub fn clear(&self) {
        self.set(None);
    }

    /// What is being waited for now.
    pub fn current(&self) -> Option<Waiting> {
        let guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        guard.as_ref().map(|(what, database, since)| Waiting {
            what: what.clone(),
            database: *database,
            for_: since.elapsed(),
        })
    }

    fn set(&self, value: Option<(String, bool, Instant)>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = value;
    }
}

/// `creds`' endpoint, with what is done there as whom.
fn at(creds: &DbSecret, doing: &str) -> String {
    format!(
        "the database at {}:{} ({doing} as '{}')",
        creds.host, creds.port, creds.username
    )
}

/// The engine, each of its operations recorded in an [`Activity`]. It offers the engine's
/// methods under the same names, so the protocol calls it as it would the engine.
pub struct Tracked<E> {
    /// The engine.
    pub inner: E,
    /// Where its operations are recorded.
    pub activity: Activity,
}

impl<E: Engine> Tracked<E> {
    /// [`Engine::check_username`].
    pub async fn check_username(
        &self,
        current: &DbSecret,
        alternate: &str,
    ) -> Result<(), EngineError> {
        let what = at(current, "reading the user-name limit");
        self.activity
            .run(what, true, self.inner.check_username(current, alternate))
            .await
    }

    /// [`Engine::check_login`].
    pub async fn check_login(&self, creds: &DbSecret) -> Result<(), EngineError> {
        let what = at(creds, "logging in");
        self.activity
            .run(what, true, self.inner.check_login(creds))
            .await
    }

    /// [`Engine::probe_login`].
    pub async fn probe_login(&self, creds: &DbSecret) -> Result<Transport, EngineError> {
        let what = at(creds, "logging in");
        self.activity
            .run(what, true, self.inner.probe_login(creds))
            .await
    }

    /// [`Engine::check_rights`].
    pub async fn check_rights(&self, req: RightsCheck<'_>) -> Result<Rights, EngineError> {
        let what = at(req.actor, "reading rights");
        self.activity
            .run(what, true, self.inner.check_rights(req))
            .await
    }

    /// [`Engine::change_mode`].
    pub async fn change_mode(&self, req: RightsCheck<'_>) -> Result<Option<String>, EngineError> {
        let what = at(req.actor, "reading how the password would be changed");
        self.activity
            .run(what, true, self.inner.change_mode(req))
            .await
    }

    /// [`Engine::set_password`].
    pub async fn set_password(&self, req: SetPassword<'_>) -> Result<(), EngineError> {
        let what = at(req.admin.unwrap_or(req.login), "setting the new password");
        self.activity
            .run(what, true, self.inner.set_password(req))
            .await
    }

    /// [`Engine::set_alternate`].
    pub async fn set_alternate(&self, req: SetAlternate<'_>) -> Result<(), EngineError> {
        let what = at(req.admin, "creating or resetting the alternate user");
        self.activity
            .run(what, true, self.inner.set_alternate(req))
            .await
    }

    /// [`Engine::end_step`].
    pub async fn end_step(&self) {
        self.inner.end_step().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_activity_is_recorded_while_it_runs() {
        let activity = Activity::default();
        assert_eq!(activity.current(), None);
        let seen = activity
            .run("Secrets Manager DescribeSecret".into(), false, async {
                activity.current()
            })
            .await
            .expect("recorded while it runs");
        assert_eq!(seen.what, "Secrets Manager DescribeSecret");
        assert!(!seen.database);
        assert_eq!(activity.current(), None, "forgotten once done");
    }
}
