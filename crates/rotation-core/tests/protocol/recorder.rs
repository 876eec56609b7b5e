//! A proxy in front of the emulator that keeps every request's JSON body by operation, so a
//! test can see exactly what the protocol asked Secrets Manager (the `GetRandomPassword`
//! settings, the `RotationToken` of `PutSecretValue`), and that can answer
//! `AccessDeniedException` to reads of one secret, as IAM does when the role lacks
//! `secretsmanager:GetSecretValue` on it. Call counts are `test_support::proxy`'s job.

use serde_json::Value;
use std::collections::HashSet;
use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use test_support::http::read_message;
use test_support::secrets::Sm;

#[derive(Default)]
struct Shared {
    requests: Vec<(String, Value)>,
    denied: HashSet<String>,
}

/// The proxy and what it saw.
pub struct Recorder {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    shared: Arc<Mutex<Shared>>,
}

fn header<'h>(head: &'h str, name: &str) -> Option<&'h str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

const DENIED: &str = r#"{"__type":"AccessDeniedException","message":"User: arn:aws:sts::123456789012:assumed-role/rotation/fn is not authorized to perform: secretsmanager:GetSecretValue on this resource because no identity-based policy allows it"}"#;

fn relay(client: TcpStream, upstream_addr: String, shared: Arc<Mutex<Shared>>) {
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
        let op = header(&head, "x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("other")
            .to_owned();
        let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let deny = {
            let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
            let deny = op == "GetSecretValue"
                && json["SecretId"]
                    .as_str()
                    .is_some_and(|id| s.denied.contains(id));
            s.requests.push((op, json));
            deny
        };
        if deny {
            let response = format!(
                "HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.1\r\nx-amzn-ErrorType: AccessDeniedException\r\nContent-Length: {}\r\n\r\n{DENIED}",
                DENIED.len()
            );
            if client_w.write_all(response.as_bytes()).is_err() {
                return;
            }
            continue;
        }
        if upstream_w.write_all(head.as_bytes()).is_err() || upstream_w.write_all(&body).is_err() {
            return;
        }
        let Some((rhead, rbody)) = read_message(&mut upstream_r) else {
            return;
        };
        if client_w.write_all(rhead.as_bytes()).is_err() || client_w.write_all(&rbody).is_err() {
            return;
        }
    }
}

impl Recorder {
    /// Listen on a free loopback port and forward to the emulator of `sm`.
    pub fn start(sm: &Sm) -> Recorder {
        let upstream = sm
            .url
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
        let shared = Arc::new(Mutex::new(Shared::default()));
        let s = Arc::clone(&shared);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (s, upstream) = (Arc::clone(&s), upstream.clone());
                std::thread::spawn(move || relay(stream, upstream, s));
            }
        });
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
        self.shared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .denied
            .insert(secret_id.to_owned());
    }
}
