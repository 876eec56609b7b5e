//! The preflight rights check: whether the user that makes the change (the admin, or the user
//! itself) may run the commands setSecret runs, asked of the server with `ACL DRYRUN`, which
//! runs nothing.

use crate::connect::Session;
use rotation_core::{EngineError, Rights};

/// As `actor` on `s`: may it run `ACL SETUSER target`, and (alternating users) `ACL LIST`,
/// and `ACL SAVE` when the server keeps an ACL file?
pub(crate) async fn check(
    s: &mut Session,
    actor: &str,
    target: &str,
    alternating: bool,
) -> Result<Rights, EngineError> {
    let mut commands: Vec<(Vec<&str>, &str, &str)> = vec![(
        vec!["ACL", "SETUSER", target],
        "+acl|setuser",
        "to set the new password",
    )];
    if alternating {
        commands.push((
            vec!["ACL", "LIST"],
            "+acl|list",
            "to read the rules to copy",
        ));
    }
    match s.aclfile().await? {
        Some(file) if file.is_empty() => {}
        Some(_) => commands.push((
            vec!["ACL", "SAVE"],
            "+acl|save",
            "to write the change to the server's ACL file",
        )),
        None => {}
    }
    let mut missing = Vec::new();
    for (command, rule, why) in commands {
        match s.acl_dryrun(actor, &command).await {
            Ok(None) => {}
            Ok(Some(reason)) => missing.push(format!(
                "{} ({why}): {reason}; run ACL SETUSER {actor} {rule}",
                command.join(" ")
            )),
            // An admin with the ACL commands nearly always has DRYRUN too (both are in
            // @admin); one without it is reported as lacking them, with what to grant.
            Err(EngineError::Permission { .. }) => {
                return Ok(Rights::Missing(vec![format!(
                    "user '{actor}' may not run ACL DRYRUN, so it very likely lacks the ACL commands setSecret runs (ACL SETUSER{}); run ACL SETUSER {actor} +acl, or, if it holds them one by one, add +acl|dryrun so that this check can see them",
                    if alternating { ", ACL LIST" } else { "" }
                )]));
            }
            Err(e @ EngineError::Database(_)) => {
                return Ok(Rights::Unknown(format!(
                    "the server does not answer ACL DRYRUN ({e}), which this check asks with (Redis 7 and Valkey have it); check by hand that '{actor}' may run ACL SETUSER (and, for alternating users, ACL LIST; with an ACL file, ACL SAVE)"
                )));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(if missing.is_empty() {
        Rights::Complete
    } else {
        Rights::Missing(missing)
    })
}
