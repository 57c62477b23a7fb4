//! A PostgreSQL server for the database tests, and a fresh empty database per test on it.
//!
//! `.ci/run` starts a throwaway cluster (`.ci/postgres.sh`) and names it in
//! `DOSESIM_TEST_POSTGRES`, a `postgresql://` URL of a database on that server whose user may
//! create databases. Without it (a developer's `cargo test`), the first test that asks starts a
//! private cluster for this test process with the installed server binaries (Debian's
//! `postgresql` package): in a temporary directory, on a unix socket in that directory only (no
//! TCP port), trusting local connections, run by the `postgres` user when the tests run as root
//! (initdb refuses root). It is stopped and its directory removed when the process ends: a
//! watcher process holds the read end of a pipe this process never writes to, and stops the
//! server when the pipe closes, which it does at a normal exit (where an `atexit` handler waits
//! for the watcher, so nothing is left running when `cargo test` returns) and when the process
//! is killed.
//!
//! Without any server binaries a test asking for the server fails saying what to install; it
//! never passes without a database.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use postgres::error::SqlState;
use postgres::{Client, NoTls};

/// The variable `.ci/run` names its server in.
pub const ENV: &str = "DOSESIM_TEST_POSTGRES";

static SERVER: OnceLock<String> = OnceLock::new();
static WATCHER: Mutex<Option<Child>> = Mutex::new(None);

/// The URL of a database on the test server whose user may create databases:
/// `DOSESIM_TEST_POSTGRES` when set, otherwise this process's private cluster (started on the
/// first call).
pub fn server() -> String {
    SERVER
        .get_or_init(|| match std::env::var(ENV) {
            Ok(url) if !url.trim().is_empty() => {
                assert!(
                    url.starts_with("postgres://") || url.starts_with("postgresql://"),
                    "{ENV} must be a postgres:// or postgresql:// URL, not {url:?}"
                );
                url
            }
            _ => start_private_cluster(),
        })
        .clone()
}

/// Makes a new empty database on the test server, named after `name_hint` and unique to this
/// call (tests run in parallel), and returns its URL, as `dosesim --db` takes it.
pub fn fresh_database(name_hint: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let base = server();
    let mut client = connect(&base);
    let hint = database_hint(name_hint);
    for _ in 0..1000 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("t_{hint}_{}_{n}", std::process::id());
        match client.batch_execute(&format!("CREATE DATABASE \"{name}\"")) {
            Ok(()) => return with_database(&base, &name),
            // Left over from an earlier run on a long-lived server: take the next number.
            Err(e) if e.code() == Some(&SqlState::DUPLICATE_DATABASE) => continue,
            Err(e) => panic!("could not create a test database {name} on {base}: {e}"),
        }
    }
    panic!("no free test database name for {name_hint:?} on {base}");
}

/// A client for `url`, or a failed test saying which server did not answer.
pub fn connect(url: &str) -> Client {
    Client::connect(url, NoTls)
        .unwrap_or_else(|e| panic!("the test PostgreSQL server at {url} does not answer: {e}"))
}

/// `name_hint` as part of a database name: lower-case letters, digits and `_`, short enough
/// that the whole name stays under PostgreSQL's 63 bytes.
fn database_hint(name_hint: &str) -> String {
    name_hint
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(30)
        .collect()
}

/// `base` with its database (the URL's path) replaced by `name`, its query kept.
fn with_database(base: &str, name: &str) -> String {
    let (scheme, rest) = base.split_once("://").expect("a postgres URL");
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let query = tail.find('?').map_or("", |i| &tail[i..]);
    format!("{scheme}://{authority}/{name}{query}")
}

