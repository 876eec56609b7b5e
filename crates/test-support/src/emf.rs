//! The rules of CloudWatch's Embedded Metric Format, as its published specification states
//! them, for checking the records a function writes: the members an EMF document must and may
//! have, their types and their limits.

use serde_json::Value;

/// Metric units the specification allows.
const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

fn name(v: &Value, what: &str) -> Result<String, String> {
    match v.as_str() {
        Some(s) if !s.is_empty() && s.chars().count() <= 255 => Ok(s.to_owned()),
        _ => Err(format!(
            "{what} must be a string of 1 to 255 characters, found {v}"
        )),
    }
}

fn only(v: &Value, allowed: &[&str], what: &str) -> Result<(), String> {
    let obj = v
        .as_object()
        .ok_or_else(|| format!("{what} must be an object, found {v}"))?;
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!(
            "{what} has a member the specification does not define: {k}"
        )),
        None => Ok(()),
    }
}

/// Check one EMF document; the error says which rule it breaks.
pub fn check(doc: &Value) -> Result<(), String> {
    let root = doc
        .as_object()
        .ok_or("the document must be a JSON object")?;
    let meta = root.get("_aws").ok_or("the root has no _aws member")?;
    only(
        meta,
        &[
            "Timestamp",
            "CloudWatchMetrics",
            "LogGroupName",
            "LogStreamName",
        ],
        "_aws",
    )?;
    if !meta["Timestamp"].is_u64() {
        return Err(format!(
            "_aws.Timestamp must be an integer of milliseconds since the epoch, found {}",
            meta["Timestamp"]
        ));
    }
    let directives = meta["CloudWatchMetrics"]
        .as_array()
        .ok_or("_aws.CloudWatchMetrics must be an array")?;
    for directive in directives {
        only(
            directive,
            &["Namespace", "Dimensions", "Metrics"],
            "a MetricDirective",
        )?;
        name(&directive["Namespace"], "Namespace")?;
        let sets = directive["Dimensions"]
            .as_array()
            .ok_or("Dimensions must be an array of dimension sets")?;
        if sets.is_empty() {
            return Err("Dimensions must hold at least one dimension set".into());
        }
        for set in sets {
            let keys = set.as_array().ok_or("a DimensionSet must be an array")?;
            if keys.len() > 30 {
                return Err(format!("a DimensionSet holds {} keys, over 30", keys.len()));
            }
            for key in keys {
                let key = name(key, "a dimension reference")?;
                if !root.get(&key).is_some_and(Value::is_string) {
                    return Err(format!(
                        "dimension {key} must be a string member of the root"
                    ));
                }
            }
        }
        let metrics = directive["Metrics"]
            .as_array()
            .ok_or("Metrics must be an array")?;
        if metrics.len() > 100 {
            return Err(format!("{} MetricDefinitions, over 100", metrics.len()));
        }
        for metric in metrics {
            only(
                metric,
                &["Name", "Unit", "StorageResolution"],
                "a MetricDefinition",
            )?;
            let metric_name = name(&metric["Name"], "a metric Name")?;
            match root.get(&metric_name) {
                Some(v) if v.is_number() => {}
                Some(Value::Array(values))
                    if values.len() <= 100 && values.iter().all(Value::is_number) => {}
                other => {
                    return Err(format!(
                        "metric {metric_name} must be a number or an array of at most 100 numbers on the root, found {other:?}"
                    ));
                }
            }
            if let Some(unit) = metric.get("Unit")
                && !unit.as_str().is_some_and(|u| UNITS.contains(&u))
            {
                return Err(format!("metric {metric_name} has an unknown unit {unit}"));
            }
            if let Some(r) = metric.get("StorageResolution")
                && !(r == 1 || r == 60)
            {
                return Err(format!(
                    "metric {metric_name}: StorageResolution must be 1 or 60"
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_specifications_example_passes_and_broken_ones_do_not() {
        let good = json!({
            "_aws": {"Timestamp": 1_574_109_732_004_u64, "CloudWatchMetrics": [{
                "Namespace": "lambda-function-metrics",
                "Dimensions": [["functionVersion"]],
                "Metrics": [{"Name": "time", "Unit": "Milliseconds"}]}]},
            "functionVersion": "$LATEST", "time": 100, "requestId": "r"
        });
        check(&good).expect("valid");
        let mut bad = good.clone();
        bad["time"] = json!("100");
        assert!(check(&bad).is_err(), "a metric must be a number");
        let mut bad = good.clone();
        bad["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = json!("Millis");
        assert!(check(&bad).is_err(), "unknown unit");
        let mut bad = good;
        bad["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = json!([["missing"]]);
        assert!(check(&bad).is_err(), "dimension without a member");
    }
}
