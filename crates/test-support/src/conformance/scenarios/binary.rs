//! The shipped `bootstrap` binaries, run through a Lambda Runtime API exactly as Lambda runs
//! them: no secret in anything they print, a process killed between steps and a retry in a
//! fresh one, and the Secrets Manager calls a rotation makes.

use crate::conformance::Adapter;
use crate::conformance::case::{Case, assert_reads, assert_stage_reads, clone_of};
use crate::lambda::Function;
use crate::proxy::CountingProxy;
use crate::{function_binary, unique};
use rotation_core::Strategy;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// The function's output once it holds `marker`: the pipes are read by other threads, so the
/// last lines may arrive a moment after the invocation's result.
pub(crate) fn settled_output(f: &Function, marker: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let output = f.output();
        if output.contains(marker) || Instant::now() > deadline {
            return output;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub(crate) fn assert_no_secret(output: &str, secrets: &[String]) {
    for (i, s) in secrets.iter().enumerate() {
        if let Some(line) = output.lines().find(|l| l.contains(s.as_str())) {
            panic!(
                "password #{i} appears in the function's output: {}",
                line.replace(s.as_str(), "*****")
            );
        }
    }
}

/// A field of a JSON log line, at the top or among the fields of the line's span.
fn field<'a>(line: &'a Value, name: &str) -> &'a Value {
    match &line[name] {
        Value::Null => &line["span"][name],
        v => v,
    }
}

