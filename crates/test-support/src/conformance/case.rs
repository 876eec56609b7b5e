//! The scenarios' fixture: a user on the adapter's server and its secret in the emulator, and
//! the assertions they share (these credentials read the canary, these do not, this step
//! fails). [`fails_at`] serves engines' own tests too.

use super::Adapter;
use crate::secrets::{Sm, step};
use crate::unique;
use rotation_core::protocol::Rotator;
use rotation_core::{Engine, RotationError, Strategy};
use serde_json::{Value, json};

/// A user the suite created, and the secret that rotates it.
pub struct Case {
    /// The emulator.
    pub sm: Sm,
    /// The user of the secret's first version.
    pub user: String,
    /// Its password in that version.
    pub password: String,
    /// The secret.
    pub arn: String,
}

/// Whether the suite's secrets for `strategy` name the admin in `masterarn`.
pub fn names_admin<A: Adapter>(strategy: Strategy) -> bool {
    strategy == Strategy::AlternatingUsers || A::SINGLE_USER_USES_ADMIN
}

/// The alternate of `user` (alternating users), as the protocol names it.
pub fn clone_of(user: &str) -> String {
    format!("{user}_clone")
}

/// Store the admin's secret; returns its ARN.
pub async fn store_admin<A: Adapter>(a: &A, sm: &Sm) -> String {
    sm.create("conf-admin-", &a.admin_secret()).await
}

/// Store an admin secret for `user` with `password`: the server's admin secret with those
/// credentials instead. Returns its ARN.
pub async fn store_admin_as<A: Adapter>(a: &A, sm: &Sm, user: &str, password: &str) -> String {
    let mut value = a.admin_secret();
    value["username"] = json!(user);
    value["password"] = json!(password);
    sm.create("conf-admin-", &value).await
}

/// Where the suite's secrets for `strategy` name the admin, store it RDS-style (credentials
/// only), so that it names whatever database the rotated secret names. Returns its ARN.
pub async fn store_rds_style_admin<A: Adapter>(
    a: &A,
    sm: &Sm,
    strategy: Strategy,
) -> Option<String> {
    if !names_admin::<A>(strategy) {
        return None;
    }
    let admin = a.admin_secret();
    let value = json!({"username": admin["username"], "password": admin["password"]});
    Some(sm.create("conf-admin-", &value).await)
}

/// The rotated secret for `user`, naming `masterarn` when given.
pub fn secret_with<A: Adapter>(
    a: &A,
    port: u16,
    user: &str,
    password: &str,
    masterarn: Option<&str>,
) -> Value {
    let mut value = a.secret(port, user, password);
    if let Some(arn) = masterarn {
        value["masterarn"] = json!(arn);
    }
    value
}

impl Case {
    /// A fresh user, with a fresh password, and its secret as the suite deploys `strategy`
    /// (see [`names_admin`]).
    pub async fn new<A: Adapter>(a: &A, strategy: Strategy, prefix: &str) -> Case {
        Case::with(
            a,
            &unique(prefix),
            &unique("Pw-"),
            names_admin::<A>(strategy),
        )
        .await
    }

    /// `user` with `password`, created here, and its secret (naming the server's admin when
    /// `with_admin`). A single-user secret without the admin gets a user that may change its
    /// own password.
    pub async fn with<A: Adapter>(a: &A, user: &str, password: &str, with_admin: bool) -> Case {
        let sm = Sm::from_env();
        a.create_user(user, password).await;
        if !with_admin {
            a.allow_own_password_change(user).await;
        }
        let master = match with_admin {
            true => Some(store_admin(a, &sm).await),
            false => None,
        };
        let mut value = secret_with(a, a.port(), user, password, master.as_deref());
        // A key the functions do not know, which every version must keep.
        value["note"] = json!({"kept": ["as", "is"]});
        let arn = sm.create("conf-", &value).await;
        Case {
            sm,
            user: user.to_owned(),
            password: password.to_owned(),
            arn,
        }
    }

    /// `username` and `password` of the version carrying `stage`.
    pub async fn at(&self, stage: &str) -> (String, String) {
        let value = self
            .sm
            .value(&self.arn, stage, None)
            .await
            .unwrap_or_else(|| panic!("{}: no {stage} version", self.arn));
        let field = |k: &str| {
            value[k]
                .as_str()
                .unwrap_or_else(|| panic!("{stage} has no {k}: keys {:?}", keys(&value)))
                .to_owned()
        };
        (field("username"), field("password"))
    }

    /// The password of the AWSPENDING version `token`.
    pub async fn pending_password(&self, token: &str) -> String {
        let value = self
            .sm
            .value(&self.arn, "AWSPENDING", Some(token))
            .await
            .unwrap_or_else(|| panic!("{token} has no AWSPENDING value"));
        value["password"]
            .as_str()
            .unwrap_or_else(|| panic!("AWSPENDING has no password"))
            .to_owned()
    }
}

fn keys(value: &Value) -> Vec<&str> {
    value
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

/// `user` with `password` reads the canary.
pub async fn assert_reads<A: Adapter>(a: &A, user: &str, password: &str, what: &str) {
    match a.read_canary(user, password).await {
        Ok(v) => assert_eq!(v, a.canary(), "{what}: {user} read another canary"),
        Err(e) => panic!("{what}: {user} cannot read the canary: {e}"),
    }
}

/// `user` with `password` does not log in (or cannot read the canary).
pub async fn assert_refused<A: Adapter>(a: &A, user: &str, password: &str, what: &str) {
    if let Ok(v) = a.read_canary(user, password).await {
        panic!("{what}: {user} still logs in and reads {v:?}");
    }
}

/// The credentials of the stage `stage` read the canary.
pub async fn assert_stage_reads<A: Adapter>(a: &A, case: &Case, stage: &str) {
    let (user, password) = case.at(stage).await;
    assert_reads(a, &user, &password, stage).await;
}

/// Start a rotation of `arn` and run its steps up to `failing`, which must fail (the steps
/// before it must not); returns the token and the error. A failed createSecret must have
/// stored nothing.
pub async fn fails_at<E: Engine>(
    r: &Rotator<E>,
    sm: &Sm,
    arn: &str,
    failing: &str,
) -> (String, RotationError) {
    let token = sm.start_rotation(arn).await;
    for s in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        let result = step(r, arn, &token, s).await;
        if s != failing {
            result.unwrap_or_else(|e| panic!("{s} before {failing}: {e}"));
            continue;
        }
        let err = result.expect_err(&format!("{failing} must fail"));
        if s == "createSecret" {
            assert!(
                sm.value(arn, "AWSPENDING", Some(&token)).await.is_none(),
                "createSecret failed and stored nothing: {err}"
            );
        }
        return (token, err);
    }
    panic!("{failing} is not a step");
}
