//! Persistence: on a server with an ACL file, every change is saved (`ACL SAVE`), so a restart
//! keeps the new passwords. Also the least-privileged admin user that the README documents.

use crate::common::*;
use rotation_core::Strategy::{AlternatingUsers, SingleUser};
use test_support::redis::{Flavor, Options};
use test_support::secrets::{Sm, step};
use test_support::unique;

per_flavor!(
    single_user_change_survives_a_restart,
    alternating_change_survives_a_restart,
    the_documented_admin_rules_are_enough,
    the_preflight_sees_the_documented_admin_rules,
    acl_rights_alone_are_enough_without_masterarn,
    a_failed_acl_save_is_completed_by_the_retry,
);

/// The rules of the README's rotation admin (after `reset`): the ACL commands it uses, and
/// `CONFIG GET` to find out whether the server has an ACL file.
pub const ADMIN_RULES: &[&str] = &[
    "+acl|setuser",
    "+acl|list",
    "+acl|save",
    "+config|get",
    "+acl|dryrun",
];

/// A server with an ACL file, and the emulator.
struct Saved {
    db: Db,
    sm: Sm,
}

impl Saved {
    fn start(flavor: Flavor) -> Saved {
        let db = Db::start(Options {
            flavor,
            aclfile: true,
            ..Options::default()
        });
        Saved {
            db,
            sm: Sm::from_env(),
        }
    }

    /// An admin user with `rules` (after `reset`) and its secret's ARN.
    async fn admin_with(&self, rules: &[&str]) -> String {
        let admin = unique("rotation-admin");
        let password = unique("Admin-pw-");
        self.db.create_user(&admin, &password, rules).await;
        self.db.master_secret_for(&self.sm, &admin, &password).await
    }

    /// A new user with `password` and `rules`, and its secret's ARN (`masterarn` as given).
    async fn user(
        &self,
        user: &str,
        password: &str,
        rules: &[&str],
        master: Option<&str>,
    ) -> String {
        self.db
            .user_with_secret(&self.sm, user, password, rules, master)
            .await
    }

    /// Rotate `arn` once with `strategy`; returns the new password.
    async fn rotate(&self, strategy: rotation_core::Strategy, arn: &str) -> String {
        rotate_once(&self.sm, &rotator(&self.sm, strategy, &[]), arn).await
    }

    fn restart(&mut self) {
        self.db
            .server
            .restart()
            .unwrap_or_else(|e| panic!("restart: {e}\n{}", self.db.server.log()));
    }

    /// After a restart, `user` logs in with `password`.
    async fn logs_in(&self, user: &str, password: &str, what: &str) {
        self.db
            .login(user, password)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
    }
}

async fn single_user_change_survives_a_restart(flavor: Flavor) {
    let mut s = Saved::start(flavor);
    let user = unique("keep");
    // A user created by hand is in memory only; the rotation's ACL SAVE writes it too.
    let master = s.db.master_secret(&s.sm).await;
    let arn = s
        .user(&user, "First-pw-1", &["~app:*", "+@read"], Some(&master))
        .await;
    let new = s.rotate(SingleUser, &arn).await;
    let saved =
        std::fs::read_to_string(s.db.server.aclfile().expect("aclfile")).expect("read aclfile");
    assert!(
        saved.contains(&hash(&new)),
        "the ACL file holds the new password's hash:\n{saved}"
    );
    assert!(!saved.contains(&new), "the ACL file holds no plaintext");

    s.restart();
    s.logs_in(&user, &new, "the new password survives a restart")
        .await;
    s.logs_in(
        &user,
        "First-pw-1",
        "and so does the previous one, until the next rotation",
    )
    .await;
}

async fn alternating_change_survives_a_restart(flavor: Flavor) {
    let mut s = Saved::start(flavor);
    let user = unique("alt");
    let master = s.db.master_secret(&s.sm).await;
    let arn = s.user(&user, "First-pw-1", RICH_RULES, Some(&master)).await;
    let new = s.rotate(AlternatingUsers, &arn).await;
    let clone = format!("{user}_clone");

    s.restart();
    s.logs_in(&clone, &new, "the clone survives a restart")
        .await;
    // Compared after the restart: loading the file may list equivalent rules in another order.
    assert_eq!(
        s.db.rules_of(&clone).await,
        s.db.rules_of(&user).await,
        "with the same rules"
    );
    s.logs_in(&user, "First-pw-1", "the original too").await;
}

