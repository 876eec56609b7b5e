//! Alternating users: the clone is created once as a member of the original that acts as it,
//! and each rotation resets the user that is not current.

use crate::common::*;
use rotation_core::Strategy::AlternatingUsers;
use rotation_postgres::sql::{ident, literal};
use serde_json::json;
use test_support::postgres::DATABASE;
use test_support::secrets::{Sm, rotate, step};
use test_support::unique;

#[tokio::test]
async fn full_rotation_creates_the_clone_and_both_users_work() {
    let f = fixture(AlternatingUsers, "alt").await;
    let clone = format!("{}_clone", f.user);
    let r = rotator(&f.sm, AlternatingUsers, &[]);
    let token = f.sm.start_rotation(&f.arn).await;
    rotate(&r, &f.arn, &token).await.expect("rotation");

    assert_eq!(username_at(&f.sm, &f.arn, "AWSCURRENT").await, clone);
    let new = password_at(&f.sm, &f.arn, "AWSCURRENT").await;
    login(f.db.port, &clone, &new)
        .await
        .expect("the clone logs in");
    login(f.db.port, &f.user, &f.password)
        .await
        .expect("the original still logs in");
    assert!(
        is_member(&f.db, &clone, &f.user).await,
        "the clone is a member of the original"
    );
    let c = connect(f.db.port, &clone, &new, "postgres")
        .await
        .expect("clone session");
    let row = c
        .query_one("SELECT current_user::text, session_user::text", &[])
        .await
        .expect("who");
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, String>(1)),
        (f.user.clone(), clone.clone()),
        "the clone's sessions act as the original"
    );
    let value = f.sm.value(&f.arn, "AWSCURRENT", None).await.expect("value");
    assert_eq!(value["note"], json!({"kept": ["as", "is"]}));
    assert!(value["masterarn"].is_string());
}

#[tokio::test]
async fn rotations_alternate_and_only_passwords_change_later() {
    let f = fixture(AlternatingUsers, "alt3").await;
    let clone = format!("{}_clone", f.user);
    let r = rotator(&f.sm, AlternatingUsers, &[]);
    let mut expected = [clone.as_str(), f.user.as_str(), clone.as_str()].into_iter();
    for n in 0..3 {
        let token = f.sm.start_rotation(&f.arn).await;
        rotate(&r, &f.arn, &token)
            .await
            .unwrap_or_else(|e| panic!("rotation {n}: {e}"));
        let user = username_at(&f.sm, &f.arn, "AWSCURRENT").await;
        assert_eq!(Some(user.as_str()), expected.next());
        login(
            f.db.port,
            &user,
            &password_at(&f.sm, &f.arn, "AWSCURRENT").await,
        )
        .await
        .expect("AWSCURRENT logs in");
        let prev_user = username_at(&f.sm, &f.arn, "AWSPREVIOUS").await;
        login(
            f.db.port,
            &prev_user,
            &password_at(&f.sm, &f.arn, "AWSPREVIOUS").await,
        )
        .await
        .expect("AWSPREVIOUS still logs in");
    }
    assert!(
        login(f.db.port, &f.user, &f.password).await.is_err(),
        "the first password was reset"
    );
}

#[tokio::test]
async fn every_step_twice() {
    crate::common::every_step_twice(AlternatingUsers).await;
}

#[tokio::test]
async fn tampered_pending_is_refused_and_nothing_changes() {
    tampered_pending(AlternatingUsers).await;
}

#[tokio::test]
async fn gate_errors_keep_the_templates_texts() {
    gate_errors(AlternatingUsers).await;
}

#[tokio::test]
async fn database_down_is_a_network_error() {
    database_down(AlternatingUsers).await;
}

#[tokio::test]
async fn wrong_engine_and_bad_secrets_are_refused() {
    bad_secrets(AlternatingUsers).await;
}

#[tokio::test]
async fn exclude_characters_are_honoured() {
    exclude_characters(AlternatingUsers).await;
}

