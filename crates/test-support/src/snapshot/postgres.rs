//! The PostgreSQL login snapshot: what the server holds that decides what a session of one
//! login may do, with the login's name and password taken out.
//!
//! It is read from the catalogs, not from the rotation code, and each fact from the role
//! PostgreSQL takes it from:
//! - the login role (`session_user`): `LOGIN`, `CONNECTION LIMIT`, `VALID UNTIL`,
//!   `REPLICATION`, `CONNECT` on the database, its per-role and per-database settings
//!   (`pg_db_role_setting`), and the roles it may `SET ROLE` to;
//! - the role its sessions act as (`current_user`: the login itself, or the role its `role`
//!   setting names, the per-database one first, as PostgreSQL applies them): that role's name,
//!   its other attributes, its memberships with their ADMIN / INHERIT / SET options (the last
//!   two from PostgreSQL 16), its default privileges (`pg_default_acl`), and its effective
//!   privileges (`has_*_privilege`) on the database and on the test's objects: the tables,
//!   views, sequences, schemas and functions whose names start with a prefix the caller gives,
//!   and the schema `public`.
//!
//! The role a session acts as is kept by its real name: two logins whose sessions act as the
//! same role own what either creates in common, which is the point of an alternating-users
//! clone. Among the roles a login may `SET ROLE` to, the two names of its pair (the login and
//! its alternate, `name` / `name_clone`) are left out, since a clone may always become its
//! original and the original is itself.

use std::collections::{BTreeMap, BTreeSet};
use tokio_postgres::Client;

/// The first version whose memberships carry `INHERIT` and `SET` options.
const MEMBERSHIP_OPTIONS_VERSION: i32 = 160_000;

/// The first version with the `MAINTAIN` table privilege.
const MAINTAIN_VERSION: i32 = 170_000;

/// One login, comparable with another: equal exactly when sessions of either may do the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The login role's attributes that PostgreSQL reads at connection: `rolcanlogin`,
    /// `rolconnlimit`, `rolvaliduntil`, `rolreplication`, and `connect` (`CONNECT` on the
    /// database), each as text.
    pub login: BTreeMap<String, String>,
    /// The login's settings as `database:name=value` (`*` for every database), without
    /// `role`, whose effect is [`Snapshot::acts_as`].
    pub settings: BTreeSet<String>,
    /// The roles the login may `SET ROLE` to, but the two names of its pair.
    pub may_set_role: BTreeSet<String>,
    /// The role its sessions act as in the snapshot's database, by its real name.
    pub acts_as: String,
    /// That role's other attributes (`rolsuper`, `rolinherit`, `rolcreaterole`,
    /// `rolcreatedb`, `rolbypassrls`), each as text.
    pub attributes: BTreeMap<String, String>,
    /// That role's memberships as `role admin=… inherit=… set=…` (the last two from 16).
    pub memberships: BTreeSet<String>,
    /// That role's default privileges as `schema objtype acl` (`*` for every schema).
    pub default_privileges: BTreeSet<String>,
    /// That role's privileges as `kind name: PRIV, PRIV*` (`*`: with grant option).
    pub privileges: BTreeSet<String>,
}

impl Snapshot {
    /// What differs from `other`, one line per fact (empty when equal): for failure messages
    /// that show the difference rather than two whole snapshots.
    pub fn differences(&self, other: &Snapshot) -> Vec<String> {
        let mut out = Vec::new();
        maps(&mut out, "login", &self.login, &other.login);
        sets(&mut out, "setting", &self.settings, &other.settings);
        sets(
            &mut out,
            "SET ROLE to",
            &self.may_set_role,
            &other.may_set_role,
        );
        if self.acts_as != other.acts_as {
            out.push(format!(
                "acts as: {:?} vs {:?}",
                self.acts_as, other.acts_as
            ));
        }
        maps(&mut out, "attribute", &self.attributes, &other.attributes);
        sets(
            &mut out,
            "membership",
            &self.memberships,
            &other.memberships,
        );
        sets(
            &mut out,
            "default privilege",
            &self.default_privileges,
            &other.default_privileges,
        );
        sets(&mut out, "privilege", &self.privileges, &other.privileges);
        out
    }
}

fn maps(
    out: &mut Vec<String>,
    what: &str,
    a: &BTreeMap<String, String>,
    b: &BTreeMap<String, String>,
) {
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for k in keys {
        let (x, y) = (a.get(k), b.get(k));
        if x != y {
            out.push(format!("{what} {k}: {x:?} vs {y:?}"));
        }
    }
}

