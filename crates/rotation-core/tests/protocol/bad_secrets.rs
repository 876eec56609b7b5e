//! Secrets the function cannot use are refused at createSecret, before anything is stored and
//! before the engine is called, as `BadSecret` with a message that names the secret, says what
//! is wrong and what to do, and never contains the password. What the templates allow (a port
//! as a numeric string, no port, the other accepted engine name) rotates. A user name whose
//! alternate the engine cannot hold is refused by the engine's own check.

use crate::both_strategies;
use crate::engine::{Call, Db, HOST, NAME_LIMIT, PORT};
use crate::support::*;
use rotation_core::Strategy;
use serde_json::{Value, json};
use test_support::secrets::{Sm, rotate, step};

/// The password of the refused secrets: it must never appear in a message.
const PASSWORD: &str = "Sekrit-pw-4e1a";

both_strategies!(
    bad_secrets_are_refused_before_anything_is_stored,
    what_the_templates_allow_rotates
);

/// A secret text, and the message after "the AWSCURRENT version is unusable: ".
fn bad_secrets(master: &str) -> Vec<(String, String)> {
    let with = |changes: Value| {
        let mut v = json!({"engine": "testdb", "host": HOST, "port": PORT, "username": "app", "password": PASSWORD, "masterarn": master});
        for (k, x) in changes.as_object().expect("object") {
            if x.is_null() {
                v.as_object_mut().expect("object").remove(k);
            } else {
                v[k] = x.clone();
            }
        }
        v.to_string()
    };
    let not_json = "the secret value is not valid JSON (line 1 column 2); store a JSON object such as {\"engine\": …, \"host\": …, \"username\": …, \"password\": …}";
    let port = |found: &str| {
        format!(
            "the secret's 'port' key must be a port number from 1 to 65535 (a number or a numeric string), found {found}"
        )
    };
    vec![
        (format!("{{not json {PASSWORD}"), not_json.into()),
        (format!("\"{PASSWORD}\""), "the secret value must be a JSON object, found a string".into()),
        (format!("[\"{PASSWORD}\"]"), "the secret value must be a JSON object, found an array".into()),
        ("42".into(), "the secret value must be a JSON object, found a number".into()),
        (with(json!({"engine": null})), "the secret has no 'engine' key; add it".into()),
        (with(json!({"host": null})), "the secret has no 'host' key; add it".into()),
        (with(json!({"username": null})), "the secret has no 'username' key; add it".into()),
        (with(json!({"password": null})), "the secret has no 'password' key; add it".into()),
        (with(json!({"password": ""})), "the secret's 'password' key must not be empty".into()),
        (with(json!({"username": ""})), "the secret's 'username' key must not be empty".into()),
        (with(json!({"password": 987_654_321_987_u64})), "the secret's 'password' key must be a string, found a number".into()),
        (with(json!({"engine": "mysql"})), "the secret's engine is 'mysql', but this function rotates testdb, testdb-compatible; use the function for that engine or fix the 'engine' key".into()),
        (with(json!({"port": "abc"})), port("\"abc\"")),
        (with(json!({"port": 70000})), port("70000")),
        (with(json!({"port": 0})), port("0")),
        (with(json!({"port": -1})), port("-1")),
        (with(json!({"port": 5555.5})), port("5555.5")),
        (with(json!({"port": true})), port("a boolean")),
        (with(json!({"ssl": "maybe"})), "the secret's 'ssl' key must be true or false (a boolean or the strings \"true\"/\"false\")".into()),
        (with(json!({"host": "db test"})), "the secret's 'host' key must be a host name or address without spaces".into()),
        (with(json!({"host": "bücher.example"})), "the secret's 'host' key must be an ASCII host name or address; write an internationalized name in its punycode (xn--…) form".into()),
        (with(json!({"username": "a\nb"})), "the secret's 'username' key must not contain control characters (newline, tab, NUL…)".into()),
        (with(json!({"dbname": 7})), "the secret's 'dbname' key must be a string, found a number".into()),
        (
            format!(r#"{{"engine":"testdb","host":"evil.example.com","username":"app","password":"{PASSWORD}","host":"{HOST}"}}"#),
            "the secret has the key 'host' more than once; JSON parsers disagree on which value counts, so keep only one".into(),
        ),
        (
            format!(r#"{{"engine":"testdb","host":"{HOST}","username":"app","password":"{PASSWORD}","password":"Other-{PASSWORD}"}}"#),
            "the secret has the key 'password' more than once; JSON parsers disagree on which value counts, so keep only one".into(),
        ),
    ]
}

async fn bad_secrets_are_refused_before_anything_is_stored(strategy: Strategy) {
    let sm = Sm::from_env();
    let db = Db::new();
    let r = rotator::<false, false>(&sm, strategy, &[], &db);
    let master = master_secret(&sm, ADMIN, ADMIN_PASSWORD).await;
    for (text, says) in bad_secrets(&master) {
        let arn = sm.create_raw("core-bad-", &text).await;
        let token = sm.start_rotation(&arn).await;
        let err = failure(step(&r, &arn, &token, "createSecret").await, &says);
        assert_eq!(err.kind(), "BadSecret", "{says}: {err}");
        assert_eq!(
            err.to_string(),
            format!("createSecret for secret {arn}: the AWSCURRENT version is unusable: {says}")
        );
        assert_no_password(
            &err.to_string(),
            &[PASSWORD, ADMIN_PASSWORD, "987654321987"],
        );
        assert!(
            sm.value(&arn, "AWSPENDING", Some(&token)).await.is_none(),
            "{says}: nothing is stored"
        );
        assert_eq!(db.calls(), [], "{says}: the engine was not called");
    }
}

async fn what_the_templates_allow_rotates(strategy: Strategy) {
    for (what, changes) in [
        ("a port as a numeric string", json!({"port": "5555"})),
        ("a port with spaces around", json!({"port": " 5555 "})),
        ("no port (the engine's default)", json!({"port": null})),
        (
            "the other engine name",
            json!({"engine": "testdb-compatible"}),
        ),
        (
            "the engine name in other letters",
            json!({"engine": "TestDB"}),
        ),
        ("ssl as a string", json!({"ssl": "true"})),
        ("an empty dbname", json!({"dbname": ""})),
    ] {
        let c = case(strategy).await;
        let mut value = c.current().await;
        for (k, x) in changes.as_object().expect("object") {
            if x.is_null() {
                value.as_object_mut().expect("object").remove(k);
            } else {
                value[k] = x.clone();
            }
        }
        let arn = c.sm.create("core-allowed-", &value).await;
        let c = Case { arn, ..c };
        let token = c.sm.start_rotation(&c.arn).await;
        rotate(&c.rotator(strategy), &c.arn, &token)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        c.assert_current_works(&token).await;
        let current = c.current().await;
        for (k, x) in changes.as_object().expect("object") {
            assert_eq!(
                current.get(k),
                (!x.is_null()).then_some(x),
                "{what}: kept as it was"
            );
        }
    }
}

#[tokio::test]
async fn a_user_name_whose_alternate_is_too_long_is_refused() {
    let strategy = Strategy::AlternatingUsers;
    // The longest user whose `_clone` fits rotates; one more character does not.
    let fits = "u".repeat(NAME_LIMIT - "_clone".len());
    let c = case_with(&fits, true).await;
    let token = c.sm.start_rotation(&c.arn).await;
    rotate(&c.rotator(strategy), &c.arn, &token)
        .await
        .expect("the longest name that fits");
    c.assert_current_works(&token).await;

    let long = "u".repeat(NAME_LIMIT - "_clone".len() + 1);
    let alternate = format!("{long}_clone");
    let c = case_with(&long, true).await;
    let r = c.rotator(strategy);
    let token = c.sm.start_rotation(&c.arn).await;
    let says = format!(
        "with the AWSCURRENT credentials, the user name '{alternate}' has {} characters, but the test database holds at most {NAME_LIMIT}; shorten the secret's username; change the secret as described above",
        NAME_LIMIT + 1
    );
    let err = failure(step(&r, &c.arn, &token, "createSecret").await, "long");
    assert_eq!(err.kind(), "BadSecret", "{err}");
    assert_eq!(
        err.to_string(),
        format!("createSecret for secret {}: {says}", c.arn)
    );
    assert_no_password(&err.to_string(), &[FIRST_PASSWORD, ADMIN_PASSWORD]);
    assert!(c.pending(&token).await.is_none(), "nothing is stored");
    assert_eq!(
        c.db.calls(),
        [Call::CheckUsername {
            current: long.clone(),
            alternate: alternate.clone()
        }],
        "only the name was checked"
    );

    // A version stored by other means is checked again at setSecret, before any change.
    let mut pending = c.current().await;
    pending["username"] = json!(alternate);
    pending["password"] = json!("New-pw-0f3e");
    c.sm.tamper_pending(&c.arn, &token, &pending).await;
    c.db.clear_calls();
    let err = failure(step(&r, &c.arn, &token, "setSecret").await, "long at set");
    assert_eq!(err.kind(), "BadSecret", "{err}");
    assert_eq!(
        err.to_string(),
        format!("setSecret for secret {}: {says}", c.arn)
    );
    assert_eq!(c.db.changes(), [], "no change");
    assert!(c.db.password_of(&alternate).is_none());
}
