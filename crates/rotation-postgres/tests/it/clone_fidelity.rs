//! Clone fidelity: a catalogue of login shapes as DBAs make them (group roles, one with the
//! ADMIN option; connection limit and expiry; per-role and per-database settings; default
//! privileges; sessions that act as an owner role; a `REPLICATION` login; a setting only a
//! superuser or a `SET` privilege may give). For each, two alternating-users rotations, there
//! and back, and after each the snapshot (`test_support::snapshot::postgres`) of both users
//! must equal the original's as it was. Where the admin cannot make an exact copy, setSecret
//! refuses with a `PermissionError` naming what the admin lacks and the statement that gives
//! it, before anything is created; once an operator runs that statement the retry completes.
//! The preflight check of the shipped binary names the same statements beforehand.

use crate::common::*;
use rotation_core::Strategy::AlternatingUsers;
use rotation_postgres::sql::{MEMBERSHIP_OPTIONS_VERSION, ident};
use serde_json::json;
use test_support::lambda::{Function, Outcome};
use test_support::postgres::{DATABASE, Options, Postgres};
use test_support::secrets::{Sm, rotate, step};
use test_support::snapshot::postgres::{Snapshot, snapshot};
use test_support::{function_binary, unique};
use tokio_postgres::Client;

/// A login of the catalogue on `db`, with its secret (the admin in `masterarn`, `dbname` the
/// admin's database, where the test's objects are).
struct Shape {
    db: Postgres,
    sm: Sm,
    user: String,
    clone: String,
    arn: String,
}

/// `{u}` in a statement stands for the login's quoted name, `{p}` for a prefix unique to the
/// test (for the roles and objects it makes, inside quotes).
fn fill(statement: &str, user: &str) -> String {
    statement.replace("{u}", &ident(user)).replace("{p}", user)
}

impl Shape {
    /// On the shared server: create a login, then run `as_admin` as the admin (the DBA) and
    /// `as_login` as the login itself.
    async fn new(prefix: &str, as_admin: &[&str], as_login: &[&str]) -> Shape {
        let db = db();
        let user = unique(prefix);
        let password = unique("Pw-");
        create_role(&db, &user, &password).await;
        let statements: Vec<String> = as_admin.iter().map(|s| fill(s, &user)).collect();
        admin_exec(&db, &statements).await;
        let login = connect(db.port, &user, &password, DATABASE)
            .await
            .unwrap_or_else(|e| panic!("{user} logs in: {e}"));
        for s in as_login {
            let s = fill(s, &user);
            login
                .batch_execute(&s)
                .await
                .unwrap_or_else(|e| panic!("as {user}: {s}: {e:?}"));
        }
        Shape::stored(db, user, &password).await
    }

    /// Store the secret of `user`, which exists on `db`.
    async fn stored(db: Postgres, user: String, password: &str) -> Shape {
        let sm = Sm::from_env();
        let arn = store(
            &sm,
            "pg-shape-",
            secret(db.port, &user, password),
            &json!({"dbname": DATABASE, "masterarn": master_secret(&sm, &db).await}),
        )
        .await;
        Shape {
            clone: format!("{user}_clone"),
            db,
            sm,
            user,
            arn,
        }
    }

    async fn snapshot_of(&self, login: &str) -> Snapshot {
        snapshot(&admin(&self.db).await, login, &self.user).await
    }

    /// Rotation `n` (1: to the clone, 2: back), all four steps; then AWSCURRENT names the
    /// other user and both users' snapshots equal `original`.
    async fn rotation(&self, n: u32, original: &Snapshot) {
        let token = self.sm.start_rotation(&self.arn).await;
        let r = rotator(&self.sm, AlternatingUsers, &[]);
        rotate(&r, &self.arn, &token)
            .await
            .unwrap_or_else(|e| panic!("rotation {n}: {e}"));
        self.after(n, original).await;
    }

