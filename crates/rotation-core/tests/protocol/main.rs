//! The protocol's own tests: `Rotator` in-process, against the real Secrets Manager emulator
//! (moto, started by `cargo xtask test`), with the in-memory test engine of [`engine`] standing
//! in for the database, which is not what these tests are about. They cover what every
//! function shares, once: the handler gate, the confused-deputy and admin checks, the
//! AWSPREVIOUS fallback, retries, bad secrets, password settings, the rotation token, the
//! byte-exact copy of a secret and the Secrets Manager call budget. What a real database does
//! is tested in each engine crate.

mod admin;
mod bad_secrets;
mod budget;
mod deputy;
mod engine;
mod environment;
mod errors;
mod gate;
mod idempotence;
mod passwords;
mod preflight;
mod previous;
mod props;
mod recorder;
mod rotation_token;
mod round_trip;
mod support;
