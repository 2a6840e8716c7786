//! The site model's figures in `queue stats`, and `queue reset-site-model`.

use std::io::{self, Write};

use super::{Client, describe_status, seconds};
use crate::proto as pb;

/// `queue reset-site-model`: drops what the site's labels taught the site model, and prints
/// its figures after.
pub(super) async fn reset(
    client: &mut Client,
    note: String,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let stats = client
        .reset_site_model(pb::ResetSiteModelRequest { note })
        .await
        .map_err(describe_status)?
        .into_inner();
    if json {
        writeln!(out, "{}", to_json(&stats))?;
    } else {
        print(out, &stats)?;
    }
    Ok(())
}

/// The figures as a JSON object (`site_model` of `queue stats --json`).
pub(super) fn to_json(s: &pb::SiteModelStats) -> serde_json::Value {
    serde_json::json!({
        "version": s.version,
        "labels": s.labels,
        "running_accuracy": s.running_accuracy,
        "accuracy_labels": s.accuracy_labels,
        "reset_at": s.reset_time.map(|t| t.seconds),
        "reset_by": s.reset_by,
        "reset_note": s.reset_note,
        "labels_dropped": s.labels_dropped,
    })
}

/// The figures as lines of `queue stats`.
pub(super) fn print(out: &mut impl Write, s: &pb::SiteModelStats) -> io::Result<()> {
    writeln!(
        out,
        "site      model version {}, learned from {} label(s); right on {:.1}% of the last {}",
        s.version,
        s.labels,
        s.running_accuracy * 100.0,
        s.accuracy_labels
    )?;
    if s.reset_time.is_some() {
        let when = humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH
                + std::time::Duration::from_secs(
                    u64::try_from(seconds(s.reset_time)).unwrap_or_default(),
                ),
        );
        writeln!(
            out,
            "site      reset {when} by {} ({} label(s) dropped){}",
            s.reset_by,
            s.labels_dropped,
            if s.reset_note.is_empty() {
                String::new()
            } else {
                format!(": {}", s.reset_note)
            }
        )?;
    }
    Ok(())
}
