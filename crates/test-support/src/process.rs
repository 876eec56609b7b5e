//! A server process that belongs to a test: killed, and its folder removed, when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use tempfile::TempDir;

/// A running server and its private folder.
pub struct ServerProcess {
    child: Option<Child>,
    dir: TempDir,
    name: String,
    log: PathBuf,
}

impl ServerProcess {
    /// A fresh private folder for a server of this name (under the system temp dir).
    pub fn folder(name: &str) -> Result<TempDir, String> {
        tempfile::Builder::new()
            .prefix(&format!("rotation-test-{name}-"))
            .tempdir()
            .map_err(|e| format!("cannot create a temp folder: {e}"))
    }

    /// Start `cmd` with its output in `<dir>/<name>.log`.
    pub fn spawn(name: &str, dir: TempDir, cmd: &mut Command) -> Result<ServerProcess, String> {
        let log = dir.path().join(format!("{name}.log"));
        let file = std::fs::File::create(&log)
            .map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let err = file.try_clone().map_err(|e| e.to_string())?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {name} ({:?}): {e}", cmd.get_program()))?;
        Ok(ServerProcess {
            child: Some(child),
            dir,
            name: name.to_owned(),
            log,
        })
    }

    /// The server's private folder.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last lines of the log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(25)..].join("\n")
    }

    /// Whether the process has exited.
    pub fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_none_or(|c| c.try_wait().map(|s| s.is_some()).unwrap_or(true))
    }

    /// Stop the process (SIGKILL) and wait for it; the folder stays until drop.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Replace the stopped process with a new one in the same folder.
    pub fn respawn(&mut self, cmd: &mut Command) -> Result<(), String> {
        self.stop();
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.log)
            .map_err(|e| e.to_string())?;
        let err = file.try_clone().map_err(|e| e.to_string())?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot restart {}: {e}", self.name))?;
        self.child = Some(child);
        Ok(())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Find a server binary: the first of `candidates` that exists, else one on PATH.
pub fn find_binary(candidates: &[&str], apt_package: &str) -> Result<PathBuf, String> {
    for c in candidates {
        if c.contains('*') {
            if let Some(found) = glob_one(c) {
                return Ok(found);
            }
        } else if Path::new(c).exists() {
            return Ok(PathBuf::from(c));
        }
    }
    let name = candidates
        .last()
        .and_then(|c| Path::new(c).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let on_path = std::env::var_os("PATH").map(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(&name))
            .find(|p| p.exists())
    });
    on_path.flatten().ok_or_else(|| {
        format!(
            "cannot find {name}: install it with `apt-get install {apt_package}`, or {}",
            crate::HOW_TO_RUN
        )
    })
}

/// The newest match of a pattern with one `*` in a folder component (e.g. PostgreSQL's
/// versioned folders).
fn glob_one(pattern: &str) -> Option<PathBuf> {
    let (before, after) = pattern.split_once('*')?;
    // "/a/b/*/c": the folder is /a/b and names may start with anything; "/a/b/x*/c": the
    // folder is /a/b and names start with "x".
    let (parent, prefix) = match before.rsplit_once('/') {
        Some((dir, prefix)) => (
            Path::new(if dir.is_empty() { "/" } else { dir }),
            prefix.to_owned(),
        ),
        None => (Path::new("."), before.to_owned()),
    };
    let (middle_suffix, rest) = after.split_once('/').unwrap_or((after, ""));
    let mut found: Vec<PathBuf> = std::fs::read_dir(parent)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with(&prefix) && n.ends_with(middle_suffix)
        })
        .map(|e| e.path().join(rest))
        .filter(|p| p.exists())
        .collect();
    found.sort_by_key(|p| {
        p.components()
            .filter_map(|c| c.as_os_str().to_str()?.parse::<u32>().ok())
            .next()
            .unwrap_or(0)
    });
    found.pop()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_star_can_be_a_whole_folder_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        for v in ["13", "15"] {
            std::fs::create_dir_all(dir.path().join(v).join("bin")).expect("mkdir");
            std::fs::write(dir.path().join(v).join("bin").join("postgres"), "").expect("write");
        }
        let pattern = format!("{}/*/bin/postgres", dir.path().display());
        assert_eq!(
            glob_one(&pattern),
            Some(dir.path().join("15").join("bin").join("postgres"))
        );
        let pattern = format!("{}/1*/bin/postgres", dir.path().display());
        assert_eq!(
            glob_one(&pattern),
            Some(dir.path().join("15").join("bin").join("postgres"))
        );
    }
}
