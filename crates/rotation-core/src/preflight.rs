//! The preflight check: `{"SecretId": "<arn>", "Step": "preflight"}`, invoked by hand once
//! rotation is configured and before it first runs, answers "will rotation work for this
//! secret?" from where rotation will run (the function's network, IAM role, trust store and
//! settings).
//!
//! It changes nothing: no new version, no label moved, no statement that writes to the
//! database. It returns a [`Report`], one [`Check`] per thing a rotation depends on, each with
//! a sentence that says what was found and what to do. No password reaches the report or the
//! log: the engines' messages are scrubbed of every password the check holds, and a generated
//! password is only measured, never shown.

use crate::config::Strategy;
use crate::engine::{Engine, Rights, RightsCheck, Transport};
use crate::error::{EngineError, scrub};
use crate::protocol::{Rotator, step_budget};
use crate::secret::{DbSecret, alternate_username};
use crate::store::{AWSCURRENT, AWSPENDING, Described};
use secrecy::ExposeSecret;
use serde::Serialize;
use std::time::{Duration, Instant};
use tracing::{Instrument, info, info_span, warn};

/// The `Step` value that asks for the preflight check.
pub const STEP: &str = "preflight";

/// The answer of the preflight check.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// True when no check failed: rotation should work.
    pub ok: bool,
    /// The secret's ARN (or the id given, when it could not be described).
    pub secret: String,
    /// The function that ran the check, as Lambda invoked it.
    pub function: String,
    /// `single-user` or `alternating-users`.
    pub strategy: &'static str,
    /// Every check, in the order they ran.
    pub checks: Vec<Check>,
}

/// One thing a rotation depends on.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Which: `rotation`, `secret`, `login`, `admin-secret`, `admin-login`, `rights`,
    /// `alternate-name`, `pending`, `random-password`, and `deadline` when time ran out.
    pub name: &'static str,
    /// `true` works, `false` will make rotation fail, `null` could not be checked (or does not
    /// apply to this function).
    pub ok: Option<bool>,
    /// What was found, and what to do.
    pub message: String,
    /// How long the check took (a login's connection time), in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

impl Report {
    fn push(&mut self, name: &'static str, ok: Option<bool>, message: String, took: Option<u64>) {
        match ok {
            Some(false) => warn!(check = name, ok = false, detail = %message, "preflight check"),
            Some(true) => info!(check = name, ok = true, detail = %message, "preflight check"),
            None => info!(check = name, ok = "unknown", detail = %message, "preflight check"),
        }
        self.checks.push(Check {
            name,
            ok,
            message,
            duration_ms: took,
        });
    }

    fn pass(&mut self, name: &'static str, message: String) {
        self.push(name, Some(true), message, None);
    }

    fn fail(&mut self, name: &'static str, message: String) {
        self.push(name, Some(false), message, None);
    }

    fn finish(mut self) -> Report {
        self.ok = self.checks.iter().all(|c| c.ok != Some(false));
        self
    }
}

/// A Lambda function ARN without its version or alias: `arn:aws:lambda:<region>:<account>:
/// function:<name>`.
fn unqualified(arn: &str) -> &str {
    match arn.match_indices(':').nth(6) {
        Some((i, _)) => &arn[..i],
        None => arn,
    }
}

/// The command that points rotation of `secret` at `function_arn` without starting one.
fn configure_command(secret: &str, function_arn: &str) -> String {
    format!(
        "aws secretsmanager rotate-secret --secret-id {secret} --rotation-lambda-arn {function_arn} --rotation-rules AutomaticallyAfterDays=30 --no-rotate-immediately"
    )
}

/// Milliseconds since `started`.
fn ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// An engine error as a report sentence: scrubbed of every password in `known`, with its hint.
fn said(e: EngineError, known: &[&DbSecret]) -> String {
    let e = e.scrubbed(known);
    format!("{e}; {}", e.hint())
}

fn transport_words(t: Transport) -> &'static str {
    match t {
        Transport::Tls => "over TLS, the server's certificate verified",
        Transport::PlaintextChosen => {
            "without TLS, as the secret's \"ssl\": false (or TLS_MODE=disable) asks"
        }
        Transport::PlaintextFallback => {
            "without TLS, because the server offers none; once it does, set \"ssl\": true in the secret so that plaintext is refused"
        }
    }
}

