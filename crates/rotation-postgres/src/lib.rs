//! PostgreSQL and Aurora PostgreSQL rotation (`postgres-single-user`,
//! `postgres-alternating-users`).
//!
//! No password reaches the server: the client computes the verifier the server would store
//! (SCRAM-SHA-256, or MD5 when the server's `password_encryption` says so) and sends that in
//! `ALTER ROLE … PASSWORD`, so statement logs and `pg_stat_activity` never see a password.
//! When a server declines TLS and the secret did not say `"ssl": false`, only SCRAM-SHA-256
//! logins and SCRAM verifiers cross that connection: a cleartext or MD5 login request, or a
//! server that stores MD5 hashes, is a TLS error before anything is sent.
//!
//! Single user: the user changes its own password. Alternating users: the admin user creates
//! `<user>_clone` once, as a member of the original role whose sessions start as the role a
//! session of the original acts as (`SET role`: the original, or the role the original's own
//! `role` setting names), so both users own and use the same objects; the clone copies what
//! PostgreSQL reads from the login role itself: connection limit, expiry, `REPLICATION` and
//! per-role settings. Later rotations only change passwords. Before it creates or changes a
//! role, the admin's rights are checked against the server's own rules, so that a rotation
//! the server would stop half-way, or a clone that would differ from the original, is refused
//! before it starts with the statement that fixes it: `check_admin_may` (`CREATEROLE`, and
//! from PostgreSQL 16 the ADMIN option on the role) and `check_admin_may_copy`
//! (`REPLICATION`, and the right to set each of the original's per-role settings).

mod connect;
pub mod facts;
mod rights;
pub mod sql;

use connect::Session;
use rotation_core::config::ConfigError;
use rotation_core::secret::SecretRules;
use rotation_core::{
    DbSecret, Engine, EngineError, ExposeSecret, KeptSession, Rights, RightsCheck, SetAlternate,
    SetPassword, SslMode, TlsSettings, Transport,
};
use sql::PasswordMethod;
use tracing::{info, warn};

pub use connect::classify as classify_error;

pub use facts::DEFAULT_EXCLUDE_CHARACTERS;

/// The secrets these functions accept (from [`facts`]).
pub const RULES: SecretRules = SecretRules {
    engines: facts::ENGINES,
    default_port: facts::DEFAULT_PORT,
    default_dbname: facts::DEFAULT_DBNAME,
};

/// The PostgreSQL engine.
#[derive(Debug)]
pub struct PostgreSql {
    tls: TlsSettings,
    /// The session of the step's last successful login check, kept for the step's next
    /// operation with the same credentials, so that a step derives each password's SCRAM key
    /// once (AWSCURRENT is checked, then used for the change). Closed at the step's end.
    kept: KeptSession<Session>,
}

impl Clone for PostgreSql {
    /// The same settings; a clone keeps no session of its own yet.
    fn clone(&self) -> PostgreSql {
        PostgreSql::new(self.tls.clone())
    }
}

/// What a session knows about its server.
struct ServerFacts {
    version_num: u32,
    method: PasswordMethod,
}

impl PostgreSql {
    /// Build from TLS settings (the functions read no variables of their own).
    pub fn from_env(tls: TlsSettings) -> Result<PostgreSql, ConfigError> {
        Ok(PostgreSql::new(tls))
    }

    /// Build from TLS settings.
    pub fn new(tls: TlsSettings) -> PostgreSql {
        PostgreSql {
            tls,
            kept: KeptSession::default(),
        }
    }

    /// A session as `creds`: the kept one when it was opened with them and is still open,
    /// else a new login.
    async fn open(&self, creds: &DbSecret) -> Result<Session, EngineError> {
        match self.kept.take_for(creds) {
            Some(session) if !session.client().is_closed() => Ok(session),
            Some(closed) => {
                closed.close().await;
                Session::open(creds, &self.tls).await
            }
            None => Session::open(creds, &self.tls).await,
        }
    }

    /// Keep `session` (opened with `creds`) for the step's next operation.
    async fn keep(&self, creds: &DbSecret, session: Session) {
        if let Some(old) = self.kept.keep(creds, session) {
            old.close().await;
        }
    }
}

/// `server_version_num`.
async fn version_num(s: &Session) -> Result<u32, EngineError> {
    let version = s.show("SHOW server_version_num").await?;
    version.trim().parse::<u32>().map_err(|_| {
        EngineError::Database(format!("server_version_num is {version:?}, not a number"))
    })
}

