//! What every module here uses: a secret for the test database, a case (database, secret,
//! emulator) ready to rotate, rotators over the test engine, and assertions on what a refused
//! step left behind.

use crate::engine::{Db, HOST, PORT, SqlLike, TestEngine};
use rotation_core::Engine;
use rotation_core::protocol::Rotator;
use rotation_core::{RotationError, Strategy};
use serde_json::{Value, json};
use test_support::moto::Moto;
use test_support::secrets::Sm;

/// The admin user of the `masterarn` secrets here.
pub const ADMIN: &str = "admin";
/// Its password.
pub const ADMIN_PASSWORD: &str = "Admin-pw-7d2e";
/// The password of the rotated users before any rotation.
pub const FIRST_PASSWORD: &str = "First-pw-51c9";

/// One test for each strategy: `both_strategies!(name);` after `async fn name(Strategy)`
/// makes `name::single_user` and `name::alternating_users`.
#[macro_export]
macro_rules! both_strategies {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn single_user() {
                    super::$name(rotation_core::Strategy::SingleUser).await
                }
                #[tokio::test]
                async fn alternating_users() {
                    super::$name(rotation_core::Strategy::AlternatingUsers).await
                }
            }
        )+
    };
}

/// The rotated secret in the templates' format, with a key the function does not know.
pub fn secret(user: &str, password: &str) -> Value {
    json!({
        "engine": "testdb",
        "host": HOST,
        "port": PORT,
        "username": user,
        "password": password,
        "note": {"kept": ["as", "is"]},
    })
}

/// A rotator over the test engine on `db`, talking to Secrets Manager through `sm`.
pub fn rotator<const USES_ADMIN: bool, const REPEAT: bool>(
    sm: &Sm,
    strategy: Strategy,
    vars: &[(&str, &str)],
    db: &Db,
) -> Rotator<TestEngine<USES_ADMIN, REPEAT>> {
    sm.rotator(strategy, vars, |_tls| TestEngine::new(db))
}

/// A client of the emulator whose endpoint is `url` (a proxy in front of it).
pub fn sm_at(url: &str) -> Sm {
    let mut moto = Moto::from_env();
    moto.url = url.to_owned();
    Sm::new(&moto)
}

/// A database with one user and its secret, ready to rotate.
pub struct Case {
    pub sm: Sm,
    pub db: Db,
    pub arn: String,
    pub user: String,
    pub password: String,
    /// The `masterarn`, when the secret names one.
    pub master: Option<String>,
}

/// User `app` with [`FIRST_PASSWORD`]; alternating users gets a `masterarn` (its admin is
/// [`ADMIN`]), single user none.
pub async fn case(strategy: Strategy) -> Case {
    case_with("app", strategy == Strategy::AlternatingUsers).await
}

/// User `user`, with a `masterarn` for [`ADMIN`] when `with_master`.
pub async fn case_with(user: &str, with_master: bool) -> Case {
    let sm = Sm::from_env();
    let db = Db::new();
    db.set_user(user, FIRST_PASSWORD);
    let mut value = secret(user, FIRST_PASSWORD);
    let master = if with_master {
        db.set_user(ADMIN, ADMIN_PASSWORD);
        let master = master_secret(&sm, ADMIN, ADMIN_PASSWORD).await;
        value["masterarn"] = json!(master);
        Some(master)
    } else {
        None
    };
    let arn = sm.create("core-", &value).await;
    Case {
        sm,
        db,
        arn,
        user: user.to_owned(),
        password: FIRST_PASSWORD.to_owned(),
        master,
    }
}

/// An admin secret RDS-style (credentials only); returns its ARN.
pub async fn master_secret(sm: &Sm, user: &str, password: &str) -> String {
    sm.create(
        "core-master-",
        &json!({"username": user, "password": password}),
    )
    .await
}

impl Case {
    /// A rotator over the SQL-like test engine.
    pub fn rotator(&self, strategy: Strategy) -> Rotator<SqlLike> {
        rotator(&self.sm, strategy, &[], &self.db)
    }

