//! `redis-alternating-users`: the Lambda that rotates between a Redis/Valkey ACL user and its
//! `_clone`, using the admin credentials named by `masterarn`.

use rotation_core::Strategy;
use rotation_redis::RedisEngine;
use std::process::ExitCode;

fn main() -> ExitCode {
    rotation_core::run(Strategy::AlternatingUsers, RedisEngine::from_env)
}
