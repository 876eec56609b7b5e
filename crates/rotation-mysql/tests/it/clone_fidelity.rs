//! Clone fidelity: a catalogue of account shapes as DBAs make them (roles and default roles,
//! column and routine privileges, proxy grants, resource limits, password policy, host
//! patterns, one name on several hosts). For each, two alternating-users rotations, there and
//! back, and after each the clone's snapshot (`test_support::snapshot::mysql`) must equal the
//! original's. Where the admin cannot make an exact copy, setSecret refuses with a
//! `PermissionError` that names the statement giving the admin the missing right, and leaves no
//! alternate user behind.

use crate::common::*;
use mysql_async::prelude::Queryable;
use rotation_core::Strategy::AlternatingUsers;
use rotation_mysql::sql;
use serde_json::json;
use test_support::conformance::case::fails_at;
use test_support::mariadb::{MariaDb, Product};
use test_support::secrets::{Sm, rotate};
use test_support::snapshot::mysql::{Snapshot, snapshot};
use test_support::unique;

/// An account of the catalogue: its user, host part and password, with what the DBA ran.
struct Shape {
    db: MariaDb,
    sm: Sm,
    user: String,
    host: String,
    arn: String,
}

/// `{account}` in a statement stands for the shape's account, `{p}` for a prefix unique to the
/// test (for the roles, tables and other users it makes).
fn fill(statement: &str, account: &str, p: &str) -> String {
    statement.replace("{account}", account).replace("{p}", p)
}

impl Shape {
    /// Create `user`@`host` with a password, run the DBA's `statements` as the admin, and store
    /// its secret with the admin in `masterarn`.
    async fn new(prefix: &str, host: &str, statements: &[&str]) -> Shape {
        Shape::on(db(), prefix, host, statements).await
    }

    /// As [`Shape::new`], on a server of the test's own.
    async fn on(db: MariaDb, prefix: &str, host: &str, statements: &[&str]) -> Shape {
        let sm = Sm::from_env();
        let user = unique(prefix);
        let password = unique("Pw-");
        create_user(&db, &user, host, &password, &[], false).await;
        let account = sql::account(&user, host, false);
        let statements: Vec<String> = statements
            .iter()
            .map(|s| fill(s, &account, &user))
            .collect();
        admin_exec(&db, &statements).await;
        let master = sm
            .create(
                "rds!db-",
                &json!({"username": db.admin_user, "password": db.admin_password}),
            )
            .await;
        let mut value = secret(db.port, &user, &password);
        value["masterarn"] = json!(master);
        let arn = sm.create("mysql-shape-", &value).await;
        Shape {
            db,
            sm,
            user,
            host: host.to_owned(),
            arn,
        }
    }

    fn clone_name(&self) -> String {
        format!("{}_clone", self.user)
    }

    async fn snapshot_of(&self, user: &str) -> Snapshot {
        let mut c = admin(&self.db).await;
        let s = snapshot(&mut c, user, &self.host).await;
        let _ = c.disconnect().await;
        s
    }

    /// Two rotations, to the clone and back; after each, the two accounts' snapshots are equal
    /// and AWSCURRENT logs in. Returns the original's snapshot.
    async fn rotates_there_and_back(&self) -> Snapshot {
        let original = self.snapshot_of(&self.user).await;
        let r = rotator(&self.sm, AlternatingUsers, &[]);
        for (n, now) in [(1, self.clone_name()), (2, self.user.clone())] {
            let token = self.sm.start_rotation(&self.arn).await;
            rotate(&r, &self.arn, &token)
                .await
                .unwrap_or_else(|e| panic!("rotation {n}: {e}"));
            let current = self.sm.value(&self.arn, "AWSCURRENT", None).await;
            assert_eq!(
                current.expect("AWSCURRENT")["username"],
                json!(now),
                "rotation {n} moves to the other user"
            );
            for (who, user) in [
                ("the clone", self.clone_name()),
                ("the original", self.user.clone()),
            ] {
                let now = self.snapshot_of(&user).await;
                assert!(
                    now == original,
                    "rotation {n}: {who} differs from the original as it was: {:#?}",
                    original.differences(&now)
                );
            }
        }
        original
    }

