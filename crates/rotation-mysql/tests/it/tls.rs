//! TLS against a MariaDB that serves a certificate from a CA made for the test: verification
//! succeeds with `CA_BUNDLE`, fails without it, and never falls back to plaintext.

use crate::common::*;
use rotation_core::Strategy::{AlternatingUsers, SingleUser};
use serde_json::json;
use test_support::conformance::case::fails_at;
use test_support::mariadb::MariaDb;
use test_support::secrets::{Sm, rotate};
use test_support::tls::TestCa;

struct TlsDb {
    db: MariaDb,
    ca: TestCa,
}

fn tls_db() -> TlsDb {
    let ca = TestCa::new().expect("test CA");
    let db = MariaDb::start(Some(&ca)).expect("MariaDB with TLS");
    TlsDb { db, ca }
}

async fn user_secret(
    sm: &Sm,
    db: &MariaDb,
    ssl: Option<bool>,
    host: &str,
) -> (String, String, String) {
    let (user, pw) = new_user(db, "tls", &[]).await;
    let mut value = secret(db.port, &user, &pw);
    value["host"] = json!(host);
    if let Some(ssl) = ssl {
        value["ssl"] = json!(ssl);
    }
    (sm.create("mysql-tls-", &value).await, user, pw)
}

#[tokio::test]
async fn tls_verification_with_and_without_the_ca() {
    let t = tls_db();
    let sm = Sm::from_env();
    let ca = t.ca.ca_pem();
    let ca = ca.to_str().expect("path");

    // Verified TLS with the CA bundle, by host name and by IP address.
    for host in ["localhost", "127.0.0.1"] {
        let (arn, user, _) = user_secret(&sm, &t.db, Some(true), host).await;
        let r = rotator(&sm, SingleUser, &[("CA_BUNDLE", ca)]);
        let token = sm.start_rotation(&arn).await;
        rotate(&r, &arn, &token)
            .await
            .unwrap_or_else(|e| panic!("{host}: {e}"));
        login(
            t.db.port,
            &user,
            &password_at(&sm, &arn, "AWSCURRENT").await,
        )
        .await
        .expect("logs in");
    }

    // Without the CA the certificate does not verify: an error, whether TLS was required
    // or only preferred, never a plaintext retry.
    for ssl in [Some(true), None] {
        let (arn, user, pw) = user_secret(&sm, &t.db, ssl, "localhost").await;
        let r = rotator(&sm, SingleUser, &[]);
        let (_, err) = fails_at(&r, &sm, &arn, "setSecret").await;
        assert_eq!(err.kind(), "TlsError", "ssl {ssl:?}: {err}");
        assert!(
            err.to_string().contains("CA_BUNDLE"),
            "says what to do: {err}"
        );
        login(t.db.port, &user, &pw).await.expect("nothing changed");
    }

    // "ssl": false is plaintext by choice.
    let (arn, _, _) = user_secret(&sm, &t.db, Some(false), "localhost").await;
    let r = rotator(&sm, SingleUser, &[]);
    let token = sm.start_rotation(&arn).await;
    rotate(&r, &arn, &token).await.expect("plaintext by choice");
}

#[tokio::test]
async fn tls_required_on_a_server_without_tls_is_refused() {
    // A server of its own: the shared one offers TLS on some versions.
    let db = MariaDb::start(None).expect("a server without TLS");
    let sm = Sm::from_env();
    let (arn, _, _) = user_secret(&sm, &db, Some(true), "127.0.0.1").await;
    let r = rotator(&sm, SingleUser, &[]);
    let (_, err) = fails_at(&r, &sm, &arn, "setSecret").await;
    assert_eq!(err.kind(), "TlsError", "{err}");
    assert!(err.to_string().contains("does not offer TLS"), "{err}");

    // TLS_MODE=require applies to secrets without an ssl key.
    let (arn, _, _) = user_secret(&sm, &db, None, "127.0.0.1").await;
    let r = rotator(&sm, SingleUser, &[("TLS_MODE", "require")]);
    let (_, err) = fails_at(&r, &sm, &arn, "setSecret").await;
    assert_eq!(err.kind(), "TlsError", "{err}");
}

