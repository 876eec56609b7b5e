//! The event Secrets Manager sends to a rotation function, and the four steps it names.

use aws_lambda_events::event::secretsmanager::SecretsManagerSecretRotationEvent;
use serde::Deserialize;
use std::fmt;

/// One invocation: `{"SecretId", "ClientRequestToken", "Step"}` and, in newer events, an
/// optional `"RotationToken"` that must be passed on to `PutSecretValue`. A preflight event
/// (`"Step": "preflight"`) has no token; a rotation step without one is refused by the gate.
#[derive(Debug, Clone, Deserialize)]
#[serde(from = "Wire")]
pub struct RotationEvent {
    /// The standard fields.
    pub inner: SecretsManagerSecretRotationEvent,
    /// Present for cross-account rotation; handed to `PutSecretValue` unchanged.
    pub rotation_token: Option<String>,
}

/// The event as sent, every field but `Step` and `SecretId` optional.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Wire {
    step: String,
    secret_id: String,
    #[serde(default)]
    client_request_token: String,
    #[serde(default)]
    rotation_token: Option<String>,
}

impl From<Wire> for RotationEvent {
    fn from(w: Wire) -> RotationEvent {
        let mut e = RotationEvent::new(&w.secret_id, &w.client_request_token, &w.step);
        e.rotation_token = w.rotation_token;
        e
    }
}

impl RotationEvent {
    /// Build an event (used by tests and tools).
    pub fn new(secret_id: &str, token: &str, step: &str) -> Self {
        let mut inner = SecretsManagerSecretRotationEvent::default();
        inner.secret_id = secret_id.to_owned();
        inner.client_request_token = token.to_owned();
        inner.step = step.to_owned();
        RotationEvent {
            inner,
            rotation_token: None,
        }
    }
}

/// The four rotation steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Generate and store the AWSPENDING version.
    Create,
    /// Make the database accept the AWSPENDING credentials.
    Set,
    /// Log in with the AWSPENDING credentials.
    Test,
    /// Move AWSCURRENT to the AWSPENDING version.
    Finish,
}

impl Step {
    /// Parse the event's `Step` value; `None` for anything else.
    pub fn parse(s: &str) -> Option<Step> {
        match s {
            "createSecret" => Some(Step::Create),
            "setSecret" => Some(Step::Set),
            "testSecret" => Some(Step::Test),
            "finishSecret" => Some(Step::Finish),
            _ => None,
        }
    }

    /// The name Secrets Manager uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Create => "createSecret",
            Step::Set => "setSecret",
            Step::Test => "testSecret",
            Step::Finish => "finishSecret",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_event_with_and_without_rotation_token() {
        let e: RotationEvent = serde_json::from_str(
            r#"{"SecretId":"arn:s","ClientRequestToken":"t","Step":"setSecret"}"#,
        )
        .expect("event");
        assert_eq!(e.inner.secret_id, "arn:s");
        assert_eq!(e.inner.client_request_token, "t");
        assert_eq!(Step::parse(&e.inner.step), Some(Step::Set));
        assert_eq!(e.rotation_token, None);
        let e: RotationEvent = serde_json::from_str(
            r#"{"SecretId":"a","ClientRequestToken":"t","Step":"x","RotationToken":"rt"}"#,
        )
        .expect("event");
        assert_eq!(e.rotation_token.as_deref(), Some("rt"));
        assert_eq!(Step::parse("x"), None);
        let e: RotationEvent =
            serde_json::from_str(r#"{"SecretId":"arn:s","Step":"preflight"}"#).expect("event");
        assert_eq!(e.inner.step, "preflight");
        assert_eq!(e.inner.client_request_token, "");
    }
}
