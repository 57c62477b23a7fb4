//! `dosesim record ...`: the administration record in the database. Each subcommand is a
//! thin face of [`dosesim::db::books`] and [`dosesim::db`]: rows imported, added,
//! corrected and voided (new entries, never a change in place), the record in effect
//! listed, a patient's audit trail, the record exported as the CSV log, the chain
//! verified, the database backed up.

use std::path::Path;

use anyhow::{Result, bail};
use comfy_table::presets;

use super::ledger::{self, head_words};
use crate::cli::{
    AddArgs, BackupArgs, CorrectArgs, HistoryArgs, ListArgs, ListFormat, RecordCommand, VerifyArgs,
    VoidArgs,
};
use dosesim::db::{self, Action, Book, Entry, Filter, Location, Open, books};
use dosesim::error::{InputError, Problem};
use dosesim::model::Trial;

pub fn run(command: RecordCommand) -> Result<()> {
    match command {
        RecordCommand::Import(a) => ledger::import(&a, Book::Record),
        RecordCommand::Export(a) => ledger::export(&a, Book::Record),
        RecordCommand::Add(a) => add(a),
        RecordCommand::Correct(a) => correct(a),
        RecordCommand::Void(a) => void(a),
        RecordCommand::List(a) => list(a),
        RecordCommand::History(a) => history(a),
        RecordCommand::Verify(a) => verify(a),
        RecordCommand::Backup(a) => backup(a),
    }
}

