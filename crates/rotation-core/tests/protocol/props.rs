//! Property tests of the secret parser, the one place where text from Secrets Manager (anybody
//! with `PutSecretValue`) is first read: `DbSecret::parse` with each engine's `SecretRules`
//! (from the engines' own facts, through `rotation-functions`) and `DbSecret::parse_master`.
//!
//! For any text and any JSON (non-objects, nested values, control and multi-byte characters in
//! keys and strings, numbers no float holds, keys given twice): no panic; either a secret or a
//! `SecretFormatError`, reported as `BadSecret`, whose message is not empty and never holds
//! the password; a parsed secret writes back every key with an equal value, and only
//! `username` and `password` change under `with_credentials`; a valid secret changed in one
//! key parses or names exactly that key; generated valid secrets parse to their values.
//!
//! 256 cases each. Failures print the shrunk input; nothing is persisted
//! (`failure_persistence: None`), so no regression file appears in the tree.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::Config;
use rotation_core::secret::{DbSecret, SecretFormatError, SecretRules, SslMode};
use rotation_core::{ExposeSecret, RotationError, SecretString};
use rotation_functions::Engine;
use serde_json::{Map, Value};

/// The keys the parser reads.
const KNOWN: &[&str] = &[
    "engine",
    "host",
    "port",
    "username",
    "password",
    "dbname",
    "ssl",
    "masterarn",
];

fn config() -> Config {
    test_support::props::config(256)
}

/// Each engine's rules, as its crate builds them from its facts.
fn rules_of(engine: Engine) -> SecretRules {
    SecretRules {
        engines: engine.engines(),
        default_port: engine.default_port(),
        default_dbname: engine.default_dbname(),
    }
}

fn any_rules() -> impl Strategy<Value = SecretRules> {
    select(Engine::ALL.to_vec()).prop_map(rules_of)
}

/// Characters that break quoting, parsing or display, besides any character at all.
const HOSTILE: &[char] = &[
    '\0', '\n', '\r', '\t', '\u{1a}', '\u{7f}', '\u{85}', '"', '\'', '\\', '`', '%', '_', ' ', '{',
    '}', ':', ',', 'é', '€', '𝄞', '\u{2028}', '\u{feff}', '\u{202e}', '\u{fffd}',
];

fn any_char() -> impl Strategy<Value = char> {
    prop_oneof![
        any::<char>(),
        select(HOSTILE),
        proptest::char::range('a', 'z')
    ]
}

fn text(max: usize) -> impl Strategy<Value = String> {
    vec(any_char(), 0..=max).prop_map(String::from_iter)
}

fn non_empty(max: usize) -> impl Strategy<Value = String> {
    vec(any_char(), 1..=max).prop_map(String::from_iter)
}

/// A password long enough that no message holds it by chance.
fn password() -> impl Strategy<Value = String> {
    vec(any_char(), 8..=24).prop_map(String::from_iter)
}

/// Numbers of every kind, those beyond `u64` and `f64` included (kept as text).
fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "-?[1-9][0-9]{19,60}(\\.[0-9]{1,12})?([eE][+-]?[0-9]{1,4})?".prop_map(|t| {
            serde_json::from_str::<Value>(&t).unwrap_or_else(|e| panic!("{t}: {e}"))
        }),
    ]
}

