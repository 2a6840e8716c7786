//! `commentguard submit` and `commentguard thread`: a client for trying the service with
//! nothing else installed.

use std::io::Write as _;

use crate::proto::comment_service_client::CommentServiceClient;
use crate::proto::{self as pb, CommentStatus};

/// Default server address of the client commands.
pub const DEFAULT_ADDR: &str = "http://127.0.0.1:50051";

/// The endpoint for `addr`, over TLS for `https://` addresses or when `tls_ca` is given:
/// verified against the CA certificates in `tls_ca`, or the system's roots without it.
///
/// # Errors
/// An invalid address or an unreadable CA file.
pub fn endpoint(
    addr: &str,
    tls_ca: Option<&std::path::Path>,
) -> anyhow::Result<tonic::transport::Endpoint> {
    use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};
    let endpoint = Endpoint::from_shared(addr.to_owned())
        .map_err(|e| anyhow::anyhow!("invalid server address {addr}: {e}"))?;
    let tls = match tls_ca {
        Some(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
            ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem))
        }
        None if addr.starts_with("https://") => ClientTlsConfig::new().with_native_roots(),
        None => return Ok(endpoint),
    };
    Ok(endpoint.tls_config(tls)?)
}

/// Connects to `addr` as [`endpoint`] says.
///
/// # Errors
/// An invalid address, an unreadable CA file, or a server that cannot be reached.
pub async fn channel(
    addr: &str,
    tls_ca: Option<&std::path::Path>,
) -> anyhow::Result<tonic::transport::Channel> {
    endpoint(addr, tls_ca)?
        .connect()
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to {addr}: {}", crate::error::Chain(&e)))
}

/// Arguments of `commentguard submit`.
#[derive(Debug, clap::Args)]
pub struct SubmitArgs {
    /// Server address.
    #[arg(long, default_value = DEFAULT_ADDR, env = "COMMENTGUARD_ADDR")]
    pub addr: String,
    /// PEM CA certificate(s) to verify the server's TLS certificate with; `https://`
    /// addresses without it use the system's roots.
    #[arg(long, env = "COMMENTGUARD_TLS_CA", value_name = "FILE")]
    pub tls_ca: Option<std::path::PathBuf>,
    /// Post id.
    #[arg(long)]
    pub post: String,
    /// The post's title, shown to moderators.
    #[arg(long, default_value = "")]
    pub post_title: String,
    /// Author name.
    #[arg(long)]
    pub name: String,
    /// Author email (private).
    #[arg(long)]
    pub email: String,
    /// Author website.
    #[arg(long, default_value = "")]
    pub url: String,
    /// Comment text.
    #[arg(long)]
    pub content: String,
    /// Reply to this comment id.
    #[arg(long, default_value = "")]
    pub parent: String,
    /// Commenter IP address.
    #[arg(long, default_value = "")]
    pub ip: String,
    /// A key naming this submission, so that sending it again (the same fields) gets the
    /// first answer instead of ALREADY_EXISTS. At most 128 bytes.
    #[arg(long, default_value = "")]
    pub idempotency_key: String,
    /// Only check: get the verdict without storing the comment.
    #[arg(long)]
    pub check: bool,
    /// Print the verdict as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `commentguard thread`.
#[derive(Debug, clap::Args)]
pub struct ThreadArgs {
    /// Server address.
    #[arg(long, default_value = DEFAULT_ADDR, env = "COMMENTGUARD_ADDR")]
    pub addr: String,
    /// PEM CA certificate(s) to verify the server's TLS certificate with; `https://`
    /// addresses without it use the system's roots.
    #[arg(long, env = "COMMENTGUARD_TLS_CA", value_name = "FILE")]
    pub tls_ca: Option<std::path::PathBuf>,
    /// Post id.
    pub post: String,
    /// Print the comments as JSON lines.
    #[arg(long)]
    pub json: bool,
}

pub(crate) fn status_name(status: i32) -> &'static str {
    CommentStatus::try_from(status).map_or("UNKNOWN", |s| s.as_str_name())
}

