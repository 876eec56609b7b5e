//! Property tests of what MySQL text is built from or read out of: `sql::literal` and
//! `sql::account` round-tripped through the shared MariaDB, in sessions with and without
//! `NO_BACKSLASH_ESCAPES`, and the parsers of `SHOW GRANTS` / `SHOW CREATE USER` lines
//! (`rights::parse_grant`, `rights::missing`, `sql::rewrite_grant`, `sql::grant_option_for`,
//! `sql::auth_of`, `account::account_options`), which must not panic on any line.
//!
//! Cases: 128 for the literal round trip (8 strings per query, in both modes), 128 for accounts
//! (4 per `CREATE USER`), 256 for each pure property. Failures print the shrunk input; nothing
//! is persisted (`failure_persistence: None`), so no regression file appears in the tree.

use crate::common::{admin, db};
use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use rotation_mysql::{account, rights, sql};
use std::cell::RefCell;
use std::collections::BTreeSet;
use test_support::props::check;

/// Characters that escaping must get right, besides any character at all.
const HOSTILE: &[char] = &[
    '\'', '"', '\\', '`', '%', '_', '\0', '\n', '\r', '\t', '\u{8}', '\u{1a}', '\u{7f}', ' ', ';',
    '#', '-', '/', '*', 'é', '€', '𝄞', '😀', '\u{85}', '\u{a0}', '\u{2028}', '\u{feff}',
    '\u{202e}', '\u{fffd}',
];

/// Runs that a wrong escaping would read as something else.
const RUNS: &[&str] = &[
    "\\'",
    "''",
    "\\\\",
    "\\0",
    "\\%",
    "\\_",
    "\\N",
    "\\Z",
    "'\\",
    "\\\n",
    "/*",
    "*/",
    "-- ",
    "' OR '1'='1",
    "\\u0027",
    "%_%",
];

fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => any::<char>().prop_map(String::from),
        4 => select(HOSTILE).prop_map(String::from),
        1 => select(RUNS).prop_map(str::to_owned),
    ]
}

fn hostile_string(max_pieces: usize) -> impl Strategy<Value = String> {
    vec(piece(), 0..=max_pieces).prop_map(|p| p.concat())
}

/// An admin session whose `sql_mode` has `NO_BACKSLASH_ESCAPES` or not, checked.
async fn session(no_backslash_escapes: bool) -> Conn {
    let mut c = admin(&db()).await;
    let mode = if no_backslash_escapes {
        "NO_BACKSLASH_ESCAPES"
    } else {
        ""
    };
    c.query_drop(format!("SET NAMES utf8mb4, SESSION sql_mode = '{mode}'"))
        .await
        .unwrap_or_else(|e| panic!("set the session: {e}"));
    let now: Option<String> = c
        .query_first("SELECT @@SESSION.sql_mode")
        .await
        .unwrap_or_else(|e| panic!("read sql_mode: {e}"));
    assert_eq!(
        now.unwrap_or_default().contains("NO_BACKSLASH_ESCAPES"),
        no_backslash_escapes
    );
    c
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"))
}

/// `SELECT <literal>, …` gives back exactly the strings, in both modes. NUL included: a
/// utf8mb4 string holds it, escaped as `\0`, or as the raw byte where backslashes do not
/// escape.
#[test]
fn literals_round_trip_through_the_server() {
    let rt = runtime();
    let sessions = RefCell::new(rt.block_on(async { [session(false).await, session(true).await] }));
    check(128, vec(hostile_string(24), 1..=8), |strings| {
        let mut sessions = sessions.borrow_mut();
        for (conn, nbe) in sessions.iter_mut().zip([false, true]) {
            let list: Vec<String> = strings.iter().map(|s| sql::literal(s, nbe)).collect();
            let query = format!("SELECT {}", list.join(", "));
            let row: Option<mysql_async::Row> = rt
                .block_on(conn.query_first(&query))
                .map_err(|e| TestCaseError::fail(format!("{query:?} (nbe {nbe}): {e}")))?;
            let row = row.ok_or_else(|| TestCaseError::fail("no row"))?;
            prop_assert_eq!(row.len(), strings.len());
            for (i, want) in strings.iter().enumerate() {
                let got: Option<Vec<u8>> = row.get(i);
                prop_assert_eq!(
                    got.as_deref(),
                    Some(want.as_bytes()),
                    "column {} of {:?} (nbe {})",
                    i,
                    query,
                    nbe
                );
            }
        }
        Ok(())
    });
}

/// A user-name character the server can hold: user names are utf8mb3, which has no 4-byte
/// characters (MariaDB creates the account with `?` in their place).
fn user_char() -> impl Strategy<Value = char> {
    prop_oneof![any::<char>(), select(HOSTILE)].prop_filter("utf8mb3", |c| c.len_utf8() < 4)
}

