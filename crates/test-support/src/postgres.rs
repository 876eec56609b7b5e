//! Throwaway PostgreSQL servers: a fresh cluster made by `initdb`, a free port on 127.0.0.1,
//! password authentication (SCRAM, or MD5 for a server told to store MD5) for every
//! connection, and an `admin` that is not a superuser but has `CREATEROLE` and owns the
//! database `appdb`, as an RDS master user is and has.
//!
//! PostgreSQL refuses to run as root, so when the tests run as root the server's folder is
//! given to the `postgres` account and `initdb`, `postgres` and `pg_ctl` run as that account.

use crate::process::{ServerProcess, find_binary};
use crate::tls::TestCa;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The database the admin owns, where tests may create schemas and tables.
pub const DATABASE: &str = "appdb";

/// How a server started by [`Postgres::start_with`] is set up.
#[derive(Default, Clone, Copy)]
pub struct Options<'a> {
    /// Serve TLS with the test CA's server certificate (plaintext stays allowed, so that a
    /// client that downgrades would be noticed by a test rather than refused by the server).
    pub tls: Option<&'a TestCa>,
    /// `log_statement = 'all'`: every statement lands in [`Postgres::log`].
    pub log_statements: bool,
    /// `password_encryption = 'md5'` (and MD5 authentication).
    pub md5: bool,
    /// The folder of the server's programs (`postgres`, `initdb`, `pg_ctl`, `psql`,
    /// `pg_isready`). Unset: the folder `ROTATION_TEST_POSTGRES_BIN` names, which `cargo xtask
    /// test` sets to run the suite on another version, else Debian's PostgreSQL. A TLS server
    /// always runs Debian's: the other builds have no SSL support.
    pub bin: Option<&'a Path>,
}

/// The environment variable that selects the PostgreSQL build of the servers tests start.
pub const BIN_VAR: &str = "ROTATION_TEST_POSTGRES_BIN";

/// The variable that passes the bootstrap superuser's password of the shared server to the
/// tests.
pub const SUPERUSER_PASSWORD_VAR: &str = "ROTATION_TEST_POSTGRES_SUPERUSER_PASSWORD";

/// A PostgreSQL server (owned when started here, borrowed when `cargo xtask test` started it).
pub struct Postgres {
    /// Port on 127.0.0.1.
    pub port: u16,
    /// A login role with `CREATEROLE` and `CREATEDB`, not a superuser, owner of [`DATABASE`].
    pub admin_user: String,
    /// Its password.
    pub admin_password: String,
    /// The bootstrap superuser `postgres`'s password (servers started here only), for tests
    /// that must read what only a superuser may, such as `pg_authid`.
    pub superuser_password: Option<String>,
    owned: Option<Owned>,
}

struct Owned {
    process: ServerProcess,
    data: PathBuf,
    pg_ctl: PathBuf,
    run_as: Option<String>,
}

fn run_ok(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("{what}: cannot start: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// uid and gid of an account, from /etc/passwd.
fn account_ids(name: &str) -> Result<(u32, u32), String> {
    let passwd = std::fs::read_to_string("/etc/passwd")
        .map_err(|e| format!("cannot read /etc/passwd: {e}"))?;
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 3 && f[0] == name)
        .and_then(|f| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
        .ok_or_else(|| {
            format!("there is no '{name}' account to run PostgreSQL as (it refuses root): install PostgreSQL with `apt-get install postgresql`, or {}", crate::HOW_TO_RUN)
        })
}

fn chown_all(path: &Path, ids: (u32, u32)) -> Result<(), String> {
    std::os::unix::fs::chown(path, Some(ids.0), Some(ids.1))
        .map_err(|e| format!("chown {}: {e}", path.display()))?;
    if path.is_dir() {
        for entry in std::fs::read_dir(path).map_err(|e| e.to_string())? {
            chown_all(&entry.map_err(|e| e.to_string())?.path(), ids)?;
        }
    }
    Ok(())
}

/// A command for `program`, run as `user` when one is given. `setpriv` execs the program
/// itself, so the process id is the server's and killing it reaches the server.
fn command_as(run_as: Option<&str>, program: &Path) -> Command {
    match run_as {
        Some(user) => {
            let mut cmd = Command::new("setpriv");
            cmd.arg(format!("--reuid={user}"))
                .arg(format!("--regid={user}"))
                .arg("--init-groups")
                .arg("--")
                .arg(program);
            cmd
        }
        None => Command::new(program),
    }
}

fn write_private(path: &Path, text: &str, ids: Option<(u32, u32)>) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| e.to_string())?;
    if let Some(ids) = ids {
        chown_all(path, ids)?;
    }
    Ok(())
}