async fn the_documented_admin_rules_are_enough(flavor: Flavor) {
    let mut s = Saved::start(flavor);
    let master = s.admin_with(ADMIN_RULES).await;
    let single = unique("su");
    let single_arn = s
        .user(&single, "Single-pw-1", &["~app:*", "+@read"], Some(&master))
        .await;
    let single_pw = s.rotate(SingleUser, &single_arn).await;
    let alt = unique("alt");
    let alt_arn = s.user(&alt, "Alt-pw-1", RICH_RULES, Some(&master)).await;
    let alt_pw = s.rotate(AlternatingUsers, &alt_arn).await;

    s.restart();
    s.logs_in(&single, &single_pw, "single user after a restart")
        .await;
    s.logs_in(&format!("{alt}_clone"), &alt_pw, "clone after a restart")
        .await;
}

/// The preflight of the README's admin on a server with an ACL file: every right is there
/// (`ACL DRYRUN` of `ACL SETUSER`, `ACL LIST` and `ACL SAVE`); without `+acl|dryrun` its rights
/// are unknown, not missing; without `+acl|save` that one is named.
async fn the_preflight_sees_the_documented_admin_rules(flavor: Flavor) {
    let s = Saved::start(flavor);
    let cases: [(&[&str], Option<bool>, &str); 3] = [
        (ADMIN_RULES, Some(true), "every right"),
        (&ADMIN_RULES[..4], None, "+acl|dryrun"),
        (
            &["+acl|setuser", "+acl|list", "+config|get", "+acl|dryrun"],
            Some(false),
            "+acl|save",
        ),
    ];
    for (rules, ok, words) in cases {
        let master = s.admin_with(rules).await;
        let user = unique("pf");
        let arn = s.user(&user, "First-pw-1", RICH_RULES, Some(&master)).await;
        s.sm.configure_rotation(&arn).await;
        let r = rotator(&s.sm, AlternatingUsers, &[]);
        let report = r.preflight(&arn, test_support::lambda::FUNCTION_ARN).await;
        let rights = report
            .checks
            .iter()
            .find(|c| c.name == "rights")
            .unwrap_or_else(|| panic!("a rights check: {report:#?}"));
        assert_eq!(rights.ok, ok, "{rules:?}: {report:#?}");
        assert!(rights.message.contains(words), "{rules:?}: {report:#?}");
        assert_eq!(
            s.db.rules_of(&format!("{user}_clone")).await,
            None,
            "the preflight made no clone"
        );
    }
}

/// A user allowed `ACL` but not `CONFIG GET` rotates itself; `ACL SAVE` still happens.
async fn acl_rights_alone_are_enough_without_masterarn(flavor: Flavor) {
    let mut s = Saved::start(flavor);
    let user = unique("self");
    let arn = s
        .user(&user, "First-pw-1", &["~app:*", "+@read", "+acl"], None)
        .await;
    let new = s.rotate(SingleUser, &arn).await;
    s.restart();
    s.logs_in(&user, &new, "saved without CONFIG GET").await;
}

/// `ACL SETUSER` succeeds but `ACL SAVE` is refused: setSecret fails, and its retry (when
/// AWSPENDING already logs in) repeats the change so the save happens, surviving a restart.
async fn a_failed_acl_save_is_completed_by_the_retry(flavor: Flavor) {
    let mut s = Saved::start(flavor);
    let master = s.admin_with(&["+acl|setuser", "+config|get"]).await;
    let admin =
        s.sm.value(&master, "AWSCURRENT", None)
            .await
            .expect("admin")["username"]
            .as_str()
            .expect("admin name")
            .to_owned();
    let user = unique("retry");
    let arn = s
        .user(&user, "First-pw-1", &["~app:*", "+@read"], Some(&master))
        .await;
    let r = rotator(&s.sm, SingleUser, &[]);
    let token = start_and_create(&s.sm, &r, &arn).await;
    let (kind, message) = failure(
        step(&r, &arn, &token, "setSecret").await,
        "ACL SAVE is not allowed",
    );
    assert_eq!(kind, "PermissionError", "{message}");
    let new = password_at(&s.sm, &arn, "AWSPENDING").await;
    s.logs_in(
        &user,
        &new,
        "ACL SETUSER went through before the save failed",
    )
    .await;

    s.db.admin(&["ACL", "SETUSER", &admin, "+acl|save"]).await;
    for step_name in ["setSecret", "testSecret", "finishSecret"] {
        step(&r, &arn, &token, step_name)
            .await
            .unwrap_or_else(|e| panic!("{step_name}: {e}"));
    }
    s.restart();
    s.logs_in(
        &user,
        &new,
        "the retry saved the change: it survives a restart",
    )
    .await;
}
