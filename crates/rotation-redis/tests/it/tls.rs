//! TLS against servers that serve TLS only, with a CA made for the test: verified TLS with
//! `CA_BUNDLE`, a `TlsError` without it whether `ssl` is true or absent (never a downgrade), and
//! a plaintext port refused when TLS is required; and what a port speaks learned once per
//! process, so that later connections pay no probe (counted through a relay).

use crate::common::*;
use rotation_core::Strategy::{AlternatingUsers, SingleUser};
use rotation_core::{Config, DbSecret, Engine, Strategy, TlsSettings};
use rotation_redis::connect::Session;
use rotation_redis::connect::{forget, seen_tls};
use rotation_redis::{DEFAULT_EXCLUDE_CHARACTERS, PreviousPassword, RedisEngine, acl};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use test_support::redis::{Flavor, Options};
use test_support::secrets::{Sm, rotate};
use test_support::tls::TestCa;
use test_support::unique;
use test_support::wire::TimedRelay;

per_flavor!(
    verified_tls_with_the_ca_bundle,
    alternating_users_over_tls,
    an_unknown_ca_is_a_tls_error_and_never_a_downgrade,
    ssl_false_never_speaks_tls,
    a_plaintext_port_is_refused_when_tls_is_required,
    a_plaintext_port_is_learned_once,
    a_tls_port_is_learned_once,
);

/// A TLS-only server, its CA, and an admin session over verified TLS.
struct TlsDb {
    ca: TestCa,
    db: Db,
    sm: Sm,
}

impl TlsDb {
    fn start(flavor: Flavor) -> TlsDb {
        let ca = TestCa::new().unwrap_or_else(|e| panic!("test CA: {e}"));
        let db = Db::start(Options {
            flavor,
            tls: Some(&ca),
            ..Options::default()
        });
        TlsDb {
            ca,
            db,
            sm: Sm::from_env(),
        }
    }

    fn ca_bundle(&self) -> String {
        self.ca.ca_pem().display().to_string()
    }

