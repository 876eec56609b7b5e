//! The preflight check (`{"SecretId", "Step": "preflight"}`) through the shipped binaries: a
//! healthy secret, and each failure it names (a wrong password, TLS that fails, rotation that
//! names another function or none, an admin without the rights, a name too long for
//! `_clone`). In every case nothing changes in Secrets Manager or on the server, and no
//! password appears in the report or in what the function prints.

use crate::conformance::Adapter;
use crate::conformance::case::{
    Case, clone_of, names_admin, secret_with, store_admin, store_admin_as,
};
use crate::conformance::scenarios::binary::{admin_password, assert_no_secret, settled_output};
use crate::lambda::{Function, Outcome};
use crate::secrets::Sm;
use crate::{function_binary, unique};
use rotation_core::Strategy;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

/// What must not change: the secret's versions and labels, and both users of the pair.
#[derive(Debug, PartialEq)]
struct State {
    stages: HashMap<String, Vec<String>>,
    accounts: Vec<(String, Option<String>)>,
}

async fn state<A: Adapter>(a: &A, sm: &Sm, arn: &str, user: &str) -> State {
    let mut accounts = Vec::new();
    for u in [user.to_owned(), clone_of(user)] {
        // A name over the server's limit cannot exist (and cannot even be asked about).
        let fits = a
            .name_limit()
            .is_none_or(|limit| u.chars().count() <= limit);
        let account = match fits && a.user_exists(&u).await {
            true => Some(a.account_state(&u).await),
            false => None,
        };
        accounts.push((u, account));
    }
    State {
        stages: sm.stages(arn).await,
        accounts,
    }
}

/// Nothing changed since `before` (the secret `arn` of `user` on `sm`), and none of `secrets`
/// is in the report or the function's output.
async fn assert_untouched<A: Adapter>(
    a: &A,
    (sm, arn, user): (&Sm, &str, &str),
    before: &State,
    (report, output): (&Value, &str),
    secrets: &[String],
) {
    assert_eq!(&state(a, sm, arn, user).await, before, "nothing changed");
    assert_no_secret(&report.to_string(), secrets);
    assert_no_secret(output, secrets);
}

/// Run the preflight for `arn` on `f`; the report, and the function's output up to it.
fn preflight(f: &Function, arn: &str) -> (Value, String) {
    let event = json!({"SecretId": arn, "Step": "preflight"});
    let outcome = tokio::task::block_in_place(|| f.api.invoke(&event, Duration::from_secs(60)))
        .unwrap_or_else(|e| panic!("preflight of {arn}: {e}"));
    let report = match outcome {
        Outcome::Ok(report) => report,
        Outcome::Err {
            error_type,
            error_message,
        } => panic!("the preflight must answer with a report, not {error_type}: {error_message}"),
    };
    let output = settled_output(f, "preflight finished");
    for check in report["checks"].as_array().into_iter().flatten() {
        assert!(
            check["name"].is_string(),
            "every check has a name: {report:#}"
        );
        assert!(
            check["ok"].is_boolean() || check["ok"].is_null(),
            "ok is true, false or null: {report:#}"
        );
        assert!(
            check["message"].as_str().is_some_and(|m| !m.is_empty()),
            "every check says what it found: {report:#}"
        );
    }
    (report, output)
}

/// The check called `name`.
fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("the report has no '{name}' check: {report:#}"))
}

/// Check `name` has `ok`, and its message holds `words`.
fn assert_check(report: &Value, name: &str, ok: Option<bool>, words: &[&str]) {
    let c = check(report, name);
    assert_eq!(c["ok"], json!(ok), "check '{name}': {report:#}");
    let message = c["message"].as_str().unwrap_or_default();
    for w in words {
        assert!(
            message.contains(w),
            "check '{name}' should say '{w}': {report:#}"
        );
    }
}

