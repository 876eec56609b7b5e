//! The conformance suite on PostgreSQL: the engine-agnostic scenarios, run on the shared server
//! (which the version matrix swaps for other builds). A user is a login role the admin creates,
//! so that from 16 the admin holds the ADMIN option it needs to copy it; the canary is a table
//! of the admin's in its own database that each user is granted SELECT on, and that a clone
//! reads through its membership in the original.

use crate::common::{
    admin, admin_exec, connect, create_role, role_exists, rotator, secret, superuser,
};
use rotation_core::Strategy;
use rotation_core::protocol::Rotator;
use rotation_postgres::sql::{ident, literal};
use rotation_postgres::{PostgreSql, facts};
use serde_json::{Value, json};
use test_support::conformance::Adapter;
use test_support::postgres::{DATABASE, Postgres};
use test_support::secrets::Sm;
use test_support::unique;

/// The shared server and this adapter's canary.
pub struct PostgresAdapter {
    db: Postgres,
    /// The canary table's name (unquoted), in the admin's database.
    table: String,
    /// The one value the table holds.
    value: String,
}

impl PostgresAdapter {
    /// The statement that lets `user` read the canary.
    fn canary_grant(&self, user: &str) -> String {
        format!("GRANT SELECT ON {} TO {}", ident(&self.table), ident(user))
    }

    /// Create the canary as the admin. `Adapter::new` is not async and runs on a test's
    /// runtime, so the statements run on a runtime of their own on another thread.
    fn create_canary(&self) {
        let statement = format!(
            "CREATE TABLE {t} (v text NOT NULL); INSERT INTO {t} VALUES ({v})",
            t = ident(&self.table),
            v = literal(&self.value)
        );
        std::thread::scope(|s| {
            s.spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime for the canary");
                runtime.block_on(admin_exec(&self.db, &[statement]));
            })
            .join()
            .expect("the canary is created");
        });
    }
}

/// What `account_state` reads: the role's attributes, the roles it is a member of, and its
/// settings; never its password.
const ACCOUNT_STATE: &str = "SELECT format('super=%s inherit=%s createrole=%s createdb=%s login=%s \
     replication=%s bypassrls=%s connlimit=%s validuntil=%s | member of: %s | settings: %s', \
     r.rolsuper, r.rolinherit, r.rolcreaterole, r.rolcreatedb, r.rolcanlogin, r.rolreplication, \
     r.rolbypassrls, r.rolconnlimit, r.rolvaliduntil, \
     (SELECT string_agg(g.rolname::text || CASE WHEN a.admin_option THEN ' (admin)' ELSE '' END, \
        ', ' ORDER BY g.rolname) FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid \
        WHERE a.member = r.oid), \
     (SELECT string_agg(coalesce(d.datname::text, '*') || ':' || array_to_string(s.setconfig, ','), \
        '; ' ORDER BY d.datname NULLS FIRST) FROM pg_db_role_setting s \
        LEFT JOIN pg_database d ON d.oid = s.setdatabase WHERE s.setrole = r.oid)) \
     FROM pg_roles r WHERE r.rolname = $1";

impl Adapter for PostgresAdapter {
    type Engine = PostgreSql;

    const SINGLE_USER_KEEPS_OLD_PASSWORD: bool = false;
    /// `max_identifier_length`.
    fn name_limit(&self) -> Option<usize> {
        Some(63)
    }

    fn new(flavour: &str) -> Self {
        assert_eq!(flavour, "postgres", "PostgreSQL has one flavour");
        let adapter = PostgresAdapter {
            db: Postgres::from_env(),
            table: unique("canary"),
            value: unique("canary-value-"),
        };
        adapter.create_canary();
        adapter
    }

    /// The canary is in the admin's database, so the secret names it.
    fn secret(&self, port: u16, user: &str, password: &str) -> Value {
        let mut value = secret(port, user, password);
        value["dbname"] = json!(DATABASE);
        value
    }

    fn admin_secret(&self) -> Value {
        self.secret(self.db.port, &self.db.admin_user, &self.db.admin_password)
    }

    fn rotator(&self, sm: &Sm, strategy: Strategy, vars: &[(&str, &str)]) -> Rotator<PostgreSql> {
        rotator(sm, strategy, vars)
    }

    fn function(strategy: Strategy) -> &'static str {
        if strategy == Strategy::SingleUser {
            facts::SINGLE_USER
        } else {
            facts::ALTERNATING_USERS
        }
    }

    fn port(&self) -> u16 {
        self.db.port
    }

    async fn create_user(&self, user: &str, password: &str) {
        create_role(&self.db, user, password).await;
        admin_exec(&self.db, &[self.canary_grant(user)]).await;
    }

    /// `CREATEROLE` and `CREATEDB`, as the shared admin (an RDS master user) has.
    async fn create_admin(&self, user: &str, password: &str) {
        create_role(&self.db, user, password).await;
        let rights = format!("ALTER ROLE {} CREATEROLE CREATEDB", ident(user));
        admin_exec(&self.db, &[rights, self.canary_grant(user)]).await;
    }

    async fn change_password(&self, user: &str, password: &str) {
        admin_exec(
            &self.db,
            &[format!(
                "ALTER ROLE {} PASSWORD {}",
                ident(user),
                literal(password)
            )],
        )
        .await;
    }

    async fn read_canary(&self, user: &str, password: &str) -> Result<String, String> {
        let client = connect(self.db.port, user, password, DATABASE).await?;
        let row = client
            .query_one(&format!("SELECT v FROM {}", ident(&self.table)), &[])
            .await
            .map_err(|e| format!("{user} reads the canary: {e:?}"))?;
        Ok(row.get(0))
    }

    fn canary(&self) -> String {
        self.value.clone()
    }

    async fn user_exists(&self, user: &str) -> bool {
        role_exists(&self.db, user).await
    }

    async fn verifiers(&self, user: &str) -> Vec<String> {
        // Only a superuser may read pg_authid.
        superuser(&self.db)
            .await
            .query(
                "SELECT rolpassword FROM pg_authid WHERE rolname = $1",
                &[&user],
            )
            .await
            .unwrap_or_else(|e| panic!("the verifier of {user:?}: {e:?}"))
            .iter()
            .filter_map(|row| row.get::<_, Option<String>>(0))
            .collect()
    }

    async fn account_state(&self, user: &str) -> String {
        admin(&self.db)
            .await
            .query_one(ACCOUNT_STATE, &[&user])
            .await
            .unwrap_or_else(|e| panic!("the state of {user:?}: {e:?}"))
            .get(0)
    }

    /// Quotes of both kinds, backslashes, SQL that would drop the canary if it ran, mixed case
    /// with a space, `%` and `_`, and multi-byte characters; each leaves room for the suite's
    /// prefix and `_clone` in the 63 bytes of a name.
    fn hostile_usernames(&self) -> Vec<String> {
        let table = &self.table;
        vec![
            "o'ne\"two\\x".to_owned(),
            format!("x\"; DROP TABLE {table}; --"),
            format!("'; DROP TABLE {table}; --"),
            "UPPER lower 100%_".to_owned(),
            "ü€ 名前 \\'".to_owned(),
        ]
    }
}

test_support::conformance_suite!(PostgresAdapter, [postgres]);
