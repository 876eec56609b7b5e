//! What an engine's failure becomes: the errorType of its cause, a message that names the step,
//! the secret and whose credentials failed, with what to do, and with every password the step
//! knows scrubbed from the engine's words.

use crate::engine::{ChangeFault, HOST, PORT};
use crate::support::*;
use rotation_core::EngineError;
use rotation_core::Strategy::{AlternatingUsers, SingleUser};
use test_support::secrets::step;

#[tokio::test]
async fn engine_errors_keep_their_error_type_and_say_what_to_do() {
    let endpoint = format!("{HOST}:{PORT}");
    let cases = [
        (
            EngineError::Tls { endpoint: endpoint.clone(), detail: "certificate expired".into() },
            "TlsError",
            format!("TLS with the database at {endpoint} failed: certificate expired; check the server's TLS setup and certificate: give the CA that signed the certificate in CA_BUNDLE (the templates' caBundlePath parameter, or `cargo xtask dist --ca-bundle`), or give the server a certificate from a CA the function trusts (the system roots, or Amazon RDS's); set \"ssl\": false in the secret only to accept a plaintext connection with this server"),
        ),
        (
            EngineError::Permission { user: "app".into(), detail: "no CONNECT".into() },
            "PermissionError",
            "user 'app' lacks a privilege: no CONNECT; grant the user the privilege named above, or use credentials that have it".into(),
        ),
        (
            EngineError::Refused("the user is locked".into()),
            "BadSecret",
            "the user is locked; change the secret as described above".into(),
        ),
        (
            EngineError::Database("out of memory".into()),
            "DatabaseError",
            "the database answered with an error: out of memory; see the database's message above".into(),
        ),
        (
            EngineError::Authentication { user: "app".into(), detail: "no such user".into() },
            "AuthenticationError",
            "the database rejected the login of user 'app': no such user; check that the user exists and that the secret's password is the user's current password".into(),
        ),
    ];
    for (error, kind, says) in cases {
        // Alternating users: the current user at setSecret, the new one at testSecret.
        let c = case(AlternatingUsers).await;
        let r = c.rotator(AlternatingUsers);
        let token = c.created(&r).await;
        c.db.fail_logins_of("app", error.clone());
        assert_eq!(
            refused(step(&r, &c.arn, &token, "setSecret").await, kind, kind),
            format!(
                "setSecret for secret {}: with the AWSCURRENT credentials, {says}",
                c.arn
            )
        );
        assert_eq!(c.db.changes(), [], "{kind}: no change");

        let c = case(AlternatingUsers).await;
        let r = c.rotator(AlternatingUsers);
        let token = c.sm.start_rotation(&c.arn).await;
        for s in ["createSecret", "setSecret"] {
            step(&r, &c.arn, &token, s).await.expect(s);
        }
        c.db.fail_logins_of("app_clone", error.clone());
        assert_eq!(
            refused(step(&r, &c.arn, &token, "testSecret").await, kind, kind),
            format!(
                "testSecret for secret {}: with the AWSPENDING credentials, {says}",
                c.arn
            )
        );
    }
}

#[tokio::test]
async fn engine_messages_are_scrubbed_of_every_password() {
    // A change refused with the new password quoted.
    for strategy in [SingleUser, AlternatingUsers] {
        let c = case(strategy).await;
        let r = c.rotator(strategy);
        let token = c.created(&r).await;
        let pending = c.pending(&token).await.expect("pending");
        let new = pending["password"].as_str().expect("password");
        c.db.fail_next_change(ChangeFault::EchoingThePassword);
        let err = failure(step(&r, &c.arn, &token, "setSecret").await, "echo");
        assert_eq!(err.kind(), "DatabaseError", "{err}");
        let message = err.to_string();
        assert!(message.contains("= '*****'"), "{message}");
        assert_no_password(&message, &[new, FIRST_PASSWORD, ADMIN_PASSWORD]);
    }

    // A login refused with the current password quoted.
    let c = case(SingleUser).await;
    let r = c.rotator(SingleUser);
    let token = c.created(&r).await;
    c.db.fail_logins_of(
        "app",
        EngineError::Tls {
            endpoint: format!("{HOST}:{PORT}"),
            detail: format!("handshake failed after AUTH app {FIRST_PASSWORD}"),
        },
    );
    let err = failure(step(&r, &c.arn, &token, "setSecret").await, "echo");
    assert_eq!(err.kind(), "TlsError", "{err}");
    assert!(err.to_string().contains("AUTH app *****"), "{err}");
    assert_no_password(&err.to_string(), &[FIRST_PASSWORD]);
}
