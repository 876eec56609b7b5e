//! Clone fidelity: a catalogue of ACL user shapes as DBAs make them (key patterns with their
//! read/write permissions, channel rules, command categories, commands and subcommands, the
//! `all…` flags, payload flags, selectors, among them selectors whose patterns hold a quote or
//! a `)`, Valkey 9's database rules, and selectors copied by an admin that may not run
//! `ACL GETUSER`). For each, two alternating-users rotations, there and back, and after each
//! the clone's snapshot (`test_support::snapshot::redis`, read with `ACL GETUSER`) must equal
//! the original's as the DBA left it. Where the server cannot make an exact copy (an original
//! that is off, a stale clone with a payload flag the original lacks), setSecret refuses, says
//! what to do, and creates or changes nothing.

use crate::common::*;
use rotation_core::Strategy::AlternatingUsers;
use rotation_core::{Engine, SetAlternate};
use rotation_redis::PreviousPassword;
use test_support::snapshot::redis::{Snapshot, snapshot};
use test_support::unique;

on_redis_and_valkey!(
    one_key_prefix_and_the_read_category,
    read_and_write_categories_without_dangerous,
    a_read_only_key_pattern,
    a_write_only_key_pattern,
    a_read_write_key_pattern,
    mixed_key_patterns,
    allkeys_allchannels_allcommands,
    everything_but_the_dangerous_category,
    everything_but_some_commands,
    subcommands_allowed_one_by_one,
    subcommands_taken_away,
    channel_patterns,
    resetchannels_after_allchannels,
    allchannels_alone,
    glob_characters_in_patterns,
    quotes_and_parentheses_in_root_patterns,
    categories_added_and_commands_taken_away,
    keys_reset_and_given_again,
    commands_without_keys,
    skip_sanitize_payload,
    sanitize_payload_given_explicitly,
    several_passwords_on_the_original,
    one_selector,
    several_selectors,
    a_selector_with_channels_and_key_permissions,
    a_selector_for_all_keys_with_an_exception,
    a_selector_with_a_single_quote_in_a_pattern,
    a_selector_with_a_double_quote_in_a_pattern,
    a_selector_with_a_parenthesis_in_a_pattern,
    an_original_that_is_off_is_refused_and_nothing_is_created,
    the_engine_refuses_a_model_that_is_off,
    a_stale_clone_with_a_payload_flag_the_original_lacks,
    database_rules_at_the_root_and_in_a_selector,
    a_stale_clone_with_database_rules_gets_all_databases_back,
    selectors_copied_by_an_admin_without_acl_getuser,
);

/// A user of the catalogue: made as a DBA makes one, `ACL SETUSER <user> on ><password>
/// <rules…>` (no `reset`, whose side effects a DBA's user does not have), with its secret and
/// the admin in `masterarn`.
struct Shape {
    c: Case,
}

impl Shape {
    async fn new(db: Db, rules: &[&str]) -> Shape {
        Shape::made(db, "on", rules).await
    }

    async fn made(db: Db, state: &str, rules: &[&str]) -> Shape {
        let sm = test_support::secrets::Sm::from_env();
        let master = db.master_secret(&sm).await;
        Shape::with_master(db, sm, master, state, rules).await
    }

    async fn with_master(
        db: Db,
        sm: test_support::secrets::Sm,
        master: String,
        state: &str,
        rules: &[&str],
    ) -> Shape {
        let user = unique("cf");
        let password = unique("Pw-");
        let pw = format!(">{password}");
        let mut args = vec!["ACL", "SETUSER", user.as_str(), state, pw.as_str()];
        args.extend(rules);
        db.admin(&args).await;
        let arn = sm
            .create(
                "redis-shape-",
                &db.secret_with_master(&user, &password, &master),
            )
            .await;
        Shape {
            c: Case {
                sm,
                db,
                user,
                password,
                arn,
            },
        }
    }

