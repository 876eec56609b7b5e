//! `cargo xtask bench`: how fast and small each function is, measured on its release binary
//! against the local test stack (moto and throwaway database servers), run as Lambda runs it,
//! and how far each figure is from the floor, the time the services themselves take.
//!
//! For each function and each of N runs: a fresh process; **init** is the time from spawn to
//! its first `next` poll of the Runtime API; a **cold** rotation is the first in that process,
//! a **warm** one the second; **peak RSS** is the process's `VmHWM` after both; **SM calls**
//! counts the Secrets Manager requests of one rotation, through a counting proxy in front of
//! moto; **CPU ms** is the function's own CPU time (all its threads, from the kernel's
//! scheduler statistics), at init and in each rotation.
//!
//! **The floor** of a rotation is what no function can avoid: the time its Secrets Manager
//! calls spend inside the emulator (the counting proxy times each one, request sent to reply
//! read) plus the time the database server takes to answer it (a [`TimedRelay`] between the
//! function and the server times each round trip, the connection's greeting included). Each
//! rotation is shown as a multiple of its own floor; a cold start (init and the cold rotation)
//! as a multiple of the cold rotation's floor.
//!
//! The secrets hold no `ssl` key, as most in the field: each engine's default, which tries TLS
//! and learns the test servers offer none.
//!
//! **The CPU.** At 128 MB Lambda gives a function about 7% of a vCPU (CPU grows with memory;
//! a whole vCPU at 1,769 MB). `--cpu lambda` runs the function, and only it, in a cgroup
//! limited to 8% of one core (CFS quota 1.6 ms per 20 ms period: cgroup v2 `cpu.max`, or v1
//! `cpu.cfs_quota_us` where the v2 hierarchy has no cpu controller); the servers and moto
//! keep the whole machine. `--cpu full` runs without a limit; `both`, the default, runs each
//! pass. Where no cgroup can be made (not root, no cpu controller), `both` says so and runs
//! the full pass only. The tables give the median of N runs with the minimum and maximum.

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
use test_support::wire::TimedRelay;

struct Stack {
    moto: Moto,
    mariadb: MariaDb,
    postgres: Postgres,
    redis: Redis,
}

/// One engine's server and the relay the functions reach it through.
struct Relays {
    mysql: TimedRelay,
    postgres: TimedRelay,
    redis: TimedRelay,
}

impl Relays {
    fn of(&self, function: &str) -> &TimedRelay {
        match engine_of(function) {
            Some(Engine::MySql) => &self.mysql,
            Some(Engine::Postgres) => &self.postgres,
            _ => &self.redis,
        }
    }
}

/// One rotation's figures.
#[derive(Default)]
struct Rotation {
    ms: Vec<f64>,
    /// The function's own CPU time in the rotation.
    cpu_ms: Vec<f64>,
    floor_ms: Vec<f64>,
    times_floor: Vec<f64>,
}

#[derive(Default)]
struct Samples {
    init_ms: Vec<f64>,
    init_cpu_ms: Vec<f64>,
    cold: Rotation,
    warm: Rotation,
    cold_start_times_floor: Vec<f64>,
    rss_mib: Vec<f64>,
    calls: Vec<f64>,
    round_trips: Vec<f64>,
    connections: Vec<f64>,
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

/// Create a user with `password` and return its secret (with `masterarn` when given), which
/// reaches the server through `relay_port`.
fn make_user(
    stack: &Stack,
    function: &str,
    user: &str,
    password: &str,
    master: Option<&str>,
    relay_port: u16,
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
        json!({"engine": "mysql", "host": "127.0.0.1", "port": relay_port, "username": user, "password": password})
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
        json!({"engine": "postgres", "host": "127.0.0.1", "port": relay_port, "username": user, "password": password})
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
        json!({"engine": "redis", "host": "127.0.0.1", "port": relay_port, "username": user, "password": password})
    };
    if let Some(m) = master {
        secret["masterarn"] = json!(m);
    }
    Ok(secret)
}

/// The admin's secret, through `relay_port`.
fn admin_secret(stack: &Stack, function: &str, relay_port: u16) -> Value {
    let engine = engine_of(function);
    let (user, password) = if engine == Some(Engine::MySql) {
        (&stack.mariadb.admin_user, &stack.mariadb.admin_password)
    } else if engine == Some(Engine::Postgres) {
        (&stack.postgres.admin_user, &stack.postgres.admin_password)
    } else {
        (&stack.redis.admin_user, &stack.redis.admin_password)
    };
    json!({"host": "127.0.0.1", "port": relay_port, "username": user, "password": password})
}

