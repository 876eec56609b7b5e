//! The rotation: the handler gate, then one of the four steps.
//!
//! Every step can run again after a crash, a timeout or a retry, and ends in the same state.
//! The confused-deputy checks (AWSPENDING names the same account as AWSCURRENT) come before any
//! shortcut and before any change to the database.

use crate::activity::{Activity, Tracked};
use crate::config::{Config, Strategy};
use crate::engine::{Engine, SetAlternate, SetPassword};
use crate::error::{EngineError, RotationError};
use crate::event::{RotationEvent, Step};
use crate::secret::{DbSecret, alternate_username};
use crate::store::{AWSCURRENT, AWSPENDING, AWSPREVIOUS, Described, SecretStore, StoreError};
use std::time::{Duration, Instant};
use tracing::{Instrument, error, info, info_span, warn};

/// An engine, a Secrets Manager client and the settings: everything a step needs.
pub struct Rotator<E> {
    /// The engine, each operation recorded in its `activity`, which the store shares: what
    /// the step is waiting for, for the message of a step that runs out of time.
    pub(crate) engine: Tracked<E>,
    pub(crate) store: SecretStore,
    pub(crate) config: Config,
}

/// How much of the time an invocation has left is kept to report a step that ran out of it:
/// a tenth of it, between these bounds.
const DEADLINE_MARGIN: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(1));

/// The time a step may take when the invocation has `left`.
pub fn step_budget(left: Duration) -> Duration {
    left.saturating_sub((left / 10).clamp(DEADLINE_MARGIN.0, DEADLINE_MARGIN.1))
}

/// The facts of one invocation that every step and error needs.
struct Cx<'a> {
    secret_id: &'a str,
    arn: String,
    token: &'a str,
    step: Step,
    described: Described,
    rotation_token: Option<&'a str>,
}

impl Cx<'_> {
    fn sm(&self, e: StoreError) -> RotationError {
        RotationError::SecretsManager {
            arn: self.arn.clone(),
            step: self.step.as_str(),
            operation: e.operation,
            detail: e.detail,
        }
    }

    fn db(&self, credential: &str, e: EngineError, known: &[&DbSecret]) -> RotationError {
        RotationError::Database {
            arn: self.arn.clone(),
            step: self.step.as_str(),
            credential: credential.to_owned(),
            source: e.scrubbed(known),
        }
    }

    fn deputy(&self, problem: String) -> RotationError {
        RotationError::ConfusedDeputy {
            arn: self.arn.clone(),
            step: self.step.as_str(),
            problem,
        }
    }
}

impl<E: Engine> Rotator<E> {
    /// Put the parts together.
    pub fn new(engine: E, mut store: SecretStore, config: Config) -> Rotator<E> {
        let activity = Activity::default();
        store.track(activity.clone());
        Rotator {
            engine: Tracked {
                inner: engine,
                activity,
            },
            store,
            config,
        }
    }

    /// Handle one event with no deadline (tests and tools); see [`Rotator::handle_within`].
    pub async fn handle(&self, event: &RotationEvent) -> Result<(), RotationError> {
        self.handle_within(event, None).await
    }

    /// Handle one event, with a log line when it starts and one at the end that says how it
    /// went and how long it took. With `left`, the time the invocation has, the step stops
    /// before Lambda's deadline ([`step_budget`]) and fails with a `Timeout` that says what it
    /// was waiting for; every step can run again from where it stopped.
    pub async fn handle_within(
        &self,
        event: &RotationEvent,
        left: Option<Duration>,
    ) -> Result<(), RotationError> {
        let span = info_span!(
            "rotation",
            secret_arn = %event.inner.secret_id,
            step = %event.inner.step,
            token = %event.inner.client_request_token,
            strategy = self.config.strategy.as_str(),
        );
        async {
            // Said first, so that a step that never ends still leaves a line saying it began.
            info!(
                time_left_ms = left.map(|l| l.as_millis() as u64),
                "step started"
            );
            let started = Instant::now();
            self.engine.activity.clear();
            // Boxed: the engines' futures are deep, and their layout is computed only once here.
            let steps = Box::pin(self.dispatch(event));
            let result = match left {
                None => steps.await,
                Some(left) => tokio::time::timeout(step_budget(left), steps)
                    .await
                    .unwrap_or_else(|_| {
                        Err(RotationError::Timeout {
                            arn: event.inner.secret_id.clone(),
                            step: event.inner.step.clone(),
                            after: started.elapsed(),
                            waiting: self.engine.activity.current(),
                        })
                    }),
            };
            self.engine.end_step().await;
            let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
            match &result {
                Ok(()) => info!(duration_ms, "step finished"),
                Err(e) => error!(duration_ms, error_type = e.kind(), error = %e, "step failed"),
            }
            result
        }
        .instrument(span)
        .await
    }

