//! Alternating users, what is PostgreSQL's own: the clone shares the original's objects, gets
//! its login attributes and per-role settings, and is made only when missing (an existing one
//! gets a new password and nothing else); the original is never made; and the clone's name
//! must fit in 63 bytes.

use crate::common::*;
use rotation_core::Strategy::AlternatingUsers;
use rotation_postgres::sql::{ident, literal};
use serde_json::json;
use test_support::postgres::DATABASE;
use test_support::secrets::Sm;
use test_support::unique;
use tokio_postgres::Client;

/// A session of `user` in the admin's database.
async fn session(port: u16, user: &str, password: &str) -> Client {
    connect(port, user, password, DATABASE)
        .await
        .unwrap_or_else(|e| panic!("{user} logs in to {DATABASE}: {e}"))
}

/// Run `statements` in one batch as the session's user; `what` says who and why.
async fn run(c: &Client, statements: &str, what: &str) {
    c.batch_execute(statements)
        .await
        .unwrap_or_else(|e| panic!("{what}: {statements}: {e:?}"));
}

/// Create the table `name` with one row as the session's user.
async fn make_table(c: &Client, name: &str, who: &str) {
    let t = ident(name);
    let sql = format!(
        "CREATE TABLE {t} (id int PRIMARY KEY, v text); INSERT INTO {t} VALUES (1, {})",
        literal(who)
    );
    run(c, &sql, &format!("{who} creates {name}")).await;
}

/// Rows of `table` as the session's user sees them.
async fn rows(c: &Client, table: &str) -> i64 {
    c.query_one(&format!("SELECT count(*) FROM {}", ident(table)), &[])
        .await
        .unwrap_or_else(|e| panic!("{table}: {e:?}"))
        .get(0)
}

#[tokio::test]
async fn objects_are_shared_between_the_original_and_the_clone() {
    let f = fixture(AlternatingUsers, "own").await;
    // The original may create tables in the admin's database; the clone gets nothing of its own.
    allow_tables(&f.db, &f.user).await;
    let arn = store(
        &f.sm,
        "pg-own-",
        secret(f.db.port, &f.user, &f.password),
        &json!({"dbname": DATABASE, "masterarn": master_secret(&f.sm, &f.db).await}),
    )
    .await;
    let r = rotator(&f.sm, AlternatingUsers, &[]);
    let (_, clone_pw) = rotate_through(&r, &f.sm, &arn, f.db.port).await;

    let by_clone = format!("{}_by_clone", f.user);
    let by_orig = format!("{}_by_original", f.user);
    let as_clone = session(f.db.port, &f.clone, &clone_pw).await;
    let as_orig = session(f.db.port, &f.user, &f.password).await;
    make_table(&as_clone, &by_clone, "clone").await;
    make_table(&as_orig, &by_orig, "original").await;

    // Each reads, writes and alters the other's table.
    for (c, table, who) in [
        (&as_orig, &by_clone, "original"),
        (&as_clone, &by_orig, "clone"),
    ] {
        let t = ident(table);
        let sql = format!(
            "INSERT INTO {t} VALUES (2, '{who}'); UPDATE {t} SET v = 'x' WHERE id = 1; ALTER TABLE {t} ADD COLUMN extra int"
        );
        run(c, &sql, &format!("the {who} writes and alters {table}")).await;
    }
    for c in [&as_orig, &as_clone] {
        for table in [&by_clone, &by_orig] {
            assert_eq!(rows(c, table).await, 2, "{table}");
        }
    }
    let owners = as_orig
        .query(
            "SELECT tableowner::text FROM pg_tables WHERE tablename IN ($1, $2)",
            &[&by_clone, &by_orig],
        )
        .await
        .expect("owners");
    let owners: Vec<String> = owners.iter().map(|row| row.get(0)).collect();
    assert_eq!(
        owners,
        [f.user.clone(), f.user.clone()],
        "every table belongs to the original role"
    );

    // After the next rotation (the original becomes current) nothing changes for the objects.
    let (_, orig_pw) = rotate_through(&r, &f.sm, &arn, f.db.port).await;
    let as_orig = session(f.db.port, &f.user, &orig_pw).await;
    let as_clone = session(f.db.port, &f.clone, &clone_pw).await;
    let drop_table = |t: &str| format!("DROP TABLE {}", ident(t));
    run(
        &as_orig,
        &drop_table(&by_clone),
        "the original drops the clone's",
    )
    .await;
    run(
        &as_clone,
        &drop_table(&by_orig),
        "the clone drops the original's",
    )
    .await;
}

