//! Alternating users, what only Redis has: the clone is an exact copy of the current user's ACL
//! rules with one password, the model is whichever user is current, and a stale clone is reset.
//! The engine-agnostic scenarios are in the conformance suite.

use crate::common::*;
use rotation_core::Strategy::AlternatingUsers;
use test_support::unique;

on_redis_and_valkey!(
    rotations_alternate_and_copy_the_current_user,
    an_existing_clone_is_reset_to_the_model,
);

async fn rotations_alternate_and_copy_the_current_user(db: Db) {
    let c = Case::new(db, unique("alt"), "First-pw-1", RICH_RULES, true).await;
    let clone = format!("{}_clone", c.user);
    let r = rotator(&c.sm, AlternatingUsers, &[]);
    let clone_pw = rotate_once(&c.sm, &r, &c.arn).await;
    assert_eq!(
        c.db.rules_of(&clone).await,
        c.db.rules_of(&c.user).await,
        "the clone has the same rules"
    );
    assert_eq!(
        c.db.hashes_of(&clone).await,
        hashes(&[&clone_pw]),
        "the clone has one password"
    );
    assert_eq!(
        c.db.hashes_of(&c.user).await,
        hashes(&[&c.password]),
        "the original is untouched"
    );

    // The current user is now the clone, and it is the model: a rule given to it after the
    // first rotation must reach the original user in the second.
    c.db.admin(&["ACL", "SETUSER", &clone, "+hset", "~extra:*"])
        .await;
    let user_pw = rotate_once(&c.sm, &r, &c.arn).await;
    c.db.login(&c.user, &user_pw)
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

    let newest = rotate_once(&c.sm, &r, &c.arn).await;
    assert_eq!(c.db.rules_of(&c.user).await, c.db.rules_of(&clone).await);
    c.db.login(&clone, &newest)
        .await
        .expect("clone with its newest password");
    c.db.login(&c.user, &user_pw)
        .await
        .expect("original stays valid");
}

async fn an_existing_clone_is_reset_to_the_model(db: Db) {
    let c = Case::new(db, unique("alt"), "First-pw-1", &["~app:*", "+get"], true).await;
    let clone = format!("{}_clone", c.user);
    c.db.create_user(&clone, "Stale-pw-1", &["~*", "&*", "+@all", "(~x +del)"])
        .await;
    rotate_once(&c.sm, &rotator(&c.sm, AlternatingUsers, &[]), &c.arn).await;
    assert_eq!(c.db.rules_of(&clone).await, c.db.rules_of(&c.user).await);
    assert!(
        c.db.login(&clone, "Stale-pw-1").await.is_err(),
        "the stale password is gone"
    );
}
