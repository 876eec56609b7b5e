//! Connections: TCP, TLS as the secret asks, `AUTH` as the secret's user, and the sorting of
//! errors into network / TLS / authentication / permission / other.
//!
//! TLS is spoken here with tokio-rustls and the verifying configuration of
//! [`TlsSettings::client_config`]; the `redis` crate only frames commands over the stream. That
//! keeps one trust store (system roots plus `CA_BUNDLE`) and one crypto provider for every
//! engine.
//!
//! # When is plaintext allowed?
//! Redis serves TLS on its own port (`tls-port`), so a port either speaks TLS or it does not;
//! there is no in-band "I offer TLS" answer as in MySQL or PostgreSQL. A plaintext Redis port
//! stays silent when it receives a TLS hello (it waits for a line end that never comes), and a
//! TLS port cannot answer in Redis's own protocol. So with `ssl` absent (`Prefer`):
//! 1. a port not known to speak TLS is sent a bare `PING` (no credentials) first; only a
//!    reply in Redis's protocol (`+PONG`, `-NOAUTH …`) proves the port offers no TLS, and the
//!    session goes on in plaintext, with a warning, over that same connection (no TLS hello
//!    is built or sent);
//! 2. otherwise (a TLS port refuses the `PING`) the TLS handshake starts, and a finished
//!    handshake proves the port speaks TLS; if it has not finished within [`PROBE_AFTER`],
//!    the `PING` is asked again (a server reconfigured on the same port), and a reply of
//!    Redis's kind to the TLS hello itself also proves plaintext.
//!
//! That a port speaks TLS is remembered for the life of the process ([`seen_tls`]): it gets
//! the handshake alone, with no `PING`. So a plaintext port costs one round trip per
//! connection, a TLS port one refused connection per process, and neither a fixed wait.
//!
//! Anything else (a failed certificate or host name check, a TLS alert, a closed connection, a
//! timeout) is an error: there is never a downgrade after a failed verification. With
//! `"ssl": true` the same test turns a plaintext port into a quick, clear `TlsError` instead of
//! a timeout. On a TLS port, the first connection's `PING` is one refused connection per
//! process (a line in the server's log).

use crate::acl;
use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, ErrorKind, FromRedisValue, RedisConnectionInfo, RedisError, Value,
};
use rotation_core::{DbSecret, EngineError, ExposeSecret, SslMode, TlsSettings};
use rustls::pki_types::ServerName;
use std::collections::BTreeSet;
use std::io;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tracing::{debug, info, warn};

/// How long a TLS handshake may take before the port is asked (again) whether it speaks
/// plaintext. A TLS server answers a hello in one round trip, so this is
/// only reached by a server reconfigured on the same port and by slow networks (where the
/// extra `PING` costs nothing but a line in the server's log).
pub const PROBE_AFTER: Duration = Duration::from_millis(250);

/// Whether this process has seen `host:port` finish a TLS handshake (and not answer
/// plaintext since). Only TLS is remembered: a port not seen to speak it is asked `PING` first
/// on every connection anyway.
pub fn seen_tls(endpoint: &str) -> bool {
    lock_seen_tls().contains(endpoint)
}

/// Forget that `endpoint` spoke TLS (a test whose port another server used before).
pub fn forget(endpoint: &str) {
    lock_seen_tls().remove(endpoint);
}

fn lock_seen_tls() -> std::sync::MutexGuard<'static, BTreeSet<String>> {
    static SEEN_TLS: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    SEEN_TLS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Commands get at least this long to answer (`ACL SAVE` writes a file).
const MIN_RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the server did with the ACL change, as far as this connection can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Persistence {
    /// `ACL SAVE` wrote the ACL file (its path, when `CONFIG GET` could read it).
    Saved(Option<String>),
    /// The server has no ACL file: the change lives in memory until the next restart.
    MemoryOnly,
    /// Neither `CONFIG GET aclfile` nor `ACL SAVE` was allowed; the reason.
    Unknown(String),
}

/// An authenticated connection.
pub struct Session {
    conn: MultiplexedConnection,
    endpoint: String,
    user: String,
    /// Whether the connection is TLS (always verified: a failed verification is an error).
    tls: bool,
}

