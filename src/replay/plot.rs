//! Score plots: how spam and ham scores are distributed, and the ROC curve with the
//! configured thresholds marked, drawn to a PNG so a threshold choice can be seen, not guessed.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::policy::Thresholds;

/// Name the embedded font is registered under.
const FONT: &str = "sans-serif";

/// Registers the embedded DejaVu Sans once, so text renders without system fonts.
fn register_font() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
    });
}

/// One point of the ROC curve: the rates when flagging at `threshold` and above.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RocPoint {
    /// Score at or above which a comment is flagged.
    pub threshold: f64,
    /// Share of ham flagged.
    pub false_positive_rate: f64,
    /// Share of spam flagged.
    pub true_positive_rate: f64,
}

/// The ROC point of flagging at `threshold`.
pub fn roc_point(scores: &[(f64, bool)], threshold: f64) -> RocPoint {
    let (mut tp, mut fp, mut spam, mut ham) = (0u64, 0u64, 0u64, 0u64);
    for &(score, is_spam) in scores {
        let flagged = score >= threshold;
        if is_spam {
            spam += 1;
            tp += u64::from(flagged);
        } else {
            ham += 1;
            fp += u64::from(flagged);
        }
    }
    let rate = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    RocPoint {
        threshold,
        false_positive_rate: rate(fp, ham),
        true_positive_rate: rate(tp, spam),
    }
}

/// The ROC curve over every distinct score, from flagging nothing to flagging everything.
pub fn roc_curve(scores: &[(f64, bool)]) -> Vec<RocPoint> {
    let mut thresholds: Vec<f64> = scores.iter().map(|s| s.0).collect();
    thresholds.push(f64::INFINITY);
    thresholds.sort_by(|a, b| b.total_cmp(a));
    thresholds.dedup();
    thresholds.push(f64::NEG_INFINITY);
    thresholds.iter().map(|&t| roc_point(scores, t)).collect()
}

/// The plot could not be drawn or written.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw the plot {path}: {message}")]
pub struct PlotError {
    /// The PNG file.
    pub path: PathBuf,
    /// What the drawing library reported (its errors are generic over the backend).
    pub message: String,
}

/// Draws the score histograms (spam and ham, with threshold lines) and the ROC curve (with
/// the thresholds' operating points) side by side into a PNG at `path`.
///
/// # Errors
/// When the image cannot be drawn or written.
pub fn draw(path: &Path, scores: &[(f64, bool)], thresholds: Thresholds) -> Result<(), PlotError> {
    render(path, scores, thresholds).map_err(|e| PlotError {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn render(
    path: &Path,
    scores: &[(f64, bool)],
    thresholds: Thresholds,
) -> Result<(), Box<dyn std::error::Error>> {
    register_font();
    let root = BitMapBackend::new(path, (1200, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(650);
    draw_histograms(&left, scores, thresholds)?;
    draw_roc(&right, scores, thresholds)?;
    root.present()?;
    Ok(())
}

/// A part of the image to draw one chart in.
type Panel<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// The embedded font at `size`, for every text of the plots.
fn text(size: i32) -> FontDesc<'static> {
    (FONT, size).into_font()
}

/// Score bins of the histograms, each 1 / `BINS` wide.
const BINS: usize = 20;

/// The series' legend box, drawn alike on every chart, at `position`.
fn draw_legend<'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, BitMapBackend<'a>, CT>,
    position: SeriesLabelPosition,
) -> Result<(), DrawingAreaErrorKind<<BitMapBackend<'a> as DrawingBackend>::ErrorType>> {
    chart
        .configure_series_labels()
        .label_font(text(14))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(position)
        .draw()
}

/// How many spam and how many ham comments fall in each score bin (scores outside [0, 1]
/// count in the first or last).
fn bin_counts(scores: &[(f64, bool)]) -> ([u32; BINS], [u32; BINS]) {
    let mut spam = [0u32; BINS];
    let mut ham = [0u32; BINS];
    for &(score, is_spam) in scores {
        let bin = ((score.clamp(0.0, 1.0) * BINS as f64) as usize).min(BINS - 1);
        if is_spam {
            spam[bin] += 1;
        } else {
            ham[bin] += 1;
        }
    }
    (spam, ham)
}

/// The left panel: the spam and ham score histograms, with the thresholds as vertical lines.
fn draw_histograms(
    area: &Panel<'_>,
    scores: &[(f64, bool)],
    thresholds: Thresholds,
) -> Result<(), Box<dyn std::error::Error>> {
    let (spam, ham) = bin_counts(scores);
    let top = spam.iter().chain(&ham).copied().max().unwrap_or(1).max(1);
    let mut chart = ChartBuilder::on(area)
        .caption("Spam score distribution", text(22))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..1.0, 0u32..top + top / 10 + 1)?;
    chart
        .configure_mesh()
        .x_desc("spam score")
        .y_desc("comments")
        .label_style(text(14))
        .axis_desc_style(text(15))
        .draw()?;
    let width = 1.0 / BINS as f64;
    for (counts, color, name) in [(&ham, BLUE, "ham"), (&spam, RED, "spam")] {
        chart
            .draw_series(counts.iter().enumerate().map(|(i, &n)| {
                let x = i as f64 * width;
                Rectangle::new([(x, 0), (x + width, n)], color.mix(0.4).filled())
            }))?
            .label(name)
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 15, y + 5)], color.mix(0.4).filled())
            });
    }
    for (t, name, color) in [
        (thresholds.pending, "pending", GREEN),
        (thresholds.spam, "spam", RED),
    ] {
        chart
            .draw_series(LineSeries::new([(t, 0), (t, top)], color.stroke_width(2)))?
            .label(format!("{name} threshold {t:.2}"))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 15, y)], color.stroke_width(2)));
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperMiddle)?;
    Ok(())
}

