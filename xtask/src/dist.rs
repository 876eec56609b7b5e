//! `cargo xtask dist`: build every function's release `bootstrap` for `provided.al2023` and zip
//! it into `target/dist/<function>-<arch>.zip`, with `SHA256SUMS`.
//!
//! Binaries are static musl builds (so the glibc of the Lambda image does not matter), cross
//! compiled with `cargo zigbuild`, whose zig comes from PyPI into the project-local tools venv.
//! Zips are reproducible: fixed timestamps and permissions, sorted entries, and no local paths
//! in the binaries (`--remap-path-prefix`). Each zip gets a CycloneDX SBOM beside it.

use crate::tools::{self, run, workspace_root};
use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

pub use rotation_functions::Arch;

/// Every function as (name, package that holds its binary), from [`rotation_functions::FUNCTIONS`].
pub const FUNCTIONS: [(&str, &str); rotation_functions::FUNCTIONS.len()] = {
    let table = rotation_functions::FUNCTIONS;
    let mut out = [("", ""); rotation_functions::FUNCTIONS.len()];
    let mut i = 0;
    while i < out.len() {
        out[i] = (table[i].name, table[i].package);
        i += 1;
    }
    out
};

/// Parse `--arch`: one architecture, or `all`.
fn parse_arches(s: &str) -> Result<Vec<Arch>> {
    match s {
        "all" => Ok(Arch::ALL.to_vec()),
        one => match Arch::parse(one) {
            Some(arch) => Ok(vec![arch]),
            None => bail!("--arch {one:?}: expected x86_64, arm64 or all"),
        },
    }
}

/// What `dist` was asked to build.
#[derive(Debug, Clone)]
pub struct Options {
    /// Architectures.
    pub arches: Vec<Arch>,
    /// Function names.
    pub functions: Vec<String>,
    /// A PEM bundle to place in every zip.
    pub ca_bundle: Option<PathBuf>,
    /// Also build `rotation-core`'s `panic-probe` binary (for the tests) with the same
    /// profile and target.
    pub panic_probe: bool,
}

impl Options {
    /// Parse `[--arch A] [--function F…] [--ca-bundle PEM]`.
    pub fn parse(args: &[String]) -> Result<Options> {
        let mut opts = Options {
            arches: Arch::ALL.to_vec(),
            functions: Vec::new(),
            ca_bundle: None,
            panic_probe: false,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = |flag: &str| {
                it.next()
                    .cloned()
                    .with_context(|| format!("{flag} needs a value"))
            };
            match a.as_str() {
                "--arch" => opts.arches = parse_arches(&value("--arch")?)?,
                "--function" => opts.functions.push(value("--function")?),
                "--ca-bundle" => opts.ca_bundle = Some(PathBuf::from(value("--ca-bundle")?)),
                other => bail!(
                    "unknown option {other:?}; usage: cargo xtask dist [--arch x86_64|arm64|all] [--function NAME]… [--ca-bundle PEM]"
                ),
            }
        }
        for f in &opts.functions {
            if rotation_functions::function(f).is_none() {
                let names: Vec<_> = rotation_functions::names().collect();
                bail!(
                    "unknown function {f:?}; expected one of {}",
                    names.join(", ")
                );
            }
        }
        if opts.functions.is_empty() {
            opts.functions = rotation_functions::names().map(str::to_owned).collect();
        }
        Ok(opts)
    }
}

/// One built artifact.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// Function name.
    pub function: String,
    /// Architecture.
    pub arch: Arch,
    /// The zip.
    pub zip: PathBuf,
    /// Zip size in bytes.
    pub zip_size: u64,
    /// Binary size in bytes.
    pub binary_size: u64,
    /// sha256 of the zip.
    pub sha256: String,
}

/// Entry point of `cargo xtask dist`.
pub fn run_cli(args: &[String]) -> Result<()> {
    let opts = Options::parse(args)?;
    let artifacts = build(&opts)?;
    print_table(&artifacts);
    Ok(())
}

/// The folder zips are written to.
pub fn dist_dir() -> PathBuf {
    workspace_root().join("target").join("dist")
}

/// Install what the cross build needs: the Rust targets, and zig + cargo-zigbuild in the
/// tools venv.
fn ensure_toolchain(arches: &[Arch]) -> Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("rustup is needed to add the musl targets")?;
    let installed = String::from_utf8_lossy(&installed.stdout);
    for arch in arches {
        if !installed.lines().any(|l| l.trim() == arch.triple()) {
            eprintln!("xtask: rustup target add {}", arch.triple());
            run(Command::new("rustup").args(["target", "add", arch.triple()]))?;
        }
    }
    tools::ensure_python_tools(&["ziglang", "cargo-zigbuild"])?;
    tools::ensure_cargo_tools(&["cargo-cyclonedx"])
}

