//! Losing a machine: a frontend killed under load, and the PostgreSQL primary killed and
//! replaced by its synchronous standby. In both, every comment whose submission returned OK
//! is in the database afterwards, and clients meanwhile get retryable errors.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use commentguard::api::pb::comment_service_client::CommentServiceClient;
use commentguard::store::Storage as _;
use commentguard::store::postgres::{PgOptions, PgStore};
use support::postgres::Cluster;
use support::{Backend, Deadline, Site, TestServer, submission};
use tonic::Code;

/// What a load of submissions saw: the ids acknowledged (with when each request was sent),
/// and every refusal's code with the time it came.
#[derive(Default)]
struct Seen {
    acknowledged: Vec<(Instant, String)>,
    refused: Vec<(Instant, Code)>,
}

/// Submits distinct comments to `url` from `workers` tasks (named `name` and a number)
/// until `stop` is set; each outcome goes into `seen`.
fn load(
    url: String,
    name: &'static str,
    workers: usize,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..workers)
        .map(|worker| {
            let (url, seen, stop) = (url.clone(), Arc::clone(&seen), Arc::clone(&stop));
            tokio::spawn(async move {
                let Ok(channel) = tonic::transport::Endpoint::from_shared(url)
                    .unwrap()
                    .connect_timeout(Duration::from_secs(2))
                    .timeout(Duration::from_secs(10))
                    .connect()
                    .await
                else {
                    return;
                };
                let mut client = CommentServiceClient::new(channel);
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    n += 1;
                    let mut request = submission(
                        &format!("load-{name}{worker}"),
                        &format!("Comment {n} from worker {name}{worker}, each one different from the rest."),
                    );
                    request.author_email = format!("{name}{worker}n{n}@example.com");
                    let sent = Instant::now();
                    let outcome = client.submit_comment(request).await;
                    let refused = {
                        let mut seen = seen.lock().unwrap();
                        match outcome {
                            Ok(answer) => {
                                let id = answer.into_inner().comment_id;
                                seen.acknowledged.push((sent, id));
                                false
                            }
                            Err(status) => {
                                seen.refused.push((Instant::now(), status.code()));
                                true
                            }
                        }
                    };
                    if refused {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            })
        })
        .collect()
}

fn acknowledged(seen: &Mutex<Seen>) -> usize {
    seen.lock().unwrap().acknowledged.len()
}

