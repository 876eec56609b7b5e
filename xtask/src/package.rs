//! `cargo xtask package`: write the SAM templates of the six rotation functions.
//!
//! - `deploy/<function>/template.yaml`: the committed source templates, generated from
//!   [`template`] (one generator, so the six never drift apart).
//! - `target/deploy/<function>/template.yaml`: the packaged templates, pointing at the zips
//!   of one architecture, on disk or in S3.
//!
//! [`lint`] checks both with cfn-lint, and checks that the committed files are up to date;
//! `cargo xtask test` runs it, and `cargo xtask package --lint` runs it alone.

mod template;
mod yaml;

use anyhow::{Context, Result, bail, ensure};
use rotation_functions::{Arch, FUNCTIONS, Function};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use template::Artifacts;

use crate::tools;

const USAGE: &str = "usage: cargo xtask package [--arch arm64|x86_64] \
                     [--s3-bucket BUCKET [--s3-prefix PREFIX]] [--lint]";

/// Options of `cargo xtask package`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Options {
    arch: Arch,
    s3: Option<S3Location>,
    /// Run [`lint`] after writing: the template checks of `cargo xtask test`, without the rest.
    lint: bool,
}

/// Where the artifacts go when they are uploaded.
#[derive(Debug, Clone, PartialEq, Eq)]
struct S3Location {
    bucket: String,
    /// No leading or trailing slash; may be empty.
    prefix: String,
}

impl S3Location {
    fn uri(&self, file: &str) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}/{file}", self.bucket)
        } else {
            format!("s3://{}/{}/{file}", self.bucket, self.prefix)
        }
    }
}

impl Options {
    fn parse(args: &[String]) -> Result<Options> {
        let mut arch = Arch::Arm64;
        let mut bucket = None;
        let mut prefix = None;
        let mut lint = false;
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) => (flag, Some(value.to_owned())),
                None => (arg.as_str(), None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| args.next().cloned())
                    .with_context(|| format!("{flag} needs a value\n{USAGE}"))
            };
            match flag {
                "--arch" => {
                    let v = value()?;
                    arch = Arch::parse(&v)
                        .with_context(|| format!("--arch {v:?}: expected arm64 or x86_64"))?;
                }
                "--s3-bucket" => bucket = Some(value()?),
                "--s3-prefix" => prefix = Some(value()?),
                "--lint" => lint = true,
                "-h" | "--help" => bail!("{USAGE}"),
                other => bail!("unknown option {other:?}\n{USAGE}"),
            }
        }
        let s3 = match (bucket, prefix) {
            (Some(bucket), prefix) => {
                ensure!(
                    !bucket.is_empty() && !bucket.contains('/'),
                    "--s3-bucket {bucket:?}: give the bucket name only, without s3:// or a path"
                );
                let prefix = prefix.unwrap_or_default().trim_matches('/').to_owned();
                Some(S3Location { bucket, prefix })
            }
            (None, Some(_)) => bail!("--s3-prefix needs --s3-bucket\n{USAGE}"),
            (None, None) => None,
        };
        Ok(Options { arch, s3, lint })
    }
}

/// Entry point of `cargo xtask package`.
pub fn run(args: &[String]) -> Result<()> {
    let options = Options::parse(args)?;
    let root = tools::workspace_root();
    for f in FUNCTIONS {
        let path = source_path(&root, f);
        write(&path, &source_text(f))?;
        eprintln!("xtask: wrote {}", path.display());
    }
    let packaged_dir = root.join("target").join("deploy");
    for f in FUNCTIONS {
        let artifacts = packaged_artifacts(&root, f, &options)?;
        let path = packaged_dir.join(f.name).join("template.yaml");
        write(&path, &packaged_text(f, &artifacts, options.arch))?;
        eprintln!("xtask: wrote {}", path.display());
        let zip = zip_path(&root, f, options.arch);
        if !zip.exists() {
            eprintln!(
                "xtask: warning: {} does not exist yet: run `cargo xtask dist` before deploying",
                zip.display()
            );
        }
    }
    if !root.join("LICENSE").exists() {
        eprintln!(
            "xtask: warning: {} is missing; the SAR metadata's LicenseUrl points at it",
            root.join("LICENSE").display()
        );
    }
    if let Some(s3) = &options.s3 {
        print_upload_commands(&root, s3, options.arch);
    }
    if options.lint {
        lint()?;
    }
    Ok(())
}

