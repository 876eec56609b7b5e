//! The scenarios of the conformance suite, one `async fn` each, generic over the [`Adapter`].
//! Each takes the strategy and asserts on the database (through the adapter) and on Secrets
//! Manager.

use super::Adapter;
use rotation_core::Strategy;

/// A whole rotation: the new credentials read the canary, AWSCURRENT moves, the old password
/// stops working (unless the engine keeps it), and for alternating users both users work.
pub async fn full_rotation<A: Adapter>(_a: &A, _strategy: Strategy) {
    todo!("written by the conformance work")
}

/// Two rotations in a row (alternating users: back to the original user).
pub async fn two_rotations<A: Adapter>(_a: &A, _strategy: Strategy) {
    todo!("written by the conformance work")
}

/// Every step run twice ends in the same state as once.
pub async fn every_step_twice<A: Adapter>(_a: &A, _strategy: Strategy) {
    todo!("written by the conformance work")
}

/// An AWSPENDING naming another user, host, port or engine is refused and nothing changes.
pub async fn tampered_pending<A: Adapter>(_a: &A, _strategy: Strategy) {
    todo!("written by the conformance work")
}

/// Nothing listens, or something accepts and never answers: a NetworkError that says what to
/// check, within the connect timeout.
pub async fn database_down<A: Adapter>(_a: &A, _strategy: Strategy) {
    todo!("written by the conformance work")
}

/// Hostile user names and passwords rotate without injection.
pub async fn hostile_names_and_passwords<A: Adapter>(_a: &A, _strategy: Strategy) {
    todo!("written by the conformance work")
}

/// `EXCLUDE_CHARACTERS` and `PASSWORD_LENGTH` shape a password the database accepts.
pub async fn exclude_characters<A: Adapter>(_a: &A, _strategy: Strategy) {
    todo!("written by the conformance work")
}
