//! PostgreSQL 16's role rules, tested live on every version. From 16 a `CREATEROLE` admin may
//! grant membership in a role, or change its password, only when it holds the ADMIN option on
//! that role, which it gets by itself for the roles it creates. Each test asks the server for
//! its `server_version_num` and asserts what that version does: on 15 `CREATEROLE` is enough;
//! on 16 and later a user the admin did not create is refused before anything is created, with
//! the statement that fixes it, and a retry after that statement completes the rotation.

use crate::common::*;
use rotation_core::Strategy::AlternatingUsers;
use rotation_postgres::sql::{MEMBERSHIP_OPTIONS_VERSION, ident, literal};
use serde_json::json;
use test_support::function_binary;
use test_support::lambda::Function;
use test_support::postgres::{DATABASE, Options, Postgres};
use test_support::secrets::{Sm, rotate, step};
use test_support::unique;
use tokio_postgres::Client;

/// A membership as `pg_auth_members` records it: the grantor, `admin_option`, and (16+ only)
/// `inherit_option` and `set_option`.
#[derive(Debug, PartialEq, Eq)]
struct Membership {
    grantor: String,
    admin: bool,
    inherit: Option<bool>,
    set: Option<bool>,
}

/// The membership of `member` in `role`, if there is one.
async fn membership(c: &Client, version: u32, role: &str, member: &str) -> Option<Membership> {
    // The two options are columns only from 16; before, INHERIT was the member's attribute
    // and SET ROLE went with any membership.
    let options = if version >= MEMBERSHIP_OPTIONS_VERSION {
        "a.inherit_option, a.set_option"
    } else {
        "NULL::bool, NULL::bool"
    };
    let rows = c
        .query(
            &format!(
                "SELECT g.rolname::text, a.admin_option, {options} FROM pg_auth_members a \
                 JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member \
                 JOIN pg_roles g ON g.oid = a.grantor WHERE r.rolname = $1 AND m.rolname = $2"
            ),
            &[&role, &member],
        )
        .await
        .expect("pg_auth_members");
    assert!(rows.len() <= 1, "{member} in {role}: {} grants", rows.len());
    rows.first().map(|r| Membership {
        grantor: r.get(0),
        admin: r.get(1),
        inherit: r.get(2),
        set: r.get(3),
    })
}

/// The statement the refusal must name, as far as the brief fixes it; the engine may add
/// options after it.
fn fix_prefix(user: &str, admin: &str) -> String {
    format!(
        "GRANT {} TO {} WITH ADMIN OPTION",
        ident(user),
        ident(admin)
    )
}

/// The whole statement the message names, from its start to the `;` that ends it.
fn statement_in(message: &str, prefix: &str) -> String {
    let start = message
        .find(prefix)
        .unwrap_or_else(|| panic!("the message names `{prefix}…`: {message}"));
    let rest = &message[start..];
    let end = rest
        .find(';')
        .unwrap_or_else(|| panic!("the statement ends with ';': {message}"));
    rest[..end].to_owned()
}

/// `current_user` of a session.
async fn current_user(c: &Client) -> String {
    c.query_one("SELECT current_user::text", &[])
        .await
        .expect("current_user")
        .get(0)
}