/// Check the deploy templates: the committed ones are what the generator writes, and every
/// template in `deploy/` (examples included) and every packaged template passes cfn-lint with
/// no findings. The SAM templates are also translated to plain CloudFormation with the SAM
/// translator, and the result linted, since cfn-lint alone does not check some properties of
/// `AWS::Serverless::Function` (Runtime, Architectures).
pub fn lint() -> Result<()> {
    let root = tools::workspace_root();
    check_committed(&root)?;

    tools::ensure_python_tools(&["cfn-lint", "aws-sam-translator"])?;
    let work = root.join("target").join("deploy-lint");
    if work.exists() {
        std::fs::remove_dir_all(&work)
            .with_context(|| format!("could not remove {}", work.display()))?;
    }
    let helper = work.join("template_helper.py");
    write(&helper, PYTHON_HELPER)?;

    let generated = write_lint_variants(&root, &work)?;
    check_read_back(&root, &work, &helper, &generated)?;
    let translated = translate_sam(&root, &work, &helper, &generated)?;

    let mut files: Vec<PathBuf> = generated.into_iter().map(|(path, _)| path).collect();
    files.extend(translated);
    files.extend(example_templates(&root)?);
    // Exit code 0 means no finding at any level: errors, warnings or informational.
    let mut cfn_lint = Command::new(tools::venv_bin("cfn-lint"));
    cfn_lint
        .current_dir(&root)
        .args(["--include-checks", "I", "--"])
        .args(&files);
    let status = cfn_lint
        .status()
        .with_context(|| format!("could not start {}", tools::venv_bin("cfn-lint").display()))?;
    ensure!(
        status.success(),
        "cfn-lint reported the findings above ({status}). Fix generated templates in \
         xtask/src/package/template.rs; translated ones (SAM transform output) are in {}",
        work.join("translated").display()
    );
    eprintln!("xtask: cfn-lint: {} templates, no findings", files.len());
    Ok(())
}

/// The committed templates, and packaged templates for every architecture with local and
/// with S3 artifacts (written under `work`), each with the value it was rendered from.
fn write_lint_variants(root: &Path, work: &Path) -> Result<Vec<(PathBuf, Value)>> {
    let mut generated: Vec<(PathBuf, Value)> = FUNCTIONS
        .iter()
        .map(|&f| (source_path(root, f), source_value(f)))
        .collect();
    for arch in Arch::ALL {
        let s3 = S3Location {
            bucket: "example-bucket".into(),
            prefix: format!("rotation-lambdas/{}", template::VERSION),
        };
        for (kind, s3) in [("local", None), ("s3", Some(s3))] {
            let options = Options {
                arch,
                s3,
                lint: false,
            };
            for f in FUNCTIONS {
                let artifacts = packaged_artifacts(root, f, &options)?;
                let path = work
                    .join(format!("packaged-{kind}-{}", arch.as_str()))
                    .join(f.name)
                    .join("template.yaml");
                write(&path, &packaged_text(f, &artifacts, arch))?;
                generated.push((path, template::template(f, &artifacts)));
            }
        }
    }
    Ok(generated)
}

/// Read every generated file back the way cfn-lint reads it, and compare with the value it
/// was written from: this checks the YAML emitter.
fn check_read_back(
    root: &Path,
    work: &Path,
    helper: &Path,
    generated: &[(PathBuf, Value)],
) -> Result<()> {
    let dir = work.join("decoded");
    std::fs::create_dir_all(&dir)?;
    let mut decode = Command::new(tools::venv_bin("python"));
    decode.arg(helper).arg("decode");
    for (path, _) in generated {
        decode.arg(path).arg(dir.join(json_name(root, path)));
    }
    tools::run(&mut decode).context("reading the generated templates back failed")?;
    for (path, value) in generated {
        let decoded = dir.join(json_name(root, path));
        let text = std::fs::read_to_string(&decoded)
            .with_context(|| format!("could not read {}", decoded.display()))?;
        let read_back: Value = serde_json::from_str(&text)?;
        ensure!(
            &read_back == value,
            "{} does not read back as the value it was written from (a YAML emitter bug); \
             compare it with {}",
            path.display(),
            decoded.display()
        );
    }
    Ok(())
}

/// Run the SAM transform offline on every generated template; returns the plain
/// CloudFormation templates it wrote.
fn translate_sam(
    root: &Path,
    work: &Path,
    helper: &Path,
    generated: &[(PathBuf, Value)],
) -> Result<Vec<PathBuf>> {
    let dir = work.join("translated");
    std::fs::create_dir_all(&dir)?;
    let mut translate = Command::new(tools::venv_bin("python"));
    translate.arg(helper).arg("translate");
    let mut out = Vec::new();
    for (path, _) in generated {
        let translated = dir.join(json_name(root, path));
        translate.arg(path).arg(&translated);
        out.push(translated);
    }
    // The SAM translator resolves the partition from the region; any region will do.
    if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none()
    {
        translate.env("AWS_DEFAULT_REGION", "us-east-1");
    }
    tools::run(&mut translate).context("the SAM translator rejected a generated template")?;
    Ok(out)
}

