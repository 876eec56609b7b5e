//! The AWSPREVIOUS fallback of single-user setSecret: when AWSCURRENT's login is rejected, an
//! AWSPREVIOUS that differs from it only in the password is tried and, if it logs in, used for
//! the change; one that differs in any other key is never tried. Only a rejected login leads
//! there (not an unreachable database), and alternating users never falls back.

use crate::engine::{Call, Db, HOST, PORT};
use crate::support::*;
use rotation_core::EngineError;
use rotation_core::Strategy::{AlternatingUsers, SingleUser};
use serde_json::json;
use test_support::secrets::{Sm, rotate, step};

#[tokio::test]
async fn awsprevious_is_used_when_awscurrent_no_longer_logs_in() {
    let c = case(SingleUser).await;
    let r = c.rotator(SingleUser);
    c.rotated(&r).await;
    // The database went back to the previous password (a restore, a change undone).
    c.db.set_user("app", FIRST_PASSWORD);
    c.db.clear_calls();
    let token = c.sm.start_rotation(&c.arn).await;
    rotate(&r, &c.arn, &token)
        .await
        .expect("rotation through AWSPREVIOUS");
    let new = c.current().await["password"]
        .as_str()
        .expect("password")
        .to_owned();
    assert_eq!(
        c.db.changes(),
        [Call::SetPassword {
            login: "app".into(),
            login_password: FIRST_PASSWORD.into(),
            user: "app".into(),
            password: new,
            admin: None,
        }],
        "the change logged in with AWSPREVIOUS"
    );
    c.assert_current_works(&token).await;
}

#[tokio::test]
async fn awsprevious_that_differs_in_another_key_is_not_used() {
    for (key, old) in [
        ("note", json!({"old": true})),
        ("ssl", json!(false)),
        ("host", json!("old.test.internal")),
        ("dbname", json!("old")),
    ] {
        let sm = Sm::from_env();
        let db = Db::new();
        db.set_user("app", FIRST_PASSWORD);
        let mut first = secret("app", FIRST_PASSWORD);
        first[key] = old;
        let arn = sm.create("core-prev-", &first).await;
        // A new AWSCURRENT, stored by hand with another password; the database kept the old.
        sm.client
            .put_secret_value()
            .secret_id(&arn)
            .secret_string(secret("app", "Second-pw-9e4d").to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("PutSecretValue: {e:?}"));
        assert!(
            sm.version_of(&arn, "AWSPREVIOUS").await.is_some(),
            "{key}: the first version is AWSPREVIOUS"
        );
        let r = rotator::<false, false>(&sm, SingleUser, &[], &db);
        let token = sm.start_rotation(&arn).await;
        step(&r, &arn, &token, "createSecret")
            .await
            .expect("createSecret");
        db.clear_calls();
        assert_eq!(
            refused(
                step(&r, &arn, &token, "setSecret").await,
                key,
                "AuthenticationError"
            ),
            format!(
                "setSecret for secret {arn}: with the AWSCURRENT and AWSPREVIOUS credentials, the database rejected the login of user 'app': neither the AWSCURRENT nor the AWSPREVIOUS password logs in, AWSPENDING does not either, nor does any version an abandoned rotation left; check that the user exists and that the secret's password is the user's current password"
            ),
            "{key}"
        );
        let tried: Vec<String> = db
            .calls()
            .into_iter()
            .map(|call| match call {
                Call::Login { password, .. } => password,
                other => panic!("{key}: only logins are tried, not {other:?}"),
            })
            .collect();
        assert_eq!(tried.len(), 2, "{key}: AWSCURRENT and AWSPENDING only");
        assert_eq!(tried[0], "Second-pw-9e4d", "{key}");
        assert!(
            !tried.iter().any(|p| p == FIRST_PASSWORD),
            "{key}: AWSPREVIOUS is not tried"
        );
        assert_eq!(db.password_of("app").as_deref(), Some(FIRST_PASSWORD));
    }
}

#[tokio::test]
async fn only_a_rejected_login_leads_to_awsprevious() {
    let c = case(SingleUser).await;
    let r = c.rotator(SingleUser);
    c.rotated(&r).await;
    let current = c.current().await["password"]
        .as_str()
        .expect("password")
        .to_owned();
    c.db.fail_logins_of(
        "app",
        EngineError::Network {
            endpoint: format!("{HOST}:{PORT}"),
            detail: "connection timed out".into(),
        },
    );
    let token = c.created(&r).await;
    c.db.clear_calls();
    assert_eq!(
        refused(
            step(&r, &c.arn, &token, "setSecret").await,
            "network",
            "NetworkError"
        ),
        format!(
            "setSecret for secret {}: with the AWSCURRENT credentials, cannot reach the database at {HOST}:{PORT}: connection timed out; check the host and port in the secret, and that the function's subnets and security groups can reach the database",
            c.arn
        )
    );
    assert_eq!(
        c.db.calls(),
        [Call::Login {
            user: "app".into(),
            password: current,
        }],
        "AWSPREVIOUS is not tried"
    );
}

#[tokio::test]
async fn alternating_users_never_falls_back_to_awsprevious() {
    let c = case(AlternatingUsers).await;
    let r = c.rotator(AlternatingUsers);
    c.rotated(&r).await;
    // AWSCURRENT is app_clone now; its password is lost, app's (AWSPREVIOUS) still works.
    c.db.set_user("app_clone", "Lost-pw-77aa");
    let token = c.created(&r).await;
    c.db.clear_calls();
    refused_with(
        step(&r, &c.arn, &token, "setSecret").await,
        "lost",
        "AuthenticationError",
        &format!(
            "setSecret for secret {}: with the AWSCURRENT credentials, the database rejected the login of user 'app_clone'",
            c.arn
        ),
    );
    assert_eq!(c.db.calls().len(), 1, "only AWSCURRENT is tried");
    assert_eq!(c.db.changes(), []);
}
