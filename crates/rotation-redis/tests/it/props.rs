//! Property tests of ACL rule handling (`rotation_redis::acl`): every function that reads the
//! server's `ACL LIST` / `ACL GETUSER` output or a server message takes any input without a
//! panic; `split_rules` takes a listed line apart into the rules it was made of; and, on the
//! shared Redis and a throwaway Valkey, a user made from rules of the ACL grammar (commands
//! and categories allowed or denied, subcommands, key patterns `~`, `%R~`, `%W~`, `%RW~`,
//! channels `&`, selectors in parentheses; patterns with quotes, backslashes, parentheses
//! and multi-byte characters) is copied by `copy_of`, from `ACL LIST` alone and with
//! `ACL GETUSER`'s selectors, into a user whose `ACL LIST` rules equal the model's
//! (`compare_copy`).
//!
//! Patterns hold no white space (the server refuses it in a rule), and no selector pattern
//! ends in `)` (`ACL LIST` could not tell it from the selector's end): the documented limits
//! of `quoted_selector`.
//!
//! Cases: 64 per server for the copy (about ten ACL commands each), 256 for each pure
//! property. Failures print the shrunk input; nothing is persisted
//! (`failure_persistence: None`), so no regression file appears in the tree.

use crate::common::{Db, parse};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use rotation_core::{Strategy as RotationStrategy, TlsSettings};
use rotation_redis::acl;
use rotation_redis::connect::Session;
use std::cell::RefCell;
use test_support::props::check;

/// A pattern character: anything but white space (the server refuses a rule with a space or
/// a tab: "Syntax error"), with the ones quoting must get right often.
fn pattern_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => proptest::char::range('a', 'z'),
        2 => select(&['"', '\'', '\\', '(', ')', '*', '?', '[', ']', '{', '}', '%', '~', '&', '#', ':', '|', 'é', '😀'][..]),
        1 => proptest::char::range('!', '~'),
    ]
}

/// A pattern. Not `*` alone: Redis refuses a pattern after it ("Adding a pattern after the *
/// pattern … is not valid"), so a list with `~*` is not a list of patterns.
fn pattern(in_selector: bool) -> impl Strategy<Value = String> {
    vec(pattern_char(), 1..=10)
        .prop_map(String::from_iter)
        .prop_filter("not *, no selector pattern ends in ')'", move |p| {
            p != "*" && !(in_selector && p.ends_with(')'))
        })
}

const COMMANDS: &[&str] = &[
    "get",
    "set",
    "del",
    "info",
    "ping",
    "hset",
    "xadd",
    "config|get",
    "client|setname",
    "object|encoding",
];

const CATEGORIES: &[&str] = &[
    "@all",
    "@read",
    "@write",
    "@keyspace",
    "@dangerous",
    "@string",
    "@hash",
    "@pubsub",
];

/// One rule of the grammar that a selector may hold too.
fn rule(in_selector: bool) -> impl Strategy<Value = String> {
    let sign = select(&["+", "-"][..]);
    prop_oneof![
        (sign.clone(), select(COMMANDS)).prop_map(|(s, c)| format!("{s}{c}")),
        (sign, select(CATEGORIES)).prop_map(|(s, c)| format!("{s}{c}")),
        (
            select(&["~", "%R~", "%W~", "%RW~"][..]),
            pattern(in_selector)
        )
            .prop_map(|(p, k)| format!("{p}{k}")),
        pattern(in_selector).prop_map(|c| format!("&{c}")),
    ]
}

/// A selector as one `ACL SETUSER` argument, each rule quoted as the server's command-line
/// splitting reads it (written here, not taken from the code under test).
fn selector() -> impl Strategy<Value = String> {
    vec(rule(true), 1..=4).prop_map(|rules| {
        let quoted: Vec<String> = rules
            .iter()
            .map(|r| format!("\"{}\"", r.replace('\\', "\\\\").replace('"', "\\\"")))
            .collect();
        format!("({})", quoted.join(" "))
    })
}

/// A user's rules: root rules, then up to two selectors.
fn user_rules() -> impl Strategy<Value = Vec<String>> {
    (vec(rule(false), 0..=6), vec(selector(), 0..=2)).prop_map(|(mut root, selectors)| {
        root.extend(selectors);
        root
    })
}

