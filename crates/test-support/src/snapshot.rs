//! Account snapshots: everything a database server says decides what a login may do, with the
//! account's own name and its password taken out, so that an alternating-users clone can be
//! compared with its original (`assert_eq!` on two snapshots, the difference in the message).
//!
//! One module per engine, each behind the cargo feature of the same name, which brings its
//! client library: an engine's tests turn on their own. MySQL/MariaDB's (`mysql`: an account's
//! rows, grant lines and account options), PostgreSQL's (`postgres`: a login and the role its
//! sessions act as) and Redis/Valkey's (`redis`: an ACL user's `ACL GETUSER`).

#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod redis;