    async fn dispatch(&self, event: &RotationEvent) -> Result<(), RotationError> {
        let secret_id = event.inner.secret_id.as_str();
        let token = event.inner.client_request_token.as_str();
        let step_name = event.inner.step.as_str();
        let described =
            self.store
                .describe(secret_id)
                .await
                .map_err(|e| RotationError::SecretsManager {
                    arn: secret_id.to_owned(),
                    step: "handler",
                    operation: e.operation,
                    detail: e.detail,
                })?;
        let arn = described.arn.clone();
        if described.rotation_enabled == Some(false) {
            return Err(RotationError::RotationNotEnabled { arn });
        }
        let Some(labels) = described.stages.get(token) else {
            return Err(RotationError::NoStage {
                token: token.to_owned(),
                arn,
            });
        };
        if labels.iter().any(|l| l == AWSCURRENT) {
            info!("version is already AWSCURRENT; nothing to do");
            return Ok(());
        }
        if !labels.iter().any(|l| l == AWSPENDING) {
            return Err(RotationError::NotPending {
                token: token.to_owned(),
                arn,
            });
        }
        let Some(step) = Step::parse(step_name) else {
            return Err(RotationError::InvalidStep {
                step: step_name.to_owned(),
                arn,
            });
        };
        let cx = Cx {
            secret_id,
            arn,
            token,
            step,
            described,
            rotation_token: event.rotation_token.as_deref(),
        };
        match step {
            Step::Create => self.create(&cx).await,
            Step::Set => match self.config.strategy {
                Strategy::SingleUser => self.set_single(&cx).await,
                Strategy::AlternatingUsers => self.set_alternating(&cx).await,
            },
            Step::Test => self.test(&cx).await,
            Step::Finish => self.finish(&cx).await,
        }
    }

    /// Fetch and parse a version of the rotated secret.
    async fn load(
        &self,
        cx: &Cx<'_>,
        stage: &str,
        version: Option<&str>,
    ) -> Result<Option<DbSecret>, RotationError> {
        let Some(json) = self
            .store
            .get(cx.secret_id, stage, version)
            .await
            .map_err(|e| cx.sm(e))?
        else {
            return Ok(None);
        };
        DbSecret::parse(&json, &E::RULES)
            .map(Some)
            .map_err(|source| RotationError::BadSecret {
                arn: cx.arn.clone(),
                step: cx.step.as_str(),
                label: stage.to_owned(),
                source,
            })
    }

    async fn current(&self, cx: &Cx<'_>) -> Result<DbSecret, RotationError> {
        self.load(cx, AWSCURRENT, None)
            .await?
            .ok_or_else(|| RotationError::NoCurrentVersion {
                arn: cx.arn.clone(),
                step: cx.step.as_str(),
            })
    }

    async fn pending(&self, cx: &Cx<'_>) -> Result<DbSecret, RotationError> {
        self.load(cx, AWSPENDING, Some(cx.token))
            .await?
            .ok_or_else(|| RotationError::SecretsManager {
                arn: cx.arn.clone(),
                step: cx.step.as_str(),
                operation: "GetSecretValue",
                detail: format!(
                    "version {} has no value yet; run createSecret first (rotate the secret again)",
                    cx.token
                ),
            })
    }