fn names(report: &Value) -> Vec<&str> {
    report["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect()
}

/// A fresh user and its secret naming `master`, with `"ssl": true` when `tls`, and rotation
/// configured; the user may change its own password where `strategy` does not use the admin.
/// Returns the secret's ARN, the user and its password.
async fn configured<A: Adapter>(
    a: &A,
    sm: &Sm,
    strategy: Strategy,
    master: Option<&str>,
    tls: bool,
) -> (String, String, String) {
    let user = unique("pf");
    let password = unique("Pw-");
    a.create_user(&user, &password).await;
    if !uses_admin::<A>(strategy) {
        a.allow_own_password_change(&user).await;
    }
    let mut value = secret_with(a, a.port(), &user, &password, master);
    if tls {
        value["ssl"] = json!(true);
    }
    let arn = sm.create("conf-pf-", &value).await;
    sm.configure_rotation(&arn).await;
    (arn, user, password)
}

/// Whether the rotation of `strategy` uses the admin (and so checks its login and rights).
fn uses_admin<A: Adapter>(strategy: Strategy) -> bool {
    names_admin::<A>(strategy)
}

/// A healthy secret: every check passes, the logins say how long they took and that the
/// server offered no TLS, and nothing changes.
pub async fn preflight_healthy<A: Adapter>(a: &A, strategy: Strategy) {
    let c = Case::new(a, strategy, "pf").await;
    c.sm.configure_rotation(&c.arn).await;
    let before = state(a, &c.sm, &c.arn, &c.user).await;
    let f = Function::spawn(&function_binary(A::function(strategy)), &c.sm.url, &[]);
    let (report, output) = preflight(&f, &c.arn);

    assert_eq!(report["ok"], json!(true), "{report:#}");
    assert_eq!(report["secret"], json!(c.arn), "{report:#}");
    // Its metrics record counts it under a step of its own, `preflight`.
    let printed = settled_output(&f, "\"_aws\"");
    let records: Vec<Value> = printed
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l.get("_aws").is_some())
        .collect();
    assert_eq!(records.len(), 1, "one metrics record:\n{printed}");
    crate::emf::check(&records[0]).unwrap_or_else(|e| panic!("{e}: {}", records[0]));
    assert_eq!(records[0]["Step"], "preflight", "{}", records[0]);
    assert_eq!(report["strategy"], json!(strategy.as_str()), "{report:#}");
    let mut expected = vec!["rotation", "pending", "secret", "login", "admin-secret"];
    if uses_admin::<A>(strategy) {
        expected.push("admin-login");
    }
    if strategy == Strategy::AlternatingUsers {
        expected.push("alternate-name");
    }
    expected.extend(["rights", "random-password"]);
    assert_eq!(names(&report), expected, "{report:#}");
    assert_check(&report, "rotation", Some(true), &["names this function"]);
    assert_check(&report, "pending", Some(true), &[]);
    let transport = match a.offers_tls() {
        true => "over TLS, the server's certificate verified",
        false => "without TLS",
    };
    assert_check(&report, "login", Some(true), &[&c.user, transport]);
    assert!(
        check(&report, "login")["duration_ms"].is_u64(),
        "{report:#}"
    );
    if uses_admin::<A>(strategy) {
        assert_check(&report, "admin-secret", Some(true), &[]);
        assert_check(&report, "admin-login", Some(true), &["logged in"]);
        assert!(
            check(&report, "admin-login")["duration_ms"].is_u64(),
            "{report:#}"
        );
    } else {
        assert_check(&report, "admin-secret", None, &["not used"]);
    }
    assert_check(&report, "rights", Some(true), &["every right"]);
    if strategy == Strategy::AlternatingUsers {
        assert_check(&report, "alternate-name", Some(true), &[&clone_of(&c.user)]);
    }
    assert_check(
        &report,
        "random-password",
        Some(true),
        &["PASSWORD_LENGTH 32"],
    );

    assert_untouched(
        a,
        (&c.sm, &c.arn, &c.user),
        &before,
        (&report, &output),
        &[c.password.clone(), admin_password(a)],
    )
    .await;
    assert!(
        output.contains("preflight check"),
        "each check is logged:\n{output}"
    );
}