    fn clone_name(&self) -> String {
        format!("{}_clone", self.c.user)
    }

    async fn snapshot_of(&self, user: &str) -> Option<Snapshot> {
        let db = &self.c.db;
        let mut conn = db
            .connect(&db.server.admin_user, &db.server.admin_password)
            .await
            .unwrap_or_else(|e| panic!("admin login: {e}"));
        snapshot(&mut conn, user).await
    }

    /// Two rotations, to the clone and back; after each, both users' snapshots equal the
    /// original's as it was, and AWSCURRENT logs in. Returns that snapshot.
    async fn rotates_there_and_back(&self) -> Snapshot {
        let original = self.snapshot_of(&self.c.user).await.expect("the original");
        let r = rotator(&self.c.sm, AlternatingUsers, &[]);
        for (n, now) in [(1, self.clone_name()), (2, self.c.user.clone())] {
            let password = rotate_once(&self.c.sm, &r, &self.c.arn).await;
            let current = self.c.sm.value(&self.c.arn, "AWSCURRENT", None).await;
            assert_eq!(
                current.expect("AWSCURRENT")["username"].as_str(),
                Some(now.as_str()),
                "rotation {n} moves to the other user"
            );
            self.c
                .db
                .login(&now, &password)
                .await
                .unwrap_or_else(|e| panic!("rotation {n}: AWSCURRENT logs in: {e}"));
            for (who, user) in [
                ("the clone", self.clone_name()),
                ("the original", self.c.user.clone()),
            ] {
                let now = self.snapshot_of(&user).await.expect("both users exist");
                assert!(
                    now == original,
                    "rotation {n}: {who} differs from the original as it was: {:#?}",
                    original.differences(&now)
                );
            }
        }
        original
    }
}

/// The shape rotates there and back, and each of `expected` is in its snapshot (a flag, or
/// part of a field's or a selector's text): the shape is what the test says it is.
async fn faithful(db: Db, rules: &[&str], expected: &[&str]) {
    let shape = Shape::new(db, rules).await;
    let original = shape.rotates_there_and_back().await;
    let all: Vec<String> = original
        .flags
        .iter()
        .cloned()
        .chain(original.fields.values().cloned())
        .chain(original.selectors.iter().flat_map(|s| s.values().cloned()))
        .collect();
    for e in expected {
        assert!(
            all.iter().any(|v| v.contains(e)),
            "the shape has {e:?}: {original:#?}"
        );
    }
}

async fn one_key_prefix_and_the_read_category(db: Db) {
    faithful(db, &["~app:*", "+@read"], &["~app:*", "+@read"]).await
}

async fn read_and_write_categories_without_dangerous(db: Db) {
    faithful(
        db,
        &["~app:*", "+@read", "+@write", "-@dangerous"],
        // Redis 7.0 prints the categories as the commands they leave.
        &["~app:*"],
    )
    .await
}

async fn a_read_only_key_pattern(db: Db) {
    faithful(db, &["%R~ro:*", "+@read"], &["%R~ro:*"]).await
}

async fn a_write_only_key_pattern(db: Db) {
    faithful(db, &["%W~wo:*", "+set", "+del"], &["%W~wo:*"]).await
}

async fn a_read_write_key_pattern(db: Db) {
    faithful(db, &["%RW~rw:*", "+get", "+set"], &["rw:*"]).await
}

async fn mixed_key_patterns(db: Db) {
    faithful(
        db,
        &["~app:*", "%R~ro:*", "%W~log:*", "+@read", "+@write"],
        &["~app:*", "%R~ro:*", "%W~log:*"],
    )
    .await
}

async fn allkeys_allchannels_allcommands(db: Db) {
    faithful(
        db,
        &["allkeys", "allchannels", "allcommands"],
        &["~*", "&*", "+@all"],
    )
    .await
}

async fn everything_but_the_dangerous_category(db: Db) {
    faithful(db, &["~*", "&*", "+@all", "-@dangerous"], &["-@dangerous"]).await
}

