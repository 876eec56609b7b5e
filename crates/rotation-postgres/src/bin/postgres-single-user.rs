//! `postgres-single-user`: the Lambda that rotates a PostgreSQL user's own password.

use rotation_core::Strategy;
use rotation_postgres::{DEFAULT_EXCLUDE_CHARACTERS, PostgreSql};
use std::process::ExitCode;

fn main() -> ExitCode {
    rotation_core::run(
        Strategy::SingleUser,
        DEFAULT_EXCLUDE_CHARACTERS,
        PostgreSql::from_env,
    )
}
