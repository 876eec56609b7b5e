//! Settings read from the environment, with the names and defaults of AWS's templates.

use crate::secret::SslMode;
use std::path::PathBuf;
use std::time::Duration;

/// Which rotation strategy a binary implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// The user changes its own password.
    SingleUser,
    /// Two users, `name` and `name_clone`; each rotation resets the one that is not current.
    AlternatingUsers,
}

impl Strategy {
    /// `single-user` or `alternating-users`, as in the function names.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::SingleUser => "single-user",
            Strategy::AlternatingUsers => "alternating-users",
        }
    }
}

/// What single-user setSecret does with the password of AWSCURRENT (`PREVIOUS_PASSWORD`),
/// where the engine can keep two passwords valid (Redis ACL users, MySQL 8.0.14+ dual
/// passwords).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreviousPassword {
    /// It stays valid next to the new one until the next rotation (the default), so clients
    /// that still hold it keep working while they pick up the new secret.
    Keep,
    /// Only the new password is valid after setSecret.
    Discard,
}

impl PreviousPassword {
    /// Parse `PREVIOUS_PASSWORD`: unset or empty is `keep`.
    pub fn parse(value: Option<&str>) -> Result<PreviousPassword, ConfigError> {
        match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("") | Some("keep") => Ok(PreviousPassword::Keep),
            Some("discard") => Ok(PreviousPassword::Discard),
            Some(_) => Err(ConfigError {
                name: "PREVIOUS_PASSWORD",
                problem: format!(
                    "{:?} is not one of keep, discard",
                    value.unwrap_or_default()
                ),
            }),
        }
    }
}

/// Arguments of `GetRandomPassword`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// `PASSWORD_LENGTH`, default 32.
    pub length: i64,
    /// `EXCLUDE_CHARACTERS`, by default the engine's
    /// [`Engine::DEFAULT_EXCLUDE_CHARACTERS`](crate::Engine::DEFAULT_EXCLUDE_CHARACTERS).
    pub exclude_characters: String,
    /// `EXCLUDE_NUMBERS`.
    pub exclude_numbers: bool,
    /// `EXCLUDE_PUNCTUATION`.
    pub exclude_punctuation: bool,
    /// `EXCLUDE_UPPERCASE`.
    pub exclude_uppercase: bool,
    /// `EXCLUDE_LOWERCASE`.
    pub exclude_lowercase: bool,
    /// `REQUIRE_EACH_INCLUDED_TYPE`, default true.
    pub require_each_included_type: bool,
}

/// A setting that cannot be used; the function refuses to start.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {name}: {problem}")]
pub struct ConfigError {
    /// The variable.
    pub name: &'static str,
    /// What is wrong and what is expected.
    pub problem: String,
}

/// Everything the protocol needs from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// The strategy of this binary.
    pub strategy: Strategy,
    /// How new passwords are generated.
    pub password: PasswordPolicy,
    /// `SECRETS_MANAGER_ENDPOINT`; otherwise the SDK's own resolution applies.
    pub endpoint: Option<String>,
    /// `CONNECT_TIMEOUT_SECONDS`, default 5.
    pub connect_timeout: Duration,
    /// `TLS_MODE` (`prefer`, `require`, `disable`): used when a secret has no `ssl` key.
    pub tls_mode: SslMode,
    /// `CA_BUNDLE`: a PEM file of extra trusted CAs.
    pub ca_bundle: Option<PathBuf>,
    /// `TRUST_RDS_CA`, default true: trust the Amazon RDS certificate authorities embedded in
    /// the binary. False for those who want only their own CAs (and the system's).
    pub trust_rds_ca: bool,
}

/// A value counts as true when it is `true`, `1`, `y` or `yes`, in any case (as in AWS's
/// templates); anything else is false.
pub fn truthy(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "true" | "1" | "y" | "yes"
    )
}

impl Config {
    /// Read the process environment.
    pub fn from_env(strategy: Strategy, default_exclude: &str) -> Result<Config, ConfigError> {
        Config::from_lookup(strategy, default_exclude, |k| std::env::var(k).ok())
    }

