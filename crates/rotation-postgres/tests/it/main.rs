//! Integration tests of the PostgreSQL functions against real PostgreSQL servers and the moto
//! emulator. `cargo xtask test` starts a shared server and moto; tests that need a server set
//! up differently (TLS, statement logging, MD5) start their own. `conformance` runs the
//! scenarios every engine shares; the other modules test what only PostgreSQL has: the
//! clone's rules (`alternating`), a catalogue of login shapes whose clones must be
//! indistinguishable from the original (`clone_fidelity`), what the admin needs per server
//! version (`role_rules`), verifiers and the statement log (`server`), TLS (`tls`), a fake server standing in for an
//! active attacker where the database should be (`plaintext`), and the engine names a secret
//! may give (`engine_names`).

mod alternating;
mod clone_fidelity;
mod common;
mod conformance;
mod engine_names;
mod plaintext;
mod props;
mod role_rules;
mod server;
mod tls;
