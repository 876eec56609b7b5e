//! The Secrets Manager calls the protocol makes, and nothing else. Each step makes only the
//! calls it needs: a single-user rotation makes 13 (15 when the secret names a `masterarn`,
//! which createSecret and setSecret read for the admin check), an alternating one 15.
//!
//! The client is configured from Lambda's environment directly ([`sdk_config`]): the region,
//! the execution role's credentials and the SDK's endpoint settings are all there. The SDK's
//! general configuration loader (profile files, instance metadata, web identity through STS)
//! would add an STS client to every binary and work to every init, for sources a Lambda
//! function never has.

use crate::activity::Activity;
use crate::config::{Config, PasswordPolicy};
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::retry::RetryConfig;
use aws_sdk_secretsmanager::config::timeout::TimeoutConfig;
use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;

/// Staging label of the live version.
pub const AWSCURRENT: &str = "AWSCURRENT";
/// Staging label of the version being rotated in.
pub const AWSPENDING: &str = "AWSPENDING";
/// Staging label of the version before AWSCURRENT.
pub const AWSPREVIOUS: &str = "AWSPREVIOUS";

/// A failed Secrets Manager call.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation}: {detail}")]
pub struct StoreError {
    /// The API operation.
    pub operation: &'static str,
    /// The SDK's description, with the service's error code.
    pub detail: String,
}

fn store_error<E, R>(operation: &'static str, err: &SdkError<E, R>) -> StoreError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    let detail = match err.as_service_error() {
        Some(service) if service.code().is_some() => format!(
            "{}: {}",
            service.code().unwrap_or_default(),
            service.message().unwrap_or("no message")
        ),
        _ => DisplayErrorContext(err).to_string(),
    };
    StoreError { operation, detail }
}

/// What `DescribeSecret` says about a secret.
#[derive(Debug, Clone)]
pub struct Described {
    /// The full ARN.
    pub arn: String,
    /// `RotationEnabled`, when present.
    pub rotation_enabled: Option<bool>,
    /// `VersionIdsToStages`.
    pub stages: HashMap<String, Vec<String>>,
    /// `RotationLambdaARN`, when rotation was ever configured.
    pub rotation_lambda_arn: Option<String>,
}

impl Described {
    /// The version that carries `label`, if any.
    pub fn version_with(&self, label: &str) -> Option<&str> {
        self.stages
            .iter()
            .find(|(_, labels)| labels.iter().any(|l| l == label))
            .map(|(id, _)| id.as_str())
    }
}

/// How Secrets Manager calls are retried: the SDK's standard mode (throttling, 5xx and
/// dropped connections are retried, with jittered exponential backoff), 6 attempts, backoff
/// from 200 ms up to 4 s. Many secrets rotating at once share the account's write quota, so
/// throttling can last seconds; the step's deadline bounds every retry
/// ([`crate::protocol::step_budget`]).
pub fn retry_policy() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(6)
        .with_initial_backoff(std::time::Duration::from_millis(200))
        .with_max_backoff(std::time::Duration::from_secs(4))
}

/// The SDK's connect timeout, as its configuration loader sets it.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(3100);

/// The client's configuration, from the variables `lookup` reads (the environment):
/// - the region: `AWS_REGION` (Lambda sets it), else `AWS_DEFAULT_REGION`;
/// - the credentials: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`,
///   which Lambda sets to the execution role's for the life of the execution environment.
///   Without them every call fails, saying that no credentials were found;
/// - the endpoint: `SECRETS_MANAGER_ENDPOINT` (AWS's templates' variable), else
///   `AWS_ENDPOINT_URL_SECRETS_MANAGER`, else `AWS_ENDPOINT_URL` (those two unless
///   `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` is true); otherwise the region's, as
///   `AWS_USE_FIPS_ENDPOINT` and `AWS_USE_DUALSTACK_ENDPOINT` choose;
/// - the SDK's connect timeout (3.1 s) and [`retry_policy`].
pub fn sdk_config(
    config: &Config,
    lookup: impl Fn(&str) -> Option<String>,
) -> aws_sdk_secretsmanager::Config {
    let get = |k: &str| lookup(k).filter(|v| !v.trim().is_empty());
    let flag = |k: &str| get(k).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let mut builder = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .retry_config(retry_policy())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .build(),
        )
        .use_fips(flag("AWS_USE_FIPS_ENDPOINT"))
        .use_dual_stack(flag("AWS_USE_DUALSTACK_ENDPOINT"));
    if let Some(region) = get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION")) {
        builder = builder.region(Region::new(region));
    }
    if let (Some(key), Some(secret)) = (get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")) {
        builder = builder.credentials_provider(Credentials::new(
            key,
            secret,
            get("AWS_SESSION_TOKEN"),
            None,
            "environment",
        ));
    }
    let configured = match flag("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS") {
        true => None,
        false => get("AWS_ENDPOINT_URL_SECRETS_MANAGER").or_else(|| get("AWS_ENDPOINT_URL")),
    };
    if let Some(endpoint) = config.endpoint.clone().or(configured) {
        builder = builder.endpoint_url(endpoint);
    }
    builder.build()
}

