//! What the server sees: with `log_statement = 'all'` the log holds verifiers and never a
//! password; a server set to MD5 gets MD5 hashes when the secret accepts plaintext
//! (`"ssl": false`), and no login at all over plaintext with `ssl` absent. And which server it
//! is: the build this run asked for, so that a version matrix cannot pass on the wrong one.

use crate::common::*;
use rotation_core::Strategy::{AlternatingUsers, SingleUser};
use serde_json::{Value, json};
use test_support::lambda::Function;
use test_support::moto::Moto;
use test_support::postgres::{BIN_VAR, Options, Postgres};
use test_support::secrets::{Sm, rotate, step};
use test_support::{function_binary, unique};

/// Add the keys of `extra` to the secret `value`.
fn merge(value: &mut Value, extra: &Value) {
    for (k, v) in extra.as_object().into_iter().flatten() {
        value[k] = v.clone();
    }
}

/// `rolpassword` of each role, read as the superuser.
async fn stored_verifiers(server: &Postgres, roles: &[&str]) -> Vec<String> {
    let su = connect(
        server.port,
        "postgres",
        server
            .superuser_password
            .as_deref()
            .expect("an owned server"),
        "postgres",
    )
    .await
    .expect("superuser");
    let mut out = Vec::new();
    for role in roles {
        let row = su
            .query_one(
                "SELECT rolpassword FROM pg_authid WHERE rolname = $1",
                &[role],
            )
            .await
            .unwrap_or_else(|e| panic!("{role}: {e}"));
        out.push(row.get::<_, String>(0));
    }
    out
}

/// Rotate a single user twice and an alternating pair three times, with the keys of `extra`
/// added to the secrets; returns every password the rotations made and the roles involved.
async fn rotate_all(server: &Postgres, sm: &Sm, extra: &Value) -> (Vec<String>, Vec<String>) {
    let mut passwords = Vec::new();
    let single = unique("logsu");
    create_role(server, &single, "Log-old-1").await;
    let mut value = secret(server.port, &single, "Log-old-1");
    merge(&mut value, extra);
    let arn = sm.create("pg-log-", &value).await;
    let r = rotator(sm, SingleUser, &[]);
    for _ in 0..2 {
        let token = sm.start_rotation(&arn).await;
        rotate(&r, &arn, &token)
            .await
            .expect("single-user rotation");
        let pw = password_at(sm, &arn, "AWSCURRENT").await;
        login(server.port, &single, &pw)
            .await
            .expect("new password");
        passwords.push(pw);
    }

    let base = unique("logalt");
    create_role(server, &base, "Log-old-2").await;
    let mut value = secret(server.port, &base, "Log-old-2");
    value["masterarn"] = json!(master_secret(sm, server).await);
    merge(&mut value, extra);
    let arn = sm.create("pg-log-alt-", &value).await;
    let r = rotator(sm, AlternatingUsers, &[]);
    for _ in 0..3 {
        let token = sm.start_rotation(&arn).await;
        rotate(&r, &arn, &token)
            .await
            .expect("alternating rotation");
        let pw = password_at(sm, &arn, "AWSCURRENT").await;
        login(server.port, &username_at(sm, &arn, "AWSCURRENT").await, &pw)
            .await
            .expect("new password");
        passwords.push(pw);
    }
    let clone = format!("{base}_clone");
    (passwords, vec![single, base, clone])
}

#[tokio::test]
async fn statement_log_holds_verifiers_never_passwords() {
    let server = Postgres::start_with(Options {
        log_statements: true,
        ..Options::default()
    })
    .expect("server with log_statement = all");
    let sm = Sm::from_env();
    let (passwords, roles) = rotate_all(&server, &sm, &json!({})).await;
    let log = server.log();
    for pw in &passwords {
        assert!(
            !log.contains(pw.as_str()),
            "a new password is in the server log"
        );
    }
    let roles: Vec<&str> = roles.iter().map(String::as_str).collect();
    for (role, verifier) in roles.iter().zip(stored_verifiers(&server, &roles).await) {
        assert!(
            verifier.starts_with("SCRAM-SHA-256$4096:"),
            "{role}: {verifier}"
        );
        assert!(
            log.contains(&verifier),
            "{role}: the statement that set the stored verifier is in the log"
        );
    }
    assert!(
        log.contains("CREATE ROLE") && log.contains("ALTER ROLE"),
        "statements were logged"
    );
}