    /// The admin secret named by `masterarn`, completed with the rotated secret's host and port.
    async fn admin(
        &self,
        cx: &Cx<'_>,
        rotated: &DbSecret,
        masterarn: &str,
    ) -> Result<DbSecret, RotationError> {
        let bad = |problem: String| RotationError::BadSecret {
            arn: masterarn.to_owned(),
            step: cx.step.as_str(),
            label: "admin (masterarn)".into(),
            source: crate::secret::SecretFormatError::Invalid {
                key: "masterarn",
                expected: problem,
            },
        };
        let json = self
            .store
            .get(masterarn, AWSCURRENT, None)
            .await
            .map_err(|e| cx.sm(e))?
            .ok_or_else(|| bad("names a secret that has no AWSCURRENT value".into()))?;
        DbSecret::parse_master(&json, rotated).map_err(|source| RotationError::BadSecret {
            arn: masterarn.to_owned(),
            step: cx.step.as_str(),
            label: "admin (masterarn)".into(),
            source,
        })
    }

    fn pending_username(&self, current: &DbSecret) -> String {
        match self.config.strategy {
            Strategy::SingleUser => current.username.clone(),
            Strategy::AlternatingUsers => alternate_username(&current.username),
        }
    }

    fn masterarn<'s>(&self, cx: &Cx<'_>, current: &'s DbSecret) -> Result<&'s str, RotationError> {
        current
            .masterarn
            .as_deref()
            .ok_or_else(|| RotationError::BadSecret {
                arn: cx.arn.clone(),
                step: cx.step.as_str(),
                label: AWSCURRENT.into(),
                source: crate::secret::SecretFormatError::Invalid {
                    key: "masterarn",
                    expected: "is required for alternating-users rotation: add the ARN of a secret with admin credentials".into(),
                },
            })
    }

    /// createSecret: store a new AWSPENDING version unless it already has a value.
    async fn create(&self, cx: &Cx<'_>) -> Result<(), RotationError> {
        let current = self.current(cx).await?;
        if self
            .store
            .get(cx.secret_id, AWSPENDING, Some(cx.token))
            .await
            .map_err(|e| cx.sm(e))?
            .is_some()
        {
            info!("AWSPENDING already has a value; nothing to do");
            return Ok(());
        }
        let username = self.pending_username(&current);
        if self.config.strategy == Strategy::AlternatingUsers {
            self.masterarn(cx, &current)?;
        }
        self.admin_for_check(cx, &current).await?;
        if self.config.strategy == Strategy::AlternatingUsers {
            self.engine
                .check_username(&current, &username)
                .await
                .map_err(|e| cx.db(AWSCURRENT, e, &[&current]))?;
        }
        let password = self
            .store
            .random_password(&self.config.password)
            .await
            .map_err(|e| cx.sm(e))?;
        let pending = current.with_credentials(&username, password);
        self.store
            .put_pending(
                cx.secret_id,
                cx.token,
                &pending.to_secret_string(),
                cx.rotation_token,
            )
            .await
            .map_err(|e| cx.sm(e))?;
        info!(username = %pending.username, "stored the new AWSPENDING version");
        Ok(())
    }

