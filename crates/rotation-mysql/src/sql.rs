//! SQL text for MySQL and MariaDB, built only from escaped pieces: literal and account-name
//! quoting, the session's own `sql_mode`, the server's user-name limit, password hashes and the
//! statements that carry them, copying one account's grants to another, and checking that the
//! copy is exact.
//!
//! Account management statements (`CREATE USER`, `ALTER USER`, `GRANT`) take no placeholders,
//! so every value in them goes through [`literal`].

use crate::caching_sha2;
use sha1::{Digest, Sha1};
use std::collections::BTreeSet;
use std::fmt;

/// Quote a string literal. With `NO_BACKSLASH_ESCAPES` in the session's `sql_mode` only the
/// quote is doubled; otherwise backslashes and NUL are escaped as well.
///
/// The engine's own sessions always run with [`session_sql_mode`], in which backslashes
/// escape, so the engine passes `false`; `true` is for sessions whose mode says otherwise.
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

/// Which server a session talks to, from `SELECT VERSION()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Product {
    /// MySQL, Aurora MySQL.
    MySql,
    /// MariaDB (its `VERSION()` says so).
    MariaDb,
}

impl Product {
    /// The product of a `VERSION()` string.
    pub fn of(version: &str) -> Product {
        if version.to_ascii_lowercase().contains("mariadb") {
            Product::MariaDb
        } else {
            Product::MySql
        }
    }

    /// The name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Product::MySql => "MySQL",
            Product::MariaDb => "MariaDB",
        }
    }
}

/// The first three numbers of a version string, compared as numbers (so 9.x and 10.x work).
fn version_number(version: &str) -> (u32, u32, u32) {
    let mut parts = version
        .split(|c: char| !c.is_ascii_digit())
        .take(3)
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

/// The longest user name the server accepts, from `SELECT VERSION()`: MariaDB 80, MySQL
/// 5.7.8 and later 32, older MySQL 16.
pub fn username_limit(version: &str) -> usize {
    if Product::of(version) == Product::MariaDb {
        return 80;
    }
    if version_number(version) >= (5, 7, 8) {
        32
    } else {
        16
    }
}

/// The product name for messages.
pub fn product(version: &str) -> &'static str {
    Product::of(version).name()
}

/// The `sql_mode` every session of the function sets for itself, so that the server's global
/// mode cannot change how the statements here are parsed, nor how `SHOW GRANTS` prints what
/// is copied. It has none of the modes that change parsing: not `ANSI_QUOTES` (`"` would quote
/// identifiers, and `SHOW GRANTS` would print `"u"@"%"`), not `NO_BACKSLASH_ESCAPES` (the
/// server prints string values in `SHOW GRANTS` / `SHOW CREATE USER` with backslash escapes
/// whatever the mode, so only a mode in which backslashes escape reads them back as printed;
/// [`literal`] escapes to match), not `PIPES_AS_CONCAT`, `IGNORE_SPACE`, `ORACLE` or `ANSI`.
///
/// `NO_AUTO_CREATE_USER` keeps a `GRANT` to an account that vanished meanwhile from creating it
/// without a password (MariaDB, MySQL 5.7). MySQL 8.0 removed the mode, together with what it
/// prevents, and refuses its name.
pub fn session_sql_mode(version: &str) -> &'static str {
    if Product::of(version) == Product::MySql && version_number(version) >= (8, 0, 0) {
        "NO_ENGINE_SUBSTITUTION"
    } else {
        "NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION"
    }
}

/// `mysql_native_password`'s stored form of a password: `*` and the upper-case hex of
/// SHA1(SHA1(password)), what MySQL's and MariaDB's `PASSWORD()` compute on the server. The
/// bytes hashed are the password's UTF-8, the connection's character set, as at login.
pub fn native_password_hash(password: &str) -> String {
    let inner = Sha1::digest(password.as_bytes());
    let outer = Sha1::digest(inner);
    let mut out = String::with_capacity(41);
    out.push('*');
    for b in outer {
        out.push_str(&format!("{b:02X}"));
    }
    out
}

/// How an account authenticates, read from its `SHOW CREATE USER` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// `mysql_native_password`: the function computes the stored hash itself, and the server
    /// receives only that.
    NativePassword,
    /// One other plugin (`caching_sha2_password`, `sha256_password`, `ed25519`, …): its
    /// stored form is not computed here, so the server receives the password.
    Plugin(String),
    /// Not one plugin this code can name: MariaDB's `VIA a OR b`, MySQL's multi-factor
    /// `AND IDENTIFIED …`, or a line it does not recognise. The server's default applies.
    Unknown,
}

/// The end of a quoted token starting at `start` (the quote's index), past the closing quote.
pub(crate) fn quoted_end(text: &str, start: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let q = *bytes.get(start)?;
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if q != b'`' => i += 1,
            b if b == q && bytes.get(i + 1) == Some(&q) => i += 1,
            b if b == q => return Some(i + 1),
            _ => {}
        }
        i += 1;
    }
    None
}

/// The account's authentication from its `SHOW CREATE USER` line: MySQL prints
/// `IDENTIFIED WITH 'plugin' AS '…'`; MariaDB prints `IDENTIFIED BY PASSWORD '…'` for
/// `mysql_native_password`, `IDENTIFIED VIA plugin USING '…'` for others, and nothing for
/// `mysql_native_password` without a password.
pub fn auth_of(create_user: &str, product: Product) -> Auth {
    let Some(at) = find_keyword(create_user, "IDENTIFIED", 0) else {
        return match product {
            Product::MariaDb => Auth::NativePassword,
            Product::MySql => Auth::Unknown,
        };
    };
    if find_keyword(create_user, "IDENTIFIED", at + 1).is_some() {
        return Auth::Unknown;
    }
    let rest = create_user[at + " IDENTIFIED".len()..].trim_start();
    let upper = rest.to_ascii_uppercase();
    if upper.starts_with("BY PASSWORD ") {
        return Auth::NativePassword;
    }
    let Some(after) = ["WITH ", "VIA "]
        .iter()
        .find(|kw| upper.starts_with(*kw))
        .map(|kw| rest[kw.len()..].trim_start())
    else {
        return Auth::Unknown;
    };
    let (name, tail) = match after.as_bytes().first() {
        Some(b'\'' | b'"' | b'`') => match quoted_end(after, 0) {
            Some(end) => (after[1..end - 1].to_owned(), &after[end..]),
            None => return Auth::Unknown,
        },
        _ => {
            let end = after.find(' ').unwrap_or(after.len());
            (after[..end].to_owned(), &after[end..])
        }
    };
    if name.is_empty() || name.contains(['\\', '\'', '"', '`']) {
        return Auth::Unknown;
    }
    if find_keyword(tail, "OR", 0).is_some() {
        return Auth::Unknown;
    }
    if name.eq_ignore_ascii_case("mysql_native_password") {
        Auth::NativePassword
    } else {
        Auth::Plugin(name.to_ascii_lowercase())
    }
}