#[tokio::test]
async fn the_clone_of_a_user_the_admin_created_acts_as_it() {
    let f = fixture(AlternatingUsers, "own16").await;
    let version = version_num(&f.db).await;
    let clone = format!("{}_clone", f.user);
    let c = admin(&f.db).await;
    let admin_in_user = membership(&c, version, &f.user, &f.db.admin_user).await;
    if version >= MEMBERSHIP_OPTIONS_VERSION {
        // What lets the admin grant the user to the clone: PostgreSQL gave it the ADMIN
        // option when it created the user, and nothing more.
        assert_eq!(
            admin_in_user,
            Some(Membership {
                grantor: "postgres".into(),
                admin: true,
                inherit: Some(false),
                set: Some(false),
            }),
            "{version}"
        );
    } else {
        assert_eq!(admin_in_user, None, "{version}: CREATEROLE is all it has");
    }
    // A table of the original's, which the clone can read only by inheriting its privileges.
    admin_exec(
        &f.db,
        &[format!(
            "GRANT CREATE, USAGE ON SCHEMA public TO {}",
            ident(&f.user)
        )],
    )
    .await;
    let table = ident(&format!("{}_t", f.user));
    connect(f.db.port, &f.user, &f.password, DATABASE)
        .await
        .expect("original")
        .batch_execute(&format!(
            "CREATE TABLE {table} (v int); INSERT INTO {table} VALUES (1)"
        ))
        .await
        .expect("the original creates a table");

    let r = rotator(&f.sm, AlternatingUsers, &[]);
    let token = f.sm.start_rotation(&f.arn).await;
    rotate(&r, &f.arn, &token).await.expect("rotation");
    assert_eq!(username_at(&f.sm, &f.arn, "AWSCURRENT").await, clone);

    let recorded = membership(&c, version, &f.user, &clone)
        .await
        .expect("the clone is a member of the original");
    assert_eq!(recorded.grantor, f.db.admin_user, "{version}");
    assert!(!recorded.admin, "the clone may not grant the original");
    if version >= MEMBERSHIP_OPTIONS_VERSION {
        assert_eq!(
            (recorded.inherit, recorded.set),
            (Some(true), Some(true)),
            "{version}: GRANT … WITH INHERIT TRUE, SET TRUE as recorded"
        );
    } else {
        let inherits: bool = c
            .query_one(
                "SELECT rolinherit FROM pg_roles WHERE rolname = $1",
                &[&clone],
            )
            .await
            .expect("rolinherit")
            .get(0);
        assert!(
            inherits,
            "{version}: the clone inherits (a role attribute before 16)"
        );
    }

    let pw = password_at(&f.sm, &f.arn, "AWSCURRENT").await;
    let s = connect(f.db.port, &clone, &pw, DATABASE)
        .await
        .expect("the clone logs in");
    let row = s
        .query_one("SELECT current_user::text, session_user::text", &[])
        .await
        .expect("who");
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, String>(1)),
        (f.user.clone(), clone.clone()),
        "the clone's sessions start as the original"
    );
    s.batch_execute("SET ROLE NONE")
        .await
        .expect("SET ROLE NONE");
    assert_eq!(current_user(&s).await, clone);
    let n: i64 = s
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .expect("as itself, the clone reads the original's table: INHERIT")
        .get(0);
    assert_eq!(n, 1);
    s.batch_execute(&format!("SET ROLE {}", ident(&f.user)))
        .await
        .expect("the clone may SET ROLE to the original: SET");
    assert_eq!(current_user(&s).await, f.user);
    s.batch_execute("SET ROLE NONE; RESET ROLE")
        .await
        .expect("RESET ROLE");
    assert_eq!(
        current_user(&s).await,
        f.user,
        "RESET ROLE goes back to the role setting, the original"
    );
    // USAGE: the clone has the original's privileges; SET (a privilege type from 16): it may
    // become the original. A list would ask for any one of them, so each is asked alone.
    let privileges: &[&str] = if version >= MEMBERSHIP_OPTIONS_VERSION {
        &["USAGE", "SET"]
    } else {
        &["USAGE"]
    };
    for privilege in privileges {
        let has: bool = c
            .query_one(
                "SELECT pg_has_role($1::text::name, $2::text::name, $3)",
                &[&clone, &f.user, privilege],
            )
            .await
            .expect("pg_has_role")
            .get(0);
        assert!(
            has,
            "{version}: pg_has_role(clone, original, '{privilege}')"
        );
    }

    // The next rotation changes the original's password: the ADMIN option covers that too.
    let token = f.sm.start_rotation(&f.arn).await;
    rotate(&r, &f.arn, &token).await.expect("second rotation");
    login(
        f.db.port,
        &f.user,
        &password_at(&f.sm, &f.arn, "AWSCURRENT").await,
    )
    .await
    .expect("the original's new password");
}

