//! The secret JSON of AWS's rotation templates, with the password held in a redacting type.
//!
//! The whole JSON object is kept, so a new version copies every key the function does not use.
//! No type here derives `Debug`: the hand-written impls print key names and the non-secret
//! fields only.

use secrecy::{ExposeSecret, SecretString};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::fmt;

/// How a connection uses TLS, from the secret's `ssl` key (or `TLS_MODE` when it is absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Try TLS; fall back to plaintext only when the server offers no TLS at all, never after
    /// a failed certificate verification.
    Prefer,
    /// TLS with a verified certificate, or no connection.
    Require,
    /// Plaintext.
    Disable,
}

impl SslMode {
    /// Parse `prefer`, `require` or `disable` (the `TLS_MODE` values).
    pub fn parse(s: &str) -> Option<SslMode> {
        match s.trim().to_ascii_lowercase().as_str() {
            "prefer" => Some(SslMode::Prefer),
            "require" => Some(SslMode::Require),
            "disable" => Some(SslMode::Disable),
            _ => None,
        }
    }
}

/// What is wrong with a secret's JSON. Messages name keys, never values of secret keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretFormatError {
    /// Not JSON at all.
    #[error(
        "the secret value is not valid JSON ({0}); store a JSON object such as {{\"engine\": …, \"host\": …, \"username\": …, \"password\": …}}"
    )]
    NotJson(String),
    /// JSON, but not an object.
    #[error("the secret value must be a JSON object, found {0}")]
    NotObject(&'static str),
    /// A key appears twice, which parsers read differently.
    #[error(
        "the secret has the key '{0}' more than once; JSON parsers disagree on which value counts, so keep only one"
    )]
    DuplicateKey(String),
    /// A required key is absent.
    #[error("the secret has no '{0}' key; add it")]
    Missing(&'static str),
    /// A key has the wrong type or an unusable value.
    #[error("the secret's '{key}' key {expected}")]
    Invalid {
        /// The key.
        key: &'static str,
        /// What it should be.
        expected: String,
    },
    /// The `engine` key names an engine this function does not rotate.
    #[error(
        "the secret's engine is '{found}', but this function rotates {accepted}; use the function for that engine or fix the 'engine' key"
    )]
    WrongEngine {
        /// The engine found.
        found: String,
        /// The accepted values, joined.
        accepted: String,
    },
}

/// A parsed database secret.
#[derive(Clone)]
pub struct DbSecret {
    /// The parsed JSON, for reading and comparing keys.
    raw: Map<String, Value>,
    /// Every key with its value's text exactly as stored, in the stored order: what a new
    /// version is written from, so that no number, spacing or order changes on the way.
    text: Entries,
    /// `engine`.
    pub engine: String,
    /// `host`.
    pub host: String,
    /// `port`, from a number or a numeric string, or the engine default.
    pub port: u16,
    /// `username`.
    pub username: String,
    /// `password`.
    pub password: SecretString,
    /// `dbname`, or the engine default.
    pub dbname: Option<String>,
    /// `ssl`; `None` when absent (then `TLS_MODE` applies).
    pub ssl: Option<SslMode>,
    /// `masterarn`.
    pub masterarn: Option<String>,
}

/// What an engine says about the secrets it accepts.
#[derive(Debug, Clone, Copy)]
pub struct SecretRules {
    /// Accepted values of `engine`.
    pub engines: &'static [&'static str],
    /// Port when the secret has none.
    pub default_port: u16,
    /// Database when the secret has no `dbname`.
    pub default_dbname: Option<&'static str>,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A JSON object's members with their values' text kept verbatim, in their order.
#[derive(Clone, Default)]
struct Entries(Vec<(String, Box<RawValue>)>);

