//! A Lambda Runtime API on loopback, and a built `bootstrap` run against it exactly as Lambda
//! runs it: the process polls `/runtime/invocation/next`, handles the event, and posts a
//! response or an error.

use crate::http::{read_message, request_line};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The handler returned this JSON.
    Ok(Value),
    /// The handler returned an error.
    Err {
        /// `errorType`.
        error_type: String,
        /// `errorMessage`.
        error_message: String,
    },
}

impl Outcome {
    /// The error, or a panic that says the invocation succeeded.
    pub fn expect_err(self, what: &str) -> (String, String) {
        match self {
            Outcome::Err {
                error_type,
                error_message,
            } => (error_type, error_message),
            Outcome::Ok(v) => panic!("{what}: expected an error, got {v}"),
        }
    }

    /// Panic with the error unless the invocation succeeded.
    pub fn expect_ok(self, what: &str) {
        if let Outcome::Err {
            error_type,
            error_message,
        } = self
        {
            panic!("{what}: {error_type}: {error_message}");
        }
    }
}

/// The function ARN the emulator says was invoked, unless told otherwise: the one the
/// Secrets Manager emulator's placeholder function has.
pub const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:rotation-test";

/// The X-Ray trace id the emulator sends with every invocation.
pub const TRACE_ID: &str = "Root=1-00000000-000000000000000000000000;Sampled=0";

#[derive(Default)]
struct State {
    queue: VecDeque<(String, String)>,
    /// The request id of every invocation, in order.
    ids: Vec<String>,
    results: HashMap<String, Outcome>,
    first_poll: Option<Instant>,
    polls: usize,
    init_error: Option<String>,
    /// The `Lambda-Runtime-Invoked-Function-Arn` sent, when not [`FUNCTION_ARN`].
    invoked_arn: Option<String>,
    /// The time each invocation gets (its `Lambda-Runtime-Deadline-Ms`), when not
    /// [`TIME_LIMIT`].
    time_limit: Option<Duration>,
}

/// The time an invocation gets unless told otherwise: Lambda's longest, 15 minutes.
pub const TIME_LIMIT: Duration = Duration::from_secs(900);

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

/// The Runtime API server.
pub struct RuntimeApi {
    /// `127.0.0.1:PORT`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    shared: Arc<Shared>,
}

fn respond(stream: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &str) -> bool {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(body);
    stream.write_all(out.as_bytes()).is_ok()
}

fn serve(stream: TcpStream, shared: Arc<Shared>) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Some((head, body)) = read_message(&mut reader) {
        let Some((method, path)) = request_line(&head) else {
            return;
        };
        let path = path.trim_start_matches("/2018-06-01/runtime");
        if method == "GET" && path == "/invocation/next" {
            let (id, event, invoked_arn, limit) = {
                let mut st = shared.state.lock().unwrap_or_else(|p| p.into_inner());
                st.polls += 1;
                st.first_poll.get_or_insert_with(Instant::now);
                shared.changed.notify_all();
                loop {
                    if let Some((id, event)) = st.queue.pop_front() {
                        let arn = st.invoked_arn.clone().unwrap_or(FUNCTION_ARN.to_owned());
                        break (id, event, arn, st.time_limit.unwrap_or(TIME_LIMIT));
                    }
                    st = shared.changed.wait(st).unwrap_or_else(|p| p.into_inner());
                }
            };
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| (d + limit).as_millis())
                .unwrap_or(0);
            let headers = [
                ("Lambda-Runtime-Aws-Request-Id", id),
                ("Lambda-Runtime-Deadline-Ms", deadline.to_string()),
                ("Lambda-Runtime-Invoked-Function-Arn", invoked_arn),
                ("Lambda-Runtime-Trace-Id", TRACE_ID.to_owned()),
            ];
            if !respond(&mut writer, "200 OK", &headers, &event) {
                return;
            }
            continue;
        }
        let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let mut st = shared.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(rest) = path.strip_prefix("/invocation/") {
            if let Some(id) = rest.strip_suffix("/response") {
                st.results.insert(id.to_owned(), Outcome::Ok(parsed));
            } else if let Some(id) = rest.strip_suffix("/error") {
                st.results.insert(
                    id.to_owned(),
                    Outcome::Err {
                        error_type: parsed["errorType"].as_str().unwrap_or_default().to_owned(),
                        error_message: parsed["errorMessage"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                    },
                );
            }
        } else if path == "/init/error" {
            st.init_error = Some(parsed.to_string());
        }
        shared.changed.notify_all();
        drop(st);
        if !respond(&mut writer, "202 Accepted", &[], "{\"status\":\"OK\"}") {
            return;
        }
    }
}