    /// Run a query that returns one number as AWSCURRENT's user, whoever it is now: what the
    /// application sees. The server's refusal comes back as its message.
    async fn current_query(&self, statement: &str) -> Result<Option<i64>, String> {
        let mut c = self.current_session().await;
        let result = c.query_first(statement).await.map_err(|e| e.to_string());
        let _ = c.disconnect().await;
        result
    }

    /// A session as AWSCURRENT's user, whoever it is now.
    async fn current_session(&self) -> mysql_async::Conn {
        let current = self
            .sm
            .value(&self.arn, "AWSCURRENT", None)
            .await
            .expect("AWSCURRENT");
        connect(
            self.db.port,
            current["username"].as_str().expect("username"),
            current["password"].as_str().expect("password"),
        )
        .await
        .expect("AWSCURRENT logs in")
    }
}

/// How a DBA gives `{account}` the default role `` `{p}_<role>` ``: MariaDB's `SET DEFAULT ROLE
/// … FOR`, MySQL 8's `ALTER USER … DEFAULT ROLE`.
fn set_default_role(role: &str) -> String {
    match db().product {
        Product::MariaDb => format!("SET DEFAULT ROLE `{{p}}_{role}` FOR {{account}}"),
        Product::MySql => format!("ALTER USER {{account}} DEFAULT ROLE `{{p}}_{role}`"),
    }
}

/// Whether a snapshot has a default role: MariaDB's `SET DEFAULT ROLE` grant line, or MySQL's
/// `mysql.default_roles` rows.
fn has_default_role(s: &Snapshot) -> bool {
    !s.default_roles.is_empty() || s.grants.iter().any(|g| g.starts_with("SET DEFAULT ROLE"))
}

#[tokio::test]
async fn privileges_only_through_a_default_role() {
    let default = set_default_role("reader");
    let shape = Shape::new(
        "dr",
        "%",
        &[
            "CREATE TABLE appdb.`{p}_t` (a INT)",
            "CREATE ROLE `{p}_reader`",
            "GRANT SELECT ON appdb.`{p}_t` TO `{p}_reader`",
            "GRANT `{p}_reader` TO {account}",
            &default,
        ],
    )
    .await;
    let original = shape.rotates_there_and_back().await;
    assert!(
        has_default_role(&original),
        "the shape has a default role: {original:?}"
    );
    // What the application sees: the table through the role, without SET ROLE.
    let n = shape
        .current_query(&format!("SELECT COUNT(*) FROM appdb.`{}_t`", shape.user))
        .await;
    assert_eq!(n, Ok(Some(0)), "the default role is active at login");
}

#[tokio::test]
async fn two_roles_one_of_them_default() {
    let default = set_default_role("reader");
    let shape = Shape::new(
        "tr",
        "%",
        &[
            "CREATE ROLE `{p}_reader`",
            "CREATE ROLE `{p}_writer`",
            "GRANT SELECT ON appdb.* TO `{p}_reader`",
            "GRANT INSERT, UPDATE ON appdb.* TO `{p}_writer`",
            "GRANT `{p}_reader` TO {account}",
            "GRANT `{p}_writer` TO {account} WITH ADMIN OPTION",
            &default,
        ],
    )
    .await;
    let original = shape.rotates_there_and_back().await;
    assert!(
        original
            .grants
            .iter()
            .any(|g| g.contains("_writer`") && g.ends_with("WITH ADMIN OPTION")),
        "{original:?}"
    );
}

#[tokio::test]
async fn column_level_privileges() {
    let shape = Shape::new(
        "col",
        "%",
        &[
            "CREATE TABLE appdb.`{p}_t` (a INT, b INT, secret_c INT)",
            "GRANT SELECT (a, b), UPDATE (b), INSERT (a) ON appdb.`{p}_t` TO {account}",
        ],
    )
    .await;
    let original = shape.rotates_there_and_back().await;
    assert!(
        original.grants.iter().any(|g| g.contains("UPDATE (`b`)")),
        "{original:?}"
    );
    let table = format!("appdb.`{}_t`", shape.user);
    let granted = shape
        .current_query(&format!("SELECT COUNT(a + b) FROM {table}"))
        .await;
    assert_eq!(granted, Ok(Some(0)), "granted columns");
    let closed = shape
        .current_query(&format!("SELECT COUNT(secret_c) FROM {table}"))
        .await;
    assert!(
        closed.is_err(),
        "a column never granted stays closed: {closed:?}"
    );
}

