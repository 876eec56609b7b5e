//! ACL rules as text: password hashes, a user's `ACL LIST` line taken apart, and the arguments
//! of the `ACL SETUSER` calls that the rotation makes.
//!
//! Passwords travel only as `#<sha256 hex>`: the server stores that hash anyway, the plaintext
//! never appears in a command (so not in `MONITOR`, the slow log or a proxy's log either), and
//! no character of a password can be read as another rule.

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

/// `ACL SETUSER` arguments (after the user name) that make a user an exact copy of a model
/// (its rules without passwords, from [`without_passwords`]) whose only password is `password`.
/// `reset` first, so that rules of an earlier copy that the model no longer has disappear.
pub fn copy_of(model_rules: &[String], password: &str) -> Vec<String> {
    let mut args = Vec::with_capacity(model_rules.len() + 2);
    args.push("reset".to_owned());
    args.extend(model_rules.iter().cloned());
    args.push(password_rule(password));
    args
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
    fn copies_drop_passwords_and_start_from_reset() {
        let model = ["on", "nopass", "#aa", "~*", "(+get ~k)", "+@all"].map(String::from);
        let rules = without_passwords(&model);
        assert_eq!(rules, ["on", "~*", "(+get ~k)", "+@all"]);
        let args = copy_of(&rules, "pw");
        assert_eq!(args.first().map(String::as_str), Some("reset"));
        assert_eq!(args.last(), Some(&password_rule("pw")));
        assert_eq!(args.len(), 6);
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
