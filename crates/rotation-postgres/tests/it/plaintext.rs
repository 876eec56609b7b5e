//! An active attacker on a connection without TLS. With `ssl` absent (prefer), a server that
//! declines TLS gets only SCRAM-SHA-256: a fake server that then asks for a cleartext password
//! or an MD5 hash receives neither, and the step fails with a TLS error that says what to do.
//! With `"ssl": false` the secret's owner accepted plaintext, and the server gets what it asks.

use crate::common::*;
use postgres_protocol::authentication::md5_hash;
use rotation_core::Strategy::{self, AlternatingUsers, SingleUser};
use rotation_postgres::sql::ident;
use serde_json::json;
use test_support::fake_postgres::{Ask, Capture, FakePostgres};
use test_support::lambda::Outcome;
use test_support::secrets::Sm;
use test_support::unique;

const SALT: [u8; 4] = [0x5a, 0x17, 0xc3, 0x01];

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every form of `password` a listener could use: the password, the MD5 hash a server stores
/// (password-equivalent for MD5 logins) and the MD5 answer to [`SALT`], for each user name the
/// client might have salted with.
fn revealing_forms(password: &str, users: &[&str]) -> Vec<(String, String)> {
    let mut forms = vec![("the password".to_owned(), password.to_owned())];
    for user in users {
        let stored = postgres_protocol::password::md5(password.as_bytes(), user);
        forms.push((
            format!("its MD5 hash for {user}"),
            stored.trim_start_matches("md5").to_owned(),
        ));
        let answer = md5_hash(user.as_bytes(), password.as_bytes(), SALT);
        forms.push((
            format!("its MD5 answer for {user}"),
            answer.trim_start_matches("md5").to_owned(),
        ));
    }
    forms
}

/// What the test expects the refusal to name.
fn method_words(ask: Ask) -> &'static str {
    match ask {
        Ask::Cleartext => "cleartext password",
        Ask::Md5(_) => "MD5",
    }
}

/// The shipped function, `ssl` absent, against the fake server: the first step that logs in
/// fails with a TLS error, and the fake server gets the startup message and nothing more.
async fn attacker_gets_no_password(strategy: Strategy, binary: &str, ask: Ask) {
    let fake = FakePostgres::start(ask);
    let sm = Sm::from_env();
    let user = unique("mitm");
    let password = unique("Mitm-pw-");
    let mut value = secret(fake.port, &user, &password);
    let admin_user = unique("mitmadmin");
    let admin_password = unique("Mitm-admin-");
    if strategy == AlternatingUsers {
        value["masterarn"] = json!(
            sm.create(
                "pg-mitm-master-",
                &json!({"username": admin_user, "password": admin_password}),
            )
            .await
        );
    }
    let arn = sm.create("pg-mitm-", &value).await;
    let token = sm.start_rotation(&arn).await;
    let function = shipped(binary, &[("LOG_LEVEL", "debug")]);
    let what = format!("{binary}, {ask:?}");

    // Alternating users log in at createSecret already; single user first at setSecret. A
    // retried testSecret logs in with AWSPENDING, so it must be refused the same way.
    let mut failures = Vec::new();
    match function.invoke(&arn, &token, "createSecret") {
        Outcome::Err {
            error_type,
            error_message,
        } => failures.push((error_type, error_message)),
        Outcome::Ok(_) => {
            for s in ["setSecret", "testSecret"] {
                failures.push(function.invoke(&arn, &token, s).expect_err(s));
            }
        }
    }
    for (error_type, message) in &failures {
        assert_eq!(error_type, "TlsError", "{what}: {message}");
        for expected in [
            format!("127.0.0.1:{}", fake.port).as_str(),
            method_words(ask),
            "without TLS",
            "\"ssl\": true",
            "\"ssl\": false",
        ] {
            assert!(
                message.contains(expected),
                "{what}: the message names {expected:?}: {message}"
            );
        }
    }

    let pending = sm
        .value(&arn, "AWSPENDING", Some(&token))
        .await
        .and_then(|v| v["password"].as_str().map(str::to_owned));
    assert_eq!(
        pending.is_some(),
        strategy == SingleUser,
        "{what}: single user stores AWSPENDING before logging in, alternating users after"
    );
    let clone = format!("{user}_clone");
    let users = [user.as_str(), clone.as_str(), admin_user.as_str()];
    let mut forms = revealing_forms(&password, &users);
    forms.extend(revealing_forms(&admin_password, &users));
    if let Some(p) = &pending {
        forms.extend(revealing_forms(p, &users));
    }

    let captures = fake.captures();
    assert!(
        captures.len() >= failures.len(),
        "{what}: every failed step connected to the fake server ({} connections)",
        captures.len()
    );
    let output = settled_output(&function, "step failed");
    for c in &captures {
        assert!(c.ssl_request, "{what}: the client asked for TLS first");
        assert_eq!(
            c.startup_param("user").as_deref(),
            Some(user.as_str()),
            "{what}: the fake server got a startup message"
        );
        for (form, text) in &forms {
            assert!(
                !contains(&c.after_ask, text.as_bytes()),
                "{what}: the fake server received {form}"
            );
        }
        assert!(
            c.after_ask.is_empty(),
            "{what}: the client answered the request with {} bytes",
            c.after_ask.len()
        );
    }
    for (form, text) in &forms {
        assert!(!output.contains(text), "{what}: {form} is in the output");
        for (_, message) in &failures {
            assert!(!message.contains(text), "{what}: {form} is in the error");
        }
    }
}

