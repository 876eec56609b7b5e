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

/// `target/tools`, where project-local tools live.
pub fn tools_dir() -> PathBuf {
    workspace_root().join("target").join("tools")
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