/// The step's outcome through the shipped binary, from a runtime thread that may block.
fn invoke(f: &Function, arn: &str, token: &str, s: &str) -> test_support::lambda::Outcome {
    tokio::task::block_in_place(|| f.invoke(arn, token, s))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_the_superuser_created_needs_the_admin_option_from_16() {
    // A server of this run's version whose statement log shows what was attempted.
    let server = Postgres::start_with(Options {
        log_statements: true,
        ..Options::default()
    })
    .expect("a server with log_statement = all");
    let version = version_num(&server).await;
    let sm = Sm::from_env();
    let user = unique("bysu");
    let password = unique("Su-made-");
    let clone = format!("{user}_clone");
    let su = superuser(&server).await;
    su.batch_execute(&format!(
        "CREATE ROLE {} LOGIN PASSWORD {}",
        ident(&user),
        literal(&password)
    ))
    .await
    .expect("the superuser creates the user");
    assert_eq!(
        membership(&su, version, &user, &server.admin_user).await,
        None,
        "the admin has nothing on the user"
    );
    let mut value = secret(server.port, &user, &password);
    value["masterarn"] = json!(master_secret(&sm, &server).await);
    let arn = sm.create("pg-bysu-", &value).await;
    let function = Function::spawn(&function_binary("postgres-alternating-users"), &sm.url, &[]);
    let token = sm.start_rotation(&arn).await;
    invoke(&function, &arn, &token, "createSecret").expect_ok("createSecret");

    if version >= MEMBERSHIP_OPTIONS_VERSION {
        let (kind, message) =
            invoke(&function, &arn, &token, "setSecret").expect_err("no ADMIN option");
        assert_eq!(kind, "PermissionError", "{version}: {message}");
        assert!(
            message.contains(&arn) && message.contains("admin (masterarn)"),
            "{message}"
        );
        let fix = statement_in(&message, &fix_prefix(&user, &server.admin_user));
        assert!(!role_exists(&server, &clone).await, "no half-made clone");
        let log = server.log();
        assert!(
            log.contains("MEMBER WITH ADMIN OPTION"),
            "the engine's check ran, and the log is live: {log}"
        );
        assert!(
            !log.contains(&format!("CREATE ROLE {}", ident(&clone))),
            "the refusal came before CREATE ROLE: {log}"
        );
        login(server.port, &user, &password)
            .await
            .expect("the user is untouched");

        // The operator runs what the message says; the retry of the step completes.
        su.batch_execute(&fix)
            .await
            .unwrap_or_else(|e| panic!("{fix}: {e:?}"));
        invoke(&function, &arn, &token, "setSecret").expect_ok("setSecret after the grant");
    } else {
        invoke(&function, &arn, &token, "setSecret")
            .expect_ok("before 16, CREATEROLE is enough to grant any role that is not a superuser");
    }
    for s in ["testSecret", "finishSecret"] {
        invoke(&function, &arn, &token, s).expect_ok(s);
    }
    assert_eq!(
        sm.version_of(&arn, "AWSCURRENT").await.as_deref(),
        Some(token.as_str())
    );
    assert_eq!(username_at(&sm, &arn, "AWSCURRENT").await, clone);
    let pw = password_at(&sm, &arn, "AWSCURRENT").await;
    let s = connect(server.port, &clone, &pw, "postgres")
        .await
        .expect("the clone logs in");
    assert_eq!(
        current_user(&s).await,
        user,
        "the clone acts as the original"
    );

    // The next rotation changes the original's own password, which needs the same option.
    let token = sm.start_rotation(&arn).await;
    for s in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        invoke(&function, &arn, &token, s).expect_ok(s);
    }
    assert_eq!(username_at(&sm, &arn, "AWSCURRENT").await, user);
    login(
        server.port,
        &user,
        &password_at(&sm, &arn, "AWSCURRENT").await,
    )
    .await
    .expect("the original's new password");

    let output = settled_output(&function, "step finished");
    for secret in [
        password.as_str(),
        pw.as_str(),
        server.admin_password.as_str(),
    ] {
        assert!(!output.contains(secret), "a password is in the output");
    }
}

