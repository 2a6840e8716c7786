//! The storage a stored comment needs, written into sled 0.34 (what the service runs on), fjall 2
//! (an LSM tree) and redb 2 (a copy-on-write B-tree), one writer, batches of 64 comments with
//! one durable commit each, as the service's committer does. Per comment: a 250-byte record
//! under an increasing id (a compressed record is about that size and as incompressible), a
//! post entry (350 posts, as `commentguard load` makes), a status entry, and an author entry
//! under the author's hash (`AUTHORS` distinct authors, drawn at random). Page caches 16 MiB,
//! sled segments 8 MiB, fjall memtables 8 MiB.
//!
//! Prints comments per second, RSS and disk per comment after N, then the time to open again,
//! RSS after 100 point reads, and disk. With `crash` the writer aborts instead of closing (as
//! after `kill -9`); `engine-bench ENGINE open` then measures the first open. Data goes to
//! `/tmp/engine-bench/ENGINE`.

use std::path::Path;
use std::time::Instant;

use rand::Rng;

const BATCH: usize = 64;
const POSTS: u64 = 350;

fn rss_mb() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with("VmRSS")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<f64>()
        .unwrap()
        / 1024.0
}

fn du(path: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(path).unwrap() {
        let e = e.unwrap();
        let m = e.metadata().unwrap();
        if m.is_dir() {
            total += du(&e.path());
        } else {
            use std::os::unix::fs::MetadataExt;
            total += m.blocks() * 512;
        }
    }
    total
}

/// The entries one comment writes: record, post entry, status entry, author entry.
fn entries(i: u64, authors: u64, rng: &mut impl Rng) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut id = i.to_be_bytes().to_vec();
    id.extend_from_slice(&rng.random::<u64>().to_be_bytes());
    let record: Vec<u8> = (0..250).map(|_| rng.random::<u8>()).collect();
    let status = if rng.random_bool(0.5) { 1u8 } else { 3u8 };
    let post = format!("replay-1234-{}", i % POSTS);
    let author = rng.random_range(0..authors);
    let mut hash = [0u8; 16];
    let mut a = author.wrapping_mul(0x9E3779B97F4A7C15);
    for b in hash.iter_mut() {
        a = a.rotate_left(8) ^ 0x5bd1e995;
        *b = a as u8;
    }
    let mut c = vec![b'c'];
    c.extend_from_slice(&id);
    let mut p = vec![b'p'];
    p.extend_from_slice(post.as_bytes());
    p.push(0);
    p.push(status);
    p.extend_from_slice(&id);
    let mut s = vec![b's', status];
    s.extend_from_slice(&id);
    let mut au = vec![b'a'];
    au.extend_from_slice(&hash);
    au.push(b'd');
    au.extend_from_slice(&rng.random::<u64>().to_be_bytes());
    au.extend_from_slice(&id);
    vec![
        (c, record),
        (p, vec![]),
        (s, i.to_be_bytes().to_vec()),
        (au, vec![status]),
    ]
}

trait Engine {
    fn commit(&mut self, batch: Vec<(Vec<u8>, Vec<u8>)>);
    fn get(&self, key: &[u8]) -> bool;
}

struct Sled(sled::Db, sled::Tree);
impl Engine for Sled {
    fn commit(&mut self, batch: Vec<(Vec<u8>, Vec<u8>)>) {
        let mut b = sled::Batch::default();
        for (k, v) in batch {
            b.insert(k, v);
        }
        self.1.apply_batch(b).unwrap();
        self.0.flush().unwrap();
    }
    fn get(&self, key: &[u8]) -> bool {
        self.1.get(key).unwrap().is_some()
    }
}

struct Fjall(fjall::Keyspace, fjall::PartitionHandle);
impl Engine for Fjall {
    fn commit(&mut self, batch: Vec<(Vec<u8>, Vec<u8>)>) {
        let mut b = self.0.batch();
        for (k, v) in batch {
            b.insert(&self.1, k, v);
        }
        b.commit().unwrap();
        self.0.persist(fjall::PersistMode::SyncData).unwrap();
    }
    fn get(&self, key: &[u8]) -> bool {
        self.1.get(key).unwrap().is_some()
    }
}

