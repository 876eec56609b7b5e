//! Helpers: connections as admin and as any user, users to rotate, secrets, rotators.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};
use rotation_core::Strategy;
use rotation_core::protocol::Rotator;
use rotation_mysql::{MySql, sql};
use serde_json::{Value, json};
use test_support::mariadb::MariaDb;
use test_support::secrets::Sm;

/// The shared server.
pub fn db() -> MariaDb {
    MariaDb::from_env()
}

/// A connection as `user` to 127.0.0.1:`port`.
pub async fn connect(port: u16, user: &str, password: &str) -> Result<Conn, String> {
    let opts = OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(port)
        .user(Some(user))
        .pass(Some(password))
        .prefer_socket(false);
    Conn::new(opts).await.map_err(|e| e.to_string())
}

/// Log in as `user` on 127.0.0.1:`port` and run a query.
pub async fn login(port: u16, user: &str, password: &str) -> Result<(), String> {
    let mut c = connect(port, user, password).await?;
    c.query_drop("SELECT 1").await.map_err(|e| e.to_string())?;
    let _ = c.disconnect().await;
    Ok(())
}

/// An admin connection.
pub async fn admin(db: &MariaDb) -> Conn {
    connect(db.port, &db.admin_user, &db.admin_password)
        .await
        .unwrap_or_else(|e| panic!("admin connection: {e}"))
}

/// Run statements as admin.
pub async fn admin_exec(db: &MariaDb, statements: &[String]) {
    let mut c = admin(db).await;
    for s in statements {
        c.query_drop(s).await.unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    let _ = c.disconnect().await;
}

/// Create `user`@`host` with `password` and `grants` (each a privilege list and object, e.g.
/// "SELECT, INSERT ON appdb.*"), optionally `WITH GRANT OPTION`.
pub async fn create_user(
    db: &MariaDb,
    user: &str,
    host: &str,
    password: &str,
    grants: &[&str],
    grant_option: bool,
) {
    let account = sql::account(user, host, false);
    let mut statements = vec![format!(
        "CREATE USER {account} IDENTIFIED BY {}",
        sql::literal(password, false)
    )];
    for g in grants {
        let suffix = if grant_option {
            " WITH GRANT OPTION"
        } else {
            ""
        };
        statements.push(format!("GRANT {g} TO {account}{suffix}"));
    }
    admin_exec(db, &statements).await;
}

/// A fresh user at host `%` with a fresh password and `grants`; returns both.
pub async fn new_user(db: &MariaDb, prefix: &str, grants: &[&str]) -> (String, String) {
    let user = test_support::unique(prefix);
    let password = test_support::unique("Pw-");
    create_user(db, &user, "%", &password, grants, false).await;
    (user, password)
}

/// `SHOW GRANTS` of an account, with the account spelled `X` and password clauses removed,
/// so that two accounts' grants can be compared.
pub async fn grants_of(db: &MariaDb, user: &str, host: &str) -> Vec<String> {
    let mut c = admin(db).await;
    let account = sql::account(user, host, false);
    let rows: Vec<String> = c
        .query(format!("SHOW GRANTS FOR {account}"))
        .await
        .unwrap_or_else(|e| panic!("SHOW GRANTS FOR {account}: {e}"));
    let _ = c.disconnect().await;
    let mut out: Vec<String> = rows
        .iter()
        .map(|r| sql::rewrite_grant(r, user, host, "X").unwrap_or_else(|| r.clone()))
        .collect();
    out.sort();
    out
}

/// `SHOW CREATE USER`, for the REQUIRE clause.
pub async fn create_user_line(db: &MariaDb, user: &str, host: &str) -> String {
    let mut c = admin(db).await;
    let line: Option<String> = c
        .query_first(format!(
            "SHOW CREATE USER {}",
            sql::account(user, host, false)
        ))
        .await
        .expect("SHOW CREATE USER");
    let _ = c.disconnect().await;
    line.unwrap_or_default()
}

/// Whether an account exists.
pub async fn user_exists(db: &MariaDb, user: &str) -> bool {
    let mut c = admin(db).await;
    let n: Option<i64> = c
        .exec_first("SELECT COUNT(*) FROM mysql.user WHERE User = ?", (user,))
        .await
        .expect("count users");
    let _ = c.disconnect().await;
    n.unwrap_or(0) > 0
}

/// A secret in the templates' format.
pub fn secret(port: u16, user: &str, password: &str) -> Value {
    json!({
        "engine": "mysql",
        "host": "127.0.0.1",
        "port": port,
        "username": user,
        "password": password,
        "note": {"kept": ["as", "is"]},
    })
}

/// The admin secret in the templates' format.
pub fn admin_secret(db: &MariaDb) -> Value {
    json!({"engine": "mariadb", "host": "127.0.0.1", "port": db.port, "username": db.admin_user, "password": db.admin_password})
}

/// The admin secret, stored in the emulator; returns its ARN.
pub async fn master_secret(sm: &Sm, db: &MariaDb) -> String {
    sm.create("master-", &admin_secret(db)).await
}

/// The secret of `user`@`%` naming the admin in `masterarn` (both stored); returns its ARN.
pub async fn secret_with_admin(sm: &Sm, db: &MariaDb, user: &str, password: &str) -> String {
    let mut value = secret(db.port, user, password);
    value["masterarn"] = json!(master_secret(sm, db).await);
    sm.create("mysql-", &value).await
}

/// Create `user`@`%` with `password` and no grants, and its secret naming the admin; returns
/// the secret's ARN.
pub async fn user_and_secret_with_admin(
    sm: &Sm,
    db: &MariaDb,
    user: &str,
    password: &str,
) -> String {
    create_user(db, user, "%", password, &[], false).await;
    secret_with_admin(sm, db, user, password).await
}

/// setSecret, testSecret and finishSecret in-process: the retry of a rotation whose setSecret
/// failed or was cut short.
pub async fn finish_from_set(r: &Rotator<MySql>, arn: &str, token: &str) {
    for s in ["setSecret", "testSecret", "finishSecret"] {
        test_support::secrets::step(r, arn, token, s)
            .await
            .unwrap_or_else(|e| panic!("{s}: {e}"));
    }
}

/// An in-process rotator for the strategy, with environment `vars`.
pub fn rotator(sm: &Sm, strategy: Strategy, vars: &[(&str, &str)]) -> Rotator<MySql> {
    let limit = vars
        .iter()
        .find(|(k, _)| *k == "USERNAME_CHARACTER_LIMIT")
        .map(|(_, v)| (*v).to_owned());
    let previous = vars
        .iter()
        .find(|(k, _)| *k == "PREVIOUS_PASSWORD")
        .map(|(_, v)| *v);
    let previous = rotation_core::config::PreviousPassword::parse(previous).expect("policy");
    sm.rotator(strategy, vars, |tls| {
        MySql::new(tls, limit.as_deref())
            .expect("engine")
            .with_previous(previous)
    })
}

/// The password of the version carrying `stage`.
pub async fn password_at(sm: &Sm, arn: &str, stage: &str) -> String {
    sm.value(arn, stage, None).await.expect("version")["password"]
        .as_str()
        .expect("password")
        .to_owned()
}
