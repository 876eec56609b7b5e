//! Every zip that `cargo xtask dist` built: fixed metadata, a static `bootstrap` for the right
//! machine, listed in `SHA256SUMS`, and serving a rotation event as Lambda would run it.

use crate::elf;
use serde_json::{Value, json};
use std::io::Read;
use std::path::{Path, PathBuf};
use test_support::lambda::Function;
use test_support::secrets::Sm;

use rotation_functions::{AdminUse, Arch, Engine};

struct Built {
    function: String,
    arch: String,
    zip: PathBuf,
}

fn built() -> Vec<Built> {
    let dir = PathBuf::from(test_support::required_env("ROTATION_TEST_ZIP_DIR"));
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let Some(stem) = name.strip_suffix(".zip") else {
            continue;
        };
        let (function, arch) = stem.rsplit_once('-').expect("<function>-<arch>.zip");
        out.push(Built {
            function: function.to_owned(),
            arch: arch.to_owned(),
            zip: path,
        });
    }
    out.sort_by(|a, b| (&a.function, &a.arch).cmp(&(&b.function, &b.arch)));
    out
}

fn bootstrap(zip: &Path) -> Vec<u8> {
    let mut archive =
        zip::ZipArchive::new(std::fs::File::open(zip).expect("zip")).expect("zip format");
    let mut entry = archive.by_name("bootstrap").expect("bootstrap entry");
    let mut bytes = Vec::new();
    entry.read_to_end(&mut bytes).expect("read");
    bytes
}

#[test]
fn the_expected_zips_exist() {
    let built = built();
    let expected = test_support::required_env("ROTATION_TEST_EXPECT_ZIPS");
    for want in expected.split(',') {
        assert!(
            built
                .iter()
                .any(|b| format!("{}-{}", b.function, b.arch) == want),
            "{want}.zip was not built"
        );
    }
    for b in &built {
        assert!(
            rotation_functions::function(&b.function).is_some(),
            "unexpected zip {}",
            b.zip.display()
        );
        assert!(Arch::parse(&b.arch).is_some(), "arch {}", b.arch);
    }
}

#[test]
fn zips_have_fixed_metadata_and_are_in_sha256sums() {
    let built = built();
    let dir = PathBuf::from(test_support::required_env("ROTATION_TEST_ZIP_DIR"));
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).expect("SHA256SUMS");
    for b in &built {
        let mut archive =
            zip::ZipArchive::new(std::fs::File::open(&b.zip).expect("zip")).expect("zip");
        let names: Vec<String> = archive
            .file_names()
            .map(|n| n.expect("entry name").into_owned())
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted, "{}: entries are sorted", b.zip.display());
        for i in 0..archive.len() {
            let entry = archive.by_index(i).expect("entry");
            let modified = entry.last_modified().expect("timestamp");
            assert_eq!(
                (modified.year(), modified.month(), modified.day()),
                (1980, 1, 1),
                "fixed timestamp"
            );
            let mode = entry.unix_mode().expect("unix mode") & 0o777;
            let name = entry.name().expect("entry name").into_owned();
            let want = if name == "bootstrap" { 0o755 } else { 0o644 };
            assert_eq!(mode, want, "{}: {name}", b.zip.display());
        }
        let name = b.zip.file_name().and_then(|n| n.to_str()).expect("name");
        let line = sums
            .lines()
            .find(|l| l.ends_with(&format!("  {name}")))
            .unwrap_or_else(|| panic!("{name} is not in SHA256SUMS"));
        let listed = line.split_whitespace().next().expect("hash");
        let bytes = std::fs::read(&b.zip).expect("zip bytes");
        let actual = sha256_hex(&bytes);
        assert_eq!(listed, actual, "{name}: SHA256SUMS matches");
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    let out = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().expect("stdin").write_all(bytes)?;
            c.wait_with_output()
        })
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn binaries_are_static_and_for_their_architecture() {
    for b in built() {
        let l = elf::linkage(&bootstrap(&b.zip));
        let machine = Arch::parse(&b.arch).expect("arch").elf_machine();
        assert_eq!(l.machine, machine, "{}: ELF machine", b.zip.display());
        assert!(
            !l.interpreter,
            "{}: asks for a dynamic loader",
            b.zip.display()
        );
        assert_eq!(l.needed, 0, "{}: needs shared libraries", b.zip.display());
    }
}

/// A secret for the function's engine, as the shared test servers' admin; alternating users
/// name `masterarn` (read at createSecret, never logged in with here).
fn secret_for(function: &str, masterarn: &str) -> Value {
    let f = rotation_functions::function(function).expect("a function of the table");
    let engine = f.engine.engines()[0];
    let (port, user, password) = if f.engine == Engine::MySql {
        let s = test_support::mariadb::MariaDb::from_env();
        (s.port, s.admin_user, s.admin_password)
    } else if f.engine == Engine::Postgres {
        let s = test_support::postgres::Postgres::from_env();
        (s.port, s.admin_user.clone(), s.admin_password.clone())
    } else {
        let s = test_support::redis::Redis::from_env();
        (s.port, s.admin_user, s.admin_password)
    };
    let mut v = json!({"engine": engine, "host": "127.0.0.1", "port": port, "username": user, "password": password, "ssl": false});
    if f.admin == AdminUse::Always {
        v["masterarn"] = json!(masterarn);
    }
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn every_zip_serves_a_rotation_event() {
    let sm = Sm::from_env();
    // createSecret reads the admin secret to check that it is not the rotated user, so it
    // must exist and name another user.
    let master = sm
        .create(
            "zips-master-",
            &json!({"username": "zips-admin", "password": "Unused-pw-1"}),
        )
        .await;
    let qemu = PathBuf::from("/usr/bin/qemu-aarch64-static");
    for b in built() {
        let dir = tempfile_dir();
        let binary = dir.join("bootstrap");
        std::fs::write(&binary, bootstrap(&b.zip)).expect("unzip");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let runner =
            if Arch::parse(&b.arch) == Some(Arch::Arm64) && std::env::consts::ARCH != "aarch64" {
                assert!(
                    qemu.exists(),
                    "arm64 zips run under qemu: apt-get install qemu-user-static"
                );
                Some(qemu.as_path())
            } else {
                None
            };
        let arn = sm.create("zip-", &secret_for(&b.function, &master)).await;
        let token = sm.start_rotation(&arn).await;
        let f = Function::spawn_under(runner, &binary, &sm.url, &[]);
        tokio::task::block_in_place(|| f.invoke(&arn, &token, "createSecret"))
            .expect_ok(&format!("{}-{}", b.function, b.arch));
        let pending = sm.value(&arn, "AWSPENDING", Some(&token)).await;
        assert!(
            pending.is_some(),
            "{}-{}: the new version was stored",
            b.function,
            b.arch
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(test_support::unique("rotation-zip-"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
