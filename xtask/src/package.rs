//! `cargo xtask package`: placeholder, replaced by the deploy work.
use anyhow::Result;

/// Entry point of `cargo xtask package`.
pub fn run(_args: &[String]) -> Result<()> {
    Ok(())
}
