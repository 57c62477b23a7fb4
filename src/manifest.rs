//! What made a trial folder: `manifest.json` names the inputs (paths as given, SHA-256 of
//! their bytes), the dosesim version, the command line and every file dosesim wrote there,
//! with the summary the index shows. No clock time, so reruns stay byte-identical.
//!
//! The manifest is how dosesim knows a folder is its own: a rerun replaces a folder made
//! from the same inputs, refuses one made from others unless told to (`--force`), never
//! writes into a non-empty folder without one, and keeps every file the manifest does not
//! list (a user's own notes).
//!
//! A folder made with an administration record keeps a copy of it ([`RECORD_COPY`]), so
//! that a rerun cannot roll its history back unasked: the new record must hold every row of
//! the copy and be as of the same day or later ([`check_history`]). The manifest also
//! keeps the highest iCalendar SEQUENCE the folder's calendars hold, and what a forced
//! roll-back added to every SEQUENCE, so that no event's SEQUENCE ever falls.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use crate::digest::Input;
use crate::digest::{hex, sha256_now};
pub use crate::digest::{read_input, read_input_to_string, remember_input};
use crate::error::{InputError, Problem};
use crate::layout::is_subfolder;
pub use crate::write::list_files;

/// The manifest's file name inside a trial folder.
pub const FILE: &str = crate::layout::MANIFEST_FILE;

/// Each site calendar among `calendars`, then the holiday files they read, each once, as
/// inputs.
pub fn calendar_inputs(calendars: &[&crate::site::SiteCalendar]) -> Result<Vec<Input>, InputError> {
    let mut inputs = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for cal in calendars {
        if seen.insert(cal.file.clone()) {
            inputs.push(Input::of("site calendar", &cal.file)?);
        }
    }
    for cal in calendars {
        for s in &cal.sources {
            if seen.insert(s.clone()) {
                inputs.push(Input::of("holiday file", s)?);
            }
        }
    }
    Ok(inputs)
}

/// The trial a folder is about, and what it holds, for the index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contents {
    pub trial_id: String,
    pub trial_title: String,
    pub condition: String,
    pub arms: Vec<String>,
    pub patients: usize,
    /// Infusions and exchanges.
    pub doses: u64,
    /// The summary line `cohort` and `run` print, without the trial id and folder.
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// "dosesim 0.1.0".
    pub made_by: String,
    /// The command line that made the folder.
    pub command: Vec<String>,
    pub inputs: Vec<Input>,
    /// The database the roster and record were read from, and the entry the folder was
    /// made up to (none from CSV files: omitted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<DbMark>,
    pub contents: Contents,
    /// Added to every calendar event's SEQUENCE in the folder: raised above the highest of
    /// the folder it replaced when that one was rolled back with `--force` (0: omitted).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sequence_base: u64,
    /// The highest SEQUENCE of any event in the folder's calendar files (none written:
    /// omitted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_max: Option<u64>,
    /// Every file dosesim wrote, relative to the folder, sorted.
    pub files: Vec<String>,
}

/// A database and one of its entries: the last one a folder was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbMark {
    /// The database, as messages name it (a server's password hidden).
    pub database: String,
    /// The entry's number.
    pub entry: i64,
    /// The entry's chain hash (hex): it covers every entry before it.
    pub hash: String,
}

/// The database a run reads, for a folder made from one ([`Manifest::database`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// Its last entry now.
    pub now: DbMark,
    /// The hash it holds for the entry the folder was made up to (`None`: it has no
    /// entry of that number).
    pub at_made: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Contents {
    /// A trial's contents: its id, title, condition and arms, with what a run made of it.
    pub fn of_trial(
        trial: &crate::model::Trial,
        patients: usize,
        doses: u64,
        summary: String,
    ) -> Self {
        Contents {
            trial_id: trial.id.clone(),
            trial_title: trial.title.clone(),
            condition: trial.condition.clone(),
            arms: trial.arms.iter().map(|a| a.id.clone()).collect(),
            patients,
            doses,
            summary,
        }
    }
}