/// A statement that sets a password. No `Debug`: it holds a password or its hash.
pub struct PasswordStatement {
    /// The SQL text.
    pub sql: String,
    /// The quoted password or hash in it, to keep out of error messages.
    pub secret: String,
    /// Whether the server receives the password itself (it shows in the general log and
    /// `SHOW PROCESSLIST`), not only a hash.
    pub plaintext: bool,
    /// Whether it keeps the current password valid beside the new one (`RETAIN CURRENT
    /// PASSWORD`).
    pub retains: bool,
}

/// A new password, and the salt of its `caching_sha2_password` hash (drawn once per step, so
/// that the statements of one step agree). No `Debug`: it holds the password.
pub struct NewPassword<'a> {
    /// The password.
    pub text: &'a str,
    /// The salt for [`caching_sha2::stored_form`].
    pub salt: [u8; caching_sha2::SALT_LEN],
}

impl<'a> NewPassword<'a> {
    /// `text` with a fresh salt from the operating system's generator.
    pub fn new(text: &'a str) -> Result<NewPassword<'a>, getrandom::Error> {
        Ok(NewPassword {
            text,
            salt: caching_sha2::new_salt()?,
        })
    }

    /// The hash the server stores for this password under `auth`'s plugin, as the literal an
    /// `AS` clause takes, where the function can compute it: `mysql_native_password`'s `*…`,
    /// and MySQL's `caching_sha2_password` `$A$005$…` (as hex, since its salt may hold any
    /// byte the server's own salts hold). `None` for every other plugin.
    fn hash_literal(&self, product: Product, auth: &Auth) -> Option<String> {
        match (product, auth) {
            (_, Auth::NativePassword) => Some(literal(&native_password_hash(self.text), false)),
            (Product::MySql, Auth::Plugin(p))
                if p == CACHING_SHA2 && self.text.len() <= caching_sha2::MAX_PASSWORD_BYTES =>
            {
                Some(caching_sha2::hex_literal(&caching_sha2::stored_form(
                    self.text.as_bytes(),
                    &self.salt,
                )))
            }
            _ => None,
        }
    }
}

/// MySQL 8's default authentication plugin, and the only one MySQL 9 has for passwords.
pub const CACHING_SHA2: &str = "caching_sha2_password";

/// The `IDENTIFIED …` clause that gives an account `password` under `auth`'s plugin, for
/// `CREATE USER` and `ALTER USER`: the hash where the function can compute it
/// (`mysql_native_password`, MySQL's `caching_sha2_password`), the password otherwise.
pub fn identified(product: Product, auth: &Auth, password: &NewPassword<'_>) -> PasswordStatement {
    if let Some(hash) = password.hash_literal(product, auth) {
        let sql = match (product, auth) {
            (Product::MariaDb, _) => format!("IDENTIFIED BY PASSWORD {hash}"),
            (Product::MySql, Auth::Plugin(p)) => {
                format!("IDENTIFIED WITH {} AS {hash}", literal(p, false))
            }
            (Product::MySql, _) => format!("IDENTIFIED WITH mysql_native_password AS {hash}"),
        };
        return PasswordStatement {
            sql,
            secret: hash,
            plaintext: false,
            retains: false,
        };
    }
    let pw = literal(password.text, false);
    let sql = match (product, auth) {
        (Product::MariaDb, Auth::Plugin(p)) => {
            format!("IDENTIFIED VIA {} USING PASSWORD({pw})", literal(p, false))
        }
        (Product::MySql, Auth::Plugin(p)) => {
            format!("IDENTIFIED WITH {} BY {pw}", literal(p, false))
        }
        _ => format!("IDENTIFIED BY {pw}"),
    };
    PasswordStatement {
        sql,
        secret: pw,
        plaintext: true,
        retains: false,
    }
}

/// Whether a server keeps a second password beside the primary one (`RETAIN CURRENT
/// PASSWORD`): MySQL 8.0.14 and later.
pub fn has_dual_passwords(version: &str) -> bool {
    Product::of(version) == Product::MySql && version_number(version) >= (8, 0, 14)
}

/// How the session's own user changes its password.
pub struct OwnChange<'a> {
    /// MySQL or MariaDB.
    pub product: Product,
    /// The account's plugin.
    pub auth: &'a Auth,
    /// The password the session logged in with, given when the account says `PASSWORD
    /// REQUIRE CURRENT` (MySQL 8.0.13+).
    pub current: Option<&'a str>,
    /// Keep the password the session logged in with valid beside the new one (MySQL 8.0.14+
    /// `RETAIN CURRENT PASSWORD`): no login fails between setSecret and finishSecret.
    pub retain: bool,
}