const TABLE: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("v");
struct Redb(redb::Database);
impl Engine for Redb {
    fn commit(&mut self, batch: Vec<(Vec<u8>, Vec<u8>)>) {
        let tx = self.0.begin_write().unwrap();
        {
            let mut t = tx.open_table(TABLE).unwrap();
            for (k, v) in batch {
                t.insert(k.as_slice(), v.as_slice()).unwrap();
            }
        }
        tx.commit().unwrap();
    }
    fn get(&self, key: &[u8]) -> bool {
        let tx = self.0.begin_read().unwrap();
        let t = tx.open_table(TABLE).unwrap();
        t.get(key).unwrap().is_some()
    }
}

fn open(engine: &str, dir: &Path) -> Box<dyn Engine> {
    match engine {
        "sled" => {
            let db = sled::Config::new()
                .path(dir)
                .cache_capacity(16 << 20)
                .segment_size(8 << 20)
                .open()
                .unwrap();
            let t = db.open_tree("v3").unwrap();
            Box::new(Sled(db, t))
        }
        "fjall" => {
            let ks = fjall::Config::new(dir).cache_size(16 << 20).open().unwrap();
            let p = ks
                .open_partition(
                    "v",
                    fjall::PartitionCreateOptions::default().max_memtable_size(8 << 20),
                )
                .unwrap();
            Box::new(Fjall(ks, p))
        }
        "redb" => {
            std::fs::create_dir_all(dir).unwrap();
            let db = redb::Builder::new()
                .set_cache_size(16 << 20)
                .create(dir.join("db.redb"))
                .unwrap();
            Box::new(Redb(db))
        }
        _ => panic!("engine"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: engine-bench sled|fjall|redb N AUTHORS [crash] | engine-bench ENGINE open";
    let engine = args.first().expect(usage).clone();
    let dir = Path::new("/tmp/engine-bench").join(&engine);
    if args.get(1).map(String::as_str) == Some("open") {
        let probe: Vec<Vec<u8>> = std::fs::read(dir.with_extension("probe"))
            .expect("no probe file: write with `crash` first")
            .chunks(PROBE_KEY)
            .map(<[u8]>::to_vec)
            .collect();
        reopen_and_probe(&engine, &dir, &probe, "after the crash");
        return;
    }
    let n: u64 = args.get(1).expect(usage).parse().expect(usage);
    let authors: u64 = args.get(2).expect(usage).parse().expect(usage);
    let crash = args.get(3).map(String::as_str) == Some("crash");
    let _ = std::fs::remove_dir_all(&dir);
    let mut rng = rand::rng();
    let mut db = open(&engine, &dir);
    let started = Instant::now();
    let mut probe = Vec::new();
    let mut i = 0;
    while i < n {
        let mut batch = Vec::with_capacity(BATCH * 4);
        for _ in 0..BATCH {
            let e = entries(i, authors, &mut rng);
            if i % 10_000 == 0 {
                probe.push(e[3].0.clone());
            }
            batch.extend(e);
            i += 1;
        }
        db.commit(batch);
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{engine} n={n} authors={authors}: {:.0} comments/s, RSS {:.1} MB, disk {} B/comment",
        n as f64 / secs,
        rss_mb(),
        du(&dir) / n
    );
    if crash {
        // Every commit was durable; end like `kill -9` (no destructor, no final flush).
        std::fs::write(dir.with_extension("probe"), probe.concat()).unwrap();
        std::process::abort();
    }
    drop(db);
    reopen_and_probe(&engine, &dir, &probe, "reopen");
}

/// Author keys are 1 + 16 + 1 + 8 + 16 bytes.
const PROBE_KEY: usize = 42;

fn reopen_and_probe(engine: &str, dir: &Path, probe: &[Vec<u8>], what: &str) {
    let started = Instant::now();
    let db = open(engine, dir);
    let opened = started.elapsed();
    let found = probe.iter().filter(|k| db.get(k)).count();
    println!(
        "  {what}: open {:.2} s, RSS after {} probes ({} found) {:.1} MB, disk {} MB",
        opened.as_secs_f64(),
        probe.len(),
        found,
        rss_mb(),
        du(dir) >> 20
    );
}
