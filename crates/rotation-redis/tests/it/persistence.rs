//! Persistence: on a server with an ACL file, every change is saved (`ACL SAVE`), so a restart
//! keeps the new passwords. Also the least-privileged admin user that the README documents.

use crate::common::*;
use rotation_core::Strategy::{AlternatingUsers, SingleUser};
use test_support::redis::{Flavor, Options};
use test_support::secrets::{Sm, rotate, step};
use test_support::unique;

per_flavor!(
    single_user_change_survives_a_restart,
    alternating_change_survives_a_restart,
    the_documented_admin_rules_are_enough,
    acl_rights_alone_are_enough_without_masterarn,
    a_failed_acl_save_is_completed_by_the_retry,
);

/// The rules of the README's rotation admin (after `reset`): the ACL commands it uses, and
/// `CONFIG GET` to find out whether the server has an ACL file.
pub const ADMIN_RULES: &[&str] = &["+acl|setuser", "+acl|list", "+acl|save", "+config|get"];

fn with_aclfile(flavor: Flavor) -> Db {
    Db::start(Options {
        flavor,
        aclfile: true,
        ..Options::default()
    })
}

fn restart(db: &mut Db) {
    db.server
        .restart()
        .unwrap_or_else(|e| panic!("restart: {e}\n{}", db.server.log()));
}

async fn single_user_change_survives_a_restart(flavor: Flavor) {
    let mut db = with_aclfile(flavor);
    let sm = Sm::from_env();
    let user = unique("keep");
    db.create_user(&user, "First-pw-1", &["~app:*", "+@read"])
        .await;
    // A user created by hand is in memory only; the rotation's ACL SAVE writes it too.
    let master = db.master_secret(&sm).await;
    let arn = sm
        .create(
            "redis-acl-",
            &db.secret_with_master(&user, "First-pw-1", &master),
        )
        .await;
    let r = rotator(&sm, SingleUser, &[]);
    let token = sm.start_rotation(&arn).await;
    rotate(&r, &arn, &token).await.expect("rotation");
    let new = password_at(&sm, &arn, "AWSCURRENT").await;
    let saved =
        std::fs::read_to_string(db.server.aclfile().expect("aclfile")).expect("read aclfile");
    assert!(
        saved.contains(&hash(&new)),
        "the ACL file holds the new password's hash:\n{saved}"
    );
    assert!(!saved.contains(&new), "the ACL file holds no plaintext");

    restart(&mut db);
    db.login(&user, &new)
        .await
        .expect("the new password survives a restart");
    db.login(&user, "First-pw-1")
        .await
        .expect("and so does the previous one, until the next rotation");
}

async fn alternating_change_survives_a_restart(flavor: Flavor) {
    let mut db = with_aclfile(flavor);
    let sm = Sm::from_env();
    let user = unique("alt");
    db.create_user(&user, "First-pw-1", RICH_RULES).await;
    let master = db.master_secret(&sm).await;
    let arn = sm
        .create(
            "redis-acl-alt-",
            &db.secret_with_master(&user, "First-pw-1", &master),
        )
        .await;
    let r = rotator(&sm, AlternatingUsers, &[]);
    let token = sm.start_rotation(&arn).await;
    rotate(&r, &arn, &token).await.expect("rotation");
    let clone = format!("{user}_clone");
    let new = password_at(&sm, &arn, "AWSCURRENT").await;

    restart(&mut db);
    db.login(&clone, &new)
        .await
        .expect("the clone survives a restart");
    // Compared after the restart: loading the file may list equivalent rules in another order.
    assert_eq!(
        db.rules_of(&clone).await,
        db.rules_of(&user).await,
        "with the same rules"
    );
    db.login(&user, "First-pw-1")
        .await
        .expect("the original too");
}

