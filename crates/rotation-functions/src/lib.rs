//! The one table of the six rotation functions: for each, its name, the package that builds
//! it, its engine, its strategy, its default `EXCLUDE_CHARACTERS` and whether it makes its
//! change with the `masterarn` admin; and the one list of architectures the zips are built for.
//!
//! The engine facts are not copied here: each engine crate keeps them in its own
//! dependency-free `src/facts.rs`, which its `impl Engine` reads and which this crate compiles
//! too (with `#[path]`). So `cargo xtask dist`, the templates `cargo xtask package` writes,
//! `cargo xtask bench` and the release tests read the very values the binaries are built
//! with, and none of them can disagree with a binary. This crate has no dependencies, so that
//! reading the table costs those tools nothing to build.

#[path = "../../rotation-mysql/src/facts.rs"]
pub mod mysql;
#[path = "../../rotation-postgres/src/facts.rs"]
pub mod postgres;
#[path = "../../rotation-redis/src/facts.rs"]
pub mod redis;

/// The database engine a function rotates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// MySQL, MariaDB, Aurora MySQL (`rotation-mysql`).
    MySql,
    /// PostgreSQL, Aurora PostgreSQL (`rotation-postgres`).
    Postgres,
    /// Redis OSS and Valkey ACL users (`rotation-redis`).
    Redis,
}

impl Engine {
    /// Every engine, in the order the functions are listed.
    pub const ALL: [Engine; 3] = [Engine::MySql, Engine::Postgres, Engine::Redis];

    /// The Cargo package that builds this engine's functions (`crates/<package>`).
    pub const fn package(self) -> &'static str {
        match self {
            Engine::MySql => mysql::PACKAGE,
            Engine::Postgres => postgres::PACKAGE,
            Engine::Redis => redis::PACKAGE,
        }
    }

    /// Accepted values of the secret's `engine` field; the first is the usual one.
    pub const fn engines(self) -> &'static [&'static str] {
        match self {
            Engine::MySql => mysql::ENGINES,
            Engine::Postgres => postgres::ENGINES,
            Engine::Redis => redis::ENGINES,
        }
    }

    /// The port when the secret has none.
    pub const fn default_port(self) -> u16 {
        match self {
            Engine::MySql => mysql::DEFAULT_PORT,
            Engine::Postgres => postgres::DEFAULT_PORT,
            Engine::Redis => redis::DEFAULT_PORT,
        }
    }

    /// The database when the secret has no `dbname`.
    pub const fn default_dbname(self) -> Option<&'static str> {
        match self {
            Engine::MySql => mysql::DEFAULT_DBNAME,
            Engine::Postgres => postgres::DEFAULT_DBNAME,
            Engine::Redis => redis::DEFAULT_DBNAME,
        }
    }

    /// The default of `EXCLUDE_CHARACTERS`.
    pub const fn default_exclude_characters(self) -> &'static str {
        match self {
            Engine::MySql => mysql::DEFAULT_EXCLUDE_CHARACTERS,
            Engine::Postgres => postgres::DEFAULT_EXCLUDE_CHARACTERS,
            Engine::Redis => redis::DEFAULT_EXCLUDE_CHARACTERS,
        }
    }

    /// Whether single-user rotation makes the change with the `masterarn` admin when the
    /// secret names one.
    pub const fn single_user_uses_admin(self) -> bool {
        match self {
            Engine::MySql => mysql::SINGLE_USER_USES_ADMIN,
            Engine::Postgres => postgres::SINGLE_USER_USES_ADMIN,
            Engine::Redis => redis::SINGLE_USER_USES_ADMIN,
        }
    }

    /// Whether setSecret repeats the change when AWSPENDING already logs in.
    pub const fn repeat_set_when_pending_works(self) -> bool {
        match self {
            Engine::MySql => mysql::REPEAT_SET_WHEN_PENDING_WORKS,
            Engine::Postgres => postgres::REPEAT_SET_WHEN_PENDING_WORKS,
            Engine::Redis => redis::REPEAT_SET_WHEN_PENDING_WORKS,
        }
    }

    /// The name of this engine's function for `strategy`.
    pub const fn function_name(self, strategy: Strategy) -> &'static str {
        match (self, strategy) {
            (Engine::MySql, Strategy::SingleUser) => mysql::SINGLE_USER,
            (Engine::MySql, Strategy::AlternatingUsers) => mysql::ALTERNATING_USERS,
            (Engine::Postgres, Strategy::SingleUser) => postgres::SINGLE_USER,
            (Engine::Postgres, Strategy::AlternatingUsers) => postgres::ALTERNATING_USERS,
            (Engine::Redis, Strategy::SingleUser) => redis::SINGLE_USER,
            (Engine::Redis, Strategy::AlternatingUsers) => redis::ALTERNATING_USERS,
        }
    }
}

