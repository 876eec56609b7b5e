//! The preflight rights check: whether the admin may make the alternate user a copy of the
//! current one, read from `SHOW GRANTS` lines without changing anything.
//!
//! The admin needs `CREATE USER`, and the right to pass on every grant of the original: each
//! privilege held `WITH GRANT OPTION` on the same object or one that contains it (and not taken
//! back there by one of the admin's own partial revokes), with at least the original's columns;
//! each role `WITH ADMIN OPTION` (or MySQL's `ROLE_ADMIN` or `SUPER`); each proxy grant `WITH
//! GRANT OPTION`. `ALL PRIVILEGES` on a database, table or routine is the list of privileges
//! of that level. A missing right is named with the statement that gives it, built from the
//! parsed grant alone (no account options of the original's line).

use crate::sql::find_keyword;

/// One privilege (or role) of a grant line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The privilege in upper case without its column list (`SELECT`, `ALL PRIVILEGES`), or
    /// a role as printed.
    pub name: String,
    /// The column list, when the privilege is on columns.
    pub columns: Option<Vec<String>>,
    /// The item as printed, column list included.
    pub text: String,
}

/// A `GRANT` or `REVOKE` line of `SHOW GRANTS`, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// What it grants (or revokes).
    pub items: Vec<Item>,
    /// The object after `ON` (`*.*`, `` `db`.* ``, `` PROCEDURE `db`.`p` ``, a proxied
    /// account); `None` for a role grant.
    pub object: Option<String>,
    /// `WITH GRANT OPTION` (a privilege grant) or `WITH ADMIN OPTION` (a role grant), after the
    /// grantee.
    pub passable: bool,
    /// A partial revoke (`REVOKE … ON … FROM`).
    pub revoke: bool,
}

