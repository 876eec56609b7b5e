//! An HTTP proxy in front of the Secrets Manager emulator that counts calls by operation
//! (`X-Amz-Target`) and the time the emulator took to answer them, so tests and benchmarks can
//! see how many calls a rotation makes and what they cost; and
//! [`serve`], the proxy itself, for tests that want to see or answer requests themselves;
//! [`ThrottlingProxy`] answers most calls with `ThrottlingException` while it is told to;
//! [`FaultProxy`] injects the faults of the soak (throttling, 5xx, dropped connections, lost
//! replies to writes).

use crate::http::read_message;
use std::collections::HashMap;
use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a proxy does with each request: it is given the operation (the last part of
/// `X-Amz-Target`, or `other`) and the body, and returns `None` to forward the request, or a
/// whole HTTP response to answer it with instead, or [`DROP`] or [`LOSE_REPLY`].
pub type Intercept = dyn Fn(&str, &[u8]) -> Option<String> + Send + Sync;

/// What an [`Intercept`] returns to close the connection without answering, as a network
/// fault or a crashed front end does.
pub const DROP: &str = "\u{0}drop";

/// What an [`Intercept`] returns to forward the request, let the service carry it out, and
/// then close the connection without passing the reply on: the caller cannot tell whether
/// its write happened.
pub const LOSE_REPLY: &str = "\u{0}lose-reply";

/// What a proxy is told after each forwarded request: the operation, and the time from
/// sending the request upstream to having read the whole reply.
type Observe = dyn Fn(&str, Duration) + Send + Sync;

/// Calls and their time upstream, by operation.
#[derive(Default)]
struct Tally {
    counts: HashMap<String, usize>,
    upstream: Duration,
}

/// The proxy; its counters are shared with the serving threads.
pub struct CountingProxy {
    /// `http://127.0.0.1:PORT`: give this to the function as its endpoint.
    pub url: String,
    tally: Arc<Mutex<Tally>>,
}

fn operation(head: &str) -> String {
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("x-amz-target")
                .then(|| v.trim())
        })
        .map_or("other", |t| t.rsplit('.').next().unwrap_or(t))
        .to_owned()
}

fn relay(
    client: TcpStream,
    upstream_addr: String,
    intercept: Arc<Intercept>,
    observe: Option<Arc<Observe>>,
) {
    let Ok(mut client_w) = client.try_clone() else {
        return;
    };
    let mut client_r = BufReader::new(client);
    let Ok(upstream) = TcpStream::connect(&upstream_addr) else {
        return;
    };
    let Ok(mut upstream_w) = upstream.try_clone() else {
        return;
    };
    let mut upstream_r = BufReader::new(upstream);
    while let Some((head, body)) = read_message(&mut client_r) {
        if let Some(response) = intercept(&operation(&head), &body) {
            if response == DROP {
                return;
            }
            if response == LOSE_REPLY {
                if upstream_w.write_all(head.as_bytes()).is_ok()
                    && upstream_w.write_all(&body).is_ok()
                {
                    let _ = read_message(&mut upstream_r);
                }
                return;
            }
            if client_w.write_all(response.as_bytes()).is_err() {
                return;
            }
            continue;
        }
        let sent = Instant::now();
        if upstream_w.write_all(head.as_bytes()).is_err() || upstream_w.write_all(&body).is_err() {
            return;
        }
        let Some((rhead, rbody)) = read_message(&mut upstream_r) else {
            return;
        };
        if let Some(observe) = &observe {
            observe(&operation(&head), sent.elapsed());
        }
        if client_w.write_all(rhead.as_bytes()).is_err() || client_w.write_all(&rbody).is_err() {
            return;
        }
    }
}

/// Listen on a free loopback port and forward to `upstream_url` (`http://host:port`), showing
/// every request to `intercept` first; returns the proxy's `http://127.0.0.1:PORT`.
pub fn serve(upstream_url: &str, intercept: Arc<Intercept>) -> String {
    serve_observed(upstream_url, intercept, None)
}

fn serve_observed(
    upstream_url: &str,
    intercept: Arc<Intercept>,
    observe: Option<Arc<Observe>>,
) -> String {
    let upstream = upstream_url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    let url = format!(
        "http://{}",
        listener
            .local_addr()
            .unwrap_or_else(|e| panic!("local_addr: {e}"))
    );
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (intercept, upstream) = (Arc::clone(&intercept), upstream.clone());
            let observe = observe.clone();
            std::thread::spawn(move || relay(stream, upstream, intercept, observe));
        }
    });
    url
}

impl CountingProxy {
    /// Listen on a free loopback port and forward to `upstream_url` (`http://host:port`).
    pub fn start(upstream_url: &str) -> CountingProxy {
        let tally = Arc::new(Mutex::new(Tally::default()));
        let (counted, timed) = (Arc::clone(&tally), Arc::clone(&tally));
        let url = serve_observed(
            upstream_url,
            Arc::new(move |op: &str, _body: &[u8]| {
                *lock(&counted).counts.entry(op.to_owned()).or_default() += 1;
                None
            }),
            Some(Arc::new(move |_op: &str, took: Duration| {
                lock(&timed).upstream += took;
            })),
        );
        CountingProxy { url, tally }
    }

    /// Calls so far, by operation.
    pub fn counts(&self) -> HashMap<String, usize> {
        lock(&self.tally).counts.clone()
    }

    /// All calls so far.
    pub fn total(&self) -> usize {
        lock(&self.tally).counts.values().sum()
    }