/// How a function rotates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// The user changes its own password (`rotation_core::Strategy::SingleUser`).
    SingleUser,
    /// Two users, `name` and `name_clone`, set by the `masterarn` admin
    /// (`rotation_core::Strategy::AlternatingUsers`).
    AlternatingUsers,
}

impl Strategy {
    /// `single-user` or `alternating-users`, as in the function names.
    pub const fn as_str(self) -> &'static str {
        match self {
            Strategy::SingleUser => "single-user",
            Strategy::AlternatingUsers => "alternating-users",
        }
    }
}

/// Whether a function makes its change with the admin of the secret's `masterarn`. (Every
/// function reads a `masterarn` it is given, if only to check that it does not name the user
/// being rotated.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminUse {
    /// Never: the user changes its own password.
    Never,
    /// When the secret names one; otherwise the user's own login does it.
    WhenNamed,
    /// Always: the secret must name one.
    Always,
}

/// One rotation function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Function {
    /// Its name: the binary `crates/<package>/src/bin/<name>.rs`, the zip
    /// `target/dist/<name>-<arch>.zip` and the template `deploy/<name>/template.yaml`.
    pub name: &'static str,
    /// The Cargo package that builds it.
    pub package: &'static str,
    /// The database it rotates.
    pub engine: Engine,
    /// How it rotates.
    pub strategy: Strategy,
    /// The default of its `EXCLUDE_CHARACTERS`.
    pub default_exclude_characters: &'static str,
    /// Whether it makes its change with the `masterarn` admin.
    pub admin: AdminUse,
}

impl Function {
    /// The function of `engine` for `strategy`, with the engine's facts.
    pub const fn of(engine: Engine, strategy: Strategy) -> Function {
        Function {
            name: engine.function_name(strategy),
            package: engine.package(),
            engine,
            strategy,
            default_exclude_characters: engine.default_exclude_characters(),
            admin: match strategy {
                Strategy::AlternatingUsers => AdminUse::Always,
                Strategy::SingleUser if engine.single_user_uses_admin() => AdminUse::WhenNamed,
                Strategy::SingleUser => AdminUse::Never,
            },
        }
    }
}

/// Every function, in the order the README lists them.
pub const FUNCTIONS: [Function; 6] = [
    Function::of(Engine::MySql, Strategy::SingleUser),
    Function::of(Engine::MySql, Strategy::AlternatingUsers),
    Function::of(Engine::Postgres, Strategy::SingleUser),
    Function::of(Engine::Postgres, Strategy::AlternatingUsers),
    Function::of(Engine::Redis, Strategy::SingleUser),
    Function::of(Engine::Redis, Strategy::AlternatingUsers),
];

/// The function called `name`.
pub fn function(name: &str) -> Option<Function> {
    FUNCTIONS.into_iter().find(|f| f.name == name)
}

/// Every function's name, in table order.
pub fn names() -> impl Iterator<Item = &'static str> {
    FUNCTIONS.iter().map(|f| f.name)
}

/// A Lambda CPU architecture the zips are built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// AWS Graviton; the default of the templates.
    Arm64,
    /// Intel and AMD.
    X86_64,
}

impl Arch {
    /// Both architectures, the templates' default first.
    pub const ALL: [Arch; 2] = [Arch::Arm64, Arch::X86_64];

