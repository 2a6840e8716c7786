//! `commentguard eval`.

/// Arguments of `commentguard eval`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `commentguard eval`.
///
/// # Errors
/// Any failure, with context for the user.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("not available yet")
}
