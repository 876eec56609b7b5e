//! What the admin needs, tested live on every version. The admin must have `CREATEROLE`. From
//! 16 a `CREATEROLE` admin may also grant membership in a role, or change its password, only
//! when it holds the ADMIN option on that role, which it gets by itself for the roles it
//! creates. Each test asks the server for its `server_version_num` and asserts what that
//! version does: on 15 `CREATEROLE` is enough; on 16 and later a user the admin did not create
//! is refused before anything is created, with the statement that fixes it, and a retry after
//! that statement completes the rotation. The clone it makes is a member of the original that
//! inherits its privileges, may `SET ROLE` to it, and starts its sessions as it.

use crate::common::*;
use rotation_core::Strategy::AlternatingUsers;
use rotation_core::protocol::Rotator;
use rotation_postgres::PostgreSql;
use rotation_postgres::sql::{ADMIN_OPTION_VERSION, MEMBERSHIP_OPTIONS_VERSION, ident, literal};
use serde_json::json;
use test_support::postgres::{DATABASE, Options, Postgres};
use test_support::secrets::{Sm, step};
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

/// The statement that gives `admin` the ADMIN option on `role`, as far as the refusal must
/// name it (the engine may add options after it).
fn admin_option_grant(role: &str, admin: &str) -> String {
    format!(
        "GRANT {} TO {} WITH ADMIN OPTION",
        ident(role),
        ident(admin)
    )
}

/// The whole statement the message names, from `prefix` to the `;` that ends it.
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

/// A server of this run's build started for the test as `opts` says, a session of its
/// superuser, and the name of a user to make there (from `prefix`) with its clone's.
async fn own_server(opts: Options<'_>, prefix: &str) -> (Postgres, Client, String, String) {
    let server = Postgres::start_with(opts).expect("a server of the test's own");
    let su = superuser(&server).await;
    let user = unique(prefix);
    let clone = format!("{user}_clone");
    (server, su, user, clone)
}

/// AWSCURRENT of `arn` is `clone`, which logs in to `port` and whose session acts as `user`;
/// returns its password.
async fn current_acts_as(sm: &Sm, arn: &str, port: u16, clone: &str, user: &str) -> String {
    let pw = current_is(sm, arn, port, clone).await;
    let s = connect(port, clone, &pw, "postgres")
        .await
        .expect("the clone logs in");
    assert_eq!(
        current_user(&s).await,
        user,
        "the clone acts as the original"
    );
    pw
}

/// Run `sql` as the client's user, which must be allowed to.
async fn exec(c: &Client, sql: &str) {
    c.batch_execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
}

/// A secret on `server` for `user` (made by the test), with the admin of `server` in
/// `masterarn`.
async fn alternating_secret(sm: &Sm, server: &Postgres, user: &str, password: &str) -> String {
    store(
        sm,
        "pg-rules-",
        secret(server.port, user, password),
        &admin_key(sm, server).await,
    )
    .await
}

/// On 16 and later, setSecret of `token` is refused for want of the ADMIN option on `role`:
/// returns the refusal and the statement it names, after checking that no clone was made.
/// Before 16 it returns `None` and has run createSecret.
async fn refused_without_admin_option(
    r: &Rotator<PostgreSql>,
    server: &Postgres,
    arn: &str,
    token: &str,
    role: &str,
) -> Option<(String, String)> {
    let version = version_num(server).await;
    if version < MEMBERSHIP_OPTIONS_VERSION {
        step(r, arn, token, "createSecret")
            .await
            .expect("createSecret");
        return None;
    }
    let (failed, err) = refusal(r, arn, token, "PermissionError").await;
    assert_eq!(failed, "setSecret", "{version}: {err}");
    let message = err.to_string();
    assert_names(&message, &[arn, "admin (masterarn)"]);
    assert!(
        !message.contains("SCRAM-SHA-256$"),
        "no verifier: {message}"
    );
    let fix = statement_in(&message, &admin_option_grant(role, &server.admin_user));
    Some((message, fix))
}

/// Run setSecret, testSecret and finishSecret of `token`, each of which must succeed.
async fn complete(r: &Rotator<PostgreSql>, arn: &str, token: &str) {
    for s in &STEPS[1..] {
        step(r, arn, token, s)
            .await
            .unwrap_or_else(|e| panic!("{s}: {e}"));
    }
}

