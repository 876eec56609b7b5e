//! The Redis/Valkey ACL user snapshot: what the server holds about one user that decides what a
//! login as it may do, with its name and passwords taken out.
//!
//! It is read with `ACL GETUSER`, the server's own structured answer, not from `ACL LIST` as the
//! rotation code reads it, so that a mistake in how the function takes a rule line apart or
//! copies it cannot hide in the comparison too:
//! - `flags`: `on`/`off`, `allkeys`, `allchannels`, `allcommands`, `nopass`,
//!   `sanitize-payload`/`skip-sanitize-payload`;
//! - the root permissions, `commands`, `keys` and `channels`, and any other field a server
//!   version adds (Valkey 9's `databases`), each as the server prints it (Redis 6.2's lists of
//!   patterns joined with spaces);
//! - `selectors`, in order, each with its own fields.
//!
//! Command rules are compared in one order where order changes nothing: Redis 7.0 prints the
//! subcommand rules of two users with the same rights (`+function|load +function|delete`) in
//! different orders, so each run of neighbouring rules that name different commands and no
//! category is sorted.
//!
//! `passwords` is left out: the two users of a pair hold different passwords by design.

use ::redis::Value;
use ::redis::aio::ConnectionLike;
use std::collections::{BTreeMap, BTreeSet};

/// One ACL user, comparable with another: equal exactly when a login as either may do the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The `flags`.
    pub flags: BTreeSet<String>,
    /// Every other field but `passwords` and `selectors`, by name, as text.
    pub fields: BTreeMap<String, String>,
    /// The selectors, in the server's order, each its fields as text.
    pub selectors: Vec<BTreeMap<String, String>>,
}

impl Snapshot {
    /// What differs from `other`, one line per flag, field or selector (empty when equal): for
    /// failure messages that show the difference rather than two whole snapshots.
    pub fn differences(&self, other: &Snapshot) -> Vec<String> {
        let mut out = Vec::new();
        for f in self.flags.symmetric_difference(&other.flags) {
            let side = if self.flags.contains(f) {
                "only first"
            } else {
                "only second"
            };
            out.push(format!("flag ({side}): {f}"));
        }
        out.extend(fields_differ("", &self.fields, &other.fields));
        let n = self.selectors.len().max(other.selectors.len());
        for i in 0..n {
            match (self.selectors.get(i), other.selectors.get(i)) {
                (Some(a), Some(b)) => {
                    out.extend(fields_differ(&format!("selector {i} "), a, b));
                }
                (a, b) => out.push(format!("selector {i}: {a:?} vs {b:?}")),
            }
        }
        out
    }
}

fn fields_differ(
    prefix: &str,
    a: &BTreeMap<String, String>,
    b: &BTreeMap<String, String>,
) -> Vec<String> {
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| format!("{prefix}{k}: {:?} vs {:?}", a.get(k), b.get(k)))
        .collect()
}

/// Read `user`'s snapshot through `conn` (a session that may run `ACL GETUSER`), or `None` when
/// the user does not exist. Panics on any other answer.
pub async fn snapshot<C: ConnectionLike + Send>(conn: &mut C, user: &str) -> Option<Snapshot> {
    let answer: Value = ::redis::cmd("ACL")
        .arg("GETUSER")
        .arg(user)
        .query_async(conn)
        .await
        .unwrap_or_else(|e| panic!("ACL GETUSER {user}: {e}"));
    if answer == Value::Nil {
        return None;
    }
    let mut snap = Snapshot {
        flags: BTreeSet::new(),
        fields: BTreeMap::new(),
        selectors: Vec::new(),
    };
    for (key, value) in pairs(&answer, user) {
        match key.as_str() {
            "passwords" => {}
            "flags" => snap.flags = items(&value, user).iter().map(text).collect(),
            "selectors" => {
                snap.selectors = items(&value, user)
                    .iter()
                    .map(|s| {
                        pairs(s, user)
                            .into_iter()
                            .map(|(k, v)| (k, text(&v)))
                            .collect()
                    })
                    .collect()
            }
            _ => {
                let (k, v) = field(&key, &value);
                snap.fields.insert(k, v);
            }
        }
    }
    Some(snap)
}

