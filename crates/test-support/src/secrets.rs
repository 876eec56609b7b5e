//! Test-side Secrets Manager calls: create a secret, start a rotation the way the service does,
//! read versions and labels, tamper with a version.

use crate::moto::Moto;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use rotation_core::config::{Config, Strategy};
use rotation_core::protocol::Rotator;
use rotation_core::store::SecretStore;
use rotation_core::{Engine, RotationError, RotationEvent, TlsSettings};
use serde_json::Value;
use std::collections::HashMap;

/// A Secrets Manager client for the emulator, and the function ARN for `RotateSecret`.
#[derive(Clone)]
pub struct Sm {
    /// The SDK client.
    pub client: Client,
    /// The emulator's URL.
    pub url: String,
    lambda_arn: String,
}

/// The SDK client for an emulator URL, with test credentials.
pub fn client(url: &str) -> Client {
    let conf = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(url)
        .build();
    Client::from_conf(conf)
}

impl Sm {
    /// Connect to the emulator `cargo xtask test` started.
    pub fn from_env() -> Sm {
        Sm::new(&Moto::from_env())
    }

    /// Connect to an emulator.
    pub fn new(moto: &Moto) -> Sm {
        Sm {
            client: client(&moto.url),
            url: moto.url.clone(),
            lambda_arn: moto.lambda_arn.clone(),
        }
    }

    /// Create a secret with a unique name; returns its ARN.
    pub async fn create(&self, prefix: &str, value: &Value) -> String {
        let out = self
            .client
            .create_secret()
            .name(crate::unique(prefix))
            .secret_string(value.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateSecret: {e:?}"));
        out.arn().unwrap_or_default().to_owned()
    }

    /// Create a secret whose value is exactly `text` (for JSON that `Value` would reformat);
    /// returns its ARN.
    pub async fn create_raw(&self, prefix: &str, text: &str) -> String {
        let out = self
            .client
            .create_secret()
            .name(crate::unique(prefix))
            .secret_string(text)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateSecret: {e:?}"));
        out.arn().unwrap_or_default().to_owned()
    }

    /// The stored text of the version carrying `stage`, exactly as stored.
    pub async fn raw_value(&self, arn: &str, stage: &str) -> Option<String> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(arn)
            .version_stage(stage)
            .send()
            .await
            .ok()?;
        out.secret_string().map(str::to_owned)
    }

    /// Start a rotation as the service does: afterwards a new version, with no value, carries
    /// AWSPENDING. Returns its id, the token of the four steps.
    pub async fn start_rotation(&self, arn: &str) -> String {
        // moto keeps AWSPENDING on the current version after a rotation (as AWS does) but
        // then refuses to rotate again; AWS accepts that state, so the test clears it.
        let stages = self.stages(arn).await;
        if let Some((id, _)) = stages.iter().find(|(_, l)| {
            l.iter().any(|x| x == "AWSPENDING") && l.iter().any(|x| x == "AWSCURRENT")
        }) {
            self.clear_pending(arn, id).await;
        }
        let token = self.rotate_secret(arn, true).await;
        let stages = self.stages(arn).await;
        assert_eq!(
            stages.get(&token).map(Vec::as_slice),
            Some(&["AWSPENDING".to_owned()][..]),
            "the emulator did not leave the start state of a rotation: {stages:?}"
        );
        token
    }

    /// `RotateSecret` with this emulator's function, every 30 days; returns the `VersionId` it
    /// answers with.
    async fn rotate_secret(&self, arn: &str, immediately: bool) -> String {
        let out = self
            .client
            .rotate_secret()
            .secret_id(arn)
            .rotation_lambda_arn(&self.lambda_arn)
            .rotation_rules(
                aws_sdk_secretsmanager::types::RotationRulesType::builder()
                    .automatically_after_days(30)
                    .build(),
            )
            .rotate_immediately(immediately)
            .send()
            .await
            .unwrap_or_else(|e| panic!("RotateSecret: {e:?}"));
        out.version_id().unwrap_or_default().to_owned()
    }

    /// Configure rotation with this emulator's function without starting one, as
    /// `rotate-secret --no-rotate-immediately` does. The service then tests the configuration
    /// with a version it removes again (see [`Sm::configuration_test`]); the emulator leaves
    /// that version AWSPENDING, so it is taken off here to reach the service's end state.
    pub async fn configure_rotation(&self, arn: &str) {
        let version = self.configuration_test(arn).await;
        self.clear_pending(arn, &version).await;
    }

    /// The first half of [`Sm::configure_rotation`]: rotation configured, and the version the
    /// service makes to test it, AWSPENDING with AWSCURRENT's value, which it runs the
    /// function's testSecret on. Returns that version's id.
    pub async fn configuration_test(&self, arn: &str) -> String {
        // The emulator answers with AWSCURRENT's id, not the test version's: find that one.
        self.rotate_secret(arn, false).await;
        let stages = self.stages(arn).await;
        let version = stages
            .iter()
            .find(|(_, labels)| labels.as_slice() == ["AWSPENDING".to_owned()])
            .map(|(id, _)| id.clone())
            .unwrap_or_else(|| panic!("the emulator made no test version: {stages:?}"));
        assert_eq!(
            self.value(arn, "AWSPENDING", Some(&version)).await,
            self.value(arn, "AWSCURRENT", None).await,
            "the test version holds AWSCURRENT's value"
        );
        version
    }