/// What every measurement shares: the servers, an async runtime for the emulator's client, the
/// counting proxy the functions talk to, and the relays in front of the servers.
struct Bench {
    stack: Stack,
    rt: tokio::runtime::Runtime,
    sm: Sm,
    proxy: CountingProxy,
    relays: Relays,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn measure(
    bench: &Bench,
    function: &str,
    binary: &Path,
    quota: Option<&Quota>,
    run: usize,
    out: &mut Samples,
) -> Result<()> {
    let Bench {
        stack,
        rt,
        sm,
        proxy,
        relays,
    } = bench;
    let relay = relays.of(function);
    let admin = rotation_functions::function(function).map(|f| f.admin);
    let master = match admin == Some(AdminUse::Always) {
        true => Some(
            rt.block_on(sm.create("bench-master-", &admin_secret(stack, function, relay.port))),
        ),
        false => None,
    };
    let user = format!(
        "bench{}x{run}q{}",
        std::process::id(),
        quota.is_some() as u8
    );
    let secret = make_user(
        stack,
        function,
        &format!("{user}{}", function.len()),
        "Bench-pw-0001",
        master.as_deref(),
        relay.port,
    )?;
    let arn = rt.block_on(sm.create("bench-", &secret));
    let mut f = Function::spawn_under(
        quota.map(|q| q.runner.as_path()),
        binary,
        &proxy.url,
        &[("LOG_LEVEL", "warn")],
    );
    let first = f
        .api
        .wait_first_poll(Duration::from_secs(30))
        .context("the function never polled the Runtime API")?;
    let init = ms(first - f.spawned);
    out.init_ms.push(init);
    let cpu = || f.cpu_time().map(ms).unwrap_or(0.0);
    let mut cpu_before = cpu();
    out.init_cpu_ms.push(cpu_before);
    for (i, rotation) in [&mut out.cold, &mut out.warm].into_iter().enumerate() {
        let token = rt.block_on(sm.start_rotation(&arn));
        proxy.reset();
        relay.reset();
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
        let took = ms(t.elapsed());
        let cpu_after = cpu();
        rotation.cpu_ms.push(cpu_after - cpu_before);
        cpu_before = cpu_after;
        let seen = relay.seen();
        let floor = ms(proxy.upstream_time() + seen.server_time);
        rotation.ms.push(took);
        rotation.floor_ms.push(floor);
        rotation.times_floor.push(took / floor);
        if i == 0 {
            out.cold_start_times_floor.push((init + took) / floor);
            out.calls.push(proxy.total() as f64);
            out.round_trips.push(seen.round_trips as f64);
            out.connections.push(seen.connections as f64);
        }
    }
    out.rss_mib
        .push(f.peak_rss_kib().unwrap_or(0) as f64 / 1024.0);
    f.kill();
    Ok(())
}

/// A cgroup that limits the CPU of the processes put in it, and the script that starts a
/// binary inside it (`runner BINARY`). Removed when dropped.
struct Quota {
    cgroup: PathBuf,
    runner: PathBuf,
    how: String,
}

/// 8% of one core: 1.6 ms in every 20 ms period.
const QUOTA_US: u32 = 1_600;
const PERIOD_US: u32 = 20_000;

impl Quota {
    /// Make the cgroup: v2 where the unified hierarchy has the cpu controller, else v1's cpu
    /// hierarchy. The reason, when neither can be made.
    fn make() -> Result<Quota> {
        let name = format!("rotation-bench-{}", std::process::id());
        let v2_roots = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"];
        let v2 = v2_roots.iter().map(Path::new).find(|root| {
            std::fs::read_to_string(root.join("cgroup.controllers"))
                .is_ok_and(|c| c.split_whitespace().any(|c| c == "cpu"))
        });
        let (cgroup, how) = if let Some(root) = v2 {
            // A child of the root gets the cpu controller only when the root hands it down.
            let _ = std::fs::write(root.join("cgroup.subtree_control"), "+cpu");
            let cgroup = root.join(&name);
            std::fs::create_dir_all(&cgroup)
                .with_context(|| format!("creating the cgroup {}", cgroup.display()))?;
            std::fs::write(cgroup.join("cpu.max"), format!("{QUOTA_US} {PERIOD_US}"))
                .with_context(|| format!("writing {}/cpu.max", cgroup.display()))?;
            (cgroup, "cgroup v2 cpu.max")
        } else {
            let root = Path::new("/sys/fs/cgroup/cpu");
            if !root.join("cpu.cfs_quota_us").exists() {
                bail!("this machine has no cgroup cpu controller (neither v2 nor v1)");
            }
            let cgroup = root.join(&name);
            std::fs::create_dir_all(&cgroup)
                .with_context(|| format!("creating the cgroup {}", cgroup.display()))?;
            std::fs::write(cgroup.join("cpu.cfs_period_us"), PERIOD_US.to_string())
                .context("writing cpu.cfs_period_us")?;
            std::fs::write(cgroup.join("cpu.cfs_quota_us"), QUOTA_US.to_string())
                .context("writing cpu.cfs_quota_us")?;
            (
                cgroup,
                "cgroup v1 cpu.cfs_quota_us (the v2 hierarchy has no cpu controller)",
            )
        };
        let runner = std::env::temp_dir().join(format!("{name}.sh"));
        std::fs::write(
            &runner,
            format!(
                "#!/bin/sh\necho $$ > '{}/cgroup.procs' || exit 97\nexec \"$@\"\n",
                cgroup.display()
            ),
        )
        .context("writing the cgroup runner")?;
        let mut perms = std::fs::metadata(&runner)?.permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&runner, perms)?;
        Ok(Quota {
            cgroup,
            runner,
            how: how.to_owned(),
        })
    }
}

