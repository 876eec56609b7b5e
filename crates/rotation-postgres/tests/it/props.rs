//! Property tests of PostgreSQL escaping and of the parsing of stored settings: `sql::literal`
//! and `sql::ident` round-tripped through the shared server (a `SELECT` of literals, with
//! `standard_conforming_strings` on and off; roles created under hostile names and read back
//! from `pg_roles`), and `sql::split_list` / `sql::copy_setting`, which read
//! `pg_db_role_setting` and must take any entry without a panic.
//!
//! NUL is left out of every string sent: PostgreSQL text cannot hold it, and no query can
//! carry it (the protocol ends a query's text at NUL; tokio-postgres refuses to send one,
//! "error encoding message to server"). Multi-byte and other control characters are in.
//!
//! Cases: 128 for the literal round trip (8 strings per query, both settings), 96 for roles
//! (4 per batch), 256 for each pure property. Failures print the shrunk input; nothing is
//! persisted (`failure_persistence: None`), so no regression file appears in the tree.

use crate::common::{admin, db};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use rotation_postgres::sql;
use std::collections::BTreeSet;
use test_support::props::check;
use tokio_postgres::{Client, SimpleQueryMessage};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"))
}

/// Characters that quoting must get right, besides any character at all (but NUL).
const HOSTILE: &[char] = &[
    '\'', '"', '\\', '$', '%', '_', ',', ' ', '=', ';', '\n', '\r', '\t', '\u{8}', '\u{1b}',
    '\u{7f}', 'é', 'ß', '€', '𝄞', '😀', '\u{85}', '\u{a0}', '\u{2028}', '\u{feff}', '\u{202e}',
];

/// Runs that a wrong quoting would read as something else.
const RUNS: &[&str] = &[
    "\\'", "''", "\\\\", "E'", "$$", "$a$", "\"\"", "U&\"", "\\x41", "\\u0041", "--", "/*", "*/",
];

fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => any::<char>().prop_filter("no NUL", |c| *c != '\0').prop_map(String::from),
        4 => select(HOSTILE).prop_map(String::from),
        1 => select(RUNS).prop_map(str::to_owned),
    ]
}

fn hostile_string(max_pieces: usize) -> impl Strategy<Value = String> {
    vec(piece(), 0..=max_pieces).prop_map(|p| p.concat())
}

/// An admin session with `standard_conforming_strings` as given, checked.
async fn session(standard_conforming_strings: bool) -> Client {
    let c = admin(&db()).await;
    let value = if standard_conforming_strings {
        "on"
    } else {
        "off"
    };
    c.batch_execute(&format!("SET standard_conforming_strings = {value}"))
        .await
        .unwrap_or_else(|e| panic!("set standard_conforming_strings: {e}"));
    let row = c
        .query_one("SHOW standard_conforming_strings", &[])
        .await
        .unwrap_or_else(|e| panic!("read standard_conforming_strings: {e}"));
    assert_eq!(row.get::<_, String>(0), value);
    c
}

/// The text values of the one row a simple query returns.
async fn one_row(client: &Client, query: &str) -> Result<Vec<Option<String>>, TestCaseError> {
    let messages = client
        .simple_query(query)
        .await
        .map_err(|e| TestCaseError::fail(format!("{query:?}: {e}")))?;
    let rows: Vec<Vec<Option<String>>> = messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).map(str::to_owned))
                    .collect(),
            ),
            _ => None,
        })
        .collect();
    match <[_; 1]>::try_from(rows) {
        Ok([row]) => Ok(row),
        Err(rows) => Err(TestCaseError::fail(format!(
            "{query:?} returned {} rows",
            rows.len()
        ))),
    }
}

/// `SELECT <literal>, …` gives back exactly the strings, whether or not backslashes are
/// ordinary characters in plain literals.
#[test]
fn literals_round_trip_through_the_server() {
    let rt = runtime();
    let sessions = rt.block_on(async { [session(true).await, session(false).await] });
    check(128, vec(hostile_string(24), 1..=8), |strings| {
        for client in &sessions {
            let list: Vec<String> = strings.iter().map(|s| sql::literal(s)).collect();
            let query = format!("SELECT {}", list.join(", "));
            let row = rt.block_on(one_row(client, &query))?;
            let want: Vec<Option<String>> = strings.iter().cloned().map(Some).collect();
            prop_assert_eq!(row, want, "{:?}", query);
        }
        Ok(())
    });
}

