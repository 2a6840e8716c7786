//! `commentguard import` and `commentguard export`: a site's comment history in and out of a
//! running service, through the moderation API (so it works on any backend and frontend).

use std::collections::BTreeMap;
use std::io::{self, IsTerminal as _, Write};
use std::path::PathBuf;

use super::client::{DEFAULT_ADDR, describe_status};
use super::queue::{Client, moderator_client};
use crate::import::{self, Format, Parsed, SourceComment};
use crate::proto::{self as pb, CommentStatus, import_result::Outcome};

/// Comments per `ImportComments` call at most (the server's limit).
const MAX_BATCH: usize = 500;

/// Where the service is and who is asking.
#[derive(Debug, clap::Args)]
pub struct Connection {
    /// Server address.
    #[arg(long, default_value = DEFAULT_ADDR, env = "COMMENTGUARD_ADDR")]
    pub addr: String,
    /// PEM CA certificate(s) to verify the server's TLS certificate with.
    #[arg(long, env = "COMMENTGUARD_TLS_CA", value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// Moderator token.
    #[arg(long, env = "COMMENTGUARD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

impl Connection {
    async fn client(&self) -> anyhow::Result<Client> {
        moderator_client(&self.addr, self.tls_ca.as_deref(), self.token.as_deref()).await
    }
}

/// Arguments of `commentguard import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Where the service is.
    #[command(flatten)]
    pub connection: Connection,
    /// What kind of export FILE is.
    #[arg(long, value_enum)]
    pub format: Format,
    /// Print one JSON object with the counts and reasons instead of a summary line.
    #[arg(long)]
    pub json: bool,
    /// Comments per call (at most 500).
    #[arg(long, default_value_t = 200)]
    pub batch: usize,
    /// The export file.
    pub file: PathBuf,
}

/// What an import did, as `--json` prints it.
#[derive(Debug, Default, serde::Serialize)]
struct Report {
    file: String,
    /// Entries of the file that are comments or could be.
    entries: usize,
    imported: u64,
    /// Not imported: left out by the reader (with reasons) or already present.
    skipped: u64,
    already_present: u64,
    failed: u64,
    /// Why entries were skipped, with how many each.
    skip_reasons: BTreeMap<String, u64>,
    /// Comments the service refused, with why.
    failures: Vec<Failure>,
    /// Imported labels (APPROVED, SPAM) and how many the classifier agreed with.
    labels: u64,
    agreed: u64,
    /// `agreed / labels`, 0 when there are none.
    agreement: f64,
}

#[derive(Debug, serde::Serialize)]
struct Failure {
    comment_id: String,
    reason: String,
}

/// Reads the export, sends it in batches and prints what happened.
///
/// # Errors
/// An unreadable or malformed file (naming its line and column), a server that cannot be
/// reached or refuses the token, or comments that failed (after printing the report).
pub async fn import(args: ImportArgs) -> anyhow::Result<()> {
    let parsed = read(&args.file, args.format)?;
    let mut client = args.connection.client().await?;
    let mut report = Report {
        file: args.file.display().to_string(),
        entries: parsed.comments.len() + parsed.skipped.len(),
        skipped: parsed.skipped.len() as u64,
        ..Report::default()
    };
    for skipped in &parsed.skipped {
        *report
            .skip_reasons
            .entry(skipped.reason.clone())
            .or_default() += 1;
    }
    let progress = progress_bar(parsed.comments.len() as u64, args.json);
    for chunk in parsed.comments.chunks(args.batch.clamp(1, MAX_BATCH)) {
        let request = pb::ImportCommentsRequest {
            comments: chunk.iter().map(imported).collect(),
        };
        let answer = client
            .import_comments(request)
            .await
            .map_err(describe_status)?
            .into_inner();
        report.add(chunk, &answer);
        progress.inc(chunk.len() as u64);
    }
    progress.finish_and_clear();
    report.agreement = ratio(report.agreed, report.labels);
    report.print(args.json)?;
    if report.failed > 0 {
        anyhow::bail!("{} comments of {} failed", report.failed, report.file);
    }
    Ok(())
}

/// The export in `path`, parsed.
fn read(path: &std::path::Path, format: Format) -> anyhow::Result<Parsed> {
    let name = path.display();
    let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {name}: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let before = String::from_utf8_lossy(valid);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        anyhow::anyhow!("{name}:{line}:{column}: not UTF-8 text")
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    import::parse(format, text).map_err(|e| {
        anyhow::anyhow!(
            "{name}:{}:{}: malformed XML: {}",
            e.line,
            e.column,
            e.message
        )
    })
}

