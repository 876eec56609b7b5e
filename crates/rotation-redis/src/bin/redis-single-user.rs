//! `redis-single-user`: the Lambda that rotates a Redis/Valkey ACL user's password, keeping
//! the previous one valid until the next rotation (unless `PREVIOUS_PASSWORD=discard`).

use rotation_core::Strategy;
use rotation_redis::RedisEngine;
use std::process::ExitCode;

fn main() -> ExitCode {
    rotation_core::run(Strategy::SingleUser, RedisEngine::from_env)
}
