//! Connections: TLS as the secret asks (never a downgrade after a failed verification), the
//! connect timeout, the session's own `sql_mode`, and the sorting of driver errors into
//! network / TLS / authentication / permission / database.

use crate::sql::{self, Auth, Product};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, DriverError, IoError, OptsBuilder, SslOpts};
use rotation_core::{DbSecret, EngineError, ExposeSecret, SslMode, TlsSettings};
use tracing::warn;

/// An open connection and what statements on it need to know. Its `sql_mode` is
/// [`sql::session_sql_mode`], whatever the server's global mode.
pub struct Session {
    conn: Conn,
    endpoint: String,
    user: String,
    version: String,
    /// The secret left TLS to the server (`ssl` absent) and the server offered none: the
    /// connection is plaintext without the secret's owner having said it may be.
    fell_back: bool,
}

fn is_tls_failure(e: &std::io::Error) -> bool {
    // tokio-rustls reports handshake and verification failures as io::Error wrapping a
    // rustls::Error.
    let mut source: Option<&(dyn std::error::Error + 'static)> = e.get_ref().map(|i| i as _);
    while let Some(s) = source {
        if s.is::<rustls::Error>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// A TLS failure's text, with what an unknown issuer usually means for a MySQL-family server.
fn tls_detail(detail: String) -> String {
    if detail.contains("UnknownIssuer") {
        return format!(
            "{detail}: the server's certificate is signed by a CA the function does not trust (a self-managed MySQL 8+ or MariaDB 11.4+ makes a self-signed one at first start unless it is given one)"
        );
    }
    detail
}

/// Sort a driver error by cause.
pub fn classify(e: mysql_async::Error, endpoint: &str, user: &str) -> EngineError {
    let endpoint = endpoint.to_owned();
    match e {
        mysql_async::Error::Io(IoError::Tls(t)) => EngineError::Tls {
            endpoint,
            detail: t.to_string(),
        },
        mysql_async::Error::Io(IoError::Io(io)) if is_tls_failure(&io) => EngineError::Tls {
            endpoint,
            detail: tls_detail(io.to_string()),
        },
        mysql_async::Error::Io(IoError::Io(io)) => EngineError::Network {
            endpoint,
            detail: io.to_string(),
        },
        mysql_async::Error::Driver(DriverError::NoClientSslFlagFromServer) => EngineError::Tls {
            endpoint,
            detail: "the server does not offer TLS, and the secret requires it (\"ssl\": true or TLS_MODE=require)".into(),
        },
        // MySQL answers a login as an account that does not exist with a switch to a plugin
        // of its choosing, picked from the name (on 9.7, `sha256_password` for some names).
        // The driver cannot follow it; the password does not log in either way.
        mysql_async::Error::Driver(DriverError::UnknownAuthPlugin { name }) => {
            EngineError::Authentication {
                user: user.to_owned(),
                detail: format!(
                    "the server asked for the authentication plugin '{name}', which the function does not speak. MySQL asks for a plugin of its choosing when the account does not exist, so the login counts as refused; an account that really uses '{name}' must move to caching_sha2_password to be rotated"
                ),
            }
        }
        mysql_async::Error::Driver(d @ (DriverError::ConnectionClosed | DriverError::PoolDisconnected)) => {
            EngineError::Network {
                endpoint,
                detail: d.to_string(),
            }
        }
        mysql_async::Error::Server(s) => {
            let detail = format!("ERROR {} ({}): {}", s.code, s.state, s.message);
            match s.code {
                // Access denied / host not allowed / blocked / account locked (MySQL, MariaDB).
                1045 | 1129 | 1130 | 1698 | 3118 | 4151 => EngineError::Authentication {
                    user: user.to_owned(),
                    detail,
                },
                // Access denied for an operation or object.
                1044 | 1142 | 1143 | 1227 | 1410 | 1370 => EngineError::Permission {
                    user: user.to_owned(),
                    detail,
                },
                // ER_CANNOT_USER: the account is not in the state the statement expects.
                1396 => EngineError::Database(format!(
                    "{detail}: the account named there exists already, or is missing, or rows of \
                     its name remain in the grant tables (mysql.db, mysql.tables_priv, \
                     mysql.columns_priv, mysql.procs_priv, mysql.proxies_priv) without an \
                     account, as a manual DELETE FROM mysql.user leaves them. Look for the name \
                     in those tables; DROP USER of that account removes such leftovers (and the \
                     account, if there is one), and the next attempt creates it again"
                )),
                _ => EngineError::Database(detail),
            }
        }
        other => EngineError::Database(other.to_string()),
    }
}

impl Session {
    /// Connect with `creds`, honouring its TLS mode and the connect timeout.
    pub async fn open(creds: &DbSecret, tls: &TlsSettings) -> Result<Session, EngineError> {
        let endpoint = format!("{}:{}", creds.host, creds.port);
        let base = OptsBuilder::default()
            .ip_or_hostname(creds.host.clone())
            .tcp_port(creds.port)
            .user(Some(creds.username.clone()))
            .pass(Some(creds.password.expose_secret().to_owned()))
            .db_name(creds.dbname.clone())
            .prefer_socket(false)
            .stmt_cache_size(0);
        let ssl = SslOpts::default()
            .with_disable_built_in_roots(true)
            .with_root_certs(tls.roots().iter().map(|c| c.to_vec().into()).collect());
        let timeout = tls.connect_timeout;
        let connect = |opts: OptsBuilder| async move {
            tokio::time::timeout(timeout, Conn::new(opts))
                .await
                .map_err(|_| None)?
                .map_err(Some)
        };
        let mut fell_back = false;
        let result = match tls.mode_for(creds.ssl) {
            SslMode::Disable => connect(base).await,
            SslMode::Require => connect(base.ssl_opts(ssl)).await,
            SslMode::Prefer => match connect(base.clone().ssl_opts(ssl)).await {
                // Only a server that offers no TLS at all gets a plaintext connection; a
                // failed verification stays an error.
                Err(Some(mysql_async::Error::Driver(DriverError::NoClientSslFlagFromServer))) => {
                    warn!(endpoint = %endpoint, "the server offers no TLS; connecting without it. Set \"ssl\": true in the secret to refuse plaintext");
                    fell_back = true;
                    connect(base).await
                }
                other => other,
            },
        };
        let conn = result.map_err(|e| match e {
            Some(e) => classify(e, &endpoint, &creds.username),
            None => EngineError::Network {
                endpoint: endpoint.clone(),
                detail: format!("no answer within {timeout:?} (CONNECT_TIMEOUT_SECONDS)"),
            },
        })?;
        let mut session = Session {
            conn,
            endpoint,
            user: creds.username.clone(),
            version: String::new(),
            fell_back,
        };
        let version: Option<String> = session
            .conn
            .query_first("SELECT VERSION()")
            .await
            .map_err(|e| session.err(e, &creds.username))?;
        session.version = version.unwrap_or_default();
        // A fixed mode, so that the server's global one (ANSI_QUOTES, NO_BACKSLASH_ESCAPES,
        // ORACLE, …) cannot change how the statements built in `sql` are parsed, nor how
        // SHOW GRANTS prints what is copied.
        let mode = sql::literal(sql::session_sql_mode(&session.version), false);
        session
            .conn
            .query_drop(format!("SET SESSION sql_mode = {mode}"))
            .await
            .map_err(|e| session.err(e, &creds.username))?;
        Ok(session)
    }

    fn err(&self, e: mysql_async::Error, user: &str) -> EngineError {
        classify(e, &self.endpoint, user)
    }

    /// Whether the connection fell back to plaintext because the server offers no TLS.
    pub fn fell_back(&self) -> bool {
        self.fell_back
    }

    /// `SELECT NOW()`.
    pub async fn ping_now(&mut self) -> Result<(), EngineError> {
        let _: Option<String> = self
            .conn
            .query_first("SELECT CAST(NOW() AS CHAR)")
            .await
            .map_err(|e| classify(e, &self.endpoint, &self.user))?;
        Ok(())
    }

    /// `SELECT VERSION()`, as read when the session opened.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// MySQL or MariaDB.
    pub fn product(&self) -> Product {
        Product::of(&self.version)
    }

    /// `SELECT CURRENT_USER()`: the account this session is, as `user@host`.
    pub async fn current_user(&mut self) -> Result<String, EngineError> {
        let v: Option<String> = self
            .conn
            .query_first("SELECT CURRENT_USER()")
            .await
            .map_err(|e| classify(e, &self.endpoint, &self.user))?;
        Ok(v.unwrap_or_default())
    }

    /// Whether an account exists (`SHOW GRANTS` fails with 1141 when it does not).
    pub async fn account_exists(&mut self, account: &str) -> Result<bool, EngineError> {
        match self
            .conn
            .query_drop(format!("SHOW GRANTS FOR {account}"))
            .await
        {
            Ok(()) => Ok(true),
            Err(mysql_async::Error::Server(s)) if s.code == 1141 => Ok(false),
            Err(e) => Err(classify(e, &self.endpoint, &self.user)),
        }
    }

    /// How the session's own account authenticates, and whether it must give its current
    /// password to change it (MySQL's `PASSWORD REQUIRE CURRENT`), from `SHOW CREATE USER
    /// CURRENT_USER()`, which every account may run for itself (MySQL 5.7+, MariaDB 10.2+,
    /// checked on MariaDB 10.11 for a user without privileges). [`Auth::Unknown`] and no
    /// requirement when the server refuses it.
    pub async fn own_account(&mut self) -> Result<(Auth, bool), EngineError> {
        match self
            .conn
            .query_first::<Option<Vec<u8>>, _>("SHOW CREATE USER CURRENT_USER()")
            .await
        {
            Ok(line) => Ok(line
                .flatten()
                .map(|l| {
                    let line = text(l);
                    let requires_current = crate::account::account_options(&line, self.product())
                        .is_ok_and(|o| o.requires_current_password);
                    (sql::auth_of(&line, self.product()), requires_current)
                })
                .unwrap_or((Auth::Unknown, false))),
            // Its text names the account, never a password; the code is enough here.
            Err(mysql_async::Error::Server(e)) => {
                warn!(
                    code = e.code,
                    "SHOW CREATE USER CURRENT_USER() was refused, so the account's authentication plugin is unknown and the new password is sent as text"
                );
                Ok((Auth::Unknown, false))
            }
            Err(e) => Err(classify(e, &self.endpoint, &self.user)),
        }
    }

    /// Run a statement that returns rows of one text column.
    pub async fn show(&mut self, statement: &str, user: &str) -> Result<Vec<String>, EngineError> {
        let rows: Vec<Option<Vec<u8>>> = self
            .conn
            .query(statement)
            .await
            .map_err(|e| self.err(e, user))?;
        Ok(rows.into_iter().flatten().map(text).collect())
    }

    /// Run a statement that returns one row of one text column (empty text for no row).
    pub async fn show_one(&mut self, statement: &str, user: &str) -> Result<String, EngineError> {
        let row: Option<Option<Vec<u8>>> = self
            .conn
            .query_first(statement)
            .await
            .map_err(|e| self.err(e, user))?;
        Ok(row.flatten().map(text).unwrap_or_default())
    }

    /// Run a statement without a password in it.
    pub async fn exec(&mut self, statement: &str, user: &str) -> Result<(), EngineError> {
        self.conn
            .query_drop(statement)
            .await
            .map_err(|e| self.err(e, user))
    }

    /// Refuse to send the new password itself over a connection that fell back to plaintext:
    /// anyone on the network path would read it. (A `mysql_native_password` hash may go: like
    /// a SCRAM verifier, it logs in only together with a captured login.)
    pub fn check_may_send(&self, plaintext_password: bool) -> Result<(), EngineError> {
        may_send(self.fell_back, plaintext_password, &self.endpoint)
    }

    /// Run a statement that holds a password or hash literal: a server error keeps its code
    /// and state, but its text only when it does not quote the statement.
    pub async fn exec_secret(
        &mut self,
        statement: &str,
        literal: &str,
        user: &str,
    ) -> Result<(), EngineError> {
        let inner = literal
            .strip_prefix('\'')
            .and_then(|l| l.strip_suffix('\''))
            .filter(|l| !l.is_empty())
            .unwrap_or(literal);
        match self.conn.query_drop(statement).await {
            Ok(()) => Ok(()),
            Err(mysql_async::Error::Server(mut s)) => {
                if s.code == 1064 || s.message.contains(inner) || s.message.contains("near '") {
                    s.message =
                        "(the server's message quotes the statement and is not shown)".into();
                }
                Err(self.err(mysql_async::Error::Server(s), user))
            }
            Err(e) => Err(self.err(e, user)),
        }
    }

    /// Close politely; errors on close do not matter.
    pub async fn close(self) {
        let _ = self.conn.disconnect().await;
    }
}

/// A column read as bytes, as text. Read as bytes because the driver panics, quoting the whole
/// row, on a value that does not convert, and a `SHOW CREATE USER` line holds a password hash
/// that need not be UTF-8 (MySQL 8's `caching_sha2_password` salt).
fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Whether a statement may go: the new password itself never crosses a connection that fell
/// back to plaintext on its own (see [`Session::check_may_send`]).
fn may_send(fell_back: bool, plaintext_password: bool, endpoint: &str) -> Result<(), EngineError> {
    if fell_back && plaintext_password {
        return Err(EngineError::Tls {
            endpoint: endpoint.to_owned(),
            detail: "the server offers no TLS, and this account's authentication plugin takes the new password itself, not a hash, so it would cross the network in clear. Nothing was changed. Enable TLS on the server (and set \"ssl\": true in the secret), or move the account to mysql_native_password, or set \"ssl\": false in the secret to accept a plaintext connection knowingly".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_plaintext_password_over_a_connection_that_fell_back() {
        let refused = may_send(true, true, "db:3306").expect_err("refused");
        assert_eq!(refused.kind(), "TlsError");
        assert!(refused.to_string().contains("\"ssl\": false"), "{refused}");
        // A hash may go, and anything may when the secret chose plaintext or TLS was used.
        assert!(may_send(true, false, "db:3306").is_ok());
        assert!(may_send(false, true, "db:3306").is_ok());
    }

    fn server(code: u16, message: &str) -> mysql_async::Error {
        mysql_async::Error::Server(mysql_async::ServerError {
            code,
            message: message.into(),
            state: "HY000".into(),
        })
    }

    #[test]
    fn error_1396_is_not_a_missing_privilege() {
        let e = classify(
            server(1396, "Operation CREATE USER failed for 'a_clone'@'%'"),
            "db:3306",
            "admin",
        );
        assert_eq!(e.kind(), "DatabaseError", "{e}");
        let text = e.to_string();
        assert!(text.contains("1396"), "{text}");
        assert!(text.contains("DROP USER"), "says what to check: {text}");
        // Real privilege errors stay what they are.
        assert_eq!(
            classify(server(1227, "Access denied"), "db:3306", "u").kind(),
            "PermissionError"
        );
    }
}
