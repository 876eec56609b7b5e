//! The built `bootstrap` binaries, run through a Lambda Runtime API exactly as Lambda runs
//! them: full rotations, failing steps, a crash and retry in a fresh process, and no password
//! in anything they print.

use crate::common::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use test_support::function_binary;
use test_support::lambda::Function;
use test_support::secrets::Sm;
use test_support::unique;

on_redis_and_valkey!(
    single_user_binary_rotates_and_prints_no_password,
    alternating_binary_rotates_and_prints_no_password,
    single_user_retry_in_a_fresh_process_after_a_kill,
    alternating_retry_in_a_fresh_process_after_a_kill,
);

fn assert_no_password(output: &str, passwords: &[&str]) {
    for p in passwords {
        assert!(
            !output.contains(p),
            "a password appears in the function's output:\n{output}"
        );
    }
}

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// Log lines that are JSON objects.
fn json_lines(output: &str) -> Vec<Value> {
    output
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// A field of a log line, at the top or among the fields of the line's span.
fn field<'a>(line: &'a Value, name: &str) -> &'a Value {
    match &line[name] {
        Value::Null => &line["span"][name],
        v => v,
    }
}

/// A failing database step in the same process: the admin secret's password is wrong.
async fn failing_admin_step(db: &Db, sm: &Sm, f: &Function, wrong_admin: &str) {
    let user = unique("other");
    db.create_user(&user, "Other-pw-1", &["+@read"]).await;
    let master = db
        .master_secret_for(sm, &db.server.admin_user, wrong_admin)
        .await;
    let arn = sm
        .create(
            "redis-bin-bad-",
            &db.secret_with_master(&user, "Other-pw-1", &master),
        )
        .await;
    let token = sm.start_rotation(&arn).await;
    blocking(|| f.invoke(&arn, &token, "createSecret").expect_ok("create"));
    let (kind, message) =
        blocking(|| f.invoke(&arn, &token, "setSecret")).expect_err("wrong admin password");
    assert_eq!(kind, "AuthenticationError", "{message}");
    assert!(message.contains("admin (masterarn)"), "{message}");
}

async fn single_user_binary_rotates_and_prints_no_password(db: Db) {
    let sm = Sm::from_env();
    let user = unique("bin");
    let old = unique("Old-pw-");
    db.create_user(&user, &old, &["~app:*", "+@read"]).await;
    let master = db.master_secret(&sm).await;
    let arn = sm
        .create("redis-bin-", &db.secret_with_master(&user, &old, &master))
        .await;
    let f = Function::spawn(
        &function_binary("redis-single-user"),
        &sm.url,
        &[("LOG_LEVEL", "debug")],
    );
    let token = sm.start_rotation(&arn).await;
    blocking(|| f.rotate(&arn, &token));
    let new = password_at(&sm, &arn, "AWSCURRENT").await;
    db.login(&user, &new).await.expect("new password");
    db.login(&user, &old).await.expect("previous password");

    // A step refused before any change, in the same process.
    let token2 = sm.start_rotation(&arn).await;
    blocking(|| f.invoke(&arn, &token2, "createSecret").expect_ok("create"));
    let mut pending = sm
        .value(&arn, "AWSPENDING", Some(&token2))
        .await
        .expect("pending");
    let third = pending["password"].as_str().expect("pw").to_owned();
    pending["username"] = json!(db.server.admin_user);
    sm.tamper_pending(&arn, &token2, &pending).await;
    let (kind, message) = blocking(|| f.invoke(&arn, &token2, "setSecret")).expect_err("tampered");
    assert_eq!(kind, "ConfusedDeputy", "{message}");

    let wrong_admin = unique("Wrong-admin-pw-");
    failing_admin_step(&db, &sm, &f, &wrong_admin).await;

    let output = f.output();
    assert_no_password(
        &output,
        &[
            &old,
            &new,
            &third,
            &db.server.admin_password,
            &wrong_admin,
            "Other-pw-1",
        ],
    );
    let lines = json_lines(&output);
    let finished = lines
        .iter()
        .find(|l| l["message"] == "step finished" && field(l, "step") == "finishSecret")
        .unwrap_or_else(|| panic!("a 'step finished' line for finishSecret:\n{output}"));
    assert_eq!(field(finished, "secret_arn"), arn.as_str());
    assert_eq!(field(finished, "strategy"), "single-user");
    assert!(
        output.contains("offers no TLS"),
        "the plaintext fallback is logged:\n{output}"
    );
    assert!(
        output.contains("lives only in its memory"),
        "the missing ACL file is logged:\n{output}"
    );
}

