//! ACL rules as text: password hashes, a user's `ACL LIST` line taken apart, the arguments of
//! the `ACL SETUSER` calls that the rotation makes, and the checks before and after a copy
//! ([`check_copyable`], [`compare_copy`], their [`CopyError`]).
//!
//! Passwords travel only as `#<sha256 hex>`: the server stores that hash anyway, the plaintext
//! never appears in a command (so not in `MONITOR`, the slow log or a proxy's log either), and
//! no character of a password can be read as another rule.

use rotation_core::EngineError;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;

/// The rule that adds `password` to a user: `#` and the SHA-256 of the password in lowercase
/// hex, the form the server itself stores.
pub fn password_rule(password: &str) -> String {
    let digest = Sha256::digest(password.as_bytes());
    let mut rule = String::with_capacity(65);
    rule.push('#');
    for byte in digest.iter() {
        // Writing to a String cannot fail.
        let _ = write!(rule, "{byte:02x}");
    }
    rule
}

/// Why a user name cannot be an ACL user, or `None` when it can. The server refuses names with
/// spaces (its ACL file is split at spaces); saying so here is clearer than a failed login.
pub fn username_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("the user name is empty".into());
    }
    if name.contains(' ') || name.contains('\0') {
        return Some(format!(
            "user name '{name}' contains a space; Redis and Valkey ACL user names cannot contain spaces. Use a name without spaces"
        ));
    }
    None
}

/// Split the rules of an `ACL LIST` line at spaces, keeping a selector such as
/// `(~cache:* +get)` together as one rule, as the server does when it loads its ACL file.
pub fn split_rules(rules: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut selector: Option<String> = None;
    for token in rules.split(' ').filter(|t| !t.is_empty()) {
        match selector.as_mut() {
            Some(open) => {
                open.push(' ');
                open.push_str(token);
                if token.ends_with(')') {
                    out.extend(selector.take());
                }
            }
            None if token.starts_with('(') && !token.ends_with(')') => {
                selector = Some(token.to_owned())
            }
            None => out.push(token.to_owned()),
        }
    }
    // An unclosed selector is passed on as it was, for the server to judge.
    out.extend(selector);
    out
}

/// The rules of `user` from `ACL LIST` output (lines `user <name> <rules…>`), or `None` when
/// the user does not exist.
pub fn rules_of(acl_list: &[String], user: &str) -> Option<Vec<String>> {
    acl_list.iter().find_map(|line| {
        let rest = line.strip_prefix("user ")?;
        let (name, rules) = rest.split_once(' ').unwrap_or((rest, ""));
        (name == user).then(|| split_rules(rules))
    })
}

/// Whether a rule is about passwords (a hash, a plaintext, a removal, or `nopass`).
fn is_password_rule(rule: &str) -> bool {
    rule.starts_with(['#', '>', '<', '!']) || rule == "nopass" || rule == "resetpass"
}

/// The rules of a model user without its passwords: what another user needs to be its copy.
pub fn without_passwords(rules: &[String]) -> Vec<String> {
    rules
        .iter()
        .filter(|r| !is_password_rule(r))
        .cloned()
        .collect()
}

/// `ACL SETUSER` arguments (after the user name) that leave exactly these passwords valid and
/// touch no other rule.
pub fn exact_passwords(passwords: &[&str]) -> Vec<String> {
    let mut args = vec!["resetpass".to_owned()];
    for pw in passwords {
        let rule = password_rule(pw);
        if !args.contains(&rule) {
            args.push(rule);
        }
    }
    args
}

/// One selector as `ACL GETUSER` gives it: its key, channel, database and command rules, each
/// a text of rules separated by spaces.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector {
    /// `keys`, e.g. `~app:* %R~ro:*`.
    pub keys: String,
    /// `channels`, e.g. `&chan:*` (empty: none).
    pub channels: String,
    /// `databases` (Valkey 9+), e.g. `db=1,3` or `alldbs`; empty where the server has none.
    pub databases: String,
    /// `commands`, e.g. `-@all +get`.
    pub commands: String,
}

