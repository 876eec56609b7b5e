//! Helpers: connections as admin and as any user, roles to rotate, secrets and rotators, the
//! shipped functions, and the two ways a test drives a rotation: all the way through, or
//! until a step refuses.

use rotation_core::RotationError;
use rotation_core::Strategy;
use rotation_core::protocol::Rotator;
use rotation_postgres::PostgreSql;
use rotation_postgres::sql::{ident, literal};
use serde_json::{Value, json};
use test_support::lambda::{Function, Outcome};
use test_support::moto::Moto;
use test_support::postgres::{DATABASE, Postgres};
use test_support::secrets::{Sm, rotate, step};
use test_support::{function_binary, unique};
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

/// Let `user` create tables in the admin's database.
pub async fn allow_tables(db: &Postgres, user: &str) {
    let grant = format!("GRANT CREATE, USAGE ON SCHEMA public TO {}", ident(user));
    admin_exec(db, &[grant]).await;
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

/// A role made for a test, and its secret stored in the emulator.
pub struct Role {
    pub user: String,
    /// The name its alternate gets.
    pub clone: String,
    pub password: String,
    pub arn: String,
}

/// Create a login role named from `prefix` on `db`, and store its secret with the keys of
/// `extra` added (and, for alternating users, `masterarn`).
pub async fn new_role(
    sm: &Sm,
    db: &Postgres,
    strategy: Strategy,
    prefix: &str,
    extra: &Value,
) -> Role {
    let user = unique(prefix);
    let password = unique("Pw-");
    create_role(db, &user, &password).await;
    let mut value = secret(db.port, &user, &password);
    if strategy == Strategy::AlternatingUsers {
        value["masterarn"] = json!(master_secret(sm, db).await);
    }
    let arn = store(sm, "pg-", value, extra).await;
    Role {
        clone: format!("{user}_clone"),
        user,
        password,
        arn,
    }
}

/// A role and its secret on the shared server, ready to rotate.
pub struct Fixture {
    pub sm: Sm,
    pub db: Postgres,
    pub user: String,
    pub clone: String,
    pub password: String,
    pub arn: String,
}

pub async fn fixture(strategy: Strategy, prefix: &str) -> Fixture {
    let db = db();
    let sm = Sm::from_env();
    let Role {
        user,
        clone,
        password,
        arn,
    } = new_role(&sm, &db, strategy, prefix, &json!({})).await;
    Fixture {
        sm,
        db,
        user,
        clone,
        password,
        arn,
    }
}

/// The function's output once it holds `marker`.
pub fn settled_output(function: &Function, marker: &str) -> String {
    output_when(function, |output| output.contains(marker))
}

/// The function's output once `done` accepts it, or after 10 seconds: the pipes are read by
/// other threads, so the last lines may arrive a moment after the invocation's result.
pub fn output_when(function: &Function, done: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let output = function.output();
        if done(&output) || std::time::Instant::now() > deadline {
            return output;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The four steps, in the order Secrets Manager calls them.
pub const STEPS: [&str; 4] = ["createSecret", "setSecret", "testSecret", "finishSecret"];

/// Store `value` in the emulator with the keys of `extra` added; returns its ARN.
pub async fn store(sm: &Sm, prefix: &str, mut value: Value, extra: &Value) -> String {
    for (k, v) in extra.as_object().into_iter().flatten() {
        value[k] = v.clone();
    }
    sm.create(prefix, &value).await
}

/// The key that makes a secret one for alternating users: `masterarn`, naming a new secret of
/// the admin of `db`.
pub async fn admin_key(sm: &Sm, db: &Postgres) -> Value {
    json!({"masterarn": master_secret(sm, db).await})
}

/// Start a rotation of `arn` and run it through; the new AWSCURRENT must log in to `port`.
/// Returns its user and password.
pub async fn rotate_through(
    r: &Rotator<PostgreSql>,
    sm: &Sm,
    arn: &str,
    port: u16,
) -> (String, String) {
    let token = sm.start_rotation(arn).await;
    rotate(r, arn, &token)
        .await
        .unwrap_or_else(|e| panic!("rotation of {arn}: {e}"));
    let user = username_at(sm, arn, "AWSCURRENT").await;
    let password = password_at(sm, arn, "AWSCURRENT").await;
    login(port, &user, &password)
        .await
        .unwrap_or_else(|e| panic!("{user} logs in with AWSCURRENT: {e}"));
    (user, password)
}

/// AWSCURRENT of `arn` names `user` and logs in to `port`; returns its password.
pub async fn current_is(sm: &Sm, arn: &str, port: u16, user: &str) -> String {
    assert_eq!(username_at(sm, arn, "AWSCURRENT").await, user, "AWSCURRENT");
    let password = password_at(sm, arn, "AWSCURRENT").await;
    login(port, user, &password)
        .await
        .unwrap_or_else(|e| panic!("{user} logs in with AWSCURRENT: {e}"));
    password
}

/// Run the steps of `token` in order until one fails, which must fail with `kind`. Returns
/// that step and the error.
pub async fn refusal(
    r: &Rotator<PostgreSql>,
    arn: &str,
    token: &str,
    kind: &str,
) -> (&'static str, RotationError) {
    for s in STEPS {
        if let Err(e) = step(r, arn, token, s).await {
            assert_eq!(e.kind(), kind, "{s}: {e}");
            return (s, e);
        }
    }
    panic!("every step of {token} succeeded; expected a {kind}")
}

/// Panics unless `text` contains every one of `expected`.
pub fn assert_names(text: &str, expected: &[&str]) {
    for e in expected {
        assert!(text.contains(e), "{e:?} is not in: {text}");
    }
}

/// The shipped function `name` (e.g. `postgres-single-user`), started under a Lambda Runtime
/// API with the environment `env`.
pub fn shipped(name: &str, env: &[(&str, &str)]) -> Function {
    Function::spawn(&function_binary(name), &Moto::from_env().url, env)
}

/// One step through a shipped function, from a runtime thread that may block.
pub fn invoke(function: &Function, arn: &str, token: &str, step: &str) -> Outcome {
    tokio::task::block_in_place(|| function.invoke(arn, token, step))
}
