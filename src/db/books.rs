//! A trial's books in the database: the roster and the record a command works from, made
//! from the trial's entries (each correction in the place of what it corrects, each voided
//! entry left out) and checked by the same readers as the CSV files; and what goes in:
//! imports of CSV files, entries added, corrected and voided, each checked with the whole
//! book before it is kept.
//!
//! The readers check CSV text, so a book is written as CSV text whose line numbers are
//! the entries' numbers (entry 17 on line 17; the header on line 1, entry 1 being the
//! database's own): a problem the reader finds on a line is a problem of that entry, and
//! is said so ([`entry_words`]).

use std::path::{Path, PathBuf};

use anyhow::Result;
use chrono::NaiveDate;
use rustc_hash::{FxHashMap, FxHashSet};

use super::entry::{Action, Book, Entry, Fields, RECORD_FIELDS, ROSTER_FIELDS};
use super::{Db, Filter, Head, Store, Writer, write_part};

use crate::error::{InputError, Problem};
use crate::model::Trial;
use crate::record::Log;
use crate::roster::Roster;

/// A trial's roster and record as of one moment of the database.
#[derive(Debug, Clone)]
pub struct Books {
    pub trial_id: String,
    /// How messages name the roster: "dosesim.db (roster of NCT01724398)".
    pub roster_label: PathBuf,
    /// The roster as CSV, each patient on the line of its entry.
    pub roster_csv: Vec<u8>,
    /// The roster's patients (entries in effect).
    pub patients: usize,
    /// How messages name the record.
    pub record_label: PathBuf,
    /// The record as CSV (the log's columns), each row on the line of its entry.
    pub record_csv: Vec<u8>,
    /// The record's rows in effect.
    pub rows: usize,
    /// Corrections and voids of this trial's entries.
    pub corrections: usize,
    /// The database's last entry when the books were read.
    pub head: Option<Head>,
}

/// The trial's books, as the database holds them now.
pub fn load(db: &mut Db, trial_id: &str) -> Result<Books> {
    let label = db.label().to_string();
    db.read(|s| read(s, &label, trial_id))
}

/// The trial's books, read in the transaction of `s`.
pub fn read(s: &mut dyn Store, db_label: &str, trial_id: &str) -> Result<Books> {
    let head = s.head()?.map(|(id, hash)| Head { id, hash });
    let superseded = superseded(s, trial_id)?;
    let mut changed = Vec::new();
    let roster = write_book(s, trial_id, Book::Roster, &superseded, &mut changed)?;
    let record = write_book(s, trial_id, Book::Record, &superseded, &mut changed)?;
    refuse_changed(db_label, trial_id, changed)?;
    Ok(Books {
        trial_id: trial_id.to_string(),
        roster_label: label(db_label, "roster", trial_id),
        roster_csv: roster.csv,
        patients: roster.rows,
        record_label: label(db_label, "record", trial_id),
        record_csv: record.csv,
        rows: record.rows,
        corrections: superseded.len(),
        head,
    })
}

/// Entries whose fields no longer match their hash (changed outside dosesim, with the
/// sqlite3 shell say): nothing is made from such a book, for a dose or a date read from it
/// may not be what was entered. `record verify` names what is wrong with each.
fn refuse_changed(db_label: &str, trial_id: &str, mut changed: Vec<i64>) -> Result<()> {
    if changed.is_empty() {
        return Ok(());
    }
    changed.sort_unstable();
    let n = changed.len();
    let listed: Vec<String> = changed.iter().take(10).map(|id| id.to_string()).collect();
    let more = if n > 10 {
        format!(" and {} more", n - 10)
    } else {
        String::new()
    };
    anyhow::bail!(
        "{db_label}: {n} entr{} of {trial_id} no longer match{} {} hash (entr{} {}{more}): changed outside dosesim after {} written, so nothing is made from the database. Run dosesim record verify to see what is wrong, and restore the last backup that verifies (keep the damaged copy)",
        if n == 1 { "y" } else { "ies" },
        if n == 1 { "es" } else { "" },
        if n == 1 { "its" } else { "their" },
        if n == 1 { "y" } else { "ies" },
        listed.join(", "),
        if n == 1 { "it was" } else { "they were" },
    )
}

/// "dosesim.db (record of NCT01724398)".
pub fn label(db_label: &str, book: &str, trial_id: &str) -> PathBuf {
    PathBuf::from(format!("{db_label} ({book} of {trial_id})"))
}

/// The trial's entries that a later correction or void takes the place of.
fn superseded(s: &mut dyn Store, trial_id: &str) -> Result<FxHashSet<i64>> {
    let mut out = FxHashSet::default();
    s.scan(&Filter::trial(trial_id).superseding(), &mut |e| {
        if let Some(id) = e.fields.supersedes {
            out.insert(id);
        }
        Ok(())
    })?;
    Ok(out)
}

/// A book written as CSV.
struct Written {
    csv: Vec<u8>,
    rows: usize,
}

/// The entries of `book` in effect, as CSV with each on the line of its number.
fn write_book(
    s: &mut dyn Store,
    trial_id: &str,
    book: Book,
    superseded: &FxHashSet<i64>,
    changed: &mut Vec<i64>,
) -> Result<Written> {
    let mut csv = Vec::new();
    let names: &[&str] = match book {
        Book::Roster => &ROSTER_FIELDS,
        _ => &RECORD_FIELDS,
    };
    csv.extend_from_slice(b"patient_id");
    for n in names {
        csv.push(b',');
        csv.extend_from_slice(n.as_bytes());
    }
    csv.push(b'\n');
    let mut line: i64 = 2;
    let mut rows = 0;
    let mut any_site = false;
    s.scan(&Filter::trial(trial_id).book(book), &mut |e| {
        if super::entry::hash(e.id, &e.fields, &e.prev_hash) != e.hash {
            changed.push(e.id);
        }
        if e.fields.action() == Action::Void || superseded.contains(&e.id) {
            return Ok(());
        }
        while line < e.id {
            csv.push(b'\n');
            line += 1;
        }
        cell(&mut csv, &e.fields.patient_id);
        for v in &e.fields.values[..names.len()] {
            csv.push(b',');
            cell(&mut csv, v);
        }
        any_site |= book == Book::Roster && !e.fields.values[3].is_empty();
        csv.push(b'\n');
        line += 1;
        rows += 1;
        Ok(())
    })?;
    if book == Book::Roster && !any_site {
        csv = without_site(&csv);
    }
    // A grown buffer may hold up to twice its text: a million patients' record is 100 MB.
    csv.shrink_to_fit();
    Ok(Written { csv, rows })
}

/// A CSV cell: quoted when it holds a comma or a quote; a line break (a note typed over
/// two lines) is read as a space, so that each entry stays on its own line.
fn cell(out: &mut Vec<u8>, v: &str) {
    if v.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
        out.push(b'"');
        for ch in v.chars() {
            match ch {
                '"' => out.extend_from_slice(b"\"\""),
                '\n' | '\r' => out.push(b' '),
                c => {
                    let mut b = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
                }
            }
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(v.as_bytes());
    }
}

/// A roster without its `site` column, when no patient names a site (every row then ends
/// in the empty site's comma).
fn without_site(csv: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(csv.len());
    let mut lines = csv.split_inclusive(|&b| b == b'\n');
    if let Some(h) = lines.next() {
        out.extend_from_slice(h.strip_suffix(b",site\n").unwrap_or(h));
        if !h.ends_with(b",site\n") {
            return csv.to_vec();
        }
        out.push(b'\n');
    }
    for l in lines {
        match l.strip_suffix(b",\n") {
            Some(row) => {
                out.extend_from_slice(row);
                out.push(b'\n');
            }
            None => out.extend_from_slice(l),
        }
    }
    out
}

/// A reader's words about a book's line made words about its entry: "LABEL:17: ..."
/// becomes "LABEL, entry 17: ..." and "(line 17)" "(entry 17)".
pub fn entry_words(text: &str, label: &Path) -> String {
    let l = label.display().to_string();
    let mut out = String::with_capacity(text.len() + 8);
    let mut rest = text;
    while let Some(k) = rest.find(&format!("{l}:")) {
        let after = &rest[k + l.len() + 1..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            out.push_str(&rest[..k + l.len() + 1]);
            rest = after;
            continue;
        }
        out.push_str(&rest[..k]);
        out.push_str(&format!("{l}, entry {}", &after[..digits]));
        rest = &after[digits..];
    }
    out.push_str(rest);
    replace_line_words(&out)
}

