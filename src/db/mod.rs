//! The database that holds each trial's roster and administration record: SQLite, one file,
//! by default (`dosesim.db`, `--db PATH` or `DOSESIM_DB`); PostgreSQL when several sites
//! share one server (`--db postgres://...`). Both hold the same schema ([`schema`]) and
//! behave the same.
//!
//! **A ledger of entries.** Everything is an entry of one table, `entries`, numbered 1, 2,
//! 3, ... in the order written. Entry 1 is the database's own (`book = database`,
//! `action = create`). A roster patient is an entry of `book = roster` (arm, weight_kg,
//! start_date, site); a row of the record one of `book = record` (date, record, component,
//! occurrence, amount, note, as in the CSV log). Each entry says who entered it
//! (`entered_by`), when (`entered_at`, the clock in UTC: the one place a run's time is data),
//! and where from (`source`: "import of log.csv line 17", "record add").
//!
//! **Never rewritten.** Nothing is updated or deleted: the database's own triggers refuse
//! it. A correction is a new entry (`action = correct`) that `supersedes` the one it
//! corrects, with all its fields and a `reason`; a void (`action = void`) takes an entry out
//! of its book, with a reason. An entry is superseded at most once (a unique index): a
//! second correction corrects the correction.
//!
//! **A chain.** Each entry holds the hash of the entry before it (`prev_hash`; zeros for
//! entry 1) and its own (`hash`): SHA-256 over the previous hash and every field of the entry
//! ([`entry::hash`]). A row changed behind dosesim's back (with the sqlite3 shell, say) no
//! longer matches its hash, and `dosesim record verify` names it.
//!
//! **One writer at a time.** A write takes the database's write lock first (SQLite: a
//! transaction begun immediately, with a busy timeout; PostgreSQL: the entries table
//! locked against other writers), reads the chain's head, checks, appends and commits: an
//! import is one transaction, so a process killed midway leaves the database as it was.
//!
//! **A trial's books.** The roster and record a command works from are the trial's entries
//! of that book, each correction in place of what it corrects and each voided entry left
//! out ([`books`]); they are checked by the same readers as the CSV files, each problem
//! naming its entry.

pub mod books;
pub mod doses;
pub mod entry;
pub mod feed_key;
mod postgres;
pub mod safety;
pub mod schema;
mod sqlite;
pub mod users;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

pub use entry::{Action, Book, Entry, Fields, Hash};

/// The environment variable naming the database when `--db` does not.
pub const ENV: &str = "DOSESIM_DB";

/// The database's file name when neither `--db` nor [`ENV`] names one: beside scenarios/.
pub const DEFAULT_FILE: &str = "dosesim.db";

/// The turn of this process's SQLite writers ([`Db::write`]); other processes wait in
/// SQLite's busy handler.
static SQLITE_WRITERS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// How many entries a write sends to the database at a time.
const BATCH: usize = 4096;

/// Where a database is: a SQLite file, or a PostgreSQL server's database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Location {
    /// `postgres://...` or `postgresql://...` (or a `host=... dbname=...` connection
    /// string) names a PostgreSQL database; anything else a SQLite file.
    pub fn parse(spec: &str) -> Location {
        let lower = spec.to_ascii_lowercase();
        if lower.starts_with("postgres://")
            || lower.starts_with("postgresql://")
            || (lower.contains("dbname=") && lower.contains('='))
        {
            Location::Postgres(spec.to_string())
        } else {
            Location::Sqlite(PathBuf::from(spec))
        }
    }

    /// `--db`, else `DOSESIM_DB`, else `None`.
    pub fn given(flag: Option<&str>) -> Option<Location> {
        flag.map(str::to_string)
            .or_else(|| std::env::var(ENV).ok().filter(|s| !s.trim().is_empty()))
            .map(|s| Location::parse(&s))
    }

    /// `--db`, else `DOSESIM_DB`, else `dosesim.db` in the working folder (beside
    /// scenarios/).
    pub fn or_default(flag: Option<&str>) -> Location {
        Location::given(flag).unwrap_or_else(|| Location::Sqlite(PathBuf::from(DEFAULT_FILE)))
    }

    /// How messages name the database: the file, or the server URL without its password.
    pub fn label(&self) -> String {
        match self {
            Location::Sqlite(p) => p.display().to_string(),
            Location::Postgres(url) => hide_password(url),
        }
    }
}