    /// After rotation `n`: AWSCURRENT names the user it moved to, and both users' snapshots
    /// equal `original`.
    async fn after(&self, n: u32, original: &Snapshot) {
        let now = if n % 2 == 1 { &self.clone } else { &self.user };
        current_is(&self.sm, &self.arn, self.db.port, now).await;
        for (who, login) in [("the clone", &self.clone), ("the original", &self.user)] {
            let seen = self.snapshot_of(login).await;
            assert!(
                seen == *original,
                "rotation {n}: {who} differs from the original as it was: {:#?}",
                original.differences(&seen)
            );
        }
    }

    /// Two rotations, there and back, checked as [`Shape::rotation`] says. Returns the
    /// original's snapshot.
    async fn rotates_there_and_back(&self) -> Snapshot {
        let original = self.snapshot_of(&self.user).await;
        self.rotation(1, &original).await;
        self.rotation(2, &original).await;
        original
    }

    /// A session, in the admin's database, of the version of the secret that carries `stage`.
    async fn session(&self, stage: &str) -> (String, Client) {
        let user = username_at(&self.sm, &self.arn, stage).await;
        let password = password_at(&self.sm, &self.arn, stage).await;
        let c = connect(self.db.port, &user, &password, DATABASE)
            .await
            .unwrap_or_else(|e| panic!("{stage} ({user}) logs in: {e}"));
        (user, c)
    }
}

/// Run `sql` as the session's user, which must be allowed to.
async fn exec(c: &Client, sql: &str, who: &str) {
    c.batch_execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{who}: {sql}: {e:?}"));
}

/// The owner of table `name`.
async fn owner(c: &Client, name: &str) -> String {
    c.query_one(
        "SELECT tableowner::text FROM pg_tables WHERE tablename = $1",
        &[&name],
    )
    .await
    .unwrap_or_else(|e| panic!("owner of {name}: {e:?}"))
    .get(0)
}

/// The shared-objects check across two rotations: after the first, each user creates a table,
/// both belong to `owner_role`, and each writes the other's; after the second, each alters and
/// drops the other's.
async fn objects_are_shared(shape: &Shape, original: &Snapshot, owner_role: &str) {
    shape.rotation(1, original).await;
    let (by_clone, by_original) = (
        format!("{}_by_clone", shape.user),
        format!("{}_by_original", shape.user),
    );
    let (clone_user, as_clone) = shape.session("AWSCURRENT").await;
    let (original_user, as_original) = shape.session("AWSPREVIOUS").await;
    assert_eq!(
        (clone_user.as_str(), original_user.as_str()),
        (shape.clone.as_str(), shape.user.as_str())
    );
    for (c, table, who) in [
        (&as_clone, &by_clone, "the clone"),
        (&as_original, &by_original, "the original"),
    ] {
        let t = ident(table);
        exec(
            c,
            &format!("CREATE TABLE {t} (id int); INSERT INTO {t} VALUES (1)"),
            who,
        )
        .await;
        assert_eq!(owner(c, table).await, owner_role, "{who}'s table");
    }
    for (c, table, who) in [
        (&as_original, &by_clone, "the original"),
        (&as_clone, &by_original, "the clone"),
    ] {
        let t = ident(table);
        exec(
            c,
            &format!("INSERT INTO {t} VALUES (2); UPDATE {t} SET id = 3 WHERE id = 1"),
            who,
        )
        .await;
    }
    // The two tables are among the test's objects now: the next comparison is with the
    // original as it is with them.
    let original = &shape.snapshot_of(&shape.user).await;
    assert!(
        original.privileges.iter().any(|p| p.contains(&by_clone)),
        "{original:#?}"
    );
    shape.rotation(2, original).await;
    let (_, as_original) = shape.session("AWSCURRENT").await;
    let (_, as_clone) = shape.session("AWSPREVIOUS").await;
    for (c, table, who) in [
        (&as_original, &by_clone, "the original"),
        (&as_clone, &by_original, "the clone"),
    ] {
        let t = ident(table);
        exec(
            c,
            &format!("ALTER TABLE {t} ADD COLUMN extra int; DROP TABLE {t}"),
            who,
        )
        .await;
    }
}

