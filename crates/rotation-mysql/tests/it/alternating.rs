//! Alternating-users rotation: the clone gets the original's host part, grants (with
//! `WITH GRANT OPTION`) and password; both users keep working; a clone that is not an exact
//! copy stays locked.

use crate::common::*;
use rotation_core::Strategy::AlternatingUsers;
use serde_json::json;
use test_support::secrets::{Sm, each_step_twice, rotate, step};
use test_support::unique;

/// A user at host 127.0.0.1 (not `%`) with grants, one of them WITH GRANT OPTION, and its
/// secret with an RDS-style master secret (only username and password).
async fn setup(base: &str) -> (Sm, test_support::mariadb::MariaDb, String, String, String) {
    let db = db();
    let sm = Sm::from_env();
    let user = base.to_owned();
    let pw = unique("Pw-");
    create_user(
        &db,
        &user,
        "127.0.0.1",
        &pw,
        &["SELECT, INSERT ON appdb.*"],
        false,
    )
    .await;
    admin_exec(
        &db,
        &[format!(
            "GRANT UPDATE ON appdb.* TO {} WITH GRANT OPTION",
            rotation_mysql::sql::account(&user, "127.0.0.1", false)
        )],
    )
    .await;
    let master = sm
        .create(
            "rds!db-",
            &json!({"username": db.admin_user, "password": db.admin_password}),
        )
        .await;
    let mut value = secret(db.port, &user, &pw);
    value["masterarn"] = json!(master);
    let arn = sm.create("mysql-alt-", &value).await;
    (sm, db, user, pw, arn)
}

#[tokio::test]
async fn full_rotation_creates_an_equal_clone_and_both_users_work() {
    let (sm, db, user, pw, arn) = setup(&unique("alt")).await;
    let r = rotator(&sm, AlternatingUsers, &[]);
    let token = sm.start_rotation(&arn).await;
    rotate(&r, &arn, &token).await.expect("rotation");
    let clone = format!("{user}_clone");
    let current = sm.value(&arn, "AWSCURRENT", None).await.expect("current");
    assert_eq!(current["username"], clone.as_str());
    assert!(current["masterarn"].is_string(), "masterarn is kept");
    login(db.port, &clone, current["password"].as_str().expect("pw"))
        .await
        .expect("clone logs in");
    login(db.port, &user, &pw)
        .await
        .expect("the original keeps working");
    let original = grants_of(&db, &user, "127.0.0.1").await;
    assert_eq!(
        grants_of(&db, &clone, "127.0.0.1").await,
        original,
        "equal grants"
    );
    assert!(
        original.iter().any(|g| g.contains("WITH GRANT OPTION")),
        "{original:?}"
    );
}

#[tokio::test]
async fn two_rotations_alternate_between_the_users() {
    let (sm, db, user, _, arn) = setup(&unique("alt")).await;
    let r = rotator(&sm, AlternatingUsers, &[]);
    let mut seen = Vec::new();
    for _ in 0..3 {
        let token = sm.start_rotation(&arn).await;
        rotate(&r, &arn, &token).await.expect("rotation");
        let cur = sm.value(&arn, "AWSCURRENT", None).await.expect("current");
        let prev = sm.value(&arn, "AWSPREVIOUS", None).await.expect("previous");
        login(
            db.port,
            cur["username"].as_str().expect("u"),
            cur["password"].as_str().expect("p"),
        )
        .await
        .expect("current logs in");
        login(
            db.port,
            prev["username"].as_str().expect("u"),
            prev["password"].as_str().expect("p"),
        )
        .await
        .expect("previous still logs in");
        seen.push(cur["username"].as_str().expect("u").to_owned());
    }
    let clone = format!("{user}_clone");
    assert_eq!(seen, vec![clone.clone(), user.clone(), clone.clone()]);
    assert_eq!(
        grants_of(&db, &clone, "127.0.0.1").await,
        grants_of(&db, &user, "127.0.0.1").await
    );
}