#[tokio::test]
async fn objects_are_shared_between_the_original_and_the_clone() {
    let f = fixture(AlternatingUsers, "own").await;
    let clone = format!("{}_clone", f.user);
    // The original may create tables in the admin's database; the clone gets nothing of its own.
    admin_exec(
        &f.db,
        &[format!(
            "GRANT CREATE, USAGE ON SCHEMA public TO {}",
            ident(&f.user)
        )],
    )
    .await;
    let mut value = secret(f.db.port, &f.user, &f.password);
    value["dbname"] = json!(DATABASE);
    value["masterarn"] = json!(master_secret(&f.sm, &f.db).await);
    let arn = f.sm.create("pg-own-", &value).await;
    let r = rotator(&f.sm, AlternatingUsers, &[]);
    let token = f.sm.start_rotation(&arn).await;
    rotate(&r, &arn, &token).await.expect("rotation");
    let clone_pw = password_at(&f.sm, &arn, "AWSCURRENT").await;

    let t_clone = ident(&format!("{}_by_clone", f.user));
    let t_orig = ident(&format!("{}_by_original", f.user));
    let as_clone = connect(f.db.port, &clone, &clone_pw, DATABASE)
        .await
        .expect("clone");
    let as_orig = connect(f.db.port, &f.user, &f.password, DATABASE)
        .await
        .expect("original");
    as_clone
        .batch_execute(&format!("CREATE TABLE {t_clone} (id int PRIMARY KEY, v text); INSERT INTO {t_clone} VALUES (1, 'clone')"))
        .await
        .expect("the clone creates a table");
    as_orig
        .batch_execute(&format!("CREATE TABLE {t_orig} (id int PRIMARY KEY, v text); INSERT INTO {t_orig} VALUES (1, 'original')"))
        .await
        .expect("the original creates a table");

    // Each reads, writes and alters the other's table.
    as_orig
        .batch_execute(&format!(
            "INSERT INTO {t_clone} VALUES (2, 'original'); UPDATE {t_clone} SET v = 'x' WHERE id = 1; ALTER TABLE {t_clone} ADD COLUMN extra int"
        ))
        .await
        .expect("the original writes and alters the clone's table");
    as_clone
        .batch_execute(&format!(
            "INSERT INTO {t_orig} VALUES (2, 'clone'); UPDATE {t_orig} SET v = 'y' WHERE id = 1; ALTER TABLE {t_orig} ADD COLUMN extra int"
        ))
        .await
        .expect("the clone writes and alters the original's table");
    for (client, table) in [
        (&as_orig, &t_clone),
        (&as_clone, &t_orig),
        (&as_orig, &t_orig),
        (&as_clone, &t_clone),
    ] {
        let n: i64 = client
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .expect("read")
            .get(0);
        assert_eq!(n, 2, "{table}");
    }
    let owners = as_orig
        .query(
            "SELECT tableowner::text FROM pg_tables WHERE tablename IN ($1, $2)",
            &[
                &format!("{}_by_clone", f.user),
                &format!("{}_by_original", f.user),
            ],
        )
        .await
        .expect("owners");
    assert_eq!(owners.len(), 2);
    for row in owners {
        assert_eq!(
            row.get::<_, String>(0),
            f.user,
            "every table belongs to the original role"
        );
    }

    // After the next rotation (the original becomes current) nothing changes for the objects.
    let token = f.sm.start_rotation(&arn).await;
    rotate(&r, &arn, &token).await.expect("second rotation");
    let orig_pw = password_at(&f.sm, &arn, "AWSCURRENT").await;
    let as_orig = connect(f.db.port, &f.user, &orig_pw, DATABASE)
        .await
        .expect("original, new password");
    as_orig
        .batch_execute(&format!("DROP TABLE {t_clone}"))
        .await
        .expect("the original drops what the clone created");
    let as_clone = connect(f.db.port, &clone, &clone_pw, DATABASE)
        .await
        .expect("clone still logs in");
    as_clone
        .batch_execute(&format!("DROP TABLE {t_orig}"))
        .await
        .expect("the clone drops what the original created");
}