async fn everything_but_some_commands(db: Db) {
    faithful(
        db,
        &["~*", "+@all", "-flushdb", "-flushall", "-keys"],
        &["-flushall"],
    )
    .await
}

async fn subcommands_allowed_one_by_one(db: Db) {
    faithful(
        db,
        &[
            "~*",
            "+@read",
            "+config|get",
            "+client|setname",
            "+client|getname",
        ],
        &["+config|get", "+client|setname"],
    )
    .await
}

async fn subcommands_taken_away(db: Db) {
    faithful(
        db,
        &["~*", "+@all", "-config|set", "-client|kill"],
        &["-config|set"],
    )
    .await
}

async fn channel_patterns(db: Db) {
    faithful(
        db,
        &["&news:*", "&alerts", "+@pubsub"],
        &["&news:*", "&alerts"],
    )
    .await
}

async fn resetchannels_after_allchannels(db: Db) {
    faithful(
        db,
        &[
            "allchannels",
            "resetchannels",
            "&only:*",
            "+subscribe",
            "+publish",
        ],
        &["&only:*"],
    )
    .await
}

async fn allchannels_alone(db: Db) {
    faithful(db, &["allchannels", "+@pubsub"], &["&*"]).await
}

async fn glob_characters_in_patterns(db: Db) {
    faithful(
        db,
        &["~user:[0-9]*", "~s?ssion:*", "&ch\\*", "+get"],
        &["~user:[0-9]*", "~s?ssion:*"],
    )
    .await
}

async fn quotes_and_parentheses_in_root_patterns(db: Db) {
    // Outside a selector every rule is an argument of its own, so nothing is re-read.
    faithful(
        db,
        &["~it's:*", "~say:\"hi\"", "~(paren)", "+get"],
        &["~it's:*", "~say:\"hi\"", "~(paren)"],
    )
    .await
}

async fn categories_added_and_commands_taken_away(db: Db) {
    faithful(
        db,
        &["~q:*", "+@hash", "+@list", "-lpush", "+@string", "-@slow"],
        &["+@hash"],
    )
    .await
}

async fn keys_reset_and_given_again(db: Db) {
    faithful(db, &["~old:*", "resetkeys", "~new:*", "+get"], &["~new:*"]).await
}

async fn commands_without_keys(db: Db) {
    // A monitoring user: it may ask, but read no key.
    faithful(db, &["+ping", "+info", "+acl|whoami"], &["+ping"]).await
}

async fn skip_sanitize_payload(db: Db) {
    // Valkey 9 accepts the payload flags and keeps neither; the others keep them.
    let shape = Shape::new(db, &["skip-sanitize-payload", "~*", "+@all"]).await;
    let original = shape.rotates_there_and_back().await;
    assert!(
        !original.flags.contains("sanitize-payload"),
        "{original:#?}"
    );
}

async fn sanitize_payload_given_explicitly(db: Db) {
    let shape = Shape::new(
        db,
        &["sanitize-payload", "~app:*", "+restore", "+dump", "+get"],
    )
    .await;
    let original = shape.rotates_there_and_back().await;
    assert!(
        !original.flags.contains("skip-sanitize-payload"),
        "{original:#?}"
    );
}

async fn several_passwords_on_the_original(db: Db) {
    // A second password the DBA gave; the clone gets one of its own, and the original keeps
    // both until it is the alternate.
    faithful(db, &[">Another-pw-1", "~app:*", "+get"], &["~app:*"]).await
}

async fn one_selector(db: Db) {
    faithful(
        db,
        &["~app:*", "+@read", "(~cache:* +@write)"],
        &["~cache:*"],
    )
    .await
}

