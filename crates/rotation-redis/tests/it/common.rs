//! Helpers: the server under test (the shared Redis, or a throwaway one), connections as admin
//! and as any user, users with rules, secrets, rotators and the steps they run.

use redis::Value;
use redis::aio::MultiplexedConnection;
use rotation_core::protocol::Rotator;
use rotation_core::{RotationError, Strategy};
use rotation_redis::{DEFAULT_EXCLUDE_CHARACTERS, PreviousPassword, RedisEngine, acl};
use serde_json::{Value as Json, json};
use test_support::redis::{Flavor, Options, Redis};
use test_support::secrets::{Sm, rotate, step};

/// A server under test.
pub struct Db {
    /// The server.
    pub server: Redis,
}

impl Db {
    /// The shared Redis server.
    pub fn shared() -> Db {
        Db {
            server: Redis::from_env(),
        }
    }

    /// A new plaintext server of this flavour, for this test only.
    pub fn throwaway(flavor: Flavor) -> Db {
        Db::start(Options {
            flavor,
            ..Options::default()
        })
    }

    /// A new server started with `options`, for this test only.
    pub fn start(options: Options<'_>) -> Db {
        Db {
            server: Redis::start_with(options)
                .unwrap_or_else(|e| panic!("cannot start a test server: {e}")),
        }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.server.port
    }

