//! `commentguard convert-store`: moves a stopped sled store to fjall in place (see
//! `store::embedded::convert`). Data directories written by earlier releases are sled; new
//! ones are fjall, which holds a large store in a fraction of the memory.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;

use crate::store::embedded::convert_to_fjall;

/// Arguments of `commentguard convert-store`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The data directory of a stopped server (the server holds it locked while it runs).
    #[arg(long, env = "COMMENTGUARD_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
}

/// Converts the store and says what it did.
///
/// # Errors
/// When the directory holds no store, is in use, or a write fails (the sled store is then
/// still the store).
pub fn run(args: &Args) -> anyhow::Result<()> {
    let converted = convert_to_fjall(&args.data_dir)
        .with_context(|| format!("converting the store in {}", args.data_dir.display()))?;
    let mut out = std::io::stdout().lock();
    if converted.entries == 0 {
        writeln!(
            out,
            "{} already holds a fjall store",
            args.data_dir.display()
        )?;
    } else {
        writeln!(
            out,
            "converted {} entries to fjall in {:.1} s",
            converted.entries, converted.seconds
        )?;
    }
    Ok(())
}
