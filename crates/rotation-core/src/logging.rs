//! Structured JSON logs on stdout, one object per line, which CloudWatch Logs indexes.
//! The level comes from `LOG_LEVEL`, else Lambda's `AWS_LAMBDA_LOG_LEVEL`, else `info`.

use tracing_subscriber::EnvFilter;

/// Install the JSON subscriber. Safe to call once per process.
pub fn init() {
    let level = ["LOG_LEVEL", "AWS_LAMBDA_LOG_LEVEL"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "info".to_owned())
        .to_ascii_lowercase();
    // Our crates log at the chosen level; dependencies only warnings, so that driver
    // internals never fill the log.
    let filter = EnvFilter::try_new(format!("warn,rotation_core={level},rotation_mysql={level},rotation_postgres={level},rotation_redis={level}"))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(false)
        .with_ansi(false)
        .try_init();
}
