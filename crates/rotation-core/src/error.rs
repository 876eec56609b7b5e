//! Errors: what an engine reports ([`EngineError`]) and what a step returns to Lambda
//! ([`RotationError`], mapped to the runtime's `Diagnostic` so CloudWatch shows a useful
//! `errorType`). Messages name the secret, the step and the cause, and say what to do; they
//! never contain a password (engine messages are scrubbed of every known password as well).

use crate::secret::{DbSecret, SecretFormatError};
use lambda_runtime::Diagnostic;
use secrecy::ExposeSecret;

/// A failure talking to the database, by cause.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    /// The server could not be reached (DNS, refused, timeout, closed).
    #[error("cannot reach the database at {endpoint}: {detail}")]
    Network {
        /// `host:port`.
        endpoint: String,
        /// The cause.
        detail: String,
    },
    /// TLS could not be established or the certificate did not verify.
    #[error("TLS with the database at {endpoint} failed: {detail}")]
    Tls {
        /// `host:port`.
        endpoint: String,
        /// The cause.
        detail: String,
    },
    /// The server rejected the user name or password.
    #[error("the database rejected the login of user '{user}': {detail}")]
    Authentication {
        /// The user.
        user: String,
        /// The server's words.
        detail: String,
    },
    /// Logged in, but the user may not do what was asked.
    #[error("user '{user}' lacks a privilege: {detail}")]
    Permission {
        /// The user.
        user: String,
        /// The server's words.
        detail: String,
    },
    /// The request cannot be carried out as given (for example a user name over the limit).
    #[error("{0}")]
    Refused(String),
    /// Any other error from the database.
    #[error("the database answered with an error: {0}")]
    Database(String),
}

impl EngineError {
    /// The Lambda `errorType` of this cause.
    pub fn kind(&self) -> &'static str {
        match self {
            EngineError::Network { .. } => "NetworkError",
            EngineError::Tls { .. } => "TlsError",
            EngineError::Authentication { .. } => "AuthenticationError",
            EngineError::Permission { .. } => "PermissionError",
            EngineError::Refused(_) => "BadSecret",
            EngineError::Database(_) => "DatabaseError",
        }
    }

    /// What a person can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            EngineError::Network { .. } => {
                "check the host and port in the secret, and that the function's subnets and security groups can reach the database"
            }
            EngineError::Tls { .. } => {
                "check the server's TLS setup and certificate: give the CA that signed the certificate in CA_BUNDLE (the templates' caBundlePath parameter, or `cargo xtask dist --ca-bundle`), or give the server a certificate from a CA the function trusts (the system roots, or Amazon RDS's); set \"ssl\": false in the secret only to accept a plaintext connection with this server"
            }
            EngineError::Authentication { .. } => {
                "check that the user exists and that the secret's password is the user's current password"
            }
            EngineError::Permission { .. } => {
                "grant the user the privilege named above, or use credentials that have it"
            }
            EngineError::Refused(_) => "change the secret as described above",
            EngineError::Database(_) => "see the database's message above",
        }
    }

    /// Whether the server said the credentials are wrong (as opposed to unreachable).
    pub fn is_authentication(&self) -> bool {
        matches!(self, EngineError::Authentication { .. })
    }

    /// Replace every occurrence of any of these secrets' passwords with `*****`: a safety net
    /// for server messages that echo a statement.
    pub fn scrubbed(self, secrets: &[&DbSecret]) -> EngineError {
        let scrub = |text: String| scrub(text, secrets);
        match self {
            EngineError::Network { endpoint, detail } => EngineError::Network {
                endpoint,
                detail: scrub(detail),
            },
            EngineError::Tls { endpoint, detail } => EngineError::Tls {
                endpoint,
                detail: scrub(detail),
            },
            EngineError::Authentication { user, detail } => EngineError::Authentication {
                user,
                detail: scrub(detail),
            },
            EngineError::Permission { user, detail } => EngineError::Permission {
                user,
                detail: scrub(detail),
            },
            EngineError::Refused(m) => EngineError::Refused(scrub(m)),
            EngineError::Database(m) => EngineError::Database(scrub(m)),
        }
    }
}

/// `text` with every occurrence of any of these secrets' passwords replaced by `*****`.
pub fn scrub(mut text: String, secrets: &[&DbSecret]) -> String {
    for s in secrets {
        let pw = s.password.expose_secret();
        if !pw.is_empty() && text.contains(pw) {
            text = text.replace(pw, "*****");
        }
    }
    text
}