#[tokio::test]
async fn the_clone_of_a_user_the_admin_created_acts_as_it() {
    let f = fixture(AlternatingUsers, "own16").await;
    let version = version_num(&f.db).await;
    let c = admin(&f.db).await;
    let admin_in_user = membership(&c, version, &f.user, &f.db.admin_user).await;
    // What lets the admin grant the user to the clone from 16: PostgreSQL gave it the ADMIN
    // option when it created the user, and nothing more. Before, CREATEROLE is all it has.
    let expected = (version >= MEMBERSHIP_OPTIONS_VERSION).then(|| Membership {
        grantor: "postgres".into(),
        admin: true,
        inherit: Some(false),
        set: Some(false),
    });
    assert_eq!(admin_in_user, expected, "{version}");
    // A table of the original's, which the clone can read only by inheriting its privileges.
    allow_tables(&f.db, &f.user).await;
    let table = ident(&format!("{}_t", f.user));
    let original = connect(f.db.port, &f.user, &f.password, DATABASE)
        .await
        .expect("original");
    exec(
        &original,
        &format!("CREATE TABLE {table} (v int); INSERT INTO {table} VALUES (1)"),
    )
    .await;

    let r = rotator(&f.sm, AlternatingUsers, &[]);
    let (user, pw) = rotate_through(&r, &f.sm, &f.arn, f.db.port).await;
    assert_eq!(user, f.clone);
    assert!(
        is_member(&f.db, &f.clone, &f.user).await,
        "the clone is a member of the original"
    );
    login(f.db.port, &f.user, &f.password)
        .await
        .expect("the original still logs in");

    let recorded = membership(&c, version, &f.user, &f.clone)
        .await
        .expect("the clone is a member of the original");
    assert_eq!(recorded.grantor, f.db.admin_user, "{version}");
    assert!(!recorded.admin, "the clone may not grant the original");
    let options = if version >= MEMBERSHIP_OPTIONS_VERSION {
        (recorded.inherit, recorded.set)
    } else {
        // INHERIT is a role attribute before 16, and SET ROLE comes with the membership.
        let inherits: bool = c
            .query_one(
                "SELECT rolinherit FROM pg_roles WHERE rolname = $1",
                &[&f.clone],
            )
            .await
            .expect("rolinherit")
            .get(0);
        (Some(inherits), Some(true))
    };
    assert_eq!(
        options,
        (Some(true), Some(true)),
        "{version}: the clone inherits and may SET ROLE"
    );

    let s = connect(f.db.port, &f.clone, &pw, DATABASE)
        .await
        .expect("the clone logs in");
    let row = s
        .query_one("SELECT current_user::text, session_user::text", &[])
        .await
        .expect("who");
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, String>(1)),
        (f.user.clone(), f.clone.clone()),
        "the clone's sessions start as the original"
    );
    exec(&s, "SET ROLE NONE").await;
    assert_eq!(current_user(&s).await, f.clone);
    let n: i64 = s
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .expect("as itself, the clone reads the original's table: INHERIT")
        .get(0);
    assert_eq!(n, 1);
    exec(&s, &format!("SET ROLE {}", ident(&f.user))).await;
    assert_eq!(current_user(&s).await, f.user, "SET ROLE to the original");
    exec(&s, "SET ROLE NONE; RESET ROLE").await;
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
                &[&f.clone, &f.user, privilege],
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
    let (user, _) = rotate_through(&r, &f.sm, &f.arn, f.db.port).await;
    assert_eq!(user, f.user);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_the_superuser_created_needs_the_admin_option_from_16() {
    // A server of this run's version whose statement log shows what was attempted; the shipped
    // function, whose output must hold no password.
    let (server, su, user, clone) = own_server(
        Options {
            log_statements: true,
            ..Options::default()
        },
        "bysu",
    )
    .await;
    let version = version_num(&server).await;
    let sm = Sm::from_env();
    let password = unique("Su-made-");
    exec(
        &su,
        &format!(
            "CREATE ROLE {} LOGIN PASSWORD {}",
            ident(&user),
            literal(&password)
        ),
    )
    .await;
    assert_eq!(
        membership(&su, version, &user, &server.admin_user).await,
        None,
        "the admin has nothing on the user"
    );
    let arn = alternating_secret(&sm, &server, &user, &password).await;
    let function = shipped("postgres-alternating-users", &[]);
    let token = sm.start_rotation(&arn).await;
    invoke(&function, &arn, &token, "createSecret").expect_ok("createSecret");

    if version >= MEMBERSHIP_OPTIONS_VERSION {
        let (kind, message) =
            invoke(&function, &arn, &token, "setSecret").expect_err("no ADMIN option");
        assert_eq!(kind, "PermissionError", "{version}: {message}");
        assert_names(&message, &[&arn, "admin (masterarn)"]);
        let fix = statement_in(&message, &admin_option_grant(&user, &server.admin_user));
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
        exec(&su, &fix).await;
    }
    // Before 16, CREATEROLE is enough to grant any role that is not a superuser.
    for s in &STEPS[1..] {
        invoke(&function, &arn, &token, s).expect_ok(s);
    }
    let pw = current_acts_as(&sm, &arn, server.port, &clone, &user).await;

    // The next rotation changes the original's own password, which needs the same option.
    let token = sm.start_rotation(&arn).await;
    for s in STEPS {
        invoke(&function, &arn, &token, s).expect_ok(s);
    }
    current_is(&sm, &arn, server.port, &user).await;

    let output = settled_output(&function, "step finished");
    for secret in [&password, &pw, &server.admin_password] {
        assert!(
            !output.contains(secret.as_str()),
            "a password is in the output"
        );
    }
}