#[tokio::test]
async fn member_of_several_group_roles_one_with_admin_option() {
    let shape = Shape::new(
        "grp",
        &[
            "CREATE ROLE \"{p}_read\"",
            "CREATE ROLE \"{p}_write\"",
            "CREATE ROLE \"{p}_ops\"",
            "CREATE TABLE \"{p}_t\" (v int)",
            "GRANT SELECT ON \"{p}_t\" TO \"{p}_read\"",
            "GRANT INSERT, UPDATE ON \"{p}_t\" TO \"{p}_write\"",
            "GRANT \"{p}_read\", \"{p}_write\" TO {u}",
            "GRANT \"{p}_ops\" TO {u} WITH ADMIN OPTION",
        ],
        &[],
    )
    .await;
    let original = shape.rotates_there_and_back().await;
    let ops = format!("{}_ops admin=true", shape.user);
    assert!(
        original.memberships.iter().any(|m| m.starts_with(&ops)),
        "{original:#?}"
    );
    assert!(
        original.privileges.contains(&format!(
            "table public.{}_t: SELECT, INSERT, UPDATE",
            shape.user
        )),
        "{original:#?}"
    );
}

#[tokio::test]
async fn connection_limit_and_valid_until() {
    let shape = Shape::new(
        "lim",
        &["ALTER ROLE {u} CONNECTION LIMIT 9 VALID UNTIL '2101-02-03 04:05:06+00'"],
        &[],
    )
    .await;
    let original = shape.rotates_there_and_back().await;
    assert_eq!(original.login["rolconnlimit"], "9", "{original:#?}");
    assert!(
        original.login["rolvaliduntil"].starts_with("2101-02-03"),
        "{original:#?}"
    );
}

#[tokio::test]
async fn per_database_settings_and_a_per_role_setting() {
    let shape = Shape::new(
        "set",
        &[
            "ALTER ROLE {u} SET statement_timeout = '41s'",
            "ALTER ROLE {u} IN DATABASE appdb SET work_mem = '6MB'",
            "ALTER ROLE {u} IN DATABASE postgres SET search_path = \"$user\", public",
        ],
        &[],
    )
    .await;
    let original = shape.rotates_there_and_back().await;
    assert_eq!(original.settings.len(), 3, "{original:#?}");
    let (_, c) = shape.session("AWSCURRENT").await;
    let seen: String = c
        .query_one("SELECT current_setting('work_mem')", &[])
        .await
        .expect("work_mem")
        .get(0);
    assert_eq!(seen, "6MB", "the per-database setting applies");
}

#[tokio::test]
async fn default_privileges() {
    let shape = Shape::new(
        "dp",
        &[
            "CREATE ROLE \"{p}_reader\"",
            "GRANT CREATE, USAGE ON SCHEMA public TO {u}",
        ],
        &[
            "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO \"{p}_reader\"",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE ON SEQUENCES TO \"{p}_reader\"",
        ],
    )
    .await;
    let original = shape.rotates_there_and_back().await;
    assert_eq!(original.default_privileges.len(), 2, "{original:#?}");
    // What the DBA meant: a table the clone creates is readable by the reader.
    let (_, c) = shape.session("AWSPREVIOUS").await;
    let table = format!("{}_made_by_clone", shape.user);
    exec(
        &c,
        &format!("CREATE TABLE {} (v int)", ident(&table)),
        "the clone",
    )
    .await;
    let readable: bool = c
        .query_one(
            "SELECT has_table_privilege($1::text::name, $2::text::regclass, 'SELECT')",
            &[&format!("{}_reader", shape.user), &ident(&table)],
        )
        .await
        .expect("has_table_privilege")
        .get(0);
    assert!(
        readable,
        "the default privileges applied to the clone's table"
    );
}

