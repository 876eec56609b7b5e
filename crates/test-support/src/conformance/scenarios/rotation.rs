//! Rotations that succeed: the new credentials read the canary, Secrets Manager's labels move, and
//! what must stop working stops.

use crate::conformance::Adapter;
use rotation_core::Strategy;

/// A whole rotation: the new credentials read the canary, AWSCURRENT moves to the token and
/// AWSPREVIOUS to the old version, unknown keys are kept, the old password stops working
/// (single user, unless the engine keeps it), and for alternating users both users work.
pub async fn full_rotation<A: Adapter>(_a: &A, _strategy: Strategy) {
    todo!("written by the conformance work")
}

/// Two rotations in a row: single user, the first password is gone after the second; alternating
/// users, back to the original user, and AWSCURRENT and AWSPREVIOUS both log in.
pub async fn two_rotations<A: Adapter>(_a: &A, _strategy: Strategy) {
    todo!("written by the conformance work")
}

/// Every step run twice, as retries would, ends in the state of one run.
pub async fn every_step_twice<A: Adapter>(_a: &A, _strategy: Strategy) {
    todo!("written by the conformance work")
}

/// Hostile user names and passwords (and generated passwords with any punctuation) rotate
/// without injection: the users read the canary, the admin still logs in.
pub async fn hostile_names_and_passwords<A: Adapter>(_a: &A, _strategy: Strategy) {
    todo!("written by the conformance work")
}

/// `EXCLUDE_CHARACTERS` and `PASSWORD_LENGTH` shape a password the database accepts, and the
/// engine's default exclusions apply when the variable is unset.
pub async fn exclude_characters<A: Adapter>(_a: &A, _strategy: Strategy) {
    todo!("written by the conformance work")
}

/// Single user: when AWSCURRENT no longer logs in but AWSPREVIOUS does (a restore), the rotation
/// logs in with AWSPREVIOUS.
pub async fn awsprevious_fallback<A: Adapter>(_a: &A, _strategy: Strategy) {
    todo!("written by the conformance work")
}