/// "line 17" (a reader's reference to another row) as "entry 17".
fn replace_line_words(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(k) = rest.find("line ") {
        let after = &rest[k + 5..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        out.push_str(&rest[..k]);
        out.push_str(if digits > 0 { "entry " } else { "line " });
        rest = after;
    }
    out.push_str(rest);
    out
}

/// A reader's problems about a book as problems about its entries: the line becomes the
/// entry's number, said as such.
pub fn entry_problems(e: InputError, label: &Path) -> InputError {
    let problems = e
        .problems
        .into_iter()
        .map(|p| entry_problem(p, label))
        .collect();
    InputError {
        problems,
        unlisted: e.unlisted,
    }
}

fn entry_problem(p: Problem, label: &Path) -> Problem {
    if p.file.as_deref() != Some(label) {
        return p;
    }
    let file = match p.line {
        Some(l) if l > 1 => PathBuf::from(format!("{}, entry {l}", label.display())),
        _ => label.to_path_buf(),
    };
    Problem {
        file: Some(file),
        line: None,
        field: p.field,
        message: replace_line_words(&p.message),
    }
}

impl Books {
    /// The roster as its reader gives it, problems on lines (the entries' numbers).
    fn roster_raw(&self, trial: &Trial) -> Result<Roster, InputError> {
        if self.patients == 0 {
            return Err(InputError::one(Problem::new(
                &self.roster_label,
                format!(
                    "the database has no roster for {}: import it first (dosesim roster import {} ROSTER.csv)",
                    self.trial_id, self.trial_id
                ),
            )));
        }
        crate::roster::parse(&self.roster_label, self.roster_csv.clone(), trial)
    }

    /// The record as its reader gives it, problems on lines (the entries' numbers).
    fn record_raw(
        &self,
        trial: &Trial,
        roster: &Roster,
        as_of: Option<NaiveDate>,
    ) -> Result<Log, InputError> {
        crate::record::parse(
            &self.record_label,
            self.record_csv.clone(),
            trial,
            roster,
            as_of,
            false,
        )
    }

    /// The roster, checked against the trial (its warnings naming entries).
    pub fn roster(&self, trial: &Trial) -> Result<Roster, InputError> {
        let mut r = self
            .roster_raw(trial)
            .map_err(|e| entry_problems(e, &self.roster_label))?;
        self.roster_words(&mut r);
        Ok(r)
    }

    /// The roster from its CSV text (problems naming entries).
    fn roster_from(&self, trial: &Trial, csv: Vec<u8>) -> Result<Roster, InputError> {
        if self.patients == 0 {
            return self.roster(trial);
        }
        crate::roster::parse(&self.roster_label, csv, trial)
            .map_err(|e| entry_problems(e, &self.roster_label))
    }

    /// The roster's warnings made words about its entries.
    fn roster_words(&self, r: &mut Roster) {
        for w in r
            .warnings
            .iter_mut()
            .chain(&mut r.id_warnings)
            .chain(&mut r.date_warnings)
            .chain(&mut r.site_warnings)
        {
            *w = entry_words(w, &self.roster_label);
        }
    }

    /// The record, checked against the trial and the roster, complete to `as_of` (its
    /// latest date when `None`).
    pub fn record(
        &self,
        trial: &Trial,
        roster: &Roster,
        as_of: Option<NaiveDate>,
    ) -> Result<Log, InputError> {
        let mut log = self
            .record_raw(trial, roster, as_of)
            .map_err(|e| entry_problems(e, &self.record_label))?;
        for w in &mut log.warnings {
            *w = entry_words(w, &self.record_label);
        }
        Ok(log)
    }

    /// As [`Books::roster`], the roster's CSV text handed to its reader rather than
    /// copied (the books hold none of it after).
    pub fn take_roster(&mut self, trial: &Trial) -> Result<Roster, InputError> {
        let csv = std::mem::take(&mut self.roster_csv);
        let mut r = self.roster_from(trial, csv)?;
        self.roster_words(&mut r);
        Ok(r)
    }

    /// As [`Books::record`], the record's CSV text handed to its reader rather than
    /// copied (the books hold none of it after).
    pub fn take_record(
        &mut self,
        trial: &Trial,
        roster: &Roster,
        as_of: Option<NaiveDate>,
    ) -> Result<Log, InputError> {
        let csv = std::mem::take(&mut self.record_csv);
        let mut log = crate::record::parse(&self.record_label, csv, trial, roster, as_of, false)
            .map_err(|e| entry_problems(e, &self.record_label))?;
        for w in &mut log.warnings {
            *w = entry_words(w, &self.record_label);
        }
        Ok(log)
    }

    /// The roster and the record, both checked (every problem of both at once).
    pub fn check(&self, trial: &Trial) -> Result<(Roster, Log), InputError> {
        let roster = self.roster(trial)?;
        let log = self.record(trial, &roster, None)?;
        Ok((roster, log))
    }

    /// As [`Books::roster`] then [`Books::record`] (complete to `as_of`), the books' CSV
    /// text handed to the readers rather than copied: each is freed once checked, so
    /// that a million patients' books are not held twice (see README, "The record in a
    /// database").
    pub fn into_checked(
        mut self,
        trial: &Trial,
        as_of: Option<NaiveDate>,
    ) -> Result<(Roster, Log), InputError> {
        let roster_csv = std::mem::take(&mut self.roster_csv);
        let record_csv = std::mem::take(&mut self.record_csv);
        let mut roster = self.roster_from(trial, roster_csv)?;
        self.roster_words(&mut roster);
        let mut log =
            crate::record::parse(&self.record_label, record_csv, trial, &roster, as_of, false)
                .map_err(|e| entry_problems(e, &self.record_label))?;
        for w in &mut log.warnings {
            *w = entry_words(w, &self.record_label);
        }
        Ok((roster, log))
    }
}

impl Filter {
    /// Only the entries that supersede another.
    pub fn superseding(mut self) -> Filter {
        self.superseding = true;
        self
    }
}

/// A CSV file's rows as typed (trimmed), in the order of `columns` (a missing optional
/// column reads as empty), each with its line. The file has been checked by its reader.
pub fn raw_rows<const N: usize>(
    path: &Path,
    bytes: &[u8],
    columns: [&str; N],
) -> Result<Vec<(usize, [String; N])>, InputError> {
    let mut out = Vec::new();
    each_raw_row(path, bytes, columns, |line, cells: [&str; N]| {
        out.push((line, cells.map(str::to_string)));
        Ok::<(), InputError>(())
    })?;
    Ok(out)
}

/// Each row of a CSV file as typed (trimmed), its cells in the order of `columns` (a
/// missing optional column reads as empty) borrowed from the file's bytes, given to `f`
/// with its line: nothing is allocated a row.
fn each_raw_row<const N: usize, E: From<InputError>>(
    path: &Path,
    bytes: &[u8],
    columns: [&str; N],
    mut f: impl FnMut(usize, [&str; N]) -> Result<(), E>,
) -> Result<(), E> {
    let header = crate::csv_in::Header::read(path, bytes)?;
    let at: [Option<usize>; N] = std::array::from_fn(|k| header.find(columns[k]));
    let mut rows = crate::csv_in::whole(bytes).rows();
    let mut row = csv::ByteRecord::new();
    while let Some(r) = rows.read(&mut row) {
        let line =
            r.map_err(|u| InputError::one(Problem::new(path, u.error.to_string()).at(u.line)))?;
        if crate::csv_in::is_blank(&row) {
            continue;
        }
        let cells: [&str; N] = std::array::from_fn(|k| {
            at[k]
                .and_then(|i| row.get(i))
                .and_then(|c| std::str::from_utf8(c).ok())
                .unwrap_or("")
                .trim()
        });
        f(line, cells)?;
    }
    Ok(())
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// Entries added.
    pub added: usize,
    /// Rows already in the database (the same patient and fields), not added again.
    pub already: usize,
    /// The first and last entry added.
    pub first: Option<i64>,
    pub last: Option<i64>,
    /// The readers' warnings about the rows added (a weight outside the scenario's usual
    /// range, a weight far from the one before: typed in pounds?), each with its line.
    pub warnings: Vec<String>,
}

/// A refused change: bad input (exit 2), or the database failing (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("{0}")]
    Input(#[from] InputError),
    #[error("{0:#}")]
    Db(#[from] anyhow::Error),
}

impl Refused {
    /// As a command's error: bad input stays bad input (exit 2).
    pub fn into_anyhow(self) -> anyhow::Error {
        match self {
            Refused::Input(e) => anyhow::Error::new(e),
            Refused::Db(e) => e,
        }
    }
}

/// Imports a roster file into the trial's roster, in one transaction: every row checked
/// with the roster already there; a patient already there with the same fields is not
/// added again; one there with other fields is refused (correct that entry instead).
pub fn import_roster(
    db: &mut Db,
    trial: &Trial,
    file: &Path,
    bytes: Vec<u8>,
    by: &str,
) -> Result<(Imported, Head), Refused> {
    let name = display_name(file);
    let raw = raw_rows(
        file,
        &bytes,
        ["patient_id", "arm", "weight_kg", "start_date", "site"],
    )?;
    // The file on its own first: its problems with its own lines.
    crate::roster::parse(file, bytes, trial)?;
    let label = db.label().to_string();
    let trial_id = trial.id.clone();
    let mut result = None;
    let (_, head) = db.write(by, |w| {
        let existing = roster_rows(w.store()?, &trial_id)?;
        let mut lines = Vec::new();
        let mut problems = Vec::new();
        let mut imported = Imported {
            added: 0,
            already: 0,
            first: None,
            last: None,
            warnings: Vec::new(),
        };
        for (line, cells) in &raw {
            let [id, rest @ ..] = cells;
            if let Some(past) = existing.get(id.as_str()) {
                if past.ever.iter().any(|had| had == rest) {
                    // As entered once (corrected or voided since or not): the
                    // database's version stands.
                    imported.already += 1;
                    continue;
                }
                let message = match &past.now {
                    Some((entry, had)) => format!(
                        "patient {id} is already on the roster in {label} (entry {entry}: {}) with other values: a roster entry is never replaced by an import; correct it with dosesim record correct {entry} --reason \"...\"",
                        describe_roster(had)
                    ),
                    None => format!(
                        "patient {id} was taken off the roster in {label} (entry {}): an import does not bring a patient back; check the file, or add them under a new id",
                        past.last
                    ),
                };
                problems.push(Problem::new(file, message).at(Some(*line)).field("patient_id"));
                continue;
            }
            let mut values: [String; 6] = Default::default();
            for (k, v) in rest.iter().enumerate() {
                values[k].clone_from(v);
            }
            let id_new = w.append(Fields {
                trial_id: trial_id.clone(),
                book: Some(Book::Roster),
                action: Some(Action::Add),
                patient_id: id.clone(),
                values,
                source: format!("import of {name}"),
                line: Some(*line as i64),
                ..Fields::default()
            })?;
            lines.push((id_new, *line));
            imported.first.get_or_insert(id_new);
            imported.last = Some(id_new);
            imported.added += 1;
        }
        InputError::check(problems)?;
        imported.warnings = check_after(w, &label, trial, &New::File(file, lines))?;
        result = Some(imported);
        Ok(())
    })
    .map_err(unwrap_input)?;
    Ok((result.expect("set by the write"), head))
}

/// A patient's roster entries: every set of values they were ever given (entered,
/// corrected or voided since), and the entry in effect with its values, if any.
#[derive(Default)]
struct RosterPast {
    ever: Vec<[String; 4]>,
    now: Option<(i64, [String; 4])>,
    /// The last entry about them (a void, when none is in effect).
    last: i64,
}

/// The trial's roster entries, by patient.
fn roster_rows(s: &mut dyn Store, trial_id: &str) -> Result<FxHashMap<String, RosterPast>> {
    let superseded = superseded(s, trial_id)?;
    let mut out: FxHashMap<String, RosterPast> = FxHashMap::default();
    s.scan(&Filter::trial(trial_id).book(Book::Roster), &mut |e| {
        let past = out.entry(e.fields.patient_id.clone()).or_default();
        past.last = e.id;
        if e.fields.action() == Action::Void {
            return Ok(());
        }
        let v = &e.fields.values;
        let values = [v[0].clone(), v[1].clone(), v[2].clone(), v[3].clone()];
        if !superseded.contains(&e.id) {
            past.now = Some((e.id, values.clone()));
        }
        past.ever.push(values);
        Ok(())
    })?;
    Ok(out)
}

fn describe_roster(v: &[String; 4]) -> String {
    let mut s = format!("arm {}, {} kg, starting {}", v[0], v[1], v[2]);
    if !v[3].is_empty() {
        s.push_str(&format!(", site {}", v[3]));
    }
    s
}

/// Imports a record file (the CSV log's columns) into the trial's record, in one
/// transaction: the file checked on its own, then with the record already there; a row
/// already there (the same patient and fields) is not added again.
///
/// Three things run at once: the file's check (its reader, on a copy of its bytes), a
/// thread that reads the file's rows and numbers and hashes them into the chain
/// (`produce`), and this one, which inserts them as they come (`consume`). A problem
/// the check finds refuses the import: the write is rolled back, nothing kept.
pub fn import_record(
    db: &mut Db,
    trial: &Trial,
    file: &Path,
    bytes: Vec<u8>,
    by: &str,
) -> Result<(Imported, Head), Refused> {
    let label = db.label().to_string();
    let mut result = None;
    let (_, head) = db
        .write(by, |w| {
            let had_rows = any_entry(w.store()?, &Filter::trial(&trial.id).book(Book::Record))?;
            let existing = if had_rows {
                record_rows(w.store()?, &trial.id)?
            } else {
                FxHashSet::default()
            };
            let (mut imported, lines) = append_checked(w, &label, trial, file, &bytes, &existing)?;
            // The file was checked on its own; with rows already there, it is checked
            // again with them (the same occurrence given twice, say), and its warnings are
            // those of its rows among them.
            if had_rows {
                imported.warnings = check_after(w, &label, trial, &New::File(file, lines))?;
            }
            result = Some(imported);
            Ok(())
        })
        .map_err(unwrap_input)?;
    Ok((result.expect("set by the write"), head))
}

/// Whether any entry matches `filter` (the scan stopped at the first).
fn any_entry(s: &mut dyn Store, filter: &Filter) -> Result<bool> {
    let mut found = false;
    let stop = s.scan(filter, &mut |_| {
        found = true;
        Err(anyhow::anyhow!("found"))
    });
    match stop {
        Err(e) if !found => Err(e),
        _ => Ok(found),
    }
}

/// The file's rows appended (those not in `existing`) while the file is checked on its
/// own, with the roster read in this write: the check's problems first (all of them, with
/// the file's lines), then any from reading the rows or inserting them. The rows are
/// read and hashed from the start, while the roster is read.
fn append_checked(
    w: &mut Writer,
    label: &str,
    trial: &Trial,
    file: &Path,
    bytes: &[u8],
    existing: &FxHashSet<(String, [String; 6])>,
) -> Result<(Imported, Vec<(i64, usize)>)> {
    w.flush()?;
    let write = Fields {
        trial_id: trial.id.clone(),
        book: Some(Book::Record),
        action: Some(Action::Add),
        source: format!("import of {}", display_name(file)),
        entered_by: w.by.clone(),
        entered_at: w.at.clone(),
        ..Fields::default()
    };
    let new_write = !(w.any && w.last.as_ref().is_some_and(|f| f.same_write(&write)));
    let chain = Chain {
        next: w.next,
        prev: w.prev,
        write_id: w.write_id + i64::from(new_write),
    };
    let (checked, produced, inserted) = std::thread::scope(|scope| {
        let (full_tx, full_rx) = std::sync::mpsc::sync_channel(QUEUED);
        let (empty_tx, empty_rx) = std::sync::mpsc::channel();
        let producer =
            scope.spawn(move || produce(file, bytes, &write, chain, existing, full_tx, empty_rx));
        let books = read(&mut *w.store, label, &trial.id);
        let check = scope.spawn(move || -> Result<Vec<String>> {
            let roster = books?.roster(trial)?;
            let log = crate::record::parse(file, bytes.to_vec(), trial, &roster, None, false)?;
            Ok(log.warnings)
        });
        let inserted = consume(&mut *w.store, new_write, full_rx, empty_tx);
        let produced = producer.join().expect("the import's reader does not panic");
        (
            check.join().expect("the check does not panic"),
            produced,
            inserted,
        )
    });
    // The check's problems first, then an insert's failure (a full disk, say) before the
    // reader's (which stops when the inserts do).
    let warnings = checked?;
    inserted?;
    let mut produced = produced?;
    produced.imported.warnings = warnings;
    if produced.imported.added > 0 {
        let end = &produced.chain;
        w.next = end.next;
        w.prev = end.prev;
        w.write_id = end.write_id;
        w.any = true;
        w.last = Some(write_part(&produced.write));
    }
    Ok((produced.imported, produced.lines))
}

/// Batches of entries on their way to the database at once: enough to keep the inserts
/// busy while the next is made, few enough to hold little memory.
const QUEUED: usize = 16;

/// Where the chain is: the next entry's id, the hash before it, the write's id.
struct Chain {
    next: i64,
    prev: super::Hash,
    write_id: i64,
}

/// What [`produce`] made.
struct Produced {
    imported: Imported,
    /// (entry, the file's line) of each entry made, when rows were there already.
    lines: Vec<(i64, usize)>,
    chain: Chain,
    write: Fields,
}

/// Reads the file's rows, and numbers and hashes each not in `existing` into the chain,
/// in batches of entries sent to `full` (batches sent back on `empty` are filled again,
/// their strings reused, so that a row costs no allocation).
fn produce(
    file: &Path,
    bytes: &[u8],
    write: &Fields,
    mut chain: Chain,
    existing: &FxHashSet<(String, [String; 6])>,
    full: std::sync::mpsc::SyncSender<Vec<Entry>>,
    empty: std::sync::mpsc::Receiver<Vec<Entry>>,
) -> Result<Produced> {
    let mut imported = Imported {
        added: 0,
        already: 0,
        first: None,
        last: None,
        warnings: Vec::new(),
    };
    let mut lines = Vec::new();
    let mut batch: Vec<Entry> = Vec::with_capacity(super::BATCH);
    let mut n = 0;
    each_raw_row(file, bytes, crate::record::COLUMNS, |line, cells| {
        let [id, values @ ..] = cells;
        if !existing.is_empty() && existing.contains(&(id.to_string(), values.map(str::to_string)))
        {
            imported.already += 1;
            return Ok(());
        }
        if n == batch.len() {
            batch.push(Entry {
                fields: write.clone(),
                ..super::sqlite::empty_entry()
            });
        }
        let e = &mut batch[n];
        fill_row(e, &chain, line, id, values);
        chain.prev = e.hash;
        chain.next += 1;
        n += 1;
        if !existing.is_empty() {
            lines.push((e.id, line));
        }
        imported.first.get_or_insert(e.id);
        imported.last = Some(e.id);
        imported.added += 1;
        if n == super::BATCH {
            batch = send(&full, &empty, std::mem::take(&mut batch), n)?;
            n = 0;
        }
        Ok::<(), anyhow::Error>(())
    })?;
    if n > 0 {
        send(&full, &empty, batch, n)?;
    }
    Ok(Produced {
        imported,
        lines,
        chain,
        write: write.clone(),
    })
}

/// Entry `chain.next` of the import: the row's cells in place of the last batch's, its
/// hash after `chain.prev`.
fn fill_row(e: &mut Entry, chain: &Chain, line: usize, id: &str, values: [&str; 6]) {
    e.id = chain.next;
    e.write_id = chain.write_id;
    let f = &mut e.fields;
    f.patient_id.clear();
    f.patient_id.push_str(id);
    for (to, v) in f.values.iter_mut().zip(values) {
        to.clear();
        to.push_str(v);
    }
    f.line = Some(line as i64);
    e.prev_hash = chain.prev;
    e.hash = super::entry::hash(e.id, f, &chain.prev);
}

/// Sends the batch's first `n` entries to be inserted, and gives a batch to fill next (one
/// sent back, or a new one).
fn send(
    full: &std::sync::mpsc::SyncSender<Vec<Entry>>,
    empty: &std::sync::mpsc::Receiver<Vec<Entry>>,
    mut batch: Vec<Entry>,
    n: usize,
) -> Result<Vec<Entry>> {
    batch.truncate(n);
    full.send(batch)
        .map_err(|_| anyhow::anyhow!("the import stopped: its entries could not be inserted"))?;
    Ok(empty
        .try_recv()
        .unwrap_or_else(|_| Vec::with_capacity(super::BATCH)))
}

/// Inserts the batches as they come, the first beginning a write when `new_write`, and
/// sends each back to be filled again.
fn consume(
    store: &mut dyn Store,
    new_write: bool,
    full: std::sync::mpsc::Receiver<Vec<Entry>>,
    empty: std::sync::mpsc::Sender<Vec<Entry>>,
) -> Result<()> {
    let mut starts: &[usize] = if new_write { &[0] } else { &[] };
    for batch in full {
        store.insert(&batch, starts)?;
        starts = &[];
        let _ = empty.send(batch);
    }
    Ok(())
}

/// Every row the trial's record was ever given, as (patient, fields): the rows in effect,
/// and those corrected or voided since. A row of an import that is one of them is not
/// added again, so that re-importing next week's longer log neither brings back a row
/// voided here nor adds again the row a correction replaced: the database's version
/// stands.
fn record_rows(s: &mut dyn Store, trial_id: &str) -> Result<FxHashSet<(String, [String; 6])>> {
    let mut out = FxHashSet::default();
    s.scan(&Filter::trial(trial_id).book(Book::Record), &mut |e| {
        if e.fields.action() != Action::Void {
            out.insert((e.fields.patient_id.clone(), e.fields.values.clone()));
        }
        Ok(())
    })?;
    Ok(out)
}

/// Where the entries a write adds came from, to say a problem of theirs where the user
/// typed it.
pub enum New<'a> {
    /// Rows of an imported file: (entry, the file's line).
    File(&'a Path, Vec<(i64, usize)>),
    /// One entry typed as command-line flags (`--date`, `--amount`, ...).
    Flags(i64),
}

/// The books after the write's entries, checked: any problem refuses the write (it is
/// rolled back). A problem of an entry the write adds is said of the file line or the
/// flag it came from; any other of its entry.
pub fn check_after(w: &mut Writer, label: &str, trial: &Trial, new: &New) -> Result<Vec<String>> {
    let after = read(w.store()?, label, &trial.id)?;
    let place = |e: InputError, book_label: &Path| -> InputError {
        let problems = e
            .problems
            .into_iter()
            .map(|p| place_new(p, book_label, new))
            .collect();
        entry_problems(
            InputError {
                problems,
                unlisted: e.unlisted,
            },
            book_label,
        )
    };
    let roster = after
        .roster_raw(trial)
        .map_err(|e| place(e, &after.roster_label))?;
    let log = after
        .record_raw(trial, &roster, None)
        .map_err(|e| place(e, &after.record_label))?;
    let mut warnings = new_warnings(&roster.warnings, &after.roster_label, new);
    warnings.extend(new_warnings(&log.warnings, &after.record_label, new));
    Ok(warnings)
}

/// The readers' warnings about the entries a write adds ("LABEL:N: ..."), said where the
/// entry came from: the imported file's line, or the entry's number for one typed.
fn new_warnings(warnings: &[String], book_label: &Path, new: &New) -> Vec<String> {
    let prefix = format!("{}:", book_label.display());
    warnings
        .iter()
        .filter_map(|w| {
            let rest = w.strip_prefix(&prefix)?;
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let entry: i64 = rest[..digits].parse().ok()?;
            let text = &rest[digits..];
            match new {
                New::File(path, lines) => lines
                    .binary_search_by_key(&entry, |x| x.0)
                    .ok()
                    .map(|k| format!("{}:{}{text}", path.display(), lines[k].1)),
                New::Flags(id) => (*id == entry).then(|| entry_words(w, book_label)),
            }
        })
        .collect()
}

/// A problem on a new entry's line, moved to where the entry came from.
fn place_new(p: Problem, book_label: &Path, new: &New) -> Problem {
    let Some(line) = p.line.filter(|_| p.file.as_deref() == Some(book_label)) else {
        return p;
    };
    let entry = line as i64;
    match new {
        New::File(path, lines) => match lines.binary_search_by_key(&entry, |x| x.0) {
            Ok(k) => Problem {
                file: Some(path.to_path_buf()),
                line: Some(lines[k].1),
                field: p.field,
                message: replace_line_words(&p.message),
            },
            Err(_) => p,
        },
        New::Flags(id) if *id == entry => Problem {
            file: None,
            line: None,
            field: Some(format!(
                "--{}",
                p.field.as_deref().unwrap_or("entry").replace('_', "-")
            )),
            message: replace_line_words(&p.message),
        },
        New::Flags(_) => p,
    }
}

/// An error from inside a write, its bad input kept as such.
fn unwrap_input(e: anyhow::Error) -> Refused {
    match e.downcast::<InputError>() {
        Ok(i) => Refused::Input(i),
        Err(e) => Refused::Db(e),
    }
}

/// A file's name as an entry's source says it.
fn display_name(file: &Path) -> String {
    file.file_name().map_or_else(
        || file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// The entries about a patient of the trial (roster, record and preparation, corrections
/// and voids included), in entry order.
pub fn history(db: &mut Db, trial_id: &str, patient: &str) -> Result<Vec<Entry>> {
    patient_history(db, Some(trial_id), patient)
}

/// The entries about a patient (roster, record and preparation, corrections and voids
/// included) of one trial or of every trial, in entry order. Only those books: the
/// database's own entries and the users' are about no patient, though they carry an id
/// in the same place (the calendar feeds' key is "feed-key", a user's is their name), and
/// are never shown as a patient's.
pub fn patient_history(db: &mut Db, trial_id: Option<&str>, patient: &str) -> Result<Vec<Entry>> {
    db.read(|s| {
        let mut out = Vec::new();
        let f = Filter {
            trial: trial_id.map(str::to_string),
            patient: Some(patient.to_string()),
            ..Filter::default()
        };
        s.scan(&f, &mut |e| {
            if matches!(e.fields.book(), Book::Roster | Book::Record | Book::Prep) {
                out.push(e.clone());
            }
            Ok(())
        })?;
        Ok(out)
    })
}

/// The entry numbered `id`, if there is one.
pub fn entry(db: &mut Db, id: i64) -> Result<Option<Entry>> {
    db.read(|s| {
        let mut found = None;
        let f = Filter {
            id: Some(id),
            ..Filter::default()
        };
        s.scan(&f, &mut |e| {
            found = Some(e.clone());
            Ok(())
        })?;
        Ok(found)
    })
}

/// Where a change is typed: a command, or a page of `dosesim serve`. It says the
/// entry's source, and which rules apply: on the web a dose is recorded given only on the
/// day's sheet ([`super::safety::given_off_sheet`]); a command may enter a paper record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    /// `dosesim record add|correct|void`.
    Command,
    /// A page of `dosesim serve`.
    Serve,
}

impl Face {
    /// The source of an entry of `action` (add, correct, void): "record correct" from a
    /// command, "dosesim serve: correct" from a page.
    pub fn source(self, action: &str) -> String {
        match self {
            Face::Command => format!("record {action}"),
            Face::Serve => format!("dosesim serve: {action}"),
        }
    }
}

/// A record row typed in (`record add`, a patient's page): the patient and the log's
/// other fields, [`RECORD_FIELDS`] in order.
pub fn add_record(
    db: &mut Db,
    trial: &Trial,
    patient_id: &str,
    values: [String; 6],
    by: &str,
    face: Face,
) -> Result<(i64, Head, Vec<String>), Refused> {
    let mut problems = date_not_ahead(&values[0], "--date");
    if face == Face::Serve {
        problems.extend(super::safety::given_off_sheet(trial, None, &values));
    }
    InputError::check(problems)?;
    let label = db.label().to_string();
    let mut added = 0;
    let (warnings, head) = db
        .write(by, |w| {
            // The record rules the reader does not hold (a second dose of a component
            // on one day, one inside its minimum gap), as the day's page refuses them.
            let unsafe_dose = super::safety::unsafe_dose(w.store()?, trial, patient_id, &values)?;
            InputError::check(unsafe_dose)?;
            added = w.append(Fields {
                trial_id: trial.id.clone(),
                book: Some(Book::Record),
                action: Some(Action::Add),
                patient_id: patient_id.to_string(),
                values,
                source: face.source("add"),
                ..Fields::default()
            })?;
            check_after(w, &label, trial, &New::Flags(added))
        })
        .map_err(unwrap_input)?;
    Ok((added, head, warnings))
}

/// A recorded date after today (by the clock, with a day's grace for time zones): a dose
/// cannot be recorded before its day. `flag` names where it was typed.
pub fn date_not_ahead(date: &str, flag: &str) -> Vec<Problem> {
    let Ok(d) = crate::timing::parse_date(date) else {
        return Vec::new();
    };
    let today = super::today_utc();
    if (d - today).num_days() > 1 {
        vec![Problem::flag(
            flag,
            format!(
                "{d} is after today ({today}): record what was given, missed or weighed once it has happened"
            ),
        )]
    } else {
        Vec::new()
    }
}

/// A correction of entry `id`: a new entry that takes its place, with its fields changed
/// as `changes` says (field name, new value) and the others kept, and the reason. A
/// record row's new date, record, component or occurrence is checked by the unsafe-dose
/// rule as a row added is ([`super::safety::unsafe_dose`], inside the write); on the web
/// a dose is not made given by a correction ([`super::safety::given_off_sheet`]).
pub fn correct(
    db: &mut Db,
    trial: &Trial,
    id: i64,
    changes: &[(String, String)],
    reason: &str,
    by: &str,
    face: Face,
) -> Result<(i64, Head), Refused> {
    let old = in_effect(db, trial, id, reason)?;
    let mut fields = old.fields.clone();
    let names: &[&str] = match old.fields.book() {
        Book::Roster => &ROSTER_FIELDS,
        _ => &RECORD_FIELDS,
    };
    let mut problems = Vec::new();
    for (name, value) in changes {
        match names.iter().position(|n| n == name) {
            Some(k) => fields.values[k] = value.trim().to_string(),
            None => problems.push(Problem::flag(
                &format!("--{}", name.replace('_', "-")),
                format!(
                    "entry {id} is a {} entry: its fields are {}",
                    old.fields.book().as_str(),
                    names.join(", ")
                ),
            )),
        }
    }
    if changes.is_empty() {
        problems.push(Problem::flag(
            "--reason",
            format!("a correction changes at least one field of entry {id}: give the new value (--{} ...)", names[0].replace('_', "-")),
        ));
    } else if fields.values == old.fields.values {
        problems.push(Problem::flag(
            "--reason",
            format!(
                "the correction gives entry {id} the values it already has: nothing to correct"
            ),
        ));
    }
    if old.fields.book() == Book::Record {
        problems.extend(date_not_ahead(&fields.values[0], "--date"));
        if face == Face::Serve {
            problems.extend(super::safety::given_off_sheet(
                trial,
                Some(&old.fields.values),
                &fields.values,
            ));
        }
    }
    InputError::check(problems)?;
    // A dose moved, or made another, is checked as a dose added is; a given dose's
    // amount or note corrected is the dose it was.
    let dose_changed =
        old.fields.book() == Book::Record && fields.values[..4] != old.fields.values[..4];
    fields.action = Some(Action::Correct);
    fields.supersedes = Some(id);
    fields.reason = reason.trim().to_string();
    fields.source = face.source("correct");
    fields.line = None;
    fields.entered_by.clear();
    fields.entered_at.clear();
    supersede(db, trial, fields, by, dose_changed)
}

/// A void of entry `id`: a new entry that takes it out of its book, with the reason.
pub fn void(
    db: &mut Db,
    trial: &Trial,
    id: i64,
    reason: &str,
    by: &str,
    face: Face,
) -> Result<(i64, Head), Refused> {
    let old = in_effect(db, trial, id, reason)?;
    let fields = Fields {
        trial_id: old.fields.trial_id.clone(),
        book: old.fields.book,
        action: Some(Action::Void),
        supersedes: Some(id),
        patient_id: old.fields.patient_id.clone(),
        reason: reason.trim().to_string(),
        source: face.source("void"),
        ..Fields::default()
    };
    supersede(db, trial, fields, by, false)
}

/// Appends a correction or void, the books checked after it; when `dose_checked`, the
/// row it makes is checked by [`super::safety::unsafe_dose`] first, with the record as
/// the correction leaves it (the row corrected no longer in effect).
fn supersede(
    db: &mut Db,
    trial: &Trial,
    fields: Fields,
    by: &str,
    dose_checked: bool,
) -> Result<(i64, Head), Refused> {
    let label = db.label().to_string();
    let mut added = 0;
    let (patient, values) = (fields.patient_id.clone(), fields.values.clone());
    let (_, head) = db
        .write(by, |w| {
            added = w.append(fields)?;
            if dose_checked {
                let store = w.store()?;
                InputError::check(super::safety::unsafe_dose(store, trial, &patient, &values)?)?;
            }
            check_after(w, &label, trial, &New::Flags(added)).map(|_| ())
        })
        .map_err(unwrap_input)?;
    Ok((added, head))
}

/// Entry `id`, which a correction or void may supersede: there, of this trial, a roster
/// or record entry, and not superseded already; the reason given.
fn in_effect(db: &mut Db, trial: &Trial, id: i64, reason: &str) -> Result<Entry, Refused> {
    let mut problems = Vec::new();
    if reason.trim().is_empty() {
        problems.push(Problem::flag(
            "--reason",
            "say why (a correction or void is kept with its reason, who made it and when)",
        ));
    }
    let Some(e) = entry(db, id)? else {
        problems.push(Problem::flag(
            "ENTRY",
            format!("there is no entry {id} in {}", db.label()),
        ));
        return Err(InputError::new(problems).into());
    };
    if e.fields.trial_id != trial.id {
        problems.push(Problem::flag(
            "ENTRY",
            format!(
                "entry {id} is of trial {}, not {}",
                e.fields.trial_id, trial.id
            ),
        ));
    }
    match (e.fields.book(), e.fields.action()) {
        (Book::Database, _) => problems.push(Problem::flag(
            "ENTRY",
            format!("entry {id} is the database's own, not a roster or record entry"),
        )),
        (_, Action::Void) => problems.push(Problem::flag(
            "ENTRY",
            format!("entry {id} is a void: to undo it, add the row again (dosesim record add)"),
        )),
        _ => {}
    }
    let by = db.read(|s| {
        let mut by = None;
        s.scan(&Filter::trial(&trial.id).superseding(), &mut |x| {
            if x.fields.supersedes == Some(id) {
                by = Some((x.id, x.fields.action()));
            }
            Ok(())
        })?;
        Ok(by)
    })?;
    if let Some((later, action)) = by {
        problems.push(Problem::flag(
            "ENTRY",
            match action {
                Action::Void => format!("entry {id} was voided by entry {later}"),
                _ => format!("entry {id} was already corrected by entry {later}: correct entry {later} instead"),
            },
        ));
    }
    InputError::check(problems)?;
    Ok(e)
}

/// The trial's record in effect as the CSV log (its columns, each row as entered), in the
/// order entered: what `record import` takes back.
pub fn export_record(db: &mut Db, trial_id: &str) -> Result<Vec<u8>> {
    export(db, trial_id, Book::Record, &crate::record::COLUMNS)
}

/// The trial's roster in effect as a roster CSV.
pub fn export_roster(db: &mut Db, trial_id: &str) -> Result<Vec<u8>> {
    export(
        db,
        trial_id,
        Book::Roster,
        &["patient_id", "arm", "weight_kg", "start_date", "site"],
    )
}

fn export(db: &mut Db, trial_id: &str, book: Book, header: &[&str]) -> Result<Vec<u8>> {
    db.read(|s| {
        let superseded = superseded(s, trial_id)?;
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(header)?;
        let n = header.len() - 1;
        s.scan(&Filter::trial(trial_id).book(book), &mut |e| {
            if e.fields.action() != Action::Void && !superseded.contains(&e.id) {
                w.write_field(&e.fields.patient_id)?;
                for v in &e.fields.values[..n] {
                    w.write_field(v)?;
                }
                w.write_record(None::<&[u8]>)?;
            }
            Ok(())
        })?;
        w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))
    })
}

/// How many of each patient's record entries, up to entry `upto`, are not rows in effect:
/// the entries corrected or voided, and the voids. With the rows in effect (the record's
/// own rows), they are all the patient's record entries, which a calendar's SEQUENCE
/// counts; found through the index of superseding entries, not a pass over the record.
pub fn record_entries_not_in_effect(
    s: &mut dyn Store,
    trial_id: &str,
    upto: i64,
) -> Result<FxHashMap<String, u32>> {
    let mut out: FxHashMap<String, u32> = FxHashMap::default();
    s.scan(
        &Filter::trial(trial_id).book(Book::Record).superseding(),
        &mut |e| {
            if e.id <= upto {
                // The entry superseded, and a void itself.
                let n = 1 + u32::from(e.fields.action() == Action::Void);
                *out.entry(e.fields.patient_id.clone()).or_insert(0) += n;
            }
            Ok(())
        },
    )?;
    Ok(out)
}

impl Books {
    /// The record for one patient's calendar (`roster` holds them alone): the rows of the
    /// other patients skipped rather than refused, as `record::read_for` does a file.
    pub fn record_for(
        &self,
        trial: &Trial,
        roster: &Roster,
        as_of: Option<NaiveDate>,
    ) -> Result<Log, InputError> {
        let mut log = crate::record::parse(
            &self.record_label,
            self.record_csv.clone(),
            trial,
            roster,
            as_of,
            true,
        )
        .map_err(|e| entry_problems(e, &self.record_label))?;
        for w in &mut log.warnings {
            *w = entry_words(w, &self.record_label);
        }
        Ok(log)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Location, Open};

    fn setup() -> (tempfile::TempDir, Db, Trial) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&Location::Sqlite(dir.path().join("t.db")), Open::OrCreate).unwrap();
        let trial = crate::scenario::load(Path::new("scenarios/nct01724398.toml")).unwrap();
        (dir, db, trial)
    }

    fn import(db: &mut Db, trial: &Trial) {
        let r = Path::new("scenarios/rosters/NCT01724398.csv");
        import_roster(db, trial, r, std::fs::read(r).unwrap(), "pharm").unwrap();
        let l = Path::new("scenarios/logs/NCT01724398.csv");
        import_record(db, trial, l, std::fs::read(l).unwrap(), "pharm").unwrap();
    }

    /// The bundled roster and record go in and come back out as they were; importing
    /// them again adds nothing.
    #[test]
    fn a_roster_and_record_imported_export_as_they_were() {
        let (_dir, mut db, trial) = setup();
        import(&mut db, &trial);
        let log = std::fs::read_to_string("scenarios/logs/NCT01724398.csv").unwrap();
        let out = String::from_utf8(export_record(&mut db, &trial.id).unwrap()).unwrap();
        assert_eq!(out, log);
        let roster = std::fs::read_to_string("scenarios/rosters/NCT01724398.csv").unwrap();
        let out = String::from_utf8(export_roster(&mut db, &trial.id).unwrap()).unwrap();
        assert_eq!(out, roster);
        let l = Path::new("scenarios/logs/NCT01724398.csv");
        let (again, _) =
            import_record(&mut db, &trial, l, std::fs::read(l).unwrap(), "pharm").unwrap();
        assert_eq!(again.added, 0);
        assert_eq!(again.already, log.lines().count() - 1);
        let b = load(&mut db, &trial.id).unwrap();
        let (r, l) = b.check(&trial).unwrap();
        assert_eq!(r.entries.len(), roster.lines().count() - 1);
        assert_eq!(l.rows, log.lines().count() - 1);
    }

    /// A correction takes the place of what it corrects, a void takes it out; a second
    /// correction of the same entry, a void without a reason and a correction that breaks
    /// the record are refused, naming the flag or the entry.
    #[test]
    fn corrections_and_voids_are_new_entries_that_take_the_place_of_the_old() {
        let (_dir, mut db, trial) = setup();
        import(&mut db, &trial);
        let first_record = {
            let b = load(&mut db, &trial.id).unwrap();
            b.patients as i64 + 2
        };
        let e = entry(&mut db, first_record).unwrap().unwrap();
        assert_eq!(e.fields.book(), Book::Record);
        let changes = vec![("note".to_string(), "late entry".to_string())];
        let (c, _) = correct(
            &mut db,
            &trial,
            first_record,
            &changes,
            "typo",
            "pharm",
            Face::Command,
        )
        .unwrap();
        let out = String::from_utf8(export_record(&mut db, &trial.id).unwrap()).unwrap();
        assert!(out.contains("late entry"), "{out}");
        let again = correct(
            &mut db,
            &trial,
            first_record,
            &changes,
            "typo",
            "pharm",
            Face::Command,
        );
        let msg = again.unwrap_err().to_string();
        assert!(
            msg.contains(&format!("already corrected by entry {c}")),
            "{msg}"
        );
        let no_reason = void(&mut db, &trial, c, " ", "pharm", Face::Command)
            .unwrap_err()
            .to_string();
        assert!(no_reason.contains("--reason"), "{no_reason}");
        let rows_before = load(&mut db, &trial.id).unwrap().rows;
        void(
            &mut db,
            &trial,
            c,
            "entered for the wrong patient",
            "pharm",
            Face::Command,
        )
        .unwrap();
        assert_eq!(load(&mut db, &trial.id).unwrap().rows, rows_before - 1);
        // A date before the patient's day 1 is refused, said of --date.
        let second = first_record + 1;
        let bad = vec![("date".to_string(), "2020-01-01".to_string())];
        let msg = correct(
            &mut db,
            &trial,
            second,
            &bad,
            "typo",
            "pharm",
            Face::Command,
        )
        .unwrap_err()
        .to_string();
        assert!(
            msg.contains("--date") && msg.contains("study day 1"),
            "{msg}"
        );
        assert!(crate::db::verify(&mut db).unwrap().broken.is_empty());
    }

    /// The entry in effect of P4398-024's `component` `occurrence` given.
    fn given_entry(db: &mut Db, trial: &Trial, component: &str, occurrence: &str) -> i64 {
        let all = history(db, &trial.id, "P4398-024").unwrap();
        let superseded: Vec<i64> = all.iter().filter_map(|e| e.fields.supersedes).collect();
        all.iter()
            .rev()
            .find(|e| {
                let v = &e.fields.values;
                e.fields.book() == Book::Record
                    && !superseded.contains(&e.id)
                    && (v[1].as_str(), v[2].as_str(), v[3].as_str())
                        == ("given", component, occurrence)
            })
            .expect("the dose given")
            .id
    }

    /// A correction moving a given dose inside its component's minimum gap is refused as
    /// `record add` refuses that dose, said of --date, nothing written; moved outside the
    /// gap, or its note corrected, it is kept.
    #[test]
    fn a_correction_inside_the_minimum_gap_is_refused() {
        let (_dir, mut db, trial) = setup();
        import(&mut db, &trial);
        // uc_msc 1 given 2026-11-14, uc_msc 2 2026-11-20 (a minimum gap of 5 days).
        let second = given_entry(&mut db, &trial, "uc_msc", "2");
        let before = db.head().unwrap();
        let date = |d: &str| vec![("date".to_string(), d.to_string())];
        for face in [Face::Command, Face::Serve] {
            let e = correct(
                &mut db,
                &trial,
                second,
                &date("2026-11-15"),
                "typo",
                "pharm",
                face,
            )
            .unwrap_err();
            let Refused::Input(e) = e else {
                panic!("not bad input: {e}")
            };
            assert_eq!(e.problems.len(), 1, "{e}");
            assert_eq!(e.problems[0].field.as_deref(), Some("--date"));
            assert!(
                e.problems[0]
                    .message
                    .contains("inside the component's minimum gap of 5 days"),
                "{e}"
            );
            assert_eq!(db.head().unwrap(), before);
        }
        let note = vec![("note".to_string(), "bag label checked".to_string())];
        let (c, _) = correct(
            &mut db,
            &trial,
            second,
            &note,
            "note left out",
            "pharm",
            Face::Serve,
        )
        .unwrap();
        let e = entry(&mut db, c).unwrap().unwrap();
        assert_eq!(e.fields.source, "dosesim serve: correct");
        let (_, _) = correct(
            &mut db,
            &trial,
            c,
            &date("2026-11-19"),
            "typo",
            "pharm",
            Face::Command,
        )
        .unwrap();
        let out = String::from_utf8(export_record(&mut db, &trial.id).unwrap()).unwrap();
        assert!(
            out.contains("P4398-024,2026-11-19,given,uc_msc,2,,bag label checked"),
            "{out}"
        );
    }

    /// A roster of `n` patients of NCT04822922 and their record (three infusions given a
    /// patient), as the database bench makes them.
    fn many(n: usize) -> (Vec<u8>, Vec<u8>) {
        let d0 = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
        let mut roster = String::from("patient_id,arm,weight_kg,start_date\n");
        let mut log = String::from("patient_id,date,record,component,occurrence,amount,note\n");
        for i in 0..n {
            let start = d0 + chrono::Days::new((i % 300) as u64);
            roster.push_str(&format!("P{:07},low,60,{start}\n", i + 1));
            for (k, day) in [0u64, 3, 6].iter().enumerate() {
                let date = start + chrono::Days::new(*day);
                log.push_str(&format!("P{:07},{date},given,uc_msc,{},,\n", i + 1, k + 1));
            }
        }
        (roster.into_bytes(), log.into_bytes())
    }

    /// The file's check runs while its rows are inserted: a bad row at the end of a large
    /// file, found after thousands of entries went in, refuses the whole import (nothing
    /// kept, the problem named on its line); the good file then goes in whole, its chain
    /// unbroken and its rows exported as they were.
    #[test]
    fn a_bad_row_found_while_the_rows_go_in_leaves_the_database_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(&Location::Sqlite(dir.path().join("t.db")), Open::OrCreate).unwrap();
        let trial = crate::scenario::load(Path::new("scenarios/nct04822922.toml")).unwrap();
        let (roster, log) = many(5000);
        import_roster(&mut db, &trial, Path::new("roster.csv"), roster, "pharm").unwrap();
        let before = db.head().unwrap();
        let mut bad = log.clone();
        bad.extend_from_slice(b"P9999999,2026-01-05,given,uc_msc,1,,\n");
        let e = import_record(&mut db, &trial, Path::new("log.csv"), bad, "pharm").unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("log.csv:15002") && msg.contains("P9999999"),
            "{msg}"
        );
        assert_eq!(db.head().unwrap(), before);
        let (imported, head) =
            import_record(&mut db, &trial, Path::new("log.csv"), log.clone(), "pharm").unwrap();
        assert_eq!(imported.added, 15000);
        assert_eq!(imported.first, Some(before.unwrap().id + 1));
        assert_eq!(imported.last, Some(head.id));
        let v = crate::db::verify(&mut db).unwrap();
        assert_eq!((v.broken_count, v.head), (0, Some(head)));
        assert_eq!(export_record(&mut db, &trial.id).unwrap(), log);
    }

    /// Next week's log imported again after a void and a correction here: neither the
    /// voided row nor the row the correction replaced comes back; the database's version
    /// stands. A patient voided off the roster is not brought back by a roster import.
    #[test]
    fn a_re_import_never_undoes_a_void_or_a_correction() {
        let (_dir, mut db, trial) = setup();
        import(&mut db, &trial);
        let first_record = load(&mut db, &trial.id).unwrap().patients as i64 + 2;
        void(
            &mut db,
            &trial,
            first_record,
            "entered twice",
            "pharm",
            Face::Command,
        )
        .unwrap();
        let changes = vec![("note".to_string(), "late entry".to_string())];
        correct(
            &mut db,
            &trial,
            first_record + 1,
            &changes,
            "typo",
            "pharm",
            Face::Command,
        )
        .unwrap();
        let before = export_record(&mut db, &trial.id).unwrap();
        let l = Path::new("scenarios/logs/NCT01724398.csv");
        let (again, _) =
            import_record(&mut db, &trial, l, std::fs::read(l).unwrap(), "pharm").unwrap();
        assert_eq!(again.added, 0);
        assert_eq!(export_record(&mut db, &trial.id).unwrap(), before);
        // P4398-001 has no record rows: taken off the roster, an import does not bring
        // them back.
        void(&mut db, &trial, 2, "never enrolled", "pharm", Face::Command).unwrap();
        let r = Path::new("scenarios/rosters/NCT01724398.csv");
        let (again, _) =
            import_roster(&mut db, &trial, r, std::fs::read(r).unwrap(), "pharm").unwrap();
        assert_eq!(again.added, 0);
        assert!(
            !String::from_utf8(export_roster(&mut db, &trial.id).unwrap())
                .unwrap()
                .contains("P4398-001,")
        );
    }

    /// A book with an entry changed behind dosesim's back (its trigger dropped, as with the
    /// sqlite3 shell) is refused whole, naming the entry: nothing is made from it.
    #[test]
    fn a_book_with_an_entry_changed_outside_dosesim_is_refused() {
        let (dir, mut db, trial) = setup();
        import(&mut db, &trial);
        drop(db);
        let c = rusqlite::Connection::open(dir.path().join("t.db")).unwrap();
        c.execute_batch(
            "DROP TRIGGER entries_never_updated; UPDATE entries SET f5 = '99999999' WHERE id = 134;",
        )
        .unwrap();
        drop(c);
        let mut db = Db::open(&Location::Sqlite(dir.path().join("t.db")), Open::Existing).unwrap();
        let e = load(&mut db, &trial.id).unwrap_err().to_string();
        assert!(
            e.contains("(entry 134)") && e.contains("record verify"),
            "{e}"
        );
    }
}