/// Why a step failed.
#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    /// The secret has rotation turned off.
    #[error("Secret {arn} is not enabled for rotation")]
    RotationNotEnabled {
        /// Secret ARN.
        arn: String,
    },
    /// The token is not a version of the secret.
    #[error("Secret version {token} has no stage for rotation of secret {arn}.")]
    NoStage {
        /// The token.
        token: String,
        /// Secret ARN.
        arn: String,
    },
    /// The token is a version, but not AWSPENDING.
    #[error("Secret version {token} not set as AWSPENDING for rotation of secret {arn}.")]
    NotPending {
        /// The token.
        token: String,
        /// Secret ARN.
        arn: String,
    },
    /// The step is none of the four.
    #[error("Invalid step parameter {step} for secret {arn}")]
    InvalidStep {
        /// The step given.
        step: String,
        /// Secret ARN.
        arn: String,
    },
    /// A secret's JSON cannot be used.
    #[error("{step} for secret {arn}: the {label} version is unusable: {source}")]
    BadSecret {
        /// Secret ARN (or the admin secret's ARN).
        arn: String,
        /// The step.
        step: &'static str,
        /// Which version: AWSCURRENT, AWSPENDING, or the admin secret.
        label: String,
        /// What is wrong.
        source: SecretFormatError,
    },
    /// AWSPENDING does not describe the same database account as AWSCURRENT.
    #[error(
        "{step} for secret {arn}: AWSPENDING does not match AWSCURRENT: {problem}. Nothing was changed. If AWSPENDING was edited by hand, cancel the rotation (remove the AWSPENDING label) and start it again"
    )]
    ConfusedDeputy {
        /// Secret ARN.
        arn: String,
        /// The step.
        step: &'static str,
        /// What differs.
        problem: String,
    },
    /// The rotation would change the admin user named by `masterarn`.
    #[error(
        "{step} for secret {arn}: user '{user}', which this {strategy} rotation changes, is the admin user of the masterarn secret {masterarn}; rotating it would leave the admin secret with a password that no longer works. Nothing was changed. Give the admin a user of its own, not one rotated by this secret, or remove masterarn from the secret"
    )]
    AdminIsRotated {
        /// Secret ARN.
        arn: String,
        /// The step.
        step: &'static str,
        /// The user that is both rotated and the admin.
        user: String,
        /// The admin secret.
        masterarn: String,
        /// `single-user` or `alternating-users`.
        strategy: &'static str,
    },
    /// The database failed for one set of credentials.
    #[error("{step} for secret {arn}: with the {credential} credentials, {source}; {hint}", hint = source.hint())]
    Database {
        /// Secret ARN.
        arn: String,
        /// The step.
        step: &'static str,
        /// Whose credentials: AWSCURRENT, AWSPENDING, AWSPREVIOUS or admin.
        credential: String,
        /// The cause.
        source: EngineError,
    },
    /// A Secrets Manager call failed.
    #[error(
        "{step} for secret {arn}: Secrets Manager {operation} failed: {detail}. {hint}",
        hint = secrets_manager_hint(detail)
    )]
    SecretsManager {
        /// Secret ARN or id.
        arn: String,
        /// The step.
        step: &'static str,
        /// The API operation.
        operation: &'static str,
        /// The SDK's description.
        detail: String,
    },
    /// The step ran into the invocation's deadline and was stopped before Lambda would kill it.
    #[error(
        "{step} for secret {arn}: ran out of time after {after:.1?}{waiting}: the invocation's deadline is near, and the rest of it is kept to report this. Nothing more was done, and the step can run again as it is (Secrets Manager retries it; or rotate the secret again). {hint}",
        waiting = match waiting {
            Some(w) => format!(", {w}"),
            None => String::new(),
        },
        hint = timeout_hint(waiting.as_ref())
    )]
    Timeout {
        /// Secret ARN or id.
        arn: String,
        /// The step.
        step: String,
        /// How long the step ran.
        after: std::time::Duration,
        /// What it was waiting for when time ran out.
        waiting: Option<crate::activity::Waiting>,
    },
    /// The secret has no AWSCURRENT version to rotate from.
    #[error(
        "{step} for secret {arn}: the secret has no AWSCURRENT version; store the initial credentials first"
    )]
    NoCurrentVersion {
        /// Secret ARN.
        arn: String,
        /// The step.
        step: &'static str,
    },
}

impl RotationError {
    /// The Lambda `errorType`.
    pub fn kind(&self) -> &'static str {
        match self {
            RotationError::RotationNotEnabled { .. } => "RotationNotEnabled",
            RotationError::NoStage { .. }
            | RotationError::NotPending { .. }
            | RotationError::InvalidStep { .. } => "InvalidRequest",
            RotationError::BadSecret { .. } | RotationError::NoCurrentVersion { .. } => "BadSecret",
            RotationError::ConfusedDeputy { .. } | RotationError::AdminIsRotated { .. } => {
                "ConfusedDeputy"
            }
            RotationError::Database { source, .. } => source.kind(),
            RotationError::SecretsManager { .. } => "SecretsManagerError",
            RotationError::Timeout { .. } => "Timeout",
        }
    }
}

/// What to check when a Secrets Manager call failed with `detail`.
fn secrets_manager_hint(detail: &str) -> &'static str {
    if detail.contains("Throttling") || detail.contains("TooManyRequests") {
        "The account's Secrets Manager quota was exceeded even after the calls were retried with backoff (many secrets rotating at once share it); nothing was lost, and the rotation completes when it runs again (Secrets Manager retries it, or rotate the secret again), so spread the rotation schedules"
    } else {
        "Check the function's IAM permissions and network path to Secrets Manager"
    }
}

/// What to check when a step ran out of time waiting for `waiting`.
fn timeout_hint(waiting: Option<&crate::activity::Waiting>) -> &'static str {
    match waiting.map(|w| w.database) {
        Some(true) => {
            "Check that the function's subnets and security groups reach the database and that it answers (its load, its connection limit), and that the function's timeout leaves room for CONNECT_TIMEOUT_SECONDS and the step's logins"
        }
        Some(false) => {
            "Check the network path to Secrets Manager (a NAT gateway or a VPC endpoint, and their security groups), throttling of the account's Secrets Manager calls, and that the function's timeout leaves room for the step"
        }
        None => {
            "Check the function's timeout, and that its subnets and security groups reach the database and Secrets Manager"
        }
    }
}

impl From<RotationError> for Diagnostic {
    fn from(e: RotationError) -> Diagnostic {
        Diagnostic {
            error_type: e.kind().to_owned(),
            error_message: e.to_string(),
        }
    }
}
