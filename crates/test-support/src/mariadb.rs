//! Throwaway MySQL-family servers (MariaDB or Oracle's MySQL): a fresh data folder, a free
//! port, password authentication, and an `admin` user with every privilege. Started from the
//! installed `mariadbd`, or from the build whose server folder [`BIN_VAR`] names (`cargo xtask
//! test` sets it to run the MySQL suite on MySQL 9.7 and MariaDB 11.8 too).

use crate::process::{ServerProcess, find_binary};
use crate::tls::TestCa;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The environment variable that names the folder of another build's server program
/// (`mysqld` or `mariadbd`, with the client in `../bin`); unset: Debian's MariaDB.
pub const BIN_VAR: &str = "ROTATION_TEST_MYSQL_BIN";

/// Which product a server is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Product {
    /// MariaDB.
    MariaDb,
    /// Oracle's MySQL.
    MySql,
}

/// How to start a server.
#[derive(Default, Clone, Copy)]
pub struct Options<'a> {
    /// Serve TLS with the test CA's certificate.
    pub tls: Option<&'a TestCa>,
    /// Offer TLS with a certificate from no CA the tests name: on MySQL the self-signed one
    /// the server makes at first start, as a self-managed MySQL 8+ (and MariaDB 11.4+) does by
    /// default; on MariaDB one from a throwaway CA. Without this and without `tls` the server
    /// offers no TLS at all.
    pub own_certificate: bool,
    /// Extra server options (`--name=value`).
    pub args: &'a [&'a str],
    /// Write statements to the general log as they were sent (MySQL rewrites the password
    /// clauses of account statements unless told not to; MariaDB always logs them as sent).
    pub raw_log: bool,
    /// The server folder of the build to run; unset: [`BIN_VAR`]'s, else Debian's MariaDB.
    pub bin: Option<&'a Path>,
}

/// A MariaDB or MySQL server (owned when started here, borrowed when `cargo xtask test` started
/// it).
pub struct MariaDb {
    /// Port on 127.0.0.1.
    pub port: u16,
    /// A user with all privileges `WITH GRANT OPTION`, at host `%`.
    pub admin_user: String,
    /// Its password.
    pub admin_password: String,
    /// The product.
    pub product: Product,
    /// Whether the server offers TLS (with the test CA's certificate, or one of its own).
    pub offers_tls: bool,
    process: Option<ServerProcess>,
    /// The CA of an `own_certificate` MariaDB, kept while the server runs.
    _throwaway_ca: Option<TestCa>,
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

/// The programs of one build.
struct Build {
    server: PathBuf,
    client: PathBuf,
    /// MariaDB's `mariadb-install-db`; MySQL initialises with the server itself.
    install: Option<PathBuf>,
    /// The installation's `usr` folder, for a build that is not installed at its own paths.
    base: Option<PathBuf>,
    product: Product,
}

impl Build {
    /// The build in `bin`, else the one [`BIN_VAR`] names, else the installed MariaDB.
    fn find(bin: Option<&Path>) -> Result<Build, String> {
        let bin = bin
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os(BIN_VAR).map(PathBuf::from));
        let Some(bin) = bin else {
            return Ok(Build {
                server: find_binary(
                    &["/usr/sbin/mariadbd", "/usr/sbin/mysqld"],
                    "mariadb-server",
                )?,
                client: find_binary(&["/usr/bin/mariadb", "/usr/bin/mysql"], "mariadb-client")?,
                install: Some(find_binary(
                    &["/usr/bin/mariadb-install-db", "/usr/bin/mysql_install_db"],
                    "mariadb-server",
                )?),
                base: None,
                product: Product::MariaDb,
            });
        };
        let base = bin.parent().map(Path::to_path_buf).unwrap_or_default();
        let missing = |p: &Path| {
            format!(
                "{} does not exist: {BIN_VAR} must name the server folder of a MySQL or MariaDB build; {}",
                p.display(),
                crate::HOW_TO_RUN
            )
        };
        if bin.join("mariadbd").exists() {
            let install = base.join("bin").join("mariadb-install-db");
            let client = base.join("bin").join("mariadb");
            for p in [&install, &client] {
                if !p.exists() {
                    return Err(missing(p));
                }
            }
            return Ok(Build {
                server: bin.join("mariadbd"),
                client,
                install: Some(install),
                base: Some(base),
                product: Product::MariaDb,
            });
        }
        let (server, client) = (bin.join("mysqld"), base.join("bin").join("mysql"));
        for p in [&server, &client] {
            if !p.exists() {
                return Err(missing(p));
            }
        }
        Ok(Build {
            server,
            client,
            install: None,
            base: Some(base),
            product: Product::MySql,
        })
    }