impl<E: Engine> Rotator<E> {
    /// Run every check for `secret_id`, as `function_arn` (the ARN Lambda invoked). Never
    /// fails: a check that cannot run is a failed or unknown entry of the report.
    pub async fn preflight(&self, secret_id: &str, function_arn: &str) -> Report {
        self.preflight_within(secret_id, function_arn, None).await
    }

    /// As [`Rotator::preflight`], within `left`, the time the invocation has: checks that
    /// would outlive it are cut short, and a `deadline` check says what was being waited for.
    pub async fn preflight_within(
        &self,
        secret_id: &str,
        function_arn: &str,
        left: Option<Duration>,
    ) -> Report {
        let span = info_span!(
            "preflight",
            secret_arn = %secret_id,
            strategy = self.config.strategy.as_str(),
        );
        async {
            info!("preflight started");
            let mut report = Report {
                ok: false,
                secret: secret_id.to_owned(),
                function: function_arn.to_owned(),
                strategy: self.config.strategy.as_str(),
                checks: Vec::new(),
            };
            self.engine.activity.clear();
            let started = Instant::now();
            // Boxed, as the steps are: the engines' futures are deep.
            let checks = Box::pin(self.run_checks(&mut report, secret_id, function_arn));
            let finished = match left {
                None => {
                    checks.await;
                    true
                }
                Some(left) => tokio::time::timeout(step_budget(left), checks).await.is_ok(),
            };
            self.engine.end_step().await;
            if !finished {
                let waiting = match self.engine.activity.current() {
                    Some(w) => format!(", {w}"),
                    None => String::new(),
                };
                report.fail(
                    "deadline",
                    format!(
                        "the invocation ran out of time after {:.1?}{waiting}; the checks above are all that ran. Give the function a longer timeout, or check what it waited for (subnets, security groups, the database's load)",
                        started.elapsed()
                    ),
                );
            }
            let report = report.finish();
            info!(ok = report.ok, "preflight finished");
            report
        }
        .instrument(span)
        .await
    }

    async fn run_checks(&self, report: &mut Report, secret_id: &str, function_arn: &str) {
        let described = match self.store.describe(secret_id).await {
            Ok(d) => d,
            Err(e) if e.detail.contains("AccessDenied") => {
                report.fail(
                    "rotation",
                    format!(
                        "Secrets Manager {} was refused ({}). The deployment templates let the function's role describe and read only secrets whose rotation names this function (the secretsmanager:resource/AllowRotationLambdaArn condition), so rotation is most likely not configured for this secret, or names another function. Nothing else was checked. Configure rotation without starting it, then run the preflight again: {}",
                        e.operation,
                        e.detail,
                        configure_command(secret_id, function_arn)
                    ),
                );
                return;
            }
            Err(e) => {
                report.fail(
                    "rotation",
                    format!(
                        "Secrets Manager {} failed: {}. Check the secret's ARN and that the function's role may call secretsmanager:DescribeSecret on it",
                        e.operation, e.detail
                    ),
                );
                return;
            }
        };
        report.secret = described.arn.clone();
        if !self.check_rotation(report, &described, function_arn) {
            return;
        }
        self.check_pending(report, &described);
        let Some(current) = self.check_secret(report, &described.arn).await else {
            return;
        };
        let login = self.check_login(report, &current).await;
        let admin = self.check_admin(report, &current).await;
        let name_fits = match self.config.strategy {
            Strategy::AlternatingUsers => self.check_alternate_name(report, &current, login).await,
            Strategy::SingleUser => true,
        };
        let skipped = match (login, name_fits) {
            (false, _) => Some("the AWSCURRENT user cannot log in (see login)"),
            (true, false) => Some("the alternate user's name does not fit (see alternate-name)"),
            (true, true) => None,
        };
        match skipped {
            None => self.check_rights(report, &current, admin.as_ref()).await,
            Some(why) => report.push("rights", None, format!("not checked: {why}"), None),
        }
        self.check_random_password(report).await;
    }

