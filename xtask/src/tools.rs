//! Project-local tools: a Python virtual environment under `target/tools/venv` that holds the
//! PyPI tools the build and the tests use (moto, cfn-lint, ziglang, cargo-zigbuild), so that
//! nothing is installed system-wide and a fresh clone provisions itself.

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

/// Make sure the tools venv exists and holds `packages` (pip requirement strings).
/// Each package is checked with `pip show` first, so a provisioned venv costs a second.
pub fn ensure_python_tools(packages: &[&str]) -> Result<()> {
    let venv = tools_dir().join("venv");
    if !venv.join("bin").join("python").exists() {
        eprintln!("xtask: creating Python venv at {}", venv.display());
        std::fs::create_dir_all(tools_dir())?;
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv))
            .context("python3 -m venv failed: install python3 and python3-venv")?;
    }
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| {
            let name = p.split(['[', '=', '<', '>']).next().unwrap_or(p);
            !Command::new(venv_bin("pip"))
                .args(["show", "-q", name])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
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

/// `cargo install` the named tools of [`CARGO_TOOLS`] that are missing (a few minutes each,
/// once per machine).
pub fn ensure_cargo_tools(names: &[&str]) -> Result<()> {
    for (name, version) in CARGO_TOOLS.iter().filter(|(n, _)| names.contains(n)) {
        if cargo_tools_bin().join(name).exists() {
            continue;
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
