//! The admin check: the `masterarn` admin is never an account the rotation changes (the single
//! user itself; for alternating users either user of the pair), refused at createSecret before
//! anything is stored and at setSecret before the engine is called, whether or not the engine
//! uses the admin. An admin secret that cannot be read or used stops the step (fails closed).
//! And the admin reaches `set_password` only for engines that use it.

use crate::engine::{Call, HOST};
use crate::recorder::Recorder;
use crate::support::*;
use rotation_core::Strategy::{self, AlternatingUsers, SingleUser};
use serde_json::json;
use test_support::secrets::{Sm, rotate, step};

/// A secret for `user` whose `masterarn` admin is `admin`.
async fn admin_case(user: &str, admin: &str) -> Case {
    let c = case_with(user, false).await;
    c.db.set_user(admin, ADMIN_PASSWORD);
    let master = master_secret(&c.sm, admin, ADMIN_PASSWORD).await;
    let mut value = secret(user, FIRST_PASSWORD);
    value["masterarn"] = json!(master);
    let arn = c.sm.create("core-admin-", &value).await;
    Case {
        arn,
        master: Some(master),
        ..c
    }
}

/// createSecret and setSecret (on a version stored by other means) both refuse, naming
/// `changed` as the user that is the admin, and nothing changes.
async fn assert_refused<const USES_ADMIN: bool>(
    c: &Case,
    strategy: Strategy,
    changed: &str,
    what: &str,
) {
    let r = c.rotator_of::<USES_ADMIN, false>(strategy, &[]);
    let master = c.master.as_deref().expect("masterarn");
    let users = c.users();
    let token = c.sm.start_rotation(&c.arn).await;
    let expected = format!(
        "user '{changed}', which this {} rotation changes, is the admin user of the masterarn secret {master}; rotating it would leave the admin secret with a password that no longer works. Nothing was changed. Give the admin a user of its own, not one rotated by this secret, or remove masterarn from the secret",
        strategy.as_str()
    );
    assert_eq!(
        refused(
            step(&r, &c.arn, &token, "createSecret").await,
            what,
            "ConfusedDeputy"
        ),
        format!("createSecret for secret {}: {expected}", c.arn),
        "{what}"
    );
    c.assert_untouched(&token, what).await;

    let mut pending = c.current().await;
    pending["username"] = json!(expected_pending_user(strategy, &c.user));
    pending["password"] = json!("New-pw-0f3e");
    c.sm.tamper_pending(&c.arn, &token, &pending).await;
    assert_eq!(
        refused(
            step(&r, &c.arn, &token, "setSecret").await,
            what,
            "ConfusedDeputy"
        ),
        format!("setSecret for secret {}: {expected}", c.arn),
        "{what}"
    );
    assert_eq!(c.db.calls(), [], "{what}: the engine was not called");
    assert_eq!(c.users(), users, "{what}: no user changed");
}

#[tokio::test]
async fn single_user_whose_masterarn_admin_is_the_user_is_refused() {
    let c = admin_case("app", "app").await;
    // Whether or not the engine would use the admin, the check is made.
    assert_refused::<false>(&c, SingleUser, "app", "engine without the admin").await;
    let c = admin_case("app", "app").await;
    assert_refused::<true>(&c, SingleUser, "app", "engine with the admin").await;
}

#[tokio::test]
async fn alternating_users_whose_pair_holds_the_admin_is_refused() {
    for (user, admin, changed) in [
        ("admin", "admin", "admin"),
        // The alternate of `admin_clone` is `admin`.
        ("admin_clone", "admin", "admin"),
        // The alternate of `ops` is `ops_clone`.
        ("ops", "ops_clone", "ops_clone"),
    ] {
        let c = admin_case(user, admin).await;
        assert_refused::<false>(
            &c,
            AlternatingUsers,
            changed,
            &format!("user {user}, admin {admin}"),
        )
        .await;
    }
}

/// Admin secrets that cannot be used, and the start of what the step says.
async fn unusable_masters(sm: &Sm) -> Vec<(&'static str, String, String)> {
    let missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:no-such-admin-AbCdEf";
    let not_json = sm.create_raw("core-master-bad-", "{not json").await;
    let no_password = sm
        .create("core-master-nopw-", &json!({"username": ADMIN}))
        .await;
    let other_host = sm
        .create(
            "core-master-host-",
            &json!({"username": ADMIN, "password": ADMIN_PASSWORD, "host": "other.test.internal"}),
        )
        .await;
    vec![
        (
            "a masterarn that does not exist",
            missing.to_owned(),
            "the admin (masterarn) version is unusable: the secret's 'masterarn' key names a secret that has no AWSCURRENT value".into(),
        ),
        (
            "an admin secret that is not JSON",
            not_json.clone(),
            "the admin (masterarn) version is unusable: the secret value is not valid JSON".into(),
        ),
        (
            "an admin secret without a password",
            no_password.clone(),
            "the admin (masterarn) version is unusable: the secret has no 'password' key; add it"
                .into(),
        ),
        (
            "an admin secret for another host",
            other_host.clone(),
            format!("the admin (masterarn) version is unusable: the secret's 'host' key names host 'other.test.internal', but the rotated secret's host is '{HOST}'; the admin secret must be for the same database"),
        ),
    ]
}

