//! Throwaway PostgreSQL clusters for tests: `initdb` in a temporary directory, a free
//! loopback port, `pg_ctl start`; no system service. One shared cluster per test binary
//! ([`shared`]) with a fresh database per test ([`Cluster::database`]); the failover test
//! starts clusters of its own. A watchdog process stops a cluster when the test binary
//! exits, however it exits.
//!
//! PostgreSQL refuses to run as root: as root, every server command runs as the `postgres`
//! user (Debian's package creates it).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A running cluster.
pub struct Cluster {
    /// Its data directory.
    pub data: PathBuf,
    /// Its port on 127.0.0.1.
    pub port: u16,
    bin: PathBuf,
    _dir: tempfile::TempDir,
}

/// Why the PostgreSQL tests cannot run here.
const MISSING: &str = "PostgreSQL server binaries (initdb, pg_ctl) not found; \
                       install them with `apt-get install postgresql-15`";

/// The directory of PostgreSQL's server binaries, newest version first.
pub fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
        .collect();
    versions.sort();
    versions.pop()
}

/// Whether this process runs as root (server commands then run as `postgres`).
fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

/// A command of the server's, run as `postgres` when this process is root.
fn server_command(bin: &Path, program: &str) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command
            .args(["-u", "postgres", "--"])
            .arg(bin.join(program));
        command
    } else {
        Command::new(bin.join(program))
    }
}

/// Runs a command to completion; its output on failure.
fn run(mut command: Command, what: &str) -> Result<(), String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// A free loopback port (free when asked; the server binds it right after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// The shared cluster of this test binary, started on first use. `None` (after printing
/// one line saying what does not run) when PostgreSQL is not installed, outside CI.
///
/// # Panics
/// Under CI (`CI=true`) when PostgreSQL is missing or does not start.
pub fn shared() -> Option<&'static Cluster> {
    static SHARED: OnceLock<Option<Cluster>> = OnceLock::new();
    SHARED
        .get_or_init(|| match Cluster::start(&[]) {
            Ok(cluster) => Some(cluster),
            Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
                panic!("PostgreSQL is required under CI: {why}")
            }
            Err(why) => {
                eprintln!("skipped: the PostgreSQL variants of these tests did not run ({why})");
                None
            }
        })
        .as_ref()
}

impl Cluster {
    /// Creates and starts a cluster with these extra `postgresql.conf` lines.
    ///
    /// # Errors
    /// When PostgreSQL is missing or does not start.
    pub fn start(settings: &[&str]) -> Result<Self, String> {
        let bin = bin_dir().ok_or(MISSING)?;
        let dir = Self::private_dir()?;
        let data = dir.path().join("data");
        let mut initdb = server_command(&bin, "initdb");
        initdb
            .args(["--auth=trust", "--username=postgres", "--no-sync", "-D"])
            .arg(&data);
        run(initdb, "initdb")?;
        let port = free_port();
        let mut conf = format!(
            "port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             max_connections = 300\nshared_buffers = 32MB\n",
            dir.path().display()
        );
        for line in settings {
            conf.push_str(line);
            conf.push('\n');
        }
        append(&data.join("postgresql.conf"), &conf)?;
        let cluster = Self {
            data,
            port,
            bin,
            _dir: dir,
        };
        cluster.pg_ctl_start()?;
        cluster.watch_for_exit();
        Ok(cluster)
    }

