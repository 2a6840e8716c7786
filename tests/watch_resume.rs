//! A resumable watch: every queue event carries a cursor, and `WatchQueue` with
//! `after_cursor` delivers exactly the events after it, in order, from the durable log, also
//! after a restart and on another frontend; LAGGED only when the log was pruned past it.

mod support;

use commentguard::api::pb::moderate_comment_request::Action as ModerationAction;
use commentguard::api::pb::{self, CommentStatus, QueueEventKind};
use commentguard::store::EventWindow;
use support::{ALICE, Backend, Moderator, Site, TestServer, submission, violated_fields, within};
use tonic::Code;

/// Held for review whatever the score: an address in the text.
const HELD: &str = "Happy to help with the translation, write to me at ada.helper@example.org";
const BENIGN: &str = "Thanks, the part about borrowing finally made sense to me.";

type Public = pb::comment_service_client::CommentServiceClient<tonic::transport::Channel>;

/// A live watch forwarded to a channel; dropping it ends the call.
struct Watching {
    events: tokio::sync::mpsc::Receiver<pb::QueueEvent>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Watching {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Watches on `moderator`'s frontend after `after_cursor` (empty: from the next event).
async fn watch(mut moderator: Moderator, after_cursor: &str) -> Watching {
    let (tx, events) = tokio::sync::mpsc::channel(256);
    let request = pb::WatchQueueRequest {
        after_cursor: after_cursor.to_owned(),
        ..Default::default()
    };
    // The server answers the call once the watch is subscribed.
    let mut stream = within("the watch to be subscribed", moderator.watch_queue(request))
        .await
        .unwrap()
        .into_inner();
    let task = tokio::spawn(async move {
        while let Ok(Some(event)) = stream.message().await {
            if tx.send(event).await.is_err() {
                break;
            }
        }
    });
    Watching { events, task }
}

impl Watching {
    async fn next(&mut self) -> pb::QueueEvent {
        within("the next queue event", self.events.recv())
            .await
            .expect("the watch ended")
    }
}

fn id_of(event: &pb::QueueEvent) -> String {
    let comment = event.comment.as_ref().expect("an event with a comment");
    comment.comment.as_ref().unwrap().comment_id.clone()
}

async fn submit(public: &mut Public, request: pb::SubmitCommentRequest) -> String {
    public
        .submit_comment(request)
        .await
        .expect("submission accepted")
        .into_inner()
        .comment_id
}

/// Marked spam on submission: the honeypot is filled.
fn bot(post: &str, content: &str) -> pb::SubmitCommentRequest {
    let mut request = submission(post, content);
    request.context.as_mut().unwrap().honeypot = "filled".into();
    request
}

async fn decide(moderator: &mut Moderator, id: &str, action: ModerationAction) {
    moderator
        .moderate_comment(pb::ModerateCommentRequest {
            comment_id: id.to_owned(),
            action: action.into(),
            note: String::new(),
        })
        .await
        .expect("decision accepted");
}

/// The cursor of the newest event now: a watch subscribed here sees the next probe first.
async fn cursor_now(public: &mut Public, moderator: &Moderator) -> String {
    let mut watching = watch(moderator.clone(), "").await;
    let probe = submit(public, bot("probe", "the probe")).await;
    let event = watching.next().await;
    assert_eq!(id_of(&event), probe, "the first event after subscribing");
    event.cursor
}

/// The next events' kinds and comment ids.
async fn next_events(watching: &mut Watching, n: usize) -> Vec<pb::QueueEvent> {
    let mut events = Vec::new();
    for _ in 0..n {
        events.push(watching.next().await);
    }
    events
}

fn summary(events: &[pb::QueueEvent]) -> Vec<(QueueEventKind, String)> {
    events.iter().map(|e| (e.kind(), id_of(e))).collect()
}

async fn a_resumed_watch_gets_exactly_what_it_missed_also_after_a_restart(backend: Backend) {
    let Some(site) = Site::new(backend) else {
        return;
    };
    let server = TestServer::start(site.config()).await;
    let mut public = server.client().await;
    let mut alice = server.moderator(Some(ALICE)).await;
    let start = cursor_now(&mut public, &alice).await;

    // Missed while no watch is open.
    let held = submit(&mut public, submission("r", HELD)).await;
    let spam = submit(&mut public, bot("r", "hello there friends")).await;
    submit(&mut public, submission("r", BENIGN)).await; // approved: no event
    decide(&mut alice, &held, ModerationAction::MarkSpam).await;
    let missed = vec![
        (QueueEventKind::Submitted, held.clone()),
        (QueueEventKind::Submitted, spam.clone()),
        (QueueEventKind::Decided, held.clone()),
    ];

    let mut resumed = watch(alice.clone(), &start).await;
    let got = next_events(&mut resumed, 3).await;
    assert_eq!(summary(&got), missed);
    // Each event with the status it left the comment in, its own action and origin.
    let status = |e: &pb::QueueEvent| e.comment.as_ref().unwrap().status();
    assert_eq!(status(&got[0]), CommentStatus::Pending);
    assert_eq!(status(&got[2]), CommentStatus::Spam);
    assert_eq!(got[2].action(), ModerationAction::MarkSpam);
    assert_eq!(got[2].from_status(), CommentStatus::Pending);
    let cursors: Vec<String> = got.iter().map(|e| e.cursor.clone()).collect();
    assert!(
        cursors.windows(2).all(|w| w[0] < w[1]) && start < cursors[0],
        "{start} {cursors:?}"
    );
    // Then it follows live.
    let live = submit(
        &mut public,
        submission("r", "Another question, with a@example.org"),
    )
    .await;
    let event = resumed.next().await;
    assert_eq!(
        (event.kind(), id_of(&event)),
        (QueueEventKind::Submitted, live.clone())
    );
    drop(resumed);
    server.stop().await;

    // After a restart on the same store, the same cursor gives the same events.
    let server = TestServer::start(site.config()).await;
    let mut public = server.client().await;
    let alice = server.moderator(Some(ALICE)).await;
    let mut again = watch(alice.clone(), &start).await;
    let got = next_events(&mut again, 4).await;
    let mut expected = missed.clone();
    expected.push((QueueEventKind::Submitted, live.clone()));
    assert_eq!(summary(&got), expected);
    assert_eq!(
        got[..3]
            .iter()
            .map(|e| e.cursor.clone())
            .collect::<Vec<_>>(),
        cursors
    );
    // Resuming from the middle gives the rest, then what comes after the restart.
    let mut rest = watch(alice.clone(), &cursors[2]).await;
    let after = submit(
        &mut public,
        submission("r", "Later, write to b@example.org"),
    )
    .await;
    let got = next_events(&mut rest, 2).await;
    assert_eq!(
        summary(&got),
        vec![
            (QueueEventKind::Submitted, live),
            (QueueEventKind::Submitted, after)
        ]
    );
    drop((again, rest));
    server.stop().await;
}

async fn an_unknown_cursor_is_invalid_argument(backend: Backend) {
    let Some(site) = Site::new(backend) else {
        return;
    };
    let server = TestServer::start(site.config()).await;
    let mut alice = server.moderator(Some(ALICE)).await;
    for garbage in ["zz", "12", "not a cursor at all", "7fffffffffffffff"] {
        let refused = alice
            .watch_queue(pb::WatchQueueRequest {
                after_cursor: garbage.into(),
                ..Default::default()
            })
            .await
            .expect_err(garbage);
        assert_eq!(
            refused.code(),
            Code::InvalidArgument,
            "{garbage}: {refused:?}"
        );
        assert_eq!(violated_fields(&refused), ["after_cursor"], "{garbage}");
    }
    server.stop().await;
}

async fn a_cursor_older_than_the_window_gets_lagged_then_the_oldest_kept(backend: Backend) {
    let Some(site) = Site::new(backend) else {
        return;
    };
    let server = TestServer::start(site.config()).await;
    let mut public = server.client().await;
    let alice = server.moderator(Some(ALICE)).await;
    let start = cursor_now(&mut public, &alice).await;
    for n in 0..3 {
        submit(&mut public, submission("old", &format!("{HELD} ({n})"))).await;
    }
    let kept = submit(&mut public, submission("old", "Newest, from x@example.org")).await;
    server.stop().await;

    let store = site.open_store().await;
    let now = commentguard::comment::now_ms();
    // Within the documented window nothing goes.
    assert_eq!(
        store.prune_events(EventWindow::DEFAULT, now).await.unwrap(),
        0
    );
    // Five events: the probe and four submissions (on PostgreSQL they are read once every
    // transaction older than theirs has ended, other tests' included).
    let deadline = support::Deadline::start("the five events in the log");
    let before = loop {
        let page = store.events_after(None, 1000).await.unwrap();
        if page.events.len() == 5 {
            break page;
        }
        deadline.check();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let window = EventWindow {
        keep_count: 1,
        keep_ms: 0,
    };
    let pruned = store.prune_events(window, now + 1).await.unwrap();
    assert_eq!(pruned as usize, before.events.len() - 1);
    let after = store.events_after(None, 1000).await.unwrap();
    assert_eq!(after.events.len(), 1);
    assert_eq!(
        after.pruned_through,
        Some(before.events[before.events.len() - 2].sequence)
    );
    store.close().await.unwrap();
    drop(store); // sled: the directory is free again only once every handle is gone

    let server = TestServer::start(site.config()).await;
    let alice = server.moderator(Some(ALICE)).await;
    let mut resumed = watch(alice.clone(), &start).await;
    let lagged = resumed.next().await;
    assert_eq!(lagged.kind(), QueueEventKind::Lagged);
    assert!(lagged.lagged >= 1 && lagged.cursor.is_empty(), "{lagged:?}");
    let next = resumed.next().await;
    assert_eq!(
        (next.kind(), id_of(&next)),
        (QueueEventKind::Submitted, kept)
    );
    // The newest event's cursor is still good.
    let mut current = watch(alice.clone(), &next.cursor).await;
    let mut public = server.client().await;
    let later = submit(&mut public, submission("old", "Then, from y@example.org")).await;
    assert_eq!(id_of(&current.next().await), later);
    drop((resumed, current));
    server.stop().await;
}

on_both_backends!(
    a_resumed_watch_gets_exactly_what_it_missed_also_after_a_restart,
    an_unknown_cursor_is_invalid_argument,
    a_cursor_older_than_the_window_gets_lagged_then_the_oldest_kept,
);

#[tokio::test]
async fn a_cursor_from_one_frontend_resumes_on_the_other() {
    let Some(site) = Site::new(Backend::Postgres) else {
        return;
    };
    let a = TestServer::start(site.config()).await;
    a.client().await;
    let b = TestServer::start(site.config()).await;
    let mut on_a = a.client().await;
    let mut on_b = b.client().await;
    let alice_a = a.moderator(Some(ALICE)).await;
    let mut alice_b = b.moderator(Some(ALICE)).await;
    let start = cursor_now(&mut on_a, &alice_a).await;

    let first = submit(&mut on_a, submission("ab", HELD)).await;
    decide(&mut alice_b, &first, ModerationAction::Approve).await;
    let second = submit(&mut on_b, submission("ab", "From B, by c@example.org")).await;
    let expected = vec![
        (QueueEventKind::Submitted, first.clone()),
        (QueueEventKind::Decided, first),
        (QueueEventKind::Submitted, second),
    ];
    let mut on_b_watch = watch(alice_b.clone(), &start).await;
    let from_b = next_events(&mut on_b_watch, 3).await;
    assert_eq!(summary(&from_b), expected);
    let mut on_a_watch = watch(alice_a.clone(), &start).await;
    let from_a = next_events(&mut on_a_watch, 3).await;
    assert_eq!(summary(&from_a), expected);
    let cursors = |events: &[pb::QueueEvent]| -> Vec<String> {
        events.iter().map(|e| e.cursor.clone()).collect()
    };
    assert_eq!(cursors(&from_a), cursors(&from_b));
    // Both keep following what either frontend commits.
    let third = submit(&mut on_a, submission("ab", "Again from A, d@example.org")).await;
    assert_eq!(id_of(&on_b_watch.next().await), third);
    assert_eq!(id_of(&on_a_watch.next().await), third);
    drop((on_a_watch, on_b_watch));
    a.stop().await;
    b.stop().await;
}
