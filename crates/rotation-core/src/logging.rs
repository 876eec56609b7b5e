//! Log lines as Lambda's own logging controls ask for them: JSON objects, one per line, by
//! default, or readable text with `AWS_LAMBDA_LOG_FORMAT=Text`. The level is Lambda's
//! `AWS_LAMBDA_LOG_LEVEL` (set by the function's LoggingConfig), else `LOG_LEVEL`, else `info`.
//!
//! Every line of an invocation carries the request id (`requestId`) and, when Lambda sends
//! one, the X-Ray trace id (`xrayTraceId`) at the top level, where Lambda's own JSON log lines
//! put them; the rotation's fields (secret ARN, step, token, strategy) are under `span`.
//! `lambda_runtime` records the ids on a span of its own around each invocation, so this
//! module formats lines itself rather than through tracing-subscriber's formatter, which
//! prints only the innermost span.

use serde_json::{Map, Value};
use std::fmt::Write as _;
use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// The name of `lambda_runtime`'s span around each invocation.
const INVOCATION_SPAN: &str = "Lambda runtime invoke";

/// The target prefix of this project's own log lines. A target is the module path of the line,
/// and every crate of the project is called `rotation-<part>` (the table of functions checks
/// it for the engine crates), so one prefix covers rotation-core and whichever engine the
/// binary was built with, and this module names no engine. `Targets` matches by prefix.
const OWN_TARGETS: &str = "rotation_";

/// Fields of that span that belong at the top level of every line.
const INVOCATION_FIELDS: &[&str] = &["requestId", "xrayTraceId", "tenantId"];

/// How lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line (the default, and what CloudWatch Logs Insights indexes).
    Json,
    /// One readable line per event: time, level, request id, message, fields.
    Text,
}

/// The logging settings from the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// The most verbose level written for this project's crates.
    pub level: LevelFilter,
    /// The line format.
    pub format: Format,
}

/// Parse a level name (`error`, `warn`, `info`, `debug`, `trace`, any case; Lambda's `FATAL`
/// counts as `error`).
pub fn parse_level(s: &str) -> Option<LevelFilter> {
    match s.trim().to_ascii_lowercase().as_str() {
        "fatal" => Some(LevelFilter::ERROR),
        other => other.parse().ok(),
    }
}

impl Settings {
    /// Read the settings through `get` (the environment, in the binaries).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Settings {
        // Lambda's own setting comes first: it is what the function's LoggingConfig says.
        let level = ["AWS_LAMBDA_LOG_LEVEL", "LOG_LEVEL"]
            .iter()
            .find_map(|k| get(k).and_then(|v| parse_level(&v)))
            .unwrap_or(LevelFilter::INFO);
        let format = match get("AWS_LAMBDA_LOG_FORMAT") {
            Some(v) if v.trim().eq_ignore_ascii_case("text") => Format::Text,
            _ => Format::Json,
        };
        Settings { level, format }
    }
}

/// Install the subscriber. Safe to call once per process.
pub fn init() {
    let settings = Settings::from_lookup(|k| std::env::var(k).ok());
    // Our crates log at the chosen level; dependencies only warnings, so that driver
    // internals never fill the log. (A target filter, not EnvFilter: no regex engine in the
    // binary.) lambda_runtime's span around each invocation must be enabled, for its ids.
    let filter = Targets::new()
        .with_default(LevelFilter::WARN.min(settings.level))
        .with_target("lambda_runtime::layers::trace", LevelFilter::INFO)
        .with_target(OWN_TARGETS, settings.level);
    // lambda_runtime logs every handler error a second time, as a bare ERROR line without our
    // span's fields; the step's own "step failed" line already says it all. Its other lines
    // (a panic, a Runtime API failure) carry fields and stay.
    let no_duplicate = tracing_subscriber::filter::filter_fn(|meta| {
        !(meta.target() == "lambda_runtime::layers::panic"
            && meta.is_event()
            && meta.fields().iter().all(|f| f.name() == "message"))
    });
    let _ = tracing_subscriber::registry()
        .with(Lines {
            format: settings.format,
        })
        .with(filter)
        .with(no_duplicate)
        .try_init();
}

/// A span's fields, kept in its extensions until it closes.
struct SpanFields(Map<String, Value>);

/// Collects an event's or a span's fields as JSON values.
struct Collect<'a>(&'a mut Map<String, Value>);

impl Visit for Collect<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        let v = serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number);
        self.0.insert(field.name().to_owned(), v);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::Bool(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().to_owned(), Value::String(value.to_owned()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), Value::String(format!("{value:?}")));
    }
}

