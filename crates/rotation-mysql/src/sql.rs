//! SQL text for MySQL and MariaDB, built only from escaped pieces: literal and account-name
//! quoting, the server's user-name limit, and copying one account's grants to another.
//!
//! Account management statements (`CREATE USER`, `ALTER USER`, `GRANT`) take no placeholders,
//! so every value in them goes through [`literal`].

/// Quote a string literal. With `NO_BACKSLASH_ESCAPES` in the session's `sql_mode` only the
/// quote is doubled; otherwise backslashes and NUL are escaped as well.
pub fn literal(value: &str, no_backslash_escapes: bool) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' if !no_backslash_escapes => out.push_str("\\\\"),
            '\0' if !no_backslash_escapes => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// An account name `'user'@'host'`.
pub fn account(user: &str, host: &str, no_backslash_escapes: bool) -> String {
    format!(
        "{}@{}",
        literal(user, no_backslash_escapes),
        literal(host, no_backslash_escapes)
    )
}

/// Split `CURRENT_USER()`'s `user@host` at the last `@` (host names have none; user names may).
pub fn split_current_user(value: &str) -> Option<(&str, &str)> {
    value.rsplit_once('@')
}

/// The longest user name the server accepts, from `SELECT VERSION()`: MariaDB 80, MySQL
/// 5.7.8 and later 32, older MySQL 16. Versions are compared as numbers, so 9.x and 10.x work.
pub fn username_limit(version: &str) -> usize {
    if version.to_ascii_lowercase().contains("mariadb") {
        return 80;
    }
    let mut parts = version
        .split(|c: char| !c.is_ascii_digit())
        .take(3)
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let v = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    if v >= (5, 7, 8) { 32 } else { 16 }
}

/// The product name for messages.
pub fn product(version: &str) -> &'static str {
    if version.to_ascii_lowercase().contains("mariadb") {
        "MariaDB"
    } else {
        "MySQL"
    }
}

/// Ways a server may print an account in `SHOW GRANTS`: backticks (MySQL 8, MariaDB) or
/// single quotes (MySQL 5.7), with either style of quote escaping.
fn grantee_spellings(user: &str, host: &str) -> Vec<String> {
    let bt = |s: &str| format!("`{}`", s.replace('`', "``"));
    let sq_double = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let sq_backslash = |s: &str| format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"));
    let mut out = vec![
        format!("{}@{}", bt(user), bt(host)),
        format!("{}@{}", sq_double(user), sq_double(host)),
        format!("{}@{}", sq_backslash(user), sq_backslash(host)),
    ];
    out.dedup();
    out
}

/// Find `word` (case-insensitive, surrounded by spaces) outside quotes, from `from`.
fn find_keyword(sql: &str, word: &str, from: usize) -> Option<usize> {
    let bytes = sql.as_bytes();
    let mut quote: Option<u8> = None;
    let mut i = from;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) if b == b'\\' && q != b'`' => i += 1,
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'\'' || b == b'"' || b == b'`' => quote = Some(b),
            None => {
                let rest = &sql[i..];
                if rest.len() >= word.len() + 2
                    && rest.as_bytes()[0] == b' '
                    && rest[1..=word.len()].eq_ignore_ascii_case(word)
                    && matches!(rest.as_bytes().get(word.len() + 1), Some(b' ') | None)
                {
                    return Some(i);
                }
            }
        }
        i += 1;
    }
    None
}

/// Rewrite one `SHOW GRANTS` line of `from` so that it grants the same to `to` (an account
/// already quoted with [`account`]). Password clauses are dropped: the new account gets its own
/// password. `None` if the line does not name `from` as grantee.
pub fn rewrite_grant(line: &str, from_user: &str, from_host: &str, to: &str) -> Option<String> {
    let spellings = grantee_spellings(from_user, from_host);
    // The grantee follows the last " TO " (GRANT) or " FOR " (SET DEFAULT ROLE).
    let (start, len) = spellings
        .iter()
        .filter_map(|g| {
            [" TO ", " FOR "]
                .iter()
                .filter_map(|kw| {
                    line.rfind(&format!("{kw}{g}"))
                        .map(|p| (p + kw.len(), g.len()))
                })
                .max()
        })
        .max()?;
    let mut rest = &line[start + len..];
    let mut tail = String::new();
    // Drop `IDENTIFIED BY PASSWORD '…'` / `IDENTIFIED VIA …` (MariaDB prints them in the
    // USAGE line), keep `REQUIRE …` and `WITH …`.
    if let Some(p) = find_keyword(rest, "IDENTIFIED", 0) {
        let after = ["REQUIRE", "WITH"]
            .iter()
            .filter_map(|kw| find_keyword(rest, kw, p + 1))
            .min()
            .unwrap_or(rest.len());
        tail.push_str(&rest[..p]);
        rest = &rest[after..];
    }
    tail.push_str(rest);
    Some(format!("{}{}{}", &line[..start], to, tail))
}