impl Postgres {
    /// Start a new server; with `tls`, it serves TLS with the test CA's certificate.
    pub fn start(tls: Option<&TestCa>) -> Result<Postgres, String> {
        Postgres::start_with(Options {
            tls,
            ..Options::default()
        })
    }

    /// Start a new server set up as `opts` says.
    pub fn start_with(opts: Options<'_>) -> Result<Postgres, String> {
        // A build without SSL cannot serve TLS; the passes that run one leave out the TLS
        // tests, and the builds with SSL serve them too.
        let chosen = opts
            .bin
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os(BIN_VAR).map(PathBuf::from));
        let postgres = match chosen {
            Some(bin) => {
                let postgres = bin.join("postgres");
                if !postgres.exists() {
                    return Err(format!(
                        "{} does not exist: {BIN_VAR} or Options::bin must name a PostgreSQL bin folder; {}",
                        postgres.display(),
                        crate::HOW_TO_RUN
                    ));
                }
                postgres
            }
            // Debian keeps each major version's programs in its own folder; `postgres` on
            // PATH may be a link to one of them, and the folder is where its helper programs
            // are.
            None => find_binary(
                &[
                    "/usr/lib/postgresql/1*/bin/postgres",
                    "/usr/lib/postgresql/*/bin/postgres",
                ],
                "postgresql",
            )?,
        };
        let postgres = std::fs::canonicalize(&postgres).unwrap_or(postgres);
        let bin = postgres.parent().map(Path::to_path_buf).unwrap_or_default();
        let (initdb, pg_ctl, psql) = (bin.join("initdb"), bin.join("pg_ctl"), bin.join("psql"));
        let run_as = is_root().then(|| "postgres".to_owned());
        let ids = run_as.as_deref().map(account_ids).transpose()?;

        let dir = ServerProcess::folder("postgres")?;
        let root = dir.path().to_path_buf();
        if let Some(ids) = ids {
            chown_all(&root, ids)?;
        }
        let data = root.join("data");
        let superuser_password = crate::unique("Sup3r-");
        let pwfile = root.join("pwfile");
        write_private(&pwfile, &superuser_password, ids)?;
        let auth = if opts.md5 { "md5" } else { "scram-sha-256" };
        run_ok(
            command_as(run_as.as_deref(), &initdb)
                .arg("-D")
                .arg(&data)
                .args(["-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"])
                .arg(format!("--auth={auth}"))
                .arg(format!("--pwfile={}", pwfile.display())),
            "initdb",
        )?;
        let _ = std::fs::remove_file(&pwfile);
        // Only loopback clients, all with a password; the whole 127/8 range so that a test
        // can reach the server under an address its certificate does not name.
        write_private(
            &data.join("pg_hba.conf"),
            &format!("local all all {auth}\nhost all all 127.0.0.0/8 {auth}\n"),
            ids,
        )?;

