//! The preflight rights check: whether the admin may make the alternate user a copy of the
//! current one, read from `SHOW GRANTS` lines without changing anything.
//!
//! The admin needs `CREATE USER`, and the right to pass on every grant of the original: each
//! privilege held `WITH GRANT OPTION` on the same object or one that contains it, each role
//! `WITH ADMIN OPTION`, each proxy grant `WITH GRANT OPTION`. A missing right is named with the
//! statement that gives it, the same statement the rotation's own refusal names.

use crate::sql::{self, find_keyword};

/// A `GRANT` line of `SHOW GRANTS`, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Privilege names in upper case without column lists (`SELECT`, `ALL PRIVILEGES`,
    /// `PROXY`), or, for a role grant, the role names as printed.
    pub items: Vec<String>,
    /// The object after `ON` (`*.*`, `` `db`.* ``, `` PROCEDURE `db`.`p` ``, a proxied account);
    /// `None` for a role grant.
    pub object: Option<String>,
    /// `WITH GRANT OPTION` (a privilege grant) or `WITH ADMIN OPTION` (a role grant).
    pub passable: bool,
}

/// Split `text` at commas that are outside quotes and parentheses.
fn split_items(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut depth = 0u32;
    let mut quote: Option<char> = None;
    for c in text.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' || c == '`' => quote = Some(c),
            None if c == '(' => depth += 1,
            None if c == ')' => depth = depth.saturating_sub(1),
            None if c == ',' && depth == 0 => {
                out.push(std::mem::take(&mut current));
                continue;
            }
            None => {}
        }
        current.push(c);
    }
    out.push(current);
    out.into_iter()
        .map(|item| item.trim().to_owned())
        .filter(|item| !item.is_empty())
        .collect()
}

/// A privilege name without its column list, in upper case: `INSERT (a, b)` is `INSERT`.
fn privilege_name(item: &str) -> String {
    let name = item.split('(').next().unwrap_or(item);
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_uppercase()
}

/// Take a `SHOW GRANTS` line apart; `None` for lines that grant nothing (`REVOKE`,
/// `SET DEFAULT ROLE`).
pub fn parse_grant(line: &str) -> Option<Grant> {
    if !line.get(..6)?.eq_ignore_ascii_case("GRANT ") {
        return None;
    }
    let upper = line.to_ascii_uppercase();
    let on = find_keyword(line, "ON", 5);
    let to = find_keyword(line, "TO", on.unwrap_or(5))?;
    let (items, object) = match on {
        Some(on) if on < to => (
            split_items(&line[6..on])
                .iter()
                .map(|i| privilege_name(i))
                .collect(),
            Some(line[on + 4..to].trim().to_owned()),
        ),
        _ => (split_items(&line[6..to]), None),
    };
    let passable = upper.contains(" WITH GRANT OPTION") || upper.contains(" WITH ADMIN OPTION");
    Some(Grant {
        items,
        object,
        passable,
    })
}

/// Whether a grant on `held` reaches `object`: the same object, `*.*`, or a database's
/// `` `db`.* `` for a table or routine in it.
fn reaches(held: &str, object: &str) -> bool {
    if held == "*.*" || held == object {
        return true;
    }
    let Some(database) = held.strip_suffix(".*") else {
        return false;
    };
    let bare = object
        .strip_prefix("PROCEDURE ")
        .or_else(|| object.strip_prefix("FUNCTION "))
        .or_else(|| object.strip_prefix("TABLE "))
        .unwrap_or(object);
    bare.starts_with(&format!("{database}."))
}

/// Whether the admin's grants let it pass `item` on for `object` (`None`: a role).
fn admin_may_pass(admin: &[Grant], item: &str, object: Option<&str>) -> bool {
    admin
        .iter()
        .filter(|g| g.passable)
        .any(|g| match (object, &g.object) {
            // A role: held WITH ADMIN OPTION, or MySQL 8's ROLE_ADMIN.
            (None, None) => g.items.iter().any(|r| r == item),
            (None, Some(held)) => held == "*.*" && g.items.iter().any(|p| p == "ROLE_ADMIN"),
            (Some(_), None) => false,
            // MariaDB's root may pass on any proxy grant through `PROXY ON ''@'%'`.
            (Some(object), Some(held)) if item == "PROXY" => {
                g.items.iter().any(|p| p == "PROXY") && (held == object || held == "''@'%'")
            }
            (Some(object), Some(held)) => {
                reaches(held, object)
                    && g.items
                        .iter()
                        .any(|p| p == item || p == "ALL PRIVILEGES" || p == "ALL")
            }
        })
}

/// What the admin (its `SHOW GRANTS` lines, its account `admin_account` already quoted) lacks
/// to copy `src_user`@`host` (the original's `SHOW GRANTS` lines): one sentence per missing
/// right, each with the statement that gives it.
pub fn missing(
    admin_lines: &[String],
    admin_account: &str,
    original: &[String],
    (src_user, host): (&str, &str),
) -> Vec<String> {
    let admin: Vec<Grant> = admin_lines.iter().filter_map(|l| parse_grant(l)).collect();
    let mut out = Vec::new();
    let creates = admin.iter().any(|g| {
        g.object.as_deref() == Some("*.*")
            && g.items
                .iter()
                .any(|p| p == "CREATE USER" || p == "ALL PRIVILEGES" || p == "ALL")
    });
    if !creates {
        out.push(format!(
            "CREATE USER, to create the alternate user: GRANT CREATE USER ON *.* TO {admin_account}"
        ));
    }
    for line in original {
        let Some(grant) = parse_grant(line) else {
            continue;
        };
        let lacking: Vec<&String> = grant
            .items
            .iter()
            .filter(|item| *item != "USAGE")
            .filter(|item| !admin_may_pass(&admin, item, grant.object.as_deref()))
            .collect();
        if lacking.is_empty() {
            continue;
        }
        let what = match grant.object {
            Some(_) => "WITH GRANT OPTION",
            None => "WITH ADMIN OPTION",
        };
        let names: Vec<&str> = lacking.iter().map(|s| s.as_str()).collect();
        out.push(format!(
            "{} {what}, to copy a grant of the original: {}",
            names.join(", "),
            sql::grant_option_for(line, src_user, host, admin_account)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(l: &[&str]) -> Vec<String> {
        l.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn grant_lines_come_apart() {
        let g = parse_grant("GRANT SELECT, INSERT (`a`, `b`), UPDATE ON `shop`.`orders` TO `app`@`%` WITH GRANT OPTION").expect("grant");
        assert_eq!(g.items, ["SELECT", "INSERT", "UPDATE"]);
        assert_eq!(g.object.as_deref(), Some("`shop`.`orders`"));
        assert!(g.passable);
        let g = parse_grant("GRANT `reader`@`%`,`writer` TO `app`@`%`").expect("role grant");
        assert_eq!(g.items, ["`reader`@`%`", "`writer`"]);
        assert_eq!(g.object, None);
        assert!(!g.passable);
        let g = parse_grant("GRANT USAGE ON *.* TO `a, b ON x`@`%`").expect("hostile name");
        assert_eq!(g.items, ["USAGE"]);
        assert_eq!(g.object.as_deref(), Some("*.*"));
        assert_eq!(parse_grant("REVOKE INSERT ON `db`.* FROM `app`@`%`"), None);
        assert_eq!(parse_grant("SET DEFAULT ROLE `r` FOR `app`@`%`"), None);
    }

    #[test]
    fn an_admin_with_everything_lacks_nothing() {
        let admin = lines(&[
            "GRANT ALL PRIVILEGES ON *.* TO `admin`@`%` WITH GRANT OPTION",
            "GRANT PROXY ON ''@'%' TO 'admin'@'%' WITH GRANT OPTION",
            "GRANT `reader` TO `admin`@`%` WITH ADMIN OPTION",
        ]);
        let original = lines(&[
            "GRANT USAGE ON *.* TO `app`@`%`",
            "GRANT SELECT, INSERT (`a`) ON `shop`.`orders` TO `app`@`%`",
            "GRANT EXECUTE ON PROCEDURE `shop`.`p` TO `app`@`%`",
            "GRANT PROXY ON `other`@`%` TO `app`@`%`",
            "GRANT `reader` TO `app`@`%`",
            "REVOKE INSERT ON `shop`.* FROM `app`@`%`",
        ]);
        assert!(missing(&admin, "`admin`@`%`", &original, ("app", "%")).is_empty());
    }

    #[test]
    fn each_missing_right_is_named_with_its_statement() {
        let admin = lines(&[
            "GRANT SELECT, INSERT ON *.* TO `admin`@`%` WITH GRANT OPTION",
            "GRANT UPDATE ON `shop`.* TO `admin`@`%`",
        ]);
        let original = lines(&[
            "GRANT SELECT ON `shop`.`orders` TO `app`@`%`",
            "GRANT UPDATE, DELETE ON `shop`.* TO `app`@`%`",
            "GRANT `reader` TO `app`@`%`",
        ]);
        let found = missing(&admin, "`admin`@`%`", &original, ("app", "%"));
        assert_eq!(found.len(), 3, "{found:#?}");
        assert!(
            found[0].contains("GRANT CREATE USER ON *.* TO `admin`@`%`"),
            "{found:#?}"
        );
        assert!(
            found[1].starts_with("UPDATE, DELETE WITH GRANT OPTION")
                && found[1]
                    .ends_with("GRANT UPDATE, DELETE ON `shop`.* TO `admin`@`%` WITH GRANT OPTION"),
            "{found:#?}"
        );
        assert!(
            found[2].ends_with("GRANT `reader` TO `admin`@`%` WITH ADMIN OPTION"),
            "{found:#?}"
        );
    }

    #[test]
    fn a_database_grant_reaches_its_tables_and_routines_only() {
        assert!(reaches("`shop`.*", "`shop`.`orders`"));
        assert!(reaches("`shop`.*", "PROCEDURE `shop`.`p`"));
        assert!(!reaches("`shop`.*", "`shopping`.`orders`"));
        assert!(!reaches("`shop`.`orders`", "`shop`.*"));
    }
}
