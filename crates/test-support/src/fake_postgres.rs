//! An active attacker's stand-in for a PostgreSQL server, not a database mock: it declines
//! TLS (answers the SSLRequest with `N`), reads the startup message, asks for the password in
//! a form that would reveal it (cleartext, or an MD5 hash with a salt it chose), and records
//! every byte the client sends. A password it is given is refused with SQLSTATE 28P01, as a
//! real server would refuse a wrong one, so the client closes the connection.
//!
//! The request is sent one byte at a time, so that a client's check cannot rely on the
//! request arriving in one read.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The protocol code of an SSLRequest (and the GSSENCRequest right after it).
const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;

/// The authentication request the fake server sends after the startup message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// AuthenticationCleartextPassword (`R`, code 3): the client answers with the password.
    Cleartext,
    /// AuthenticationMD5Password (`R`, code 5) with this salt: the client answers with
    /// `md5(md5(password + user) + salt)`, which a listener can attack offline or replay to a
    /// server that stores the same hash.
    Md5([u8; 4]),
}

impl Ask {
    /// The `R` message.
    fn message(self) -> Vec<u8> {
        let mut m = vec![b'R'];
        match self {
            Ask::Cleartext => {
                m.extend(8u32.to_be_bytes());
                m.extend(3u32.to_be_bytes());
            }
            Ask::Md5(salt) => {
                m.extend(12u32.to_be_bytes());
                m.extend(5u32.to_be_bytes());
                m.extend(salt);
            }
        }
        m
    }
}

/// What one client connection sent.
#[derive(Debug, Clone, Default)]
pub struct Capture {
    /// The client asked for TLS first (and was told no).
    pub ssl_request: bool,
    /// The startup message, whole (length, protocol version, `name\0value\0` pairs, `\0`).
    pub startup: Vec<u8>,
    /// Every byte the client sent after the authentication request.
    pub after_ask: Vec<u8>,
}

impl Capture {
    /// A parameter of the startup message, such as `user` or `database`.
    pub fn startup_param(&self, name: &str) -> Option<String> {
        let body = self.startup.get(8..)?;
        let mut fields = body.split(|b| *b == 0);
        while let Some(key) = fields.next() {
            let value = fields.next()?;
            if key == name.as_bytes() {
                return Some(String::from_utf8_lossy(value).into_owned());
            }
        }
        None
    }
}

#[derive(Default)]
struct Seen {
    accepted: usize,
    done: Vec<Capture>,
}

#[derive(Default)]
struct Shared {
    seen: Mutex<Seen>,
    changed: Condvar,
}

/// The fake server, listening on 127.0.0.1 until the test process ends.
pub struct FakePostgres {
    /// Port on 127.0.0.1.
    pub port: u16,
    shared: Arc<Shared>,
}

impl FakePostgres {
    /// Listen on a free loopback port and answer every connection with `ask`.
    pub fn start(ask: Ask) -> FakePostgres {
        let listener = TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("cannot bind a port on 127.0.0.1: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("local address: {e}"))
            .port();
        let shared = Arc::new(Shared::default());
        let accepting = Arc::clone(&shared);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                lock(&accepting).accepted += 1;
                let serving = Arc::clone(&accepting);
                std::thread::spawn(move || {
                    let capture = serve(stream, ask);
                    lock(&serving).done.push(capture);
                    serving.changed.notify_all();
                });
            }
        });
        FakePostgres { port, shared }
    }

    /// What every connection so far sent, once each has been closed by the client. Panics if
    /// one is still open after 10 seconds: a client that gave up must close its connection.
    pub fn captures(&self) -> Vec<Capture> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = lock(&self.shared);
        while seen.done.len() < seen.accepted {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "{} of {} connections to the fake server are still open after 10 s",
                seen.accepted - seen.done.len(),
                seen.accepted
            );
            seen = self
                .shared
                .changed
                .wait_timeout(seen, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        seen.done.clone()
    }
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Seen> {
    shared.seen.lock().unwrap_or_else(|p| p.into_inner())
}

fn read_u32(stream: &mut TcpStream) -> Option<[u8; 4]> {
    let mut b = [0u8; 4];
    stream.read_exact(&mut b).ok()?;
    Some(b)
}

/// One connection: TLS declined, startup read, the request sent, everything after recorded.
fn serve(mut stream: TcpStream, ask: Ask) -> Capture {
    let mut capture = Capture::default();
    // A client that hangs must not hang the test: the capture ends after 10 s of silence.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_nodelay(true);
    let mut startup = Vec::new();
    loop {
        let (Some(len), Some(code)) = (read_u32(&mut stream), read_u32(&mut stream)) else {
            return capture;
        };
        let (len_n, code_n) = (u32::from_be_bytes(len), u32::from_be_bytes(code));
        if len_n == 8 && (code_n == SSL_REQUEST || code_n == GSSENC_REQUEST) {
            capture.ssl_request |= code_n == SSL_REQUEST;
            if stream.write_all(b"N").is_err() {
                return capture;
            }
            continue;
        }
        startup.extend(len);
        startup.extend(code);
        let mut rest = vec![0u8; (len_n as usize).saturating_sub(8).min(1 << 16)];
        if stream.read_exact(&mut rest).is_err() {
            capture.startup = startup;
            return capture;
        }
        startup.extend(rest);
        break;
    }
    capture.startup = startup;

    for byte in ask.message() {
        if stream.write_all(&[byte]).is_err() {
            return capture;
        }
        std::thread::sleep(Duration::from_millis(2));
    }

    let mut refused = false;
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return capture,
            Ok(n) => capture.after_ask.extend_from_slice(&buf[..n]),
        }
        if !refused && password_message_complete(&capture.after_ask) {
            refused = true;
            let user = capture.startup_param("user").unwrap_or_default();
            if stream.write_all(&password_refused(&user)).is_err() {
                return capture;
            }
        }
    }
}

/// Whether `bytes` start with a whole PasswordMessage (`p`, int32 length, body).
fn password_message_complete(bytes: &[u8]) -> bool {
    match bytes {
        [b'p', a, b, c, d, rest @ ..] => {
            let len = u32::from_be_bytes([*a, *b, *c, *d]) as usize;
            rest.len() + 4 >= len
        }
        _ => false,
    }
}

/// The ErrorResponse a real server sends for a wrong password.
fn password_refused(user: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for (field, value) in [
        (b'S', "FATAL".to_owned()),
        (b'V', "FATAL".to_owned()),
        (b'C', "28P01".to_owned()),
        (
            b'M',
            format!("password authentication failed for user \"{user}\""),
        ),
    ] {
        body.push(field);
        body.extend(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut m = vec![b'E'];
    m.extend(((body.len() + 4) as u32).to_be_bytes());
    m.extend(body);
    m
}
