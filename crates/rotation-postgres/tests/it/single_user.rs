//! Single-user rotation: the user changes its own password.

use crate::common::*;
use rotation_core::Strategy::SingleUser;
use rotation_postgres::sql::{ident, literal};
use serde_json::json;
use test_support::secrets::{Sm, rotate, step};
use test_support::unique;

#[tokio::test]
async fn full_rotation_moves_current_and_the_old_password_stops_working() {
    let f = fixture(SingleUser, "su").await;
    let old_version =
        f.sm.version_of(&f.arn, "AWSCURRENT")
            .await
            .expect("current");
    let r = rotator(&f.sm, SingleUser, &[]);
    let token = f.sm.start_rotation(&f.arn).await;
    rotate(&r, &f.arn, &token).await.expect("rotation");

    f.sm.assert_rotated(&f.arn, &token, &old_version).await;
    let new = password_at(&f.sm, &f.arn, "AWSCURRENT").await;
    assert_ne!(new, f.password);
    assert_eq!(new.chars().count(), 32);
    assert!(
        !new.contains([':', '/', '@', '"', '\'', '\\']),
        "default exclusions: {new}"
    );
    login(f.db.port, &f.user, &new)
        .await
        .expect("new password logs in");
    let err = login(f.db.port, &f.user, &f.password)
        .await
        .expect_err("old password must be rejected");
    assert!(err.contains("28P01"), "{err}");
    let value = f.sm.value(&f.arn, "AWSCURRENT", None).await.expect("value");
    assert_eq!(
        value["note"],
        json!({"kept": ["as", "is"]}),
        "unknown keys are kept"
    );
    assert_eq!(value["username"], f.user.as_str());
    assert!(value.get("dbname").is_none(), "no key is added");
}

#[tokio::test]
async fn two_rotations_in_a_row() {
    let f = fixture(SingleUser, "su2").await;
    let r = rotator(&f.sm, SingleUser, &[]);
    for _ in 0..2 {
        let token = f.sm.start_rotation(&f.arn).await;
        rotate(&r, &f.arn, &token).await.expect("rotation");
        login(
            f.db.port,
            &f.user,
            &password_at(&f.sm, &f.arn, "AWSCURRENT").await,
        )
        .await
        .expect("current logs in");
    }
    assert!(
        login(
            f.db.port,
            &f.user,
            &password_at(&f.sm, &f.arn, "AWSPREVIOUS").await
        )
        .await
        .is_err(),
        "the previous password no longer works"
    );
    assert!(
        login(f.db.port, &f.user, &f.password).await.is_err(),
        "nor the first one"
    );
}

#[tokio::test]
async fn every_step_twice() {
    crate::common::every_step_twice(SingleUser).await;
}

#[tokio::test]
async fn tampered_pending_is_refused_and_nothing_changes() {
    tampered_pending(SingleUser).await;
}

#[tokio::test]
async fn gate_errors_keep_the_templates_texts() {
    gate_errors(SingleUser).await;
}

#[tokio::test]
async fn database_down_is_a_network_error() {
    database_down(SingleUser).await;
}

#[tokio::test]
async fn wrong_engine_and_bad_secrets_are_refused() {
    bad_secrets(SingleUser).await;
}

#[tokio::test]
async fn exclude_characters_are_honoured() {
    exclude_characters(SingleUser).await;
}

#[tokio::test]
async fn wrong_current_password_is_an_authentication_error() {
    let f = fixture(SingleUser, "auth").await;
    admin_exec(
        &f.db,
        &[format!(
            "ALTER ROLE {} PASSWORD 'Changed-behind-1'",
            ident(&f.user)
        )],
    )
    .await;
    let r = rotator(&f.sm, SingleUser, &[]);
    let token = f.sm.start_rotation(&f.arn).await;
    step(&r, &f.arn, &token, "createSecret")
        .await
        .expect("create");
    let err = step(&r, &f.arn, &token, "setSecret")
        .await
        .expect_err("no credential works");
    assert_eq!(err.kind(), "AuthenticationError", "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&f.user) && msg.contains(&f.arn), "{msg}");
    assert!(!msg.contains(&f.password), "{msg}");
}

#[tokio::test]
async fn awsprevious_logs_in_when_awscurrent_no_longer_does() {
    // A rotation moved AWSCURRENT, but the database still has the older password (say, it
    // was restored from a snapshot): the next rotation logs in with AWSPREVIOUS.
    let f = fixture(SingleUser, "prev").await;
    let r = rotator(&f.sm, SingleUser, &[]);
    let token = f.sm.start_rotation(&f.arn).await;
    rotate(&r, &f.arn, &token).await.expect("first rotation");
    admin_exec(
        &f.db,
        &[format!(
            "ALTER ROLE {} PASSWORD {}",
            ident(&f.user),
            literal(&f.password)
        )],
    )
    .await;
    let token = f.sm.start_rotation(&f.arn).await;
    rotate(&r, &f.arn, &token)
        .await
        .expect("second rotation, through AWSPREVIOUS");
    login(
        f.db.port,
        &f.user,
        &password_at(&f.sm, &f.arn, "AWSCURRENT").await,
    )
    .await
    .expect("new password");
}

#[tokio::test]
async fn hostile_names_and_passwords_rotate_without_injection() {
    let db = db();
    let sm = Sm::from_env();
    let canary = unique("canary");
    create_role(&db, &canary, "Canary-pw-1").await;
    let names = [
        format!("{}o'ne\"two\\x", unique("h")),
        format!("{}x\"; DROP ROLE {canary}; --", unique("h")),
        format!("{}'; DROP ROLE {canary}; --", unique("h")),
        format!("{}UPPER lower", unique("H")),
    ];
    let password = "it's a \"quoted\" \\ pass\\\\word'; DROP ROLE admin; --";
    let r = rotator(&sm, SingleUser, &[]);
    for user in names {
        create_role(&db, &user, password).await;
        login(db.port, &user, password).await.expect("setup login");
        let arn = sm
            .create("pg-hostile-", &secret(db.port, &user, password))
            .await;
        let token = sm.start_rotation(&arn).await;
        rotate(&r, &arn, &token)
            .await
            .unwrap_or_else(|e| panic!("{user}: {e}"));
        let new = password_at(&sm, &arn, "AWSCURRENT").await;
        login(db.port, &user, &new)
            .await
            .unwrap_or_else(|e| panic!("{user}: {e}"));
        assert!(
            login(db.port, &user, password).await.is_err(),
            "{user}: the old password is gone"
        );
    }
    assert!(role_exists(&db, &canary).await, "no statement was injected");
    assert!(role_exists(&db, &db.admin_user).await);
}