/// Waits until `seen` has at least `count` acknowledgements.
async fn until_acknowledged(seen: &Mutex<Seen>, count: usize, what: &str) {
    let deadline = Deadline::start(what);
    while acknowledged(seen) < count {
        deadline.check();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every acknowledged id is in the database at `url`; returns how many comments it holds.
async fn assert_all_stored(url: &str, seen: &Mutex<Seen>) -> u64 {
    let store = PgStore::open(
        url,
        PgOptions {
            pool_size: 2,
            batch_limit: 1,
        },
    )
    .await
    .unwrap();
    let ids: Vec<String> = seen
        .lock()
        .unwrap()
        .acknowledged
        .iter()
        .map(|(_, id)| id.clone())
        .collect();
    for id in &ids {
        let parsed = commentguard::comment::CommentId::parse(id).unwrap();
        assert!(
            store.get(parsed).await.unwrap().is_some(),
            "acknowledged comment {id} is missing"
        );
    }
    let stored = store
        .status_counts()
        .await
        .unwrap()
        .iter()
        .map(|(_, n)| n)
        .sum();
    store.close().await.unwrap();
    stored
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_frontend_under_load_loses_no_acknowledged_comment() {
    let Some(site) = Site::new(Backend::Postgres) else {
        return;
    };
    let url = site.database_url.clone().unwrap();
    let (mut doomed, doomed_url) =
        support::start_binary_with(site.dir.path(), &["--database-url", &url]);
    let survivor = TestServer::start(site.config()).await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = load(
        doomed_url,
        "doomed",
        8,
        Arc::clone(&seen),
        Arc::clone(&stop),
    );
    workers.extend(load(
        survivor.url.clone(),
        "survivor",
        2,
        Arc::clone(&seen),
        Arc::clone(&stop),
    ));
    until_acknowledged(&seen, 300, "300 acknowledged comments before the kill").await;
    doomed.kill().unwrap();
    doomed.wait().unwrap();
    let at_kill = acknowledged(&seen);
    until_acknowledged(&seen, at_kill + 50, "the survivor to go on").await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for worker in workers {
        support::within("a load worker to stop", worker)
            .await
            .unwrap();
    }
    survivor.stop().await;
    let stored = assert_all_stored(&url, &seen).await;
    let acked = acknowledged(&seen) as u64;
    eprintln!("frontend killed: {acked} acknowledged, {stored} stored");
    // A comment stored whose answer the kill cut off is stored without acknowledgement.
    assert!(stored >= acked);
}

/// Waits until the primary on `port` confirms commits with a synchronous standby.
async fn until_synchronous(port: u16) {
    let (client, connection) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} user=postgres dbname=postgres"),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    let deadline = Deadline::start("the standby to be synchronous");
    loop {
        let rows = client
            .query(
                "SELECT 1 FROM pg_stat_replication WHERE sync_state = 'sync'",
                &[],
            )
            .await
            .unwrap();
        if !rows.is_empty() {
            return;
        }
        deadline.check();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_to_a_synchronous_standby_keeps_every_acknowledged_comment() {
    if support::postgres::shared().is_none() {
        return;
    }
    let primary = Cluster::start(&[]).unwrap();
    primary.sql("CREATE DATABASE cg").unwrap();
    let standby = primary.standby().unwrap();
    until_synchronous(primary.port).await;
    let url = format!(
        "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/cg?target_session_attrs=read-write",
        primary.port, standby.port
    );
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::config(dir.path());
    config.database_url = Some(url.clone());
    let a = TestServer::start(config.clone()).await;
    a.client().await;
    let b = TestServer::start(config).await;
    b.client().await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = load(a.url.clone(), "a", 4, Arc::clone(&seen), Arc::clone(&stop));
    workers.extend(load(
        b.url.clone(),
        "b",
        4,
        Arc::clone(&seen),
        Arc::clone(&stop),
    ));
    until_acknowledged(&seen, 200, "200 acknowledged comments before the failover").await;

    primary.kill();
    // Dead once every process of it has been sent SIGKILL (which takes a few milliseconds).
    let killed = Instant::now();
    let before = acknowledged(&seen);
    tokio::time::sleep(Duration::from_millis(500)).await;
    standby.promote().unwrap();
    until_acknowledged(
        &seen,
        before + 100,
        "100 acknowledged comments after the promotion",
    )
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for worker in workers {
        support::within("a load worker to stop", worker)
            .await
            .unwrap();
    }
    a.stop().await;
    b.stop().await;

    let standby_url = format!("postgres://postgres@127.0.0.1:{}/cg", standby.port);
    let stored = assert_all_stored(&standby_url, &seen).await;
    let seen = seen.lock().unwrap();
    // The first submission sent after the kill that was acknowledged: the gap clients saw.
    let first_after = seen
        .acknowledged
        .iter()
        .filter(|(sent, _)| *sent > killed)
        .map(|(sent, _)| *sent - killed)
        .min();
    let codes: std::collections::BTreeSet<String> = seen
        .refused
        .iter()
        .map(|(_, code)| format!("{code:?}"))
        .collect();
    eprintln!(
        "failover: {} acknowledged, {stored} stored on the new primary; first submission \
         acknowledged was sent {first_after:?} after the primary's death (promotion after 500 ms); {} refusals: {codes:?}",
        seen.acknowledged.len(),
        seen.refused.len()
    );
    assert!(stored >= seen.acknowledged.len() as u64);
    assert!(
        seen.refused
            .iter()
            .all(|(_, code)| *code == Code::Unavailable),
        "refusals other than UNAVAILABLE: {codes:?}"
    );
}