impl Entries {
    /// Replace a member's value in place, or add the member at the end.
    fn set(&mut self, key: &str, value: Box<RawValue>) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value,
            None => self.0.push((key.to_owned(), value)),
        }
    }

    fn set_string(&mut self, key: &str, value: &str) {
        // A JSON string is always valid raw JSON.
        if let Ok(raw) = serde_json::value::to_raw_value(value) {
            self.set(key, raw);
        }
    }

    fn to_json(&self) -> String {
        let mut out = String::from("{");
        for (i, (key, value)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&Value::String(key.clone()).to_string());
            out.push(':');
            out.push_str(value.get());
        }
        out.push('}');
        out
    }
}

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Entries, D::Error> {
        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut entries = Entries::default();
                while let Some((key, value)) = map.next_entry::<String, Box<RawValue>>()? {
                    // Parsers disagree on which of two values wins, so a version could read
                    // one way here and another way in an application.
                    if entries.0.iter().any(|(k, _)| *k == key) {
                        return Err(serde::de::Error::custom(format!("{DUPLICATE_MARK}{key}")));
                    }
                    entries.0.push((key, value));
                }
                Ok(entries)
            }
        }
        deserializer.deserialize_map(Members)
    }
}

/// How the member parser marks a key given twice (a key's name is not secret, its values are
/// never shown).
const DUPLICATE_MARK: &str = "duplicate key: ";

fn parse_object(json: &SecretString) -> Result<(Map<String, Value>, Entries), SecretFormatError> {
    // serde_json's syntax errors carry a line and column, never input text.
    let syntax = |e: serde_json::Error| {
        SecretFormatError::NotJson(format!("line {} column {}", e.line(), e.column()))
    };
    let value: Value = serde_json::from_str(json.expose_secret()).map_err(syntax)?;
    match value {
        Value::Object(map) => {
            let text = serde_json::from_str(json.expose_secret()).map_err(|e| {
                // The custom message comes first, then serde_json's " at line … column …".
                let message = e.to_string();
                match message.strip_prefix(DUPLICATE_MARK) {
                    Some(rest) => SecretFormatError::DuplicateKey(
                        rest.rsplit_once(" at line ")
                            .map_or(rest, |(key, _)| key)
                            .chars()
                            .take(60)
                            .collect(),
                    ),
                    None => syntax(e),
                }
            })?;
            Ok((map, text))
        }
        other => Err(SecretFormatError::NotObject(type_name(&other))),
    }
}

fn opt_string(
    map: &Map<String, Value>,
    key: &'static str,
) -> Result<Option<String>, SecretFormatError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(SecretFormatError::Invalid {
            key,
            expected: format!("must be a string, found {}", type_name(other)),
        }),
    }
}

fn req_string(map: &Map<String, Value>, key: &'static str) -> Result<String, SecretFormatError> {
    let s = opt_string(map, key)?.ok_or(SecretFormatError::Missing(key))?;
    if s.is_empty() {
        return Err(SecretFormatError::Invalid {
            key,
            expected: "must not be empty".into(),
        });
    }
    Ok(s)
}

fn no_control_chars(key: &'static str, s: &str) -> Result<(), SecretFormatError> {
    if s.chars().any(char::is_control) {
        return Err(SecretFormatError::Invalid {
            key,
            expected: "must not contain control characters (newline, tab, NUL…)".into(),
        });
    }
    Ok(())
}

fn parse_port(map: &Map<String, Value>, default: u16) -> Result<u16, SecretFormatError> {
    let bad = |what: String| SecretFormatError::Invalid {
        key: "port",
        expected: format!(
            "must be a port number from 1 to 65535 (a number or a numeric string), found {what}"
        ),
    };
    let n = match map.get("port") {
        None | Some(Value::Null) => return Ok(default),
        Some(Value::Number(n)) => n.as_u64().ok_or_else(|| bad(n.to_string()))?,
        Some(Value::String(s)) => s.trim().parse::<u64>().map_err(|_| bad(format!("{s:?}")))?,
        Some(other) => return Err(bad(type_name(other).into())),
    };
    u16::try_from(n)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| bad(n.to_string()))
}

fn parse_ssl(map: &Map<String, Value>) -> Result<Option<SslMode>, SecretFormatError> {
    let bad = || SecretFormatError::Invalid {
        key: "ssl",
        expected: "must be true or false (a boolean or the strings \"true\"/\"false\")".into(),
    };
    match map.get("ssl") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(true)) => Ok(Some(SslMode::Require)),
        Some(Value::Bool(false)) => Ok(Some(SslMode::Disable)),
        Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(Some(SslMode::Require)),
            "false" => Ok(Some(SslMode::Disable)),
            _ => Err(bad()),
        },
        Some(_) => Err(bad()),
    }
}