/// Sends one submission and prints the verdict.
///
/// # Errors
/// Connection failures and refused submissions (with the server's field violations).
pub async fn submit(args: SubmitArgs) -> anyhow::Result<()> {
    let mut client = CommentServiceClient::new(channel(&args.addr, args.tls_ca.as_deref()).await?);
    let request = pb::SubmitCommentRequest {
        post_id: args.post,
        post_title: args.post_title,
        parent_id: args.parent,
        author_name: args.name,
        author_email: args.email,
        author_url: args.url,
        content: args.content,
        context: Some(pb::ClientContext {
            ip: args.ip,
            ..Default::default()
        }),
        idempotency_key: args.idempotency_key,
    };
    let reply = if args.check {
        client.check_comment(request).await
    } else {
        client.submit_comment(request).await
    };
    let verdict = reply.map_err(describe_status)?.into_inner();
    let out = &mut std::io::stdout();
    if args.json {
        let reasons: Vec<_> = verdict
            .reasons
            .iter()
            .map(|r| serde_json::json!({"code": r.code, "detail": r.detail, "weight": r.weight}))
            .collect();
        let json = serde_json::json!({
            "comment_id": verdict.comment_id,
            "status": status_name(verdict.status),
            "spam_score": verdict.spam_score,
            "toxicity": verdict.toxicity,
            "toxic_spans": verdict.toxic_spans.iter().map(|t| serde_json::json!({"start": t.start, "end": t.end, "kind": t.kind})).collect::<Vec<_>>(),
            "reasons": reasons,
            "policy_version": verdict.policy_version,
        });
        writeln!(out, "{json}")?;
    } else {
        writeln!(
            out,
            "{} (spam score {:.3}, toxicity {:.3}){}",
            status_name(verdict.status),
            verdict.spam_score,
            verdict.toxicity,
            if verdict.comment_id.is_empty() {
                String::new()
            } else {
                format!("  id {}", verdict.comment_id)
            }
        )?;
        crate::cli::write_reasons(out, &verdict.reasons)?;
    }
    Ok(())
}

/// Prints the public thread of a post, following pages to the end.
///
/// # Errors
/// Connection failures and refused requests.
pub async fn thread(args: ThreadArgs) -> anyhow::Result<()> {
    let mut client = CommentServiceClient::new(channel(&args.addr, args.tls_ca.as_deref()).await?);
    // Not locked: the handle is held across awaits. A closed pipe ends the command quietly.
    let out = &mut std::io::stdout();
    let mut page_token = String::new();
    let mut count = 0;
    loop {
        let page = client
            .list_comments(pb::ListCommentsRequest {
                post_id: args.post.clone(),
                page_size: 0,
                page_token,
            })
            .await
            .map_err(describe_status)?
            .into_inner();
        for c in &page.comments {
            count += 1;
            if args.json {
                let json = serde_json::json!({
                    "comment_id": c.comment_id,
                    "parent_id": c.parent_id,
                    "author_name": c.author_name,
                    "author_url": c.author_url,
                    "content": c.content,
                    "created_at": c.created_at.map(|t| t.seconds),
                });
                writeln!(out, "{json}")?;
            } else {
                let reply = if c.parent_id.is_empty() {
                    String::new()
                } else {
                    format!(" (reply to {})", c.parent_id)
                };
                writeln!(out, "{} {}{}", c.comment_id, c.author_name, reply)?;
                for line in c.content.lines() {
                    writeln!(out, "    {line}")?;
                }
            }
        }
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    if !args.json {
        writeln!(out, "{count} approved comment(s) on {}", args.post)?;
    }
    Ok(())
}

/// A gRPC error as a readable one-line message, including field violations.
pub(crate) fn describe_status(status: tonic::Status) -> anyhow::Error {
    use tonic_types::StatusExt as _;
    let mut message = format!("{:?}: {}", status.code(), status.message());
    if let Some(bad) = status.get_details_bad_request() {
        for v in bad.field_violations {
            message.push_str(&format!("; {}: {}", v.field, v.description));
        }
    }
    anyhow::anyhow!(message)
}
