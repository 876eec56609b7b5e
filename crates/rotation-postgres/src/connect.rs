//! Connections: TLS as the secret asks (never a downgrade after a failed verification), no
//! password that a listener could reuse on a connection without TLS unless the secret says
//! `"ssl": false`, the connect timeout, and the sorting of driver errors into network / TLS /
//! authentication / permission.
//!
//! The TLS glue is written here rather than taken from an adapter crate, so that it can
//! record whether the server accepted TLS and why a handshake failed. Both facts are needed
//! to warn about a plaintext fallback and to report a TLS error as such.
//!
//! With `ssl` absent (prefer) a server that declines TLS may be an active attacker, who would
//! then ask for the password in cleartext or as an MD5 answer to a salt of its choice. The
//! driver answers whatever it is asked, and has no setting that allows SCRAM but refuses the
//! rest (`channel_binding=require` would refuse SCRAM without TLS too). So the TCP stream under
//! the driver is wrapped in a [`Guarded`] stream that reads the server's messages after a
//! declined TLS request and fails the read of any authentication request but SCRAM-SHA-256:
//! the driver never sees the request, so no password byte is ever written.

use rotation_core::{DbSecret, EngineError, ExposeSecret, SslMode, TlsSettings};
use rustls::pki_types::ServerName;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_postgres::error::SqlState;
use tokio_postgres::tls::{ChannelBinding, TlsConnect, TlsStream};
use tokio_postgres::{Client, Config};
use tracing::warn;

/// What happened to TLS during one connection attempt.
#[derive(Default)]
struct Probe {
    /// The server answered the TLS request with yes, so a handshake was attempted.
    handshake_started: bool,
    /// Why the handshake failed (certificate verification included).
    failure: Option<String>,
    /// The authentication method the guard refused on a connection without TLS.
    refused: Option<&'static str>,
}

type SharedProbe = Arc<Mutex<Probe>>;

fn with_probe<T>(probe: &SharedProbe, f: impl FnOnce(&mut Probe) -> T) -> T {
    let mut guard = probe.lock().unwrap_or_else(|p| p.into_inner());
    f(&mut guard)
}