/// A CycloneDX SBOM of each function's binary, as `<function>-<arch>.cdx.json` next to its zip.
/// cargo-cyclonedx writes one file per binary into each package folder; they are moved out
/// (and the ones not asked for removed) so the source tree stays clean.
fn write_sboms(root: &Path, arch: Arch, functions: &[String], out: &Path) -> Result<()> {
    eprintln!("xtask: writing SBOMs for {}", arch.as_str());
    run(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(root)
            .env("PATH", tools::tools_path()?)
            .args([
                "cyclonedx",
                "--quiet",
                "--format",
                "json",
                "--describe",
                "binaries",
            ])
            .args([
                "--spec-version",
                "1.5",
                "--no-build-deps",
                "--target",
                arch.triple(),
            ]),
    )
    .context("cargo cyclonedx failed")?;
    for dir in [root.join("xtask"), root.join("tests")]
        .into_iter()
        .chain(std::fs::read_dir(root.join("crates"))?.filter_map(|e| e.ok().map(|e| e.path())))
    {
        for entry in std::fs::read_dir(&dir)?.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(bin) = name.strip_suffix("_bin.cdx.json") else {
                continue;
            };
            if functions.iter().any(|f| f == bin) {
                std::fs::rename(
                    entry.path(),
                    out.join(format!("{bin}-{}.cdx.json", arch.as_str())),
                )?;
            } else {
                std::fs::remove_file(entry.path())?;
            }
        }
    }
    Ok(())
}

/// Build and zip. Returns one artifact per function and architecture.
pub fn build(opts: &Options) -> Result<Vec<Artifact>> {
    ensure_toolchain(&opts.arches)?;
    let root = workspace_root();
    let out = dist_dir();
    std::fs::create_dir_all(&out)?;
    let ca = match &opts.ca_bundle {
        Some(p) => Some(std::fs::read(p).with_context(|| format!("--ca-bundle {}", p.display()))?),
        None => None,
    };
    let mut artifacts = Vec::new();
    for &arch in &opts.arches {
        eprintln!(
            "xtask: building {} for {} ({}); a cold build takes several minutes",
            opts.functions.join(", "),
            arch.as_str(),
            arch.triple()
        );
        // One cargo invocation per package: cargo unifies the features of the packages one
        // invocation builds (mysql_async turns on tokio-rustls' `aws_lc_rs` and hashbrown's
        // default hasher, which the PostgreSQL and Redis crates do not ask for), so building
        // them together would make a function's bytes depend on which others were built.
        let mut packages: Vec<&str> = Vec::new();
        for f in &opts.functions {
            let package = rotation_functions::function(f)
                .map(|f| f.package)
                .context("unknown function")?;
            if !packages.contains(&package) {
                packages.push(package);
            }
        }
        for package in packages {
            let bins: Vec<&str> = opts
                .functions
                .iter()
                .map(String::as_str)
                .filter(|f| rotation_functions::function(f).is_some_and(|f| f.package == package))
                .collect();
            cargo_build(&root, arch, &["--package", package], &bins)?;
        }
        if opts.panic_probe {
            cargo_build(
                &root,
                arch,
                &[
                    "--package",
                    "rotation-core",
                    "--bin",
                    "panic-probe",
                    "--features",
                    "panic-probe",
                ],
                &[],
            )?;
        }
        for f in &opts.functions {
            let binary = root
                .join("target")
                .join(arch.triple())
                .join("release")
                .join(f);
            let zip = out.join(format!("{f}-{}.zip", arch.as_str()));
            eprintln!("xtask: zipping {}", zip.display());
            write_zip(&zip, &binary, ca.as_deref())?;
            let zip_bytes = std::fs::read(&zip)?;
            artifacts.push(Artifact {
                function: f.clone(),
                arch,
                zip_size: zip_bytes.len() as u64,
                binary_size: std::fs::metadata(&binary)?.len(),
                sha256: hex(&Sha256::digest(&zip_bytes)),
                zip,
            });
        }
        write_sboms(&root, arch, &opts.functions, &out)?;
    }
    write_sums(&out)?;
    Ok(artifacts)
}

/// Where a target's release artifacts are.
pub fn release_dir(arch: Arch) -> PathBuf {
    workspace_root()
        .join("target")
        .join(arch.triple())
        .join("release")
}

/// One `cargo zigbuild --release` of `what` (a package, and what else to select) and its
/// binaries `bins`.
fn cargo_build(root: &Path, arch: Arch, what: &[&str], bins: &[&str]) -> Result<()> {
    let venv_bin = tools::venv_bin("python")
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![venv_bin];
    paths.extend(std::env::split_paths(&path));
    let cargo_home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|_| std::env::var("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_default();
    // No local path may end up in the binary: panics and debug info name sources by these
    // fixed prefixes instead.
    let rustflags = format!(
        "--remap-path-prefix={}=/build --remap-path-prefix={}=/cargo",
        root.display(),
        cargo_home.display()
    );
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root)
        .env("PATH", std::env::join_paths(paths)?)
        .env(
            format!(
                "CARGO_TARGET_{}_RUSTFLAGS",
                arch.triple().to_uppercase().replace('-', "_")
            ),
            rustflags,
        )
        .env("SOURCE_DATE_EPOCH", "315532800")
        .args([
            "zigbuild",
            "--release",
            "--locked",
            "--target",
            arch.triple(),
        ]);
    cmd.args(what);
    for bin in bins {
        cmd.args(["--bin", bin]);
    }
    run(&mut cmd).context("the release build failed")
}