async fn several_selectors(db: Db) {
    let shape = Shape::new(
        db,
        &[
            "~app:*",
            "+get",
            "(~a:* +set)",
            "(%R~b:* +@read)",
            "(&c:* +publish)",
        ],
    )
    .await;
    let original = shape.rotates_there_and_back().await;
    assert_eq!(original.selectors.len(), 3, "{original:#?}");
}

async fn a_selector_with_channels_and_key_permissions(db: Db) {
    faithful(
        db,
        &["+ping", "(%R~r:* %W~w:* &sel:* +@all -@dangerous)"],
        &["%R~r:*", "%W~w:*", "&sel:*"],
    )
    .await
}

async fn a_selector_for_all_keys_with_an_exception(db: Db) {
    faithful(db, &["~app:*", "+get", "(~* +@read -keys)"], &["-keys"]).await
}

async fn a_selector_with_a_single_quote_in_a_pattern(db: Db) {
    // Inside a selector the server splits the rules as a command line, so the DBA quotes the
    // pattern; ACL LIST prints it without the quotes.
    faithful(db, &["+ping", "(~\"it's:*\" +get)"], &["~it's:*"]).await
}

async fn a_selector_with_a_double_quote_in_a_pattern(db: Db) {
    faithful(db, &["+ping", "(~'say:\"hi\"' +get)"], &["~say:\"hi\""]).await
}

async fn a_selector_with_a_parenthesis_in_a_pattern(db: Db) {
    faithful(
        db,
        &["+ping", "(~end) +get)", "(~(a)* +set)"],
        &["~end)", "~(a)*"],
    )
    .await
}

async fn an_original_that_is_off_is_refused_and_nothing_is_created(db: Db) {
    let shape = Shape::made(db, "off", &["~app:*", "+get"]).await;
    let r = rotator(&shape.c.sm, AlternatingUsers, &[]);
    let (kind, msg) = failed_set_secret(&shape.c.sm, &r, &shape.c.arn, "an off original").await;
    // AWSCURRENT cannot log in as a user that is off, and setSecret checks that first.
    assert_eq!(kind, "AuthenticationError", "{msg}");
    assert!(msg.contains("disabled"), "says why: {msg}");
    assert!(
        !shape.c.db.exists(&shape.clone_name()).await,
        "nothing created"
    );
}

async fn the_engine_refuses_a_model_that_is_off(db: Db) {
    // The second line behind the login check: the original switched off between setSecret's
    // login and the engine's read of it. The engine is called as setSecret calls it.
    let shape = Shape::made(db, "off", &["~app:*", "+get"]).await;
    let db = &shape.c.db;
    let admin = parse(&db.secret(&db.server.admin_user, &db.server.admin_password));
    let current = parse(&db.secret(&shape.c.user, &shape.c.password));
    let pending = parse(&db.secret(&shape.clone_name(), "Clone-pw-1"));
    let err = engine(PreviousPassword::Keep)
        .set_alternate(SetAlternate {
            admin: &admin,
            current: &current,
            pending: &pending,
        })
        .await
        .expect_err("a model that is off");
    let msg = err.to_string();
    assert_eq!(err.kind(), "BadSecret", "{msg}");
    assert!(
        msg.contains("off") && msg.contains(&format!("ACL SETUSER {} on", shape.c.user)),
        "says what to do: {msg}"
    );
    assert!(!db.exists(&shape.clone_name()).await, "nothing created");
}

