//! Command-line subcommands; each module owns its clap arguments and its run.

pub mod client;
pub mod convert_store;
pub mod eval;
mod export;
pub mod import_export;
pub mod load;
pub mod queue;
pub mod replay;
pub mod serve;
pub mod toxicity;
pub mod train;

/// Writes each reason on its own indented line: its name, weight and detail.
///
/// # Errors
/// When `out` cannot be written.
pub(crate) fn write_reasons<'a>(
    out: &mut impl std::io::Write,
    reasons: impl IntoIterator<Item = &'a crate::proto::Reason>,
) -> std::io::Result<()> {
    for r in reasons {
        writeln!(
            out,
            "  {:<48} {:+.3}  {}",
            reason_name(&r.code),
            r.weight,
            r.detail
        )?;
    }
    Ok(())
}

/// A reason as the command line prints it: its name for people, then the code clients see
/// (`Email address in the text (email_in_content)`); an unknown code as it is.
pub(crate) fn reason_name(code: &str) -> String {
    match crate::comment::ReasonCode::parse(code) {
        Some(known) => format!("{} ({code})", known.label()),
        None => code.to_owned(),
    }
}
