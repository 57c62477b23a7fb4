//! The PostgreSQL engine, for sites that share one server: the same schema, the same
//! chain, the same refusals.

use anyhow::{Context, Result, anyhow, bail};
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, NoTls, Transaction};

use super::entry::{self, Action, Book, Entry, Fields, Hash};
use super::schema::{self, Migration};
use super::sqlite::{empty_entry, entries_in_range, joined, writes};
use super::{Filter, Store};

/// A key for the advisory lock that keeps two processes from migrating at once.
const MIGRATION_LOCK: i64 = 0x0064_6f73_6573_696d;

/// Connects to the server.
pub fn open(url: &str) -> Result<Client> {
    let mut c = Client::connect(url, NoTls)?;
    // Quiet: a CREATE ... IF NOT EXISTS that finds the table says so as a notice.
    c.batch_execute("SET client_min_messages = warning")?;
    Ok(c)
}

/// Applies the migrations the database lacks, one process at a time.
pub fn migrate(c: &mut Client, migrations: &[Migration]) -> Result<()> {
    let mut tx = c.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute(schema::VERSION_TABLE_POSTGRES)?;
    let applied: Vec<i64> = tx
        .query("SELECT version FROM schema_version ORDER BY version", &[])?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if let Some(&newest) = applied.last()
        && newest > schema::latest()
    {
        bail!(
            "the database's schema is version {newest}, newer than this dosesim knows ({}): use the dosesim that made it, or a newer one",
            schema::latest()
        );
    }
    for m in migrations.iter().filter(|m| !applied.contains(&m.version)) {
        tx.batch_execute(m.postgres)
            .with_context(|| format!("schema version {}: {}", m.version, m.what))?;
        tx.execute(
            "INSERT INTO schema_version (version, what) VALUES ($1, $2)",
            &[&m.version, &m.what],
        )?;
    }
    tx.commit()?;
    Ok(())
}

impl Store for Transaction<'_> {
    fn head(&mut self) -> Result<Option<(i64, Hash)>> {
        let rows = self.query("SELECT id, hash FROM entries ORDER BY id DESC LIMIT 1", &[])?;
        match rows.first() {
            Some(r) => {
                let id: i64 = r.get(0);
                let hash = entry::from_bytes(r.get::<_, &[u8]>(1))
                    .ok_or_else(|| anyhow!("entry {id}: its hash is not 32 bytes"))?;
                Ok(Some((id, hash)))
            }
            None => Ok(None),
        }
    }

    fn last_write(&mut self) -> Result<i64> {
        Ok(self
            .query_one("SELECT coalesce(max(id), 0)::bigint FROM writes", &[])?
            .get(0))
    }

    fn scan(&mut self, filter: &Filter, f: &mut dyn FnMut(&Entry) -> Result<()>) -> Result<()> {
        let mut e = empty_entry();
        if filter.id.is_some() || filter.superseding {
            let (sql, args) = joined(filter, "$");
            let mut rows = self.query_raw(&sql, args.iter())?;
            while let Some(r) = rows.next()? {
                fill_write(&mut e.fields, &r, 13);
                fill(&mut e, &r);
                f(&e)?;
            }
            return Ok(());
        }
        let (sql, args) = writes(filter, "$");
        let mut ranges = Vec::new();
        {
            let mut rows = self.query_raw(&sql, args.iter())?;
            while let Some(r) = rows.next()? {
                let mut w = Fields::default();
                fill_write(&mut w, &r, 3);
                let (id, first, next): (i64, i64, Option<i64>) = (r.get(0), r.get(1), r.get(2));
                ranges.push((w, id, first, next));
            }
        }
        let st = self.prepare(&entries_in_range(filter, "$"))?;
        for (w, write_id, first, next) in ranges {
            e.fields.clone_from(&w);
            let end = next.unwrap_or(i64::MAX);
            let mut args: Vec<&(dyn postgres::types::ToSql + Sync)> = vec![&first, &end, &write_id];
            if let Some(p) = &filter.patient {
                args.push(p);
            }
            let mut rows = self.query_raw(&st, args)?;
            while let Some(r) = rows.next()? {
                fill(&mut e, &r);
                f(&e)?;
            }
        }
        Ok(())
    }

    fn insert(&mut self, entries: &[Entry], new_writes: &[usize]) -> Result<()> {
        for &k in new_writes {
            let e = &entries[k];
            let f = &e.fields;
            self.execute(
                &format!(
                    "INSERT INTO writes ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    schema::WRITE_COLUMNS
                ),
                &[
                    &e.write_id,
                    &e.id,
                    &f.trial_id,
                    &f.book().as_str(),
                    &f.action().as_str(),
                    &f.reason,
                    &f.source,
                    &f.entered_by,
                    &f.entered_at,
                ],
            )?;
        }
        // One statement a batch: each column an array, unnested into rows.
        let ids: Vec<i64> = entries.iter().map(|e| e.id).collect();
        let writes: Vec<i64> = entries.iter().map(|e| e.write_id).collect();
        let sup: Vec<Option<i64>> = entries.iter().map(|e| e.fields.supersedes).collect();
        let pid: Vec<&str> = entries.iter().map(|e| &*e.fields.patient_id).collect();
        let vals: Vec<Vec<&str>> = (0..6)
            .map(|k| entries.iter().map(|e| &*e.fields.values[k]).collect())
            .collect();
        let line: Vec<Option<i64>> = entries.iter().map(|e| e.fields.line).collect();
        let prev: Vec<&[u8]> = entries.iter().map(|e| &e.prev_hash[..]).collect();
        let hash: Vec<&[u8]> = entries.iter().map(|e| &e.hash[..]).collect();
        self.execute(
            &format!(
                "INSERT INTO entries ({}) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::bigint[], $12::bytea[], $13::bytea[])",
                schema::ENTRY_COLUMNS
            ),
            &[
                &ids, &writes, &sup, &pid, &vals[0], &vals[1], &vals[2], &vals[3], &vals[4],
                &vals[5], &line, &prev, &hash,
            ],
        )?;
        Ok(())
    }

    fn versions(&mut self) -> Result<Vec<i64>> {
        Ok(self
            .query("SELECT version FROM schema_version ORDER BY version", &[])?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }
}

/// Fills the entry's own fields from a row's first 13 columns.
fn fill(e: &mut Entry, r: &postgres::Row) {
    e.id = r.get(0);
    e.write_id = r.get(1);
    let f = &mut e.fields;
    f.supersedes = r.get(2);
    text(r, 3, &mut f.patient_id);
    for k in 0..6 {
        text(r, 4 + k, &mut f.values[k]);
    }
    f.line = r.get(10);
    e.prev_hash = entry::from_bytes(r.get::<_, &[u8]>(11)).unwrap_or(entry::GENESIS);
    e.hash = entry::from_bytes(r.get::<_, &[u8]>(12)).unwrap_or(entry::GENESIS);
}

/// Fills the write-level fields from a row's columns from `at`.
fn fill_write(f: &mut Fields, r: &postgres::Row, at: usize) {
    text(r, at, &mut f.trial_id);
    f.book = r.get::<_, &str>(at + 1).parse::<Book>().ok();
    f.action = r.get::<_, &str>(at + 2).parse::<Action>().ok();
    text(r, at + 3, &mut f.reason);
    text(r, at + 4, &mut f.source);
    text(r, at + 5, &mut f.entered_by);
    text(r, at + 6, &mut f.entered_at);
}

fn text(r: &postgres::Row, k: usize, s: &mut String) {
    s.clear();
    s.push_str(r.get::<_, &str>(k));
}
