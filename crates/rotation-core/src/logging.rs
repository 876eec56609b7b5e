//! Structured JSON logs on stdout, one object per line, which CloudWatch Logs indexes.
//! The level comes from `LOG_LEVEL`, else Lambda's `AWS_LAMBDA_LOG_LEVEL`, else `info`.

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Parse a level name (`error`, `warn`, `info`, `debug`, `trace`, any case).
pub fn parse_level(s: &str) -> Option<LevelFilter> {
    s.trim().to_ascii_lowercase().parse().ok()
}

/// Install the JSON subscriber. Safe to call once per process.
pub fn init() {
    let level = ["LOG_LEVEL", "AWS_LAMBDA_LOG_LEVEL"]
        .iter()
        .find_map(|k| std::env::var(k).ok().and_then(|v| parse_level(&v)))
        .unwrap_or(LevelFilter::INFO);
    // Our crates log at the chosen level; dependencies only warnings, so that driver
    // internals never fill the log. (A target filter, not EnvFilter: no regex engine in the
    // binary.)
    let filter = Targets::new()
        .with_default(LevelFilter::WARN.min(level))
        .with_target("rotation_core", level)
        .with_target("rotation_mysql", level)
        .with_target("rotation_postgres", level)
        .with_target("rotation_redis", level);
    let format = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(false)
        .with_ansi(false);
    // lambda_runtime logs every handler error a second time, as a bare ERROR line without our
    // span's fields; the step's own "step failed" line already says it all. Its other lines
    // (a panic, a Runtime API failure) carry fields and stay.
    let no_duplicate = tracing_subscriber::filter::filter_fn(|meta| {
        !(meta.target() == "lambda_runtime::layers::panic"
            && meta.is_event()
            && meta.fields().iter().all(|f| f.name() == "message"))
    });
    let _ = tracing_subscriber::registry()
        .with(format)
        .with(filter)
        .with(no_duplicate)
        .try_init();
}