#[tokio::test]
async fn the_clone_keeps_require_ssl() {
    let t = tls_db();
    let sm = Sm::from_env();
    let ca = t.ca.ca_pem();
    let (user, pw) = new_user(&t.db, "req", &["SELECT ON appdb.*"]).await;
    admin_exec(
        &t.db,
        &[format!(
            "ALTER USER {} REQUIRE SSL",
            rotation_mysql::sql::account(&user, "%", false)
        )],
    )
    .await;
    let master = sm
        .create(
            "master-",
            &json!({"username": t.db.admin_user, "password": t.db.admin_password}),
        )
        .await;
    let mut value = secret(t.db.port, &user, &pw);
    value["host"] = json!("localhost");
    value["ssl"] = json!("true");
    value["masterarn"] = json!(master);
    let arn = sm.create("mysql-req-", &value).await;
    let r = rotator(
        &sm,
        AlternatingUsers,
        &[("CA_BUNDLE", ca.to_str().expect("path"))],
    );
    let token = sm.start_rotation(&arn).await;
    rotate(&r, &arn, &token).await.expect("rotation");
    let line = create_user_line(&t.db, &format!("{user}_clone"), "%").await;
    assert!(line.contains("REQUIRE SSL"), "{line}");
    assert_eq!(
        grants_of(&t.db, &format!("{user}_clone"), "%").await,
        grants_of(&t.db, &user, "%").await
    );
}

/// The preflight says how each login travelled: verified TLS with the CA, a TLS failure
/// (with what to do) without it, and plaintext when the secret asks for it.
#[tokio::test]
async fn the_preflight_reports_verified_tls_and_tls_failures() {
    let t = tls_db();
    let sm = Sm::from_env();
    let ca = t.ca.ca_pem();
    let ca = ca.to_str().expect("path");
    let login_check = |report: &rotation_core::preflight::Report| {
        report
            .checks
            .iter()
            .find(|c| c.name == "login")
            .cloned()
            .unwrap_or_else(|| panic!("a login check: {report:#?}"))
    };
    // The secret's `ssl`, the function's variables, the login check's `ok`, words it says.
    type Case<'a> = (
        Option<bool>,
        &'a [(&'a str, &'a str)],
        Option<bool>,
        &'a str,
    );
    let cases: [Case; 3] = [
        (
            Some(true),
            &[("CA_BUNDLE", ca)],
            Some(true),
            "over TLS, the server's certificate verified",
        ),
        (None, &[], Some(false), "CA_BUNDLE"),
        (
            Some(false),
            &[],
            Some(true),
            "without TLS, as the secret's \"ssl\": false",
        ),
    ];
    for (ssl, vars, ok, words) in cases {
        let (arn, _, _) = user_secret(&sm, &t.db, ssl, "localhost").await;
        sm.configure_rotation(&arn).await;
        let r = rotator(&sm, SingleUser, vars);
        let report = r.preflight(&arn, test_support::lambda::FUNCTION_ARN).await;
        let check = login_check(&report);
        assert_eq!(check.ok, ok, "ssl {ssl:?}: {report:#?}");
        assert!(check.message.contains(words), "ssl {ssl:?}: {report:#?}");
    }
}

/// A self-managed MySQL 8+ (and MariaDB 11.4+) makes a self-signed certificate at its first
/// start and offers TLS with it. A secret without `ssl` tries TLS, cannot verify that
/// certificate, and is refused, never downgraded; the error says the three ways out. With
/// `"ssl": false` the same server rotates, in plaintext by choice.
#[tokio::test]
async fn a_servers_own_certificate_is_refused_with_what_to_do() {
    let db = MariaDb::start_with(test_support::mariadb::Options {
        own_certificate: true,
        ..Default::default()
    })
    .expect("a server with a certificate of its own");
    let sm = Sm::from_env();
    let (arn, user, pw) = user_secret(&sm, &db, None, "127.0.0.1").await;
    let r = rotator(&sm, SingleUser, &[]);
    let (_, err) = fails_at(&r, &sm, &arn, "setSecret").await;
    assert_eq!(err.kind(), "TlsError", "{err}");
    let text = err.to_string();
    for words in [
        "UnknownIssuer",
        "signed by a CA the function does not trust",
        "CA_BUNDLE",
        "caBundlePath",
        "a certificate from a CA the function trusts",
        "\"ssl\": false",
    ] {
        assert!(text.contains(words), "says {words:?}: {text}");
    }
    login(db.port, &user, &pw).await.expect("nothing changed");

    let (arn, _, _) = user_secret(&sm, &db, Some(false), "127.0.0.1").await;
    let token = sm.start_rotation(&arn).await;
    rotate(&r, &arn, &token).await.expect("plaintext by choice");
}
