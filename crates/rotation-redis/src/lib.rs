//! Redis and Valkey ACL-user rotation (`redis-single-user`, `redis-alternating-users`).
//!
//! Redis 6+ and Valkey keep users in their ACL. No command lets a user change its own password,
//! so every change is an `ACL SETUSER`, sent with password hashes (`#<sha256>`) only.
//!
//! - Single user: with the `masterarn` admin when the secret names one, otherwise with the
//!   user's own login (the user then needs `+acl`). A user may hold several passwords, so
//!   setSecret leaves exactly two valid: AWSCURRENT's and AWSPENDING's. The old password keeps
//!   working until the next rotation removes it; `PREVIOUS_PASSWORD=discard` makes it a hard
//!   cut-over instead. No other rule of the user changes.
//! - Alternating users: the admin makes the other user of the pair an exact copy of the current
//!   one with the new password: switched off, every part reset one by one, the model's
//!   `ACL LIST` rules without passwords and its selectors from `ACL GETUSER`, quoted; then it
//!   reads the copy back and switches it on only if its rules equal the model's. A model that
//!   is off, and a stale copy with a payload flag the model lacks, are refused before anything
//!   changes.
//! - After a change, `ACL SAVE` when the server has an ACL file, so a restart keeps it.
//!
//! [`connect`] explains when a connection may be plaintext.

pub mod acl;
pub mod connect;
pub mod facts;
mod rights;

use connect::{Persistence, Session};
use rotation_core::config::ConfigError;
use rotation_core::secret::SecretRules;
use rotation_core::{
    DbSecret, Engine, EngineError, ExposeSecret, Rights, RightsCheck, SetAlternate, SetPassword,
    TlsSettings, Transport,
};
use tracing::{debug, info, warn};

pub use facts::DEFAULT_EXCLUDE_CHARACTERS;

/// The secrets these functions accept (from [`facts`]).
pub const RULES: SecretRules = SecretRules {
    engines: facts::ENGINES,
    default_port: facts::DEFAULT_PORT,
    default_dbname: facts::DEFAULT_DBNAME,
};

pub use rotation_core::config::PreviousPassword;

/// The Redis/Valkey engine.
#[derive(Debug, Clone)]
pub struct RedisEngine {
    tls: TlsSettings,
    previous: PreviousPassword,
}

impl RedisEngine {
    /// Build from TLS settings and `PREVIOUS_PASSWORD`.
    pub fn from_env(tls: TlsSettings) -> Result<RedisEngine, ConfigError> {
        let previous = std::env::var("PREVIOUS_PASSWORD").ok();
        Ok(RedisEngine::new(
            tls,
            PreviousPassword::parse(previous.as_deref())?,
        ))
    }

    /// Build with an explicit previous-password policy.
    pub fn new(tls: TlsSettings, previous: PreviousPassword) -> RedisEngine {
        RedisEngine { tls, previous }
    }

    /// Open an authenticated session (for tests and tools that need the same connection rules).
    pub async fn open(&self, creds: &DbSecret) -> Result<Session, EngineError> {
        Session::open(creds, &self.tls).await
    }
}

/// Say where the change lives now.
fn report(persistence: &Persistence, user: &str) {
    match persistence {
        Persistence::Saved(path) => {
            info!(
                user,
                aclfile = path.as_deref().unwrap_or("unknown"),
                "ACL SAVE wrote the change to the server's ACL file"
            )
        }
        Persistence::MemoryOnly => info!(
            user,
            "the server has no ACL file, so the change lives only in its memory: a restart brings back the users of its configuration file. Use an aclfile, or CONFIG REWRITE if the users are in redis.conf"
        ),
        Persistence::Unknown(why) => warn!(
            user,
            reason = %why,
            "cannot tell whether the server keeps an ACL file (neither CONFIG GET aclfile nor ACL SAVE is allowed); if it does, run ACL SAVE"
        ),
    }
}

impl Engine for RedisEngine {
    const RULES: SecretRules = RULES;
    const DEFAULT_EXCLUDE_CHARACTERS: &'static str = facts::DEFAULT_EXCLUDE_CHARACTERS;
    const SINGLE_USER_USES_ADMIN: bool = facts::SINGLE_USER_USES_ADMIN;
    const REPEAT_SET_WHEN_PENDING_WORKS: bool = facts::REPEAT_SET_WHEN_PENDING_WORKS;

    async fn check_username(
        &self,
        _current: &DbSecret,
        alternate: &str,
    ) -> Result<(), EngineError> {
        match acl::username_problem(alternate) {
            Some(problem) => Err(EngineError::Refused(problem)),
            None => Ok(()),
        }
    }

