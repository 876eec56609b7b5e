//! SQL text for PostgreSQL, built only from escaped pieces: password verifiers computed on the
//! client, role statements, the membership grant of each server version, copies of per-role
//! settings, and what the admin lacks to copy a role exactly.
//!
//! Role statements (`CREATE ROLE`, `ALTER ROLE`, `GRANT`) take no placeholders, so every name
//! goes through [`ident`] and every value through [`literal`].

use postgres_protocol::{escape, password};

/// PostgreSQL cuts longer names silently (`NAMEDATALEN - 1` in a default build).
pub const DEFAULT_NAME_LIMIT: usize = 63;

/// What the second user of a pair is called: the base name plus this.
pub const CLONE_SUFFIX: &str = "_clone";

/// The first version whose role memberships carry `INHERIT` and `SET` options.
pub const MEMBERSHIP_OPTIONS_VERSION: u32 = 160_000;

/// The first version that understands SCRAM verifiers.
pub const SCRAM_VERSION: u32 = 100_000;

/// The first version where a `CREATEROLE` user may grant membership in a role, or change its
/// password, only if it holds the ADMIN option on that role.
pub const ADMIN_OPTION_VERSION: u32 = 160_000;

/// A quoted identifier.
pub fn ident(name: &str) -> String {
    escape::escape_identifier(name)
}

/// A quoted string literal (in `E'…'` form when it holds backslashes).
pub fn literal(value: &str) -> String {
    escape::escape_literal(value)
}

/// How the server stores passwords, which decides the verifier the client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordMethod {
    /// `SCRAM-SHA-256$…`.
    ScramSha256,
    /// `md5…`, salted with the role name; deprecated by PostgreSQL.
    Md5,
}

impl PasswordMethod {
    /// From the session's `password_encryption` and `server_version_num`. Servers before
    /// version 10 only understand MD5 hashes; `on` is version 10–13's alias for `md5`.
    pub fn detect(password_encryption: &str, version_num: u32) -> PasswordMethod {
        if version_num < SCRAM_VERSION {
            return PasswordMethod::Md5;
        }
        match password_encryption.trim().to_ascii_lowercase().as_str() {
            "md5" | "on" | "true" => PasswordMethod::Md5,
            _ => PasswordMethod::ScramSha256,
        }
    }

    /// The verifier of `password` for `role`. The server recognises both forms as already
    /// hashed and stores them as they are, so the password itself never reaches it.
    pub fn verifier(self, password: &str, role: &str) -> String {
        match self {
            PasswordMethod::ScramSha256 => password::scram_sha_256(password.as_bytes()),
            PasswordMethod::Md5 => password::md5(password.as_bytes(), role),
        }
    }
}

/// The base name of an alternating pair, given the current user and its alternate: the one
/// that is the other without `_clone`.
pub fn pair_base<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.strip_suffix(CLONE_SUFFIX) == Some(b) {
        b
    } else {
        a
    }
}

/// `ALTER ROLE … PASSWORD '<verifier>'`.
pub fn alter_password(role: &str, verifier: &str) -> String {
    format!("ALTER ROLE {} PASSWORD {}", ident(role), literal(verifier))
}

/// `CREATE ROLE` for a clone: a login role with the original's connection limit, validity
/// and `REPLICATION`, the attributes PostgreSQL reads from the login role itself.
pub fn create_clone(
    clone: &str,
    verifier: &str,
    connection_limit: i32,
    valid_until: Option<&str>,
    replication: bool,
) -> String {
    let mut s = format!(
        "CREATE ROLE {} WITH LOGIN INHERIT{} PASSWORD {}",
        ident(clone),
        if replication { " REPLICATION" } else { "" },
        literal(verifier)
    );
    if connection_limit >= 0 {
        s.push_str(&format!(" CONNECTION LIMIT {connection_limit}"));
    }
    if let Some(v) = valid_until {
        s.push_str(&format!(" VALID UNTIL {}", literal(v)));
    }
    s
}

