//! Lambda's logging conventions, through the shipped `redis-single-user` binary (the logging
//! code is shared, so one engine stands for all): every line carries the request id and the
//! X-Ray trace id, `AWS_LAMBDA_LOG_LEVEL` wins over `LOG_LEVEL`, `AWS_LAMBDA_LOG_FORMAT=Text`
//! gives text, and each step writes one Embedded Metric Format record.

use crate::common::*;
use serde_json::Value;
use std::time::{Duration, Instant};
use test_support::function_binary;
use test_support::lambda::Function;
use test_support::secrets::Sm;
use test_support::unique;

const STEPS: [&str; 4] = ["createSecret", "setSecret", "testSecret", "finishSecret"];

/// Rotate a fresh user once with `env`, and return the function's settled output.
async fn rotation_output(env: &[(&str, &str)]) -> (String, Vec<String>) {
    let db = Db::shared();
    let sm = Sm::from_env();
    let user = unique("logs");
    let pw = unique("Pw-");
    db.create_user(&user, &pw, &["~app:*", "+get", "+acl"])
        .await;
    let arn = sm.create("redis-logs-", &db.secret(&user, &pw)).await;
    let f = Function::spawn(&function_binary("redis-single-user"), &sm.url, env);
    let token = sm.start_rotation(&arn).await;
    tokio::task::block_in_place(|| f.rotate(&arn, &token));
    // The output arrives through a pipe: wait for the last step's metrics record.
    let deadline = Instant::now() + Duration::from_secs(10);
    while f.output().matches("\"_aws\"").count() < 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let new = password_at(&sm, &arn, "AWSCURRENT").await;
    let output = f.output();
    assert!(
        !output.contains(&pw) && !output.contains(&new),
        "no password:\n{output}"
    );
    (output, f.request_ids())
}

fn json_lines(output: &str) -> Vec<Value> {
    output
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_line_carries_the_request_and_trace_ids() {
    let (output, ids) = rotation_output(&[("LOG_LEVEL", "debug")]).await;
    let lines = json_lines(&output);
    // Lines of an invocation: from the first step's start on (start-up lines have no request).
    let first = lines
        .iter()
        .position(|l| l["message"] == "step started")
        .unwrap_or_else(|| panic!("a 'step started' line:\n{output}"));
    let logs: Vec<&Value> = lines[first..]
        .iter()
        .filter(|l| l.get("_aws").is_none())
        .collect();
    assert!(
        logs.len() >= 8,
        "a start and an end line per step at least:\n{output}"
    );
    for line in &logs {
        let id = line["requestId"]
            .as_str()
            .unwrap_or_else(|| panic!("no requestId: {line}"));
        assert!(ids.iter().any(|i| i == id), "{id} is one of {ids:?}");
        assert_eq!(
            line["xrayTraceId"],
            test_support::lambda::TRACE_ID,
            "{line}"
        );
        assert!(
            line["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{line}"
        );
    }
    for step in STEPS {
        assert!(
            logs.iter()
                .any(|l| l["message"] == "step finished" && l["span"]["step"] == step),
            "{step} finished:\n{output}"
        );
    }

    // One metrics record per step, for the step's request.
    let records: Vec<&Value> = lines.iter().filter(|l| l.get("_aws").is_some()).collect();
    assert_eq!(records.len(), 4, "{output}");
    for (record, (step, id)) in records.iter().zip(STEPS.iter().zip(&ids)) {
        test_support::emf::check(record).unwrap_or_else(|e| panic!("{e}: {record}"));
        let directive = &record["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], rotation_core::metrics::NAMESPACE);
        assert!(record["_aws"]["Timestamp"].is_u64(), "{record}");
        for metric in directive["Metrics"].as_array().expect("metrics") {
            let name = metric["Name"].as_str().expect("name");
            assert!(record[name].is_number(), "{name} in {record}");
        }
        for set in directive["Dimensions"].as_array().expect("dimensions") {
            for key in set.as_array().expect("a dimension set") {
                assert!(
                    record[key.as_str().expect("key")].is_string(),
                    "{key} in {record}"
                );
            }
        }
        assert_eq!(record["Step"], *step);
        assert_eq!(record["FunctionName"], "rotation-test");
        assert_eq!(
            (record["Success"].as_u64(), record["Failure"].as_u64()),
            (Some(1), Some(0))
        );
        assert_eq!(record["requestId"], id.as_str());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambdas_log_level_wins_over_log_level() {
    let (output, _) =
        rotation_output(&[("LOG_LEVEL", "info"), ("AWS_LAMBDA_LOG_LEVEL", "WARN")]).await;
    let lines = json_lines(&output);
    assert!(
        lines
            .iter()
            .all(|l| l.get("_aws").is_some() || l["level"] != "INFO"),
        "no info lines at WARN:\n{output}"
    );
    assert_eq!(
        lines.iter().filter(|l| l.get("_aws").is_some()).count(),
        4,
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_format_gives_one_readable_line_per_event() {
    let (output, ids) = rotation_output(&[("AWS_LAMBDA_LOG_FORMAT", "Text")]).await;
    let finished: Vec<&str> = output
        .lines()
        .filter(|l| l.contains(" step finished"))
        .collect();
    assert_eq!(finished.len(), 4, "{output}");
    for (line, id) in finished.iter().zip(&ids) {
        assert!(
            line.contains(" INFO ") && line.contains(id.as_str()),
            "{line}"
        );
        assert!(
            line.contains("step=") && line.contains("secret_arn="),
            "{line}"
        );
        assert!(
            serde_json::from_str::<Value>(line).is_err(),
            "text, not JSON: {line}"
        );
    }
    // Metrics records stay JSON, which is what CloudWatch reads them from.
    let records = output
        .lines()
        .filter(|l| serde_json::from_str::<Value>(l).is_ok_and(|v| v.get("_aws").is_some()))
        .count();
    assert_eq!(records, 4, "{output}");
}
