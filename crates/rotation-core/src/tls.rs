//! The trust store every engine verifies server certificates against: the system roots, plus
//! AWS's Amazon RDS and Aurora certificate authorities embedded in the binary ([`rds_ca`];
//! `TRUST_RDS_CA=false` leaves them out), plus the PEM file named by `CA_BUNDLE`, plus
//! `ca-bundle.pem` shipped next to `bootstrap` in the zip (`cargo xtask dist --ca-bundle`).
//!
//! The RDS set is trusted by default because RDS and Aurora are what these functions rotate
//! most, and their certificates chain to no system root: without it, `"ssl": true` against
//! RDS would fail until someone supplied a bundle.
//!
//! Init reads only the bundles a user names (so a bad `CA_BUNDLE` fails at once, clearly),
//! and, when debug logging is on, gathers the whole store to log it.
//! The rustls configuration is built once per process, and its verifier gathers the system
//! roots and the RDS set at the first server certificate it checks: a rotation against a
//! server without TLS (whose TLS hello is refused) never pays for them, and no connection
//! parses the anchors again. The verification itself is rustls' WebPKI verifier's.

pub mod rds_ca;

use crate::config::{Config, ConfigError};
use crate::secret::SslMode;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

/// File name of the CA bundle that `cargo xtask dist --ca-bundle` puts in the zip.
pub const BUNDLED_CA_FILE: &str = "ca-bundle.pem";

/// TLS and connection settings handed to an engine. Clones share the trust store.
#[derive(Clone)]
pub struct TlsSettings {
    /// Used when a secret has no `ssl` key.
    pub default_mode: SslMode,
    /// Connect timeout.
    pub connect_timeout: Duration,
    trust: Arc<Trust>,
    client: Arc<OnceLock<Arc<rustls::ClientConfig>>>,
}

/// What is trusted: the named bundles, read at init; the rest gathered at first use.
struct Trust {
    trust_rds_ca: bool,
    /// `CA_BUNDLE`'s certificates, then the zip's `ca-bundle.pem`'s.
    named: Vec<CertificateDer<'static>>,
    roots: OnceLock<Vec<CertificateDer<'static>>>,
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings")
            .field("default_mode", &self.default_mode)
            .field("trust", &self.trust)
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

impl Trust {
    /// Every trusted root: the system's, the RDS set (unless `TRUST_RDS_CA` is false), and
    /// the named bundles'. Gathered at the first call, then kept.
    fn roots(&self) -> &[CertificateDer<'static>] {
        self.roots.get_or_init(|| {
            let native = rustls_native_certs::load_native_certs();
            if !native.errors.is_empty() {
                tracing::warn!(
                    errors = native.errors.len(),
                    "some system CA certificates could not be read"
                );
            }
            let system = native.certs.len();
            let mut roots = native.certs;
            let rds = match self.trust_rds_ca {
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
            roots.extend(self.named.iter().cloned());
            tracing::debug!(
                system,
                rds = rds_trusted,
                rds_expired,
                trust_rds_ca = self.trust_rds_ca,
                named = self.named.len(),
                "trust store built"
            );
            roots
        })
    }

    /// The rustls root store.
    fn root_store(&self) -> RootCertStore {
        let mut store = RootCertStore::empty();
        // Malformed system certificates are skipped, as every TLS client does.
        let _ = store.add_parsable_certificates(self.roots().iter().cloned());
        store
    }
}

/// rustls' WebPKI verifier over the trust store, built at the first certificate it must check.
/// The signature checks need no roots, and are the ones the WebPKI verifier makes.
#[derive(Debug)]
struct LazyVerifier {
    trust: Arc<Trust>,
    provider: Arc<CryptoProvider>,
    webpki: OnceLock<Result<Arc<WebPkiServerVerifier>, String>>,
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trust")
            .field("named", &self.named.len())
            .field("roots", &self.roots.get().map(Vec::len))
            .finish()
    }
}

impl LazyVerifier {
    fn webpki(&self) -> Result<&Arc<WebPkiServerVerifier>, rustls::Error> {
        self.webpki
            .get_or_init(|| {
                WebPkiServerVerifier::builder_with_provider(
                    Arc::new(self.trust.root_store()),
                    Arc::clone(&self.provider),
                )
                .build()
                .map_err(|e| format!("no certificate can be verified: {e}"))
            })
            .as_ref()
            .map_err(|e| rustls::Error::General(e.clone()))
    }
}

impl ServerCertVerifier for LazyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.webpki()?.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

impl TlsSettings {
    /// Build from the configuration. A `CA_BUNDLE` that cannot be read is an error; system
    /// roots that cannot be read are skipped (with a warning), since a CA bundle may be all
    /// that is needed.
    pub fn from_config(config: &Config) -> Result<TlsSettings, ConfigError> {
        install_crypto_provider();
        let mut named = Vec::new();
        if let Some(path) = &config.ca_bundle {
            named.extend(read_pem(path, "CA_BUNDLE")?);
        }
        let task_root = std::env::var_os("LAMBDA_TASK_ROOT").map(PathBuf::from);
        if let Some(path) = task_root.map(|r| r.join(BUNDLED_CA_FILE))
            && path.exists()
        {
            named.extend(read_pem(&path, "LAMBDA_TASK_ROOT")?);
        }
        let settings = TlsSettings {
            default_mode: config.tls_mode,
            connect_timeout: config.connect_timeout,
            trust: Arc::new(Trust {
                trust_rds_ca: config.trust_rds_ca,
                named,
                roots: OnceLock::new(),
            }),
            client: Arc::new(OnceLock::new()),
        };
        // Someone reading debug logs wants to see the trust store at once ("trust store
        // built"); everyone else pays for it at the first certificate, if ever.
        if tracing::enabled!(tracing::Level::DEBUG) {
            let _ = settings.roots();
        }
        Ok(settings)
    }

