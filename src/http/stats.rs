//! `GET /stats`: the last day per hour, the classifier–moderator agreement and the reasons,
//! drawn server-side as inline SVG.

use std::collections::HashMap;

use axum::extract::State;
use axum::response::Html;
use maud::{Markup, html};

use super::Console;
use super::error::HttpError;
use super::session::Session;
use super::views::{self, Viewer};
use crate::comment::{ReasonCode, Status, now_ms};
use crate::store::Page;

/// Hours shown on the stats page.
const HOURS: u64 = 24;
const HOUR_MS: u64 = 3600 * 1000;
/// Most comments of one status counted for the chart (the newest).
const STATS_SCAN: usize = 50_000;
/// The statuses charted per hour, with their CSS class.
const CHARTED: [(Status, &str); 3] = [
    (Status::Pending, "held"),
    (Status::Spam, "spam"),
    (Status::Approved, "approved"),
];

/// Counts per hour and reasons over the last [`HOURS`].
struct Day {
    per_hour: Vec<[u64; 3]>,
    reasons: Vec<(ReasonCode, u64)>,
}

async fn last_day(console: &Console, start: u64) -> Result<Day, HttpError> {
    let mut per_hour = vec![[0u64; 3]; HOURS as usize];
    let mut reasons: HashMap<ReasonCode, u64> = HashMap::new();
    for (series, (status, _)) in CHARTED.iter().enumerate() {
        let Page { comments, .. } = console
            .app
            .store
            .list_queue(*status, None, None, STATS_SCAN)
            .await?;
        for c in comments.iter().take_while(|c| c.created_at_ms >= start) {
            let hour = ((c.created_at_ms - start) / HOUR_MS) as usize;
            if let Some(slot) = per_hour.get_mut(hour) {
                slot[series] += 1;
            }
            for r in c
                .verdict
                .reasons
                .iter()
                .filter(|r| r.code != ReasonCode::Classifier)
            {
                *reasons.entry(r.code).or_default() += 1;
            }
        }
    }
    let mut reasons: Vec<_> = reasons.into_iter().collect();
    reasons.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.as_str().cmp(b.0.as_str())));
    Ok(Day { per_hour, reasons })
}

/// `GET /stats`.
pub async fn stats_page(
    State(console): State<Console>,
    session: Session,
) -> Result<Html<String>, HttpError> {
    let now = now_ms();
    let start = (now / HOUR_MS + 1).saturating_sub(HOURS) * HOUR_MS;
    let day = last_day(&console, start).await?;
    let agreement = console.app.agreement().await?;
    let totals = console.app.store.status_counts().await?;
    let site = console.app.pipeline.scorer().site_model().figures();
    let reset = console.app.site_model_reset().await?;
    let body = html! {
        h1 { "Statistics" }
        section.totals {
            @for (status, count) in &totals {
                div.total data-status=(status.as_str()) { span.count { (count) } " " (status.as_str()) }
            }
            div.total #agreement {
                @if agreement.labels == 0 {
                    span.count { "–" }
                    " classifier–moderator agreement: no decisions yet"
                } @else {
                    span.count { (format!("{:.0}%", agreement.rate() * 100.0)) }
                    " classifier–moderator agreement over " (agreement.labels) " decisions"
                }
            }
            div.total #site-model data-version=(site.version) {
                span.count { (site.labels) }
                " labels learned by this site's model"
                @if site.accuracy_labels > 0 {
                    "; it got " (format!("{:.0}%", site.running_accuracy * 100.0))
                    " of the latest " (site.accuracy_labels) " right before learning them"
                }
                @if let Some(reset) = &reset {
                    span.reset data-reset-ms=(reset.at_ms) {
                        "; reset " (views::time(reset.at_ms)) " by " (reset.by)
                        " (" (reset.labels_dropped) " labels dropped)"
                    }
                }
            }
        }
        h2 { "Last 24 hours, by hour of submission" }
        (hourly_chart(&day.per_hour, start))
        h2 { "Reasons (last 24 hours)" }
        (reasons_chart(&day.reasons))
    };
    let viewer = Viewer {
        moderator: &session.moderator,
        csrf: &session.csrf,
    };
    Ok(Html(
        views::layout("Stats", Some(viewer), body).into_string(),
    ))
}

/// One bar segment of the hourly chart.
struct Segment {
    x: f64,
    top: f64,
    height: f64,
    count: u64,
    class: &'static str,
}

/// Stacked bars per hour: held, spam, approved.
fn hourly_chart(per_hour: &[[u64; 3]], start: u64) -> Markup {
    let (width, height, left, bottom) = (760.0, 220.0, 40.0, 24.0);
    let max = per_hour
        .iter()
        .map(|h| h.iter().sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let slot = (width - left) / per_hour.len().max(1) as f64;
    let scale = (height - bottom - 10.0) / max;
    let mut segments = Vec::new();
    for (i, counts) in per_hour.iter().enumerate() {
        let x = left + i as f64 * slot + 2.0;
        let mut top = height - bottom;
        for (series, (_, class)) in CHARTED.iter().enumerate() {
            let h = counts[series] as f64 * scale;
            top -= h;
            if counts[series] > 0 {
                segments.push(Segment {
                    x,
                    top,
                    height: h,
                    count: counts[series],
                    class,
                });
            }
        }
    }
    let ticks = (0..per_hour.len()).step_by(4).map(|i| {
        let label = views::time(start + i as u64 * HOUR_MS);
        (
            left + i as f64 * slot + 2.0,
            label.get(11..16).unwrap_or("").to_owned(),
        )
    });
    html! {
        svg.chart #hourly viewBox={ "0 0 " (width) " " (height) } role="img" aria-label="Comments per hour by status" {
            line x1=(left) y1=(height - bottom) x2=(width) y2=(height - bottom) class="axis" {}
            text x="2" y="14" class="label" { (max as u64) }
            @for s in &segments {
                rect x=(format!("{:.1}", s.x)) y=(format!("{:.1}", s.top)) width=(format!("{:.1}", slot - 4.0))
                     height=(format!("{:.1}", s.height)) class=(s.class) {
                    title { (s.count) " " (s.class) }
                }
            }
            @for (x, label) in ticks {
                text x=(format!("{x:.1}")) y=(height - 6.0) class="label" { (label) }
            }
        }
        p.legend { span.key.held { "held" } " " span.key.spam { "spam" } " " span.key.approved { "approved" } " (hours in UTC)" }
    }
}

/// Horizontal bars per reason code.
fn reasons_chart(reasons: &[(ReasonCode, u64)]) -> Markup {
    let max = reasons.iter().map(|r| r.1).max().unwrap_or(0).max(1) as f64;
    let row = 22.0;
    let height = row * reasons.len().max(1) as f64 + 4.0;
    html! {
        svg.chart #reasons viewBox={ "0 0 760 " (height) } role="img" aria-label="Reasons by code" {
            @if reasons.is_empty() { text x="4" y="16" class="label" { "No reasons in the last 24 hours." } }
            @for (i, (code, count)) in reasons.iter().enumerate() {
                @let y = i as f64 * row + 2.0;
                text x="0" y=(format!("{:.1}", y + 15.0)) class="label" { (code.as_str()) }
                rect x="160" y=(format!("{y:.1}")) width=(format!("{:.1}", 520.0 * *count as f64 / max)) height="18" class="reason" data-code=(code.as_str()) {}
                text x=(format!("{:.1}", 166.0 + 520.0 * *count as f64 / max)) y=(format!("{:.1}", y + 15.0)) class="label" { (count) }
            }
        }
    }
}
