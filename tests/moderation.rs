//! ModerationService against a real server: authentication, actions and transitions, index
//! consistency, the audit log, watching, erasure and learning from decisions.

mod support;

use commentguard::api::pb::moderate_comment_request::Action as ModerationAction;
use commentguard::api::pb::{self, CommentStatus, QueueEventKind};
use std::future::Future;
use std::panic::Location;

use support::{
    ALICE, BOB, Backend, Deadline, Moderator, Site, TestServer, submission, violated_fields, within,
};
use tonic::Code;

const BENIGN: &str = "Thanks, the part about borrowing finally made sense to me.";
/// Held for review: an address in the text (`email_in_content`), whatever the score.
const HELD: &str = "Happy to help with the translation, write to me at ada.helper@example.org";

/// Submits `request` and returns the answer.
///
/// # Panics
/// When the submission is refused.
#[track_caller]
fn submit(
    client: &mut pb::comment_service_client::CommentServiceClient<tonic::transport::Channel>,
    request: pb::SubmitCommentRequest,
) -> impl Future<Output = pb::SubmitCommentResponse> {
    let caller = Location::caller();
    async move {
        match client.submit_comment(request).await {
            Ok(answer) => answer.into_inner(),
            Err(status) => panic!("{caller}: submission refused: {status:?}"),
        }
    }
}

fn moderate(id: &str, action: ModerationAction) -> pb::ModerateCommentRequest {
    pb::ModerateCommentRequest {
        comment_id: id.to_owned(),
        action: action.into(),
        note: String::new(),
    }
}

fn queue(status: CommentStatus) -> pb::ListQueueRequest {
    pb::ListQueueRequest {
        status: status.into(),
        post_id: String::new(),
        page_size: 500,
        page_token: String::new(),
    }
}

/// The statuses whose listing shows `id` (it must be exactly one).
///
/// # Panics
/// When a listing is refused.
#[track_caller]
fn listings_of(moderator: &mut Moderator, id: &str) -> impl Future<Output = Vec<CommentStatus>> {
    let caller = Location::caller();
    async move {
        let mut found = Vec::new();
        for status in [
            CommentStatus::Approved,
            CommentStatus::Pending,
            CommentStatus::Spam,
            CommentStatus::Trash,
        ] {
            let page = match moderator.list_queue(queue(status)).await {
                Ok(page) => page.into_inner(),
                Err(refused) => panic!("{caller}: listing {status:?} refused: {refused:?}"),
            };
            let hits = page
                .comments
                .iter()
                .filter(|c| c.comment.as_ref().unwrap().comment_id == id)
                .count();
            for _ in 0..hits {
                found.push(status);
            }
        }
        found
    }
}

async fn calls_need_a_known_moderator_token(backend: Backend) {
    let Some(site) = Site::new(backend) else {
        return;
    };
    let server = TestServer::start(site.config()).await;
    let none = server
        .moderator(None)
        .await
        .list_queue(queue(CommentStatus::Pending))
        .await;
    assert_eq!(none.unwrap_err().code(), Code::Unauthenticated);
    let reset = server
        .moderator(None)
        .await
        .reset_site_model(pb::ResetSiteModelRequest::default())
        .await;
    assert_eq!(reset.unwrap_err().code(), Code::Unauthenticated);
    let wrong = server
        .moderator(Some("not-a-moderator-token"))
        .await
        .list_queue(queue(CommentStatus::Pending))
        .await;
    assert_eq!(wrong.unwrap_err().code(), Code::PermissionDenied);
    // A prefix of a real token is not a token.
    let prefix = server
        .moderator(Some(&ALICE[..ALICE.len() - 1]))
        .await
        .get_stats(pb::GetStatsRequest::default())
        .await;
    assert_eq!(prefix.unwrap_err().code(), Code::PermissionDenied);
    for token in [ALICE, BOB] {
        server
            .moderator(Some(token))
            .await
            .list_queue(queue(CommentStatus::Pending))
            .await
            .unwrap();
    }
    // The public service needs no token.
    let mut public = server.client().await;
    submit(&mut public, submission("p", BENIGN)).await;
    server.stop().await;

    // With no moderator configured, every call is refused, whatever the token.
    let mut open = site.config();
    open.moderator_tokens = Default::default();
    let server = TestServer::start(open).await;
    let refused = server
        .moderator(Some(ALICE))
        .await
        .list_queue(queue(CommentStatus::Pending))
        .await;
    assert_eq!(refused.unwrap_err().code(), Code::Unauthenticated);
    server.stop().await;
}

