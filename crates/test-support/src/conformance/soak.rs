//! The fault soak: seeded random sequences of actions against one secret at a time, through
//! the shipped binaries run as Lambda runs them, with the invariants checked after every
//! action.
//!
//! An action is a step (the one the service would call next), a step repeated, a step under
//! a Secrets Manager fault (throttling, 5xx, a dropped connection, a lost reply), a process
//! killed (SIGKILL) at a random moment of a step, a retry of the whole rotation, a tampered
//! AWSPENDING and its repair (see [`Tamper`]), or a rotation abandoned and a new one started
//! with a new token.
//! After every action:
//!
//! - AWSCURRENT logs in, except inside single user's window between setSecret and
//!   finishSecret (where some password the secret has held must log in: nothing is lost);
//!   the windows are measured;
//! - the admin logs in;
//! - no user holds more password verifiers than documented;
//! - nothing any process printed, and no error message, holds a password or a verifier.
//!
//! Each case ends by retrying its rotation to the end, as the service does (faults off,
//! AWSPENDING repaired): it must complete. A violation is reported with the seed, the case's
//! actions and the shortest list of them that still shows it.
//!
//! [`soak`] is the conformance scenario (a short soak in every test run); `cargo xtask soak`
//! runs a long one through it, with the settings in the `ROTATION_SOAK_*` variables.

use crate::conformance::Adapter;
use crate::conformance::case::{Case, clone_of};
use crate::conformance::scenarios::binary::admin_password;
use crate::function_binary;
use crate::lambda::{Function, Outcome, event};
use crate::proxy::{Fault, FaultProxy};
use rotation_core::Strategy;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The cases of a soak, unless `ROTATION_SOAK_CASES` says otherwise.
pub const DEFAULT_CASES: usize = 8;

/// The seed of a soak, unless `ROTATION_SOAK_SEED` says otherwise: the test runs are the
/// same on every machine; long runs choose their own.
pub const DEFAULT_SEED: u64 = 20_261_202;

const STEPS: [&str; 4] = ["createSecret", "setSecret", "testSecret", "finishSecret"];

/// SplitMix64: a small seeded generator, the same on every machine.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// How an action tampers with AWSPENDING: each is a change the confused-deputy checks must
/// refuse (or, once setSecret is done, a version of its own that takes the label, which the
/// handler gate refuses), so the steps fail and change nothing until it is repaired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tamper {
    /// `username` becomes the admin's.
    Admin,
    /// `username` becomes another user's.
    OtherUser,
    /// `host` changes.
    Host,
    /// `port` changes.
    Port,
    /// `password` is removed.
    NoPassword,
}

impl Tamper {
    const ALL: [Tamper; 5] = [
        Tamper::Admin,
        Tamper::OtherUser,
        Tamper::Host,
        Tamper::Port,
        Tamper::NoPassword,
    ];

    fn name(self) -> &'static str {
        match self {
            Tamper::Admin => "admin",
            Tamper::OtherUser => "other-user",
            Tamper::Host => "host",
            Tamper::Port => "port",
            Tamper::NoPassword => "no-password",
        }
    }
}

/// One action of a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Invoke the step the service would call next (starting a rotation when none is under
    /// way), with Secrets Manager answering under the fault, if any.
    Next(Option<Fault>),
    /// Invoke the step invoked last again.
    Repeat,
    /// Invoke the next step and kill the process this many milliseconds later, whether or not
    /// the step has finished; a fresh process serves the next action.
    Kill(u64),
    /// Retry the whole rotation with the same token: the next step is createSecret again.
    Retry,
    /// Change AWSPENDING's value (once it has one).
    Tamper(Tamper),
    /// Put AWSPENDING's value back as createSecret wrote it.
    Repair,
    /// Take AWSPENDING off the rotation under way and start another with a new token, as an
    /// operator does with a stuck rotation.
    Abandon,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Next(None) => write!(f, "next"),
            Action::Next(Some(fault)) => write!(f, "next+{}", fault.name()),
            Action::Repeat => write!(f, "repeat"),
            Action::Kill(ms) => write!(f, "kill@{ms}"),
            Action::Retry => write!(f, "retry"),
            Action::Tamper(t) => write!(f, "tamper:{}", t.name()),
            Action::Repair => write!(f, "repair"),
            Action::Abandon => write!(f, "abandon"),
        }
    }
}

