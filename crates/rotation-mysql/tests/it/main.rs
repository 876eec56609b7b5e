//! Integration tests of the MySQL functions against a real MariaDB and the moto emulator, both
//! started by `cargo xtask test`. `conformance` runs the scenarios every engine passes (the
//! protocol's rotations, refusals and the shipped binaries); the other modules hold what only
//! MySQL has: grant copying and the locked clone, the catalogue of account shapes the clone
//! must copy exactly (`clone_fidelity`), name limits, accepted engine names, the
//! server's `sql_mode` and general log, ERROR 1396, TLS, and how often a step logs in (`logins`).

mod alternating;
mod binary;
mod clone_fidelity;
mod common;
mod conformance;
mod dual;
mod engine_names;
mod logins;
mod props;
mod tls;