/// Every step that reads the admin stops, before anything is stored or the engine is called.
async fn unreadable_master_stops_the_step(strategy: Strategy) {
    let sm = Sm::from_env();
    for (what, master, says) in unusable_masters(&sm).await {
        let c = case_with("app", false).await;
        let mut value = secret("app", FIRST_PASSWORD);
        value["masterarn"] = json!(master);
        let arn = c.sm.create("core-badmaster-", &value).await;
        let c = Case { arn, ..c };
        let r = c.rotator(strategy);
        let token = c.sm.start_rotation(&c.arn).await;
        let err = failure(step(&r, &c.arn, &token, "createSecret").await, what);
        assert_eq!(err.kind(), "BadSecret", "{what}: {err}");
        assert!(
            err.to_string()
                .starts_with(&format!("createSecret for secret {master}: {says}")),
            "{what}: {err}"
        );
        assert_no_password(&err.to_string(), &[ADMIN_PASSWORD, FIRST_PASSWORD]);
        c.assert_untouched(&token, what).await;

        let mut pending = c.current().await;
        pending["username"] = json!(expected_pending_user(strategy, "app"));
        pending["password"] = json!("New-pw-0f3e");
        c.sm.tamper_pending(&c.arn, &token, &pending).await;
        let err = failure(step(&r, &c.arn, &token, "setSecret").await, what);
        assert_eq!(err.kind(), "BadSecret", "{what}: {err}");
        assert!(
            err.to_string()
                .starts_with(&format!("setSecret for secret {master}: {says}")),
            "{what}: {err}"
        );
        assert_eq!(c.db.calls(), [], "{what}: the engine was not called");
    }
}

crate::both_strategies!(
    unreadable_master_stops_the_step,
    read_denied_master_stops_the_step
);

/// The role may not read the admin secret (IAM answers `AccessDeniedException`): even single
/// user on an engine that never uses the admin stops, since the unread admin might be the user.
async fn read_denied_master_stops_the_step(strategy: Strategy) {
    let c = case_with("app", true).await;
    let master = c.master.clone().expect("masterarn");
    let recorder = Recorder::start(&c.sm);
    recorder.deny_reads_of(&master);
    let r = rotator::<false, false>(&recorder.sm(), strategy, &[], &c.db);
    let token = c.sm.start_rotation(&c.arn).await;
    refused_with(
        step(&r, &c.arn, &token, "createSecret").await,
        "denied",
        "SecretsManagerError",
        &format!(
            "createSecret for secret {}: Secrets Manager GetSecretValue failed: AccessDeniedException: ",
            c.arn
        ),
    );
    c.assert_untouched(&token, "read denied").await;

    let mut pending = c.current().await;
    pending["username"] = json!(expected_pending_user(strategy, "app"));
    pending["password"] = json!("New-pw-0f3e");
    c.sm.tamper_pending(&c.arn, &token, &pending).await;
    let err = failure(step(&r, &c.arn, &token, "setSecret").await, "denied");
    assert_eq!(err.kind(), "SecretsManagerError", "{err}");
    assert!(err.to_string().contains("AccessDeniedException"), "{err}");
    assert_eq!(c.db.calls(), [], "the engine was not called");
    assert_eq!(c.db.password_of("app").as_deref(), Some(FIRST_PASSWORD));
}

#[tokio::test]
async fn the_admin_reaches_set_password_only_where_the_engine_uses_it() {
    for uses_admin in [false, true] {
        let c = case_with("app", true).await;
        let token = c.sm.start_rotation(&c.arn).await;
        let result = if uses_admin {
            rotate(
                &c.rotator_of::<true, false>(SingleUser, &[]),
                &c.arn,
                &token,
            )
            .await
        } else {
            rotate(
                &c.rotator_of::<false, false>(SingleUser, &[]),
                &c.arn,
                &token,
            )
            .await
        };
        result.unwrap_or_else(|e| panic!("uses_admin {uses_admin}: {e}"));
        let set: Vec<Call> = c.db.changes();
        let new = c.current().await["password"]
            .as_str()
            .expect("password")
            .to_owned();
        assert_eq!(
            set,
            [Call::SetPassword {
                login: "app".into(),
                login_password: FIRST_PASSWORD.into(),
                user: "app".into(),
                password: new,
                admin: uses_admin.then(|| ADMIN.to_owned()),
            }],
            "uses_admin {uses_admin}"
        );
        c.assert_current_works(&token).await;
    }
}

#[tokio::test]
async fn alternating_users_needs_a_masterarn() {
    let c = case_with("app", false).await;
    let r = c.rotator(AlternatingUsers);
    let token = c.sm.start_rotation(&c.arn).await;
    let expected = "the AWSCURRENT version is unusable: the secret's 'masterarn' key is required for alternating-users rotation: add the ARN of a secret with admin credentials";
    assert_eq!(
        refused(
            step(&r, &c.arn, &token, "createSecret").await,
            "create",
            "BadSecret"
        ),
        format!("createSecret for secret {}: {expected}", c.arn)
    );
    c.assert_untouched(&token, "no masterarn").await;

    let mut pending = c.current().await;
    pending["username"] = json!("app_clone");
    pending["password"] = json!("New-pw-0f3e");
    c.sm.tamper_pending(&c.arn, &token, &pending).await;
    let err = failure(step(&r, &c.arn, &token, "setSecret").await, "set");
    assert_eq!(
        err.to_string(),
        format!("setSecret for secret {}: {expected}", c.arn)
    );
    assert_eq!(c.db.calls(), [], "the engine was not called");
}