/// One roster patient typed in (`roster add`, a page's enrol form): `values` are
/// [`ROSTER_FIELDS`] in order. Checked by the roster's reader with the roster already
/// there, as a row of an imported roster is, each problem said of the flag it was typed
/// in (`--weight-kg`, `--arm`, `--patient`, ...); a patient already on the roster (or
/// taken off it) is refused: correct that entry instead. One write.
pub fn add_roster(
    db: &mut Db,
    trial: &Trial,
    patient_id: &str,
    values: [String; 4],
    by: &str,
) -> Result<(i64, Head, Vec<String>), Refused> {
    let label = db.label().to_string();
    let patient_id = patient_id.trim().to_string();
    let mut padded: [String; 6] = Default::default();
    for (to, v) in padded.iter_mut().zip(values) {
        *to = v.trim().to_string();
    }
    let mut added = 0;
    let (warnings, head) = db
        .write(by, |w| {
            let existing = roster_rows(w.store()?, &trial.id)?;
            // An id the roster has had is refused; the other fields are checked all the
            // same (under an id of no patient, whose own problems are not the user's), so
            // that every problem of the form is said at once. The write is then undone.
            let taken = existing
                .get(&patient_id)
                .map(|past| already_on_roster(&patient_id, past));
            let checked_as = match taken {
                Some(_) => format!("{patient_id}~"),
                None => patient_id.clone(),
            };
            added = w.append(Fields {
                trial_id: trial.id.clone(),
                book: Some(Book::Roster),
                action: Some(Action::Add),
                patient_id: checked_as,
                values: padded,
                source: "roster add".to_string(),
                ..Fields::default()
            })?;
            let checked = match check_after(w, &label, trial, &New::Flags(added)) {
                Ok(warnings) => Ok(warnings),
                Err(e) => match e.downcast::<InputError>() {
                    Ok(i) => Err(patient_flag(i)),
                    // The database failed: not the user's input.
                    Err(e) => return Err(e),
                },
            };
            match (taken, checked) {
                (None, Ok(warnings)) => Ok(warnings),
                (None, Err(e)) => Err(e.into()),
                (Some(p), checked) => {
                    let mut problems = vec![p];
                    if let Err(e) = checked {
                        problems.extend(
                            e.problems
                                .into_iter()
                                .filter(|q| q.field.as_deref() != Some("--patient")),
                        );
                    }
                    Err(InputError::new(problems).into())
                }
            }
        })
        .map_err(unwrap_input)?;
    Ok((added, head, warnings))
}