    /// Read settings through `lookup` (the environment in production, a map in tests).
    pub fn from_lookup(
        strategy: Strategy,
        default_exclude: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let get = |k: &str| lookup(k).filter(|v| !v.is_empty());
        let flag = |k: &str, default: bool| get(k).map_or(default, |v| truthy(&v));
        let length = match get("PASSWORD_LENGTH") {
            None => 32,
            Some(v) => v
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=4096).contains(n))
                .ok_or_else(|| ConfigError {
                    name: "PASSWORD_LENGTH",
                    problem: format!("{v:?} is not a whole number from 1 to 4096"),
                })?,
        };
        let connect_timeout = match get("CONNECT_TIMEOUT_SECONDS") {
            None => Duration::from_secs(5),
            Some(v) => v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|n| *n > 0.0 && *n <= 900.0)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| ConfigError {
                    name: "CONNECT_TIMEOUT_SECONDS",
                    problem: format!("{v:?} is not a number of seconds between 0 and 900"),
                })?,
        };
        let tls_mode = match get("TLS_MODE") {
            None => SslMode::Prefer,
            Some(v) => SslMode::parse(&v).ok_or_else(|| ConfigError {
                name: "TLS_MODE",
                problem: format!("{v:?} is not one of prefer, require, disable"),
            })?,
        };
        Ok(Config {
            strategy,
            password: PasswordPolicy {
                length,
                exclude_characters: lookup("EXCLUDE_CHARACTERS")
                    .unwrap_or_else(|| default_exclude.to_owned()),
                exclude_numbers: flag("EXCLUDE_NUMBERS", false),
                exclude_punctuation: flag("EXCLUDE_PUNCTUATION", false),
                exclude_uppercase: flag("EXCLUDE_UPPERCASE", false),
                exclude_lowercase: flag("EXCLUDE_LOWERCASE", false),
                require_each_included_type: flag("REQUIRE_EACH_INCLUDED_TYPE", true),
            },
            endpoint: get("SECRETS_MANAGER_ENDPOINT"),
            connect_timeout,
            tls_mode,
            ca_bundle: get("CA_BUNDLE").map(PathBuf::from),
            trust_rds_ca: flag("TRUST_RDS_CA", true),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(Strategy::SingleUser, "/@\"'\\", |k| map.get(k).cloned())
    }

    #[test]
    fn defaults_match_the_templates() {
        let c = cfg(&[]).expect("defaults");
        assert_eq!(c.password.length, 32);
        assert_eq!(c.password.exclude_characters, "/@\"'\\");
        assert!(!c.password.exclude_numbers && !c.password.exclude_punctuation);
        assert!(!c.password.exclude_uppercase && !c.password.exclude_lowercase);
        assert!(c.password.require_each_included_type);
        assert_eq!(c.connect_timeout, Duration::from_secs(5));
        assert_eq!(c.tls_mode, SslMode::Prefer);
        assert_eq!(c.endpoint, None);
        assert!(c.trust_rds_ca);
    }

    #[test]
    fn trust_rds_ca_is_on_unless_falsy() {
        for (value, trusted) in [
            ("", true),
            ("true", true),
            ("YES", true),
            ("1", true),
            ("false", false),
            ("False", false),
            ("0", false),
            ("no", false),
        ] {
            let c = cfg(&[("TRUST_RDS_CA", value)]).expect("valid");
            assert_eq!(c.trust_rds_ca, trusted, "TRUST_RDS_CA={value:?}");
        }
    }

    #[test]
    fn truthy_values_and_overrides() {
        let c = cfg(&[
            ("EXCLUDE_NUMBERS", "YES"),
            ("EXCLUDE_PUNCTUATION", "1"),
            ("EXCLUDE_UPPERCASE", "y"),
            ("EXCLUDE_LOWERCASE", "nope"),
            ("REQUIRE_EACH_INCLUDED_TYPE", "false"),
            ("PASSWORD_LENGTH", "20"),
            ("EXCLUDE_CHARACTERS", "abc"),
            ("SECRETS_MANAGER_ENDPOINT", "http://127.0.0.1:1"),
        ])
        .expect("valid");
        assert!(c.password.exclude_numbers && c.password.exclude_punctuation);
        assert!(c.password.exclude_uppercase && !c.password.exclude_lowercase);
        assert!(!c.password.require_each_included_type);
        assert_eq!(c.password.length, 20);
        assert_eq!(c.password.exclude_characters, "abc");
        assert_eq!(c.endpoint.as_deref(), Some("http://127.0.0.1:1"));
    }

    #[test]
    fn bad_values_are_refused_with_the_variable_name() {
        for (k, v) in [
            ("PASSWORD_LENGTH", "long"),
            ("CONNECT_TIMEOUT_SECONDS", "-1"),
            ("TLS_MODE", "sometimes"),
        ] {
            let err = cfg(&[(k, v)]).expect_err(k).to_string();
            assert!(err.contains(k), "{err}");
        }
    }
}