#[tokio::test]
async fn sessions_that_act_as_an_owner_role() {
    let shape = Shape::new(
        "own",
        &[
            "CREATE ROLE \"{p}_owner\"",
            "GRANT CREATE, USAGE ON SCHEMA public TO \"{p}_owner\"",
            "GRANT \"{p}_owner\" TO {u}",
            "ALTER ROLE {u} SET role = '{p}_owner'",
        ],
        &[],
    )
    .await;
    let original = shape.snapshot_of(&shape.user).await;
    let owner_role = format!("{}_owner", shape.user);
    assert_eq!(original.acts_as, owner_role, "{original:#?}");
    objects_are_shared(&shape, &original, &owner_role).await;
}

#[tokio::test]
async fn objects_stay_usable_by_both_through_two_rotations() {
    let shape = Shape::new("obj", &["GRANT CREATE, USAGE ON SCHEMA public TO {u}"], &[]).await;
    let original = shape.snapshot_of(&shape.user).await;
    let owner_role = shape.user.clone();
    objects_are_shared(&shape, &original, &owner_role).await;
}

/// A server of the test's own, with a statement log, so that a test can make what only a
/// superuser may (and see what was attempted), and a session of its superuser. On 16 and
/// later the login `user` it makes is granted to the admin with the ADMIN option, as its
/// creator would have it, so that only the right under test is missing.
async fn own_server(user: &str, password: &str, statements: &[&str]) -> (Postgres, Client) {
    let server = Postgres::start_with(Options {
        log_statements: true,
        ..Options::default()
    })
    .expect("a server of the test's own");
    let su = superuser(&server).await;
    let version = version_num(&server).await;
    let mut all = vec![format!(
        "CREATE ROLE {} LOGIN PASSWORD '{password}'",
        ident(user)
    )];
    if version >= MEMBERSHIP_OPTIONS_VERSION {
        all.push(format!(
            "GRANT {} TO {} WITH ADMIN OPTION, INHERIT FALSE, SET FALSE",
            ident(user),
            ident(&server.admin_user)
        ));
    }
    all.extend(statements.iter().map(|s| fill(s, user)));
    for s in &all {
        exec(&su, s, "the superuser").await;
    }
    (server, su)
}

/// The rotation of `shape` is refused at setSecret with a `PermissionError` that names each
/// of `fixes`, before anything is created: no clone, no `CREATE ROLE` in the statement log,
/// and AWSCURRENT still logs in. Returns the token, to retry with.
async fn refused_before_anything_is_created(shape: &Shape, fixes: &[String]) -> String {
    let fixes: Vec<&str> = fixes.iter().map(String::as_str).collect();
    preflight_names_the_fixes(shape, &fixes).await;
    let r = rotator(&shape.sm, AlternatingUsers, &[]);
    let token = shape.sm.start_rotation(&shape.arn).await;
    let (failed, err) = refusal(&r, &shape.arn, &token, "PermissionError").await;
    assert_eq!(failed, "setSecret", "{err}");
    let message = err.to_string();
    assert_names(&message, &fixes);
    assert_names(
        &message,
        &[&shape.arn, "admin (masterarn)", "Nothing was created"],
    );
    assert!(
        !message.contains("SCRAM-SHA-256$"),
        "no verifier: {message}"
    );
    assert!(
        !role_exists(&shape.db, &shape.clone).await,
        "no half-made clone"
    );
    let log = shape.db.log();
    assert!(
        log.contains("MEMBER WITH ADMIN OPTION"),
        "the engine's check ran, and the log is live: {log}"
    );
    assert!(
        !log.contains(&format!("CREATE ROLE {}", ident(&shape.clone))),
        "the refusal came before CREATE ROLE: {log}"
    );
    current_is(&shape.sm, &shape.arn, shape.db.port, &shape.user).await;
    token
}

