//! The shipped `bootstrap` binaries, run through a Lambda Runtime API exactly as Lambda runs
//! them: full rotations, a crash and retry in a fresh process, no secret in their output or in
//! the server's general log, clones that stay exact whatever the server's `sql_mode`, and
//! account errors that say what to check.

use crate::common::*;
use rotation_mysql::sql;
use serde_json::{Value, json};
use test_support::function_binary;
use test_support::lambda::Function;
use test_support::mariadb::MariaDb;
use test_support::secrets::Sm;
use test_support::unique;

fn assert_no_secret(output: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(
            !output.contains(s),
            "a password appears in the function's output:\n{output}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn single_user_binary_rotates_and_prints_no_secret() {
    let db = db();
    let sm = Sm::from_env();
    let user = unique("bin");
    let old = unique("Old-pw-");
    create_user(&db, &user, "%", &old, &[], false).await;
    let arn = sm.create("mysql-bin-", &secret(db.port, &user, &old)).await;
    let f = Function::spawn(
        &function_binary("mysql-single-user"),
        &sm.url,
        &[("LOG_LEVEL", "debug")],
    );
    let token = sm.start_rotation(&arn).await;
    tokio::task::block_in_place(|| f.rotate(&arn, &token));
    let new = password_at(&sm, &arn, "AWSCURRENT").await;
    login(db.port, &user, &new).await.expect("new password");

    // A failing step: the same process keeps serving and says why.
    let token2 = sm.start_rotation(&arn).await;
    tokio::task::block_in_place(|| f.invoke(&arn, &token2, "createSecret").expect_ok("create"));
    let mut pending = sm
        .value(&arn, "AWSPENDING", Some(&token2))
        .await
        .expect("pending");
    let third = pending["password"].as_str().expect("pw").to_owned();
    pending["username"] = json!("root");
    sm.tamper_pending(&arn, &token2, &pending).await;
    let (kind, message) =
        tokio::task::block_in_place(|| f.invoke(&arn, &token2, "setSecret")).expect_err("tampered");
    assert_eq!(kind, "ConfusedDeputy", "{message}");

    let output = f.output();
    assert_no_secret(&output, &[&old, &new, &third]);
    // Logs are JSON lines that name the secret, the step and the duration.
    let lines: Vec<Value> = output
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(!lines.is_empty(), "the function logs JSON:\n{output}");
    let finished = lines
        .iter()
        .find(|l| l["message"] == "step finished" && l["span"]["step"] == "finishSecret")
        .unwrap_or_else(|| panic!("a 'step finished' line for finishSecret:\n{output}"));
    assert_eq!(finished["span"]["secret_arn"], arn.as_str());
    assert_eq!(finished["span"]["token"], token.as_str());
    assert_eq!(finished["span"]["strategy"], "single-user");
    assert!(finished["duration_ms"].is_number());
    assert!(
        output.contains("offers no TLS"),
        "the plaintext fallback is logged:\n{output}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn alternating_binary_rotates_and_prints_no_secret() {
    let db = db();
    let sm = Sm::from_env();
    let user = unique("binalt");
    let pw = unique("Pw-");
    create_user(&db, &user, "%", &pw, &["SELECT ON appdb.*"], false).await;
    let master = master_secret(&sm, &db).await;
    let mut value = secret(db.port, &user, &pw);
    value["masterarn"] = json!(master);
    let arn = sm.create("mysql-binalt-", &value).await;
    let f = Function::spawn(&function_binary("mysql-alternating-users"), &sm.url, &[]);
    let mut seen = vec![pw.clone(), db.admin_password.clone()];
    for _ in 0..2 {
        let token = sm.start_rotation(&arn).await;
        tokio::task::block_in_place(|| f.rotate(&arn, &token));
        seen.push(password_at(&sm, &arn, "AWSCURRENT").await);
    }
    let cur = sm.value(&arn, "AWSCURRENT", None).await.expect("current");
    assert_eq!(
        cur["username"],
        user.as_str(),
        "back to the original after two rotations"
    );
    login(db.port, &user, cur["password"].as_str().expect("pw"))
        .await
        .expect("logs in");
    let refs: Vec<&str> = seen.iter().map(String::as_str).collect();
    assert_no_secret(&f.output(), &refs);
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_after_set_secret_and_retried_in_a_fresh_process() {
    let db = db();
    let sm = Sm::from_env();
    let user = unique("kill");
    let old = unique("Pw-");
    create_user(&db, &user, "%", &old, &[], false).await;
    let arn = sm
        .create("mysql-kill-", &secret(db.port, &user, &old))
        .await;
    let binary = function_binary("mysql-single-user");
    let token = sm.start_rotation(&arn).await;

    let mut first = Function::spawn(&binary, &sm.url, &[]);
    tokio::task::block_in_place(|| {
        first
            .invoke(&arn, &token, "createSecret")
            .expect_ok("create");
        first.invoke(&arn, &token, "setSecret").expect_ok("set");
    });
    first.kill();
    assert!(!first.running());
    // The database has the new password, AWSCURRENT still the old one: the state a crash
    // or timeout between steps leaves.
    let pending = sm
        .value(&arn, "AWSPENDING", Some(&token))
        .await
        .expect("pending");
    let new = pending["password"].as_str().expect("pw").to_owned();
    login(db.port, &user, &new).await.expect("set happened");

    let second = Function::spawn(&binary, &sm.url, &[]);
    tokio::task::block_in_place(|| {
        for s in ["setSecret", "testSecret", "finishSecret"] {
            second.invoke(&arn, &token, s).expect_ok(s);
        }
    });
    assert_eq!(password_at(&sm, &arn, "AWSCURRENT").await, new);
    login(db.port, &user, &new)
        .await
        .expect("new password works");
    assert_no_secret(&second.output(), &[&old, &new]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotation_makes_only_the_secrets_manager_calls_it_needs() {
    let db = db();
    let sm = Sm::from_env();
    let proxy = test_support::proxy::CountingProxy::start(&sm.url);
    let master = master_secret(&sm, &db).await;
    // Per step: DescribeSecret, then what it reads and writes. A `masterarn` costs one read at
    // createSecret and one at setSecret (the check that the admin is not the rotated user),
    // and testSecret reads AWSCURRENT to compare it with AWSPENDING.
    for (function, with_master, budget) in [
        ("mysql-single-user", false, 13),
        ("mysql-single-user", true, 15),
        ("mysql-alternating-users", true, 15),
    ] {
        let user = unique("calls");
        let pw = unique("Pw-");
        create_user(&db, &user, "%", &pw, &[], false).await;
        let mut value = secret(db.port, &user, &pw);
        if with_master {
            value["masterarn"] = json!(master);
        }
        let arn = sm.create("mysql-calls-", &value).await;
        let f = Function::spawn(&function_binary(function), &proxy.url, &[]);
        let token = sm.start_rotation(&arn).await;
        proxy.reset();
        tokio::task::block_in_place(|| f.rotate(&arn, &token));
        let counts = proxy.counts();
        let total: usize = counts.values().sum();
        assert!(
            total <= budget,
            "{function}: {total} calls, budget {budget}: {counts:?}"
        );
        assert_eq!(
            counts.get("DescribeSecret"),
            Some(&4),
            "{function}: one per step: {counts:?}"
        );
    }
}

/// Log in as `user` to database `db` on 127.0.0.1:`port` and read `db`.canary's row.
async fn read_canary(port: u16, user: &str, password: &str, db: &str) -> Result<String, String> {
    use mysql_async::prelude::Queryable;
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(port)
        .user(Some(user))
        .pass(Some(password))
        .db_name(Some(db))
        .prefer_socket(false);
    let mut c = mysql_async::Conn::new(opts)
        .await
        .map_err(|e| e.to_string())?;
    let v: Option<String> = c
        .query_first("SELECT v FROM canary")
        .await
        .map_err(|e| e.to_string())?;
    let _ = c.disconnect().await;
    v.ok_or_else(|| "the canary table is empty".into())
}

/// A server of the test's own, for settings that must not reach the tests sharing the
/// server `cargo xtask test` started (global `sql_mode`, the general log).
fn own_server() -> MariaDb {
    MariaDb::start(None).unwrap_or_else(|e| panic!("a MariaDB for this test: {e}"))
}

/// With `ANSI_QUOTES` in the server's global `sql_mode`, `SHOW GRANTS` spells accounts
/// `"u"@"%"`, and with `NO_BACKSLASH_ESCAPES` a backslash no longer escapes. The clone of a
/// user whose name has quotes and a backslash must still be an exact copy before it becomes
/// AWSCURRENT: here, it reads the table the original reads.
#[tokio::test(flavor = "multi_thread")]
async fn alternating_binary_copies_the_grants_whatever_the_servers_sql_mode() {
    let db = own_server();
    let sm = Sm::from_env();
    let user = format!("{}q'b\\s\"d", unique("ansi"));
    let pw = unique("Pw-");
    admin_exec(
        &db,
        &[
            "CREATE TABLE appdb.canary (v VARCHAR(20))".into(),
            "INSERT INTO appdb.canary VALUES ('tweet')".into(),
        ],
    )
    .await;
    create_user(&db, &user, "%", &pw, &["SELECT ON appdb.canary"], false).await;
    admin_exec(
        &db,
        &[
            "SET GLOBAL sql_mode = CONCAT(@@GLOBAL.sql_mode, ',ANSI_QUOTES,NO_BACKSLASH_ESCAPES')"
                .into(),
        ],
    )
    .await;
    assert_eq!(
        read_canary(db.port, &user, &pw, "appdb").await.as_deref(),
        Ok("tweet"),
        "the original reads the canary"
    );
    let master = master_secret(&sm, &db).await;
    let mut value = secret(db.port, &user, &pw);
    value["masterarn"] = json!(master);
    value["dbname"] = json!("appdb");
    let arn = sm.create("mysql-ansi-", &value).await;
    let f = Function::spawn(&function_binary("mysql-alternating-users"), &sm.url, &[]);
    let token = sm.start_rotation(&arn).await;
    tokio::task::block_in_place(|| f.rotate(&arn, &token));
    let current = sm.value(&arn, "AWSCURRENT", None).await.expect("current");
    let clone = format!("{user}_clone");
    assert_eq!(current["username"], clone.as_str());
    assert_eq!(
        read_canary(
            db.port,
            &clone,
            current["password"].as_str().expect("pw"),
            "appdb"
        )
        .await
        .as_deref(),
        Ok("tweet"),
        "the clone reads what the original reads"
    );
}

/// MariaDB's general log (and `SHOW PROCESSLIST`) show every statement as sent. Full
/// single-user and alternating-users rotations, the clone created once and then reset, must
/// send password hashes only.
#[tokio::test(flavor = "multi_thread")]
async fn no_password_reaches_the_general_log() {
    use mysql_async::prelude::Queryable;
    let db = own_server();
    let sm = Sm::from_env();
    let single = unique("logsu");
    let single_pw = unique("Pw-");
    create_user(&db, &single, "%", &single_pw, &[], false).await;
    let alt = unique("logalt");
    let alt_pw = unique("Pw-");
    create_user(&db, &alt, "%", &alt_pw, &["SELECT ON appdb.*"], false).await;
    let master = master_secret(&sm, &db).await;
    let single_arn = sm
        .create("mysql-log-", &secret(db.port, &single, &single_pw))
        .await;
    let mut value = secret(db.port, &alt, &alt_pw);
    value["masterarn"] = json!(master);
    let alt_arn = sm.create("mysql-log-alt-", &value).await;

    // Logging starts after the setup above, which sent its passwords in plaintext.
    let mut c = admin(&db).await;
    let datadir: Option<String> = c
        .query_first("SELECT @@GLOBAL.datadir")
        .await
        .expect("datadir");
    let log = std::path::Path::new(&datadir.expect("datadir")).join("general-rotation.log");
    for s in [
        "SET GLOBAL general_log_file = 'general-rotation.log'",
        "SET GLOBAL general_log = ON",
    ] {
        c.query_drop(s).await.unwrap_or_else(|e| panic!("{s}: {e}"));
    }

    let mut passwords = vec![single_pw, alt_pw, db.admin_password.clone()];
    for (function, arn, rotations) in [
        ("mysql-single-user", &single_arn, 2),
        ("mysql-alternating-users", &alt_arn, 2),
    ] {
        let f = Function::spawn(&function_binary(function), &sm.url, &[]);
        for _ in 0..rotations {
            let token = sm.start_rotation(arn).await;
            tokio::task::block_in_place(|| f.rotate(arn, &token));
            passwords.push(password_at(&sm, arn, "AWSCURRENT").await);
        }
    }
    c.query_drop("SET GLOBAL general_log = OFF")
        .await
        .expect("general log off");
    let _ = c.disconnect().await;

    let text = std::fs::read_to_string(&log)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", log.display()));
    // Not vacuous: the statements that set the passwords are in the log, each with the hash of
    // the password it set (new clone, reset user, the single user's own change).
    let has = |parts: &[&str]| text.lines().any(|l| parts.iter().all(|p| l.contains(p)));
    assert!(
        has(&["GRANT SELECT ON `appdb`.* TO"]),
        "the grants were copied:\n{text}"
    );
    let new_passwords = &passwords[3..];
    for (i, pw) in new_passwords.iter().enumerate() {
        let hash = sql::native_password_hash(pw);
        let statement = match i {
            0 | 1 => "SET PASSWORD = '",
            2 => "CREATE USER ",
            _ => "ALTER USER ",
        };
        assert!(
            has(&[statement, &hash]),
            "rotation #{i}: no {statement:?} with the new password's hash in the general log:\n{text}"
        );
    }
    for (i, pw) in passwords.iter().enumerate() {
        if let Some(line) = text.lines().find(|l| l.contains(pw.as_str())) {
            panic!(
                "password #{i} appears in the general log: {}",
                line.replace(pw.as_str(), "*****")
            );
        }
    }
}

/// ERROR 1396 ("Operation CREATE USER failed") is not a missing privilege: here privilege rows
/// of the clone's name remain in `mysql.db` without an account (a manual delete from
/// `mysql.user`). The error says what to check, and the advice works.
#[tokio::test(flavor = "multi_thread")]
async fn clone_name_left_in_the_grant_tables_is_a_database_error_that_says_what_to_do() {
    let db = db();
    let sm = Sm::from_env();
    let user = unique("left");
    let pw = unique("Pw-");
    create_user(&db, &user, "%", &pw, &["SELECT ON appdb.*"], false).await;
    let clone = format!("{user}_clone");
    admin_exec(
        &db,
        &[
            format!(
                "INSERT INTO mysql.db (Host, Db, User, Select_priv) VALUES ('%', 'appdb', {}, 'Y')",
                sql::literal(&clone, false)
            ),
            "FLUSH PRIVILEGES".into(),
        ],
    )
    .await;
    let master = master_secret(&sm, &db).await;
    let mut value = secret(db.port, &user, &pw);
    value["masterarn"] = json!(master);
    let arn = sm.create("mysql-left-", &value).await;
    let f = Function::spawn(&function_binary("mysql-alternating-users"), &sm.url, &[]);
    let token = sm.start_rotation(&arn).await;
    tokio::task::block_in_place(|| f.invoke(&arn, &token, "createSecret").expect_ok("create"));
    let (kind, message) =
        tokio::task::block_in_place(|| f.invoke(&arn, &token, "setSecret")).expect_err("1396");
    assert_eq!(kind, "DatabaseError", "{message}");
    assert!(message.contains("1396"), "{message}");
    assert!(message.contains("DROP USER"), "says what to do: {message}");
    assert!(
        !message.contains("lacks a privilege"),
        "not a privilege problem: {message}"
    );

    admin_exec(
        &db,
        &[format!("DROP USER {}", sql::account(&clone, "%", false))],
    )
    .await;
    tokio::task::block_in_place(|| {
        for s in ["setSecret", "testSecret", "finishSecret"] {
            f.invoke(&arn, &token, s).expect_ok(s);
        }
    });
    login(db.port, &clone, &password_at(&sm, &arn, "AWSCURRENT").await)
        .await
        .expect("the clone logs in after the advice was followed");
}