async fn each_action_moves_the_comment_between_exactly_one_listing(backend: Backend) {
    let Some(site) = Site::new(backend) else {
        return;
    };
    let server = TestServer::start(site.config()).await;
    let mut public = server.client().await;
    let mut alice = server.moderator(Some(ALICE)).await;

    // The post's title travels with the submission and comes back to moderators.
    let mut titled = submission("post-a", HELD);
    titled.post_title = "Slugs in June".into();
    let held = submit(&mut public, titled).await;
    assert_eq!(held.status(), CommentStatus::Pending);
    let id = held.comment_id.clone();
    assert_eq!(listings_of(&mut alice, &id).await, [CommentStatus::Pending]);

    let steps = [
        (ModerationAction::Approve, CommentStatus::Approved),
        (ModerationAction::Hold, CommentStatus::Pending),
        (ModerationAction::MarkSpam, CommentStatus::Spam),
        (ModerationAction::Trash, CommentStatus::Trash),
        (ModerationAction::Restore, CommentStatus::Pending),
        (ModerationAction::Approve, CommentStatus::Approved),
        (ModerationAction::Trash, CommentStatus::Trash),
        (ModerationAction::Restore, CommentStatus::Approved),
    ];
    for (action, expected) in steps {
        let after = alice
            .moderate_comment(moderate(&id, action))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(after.status(), expected, "{action:?}");
        assert_eq!(after.post_title, "Slugs in June");
        assert_eq!(after.decided_by, "alice");
        assert!(after.decided_at.is_some());
        assert_eq!(listings_of(&mut alice, &id).await, [expected], "{action:?}");
        let thread = public
            .list_comments(pb::ListCommentsRequest {
                post_id: "post-a".into(),
                page_size: 0,
                page_token: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            thread.comments.len(),
            usize::from(expected == CommentStatus::Approved),
            "{action:?}"
        );
    }

    // The moderator view carries the private fields the public one never has.
    let shown = alice
        .get_comment(pb::GetCommentRequest {
            comment_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(shown.author_email, "ada@example.com");
    assert_eq!(shown.ip, "192.0.2.10");
    assert_eq!(shown.comment.unwrap().content, HELD);
    assert!(shown.reasons.iter().any(|r| r.code == "email_in_content"));

    // Every action is in the audit log, newest first, with who and from → to.
    let audit = alice
        .list_audit(pb::ListAuditRequest {
            comment_id: id.clone(),
            page_size: 3,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(audit.entries.len(), 3);
    assert_eq!(audit.entries[0].action(), ModerationAction::Restore);
    assert_eq!(audit.entries[0].from_status(), CommentStatus::Trash);
    assert_eq!(audit.entries[0].to_status(), CommentStatus::Approved);
    assert_eq!(audit.entries[0].moderator, "alice");
    let rest = alice
        .list_audit(pb::ListAuditRequest {
            comment_id: id.clone(),
            page_size: 50,
            page_token: audit.next_page_token,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rest.entries.len(), steps.len() - 3);
    assert!(rest.next_page_token.is_empty());

    // The state is on disk: a restarted server sees the same.
    server.stop().await;
    let server = TestServer::start(site.config()).await;
    let mut alice = server.moderator(Some(ALICE)).await;
    assert_eq!(
        listings_of(&mut alice, &id).await,
        [CommentStatus::Approved]
    );
    server.stop().await;
}

async fn illegal_transitions_and_bad_requests_change_nothing(backend: Backend) {
    let Some(site) = Site::new(backend) else {
        return;
    };
    let server = TestServer::start(site.config()).await;
    let mut public = server.client().await;
    let mut bob = server.moderator(Some(BOB)).await;
    let approved = submit(&mut public, submission("post-b", BENIGN)).await;
    assert_eq!(approved.status(), CommentStatus::Approved);
    let id = approved.comment_id;

    for action in [ModerationAction::Approve, ModerationAction::Restore] {
        let refused = bob
            .moderate_comment(moderate(&id, action))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::FailedPrecondition, "{action:?}");
    }
    assert_eq!(listings_of(&mut bob, &id).await, [CommentStatus::Approved]);

    let unspecified = bob
        .moderate_comment(moderate(&id, ModerationAction::Unspecified))
        .await
        .unwrap_err();
    assert_eq!(unspecified.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&unspecified), ["action"]);
    let bad_id = bob
        .moderate_comment(moderate("nope", ModerationAction::Trash))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&bad_id), ["comment_id"]);
    let missing = bob
        .moderate_comment(moderate(
            "01890a5d-ac96-774b-bcce-b302099a8057",
            ModerationAction::Trash,
        ))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let mut long_note = moderate(&id, ModerationAction::Trash);
    long_note.note = "n".repeat(1001);
    let refused = bob.moderate_comment(long_note).await.unwrap_err();
    assert_eq!(violated_fields(&refused), ["note"]);
    assert_eq!(listings_of(&mut bob, &id).await, [CommentStatus::Approved]);
    let audit = bob
        .list_audit(pb::ListAuditRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(audit.entries.is_empty());
    server.stop().await;
}

async fn queue_lists_newest_first_by_post_with_pages(backend: Backend) {
    let Some(site) = Site::new(backend) else {
        return;
    };
    let server = TestServer::start(site.config()).await;
    let mut public = server.client().await;
    let mut alice = server.moderator(Some(ALICE)).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let post = if n % 2 == 0 { "even" } else { "odd" };
        let content = format!("{HELD} number {n}");
        ids.push(
            submit(&mut public, submission(post, &content))
                .await
                .comment_id,
        );
    }
    let mut request = queue(CommentStatus::Unspecified); // PENDING by default
    request.page_size = 2;
    let mut seen = Vec::new();
    for pages in 1.. {
        assert!(pages <= 5, "the pages do not end");
        let page = alice
            .list_queue(request.clone())
            .await
            .unwrap()
            .into_inner();
        seen.extend(
            page.comments
                .iter()
                .map(|c| c.comment.as_ref().unwrap().comment_id.clone()),
        );
        if page.next_page_token.is_empty() {
            break;
        }
        request.page_token = page.next_page_token;
    }
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);
    let mut even = queue(CommentStatus::Pending);
    even.post_id = "even".into();
    let page = alice.list_queue(even).await.unwrap().into_inner();
    let got: Vec<&str> = page
        .comments
        .iter()
        .map(|c| c.comment.as_ref().unwrap().comment_id.as_str())
        .collect();
    assert_eq!(got, [ids[4].as_str(), ids[2].as_str(), ids[0].as_str()]);
    server.stop().await;

    // Oldest first (the console's other order), in pages after a cursor, by post too.
    let store = site.open_store().await;
    let id = |text: &str| commentguard::comment::CommentId::parse(text).unwrap();
    let (mut after, mut oldest_first) = (None, Vec::new());
    loop {
        let page = store
            .list_queue_oldest(commentguard::comment::Status::Pending, None, after, 2)
            .await
            .unwrap();
        oldest_first.extend(page.comments.iter().map(|c| c.id.to_string()));
        after = page.comments.last().map(|c| c.id);
        if !page.more {
            break;
        }
    }
    assert_eq!(oldest_first, ids);
    let odd = store
        .list_queue_oldest(
            commentguard::comment::Status::Pending,
            Some("odd"),
            Some(id(&ids[1])),
            10,
        )
        .await
        .unwrap();
    assert_eq!(odd.comments.len(), 1);
    assert_eq!(odd.comments[0].id, id(&ids[3]));
    assert!(!odd.more);
}

/// Starts `WatchQueue` and follows it on its own task, forwarding every event; the task ends
/// with the stream or when the receiver is dropped. The server answers the call (its response
/// headers) once the watch is subscribed, so every event committed after this returns is
/// seen.
///
/// # Panics
/// When the call is refused or not answered within [`support::WAIT`].
async fn watch(
    mut moderator: Moderator,
    request: pb::WatchQueueRequest,
) -> tokio::sync::mpsc::Receiver<pb::QueueEvent> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let mut events = within("the watch to be subscribed", moderator.watch_queue(request))
        .await
        .unwrap()
        .into_inner();
    tokio::spawn(async move {
        while let Ok(Some(event)) = events.message().await {
            if tx.send(event).await.is_err() {
                break;
            }
        }
    });
    rx
}