impl Manifest {
    /// The manifest of the folder `dir` as this command has filled it: every file in it
    /// (and the manifest itself), made by this dosesim from `inputs`.
    pub fn of_folder(dir: &Path, inputs: &[Input], contents: Contents) -> std::io::Result<Self> {
        let mut files = list_files(dir)?;
        files.push(FILE.to_string());
        files.sort();
        Ok(Manifest {
            made_by: format!("dosesim {}", env!("CARGO_PKG_VERSION")),
            command: this_command(),
            inputs: inputs.to_vec(),
            database: None,
            contents,
            sequence_base: 0,
            sequence_max: None,
            files,
        })
    }

    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a manifest serialises");
        s.push('\n');
        s
    }

    /// The manifest of `dir`: `Ok(None)` when it has none, an error when it is unreadable.
    pub fn read(dir: &Path) -> Result<Option<Manifest>, InputError> {
        let path = dir.join(FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                InputError::one(Problem::new(
                    &path,
                    format!("not a dosesim manifest ({e}); move the folder aside or choose another --out"),
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(InputError::one(Problem::new(&path, format!("cannot read: {e}")))),
        }
    }

    /// The command that made it, as one line.
    pub fn command_line(&self) -> String {
        self.command.join(" ")
    }

    /// The inputs' paths by role, which say whether a rerun is the same job (the files'
    /// contents may have changed: a corrected roster is a rerun, another roster is not).
    fn input_paths(&self) -> Vec<(String, PathBuf)> {
        same_files(&self.inputs)
    }
}

/// The command line of this process, program name first as `dosesim`.
pub fn this_command() -> Vec<String> {
    let mut args: Vec<String> = std::env::args().collect();
    if let Some(first) = args.first_mut() {
        *first = "dosesim".to_string();
    }
    args
}

/// Each input's role and file, resolved (`scenarios/x.toml` and `/work/main/scenarios/x.toml`
/// are the same file), sorted.
/// The role of an administration record among the inputs.
pub const RECORD_ROLE: &str = "administration record";

/// The inputs that decide whether a folder is the same job's: every one but the
/// administration record, which grows day by day (a folder made before the first record,
/// or from an earlier one, is the same trial's and is replaced by the newer one).
fn same_files(inputs: &[Input]) -> Vec<(String, PathBuf)> {
    let mut v: Vec<(String, PathBuf)> = inputs
        .iter()
        .filter(|i| i.role != RECORD_ROLE)
        .map(|i| {
            let p = Path::new(&i.path);
            let same = match from_database(&i.path) {
                Some(book) => PathBuf::from(book),
                None => std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()),
            };
            (i.role.clone(), same)
        })
        .collect();
    v.sort();
    v
}

/// A roster read from a database ("dosesim.db (roster of NCT01724398)") as the same input
/// whichever database, or copy of it, it was read from: "(roster of NCT01724398)". Which
/// database may replace a folder is the chain's to say ([`check_history`]): a later copy
/// may, an older one or another database may not.
fn from_database(path: &str) -> Option<&str> {
    let k = path.rfind(" (roster of ")?;
    path.ends_with(')').then(|| &path[k + 1..])
}

/// Whether dosesim may replace the trial folder `dir` with one made from `inputs`:
/// a missing or empty folder, or one whose manifest names the same inputs (or any, with
/// `force`). A non-empty folder without a manifest is never written into.
pub fn check_target(dir: &Path, inputs: &[Input], force: bool) -> Result<(), InputError> {
    let empty = match std::fs::read_dir(dir) {
        // A forecast or export folder (with its own manifest) is dosesim's and is kept by
        // a rewrite.
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .all(|e| is_subfolder(&e.path())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            return Err(InputError::one(Problem::flag(
                "--out",
                format!("{} is a file, not a folder", dir.display()),
            )));
        }
        Err(e) => {
            return Err(InputError::one(Problem::flag(
                "--out",
                format!("cannot read {}: {e}", dir.display()),
            )));
        }
    };
    if empty {
        return Ok(());
    }
    let Some(old) = Manifest::read(dir)? else {
        return Err(InputError::one(Problem::flag(
            "--out",
            format!(
                "{} is not empty and has no {FILE}: dosesim writes only into folders it made, so nothing of yours is replaced; name another folder with --out",
                dir.display()
            ),
        )));
    };
    if force || old.input_paths() == same_files(inputs) {
        return Ok(());
    }
    let named: Vec<String> = old
        .inputs
        .iter()
        .map(|i| format!("{} {}", i.role, i.path))
        .collect();
    Err(InputError::one(Problem::flag(
        "--out",
        format!(
            "{} holds the outputs of other inputs ({}), made by `{}`; to keep both, name another folder with --out; to replace it, add --force",
            dir.display(),
            named.join(", "),
            old.command_line()
        ),
    )))
}

/// The copy of the administration record a trial folder was made from, beside its outputs
/// (listed in the manifest as a file dosesim wrote).
pub const RECORD_COPY: &str = "record.csv";

/// What replacing a trial folder carries over from the folder it replaces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// Added to every event's SEQUENCE in the new folder's calendar files.
    pub sequence_base: u64,
    /// What stderr says of it: a roll-back forced, a record whose rows could not be checked.
    pub notes: Vec<String>,
}

