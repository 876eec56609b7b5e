//! Real parts for the tests: throwaway database servers started from the installed binaries,
//! a test certificate authority, the Secrets Manager emulator (moto) that `cargo xtask test`
//! starts, and a Lambda Runtime API that runs the built `bootstrap` binaries as Lambda does.
//!
//! Nothing here is a mock of a database or of Secrets Manager. When a part is missing, the
//! functions panic with a message that says how to provide it: no test skips silently.

pub mod conformance;
pub mod emf;
pub mod fake_postgres;
pub mod http;
pub mod lambda;
pub mod mariadb;
pub mod moto;
pub mod net;
pub mod postgres;
pub mod process;
pub mod props;
pub mod proxy;
pub mod redis;
pub mod secrets;
pub mod snapshot;
pub mod tls;
pub mod wire;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

/// How to get the test environment: shown whenever something is missing.
pub const HOW_TO_RUN: &str =
    "run the tests with `cargo xtask test`, which installs and starts everything they need";

/// A name unique to this process and call, for users, secrets and folders.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    // Fixed widths around the counter, so that no two (process, count, instant) triples
    // spell the same name; the longest names are as long as before.
    format!(
        "{prefix}{:04}{n}{:03}",
        std::process::id() % 10_000,
        nanos % 1000
    )
}

/// A required environment variable set by `cargo xtask test`; panics with instructions if absent.
pub fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: {HOW_TO_RUN}"))
}

/// Path of a built function binary (`bootstrap`) from the folder `cargo xtask test` names in
/// `ROTATION_TEST_BIN_DIR`.
pub fn function_binary(name: &str) -> PathBuf {
    let path = PathBuf::from(required_env("ROTATION_TEST_BIN_DIR")).join(name);
    assert!(
        path.exists(),
        "{} does not exist: build it with `cargo xtask dist` or {HOW_TO_RUN}",
        path.display()
    );
    path
}