/// The post of the comment `event` is about.
///
/// # Panics
/// When the event carries no comment.
#[track_caller]
fn post_of(event: &pb::QueueEvent) -> String {
    event
        .comment
        .as_ref()
        .unwrap()
        .comment
        .as_ref()
        .unwrap()
        .post_id
        .clone()
}

/// The next event not about the `probe` post.
///
/// # Panics
/// When none arrives within [`support::WAIT`], or the watch ended.
#[track_caller]
fn next_event(
    rx: &mut tokio::sync::mpsc::Receiver<pb::QueueEvent>,
) -> impl Future<Output = pb::QueueEvent> {
    let caller = Location::caller();
    let deadline = Deadline::start(format!("{caller}: an event not about the probe post"));
    async move {
        loop {
            let event = within("the next queue event", rx.recv())
                .await
                .unwrap_or_else(|| panic!("{caller}: the watch ended"));
            if post_of(&event) != "probe" {
                return event;
            }
            deadline.check();
        }
    }
}

async fn watchers_see_submissions_and_decisions_in_order(backend: Backend) {
    let Some(site) = Site::new(backend) else {
        return;
    };
    let server = TestServer::start(site.config()).await;
    let mut public = server.client().await;
    let mut alice = server.moderator(Some(ALICE)).await;
    let mut all = watch(alice.clone(), pb::WatchQueueRequest::default()).await;
    let mut spam_only = watch(
        alice.clone(),
        pb::WatchQueueRequest {
            statuses: vec![CommentStatus::Spam.into()],
            ..Default::default()
        },
    )
    .await;

    submit(&mut public, submission("w", BENIGN)).await; // approved: no event
    let first = submit(&mut public, submission("w", HELD)).await.comment_id;
    let mut bot = submission("w", "hello there friends");
    bot.context.as_mut().unwrap().honeypot = "filled".into();
    let second = submit(&mut public, bot).await.comment_id;
    alice
        .moderate_comment(moderate(&first, ModerationAction::MarkSpam))
        .await
        .unwrap();
    let elsewhere = submit(&mut public, submission("elsewhere", HELD))
        .await
        .comment_id;

    let id_of = |e: &pb::QueueEvent| {
        e.comment
            .as_ref()
            .unwrap()
            .comment
            .as_ref()
            .unwrap()
            .comment_id
            .clone()
    };
    let e = next_event(&mut all).await;
    assert_eq!(
        (e.kind(), id_of(&e)),
        (QueueEventKind::Submitted, first.clone())
    );
    assert_eq!(e.comment.unwrap().status(), CommentStatus::Pending);
    let e = next_event(&mut all).await;
    assert_eq!(
        (e.kind(), id_of(&e)),
        (QueueEventKind::Submitted, second.clone())
    );
    let e = next_event(&mut all).await;
    assert_eq!(
        (e.kind(), id_of(&e)),
        (QueueEventKind::Decided, first.clone())
    );
    assert_eq!(e.action(), ModerationAction::MarkSpam);
    assert_eq!(e.from_status(), CommentStatus::Pending);
    let e = next_event(&mut all).await;
    assert_eq!(id_of(&e), elsewhere);

    // The SPAM-only watcher saw the bot and the decision, not the held comments.
    assert_eq!(id_of(&next_event(&mut spam_only).await), second);
    assert_eq!(id_of(&next_event(&mut spam_only).await), first);
    server.stop().await;
}