async fn alternating_binary_rotates_and_prints_no_password(db: Db) {
    let sm = Sm::from_env();
    let user = unique("binalt");
    let old = unique("Old-pw-");
    db.create_user(&user, &old, RICH_RULES).await;
    let master = db.master_secret(&sm).await;
    let arn = sm
        .create(
            "redis-bin-alt-",
            &db.secret_with_master(&user, &old, &master),
        )
        .await;
    let f = Function::spawn(
        &function_binary("redis-alternating-users"),
        &sm.url,
        &[("LOG_LEVEL", "debug")],
    );
    let mut passwords = vec![old.clone()];
    for _ in 0..2 {
        let token = sm.start_rotation(&arn).await;
        blocking(|| f.rotate(&arn, &token));
        let current = sm.value(&arn, "AWSCURRENT", None).await.expect("current");
        let (u, p) = (
            current["username"].as_str().expect("u"),
            current["password"].as_str().expect("p"),
        );
        db.login(u, p).await.expect("current logs in");
        passwords.push(p.to_owned());
    }
    assert_eq!(
        db.rules_of(&user).await,
        db.rules_of(&format!("{user}_clone")).await
    );

    let wrong_admin = unique("Wrong-admin-pw-");
    failing_admin_step(&db, &sm, &f, &wrong_admin).await;

    let output = f.output();
    let mut secrets: Vec<&str> = passwords.iter().map(String::as_str).collect();
    secrets.extend([
        db.server.admin_password.as_str(),
        wrong_admin.as_str(),
        "Other-pw-1",
    ]);
    assert_no_password(&output, &secrets);
    assert!(
        json_lines(&output)
            .iter()
            .any(|l| l["message"] == "step finished" && field(l, "strategy") == "alternating-users"),
        "{output}"
    );
}

async fn single_user_retry_in_a_fresh_process_after_a_kill(db: Db) {
    let sm = Sm::from_env();
    let user = unique("kill");
    let old = unique("Old-pw-");
    db.create_user(&user, &old, &["+@read"]).await;
    let master = db.master_secret(&sm).await;
    let arn = sm
        .create("redis-kill-", &db.secret_with_master(&user, &old, &master))
        .await;
    let binary = function_binary("redis-single-user");
    let token = sm.start_rotation(&arn).await;

    let mut first = Function::spawn(&binary, &sm.url, &[]);
    blocking(|| {
        first
            .invoke(&arn, &token, "createSecret")
            .expect_ok("create");
        first.invoke(&arn, &token, "setSecret").expect_ok("set");
    });
    first.kill();
    let first_output = first.output();

    let second = Function::spawn(&binary, &sm.url, &[]);
    blocking(|| {
        for s in ["setSecret", "testSecret", "finishSecret"] {
            second.invoke(&arn, &token, s).expect_ok(s);
        }
    });
    let new = password_at(&sm, &arn, "AWSCURRENT").await;
    db.login(&user, &new)
        .await
        .expect("new password after the retry");
    assert_eq!(db.hashes_of(&user).await, hashes(&[&old, &new]));
    assert_no_password(
        &(first_output + &second.output()),
        &[&old, &new, &db.server.admin_password],
    );
}

async fn alternating_retry_in_a_fresh_process_after_a_kill(db: Db) {
    let sm = Sm::from_env();
    let user = unique("killalt");
    let old = unique("Old-pw-");
    db.create_user(&user, &old, RICH_RULES).await;
    let master = db.master_secret(&sm).await;
    let arn = sm
        .create(
            "redis-kill-alt-",
            &db.secret_with_master(&user, &old, &master),
        )
        .await;
    let binary = function_binary("redis-alternating-users");
    let token = sm.start_rotation(&arn).await;

    let mut first = Function::spawn(&binary, &sm.url, &[]);
    blocking(|| {
        first
            .invoke(&arn, &token, "createSecret")
            .expect_ok("create");
        first.invoke(&arn, &token, "setSecret").expect_ok("set");
    });
    first.kill();

    let second = Function::spawn(&binary, &sm.url, &[]);
    blocking(|| {
        for s in ["setSecret", "testSecret", "finishSecret"] {
            second.invoke(&arn, &token, s).expect_ok(s);
        }
    });
    let clone = format!("{user}_clone");
    db.login(&clone, &password_at(&sm, &arn, "AWSCURRENT").await)
        .await
        .expect("clone after the retry");
    assert_eq!(db.rules_of(&clone).await, db.rules_of(&user).await);
}

/// A bad `PREVIOUS_PASSWORD` stops the function at start, naming the variable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_previous_password_setting_stops_the_function() {
    let sm = Sm::from_env();
    let mut f = Function::spawn(
        &function_binary("redis-single-user"),
        &sm.url,
        &[("PREVIOUS_PASSWORD", "sometimes")],
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while (f.running() || !f.output().contains("PREVIOUS_PASSWORD")) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!f.running(), "the function should stop");
    let output = f.output();
    assert!(
        output.contains("PREVIOUS_PASSWORD") && output.contains("keep, discard"),
        "{output}"
    );
}
