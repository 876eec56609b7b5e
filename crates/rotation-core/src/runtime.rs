//! The Lambda entry point shared by all six binaries: read the settings, build the engine and
//! the Secrets Manager client once per process, then serve rotation events (and the
//! [`preflight`] check, whose report is the invocation's response).

use crate::config::{Config, ConfigError, Strategy};
use crate::engine::Engine;
use crate::error::RotationError;
use crate::event::RotationEvent;
use crate::logging;
use crate::metrics::{self, StepOutcome};
use crate::preflight;
use crate::protocol::Rotator;
use crate::store::SecretStore;
use crate::tls::TlsSettings;
use lambda_runtime::{LambdaEvent, service_fn};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

/// Run a rotation function. `make_engine` builds the engine from the TLS settings (and reads
/// its own variables); `EXCLUDE_CHARACTERS` defaults to the engine's
/// [`Engine::DEFAULT_EXCLUDE_CHARACTERS`].
pub fn run<E, F>(strategy: Strategy, make_engine: F) -> ExitCode
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
        let setup = Config::from_env(strategy, E::DEFAULT_EXCLUDE_CHARACTERS).and_then(|config| {
            let tls = TlsSettings::from_config(&config)?;
            Ok((make_engine(tls)?, config))
        });
        let (engine, config) = match setup {
            Ok(parts) => parts,
            Err(e) => {
                report_init_error(&e).await;
                return Err(RunError::Config(e));
            }
        };
        let store = SecretStore::from_env(&config).await;
        let rotator = Arc::new(Rotator::new(engine, store, config));
        let function: Arc<str> = std::env::var("AWS_LAMBDA_FUNCTION_NAME")
            .unwrap_or_default()
            .into();
        let handler = service_fn(move |event: LambdaEvent<RotationEvent>| {
            let rotator = Arc::clone(&rotator);
            let function = Arc::clone(&function);
            async move {
                let started = Instant::now();
                let left = time_left(event.context.deadline);
                let result = if event.payload.inner.step == preflight::STEP {
                    let report = rotator
                        .preflight_within(
                            &event.payload.inner.secret_id,
                            &event.context.invoked_function_arn,
                            Some(left),
                        )
                        .await;
                    Ok(serde_json::to_value(report).unwrap_or_default())
                } else {
                    rotator
                        .handle_within(&event.payload, Some(left))
                        .await
                        .map(|()| serde_json::Value::Null)
                };
                metrics::emit(&StepOutcome {
                    function: &function,
                    step: &event.payload.inner.step,
                    duration_ms: started.elapsed().as_secs_f64() * 1000.0,
                    error_type: result.as_ref().err().map(RotationError::kind),
                    request_id: &event.context.request_id,
                });
                result
            }
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

/// The time until `deadline_ms` (Lambda's `Lambda-Runtime-Deadline-Ms`, milliseconds since
/// the Unix epoch); zero once it has passed.
fn time_left(deadline_ms: u64) -> std::time::Duration {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    std::time::Duration::from_millis(deadline_ms).saturating_sub(now)
}

/// Tell Lambda why the function cannot start (`/runtime/init/error`), so that the invocation
/// fails with that reason instead of a bare "Runtime exited" and a log line to look for.
async fn report_init_error(e: &ConfigError) {
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_none() {
        return;
    }
    let body = serde_json::json!({
        "errorType": "InvalidConfiguration",
        "errorMessage": format!("the function cannot start: {e}"),
    })
    .to_string();
    let request = lambda_runtime_api_client::build_request()
        .method("POST")
        .uri("/2018-06-01/runtime/init/error")
        .header("Lambda-Runtime-Function-Error-Type", "InvalidConfiguration")
        .body(lambda_runtime_api_client::body::Body::from(body));
    let client = lambda_runtime_api_client::PooledClient::builder().build();
    let sent = match request {
        Ok(request) => client.call(request).await.map(drop),
        Err(err) => Err(err.into()),
    };
    if let Err(err) = sent {
        tracing::error!(error = %err, "cannot report the start-up error to the Lambda Runtime API");
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