    /// Rotation names this function; `false` when nothing else may be tried.
    fn check_rotation(&self, report: &mut Report, d: &Described, function_arn: &str) -> bool {
        let configure = configure_command(&d.arn, function_arn);
        match d.rotation_lambda_arn.as_deref() {
            None => {
                report.fail(
                    "rotation",
                    format!(
                        "rotation is not configured for this secret, so the function's role may not read it (the templates allow it only secrets whose rotation names this function). Nothing else was checked. Configure rotation without starting it, then run the preflight again: {configure}"
                    ),
                );
                false
            }
            Some(named) if unqualified(named) != unqualified(function_arn) => {
                report.fail(
                    "rotation",
                    format!(
                        "the secret's rotation names function {named}, not this function ({function_arn}). Nothing else was checked. Run the preflight of that function, or point rotation at this one: {configure}"
                    ),
                );
                false
            }
            Some(named) => {
                if d.rotation_enabled == Some(false) {
                    report.fail(
                        "rotation",
                        format!(
                            "rotation names this function ({named}) but is turned off, so no rotation will run. Turn it on again: {configure}"
                        ),
                    );
                } else {
                    report.pass(
                        "rotation",
                        format!("rotation is turned on and names this function ({named})"),
                    );
                }
                true
            }
        }
    }

    /// A rotation already under way: the next one resumes or replaces it.
    fn check_pending(&self, report: &mut Report, d: &Described) {
        let pending = d.stages.iter().find(|(_, labels)| {
            labels.iter().any(|l| l == AWSPENDING) && !labels.iter().any(|l| l == AWSCURRENT)
        });
        match pending {
            None => report.pass(
                "pending",
                "no rotation is under way (no version holds AWSPENDING alone)".into(),
            ),
            Some((version, _)) => report.push(
                "pending",
                None,
                format!(
                    "version {version} holds AWSPENDING: a rotation was started and has not finished. Secrets Manager retries it; if it keeps failing, the checks below say why"
                ),
                None,
            ),
        }
    }

    /// The AWSCURRENT value parses as this engine's secret.
    async fn check_secret(&self, report: &mut Report, arn: &str) -> Option<DbSecret> {
        let json = match self.store.get(arn, AWSCURRENT, None).await {
            Ok(Some(json)) => json,
            Ok(None) => {
                report.fail(
                    "secret",
                    "the secret has no AWSCURRENT value; store the current credentials first (aws secretsmanager put-secret-value)".into(),
                );
                return None;
            }
            Err(e) => {
                report.fail(
                    "secret",
                    format!(
                        "Secrets Manager {} failed: {}. Check that the function's role may call secretsmanager:GetSecretValue on the secret (and kms:Decrypt on its key)",
                        e.operation, e.detail
                    ),
                );
                return None;
            }
        };
        match DbSecret::parse(&json, &E::RULES) {
            Ok(current) => {
                report.pass(
                    "secret",
                    format!(
                        "AWSCURRENT is a {} secret for user '{}' at {}:{}",
                        current.engine, current.username, current.host, current.port
                    ),
                );
                Some(current)
            }
            Err(e) => {
                report.fail(
                    "secret",
                    format!("AWSCURRENT cannot be used: {e}. Fix the secret's JSON"),
                );
                None
            }
        }
    }

    /// Log in as `creds`, reported under `name`; true when the login worked.
    async fn check_one_login(
        &self,
        report: &mut Report,
        name: &'static str,
        who: &str,
        creds: &DbSecret,
        known: &[&DbSecret],
    ) -> bool {
        let started = Instant::now();
        let result = self.engine.probe_login(creds).await;
        let took = ms(started);
        match result {
            Ok(transport) => {
                report.push(
                    name,
                    Some(true),
                    format!(
                        "{who} '{}' logged in at {}:{} in {took} ms, {}",
                        creds.username,
                        creds.host,
                        creds.port,
                        transport_words(transport)
                    ),
                    Some(took),
                );
                true
            }
            Err(e) => {
                report.push(
                    name,
                    Some(false),
                    format!("{who} cannot log in: {}", said(e, known)),
                    Some(took),
                );
                false
            }
        }
    }

    async fn check_login(&self, report: &mut Report, current: &DbSecret) -> bool {
        self.check_one_login(report, "login", "the AWSCURRENT user", current, &[current])
            .await
    }