    /// `--basedir` and the messages folder, for a build outside its own paths.
    fn base_args(&self) -> Vec<String> {
        let Some(base) = &self.base else {
            return Vec::new();
        };
        let mut args = vec![format!("--basedir={}", base.display())];
        if self.product == Product::MySql {
            args.push(format!(
                "--lc-messages-dir={}",
                base.join("share").join("mysql").display()
            ));
        }
        args
    }

    /// Make a new data folder.
    fn initialise(&self, data: &Path, tmp: &Path) -> Result<(), String> {
        match &self.install {
            Some(install) => run_ok(
                Command::new(install)
                    .arg("--no-defaults")
                    .args(self.base_args())
                    .arg(format!("--datadir={}", data.display()))
                    .arg(format!("--tmpdir={}", tmp.display()))
                    .args([
                        "--user=root",
                        "--auth-root-authentication-method=normal",
                        "--skip-test-db",
                    ]),
                "mariadb-install-db",
            ),
            // Root gets an empty password, reachable only through the private socket.
            None => run_ok(
                Command::new(&self.server)
                    .arg("--no-defaults")
                    .args(self.base_args())
                    .arg(format!("--datadir={}", data.display()))
                    .arg(format!("--tmpdir={}", tmp.display()))
                    .args(["--initialize-insecure", "--user=root"]),
                "mysqld --initialize-insecure",
            ),
        }
    }
}

impl MariaDb {
    /// Start a new server; with `tls`, it serves TLS with the test CA's certificate.
    pub fn start(tls: Option<&TestCa>) -> Result<MariaDb, String> {
        MariaDb::start_with(Options {
            tls,
            ..Options::default()
        })
    }