/// `rolconnlimit`, `rolvaliduntil` and `rolcanlogin` of `role`.
async fn attributes(c: &Client, role: &str) -> (i32, Option<String>, bool) {
    let row = c
        .query_one(
            "SELECT rolconnlimit, rolvaliduntil::text, rolcanlogin FROM pg_roles WHERE rolname = $1",
            &[&role],
        )
        .await
        .expect("attributes");
    (row.get(0), row.get(1), row.get(2))
}

/// The per-role settings of `role`, each as `database:name=value` (`*` for every database).
async fn settings(c: &Client, role: &str) -> Vec<String> {
    let rows = c
        .query(
            "SELECT coalesce(d.datname::text, '*') || ':' || unnest(s.setconfig) FROM pg_db_role_setting s \
             JOIN pg_roles r ON r.oid = s.setrole LEFT JOIN pg_database d ON d.oid = s.setdatabase \
             WHERE r.rolname = $1 ORDER BY 1",
            &[&role],
        )
        .await
        .expect("settings");
    rows.iter().map(|r| r.get(0)).collect()
}

#[tokio::test]
async fn login_attributes_and_settings_are_copied() {
    let f = fixture(AlternatingUsers, "attr").await;
    let u = ident(&f.user);
    // A quote and a trailing backslash in a list element, which the copy must keep whole.
    let odd = literal("we'ird\\");
    admin_exec(
        &f.db,
        &[
            format!("ALTER ROLE {u} CONNECTION LIMIT 7 VALID UNTIL '2100-01-02 03:04:05+00'"),
            format!("ALTER ROLE {u} SET search_path = \"$user\", 'Odd Schema', {odd}, public"),
            format!("ALTER ROLE {u} SET statement_timeout = '42s'"),
            format!("ALTER ROLE {u} IN DATABASE {DATABASE} SET work_mem = '8MB'"),
        ],
    )
    .await;
    let r = rotator(&f.sm, AlternatingUsers, &[]);
    let (_, pw) = rotate_through(&r, &f.sm, &f.arn, f.db.port).await;

    let c = admin(&f.db).await;
    let copied = attributes(&c, &f.clone).await;
    assert_eq!(copied, attributes(&c, &f.user).await);
    assert_eq!(copied.0, 7);
    let mut expected = settings(&c, &f.user).await;
    expected.push(format!("*:role={}", f.user));
    expected.sort();
    assert_eq!(settings(&c, &f.clone).await, expected);
    assert_eq!(expected.len(), 4, "{expected:?}");

    // The clone's sessions see the settings: the list survived as a list.
    let row = session(f.db.port, &f.clone, &pw)
        .await
        .query_one("SELECT current_setting('search_path'), current_setting('work_mem'), current_setting('statement_timeout')", &[])
        .await
        .expect("settings");
    let seen: (String, String, String) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(
        seen,
        (
            "\"$user\", \"Odd Schema\", \"we'ird\\\", public".to_owned(),
            "8MB".to_owned(),
            "42s".to_owned()
        )
    );
}

