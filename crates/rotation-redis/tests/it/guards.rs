//! The protocol's guards, through the shipped `redis-single-user` binary: the admin is never
//! the account changed, AWSPENDING may differ from AWSCURRENT only in the password, secrets
//! round-trip to the byte, a bad setting reaches Lambda as an init error, and a failed step
//! logs one error line. The protocol is shared, so one engine stands for all here; the SQL
//! engines test their own admin cases.

use crate::common::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use test_support::function_binary;
use test_support::lambda::{Function, event};
use test_support::secrets::Sm;
use test_support::unique;

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

fn single_user(sm: &Sm, env: &[(&str, &str)]) -> Function {
    Function::spawn(&function_binary("redis-single-user"), &sm.url, env)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_user_whose_masterarn_admin_is_the_rotated_user_is_refused() {
    let db = Db::shared();
    let sm = Sm::from_env();
    let user = unique("selfadmin");
    let pw = unique("Pw-");
    db.create_user(&user, &pw, &["~*", "&*", "+@all"]).await;
    let master = db.master_secret_for(&sm, &user, &pw).await;
    let arn = sm
        .create(
            "redis-selfadmin-",
            &db.secret_with_master(&user, &pw, &master),
        )
        .await;
    let f = single_user(&sm, &[("PREVIOUS_PASSWORD", "discard")]);

    // createSecret refuses, and stores nothing.
    let token = sm.start_rotation(&arn).await;
    let (kind, message) =
        blocking(|| f.invoke(&arn, &token, "createSecret")).expect_err("createSecret");
    assert_eq!(kind, "ConfusedDeputy", "{message}");
    assert!(
        message.contains(&format!("user '{user}'")) && message.contains("admin user"),
        "{message}"
    );
    assert!(
        sm.value(&arn, "AWSPENDING", Some(&token)).await.is_none(),
        "no AWSPENDING value was stored"
    );

    // setSecret refuses too, for a version stored by other means.
    let mut pending = sm.value(&arn, "AWSCURRENT", None).await.expect("current");
    pending["password"] = json!(unique("New-pw-"));
    sm.tamper_pending(&arn, &token, &pending).await;
    let (kind, message) = blocking(|| f.invoke(&arn, &token, "setSecret")).expect_err("setSecret");
    assert_eq!(kind, "ConfusedDeputy", "{message}");
    assert_eq!(db.hashes_of(&user).await, hashes(&[&pw]), "nothing changed");
    db.login(&user, &pw).await.expect("the admin still logs in");
    assert!(!f.output().contains(&pw), "no password in the output");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_version_that_changes_any_other_key_is_refused() {
    let db = Db::shared();
    let sm = Sm::from_env();
    let user = unique("tamperkeys");
    let pw = unique("Pw-");
    db.create_user(&user, &pw, &["~app:*", "+get"]).await;
    let arn = sm.create("redis-tamperkeys-", &db.secret(&user, &pw)).await;
    let f = single_user(&sm, &[]);
    let changes = [
        ("ssl", json!(false)),
        (
            "masterarn",
            json!("arn:aws:secretsmanager:us-east-1:123456789012:secret:x"),
        ),
        ("dbname", json!("other")),
        ("note", json!({"kept": ["changed"]})),
        ("port", json!(db.port().to_string())),
    ];
    for (key, value) in changes {
        let token = sm.start_rotation(&arn).await;
        blocking(|| f.invoke(&arn, &token, "createSecret")).expect_ok("createSecret");
        sm.edit_pending(&arn, &token, &json!({ key: value })).await;
        for step in ["setSecret", "testSecret"] {
            let (kind, message) = blocking(|| f.invoke(&arn, &token, step)).expect_err(step);
            assert_eq!(kind, "ConfusedDeputy", "{key} at {step}: {message}");
            assert!(message.contains(&format!("'{key}'")), "{key}: {message}");
        }
        assert_eq!(
            db.hashes_of(&user).await,
            hashes(&[&pw]),
            "{key}: nothing changed"
        );
        sm.clear_pending(&arn, &token).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_keys_round_trip_to_the_byte() {
    let db = Db::shared();
    let sm = Sm::from_env();
    let user = unique("roundtrip");
    let pw = unique("Pw-");
    // Without an admin the user changes its own password, which takes `+acl`.
    db.create_user(&user, &pw, &["~app:*", "+get", "+acl"])
        .await;
    // Numbers that a float would change or refuse, and keys out of alphabetical order.
    let text = format!(
        r#"{{"zeta":123456789012345678901234567890,"engine":"{}","host":"127.0.0.1","e":1E2,"port":{},"huge":1e400,"username":"{user}","password":"{pw}","alpha":[1.50,{{"b":2,"a":1}}]}}"#,
        db.engine(),
        db.port()
    );
    let arn = sm.create_raw("redis-roundtrip-", &text).await;
    let f = single_user(&sm, &[]);
    let token = sm.start_rotation(&arn).await;
    blocking(|| f.rotate(&arn, &token));
    let new = password_at(&sm, &arn, "AWSCURRENT").await;
    let stored = sm.raw_value(&arn, "AWSCURRENT").await.expect("current");
    assert_eq!(
        stored,
        text.replace(
            &format!(r#""password":"{pw}""#),
            &format!(r#""password":"{new}""#)
        )
    );
    db.login(&user, &new).await.expect("new password");
}

#[test]
fn a_bad_setting_is_reported_to_lambda_as_an_init_error() {
    let sm = Sm::from_env();
    let f = single_user(&sm, &[("TLS_MODE", "sometimes")]);
    let outcome = f.api.invoke(
        &event(
            "arn:aws:secretsmanager:us-east-1:1:secret:x",
            "t",
            "createSecret",
        ),
        Duration::from_secs(20),
    );
    let message = match outcome {
        Err(e) => e,
        Ok(_) => panic!("the function started with TLS_MODE=sometimes"),
    };
    assert!(
        message.contains("failed to initialise")
            && message.contains("InvalidConfiguration")
            && message.contains("TLS_MODE"),
        "{message}\n{}",
        f.output()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_step_logs_one_error_line_with_its_fields() {
    let db = Db::shared();
    let sm = Sm::from_env();
    let user = unique("oneerror");
    let pw = unique("Pw-");
    db.create_user(&user, &pw, &["~app:*", "+get"]).await;
    let arn = sm.create("redis-oneerror-", &db.secret(&user, &pw)).await;
    let f = single_user(&sm, &[]);
    let token = sm.start_rotation(&arn).await;
    let (kind, _) = blocking(|| f.invoke(&arn, &token, "fooSecret")).expect_err("bad step");
    assert_eq!(kind, "InvalidRequest");
    // The output arrives through a pipe: wait for the step's line, then a little longer for
    // any line printed after it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f.output().contains("step failed") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    let output = f.output();
    let errors: Vec<Value> = output
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["level"] == "ERROR")
        .collect();
    assert_eq!(errors.len(), 1, "one ERROR line per failed step:\n{output}");
    assert_eq!(errors[0]["span"]["secret_arn"], arn.as_str(), "{output}");
    assert_eq!(errors[0]["error_type"], "InvalidRequest", "{output}");
    // And one metrics record that counts the failure under its error type.
    let records: Vec<Value> = output
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l.get("_aws").is_some())
        .collect();
    assert_eq!(records.len(), 1, "{output}");
    test_support::emf::check(&records[0]).unwrap_or_else(|e| panic!("{e}: {}", records[0]));
    assert_eq!(
        (
            &records[0]["Failure"],
            &records[0]["ErrorType"],
            &records[0]["Step"]
        ),
        (
            &serde_json::json!(1),
            &serde_json::json!("InvalidRequest"),
            &serde_json::json!("invalid")
        )
    );
}