#[tokio::test]
async fn login_attributes_and_settings_are_copied() {
    let f = fixture(AlternatingUsers, "attr").await;
    let clone = format!("{}_clone", f.user);
    let u = ident(&f.user);
    admin_exec(
        &f.db,
        &[
            format!("ALTER ROLE {u} CONNECTION LIMIT 7 VALID UNTIL '2100-01-02 03:04:05+00'"),
            format!("ALTER ROLE {u} SET search_path = \"$user\", 'Odd Schema', public"),
            format!("ALTER ROLE {u} SET statement_timeout = '42s'"),
            format!("ALTER ROLE {u} IN DATABASE {DATABASE} SET work_mem = '8MB'"),
        ],
    )
    .await;
    let r = rotator(&f.sm, AlternatingUsers, &[]);
    let token = f.sm.start_rotation(&f.arn).await;
    rotate(&r, &f.arn, &token).await.expect("rotation");

    let c = admin(&f.db).await;
    let attrs = |name: String| {
        let c = &c;
        async move {
            let row = c
                .query_one(
                    "SELECT rolconnlimit, rolvaliduntil::text, rolcanlogin FROM pg_roles WHERE rolname = $1",
                    &[&name],
                )
                .await
                .expect("attributes");
            (
                row.get::<_, i32>(0),
                row.get::<_, Option<String>>(1),
                row.get::<_, bool>(2),
            )
        }
    };
    assert_eq!(attrs(clone.clone()).await, attrs(f.user.clone()).await);
    assert_eq!(attrs(clone.clone()).await.0, 7);
    let settings = |name: String| {
        let c = &c;
        async move {
            let rows = c
                .query(
                    "SELECT coalesce(d.datname::text, '*'), unnest(s.setconfig) FROM pg_db_role_setting s \
                     JOIN pg_roles r ON r.oid = s.setrole LEFT JOIN pg_database d ON d.oid = s.setdatabase \
                     WHERE r.rolname = $1 ORDER BY 1, 2",
                    &[&name],
                )
                .await
                .expect("settings");
            rows.iter()
                .map(|r| format!("{}:{}", r.get::<_, String>(0), r.get::<_, String>(1)))
                .collect::<Vec<_>>()
        }
    };
    let mut expected = settings(f.user.clone()).await;
    expected.push(format!("*:role={}", f.user));
    expected.sort();
    assert_eq!(settings(clone.clone()).await, expected);
    assert_eq!(expected.len(), 4, "{expected:?}");

    // The clone's sessions see the settings: the list survived as a list.
    let pw = password_at(&f.sm, &f.arn, "AWSCURRENT").await;
    let s = connect(f.db.port, &clone, &pw, DATABASE)
        .await
        .expect("clone");
    let row = s
        .query_one("SELECT current_setting('search_path'), current_setting('work_mem'), current_setting('statement_timeout')", &[])
        .await
        .expect("settings");
    assert_eq!(row.get::<_, String>(0), "\"$user\", \"Odd Schema\", public");
    assert_eq!(row.get::<_, String>(1), "8MB");
    assert_eq!(row.get::<_, String>(2), "42s");
}