/// Key names: the parser's own, near misses of them, and anything.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        select(KNOWN).prop_map(str::to_owned),
        select(
            &[
                "Password",
                "password ",
                " password",
                "pass\u{0}word",
                "PASSWORD",
                "user\u{200b}name",
                "hôst",
                "",
            ][..]
        )
        .prop_map(str::to_owned),
        text(12),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        text(24).prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 40, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            vec((key(), inner), 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An object's text from its members, in order, duplicates kept (a `Map` cannot hold them).
fn object_text(members: &[(String, Value)]) -> String {
    let members: Vec<String> = members
        .iter()
        .map(|(k, v)| format!("{}:{v}", Value::String(k.clone())))
        .collect();
    format!("{{{}}}", members.join(","))
}

/// The first key given twice, as the parser meets it.
fn first_duplicate(members: &[(String, Value)]) -> Option<&str> {
    members.iter().enumerate().find_map(|(i, (k, _))| {
        members[..i]
            .iter()
            .any(|(earlier, _)| earlier == k)
            .then_some(k.as_str())
    })
}

fn secret(text: &str) -> SecretString {
    SecretString::from(text.to_owned())
}

/// The parsed members of a written secret, in order.
fn members_of(secret: &DbSecret) -> Result<Vec<(String, Value)>, TestCaseError> {
    let written = secret.to_secret_string();
    match serde_json::from_str::<Value>(written.expose_secret()) {
        Ok(Value::Object(map)) => Ok(map.into_iter().collect()),
        other => Err(TestCaseError::fail(format!(
            "a parsed secret wrote {other:?}"
        ))),
    }
}

/// What an error must be, whatever the input: `BadSecret` when reported, a message that says
/// something, no password in it.
fn check_error(e: &SecretFormatError, passwords: &[&str]) -> Result<(), TestCaseError> {
    let message = e.to_string();
    prop_assert!(!message.trim().is_empty(), "empty message for {e:?}");
    let reported = RotationError::BadSecret {
        arn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:s-AbCdEf".into(),
        step: "createSecret",
        label: "AWSCURRENT".into(),
        source: e.clone(),
    };
    prop_assert_eq!(reported.kind(), "BadSecret");
    for pw in passwords.iter().filter(|p| p.chars().count() >= 8) {
        prop_assert!(
            !message.contains(pw),
            "the message shows a password: {message}"
        );
        prop_assert!(
            !reported.to_string().contains(pw),
            "the reported error shows a password"
        );
    }
    Ok(())
}

/// Every key of `input` is written back with an equal value, in order, and `with_credentials`
/// changes `username` and `password` only.
fn check_round_trip(parsed: &DbSecret, input: &[(String, Value)]) -> Result<(), TestCaseError> {
    prop_assert_eq!(members_of(parsed)?, input.to_vec());
    let next = parsed.with_credentials("next\u{e9}'\"user", secret("new \"pw\"\\\u{0}"));
    let expected: Vec<(String, Value)> = input
        .iter()
        .map(|(k, v)| match k.as_str() {
            "username" => (k.clone(), Value::from("next\u{e9}'\"user")),
            "password" => (k.clone(), Value::from("new \"pw\"\\\u{0}")),
            _ => (k.clone(), v.clone()),
        })
        .collect();
    prop_assert_eq!(members_of(&next)?, expected);
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// Any text at all: a secret or an error, never a panic; what is not JSON says so.
    #[test]
    fn any_text_parses_or_is_refused(input in prop_oneof![text(80), "\\{\"[a-z]{0,8}\":.{0,40}"], rules in any_rules()) {
        let is_json = serde_json::from_str::<Value>(&input).is_ok();
        match DbSecret::parse(&secret(&input), &rules) {
            Ok(parsed) => prop_assert!(is_json, "parsed text that is not JSON: {parsed:?}"),
            Err(e) => {
                if !is_json {
                    prop_assert!(matches!(e, SecretFormatError::NotJson(_)), "{e:?}");
                }
                check_error(&e, &[])?;
            }
        }
    }

    /// Any JSON that is not an object is refused as such, naming what it is.
    #[test]
    fn json_that_is_not_an_object_is_refused(value in json().prop_filter("not an object", |v| !v.is_object()), rules in any_rules()) {
        match DbSecret::parse(&secret(&value.to_string()), &rules) {
            Err(e @ SecretFormatError::NotObject(_)) => check_error(&e, &[])?,
            other => prop_assert!(false, "{:?}", other),
        }
    }

    /// Any object (keys twice included): a duplicate is refused by name; otherwise a secret that
    /// keeps every key, or an error without the password.
    #[test]
    fn any_object_parses_whole_or_is_refused_without_the_password(
        members in vec((key(), prop_oneof![json(), password().prop_map(Value::String)]), 0..10),
        rules in any_rules(),
    ) {
        let passwords: Vec<&str> = members
            .iter()
            .filter(|(k, _)| k == "password")
            .filter_map(|(_, v)| v.as_str())
            .collect();
        match DbSecret::parse(&secret(&object_text(&members)), &rules) {
            Ok(parsed) => {
                prop_assert!(first_duplicate(&members).is_none());
                prop_assert!(!parsed.username.is_empty());
                check_round_trip(&parsed, &members)?;
            }
            Err(e) => {
                if let Some(dup) = first_duplicate(&members) {
                    let want: String = dup.chars().take(60).collect();
                    prop_assert_eq!(&e, &SecretFormatError::DuplicateKey(want));
                }
                check_error(&e, &passwords)?;
            }
        }
    }

    /// Valid secrets (every required key of the right type, optional keys in their accepted
    /// forms, any extra keys, any order) parse to their values and are written back whole.
    #[test]
    fn valid_secrets_parse_to_their_values(case in valid_secret()) {
        let parsed = DbSecret::parse(&secret(&object_text(&case.members)), &case.rules)
            .unwrap_or_else(|e| panic!("a valid secret was refused: {e}"));
        prop_assert_eq!(&parsed.engine, &case.engine);
        prop_assert_eq!(&parsed.host, &case.host);
        prop_assert_eq!(parsed.port, case.port);
        prop_assert_eq!(&parsed.username, &case.username);
        prop_assert_eq!(parsed.password.expose_secret(), case.password.as_str());
        prop_assert_eq!(&parsed.dbname, &case.dbname);
        prop_assert_eq!(parsed.ssl, case.ssl);
        prop_assert_eq!(&parsed.masterarn, &case.masterarn);
        check_round_trip(&parsed, &case.members)?;
        // What is written parses again to the same secret.
        let again = DbSecret::parse(&parsed.to_secret_string(), &case.rules)
            .unwrap_or_else(|e| panic!("a written secret was refused: {e}"));
        prop_assert!(again.differing_keys(&parsed, &[]).is_empty());
        prop_assert_eq!(again.password.expose_secret(), case.password.as_str());
    }

    /// A valid secret with one key changed to any value, or removed: it parses (and keeps every
    /// key), or the error names exactly that key.
    #[test]
    fn one_changed_key_parses_or_names_that_key(
        case in valid_secret(),
        which in select(KNOWN),
        change in prop::option::of(prop_oneof![json(), text(12).prop_map(Value::String)]),
    ) {
        let mut members = case.members.clone();
        let at = members.iter().position(|(k, _)| k == which);
        match (at, change) {
            (Some(i), Some(v)) => members[i].1 = v,
            (Some(i), None) => { members.remove(i); }
            (None, Some(v)) => members.push((which.to_owned(), v)),
            (None, None) => {}
        }
        match DbSecret::parse(&secret(&object_text(&members)), &case.rules) {
            Ok(parsed) => check_round_trip(&parsed, &members)?,
            Err(e) => {
                let named = match &e {
                    SecretFormatError::Missing(k) => *k,
                    SecretFormatError::Invalid { key, .. } => *key,
                    SecretFormatError::WrongEngine { .. } => "engine",
                    other => panic!("a one-key change gave {other:?}"),
                };
                prop_assert_eq!(named, which, "{}", e);
                prop_assert!(e.to_string().contains(&format!("'{which}'")), "{}", e);
                check_error(&e, &[case.password.as_str()])?;
            }
        }
    }

    /// Admin secrets: any object is a secret for the rotated database or an error without
    /// the admin's password; generated valid ones (username and password, a host and port
    /// that are the rotated one's or none) parse.
    #[test]
    fn admin_secrets_parse_or_are_refused_without_the_password(
        case in valid_secret(),
        admin in (non_empty(16), password()),
        extra in vec((key(), json()), 0..5),
        same_host in prop::option::of(any::<bool>()),
        with_port in any::<bool>(),
    ) {
        let rotated = DbSecret::parse(&secret(&object_text(&case.members)), &case.rules)
            .unwrap_or_else(|e| panic!("a valid secret was refused: {e}"));
        let (user, pw) = admin;
        let mut members = vec![
            ("username".to_owned(), Value::from(user.clone())),
            ("password".to_owned(), Value::from(pw.clone())),
        ];
        match same_host {
            Some(true) => members.push(("host".into(), Value::from(rotated.host.to_ascii_uppercase()))),
            Some(false) => members.push(("host".into(), Value::from(format!("x{}", rotated.host)))),
            None => {}
        }
        if with_port {
            members.push(("port".into(), Value::from(rotated.port)));
        }
        let valid = user.chars().all(|c| !c.is_control());
        match DbSecret::parse_master(&secret(&object_text(&members)), &rotated) {
            Ok(m) => {
                prop_assert!(valid && same_host != Some(false));
                prop_assert_eq!(&m.username, &user);
                prop_assert_eq!(m.password.expose_secret(), pw.as_str());
                prop_assert_eq!((&m.host, m.port, &m.engine), (&rotated.host, rotated.port, &rotated.engine));
                check_round_trip(&m, &members)?;
            }
            Err(e) => {
                prop_assert!(!valid || same_host == Some(false), "{}", e);
                check_error(&e, &[pw.as_str()])?;
            }
        }
        // And with anything else added: never a panic, never the password.
        members.extend(extra);
        if let Err(e) = DbSecret::parse_master(&secret(&object_text(&members)), &rotated) {
            check_error(&e, &[pw.as_str()])?;
        }
    }
}

/// A valid secret, and what it must parse to.
#[derive(Debug, Clone)]
struct Valid {
    rules: SecretRules,
    members: Vec<(String, Value)>,
    engine: String,
    host: String,
    port: u16,
    username: String,
    password: String,
    dbname: Option<String>,
    ssl: Option<SslMode>,
    masterarn: Option<String>,
}

/// The forms of `port` the parser accepts: none, null, a number, or a numeric string with
/// spaces around; and the port it stands for (`None`: the default).
fn port() -> impl Strategy<Value = (Option<Value>, Option<u16>)> {
    prop_oneof![
        Just((None, None)),
        Just((Some(Value::Null), None)),
        (1..=u16::MAX).prop_map(|p| (Some(Value::from(p)), Some(p))),
        (1..=u16::MAX, "[ \t]{0,2}", "[ \n]{0,2}")
            .prop_map(|(p, a, b)| (Some(Value::from(format!("{a}{p}{b}"))), Some(p))),
    ]
}

fn ssl() -> impl Strategy<Value = (Option<Value>, Option<SslMode>)> {
    prop_oneof![
        Just((None, None)),
        Just((Some(Value::Null), None)),
        any::<bool>().prop_map(|b| (Some(Value::Bool(b)), Some(mode(b)))),
        (any::<bool>(), any::<bool>(), "[ ]{0,2}").prop_map(|(b, upper, pad)| {
            let word = if b { "true" } else { "false" };
            let word = if upper {
                word.to_ascii_uppercase()
            } else {
                word.to_owned()
            };
            (
                Some(Value::from(format!("{pad}{word}{pad}"))),
                Some(mode(b)),
            )
        }),
    ]
}

fn mode(ssl: bool) -> SslMode {
    if ssl {
        SslMode::Require
    } else {
        SslMode::Disable
    }
}

/// A host the parser accepts: ASCII, no spaces or control characters.
fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9][a-z0-9.-]{0,40}",
        "[!-~]{1,30}",
        Just("127.0.0.1".to_owned()),
        Just("[::1]".to_owned()),
    ]
}