/// A user name: 1 to 16 characters (well within MariaDB's 80 and MySQL's 32), none of the
/// blanks the server drops when it stores the name: trailing spaces (the `CHAR` column drops
/// them: `' '` is listed as `''`), and on MySQL 9 every leading or trailing blank (`' a'` is
/// listed as `'a'`).
fn user_name(mysql: bool) -> impl Strategy<Value = String> {
    const BLANKS: [char; 6] = [' ', '\t', '\n', '\r', '\x0b', '\x0c'];
    vec(user_char(), 1..=16)
        .prop_map(String::from_iter)
        .prop_filter("no blank the server drops", move |u| match mysql {
            true => !u.ends_with(BLANKS) && !u.starts_with(BLANKS),
            false => !u.ends_with(' '),
        })
}

/// A host part: the server compares hosts without regard to case and may store them lower
/// case, so lower-case ASCII with the characters quoting must get right. Not `@`, which
/// MariaDB refuses in a host ("Malformed hostname"), nor NUL, where it cuts the host off (the
/// account is created, and listed with the host part before the NUL). A tag of this run
/// makes every account new.
fn host_part(tag: String, mysql: bool) -> impl Strategy<Value = String> {
    vec(
        prop_oneof![
            proptest::char::range('a', 'z'),
            proptest::char::range('0', '9'),
            select(&['\'', '"', '\\', '`', '%', '_', '.', '-', ':', ' '][..]),
        ],
        0..=12,
    )
    .prop_map(move |h| format!("{}{tag}", String::from_iter(h)))
    // MySQL 9 drops a leading blank from a host part as from a user name.
    .prop_filter("no leading blank", move |h| !(mysql && h.starts_with(' ')))
}

/// `mysql.user`'s `(User, Host)` pairs, as bytes.
type Listed = BTreeSet<(Vec<u8>, Vec<u8>)>;

/// Accounts with hostile names, created through `sql::account` in either mode, are listed in
/// `mysql.user` under exactly those names, and dropped again.
#[test]
fn accounts_round_trip_through_the_server() {
    let rt = runtime();
    let sessions = RefCell::new(rt.block_on(async { [session(false).await, session(true).await] }));
    let tag = test_support::unique("-p");
    let mysql = db().product == test_support::mariadb::Product::MySql;
    let accounts = vec((user_name(mysql), host_part(tag.clone(), mysql)), 1..=4).prop_map(|a| {
        let mut seen = BTreeSet::new();
        a.into_iter()
            .filter(|acc| seen.insert(acc.clone()))
            .collect::<Vec<_>>()
    });
    check(128, (accounts, any::<bool>()), |(accounts, nbe)| {
        let mut sessions = sessions.borrow_mut();
        let conn = &mut sessions[usize::from(nbe)];
        let list: Vec<String> = accounts
            .iter()
            .map(|(u, h)| sql::account(u, h, nbe))
            .collect();
        let list = list.join(", ");
        let listed = |conn: &mut Conn| -> Result<Listed, TestCaseError> {
            let rows: Vec<(Vec<u8>, Vec<u8>)> = rt
                .block_on(conn.query("SELECT User, Host FROM mysql.user"))
                .map_err(|e| TestCaseError::fail(format!("read mysql.user: {e}")))?;
            Ok(rows.into_iter().collect())
        };
        let want: Vec<(Vec<u8>, Vec<u8>)> = accounts
            .iter()
            .map(|(u, h)| (u.clone().into_bytes(), h.clone().into_bytes()))
            .collect();
        rt.block_on(conn.query_drop(format!("CREATE USER {list}")))
            .map_err(|e| TestCaseError::fail(format!("CREATE USER {list:?} (nbe {nbe}): {e}")))?;
        let present = listed(conn)?;
        let dropped = rt.block_on(conn.query_drop(format!("DROP USER {list}")));
        // This run's accounts as the server lists them, to show in a failure.
        let ours: Vec<(String, String)> = present
            .iter()
            .filter(|(_, h)| h.ends_with(tag.as_bytes()))
            .map(|(u, h)| {
                (
                    String::from_utf8_lossy(u).into(),
                    String::from_utf8_lossy(h).into(),
                )
            })
            .collect();
        for account in &want {
            prop_assert!(
                present.contains(account),
                "{:?} not in mysql.user after CREATE USER {:?} (nbe {}); listed: {:?}",
                account,
                list,
                nbe,
                ours
            );
        }
        dropped.map_err(|e| TestCaseError::fail(format!("DROP USER {list:?}: {e}")))?;
        let after = listed(conn)?;
        for account in &want {
            prop_assert!(!after.contains(account), "{:?} still there", account);
        }
        Ok(())
    });
}

