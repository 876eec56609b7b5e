//! `mysql-single-user`: the Lambda that rotates a MySQL/MariaDB user's own password.

use rotation_core::Strategy;
use rotation_mysql::{DEFAULT_EXCLUDE_CHARACTERS, MySql};
use std::process::ExitCode;

fn main() -> ExitCode {
    rotation_core::run(
        Strategy::SingleUser,
        DEFAULT_EXCLUDE_CHARACTERS,
        MySql::from_env,
    )
}
