//! Alternating users: the clone is an exact copy of the current user's rules, both users stay
//! valid, each rotation resets the one that is not current; the gate, the confused-deputy
//! checks and bad input.

use crate::common::*;
use rotation_core::Strategy::AlternatingUsers;
use serde_json::json;
use test_support::redis::Flavor;
use test_support::secrets::{Sm, rotate, step};
use test_support::unique;

on_redis_and_valkey!(
    full_rotation_creates_an_exact_clone,
    rotations_alternate_and_copy_the_current_user,
    an_existing_clone_is_reset_to_the_model,
    every_step_twice,
    tampered_pending_is_refused_and_nothing_changes,
    gate_errors_keep_the_templates_texts,
    database_down_is_a_network_error,
    wrong_engine_and_missing_masterarn_are_bad_secrets,
    usernames_with_spaces_are_refused_before_anything_is_stored,
    hostile_names_and_passwords_work,
    exclude_characters_are_honoured,
);

struct Case {
    sm: Sm,
    db: Db,
    user: String,
    password: String,
    arn: String,
}

async fn setup(db: Db, user: String, password: &str, rules: &[&str]) -> Case {
    let sm = Sm::from_env();
    db.create_user(&user, password, rules).await;
    let master = db.master_secret(&sm).await;
    let arn = sm
        .create(
            "redis-alt-",
            &db.secret_with_master(&user, password, &master),
        )
        .await;
    Case {
        sm,
        db,
        user,
        password: password.to_owned(),
        arn,
    }
}

async fn full_rotation_creates_an_exact_clone(db: Db) {
    let c = setup(db, unique("alt"), "First-pw-1", RICH_RULES).await;
    let clone = format!("{}_clone", c.user);
    let r = rotator(&c.sm, AlternatingUsers, &[]);
    let token = c.sm.start_rotation(&c.arn).await;
    rotate(&r, &c.arn, &token).await.expect("rotation");

    let current =
        c.sm.value(&c.arn, "AWSCURRENT", None)
            .await
            .expect("current");
    assert_eq!(current["username"], clone.as_str());
    assert_eq!(current["note"], json!({"kept": ["as", "is"]}));
    let new = current["password"].as_str().expect("pw");
    c.db.login(&clone, new).await.expect("the clone logs in");
    c.db.login(&c.user, &c.password)
        .await
        .expect("the original user stays valid");
    assert_eq!(
        c.db.rules_of(&clone).await,
        c.db.rules_of(&c.user).await,
        "same rules"
    );
    assert_eq!(
        c.db.hashes_of(&clone).await,
        hashes(&[new]),
        "the clone has one password"
    );
    assert_eq!(
        c.db.hashes_of(&c.user).await,
        hashes(&[&c.password]),
        "the original is untouched"
    );
}

async fn rotations_alternate_and_copy_the_current_user(db: Db) {
    let c = setup(db, unique("alt"), "First-pw-1", RICH_RULES).await;
    let clone = format!("{}_clone", c.user);
    let r = rotator(&c.sm, AlternatingUsers, &[]);
    let token = c.sm.start_rotation(&c.arn).await;
    rotate(&r, &c.arn, &token).await.expect("first rotation");
    let clone_pw = password_at(&c.sm, &c.arn, "AWSCURRENT").await;

    // The current user is now the clone, and it is the model: a rule given to it after the
    // first rotation must reach the original user in the second.
    c.db.admin(&["ACL", "SETUSER", &clone, "+hset", "~extra:*"])
        .await;
    let token = c.sm.start_rotation(&c.arn).await;
    rotate(&r, &c.arn, &token).await.expect("second rotation");
    let current =
        c.sm.value(&c.arn, "AWSCURRENT", None)
            .await
            .expect("current");
    assert_eq!(
        current["username"],
        c.user.as_str(),
        "back to the original user"
    );
    let user_pw = current["password"].as_str().expect("pw");
    c.db.login(&c.user, user_pw)
        .await
        .expect("original with its new password");
    assert!(
        c.db.login(&c.user, &c.password).await.is_err(),
        "its old password is gone"
    );
    c.db.login(&clone, &clone_pw)
        .await
        .expect("the clone stays valid");
    let rules = c.db.rules_of(&c.user).await.expect("rules");
    assert!(
        rules.contains("+hset") && rules.contains("extra:"),
        "{rules}"
    );
    assert_eq!(
        Some(rules),
        c.db.rules_of(&clone).await,
        "same rules after the second rotation"
    );

    let token = c.sm.start_rotation(&c.arn).await;
    rotate(&r, &c.arn, &token).await.expect("third rotation");
    assert_eq!(c.db.rules_of(&c.user).await, c.db.rules_of(&clone).await);
    c.db.login(&clone, &password_at(&c.sm, &c.arn, "AWSCURRENT").await)
        .await
        .expect("clone with its newest password");
    c.db.login(&c.user, user_pw)
        .await
        .expect("original stays valid");
}

