//! The database under concurrency and faults (issue 24, item 6), and its migrations from the
//! first schema version (item 1), on SQLite and PostgreSQL.
//!
//! Several tests need other processes: SQLite's locks are between processes, a killed
//! import is a killed process, and a file-size limit is a process's. Those processes are
//! this test binary itself, run with `--ignored --exact` on one of the `child_*` functions
//! below and [`CHILD_DB`] naming the database. The `child_*` functions are ignored in an
//! ordinary run: they are not tests of their own, and never count as passed.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use dosesim::db::{self, Action, Book, Db, Fields, Filter, Location, Open, books};
use dosesim::model::Trial;

use crate::common::postgres::{connect, fresh_database};
use crate::common::root;

/// Names the database a child process works on; unset, the `child_*` functions do nothing.
const CHILD_DB: &str = "DOSESIM_CHILD_DB";
/// Which child of [`concurrent_adds`] this is (0..20).
const CHILD_NO: &str = "DOSESIM_CHILD_NO";
/// The record file a child imports.
const CHILD_LOG: &str = "DOSESIM_CHILD_LOG";
/// What a child prints once its database is open and its import about to begin.
const OPENED: &str = "dosesim-child: database open";

/// Processes adding at once, and the entries each adds (one write each).
const PROCESSES: usize = 20;
const ENTRIES_EACH: usize = 1_000;
/// The trial the concurrent entries belong to.
const CONCURRENT_TRIAL: &str = "NCT-CONCURRENT";

/// The scenario whose roster and record the import tests use.
fn trial() -> Trial {
    dosesim::scenario::load(&root().join("scenarios/nct04822922.toml")).expect("the scenario")
}

/// This test binary, run as the child `test` on the database `db`.
fn child(test: &str, db: &str) -> Command {
    let mut c = Command::new(std::env::current_exe().expect("the test binary"));
    c.args([
        "--ignored",
        "--exact",
        &format!("db_faults::{test}"),
        "--nocapture",
    ])
    .args(["--test-threads", "1"])
    .env(CHILD_DB, db)
    .current_dir(root())
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    c
}

/// The database a child was given, or `None` when this is no child.
fn child_db() -> Option<Location> {
    std::env::var(CHILD_DB)
        .ok()
        .filter(|s| !s.is_empty())
        .map(|s| Location::parse(&s))
}

/// A roster of `n` patients of [`trial`], arms in turn, starting over 2024 and 2025.
fn make_roster(n: usize) -> Vec<u8> {
    let arms = ["low", "middle", "high"];
    let mut out = String::from("patient_id,arm,weight_kg,start_date\n");
    for i in 0..n {
        let w = 45.0 + (i % 400) as f64 / 10.0;
        out.push_str(&format!(
            "P{:07},{},{w},{}\n",
            i + 1,
            arms[i % 3],
            start(i, n)
        ));
    }
    out.into_bytes()
}

/// Patient `i`'s start date of `n`.
fn start(i: usize, n: usize) -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap()
        + chrono::Days::new((i * 700 / n.max(1)) as u64)
}

/// The record of [`make_roster`]'s first `patients` of `n`: the first three infusions
/// given (days 1, 4 and 7), each row's note `note_chars` long.
fn make_log(patients: usize, n: usize, note_chars: usize) -> Vec<u8> {
    let note = "x".repeat(note_chars);
    let mut out = String::from("patient_id,date,record,component,occurrence,amount,note\n");
    for i in 0..patients {
        for (k, day) in [1u64, 4, 7].iter().enumerate() {
            let date = start(i, n) + chrono::Days::new(day - 1);
            out.push_str(&format!(
                "P{:07},{date},given,uc_msc,{},,{note}\n",
                i + 1,
                k + 1
            ));
        }
    }
    out.into_bytes()
}

/// A database at `loc` holding the roster of `patients` (and nothing of the record).
fn with_roster(loc: &Location, trial: &Trial, patients: usize) {
    let mut db = Db::open(loc, Open::OrCreate).expect("a new database");
    books::import_roster(
        &mut db,
        trial,
        Path::new("roster.csv"),
        make_roster(patients),
        "pharm",
    )
    .map_err(|e| e.into_anyhow())
    .expect("the roster imported");
}