/// Whether the trial folder `dir`, made as `old` says, may be replaced by a run with the
/// administration record `record` (as an input: its path, SHA-256 and as-of date; `None`:
/// this run has none), and what the new folder carries over. A folder made with a record is replaced only by a
/// run whose record holds every row of that one (compared field by field, trimmed, in any
/// order) and is as of the same day or later; otherwise every way it would roll back is a
/// problem, unless `force`, which raises every SEQUENCE above the old folder's highest.
/// `from` says where this run takes its record from ("--log"), for the message. A folder
/// made from a database, rerun from one (`chain`), is replaced only when that database
/// holds the entry the folder was made up to, with the same hash: entries
/// are never removed, so its rows are then all there (corrected or voided as the record
/// says).
pub fn check_history(
    dir: &Path,
    old: &Manifest,
    record: Option<&Input>,
    from: &str,
    force: bool,
    chain: Option<&Chain>,
) -> Result<History, InputError> {
    let mut history = History {
        sequence_base: old.sequence_base,
        notes: Vec::new(),
    };
    // (the problem, what it rolls back in a few words)
    let mut found: Vec<(Problem, String)> = Vec::new();
    let chained = old.database.as_ref().zip(chain);
    if let Some((made, now)) = chained {
        found.extend(lineage(dir, made, now));
    }
    let Some(made) = old.inputs.iter().find(|i| i.role == RECORD_ROLE) else {
        // Made before the first record: nothing to roll back.
        return finish(dir, old, found, force, history);
    };
    let made_as_of = as_of_date(made);
    let as_of_words = made_as_of.map_or_else(String::new, |d| format!(" as of {d}"));
    let kept = dir.join(RECORD_COPY);
    let kept = (old.files.iter().any(|f| f == RECORD_COPY) && kept.is_file()).then_some(kept);
    match record {
        None => found.push((
            Problem::new(
                dir,
                format!(
                    "made with the administration record {}{as_of_words}{}, and this run has none ({from}): every dose given, missed or cancelled would show planned again, in every file and calendar. Run it with that record or a later one, or add --force to replace the folder anyway",
                    made.path,
                    kept.as_ref()
                        .map_or_else(String::new, |c| format!(" (kept as {})", c.display()))
                ),
            ),
            "this run has no administration record".to_string(),
        )),
        Some(new) => {
            let path = Path::new(&new.path);
            // The rows the folder's record had: its copy, or for a folder made by an
            // earlier dosesim (which kept none), the record itself while it is unchanged.
            // The same bytes (a rerun after a roster correction) hold the same rows.
            if new.sha256 != made.sha256 && chained.is_none() {
                match kept.or_else(|| unchanged(made)) {
                    Some(c) => found.extend(missing_rows(&c, path, dir)?),
                    None => history.notes.push(format!(
                        "{} was made with the administration record {}{as_of_words}, which has changed since and of which the folder keeps no copy (made by an earlier dosesim): whether {} holds its every row cannot be checked",
                        dir.display(),
                        made.path,
                        path.display()
                    )),
                }
            }
            // An as-of date moved back with every row there (a missing row moves it back
            // too, and is the problem to name).
            if let (Some(before), Some(as_of)) = (made_as_of, as_of_date(new))
                && as_of < before
                && found.is_empty()
            {
                found.push((
                    Problem::new(
                        path,
                        format!(
                            "as of {as_of}, before {before}, the day the record {} was made with is complete to: the statuses of the days between would roll back (a dose due then would show planned again). Use --as-of {before} or later, or add --force to replace the folder anyway",
                            dir.display()
                        ),
                    ),
                    format!("as of {as_of}, before {before}"),
                ));
            }
        }
    }
    finish(dir, old, found, force, history)
}

/// The roll-backs found refused, or with `force` the history raised past them.
fn finish(
    dir: &Path,
    old: &Manifest,
    found: Vec<(Problem, String)>,
    force: bool,
    mut history: History,
) -> Result<History, InputError> {
    if found.is_empty() {
        return Ok(history);
    }
    if !force {
        return Err(InputError::new(found.into_iter().map(|f| f.0).collect()));
    }
    forced(
        dir,
        old,
        found.into_iter().map(|f| f.1).collect(),
        &mut history,
    );
    Ok(history)
}

/// Whether the database a run reads (`now`) holds the entry a folder was made up to
/// (`made`) with its hash: a backup older than the folder lacks it, another database (or
/// a copy that went its own way) holds another entry under its number. Either would roll
/// the folder's record back.
fn lineage(dir: &Path, made: &DbMark, now: &Chain) -> Option<(Problem, String)> {
    let lacks = match &now.at_made {
        Some(h) if *h == made.hash => return None,
        Some(h) => format!(
            "its entry {} has another hash ({h}): it is another database, or a copy that has gone its own way",
            made.entry
        ),
        None => format!(
            "its last entry is {} (hash {}), before entry {}: it is an older copy (a backup, say)",
            now.now.entry, now.now.hash, made.entry
        ),
    };
    Some((
        Problem::new(
            dir,
            format!(
                "made from the database {} up to entry {} (hash {}), and this run reads {}, which lacks that entry: {lacks}. The entries entered since would be lost from every file and calendar. Run with the database the folder was made from (or a later copy of it), or add --force to replace the folder anyway",
                made.database, made.entry, made.hash, now.now.database
            ),
        ),
        format!(
            "{} lacks entry {} of {}",
            now.now.database, made.entry, made.database
        ),
    ))
}