#[tokio::test]
async fn a_user_another_createrole_role_created_needs_the_admin_option_from_16() {
    let db = db();
    let sm = Sm::from_env();
    let version = version_num(&db).await;
    // A second user manager, made by the admin, creates the user to rotate.
    let manager = unique("mgr");
    let manager_pw = unique("Mgr-pw-");
    admin_exec(
        &db,
        &[format!(
            "CREATE ROLE {} LOGIN CREATEROLE PASSWORD {}",
            ident(&manager),
            literal(&manager_pw)
        )],
    )
    .await;
    let as_manager = connect(db.port, &manager, &manager_pw, "postgres")
        .await
        .expect("the second manager logs in");
    let user = unique("bymgr");
    let password = unique("Mgr-made-");
    exec(
        &as_manager,
        &format!(
            "CREATE ROLE {} LOGIN PASSWORD {}",
            ident(&user),
            literal(&password)
        ),
    )
    .await;
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
    let arn = alternating_secret(&sm, &db, &user, &password).await;
    let r = rotator(&sm, AlternatingUsers, &[]);
    let token = sm.start_rotation(&arn).await;
    if let Some((message, fix)) = refused_without_admin_option(&r, &db, &arn, &token, &user).await {
        assert!(!message.contains(&password), "{message}");
        assert!(
            !role_exists(&db, &format!("{user}_clone")).await,
            "no half-made clone"
        );
        // The user's creator holds the ADMIN option, so it may run the statement too.
        exec(&as_manager, &fix).await;
    }
    complete(&r, &arn, &token).await;
    current_acts_as(&sm, &arn, db.port, &format!("{user}_clone"), &user).await;
}

#[tokio::test]
async fn a_clone_the_superuser_made_is_refused_before_its_password_changes_from_16() {
    let (server, su, user, clone) = own_server(Options::default(), "pair").await;
    let sm = Sm::from_env();
    // A pair made by hand by the superuser, the clone already a member of the original.
    exec(
        &su,
        &format!(
            "CREATE ROLE {u} LOGIN PASSWORD 'Pair-pw-1'; CREATE ROLE {c} LOGIN PASSWORD 'Pair-pw-2'; GRANT {u} TO {c}",
            u = ident(&user),
            c = ident(&clone)
        ),
    )
    .await;
    let arn = alternating_secret(&sm, &server, &user, "Pair-pw-1").await;
    let r = rotator(&sm, AlternatingUsers, &[]);
    let token = sm.start_rotation(&arn).await;
    if let Some((message, fix)) =
        refused_without_admin_option(&r, &server, &arn, &token, &clone).await
    {
        assert!(message.contains("password"), "{message}");
        login(server.port, &clone, "Pair-pw-2")
            .await
            .expect("the clone's password did not change");
        exec(&su, &fix).await;
    }
    complete(&r, &arn, &token).await;
    current_is(&sm, &arn, server.port, &clone).await;
    assert!(
        login(server.port, &clone, "Pair-pw-2").await.is_err(),
        "the old one is gone"
    );
}

#[tokio::test]
async fn admin_without_createrole_is_a_permission_error() {
    let f = fixture(AlternatingUsers, "perm").await;
    let weak = unique("weak");
    create_role(&f.db, &weak, "Weak-pw-1").await;
    let master = json!({"masterarn": f.sm.create(
        "pg-weak-",
        &json!({"username": weak, "password": "Weak-pw-1"}),
    )
    .await});
    let arn = store(
        &f.sm,
        "pg-perm-",
        secret(f.db.port, &f.user, &f.password),
        &master,
    )
    .await;
    let r = rotator(&f.sm, AlternatingUsers, &[]);
    let token = f.sm.start_rotation(&arn).await;
    let (failed, err) = refusal(&r, &arn, &token, "PermissionError").await;
    assert_eq!(failed, "setSecret", "{err}");
    let msg = err.to_string();
    assert_names(
        &msg,
        &[
            "admin (masterarn)",
            &format!("ALTER ROLE {} CREATEROLE", ident(&weak)),
        ],
    );
    // From 16 the admin also needs the ADMIN option on the user, and one message says both.
    let version = version_num(&f.db).await;
    assert_eq!(
        msg.contains(&admin_option_grant(&f.user, &weak)),
        version >= ADMIN_OPTION_VERSION,
        "{version}: {msg}"
    );
    assert!(
        !msg.contains("Weak-pw-1") && !msg.contains("SCRAM-SHA-256$"),
        "{msg}"
    );
    assert!(!role_exists(&f.db, &f.clone).await);
}