#[tokio::test]
async fn every_step_twice() {
    let (sm, db, user, _, arn) = setup(&unique("alt")).await;
    let r = rotator(&sm, AlternatingUsers, &[]);
    let token = sm.start_rotation(&arn).await;
    each_step_twice(&r, &arn, &token).await;
    login(
        db.port,
        &format!("{user}_clone"),
        &password_at(&sm, &arn, "AWSCURRENT").await,
    )
    .await
    .expect("clone logs in");
}

#[tokio::test]
async fn a_crash_between_create_and_grants_is_repaired_by_the_retry() {
    let (sm, db, user, _, arn) = setup(&unique("alt")).await;
    let r = rotator(&sm, AlternatingUsers, &[]);
    let token = sm.start_rotation(&arn).await;
    step(&r, &arn, &token, "createSecret")
        .await
        .expect("create");
    // What an interrupted setSecret leaves: the clone exists, locked, without grants.
    let clone = format!("{user}_clone");
    let pending = sm
        .value(&arn, "AWSPENDING", Some(&token))
        .await
        .expect("pending");
    admin_exec(
        &db,
        &[format!(
            "CREATE USER {} IDENTIFIED BY {} ACCOUNT LOCK",
            rotation_mysql::sql::account(&clone, "127.0.0.1", false),
            rotation_mysql::sql::literal(pending["password"].as_str().expect("pw"), false)
        )],
    )
    .await;
    for s in ["setSecret", "testSecret", "finishSecret"] {
        step(&r, &arn, &token, s)
            .await
            .unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    assert_eq!(
        grants_of(&db, &clone, "127.0.0.1").await,
        grants_of(&db, &user, "127.0.0.1").await
    );
}

#[tokio::test]
async fn tampered_pending_is_refused_and_nothing_is_created() {
    let (sm, db, user, pw, arn) = setup(&unique("alt")).await;
    let r = rotator(&sm, AlternatingUsers, &[]);
    let cases = [
        ("same user instead of the clone", json!({"username": user})),
        ("another user", json!({"username": "admin"})),
        ("host", json!({"host": "localhost"})),
        ("port", json!({"port": db.port + 1})),
    ];
    for (what, change) in cases {
        let token = sm.start_rotation(&arn).await;
        step(&r, &arn, &token, "createSecret")
            .await
            .expect("create");
        sm.edit_pending(&arn, &token, &change).await;
        let err = step(&r, &arn, &token, "setSecret").await.expect_err(what);
        assert_eq!(err.kind(), "ConfusedDeputy", "{what}: {err}");
        assert!(
            !user_exists(&db, &format!("{user}_clone")).await,
            "{what}: no clone created"
        );
        login(db.port, &user, &pw)
            .await
            .expect("current still works");
        login(db.port, &db.admin_user, &db.admin_password)
            .await
            .expect("admin untouched");
        sm.clear_pending(&arn, &token).await;
    }
}

#[tokio::test]
async fn master_secret_must_exist_and_name_the_same_host() {
    let db = db();
    let sm = Sm::from_env();
    let user = unique("alt");
    let pw = unique("Pw-");
    create_user(&db, &user, "%", &pw, &[], false).await;
    let r = rotator(&sm, AlternatingUsers, &[]);

    let arn = sm
        .create("mysql-nomaster-", &secret(db.port, &user, &pw))
        .await;
    let token = sm.start_rotation(&arn).await;
    let err = step(&r, &arn, &token, "createSecret")
        .await
        .expect_err("no masterarn");
    assert!(err.to_string().contains("masterarn"), "{err}");
    assert!(sm.value(&arn, "AWSPENDING", Some(&token)).await.is_none());

    let master = sm
        .create(
            "master-",
            &json!({"username": db.admin_user, "password": db.admin_password, "host": "db.example.com"}),
        )
        .await;
    let mut value = secret(db.port, &user, &pw);
    value["masterarn"] = json!(master);
    let arn = sm.create("mysql-otherhost-", &value).await;
    let token = sm.start_rotation(&arn).await;
    // createSecret reads the admin secret (to check it is not the rotated user), so the
    // mismatch is found before anything is stored.
    let err = step(&r, &arn, &token, "createSecret")
        .await
        .expect_err("other host");
    assert_eq!(err.kind(), "BadSecret", "{err}");
    assert!(err.to_string().contains("same database"), "{err}");
    assert!(sm.value(&arn, "AWSPENDING", Some(&token)).await.is_none());
    assert!(!user_exists(&db, &format!("{user}_clone")).await);

    // A full master secret in the templates' format works too.
    let master = master_secret(&sm, &db).await;
    let mut value = secret(db.port, &user, &pw);
    value["masterarn"] = json!(master);
    let arn = sm.create("mysql-fullmaster-", &value).await;
    let token = sm.start_rotation(&arn).await;
    rotate(&r, &arn, &token).await.expect("rotation");
}

#[tokio::test]
async fn clone_name_limit_26_works_27_is_refused() {
    let db = db();
    let sm = Sm::from_env();
    let r = rotator(&sm, AlternatingUsers, &[("USERNAME_CHARACTER_LIMIT", "32")]);
    let master = master_secret(&sm, &db).await;
    let make = |n: usize| {
        let u = unique("l");
        format!("{u}{}", "x".repeat(n - u.len()))
    };

    let ok = make(26);
    create_user(&db, &ok, "%", "Pw-limit-1", &[], false).await;
    let mut value = secret(db.port, &ok, "Pw-limit-1");
    value["masterarn"] = json!(master);
    let arn = sm.create("mysql-26-", &value).await;
    let token = sm.start_rotation(&arn).await;
    rotate(&r, &arn, &token).await.expect("26 characters fit");

    let long = make(27);
    create_user(&db, &long, "%", "Pw-limit-1", &[], false).await;
    let mut value = secret(db.port, &long, "Pw-limit-1");
    value["masterarn"] = json!(master);
    let arn = sm.create("mysql-27-", &value).await;
    let token = sm.start_rotation(&arn).await;
    let err = step(&r, &arn, &token, "createSecret")
        .await
        .expect_err("27 characters");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("username '{long}' has 27 characters; with '_clone' it would have 33, over the USERNAME_CHARACTER_LIMIT of 32")),
        "{msg}"
    );
    assert_eq!(err.kind(), "BadSecret");
    assert!(
        sm.value(&arn, "AWSPENDING", Some(&token)).await.is_none(),
        "nothing stored"
    );
    assert!(
        !user_exists(&db, &format!("{long}_clone")).await,
        "nothing created"
    );

    // Without the override the limit comes from the server: MariaDB allows 80.
    let r = rotator(&sm, AlternatingUsers, &[]);
    let long = make(75);
    create_user(&db, &long, "%", "Pw-limit-1", &[], false).await;
    let mut value = secret(db.port, &long, "Pw-limit-1");
    value["masterarn"] = json!(master);
    let arn = sm.create("mysql-75-", &value).await;
    let token = sm.start_rotation(&arn).await;
    let err = step(&r, &arn, &token, "createSecret")
        .await
        .expect_err("75 characters");
    assert!(
        err.to_string().contains("over MariaDB's limit of 80"),
        "{err}"
    );
}