async fn an_existing_clone_is_reset_to_the_model(db: Db) {
    let c = setup(db, unique("alt"), "First-pw-1", &["~app:*", "+get"]).await;
    let clone = format!("{}_clone", c.user);
    c.db.create_user(&clone, "Stale-pw-1", &["~*", "&*", "+@all", "(~x +del)"])
        .await;
    let r = rotator(&c.sm, AlternatingUsers, &[]);
    let token = c.sm.start_rotation(&c.arn).await;
    rotate(&r, &c.arn, &token).await.expect("rotation");
    assert_eq!(c.db.rules_of(&clone).await, c.db.rules_of(&c.user).await);
    assert!(
        c.db.login(&clone, "Stale-pw-1").await.is_err(),
        "the stale password is gone"
    );
}

async fn every_step_twice(db: Db) {
    let c = setup(db, unique("alt"), "First-pw-1", &["~app:*", "+@read"]).await;
    let r = rotator(&c.sm, AlternatingUsers, &[]);
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
    let clone = format!("{}_clone", c.user);
    let new = password_at(&c.sm, &c.arn, "AWSCURRENT").await;
    c.db.login(&clone, &new).await.expect("clone logs in");
    assert_eq!(c.db.hashes_of(&clone).await, hashes(&[&new]));
}

async fn tampered_pending_is_refused_and_nothing_changes(db: Db) {
    let c = setup(db, unique("alt"), "First-pw-1", &["~app:*", "+@read"]).await;
    let clone = format!("{}_clone", c.user);
    let victim = unique("victim");
    c.db.create_user(&victim, "Victim-pw-1", &["~v:*", "+get"])
        .await;
    let victim_rules = c.db.rules_of(&victim).await;
    let r = rotator(&c.sm, AlternatingUsers, &[]);
    let cases = [
        ("user", json!({"username": victim})),
        ("user (the current one)", json!({"username": c.user})),
        ("host", json!({"host": "localhost"})),
        ("port", json!({"port": c.db.port() + 1})),
    ];
    for (what, change) in cases {
        let token = c.sm.start_rotation(&c.arn).await;
        step(&r, &c.arn, &token, "createSecret")
            .await
            .expect("create");
        c.sm.edit_pending(&c.arn, &token, &change).await;
        let (kind, message) = failure(step(&r, &c.arn, &token, "setSecret").await, what);
        assert_eq!(kind, "ConfusedDeputy", "{what}: {message}");
        assert!(!c.db.exists(&clone).await, "{what}: no clone was created");
        assert_eq!(
            c.db.rules_of(&victim).await,
            victim_rules,
            "{what}: the other user is untouched"
        );
        assert_eq!(c.db.hashes_of(&victim).await, hashes(&["Victim-pw-1"]));
        assert_eq!(c.db.hashes_of(&c.user).await, hashes(&[&c.password]));
        abandon(&c.sm, &c.arn, &token).await;
    }
}

async fn gate_errors_keep_the_templates_texts(db: Db) {
    let c = setup(db, unique("alt"), "First-pw-1", &["+@read"]).await;
    let r = rotator(&c.sm, AlternatingUsers, &[]);
    let current =
        c.sm.version_of(&c.arn, "AWSCURRENT")
            .await
            .expect("current");
    let (kind, message) = failure(
        step(&r, &c.arn, "no-such-token", "setSecret").await,
        "unknown token",
    );
    assert!(
        message.contains("has no stage for rotation of secret"),
        "{message}"
    );
    assert_eq!(kind, "InvalidRequest");
    step(&r, &c.arn, &current, "setSecret")
        .await
        .expect("AWSCURRENT token: nothing to do");
    assert!(
        !c.db.exists(&format!("{}_clone", c.user)).await,
        "nothing was created"
    );

    let token = c.sm.start_rotation(&c.arn).await;
    c.sm.disable_rotation(&c.arn).await;
    let (kind, message) = failure(step(&r, &c.arn, &token, "createSecret").await, "disabled");
    assert_eq!(kind, "RotationNotEnabled", "{message}");
    assert!(
        message.ends_with("is not enabled for rotation"),
        "{message}"
    );
}

async fn database_down_is_a_network_error(db: Db) {
    let sm = Sm::from_env();
    // Credentials only (RDS-style): host and port come from the rotated secret, so the admin
    // secret agrees with it and the failure is the network's.
    let master = sm
        .create(
            "redis-master-",
            &json!({"username": db.server.admin_user, "password": db.server.admin_password}),
        )
        .await;
    let mut value = db.secret_with_master("app", "Some-pw-1", &master);
    value["port"] = json!(test_support::net::free_port());
    let arn = sm.create("redis-alt-down-", &value).await;
    let r = rotator(&sm, AlternatingUsers, &[("CONNECT_TIMEOUT_SECONDS", "2")]);
    let token = sm.start_rotation(&arn).await;
    step(&r, &arn, &token, "createSecret")
        .await
        .expect("create");
    let (kind, message) = failure(step(&r, &arn, &token, "setSecret").await, "down");
    assert_eq!(kind, "NetworkError", "{message}");
}