impl DbSecret {
    /// Whether a session opened with `self` is one `other` would open: the same host, port,
    /// account, password, database and TLS mode.
    pub fn same_login(&self, other: &DbSecret) -> bool {
        self.host == other.host
            && self.port == other.port
            && self.username == other.username
            && self.dbname == other.dbname
            && self.ssl == other.ssl
            && self.password.expose_secret() == other.password.expose_secret()
    }

    /// Parse and validate the secret of the rotated user.
    pub fn parse(json: &SecretString, rules: &SecretRules) -> Result<DbSecret, SecretFormatError> {
        let (raw, text) = parse_object(json)?;
        let engine = req_string(&raw, "engine")?;
        if !rules
            .engines
            .iter()
            .any(|e| e.eq_ignore_ascii_case(engine.trim()))
        {
            return Err(SecretFormatError::WrongEngine {
                found: engine.chars().take(40).collect(),
                accepted: rules.engines.join(", "),
            });
        }
        let host = req_string(&raw, "host")?;
        no_control_chars("host", &host)?;
        if host.trim() != host || host.contains(char::is_whitespace) {
            return Err(SecretFormatError::Invalid {
                key: "host",
                expected: "must be a host name or address without spaces".into(),
            });
        }
        if !host.is_ascii() {
            return Err(SecretFormatError::Invalid {
                key: "host",
                expected: "must be an ASCII host name or address; write an internationalized name in its punycode (xn--…) form".into(),
            });
        }
        let username = req_string(&raw, "username")?;
        no_control_chars("username", &username)?;
        let password = SecretString::from(req_string(&raw, "password")?);
        let port = parse_port(&raw, rules.default_port)?;
        let dbname = opt_string(&raw, "dbname")?
            .filter(|d| !d.is_empty())
            .or(rules.default_dbname.map(str::to_owned));
        let ssl = parse_ssl(&raw)?;
        let masterarn = opt_string(&raw, "masterarn")?.filter(|m| !m.is_empty());
        Ok(DbSecret {
            raw,
            text,
            engine,
            host,
            port,
            username,
            password,
            dbname,
            ssl,
            masterarn,
        })
    }

    /// Parse an admin ("master") secret. It needs `username` and `password`. A secret that
    /// holds only those (as RDS-managed master secrets do) takes host, port, database and TLS
    /// settings from `rotated`; one that names a host or port must name the rotated one's.
    pub fn parse_master(
        json: &SecretString,
        rotated: &DbSecret,
    ) -> Result<DbSecret, SecretFormatError> {
        let (raw, text) = parse_object(json)?;
        let username = req_string(&raw, "username")?;
        no_control_chars("username", &username)?;
        let password = SecretString::from(req_string(&raw, "password")?);
        if let Some(host) = opt_string(&raw, "host")?
            && !host.eq_ignore_ascii_case(&rotated.host)
        {
            return Err(SecretFormatError::Invalid {
                key: "host",
                expected: format!(
                    "names host '{host}', but the rotated secret's host is '{}'; the admin secret must be for the same database",
                    rotated.host
                ),
            });
        }
        if raw.contains_key("port") {
            let port = parse_port(&raw, rotated.port)?;
            if port != rotated.port {
                return Err(SecretFormatError::Invalid {
                    key: "port",
                    expected: format!(
                        "is {port}, but the rotated secret's port is {}; the admin secret must be for the same database",
                        rotated.port
                    ),
                });
            }
        }
        let ssl = parse_ssl(&raw)?.or(rotated.ssl);
        let dbname = opt_string(&raw, "dbname")?
            .filter(|d| !d.is_empty())
            .or_else(|| rotated.dbname.clone());
        Ok(DbSecret {
            raw,
            text,
            engine: rotated.engine.clone(),
            host: rotated.host.clone(),
            port: rotated.port,
            username,
            password,
            dbname,
            ssl,
            masterarn: None,
        })
    }