/// A Secrets Manager client.
#[derive(Debug, Clone)]
pub struct SecretStore {
    client: Client,
    /// Where each call is recorded while it runs.
    activity: Activity,
}

impl SecretStore {
    /// Wrap an SDK client (tests build one for the emulator).
    pub fn new(client: Client) -> SecretStore {
        SecretStore {
            client,
            activity: Activity::default(),
        }
    }

    /// Record each call in `activity` from now on.
    pub(crate) fn track(&mut self, activity: Activity) {
        self.activity = activity;
    }

    /// Run a call of `operation`, recorded while it runs.
    async fn call<T>(&self, operation: &str, fut: impl std::future::Future<Output = T>) -> T {
        self.activity
            .run(format!("Secrets Manager {operation}"), false, fut)
            .await
    }

    /// A client configured from the process environment ([`sdk_config`]).
    pub async fn from_env(config: &Config) -> SecretStore {
        SecretStore::new(Client::from_conf(sdk_config(config, |k| {
            std::env::var(k).ok()
        })))
    }

    /// `DescribeSecret`.
    pub async fn describe(&self, secret_id: &str) -> Result<Described, StoreError> {
        let out = self
            .call(
                "DescribeSecret",
                self.client.describe_secret().secret_id(secret_id).send(),
            )
            .await
            .map_err(|e| store_error("DescribeSecret", &e))?;
        Ok(Described {
            arn: out.arn().unwrap_or(secret_id).to_owned(),
            rotation_enabled: out.rotation_enabled(),
            stages: out.version_ids_to_stages().cloned().unwrap_or_default(),
            rotation_lambda_arn: out.rotation_lambda_arn().map(str::to_owned),
        })
    }

    /// `GetSecretValue` of a staging label, optionally of one version. `Ok(None)` when the
    /// service answers `ResourceNotFoundException` (no such version, or no value yet).
    pub async fn get(
        &self,
        secret_id: &str,
        stage: &str,
        version_id: Option<&str>,
    ) -> Result<Option<SecretString>, StoreError> {
        self.get_value(secret_id, Some(stage), version_id).await
    }

    /// `GetSecretValue` of one version by its id alone (it may carry no label). `Ok(None)` when
    /// the service answers `ResourceNotFoundException`.
    pub async fn get_version(
        &self,
        secret_id: &str,
        version_id: &str,
    ) -> Result<Option<SecretString>, StoreError> {
        self.get_value(secret_id, None, Some(version_id)).await
    }

    async fn get_value(
        &self,
        secret_id: &str,
        stage: Option<&str>,
        version_id: Option<&str>,
    ) -> Result<Option<SecretString>, StoreError> {
        let result = self
            .call(
                "GetSecretValue",
                self.client
                    .get_secret_value()
                    .secret_id(secret_id)
                    .set_version_stage(stage.map(str::to_owned))
                    .set_version_id(version_id.map(str::to_owned))
                    .send(),
            )
            .await;
        match result {
            Ok(out) => Ok(Some(SecretString::from(
                out.secret_string().unwrap_or_default().to_owned(),
            ))),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(store_error("GetSecretValue", &e)),
        }
    }

