//! The test engine: an [`Engine`] whose "database" is an in-memory map of user -> password,
//! with a log of every call the protocol made to it and switches that make a login or a change
//! fail.
//!
//! It is a stand-in on purpose, and only here: these tests are about the protocol (the gate,
//! the steps, the checks, the Secrets Manager calls), not about a database, and a map lets
//! them see exactly what the protocol asked the engine to do, and that a refused step asked
//! nothing at all. Secrets Manager is the real emulator. Each engine crate tests its engine
//! against real servers.

use rotation_core::secret::SecretRules;
use rotation_core::{
    DbSecret, Engine, EngineError, ExposeSecret, Rights, RightsCheck, SetAlternate, SetPassword,
    Transport,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

/// Where the test database "listens": secrets that name another host or port cannot log in.
pub const HOST: &str = "db.test.internal";
/// The test database's port, which is also the engine's default.
pub const PORT: u16 = 5555;
/// The engine's default database.
pub const DBNAME: &str = "main";
/// The longest user name the test database holds (checked by `check_username`).
pub const NAME_LIMIT: usize = 24;
/// The `engine` values this engine accepts.
pub const ENGINES: &[&str] = &["testdb", "testdb-compatible"];
/// The engine's default of `EXCLUDE_CHARACTERS`: distinct from every real engine's, so a test
/// can tell that this one is used.
pub const DEFAULT_EXCLUDE_CHARACTERS: &str = "/@\"'\\:#%`";

const RULES: SecretRules = SecretRules {
    engines: ENGINES,
    default_port: PORT,
    default_dbname: Some(DBNAME),
};

/// One call the protocol made to the engine. Passwords are kept so that a test can tell which
/// credentials were used; they never leave the test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `check_username(current, alternate)`.
    CheckUsername {
        /// The current user.
        current: String,
        /// The name checked.
        alternate: String,
    },
    /// `check_login(creds)`.
    Login {
        /// The user.
        user: String,
        /// The password tried.
        password: String,
    },
    /// `set_password(req)`.
    SetPassword {
        /// The user of `req.login`.
        login: String,
        /// The password of `req.login`.
        login_password: String,
        /// The user changed.
        user: String,
        /// Its new password.
        password: String,
        /// The admin, when the protocol passed one.
        admin: Option<String>,
    },
    /// `set_alternate(req)`.
    SetAlternate {
        /// The admin's user.
        admin: String,
        /// The model user (AWSCURRENT).
        model: String,
        /// The user created or reset.
        user: String,
        /// Its new password.
        password: String,
    },
}

impl Call {
    /// Whether the call changes the database.
    pub fn is_change(&self) -> bool {
        matches!(self, Call::SetPassword { .. } | Call::SetAlternate { .. })
    }
}

/// How the next change fails.
#[derive(Debug, Clone)]
pub enum ChangeFault {
    /// Refused, nothing changed.
    Before(EngineError),
    /// Made, then a second part failed (as `ACL SAVE` can after `ACL SETUSER`).
    After(EngineError),
    /// Refused with a message that quotes the new password (as a server that echoes a
    /// statement would): the protocol must scrub it.
    EchoingThePassword,
}

#[derive(Default)]
struct State {
    users: BTreeMap<String, String>,
    calls: Vec<Call>,
    login_faults: HashMap<String, EngineError>,
    change_fault: Option<ChangeFault>,
}

/// The in-memory database, shared by the engine and the test.
#[derive(Clone, Default)]
pub struct Db(Arc<Mutex<State>>);

impl Db {
    /// An empty database.
    pub fn new() -> Db {
        Db::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Create `user` or give it `password` (as a person with admin rights would).
    pub fn set_user(&self, user: &str, password: &str) {
        self.state()
            .users
            .insert(user.to_owned(), password.to_owned());
    }

    /// The password of `user`, if it exists.
    pub fn password_of(&self, user: &str) -> Option<String> {
        self.state().users.get(user).cloned()
    }

    /// Every user with its password.
    pub fn users(&self) -> BTreeMap<String, String> {
        self.state().users.clone()
    }

    /// The calls so far.
    pub fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }

    /// The calls that changed the database.
    pub fn changes(&self) -> Vec<Call> {
        self.calls().into_iter().filter(Call::is_change).collect()
    }

    /// Forget the calls so far.
    pub fn clear_calls(&self) {
        self.state().calls.clear();
    }

    /// Every login of `user` fails with `error` from now on.
    pub fn fail_logins_of(&self, user: &str, error: EngineError) {
        self.state().login_faults.insert(user.to_owned(), error);
    }

    /// The next change fails as `fault` says.
    pub fn fail_next_change(&self, fault: ChangeFault) {
        self.state().change_fault = Some(fault);
    }

    fn record(&self, call: Call) {
        self.state().calls.push(call);
    }

