//! Helpers: connections as admin and as any user, roles to rotate, secrets, rotators, and the
//! scenarios both functions share.

use rotation_core::Strategy;
use rotation_core::protocol::Rotator;
use rotation_postgres::PostgreSql;
use rotation_postgres::sql::{ident, literal};
use serde_json::{Value, json};
use test_support::postgres::{DATABASE, Postgres};
use test_support::secrets::{Sm, rotate, step};
use test_support::unique;
use tokio_postgres::{Client, NoTls};

/// The shared server.
pub fn db() -> Postgres {
    Postgres::from_env()
}

/// Connect without TLS to `database` as `user`.
pub async fn connect(
    port: u16,
    user: &str,
    password: &str,
    database: &str,
) -> Result<Client, String> {
    let mut config = tokio_postgres::Config::new();
    config
        .host("127.0.0.1")
        .port(port)
        .user(user)
        .password(password)
        .dbname(database);
    let (client, connection) = config.connect(NoTls).await.map_err(|e| {
        let code = e.code().map(|c| c.code().to_owned()).unwrap_or_default();
        format!(
            "{e} {code} {}",
            e.as_db_error().map(|d| d.message()).unwrap_or_default()
        )
    })?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// Log in as `user` and run a query.
pub async fn login(port: u16, user: &str, password: &str) -> Result<(), String> {
    let c = connect(port, user, password, "postgres").await?;
    c.simple_query("SELECT 1")
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// An admin connection to the admin's database.
pub async fn admin(db: &Postgres) -> Client {
    connect(db.port, &db.admin_user, &db.admin_password, DATABASE)
        .await
        .unwrap_or_else(|e| panic!("admin connection: {e}"))
}

/// Run statements as admin.
pub async fn admin_exec(db: &Postgres, statements: &[String]) {
    let c = admin(db).await;
    for s in statements {
        c.batch_execute(s)
            .await
            .unwrap_or_else(|e| panic!("{s}: {e:?}"));
    }
}

/// Create a login role with `password`.
pub async fn create_role(db: &Postgres, name: &str, password: &str) {
    admin_exec(
        db,
        &[format!(
            "CREATE ROLE {} LOGIN PASSWORD {}",
            ident(name),
            literal(password)
        )],
    )
    .await;
}

/// Whether a role exists.
pub async fn role_exists(db: &Postgres, name: &str) -> bool {
    let c = admin(db).await;
    let row = c
        .query_one("SELECT count(*) FROM pg_roles WHERE rolname = $1", &[&name])
        .await
        .expect("count roles");
    row.get::<_, i64>(0) > 0
}

/// Whether `member` is a member of `role`.
pub async fn is_member(db: &Postgres, member: &str, role: &str) -> bool {
    let c = admin(db).await;
    c.query_one(
        "SELECT pg_has_role($1::text::name, $2::text::name, 'MEMBER')",
        &[&member, &role],
    )
    .await
    .expect("pg_has_role")
    .get(0)
}

/// The server's `server_version_num` (e.g. 150020, 160002, 180006), for tests that assert
/// what each version does.
pub async fn version_num(db: &Postgres) -> u32 {
    let c = admin(db).await;
    let v: String = c
        .query_one("SELECT current_setting('server_version_num')", &[])
        .await
        .expect("server_version_num")
        .get(0);
    v.parse()
        .unwrap_or_else(|e| panic!("server_version_num {v:?}: {e}"))
}

/// A superuser connection to a server started by the test (only those have the password).
pub async fn superuser(server: &Postgres) -> Client {
    let password = server
        .superuser_password
        .as_deref()
        .expect("a server started by the test, which knows the superuser's password");
    connect(server.port, "postgres", password, "postgres")
        .await
        .unwrap_or_else(|e| panic!("superuser connection: {e}"))
}

/// A secret in the templates' format (no `dbname`: the default `postgres` applies).
pub fn secret(port: u16, user: &str, password: &str) -> Value {
    json!({
        "engine": "postgres",
        "host": "127.0.0.1",
        "port": port,
        "username": user,
        "password": password,
        "note": {"kept": ["as", "is"]},
    })
}

/// The admin secret, stored in the emulator, RDS-style (credentials only); returns its ARN.
pub async fn master_secret(sm: &Sm, db: &Postgres) -> String {
    sm.create(
        "pg-master-",
        &json!({"username": db.admin_user, "password": db.admin_password}),
    )
    .await
}

/// An in-process rotator for the strategy, with environment `vars`.
pub fn rotator(sm: &Sm, strategy: Strategy, vars: &[(&str, &str)]) -> Rotator<PostgreSql> {
    sm.rotator(strategy, vars, PostgreSql::new)
}

/// The password of the version carrying `stage`.
pub async fn password_at(sm: &Sm, arn: &str, stage: &str) -> String {
    sm.value(arn, stage, None).await.expect("version")["password"]
        .as_str()
        .expect("password")
        .to_owned()
}

/// The username of the version carrying `stage`.
pub async fn username_at(sm: &Sm, arn: &str, stage: &str) -> String {
    sm.value(arn, stage, None).await.expect("version")["username"]
        .as_str()
        .expect("username")
        .to_owned()
}

/// A role and its secret on the shared server, ready to rotate. For alternating users the
/// secret names the admin secret in `masterarn`.
pub struct Fixture {
    pub sm: Sm,
    pub db: Postgres,
    pub user: String,
    pub password: String,
    pub arn: String,
}

pub async fn fixture(strategy: Strategy, prefix: &str) -> Fixture {
    let db = db();
    let sm = Sm::from_env();
    let user = unique(prefix);
    let password = unique("Pw-");
    create_role(&db, &user, &password).await;
    let mut value = secret(db.port, &user, &password);
    if strategy == Strategy::AlternatingUsers {
        value["masterarn"] = json!(master_secret(&sm, &db).await);
    }
    let arn = sm.create("pg-", &value).await;
    Fixture {
        sm,
        db,
        user,
        password,
        arn,
    }
}

/// Both functions: the handler gate keeps the templates' texts; a token that is already
/// AWSCURRENT succeeds without doing anything.
pub async fn gate_errors(strategy: Strategy) {
    let f = fixture(strategy, "gate").await;
    let r = rotator(&f.sm, strategy, &[]);
    let current =
        f.sm.version_of(&f.arn, "AWSCURRENT")
            .await
            .expect("current");

    let err = step(&r, &f.arn, "no-such-token", "createSecret")
        .await
        .expect_err("unknown token");
    assert!(
        err.to_string()
            .contains("has no stage for rotation of secret"),
        "{err}"
    );
    assert_eq!(err.kind(), "InvalidRequest");

    for s in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        step(&r, &f.arn, &current, s)
            .await
            .unwrap_or_else(|e| panic!("AWSCURRENT token, {s}: {e}"));
    }
    assert_eq!(f.sm.stages(&f.arn).await.len(), 1, "no version was added");
    login(f.db.port, &f.user, &f.password)
        .await
        .expect("nothing changed");

    let token = f.sm.start_rotation(&f.arn).await;
    let err = step(&r, &f.arn, &token, "fooSecret")
        .await
        .expect_err("bad step");
    assert!(
        err.to_string()
            .starts_with("Invalid step parameter fooSecret for secret"),
        "{err}"
    );

    f.sm.disable_rotation(&f.arn).await;
    let err = step(&r, &f.arn, &token, "createSecret")
        .await
        .expect_err("disabled");
    assert!(
        err.to_string().ends_with("is not enabled for rotation"),
        "{err}"
    );
    assert_eq!(err.kind(), "RotationNotEnabled");
    assert!(
        f.sm.value(&f.arn, "AWSPENDING", Some(&token))
            .await
            .is_none(),
        "nothing stored"
    );
}

/// Both functions: the four steps run twice each end in the same state as once.
pub async fn every_step_twice(strategy: Strategy) {
    let f = fixture(strategy, "twice").await;
    let r = rotator(&f.sm, strategy, &[]);
    let token = f.sm.start_rotation(&f.arn).await;
    test_support::secrets::each_step_twice(&r, &f.arn, &token).await;
    assert_eq!(
        f.sm.version_of(&f.arn, "AWSCURRENT").await.as_deref(),
        Some(token.as_str())
    );
    let user = username_at(&f.sm, &f.arn, "AWSCURRENT").await;
    login(
        f.db.port,
        &user,
        &password_at(&f.sm, &f.arn, "AWSCURRENT").await,
    )
    .await
    .expect("the new credentials log in");
}

/// Both functions: an AWSPENDING that names another user, host or port is refused before
/// anything changes.
pub async fn tampered_pending(strategy: Strategy) {
    let f = fixture(strategy, "tamper").await;
    let victim = unique("victim");
    create_role(&f.db, &victim, "Victim-pw-1").await;
    let r = rotator(&f.sm, strategy, &[]);
    let cases = [
        ("user", json!({"username": victim})),
        ("host", json!({"host": "localhost"})),
        ("port", json!({"port": f.db.port + 1})),
        ("engine", json!({"engine": "aurora-postgresql"})),
    ];
    for (what, change) in cases {
        let token = f.sm.start_rotation(&f.arn).await;
        step(&r, &f.arn, &token, "createSecret")
            .await
            .expect("create");
        let mut pending =
            f.sm.value(&f.arn, "AWSPENDING", Some(&token))
                .await
                .expect("pending");
        for (k, v) in change.as_object().expect("object") {
            pending[k] = v.clone();
        }
        f.sm.tamper_pending(&f.arn, &token, &pending).await;
        let err = step(&r, &f.arn, &token, "setSecret").await.expect_err(what);
        assert_eq!(err.kind(), "ConfusedDeputy", "{what}: {err}");
        assert!(err.to_string().contains(&f.arn), "{err}");
        let new_pw = pending["password"].as_str().expect("pw");
        assert!(!err.to_string().contains(new_pw), "{err}");
        login(f.db.port, &f.user, &f.password)
            .await
            .expect("the current password still works");
        login(f.db.port, &victim, "Victim-pw-1")
            .await
            .expect("the other user is untouched");
        assert!(
            login(f.db.port, &victim, new_pw).await.is_err(),
            "the victim did not get the password"
        );
        assert!(
            !role_exists(&f.db, &format!("{}_clone", f.user)).await,
            "no clone is created"
        );
        f.sm.clear_pending(&f.arn, &token).await;
    }
}

/// Both functions: nothing listens at the port, or something accepts and never answers.
pub async fn database_down(strategy: Strategy) {
    let sm = Sm::from_env();
    let db = db();
    let port = test_support::net::free_port();
    let mut value = secret(port, "app", "Some-pw-1");
    if strategy == Strategy::AlternatingUsers {
        value["masterarn"] = json!(master_secret(&sm, &db).await);
    }
    let arn = sm.create("pg-down-", &value).await;
    let r = rotator(&sm, strategy, &[("CONNECT_TIMEOUT_SECONDS", "2")]);
    let token = sm.start_rotation(&arn).await;
    let mut err = step(&r, &arn, &token, "createSecret").await.err();
    if err.is_none() {
        err = step(&r, &arn, &token, "setSecret").await.err();
    }
    let err = err.expect("the database is down");
    assert_eq!(err.kind(), "NetworkError", "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("127.0.0.1:{port}")) && msg.contains("AWSCURRENT"),
        "{msg}"
    );
    assert!(
        msg.contains("security groups"),
        "the message says what to check: {msg}"
    );

    // A server that accepts the connection and then says nothing: the connect timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_port = silent.local_addr().expect("addr").port();
    // Accepted sockets are held open, unanswered, until the test process ends.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in silent.incoming() {
            held.push(s);
        }
    });
    let mut value = secret(silent_port, "app", "Some-pw-1");
    if strategy == Strategy::AlternatingUsers {
        value["masterarn"] = json!(master_secret(&sm, &db).await);
    }
    let arn = sm.create("pg-silent-", &value).await;
    let r = rotator(&sm, strategy, &[("CONNECT_TIMEOUT_SECONDS", "1")]);
    let token = sm.start_rotation(&arn).await;
    let started = std::time::Instant::now();
    let mut err = step(&r, &arn, &token, "createSecret").await.err();
    if err.is_none() {
        err = step(&r, &arn, &token, "setSecret").await.err();
    }
    let err = err.expect("the server never answers");
    assert_eq!(err.kind(), "NetworkError", "{err}");
    assert!(err.to_string().contains("CONNECT_TIMEOUT_SECONDS"), "{err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(6),
        "the timeout was honoured"
    );
}