    /// Whether the rotation of `current` makes its change as the `masterarn` admin.
    fn uses_admin(&self, current: &DbSecret) -> bool {
        match self.config.strategy {
            Strategy::AlternatingUsers => true,
            Strategy::SingleUser => E::SINGLE_USER_USES_ADMIN && current.masterarn.is_some(),
        }
    }

    /// The `masterarn` secret: readable, usable, not the rotated user, and able to log in
    /// where the rotation uses it. Returns the admin when the rotation uses it and it works.
    async fn check_admin(&self, report: &mut Report, current: &DbSecret) -> Option<DbSecret> {
        let uses_admin = self.uses_admin(current);
        let Some(masterarn) = current.masterarn.as_deref() else {
            if self.config.strategy == Strategy::AlternatingUsers {
                report.fail(
                    "admin-secret",
                    "the secret has no masterarn, which alternating-users rotation needs: add the ARN of a secret with admin credentials as \"masterarn\"".into(),
                );
            } else {
                report.push(
                    "admin-secret",
                    None,
                    "not used: the secret names no masterarn, and the user changes its own password".into(),
                    None,
                );
            }
            return None;
        };
        let json = match self.store.get(masterarn, AWSCURRENT, None).await {
            Ok(Some(json)) => json,
            Ok(None) => {
                report.fail(
                    "admin-secret",
                    format!("masterarn names {masterarn}, which has no AWSCURRENT value; store the admin's credentials in it"),
                );
                return None;
            }
            Err(e) => {
                report.fail(
                    "admin-secret",
                    format!(
                        "cannot read the masterarn secret {masterarn}: Secrets Manager {} failed: {}. Give the function's role secretsmanager:GetSecretValue on it (and kms:Decrypt on its key)",
                        e.operation, e.detail
                    ),
                );
                return None;
            }
        };
        let admin = match DbSecret::parse_master(&json, current) {
            Ok(admin) => admin,
            Err(e) => {
                report.fail(
                    "admin-secret",
                    format!("the masterarn secret {masterarn} cannot be used: {e}. Fix its JSON"),
                );
                return None;
            }
        };
        if let Some(user) = self
            .changed_users(current)
            .into_iter()
            .find(|u| *u == admin.username)
        {
            report.fail(
                "admin-secret",
                format!(
                    "user '{user}', which this rotation changes, is the admin user of the masterarn secret {masterarn}; give the admin a user of its own"
                ),
            );
            return None;
        }
        if !uses_admin {
            report.pass(
                "admin-secret",
                format!(
                    "the masterarn secret {masterarn} is readable and names user '{}', which this rotation never changes (single-user rotation reads it only for that check)",
                    admin.username
                ),
            );
            return None;
        }
        report.pass(
            "admin-secret",
            format!(
                "the masterarn secret {masterarn} is readable and names user '{}'",
                admin.username
            ),
        );
        self.check_one_login(
            report,
            "admin-login",
            "the admin",
            &admin,
            &[current, &admin],
        )
        .await
        .then_some(admin)
    }

