//! Rotations that succeed: the new credentials read the canary, Secrets Manager's labels move,
//! and what must stop working stops.

use crate::conformance::Adapter;
use crate::conformance::case::{
    Case, assert_reads, assert_refused, assert_stage_reads, clone_of, names_admin,
};
use crate::secrets::{each_step_twice, rotate};
use crate::unique;
use rotation_core::Strategy;
use serde_json::Value;

/// Passwords that break naive quoting in SQL and in Redis ACL rules.
const HOSTILE_PASSWORDS: &[&str] = &[
    "it's a \"quoted\" \\ pass`word; DROP USER admin; --",
    "p'\"`\\; DROP TABLE canary; -- >x <y #z (~* +@all) nopass resetpass",
    "%_ $1 $$ '' \\' \\\\ ?? :: @@ // off",
];

/// Run the four steps in-process, panicking with the error.
async fn rotated<A: Adapter>(a: &A, case: &Case, strategy: Strategy, vars: &[(&str, &str)]) {
    let r = a.rotator(&case.sm, strategy, vars);
    let token = case.sm.start_rotation(&case.arn).await;
    rotate(&r, &case.arn, &token)
        .await
        .unwrap_or_else(|e| panic!("rotation of {}: {e}", case.user));
}

/// The keys of a version other than `username` and `password` are those of the first version.
fn assert_other_keys_kept(first: &Value, now: &Value) {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("username");
            o.remove("password");
        }
        v
    };
    assert_eq!(
        strip(now),
        strip(first),
        "only username and password change"
    );
}

/// A whole rotation: the new credentials read the canary, AWSCURRENT moves to the token and
/// AWSPREVIOUS to the old version, every other key is kept, the old password stops working
/// (single user, unless the engine keeps it), and for alternating users both users work.
pub async fn full_rotation<A: Adapter>(a: &A, strategy: Strategy) {
    let c = Case::new(a, strategy, "full").await;
    let first = c.sm.value(&c.arn, "AWSCURRENT", None).await.expect("value");
    let old_version = c.sm.version_of(&c.arn, "AWSCURRENT").await.expect("id");
    let r = a.rotator(&c.sm, strategy, &[]);
    let token = c.sm.start_rotation(&c.arn).await;
    rotate(&r, &c.arn, &token).await.expect("rotation");

    c.sm.assert_rotated(&c.arn, &token, &old_version).await;
    let (user, new) = c.at("AWSCURRENT").await;
    assert_ne!(new, c.password, "a new password");
    assert_eq!(new.chars().count(), 32, "the default PASSWORD_LENGTH");
    assert_reads(a, &user, &new, "AWSCURRENT").await;
    let now = c.sm.value(&c.arn, "AWSCURRENT", None).await.expect("value");
    assert_other_keys_kept(&first, &now);
    match strategy {
        Strategy::SingleUser => {
            assert_eq!(user, c.user, "single user keeps the user");
            if A::SINGLE_USER_KEEPS_OLD_PASSWORD {
                assert_reads(a, &c.user, &c.password, "the old password, kept").await;
            } else {
                assert_refused(a, &c.user, &c.password, "the old password").await;
            }
        }
        Strategy::AlternatingUsers => {
            assert_eq!(user, clone_of(&c.user), "the alternate is AWSCURRENT");
            assert_reads(a, &c.user, &c.password, "the original keeps working").await;
        }
    }
}

