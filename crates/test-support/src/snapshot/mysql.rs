//! The MySQL/MariaDB account snapshot: what the server holds about one account that decides
//! what a login as it may do, with its name and password taken out.
//!
//! It is read from the server's own tables and statements, not from the rotation code, so that
//! a mistake in how the function reads or copies an account cannot hide in the comparison too:
//! - the account's row of `mysql.user` (a view over `mysql.global_priv` on MariaDB 10.4+), and
//!   on MariaDB that JSON's lock and password lifetime, which the view leaves out:
//!   global privileges, the authentication plugin, `REQUIRE` (`ssl_type`, `ssl_cipher`,
//!   `x509_issuer`, `x509_subject`), the resource limits (`max_questions`, `max_updates`,
//!   `max_connections`, `max_user_connections`, MariaDB's `max_statement_time`), the lock and
//!   the password's expiry policy, MariaDB's `default_role`, MySQL 8's password-reuse and
//!   failed-login columns; every column but the name, the password hash and when the password
//!   last changed;
//! - `SHOW GRANTS`: database, table, column, routine, proxy and role grants with their
//!   `WITH GRANT OPTION` / `WITH ADMIN OPTION`, MariaDB's `SET DEFAULT ROLE` line and MySQL's
//!   partial revokes, the account spelled `<account>` and password clauses taken out;
//! - on MySQL 8+, the default roles (`mysql.default_roles`).

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};
use std::collections::{BTreeMap, BTreeSet};

/// What stands for the account itself in grant lines.
pub const ACCOUNT: &str = "<account>";

/// One account, comparable with another: equal exactly when a login as either may do the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The host part.
    pub host: String,
    /// The `mysql.user` columns, by name, each as text (`NULL` for null).
    pub user_row: BTreeMap<String, String>,
    /// The `SHOW GRANTS` lines.
    pub grants: BTreeSet<String>,
    /// MySQL 8+'s default roles as `role@host` (empty on MariaDB, whose `default_role` column
    /// and `SET DEFAULT ROLE` grant line carry it).
    pub default_roles: BTreeSet<String>,
}

impl Snapshot {
    /// What differs from `other`, one line per column, grant or role (empty when equal): for
    /// failure messages that show the difference rather than two whole snapshots.
    pub fn differences(&self, other: &Snapshot) -> Vec<String> {
        let mut out = Vec::new();
        if self.host != other.host {
            out.push(format!("host: {:?} vs {:?}", self.host, other.host));
        }
        let keys: BTreeSet<&String> = self.user_row.keys().chain(other.user_row.keys()).collect();
        for k in keys {
            let (a, b) = (self.user_row.get(k), other.user_row.get(k));
            if a != b {
                out.push(format!("{k}: {a:?} vs {b:?}"));
            }
        }
        for g in self.grants.symmetric_difference(&other.grants) {
            let side = if self.grants.contains(g) {
                "only first"
            } else {
                "only second"
            };
            out.push(format!("grant ({side}): {g}"));
        }
        for r in self
            .default_roles
            .symmetric_difference(&other.default_roles)
        {
            out.push(format!("default role (one side only): {r}"));
        }
        out
    }
}

/// What MariaDB's `mysql.global_priv` JSON holds and the `mysql.user` view does not, with the
/// value an absent key means.
const GLOBAL_PRIV_ONLY: &[(&str, &str)] =
    &[("account_locked", "false"), ("password_lifetime", "-1")];

/// Columns that differ between any two accounts whatever their rights: the name, the password
/// (hash, or MariaDB's old `Password` column) and when it was set.
const NOT_COMPARED: &[&str] = &[
    "user",
    "password",
    "authentication_string",
    "password_last_changed",
];