/// A patient id typed for a new roster patient that the roster has had already.
fn already_on_roster(id: &str, past: &RosterPast) -> Problem {
    let message = match &past.now {
        Some((entry, had)) => format!(
            "patient {id} is already on the roster (entry {entry}: {}): a patient is enrolled once; correct that entry instead (dosesim record correct {entry} --reason \"...\")",
            describe_roster(had)
        ),
        None => format!(
            "patient {id} was taken off the roster (entry {}): a patient is not enrolled again; check the id, or enrol them under a new one",
            past.last
        ),
    };
    Problem::flag("--patient", message)
}

/// The reader's problems with the patient id said of `--patient`, the flag it is typed in.
fn patient_flag(e: InputError) -> InputError {
    let problems = e
        .problems
        .into_iter()
        .map(|mut p| {
            if p.file.is_none() && p.field.as_deref() == Some("--patient-id") {
                p.field = Some("--patient".to_string());
            }
            p
        })
        .collect();
    InputError {
        problems,
        unlisted: e.unlisted,
    }
}

#[cfg(test)]
mod add_roster_tests {
    use super::*;
    use crate::db::{Location, Open};

    fn setup() -> (tempfile::TempDir, Db, Trial) {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(&Location::Sqlite(dir.path().join("t.db")), Open::OrCreate).unwrap();
        let trial = crate::scenario::load(Path::new("scenarios/nct01724398.toml")).unwrap();
        let r = Path::new("scenarios/rosters/NCT01724398.csv");
        import_roster(&mut db, &trial, r, std::fs::read(r).unwrap(), "coord").unwrap();
        (dir, db, trial)
    }