async fn the_documented_admin_rules_are_enough(flavor: Flavor) {
    let mut db = with_aclfile(flavor);
    let sm = Sm::from_env();
    let admin = unique("rotation-admin");
    let admin_pw = unique("Admin-pw-");
    db.create_user(&admin, &admin_pw, ADMIN_RULES).await;
    let master = db.master_secret_for(&sm, &admin, &admin_pw).await;

    let single = unique("su");
    db.create_user(&single, "Single-pw-1", &["~app:*", "+@read"])
        .await;
    let single_arn = sm
        .create(
            "redis-min-",
            &db.secret_with_master(&single, "Single-pw-1", &master),
        )
        .await;
    let token = sm.start_rotation(&single_arn).await;
    rotate(&rotator(&sm, SingleUser, &[]), &single_arn, &token)
        .await
        .expect("single user with the documented admin");

    let alt = unique("alt");
    db.create_user(&alt, "Alt-pw-1", RICH_RULES).await;
    let alt_arn = sm
        .create(
            "redis-min-alt-",
            &db.secret_with_master(&alt, "Alt-pw-1", &master),
        )
        .await;
    let token = sm.start_rotation(&alt_arn).await;
    rotate(&rotator(&sm, AlternatingUsers, &[]), &alt_arn, &token)
        .await
        .expect("alternating users with the documented admin");

    restart(&mut db);
    db.login(&single, &password_at(&sm, &single_arn, "AWSCURRENT").await)
        .await
        .expect("single user after a restart");
    db.login(
        &format!("{alt}_clone"),
        &password_at(&sm, &alt_arn, "AWSCURRENT").await,
    )
    .await
    .expect("clone after a restart");
}

/// A user allowed `ACL` but not `CONFIG GET` rotates itself; `ACL SAVE` still happens.
async fn acl_rights_alone_are_enough_without_masterarn(flavor: Flavor) {
    let mut db = with_aclfile(flavor);
    let sm = Sm::from_env();
    let user = unique("self");
    db.create_user(&user, "First-pw-1", &["~app:*", "+@read", "+acl"])
        .await;
    let arn = sm
        .create("redis-self-", &db.secret(&user, "First-pw-1"))
        .await;
    let token = sm.start_rotation(&arn).await;
    rotate(&rotator(&sm, SingleUser, &[]), &arn, &token)
        .await
        .expect("rotation with the user's own login");
    let new = password_at(&sm, &arn, "AWSCURRENT").await;
    restart(&mut db);
    db.login(&user, &new)
        .await
        .expect("saved without CONFIG GET");
}

/// `ACL SETUSER` succeeds but `ACL SAVE` is refused: setSecret fails, and its retry (when
/// AWSPENDING already logs in) repeats the change so the save happens, surviving a restart.
async fn a_failed_acl_save_is_completed_by_the_retry(flavor: Flavor) {
    let mut db = with_aclfile(flavor);
    let sm = Sm::from_env();
    let admin = unique("nosave-admin");
    let admin_pw = unique("Admin-pw-");
    db.create_user(&admin, &admin_pw, &["+acl|setuser", "+config|get"])
        .await;
    let master = db.master_secret_for(&sm, &admin, &admin_pw).await;
    let user = unique("retry");
    db.create_user(&user, "First-pw-1", &["~app:*", "+@read"])
        .await;
    let arn = sm
        .create(
            "redis-retry-save-",
            &db.secret_with_master(&user, "First-pw-1", &master),
        )
        .await;
    let r = rotator(&sm, SingleUser, &[]);
    let token = sm.start_rotation(&arn).await;
    step(&r, &arn, &token, "createSecret")
        .await
        .expect("create");
    let err = step(&r, &arn, &token, "setSecret")
        .await
        .expect_err("ACL SAVE is not allowed");
    assert_eq!(err.kind(), "PermissionError", "{err}");
    let new = sm
        .value(&arn, "AWSPENDING", Some(&token))
        .await
        .expect("pending")["password"]
        .as_str()
        .expect("password")
        .to_owned();
    db.login(&user, &new)
        .await
        .expect("ACL SETUSER went through before the save failed");

    db.admin(&["ACL", "SETUSER", &admin, "+acl|save"]).await;
    for s in ["setSecret", "testSecret", "finishSecret"] {
        step(&r, &arn, &token, s)
            .await
            .unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    restart(&mut db);
    db.login(&user, &new)
        .await
        .expect("the retry saved the change: it survives a restart");
}
