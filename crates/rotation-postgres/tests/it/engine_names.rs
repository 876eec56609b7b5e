//! The engine names a PostgreSQL secret may give: `aurora-postgresql` rotates for real, with
//! the port stored as a string, for both functions (`postgres` is what every other test uses);
//! a secret of another engine is refused with the names PostgreSQL accepts.

use crate::common::*;
use rotation_core::Strategy::{AlternatingUsers, SingleUser};
use serde_json::json;
use test_support::secrets::{Sm, rotate, step};
use test_support::unique;

#[tokio::test]
async fn aurora_postgresql_rotates_and_other_engines_are_refused() {
    let sm = Sm::from_env();
    let db = db();
    let master = master_secret(&sm, &db).await;
    for strategy in [SingleUser, AlternatingUsers] {
        let r = rotator(&sm, strategy, &[]);
        let mut value = secret(db.port, "u", "p");
        value["engine"] = json!("mysql");
        value["masterarn"] = json!(master);
        let arn = sm.create("pg-mysql-", &value).await;
        let token = sm.start_rotation(&arn).await;
        let err = step(&r, &arn, &token, "createSecret")
            .await
            .expect_err("a MySQL secret");
        assert_eq!(err.kind(), "BadSecret", "{strategy:?}: {err}");
        let msg = err.to_string();
        assert!(
            msg.contains("engine is 'mysql'") && msg.contains("postgres, aurora-postgresql"),
            "{strategy:?}: {msg}"
        );

        let user = unique("aurora");
        create_role(&db, &user, "Aurora-pw-1").await;
        let mut value = secret(db.port, &user, "Aurora-pw-1");
        value["engine"] = json!("aurora-postgresql");
        value["port"] = json!(db.port.to_string());
        value["masterarn"] = json!(master);
        let arn = sm.create("pg-aurora-", &value).await;
        let token = sm.start_rotation(&arn).await;
        rotate(&r, &arn, &token)
            .await
            .unwrap_or_else(|e| panic!("{strategy:?}: aurora-postgresql, string port: {e}"));
        let user = username_at(&sm, &arn, "AWSCURRENT").await;
        login(db.port, &user, &password_at(&sm, &arn, "AWSCURRENT").await)
            .await
            .unwrap_or_else(|e| panic!("{strategy:?}: new credentials: {e}"));
    }
}
