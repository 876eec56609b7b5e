//! A new version is the old one with a new password (and, for alternating users, the other
//! user name): every other key, its order and its value's text stay as stored, byte for byte,
//! numbers included that a float would change or refuse.

use crate::both_strategies;
use crate::engine::{Db, HOST, PORT};
use crate::support::*;
use rotation_core::Strategy::{self, AlternatingUsers};
use test_support::secrets::{Sm, rotate};

both_strategies!(unknown_keys_and_number_texts_round_trip_to_the_byte);

async fn unknown_keys_and_number_texts_round_trip_to_the_byte(strategy: Strategy) {
    let sm = Sm::from_env();
    let db = Db::new();
    db.set_user("app", FIRST_PASSWORD);
    db.set_user(ADMIN, ADMIN_PASSWORD);
    let masterarn = match strategy {
        AlternatingUsers => format!(
            r#","masterarn":"{}""#,
            master_secret(&sm, ADMIN, ADMIN_PASSWORD).await
        ),
        _ => String::new(),
    };
    // Keys out of order, numbers beyond f64 and u64, exponents, a trailing zero, a negative
    // zero, escapes in a string, null, and nesting.
    let template = format!(
        r#"{{"zeta":123456789012345678901234567890,"engine":"testdb","host":"{HOST}","e":1E2,"port":{PORT},"huge":1e400,"username":"USER","password":"PASSWORD","alpha":[1.50,{{"b":2,"a":1}}],"neg":-0.0,"s":"caf\u00e9 \"q\" \/","n":null,"t":true{masterarn}}}"#
    );
    let text = |user: &str, password: &str| {
        template
            .replace(r#""USER""#, &serde_json::Value::from(user).to_string())
            .replace(
                r#""PASSWORD""#,
                &serde_json::Value::from(password).to_string(),
            )
    };
    let arn = sm
        .create_raw("core-bytes-", &text("app", FIRST_PASSWORD))
        .await;
    let r = rotator::<false, false>(&sm, strategy, &[], &db);
    for (rotation, user) in [
        (1, expected_pending_user(strategy, "app")),
        (2, "app".into()),
    ] {
        let token = sm.start_rotation(&arn).await;
        rotate(&r, &arn, &token)
            .await
            .unwrap_or_else(|e| panic!("rotation {rotation}: {e}"));
        let current = sm.value(&arn, "AWSCURRENT", None).await.expect("current");
        let password = current["password"].as_str().expect("password");
        assert_eq!(
            sm.raw_value(&arn, "AWSCURRENT").await.as_deref(),
            Some(text(&user, password).as_str()),
            "rotation {rotation}"
        );
        assert_eq!(db.password_of(&user).as_deref(), Some(password));
    }
}
