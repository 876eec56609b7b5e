//! Rotations that must fail and change nothing: a tampered AWSPENDING, a database that is
//! down, a wrong password, and the admin as the user to change.

use crate::conformance::Adapter;
use crate::conformance::case::{
    Case, assert_reads, assert_refused, clone_of, fails_at, secret_with, store_admin_as,
    store_rds_style_admin,
};
use crate::lambda::Function;
use crate::secrets::{Sm, step};
use crate::{function_binary, unique};
use rotation_core::{RotationError, Strategy};
use serde_json::json;
use std::time::{Duration, Instant};

/// An `engine` value the functions accept other than the one of the adapter's secrets.
fn other_engine<A: Adapter>(a: &A) -> &'static str {
    let own = a.secret(a.port(), "u", "p")["engine"].clone();
    A::ENGINE_NAMES
        .iter()
        .copied()
        .find(|e| own != *e)
        .unwrap_or_else(|| panic!("ENGINE_NAMES has no name but {own}"))
}

/// An AWSPENDING naming another user, host, port or engine (alternating users: also the
/// current user instead of its alternate) is refused as a confused deputy at setSecret and at
/// testSecret, and nothing changes: the user and the victim keep their passwords and every
/// other attribute, neither logs in with AWSPENDING's password, and no clone is created.
pub async fn tampered_pending<A: Adapter>(a: &A, strategy: Strategy) {
    let c = Case::new(a, strategy, "tamper").await;
    let victim = unique("victim");
    let victim_password = unique("Victim-pw-");
    a.create_user(&victim, &victim_password).await;
    let victim_before = a.account_state(&victim).await;
    let user_before = a.account_state(&c.user).await;
    let other_port = if a.port() == u16::MAX {
        a.port() - 1
    } else {
        a.port() + 1
    };
    let mut cases = vec![
        ("another user", json!({"username": victim})),
        ("another host", json!({"host": "localhost"})),
        ("another port", json!({"port": other_port})),
        ("another engine", json!({"engine": other_engine(a)})),
    ];
    if strategy == Strategy::AlternatingUsers {
        cases.push(("the current user", json!({"username": c.user})));
    }
    let r = a.rotator(&c.sm, strategy, &[]);
    for (what, change) in cases {
        let token = c.sm.start_rotation(&c.arn).await;
        step(&r, &c.arn, &token, "createSecret")
            .await
            .unwrap_or_else(|e| panic!("{what}: createSecret: {e}"));
        c.sm.edit_pending(&c.arn, &token, &change).await;
        let pending = c.pending_password(&token).await;
        for s in ["setSecret", "testSecret"] {
            let err = step(&r, &c.arn, &token, s)
                .await
                .expect_err(&format!("{what}: {s}"));
            let message = err.to_string();
            assert_eq!(err.kind(), "ConfusedDeputy", "{what}: {s}: {message}");
            assert!(
                message.contains(&c.arn),
                "{what}: names the secret: {message}"
            );
            assert!(
                !message.contains(&pending),
                "{what}: a password in {message}"
            );
        }
        assert_reads(a, &c.user, &c.password, what).await;
        assert_reads(a, &victim, &victim_password, what).await;
        assert_refused(a, &c.user, &pending, what).await;
        assert_refused(a, &victim, &pending, what).await;
        assert_eq!(a.account_state(&c.user).await, user_before, "{what}");
        assert_eq!(a.account_state(&victim).await, victim_before, "{what}");
        for name in [clone_of(&c.user), clone_of(&victim)] {
            assert!(!a.user_exists(&name).await, "{what}: {name} was created");
        }
        c.sm.clear_pending(&c.arn, &token).await;
    }
}