/// Membership of the clone in the original. From version 16 a membership has its own
/// `INHERIT` and `SET` options, and the clone needs both: `SET` for its sessions to become
/// the original, `INHERIT` for its privileges when a session resets its role.
pub fn grant_membership(base: &str, clone: &str, version_num: u32) -> String {
    let options = if version_num >= MEMBERSHIP_OPTIONS_VERSION {
        " WITH INHERIT TRUE, SET TRUE"
    } else {
        ""
    };
    format!("GRANT {} TO {}{options}", ident(base), ident(clone))
}

/// What the admin is about to do to a role. From PostgreSQL 16 both need the ADMIN option on
/// the role, but the server looks for it along different paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleChange {
    /// `GRANT role TO clone`, right after `CREATE ROLE clone`. The server picks as grantor the
    /// admin or a role whose privileges it inherits, so only an ADMIN option held that way
    /// counts; one reached through a membership without INHERIT fails with "no possible
    /// grantors", although `pg_has_role` reports it.
    GrantMembership,
    /// `ALTER ROLE role PASSWORD …`: an ADMIN option reached through any membership counts,
    /// as `pg_has_role(…, 'MEMBER WITH ADMIN OPTION')` reports it.
    ChangePassword,
}

/// One row about the session's user and `$1`, the role it is about to change: the user's
/// name; whether it may create and alter roles (`CREATEROLE` or superuser); whether it holds
/// the ADMIN option on `$1` as [`RoleChange::GrantMembership`] needs it; and as
/// [`RoleChange::ChangePassword`] needs it. It reads catalogs only, and every version since 9
/// answers it; only from [`ADMIN_OPTION_VERSION`] do the last two matter.
pub const ADMIN_RIGHTS_QUERY: &str = "SELECT r.rolname::text, r.rolsuper OR r.rolcreaterole, \
     r.rolsuper OR EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m \
       WHERE m.roleid = t.oid AND m.admin_option AND pg_catalog.pg_has_role(m.member, 'USAGE')), \
     pg_catalog.pg_has_role(t.oid, 'MEMBER WITH ADMIN OPTION') \
     FROM pg_catalog.pg_roles r, pg_catalog.pg_roles t \
     WHERE r.rolname = current_user AND t.rolname = $1";

/// What the admin lacks for `change` to `role`, as the text of a permission error that names
/// the statements granting it; `None` when it lacks nothing.
pub fn admin_rights_problem(
    admin: &str,
    role: &str,
    change: RoleChange,
    lacks_createrole: bool,
    lacks_admin_option: bool,
) -> Option<String> {
    let mut needs = Vec::new();
    let mut statements = Vec::new();
    if lacks_createrole {
        needs.push("CREATEROLE".to_owned());
        statements.push(format!("ALTER ROLE {} CREATEROLE", ident(admin)));
    }
    if lacks_admin_option {
        let path = match change {
            RoleChange::GrantMembership => {
                ", held by itself or by a role whose privileges it inherits"
            }
            RoleChange::ChangePassword => "",
        };
        needs.push(format!(
            "the ADMIN option on '{role}' (from PostgreSQL 16{path}), which a CREATEROLE user gets by itself only for the roles it creates"
        ));
        // Without INHERIT and SET, as PostgreSQL grants it to a role's creator: the admin may
        // then manage the role without acting as it.
        statements.push(format!(
            "GRANT {} TO {} WITH ADMIN OPTION, INHERIT FALSE, SET FALSE",
            ident(role),
            ident(admin)
        ));
    }
    if needs.is_empty() {
        return None;
    }
    let (what, outcome) = match change {
        RoleChange::GrantMembership => (
            format!("to create the clone of '{role}' as a member of it"),
            "Nothing was created",
        ),
        RoleChange::ChangePassword => (
            format!("to change the password of '{role}'"),
            "Nothing was changed",
        ),
    };
    let who = if lacks_createrole {
        "As a superuser".to_owned()
    } else {
        format!(
            "As a superuser, or as a role with the ADMIN option on '{role}' such as its creator"
        )
    };
    Some(format!(
        "{what}, the admin needs {}. {outcome}. {who}, run: {}; then rotate the secret again",
        needs.join(" and "),
        statements.join("; ")
    ))
}

/// The first version with `GRANT SET ON PARAMETER`, by which a role that is not a superuser
/// may set a superuser-only or an unknown (placeholder) parameter.
pub const PARAMETER_PRIVILEGES_VERSION: u32 = 150_000;

