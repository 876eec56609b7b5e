//! `postgres-alternating-users`: the Lambda that rotates between a PostgreSQL user and its
//! `_clone`, using the admin credentials named by `masterarn`.

use rotation_core::Strategy;
use rotation_postgres::PostgreSql;
use std::process::ExitCode;

fn main() -> ExitCode {
    rotation_core::run(Strategy::AlternatingUsers, PostgreSql::from_env)
}