async fn wrong_engine_and_missing_masterarn_are_bad_secrets(db: Db) {
    let sm = Sm::from_env();
    let r = rotator(&sm, AlternatingUsers, &[]);
    let master = db.master_secret(&sm).await;
    let mut wrong = db.secret_with_master("app", "Some-pw-1", &master);
    wrong["engine"] = json!("postgres");
    let cases = [
        (wrong, "engine is 'postgres'"),
        (db.secret("app", "Some-pw-1"), "masterarn"),
    ];
    for (value, expected) in cases {
        let arn = sm.create("redis-alt-bad-", &value).await;
        let token = sm.start_rotation(&arn).await;
        let (kind, message) = failure(step(&r, &arn, &token, "createSecret").await, expected);
        assert_eq!(kind, "BadSecret", "{message}");
        assert!(message.contains(expected), "{message}");
        assert!(sm.value(&arn, "AWSPENDING", Some(&token)).await.is_none());
    }
}

async fn usernames_with_spaces_are_refused_before_anything_is_stored(db: Db) {
    let sm = Sm::from_env();
    let master = db.master_secret(&sm).await;
    let arn = sm
        .create(
            "redis-alt-space-",
            &db.secret_with_master("my app", "Some-pw-1", &master),
        )
        .await;
    let r = rotator(&sm, AlternatingUsers, &[]);
    let token = sm.start_rotation(&arn).await;
    let (kind, message) = failure(step(&r, &arn, &token, "createSecret").await, "space");
    assert_eq!(kind, "BadSecret", "{message}");
    assert!(message.contains("cannot contain spaces"), "{message}");
    assert!(sm.value(&arn, "AWSPENDING", Some(&token)).await.is_none());
}

async fn hostile_names_and_passwords_work(db: Db) {
    let user = format!("{}\"q'b\\s>x<y#z", unique("h"));
    let password = "it's a \"quoted\" \\ pass>word <with> #hash (~* +@all) nopass";
    let c = setup(db, user, password, &["~app:*", "+@read"]).await;
    let clone = format!("{}_clone", c.user);
    let r = rotator(&c.sm, AlternatingUsers, &[("EXCLUDE_CHARACTERS", "")]);
    for _ in 0..3 {
        let token = c.sm.start_rotation(&c.arn).await;
        rotate(&r, &c.arn, &token).await.expect("rotation");
        let current =
            c.sm.value(&c.arn, "AWSCURRENT", None)
                .await
                .expect("current");
        let (u, p) = (
            current["username"].as_str().expect("u"),
            current["password"].as_str().expect("p"),
        );
        c.db.login(u, p).await.expect("current logs in");
        assert_eq!(c.db.rules_of(&clone).await, c.db.rules_of(&c.user).await);
    }
    c.db.login(&c.db.server.admin_user, &c.db.server.admin_password)
        .await
        .expect("admin survived");
}

async fn exclude_characters_are_honoured(db: Db) {
    let c = setup(db, unique("alt"), "First-pw-1", &["+@read"]).await;
    let r = rotator(
        &c.sm,
        AlternatingUsers,
        &[
            ("EXCLUDE_CHARACTERS", "NOPQRSTUVWXYZ/@\"'\\"),
            ("PASSWORD_LENGTH", "24"),
        ],
    );
    let token = c.sm.start_rotation(&c.arn).await;
    rotate(&r, &c.arn, &token).await.expect("rotation");
    let pw = password_at(&c.sm, &c.arn, "AWSCURRENT").await;
    assert_eq!(pw.chars().count(), 24);
    assert!(
        !pw.chars().any(|ch| ('N'..='Z').contains(&ch)),
        "EXCLUDE_CHARACTERS"
    );
    c.db.login(&format!("{}_clone", c.user), &pw)
        .await
        .expect("logs in");
}

per_flavor!(the_admin_user_is_never_reset);

/// An application user named `<admin>_clone` would make the admin the user to reset.
async fn the_admin_user_is_never_reset(flavor: Flavor) {
    let db = Db::throwaway(flavor);
    let admin = db.server.admin_user.clone();
    let user = format!("{admin}_clone");
    let c = setup(db, user, "First-pw-1", &["+@read"]).await;
    let before = c.db.rules_of(&admin).await;
    let r = rotator(&c.sm, AlternatingUsers, &[]);
    let token = c.sm.start_rotation(&c.arn).await;
    let (kind, message) = failure(rotate(&r, &c.arn, &token).await, "admin as the alternate");
    assert_eq!(kind, "ConfusedDeputy", "{message}");
    assert!(
        message.starts_with("createSecret") && message.contains("admin user of the masterarn"),
        "refused before anything is stored: {message}"
    );
    assert_eq!(
        c.db.rules_of(&admin).await,
        before,
        "the admin is untouched"
    );
    c.db.login(&admin, &c.db.server.admin_password)
        .await
        .expect("admin logs in");
}
