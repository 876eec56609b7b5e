//! The conformance suite on MariaDB: the scenarios every engine passes, through
//! [`MySqlAdapter`]. A user is an account at host `%`; the canary is a row of
//! `appdb.conformance_canary`, which every user the suite creates may `SELECT`.

use crate::common::*;
use mysql_async::prelude::Queryable;
use rotation_core::Strategy;
use rotation_core::protocol::Rotator;
use rotation_mysql::{MySql, facts, sql};
use serde_json::Value;
use test_support::conformance::Adapter;
use test_support::mariadb::{MariaDb, Product};
use test_support::secrets::Sm;

/// The shared MariaDB `cargo xtask test` started.
pub struct MySqlAdapter {
    db: MariaDb,
}

const CANARY_TABLE: &str = "appdb.conformance_canary";
const CANARY: &str = "tweet";

impl Adapter for MySqlAdapter {
    type Engine = MySql;
    const SINGLE_USER_KEEPS_OLD_PASSWORD: bool = false;

    fn new(flavour: &str) -> Self {
        // "mariadb" is the shared server of the run: MariaDB, or the MySQL or MariaDB build
        // `cargo xtask test` names for a matrix pass.
        assert_eq!(
            flavour, "mariadb",
            "the MySQL suite runs on the shared server"
        );
        MySqlAdapter { db: db() }
    }

    fn function(strategy: Strategy) -> &'static str {
        match strategy {
            Strategy::SingleUser => facts::SINGLE_USER,
            Strategy::AlternatingUsers => facts::ALTERNATING_USERS,
        }
    }

    fn port(&self) -> u16 {
        self.db.port
    }

    fn rotator(&self, sm: &Sm, strategy: Strategy, vars: &[(&str, &str)]) -> Rotator<MySql> {
        rotator(sm, strategy, vars)
    }

    fn secret(&self, port: u16, user: &str, password: &str) -> Value {
        secret(port, user, password)
    }

    fn admin_secret(&self) -> Value {
        admin_secret(&self.db)
    }

    async fn create_user(&self, user: &str, password: &str) {
        // Every test may be the first: both statements are no-ops when the canary exists.
        admin_exec(
            &self.db,
            &[
                format!("CREATE TABLE IF NOT EXISTS {CANARY_TABLE} (v VARCHAR(20) PRIMARY KEY)"),
                format!("INSERT IGNORE INTO {CANARY_TABLE} VALUES ('{CANARY}')"),
            ],
        )
        .await;
        let grant = format!("SELECT ON {CANARY_TABLE}");
        create_user(&self.db, user, "%", password, &[&grant], false).await;
    }

    async fn create_admin(&self, user: &str, password: &str) {
        create_user(
            &self.db,
            user,
            "%",
            password,
            &["ALL PRIVILEGES ON *.*"],
            true,
        )
        .await;
    }

    async fn change_password(&self, user: &str, password: &str) {
        admin_exec(
            &self.db,
            &[format!(
                "ALTER USER {} IDENTIFIED BY {}",
                sql::account(user, "%", false),
                sql::literal(password, false)
            )],
        )
        .await;
    }

    async fn read_canary(&self, user: &str, password: &str) -> Result<String, String> {
        let mut c = connect(self.db.port, user, password).await?;
        let v: Option<String> = c
            .query_first(format!("SELECT v FROM {CANARY_TABLE}"))
            .await
            .map_err(|e| e.to_string())?;
        let _ = c.disconnect().await;
        v.ok_or_else(|| format!("{CANARY_TABLE} is empty"))
    }

    fn canary(&self) -> String {
        CANARY.into()
    }

    async fn user_exists(&self, user: &str) -> bool {
        user_exists(&self.db, user).await
    }

    async fn verifiers(&self, user: &str) -> Vec<String> {
        let mut c = admin(&self.db).await;
        let hashes: Vec<String> = c
            .exec(
                "SELECT authentication_string FROM mysql.user WHERE User = ? AND Host = '%'",
                (user,),
            )
            .await
            .unwrap_or_else(|e| panic!("the hash of {user:?}: {e}"));
        let _ = c.disconnect().await;
        hashes.into_iter().filter(|h| !h.is_empty()).collect()
    }

    /// The account's plugin, `REQUIRE` options, limits and lock, as values (an option given as
    /// its default reads the same as one never given), and its grants.
    async fn account_state(&self, user: &str) -> String {
        let mut c = admin(&self.db).await;
        // MariaDB keeps the lock in mysql.global_priv's JSON, MySQL in a column of its own.
        let locked = match self.db.product {
            Product::MariaDb => {
                "IF(JSON_VALUE(g.Priv, '$.account_locked') IN ('true', '1'), 'locked', 'open')) \
                 FROM mysql.user u JOIN mysql.global_priv g ON g.User = u.User AND g.Host = u.Host"
            }
            Product::MySql => "IF(u.account_locked = 'Y', 'locked', 'open')) FROM mysql.user u",
        };
        let row: Option<String> = c
            .exec_first(
                format!(
                    "SELECT CONCAT_WS(' ', u.plugin, u.ssl_type, u.ssl_cipher, u.x509_issuer, \
                     u.x509_subject, u.max_questions, u.max_updates, u.max_connections, \
                     u.max_user_connections, u.password_expired, {locked} \
                     WHERE u.User = ? AND u.Host = '%'"
                ),
                (user,),
            )
            .await
            .unwrap_or_else(|e| panic!("mysql.user of {user:?}: {e}"));
        let _ = c.disconnect().await;
        let row = row.unwrap_or_else(|| panic!("{user:?}@'%' does not exist"));
        format!("{row}\n{}", grants_of(&self.db, user, "%").await.join("\n"))
    }

    fn hostile_usernames(&self) -> Vec<String> {
        match self.db.product {
            Product::MariaDb => [
                "o'ne\"two`three\\x; DROP TABLE appdb.conformance_canary; --",
                "q%_ żółw ß@localhost",
                "'@'%' IDENTIFIED BY 'x",
            ],
            // MySQL holds 32 characters: a unique prefix of 11, these, and `_clone`.
            Product::MySql => ["o'n\"`\\;DROP --", "q%_ żółw@lh", "'@'%' BY 'x"],
        }
        .map(String::from)
        .to_vec()
    }

    fn name_limit(&self) -> Option<usize> {
        Some(match self.db.product {
            Product::MariaDb => 80,
            Product::MySql => 32,
        })
    }

    fn offers_tls(&self) -> bool {
        self.db.offers_tls
    }
}

test_support::conformance_suite!(MySqlAdapter, [mariadb]);