    /// A temporary directory the `postgres` user owns.
    fn private_dir() -> Result<tempfile::TempDir, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        if is_root() {
            let mut chown = Command::new("chown");
            chown.arg("postgres:postgres").arg(dir.path());
            run(chown, "chown")?;
        }
        Ok(dir)
    }

    /// Starts the server and waits until it takes connections.
    pub fn pg_ctl_start(&self) -> Result<(), String> {
        let mut start = server_command(&self.bin, "pg_ctl");
        start
            .args(["-w", "-t", "60", "-l"])
            .arg(self.data.join("server.log"))
            .arg("-D")
            .arg(&self.data)
            .arg("start");
        run(start, "pg_ctl start")
    }

    /// Stops the server at once (`kill -9` of the postmaster): no checkpoint, no goodbye.
    pub fn kill(&self) {
        if let Some(pid) = self.postmaster_pid() {
            // Its backends first, so none goes on serving a connection it already has.
            for process in children(pid).into_iter().chain([pid]) {
                let _ = Command::new("kill")
                    .args(["-KILL", &process.to_string()])
                    .status();
            }
        }
    }

    /// Promotes a standby to primary and waits until it is one.
    pub fn promote(&self) -> Result<(), String> {
        let mut promote = server_command(&self.bin, "pg_ctl");
        promote.args(["-w", "-D"]).arg(&self.data).arg("promote");
        run(promote, "pg_ctl promote")
    }

    /// The server's process id.
    pub fn postmaster_pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.data.join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    /// Starts a process that stops this cluster's server (immediate shutdown) once the
    /// test binary has exited, and removes its temporary directory (data and sockets): the
    /// shared cluster is never dropped.
    fn watch_for_exit(&self) {
        let dir = self.data.parent().unwrap_or(&self.data);
        let script = format!(
            "while kill -0 {test} 2>/dev/null; do sleep 1; done; \
             pid=$(head -1 '{data}/postmaster.pid' 2>/dev/null) && kill -QUIT \"$pid\"; \
             sleep 2; rm -rf '{dir}'",
            test = std::process::id(),
            data = self.data.display(),
            dir = dir.display()
        );
        let _ = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }

    /// A libpq URL of database `name` on this cluster.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// A fresh, empty database; its URL.
    ///
    /// # Panics
    /// When it cannot be created.
    pub fn database(&self) -> String {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "t{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        self.sql(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("{e}"));
        self.url(&name)
    }

    /// Runs one SQL command in the `postgres` database.
    ///
    /// # Errors
    /// psql's output when the command fails.
    pub fn sql(&self, sql: &str) -> Result<(), String> {
        let mut psql = Command::new(self.bin.join("psql"));
        psql.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(self.url("postgres"))
            .args(["-c", sql]);
        run(psql, "psql")
    }

    /// Makes a synchronous streaming standby of this primary (`pg_basebackup -R`) and
    /// starts it; the primary then waits for it on every commit.
    ///
    /// # Errors
    /// When the base backup or the standby's start fails.
    pub fn standby(&self) -> Result<Self, String> {
        let dir = Self::private_dir()?;
        let data = dir.path().join("data");
        let mut backup = server_command(&self.bin, "pg_basebackup");
        backup
            .args(["-R", "-X", "stream", "-c", "fast", "-d"])
            .arg(format!(
                "host=127.0.0.1 port={} user=postgres application_name=standby",
                self.port
            ))
            .arg("-D")
            .arg(&data);
        run(backup, "pg_basebackup")?;
        let port = free_port();
        append(
            &data.join("postgresql.conf"),
            &format!(
                "port = {port}\nunix_socket_directories = '{}'\n",
                dir.path().display()
            ),
        )?;
        let standby = Self {
            data,
            port,
            bin: self.bin.clone(),
            _dir: dir,
        };
        standby.pg_ctl_start()?;
        standby.watch_for_exit();
        self.sql("ALTER SYSTEM SET synchronous_standby_names = 'standby'")?;
        self.sql("SELECT pg_reload_conf()")?;
        Ok(standby)
    }
}

/// The processes whose parent is `parent` (from `/proc`).
fn children(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            // `pid (comm) state ppid ...`; comm may hold spaces, so split after its `)`.
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    let rest = stat.rsplit_once(')')?.1;
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(parent)
        })
        .collect()
}

fn append(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write as _;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| format!("{}: {e}", path.display()))
}
