//! The facts of the Redis functions that never change, as plain constants: their names, their
//! package, the secrets they accept and their defaults. This file uses nothing but `core`, so
//! that `rotation-functions` compiles it too (with `#[path]`) and the build tools, the
//! templates and the release tests read the same values the binaries are built with.

/// The Cargo package that builds the functions.
pub const PACKAGE: &str = "rotation-redis";

/// The single-user function (its binary and zip name).
pub const SINGLE_USER: &str = "redis-single-user";

/// The alternating-users function (its binary and zip name).
pub const ALTERNATING_USERS: &str = "redis-alternating-users";

/// Accepted values of the secret's `engine` field.
pub const ENGINES: &[&str] = &["redis", "valkey"];

/// The port when the secret has none.
pub const DEFAULT_PORT: u16 = 6379;

/// The database when the secret has no `dbname`.
pub const DEFAULT_DBNAME: Option<&str> = None;

/// The default of `EXCLUDE_CHARACTERS`: characters that break connection strings and shell
/// quoting when a password is pasted into them.
pub const DEFAULT_EXCLUDE_CHARACTERS: &str = "/@\"'\\";

/// Whether single-user rotation uses the secret's `masterarn` when present: no user may
/// change its own password (`ACL SETUSER` needs `+acl`), so the admin does it when there is one.
pub const SINGLE_USER_USES_ADMIN: bool = true;

/// Whether setSecret repeats the change when AWSPENDING already logs in: yes, because
/// `ACL SAVE` can fail after `ACL SETUSER` succeeded, and the change is idempotent.
pub const REPEAT_SET_WHEN_PENDING_WORKS: bool = true;