fn progress_bar(total: u64, json: bool) -> indicatif::ProgressBar {
    if json || !io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bar:40} {pos}/{len} comments imported ({eta} left)",
    ) {
        bar.set_style(style);
    }
    bar
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// The request form of a parsed comment.
fn imported(c: &SourceComment) -> pb::ImportedComment {
    let status = match c.status {
        crate::comment::Status::Approved => CommentStatus::Approved,
        crate::comment::Status::Pending => CommentStatus::Pending,
        crate::comment::Status::Spam => CommentStatus::Spam,
        crate::comment::Status::Trash => CommentStatus::Trash,
    };
    pb::ImportedComment {
        comment_id: c.id.to_string(),
        post_id: c.post_id.clone(),
        parent_id: c.parent_id.map(|p| p.to_string()).unwrap_or_default(),
        author_name: c.author_name.clone(),
        author_email: c.author_email.clone(),
        author_url: c.author_url.clone(),
        content: c.content.clone(),
        created_at: Some(prost_types::Timestamp {
            seconds: i64::try_from(c.created_at_ms / 1000).unwrap_or(i64::MAX),
            nanos: ((c.created_at_ms % 1000) * 1_000_000) as i32,
        }),
        status: status.into(),
        ip: c.ip.clone(),
        user_agent: String::new(),
    }
}

impl Report {
    fn add(&mut self, sent: &[SourceComment], answer: &pb::ImportCommentsResponse) {
        for (comment, result) in sent.iter().zip(&answer.results) {
            match Outcome::try_from(result.outcome) {
                Ok(Outcome::Imported) => self.imported += 1,
                Ok(Outcome::AlreadyPresent) => {
                    self.already_present += 1;
                    self.skipped += 1;
                }
                _ => {
                    self.failed += 1;
                    self.failures.push(Failure {
                        comment_id: comment.id.to_string(),
                        reason: result.error.clone(),
                    });
                }
            }
        }
        self.labels += answer.labels;
        self.agreed += answer.agreed;
    }

    fn print(&self, json: bool) -> io::Result<()> {
        let mut out = io::stdout().lock();
        if json {
            serde_json::to_writer(&mut out, self)?;
            return writeln!(out);
        }
        writeln!(
            out,
            "{}: imported {}, skipped {} ({} already present), failed {}; the classifier agreed with {:.1} % of {} imported decisions",
            self.file,
            self.imported,
            self.skipped,
            self.already_present,
            self.failed,
            self.agreement * 100.0,
            self.labels
        )?;
        for (reason, count) in &self.skip_reasons {
            writeln!(out, "  skipped {count}: {reason}")?;
        }
        for failure in &self.failures {
            writeln!(out, "  failed {}: {}", failure.comment_id, failure.reason)?;
        }
        Ok(())
    }
}

/// The formats `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// One JSON object per comment and line (everything a moderator sees).
    Jsonl,
    /// WordPress eXtended RSS 1.2, which `commentguard import --format wxr` and WordPress read.
    Wxr,
}

/// Arguments of `commentguard export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Where the service is.
    #[command(flatten)]
    pub connection: Connection,
    /// What to write.
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// Include the private fields: authors' emails and IP addresses.
    #[arg(long)]
    pub include_emails: bool,
    /// Write here instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Writes every stored comment, of every status, oldest first.
///
/// # Errors
/// A server that cannot be reached or refuses the token, or a failed write.
pub async fn export(args: ExportArgs) -> anyhow::Result<()> {
    let mut client = args.connection.client().await?;
    let mut comments = Vec::new();
    for status in [
        CommentStatus::Approved,
        CommentStatus::Pending,
        CommentStatus::Spam,
        CommentStatus::Trash,
    ] {
        comments.extend(all_in(&mut client, status).await?);
    }
    comments.sort_by_key(|c| {
        let public = c.comment.as_ref();
        let at = public.and_then(|p| p.created_at).map_or(0, |t| t.seconds);
        (at, public.map(|p| p.comment_id.clone()))
    });
    if !args.include_emails {
        for c in &mut comments {
            c.author_email.clear();
            c.ip.clear();
        }
    }
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(
            std::fs::File::create(path)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?,
        ),
        None => Box::new(io::stdout().lock()),
    };
    let mut out = io::BufWriter::new(&mut out);
    match args.format {
        ExportFormat::Jsonl => super::export::jsonl(&mut out, &comments)?,
        ExportFormat::Wxr => super::export::wxr(&mut out, &comments)?,
    }
    out.flush()?;
    Ok(())
}

/// Every comment in `status`, page by page.
async fn all_in(
    client: &mut Client,
    status: CommentStatus,
) -> anyhow::Result<Vec<pb::ModeratedComment>> {
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_queue(pb::ListQueueRequest {
                status: status.into(),
                post_id: String::new(),
                page_size: 500,
                page_token,
            })
            .await
            .map_err(describe_status)?
            .into_inner();
        all.extend(page.comments);
        if page.next_page_token.is_empty() {
            return Ok(all);
        }
        page_token = page.next_page_token;
    }
}