    /// AWSPENDING must name the expected user on the same host, port and engine.
    fn check_deputy(
        &self,
        cx: &Cx<'_>,
        current: &DbSecret,
        pending: &DbSecret,
    ) -> Result<(), RotationError> {
        let expected = self.pending_username(current);
        if pending.username != expected {
            return Err(cx.deputy(format!(
                "AWSPENDING names user '{}', but this {} rotation of user '{}' expects '{expected}'",
                pending.username,
                self.config.strategy.as_str(),
                current.username
            )));
        }
        if !pending.host.eq_ignore_ascii_case(&current.host) {
            return Err(cx.deputy(format!(
                "AWSPENDING names host '{}', AWSCURRENT '{}'",
                pending.host, current.host
            )));
        }
        if pending.port != current.port {
            return Err(cx.deputy(format!(
                "AWSPENDING names port {}, AWSCURRENT {}",
                pending.port, current.port
            )));
        }
        if !pending.engine.eq_ignore_ascii_case(&current.engine) {
            return Err(cx.deputy(format!(
                "AWSPENDING names engine '{}', AWSCURRENT '{}'",
                pending.engine, current.engine
            )));
        }
        // createSecret copies every other key unchanged, so any other difference (`ssl`
        // turned off, a `masterarn` added, another `dbname`) was made by someone else.
        let changed = pending.differing_keys(current, &["password", "username"]);
        if !changed.is_empty() {
            let keys: Vec<String> = changed.iter().map(|k| format!("'{k}'")).collect();
            return Err(cx.deputy(format!(
                "AWSPENDING differs from AWSCURRENT in {}; createSecret copies every key but the password{}, so no other key may differ",
                keys.join(", "),
                match self.config.strategy {
                    Strategy::SingleUser => "",
                    Strategy::AlternatingUsers => " and the user name",
                }
            )));
        }
        Ok(())
    }

    /// The users this rotation changes or will change: the user itself (single user), or
    /// both users of the pair (alternating users, which reset each in turn).
    pub(crate) fn changed_users(&self, current: &DbSecret) -> Vec<String> {
        match self.config.strategy {
            Strategy::SingleUser => vec![current.username.clone()],
            Strategy::AlternatingUsers => vec![
                current.username.clone(),
                alternate_username(&current.username),
            ],
        }
    }

    /// The admin of `masterarn` is never the account a rotation changes: resetting it would
    /// leave the admin secret with a password that no longer works.
    fn check_not_admin(
        &self,
        cx: &Cx<'_>,
        current: &DbSecret,
        admin: &DbSecret,
        masterarn: &str,
    ) -> Result<(), RotationError> {
        match self
            .changed_users(current)
            .into_iter()
            .find(|u| *u == admin.username)
        {
            None => Ok(()),
            Some(user) => Err(RotationError::AdminIsRotated {
                arn: cx.arn.clone(),
                step: cx.step.as_str(),
                user,
                masterarn: masterarn.to_owned(),
                strategy: self.config.strategy.as_str(),
            }),
        }
    }

    /// Load the `masterarn` admin, when the secret names one, and check that it is not the
    /// account this rotation changes. Even an engine that never uses the admin (single user
    /// on MySQL or PostgreSQL) must read it: an admin secret it cannot read might name the
    /// very user it is about to reset, so a failure to read it stops the step.
    async fn admin_for_check(
        &self,
        cx: &Cx<'_>,
        current: &DbSecret,
    ) -> Result<Option<DbSecret>, RotationError> {
        let Some(masterarn) = current.masterarn.as_deref() else {
            return Ok(None);
        };
        let admin = self.admin(cx, current, masterarn).await?;
        self.check_not_admin(cx, current, &admin, masterarn)?;
        Ok(Some(admin))
    }

