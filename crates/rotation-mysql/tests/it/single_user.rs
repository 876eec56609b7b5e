//! Single-user rotation: the protocol, the gate, the confused-deputy checks and bad input.

use crate::common::*;
use rotation_core::Strategy::SingleUser;
use serde_json::json;
use test_support::secrets::{Sm, each_step_twice, rotate, step};
use test_support::unique;

async fn setup(grants: &[&str]) -> (Sm, test_support::mariadb::MariaDb, String, String, String) {
    let db = db();
    let sm = Sm::from_env();
    let user = unique("su");
    let pw = unique("Pw-");
    create_user(&db, &user, "%", &pw, grants, false).await;
    let arn = sm.create("mysql-su-", &secret(db.port, &user, &pw)).await;
    (sm, db, user, pw, arn)
}

#[tokio::test]
async fn full_rotation_moves_current_and_the_old_password_stops_working() {
    let (sm, db, user, old, arn) = setup(&["SELECT ON appdb.*"]).await;
    let old_version = sm.version_of(&arn, "AWSCURRENT").await.expect("current");
    let r = rotator(&sm, SingleUser, &[]);
    let token = sm.start_rotation(&arn).await;
    rotate(&r, &arn, &token).await.expect("rotation");

    sm.assert_rotated(&arn, &token, &old_version).await;
    let new = password_at(&sm, &arn, "AWSCURRENT").await;
    assert_ne!(new, old);
    assert_eq!(new.chars().count(), 32);
    login(db.port, &user, &new)
        .await
        .expect("new password logs in");
    assert!(
        login(db.port, &user, &old).await.is_err(),
        "old password must be rejected"
    );
    let value = sm.value(&arn, "AWSCURRENT", None).await.expect("value");
    assert_eq!(
        value["note"],
        json!({"kept": ["as", "is"]}),
        "unknown keys are kept"
    );
    assert_eq!(value["username"], user.as_str());
}

#[tokio::test]
async fn two_rotations_in_a_row() {
    let (sm, db, user, _, arn) = setup(&[]).await;
    let r = rotator(&sm, SingleUser, &[]);
    for _ in 0..2 {
        let token = sm.start_rotation(&arn).await;
        rotate(&r, &arn, &token).await.expect("rotation");
        login(db.port, &user, &password_at(&sm, &arn, "AWSCURRENT").await)
            .await
            .expect("current logs in");
    }
    assert!(
        login(db.port, &user, &password_at(&sm, &arn, "AWSPREVIOUS").await)
            .await
            .is_err(),
        "the previous password no longer works"
    );
}

#[tokio::test]
async fn every_step_twice() {
    let (sm, db, user, _, arn) = setup(&[]).await;
    let r = rotator(&sm, SingleUser, &[]);
    let token = sm.start_rotation(&arn).await;
    each_step_twice(&r, &arn, &token).await;
    let pending_value = sm.value(&arn, "AWSCURRENT", None).await.expect("current");
    login(
        db.port,
        &user,
        pending_value["password"].as_str().expect("pw"),
    )
    .await
    .expect("logs in");
    assert_eq!(
        sm.version_of(&arn, "AWSCURRENT").await.as_deref(),
        Some(token.as_str())
    );
}

#[tokio::test]
async fn tampered_pending_is_refused_and_nothing_changes() {
    let (sm, db, user, old, arn) = setup(&[]).await;
    let other = unique("victim");
    create_user(&db, &other, "%", "Victim-pw-1", &[], false).await;
    let r = rotator(&sm, SingleUser, &[]);
    let cases = [
        ("user", json!({"username": other})),
        ("host", json!({"host": "localhost"})),
        ("port", json!({"port": db.port + 1})),
        ("engine", json!({"engine": "mariadb"})),
    ];
    for (what, change) in cases {
        let token = sm.start_rotation(&arn).await;
        step(&r, &arn, &token, "createSecret")
            .await
            .expect("create");
        sm.edit_pending(&arn, &token, &change).await;
        let err = step(&r, &arn, &token, "setSecret").await.expect_err(what);
        assert_eq!(err.kind(), "ConfusedDeputy", "{what}: {err}");
        assert!(err.to_string().contains(&arn), "{err}");
        login(db.port, &user, &old)
            .await
            .expect("the current password still works");
        login(db.port, &other, "Victim-pw-1")
            .await
            .expect("the other user is untouched");
        sm.clear_pending(&arn, &token).await;
    }
}