/// The hand-written templates in `deploy/examples/`.
fn example_templates(root: &Path) -> Result<Vec<PathBuf>> {
    let examples = root.join("deploy").join("examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&examples)
        .with_context(|| format!("could not list {}", examples.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    files.retain(|p| p.extension().is_some_and(|e| e == "yaml"));
    files.sort();
    ensure!(
        !files.is_empty(),
        "no example templates in {}",
        examples.display()
    );
    Ok(files)
}

/// Reads templates as CloudFormation tools do. `decode SRC DST...` writes each YAML template
/// as JSON; `translate SRC DST...` runs the SAM transform offline and writes the result.
const PYTHON_HELPER: &str = r#"
import json, logging, os, sys
from cfnlint.decode import cfn_yaml

# The SAM translator logs a warning about unpublished metrics for every template.
logging.disable(logging.WARNING)

def load(path):
    return json.loads(json.dumps(cfn_yaml.load(path)))

mode, args = sys.argv[1], sys.argv[2:]
pairs = list(zip(args[0::2], args[1::2]))
if mode == "decode":
    for src, dst in pairs:
        with open(dst, "w") as f:
            json.dump(load(src), f)
elif mode == "translate":
    from samtranslator.translator.transform import transform

    class NoManagedPolicies:
        def load(self):
            return {}

    for src, dst in pairs:
        template = load(src)
        # Like `sam validate`: the translator wants S3 code locations, not local paths.
        for resource in template.get("Resources", {}).values():
            props = resource.get("Properties", {})
            uri = props.get("CodeUri")
            if resource.get("Type") == "AWS::Serverless::Function" and isinstance(uri, str) \
                    and not uri.startswith("s3://"):
                props["CodeUri"] = "s3://local-artifact/" + os.path.basename(uri)
        try:
            out = transform(template, {}, NoManagedPolicies())
        except Exception as e:
            causes = getattr(e, "causes", [])
            sys.exit(f"{src}: {e} {' '.join(str(c) for c in causes)}")
        with open(dst, "w") as f:
            json.dump(out, f, indent=1)
else:
    sys.exit(f"unknown mode {mode}")
"#;

/// A flat file name for the JSON made from the template at `path`:
/// `deploy/mysql-single-user/template.yaml` gives `deploy_mysql-single-user_template.json`.
fn json_name(root: &Path, path: &Path) -> String {
    let relative = path
        .strip_prefix(root)
        .unwrap_or(path)
        .with_extension("json");
    relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .filter(|c| c != "/")
        .collect::<Vec<_>>()
        .join("_")
}

fn source_path(root: &Path, f: Function) -> PathBuf {
    root.join("deploy").join(f.name).join("template.yaml")
}

fn zip_path(root: &Path, f: Function, arch: Arch) -> PathBuf {
    root.join("target")
        .join("dist")
        .join(format!("{}-{}.zip", f.name, arch.as_str()))
}

fn source_value(f: Function) -> Value {
    template::template(f, &Artifacts::source(f))
}

/// The text of `deploy/<function>/template.yaml`.
fn source_text(f: Function) -> String {
    format!(
        "# Generated by `cargo xtask package` from xtask/src/package/template.rs. Do not edit:\n\
         # change the generator and run `cargo xtask package`; `cargo xtask test` fails when\n\
         # this file differs from what the generator writes. Deploy the packaged copy that\n\
         # `cargo xtask package` writes to target/deploy/{}/template.yaml (deploy/README.md).\n{}",
        f.name,
        yaml::to_yaml(&source_value(f))
    )
}

fn packaged_text(f: Function, artifacts: &Artifacts, arch: Arch) -> String {
    format!(
        "# Packaged by `cargo xtask package` for {} on {}; generated from\n\
         # deploy/{}/template.yaml. Code: {}\n{}",
        f.name,
        arch.as_str(),
        f.name,
        artifacts.code_uri,
        yaml::to_yaml(&template::template(f, artifacts))
    )
}

fn path_text(path: &Path) -> Result<String> {
    path.to_str()
        .map(str::to_owned)
        .with_context(|| format!("{} is not valid UTF-8", path.display()))
}

fn packaged_artifacts(root: &Path, f: Function, options: &Options) -> Result<Artifacts> {
    let zip_name = format!("{}-{}.zip", f.name, options.arch.as_str());
    Ok(match &options.s3 {
        Some(s3) => Artifacts {
            code_uri: s3.uri(&zip_name),
            readme_url: s3.uri("README.md"),
            license_url: s3.uri("LICENSE"),
            only_arch: Some(options.arch),
        },
        None => Artifacts {
            code_uri: path_text(&zip_path(root, f, options.arch))?,
            readme_url: path_text(&root.join("deploy").join("README.md"))?,
            license_url: path_text(&root.join("LICENSE"))?,
            only_arch: Some(options.arch),
        },
    })
}

#[allow(clippy::print_stdout)] // the commands are the output, to copy or pipe into a shell
fn print_upload_commands(root: &Path, s3: &S3Location, arch: Arch) {
    eprintln!("xtask: upload the artifacts the packaged templates refer to:");
    let mut uploads: Vec<(PathBuf, String)> = FUNCTIONS
        .iter()
        .map(|&f| {
            let zip = zip_path(root, f, arch);
            let name = format!("{}-{}.zip", f.name, arch.as_str());
            (zip, s3.uri(&name))
        })
        .collect();
    uploads.push((root.join("deploy").join("README.md"), s3.uri("README.md")));
    uploads.push((root.join("LICENSE"), s3.uri("LICENSE")));
    for (local, remote) in uploads {
        println!(
            "aws s3 cp {} {remote}",
            shell_quote(&local.display().to_string())
        );
    }
}

/// Quote `s` for a POSIX shell when it holds anything but safe characters.
fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:@,".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("could not create {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("could not write {}", path.display()))
}

/// The committed templates must be exactly what the generator writes.
fn check_committed(root: &Path) -> Result<()> {
    let mut stale = Vec::new();
    for f in FUNCTIONS {
        let path = source_path(root, f);
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        if on_disk != source_text(f) {
            stale.push(path.display().to_string());
        }
    }
    ensure!(
        stale.is_empty(),
        "these templates differ from what the generator writes: {}\n\
         run `cargo xtask package` and commit the result (edit xtask/src/package/template.rs, \
         not the YAML)",
        stale.join(", ")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn options_parse() {
        let o = Options::parse(&[]).expect("no options");
        assert_eq!(
            o,
            Options {
                arch: Arch::Arm64,
                s3: None,
                lint: false,
            }
        );
        let o = Options::parse(&args(&[
            "--arch=x86_64",
            "--s3-bucket",
            "b",
            "--s3-prefix",
            "/p/q/",
        ]))
        .expect("options");
        assert_eq!(o.arch, Arch::X86_64);
        let s3 = o.s3.expect("s3");
        assert_eq!(s3.uri("f.zip"), "s3://b/p/q/f.zip");
        let o = Options::parse(&args(&["--s3-bucket", "b"])).expect("bucket only");
        assert_eq!(o.s3.expect("s3").uri("f.zip"), "s3://b/f.zip");
        assert!(Options::parse(&args(&["--arch", "sparc"])).is_err());
        assert!(Options::parse(&args(&["--s3-prefix", "p"])).is_err());
        assert!(Options::parse(&args(&["--s3-bucket", "s3://b"])).is_err());
        assert!(Options::parse(&args(&["--arch"])).is_err());
        assert!(Options::parse(&args(&["--lint"])).expect("lint").lint);
    }

    #[test]
    fn packaged_templates_point_at_one_architecture() {
        let root = Path::new("/work");
        for arch in Arch::ALL {
            let options = Options {
                arch,
                s3: Some(S3Location {
                    bucket: "b".into(),
                    prefix: "p".into(),
                }),
                lint: false,
            };
            for f in FUNCTIONS {
                let a = packaged_artifacts(root, f, &options).expect("artifacts");
                assert_eq!(
                    a.code_uri,
                    format!("s3://b/p/{}-{}.zip", f.name, arch.as_str())
                );
                let t = template::template(f, &a);
                let param = &t["Parameters"]["architecture"];
                assert_eq!(param["AllowedValues"], serde_json::json!([arch.as_str()]));
                assert_eq!(param["Default"], arch.as_str());
                assert_eq!(
                    t["Metadata"]["AWS::ServerlessRepo::Application"]["ReadmeUrl"],
                    "s3://b/p/README.md"
                );
            }
            let local = packaged_artifacts(
                root,
                FUNCTIONS[0],
                &Options {
                    arch,
                    s3: None,
                    lint: false,
                },
            )
            .expect("local");
            assert!(Path::new(&local.code_uri).is_absolute());
        }
    }

    #[test]
    fn committed_header_says_generated() {
        for f in FUNCTIONS {
            assert!(source_text(f).starts_with("# Generated by `cargo xtask package`"));
        }
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("/a/b.zip"), "/a/b.zip");
        assert_eq!(shell_quote("/a b/it's"), r"'/a b/it'\''s'");
    }
}