async fn facts(s: &Session) -> Result<ServerFacts, EngineError> {
    let version_num = version_num(s).await?;
    let encryption = s.show("SHOW password_encryption").await?;
    let method = PasswordMethod::detect(&encryption, version_num);
    if method == PasswordMethod::Md5 {
        s.check_md5_allowed()?;
        warn!(
            password_encryption = %encryption,
            server_version_num = version_num,
            "the server stores MD5 password hashes, so an MD5 hash is sent; MD5 passwords are deprecated by PostgreSQL: set password_encryption = 'scram-sha-256' and rotate again"
        );
    }
    Ok(ServerFacts {
        version_num,
        method,
    })
}

/// A role's login attributes, as the admin sees them in `pg_roles`: those PostgreSQL reads
/// from the login role itself rather than from the role its sessions act as.
struct RoleRow {
    connection_limit: i32,
    valid_until: Option<String>,
    replication: bool,
}

async fn role(s: &Session, name: &str) -> Result<Option<RoleRow>, EngineError> {
    let rows = s
        .client()
        .query(
            "SELECT rolconnlimit, rolvaliduntil::text, rolreplication FROM pg_catalog.pg_roles WHERE rolname = $1",
            &[&name],
        )
        .await
        .map_err(|e| s.error(&e))?;
    Ok(rows.first().map(|r| RoleRow {
        connection_limit: r.get(0),
        valid_until: r.get(1),
        replication: r.get(2),
    }))
}

