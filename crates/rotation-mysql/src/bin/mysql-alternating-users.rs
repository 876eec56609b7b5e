//! `mysql-alternating-users`: the Lambda that rotates between a MySQL/MariaDB user and its
//! `_clone`, using the admin credentials named by `masterarn`.

use rotation_core::Strategy;
use rotation_mysql::MySql;
use std::process::ExitCode;

fn main() -> ExitCode {
    rotation_core::run(Strategy::AlternatingUsers, MySql::from_env)
}
