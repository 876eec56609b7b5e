//! The preflight check in-process: the Secrets Manager calls it makes (reads only, never a
//! write), its report for each strategy, and the admin checks it shares with the steps.

use crate::support::*;
use rotation_core::Strategy::{self, AlternatingUsers, SingleUser};
use test_support::proxy::CountingProxy;

/// The ARN the emulator's placeholder function has, which `start_rotation` and
/// `configure_rotation` name.
fn function_arn() -> String {
    test_support::lambda::FUNCTION_ARN.to_owned()
}

async fn report_of(
    strategy: Strategy,
    with_master: bool,
) -> (Case, rotation_core::preflight::Report, CountingProxy) {
    let c = case_with("app", with_master).await;
    c.sm.configure_rotation(&c.arn).await;
    let proxy = CountingProxy::start(&c.sm.url);
    let r = rotator::<false, false>(&sm_at(&proxy.url), strategy, &[], &c.db);
    let report = r.preflight(&c.arn, &function_arn()).await;
    (c, report, proxy)
}

#[tokio::test]
async fn the_preflight_only_reads() {
    for (strategy, with_master, reads) in [
        (SingleUser, false, 1),
        (SingleUser, true, 2),
        (AlternatingUsers, true, 2),
    ] {
        let what = format!("{strategy:?}, masterarn {with_master}");
        let (c, report, proxy) = report_of(strategy, with_master).await;
        assert!(report.ok, "{what}: {report:#?}");
        let counts = proxy.counts();
        assert_eq!(counts.get("DescribeSecret"), Some(&1), "{what}: {counts:?}");
        assert_eq!(
            counts.get("GetSecretValue"),
            Some(&reads),
            "{what}: {counts:?}"
        );
        assert_eq!(
            counts.get("GetRandomPassword"),
            Some(&1),
            "{what}: {counts:?}"
        );
        assert_eq!(proxy.total(), 2 + reads, "{what}: nothing else: {counts:?}");
        let mut users = std::collections::BTreeMap::new();
        users.insert("app".to_owned(), c.password.clone());
        if with_master {
            users.insert(ADMIN.to_owned(), ADMIN_PASSWORD.to_owned());
        }
        assert_eq!(c.users(), users, "{what}: the database is unchanged");
    }
}

#[tokio::test]
async fn the_preflight_names_an_admin_that_is_the_rotated_user() {
    let c = case_with("app", false).await;
    let master = master_secret(&c.sm, "app_clone", "whatever-1").await;
    let mut value = c.current().await;
    value["masterarn"] = serde_json::json!(master);
    let arn = c.sm.create("core-pf-", &value).await;
    c.sm.configure_rotation(&arn).await;
    let r = c.rotator(AlternatingUsers);
    let report = r.preflight(&arn, &function_arn()).await;
    assert!(!report.ok, "{report:#?}");
    let check = report
        .checks
        .iter()
        .find(|c| c.name == "admin-secret")
        .unwrap_or_else(|| panic!("{report:#?}"));
    assert_eq!(check.ok, Some(false), "{report:#?}");
    assert!(check.message.contains("'app_clone'"), "{report:#?}");
    assert!(
        !report.checks.iter().any(|c| c.name == "admin-login"),
        "{report:#?}"
    );
}

#[tokio::test]
async fn a_refused_describe_says_rotation_is_likely_not_for_this_function() {
    // The templates let the role describe and read only secrets whose rotation names the
    // function: a secret rotated by another function (or none) answers AccessDenied.
    let c = case_with("app", false).await;
    let recorder = crate::recorder::Recorder::start(&c.sm);
    recorder.deny("DescribeSecret", &c.arn);
    let r = rotator::<false, false>(&recorder.sm(), SingleUser, &[], &c.db);
    let report = r.preflight(&c.arn, &function_arn()).await;
    assert!(!report.ok, "{report:#?}");
    assert_eq!(report.checks.len(), 1, "nothing else is tried: {report:#?}");
    let check = &report.checks[0];
    assert_eq!(
        (check.name, check.ok),
        ("rotation", Some(false)),
        "{report:#?}"
    );
    for words in [
        "AccessDenied",
        "AllowRotationLambdaArn",
        "--no-rotate-immediately",
        &function_arn(),
    ] {
        assert!(check.message.contains(words), "says '{words}': {report:#?}");
    }
    assert!(
        recorder.requests("GetSecretValue").is_empty(),
        "no read was tried"
    );
}