    /// An engine that trusts the test CA.
    fn engine(&self) -> RedisEngine {
        let bundle = self.ca_bundle();
        let config = Config::from_lookup(Strategy::SingleUser, DEFAULT_EXCLUDE_CHARACTERS, |k| {
            (k == "CA_BUNDLE").then(|| bundle.clone())
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let tls = TlsSettings::from_config(&config).unwrap_or_else(|e| panic!("{e}"));
        RedisEngine::new(tls, PreviousPassword::Keep)
    }

    fn secret(&self, user: &str, password: &str, ssl: Option<bool>) -> Value {
        let mut s = self.db.secret(user, password);
        if let Some(ssl) = ssl {
            s["ssl"] = json!(ssl);
        }
        s
    }

    async fn admin(&self) -> Session {
        let admin = self.secret(
            &self.db.server.admin_user,
            &self.db.server.admin_password,
            Some(true),
        );
        self.engine()
            .open(&parse(&admin))
            .await
            .unwrap_or_else(|e| panic!("admin over TLS: {e}"))
    }

    async fn create_user(&self, user: &str, password: &str, rules: &[&str]) {
        let mut args: Vec<String> = ["reset", "on"].map(String::from).into();
        args.push(format!(">{password}"));
        args.extend(rules.iter().map(|r| (*r).to_owned()));
        self.admin()
            .await
            .acl_setuser(user, &args)
            .await
            .expect("create user");
    }

    /// The user's ACL rules as the server lists them.
    async fn rules_of(&self, user: &str) -> Option<Vec<String>> {
        let list = self.admin().await.acl_list().await.expect("ACL LIST");
        acl::rules_of(&list, user)
    }

    async fn hashes_of(&self, user: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .rules_of(user)
            .await
            .unwrap_or_default()
            .into_iter()
            .filter_map(|r| r.strip_prefix('#').map(str::to_owned))
            .collect();
        out.sort();
        out
    }

    async fn login(&self, user: &str, password: &str) -> Result<(), String> {
        let creds: DbSecret = parse(&self.secret(user, password, Some(true)));
        self.engine()
            .check_login(&creds)
            .await
            .map_err(|e| e.to_string())
    }

    async fn master(&self) -> String {
        // No `ssl` key: the admin secret takes the rotated secret's TLS setting.
        self.db.master_secret(&self.sm).await
    }
}

async fn verified_tls_with_the_ca_bundle(flavor: Flavor) {
    let t = TlsDb::start(flavor);
    let master = t.master().await;
    let ca = t.ca_bundle();
    for ssl in [Some(true), None] {
        let user = unique("tls");
        t.create_user(&user, "First-pw-1", &["~app:*", "+@read"])
            .await;
        let mut value = t.secret(&user, "First-pw-1", ssl);
        value["masterarn"] = json!(master);
        let arn = t.sm.create("redis-tls-", &value).await;
        let r = rotator(&t.sm, SingleUser, &[("CA_BUNDLE", &ca)]);
        let token = t.sm.start_rotation(&arn).await;
        rotate(&r, &arn, &token)
            .await
            .unwrap_or_else(|e| panic!("ssl {ssl:?}: {e}"));
        let new = password_at(&t.sm, &arn, "AWSCURRENT").await;
        t.login(&user, &new).await.expect("new password over TLS");
        t.login(&user, "First-pw-1")
            .await
            .expect("previous password over TLS");
    }
}

async fn alternating_users_over_tls(flavor: Flavor) {
    let t = TlsDb::start(flavor);
    let user = unique("tlsalt");
    t.create_user(&user, "First-pw-1", RICH_RULES).await;
    let mut value = t.secret(&user, "First-pw-1", Some(true));
    value["masterarn"] = json!(t.master().await);
    let arn = t.sm.create("redis-tls-alt-", &value).await;
    let r = rotator(&t.sm, AlternatingUsers, &[("CA_BUNDLE", &t.ca_bundle())]);
    let token = t.sm.start_rotation(&arn).await;
    rotate(&r, &arn, &token).await.expect("rotation over TLS");
    let clone = format!("{user}_clone");
    t.login(&clone, &password_at(&t.sm, &arn, "AWSCURRENT").await)
        .await
        .expect("clone over TLS");
    let strip = |rules: Option<Vec<String>>| acl::without_passwords(&rules.unwrap_or_default());
    assert_eq!(
        strip(t.rules_of(&clone).await),
        strip(t.rules_of(&user).await)
    );
}

async fn an_unknown_ca_is_a_tls_error_and_never_a_downgrade(flavor: Flavor) {
    let t = TlsDb::start(flavor);
    let master = t.master().await;
    for strategy in [SingleUser, AlternatingUsers] {
        for ssl in [Some(true), None] {
            let user = unique("tlsbad");
            t.create_user(&user, "First-pw-1", &["+@read"]).await;
            let mut value = t.secret(&user, "First-pw-1", ssl);
            value["masterarn"] = json!(master);
            let arn = t.sm.create("redis-tls-bad-", &value).await;
            // No CA_BUNDLE: the system roots do not know the test CA.
            let r = rotator(&t.sm, strategy, &[]);
            let token = t.sm.start_rotation(&arn).await;
            let what = format!("{} ssl {ssl:?}", strategy.as_str());
            // Whichever step connects first (alternating users checks the user name at
            // createSecret without a connection) fails.
            let (kind, message) = failure(rotate(&r, &arn, &token).await, &what);
            assert_eq!(kind, "TlsError", "{what}: {message}");
            assert!(
                message.contains("certificate") || message.contains("UnknownIssuer"),
                "{message}"
            );
            assert_eq!(
                t.hashes_of(&user).await,
                hashes(&["First-pw-1"]),
                "{what}: nothing changed"
            );
            assert!(
                t.rules_of(&format!("{user}_clone")).await.is_none(),
                "{what}: no clone"
            );
        }
    }
}

/// `"ssl": false` speaks plaintext to a TLS-only port, which fails; it never turns into TLS.
async fn ssl_false_never_speaks_tls(flavor: Flavor) {
    let t = TlsDb::start(flavor);
    let user = unique("tlsoff");
    t.create_user(&user, "First-pw-1", &["+@read"]).await;
    let arn =
        t.sm.create(
            "redis-tls-off-",
            &t.secret(&user, "First-pw-1", Some(false)),
        )
        .await;
    let r = rotator(
        &t.sm,
        SingleUser,
        &[
            ("CA_BUNDLE", &t.ca_bundle()),
            ("CONNECT_TIMEOUT_SECONDS", "2"),
        ],
    );
    let (kind, message) = failed_set_secret(&t.sm, &r, &arn, "ssl false").await;
    assert_eq!(kind, "NetworkError", "{message}");
}

/// `"ssl": true` (or `TLS_MODE=require`) on a plaintext port: a quick, clear TLS error.
async fn a_plaintext_port_is_refused_when_tls_is_required(flavor: Flavor) {
    let db = Db::throwaway(flavor);
    let sm = Sm::from_env();
    let user = unique("plain");
    db.create_user(&user, "First-pw-1", &["+@read"]).await;
    let mut required = db.secret(&user, "First-pw-1");
    required["ssl"] = json!(true);
    let cases = [
        (required, vec![]),
        (
            db.secret(&user, "First-pw-1"),
            vec![("TLS_MODE", "require")],
        ),
    ];
    for (value, vars) in cases {
        let arn = sm.create("redis-plain-", &value).await;
        let r = rotator(&sm, SingleUser, &vars);
        let started = Instant::now();
        let (kind, message) = failed_set_secret(&sm, &r, &arn, "plaintext port").await;
        assert_eq!(kind, "TlsError", "{message}");
        assert!(message.contains("plaintext"), "{message}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "not a timeout: {:?}",
            started.elapsed()
        );
        assert_eq!(db.hashes_of(&user).await, hashes(&["First-pw-1"]));
    }
}

/// Open `n` sessions as `user` through `relay`, with `ssl` absent, each answering `PING`.
async fn open_through(relay: &TimedRelay, secret: &Value, tls: &TlsSettings, n: usize) {
    let mut value = secret.clone();
    value["port"] = json!(relay.port);
    let creds = parse(&value);
    for i in 0..n {
        let mut session = Session::open(&creds, tls)
            .await
            .unwrap_or_else(|e| panic!("session {i}: {e}"));
        session
            .ping()
            .await
            .unwrap_or_else(|e| panic!("session {i}: {e}"));
    }
}

fn default_tls(vars: &[(&str, &str)]) -> TlsSettings {
    let config = Config::from_lookup(Strategy::SingleUser, DEFAULT_EXCLUDE_CHARACTERS, |k| {
        vars.iter()
            .find(|(name, _)| *name == k)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap_or_else(|e| panic!("{e}"));
    TlsSettings::from_config(&config).unwrap_or_else(|e| panic!("{e}"))
}

/// With `ssl` absent, each connection to a plaintext port asks `PING` first and the session
/// goes on over that connection, with no TLS try: 1 + 1 + 1 connections for three sessions
/// (it was 3 each: the TLS try, the `PING` after a fixed wait, a new connection).
async fn a_plaintext_port_is_learned_once(flavor: Flavor) {
    let db = Db::throwaway(flavor);
    let user = unique("learn");
    db.create_user(&user, "First-pw-1", &["+@all"]).await;
    let relay = TimedRelay::start(db.port());
    // The port may be one an earlier test's server had.
    forget(&format!("127.0.0.1:{}", relay.port));
    open_through(
        &relay,
        &db.secret(&user, "First-pw-1"),
        &default_tls(&[]),
        3,
    )
    .await;
    assert_eq!(relay.seen().connections, 3, "{:?}", relay.seen());
    assert!(!seen_tls(&format!("127.0.0.1:{}", relay.port)));
}

/// On a TLS port the first connection's `PING` is refused and the handshake finishes; later
/// connections are the handshake alone: 2 + 1 + 1. Verification is as strict as ever
/// (see `an_unknown_ca_is_a_tls_error_and_never_a_downgrade`).
async fn a_tls_port_is_learned_once(flavor: Flavor) {
    let t = TlsDb::start(flavor);
    let user = unique("learntls");
    t.create_user(&user, "First-pw-1", &["+@all"]).await;
    let relay = TimedRelay::start(t.db.port());
    forget(&format!("127.0.0.1:{}", relay.port));
    let bundle = t.ca_bundle();
    let tls = default_tls(&[("CA_BUNDLE", &bundle)]);
    open_through(&relay, &t.secret(&user, "First-pw-1", None), &tls, 3).await;
    assert_eq!(relay.seen().connections, 4, "{:?}", relay.seen());
    assert!(seen_tls(&format!("127.0.0.1:{}", relay.port)));
}
