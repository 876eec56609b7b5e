//! What the shipped `redis-single-user` binary prints and reports (the logging and start-up
//! code is shared, so one engine stands for all): Lambda's logging conventions (every line
//! carries the request id and the X-Ray trace id, `AWS_LAMBDA_LOG_LEVEL` wins over
//! `LOG_LEVEL`, `AWS_LAMBDA_LOG_FORMAT=Text` gives text, each step writes one Embedded Metric
//! Format record), one error line per failed step, a bad setting as an init error, a wrong
//! admin password named and never printed, and the warning for a server without an ACL file.

use crate::common::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use test_support::function_binary;
use test_support::lambda::{Function, event};
use test_support::secrets::Sm;
use test_support::unique;

const STEPS: [&str; 4] = ["createSecret", "setSecret", "testSecret", "finishSecret"];

fn single_user(sm: &Sm, env: &[(&str, &str)]) -> Function {
    Function::spawn(&function_binary("redis-single-user"), &sm.url, env)
}

/// The function's output once `settled` says it is complete: it arrives through a pipe.
fn settled_output(f: &Function, settled: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !settled(&f.output()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    f.output()
}

/// Rotate a fresh user once with `env`, and return the function's settled output.
async fn rotation_output(env: &[(&str, &str)]) -> (String, Vec<String>) {
    let db = Db::shared();
    let sm = Sm::from_env();
    let user = unique("logs");
    let pw = unique("Pw-");
    let arn = db
        .user_with_secret(&sm, &user, &pw, &["~app:*", "+get", "+acl"], None)
        .await;
    let f = single_user(&sm, env);
    let token = sm.start_rotation(&arn).await;
    blocking(|| f.rotate(&arn, &token));
    let output = settled_output(&f, |o| o.matches("\"_aws\"").count() >= 4);
    let new = password_at(&sm, &arn, "AWSCURRENT").await;
    assert_no_password(&output, &[&pw, &new]);
    (output, f.request_ids())
}

fn assert_no_password(output: &str, passwords: &[&str]) {
    for p in passwords {
        assert!(
            !output.contains(p),
            "a password appears in the function's output:\n{output}"
        );
    }
}

/// Every line, which must be JSON.
fn json_lines(output: &str) -> Vec<Value> {
    output
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The metrics records among the lines.
fn metrics_records(output: &str) -> Vec<Value> {
    output
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l.get("_aws").is_some())
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
    assert_eq!(metrics_records(&output).len(), 4, "{output}");
}

/// The shared server has no ACL file: the function says the change lives only in memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_an_acl_file_is_logged() {
    let (output, _) = rotation_output(&[]).await;
    assert!(
        output.contains("lives only in its memory"),
        "the missing ACL file is logged:\n{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_step_logs_one_error_line_with_its_fields() {
    let db = Db::shared();
    let sm = Sm::from_env();
    let arn = db
        .user_with_secret(&sm, &unique("oneerror"), "Pw-1", &["+get"], None)
        .await;
    let f = single_user(&sm, &[]);
    let token = sm.start_rotation(&arn).await;
    let (kind, _) = blocking(|| f.invoke(&arn, &token, "fooSecret")).expect_err("bad step");
    assert_eq!(kind, "InvalidRequest");
    // Wait for the step's line, then a little longer for any line printed after it.
    settled_output(&f, |o| o.contains("step failed"));
    std::thread::sleep(Duration::from_millis(500));
    let output = f.output();
    let errors: Vec<Value> = output
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["level"] == "ERROR")
        .collect();
    assert_eq!(errors.len(), 1, "one ERROR line per failed step:\n{output}");
    assert_eq!(errors[0]["span"]["secret_arn"], arn.as_str(), "{output}");
    assert_eq!(errors[0]["error_type"], "InvalidRequest", "{output}");
    // And one metrics record that counts the failure under its error type.
    let records = metrics_records(&output);
    assert_eq!(records.len(), 1, "{output}");
    test_support::emf::check(&records[0]).unwrap_or_else(|e| panic!("{e}: {}", records[0]));
    assert_eq!(
        (
            &records[0]["Failure"],
            &records[0]["ErrorType"],
            &records[0]["Step"]
        ),
        (&json!(1), &json!("InvalidRequest"), &json!("invalid"))
    );
}

/// A wrong admin password fails setSecret naming the admin credentials, and no password (the
/// wrong one included) is printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_admin_password_is_named_and_never_printed() {
    let db = Db::shared();
    let sm = Sm::from_env();
    let wrong = unique("Wrong-admin-pw-");
    let master = db
        .master_secret_for(&sm, &db.server.admin_user, &wrong)
        .await;
    let arn = db
        .user_with_secret(
            &sm,
            &unique("wrongadmin"),
            "Other-pw-1",
            &["+get"],
            Some(&master),
        )
        .await;
    let f = single_user(&sm, &[("LOG_LEVEL", "debug")]);
    let token = sm.start_rotation(&arn).await;
    blocking(|| f.invoke(&arn, &token, "createSecret")).expect_ok("createSecret");
    let pending = password_at(&sm, &arn, "AWSPENDING").await;
    let (kind, message) =
        blocking(|| f.invoke(&arn, &token, "setSecret")).expect_err("wrong admin password");
    assert_eq!(kind, "AuthenticationError", "{message}");
    assert!(message.contains("admin (masterarn)"), "{message}");
    let output = settled_output(&f, |o| o.contains("step failed"));
    assert_no_password(
        &output,
        &[&wrong, &pending, "Other-pw-1", &db.server.admin_password],
    );
}

/// A bad setting, shared (`TLS_MODE`) or Redis's own (`PREVIOUS_PASSWORD`), reaches Lambda as
/// an init error naming the variable, and the function stops.
#[test]
fn a_bad_setting_is_reported_to_lambda_as_an_init_error() {
    let sm = Sm::from_env();
    for (name, expected) in [
        ("TLS_MODE", "TLS_MODE"),
        ("PREVIOUS_PASSWORD", "keep, discard"),
    ] {
        let mut f = single_user(&sm, &[(name, "sometimes")]);
        let outcome = f.api.invoke(
            &event(
                "arn:aws:secretsmanager:us-east-1:1:secret:x",
                "t",
                "createSecret",
            ),
            Duration::from_secs(20),
        );
        let message = match outcome {
            Err(e) => e,
            Ok(_) => panic!("the function started with {name}=sometimes"),
        };
        assert!(
            message.contains("failed to initialise")
                && message.contains("InvalidConfiguration")
                && message.contains(name)
                && message.contains(expected),
            "{message}\n{}",
            f.output()
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while f.running() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            !f.running(),
            "the function should stop after {name}=sometimes"
        );
    }
}
