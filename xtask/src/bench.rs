//! `cargo xtask bench`: how fast and small each function is, measured on its release binary
//! against the local test stack (moto and throwaway database servers), run as Lambda runs it.
//!
//! For each function and each of N runs: a fresh process; **init** is the time from spawn to
//! its first `next` poll of the Runtime API; a **cold** rotation is the first in that process,
//! a **warm** one the second; **peak RSS** is the process's `VmHWM` after both; **SM calls**
//! counts the Secrets Manager requests of one rotation, through a counting proxy in front of
//! moto. The table shows the median of N runs with the minimum and maximum.

use crate::dist::{self, Arch};
use crate::tools;
use anyhow::{Context, Result, bail};
use rotation_functions::{AdminUse, Engine};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use test_support::lambda::Function;
use test_support::mariadb::MariaDb;
use test_support::moto::Moto;
use test_support::postgres::Postgres;
use test_support::proxy::CountingProxy;
use test_support::redis::Redis;
use test_support::secrets::Sm;

struct Stack {
    moto: Moto,
    mariadb: MariaDb,
    postgres: Postgres,
    redis: Redis,
}

#[derive(Default)]
struct Samples {
    init_ms: Vec<f64>,
    cold_ms: Vec<f64>,
    warm_ms: Vec<f64>,
    rss_mib: Vec<f64>,
    calls: Vec<f64>,
}

fn cli(cmd: &mut Command, what: &str) -> Result<()> {
    let out = cmd
        .output()
        .with_context(|| format!("{what}: cannot start"))?;
    if !out.status.success() {
        bail!(
            "{what}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// The engine of the function called `function`, from the table.
fn engine_of(function: &str) -> Option<Engine> {
    rotation_functions::function(function).map(|f| f.engine)
}

fn find(candidates: &[&str], package: &str) -> Result<PathBuf> {
    test_support::process::find_binary(candidates, package).map_err(anyhow::Error::msg)
}

/// Create a user with `password` and return its secret (with `masterarn` when given).
fn make_user(
    stack: &Stack,
    function: &str,
    user: &str,
    password: &str,
    master: Option<&str>,
) -> Result<Value> {
    let engine = engine_of(function);
    let mut secret = if engine == Some(Engine::MySql) {
        let db = &stack.mariadb;
        cli(
            Command::new(find(
                &["/usr/bin/mariadb", "/usr/bin/mysql"],
                "mariadb-client",
            )?)
            .args(["--no-defaults", "-h127.0.0.1", &format!("-P{}", db.port)])
            .arg(format!("-u{}", db.admin_user))
            .arg(format!("-p{}", db.admin_password))
            .args([
                "-e",
                &format!("CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'"),
            ]),
            "creating a MySQL user",
        )?;
        json!({"engine": "mysql", "host": "127.0.0.1", "port": db.port, "username": user, "password": password, "ssl": false})
    } else if engine == Some(Engine::Postgres) {
        let db = &stack.postgres;
        cli(
            Command::new(find(
                &["/usr/lib/postgresql/*/bin/psql", "/usr/bin/psql"],
                "postgresql-client",
            )?)
            .env("PGPASSWORD", &db.admin_password)
            .arg(format!(
                "host=127.0.0.1 port={} user={} dbname=postgres",
                db.port, db.admin_user
            ))
            .args([
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                &format!("CREATE ROLE \"{user}\" LOGIN PASSWORD '{password}'"),
            ]),
            "creating a PostgreSQL role",
        )?;
        json!({"engine": "postgres", "host": "127.0.0.1", "port": db.port, "username": user, "password": password, "ssl": false})
    } else {
        let db = &stack.redis;
        cli(
            Command::new(find(&["/usr/bin/redis-cli"], "redis-tools")?)
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &db.port.to_string(),
                    "--no-auth-warning",
                ])
                .args(["--user", &db.admin_user, "--pass", &db.admin_password])
                .args([
                    "ACL",
                    "SETUSER",
                    user,
                    "on",
                    &format!(">{password}"),
                    "~*",
                    "+@all",
                ]),
            "creating a Redis user",
        )?;
        json!({"engine": "redis", "host": "127.0.0.1", "port": db.port, "username": user, "password": password, "ssl": false})
    };
    if let Some(m) = master {
        secret["masterarn"] = json!(m);
    }
    Ok(secret)
}

fn admin_secret(stack: &Stack, function: &str) -> Value {
    let engine = engine_of(function);
    let (port, user, password) = if engine == Some(Engine::MySql) {
        (
            stack.mariadb.port,
            &stack.mariadb.admin_user,
            &stack.mariadb.admin_password,
        )
    } else if engine == Some(Engine::Postgres) {
        (
            stack.postgres.port,
            &stack.postgres.admin_user,
            &stack.postgres.admin_password,
        )
    } else {
        (
            stack.redis.port,
            &stack.redis.admin_user,
            &stack.redis.admin_password,
        )
    };
    json!({"host": "127.0.0.1", "port": port, "username": user, "password": password})
}

/// What every measurement shares: the servers, an async runtime for the emulator's client, and
/// the counting proxy the functions talk to.
struct Bench {
    stack: Stack,
    rt: tokio::runtime::Runtime,
    sm: Sm,
    proxy: CountingProxy,
}

fn measure(
    bench: &Bench,
    function: &str,
    binary: &Path,
    run: usize,
    out: &mut Samples,
) -> Result<()> {
    let Bench {
        stack,
        rt,
        sm,
        proxy,
    } = bench;
    let admin = rotation_functions::function(function).map(|f| f.admin);
    let master = match admin == Some(AdminUse::Always) {
        true => Some(rt.block_on(sm.create("bench-master-", &admin_secret(stack, function)))),
        false => None,
    };
    let user = format!("bench{}x{run}", std::process::id());
    let secret = make_user(
        stack,
        function,
        &format!("{user}{}", function.len()),
        "Bench-pw-0001",
        master.as_deref(),
    )?;
    let arn = rt.block_on(sm.create("bench-", &secret));
    let mut f = Function::spawn(binary, &proxy.url, &[("LOG_LEVEL", "warn")]);
    let first = f
        .api
        .wait_first_poll(Duration::from_secs(10))
        .context("the function never polled the Runtime API")?;
    out.init_ms.push((first - f.spawned).as_secs_f64() * 1000.0);
    for (i, samples) in [&mut out.cold_ms, &mut out.warm_ms].into_iter().enumerate() {
        let token = rt.block_on(sm.start_rotation(&arn));
        proxy.reset();
        let t = Instant::now();
        for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
            if let test_support::lambda::Outcome::Err {
                error_type,
                error_message,
            } = f.invoke(&arn, &token, step)
            {
                bail!("{function} {step}: {error_type}: {error_message}");
            }
        }
        samples.push(t.elapsed().as_secs_f64() * 1000.0);
        if i == 0 {
            out.calls.push(proxy.total() as f64);
        }
    }
    out.rss_mib
        .push(f.peak_rss_kib().unwrap_or(0) as f64 / 1024.0);
    f.kill();
    Ok(())
}

