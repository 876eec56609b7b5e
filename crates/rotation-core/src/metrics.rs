//! One CloudWatch Embedded Metric Format (EMF) record per step, written to stdout like a log
//! line: CloudWatch Logs turns it into metrics, with no API call and no extra permission.
//!
//! Namespace [`NAMESPACE`]; metrics `Duration` (milliseconds), `Success` and `Failure`
//! (counts, 1 or 0); dimensions `FunctionName` alone, `FunctionName` and `Step`, and on a
//! failure also `FunctionName`, `Step` and `ErrorType`. An alarm on the sum of `Failure` for a
//! `FunctionName` fires on any failed rotation step.

use serde_json::{Value, json};
use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

/// The CloudWatch namespace of the metrics.
pub const NAMESPACE: &str = "RotationLambdas";

/// What one step did.
pub struct StepOutcome<'a> {
    /// The Lambda function's name (`AWS_LAMBDA_FUNCTION_NAME`).
    pub function: &'a str,
    /// The event's `Step`.
    pub step: &'a str,
    /// How long the step took.
    pub duration_ms: f64,
    /// The Lambda `errorType` of a failed step.
    pub error_type: Option<&'a str>,
    /// The invocation's request id, to find the step's log lines from the record.
    pub request_id: &'a str,
}

/// The step as a dimension value: one of the four names, `preflight`, or `invalid` for
/// anything else, so that a stray event cannot make new metrics.
fn step_dimension(step: &str) -> &'static str {
    match step {
        crate::preflight::STEP => crate::preflight::STEP,
        "createSecret" => "createSecret",
        "setSecret" => "setSecret",
        "testSecret" => "testSecret",
        "finishSecret" => "finishSecret",
        _ => "invalid",
    }
}

/// The EMF document for `outcome` at `now`.
pub fn record(outcome: &StepOutcome<'_>, now: SystemTime) -> Value {
    let timestamp = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let failed = outcome.error_type.is_some();
    let mut dimensions = vec![json!(["FunctionName"]), json!(["FunctionName", "Step"])];
    if failed {
        dimensions.push(json!(["FunctionName", "Step", "ErrorType"]));
    }
    let mut doc = json!({
        "_aws": {
            "Timestamp": timestamp,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": dimensions,
                "Metrics": [
                    {"Name": "Duration", "Unit": "Milliseconds"},
                    {"Name": "Success", "Unit": "Count"},
                    {"Name": "Failure", "Unit": "Count"},
                ],
            }],
        },
        "FunctionName": outcome.function,
        "Step": step_dimension(outcome.step),
        "Duration": (outcome.duration_ms * 1000.0).round() / 1000.0,
        "Success": u8::from(!failed),
        "Failure": u8::from(failed),
        "requestId": outcome.request_id,
    });
    if let Some(kind) = outcome.error_type {
        doc["ErrorType"] = json!(kind);
    }
    doc
}

/// Write the record for `outcome` as one line on stdout.
pub fn emit(outcome: &StepOutcome<'_>) {
    let mut line = record(outcome, SystemTime::now()).to_string();
    line.push('\n');
    let _ = std::io::stdout().lock().write_all(line.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_failure_has_the_error_type_dimension() {
        let doc = record(
            &StepOutcome {
                function: "rotate-app",
                step: "setSecret",
                duration_ms: 12.34567,
                error_type: Some("NetworkError"),
                request_id: "req-1",
            },
            UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
        );
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_123_u64);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(
            directive["Dimensions"][2],
            json!(["FunctionName", "Step", "ErrorType"])
        );
        assert_eq!(
            (doc["Failure"].clone(), doc["Success"].clone()),
            (json!(1), json!(0))
        );
        assert_eq!(doc["ErrorType"], "NetworkError");
        assert_eq!(doc["Duration"], 12.346);
    }

    #[test]
    fn an_unknown_step_is_one_dimension_value() {
        let doc = record(
            &StepOutcome {
                function: "f",
                step: "<script>",
                duration_ms: 1.0,
                error_type: None,
                request_id: "r",
            },
            UNIX_EPOCH,
        );
        assert_eq!(doc["Step"], "invalid");
        let preflight = StepOutcome {
            function: "f",
            step: "preflight",
            duration_ms: 1.0,
            error_type: None,
            request_id: "r",
        };
        assert_eq!(record(&preflight, UNIX_EPOCH)["Step"], "preflight");
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
                .as_array()
                .map(Vec::len),
            Some(2)
        );
        assert!(doc.get("ErrorType").is_none());
    }
}