/// A stream that remembers the first byte the server sent, to tell a server that answered the
/// TLS hello in Redis's protocol from one that failed the handshake.
struct FirstByte<S> {
    inner: S,
    first: Option<u8>,
}

impl<S: AsyncRead + Unpin> AsyncRead for FirstByte<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if self.first.is_none() {
            self.first = buf.filled().get(before).copied();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FirstByte<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The first byte of a simple-string or error reply in Redis's protocol; no TLS record starts
/// with either.
fn is_resp_reply(byte: u8) -> bool {
    byte == b'+' || byte == b'-'
}

/// The transport under the Redis protocol.
enum Transport {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<FirstByte<TcpStream>>>),
}

fn network(endpoint: &str, e: &io::Error) -> EngineError {
    EngineError::Network {
        endpoint: endpoint.to_owned(),
        detail: e.to_string(),
    }
}

async fn tcp(creds: &DbSecret, endpoint: &str) -> Result<TcpStream, EngineError> {
    let stream = TcpStream::connect((creds.host.as_str(), creds.port))
        .await
        .map_err(|e| network(endpoint, &e))?;
    // Commands are small and answered one by one; waiting to fill a segment only adds latency.
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// The longest reply to a bare `PING` that is read (`-NOAUTH Authentication required.`).
const PING_REPLY_MAX: usize = 256;

/// A connection to the port on which a bare `PING` was answered in Redis's protocol, i.e. one
/// that speaks plaintext, with the whole reply read so that the session can go on over it.
/// `None` when the port does not answer so (a TLS port, a closed connection).
async fn answers_plaintext(creds: &DbSecret, endpoint: &str) -> Option<TcpStream> {
    let mut probe = tcp(creds, endpoint).await.ok()?;
    probe.write_all(b"PING\r\n").await.ok()?;
    let mut reply = Vec::with_capacity(64);
    let mut buf = [0u8; 64];
    while !reply.ends_with(b"\r\n") {
        let n = probe.read(&mut buf).await.ok()?;
        if n == 0 || reply.len() + n > PING_REPLY_MAX {
            return None;
        }
        reply.extend_from_slice(&buf[..n]);
        if !is_resp_reply(reply[0]) {
            return None;
        }
    }
    Some(probe)
}

/// The port speaks plaintext (`stream`, when the probe's connection can be used): go on
/// without TLS, unless TLS is required.
async fn plaintext_port(
    creds: &DbSecret,
    mode: SslMode,
    endpoint: &str,
    stream: Option<TcpStream>,
) -> Result<Transport, EngineError> {
    forget(endpoint);
    if mode == SslMode::Require {
        return Err(EngineError::Tls {
            endpoint: endpoint.to_owned(),
            detail: "this port speaks plaintext Redis (it answered in Redis's protocol, not TLS), and the secret requires TLS (\"ssl\": true or TLS_MODE=require); use the server's tls-port".into(),
        });
    }
    report_plaintext(endpoint);
    Ok(Transport::Plain(match stream {
        Some(s) => s,
        None => tcp(creds, endpoint).await?,
    }))
}

/// Warn once per endpoint and process: a step opens several connections, and one warning says
/// it all.
fn report_plaintext(endpoint: &str) {
    static REPORTED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    let first = REPORTED
        .lock()
        .map(|mut seen| seen.insert(endpoint.to_owned()))
        .unwrap_or(true);
    if first {
        warn!(endpoint = %endpoint, "the server offers no TLS on this port (it answers plaintext Redis); connecting without it. Set \"ssl\": true in the secret to refuse plaintext");
    } else {
        debug!(endpoint = %endpoint, "plaintext connection: the server offers no TLS on this port");
    }
}

async fn negotiate(
    creds: &DbSecret,
    tls: &TlsSettings,
    mode: SslMode,
    endpoint: &str,
) -> Result<Transport, EngineError> {
    if mode == SslMode::Disable {
        return Ok(Transport::Plain(tcp(creds, endpoint).await?));
    }
    let name = ServerName::try_from(creds.host.clone()).map_err(|e| EngineError::Tls {
        endpoint: endpoint.to_owned(),
        detail: format!(
            "'{}' cannot be checked against a certificate: {e}",
            creds.host
        ),
    })?;
    // A port not known to speak TLS is asked `PING` first: a plaintext port answers at once,
    // and the session goes on over that connection, with no TLS hello built or sent.
    if !seen_tls(endpoint)
        && let Some(stream) = answers_plaintext(creds, endpoint).await
    {
        return plaintext_port(creds, mode, endpoint, Some(stream)).await;
    }
    let stream = tcp(creds, endpoint).await?;
    let handshake = TlsConnector::from(tls.client_config())
        .connect(
            name,
            FirstByte {
                inner: stream,
                first: None,
            },
        )
        .into_fallible();
    tokio::pin!(handshake);
    // The `PING` again only if the handshake has not finished within PROBE_AFTER: a port that
    // refused it a moment ago, or spoke TLS before, and has been given to a plaintext server.
    let probe = async {
        tokio::time::sleep(PROBE_AFTER).await;
        answers_plaintext(creds, endpoint).await
    };
    tokio::pin!(probe);
    let outcome = tokio::select! {
        // A finished handshake wins a tie: the port speaks TLS.
        biased;
        outcome = &mut handshake => outcome,
        plaintext = &mut probe => {
            if let Some(stream) = plaintext {
                return plaintext_port(creds, mode, endpoint, Some(stream)).await;
            }
            handshake.await
        }
    };
    match outcome {
        Ok(stream) => {
            lock_seen_tls().insert(endpoint.to_owned());
            Ok(Transport::Tls(Box::new(stream)))
        }
        Err((_, seen)) if seen.first.is_some_and(is_resp_reply) => {
            plaintext_port(creds, mode, endpoint, None).await
        }
        Err((e, _)) => Err(EngineError::Tls {
            endpoint: endpoint.to_owned(),
            detail: e.to_string(),
        }),
    }
}

/// Frame the Redis protocol over `stream`. No command is sent yet: no `HELLO`, no client name,
/// so the first command is our `AUTH`.
async fn frame<S>(
    stream: S,
    response_timeout: Duration,
) -> Result<MultiplexedConnection, RedisError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let info = RedisConnectionInfo::default().set_skip_set_lib_name();
    let config = AsyncConnectionConfig::new().set_response_timeout(Some(response_timeout));
    let (conn, driver) = MultiplexedConnection::new_with_config(&info, stream, config).await?;
    // The driver moves bytes between the stream and the connection handle; it ends when the
    // handle is dropped.
    tokio::spawn(driver);
    Ok(conn)
}