/// What must not change when a write fails: the head, a whole chain, the books.
#[derive(Debug, PartialEq)]
struct State {
    head: Option<db::Head>,
    entries: u64,
    roster_csv: Vec<u8>,
    record_csv: Vec<u8>,
}

/// The database's state, its chain verified whole and its books checked.
fn state(loc: &Location, trial: &Trial) -> State {
    let mut db = Db::open(loc, Open::Existing).expect("the database opens");
    let v = db::verify(&mut db).expect("verify runs");
    assert!(v.broken.is_empty(), "the chain is broken: {:?}", v.broken);
    let b = books::load(&mut db, &trial.id).expect("the books load");
    b.check(trial).expect("the books check");
    assert_eq!(v.head, db.head().unwrap());
    State {
        head: v.head,
        entries: v.entries,
        roster_csv: b.roster_csv,
        record_csv: b.record_csv,
    }
}

/// Waits for a child, failing with its output when it failed.
fn wait_ok(c: Child, what: &str) {
    let out = c.wait_with_output().expect("the child ends");
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---- 20 processes at once ----

/// Child role of [`concurrent_adds`]: adds [`ENTRIES_EACH`] entries, each in its own write,
/// as patient `C<n>`, its k-th entry with occurrence k.
#[test]
#[ignore = "a child process of the concurrency test, run by it"]
fn child_adds_entries() {
    let Some(loc) = child_db() else { return };
    let n: usize = std::env::var(CHILD_NO).unwrap().parse().unwrap();
    let mut db = Db::open(&loc, Open::Existing).expect("the child opens the database");
    for k in 0..ENTRIES_EACH {
        let fields = Fields {
            trial_id: CONCURRENT_TRIAL.into(),
            book: Some(Book::Record),
            action: Some(Action::Add),
            patient_id: format!("C{n:02}"),
            values: [
                "2025-03-03".into(),
                "given".into(),
                "uc_msc".into(),
                k.to_string(),
                String::new(),
                format!("process {n} entry {k}"),
            ],
            source: "concurrency test".into(),
            ..Fields::default()
        };
        db.write(&format!("process{n}"), |w| w.append(fields))
            .expect("an entry added");
    }
}

/// 20 processes each adding 1,000 entries at once: every entry there exactly once, the
/// entries numbered without a gap, the chain whole.
fn concurrent_adds(spec: &str) {
    let loc = Location::parse(spec);
    let before = Db::open(&loc, Open::OrCreate)
        .and_then(|mut db| db.head())
        .expect("a new database")
        .expect("entry 1")
        .id;
    let children: Vec<Child> = (0..PROCESSES)
        .map(|n| {
            child("child_adds_entries", spec)
                .env(CHILD_NO, n.to_string())
                .spawn()
                .expect("a child process")
        })
        .collect();
    for (n, c) in children.into_iter().enumerate() {
        wait_ok(c, &format!("process {n}"));
    }
    let mut db = Db::open(&loc, Open::Existing).unwrap();
    let mut ids = Vec::new();
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    db.read(|s| {
        s.scan(&Filter::default(), &mut |e| {
            ids.push(e.id);
            if e.fields.trial_id == CONCURRENT_TRIAL {
                let key = (e.fields.patient_id.clone(), e.fields.values[3].clone());
                *seen.entry(key).or_default() += 1;
            }
            Ok(())
        })
    })
    .unwrap();
    let total = before as usize + PROCESSES * ENTRIES_EACH;
    assert_eq!(
        ids,
        (1..=total as i64).collect::<Vec<_>>(),
        "ids 1..{total}"
    );
    assert_eq!(seen.len(), PROCESSES * ENTRIES_EACH, "distinct entries");
    for n in 0..PROCESSES {
        for k in 0..ENTRIES_EACH {
            let key = (format!("C{n:02}"), k.to_string());
            assert_eq!(seen.get(&key), Some(&1), "process {n} entry {k}");
        }
    }
    let v = db::verify(&mut db).unwrap();
    assert_eq!(v.entries, total as u64);
    assert_eq!((v.broken_count, v.broken), (0, vec![]));
}

#[test]
fn twenty_processes_adding_at_once_lose_nothing_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    concurrent_adds(dir.path().join("site.db").to_str().unwrap());
}