/// Before the rotation, the shipped binary's preflight check says the admin lacks a right and
/// names each of `fixes`, and creates nothing.
async fn preflight_names_the_fixes(shape: &Shape, fixes: &[&str]) {
    shape.sm.configure_rotation(&shape.arn).await;
    let f = Function::spawn(
        &function_binary("postgres-alternating-users"),
        &shape.sm.url,
        &[],
    );
    let event = json!({"SecretId": shape.arn, "Step": "preflight"});
    let outcome = tokio::task::block_in_place(|| {
        f.api
            .invoke(&event, std::time::Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("preflight: {e}"))
    });
    let Outcome::Ok(report) = outcome else {
        panic!("the preflight answers with a report: {outcome:?}");
    };
    assert_eq!(report["ok"], json!(false), "{report:#}");
    let rights = report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "rights"))
        .unwrap_or_else(|| panic!("a rights check: {report:#}"));
    assert_eq!(rights["ok"], json!(false), "{report:#}");
    assert_names(rights["message"].as_str().unwrap_or_default(), fixes);
    assert!(
        !role_exists(&shape.db, &shape.clone).await,
        "the preflight created nothing"
    );
}

/// After the operator ran the fixes: the refused rotation's retry completes from setSecret,
/// and the rotation back too, with both users' snapshots equal to the original's.
async fn completes_after_the_fix(shape: &Shape, token: &str, original: &Snapshot) {
    let r = rotator(&shape.sm, AlternatingUsers, &[]);
    for s in &STEPS[1..] {
        step(&r, &shape.arn, token, s)
            .await
            .unwrap_or_else(|e| panic!("{s} after the fix: {e}"));
    }
    shape.after(1, original).await;
    shape.rotation(2, original).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replication_login_is_refused_until_the_admin_may_give_replication_then_copied() {
    let user = unique("repl");
    let password = unique("Pw-");
    let (server, su) = own_server(&user, &password, &["ALTER ROLE {u} REPLICATION"]).await;
    let version = version_num(&server).await;
    // From 16 a CREATEROLE role may give REPLICATION if it has it; before, only a superuser.
    let fix = if version >= MEMBERSHIP_OPTIONS_VERSION {
        format!("ALTER ROLE {} REPLICATION", ident(&server.admin_user))
    } else {
        format!("ALTER ROLE {} SUPERUSER", ident(&server.admin_user))
    };
    let shape = Shape::stored(server, user, &password).await;
    let original = shape.snapshot_of(&shape.user).await;
    assert_eq!(original.login["rolreplication"], "true", "{original:#?}");
    let token = refused_before_anything_is_created(&shape, std::slice::from_ref(&fix)).await;
    exec(&su, &fix, "the operator").await;
    completes_after_the_fix(&shape, &token, &original).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn settings_the_admin_may_not_set_are_refused_until_it_may_then_copied() {
    let user = unique("suset");
    let password = unique("Pw-");
    // A superuser-only setting, and an application's own (a placeholder, which only a
    // superuser or a holder of SET on it may put on a role).
    let (server, su) = own_server(
        &user,
        &password,
        &[
            "ALTER ROLE {u} SET log_statement = 'ddl'",
            "ALTER ROLE {u} IN DATABASE appdb SET myapp.tenant = 'acme'",
            "ALTER ROLE {u} SET statement_timeout = '40s'",
        ],
    )
    .await;
    let admin_name = ident(&server.admin_user);
    let fixes = [
        format!("GRANT SET ON PARAMETER \"log_statement\" TO {admin_name}"),
        format!("GRANT SET ON PARAMETER \"myapp.tenant\" TO {admin_name}"),
    ];
    let shape = Shape::stored(server, user, &password).await;
    let original = shape.snapshot_of(&shape.user).await;
    assert_eq!(original.settings.len(), 3, "{original:#?}");
    let token = refused_before_anything_is_created(&shape, &fixes).await;
    for fix in &fixes {
        exec(&su, fix, "the operator").await;
    }
    completes_after_the_fix(&shape, &token, &original).await;
}
