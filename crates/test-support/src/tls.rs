//! A certificate authority made for one test run, and a server certificate it signed for
//! `localhost` and `127.0.0.1` (made with the `openssl` command).

use std::path::{Path, PathBuf};
use std::process::Command;
use tempfile::TempDir;

/// The environment variable naming a CA bundle that the shared database server's certificate
/// chains to (set by `cargo xtask test` for a pass whose shared server offers TLS). The
/// in-process rotators and the functions the tests start trust it as `CA_BUNDLE`, unless a
/// test gives a `CA_BUNDLE` of its own.
pub const CA_VAR: &str = "ROTATION_TEST_CA_BUNDLE";

/// The shared server's CA bundle, if the run has one.
pub fn shared_ca_bundle() -> Option<String> {
    std::env::var(CA_VAR).ok().filter(|v| !v.is_empty())
}

/// A CA and a server certificate, as PEM files in a private folder.
pub struct TestCa {
    dir: TempDir,
}

fn openssl(dir: &Path, args: &[&str]) -> Result<(), String> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("cannot run openssl (apt-get install openssl): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

impl TestCa {
    /// Make a new CA and server certificate.
    pub fn new() -> Result<TestCa, String> {
        let dir = tempfile::Builder::new()
            .prefix("rotation-test-ca-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let d = dir.path();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509"];
        ca.extend(ec);
        // A name of its own: a verifier that holds another run's CA of the same name would
        // try that one and report a bad signature, not an unknown issuer.
        let subject = format!("/CN=rotation-lambdas test CA {}", crate::unique(""));
        ca.extend([
            "-keyout", "ca.key", "-out", "ca.pem", "-days", "3", "-subj", &subject,
        ]);
        openssl(d, &ca)?;
        let mut csr = vec!["req"];
        csr.extend(ec);
        csr.extend([
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ]);
        openssl(d, &csr)?;
        std::fs::write(
            d.join("ext.cnf"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )
        .map_err(|e| e.to_string())?;
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.pem",
                "-days",
                "3",
                "-extfile",
                "ext.cnf",
            ],
        )?;
        // PostgreSQL refuses a key file that others can read.
        set_mode(&d.join("server.key"), 0o600)?;
        Ok(TestCa { dir })
    }

    /// The CA certificate (what `CA_BUNDLE` points at).
    pub fn ca_pem(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The server certificate.
    pub fn server_cert(&self) -> PathBuf {
        self.dir.path().join("server.pem")
    }

    /// The server key.
    pub fn server_key(&self) -> PathBuf {
        self.dir.path().join("server.key")
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| e.to_string())
}