/// A field as text, the commands in [`canonical`] order.
fn field(key: &str, value: &Value) -> (String, String) {
    let text = text(value);
    match key {
        "commands" => (key.to_owned(), canonical(&text)),
        _ => (key.to_owned(), text),
    }
}

/// Command rules with each run of neighbouring `±command` (or each of `±command|subcommand`)
/// rules that name different commands sorted by name: such rules give the same rights in any
/// order. Categories and repeated names end a run.
fn canonical(commands: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let mut run: Vec<&str> = Vec::new();
    let mut run_is_sub = None;
    for rule in commands.split(' ') {
        let name = rule.strip_prefix(['+', '-']).filter(|n| !n.contains('@'));
        let Some(name) = name else {
            sorted_into(&mut run, &mut out);
            run_is_sub = None;
            out.push(rule);
            continue;
        };
        let sub = name.contains('|');
        if run_is_sub != Some(sub) || run.iter().any(|r| r.get(1..) == Some(name)) {
            sorted_into(&mut run, &mut out);
        }
        run.push(rule);
        run_is_sub = Some(sub);
    }
    sorted_into(&mut run, &mut out);
    out.join(" ")
}

fn sorted_into<'a>(run: &mut Vec<&'a str>, out: &mut Vec<&'a str>) {
    run.sort_by_key(|r| r.get(1..).unwrap_or_default().to_owned());
    out.append(run);
}

/// The field/value pairs of a RESP2 flat array or a RESP3 map.
fn pairs(v: &Value, user: &str) -> Vec<(String, Value)> {
    match v {
        Value::Map(m) => m.iter().map(|(k, v)| (text(k), v.clone())).collect(),
        Value::Array(a) => a
            .chunks(2)
            .map(|p| (text(&p[0]), p.get(1).cloned().unwrap_or(Value::Nil)))
            .collect(),
        other => panic!("ACL GETUSER {user}: expected fields, got {other:?}"),
    }
}

fn items(v: &Value, user: &str) -> Vec<Value> {
    match v {
        Value::Array(a) | Value::Set(a) => a.clone(),
        other => panic!("ACL GETUSER {user}: expected a list, got {other:?}"),
    }
}

/// A value as text: strings as they are, lists (Redis 6.2's key patterns) joined with spaces.
fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::VerbatimString { text, .. } => text.clone(),
        Value::Int(n) => n.to_string(),
        Value::Nil => "(nil)".to_owned(),
        Value::Array(a) | Value::Set(a) => a.iter().map(text).collect::<Vec<_>>().join(" "),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn differences_name_flags_fields_and_selectors() {
        let a = Snapshot {
            flags: ["on".to_owned()].into(),
            fields: [("keys".to_owned(), "~a".to_owned())].into(),
            selectors: vec![[("commands".to_owned(), "+get".to_owned())].into()],
        };
        let mut b = a.clone();
        assert!(a.differences(&b).is_empty());
        b.flags.insert("sanitize-payload".into());
        b.fields.insert("keys".into(), "~b".into());
        b.selectors.push(BTreeMap::new());
        assert_eq!(
            a.differences(&b),
            [
                "flag (only second): sanitize-payload",
                "keys: Some(\"~a\") vs Some(\"~b\")",
                "selector 1: None vs Some({})",
            ]
        );
    }

    #[test]
    fn commands_that_commute_are_sorted() {
        assert_eq!(
            canonical(
                "-@all +@read +function|load +function|delete -object|help -keys +get -@write"
            ),
            "-@all +@read +function|delete +function|load -object|help +get -keys -@write"
        );
        assert_eq!(canonical("+set -get +get"), "-get +set +get");
        assert_eq!(canonical(""), "");
    }

    #[test]
    fn lists_become_text() {
        assert_eq!(
            text(&Value::Array(vec![bulk("~a"), bulk("%R~b")])),
            "~a %R~b"
        );
        let resp2 = Value::Array(vec![bulk("keys"), bulk("~x"), bulk("passwords")]);
        let p = pairs(&resp2, "u");
        assert_eq!(p[0].0, "keys");
        assert_eq!(p[1], ("passwords".to_owned(), Value::Nil));
    }
}