/// Why the guard stopped a connection.
#[derive(Debug, PartialEq, Eq)]
enum Stop {
    /// The server asked for this authentication method without TLS.
    Refused(&'static str),
    /// The server's messages do not parse, so what it asks for cannot be known.
    Malformed,
}

/// What the guard knows of the bytes the server sent so far.
#[derive(Debug, PartialEq, Eq)]
enum Watch {
    /// Nothing to watch: `"ssl": false`, TLS is on, or authentication is over.
    Off,
    /// The next byte answers the TLS request: `S` for TLS, anything else for none.
    SslAnswer,
    /// No TLS: reading a message header (type byte, int32 length, and for `R` the int32
    /// request code); `have` bytes of it are in `head`.
    Header { head: [u8; 9], have: usize },
    /// No TLS: this many bytes of a message body remain.
    Skip(usize),
    /// A request was refused; the connection stays failed.
    Stopped(&'static str),
}

const FRESH_HEADER: Watch = Watch::Header {
    head: [0; 9],
    have: 0,
};

/// The name of an authentication request code, for the error; `None` for the codes that
/// give a listener nothing to reuse: AuthenticationOk and SCRAM (SASL, SASLContinue,
/// SASLFinal; the server never learns the password, and a client proof works only once).
fn refused_method(code: u32) -> Option<&'static str> {
    match code {
        0 | 10..=12 => None,
        3 => Some("a cleartext password (AuthenticationCleartextPassword)"),
        5 => Some("an MD5 password hash (AuthenticationMD5Password)"),
        2 => Some("Kerberos V5 authentication"),
        6 => Some("SCM credential authentication"),
        7 | 8 => Some("GSSAPI authentication"),
        9 => Some("SSPI authentication"),
        _ => Some("an unknown authentication method"),
    }
}

impl Watch {
    /// Follow the server's bytes; an error means they must not reach the driver.
    fn inspect(&mut self, bytes: &[u8]) -> Result<(), Stop> {
        let mut rest = bytes;
        while let Some((&first, after)) = rest.split_first() {
            match self {
                Watch::Off => return Ok(()),
                Watch::Stopped(method) => return Err(Stop::Refused(method)),
                Watch::SslAnswer => {
                    *self = if first == b'S' {
                        Watch::Off
                    } else {
                        FRESH_HEADER
                    };
                    rest = after;
                }
                Watch::Skip(left) => {
                    let n = (*left).min(rest.len());
                    *left -= n;
                    rest = &rest[n..];
                    if *left == 0 {
                        *self = FRESH_HEADER;
                    }
                }
                Watch::Header { head, have } => {
                    head[*have] = first;
                    *have += 1;
                    rest = after;
                    let need = if head[0] == b'R' { 9 } else { 5 };
                    if *have < need {
                        continue;
                    }
                    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
                    if len < need - 1 {
                        return Err(Stop::Malformed);
                    }
                    if head[0] != b'R' {
                        *self = Watch::Skip(len - 4);
                    } else {
                        let code = u32::from_be_bytes([head[5], head[6], head[7], head[8]]);
                        if let Some(method) = refused_method(code) {
                            *self = Watch::Stopped(method);
                            return Err(Stop::Refused(method));
                        }
                        // After AuthenticationOk the driver sends no password any more.
                        *self = if code == 0 {
                            Watch::Off
                        } else {
                            Watch::Skip(len - 8)
                        };
                    }
                    if *self == Watch::Skip(0) {
                        *self = FRESH_HEADER;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The TCP stream under the driver, watching the server's authentication requests when the
/// server may decline TLS (prefer; require as well, in case the driver ever fell back).
struct Guarded {
    inner: TcpStream,
    watch: Watch,
    probe: SharedProbe,
}

impl AsyncRead for Guarded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        match this.watch.inspect(&buf.filled()[before..]) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(stop) => {
                // The driver must not see the request, or it would answer it.
                buf.set_filled(before);
                let text = match stop {
                    Stop::Refused(method) => {
                        with_probe(&this.probe, |p| p.refused = Some(method));
                        format!("refused {method} on a connection without TLS")
                    }
                    Stop::Malformed => "the server sent a malformed message".to_owned(),
                };
                Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, text)))
            }
        }
    }
}

impl Guarded {
    /// Nothing is written once a request was refused, whatever the driver does next.
    fn check_write(&self) -> io::Result<()> {
        match self.watch {
            Watch::Stopped(method) => Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("refused {method} on a connection without TLS"),
            )),
            _ => Ok(()),
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check_write()?;
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check_write()?;
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The connector for one attempt.
struct RustlsConnect {
    /// The trust store; its rustls configuration is asked for only when the server agrees
    /// to TLS, so a plaintext server never costs the roots.
    tls: TlsSettings,
    server_name: Option<ServerName<'static>>,
    probe: SharedProbe,
}

/// A TLS stream that the driver can use.
struct RustlsStream(tokio_rustls::client::TlsStream<Guarded>);

impl TlsConnect<Guarded> for RustlsConnect {
    type Stream = RustlsStream;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<RustlsStream, io::Error>> + Send>>;

    fn connect(self, stream: Guarded) -> Self::Future {
        with_probe(&self.probe, |p| p.handshake_started = true);
        Box::pin(async move {
            let result = match self.server_name {
                None => Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "the host is not a valid DNS name or IP address for certificate verification",
                )),
                Some(name) => tokio_rustls::TlsConnector::from(self.tls.client_config())
                    .connect(name, stream)
                    .await
                    .map(RustlsStream),
            };
            if let Err(e) = &result {
                with_probe(&self.probe, |p| p.failure = Some(e.to_string()));
            }
            result
        })
    }
}

impl AsyncRead for RustlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for RustlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

impl TlsStream for RustlsStream {
    fn channel_binding(&self) -> ChannelBinding {
        // The certificate is always verified (chain and host name), which is what channel
        // binding would otherwise protect against; SCRAM runs without it.
        ChannelBinding::none()
    }
}