#[tokio::test]
async fn gate_errors_keep_the_templates_texts() {
    let (sm, _db, _user, _, arn) = setup(&[]).await;
    let r = rotator(&sm, SingleUser, &[]);
    let current = sm.version_of(&arn, "AWSCURRENT").await.expect("current");

    let err = step(&r, &arn, "no-such-token", "createSecret")
        .await
        .expect_err("unknown token");
    assert!(
        err.to_string()
            .contains("has no stage for rotation of secret"),
        "{err}"
    );

    step(&r, &arn, &current, "setSecret")
        .await
        .expect("a token that is AWSCURRENT is a no-op");

    let token = sm.start_rotation(&arn).await;
    let err = step(&r, &arn, &token, "fooSecret")
        .await
        .expect_err("bad step");
    assert!(
        err.to_string()
            .starts_with("Invalid step parameter fooSecret for secret"),
        "{err}"
    );

    rotate(&r, &arn, &token).await.expect("rotation");
    let previous = sm.version_of(&arn, "AWSPREVIOUS").await.expect("previous");
    let err = step(&r, &arn, &previous, "setSecret")
        .await
        .expect_err("not pending");
    assert!(
        err.to_string()
            .contains("not set as AWSPENDING for rotation of secret"),
        "{err}"
    );

    let token = sm.start_rotation(&arn).await;
    sm.disable_rotation(&arn).await;
    let err = step(&r, &arn, &token, "createSecret")
        .await
        .expect_err("disabled");
    assert!(
        err.to_string().ends_with("is not enabled for rotation"),
        "{err}"
    );
    assert_eq!(err.kind(), "RotationNotEnabled");
}

#[tokio::test]
async fn database_down_is_a_network_error() {
    let sm = Sm::from_env();
    let port = test_support::net::free_port();
    let arn = sm
        .create("mysql-down-", &secret(port, "app", "Some-pw-1"))
        .await;
    let r = rotator(&sm, SingleUser, &[("CONNECT_TIMEOUT_SECONDS", "2")]);
    let token = sm.start_rotation(&arn).await;
    step(&r, &arn, &token, "createSecret")
        .await
        .expect("create needs no database");
    let err = step(&r, &arn, &token, "setSecret").await.expect_err("down");
    assert_eq!(err.kind(), "NetworkError", "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("127.0.0.1:{port}")) && msg.contains("AWSCURRENT"),
        "{msg}"
    );
    assert!(
        msg.contains("security groups"),
        "the message says what to check: {msg}"
    );
}

#[tokio::test]
async fn bad_secrets_are_refused_before_anything_is_stored() {
    let sm = Sm::from_env();
    let db = db();
    let r = rotator(&sm, SingleUser, &[]);
    let cases = [
        (
            json!({"engine": "postgres", "host": "127.0.0.1", "port": db.port, "username": "u", "password": "p"}),
            "engine is 'postgres'",
        ),
        (
            json!({"engine": "mysql", "port": db.port, "username": "u", "password": "p"}),
            "no 'host' key",
        ),
        (
            json!({"engine": "mysql", "host": "127.0.0.1", "username": "u"}),
            "no 'password' key",
        ),
        (
            json!({"engine": "mysql", "host": "127.0.0.1", "username": "u", "password": "p", "port": "abc"}),
            "'port'",
        ),
        (json!("just a string"), "JSON object"),
    ];
    for (value, expected) in cases {
        let arn = sm.create("mysql-bad-", &value).await;
        let token = sm.start_rotation(&arn).await;
        let err = step(&r, &arn, &token, "createSecret")
            .await
            .expect_err(expected);
        assert_eq!(err.kind(), "BadSecret", "{err}");
        assert!(err.to_string().contains(expected), "{err}");
        assert!(
            sm.value(&arn, "AWSPENDING", Some(&token)).await.is_none(),
            "nothing is stored for a bad secret"
        );
    }
    // Not JSON at all.
    let arn = sm
        .client
        .create_secret()
        .name(unique("mysql-notjson-"))
        .secret_string("{not json")
        .send()
        .await
        .expect("create")
        .arn()
        .unwrap_or_default()
        .to_owned();
    let token = sm.start_rotation(&arn).await;
    let err = step(&r, &arn, &token, "createSecret")
        .await
        .expect_err("not json");
    assert!(err.to_string().contains("not valid JSON"), "{err}");
}