    fn values(arm: &str, kg: &str, start: &str) -> [String; 4] {
        [arm.into(), kg.into(), start.into(), String::new()]
    }

    /// A patient typed in joins the roster; typed again, they are refused, naming the
    /// entry to correct; the roster exported shows them once.
    #[test]
    fn a_patient_added_joins_the_roster_once() {
        let (_dir, mut db, trial) = setup();
        let arm = trial.arms[0].id.clone();
        let (id, _, _) = add_roster(
            &mut db,
            &trial,
            " P4398-900 ",
            values(&arm, "61.5", "2026-12-01"),
            "coord",
        )
        .unwrap();
        let out = String::from_utf8(export_roster(&mut db, &trial.id).unwrap()).unwrap();
        assert!(
            out.contains(&format!("P4398-900,{arm},61.5,2026-12-01")),
            "{out}"
        );
        let again = add_roster(
            &mut db,
            &trial,
            "P4398-900",
            values(&arm, "70", "2026-12-01"),
            "coord",
        )
        .unwrap_err()
        .to_string();
        assert!(
            again.contains("--patient") && again.contains(&format!("entry {id}")),
            "{again}"
        );
    }

    /// A bad weight and an unknown arm are each said of their flag, all at once, and
    /// nothing is written.
    #[test]
    fn bad_fields_are_said_of_their_flags_and_nothing_is_written() {
        let (_dir, mut db, trial) = setup();
        let before = db.head().unwrap();
        let e = add_roster(
            &mut db,
            &trial,
            "P4398-901",
            values("nosucharm", "heavy", "2026-12-01"),
            "coord",
        )
        .unwrap_err();
        let Refused::Input(e) = e else {
            panic!("not bad input: {e}")
        };
        let fields: Vec<_> = e.problems.iter().filter_map(|p| p.field.clone()).collect();
        assert!(fields.contains(&"--arm".to_string()), "{e}");
        assert!(fields.contains(&"--weight-kg".to_string()), "{e}");
        assert_eq!(db.head().unwrap(), before);
    }
}