/// The `REQUIRE …` clause of a `SHOW CREATE USER` line (`REQUIRE NONE` when absent).
pub fn require_clause(create_user: &str) -> String {
    let Some(start) = find_keyword(create_user, "REQUIRE", 0) else {
        return "REQUIRE NONE".into();
    };
    let end = [
        "PASSWORD",
        "ACCOUNT",
        "WITH",
        "DEFAULT",
        "COMMENT",
        "ATTRIBUTE",
        "FAILED_LOGIN_ATTEMPTS",
        "PASSWORD_LOCK_TIME",
    ]
    .iter()
    .filter_map(|kw| find_keyword(create_user, kw, start + 1))
    .min()
    .unwrap_or(create_user.len());
    create_user[start + 1..end].trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_escape_quotes_and_backslashes() {
        assert_eq!(literal(r"a'b\c", false), r"'a''b\\c'");
        assert_eq!(literal(r"a'b\c", true), r"'a''b\c'");
        assert_eq!(literal("x\0y", false), r"'x\0y'");
        assert_eq!(account("o'b", "%", false), "'o''b'@'%'");
    }

    #[test]
    fn limits_by_version_number_not_prefix() {
        assert_eq!(username_limit("10.11.19-MariaDB-0+deb12u1"), 80);
        assert_eq!(username_limit("5.7.8-log"), 32);
        assert_eq!(username_limit("5.7.7"), 16);
        assert_eq!(username_limit("5.6.51"), 16);
        assert_eq!(username_limit("8.0.36"), 32);
        assert_eq!(username_limit("9.1.0"), 32);
        assert_eq!(
            username_limit("10.0.0"),
            32,
            "a MySQL 10 must not look like 1.x"
        );
        assert_eq!(product("8.0.36"), "MySQL");
    }

    #[test]
    fn current_user_splits_at_the_last_at() {
        assert_eq!(split_current_user("a@b@%"), Some(("a@b", "%")));
    }

    #[test]
    fn grants_are_rewritten_for_the_clone() {
        let to = account("app_clone", "10.0.%", false);
        assert_eq!(
            rewrite_grant(
                "GRANT SELECT, INSERT ON `db`.* TO `app`@`10.0.%` WITH GRANT OPTION",
                "app",
                "10.0.%",
                &to
            )
            .as_deref(),
            Some("GRANT SELECT, INSERT ON `db`.* TO 'app_clone'@'10.0.%' WITH GRANT OPTION")
        );
        assert_eq!(
            rewrite_grant(
                "GRANT USAGE ON *.* TO `app`@`%` IDENTIFIED BY PASSWORD '*ABC' REQUIRE SSL",
                "app",
                "%",
                &account("app_clone", "%", false)
            )
            .as_deref(),
            Some("GRANT USAGE ON *.* TO 'app_clone'@'%' REQUIRE SSL")
        );
        assert_eq!(
            rewrite_grant("GRANT SELECT ON *.* TO 'app'@'%'", "app", "%", "X").as_deref(),
            Some("GRANT SELECT ON *.* TO X")
        );
        assert_eq!(
            rewrite_grant("SET DEFAULT ROLE `r` FOR `app`@`%`", "app", "%", "X").as_deref(),
            Some("SET DEFAULT ROLE `r` FOR X")
        );
        assert_eq!(
            rewrite_grant("GRANT SELECT ON *.* TO `other`@`%`", "app", "%", "X"),
            None
        );
        // A hostile name with a backtick and " TO " inside is matched as a whole.
        let hostile = "a` TO `b";
        let line = "GRANT SELECT ON `d`.* TO `a`` TO ``b`@`%`";
        assert_eq!(
            rewrite_grant(line, hostile, "%", "X").as_deref(),
            Some("GRANT SELECT ON `d`.* TO X")
        );
    }

    #[test]
    fn require_clause_is_extracted() {
        assert_eq!(
            require_clause("CREATE USER `a`@`%` IDENTIFIED BY PASSWORD '*X' REQUIRE SSL"),
            "REQUIRE SSL"
        );
        assert_eq!(
            require_clause(
                "CREATE USER `a`@`%` IDENTIFIED WITH 'caching_sha2_password' AS 'x' REQUIRE X509 PASSWORD EXPIRE DEFAULT ACCOUNT UNLOCK"
            ),
            "REQUIRE X509"
        );
        assert_eq!(
            require_clause(
                "CREATE USER 'a'@'%' REQUIRE ISSUER '/C=x WITH y' AND SUBJECT 's' WITH MAX_QUERIES_PER_HOUR 5"
            ),
            "REQUIRE ISSUER '/C=x WITH y' AND SUBJECT 's'"
        );
        assert_eq!(require_clause("CREATE USER `a`@`%`"), "REQUIRE NONE");
    }
}
