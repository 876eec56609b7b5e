//! The trust store every engine verifies server certificates against: the system roots, plus
//! the PEM file named by `CA_BUNDLE`, plus `ca-bundle.pem` shipped next to `bootstrap` in the
//! zip (`cargo xtask dist --ca-bundle`).

use crate::config::{Config, ConfigError};
use crate::secret::SslMode;
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

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
        roots.extend(native.certs);
        if let Some(path) = &config.ca_bundle {
            roots.extend(read_pem(path, "CA_BUNDLE")?);
        }
        let task_root = std::env::var_os("LAMBDA_TASK_ROOT").map(PathBuf::from);
        if let Some(bundled) = task_root.map(|r| r.join(BUNDLED_CA_FILE))
            && bundled.exists()
        {
            roots.extend(read_pem(&bundled, "LAMBDA_TASK_ROOT")?);
        }
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

    /// The mode for a secret: its `ssl` key, or the default.
    pub fn mode_for(&self, secret_ssl: Option<SslMode>) -> SslMode {
        secret_ssl.unwrap_or(self.default_mode)
    }
}