/// The first version where a `CREATEROLE` role may give `REPLICATION`, if it has it itself.
pub const REPLICATION_BY_CREATEROLE_VERSION: u32 = 160_000;

/// One row about the session's user (the admin): its name, whether it is a superuser, and
/// whether it has `REPLICATION`.
pub const ADMIN_ATTRIBUTES_QUERY: &str = "SELECT rolname::text, rolsuper, rolreplication      FROM pg_catalog.pg_roles WHERE rolname = current_user";

/// For each parameter name in `$1` (a text array): the name, the context `pg_settings` gives
/// it (none for a placeholder, which the server treats as superuser-only), and whether the
/// session's user holds `SET` on it. Before [`PARAMETER_PRIVILEGES_VERSION`] there is no such
/// privilege.
pub fn parameter_rights_query(version_num: u32) -> String {
    let set = if version_num >= PARAMETER_PRIVILEGES_VERSION {
        "pg_catalog.has_parameter_privilege(current_user, n.name, 'SET')"
    } else {
        "false"
    };
    format!(
        "SELECT n.name, p.context::text, {set} \
         FROM unnest($1::text[]) AS n(name) \
         LEFT JOIN pg_catalog.pg_settings p ON lower(p.name) = lower(n.name)"
    )
}

/// Something of the original's the admin may not give the clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uncopyable {
    /// The `REPLICATION` attribute.
    Replication,
    /// A per-role setting of a parameter.
    Setting {
        /// The parameter, as the setting spells it.
        name: String,
        /// A `SET` privilege on it would do (a superuser-only or placeholder parameter, from
        /// PostgreSQL 15); otherwise only a superuser may set it.
        grantable: bool,
    },
}

/// Parameters that every role may set but `pg_settings` does not show (like placeholders),
/// so [`may_set`] is not asked about them.
pub const UNSHOWN_USER_PARAMETERS: &[&str] = &["role", "seed"];

/// Whether the admin may put a per-role setting of a parameter on a role, as the server
/// decides it in `ALTER ROLE … SET`: a `user` parameter always; a `superuser` one, or one
/// `pg_settings` does not know (a placeholder such as `myapp.tenant`), with `SET` on it; any
/// other only as a superuser.
pub fn may_set(context: Option<&str>, has_set: bool) -> bool {
    match context {
        Some("user") => true,
        Some("superuser") | None => has_set,
        Some(_) => false,
    }
}

/// What the admin lacks to make the clone of `role` an exact copy, as the text of a
/// permission error that names the statements granting it; `None` when it lacks nothing.
pub fn copy_rights_problem(
    admin: &str,
    role: &str,
    version_num: u32,
    lacks: &[Uncopyable],
) -> Option<String> {
    if lacks.is_empty() {
        return None;
    }
    let mut needs = Vec::new();
    let mut statements: Vec<String> = Vec::new();
    let superuser = format!("ALTER ROLE {} SUPERUSER", ident(admin));
    for lack in lacks {
        let (need, statement) = match lack {
            Uncopyable::Replication if version_num >= REPLICATION_BY_CREATEROLE_VERSION => (
                format!(
                    "REPLICATION, which '{role}' has and a CREATEROLE role may give only if it has it itself"
                ),
                format!("ALTER ROLE {} REPLICATION", ident(admin)),
            ),
            Uncopyable::Replication => (
                format!(
                    "to be a superuser: '{role}' has REPLICATION, which before PostgreSQL 16 only a superuser may give"
                ),
                superuser.clone(),
            ),
            Uncopyable::Setting {
                name,
                grantable: true,
            } if version_num >= PARAMETER_PRIVILEGES_VERSION => (
                format!(
                    "the SET privilege on parameter '{name}', a per-role setting of '{role}' that only a superuser or a holder of that privilege may set"
                ),
                format!("GRANT SET ON PARAMETER {} TO {}", ident(name), ident(admin)),
            ),
            Uncopyable::Setting { name, .. } => (
                format!(
                    "to be a superuser: '{name}', a per-role setting of '{role}', may be set only by a superuser"
                ),
                superuser.clone(),
            ),
        };
        needs.push(need);
        if !statements.contains(&statement) {
            statements.push(statement);
        }
    }
    Some(format!(
        "to create the clone of '{role}' as an exact copy, the admin needs {}. Nothing was created. As a superuser, run: {} (or use an admin that has these rights); then rotate the secret again",
        needs.join(", and "),
        statements.join("; ")
    ))
}

