//! The admin of `masterarn` is never the account a rotation changes: a user named
//! `<admin>_clone`, whose alternate is the admin itself, and a single-user secret for the
//! admin's own user are refused before anything changes, through the shipped binaries.

use crate::common::*;
use rotation_postgres::sql::{ident, literal};
use serde_json::json;
use test_support::function_binary;
use test_support::lambda::Function;
use test_support::secrets::Sm;
use test_support::unique;

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

#[tokio::test(flavor = "multi_thread")]
async fn rotations_that_would_change_the_admin_are_refused() {
    let db = db();
    let sm = Sm::from_env();
    let admin_user = unique("adm");
    let admin_pw = unique("Adm-pw-");
    let clone_pw = unique("Clone-pw-");
    let clone = format!("{admin_user}_clone");
    admin_exec(
        &db,
        &[format!(
            "CREATE ROLE {} LOGIN CREATEROLE PASSWORD {}",
            ident(&admin_user),
            literal(&admin_pw)
        )],
    )
    .await;
    create_role(&db, &clone, &clone_pw).await;
    let master = sm
        .create(
            "pg-adm-master-",
            &json!({"username": admin_user, "password": admin_pw}),
        )
        .await;

    for (function, user, pw) in [
        ("postgres-alternating-users", &clone, &clone_pw),
        ("postgres-single-user", &admin_user, &admin_pw),
    ] {
        let mut value = secret(db.port, user, pw);
        value["masterarn"] = json!(master);
        let arn = sm.create("pg-adm-", &value).await;
        let f = Function::spawn(&function_binary(function), &sm.url, &[]);
        let token = sm.start_rotation(&arn).await;
        let (kind, message) =
            blocking(|| f.invoke(&arn, &token, "createSecret")).expect_err("createSecret");
        assert_eq!(kind, "ConfusedDeputy", "{function}: {message}");
        assert!(message.contains("admin user"), "{function}: {message}");
        assert!(
            sm.value(&arn, "AWSPENDING", Some(&token)).await.is_none(),
            "{function}: nothing stored"
        );

        // A version stored by other means is refused at setSecret too.
        let mut pending = sm.value(&arn, "AWSCURRENT", None).await.expect("current");
        pending["username"] = json!(admin_user);
        pending["password"] = json!(unique("New-pw-"));
        sm.tamper_pending(&arn, &token, &pending).await;
        let (kind, message) =
            blocking(|| f.invoke(&arn, &token, "setSecret")).expect_err("setSecret");
        assert_eq!(kind, "ConfusedDeputy", "{function}: {message}");
        login(db.port, &admin_user, &admin_pw)
            .await
            .unwrap_or_else(|e| panic!("{function}: the admin still logs in: {e}"));
        login(db.port, &clone, &clone_pw)
            .await
            .unwrap_or_else(|e| panic!("{function}: the user still logs in: {e}"));
        assert!(!f.output().contains(&admin_pw), "{function}: no password");
    }
}