    /// A copy with a new password (and, for alternating users, a new username). Every other
    /// key is kept exactly as it was.
    pub fn with_credentials(&self, username: &str, password: SecretString) -> DbSecret {
        let mut next = self.clone();
        next.raw
            .insert("username".into(), Value::String(username.to_owned()));
        next.raw.insert(
            "password".into(),
            Value::String(password.expose_secret().to_owned()),
        );
        next.text.set_string("username", username);
        next.text.set_string("password", password.expose_secret());
        next.username = username.to_owned();
        next.password = password;
        next
    }

    /// The JSON to store as a secret version.
    pub fn to_secret_string(&self) -> SecretString {
        SecretString::from(self.text.to_json())
    }

    /// The keys whose values differ between `self` and `other` (present in one only, or with
    /// other values), leaving out `ignored`, in the order they appear. Values are compared as
    /// parsed JSON, so numbers compare by their text.
    pub fn differing_keys(&self, other: &DbSecret, ignored: &[&str]) -> Vec<String> {
        let mut keys: Vec<&String> = self.raw.keys().collect();
        keys.extend(other.raw.keys().filter(|k| !self.raw.contains_key(*k)));
        keys.into_iter()
            .filter(|k| !ignored.contains(&k.as_str()))
            .filter(|k| self.raw.get(*k) != other.raw.get(*k))
            .cloned()
            .collect()
    }

    /// Names of every key in the JSON (for logs: names only, never values).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.raw.keys().map(String::as_str)
    }
}