/// `text` with every quoted part (quotes included) left out.
fn unquoted(text: &str) -> String {
    let mut out = String::new();
    let mut quote: Option<char> = None;
    for c in text.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' || c == '`' => quote = Some(c),
            None => out.push(c),
        }
    }
    out
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

/// A privilege item: `INSERT (a, b)` is `INSERT` on columns `a` and `b`.
fn privilege(text: &str) -> Item {
    let (name, columns) = match text.split_once('(') {
        Some((name, cols)) => (
            name,
            Some(split_items(cols.trim_end().trim_end_matches(')'))),
        ),
        None => (text, None),
    };
    Item {
        name: name
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_uppercase(),
        columns,
        text: text.to_owned(),
    }
}

/// Take a `SHOW GRANTS` line apart; `None` for lines that grant nothing (`SET DEFAULT ROLE`).
pub fn parse_grant(line: &str) -> Option<Grant> {
    let revoke = line.get(..7)?.eq_ignore_ascii_case("REVOKE ");
    if !revoke && !line.get(..6)?.eq_ignore_ascii_case("GRANT ") {
        return None;
    }
    let start = if revoke { 7 } else { 6 };
    let to_word = if revoke { "FROM" } else { "TO" };
    let on = find_keyword(line, "ON", start - 1);
    let to = find_keyword(line, to_word, on.unwrap_or(start - 1))?;
    // A keyword right after the first word (`GRANT TO …`, `REVOKE ON FROM …`) leaves nothing
    // between: an empty part, not a panic, which would quote the line (password hash included).
    let part = |from: usize, end: usize| line.get(from..end).unwrap_or("");
    let (items, object) = match on {
        Some(on) if on < to => (
            split_items(part(start, on))
                .iter()
                .map(|i| privilege(i))
                .collect(),
            Some(part(on + 4, to).trim().to_owned()),
        ),
        _ => (
            split_items(part(start, to))
                .into_iter()
                .map(|r| Item {
                    name: r.clone(),
                    columns: None,
                    text: r,
                })
                .collect(),
            None,
        ),
    };
    let tail = unquoted(&line[to..]).to_ascii_uppercase();
    let passable = tail.contains(" GRANT OPTION") || tail.contains(" ADMIN OPTION");
    Some(Grant {
        items,
        object,
        passable,
        revoke,
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
    bare(object).starts_with(&format!("{database}."))
}

/// An object without its `PROCEDURE`, `FUNCTION` or `TABLE` word.
fn bare(object: &str) -> &str {
    object
        .strip_prefix("PROCEDURE ")
        .or_else(|| object.strip_prefix("FUNCTION "))
        .or_else(|| object.strip_prefix("TABLE "))
        .unwrap_or(object)
}

/// The ways a server prints the anonymous account on any host, which MariaDB's root holds
/// `PROXY` on to pass every proxy grant on.
const ANY_ACCOUNT: &[&str] = &["''@'%'", "``@`%`", "''@''", "``@``"];

/// The privileges `ALL PRIVILEGES` stands for on a database, a table, or a routine (MariaDB
/// adds `DELETE HISTORY` to the first two).
fn all_of(object: &str, mariadb: bool) -> Option<Vec<&'static str>> {
    const TABLE: &[&str] = &[
        "SELECT",
        "INSERT",
        "UPDATE",
        "DELETE",
        "CREATE",
        "DROP",
        "REFERENCES",
        "INDEX",
        "ALTER",
        "CREATE VIEW",
        "SHOW VIEW",
        "TRIGGER",
    ];
    const DATABASE_MORE: &[&str] = &[
        "CREATE TEMPORARY TABLES",
        "LOCK TABLES",
        "EXECUTE",
        "CREATE ROUTINE",
        "ALTER ROUTINE",
        "EVENT",
    ];
    if object == "*.*" {
        return None;
    }
    if object.starts_with("PROCEDURE ") || object.starts_with("FUNCTION ") {
        return Some(vec!["EXECUTE", "ALTER ROUTINE"]);
    }
    let mut list = TABLE.to_vec();
    if object.ends_with(".*") {
        list.extend(DATABASE_MORE);
    }
    if mariadb {
        list.push("DELETE HISTORY");
    }
    Some(list)
}

fn is_all(name: &str) -> bool {
    name == "ALL PRIVILEGES" || name == "ALL"
}

/// Whether the admin's grants let it pass `item` on for `object` (`None`: a role).
fn admin_may_pass(admin: &[Grant], item: &Item, object: Option<&str>, mariadb: bool) -> bool {
    let grants = || admin.iter().filter(|g| !g.revoke);
    let Some(object) = object else {
        // A role: held WITH ADMIN OPTION, or MySQL's ROLE_ADMIN or SUPER on *.*.
        return grants().any(|g| match &g.object {
            None => g.passable && g.items.iter().any(|r| r.name == item.name),
            Some(held) => {
                held == "*.*"
                    && g.items
                        .iter()
                        .any(|p| p.name == "ROLE_ADMIN" || p.name == "SUPER")
            }
        });
    };
    if item.name == "PROXY" {
        return grants().filter(|g| g.passable).any(|g| {
            g.items.iter().any(|p| p.name == "PROXY")
                && g.object
                    .as_deref()
                    .is_some_and(|held| held == object || ANY_ACCOUNT.contains(&held))
        });
    }
    if is_all(&item.name) {
        let whole = |name: &str| Item {
            name: name.to_owned(),
            columns: None,
            text: name.to_owned(),
        };
        if passes_one(admin, &whole("ALL PRIVILEGES"), object) {
            return true;
        }
        return all_of(object, mariadb)
            .is_some_and(|list| list.iter().all(|p| passes_one(admin, &whole(p), object)));
    }
    passes_one(admin, item, object)
}

/// One privilege (not `PROXY`, not a role): held passable on something that reaches
/// `object`, on at least its columns, and not revoked there.
fn passes_one(admin: &[Grant], item: &Item, object: &str) -> bool {
    let names = |p: &Item| p.name == item.name || is_all(&p.name);
    let held = admin.iter().filter(|g| !g.revoke && g.passable).any(|g| {
        g.object.as_deref().is_some_and(|o| reaches(o, object))
            && g.items.iter().any(|p| {
                names(p)
                    && match (&p.columns, &item.columns) {
                        (None, _) => true,
                        (Some(_), None) => false,
                        (Some(has), Some(needs)) => needs.iter().all(|c| has.contains(c)),
                    }
            })
    });
    let revoked = admin.iter().filter(|g| g.revoke).any(|g| {
        g.object
            .as_deref()
            .is_some_and(|o| reaches(o, object) || reaches(object, o))
            && g.items.iter().any(names)
    });
    held && !revoked
}

/// What the admin (its `SHOW GRANTS` lines, its account `admin_account` already quoted) lacks
/// to copy the original (its `SHOW GRANTS` lines): one sentence per missing right, each with
/// the statement that gives it.
pub fn missing(
    admin_lines: &[String],
    admin_account: &str,
    original: &[String],
    mariadb: bool,
) -> Vec<String> {
    let admin: Vec<Grant> = admin_lines.iter().filter_map(|l| parse_grant(l)).collect();
    let mut out = Vec::new();
    let creates = admin.iter().filter(|g| !g.revoke).any(|g| {
        g.object.as_deref() == Some("*.*")
            && g.items
                .iter()
                .any(|p| p.name == "CREATE USER" || is_all(&p.name))
    });
    if !creates {
        out.push(format!(
            "CREATE USER, to create the alternate user: GRANT CREATE USER ON *.* TO {admin_account}"
        ));
    }
    for grant in original.iter().filter_map(|l| parse_grant(l)) {
        if grant.revoke {
            continue;
        }
        let lacking: Vec<&Item> = grant
            .items
            .iter()
            .filter(|item| item.name != "USAGE")
            .filter(|item| !admin_may_pass(&admin, item, grant.object.as_deref(), mariadb))
            .collect();
        if lacking.is_empty() {
            continue;
        }
        let names: Vec<&str> = lacking.iter().map(|i| i.text.as_str()).collect();
        let names = names.join(", ");
        out.push(match &grant.object {
            Some(object) => format!(
                "{names} WITH GRANT OPTION on {object}, to copy a grant of the original: GRANT {names} ON {object} TO {admin_account} WITH GRANT OPTION"
            ),
            None => format!(
                "{names} WITH ADMIN OPTION, to copy a role of the original: GRANT {names} TO {admin_account} WITH ADMIN OPTION"
            ),
        });
    }
    out
}

/// What a user's own `SHOW GRANTS` says about changing its own password on MySQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OwnPasswordRights {
    /// `CREATE USER` (or `ALL PRIVILEGES`) on `*.*`: it may set its own password's hash, and
    /// retain the current password.
    pub create_user: bool,
    /// `APPLICATION_PASSWORD_ADMIN`: it may retain its current password.
    pub application_password_admin: bool,
    /// It holds roles, whose privileges its `SHOW GRANTS` does not list.
    pub roles: bool,
}

/// Read [`OwnPasswordRights`] from a user's `SHOW GRANTS` lines.
pub fn own_password_rights(lines: &[String]) -> OwnPasswordRights {
    let grants: Vec<Grant> = lines.iter().filter_map(|l| parse_grant(l)).collect();
    let global = |name: &str| {
        grants.iter().any(|g| {
            !g.revoke
                && g.object.as_deref() == Some("*.*")
                && g.items
                    .iter()
                    .any(|i| i.name == name || i.name == "ALL PRIVILEGES" || i.name == "ALL")
        })
    };
    OwnPasswordRights {
        create_user: global("CREATE USER"),
        application_password_admin: global("APPLICATION_PASSWORD_ADMIN"),
        roles: holds_roles(lines),
    }
}

/// Whether the admin holds roles, whose privileges its `SHOW GRANTS` does not list.
pub fn holds_roles(admin_lines: &[String]) -> bool {
    admin_lines
        .iter()
        .filter_map(|l| parse_grant(l))
        .any(|g| !g.revoke && g.object.is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_password_rights_from_show_grants() {
        let lines = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            own_password_rights(&lines(&["GRANT USAGE ON *.* TO `u`@`%`"])),
            OwnPasswordRights::default()
        );
        let app = own_password_rights(&lines(&[
            "GRANT USAGE ON *.* TO `u`@`%`",
            "GRANT APPLICATION_PASSWORD_ADMIN,BACKUP_ADMIN ON *.* TO `u`@`%`",
        ]));
        assert!(
            app.application_password_admin && !app.create_user,
            "{app:?}"
        );
        let all = own_password_rights(&lines(&["GRANT ALL PRIVILEGES ON *.* TO `u`@`%`"]));
        assert!(all.create_user && all.application_password_admin, "{all:?}");
        // On one database only, CREATE USER is no global right.
        let db = own_password_rights(&lines(&["GRANT ALL PRIVILEGES ON `appdb`.* TO `u`@`%`"]));
        assert!(!db.create_user, "{db:?}");
        let roles = own_password_rights(&lines(&["GRANT `reader`@`%` TO `u`@`%`"]));
        assert!(roles.roles, "{roles:?}");
    }

    fn lines(l: &[&str]) -> Vec<String> {
        l.iter().map(|s| (*s).to_owned()).collect()
    }

    fn names(g: &Grant) -> Vec<&str> {
        g.items.iter().map(|i| i.name.as_str()).collect()
    }

    #[test]
    fn grant_lines_come_apart() {
        let g = parse_grant("GRANT SELECT, INSERT (`a`, `b`), UPDATE ON `shop`.`orders` TO `app`@`%` WITH GRANT OPTION").expect("grant");
        assert_eq!(names(&g), ["SELECT", "INSERT", "UPDATE"]);
        assert_eq!(g.items[1].columns, Some(vec!["`a`".into(), "`b`".into()]));
        assert_eq!(g.object.as_deref(), Some("`shop`.`orders`"));
        assert!(g.passable && !g.revoke);
        let g = parse_grant("GRANT `reader`@`%`,`writer` TO `app`@`%`").expect("role grant");
        assert_eq!(names(&g), ["`reader`@`%`", "`writer`"]);
        assert_eq!(g.object, None);
        assert!(!g.passable);
        let g = parse_grant("GRANT USAGE ON *.* TO `a, b ON x WITH GRANT OPTION`@`%`")
            .expect("hostile name");
        assert_eq!(names(&g), ["USAGE"]);
        assert_eq!(g.object.as_deref(), Some("*.*"));
        assert!(
            !g.passable,
            "the option is read after the grantee, outside quotes"
        );
        let g = parse_grant("REVOKE INSERT ON `db`.* FROM `app`@`%`").expect("revoke");
        assert!(g.revoke);
        assert_eq!(g.object.as_deref(), Some("`db`.*"));
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
            "GRANT ALL PRIVILEGES ON `app`.* TO `app`@`%`",
            "GRANT SELECT, INSERT (`a`) ON `shop`.`orders` TO `app`@`%`",
            "GRANT EXECUTE ON PROCEDURE `shop`.`p` TO `app`@`%`",
            "GRANT PROXY ON `other`@`%` TO `app`@`%`",
            "GRANT `reader` TO `app`@`%`",
            "REVOKE INSERT ON `shop`.* FROM `app`@`%`",
        ]);
        assert_eq!(
            missing(&admin, "`admin`@`%`", &original, true),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_mysql_8_root_with_explicit_lists_lacks_nothing() {
        // MySQL 8 prints root's static privileges as a list, its dynamic ones on a line of
        // their own, and the anonymous account with backticks.
        let admin = lines(&[
            "GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, RELOAD, SHUTDOWN, PROCESS, FILE, REFERENCES, INDEX, ALTER, SHOW DATABASES, SUPER, CREATE TEMPORARY TABLES, LOCK TABLES, EXECUTE, REPLICATION SLAVE, REPLICATION CLIENT, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, ALTER ROUTINE, CREATE USER, EVENT, TRIGGER, CREATE TABLESPACE, CREATE ROLE, DROP ROLE ON *.* TO `root`@`localhost` WITH GRANT OPTION",
            "GRANT APPLICATION_PASSWORD_ADMIN,BACKUP_ADMIN,CONNECTION_ADMIN,ROLE_ADMIN ON *.* TO `root`@`localhost` WITH GRANT OPTION",
            "GRANT PROXY ON ``@`` TO `root`@`localhost` WITH GRANT OPTION",
        ]);
        let original = lines(&[
            "GRANT USAGE ON *.* TO `app`@`%`",
            "GRANT ALL PRIVILEGES ON `app`.* TO `app`@`%`",
            "GRANT BACKUP_ADMIN ON *.* TO `app`@`%`",
            "GRANT PROXY ON `other`@`%` TO `app`@`%`",
            "GRANT `reader`@`%` TO `app`@`%`",
        ]);
        assert_eq!(
            missing(&admin, "`root`@`localhost`", &original, false),
            Vec::<String>::new()
        );
    }

    #[test]
    fn each_missing_right_is_named_with_its_statement() {
        let admin = lines(&[
            "GRANT SELECT, INSERT ON *.* TO `admin`@`%` WITH GRANT OPTION",
            "GRANT UPDATE ON `shop`.* TO `admin`@`%`",
        ]);
        let original = lines(&[
            "GRANT USAGE ON *.* TO `app`@`%` REQUIRE SSL WITH MAX_USER_CONNECTIONS 5",
            "GRANT SELECT ON `shop`.`orders` TO `app`@`%`",
            "GRANT UPDATE, DELETE ON `shop`.* TO `app`@`%`",
            "GRANT `reader` TO `app`@`%`",
        ]);
        let found = missing(&admin, "`admin`@`%`", &original, true);
        assert_eq!(found.len(), 3, "{found:#?}");
        assert!(
            found[0].ends_with("GRANT CREATE USER ON *.* TO `admin`@`%`"),
            "{found:#?}"
        );
        assert!(
            found[1].ends_with("GRANT UPDATE, DELETE ON `shop`.* TO `admin`@`%` WITH GRANT OPTION"),
            "{found:#?}"
        );
        assert!(
            found[2].ends_with("GRANT `reader` TO `admin`@`%` WITH ADMIN OPTION"),
            "{found:#?}"
        );
        assert!(
            found
                .iter()
                .all(|f| !f.contains("REQUIRE") && !f.contains("MAX_")),
            "no account option of the original's lines: {found:#?}"
        );
    }

    #[test]
    fn columns_and_partial_revokes_limit_what_the_admin_may_pass() {
        let original = lines(&["GRANT SELECT ON `shop`.`orders` TO `app`@`%`"]);
        let on_a_column = lines(&[
            "GRANT CREATE USER ON *.* TO `admin`@`%`",
            "GRANT SELECT (`id`) ON `shop`.`orders` TO `admin`@`%` WITH GRANT OPTION",
        ]);
        assert_eq!(
            missing(&on_a_column, "`admin`@`%`", &original, false).len(),
            1,
            "a column's SELECT does not pass on the table's"
        );
        let columns = lines(&["GRANT SELECT (`id`) ON `shop`.`orders` TO `app`@`%`"]);
        assert!(missing(&on_a_column, "`admin`@`%`", &columns, false).is_empty());
        let revoked = lines(&[
            "GRANT SELECT, CREATE USER ON *.* TO `admin`@`%` WITH GRANT OPTION",
            "REVOKE SELECT ON `shop`.* FROM `admin`@`%`",
        ]);
        assert_eq!(
            missing(&revoked, "`admin`@`%`", &original, false).len(),
            1,
            "a partial revoke takes the right back there"
        );
    }

    #[test]
    fn role_admin_passes_roles_on_without_an_admin_option() {
        let admin = lines(&["GRANT CREATE USER, ROLE_ADMIN ON *.* TO `admin`@`%`"]);
        let original = lines(&["GRANT `reader`@`%` TO `app`@`%`"]);
        assert!(missing(&admin, "`admin`@`%`", &original, false).is_empty());
        assert!(!holds_roles(&admin));
        assert!(holds_roles(&lines(&["GRANT `dba` TO `admin`@`%`"])));
    }

    #[test]
    fn a_database_grant_reaches_its_tables_and_routines_only() {
        assert!(reaches("`shop`.*", "`shop`.`orders`"));
        assert!(reaches("`shop`.*", "PROCEDURE `shop`.`p`"));
        assert!(!reaches("`shop`.*", "`shopping`.`orders`"));
        assert!(!reaches("`shop`.`orders`", "`shop`.*"));
    }

    #[test]
    fn a_keyword_right_after_the_first_word_is_no_panic() {
        // Found by the property tests (tests/it/props.rs): these sliced past their own end.
        let g = parse_grant("REVOKE ON FROM GRANT").expect("a revoke");
        assert!(g.revoke && g.items.is_empty());
        assert_eq!(g.object.as_deref(), Some(""));
        let g = parse_grant("GRANT TO `app`@`%`").expect("a grant");
        assert!(g.items.is_empty() && g.object.is_none());
        let g = parse_grant("GRANT SELECT ON TO `app`@`%`").expect("a grant");
        assert_eq!(names(&g), ["SELECT"]);
        assert_eq!(g.object.as_deref(), Some(""));
    }
}