impl RuntimeApi {
    /// Listen on a free loopback port.
    pub fn start() -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
        let address = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|e| panic!("local_addr: {e}"));
        let shared = Arc::new(Shared::default());
        let s = Arc::clone(&shared);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let s = Arc::clone(&s);
                std::thread::spawn(move || serve(stream, s));
            }
        });
        RuntimeApi { address, shared }
    }

    /// Queue an event and wait for its outcome.
    pub fn invoke(&self, event: &Value, timeout: Duration) -> Result<Outcome, String> {
        let id = crate::unique("req-");
        let mut st = self.shared.state.lock().unwrap_or_else(|p| p.into_inner());
        st.ids.push(id.clone());
        st.queue.push_back((id.clone(), event.to_string()));
        self.shared.changed.notify_all();
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(outcome) = st.results.remove(&id) {
                return Ok(outcome);
            }
            if let Some(e) = &st.init_error {
                return Err(format!("the function failed to initialise: {e}"));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!("no response within {timeout:?}"));
            }
            st = self
                .shared
                .changed
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Say from now on that `arn` was invoked, as Lambda does for another function or alias.
    pub fn set_invoked_arn(&self, arn: &str) {
        let mut st = self.shared.state.lock().unwrap_or_else(|p| p.into_inner());
        st.invoked_arn = Some(arn.to_owned());
    }

    /// Give each invocation from now on `limit` (its `Lambda-Runtime-Deadline-Ms`), as a
    /// function's timeout does.
    pub fn set_time_limit(&self, limit: Duration) {
        let mut st = self.shared.state.lock().unwrap_or_else(|p| p.into_inner());
        st.time_limit = Some(limit);
    }

    /// The request ids of the invocations so far, in order.
    pub fn request_ids(&self) -> Vec<String> {
        let st = self.shared.state.lock().unwrap_or_else(|p| p.into_inner());
        st.ids.clone()
    }

    /// Wait until the function first asks for an event; returns when that happened.
    pub fn wait_first_poll(&self, timeout: Duration) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(t) = st.first_poll {
                return Some(t);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            st = self
                .shared
                .changed
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

/// A rotation event for the Runtime API.
pub fn event(arn: &str, token: &str, step: &str) -> Value {
    json!({"SecretId": arn, "ClientRequestToken": token, "Step": step})
}

/// A `bootstrap` process serving one Runtime API. Killed when dropped.
pub struct Function {
    child: Option<Child>,
    /// Its Runtime API.
    pub api: RuntimeApi,
    output: Arc<Mutex<Vec<u8>>>,
    /// When the process was spawned.
    pub spawned: Instant,
}

impl Function {
    /// Start `binary` as Lambda would, with the emulator as Secrets Manager and `env` on top.
    pub fn spawn(binary: &Path, moto_url: &str, env: &[(&str, &str)]) -> Function {
        Function::spawn_under(None, binary, moto_url, env)
    }

    /// As [`Function::spawn`], through `runner` when given (e.g. `qemu-aarch64-static` for an
    /// arm64 binary on an x86_64 machine).
    pub fn spawn_under(
        runner: Option<&Path>,
        binary: &Path,
        moto_url: &str,
        env: &[(&str, &str)],
    ) -> Function {
        let api = RuntimeApi::start();
        let mut cmd = match runner {
            Some(r) => {
                let mut c = Command::new(r);
                c.arg(binary);
                c
            }
            None => Command::new(binary),
        };
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", &api.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", "rotation-test")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("SECRETS_MANAGER_ENDPOINT", moto_url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(ca) = crate::tls::shared_ca_bundle() {
            cmd.env("CA_BUNDLE", ca);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let spawned = Instant::now();
        // A binary a test has just written can be "busy" for a moment: a process another test
        // thread forks at that instant holds the write handle until it execs. Wait it out.
        let mut attempts = 0;
        let mut child = loop {
            match cmd.spawn() {
                Err(e) if e.raw_os_error() == Some(26) && attempts < 100 => {
                    attempts += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                other => {
                    break other
                        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
                }
            }
        };
        let output = Arc::new(Mutex::new(Vec::new()));
        for mut pipe in [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let out = Arc::clone(&output);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    out.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .extend_from_slice(&buf[..n]);
                }
            });
        }
        Function {
            child: Some(child),
            api,
            output,
            spawned,
        }
    }

    /// Invoke one step and wait (up to a minute) for its outcome.
    pub fn invoke(&self, arn: &str, token: &str, step: &str) -> Outcome {
        self.api
            .invoke(&event(arn, token, step), Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{step}: {e}\nfunction output:\n{}", self.output()))
    }

    /// Run the four steps, panicking on the first error.
    pub fn rotate(&self, arn: &str, token: &str) {
        for s in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
            self.invoke(arn, token, s).expect_ok(s);
        }
    }

    /// The request ids of the invocations so far, in order.
    pub fn request_ids(&self) -> Vec<String> {
        self.api.request_ids()
    }

    /// Everything the process printed so far (stdout and stderr).
    pub fn output(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }

    /// Peak resident memory of the process so far, in KiB (Linux `VmHWM`).
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let pid = self.child.as_ref()?.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
    }

    /// CPU time the process has used so far, all its threads together (Linux
    /// `/proc/PID/task/*/schedstat`: nanoseconds on a CPU).
    pub fn cpu_time(&self) -> Option<Duration> {
        let pid = self.child.as_ref()?.id();
        let mut total = 0u64;
        for task in std::fs::read_dir(format!("/proc/{pid}/task"))
            .ok()?
            .flatten()
        {
            let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
            total += stat
                .split_whitespace()
                .next()
                .and_then(|ns| ns.parse::<u64>().ok())
                .unwrap_or(0);
        }
        Some(Duration::from_nanos(total))
    }

    /// Kill the process at once (SIGKILL), as a crash or a Lambda timeout would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        self.kill();
    }
}
