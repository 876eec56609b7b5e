//! The scenarios of the conformance suite, one `pub async fn name<A: Adapter>(a: &A,
//! strategy: Strategy)` each, generic over the [`Adapter`](super::Adapter). Each asserts on the
//! database (through the adapter), on Secrets Manager and, for the `binary_` ones, on the
//! shipped `bootstrap` run as Lambda runs it.
//!
//! - [`rotation`]: rotations that succeed (once, twice, every step twice, hostile names,
//!   `EXCLUDE_CHARACTERS`, the AWSPREVIOUS fallback).
//! - [`refusals`]: rotations that must fail and change nothing (tampered AWSPENDING, database
//!   down, a wrong password, the admin as the rotated user, an admin secret for another
//!   database).
//! - [`binary`]: the shipped binaries (no secret in their output, a kill between steps, the
//!   Secrets Manager call budget).
//! - [`preflight`]: the preflight check through the shipped binaries, healthy and failing, and
//!   that it changes nothing and shows no password.
//! - [`soak`](super::soak::soak): the fault soak, short (its own module, shared with
//!   `cargo xtask soak`).

pub mod binary;
pub mod preflight;
pub mod refusals;
pub mod rotation;

pub use super::soak::soak;
pub use binary::{
    binary_call_budget, binary_configuration_test_passes,
    binary_killed_after_set_secret_and_retried, binary_rotates_and_prints_no_secret,
    binary_rotates_through_sustained_throttling, binary_step_outlives_its_deadline,
};
pub use preflight::{
    preflight_admin_without_rights, preflight_changes_nothing_when_the_password_is_wrong,
    preflight_healthy, preflight_name_too_long, preflight_rotation_names_another_function,
    preflight_tls_failure,
};
pub use refusals::{
    admin_is_never_rotated, admin_secret_must_name_the_same_database, database_down,
    tampered_pending, wrong_current_password,
};
pub use rotation::{
    awsprevious_fallback, every_step_twice, exclude_characters, full_rotation,
    hostile_names_and_passwords, new_token_after_abandoned_rotation, two_rotations,
};
