//! Alternating users, what only MySQL has: the clone gets the original's host part and every
//! grant (`WITH GRANT OPTION` included), is created locked and unlocked only once it is an
//! exact copy, a crash between its creation and its grants is repaired by the retry, and the
//! clone's name must fit the server's limit (`USERNAME_CHARACTER_LIMIT`). The protocol's
//! scenarios are in the conformance suite.

use crate::common::*;
use rotation_core::Strategy::AlternatingUsers;
use rotation_mysql::sql;
use serde_json::json;
use test_support::conformance::case::fails_at;
use test_support::mariadb::Product;
use test_support::secrets::{Sm, rotate, step};
use test_support::unique;

/// `user` at host 127.0.0.1 (not `%`) with grants, one of them WITH GRANT OPTION, and its
/// secret with an RDS-style admin secret (only username and password).
async fn setup(user: &str) -> (Sm, test_support::mariadb::MariaDb, String, String) {
    let db = db();
    let sm = Sm::from_env();
    let pw = unique("Pw-");
    let grants = ["SELECT, INSERT ON appdb.*"];
    create_user(&db, user, "127.0.0.1", &pw, &grants, false).await;
    admin_exec(
        &db,
        &[format!(
            "GRANT UPDATE ON appdb.* TO {} WITH GRANT OPTION",
            sql::account(user, "127.0.0.1", false)
        )],
    )
    .await;
    let master = sm
        .create(
            "rds!db-",
            &json!({"username": db.admin_user, "password": db.admin_password}),
        )
        .await;
    let mut value = secret(db.port, user, &pw);
    value["masterarn"] = json!(master);
    let arn = sm.create("mysql-alt-", &value).await;
    (sm, db, pw, arn)
}

/// A name with quotes, a backtick, a backslash and SQL in it, whose grants must still be read
/// back and compared exactly.
#[tokio::test]
async fn the_clone_gets_the_host_part_and_every_grant() {
    // MySQL holds 32 characters, `_clone` included.
    let user = match db().product {
        Product::MariaDb => format!("{}q'`\"\\;DROP TABLE appdb.canary2;", unique("h")),
        Product::MySql => format!("{}q'`\"\\;DROP--", unique("h")),
    };
    let (sm, db, _, arn) = setup(&user).await;
    let clone = format!("{user}_clone");
    let original = grants_of(&db, &user, "127.0.0.1").await;
    assert!(
        original.iter().any(|g| g.contains("WITH GRANT OPTION")),
        "{original:?}"
    );
    let r = rotator(&sm, AlternatingUsers, &[]);
    for n in 0..3 {
        let token = sm.start_rotation(&arn).await;
        rotate(&r, &arn, &token)
            .await
            .unwrap_or_else(|e| panic!("rotation {n}: {e}"));
        assert_eq!(
            grants_of(&db, &clone, "127.0.0.1").await,
            original,
            "rotation {n}: the clone at 127.0.0.1 has the original's grants"
        );
        assert_eq!(grants_of(&db, &user, "127.0.0.1").await, original);
    }
}

#[tokio::test]
async fn a_crash_between_create_and_grants_is_repaired_by_the_retry() {
    let user = unique("alt");
    let (sm, db, _, arn) = setup(&user).await;
    let r = rotator(&sm, AlternatingUsers, &[]);
    let token = sm.start_rotation(&arn).await;
    step(&r, &arn, &token, "createSecret")
        .await
        .expect("create");
    // What an interrupted setSecret leaves: the clone exists, locked, without grants.
    let clone = format!("{user}_clone");
    let pending = sm
        .value(&arn, "AWSPENDING", Some(&token))
        .await
        .expect("pending");
    admin_exec(
        &db,
        &[format!(
            "CREATE USER {} IDENTIFIED BY {} ACCOUNT LOCK",
            sql::account(&clone, "127.0.0.1", false),
            sql::literal(pending["password"].as_str().expect("pw"), false)
        )],
    )
    .await;
    finish_from_set(&r, &arn, &token).await;
    assert_eq!(
        grants_of(&db, &clone, "127.0.0.1").await,
        grants_of(&db, &user, "127.0.0.1").await
    );
}