impl std::str::FromStr for Action {
    type Err = String;

    fn from_str(s: &str) -> Result<Action, String> {
        let s = s.trim();
        if let Some(ms) = s.strip_prefix("kill@") {
            return ms
                .parse()
                .map(Action::Kill)
                .map_err(|_| format!("{s:?}: kill@ needs milliseconds"));
        }
        if let Some(name) = s.strip_prefix("next+") {
            return Fault::ALL
                .into_iter()
                .find(|f| f.name() == name)
                .map(|f| Action::Next(Some(f)))
                .ok_or_else(|| format!("{s:?}: no such fault"));
        }
        if let Some(name) = s.strip_prefix("tamper:") {
            return Tamper::ALL
                .into_iter()
                .find(|t| t.name() == name)
                .map(Action::Tamper)
                .ok_or_else(|| format!("{s:?}: no such tampering"));
        }
        match s {
            "next" => Ok(Action::Next(None)),
            "repeat" => Ok(Action::Repeat),
            "retry" => Ok(Action::Retry),
            "repair" => Ok(Action::Repair),
            "abandon" => Ok(Action::Abandon),
            _ => Err(format!("{s:?} is not an action")),
        }
    }
}

/// A list of actions as the soak prints it (and `ROTATION_SOAK_REPLAY` takes it).
pub fn show(actions: &[Action]) -> String {
    actions
        .iter()
        .map(Action::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The actions of case `index` of the soak seeded `seed`: between 10 and 40, about half of
/// them plain steps so that rotations get somewhere.
pub fn case_actions(seed: u64, index: usize) -> Vec<Action> {
    let mut rng = Rng::new(seed ^ (index as u64).wrapping_mul(0xA24B_AED4_963E_E407));
    let len = 10 + rng.below(31) as usize;
    (0..len)
        .map(|_| match rng.below(100) {
            0..45 => Action::Next(None),
            45..60 => Action::Next(Some(Fault::ALL[rng.below(4) as usize])),
            60..70 => Action::Repeat,
            70..80 => Action::Kill(rng.below(120)),
            80..85 => Action::Retry,
            85..90 => Action::Tamper(Tamper::ALL[rng.below(5) as usize]),
            90..95 => Action::Repair,
            _ => Action::Abandon,
        })
        .collect()
}

/// What a soak did and found.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Cases run.
    pub cases: usize,
    /// Actions run (the final retries of each case not counted).
    pub actions: usize,
    /// Steps invoked, the final retries included.
    pub steps: usize,
    /// Rotations started (each with its own token).
    pub rotations_started: usize,
    /// Rotations that reached AWSCURRENT.
    pub rotations_completed: usize,
    /// Processes killed.
    pub kills: usize,
    /// Of those, killed before the step had answered.
    pub kills_mid_step: usize,
    /// Actions under a Secrets Manager fault, by fault.
    pub faults: BTreeMap<String, usize>,
    /// Secrets Manager calls answered with a fault or a lost reply.
    pub faulted_calls: usize,
    /// AWSPENDING tamperings, and their repairs.
    pub tampers: usize,
    /// Rotations abandoned for a new token.
    pub abandoned: usize,
    /// Failed steps, by `errorType`.
    pub errors: BTreeMap<String, usize>,
    /// Invariant checks made.
    pub checks: usize,
    /// Violations found (the soak stops at the first).
    pub violations: usize,
    /// Single user's windows (setSecret invoked to finishSecret done), in milliseconds.
    pub windows_ms: Vec<u64>,
    /// Checks that found AWSCURRENT not logging in, inside a window.
    pub refused_in_window: usize,
}

impl Report {
    fn add(&mut self, other: &Report) {
        self.cases += other.cases;
        self.actions += other.actions;
        self.steps += other.steps;
        self.rotations_started += other.rotations_started;
        self.rotations_completed += other.rotations_completed;
        self.kills += other.kills;
        self.kills_mid_step += other.kills_mid_step;
        for (k, v) in &other.faults {
            *self.faults.entry(k.clone()).or_default() += v;
        }
        self.faulted_calls += other.faulted_calls;
        self.tampers += other.tampers;
        self.abandoned += other.abandoned;
        for (k, v) in &other.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
        self.checks += other.checks;
        self.violations += other.violations;
        self.windows_ms.extend(&other.windows_ms);
        self.refused_in_window += other.refused_in_window;
    }

    /// The report as JSON, with the windows summarised (count, median, 95th percentile, max).
    pub fn to_json(&self) -> Value {
        let mut w = self.windows_ms.clone();
        w.sort_unstable();
        let at = |q: f64| {
            w.get(((w.len() as f64 - 1.0) * q).round() as usize)
                .copied()
        };
        json!({
            "cases": self.cases,
            "actions": self.actions,
            "steps": self.steps,
            "rotations_started": self.rotations_started,
            "rotations_completed": self.rotations_completed,
            "kills": self.kills,
            "kills_mid_step": self.kills_mid_step,
            "faults": self.faults,
            "faulted_calls": self.faulted_calls,
            "tampers": self.tampers,
            "abandoned": self.abandoned,
            "errors": self.errors,
            "checks": self.checks,
            "violations": self.violations,
            "single_user_windows": {
                "count": w.len(),
                "median_ms": at(0.5),
                "p95_ms": at(0.95),
                "max_ms": w.last(),
                "checks_with_awscurrent_refused": self.refused_in_window,
            },
        })
    }
}

/// A broken invariant: which, and what was seen.
#[derive(Clone, Debug)]
pub struct Violation {
    /// A short name of the invariant, the same for the same fault (shrinking keeps it).
    pub invariant: &'static str,
    /// What was seen.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.invariant, self.detail)
    }
}

