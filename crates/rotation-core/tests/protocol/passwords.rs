//! Password settings: the `GetRandomPassword` request carries exactly what `config.rs` reads
//! from `PASSWORD_LENGTH`, `EXCLUDE_CHARACTERS` (default: the engine's constant),
//! `EXCLUDE_NUMBERS`, `EXCLUDE_PUNCTUATION`, `EXCLUDE_UPPERCASE`, `EXCLUDE_LOWERCASE` and
//! `REQUIRE_EACH_INCLUDED_TYPE`; the generated passwords follow them; unusable values are
//! refused with an error that names the variable.

use crate::engine::DEFAULT_EXCLUDE_CHARACTERS;
use crate::recorder::Recorder;
use crate::support::*;
use rotation_core::Strategy::{self, AlternatingUsers, SingleUser};
use rotation_core::config::Config;
use serde_json::{Value, json};
use test_support::secrets::step;

fn request(
    length: u32,
    exclude: &str,
    [numbers, punctuation, upper, lower]: [bool; 4],
    require_each: bool,
) -> Value {
    json!({
        "PasswordLength": length,
        "ExcludeCharacters": exclude,
        "ExcludeNumbers": numbers,
        "ExcludePunctuation": punctuation,
        "ExcludeUppercase": upper,
        "ExcludeLowercase": lower,
        "RequireEachIncludedType": require_each,
    })
}

/// Run createSecret with `vars` and return the password it stored, abandoning the rotation.
async fn generated(c: &Case, strategy: Strategy, vars: &[(&str, &str)]) -> String {
    let r = c.rotator_of::<false, false>(strategy, vars);
    let token = c.sm.start_rotation(&c.arn).await;
    step(&r, &c.arn, &token, "createSecret")
        .await
        .unwrap_or_else(|e| panic!("{vars:?}: {e}"));
    let pending = c.pending(&token).await.expect("pending");
    c.sm.clear_pending(&c.arn, &token).await;
    pending["password"].as_str().expect("password").to_owned()
}

#[tokio::test]
async fn password_settings_reach_get_random_password() {
    let c = case(SingleUser).await;
    let recorder = Recorder::start(&c.sm);
    let off = [false; 4];
    let cases: Vec<(Vec<(&str, &str)>, Value)> = vec![
        (vec![], request(32, DEFAULT_EXCLUDE_CHARACTERS, off, true)),
        (
            // Empty means unset, except for EXCLUDE_CHARACTERS (next case).
            vec![
                ("PASSWORD_LENGTH", ""),
                ("EXCLUDE_NUMBERS", ""),
                ("REQUIRE_EACH_INCLUDED_TYPE", ""),
            ],
            request(32, DEFAULT_EXCLUDE_CHARACTERS, off, true),
        ),
        (vec![("EXCLUDE_CHARACTERS", "")], request(32, "", off, true)),
        (
            vec![
                ("PASSWORD_LENGTH", "20"),
                ("EXCLUDE_CHARACTERS", "abc"),
                ("EXCLUDE_NUMBERS", "YES"),
                ("EXCLUDE_PUNCTUATION", "1"),
                ("EXCLUDE_UPPERCASE", "y"),
                ("EXCLUDE_LOWERCASE", "nope"),
                ("REQUIRE_EACH_INCLUDED_TYPE", "false"),
            ],
            request(20, "abc", [true, true, true, false], false),
        ),
        (
            vec![
                ("PASSWORD_LENGTH", " 4096 "),
                ("EXCLUDE_NUMBERS", "0"),
                ("EXCLUDE_PUNCTUATION", "off"),
                ("EXCLUDE_UPPERCASE", "Yes"),
                ("EXCLUDE_LOWERCASE", "TRUE"),
                ("REQUIRE_EACH_INCLUDED_TYPE", "no"),
            ],
            request(
                4096,
                DEFAULT_EXCLUDE_CHARACTERS,
                [false, false, true, true],
                false,
            ),
        ),
    ];
    for (vars, expected) in cases {
        let r = rotator::<false, false>(&recorder.sm(), SingleUser, &vars, &c.db);
        let token = c.sm.start_rotation(&c.arn).await;
        step(&r, &c.arn, &token, "createSecret")
            .await
            .unwrap_or_else(|e| panic!("{vars:?}: {e}"));
        let requests = recorder.requests("GetRandomPassword");
        assert_eq!(requests.last(), Some(&expected), "{vars:?}");
        let pending = c.pending(&token).await.expect("pending");
        assert_eq!(
            pending["password"]
                .as_str()
                .map(|p| p.chars().count() as u64),
            expected["PasswordLength"].as_u64(),
            "{vars:?}"
        );
        c.sm.clear_pending(&c.arn, &token).await;
    }
    assert_eq!(c.db.calls(), [], "createSecret does not call the engine");
}