    /// A rotator over any variant of the test engine.
    pub fn rotator_of<const USES_ADMIN: bool, const REPEAT: bool>(
        &self,
        strategy: Strategy,
        vars: &[(&str, &str)],
    ) -> Rotator<TestEngine<USES_ADMIN, REPEAT>> {
        rotator(&self.sm, strategy, vars, &self.db)
    }

    /// The JSON of AWSPENDING at `token`, if it has a value.
    pub async fn pending(&self, token: &str) -> Option<Value> {
        self.sm.value(&self.arn, "AWSPENDING", Some(token)).await
    }

    /// The JSON of AWSCURRENT.
    pub async fn current(&self) -> Value {
        self.sm
            .value(&self.arn, "AWSCURRENT", None)
            .await
            .expect("AWSCURRENT has a value")
    }

    /// Start a rotation and run its createSecret; returns the rotation's token.
    pub async fn created<E: Engine>(&self, r: &Rotator<E>) -> String {
        let token = self.sm.start_rotation(&self.arn).await;
        test_support::secrets::step(r, &self.arn, &token, "createSecret")
            .await
            .expect("createSecret");
        token
    }

    /// Start a rotation and run it to the end; returns the rotation's token.
    pub async fn rotated<E: Engine>(&self, r: &Rotator<E>) -> String {
        let token = self.sm.start_rotation(&self.arn).await;
        test_support::secrets::rotate(r, &self.arn, &token)
            .await
            .expect("rotation");
        token
    }

    /// The version that has `stage`.
    pub async fn version(&self, stage: &str) -> String {
        self.sm
            .version_of(&self.arn, stage)
            .await
            .unwrap_or_else(|| panic!("a version has {stage}"))
    }

    /// The users and passwords of the database, for comparing before and after.
    pub fn users(&self) -> std::collections::BTreeMap<String, String> {
        self.db.users()
    }

    /// A refused step left no trace: no AWSPENDING value at `token` and no call to the engine.
    pub async fn assert_untouched(&self, token: &str, what: &str) {
        assert!(
            self.pending(token).await.is_none(),
            "{what}: no AWSPENDING value is stored"
        );
        assert_eq!(self.db.calls(), [], "{what}: the engine was not called");
    }

    /// AWSCURRENT is `token` and logs in to the database.
    pub async fn assert_current_works(&self, token: &str) {
        assert_eq!(
            self.sm.version_of(&self.arn, "AWSCURRENT").await.as_deref(),
            Some(token),
            "AWSCURRENT moved to the rotation's version"
        );
        let current = self.current().await;
        let user = current["username"].as_str().expect("username");
        assert_eq!(
            self.db.password_of(user).as_deref(),
            current["password"].as_str(),
            "the database has AWSCURRENT's password for '{user}'"
        );
    }
}

/// The user AWSPENDING must name: the same (single user) or the other of the pair.
pub fn expected_pending_user(strategy: Strategy, user: &str) -> String {
    match strategy {
        Strategy::SingleUser => user.to_owned(),
        Strategy::AlternatingUsers => rotation_core::secret::alternate_username(user),
    }
}

/// The error of a step that must fail.
pub fn failure(result: Result<(), RotationError>, what: &str) -> RotationError {
    match result {
        Ok(()) => panic!("{what}: the step succeeded, but it must fail"),
        Err(e) => e,
    }
}

/// The message of a step that must fail with an error of `kind`.
pub fn refused(result: Result<(), RotationError>, what: &str, kind: &str) -> String {
    let err = failure(result, what);
    assert_eq!(err.kind(), kind, "{what}: {err}");
    err.to_string()
}

/// As [`refused`], and the message begins with `prefix`.
pub fn refused_with(
    result: Result<(), RotationError>,
    what: &str,
    kind: &str,
    prefix: &str,
) -> String {
    let message = refused(result, what, kind);
    assert!(message.starts_with(prefix), "{what}: {message}");
    message
}

/// A message that must not show any of `passwords`.
pub fn assert_no_password(message: &str, passwords: &[&str]) {
    for pw in passwords {
        assert!(
            pw.is_empty() || !message.contains(pw),
            "a password appears in the message: {}",
            message.replace(pw, "*****")
        );
    }
}