#[tokio::test]
async fn routine_privileges() {
    let shape = Shape::new(
        "rt",
        "%",
        &[
            "CREATE PROCEDURE appdb.`{p}_proc`() SELECT 1",
            "CREATE FUNCTION appdb.`{p}_fn`() RETURNS INT DETERMINISTIC RETURN 7",
            "GRANT EXECUTE ON PROCEDURE appdb.`{p}_proc` TO {account}",
            "GRANT EXECUTE, ALTER ROUTINE ON FUNCTION appdb.`{p}_fn` TO {account} WITH GRANT OPTION",
        ],
    )
    .await;
    let original = shape.rotates_there_and_back().await;
    assert!(
        original
            .grants
            .iter()
            .any(|g| g.contains("ON FUNCTION") && g.contains("WITH GRANT OPTION")),
        "{original:?}"
    );
    let v = shape
        .current_query(&format!("SELECT appdb.`{}_fn`()", shape.user))
        .await;
    assert_eq!(v, Ok(Some(7)), "EXECUTE on the function");
}

#[tokio::test]
async fn resource_limits_and_password_policy() {
    // Limits high enough for the rotation's own sessions and queries. MariaDB has its
    // statement time limit; MySQL 8 its password history and reuse, PASSWORD REQUIRE CURRENT,
    // and the lock after failed logins.
    let product = db().product;
    let options = match product {
        Product::MariaDb => "MAX_STATEMENT_TIME 30",
        Product::MySql => "",
    };
    let limits = format!(
        "ALTER USER {{account}} WITH MAX_QUERIES_PER_HOUR 50000 MAX_UPDATES_PER_HOUR 4000 MAX_CONNECTIONS_PER_HOUR 3000 MAX_USER_CONNECTIONS 25 {options}"
    );
    let mut statements = vec![
        "GRANT SELECT ON appdb.* TO {account}",
        &limits,
        "ALTER USER {account} PASSWORD EXPIRE INTERVAL 90 DAY",
    ];
    if product == Product::MySql {
        statements.push("ALTER USER {account} PASSWORD HISTORY 3 PASSWORD REUSE INTERVAL 10 DAY PASSWORD REQUIRE CURRENT");
        statements.push("ALTER USER {account} FAILED_LOGIN_ATTEMPTS 40 PASSWORD_LOCK_TIME 2");
    }
    let shape = Shape::new("lim", "%", &statements).await;
    let original = shape.rotates_there_and_back().await;
    let lifetime = match product {
        Product::MariaDb => "priv.password_lifetime",
        Product::MySql => "password_lifetime",
    };
    let mut expected = vec![
        ("max_questions", "50000"),
        ("max_updates", "4000"),
        ("max_connections", "3000"),
        ("max_user_connections", "25"),
        (lifetime, "90"),
    ];
    if product == Product::MySql {
        expected.extend([
            ("password_reuse_history", "3"),
            ("password_reuse_time", "10"),
            ("password_require_current", "Y"),
        ]);
    }
    for (column, value) in expected {
        assert_eq!(
            original.user_row.get(column).map(String::as_str),
            Some(value),
            "the shape has {column} {value}: {original:?}"
        );
    }
    match product {
        Product::MariaDb => assert!(
            original.user_row["max_statement_time"].starts_with("30"),
            "{original:?}"
        ),
        Product::MySql => assert!(
            original.user_row["user_attributes"].contains("\"failed_login_attempts\": 40"),
            "the lock options are in the snapshot: {original:?}"
        ),
    }
}