fn sets(out: &mut Vec<String>, what: &str, a: &BTreeSet<String>, b: &BTreeSet<String>) {
    for x in a.symmetric_difference(b) {
        let side = if a.contains(x) {
            "only first"
        } else {
            "only second"
        };
        out.push(format!("{what} ({side}): {x}"));
    }
}

/// Run a catalog query, panicking with it and the server's message.
async fn query(
    c: &Client,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Vec<tokio_postgres::Row> {
    c.query(sql, params)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
}

/// The privilege types of each kind of object, and the function that asks for them.
fn kinds(version: i32) -> [(&'static str, &'static str, Vec<&'static str>); 5] {
    let mut table = vec![
        "SELECT",
        "INSERT",
        "UPDATE",
        "DELETE",
        "TRUNCATE",
        "REFERENCES",
        "TRIGGER",
    ];
    if version >= MAINTAIN_VERSION {
        table.push("MAINTAIN");
    }
    [
        ("table", "has_table_privilege", table),
        (
            "sequence",
            "has_sequence_privilege",
            vec!["USAGE", "SELECT", "UPDATE"],
        ),
        ("schema", "has_schema_privilege", vec!["USAGE", "CREATE"]),
        ("function", "has_function_privilege", vec!["EXECUTE"]),
        (
            "database",
            "has_database_privilege",
            vec!["CONNECT", "CREATE", "TEMPORARY"],
        ),
    ]
}

/// The objects of each kind the snapshot asks about, as `(oid, name)`: the test's (names
/// starting with `$1`), `public`, and the session's database.
fn objects_of(kind: &str) -> &'static str {
    match kind {
        "table" => {
            "SELECT c.oid, n.nspname || '.' || c.relname FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND left(c.relname::text, length($1::text)) = $1::text"
        }
        "sequence" => {
            "SELECT c.oid, n.nspname || '.' || c.relname FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind = 'S' AND left(c.relname::text, length($1::text)) = $1::text"
        }
        "schema" => {
            "SELECT oid, nspname::text FROM pg_catalog.pg_namespace \
             WHERE nspname = 'public' OR left(nspname::text, length($1::text)) = $1::text"
        }
        "function" => {
            "SELECT oid, oid::regprocedure::text FROM pg_catalog.pg_proc \
             WHERE left(proname::text, length($1::text)) = $1::text"
        }
        _ => {
            "SELECT oid, datname::text FROM pg_catalog.pg_database \
             WHERE datname = current_database() AND $1::text IS NOT NULL"
        }
    }
}

/// Read the snapshot of the login `login` in the client's database, asking about the objects
/// whose names start with `objects`. `c` must be able to read the catalogs (any role can) and
/// to see the login's settings (`pg_db_role_setting` is readable by every role). Panics,
/// naming the login, when it does not exist.
pub async fn snapshot(c: &Client, login: &str, objects: &str) -> Snapshot {
    let version: i32 =
        query(c, "SELECT current_setting('server_version_num')::int", &[]).await[0].get(0);
    let rows = query(
        c,
        "SELECT r.oid, r.rolcanlogin::text, r.rolconnlimit::text, \
         coalesce(r.rolvaliduntil::text, 'NULL'), r.rolreplication::text, \
         pg_catalog.has_database_privilege(r.oid, current_database(), 'CONNECT')::text \
         FROM pg_catalog.pg_roles r WHERE r.rolname = $1",
        &[&login],
    )
    .await;
    let [row] = rows.as_slice() else {
        panic!("{login:?}: {} rows in pg_roles", rows.len());
    };
    let login_oid: tokio_postgres::types::Oid = row.get(0);
    let login_facts: BTreeMap<String, String> = [
        "rolcanlogin",
        "rolconnlimit",
        "rolvaliduntil",
        "rolreplication",
        "connect",
    ]
    .iter()
    .enumerate()
    .map(|(i, k)| ((*k).to_owned(), row.get::<_, String>(i + 1)))
    .collect();

    // Every setting of the login, with the database it applies to; `role` decides who the
    // sessions act as: in this database's entry first, then the one for every database.
    let rows = query(
        c,
        "SELECT coalesce(d.datname::text, '*'), (s.setdatabase = 0), \
         (s.setdatabase = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())), \
         unnest(s.setconfig) \
         FROM pg_catalog.pg_db_role_setting s \
         LEFT JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase \
         WHERE s.setrole = $1",
        &[&login_oid],
    )
    .await;
    let mut settings = BTreeSet::new();
    let (mut role_here, mut role_everywhere) = (None, None);
    for r in &rows {
        let (database, everywhere, here, entry): (String, bool, bool, String) =
            (r.get(0), r.get(1), r.get(2), r.get(3));
        match entry.split_once('=') {
            Some((name, value)) if name.eq_ignore_ascii_case("role") => {
                if here {
                    role_here = Some(value.to_owned());
                } else if everywhere {
                    role_everywhere = Some(value.to_owned());
                }
            }
            _ => {
                settings.insert(format!("{database}:{entry}"));
            }
        }
    }
    let acts_as = role_here
        .or(role_everywhere)
        .filter(|r| r != "none")
        .unwrap_or_else(|| login.to_owned());

    let alternate = login
        .strip_suffix("_clone")
        .map_or_else(|| format!("{login}_clone"), str::to_owned);
    let privilege = if version >= MEMBERSHIP_OPTIONS_VERSION {
        "SET"
    } else {
        "MEMBER"
    };
    let rows = query(
        c,
        &format!(
            "SELECT rolname::text FROM pg_catalog.pg_roles \
             WHERE rolname NOT IN ($2, $3) AND pg_catalog.pg_has_role($1::oid, oid, '{privilege}')"
        ),
        &[&login_oid, &login, &alternate],
    )
    .await;
    let may_set_role = rows.iter().map(|r| r.get(0)).collect();

    let rows = query(
        c,
        "SELECT oid, rolsuper::text, rolinherit::text, rolcreaterole::text, rolcreatedb::text, \
         rolbypassrls::text FROM pg_catalog.pg_roles WHERE rolname = $1",
        &[&acts_as],
    )
    .await;
    let [row] = rows.as_slice() else {
        panic!(
            "{login:?} acts as {acts_as:?}: {} rows in pg_roles",
            rows.len()
        );
    };
    let acting: tokio_postgres::types::Oid = row.get(0);
    let attributes = [
        "rolsuper",
        "rolinherit",
        "rolcreaterole",
        "rolcreatedb",
        "rolbypassrls",
    ]
    .iter()
    .enumerate()
    .map(|(i, k)| ((*k).to_owned(), row.get::<_, String>(i + 1)))
    .collect();

    let options = if version >= MEMBERSHIP_OPTIONS_VERSION {
        "' inherit=' || m.inherit_option::text || ' set=' || m.set_option::text"
    } else {
        "''"
    };
    let rows = query(
        c,
        &format!(
            "SELECT r.rolname::text || ' admin=' || m.admin_option::text || {options} \
             FROM pg_catalog.pg_auth_members m JOIN pg_catalog.pg_roles r ON r.oid = m.roleid \
             WHERE m.member = $1"
        ),
        &[&acting],
    )
    .await;
    let memberships = rows.iter().map(|r| r.get(0)).collect();

    let rows = query(
        c,
        "SELECT coalesce(n.nspname::text, '*') || ' ' || a.defaclobjtype::text || ' ' || a.defaclacl::text \
         FROM pg_catalog.pg_default_acl a LEFT JOIN pg_catalog.pg_namespace n ON n.oid = a.defaclnamespace \
         WHERE a.defaclrole = $1",
        &[&acting],
    )
    .await;
    let default_privileges = rows.iter().map(|r| r.get(0)).collect();

    let mut privileges = BTreeSet::new();
    for (kind, function, types) in kinds(version) {
        for object in query(c, objects_of(kind), &[&objects]).await {
            let (oid, name): (tokio_postgres::types::Oid, String) = (object.get(0), object.get(1));
            let mut held = Vec::new();
            for t in &types {
                let asks = format!(
                    "SELECT pg_catalog.{function}($1::oid, $2::oid, '{t}'), pg_catalog.{function}($1::oid, $2::oid, '{t} WITH GRANT OPTION')"
                );
                let row = &query(c, &asks, &[&acting, &oid]).await[0];
                match (row.get::<_, bool>(0), row.get::<_, bool>(1)) {
                    (_, true) => held.push(format!("{t}*")),
                    (true, false) => held.push((*t).to_owned()),
                    _ => {}
                }
            }
            privileges.insert(format!("{kind} {name}: {}", held.join(", ")));
        }
    }

    Snapshot {
        login: login_facts,
        settings,
        may_set_role,
        acts_as,
        attributes,
        memberships,
        default_privileges,
        privileges,
    }
}