/// Words and pieces of `SHOW GRANTS` and `SHOW CREATE USER` lines, to build lines that look
/// like theirs (and many that do not).
const WORDS: &[&str] = &[
    "GRANT",
    "REVOKE",
    "ON",
    "TO",
    "FROM",
    "FOR",
    "WITH",
    "GRANT OPTION",
    "ADMIN OPTION",
    "IDENTIFIED",
    "BY",
    "PASSWORD",
    "VIA",
    "USING",
    "AS",
    "OR",
    "AND",
    "REQUIRE",
    "SSL",
    "NONE",
    "MAX_QUERIES_PER_HOUR",
    "10",
    "PASSWORD EXPIRE",
    "ACCOUNT LOCK",
    "DEFAULT ROLE",
    "SET",
    "SELECT",
    "INSERT (`a`, `b`)",
    "ALL PRIVILEGES",
    "USAGE",
    "PROXY",
    "*.*",
    "`db`.*",
    "`db`.`t`",
    "PROCEDURE `db`.`p`",
    "`app`@`%`",
    "'app'@'%'",
    "\"app\"@\"%\"",
    "`ro``le`",
    "'*A4B6157319038724E3560894F7F932C8886EBFCF'",
    "mysql_native_password",
    ",",
    "(",
    ")",
    "'",
    "`",
    "\"",
    "\\",
    "é",
    "😀",
    "",
];

fn grant_like() -> impl Strategy<Value = String> {
    prop_oneof![
        vec(select(WORDS), 0..14).prop_map(|w| w.join(" ")),
        vec(
            prop_oneof![select(WORDS).prop_map(str::to_owned), hostile_string(3)],
            0..14
        )
        .prop_map(|w| w.join(" ")),
        hostile_string(40),
    ]
}

/// No line, however odd, makes a parser of server output panic.
#[test]
fn grant_and_account_parsers_take_any_line() {
    check(
        256,
        (
            vec(grant_like(), 0..4),
            vec(grant_like(), 0..4),
            hostile_string(6),
            hostile_string(6),
        ),
        |(admin_lines, original, user, host)| {
            for line in admin_lines.iter().chain(&original) {
                if let Some(grant) = rights::parse_grant(line) {
                    let upper = line.to_ascii_uppercase();
                    prop_assert!(upper.starts_with("GRANT ") || upper.starts_with("REVOKE "));
                    prop_assert_eq!(grant.revoke, upper.starts_with("REVOKE "));
                }
                let to = sql::account("x", "%", false);
                if let Some(rewritten) = sql::rewrite_grant(line, &user, &host, &to) {
                    prop_assert!(rewritten.contains(&to));
                }
                let _ = sql::grant_option_for(line, &user, &host, &to);
                for product in [sql::Product::MySql, sql::Product::MariaDb] {
                    let _ = sql::auth_of(line, product);
                    let _ = account::account_options(line, product);
                }
            }
            let _ = rights::holds_roles(&admin_lines);
            for mariadb in [false, true] {
                let out = rights::missing(&admin_lines, "`admin`@`%`", &original, mariadb);
                prop_assert!(out.iter().all(|m| !m.is_empty()));
            }
            Ok(())
        },
    );
}

/// A `SHOW GRANTS` line of an account with a hostile name, as MariaDB prints it (backticks,
/// doubled): `rewrite_grant` puts the new account in its place and keeps the rest.
#[test]
fn rewrite_grant_replaces_exactly_the_grantee() {
    let privileges = select(&["SELECT", "SELECT, INSERT", "USAGE", "ALL PRIVILEGES"][..]);
    let objects = select(&["*.*", "`appdb`.*", "`a``b`.`t`"][..]);
    let tails = select(&["", " WITH GRANT OPTION", " REQUIRE SSL"][..]);
    check(
        256,
        (
            hostile_string(8),
            hostile_string(8),
            privileges,
            objects,
            tails,
        ),
        |(user, host, privileges, object, tail)| {
            let bt = |s: &str| format!("`{}`", s.replace('`', "``"));
            let grantee = format!("{}@{}", bt(&user), bt(&host));
            let line = format!("GRANT {privileges} ON {object} TO {grantee}{tail}");
            let to = sql::account("new", "%", false);
            prop_assert_eq!(
                sql::rewrite_grant(&line, &user, &host, &to),
                Some(format!("GRANT {privileges} ON {object} TO {to}{tail}"))
            );
            let grant = rights::parse_grant(&line)
                .ok_or_else(|| TestCaseError::fail(format!("not parsed: {line:?}")))?;
            prop_assert_eq!(grant.object.as_deref(), Some(object));
            prop_assert_eq!(grant.passable, tail.contains("GRANT OPTION"));
            Ok(())
        },
    );
}
