//! The shipped `bootstrap` binaries, run through a Lambda Runtime API: a process killed
//! between steps, and no password in anything a function prints.

use crate::common::*;
use rotation_core::Strategy::{AlternatingUsers, SingleUser};
use rotation_postgres::sql::ident;
use test_support::function_binary;
use test_support::lambda::{Function, Outcome};
use test_support::moto::Moto;

fn spawn(name: &str) -> Function {
    Function::spawn(
        &function_binary(name),
        &Moto::from_env().url,
        &[("LOG_LEVEL", "debug")],
    )
}

async fn killed_after_set_secret(strategy: rotation_core::Strategy, binary: &str) {
    let f = fixture(strategy, "kill").await;
    let token = f.sm.start_rotation(&f.arn).await;
    let mut first = spawn(binary);
    first
        .invoke(&f.arn, &token, "createSecret")
        .expect_ok("createSecret");
    first
        .invoke(&f.arn, &token, "setSecret")
        .expect_ok("setSecret");
    first.kill();
    assert!(!first.running());

    let second = spawn(binary);
    for s in ["setSecret", "testSecret", "finishSecret"] {
        second.invoke(&f.arn, &token, s).expect_ok(s);
    }
    assert_eq!(
        f.sm.version_of(&f.arn, "AWSCURRENT").await.as_deref(),
        Some(token.as_str())
    );
    let user = username_at(&f.sm, &f.arn, "AWSCURRENT").await;
    login(
        f.db.port,
        &user,
        &password_at(&f.sm, &f.arn, "AWSCURRENT").await,
    )
    .await
    .expect("the new password works");
}

#[tokio::test]
async fn single_user_survives_a_kill_after_set_secret() {
    killed_after_set_secret(SingleUser, "postgres-single-user").await;
}

#[tokio::test]
async fn alternating_users_survives_a_kill_after_set_secret() {
    killed_after_set_secret(AlternatingUsers, "postgres-alternating-users").await;
}

/// A full rotation, then a rotation whose setSecret fails because the current user's
/// password was changed behind the secret's back; nothing printed holds a password.
async fn no_password_in_output(strategy: rotation_core::Strategy, binary: &str) {
    let f = fixture(strategy, "quiet").await;
    let function = spawn(binary);
    let token = f.sm.start_rotation(&f.arn).await;
    function.rotate(&f.arn, &token);
    let rotated = password_at(&f.sm, &f.arn, "AWSCURRENT").await;
    let current_user = username_at(&f.sm, &f.arn, "AWSCURRENT").await;

    let behind = "Changed-behind-the-back-1";
    admin_exec(
        &f.db,
        &[format!(
            "ALTER ROLE {} PASSWORD '{behind}'",
            ident(&current_user)
        )],
    )
    .await;
    let token = f.sm.start_rotation(&f.arn).await;
    // Alternating users log in already at createSecret, to check the name limit.
    let (error_type, message) = match function.invoke(&f.arn, &token, "createSecret") {
        Outcome::Err {
            error_type,
            error_message,
        } => (error_type, error_message),
        Outcome::Ok(_) => function
            .invoke(&f.arn, &token, "setSecret")
            .expect_err("setSecret"),
    };
    let pending =
        f.sm.value(&f.arn, "AWSPENDING", Some(&token))
            .await
            .and_then(|v| v["password"].as_str().map(str::to_owned))
            .unwrap_or_else(|| "(none stored)".to_owned());
    assert_eq!(error_type, "AuthenticationError", "{message}");
    assert!(message.contains(&current_user), "{message}");

    let output = settled_output(&function, "step failed");
    assert!(output.contains("step finished"), "{output}");
    for (what, secret) in [
        ("the first password", f.password.as_str()),
        ("the rotated password", rotated.as_str()),
        ("the pending password", pending.as_str()),
        ("the admin password", f.db.admin_password.as_str()),
        ("the changed password", behind),
    ] {
        assert!(
            !output.contains(secret),
            "{what} is in the output:\n{output}"
        );
        assert!(!message.contains(secret), "{what} is in the error");
    }
    assert!(
        !output.contains("SCRAM-SHA-256$"),
        "no verifier in the output"
    );
    // The shared server offers no TLS and the secret has no `ssl` key.
    assert!(
        output.contains("offers no TLS"),
        "the plaintext fallback is logged: {output}"
    );
}

#[tokio::test]
async fn single_user_prints_no_password() {
    no_password_in_output(SingleUser, "postgres-single-user").await;
}

#[tokio::test]
async fn alternating_users_prints_no_password() {
    no_password_in_output(AlternatingUsers, "postgres-alternating-users").await;
}