/// The statements by which the session's own user sets its password, in the order to try: the
/// next one only when the server refuses the one before for lack of a privilege.
///
/// MariaDB lets every user run `SET PASSWORD` for itself, with a hash or with `PASSWORD()`
/// (which uses the account's plugin), while its `ALTER USER` wants the CREATE USER privilege.
/// MySQL 5.7/8/9 let a user change its own password only with `ALTER USER … IDENTIFIED BY`
/// (without `WITH`); the hash form (`IDENTIFIED WITH … AS`) wants CREATE USER or UPDATE on
/// the `mysql` schema, so it comes first and the text form is the fallback. (MySQL's
/// `SET PASSWORD = '…'` takes the password itself since 5.7.6, never a hash, so it is not used.)
///
/// With `current` (`PASSWORD REQUIRE CURRENT`) the text form ends with `REPLACE '<current>'`,
/// which MySQL wants from a user that changes its own password without the CREATE USER
/// privilege. (The hash form needs that privilege, which waives the requirement.)
///
/// With `retain`, each form keeps the current password as the secondary one (`RETAIN CURRENT
/// PASSWORD`, which wants CREATE USER, or APPLICATION_PASSWORD_ADMIN for one's own account),
/// and the last statement is the text form without it, for an account that holds neither.
pub fn own_password(change: &OwnChange<'_>, password: &NewPassword<'_>) -> Vec<PasswordStatement> {
    let pw = literal(password.text, false);
    let replace = change
        .current
        .map(|c| format!(" REPLACE {}", literal(c, false)))
        .unwrap_or_default();
    let hash = password.hash_literal(change.product, change.auth);
    if change.product == Product::MariaDb {
        return vec![match (change.auth, hash) {
            (Auth::NativePassword, Some(hash)) => PasswordStatement {
                sql: format!("SET PASSWORD = {hash}"),
                secret: hash,
                plaintext: false,
                retains: false,
            },
            _ => PasswordStatement {
                sql: format!("SET PASSWORD = PASSWORD({pw})"),
                secret: pw,
                plaintext: true,
                retains: false,
            },
        }];
    }
    let text_forms: &[bool] = if change.retain {
        &[true, false]
    } else {
        &[false]
    };
    let mut statements = Vec::new();
    if let Some(hash) = hash {
        let plugin = match change.auth {
            Auth::Plugin(p) => literal(p, false),
            _ => "mysql_native_password".to_owned(),
        };
        let retain = if change.retain {
            " RETAIN CURRENT PASSWORD"
        } else {
            ""
        };
        statements.push(PasswordStatement {
            sql: format!("ALTER USER CURRENT_USER() IDENTIFIED WITH {plugin} AS {hash}{retain}"),
            secret: hash,
            plaintext: false,
            retains: change.retain,
        });
    }
    for &retains in text_forms {
        let retain = if retains {
            " RETAIN CURRENT PASSWORD"
        } else {
            ""
        };
        statements.push(PasswordStatement {
            sql: format!("ALTER USER CURRENT_USER() IDENTIFIED BY {pw}{replace}{retain}"),
            secret: pw.clone(),
            plaintext: true,
            retains,
        });
    }
    statements
}

/// For the preflight: how single-user setSecret changes the password of an account with
/// `auth` and `rights` on the server of `version`, and why, in two sentences: what the server
/// receives (the hash, or the password itself), and whether the old password keeps working
/// until the next rotation or stops at setSecret.
pub fn own_change_mode(
    version: &str,
    auth: &Auth,
    rights: &crate::rights::OwnPasswordRights,
    previous: rotation_core::config::PreviousPassword,
) -> String {
    use rotation_core::config::PreviousPassword;
    let product = Product::of(version);
    let plugin = match auth {
        Auth::NativePassword => "mysql_native_password",
        Auth::Plugin(p) => p.as_str(),
        Auth::Unknown => "an authentication method the function cannot name",
    };
    let computable = matches!(auth, Auth::NativePassword)
        || (product == Product::MySql && matches!(auth, Auth::Plugin(p) if p == CACHING_SHA2));
    let through_roles = if rights.roles {
        " (it holds roles, whose privileges are not counted here)"
    } else {
        ""
    };
    let sent = match (product, computable) {
        (Product::MariaDb, true) => format!(
            "The server receives the new password's {plugin} hash, never the password (SET PASSWORD)."
        ),
        (Product::MySql, true) if rights.create_user => format!(
            "The server receives the new password's {plugin} hash, never the password: the user holds CREATE USER, which setting one's own hash needs."
        ),
        (Product::MySql, true) => format!(
            "The server receives the new password itself (ALTER USER … IDENTIFIED BY, over the login's connection): MySQL lets a user set its own password's {plugin} hash only with CREATE USER, which the user lacks{through_roles}."
        ),
        (_, false) => format!(
            "The server receives the new password itself: the function computes no hash for {plugin}."
        ),
    };
    let kept = match product {
        Product::MariaDb => format!("{} has no dual passwords: between setSecret and finishSecret new logins with the old password fail.", product.name()),
        Product::MySql if !has_dual_passwords(version) => format!("MySQL {version} has no dual passwords (8.0.14 and later have): between setSecret and finishSecret new logins with the old password fail."),
        Product::MySql if previous == PreviousPassword::Discard => "PREVIOUS_PASSWORD=discard: the old password stops working at setSecret, and new logins with it fail until finishSecret.".to_owned(),
        Product::MySql if rights.create_user || rights.application_password_admin => "The old password stays valid beside the new one until the next rotation (RETAIN CURRENT PASSWORD): no login fails during a rotation.".to_owned(),
        Product::MySql => format!("Between setSecret and finishSecret new logins with the old password fail: keeping it valid beside the new one (RETAIN CURRENT PASSWORD) needs APPLICATION_PASSWORD_ADMIN, which the user lacks{through_roles}; GRANT APPLICATION_PASSWORD_ADMIN ON *.* to the user to close that window."),
    };
    format!("{sent} {kept}")
}

/// Ways a server may print an account in `SHOW GRANTS`: backticks (MySQL 8, MariaDB), single
/// quotes (MySQL 5.7) with either style of quote escaping, or double quotes (`ANSI_QUOTES` in
/// the session's `sql_mode`; the function sets its own mode, this is a second line of defence).
fn grantee_spellings(user: &str, host: &str) -> Vec<String> {
    let bt = |s: &str| format!("`{}`", s.replace('`', "``"));
    let dq = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let sq_double = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let sq_backslash = |s: &str| format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"));
    let mut out = vec![
        format!("{}@{}", bt(user), bt(host)),
        format!("{}@{}", dq(user), dq(host)),
        format!("{}@{}", sq_double(user), sq_double(host)),
        format!("{}@{}", sq_backslash(user), sq_backslash(host)),
    ];
    out.dedup();
    out
}