/// The error text with its causes, e.g. "error connecting to server: Connection refused".
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// Sort a driver error by cause. `user` is whose credentials were used.
pub fn classify(e: &tokio_postgres::Error, endpoint: &str, user: &str) -> EngineError {
    if let Some(db) = e.as_db_error() {
        let mut detail = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
        if let Some(d) = db.detail() {
            detail.push_str(&format!(" ({d})"));
        }
        let code = db.code();
        return if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        {
            EngineError::Authentication {
                user: user.to_owned(),
                detail,
            }
        } else if *code == SqlState::INSUFFICIENT_PRIVILEGE {
            EngineError::Permission {
                user: user.to_owned(),
                detail,
            }
        } else if *code == SqlState::CANNOT_CONNECT_NOW || code.code().starts_with("08") {
            EngineError::Network {
                endpoint: endpoint.to_owned(),
                detail,
            }
        } else {
            EngineError::Database(detail)
        };
    }
    // The driver's error kinds are private; its fixed descriptions name them.
    let text = chain(e);
    let endpoint = endpoint.to_owned();
    if text.starts_with("error performing TLS handshake") {
        EngineError::Tls {
            endpoint,
            detail: text,
        }
    } else if text.starts_with("authentication error") {
        EngineError::Authentication {
            user: user.to_owned(),
            detail: text,
        }
    } else if e.is_closed()
        || text.starts_with("error connecting to server")
        || text.starts_with("error communicating with the server")
        || text.starts_with("timeout waiting for server")
    {
        EngineError::Network {
            endpoint,
            detail: text,
        }
    } else {
        EngineError::Database(text)
    }
}

/// How to get out of a refusal on a connection without TLS; `what` is what would be sent.
fn plaintext_advice(alternative: &str, what: &str) -> String {
    format!(
        "Enable TLS on the server (or set \"ssl\": true in the secret to require it), or {alternative}, or set \"ssl\": false in the secret to send {what} without TLS knowingly"
    )
}

/// Resolve the host and open a TCP connection to the first address that accepts. The driver
/// would do this itself, but only for its own socket type, which cannot be wrapped.
async fn tcp_connect(host: &str, port: u16, endpoint: &str) -> Result<TcpStream, EngineError> {
    let network = |detail: String| EngineError::Network {
        endpoint: endpoint.to_owned(),
        detail,
    };
    let addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| network(format!("cannot resolve the host name: {e}")))?;
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                // The startup exchange is a few small messages, each waited for.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last = Some(format!("error connecting to server at {addr}: {e}")),
        }
    }
    Err(network(last.unwrap_or_else(|| {
        "the host name resolves to no address".to_owned()
    })))
}

/// An open connection.
pub struct Session {
    client: Client,
    driver: JoinHandle<()>,
    endpoint: String,
    user: String,
    /// `ssl` absent (prefer) and the server declined TLS.
    plaintext_fallback: bool,
}

