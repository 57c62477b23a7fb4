//! The audit trail of a trial folder made from the database: `audit.csv`, one row per
//! entry of the trial (roster and record) up to the entry the folder was made up to, with
//! who entered it, when (UTC), what it did (add, correct, void), what it supersedes, why,
//! where it came from, its fields and its hash; and a [`Trail`] of it for the report.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::Result;

use super::columns::{Col, col};
use crate::db::entry::{self, Action, Book, Entry};
use crate::db::{Db, Filter, Head};

/// The file's name in a trial folder.
pub const FILE: &str = "audit.csv";

/// Field `k` of a roster entry (empty for another book's).
fn roster_value(e: &Entry, k: usize) -> String {
    if e.fields.book() == Book::Roster {
        e.fields.values[k].clone()
    } else {
        String::new()
    }
}

/// Field `k` of a record entry (empty for another book's).
fn record_value(e: &Entry, k: usize) -> String {
    if e.fields.book() == Book::Record {
        e.fields.values[k].clone()
    } else {
        String::new()
    }
}

/// audit.csv's columns, each name beside its cell.
pub const COLUMNS: [Col<Entry>; 22] = [
    col("entry", |e| e.id.to_string()),
    col("entered_at", |e| e.fields.entered_at.clone()),
    col("entered_by", |e| e.fields.entered_by.clone()),
    col("action", |e| e.fields.action().as_str().to_string()),
    col("book", |e| e.fields.book().as_str().to_string()),
    col("patient_id", |e| e.fields.patient_id.clone()),
    col("supersedes", |e| {
        e.fields
            .supersedes
            .map_or_else(String::new, |s| s.to_string())
    }),
    col("reason", |e| e.fields.reason.clone()),
    col("source", |e| e.fields.source.clone()),
    col("line", |e| {
        e.fields.line.map_or_else(String::new, |l| l.to_string())
    }),
    col("arm", |e| roster_value(e, 0)),
    col("weight_kg", |e| roster_value(e, 1)),
    col("start_date", |e| roster_value(e, 2)),
    col("site", |e| roster_value(e, 3)),
    col("date", |e| record_value(e, 0)),
    col("record", |e| record_value(e, 1)),
    col("component", |e| record_value(e, 2)),
    col("occurrence", |e| record_value(e, 3)),
    col("amount", |e| record_value(e, 4)),
    col("note", |e| record_value(e, 5)),
    col("prev_hash", |e| entry::hex(&e.prev_hash)),
    col("hash", |e| entry::hex(&e.hash)),
];

/// A correction or void, as the report lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub entry: i64,
    pub action: Action,
    /// The entry it takes the place of.
    pub supersedes: i64,
    pub book: Book,
    pub patient_id: String,
    pub entered_by: String,
    pub entered_at: String,
    pub reason: String,
}

/// What the report says of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trail {
    /// The database, as messages name it.
    pub database: String,
    /// The trial's entries, roster and record.
    pub entries: u64,
    /// How many of them each person entered.
    pub by: BTreeMap<String, u64>,
    /// The database's entry the folder was made up to.
    pub head: Head,
    /// Every correction and void, in entry order.
    pub changes: Vec<Change>,
}

/// Writes audit.csv of `trial_id`'s entries up to `head` (the entry the folder is made up
/// to: an entry written since is left for the next run) to `out`, and gives its
/// [`Trail`].
pub fn write(db: &mut Db, trial_id: &str, head: Head, out: &mut dyn Write) -> Result<Trail> {
    let mut trail = Trail {
        database: db.label().to_string(),
        entries: 0,
        by: BTreeMap::new(),
        head,
        changes: Vec::new(),
    };
    let mut w = csv::Writer::from_writer(out);
    w.write_record(COLUMNS.iter().map(|c| c.name))?;
    db.read(|s| {
        s.scan(&Filter::trial(trial_id), &mut |e| {
            if e.id > head.id || e.fields.book() == Book::Database {
                return Ok(());
            }
            w.write_record(COLUMNS.iter().map(|c| (c.cell)(e)))?;
            trail.entries += 1;
            *trail.by.entry(e.fields.entered_by.clone()).or_default() += 1;
            if let (Action::Correct | Action::Void, Some(of)) =
                (e.fields.action(), e.fields.supersedes)
            {
                trail.changes.push(Change {
                    entry: e.id,
                    action: e.fields.action(),
                    supersedes: of,
                    book: e.fields.book(),
                    patient_id: e.fields.patient_id.clone(),
                    entered_by: e.fields.entered_by.clone(),
                    entered_at: e.fields.entered_at.clone(),
                    reason: e.fields.reason.clone(),
                });
            }
            Ok(())
        })
    })?;
    w.flush()?;
    Ok(trail)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every column is named once.
    #[test]
    fn the_columns_are_named_once() {
        let mut names = super::super::columns::names(&COLUMNS);
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n);
    }
}
