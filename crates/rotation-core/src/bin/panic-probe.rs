//! A rotation function whose engine panics when it logs in. Built with the release profile by
//! `cargo xtask test`, it shows that a panic in a handler comes back as a Lambda error and the
//! process keeps serving (which `panic = "abort"` would break: the invocation would hang).

use rotation_core::secret::SecretRules;
use rotation_core::{
    DbSecret, Engine, EngineError, Rights, RightsCheck, SetAlternate, SetPassword, Strategy,
    Transport,
};
use std::process::ExitCode;

struct Panicking;

impl Engine for Panicking {
    const RULES: SecretRules = SecretRules {
        engines: &["probe"],
        default_port: 1,
        default_dbname: None,
    };
    const DEFAULT_EXCLUDE_CHARACTERS: &'static str = "";

    async fn check_username(&self, _: &DbSecret, _: &str) -> Result<(), EngineError> {
        Ok(())
    }

    async fn check_login(&self, _: &DbSecret) -> Result<(), EngineError> {
        panic!("probe: the engine panicked on purpose")
    }

    async fn probe_login(&self, _: &DbSecret) -> Result<Transport, EngineError> {
        panic!("probe: the engine panicked on purpose")
    }

    async fn check_rights(&self, _: RightsCheck<'_>) -> Result<Rights, EngineError> {
        Ok(Rights::Complete)
    }

    async fn set_password(&self, _: SetPassword<'_>) -> Result<(), EngineError> {
        Ok(())
    }

    async fn set_alternate(&self, _: SetAlternate<'_>) -> Result<(), EngineError> {
        Ok(())
    }
}

fn main() -> ExitCode {
    rotation_core::run(Strategy::SingleUser, |_| Ok(Panicking))
}
