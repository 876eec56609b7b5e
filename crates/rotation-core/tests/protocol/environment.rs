//! The Secrets Manager client the functions build from Lambda's environment
//! (`store::sdk_config`): the endpoint variables are honoured in their order, against the
//! emulator, and the credentials and region are the environment's.

use rotation_core::store::{SecretStore, sdk_config};
use rotation_core::{Config, Strategy};
use std::collections::HashMap;
use test_support::secrets::Sm;

fn store(vars: &[(&str, &str)]) -> SecretStore {
    let map: HashMap<&str, &str> = vars.iter().copied().collect();
    let lookup = |k: &str| map.get(k).map(|v| (*v).to_owned());
    let config = Config::from_lookup(Strategy::SingleUser, "", lookup).unwrap_or_else(|e| {
        panic!("{e}");
    });
    SecretStore::new(aws_sdk_secretsmanager::Client::from_conf(sdk_config(
        &config, lookup,
    )))
}

const ENV: &[(&str, &str)] = &[
    ("AWS_REGION", "us-east-1"),
    ("AWS_ACCESS_KEY_ID", "test"),
    ("AWS_SECRET_ACCESS_KEY", "test"),
    ("AWS_SESSION_TOKEN", "test"),
];

/// Each endpoint variable reaches the emulator alone, and the one of higher rank wins over
/// a dead address in the other. `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` never turns
/// `SECRETS_MANAGER_ENDPOINT` off.
#[tokio::test]
async fn endpoint_variables_are_honoured_in_order() {
    let sm = Sm::from_env();
    let arn = sm.create("env-", &serde_json::json!({"a": 1})).await;
    let dead = "http://127.0.0.1:1";
    let cases: &[(&[(&str, &str)], bool)] = &[
        (&[("SECRETS_MANAGER_ENDPOINT", &sm.url)], true),
        (&[("AWS_ENDPOINT_URL_SECRETS_MANAGER", &sm.url)], true),
        (&[("AWS_ENDPOINT_URL", &sm.url)], true),
        (
            &[
                ("SECRETS_MANAGER_ENDPOINT", &sm.url),
                ("AWS_ENDPOINT_URL_SECRETS_MANAGER", dead),
            ],
            true,
        ),
        (
            &[
                ("AWS_ENDPOINT_URL_SECRETS_MANAGER", &sm.url),
                ("AWS_ENDPOINT_URL", dead),
            ],
            true,
        ),
        (
            &[
                ("AWS_ENDPOINT_URL", dead),
                ("SECRETS_MANAGER_ENDPOINT", &sm.url),
                ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
            ],
            true,
        ),
    ];
    for (vars, reaches) in cases {
        let mut all = ENV.to_vec();
        all.extend_from_slice(vars);
        let described = store(&all).describe(&arn).await;
        assert_eq!(described.is_ok(), *reaches, "{vars:?}: {described:?}");
    }
}

/// Without credentials in the environment every call fails, and says why.
#[tokio::test]
async fn no_credentials_is_a_clear_error() {
    let sm = Sm::from_env();
    let err = store(&[
        ("AWS_REGION", "us-east-1"),
        ("SECRETS_MANAGER_ENDPOINT", &sm.url),
    ])
    .describe("any")
    .await
    .err()
    .unwrap_or_else(|| panic!("a call without credentials succeeded"));
    assert!(err.detail.to_lowercase().contains("credentials"), "{err}");
}
