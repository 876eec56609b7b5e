//! The `engine` values the MySQL functions accept: `mysql`, `aurora-mysql` and `mariadb`
//! rotate (with the port as a string, as some consoles store it); another engine's secret is
//! refused before anything is stored (`fails_at` checks that), and the error lists the accepted names.

use crate::common::*;
use rotation_core::Strategy::SingleUser;
use serde_json::json;
use test_support::conformance::case::fails_at;
use test_support::secrets::{Sm, rotate};

#[tokio::test]
async fn every_mysql_engine_name_rotates_and_others_are_refused() {
    let db = db();
    let sm = Sm::from_env();
    let r = rotator(&sm, SingleUser, &[]);
    for engine in rotation_mysql::facts::ENGINES {
        let (user, pw) = new_user(&db, "eng", &[]).await;
        let mut value = secret(db.port, &user, &pw);
        value["engine"] = json!(engine);
        value["port"] = json!(db.port.to_string());
        let arn = sm.create("mysql-engine-", &value).await;
        let token = sm.start_rotation(&arn).await;
        rotate(&r, &arn, &token)
            .await
            .unwrap_or_else(|e| panic!("{engine}: {e}"));
        login(db.port, &user, &password_at(&sm, &arn, "AWSCURRENT").await)
            .await
            .unwrap_or_else(|e| panic!("{engine}: {e}"));
    }

    let mut value = secret(db.port, "app", "Some-pw-1");
    value["engine"] = json!("postgres");
    let arn = sm.create("mysql-engine-", &value).await;
    let (_, err) = fails_at(&r, &sm, &arn, "createSecret").await;
    let msg = err.to_string();
    assert_eq!(err.kind(), "BadSecret", "{msg}");
    assert!(
        msg.contains("engine is 'postgres'") && msg.contains("mysql, aurora-mysql, mariadb"),
        "{msg}"
    );
}
