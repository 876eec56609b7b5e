//! The conformance suite: the database scenarios every engine must pass, written once.
//!
//! An engine's test crate implements [`Adapter`] (make users and their secrets, log in and read
//! the canary, describe an account) and calls [`conformance_suite!`](crate::conformance_suite)
//! once with its server flavours. The macro makes one `#[tokio::test]` per scenario, strategy
//! and flavour, named `conformance::<flavour>::<strategy>::<scenario>`. The scenarios live in
//! [`scenarios`]; each takes the adapter and the strategy and asserts on the database (through
//! the adapter), on Secrets Manager (moto) and on what the shipped binaries print, never on an
//! engine's internals. What only one engine has (grants, SCRAM, ACL files, name limits, TLS
//! quirks) stays in that engine's own tests; the protocol alone (gate texts, bad secrets,
//! password settings) is tested in `rotation-core`.
//!
//! The words below, for every engine: a *user* is a MySQL account at host `%`, a PostgreSQL
//! login role, or a Redis ACL user; the *admin* is the user of the `masterarn` secret (all
//! rights, able to create users and copy another's rights); the *canary* is something every
//! user the suite creates can read and nothing else in the suite writes (a table's row, a key).

pub mod case;
pub mod scenarios;
pub mod soak;

pub use case::Case;

use crate::secrets::Sm;
use rotation_core::Strategy;
use rotation_core::protocol::Rotator;
use serde_json::Value;
use std::future::Future;

/// What the suite needs from one engine on one server flavour.
///
/// Every method works on the server the adapter was made for (shared, or started by
/// [`Adapter::new`] for the one test); nothing here may be a stand-in for the database. User
/// names the suite passes are fresh (from [`crate::unique`]) or from
/// [`Adapter::hostile_usernames`]; passwords may hold any printable character, quotes,
/// backslashes and spaces included.
pub trait Adapter: Sized + Send + Sync + 'static {
    /// The engine under test.
    type Engine: rotation_core::Engine;

    /// Whether the single-user password before a rotation still logs in after it, until the
    /// next rotation (Redis with its default `PREVIOUS_PASSWORD=keep`: true; MySQL and
    /// PostgreSQL: false).
    const SINGLE_USER_KEEPS_OLD_PASSWORD: bool;

    /// Whether the engine's single-user rotation changes the password as the `masterarn` admin
    /// when the secret names one (Redis true, MySQL and PostgreSQL false). The suite's
    /// single-user secrets then name the admin, as such an engine is deployed; otherwise they
    /// have no `masterarn` (except in the scenarios that are about it: the admin check and the
    /// call budget). Defaults to the engine's `SINGLE_USER_USES_ADMIN`; leave it so.
    const SINGLE_USER_USES_ADMIN: bool =
        <Self::Engine as rotation_core::Engine>::SINGLE_USER_USES_ADMIN;

    /// The longest user name the server holds, when it has a limit (MariaDB 80, MySQL 32,
    /// PostgreSQL 63); `None` where names have no limit a test could reach (Redis).
    fn name_limit(&self) -> Option<usize>;

    /// Every value of `engine` the functions accept, the one [`Adapter::secret`] writes among
    /// them. Defaults to the engine's `RULES.engines`; leave it so.
    const ENGINE_NAMES: &'static [&'static str] =
        <Self::Engine as rotation_core::Engine>::RULES.engines;

    /// The default of `EXCLUDE_CHARACTERS`. Defaults to the engine's
    /// `DEFAULT_EXCLUDE_CHARACTERS`; leave it so.
    const DEFAULT_EXCLUDE_CHARACTERS: &'static str =
        <Self::Engine as rotation_core::Engine>::DEFAULT_EXCLUDE_CHARACTERS;

    /// Attach to (or start) the server of `flavour`, one of the names the engine's
    /// `conformance_suite!` call lists. The server offers no TLS (the binaries' plaintext
    /// fallback is part of what the suite checks) and has the canary in place.
    fn new(flavour: &str) -> Self;

    /// The function (binary) name for `strategy`, e.g. `mysql-single-user`, as
    /// [`crate::function_binary`] takes it.
    fn function(strategy: Strategy) -> &'static str;

    /// The port the server listens on (127.0.0.1).
    fn port(&self) -> u16;

    /// An in-process rotator for `strategy`, with `vars` as its environment (the engine's own
    /// variables among them, such as `USERNAME_CHARACTER_LIMIT` or `PREVIOUS_PASSWORD`).
    fn rotator(&self, sm: &Sm, strategy: Strategy, vars: &[(&str, &str)]) -> Rotator<Self::Engine>;

    /// The rotated secret for `user` on 127.0.0.1:`port` in the templates' format (`engine`,
    /// `host` 127.0.0.1, `port`, `username`, `password`, and whatever else the engine needs to
    /// reach the canary, such as `dbname`), with no `masterarn` (the suite adds it) and no
    /// `ssl` key. The suite also passes ports where nothing, or something silent, listens.
    fn secret(&self, port: u16, user: &str, password: &str) -> Value;

    /// The admin's secret in the templates' format (`engine`, `host`, `port`, `username`,
    /// `password`), what `masterarn` points to. The suite may replace `username` and
    /// `password` (for an admin of [`Adapter::create_admin`]) or keep only those two (the
    /// RDS-style secret).
    fn admin_secret(&self) -> Value;

    /// As the admin, create `user` with exactly `password`, able to log in and read the canary,
    /// and copyable by the admin (alternating users). Where [`Adapter::SINGLE_USER_USES_ADMIN`]
    /// is false the user can change its own password, as SQL users always can.
    fn create_user(&self, user: &str, password: &str) -> impl Future<Output = ()> + Send;

    /// As the admin, create `user` with `password` and the rights of the admin of
    /// [`Adapter::admin_secret`] (all of them; able to create users and copy another's), for a
    /// scenario that needs an admin of its own.
    fn create_admin(&self, user: &str, password: &str) -> impl Future<Output = ()> + Send;

    /// As the admin, make `password` the one password of `user` (an existing user), changing
    /// nothing else: what a restore, or a change behind the secret's back, does.
    fn change_password(&self, user: &str, password: &str) -> impl Future<Output = ()> + Send;

    /// As the admin, let `user` change its own password without the admin, as a single-user
    /// rotation with no `masterarn` needs. Nothing to do where users always can (the default,
    /// right for MySQL and PostgreSQL); Redis grants `+acl`.
    fn allow_own_password_change(&self, user: &str) -> impl Future<Output = ()> + Send {
        let _ = user;
        async {}
    }

    /// Log in as `user` with `password` and read the canary; `Err` says why the login or the
    /// read failed (a refused login must be an `Err`, never a panic).
    fn read_canary(
        &self,
        user: &str,
        password: &str,
    ) -> impl Future<Output = Result<String, String>> + Send;

    /// The canary's value, as [`Adapter::read_canary`] returns it.
    fn canary(&self) -> String;

    /// Whether `user` exists on the server.
    fn user_exists(&self, user: &str) -> impl Future<Output = bool> + Send;

    /// Everything the server says about `user` except its passwords, as text that is equal
    /// for two calls exactly when nothing about the user changed: MySQL its grants and
    /// `REQUIRE`/lock state, PostgreSQL its attributes, memberships and settings, Redis its ACL
    /// rules without the password hashes. Panics when the user does not exist.
    fn account_state(&self, user: &str) -> impl Future<Output = String> + Send;

    /// The password verifiers the server holds for `user`, read as the admin (MySQL its
    /// `authentication_string`, PostgreSQL its `rolpassword`, Redis its password hashes);
    /// empty when the user does not exist or has none. The soak counts them (at most the
    /// documented number of passwords is valid) and looks for them in the functions' output.
    fn verifiers(&self, user: &str) -> impl Future<Output = Vec<String>> + Send;

    /// User names that are hostile but legal on this engine: quotes, backslashes, `%`,
    /// multi-byte characters, SQL or ACL syntax. Each must rotate without injection. The suite
    /// puts a unique prefix of up to 12 characters before each (so that concurrent tests never
    /// share a user) and, for alternating users, `_clone` after it, so each must stay within the
    /// engine's name limit with both.
    fn hostile_usernames(&self) -> Vec<String>;

    /// Whether the server the scenarios use offers TLS, with a certificate the tests trust
    /// (the default: it offers none, and a secret without `ssl` falls back to plaintext).
    fn offers_tls(&self) -> bool {
        false
    }
}