async fn erasure_leaves_nothing_findable_by_that_email(backend: Backend) {
    let Some(site) = Site::new(backend) else {
        return;
    };
    let server = TestServer::start(site.config()).await;
    let mut public = server.client().await;
    let mut alice = server.moderator(Some(ALICE)).await;
    let mut mine = Vec::new();
    for (post, content) in [
        ("e1", BENIGN),
        ("e2", HELD),
        ("e3", "a third remark, kindly"),
    ] {
        let mut request = submission(post, content);
        request.author_email = "Erase.Me@Example.com".into();
        mine.push(submit(&mut public, request).await.comment_id);
    }
    alice
        .moderate_comment(moderate(&mine[1], ModerationAction::MarkSpam))
        .await
        .unwrap();
    let other = submit(&mut public, submission("e1", "an unrelated comment"))
        .await
        .comment_id;

    let erased = alice
        .erase_author(pb::EraseAuthorRequest {
            author_email: "erase.me@example.com".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(erased.erased_comments, 3);
    for id in &mine {
        let gone = alice
            .get_comment(pb::GetCommentRequest {
                comment_id: id.clone(),
            })
            .await
            .unwrap_err();
        assert_eq!(gone.code(), Code::NotFound);
        assert!(listings_of(&mut alice, id).await.is_empty());
    }
    for status in [
        CommentStatus::Approved,
        CommentStatus::Pending,
        CommentStatus::Spam,
    ] {
        let page = alice.list_queue(queue(status)).await.unwrap().into_inner();
        assert!(
            page.comments
                .iter()
                .all(|c| !c.author_email.eq_ignore_ascii_case("erase.me@example.com"))
        );
    }
    assert_eq!(
        listings_of(&mut alice, &other).await,
        [CommentStatus::Approved]
    );
    // The duplicate index forgot the text too: the same comment may be sent again.
    let mut again = submission("e1", BENIGN);
    again.author_email = "erase.me@example.com".into();
    submit(&mut public, again).await;
    let empty = alice
        .erase_author(pb::EraseAuthorRequest {
            author_email: " ".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&empty), ["author_email"]);
    server.stop().await;

    // Nothing of the address survives on disk: its labels went with its comments.
    let labels = site.labels().await;
    assert!(labels.is_empty());
}

async fn marking_a_campaign_spam_raises_the_next_comment_score(backend: Backend) {
    let Some(site) = Site::new(backend) else {
        return;
    };
    let server = TestServer::start(site.config()).await;
    let mut public = server.client().await;
    let mut alice = server.moderator(Some(ALICE)).await;
    let campaign = |n: usize| {
        let mut request = submission(
            &format!("post-{n}"),
            &format!(
                "Honest review {n}: the Lumora herbal sleep drops changed my life, order at lumora-drops dot shop today"
            ),
        );
        request.author_email = format!("buyer{n}@example.net");
        request.author_name = format!("Happy Customer {n}");
        request
    };
    let next = campaign(99);
    let before = public
        .check_comment(next.clone())
        .await
        .unwrap()
        .into_inner();

    // The classifier's own call on each comment when it was submitted: spam at or above the
    // pending threshold.
    let pending = site.config().thresholds.pending;
    let (mut called_spam, mut labelled) = (0, 0);
    for n in 0..20 {
        let submitted = submit(&mut public, campaign(n)).await;
        // Once the labels have taught the classifier, the campaign arrives as SPAM already:
        // there is nothing left to mark.
        if submitted.status() == CommentStatus::Spam {
            continue;
        }
        called_spam += usize::from(f64::from(submitted.spam_score) >= pending);
        labelled += 1;
        alice
            .moderate_comment(moderate(&submitted.comment_id, ModerationAction::MarkSpam))
            .await
            .unwrap();
    }
    let after = public.check_comment(next).await.unwrap().into_inner();
    eprintln!(
        "campaign comment spam score: before {:.4}, after 20 MARK_SPAM labels {:.4}",
        before.spam_score, after.spam_score
    );
    assert!(
        after.spam_score > before.spam_score,
        "{before:?} → {after:?}"
    );
    assert!(
        after
            .reasons
            .iter()
            .any(|r| r.detail.contains("moderator labels"))
    );
    // An unrelated comment is not moved much.
    let benign_after = public
        .check_comment(submission("other", BENIGN))
        .await
        .unwrap()
        .into_inner();
    assert!(benign_after.spam_score < 0.5, "{benign_after:?}");

    let stats = alice
        .get_stats(pb::GetStatsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(labelled >= 3, "only {labelled} comments needed a label");
    assert_eq!(stats.labels, labelled);
    let spam = stats
        .by_status
        .iter()
        .find(|c| c.status() == CommentStatus::Spam)
        .unwrap();
    assert_eq!(spam.count, 20);
    let submissions: u64 = stats.intervals.iter().map(|i| i.submissions).sum();
    let decisions: u64 = stats.intervals.iter().map(|i| i.decisions).sum();
    assert_eq!((submissions, decisions), (20, labelled));
    assert!(!stats.model_version.is_empty());
    // Every label is MARK_SPAM: it agrees with the classifier where it called spam.
    let agreement = called_spam as f64 / labelled as f64;
    eprintln!(
        "the classifier called {called_spam} of the {labelled} labelled campaign comments spam"
    );
    assert!(
        (stats.agreement_rate - agreement).abs() < 1e-9,
        "agreement rate {} where {called_spam} of 20 labels agree",
        stats.agreement_rate
    );
    server.stop().await;

    // The labels are stored for `train --from-store`, and survive a restart into the live
    // model.
    let labels = site.labels().await;
    assert_eq!(labels.len() as u64, labelled);
    assert!(
        labels
            .iter()
            .all(|l| l.label == commentguard::comment::Label::Spam)
    );
    let server = TestServer::start(site.config()).await;
    let mut public = server.client().await;
    let restarted = public
        .check_comment(campaign(98))
        .await
        .unwrap()
        .into_inner();
    assert!(restarted.spam_score > before.spam_score);
    server.stop().await;
}

fn log_odds(p: f32) -> f64 {
    let p = f64::from(p).clamp(1e-9, 1.0 - 1e-9);
    (p / (1.0 - p)).ln()
}

/// Investment-scam testimonials in varied words: what the shipped model misses and a site's
/// moderators teach it.
fn testimonial(n: usize) -> String {
    let openers = [
        "Big thanks to",
        "All glory to",
        "I owe it all to",
        "Grateful to",
    ];
    let gains = [
        "my portfolio tripled",
        "I now earn weekly",
        "I recovered my savings",
        "my account grew",
    ];
    format!(
        "{} Mrs Nadia Carter and her bitcoin mentorship, {} (story {n})",
        openers[n % openers.len()],
        gains[(n / openers.len()) % gains.len()]
    )
}

/// Comments on other topics, whose verdicts wrong labels on one topic must not move.
const OTHER_TOPICS: [&str; 6] = [
    "The summit communique says nothing new about grain exports, as far as I can tell.",
    "Check out my channel for daily guitar covers, subscribe please!",
    "Great explanation of the borrow checker, thanks for writing it.",
    "FREE entry to win a brand new phone, text WIN to 80086 now",
    "I disagree with the author's take on the tariffs; the figures cited are from 2019.",
    "Visit cheap-pills-online dot shop for discount meds, no prescription needed",
];

async fn the_site_model_learns_this_site_s_spam_and_keeps_it(backend: Backend) {
    let Some(site) = Site::new(backend) else {
        return;
    };
    let server = TestServer::start(site.config()).await;
    let mut public = server.client().await;
    let mut alice = server.moderator(Some(ALICE)).await;
    let probe = || {
        submission(
            "probe",
            "So thankful to Mrs Nadia Carter, her bitcoin mentorship changed everything for me",
        )
    };
    let before = public.check_comment(probe()).await.unwrap().into_inner();
    let mut verdicts_before = Vec::new();
    for text in OTHER_TOPICS {
        let v = public
            .check_comment(submission("other", text))
            .await
            .unwrap();
        verdicts_before.push(v.into_inner().status);
    }

    for n in 0..24 {
        let mut spam = submission(&format!("news-{n}"), &testimonial(n));
        spam.author_email = format!("fan{n}@example.net");
        let submitted = submit(&mut public, spam).await;
        if submitted.status() != CommentStatus::Spam {
            alice
                .moderate_comment(moderate(&submitted.comment_id, ModerationAction::MarkSpam))
                .await
                .unwrap();
        }
    }
    let after = public.check_comment(probe()).await.unwrap().into_inner();
    eprintln!(
        "testimonial score: before {}, after labelling the stream {}",
        before.spam_score, after.spam_score
    );
    // The shipped model is sure this is no spam (log-odds near −7): the labels must move it
    // by several units, not a rounding.
    assert!(
        log_odds(after.spam_score) > log_odds(before.spam_score) + 2.0,
        "{before:?} → {after:?}"
    );
    assert!(
        after
            .reasons
            .iter()
            .any(|r| r.detail.contains("learned here")),
        "{:?}",
        after.reasons
    );

    // 200 wrong labels on one topic (spam approved) leave other topics' verdicts alone.
    for n in 0..200 {
        let mut spam = submission(
            &format!("watches-{n}"),
            &format!("Replica watches at wholesale prices, lot {n}, shipping worldwide"),
        );
        spam.author_email = format!("seller{n}@example.net");
        let submitted = submit(&mut public, spam).await;
        if submitted.status() != CommentStatus::Approved {
            alice
                .moderate_comment(moderate(&submitted.comment_id, ModerationAction::Approve))
                .await
                .unwrap();
        }
    }
    for (text, before) in OTHER_TOPICS.iter().zip(&verdicts_before) {
        let v = public
            .check_comment(submission("other", text))
            .await
            .unwrap();
        assert_eq!(v.into_inner().status, *before, "{text}");
    }

    let stats = alice
        .get_stats(pb::GetStatsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let learned = stats.site_model.unwrap();
    assert!(learned.labels >= 3, "{learned:?}");
    assert!(
        learned.version > 0 && learned.accuracy_labels > 0,
        "{learned:?}"
    );
    server.stop().await;

    // Rebuilt from the stored labels at start.
    let server = TestServer::start(site.config()).await;
    let mut public = server.client().await;
    let restarted = public.check_comment(probe()).await.unwrap().into_inner();
    assert!(
        log_odds(restarted.spam_score) > log_odds(before.spam_score) + 2.0,
        "{before:?}, then {after:?}, after a restart {restarted:?}"
    );
    resetting_the_site_model_drops_what_it_learned(&site, server, probe()).await;
}

/// A reset (with a bad note refused first) leaves the site model nothing learned, changes
/// its version and the policy version, lasts across a restart, and later labels teach again.
async fn resetting_the_site_model_drops_what_it_learned(
    site: &Site,
    server: TestServer,
    probe: pb::SubmitCommentRequest,
) {
    let mut public = server.client().await;
    let mut alice = server.moderator(Some(ALICE)).await;
    let learned =
        |r: &pb::SubmitCommentResponse| r.reasons.iter().any(|r| r.detail.contains("learned here"));
    let taught = public
        .check_comment(probe.clone())
        .await
        .unwrap()
        .into_inner();
    assert!(learned(&taught), "{taught:?}");
    let site_model = |stats: pb::GetStatsResponse| stats.site_model.unwrap();
    let held = site_model(
        alice
            .get_stats(pb::GetStatsRequest::default())
            .await
            .unwrap()
            .into_inner(),
    );

    let refused = alice
        .reset_site_model(pb::ResetSiteModelRequest {
            note: "x".repeat(1001),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&refused), ["note"]);
    let unchanged = site_model(
        alice
            .get_stats(pb::GetStatsRequest::default())
            .await
            .unwrap()
            .into_inner(),
    );
    assert_eq!(
        (unchanged.labels, unchanged.reset_time),
        (held.labels, None)
    );

    let reset = alice
        .reset_site_model(pb::ResetSiteModelRequest {
            note: "labels from the stolen token".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reset.labels, 0, "{reset:?}");
    assert_eq!(reset.labels_dropped, held.labels);
    assert_eq!(reset.reset_by, "alice");
    assert_eq!(reset.reset_note, "labels from the stolen token");
    assert!(
        reset.reset_time.is_some() && reset.version != held.version,
        "{held:?} → {reset:?}"
    );
    let after_reset = public
        .check_comment(probe.clone())
        .await
        .unwrap()
        .into_inner();
    assert!(!learned(&after_reset), "{after_reset:?}");
    assert_ne!(after_reset.policy_version, taught.policy_version);
    server.stop().await;

    // The reset lasts: the stored labels before it teach nothing after a restart, and a new
    // label teaches again.
    let server = TestServer::start(site.config()).await;
    let mut public = server.client().await;
    let mut alice = server.moderator(Some(ALICE)).await;
    let restarted = public.check_comment(probe).await.unwrap().into_inner();
    assert!(!learned(&restarted), "{restarted:?}");
    let stats = site_model(
        alice
            .get_stats(pb::GetStatsRequest::default())
            .await
            .unwrap()
            .into_inner(),
    );
    assert_eq!((stats.labels, stats.reset_by.as_str()), (0, "alice"));
    let mut spam = submission("news-after-reset", &testimonial(99));
    spam.author_email = "fan99@example.net".into();
    let submitted = submit(&mut public, spam).await;
    let action = if submitted.status() == CommentStatus::Spam {
        ModerationAction::Approve
    } else {
        ModerationAction::MarkSpam
    };
    alice
        .moderate_comment(moderate(&submitted.comment_id, action))
        .await
        .unwrap();
    let stats = site_model(
        alice
            .get_stats(pb::GetStatsRequest::default())
            .await
            .unwrap()
            .into_inner(),
    );
    assert_eq!(stats.labels, 1, "{stats:?}");
    server.stop().await;
}

on_both_backends!(
    the_site_model_learns_this_site_s_spam_and_keeps_it,
    calls_need_a_known_moderator_token,
    each_action_moves_the_comment_between_exactly_one_listing,
    illegal_transitions_and_bad_requests_change_nothing,
    queue_lists_newest_first_by_post_with_pages,
    watchers_see_submissions_and_decisions_in_order,
    erasure_leaves_nothing_findable_by_that_email,
    marking_a_campaign_spam_raises_the_next_comment_score,
);