/// `record add`: one row, checked as a row of the CSV log is (with the whole record), and
/// no date after today.
fn add(a: AddArgs) -> Result<()> {
    let trial = dosesim::scenario::load_named(&a.trial)?;
    let by = ledger::entered_by(&a.by)?;
    let mut db = ledger::open(&a.db, Open::Existing)?;
    let values = [
        a.date.to_string(),
        a.record.clone(),
        a.component.unwrap_or_default(),
        a.occurrence.unwrap_or_default(),
        a.amount.unwrap_or_default(),
        a.note.unwrap_or_default(),
    ];
    let values_shown = values.clone();
    let (id, head, warnings) = books::add_record(
        &mut db,
        &trial,
        a.patient.trim(),
        values,
        &by,
        books::Face::Command,
    )
    .map_err(books::Refused::into_anyhow)?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let what = [&a.record, &values_shown[2], &values_shown[3]]
        .iter()
        .filter(|v| !v.is_empty())
        .map(|v| v.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    println!(
        "entry {id}: {} {what} on {}, entered by {by}; chain head {}",
        a.patient.trim(),
        a.date,
        head_words(&head)
    );
    Ok(())
}

/// The entry `id` and the trial it belongs to (its scenario loaded by the trial id):
/// no such entry, or the database's own, is bad input.
fn entry_and_trial(db: &mut db::Db, id: i64) -> Result<(Entry, Trial)> {
    let Some(e) = books::entry(db, id)? else {
        let last = db.head()?.map_or(0, |h| h.id);
        return Err(InputError::one(Problem::flag(
            "ENTRY",
            format!(
                "there is no entry {id} in {}: its entries are 1 to {last} (dosesim record list TRIAL shows them)",
                db.label()
            ),
        ))
        .into());
    };
    if e.fields.book() == Book::User {
        return Err(InputError::one(Problem::flag(
            "ENTRY",
            format!(
                "entry {id} is user {}'s: change or disable a user with dosesim user change|disable",
                e.fields.patient_id
            ),
        ))
        .into());
    }
    if e.fields.trial_id.is_empty() {
        return Err(InputError::one(Problem::flag(
            "ENTRY",
            format!("entry {id} is the database's own, not a roster or record entry"),
        ))
        .into());
    }
    let trial = dosesim::scenario::load_named(Path::new(&e.fields.trial_id))?;
    Ok((e, trial))
}

/// `record correct`: a new entry with the fields given changed, that takes the place of
/// the entry; the reason is required.
fn correct(a: CorrectArgs) -> Result<()> {
    let by = ledger::entered_by(&a.by)?;
    let mut db = ledger::open(&a.db, Open::Existing)?;
    let (old, trial) = entry_and_trial(&mut db, a.entry)?;
    let date = |d: Option<chrono::NaiveDate>| d.map(|d| d.to_string());
    let changes: Vec<(String, String)> = [
        ("date", date(a.date)),
        ("record", a.record),
        ("component", a.component),
        ("occurrence", a.occurrence),
        ("amount", a.amount),
        ("note", a.note),
        ("arm", a.arm),
        ("weight_kg", a.weight_kg),
        ("start_date", date(a.start_date)),
        ("site", a.site),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
    .collect();
    let (id, head) = books::correct(
        &mut db,
        &trial,
        a.entry,
        &changes,
        &a.reason,
        &by,
        books::Face::Command,
    )
    .map_err(books::Refused::into_anyhow)?;
    let new = books::entry(&mut db, id)?.map_or_else(String::new, |e| entry_words(&e.fields));
    println!(
        "entry {id} corrects entry {} of patient {} (reason: {}), entered by {by}\n  was: {}\n  now: {new}\nchain head {}",
        a.entry,
        old.fields.patient_id,
        a.reason.trim(),
        entry_words(&old.fields),
        head_words(&head)
    );
    Ok(())
}

/// `record void`: a new entry that takes the entry out of its book; the reason is
/// required.
fn void(a: VoidArgs) -> Result<()> {
    let by = ledger::entered_by(&a.by)?;
    let mut db = ledger::open(&a.db, Open::Existing)?;
    let (old, trial) = entry_and_trial(&mut db, a.entry)?;
    let (id, head) = books::void(
        &mut db,
        &trial,
        a.entry,
        &a.reason,
        &by,
        books::Face::Command,
    )
    .map_err(books::Refused::into_anyhow)?;
    println!(
        "entry {id} voids entry {} of patient {} (reason: {}), entered by {by}\n  voided: {} {}\nchain head {}",
        a.entry,
        old.fields.patient_id,
        a.reason.trim(),
        old.fields.book().as_str(),
        entry_words(&old.fields),
        head_words(&head)
    );
    Ok(())
}

/// The entries `filter` gives, in entry order.
fn entries(db: &mut db::Db, filter: &Filter) -> Result<Vec<Entry>> {
    db.read(|s| {
        let mut out = Vec::new();
        s.scan(filter, &mut |e| {
            out.push(e.clone());
            Ok(())
        })?;
        Ok(out)
    })
}

/// For each entry superseded among `all`: the entry that supersedes it.
fn superseded_by(all: &[Entry]) -> rustc_hash::FxHashMap<i64, &Entry> {
    all.iter()
        .filter_map(|e| e.fields.supersedes.map(|id| (id, e)))
        .collect()
}

/// What `record list` lists: a trial's record (`--patient` narrowing it), or a patient's
/// rows (`--trial` narrowing them). The first word is a trial when it names a scenario
/// file or a trial id in scenarios/, else a patient.
fn list_target(a: &ListArgs) -> Result<(Option<Trial>, Option<String>)> {
    let scenarios = Path::new(dosesim::layout::SCENARIO_DIR);
    let patient = |p: &Option<String>| p.as_ref().map(|p| p.trim().to_string());
    if let Ok(file) = dosesim::scenario::resolve(&a.target, scenarios) {
        if a.trial.is_some() {
            return Err(InputError::one(Problem::flag(
                "--trial",
                "the first word names a trial already: use --patient to narrow it to one patient",
            ))
            .into());
        }
        return Ok((Some(dosesim::scenario::load(&file)?), patient(&a.patient)));
    }
    if a.patient.is_some() {
        return Err(InputError::one(Problem::flag(
            "--patient",
            format!(
                "'{}' is not a trial in scenarios/, so it is read as a patient: give --patient only with a trial",
                a.target.display()
            ),
        ))
        .into());
    }
    let trial = a
        .trial
        .as_deref()
        .map(dosesim::scenario::load_named)
        .transpose()?;
    Ok((trial, Some(a.target.to_string_lossy().trim().to_string())))
}

/// The columns of `record list`.
const LIST_COLUMNS: [&str; 11] = [
    "entry",
    "patient_id",
    "date",
    "record",
    "component",
    "occurrence",
    "amount",
    "note",
    "entered_by",
    "entered_at",
    "corrects",
];

/// `record list`: the record in effect (corrections in place of what they correct, voids
/// left out), in entry order, each row with its entry, who entered it and when.
fn list(a: ListArgs) -> Result<()> {
    let (trial, patient) = list_target(&a)?;
    let mut db = ledger::open(&a.db, Open::Existing)?;
    let filter = Filter {
        trial: trial.as_ref().map(|t| t.id.clone()),
        patient: patient.clone(),
        ..Filter::default()
    }
    .book(Book::Record);
    let all = entries(&mut db, &filter)?;
    let later = superseded_by(&all);
    let rows: Vec<Vec<String>> = all
        .iter()
        .filter(|e| e.fields.action() != Action::Void && !later.contains_key(&e.id))
        .map(|e| {
            let mut row = vec![e.id.to_string(), e.fields.patient_id.clone()];
            row.extend(e.fields.values.iter().cloned());
            row.push(e.fields.entered_by.clone());
            row.push(e.fields.entered_at.clone());
            row.push(e.fields.supersedes.map_or(String::new(), |s| s.to_string()));
            row
        })
        .collect();
    if rows.is_empty() {
        let of = trial
            .as_ref()
            .map_or("any trial".to_string(), |t| t.id.clone());
        let hint = if trial.is_none() {
            " (if that is a trial id, no scenario in scenarios/ has it)"
        } else {
            ""
        };
        eprintln!(
            "warning: {} has no record rows of {of}{}{hint}",
            db.label(),
            patient
                .as_ref()
                .map_or(String::new(), |p| format!(" for patient {p}"))
        );
    }
    let headings = [
        "Entry",
        "Patient",
        "Date",
        "Record",
        "Component",
        "#",
        "Amount (cells, mL or kg)",
        "Note",
        "Entered by",
        "Entered at (UTC)",
        "Corrects entry",
    ];
    print_rows(a.format, &LIST_COLUMNS, &headings, &rows)
}

/// The columns of `record history --format csv`.
const HISTORY_COLUMNS: [&str; 23] = [
    "entry",
    "trial_id",
    "book",
    "action",
    "supersedes",
    "patient_id",
    "date",
    "record",
    "component",
    "occurrence",
    "amount",
    "note",
    "arm",
    "weight_kg",
    "start_date",
    "site",
    "step",
    "lot",
    "reason",
    "entered_by",
    "entered_at",
    "source",
    "now",
];

/// `record history`: every entry about the patient (roster, record and preparation,
/// corrections and voids included; never the database's own entries nor a user's), in
/// entry order, with what it did, why, who, when, where from, and whether it is still in
/// effect.
fn history(a: HistoryArgs) -> Result<()> {
    let trial_id = match &a.trial {
        Some(t) => Some(dosesim::scenario::load_named(t)?.id),
        None => None,
    };
    let mut db = ledger::open(&a.db, Open::Existing)?;
    let all = books::patient_history(&mut db, trial_id.as_deref(), a.patient.trim())?;
    if all.is_empty() {
        return Err(InputError::one(Problem::flag(
            "PATIENT",
            format!("{} has no entry about patient {}", db.label(), a.patient),
        ))
        .into());
    }
    let later = superseded_by(&all);
    let rows: Vec<Vec<String>> = all
        .iter()
        .map(|e| history_row(e, later.get(&e.id).copied()))
        .collect();
    match a.format {
        ListFormat::Csv => print_rows(a.format, &HISTORY_COLUMNS, &HISTORY_COLUMNS, &rows),
        ListFormat::Table => {
            let short: Vec<Vec<String>> = all
                .iter()
                .zip(&rows)
                .map(|(e, r)| history_cells(e, r))
                .collect();
            let headings = [
                "Entry",
                "Trial",
                "Action",
                "What",
                "Reason",
                "Entered by",
                "Entered at (UTC)",
                "Source",
                "Now",
            ];
            print_rows(a.format, &headings, &headings, &short)
        }
    }
}

/// An entry as the CSV columns of `record history` ([`HISTORY_COLUMNS`]): a record
/// row's fields in the record's columns, a roster entry's in the roster's, and a
/// preparation step's date, component, occurrence and amount in the record's, its step
/// and lot in their own.
fn history_row(e: &Entry, later: Option<&Entry>) -> Vec<String> {
    let f = &e.fields;
    let mut record: [String; 6] = Default::default();
    let mut roster: [String; 4] = Default::default();
    let mut prep: [String; 2] = Default::default();
    match f.book() {
        Book::Roster => roster = std::array::from_fn(|k| f.values[k].clone()),
        Book::Prep => {
            for k in [0, 2, 3, 4] {
                record[k].clone_from(&f.values[k]);
            }
            prep = [f.values[1].clone(), f.values[5].clone()];
        }
        _ => record = f.values.clone(),
    }
    let mut row = vec![
        e.id.to_string(),
        f.trial_id.clone(),
        f.book().as_str().to_string(),
        f.action().as_str().to_string(),
        f.supersedes.map_or(String::new(), |s| s.to_string()),
        f.patient_id.clone(),
    ];
    row.extend(record);
    row.extend(roster);
    row.extend(prep);
    row.push(f.reason.clone());
    row.push(f.entered_by.clone());
    row.push(f.entered_at.clone());
    row.push(f.origin());
    row.push(now_words(e, later));
    row
}

/// Whether an entry is in effect, or which entry took its place.
fn now_words(e: &Entry, later: Option<&Entry>) -> String {
    match (e.fields.action(), later) {
        (Action::Void, _) => "void".to_string(),
        (_, Some(l)) if l.fields.action() == Action::Void => format!("voided by entry {}", l.id),
        (_, Some(l)) => format!("corrected by entry {}", l.id),
        _ => "in effect".to_string(),
    }
}

/// The table cells of a history row: the fields in words.
fn history_cells(e: &Entry, row: &[String]) -> Vec<String> {
    let f = &e.fields;
    let action = match (f.action(), f.supersedes) {
        (a, Some(s)) => format!("{} {} entry {s}", f.book().as_str(), a.as_str()),
        (a, None) => format!("{} {}", f.book().as_str(), a.as_str()),
    };
    let what = match f.action() {
        Action::Void => String::new(),
        _ => entry_words(f),
    };
    vec![
        e.id.to_string(),
        f.trial_id.clone(),
        action,
        what,
        f.reason.clone(),
        f.entered_by.clone(),
        f.entered_at.clone(),
        f.origin(),
        row[row.len() - 1].clone(),
    ]
}

/// What a roster, record or preparation entry says, in words.
fn entry_words(f: &db::Fields) -> String {
    match f.book() {
        Book::Roster => {
            let mut s = format!(
                "arm {}, {} kg, day 1 {}",
                f.value("arm"),
                f.value("weight_kg"),
                f.value("start_date")
            );
            if !f.value("site").is_empty() {
                s.push_str(&format!(", site {}", f.value("site")));
            }
            s
        }
        Book::Prep => prep_words(f),
        _ => record_words(f),
    }
}

/// "2026-11-23 prepared uc_msc #1, amount 7560000, lot UCM-2611-03".
fn prep_words(f: &db::Fields) -> String {
    let v = &f.values;
    let mut s = format!("{} {} {} #{}", v[0], v[1], v[2], v[3]);
    if !v[4].is_empty() {
        s.push_str(&format!(", amount {}", v[4]));
    }
    if !v[5].is_empty() {
        s.push_str(&format!(", lot {}", v[5]));
    }
    s
}

/// "2026-08-07 given uc_msc #1, amount 6162500: bag partly lost".
fn record_words(f: &db::Fields) -> String {
    let mut s = format!("{} {}", f.value("date"), f.value("record"));
    if !f.value("component").is_empty() {
        s.push_str(&format!(" {}", f.value("component")));
    }
    if !f.value("occurrence").is_empty() {
        s.push_str(&format!(" #{}", f.value("occurrence")));
    }
    if !f.value("amount").is_empty() {
        s.push_str(&format!(", amount {}", f.value("amount")));
    }
    if !f.value("note").is_empty() {
        s.push_str(&format!(": {}", f.value("note")));
    }
    s
}

/// Rows on stdout: a table with `headings`, or CSV with `columns`.
fn print_rows(
    format: ListFormat,
    columns: &[&str],
    headings: &[&str],
    rows: &[Vec<String>],
) -> Result<()> {
    let bytes = match format {
        ListFormat::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record(columns)?;
            for r in rows {
                w.write_record(r)?;
            }
            w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?
        }
        ListFormat::Table => {
            let mut t = comfy_table::Table::new();
            t.load_style(presets::ASCII_MARKDOWN);
            t.set_header(headings.to_vec());
            for r in rows {
                t.add_row(r.clone());
            }
            format!("{t}\n").into_bytes()
        }
    };
    dosesim::write::stdout(&bytes)
}

/// `record verify`: walks the chain. Intact: exit 0 and its length and head. Broken:
/// every broken entry named with what is wrong, exit 1 (not bad input: the database was
/// changed behind dosesim's back, or damaged).
fn verify(a: VerifyArgs) -> Result<()> {
    let mut db = ledger::open(&a.db, Open::Existing)?;
    let v = db::verify(&mut db)?;
    let head = v.head.as_ref().map_or("none".to_string(), head_words);
    if v.broken_count == 0 {
        println!(
            "chain intact: {} entr{}, head {head} ({})",
            v.entries,
            if v.entries == 1 { "y" } else { "ies" },
            db.label()
        );
        return Ok(());
    }
    let mut out = format!(
        "chain BROKEN: {} of {} entries in {}, head {head}:\n",
        dosesim::format::plural(v.broken_count, "problem"),
        v.entries,
        db.label()
    );
    for b in &v.broken {
        out.push_str(&format!("  entry {}: {}\n", b.id, b.what));
    }
    if v.broken_count > v.broken.len() as u64 {
        out.push_str(&format!(
            "  ... and {} more\n",
            v.broken_count - v.broken.len() as u64
        ));
    }
    dosesim::write::stdout(out.as_bytes())?;
    bail!(
        "the chain of entries in {} is broken ({}): restore the last backup that verifies, and keep this copy for the investigation",
        db.label(),
        dosesim::format::plural(v.broken_count, "problem")
    )
}

/// `record backup FILE`: an online copy to a new SQLite file (an existing file is
/// refused), opened again to show it is a database with the same head.
fn backup(a: BackupArgs) -> Result<()> {
    let mut problems = Vec::new();
    if a.file.exists() || a.file.is_symlink() {
        problems.push(Problem::flag(
            "FILE",
            format!(
                "{} is already there: a backup never replaces a file; name a new one",
                a.file.display()
            ),
        ));
    } else if let Err(p) = dosesim::write::check_out_file(&a.file, "FILE") {
        problems.push(p);
    }
    InputError::check(problems)?;
    let mut db = ledger::open(&a.db, Open::Existing)?;
    let bytes = db.backup(&a.file)?;
    let at = Location::Sqlite(a.file.clone());
    let head = db::Db::open(&at, Open::Existing)?.head()?;
    println!(
        "backed up {} to {} ({bytes} bytes): head {}; it opens as a database (--db {})",
        db.label(),
        a.file.display(),
        head.as_ref().map_or("none".to_string(), head_words),
        a.file.display()
    );
    Ok(())
}