#[tokio::test]
async fn single_user_gives_an_attacker_no_cleartext_password() {
    attacker_gets_no_password(SingleUser, "postgres-single-user", Ask::Cleartext).await;
}

#[tokio::test]
async fn single_user_gives_an_attacker_no_md5_answer() {
    attacker_gets_no_password(SingleUser, "postgres-single-user", Ask::Md5(SALT)).await;
}

#[tokio::test]
async fn alternating_users_give_an_attacker_no_cleartext_password() {
    attacker_gets_no_password(
        AlternatingUsers,
        "postgres-alternating-users",
        Ask::Cleartext,
    )
    .await;
}

#[tokio::test]
async fn alternating_users_give_an_attacker_no_md5_answer() {
    attacker_gets_no_password(
        AlternatingUsers,
        "postgres-alternating-users",
        Ask::Md5(SALT),
    )
    .await;
}

/// `"ssl": false` is the owner's choice of plaintext: the server gets the password in the form
/// it asks for (so the refusal above is the prefer mode's doing, not a broken login).
#[tokio::test]
async fn ssl_false_sends_what_the_server_asks_for() {
    let sm = Sm::from_env();
    for ask in [Ask::Cleartext, Ask::Md5(SALT)] {
        let fake = FakePostgres::start(ask);
        let user = unique("optout");
        let password = unique("Optout-pw-");
        let mut value = secret(fake.port, &user, &password);
        value["ssl"] = json!(false);
        let arn = sm.create("pg-optout-", &value).await;
        let r = rotator(&sm, SingleUser, &[]);
        let token = sm.start_rotation(&arn).await;
        // createSecret does not log in; the fake server refuses every password.
        let (failed, err) = refusal(&r, &arn, &token, "AuthenticationError").await;
        assert_eq!(failed, "setSecret", "{ask:?}: {err}");
        assert!(!err.to_string().contains(&password), "{ask:?}: {err}");

        let expected = match ask {
            Ask::Cleartext => password.clone(),
            Ask::Md5(salt) => md5_hash(user.as_bytes(), password.as_bytes(), salt),
        };
        let captures: Vec<Capture> = fake.captures();
        assert!(!captures.is_empty(), "{ask:?}: the client connected");
        assert!(
            captures.iter().all(|c| !c.ssl_request),
            "{ask:?}: \"ssl\": false asks for no TLS"
        );
        assert!(
            captures
                .iter()
                .any(|c| contains(&c.after_ask, expected.as_bytes())),
            "{ask:?}: the fake server received the AWSCURRENT password in the form it asked for"
        );
    }
}

/// A server that declined TLS but stores MD5 hashes (here `password_encryption` set for one
/// role on a SCRAM server) never gets the new MD5 hash over that connection: the hash is as
/// good as the password for MD5 logins. The login itself was SCRAM, and the password stays.
#[tokio::test]
async fn no_md5_hash_is_sent_over_a_connection_without_tls() {
    let f = fixture(SingleUser, "md5plain").await;
    admin_exec(
        &f.db,
        &[format!(
            "ALTER ROLE {} SET password_encryption = 'md5'",
            ident(&f.user)
        )],
    )
    .await;
    let r = rotator(&f.sm, SingleUser, &[]);
    let token = f.sm.start_rotation(&f.arn).await;
    let (failed, err) = refusal(&r, &f.arn, &token, "TlsError").await;
    assert_eq!(failed, "setSecret", "no MD5 hash without TLS: {err}");
    let msg = err.to_string();
    assert_names(
        &msg,
        &[
            &format!("127.0.0.1:{}", f.db.port),
            "MD5",
            "without TLS",
            "\"ssl\": false",
        ],
    );
    login(f.db.port, &f.user, &f.password)
        .await
        .expect("the password did not change");
    let pending =
        f.sm.value(&f.arn, "AWSPENDING", Some(&token))
            .await
            .and_then(|v| v["password"].as_str().map(str::to_owned))
            .expect("AWSPENDING is stored");
    assert!(!msg.contains(&pending), "{msg}");
    assert!(
        login(f.db.port, &f.user, &pending).await.is_err(),
        "AWSPENDING was not set"
    );
}