    /// setSecret, single user: the user's password becomes AWSPENDING's.
    async fn set_single(&self, cx: &Cx<'_>) -> Result<(), RotationError> {
        let current = self.current(cx).await?;
        let pending = self.pending(cx).await?;
        self.check_deputy(cx, &current, &pending)?;
        let admin = self
            .admin_for_check(cx, &current)
            .await?
            .filter(|_| E::SINGLE_USER_USES_ADMIN);
        let known = [&current, &pending];

        // Who can log in now? AWSCURRENT, or an AWSPREVIOUS of the same account when a
        // crashed rotation already moved AWSCURRENT but the database kept the older password.
        let login = match self.engine.check_login(&current).await {
            Ok(()) => Some(current.clone()),
            Err(e) if e.is_authentication() => {
                warn!(error = %e.scrubbed(&known), "AWSCURRENT cannot log in; trying AWSPREVIOUS");
                self.previous_login(cx, &current).await?
            }
            Err(e) => return Err(cx.db(AWSCURRENT, e, &known)),
        };

        // Pending already works: an earlier run of this step got through.
        let pending_works = self.pending_works(cx, &pending, &known).await?;
        if pending_works && !E::REPEAT_SET_WHEN_PENDING_WORKS {
            info!("AWSPENDING already logs in; nothing to do");
            return Ok(());
        }
        let login = match login {
            Some(login) => Some(login),
            // Only the new password works: the change happened, and is repeated with it.
            None if pending_works => Some(pending.clone()),
            // A rotation abandoned after its setSecret (an operator took AWSPENDING off it to
            // start this one) left the database with a password only its version holds.
            None => self.abandoned_login(cx, &current, &known).await?,
        };
        let login = match login {
            Some(login) => login,
            None => {
                return Err(cx.db(
                    "AWSCURRENT and AWSPREVIOUS",
                    EngineError::Authentication {
                        user: current.username.clone(),
                        detail: "neither the AWSCURRENT nor the AWSPREVIOUS password logs in, AWSPENDING does not either, nor does any version an abandoned rotation left".into(),
                    },
                    &known,
                ));
            }
        };
        let mut all = vec![&current, &pending, &login];
        all.extend(admin.as_ref());
        self.engine
            .set_password(SetPassword {
                login: &login,
                current: &current,
                pending: &pending,
                admin: admin.as_ref(),
            })
            .await
            .map_err(|e| {
                let who = if admin.is_some() {
                    "admin (masterarn)"
                } else {
                    AWSCURRENT
                };
                cx.db(who, e, &all)
            })?;
        info!(user = %pending.username, "the database accepts the AWSPENDING password");
        Ok(())
    }

    /// Whether AWSPENDING logs in already; only a rejected login counts as "no".
    async fn pending_works(
        &self,
        cx: &Cx<'_>,
        pending: &DbSecret,
        known: &[&DbSecret],
    ) -> Result<bool, RotationError> {
        match self.engine.check_login(pending).await {
            Ok(()) => Ok(true),
            Err(e) if e.is_authentication() => Ok(false),
            Err(e) => Err(cx.db(AWSPENDING, e, known)),
        }
    }

    /// The newest version no label points to any more (at most five are tried) that names
    /// the same account and logs in: the password a rotation abandoned after its setSecret
    /// left in the database. Such a version is one of this secret's own, and differs from
    /// AWSCURRENT in the password alone, so it can reach no other account. Without
    /// `secretsmanager:ListSecretVersionIds` nothing is found, and a warning says so.
    async fn abandoned_login(
        &self,
        cx: &Cx<'_>,
        current: &DbSecret,
        known: &[&DbSecret],
    ) -> Result<Option<DbSecret>, RotationError> {
        let versions = match self.store.unlabelled_versions(cx.secret_id).await {
            Ok(v) => v,
            Err(e) => {
                warn!(error = %e, "cannot list the secret's versions to look for the password of an abandoned rotation; grant secretsmanager:ListSecretVersionIds on the secret");
                return Ok(None);
            }
        };
        for id in versions.iter().filter(|id| *id != cx.token).take(5) {
            let Some(json) = self
                .store
                .get_version(cx.secret_id, id)
                .await
                .map_err(|e| cx.sm(e))?
            else {
                continue;
            };
            let Ok(candidate) = DbSecret::parse(&json, &E::RULES) else {
                continue;
            };
            if !candidate.differing_keys(current, &["password"]).is_empty() {
                continue;
            }
            let mut all = known.to_vec();
            all.push(&candidate);
            match self.engine.check_login(&candidate).await {
                Ok(()) => {
                    warn!(version = %id, "the password of an abandoned rotation's version logs in; changing the password with it");
                    return Ok(Some(candidate));
                }
                Err(e) if e.is_authentication() => {}
                Err(e) => return Err(cx.db("an abandoned rotation's version", e, &all)),
            }
        }
        Ok(None)
    }

