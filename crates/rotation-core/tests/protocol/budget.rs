//! The Secrets Manager call budget, counted by `test_support::proxy::CountingProxy`: one
//! `DescribeSecret` per step, and only the calls each step needs: 13 for a single-user
//! rotation, 15 with a `masterarn` (read at createSecret and setSecret for the admin check),
//! 15 for alternating users; a step the gate ends costs its `DescribeSecret` alone.

use crate::support::*;
use rotation_core::Strategy::{self, AlternatingUsers, SingleUser};
use test_support::proxy::CountingProxy;
use test_support::secrets::{rotate, step};

const STEPS: [&str; 4] = ["createSecret", "setSecret", "testSecret", "finishSecret"];

/// One rotation through the proxy: the calls of each step, checked against `most`, and all
/// of them against `budget`.
async fn count<const USES_ADMIN: bool>(
    what: &str,
    strategy: Strategy,
    with_master: bool,
    most: [usize; 4],
    budget: usize,
) {
    let c = case_with("app", with_master).await;
    let proxy = CountingProxy::start(&c.sm.url);
    let r = rotator::<USES_ADMIN, false>(&sm_at(&proxy.url), strategy, &[], &c.db);
    let token = c.sm.start_rotation(&c.arn).await;
    let mut total = 0;
    for (s, most) in STEPS.into_iter().zip(most) {
        proxy.reset();
        step(&r, &c.arn, &token, s)
            .await
            .unwrap_or_else(|e| panic!("{what}, {s}: {e}"));
        let counts = proxy.counts();
        assert_eq!(
            counts.get("DescribeSecret"),
            Some(&1),
            "{what}, {s}: one DescribeSecret: {counts:?}"
        );
        let n = proxy.total();
        assert!(
            n <= most,
            "{what}, {s}: {n} calls, at most {most}: {counts:?}"
        );
        total += n;
    }
    c.assert_current_works(&token).await;
    assert!(total <= budget, "{what}: {total} calls, budget {budget}");
}

#[tokio::test]
async fn a_rotation_makes_only_the_secrets_manager_calls_it_needs() {
    // createSecret: DescribeSecret, AWSCURRENT, AWSPENDING (none yet), GetRandomPassword,
    // PutSecretValue; setSecret and testSecret: DescribeSecret, AWSCURRENT, AWSPENDING;
    // finishSecret: DescribeSecret, UpdateSecretVersionStage. A masterarn: one read more at
    // createSecret and at setSecret.
    let plain = [5, 3, 3, 2];
    let master = [6, 4, 3, 2];
    count::<false>("single user", SingleUser, false, plain, 13).await;
    count::<false>("single user with masterarn", SingleUser, true, master, 15).await;
    count::<true>(
        "single user with masterarn, engine using the admin",
        SingleUser,
        true,
        master,
        15,
    )
    .await;
    count::<false>("alternating users", AlternatingUsers, true, master, 15).await;
}

crate::both_strategies!(a_step_the_gate_ends_costs_one_call);

async fn a_step_the_gate_ends_costs_one_call(strategy: Strategy) {
    let c = case(strategy).await;
    let proxy = CountingProxy::start(&c.sm.url);
    let r = rotator::<false, false>(&sm_at(&proxy.url), strategy, &[], &c.db);
    let current = c.version("AWSCURRENT").await;
    let token = c.sm.start_rotation(&c.arn).await;
    for (what, token, name) in [
        ("AWSCURRENT token", current.as_str(), "setSecret"),
        ("unknown token", "no-such-token", "setSecret"),
        ("invalid step", token.as_str(), "fooSecret"),
    ] {
        proxy.reset();
        let _ = step(&r, &c.arn, token, name).await;
        assert_eq!(proxy.total(), 1, "{what}: {:?}", proxy.counts());
    }
    rotate(&r, &c.arn, &token).await.expect("rotation");
    c.sm.disable_rotation(&c.arn).await;
    proxy.reset();
    let _ = step(&r, &c.arn, &token, "createSecret").await;
    assert_eq!(proxy.total(), 1, "rotation off: {:?}", proxy.counts());
}