fn violation(invariant: &'static str, detail: impl Into<String>) -> Violation {
    Violation {
        invariant,
        detail: detail.into(),
    }
}

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// Longer than any step may take: a step that has not answered by then hangs.
const STEP_LIMIT: Duration = Duration::from_secs(60);

/// One case: a fresh user and secret, a process serving it, and what the soak knows.
struct Run<'a, A: Adapter> {
    a: &'a A,
    strategy: Strategy,
    case: Case,
    binary: PathBuf,
    proxy: FaultProxy,
    f: Function,
    /// What every process of the case printed, the one running excepted.
    printed: String,
    /// Every error message a step returned.
    messages: String,
    token: Option<String>,
    /// The index in [`STEPS`] of the step the service would call next.
    next: usize,
    /// The step invoked last.
    last: Option<usize>,
    /// AWSPENDING's value as createSecret wrote it, once seen.
    written: Option<Value>,
    /// Whether AWSPENDING's value is tampered with (overwritten).
    tampered: bool,
    /// The version a tampering put AWSPENDING on instead of the token's.
    thief: Option<String>,
    /// Whether setSecret has succeeded for the token: from then on the database holds its
    /// password, and a tampering takes the label instead of overwriting the value.
    set_done: bool,
    /// Every password a version of the secret has held (the first one first).
    passwords: Vec<String>,
    /// Every verifier the server held for the case's users.
    verifiers: Vec<String>,
    admin: (String, String),
    /// When setSecret was first invoked in the rotation under way (single user).
    window: Option<Instant>,
    report: Report,
}

