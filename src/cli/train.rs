//! `commentguard train`.

/// Arguments of `commentguard train`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `commentguard train`.
///
/// # Errors
/// Any failure, with context for the user.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("not available yet")
}
