//! The preflight rights check: whether the user that makes the change (the admin, or the user
//! itself) may run the commands setSecret runs, asked of the server with `ACL DRYRUN`, which
//! runs nothing. A user that may not run `ACL DRYRUN` is asked `ACL LIST`, which reads only:
//! one that may run neither cannot be an admin of users.

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
            // DRYRUN is refused: ask what can be asked without it.
            Err(EngineError::Permission { .. }) => return without_dryrun(s, actor).await,
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

/// The answer for an `actor` that may not run `ACL DRYRUN`: if it may not run `ACL LIST`
/// either, it holds no ACL right the rotation's admin is documented with; otherwise its other
/// rights cannot be seen.
async fn without_dryrun(s: &mut Session, actor: &str) -> Result<Rights, EngineError> {
    match s.acl_list().await {
        Ok(_) => Ok(Rights::Unknown(format!(
            "user '{actor}' may run ACL LIST but not ACL DRYRUN, so whether it may run ACL SETUSER (and, with an ACL file, ACL SAVE) cannot be asked; run ACL SETUSER {actor} +acl|dryrun to let this check see it"
        ))),
        Err(EngineError::Permission { .. }) => Ok(Rights::Missing(vec![format!(
            "user '{actor}' may run neither ACL DRYRUN nor ACL LIST, so it holds none of the ACL rights setSecret needs; run ACL SETUSER {actor} +acl|setuser +acl|list +acl|save +config|get +acl|dryrun"
        )])),
        Err(e) => Err(e),
    }
}