async fn a_stale_clone_with_a_payload_flag_the_original_lacks(db: Db) {
    // A clone left with `sanitize-payload` (as `ACL SETUSER … reset` leaves a user on Redis
    // 7.0) next to an original with neither payload flag: no rule takes the flag away again.
    let shape = Shape::new(db, &["~app:*", "+get"]).await;
    let clone = shape.clone_name();
    shape
        .c
        .db
        .admin(&[
            "ACL",
            "SETUSER",
            &clone,
            "reset",
            "sanitize-payload",
            ">Stale-pw-1",
        ])
        .await;
    let original = shape.snapshot_of(&shape.c.user).await.expect("original");
    let stale = shape.snapshot_of(&clone).await.expect("clone");
    let payload = |s: &Snapshot| s.flags.iter().any(|f| f.ends_with("sanitize-payload"));
    if payload(&original) || !payload(&stale) {
        // Valkey 8 gives every new user `sanitize-payload`, so the original has it too; Valkey
        // 9 keeps no payload flag at all. Either way the copy is exact.
        assert_eq!(
            payload(&original),
            payload(&stale),
            "{original:#?} {stale:#?}"
        );
        shape.rotates_there_and_back().await;
        return;
    }
    let r = rotator(&shape.c.sm, AlternatingUsers, &[]);
    let (kind, msg) = failed_set_secret(&shape.c.sm, &r, &shape.c.arn, "a stale clone").await;
    assert_eq!(kind, "BadSecret", "{msg}");
    assert!(
        msg.contains("sanitize-payload") && msg.contains(&format!("ACL DELUSER {clone}")),
        "names the flag and what to do: {msg}"
    );
    assert_eq!(
        shape.snapshot_of(&clone).await.as_ref(),
        Some(&stale),
        "the stale clone is left as it was"
    );
    shape
        .c
        .db
        .login(&shape.c.user, &shape.c.password)
        .await
        .expect("the original keeps working");
}

/// Whether the server has Valkey 9's database rules (`db=…`): it refuses them otherwise, and
/// there is nothing to copy. Either answer is checked.
async fn has_database_rules(db: &Db) -> bool {
    let mut conn = db
        .connect(&db.server.admin_user, &db.server.admin_password)
        .await
        .unwrap_or_else(|e| panic!("admin login: {e}"));
    let probe = unique("dbprobe");
    let answer: redis::RedisResult<()> = redis::cmd("ACL")
        .arg("SETUSER")
        .arg(&probe)
        .arg("db=1")
        .query_async(&mut conn)
        .await;
    match answer {
        Ok(()) => true,
        Err(e) => {
            assert!(
                !db.exists(&probe).await && e.to_string().contains("db=1"),
                "a server without database rules refuses db=1: {e}"
            );
            false
        }
    }
}

async fn database_rules_at_the_root_and_in_a_selector(db: Db) {
    if !has_database_rules(&db).await {
        return;
    }
    faithful(
        db,
        &["~app:*", "+get", "db=1,3", "(~b:* +set db=2)"],
        &["db=1,3", "db=2"],
    )
    .await
}

async fn a_stale_clone_with_database_rules_gets_all_databases_back(db: Db) {
    if !has_database_rules(&db).await {
        return;
    }
    let shape = Shape::new(db, &["~app:*", "+get"]).await;
    shape
        .c
        .db
        .admin(&["ACL", "SETUSER", &shape.clone_name(), "db=5", "(~x +del)"])
        .await;
    let original = shape.rotates_there_and_back().await;
    assert_eq!(
        original.fields.get("databases").map(String::as_str),
        Some("alldbs"),
        "{original:#?}"
    );
}

async fn selectors_copied_by_an_admin_without_acl_getuser(db: Db) {
    // An admin with the rules the README gave before ACL GETUSER was used: the selectors come
    // from ACL LIST, quoted, and a quote in a pattern survives.
    let sm = test_support::secrets::Sm::from_env();
    let admin = unique("rotation-admin");
    let password = unique("Admin-pw-");
    db.create_user(
        &admin,
        &password,
        &["+acl|setuser", "+acl|list", "+acl|save", "+config|get"],
    )
    .await;
    let master = db.master_secret_for(&sm, &admin, &password).await;
    let shape = Shape::with_master(
        db,
        sm,
        master,
        "on",
        &["~app:*", "+get", "(~\"it's:*\" +set)", "(%R~b:* +@read)"],
    )
    .await;
    let original = shape.rotates_there_and_back().await;
    assert_eq!(original.selectors.len(), 2, "{original:#?}");
}
