//! TLS: verified with `CA_BUNDLE`, refused without it whether `ssl` is true or absent (no
//! downgrade), host names checked, plaintext only when the server offers no TLS at all.

use crate::common::*;
use rotation_core::Strategy::{AlternatingUsers, SingleUser};
use serde_json::json;
use test_support::postgres::Postgres;
use test_support::secrets::{Sm, rotate, step};
use test_support::tls::TestCa;
use test_support::unique;

/// The server log's connection lines for `user` (`log_connections` is on).
fn connection_lines(server: &Postgres, user: &str) -> Vec<String> {
    server
        .log()
        .lines()
        .filter(|l| l.contains("connection authorized") && l.contains(&format!("user={user} ")))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn verified_tls_with_the_ca_bundle() {
    let ca = TestCa::new().expect("test CA");
    let server = Postgres::start(Some(&ca)).expect("TLS server");
    let sm = Sm::from_env();
    let bundle = ca.ca_pem().display().to_string();
    let vars = [("CA_BUNDLE", bundle.as_str())];

    // "ssl": true and "ssl" absent both end up on verified TLS, by name and by address.
    for (ssl, host) in [
        (Some(json!(true)), "localhost"),
        (None, "127.0.0.1"),
        (Some(json!("true")), "127.0.0.1"),
    ] {
        let user = unique("tls");
        create_role(&server, &user, "Tls-pw-1").await;
        let mut value = secret(server.port, &user, "Tls-pw-1");
        value["host"] = json!(host);
        if let Some(ssl) = ssl.clone() {
            value["ssl"] = ssl;
        }
        let arn = sm.create("pg-tls-", &value).await;
        let r = rotator(&sm, SingleUser, &vars);
        let token = sm.start_rotation(&arn).await;
        rotate(&r, &arn, &token)
            .await
            .unwrap_or_else(|e| panic!("ssl {ssl:?}, host {host}: {e}"));
        let lines = connection_lines(&server, &user);
        assert!(!lines.is_empty(), "the server logged the connections");
        assert!(
            lines.iter().all(|l| l.contains("SSL enabled")),
            "ssl {ssl:?}: every connection used TLS:\n{}",
            lines.join("\n")
        );
    }

    // Alternating users with an admin secret that has no ssl key: it follows the rotated one.
    let user = unique("tlsalt");
    create_role(&server, &user, "Tls-pw-2").await;
    let mut value = secret(server.port, &user, "Tls-pw-2");
    value["ssl"] = json!(true);
    value["masterarn"] = json!(master_secret(&sm, &server).await);
    let arn = sm.create("pg-tls-alt-", &value).await;
    let r = rotator(&sm, AlternatingUsers, &vars);
    let token = sm.start_rotation(&arn).await;
    rotate(&r, &arn, &token)
        .await
        .expect("alternating over TLS");
    let admin_lines = connection_lines(&server, &server.admin_user);
    assert!(
        admin_lines.iter().any(|l| l.contains("SSL enabled")),
        "{admin_lines:?}"
    );

    // "ssl": false means plaintext even though the server offers TLS.
    let user = unique("plain");
    create_role(&server, &user, "Plain-pw-1").await;
    let mut value = secret(server.port, &user, "Plain-pw-1");
    value["ssl"] = json!(false);
    let arn = sm.create("pg-plain-", &value).await;
    let r = rotator(&sm, SingleUser, &[]);
    let token = sm.start_rotation(&arn).await;
    rotate(&r, &arn, &token)
        .await
        .expect("plaintext on request");
    let lines = connection_lines(&server, &user);
    assert!(
        !lines.is_empty() && lines.iter().all(|l| !l.contains("SSL enabled")),
        "{lines:?}"
    );
}

#[tokio::test]
async fn failed_verification_is_a_tls_error_and_never_a_downgrade() {
    let ca = TestCa::new().expect("test CA");
    let server = Postgres::start(Some(&ca)).expect("TLS server");
    let sm = Sm::from_env();
    let user = unique("tlsbad");
    create_role(&server, &user, "Tls-bad-1").await;
    let bundle = ca.ca_pem().display().to_string();

    // (ssl, host, CA_BUNDLE, what the failure says)
    let cases = [
        (Some(json!(true)), "127.0.0.1", None, "UnknownIssuer"),
        (None, "127.0.0.1", None, "UnknownIssuer"),
        (None, "localhost", None, "UnknownIssuer"),
        // The certificate names localhost and 127.0.0.1, not 127.0.0.2.
        (
            Some(json!(true)),
            "127.0.0.2",
            Some(bundle.as_str()),
            "not valid for name",
        ),
        (
            None,
            "127.0.0.2",
            Some(bundle.as_str()),
            "not valid for name",
        ),
    ];
    for strategy in [SingleUser, AlternatingUsers] {
        for (ssl, host, ca_bundle, expected) in &cases {
            let mut value = secret(server.port, &user, "Tls-bad-1");
            value["host"] = json!(host);
            if let Some(ssl) = ssl {
                value["ssl"] = ssl.clone();
            }
            if strategy == AlternatingUsers {
                value["masterarn"] = json!(master_secret(&sm, &server).await);
            }
            let arn = sm.create("pg-tls-bad-", &value).await;
            let vars: Vec<(&str, &str)> = ca_bundle.iter().map(|b| ("CA_BUNDLE", *b)).collect();
            let r = rotator(&sm, strategy, &vars);
            let token = sm.start_rotation(&arn).await;
            let what = format!(
                "{strategy:?} ssl {ssl:?} host {host} bundle {}",
                ca_bundle.is_some()
            );
            let mut err = step(&r, &arn, &token, "createSecret").await.err();
            if err.is_none() {
                err = step(&r, &arn, &token, "setSecret").await.err();
            }
            let err = err.unwrap_or_else(|| panic!("{what}: expected a TLS error"));
            assert_eq!(err.kind(), "TlsError", "{what}: {err}");
            let msg = err.to_string();
            assert!(msg.contains(expected), "{what}: {msg}");
            assert!(
                msg.contains("CA_BUNDLE"),
                "the message says what to do: {msg}"
            );
        }
    }
    let lines = connection_lines(&server, &user);
    assert!(
        lines.is_empty(),
        "no connection got as far as logging in:\n{}",
        lines.join("\n")
    );
    login(server.port, &user, "Tls-bad-1")
        .await
        .expect("the password did not change");
}

#[tokio::test]
async fn plaintext_server_prefer_falls_back_and_require_refuses() {
    let f = fixture(SingleUser, "noTLS").await;
    // The shared server offers no TLS: with "ssl" absent the rotation proceeds (with a
    // warning), with "ssl": true it is refused.
    let r = rotator(&f.sm, SingleUser, &[]);
    let token = f.sm.start_rotation(&f.arn).await;
    rotate(&r, &f.arn, &token)
        .await
        .expect("prefer falls back to plaintext");

    let mut value = secret(
        f.db.port,
        &f.user,
        &password_at(&f.sm, &f.arn, "AWSCURRENT").await,
    );
    value["ssl"] = json!(true);
    let arn = f.sm.create("pg-req-", &value).await;
    let token = f.sm.start_rotation(&arn).await;
    step(&r, &arn, &token, "createSecret")
        .await
        .expect("create");
    let err = step(&r, &arn, &token, "setSecret")
        .await
        .expect_err("TLS required");
    assert_eq!(err.kind(), "TlsError", "{err}");
    assert!(err.to_string().contains("does not offer TLS"), "{err}");

    let r = rotator(&f.sm, SingleUser, &[("TLS_MODE", "require")]);
    let arn =
        f.sm.create("pg-req-env-", &secret(f.db.port, &f.user, "irrelevant"))
            .await;
    let token = f.sm.start_rotation(&arn).await;
    step(&r, &arn, &token, "createSecret")
        .await
        .expect("create");
    let err = step(&r, &arn, &token, "setSecret")
        .await
        .expect_err("TLS_MODE=require");
    assert_eq!(err.kind(), "TlsError", "{err}");
}
