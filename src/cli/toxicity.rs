//! `train --toxicity` and `eval --toxicity`: the toxicity model's training and measures.

use std::io::Write;
use std::path::Path;

use anyhow::Context as _;
use sha2::{Digest, Sha256};

use super::{eval, train};
use crate::classifier::ModelFile;
use crate::dataset::{DatasetInfo, Format};
use crate::policy::Thresholds;
use crate::toxicity::dataset::{self, ToxicRow};
use crate::toxicity::measure::{ToxicityReport, measure};
use crate::toxicity::{ToxicityModel, train as fit};

/// Reads every dataset, saying on stderr what each held.
fn read_all(paths: &[std::path::PathBuf]) -> anyhow::Result<(Vec<DatasetInfo>, Vec<ToxicRow>)> {
    let mut infos = Vec::new();
    let mut rows = Vec::new();
    for path in paths {
        let read = dataset::read(path)?;
        let toxic = read.iter().filter(|r| r.is_toxic()).count();
        eprintln!(
            "read {}: {} comments ({toxic} toxic, {} clean)",
            path.display(),
            read.len(),
            read.len() - toxic
        );
        infos.push(info(path, &read)?);
        rows.extend(read);
    }
    Ok((infos, rows))
}

/// The fingerprint of a toxicity dataset for the model file (toxic counted as `spam`).
fn info(path: &Path, rows: &[ToxicRow]) -> anyhow::Result<DatasetInfo> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let toxic = rows.iter().filter(|r| r.is_toxic()).count();
    Ok(DatasetInfo {
        file: path
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        format: Format::Jsonl,
        records: rows.len(),
        spam: toxic,
        ham: rows.len() - toxic,
        sha256: hex::encode(Sha256::digest(&bytes)),
    })
}

/// `train --toxicity`: fits the toxicity recipe and writes the model with its span settings.
///
/// # Errors
/// Unreadable datasets, a recipe override out of range, training failures, an unwritable
/// output.
pub fn train(args: &train::Args) -> anyhow::Result<()> {
    let params = args.recipe.params_over(fit::features())?;
    let (infos, rows) = read_all(&args.datasets)?;
    anyhow::ensure!(!rows.is_empty(), "no labelled comments to train on");
    let started = std::time::Instant::now();
    let trained = fit::fit(&params, &rows)?;
    eprintln!("training took {:.1} s", started.elapsed().as_secs_f64());
    let name = args.out.file_stem().map_or_else(
        || "toxicity".to_owned(),
        |s| s.to_string_lossy().into_owned(),
    );
    let command = std::iter::once("commentguard".to_owned())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let mut file = ModelFile::new(&name, command, params, infos, None, &trained.filter);
    file.spans = Some(trained.spans);
    file.checksum = file.compute_checksum();
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    file.save(&args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    let model = ToxicityModel::from_parts(&file, trained.filter);
    writeln!(
        std::io::stdout().lock(),
        "wrote {} ({} terms, version {}, span threshold {:.2})",
        args.out.display(),
        file.parameters.vocabulary.len(),
        model.version(),
        file.spans.as_ref().map_or(0.0, |s| s.threshold)
    )?;
    Ok(())
}

/// `eval --toxicity`: the model's figures on each dataset, or, with
/// `--leave-one-source-out`, the recipe's on each source when trained on the others.
///
/// # Errors
/// Unreadable datasets or model, training failures.
pub fn eval(args: &eval::Args) -> anyhow::Result<()> {
    let threshold = args.threshold.unwrap_or(Thresholds::DEFAULT_TOXICITY);
    let mut parts: Vec<(String, ToxicityReport)> = Vec::new();
    if args.leave_one_source_out {
        let params = args.recipe.params_over(fit::features())?;
        let (_, rows) = read_all(&args.datasets)?;
        let mut sources: Vec<&str> = rows.iter().map(|r| r.source.as_str()).collect();
        sources.sort_unstable();
        sources.dedup();
        anyhow::ensure!(
            sources.len() >= 2,
            "--leave-one-source-out needs two sources"
        );
        for held in sources {
            let test: Vec<ToxicRow> = rows.iter().filter(|r| r.source == held).cloned().collect();
            // A text the held source also has is no example of an unseen community.
            let seen: std::collections::HashSet<String> =
                test.iter().map(|r| eval::same_text(&r.content)).collect();
            let train_rows: Vec<ToxicRow> = rows
                .iter()
                .filter(|r| r.source != held && !seen.contains(&eval::same_text(&r.content)))
                .cloned()
                .collect();
            let trained = fit::fit(&params, &train_rows)?;
            let mut file = ModelFile::new(
                held,
                String::new(),
                params.clone(),
                Vec::new(),
                None,
                &trained.filter,
            );
            file.spans = Some(trained.spans);
            let model = ToxicityModel::from_parts(&file, trained.filter);
            parts.push((held.to_owned(), measure(&model, &test, threshold)));
        }
    } else {
        let model = ToxicityModel::load_or_shipped(args.model.as_deref())?;
        for path in &args.datasets {
            let rows = dataset::read(path)?;
            parts.push((eval::file_name(path), measure(&model, &rows, threshold)));
        }
    }
    print(&parts, args.json)
}

fn print(parts: &[(String, ToxicityReport)], json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        if let [(_, only)] = parts {
            writeln!(out, "{}", serde_json::to_string(only)?)?;
        } else {
            for (name, report) in parts {
                let mut value = serde_json::to_value(report)?;
                value["dataset"] = name.clone().into();
                writeln!(out, "{value}")?;
            }
        }
        return Ok(());
    }
    let shown = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.4}"));
    writeln!(
        out,
        "{:<28} {:>6} {:>6} {:>8} {:>7} {:>7} {:>13} {:>8}",
        "dataset", "rows", "toxic", "roc_auc", "mcc", "recall", "clean flagged", "span_f1"
    )?;
    for (name, r) in parts {
        writeln!(
            out,
            "{name:<28} {:>6} {:>6} {:>8} {:>7.4} {:>7.4} {:>13.4} {:>8}",
            r.rows,
            r.toxic,
            shown(r.roc_auc),
            r.mcc,
            r.recall,
            r.clean_flagged_rate,
            shown(r.span_f1)
        )?;
    }
    if let Some((_, first)) = parts.first() {
        writeln!(out, "at threshold {}", first.threshold)?;
    }
    Ok(())
}