#[tokio::test]
async fn md5_servers_get_md5_hashes_and_a_warning() {
    let server = Postgres::start_with(Options {
        md5: true,
        log_statements: true,
        ..Options::default()
    })
    .expect("server with password_encryption = md5");
    let sm = Sm::from_env();

    // The server offers no TLS and asks for MD5 answers, which a listener can replay or
    // attack: with `ssl` absent no password leaves, and the error says how to accept that.
    let user = unique("md5prefer");
    create_role(&server, &user, "Md5-prefer-1").await;
    let arn = sm
        .create(
            "pg-md5-prefer-",
            &secret(server.port, &user, "Md5-prefer-1"),
        )
        .await;
    let r = rotator(&sm, SingleUser, &[]);
    let token = sm.start_rotation(&arn).await;
    step(&r, &arn, &token, "createSecret")
        .await
        .expect("createSecret");
    let err = step(&r, &arn, &token, "setSecret")
        .await
        .expect_err("no MD5 login without TLS");
    assert_eq!(err.kind(), "TlsError", "{err}");
    assert!(
        err.to_string().contains("MD5") && err.to_string().contains("\"ssl\": false"),
        "{err}"
    );
    login(server.port, &user, "Md5-prefer-1")
        .await
        .expect("the password did not change");

    // With "ssl": false the owner accepted plaintext, and MD5 servers rotate as before.
    let plaintext = json!({"ssl": false});
    let (passwords, roles) = rotate_all(&server, &sm, &plaintext).await;
    let log = server.log();
    for pw in &passwords {
        assert!(
            !log.contains(pw.as_str()),
            "a new password is in the server log"
        );
    }
    let roles: Vec<&str> = roles.iter().map(String::as_str).collect();
    for (role, verifier) in roles.iter().zip(stored_verifiers(&server, &roles).await) {
        assert!(
            verifier.starts_with("md5") && verifier.len() == 35,
            "{role}: {verifier}"
        );
        assert!(log.contains(&verifier), "{role}");
    }

    // The shipped function says that MD5 is deprecated.
    let user = unique("md5bin");
    create_role(&server, &user, "Md5-old-1").await;
    let mut value = secret(server.port, &user, "Md5-old-1");
    merge(&mut value, &plaintext);
    let arn = sm.create("pg-md5-", &value).await;
    let token = sm.start_rotation(&arn).await;
    let f = Function::spawn(
        &function_binary("postgres-single-user"),
        &Moto::from_env().url,
        &[],
    );
    f.rotate(&arn, &token);
    let output = settled_output(&f, "deprecated");
    assert!(
        output.contains("MD5") && output.contains("deprecated"),
        "{output}"
    );
    login(
        server.port,
        &user,
        &password_at(&sm, &arn, "AWSCURRENT").await,
    )
    .await
    .expect("new password");
}

/// `server_version_num` of the build in `bin`, from `postgres --version`
/// ("postgres (PostgreSQL) 16.2", "… 15.20 (Debian …)").
fn build_version_num(bin: &std::path::Path) -> u32 {
    let postgres = bin.join("postgres");
    let out = std::process::Command::new(&postgres)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", postgres.display()));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let version = text
        .split_whitespace()
        .nth(2)
        .unwrap_or_else(|| panic!("{}: {text}", postgres.display()));
    let mut parts = version.split('.').map(|p| p.parse::<u32>());
    match (parts.next(), parts.next()) {
        (Some(Ok(major)), Some(Ok(minor))) => major * 10_000 + minor,
        _ => panic!("{}: {text}", postgres.display()),
    }
}

#[tokio::test]
async fn the_servers_are_the_build_this_run_asked_for() {
    // The version-aware tests pass on every version, so a matrix pass that started another
    // build than it names would pass unnoticed; this one would fail.
    let shared = version_num(&db()).await;
    let owned = Postgres::start_with(Options::default()).expect("a server");
    assert_eq!(
        version_num(&owned).await,
        shared,
        "the servers tests start are the build of the shared one"
    );
    match std::env::var_os(BIN_VAR) {
        Some(bin) => assert_eq!(
            shared,
            build_version_num(std::path::Path::new(&bin)),
            "{BIN_VAR}={}",
            bin.to_string_lossy()
        ),
        // Debian's build (PostgreSQL 15 on Debian 12), which the TLS tests also need.
        None => {
            let debian: Vec<u32> = std::fs::read_dir("/usr/lib/postgresql")
                .expect("Debian's PostgreSQL in /usr/lib/postgresql")
                .map(|d| build_version_num(&d.expect("entry").path().join("bin")))
                .collect();
            assert!(debian.contains(&shared), "{shared} is not in {debian:?}");
        }
    }
}
