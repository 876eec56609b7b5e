//! Single-user rotation: the dual-password window, `PREVIOUS_PASSWORD=discard`, with and
//! without `masterarn`, rule preservation, the gate, the confused-deputy checks and bad input.

use crate::common::*;
use rotation_core::Strategy::SingleUser;
use rotation_core::{Engine, SetPassword};
use rotation_redis::PreviousPassword;
use serde_json::json;
use std::time::{Duration, Instant};
use test_support::redis::{Flavor, Options};
use test_support::secrets::{Sm, rotate, step};
use test_support::unique;

on_redis_and_valkey!(
    full_rotation_keeps_the_previous_password_valid,
    the_next_rotation_closes_the_window,
    discard_is_a_hard_cut_over,
    every_step_twice,
    set_password_twice_leaves_the_same_two_passwords,
    tampered_pending_is_refused_and_nothing_changes,
    gate_errors_keep_the_templates_texts,
    database_down_is_a_network_error,
    connect_timeout_is_honoured,
    wrong_engine_is_a_bad_secret,
    usernames_with_spaces_are_refused_clearly,
    hostile_names_and_passwords_work,
    password_settings_are_honoured,
    every_other_rule_is_kept,
    without_masterarn_the_user_changes_its_own_password,
    without_masterarn_and_without_acl_rights_nothing_changes,
);

/// A user, its secret (with `masterarn` when `with_master`) and the emulator.
pub struct Case {
    pub sm: Sm,
    pub db: Db,
    pub user: String,
    pub password: String,
    pub arn: String,
}

pub async fn setup(db: Db, rules: &[&str], with_master: bool) -> Case {
    let sm = Sm::from_env();
    let user = unique("su");
    let password = unique("Pw-");
    db.create_user(&user, &password, rules).await;
    let value = if with_master {
        let master = db.master_secret(&sm).await;
        db.secret_with_master(&user, &password, &master)
    } else {
        db.secret(&user, &password)
    };
    let arn = sm.create("redis-su-", &value).await;
    Case {
        sm,
        db,
        user,
        password,
        arn,
    }
}

const APP_RULES: &[&str] = &["~app:*", "+@read", "+@write"];

async fn full_rotation_keeps_the_previous_password_valid(db: Db) {
    let c = setup(db, APP_RULES, true).await;
    let old_version =
        c.sm.version_of(&c.arn, "AWSCURRENT")
            .await
            .expect("current");
    let r = rotator(&c.sm, SingleUser, &[]);
    let token = c.sm.start_rotation(&c.arn).await;
    rotate(&r, &c.arn, &token).await.expect("rotation");

    c.sm.assert_rotated(&c.arn, &token, &old_version).await;
    let new = password_at(&c.sm, &c.arn, "AWSCURRENT").await;
    assert_ne!(new, c.password);
    assert_eq!(new.chars().count(), 32);
    c.db.login(&c.user, &new)
        .await
        .expect("the new password logs in");
    c.db.login(&c.user, &c.password)
        .await
        .expect("the previous password stays valid until the next rotation");
    assert_eq!(
        c.db.hashes_of(&c.user).await,
        hashes(&[&c.password, &new]),
        "exactly two passwords"
    );
    let value = c.sm.value(&c.arn, "AWSCURRENT", None).await.expect("value");
    assert_eq!(
        value["note"],
        json!({"kept": ["as", "is"]}),
        "unknown keys are kept"
    );
    assert_eq!(value["username"], c.user.as_str());
    assert!(value["masterarn"].is_string(), "masterarn is kept");
}

async fn the_next_rotation_closes_the_window(db: Db) {
    let c = setup(db, APP_RULES, true).await;
    let r = rotator(&c.sm, SingleUser, &[]);
    let mut passwords = vec![c.password.clone()];
    for _ in 0..2 {
        let token = c.sm.start_rotation(&c.arn).await;
        rotate(&r, &c.arn, &token).await.expect("rotation");
        passwords.push(password_at(&c.sm, &c.arn, "AWSCURRENT").await);
    }
    assert!(
        c.db.login(&c.user, &passwords[0]).await.is_err(),
        "the password from before the first rotation is gone after the second"
    );
    c.db.login(&c.user, &passwords[1])
        .await
        .expect("AWSPREVIOUS still logs in");
    c.db.login(&c.user, &passwords[2])
        .await
        .expect("AWSCURRENT logs in");
    assert_eq!(
        c.db.hashes_of(&c.user).await,
        hashes(&[&passwords[1], &passwords[2]])
    );
}