/// createSecret, then setSecret unless createSecret failed: the first error.
async fn first_failure<A: Adapter>(
    a: &A,
    sm: &Sm,
    strategy: Strategy,
    vars: &[(&str, &str)],
    arn: &str,
) -> RotationError {
    let r = a.rotator(sm, strategy, vars);
    let token = sm.start_rotation(arn).await;
    match step(&r, arn, &token, "createSecret").await {
        Err(e) => {
            assert!(
                sm.value(arn, "AWSPENDING", Some(&token)).await.is_none(),
                "createSecret failed and stored nothing"
            );
            e
        }
        Ok(()) => step(&r, arn, &token, "setSecret")
            .await
            .expect_err("setSecret must fail"),
    }
}

/// Nothing listens, or something accepts and never answers: a NetworkError naming
/// `127.0.0.1:<port>` and AWSCURRENT that says what to check, within `CONNECT_TIMEOUT_SECONDS`.
pub async fn database_down<A: Adapter>(a: &A, strategy: Strategy) {
    let sm = Sm::from_env();
    // The admin secret RDS-style (credentials only), so that it names the same database and
    // the failure is the network's.
    let master = store_rds_style_admin(a, &sm, strategy).await;
    let refused = crate::net::free_port();
    let arn = sm
        .create(
            "conf-down-",
            &secret_with(a, refused, "app", "Some-pw-1", master.as_deref()),
        )
        .await;
    let vars = [("CONNECT_TIMEOUT_SECONDS", "2")];
    let err = first_failure(a, &sm, strategy, &vars, &arn).await;
    let message = err.to_string();
    assert_eq!(err.kind(), "NetworkError", "{message}");
    assert!(
        message.contains(&format!("127.0.0.1:{refused}")) && message.contains("AWSCURRENT"),
        "names the endpoint and the credentials: {message}"
    );
    assert!(
        message.contains("security groups"),
        "says what to check: {message}"
    );

    let silent_port = crate::net::silent_port();
    let arn = sm
        .create(
            "conf-silent-",
            &secret_with(a, silent_port, "app", "Some-pw-1", master.as_deref()),
        )
        .await;
    let started = Instant::now();
    let vars = [("CONNECT_TIMEOUT_SECONDS", "1")];
    let err = first_failure(a, &sm, strategy, &vars, &arn).await;
    let message = err.to_string();
    assert_eq!(err.kind(), "NetworkError", "{message}");
    assert!(message.contains("CONNECT_TIMEOUT_SECONDS"), "{message}");
    assert!(
        message.contains(&format!("127.0.0.1:{silent_port}")),
        "{message}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "CONNECT_TIMEOUT_SECONDS=1 is honoured: {:?}",
        started.elapsed()
    );
}

/// The user's password was changed behind the secret's back (AWSCURRENT no longer logs in, and
/// there is no AWSPREVIOUS): an AuthenticationError naming the user and no password, at
/// createSecret or setSecret, and nothing changes.
pub async fn wrong_current_password<A: Adapter>(a: &A, strategy: Strategy) {
    let c = Case::new(a, strategy, "wrong").await;
    let behind = unique("Behind-pw-");
    a.change_password(&c.user, &behind).await;
    let before = a.account_state(&c.user).await;
    let err = first_failure(a, &c.sm, strategy, &[], &c.arn).await;
    let message = err.to_string();
    assert_eq!(err.kind(), "AuthenticationError", "{message}");
    assert!(message.contains(&c.user), "names the user: {message}");
    for (what, password) in [("the secret's", &c.password), ("the real", &behind)] {
        assert!(
            !message.contains(password.as_str()),
            "{what} password in {message}"
        );
    }
    assert_reads(a, &c.user, &behind, "the user, unchanged").await;
    assert_eq!(a.account_state(&c.user).await, before, "nothing changed");
    assert!(
        !a.user_exists(&clone_of(&c.user)).await,
        "no clone was created"
    );
}

