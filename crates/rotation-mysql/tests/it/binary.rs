//! The shipped `bootstrap` binaries, run through a Lambda Runtime API exactly as Lambda runs
//! them, in what only MySQL has: no password in the server's general log, clones that stay
//! exact whatever the server's `sql_mode`, and ERROR 1396 explained. Rotations, kills and the
//! call budget through the binaries are in the conformance suite.

use crate::common::*;
use rotation_mysql::{facts, sql};
use serde_json::json;
use test_support::function_binary;
use test_support::lambda::Function;
use test_support::mariadb::{MariaDb, Product};
use test_support::secrets::Sm;
use test_support::unique;

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
    let f = Function::spawn(&function_binary(facts::ALTERNATING_USERS), &sm.url, &[]);
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

/// The general log (and `SHOW PROCESSLIST`) show every statement as sent (MySQL with
/// `--log-raw`). Full single-user and alternating-users rotations, the clone created once and
/// then reset, must send password hashes only: `mysql_native_password` hashes on MariaDB, and
/// on MySQL the `caching_sha2_password` form the function computes, for a single user that may
/// set a hash (CREATE USER) as for the admin. The server stores exactly the hash it was sent.
#[tokio::test(flavor = "multi_thread")]
async fn no_password_reaches_the_general_log() {
    use mysql_async::prelude::Queryable;
    let db = MariaDb::start_with(test_support::mariadb::Options {
        raw_log: true,
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("a server for this test: {e}"));
    let mysql = db.product == Product::MySql;
    let sm = Sm::from_env();
    // On MySQL a user may set its own password's hash only with CREATE USER.
    let single_grants: &[&str] = if mysql { &["CREATE USER ON *.*"] } else { &[] };
    let (single, single_pw) = new_user(&db, "logsu", single_grants).await;
    let (alt, alt_pw) = new_user(&db, "logalt", &["SELECT ON appdb.*"]).await;
    let single_arn = sm
        .create("mysql-log-", &secret(db.port, &single, &single_pw))
        .await;
    let alt_arn = secret_with_admin(&sm, &db, &alt, &alt_pw).await;

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
    let mut rotated = Vec::new();
    for (function, arn, rotations) in [
        (facts::SINGLE_USER, &single_arn, 2),
        (facts::ALTERNATING_USERS, &alt_arn, 2),
    ] {
        let f = Function::spawn(&function_binary(function), &sm.url, &[]);
        for _ in 0..rotations {
            let token = sm.start_rotation(arn).await;
            tokio::task::block_in_place(|| f.rotate(arn, &token));
            let current = sm.value(arn, "AWSCURRENT", None).await.expect("current");
            passwords.push(current["password"].as_str().expect("pw").to_owned());
            rotated.push(current["username"].as_str().expect("user").to_owned());
        }
    }
    c.query_drop("SET GLOBAL general_log = OFF")
        .await
        .expect("general log off");

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
        let statement = match (mysql, i) {
            (false, 0 | 1) => "SET PASSWORD = '",
            (true, 0 | 1) => "ALTER USER CURRENT_USER() IDENTIFIED WITH",
            (_, 2) => "CREATE USER ",
            _ => "ALTER USER ",
        };
        let hash = if mysql {
            sent_caching_sha2_hash(&text, statement, pw)
        } else {
            Some(sql::native_password_hash(pw)).filter(|h| has(&[statement, h]))
        };
        let hash = hash.unwrap_or_else(|| {
            panic!("rotation #{i}: no {statement:?} with the new password's hash in the general log:\n{text}")
        });
        // The server keeps exactly the hash it was sent.
        if mysql && i % 2 == 1 {
            let stored: Option<Vec<u8>> = c
                .exec_first(
                    "SELECT authentication_string FROM mysql.user WHERE User = ?",
                    (&rotated[i],),
                )
                .await
                .expect("stored hash");
            let stored = stored.expect("the account exists");
            assert_eq!(
                rotation_mysql::caching_sha2::hex_literal(&String::from_utf8_lossy(&stored)),
                hash,
                "rotation #{i}: the server stores the hash the function sent"
            );
        }
    }
    let _ = c.disconnect().await;
    for (i, pw) in passwords.iter().enumerate() {
        if let Some(line) = text.lines().find(|l| l.contains(pw.as_str())) {
            panic!(
                "password #{i} appears in the general log: {}",
                line.replace(pw.as_str(), "*****")
            );
        }
    }
    // Each user's last new password logs in.
    for (user, pw) in rotated.iter().zip(new_passwords).skip(1).step_by(2) {
        login(db.port, user, pw)
            .await
            .unwrap_or_else(|e| panic!("{user} logs in with its new password: {e}"));
    }
}

/// The `AS 0x…` literal of a logged statement starting with `statement` whose hash is
/// `password`'s: the hex decodes to `$A$005$`, a 20-byte salt and the digest the function
/// computes for this password with that salt.
fn sent_caching_sha2_hash(log: &str, statement: &str, password: &str) -> Option<String> {
    use rotation_mysql::caching_sha2::{SALT_LEN, hex_literal, stored_form};
    log.lines()
        .filter(|l| l.contains(statement))
        .filter_map(|l| l.split(" AS ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .find(|literal| {
            let Some(hex) = literal.strip_prefix("0x") else {
                return false;
            };
            let bytes: Option<Vec<u8>> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
                .collect();
            let Some(bytes) = bytes else { return false };
            let Some(salt) = bytes
                .get(7..7 + SALT_LEN)
                .and_then(|s| <[u8; SALT_LEN]>::try_from(s).ok())
            else {
                return false;
            };
            hex_literal(&stored_form(password.as_bytes(), &salt)) == *literal
        })
        .map(str::to_owned)
}

/// ERROR 1396 ("Operation CREATE USER failed") is not a missing privilege: here privilege rows
/// of the clone's name remain in `mysql.db` without an account (a manual delete from
/// `mysql.user`). The error says what to check, and the advice works.
#[tokio::test(flavor = "multi_thread")]
async fn clone_name_left_in_the_grant_tables_is_a_database_error_that_says_what_to_do() {
    let db = db();
    let sm = Sm::from_env();
    let (user, pw) = new_user(&db, "left", &["SELECT ON appdb.*"]).await;
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
    let arn = secret_with_admin(&sm, &db, &user, &pw).await;
    let f = Function::spawn(&function_binary(facts::ALTERNATING_USERS), &sm.url, &[]);
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