/// An admin session through the function's own connection code.
async fn admin_session(db: &Db) -> Session {
    let secret = parse(&db.secret(&db.server.admin_user, &db.server.admin_password));
    let config = rotation_core::Config::from_lookup(
        RotationStrategy::SingleUser,
        rotation_redis::DEFAULT_EXCLUDE_CHARACTERS,
        |_| None,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let tls = TlsSettings::from_config(&config).unwrap_or_else(|e| panic!("{e}"));
    Session::open(&secret, &tls)
        .await
        .unwrap_or_else(|e| panic!("admin session: {e}"))
}

on_redis_and_valkey!(acl_rules_survive_a_copy);

/// A model made from generated rules (a new user each case) is copied into two users, one
/// from `ACL LIST` alone and one with `ACL GETUSER`'s selectors, each the earlier copy of the
/// case before (as a retried rotation finds it); each lists the model's rules.
async fn acl_rules_survive_a_copy(db: Db) {
    let session = tokio::sync::Mutex::new(admin_session(&db).await);
    let tag = test_support::unique("p");
    let clones = [format!("{tag}-listed"), format!("{tag}-getuser")];
    let models = RefCell::new(Vec::new());
    let runtime = tokio::runtime::Handle::current();
    tokio::task::block_in_place(|| {
        check(64, user_rules(), |rules| {
            runtime.block_on(async {
                let mut session = session.lock().await;
                let fail = |what: &str, e: rotation_core::EngineError| {
                    TestCaseError::fail(format!("{what}: {e}"))
                };
                let model = format!("{tag}-model{}", models.borrow().len());
                models.borrow_mut().push(model.clone());
                // On, as a user the function copies must be (`check_copyable`).
                let on = [&["on".to_owned()][..], &rules].concat();
                session
                    .acl_setuser(&model, &on)
                    .await
                    .map_err(|e| fail("ACL SETUSER of the model", e))?;
                let list = session.acl_list().await.map_err(|e| fail("ACL LIST", e))?;
                let model_rules = acl::rules_of(&list, &model)
                    .ok_or_else(|| TestCaseError::fail("the model is not listed"))?;
                let selectors = session
                    .acl_selectors(&model)
                    .await
                    .map_err(|e| fail("ACL GETUSER", e))?;
                for (clone, selectors) in clones.iter().zip([None, selectors.as_deref()]) {
                    let earlier = acl::rules_of(&list, clone);
                    acl::check_copyable(&model, &model_rules, clone, earlier.as_deref())
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    let args = acl::copy_of(&model_rules, earlier.as_deref(), selectors, "pw");
                    session
                        .acl_setuser(clone, &args)
                        .await
                        .map_err(|e| fail("ACL SETUSER of the copy", e))?;
                    let list = session.acl_list().await.map_err(|e| fail("ACL LIST", e))?;
                    let clone_rules = acl::rules_of(&list, clone)
                        .ok_or_else(|| TestCaseError::fail("the copy is not listed"))?;
                    let compared = acl::compare_copy(&model, &model_rules, clone, &clone_rules);
                    prop_assert!(
                        compared.is_ok(),
                        "{}: {} (model {:?}, args {:?})",
                        clone,
                        compared
                            .map_err(|e| e.to_string())
                            .err()
                            .unwrap_or_default(),
                        model_rules,
                        args
                    );
                }
                Ok(())
            })
        });
    });
    let users: Vec<String> = clones.into_iter().chain(models.into_inner()).collect();
    let mut command = vec!["ACL", "DELUSER"];
    command.extend(users.iter().map(String::as_str));
    db.admin(&command).await;
}

/// Any text the server may send: taken apart, compared and rebuilt without a panic.
#[test]
fn acl_functions_take_any_input() {
    let token = prop_oneof![
        rule(false),
        selector(),
        select(
            &[
                "on",
                "off",
                "nopass",
                "resetpass",
                "(",
                ")",
                "()",
                "user",
                "#00",
                ">pw",
                "<pw",
                "!00",
                "sanitize-payload",
                "db=1",
                "resetdbs",
                ""
            ][..]
        )
        .prop_map(str::to_owned),
        vec(any::<char>(), 0..8).prop_map(String::from_iter),
    ];
    let line = vec(token, 0..10).prop_map(|t| t.join(" "));
    check(
        256,
        (line.clone(), line, vec(any::<char>(), 0..30)),
        |(a, b, text)| {
            let text = String::from_iter(text);
            let lines = [format!("user m {a}"), format!("user c {b}"), a.clone()];
            let model = acl::rules_of(&lines, "m").unwrap_or_default();
            let clone = acl::rules_of(&lines, "c").unwrap_or_default();
            prop_assert_eq!(acl::split_rules(&a), model.clone());
            for rules in [&model, &clone] {
                let canonical = acl::in_canonical_order(rules);
                let (mut x, mut y) = (canonical.clone(), rules.clone());
                x.sort();
                y.sort();
                prop_assert_eq!(x, y, "in_canonical_order is not a permutation");
                let _ = acl::comparable(rules);
                let _ = acl::has_selectors(rules);
                for r in rules.iter() {
                    let q = acl::quoted_selector(r);
                    prop_assert!(q.starts_with('(') && q.ends_with(')'));
                }
            }
            let _ = acl::check_copyable("m", &model, "c", Some(&clone));
            let _ = acl::compare_copy("m", &model, "c", &clone);
            let selector = acl::Selector {
                keys: a.clone(),
                channels: b.clone(),
                databases: text.clone(),
                commands: a.clone(),
            };
            let args = acl::copy_of(&model, Some(&clone), Some(&[selector][..]), &text);
            prop_assert_eq!(args.last(), Some(&acl::password_rule(&text)));
            let _ = acl::copy_of(&model, None, None, &text);
            let _ = acl::username_problem(&text);
            let _ = acl::redact_quoted(&text);
            Ok(())
        },
    );
}

/// A listed line splits back into the rules it was joined from, selectors whole.
#[test]
fn split_rules_takes_a_listed_line_apart() {
    let listed_selector = vec(rule(true), 1..=4).prop_map(|r| format!("({})", r.join(" ")));
    let rules = vec(prop_oneof![rule(false), listed_selector], 0..8);
    check(256, rules, |rules| {
        prop_assert_eq!(acl::split_rules(&rules.join(" ")), rules);
        Ok(())
    });
}

/// A server message loses every quoted part, whatever it holds.
#[test]
fn redact_quoted_hides_every_quoted_part() {
    let plain = vec(any::<char>().prop_filter("no quote", |c| *c != '\''), 0..12)
        .prop_map(String::from_iter);
    let secret = "#[0-9a-f]{64}|>[^']{4,20}";
    check(
        256,
        (plain.clone(), secret, plain),
        |(before, secret, after)| {
            let message = format!("{before}'{secret}'{after}");
            let redacted = acl::redact_quoted(&message);
            prop_assert!(!redacted.contains(&secret), "{}", redacted);
            prop_assert!(redacted.starts_with(&before) && redacted.ends_with(&after));
            Ok(())
        },
    );
}