#[tokio::test]
async fn hostile_names_rotate_without_injection() {
    let db = db();
    let sm = Sm::from_env();
    admin_exec(
        &db,
        &["CREATE TABLE IF NOT EXISTS appdb.canary2 (id INT)".into()],
    )
    .await;
    let user = format!("{}q'`\"\\;DROP TABLE appdb.canary2;", unique("h"));
    let pw = "p'\"`\\; DROP USER admin; --".to_owned();
    create_user(&db, &user, "%", &pw, &["SELECT ON appdb.*"], true).await;
    let master = master_secret(&sm, &db).await;
    let mut value = secret(db.port, &user, &pw);
    value["masterarn"] = json!(master);
    let arn = sm.create("mysql-hostile-alt-", &value).await;
    let r = rotator(&sm, AlternatingUsers, &[]);
    for _ in 0..2 {
        let token = sm.start_rotation(&arn).await;
        rotate(&r, &arn, &token).await.expect("rotation");
    }
    let clone = format!("{user}_clone");
    assert_eq!(
        grants_of(&db, &clone, "%").await,
        grants_of(&db, &user, "%").await
    );
    let mut c = admin(&db).await;
    use mysql_async::prelude::Queryable;
    c.query_drop("SELECT * FROM appdb.canary2")
        .await
        .expect("canary survived");
}