impl Session {
    /// Connect with `creds`, honouring its TLS mode and the connect timeout.
    pub async fn open(creds: &DbSecret, tls: &TlsSettings) -> Result<Session, EngineError> {
        let endpoint = format!("{}:{}", creds.host, creds.port);
        if creds.host.starts_with('/') {
            // Libpq would take this for a Unix socket folder; say so rather than fail a lookup.
            return Err(EngineError::Refused(format!(
                "host '{}' is a path; the secret's host must be a host name or IP address",
                creds.host
            )));
        }
        let mode = tls.mode_for(creds.ssl);
        let timeout = tls.connect_timeout;
        let mut config = Config::new();
        config
            .user(&creds.username)
            .password(creds.password.expose_secret().as_bytes())
            .dbname(creds.dbname.as_deref().unwrap_or("postgres"))
            .application_name("secrets-manager-rotation")
            .ssl_mode(match mode {
                SslMode::Disable => tokio_postgres::config::SslMode::Disable,
                // The driver's Prefer falls back to plaintext only when the server answers the
                // TLS request with no; a failed handshake or verification is an error.
                SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
                SslMode::Require => tokio_postgres::config::SslMode::Require,
            });
        let probe = SharedProbe::default();
        // The whole attempt (name lookup, TCP, TLS, authentication) shares one timeout.
        let attempt = async {
            let tcp = tcp_connect(&creds.host, creds.port, &endpoint).await?;
            let stream = Guarded {
                inner: tcp,
                // "ssl": false is the owner's consent to plaintext: nothing to guard.
                watch: match mode {
                    SslMode::Disable => Watch::Off,
                    SslMode::Prefer | SslMode::Require => Watch::SslAnswer,
                },
                probe: Arc::clone(&probe),
            };
            let connector = RustlsConnect {
                tls: tls.clone(),
                // A name that is neither a DNS name nor an IP address fails only if the server
                // offers TLS, so that Prefer still works with it against a plaintext server.
                server_name: ServerName::try_from(creds.host.clone()).ok(),
                probe: Arc::clone(&probe),
            };
            Ok(config.connect_raw(stream, connector).await)
        };
        let (client, connection) = match tokio::time::timeout(timeout, attempt).await {
            Err(_) => {
                return Err(EngineError::Network {
                    endpoint,
                    detail: format!("no answer within {timeout:?} (CONNECT_TIMEOUT_SECONDS)"),
                });
            }
            Ok(Err(e)) => return Err(e),
            Ok(Ok(Err(e))) => {
                let (started, failure, refused) = with_probe(&probe, |p| {
                    (p.handshake_started, p.failure.take(), p.refused.take())
                });
                if let Some(method) = refused {
                    // Not an authentication error: the password may well be right, and
                    // trying another one (AWSPREVIOUS, AWSPENDING) must not follow.
                    return Err(EngineError::Tls {
                        endpoint,
                        detail: format!(
                            "the server declined TLS and then asked for {method} on a connection without TLS, which would let anyone on the network path read or replay the password; nothing was sent. {}",
                            plaintext_advice(
                                "have the server authenticate with scram-sha-256",
                                "the password"
                            )
                        ),
                    });
                }
                if let Some(detail) = failure {
                    return Err(EngineError::Tls { endpoint, detail });
                }
                if mode == SslMode::Require
                    && !started
                    && e.as_db_error().is_none()
                    && e.to_string().contains("TLS")
                {
                    return Err(EngineError::Tls {
                        endpoint,
                        detail: "the server does not offer TLS, and the secret requires it (\"ssl\": true or TLS_MODE=require)".into(),
                    });
                }
                return Err(classify(&e, &endpoint, &creds.username));
            }
            Ok(Ok(Ok(pair))) => pair,
        };
        let plaintext_fallback =
            mode == SslMode::Prefer && !with_probe(&probe, |p| p.handshake_started);
        if plaintext_fallback {
            warn!(endpoint = %endpoint, "the server offers no TLS; connected without it (without TLS only SCRAM-SHA-256 is accepted, which never sends the password). Set \"ssl\": true in the secret to refuse plaintext");
        }
        let driver = tokio::spawn(async move {
            // The connection ends when the client is dropped; an error here has already been
            // reported to the query that saw it.
            let _ = connection.await;
        });
        Ok(Session {
            client,
            driver,
            endpoint,
            user: creds.username.clone(),
            plaintext_fallback,
        })
    }

    /// Refuse to send an MD5 hash on a connection that fell back to plaintext: the hash logs
    /// in to MD5 authentication as well as the password does.
    pub fn check_md5_allowed(&self) -> Result<(), EngineError> {
        if !self.plaintext_fallback {
            return Ok(());
        }
        Err(EngineError::Tls {
            endpoint: self.endpoint.clone(),
            detail: format!(
                "the server stores MD5 password hashes (password_encryption), and the new password's MD5 hash would cross this connection without TLS, where it logs in to MD5 authentication as well as the password; nothing was changed. {}",
                plaintext_advice(
                    "set password_encryption = 'scram-sha-256' for the user or the server",
                    "the hash"
                )
            ),
        })
    }

    /// Whether the connection fell back to plaintext because the server declined TLS.
    pub fn plaintext_fallback(&self) -> bool {
        self.plaintext_fallback
    }

    /// The driver's client, for typed queries.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Sort an error of a query on this session.
    pub fn error(&self, e: &tokio_postgres::Error) -> EngineError {
        classify(e, &self.endpoint, &self.user)
    }

    /// Run statements without secrets in them.
    pub async fn exec(&self, statements: &str) -> Result<(), EngineError> {
        self.client
            .batch_execute(statements)
            .await
            .map_err(|e| self.error(&e))
    }