/// The day an input record is complete to, as its manifest says.
fn as_of_date(i: &Input) -> Option<chrono::NaiveDate> {
    i.as_of
        .as_deref()
        .and_then(|d| crate::timing::parse_date(d).ok())
}

/// `--force` over a history rolled back (`why`, in a few words each): every SEQUENCE is
/// raised above the old folder's highest, and a note says so.
fn forced(dir: &Path, old: &Manifest, why: Vec<String>, history: &mut History) {
    let highest = old.sequence_max.unwrap_or_else(|| {
        highest_sequence(&dir.join(crate::layout::CALENDAR_FILE)).max(old.sequence_base)
    });
    history.sequence_base = highest + 1;
    history.notes.push(format!(
        "--force: {} is replaced although this rolls its history back ({}); every event in its calendar files gets a SEQUENCE of {} or more, above the {highest} it had, so that calendar apps take the change",
        dir.display(),
        why.join("; "),
        highest + 1
    ));
}

/// A rerun made from other bytes than the folder's (a corrected roster, a site calendar
/// given a holiday file, another scenario or dosesim version), the record aside, may move
/// any event without a row of the record to account for it: every SEQUENCE of the new
/// folder is raised above the old folder's highest, so that calendar apps that apply
/// updates by UID and SEQUENCE take every change. Nothing changes for a rerun of the same
/// inputs (the same bytes again) or one whose record alone grew.
pub fn raise_on_changed_inputs(dir: &Path, old: &Manifest, inputs: &[Input], h: &mut History) {
    let others = |v: &[Input]| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = v
            .iter()
            .filter(|i| i.role != RECORD_ROLE)
            .map(|i| (i.role.clone(), i.sha256.clone()))
            .collect();
        v.sort();
        v
    };
    let same_version = old.made_by == format!("dosesim {}", env!("CARGO_PKG_VERSION"));
    if same_version && others(&old.inputs) == others(inputs) {
        return;
    }
    let highest = old.sequence_max.unwrap_or_else(|| {
        highest_sequence(&dir.join(crate::layout::CALENDAR_FILE)).max(old.sequence_base)
    });
    h.sequence_base = h.sequence_base.max(highest + 1);
}

/// The record a folder made by an earlier dosesim (which kept no copy) was made from, when
/// the file it names still has the bytes it had.
fn unchanged(made: &Input) -> Option<PathBuf> {
    let path = Path::new(&made.path);
    let same = sha256_now(path).is_some_and(|now| now == made.sha256);
    same.then(|| path.to_path_buf())
}

/// The highest SEQUENCE in a calendar file (0: none, or no file): for a folder made by an
/// earlier dosesim, whose manifest does not say.
fn highest_sequence(ics: &Path) -> u64 {
    use std::io::BufRead;
    let Ok(file) = std::fs::File::open(ics) else {
        return 0;
    };
    std::io::BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| l.strip_prefix("SEQUENCE:")?.trim().parse::<u64>().ok())
        .max()
        .unwrap_or(0)
}