/// The server's words for an error, without the client library's decoration.
fn describe(e: &RedisError) -> String {
    match (e.code(), e.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        (Some(code), None) => code.to_owned(),
        _ => e.to_string(),
    }
}

/// Sort an error by cause. `redact` hides quoted parts of the server's message (used for
/// commands that carry password hashes).
pub fn classify(e: &RedisError, endpoint: &str, user: &str, redact: bool) -> EngineError {
    if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal() {
        return EngineError::Network {
            endpoint: endpoint.to_owned(),
            detail: e.to_string(),
        };
    }
    let mut detail = describe(e);
    if redact {
        detail = acl::redact_quoted(&detail);
    }
    match e.code() {
        Some("WRONGPASS" | "NOAUTH") => EngineError::Authentication {
            user: user.to_owned(),
            detail,
        },
        Some("NOPERM") => EngineError::Permission {
            user: user.to_owned(),
            detail,
        },
        _ if e.kind() == ErrorKind::AuthenticationFailed => EngineError::Authentication {
            user: user.to_owned(),
            detail,
        },
        // Before Redis 6, AUTH takes a password only: there are no ACL users to rotate.
        Some("ERR") if detail.contains("wrong number of arguments for 'auth'") => {
            EngineError::Database(format!(
                "{detail} (the server has no ACL users; Redis 6 or later, or Valkey, is needed)"
            ))
        }
        _ => EngineError::Database(detail),
    }
}