/// The admin's password, which no output may hold either.
pub(crate) fn admin_password<A: Adapter>(a: &A) -> String {
    a.admin_secret()["password"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The shipped binary, with `LOG_LEVEL=debug`, rotates twice (alternating users: back to the
/// original user), then fails a step in the same process (an AWSPENDING naming the admin: a
/// confused deputy). Nothing it prints holds a password; its logs are JSON lines that name the
/// secret, the step, the strategy and the duration, and say that the connection fell back to
/// plaintext (the adapter's server offers no TLS).
pub async fn binary_rotates_and_prints_no_secret<A: Adapter>(a: &A, strategy: Strategy) {
    let c = Case::new(a, strategy, "bin").await;
    let f = Function::spawn(
        &function_binary(A::function(strategy)),
        &c.sm.url,
        &[("LOG_LEVEL", "debug")],
    );
    let mut secrets = vec![c.password.clone(), admin_password(a)];
    let mut last = String::new();
    for _ in 0..2 {
        last = c.sm.start_rotation(&c.arn).await;
        blocking(|| f.rotate(&c.arn, &last));
        assert_stage_reads(a, &c, "AWSCURRENT").await;
        secrets.push(c.at("AWSCURRENT").await.1);
    }
    if strategy == Strategy::AlternatingUsers {
        assert_eq!(c.at("AWSCURRENT").await.0, c.user, "back to the original");
    }

    let token = c.sm.start_rotation(&c.arn).await;
    blocking(|| {
        f.invoke(&c.arn, &token, "createSecret")
            .expect_ok("createSecret")
    });
    secrets.push(c.pending_password(&token).await);
    let admin = a.admin_secret()["username"].clone();
    c.sm.edit_pending(&c.arn, &token, &json!({"username": admin}))
        .await;
    let (kind, message) =
        blocking(|| f.invoke(&c.arn, &token, "setSecret")).expect_err("tampered setSecret");
    assert_eq!(kind, "ConfusedDeputy", "{message}");

    let output = settled_output(&f, "step failed");
    assert_no_secret(&output, &secrets);
    assert_no_secret(&message, &secrets);
    let lines: Vec<Value> = output
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let finished = lines
        .iter()
        .find(|l| {
            l["message"] == "step finished"
                && field(l, "step") == "finishSecret"
                && field(l, "token") == last.as_str()
        })
        .unwrap_or_else(|| panic!("a 'step finished' line for finishSecret:\n{output}"));
    assert_eq!(field(finished, "secret_arn"), c.arn.as_str(), "{finished}");
    assert_eq!(field(finished, "strategy"), strategy.as_str(), "{finished}");
    assert!(field(finished, "duration_ms").is_number(), "{finished}");
    let failed = lines
        .iter()
        .find(|l| l["message"] == "step failed")
        .unwrap_or_else(|| panic!("a 'step failed' line:\n{output}"));
    assert_eq!(field(failed, "step"), "setSecret", "{failed}");
    assert_eq!(field(failed, "error_type"), "ConfusedDeputy", "{failed}");
    assert_eq!(
        output.contains("offers no TLS"),
        !a.offers_tls(),
        "the plaintext fallback is logged where there is one:\n{output}"
    );
}

/// Killed (SIGKILL) after setSecret, as a crash or a Lambda timeout would, and retried from
/// setSecret in a fresh process: the database already took AWSPENDING, AWSCURRENT has not
/// moved, and the retry completes the rotation. Neither process prints a password.
pub async fn binary_killed_after_set_secret_and_retried<A: Adapter>(a: &A, strategy: Strategy) {
    let c = Case::new(a, strategy, "kill").await;
    let binary = function_binary(A::function(strategy));
    let old_version = c.sm.version_of(&c.arn, "AWSCURRENT").await.expect("id");
    let token = c.sm.start_rotation(&c.arn).await;
    let mut first = Function::spawn(&binary, &c.sm.url, &[]);
    blocking(|| {
        for s in ["createSecret", "setSecret"] {
            first.invoke(&c.arn, &token, s).expect_ok(s);
        }
    });
    first.kill();
    assert!(!first.running(), "the first process is gone");
    let pending = c.pending_password(&token).await;
    let pending_user = match strategy {
        Strategy::SingleUser => c.user.clone(),
        Strategy::AlternatingUsers => clone_of(&c.user),
    };
    assert_reads(
        a,
        &pending_user,
        &pending,
        "setSecret happened before the kill",
    )
    .await;
    assert_eq!(
        c.sm.version_of(&c.arn, "AWSCURRENT").await,
        Some(old_version),
        "AWSCURRENT has not moved"
    );

    let second = Function::spawn(&binary, &c.sm.url, &[]);
    blocking(|| {
        for s in ["setSecret", "testSecret", "finishSecret"] {
            second.invoke(&c.arn, &token, s).expect_ok(s);
        }
    });
    assert_eq!(
        c.sm.version_of(&c.arn, "AWSCURRENT").await.as_deref(),
        Some(token.as_str())
    );
    assert_eq!(c.at("AWSCURRENT").await, (pending_user, pending.clone()));
    assert_stage_reads(a, &c, "AWSCURRENT").await;
    if strategy == Strategy::AlternatingUsers {
        assert_reads(a, &c.user, &c.password, "the original keeps working").await;
    }
    let output = first.output() + &second.output();
    assert_no_secret(&output, &[c.password.clone(), pending, admin_password(a)]);
}

/// The Secrets Manager calls of one rotation through the binary, counted by a proxy: one
/// DescribeSecret per step, and at most 13 calls for single user without `masterarn`, 15 with
/// it (createSecret and setSecret read the admin secret to check it is not the rotated user),
/// 15 for alternating users.
pub async fn binary_call_budget<A: Adapter>(a: &A, strategy: Strategy) {
    let cases: &[(bool, usize)] = match strategy {
        Strategy::SingleUser => &[(false, 13), (true, 15)],
        Strategy::AlternatingUsers => &[(true, 15)],
    };
    let function = A::function(strategy);
    for &(with_admin, budget) in cases {
        let c = Case::with(a, &unique("calls"), &unique("Pw-"), with_admin).await;
        let proxy = CountingProxy::start(&c.sm.url);
        let f = Function::spawn(&function_binary(function), &proxy.url, &[]);
        let token = c.sm.start_rotation(&c.arn).await;
        proxy.reset();
        blocking(|| f.rotate(&c.arn, &token));
        let counts = proxy.counts();
        let total: usize = counts.values().sum();
        let what = format!("{function}, masterarn {with_admin}");
        assert!(
            total <= budget,
            "{what}: {total} calls, budget {budget}: {counts:?}"
        );
        assert_eq!(
            counts.get("DescribeSecret"),
            Some(&4),
            "{what}: one per step: {counts:?}"
        );
        assert_stage_reads(a, &c, "AWSCURRENT").await;
    }
}

/// Invoke `step` and return its error, which must come back before the invocation's deadline
/// (`limit`), however long the step would wait.
fn times_out(f: &Function, arn: &str, token: &str, step: &str, limit: Duration) -> String {
    let outcome = blocking(|| f.api.invoke(&crate::lambda::event(arn, token, step), limit))
        .unwrap_or_else(|e| panic!("{step}: no answer before the deadline of {limit:?}: {e}"));
    let (kind, message) = outcome.expect_err(step);
    assert_eq!(kind, "Timeout", "{step}: {message}");
    message
}

/// A step that would outlive its invocation: the database (or Secrets Manager) accepts the
/// connection and never answers, and `CONNECT_TIMEOUT_SECONDS` is longer than the time Lambda
/// gives. The step fails with `Timeout` before the deadline, naming what it waited for and
/// what to check; the process goes on serving, and the next rotation completes.
pub async fn binary_step_outlives_its_deadline<A: Adapter>(a: &A, strategy: Strategy) {
    let limit = Duration::from_secs(4);
    let sm = crate::secrets::Sm::from_env();
    // RDS-style (credentials only), so that it names the same silent database.
    let master = crate::conformance::case::store_rds_style_admin(a, &sm, strategy).await;
    let silent = crate::net::silent_port();
    let arn = sm
        .create(
            "conf-hang-",
            &crate::conformance::case::secret_with(
                a,
                silent,
                "app",
                "Some-pw-1",
                master.as_deref(),
            ),
        )
        .await;
    let f = Function::spawn(
        &function_binary(A::function(strategy)),
        &sm.url,
        &[("CONNECT_TIMEOUT_SECONDS", "60")],
    );
    f.api.set_time_limit(limit);
    let token = sm.start_rotation(&arn).await;
    // The first step that logs in: createSecret where it checks the name on the server,
    // else setSecret.
    let outcome = blocking(|| {
        f.api
            .invoke(&crate::lambda::event(&arn, &token, "createSecret"), limit)
    })
    .unwrap_or_else(|e| panic!("createSecret: {e}"));
    let message = match outcome {
        crate::lambda::Outcome::Ok(_) => times_out(&f, &arn, &token, "setSecret", limit),
        crate::lambda::Outcome::Err {
            error_type,
            error_message,
        } => {
            assert_eq!(error_type, "Timeout", "createSecret: {error_message}");
            error_message
        }
    };
    for words in [
        format!("127.0.0.1:{silent}"),
        "ran out of time".to_owned(),
        "the function's timeout".to_owned(),
        "security groups".to_owned(),
    ] {
        assert!(message.contains(&words), "says '{words}': {message}");
    }
    let output = settled_output(&f, "step failed");
    assert!(
        output.contains("step started") && output.contains("\"error_type\":\"Timeout\""),
        "the step's start and its timeout are logged:\n{output}"
    );

    // The same process serves the next invocation: a rotation of a healthy secret.
    f.api.set_time_limit(crate::lambda::TIME_LIMIT);
    let c = Case::new(a, strategy, "after").await;
    let token = c.sm.start_rotation(&c.arn).await;
    blocking(|| f.rotate(&c.arn, &token));
    assert_stage_reads(a, &c, "AWSCURRENT").await;

    // Secrets Manager that accepts the connection and never answers: the same, naming the API.
    let hung = format!("http://127.0.0.1:{}", crate::net::silent_port());
    let f = Function::spawn(&function_binary(A::function(strategy)), &hung, &[]);
    f.api.set_time_limit(limit);
    let message = times_out(&f, &c.arn, &unique("tok-"), "createSecret", limit);
    assert!(
        message.contains("Secrets Manager DescribeSecret"),
        "names the call: {message}"
    );
    let message = times_out(&f, &c.arn, &unique("tok-"), "setSecret", limit);
    assert!(
        message.contains("Secrets Manager"),
        "still serving: {message}"
    );
}

/// Rotation configured without rotating (`rotate-secret --no-rotate-immediately`): the service
/// runs testSecret on a version it made, AWSPENDING with AWSCURRENT's value, and removes it
/// again. testSecret passes for both strategies (alternating users too, although that version
/// names the current user, not the alternate), changes nothing, and the first real rotation
/// then completes.
pub async fn binary_configuration_test_passes<A: Adapter>(a: &A, strategy: Strategy) {
    let c = Case::new(a, strategy, "cfg").await;
    let before = a.account_state(&c.user).await;
    let f = Function::spawn(&function_binary(A::function(strategy)), &c.sm.url, &[]);
    let version = c.sm.configuration_test(&c.arn).await;
    blocking(|| f.invoke(&c.arn, &version, "testSecret"))
        .expect_ok("testSecret of the configuration test");
    c.sm.clear_pending(&c.arn, &version).await;
    assert_eq!(a.account_state(&c.user).await, before, "nothing changed");
    assert!(
        !a.user_exists(&clone_of(&c.user)).await,
        "no alternate user was made"
    );
    let output = settled_output(&f, "step finished");
    assert!(
        output.contains("configuration test"),
        "the log says what testSecret saw:\n{output}"
    );
    let token = c.sm.start_rotation(&c.arn).await;
    blocking(|| f.rotate(&c.arn, &token));
    assert_stage_reads(a, &c, "AWSCURRENT").await;
}

/// Sustained throttling, as when many secrets rotate at once: while three Secrets Manager
/// calls of every four are refused, a whole rotation still completes (each call is retried
/// with backoff). While every call is refused, a step fails with `SecretsManagerError` before
/// its deadline, AWSCURRENT keeps working, and once throttling ends the retry completes.
pub async fn binary_rotates_through_sustained_throttling<A: Adapter>(a: &A, strategy: Strategy) {
    let c = Case::new(a, strategy, "thr").await;
    let proxy = crate::proxy::ThrottlingProxy::start(&c.sm.url);
    let f = Function::spawn(&function_binary(A::function(strategy)), &proxy.url, &[]);
    let limit = Duration::from_secs(30);
    f.api.set_time_limit(limit);

    proxy.set("most");
    let token = c.sm.start_rotation(&c.arn).await;
    for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        blocking(|| {
            f.api
                .invoke(&crate::lambda::event(&c.arn, &token, step), limit)
        })
        .unwrap_or_else(|e| panic!("{step}: {e}"))
        .expect_ok(step);
    }
    proxy.set("off");
    assert!(proxy.refused() > 0, "calls were throttled");
    assert_stage_reads(a, &c, "AWSCURRENT").await;

    let token = c.sm.start_rotation(&c.arn).await;
    let (user, password) = c.at("AWSCURRENT").await;
    proxy.set("all");
    f.api.set_time_limit(Duration::from_secs(20));
    let outcome = blocking(|| {
        f.api.invoke(
            &crate::lambda::event(&c.arn, &token, "createSecret"),
            Duration::from_secs(20),
        )
    })
    .unwrap_or_else(|e| panic!("createSecret: no answer before the deadline: {e}"));
    let (kind, message) = outcome.expect_err("createSecret while every call is throttled");
    assert!(
        kind == "SecretsManagerError" || kind == "Timeout",
        "{kind}: {message}"
    );
    assert!(message.contains("Secrets Manager"), "{message}");
    if kind == "SecretsManagerError" {
        assert!(
            message.contains("quota"),
            "says it was throttling: {message}"
        );
    }
    assert_reads(a, &user, &password, "AWSCURRENT while throttled").await;
    proxy.set("off");
    blocking(|| f.rotate(&c.arn, &token));
    assert_stage_reads(a, &c, "AWSCURRENT").await;
}