#[test]
fn twenty_processes_adding_at_once_lose_nothing_postgres() {
    concurrent_adds(&fresh_database("concurrent adds"));
}

// ---- a killed import ----

/// Child role of the import tests: imports the record file [`CHILD_LOG`] into the trial's
/// record, saying [`OPENED`] first; on failure, says why as dosesim does and exits with
/// dosesim's status (2 bad input, 1 other).
#[test]
#[ignore = "a child process of the import tests, run by them"]
fn child_imports_record() {
    let Some(loc) = child_db() else { return };
    let log = PathBuf::from(std::env::var(CHILD_LOG).unwrap());
    let code = {
        let trial = trial();
        let bytes = std::fs::read(&log).unwrap();
        let mut db = Db::open(&loc, Open::Existing).expect("the child opens the database");
        println!("{OPENED}");
        match books::import_record(&mut db, &trial, &log, bytes, "pharm") {
            Ok(_) => 0,
            Err(e) => {
                let e = e.into_anyhow();
                if let Some(input) = e.downcast_ref::<dosesim::InputError>() {
                    eprintln!("error: {input}");
                    2
                } else {
                    eprintln!("error: {e:#}");
                    1
                }
            }
        }
    };
    std::process::exit(code);
}

/// Whether another connection holds the database's write lock now.
fn write_lock_held(loc: &Location) -> bool {
    match loc {
        Location::Sqlite(path) => {
            let c = rusqlite::Connection::open(path).unwrap();
            c.busy_timeout(Duration::ZERO).unwrap();
            match c.execute_batch("BEGIN IMMEDIATE; ROLLBACK;") {
                Ok(()) => false,
                Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) => true,
                Err(e) => panic!("probing the write lock: {e}"),
            }
        }
        Location::Postgres(url) => {
            let n: i64 = connect(url)
                .query_one(
                    "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
                     WHERE l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
                     AND c.relname = 'entries' AND l.mode = 'ExclusiveLock' AND l.granted \
                     AND l.pid <> pg_backend_pid()",
                    &[],
                )
                .unwrap()
                .get(0);
            n > 0
        }
    }
}

/// Whether pages of the import being written are on disk: SQLite's write-ahead log has
/// grown past a megabyte (a PostgreSQL server's are its own).
fn import_on_disk(loc: &Location) -> bool {
    match loc {
        Location::Sqlite(path) => {
            std::fs::metadata(path.with_extension("db-wal")).is_ok_and(|m| m.len() > 1 << 20)
        }
        Location::Postgres(_) => true,
    }
}