/// The rows of the record `copy` (a folder's) that the record `new` lacks: a problem
/// naming the first, by its line in the copy and its text, and how many more there are.
fn missing_rows(
    copy: &Path,
    new: &Path,
    dir: &Path,
) -> Result<Option<(Problem, String)>, InputError> {
    use rayon::slice::ParallelSliceMut;
    // One file's bytes at a time: a record of millions of rows is over 100 MB.
    let mut had = row_hashes(copy, &read_record(copy)?)?;
    let mut has = row_hashes(new, &read_record(new)?)?;
    had.par_sort_unstable();
    has.par_sort_unstable();
    // Each row of the copy that `new` lacks (as many times as it lacks it), by its hash,
    // with how many times `new` has it: that many of the copy's are matched first.
    let mut lacks: rustc_hash::FxHashMap<u64, usize> = Default::default();
    let mut missing = 0usize;
    let (mut i, mut j) = (0, 0);
    while i < had.len() {
        let h = had[i];
        let n_had = had[i..].iter().take_while(|&&x| x == h).count();
        while j < has.len() && has[j] < h {
            j += 1;
        }
        let n_has = has[j..].iter().take_while(|&&x| x == h).count();
        if n_had > n_has {
            lacks.insert(h, n_has);
            missing += n_had - n_has;
        }
        i += n_had;
        j += n_has;
    }
    drop((had, has));
    if missing == 0 {
        return Ok(None);
    }
    let bytes = read_record(copy)?;
    let mut first = None;
    for_each_row(copy, &bytes, |h, line, text| {
        if let Some(n) = lacks.get_mut(&h) {
            if *n == 0 {
                first = Some((line, String::from_utf8_lossy(text).into_owned()));
                return false;
            }
            *n -= 1;
        }
        true
    })?;
    let (line, text) = first.expect("a missing row is in the copy");
    let more = match missing - 1 {
        0 => String::new(),
        1 => " (and 1 more of its rows)".to_string(),
        n => format!(" (and {n} more of its rows)"),
    };
    Ok(Some((
        Problem::new(
            copy,
            format!(
                "this row of the administration record {} was made from is not in {}{more}: {text}. A record is only ever added to (a correction is a new row), and replacing the folder would roll its history back: run with a record that holds every row of this one, or add --force to replace the folder anyway",
                dir.display(),
                new.display()
            ),
        )
        .at(Some(line)),
        format!("{} lacks line {line} of {}", new.display(), copy.display()),
    )))
}

fn read_record(path: &Path) -> Result<Vec<u8>, InputError> {
    if let Some(book) = crate::digest::book_bytes(path) {
        return Ok(book.to_vec());
    }
    std::fs::read(path).map_err(|e| {
        InputError::one(Problem::new(
            path,
            format!("cannot read the administration record: {e}"),
        ))
    })
}

/// Where each of the record's columns is in a file (by its header, read as `record.rs`
/// reads it), and where its rows start.
fn record_columns(
    path: &Path,
    bytes: &[u8],
) -> Result<([Option<usize>; crate::record::COLUMNS.len()], usize), InputError> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(bytes);
    let headers = rdr.byte_headers().map_err(|e| {
        InputError::one(Problem::new(path, format!("cannot read the header: {e}")).at(Some(1)))
    })?;
    let names = crate::csv_in::names(headers);
    let cols =
        crate::record::COLUMNS.map(|c| names.iter().position(|n| crate::csv_in::name_is(n, c)));
    Ok((cols, rdr.position().byte() as usize))
}

/// The hash of one row, `fields` as in the file: the fields in the record's column order
/// (`cols`: where each is in the file), each trimmed, so that the same row written with
/// other spacing, quoting or column order is the same row; `None` for a blank row, which
/// is no row (as `record.rs` reads it). `buf` is scratch space.
fn row_hash(cols: &[Option<usize>], fields: &[&[u8]], buf: &mut Vec<u8>) -> Option<u64> {
    use std::hash::Hasher;
    if fields.iter().all(|c| c.iter().all(u8::is_ascii_whitespace)) {
        return None;
    }
    buf.clear();
    let plain = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii() && !b.is_ascii_whitespace());
    for c in cols {
        let field = c.and_then(|c| fields.get(c)).copied().unwrap_or_default();
        // Trimmed as `record.rs` trims (Unicode whitespace); a field that starts and ends
        // with a printable ASCII character (nearly every one) has nothing to trim.
        let field = if field.is_empty() || (plain(field.first()) && plain(field.last())) {
            field
        } else {
            match std::str::from_utf8(field) {
                Ok(s) => s.trim().as_bytes(),
                Err(_) => field.trim_ascii(),
            }
        };
        buf.extend_from_slice(field);
        // 0xFF is never in UTF-8 text: fields cannot run into each other.
        buf.push(0xFF);
    }
    // SipHash (std's, unkeyed: the hashes are compared within one run and never kept). A
    // row missing from the new record passes unseen only if its 64 bits equal those of
    // another row there: for 3 million rows, about one chance in 6 x 10^12.
    let mut h = std::hash::DefaultHasher::new();
    h.write(buf);
    Some(h.finish())
}