/// Find `word` (case-insensitive, surrounded by spaces) outside quotes, from `from`.
pub(crate) fn find_keyword(sql: &str, word: &str, from: usize) -> Option<usize> {
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
                // Bytes, not `str` slices: `i` may fall inside a multi-byte character, and a
                // panic here would quote the line, password hash included.
                let rest = &bytes[i..];
                if rest.len() >= word.len() + 2
                    && rest[0] == b' '
                    && rest[1..=word.len()].eq_ignore_ascii_case(word.as_bytes())
                    && matches!(rest.get(word.len() + 1), Some(b' ') | None)
                {
                    return Some(i);
                }
            }
        }
        i += 1;
    }
    None
}

/// `text` without its `IDENTIFIED BY PASSWORD '…'` / `IDENTIFIED VIA …` clause (MariaDB
/// prints one in the USAGE line), up to the `REQUIRE …` or `WITH …` that follows.
fn without_identified(text: &str) -> String {
    let Some(p) = find_keyword(text, "IDENTIFIED", 0) else {
        return text.to_owned();
    };
    let after = ["REQUIRE", "WITH"]
        .iter()
        .filter_map(|kw| find_keyword(text, kw, p + 1))
        .min()
        .unwrap_or(text.len());
    format!("{}{}", &text[..p], &text[after..])
}

/// Rewrite one `SHOW GRANTS` line of `from` so that it grants the same to `to` (an account
/// already quoted with [`account`]). Password clauses are dropped: the new account gets its own
/// password. `None` if the line does not name `from` as grantee.
pub fn rewrite_grant(line: &str, from_user: &str, from_host: &str, to: &str) -> Option<String> {
    let spellings = grantee_spellings(from_user, from_host);
    // The grantee follows the last " TO " (GRANT), " FOR " (SET DEFAULT ROLE) or " FROM "
    // (MySQL's partial revokes, printed as REVOKE lines after the grants they narrow).
    let (start, len) = spellings
        .iter()
        .filter_map(|g| {
            [" TO ", " FOR ", " FROM "]
                .iter()
                .filter_map(|kw| {
                    line.rfind(&format!("{kw}{g}"))
                        .map(|p| (p + kw.len(), g.len()))
                })
                .max()
        })
        .max()?;
    let tail = without_identified(&line[start + len..]);
    Some(format!("{}{}{}", &line[..start], to, tail))
}

/// The statement that gives `to` (an account, already quoted) the right to pass on what `line`
/// (a `SHOW GRANTS` line of `from`) grants: the same grant `WITH GRANT OPTION`, or for a role
/// `WITH ADMIN OPTION`. Other lines (`REVOKE`, `SET DEFAULT ROLE`) come back rewritten as
/// they are; a line that does not name `from`, empty.
pub fn grant_option_for(line: &str, from_user: &str, from_host: &str, to: &str) -> String {
    let Some(grant) = rewrite_grant(line, from_user, from_host, to) else {
        return String::new();
    };
    let upper = grant.to_ascii_uppercase();
    if !upper.starts_with("GRANT ") {
        return grant;
    }
    // A privilege grant has `ON object`; a role grant (`GRANT r TO u`) has none.
    let option = match find_keyword(&grant, "ON", 0) {
        Some(_) => "WITH GRANT OPTION",
        None => "WITH ADMIN OPTION",
    };
    if upper.contains(&format!(" {option}")) {
        grant
    } else {
        format!("{grant} {option}")
    }
}

/// One account's privileges as the server prints them.
pub struct Privileges<'a> {
    /// User name.
    pub user: &'a str,
    /// Host part.
    pub host: &'a str,
    /// `SHOW GRANTS FOR` the account.
    pub grants: &'a [String],
    /// `SHOW CREATE USER` of the account: its options ([`crate::account`]).
    pub create_user: &'a str,
    /// The server's product, which decides which options it has.
    pub product: Product,
}

/// What stands for the account in compared lines.
const GRANTEE: &str = "<account>";

impl Privileges<'_> {
    /// The grant lines with the account's name replaced by [`GRANTEE`] and password clauses
    /// removed (a line that names the account in a spelling not recognised stays as printed,
    /// so that it shows up as a difference rather than vanish), and the account options as
    /// the clone's `CREATE USER` would spell them (or why they cannot be read).
    fn normalised(&self) -> (BTreeSet<String>, String) {
        let grants = self
            .grants
            .iter()
            .map(|line| {
                rewrite_grant(line, self.user, self.host, GRANTEE)
                    .unwrap_or_else(|| without_identified(line))
            })
            .collect();
        let options = match crate::account::account_options(self.create_user, self.product) {
            Ok(o) if o.default_roles.is_empty() => o.clauses(),
            Ok(o) => format!(
                "{} DEFAULT ROLE {}",
                o.clauses(),
                o.default_roles.join(", ")
            ),
            Err(e) => format!("(options not read: {e})"),
        };
        (grants, options)
    }
}

/// How a copy differs from its original, with both accounts' names taken out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyMismatch {
    /// Lines the original has and the copy lacks.
    pub missing: Vec<String>,
    /// Lines the copy has and the original lacks.
    pub extra: Vec<String>,
    /// The account options (`REQUIRE`, resource limits, password policy, default roles) of the
    /// original and the copy, when they differ.
    pub options: Option<(String, String)>,
}

impl fmt::Display for CopyMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if self.missing.is_empty() && self.extra.is_empty() && self.options.is_none() {
            parts.push("SHOW GRANTS printed nothing to compare".to_owned());
        }
        if !self.missing.is_empty() {
            parts.push(format!("missing on the copy: {}", self.missing.join("; ")));
        }
        if !self.extra.is_empty() {
            parts.push(format!("extra on the copy: {}", self.extra.join("; ")));
        }
        if let Some((original, copy)) = &self.options {
            parts.push(format!(
                "the original's account options are {original}, the copy's {copy}"
            ));
        }
        f.write_str(&parts.join("; "))
    }
}

