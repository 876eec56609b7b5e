//! The account options an alternating-users clone copies from its original's `SHOW CREATE
//! USER` line: `REQUIRE`, the resource limits (`WITH MAX_…`), the password-expiry and
//! password-policy clauses, and on MySQL 8 and 9 the default roles, which MySQL prints there
//! rather than in `SHOW GRANTS` (MariaDB prints `SET DEFAULT ROLE … FOR` among the grants).
//!
//! The line is split into its clauses by the keywords that start them, outside quotes. Each
//! clause is then read word by word against MySQL's and MariaDB's grammar: keywords and numbers
//! are re-printed, names are re-quoted, and only the `REQUIRE` clause's string values go on as
//! the server printed them (in the session's own `sql_mode`, as [`crate::sql`] explains). A
//! clause this code cannot read is an error, never a silent difference. What decides no
//! privilege (`COMMENT`, `ATTRIBUTE`) is not copied; `ACCOUNT LOCK`/`UNLOCK` is the rotation's
//! own business, and the password is the clone's own.

use crate::sql::{self, Product};

/// The start of a clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clause {
    /// `IDENTIFIED …` (and MySQL's `AND IDENTIFIED …` factors, which stay inside it).
    Identified,
    /// `DEFAULT ROLE …` (MySQL 8+).
    DefaultRole,
    /// `REQUIRE …`.
    Require,
    /// `WITH MAX_…` resource limits.
    With,
    /// `PASSWORD EXPIRE …`, `PASSWORD HISTORY …`, `PASSWORD REUSE INTERVAL …`,
    /// `PASSWORD REQUIRE CURRENT …`.
    Password,
    /// `ACCOUNT LOCK` / `ACCOUNT UNLOCK`.
    Account,
    /// `FAILED_LOGIN_ATTEMPTS n` (MySQL 8.0.19+).
    FailedLoginAttempts,
    /// `PASSWORD_LOCK_TIME n|UNBOUNDED` (MySQL 8.0.19+).
    PasswordLockTime,
    /// `COMMENT '…'` / `ATTRIBUTE '…'` (MySQL 8.0.21+).
    Attribute,
}

/// The words of `line` split at spaces outside quotes: a quoted string or identifier, with its
/// quotes, stays inside its word.
fn words(line: &str) -> Vec<&str> {
    let bytes = line.as_bytes();
    let mut out = Vec::new();
    let mut start = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b' ' {
            if let Some(s) = start.take() {
                out.push(&line[s..i]);
            }
            i += 1;
            continue;
        }
        if start.is_none() {
            start = Some(i);
        }
        if matches!(b, b'\'' | b'"' | b'`') {
            i = sql::quoted_end(line, i).unwrap_or(bytes.len());
            continue;
        }
        i += 1;
    }
    if let Some(s) = start {
        out.push(&line[s..]);
    }
    out
}

/// Which clause, if any, word `i` of `w` starts.
fn clause_at(w: &[&str], i: usize) -> Option<Clause> {
    let upper = |j: usize| w.get(j).map(|s| s.to_ascii_uppercase()).unwrap_or_default();
    let prev = if i == 0 { String::new() } else { upper(i - 1) };
    match upper(i).as_str() {
        "IDENTIFIED" if prev != "AND" => Some(Clause::Identified),
        "DEFAULT" if upper(i + 1) == "ROLE" => Some(Clause::DefaultRole),
        "REQUIRE" if prev != "PASSWORD" => Some(Clause::Require),
        "WITH" if prev != "IDENTIFIED" => Some(Clause::With),
        // MariaDB's `IDENTIFIED BY PASSWORD '*…'` is part of the IDENTIFIED clause.
        "PASSWORD" if prev != "BY" => Some(Clause::Password),
        "ACCOUNT" => Some(Clause::Account),
        "FAILED_LOGIN_ATTEMPTS" => Some(Clause::FailedLoginAttempts),
        "PASSWORD_LOCK_TIME" => Some(Clause::PasswordLockTime),
        "COMMENT" | "ATTRIBUTE" => Some(Clause::Attribute),
        _ => None,
    }
}

