//! The Lambda entry point shared by all six binaries: read the settings, build the engine and
//! the Secrets Manager client once per process, then serve rotation events.

use crate::config::{Config, ConfigError, Strategy};
use crate::engine::Engine;
use crate::event::RotationEvent;
use crate::logging;
use crate::protocol::Rotator;
use crate::store::SecretStore;
use crate::tls::TlsSettings;
use lambda_runtime::{LambdaEvent, service_fn};
use std::process::ExitCode;
use std::sync::Arc;

/// Run a rotation function. `default_exclude` is the engine's `EXCLUDE_CHARACTERS` default;
/// `make_engine` builds the engine from the TLS settings (and reads its own variables).
pub fn run<E, F>(strategy: Strategy, default_exclude: &str, make_engine: F) -> ExitCode
where
    E: Engine,
    F: FnOnce(TlsSettings) -> Result<E, ConfigError>,
{
    logging::init();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let config = Config::from_env(strategy, default_exclude)?;
        let tls = TlsSettings::from_config(&config)?;
        let engine = make_engine(tls)?;
        let store = SecretStore::from_env(&config).await;
        let rotator = Arc::new(Rotator::new(engine, store, config));
        let handler = service_fn(move |event: LambdaEvent<RotationEvent>| {
            let rotator = Arc::clone(&rotator);
            async move { rotator.handle(&event.payload).await }
        });
        lambda_runtime::run(handler)
            .await
            .map_err(|e| RunError::Runtime(e.to_string()))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "the function cannot start");
            ExitCode::FAILURE
        }
    }
}

/// Why the process stopped.
#[derive(Debug, thiserror::Error)]
enum RunError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("Lambda runtime: {0}")]
    Runtime(String),
}
