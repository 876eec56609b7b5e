//! The trust store every engine verifies server certificates against: the system roots, plus
//! AWS's Amazon RDS and Aurora certificate authorities embedded in the binary ([`rds_ca`];
//! `TRUST_RDS_CA=false` leaves them out), plus the PEM file named by `CA_BUNDLE`, plus
//! `ca-bundle.pem` shipped next to `bootstrap` in the zip (`cargo xtask dist --ca-bundle`).
//!
//! The RDS set is trusted by default because RDS and Aurora are what these functions rotate
//! most, and their certificates chain to no system root: without it, `"ssl": true` against
//! RDS would fail until someone supplied a bundle.

pub mod rds_ca;

use crate::config::{Config, ConfigError};
use crate::secret::SslMode;
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// File name of the CA bundle that `cargo xtask dist --ca-bundle` puts in the zip.
pub const BUNDLED_CA_FILE: &str = "ca-bundle.pem";

/// TLS and connection settings handed to an engine.
#[derive(Clone)]
pub struct TlsSettings {
    /// Used when a secret has no `ssl` key.
    pub default_mode: SslMode,
    /// Every trusted root, as DER.
    pub roots: Arc<Vec<CertificateDer<'static>>>,
    /// Connect timeout.
    pub connect_timeout: Duration,
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings")
            .field("default_mode", &self.default_mode)
            .field("roots", &self.roots.len())
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

/// Install aws-lc-rs as rustls' process-wide provider (drivers build their configs with the
/// default provider). Calling it twice is harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

fn read_pem(path: &Path, var: &'static str) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_file_iter(path)
        .map_err(|e| ConfigError {
            name: var,
            problem: format!("cannot read {}: {e}", path.display()),
        })?
        .collect();
    let certs = certs.map_err(|e| ConfigError {
        name: var,
        problem: format!("{} is not a PEM certificate file: {e}", path.display()),
    })?;
    if certs.is_empty() {
        return Err(ConfigError {
            name: var,
            problem: format!("{} holds no PEM certificate", path.display()),
        });
    }
    Ok(certs)
}

impl TlsSettings {
    /// Build from the configuration. A `CA_BUNDLE` that cannot be read is an error; system
    /// roots that cannot be read are skipped (with a warning), since a CA bundle may be all
    /// that is needed.
    pub fn from_config(config: &Config) -> Result<TlsSettings, ConfigError> {
        install_crypto_provider();
        let mut roots = Vec::new();
        let native = rustls_native_certs::load_native_certs();
        if !native.errors.is_empty() {
            tracing::warn!(
                errors = native.errors.len(),
                "some system CA certificates could not be read"
            );
        }
        let system = native.certs.len();
        roots.extend(native.certs);
        let rds = match config.trust_rds_ca {
            true => rds_ca::anchors_at(SystemTime::now()),
            false => rds_ca::RdsAnchors::default(),
        };
        if rds.unreadable > 0 {
            tracing::warn!(
                unreadable = rds.unreadable,
                "some embedded RDS CA certificates could not be read and are not trusted"
            );
        }
        let (rds_trusted, rds_expired) = (rds.trusted.len(), rds.expired);
        roots.extend(rds.trusted);
        let mut ca_bundle = 0;
        if let Some(path) = &config.ca_bundle {
            let certs = read_pem(path, "CA_BUNDLE")?;
            ca_bundle = certs.len();
            roots.extend(certs);
        }
        let mut bundled = 0;
        let task_root = std::env::var_os("LAMBDA_TASK_ROOT").map(PathBuf::from);
        if let Some(path) = task_root.map(|r| r.join(BUNDLED_CA_FILE))
            && path.exists()
        {
            let certs = read_pem(&path, "LAMBDA_TASK_ROOT")?;
            bundled = certs.len();
            roots.extend(certs);
        }
        tracing::debug!(
            system,
            rds = rds_trusted,
            rds_expired,
            trust_rds_ca = config.trust_rds_ca,
            ca_bundle,
            bundled,
            "trust store built"
        );
        Ok(TlsSettings {
            default_mode: config.tls_mode,
            roots: Arc::new(roots),
            connect_timeout: config.connect_timeout,
        })
    }

    /// The rustls root store.
    pub fn root_store(&self) -> RootCertStore {
        let mut store = RootCertStore::empty();
        // Malformed system certificates are skipped, as every TLS client does.
        let _ = store.add_parsable_certificates(self.roots.iter().cloned());
        store
    }

    /// A rustls client configuration that verifies certificates and host names.
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        install_crypto_provider();
        Arc::new(
            rustls::ClientConfig::builder()
                .with_root_certificates(self.root_store())
                .with_no_client_auth(),
        )
    }

    /// How a session with a secret of `secret_ssl` travelled, for the preflight report: `tls`
    /// says whether it runs over TLS (always verified: a failed verification is an error).
    pub fn transport(&self, secret_ssl: Option<SslMode>, tls: bool) -> crate::engine::Transport {
        use crate::engine::Transport;
        match (tls, self.mode_for(secret_ssl)) {
            (true, _) => Transport::Tls,
            (false, SslMode::Disable) => Transport::PlaintextChosen,
            (false, _) => Transport::PlaintextFallback,
        }
    }

    /// The mode for a secret: its `ssl` key, or the default.
    pub fn mode_for(&self, secret_ssl: Option<SslMode>) -> SslMode {
        secret_ssl.unwrap_or(self.default_mode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Strategy;

    fn settings(vars: &[(&str, &str)]) -> TlsSettings {
        let config = Config::from_lookup(Strategy::SingleUser, "", |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        })
        .expect("config");
        TlsSettings::from_config(&config).expect("trust store")
    }

    #[test]
    fn rds_anchors_are_trusted_unless_turned_off() {
        let rds = rds_ca::anchors_at(SystemTime::now()).trusted;
        assert!(!rds.is_empty());
        let on = settings(&[]);
        let missing = rds.iter().filter(|c| !on.roots.contains(c)).count();
        assert_eq!(
            missing, 0,
            "RDS anchors missing from the default trust store"
        );
        // rustls takes every one of them as a trust anchor.
        let (added, ignored) = RootCertStore::empty().add_parsable_certificates(rds.clone());
        assert_eq!((added, ignored), (rds.len(), 0));
        assert!(on.root_store().len() >= rds.len());

        for off in ["false", "0", "no"] {
            let settings = settings(&[("TRUST_RDS_CA", off)]);
            let present = rds_ca::embedded()
                .iter()
                .filter(|c| settings.roots.contains(c))
                .count();
            assert_eq!(present, 0, "TRUST_RDS_CA={off}");
            assert_eq!(settings.roots.len() + rds.len(), on.roots.len());
        }
    }
}