fn stats(v: &[f64]) -> String {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let median = if s.is_empty() { 0.0 } else { s[s.len() / 2] };
    format!(
        "{median:.1} ({:.1}–{:.1})",
        s.first().copied().unwrap_or(0.0),
        s.last().copied().unwrap_or(0.0)
    )
}

/// Entry point of `cargo xtask bench [--runs N] [--function F]… [--no-dist]`.
#[allow(clippy::print_stdout)]
pub fn run_cli(args: &[String]) -> Result<()> {
    let mut runs = 5usize;
    let mut functions: Vec<String> = Vec::new();
    let mut build = true;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--runs" => runs = it.next().context("--runs N")?.parse().context("--runs N")?,
            "--function" => functions.push(it.next().context("--function NAME")?.clone()),
            "--no-dist" => build = false,
            other => bail!(
                "unknown option {other:?}; usage: cargo xtask bench [--runs N] [--function NAME]… [--no-dist]"
            ),
        }
    }
    if functions.is_empty() {
        functions = rotation_functions::names().map(str::to_owned).collect();
    }
    if let Some(f) = functions.iter().find(|f| engine_of(f).is_none()) {
        let names: Vec<_> = rotation_functions::names().collect();
        bail!(
            "unknown function {f:?}; expected one of {}",
            names.join(", ")
        );
    }
    if build {
        dist::build(&dist::Options {
            arches: vec![Arch::X86_64],
            functions: functions.clone(),
            ca_bundle: None,
            panic_probe: false,
        })?;
    }
    tools::ensure_python_tools(&["moto[server]"])?;
    let venv_bin = tools::venv_bin("python")
        .parent()
        .map(Path::to_path_buf)
        .context("venv")?;
    eprintln!("xtask: starting moto and the database servers");
    let stack = Stack {
        moto: Moto::start(&venv_bin).map_err(anyhow::Error::msg)?,
        mariadb: MariaDb::start(None).map_err(anyhow::Error::msg)?,
        postgres: Postgres::start(None).map_err(anyhow::Error::msg)?,
        redis: Redis::start(None).map_err(anyhow::Error::msg)?,
    };
    let bench = Bench {
        rt: tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?,
        sm: Sm::new(&stack.moto),
        proxy: CountingProxy::start(&stack.moto.url),
        stack,
    };
    println!(
        "{:<28} {:>22} {:>22} {:>22} {:>20} {:>9}",
        "function (x86_64, N runs)",
        "init ms",
        "cold rotation ms",
        "warm rotation ms",
        "peak RSS MiB",
        "SM calls"
    );
    for function in &functions {
        let binary = dist::release_dir(Arch::X86_64).join(function);
        let binary_size = std::fs::metadata(&binary).map(|m| m.len()).unwrap_or(0);
        eprintln!(
            "xtask: bench {function} ({}), {runs} runs",
            dist::human(binary_size)
        );
        let mut s = Samples::default();
        for run in 0..runs {
            measure(&bench, function, &binary, run, &mut s)?;
        }
        println!(
            "{:<28} {:>22} {:>22} {:>22} {:>20} {:>9}",
            function,
            stats(&s.init_ms),
            stats(&s.cold_ms),
            stats(&s.warm_ms),
            stats(&s.rss_mib),
            stats(&s.calls).split(' ').next().unwrap_or_default()
        );
    }
    Ok(())
}
