//! The SQLite engine: one file, WAL mode, a busy timeout, writes begun immediately.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use rusqlite::{Connection, OpenFlags, Transaction, params};

use super::entry::{self, Action, Book, Entry, Fields, Hash};
use super::schema::{self, Migration};
use super::{Filter, Open, Store};

/// How long a write waits for another process's write to finish before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(120);

/// Opens (or, when allowed, makes) the database file, WAL mode and the busy timeout set.
pub fn open(path: &Path, open: Open) -> Result<Connection> {
    let label = path.display().to_string();
    if open == Open::Existing && !path.is_file() {
        bail!(
            "{label}: no database there. A site's database is made by its first import: dosesim roster import TRIAL ROSTER.csv --db {label}"
        );
    }
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if open == Open::OrCreate {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let c = Connection::open_with_flags(path, flags)
        .map_err(|e| explain(e, &label))
        .with_context(|| format!("cannot open the database {label}"))?;
    c.busy_timeout(BUSY_TIMEOUT)?;
    // 16 KiB pages for a new file (an existing one keeps its own), set before WAL mode:
    // a third fewer bytes written for a large import than with the default 4 KiB.
    c.execute_batch("PRAGMA page_size = 16384")?;
    // WAL: readers never wait for a writer, a writer never for readers; NORMAL sync is
    // durable across a process crash, and across a power cut up to the last checkpoint.
    let mode: String = c
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(|e| explain(e, &label))?;
    if !mode.eq_ignore_ascii_case("wal") {
        bail!("{label}: the database could not be put in WAL mode (it is in {mode} mode)");
    }
    c.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA cache_size = -65536;")?;
    Ok(c)
}

/// Applies the migrations the file lacks, in one write transaction.
pub fn migrate(c: &mut Connection, migrations: &[Migration]) -> Result<()> {
    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute_batch(schema::VERSION_TABLE_SQLITE)?;
    let applied: Vec<i64> = {
        let mut st = tx.prepare("SELECT version FROM schema_version ORDER BY version")?;
        st.query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?
    };
    if let Some(&newest) = applied.last()
        && newest > schema::latest()
    {
        bail!(
            "the database's schema is version {newest}, newer than this dosesim knows ({}): use the dosesim that made it, or a newer one",
            schema::latest()
        );
    }
    for m in migrations.iter().filter(|m| !applied.contains(&m.version)) {
        tx.execute_batch(m.sqlite)
            .with_context(|| format!("schema version {}: {}", m.version, m.what))?;
        tx.execute(
            "INSERT INTO schema_version (version, what) VALUES (?1, ?2)",
            params![m.version, m.what],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// An engine error in plain words, naming the database: a full disk, a file that could
/// not be written, a file that is not a database, a write lock held too long.
pub fn explain(e: rusqlite::Error, label: &str) -> anyhow::Error {
    use rusqlite::ErrorCode as C;
    let words = match e.sqlite_error_code() {
        Some(C::DiskFull) => Some(
            "the disk is full: nothing of this write was kept and the database is as it was before it; free some space and run it again",
        ),
        // A write the system refused: on a full disk SQLite says so (above) only when
        // part of a write went through; a file past its size limit (EFBIG) or a failing
        // disk come here.
        Some(C::SystemIoFailure) if write_failed(&e) => Some(
            "the database file could not be written: the disk is full, or the file may not grow any larger here; nothing of this write was kept and the database is as it was before it; free some space and run it again (if there is space, the disk itself may be failing: ask your IT support)",
        ),
        Some(C::NotADatabase) => Some("this file is not a database"),
        Some(C::DatabaseBusy | C::DatabaseLocked) => Some(
            "another process has been writing to the database for over two minutes; try again when it has finished",
        ),
        Some(C::ReadOnly | C::CannotOpen | C::PermissionDenied) => Some(
            "the database cannot be written here (check the file's and its folder's permissions)",
        ),
        _ => None,
    };
    match words {
        Some(w) => anyhow!("{label}: {w}"),
        None => anyhow!("{label}: {e}"),
    }
}

/// An error of a write's statements in plain words when it is the engine's and says the
/// disk is full or a file could not be written; any other error as it is.
pub fn explain_write(e: anyhow::Error, label: &str) -> anyhow::Error {
    use rusqlite::ErrorCode as C;
    let full = e.downcast_ref::<rusqlite::Error>().is_some_and(|r| {
        r.sqlite_error_code() == Some(C::DiskFull)
            || (r.sqlite_error_code() == Some(C::SystemIoFailure) && write_failed(r))
    });
    if !full {
        return e;
    }
    match e.downcast::<rusqlite::Error>() {
        Ok(r) => explain(r, label),
        Err(e) => e,
    }
}

/// Whether an I/O error is one of writing the database's files (not of reading them).
fn write_failed(e: &rusqlite::Error) -> bool {
    use rusqlite::ffi;
    e.sqlite_error().is_some_and(|f| {
        [
            ffi::SQLITE_IOERR_WRITE,
            ffi::SQLITE_IOERR_FSYNC,
            ffi::SQLITE_IOERR_TRUNCATE,
        ]
        .contains(&f.extended_code)
    })
}

impl Store for Transaction<'_> {
    fn head(&mut self) -> Result<Option<(i64, Hash)>> {
        let mut st =
            self.prepare_cached("SELECT id, hash FROM entries ORDER BY id DESC LIMIT 1")?;
        let mut rows = st.query([])?;
        match rows.next()? {
            Some(r) => {
                let id: i64 = r.get(0)?;
                let hash = entry::from_bytes(r.get_ref(1)?.as_blob()?)
                    .ok_or_else(|| anyhow!("entry {id}: its hash is not 32 bytes"))?;
                Ok(Some((id, hash)))
            }
            None => Ok(None),
        }
    }

    fn last_write(&mut self) -> Result<i64> {
        Ok(self.query_row("SELECT coalesce(max(id), 0) FROM writes", [], |r| r.get(0))?)
    }

    fn scan(&mut self, filter: &Filter, f: &mut dyn FnMut(&Entry) -> Result<()>) -> Result<()> {
        let mut e = empty_entry();
        if filter.id.is_some() || filter.superseding {
            let (sql, args) = joined(filter, "?");
            let mut st = self.prepare(&sql)?;
            let mut rows = st.query(rusqlite::params_from_iter(args.iter()))?;
            while let Some(r) = rows.next()? {
                fill_write(&mut e.fields, r, 13)?;
                fill(&mut e, r)?;
                f(&e)?;
            }
            return Ok(());
        }
        // A trial's book: its writes, then each write's entries by their id range.
        let (sql, args) = writes(filter, "?");
        let ranges: Vec<(Fields, i64, i64, Option<i64>)> = {
            let mut st = self.prepare(&sql)?;
            let mut rows = st.query(rusqlite::params_from_iter(args.iter()))?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let mut w = Fields::default();
                fill_write(&mut w, r, 3)?;
                out.push((w, r.get(0)?, r.get(1)?, r.get(2)?));
            }
            out
        };
        let mut st = self.prepare(&entries_in_range(filter, "?"))?;
        for (w, write_id, first, next) in ranges {
            e.fields.clone_from(&w);
            let end = next.unwrap_or(i64::MAX);
            let mut rows = match &filter.patient {
                Some(p) => st.query(params![first, end, write_id, p])?,
                None => st.query(params![first, end, write_id])?,
            };
            while let Some(r) = rows.next()? {
                fill(&mut e, r)?;
                f(&e)?;
            }
        }
        Ok(())
    }

    fn insert(&mut self, entries: &[Entry], new_writes: &[usize]) -> Result<()> {
        let mut w = self.prepare_cached(&format!(
            "INSERT INTO writes ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            schema::WRITE_COLUMNS
        ))?;
        for &k in new_writes {
            let e = &entries[k];
            let f = &e.fields;
            w.execute(params![
                e.write_id,
                e.id,
                f.trial_id,
                f.book().as_str(),
                f.action().as_str(),
                f.reason,
                f.source,
                f.entered_by,
                f.entered_at
            ])?;
        }
        let mut st = self.prepare_cached(&format!(
            "INSERT INTO entries ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            schema::ENTRY_COLUMNS
        ))?;
        for e in entries {
            let f = &e.fields;
            st.raw_bind_parameter(1, e.id)?;
            st.raw_bind_parameter(2, e.write_id)?;
            st.raw_bind_parameter(3, f.supersedes)?;
            st.raw_bind_parameter(4, &f.patient_id)?;
            for (k, v) in f.values.iter().enumerate() {
                st.raw_bind_parameter(5 + k, v)?;
            }
            st.raw_bind_parameter(11, f.line)?;
            st.raw_bind_parameter(12, &e.prev_hash[..])?;
            st.raw_bind_parameter(13, &e.hash[..])?;
            st.raw_execute()?;
        }
        Ok(())
    }

    fn versions(&mut self) -> Result<Vec<i64>> {
        let mut st = self.prepare("SELECT version FROM schema_version ORDER BY version")?;
        Ok(st
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?)
    }
}

/// The entry columns every scan reads, then (in a join) the write's.
const ENTRY_READ: &str = "e.id, e.write_id, e.supersedes, e.patient_id, e.f1, e.f2, e.f3, e.f4, e.f5, e.f6, e.line, e.prev_hash, e.hash";
const WRITE_READ: &str =
    "w.trial_id, w.book, w.action, w.reason, w.source, w.entered_by, w.entered_at";

/// The writes of a filter's trial and book, each with its first entry and the next
/// write's (its entries are those between: a write holds the lock while it appends).
pub fn writes(filter: &Filter, mark: &str) -> (String, Vec<String>) {
    let mut args = Vec::new();
    let mut conds = Vec::new();
    if let Some(t) = &filter.trial {
        args.push(t.clone());
        conds.push(format!("w.trial_id = {mark}{}", args.len()));
    }
    if let Some(b) = filter.book {
        args.push(b.as_str().to_string());
        conds.push(format!("w.book = {mark}{}", args.len()));
    }
    let mut sql = format!(
        "SELECT w.id, w.first_entry, (SELECT n.first_entry FROM writes n WHERE n.id = w.id + 1), {WRITE_READ} FROM writes w"
    );
    if !conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    sql.push_str(" ORDER BY w.id");
    (sql, args)
}

/// The entries of one write (first, next first, write id; and the patient when the filter
/// names one), in id order.
pub fn entries_in_range(filter: &Filter, mark: &str) -> String {
    let mut sql = format!(
        "SELECT {ENTRY_READ} FROM entries e WHERE e.id >= {mark}1 AND e.id < {mark}2 AND e.write_id = {mark}3"
    );
    if filter.patient.is_some() {
        sql.push_str(&format!(" AND e.patient_id = {mark}4"));
    }
    sql.push_str(" ORDER BY e.id");
    sql
}

/// Entries with their writes joined, for a filter on an id or on the entries that
/// supersede another (both found by index).
pub fn joined(filter: &Filter, mark: &str) -> (String, Vec<String>) {
    let mut sql = format!(
        "SELECT {ENTRY_READ}, {WRITE_READ} FROM entries e JOIN writes w ON w.id = e.write_id"
    );
    let mut args: Vec<String> = Vec::new();
    let mut conds: Vec<String> = Vec::new();
    if let Some(id) = filter.id {
        conds.push(format!("e.id = {id}"));
    }
    if filter.superseding {
        conds.push("e.supersedes IS NOT NULL".to_string());
    }
    if let Some(t) = &filter.trial {
        args.push(t.clone());
        conds.push(format!("w.trial_id = {mark}{}", args.len()));
    }
    if let Some(b) = filter.book {
        args.push(b.as_str().to_string());
        conds.push(format!("w.book = {mark}{}", args.len()));
    }
    if let Some(p) = &filter.patient {
        args.push(p.clone());
        conds.push(format!("e.patient_id = {mark}{}", args.len()));
    }
    if !conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    sql.push_str(" ORDER BY e.id");
    (sql, args)
}

/// An entry to fill from rows.
pub fn empty_entry() -> Entry {
    Entry {
        id: 0,
        write_id: 0,
        fields: Fields::default(),
        prev_hash: entry::GENESIS,
        hash: entry::GENESIS,
    }
}

/// Fills the entry's own fields from a row of [`ENTRY_READ`], reusing its strings.
fn fill(e: &mut Entry, r: &rusqlite::Row) -> Result<()> {
    e.id = r.get(0)?;
    e.write_id = r.get(1)?;
    let f = &mut e.fields;
    f.supersedes = r.get(2)?;
    text(r, 3, &mut f.patient_id)?;
    for k in 0..6 {
        text(r, 4 + k, &mut f.values[k])?;
    }
    f.line = r.get(10)?;
    e.prev_hash = hash_at(r, 11)?;
    e.hash = hash_at(r, 12)?;
    Ok(())
}

/// Fills the write-level fields from a row's [`WRITE_READ`] columns, from column `at`.
fn fill_write(f: &mut Fields, r: &rusqlite::Row, at: usize) -> Result<()> {
    text(r, at, &mut f.trial_id)?;
    f.book = r.get_ref(at + 1)?.as_str()?.parse::<Book>().ok();
    f.action = r.get_ref(at + 2)?.as_str()?.parse::<Action>().ok();
    text(r, at + 3, &mut f.reason)?;
    text(r, at + 4, &mut f.source)?;
    text(r, at + 5, &mut f.entered_by)?;
    text(r, at + 6, &mut f.entered_at)?;
    Ok(())
}

fn text(r: &rusqlite::Row, k: usize, s: &mut String) -> Result<()> {
    s.clear();
    s.push_str(r.get_ref(k)?.as_str()?);
    Ok(())
}

/// A stored hash, or zeros when it is not 32 bytes (verify then names the entry).
fn hash_at(r: &rusqlite::Row, k: usize) -> Result<Hash> {
    Ok(entry::from_bytes(r.get_ref(k)?.as_blob()?).unwrap_or(entry::GENESIS))
}

/// An online backup of the open database to a new file, page by page while others may
/// write: the copy is a consistent database on its own. Gives its size in bytes.
pub fn backup(c: &Connection, to: &Path) -> Result<u64> {
    let tmp = to.with_extension("db.partial");
    let _ = std::fs::remove_file(&tmp);
    {
        let mut dst = Connection::open(&tmp)
            .with_context(|| format!("cannot make the backup file {}", to.display()))?;
        let b = rusqlite::backup::Backup::new(c, &mut dst)?;
        b.run_to_completion(1024, Duration::from_millis(5), None)
            .with_context(|| format!("{}: the backup did not finish", to.display()))?;
    }
    std::fs::rename(&tmp, to)?;
    Ok(std::fs::metadata(to)?.len())
}

/// A new SQLite file holding `entries` (a PostgreSQL database's backup), its schema made
/// by the migrations.
pub fn copy_into(to: &Path, entries: &[Entry]) -> Result<u64> {
    let tmp = to.with_extension("db.partial");
    let _ = std::fs::remove_file(&tmp);
    {
        let mut c = open(&tmp, Open::OrCreate)?;
        migrate(&mut c, schema::MIGRATIONS)?;
        let mut tx = c.transaction()?;
        let starts: Vec<usize> = (0..entries.len())
            .filter(|&k| k == 0 || entries[k].write_id != entries[k - 1].write_id)
            .collect();
        tx.insert(entries, &starts)?;
        tx.commit()?;
        c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?;
    }
    std::fs::rename(&tmp, to)?;
    Ok(std::fs::metadata(to)?.len())
}