#[tokio::test]
async fn hostile_names_and_passwords_rotate_without_injection() {
    let db = db();
    let sm = Sm::from_env();
    admin_exec(
        &db,
        &["CREATE TABLE IF NOT EXISTS appdb.canary (id INT)".into()],
    )
    .await;
    let user = format!(
        "{}o'ne\"two`three\\x; DROP TABLE appdb.canary; --",
        unique("h")
    );
    let pw = "it's a \"quoted\" \\ pass`word; DROP USER admin; --".to_owned();
    create_user(&db, &user, "%", &pw, &["SELECT ON appdb.*"], false).await;
    login(db.port, &user, &pw).await.expect("setup login");
    let arn = sm
        .create("mysql-hostile-", &secret(db.port, &user, &pw))
        .await;
    let r = rotator(&sm, SingleUser, &[]);
    let token = sm.start_rotation(&arn).await;
    rotate(&r, &arn, &token).await.expect("rotation");
    login(db.port, &user, &password_at(&sm, &arn, "AWSCURRENT").await)
        .await
        .expect("new password works");
    assert!(login(db.port, &user, &pw).await.is_err());
    let mut c = admin(&db).await;
    use mysql_async::prelude::Queryable;
    c.query_drop("SELECT * FROM appdb.canary")
        .await
        .expect("the canary table survived");
    login(db.port, &db.admin_user, &db.admin_password)
        .await
        .expect("admin survived");
}

#[tokio::test]
async fn password_settings_are_honoured() {
    let (sm, db, user, _, arn) = setup(&[]).await;
    let r = rotator(
        &sm,
        SingleUser,
        &[
            (
                "EXCLUDE_CHARACTERS",
                "abcdefghijklmABCDEFGHIJKLM0123/@\"'\\",
            ),
            ("PASSWORD_LENGTH", "20"),
        ],
    );
    let token = sm.start_rotation(&arn).await;
    rotate(&r, &arn, &token).await.expect("rotation");
    let pw = password_at(&sm, &arn, "AWSCURRENT").await;
    assert_eq!(pw.chars().count(), 20, "PASSWORD_LENGTH");
    assert!(
        !pw.chars()
            .any(|c| "abcdefghijklmABCDEFGHIJKLM0123".contains(c)),
        "EXCLUDE_CHARACTERS is honoured"
    );
    login(db.port, &user, &pw).await.expect("logs in");

    // The default exclusions keep the characters that break connection strings out.
    let r = rotator(&sm, SingleUser, &[]);
    for _ in 0..3 {
        let token = sm.start_rotation(&arn).await;
        rotate(&r, &arn, &token).await.expect("rotation");
        let pw = password_at(&sm, &arn, "AWSCURRENT").await;
        assert!(
            !pw.contains(['/', '@', '"', '\'', '\\']),
            "default EXCLUDE_CHARACTERS"
        );
    }
}

#[tokio::test]
async fn awsprevious_is_used_when_awscurrent_no_longer_logs_in() {
    let (sm, db, user, old, arn) = setup(&[]).await;
    let r = rotator(&sm, SingleUser, &[]);
    let token = sm.start_rotation(&arn).await;
    rotate(&r, &arn, &token).await.expect("first rotation");
    // The database went back to the previous password (a restore, a failed change…).
    admin_exec(
        &db,
        &[format!(
            "ALTER USER {} IDENTIFIED BY {}",
            rotation_mysql::sql::account(&user, "%", false),
            rotation_mysql::sql::literal(&old, false)
        )],
    )
    .await;
    let token = sm.start_rotation(&arn).await;
    rotate(&r, &arn, &token)
        .await
        .expect("rotation through AWSPREVIOUS");
    login(db.port, &user, &password_at(&sm, &arn, "AWSCURRENT").await)
        .await
        .expect("new password works");
}

#[tokio::test]
async fn rotation_token_is_accepted() {
    let (sm, _db, _user, _, arn) = setup(&[]).await;
    let r = rotator(&sm, SingleUser, &[]);
    let token = sm.start_rotation(&arn).await;
    let mut event = rotation_core::RotationEvent::new(&arn, &token, "createSecret");
    event.rotation_token = Some("cross-account-token".into());
    r.handle(&event)
        .await
        .expect("createSecret with a RotationToken");
    assert!(sm.value(&arn, "AWSPENDING", Some(&token)).await.is_some());
}
