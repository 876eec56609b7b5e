//! The facts of the MySQL functions that never change, as plain constants: their names, their
//! package, the secrets they accept and their defaults. This file uses nothing but `core`, so
//! that `rotation-functions` compiles it too (with `#[path]`) and the build tools, the
//! templates and the release tests read the same values the binaries are built with.

/// The Cargo package that builds the functions.
pub const PACKAGE: &str = "rotation-mysql";

/// The single-user function (its binary and zip name).
pub const SINGLE_USER: &str = "mysql-single-user";

/// The alternating-users function (its binary and zip name).
pub const ALTERNATING_USERS: &str = "mysql-alternating-users";

/// Accepted values of the secret's `engine` field.
pub const ENGINES: &[&str] = &["mysql", "aurora-mysql", "mariadb"];

/// The port when the secret has none.
pub const DEFAULT_PORT: u16 = 3306;

/// The database when the secret has no `dbname`.
pub const DEFAULT_DBNAME: Option<&str> = None;

/// The default of `EXCLUDE_CHARACTERS`: characters that break connection strings and shell
/// quoting when a password is pasted into them.
pub const DEFAULT_EXCLUDE_CHARACTERS: &str = "/@\"'\\";

/// Whether single-user rotation uses the secret's `masterarn` when present: no, the user
/// changes its own password.
pub const SINGLE_USER_USES_ADMIN: bool = false;

/// Whether setSecret repeats the change when AWSPENDING already logs in: no, the change is
/// one statement (or one transaction) that either happened or did not.
pub const REPEAT_SET_WHEN_PENDING_WORKS: bool = false;
