//! Checks of what ships, from the outside: every zip in `target/dist` (its entries, the
//! static `bootstrap` inside, and that `bootstrap` serving a rotation event through a Lambda
//! Runtime API, arm64 under qemu), that each trusts AWS's RDS certificate authorities with no
//! configuration, and the panic behaviour of the release profile.
//!
//! `cargo xtask test` builds the zips and names them in `ROTATION_TEST_ZIP_DIR`.

#[cfg(test)]
mod elf;
#[cfg(test)]
mod panics;
#[cfg(test)]
mod rds_ca;
#[cfg(test)]
mod zips;