/// The clauses of a `SHOW CREATE USER` line, each with its words, after `CREATE USER account`.
fn clauses(line: &str) -> Result<Vec<(Clause, Vec<&str>)>, String> {
    let w = words(line);
    if w.len() < 3 || !w[0].eq_ignore_ascii_case("CREATE") || !w[1].eq_ignore_ascii_case("USER") {
        return Err("SHOW CREATE USER printed no CREATE USER line".into());
    }
    let mut out: Vec<(Clause, Vec<&str>)> = Vec::new();
    for i in 3..w.len() {
        match clause_at(&w, i) {
            Some(c) => out.push((c, vec![w[i]])),
            None => match out.last_mut() {
                Some((_, words)) => words.push(w[i]),
                None => return Err(format!("unexpected word {:?} after the account", w[i])),
            },
        }
    }
    Ok(out)
}

/// A number as MySQL prints it in these clauses (an integer; `MAX_STATEMENT_TIME` has
/// decimals), re-printed from its value.
fn number(word: &str, decimals: bool) -> Result<String, String> {
    if decimals {
        word.parse::<f64>()
            .ok()
            .filter(|n| n.is_finite() && *n >= 0.0)
            .map(|n| format!("{n}"))
            .ok_or_else(|| format!("{word:?} is not a number"))
    } else {
        word.parse::<u64>()
            .map(|n| n.to_string())
            .map_err(|_| format!("{word:?} is not a whole number"))
    }
}

/// The resource limits, in the order `WITH` takes them, with MariaDB's statement time.
const LIMITS: [&str; 5] = [
    "MAX_QUERIES_PER_HOUR",
    "MAX_UPDATES_PER_HOUR",
    "MAX_CONNECTIONS_PER_HOUR",
    "MAX_USER_CONNECTIONS",
    "MAX_STATEMENT_TIME",
];

/// What a clone copies of its original's account, as statement text built from what was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountOptions {
    /// The `REQUIRE …` clause (`REQUIRE NONE` when the line has none).
    pub require: String,
    /// `WITH` and every resource limit the server has, zero where the line has none, so that
    /// an `ALTER USER` also clears a limit the copy had before.
    pub limits: String,
    /// The password clauses: `PASSWORD EXPIRE …` (`DEFAULT` when the line has none) and, as
    /// printed, MySQL's `PASSWORD HISTORY`, `PASSWORD REUSE INTERVAL`, `PASSWORD REQUIRE
    /// CURRENT`, `FAILED_LOGIN_ATTEMPTS` and `PASSWORD_LOCK_TIME`.
    pub password: Vec<String>,
    /// MySQL's `DEFAULT ROLE` list, each role re-quoted (empty: none, or MariaDB, whose default
    /// role `SHOW GRANTS` carries).
    pub default_roles: Vec<String>,
    /// Whether the account must give its current password to change it (`PASSWORD REQUIRE
    /// CURRENT` without `OPTIONAL`/`DEFAULT`; MySQL 8.0.13+).
    pub requires_current_password: bool,
}

impl AccountOptions {
    /// The clauses of `CREATE USER` / `ALTER USER` that give an account these options (not
    /// the default roles, which need the role grants first).
    pub fn clauses(&self) -> String {
        let mut parts = vec![self.require.clone(), self.limits.clone()];
        parts.extend(self.password.iter().cloned());
        parts.join(" ")
    }
}

