//! The handler gate: the texts and errorTypes of AWS's templates for an unknown token, a token
//! that is already AWSCURRENT (every step a no-op), a token that is not AWSPENDING, an invalid
//! step name, rotation turned off and a failed `DescribeSecret`; none of them stores anything
//! or calls the engine. Also a step run before createSecret stored its version.

use crate::both_strategies;
use crate::engine::SqlLike;
use crate::support::*;
use rotation_core::Strategy;
use rotation_core::protocol::Rotator;
use test_support::secrets::step;

const STEPS: [&str; 4] = ["createSecret", "setSecret", "testSecret", "finishSecret"];

/// Each of `steps` at `token` fails with an error of `kind` whose message is `says(step)`.
async fn each_refused(
    c: &Case,
    r: &Rotator<SqlLike>,
    token: &str,
    steps: &[&str],
    kind: &str,
    says: impl Fn(&str) -> String,
) {
    for s in steps {
        assert_eq!(
            refused(step(r, &c.arn, token, s).await, s, kind),
            says(s),
            "{s:?}"
        );
    }
}

both_strategies!(
    unknown_token,
    awscurrent_token_is_a_no_op_for_every_step,
    token_not_pending,
    invalid_step_name,
    rotation_not_enabled,
    describe_secret_fails,
    a_step_before_create_secret_says_to_run_it,
);

async fn unknown_token(strategy: Strategy) {
    let c = case(strategy).await;
    let r = c.rotator(strategy);
    let token = c.sm.start_rotation(&c.arn).await;
    each_refused(&c, &r, "no-such-token", &STEPS, "InvalidRequest", |_| {
        format!(
            "Secret version no-such-token has no stage for rotation of secret {}.",
            c.arn
        )
    })
    .await;
    c.assert_untouched(&token, "unknown token").await;
}

async fn awscurrent_token_is_a_no_op_for_every_step(strategy: Strategy) {
    let c = case(strategy).await;
    let r = c.rotator(strategy);
    let current = c.version("AWSCURRENT").await;
    let before = c.sm.raw_value(&c.arn, "AWSCURRENT").await;
    for s in STEPS {
        step(&r, &c.arn, &current, s)
            .await
            .unwrap_or_else(|e| panic!("AWSCURRENT token, {s}: {e}"));
    }
    assert_eq!(c.sm.stages(&c.arn).await.len(), 1, "no version was added");
    assert_eq!(c.sm.raw_value(&c.arn, "AWSCURRENT").await, before);
    assert_eq!(c.db.calls(), [], "the engine was not called");

    // The same after a rotation, for the version that became AWSCURRENT.
    let token = c.rotated(&r).await;
    c.db.clear_calls();
    let users = c.users();
    for s in STEPS {
        step(&r, &c.arn, &token, s)
            .await
            .unwrap_or_else(|e| panic!("rotated token, {s}: {e}"));
    }
    assert_eq!(c.db.calls(), [], "the engine was not called");
    assert_eq!(c.users(), users);
    c.assert_current_works(&token).await;
}

async fn token_not_pending(strategy: Strategy) {
    let c = case(strategy).await;
    let r = c.rotator(strategy);
    c.rotated(&r).await;
    let previous = c.version("AWSPREVIOUS").await;
    let next = c.sm.start_rotation(&c.arn).await;
    c.db.clear_calls();
    each_refused(&c, &r, &previous, &STEPS, "InvalidRequest", |_| {
        format!(
            "Secret version {previous} not set as AWSPENDING for rotation of secret {}.",
            c.arn
        )
    })
    .await;
    c.assert_untouched(&next, "not pending").await;
}

async fn invalid_step_name(strategy: Strategy) {
    let c = case(strategy).await;
    let r = c.rotator(strategy);
    let token = c.sm.start_rotation(&c.arn).await;
    each_refused(
        &c,
        &r,
        &token,
        &[
            "fooSecret",
            "createsecret",
            "CreateSecret",
            "",
            "createSecret ",
        ],
        "InvalidRequest",
        |name| format!("Invalid step parameter {name} for secret {}", c.arn),
    )
    .await;
    c.assert_untouched(&token, "invalid step").await;
}

async fn rotation_not_enabled(strategy: Strategy) {
    let c = case(strategy).await;
    let r = c.rotator(strategy);
    let token = c.sm.start_rotation(&c.arn).await;
    c.sm.disable_rotation(&c.arn).await;
    each_refused(&c, &r, &token, &STEPS, "RotationNotEnabled", |_| {
        format!("Secret {} is not enabled for rotation", c.arn)
    })
    .await;
    c.assert_untouched(&token, "rotation off").await;
}

async fn describe_secret_fails(strategy: Strategy) {
    let c = case(strategy).await;
    // A secret that does not exist.
    let r = c.rotator(strategy);
    let missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:no-such-secret-AbCdEf";
    for s in STEPS {
        let err = failure(step(&r, missing, "some-token", s).await, s);
        assert_eq!(err.kind(), "SecretsManagerError", "{s}: {err}");
        let message = err.to_string();
        assert!(
            message.starts_with(&format!(
                "handler for secret {missing}: Secrets Manager DescribeSecret failed: ResourceNotFoundException"
            )),
            "{s}: {message}"
        );
        assert!(
            message.ends_with(
                "Check the function's IAM permissions and network path to Secrets Manager"
            ),
            "{message}"
        );
    }

    // Secrets Manager cannot be reached at all.
    let dead = sm_at(&format!(
        "http://127.0.0.1:{}",
        test_support::net::free_port()
    ));
    let r = rotator::<false, false>(&dead, strategy, &[], &c.db);
    let token = c.sm.start_rotation(&c.arn).await;
    let err = failure(
        step(&r, &c.arn, &token, "createSecret").await,
        "no endpoint",
    );
    assert_eq!(err.kind(), "SecretsManagerError", "{err}");
    assert!(
        err.to_string().starts_with(&format!(
            "handler for secret {}: Secrets Manager DescribeSecret failed: ",
            c.arn
        )),
        "{err}"
    );
    c.assert_untouched(&token, "DescribeSecret failed").await;
}

async fn a_step_before_create_secret_says_to_run_it(strategy: Strategy) {
    let c = case(strategy).await;
    let r = c.rotator(strategy);
    let token = c.sm.start_rotation(&c.arn).await;
    each_refused(
        &c,
        &r,
        &token,
        &["setSecret", "testSecret"],
        "SecretsManagerError",
        |s| {
            format!(
                "{s} for secret {}: Secrets Manager GetSecretValue failed: version {token} has no value yet; run createSecret first (rotate the secret again). Check the function's IAM permissions and network path to Secrets Manager",
                c.arn
            )
        },
    )
    .await;
    c.assert_untouched(&token, "before createSecret").await;
}