    /// AWSPREVIOUS, if it names the same user, host and port and logs in.
    async fn previous_login(
        &self,
        cx: &Cx<'_>,
        current: &DbSecret,
    ) -> Result<Option<DbSecret>, RotationError> {
        if cx.described.version_with(AWSPREVIOUS).is_none() {
            return Ok(None);
        }
        let Some(previous) = self.load(cx, AWSPREVIOUS, None).await? else {
            return Ok(None);
        };
        // The same account, reached the same way: AWSPREVIOUS may differ only in the password,
        // or an older `"ssl": false` (say) would decide how this step connects.
        let changed = previous.differing_keys(current, &["password"]);
        if !changed.is_empty() {
            warn!(keys = ?changed, "AWSPREVIOUS differs from AWSCURRENT in more than the password; not using it");
            return Ok(None);
        }
        match self.engine.check_login(&previous).await {
            Ok(()) => Ok(Some(previous)),
            Err(e) if e.is_authentication() => Ok(None),
            Err(e) => Err(cx.db(AWSPREVIOUS, e, &[current, &previous])),
        }
    }

    /// setSecret, alternating users: the other user gets AWSPENDING's password.
    async fn set_alternating(&self, cx: &Cx<'_>) -> Result<(), RotationError> {
        let current = self.current(cx).await?;
        let pending = self.pending(cx).await?;
        self.check_deputy(cx, &current, &pending)?;
        let masterarn = self.masterarn(cx, &current)?;
        let admin = self.admin(cx, &current, masterarn).await?;
        self.check_not_admin(cx, &current, &admin, masterarn)?;
        let known = [&current, &pending];
        self.engine
            .check_login(&current)
            .await
            .map_err(|e| cx.db(AWSCURRENT, e, &known))?;
        if self.pending_works(cx, &pending, &known).await? && !E::REPEAT_SET_WHEN_PENDING_WORKS {
            info!("AWSPENDING already logs in; nothing to do");
            return Ok(());
        }
        self.engine
            .check_username(&current, &pending.username)
            .await
            .map_err(|e| cx.db(AWSCURRENT, e, &known))?;
        self.engine
            .set_alternate(SetAlternate {
                admin: &admin,
                current: &current,
                pending: &pending,
            })
            .await
            .map_err(|e| cx.db("admin (masterarn)", e, &[&current, &pending, &admin]))?;
        info!(user = %pending.username, "the alternate user accepts the AWSPENDING password");
        Ok(())
    }

    /// testSecret: AWSPENDING logs in.
    async fn test(&self, cx: &Cx<'_>) -> Result<(), RotationError> {
        let current = self.current(cx).await?;
        let pending = self.pending(cx).await?;
        if pending.differing_keys(&current, &[]).is_empty() {
            // `rotate-secret --no-rotate-immediately`: the service tests the configuration
            // with a version of its own that holds AWSCURRENT's value, and removes it again.
            // It names exactly the account AWSCURRENT names, so there is no deputy to confuse
            // (for alternating users it is not the alternate); its login is what is tested.
            info!(
                "AWSPENDING holds AWSCURRENT's value: the service's configuration test; testing that it logs in"
            );
        } else {
            // A tampered AWSPENDING would send its password to whatever host it names.
            self.check_deputy(cx, &current, &pending)?;
        }
        self.engine
            .check_login(&pending)
            .await
            .map_err(|e| cx.db(AWSPENDING, e, &[&pending]))?;
        info!(user = %pending.username, "AWSPENDING logs in");
        Ok(())
    }

    /// finishSecret: AWSCURRENT moves to the token's version.
    async fn finish(&self, cx: &Cx<'_>) -> Result<(), RotationError> {
        let from = cx.described.version_with(AWSCURRENT);
        self.store
            .move_current(cx.secret_id, cx.token, from)
            .await
            .map_err(|e| cx.sm(e))?;
        info!(
            previous_version = from.unwrap_or("none"),
            "AWSCURRENT moved to the new version"
        );
        Ok(())
    }
}
