//! The check of the AWS CDK example in `deploy/examples/cdk`, run by `cargo xtask test`: install
//! its npm packages (once per lock file), type-check it, synthesize both of its variants (code
//! from a zip, and the Serverless Application Repository) without touching the network or an
//! AWS account, and lint the templates with cfn-lint.

use crate::dist;
use crate::tools::{self, run, workspace_root};
use anyhow::{Context, Result, ensure};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where the example lives, relative to the workspace root.
const EXAMPLE: &str = "deploy/examples/cdk";

/// Written into `node_modules` after `npm ci`: the hash of the files it installed from, so a
/// later run skips `npm ci` (ten seconds or more) while they have not changed.
const STAMP: &str = ".xtask-installed";

/// Synthesize and lint the CDK example.
pub fn check() -> Result<()> {
    let root = workspace_root();
    let example = root.join(EXAMPLE);
    let work = root.join("target").join("cdk");
    require_node()?;
    npm_ci(&example)?;

    // Once here rather than in every synthesis: type-checking aws-cdk-lib's declarations is
    // most of the time a synthesis takes, and the two below then run with --transpile-only.
    eprintln!("xtask: cdk example: tsc --noEmit");
    run(Command::new(example.join("node_modules/.bin/tsc"))
        .current_dir(&example)
        .args(["--noEmit", "-p", "."]))
    .with_context(|| format!("the CDK example in {EXAMPLE} does not type-check"))?;

    let (zip, arch) = zip_for_synth(&dist::dist_dir(), &work)?;
    let variants: [(&str, Vec<String>); 2] = [
        (
            "zip",
            vec![
                "source=zip".into(),
                format!("zip={}", zip.display()),
                format!("architecture={arch}"),
            ],
        ),
        ("sar", vec!["source=sar".into()]),
    ];
    let mut templates = Vec::new();
    for (name, context) in &variants {
        let out = work.join(name).join("cdk.out");
        synth(&example, &out, context)
            .with_context(|| format!("cdk synth of {EXAMPLE} (source={name}) failed"))?;
        let template = out.join("RotationExample.template.json");
        ensure!(
            template.is_file(),
            "cdk synth (source={name}) wrote no {}; has the stack been renamed?",
            template.display()
        );
        templates.push(template);
    }

    // aws-sam-translator: the SAR variant uses the SAM transform, which cfn-lint expands.
    tools::ensure_python_tools(&["cfn-lint", "aws-sam-translator"])?;
    let cfn_lint = tools::venv_bin("cfn-lint");
    let status = Command::new(&cfn_lint)
        .current_dir(&root)
        // W3005 (a DependsOn that a Ref or GetAtt already implies): aws-cdk-lib's Function
        // always writes DependsOn its role next to the GetAtt of the role's ARN. It is
        // harmless, and not something the example can change.
        .args(["--include-checks", "I", "--ignore-checks", "W3005", "--"])
        .args(&templates)
        .status()
        .with_context(|| format!("could not start {}", cfn_lint.display()))?;
    ensure!(
        status.success(),
        "cfn-lint reported the findings above in the CDK example's templates ({status}); fix \
         {EXAMPLE}/lib/rotation-stack.ts and run `cargo xtask test` again"
    );
    eprintln!(
        "xtask: cdk example: {} synthesized templates, no cfn-lint findings",
        templates.len()
    );
    Ok(())
}

/// Fail with an instruction when node or npm is missing, rather than skip: a check that can
/// silently not run is no check.
fn require_node() -> Result<()> {
    for tool in ["node", "npm"] {
        let found = Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ensure!(
            found,
            "{tool} is not on PATH, and the CDK example in {EXAMPLE} needs it: install Node.js \
             20 or later with npm (for example `apt-get install nodejs npm`, or from nodejs.org)"
        );
    }
    Ok(())
}

