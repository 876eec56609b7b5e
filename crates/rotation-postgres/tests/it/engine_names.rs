//! The engine names a PostgreSQL secret may give: `aurora-postgresql` rotates for real, with
//! the port stored as a string, for both functions (`postgres` is what every other test uses);
//! a secret of another engine is refused with the names PostgreSQL accepts.

use crate::common::*;
use rotation_core::Strategy::{AlternatingUsers, SingleUser};
use serde_json::json;
use test_support::secrets::Sm;

#[tokio::test]
async fn aurora_postgresql_rotates_and_other_engines_are_refused() {
    let sm = Sm::from_env();
    let db = db();
    let master = master_secret(&sm, &db).await;
    for strategy in [SingleUser, AlternatingUsers] {
        let r = rotator(&sm, strategy, &[]);
        let mysql = json!({"engine": "mysql", "masterarn": master});
        let arn = store(&sm, "pg-mysql-", secret(db.port, "u", "p"), &mysql).await;
        let token = sm.start_rotation(&arn).await;
        let (_, err) = refusal(&r, &arn, &token, "BadSecret").await;
        assert_names(
            &err.to_string(),
            &["engine is 'mysql'", "postgres, aurora-postgresql"],
        );

        let aurora = json!({"engine": "aurora-postgresql", "port": db.port.to_string()});
        let role = new_role(&sm, &db, strategy, "aurora", &aurora).await;
        rotate_through(&r, &sm, &role.arn, db.port).await;
    }
}