#[tokio::test]
async fn database_down_at_create_is_a_network_error() {
    let sm = Sm::from_env();
    let port = test_support::net::free_port();
    let mut value = secret(port, "app", "Pw-1");
    // An admin secret that exists (createSecret reads it), RDS-style: credentials only.
    let master = sm
        .create(
            "master-",
            &json!({"username": "admin", "password": "Adm-pw-1"}),
        )
        .await;
    value["masterarn"] = json!(master);
    let arn = sm.create("mysql-alt-down-", &value).await;
    let r = rotator(&sm, AlternatingUsers, &[("CONNECT_TIMEOUT_SECONDS", "2")]);
    let token = sm.start_rotation(&arn).await;
    let err = step(&r, &arn, &token, "createSecret")
        .await
        .expect_err("down");
    assert_eq!(err.kind(), "NetworkError", "{err}");
    assert!(sm.value(&arn, "AWSPENDING", Some(&token)).await.is_none());
}

#[tokio::test]
async fn a_clone_that_differs_from_the_original_stays_locked_until_it_is_an_exact_copy() {
    let (sm, db, user, pw, arn) = setup(&unique("alt")).await;
    // A clone left from earlier with a privilege the original does not have.
    let clone = format!("{user}_clone");
    create_user(
        &db,
        &clone,
        "127.0.0.1",
        "Old-clone-pw-1",
        &["DELETE ON extradb.*"],
        false,
    )
    .await;
    let r = rotator(&sm, AlternatingUsers, &[]);
    let token = sm.start_rotation(&arn).await;
    step(&r, &arn, &token, "createSecret")
        .await
        .expect("create");
    let err = step(&r, &arn, &token, "setSecret")
        .await
        .expect_err("the clone has an extra grant");
    let msg = err.to_string();
    assert_eq!(err.kind(), "DatabaseError", "{msg}");
    assert!(
        msg.contains("extra on the copy: GRANT DELETE ON `extradb`.*"),
        "names the line: {msg}"
    );
    assert!(!msg.contains("missing on the copy"), "{msg}");
    assert!(
        msg.contains("ACCOUNT LOCK"),
        "says the clone stays locked: {msg}"
    );
    let pending = password_at_version(&sm, &arn, &token).await;
    let refused = login(db.port, &clone, &pending)
        .await
        .expect_err("a clone that differs must not log in");
    assert!(refused.contains("locked"), "{refused}");
    login(db.port, &user, &pw)
        .await
        .expect("the original keeps working");
    assert!(
        step(&r, &arn, &token, "testSecret").await.is_err(),
        "testSecret fails, so finishSecret is never reached"
    );

    // Once the difference is removed, the retry completes.
    admin_exec(
        &db,
        &[format!(
            "REVOKE DELETE ON extradb.* FROM {}",
            rotation_mysql::sql::account(&clone, "127.0.0.1", false)
        )],
    )
    .await;
    for s in ["setSecret", "testSecret", "finishSecret"] {
        step(&r, &arn, &token, s)
            .await
            .unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    login(db.port, &clone, &password_at(&sm, &arn, "AWSCURRENT").await)
        .await
        .expect("the clone logs in");
    assert_eq!(
        grants_of(&db, &clone, "127.0.0.1").await,
        grants_of(&db, &user, "127.0.0.1").await
    );
}

/// The password of the version `token`.
async fn password_at_version(sm: &Sm, arn: &str, token: &str) -> String {
    sm.value(arn, "AWSPENDING", Some(token))
        .await
        .expect("pending")["password"]
        .as_str()
        .expect("password")
        .to_owned()
}
