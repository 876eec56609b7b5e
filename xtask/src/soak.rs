//! `cargo xtask soak`: a long fault soak of one function, through the conformance suite's
//! soak scenario (`test_support::conformance::soak`), against the shipped release binary.
//!
//! It builds the engine's x86_64 zip, starts the servers and moto as `cargo xtask test` does,
//! runs the engine's `soak` test with the settings below in its `ROTATION_SOAK_*` variables,
//! and prints the report (also written to `target/soak/<function>-<seed>.json`). On a
//! violation the test prints the seed, the case's actions and the shortest list that still
//! shows it; `--replay LIST` runs that list alone.

use crate::dist::{self, Arch};
use crate::test;
use crate::tools::workspace_root;
use anyhow::{Context, Result, bail};

const USAGE: &str = "usage: cargo xtask soak --engine mysql|postgres|redis|valkey --strategy single-user|alternating-users [--cases N] [--seed X] [--parallel P] [--replay LIST]";

/// Entry point of `cargo xtask soak`.
pub fn run_cli(args: &[String]) -> Result<()> {
    let mut engine = None;
    let mut strategy = None;
    let mut cases = "200".to_owned();
    let mut seed = None;
    let mut parallel = "4".to_owned();
    let mut replay = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .with_context(|| format!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--engine" => engine = Some(value()?),
            "--strategy" => strategy = Some(value()?),
            "--cases" => cases = value()?,
            "--seed" => seed = Some(value()?),
            "--parallel" => parallel = value()?,
            "--replay" => replay = Some(value()?),
            "-h" | "--help" => bail!("{USAGE}"),
            other => bail!("unknown option {other:?}\n{USAGE}"),
        }
    }
    let engine = engine.context(USAGE)?;
    let strategy = strategy.context(USAGE)?;
    let (group, package, flavour) = match engine.as_str() {
        "mysql" => ("mysql", "rotation-mysql", "mariadb"),
        "postgres" => ("postgres", "rotation-postgres", "postgres"),
        "redis" => ("redis", "rotation-redis", "redis"),
        "valkey" => ("redis", "rotation-redis", "valkey"),
        other => bail!("--engine {other:?}\n{USAGE}"),
    };
    let module = match strategy.as_str() {
        "single-user" => "single_user",
        "alternating-users" => "alternating_users",
        other => bail!("--strategy {other:?}\n{USAGE}"),
    };
    for (name, v) in [("--cases", &cases), ("--parallel", &parallel)] {
        v.parse::<usize>()
            .with_context(|| format!("{name} {v:?}: expected a number"))?;
    }
    // A seed from the clock unless one is given: every long run explores new sequences, and
    // prints its seed to repeat it.
    let seed = match seed {
        Some(s) => s.parse::<u64>().with_context(|| format!("--seed {s:?}"))?,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(1),
    };
    let function = format!("{group}-{strategy}");
    eprintln!("xtask: soak of {function} ({flavour}), {cases} cases, seed {seed}");
    let artifacts = dist::build(&dist::Options {
        arches: vec![Arch::X86_64],
        functions: vec![function.clone()],
        ca_bundle: None,
        panic_probe: false,
    })?;
    test::unpack(&artifacts)?;
    let out_dir = workspace_root().join("target").join("soak");
    std::fs::create_dir_all(&out_dir)?;
    let report = out_dir.join(format!("{function}-{seed}.json"));
    let _ = std::fs::remove_file(&report);
    let mut env = vec![
        ("ROTATION_SOAK_CASES".to_owned(), cases),
        ("ROTATION_SOAK_SEED".to_owned(), seed.to_string()),
        ("ROTATION_SOAK_PARALLEL".to_owned(), parallel),
        (
            "ROTATION_SOAK_REPORT".to_owned(),
            report.display().to_string(),
        ),
    ];
    if let Some(list) = replay {
        env.push(("ROTATION_SOAK_REPLAY".to_owned(), list));
    }
    let filter = format!("conformance::{flavour}::{module}::soak");
    let args: Vec<String> = [
        "--no-lint",
        "--no-dist",
        "--only",
        group,
        "--no-matrix",
        "--",
        "-p",
        package,
        "--test",
        "it",
        "--",
        &filter,
        "--exact",
        "--nocapture",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    test::run_with(
        &args,
        &test::Extra {
            env,
            skip_templates: true,
        },
    )?;
    let text = std::fs::read_to_string(&report)
        .with_context(|| format!("the soak wrote no report to {}", report.display()))?;
    eprintln!("xtask: soak report ({}):\n{text}", report.display());
    Ok(())
}