/// A URL's password replaced with `***`.
fn hide_password(url: &str) -> String {
    if let Some(rest) = url.split_once("://").map(|(_, r)| r)
        && let Some((auth, _)) = rest.split_once('@')
        && let Some((_, pass)) = auth.split_once(':')
        && !pass.is_empty()
    {
        return url.replacen(&format!(":{pass}@"), ":***@", 1);
    }
    if let Some(k) = url.find("password=") {
        let end = url[k..].find(' ').map_or(url.len(), |e| k + e);
        return format!("{}password=***{}", &url[..k], &url[end..]);
    }
    url.to_string()
}

/// Whether a database that is not there yet may be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Open {
    /// Make it (an import, an entry added).
    OrCreate,
    /// It must be there (reading, verifying, correcting).
    Existing,
}

/// An open database.
pub struct Db {
    conn: Conn,
    label: String,
}

enum Conn {
    Sqlite(rusqlite::Connection),
    Postgres(Box<::postgres::Client>),
}

/// What reads and writes entries inside one transaction, on either engine.
pub trait Store {
    /// The last entry's id and hash (`None`: no entry yet).
    fn head(&mut self) -> Result<Option<(i64, Hash)>>;
    /// The last write's id (0: none yet).
    fn last_write(&mut self) -> Result<i64>;
    /// The entries that match `filter`, in id order, each given to `f` in turn (in one
    /// buffer reused, so that millions of entries cost no allocation each).
    fn scan(&mut self, filter: &Filter, f: &mut dyn FnMut(&Entry) -> Result<()>) -> Result<()>;
    /// Appends entries already numbered and hashed; `new_writes` lists the entries among
    /// them that begin a write (whose row in `writes` is made from that entry's fields).
    fn insert(&mut self, entries: &[Entry], new_writes: &[usize]) -> Result<()>;
    /// The schema versions applied, oldest first.
    fn versions(&mut self) -> Result<Vec<i64>>;
}

/// Which entries a scan gives.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub trial: Option<String>,
    pub book: Option<Book>,
    pub patient: Option<String>,
    /// Only entries with this id.
    pub id: Option<i64>,
    /// Only entries that supersede another.
    pub superseding: bool,
}

impl Filter {
    pub fn trial(trial: &str) -> Filter {
        Filter {
            trial: Some(trial.to_string()),
            ..Filter::default()
        }
    }

    pub fn book(mut self, book: Book) -> Filter {
        self.book = Some(book);
        self
    }
}

/// The entries a write appends, numbered and hashed as they come.
pub struct Writer<'s> {
    store: &'s mut dyn Store,
    next: i64,
    prev: Hash,
    pending: Vec<Entry>,
    /// Which of `pending` begin a write.
    new_writes: Vec<usize>,
    /// The last write's id.
    write_id: i64,
    /// Whether the last entry appended is in this writer (so a next one may share its
    /// write).
    any: bool,
    /// Who enters and when: given to every entry of the write.
    pub by: String,
    pub at: String,
    /// The write-level fields of the last entry appended.
    last: Option<Fields>,
}

impl Writer<'_> {
    /// Appends an entry (its `entered_by` and `entered_at` filled from the write when
    /// empty) and gives its id.
    pub fn append(&mut self, mut fields: Fields) -> Result<i64> {
        if fields.entered_by.is_empty() {
            fields.entered_by.clone_from(&self.by);
        }
        if fields.entered_at.is_empty() {
            fields.entered_at.clone_from(&self.at);
        }
        let id = self.next;
        let hash = entry::hash(id, &fields, &self.prev);
        let same = self.any && self.last_fields().is_some_and(|f| f.same_write(&fields));
        if !same {
            self.write_id += 1;
            self.new_writes.push(self.pending.len());
            self.last = Some(write_part(&fields));
        }
        self.any = true;
        self.pending.push(Entry {
            id,
            write_id: self.write_id,
            fields,
            prev_hash: self.prev,
            hash,
        });
        self.prev = hash;
        self.next += 1;
        if self.pending.len() >= BATCH {
            self.flush()?;
        }
        Ok(id)
    }

    /// The id the next entry appended gets.
    pub fn next_id(&self) -> i64 {
        self.next
    }

    /// Reads entries (those appended in this write included).
    pub fn store(&mut self) -> Result<&mut dyn Store> {
        self.flush()?;
        Ok(&mut *self.store)
    }

    fn flush(&mut self) -> Result<()> {
        if !self.pending.is_empty() {
            self.store.insert(&self.pending, &self.new_writes)?;
            self.pending.clear();
            self.new_writes.clear();
        }
        Ok(())
    }

    /// The write-level fields of the last entry appended.
    fn last_fields(&self) -> Option<&Fields> {
        self.last.as_ref()
    }
}