    async fn probe_login(&self, creds: &DbSecret) -> Result<Transport, EngineError> {
        let mut session = self.open(creds).await?;
        match session.ping().await {
            Ok(()) => {}
            // An application user may lack `+ping` (it is in @connection, not @read or
            // @write). The server checks rights only after a successful AUTH, so the refusal
            // proves the login as well as a PONG would.
            Err(EngineError::Permission { .. }) => {
                debug!(user = %creds.username, "logged in; the user may not run PING");
            }
            Err(e) => return Err(e),
        }
        Ok(self.tls.transport(creds.ssl, session.is_tls()))
    }

    async fn check_rights(&self, req: RightsCheck<'_>) -> Result<Rights, EngineError> {
        let target = req.alternate.unwrap_or(&req.current.username);
        let mut session = self.open(req.actor).await?;
        rights::check(
            &mut session,
            &req.actor.username,
            target,
            req.alternate.is_some(),
        )
        .await
    }

    async fn set_password(&self, req: SetPassword<'_>) -> Result<(), EngineError> {
        let mut session = self.open(req.admin.unwrap_or(req.login)).await?;
        let pending = req.pending.password.expose_secret();
        let args = match self.previous {
            PreviousPassword::Keep => {
                acl::exact_passwords(&[req.current.password.expose_secret(), pending])
            }
            PreviousPassword::Discard => acl::exact_passwords(&[pending]),
        };
        session.acl_setuser(&req.pending.username, &args).await?;
        report(&session.persist().await?, &req.pending.username);
        Ok(())
    }

    async fn set_alternate(&self, req: SetAlternate<'_>) -> Result<(), EngineError> {
        // Resetting the admin into a copy of an application user would lock the admin out.
        if req.pending.username == req.admin.username {
            return Err(EngineError::Refused(format!(
                "the user to reset, '{}', is the admin user of masterarn; give the admin a user name that is not part of the pair",
                req.pending.username
            )));
        }
        let (model, clone) = (&req.current.username, &req.pending.username);
        let mut admin = self.open(req.admin).await?;
        let list = admin.acl_list().await?;
        let model_rules = acl::rules_of(&list, model).ok_or_else(|| {
            EngineError::Database(format!(
                "ACL LIST has no user '{model}', although it logged in; it may have been deleted a moment ago"
            ))
        })?;
        let clone_rules = acl::rules_of(&list, clone);
        acl::check_copyable(model, &model_rules, clone, clone_rules.as_deref())?;
        // ACL LIST prints a selector's rules unquoted, and a pattern holding a `)` cannot be
        // told from the selector's end there; ACL GETUSER gives them field by field.
        let selectors = match acl::has_selectors(&model_rules) {
            false => None,
            true => match admin.acl_selectors(model).await {
                Ok(selectors) => selectors,
                Err(EngineError::Permission { detail, .. }) => {
                    warn!(user = %req.admin.username, reason = %detail, "the admin may not run ACL GETUSER, so the model's selectors are read from ACL LIST, where a pattern with a space or a ')' cannot be read back; grant +acl|getuser");
                    None
                }
                Err(e) => return Err(e),
            },
        };
        let args = acl::copy_of(
            &model_rules,
            clone_rules.as_deref(),
            selectors.as_deref(),
            req.pending.password.expose_secret(),
        );
        admin.acl_setuser(clone, &args).await?;
        // The copy is made off, and switched on only once the server shows the same rules.
        let copied = acl::rules_of(&admin.acl_list().await?, clone).ok_or_else(|| {
            EngineError::Database(format!(
                "ACL LIST has no user '{clone}' right after ACL SETUSER made it; another client may have deleted it, retry the rotation"
            ))
        })?;
        acl::compare_copy(model, &model_rules, clone, &copied)?;
        admin.acl_setuser(clone, &["on".to_owned()]).await?;
        info!(user = %clone, model = %model, "the user now has exactly the model user's rules, and is on");
        report(&admin.persist().await?, &req.pending.username);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previous_password_values() {
        assert_eq!(
            PreviousPassword::parse(None).ok(),
            Some(PreviousPassword::Keep)
        );
        assert_eq!(
            PreviousPassword::parse(Some("")).ok(),
            Some(PreviousPassword::Keep)
        );
        assert_eq!(
            PreviousPassword::parse(Some(" Keep ")).ok(),
            Some(PreviousPassword::Keep)
        );
        assert_eq!(
            PreviousPassword::parse(Some("DISCARD")).ok(),
            Some(PreviousPassword::Discard)
        );
        let err = PreviousPassword::parse(Some("drop"))
            .expect_err("drop")
            .to_string();
        assert!(
            err.contains("PREVIOUS_PASSWORD") && err.contains("keep, discard"),
            "{err}"
        );
    }
}
