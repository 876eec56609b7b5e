//! Throwaway Redis and Valkey servers: a private folder, a free port on 127.0.0.1, nothing
//! saved to disk, and an `admin` ACL user with every right (`~* &* +@all`). The `default` user
//! is switched off, as on a server where every client logs in as a named user; the legacy
//! `requirepass` setup (the `default` user with a password) is an option.
//!
//! Started from the installed `redis-server` (Debian package `redis-server`) or `valkey-server`
//! (Debian package `valkey-server`, in bookworm-backports).

use crate::process::{ServerProcess, find_binary};
use crate::tls::TestCa;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Which server program to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Flavor {
    /// `redis-server`.
    #[default]
    Redis,
    /// `valkey-server`.
    Valkey,
}

impl Flavor {
    /// `redis` or `valkey`: also the secret's `engine` value.
    pub fn name(self) -> &'static str {
        match self {
            Flavor::Redis => "redis",
            Flavor::Valkey => "valkey",
        }
    }

    /// The variable that names this flavour's program for another version.
    fn variable(self) -> &'static str {
        match self {
            Flavor::Redis => REDIS_VAR,
            Flavor::Valkey => VALKEY_VAR,
        }
    }

    fn binary(self) -> Result<PathBuf, String> {
        if let Some(path) = std::env::var_os(self.variable()).map(PathBuf::from) {
            return if path.exists() {
                Ok(path)
            } else {
                Err(format!(
                    "{} names {}, which does not exist; {}",
                    self.variable(),
                    path.display(),
                    crate::HOW_TO_RUN
                ))
            };
        }
        match self {
            Flavor::Redis => find_binary(&["/usr/bin/redis-server"], "redis-server"),
            Flavor::Valkey => find_binary(&["/usr/bin/valkey-server"], "-t bookworm-backports valkey-server")
                .map_err(|e| format!("{e} (Debian 12 has Valkey in bookworm-backports: add that suite to the apt sources first)")),
        }
    }
}

/// The environment variable that selects the `valkey-server` program (`cargo xtask test` sets
/// it to run the Valkey tests on another version); unset: Debian's.
pub const VALKEY_VAR: &str = "ROTATION_TEST_VALKEY_SERVER";

/// The environment variable that selects the `redis-server` program (`cargo xtask test` sets
/// it to run the Redis tests on another version); unset: Debian's.
pub const REDIS_VAR: &str = "ROTATION_TEST_REDIS_SERVER";

/// How to start a server.
#[derive(Default, Clone, Copy)]
pub struct Options<'a> {
    /// Redis or Valkey.
    pub flavor: Flavor,
    /// Serve TLS only (`tls-port`, no plaintext port), with the test CA's server certificate.
    pub tls: Option<&'a TestCa>,
    /// Keep the users in `<folder>/users.acl` (`aclfile`), so that `ACL SAVE` works and a
    /// restart reads them back.
    pub aclfile: bool,
    /// The legacy setup: no `admin` user; the `default` user has the admin password
    /// (`requirepass`) and every right.
    pub requirepass: bool,
    /// The server program to run; unset: the flavour's variable's, else Debian's.
    pub program: Option<&'a Path>,
}

/// A Redis or Valkey server (owned when started here, borrowed when `cargo xtask test` started
/// it).
pub struct Redis {
    /// Port on 127.0.0.1 (the TLS port for a TLS server).
    pub port: u16,
    /// A user with every right: `admin`, or `default` in the `requirepass` setup.
    pub admin_user: String,
    /// Its password.
    pub admin_password: String,
    /// Which server program runs.
    pub flavor: Flavor,
    process: Option<ServerProcess>,
    command: Option<(PathBuf, PathBuf)>,
}

impl Redis {
    /// Start a new Redis server; with `tls`, it serves TLS with the test CA's certificate.
    pub fn start(tls: Option<&TestCa>) -> Result<Redis, String> {
        Redis::start_with(Options {
            tls,
            ..Options::default()
        })
    }