/// The field/value pairs of a RESP2 flat array or a RESP3 map; `None` for anything else (the
/// nil of a missing user).
fn pairs(v: &Value) -> Option<Vec<(String, Value)>> {
    match v {
        Value::Map(m) => Some(m.iter().map(|(k, v)| (text(k), v.clone())).collect()),
        Value::Array(a) => Some(
            a.chunks(2)
                .map(|p| (text(&p[0]), p.get(1).cloned().unwrap_or(Value::Nil)))
                .collect(),
        ),
        _ => None,
    }
}

/// A reply as text; lists (Redis 6.2's patterns) joined with spaces.
fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::VerbatimString { text, .. } => text.clone(),
        Value::Array(a) | Value::Set(a) => a.iter().map(text).collect::<Vec<_>>().join(" "),
        other => format!("{other:?}"),
    }
}

impl Session {
    /// Connect with `creds` (TLS as its `ssl` key or `TLS_MODE` says) and `AUTH` as its user.
    /// The whole of it, name lookup to `AUTH` reply, gets the connect timeout.
    pub async fn open(creds: &DbSecret, tls: &TlsSettings) -> Result<Session, EngineError> {
        if let Some(problem) = acl::username_problem(&creds.username) {
            return Err(EngineError::Refused(problem));
        }
        let endpoint = format!("{}:{}", creds.host, creds.port);
        let timeout = tls.connect_timeout;
        let response_timeout = timeout.max(MIN_RESPONSE_TIMEOUT);
        let work = async {
            let mode = tls.mode_for(creds.ssl);
            let (framed, used_tls) = match negotiate(creds, tls, mode, &endpoint).await? {
                Transport::Plain(s) => (frame(s, response_timeout).await, false),
                Transport::Tls(s) => (frame(s, response_timeout).await, true),
            };
            let mut conn = framed.map_err(|e| classify(&e, &endpoint, &creds.username, false))?;
            let mut auth = redis::cmd("AUTH");
            auth.arg(&creds.username)
                .arg(creds.password.expose_secret());
            auth.query_async::<()>(&mut conn)
                .await
                .map_err(|e| classify(&e, &endpoint, &creds.username, false))?;
            Ok::<_, EngineError>((conn, used_tls))
        };
        let (conn, tls) =
            tokio::time::timeout(timeout, work)
                .await
                .map_err(|_| EngineError::Network {
                    endpoint: endpoint.clone(),
                    detail: format!("no answer within {timeout:?} (CONNECT_TIMEOUT_SECONDS)"),
                })??;
        Ok(Session {
            conn,
            endpoint,
            user: creds.username.clone(),
            tls,
        })
    }

    /// Whether the session runs over TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// `ACL DRYRUN user command…`: `None` when `user` may run the command, else the server's
    /// reason. Fails when the session's own user may not ask.
    pub async fn acl_dryrun(
        &mut self,
        user: &str,
        command: &[&str],
    ) -> Result<Option<String>, EngineError> {
        let mut cmd = redis::cmd("ACL");
        cmd.arg("DRYRUN").arg(user).arg(command);
        let answer: String = self.query(&cmd, false).await?;
        Ok((answer != "OK").then_some(answer))
    }

    /// `CONFIG GET aclfile`: `Some("")` when the server keeps no ACL file, `None` (logged)
    /// when the user may not ask or the command is renamed away.
    pub async fn aclfile(&mut self) -> Result<Option<String>, EngineError> {
        match self
            .query::<Vec<String>>(redis::cmd("CONFIG").arg("GET").arg("aclfile"), false)
            .await
        {
            Ok(pair) => Ok(Some(pair.get(1).cloned().unwrap_or_default())),
            Err(e @ EngineError::Network { .. }) => Err(e),
            Err(e) => {
                info!(error = %e, "cannot read the aclfile setting");
                Ok(None)
            }
        }
    }

    async fn query<T: FromRedisValue>(
        &mut self,
        cmd: &redis::Cmd,
        redact: bool,
    ) -> Result<T, EngineError> {
        cmd.query_async(&mut self.conn)
            .await
            .map_err(|e| classify(&e, &self.endpoint, &self.user, redact))
    }

    /// `PING`.
    pub async fn ping(&mut self) -> Result<(), EngineError> {
        self.query::<String>(&redis::cmd("PING"), false)
            .await
            .map(drop)
    }