async fn discard_is_a_hard_cut_over(db: Db) {
    let c = setup(db, APP_RULES, true).await;
    let r = rotator(&c.sm, SingleUser, &[("PREVIOUS_PASSWORD", "discard")]);
    let token = c.sm.start_rotation(&c.arn).await;
    for s in ["createSecret", "setSecret"] {
        step(&r, &c.arn, &token, s).await.expect(s);
    }
    assert!(
        c.db.login(&c.user, &c.password).await.is_err(),
        "with PREVIOUS_PASSWORD=discard the old password is gone after setSecret"
    );
    for s in ["testSecret", "finishSecret"] {
        step(&r, &c.arn, &token, s).await.expect(s);
    }
    let new = password_at(&c.sm, &c.arn, "AWSCURRENT").await;
    c.db.login(&c.user, &new).await.expect("new password");
    assert_eq!(c.db.hashes_of(&c.user).await, hashes(&[&new]));
}

async fn every_step_twice(db: Db) {
    let c = setup(db, APP_RULES, true).await;
    let r = rotator(&c.sm, SingleUser, &[]);
    let token = c.sm.start_rotation(&c.arn).await;
    for s in [
        "createSecret",
        "createSecret",
        "setSecret",
        "setSecret",
        "testSecret",
        "testSecret",
        "finishSecret",
        "finishSecret",
    ] {
        step(&r, &c.arn, &token, s)
            .await
            .unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    let new = password_at(&c.sm, &c.arn, "AWSCURRENT").await;
    c.db.login(&c.user, &new).await.expect("logs in");
    assert_eq!(
        c.sm.version_of(&c.arn, "AWSCURRENT").await.as_deref(),
        Some(token.as_str())
    );
    assert_eq!(c.db.hashes_of(&c.user).await, hashes(&[&c.password, &new]));
}

/// The engine itself, without the protocol's "AWSPENDING already logs in" shortcut.
async fn set_password_twice_leaves_the_same_two_passwords(db: Db) {
    let c = setup(db, APP_RULES, false).await;
    let current = parse(&c.db.secret(&c.user, &c.password));
    let pending = parse(&c.db.secret(&c.user, "Next-pw-2 with spaces"));
    let admin = parse(&json!({
        "engine": c.db.engine(), "host": "127.0.0.1", "port": c.db.port(),
        "username": c.db.server.admin_user, "password": c.db.server.admin_password,
    }));
    let engine = engine(PreviousPassword::Keep);
    let request = || SetPassword {
        login: &current,
        current: &current,
        pending: &pending,
        admin: Some(&admin),
    };
    engine.set_password(request()).await.expect("first");
    let once = c.db.hashes_of(&c.user).await;
    // A password added by hand in between is removed as well: the result is exact.
    let extra = format!(">{}", unique("Extra-"));
    c.db.admin(&["ACL", "SETUSER", &c.user, &extra]).await;
    engine.set_password(request()).await.expect("second");
    assert_eq!(c.db.hashes_of(&c.user).await, once);
    assert_eq!(once, hashes(&[&c.password, "Next-pw-2 with spaces"]));
}

async fn tampered_pending_is_refused_and_nothing_changes(db: Db) {
    let c = setup(db, APP_RULES, true).await;
    let victim = unique("victim");
    c.db.create_user(&victim, "Victim-pw-1", APP_RULES).await;
    let victim_before = c.db.hashes_of(&victim).await;
    let r = rotator(&c.sm, SingleUser, &[]);
    let cases = [
        ("user", json!({"username": victim})),
        ("host", json!({"host": "localhost"})),
        ("port", json!({"port": c.db.port() + 1})),
    ];
    for (what, change) in cases {
        let token = c.sm.start_rotation(&c.arn).await;
        step(&r, &c.arn, &token, "createSecret")
            .await
            .expect("create");
        c.sm.edit_pending(&c.arn, &token, &change).await;
        let pending =
            c.sm.value(&c.arn, "AWSPENDING", Some(&token))
                .await
                .expect("pending");
        let (kind, message) = failure(step(&r, &c.arn, &token, "setSecret").await, what);
        assert_eq!(kind, "ConfusedDeputy", "{what}: {message}");
        assert!(message.contains(&c.arn), "{message}");
        assert_eq!(
            c.db.hashes_of(&c.user).await,
            hashes(&[&c.password]),
            "{what}: the user is untouched"
        );
        assert_eq!(
            c.db.hashes_of(&victim).await,
            victim_before,
            "{what}: the other user is untouched"
        );
        let tampered_pw = pending["password"].as_str().expect("pw");
        assert!(c.db.login(&victim, tampered_pw).await.is_err());
        abandon(&c.sm, &c.arn, &token).await;
    }
}

async fn gate_errors_keep_the_templates_texts(db: Db) {
    let c = setup(db, APP_RULES, true).await;
    let r = rotator(&c.sm, SingleUser, &[]);
    let current =
        c.sm.version_of(&c.arn, "AWSCURRENT")
            .await
            .expect("current");

    let (kind, message) = failure(
        step(&r, &c.arn, "no-such-token", "createSecret").await,
        "unknown token",
    );
    assert!(
        message.contains("has no stage for rotation of secret"),
        "{message}"
    );
    assert_eq!(kind, "InvalidRequest");

    step(&r, &c.arn, &current, "setSecret")
        .await
        .expect("a token that is AWSCURRENT is a no-op");
    assert_eq!(
        c.db.hashes_of(&c.user).await,
        hashes(&[&c.password]),
        "nothing changed"
    );

    let token = c.sm.start_rotation(&c.arn).await;
    let (_, message) = failure(step(&r, &c.arn, &token, "fooSecret").await, "bad step");
    assert!(
        message.starts_with("Invalid step parameter fooSecret for secret"),
        "{message}"
    );

    rotate(&r, &c.arn, &token).await.expect("rotation");
    let previous =
        c.sm.version_of(&c.arn, "AWSPREVIOUS")
            .await
            .expect("previous");
    let (_, message) = failure(
        step(&r, &c.arn, &previous, "setSecret").await,
        "not pending",
    );
    assert!(
        message.contains("not set as AWSPENDING for rotation of secret"),
        "{message}"
    );

    let token = c.sm.start_rotation(&c.arn).await;
    c.sm.disable_rotation(&c.arn).await;
    let (kind, message) = failure(step(&r, &c.arn, &token, "createSecret").await, "disabled");
    assert!(
        message.ends_with("is not enabled for rotation"),
        "{message}"
    );
    assert_eq!(kind, "RotationNotEnabled");
}

async fn database_down_is_a_network_error(db: Db) {
    let sm = Sm::from_env();
    let port = test_support::net::free_port();
    let mut value = db.secret("app", "Some-pw-1");
    value["port"] = json!(port);
    let arn = sm.create("redis-down-", &value).await;
    let r = rotator(&sm, SingleUser, &[("CONNECT_TIMEOUT_SECONDS", "2")]);
    let token = sm.start_rotation(&arn).await;
    step(&r, &arn, &token, "createSecret")
        .await
        .expect("create needs no database");
    let (kind, message) = failure(step(&r, &arn, &token, "setSecret").await, "down");
    assert_eq!(kind, "NetworkError", "{message}");
    assert!(
        message.contains(&format!("127.0.0.1:{port}")) && message.contains("AWSCURRENT"),
        "{message}"
    );
    assert!(
        message.contains("security groups"),
        "the message says what to check: {message}"
    );
}

/// A port that accepts connections and never answers: only the connect timeout ends the wait.
async fn connect_timeout_is_honoured(db: Db) {
    let sm = Sm::from_env();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let mut value = db.secret("app", "Some-pw-1");
    value["port"] = json!(port);
    let arn = sm.create("redis-silent-", &value).await;
    let r = rotator(&sm, SingleUser, &[("CONNECT_TIMEOUT_SECONDS", "1")]);
    let token = sm.start_rotation(&arn).await;
    step(&r, &arn, &token, "createSecret")
        .await
        .expect("create");
    let started = Instant::now();
    let (kind, message) = failure(step(&r, &arn, &token, "setSecret").await, "silent");
    assert_eq!(kind, "NetworkError", "{message}");
    assert!(message.contains("CONNECT_TIMEOUT_SECONDS"), "{message}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    drop(silent);
}

async fn wrong_engine_is_a_bad_secret(db: Db) {
    let sm = Sm::from_env();
    let mut value = db.secret("app", "Some-pw-1");
    value["engine"] = json!("mysql");
    let arn = sm.create("redis-engine-", &value).await;
    let r = rotator(&sm, SingleUser, &[]);
    let token = sm.start_rotation(&arn).await;
    let (kind, message) = failure(step(&r, &arn, &token, "createSecret").await, "engine");
    assert_eq!(kind, "BadSecret", "{message}");
    assert!(
        message.contains("engine is 'mysql'") && message.contains("redis, valkey"),
        "{message}"
    );
    assert!(
        sm.value(&arn, "AWSPENDING", Some(&token)).await.is_none(),
        "nothing is stored"
    );
}

async fn usernames_with_spaces_are_refused_clearly(db: Db) {
    let sm = Sm::from_env();
    let master = db.master_secret(&sm).await;
    let arn = sm
        .create(
            "redis-space-",
            &db.secret_with_master("my app", "Some-pw-1", &master),
        )
        .await;
    let r = rotator(&sm, SingleUser, &[]);
    let token = sm.start_rotation(&arn).await;
    step(&r, &arn, &token, "createSecret")
        .await
        .expect("create");
    let (kind, message) = failure(step(&r, &arn, &token, "setSecret").await, "space");
    assert_eq!(kind, "BadSecret", "{message}");
    assert!(message.contains("cannot contain spaces"), "{message}");
}

async fn hostile_names_and_passwords_work(db: Db) {
    let sm = Sm::from_env();
    let user = format!("{}\"q'b\\s>x<y#z(~*", unique("h"));
    let password = "it's a \"quoted\" \\ pass>word <with> #hash (~* +@all) nopass".to_owned();
    db.create_user(&user, &password, APP_RULES).await;
    db.login(&user, &password).await.expect("setup login");
    let before = db.rules_of(&user).await;
    let master = db.master_secret(&sm).await;
    let arn = sm
        .create(
            "redis-hostile-",
            &db.secret_with_master(&user, &password, &master),
        )
        .await;
    // No exclusions: the generated passwords may hold any punctuation.
    let r = rotator(&sm, SingleUser, &[("EXCLUDE_CHARACTERS", "")]);
    let mut previous = password;
    for _ in 0..3 {
        let token = sm.start_rotation(&arn).await;
        rotate(&r, &arn, &token).await.expect("rotation");
        let new = password_at(&sm, &arn, "AWSCURRENT").await;
        db.login(&user, &new).await.expect("new password works");
        db.login(&user, &previous)
            .await
            .expect("previous password works");
        previous = new;
    }
    assert_eq!(
        db.rules_of(&user).await,
        before,
        "no password was read as a rule"
    );
    db.login(&db.server.admin_user, &db.server.admin_password)
        .await
        .expect("admin survived");
}

async fn password_settings_are_honoured(db: Db) {
    let c = setup(db, APP_RULES, true).await;
    let r = rotator(
        &c.sm,
        SingleUser,
        &[
            ("EXCLUDE_CHARACTERS", "abcdefghijklm/@\"'\\"),
            ("PASSWORD_LENGTH", "20"),
        ],
    );
    let token = c.sm.start_rotation(&c.arn).await;
    rotate(&r, &c.arn, &token).await.expect("rotation");
    let pw = password_at(&c.sm, &c.arn, "AWSCURRENT").await;
    assert_eq!(pw.chars().count(), 20, "PASSWORD_LENGTH");
    assert!(
        !pw.chars().any(|ch| ('a'..='m').contains(&ch)),
        "EXCLUDE_CHARACTERS"
    );
    c.db.login(&c.user, &pw).await.expect("logs in");

    let r = rotator(&c.sm, SingleUser, &[]);
    for _ in 0..3 {
        let token = c.sm.start_rotation(&c.arn).await;
        rotate(&r, &c.arn, &token).await.expect("rotation");
        let pw = password_at(&c.sm, &c.arn, "AWSCURRENT").await;
        assert!(
            !pw.contains(['/', '@', '"', '\'', '\\']),
            "default EXCLUDE_CHARACTERS"
        );
    }
}

async fn every_other_rule_is_kept(db: Db) {
    let c = setup(db, RICH_RULES, true).await;
    let before = c.db.rules_of(&c.user).await.expect("user");
    assert!(
        before.contains("sel:"),
        "the test user has a selector: {before}"
    );
    let r = rotator(&c.sm, SingleUser, &[]);
    for _ in 0..2 {
        let token = c.sm.start_rotation(&c.arn).await;
        rotate(&r, &c.arn, &token).await.expect("rotation");
        assert_eq!(
            c.db.rules_of(&c.user).await.as_deref(),
            Some(before.as_str())
        );
    }
}

async fn without_masterarn_the_user_changes_its_own_password(db: Db) {
    let rules = ["~app:*", "+@read", "+@write", "+acl"];
    let c = setup(db, &rules, false).await;
    let before = c.db.rules_of(&c.user).await;
    let r = rotator(&c.sm, SingleUser, &[]);
    let token = c.sm.start_rotation(&c.arn).await;
    rotate(&r, &c.arn, &token)
        .await
        .expect("rotation with the user's own login");
    let new = password_at(&c.sm, &c.arn, "AWSCURRENT").await;
    c.db.login(&c.user, &new).await.expect("new");
    c.db.login(&c.user, &c.password).await.expect("previous");
    assert_eq!(c.db.rules_of(&c.user).await, before);
}

async fn without_masterarn_and_without_acl_rights_nothing_changes(db: Db) {
    let c = setup(db, APP_RULES, false).await;
    let r = rotator(&c.sm, SingleUser, &[]);
    let token = c.sm.start_rotation(&c.arn).await;
    step(&r, &c.arn, &token, "createSecret")
        .await
        .expect("create");
    let (kind, message) = failure(step(&r, &c.arn, &token, "setSecret").await, "no +acl");
    assert_eq!(kind, "PermissionError", "{message}");
    assert!(
        message.contains("NOPERM") && message.contains(&c.user),
        "{message}"
    );
    assert_eq!(c.db.hashes_of(&c.user).await, hashes(&[&c.password]));
}

per_flavor!(legacy_requirepass_default_user);

/// The `requirepass` setup: the `default` user with one password, no admin secret.
async fn legacy_requirepass_default_user(flavor: Flavor) {
    let db = Db::start(Options {
        flavor,
        requirepass: true,
        ..Options::default()
    });
    let sm = Sm::from_env();
    let first = db.server.admin_password.clone();
    let arn = sm
        .create("redis-default-", &db.secret("default", &first))
        .await;
    let r = rotator(&sm, SingleUser, &[]);
    let token = sm.start_rotation(&arn).await;
    rotate(&r, &arn, &token)
        .await
        .expect("rotation of the default user");
    let second = password_at(&sm, &arn, "AWSCURRENT").await;
    db.login("default", &second).await.expect("new");
    db.login("default", &first)
        .await
        .expect("previous, until the next rotation");
    let token = sm.start_rotation(&arn).await;
    rotate(&r, &arn, &token).await.expect("second rotation");
    assert!(
        db.login("default", &first).await.is_err(),
        "gone after the next rotation"
    );
    db.login("default", &password_at(&sm, &arn, "AWSCURRENT").await)
        .await
        .expect("newest");
}