/// Two rotations in a row: single user, the first password is gone after the second;
/// alternating users, back to the original user, with AWSCURRENT and AWSPREVIOUS both logging
/// in. Nothing about the user but its password changes.
pub async fn two_rotations<A: Adapter>(a: &A, strategy: Strategy) {
    let c = Case::new(a, strategy, "two").await;
    let before = a.account_state(&c.user).await;
    let mut users = Vec::new();
    for n in 1..=2 {
        rotated(a, &c, strategy, &[]).await;
        assert_stage_reads(a, &c, "AWSCURRENT").await;
        users.push(c.at("AWSCURRENT").await.0);
        let (prev_user, prev_password) = c.at("AWSPREVIOUS").await;
        let keeps = strategy == Strategy::AlternatingUsers || A::SINGLE_USER_KEEPS_OLD_PASSWORD;
        let what = format!("AWSPREVIOUS after rotation {n}");
        if keeps {
            assert_reads(a, &prev_user, &prev_password, &what).await;
        } else {
            assert_refused(a, &prev_user, &prev_password, &what).await;
        }
    }
    let expected = match strategy {
        Strategy::SingleUser => vec![c.user.clone(), c.user.clone()],
        Strategy::AlternatingUsers => vec![clone_of(&c.user), c.user.clone()],
    };
    assert_eq!(users, expected, "AWSCURRENT's user after each rotation");
    assert_refused(
        a,
        &c.user,
        &c.password,
        "the first password, two rotations later",
    )
    .await;
    assert_eq!(
        a.account_state(&c.user).await,
        before,
        "only the password of {} changed",
        c.user
    );
}

/// Every step run twice, as retries would, ends in the state of one run.
pub async fn every_step_twice<A: Adapter>(a: &A, strategy: Strategy) {
    let c = Case::new(a, strategy, "twice").await;
    let r = a.rotator(&c.sm, strategy, &[]);
    let token = c.sm.start_rotation(&c.arn).await;
    each_step_twice(&r, &c.arn, &token).await;
    assert_eq!(
        c.sm.version_of(&c.arn, "AWSCURRENT").await.as_deref(),
        Some(token.as_str()),
        "AWSCURRENT is on the token"
    );
    assert_stage_reads(a, &c, "AWSCURRENT").await;
    assert_eq!(
        c.sm.stages(&c.arn).await.len(),
        2,
        "one new version, not two"
    );
    match strategy {
        Strategy::SingleUser if !A::SINGLE_USER_KEEPS_OLD_PASSWORD => {
            assert_refused(a, &c.user, &c.password, "the old password").await;
        }
        _ => assert_reads(a, &c.user, &c.password, "the old password, kept").await,
    }
    if strategy == Strategy::AlternatingUsers {
        assert_eq!(c.at("AWSCURRENT").await.0, clone_of(&c.user));
    }
}

/// A rotation abandoned after its setSecret (an operator takes AWSPENDING off the stuck
/// version, as the service asks before it starts another) and a new rotation with a new
/// token: the new one completes, though for single user the database holds the abandoned
/// version's password, which no label points to any more. What the soak found first.
///
/// Five rotations abandoned after their createSecret alone come first, within one second if
/// the emulator allows (it dates versions to the second): the version to find is the newest of
/// six that no label points to, and it is found among them as the newest.
pub async fn new_token_after_abandoned_rotation<A: Adapter>(a: &A, strategy: Strategy) {
    let c = Case::new(a, strategy, "abandon").await;
    let r = a.rotator(&c.sm, strategy, &[]);
    let into_second = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_millis())
        .unwrap_or(0);
    tokio::time::sleep(std::time::Duration::from_millis(u64::from(
        1000 - into_second,
    )))
    .await;
    for _ in 0..5 {
        let token = c.sm.start_rotation(&c.arn).await;
        crate::secrets::step(&r, &c.arn, &token, "createSecret")
            .await
            .unwrap_or_else(|e| panic!("createSecret of a rotation to abandon: {e}"));
        c.sm.clear_pending(&c.arn, &token).await;
    }
    let stuck = c.sm.start_rotation(&c.arn).await;
    for s in ["createSecret", "setSecret"] {
        crate::secrets::step(&r, &c.arn, &stuck, s)
            .await
            .unwrap_or_else(|e| panic!("{s} of the rotation to abandon: {e}"));
    }
    let abandoned = c.pending_password(&stuck).await;
    c.sm.clear_pending(&c.arn, &stuck).await;
    let token = c.sm.start_rotation(&c.arn).await;
    rotate(&r, &c.arn, &token)
        .await
        .unwrap_or_else(|e| panic!("the rotation with a new token: {e}"));
    assert_eq!(
        c.sm.version_of(&c.arn, "AWSCURRENT").await.as_deref(),
        Some(token.as_str()),
        "AWSCURRENT is on the new token"
    );
    assert_stage_reads(a, &c, "AWSCURRENT").await;
    if strategy == Strategy::SingleUser && !A::SINGLE_USER_KEEPS_OLD_PASSWORD {
        assert_refused(a, &c.user, &abandoned, "the abandoned rotation's password").await;
    }
}

