//! The shipped binaries trust AWS's Amazon RDS certificate authorities with no configuration:
//! no `CA_BUNDLE`, no `ca-bundle.pem` in the zip.
//!
//! A chain that really ends at an RDS root needs AWS's private keys, and a self-made CA that
//! borrows an RDS root's name is, rightly, not trusted: that it fails proves nothing. *How* it
//! fails does. rustls finds the trust anchor for a certificate by its issuer's name, then
//! checks the signature with that anchor's key. With the RDS roots trusted, the name is found
//! and the check against AWS's real key fails: `BadSignature`. Without them
//! (`TRUST_RDS_CA=false`), no anchor has that name: `UnknownIssuer`. The first answer can only
//! come from a trust store that holds an anchor named exactly like AWS's root; the PEM it is
//! embedded from is checked by subject and fingerprint in `rotation-core`'s unit tests.
//!
//! And the init log of every zip counts the anchors by origin.

use serde_json::{Value, json};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use test_support::lambda::Function;
use test_support::secrets::Sm;

/// The committed RDS CA set, as the functions embed it (`rds-ca.der` is its DER twin).
const RDS_PEM: &str = include_str!("../../crates/rotation-core/rds-ca/rds-ca.pem");

/// One certificate of [`RDS_PEM`]: its name, its notAfter and the PEM block.
struct RdsCert {
    name: String,
    not_after: String,
    pem: String,
}

fn rds_certs() -> Vec<RdsCert> {
    let lines: Vec<&str> = RDS_PEM.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if *line != "-----BEGIN CERTIFICATE-----" {
            continue;
        }
        let end = lines[i..]
            .iter()
            .position(|l| *l == "-----END CERTIFICATE-----")
            .expect("END line");
        let name = lines[i - 2].strip_prefix("# ").expect("name comment");
        let not_after = lines[i - 1]
            .strip_prefix("# not after ")
            .and_then(|s| s.split(',').next())
            .expect("expiry comment");
        out.push(RdsCert {
            name: name.to_owned(),
            not_after: not_after.to_owned(),
            pem: lines[i..=i + end].join("\n") + "\n",
        });
    }
    assert!(out.len() > 3, "rds-ca.pem holds the RDS set");
    out
}

/// The certificates of [`RDS_PEM`] that have not expired (the comments' dates compare as
/// text with `date -u` in the same format).
fn rds_valid_now() -> usize {
    let out = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M:%SZ"])
        .output()
        .expect("date");
    let now = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(now.len(), 20, "date printed {now:?}");
    rds_certs().iter().filter(|c| c.not_after > now).count()
}

fn zip_dir() -> PathBuf {
    PathBuf::from(test_support::required_env("ROTATION_TEST_ZIP_DIR"))
}