    /// Start a new server set up as `opts` says.
    pub fn start_with(opts: Options<'_>) -> Result<MariaDb, String> {
        let build = Build::find(opts.bin)?;
        let dir = ServerProcess::folder("mariadb")?;
        let data = dir.path().join("data");
        // A private temp folder: two installs at once in the shared /tmp collide on the names
        // of their temporary tables, and one of them aborts.
        let tmp = dir.path().join("tmp");
        std::fs::create_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
        build.initialise(&data, &tmp)?;
        let port = crate::net::free_port();
        let socket = dir.path().join("sock");
        let mut cmd = Command::new(&build.server);
        cmd.arg("--no-defaults")
            .args(build.base_args())
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--port={port}"))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--pid-file={}", dir.path().join("pid").display()))
            .arg(format!("--tmpdir={}", tmp.display()))
            .args([
                "--bind-address=127.0.0.1",
                "--user=root",
                "--skip-name-resolve",
            ])
            .args(["--innodb-buffer-pool-size=16M", "--performance-schema=OFF"]);
        let throwaway = match (build.product, opts.own_certificate) {
            (Product::MariaDb, true) if opts.tls.is_none() => Some(TestCa::new()?),
            _ => None,
        };
        let tls = opts.tls.or(throwaway.as_ref());
        match build.product {
            // The log goes to the process's own output, which ServerProcess keeps.
            Product::MariaDb => {
                cmd.arg("--log-error=");
                if tls.is_none() {
                    // MariaDB 11.4+ would make a certificate of its own.
                    cmd.arg("--skip-ssl");
                }
            }
            Product::MySql => {
                // No X Protocol listener (it would take a second port), and no
                // secure-file-priv folder (the default one does not exist here).
                cmd.args(["--mysqlx=OFF", "--secure-file-priv="]);
                if opts.raw_log {
                    cmd.arg("--log-raw");
                }
                if tls.is_none() && !opts.own_certificate {
                    // MySQL makes a certificate of its own at first start and offers TLS with
                    // it.
                    cmd.arg("--tls-version=");
                }
            }
        }
        if let Some(ca) = tls {
            cmd.arg(format!("--ssl-ca={}", ca.ca_pem().display()))
                .arg(format!("--ssl-cert={}", ca.server_cert().display()))
                .arg(format!("--ssl-key={}", ca.server_key().display()));
        }
        cmd.args(opts.args);
        let process = ServerProcess::spawn("mariadb", dir, &mut cmd)?;
        crate::net::wait_for_port(port, Duration::from_secs(60))
            .map_err(|e| format!("the server did not start: {e}\n{}", process.log_tail()))?;
        let admin_password = crate::unique("Adm1n-");
        bootstrap(&build, &socket, &admin_password)?;
        Ok(MariaDb {
            port,
            admin_user: "admin".into(),
            admin_password,
            product: build.product,
            offers_tls: tls.is_some() || opts.own_certificate,
            process: Some(process),
            _throwaway_ca: throwaway,
        })
    }

    /// The server `cargo xtask test` started for this run.
    pub fn from_env() -> MariaDb {
        MariaDb {
            port: crate::required_env("ROTATION_TEST_MARIADB_PORT")
                .parse()
                .unwrap_or_else(|e| panic!("ROTATION_TEST_MARIADB_PORT: {e}")),
            admin_user: crate::required_env("ROTATION_TEST_MARIADB_USER"),
            admin_password: crate::required_env("ROTATION_TEST_MARIADB_PASSWORD"),
            product: match std::env::var("ROTATION_TEST_MARIADB_PRODUCT").as_deref() {
                Ok("mysql") => Product::MySql,
                _ => Product::MariaDb,
            },
            offers_tls: std::env::var("ROTATION_TEST_MARIADB_TLS").as_deref() == Ok("true"),
            process: None,
            _throwaway_ca: None,
        }
    }

    /// The variables that tell the tests where it is.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("ROTATION_TEST_MARIADB_PORT".into(), self.port.to_string()),
            ("ROTATION_TEST_MARIADB_USER".into(), self.admin_user.clone()),
            (
                "ROTATION_TEST_MARIADB_PASSWORD".into(),
                self.admin_password.clone(),
            ),
            (
                "ROTATION_TEST_MARIADB_TLS".into(),
                self.offers_tls.to_string(),
            ),
            (
                "ROTATION_TEST_MARIADB_PRODUCT".into(),
                match self.product {
                    Product::MariaDb => "mariadb",
                    Product::MySql => "mysql",
                }
                .into(),
            ),
        ]
    }

    /// The server's log (empty for a borrowed server).
    pub fn log(&self) -> String {
        self.process
            .as_ref()
            .map(ServerProcess::log)
            .unwrap_or_default()
    }

    /// Stop the server (a "database down" scenario). Only for servers started here.
    pub fn stop(&mut self) {
        if let Some(p) = self.process.as_mut() {
            p.stop();
        }
    }
}

fn bootstrap(build: &Build, socket: &Path, password: &str) -> Result<(), String> {
    let mut sql = format!(
        "CREATE USER 'admin'@'%' IDENTIFIED BY '{password}'; GRANT ALL PRIVILEGES ON *.* TO 'admin'@'%' WITH GRANT OPTION; CREATE DATABASE IF NOT EXISTS appdb;"
    );
    let mut client = Command::new(&build.client);
    client
        .arg("--no-defaults")
        .arg("-uroot")
        .arg(format!("--socket={}", socket.display()));
    match build.product {
        // As MySQL's root has: the right to pass any PROXY grant on.
        Product::MySql => sql.push_str(" GRANT PROXY ON ''@'' TO 'admin'@'%' WITH GRANT OPTION;"),
        // MariaDB 11.4+'s client wants TLS even on the socket unless told otherwise.
        Product::MariaDb => {
            client.arg("--skip-ssl");
        }
    }
    run_ok(client.args(["-e", &sql]), "creating the admin user")
}