/// Write a zip with fixed metadata: 1980-01-01 timestamps, `bootstrap` 0755, other files
/// 0644, entries sorted by name.
fn write_zip(zip: &Path, binary: &Path, ca: Option<&[u8]>) -> Result<()> {
    let bytes =
        std::fs::read(binary).with_context(|| format!("{} was not built", binary.display()))?;
    let mut entries: Vec<(&str, &[u8], u32)> = vec![("bootstrap", &bytes, 0o755)];
    if let Some(ca) = ca {
        entries.push(("ca-bundle.pem", ca, 0o644));
    }
    entries.sort_by_key(|(name, _, _)| *name);
    let file = std::fs::File::create(zip)?;
    let mut w = zip::ZipWriter::new(file);
    for (name, data, mode) in entries {
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(9))
            .last_modified_time(zip::DateTime::default())
            .unix_permissions(mode);
        w.start_file(name, options)?;
        w.write_all(data)?;
    }
    w.finish()?;
    Ok(())
}

/// `SHA256SUMS` over every zip in the folder, sorted by name.
fn write_sums(dir: &Path) -> Result<()> {
    let mut zips: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "zip"))
        .collect();
    zips.sort();
    let mut sums = String::new();
    for z in zips {
        let digest = hex(&Sha256::digest(std::fs::read(&z)?));
        let name = z
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        sums.push_str(&format!("{digest}  {name}\n"));
    }
    std::fs::write(dir.join("SHA256SUMS"), sums)?;
    Ok(())
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[allow(clippy::print_stdout)]
fn print_table(artifacts: &[Artifact]) {
    println!(
        "{:<28} {:<7} {:>10} {:>11}  sha256",
        "function", "arch", "zip", "binary"
    );
    for a in artifacts {
        println!(
            "{:<28} {:<7} {:>10} {:>11}  {}",
            a.function,
            a.arch.as_str(),
            human(a.zip_size),
            human(a.binary_size),
            a.sha256
        );
    }
}

/// Bytes as MiB with two decimals.
pub fn human(bytes: u64) -> String {
    format!("{:.2} MiB", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// What `cargo tree` resolves for `packages` built together for `arch`: each dependency
    /// (`name vX.Y.Z`) with its sorted, comma-joined features. The workspace's own crates are
    /// left out.
    fn resolved(arch: Arch, packages: &[&str]) -> BTreeMap<String, String> {
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.current_dir(workspace_root()).args([
            "tree",
            "--quiet",
            "--locked",
            "--offline",
            "--edges",
            "normal",
            "--prefix",
            "none",
            "--no-dedupe",
            "--format",
            "{p}|{f}",
            "--target",
            arch.triple(),
        ]);
        for p in packages {
            cmd.args(["--package", p]);
        }
        let out = cmd.output().expect("cargo tree runs");
        assert!(
            out.status.success(),
            "cargo tree failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut map = BTreeMap::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let Some((package, features)) = line.split_once('|') else {
                continue;
            };
            // "name v1.2.3 (proc-macro)" or "name v0.1.0 (/path)": the path marks our own.
            if package.contains("(/") {
                continue;
            }
            let key: String = package.split(' ').take(2).collect::<Vec<_>>().join(" ");
            let mut features: Vec<&str> = features.split(',').filter(|f| !f.is_empty()).collect();
            features.sort_unstable();
            map.insert(key, features.join(","));
        }
        assert!(
            map.len() > 50,
            "cargo tree listed the dependencies: {map:?}"
        );
        map
    }

    /// `dist` builds each engine package in its own cargo invocation, and rotation-core's panic
    /// probe in one more. Cargo unifies features within one invocation only, so a dependency
    /// two packages share is compiled once for both only if each package alone resolves it
    /// with the same features as all of them together. Where one does not, everything above that dependency (the AWS SDK, say) is
    /// compiled again for each package and architecture, and the release build's time grows
    /// by that much.
    #[test]
    fn every_engine_package_resolves_shared_dependencies_as_all_of_them_together() {
        // The engines, and rotation-core alone, as the panic probe is built.
        let mut packages: Vec<&str> = rotation_functions::Engine::ALL
            .iter()
            .map(|e| e.package())
            .collect();
        packages.push("rotation-core");
        for arch in Arch::ALL {
            let together = resolved(arch, &packages);
            let mut differences = Vec::new();
            for package in &packages {
                for (dependency, features) in resolved(arch, &[package]) {
                    let all = &together[&dependency];
                    if *all != features {
                        differences.push(format!(
                            "{package} alone builds {dependency} with [{features}], all engines together with [{all}]"
                        ));
                    }
                }
            }
            assert!(
                differences.is_empty(),
                "{}: ask for the missing features in the package that lacks them:\n{}",
                arch.as_str(),
                differences.join("\n")
            );
        }
    }
}
