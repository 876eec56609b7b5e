//! Connections: TLS as the secret asks (never a downgrade after a failed verification), the
//! connect timeout, and the sorting of driver errors into network / TLS / authentication /
//! permission.
//!
//! The TLS glue is written here rather than taken from an adapter crate, so that it can
//! record whether the server accepted TLS and why a handshake failed. Both facts are needed
//! to warn about a plaintext fallback and to report a TLS error as such.

use rotation_core::{DbSecret, EngineError, ExposeSecret, SslMode, TlsSettings};
use rustls::pki_types::ServerName;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::task::JoinHandle;
use tokio_postgres::error::SqlState;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use tokio_postgres::{Client, Config, Socket};
use tracing::warn;

/// What happened to TLS during one connection attempt.
#[derive(Default)]
struct Probe {
    /// The server answered the TLS request with yes, so a handshake was attempted.
    handshake_started: bool,
    /// Why the handshake failed (certificate verification included).
    failure: Option<String>,
}

type SharedProbe = Arc<Mutex<Probe>>;

fn with_probe<T>(probe: &SharedProbe, f: impl FnOnce(&mut Probe) -> T) -> T {
    let mut guard = probe.lock().unwrap_or_else(|p| p.into_inner());
    f(&mut guard)
}

/// Makes one verifying rustls connector per connection attempt.
#[derive(Clone)]
struct MakeRustls {
    config: Arc<rustls::ClientConfig>,
    probe: SharedProbe,
}

/// The connector for one attempt.
struct RustlsConnect {
    config: Arc<rustls::ClientConfig>,
    server_name: Option<ServerName<'static>>,
    probe: SharedProbe,
}

/// A TLS stream that the driver can use.
struct RustlsStream(tokio_rustls::client::TlsStream<Socket>);

impl MakeTlsConnect<Socket> for MakeRustls {
    type Stream = RustlsStream;
    type TlsConnect = RustlsConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> Result<RustlsConnect, io::Error> {
        // A name that is neither a DNS name nor an IP address fails only if the server offers
        // TLS, so that Prefer still works with it against a plaintext server.
        let server_name = ServerName::try_from(domain.to_owned()).ok();
        Ok(RustlsConnect {
            config: Arc::clone(&self.config),
            server_name,
            probe: Arc::clone(&self.probe),
        })
    }
}

impl TlsConnect<Socket> for RustlsConnect {
    type Stream = RustlsStream;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<RustlsStream, io::Error>> + Send>>;

    fn connect(self, stream: Socket) -> Self::Future {
        with_probe(&self.probe, |p| p.handshake_started = true);
        Box::pin(async move {
            let result = match self.server_name {
                None => Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "the host is not a valid DNS name or IP address for certificate verification",
                )),
                Some(name) => tokio_rustls::TlsConnector::from(self.config)
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

/// An open connection.
pub struct Session {
    client: Client,
    driver: JoinHandle<()>,
    endpoint: String,
    user: String,
}

impl Session {
    /// Connect with `creds`, honouring its TLS mode and the connect timeout.
    pub async fn open(creds: &DbSecret, tls: &TlsSettings) -> Result<Session, EngineError> {
        let endpoint = format!("{}:{}", creds.host, creds.port);
        if creds.host.starts_with('/') {
            // The driver would take this for a Unix socket folder.
            return Err(EngineError::Refused(format!(
                "host '{}' is a path; the secret's host must be a host name or IP address",
                creds.host
            )));
        }
        let mode = tls.mode_for(creds.ssl);
        let timeout = tls.connect_timeout;
        let mut config = Config::new();
        config
            .host(&creds.host)
            .port(creds.port)
            .user(&creds.username)
            .password(creds.password.expose_secret().as_bytes())
            .dbname(creds.dbname.as_deref().unwrap_or("postgres"))
            .application_name("secrets-manager-rotation")
            .connect_timeout(timeout)
            .ssl_mode(match mode {
                SslMode::Disable => tokio_postgres::config::SslMode::Disable,
                // The driver's Prefer falls back to plaintext only when the server answers the
                // TLS request with no; a failed handshake or verification is an error.
                SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
                SslMode::Require => tokio_postgres::config::SslMode::Require,
            });
        let probe = SharedProbe::default();
        let maker = MakeRustls {
            config: tls.client_config(),
            probe: Arc::clone(&probe),
        };
        let connected = tokio::time::timeout(timeout, config.connect(maker)).await;
        let (client, connection) = match connected {
            Err(_) => {
                return Err(EngineError::Network {
                    endpoint,
                    detail: format!("no answer within {timeout:?} (CONNECT_TIMEOUT_SECONDS)"),
                });
            }
            Ok(Err(e)) => {
                let (started, failure) =
                    with_probe(&probe, |p| (p.handshake_started, p.failure.take()));
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
            Ok(Ok(pair)) => pair,
        };
        if mode == SslMode::Prefer && !with_probe(&probe, |p| p.handshake_started) {
            warn!(endpoint = %endpoint, "the server offers no TLS; connected without it. Set \"ssl\": true in the secret to refuse plaintext");
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
        })
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