/// One `#[tokio::test]` per scenario, strategy and flavour:
/// `conformance_suite!(MyAdapter, [flavour_a, flavour_b]);` in an engine's test crate. The
/// adapter's name is resolved where the macro is called.
#[macro_export]
macro_rules! conformance_suite {
    ($adapter:ty, [$($flavour:ident),+ $(,)?]) => {
            $(
                mod $flavour {
                    #[allow(unused_imports)]
                    use super::*;
                    $crate::__conformance_strategy!(
                        $adapter,
                        $flavour,
                        single_user,
                        SingleUser,
                        [awsprevious_fallback]
                    );
                    $crate::__conformance_strategy!(
                        $adapter,
                        $flavour,
                        alternating_users,
                        AlternatingUsers,
                        [admin_secret_must_name_the_same_database, preflight_name_too_long]
                    );
                }
            )+
    };
}

/// The tests of one strategy: the scenarios of both strategies, then `$only`, those of this
/// strategy alone; used by [`conformance_suite!`](crate::conformance_suite).
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_strategy {
    ($adapter:ty, $flavour:ident, $module:ident, $strategy:ident, [$($only:ident),* $(,)?]) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $crate::__conformance_tests!(
                $adapter,
                $flavour,
                $strategy,
                [
                    full_rotation,
                    two_rotations,
                    every_step_twice,
                    new_token_after_abandoned_rotation,
                    tampered_pending,
                    database_down,
                    hostile_names_and_passwords,
                    exclude_characters,
                    wrong_current_password,
                    admin_is_never_rotated,
                    binary_rotates_and_prints_no_secret,
                    binary_killed_after_set_secret_and_retried,
                    binary_call_budget,
                    binary_step_outlives_its_deadline,
                    binary_configuration_test_passes,
                    binary_rotates_through_sustained_throttling,
                    preflight_healthy,
                    preflight_changes_nothing_when_the_password_is_wrong,
                    preflight_tls_failure,
                    preflight_rotation_names_another_function,
                    preflight_admin_without_rights,
                    soak,
                    $($only,)*
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