/// Calls `f` with each row's hash, line and text (as in the file), in file order, while it
/// returns true.
fn for_each_row(
    path: &Path,
    bytes: &[u8],
    mut f: impl FnMut(u64, usize, &[u8]) -> bool,
) -> Result<(), InputError> {
    let (cols, body) = record_columns(path, bytes)?;
    let header_lines = bytes[..body.min(bytes.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count();
    let rest = &bytes[body.min(bytes.len())..];
    let mut buf = Vec::new();
    // Without quotes or a carriage return alone, lines and commas are the rows and fields.
    let lines = || rest.split(|&b| b == b'\n');
    let strip = |l: &'_ [u8]| -> usize { l.len() - usize::from(l.ends_with(b"\r")) };
    if !rest.contains(&b'"') && lines().all(|l| !l[..strip(l)].contains(&b'\r')) {
        let mut fields: Vec<&[u8]> = Vec::with_capacity(cols.len());
        for (k, line) in lines().enumerate() {
            let line = &line[..strip(line)];
            fields.clear();
            fields.extend(line.split(|&b| b == b','));
            if let Some(h) = row_hash(&cols, &fields, &mut buf)
                && !f(h, header_lines + k + 1, line)
            {
                break;
            }
        }
        return Ok(());
    }
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(false)
        .from_reader(rest);
    let mut row = csv::ByteRecord::new();
    loop {
        match rdr.read_byte_record(&mut row) {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(e) => return Err(unreadable(path, &e)),
        }
        let fields: Vec<&[u8]> = row.iter().collect();
        if let Some(h) = row_hash(&cols, &fields, &mut buf) {
            let (start, line) = row.position().map_or((0, 1), |p| (p.byte(), p.line()));
            let (start, end) = (start as usize + body, rdr.position().byte() as usize + body);
            let (mut text, mut line) = (&bytes[start..end], header_lines + line as usize);
            // The reader's position of a row after blank lines is the first blank line.
            while let Some((&b, rest)) = text.split_first()
                && (b == b'\n' || b == b'\r')
            {
                line += usize::from(b == b'\n');
                text = rest;
            }
            let text = text.strip_suffix(b"\n").unwrap_or(text);
            if !f(h, line, text.strip_suffix(b"\r").unwrap_or(text)) {
                return Ok(());
            }
        }
    }
}

/// A row the CSV reader cannot read (a record the checks have already read whole).
fn unreadable(path: &Path, e: &csv::Error) -> InputError {
    InputError::one(Problem::new(path, format!("cannot read a row: {e}")))
}

/// Every row's hash ([`row_hash`]), in no particular order. A large file without quotes
/// (the usual machine-written kind) is split at line ends and its slices hashed in
/// parallel, as `record.rs` checks it, each split at commas and line ends directly (what
/// the CSV reader would do, several times faster).
fn row_hashes(path: &Path, bytes: &[u8]) -> Result<Vec<u64>, InputError> {
    use rayon::prelude::*;
    let (cols, start) = record_columns(path, bytes)?;
    let body = &bytes[start.min(bytes.len())..];
    let quoted = body.contains(&b'"');
    let slices: Vec<&[u8]> = if body.len() > 1 << 20 && !quoted {
        let n = rayon::current_num_threads().max(1) * 4;
        let mut cuts = vec![0usize];
        for k in 1..n {
            let at = (body.len() * k / n).max(*cuts.last().expect("a first cut"));
            match body[at..].iter().position(|&b| b == b'\n') {
                Some(p) => cuts.push(at + p + 1),
                None => break,
            }
        }
        cuts.push(body.len());
        cuts.dedup();
        cuts.windows(2).map(|w| &body[w[0]..w[1]]).collect()
    } else {
        vec![body]
    };
    let parts: Vec<Vec<u64>> = slices
        .into_par_iter()
        .map(|slice| {
            let mut hashes = Vec::with_capacity(slice.len() / 32);
            if !quoted && quote_free_hashes(&cols, slice, &mut hashes) {
                return Ok(hashes);
            }
            hashes.clear();
            let mut rdr = csv::ReaderBuilder::new()
                .flexible(true)
                .has_headers(false)
                .from_reader(slice);
            let mut row = csv::ByteRecord::new();
            let mut buf = Vec::new();
            while rdr
                .read_byte_record(&mut row)
                .map_err(|e| unreadable(path, &e))?
            {
                let fields: Vec<&[u8]> = row.iter().collect();
                hashes.extend(row_hash(&cols, &fields, &mut buf));
            }
            Ok(hashes)
        })
        .collect::<Result<_, InputError>>()?;
    Ok(parts.concat())
}

/// The hashes of the rows of `slice`, a part of a record without quotes, split at line
/// ends (`\n` or `\r\n`) and commas as the CSV reader splits them; `false` (and part of
/// the hashes) for a carriage return alone, which the CSV reader also takes as a line end:
/// that slice is left to it.
fn quote_free_hashes(cols: &[Option<usize>], slice: &[u8], hashes: &mut Vec<u64>) -> bool {
    let mut fields: Vec<&[u8]> = Vec::with_capacity(cols.len());
    let mut buf = Vec::with_capacity(128);
    for line in slice.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        if line.contains(&b'\r') {
            return false;
        }
        fields.clear();
        fields.extend(line.split(|&b| b == b','));
        hashes.extend(row_hash(cols, &fields, &mut buf));
    }
    true
}

/// Copies the record at `from` into a folder being made (`to`), checking that its bytes
/// are still those whose SHA-256 the manifest names (`sha256`).
pub fn copy_record(from: &Path, to: &Path, sha256: &str) -> anyhow::Result<()> {
    use std::io::Read;
    // A record read from the database: its books as read, checked by the hash all the same.
    if let Some(book) = crate::digest::book_bytes(from) {
        if hex(&Sha256::digest(book.as_slice())) != sha256 {
            anyhow::bail!("{} changed while dosesim ran: run again", from.display());
        }
        return crate::write::atomic(to, &book);
    }
    let mut file = std::fs::File::open(from)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", from.display()))?;
    let mut digest = Sha256::new();
    crate::write::atomic_with(to, |w| {
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            digest.update(&buf[..n]);
            w.write_all(&buf[..n])?;
        }
    })?;
    if hex(&digest.finalize()) != sha256 {
        anyhow::bail!(
            "{} changed while dosesim ran (its SHA-256 is not the one checked): run again",
            from.display()
        );
    }
    Ok(())
}

