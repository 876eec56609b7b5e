//! The confused-deputy checks at setSecret and at testSecret: an AWSPENDING that names another
//! user, host, port, engine or database, adds a `masterarn`, turns `ssl` off, or changes, adds
//! or drops any other key is refused before the engine is called at all, with a message that
//! names the secret and the key and never a password. For alternating users the pending user
//! must be the alternate, not the current user.

use crate::both_strategies;
use crate::engine::HOST;
use crate::support::*;
use rotation_core::Strategy;
use serde_json::{Value, json};
use test_support::secrets::step;

both_strategies!(
    tampered_pending_is_refused_before_the_engine_is_called,
    unusable_pending_is_a_bad_secret
);

/// What to do to AWSPENDING, and what the refusal must say.
struct Tamper {
    what: &'static str,
    change: fn(&mut Value),
    says: String,
}

fn tampers(strategy: Strategy, user: &str) -> Vec<Tamper> {
    let mut cases = vec![
        Tamper {
            what: "another user",
            change: |v| v["username"] = json!("victim"),
            says: format!(
                "AWSPENDING names user 'victim', but this {} rotation of user '{user}' expects '{}'",
                strategy.as_str(),
                expected_pending_user(strategy, user)
            ),
        },
        Tamper {
            what: "another host",
            change: |v| v["host"] = json!("evil.example.com"),
            says: format!("AWSPENDING names host 'evil.example.com', AWSCURRENT '{HOST}'"),
        },
        Tamper {
            what: "the host in other letters",
            change: |v| v["host"] = json!(HOST.to_uppercase()),
            says: "AWSPENDING differs from AWSCURRENT in 'host'".into(),
        },
        Tamper {
            what: "another port",
            change: |v| v["port"] = json!(5556),
            says: "AWSPENDING names port 5556, AWSCURRENT 5555".into(),
        },
        Tamper {
            what: "the port as a string",
            change: |v| v["port"] = json!("5555"),
            says: "AWSPENDING differs from AWSCURRENT in 'port'".into(),
        },
        Tamper {
            what: "another engine",
            change: |v| v["engine"] = json!("testdb-compatible"),
            says: "AWSPENDING names engine 'testdb-compatible', AWSCURRENT 'testdb'".into(),
        },
        Tamper {
            what: "another dbname",
            change: |v| v["dbname"] = json!("other"),
            says: "AWSPENDING differs from AWSCURRENT in 'dbname'".into(),
        },
        Tamper {
            what: "ssl turned off",
            change: |v| v["ssl"] = json!(false),
            says: "AWSPENDING differs from AWSCURRENT in 'ssl'".into(),
        },
        Tamper {
            what: "an unknown key changed",
            change: |v| v["note"] = json!({"kept": ["changed"]}),
            says: "AWSPENDING differs from AWSCURRENT in 'note'".into(),
        },
        Tamper {
            what: "an unknown key added",
            change: |v| v["extra"] = json!(true),
            says: "AWSPENDING differs from AWSCURRENT in 'extra'".into(),
        },
        Tamper {
            what: "an unknown key dropped",
            change: |v| {
                v.as_object_mut().expect("object").remove("note");
            },
            says: "AWSPENDING differs from AWSCURRENT in 'note'".into(),
        },
        Tamper {
            what: "two keys changed",
            change: |v| {
                v["ssl"] = json!("false");
                v["dbname"] = json!("other");
            },
            says: "AWSPENDING differs from AWSCURRENT in 'ssl', 'dbname'".into(),
        },
    ];
    match strategy {
        Strategy::SingleUser => cases.push(Tamper {
            what: "a masterarn added",
            change: |v| {
                v["masterarn"] = json!("arn:aws:secretsmanager:us-east-1:123456789012:secret:x")
            },
            says: "AWSPENDING differs from AWSCURRENT in 'masterarn'".into(),
        }),
        Strategy::AlternatingUsers => {
            cases.push(Tamper {
                what: "the current user instead of the alternate",
                change: |v| v["username"] = json!("app"),
                says: "AWSPENDING names user 'app', but this alternating-users rotation of user 'app' expects 'app_clone'".into(),
            });
            cases.push(Tamper {
                what: "another masterarn",
                change: |v| {
                    v["masterarn"] = json!("arn:aws:secretsmanager:us-east-1:123456789012:secret:x")
                },
                says: "AWSPENDING differs from AWSCURRENT in 'masterarn'".into(),
            });
        }
    }
    cases
}

async fn tampered_pending_is_refused_before_the_engine_is_called(strategy: Strategy) {
    let c = case(strategy).await;
    c.db.set_user("victim", "Victim-pw-3a8b");
    let r = c.rotator(strategy);
    let users = c.users();
    for t in tampers(strategy, &c.user) {
        let token = c.created(&r).await;
        let mut pending = c.pending(&token).await.expect("pending");
        (t.change)(&mut pending);
        c.sm.tamper_pending(&c.arn, &token, &pending).await;
        let new_password = pending["password"].as_str().expect("password").to_owned();
        c.db.clear_calls();
        for s in ["setSecret", "testSecret"] {
            let err = failure(step(&r, &c.arn, &token, s).await, t.what);
            assert_eq!(err.kind(), "ConfusedDeputy", "{} at {s}: {err}", t.what);
            let message = err.to_string();
            assert!(
                message.starts_with(&format!(
                    "{s} for secret {}: AWSPENDING does not match AWSCURRENT: ",
                    c.arn
                )),
                "{} at {s}: {message}",
                t.what
            );
            assert!(message.contains(&t.says), "{} at {s}: {message}", t.what);
            assert!(
                message.contains("Nothing was changed") && message.contains("cancel the rotation"),
                "the message says what to do: {message}"
            );
            assert_no_password(&message, &[&new_password, &c.password, ADMIN_PASSWORD]);
        }
        assert_eq!(c.db.calls(), [], "{}: the engine was not called", t.what);
        assert_eq!(c.users(), users, "{}: no user changed", t.what);
        c.sm.clear_pending(&c.arn, &token).await;
    }
}

async fn unusable_pending_is_a_bad_secret(strategy: Strategy) {
    let c = case(strategy).await;
    let r = c.rotator(strategy);
    let token = c.created(&r).await;
    let mut pending = c.pending(&token).await.expect("pending");
    pending.as_object_mut().expect("object").remove("host");
    c.sm.tamper_pending(&c.arn, &token, &pending).await;
    c.db.clear_calls();
    for s in ["setSecret", "testSecret"] {
        assert_eq!(
            refused(step(&r, &c.arn, &token, s).await, s, "BadSecret"),
            format!(
                "{s} for secret {}: the AWSPENDING version is unusable: the secret has no 'host' key; add it",
                c.arn
            )
        );
    }
    assert_eq!(c.db.calls(), [], "the engine was not called");
}
