//! A proxy in front of the emulator that keeps every request's JSON body by operation, so a
//! test can see exactly what the protocol asked Secrets Manager (the `GetRandomPassword`
//! settings, the `RotationToken` of `PutSecretValue`), and that can answer
//! `AccessDeniedException` to calls on one secret, as IAM does when the role lacks
//! `secretsmanager:GetSecretValue` (or another action) on it. It is `test_support::proxy::serve` with
//! its own handling; call counts are `test_support::proxy::CountingProxy`'s job.

use serde_json::Value;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use test_support::proxy::serve;
use test_support::secrets::Sm;

#[derive(Default)]
struct Shared {
    requests: Vec<(String, Value)>,
    /// (operation, secret id) pairs answered with `AccessDeniedException`.
    denied: HashSet<(String, String)>,
}

/// The proxy and what it saw.
pub struct Recorder {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    shared: Arc<Mutex<Shared>>,
}

/// IAM's answer to `operation`.
fn denied(operation: &str) -> String {
    let body = format!(
        r#"{{"__type":"AccessDeniedException","message":"User: arn:aws:sts::123456789012:assumed-role/rotation/fn is not authorized to perform: secretsmanager:{operation} on this resource because no identity-based policy allows it"}}"#
    );
    format!(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.1\r\nx-amzn-ErrorType: AccessDeniedException\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

impl Recorder {
    /// Listen on a free loopback port and forward to the emulator of `sm`.
    pub fn start(sm: &Sm) -> Recorder {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let s = Arc::clone(&shared);
        let url = serve(
            &sm.url,
            Arc::new(move |op: &str, body: &[u8]| {
                let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
                let mut s = s.lock().unwrap_or_else(|p| p.into_inner());
                let deny = json["SecretId"]
                    .as_str()
                    .is_some_and(|id| s.denied.contains(&(op.to_owned(), id.to_owned())));
                s.requests.push((op.to_owned(), json));
                deny.then(|| denied(op))
            }),
        );
        Recorder { url, shared }
    }

    /// A client of the emulator through this proxy.
    pub fn sm(&self) -> Sm {
        crate::support::sm_at(&self.url)
    }

    /// The bodies of the requests of `operation` so far, in order.
    pub fn requests(&self, operation: &str) -> Vec<Value> {
        self.shared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .requests
            .iter()
            .filter(|(op, _)| op == operation)
            .map(|(_, body)| body.clone())
            .collect()
    }

    /// Answer `AccessDeniedException` to every `GetSecretValue` of `secret_id` from now on.
    pub fn deny_reads_of(&self, secret_id: &str) {
        self.deny("GetSecretValue", secret_id);
    }

    /// Answer `AccessDeniedException` to every `operation` on `secret_id` from now on.
    pub fn deny(&self, operation: &str, secret_id: &str) {
        self.shared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .denied
            .insert((operation.to_owned(), secret_id.to_owned()));
    }
}
