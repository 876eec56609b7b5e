//! What the property tests of every crate share: the runner's settings (a fixed number of
//! cases, no failure files written to the tree) and a runner that panics with the shrunk
//! input.

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestCaseResult, TestRunner};

/// `cases` cases, and no failure persistence: a failure prints its input, nothing is written.
/// The seed comes from `PROPTEST_RNG_SEED`, which `cargo xtask test` sets.
pub fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// Run `test` on `cases` values of `strategy`; a failure panics with the shrunk input.
pub fn check<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value) -> TestCaseResult) {
    let mut runner = TestRunner::new(config(cases));
    if let Err(e) = runner.run(&strategy, test) {
        panic!("{e}");
    }
}
