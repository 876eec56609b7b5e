//! The shipped `bootstrap` binaries, run through a Lambda Runtime API exactly as Lambda runs
//! them: no secret in their output, a kill between steps, the Secrets Manager call budget.

use crate::conformance::Adapter;
use rotation_core::Strategy;

/// The shipped binary rotates, fails a step, and prints no secret.
pub async fn binary_rotates_and_prints_no_secret<A: Adapter>(_a: &A, _strategy: Strategy) {
    todo!("written by the conformance work")
}

/// Killed after setSecret and retried in a fresh process.
pub async fn binary_killed_after_set_secret_and_retried<A: Adapter>(_a: &A, _strategy: Strategy) {
    todo!("written by the conformance work")
}

/// Secrets Manager calls of a rotation through the binary stay within the budget.
pub async fn binary_call_budget<A: Adapter>(_a: &A, _strategy: Strategy) {
    todo!("written by the conformance work")
}