#[tokio::test]
async fn an_existing_clone_only_gets_a_new_password() {
    let f = fixture(AlternatingUsers, "pre").await;
    create_role(&f.db, &f.clone, "Made-by-hand-1").await;
    admin_exec(
        &f.db,
        &[format!("ALTER ROLE {} CONNECTION LIMIT 3", ident(&f.clone))],
    )
    .await;
    let r = rotator(&f.sm, AlternatingUsers, &[]);
    let (user, _) = rotate_through(&r, &f.sm, &f.arn, f.db.port).await;
    assert_eq!(user, f.clone);
    assert!(login(f.db.port, &f.clone, "Made-by-hand-1").await.is_err());
    let c = admin(&f.db).await;
    assert_eq!(
        attributes(&c, &f.clone).await.0,
        3,
        "nothing but the password changed"
    );
    assert!(
        !is_member(&f.db, &f.clone, &f.user).await,
        "no membership was added"
    );
}

#[tokio::test]
async fn the_original_is_never_created() {
    // The secret's current user is a clone whose original does not exist.
    let db = db();
    let sm = Sm::from_env();
    let base = unique("orphan");
    let clone = format!("{base}_clone");
    create_role(&db, &clone, "Orphan-pw-1").await;
    let arn = store(
        &sm,
        "pg-orphan-",
        secret(db.port, &clone, "Orphan-pw-1"),
        &admin_key(&sm, &db).await,
    )
    .await;
    let r = rotator(&sm, AlternatingUsers, &[]);
    let token = sm.start_rotation(&arn).await;
    let (failed, err) = refusal(&r, &arn, &token, "BadSecret").await;
    assert_eq!(failed, "setSecret", "{err}");
    assert_eq!(
        username_at(&sm, &arn, "AWSPENDING").await,
        base,
        "createSecret names the original"
    );
    assert_names(
        &err.to_string(),
        &[&format!("the original user '{base}' does not exist")],
    );
    assert!(
        !role_exists(&db, &base).await,
        "the original is not created"
    );
}

/// A name from `prefix`, padded with `a` to `bytes` bytes.
fn padded(prefix: &str, bytes: usize) -> String {
    let mut name = unique(prefix);
    while name.len() < bytes {
        name.push('a');
    }
    name
}

#[tokio::test]
async fn name_limit_is_counted_in_bytes() {
    let db = db();
    let sm = Sm::from_env();
    let r = rotator(&sm, AlternatingUsers, &[]);
    let master = admin_key(&sm, &db).await;
    let multi = format!("{}{}", unique("mb"), "ü".repeat(25));
    assert!(
        multi.len() > 57 && multi.len() <= 63 && multi.chars().count() <= 57,
        "{multi}"
    );

    for (name, fits) in [
        (padded("n57", 57), true),
        (padded("n58", 58), false),
        (multi, false),
    ] {
        create_role(&db, &name, "Limit-pw-1").await;
        let arn = store(
            &sm,
            "pg-limit-",
            secret(db.port, &name, "Limit-pw-1"),
            &master,
        )
        .await;
        let clone = format!("{name}_clone");
        if fits {
            let (user, _) = rotate_through(&r, &sm, &arn, db.port).await;
            assert_eq!((user.len(), user), (63, clone), "the 63-byte clone logs in");
            continue;
        }
        let token = sm.start_rotation(&arn).await;
        let (failed, err) = refusal(&r, &arn, &token, "BadSecret").await;
        assert_eq!(failed, "createSecret", "{err}");
        assert_names(
            &err.to_string(),
            &[&format!("has {} bytes", name.len()), "limit of 63 bytes"],
        );
        assert!(
            sm.value(&arn, "AWSPENDING", Some(&token)).await.is_none(),
            "nothing is stored"
        );
        // What PostgreSQL would have made of the name: its first 63 bytes.
        let mut cut = 63;
        while !clone.is_char_boundary(cut) {
            cut -= 1;
        }
        assert!(!role_exists(&db, &clone[..cut]).await, "nothing is created");
    }
}