/// AWSCURRENT's password no longer logs in (changed behind the secret's back): the login check
/// fails and says so, the checks that need the login are not run, and nothing changes.
pub async fn preflight_changes_nothing_when_the_password_is_wrong<A: Adapter>(
    a: &A,
    strategy: Strategy,
) {
    let c = Case::new(a, strategy, "pfw").await;
    let actual = unique("Actual-pw-");
    a.change_password(&c.user, &actual).await;
    c.sm.configure_rotation(&c.arn).await;
    let before = state(a, &c.sm, &c.arn, &c.user).await;
    let f = Function::spawn(&function_binary(A::function(strategy)), &c.sm.url, &[]);
    let (report, output) = preflight(&f, &c.arn);

    assert_eq!(report["ok"], json!(false), "{report:#}");
    assert_check(
        &report,
        "login",
        Some(false),
        &["cannot log in", &c.user, "current password"],
    );
    assert_check(&report, "rights", None, &["not checked"]);
    if strategy == Strategy::AlternatingUsers {
        assert_check(&report, "alternate-name", None, &["not checked"]);
    }
    assert_check(&report, "random-password", Some(true), &[]);
    assert_untouched(
        a,
        (&c.sm, &c.arn, &c.user),
        &before,
        (&report, &output),
        &[c.password.clone(), actual, admin_password(a)],
    )
    .await;
}

/// `"ssl": true` against a server without TLS (or, where the server offers TLS, with only an
/// unrelated CA trusted, so its certificate does not verify): the login check fails as a TLS
/// failure, and nothing changes.
pub async fn preflight_tls_failure<A: Adapter>(a: &A, strategy: Strategy) {
    let sm = Sm::from_env();
    let master = match names_admin::<A>(strategy) {
        true => Some(store_admin(a, &sm).await),
        false => None,
    };
    let (arn, user, password) = configured(a, &sm, strategy, master.as_deref(), true).await;
    let before = state(a, &sm, &arn, &user).await;
    let other_ca = crate::tls::TestCa::new().expect("an unrelated CA");
    let other_ca = other_ca.ca_pem().display().to_string();
    let env: &[(&str, &str)] = match a.offers_tls() {
        true => &[("CA_BUNDLE", &other_ca)],
        false => &[],
    };
    let f = Function::spawn(&function_binary(A::function(strategy)), &sm.url, env);
    let (report, output) = preflight(&f, &arn);

    assert_eq!(report["ok"], json!(false), "{report:#}");
    assert_check(&report, "login", Some(false), &["TLS"]);
    assert_untouched(
        a,
        (&sm, &arn, &user),
        &before,
        (&report, &output),
        &[password, admin_password(a)],
    )
    .await;
}

/// The report has one check, `rotation`, failed with `words`: nothing else was tried.
fn assert_only_rotation_fails(report: &Value, words: &[&str]) {
    assert_eq!(report["ok"], json!(false), "{report:#}");
    assert_eq!(
        names(report),
        ["rotation"],
        "nothing else is tried: {report:#}"
    );
    assert_check(report, "rotation", Some(false), words);
}

/// Rotation that names another function, or no function at all: the report says so and has
/// no other check, since the function's role may not read such a secret.
pub async fn preflight_rotation_names_another_function<A: Adapter>(a: &A, strategy: Strategy) {
    let c = Case::new(a, strategy, "pfo").await;
    let f = Function::spawn(&function_binary(A::function(strategy)), &c.sm.url, &[]);

    let before = state(a, &c.sm, &c.arn, &c.user).await;
    let (report, _) = preflight(&f, &c.arn);
    assert_only_rotation_fails(&report, &["not configured", "--no-rotate-immediately"]);

    c.sm.configure_rotation(&c.arn).await;
    let configured = state(a, &c.sm, &c.arn, &c.user).await;
    let other = "arn:aws:lambda:us-east-1:123456789012:function:another-rotation";
    f.api.set_invoked_arn(other);
    let (report, output) = preflight(&f, &c.arn);
    assert_eq!(report["function"], json!(other), "{report:#}");
    assert_only_rotation_fails(
        &report,
        &["function:rotation-test", other, "Nothing else was checked"],
    );
    assert_eq!(before.accounts, configured.accounts, "nothing changed");
    assert_untouched(
        a,
        (&c.sm, &c.arn, &c.user),
        &configured,
        (&report, &output),
        &[c.password.clone(), admin_password(a)],
    )
    .await;
}