/// The right panel: the ROC curve, with each threshold's operating point marked.
fn draw_roc(
    area: &Panel<'_>,
    scores: &[(f64, bool)],
    thresholds: Thresholds,
) -> Result<(), Box<dyn std::error::Error>> {
    let curve = roc_curve(scores);
    let mut roc = ChartBuilder::on(area)
        .caption("ROC", text(22))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..1.0, 0.0..1.0)?;
    roc.configure_mesh()
        .x_desc("ham flagged (false positive rate)")
        .y_desc("spam flagged (recall)")
        .label_style(text(14))
        .axis_desc_style(text(15))
        .draw()?;
    roc.draw_series(LineSeries::new(
        curve
            .iter()
            .map(|p| (p.false_positive_rate, p.true_positive_rate)),
        BLUE.stroke_width(2),
    ))?;
    for (t, color) in [(thresholds.pending, GREEN), (thresholds.spam, RED)] {
        let p = roc_point(scores, t);
        roc.draw_series([Circle::new(
            (p.false_positive_rate, p.true_positive_rate),
            6,
            color.filled(),
        )])?
        .label(format!(
            "threshold {t:.2}: recall {:.3}, ham flagged {:.3}",
            p.true_positive_rate, p.false_positive_rate
        ))
        .legend(move |(x, y)| Circle::new((x + 7, y), 5, color.filled()));
    }
    draw_legend(&mut roc, SeriesLabelPosition::LowerRight)?;
    Ok(())
}

/// Draws a learning curve into a PNG at `path`: per consecutive window of a stream (x: the
/// window's last record), its MCC, recall and share of ham flagged, so whether corrections
/// made the service better later in the stream can be seen.
///
/// # Errors
/// When the image cannot be drawn or written.
pub fn draw_learning_curve(
    path: &Path,
    windows: &[crate::replay::feedback::Window],
) -> anyhow::Result<()> {
    register_font();
    let root = BitMapBackend::new(path, (900, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let last = windows.last().map_or(1, |w| w.end).max(1) as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption("Learning curve with moderator feedback", text(22))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..last, -0.2..1.0)?;
    chart
        .configure_mesh()
        .x_desc("records replayed")
        .y_desc("per window")
        .label_style(text(14))
        .axis_desc_style(text(15))
        .draw()?;
    type Figure = fn(&crate::confusion::Metrics) -> f64;
    let series: [(&str, RGBColor, Figure); 3] = [
        ("mcc", BLUE, |m| m.mcc),
        ("recall", GREEN, |m| m.recall),
        ("ham flagged", RED, |m| m.ham_false_positive_rate),
    ];
    for (name, color, figure) in series {
        let points = windows.iter().map(|w| (w.end as f64, figure(&w.metrics)));
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 15, y)], color.stroke_width(2)));
    }
    draw_legend(&mut chart, SeriesLabelPosition::LowerRight)?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roc_runs_from_nothing_to_everything_flagged() {
        let scores = [(0.9, true), (0.8, false), (0.7, true), (0.1, false)];
        let curve = roc_curve(&scores);
        let first = curve.first().unwrap();
        let last = curve.last().unwrap();
        assert_eq!(
            (first.false_positive_rate, first.true_positive_rate),
            (0.0, 0.0)
        );
        assert_eq!(
            (last.false_positive_rate, last.true_positive_rate),
            (1.0, 1.0)
        );
        let at = roc_point(&scores, 0.75);
        assert_eq!((at.false_positive_rate, at.true_positive_rate), (0.5, 0.5));
    }

    #[test]
    fn draws_a_png() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scores.png");
        let scores: Vec<_> = (0..200)
            .map(|i| (f64::from(i) / 200.0, i % 3 == 0))
            .collect();
        draw(&path, &scores, Thresholds::default()).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"));
        assert!(bytes.len() > 10_000);
    }
}