/// The newest installed server's binary directory: Debian's `/usr/lib/postgresql/<version>/bin`.
fn server_bindir() -> Option<PathBuf> {
    let mut found: Vec<(Vec<u64>, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.to_string();
            let key = version
                .split('.')
                .map(|p| p.parse().ok())
                .collect::<Option<Vec<u64>>>()?;
            let bin = entry.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("pg_ctl").is_file()).then_some((key, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A server program run as the server's owner (the `postgres` user when we are root), from
/// inside `dir` (root's working directory may be closed to that user).
fn as_owner(program: &Path, dir: &Path) -> Command {
    let mut cmd = if running_as_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    };
    cmd.current_dir(dir).stdin(Stdio::null());
    cmd
}

fn run_ok(mut cmd: Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts this process's own cluster and returns the URL of its `postgres` database.
fn start_private_cluster() -> String {
    let bin = server_bindir().unwrap_or_else(|| {
        panic!(
            "the database tests need PostgreSQL's server and none is installed: \
             apt-get install -y postgresql (Debian's package; bash .ci/run installs it), \
             or set {ENV} to a postgresql:// URL of a server the tests may create databases on"
        )
    });
    let dir = tempfile::Builder::new()
        .prefix("dosesim-pg.")
        .tempdir()
        .expect("a temporary directory for the test PostgreSQL cluster")
        .keep();
    let sock = dir.join("sock");
    std::fs::create_dir(&sock).expect("the socket directory");
    if running_as_root() {
        let mut chown = Command::new("chown");
        chown.arg("-R").arg("postgres:").arg(&dir);
        run_ok(
            chown,
            "giving the test cluster's directory to the postgres user",
        );
    }
    // Watched from here on: the directory goes at exit even when the start fails.
    watch(&bin, &dir);
    init_cluster(&bin, &dir, &sock);
    let mut start = as_owner(&bin.join("pg_ctl"), &dir);
    start
        .arg("-D")
        .arg(dir.join("data"))
        .arg("-l")
        .arg(dir.join("server.log"));
    start.args(["-w", "start"]);
    let started = start.output().expect("pg_ctl runs");
    let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
    assert!(
        started.status.success(),
        "the test PostgreSQL server did not start:\n{}{log}",
        String::from_utf8_lossy(&started.stderr)
    );
    let host = sock
        .to_str()
        .expect("a UTF-8 temporary directory")
        .replace('/', "%2F");
    format!("postgresql://postgres@{host}:5432/postgres")
}

/// initdb, then the settings of a throwaway server: a unix socket in `sock` only, no fsync.
fn init_cluster(bin: &Path, dir: &Path, sock: &Path) {
    let data = dir.join("data");
    let mut initdb = as_owner(&bin.join("initdb"), dir);
    initdb.arg("-D").arg(&data);
    initdb.args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"]);
    run_ok(initdb, "initdb for the test PostgreSQL cluster");
    let mut conf = std::fs::OpenOptions::new()
        .append(true)
        .open(data.join("postgresql.conf"))
        .expect("the test cluster's postgresql.conf");
    write!(
        conf,
        "listen_addresses = ''\nunix_socket_directories = '{}'\nport = 5432\n\
         fsync = off\nfull_page_writes = off\nsynchronous_commit = off\n",
        sock.display()
    )
    .expect("the test cluster's settings");
}

/// Starts the watcher that stops the server and removes `dir` once this process's end of its
/// stdin closes, and registers the exit handler that closes it and waits.
fn watch(bin: &Path, dir: &Path) {
    let script = r#"trap '' INT HUP TERM
read -r _
cd "$3"
if [ "$(id -u)" = 0 ]; then
  runuser -u postgres -- "$1" -D "$2" -m immediate -w stop >/dev/null 2>&1
else
  "$1" -D "$2" -m immediate -w stop >/dev/null 2>&1
fi
cd / && rm -rf "$3""#;
    let child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .arg(bin.join("pg_ctl"))
        .arg(dir.join("data"))
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own process group: a Ctrl-C at the terminal reaches the tests, not the watcher.
        .process_group(0)
        .spawn()
        .expect("the test PostgreSQL server's watcher");
    *WATCHER.lock().unwrap_or_else(|e| e.into_inner()) = Some(child);
    // SAFETY: registers a plain extern "C" function with no arguments, as atexit requires.
    let registered = unsafe { libc::atexit(stop_at_exit) };
    assert_eq!(
        registered, 0,
        "could not register the test server's stop at exit"
    );
}

/// At exit: closes the watcher's stdin and waits while it stops the server.
extern "C" fn stop_at_exit() {
    let watcher = WATCHER.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(mut child) = watcher {
        drop(child.stdin.take());
        let _ = child.wait();
    }
}