impl Selector {
    /// The selector as one `ACL SETUSER` argument, `(…)`, each rule in double quotes. The
    /// server splits a selector's rules as a command line, so a quote in a pattern would
    /// otherwise start a quoted part, and `ACL LIST`, which prints the rules unquoted, cannot
    /// be passed back as it is.
    pub fn rule(&self) -> String {
        let rules = self
            .keys
            .split(' ')
            .chain(["resetchannels"])
            .chain(self.channels.split(' '))
            .chain(self.databases.split(' '))
            .chain(self.commands.split(' '))
            .filter(|r| !r.is_empty())
            .map(quoted)
            .collect::<Vec<_>>();
        format!("({})", rules.join(" "))
    }
}

/// A selector of `ACL LIST` (`(~k resetchannels -@all +get)`) as one `ACL SETUSER` argument
/// with each rule in double quotes: what the function sends when it may not run `ACL GETUSER`.
/// A pattern holding a space or ending in `)` does not survive this; the comparison after the
/// copy finds that.
pub fn quoted_selector(rule: &str) -> String {
    let inside = rule.strip_prefix('(').unwrap_or(rule);
    let inside = inside.strip_suffix(')').unwrap_or(inside);
    let rules: Vec<String> = inside
        .split(' ')
        .filter(|r| !r.is_empty())
        .map(quoted)
        .collect();
    format!("({})", rules.join(" "))
}

/// Whether a user's `ACL LIST` rules have a selector.
pub fn has_selectors(rules: &[String]) -> bool {
    rules.iter().any(|r| is_selector(r))
}

/// A rule in double quotes, as the server's command-line splitting reads it back.
fn quoted(rule: &str) -> String {
    let mut out = String::with_capacity(rule.len() + 2);
    out.push('"');
    for c in rule.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Whether a rule of `ACL LIST` is a selector.
fn is_selector(rule: &str) -> bool {
    rule.starts_with('(')
}

/// The payload flags: once a user has one, no rule takes it away again (`reset` gives Redis
/// 7.0 users `sanitize-payload`, Valkey gives every new user `sanitize-payload`).
const PAYLOAD_FLAGS: &[&str] = &["sanitize-payload", "skip-sanitize-payload"];

/// The rules two users of a pair must share: all but passwords and `on`/`off`, in the order
/// `ACL LIST` prints them, but for [`in_canonical_order`] (a selector's inside too).
pub fn comparable(rules: &[String]) -> Vec<String> {
    let rules: Vec<String> = without_passwords(rules)
        .into_iter()
        .filter(|r| r != "on" && r != "off")
        .map(
            |r| match r.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
                Some(inside) => {
                    let inner: Vec<String> = inside.split(' ').map(String::from).collect();
                    format!("({})", in_canonical_order(&inner).join(" "))
                }
                None => r,
            },
        )
        .collect();
    in_canonical_order(&rules)
}

/// Command rules in an order that does not depend on the server's whim: Redis 7.0 prints the
/// subcommand rules of two users with the same rights (`+function|load +function|delete`) in
/// different orders. Neighbouring rules that name different commands (or different
/// subcommands) and no category give the same rights in any order, so each run of them is
/// sorted; every other rule stays where it is and ends a run.
pub fn in_canonical_order(rules: &[String]) -> Vec<String> {
    // A rule that may move within its run: `+cmd`/`-cmd`, or `+cmd|sub`/`-cmd|sub` (its kind).
    fn movable(rule: &str) -> Option<(bool, &str)> {
        let name = rule.strip_prefix(['+', '-'])?;
        (!name.contains('@') && !name.is_empty()).then_some((name.contains('|'), name))
    }
    fn flush(run: &mut Vec<String>, out: &mut Vec<String>) {
        run.sort_by(|a, b| a.get(1..).cmp(&b.get(1..)));
        out.append(run);
    }
    let mut out = Vec::with_capacity(rules.len());
    let mut run: Vec<String> = Vec::new();
    let mut kind = None;
    for rule in rules {
        let Some((sub, name)) = movable(rule) else {
            flush(&mut run, &mut out);
            kind = None;
            out.push(rule.clone());
            continue;
        };
        let joins = kind == Some(sub) && !run.iter().any(|r| r.get(1..) == Some(name));
        if !joins {
            flush(&mut run, &mut out);
        }
        run.push(rule.clone());
        kind = Some(sub);
    }
    flush(&mut run, &mut out);
    out
}

