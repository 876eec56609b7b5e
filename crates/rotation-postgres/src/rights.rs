//! The preflight rights check: whether the admin may make the change the next
//! alternating-users setSecret makes (create the clone as a member of the original and an
//! exact copy of it, or change the password of the user that exists), by the same
//! catalog-only rules the rotation itself applies before it changes anything
//! ([`check_admin_may`](super::check_admin_may), [`check_admin_may_copy`](super::check_admin_may_copy)).

use super::{
    Session, check_admin_may, check_admin_may_copy, role, role_settings, sql, version_num,
};
use rotation_core::{EngineError, Rights};

/// As the admin on `s`: the rights needed to reset `target`, the other user of `current`'s pair.
pub(crate) async fn alternating(
    s: &Session,
    current: &str,
    target: &str,
) -> Result<Rights, EngineError> {
    let version_num = version_num(s).await?;
    let base = sql::pair_base(current, target);
    let Some(base_row) = role(s, base).await? else {
        return Ok(Rights::Missing(vec![format!(
            "the original user '{base}' does not exist; alternating-users rotation only ever creates '{base}{}', so create '{base}' or fix the secret's username",
            sql::CLONE_SUFFIX
        )]));
    };
    let mut missing = Vec::new();
    let mut note = |checked: Result<(), EngineError>| match checked {
        Ok(()) => Ok(()),
        Err(EngineError::Permission { detail, .. }) => {
            missing.push(detail);
            Ok(())
        }
        Err(e) => Err(e),
    };
    if role(s, target).await?.is_some() {
        note(check_admin_may(s, version_num, target, sql::RoleChange::ChangePassword).await)?;
    } else {
        note(check_admin_may(s, version_num, base, sql::RoleChange::GrantMembership).await)?;
        let settings = role_settings(s, base).await?;
        note(check_admin_may_copy(s, version_num, base, &base_row, &settings).await)?;
    }
    Ok(if missing.is_empty() {
        Rights::Complete
    } else {
        Rights::Missing(missing)
    })
}