/// `masterarn` names a user that can log in but may not create users or change passwords.
/// Where the rotation uses the admin, the rights check fails and names that admin; where it
/// does not (single user on SQL engines), the admin secret is still read, and the user's own
/// right to change its password is what counts.
pub async fn preflight_admin_without_rights<A: Adapter>(a: &A, strategy: Strategy) {
    let sm = Sm::from_env();
    let weak = unique("pfweak");
    let weak_password = unique("Weak-pw-");
    a.create_user(&weak, &weak_password).await;
    let master = store_admin_as(a, &sm, &weak, &weak_password).await;
    let (arn, user, password) = configured(a, &sm, strategy, Some(&master), false).await;
    let before = state(a, &sm, &arn, &user).await;
    let weak_before = a.account_state(&weak).await;
    let f = Function::spawn(&function_binary(A::function(strategy)), &sm.url, &[]);
    let (report, output) = preflight(&f, &arn);

    assert_check(&report, "login", Some(true), &[]);
    let uses = strategy == Strategy::AlternatingUsers || A::SINGLE_USER_USES_ADMIN;
    if uses {
        assert_eq!(report["ok"], json!(false), "{report:#}");
        assert_check(&report, "admin-login", Some(true), &[&weak]);
        assert_check(&report, "rights", Some(false), &[&weak, "lacks"]);
    } else {
        assert_eq!(report["ok"], json!(true), "{report:#}");
        assert_check(
            &report,
            "admin-secret",
            Some(true),
            &[&weak, "only for that check"],
        );
        assert_check(&report, "rights", Some(true), &[&user, "set the password"]);
    }
    assert_eq!(
        a.account_state(&weak).await,
        weak_before,
        "the admin is unchanged"
    );
    assert_untouched(
        a,
        (&sm, &arn, &user),
        &before,
        (&report, &output),
        &[password, weak_password],
    )
    .await;
}

/// Alternating users: a user name that fits the server but not with `_clone`. Where the engine
/// has no limit, a long name passes.
pub async fn preflight_name_too_long<A: Adapter>(a: &A, strategy: Strategy) {
    let length = a.name_limit().map_or(200, |limit| limit - 3);
    let prefix = unique("pfn");
    let user = format!("{prefix}{}", "n".repeat(length - prefix.chars().count()));
    let password = unique("Pw-");
    let c = Case::with(a, &user, &password, true).await;
    c.sm.configure_rotation(&c.arn).await;
    let before = state(a, &c.sm, &c.arn, &c.user).await;
    let f = Function::spawn(&function_binary(A::function(strategy)), &c.sm.url, &[]);
    let (report, output) = preflight(&f, &c.arn);

    assert_check(&report, "login", Some(true), &[]);
    match a.name_limit() {
        Some(limit) => {
            assert_eq!(report["ok"], json!(false), "{report:#}");
            assert_check(
                &report,
                "alternate-name",
                Some(false),
                &[&c.user, &limit.to_string()],
            );
            assert_check(&report, "rights", None, &["not checked"]);
        }
        None => {
            assert_eq!(report["ok"], json!(true), "{report:#}");
            assert_check(&report, "alternate-name", Some(true), &[&clone_of(&c.user)]);
        }
    }
    assert_untouched(
        a,
        (&c.sm, &c.arn, &c.user),
        &before,
        (&report, &output),
        &[password, admin_password(a)],
    )
    .await;
}