/// Global privileges beside database ones; on MySQL 8 dynamic privileges too, and (on a server
/// started with `partial_revokes`) a partial revoke of a global privilege on one schema.
#[tokio::test]
async fn global_dynamic_privileges_and_partial_revokes() {
    let product = db().product;
    let (db, statements): (MariaDb, &[&str]) = match product {
        Product::MariaDb => (
            db(),
            &[
                "GRANT PROCESS, SELECT ON *.* TO {account}",
                "GRANT INSERT ON appdb.* TO {account}",
            ],
        ),
        Product::MySql => (
            MariaDb::start_with(test_support::mariadb::Options {
                args: &["--partial-revokes=ON"],
                ..Default::default()
            })
            .expect("a MySQL with partial revokes"),
            &[
                "GRANT PROCESS, SELECT ON *.* TO {account}",
                "GRANT BACKUP_ADMIN, XA_RECOVER_ADMIN ON *.* TO {account}",
                "REVOKE SELECT ON mysql.* FROM {account}",
            ],
        ),
    };
    let shape = Shape::on(db, "gp", "%", statements).await;
    let original = shape.rotates_there_and_back().await;
    if product == Product::MySql {
        for words in ["BACKUP_ADMIN", "REVOKE SELECT ON `mysql`.*"] {
            assert!(
                original.grants.iter().any(|g| g.contains(words)),
                "the shape has {words}: {original:?}"
            );
        }
        let closed = shape.current_query("SELECT COUNT(*) FROM mysql.user").await;
        assert!(
            closed.is_err(),
            "the partial revoke holds for the copy: {closed:?}"
        );
    }
    let open = shape
        .current_query("SELECT COUNT(*) FROM information_schema.processlist")
        .await;
    assert!(
        open.is_ok(),
        "the global privilege holds for the copy: {open:?}"
    );
}

#[tokio::test]
async fn a_host_pattern() {
    // A pattern such as '10.0.%', made to match the tests' own address.
    let shape = Shape::new(
        "hp",
        "127.0.0.%",
        &["GRANT SELECT, INSERT ON appdb.* TO {account}"],
    )
    .await;
    shape.rotates_there_and_back().await;
    assert!(
        !user_exists_at(&shape.db, &shape.clone_name(), "%").await,
        "the clone is made at the original's host part only"
    );
}

#[tokio::test]
async fn one_name_on_several_hosts_copies_the_account_the_credentials_log_in_as() {
    // 'u'@'127.0.0.1' (what a login from here is) and 'u'@'%' (everyone else), with different
    // grants. The clone copies the one CURRENT_USER() names for the function's login.
    let shape = Shape::new(
        "mh",
        "127.0.0.1",
        &[
            "GRANT SELECT ON appdb.* TO {account}",
            "CREATE USER '{p}'@'%' IDENTIFIED BY 'Other-host-pw-1'",
            "GRANT SELECT, INSERT, DELETE ON appdb.* TO '{p}'@'%'",
        ],
    )
    .await;
    let elsewhere = {
        let mut c = admin(&shape.db).await;
        let s = snapshot(&mut c, &shape.user, "%").await;
        let _ = c.disconnect().await;
        s
    };
    let original = shape.rotates_there_and_back().await;
    assert_ne!(elsewhere.grants, original.grants, "the two accounts differ");
    assert!(
        !user_exists_at(&shape.db, &shape.clone_name(), "%").await,
        "the account at '%' is not copied"
    );
}

#[tokio::test]
async fn a_proxy_grant_is_copied_when_the_admin_may_pass_it_on() {
    // The proxied user grants PROXY on itself, to the account and (to pass on) to the admin.
    let shape = Shape::new(
        "px",
        "%",
        &["CREATE USER '{p}_target'@'%' IDENTIFIED BY 'Proxied-pw-1'"],
    )
    .await;
    let target = format!("{}_target", shape.user);
    let account = sql::account(&shape.user, "%", false);
    let admin_account = sql::account(&shape.db.admin_user, "%", false);
    grant_proxy(&shape, &target, &account).await;
    if shape.db.product == Product::MariaDb {
        // MySQL's admin may pass every PROXY on, as MySQL's root may.
        grant_proxy(
            &shape,
            &target,
            &format!("{admin_account} WITH GRANT OPTION"),
        )
        .await;
    }
    let original = shape.rotates_there_and_back().await;
    assert!(
        original.grants.iter().any(|g| g.starts_with("GRANT PROXY")),
        "{original:?}"
    );
}