/// Read the options of a `SHOW CREATE USER` line. `Err` names the clause that cannot be read.
pub fn account_options(create_user: &str, product: Product) -> Result<AccountOptions, String> {
    let mut require = "REQUIRE NONE".to_owned();
    let mut limits: [Option<String>; LIMITS.len()] = Default::default();
    let mut expire = "PASSWORD EXPIRE DEFAULT".to_owned();
    let mut policy = Vec::new();
    let mut default_roles = Vec::new();
    let mut requires_current_password = false;
    for (clause, w) in clauses(create_user)? {
        let upper: Vec<String> = w.iter().map(|s| s.to_ascii_uppercase()).collect();
        let upper: Vec<&str> = upper.iter().map(String::as_str).collect();
        match clause {
            Clause::Identified | Clause::Account | Clause::Attribute => {}
            Clause::Require => require = w.join(" "),
            Clause::With => {
                let pairs = &w[1..];
                if pairs.is_empty() || pairs.len() % 2 != 0 {
                    return Err(format!("cannot read the resource limits {:?}", w.join(" ")));
                }
                for pair in pairs.chunks(2) {
                    let name = pair[0].to_ascii_uppercase();
                    let Some(at) = LIMITS.iter().position(|l| *l == name) else {
                        return Err(format!("unknown resource limit {:?}", pair[0]));
                    };
                    limits[at] = Some(number(pair[1], name == "MAX_STATEMENT_TIME")?);
                }
            }
            Clause::DefaultRole => {
                if w.len() != 3 {
                    return Err(format!("cannot read the default roles {:?}", w.join(" ")));
                }
                default_roles = role_list(w[2])?;
            }
            Clause::FailedLoginAttempts | Clause::PasswordLockTime => match upper.as_slice() {
                [_, "UNBOUNDED"] if clause == Clause::PasswordLockTime => {
                    policy.push(format!("{} UNBOUNDED", upper[0]));
                }
                [_, n] => policy.push(format!("{} {}", upper[0], number(n, false)?)),
                _ => return Err(format!("cannot read {:?}", w.join(" "))),
            },
            Clause::Password => match upper.as_slice() {
                ["PASSWORD", "EXPIRE"] => {
                    return Err(
                        "the account's password is expired (PASSWORD EXPIRE); a copy of it could not log in"
                            .into(),
                    );
                }
                ["PASSWORD", "EXPIRE", "DEFAULT" | "NEVER"] => expire = upper.join(" "),
                ["PASSWORD", "EXPIRE", "INTERVAL", n, "DAY"] => {
                    expire = format!("PASSWORD EXPIRE INTERVAL {} DAY", number(n, false)?);
                }
                ["PASSWORD", "HISTORY", "DEFAULT"]
                | ["PASSWORD", "REUSE", "INTERVAL", "DEFAULT"]
                | ["PASSWORD", "REQUIRE", "CURRENT", "DEFAULT" | "OPTIONAL"] => {
                    policy.push(upper.join(" "));
                }
                ["PASSWORD", "REQUIRE", "CURRENT"] => {
                    requires_current_password = true;
                    policy.push(upper.join(" "));
                }
                ["PASSWORD", "HISTORY", n] => {
                    policy.push(format!("PASSWORD HISTORY {}", number(n, false)?));
                }
                ["PASSWORD", "REUSE", "INTERVAL", n, "DAY"] => {
                    policy.push(format!("PASSWORD REUSE INTERVAL {} DAY", number(n, false)?));
                }
                _ => return Err(format!("cannot read {:?}", w.join(" "))),
            },
        }
    }
    // MariaDB has MAX_STATEMENT_TIME; MySQL does not know the word.
    let known = match product {
        Product::MariaDb => LIMITS.len(),
        Product::MySql => LIMITS.len() - 1,
    };
    if product == Product::MySql && limits[known].is_some() {
        return Err("MAX_STATEMENT_TIME is MariaDB's, but the server says it is MySQL".into());
    }
    let limits = std::iter::once("WITH".to_owned())
        .chain((0..known).map(|i| format!("{} {}", LIMITS[i], limits[i].as_deref().unwrap_or("0"))))
        .collect::<Vec<_>>()
        .join(" ");
    let mut password = vec![expire];
    password.extend(policy);
    Ok(AccountOptions {
        require,
        limits,
        password,
        default_roles,
        requires_current_password,
    })
}

/// A list of roles as MySQL prints it (`` `r`@`%`,`s`@`10.0.%` ``), each re-quoted with
/// [`sql::account`].
fn role_list(list: &str) -> Result<Vec<String>, String> {
    let bytes = list.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let ident = |i: usize| -> Result<(String, usize), String> {
        if bytes.get(i) != Some(&b'`') {
            return Err(format!("cannot read the role list {list:?}"));
        }
        let end = sql::quoted_end(list, i).ok_or_else(|| format!("unclosed name in {list:?}"))?;
        Ok((list[i + 1..end - 1].replace("``", "`"), end))
    };
    loop {
        let (user, at) = ident(i)?;
        let (host, next) = match bytes.get(at) {
            Some(b'@') => ident(at + 1)?,
            _ => ("%".to_owned(), at),
        };
        out.push(sql::account(&user, &host, false));
        match bytes.get(next) {
            None => return Ok(out),
            Some(b',') => i = next + 1,
            Some(_) => return Err(format!("cannot read the role list {list:?}")),
        }
    }
}

