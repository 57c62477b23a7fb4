//! The PostgreSQL engine, for sites that share one server: the same schema, the same
//! chain, the same refusals.

use anyhow::{Context, Result, anyhow, bail};
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, NoTls, Transaction};

use super::entry::{self, Action, Book, Entry, Hash};
use super::schema::{self, Migration};
use super::sqlite::{empty_entry, select, split_values};
use super::{Filter, Store};

/// A key for the advisory lock that keeps two processes from migrating at once.
const MIGRATION_LOCK: i64 = 0x646f_7365_7369_6d;

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
                let h: &[u8] = r.get(1);
                let hash = entry::from_bytes(h)
                    .ok_or_else(|| anyhow!("entry {id}: its hash is not 32 bytes"))?;
                Ok(Some((id, hash)))
            }
            None => Ok(None),
        }
    }

    fn scan(&mut self, filter: &Filter, f: &mut dyn FnMut(&Entry) -> Result<()>) -> Result<()> {
        let (sql, args) = select(filter, "$");
        let mut rows = self.query_raw(&sql, args.iter())?;
        let mut e = empty_entry();
        while let Some(r) = rows.next()? {
            fill(&mut e, &r);
            f(&e)?;
        }
        Ok(())
    }

    fn insert(&mut self, entries: &[Entry]) -> Result<()> {
        // One statement a batch: each column an array, unnested into rows.
        let mut cols: Vec<Vec<&str>> = vec![Vec::with_capacity(entries.len()); 18];
        let mut ids = Vec::with_capacity(entries.len());
        let mut sup = Vec::with_capacity(entries.len());
        let mut prev: Vec<&[u8]> = Vec::with_capacity(entries.len());
        let mut hash: Vec<&[u8]> = Vec::with_capacity(entries.len());
        for e in entries {
            let f = &e.fields;
            let (roster, record) = split_values(f);
            ids.push(e.id);
            sup.push(f.supersedes);
            prev.push(&e.prev_hash[..]);
            hash.push(&e.hash[..]);
            let texts = [
                &f.trial_id[..],
                f.book().as_str(),
                f.action().as_str(),
                &f.patient_id,
            ]
            .into_iter()
            .chain(roster)
            .chain(record)
            .chain([&f.reason[..], &f.source, &f.entered_by, &f.entered_at]);
            for (k, t) in texts.enumerate() {
                cols[k].push(t);
            }
        }
        let sql = format!(
            "INSERT INTO entries ({}) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::text[], $19::text[], $20::text[], $21::bytea[], $22::bytea[])",
            schema::COLUMNS
        );
        self.execute(
            &sql,
            &[
                &ids, &cols[0], &cols[1], &cols[2], &sup, &cols[3], &cols[4], &cols[5], &cols[6],
                &cols[7], &cols[8], &cols[9], &cols[10], &cols[11], &cols[12], &cols[13],
                &cols[14], &cols[15], &cols[16], &cols[17], &prev, &hash,
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

/// Fills `e` from a row of [`schema::COLUMNS`].
fn fill(e: &mut Entry, r: &postgres::Row) {
    let text = |k: usize, s: &mut String| {
        s.clear();
        s.push_str(r.get::<_, &str>(k));
    };
    e.id = r.get(0);
    let f = &mut e.fields;
    text(1, &mut f.trial_id);
    f.book = r.get::<_, &str>(2).parse::<Book>().ok();
    f.action = r.get::<_, &str>(3).parse::<Action>().ok();
    f.supersedes = r.get(4);
    text(5, &mut f.patient_id);
    let roster = f.book == Some(Book::Roster);
    let first = if roster { 6 } else { 10 };
    for k in 0..6 {
        if roster && k >= 4 {
            f.values[k].clear();
        } else {
            text(first + k, &mut f.values[k]);
        }
    }
    text(16, &mut f.reason);
    text(17, &mut f.source);
    text(18, &mut f.entered_by);
    text(19, &mut f.entered_at);
    e.prev_hash = entry::from_bytes(r.get::<_, &[u8]>(20)).unwrap_or(entry::GENESIS);
    e.hash = entry::from_bytes(r.get::<_, &[u8]>(21)).unwrap_or(entry::GENESIS);
}
