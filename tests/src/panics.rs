//! A panic in a handler, in a binary built with the release profile.

use serde_json::json;
use std::path::PathBuf;
use test_support::lambda::{Function, Outcome};
use test_support::secrets::Sm;

#[tokio::test(flavor = "multi_thread")]
async fn a_panic_is_a_lambda_error_and_the_process_keeps_serving() {
    let probe = PathBuf::from(test_support::required_env("ROTATION_TEST_PANIC_PROBE"));
    let sm = Sm::from_env();
    let arn = sm
        .create(
            "probe-",
            &json!({"engine": "probe", "host": "127.0.0.1", "username": "u", "password": "probe-secret-pw"}),
        )
        .await;
    let token = sm.start_rotation(&arn).await;
    let mut f = Function::spawn(&probe, &sm.url, &[]);
    tokio::task::block_in_place(|| {
        f.invoke(&arn, &token, "createSecret")
            .expect_ok("createSecret");
        // setSecret logs in, and the probe's engine panics there.
        for _ in 0..2 {
            match f.invoke(&arn, &token, "setSecret") {
                Outcome::Err { error_message, .. } => {
                    assert!(error_message.contains("panicked"), "{error_message}")
                }
                Outcome::Ok(v) => panic!("expected a panic error, got {v}"),
            }
        }
        // Still serving.
        f.invoke(&arn, &token, "createSecret")
            .expect_ok("after the panic");
    });
    assert!(f.running(), "the process survived the panics");
    assert!(!f.output().contains("probe-secret-pw"));
}