/// The statement that makes `roles` the default roles of `target` (an account already quoted),
/// `NONE` when there are none, after the role grants.
pub fn set_default_roles(product: Product, roles: &[String], target: &str) -> String {
    let list = if roles.is_empty() {
        "NONE".to_owned()
    } else {
        roles.join(", ")
    };
    match product {
        Product::MySql => format!("SET DEFAULT ROLE {list} TO {target}"),
        // MariaDB has one default role at most; its grants replay `SET DEFAULT ROLE r FOR`.
        Product::MariaDb => format!("SET DEFAULT ROLE {list} FOR {target}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Product::{MariaDb, MySql};

    #[test]
    fn mariadb_lines_as_10_11_prints_them() {
        let o = account_options(
            "CREATE USER `app`@`10.0.%` IDENTIFIED BY PASSWORD '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19' REQUIRE SUBJECT '/CN=app' AND ISSUER '/CN=ca' WITH MAX_QUERIES_PER_HOUR 100 MAX_USER_CONNECTIONS 5 MAX_STATEMENT_TIME 2.500000 PASSWORD EXPIRE INTERVAL 90 DAY ACCOUNT LOCK",
            MariaDb,
        )
        .expect("reads");
        assert_eq!(o.require, "REQUIRE SUBJECT '/CN=app' AND ISSUER '/CN=ca'");
        assert_eq!(
            o.limits,
            "WITH MAX_QUERIES_PER_HOUR 100 MAX_UPDATES_PER_HOUR 0 MAX_CONNECTIONS_PER_HOUR 0 MAX_USER_CONNECTIONS 5 MAX_STATEMENT_TIME 2.5"
        );
        assert_eq!(o.password, ["PASSWORD EXPIRE INTERVAL 90 DAY"]);
        assert!(o.default_roles.is_empty() && !o.requires_current_password);

        // Nothing but the name: every option at its default, spelled out.
        let bare = account_options("CREATE USER `app`@`%`", MariaDb).expect("reads");
        assert_eq!(
            bare.clauses(),
            "REQUIRE NONE WITH MAX_QUERIES_PER_HOUR 0 MAX_UPDATES_PER_HOUR 0 MAX_CONNECTIONS_PER_HOUR 0 MAX_USER_CONNECTIONS 0 MAX_STATEMENT_TIME 0 PASSWORD EXPIRE DEFAULT"
        );
        // Another plugin, and a password that never expires.
        let ed = account_options(
            "CREATE USER `a`@`%` IDENTIFIED VIA ed25519 USING 'Gv2JI8Env2fd5YGonZ082tX3UAW+yJYldOlj4R1bfK4' REQUIRE SSL PASSWORD EXPIRE NEVER",
            MariaDb,
        )
        .expect("reads");
        assert_eq!(ed.require, "REQUIRE SSL");
        assert_eq!(ed.password, ["PASSWORD EXPIRE NEVER"]);
    }

    #[test]
    fn mysql_8_lines_with_default_roles_and_password_policy() {
        // As MySQL 8.0/8.4/9.x print them: DEFAULT ROLE right after IDENTIFIED, then REQUIRE,
        // the limits, expiry, lock and the 8.0 password policy.
        let line = "CREATE USER `app`@`%` IDENTIFIED WITH 'caching_sha2_password' AS '$A$005$x WITH y REQUIRE z''q' DEFAULT ROLE `reader`@`%`,`wr``iter`@`10.0.%` REQUIRE NONE WITH MAX_QUERIES_PER_HOUR 10 PASSWORD EXPIRE DEFAULT ACCOUNT UNLOCK PASSWORD HISTORY 5 PASSWORD REUSE INTERVAL 30 DAY PASSWORD REQUIRE CURRENT FAILED_LOGIN_ATTEMPTS 3 PASSWORD_LOCK_TIME UNBOUNDED COMMENT 'app user'";
        let o = account_options(line, MySql).expect("reads");
        assert_eq!(o.require, "REQUIRE NONE");
        assert_eq!(
            o.limits,
            "WITH MAX_QUERIES_PER_HOUR 10 MAX_UPDATES_PER_HOUR 0 MAX_CONNECTIONS_PER_HOUR 0 MAX_USER_CONNECTIONS 0"
        );
        assert_eq!(
            o.password,
            [
                "PASSWORD EXPIRE DEFAULT",
                "PASSWORD HISTORY 5",
                "PASSWORD REUSE INTERVAL 30 DAY",
                "PASSWORD REQUIRE CURRENT",
                "FAILED_LOGIN_ATTEMPTS 3",
                "PASSWORD_LOCK_TIME UNBOUNDED",
            ]
        );
        assert!(o.requires_current_password);
        assert_eq!(o.default_roles, ["'reader'@'%'", "'wr`iter'@'10.0.%'"]);
        assert_eq!(
            set_default_roles(MySql, &o.default_roles, "'app_clone'@'%'"),
            "SET DEFAULT ROLE 'reader'@'%', 'wr`iter'@'10.0.%' TO 'app_clone'@'%'"
        );
        assert_eq!(
            set_default_roles(MySql, &[], "'app_clone'@'%'"),
            "SET DEFAULT ROLE NONE TO 'app_clone'@'%'"
        );

        // The defaults and OPTIONAL do not require the current password.
        for current in ["DEFAULT", "OPTIONAL"] {
            let o = account_options(
                &format!(
                    "CREATE USER `a`@`%` IDENTIFIED WITH 'mysql_native_password' AS '*X' REQUIRE NONE PASSWORD EXPIRE DEFAULT ACCOUNT UNLOCK PASSWORD HISTORY DEFAULT PASSWORD REUSE INTERVAL DEFAULT PASSWORD REQUIRE CURRENT {current}"
                ),
                MySql,
            )
            .expect("reads");
            assert!(!o.requires_current_password, "{current}");
            assert_eq!(
                o.password.last().map(String::as_str),
                Some(format!("PASSWORD REQUIRE CURRENT {current}").as_str())
            );
        }
        // A role without a host part (MySQL prints one, but a hand-written line may not).
        assert_eq!(role_list("`r`").expect("reads"), ["'r'@'%'"]);
    }

    #[test]
    fn what_cannot_be_read_is_an_error_never_a_silent_difference() {
        let bad = [
            (
                "CREATE USER `a`@`%` WITH MAX_QUERIES_PER_HOUR",
                "resource limits",
            ),
            (
                "CREATE USER `a`@`%` WITH MAX_WIDGETS 3",
                "unknown resource limit",
            ),
            (
                "CREATE USER `a`@`%` WITH MAX_QUERIES_PER_HOUR 1;DROP",
                "whole number",
            ),
            ("CREATE USER `a`@`%` PASSWORD EXPIRE", "expired"),
            (
                "CREATE USER `a`@`%` PASSWORD EXPIRE INTERVAL x DAY",
                "whole number",
            ),
            ("CREATE USER `a`@`%` PASSWORD HISTORY 1 OR 2", "cannot read"),
            ("CREATE USER `a`@`%` DEFAULT ROLE r", "role list"),
            ("CREATE USER `a`@`%` DEFAULT ROLE `r`;`s`", "role list"),
            ("GRANT USAGE ON *.* TO `a`@`%`", "no CREATE USER line"),
        ];
        for (line, says) in bad {
            let err = account_options(line, MariaDb).expect_err(line);
            assert!(err.contains(says), "{line}: {err}");
        }
        let err = account_options("CREATE USER `a`@`%` WITH MAX_STATEMENT_TIME 1", MySql)
            .expect_err("MariaDB only");
        assert!(err.contains("MariaDB"), "{err}");
    }

    #[test]
    fn quoted_values_never_start_a_clause() {
        // A SUBJECT that reads like clauses, and a hash with spaces and keywords in it.
        let o = account_options(
            "CREATE USER `a`@`%` IDENTIFIED BY PASSWORD '*A B PASSWORD EXPIRE' REQUIRE SUBJECT ' WITH MAX_USER_CONNECTIONS 9 ACCOUNT LOCK' PASSWORD EXPIRE NEVER",
            MariaDb,
        )
        .expect("reads");
        assert_eq!(
            o.require,
            "REQUIRE SUBJECT ' WITH MAX_USER_CONNECTIONS 9 ACCOUNT LOCK'"
        );
        assert!(o.limits.contains("MAX_USER_CONNECTIONS 0"), "{}", o.limits);
        assert_eq!(o.password, ["PASSWORD EXPIRE NEVER"]);
    }
}