    /// Run a statement that carries a password verifier: the server's message is kept only
    /// when it does not quote the statement.
    pub async fn exec_secret(&self, statement: &str, verifier: &str) -> Result<(), EngineError> {
        let Err(e) = self.client.batch_execute(statement).await else {
            return Ok(());
        };
        let hidden = "(the server's message quotes the statement and is not shown)";
        Err(match self.error(&e) {
            EngineError::Database(m) if m.contains(verifier) || m.contains("syntax error") => {
                let code = e.code().map_or("error", |c| c.code());
                EngineError::Database(format!("{code} {hidden}"))
            }
            EngineError::Permission { user, detail } if detail.contains(verifier) => {
                EngineError::Permission {
                    user,
                    detail: format!("permission denied {hidden}"),
                }
            }
            other => other,
        })
    }

    /// The first column of the first row of a query without parameters, as text.
    pub async fn show(&self, query: &str) -> Result<String, EngineError> {
        let rows = self
            .client
            .simple_query(query)
            .await
            .map_err(|e| self.error(&e))?;
        rows.iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => {
                    Some(r.get(0).unwrap_or_default().to_owned())
                }
                _ => None,
            })
            .ok_or_else(|| EngineError::Database(format!("{query} returned no row")))
    }

    /// Close politely; errors on close do not matter.
    pub async fn close(self) {
        drop(self.client);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), self.driver).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![kind];
        m.extend(((body.len() + 4) as u32).to_be_bytes());
        m.extend(body);
        m
    }

    fn auth(code: u32, rest: &[u8]) -> Vec<u8> {
        let mut body = code.to_be_bytes().to_vec();
        body.extend(rest);
        message(b'R', &body)
    }

    /// Feed `bytes` in chunks of `size`, as reads of any size would deliver them.
    fn feed(bytes: &[u8], size: usize) -> Result<Watch, Stop> {
        let mut watch = Watch::SslAnswer;
        for chunk in bytes.chunks(size) {
            watch.inspect(chunk)?;
        }
        Ok(watch)
    }

    #[test]
    fn scram_passes_and_the_guard_ends_with_authentication_ok() {
        let mut server = b"N".to_vec();
        server.extend(message(b'v', &[0, 0, 0, 0, 0, 0, 0, 0]));
        server.extend(message(b'N', b"SNOTICE\0\0"));
        server.extend(auth(10, b"SCRAM-SHA-256\0\0"));
        server.extend(auth(11, b"r=abc,s=c2FsdA==,i=4096"));
        server.extend(auth(12, b"v=c2lnbmF0dXJl"));
        server.extend(auth(0, b""));
        // After AuthenticationOk anything goes, even bytes that look like a request.
        server.extend(auth(3, b""));
        for size in 1..=server.len() {
            assert_eq!(feed(&server, size), Ok(Watch::Off), "chunks of {size}");
        }
    }

    #[test]
    fn cleartext_and_md5_are_refused_however_the_bytes_arrive() {
        for (code, rest, words) in [
            (3, &b""[..], "cleartext"),
            (5, &b"salt"[..], "MD5"),
            (7, &b""[..], "GSSAPI"),
            (42, &b""[..], "unknown"),
        ] {
            let mut server = b"N".to_vec();
            server.extend(message(b'N', b"Mhello\0\0"));
            server.extend(auth(code, rest));
            for size in 1..=server.len() {
                match feed(&server, size) {
                    Err(Stop::Refused(method)) => {
                        assert!(method.contains(words), "{code}: {method}")
                    }
                    other => panic!("code {code}, chunks of {size}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn tls_is_not_watched_and_a_stopped_guard_stays_stopped() {
        let mut watch = Watch::SslAnswer;
        assert_eq!(watch.inspect(b"S"), Ok(()));
        assert_eq!(watch.inspect(&auth(3, b"")), Ok(()), "TLS records pass");

        let mut watch = Watch::SslAnswer;
        assert!(watch.inspect(b"N").is_ok());
        assert!(watch.inspect(&auth(3, b"")).is_err());
        assert!(watch.inspect(b"anything").is_err());
        assert!(watch.inspect(b"").is_ok(), "an empty read carries nothing");
    }

    #[test]
    fn malformed_lengths_stop_the_connection() {
        let mut watch = Watch::SslAnswer;
        assert_eq!(
            watch.inspect(b"NR\0\0\0\x04\0\0\0\x03"),
            Err(Stop::Malformed)
        );
        let mut watch = Watch::SslAnswer;
        assert_eq!(watch.inspect(b"NE\0\0\0\x02"), Err(Stop::Malformed));
    }
}
