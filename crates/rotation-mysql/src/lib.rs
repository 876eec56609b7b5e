//! MySQL, Aurora MySQL and MariaDB rotation (`mysql-single-user`, `mysql-alternating-users`).
//!
//! Every session first sets its own `sql_mode`, so the server's global mode cannot change what
//! is parsed. Where an account uses `mysql_native_password`, the server receives only the hash
//! of the new password, computed here; other plugins receive the password itself.
//!
//! Single user: the user changes its own password: `SET PASSWORD` on MariaDB; on MySQL
//! 5.7, 8.x and 9.x `ALTER USER CURRENT_USER()`, with the hash when the server allows it (and
//! `REPLACE '<current>'` when the account says `PASSWORD REQUIRE CURRENT`).
//! Alternating users: the admin user creates (or resets) the other user of the pair at the same
//! host part as the current one, locked, with the current one's plugin, account options
//! (`REQUIRE`, resource limits, password policy, MySQL's default roles: [`account`]) and every
//! grant (`WITH GRANT OPTION`, roles, proxies and partial revokes included), reads both
//! accounts back, and unlocks the copy only when it is exact. A copy this attempt created and
//! could not finish (the admin may not pass a grant on, say) is dropped again, and the error
//! names the statement that gives the admin the missing right.

pub mod account;
pub mod caching_sha2;
mod connect;
pub mod facts;
pub mod rights;
pub mod sql;

use connect::{Session, classify};
use rotation_core::config::{ConfigError, PreviousPassword};
use rotation_core::secret::SecretRules;
use rotation_core::{
    DbSecret, Engine, EngineError, ExposeSecret, KeptSession, Rights, RightsCheck, SetAlternate,
    SetPassword, SslMode, TlsSettings, Transport,
};
use sql::Privileges;
use tracing::{info, warn};

pub use facts::DEFAULT_EXCLUDE_CHARACTERS;

/// The secrets these functions accept (from [`facts`]).
pub const RULES: SecretRules = SecretRules {
    engines: facts::ENGINES,
    default_port: facts::DEFAULT_PORT,
    default_dbname: facts::DEFAULT_DBNAME,
};

/// The MySQL engine.
#[derive(Debug)]
pub struct MySql {
    tls: TlsSettings,
    username_limit: Option<usize>,
    /// Single user on MySQL 8.0.14+: whether the old password stays valid beside the new one
    /// (`RETAIN CURRENT PASSWORD`) until the next rotation.
    previous: PreviousPassword,
    /// The session of the step's last successful login as some credentials, kept for the
    /// step's next operation with them (AWSCURRENT is checked, then read or used for the
    /// change): one login per password per step. Closed at the step's end.
    kept: KeptSession<Session>,
}

impl Clone for MySql {
    /// The same settings; a clone keeps no session of its own yet.
    fn clone(&self) -> MySql {
        MySql {
            tls: self.tls.clone(),
            username_limit: self.username_limit,
            previous: self.previous,
            kept: KeptSession::default(),
        }
    }
}

impl MySql {
    /// Build from TLS settings, `USERNAME_CHARACTER_LIMIT` (unset: ask the server) and
    /// `PREVIOUS_PASSWORD`.
    pub fn from_env(tls: TlsSettings) -> Result<MySql, ConfigError> {
        let limit = std::env::var("USERNAME_CHARACTER_LIMIT").ok();
        let previous = std::env::var("PREVIOUS_PASSWORD").ok();
        Ok(MySql::new(tls, limit.as_deref())?
            .with_previous(PreviousPassword::parse(previous.as_deref())?))
    }

    /// The same engine with another previous-password policy (the default is `keep`).
    pub fn with_previous(self, previous: PreviousPassword) -> MySql {
        MySql { previous, ..self }
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
            previous: PreviousPassword::Keep,
            kept: KeptSession::default(),
        })
    }

    /// A session as `creds`: the kept one when it was opened with them, else a new login.
    async fn open(&self, creds: &DbSecret) -> Result<Session, EngineError> {
        match self.kept.take_for(creds) {
            Some(session) => Ok(session),
            None => Session::open(creds, &self.tls).await,
        }
    }

    /// Keep `session` (opened with `creds`) for the step's next operation.
    async fn keep(&self, creds: &DbSecret, session: Session) {
        if let Some(old) = self.kept.keep(creds, session) {
            old.close().await;
        }
    }

    /// The account (user and host part) `creds` log in as: `CURRENT_USER()` of a session.
    async fn account_of(&self, creds: &DbSecret) -> Result<(String, String), EngineError> {
        let mut s = self.open(creds).await?;
        let me = s.current_user().await;
        match me {
            Ok(_) => self.keep(creds, s).await,
            Err(_) => s.close().await,
        }
        let me = me?;
        sql::split_current_user(&me)
            .map(|(u, h)| (u.to_owned(), h.to_owned()))
            .ok_or_else(|| EngineError::Database(format!("CURRENT_USER() returned {me:?}")))
    }
}