    /// The secret's `engine` value for this server.
    pub fn engine(&self) -> &'static str {
        self.server.flavor.name()
    }

    /// A plaintext connection logged in as `user`.
    pub async fn connect(
        &self,
        user: &str,
        password: &str,
    ) -> Result<MultiplexedConnection, String> {
        let client = redis::Client::open(format!("redis://127.0.0.1:{}/", self.port()))
            .map_err(|e| e.to_string())?;
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| e.to_string())?;
        redis::cmd("AUTH")
            .arg(user)
            .arg(password)
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        Ok(conn)
    }

    /// Log in as `user` (a successful `AUTH`; the user may not be allowed `PING`).
    pub async fn login(&self, user: &str, password: &str) -> Result<(), String> {
        self.connect(user, password).await.map(drop)
    }

    /// Run a command as admin.
    pub async fn admin(&self, args: &[&str]) -> Value {
        let mut conn = self
            .connect(&self.server.admin_user, &self.server.admin_password)
            .await
            .unwrap_or_else(|e| panic!("admin login: {e}"));
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query_async(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    /// Create (or reset) `user` with `password` and `rules`.
    pub async fn create_user(&self, user: &str, password: &str, rules: &[&str]) {
        let pw = format!(">{password}");
        let mut args = vec!["ACL", "SETUSER", user, "reset", "on", pw.as_str()];
        args.extend(rules);
        self.admin(&args).await;
    }

    /// `ACL GETUSER` without the passwords: every other rule, for comparing two users or one
    /// user before and after.
    pub async fn rules_of(&self, user: &str) -> Option<String> {
        let (_, rules) = self.getuser(user).await?;
        Some(rules)
    }

    /// The password hashes of `user`, sorted.
    pub async fn hashes_of(&self, user: &str) -> Vec<String> {
        self.getuser(user).await.map(|(h, _)| h).unwrap_or_default()
    }

    async fn getuser(&self, user: &str) -> Option<(Vec<String>, String)> {
        let fields = match self.admin(&["ACL", "GETUSER", user]).await {
            Value::Nil => return None,
            Value::Array(items) => items,
            other => panic!("ACL GETUSER answered {other:?}"),
        };
        let mut hashes = Vec::new();
        let mut rules = Vec::new();
        for pair in fields.chunks(2) {
            let key = text(&pair[0]);
            if key == "passwords" {
                if let Some(Value::Array(list)) = pair.get(1) {
                    hashes.extend(list.iter().map(text));
                }
            } else {
                rules.push(format!("{key}={:?}", pair.get(1)));
            }
        }
        hashes.sort();
        Some((hashes, rules.join("\n")))
    }

    /// Whether `user` exists.
    pub async fn exists(&self, user: &str) -> bool {
        self.getuser(user).await.is_some()
    }

    /// A secret in the templates' format for this server.
    pub fn secret(&self, user: &str, password: &str) -> Json {
        json!({
            "engine": self.engine(),
            "host": "127.0.0.1",
            "port": self.port(),
            "username": user,
            "password": password,
            "note": {"kept": ["as", "is"]},
        })
    }

    /// The same with `masterarn`.
    pub fn secret_with_master(&self, user: &str, password: &str, masterarn: &str) -> Json {
        let mut s = self.secret(user, password);
        s["masterarn"] = json!(masterarn);
        s
    }

    /// Create `user` with `password` and `rules`, and store its secret (with `masterarn` when
    /// `master` is given); returns the secret's ARN.
    pub async fn user_with_secret(
        &self,
        sm: &Sm,
        user: &str,
        password: &str,
        rules: &[&str],
        master: Option<&str>,
    ) -> String {
        self.create_user(user, password, rules).await;
        let value = match master {
            Some(arn) => self.secret_with_master(user, password, arn),
            None => self.secret(user, password),
        };
        sm.create("redis-", &value).await
    }

    /// The admin secret, stored in the emulator; returns its ARN.
    pub async fn master_secret(&self, sm: &Sm) -> String {
        self.master_secret_for(sm, &self.server.admin_user, &self.server.admin_password)
            .await
    }

    /// An admin secret for another admin user; returns its ARN.
    pub async fn master_secret_for(&self, sm: &Sm, user: &str, password: &str) -> String {
        sm.create(
            "redis-master-",
            &json!({"engine": self.engine(), "host": "127.0.0.1", "port": self.port(), "username": user, "password": password}),
        )
        .await
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        other => format!("{other:?}"),
    }
}

/// The hash the server lists for `password` (without the `#`).
pub fn hash(password: &str) -> String {
    acl::password_rule(password)[1..].to_owned()
}

/// Sorted hashes of these passwords, to compare with [`Db::hashes_of`].
pub fn hashes(passwords: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = passwords.iter().map(|p| hash(p)).collect();
    out.sort();
    out.dedup();
    out
}

/// An in-process rotator with environment `vars` (`PREVIOUS_PASSWORD` included).
pub fn rotator(sm: &Sm, strategy: Strategy, vars: &[(&str, &str)]) -> Rotator<RedisEngine> {
    let previous = vars
        .iter()
        .find(|(k, _)| *k == "PREVIOUS_PASSWORD")
        .map(|(_, v)| *v);
    let previous = PreviousPassword::parse(previous).unwrap_or_else(|e| panic!("{e}"));
    sm.rotator(strategy, vars, |tls| RedisEngine::new(tls, previous))
}

/// A user with its secret on a server of its own test, and the emulator.
pub struct Case {
    pub sm: Sm,
    pub db: Db,
    pub user: String,
    pub password: String,
    pub arn: String,
}

impl Case {
    /// `user` with `password` and `rules` on `db`, and its secret: with a `masterarn` naming
    /// the server's admin when `with_master`.
    pub async fn new(
        db: Db,
        user: String,
        password: &str,
        rules: &[&str],
        with_master: bool,
    ) -> Case {
        let sm = Sm::from_env();
        let master = match with_master {
            true => Some(db.master_secret(&sm).await),
            false => None,
        };
        let arn = db
            .user_with_secret(&sm, &user, password, rules, master.as_deref())
            .await;
        Case {
            sm,
            db,
            user,
            password: password.to_owned(),
            arn,
        }
    }
}

/// Start a rotation of `arn` and run its four steps; returns the new AWSCURRENT password.
pub async fn rotate_once(sm: &Sm, r: &Rotator<RedisEngine>, arn: &str) -> String {
    let token = sm.start_rotation(arn).await;
    rotate(r, arn, &token)
        .await
        .unwrap_or_else(|e| panic!("rotation of {arn}: {e}"));
    password_at(sm, arn, "AWSCURRENT").await
}

/// Start a rotation of `arn` and run createSecret, which must succeed; returns the token.
pub async fn start_and_create(sm: &Sm, r: &Rotator<RedisEngine>, arn: &str) -> String {
    let token = sm.start_rotation(arn).await;
    step(r, arn, &token, "createSecret")
        .await
        .unwrap_or_else(|e| panic!("createSecret of {arn}: {e}"));
    token
}

/// The Lambda `errorType` and message of setSecret in a new rotation of `arn`, which must fail
/// (createSecret before it must not).
pub async fn failed_set_secret(
    sm: &Sm,
    r: &Rotator<RedisEngine>,
    arn: &str,
    what: &str,
) -> (String, String) {
    let token = start_and_create(sm, r, arn).await;
    failure(step(r, arn, &token, "setSecret").await, what)
}

/// Run a blocking call (a shipped binary's invocation) on a runtime worker.
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// The password of the version carrying `stage`.
pub async fn password_at(sm: &Sm, arn: &str, stage: &str) -> String {
    sm.value(arn, stage, None).await.expect("version")["password"]
        .as_str()
        .expect("password")
        .to_owned()
}

/// The Lambda `errorType` and message of a failed step.
pub fn failure(result: Result<(), RotationError>, what: &str) -> (String, String) {
    match result {
        Ok(()) => panic!("{what}: expected an error"),
        Err(e) => (e.kind().to_owned(), e.to_string()),
    }
}

/// Application rules with keys, channels, commands, a flag and a selector (Redis 7 / Valkey
/// syntax), to check that rotations keep every one of them.
pub const RICH_RULES: &[&str] = &[
    "sanitize-payload",
    "~app:*",
    "%R~ro:*",
    "&chan:*",
    "-@all",
    "+@read",
    "+set",
    "+config|get",
    "(~sel:* +get)",
];

/// The engine alone, with default settings and `previous`.
pub fn engine(previous: PreviousPassword) -> RedisEngine {
    let config = rotation_core::Config::from_lookup(
        Strategy::SingleUser,
        DEFAULT_EXCLUDE_CHARACTERS,
        |_| None,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let tls = rotation_core::TlsSettings::from_config(&config).unwrap_or_else(|e| panic!("{e}"));
    RedisEngine::new(tls, previous)
}

/// Parse a secret as the Redis functions do.
pub fn parse(value: &Json) -> rotation_core::DbSecret {
    rotation_core::DbSecret::parse(
        &rotation_core::SecretString::from(value.to_string()),
        &rotation_redis::RULES,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}