/// `npm ci`, unless `node_modules` already holds what the lock file names.
fn npm_ci(example: &Path) -> Result<()> {
    let mut hash = Sha256::new();
    for file in ["package.json", "package-lock.json"] {
        let path = example.join(file);
        hash.update(
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?,
        );
    }
    let wanted = dist::hex(&hash.finalize());
    let stamp = example.join("node_modules").join(STAMP);
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == wanted) {
        return Ok(());
    }
    eprintln!("xtask: cdk example: npm ci (once per package-lock.json)");
    // --ignore-scripts: none of the packages needs an install script, so none gets to run.
    run(Command::new("npm").current_dir(example).args([
        "ci",
        "--ignore-scripts",
        "--no-audit",
        "--no-fund",
        "--loglevel=error",
    ]))
    .with_context(|| format!("npm ci in {EXAMPLE} failed; the first run needs the npm registry"))?;
    std::fs::write(&stamp, format!("{wanted}\n"))?;
    Ok(())
}

/// The zip the zip variant is synthesized with, and its architecture: a built
/// mysql-single-user zip when there is one, else a placeholder. Synthesis only hashes the
/// file, so the placeholder gives the same template but for the asset's hash.
fn zip_for_synth(dist: &Path, work: &Path) -> Result<(PathBuf, &'static str)> {
    for arch in ["arm64", "x86_64"] {
        let built = dist.join(format!("mysql-single-user-{arch}.zip"));
        if built.is_file() {
            return Ok((built, arch));
        }
    }
    let placeholder = work.join("placeholder-arm64.zip");
    std::fs::create_dir_all(work)?;
    let mut w = zip::ZipWriter::new(std::fs::File::create(&placeholder)?);
    w.start_file(
        "bootstrap",
        zip::write::SimpleFileOptions::default()
            .last_modified_time(zip::DateTime::default())
            .unix_permissions(0o755),
    )?;
    w.write_all(
        b"#!/bin/sh\necho 'placeholder for cdk synth; run cargo xtask dist' >&2\nexit 1\n",
    )?;
    w.finish()?;
    Ok((placeholder, "arm64"))
}

/// `cdk synth` into `out`, offline: no version check, notices, telemetry, context lookups or
/// AWS credentials (the stack names no account or region, so nothing needs them).
fn synth(example: &Path, out: &Path, context: &[String]) -> Result<()> {
    if out.exists() {
        std::fs::remove_dir_all(out)
            .with_context(|| format!("could not remove {}", out.display()))?;
    }
    eprintln!("xtask: cdk example: cdk synth {}", context.join(" "));
    let mut cmd = Command::new(example.join("node_modules/.bin/cdk"));
    cmd.current_dir(example)
        .args(["synth", "--quiet", "--no-notices", "--no-version-reporting"])
        .args(["--no-lookups", "--no-staging", "--app"])
        .arg("node_modules/.bin/ts-node --transpile-only bin/app.ts")
        .arg("--output")
        .arg(out)
        .env("CDK_DISABLE_VERSION_CHECK", "1")
        .env("CDK_DISABLE_CLI_TELEMETRY", "true")
        // Without credentials the CLI looks up no default account, so it calls neither STS nor
        // the EC2 instance metadata service.
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", out.join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            out.join("no-aws-credentials"),
        );
    for var in [
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    ] {
        cmd.env_remove(var);
    }
    for pair in context {
        cmd.arg("--context").arg(pair);
    }
    run(&mut cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholder_zip_when_nothing_is_built() {
        let base = std::env::temp_dir().join(format!("xtask-cdk-{}", std::process::id()));
        let (dist, work) = (base.join("dist"), base.join("work"));
        std::fs::create_dir_all(&dist).expect("temp dir");

        let (zip, arch) = zip_for_synth(&dist, &work).expect("placeholder");
        assert_eq!(
            (zip.clone(), arch),
            (work.join("placeholder-arm64.zip"), "arm64")
        );
        let mut archive =
            zip::ZipArchive::new(std::fs::File::open(&zip).expect("open")).expect("a zip");
        let entry = archive.by_name("bootstrap").expect("bootstrap");
        assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(0o755));
        drop(entry);

        let built = dist.join("mysql-single-user-x86_64.zip");
        std::fs::write(&built, b"").expect("write");
        assert_eq!(
            zip_for_synth(&dist, &work).expect("built"),
            (built, "x86_64")
        );
        let _ = std::fs::remove_dir_all(&base);
    }
}