    /// `VersionIdsToStages`.
    pub async fn stages(&self, arn: &str) -> HashMap<String, Vec<String>> {
        self.client
            .describe_secret()
            .secret_id(arn)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeSecret: {e:?}"))
            .version_ids_to_stages()
            .cloned()
            .unwrap_or_default()
    }

    /// Assert the labels a finished rotation leaves: AWSCURRENT on `token`, AWSPREVIOUS on
    /// `old_version` (the version that was current before).
    pub async fn assert_rotated(&self, arn: &str, token: &str, old_version: &str) {
        let stages = self.stages(arn).await;
        let has =
            |id: &str, label: &str| stages.get(id).is_some_and(|l| l.iter().any(|x| x == label));
        assert!(
            has(token, "AWSCURRENT"),
            "AWSCURRENT is not on {token}: {stages:?}"
        );
        assert!(
            has(old_version, "AWSPREVIOUS"),
            "AWSPREVIOUS is not on {old_version}: {stages:?}"
        );
    }

    /// The version id carrying `stage`.
    pub async fn version_of(&self, arn: &str, stage: &str) -> Option<String> {
        self.stages(arn)
            .await
            .into_iter()
            .find(|(_, l)| l.iter().any(|x| x == stage))
            .map(|(id, _)| id)
    }

    /// The JSON of the version carrying `stage` (and of `version`, when given).
    pub async fn value(&self, arn: &str, stage: &str, version: Option<&str>) -> Option<Value> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(arn)
            .version_stage(stage)
            .set_version_id(version.map(str::to_owned))
            .send()
            .await
            .ok()?;
        serde_json::from_str(out.secret_string()?).ok()
    }

    /// Overwrite the AWSPENDING version's value (moto allows it; the function must cope).
    pub async fn tamper_pending(&self, arn: &str, token: &str, value: &Value) {
        self.client
            .put_secret_value()
            .secret_id(arn)
            .client_request_token(token)
            .secret_string(value.to_string())
            .version_stages("AWSPENDING")
            .send()
            .await
            .unwrap_or_else(|e| panic!("PutSecretValue: {e:?}"));
    }

    /// Merge `changes` (an object) into the AWSPENDING version's JSON and store it again.
    pub async fn edit_pending(&self, arn: &str, token: &str, changes: &Value) {
        let mut pending = self
            .value(arn, "AWSPENDING", Some(token))
            .await
            .unwrap_or_else(|| panic!("version {token} has no AWSPENDING value"));
        for (k, v) in changes.as_object().expect("changes must be a JSON object") {
            pending[k] = v.clone();
        }
        self.tamper_pending(arn, token, &pending).await;
    }

    /// Take AWSPENDING off `token`, abandoning a failed rotation so the next can start.
    pub async fn clear_pending(&self, arn: &str, token: &str) {
        self.client
            .update_secret_version_stage()
            .secret_id(arn)
            .version_stage("AWSPENDING")
            .remove_from_version_id(token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("removing AWSPENDING from {token}: {e:?}"));
    }

    /// Turn rotation off (`CancelRotateSecret`).
    pub async fn disable_rotation(&self, arn: &str) {
        self.client
            .cancel_rotate_secret()
            .secret_id(arn)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CancelRotateSecret: {e:?}"));
    }

    /// A rotator for `engine` with settings from `vars` (as if they were the environment);
    /// `EXCLUDE_CHARACTERS` defaults to the engine's own default, as in the binaries.
    pub fn rotator<E: Engine>(
        &self,
        strategy: Strategy,
        vars: &[(&str, &str)],
        make_engine: impl FnOnce(TlsSettings) -> E,
    ) -> Rotator<E> {
        let mut map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        if let Some(ca) = crate::tls::shared_ca_bundle() {
            map.entry("CA_BUNDLE".to_owned()).or_insert(ca);
        }
        let config = Config::from_lookup(strategy, E::DEFAULT_EXCLUDE_CHARACTERS, |k| {
            map.get(k).cloned()
        })
        .unwrap_or_else(|e| panic!("test settings: {e}"));
        let tls =
            TlsSettings::from_config(&config).unwrap_or_else(|e| panic!("test TLS settings: {e}"));
        Rotator::new(
            make_engine(tls),
            SecretStore::new(self.client.clone()),
            config,
        )
    }
}

/// Run one step in-process.
pub async fn step<E: Engine>(
    rotator: &Rotator<E>,
    arn: &str,
    token: &str,
    step: &str,
) -> Result<(), RotationError> {
    rotator.handle(&RotationEvent::new(arn, token, step)).await
}

/// Run the four steps in order, stopping at the first error.
pub async fn rotate<E: Engine>(
    rotator: &Rotator<E>,
    arn: &str,
    token: &str,
) -> Result<(), RotationError> {
    for s in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        step(rotator, arn, token, s).await?;
    }
    Ok(())
}

/// Run every step twice in a row, as retries would; panics on the first error.
pub async fn each_step_twice<E: Engine>(rotator: &Rotator<E>, arn: &str, token: &str) {
    for s in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        for attempt in 1..=2 {
            step(rotator, arn, token, s)
                .await
                .unwrap_or_else(|e| panic!("{s}, attempt {attempt}: {e}"));
        }
    }
}
