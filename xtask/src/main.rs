//! Project automation: `cargo xtask <command>`.
//!
//! - `dist`: build every function's release `bootstrap` and zip it into `target/dist/`.
//! - `test`: install and start everything the tests need, run them all, stop what it started.
//! - `bench`: measure cold start, rotation time, memory and Secrets Manager calls.
//! - `soak`: a long fault soak of one function (random steps, kills, faults, tampering).
//! - `package`: write the SAM/CloudFormation templates for each function.
//! - `update-rds-ca`: refresh the Amazon RDS certificate authorities the functions trust.

mod bench;
mod cdk;
mod debian;
mod dist;
mod package;
mod rds_ca;
mod soak;
mod test;
mod tidy;
mod tools;

use anyhow::{Result, bail};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        bail!("usage: cargo xtask <dist|test|bench|soak|package|update-rds-ca> [options]");
    };
    match command.as_str() {
        "bench" => bench::run_cli(rest),
        "dist" => dist::run_cli(rest),
        "test" => test::run_cli(rest),
        "package" => package::run(rest),
        "soak" => soak::run_cli(rest),
        "update-rds-ca" => rds_ca::run(rest),
        other => {
            bail!(
                "unknown command {other:?}: expected dist, test, bench, soak, package or update-rds-ca"
            )
        }
    }
}
