//! Single user without an outage window on MySQL 8.0.14+: setSecret keeps the password it
//! logged in with valid beside the new one (`RETAIN CURRENT PASSWORD`), so AWSCURRENT logs in
//! at every point of a rotation, and the next rotation's change drops it. An account without
//! the right to (APPLICATION_PASSWORD_ADMIN, or CREATE USER) keeps the window, as does MariaDB,
//! which has no dual passwords; `PREVIOUS_PASSWORD=discard` asks for the window.

use crate::common::*;
use rotation_core::Strategy::SingleUser;
use test_support::mariadb::{MariaDb, Product};
use test_support::secrets::{Sm, step};

/// Rotate `arn` once, step by step, and say after each step whether the password AWSCURRENT
/// had when the rotation started still logs in (the old password), and whether the password
/// AWSCURRENT has at that point logs in.
async fn logins_through_a_rotation(
    db: &MariaDb,
    sm: &Sm,
    arn: &str,
    user: &str,
    vars: &[(&str, &str)],
) -> Vec<(&'static str, bool, bool)> {
    let r = rotator(sm, SingleUser, vars);
    let old = password_at(sm, arn, "AWSCURRENT").await;
    let token = sm.start_rotation(arn).await;
    let mut seen = Vec::new();
    for s in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        step(&r, arn, &token, s)
            .await
            .unwrap_or_else(|e| panic!("{s}: {e}"));
        let current = password_at(sm, arn, "AWSCURRENT").await;
        seen.push((
            s,
            login(db.port, user, &old).await.is_ok(),
            login(db.port, user, &current).await.is_ok(),
        ));
    }
    seen
}

/// A user with `grants`, and its secret.
async fn user_with(db: &MariaDb, sm: &Sm, grants: &[&str]) -> (String, String) {
    let (user, pw) = new_user(db, "dual", grants).await;
    let arn = sm.create("mysql-dual-", &secret(db.port, &user, &pw)).await;
    (user, arn)
}

#[tokio::test]
async fn awscurrent_logs_in_at_every_point_of_a_single_user_rotation() {
    let db = db();
    let sm = Sm::from_env();
    for grants in [
        &["APPLICATION_PASSWORD_ADMIN ON *.*"][..],
        &["CREATE USER ON *.*"][..],
    ] {
        if db.product == Product::MariaDb {
            // Neither privilege nor dual passwords exist there: the window, below.
            break;
        }
        let (user, arn) = user_with(&db, &sm, grants).await;
        let mut passwords = vec![password_at(&sm, &arn, "AWSCURRENT").await];
        for n in 0..3 {
            let seen = logins_through_a_rotation(&db, &sm, &arn, &user, &[]).await;
            for (s, old, current) in &seen {
                assert!(
                    *current,
                    "{grants:?}, rotation {n}: AWSCURRENT does not log in after {s}: {seen:?}"
                );
                assert!(
                    *old,
                    "{grants:?}, rotation {n}: the password AWSCURRENT had at the start does not log in after {s}: {seen:?}"
                );
            }
            passwords.push(password_at(&sm, &arn, "AWSCURRENT").await);
        }
        // Each rotation's change dropped the password of two rotations ago: AWSPREVIOUS and
        // AWSCURRENT log in, nothing older does.
        for (i, pw) in passwords.iter().enumerate() {
            let works = login(db.port, &user, pw).await.is_ok();
            assert_eq!(works, i + 2 >= passwords.len(), "{grants:?}: password #{i}");
        }
    }
    if db.product == Product::MariaDb {
        // No dual passwords: the window the README documents.
        let (user, arn) = user_with(&db, &sm, &[]).await;
        let seen = logins_through_a_rotation(&db, &sm, &arn, &user, &[]).await;
        assert_eq!(seen, WINDOW, "MariaDB: the documented window");
    }
}

/// What [`logins_through_a_rotation`] sees where the old password stops at setSecret.
const WINDOW: [(&str, bool, bool); 4] = [
    ("createSecret", true, true),
    ("setSecret", false, false),
    ("testSecret", false, false),
    ("finishSecret", false, true),
];

/// The window the README documents, where dual passwords are not to be had or not wanted:
/// between setSecret and finishSecret AWSCURRENT (still the old password) does not log in.
#[tokio::test]
async fn without_the_right_or_with_discard_the_old_password_stops_at_set_secret() {
    let db = db();
    let sm = Sm::from_env();
    let discard = [("PREVIOUS_PASSWORD", "discard")];
    // With discard the user may hold the right: on MySQL it does (MariaDB has no such right).
    let right: &[&str] = match db.product {
        Product::MySql => &["APPLICATION_PASSWORD_ADMIN ON *.*"],
        Product::MariaDb => &[],
    };
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)]);
    let cases: [Case; 2] = [(&[], &[]), (right, &discard)];
    for (grants, vars) in cases {
        let (user, arn) = user_with(&db, &sm, grants).await;
        // Twice: the second rotation's change drops what the first kept, if anything.
        for n in 0..2 {
            let seen = logins_through_a_rotation(&db, &sm, &arn, &user, vars).await;
            assert_eq!(seen, WINDOW, "{grants:?} {vars:?}, rotation {n}");
        }
    }
}

/// The preflight says which of the two a single user gets, and why: what the server receives
/// and whether the old password stays valid.
#[tokio::test]
async fn the_preflight_says_whether_the_old_password_stays_valid() {
    let db = db();
    let sm = Sm::from_env();
    type Case<'a> = (&'a [&'a str], &'a [&'a str]);
    let cases: &[Case] = match db.product {
        Product::MySql => &[
            (
                &[],
                &["password itself", "GRANT APPLICATION_PASSWORD_ADMIN ON *.*"],
            ),
            (
                &["APPLICATION_PASSWORD_ADMIN ON *.*"],
                &["password itself", "stays valid", "no login fails"],
            ),
            (
                &["CREATE USER ON *.*"],
                &[
                    "caching_sha2_password hash, never the password",
                    "stays valid",
                ],
            ),
        ],
        Product::MariaDb => &[(&[], &["hash, never the password", "no dual passwords"])],
    };
    for (grants, words) in cases {
        let (user, arn) = user_with(&db, &sm, grants).await;
        sm.configure_rotation(&arn).await;
        let r = rotator(&sm, SingleUser, &[]);
        let report = r.preflight(&arn, test_support::lambda::FUNCTION_ARN).await;
        let rights = report
            .checks
            .iter()
            .find(|c| c.name == "rights")
            .unwrap_or_else(|| panic!("a rights check: {report:#?}"));
        assert_eq!(rights.ok, Some(true), "{grants:?}: {report:#?}");
        for w in *words {
            assert!(
                rights.message.contains(w),
                "{grants:?} ({user}): says {w:?}: {}",
                rights.message
            );
        }
    }
}
