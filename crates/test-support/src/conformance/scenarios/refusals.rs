//! Rotations that must fail and change nothing: a tampered AWSPENDING, a database that is down,
//! a wrong password, and the admin as the user to change.

use crate::conformance::Adapter;
use rotation_core::Strategy;

/// An AWSPENDING naming another user, host, port or engine is refused as a confused deputy, and
/// nothing changes: no clone, the victim untouched.
pub async fn tampered_pending<A: Adapter>(_a: &A, _strategy: Strategy) {
    todo!("written by the conformance work")
}

/// Nothing listens, or something accepts and never answers: a NetworkError naming host:port
/// and AWSCURRENT that says what to check, within `CONNECT_TIMEOUT_SECONDS`.
pub async fn database_down<A: Adapter>(_a: &A, _strategy: Strategy) {
    todo!("written by the conformance work")
}

/// The user's password was changed behind the secret's back: an AuthenticationError naming the
/// user, and nothing changes.
pub async fn wrong_current_password<A: Adapter>(_a: &A, _strategy: Strategy) {
    todo!("written by the conformance work")
}

/// The `masterarn` admin is never the account changed, through the shipped binary.
pub async fn admin_is_never_rotated<A: Adapter>(_a: &A, _strategy: Strategy) {
    todo!("written by the conformance work")
}