impl fmt::Debug for DbSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbSecret")
            .field("engine", &self.engine)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &"[REDACTED]")
            .field("dbname", &self.dbname)
            .field("ssl", &self.ssl)
            .field("masterarn", &self.masterarn)
            .field("keys", &self.raw.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The other user of an alternating pair: `name_clone`, or `name` for `name_clone`.
pub fn alternate_username(username: &str) -> String {
    match username.strip_suffix("_clone") {
        Some(base) if !base.is_empty() => base.to_owned(),
        _ => format!("{username}_clone"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: SecretRules = SecretRules {
        engines: &["mysql", "mariadb"],
        default_port: 3306,
        default_dbname: None,
    };

    fn s(json: &str) -> SecretString {
        SecretString::from(json.to_owned())
    }

    #[test]
    fn parses_template_format_and_keeps_unknown_keys() {
        let secret = DbSecret::parse(
            &s(r#"{"engine":"mysql","host":"db","port":"3307","username":"app","password":"pw-1","extra":{"a":1}}"#),
            &RULES,
        )
        .expect("valid");
        assert_eq!(secret.port, 3307);
        assert_eq!(secret.ssl, None);
        let next = secret.with_credentials("app_clone", SecretString::from("pw-2".to_owned()));
        let json: Value =
            serde_json::from_str(next.to_secret_string().expose_secret()).expect("json");
        assert_eq!(json["extra"]["a"], 1);
        assert_eq!(json["port"], "3307", "port keeps its original type");
        assert_eq!(json["username"], "app_clone");
        assert_eq!(json["password"], "pw-2");
    }

    #[test]
    fn debug_never_shows_the_password() {
        let secret = DbSecret::parse(
            &s(r#"{"engine":"mysql","host":"db","username":"app","password":"hunter2-secret"}"#),
            &RULES,
        )
        .expect("valid");
        let debug = format!("{secret:?}");
        assert!(!debug.contains("hunter2-secret"), "{debug}");
        assert!(debug.contains("REDACTED"));
        assert_eq!(secret.port, 3306);
    }

    #[test]
    fn errors_name_the_key_and_never_the_password() {
        let cases = [
            ("not json", "not valid JSON"),
            ("[1]", "JSON object"),
            (
                r#"{"engine":"oracle","host":"h","username":"u","password":"p"}"#,
                "engine is 'oracle'",
            ),
            (
                r#"{"engine":"mysql","username":"u","password":"p"}"#,
                "no 'host' key",
            ),
            (
                r#"{"engine":"mysql","host":"h","username":"u"}"#,
                "no 'password' key",
            ),
            (
                r#"{"engine":"mysql","host":"h","username":"u","password":"p","port":"x"}"#,
                "'port'",
            ),
            (
                r#"{"engine":"mysql","host":"h","username":"u","password":"p","port":70000}"#,
                "'port'",
            ),
            (
                r#"{"engine":"mysql","host":"h","username":"u","password":"p","ssl":"maybe"}"#,
                "'ssl'",
            ),
            (
                r#"{"engine":"mysql","host":"h","username":"a\nb","password":"p"}"#,
                "control",
            ),
            (
                r#"{"engine":"mysql","host":"bücher.example","username":"u","password":"p"}"#,
                "punycode",
            ),
            (
                r#"{"engine":"mysql","host":"h","username":"u","password":12345}"#,
                "must be a string",
            ),
            (
                r#"{"engine":"mysql","host":"evil","username":"u","password":"12345","host":"h"}"#,
                "the key 'host' more than once",
            ),
        ];
        for (json, expected) in cases {
            let err = DbSecret::parse(&s(json), &RULES)
                .expect_err(json)
                .to_string();
            assert!(err.contains(expected), "{json}: {err}");
            assert!(!err.contains("12345"), "{err}");
        }
    }

    #[test]
    fn ssl_values() {
        for (v, mode) in [
            ("true", SslMode::Require),
            ("\"true\"", SslMode::Require),
            ("false", SslMode::Disable),
            ("\"FALSE\"", SslMode::Disable),
        ] {
            let json = format!(
                r#"{{"engine":"mysql","host":"h","username":"u","password":"p","ssl":{v}}}"#
            );
            assert_eq!(
                DbSecret::parse(&s(&json), &RULES).expect("valid").ssl,
                Some(mode)
            );
        }
    }

    #[test]
    fn master_secret_takes_host_from_rotated_or_must_match() {
        let rotated = DbSecret::parse(
            &s(r#"{"engine":"mysql","host":"db","port":3307,"username":"app","password":"p"}"#),
            &RULES,
        )
        .expect("valid");
        let m = DbSecret::parse_master(&s(r#"{"username":"admin","password":"x"}"#), &rotated)
            .expect("rds-style master");
        assert_eq!((m.host.as_str(), m.port), ("db", 3307));
        let err = DbSecret::parse_master(
            &s(r#"{"username":"admin","password":"x","host":"other"}"#),
            &rotated,
        )
        .expect_err("other host");
        assert!(err.to_string().contains("same database"), "{err}");
        let err = DbSecret::parse_master(
            &s(r#"{"username":"admin","password":"x","host":"db","port":3306}"#),
            &rotated,
        )
        .expect_err("other port");
        assert!(err.to_string().contains("3307"), "{err}");
    }

    #[test]
    fn unknown_keys_round_trip_exactly() {
        // Numbers keep their text (no float rounding, no overflow), keys keep their order.
        let json = r#"{"zeta":123456789012345678901234567890,"engine":"mysql","big":1e400,"host":"db","e":1E2,"username":"app","password":"p","alpha":[1.50,{"b":2,"a":1}]}"#;
        let secret = DbSecret::parse(&s(json), &RULES).expect("valid");
        let next = secret.with_credentials("app", SecretString::from("q".to_owned()));
        assert_eq!(
            next.to_secret_string().expose_secret(),
            json.replace(r#""password":"p""#, r#""password":"q""#)
        );
    }

    #[test]
    fn differing_keys_names_every_change() {
        let a = DbSecret::parse(
            &s(r#"{"engine":"mysql","host":"db","username":"app","password":"p","ssl":true,"n":1.0}"#),
            &RULES,
        )
        .expect("valid");
        let b = DbSecret::parse(
            &s(r#"{"engine":"mysql","host":"db","username":"app","password":"q","n":1,"masterarn":"arn:x"}"#),
            &RULES,
        )
        .expect("valid");
        assert_eq!(
            a.differing_keys(&b, &["password"]),
            ["ssl", "n", "masterarn"]
        );
        assert!(a.differing_keys(&a.clone(), &[]).is_empty());
    }

    #[test]
    fn alternate_names() {
        assert_eq!(alternate_username("app"), "app_clone");
        assert_eq!(alternate_username("app_clone"), "app");
        assert_eq!(alternate_username("_clone"), "_clone_clone");
    }
}
