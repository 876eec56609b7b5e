//! Integration tests of the PostgreSQL functions against real PostgreSQL servers and the moto
//! emulator. `cargo xtask test` starts a shared server and moto; tests that need a server set
//! up differently (TLS, statement logging, MD5) start their own. Most scenarios run the
//! protocol in-process; `binary` runs the shipped `bootstrap` through a Lambda Runtime API.
//! `plaintext` puts a fake server, an active attacker's stand-in, where the database should be.
//! `role_rules` asserts, per server version, what the admin needs (PostgreSQL 16's ADMIN option).

mod admin;
mod alternating;
mod binary;
mod common;
mod plaintext;
mod role_rules;
mod server;
mod single_user;
mod tls;