    /// The rights the change needs, read from the server.
    async fn check_rights(
        &self,
        report: &mut Report,
        current: &DbSecret,
        admin: Option<&DbSecret>,
    ) {
        let uses_admin = self.uses_admin(current);
        let actor = match (uses_admin, admin) {
            (false, _) => current,
            (true, Some(admin)) => admin,
            (true, None) => {
                report.push(
                    "rights",
                    None,
                    "not checked: the admin's credentials could not be used (see admin-secret and admin-login)".into(),
                    None,
                );
                return;
            }
        };
        let alternate = (self.config.strategy == Strategy::AlternatingUsers)
            .then(|| alternate_username(&current.username));
        let who = if uses_admin { "the admin" } else { "the user" };
        let mut known = vec![current];
        known.extend(admin);
        let req = RightsCheck {
            actor,
            current,
            alternate: alternate.as_deref(),
        };
        match self.engine.check_rights(req).await {
            Ok(Rights::Complete) => {
                // How the change would be made, where the engine has a choice (single user).
                let mode = match alternate {
                    Some(_) => None,
                    None => match self.engine.change_mode(req).await {
                        Ok(mode) => mode,
                        Err(e) => Some(format!(
                            "how the password would be changed could not be read: {}",
                            said(e, &known)
                        )),
                    },
                };
                report.pass(
                    "rights",
                    format!(
                        "{who} '{}' has every right the change needs ({}){}",
                        actor.username,
                        match &alternate {
                            Some(alt) => format!(
                                "create or reset user '{alt}' as a copy of '{}'",
                                current.username
                            ),
                            None => format!("set the password of user '{}'", current.username),
                        },
                        mode.map(|m| format!(". {m}")).unwrap_or_default()
                    ),
                )
            }
            // The engines build these from names only; scrubbed all the same, as errors are.
            Ok(Rights::Unknown(why)) => report.push("rights", None, scrub(why, &known), None),
            Ok(Rights::Missing(missing)) => report.fail(
                "rights",
                scrub(
                    format!(
                        "{who} '{}' lacks what the change needs: {}",
                        actor.username,
                        missing.join("; ")
                    ),
                    &known,
                ),
            ),
            Err(e) => report.fail(
                "rights",
                format!("cannot read {who}'s rights: {}", said(e, &known)),
            ),
        }
    }

    /// The alternate user's name fits the server; false when it does not, or is not known to.
    async fn check_alternate_name(
        &self,
        report: &mut Report,
        current: &DbSecret,
        login: bool,
    ) -> bool {
        let alternate = alternate_username(&current.username);
        if !login {
            report.push(
                "alternate-name",
                None,
                format!("not checked: the server's limit for '{alternate}' is read as the AWSCURRENT user, which cannot log in"),
                None,
            );
            return false;
        }
        match self.engine.check_username(current, &alternate).await {
            Ok(()) => {
                report.pass(
                    "alternate-name",
                    format!("the alternate user's name '{alternate}' fits the server"),
                );
                true
            }
            Err(e) => {
                report.fail("alternate-name", said(e, &[current]));
                false
            }
        }
    }

    /// `GetRandomPassword` with the configured settings; the password is only measured.
    async fn check_random_password(&self, report: &mut Report) {
        let policy = &self.config.password;
        match self.store.random_password(policy).await {
            Ok(password) => {
                let password = password.expose_secret();
                let length = password.chars().count();
                let excluded = password
                    .chars()
                    .any(|c| policy.exclude_characters.contains(c));
                if excluded || i64::try_from(length).ok() != Some(policy.length) {
                    report.fail(
                        "random-password",
                        format!(
                            "GetRandomPassword returned a password of {length} characters{} where PASSWORD_LENGTH is {}; check the EXCLUDE_* settings",
                            if excluded { " holding an excluded character" } else { "" },
                            policy.length
                        ),
                    );
                } else {
                    report.pass(
                        "random-password",
                        format!(
                            "GetRandomPassword works with the configured settings (PASSWORD_LENGTH {}, {} excluded characters)",
                            policy.length,
                            policy.exclude_characters.chars().count()
                        ),
                    );
                }
            }
            Err(e) => report.fail(
                "random-password",
                format!(
                    "Secrets Manager {} failed: {}. Check that the function's role may call secretsmanager:GetRandomPassword, and the EXCLUDE_* and PASSWORD_LENGTH settings",
                    e.operation, e.detail
                ),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_arn_loses_its_qualifier_only() {
        let base = "arn:aws:lambda:eu-west-1:123456789012:function:rotate";
        assert_eq!(unqualified(base), base);
        assert_eq!(unqualified(&format!("{base}:live")), base);
        assert_eq!(unqualified(&format!("{base}:$LATEST")), base);
        assert_eq!(unqualified("rotate"), "rotate");
    }

    #[test]
    fn a_report_is_ok_unless_a_check_failed() {
        let mut r = Report {
            ok: false,
            secret: "s".into(),
            function: "f".into(),
            strategy: "single-user",
            checks: Vec::new(),
        };
        r.pass("a", "fine".into());
        r.push("b", None, "unknown".into(), None);
        let r = r.finish();
        assert!(r.ok);
        let mut r = r;
        r.fail("c", "broken".into());
        assert!(!r.finish().ok);
    }
}