/// Every session of the clone starts as the original role, so what it creates belongs to
/// the original and the two users share their objects. Used when the original has no `role`
/// setting for every database of its own; when it has one, the clone gets a copy of it.
pub fn set_role_default(clone: &str, base: &str) -> String {
    format!("ALTER ROLE {} SET role = {}", ident(clone), literal(base))
}

/// Settings whose stored form is a list of quoted elements (pg_dump's list): each element
/// must be given as its own literal.
const LIST_SETTINGS: &[&str] = &[
    "local_preload_libraries",
    "search_path",
    "session_preload_libraries",
    "shared_preload_libraries",
    "temp_tablespaces",
    "unix_socket_directories",
];

/// Settings that are not copied: `session_authorization` cannot be a role setting. (`role` is
/// copied: a session of the clone acts as the role a session of the original acts as.)
const NOT_COPIED: &[&str] = &["session_authorization"];

/// Split a stored list value: elements separated by commas, each bare or double-quoted with
/// `""` for a quote.
pub fn split_list(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = value.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut item = String::new();
        let quoted = chars.next_if_eq(&'"').is_some();
        if quoted {
            while let Some(c) = chars.next() {
                if c == '"' {
                    if chars.next_if_eq(&'"').is_some() {
                        item.push('"');
                    } else {
                        break;
                    }
                } else {
                    item.push(c);
                }
            }
            while chars.next_if(|c| *c != ',').is_some() {}
        } else {
            while let Some(c) = chars.next_if(|c| *c != ',') {
                item.push(c);
            }
            item = item.trim_end().to_owned();
        }
        let more = chars.next().is_some();
        if quoted || more || !item.is_empty() || !out.is_empty() {
            out.push(item);
        }
        if !more {
            return out;
        }
    }
}

/// `ALTER ROLE clone [IN DATABASE db] SET name TO value` for one `name=value` entry of
/// `pg_db_role_setting`, or `None` for an entry that is not copied.
pub fn copy_setting(clone: &str, database: Option<&str>, entry: &str) -> Option<String> {
    let (name, value) = entry.split_once('=')?;
    if name.is_empty() || NOT_COPIED.iter().any(|n| n.eq_ignore_ascii_case(name)) {
        return None;
    }
    let value = if LIST_SETTINGS.iter().any(|n| n.eq_ignore_ascii_case(name)) {
        let items = split_list(value);
        if items.is_empty() {
            "''".to_owned()
        } else {
            items
                .iter()
                .map(|i| literal(i))
                .collect::<Vec<_>>()
                .join(", ")
        }
    } else {
        literal(value)
    };
    let scope = database
        .map(|d| format!(" IN DATABASE {}", ident(d)))
        .unwrap_or_default();
    Some(format!(
        "ALTER ROLE {}{scope} SET {} TO {value}",
        ident(clone),
        ident(name)
    ))
}