/// A user name the parser accepts: not empty, no control characters.
fn username() -> impl Strategy<Value = String> {
    vec(
        any_char().prop_filter("no control", |c| !c.is_control()),
        1..=20,
    )
    .prop_map(String::from_iter)
}

prop_compose! {
    fn valid_secret()(
        engine in select(Engine::ALL.to_vec()),
        pick in any::<prop::sample::Index>(),
        engine_case in any::<bool>(),
        pad in "[ ]{0,2}",
        host in host(),
        port in port(),
        username in username(),
        password in password(),
        dbname in prop::option::of(prop::option::of(text(16))),
        ssl in ssl(),
        masterarn in prop::option::of(text(40)),
        extra in vec((text(12).prop_filter("not a known key", |k| !KNOWN.contains(&k.as_str())), json()), 0..6),
        order in any::<u64>(),
    ) -> Valid {
        let rules = rules_of(engine);
        let name = pick.get(rules.engines);
        let shown = if engine_case { name.to_ascii_uppercase() } else { (*name).to_owned() };
        let engine_value = format!("{pad}{shown}{pad}");
        let mut members = vec![
            ("engine".to_owned(), Value::from(engine_value.clone())),
            ("host".to_owned(), Value::from(host.clone())),
            ("username".to_owned(), Value::from(username.clone())),
            ("password".to_owned(), Value::from(password.clone())),
        ];
        let (port_value, port) = port;
        members.extend(port_value.map(|v| ("port".to_owned(), v)));
        let dbname_expected = match &dbname {
            Some(Some(d)) if !d.is_empty() => Some(d.clone()),
            _ => rules.default_dbname.map(str::to_owned),
        };
        if let Some(d) = dbname {
            members.push(("dbname".to_owned(), d.map_or(Value::Null, Value::from)));
        }
        let (ssl_value, ssl) = ssl;
        members.extend(ssl_value.map(|v| ("ssl".to_owned(), v)));
        if let Some(m) = &masterarn {
            members.push(("masterarn".to_owned(), Value::from(m.clone())));
        }
        // Extra keys once each, so that the object has no key twice.
        for (k, v) in extra {
            if !members.iter().any(|(have, _)| *have == k) {
                members.push((k, v));
            }
        }
        // Any order: a seeded Fisher-Yates shuffle.
        let mut seed = order;
        for i in (1..members.len()).rev() {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let j = usize::try_from((seed >> 33) % (i as u64 + 1)).unwrap_or(0);
            members.swap(i, j);
        }
        Valid {
            rules,
            members,
            engine: engine_value,
            host,
            port: port.unwrap_or(rules.default_port),
            username,
            password,
            dbname: dbname_expected,
            ssl,
            masterarn: masterarn.filter(|m| !m.is_empty()),
        }
    }
}

/// `Map` is not used for members (it cannot hold a key twice), but a parsed object is one.
#[test]
fn members_text_is_the_objects_text() {
    let members = vec![
        ("b".to_owned(), Value::from(1)),
        ("a\u{0}\"".to_owned(), Value::from("x")),
    ];
    let parsed: Map<String, Value> =
        serde_json::from_str(&object_text(&members)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(parsed.into_iter().collect::<Vec<_>>(), members);
}