impl Engine for MySql {
    const RULES: SecretRules = RULES;
    const DEFAULT_EXCLUDE_CHARACTERS: &'static str = facts::DEFAULT_EXCLUDE_CHARACTERS;
    const SINGLE_USER_USES_ADMIN: bool = facts::SINGLE_USER_USES_ADMIN;
    const REPEAT_SET_WHEN_PENDING_WORKS: bool = facts::REPEAT_SET_WHEN_PENDING_WORKS;

    async fn check_username(&self, current: &DbSecret, alternate: &str) -> Result<(), EngineError> {
        let (limit, source) = match self.username_limit {
            Some(limit) => (limit, "the USERNAME_CHARACTER_LIMIT of".to_owned()),
            None => {
                let s = self.open(current).await?;
                let version = s.version().to_owned();
                self.keep(current, s).await;
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

    async fn probe_login(&self, creds: &DbSecret) -> Result<Transport, EngineError> {
        let mut s = self.open(creds).await?;
        let result = s.ping_now().await;
        let fell_back = s.fell_back();
        match result {
            Ok(()) => self.keep(creds, s).await,
            Err(_) => s.close().await,
        }
        result?;
        let plaintext = fell_back || self.tls.mode_for(creds.ssl) == SslMode::Disable;
        Ok(self.tls.transport(creds.ssl, !plaintext))
    }

    async fn check_rights(&self, req: RightsCheck<'_>) -> Result<Rights, EngineError> {
        // A user may always change its own password: single user needs nothing more.
        if req.alternate.is_none() {
            return Ok(Rights::Complete);
        }
        let (src_user, host) = self.account_of(req.current).await?;
        let (src_user, host) = (src_user.as_str(), host.as_str());
        let admin_user = req.actor.username.as_str();
        let mut admin = self.open(req.actor).await?;
        let result = async {
            let admin_account = quoted_current_user(&mut admin, admin_user).await?;
            let admin_lines = admin.show("SHOW GRANTS", admin_user).await?;
            // SHOW GRANTS FOR only: SHOW CREATE USER would bring the hash, which is not needed.
            let account = sql::account(src_user, host, false);
            let (original, unreadable) = match admin
                .show(&format!("SHOW GRANTS FOR {account}"), admin_user)
                .await
            {
                Ok(original) => (original, None),
                Err(EngineError::Permission { detail, .. }) => (Vec::new(), Some(detail)),
                Err(e) => return Err(e),
            };
            let mariadb = admin.product() == sql::Product::MariaDb;
            let mut missing = rights::missing(&admin_lines, &admin_account, &original, mariadb);
            if let Some(detail) = unreadable {
                missing.push(format!(
                    "SELECT on the mysql schema, to read the original's grants with SHOW GRANTS FOR ({detail}): GRANT SELECT ON mysql.* TO {admin_account}"
                ));
            }
            Ok(if missing.is_empty() {
                Rights::Complete
            } else if rights::holds_roles(&admin_lines) {
                // Its roles' privileges are not in its SHOW GRANTS: what seems missing may be
                // held through one.
                Rights::Unknown(format!(
                    "the admin seems to lack: {}. It holds roles, whose privileges SHOW GRANTS does not list, so it may hold these through one; check its roles, or grant them to the admin directly",
                    missing.join("; ")
                ))
            } else {
                Rights::Missing(missing)
            })
        }
        .await;
        admin.close().await;
        result
    }

    async fn change_mode(&self, req: RightsCheck<'_>) -> Result<Option<String>, EngineError> {
        let mut s = self.open(req.actor).await?;
        let result = async {
            let (auth, _) = s.own_account().await?;
            let grants = s.show("SHOW GRANTS", &req.actor.username).await?;
            Ok(Some(sql::own_change_mode(
                s.version(),
                &auth,
                &rights::own_password_rights(&grants),
                self.previous,
            )))
        }
        .await;
        match result {
            Ok(_) => self.keep(req.actor, s).await,
            Err(_) => s.close().await,
        }
        result
    }

    async fn set_password(&self, req: SetPassword<'_>) -> Result<(), EngineError> {
        let mut s = self.open(req.login).await?;
        let user = req.pending.username.as_str();
        let result = async {
            let (auth, requires_current) = s.own_account().await?;
            let change = sql::OwnChange {
                product: s.product(),
                auth: &auth,
                current: requires_current.then(|| req.login.password.expose_secret()),
                retain: self.previous == PreviousPassword::Keep
                    && sql::has_dual_passwords(s.version()),
            };
            let password = new_password(req.pending.password.expose_secret())?;
            let statements = sql::own_password(&change, &password);
            let mut refused = None;
            for statement in &statements {
                if refused.is_some() {
                    info!(
                        user,
                        "the server refused the change for lack of a privilege; trying the next form: {}",
                        form_of(statement)
                    );
                }
                s.check_may_send(statement.plaintext)?;
                match s
                    .exec_secret(&statement.sql, &statement.secret, user)
                    .await
                {
                    Err(e @ EngineError::Permission { .. }) => refused = Some(e),
                    other => {
                        if other.is_ok() {
                            report_own_change(user, &auth, statement);
                        }
                        return other;
                    }
                }
            }
            Err(refused.unwrap_or_else(|| {
                EngineError::Database("no statement changes this account's password".into())
            }))
        }
        .await;
        if result.is_ok() && change_discards(self.previous, s.version()) {
            discard_old_password(&mut s, user).await;
        }
        s.close().await;
        result
    }

    async fn set_alternate(&self, req: SetAlternate<'_>) -> Result<(), EngineError> {
        // The exact account the current credentials log in as gives the host part.
        let (src_user, host) = self.account_of(req.current).await?;
        let target_user = req.pending.username.as_str();
        let admin_user = req.admin.username.as_str();

        let mut admin = self.open(req.admin).await?;
        let result = clone_account(
            &mut admin,
            admin_user,
            (&src_user, &host),
            target_user,
            req.pending.password.expose_secret(),
        )
        .await;
        admin.close().await;
        result
    }

    async fn end_step(&self) {
        if let Some(session) = self.kept.take() {
            session.close().await;
        }
    }
}

/// The new password with a fresh salt for its hash.
fn new_password(text: &str) -> Result<sql::NewPassword<'_>, EngineError> {
    sql::NewPassword::new(text).map_err(|e| {
        EngineError::Database(format!(
            "the operating system's random generator failed ({e}), so no salt could be drawn for the password's hash. Nothing was changed; retry the rotation"
        ))
    })
}

/// What a password statement is, without its password or hash: for the log.
fn form_of(statement: &sql::PasswordStatement) -> &'static str {
    match (statement.plaintext, statement.retains) {
        (false, true) => "the hash, keeping the current password",
        (false, false) => "the hash",
        (true, true) => "the password as text, keeping the current password",
        (true, false) => "the password as text",
    }
}

/// Say how the user's own change went: whether the old password stays valid, and whether
/// the server received the password itself.
fn report_own_change(user: &str, auth: &sql::Auth, statement: &sql::PasswordStatement) {
    if statement.retains {
        info!(
            user,
            "the old password stays valid beside the new one until the next rotation (RETAIN CURRENT PASSWORD)"
        );
    }
    if statement.plaintext {
        info!(user, auth = ?auth, "the server received the new password as text: a user may set a hash for itself only with the CREATE USER privilege, and the function computes a hash only for mysql_native_password and MySQL's caching_sha2_password");
    }
}

/// Whether setSecret drops the old password after the change: `PREVIOUS_PASSWORD=discard`
/// on a server that may hold one.
fn change_discards(previous: PreviousPassword, version: &str) -> bool {
    previous == PreviousPassword::Discard && sql::has_dual_passwords(version)
}

/// `DISCARD OLD PASSWORD` for the session's own account, so that a secondary password an
/// earlier rotation retained stops working at once. It wants CREATE USER or
/// APPLICATION_PASSWORD_ADMIN; an account without either cannot have been given one by this
/// function, so a refusal is only noted.
async fn discard_old_password(s: &mut Session, user: &str) {
    match s
        .exec("ALTER USER CURRENT_USER() DISCARD OLD PASSWORD", user)
        .await
    {
        Ok(()) => info!(
            user,
            "the old password no longer logs in (PREVIOUS_PASSWORD=discard)"
        ),
        Err(e) => {
            warn!(user, error = %e, "could not discard a secondary password (it needs APPLICATION_PASSWORD_ADMIN or CREATE USER); one retained earlier stays valid")
        }
    }
}

/// The account (`CURRENT_USER()`) of the session, quoted; `'<user>'@'%'` if the server's answer
/// cannot be split.
async fn quoted_current_user(s: &mut Session, user: &str) -> Result<String, EngineError> {
    let me = s.current_user().await?;
    Ok(sql::split_current_user(&me)
        .map(|(u, h)| sql::account(u, h, false))
        .unwrap_or_else(|| sql::account(user, "%", false)))
}

/// Make `target_user`@`host` an exact copy of `src_user`@`host` with `password`, as the admin:
/// created (or reset) locked, with the original's plugin, account options and grants, read
/// back and compared, and unlocked only when exact.
async fn clone_account(
    admin: &mut Session,
    admin_user: &str,
    (src_user, host): (&str, &str),
    target_user: &str,
    password: &str,
) -> Result<(), EngineError> {
    let product = admin.product();
    // Backslashes escape in the session's own sql_mode (see `sql::session_sql_mode`).
    let target = sql::account(target_user, host, false);
    let exists = admin.account_exists(&target).await?;
    let (grants, create) = privileges_of(admin, admin_user, src_user, host).await?;
    let options = account::account_options(&create, product).map_err(|m| {
        EngineError::Database(format!(
            "cannot copy the account options of '{src_user}'@'{host}' from its SHOW CREATE USER line: {m}. Nothing was changed"
        ))
    })?;
    report_other_hosts(admin, admin_user, src_user, host).await;
    let auth = sql::auth_of(&create, product);
    let password = sql::identified(product, &auth, &new_password(password)?);
    // Locked until it is verified an exact copy: a crash or a failed check in between leaves
    // an account that cannot log in, so AWSPENDING does not work, the retry does the whole job
    // again, and an incomplete copy never becomes AWSCURRENT. The statement that sets the new
    // password also locks, so that password never opens an unverified copy.
    let verb = if exists { "ALTER" } else { "CREATE" };
    admin.check_may_send(password.plaintext)?;
    admin
        .exec_secret(
            &format!(
                "{verb} USER {target} {} {} ACCOUNT LOCK",
                password.sql,
                options.clauses()
            ),
            &password.secret,
            admin_user,
        )
        .await?;
    if !exists {
        info!(user = target_user, host = %host, "created the alternate user, locked");
    }
    if password.plaintext {
        info!(user = target_user, auth = ?auth, "the server received the new password as text: the function computes a hash only for mysql_native_password and MySQL's caching_sha2_password");
    }
    let copied = async {
        // A copy made before may have a default role the original no longer has; MariaDB's
        // grants below set the original's again, MySQL's come from its options after them.
        if exists && product == sql::Product::MariaDb {
            admin
                .exec(
                    &account::set_default_roles(product, &[], &target),
                    admin_user,
                )
                .await?;
        }
        for line in &grants {
            let Some(grant) = sql::rewrite_grant(line, src_user, host, &target) else {
                continue;
            };
            if let Err(e) = admin.exec(&grant, admin_user).await {
                let me = quoted_current_user(admin, admin_user)
                    .await
                    .unwrap_or_else(|_| sql::account(admin_user, "%", false));
                return Err(grant_refused(e, line, (src_user, host), &me));
            }
        }
        if product == sql::Product::MySql {
            admin
                .exec(
                    &account::set_default_roles(product, &options.default_roles, &target),
                    admin_user,
                )
                .await?;
        }
        Ok(())
    }
    .await;
    if let Err(e) = copied {
        // A copy this attempt created and could not finish goes again: nothing half-made is
        // left behind. One made by an earlier rotation stays, locked, for the retry to repair.
        if !exists {
            let dropped = admin.exec(&format!("DROP USER {target}"), admin_user).await;
            if dropped.is_ok() {
                info!(user = target_user, host = %host, "dropped the unfinished alternate user again");
            }
        }
        return Err(e);
    }
    verify_copy(admin, admin_user, (src_user, host), target_user, product).await?;
    admin
        .exec(&format!("ALTER USER {target} ACCOUNT UNLOCK"), admin_user)
        .await?;
    Ok(())
}

/// The error for a grant line the server refused the admin: a missing right to pass a
/// privilege, role or proxy grant on is named with the statement that gives it to `admin` (the
/// admin's account, quoted).
fn grant_refused(
    e: EngineError,
    line: &str,
    (src_user, host): (&str, &str),
    admin: &str,
) -> EngineError {
    // MariaDB refuses a PROXY grant with 1698, a login error's code: on a session that is
    // logged in it can only mean the right to grant is missing.
    let (EngineError::Permission { user, detail } | EngineError::Authentication { user, detail }) =
        e
    else {
        return e;
    };
    let what = sql::rewrite_grant(line, src_user, host, "<the copy>").unwrap_or_default();
    let fix = sql::grant_option_for(line, src_user, host, admin);
    EngineError::Permission {
        user,
        detail: format!(
            "{detail}. The admin may not give the alternate user what '{src_user}'@'{host}' has ({what}), so the alternate user was not made. Give the admin the right to pass it on (`{fix}`), then retry the rotation"
        ),
    }
}

/// Say in the log when the user name has accounts at other host parts: only the one the
/// current credentials log in as (`CURRENT_USER()`) is copied. (Only a note: an admin that may
/// not read `mysql.user` just does not get it.)
async fn report_other_hosts(admin: &mut Session, admin_user: &str, user: &str, host: &str) {
    let hosts = admin
        .show(
            &format!(
                "SELECT Host FROM mysql.user WHERE User = {} AND Host <> {} ORDER BY Host",
                sql::literal(user, false),
                sql::literal(host, false)
            ),
            admin_user,
        )
        .await
        .unwrap_or_default();
    if !hosts.is_empty() {
        warn!(
            user,
            copied_host = host,
            other_hosts = hosts.join(", "),
            "the user has accounts at other host parts; the alternate user copies only the one the current credentials log in as from the function's network. Clients that reach the database as one of the others must keep the original user"
        );
    }
}

/// Read both accounts back from the server and compare them, the names taken out: the copy
/// must have exactly the original's grants and account options ([`account`]). What the server holds is what
/// counts, not what was sent: a grant line this code failed to read or rewrite would otherwise
/// go missing without a sound.
async fn verify_copy(
    admin: &mut Session,
    admin_user: &str,
    (src_user, host): (&str, &str),
    target_user: &str,
    product: sql::Product,
) -> Result<(), EngineError> {
    let (src_grants, src_create) = privileges_of(admin, admin_user, src_user, host).await?;
    let (copy_grants, copy_create) = privileges_of(admin, admin_user, target_user, host).await?;
    let original = Privileges {
        user: src_user,
        host,
        grants: &src_grants,
        create_user: &src_create,
        product,
    };
    let copy = Privileges {
        user: target_user,
        host,
        grants: &copy_grants,
        create_user: &copy_create,
        product,
    };
    sql::compare_copy(&original, &copy).map_err(|m| {
        EngineError::Database(format!(
            "the alternate user '{target_user}'@'{host}' is not an exact copy of '{src_user}'@'{host}' ({m}), so it stays locked (ACCOUNT LOCK): it cannot log in and does not become AWSCURRENT. Make the two accounts' grants and options equal (grant what is missing, revoke what is extra, or DROP USER the alternate so that the next attempt creates it afresh), then retry the rotation"
        ))
    })
}

/// An account's `SHOW GRANTS` lines and its `SHOW CREATE USER` line.
async fn privileges_of(
    admin: &mut Session,
    admin_user: &str,
    user: &str,
    host: &str,
) -> Result<(Vec<String>, String), EngineError> {
    let account = sql::account(user, host, false);
    let grants = admin
        .show(&format!("SHOW GRANTS FOR {account}"), admin_user)
        .await?;
    let create = admin
        .show_one(&format!("SHOW CREATE USER {account}"), admin_user)
        .await?;
    Ok((grants, create))
}

/// Turn a driver error into an engine error (for the connection module and tests).
pub fn classify_error(e: mysql_async::Error, endpoint: &str, user: &str) -> EngineError {
    classify(e, endpoint, user)
}