        let port = crate::net::free_port();
        let mut settings = vec![
            "listen_addresses=127.0.0.1,127.0.0.2".to_owned(),
            format!("unix_socket_directories={}", root.display()),
            "fsync=off".into(),
            "synchronous_commit=off".into(),
            "full_page_writes=off".into(),
            "shared_buffers=16MB".into(),
            "max_connections=200".into(),
            "log_connections=on".into(),
            "log_min_messages=warning".into(),
        ];
        settings.push(format!(
            "password_encryption={}",
            if opts.md5 { "md5" } else { "scram-sha-256" }
        ));
        if opts.log_statements {
            settings.push("log_statement=all".into());
        }
        if let Some(ca) = opts.tls {
            // The server wants its key private to its own account.
            let (cert, key) = (root.join("server.pem"), root.join("server.key"));
            std::fs::copy(ca.server_cert(), &cert)
                .map_err(|e| format!("copy the certificate: {e}"))?;
            let key_pem = std::fs::read_to_string(ca.server_key())
                .map_err(|e| format!("read the key: {e}"))?;
            write_private(&key, &key_pem, ids)?;
            if let Some(ids) = ids {
                chown_all(&cert, ids)?;
            }
            settings.extend([
                "ssl=on".to_owned(),
                format!("ssl_cert_file={}", cert.display()),
                format!("ssl_key_file={}", key.display()),
            ]);
        }
        let mut cmd = command_as(run_as.as_deref(), &postgres);
        cmd.arg("-D").arg(&data).arg("-p").arg(port.to_string());
        for s in &settings {
            cmd.arg("-c").arg(s);
        }
        let process = ServerProcess::spawn("postgres", dir, &mut cmd)?;
        let mut server = Postgres {
            port,
            admin_user: "admin".into(),
            admin_password: crate::unique("Adm1n-"),
            superuser_password: Some(superuser_password),
            owned: Some(Owned {
                process,
                data,
                pg_ctl,
                run_as,
            }),
        };
        server.wait_ready(&bin.join("pg_isready"), Duration::from_secs(60))?;
        server.bootstrap(&psql, &root)?;
        Ok(server)
    }

    fn wait_ready(&mut self, pg_isready: &Path, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match Command::new(pg_isready)
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
                .output()
            {
                Ok(out) if out.status.success() => return Ok(()),
                Ok(out) => format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout).trim(),
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
                Err(e) => format!("cannot run {}: {e}", pg_isready.display()),
            };
            let tail = self
                .owned
                .as_mut()
                .map(|o| (o.process.exited(), o.process.log_tail()));
            if let Some((true, log)) = tail {
                return Err(format!("PostgreSQL exited at start:\n{log}"));
            }
            if Instant::now() >= deadline {
                let log = tail.map(|t| t.1).unwrap_or_default();
                return Err(format!(
                    "PostgreSQL did not accept connections within {timeout:?} ({last}):\n{log}"
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The admin and its database, made by the superuser over the Unix socket.
    fn bootstrap(&self, psql: &Path, socket_dir: &Path) -> Result<(), String> {
        let superuser = self.superuser_password.clone().unwrap_or_default();
        let statements = [
            format!(
                "CREATE ROLE admin WITH LOGIN CREATEROLE CREATEDB PASSWORD '{}'",
                self.admin_password
            ),
            format!("CREATE DATABASE {DATABASE} OWNER admin"),
        ];
        for sql in statements {
            run_ok(
                Command::new(psql)
                    .env("PGPASSWORD", &superuser)
                    .arg("-h")
                    .arg(socket_dir)
                    .args([
                        "-p",
                        &self.port.to_string(),
                        "-U",
                        "postgres",
                        "-d",
                        "postgres",
                    ])
                    .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", &sql]),
                "creating the admin user",
            )?;
        }
        Ok(())
    }

    /// The server `cargo xtask test` started for this run.
    pub fn from_env() -> Postgres {
        Postgres {
            port: crate::required_env("ROTATION_TEST_POSTGRES_PORT")
                .parse()
                .unwrap_or_else(|e| panic!("ROTATION_TEST_POSTGRES_PORT: {e}")),
            admin_user: crate::required_env("ROTATION_TEST_POSTGRES_USER"),
            admin_password: crate::required_env("ROTATION_TEST_POSTGRES_PASSWORD"),
            // The soak reads verifiers from pg_authid, which only a superuser may.
            superuser_password: std::env::var(SUPERUSER_PASSWORD_VAR).ok(),
            owned: None,
        }
    }

    /// The variables that tell the tests where it is.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("ROTATION_TEST_POSTGRES_PORT".into(), self.port.to_string()),
            (
                "ROTATION_TEST_POSTGRES_USER".into(),
                self.admin_user.clone(),
            ),
            (
                "ROTATION_TEST_POSTGRES_PASSWORD".into(),
                self.admin_password.clone(),
            ),
        ]
        .into_iter()
        .chain(
            self.superuser_password
                .iter()
                .map(|p| (SUPERUSER_PASSWORD_VAR.to_owned(), p.clone())),
        )
        .collect()
    }

    /// The server's log (empty for a borrowed server).
    pub fn log(&self) -> String {
        self.owned
            .as_ref()
            .map(|o| o.process.log())
            .unwrap_or_default()
    }

    /// Stop the server (a "database down" scenario, and at drop). Only for servers started
    /// here. A fast shutdown through `pg_ctl` lets the server release its shared memory,
    /// which a bare kill would leave behind.
    pub fn stop(&mut self) {
        if let Some(o) = self.owned.as_mut() {
            if !o.process.exited() {
                let _ = command_as(o.run_as.as_deref(), &o.pg_ctl)
                    .arg("stop")
                    .arg("-D")
                    .arg(&o.data)
                    .args(["-m", "fast", "-w", "-t", "20"])
                    .output();
            }
            o.process.stop();
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}