    /// Every trusted root, as DER: the system's, the RDS set (unless `TRUST_RDS_CA` is false),
    /// and the named bundles'. Gathered at the first call, then kept.
    pub fn roots(&self) -> &[CertificateDer<'static>] {
        self.trust.roots()
    }

    /// Whether [`TlsSettings::roots`] has gathered the roots yet.
    pub fn roots_gathered(&self) -> bool {
        self.trust.roots.get().is_some()
    }

    /// The rustls root store.
    pub fn root_store(&self) -> RootCertStore {
        self.trust.root_store()
    }

    /// A rustls client configuration that verifies certificates and host names: built at the
    /// first call, then shared. Its verifier gathers the roots at the first certificate.
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        Arc::clone(self.client.get_or_init(|| {
            install_crypto_provider();
            let provider = CryptoProvider::get_default()
                .cloned()
                .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
            let verifier = LazyVerifier {
                trust: Arc::clone(&self.trust),
                provider,
                webpki: OnceLock::new(),
            };
            Arc::new(
                rustls::ClientConfig::builder()
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(verifier))
                    .with_no_client_auth(),
            )
        }))
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
        let missing = rds.iter().filter(|c| !on.roots().contains(c)).count();
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
                .filter(|c| settings.roots().contains(c))
                .count();
            assert_eq!(present, 0, "TRUST_RDS_CA={off}");
            assert_eq!(settings.roots().len() + rds.len(), on.roots().len());
        }
    }

    #[test]
    fn the_trust_store_is_gathered_at_the_first_certificate_and_built_once() {
        let s = settings(&[]);
        assert!(!s.roots_gathered(), "init gathers no roots");
        let clone = s.clone();
        let first = s.client_config();
        assert!(!s.roots_gathered(), "a TLS hello needs no roots");
        assert!(Arc::ptr_eq(&first, &clone.client_config()), "built once");
        // A certificate to check gathers them, and one no root vouches for is refused.
        let verifier = LazyVerifier {
            trust: Arc::clone(&s.trust),
            provider: Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
            webpki: OnceLock::new(),
        };
        let stranger = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x00]);
        let name = ServerName::try_from("db.example.com").expect("name");
        let checked = verifier.verify_server_cert(&stranger, &[], &name, &[], UnixTime::now());
        assert!(checked.is_err(), "{checked:?}");
        assert!(s.roots_gathered() && clone.roots_gathered());
        assert!(!verifier.supported_verify_schemes().is_empty());
    }
}