/// Read `user`@`host`'s snapshot through `conn` (a session that may read the `mysql` schema
/// and run `SHOW GRANTS` for any account). Panics, naming the account, when it does not exist.
pub async fn snapshot(conn: &mut Conn, user: &str, host: &str) -> Snapshot {
    let version: Option<String> = conn
        .query_first("SELECT VERSION()")
        .await
        .unwrap_or_else(|e| panic!("SELECT VERSION(): {e}"));
    let mariadb = version.unwrap_or_default().contains("MariaDB");
    let rows: Vec<Row> = conn
        .exec(
            "SELECT * FROM mysql.user WHERE User = ? AND Host = ?",
            (user, host),
        )
        .await
        .unwrap_or_else(|e| panic!("mysql.user of {user:?}@{host:?}: {e}"));
    let [row] = rows.as_slice() else {
        panic!("{user:?}@{host:?}: {} rows in mysql.user", rows.len());
    };
    let mut user_row = BTreeMap::new();
    for (i, column) in row.columns_ref().iter().enumerate() {
        let name = column.name_str().to_ascii_lowercase();
        if NOT_COMPARED.contains(&name.as_str()) {
            continue;
        }
        let value = match row.as_ref(i) {
            None | Some(Value::NULL) => "NULL".to_owned(),
            Some(Value::Bytes(b)) => String::from_utf8_lossy(b).into_owned(),
            Some(v) => v.as_sql(true),
        };
        user_row.insert(name, value);
    }

    // MariaDB 10.4+ keeps the lock and the password's lifetime only in `mysql.global_priv`'s
    // JSON, which the `mysql.user` view leaves out: they become `priv.` entries.
    let global_priv: Vec<Vec<u8>> = match mariadb {
        true => conn
            .exec(
                "SELECT Priv FROM mysql.global_priv WHERE User = ? AND Host = ?",
                (user, host),
            )
            .await
            .unwrap_or_else(|e| panic!("mysql.global_priv of {user:?}@{host:?}: {e}")),
        false => Vec::new(),
    };
    for json in global_priv {
        let value: serde_json::Value = serde_json::from_slice(&json)
            .unwrap_or_else(|e| panic!("mysql.global_priv of {user:?}@{host:?}: {e}"));
        let Some(object) = value.as_object() else {
            panic!("mysql.global_priv of {user:?}@{host:?} is not an object");
        };
        // The JSON leaves out what is at its default, where a statement that names the
        // default writes it; the view has the rest as columns.
        for (key, default) in GLOBAL_PRIV_ONLY {
            let value = object
                .get(*key)
                .map_or((*default).to_owned(), |v| v.to_string());
            user_row.insert(format!("priv.{key}"), value);
        }
    }

    let account = format!("{}@{}", quoted(user), quoted(host));
    let lines: Vec<Vec<u8>> = conn
        .query(format!("SHOW GRANTS FOR {account}"))
        .await
        .unwrap_or_else(|e| panic!("SHOW GRANTS FOR {account}: {e}"));
    let printed = format!("{}@{}", backticked(user), backticked(host));
    let grants = lines
        .into_iter()
        .map(|l| without_password(&String::from_utf8_lossy(&l).replace(&printed, ACCOUNT)))
        .collect();

    let default_roles = if mariadb {
        BTreeSet::new()
    } else {
        let roles: Vec<(String, String)> = conn
            .exec(
                "SELECT DEFAULT_ROLE_USER, DEFAULT_ROLE_HOST FROM mysql.default_roles WHERE USER = ? AND HOST = ?",
                (user, host),
            )
            .await
            .unwrap_or_else(|e| panic!("mysql.default_roles of {account}: {e}"));
        roles.into_iter().map(|(u, h)| format!("{u}@{h}")).collect()
    };

    Snapshot {
        host: host.to_owned(),
        user_row,
        grants,
        default_roles,
    }
}

/// A string literal in single quotes, for the session's default `sql_mode` (backslashes
/// escape).
fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

/// A name as `SHOW GRANTS` prints it.
fn backticked(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}

/// A grant line without MariaDB's `IDENTIFIED BY PASSWORD '…'` / `IDENTIFIED VIA plugin USING
/// '…'` (the USAGE line carries the account's password hash): from ` IDENTIFIED` to the end of
/// the first quoted value after it, or to the next ` REQUIRE ` / ` WITH ` when there is none.
fn without_password(line: &str) -> String {
    let Some(start) = line.find(" IDENTIFIED ") else {
        return line.to_owned();
    };
    let rest = &line[start..];
    let end = match rest.find('\'') {
        Some(open) => {
            let bytes = rest.as_bytes();
            let mut i = open + 1;
            while i < bytes.len() {
                match bytes[i] {
                    b'\\' => i += 1,
                    b'\'' if bytes.get(i + 1) == Some(&b'\'') => i += 1,
                    b'\'' => break,
                    _ => {}
                }
                i += 1;
            }
            (i + 1).min(rest.len())
        }
        None => [" REQUIRE ", " WITH "]
            .iter()
            .filter_map(|kw| rest.find(kw))
            .min()
            .unwrap_or(rest.len()),
    };
    format!("{}{}", &line[..start], &rest[end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_clauses_are_taken_out_of_grant_lines() {
        assert_eq!(
            without_password(
                "GRANT USAGE ON *.* TO <account> IDENTIFIED BY PASSWORD '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19' REQUIRE SSL"
            ),
            "GRANT USAGE ON *.* TO <account> REQUIRE SSL"
        );
        assert_eq!(
            without_password(
                "GRANT USAGE ON *.* TO <account> IDENTIFIED VIA ed25519 USING 'a''b\\'c' WITH MAX_USER_CONNECTIONS 3"
            ),
            "GRANT USAGE ON *.* TO <account> WITH MAX_USER_CONNECTIONS 3"
        );
        assert_eq!(
            without_password("GRANT USAGE ON *.* TO <account> IDENTIFIED VIA unix_socket"),
            "GRANT USAGE ON *.* TO <account>"
        );
        assert_eq!(
            without_password("GRANT SELECT ON `db`.* TO <account>"),
            "GRANT SELECT ON `db`.* TO <account>"
        );
    }
}
