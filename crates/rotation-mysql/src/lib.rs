//! MySQL, Aurora MySQL and MariaDB rotation (`mysql-single-user`, `mysql-alternating-users`).
//!
//! Single user: the user changes its own password with `ALTER USER CURRENT_USER()` (MySQL 5.7,
//! 8.x, 9.x), or `SET PASSWORD = PASSWORD(…)` where the server wants a privilege for the first
//! (MariaDB). Alternating users: the admin user creates
//! the other user of the pair at the same host part as the current one, with its `REQUIRE`
//! options and every grant (`WITH GRANT OPTION` included), then sets its password.

mod connect;
pub mod sql;

use connect::{Session, classify};
use rotation_core::config::ConfigError;
use rotation_core::secret::SecretRules;
use rotation_core::{
    DbSecret, Engine, EngineError, ExposeSecret, SetAlternate, SetPassword, TlsSettings,
};
use tracing::info;

/// The default of `EXCLUDE_CHARACTERS` for MySQL.
pub const DEFAULT_EXCLUDE_CHARACTERS: &str = "/@\"'\\";

/// The secrets MySQL functions accept.
pub const RULES: SecretRules = SecretRules {
    engines: &["mysql", "aurora-mysql", "mariadb"],
    default_port: 3306,
    default_dbname: None,
};

/// The MySQL engine.
#[derive(Debug, Clone)]
pub struct MySql {
    tls: TlsSettings,
    username_limit: Option<usize>,
}

impl MySql {
    /// Build from TLS settings and `USERNAME_CHARACTER_LIMIT` (unset: ask the server).
    pub fn from_env(tls: TlsSettings) -> Result<MySql, ConfigError> {
        let limit = std::env::var("USERNAME_CHARACTER_LIMIT").ok();
        MySql::new(tls, limit.as_deref())
    }

    /// Build with an explicit `USERNAME_CHARACTER_LIMIT` value.
    pub fn new(tls: TlsSettings, username_limit: Option<&str>) -> Result<MySql, ConfigError> {
        let username_limit = match username_limit.map(str::trim).filter(|v| !v.is_empty()) {
            None => None,
            Some(v) => {
                Some(
                    v.parse::<usize>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| ConfigError {
                            name: "USERNAME_CHARACTER_LIMIT",
                            problem: format!("{v:?} is not a positive whole number"),
                        })?,
                )
            }
        };
        Ok(MySql {
            tls,
            username_limit,
        })
    }

    async fn open(&self, creds: &DbSecret) -> Result<Session, EngineError> {
        Session::open(creds, &self.tls).await
    }
}

impl Engine for MySql {
    fn rules(&self) -> SecretRules {
        RULES
    }

    async fn check_username(&self, current: &DbSecret, alternate: &str) -> Result<(), EngineError> {
        let (limit, source) = match self.username_limit {
            Some(limit) => (limit, "the USERNAME_CHARACTER_LIMIT of".to_owned()),
            None => {
                let mut s = self.open(current).await?;
                let version = s.version().await?;
                s.close().await;
                (
                    sql::username_limit(&version),
                    format!("{}'s limit of", sql::product(&version)),
                )
            }
        };
        let base = current.username.chars().count();
        let alt = alternate.chars().count();
        if alt > limit {
            return Err(EngineError::Refused(format!(
                "username '{}' has {base} characters; with '_clone' it would have {alt}, over {source} {limit}. Use a user name of at most {} characters",
                current.username,
                limit.saturating_sub(alt - base)
            )));
        }
        Ok(())
    }

    async fn check_login(&self, creds: &DbSecret) -> Result<(), EngineError> {
        let mut s = self.open(creds).await?;
        let result = s.ping_now().await;
        s.close().await;
        result
    }

    async fn set_password(&self, req: SetPassword<'_>) -> Result<(), EngineError> {
        let mut s = self.open(req.login).await?;
        let pw = sql::literal(req.pending.password.expose_secret(), s.no_backslash_escapes);
        let user = &req.pending.username;
        // MySQL 5.7+, 8.x and 9.x let any user change its own password this way. MariaDB
        // wants the CREATE USER privilege for it, but lets any user run SET PASSWORD with
        // PASSWORD(), which MySQL 8 removed. So: the standard statement first, and the MariaDB
        // one only when the server refuses the first for lack of privilege.
        let result = match s
            .exec_secret(
                &format!("ALTER USER CURRENT_USER() IDENTIFIED BY {pw}"),
                &pw,
                user,
            )
            .await
        {
            Err(first @ EngineError::Permission { .. }) => s
                .exec_secret(&format!("SET PASSWORD = PASSWORD({pw})"), &pw, user)
                .await
                .map_err(|_| first),
            other => other,
        };
        s.close().await;
        result
    }

    async fn set_alternate(&self, req: SetAlternate<'_>) -> Result<(), EngineError> {
        // The exact account the current credentials log in as gives the host part.
        let mut cur = self.open(req.current).await?;
        let me = cur.current_user().await?;
        cur.close().await;
        let (src_user, host) = sql::split_current_user(&me)
            .map(|(u, h)| (u.to_owned(), h.to_owned()))
            .ok_or_else(|| EngineError::Database(format!("CURRENT_USER() returned {me:?}")))?;
        let target_user = req.pending.username.as_str();

        let mut admin = self.open(req.admin).await?;
        let nbe = admin.no_backslash_escapes;
        let src = sql::account(&src_user, &host, nbe);
        let target = sql::account(target_user, &host, nbe);
        let pw = sql::literal(req.pending.password.expose_secret(), nbe);
        let result = async {
            let exists = admin.account_exists(&target).await?;
            let grants = admin
                .show(&format!("SHOW GRANTS FOR {src}"), &req.admin.username)
                .await?;
            if exists {
                admin
                    .exec_secret(
                        &format!("ALTER USER {target} IDENTIFIED BY {pw}"),
                        &pw,
                        &req.admin.username,
                    )
                    .await?;
            } else {
                let create = admin
                    .show(&format!("SHOW CREATE USER {src}"), &req.admin.username)
                    .await?;
                let require = create
                    .first()
                    .map(|c| sql::require_clause(c))
                    .unwrap_or_else(|| "REQUIRE NONE".into());
                // Locked until its grants are complete: a crash in between leaves an account
                // that cannot log in, so the retry does the whole job again.
                admin
                    .exec_secret(
                        &format!("CREATE USER {target} IDENTIFIED BY {pw} {require} ACCOUNT LOCK"),
                        &pw,
                        &req.admin.username,
                    )
                    .await?;
                info!(user = target_user, host = %host, "created the alternate user");
            }
            for line in &grants {
                if let Some(grant) = sql::rewrite_grant(line, &src_user, &host, &target) {
                    admin.exec(&grant, &req.admin.username).await?;
                }
            }
            admin
                .exec(
                    &format!("ALTER USER {target} ACCOUNT UNLOCK"),
                    &req.admin.username,
                )
                .await?;
            Ok(())
        }
        .await;
        admin.close().await;
        result
    }
}

/// Turn a driver error into an engine error (for the connection module and tests).
pub fn classify_error(e: mysql_async::Error, endpoint: &str, user: &str) -> EngineError {
    classify(e, endpoint, user)
}
