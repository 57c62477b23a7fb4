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
    // WAL: readers never wait for a writer, a writer never for readers; NORMAL sync is
    // durable across a process crash, and across a power cut up to the last checkpoint.
    let mode: String = c
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(|e| explain(e, &label))?;
    if !mode.eq_ignore_ascii_case("wal") {
        bail!("{label}: the database could not be put in WAL mode (it is in {mode} mode)");
    }
    c.execute_batch(
        "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -65536;",
    )?;
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

/// An engine error in plain words, naming the database: a full disk, a file that is not a
/// database, a write lock held too long.
pub fn explain(e: rusqlite::Error, label: &str) -> anyhow::Error {
    use rusqlite::ErrorCode as C;
    let words = match e.sqlite_error_code() {
        Some(C::DiskFull) => Some(
            "the disk is full: nothing of this write was kept and the database is as it was before it; free some space and run it again",
        ),
        Some(C::NotADatabase) => Some("this file is not a database"),
        Some(C::DatabaseBusy | C::DatabaseLocked) => Some(
            "another process has been writing to the database for over two minutes; try again when it has finished",
        ),
        Some(C::ReadOnly | C::CannotOpen | C::PermissionDenied) => {
            Some("the database cannot be written here (check the file's and its folder's permissions)")
        }
        _ => None,
    };
    match words {
        Some(w) => anyhow!("{label}: {w}"),
        None => anyhow!("{label}: {e}"),
    }
}

impl Store for Transaction<'_> {
    fn head(&mut self) -> Result<Option<(i64, Hash)>> {
        let mut st = self.prepare_cached("SELECT id, hash FROM entries ORDER BY id DESC LIMIT 1")?;
        let mut rows = st.query([])?;
        match rows.next()? {
            Some(r) => {
                let id: i64 = r.get(0)?;
                let h: Vec<u8> = r.get(1)?;
                let hash = entry::from_bytes(&h)
                    .ok_or_else(|| anyhow!("entry {id}: its hash is not 32 bytes"))?;
                Ok(Some((id, hash)))
            }
            None => Ok(None),
        }
    }

    fn scan(&mut self, filter: &Filter, f: &mut dyn FnMut(&Entry) -> Result<()>) -> Result<()> {
        let (sql, args) = select(filter, "?");
        let mut st = self.prepare(&sql)?;
        let mut rows = st.query(rusqlite::params_from_iter(args.iter()))?;
        let mut e = empty_entry();
        while let Some(r) = rows.next()? {
            fill(&mut e, r)?;
            f(&e)?;
        }
        Ok(())
    }

    fn insert(&mut self, entries: &[Entry]) -> Result<()> {
        let mut st = self.prepare_cached(&format!(
            "INSERT INTO entries ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)",
            schema::COLUMNS
        ))?;
        for e in entries {
            let f = &e.fields;
            let (roster, record) = split_values(f);
            st.execute(params![
                e.id,
                f.trial_id,
                f.book().as_str(),
                f.action().as_str(),
                f.supersedes,
                f.patient_id,
                roster[0],
                roster[1],
                roster[2],
                roster[3],
                record[0],
                record[1],
                record[2],
                record[3],
                record[4],
                record[5],
                f.reason,
                f.source,
                f.entered_by,
                f.entered_at,
                &e.prev_hash[..],
                &e.hash[..],
            ])?;
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

/// The SELECT of a filter, with `mark` as the placeholder's prefix (`?` here, `$` for
/// PostgreSQL), and its arguments.
pub fn select(filter: &Filter, mark: &str) -> (String, Vec<String>) {
    let mut sql = format!("SELECT {} FROM entries", schema::COLUMNS);
    let mut args: Vec<String> = Vec::new();
    let mut conds: Vec<String> = Vec::new();
    let mut add = |col: &str, v: String, args: &mut Vec<String>| {
        args.push(v);
        conds.push(format!("{col} = {mark}{}", args.len()));
    };
    if let Some(t) = &filter.trial {
        add("trial_id", t.clone(), &mut args);
    }
    if let Some(b) = filter.book {
        add("book", b.as_str().to_string(), &mut args);
    }
    if let Some(p) = &filter.patient {
        add("patient_id", p.clone(), &mut args);
    }
    if let Some(id) = filter.id {
        // Ids are numbers: compared as such, without a text argument.
        conds.push(format!("id = {id}"));
    }
    if filter.superseding {
        conds.push("supersedes IS NOT NULL".to_string());
    }
    if !conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    sql.push_str(" ORDER BY id");
    (sql, args)
}

/// An entry's values as the roster's four columns and the record's six.
pub fn split_values(f: &Fields) -> ([&str; 4], [&str; 6]) {
    let v = &f.values;
    let none = "";
    match f.book() {
        Book::Roster => ([&v[0], &v[1], &v[2], &v[3]], [none; 6]),
        _ => ([none; 4], [&v[0], &v[1], &v[2], &v[3], &v[4], &v[5]]),
    }
}

/// An entry to fill from rows.
pub fn empty_entry() -> Entry {
    Entry {
        id: 0,
        fields: Fields::default(),
        prev_hash: entry::GENESIS,
        hash: entry::GENESIS,
    }
}

/// Fills `e` from a row of [`schema::COLUMNS`], reusing its strings.
fn fill(e: &mut Entry, r: &rusqlite::Row) -> Result<()> {
    let text = |k: usize, s: &mut String| -> Result<()> {
        s.clear();
        s.push_str(r.get_ref(k)?.as_str()?);
        Ok(())
    };
    e.id = r.get(0)?;
    let f = &mut e.fields;
    text(1, &mut f.trial_id)?;
    f.book = r.get_ref(2)?.as_str()?.parse::<Book>().ok();
    f.action = r.get_ref(3)?.as_str()?.parse::<Action>().ok();
    f.supersedes = r.get(4)?;
    text(5, &mut f.patient_id)?;
    let first = if f.book == Some(Book::Roster) { 6 } else { 10 };
    for k in 0..6 {
        let col = first + k;
        if f.book == Some(Book::Roster) && k >= 4 {
            f.values[k].clear();
        } else {
            text(col, &mut f.values[k])?;
        }
    }
    text(16, &mut f.reason)?;
    text(17, &mut f.source)?;
    text(18, &mut f.entered_by)?;
    text(19, &mut f.entered_at)?;
    e.prev_hash = hash_at(r, 20)?;
    e.hash = hash_at(r, 21)?;
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
        tx.insert(entries)?;
        tx.commit()?;
        c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?;
    }
    std::fs::rename(&tmp, to)?;
    Ok(std::fs::metadata(to)?.len())
}
