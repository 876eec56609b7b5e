//! Throwaway MariaDB servers: a fresh data folder, a free port, password authentication, and
//! an `admin` user with every privilege. Started from the installed `mariadbd`.

use crate::process::{ServerProcess, find_binary};
use crate::tls::TestCa;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// A MariaDB server (owned when started here, borrowed when `cargo xtask test` started it).
pub struct MariaDb {
    /// Port on 127.0.0.1.
    pub port: u16,
    /// A user with all privileges `WITH GRANT OPTION`, at host `%`.
    pub admin_user: String,
    /// Its password.
    pub admin_password: String,
    process: Option<ServerProcess>,
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

impl MariaDb {
    /// Start a new server; with `tls`, it serves TLS with the test CA's certificate.
    pub fn start(tls: Option<&TestCa>) -> Result<MariaDb, String> {
        let server = find_binary(
            &["/usr/sbin/mariadbd", "/usr/sbin/mysqld"],
            "mariadb-server",
        )?;
        let install = find_binary(
            &["/usr/bin/mariadb-install-db", "/usr/bin/mysql_install_db"],
            "mariadb-server",
        )?;
        let client = find_binary(&["/usr/bin/mariadb", "/usr/bin/mysql"], "mariadb-client")?;
        let dir = ServerProcess::folder("mariadb")?;
        let data = dir.path().join("data");
        // A private temp folder: two installs at once in the shared /tmp collide on the names
        // of their temporary tables, and one of them aborts.
        let tmp = dir.path().join("tmp");
        std::fs::create_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
        run_ok(
            Command::new(&install)
                .arg("--no-defaults")
                .arg(format!("--datadir={}", data.display()))
                .arg(format!("--tmpdir={}", tmp.display()))
                .args([
                    "--user=root",
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                ]),
            "mariadb-install-db",
        )?;
        let port = crate::net::free_port();
        let socket = dir.path().join("sock");
        let mut cmd = Command::new(&server);
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--port={port}"))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--pid-file={}", dir.path().join("pid").display()))
            .arg(format!("--tmpdir={}", tmp.display()))
            .args([
                "--bind-address=127.0.0.1",
                "--user=root",
                "--skip-name-resolve",
                "--log-error=",
            ])
            .args(["--innodb-buffer-pool-size=16M", "--performance-schema=OFF"]);
        if let Some(ca) = tls {
            cmd.arg(format!("--ssl-ca={}", ca.ca_pem().display()))
                .arg(format!("--ssl-cert={}", ca.server_cert().display()))
                .arg(format!("--ssl-key={}", ca.server_key().display()));
        }
        let process = ServerProcess::spawn("mariadb", dir, &mut cmd)?;
        crate::net::wait_for_port(port, Duration::from_secs(60))
            .map_err(|e| format!("MariaDB did not start: {e}\n{}", process.log_tail()))?;
        let admin_password = crate::unique("Adm1n-");
        bootstrap(&client, &socket, &admin_password)?;
        Ok(MariaDb {
            port,
            admin_user: "admin".into(),
            admin_password,
            process: Some(process),
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
            process: None,
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

fn bootstrap(client: &Path, socket: &Path, password: &str) -> Result<(), String> {
    let sql = format!(
        "CREATE USER 'admin'@'%' IDENTIFIED BY '{password}'; GRANT ALL PRIVILEGES ON *.* TO 'admin'@'%' WITH GRANT OPTION; CREATE DATABASE IF NOT EXISTS appdb;"
    );
    run_ok(
        Command::new(client)
            .arg("--no-defaults")
            .arg("-uroot")
            .arg(format!("--socket={}", socket.display()))
            .args(["-e", &sql]),
        "creating the admin user",
    )
}