/// Why the server cannot make `clone` a copy of `model`, or what went wrong when it tried.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The model is switched off: a copy would be off too, and the rotation would end with a
    /// user that cannot log in.
    #[error(
        "user '{model}' is off (disabled), so its copy '{clone}' could not log in; switch it on (ACL SETUSER {model} on) if it is meant to be used, then retry the rotation"
    )]
    ModelOff {
        /// The model user.
        model: String,
        /// The user to be made its copy.
        clone: String,
    },
    /// The existing clone holds a payload flag the model lacks, which no rule removes.
    #[error(
        "user '{clone}' has the flag {flag} and '{model}' has no payload flag; no ACL rule takes that flag away, so '{clone}' cannot become an exact copy. Delete it (ACL DELUSER {clone}; its open connections are closed), then retry the rotation: the function creates it again"
    )]
    PayloadFlag {
        /// The model user.
        model: String,
        /// The existing clone.
        clone: String,
        /// Its flag.
        flag: String,
    },
    /// The server made something else of the rules than the model has.
    #[error(
        "the server did not make '{clone}' an exact copy of '{model}' (only the model has: {only_model:?}; only the copy has: {only_clone:?}); '{clone}' is left off. Change the model's rules that differ (for example a selector's pattern with a space in it) or copy the user by hand, then retry the rotation"
    )]
    Differs {
        /// The model user.
        model: String,
        /// The copy, left off.
        clone: String,
        /// Rules of the model the copy lacks.
        only_model: Vec<String>,
        /// Rules of the copy the model lacks.
        only_clone: Vec<String>,
    },
}

impl From<CopyError> for EngineError {
    fn from(e: CopyError) -> EngineError {
        match e {
            CopyError::ModelOff { .. } | CopyError::PayloadFlag { .. } => {
                EngineError::Refused(e.to_string())
            }
            CopyError::Differs { .. } => EngineError::Database(e.to_string()),
        }
    }
}

/// Check, before anything changes, that `clone` can become a copy of `model`: the model is on,
/// and the clone (its `ACL LIST` rules when it exists) holds no payload flag the model lacks.
pub fn check_copyable(
    model: &str,
    model_rules: &[String],
    clone: &str,
    clone_rules: Option<&[String]>,
) -> Result<(), CopyError> {
    if model_rules.iter().any(|r| r == "off") {
        return Err(CopyError::ModelOff {
            model: model.to_owned(),
            clone: clone.to_owned(),
        });
    }
    let flag_of = |rules: &[String]| {
        rules
            .iter()
            .find(|r| PAYLOAD_FLAGS.contains(&r.as_str()))
            .cloned()
    };
    if let (None, Some(flag)) = (flag_of(model_rules), clone_rules.and_then(flag_of)) {
        return Err(CopyError::PayloadFlag {
            model: model.to_owned(),
            clone: clone.to_owned(),
            flag,
        });
    }
    Ok(())
}

/// `ACL SETUSER` arguments (after the user name) that make a user, new or an earlier copy
/// (`clone_rules`, its `ACL LIST` rules, when it exists), an exact copy of a model, switched
/// off, whose only password is `password`.
///
/// Every part of the user is reset one by one, not with `reset`, which on Redis 7.0 adds
/// `sanitize-payload`, a flag no rule removes: `clearselectors` and Valkey 9's `alldbs` only
/// when the earlier copy has selectors or database rules, so that servers without them (Redis
/// 6.2, Valkey 8) are not sent a rule they do not know. Then the model's root rules from
/// `ACL LIST` without passwords and `on`/`off`, and its selectors: from `ACL GETUSER`
/// (`selectors`, [`Selector::rule`]) when the function could read them, otherwise from
/// `ACL LIST` ([`quoted_selector`]). The caller compares the result with the model before it
/// switches the user on.
pub fn copy_of(
    model_rules: &[String],
    clone_rules: Option<&[String]>,
    selectors: Option<&[Selector]>,
    password: &str,
) -> Vec<String> {
    let earlier = clone_rules.unwrap_or_default();
    let mut args: Vec<String> = ["resetpass", "resetkeys", "resetchannels"]
        .map(String::from)
        .to_vec();
    if has_selectors(earlier) {
        args.push("clearselectors".into());
    }
    if earlier
        .iter()
        .any(|r| r.starts_with("db=") || r == "resetdbs")
    {
        args.push("alldbs".into());
    }
    args.extend(["-@all".to_owned(), "off".to_owned()]);
    // `ACL LIST` prints the selectors last; a pattern ending in `)` can make a selector's
    // rest look like root rules, so everything from the first selector on is left out.
    let model = without_passwords(model_rules);
    let (root, listed) = model.split_at(
        model
            .iter()
            .position(|r| is_selector(r))
            .unwrap_or(model.len()),
    );
    args.extend(root.iter().filter(|r| *r != "on" && *r != "off").cloned());
    match selectors {
        Some(selectors) => args.extend(selectors.iter().map(Selector::rule)),
        None => args.extend(
            listed
                .iter()
                .filter(|r| is_selector(r))
                .map(|r| quoted_selector(r)),
        ),
    }
    args.push(password_rule(password));
    args
}

