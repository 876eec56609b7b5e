//! `postgres-single-user`: the Lambda that rotates a PostgreSQL user's own password.

use rotation_core::Strategy;
use rotation_postgres::PostgreSql;
use std::process::ExitCode;

fn main() -> ExitCode {
    rotation_core::run(Strategy::SingleUser, PostgreSql::from_env)
}
