//! The Redis side of the conformance suite: the engine-agnostic scenarios run on the shared
//! Redis and on a throwaway Valkey (`conformance::redis::…`, `conformance::valkey::…`). Users
//! are ACL users allowed to `GET` the canary key; what only Redis has (the dual-password
//! window, ACL rules, the ACL file, TLS) stays in this crate's other modules.

use crate::common::{Db, rotator};
use rotation_core::Strategy;
use rotation_core::protocol::Rotator;
use rotation_redis::{RedisEngine, facts};
use serde_json::{Value, json};
use test_support::conformance::Adapter;
use test_support::redis::Flavor;
use test_support::secrets::Sm;

/// The key every test user may read, and its value.
const CANARY_KEY: &str = "canary:conformance";
const CANARY_VALUE: &str = "read by a rotated user";

/// The rules of a created user: the canary and nothing else.
const USER_RULES: &[&str] = &["~canary:*", "+get"];

/// The rules of the shared server's admin (see `test_support::redis`).
const ADMIN_RULES: &[&str] = &["~*", "&*", "+@all"];

/// One server of one flavour: the shared Redis, or a Valkey started for the test.
pub struct RedisAdapter {
    db: Db,
}

impl Adapter for RedisAdapter {
    type Engine = RedisEngine;

    /// Redis keeps the single user's previous password until the next rotation by default
    /// (`PREVIOUS_PASSWORD=keep`).
    const SINGLE_USER_KEEPS_OLD_PASSWORD: bool = true;
    /// ACL user names have no length limit.
    fn name_limit(&self) -> Option<usize> {
        None
    }

    fn new(flavour: &str) -> Self {
        let db = match flavour {
            "redis" => Db::shared(),
            // Valkey has no shared server; the version matrix points its program elsewhere.
            "valkey" => Db::throwaway(Flavor::Valkey),
            other => panic!("no Redis flavour {other:?}"),
        };
        // The suite's tests run on a multi-threaded runtime, and `new` is not async.
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(db.admin(&["SET", CANARY_KEY, CANARY_VALUE]))
        });
        RedisAdapter { db }
    }

    fn function(strategy: Strategy) -> &'static str {
        match strategy {
            Strategy::SingleUser => facts::SINGLE_USER,
            Strategy::AlternatingUsers => facts::ALTERNATING_USERS,
        }
    }

    fn port(&self) -> u16 {
        self.db.port()
    }

    fn rotator(&self, sm: &Sm, strategy: Strategy, vars: &[(&str, &str)]) -> Rotator<RedisEngine> {
        rotator(sm, strategy, vars)
    }

    fn secret(&self, port: u16, user: &str, password: &str) -> Value {
        json!({
            "engine": self.db.engine(),
            "host": "127.0.0.1",
            "port": port,
            "username": user,
            "password": password,
        })
    }

    fn admin_secret(&self) -> Value {
        let server = &self.db.server;
        self.secret(server.port, &server.admin_user, &server.admin_password)
    }

    async fn create_user(&self, user: &str, password: &str) {
        self.db.create_user(user, password, USER_RULES).await;
    }

    async fn create_admin(&self, user: &str, password: &str) {
        self.db.create_user(user, password, ADMIN_RULES).await;
    }

    async fn change_password(&self, user: &str, password: &str) {
        let rule = format!(">{password}");
        self.db
            .admin(&["ACL", "SETUSER", user, "resetpass", &rule])
            .await;
    }

    /// Changing one's own password is `ACL SETUSER`.
    async fn allow_own_password_change(&self, user: &str) {
        self.db.admin(&["ACL", "SETUSER", user, "+acl"]).await;
    }

    async fn read_canary(&self, user: &str, password: &str) -> Result<String, String> {
        let mut conn = self.db.connect(user, password).await?;
        let value: Option<String> = ::redis::cmd("GET")
            .arg(CANARY_KEY)
            .query_async(&mut conn)
            .await
            .map_err(|e| format!("GET {CANARY_KEY} as {user}: {e}"))?;
        value.ok_or_else(|| format!("{CANARY_KEY} is not set"))
    }

    fn canary(&self) -> String {
        CANARY_VALUE.to_owned()
    }

    async fn user_exists(&self, user: &str) -> bool {
        self.db.exists(user).await
    }

    async fn verifiers(&self, user: &str) -> Vec<String> {
        self.db.hashes_of(user).await
    }

    /// `ACL GETUSER` without the password hashes.
    async fn account_state(&self, user: &str) -> String {
        self.db
            .rules_of(user)
            .await
            .unwrap_or_else(|| panic!("no ACL user {user:?}"))
    }

    /// Redis refuses spaces in user names (`names` tests that); anything else is a name,
    /// including quotes, backslashes, multi-byte characters and what reads as ACL rules.
    fn hostile_usernames(&self) -> Vec<String> {
        ["\"q'b\\s>x<y#z(~*", "%_ü€😀+@all>pw", "';nopass<resetpass"]
            .map(String::from)
            .into()
    }
}

test_support::conformance_suite!(RedisAdapter, [redis, valkey]);
