//! Integration tests of the Redis functions against real servers and the moto emulator: the
//! shared Redis that `cargo xtask test` starts, and throwaway Redis and Valkey servers that
//! the tests start themselves (with TLS, an ACL file, or the legacy `requirepass` setup).
//! `conformance` runs the engine-agnostic scenarios every engine passes; the other modules test
//! what only Redis has, in-process, and `logs` the shipped `bootstrap` binary's output through
//! a Lambda Runtime API.

/// One test per server for each scenario `async fn name(db: Db)`: `on_redis::name` on the
/// shared Redis, and `on_valkey::name` on a throwaway Valkey.
macro_rules! on_redis_and_valkey {
    ($($name:ident),* $(,)?) => {
        mod on_redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Db::shared()).await
                }
            )*
        }
        mod on_valkey {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Db::throwaway(test_support::redis::Flavor::Valkey)).await
                }
            )*
        }
    };
}

/// One test per server program for each scenario `async fn name(flavor: Flavor)` that starts
/// servers of its own: `own_redis::name` and `own_valkey::name`.
macro_rules! per_flavor {
    ($($name:ident),* $(,)?) => {
        mod own_redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(test_support::redis::Flavor::Redis).await
                }
            )*
        }
        mod own_valkey {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(test_support::redis::Flavor::Valkey).await
                }
            )*
        }
    };
}

mod alternating;
mod clone_fidelity;
mod common;
mod conformance;
mod logs;
mod names;
mod persistence;
mod props;
mod single_user;
mod tls;
