//! Integration tests of the MySQL functions against a real MariaDB and the moto emulator, both
//! started by `cargo xtask test`. Most scenarios run the protocol in-process; `binary` runs the
//! shipped `bootstrap` through a Lambda Runtime API.

mod admin;
mod alternating;
mod binary;
mod common;
mod conformance;
mod single_user;
mod tls;
