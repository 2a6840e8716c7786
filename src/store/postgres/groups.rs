//! A task that answers requests in groups, as the committer groups inserts: it takes one
//! request, then every other one already waiting, and answers them all from one call — so a
//! group costs the same statements whatever its size (flood timers, campaign sightings).

use std::future::Future;

use tokio::sync::{mpsc, oneshot};

use crate::store::StoreError;

/// Requests waiting for a group task at most.
pub(super) const QUEUE: usize = 4096;

/// One request waiting for its group: what it asks, and where its answer goes.
#[derive(Debug)]
pub(super) struct Grouped<I, O> {
    input: I,
    reply: oneshot::Sender<Result<O, StoreError>>,
}

/// Sends `input` to the task behind `requests` and waits for its answer.
///
/// # Errors
/// The group's failure, or [`StoreError::Closed`] when the task is gone.
pub(super) async fn ask<I, O>(
    requests: &mpsc::Sender<Grouped<I, O>>,
    input: I,
) -> Result<O, StoreError> {
    let (reply, answer) = oneshot::channel();
    if requests.send(Grouped { input, reply }).await.is_err() {
        return Err(StoreError::Closed);
    }
    answer.await.unwrap_or(Err(StoreError::Closed))
}

/// Answers requests in groups of at most `max` until every sender is gone; `answer` gets a
/// group's inputs in arrival order and returns one outcome per input, in the same order.
pub(super) async fn answer_in_groups<I, O, F, Fut>(
    mut requests: mpsc::Receiver<Grouped<I, O>>,
    max: usize,
    mut answer: F,
) where
    F: FnMut(Vec<I>) -> Fut,
    Fut: Future<Output = Result<Vec<O>, StoreError>>,
{
    while let Some(first) = requests.recv().await {
        let mut group = vec![first];
        while group.len() < max {
            match requests.try_recv() {
                Ok(request) => group.push(request),
                Err(_) => break,
            }
        }
        let (inputs, replies): (Vec<I>, Vec<_>) =
            group.into_iter().map(|g| (g.input, g.reply)).unzip();
        match answer(inputs).await {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(e.duplicate()));
                }
            }
        }
    }
}