/// Unpack `bootstrap` from `zip` into a new folder (and check that the zip ships no bundle).
fn unpack(zip: &Path) -> PathBuf {
    let mut archive =
        zip::ZipArchive::new(std::fs::File::open(zip).expect("zip")).expect("zip format");
    assert!(
        archive.by_name("ca-bundle.pem").is_err(),
        "{}: built with --ca-bundle; these tests need a zip without one",
        zip.display()
    );
    let mut bytes = Vec::new();
    archive
        .by_name("bootstrap")
        .expect("bootstrap entry")
        .read_to_end(&mut bytes)
        .expect("read");
    let dir = std::env::temp_dir().join(test_support::unique("rotation-rds-ca-"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let binary = dir.join("bootstrap");
    std::fs::write(&binary, bytes).expect("unzip");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    binary
}

/// The `trust store built` line of a function's init, as JSON (at debug level, init gathers
/// the store to log it; otherwise the first certificate to check does).
fn trust_store_line(f: &Function, what: &str) -> Value {
    f.api
        .wait_first_poll(Duration::from_secs(30))
        .unwrap_or_else(|| panic!("{what}: never polled the Runtime API\n{}", f.output()));
    // The output is read by threads; give them a moment to catch up with the first poll.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let output = f.output();
        let line = output
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v["message"] == "trust store built");
        if let Some(line) = line {
            return line;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: no 'trust store built' line at debug level\n{output}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn every_zip_trusts_the_rds_roots_unless_told_not_to() {
    let expected = rds_valid_now();
    let qemu = PathBuf::from("/usr/bin/qemu-aarch64-static");
    let mut checked = 0;
    let mut zips: Vec<PathBuf> = std::fs::read_dir(zip_dir())
        .expect("zip dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "zip"))
        .collect();
    zips.sort();
    for zip in zips {
        let name = zip.file_name().and_then(|n| n.to_str()).expect("name");
        let binary = unpack(&zip);
        let runner =
            (name.ends_with("-arm64.zip") && std::env::consts::ARCH != "aarch64").then(|| {
                assert!(
                    qemu.exists(),
                    "arm64 zips run under qemu: apt-get install qemu-user-static"
                );
                qemu.as_path()
            });
        for (trust, rds) in [(None, expected), (Some("false"), 0)] {
            let mut env = vec![("LOG_LEVEL", "debug")];
            env.extend(trust.map(|v| ("TRUST_RDS_CA", v)));
            // No moto needed: init reads no secret.
            let f = Function::spawn_under(runner, &binary, "http://127.0.0.1:9", &env);
            let what = format!("{name} with TRUST_RDS_CA={trust:?}");
            let line = trust_store_line(&f, &what);
            assert_eq!(line["rds"], json!(rds), "{what}: {line}");
            assert_eq!(line["rds_expired"], json!(0), "{what}: {line}");
            assert_eq!(
                line["trust_rds_ca"],
                json!(trust.is_none()),
                "{what}: {line}"
            );
            // Nothing but the system roots and the embedded set.
            assert_eq!(line["named"], json!(0), "{what}: {line}");
        }
        let _ = std::fs::remove_dir_all(binary.parent().expect("dir"));
        checked += 1;
    }
    assert!(checked > 0, "no zips in {}", zip_dir().display());
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `openssl s_server` with a certificate for `localhost` issued by a self-made CA that bears
/// the name (the whole subject, byte for byte) of the RDS root `real`. Killed when dropped.
struct ImpostorServer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl ImpostorServer {
    fn start(real: &RdsCert) -> ImpostorServer {
        let dir = std::env::temp_dir().join(test_support::unique("rotation-rds-impostor-"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("real.pem"), &real.pem).expect("write");
        // The impostor's key is of the real root's family, so that the signature check is
        // attempted (and fails) rather than refused for an algorithm mismatch.
        let (key, digest): (&[&str], &str) = if real.name.contains("ECC") {
            (
                &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
                "-sha384",
            )
        } else {
            (
                &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
                "-sha256",
            )
        };
        let mut genpkey = vec!["genpkey", "-out", "impostor.key"];
        genpkey.extend(key);
        openssl(&dir, &genpkey);
        // The real certificate, re-signed with the impostor's key: same subject bytes.
        openssl(
            &dir,
            &[
                "x509",
                "-in",
                "real.pem",
                "-signkey",
                "impostor.key",
                "-days",
                "2",
                digest,
                "-out",
                "impostor.pem",
            ],
        );
        openssl(
            &dir,
            &[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=localhost",
            ],
        );
        std::fs::write(
            dir.join("ext.cnf"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .expect("write");
        openssl(
            &dir,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "impostor.pem",
                "-CAkey",
                "impostor.key",
                "-CAcreateserial",
                "-days",
                "2",
                digest,
                "-extfile",
                "ext.cnf",
                "-out",
                "server.pem",
            ],
        );
        let port = test_support::net::free_port();
        let child = Command::new("openssl")
            .args(["s_server", "-quiet", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-cert", "server.pem", "-key", "server.key"])
            .current_dir(&dir)
            // s_server reads commands from stdin: keep it open, and quiet.
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl s_server");
        test_support::net::wait_for_port(port, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("openssl s_server: {e}"));
        ImpostorServer { child, port, dir }
    }
}

impl Drop for ImpostorServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The `TlsError` message of a rotation against `server`.
async fn tls_error(
    sm: &Sm,
    binary: &Path,
    server: &ImpostorServer,
    env: &[(&str, &str)],
) -> String {
    let secret = json!({
        "engine": "redis", "host": "localhost", "port": server.port,
        "username": "app", "password": "Not-a-real-password-1", "ssl": true,
    });
    let arn = sm.create("rds-ca-", &secret).await;
    let token = sm.start_rotation(&arn).await;
    let f = Function::spawn(binary, &sm.url, env);
    tokio::task::block_in_place(|| {
        f.invoke(&arn, &token, "createSecret")
            .expect_ok("createSecret");
        let (error_type, message) = f.invoke(&arn, &token, "setSecret").expect_err("setSecret");
        assert_eq!(error_type, "TlsError", "{message}\n{}", f.output());
        message
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shipped_bootstrap_checks_signatures_against_the_real_rds_roots() {
    let sm = Sm::from_env();
    let binary = unpack(&zip_dir().join("redis-single-user-x86_64.zip"));
    let certs = rds_certs();
    for kind in ["RSA2048 G1", "RSA4096 G1", "ECC384 G1"] {
        let name = format!("Amazon RDS us-east-1 Root CA {kind}");
        let real = certs
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("{name} is not in rds-ca.pem"));
        let server = ImpostorServer::start(real);
        let trusted = tls_error(&sm, &binary, &server, &[]).await;
        assert!(
            trusted.contains("BadSignature") && !trusted.contains("UnknownIssuer"),
            "{name}: with the RDS roots trusted, the impostor's signature is checked against \
             AWS's key and fails: {trusted}"
        );
        let untrusted = tls_error(&sm, &binary, &server, &[("TRUST_RDS_CA", "false")]).await;
        assert!(
            untrusted.contains("UnknownIssuer"),
            "{name}: with TRUST_RDS_CA=false no anchor bears the name: {untrusted}"
        );
    }
    let _ = std::fs::remove_dir_all(binary.parent().expect("dir"));
}