/// The `name=value` entries of `pg_db_role_setting` for a role, with the database each applies
/// to (`None`: every database).
async fn role_settings(
    s: &Session,
    name: &str,
) -> Result<Vec<(Option<String>, String)>, EngineError> {
    let rows = s
        .client()
        .query(
            "SELECT d.datname::text, unnest(c.setconfig) \
             FROM pg_catalog.pg_db_role_setting c \
             JOIN pg_catalog.pg_roles r ON r.oid = c.setrole \
             LEFT JOIN pg_catalog.pg_database d ON d.oid = c.setdatabase \
             WHERE r.rolname = $1 AND (c.setdatabase = 0 OR d.oid IS NOT NULL)",
            &[&name],
        )
        .await
        .map_err(|e| s.error(&e))?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

async fn is_member(s: &Session, member: &str, of: &str) -> Result<bool, EngineError> {
    let row = s
        .client()
        .query_one(
            "SELECT pg_catalog.pg_has_role($1::text::name, $2::text::name, 'MEMBER')",
            &[&member, &of],
        )
        .await
        .map_err(|e| s.error(&e))?;
    Ok(row.get(0))
}

/// Refuse, before anything changes, a `change` to `role` that the server would refuse the
/// session's user (the admin): it needs `CREATEROLE` (or superuser) on every version and, from
/// PostgreSQL 16, the ADMIN option on `role`, which a `CREATEROLE` user gets by itself only for
/// the roles it creates. The server would roll the transaction back anyway; checking first
/// turns "permission denied" (or, for an ADMIN option reached through a membership without
/// INHERIT, an internal "no possible grantors") into the statement an operator runs. It only
/// reads catalogs, so a preflight check can call it too.
async fn check_admin_may(
    s: &Session,
    version_num: u32,
    role: &str,
    change: sql::RoleChange,
) -> Result<(), EngineError> {
    let row = s
        .client()
        .query_one(sql::ADMIN_RIGHTS_QUERY, &[&role])
        .await
        .map_err(|e| s.error(&e))?;
    let admin: String = row.get(0);
    let createrole: bool = row.get(1);
    let admin_option: bool = match change {
        sql::RoleChange::GrantMembership => row.get(2),
        sql::RoleChange::ChangePassword => row.get(3),
    };
    // Before 16, CREATEROLE alone lets a user grant and alter every role but superusers.
    let lacks_admin_option = version_num >= sql::ADMIN_OPTION_VERSION && !admin_option;
    match sql::admin_rights_problem(&admin, role, change, !createrole, lacks_admin_option) {
        None => Ok(()),
        Some(detail) => Err(EngineError::Permission {
            user: admin,
            detail,
        }),
    }
}

/// The parameter name of a `name=value` entry of `pg_db_role_setting`.
fn setting_name(entry: &str) -> &str {
    entry.split_once('=').map_or(entry, |(n, _)| n)
}

/// Refuse, before anything is created, a clone of `base` the admin could not make an exact
/// copy of: `REPLICATION` (from 16 a `CREATEROLE` role may give it only if it has it, before
/// only a superuser) and per-role settings of parameters the admin may not set (superuser-only
/// ones and placeholders need superuser or, from 15, `SET` on the parameter). A clone without
/// them would log in but differ from the original, so the refusal names the statements that
/// give the admin what it lacks. It only reads catalogs.
async fn check_admin_may_copy(
    s: &Session,
    version_num: u32,
    base: &str,
    base_row: &RoleRow,
    settings: &[(Option<String>, String)],
) -> Result<(), EngineError> {
    let row = s
        .client()
        .query_one(sql::ADMIN_ATTRIBUTES_QUERY, &[])
        .await
        .map_err(|e| s.error(&e))?;
    let (admin, superuser, replication): (String, bool, bool) =
        (row.get(0), row.get(1), row.get(2));
    if superuser {
        return Ok(());
    }
    let mut lacks = Vec::new();
    if base_row.replication
        && !(replication && version_num >= sql::REPLICATION_BY_CREATEROLE_VERSION)
    {
        lacks.push(sql::Uncopyable::Replication);
    }
    let mut names: Vec<String> = Vec::new();
    for (_, entry) in settings {
        let name = setting_name(entry).to_owned();
        let unshown = sql::UNSHOWN_USER_PARAMETERS
            .iter()
            .any(|n| n.eq_ignore_ascii_case(&name));
        if !unshown && !names.iter().any(|n| n.eq_ignore_ascii_case(&name)) {
            names.push(name);
        }
    }
    if !names.is_empty() {
        let rows = s
            .client()
            .query(&sql::parameter_rights_query(version_num), &[&names])
            .await
            .map_err(|e| s.error(&e))?;
        for r in rows {
            let (name, context, has_set): (String, Option<String>, bool) =
                (r.get(0), r.get(1), r.get(2));
            if !sql::may_set(context.as_deref(), has_set) {
                let grantable = matches!(context.as_deref(), Some("superuser") | None);
                lacks.push(sql::Uncopyable::Setting { name, grantable });
            }
        }
    }
    match sql::copy_rights_problem(&admin, base, version_num, &lacks) {
        None => Ok(()),
        Some(detail) => Err(EngineError::Permission {
            user: admin,
            detail,
        }),
    }
}

/// Create the clone of `base`: login attributes, membership, the role its sessions act as,
/// per-role settings. `settings` are the original's, which [`check_admin_may_copy`] passed.
async fn create_clone(
    s: &Session,
    base: &str,
    base_row: &RoleRow,
    settings: &[(Option<String>, String)],
    clone: &str,
    verifier: &str,
    server: &ServerFacts,
) -> Result<(), EngineError> {
    s.exec_secret(
        &sql::create_clone(
            clone,
            verifier,
            base_row.connection_limit,
            base_row.valid_until.as_deref(),
            base_row.replication,
        ),
        verifier,
    )
    .await?;
    s.exec(&sql::grant_membership(base, clone, server.version_num))
        .await?;
    // A session of the clone acts as the role a session of the original acts as: the one the
    // original's own `role` setting names (copied below with the others), else the original.
    let acts_as_set = settings.iter().any(|(database, entry)| {
        database.is_none() && setting_name(entry).eq_ignore_ascii_case("role")
    });
    if !acts_as_set {
        s.exec(&sql::set_role_default(clone, base)).await?;
    }
    for (database, entry) in settings {
        if let Some(statement) = sql::copy_setting(clone, database.as_deref(), entry) {
            s.exec(&statement).await?;
        }
    }
    info!(
        user = clone,
        original = base,
        "created the clone: a member of the original whose sessions act as it"
    );
    Ok(())
}

impl Engine for PostgreSql {
    const RULES: SecretRules = RULES;
    const DEFAULT_EXCLUDE_CHARACTERS: &'static str = facts::DEFAULT_EXCLUDE_CHARACTERS;
    const SINGLE_USER_USES_ADMIN: bool = facts::SINGLE_USER_USES_ADMIN;
    const REPEAT_SET_WHEN_PENDING_WORKS: bool = facts::REPEAT_SET_WHEN_PENDING_WORKS;

    async fn check_username(&self, current: &DbSecret, alternate: &str) -> Result<(), EngineError> {
        let base = sql::pair_base(&current.username, alternate);
        let s = self.open(current).await?;
        let limit = s.show("SHOW max_identifier_length").await;
        self.keep(current, s).await;
        let limit = limit?
            .trim()
            .parse::<usize>()
            .unwrap_or(sql::DEFAULT_NAME_LIMIT);
        match sql::name_limit_problem(base, limit) {
            Some(problem) => Err(EngineError::Refused(problem)),
            None => Ok(()),
        }
    }

    async fn probe_login(&self, creds: &DbSecret) -> Result<Transport, EngineError> {
        let s = self.open(creds).await?;
        let result = s.show("SELECT NOW()").await.map(drop);
        let fell_back = s.plaintext_fallback();
        match result {
            Ok(()) => self.keep(creds, s).await,
            Err(_) => s.close().await,
        }
        result?;
        let plaintext = fell_back || self.tls.mode_for(creds.ssl) == SslMode::Disable;
        Ok(self.tls.transport(creds.ssl, !plaintext))
    }

    async fn check_rights(&self, req: RightsCheck<'_>) -> Result<Rights, EngineError> {
        // A role may always change its own password: single user needs nothing more.
        let Some(target) = req.alternate else {
            return Ok(Rights::Complete);
        };
        let s = self.open(req.actor).await?;
        let result = rights::alternating(&s, &req.current.username, target).await;
        s.close().await;
        result
    }

    async fn set_password(&self, req: SetPassword<'_>) -> Result<(), EngineError> {
        let s = self.open(req.login).await?;
        let result = async {
            let server = facts(&s).await?;
            // A role may always change its own password, but only while it is the current
            // user; a role whose sessions start as another role (a clone) must drop that first.
            s.exec("SET ROLE NONE").await?;
            // The role's own spelling (as stored) salts an MD5 hash.
            let me = s.show("SELECT session_user").await?;
            let verifier = server
                .method
                .verifier(req.pending.password.expose_secret(), &me);
            s.exec_secret(&sql::alter_password(&me, &verifier), &verifier)
                .await
        }
        .await;
        s.close().await;
        result
    }

    async fn set_alternate(&self, req: SetAlternate<'_>) -> Result<(), EngineError> {
        let base = sql::pair_base(&req.current.username, &req.pending.username).to_owned();
        let clone = format!("{base}{}", sql::CLONE_SUFFIX);
        let target = req.pending.username.as_str();
        let s = self.open(req.admin).await?;
        let result = async {
            let server = facts(&s).await?;
            let verifier = server.method.verifier(req.pending.password.expose_secret(), target);
            // Role statements are transactional: a crash part-way leaves nothing behind, and
            // the retry does the whole job again.
            s.exec("BEGIN").await?;
            let Some(base_row) = role(&s, &base).await? else {
                return Err(EngineError::Refused(format!(
                    "the original user '{base}' does not exist; alternating-users rotation only ever creates '{clone}', so create '{base}' or fix the secret's username"
                )));
            };
            if role(&s, target).await?.is_some() {
                check_admin_may(&s, server.version_num, target, sql::RoleChange::ChangePassword)
                    .await?;
                s.exec_secret(&sql::alter_password(target, &verifier), &verifier).await?;
                if target == clone && !is_member(&s, &clone, &base).await? {
                    warn!(
                        user = %clone,
                        original = %base,
                        "the clone exists but is not a member of the original, so objects it creates are its own; as admin run GRANT original TO clone and ALTER ROLE clone SET role = original"
                    );
                }
            } else {
                check_admin_may(&s, server.version_num, &base, sql::RoleChange::GrantMembership)
                    .await?;
                let settings = role_settings(&s, &base).await?;
                check_admin_may_copy(&s, server.version_num, &base, &base_row, &settings).await?;
                create_clone(&s, &base, &base_row, &settings, &clone, &verifier, &server).await?;
            }
            s.exec("COMMIT").await
        }
        .await;
        if result.is_err() {
            let _ = s.exec("ROLLBACK").await;
        }
        s.close().await;
        result
    }

    async fn end_step(&self) {
        if let Some(session) = self.kept.take() {
            session.close().await;
        }
    }
}