/// A role name: hostile, tagged with this run so that every role is new, at most 63 bytes
/// (longer names are cut), and not starting with `pg_`, which the server reserves.
fn role_name(tag: String) -> impl Strategy<Value = String> {
    hostile_string(10)
        .prop_map(move |h| format!("{h}{tag}"))
        .prop_filter("fits and is not reserved", |n| {
            n.len() <= sql::DEFAULT_NAME_LIMIT && !n.to_ascii_lowercase().starts_with("pg_")
        })
}

/// Roles created under hostile names through `sql::ident` are listed in `pg_roles` under
/// exactly those names, and dropped again.
#[test]
fn roles_round_trip_through_the_server() {
    let rt = runtime();
    let client = rt.block_on(admin(&db()));
    let tag = test_support::unique("~p");
    let names = vec(role_name(tag.clone()), 1..=4)
        .prop_map(|n| n.into_iter().collect::<BTreeSet<String>>());
    let listed = || -> Result<BTreeSet<String>, TestCaseError> {
        let rows = rt
            .block_on(client.query("SELECT rolname::text FROM pg_roles", &[]))
            .map_err(|e| TestCaseError::fail(format!("read pg_roles: {e}")))?;
        Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
    };
    check(96, names, |names| {
        let batch = |verb: &str| {
            names
                .iter()
                .map(|n| format!("{verb} ROLE {};", sql::ident(n)))
                .collect::<String>()
        };
        let create = batch("CREATE");
        rt.block_on(client.batch_execute(&create))
            .map_err(|e| TestCaseError::fail(format!("{create:?}: {e}")))?;
        let present = listed()?;
        let dropped = rt.block_on(client.batch_execute(&batch("DROP")));
        let ours: Vec<&String> = present.iter().filter(|n| n.ends_with(&tag)).collect();
        for name in &names {
            prop_assert!(
                present.contains(name),
                "{:?} not in pg_roles after {:?}; listed: {:?}",
                name,
                create,
                ours
            );
        }
        dropped.map_err(|e| TestCaseError::fail(format!("DROP ROLE: {e}")))?;
        let after = listed()?;
        prop_assert!(names.iter().all(|n| !after.contains(n)), "not dropped");
        Ok(())
    });
}

/// A stored list as PostgreSQL prints it: each element double-quoted (`""` for a quote) or
/// bare when it is a plain word, joined by `", "`.
fn printed_list(items: &[String]) -> String {
    items
        .iter()
        .map(|i| {
            let bare = !i.is_empty()
                && i.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if bare {
                i.clone()
            } else {
                format!("\"{}\"", i.replace('"', "\"\""))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `split_list` gives back the elements of a list as the server prints it, and takes any
/// text without a panic.
#[test]
fn split_list_reads_back_printed_lists() {
    let element = prop_oneof![
        "[a-z_][a-z0-9_]{0,8}",
        hostile_string(6),
        Just("$user".to_owned())
    ];
    check(
        256,
        (vec(element, 1..6), hostile_string(30)),
        |(items, any)| {
            prop_assert_eq!(sql::split_list(&printed_list(&items)), items);
            let _ = sql::split_list(&any);
            Ok(())
        },
    );
}

/// `copy_setting` takes any `pg_db_role_setting` entry without a panic; what it makes is one
/// `ALTER ROLE` of the clone, and nothing for an entry without `=` or a name.
#[test]
fn copy_setting_takes_any_entry() {
    let name = prop_oneof![
        select(
            &[
                "search_path",
                "SEARCH_PATH",
                "role",
                "session_authorization",
                "work_mem",
                "temp_tablespaces"
            ][..]
        )
        .prop_map(str::to_owned),
        hostile_string(6),
    ];
    let entry = prop_oneof![
        (name, hostile_string(12)).prop_map(|(n, v)| format!("{n}={v}")),
        hostile_string(20),
    ];
    let database = prop::option::of(hostile_string(6));
    check(
        256,
        (hostile_string(6), database, entry),
        |(clone, database, entry)| {
            let made = sql::copy_setting(&clone, database.as_deref(), &entry);
            match entry.split_once('=') {
                None => prop_assert_eq!(made, None),
                Some(("", _)) => prop_assert_eq!(made, None),
                Some(_) => {
                    if let Some(statement) = made {
                        let start = format!("ALTER ROLE {}", sql::ident(&clone));
                        prop_assert!(statement.starts_with(&start), "{}", statement);
                    }
                }
            }
            Ok(())
        },
    );
}