impl Drop for Quota {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.runner);
        // The killed functions may take a moment to leave.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.cgroup).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
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

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(s.len() / 2).copied().unwrap_or(0.0)
}

/// One pass over the functions, at full CPU or under `quota`: a Markdown table.
#[allow(clippy::print_stdout)]
fn pass(
    bench: &Bench,
    functions: &[String],
    bin_dir: &Path,
    runs: usize,
    quota: Option<&Quota>,
) -> Result<()> {
    match quota {
        Some(q) => println!(
            "\n### Under a Lambda-like quota: 8% of one core ({}), {runs} runs\n",
            q.how
        ),
        None => println!("\n### Full CPU, {runs} runs\n"),
    }
    println!(
        "| function | init ms | init CPU ms | cold ms | cold CPU ms | cold floor ms | cold × floor | warm ms | warm CPU ms | warm floor ms | warm × floor | cold start × floor | SM calls | DB round trips | DB connections | peak RSS MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for function in functions {
        let binary = bin_dir.join(function);
        let binary_size = std::fs::metadata(&binary).map(|m| m.len()).unwrap_or(0);
        eprintln!(
            "xtask: bench {function} ({}), {runs} runs{}",
            dist::human(binary_size),
            if quota.is_some() {
                ", under the quota"
            } else {
                ""
            }
        );
        let mut s = Samples::default();
        for run in 0..runs {
            measure(bench, function, &binary, quota, run, &mut s)?;
        }
        println!(
            "| {function} | {} | {:.1} | {} | {:.1} | {:.1} | {:.2} | {} | {:.1} | {:.1} | {:.2} | {:.2} | {:.0} | {:.0} | {:.0} | {:.1} |",
            stats(&s.init_ms),
            median(&s.init_cpu_ms),
            stats(&s.cold.ms),
            median(&s.cold.cpu_ms),
            median(&s.cold.floor_ms),
            median(&s.cold.times_floor),
            stats(&s.warm.ms),
            median(&s.warm.cpu_ms),
            median(&s.warm.floor_ms),
            median(&s.warm.times_floor),
            median(&s.cold_start_times_floor),
            median(&s.calls),
            median(&s.round_trips),
            median(&s.connections),
            median(&s.rss_mib),
        );
    }
    Ok(())
}

#[derive(PartialEq, Clone, Copy)]
enum Cpu {
    Full,
    Lambda,
    Both,
}

const USAGE: &str = "usage: cargo xtask bench [--runs N] [--function NAME]… [--cpu full|lambda|both] [--no-dist] [--bin-dir DIR]";

/// Entry point of `cargo xtask bench`.
#[allow(clippy::print_stdout)]
pub fn run_cli(args: &[String]) -> Result<()> {
    let mut runs = 5usize;
    let mut functions: Vec<String> = Vec::new();
    let mut build = true;
    let mut cpu = Cpu::Both;
    let mut bin_dir = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--runs" => runs = it.next().context("--runs N")?.parse().context("--runs N")?,
            "--function" => functions.push(it.next().context("--function NAME")?.clone()),
            "--no-dist" => build = false,
            "--bin-dir" => bin_dir = Some(PathBuf::from(it.next().context("--bin-dir DIR")?)),
            "--cpu" => {
                cpu = match it.next().map(String::as_str) {
                    Some("full") => Cpu::Full,
                    Some("lambda") => Cpu::Lambda,
                    Some("both") => Cpu::Both,
                    _ => bail!("--cpu full|lambda|both"),
                }
            }
            other => bail!("unknown option {other:?}; {USAGE}"),
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
    let quota = match cpu {
        Cpu::Full => None,
        Cpu::Lambda => Some(Quota::make().context("--cpu lambda needs a CPU cgroup")?),
        Cpu::Both => match Quota::make() {
            Ok(q) => Some(q),
            Err(e) => {
                println!("The Lambda-like CPU quota pass is skipped: {e:#}.");
                None
            }
        },
    };
    if build && bin_dir.is_none() {
        dist::build(&dist::Options {
            arches: vec![Arch::X86_64],
            functions: functions.clone(),
            ca_bundle: None,
            panic_probe: false,
        })?;
    }
    let bin_dir = bin_dir.unwrap_or_else(|| dist::release_dir(Arch::X86_64));
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
        relays: Relays {
            mysql: TimedRelay::start(stack.mariadb.port),
            postgres: TimedRelay::start(stack.postgres.port),
            redis: TimedRelay::start(stack.redis.port),
        },
        stack,
    };
    println!(
        "Binaries: {}. Floor: Secrets Manager time (inside moto) + database server time, per rotation.",
        bin_dir.display()
    );
    if cpu != Cpu::Lambda {
        pass(&bench, &functions, &bin_dir, runs, None)?;
    }
    if let Some(q) = &quota {
        pass(&bench, &functions, &bin_dir, runs, Some(q))?;
    }
    Ok(())
}