/// Check that `copy` has exactly `original`'s grants and account options. An original with no
/// grant lines at all is a mismatch too: `SHOW GRANTS` always prints at least the USAGE line,
/// so nothing means nothing was read.
pub fn compare_copy(original: &Privileges<'_>, copy: &Privileges<'_>) -> Result<(), CopyMismatch> {
    let (want, want_options) = original.normalised();
    let (have, have_options) = copy.normalised();
    let unread = want_options.starts_with('(') || have_options.starts_with('(');
    let mismatch = CopyMismatch {
        missing: want.difference(&have).cloned().collect(),
        extra: have.difference(&want).cloned().collect(),
        options: (want_options != have_options || unread).then_some((want_options, have_options)),
    };
    if want.is_empty()
        || !mismatch.missing.is_empty()
        || !mismatch.extra.is_empty()
        || mismatch.options.is_some()
    {
        return Err(mismatch);
    }
    Ok(())
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
    fn grantees_in_ansi_quotes_are_recognised() {
        // ANSI_QUOTES in the server's sql_mode: identifiers in double quotes, `"` doubled.
        assert_eq!(
            rewrite_grant(
                r#"GRANT SELECT ON "db".* TO "app"@"%" WITH GRANT OPTION"#,
                "app",
                "%",
                "X"
            )
            .as_deref(),
            Some(r#"GRANT SELECT ON "db".* TO X WITH GRANT OPTION"#)
        );
        assert_eq!(
            rewrite_grant(r#"GRANT USAGE ON *.* TO "a""b"@"%""#, "a\"b", "%", "X").as_deref(),
            Some("GRANT USAGE ON *.* TO X")
        );
    }

    #[test]
    fn the_right_to_pass_a_grant_on_is_spelled_out() {
        let admin = "'admin'@'%'";
        let cases = [
            (
                "GRANT SELECT, INSERT ON `db`.* TO `app`@`%`",
                "GRANT SELECT, INSERT ON `db`.* TO 'admin'@'%' WITH GRANT OPTION",
            ),
            (
                "GRANT PROXY ON `other`@`%` TO `app`@`%`",
                "GRANT PROXY ON `other`@`%` TO 'admin'@'%' WITH GRANT OPTION",
            ),
            (
                "GRANT `reader` TO `app`@`%`",
                "GRANT `reader` TO 'admin'@'%' WITH ADMIN OPTION",
            ),
            (
                "GRANT `reader`@`%` TO `app`@`%` WITH ADMIN OPTION",
                "GRANT `reader`@`%` TO 'admin'@'%' WITH ADMIN OPTION",
            ),
            (
                "GRANT EXECUTE ON PROCEDURE `db`.`p` TO `app`@`%` WITH GRANT OPTION",
                "GRANT EXECUTE ON PROCEDURE `db`.`p` TO 'admin'@'%' WITH GRANT OPTION",
            ),
            (
                "SET DEFAULT ROLE `r` FOR `app`@`%`",
                "SET DEFAULT ROLE `r` FOR 'admin'@'%'",
            ),
            ("GRANT SELECT ON *.* TO `other`@`%`", ""),
        ];
        for (line, want) in cases {
            assert_eq!(grant_option_for(line, "app", "%", admin), want, "{line}");
        }
    }

    #[test]
    fn mysql_8_grant_lines_are_rewritten_for_the_clone() {
        // As MySQL 8.0/8.4/9.x print them: dynamic privileges on their own line, roles with a
        // host part, partial revokes (`partial_revokes=ON`) after the grants they narrow. Each
        // is replayed in order, so the revoke narrows the copy's grant as it does the original's.
        let to = "X";
        let cases = [
            (
                "GRANT BACKUP_ADMIN,CONNECTION_ADMIN ON *.* TO `app`@`%`",
                "GRANT BACKUP_ADMIN,CONNECTION_ADMIN ON *.* TO X",
            ),
            (
                "GRANT `reader`@`%`,`writer`@`%` TO `app`@`%`",
                "GRANT `reader`@`%`,`writer`@`%` TO X",
            ),
            (
                "GRANT SELECT, INSERT ON *.* TO `app`@`%`",
                "GRANT SELECT, INSERT ON *.* TO X",
            ),
            (
                "REVOKE INSERT ON `mysql`.* FROM `app`@`%`",
                "REVOKE INSERT ON `mysql`.* FROM X",
            ),
            (
                "GRANT PROXY ON ``@`` TO `app`@`%` WITH GRANT OPTION",
                "GRANT PROXY ON ``@`` TO X WITH GRANT OPTION",
            ),
        ];
        for (line, want) in cases {
            assert_eq!(
                rewrite_grant(line, "app", "%", to).as_deref(),
                Some(want),
                "{line}"
            );
        }
    }

    #[test]
    fn partial_revokes_are_rewritten_for_the_clone() {
        assert_eq!(
            rewrite_grant("REVOKE INSERT ON `mysql`.* FROM `app`@`%`", "app", "%", "X").as_deref(),
            Some("REVOKE INSERT ON `mysql`.* FROM X")
        );
    }

    #[test]
    fn native_hash_is_what_password_computes_on_the_server() {
        // Values of PASSWORD() on MariaDB 10.11 and MySQL 5.7.
        assert_eq!(
            native_password_hash("password"),
            "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"
        );
        assert_eq!(
            native_password_hash("x"),
            "*B69027D44F6E5EDC07F1AEAD1477967B16F28227"
        );
        assert_eq!(
            native_password_hash("p1"),
            "*9F75CEF7FD0C75DC40611DD8F86B6FFF569BF56D"
        );
    }

    #[test]
    fn session_mode_parses_as_written_and_names_only_modes_the_server_knows() {
        for version in ["10.11.19-MariaDB-0+deb12u1", "5.7.44-log", "5.6.51"] {
            assert_eq!(
                session_sql_mode(version),
                "NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION",
                "{version}"
            );
        }
        for version in ["8.0.36", "8.4.0", "9.1.0", "8.0.mysql_aurora.3.05.2"] {
            assert_eq!(
                session_sql_mode(version),
                "NO_ENGINE_SUBSTITUTION",
                "{version}"
            );
        }
        for version in ["10.11.19-MariaDB", "8.0.36"] {
            let mode = session_sql_mode(version);
            for parsing in ["ANSI", "QUOTES", "BACKSLASH", "PIPES", "SPACE", "ORACLE"] {
                assert!(!mode.contains(parsing), "{mode}");
            }
        }
    }

    #[test]
    fn auth_plugin_is_read_from_show_create_user() {
        use Product::{MariaDb, MySql};
        let cases = [
            // MySQL 8 and 5.7.
            (
                "CREATE USER `a`@`%` IDENTIFIED WITH 'mysql_native_password' AS '*B69027D44F6E5EDC07F1AEAD1477967B16F28227' REQUIRE NONE PASSWORD EXPIRE DEFAULT ACCOUNT UNLOCK",
                MySql,
                Auth::NativePassword,
            ),
            (
                "CREATE USER `a`@`%` IDENTIFIED WITH 'caching_sha2_password' AS '$A$005$x\\y''z' REQUIRE NONE PASSWORD EXPIRE DEFAULT ACCOUNT UNLOCK",
                MySql,
                Auth::Plugin("caching_sha2_password".into()),
            ),
            (
                "CREATE USER 'a'@'%' IDENTIFIED WITH 'sha256_password' REQUIRE NONE",
                MySql,
                Auth::Plugin("sha256_password".into()),
            ),
            (
                "CREATE USER `a`@`%` IDENTIFIED WITH 'caching_sha2_password' AS 'x' AND IDENTIFIED WITH 'authentication_webauthn'",
                MySql,
                Auth::Unknown,
            ),
            ("CREATE USER `a`@`%`", MySql, Auth::Unknown),
            // MariaDB, as 10.11 prints them.
            (
                "CREATE USER `a`@`%` IDENTIFIED BY PASSWORD '*B69027D44F6E5EDC07F1AEAD1477967B16F28227'",
                MariaDb,
                Auth::NativePassword,
            ),
            ("CREATE USER `a`@`%`", MariaDb, Auth::NativePassword),
            (
                "CREATE USER `a`@`%` IDENTIFIED VIA ed25519 USING 'Gv2JI8Env2fd5YGonZ082tX3UAW+yJYldOlj4R1bfK4' REQUIRE SSL",
                MariaDb,
                Auth::Plugin("ed25519".into()),
            ),
            (
                "CREATE USER `a`@`%` IDENTIFIED VIA mysql_native_password USING '*B69027D44F6E5EDC07F1AEAD1477967B16F28227' OR unix_socket",
                MariaDb,
                Auth::Unknown,
            ),
            // A REQUIRE value that looks like a clause is inside quotes.
            (
                "CREATE USER `a`@`%` REQUIRE SUBJECT ' IDENTIFIED VIA x'",
                MariaDb,
                Auth::NativePassword,
            ),
        ];
        for (line, product, want) in cases {
            assert_eq!(auth_of(line, product), want, "{line}");
        }
    }

    /// "password" with a fixed salt.
    fn new_password(text: &str) -> NewPassword<'_> {
        NewPassword {
            text,
            salt: *b"0123456789abcdefghij",
        }
    }

    #[test]
    fn password_clauses_send_the_hash_where_the_plugin_allows_it() {
        use Product::{MariaDb, MySql};
        let hash = "'*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19'";
        let sha2 = caching_sha2::hex_literal(&caching_sha2::stored_form(
            b"password",
            b"0123456789abcdefghij",
        ));
        let cases = [
            (
                MariaDb,
                Auth::NativePassword,
                format!("IDENTIFIED BY PASSWORD {hash}"),
                false,
            ),
            (
                MySql,
                Auth::NativePassword,
                format!("IDENTIFIED WITH mysql_native_password AS {hash}"),
                false,
            ),
            (
                MySql,
                Auth::Plugin("caching_sha2_password".into()),
                format!("IDENTIFIED WITH 'caching_sha2_password' AS {sha2}"),
                false,
            ),
            (
                MySql,
                Auth::Plugin("sha256_password".into()),
                "IDENTIFIED WITH 'sha256_password' BY 'password'".into(),
                true,
            ),
            (
                MariaDb,
                Auth::Plugin("ed25519".into()),
                "IDENTIFIED VIA 'ed25519' USING PASSWORD('password')".into(),
                true,
            ),
            (
                MySql,
                Auth::Unknown,
                "IDENTIFIED BY 'password'".into(),
                true,
            ),
            (
                MariaDb,
                Auth::Unknown,
                "IDENTIFIED BY 'password'".into(),
                true,
            ),
        ];
        for (product, auth, sql, plaintext) in cases {
            let got = identified(product, &auth, &new_password("password"));
            assert_eq!(got.sql, sql, "{product:?} {auth:?}");
            assert_eq!(got.plaintext, plaintext, "{product:?} {auth:?}");
            assert!(got.sql.contains(&got.secret), "{}", got.sql);
            assert_eq!(
                got.sql.contains("'password'"),
                plaintext,
                "only the plaintext forms carry the password: {}",
                got.sql
            );
        }
        // Quotes and backslashes in a password stay inside its literal.
        assert_eq!(
            identified(MySql, &Auth::Unknown, &new_password(r"a'b\c")).sql,
            r"IDENTIFIED BY 'a''b\\c'"
        );
        // A password longer than MySQL hashes goes as text, for the server to refuse.
        let long = "x".repeat(caching_sha2::MAX_PASSWORD_BYTES + 1);
        assert!(
            identified(
                MySql,
                &Auth::Plugin("caching_sha2_password".into()),
                &new_password(&long)
            )
            .plaintext
        );
    }

    #[test]
    fn own_password_statements_by_product_and_plugin() {
        use Product::{MariaDb, MySql};
        let hash = "'*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19'";
        let sha2 = caching_sha2::hex_literal(&caching_sha2::stored_form(
            b"password",
            b"0123456789abcdefghij",
        ));
        let sqls = |product, auth: Auth, current: Option<&str>, retain| -> Vec<(String, bool)> {
            let change = OwnChange {
                product,
                auth: &auth,
                current,
                retain,
            };
            own_password(&change, &new_password("password"))
                .into_iter()
                .map(|s| (s.sql, s.plaintext))
                .collect()
        };
        let text = |sql: &str| (sql.to_owned(), true);
        assert_eq!(
            sqls(MariaDb, Auth::NativePassword, None, false),
            [(format!("SET PASSWORD = {hash}"), false)]
        );
        assert_eq!(
            sqls(MariaDb, Auth::Plugin("ed25519".into()), None, false),
            [text("SET PASSWORD = PASSWORD('password')")]
        );
        assert_eq!(
            sqls(MySql, Auth::NativePassword, None, false),
            [
                (
                    format!(
                        "ALTER USER CURRENT_USER() IDENTIFIED WITH mysql_native_password AS {hash}"
                    ),
                    false
                ),
                text("ALTER USER CURRENT_USER() IDENTIFIED BY 'password'"),
            ]
        );
        assert_eq!(
            sqls(
                MySql,
                Auth::Plugin("caching_sha2_password".into()),
                None,
                false
            ),
            [
                (
                    format!(
                        "ALTER USER CURRENT_USER() IDENTIFIED WITH 'caching_sha2_password' AS {sha2}"
                    ),
                    false
                ),
                text("ALTER USER CURRENT_USER() IDENTIFIED BY 'password'"),
            ]
        );
        assert_eq!(
            sqls(MySql, Auth::Unknown, None, false),
            [text("ALTER USER CURRENT_USER() IDENTIFIED BY 'password'")]
        );
        // PASSWORD REQUIRE CURRENT: the text form gives the current password too (MySQL 8's
        // grammar: `ALTER USER CURRENT_USER() IDENTIFIED BY 'new' REPLACE 'current'`); the hash
        // form needs CREATE USER, which waives the requirement, so it has no REPLACE.
        assert_eq!(
            sqls(MySql, Auth::NativePassword, Some("o'ld\\"), false),
            [
                (
                    format!(
                        "ALTER USER CURRENT_USER() IDENTIFIED WITH mysql_native_password AS {hash}"
                    ),
                    false
                ),
                text(r"ALTER USER CURRENT_USER() IDENTIFIED BY 'password' REPLACE 'o''ld\\'"),
            ]
        );
        // Dual passwords: each form retains the current password, and the last one, for an
        // account without the right to, does not; each statement says which it is.
        let sha2_auth = Auth::Plugin("caching_sha2_password".into());
        let dual = OwnChange {
            product: MySql,
            auth: &sha2_auth,
            current: None,
            retain: true,
        };
        let statements = own_password(&dual, &new_password("password"));
        for s in &statements {
            assert_eq!(
                s.retains,
                s.sql.ends_with("RETAIN CURRENT PASSWORD"),
                "{}",
                s.sql
            );
        }
        assert_eq!(
            statements.iter().map(|s| s.retains).collect::<Vec<_>>(),
            [true, true, false]
        );
        assert_eq!(
            sqls(
                MySql,
                Auth::Plugin("caching_sha2_password".into()),
                Some("old"),
                true
            ),
            [
                (
                    format!(
                        "ALTER USER CURRENT_USER() IDENTIFIED WITH 'caching_sha2_password' AS {sha2} RETAIN CURRENT PASSWORD"
                    ),
                    false
                ),
                text(
                    "ALTER USER CURRENT_USER() IDENTIFIED BY 'password' REPLACE 'old' RETAIN CURRENT PASSWORD"
                ),
                text("ALTER USER CURRENT_USER() IDENTIFIED BY 'password' REPLACE 'old'"),
            ]
        );
    }

    #[test]
    fn the_preflight_says_how_the_password_changes_and_why() {
        use crate::rights::OwnPasswordRights;
        use rotation_core::config::PreviousPassword::{Discard, Keep};
        let sha2 = Auth::Plugin(CACHING_SHA2.into());
        let none = OwnPasswordRights::default();
        let app = OwnPasswordRights {
            application_password_admin: true,
            ..none
        };
        let create = OwnPasswordRights {
            create_user: true,
            ..none
        };
        let cases = [
            (
                "9.7.4",
                &sha2,
                none,
                Keep,
                &[
                    "password itself",
                    "CREATE USER",
                    "GRANT APPLICATION_PASSWORD_ADMIN",
                ][..],
            ),
            (
                "9.7.4",
                &sha2,
                app,
                Keep,
                &["password itself", "stays valid", "no login fails"][..],
            ),
            (
                "9.7.4",
                &sha2,
                create,
                Keep,
                &["hash, never the password", "stays valid"][..],
            ),
            (
                "9.7.4",
                &sha2,
                create,
                Discard,
                &["hash", "PREVIOUS_PASSWORD=discard"][..],
            ),
            (
                "8.0.13",
                &Auth::NativePassword,
                create,
                Keep,
                &["hash", "no dual passwords"][..],
            ),
            (
                "11.8.9-MariaDB",
                &Auth::NativePassword,
                none,
                Keep,
                &[
                    "hash, never the password (SET PASSWORD)",
                    "MariaDB has no dual passwords",
                ][..],
            ),
            (
                "9.7.4",
                &Auth::Plugin("authentication_ldap_simple".into()),
                create,
                Keep,
                &["password itself", "no hash for authentication_ldap_simple"][..],
            ),
        ];
        for (version, auth, rights, previous, words) in cases {
            let said = own_change_mode(version, auth, &rights, previous);
            for w in words {
                assert!(
                    said.contains(w),
                    "{version} {auth:?} {rights:?}: {w:?} in {said}"
                );
            }
        }
    }

    #[test]
    fn dual_passwords_from_mysql_8_0_14() {
        assert!(has_dual_passwords("9.7.4-2"));
        assert!(has_dual_passwords("8.0.14"));
        assert!(!has_dual_passwords("8.0.13-log"));
        assert!(!has_dual_passwords("5.7.44"));
        assert!(!has_dual_passwords("11.8.9-MariaDB-4"));
    }

    fn lines(v: &[&str]) -> Vec<String> {
        v.iter().map(|l| (*l).to_owned()).collect()
    }

    #[test]
    fn a_copy_is_exact_or_the_difference_is_named() {
        let original_grants = lines(&[
            "GRANT USAGE ON *.* TO `app`@`%` IDENTIFIED BY PASSWORD '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19' REQUIRE SSL",
            "GRANT SELECT ON `app`.* TO `app`@`%` WITH GRANT OPTION",
        ]);
        let original = Privileges {
            user: "app",
            host: "%",
            grants: &original_grants,
            create_user: "CREATE USER `app`@`%` IDENTIFIED BY PASSWORD '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19' REQUIRE SSL",
            product: Product::MariaDb,
        };
        let same_grants = lines(&[
            "GRANT SELECT ON `app`.* TO `app_clone`@`%` WITH GRANT OPTION",
            "GRANT USAGE ON *.* TO `app_clone`@`%` IDENTIFIED BY PASSWORD '*B69027D44F6E5EDC07F1AEAD1477967B16F28227' REQUIRE SSL",
        ]);
        let copy = |grants| Privileges {
            user: "app_clone",
            host: "%",
            grants,
            create_user: "CREATE USER `app_clone`@`%` IDENTIFIED BY PASSWORD '*B69027D44F6E5EDC07F1AEAD1477967B16F28227' REQUIRE SSL ACCOUNT LOCK",
            product: Product::MariaDb,
        };
        assert_eq!(compare_copy(&original, &copy(&same_grants)), Ok(()));

        // What the ANSI_QUOTES bug left: the USAGE line only.
        let bare = lines(&["GRANT USAGE ON *.* TO `app_clone`@`%` REQUIRE SSL"]);
        let err = compare_copy(&original, &copy(&bare)).expect_err("grants missing");
        assert_eq!(
            err.missing,
            ["GRANT SELECT ON `app`.* TO <account> WITH GRANT OPTION"]
        );
        assert!(err.extra.is_empty() && err.options.is_none(), "{err:?}");
        assert!(
            err.to_string()
                .contains("missing on the copy: GRANT SELECT"),
            "{err}"
        );

        let more = lines(&[
            "GRANT USAGE ON *.* TO `app_clone`@`%` REQUIRE SSL",
            "GRANT SELECT ON `app`.* TO `app_clone`@`%` WITH GRANT OPTION",
            "GRANT DELETE ON `app`.* TO `app_clone`@`%`",
        ]);
        let err = compare_copy(&original, &copy(&more)).expect_err("extra grant");
        assert_eq!(err.extra, ["GRANT DELETE ON `app`.* TO <account>"]);
        assert!(err.to_string().contains("extra on the copy"), "{err}");

        // A REQUIRE that differs, as MySQL 8 prints it only in SHOW CREATE USER; and the other
        // account options: a resource limit, the password's expiry.
        for (line, differs) in [
            ("CREATE USER `app_clone`@`%` REQUIRE NONE", "REQUIRE NONE"),
            (
                "CREATE USER `app_clone`@`%` REQUIRE SSL WITH MAX_USER_CONNECTIONS 3",
                "MAX_USER_CONNECTIONS 3",
            ),
            (
                "CREATE USER `app_clone`@`%` REQUIRE SSL PASSWORD EXPIRE NEVER",
                "PASSWORD EXPIRE NEVER",
            ),
        ] {
            let other = Privileges {
                create_user: line,
                ..copy(&same_grants)
            };
            let err = compare_copy(&original, &other).expect_err(line);
            let (want, have) = err.options.clone().expect("options differ");
            assert!(want.starts_with("REQUIRE SSL WITH"), "{want}");
            assert!(have.contains(differs), "{have}");
            assert!(err.to_string().contains("account options"), "{err}");
        }
        // Options that cannot be read never compare equal, even on both sides.
        let unreadable = "CREATE USER `app`@`%` WITH MAX_WIDGETS 1";
        let err = compare_copy(
            &Privileges {
                create_user: unreadable,
                ..original
            },
            &Privileges {
                create_user: unreadable,
                ..copy(&same_grants)
            },
        )
        .expect_err("unreadable");
        assert!(err.to_string().contains("not read"), "{err}");

        // A line in a spelling not recognised is a difference, never silently dropped; and no
        // password hash is ever part of the message.
        let odd = lines(&[
            "GRANT USAGE ON *.* TO `app`@`%` IDENTIFIED BY PASSWORD '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19' REQUIRE SSL",
            "GRANT SELECT ON `app`.* TO `app`@`%` WITH GRANT OPTION",
            "GRANT SELECT ON `x`.* TO [app]@[%] IDENTIFIED BY PASSWORD '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19'",
        ]);
        let err = compare_copy(
            &Privileges {
                grants: &odd,
                ..original
            },
            &copy(&same_grants),
        )
        .expect_err("odd line");
        assert_eq!(err.missing, ["GRANT SELECT ON `x`.* TO [app]@[%]"]);
        assert!(!err.to_string().contains("*2470C0"), "{err}");

        // Nothing read for the original is never a match.
        let err = compare_copy(
            &Privileges {
                grants: &[],
                ..original
            },
            &copy(&[]),
        )
        .expect_err("empty");
        assert!(err.to_string().contains("nothing to compare"), "{err}");
    }

    #[test]
    fn keywords_are_found_past_multi_byte_characters() {
        let line = "CREATE USER `ü` REQUIRE SSL ACCOUNT LOCK COMMENT 'é'";
        for from in 0..line.len() {
            let _ = find_keyword(line, "ACCOUNT", from);
        }
        let o = crate::account::account_options(line, Product::MariaDb).expect("reads");
        assert_eq!(o.require, "REQUIRE SSL");
    }
}