/// An entry's write-level fields alone (trial, book, action, reason, source, who, when).
fn write_part(f: &Fields) -> Fields {
    Fields {
        trial_id: f.trial_id.clone(),
        book: f.book,
        action: f.action,
        reason: f.reason.clone(),
        source: f.source.clone(),
        entered_by: f.entered_by.clone(),
        entered_at: f.entered_at.clone(),
        ..Fields::default()
    }
}

/// The chain's head after a write or at a read: the last entry's id and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub id: i64,
    pub hash: Hash,
}

impl Db {
    /// Opens the database at `at` (making it when `open` allows and it is not there) and
    /// brings its schema up to date.
    pub fn open(at: &Location, open: Open) -> Result<Db> {
        let label = at.label();
        let conn = match at {
            Location::Sqlite(path) => Conn::Sqlite(sqlite::open(path, open)?),
            Location::Postgres(url) => Conn::Postgres(Box::new(
                postgres::open(url).with_context(|| format!("cannot open the database {label}"))?,
            )),
        };
        let mut db = Db { conn, label };
        db.migrate()
            .with_context(|| format!("{}: cannot bring the database up to date", db.label))?;
        db.make_first_entry(schema::latest())?;
        Ok(db)
    }

    /// Makes entry 1, the database's own, in a database that has no entry yet.
    fn make_first_entry(&mut self, version: i64) -> Result<()> {
        if self.head()?.is_none() {
            self.write(&login_name(), |w| {
                if w.next_id() == 1 {
                    w.append(creation(&w.by.clone(), version))?;
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Whether the connection was lost (a PostgreSQL server restarted): it is of no more
    /// use.
    pub fn is_closed(&self) -> bool {
        match &self.conn {
            Conn::Sqlite(_) => false,
            Conn::Postgres(c) => c.is_closed(),
        }
    }

    /// How messages name the database.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Applies the migrations not yet applied, each in the write transaction that records
    /// it, and makes entry 1 in a new database.
    fn migrate(&mut self) -> Result<()> {
        match &mut self.conn {
            Conn::Sqlite(c) => sqlite::migrate(c, schema::MIGRATIONS)?,
            Conn::Postgres(c) => postgres::migrate(c, schema::MIGRATIONS)?,
        }
        Ok(())
    }

    /// Applies only the migrations up to `version` and makes entry 1 as the dosesim of that
    /// version did: a database as it made it, for tests of later migrations.
    #[doc(hidden)]
    pub fn open_at_version(at: &Location, version: i64) -> Result<Db> {
        let upto: Vec<&schema::Migration> = schema::MIGRATIONS
            .iter()
            .filter(|m| m.version <= version)
            .collect();
        let migrations: &[schema::Migration] = &schema::MIGRATIONS[..upto.len()];
        let label = at.label();
        let conn = match at {
            Location::Sqlite(path) => {
                let mut c = sqlite::open(path, Open::OrCreate)?;
                sqlite::migrate(&mut c, migrations)?;
                Conn::Sqlite(c)
            }
            Location::Postgres(url) => {
                let mut c = postgres::open(url)?;
                // (the same connection as Db::open makes)
                postgres::migrate(&mut c, migrations)?;
                Conn::Postgres(Box::new(c))
            }
        };
        let mut db = Db { conn, label };
        db.make_first_entry(version)?;
        Ok(db)
    }

    /// Runs `f` on a consistent view of the database (what was committed when it began).
    pub fn read<T>(&mut self, f: impl FnOnce(&mut dyn Store) -> Result<T>) -> Result<T> {
        match &mut self.conn {
            Conn::Sqlite(c) => {
                let mut tx =
                    c.transaction_with_behavior(rusqlite::TransactionBehavior::Deferred)?;
                let out = f(&mut tx)?;
                tx.commit()?;
                Ok(out)
            }
            Conn::Postgres(c) => {
                let mut tx = c
                    .build_transaction()
                    .isolation_level(::postgres::IsolationLevel::RepeatableRead)
                    .read_only(true)
                    .start()?;
                let out = f(&mut tx)?;
                tx.commit()?;
                Ok(out)
            }
        }
    }

    /// Runs `f` holding the database's write lock, with a [`Writer`] that appends entries
    /// entered `by` at the clock's time; commits when `f` succeeds, and writes nothing
    /// when it fails. Gives `f`'s result and the chain's head after the write.
    pub fn write<T>(
        &mut self,
        by: &str,
        f: impl FnOnce(&mut Writer) -> Result<T>,
    ) -> Result<(T, Head)> {
        let at = now_utc();
        let label = self.label.clone();
        let out = match &mut self.conn {
            Conn::Sqlite(c) => {
                // Writers of this process take turns here rather than in SQLite's busy
                // handler, which sleeps and retries: under many writers at once (the web
                // server's) a write then waits its turn instead of sleeping past it.
                let _turn = SQLITE_WRITERS.lock().unwrap_or_else(|e| e.into_inner());
                let mut tx = c
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .map_err(|e| sqlite::explain(e, &label))?;
                let out =
                    write_in(&mut tx, by, &at, f).map_err(|e| sqlite::explain_write(e, &label))?;
                tx.commit().map_err(|e| sqlite::explain(e, &label))?;
                out
            }
            Conn::Postgres(c) => {
                let mut tx = c.transaction()?;
                tx.batch_execute("LOCK TABLE entries IN EXCLUSIVE MODE")?;
                let out = write_in(&mut tx, by, &at, f)?;
                tx.commit()?;
                out
            }
        };
        Ok(out)
    }

    /// The chain's head (`None` before entry 1 is made).
    pub fn head(&mut self) -> Result<Option<Head>> {
        self.read(|s| Ok(s.head()?.map(|(id, hash)| Head { id, hash })))
    }

    /// Copies the database, while others may be writing to it, to a new SQLite file at
    /// `to` that opens as a database on its own.
    pub fn backup(&mut self, to: &Path) -> Result<u64> {
        if to.exists() {
            bail!(
                "{} is already there: a backup never replaces a file; name a new one",
                to.display()
            );
        }
        match &mut self.conn {
            Conn::Sqlite(c) => sqlite::backup(c, to),
            Conn::Postgres(_) => {
                let entries = self.read(|s| {
                    let mut all = Vec::new();
                    s.scan(&Filter::default(), &mut |e| {
                        all.push(e.clone());
                        Ok(())
                    })?;
                    Ok(all)
                })?;
                sqlite::copy_into(to, &entries)
            }
        }
    }
}

/// Opens the write: the head read under the lock, `f` run, what it appended sent.
fn write_in<T>(
    store: &mut dyn Store,
    by: &str,
    at: &str,
    f: impl FnOnce(&mut Writer) -> Result<T>,
) -> Result<(T, Head)> {
    let (last, prev) = store.head()?.unwrap_or((0, entry::GENESIS));
    let write_id = store.last_write()?;
    let mut w = Writer {
        store,
        next: last + 1,
        prev,
        pending: Vec::new(),
        new_writes: Vec::new(),
        write_id,
        any: false,
        by: by.to_string(),
        at: at.to_string(),
        last: None,
    };
    let out = f(&mut w)?;
    w.flush()?;
    Ok((
        out,
        Head {
            id: w.next - 1,
            hash: w.prev,
        },
    ))
}

/// The clock's time in UTC, RFC 3339 with microseconds: when an entry was entered.
pub fn now_utc() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let t =
        chrono::DateTime::from_timestamp(d.as_secs() as i64, d.subsec_nanos()).unwrap_or_default();
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Today's date in UTC by the clock.
/// Today's date where this computer is (its time zone, `TZ`): the day a site's staff
/// call today, for the day's preparation sheet (a site in China at 07:30 is on the day
/// after the UTC date's).
pub fn today_local() -> chrono::NaiveDate {
    chrono::Local::now().date_naive()
}

pub fn today_utc() -> chrono::NaiveDate {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    chrono::DateTime::from_timestamp(d.as_secs() as i64, 0)
        .unwrap_or_default()
        .date_naive()
}

/// Who is entering: the login name (`USER`, else `LOGNAME`, else `USERNAME`, else the
/// operating system's name for the user running dosesim), or `unknown`.
pub fn login_name() -> String {
    ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
        .or_else(|| whoami::username().ok().filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| "unknown".to_string())
}

/// The first entry of a new database: who made it, and when.
fn creation(by: &str, version: i64) -> Fields {
    Fields {
        book: Some(Book::Database),
        action: Some(Action::Create),
        source: format!(
            "dosesim {}, schema version {version}",
            env!("CARGO_PKG_VERSION")
        ),
        entered_by: by.to_string(),
        ..Fields::default()
    }
}

/// A mismatch in the chain that [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub id: i64,
    pub what: String,
}

/// What [`verify`] walked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub entries: u64,
    pub head: Option<Head>,
    /// The mismatches, in id order (at most 100 listed, all counted).
    pub broken: Vec<Broken>,
    pub broken_count: u64,
}

/// Walks the whole chain: every entry's id follows the one before, its `prev_hash` is that
/// entry's hash, and its `hash` is the hash of its fields. An entry changed in place fails
/// the last; one deleted or inserted, the first two.
pub fn verify(db: &mut Db) -> Result<Verified> {
    db.read(|s| {
        let mut v = Verified {
            entries: 0,
            head: None,
            broken: Vec::new(),
            broken_count: 0,
        };
        let mut expect_id = 1;
        let mut prev = entry::GENESIS;
        s.scan(&Filter::default(), &mut |e| {
            let mut problems = Vec::new();
            if e.id != expect_id {
                problems.push(format!(
                    "entry {} follows entry {}: an entry between was deleted or the numbers changed",
                    e.id,
                    expect_id - 1
                ));
            }
            if e.prev_hash != prev {
                problems.push(format!(
                    "its previous-entry hash is not the hash of the entry before it (entry {}): an entry before it was changed, removed or added",
                    expect_id - 1
                ));
            }
            if entry::hash(e.id, &e.fields, &e.prev_hash) != e.hash {
                problems.push(
                    "its fields do not match its hash: the entry was changed after it was written"
                        .to_string(),
                );
            }
            for what in problems {
                v.broken_count += 1;
                if v.broken.len() < 100 {
                    v.broken.push(Broken { id: e.id, what });
                }
            }
            v.entries += 1;
            expect_id = e.id + 1;
            prev = e.hash;
            v.head = Some(Head {
                id: e.id,
                hash: e.hash,
            });
            Ok(())
        })?;
        Ok(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_names_postgres_or_a_file_and_a_label_hides_the_password() {
        assert_eq!(
            Location::parse("site.db"),
            Location::Sqlite(PathBuf::from("site.db"))
        );
        let pg = Location::parse("postgres://pharm:s3cret@db.example:5432/trial");
        assert!(matches!(pg, Location::Postgres(_)));
        assert_eq!(pg.label(), "postgres://pharm:***@db.example:5432/trial");
        assert!(matches!(
            Location::parse("host=/tmp dbname=trial"),
            Location::Postgres(_)
        ));
        assert_eq!(
            Location::parse("host=/tmp password=x dbname=t").label(),
            "host=/tmp password=*** dbname=t"
        );
    }

    fn record(trial: &str, patient: &str, date: &str) -> Fields {
        Fields {
            trial_id: trial.into(),
            book: Some(Book::Record),
            action: Some(Action::Add),
            patient_id: patient.into(),
            values: [
                date.into(),
                "given".into(),
                "pe".into(),
                "1".into(),
                String::new(),
                String::new(),
            ],
            source: "test".into(),
            ..Fields::default()
        }
    }

    /// Entries are numbered from 2 after the database's own, chained, read back as
    /// written, and verify finds the chain whole.
    #[test]
    fn entries_append_in_a_chain_that_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let at = Location::Sqlite(dir.path().join("t.db"));
        let mut db = Db::open(&at, Open::OrCreate).unwrap();
        let ((a, b), head) = db
            .write("pharm", |w| {
                Ok((
                    w.append(record("T", "P1", "2026-08-03"))?,
                    w.append(record("T", "P2", "2026-08-04"))?,
                ))
            })
            .unwrap();
        assert_eq!((a, b, head.id), (2, 3, 3));
        let mut seen = Vec::new();
        db.read(|s| {
            s.scan(&Filter::trial("T"), &mut |e| {
                seen.push((
                    e.id,
                    e.fields.patient_id.clone(),
                    e.fields.entered_by.clone(),
                ));
                Ok(())
            })
        })
        .unwrap();
        assert_eq!(
            seen,
            vec![
                (2, "P1".into(), "pharm".into()),
                (3, "P2".into(), "pharm".into())
            ]
        );
        let v = verify(&mut db).unwrap();
        assert_eq!((v.entries, v.broken_count), (3, 0));
        assert_eq!(v.head, Some(head));
    }

    /// A failed write appends nothing.
    #[test]
    fn a_failed_write_leaves_the_database_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let at = Location::Sqlite(dir.path().join("t.db"));
        let mut db = Db::open(&at, Open::OrCreate).unwrap();
        let before = db.head().unwrap();
        let r: Result<((), Head)> = db.write("pharm", |w| {
            for k in 0..10_000 {
                w.append(record("T", &format!("P{k}"), "2026-08-03"))?;
            }
            bail!("stopped")
        });
        assert!(r.is_err());
        assert_eq!(db.head().unwrap(), before);
    }

    /// A write that fills the disk midway (here: the database allowed no more pages) says
    /// so in plain words and keeps nothing.
    #[test]
    fn a_write_that_fills_the_disk_midway_says_so_and_keeps_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let at = Location::Sqlite(dir.path().join("t.db"));
        let mut db = Db::open(&at, Open::OrCreate).unwrap();
        let before = db.head().unwrap();
        if let Conn::Sqlite(c) = &db.conn {
            c.execute_batch("PRAGMA cache_size = 8").unwrap();
            let pages: i64 = c.query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap();
            c.query_row(
                &format!("PRAGMA max_page_count = {}", pages + 4),
                [],
                |_| Ok(()),
            )
            .unwrap();
        }
        let e = db
            .write("pharm", |w| {
                for k in 0..20_000 {
                    w.append(record("T", &format!("P{k}"), "2026-08-03"))?;
                }
                Ok(())
            })
            .unwrap_err();
        let msg = format!("{e:#}");
        assert!(
            msg.starts_with(&format!(
                "{}: the disk is full: nothing of this write was kept",
                at.label()
            )),
            "{msg}"
        );
        assert_eq!(db.head().unwrap(), before);
    }

    /// UPDATE and DELETE are refused by the database itself.
    #[test]
    fn the_database_refuses_to_change_or_delete_an_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let mut db = Db::open(&Location::Sqlite(path.clone()), Open::OrCreate).unwrap();
        db.write("pharm", |w| w.append(record("T", "P1", "2026-08-03")))
            .unwrap();
        drop(db);
        let c = rusqlite::Connection::open(&path).unwrap();
        let e = c
            .execute("UPDATE entries SET f5 = '1' WHERE id = 2", [])
            .unwrap_err();
        assert!(e.to_string().contains("never changed"), "{e}");
        let e = c
            .execute("UPDATE writes SET entered_by = 'someone else'", [])
            .unwrap_err();
        assert!(e.to_string().contains("never changed"), "{e}");
        let e = c
            .execute("DELETE FROM entries WHERE id = 2", [])
            .unwrap_err();
        assert!(e.to_string().contains("never deleted"), "{e}");
    }
}
