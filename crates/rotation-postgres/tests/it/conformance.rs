//! The conformance suite on PostgreSQL: the engine-agnostic scenarios, run on the shared server
//! (which the version matrix swaps for other builds). A user is a login role the admin creates,
//! so that from 16 the admin holds the ADMIN option it needs to copy it; the canary is a table
//! of the admin's in its own database that each user is granted SELECT on, and that a clone
//! reads through its membership in the original.

use crate::common::{connect, create_role, role_exists, rotator};
use rotation_core::Strategy;
use rotation_core::protocol::Rotator;
use rotation_postgres::PostgreSql;
use rotation_postgres::sql::{ident, literal};
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
                runtime.block_on(crate::common::admin_exec(&self.db, &[statement]));
            })
            .join()
            .expect("the canary is created");
        });
    }
}

impl Adapter for PostgresAdapter {
    type Engine = PostgreSql;

    const SINGLE_USER_KEEPS_OLD_PASSWORD: bool = false;

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

    fn function(strategy: Strategy) -> &'static str {
        match strategy {
            Strategy::SingleUser => "postgres-single-user",
            Strategy::AlternatingUsers => "postgres-alternating-users",
        }
    }

    fn port(&self) -> u16 {
        self.db.port
    }

    fn rotator(&self, sm: &Sm, strategy: Strategy, vars: &[(&str, &str)]) -> Rotator<PostgreSql> {
        rotator(sm, strategy, vars)
    }

    fn secret(&self, port: u16, user: &str, password: &str) -> Value {
        crate::common::secret(port, user, password)
    }

    fn admin_secret(&self) -> Value {
        json!({"username": self.db.admin_user, "password": self.db.admin_password})
    }

    async fn create_user(&self, user: &str, password: &str) {
        create_role(&self.db, user, password).await;
        crate::common::admin_exec(
            &self.db,
            &[format!(
                "GRANT SELECT ON {} TO {}",
                ident(&self.table),
                ident(user)
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

    /// Quotes of both kinds, backslashes, SQL that would drop the canary if it ran, mixed case
    /// with a space, `%` and `_`, and multi-byte characters; each leaves room for `_clone` in
    /// the 63 bytes of a name.
    fn hostile_usernames(&self) -> Vec<String> {
        vec![
            format!("{}o'ne\"two\\x", unique("h")),
            format!("{}x\"; DROP TABLE {}; --", unique("h"), self.table),
            format!("{}'; DROP TABLE {}; --", unique("h"), self.table),
            format!("{}UPPER lower 100%_", unique("H")),
            format!("{}ü€ 名前", unique("h")),
        ]
    }
}

test_support::conformance_suite!(crate::conformance::PostgresAdapter, [postgres]);