    /// `ACL LIST`: one `user <name> <rules…>` line per user.
    pub async fn acl_list(&mut self) -> Result<Vec<String>, EngineError> {
        self.query(redis::cmd("ACL").arg("LIST"), false).await
    }

    /// The selectors of `user` from `ACL GETUSER`, or `None` when the server has no selectors
    /// (Redis 6.2). `ACL LIST` prints a selector's rules unquoted, so a pattern holding a `)`
    /// cannot be told from the selector's end there; `ACL GETUSER` gives them field by field.
    pub async fn acl_selectors(
        &mut self,
        user: &str,
    ) -> Result<Option<Vec<acl::Selector>>, EngineError> {
        let answer: Value = self
            .query(redis::cmd("ACL").arg("GETUSER").arg(user), false)
            .await?;
        let fields = pairs(&answer).ok_or_else(|| {
            EngineError::Database(format!(
                "ACL GETUSER {user} gave no user (it may have been deleted a moment ago)"
            ))
        })?;
        let Some((_, selectors)) = fields.into_iter().find(|(k, _)| k == "selectors") else {
            return Ok(None);
        };
        let list = match selectors {
            Value::Array(list) | Value::Set(list) => list,
            other => {
                return Err(EngineError::Database(format!(
                    "ACL GETUSER {user}: selectors are not a list: {other:?}"
                )));
            }
        };
        let mut out = Vec::with_capacity(list.len());
        for item in &list {
            let mut selector = acl::Selector::default();
            for (key, value) in pairs(item).unwrap_or_default() {
                let text = text(&value);
                match key.as_str() {
                    "keys" => selector.keys = text,
                    "channels" => selector.channels = text,
                    "databases" => selector.databases = text,
                    "commands" => selector.commands = text,
                    // Anything a later version adds is compared after the copy.
                    _ => debug!(field = %key, "a selector field this function does not copy"),
                }
            }
            out.push(selector);
        }
        Ok(Some(out))
    }

    /// `ACL SETUSER user args…`. The arguments carry password hashes, so the server's
    /// message loses its quoted parts if the command fails.
    pub async fn acl_setuser(&mut self, user: &str, args: &[String]) -> Result<(), EngineError> {
        let mut cmd = redis::cmd("ACL");
        cmd.arg("SETUSER").arg(user).arg(args);
        self.query::<()>(&cmd, true).await
    }

    /// Make an ACL change survive a restart: `ACL SAVE` when the server has an ACL file.
    ///
    /// `CONFIG GET aclfile` says whether it has one. A user may lack the right to ask (or the
    /// command may be renamed away); then `ACL SAVE` is tried anyway, and its answer tells.
    pub async fn persist(&mut self) -> Result<Persistence, EngineError> {
        let aclfile = self.aclfile().await?;
        if aclfile.is_none() {
            info!("trying ACL SAVE to find out whether the server keeps an ACL file");
        }
        if aclfile.as_deref() == Some("") {
            return Ok(Persistence::MemoryOnly);
        }
        match self.query::<()>(redis::cmd("ACL").arg("SAVE"), false).await {
            Ok(()) => Ok(Persistence::Saved(aclfile)),
            Err(EngineError::Database(m))
                if aclfile.is_none() && m.contains("not configured to use an ACL file") =>
            {
                Ok(Persistence::MemoryOnly)
            }
            Err(e @ EngineError::Permission { .. }) if aclfile.is_none() => {
                Ok(Persistence::Unknown(e.to_string()))
            }
            // The rights are missing: say so as a permission error, so the fix is clear.
            Err(EngineError::Permission { user, detail }) => Err(EngineError::Permission {
                user,
                detail: format!(
                    "{detail}; the change is in the server's memory, but without ACL SAVE a restart would bring back the old password. Grant +acl|save, then retry the rotation: the retry saves it"
                ),
            }),
            Err(e) => Err(EngineError::Database(format!(
                "the change is in the server's memory, but ACL SAVE failed, so a restart would bring back the old password: {e}. Fix the ACL file (path, permissions, disk), then retry the rotation: the retry saves it"
            ))),
        }
    }
}