#[tokio::test]
async fn a_user_another_createrole_role_created_needs_the_admin_option_from_16() {
    let db = db();
    let sm = Sm::from_env();
    let version = version_num(&db).await;
    // A second user manager, made by the admin, creates the user to rotate.
    let other = unique("mgr");
    let other_pw = unique("Mgr-pw-");
    admin_exec(
        &db,
        &[format!(
            "CREATE ROLE {} LOGIN CREATEROLE PASSWORD {}",
            ident(&other),
            literal(&other_pw)
        )],
    )
    .await;
    let as_other = connect(db.port, &other, &other_pw, "postgres")
        .await
        .expect("the second manager logs in");
    let user = unique("bymgr");
    let password = unique("Mgr-made-");
    let clone = format!("{user}_clone");
    as_other
        .batch_execute(&format!(
            "CREATE ROLE {} LOGIN PASSWORD {}",
            ident(&user),
            literal(&password)
        ))
        .await
        .expect("the second manager creates the user");
    if version >= MEMBERSHIP_OPTIONS_VERSION {
        // The admin reaches an ADMIN option on the user through its membership in the manager
        // it created, which does not inherit: pg_has_role and ALTER ROLE accept that, GRANT
        // does not ("no possible grantors"). So the engine's check cannot be pg_has_role.
        let reaches: bool = admin(&db)
            .await
            .query_one(
                "SELECT pg_has_role(current_user, $1::text::name, 'MEMBER WITH ADMIN OPTION')",
                &[&user],
            )
            .await
            .expect("pg_has_role")
            .get(0);
        assert!(reaches, "{version}");
    }
    let mut value = secret(db.port, &user, &password);
    value["masterarn"] = json!(master_secret(&sm, &db).await);
    let arn = sm.create("pg-bymgr-", &value).await;
    let r = rotator(&sm, AlternatingUsers, &[]);
    let token = sm.start_rotation(&arn).await;
    step(&r, &arn, &token, "createSecret")
        .await
        .expect("createSecret");

    if version >= MEMBERSHIP_OPTIONS_VERSION {
        let err = step(&r, &arn, &token, "setSecret")
            .await
            .expect_err("no usable ADMIN option");
        assert_eq!(err.kind(), "PermissionError", "{version}: {err}");
        let message = err.to_string();
        let fix = statement_in(&message, &fix_prefix(&user, &db.admin_user));
        assert!(
            !message.contains(&password) && !message.contains("SCRAM-SHA-256$"),
            "{message}"
        );
        assert!(!role_exists(&db, &clone).await, "no half-made clone");
        // The user's creator holds the ADMIN option, so it may run the statement too.
        as_other
            .batch_execute(&fix)
            .await
            .unwrap_or_else(|e| panic!("{fix}: {e:?}"));
    }
    step(&r, &arn, &token, "setSecret")
        .await
        .unwrap_or_else(|e| panic!("{version}: setSecret: {e}"));
    for s in ["testSecret", "finishSecret"] {
        step(&r, &arn, &token, s)
            .await
            .unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    let pw = password_at(&sm, &arn, "AWSCURRENT").await;
    let s = connect(db.port, &clone, &pw, "postgres")
        .await
        .expect("the clone logs in");
    assert_eq!(
        current_user(&s).await,
        user,
        "the clone acts as the original"
    );
}

#[tokio::test]
async fn a_clone_the_superuser_made_is_refused_before_its_password_changes_from_16() {
    let server = Postgres::start_with(Options::default()).expect("a server");
    let version = version_num(&server).await;
    let sm = Sm::from_env();
    let user = unique("pair");
    let clone = format!("{user}_clone");
    let su = superuser(&server).await;
    // A pair made by hand by the superuser, the clone already a member of the original.
    su.batch_execute(&format!(
        "CREATE ROLE {u} LOGIN PASSWORD 'Pair-pw-1'; CREATE ROLE {c} LOGIN PASSWORD 'Pair-pw-2'; GRANT {u} TO {c}",
        u = ident(&user),
        c = ident(&clone)
    ))
    .await
    .expect("the superuser makes the pair");
    let mut value = secret(server.port, &user, "Pair-pw-1");
    value["masterarn"] = json!(master_secret(&sm, &server).await);
    let arn = sm.create("pg-pair-", &value).await;
    let r = rotator(&sm, AlternatingUsers, &[]);
    let token = sm.start_rotation(&arn).await;
    step(&r, &arn, &token, "createSecret")
        .await
        .expect("createSecret");

    if version >= MEMBERSHIP_OPTIONS_VERSION {
        let err = step(&r, &arn, &token, "setSecret")
            .await
            .expect_err("no ADMIN option on the clone");
        assert_eq!(err.kind(), "PermissionError", "{version}: {err}");
        let message = err.to_string();
        let fix = statement_in(&message, &fix_prefix(&clone, &server.admin_user));
        assert!(message.contains("password"), "{message}");
        login(server.port, &clone, "Pair-pw-2")
            .await
            .expect("the clone's password did not change");
        su.batch_execute(&fix)
            .await
            .unwrap_or_else(|e| panic!("{fix}: {e:?}"));
    }
    step(&r, &arn, &token, "setSecret")
        .await
        .unwrap_or_else(|e| panic!("{version}: setSecret: {e}"));
    for s in ["testSecret", "finishSecret"] {
        step(&r, &arn, &token, s)
            .await
            .unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    login(
        server.port,
        &clone,
        &password_at(&sm, &arn, "AWSCURRENT").await,
    )
    .await
    .expect("the clone's new password");
    assert!(
        login(server.port, &clone, "Pair-pw-2").await.is_err(),
        "the old one is gone"
    );
}
