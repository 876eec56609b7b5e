//! The preflight rights check: whether the admin may make the change the next
//! alternating-users setSecret makes (create the clone as a member of the original, or change
//! the password of the user that exists), by the same catalog-only rules the rotation itself
//! applies before it changes anything ([`check_admin_may`](super::check_admin_may)).

use super::{Session, check_admin_may, role, sql};
use rotation_core::{EngineError, Rights};

/// As the admin on `s`: the rights needed to reset `target`, the other user of `current`'s pair.
pub(crate) async fn alternating(
    s: &Session,
    current: &str,
    target: &str,
) -> Result<Rights, EngineError> {
    let version = s.show("SHOW server_version_num").await?;
    let version_num = version.trim().parse::<u32>().map_err(|_| {
        EngineError::Database(format!("server_version_num is {version:?}, not a number"))
    })?;
    let base = sql::pair_base(current, target);
    if role(s, base).await?.is_none() {
        return Ok(Rights::Missing(vec![format!(
            "the original user '{base}' does not exist; alternating-users rotation only ever creates '{base}{}', so create '{base}' or fix the secret's username",
            sql::CLONE_SUFFIX
        )]));
    }
    let checked = if role(s, target).await?.is_some() {
        check_admin_may(s, version_num, target, sql::RoleChange::ChangePassword).await
    } else {
        check_admin_may(s, version_num, base, sql::RoleChange::GrantMembership).await
    };
    match checked {
        Ok(()) => Ok(Rights::Complete),
        Err(EngineError::Permission { detail, .. }) => Ok(Rights::Missing(vec![detail])),
        Err(e) => Err(e),
    }
}