    /// Start a new server as `options` say.
    pub fn start_with(options: Options<'_>) -> Result<Redis, String> {
        let binary = match options.program {
            Some(p) => p.to_path_buf(),
            None => options.flavor.binary()?,
        };
        let dir = ServerProcess::folder(options.flavor.name())?;
        let port = crate::net::free_port();
        let admin_password = crate::unique("Adm1n-");
        let conf = dir.path().join("server.conf");
        std::fs::write(&conf, config(dir.path(), port, &admin_password, &options)?)
            .map_err(|e| format!("cannot write {}: {e}", conf.display()))?;
        let mut cmd = Command::new(&binary);
        cmd.arg(&conf);
        let process = ServerProcess::spawn(options.flavor.name(), dir, &mut cmd)?;
        let mut server = Redis {
            port,
            admin_user: if options.requirepass {
                "default"
            } else {
                "admin"
            }
            .into(),
            admin_password,
            flavor: options.flavor,
            process: Some(process),
            command: Some((binary, conf)),
        };
        server.wait_ready()?;
        Ok(server)
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let ready = crate::net::wait_for_port(self.port, Duration::from_secs(30));
        let process = self.process.as_mut().ok_or("not started here")?;
        ready.map_err(|e| {
            format!(
                "{} did not start: {e}\n{}",
                self.flavor.name(),
                process.log_tail()
            )
        })
    }

    /// The server `cargo xtask test` started for this run.
    pub fn from_env() -> Redis {
        Redis {
            port: crate::required_env("ROTATION_TEST_REDIS_PORT")
                .parse()
                .unwrap_or_else(|e| panic!("ROTATION_TEST_REDIS_PORT: {e}")),
            admin_user: crate::required_env("ROTATION_TEST_REDIS_USER"),
            admin_password: crate::required_env("ROTATION_TEST_REDIS_PASSWORD"),
            flavor: Flavor::Redis,
            process: None,
            command: None,
        }
    }

    /// The variables that tell the tests where it is.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("ROTATION_TEST_REDIS_PORT".into(), self.port.to_string()),
            ("ROTATION_TEST_REDIS_USER".into(), self.admin_user.clone()),
            (
                "ROTATION_TEST_REDIS_PASSWORD".into(),
                self.admin_password.clone(),
            ),
        ]
    }

    /// The ACL file, for a server started with one.
    pub fn aclfile(&self) -> Option<PathBuf> {
        let path = self.process.as_ref()?.dir().join("users.acl");
        path.exists().then_some(path)
    }

    /// The server's log (empty for a borrowed server).
    pub fn log(&self) -> String {
        self.process
            .as_ref()
            .map(ServerProcess::log)
            .unwrap_or_default()
    }

    /// Stop the server at once (SIGKILL, nothing saved). Only for servers started here.
    pub fn stop(&mut self) {
        if let Some(p) = self.process.as_mut() {
            p.stop();
        }
    }

    /// Kill the server and start it again with the same configuration, port and folder: what
    /// survives is what was written to disk (the ACL file). Only for servers started here.
    pub fn restart(&mut self) -> Result<(), String> {
        let (binary, conf) = self
            .command
            .clone()
            .ok_or("only a server started here can be restarted")?;
        let process = self
            .process
            .as_mut()
            .ok_or("only a server started here can be restarted")?;
        process.respawn(Command::new(binary).arg(conf))?;
        self.wait_ready()
    }
}

/// The server's configuration file. Users go into the ACL file when there is one (the server
/// refuses `user` lines in both places).
fn config(
    dir: &Path,
    port: u16,
    admin_password: &str,
    options: &Options<'_>,
) -> Result<String, String> {
    let mut lines = vec![
        "bind 127.0.0.1".to_owned(),
        "save \"\"".to_owned(),
        "appendonly no".to_owned(),
        format!("dir {}", dir.display()),
        "logfile \"\"".to_owned(),
        "daemonize no".to_owned(),
    ];
    match options.tls {
        Some(ca) => lines.extend([
            "port 0".to_owned(),
            format!("tls-port {port}"),
            format!("tls-cert-file {}", ca.server_cert().display()),
            format!("tls-key-file {}", ca.server_key().display()),
            format!("tls-ca-cert-file {}", ca.ca_pem().display()),
            "tls-auth-clients no".to_owned(),
        ]),
        None => lines.push(format!("port {port}")),
    }
    let users = if options.requirepass {
        vec![format!("user default on >{admin_password} ~* &* +@all")]
    } else {
        vec![
            "user default off resetpass resetkeys resetchannels -@all".to_owned(),
            format!("user admin on >{admin_password} ~* &* +@all"),
        ]
    };
    if options.aclfile {
        let aclfile = dir.join("users.acl");
        let body: String = users.iter().map(|u| format!("{u}\n")).collect();
        std::fs::write(&aclfile, body)
            .map_err(|e| format!("cannot write {}: {e}", aclfile.display()))?;
        lines.push(format!("aclfile {}", aclfile.display()));
    } else {
        lines.extend(users);
    }
    Ok(lines.iter().map(|l| format!("{l}\n")).collect())
}
