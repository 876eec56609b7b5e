//! The Redis side of the conformance suite: the engine-agnostic scenarios run on the shared
//! Redis and on a throwaway Valkey (`conformance::redis::…`, `conformance::valkey::…`). Users
//! are ACL users allowed to `GET` the canary key; what only Redis has (the dual-password
//! window, ACL rules, the ACL file, TLS) stays in this crate's other modules.

use crate::common::{Db, rotator};
use rotation_core::Strategy;
use rotation_core::protocol::Rotator;
use rotation_redis::RedisEngine;
use serde_json::{Value, json};
use test_support::conformance::Adapter;
use test_support::redis::Flavor;
use test_support::secrets::Sm;
use test_support::unique;

/// The key every test user may read, and its value.
const CANARY_KEY: &str = "canary:conformance";
const CANARY_VALUE: &str = "read by a rotated user";

/// The rules of a created user: the canary and nothing else.
const USER_RULES: &[&str] = &["~canary:*", "+get"];

/// One server of one flavour: the shared Redis, or a Valkey started for the test.
pub struct RedisAdapter {
    db: Db,
}

impl Adapter for RedisAdapter {
    type Engine = RedisEngine;

    /// Redis keeps the single user's previous password until the next rotation by default
    /// (`PREVIOUS_PASSWORD=keep`).
    const SINGLE_USER_KEEPS_OLD_PASSWORD: bool = true;

    fn new(flavour: &str) -> Self {
        let db = match flavour {
            "redis" => Db::shared(),
            // Valkey has no shared server; the version matrix points its program elsewhere.
            "valkey" => Db::throwaway(Flavor::Valkey),
            other => panic!("no Redis flavour {other:?}"),
        };
        RedisAdapter { db }
    }

    fn function(strategy: Strategy) -> &'static str {
        match strategy {
            Strategy::SingleUser => "redis-single-user",
            Strategy::AlternatingUsers => "redis-alternating-users",
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
        self.db.admin(&["SET", CANARY_KEY, CANARY_VALUE]).await;
        self.db.create_user(user, password, USER_RULES).await;
    }

    async fn read_canary(&self, user: &str, password: &str) -> Result<String, String> {
        let mut conn = self.db.connect(user, password).await?;
        let value: Option<String> = redis::cmd("GET")
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

    /// Redis refuses spaces in user names (`names` tests that); anything else is a name,
    /// including quotes, backslashes and what reads as ACL rule syntax.
    fn hostile_usernames(&self) -> Vec<String> {
        vec![
            format!("{}\"q'b\\s>x<y#z(~*", unique("h")),
            format!("{}%_ü€😀+@all>pw", unique("h")),
            format!("{}';nopass<", unique("h")),
        ]
    }
}

// The macro's modules sit below this one, hence the full path.
test_support::conformance_suite!(crate::conformance::RedisAdapter, [redis, valkey]);
