//! What the database commands (`record`, `roster`) share: the database opened, who is
//! entering, a CSV file imported into a trial's book, a book exported as CSV, and the
//! chain's head in words.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::cli::{DbAt, EnteredBy, ExportArgs, ImportArgs};
use dosesim::db::{self, Book, Db, Head, Location, Open, books};
use dosesim::error::{InputError, Problem};
use dosesim::model::Trial;

/// Where `--db` (else `DOSESIM_DB`, else dosesim.db here) says the database is.
pub fn location(at: &DbAt) -> Location {
    Location::or_default(at.db.as_deref())
}

/// Opens the database; one that must be there and is not is bad input (exit 2), with how
/// a site makes its database.
pub fn open(at: &DbAt, open: Open) -> Result<Db> {
    let loc = location(at);
    if open == Open::Existing
        && let Location::Sqlite(path) = &loc
        && !path.is_file()
    {
        return Err(InputError::one(no_database(path)).into());
    }
    Db::open(&loc, open)
}

/// "no database at dosesim.db": how a site makes one.
fn no_database(path: &Path) -> Problem {
    let label = path.display();
    Problem::flag(
        "--db",
        format!(
            "there is no database at {label}: a site's database is made by importing its roster first (dosesim roster import TRIAL ROSTER.csv --db {label})"
        ),
    )
}

/// Who is entering: `--by`, else the login name. A blank `--by` is refused: every entry
/// names who made it.
pub fn entered_by(by: &EnteredBy) -> Result<String, InputError> {
    match &by.by {
        None => Ok(db::login_name()),
        Some(name) if name.trim().is_empty() => Err(InputError::one(Problem::flag(
            "--by",
            "give the name of who is entering (or leave --by out for your login name)",
        ))),
        Some(name) => Ok(name.trim().to_string()),
    }
}

/// "entry 48 3f9a0c1b77d2": the chain's head, its hash cut to 12 hex digits.
pub fn head_words(head: &Head) -> String {
    let hex = db::entry::hex(&head.hash);
    format!("entry {} {}", head.id, &hex[..12.min(hex.len())])
}

/// `roster import` and `record import`: a CSV file into the trial's book, in one
/// transaction (every problem at once, exit 2, nothing written), then what was done.
pub fn import(args: &ImportArgs, book: Book) -> Result<()> {
    let trial = dosesim::scenario::load_named(&args.trial)?;
    let by = entered_by(&args.by)?;
    let bytes = match book {
        Book::Roster => dosesim::roster::file_bytes(&args.file)?,
        _ => dosesim::record::file_bytes(&args.file)?,
    };
    let loc = location(&args.db);
    let db_missing = matches!(&loc, Location::Sqlite(p) if !p.exists());
    if book == Book::Roster && db_missing {
        // A new database is made only for a roster that reads well on its own.
        dosesim::roster::parse(&args.file, bytes.clone(), &trial)?;
    }
    if book == Book::Record && db_missing {
        let Location::Sqlite(path) = &loc else {
            unreachable!("only a file can be missing")
        };
        return Err(InputError::one(no_database(path)).into());
    }
    let mut db = Db::open(&loc, Open::OrCreate)?;
    let done = match book {
        Book::Roster => books::import_roster(&mut db, &trial, &args.file, bytes, &by),
        _ => books::import_record(&mut db, &trial, &args.file, bytes, &by),
    };
    let (imported, head) = done.map_err(books::Refused::into_anyhow)?;
    super::common::warn_record(&imported.warnings);
    println!("{}", imported_words(&imported, &args.file, book, &head));
    Ok(())
}

/// "imported 42 rows of log.csv as entries 7-48 (3 rows already in the database were not
/// added again); chain head entry 48 3f9a0c1b77d2".
fn imported_words(i: &books::Imported, file: &Path, book: Book, head: &Head) -> String {
    let name = file.file_name().map_or_else(
        || file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let noun = if book == Book::Roster {
        "patient"
    } else {
        "row"
    };
    let mut s = match (i.first, i.last) {
        (Some(a), Some(b)) if a == b => format!(
            "imported {} of {name} as entry {a}",
            dosesim::format::plural(1, noun)
        ),
        (Some(a), Some(b)) => format!(
            "imported {} of {name} as entries {a}-{b}",
            dosesim::format::plural(i.added as u64, noun)
        ),
        _ => format!("imported nothing new from {name}"),
    };
    if i.already > 0 {
        let already = dosesim::format::plural(i.already as u64, noun);
        let verb = if i.already == 1 { "was" } else { "were" };
        s.push_str(&format!(
            " ({already} already in the database {verb} not added again)"
        ));
    }
    s.push_str(&format!("; chain head {}", head_words(head)));
    s
}

/// `roster export` and `record export`: the trial's book in effect as CSV, to stdout or
/// atomically to `--out` (as `pharmacy --out`: a .csv file, in a folder that exists,
/// never one of the inputs).
pub fn export(args: &ExportArgs, book: Book) -> Result<()> {
    let trial = dosesim::scenario::load_named(&args.trial)?;
    if let Some(out) = &args.out {
        check_out(args, out)?;
    }
    let mut db = open(&args.db, Open::Existing)?;
    let bytes = match book {
        Book::Roster => books::export_roster(&mut db, &trial.id)?,
        _ => books::export_record(&mut db, &trial.id)?,
    };
    warn_if_empty(&bytes, &trial, book, db.label());
    match &args.out {
        Some(out) => {
            let _lock = dosesim::write::lock_out_file(out)?;
            dosesim::write::atomic(out, &bytes)
        }
        None => dosesim::write::stdout(&bytes),
    }
}

/// `--out` of an export: a .csv file in a folder that exists, not an input.
fn check_out(args: &ExportArgs, out: &Path) -> Result<(), InputError> {
    let mut problems = Vec::new();
    if let Err(p) = super::out_extension(out, "--out", &[("csv", ())]) {
        problems.push(p);
    }
    let db_file: Option<PathBuf> = match location(&args.db) {
        Location::Sqlite(p) => Some(p),
        Location::Postgres(_) => None,
    };
    if let Err(p) = dosesim::write::check_out_file(out, "--out").and_then(|()| {
        super::guard::Reads::new()
            .scenario(&args.trial)
            .maybe("database", db_file.as_deref())
            .check_file(out, "--out")
    }) {
        problems.push(p);
    }
    InputError::check(problems)
}

/// A warning when the trial's book is empty (only the header is written).
fn warn_if_empty(csv: &[u8], trial: &Trial, book: Book, label: &str) {
    if csv.iter().filter(|&&b| b == b'\n').count() <= 1 {
        eprintln!(
            "warning: {label} has no {} of {} (only the header is written)",
            book.as_str(),
            trial.id
        );
    }
}
