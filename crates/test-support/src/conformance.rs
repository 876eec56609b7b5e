//! The conformance suite: the database scenarios every engine must pass, written once.
//!
//! An engine's test crate implements [`Adapter`] (make a user and its secret, log in and read
//! the canary, say whether a user exists) and calls [`conformance_suite!`](crate::conformance_suite)
//! once with its server flavours. The macro makes one `#[tokio::test]` per scenario, strategy
//! and flavour, named `conformance::<flavour>::<strategy>::<scenario>`. The scenarios live in
//! [`scenarios`]; each takes the adapter and the strategy and asserts on the database and on
//! Secrets Manager (moto), never on an engine's internals. What only one engine has (grants,
//! SCRAM, ACL files, name limits, TLS quirks) stays in that engine's own tests.

pub mod scenarios;

use crate::secrets::Sm;
use rotation_core::Strategy;
use rotation_core::protocol::Rotator;
use serde_json::Value;
use std::future::Future;

/// What the suite needs from one engine on one server flavour.
///
/// Every method works on the shared server the adapter was made for; nothing here may be a
/// stand-in for the database.
pub trait Adapter: Sized + Send + Sync + 'static {
    /// The engine under test.
    type Engine: rotation_core::Engine;

    /// Attach to (or start) the server of `flavour`, one of the names the engine's
    /// `conformance_suite!` call lists.
    fn new(flavour: &str) -> Self;

    /// The function (binary) name for `strategy`, e.g. `mysql-single-user`.
    fn function(strategy: Strategy) -> &'static str;

    /// The port the server listens on (127.0.0.1).
    fn port(&self) -> u16;

    /// An in-process rotator for `strategy`, with `vars` as its environment.
    fn rotator(&self, sm: &Sm, strategy: Strategy, vars: &[(&str, &str)]) -> Rotator<Self::Engine>;

    /// The rotated secret for `user` on port `port` (no `masterarn`: the suite adds it).
    fn secret(&self, port: u16, user: &str, password: &str) -> Value;

    /// The admin's secret (what `masterarn` points to).
    fn admin_secret(&self) -> Value;

    /// Create `user` with `password`, able to read the canary, and copyable by the admin.
    fn create_user(&self, user: &str, password: &str) -> impl Future<Output = ()> + Send;

    /// Log in as `user` and read the canary; `Err` says why the login or the read failed.
    fn read_canary(
        &self,
        user: &str,
        password: &str,
    ) -> impl Future<Output = Result<String, String>> + Send;

    /// The canary's value, as [`Adapter::read_canary`] returns it.
    fn canary(&self) -> String;

    /// Whether `user` exists on the server.
    fn user_exists(&self, user: &str) -> impl Future<Output = bool> + Send;

    /// User names that are hostile but legal on this engine: quotes, backslashes, `%`,
    /// multi-byte characters, SQL or ACL syntax. Each must rotate without injection.
    fn hostile_usernames(&self) -> Vec<String>;

    /// Whether the single-user password before a rotation still logs in after it (Redis keeps
    /// it until the next rotation; SQL engines do not).
    const SINGLE_USER_KEEPS_OLD_PASSWORD: bool;
}

/// One `#[tokio::test]` per scenario, strategy and flavour:
/// `conformance_suite!(MyAdapter, [flavour_a, flavour_b]);` in an engine's test crate.
#[macro_export]
macro_rules! conformance_suite {
    ($adapter:ty, [$($flavour:ident),+ $(,)?]) => {
        mod conformance {
            $(
                mod $flavour {
                    $crate::__conformance_strategy!($adapter, $flavour, single_user, SingleUser);
                    $crate::__conformance_strategy!($adapter, $flavour, alternating_users, AlternatingUsers);
                }
            )+
        }
    };
}

/// The tests of one strategy; used by [`conformance_suite!`](crate::conformance_suite).
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_strategy {
    ($adapter:ty, $flavour:ident, $module:ident, $strategy:ident) => {
        mod $module {
            $crate::__conformance_tests!(
                $adapter,
                $flavour,
                $strategy,
                [
                    full_rotation,
                    two_rotations,
                    every_step_twice,
                    tampered_pending,
                    database_down,
                    hostile_names_and_passwords,
                    exclude_characters,
                ]
            );
        }
    };
}

/// The test functions; used by [`conformance_suite!`](crate::conformance_suite).
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    ($adapter:ty, $flavour:ident, $strategy:ident, [$($scenario:ident),+ $(,)?]) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                let adapter = <$adapter as $crate::conformance::Adapter>::new(stringify!($flavour));
                $crate::conformance::scenarios::$scenario(
                    &adapter,
                    ::rotation_core::Strategy::$strategy,
                )
                .await
            }
        )+
    };
}