/// Refuses to replace the folder `dir`, whose manifest lists `made` as dosesim's files,
/// when one of those is an input of this run (`--log` naming the copy of the record a
/// trial folder keeps, say): the swap would replace it.
pub fn check_replaced(
    dir: &Path,
    made: &[String],
    inputs: &[Input],
    flag: &str,
) -> Result<(), Problem> {
    let root = crate::layout::resolve(dir);
    for i in inputs {
        let Ok(rel) = crate::layout::resolve(Path::new(&i.path))
            .strip_prefix(&root)
            .map(Path::to_path_buf)
        else {
            continue;
        };
        let rel: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let rel = rel.join("/");
        if rel == FILE || made.contains(&rel) {
            return Err(Problem::flag(
                flag,
                format!(
                    "this run replaces {}, and {} in it, which dosesim made there, is the {} this run reads: copy it elsewhere and name the copy",
                    dir.display(),
                    i.path,
                    i.role
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(role: &str, path: &str) -> Input {
        Input {
            role: role.into(),
            path: path.into(),
            sha256: "00".into(),
            as_of: None,
        }
    }

    fn manifest(inputs: Vec<Input>) -> Manifest {
        Manifest {
            made_by: "dosesim test".into(),
            command: vec!["dosesim".into(), "cohort".into()],
            inputs,
            database: None,
            contents: Contents {
                trial_id: "T".into(),
                trial_title: "t".into(),
                condition: "c".into(),
                arms: vec![],
                patients: 0,
                doses: 0,
                summary: String::new(),
            },
            sequence_base: 0,
            sequence_max: None,
            files: vec![],
        }
    }

    /// Issue 21, item 4: the SHA-256 is of the bytes read, not of the file as it is when
    /// the manifest is made.
    #[test]
    fn an_input_is_hashed_as_it_was_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("roster.csv");
        std::fs::write(&path, "weight 45.8").unwrap();
        assert_eq!(read_input(&path).unwrap(), b"weight 45.8");
        std::fs::write(&path, "weight 54.8").unwrap();
        let input = Input::of("roster", &path).unwrap();
        assert_eq!(input.sha256, hex(&Sha256::digest(b"weight 45.8")));
        assert_eq!(
            sha256_now(&path).unwrap(),
            hex(&Sha256::digest(b"weight 54.8"))
        );
        // Read again, it is the new bytes the run uses and names.
        read_input(&path).unwrap();
        assert_eq!(
            Input::of("roster", &path).unwrap().sha256,
            sha256_now(&path).unwrap()
        );
    }

    #[test]
    fn a_folder_of_other_inputs_is_refused_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let ours = vec![input("scenario", "s.toml"), input("roster", "real.csv")];
        std::fs::write(dir.path().join(FILE), manifest(ours.clone()).to_json()).unwrap();
        assert!(check_target(dir.path(), &ours, false).is_ok(), "a rerun");
        let demo = vec![input("scenario", "s.toml"), input("roster", "demo.csv")];
        let e = check_target(dir.path(), &demo, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("roster real.csv"), "{e}");
        assert!(e.contains("--force") && e.contains("--out"), "{e}");
        assert!(check_target(dir.path(), &demo, true).is_ok());
    }

    const HEADER: &str = "patient_id,date,record,component,occurrence,amount,note\n";

    /// The sorted row hashes of a record's text.
    fn hashes(text: &str) -> Vec<u64> {
        let mut h = row_hashes(Path::new("r.csv"), text.as_bytes()).unwrap();
        h.sort_unstable();
        h
    }

    /// [`missing_rows`] of a folder's copy `had` against a new record `has`: the line and
    /// text named, and the count of the others.
    fn missing(had: &str, has: &str) -> Option<String> {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("had.csv"), dir.path().join("has.csv"));
        std::fs::write(&a, had).unwrap();
        std::fs::write(&b, has).unwrap();
        missing_rows(&a, &b, dir.path())
            .unwrap()
            .map(|(p, _)| format!("{}: {}", p.line.unwrap(), p.message))
    }

    #[test]
    fn rows_are_compared_field_by_field_in_any_order_spacing_or_quoting() {
        let a = format!(
            "{HEADER}P1,2027-03-01,given,uc_msc,1,,\nP1,2027-03-02,weight,,,61.5,\"re-weighed, twice\"\n"
        );
        // Columns and rows in another order, spaces, quotes, CRLF, a blank line, a BOM.
        let b = "\u{feff}note,date,patient_id,record,component,occurrence,amount\r\n\
                 \"re-weighed, twice\",2027-03-02,P1,weight,,, 61.5 \r\n\
                 , , , , , ,\r\n\
                 ,\"2027-03-01\",P1,given,uc_msc,1,\r\n";
        assert_eq!(hashes(&a), hashes(b));
        assert_eq!(hashes(&a).len(), 2, "the blank row is no row");
        assert_eq!(missing(&a, b), None);
        // A changed value is another row.
        let c = a.replace("61.5", "61.6");
        assert_ne!(hashes(&a), hashes(&c));
    }

    #[test]
    fn a_row_recorded_twice_is_missing_when_the_new_record_has_it_once() {
        let row = "P1,2027-03-02,weight,,,61.5,\n";
        let had = format!("{HEADER}{row}P1,2027-03-01,given,uc_msc,1,,\n{row}");
        let has = format!("{HEADER}{row}P1,2027-03-01,given,uc_msc,1,,\n");
        // The first is matched; the second (line 4) is the one missing.
        let m = missing(&had, &has).unwrap();
        assert!(
            m.starts_with("4: this row of the administration record")
                && m.contains(": P1,2027-03-02,weight,,,61.5,."),
            "{m}"
        );
        assert!(!m.contains("more of its rows"), "{m}");
        assert_eq!(missing(&had, &had), None);
    }

    #[test]
    fn the_first_missing_row_is_named_by_its_line_and_text_with_how_many_more() {
        let had = format!(
            "{HEADER}P1,2027-03-01,given,uc_msc,1,,\n\nP2,2027-03-01,given,pe,1,,\"a note\nover two lines\"\nP3,2027-03-01,died,,,,\n"
        );
        let has = format!("{HEADER}P1,2027-03-01,given,uc_msc,1,,\n");
        let m = missing(&had, &has).unwrap();
        // Line 4 (a blank line 3 before it), its text whole, the note's line break kept.
        assert!(
            m.starts_with("4: ") && m.contains("(and 1 more of its rows): P2,2027-03-01,given,pe,1,,\"a note\nover two lines\"."),
            "{m}"
        );
    }

    #[test]
    fn a_large_record_hashed_in_slices_hashes_as_the_csv_reader_reads_it() {
        // Over a megabyte without quotes: split at line ends and commas in parallel; with a
        // carriage return alone (a line end to the CSV reader) or quotes, read by the CSV
        // reader. The same rows give the same hashes either way.
        let mut plain = String::from(HEADER);
        for i in 0..40_000 {
            plain.push_str(&format!(
                "P{i:06},2027-03-01,given,uc_msc,{},,\r\n",
                1 + i % 4
            ));
        }
        assert!(plain.len() > 1 << 20);
        let quoted = plain.replacen("given,uc_msc,1,,", "given,uc_msc,1,,\"\"", 1);
        let lone_cr = plain.replacen("\r\n", "\r", 3);
        let h = hashes(&plain);
        assert_eq!(h.len(), 40_000);
        assert_eq!(hashes(&quoted), h);
        assert_eq!(hashes(&lone_cr), h);
        let fewer = plain.replacen("P039999,2027-03-01,given,uc_msc,4,,\r\n", "", 1);
        let m = missing(&plain, &fewer).unwrap();
        assert!(m.starts_with("40001: "), "{m}");
        assert!(m.contains(": P039999,2027-03-01,given,uc_msc,4,,."), "{m}");
    }

    #[test]
    fn a_non_empty_folder_without_a_manifest_is_never_written_into() {
        let dir = tempfile::tempdir().unwrap();
        assert!(check_target(dir.path(), &[], false).is_ok(), "empty");
        std::fs::write(dir.path().join("mine.txt"), "x").unwrap();
        assert!(
            check_target(dir.path(), &[], true).is_err(),
            "not even forced"
        );
        assert!(check_target(&dir.path().join("missing"), &[], false).is_ok());
    }
}