impl<'a, A: Adapter> Run<'a, A> {
    async fn new(a: &'a A, strategy: Strategy) -> Run<'a, A> {
        let case = Case::new(a, strategy, "soak").await;
        let proxy = FaultProxy::start(&case.sm.url);
        let binary = function_binary(A::function(strategy));
        let f = Function::spawn(&binary, &proxy.url, &[]);
        let admin = a.admin_secret();
        let admin = (
            admin["username"].as_str().unwrap_or_default().to_owned(),
            admin_password(a),
        );
        Run {
            a,
            strategy,
            passwords: vec![case.password.clone()],
            case,
            binary,
            proxy,
            f,
            printed: String::new(),
            messages: String::new(),
            token: None,
            next: 0,
            last: None,
            written: None,
            tampered: false,
            thief: None,
            set_done: false,
            verifiers: Vec::new(),
            admin,
            window: None,
            report: Report {
                cases: 1,
                ..Report::default()
            },
        }
    }

    fn users(&self) -> Vec<String> {
        match self.strategy {
            Strategy::SingleUser => vec![self.case.user.clone()],
            Strategy::AlternatingUsers => vec![self.case.user.clone(), clone_of(&self.case.user)],
        }
    }

    /// How many verifiers one user may hold: two for Redis single user (AWSCURRENT's and the
    /// one before, or AWSPENDING's), one otherwise.
    fn verifier_limit(&self) -> usize {
        match (self.strategy, A::SINGLE_USER_KEEPS_OLD_PASSWORD) {
            (Strategy::SingleUser, true) => 2,
            _ => 1,
        }
    }

    /// Whether AWSCURRENT may fail to log in now: single user, once setSecret may have run.
    fn in_window(&self) -> bool {
        self.strategy == Strategy::SingleUser
            && !A::SINGLE_USER_KEEPS_OLD_PASSWORD
            && self.window.is_some()
    }

    fn respawn(&mut self) {
        self.f.kill();
        self.printed.push_str(&self.f.output());
        self.f = Function::spawn(&self.binary, &self.proxy.url, &[]);
    }

    async fn start_rotation(&mut self) {
        let token = self.case.sm.start_rotation(&self.case.arn).await;
        self.token = Some(token);
        self.next = 0;
        self.last = None;
        self.written = None;
        self.tampered = false;
        self.thief = None;
        self.set_done = false;
        self.report.rotations_started += 1;
    }

    /// The step's outcome; `None` when the process was killed before it answered.
    fn invoke(&mut self, step: usize, kill_after: Option<Duration>) -> Option<Outcome> {
        let token = self.token.clone().unwrap_or_default();
        if step == 1 && self.window.is_none() {
            self.window = Some(Instant::now());
        }
        self.last = Some(step);
        self.report.steps += 1;
        let e = event(&self.case.arn, &token, STEPS[step]);
        let outcome = match kill_after {
            None => Some(
                blocking(|| self.f.api.invoke(&e, STEP_LIMIT))
                    .unwrap_or_else(|err| panic!("{}: {err}", STEPS[step])),
            ),
            Some(after) => {
                let outcome = blocking(|| self.f.api.invoke(&e, after)).ok();
                self.report.kills += 1;
                if outcome.is_none() {
                    self.report.kills_mid_step += 1;
                }
                self.respawn();
                outcome
            }
        };
        match &outcome {
            Some(Outcome::Ok(_)) => {
                self.next = step + 1;
                if step == 1 {
                    self.set_done = true;
                }
                if step == 3 {
                    self.finished();
                }
            }
            Some(Outcome::Err {
                error_type,
                error_message,
            }) => {
                *self.report.errors.entry(error_type.clone()).or_default() += 1;
                self.messages.push_str(error_message);
                self.messages.push('\n');
            }
            None => {}
        }
        outcome
    }

    fn finished(&mut self) {
        self.report.rotations_completed += 1;
        self.token = None;
        self.next = 0;
        self.last = None;
        if let Some(start) = self.window.take()
            && self.strategy == Strategy::SingleUser
        {
            self.report
                .windows_ms
                .push(start.elapsed().as_millis() as u64);
        }
    }

    async fn act(&mut self, action: Action) -> Result<(), Violation> {
        match action {
            Action::Next(fault) => {
                if self.token.is_none() {
                    self.start_rotation().await;
                }
                if let Some(fault) = fault {
                    *self
                        .report
                        .faults
                        .entry(fault.name().to_owned())
                        .or_default() += 1;
                }
                self.proxy.set(fault);
                let next = self.next;
                self.invoke(next, None);
                self.proxy.set(None);
            }
            Action::Repeat => {
                if let (Some(_), Some(last)) = (&self.token, self.last) {
                    self.invoke(last, None);
                }
            }
            Action::Kill(ms) => {
                if self.token.is_none() {
                    self.start_rotation().await;
                }
                let next = self.next;
                self.invoke(next, Some(Duration::from_millis(ms)));
            }
            Action::Retry => {
                if self.token.is_some() {
                    self.next = 0;
                }
            }
            Action::Tamper(how) => self.tamper(how).await,
            Action::Repair => self.repair().await,
            Action::Abandon => {
                // The emulator lets a version's value be overwritten, which is how the soak
                // tampers; the service's versions cannot change. The abandoned version keeps
                // what createSecret wrote, as it would in the service.
                self.repair().await;
                if let Some(token) = self.token.clone() {
                    let stages = self.case.sm.stages(&self.case.arn).await;
                    let pending = stages
                        .get(&token)
                        .is_some_and(|l| l.iter().any(|x| x == "AWSPENDING"));
                    if pending {
                        self.case.sm.clear_pending(&self.case.arn, &token).await;
                    }
                    self.report.abandoned += 1;
                    self.start_rotation().await;
                }
            }
        }
        self.check().await
    }

    /// Tamper with AWSPENDING. Before setSecret has succeeded, its value is overwritten (the
    /// emulator allows it; the service's versions cannot change, so this is the worst case)
    /// and setSecret must refuse it. After, a new version with the tampered value takes the
    /// AWSPENDING label, which is all the service allows: the steps of the token must then
    /// refuse to run, since it is no longer AWSPENDING.
    async fn tamper(&mut self, how: Tamper) {
        let (Some(token), Some(written)) = (self.token.clone(), self.written.clone()) else {
            return;
        };
        if self.tampered || self.thief.is_some() {
            return;
        }
        let mut value = written;
        match how {
            Tamper::Admin => value["username"] = json!(self.admin.0),
            Tamper::OtherUser => value["username"] = json!(format!("{}x", self.case.user)),
            Tamper::Host => value["host"] = json!("db.elsewhere.example"),
            Tamper::Port => value["port"] = json!(1),
            Tamper::NoPassword => {
                if let Some(o) = value.as_object_mut() {
                    o.remove("password");
                }
            }
        }
        let sm = &self.case.sm;
        if self.set_done {
            // Tokens are 32 to 64 characters long.
            let thief = format!("{:0<40}", crate::unique("thief-"));
            sm.client
                .put_secret_value()
                .secret_id(&self.case.arn)
                .client_request_token(&thief)
                .secret_string(value.to_string())
                .version_stages("AWSPENDING")
                .send()
                .await
                .unwrap_or_else(|e| panic!("PutSecretValue of a tampered AWSPENDING: {e:?}"));
            self.thief = Some(thief);
        } else {
            sm.tamper_pending(&self.case.arn, &token, &value).await;
            self.tampered = true;
        }
        self.report.tampers += 1;
    }

    /// Undo the tampering: the value createSecret wrote back, or the label back on the token.
    async fn repair(&mut self) {
        let Some(token) = self.token.clone() else {
            return;
        };
        let sm = &self.case.sm;
        if let (true, Some(written)) = (self.tampered, self.written.clone()) {
            sm.tamper_pending(&self.case.arn, &token, &written).await;
            self.tampered = false;
        }
        if let Some(thief) = self.thief.take() {
            sm.client
                .update_secret_version_stage()
                .secret_id(&self.case.arn)
                .version_stage("AWSPENDING")
                .move_to_version_id(&token)
                .remove_from_version_id(&thief)
                .send()
                .await
                .unwrap_or_else(|e| panic!("moving AWSPENDING back to {token}: {e:?}"));
        }
    }

    /// Every invariant, now.
    async fn check(&mut self) -> Result<(), Violation> {
        self.report.checks += 1;
        let sm = &self.case.sm;
        let arn = &self.case.arn;
        // What createSecret wrote: a password the database may hold from now on.
        if let (Some(token), None) = (&self.token, &self.written)
            && let Some(value) = sm.value(arn, "AWSPENDING", Some(token)).await
        {
            if let Some(p) = value["password"].as_str() {
                self.passwords.push(p.to_owned());
            }
            self.written = Some(value);
        }
        let current = sm
            .value(arn, "AWSCURRENT", None)
            .await
            .ok_or_else(|| violation("AWSCURRENT readable", "no AWSCURRENT version"))?;
        let user = current["username"].as_str().unwrap_or_default().to_owned();
        let password = current["password"].as_str().unwrap_or_default().to_owned();
        if !self.passwords.contains(&password) {
            return Err(violation(
                "AWSCURRENT holds a password createSecret wrote",
                format!("AWSCURRENT names {user:?} with a password no version of this case held"),
            ));
        }
        match self.a.read_canary(&user, &password).await {
            Ok(_) => {}
            Err(e) if self.in_window() => {
                self.report.refused_in_window += 1;
                // Nothing is lost: some password the secret has held still logs in.
                let mut any = false;
                for p in self.passwords.iter().rev() {
                    if self.a.read_canary(&user, p).await.is_ok() {
                        any = true;
                        break;
                    }
                }
                if !any {
                    return Err(violation(
                        "some password of the secret logs in",
                        format!(
                            "inside the single-user window, {user:?} logs in with none of the {} passwords the secret has held (AWSCURRENT: {e})",
                            self.passwords.len()
                        ),
                    ));
                }
            }
            Err(e) => {
                return Err(violation(
                    "AWSCURRENT logs in",
                    format!("AWSCURRENT ({user:?}) does not log in: {e}"),
                ));
            }
        }
        if let Err(e) = self.a.read_canary(&self.admin.0, &self.admin.1).await {
            return Err(violation("the admin logs in", e));
        }
        for u in self.users() {
            let held = self.a.verifiers(&u).await;
            if held.len() > self.verifier_limit() {
                return Err(violation(
                    "at most the documented number of passwords",
                    format!(
                        "{u:?} holds {} password verifiers; at most {} may be valid",
                        held.len(),
                        self.verifier_limit()
                    ),
                ));
            }
            for v in held {
                if !self.verifiers.contains(&v) {
                    self.verifiers.push(v);
                }
            }
        }
        let output = format!("{}{}{}", self.printed, self.f.output(), self.messages);
        let secrets = self
            .passwords
            .iter()
            .chain(&self.verifiers)
            .chain(std::iter::once(&self.admin.1));
        for s in secrets {
            if let Some(line) = output.lines().find(|l| l.contains(s.as_str())) {
                return Err(violation(
                    "no password or verifier in any output",
                    line.replace(s.as_str(), "*****"),
                ));
            }
        }
        Ok(())
    }

    /// Retry the rotation under way to the end, as the service does: the faults off,
    /// AWSPENDING repaired, and the whole rotation again after a failed step, three times at
    /// most. It must complete.
    async fn finish(&mut self) -> Result<(), Violation> {
        self.proxy.set(None);
        self.repair().await;
        if self.token.is_none() {
            return Ok(());
        }
        let mut errors = Vec::new();
        for _ in 0..3 {
            while self.token.is_some() {
                let next = self.next;
                match self.invoke(next, None) {
                    Some(Outcome::Ok(_)) => {}
                    Some(Outcome::Err {
                        error_type,
                        error_message,
                    }) => {
                        errors.push(format!("{}: {error_type}: {error_message}", STEPS[next]));
                        self.next = 0;
                        break;
                    }
                    None => unreachable!("no kill in the final retries"),
                }
                self.check().await?;
            }
            if self.token.is_none() {
                return Ok(());
            }
        }
        Err(violation(
            "a rotation retried to the end completes",
            format!(
                "three retries of the whole rotation failed: {}",
                errors.join(" | ")
            ),
        ))
    }
}

/// Run one case: `actions`, then the final retries. Returns what it did, and the first
/// violation with the index of the action after which it was found (`actions.len()`: in the
/// final retries).
pub async fn run_case<A: Adapter>(
    a: &A,
    strategy: Strategy,
    actions: &[Action],
) -> (Report, Option<(usize, Violation)>) {
    let mut run = Run::new(a, strategy).await;
    let mut found = None;
    if let Err(v) = run.check().await {
        found = Some((0, v));
    }
    for (i, action) in actions.iter().enumerate() {
        if found.is_some() {
            break;
        }
        run.report.actions += 1;
        if let Err(v) = run.act(*action).await {
            found = Some((i, v));
        }
    }
    if found.is_none()
        && let Err(v) = run.finish().await
    {
        found = Some((actions.len(), v));
    }
    run.report.faulted_calls = run.proxy.injected();
    if found.is_some() {
        run.report.violations = 1;
    }
    (run.report, found)
}

/// The shortest list found that still shows a violation of `invariant`: actions after the
/// failing one go, then each action is left out in turn while the violation stays (each try a
/// fresh case, at most 60 tries).
pub async fn shrink<A: Adapter>(
    a: &A,
    strategy: Strategy,
    actions: &[Action],
    failing: usize,
    invariant: &str,
) -> Vec<Action> {
    let mut best: Vec<Action> = actions[..(failing + 1).min(actions.len())].to_vec();
    let mut tries = 0;
    let mut i = best.len();
    while i > 0 && tries < 60 {
        i -= 1;
        let mut candidate = best.clone();
        candidate.remove(i);
        tries += 1;
        if let (_, Some((at, v))) = run_case(a, strategy, &candidate).await
            && v.invariant == invariant
        {
            candidate.truncate((at + 1).min(candidate.len()));
            i = i.min(candidate.len());
            best = candidate;
        }
    }
    best
}

/// Case `i` of `lists` and what it gave, in order, each stream stopping at its first
/// violation. With `parallel` > 1, that many threads run the cases (case `i` on thread
/// `i % parallel`), each with a runtime of its own: the cases share nothing but the servers.
async fn run_cases<A: Adapter>(
    a: &A,
    strategy: Strategy,
    lists: &[Vec<Action>],
    parallel: usize,
) -> Vec<(usize, Report, Option<(usize, Violation)>)> {
    type Ran = Vec<(usize, Report, Option<(usize, Violation)>)>;
    async fn stream<A: Adapter>(
        a: &A,
        strategy: Strategy,
        lists: &[Vec<Action>],
        first: usize,
        step: usize,
    ) -> Ran {
        let mut out = Vec::new();
        for i in (first..lists.len()).step_by(step) {
            let (report, found) = run_case(a, strategy, &lists[i]).await;
            let stop = found.is_some();
            out.push((i, report, found));
            if stop {
                break;
            }
        }
        out
    }
    if parallel <= 1 {
        return stream(a, strategy, lists, 0, 1).await;
    }
    let mut all: Ran = blocking(|| {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..parallel)
                .map(|k| {
                    scope.spawn(move || {
                        tokio::runtime::Builder::new_multi_thread()
                            .worker_threads(1)
                            .enable_all()
                            .build()
                            .unwrap_or_else(|e| panic!("a runtime for the soak: {e}"))
                            .block_on(stream(a, strategy, lists, k, parallel))
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        })
    });
    all.sort_by_key(|(i, _, _)| *i);
    all
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a valid value")),
        Err(_) => default,
    }
}

/// The soak as a conformance scenario: `ROTATION_SOAK_CASES` cases (default
/// [`DEFAULT_CASES`]) from `ROTATION_SOAK_SEED` (default [`DEFAULT_SEED`]), or the one list of
/// `ROTATION_SOAK_REPLAY` (as a violation prints it), on `ROTATION_SOAK_PARALLEL` threads
/// (default 1). Prints the report as a `soak report:`
/// line (and writes it to `ROTATION_SOAK_REPORT` when set); panics at the first violation with
/// the seed, the case's actions and the shortest list that still shows it.
pub async fn soak<A: Adapter>(a: &A, strategy: Strategy) {
    let cases: usize = env_or("ROTATION_SOAK_CASES", DEFAULT_CASES);
    let seed: u64 = env_or("ROTATION_SOAK_SEED", DEFAULT_SEED);
    let replay: Option<Vec<Action>> = std::env::var("ROTATION_SOAK_REPLAY").ok().map(|list| {
        list.split(',')
            .map(|s| {
                s.parse()
                    .unwrap_or_else(|e| panic!("ROTATION_SOAK_REPLAY: {e}"))
            })
            .collect()
    });
    let function = A::function(strategy);
    let started = Instant::now();
    let mut total = Report::default();
    let lists: Vec<Vec<Action>> = match &replay {
        Some(list) => vec![list.clone()],
        None => (0..cases).map(|i| case_actions(seed, i)).collect(),
    };
    let parallel: usize = env_or("ROTATION_SOAK_PARALLEL", 1);
    for (index, report, found) in run_cases(a, strategy, &lists, parallel).await {
        total.add(&report);
        if let Some((at, v)) = found {
            let actions = &lists[index];
            let shortest = shrink(a, strategy, actions, at, v.invariant).await;
            panic!(
                "soak of {function}: violation in case {index} (seed {seed}) after action {at}: {v}\n  \
                 the case's actions: {}\n  the shortest list that still shows it: {}\n  \
                 replay it: ROTATION_SOAK_REPLAY={} with the engine's soak test, or \
                 cargo xtask soak --engine <engine> --strategy {} --replay {}",
                show(actions),
                show(&shortest),
                show(&shortest),
                strategy.as_str(),
                show(&shortest),
            );
        }
    }
    let mut report = total.to_json();
    report["function"] = json!(function);
    report["seed"] = json!(seed);
    report["seconds"] = json!(started.elapsed().as_secs_f64());
    eprintln!("soak report: {report}");
    if let Ok(path) = std::env::var("ROTATION_SOAK_REPORT") {
        std::fs::write(&path, format!("{report}\n"))
            .unwrap_or_else(|e| panic!("writing {path}: {e}"));
    }
    assert!(total.actions > 0, "the soak ran no action");
    assert!(
        total.rotations_completed > 0,
        "the soak completed no rotation: {report}"
    );
}