/// The `masterarn` admin is never the account changed, through the shipped binary: a
/// single-user secret for the admin's own user, and an alternating-users secret for
/// `<admin>_clone` (whose alternate is the admin), are refused at createSecret before anything
/// is stored, and a version stored by other means that names the admin is refused at
/// setSecret. The admin and the user keep their passwords and rights; no password is printed.
pub async fn admin_is_never_rotated<A: Adapter>(a: &A, strategy: Strategy) {
    let sm = Sm::from_env();
    let admin = unique("adm");
    let admin_password = unique("Adm-pw-");
    a.create_admin(&admin, &admin_password).await;
    let master = store_admin_as(a, &sm, &admin, &admin_password).await;
    let (user, password) = match strategy {
        Strategy::SingleUser => (admin.clone(), admin_password.clone()),
        Strategy::AlternatingUsers => {
            let user = clone_of(&admin);
            let password = unique("Clone-pw-");
            a.create_user(&user, &password).await;
            (user, password)
        }
    };
    let admin_before = a.account_state(&admin).await;
    let user_before = a.account_state(&user).await;
    let arn = sm
        .create(
            "conf-adm-",
            &secret_with(a, a.port(), &user, &password, Some(&master)),
        )
        .await;
    let function = A::function(strategy);
    let f = Function::spawn(&function_binary(function), &sm.url, &[]);
    let token = sm.start_rotation(&arn).await;
    let (kind, message) = tokio::task::block_in_place(|| f.invoke(&arn, &token, "createSecret"))
        .expect_err("createSecret");
    assert_eq!(kind, "ConfusedDeputy", "{function}: {message}");
    assert!(message.contains("admin user"), "{function}: {message}");
    assert!(
        sm.value(&arn, "AWSPENDING", Some(&token)).await.is_none(),
        "{function}: nothing stored"
    );

    let new_password = unique("New-pw-");
    let mut pending = sm.value(&arn, "AWSCURRENT", None).await.expect("current");
    pending["username"] = json!(admin);
    pending["password"] = json!(new_password);
    sm.tamper_pending(&arn, &token, &pending).await;
    let (kind, message) =
        tokio::task::block_in_place(|| f.invoke(&arn, &token, "setSecret")).expect_err("setSecret");
    assert_eq!(kind, "ConfusedDeputy", "{function}: {message}");

    assert_reads(a, &admin, &admin_password, "the admin").await;
    assert_reads(a, &user, &password, "the user").await;
    assert_refused(
        a,
        &admin,
        &new_password,
        "the admin with the stored password",
    )
    .await;
    assert_eq!(a.account_state(&admin).await, admin_before, "{function}");
    assert_eq!(a.account_state(&user).await, user_before, "{function}");
    let output = f.output();
    for secret in [&admin_password, &password, &new_password] {
        assert!(
            !output.contains(secret.as_str()),
            "{function}: a password in the output:\n{output}"
        );
    }
}

/// Alternating users: the secret must name the admin in `masterarn`, and the admin's secret
/// must be for the same database. A secret without `masterarn`, and an admin secret for
/// another host, are bad secrets at createSecret: nothing is stored (`fails_at` checks it) and no clone is created.
pub async fn admin_secret_must_name_the_same_database<A: Adapter>(a: &A, strategy: Strategy) {
    let sm = Sm::from_env();
    let user = unique("master");
    let password = unique("Pw-");
    a.create_user(&user, &password).await;
    let admin = a.admin_secret();
    let elsewhere = json!({
        "username": admin["username"],
        "password": admin["password"],
        "host": "db.example.com",
    });
    let elsewhere = sm.create("conf-admin-elsewhere-", &elsewhere).await;
    let r = a.rotator(&sm, strategy, &[]);
    for (what, masterarn, expected) in [
        ("no masterarn", None, "masterarn"),
        (
            "an admin of another host",
            Some(elsewhere.as_str()),
            "same database",
        ),
    ] {
        let arn = sm
            .create(
                "conf-master-",
                &secret_with(a, a.port(), &user, &password, masterarn),
            )
            .await;
        let (_, err) = fails_at(&r, &sm, &arn, "createSecret").await;
        let message = err.to_string();
        assert_eq!(err.kind(), "BadSecret", "{what}: {message}");
        assert!(message.contains(expected), "{what}: {message}");
    }
    assert!(!a.user_exists(&clone_of(&user)).await, "no clone created");
    assert_reads(a, &user, &password, "the user, unchanged").await;
}