/// Hostile user names and passwords, and generated passwords with any punctuation
/// (`EXCLUDE_CHARACTERS` empty), rotate without injection: each user reads the canary with
/// AWSCURRENT after two rotations, nothing about it but its password changed, and the admin
/// still logs in.
pub async fn hostile_names_and_passwords<A: Adapter>(a: &A, strategy: Strategy) {
    let names = a.hostile_usernames();
    assert!(!names.is_empty(), "the adapter names hostile user names");
    for (i, name) in names.iter().enumerate() {
        let user = format!("{}{name}", unique("h"));
        let password = HOSTILE_PASSWORDS[i % HOSTILE_PASSWORDS.len()];
        let c = Case::with(a, &user, password, names_admin::<A>(strategy)).await;
        assert_reads(a, &user, password, "the hostile user, before").await;
        let before = a.account_state(&user).await;
        for _ in 0..2 {
            rotated(a, &c, strategy, &[("EXCLUDE_CHARACTERS", "")]).await;
            assert_stage_reads(a, &c, "AWSCURRENT").await;
        }
        assert_eq!(a.account_state(&user).await, before, "{user:?}");
        if strategy == Strategy::AlternatingUsers {
            assert_stage_reads(a, &c, "AWSPREVIOUS").await;
        }
    }
    let admin = a.admin_secret();
    let field = |k: &str| admin[k].as_str().unwrap_or_default().to_owned();
    assert_reads(a, &field("username"), &field("password"), "the admin").await;
}

/// `EXCLUDE_CHARACTERS` and `PASSWORD_LENGTH` reach `GetRandomPassword` and give a password the
/// database accepts; without them, the engine's default exclusions apply. Everything printable
/// is excluded but one character of each class (the emulator fails when a whole class is
/// excluded), so the password can only be made of those four.
pub async fn exclude_characters<A: Adapter>(a: &A, strategy: Strategy) {
    let c = Case::new(a, strategy, "excl").await;
    let kept = ['z', 'Z', '9', '!'];
    let excluded: String = ('!'..='~').filter(|ch| !kept.contains(ch)).collect();
    let vars = [
        ("EXCLUDE_CHARACTERS", excluded.as_str()),
        ("PASSWORD_LENGTH", "40"),
    ];
    rotated(a, &c, strategy, &vars).await;
    let (_, password) = c.at("AWSCURRENT").await;
    assert_eq!(password.chars().count(), 40, "PASSWORD_LENGTH");
    assert!(
        password.chars().all(|ch| kept.contains(&ch)),
        "EXCLUDE_CHARACTERS: {password}"
    );
    assert_stage_reads(a, &c, "AWSCURRENT").await;

    for _ in 0..2 {
        rotated(a, &c, strategy, &[]).await;
        let (_, password) = c.at("AWSCURRENT").await;
        assert!(
            !password.contains(|ch| A::DEFAULT_EXCLUDE_CHARACTERS.contains(ch)),
            "the default EXCLUDE_CHARACTERS {:?}",
            A::DEFAULT_EXCLUDE_CHARACTERS
        );
        assert_stage_reads(a, &c, "AWSCURRENT").await;
    }
}

/// Single user: when AWSCURRENT no longer logs in but AWSPREVIOUS does (the database was
/// restored to the password before the last rotation), the next rotation logs in with
/// AWSPREVIOUS and completes.
pub async fn awsprevious_fallback<A: Adapter>(a: &A, strategy: Strategy) {
    let c = Case::new(a, strategy, "prev").await;
    rotated(a, &c, strategy, &[]).await;
    a.change_password(&c.user, &c.password).await;
    let (_, current) = c.at("AWSCURRENT").await;
    assert_refused(a, &c.user, &current, "AWSCURRENT after the restore").await;
    rotated(a, &c, strategy, &[]).await;
    assert_stage_reads(a, &c, "AWSCURRENT").await;
}
