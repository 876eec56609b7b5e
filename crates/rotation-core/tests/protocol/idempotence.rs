//! Every step can run again and ends in the same state: each step twice in a row; setSecret
//! again after the engine's change went through (a no-op, unless the engine asks for the change
//! to be repeated: `REPEAT_SET_WHEN_PENDING_WORKS`, both ways); a rotation retried from the
//! start after it was interrupted after any step; a change the engine refused, retried.

use crate::both_strategies;
use crate::engine::{Call, ChangeFault};
use crate::support::*;
use rotation_core::Strategy::{self, AlternatingUsers, SingleUser};
use rotation_core::{EngineError, RotationError};
use test_support::secrets::{rotate, step};

const STEPS: [&str; 4] = ["createSecret", "setSecret", "testSecret", "finishSecret"];

both_strategies!(
    every_step_twice,
    repeat_set_when_pending_works_both_ways,
    a_rotation_interrupted_after_any_step_is_retried_from_the_start,
    a_refused_change_is_retried,
);

async fn every_step_twice(strategy: Strategy) {
    every_step_twice_with::<false>(strategy).await;
    every_step_twice_with::<true>(strategy).await;
}

async fn every_step_twice_with<const REPEAT: bool>(strategy: Strategy) {
    let c = case(strategy).await;
    let r = c.rotator_of::<false, REPEAT>(strategy, &[]);
    let token = c.sm.start_rotation(&c.arn).await;
    for s in STEPS {
        let mut pending = Vec::new();
        for attempt in 1..=2 {
            c.db.clear_calls();
            step(&r, &c.arn, &token, s)
                .await
                .unwrap_or_else(|e| panic!("{s}, attempt {attempt}, repeat {REPEAT}: {e}"));
            pending.push(c.sm.raw_value(&c.arn, "AWSPENDING").await);
        }
        assert_eq!(
            pending[0], pending[1],
            "{s}: the second run leaves AWSPENDING as the first did"
        );
        if s == "setSecret" {
            // The calls of the second run: the change again only if the engine asks for it.
            let changes: Vec<Call> = c.db.changes();
            assert_eq!(
                changes.len(),
                usize::from(REPEAT),
                "repeat {REPEAT}: {changes:?}"
            );
        }
    }
    c.assert_current_works(&token).await;
    let value = c.current().await;
    assert_eq!(
        value["username"].as_str(),
        Some(expected_pending_user(strategy, &c.user).as_str())
    );
    assert_eq!(
        c.sm.stages(&c.arn).await.len(),
        2,
        "one new version, no more"
    );
}

async fn repeat_set_when_pending_works_both_ways(strategy: Strategy) {
    repeat_set_with::<false>(strategy).await;
    repeat_set_with::<true>(strategy).await;
}

/// The change is made, then its second part fails; setSecret is retried.
async fn repeat_set_with<const REPEAT: bool>(strategy: Strategy) {
    let c = case(strategy).await;
    let r = c.rotator_of::<false, REPEAT>(strategy, &[]);
    let token = c.created(&r).await;
    c.db.fail_next_change(ChangeFault::After(EngineError::Database(
        "the change was made, but saving it failed".into(),
    )));
    let err = failure(step(&r, &c.arn, &token, "setSecret").await, "after");
    assert_eq!(err.kind(), "DatabaseError", "{err}");
    let who = match strategy {
        SingleUser => "AWSCURRENT",
        AlternatingUsers => "admin (masterarn)",
    };
    assert_eq!(
        err.to_string(),
        format!(
            "setSecret for secret {}: with the {who} credentials, the database answered with an error: the change was made, but saving it failed; see the database's message above",
            c.arn
        )
    );
    let pending = c.pending(&token).await.expect("pending");
    let user = pending["username"].as_str().expect("username");
    assert_eq!(
        c.db.password_of(user).as_deref(),
        pending["password"].as_str(),
        "the change itself was made"
    );
    c.db.clear_calls();
    step(&r, &c.arn, &token, "setSecret")
        .await
        .unwrap_or_else(|e| panic!("repeat {REPEAT}: the retry: {e}"));
    assert_eq!(
        c.db.changes().len(),
        usize::from(REPEAT),
        "repeat {REPEAT}: {:?}",
        c.db.calls()
    );
    for s in ["testSecret", "finishSecret"] {
        step(&r, &c.arn, &token, s).await.expect(s);
    }
    c.assert_current_works(&token).await;
}

async fn a_rotation_interrupted_after_any_step_is_retried_from_the_start(strategy: Strategy) {
    for done in 1..=STEPS.len() {
        let c = case(strategy).await;
        let r = c.rotator(strategy);
        let old = c.version("AWSCURRENT").await;
        let token = c.sm.start_rotation(&c.arn).await;
        for s in &STEPS[..done] {
            step(&r, &c.arn, &token, s).await.expect(s);
        }
        rotate(&r, &c.arn, &token)
            .await
            .unwrap_or_else(|e| panic!("retried after {}: {e}", STEPS[done - 1]));
        c.sm.assert_rotated(&c.arn, &token, &old).await;
        c.assert_current_works(&token).await;
        assert_eq!(
            c.db.changes().len(),
            1,
            "after {}: one change: {:?}",
            STEPS[done - 1],
            c.db.calls()
        );
        if strategy == AlternatingUsers {
            assert_eq!(
                c.db.password_of("app").as_deref(),
                Some(FIRST_PASSWORD),
                "the current user is never changed"
            );
        }
    }
}

async fn a_refused_change_is_retried(strategy: Strategy) {
    let c = case(strategy).await;
    let r = c.rotator(strategy);
    let token = c.sm.start_rotation(&c.arn).await;
    let users = c.users();
    c.db.fail_next_change(ChangeFault::Before(EngineError::Permission {
        user: "app".into(),
        detail: "permission denied to change the password".into(),
    }));
    let err: RotationError = failure(rotate(&r, &c.arn, &token).await, "refused");
    assert_eq!(err.kind(), "PermissionError", "{err}");
    assert!(
        err.to_string().starts_with("setSecret for secret "),
        "{err}"
    );
    assert!(
        err.to_string()
            .ends_with("grant the user the privilege named above, or use credentials that have it"),
        "{err}"
    );
    assert_eq!(c.users(), users, "nothing changed");
    rotate(&r, &c.arn, &token).await.expect("the retry");
    c.assert_current_works(&token).await;
}