#[tokio::test]
async fn an_existing_clone_only_gets_a_new_password() {
    let f = fixture(AlternatingUsers, "pre").await;
    let clone = format!("{}_clone", f.user);
    create_role(&f.db, &clone, "Made-by-hand-1").await;
    admin_exec(
        &f.db,
        &[format!("ALTER ROLE {} CONNECTION LIMIT 3", ident(&clone))],
    )
    .await;
    let r = rotator(&f.sm, AlternatingUsers, &[]);
    let token = f.sm.start_rotation(&f.arn).await;
    rotate(&r, &f.arn, &token).await.expect("rotation");
    login(
        f.db.port,
        &clone,
        &password_at(&f.sm, &f.arn, "AWSCURRENT").await,
    )
    .await
    .expect("new password");
    assert!(login(f.db.port, &clone, "Made-by-hand-1").await.is_err());
    let c = admin(&f.db).await;
    let limit: i32 = c
        .query_one(
            "SELECT rolconnlimit FROM pg_roles WHERE rolname = $1",
            &[&clone],
        )
        .await
        .expect("limit")
        .get(0);
    assert_eq!(limit, 3, "nothing but the password changed");
    assert!(
        !is_member(&f.db, &clone, &f.user).await,
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
    let mut value = secret(db.port, &clone, "Orphan-pw-1");
    value["masterarn"] = json!(master_secret(&sm, &db).await);
    let arn = sm.create("pg-orphan-", &value).await;
    let r = rotator(&sm, AlternatingUsers, &[]);
    let token = sm.start_rotation(&arn).await;
    step(&r, &arn, &token, "createSecret")
        .await
        .expect("create");
    assert_eq!(
        sm.value(&arn, "AWSPENDING", Some(&token))
            .await
            .expect("pending")["username"],
        base.as_str()
    );
    let err = step(&r, &arn, &token, "setSecret")
        .await
        .expect_err("no original");
    assert_eq!(err.kind(), "BadSecret", "{err}");
    assert!(
        err.to_string()
            .contains(&format!("the original user '{base}' does not exist")),
        "{err}"
    );
    assert!(
        !role_exists(&db, &base).await,
        "the original is not created"
    );
}

#[tokio::test]
async fn name_limit_is_counted_in_bytes() {
    let db = db();
    let sm = Sm::from_env();
    let r = rotator(&sm, AlternatingUsers, &[]);
    let master = master_secret(&sm, &db).await;
    let pad = |prefix: &str, bytes: usize| {
        let mut name = unique(prefix);
        while name.len() < bytes {
            name.push('a');
        }
        name
    };
    let fits = pad("n57", 57);
    let too_long = pad("n58", 58);
    let multi = format!("{}{}", unique("mb"), "ü".repeat(25));
    assert!(
        multi.len() > 57 && multi.len() <= 63 && multi.chars().count() <= 57,
        "{multi}"
    );

    for (name, ok) in [(fits, true), (too_long, false), (multi, false)] {
        create_role(&db, &name, "Limit-pw-1").await;
        let mut value = secret(db.port, &name, "Limit-pw-1");
        value["masterarn"] = json!(master);
        let arn = sm.create("pg-limit-", &value).await;
        let token = sm.start_rotation(&arn).await;
        let clone = format!("{name}_clone");
        if ok {
            rotate(&r, &arn, &token).await.expect("57 bytes fit");
            assert_eq!(clone.len(), 63);
            login(db.port, &clone, &password_at(&sm, &arn, "AWSCURRENT").await)
                .await
                .expect("the 63-byte clone logs in");
        } else {
            let err = step(&r, &arn, &token, "createSecret")
                .await
                .expect_err("over the limit");
            assert_eq!(err.kind(), "BadSecret", "{err}");
            let msg = err.to_string();
            assert!(
                msg.contains(&format!("has {} bytes", name.len()))
                    && msg.contains("limit of 63 bytes"),
                "{msg}"
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
}

#[tokio::test]
async fn admin_without_createrole_is_a_permission_error() {
    let f = fixture(AlternatingUsers, "perm").await;
    let weak = unique("weak");
    create_role(&f.db, &weak, "Weak-pw-1").await;
    let master =
        f.sm.create(
            "pg-weak-",
            &json!({"username": weak, "password": "Weak-pw-1"}),
        )
        .await;
    let mut value = secret(f.db.port, &f.user, &f.password);
    value["masterarn"] = json!(master);
    let arn = f.sm.create("pg-perm-", &value).await;
    let r = rotator(&f.sm, AlternatingUsers, &[]);
    let token = f.sm.start_rotation(&arn).await;
    step(&r, &arn, &token, "createSecret")
        .await
        .expect("create");
    let err = step(&r, &arn, &token, "setSecret")
        .await
        .expect_err("no CREATEROLE");
    assert_eq!(err.kind(), "PermissionError", "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("admin (masterarn)")
            && msg.contains(&format!("ALTER ROLE {} CREATEROLE", ident(&weak))),
        "{msg}"
    );
    // From 16 the admin also needs the ADMIN option on the user, and one message says both.
    let grant = format!(
        "GRANT {} TO {} WITH ADMIN OPTION",
        ident(&f.user),
        ident(&weak)
    );
    let version = version_num(&f.db).await;
    assert_eq!(
        msg.contains(&grant),
        version >= rotation_postgres::sql::ADMIN_OPTION_VERSION,
        "{version}: {msg}"
    );
    assert!(
        !msg.contains("Weak-pw-1") && !msg.contains("SCRAM-SHA-256$"),
        "{msg}"
    );
    assert!(!role_exists(&f.db, &format!("{}_clone", f.user)).await);
}

#[tokio::test]
async fn hostile_names_and_passwords_rotate_without_injection() {
    let db = db();
    let sm = Sm::from_env();
    let canary = unique("canary");
    create_role(&db, &canary, "Canary-pw-1").await;
    let names = [
        format!("{}o'ne\"two\\x", unique("h")),
        format!("{}x\"; DROP ROLE {canary}; --", unique("h")),
        format!("{}'; DROP ROLE {canary}; --", unique("h")),
    ];
    let password = "it's a \"quoted\" \\ pass\\\\word'; DROP ROLE admin; --";
    let master = master_secret(&sm, &db).await;
    let r = rotator(&sm, AlternatingUsers, &[]);
    for user in names {
        create_role(&db, &user, password).await;
        admin_exec(
            &db,
            &[format!(
                "ALTER ROLE {} SET search_path = {}",
                ident(&user),
                literal("we'ird\\")
            )],
        )
        .await;
        let mut value = secret(db.port, &user, password);
        value["masterarn"] = json!(master);
        let arn = sm.create("pg-hostile-", &value).await;
        for _ in 0..2 {
            let token = sm.start_rotation(&arn).await;
            rotate(&r, &arn, &token)
                .await
                .unwrap_or_else(|e| panic!("{user}: {e}"));
            let current = username_at(&sm, &arn, "AWSCURRENT").await;
            login(
                db.port,
                &current,
                &password_at(&sm, &arn, "AWSCURRENT").await,
            )
            .await
            .unwrap_or_else(|e| panic!("{current}: {e}"));
        }
        let clone = format!("{user}_clone");
        assert!(is_member(&db, &clone, &user).await, "{clone}");
    }
    assert!(role_exists(&db, &canary).await, "no statement was injected");
    assert!(role_exists(&db, &db.admin_user).await);
}
