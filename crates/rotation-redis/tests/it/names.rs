//! User names Redis and Valkey refuse: an ACL user name cannot contain a space, so both
//! strategies refuse one with a clear `BadSecret` (alternating users before anything is
//! stored). The hostile names they accept are in the conformance suite.

use crate::common::*;
use rotation_core::Strategy::{AlternatingUsers, SingleUser};
use test_support::secrets::{Sm, rotate};

on_redis_and_valkey!(usernames_with_spaces_are_refused_clearly);

async fn usernames_with_spaces_are_refused_clearly(db: Db) {
    let sm = Sm::from_env();
    let master = db.master_secret(&sm).await;
    // Single user needs the user only at setSecret; alternating users names the clone at
    // createSecret.
    for (strategy, refused_at) in [
        (SingleUser, "setSecret"),
        (AlternatingUsers, "createSecret"),
    ] {
        let arn = sm
            .create(
                "redis-space-",
                &db.secret_with_master("my app", "Some-pw-1", &master),
            )
            .await;
        let r = rotator(&sm, strategy, &[]);
        let token = sm.start_rotation(&arn).await;
        let what = strategy.as_str();
        let (kind, message) = failure(rotate(&r, &arn, &token).await, what);
        assert_eq!(kind, "BadSecret", "{what}: {message}");
        assert!(
            message.starts_with(refused_at) && message.contains("cannot contain spaces"),
            "{what}: {message}"
        );
        if strategy == AlternatingUsers {
            assert!(
                sm.value(&arn, "AWSPENDING", Some(&token)).await.is_none(),
                "nothing is stored"
            );
        }
    }
}
