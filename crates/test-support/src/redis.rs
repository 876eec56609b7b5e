//! Throwaway Redis servers for the tests (to be completed by the Redis engine work).

use crate::tls::TestCa;

/// A Redis server (owned when started here, borrowed when `cargo xtask test` started it).
pub struct Redis {
    /// Port on 127.0.0.1.
    pub port: u16,
    /// An administrative user.
    pub admin_user: String,
    /// Its password.
    pub admin_password: String,
}

impl Redis {
    /// Start a new server; with `tls`, it serves TLS with the test CA's certificate.
    pub fn start(_tls: Option<&TestCa>) -> Result<Redis, String> {
        Err("Redis test servers are not implemented yet".into())
    }

    /// The server `cargo xtask test` started for this run.
    pub fn from_env() -> Redis {
        panic!("Redis test servers are not implemented yet")
    }

    /// The variables that tell the tests where it is.
    pub fn env(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}