/// What differs between the model's rules and its copy's (`comparable` of each), or `Ok` when
/// they are the same.
pub fn compare_copy(
    model: &str,
    model_rules: &[String],
    clone: &str,
    clone_rules: &[String],
) -> Result<(), CopyError> {
    let (a, b) = (comparable(model_rules), comparable(clone_rules));
    if a == b {
        return Ok(());
    }
    Err(CopyError::Differs {
        model: model.to_owned(),
        clone: clone.to_owned(),
        only_model: a.iter().filter(|r| !b.contains(r)).cloned().collect(),
        only_clone: b.iter().filter(|r| !a.contains(r)).cloned().collect(),
    })
}

/// A server message with every quoted part replaced: `ACL SETUSER` errors quote the rule they
/// could not apply, and that rule may be a password hash.
pub fn redact_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut parts = message.split('\'');
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    let mut inside = true;
    for part in parts {
        out.push('\'');
        out.push_str(if inside { "…" } else { part });
        inside = !inside;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_rule_is_the_servers_hash() {
        // `ACL SETUSER admin >adminpw` makes the server list this hash.
        assert_eq!(
            password_rule("adminpw"),
            "#5fcf82bc15aef42cd3ec93e6d4b51c04df110cf77ee715f62f3f172ff8ed9de9"
        );
        assert_eq!(password_rule("x").len(), 65);
    }

    #[test]
    fn hostile_passwords_become_plain_hex() {
        for pw in ["a b", ">x", "<y", "#z", "'\"\\", "(~* +@all)", "nopass"] {
            let rule = password_rule(pw);
            assert!(
                rule[1..]
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
                "{rule}"
            );
        }
    }

    #[test]
    fn selectors_stay_whole() {
        let line = "on sanitize-payload #ab ~app:* %R~ro:* resetchannels &chan:* -@all +@read +set (~sel:* resetchannels -@all +get) (~b +del)";
        assert_eq!(
            split_rules(line),
            [
                "on",
                "sanitize-payload",
                "#ab",
                "~app:*",
                "%R~ro:*",
                "resetchannels",
                "&chan:*",
                "-@all",
                "+@read",
                "+set",
                "(~sel:* resetchannels -@all +get)",
                "(~b +del)"
            ]
        );
        assert_eq!(split_rules("(+get)"), ["(+get)"]);
    }

    #[test]
    fn finds_the_user_by_exact_name() {
        let list = [
            "user app on #aa ~* +@all".to_owned(),
            "user app_clone on #bb ~x +get".to_owned(),
            "user default off resetchannels -@all".to_owned(),
        ];
        assert_eq!(
            rules_of(&list, "app").expect("app"),
            ["on", "#aa", "~*", "+@all"]
        );
        assert_eq!(
            rules_of(&list, "app_clone").expect("clone"),
            ["on", "#bb", "~x", "+get"]
        );
        assert_eq!(rules_of(&list, "ap"), None);
    }

    #[test]
    fn copies_drop_passwords_and_reset_each_part() {
        let model = ["on", "nopass", "#aa", "~*", "+@all", "(+get ~k)"].map(String::from);
        assert_eq!(comparable(&model), ["~*", "+@all", "(+get ~k)"]);
        let sel = Selector {
            keys: "~k ~it's".into(),
            channels: String::new(),
            databases: String::new(),
            commands: "-@all +get".into(),
        };
        let stale = split_rules("off sanitize-payload db=2 ~old (~x +get)");
        let args = copy_of(&model, Some(&stale), Some(std::slice::from_ref(&sel)), "pw");
        assert_eq!(
            args,
            [
                "resetpass",
                "resetkeys",
                "resetchannels",
                "clearselectors",
                "alldbs",
                "-@all",
                "off",
                "~*",
                "+@all",
                "(\"~k\" \"~it's\" \"resetchannels\" \"-@all\" \"+get\")",
                &password_rule("pw"),
            ]
        );
        // A new user (or Redis 6.2, Valkey 8) is sent neither clearselectors nor alldbs; without
        // ACL GETUSER the selectors come from ACL LIST.
        assert_eq!(
            copy_of(&model, None, None, "pw"),
            [
                "resetpass",
                "resetkeys",
                "resetchannels",
                "-@all",
                "off",
                "~*",
                "+@all",
                "(\"+get\" \"~k\")",
                &password_rule("pw"),
            ]
        );
    }

    #[test]
    fn selector_rules_escape_quotes_and_backslashes() {
        let sel = Selector {
            keys: "~say:\"hi\" ~a\\b ~end)".into(),
            channels: "&c:*".into(),
            databases: "db=1,3".into(),
            commands: "+get".into(),
        };
        assert_eq!(
            sel.rule(),
            "(\"~say:\\\"hi\\\"\" \"~a\\\\b\" \"~end)\" \"resetchannels\" \"&c:*\" \"db=1,3\" \"+get\")"
        );
        assert_eq!(
            quoted_selector("(~it's resetchannels -@all +get)"),
            "(\"~it's\" \"resetchannels\" \"-@all\" \"+get\")"
        );
    }

    #[test]
    fn commuting_command_rules_are_sorted_and_nothing_else_moves() {
        let rules = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(
            in_canonical_order(&rules(
                "~a -@all +@read +function|load +function|delete -object|help -keys +get -@write +set -get"
            )),
            rules(
                "~a -@all +@read +function|delete +function|load -object|help +get -keys -@write -get +set"
            )
        );
        // The same command twice does not commute: a second run starts.
        assert_eq!(
            in_canonical_order(&rules("+set -get +get")),
            rules("-get +set +get")
        );
        assert_eq!(
            comparable(&split_rules("on #ab ~a -@all +b +a (~k -@all +y +x)")),
            split_rules("~a -@all +a +b (~k -@all +x +y)")
        );
    }

    #[test]
    fn uncopyable_models_are_named() {
        let rules = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        let off = check_copyable("app", &rules("off ~a +get"), "app_clone", None);
        assert!(matches!(off, Err(CopyError::ModelOff { .. })), "{off:?}");
        let stale = rules("off sanitize-payload ~a +get");
        let flag = check_copyable("app", &rules("on ~a +get"), "app_clone", Some(&stale));
        let msg = flag.expect_err("payload flag").to_string();
        assert!(msg.contains("ACL DELUSER app_clone"), "{msg}");
        assert!(
            check_copyable(
                "app",
                &rules("on skip-sanitize-payload ~a"),
                "app_clone",
                Some(&stale)
            )
            .is_ok(),
            "a model with the other flag switches it"
        );
        let differs = compare_copy(
            "app",
            &rules("on ~a (~b +get)"),
            "app_clone",
            &rules("off ~a (+get)"),
        )
        .expect_err("differs")
        .to_string();
        assert!(
            differs.contains("\"(~b\"") && differs.contains("left off"),
            "{differs}"
        );
        assert!(compare_copy("a", &rules("on ~a #x"), "b", &rules("off ~a #y")).is_ok());
    }

    #[test]
    fn exact_passwords_reset_first_and_dedupe() {
        assert_eq!(
            exact_passwords(&["a", "b"]),
            [
                "resetpass".to_owned(),
                password_rule("a"),
                password_rule("b")
            ]
        );
        assert_eq!(exact_passwords(&["a", "a"]).len(), 2);
    }

    #[test]
    fn usernames_with_spaces_are_refused() {
        assert!(username_problem("app").is_none());
        assert!(username_problem("a\"p'p\\").is_none());
        assert!(
            username_problem("my app")
                .expect("space")
                .contains("cannot contain spaces")
        );
        assert!(username_problem("").is_some());
    }

    #[test]
    fn quoted_parts_are_hidden() {
        let msg = "ERR Error in ACL SETUSER modifier '#abc': The password hash must be exactly 64 characters";
        assert_eq!(
            redact_quoted(msg),
            "ERR Error in ACL SETUSER modifier '…': The password hash must be exactly 64 characters"
        );
        assert_eq!(redact_quoted("no quotes"), "no quotes");
    }
}