#[tokio::test]
async fn clone_name_limit_26_works_27_is_refused() {
    let db = db();
    let sm = Sm::from_env();
    let r = rotator(&sm, AlternatingUsers, &[("USERNAME_CHARACTER_LIMIT", "32")]);
    let make = |n: usize| {
        let u = unique("l");
        format!("{u}{}", "x".repeat(n - u.len()))
    };

    let ok = make(26);
    let arn = user_and_secret_with_admin(&sm, &db, &ok, "Pw-limit-1").await;
    let token = sm.start_rotation(&arn).await;
    rotate(&r, &arn, &token).await.expect("26 characters fit");

    let long = make(27);
    let arn = user_and_secret_with_admin(&sm, &db, &long, "Pw-limit-1").await;
    let (_, err) = fails_at(&r, &sm, &arn, "createSecret").await;
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("username '{long}' has 27 characters; with '_clone' it would have 33, over the USERNAME_CHARACTER_LIMIT of 32")),
        "{msg}"
    );
    assert_eq!(err.kind(), "BadSecret");
    assert!(
        !user_exists(&db, &format!("{long}_clone")).await,
        "nothing created"
    );

    // Without the override the limit comes from the server: MariaDB allows 80, MySQL 32.
    let r = rotator(&sm, AlternatingUsers, &[]);
    let (length, says) = match db.product {
        Product::MariaDb => (75, "over MariaDB's limit of 80"),
        Product::MySql => (27, "over MySQL's limit of 32"),
    };
    let long = make(length);
    let arn = user_and_secret_with_admin(&sm, &db, &long, "Pw-limit-1").await;
    let (_, err) = fails_at(&r, &sm, &arn, "createSecret").await;
    assert!(err.to_string().contains(says), "{err}");
}

#[tokio::test]
async fn a_clone_that_differs_from_the_original_stays_locked_until_it_is_an_exact_copy() {
    let user = unique("alt");
    let (sm, db, pw, arn) = setup(&user).await;
    // A clone left from earlier with a privilege the original does not have.
    let clone = format!("{user}_clone");
    let extra = ["DELETE ON extradb.*"];
    create_user(&db, &clone, "127.0.0.1", "Old-clone-pw-1", &extra, false).await;
    let r = rotator(&sm, AlternatingUsers, &[]);
    let (token, err) = fails_at(&r, &sm, &arn, "setSecret").await;
    let msg = err.to_string();
    assert_eq!(err.kind(), "DatabaseError", "{msg}");
    assert!(
        msg.contains("extra on the copy: GRANT DELETE ON `extradb`.*"),
        "names the line: {msg}"
    );
    assert!(!msg.contains("missing on the copy"), "{msg}");
    assert!(
        msg.contains("ACCOUNT LOCK"),
        "says the clone stays locked: {msg}"
    );
    let pending = sm.value(&arn, "AWSPENDING", Some(&token)).await;
    let pending = pending.expect("pending")["password"].clone();
    let refused = login(db.port, &clone, pending.as_str().expect("password"))
        .await
        .expect_err("a clone that differs must not log in");
    assert!(refused.contains("locked"), "{refused}");
    login(db.port, &user, &pw)
        .await
        .expect("the original keeps working");
    assert!(
        step(&r, &arn, &token, "testSecret").await.is_err(),
        "testSecret fails, so finishSecret is never reached"
    );

    // Once the difference is removed, the retry completes.
    admin_exec(
        &db,
        &[format!(
            "REVOKE DELETE ON extradb.* FROM {}",
            sql::account(&clone, "127.0.0.1", false)
        )],
    )
    .await;
    finish_from_set(&r, &arn, &token).await;
    login(db.port, &clone, &password_at(&sm, &arn, "AWSCURRENT").await)
        .await
        .expect("the clone logs in");
    assert_eq!(
        grants_of(&db, &clone, "127.0.0.1").await,
        grants_of(&db, &user, "127.0.0.1").await
    );
}

/// MySQL answers a login as an account that does not exist with a switch to an authentication
/// plugin it picks from the name: on 9.7, `sha256_password` for some names and
/// `caching_sha2_password` for others. The first rotation checks whether the alternate user's
/// password works before the user exists, and meets that switch, which must read as "this
/// password does not log in", whatever the plugin. (MariaDB never switches so.)
#[tokio::test]
async fn a_first_rotation_rotates_whatever_plugin_the_server_names_for_an_unknown_user() {
    let db = db();
    let sm = Sm::from_env();
    let mut switched = None;
    for _ in 0..64 {
        let user = unique("sw");
        let refused = login(db.port, &format!("{user}_clone"), "not-the-password")
            .await
            .expect_err("no such account");
        if refused.contains("sha256_password") {
            switched = Some(user);
            break;
        }
    }
    let user = match db.product {
        Product::MySql => switched.expect("MySQL switches some unknown names to sha256_password"),
        Product::MariaDb => {
            assert_eq!(switched, None, "MariaDB has no such switch");
            unique("sw")
        }
    };
    let arn = user_and_secret_with_admin(&sm, &db, &user, "Pw-switch-1").await;
    let r = rotator(&sm, AlternatingUsers, &[]);
    for n in 0..2 {
        let token = sm.start_rotation(&arn).await;
        rotate(&r, &arn, &token)
            .await
            .unwrap_or_else(|e| panic!("rotation {n} of {user}: {e}"));
        let current = sm.value(&arn, "AWSCURRENT", None).await.expect("current");
        login(
            db.port,
            current["username"].as_str().expect("user"),
            current["password"].as_str().expect("pw"),
        )
        .await
        .unwrap_or_else(|e| panic!("rotation {n}: AWSCURRENT logs in: {e}"));
    }
}