/// The layer that writes each event as one line on stdout.
struct Lines {
    format: Format,
}

impl<S> Layer<S> for Lines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Map::new();
        attrs.record(&mut Collect(&mut fields));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(fields));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(fields) = span.extensions_mut().get_mut::<SpanFields>()
        {
            values.record(&mut Collect(&mut fields.0));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Map::new();
        event.record(&mut Collect(&mut fields));
        let message = match fields.remove("message") {
            Some(Value::String(s)) => s,
            Some(other) => other.to_string(),
            None => String::new(),
        };
        let mut invocation = Map::new();
        let mut span = Map::new();
        if let Some(scope) = ctx.event_scope(event) {
            for s in scope.from_root() {
                let extensions = s.extensions();
                let Some(SpanFields(values)) = extensions.get::<SpanFields>() else {
                    continue;
                };
                let target = if s.name() == INVOCATION_SPAN {
                    &mut invocation
                } else {
                    &mut span
                };
                for (k, v) in values {
                    target.insert(k.clone(), v.clone());
                }
            }
        }
        let line = match self.format {
            Format::Json => json_line(event.metadata().level(), message, fields, invocation, span),
            Format::Text => text_line(
                event.metadata().level(),
                &message,
                &fields,
                &invocation,
                &span,
            ),
        };
        // One write per line, so that lines from different threads never interleave.
        let _ = std::io::stdout().lock().write_all(line.as_bytes());
    }
}

fn json_line(
    level: &Level,
    message: String,
    fields: Map<String, Value>,
    invocation: Map<String, Value>,
    span: Map<String, Value>,
) -> String {
    let mut line = Map::new();
    line.insert(
        "timestamp".into(),
        Value::String(rfc3339(SystemTime::now())),
    );
    line.insert("level".into(), Value::String(level.as_str().to_owned()));
    line.insert("message".into(), Value::String(message));
    for key in INVOCATION_FIELDS {
        if let Some(v) = invocation.get(*key) {
            line.insert((*key).to_owned(), v.clone());
        }
    }
    line.extend(fields);
    if !span.is_empty() {
        line.insert("span".into(), Value::Object(span));
    }
    let mut text = Value::Object(line).to_string();
    text.push('\n');
    text
}

fn text_line(
    level: &Level,
    message: &str,
    fields: &Map<String, Value>,
    invocation: &Map<String, Value>,
    span: &Map<String, Value>,
) -> String {
    let mut text = format!("{} {:<5}", rfc3339(SystemTime::now()), level.as_str());
    if let Some(Value::String(id)) = invocation.get("requestId") {
        let _ = write!(text, " {id}");
    }
    let _ = write!(text, " {message}");
    let shown = fields
        .iter()
        .chain(invocation.iter().filter(|(k, _)| k.as_str() != "requestId"));
    for (k, v) in shown.chain(span.iter()) {
        match v {
            Value::String(s) if !s.is_empty() && !s.contains([' ', '"', '=']) => {
                let _ = write!(text, " {k}={s}");
            }
            other => {
                let _ = write!(text, " {k}={other}");
            }
        }
    }
    text.push('\n');
    text
}

/// `2026-12-01T20:15:03.123Z`.
pub fn rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = crate::calendar::civil_from_days(i64::try_from(days).unwrap_or(0));
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_709_164_800_123); // 2024-02-29
        assert_eq!(rfc3339(t), "2024-02-29T00:00:00.123Z");
        let t = UNIX_EPOCH + Duration::from_secs(4_102_444_799); // end of 2099
        assert_eq!(rfc3339(t), "2099-12-31T23:59:59.000Z");
    }

    #[test]
    fn lambda_settings_come_first() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let s = Settings::from_lookup(env(&[
            ("LOG_LEVEL", "info"),
            ("AWS_LAMBDA_LOG_LEVEL", "WARN"),
        ]));
        assert_eq!(s.level, LevelFilter::WARN);
        assert_eq!(s.format, Format::Json);
        let s = Settings::from_lookup(env(&[("LOG_LEVEL", "debug")]));
        assert_eq!(s.level, LevelFilter::DEBUG);
        let s = Settings::from_lookup(env(&[
            ("AWS_LAMBDA_LOG_LEVEL", "FATAL"),
            ("AWS_LAMBDA_LOG_FORMAT", "Text"),
        ]));
        assert_eq!((s.level, s.format), (LevelFilter::ERROR, Format::Text));
        assert_eq!(Settings::from_lookup(|_| None).level, LevelFilter::INFO);
    }
}