/// Both functions: a secret for another engine, or unusable, is refused before anything is
/// stored; `aurora-postgresql` is accepted.
pub async fn bad_secrets(strategy: Strategy) {
    let sm = Sm::from_env();
    let db = db();
    let r = rotator(&sm, strategy, &[]);
    let master = master_secret(&sm, &db).await;
    let cases = [
        (
            json!({"engine": "mysql", "host": "127.0.0.1", "port": db.port, "username": "u", "password": "p", "masterarn": master}),
            "engine is 'mysql'",
        ),
        (
            json!({"engine": "postgres", "port": db.port, "username": "u", "password": "p", "masterarn": master}),
            "no 'host' key",
        ),
        (
            json!({"engine": "postgres", "host": "127.0.0.1", "username": "u", "masterarn": master}),
            "no 'password' key",
        ),
        (
            json!({"engine": "postgres", "host": "127.0.0.1", "username": "u", "password": "p", "port": "abc", "masterarn": master}),
            "'port'",
        ),
    ];
    for (value, expected) in cases {
        let arn = sm.create("pg-bad-", &value).await;
        let token = sm.start_rotation(&arn).await;
        let err = step(&r, &arn, &token, "createSecret")
            .await
            .expect_err(expected);
        assert_eq!(err.kind(), "BadSecret", "{err}");
        assert!(err.to_string().contains(expected), "{err}");
        assert!(
            err.to_string().contains("postgres, aurora-postgresql")
                || expected != "engine is 'mysql'",
            "{err}"
        );
        assert!(
            sm.value(&arn, "AWSPENDING", Some(&token)).await.is_none(),
            "nothing is stored"
        );
    }

    let user = unique("aurora");
    create_role(&db, &user, "Aurora-pw-1").await;
    let mut value = secret(db.port, &user, "Aurora-pw-1");
    value["engine"] = json!("aurora-postgresql");
    value["port"] = json!(db.port.to_string());
    value["masterarn"] = json!(master);
    let arn = sm.create("pg-aurora-", &value).await;
    let token = sm.start_rotation(&arn).await;
    rotate(&r, &arn, &token)
        .await
        .expect("aurora-postgresql with a string port rotates");
    let user = username_at(&sm, &arn, "AWSCURRENT").await;
    login(db.port, &user, &password_at(&sm, &arn, "AWSCURRENT").await)
        .await
        .expect("new credentials");
}

