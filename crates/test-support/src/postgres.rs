//! Throwaway PostgreSQL servers for the tests (to be completed by the PostgreSQL engine work).

use crate::tls::TestCa;

/// A PostgreSQL server (owned when started here, borrowed when `cargo xtask test` started it).
pub struct Postgres {
    /// Port on 127.0.0.1.
    pub port: u16,
    /// An administrative user.
    pub admin_user: String,
    /// Its password.
    pub admin_password: String,
}

impl Postgres {
    /// Start a new server; with `tls`, it serves TLS with the test CA's certificate.
    pub fn start(_tls: Option<&TestCa>) -> Result<Postgres, String> {
        Err("PostgreSQL test servers are not implemented yet".into())
    }

    /// The server `cargo xtask test` started for this run.
    pub fn from_env() -> Postgres {
        panic!("PostgreSQL test servers are not implemented yet")
    }

    /// The variables that tell the tests where it is.
    pub fn env(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}
