//! What the server sees: with `log_statement = 'all'` the log holds verifiers and never a
//! password; a server set to MD5 gets MD5 hashes when the secret accepts plaintext
//! (`"ssl": false`), and no login at all over plaintext with `ssl` absent. And which server it
//! is: the build this run asked for, so that a version matrix cannot pass on the wrong one.
//! And how often it is logged in to: once per password per step (each SCRAM login derives a
//! key), with nothing left open when the step ends.

use crate::common::*;
use rotation_core::Strategy::{AlternatingUsers, SingleUser};
use serde_json::{Value, json};
use test_support::postgres::{BIN_VAR, Options, Postgres};
use test_support::secrets::Sm;
use test_support::wire::{TimedRelay, set_secret_connections};

/// `rolpassword` of `role`, read as the superuser.
async fn stored_verifier(server: &Postgres, role: &str) -> String {
    superuser(server)
        .await
        .query_one(
            "SELECT rolpassword FROM pg_authid WHERE rolname = $1",
            &[&role],
        )
        .await
        .unwrap_or_else(|e| panic!("{role}: {e}"))
        .get(0)
}

/// Rotate a single user twice and an alternating pair three times, with the keys of `extra`
/// added to the secrets. Then the server's log must hold no password the rotations made, and
/// the statement that set each role's stored verifier, which `is_expected` must accept.
async fn rotations_log_only_verifiers(
    server: &Postgres,
    extra: &Value,
    is_expected: fn(&str) -> bool,
) {
    let sm = Sm::from_env();
    let mut passwords = Vec::new();
    let mut roles = Vec::new();
    for (strategy, rotations) in [(SingleUser, 2), (AlternatingUsers, 3)] {
        let role = new_role(&sm, server, strategy, "log", extra).await;
        let r = rotator(&sm, strategy, &[]);
        for _ in 0..rotations {
            passwords.push(rotate_through(&r, &sm, &role.arn, server.port).await.1);
        }
        roles.push(role.user);
        if strategy == AlternatingUsers {
            roles.push(role.clone);
        }
    }
    let log = server.log();
    assert!(
        log.contains("CREATE ROLE") && log.contains("ALTER ROLE"),
        "statements were logged"
    );
    for pw in &passwords {
        assert!(
            !log.contains(pw.as_str()),
            "a new password is in the server log"
        );
    }
    for role in &roles {
        let verifier = stored_verifier(server, role).await;
        assert!(is_expected(&verifier), "{role}: {verifier}");
        assert!(
            log.contains(&verifier),
            "{role}: the statement that set the stored verifier is in the log"
        );
    }
}

#[tokio::test]
async fn statement_log_holds_verifiers_never_passwords() {
    let server = Postgres::start_with(Options {
        log_statements: true,
        ..Options::default()
    })
    .expect("server with log_statement = all");
    rotations_log_only_verifiers(&server, &json!({}), |v| {
        v.starts_with("SCRAM-SHA-256$4096:")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
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
    let prefer = new_role(&sm, &server, SingleUser, "md5prefer", &json!({})).await;
    let r = rotator(&sm, SingleUser, &[]);
    let token = sm.start_rotation(&prefer.arn).await;
    let (failed, err) = refusal(&r, &prefer.arn, &token, "TlsError").await;
    assert_eq!(failed, "setSecret", "no MD5 login without TLS: {err}");
    assert_names(&err.to_string(), &["MD5", "\"ssl\": false"]);
    login(server.port, &prefer.user, &prefer.password)
        .await
        .expect("the password did not change");

    // With "ssl": false the owner accepted plaintext, and MD5 servers rotate as before.
    let plaintext = json!({"ssl": false});
    rotations_log_only_verifiers(&server, &plaintext, |v| {
        v.starts_with("md5") && v.len() == 35
    })
    .await;

    // The shipped function says that MD5 is deprecated.
    let role = new_role(&sm, &server, SingleUser, "md5bin", &plaintext).await;
    let token = sm.start_rotation(&role.arn).await;
    let f = shipped("postgres-single-user", &[]);
    tokio::task::block_in_place(|| f.rotate(&role.arn, &token));
    assert_names(&settled_output(&f, "deprecated"), &["MD5", "deprecated"]);
    login(
        server.port,
        &role.user,
        &password_at(&sm, &role.arn, "AWSCURRENT").await,
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

/// setSecret logs in with each password once: AWSCURRENT's session, checked, is the one that
/// changes the password (single user) or reads the name limit (alternating users). It was
/// two logins with AWSCURRENT. No connection is left open after a step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_logs_in_once_per_password() {
    let sm = Sm::from_env();
    let server = db();
    let relay = TimedRelay::start(server.port);
    // AWSCURRENT, then AWSPENDING (refused: not set yet), then for alternating users the admin.
    for (strategy, logins) in [(SingleUser, 2), (AlternatingUsers, 3)] {
        let role = new_role(&sm, &server, strategy, "once", &json!({"port": relay.port})).await;
        let r = rotator(&sm, strategy, &[]);
        let connections = set_secret_connections(&sm, &r, &role.arn, &relay).await;
        assert_eq!(connections, logins, "{}", strategy.as_str());
    }
}
