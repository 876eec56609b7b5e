//! TLS: verified with `CA_BUNDLE`, refused without it whether `ssl` is true or absent (no
//! downgrade), host names checked, plaintext only when the server offers no TLS at all, and
//! then only with SCRAM, a warning in the log and never a verifier in it.

use crate::common::*;
use rotation_core::Strategy::{self, AlternatingUsers, SingleUser};
use serde_json::{Value, json};
use test_support::postgres::Postgres;
use test_support::secrets::{Sm, rotate};
use test_support::tls::TestCa;

/// How many connections of `user` the server logged (`log_connections` is on), and how many
/// of them used TLS.
fn connections(server: &Postgres, user: &str) -> (usize, usize) {
    let log = server.log();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("connection authorized") && l.contains(&format!("user={user} ")))
        .collect();
    let over_tls = lines.iter().filter(|l| l.contains("SSL enabled")).count();
    (lines.len(), over_tls)
}

/// The secret's extra keys for a `host` and, when given, an `ssl` value.
fn reach(host: &str, ssl: Option<Value>) -> Value {
    let mut keys = json!({ "host": host });
    if let Some(ssl) = ssl {
        keys["ssl"] = ssl;
    }
    keys
}

/// A server with the test CA's certificate, and the CA's file for `CA_BUNDLE`.
fn tls_server() -> (TestCa, Postgres, String) {
    let ca = TestCa::new().expect("test CA");
    let server = Postgres::start(Some(&ca)).expect("TLS server");
    let bundle = ca.ca_pem().display().to_string();
    (ca, server, bundle)
}

#[tokio::test]
async fn verified_tls_with_the_ca_bundle() {
    let (_ca, server, bundle) = tls_server();
    let sm = Sm::from_env();
    let vars = [("CA_BUNDLE", bundle.as_str())];

    // "ssl": true and "ssl" absent both end up on verified TLS, by name and by address; so do
    // alternating users, whose admin secret has no ssl key: it follows the rotated one.
    let cases: [(Strategy, Option<Value>, &str); 4] = [
        (SingleUser, Some(json!(true)), "localhost"),
        (SingleUser, None, "127.0.0.1"),
        (SingleUser, Some(json!("true")), "127.0.0.1"),
        (AlternatingUsers, Some(json!(true)), "127.0.0.1"),
    ];
    for (strategy, ssl, host) in cases {
        let what = format!("{strategy:?}, ssl {ssl:?}, host {host}");
        let role = new_role(&sm, &server, strategy, "tls", &reach(host, ssl)).await;
        let r = rotator(&sm, strategy, &vars);
        let token = sm.start_rotation(&role.arn).await;
        // No test login here: it would add a plaintext connection to the log.
        rotate(&r, &role.arn, &token)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let (count, over_tls) = connections(&server, &role.user);
        assert!(
            count > 0 && over_tls == count,
            "{what}: {count} connections, {over_tls} over TLS"
        );
        if strategy == AlternatingUsers {
            // The test's own admin sessions (making roles) are plaintext; the function's is not.
            let (count, over_tls) = connections(&server, &server.admin_user);
            assert!(over_tls > 0, "{what}: the admin's {count} connections");
        }
    }

    // "ssl": false means plaintext even though the server offers TLS.
    let role = new_role(&sm, &server, SingleUser, "plain", &json!({"ssl": false})).await;
    rotate_through(&rotator(&sm, SingleUser, &[]), &sm, &role.arn, server.port).await;
    let (count, over_tls) = connections(&server, &role.user);
    assert!(
        count > 0 && over_tls == 0,
        "plaintext by choice: {count} connections, {over_tls} over TLS"
    );
}

#[tokio::test]
async fn failed_verification_is_a_tls_error_and_never_a_downgrade() {
    let (_ca, server, bundle) = tls_server();
    let sm = Sm::from_env();
    let trusted = [("CA_BUNDLE", bundle.as_str())];

    // (ssl, host, whether CA_BUNDLE is set, what the failure says)
    let cases = [
        (Some(json!(true)), "127.0.0.1", false, "UnknownIssuer"),
        (None, "127.0.0.1", false, "UnknownIssuer"),
        (None, "localhost", false, "UnknownIssuer"),
        // The certificate names localhost and 127.0.0.1, not 127.0.0.2.
        (Some(json!(true)), "127.0.0.2", true, "not valid for name"),
        (None, "127.0.0.2", true, "not valid for name"),
    ];
    let mut roles = Vec::new();
    for strategy in [SingleUser, AlternatingUsers] {
        for (ssl, host, with_bundle, expected) in &cases {
            let role = new_role(&sm, &server, strategy, "tlsbad", &reach(host, ssl.clone())).await;
            let vars = if *with_bundle { &trusted[..] } else { &[] };
            let r = rotator(&sm, strategy, vars);
            let token = sm.start_rotation(&role.arn).await;
            let (_, err) = refusal(&r, &role.arn, &token, "TlsError").await;
            // The message says what to do.
            assert_names(&err.to_string(), &[expected, "CA_BUNDLE"]);
            roles.push(role);
        }
    }
    for role in roles {
        assert_eq!(
            connections(&server, &role.user).0,
            0,
            "no connection of {} got as far as logging in",
            role.user
        );
        login(server.port, &role.user, &role.password)
            .await
            .expect("the password did not change");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn plaintext_server_prefer_falls_back_and_require_refuses() {
    // The shared server offers no TLS: with "ssl" absent the shipped function rotates over
    // plaintext (SCRAM only) and says so, with no verifier in its output; with "ssl": true, or
    // TLS_MODE=require, it is refused.
    let f = fixture(SingleUser, "noTLS").await;
    let function = shipped("postgres-single-user", &[("LOG_LEVEL", "debug")]);
    let token = f.sm.start_rotation(&f.arn).await;
    tokio::task::block_in_place(|| function.rotate(&f.arn, &token));
    let password = password_at(&f.sm, &f.arn, "AWSCURRENT").await;
    login(f.db.port, &f.user, &password)
        .await
        .expect("prefer falls back to plaintext");
    let output = output_when(&function, |o| {
        o.matches("step finished").count() == STEPS.len()
    });
    assert!(
        output.contains("offers no TLS"),
        "the fallback is logged: {output}"
    );
    for secret in ["SCRAM-SHA-256$", &password, &f.password] {
        assert!(
            !output.contains(secret),
            "a secret is in the output:\n{output}"
        );
    }

    for (ssl, vars, expected) in [
        (Some(json!(true)), &[][..], "does not offer TLS"),
        (None, &[("TLS_MODE", "require")][..], "TLS"),
    ] {
        let role = new_role(&f.sm, &f.db, SingleUser, "req", &reach("127.0.0.1", ssl)).await;
        let r = rotator(&f.sm, SingleUser, vars);
        let token = f.sm.start_rotation(&role.arn).await;
        let (failed, err) = refusal(&r, &role.arn, &token, "TlsError").await;
        assert_eq!(failed, "setSecret", "{err}");
        assert_names(&err.to_string(), &[expected]);
    }
}
