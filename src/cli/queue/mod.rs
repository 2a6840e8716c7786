//! `commentguard queue ...`: working the review queue from a terminal over the moderation API.
//! Human-readable tables by default, one JSON object per line with `--json`.

mod site_model;
mod watch;

use std::io::{self, Write};

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use super::client::{DEFAULT_ADDR, describe_status, status_name};
use crate::proto::moderate_comment_request::Action as ModerationAction;
use crate::proto::moderation_service_client::ModerationServiceClient;
use crate::proto::{self as pb, CommentStatus};

/// Arguments of `commentguard queue`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Server address.
    #[arg(long, global = true, default_value = DEFAULT_ADDR, env = "COMMENTGUARD_ADDR")]
    pub addr: String,
    /// PEM CA certificate(s) to verify the server's TLS certificate with; `https://`
    /// addresses without it use the system's roots.
    #[arg(long, global = true, env = "COMMENTGUARD_TLS_CA", value_name = "FILE")]
    pub tls_ca: Option<std::path::PathBuf>,
    /// Moderator token.
    #[arg(
        long,
        global = true,
        env = "COMMENTGUARD_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// One JSON object per line instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The queue subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List comments in one status, newest first.
    List {
        /// PENDING, SPAM, TRASH or APPROVED.
        #[arg(long, default_value = "PENDING")]
        status: String,
        /// Only this post.
        #[arg(long, default_value = "")]
        post: String,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Show one comment with everything a moderator may see.
    Show {
        /// Comment id.
        id: String,
    },
    /// Publish comments.
    Approve(Decide),
    /// Mark comments as spam.
    Spam(Decide),
    /// Move comments to the trash.
    Trash(Decide),
    /// Take comments out of the trash.
    Restore(Decide),
    /// Take comments back into the queue.
    Hold(Decide),
    /// Print queue events as they happen, until interrupted.
    Watch {
        /// Only comments now in these statuses (repeatable).
        #[arg(long)]
        status: Vec<String>,
        /// Only this post.
        #[arg(long, default_value = "")]
        post: String,
        /// Reconnect when the connection drops or the server restarts (with a backoff of at
        /// most 10 s) and resume right after the last event printed, missing none.
        #[arg(long)]
        resume: bool,
        /// Keep the last event's cursor in this file and start after it, so that a later
        /// run resumes where this one stopped.
        #[arg(long, value_name = "FILE")]
        cursor_file: Option<std::path::PathBuf>,
    },
    /// Erase everything held about one email address.
    Erase {
        /// The address.
        email: String,
    },
    /// Counts by status, activity per hour, model and agreement.
    Stats,
    /// Drop what this site's labels taught the site model (the labels stay stored); it
    /// learns again from the labels given after. Recorded with your name and the note.
    ResetSiteModel {
        /// Why, for the record.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// The audit log, newest first.
    Audit {
        /// Only this comment's entries.
        #[arg(long, default_value = "")]
        comment: String,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

/// Ids and an optional note for a decision.
#[derive(Debug, clap::Args)]
pub struct Decide {
    /// Comment ids.
    #[arg(required = true)]
    pub ids: Vec<String>,
    /// Why, for the audit log.
    #[arg(long, default_value = "")]
    pub note: String,
}

/// Adds the moderator's bearer token to every call.
#[derive(Debug, Clone)]
pub(super) struct Bearer(MetadataValue<Ascii>);

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// The moderation API with the moderator's token on every call.
pub(super) type Client = ModerationServiceClient<InterceptedService<Channel, Bearer>>;

pub(super) async fn connect(args: &Args) -> anyhow::Result<Client> {
    moderator_client(&args.addr, args.tls_ca.as_deref(), args.token.as_deref()).await
}

/// Connects to the moderation API at `addr` as the moderator whose `token` it is.
///
/// # Errors
/// No token, a token that is not printable ASCII, or a server that cannot be reached.
pub(super) async fn moderator_client(
    addr: &str,
    tls_ca: Option<&std::path::Path>,
    token: Option<&str>,
) -> anyhow::Result<Client> {
    let token = token.ok_or_else(|| {
        anyhow::anyhow!("a moderator token is needed: pass --token or set COMMENTGUARD_TOKEN")
    })?;
    let bearer: MetadataValue<Ascii> = format!("Bearer {token}")
        .parse()
        .map_err(|_| anyhow::anyhow!("the token must be printable ASCII"))?;
    let channel = super::client::channel(addr, tls_ca).await?;
    Ok(ModerationServiceClient::with_interceptor(
        channel,
        Bearer(bearer),
    ))
}

fn parse_status(text: &str) -> anyhow::Result<CommentStatus> {
    CommentStatus::from_str_name(&text.to_ascii_uppercase())
        .filter(|s| *s != CommentStatus::Unspecified)
        .ok_or_else(|| {
            anyhow::anyhow!("unknown status {text:?}: use PENDING, SPAM, TRASH or APPROVED")
        })
}

fn seconds(t: Option<prost_types::Timestamp>) -> i64 {
    t.map_or(0, |t| t.seconds)
}

fn comment_json(m: &pb::ModeratedComment) -> serde_json::Value {
    let c = m.comment.clone().unwrap_or_default();
    serde_json::json!({
        "comment_id": c.comment_id,
        "post_id": c.post_id,
        "status": status_name(m.status),
        "spam_score": m.spam_score,
        "author_name": c.author_name,
        "author_email": m.author_email,
        "author_url": c.author_url,
        "ip": m.ip,
        "user_agent": m.user_agent,
        "content": c.content,
        "created_at": seconds(c.created_at),
        "reasons": m.reasons.iter().map(|r| serde_json::json!({"code": r.code, "detail": r.detail, "weight": r.weight})).collect::<Vec<_>>(),
        "decided_by": m.decided_by,
        "decided_at": m.decided_at.map(|t| t.seconds),
    })
}

/// One line of text, at most `max` characters, for a table cell.
fn cell(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        let cut: String = flat.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

fn row(m: &pb::ModeratedComment) -> String {
    let c = m.comment.clone().unwrap_or_default();
    format!(
        "{:<36}  {:<8}  {:>5.3}  {:<14}  {:<24}  {}",
        c.comment_id,
        status_name(m.status),
        m.spam_score,
        cell(&c.post_id, 14),
        cell(&m.author_email, 24),
        cell(&c.content, 48)
    )
}

const HEADER: &str = "ID                                    STATUS    SCORE  POST            EMAIL                     CONTENT";

fn show(out: &mut impl Write, m: &pb::ModeratedComment) -> io::Result<()> {
    let c = m.comment.clone().unwrap_or_default();
    writeln!(
        out,
        "{}  {}  spam score {:.3}",
        c.comment_id,
        status_name(m.status),
        m.spam_score
    )?;
    writeln!(out, "  post        {}", c.post_id)?;
    writeln!(out, "  author      {} <{}>", c.author_name, m.author_email)?;
    if !c.author_url.is_empty() {
        writeln!(out, "  website     {}", c.author_url)?;
    }
    if !m.ip.is_empty() {
        writeln!(out, "  ip          {}", m.ip)?;
    }
    if !m.decided_by.is_empty() {
        writeln!(out, "  decided by  {}", m.decided_by)?;
    }
    crate::cli::write_reasons(out, &m.reasons)?;
    for line in c.content.lines() {
        writeln!(out, "    {line}")?;
    }
    Ok(())
}

/// Runs one queue subcommand.
///
/// # Errors
/// Connection failures, refused calls (with the server's message), and for decisions on
/// several ids, any one that failed (the others are still applied).
pub async fn run(args: Args) -> anyhow::Result<()> {
    let mut client = connect(&args).await?;
    // Not locked: the handle is held across awaits. Write errors (a closed pipe) end the
    // command; `main` treats a broken pipe as a quiet success.
    let out = &mut io::stdout();
    let json = args.json;
    match args.command {
        Command::List {
            status,
            post,
            limit,
        } => list(&mut client, &status, post, limit, json, out).await?,
        Command::Show { id } => show_comment(&mut client, id, json, out).await?,
        Command::Approve(d) => decide(&mut client, ModerationAction::Approve, d, json, out).await?,
        Command::Spam(d) => decide(&mut client, ModerationAction::MarkSpam, d, json, out).await?,
        Command::Trash(d) => decide(&mut client, ModerationAction::Trash, d, json, out).await?,
        Command::Restore(d) => decide(&mut client, ModerationAction::Restore, d, json, out).await?,
        Command::Hold(d) => decide(&mut client, ModerationAction::Hold, d, json, out).await?,
        Command::Watch {
            ref status,
            ref post,
            resume,
            ref cursor_file,
        } => {
            let watch = watch_of(status, post, resume, cursor_file.as_deref(), json)?;
            watch::run(&args, client, watch, out).await?;
        }
        Command::Erase { email } => erase(&mut client, email, json, out).await?,
        Command::Stats => {
            let stats = client
                .get_stats(pb::GetStatsRequest::default())
                .await
                .map_err(describe_status)?
                .into_inner();
            print_stats(out, &stats, json)?;
        }
        Command::ResetSiteModel { note } => {
            site_model::reset(&mut client, note, json, out).await?;
        }
        Command::Audit { comment, limit } => {
            let page = client
                .list_audit(pb::ListAuditRequest {
                    comment_id: comment,
                    page_size: limit,
                    page_token: String::new(),
                })
                .await
                .map_err(describe_status)?
                .into_inner();
            print_audit(out, &page, json)?;
        }
    }
    Ok(())
}

/// `queue list`: one page of comments in a status, as a table or JSON lines.
async fn list(
    client: &mut Client,
    status: &str,
    post: String,
    limit: u32,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let page = client
        .list_queue(pb::ListQueueRequest {
            status: parse_status(status)?.into(),
            post_id: post,
            page_size: limit,
            page_token: String::new(),
        })
        .await
        .map_err(describe_status)?
        .into_inner();
    if json {
        for m in &page.comments {
            writeln!(out, "{}", comment_json(m))?;
        }
    } else {
        writeln!(out, "{HEADER}")?;
        for m in &page.comments {
            writeln!(out, "{}", row(m))?;
        }
        writeln!(out, "{} comment(s)", page.comments.len())?;
    }
    Ok(())
}

/// `queue show`: one comment, in full or as JSON.
async fn show_comment(
    client: &mut Client,
    id: String,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let m = client
        .get_comment(pb::GetCommentRequest { comment_id: id })
        .await
        .map_err(describe_status)?
        .into_inner();
    if json {
        writeln!(out, "{}", comment_json(&m))?;
    } else {
        show(out, &m)?;
    }
    Ok(())
}

/// What `queue watch` asks for and how it prints, from its arguments (statuses checked).
fn watch_of(
    status: &[String],
    post: &str,
    resume: bool,
    cursor_file: Option<&std::path::Path>,
    json: bool,
) -> anyhow::Result<watch::Watch> {
    let statuses = status
        .iter()
        .map(|s| parse_status(s).map(i32::from))
        .collect::<anyhow::Result<_>>()?;
    Ok(watch::Watch {
        request: pb::WatchQueueRequest {
            statuses,
            post_id: post.to_owned(),
            after_cursor: String::new(),
        },
        json,
        resume,
        cursor_file: cursor_file.map(std::path::Path::to_path_buf),
    })
}

/// `queue erase`: erases an author's comments and says how many went.
async fn erase(
    client: &mut Client,
    email: String,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let erased = client
        .erase_author(pb::EraseAuthorRequest {
            author_email: email,
        })
        .await
        .map_err(describe_status)?
        .into_inner()
        .erased_comments;
    if json {
        writeln!(out, "{}", serde_json::json!({ "erased_comments": erased }))?;
    } else {
        writeln!(
            out,
            "erased {erased} comment(s) and the author's statistics"
        )?;
    }
    Ok(())
}

fn print_stats(out: &mut impl Write, stats: &pb::GetStatsResponse, json: bool) -> io::Result<()> {
    let counts: serde_json::Map<String, serde_json::Value> = stats
        .by_status
        .iter()
        .map(|c| (status_name(c.status).to_owned(), c.count.into()))
        .collect();
    let submissions: u64 = stats.intervals.iter().map(|i| i.submissions).sum();
    let decisions: u64 = stats.intervals.iter().map(|i| i.decisions).sum();
    if json {
        let intervals: Vec<_> = stats
            .intervals
            .iter()
            .map(|i| serde_json::json!({"start": seconds(i.start), "submissions": i.submissions, "decisions": i.decisions}))
            .collect();
        let versions: serde_json::Map<String, serde_json::Value> = stats
            .policy_versions
            .iter()
            .map(|v| (v.policy_version.clone(), v.count.into()))
            .collect();
        writeln!(
            out,
            "{}",
            serde_json::json!({
                "by_status": counts,
                "intervals": intervals,
                "model_version": stats.model_version,
                "agreement_rate": stats.agreement_rate,
                "labels": stats.labels,
                "policy_versions": versions,
                "shadow": stats.shadow.as_ref().map(shadow_json),
                "site_model": stats.site_model.as_ref().map(site_model::to_json),
            })
        )?;
        return Ok(());
    }
    for (status, count) in &counts {
        writeln!(out, "{status:<9} {count}")?;
    }
    writeln!(
        out,
        "last 24h  {submissions} submission(s), {decisions} decision(s)"
    )?;
    writeln!(out, "model     {}", stats.model_version)?;
    writeln!(
        out,
        "agreement {:.1}% of {} moderator label(s)",
        stats.agreement_rate * 100.0,
        stats.labels
    )?;
    for v in &stats.policy_versions {
        let version = if v.policy_version.is_empty() {
            "(none)"
        } else {
            &v.policy_version
        };
        writeln!(
            out,
            "policy    {version} judged {} stored comment(s)",
            v.count
        )?;
    }
    if let Some(site) = &stats.site_model {
        site_model::print(out, site)?;
    }
    if let Some(shadow) = &stats.shadow {
        print_shadow(out, shadow)?;
    }
    Ok(())
}

fn shadow_json(s: &pb::ShadowStats) -> serde_json::Value {
    let changes: Vec<_> = s
        .changes
        .iter()
        .map(|c| serde_json::json!({"from": status_name(c.from), "to": status_name(c.to), "count": c.count}))
        .collect();
    serde_json::json!({
        "policy_version": s.policy_version,
        "evaluated": s.evaluated,
        "would_change": s.would_change,
        "changes": changes,
        "labels": s.labels,
        "live_agreed": s.live_agreed,
        "shadow_agreed": s.shadow_agreed,
        "live_agreement_rate": s.live_agreement_rate,
        "shadow_agreement_rate": s.shadow_agreement_rate,
    })
}

fn print_shadow(out: &mut impl Write, s: &pb::ShadowStats) -> io::Result<()> {
    writeln!(
        out,
        "shadow    policy {}: {} of {} submission(s) would change (since start)",
        s.policy_version, s.would_change, s.evaluated
    )?;
    for c in &s.changes {
        writeln!(
            out,
            "shadow    {} -> {}: {}",
            status_name(c.from),
            status_name(c.to),
            c.count
        )?;
    }
    writeln!(
        out,
        "shadow    labels agree with live {:.1}%, shadow {:.1}% (of {})",
        s.live_agreement_rate * 100.0,
        s.shadow_agreement_rate * 100.0,
        s.labels
    )
}

fn print_audit(out: &mut impl Write, page: &pb::ListAuditResponse, json: bool) -> io::Result<()> {
    for e in &page.entries {
        let action = ModerationAction::try_from(e.action).map_or("UNKNOWN", |a| a.as_str_name());
        if json {
            writeln!(
                out,
                "{}",
                serde_json::json!({
                    "at": seconds(e.at),
                    "moderator": e.moderator,
                    "comment_id": e.comment_id,
                    "action": action,
                    "from": status_name(e.from_status),
                    "to": status_name(e.to_status),
                    "note": e.note,
                })
            )?;
        } else {
            writeln!(
                out,
                "{}  {:<10} {:<9} {} {} → {}  {}",
                seconds(e.at),
                e.moderator,
                action,
                e.comment_id,
                status_name(e.from_status),
                status_name(e.to_status),
                e.note
            )?;
        }
    }
    Ok(())
}

async fn decide(
    client: &mut Client,
    action: ModerationAction,
    d: Decide,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let mut failed = 0;
    for id in d.ids {
        let answer = client
            .moderate_comment(pb::ModerateCommentRequest {
                comment_id: id.clone(),
                action: action.into(),
                note: d.note.clone(),
            })
            .await;
        match answer {
            Ok(m) => {
                let m = m.into_inner();
                if json {
                    writeln!(out, "{}", comment_json(&m))?;
                } else {
                    writeln!(out, "{id}  {}", status_name(m.status))?;
                }
            }
            Err(status) => {
                failed += 1;
                eprintln!("{id}  {}", describe_status(status));
            }
        }
    }
    anyhow::ensure!(failed == 0, "{failed} comment(s) not changed");
    Ok(())
}

pub(super) fn print_event(
    out: &mut impl Write,
    event: &pb::QueueEvent,
    json: bool,
) -> io::Result<()> {
    let kind = pb::QueueEventKind::try_from(event.kind).map_or("UNKNOWN", |k| k.as_str_name());
    if json {
        let comment = event.comment.as_ref().map(comment_json);
        writeln!(
            out,
            "{}",
            serde_json::json!({
                "kind": kind,
                "action": ModerationAction::try_from(event.action).map_or("UNKNOWN", |a| a.as_str_name()),
                "from_status": status_name(event.from_status),
                "lagged": event.lagged,
                "cursor": event.cursor,
                "comment": comment,
            })
        )?;
    } else if event.lagged > 0 {
        writeln!(out, "LAGGED  {} event(s) missed", event.lagged)?;
    } else if let Some(m) = &event.comment {
        writeln!(out, "{:<9} {}", kind, row(m))?;
    }
    Ok(())
}