/// Why a base name cannot have a clone, or `None` when it fits in `limit` bytes.
pub fn name_limit_problem(base: &str, limit: usize) -> Option<String> {
    let clone_len = base.len() + CLONE_SUFFIX.len();
    if clone_len <= limit {
        return None;
    }
    let chars = base.chars().count();
    let note = if chars == base.len() {
        String::new()
    } else {
        format!(" ({chars} characters; the limit counts bytes of UTF-8)")
    };
    Some(format!(
        "username '{base}' has {} bytes{note}; with '{CLONE_SUFFIX}' it would have {clone_len}, over PostgreSQL's limit of {limit} bytes, beyond which it cuts names without an error. Use a user name of at most {} bytes",
        base.len(),
        limit.saturating_sub(CLONE_SUFFIX.len())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values_are_escaped() {
        let hostile = "x\"; DROP ROLE admin; --";
        assert_eq!(ident(hostile), "\"x\"\"; DROP ROLE admin; --\"");
        assert_eq!(
            alter_password("o'ne\\", "SCRAM-SHA-256$4096:abc"),
            "ALTER ROLE \"o'ne\\\" PASSWORD 'SCRAM-SHA-256$4096:abc'"
        );
        assert_eq!(literal("a'b\\c"), " E'a''b\\\\c'");
    }

    #[test]
    fn the_method_follows_the_server() {
        assert_eq!(
            PasswordMethod::detect("scram-sha-256", 150_004),
            PasswordMethod::ScramSha256
        );
        assert_eq!(PasswordMethod::detect("md5", 150_004), PasswordMethod::Md5);
        assert_eq!(PasswordMethod::detect("on", 120_000), PasswordMethod::Md5);
        assert_eq!(
            PasswordMethod::detect("scram-sha-256", 90_624),
            PasswordMethod::Md5
        );
        let pw = "correct horse";
        let scram = PasswordMethod::ScramSha256.verifier(pw, "app");
        assert!(
            scram.starts_with("SCRAM-SHA-256$4096:") && !scram.contains(pw),
            "{scram}"
        );
        let md5 = PasswordMethod::Md5.verifier(pw, "app");
        assert!(md5.starts_with("md5") && md5.len() == 35, "{md5}");
        assert_ne!(
            md5,
            PasswordMethod::Md5.verifier(pw, "app_clone"),
            "salted with the role"
        );
    }

    #[test]
    fn membership_options_by_version_number() {
        assert_eq!(
            grant_membership("app", "app_clone", 150_008),
            "GRANT \"app\" TO \"app_clone\""
        );
        assert_eq!(
            grant_membership("app", "app_clone", 160_000),
            "GRANT \"app\" TO \"app_clone\" WITH INHERIT TRUE, SET TRUE"
        );
        assert_eq!(
            grant_membership("app", "app_clone", 180_001),
            "GRANT \"app\" TO \"app_clone\" WITH INHERIT TRUE, SET TRUE"
        );
    }

    #[test]
    fn admin_rights_problems_name_the_statements_that_fix_them() {
        use RoleChange::*;
        assert_eq!(
            admin_rights_problem("adm", "app", GrantMembership, false, false),
            None
        );
        let msg = admin_rights_problem("adm", "o'ne\"x", GrantMembership, false, true)
            .expect("lacks the option");
        assert!(
            msg.contains(
                "run: GRANT \"o'ne\"\"x\" TO \"adm\" WITH ADMIN OPTION, INHERIT FALSE, SET FALSE; then"
            ) && msg.contains("Nothing was created")
                && msg.contains("such as its creator")
                && msg.contains("inherits"),
            "{msg}"
        );
        let msg = admin_rights_problem("adm", "app_clone", ChangePassword, true, true)
            .expect("lacks both");
        assert!(
            msg.contains("run: ALTER ROLE \"adm\" CREATEROLE; GRANT \"app_clone\" TO \"adm\"")
                && msg.contains("the password of 'app_clone'")
                && msg.contains("Nothing was changed")
                && msg.contains("As a superuser, run")
                && !msg.contains("inherits"),
            "{msg}"
        );
        let msg = admin_rights_problem("adm", "app", GrantMembership, true, false)
            .expect("lacks CREATEROLE");
        assert!(
            msg.contains("needs CREATEROLE.") && !msg.contains("GRANT"),
            "{msg}"
        );
    }

    #[test]
    fn copy_rights_problems_name_the_statements_that_fix_them() {
        use Uncopyable::*;
        assert_eq!(copy_rights_problem("adm", "app", 160_000, &[]), None);
        let setting = |name: &str, grantable| Setting {
            name: name.to_owned(),
            grantable,
        };
        let msg = copy_rights_problem(
            "adm",
            "app",
            160_002,
            &[
                Replication,
                setting("log_statement", true),
                setting("myapp.tenant", true),
            ],
        )
        .expect("lacks three");
        assert!(
            msg.contains(
                "run: ALTER ROLE \"adm\" REPLICATION; GRANT SET ON PARAMETER \"log_statement\" TO \"adm\"; GRANT SET ON PARAMETER \"myapp.tenant\" TO \"adm\" (or"
            ) && msg.contains("Nothing was created"),
            "{msg}"
        );
        // Before 16 only a superuser gives REPLICATION; before 15 there is no SET privilege.
        let msg = copy_rights_problem(
            "adm",
            "app",
            140_010,
            &[Replication, setting("log_statement", true)],
        )
        .expect("lacks two");
        assert!(
            msg.contains("run: ALTER ROLE \"adm\" SUPERUSER (or") && !msg.contains("GRANT"),
            "{msg}"
        );
        let msg = copy_rights_problem("adm", "app", 150_004, &[setting("log_connections", false)])
            .expect("superuser only");
        assert!(msg.contains("ALTER ROLE \"adm\" SUPERUSER"), "{msg}");
        assert!(may_set(Some("user"), false));
        assert!(!may_set(Some("superuser"), false) && may_set(Some("superuser"), true));
        assert!(!may_set(None, false) && may_set(None, true));
        assert!(!may_set(Some("superuser-backend"), true));
    }

    #[test]
    fn the_base_of_a_pair() {
        assert_eq!(pair_base("app", "app_clone"), "app");
        assert_eq!(pair_base("app_clone", "app"), "app");
        assert_eq!(pair_base("_clone", "_clone_clone"), "_clone");
    }

    #[test]
    fn clone_statements() {
        assert_eq!(
            create_clone("a_clone", "md5x", 5, Some("2100-01-01 00:00:00+00"), true),
            "CREATE ROLE \"a_clone\" WITH LOGIN INHERIT REPLICATION PASSWORD 'md5x' CONNECTION LIMIT 5 VALID UNTIL '2100-01-01 00:00:00+00'"
        );
        assert_eq!(
            create_clone("a_clone", "md5x", -1, None, false),
            "CREATE ROLE \"a_clone\" WITH LOGIN INHERIT PASSWORD 'md5x'"
        );
        assert_eq!(
            set_role_default("a_clone", "a"),
            "ALTER ROLE \"a_clone\" SET role = 'a'"
        );
    }

    #[test]
    fn settings_are_copied_with_lists_split() {
        assert_eq!(split_list("\"$user\", public"), vec!["$user", "public"]);
        assert_eq!(split_list("a, \"b,\"\"c\", d e"), vec!["a", "b,\"c", "d e"]);
        assert_eq!(split_list("\"\""), vec![""]);
        assert_eq!(split_list(""), Vec::<String>::new());
        assert_eq!(
            copy_setting("c", None, "search_path=\"$user\", app").as_deref(),
            Some("ALTER ROLE \"c\" SET \"search_path\" TO '$user', 'app'")
        );
        assert_eq!(
            copy_setting("c", Some("appdb"), "work_mem=8MB").as_deref(),
            Some("ALTER ROLE \"c\" IN DATABASE \"appdb\" SET \"work_mem\" TO '8MB'")
        );
        assert_eq!(
            copy_setting("c", None, "DateStyle=ISO, MDY").as_deref(),
            Some("ALTER ROLE \"c\" SET \"DateStyle\" TO 'ISO, MDY'")
        );
        assert_eq!(
            copy_setting("c", None, "role=app_owner").as_deref(),
            Some("ALTER ROLE \"c\" SET \"role\" TO 'app_owner'")
        );
        assert_eq!(copy_setting("c", None, "session_authorization=x"), None);
        assert_eq!(copy_setting("c", None, "garbage"), None);
    }

    #[test]
    fn name_limit_counts_bytes() {
        assert_eq!(name_limit_problem(&"a".repeat(57), 63), None);
        let msg = name_limit_problem(&"a".repeat(58), 63).expect("58 + 6 > 63");
        assert!(
            msg.contains("has 58 bytes") && msg.contains("would have 64") && msg.contains("63"),
            "{msg}"
        );
        let multi = format!("x{}", "é".repeat(29));
        assert_eq!(multi.chars().count(), 30);
        let msg = name_limit_problem(&multi, 63).expect("59 bytes + 6 > 63");
        assert!(msg.contains("59 bytes (30 characters"), "{msg}");
    }
}