/// A process killed with SIGKILL while its import of 60,000 rows is being written (rows
/// with long notes, so that SQLite has written pages of it to its write-ahead log) leaves
/// the database as it was before; the books load and check as before, and an import then
/// works (adding every row of its file: nothing of the killed import was kept).
fn killed_import(spec: &str) {
    let patients = 20_000;
    let loc = Location::parse(spec);
    let trial = trial();
    let dir = tempfile::tempdir().unwrap();
    with_roster(&loc, &trial, patients);
    let before = state(&loc, &trial);
    let log = dir.path().join("log.csv");
    std::fs::write(&log, make_log(patients, patients, 1_200)).unwrap();
    let mut c = child("child_imports_record", spec)
        .env(CHILD_LOG, &log)
        .spawn()
        .unwrap();
    // Once the database is open, the child's next write lock is its import's.
    let mut out = BufReader::new(c.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains(OPENED) {
        line.clear();
        let n = out.read_line(&mut line).unwrap();
        assert!(n > 0, "the child ended before opening the database");
    }
    while !write_lock_held(&loc) {
        assert!(c.try_wait().unwrap().is_none(), "the import ended unseen");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Let it append for a moment: the kill lands among the entries being written (in
    // SQLite, once pages of the import are in the write-ahead log, uncommitted).
    std::thread::sleep(Duration::from_millis(300));
    while !import_on_disk(&loc) {
        assert!(c.try_wait().unwrap().is_none(), "the import ended unseen");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        c.try_wait().unwrap().is_none(),
        "the import finished before it could be killed: make the log larger"
    );
    c.kill().unwrap();
    let status = c.wait().unwrap();
    assert!(!status.success(), "{status}");
    assert_eq!(state(&loc, &trial), before, "the database after the kill");
    let again = dir.path().join("again.csv");
    std::fs::write(&again, make_log(1_000, patients, 0)).unwrap();
    let mut db = Db::open(&loc, Open::Existing).unwrap();
    let (imported, head) = books::import_record(
        &mut db,
        &trial,
        &again,
        std::fs::read(&again).unwrap(),
        "pharm",
    )
    .map_err(|e| e.into_anyhow())
    .expect("an import after the kill");
    assert_eq!((imported.added, imported.already), (3_000, 0));
    assert_eq!(head.id, before.head.unwrap().id + 3_000);
    drop(db);
    let after = state(&loc, &trial);
    assert_eq!(after.entries, before.entries + 3_000);
}

#[test]
fn an_import_killed_midway_leaves_the_database_as_it_was_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    killed_import(dir.path().join("site.db").to_str().unwrap());
}

#[test]
fn an_import_killed_midway_leaves_the_database_as_it_was_postgres() {
    killed_import(&fresh_database("killed import"));
}

// ---- a full disk ----

/// A filesystem of 2 MB mounted at `at` (tmpfs), unmounted when dropped.
struct SmallDisk(PathBuf);

impl SmallDisk {
    /// Mounts it, when this process may (root, and mounts allowed here).
    fn mount(at: &Path) -> Option<SmallDisk> {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return None;
        }
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
            .arg(at)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| SmallDisk(at.to_path_buf()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Lets the child's files grow to `bytes` at most, writes past it failing (EFBIG) as on a
/// full disk: RLIMIT_FSIZE, with SIGXFSZ ignored so that the write fails instead of the
/// signal ending the process (an ignored signal stays ignored across exec).
fn limit_file_size(cmd: &mut Command, bytes: u64) {
    use std::os::unix::process::CommandExt;
    let limit = libc::rlimit {
        rlim_cur: bytes as libc::rlim_t,
        rlim_max: bytes as libc::rlim_t,
    };
    // SAFETY: between fork and exec, only async-signal-safe calls (setrlimit, signal),
    // with no allocation.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0
                || libc::signal(libc::SIGXFSZ, libc::SIG_IGN) == libc::SIG_ERR
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// An import into the database in `dir` that does not fit (the disk full, or the file not
/// allowed to grow past `file_limit`) fails with exit status 1 and a message that says so
/// in plain words; the database is as it was before, and a smaller import then works.
/// Gives the message.
fn full_disk(dir: &Path, logs: &Path, file_limit: Option<u64>) -> String {
    let patients = 3_000;
    let loc = Location::Sqlite(dir.join("site.db"));
    let trial = trial();
    with_roster(&loc, &trial, patients);
    let before = state(&loc, &trial);
    let log = logs.join("log.csv");
    // About 4 MB of entries: more than the disk or the file limit holds.
    std::fs::write(&log, make_log(patients, patients, 400)).unwrap();
    let mut cmd = child("child_imports_record", loc.label().as_str());
    cmd.env(CHILD_LOG, &log);
    if let Some(bytes) = file_limit {
        limit_file_size(&mut cmd, bytes);
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let message = stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error said: {stderr}"))
        .to_string();
    assert_eq!(state(&loc, &trial), before, "the database after: {message}");
    let small = logs.join("small.csv");
    std::fs::write(&small, make_log(50, patients, 400)).unwrap();
    let mut db = Db::open(&loc, Open::Existing).unwrap();
    let (imported, _) = books::import_record(
        &mut db,
        &trial,
        &small,
        std::fs::read(&small).unwrap(),
        "pharm",
    )
    .map_err(|e| e.into_anyhow())
    .expect("a smaller import after the failed one");
    assert_eq!(imported.added, 150);
    message
}

/// The message of a write that did not fit: plain words, the database named, and what
/// became of the write.
fn assert_says_disk_full(message: &str, db: &Path) {
    assert!(message.contains(&db.display().to_string()), "{message}");
    assert!(message.contains("disk is full"), "{message}");
    assert!(
        message.contains("nothing of this write was kept"),
        "{message}"
    );
    for engine_words in ["SQLITE", "Error", "code", "errno", "os error"] {
        assert!(!message.contains(engine_words), "{message}");
    }
}

/// A full disk (a 2 MB filesystem, where this test may mount one) and a file not allowed
/// to grow (the file-size limit of the importing process, which is how a full disk looks
/// to SQLite where no small filesystem can be mounted) both give a clear error, exit
/// status 1, and leave the database as it was.
#[test]
fn a_full_disk_gives_a_clear_error_and_leaves_the_database_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let limited = dir.path().join("limited");
    std::fs::create_dir(&limited).unwrap();
    let message = full_disk(&limited, dir.path(), Some(1 << 20));
    assert_says_disk_full(&message, &limited.join("site.db"));
    let small = dir.path().join("small");
    match SmallDisk::mount(&small) {
        Some(_disk) => {
            let message = full_disk(&small, dir.path(), None);
            assert_says_disk_full(&message, &small.join("site.db"));
        }
        None => eprintln!(
            "a 2 MB filesystem could not be mounted here (not root, or mounts not allowed): the full disk was tested with the file-size limit alone"
        ),
    }
}

// ---- migrations ----

/// Runs `sql` on the database at `loc` directly, and gives the first column of its first
/// row as a number.
fn raw_count(loc: &Location, sql: &str) -> i64 {
    match loc {
        Location::Sqlite(path) => rusqlite::Connection::open(path)
            .unwrap()
            .query_row(sql, [], |r| r.get(0))
            .unwrap(),
        Location::Postgres(url) => connect(url).query_one(sql, &[]).unwrap().get(0),
    }
}

/// Runs `sql` on the database at `loc` directly.
fn raw_execute(loc: &Location, sql: &str) {
    match loc {
        Location::Sqlite(path) => rusqlite::Connection::open(path)
            .unwrap()
            .execute_batch(sql)
            .unwrap(),
        Location::Postgres(url) => connect(url).batch_execute(sql).unwrap(),
    }
}

/// A database made by the first schema version, holding a trial's roster and record and
/// a correction, opens under this dosesim with every later version applied: its entries
/// as they were (the same head, a whole chain, the same books) and the later versions'
/// views there.
fn migrates_from_the_first_version(spec: &str) {
    let loc = Location::parse(spec);
    let trial = dosesim::scenario::load(&root().join("scenarios/nct01724398.toml")).unwrap();
    let roster_file = root().join("scenarios/rosters/NCT01724398.csv");
    let log_file = root().join("scenarios/logs/NCT01724398.csv");
    let (roster, log) = (
        std::fs::read(&roster_file).unwrap(),
        std::fs::read(&log_file).unwrap(),
    );
    let head = {
        let mut db = Db::open_at_version(&loc, 1).expect("a version 1 database");
        assert_eq!(db.read(|s| s.versions()).unwrap(), [1]);
        books::import_roster(&mut db, &trial, &roster_file, roster.clone(), "pharm")
            .map_err(|e| e.into_anyhow())
            .unwrap();
        let (imported, _) = books::import_record(&mut db, &trial, &log_file, log.clone(), "pharm")
            .map_err(|e| e.into_anyhow())
            .unwrap();
        let note = vec![("note".to_string(), "late entry".to_string())];
        books::correct(
            &mut db,
            &trial,
            imported.first.unwrap(),
            &note,
            "typo",
            "pharm",
            books::Face::Command,
        )
        .map_err(|e| e.into_anyhow())
        .unwrap();
        db.head().unwrap().unwrap()
    };
    let views = "SELECT count(*) FROM information_schema.views WHERE table_name = 'record_entries'";
    if matches!(loc, Location::Postgres(_)) {
        assert_eq!(raw_count(&loc, views), 0, "no views in version 1");
    }
    let mut db = Db::open(&loc, Open::Existing).expect("the version 1 database opens");
    let all: Vec<i64> = db::schema::MIGRATIONS.iter().map(|m| m.version).collect();
    assert_eq!(db.read(|s| s.versions()).unwrap(), all);
    assert_eq!(all[..2], [1, 2]);
    assert_eq!(
        db.head().unwrap(),
        Some(head),
        "the migration added no entry"
    );
    let v = db::verify(&mut db).unwrap();
    assert_eq!((v.entries, v.broken_count), (head.id as u64, 0));
    let first = books::entry(&mut db, 1).unwrap().unwrap();
    assert_eq!(first.fields.book(), Book::Database);
    assert!(
        first.fields.source.ends_with("schema version 1"),
        "{}",
        first.fields.source
    );
    let record = String::from_utf8(books::export_record(&mut db, &trial.id).unwrap()).unwrap();
    let expected = String::from_utf8(log).unwrap();
    assert_eq!(record.lines().count(), expected.lines().count());
    assert!(record.contains("late entry"), "{record}");
    assert_eq!(books::export_roster(&mut db, &trial.id).unwrap(), roster);
    books::load(&mut db, &trial.id)
        .unwrap()
        .check(&trial)
        .unwrap();
    drop(db);
    // Version 2's view holds every record entry: the rows and the correction.
    let rows = "SELECT count(*) FROM record_entries WHERE trial_id = 'NCT01724398'";
    assert_eq!(raw_count(&loc, rows) as usize, expected.lines().count());
}

#[test]
fn a_first_version_database_is_brought_up_to_date_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    migrates_from_the_first_version(dir.path().join("site.db").to_str().unwrap());
}

#[test]
fn a_first_version_database_is_brought_up_to_date_postgres() {
    migrates_from_the_first_version(&fresh_database("migrates from 1"));
}

/// A database whose schema is newer than this dosesim knows is refused in plain words,
/// naming it, and left as it was.
fn refuses_a_newer_schema(spec: &str) {
    let loc = Location::parse(spec);
    drop(Db::open(&loc, Open::OrCreate).unwrap());
    raw_execute(
        &loc,
        "INSERT INTO schema_version (version, what) VALUES (99, 'a later dosesim')",
    );
    let entries = raw_count(&loc, "SELECT count(*) FROM entries");
    for open in [Open::Existing, Open::OrCreate] {
        let Err(e) = Db::open(&loc, open) else {
            panic!("a database of schema version 99 opened")
        };
        let msg = format!("{e:#}");
        assert!(msg.starts_with(&loc.label()), "{msg}");
        let words = format!(
            "the database's schema is version 99, newer than this dosesim knows ({}): use the dosesim that made it, or a newer one",
            db::schema::latest()
        );
        assert!(msg.contains(&words), "{msg}");
        for engine_words in ["Error", "error", "rusqlite", "db error"] {
            assert!(!msg.contains(engine_words), "{msg}");
        }
    }
    assert_eq!(raw_count(&loc, "SELECT count(*) FROM entries"), entries);
    assert_eq!(
        raw_count(&loc, "SELECT max(version) FROM schema_version"),
        99
    );
}

#[test]
fn a_database_newer_than_this_dosesim_is_refused_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    refuses_a_newer_schema(dir.path().join("site.db").to_str().unwrap());
}

#[test]
fn a_database_newer_than_this_dosesim_is_refused_postgres() {
    refuses_a_newer_schema(&fresh_database("newer schema"));
}
