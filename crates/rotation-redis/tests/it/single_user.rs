//! Single-user rotation, what only Redis has: the dual-password window of
//! `PREVIOUS_PASSWORD=keep` and the hard cut-over of `discard`, the exact pair of passwords that
//! `ACL SETUSER` leaves, every other ACL rule kept, a user with `+acl` changing its own password
//! without `masterarn`, and the legacy `requirepass` setup. The engine-agnostic scenarios are in
//! the conformance suite.

use crate::common::*;
use rotation_core::Strategy::SingleUser;
use rotation_core::{Engine, SetPassword};
use rotation_redis::PreviousPassword;
use serde_json::json;
use test_support::redis::{Flavor, Options};
use test_support::secrets::{Sm, step};
use test_support::unique;

on_redis_and_valkey!(
    the_next_rotation_closes_the_window,
    discard_is_a_hard_cut_over,
    set_password_twice_leaves_the_same_two_passwords,
    every_other_rule_is_kept,
    without_masterarn_the_user_changes_its_own_password_with_acl_rights,
);

per_flavor!(legacy_requirepass_default_user);

const APP_RULES: &[&str] = &["~app:*", "+@read", "+@write"];

/// A password that would read as ACL rules (`nopass`, `+@all`, a selector) if it ever reached
/// the server unquoted or unprefixed.
const RULE_LIKE_PASSWORD: &str = "it's a \"quoted\" \\ pass>word <with> #hash (~* +@all) nopass";

async fn app_user(db: Db, password: &str, rules: &[&str], with_master: bool) -> Case {
    Case::new(db, unique("su"), password, rules, with_master).await
}

/// Two rotations with the default `PREVIOUS_PASSWORD=keep`: the first leaves exactly the
/// password before it and the new one, the second drops the older. Returns the two new ones.
async fn window(db: &Db, sm: &Sm, arn: &str, user: &str, first: &str) -> (String, String) {
    let r = rotator(sm, SingleUser, &[]);
    let second = rotate_once(sm, &r, arn).await;
    db.login(user, &second)
        .await
        .expect("the new password logs in");
    db.login(user, first)
        .await
        .expect("the previous password stays valid until the next rotation");
    assert_eq!(
        db.hashes_of(user).await,
        hashes(&[first, &second]),
        "exactly two passwords"
    );
    let third = rotate_once(sm, &r, arn).await;
    assert!(
        db.login(user, first).await.is_err(),
        "the password from before the first rotation is gone after the second"
    );
    db.login(user, &second)
        .await
        .expect("AWSPREVIOUS still logs in");
    db.login(user, &third).await.expect("AWSCURRENT logs in");
    (second, third)
}

async fn the_next_rotation_closes_the_window(db: Db) {
    let c = app_user(db, &unique("Pw-"), APP_RULES, true).await;
    let (second, third) = window(&c.db, &c.sm, &c.arn, &c.user, &c.password).await;
    assert_eq!(c.db.hashes_of(&c.user).await, hashes(&[&second, &third]));
}

async fn discard_is_a_hard_cut_over(db: Db) {
    let c = app_user(db, &unique("Pw-"), APP_RULES, true).await;
    let r = rotator(&c.sm, SingleUser, &[("PREVIOUS_PASSWORD", "discard")]);
    let token = start_and_create(&c.sm, &r, &c.arn).await;
    step(&r, &c.arn, &token, "setSecret")
        .await
        .expect("setSecret");
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

/// The engine itself, without the protocol's "AWSPENDING already logs in" shortcut.
async fn set_password_twice_leaves_the_same_two_passwords(db: Db) {
    let c = app_user(db, &unique("Pw-"), APP_RULES, false).await;
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

/// Keys, channels, commands, a flag and a selector survive rotations, and no password (the
/// first is rule-like, the generated ones may hold any punctuation) is read as a rule.
async fn every_other_rule_is_kept(db: Db) {
    let c = app_user(db, RULE_LIKE_PASSWORD, RICH_RULES, true).await;
    let before = c.db.rules_of(&c.user).await.expect("user");
    assert!(
        before.contains("sel:"),
        "the test user has a selector: {before}"
    );
    let r = rotator(&c.sm, SingleUser, &[("EXCLUDE_CHARACTERS", "")]);
    for _ in 0..2 {
        let new = rotate_once(&c.sm, &r, &c.arn).await;
        c.db.login(&c.user, &new).await.expect("new password");
        assert_eq!(
            c.db.rules_of(&c.user).await.as_deref(),
            Some(before.as_str())
        );
    }
}

/// Without `masterarn` the user logs in as itself to change its password: refused (and nothing
/// changed) without `+acl`, done with it, every other rule kept.
async fn without_masterarn_the_user_changes_its_own_password_with_acl_rights(db: Db) {
    let c = app_user(db, &unique("Pw-"), APP_RULES, false).await;
    let r = rotator(&c.sm, SingleUser, &[]);
    let token = start_and_create(&c.sm, &r, &c.arn).await;
    let (kind, message) = failure(step(&r, &c.arn, &token, "setSecret").await, "no +acl");
    assert_eq!(kind, "PermissionError", "{message}");
    assert!(
        message.contains("NOPERM") && message.contains(&c.user),
        "{message}"
    );
    assert_eq!(c.db.hashes_of(&c.user).await, hashes(&[&c.password]));

    c.db.admin(&["ACL", "SETUSER", &c.user, "+acl"]).await;
    let before = c.db.rules_of(&c.user).await;
    for s in ["setSecret", "testSecret", "finishSecret"] {
        step(&r, &c.arn, &token, s)
            .await
            .unwrap_or_else(|e| panic!("{s} with the user's own login: {e}"));
    }
    let new = password_at(&c.sm, &c.arn, "AWSCURRENT").await;
    c.db.login(&c.user, &new).await.expect("new");
    c.db.login(&c.user, &c.password).await.expect("previous");
    assert_eq!(c.db.rules_of(&c.user).await, before);
}

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
    window(&db, &sm, &arn, "default", &first).await;
}