    /// What a login with `creds` gets, without recording it.
    fn login(&self, creds: &DbSecret) -> Result<(), EngineError> {
        if !creds.host.eq_ignore_ascii_case(HOST) || creds.port != PORT {
            return Err(EngineError::Network {
                endpoint: format!("{}:{}", creds.host, creds.port),
                detail: "connection refused".into(),
            });
        }
        let state = self.state();
        if let Some(e) = state.login_faults.get(&creds.username) {
            return Err(e.clone());
        }
        match state.users.get(&creds.username) {
            Some(pw) if pw.as_str() == creds.password.expose_secret() => Ok(()),
            _ => Err(EngineError::Authentication {
                user: creds.username.clone(),
                detail: "password authentication failed".into(),
            }),
        }
    }

    /// Make `user` have `password`, unless the fault switch says otherwise.
    fn change(&self, user: &str, password: &str) -> Result<(), EngineError> {
        let fault = self.state().change_fault.take();
        match fault {
            None => {
                self.set_user(user, password);
                Ok(())
            }
            Some(ChangeFault::Before(e)) => Err(e),
            Some(ChangeFault::After(e)) => {
                self.set_user(user, password);
                Err(e)
            }
            Some(ChangeFault::EchoingThePassword) => Err(EngineError::Database(format!(
                "syntax error in SET PASSWORD FOR {user} = '{password}'"
            ))),
        }
    }
}

/// The engine. `USES_ADMIN` and `REPEAT` are its `SINGLE_USER_USES_ADMIN` and
/// `REPEAT_SET_WHEN_PENDING_WORKS`, so one type covers every combination the protocol knows.
pub struct TestEngine<const USES_ADMIN: bool, const REPEAT: bool> {
    /// The database it works on.
    pub db: Db,
}

/// Like MySQL and PostgreSQL: single user changes its own password; one atomic change. (Redis
/// is `TestEngine<true, true>`: the admin changes it, and the change is repeated.)
pub type SqlLike = TestEngine<false, false>;

impl<const USES_ADMIN: bool, const REPEAT: bool> TestEngine<USES_ADMIN, REPEAT> {
    /// An engine on `db`.
    pub fn new(db: &Db) -> Self {
        TestEngine { db: db.clone() }
    }
}

impl<const USES_ADMIN: bool, const REPEAT: bool> Engine for TestEngine<USES_ADMIN, REPEAT> {
    const RULES: SecretRules = RULES;
    const DEFAULT_EXCLUDE_CHARACTERS: &'static str = DEFAULT_EXCLUDE_CHARACTERS;
    const SINGLE_USER_USES_ADMIN: bool = USES_ADMIN;
    const REPEAT_SET_WHEN_PENDING_WORKS: bool = REPEAT;

    async fn check_username(&self, current: &DbSecret, alternate: &str) -> Result<(), EngineError> {
        self.db.record(Call::CheckUsername {
            current: current.username.clone(),
            alternate: alternate.to_owned(),
        });
        let n = alternate.chars().count();
        if n > NAME_LIMIT {
            return Err(EngineError::Refused(format!(
                "the user name '{alternate}' has {n} characters, but the test database holds at most {NAME_LIMIT}; shorten the secret's username"
            )));
        }
        Ok(())
    }

    async fn check_login(&self, creds: &DbSecret) -> Result<(), EngineError> {
        self.db.record(Call::Login {
            user: creds.username.clone(),
            password: creds.password.expose_secret().to_owned(),
        });
        self.db.login(creds)
    }

    async fn probe_login(&self, creds: &DbSecret) -> Result<Transport, EngineError> {
        self.check_login(creds).await.map(|()| Transport::Tls)
    }

    async fn check_rights(&self, req: RightsCheck<'_>) -> Result<Rights, EngineError> {
        self.db.login(req.actor)?;
        Ok(Rights::Complete)
    }

    async fn set_password(&self, req: SetPassword<'_>) -> Result<(), EngineError> {
        self.db.record(Call::SetPassword {
            login: req.login.username.clone(),
            login_password: req.login.password.expose_secret().to_owned(),
            user: req.pending.username.clone(),
            password: req.pending.password.expose_secret().to_owned(),
            admin: req.admin.map(|a| a.username.clone()),
        });
        self.db.login(req.admin.unwrap_or(req.login))?;
        self.db
            .change(&req.pending.username, req.pending.password.expose_secret())
    }

    async fn set_alternate(&self, req: SetAlternate<'_>) -> Result<(), EngineError> {
        self.db.record(Call::SetAlternate {
            admin: req.admin.username.clone(),
            model: req.current.username.clone(),
            user: req.pending.username.clone(),
            password: req.pending.password.expose_secret().to_owned(),
        });
        self.db.login(req.admin)?;
        self.db
            .change(&req.pending.username, req.pending.password.expose_secret())
    }
}