#[tokio::test]
async fn generated_passwords_follow_the_settings() {
    let c = case(SingleUser).await;
    let is_punct = |ch: char| ch.is_ascii_punctuation();
    // 200 characters: a character class that is allowed shows up, almost surely.
    let long = ("PASSWORD_LENGTH", "200");

    let pw = generated(&c, SingleUser, &[long]).await;
    assert_eq!(pw.chars().count(), 200);
    assert!(
        !pw.contains(|ch| DEFAULT_EXCLUDE_CHARACTERS.contains(ch)),
        "the engine's default exclusions: {pw}"
    );
    let pw = generated(&c, SingleUser, &[long, ("EXCLUDE_CHARACTERS", "")]).await;
    assert!(
        pw.contains(|ch| DEFAULT_EXCLUDE_CHARACTERS.contains(ch)),
        "an empty EXCLUDE_CHARACTERS excludes nothing: {pw}"
    );
    for (var, class, name) in [
        (
            "EXCLUDE_NUMBERS",
            (|ch: char| ch.is_ascii_digit()) as fn(char) -> bool,
            "digits",
        ),
        (
            "EXCLUDE_PUNCTUATION",
            |ch: char| ch.is_ascii_punctuation(),
            "punctuation",
        ),
        (
            "EXCLUDE_UPPERCASE",
            |ch: char| ch.is_ascii_uppercase(),
            "upper case",
        ),
        (
            "EXCLUDE_LOWERCASE",
            |ch: char| ch.is_ascii_lowercase(),
            "lower case",
        ),
    ] {
        let pw = generated(&c, SingleUser, &[long, (var, "true")]).await;
        assert!(!pw.contains(class), "{var}: no {name}: {pw}");
        let pw = generated(&c, SingleUser, &[long, (var, "false")]).await;
        assert!(pw.contains(class), "{var}=false: {name} appear: {pw}");
    }
    // REQUIRE_EACH_INCLUDED_TYPE (the default): even 4 characters hold one of each class.
    let pw = generated(&c, SingleUser, &[("PASSWORD_LENGTH", "4")]).await;
    assert_eq!(pw.chars().count(), 4);
    assert!(
        pw.contains(|ch: char| ch.is_ascii_lowercase())
            && pw.contains(|ch: char| ch.is_ascii_uppercase())
            && pw.contains(|ch: char| ch.is_ascii_digit())
            && pw.contains(is_punct),
        "one of each class: {pw}"
    );
}

crate::both_strategies!(the_engine_gets_the_generated_password);

async fn the_engine_gets_the_generated_password(strategy: Strategy) {
    let c = case(strategy).await;
    let excluded = "abcdefghijklmABCDEFGHIJKLM0123/@\"'\\";
    let r = c.rotator_of::<false, false>(
        strategy,
        &[("EXCLUDE_CHARACTERS", excluded), ("PASSWORD_LENGTH", "20")],
    );
    let token = c.rotated(&r).await;
    c.assert_current_works(&token).await;
    let pw = c.current().await["password"]
        .as_str()
        .expect("password")
        .to_owned();
    assert_eq!(pw.chars().count(), 20, "PASSWORD_LENGTH");
    assert!(
        !pw.contains(|ch| excluded.contains(ch)),
        "EXCLUDE_CHARACTERS: {pw}"
    );
    if strategy == AlternatingUsers {
        assert_eq!(c.db.password_of("app_clone").as_deref(), Some(pw.as_str()));
    }
}

#[tokio::test]
async fn bad_password_settings_are_refused_with_a_clear_error() {
    for value in ["long", "0", "4097", "-5", "20.5", "1e3", "32 characters"] {
        let err = Config::from_lookup(SingleUser, DEFAULT_EXCLUDE_CHARACTERS, |k| {
            (k == "PASSWORD_LENGTH").then(|| value.to_owned())
        })
        .expect_err(value);
        assert_eq!(
            err.to_string(),
            format!(
                "environment variable PASSWORD_LENGTH: {value:?} is not a whole number from 1 to 4096"
            )
        );
    }

    // A length the service cannot fill with one character of each class.
    let c = case(SingleUser).await;
    let r = c.rotator_of::<false, false>(SingleUser, &[("PASSWORD_LENGTH", "3")]);
    let token = c.sm.start_rotation(&c.arn).await;
    refused_with(
        step(&r, &c.arn, &token, "createSecret").await,
        "length 3",
        "SecretsManagerError",
        &format!(
            "createSecret for secret {}: Secrets Manager GetRandomPassword failed: InvalidParameterException",
            c.arn
        ),
    );
    c.assert_untouched(&token, "length 3").await;
}