    /// `ListSecretVersionIds`, deprecated versions included: the ids of the versions no label
    /// points to, newest first (of the first 100 versions the service lists).
    pub async fn unlabelled_versions(&self, secret_id: &str) -> Result<Vec<String>, StoreError> {
        let out = self
            .call(
                "ListSecretVersionIds",
                self.client
                    .list_secret_version_ids()
                    .secret_id(secret_id)
                    .include_deprecated(true)
                    .max_results(100)
                    .send(),
            )
            .await
            .map_err(|e| store_error("ListSecretVersionIds", &e))?;
        // Newest first; between versions made in the same instant (a service that counts in
        // whole seconds), the one listed later is taken as the newer.
        let mut versions: Vec<_> = out
            .versions()
            .iter()
            .enumerate()
            .filter(|(_, v)| v.version_stages().is_empty())
            .filter_map(|(i, v)| {
                let created = v.created_date().map_or(0.0, |d| d.as_secs_f64());
                Some((created, i, v.version_id()?.to_owned()))
            })
            .collect();
        versions.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
        Ok(versions.into_iter().map(|(_, _, id)| id).collect())
    }

    /// `GetRandomPassword`.
    pub async fn random_password(
        &self,
        policy: &PasswordPolicy,
    ) -> Result<SecretString, StoreError> {
        let out = self
            .call(
                "GetRandomPassword",
                self.client
                    .get_random_password()
                    .password_length(policy.length)
                    .exclude_characters(&policy.exclude_characters)
                    .exclude_numbers(policy.exclude_numbers)
                    .exclude_punctuation(policy.exclude_punctuation)
                    .exclude_uppercase(policy.exclude_uppercase)
                    .exclude_lowercase(policy.exclude_lowercase)
                    .require_each_included_type(policy.require_each_included_type)
                    .send(),
            )
            .await
            .map_err(|e| store_error("GetRandomPassword", &e))?;
        match out.random_password() {
            Some(p) if !p.is_empty() => Ok(SecretString::from(p.to_owned())),
            _ => Err(StoreError {
                operation: "GetRandomPassword",
                detail: "the service returned no password; check the EXCLUDE_* settings leave characters to choose from".into(),
            }),
        }
    }

    /// `PutSecretValue` of the new version, labelled AWSPENDING.
    pub async fn put_pending(
        &self,
        secret_id: &str,
        token: &str,
        value: &SecretString,
        rotation_token: Option<&str>,
    ) -> Result<(), StoreError> {
        self.call(
            "PutSecretValue",
            self.client
                .put_secret_value()
                .secret_id(secret_id)
                .client_request_token(token)
                .secret_string(value.expose_secret())
                .version_stages(AWSPENDING)
                .set_rotation_token(rotation_token.map(str::to_owned))
                .send(),
        )
        .await
        .map_err(|e| store_error("PutSecretValue", &e))?;
        Ok(())
    }

    /// `UpdateSecretVersionStage`: move AWSCURRENT to `token`. The service labels the old
    /// version AWSPREVIOUS itself.
    pub async fn move_current(
        &self,
        secret_id: &str,
        token: &str,
        from: Option<&str>,
    ) -> Result<(), StoreError> {
        self.call(
            "UpdateSecretVersionStage",
            self.client
                .update_secret_version_stage()
                .secret_id(secret_id)
                .version_stage(AWSCURRENT)
                .move_to_version_id(token)
                .set_remove_from_version_id(from.map(str::to_owned))
                .send(),
        )
        .await
        .map_err(|e| store_error("UpdateSecretVersionStage", &e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Strategy;

    fn built(vars: &[(&str, &str)]) -> aws_sdk_secretsmanager::Config {
        let lookup = |k: &str| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        };
        let config = Config::from_lookup(Strategy::SingleUser, "", lookup).expect("config");
        sdk_config(&config, lookup)
    }

    #[test]
    fn region_and_timeouts_come_from_the_environment() {
        let c = built(&[
            ("AWS_REGION", "eu-west-3"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
        ]);
        assert_eq!(c.region().map(|r| r.as_ref()), Some("eu-west-3"));
        assert_eq!(
            c.timeout_config().and_then(|t| t.connect_timeout()),
            Some(CONNECT_TIMEOUT)
        );
        assert_eq!(c.retry_config().map(|r| r.max_attempts()), Some(6));

        let c = built(&[("AWS_DEFAULT_REGION", "us-east-2")]);
        assert_eq!(c.region().map(|r| r.as_ref()), Some("us-east-2"));
        assert!(built(&[]).region().is_none());
    }
}