    /// Lambda's name, also used in the zip file names: `arm64` or `x86_64`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Arch::Arm64 => "arm64",
            Arch::X86_64 => "x86_64",
        }
    }

    /// The Rust target triple of the static musl build.
    pub const fn triple(self) -> &'static str {
        match self {
            Arch::Arm64 => "aarch64-unknown-linux-musl",
            Arch::X86_64 => "x86_64-unknown-linux-musl",
        }
    }

    /// The ELF `e_machine` of its binaries.
    pub const fn elf_machine(self) -> u16 {
        match self {
            Arch::Arm64 => 183,
            Arch::X86_64 => 62,
        }
    }

    /// Parse Lambda's name (`arm64`, `x86_64`), or the other common one (`aarch64`, `amd64`).
    pub fn parse(s: &str) -> Option<Arch> {
        match s {
            "arm64" | "aarch64" => Some(Arch::Arm64),
            "x86_64" | "amd64" => Some(Arch::X86_64),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn crates_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("crates/")
            .to_path_buf()
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn names_are_unique_and_say_engine_and_strategy() {
        for (i, f) in FUNCTIONS.iter().enumerate() {
            assert!(
                FUNCTIONS[..i].iter().all(|g| g.name != f.name),
                "{} twice",
                f.name
            );
            let engine = f
                .package
                .strip_prefix("rotation-")
                .expect("rotation-<engine>");
            assert_eq!(
                f.name,
                format!("{engine}-{}", f.strategy.as_str()),
                "the name of {f:?}"
            );
        }
        for engine in Engine::ALL {
            for strategy in [Strategy::SingleUser, Strategy::AlternatingUsers] {
                assert_eq!(
                    FUNCTIONS
                        .iter()
                        .filter(|f| f.engine == engine && f.strategy == strategy)
                        .count(),
                    1,
                    "{engine:?} {strategy:?}"
                );
            }
        }
    }

    /// Each function is a binary of its package that runs its own strategy, and each package
    /// has no binary the table does not list.
    #[test]
    fn every_function_is_a_binary_of_its_package() {
        for f in FUNCTIONS {
            let dir = crates_dir().join(f.package);
            let manifest = read(&dir.join("Cargo.toml"));
            assert!(
                manifest.contains(&format!("name = \"{}\"", f.package)),
                "{}: crates/{}/Cargo.toml names another package",
                f.name,
                f.package
            );
            let main = read(&dir.join("src").join("bin").join(format!("{}.rs", f.name)));
            let (mine, other) = match f.strategy {
                Strategy::SingleUser => ("Strategy::SingleUser", "Strategy::AlternatingUsers"),
                Strategy::AlternatingUsers => {
                    ("Strategy::AlternatingUsers", "Strategy::SingleUser")
                }
            };
            assert!(
                main.contains("rotation_core::run(") && main.contains(mine),
                "{}: its main must call rotation_core::run with {mine}",
                f.name
            );
            assert!(!main.contains(other), "{}: its main names {other}", f.name);
        }
        for engine in Engine::ALL {
            let bins = crates_dir().join(engine.package()).join("src").join("bin");
            for entry in std::fs::read_dir(&bins).expect("src/bin") {
                let path = entry.expect("entry").path();
                let stem = path.file_stem().and_then(|s| s.to_str()).expect("name");
                assert!(
                    function(stem).is_some_and(|f| f.engine == engine),
                    "{} is not in FUNCTIONS",
                    path.display()
                );
            }
        }
    }

    /// Each engine's `impl Engine` takes its facts from its `facts.rs`, the file this table is
    /// made of, so that the table says what the binaries do.
    #[test]
    fn every_engine_implements_its_facts() {
        for engine in Engine::ALL {
            let lib = read(
                &crates_dir()
                    .join(engine.package())
                    .join("src")
                    .join("lib.rs"),
            );
            let flat: String = lib.split_whitespace().collect::<Vec<_>>().join(" ");
            for wanted in [
                "pub mod facts;",
                "engines: facts::ENGINES,",
                "default_port: facts::DEFAULT_PORT,",
                "default_dbname: facts::DEFAULT_DBNAME,",
                "const RULES: SecretRules = RULES;",
                "const DEFAULT_EXCLUDE_CHARACTERS: &'static str = facts::DEFAULT_EXCLUDE_CHARACTERS;",
                "const SINGLE_USER_USES_ADMIN: bool = facts::SINGLE_USER_USES_ADMIN;",
                "const REPEAT_SET_WHEN_PENDING_WORKS: bool = facts::REPEAT_SET_WHEN_PENDING_WORKS;",
            ] {
                assert!(
                    flat.contains(wanted),
                    "crates/{}/src/lib.rs: no `{wanted}`",
                    engine.package()
                );
            }
        }
    }

    /// rotation-core's log filter shows this project's lines at the chosen level by the
    /// `rotation_` prefix of their targets, so every package must be named `rotation-…`.
    #[test]
    fn packages_are_named_for_the_log_filter() {
        for f in FUNCTIONS {
            assert!(f.package.starts_with("rotation-"), "{}", f.package);
        }
    }

    #[test]
    fn facts_of_the_table() {
        let f = function("redis-single-user").expect("redis-single-user");
        assert_eq!(f.admin, AdminUse::WhenNamed);
        let f = function("postgres-single-user").expect("postgres-single-user");
        assert_eq!(f.admin, AdminUse::Never);
        assert!(f.default_exclude_characters.contains(':'));
        assert!(
            FUNCTIONS
                .iter()
                .filter(|f| f.strategy == Strategy::AlternatingUsers)
                .all(|f| f.admin == AdminUse::Always)
        );
        assert_eq!(function("mysql"), None);
        for arch in Arch::ALL {
            assert_eq!(Arch::parse(arch.as_str()), Some(arch));
        }
        assert_eq!(Arch::parse("aarch64"), Some(Arch::Arm64));
        assert_eq!(Arch::parse("all"), None);
    }
}