/// Both functions: `EXCLUDE_CHARACTERS` reaches `GetRandomPassword`. Everything printable is
/// excluded but one character of each class (moto fails when a whole class is excluded, even
/// with `REQUIRE_EACH_INCLUDED_TYPE=false`), so the password can only be made of those four.
pub async fn exclude_characters(strategy: Strategy) {
    let f = fixture(strategy, "excl").await;
    let kept = ['z', 'Z', '9', '!'];
    let excluded: String = ('!'..='~').filter(|c| !kept.contains(c)).collect();
    let r = rotator(
        &f.sm,
        strategy,
        &[("EXCLUDE_CHARACTERS", &excluded), ("PASSWORD_LENGTH", "40")],
    );
    let token = f.sm.start_rotation(&f.arn).await;
    rotate(&r, &f.arn, &token).await.expect("rotation");
    let pw = password_at(&f.sm, &f.arn, "AWSCURRENT").await;
    assert_eq!(pw.chars().count(), 40);
    assert!(pw.chars().all(|c| kept.contains(&c)), "{pw}");
    let user = username_at(&f.sm, &f.arn, "AWSCURRENT").await;
    login(f.db.port, &user, &pw).await.expect("new password");
}

/// The function's output once it holds `marker`: the pipes are read by other threads, so the
/// last lines may arrive a moment after the invocation's result.
pub fn settled_output(function: &test_support::lambda::Function, marker: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let output = function.output();
        if output.contains(marker) || std::time::Instant::now() > deadline {
            return output;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
