//! `redis-single-user`: the Lambda that rotates a Redis/Valkey ACL user's password, keeping
//! the previous one valid until the next rotation (unless `PREVIOUS_PASSWORD=discard`).

use rotation_core::Strategy;
use rotation_redis::{DEFAULT_EXCLUDE_CHARACTERS, RedisEngine};
use std::process::ExitCode;

fn main() -> ExitCode {
    rotation_core::run(
        Strategy::SingleUser,
        DEFAULT_EXCLUDE_CHARACTERS,
        RedisEngine::from_env,
    )
}