    /// The time the calls so far spent upstream: from the request's first byte sent to the
    /// reply's last byte read, summed. It is what the calls cost the caller at the least.
    pub fn upstream_time(&self) -> Duration {
        lock(&self.tally).upstream
    }

    /// Forget the counts and times.
    pub fn reset(&self) {
        *lock(&self.tally) = Tally::default();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A proxy that, while throttling, answers three calls of every four with
/// `ThrottlingException` (HTTP 400), as Secrets Manager does when an account's secrets rotate
/// at once, or every call when told to refuse all; otherwise it forwards.
pub struct ThrottlingProxy {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    state: Arc<Mutex<Throttle>>,
}

#[derive(Default)]
struct Throttle {
    /// 0: forward everything; 3: refuse three of four; 4: refuse all.
    refuse_of_four: usize,
    seen: usize,
    refused: usize,
}

impl ThrottlingProxy {
    /// Listen on a free loopback port and forward to `upstream_url`, not throttling yet.
    pub fn start(upstream_url: &str) -> ThrottlingProxy {
        let state = Arc::new(Mutex::new(Throttle::default()));
        let s = Arc::clone(&state);
        let url = serve(
            upstream_url,
            Arc::new(move |_op: &str, _body: &[u8]| {
                let mut t = lock(&s);
                t.seen += 1;
                let refuse = t.seen % 4 < t.refuse_of_four;
                if !refuse {
                    return None;
                }
                t.refused += 1;
                Some(error_response(
                    "400 Bad Request",
                    "ThrottlingException",
                    "Rate exceeded",
                ))
            }),
        );
        ThrottlingProxy { url, state }
    }

    /// Refuse three calls of every four (`most`), every call (`all`), or none (`off`).
    pub fn set(&self, mode: &str) {
        let mut t = lock(&self.state);
        t.refuse_of_four = match mode {
            "most" => 3,
            "all" => 4,
            _ => 0,
        };
    }

    /// How many calls were refused so far.
    pub fn refused(&self) -> usize {
        lock(&self.state).refused
    }
}

/// A fault [`FaultProxy`] injects while it is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Three calls of every four answered with `ThrottlingException` (HTTP 400).
    Throttle,
    /// Every second call answered with `InternalServiceError` (HTTP 500).
    ServerError,
    /// Every second call's connection closed without an answer.
    Dropped,
    /// The first write of each kind (`PutSecretValue`, `UpdateSecretVersionStage`) carried
    /// out, and its reply lost.
    LostReply,
}

impl Fault {
    /// Every fault, in a fixed order.
    pub const ALL: [Fault; 4] = [
        Fault::Throttle,
        Fault::ServerError,
        Fault::Dropped,
        Fault::LostReply,
    ];

    /// A short name, as the soak prints it.
    pub fn name(self) -> &'static str {
        match self {
            Fault::Throttle => "throttle",
            Fault::ServerError => "5xx",
            Fault::Dropped => "dropped",
            Fault::LostReply => "lost-reply",
        }
    }
}

#[derive(Default)]
struct Faults {
    fault: Option<Fault>,
    seen: usize,
    injected: usize,
    lost: Vec<String>,
}

/// A proxy in front of the Secrets Manager emulator that injects one [`Fault`] while it is
/// set, and forwards everything otherwise.
pub struct FaultProxy {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    state: Arc<Mutex<Faults>>,
}

fn error_response(status: &str, kind: &str, message: &str) -> String {
    let body = format!(r#"{{"__type":"{kind}","message":"{message}"}}"#);
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.1\r\nx-amzn-ErrorType: {kind}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

impl FaultProxy {
    /// Listen on a free loopback port and forward to `upstream_url`, injecting nothing yet.
    pub fn start(upstream_url: &str) -> FaultProxy {
        let state = Arc::new(Mutex::new(Faults::default()));
        let s = Arc::clone(&state);
        let url = serve(
            upstream_url,
            Arc::new(move |op: &str, _body: &[u8]| {
                let mut f = lock(&s);
                let fault = f.fault?;
                f.seen += 1;
                let seen = f.seen;
                let answer = match fault {
                    Fault::Throttle if seen % 4 != 0 => Some(error_response(
                        "400 Bad Request",
                        "ThrottlingException",
                        "Rate exceeded",
                    )),
                    Fault::ServerError if seen % 2 == 1 => Some(error_response(
                        "500 Internal Server Error",
                        "InternalServiceError",
                        "An internal error occurred",
                    )),
                    Fault::Dropped if seen % 2 == 1 => Some(DROP.to_owned()),
                    Fault::LostReply
                        if matches!(op, "PutSecretValue" | "UpdateSecretVersionStage")
                            && !f.lost.iter().any(|o| o == op) =>
                    {
                        f.lost.push(op.to_owned());
                        Some(LOSE_REPLY.to_owned())
                    }
                    _ => None,
                };
                if answer.is_some() {
                    f.injected += 1;
                }
                answer
            }),
        );
        FaultProxy { url, state }
    }

    /// Inject `fault` from now on (`None`: forward everything).
    pub fn set(&self, fault: Option<Fault>) {
        let mut f = lock(&self.state);
        f.fault = fault;
        f.seen = 0;
        f.lost.clear();
    }

    /// How many calls were answered with a fault (or had their reply lost) so far.
    pub fn injected(&self) -> usize {
        lock(&self.state).injected
    }
}
