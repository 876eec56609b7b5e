//! The `RotationToken` of an event (cross-account rotation) is accepted by every step and
//! handed to `PutSecretValue` unchanged; without one, none is sent.

use crate::both_strategies;
use crate::recorder::Recorder;
use crate::support::*;
use rotation_core::{RotationEvent, Strategy};
use serde_json::json;

both_strategies!(rotation_token_is_accepted_and_passed_on);

async fn rotation_token_is_accepted_and_passed_on(strategy: Strategy) {
    let c = case(strategy).await;
    let recorder = Recorder::start(&c.sm);
    let r = rotator::<false, false>(&recorder.sm(), strategy, &[], &c.db);
    let token = c.sm.start_rotation(&c.arn).await;
    for s in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        // As Lambda delivers it.
        let event: RotationEvent = serde_json::from_value(json!({
            "SecretId": c.arn,
            "ClientRequestToken": token,
            "Step": s,
            "RotationToken": "cross-account-7f3a",
        }))
        .expect("event");
        r.handle(&event)
            .await
            .unwrap_or_else(|e| panic!("{s} with a RotationToken: {e}"));
    }
    c.assert_current_works(&token).await;
    let puts = recorder.requests("PutSecretValue");
    assert_eq!(puts.len(), 1, "{puts:?}");
    assert_eq!(puts[0]["RotationToken"], "cross-account-7f3a");
    assert_eq!(puts[0]["ClientRequestToken"], token.as_str());
    assert_eq!(puts[0]["SecretId"], c.arn.as_str());
    assert_eq!(puts[0]["VersionStages"], json!(["AWSPENDING"]));

    c.created(&r).await;
    let puts = recorder.requests("PutSecretValue");
    assert_eq!(puts.len(), 2, "{puts:?}");
    assert_eq!(puts[1].get("RotationToken"), None, "none without one");
}