#[tokio::test]
async fn a_grant_the_admin_may_not_pass_on_is_refused_and_leaves_no_alternate_user() {
    // The proxied user gives the account PROXY on itself, but not the admin the right to pass
    // it on: the admin can make every other grant but not this one.
    let shape = Shape::new(
        "pr",
        "%",
        &[
            "GRANT SELECT ON appdb.* TO {account}",
            "CREATE USER '{p}_target'@'%' IDENTIFIED BY 'Proxied-pw-1'",
        ],
    )
    .await;
    let target = format!("{}_target", shape.user);
    grant_proxy(&shape, &target, &sql::account(&shape.user, "%", false)).await;
    // The admin may pass on everything but PROXY (the test's admin may pass PROXY on, as
    // MySQL's root may; MariaDB's ALL has no PROXY).
    let weak = unique("weak");
    create_user(
        &shape.db,
        &weak,
        "%",
        "Weak-admin-pw-1",
        &["ALL ON *.*"],
        true,
    )
    .await;
    let mut value = shape
        .sm
        .value(&shape.arn, "AWSCURRENT", None)
        .await
        .expect("secret");
    let weak_admin = json!({"username": weak, "password": "Weak-admin-pw-1"});
    value["masterarn"] = json!(shape.sm.create("rds!db-", &weak_admin).await);
    let arn = shape.sm.create("mysql-shape-", &value).await;

    let r = rotator(&shape.sm, AlternatingUsers, &[]);
    let (_, err) = fails_at(&r, &shape.sm, &arn, "setSecret").await;
    let msg = err.to_string();
    assert_eq!(err.kind(), "PermissionError", "{msg}");
    assert!(
        msg.contains(&format!(
            "GRANT PROXY ON `{target}`@`%` TO '{weak}'@'%' WITH GRANT OPTION"
        )),
        "names the statement that gives the admin the right: {msg}"
    );
    assert!(
        !user_exists(&shape.db, &shape.clone_name()).await,
        "no half-made alternate user is left"
    );
    login(
        shape.db.port,
        &shape.user,
        &password_at(&shape.sm, &shape.arn, "AWSCURRENT").await,
    )
    .await
    .expect("the original keeps working");
}

/// Give `to` PROXY on `target`@`%`: as the proxied user itself on MariaDB (a user may grant
/// PROXY on itself there), as the admin on MySQL (whose admin may pass every PROXY on).
async fn grant_proxy(shape: &Shape, target: &str, to: &str) {
    let statement = format!("GRANT PROXY ON '{target}'@'%' TO {to}");
    match shape.db.product {
        Product::MariaDb => {
            let mut c = connect(shape.db.port, target, "Proxied-pw-1")
                .await
                .expect("proxied user");
            c.query_drop(&statement)
                .await
                .unwrap_or_else(|e| panic!("{statement}: {e}"));
            let _ = c.disconnect().await;
        }
        Product::MySql => admin_exec(&shape.db, &[statement]).await,
    }
}

#[tokio::test]
async fn an_account_that_requires_a_client_certificate_is_refused_before_anything_changes() {
    // REQUIRE X509 / SUBJECT: the function has no client certificate, so AWSCURRENT cannot log
    // in from it, and the rotation stops before any change (createSecret already logs in as
    // AWSCURRENT, to read the server's user-name limit).
    for require in ["REQUIRE X509", "REQUIRE SUBJECT '/CN=app'"] {
        let shape = Shape::new(
            "x5",
            "%",
            &[
                "GRANT SELECT ON appdb.* TO {account}",
                &format!("ALTER USER {{account}} {require}"),
            ],
        )
        .await;
        let r = rotator(&shape.sm, AlternatingUsers, &[]);
        let (_, err) = fails_at(&r, &shape.sm, &shape.arn, "createSecret").await;
        assert_eq!(err.kind(), "AuthenticationError", "{require}: {err}");
        assert!(
            !user_exists(&shape.db, &shape.clone_name()).await,
            "{require}: nothing created"
        );
    }
}

/// Whether `user`@`host` exists.
async fn user_exists_at(db: &MariaDb, user: &str, host: &str) -> bool {
    let mut c = admin(db).await;
    let n: Option<i64> = c
        .exec_first(
            "SELECT COUNT(*) FROM mysql.user WHERE User = ? AND Host = ?",
            (user, host),
        )
        .await
        .expect("count users");
    let _ = c.disconnect().await;
    n.unwrap_or(0) > 0
}
