//! `mysql-single-user`: the Lambda that rotates a MySQL/MariaDB user's own password.

use rotation_core::Strategy;
use rotation_mysql::MySql;
use std::process::ExitCode;

fn main() -> ExitCode {
    rotation_core::run(Strategy::SingleUser, MySql::from_env)
}
