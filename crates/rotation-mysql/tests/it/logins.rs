//! How often a step logs in: once per password (AWSCURRENT's checked session is the one that
//! then changes the password, reads the server's name limit or the account's host part), and
//! nothing is left open when the step ends. Counted through a relay in front of the server.

use crate::common::*;
use rotation_core::Strategy::{AlternatingUsers, SingleUser};
use serde_json::json;
use test_support::secrets::Sm;
use test_support::unique;
use test_support::wire::{TimedRelay, set_secret_connections};

/// setSecret's logins: AWSCURRENT once, AWSPENDING once (refused: not set yet), and for
/// alternating users the admin once. It was AWSCURRENT twice (single user) and three times
/// (alternating users). A secret without `ssl` tries TLS first: where the server offers none,
/// each login is two connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_logs_in_once_per_password() {
    let sm = Sm::from_env();
    let server = db();
    let relay = TimedRelay::start(server.port);
    for (strategy, logins) in [(SingleUser, 2), (AlternatingUsers, 3)] {
        let user = unique("once");
        let password = unique("Pw-");
        create_user(&server, &user, "%", &password, &[], false).await;
        let mut value = secret(relay.port, &user, &password);
        if strategy == AlternatingUsers {
            let mut admin = admin_secret(&server);
            admin["port"] = json!(relay.port);
            value["masterarn"] = json!(sm.create("master-", &admin).await);
        }
        let arn = sm.create("mysql-", &value).await;
        let r = rotator(&sm, strategy, &[]);
        let connections = set_secret_connections(&sm, &r, &arn, &relay).await;
        let per_login = if server.offers_tls { 1 } else { 2 };
        assert_eq!(connections, per_login * logins, "{}", strategy.as_str());
    }
}
