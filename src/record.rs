//! The administration record: what was actually given, missed or changed, read from a log
//! (`--log FILE.csv`, or `scenarios/logs/<TRIAL>.csv` for `run`), one fact a row:
//!
//! ```text
//! patient_id,date,record,component,occurrence,amount,note
//! P001,2026-08-03,given,pe,1,,
//! P001,2026-08-06,missed,pe,2,,"no slot on the apheresis unit"
//! P001,2026-08-10,weight,,,68.5,"re-weighed"
//! P001,2026-08-12,given,uc_msc,2,5800000,
//! P002,2026-08-20,withdrawn,,,,"consent withdrawn"
//! ```
//!
//! Every row is checked against the trial and the roster, and every problem is reported
//! with its line. The record is then applied to each patient's plan by
//! `schedule::Plan::actual`: what happened stays as recorded, the rest is re-projected.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use crate::error::{InputError, Problem};
use crate::model::{DoseAmount, Kg, Trial};
use crate::roster::Roster;
use crate::timing;

/// The log's columns, in the order a new log is written.
pub const COLUMNS: [&str; 7] = [
    "patient_id",
    "date",
    "record",
    "component",
    "occurrence",
    "amount",
    "note",
];

/// A recorded weight this many per cent or more from the one before is warned about.
const BIG_WEIGHT_CHANGE_PCT: f64 = 20.0;

/// A row this many days after every other row of the log is refused as a typo.
const FAR_PAST_OTHERS_DAYS: i64 = 365;

/// At most this many problems are listed (then how many more there are).
const MAX_PROBLEMS: usize = crate::error::MAX_LISTED;

/// What a row records.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::VariantArray,
)]
#[strum(serialize_all = "snake_case")]
pub enum RecordKind {
    /// A dose given (or a visit held) on the row's date.
    Given,
    /// Not given (or not held), and it will not be: the date is when it was due.
    Missed,
    /// From the date on, the patient weighs `amount` kg.
    Weight,
    /// From the date on, nothing more is given or visited.
    Withdrawn,
    /// As withdrawn; no record may come after it.
    Died,
}

impl RecordKind {
    pub fn parse(s: &str) -> Option<RecordKind> {
        s.parse().ok()
    }

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Withdrawn or died: the end of the patient's course.
    pub fn ends(self) -> bool {
        matches!(self, RecordKind::Withdrawn | RecordKind::Died)
    }
}

/// What a given or missed row is about: one of the arm's components or visits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    Component(u16),
    Visit(u16),
}

/// One checked row of the log: 24 bytes, so that a log of millions of rows stays small.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Record {
    pub date: NaiveDate,
    /// The log's line (for messages).
    pub line: u32,
    /// For given and missed rows.
    pub target: Option<Target>,
    /// 1-based, as in the calendar (given and missed rows; at most 1,000).
    pub occurrence: u16,
    pub kind: RecordKind,
    /// The amount given in the product's unit; NaN: the planned dose (or no amount).
    amount: f64,
}

impl Record {
    /// The amount given in the product's unit; `None`: the planned dose (or no amount).
    pub fn amount(&self) -> Option<f64> {
        (!self.amount.is_nan()).then_some(self.amount)
    }
}

/// A checked log, with each patient's rows together in date order.
#[derive(Debug, Clone)]
pub struct Log {
    pub path: PathBuf,
    /// The day the record is complete to: given with `--as-of`, else its latest date.
    pub as_of: NaiveDate,
    /// Rows in the file (the header not counted).
    pub rows: usize,
    /// Recorded weights outside the scenario's usual range, each with its line: checked,
    /// not refused.
    pub warnings: Vec<String>,
    records: Vec<Record>,
    /// Patient `i`'s rows are `records[starts[i]..starts[i + 1]]` (`i` as in the roster's
    /// entries).
    starts: Vec<u32>,
    /// The weights of the weight rows, by record index (sorted).
    weights: Vec<(u32, Kg)>,
    /// The notes, by record index (sorted).
    notes: Vec<(u32, Box<str>)>,
}

/// One patient's rows of a log (possibly none).
#[derive(Debug, Clone, Copy)]
pub struct PatientLog<'a> {
    pub records: &'a [Record],
    /// The index of `records[0]` in the log.
    first: u32,
    log: Option<&'a Log>,
}

impl PatientLog<'_> {
    /// No records.
    pub const EMPTY: PatientLog<'static> = PatientLog {
        records: &[],
        first: 0,
        log: None,
    };

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Whether the record makes any dose differ from the plan's: a dose missed, a course
    /// ended, a weight recorded, a dose given in an amount of its own, or one given while
    /// an earlier occurrence is unrecorded.
    pub fn changes_amounts(&self) -> bool {
        self.records.iter().any(|r| match r.kind {
            // A dose given in an amount of its own, or after an earlier one left
            // unrecorded (which it closes as missed).
            RecordKind::Given => {
                r.amount().is_some()
                    || r.target.is_some_and(|t| {
                        (1..r.occurrence).any(|k| self.find(t, u32::from(k)).is_none())
                    })
            }
            _ => true,
        })
    }

    /// The given or missed row about `target`'s occurrence, if any.
    pub fn find(&self, target: Target, occurrence: u32) -> Option<&Record> {
        self.records.iter().find(|r| {
            r.target == Some(target)
                && u32::from(r.occurrence) == occurrence
                && matches!(r.kind, RecordKind::Given | RecordKind::Missed)
        })
    }

    /// Whether an occurrence of `target` after `occurrence` is recorded as given.
    pub fn given_after(&self, target: Target, occurrence: u32) -> bool {
        self.records.iter().any(|r| {
            r.kind == RecordKind::Given
                && r.target == Some(target)
                && u32::from(r.occurrence) > occurrence
        })
    }

    /// The row the schedule is re-projected from: the latest-dated given or missed row
    /// (they fix dates), else the latest row.
    pub fn latest_row(&self) -> Option<&Record> {
        self.records
            .iter()
            .rev()
            .find(|r| r.target.is_some())
            .or(self.records.last())
    }

    /// The withdrawal or death, if recorded: (date, kind).
    pub fn end(&self) -> Option<(NaiveDate, RecordKind)> {
        self.records
            .iter()
            .find(|r| r.kind.ends())
            .map(|r| (r.date, r.kind))
    }

    /// The weight rows, in date order: (date, kg, line).
    pub fn weights(&self) -> impl Iterator<Item = (NaiveDate, Kg, u32)> + '_ {
        let log = self.log;
        self.records
            .iter()
            .enumerate()
            .filter(|(_, r)| r.kind == RecordKind::Weight)
            .filter_map(move |(k, r)| {
                let idx = self.first + k as u32;
                let w = log?.weight_at(idx)?;
                Some((r.date, w, r.line))
            })
    }

    /// The note of a row of this patient's (by reference into `records`), if any.
    pub fn note(&self, r: &Record) -> Option<&str> {
        let k = self
            .records
            .iter()
            .position(|x| std::ptr::eq(x, r))
            .expect("a record of this patient");
        self.log?.note_at(self.first + k as u32)
    }
}

impl Log {
    /// Patient `i`'s rows (`i` as in the roster's entries).
    pub fn patient(&self, i: u32) -> PatientLog<'_> {
        let (a, b) = (self.starts[i as usize], self.starts[i as usize + 1]);
        PatientLog {
            records: &self.records[a as usize..b as usize],
            first: a,
            log: Some(self),
        }
    }

    /// Whether any row records a weight.
    pub fn has_weights(&self) -> bool {
        !self.weights.is_empty()
    }

    /// Whether any patient has a row.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    fn weight_at(&self, idx: u32) -> Option<Kg> {
        self.weights
            .binary_search_by_key(&idx, |w| w.0)
            .ok()
            .map(|k| self.weights[k].1)
    }

    fn note_at(&self, idx: u32) -> Option<&str> {
        self.notes
            .binary_search_by_key(&idx, |n| n.0)
            .ok()
            .map(|k| &*self.notes[k].1)
    }
}

/// A schedule that cannot be made once the record is applied (a row dated 9999-12-31
/// re-projects the events after it past the last date the outputs can show), as a problem
/// on the row the re-projection runs from: the record's file, its line, field `date`.
pub fn schedule_problem(
    path: &Path,
    id: &str,
    log: &PatientLog,
    err: &crate::schedule::ScheduleError,
) -> Problem {
    use crate::schedule::ScheduleError;
    let row = log.latest_row();
    let (line, field, message) = match err {
        ScheduleError::AtRecordedWeight { line, .. } => (
            Some(*line as usize),
            "amount",
            format!("patient {id}: {err}"),
        ),
        ScheduleError::DateOutOfRange(_) => (
            row.map(|r| r.line as usize),
            "date",
            format!(
                "patient {id}: from {} on, the schedule re-projected from the record runs past the calendar: {err}; a typo in the date?",
                row.map_or_else(|| "this row".to_string(), |r| r.date.to_string())
            ),
        ),
        _ => (
            row.map(|r| r.line as usize),
            "date",
            format!("patient {id}: {err}"),
        ),
    };
    Problem::new(path, message).at(line).field(field)
}

/// Reads and checks a log against the trial and the roster. `as_of`: the day the record
/// is complete to (`None`: the latest date in the log; with no rows at all, the day before
/// the earliest start, so that every event is still planned).
pub fn read(
    path: &Path,
    trial: &Trial,
    roster: &Roster,
    as_of: Option<NaiveDate>,
) -> Result<Log, InputError> {
    parse(path, file_bytes(path)?, trial, roster, as_of, false)
}

/// As [`read`] for one patient's calendar: the rows of patients not on `roster` (the one
/// patient) are skipped rather than refused; the as-of date is still the whole log's.
pub fn read_for(
    path: &Path,
    trial: &Trial,
    roster: &Roster,
    as_of: Option<NaiveDate>,
) -> Result<Log, InputError> {
    parse(path, file_bytes(path)?, trial, roster, as_of, true)
}

fn file_bytes(path: &Path) -> Result<Vec<u8>, InputError> {
    let max = crate::limits::MAX_RECORD_BYTES;
    crate::limits::read_input(
        path,
        max,
        "an administration record",
        "3,000,000 rows take about 111 MB",
    )
    .map_err(|msg| InputError::one(Problem::new(path, msg)))
}

/// A log's header names as they are matched: trimmed, without a spreadsheet's byte-order
/// mark on the first.
pub fn header_names(headers: &csv::ByteRecord) -> Vec<String> {
    headers
        .iter()
        .enumerate()
        .map(|(k, h)| {
            let s = String::from_utf8_lossy(h);
            let s = if k == 0 {
                s.trim_start_matches('\u{feff}')
            } else {
                &s
            };
            s.trim().to_string()
        })
        .collect()
}

/// As [`read`], from the file's bytes; `path` names the input in messages.
pub fn parse(
    path: &Path,
    bytes: Vec<u8>,
    trial: &Trial,
    roster: &Roster,
    as_of: Option<NaiveDate>,
    others_skipped: bool,
) -> Result<Log, InputError> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(bytes.as_slice());
    let headers = rdr
        .byte_headers()
        .map_err(|e| {
            InputError::one(Problem::new(path, format!("cannot read the header: {e}")).at(Some(1)))
        })?
        .clone();
    let mut problems = Vec::new();
    let names = header_names(&headers);
    if names.iter().any(|n| !COLUMNS.contains(&n.as_str()))
        && let Some(hint) = crate::roster::other_separator(&headers, &COLUMNS)
    {
        return Err(InputError::one(Problem::new(path, hint).at(Some(1))));
    }
    problems.extend(crate::roster::twice_in_header(path, &names, &COLUMNS, &[]));
    let mut col = [usize::MAX; 7];
    for (k, name) in COLUMNS.iter().enumerate() {
        match names.iter().position(|h| h == name) {
            Some(i) => col[k] = i,
            None => problems.push(
                Problem::new(
                    path,
                    format!(
                        "missing column '{name}' (the header needs {})",
                        COLUMNS.join(",")
                    ),
                )
                .at(Some(1))
                .field(*name),
            ),
        }
    }
    for n in &names {
        if !COLUMNS.contains(&n.as_str()) {
            problems.push(
                Problem::new(
                    path,
                    format!(
                        "unknown column '{n}': dosesim would ignore it, so it is refused. A withdrawal or death is a row of its own (record = withdrawn or died); the columns are {}",
                        COLUMNS.join(",")
                    ),
                )
                .at(Some(1))
                .field(n.clone()),
            );
        }
    }
    InputError::check(std::mem::take(&mut problems))?;

    // Patient ids to roster indices: a hash lookup per row, where a binary search over a
    // million ids would cost twenty string comparisons.
    // (The Fx hash: ids are the roster's own, not an attacker's, and it is several times
    // faster than the default on short keys.)
    let ids: rustc_hash::FxHashMap<&str, u32> = roster
        .entries
        .iter()
        .enumerate()
        .map(|(i, e)| (&*e.id, i as u32))
        .collect();
    // Each row, checked on its own (in parallel slices of a large log); the checks across
    // rows come after.
    let header_end = rdr.position().byte() as usize;
    let offset = rdr.position().line() as usize - 1;
    drop(rdr);
    let body = &bytes[header_end.min(bytes.len())..];
    let cx = Context {
        path,
        trial,
        roster,
        ids: &ids,
        col,
        width: names.len(),
        others_skipped,
    };
    // A large log without quotes (the usual machine-written kind) is split at line ends
    // and its slices checked in parallel; anything else in one pass.
    let parts: Vec<Part> = if body.len() > 1 << 20 && !body.contains(&b'"') {
        use rayon::prelude::*;
        let n = rayon::current_num_threads().max(1) * 4;
        let mut cuts = vec![0usize];
        for k in 1..n {
            let at = (body.len() * k / n).max(*cuts.last().unwrap());
            match body[at..].iter().position(|&b| b == b'\n') {
                Some(p) => cuts.push(at + p + 1),
                None => break,
            }
        }
        cuts.push(body.len());
        cuts.dedup();
        let starts: Vec<(usize, usize, usize)> = {
            let mut lines = offset;
            let mut v = Vec::new();
            for w in cuts.windows(2) {
                v.push((w[0], w[1], lines));
                lines += body[w[0]..w[1]].iter().filter(|&&b| b == b'\n').count();
            }
            v
        };
        starts
            .into_par_iter()
            .map(|(a, b, off)| check_rows(&cx, &body[a..b], off))
            .collect()
    } else {
        vec![check_rows(&cx, body, offset)]
    };
    // The file's bytes are not needed again: a 3-million-row log is over 100 MB.
    drop(bytes);
    // The slices joined in file order.
    let mut rows: Vec<Record> = Vec::new();
    let mut row_patient: Vec<u32> = Vec::new();
    let mut weights: Vec<(usize, Kg)> = Vec::new();
    let mut notes: Vec<(usize, Box<str>)> = Vec::new();
    // Ids not on the roster, in order of first use: (id, first line, rows), found by a
    // hash lookup so that a record of a million such ids stays linear.
    let mut unknown: Vec<(String, usize, usize)> = Vec::new();
    let mut unknown_at: rustc_hash::FxHashMap<String, usize> = Default::default();
    let mut n_rows = 0usize;
    let mut latest_other: Option<NaiveDate> = None;
    let mut warnings: Vec<String> = Vec::new();
    let mut problems = crate::error::Capped::new();
    rows.reserve_exact(parts.iter().map(|p| p.rows.len()).sum());
    row_patient.reserve_exact(rows.capacity());
    for p in parts {
        let base = rows.len();
        rows.extend_from_slice(&p.rows);
        row_patient.extend_from_slice(&p.row_patient);
        weights.extend(p.weights.into_iter().map(|(k, w)| (base + k, w)));
        notes.extend(p.notes.into_iter().map(|(k, n)| (base + k, n)));
        for (id, line, n) in p.unknown {
            match unknown_at.get(&id) {
                Some(&k) => unknown[k].2 += n,
                None => {
                    unknown_at.insert(id.clone(), unknown.len());
                    unknown.push((id, line, n));
                }
            }
        }
        problems.extend(p.problems);
        problems.count_more(p.more);
        n_rows += p.n_rows;
        latest_other = latest_other.max(p.latest_other);
        warnings.extend(p.warnings);
    }
    drop(unknown_at);
    for (id, line, n) in &unknown {
        problems.push(
            Problem::new(
                path,
                format!(
                    "patient '{id}' is not on the roster ({n} row{}): a patient with records can never silently disappear; keep them on the roster and record 'withdrawn' (or 'died') instead of deleting the row",
                    if *n == 1 { "" } else { "s" }
                ),
            )
            .at(Some(*line))
            .field("patient_id"),
        );
    }

    drop(ids);
    let latest = rows.iter().map(|r| r.date).max().max(latest_other);
    // An --as-of far past the record (2099 typed for 2026) makes every event up to it
    // with nothing recorded overdue: said in words, with the record's latest date.
    if let Some(given) = as_of {
        let (latest_known, what) = match latest {
            Some(d) => (Some(d), "the record's latest date"),
            None => (
                roster.entries.iter().map(|e| e.start).max(),
                "the latest start on the roster (the record has no dated row)",
            ),
        };
        if let Some(l) = latest_known
            && (given - l).num_days() > FAR_PAST_OTHERS_DAYS
        {
            let days = (given - l).num_days();
            warnings.push(format!(
                "--as-of {given} is {days} days (about {} years) after {what}, {l}: every event up to it with nothing recorded counts as overdue; is the year right?",
                days / 365
            ));
        }
    }
    let as_of = match (as_of, latest) {
        (Some(d), _) => d,
        (None, Some(d)) => d,
        (None, None) => roster
            .entries
            .iter()
            .map(|e| e.start)
            .min()
            .and_then(|d| d.pred_opt())
            .unwrap_or_default(),
    };

    // Each patient's rows together (a counting sort by patient, file order kept), then
    // each patient's few rows in date order.
    let mut starts = vec![0u32; roster.entries.len() + 1];
    for &i in &row_patient {
        starts[i as usize + 1] += 1;
    }
    for k in 1..starts.len() {
        starts[k] += starts[k - 1];
    }
    let mut order = vec![0u32; rows.len()];
    let mut next = starts.clone();
    for (k, &i) in row_patient.iter().enumerate() {
        order[next[i as usize] as usize] = k as u32;
        next[i as usize] += 1;
    }
    drop(next);
    drop(row_patient);
    for i in 0..roster.entries.len() {
        let slice = &mut order[starts[i] as usize..starts[i + 1] as usize];
        if slice.len() > 1 {
            slice.sort_by_key(|&k| (rows[k as usize].date, k));
        }
    }
    let mut new_index = vec![0u32; rows.len()];
    for (new, &old) in order.iter().enumerate() {
        new_index[old as usize] = new as u32;
    }
    // The rows put in that order where they are (following each cycle of the
    // permutation), rather than copied: a second copy of millions of rows.
    let mut records = rows;
    let mut done = vec![false; records.len()];
    for start in 0..records.len() {
        if done[start] {
            continue;
        }
        let first = records[start];
        let mut at = start;
        loop {
            let from = order[at] as usize;
            done[at] = true;
            if from == start {
                records[at] = first;
                break;
            }
            records[at] = records[from];
            at = from;
        }
    }
    drop(done);
    drop(order);
    let mut weights: Vec<(u32, Kg)> = weights
        .into_iter()
        .map(|(k, w)| (new_index[k], w))
        .collect();
    weights.sort_by_key(|w| w.0);
    let mut notes: Vec<(u32, Box<str>)> =
        notes.into_iter().map(|(k, n)| (new_index[k], n)).collect();
    notes.sort_by_key(|n| n.0);
    drop(new_index);
    // A recorded weight far from the one before (99 typed in pounds for 45 kg) re-doses
    // every per-kg dose after it: warned about, with its line.
    if !weights.is_empty() {
        let mut w = 0;
        for (i, e) in roster.entries.iter().enumerate() {
            let mut previous = e.weight_kg;
            while w < weights.len() && (weights[w].0 as usize) < starts[i + 1] as usize {
                let (k, kg) = weights[w];
                let change = (kg.f64() - previous.f64()) / previous.f64() * 100.0;
                if change.abs() > BIG_WEIGHT_CHANGE_PCT {
                    // Whether any per-kg dose of the arm follows the recorded weight.
                    let follows = trial.arms[e.arm as usize].components.iter().any(|c| {
                        matches!(c.dose.amount, crate::model::DoseAmount::PerKg(_))
                            && c.dose.weight_basis.value == crate::model::WeightBasis::Current
                    });
                    let effect = if follows {
                        "per-kg doses after it change as much"
                    } else {
                        "no dose changes (the scenario doses at the screening weight), but check it"
                    };
                    warnings.push(format!(
                        "{}:{}: patient {}: weight {kg} kg is {change:+.0}% from {previous} kg: {effect} (a weight in pounds?)",
                        path.display(),
                        records[k as usize].line,
                        e.id
                    ));
                }
                previous = kg;
                w += 1;
            }
        }
    }

    // The latest date of the log and the one before it: a row alone far past every
    // other (2062 typed for 2026) would move the as-of date decades on.
    let (mut max1, mut count1, mut max2) = (None::<NaiveDate>, 0usize, None::<NaiveDate>);
    for r in &records {
        match max1 {
            Some(m) if r.date == m => count1 += 1,
            Some(m) if r.date > m => {
                max2 = Some(m);
                max1 = Some(r.date);
                count1 = 1;
            }
            Some(_) => max2 = max2.max(Some(r.date)),
            None => {
                max1 = Some(r.date);
                count1 = 1;
            }
        }
    }
    // (Rows of other patients, skipped when one patient's record is read, count too.)
    let far_alone = match (max1, max2.max(latest_other)) {
        (Some(a), Some(b)) if count1 == 1 && (a - b).num_days() > FAR_PAST_OTHERS_DAYS => {
            Some((a, b))
        }
        _ => None,
    };
    let plans: Vec<crate::schedule::Plan> = trial
        .arms
        .iter()
        .map(|a| crate::schedule::Plan::new(trial, a))
        .collect();

    // Checks across a patient's rows, over slices of the patients in parallel.
    use rayon::prelude::*;
    let across: Vec<(Vec<Problem>, Vec<String>)> = (0..roster.entries.len())
        .into_par_iter()
        .with_min_len(4096)
        .map(|i| {
            let rs = &records[starts[i] as usize..starts[i + 1] as usize];
            if rs.is_empty() {
                return (Vec::new(), Vec::new());
            }
            check_patient(
                path,
                trial,
                &plans[roster.entries[i].arm as usize],
                &roster.entries[i],
                rs,
                as_of,
                far_alone,
            )
        })
        .collect();
    for (found, warned) in across {
        for p in found {
            problems.push(p);
        }
        warnings.extend(warned);
    }
    // In line order, then "... and N more problems" last.
    problems.check(path)?;
    Ok(Log {
        path: path.to_path_buf(),
        as_of,
        rows: n_rows,
        warnings,
        records,
        starts,
        weights,
        notes,
    })
}

/// The checks across one patient's rows (in date order): nothing after --as-of, after
/// a withdrawal or death, or after the patient's schedule has ended; no occurrence
/// recorded twice; no row alone far past every other of the log. Warned about: an
/// occurrence recorded before an earlier one of the same item.
fn check_patient(
    path: &Path,
    trial: &Trial,
    plan: &crate::schedule::Plan,
    entry: &crate::roster::Entry,
    rs: &[Record],
    as_of: NaiveDate,
    far_alone: Option<(NaiveDate, NaiveDate)>,
) -> (Vec<Problem>, Vec<String>) {
    let mut found = Vec::new();
    let mut warned = Vec::new();
    let id = &entry.id;
    let arm = plan.arm;
    let name = |t: Target| match t {
        Target::Component(c) => arm.components[c as usize].id.as_str(),
        Target::Visit(v) => arm.visits[v as usize].id.as_str(),
    };
    let reach = plan.reach_end(entry.start);
    let follow_up_end = trial.follow_up.as_ref().and_then(|f| f.end(entry.start));
    // How late the doses given in `rows` ran behind their planned dates: under an anchor
    // the rest of the schedule runs as late.
    let drift_of = |rows: &[Record]| -> i64 {
        rows.iter()
            .filter(|p| p.kind == RecordKind::Given)
            .filter_map(|p| {
                let planned = plan.planned_date(p.target?, u32::from(p.occurrence), entry.start)?;
                Some((p.date - planned).num_days())
            })
            .max()
            .unwrap_or(0)
            .max(0)
    };
    let mut end: Option<&Record> = None;
    for (k, r) in rs.iter().enumerate() {
        let at = |field: &str, msg: String| {
            Problem::new(path, msg)
                .at(Some(r.line as usize))
                .field(field)
        };
        if r.date > as_of {
            found.push(at(
                "date",
                format!(
                    "{} is after --as-of {as_of}, the day the record is complete to",
                    r.date
                ),
            ));
        }
        // (A death or withdrawal within a follow-up the scenario states may come long
        // after the last dose.)
        let followed = r.kind.ends() && follow_up_end.is_some_and(|f| r.date <= f);
        if let Some((latest, before)) = far_alone
            && r.date == latest
            && !followed
        {
            found.push(at(
                "date",
                format!(
                    "{} is {} days after every other row of the record (the latest before it is {before}): a typo in the year? It would make every dose since then overdue",
                    r.date,
                    (latest - before).num_days()
                ),
            ));
        }
        // The days the doses given before this row ran late, worked out only for a row
        // past the schedule's planned end (rare): most logs never need them.
        let drift = match reach {
            Some(end) if r.date > end => drift_of(&rs[..k]),
            _ => 0,
        };
        if let Some(limit) = reach.and_then(|d| crate::timing::shift_days(d, drift)) {
            let limit = if r.kind.ends() {
                follow_up_end.map_or(limit, |f| f.max(limit))
            } else {
                limit
            };
            let checked = !r.kind.ends() || trial.follow_up.is_some();
            if checked && r.date > limit {
                let late = if drift > 0 {
                    format!(", and the {drift} days its doses ran late")
                } else {
                    String::new()
                };
                let follow = if r.kind.ends() && trial.follow_up.is_some() {
                    " and follow-up"
                } else {
                    ""
                };
                found.push(at(
                    "date",
                    format!(
                        "{} is after patient {id}'s schedule{follow} has ended ({limit}: the last event plus how far it may move{late}): a typo in the date?",
                        r.date
                    ),
                ));
            }
        }
        if let Some(e) = end
            && (r.date > e.date || r.kind.ends())
        {
            found.push(at(
                "date",
                format!(
                    "a '{}' row for patient {id} on {} after they {} on {} (line {}): nothing may be recorded after that",
                    r.kind.as_str(),
                    r.date,
                    if e.kind == RecordKind::Died {
                        "died"
                    } else {
                        "withdrew"
                    },
                    e.date,
                    e.line
                ),
            ));
        }
        if r.kind.ends() && end.is_none() {
            end = Some(r);
        }
        if let Some(t) = r.target {
            if let Some(first) = rs[..k]
                .iter()
                .filter(|p| p.target == Some(t) && p.occurrence == r.occurrence)
                .min_by_key(|p| p.line)
            {
                found.push(at(
                    "occurrence",
                    format!(
                        "{} occurrence {} of patient {id} is recorded twice (first on line {})",
                        name(t),
                        r.occurrence,
                        first.line
                    ),
                ));
            }
            // Rows come in date order: an earlier occurrence recorded on a later date.
            if let Some(earlier) = rs[k + 1..]
                .iter()
                .filter(|p| p.target == Some(t) && p.occurrence < r.occurrence && p.date > r.date)
                .min_by_key(|p| p.line)
            {
                warned.push(format!(
                    "{}:{}: patient {id}: {} {} is recorded {} on {}, before {} {} {} on {} (line {}): check the dates",
                    path.display(),
                    r.line,
                    name(t),
                    r.occurrence,
                    r.kind.as_str(),
                    r.date,
                    name(t),
                    earlier.occurrence,
                    earlier.kind.as_str(),
                    earlier.date,
                    earlier.line
                ));
            }
        }
    }
    (found, warned)
}

/// What one slice of a log's rows gave.
#[derive(Default)]
struct Part {
    rows: Vec<Record>,
    /// The patient of each row (as in the roster's entries), beside it, so that rows stay
    /// 24 bytes.
    row_patient: Vec<u32>,
    /// (index into `rows`, kg) of each weight row.
    weights: Vec<(usize, Kg)>,
    notes: Vec<(usize, Box<str>)>,
    /// Ids not on the roster: (id, first line, rows).
    unknown: Vec<(String, usize, usize)>,
    /// Where each id of `unknown` is in it.
    unknown_at: rustc_hash::FxHashMap<String, usize>,
    problems: Vec<Problem>,
    /// Problems beyond [`MAX_PROBLEMS`], counted.
    more: usize,
    n_rows: usize,
    /// The latest date of the rows skipped as another patient's (`read_for`).
    latest_other: Option<NaiveDate>,
    /// Weights outside the scenario's usual range, with their lines.
    warnings: Vec<String>,
}

impl Part {
    fn problem(&mut self, p: Problem) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(p);
        } else {
            self.more += 1;
        }
    }
}

/// What checking a row needs: the inputs, the columns' places and the roster's ids.
struct Context<'a> {
    path: &'a Path,
    trial: &'a Trial,
    roster: &'a Roster,
    ids: &'a rustc_hash::FxHashMap<&'a str, u32>,
    col: [usize; 7],
    /// Fields in the header: a row with more or fewer is refused whole.
    width: usize,
    others_skipped: bool,
}

/// Checks the rows of `body` (CSV rows without the header), whose first line is line
/// `offset + 1` of the file.
fn check_rows(cx: &Context, body: &[u8], offset: usize) -> Part {
    let Context {
        path,
        trial,
        roster,
        ids,
        col,
        width,
        others_skipped,
    } = *cx;
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(false)
        .from_reader(body);
    let mut part = Part::default();
    let mut record = csv::ByteRecord::new();
    loop {
        match rdr.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map(|p| offset + p.line() as usize);
                part.problem(Problem::new(path, format!("cannot read the row: {e}")).at(line));
                break;
            }
        }
        part.n_rows += 1;
        let line = record
            .position()
            .map_or(offset + part.n_rows, |p| offset + p.line() as usize);
        if record.iter().all(|c| c.iter().all(u8::is_ascii_whitespace)) {
            continue;
        }
        // A comma inside an unquoted value (2,000 mL; a withdrawal typed after the note)
        // shifts or adds fields: the row is refused whole rather than half read.
        if record.len() != width {
            part.problem(
                Problem::new(
                    path,
                    format!(
                        "{} fields where the header has {width}: a comma inside a value splits it (quote the value, or write 2000 not 2,000); a withdrawal or death is a row of its own",
                        record.len()
                    ),
                )
                .at(Some(line)),
            );
            continue;
        }
        let get = |k: usize| -> &str {
            record
                .get(col[k])
                .and_then(|c| std::str::from_utf8(c).ok())
                .unwrap_or("")
                .trim()
        };
        let problem =
            |field: &str, msg: String| Problem::new(path, msg).at(Some(line)).field(field);
        let id = get(0);
        let Some(&i) = ids.get(id) else {
            if others_skipped {
                if let Ok(d) = timing::parse_date(get(1)) {
                    part.latest_other = part.latest_other.max(Some(d));
                }
                continue;
            }
            match part.unknown_at.get(id) {
                Some(&k) => part.unknown[k].2 += 1,
                None => {
                    part.unknown_at.insert(id.to_string(), part.unknown.len());
                    part.unknown.push((id.to_string(), line, 1));
                }
            }
            continue;
        };
        let entry = &roster.entries[i as usize];
        let arm = &trial.arms[entry.arm as usize];
        let date = match timing::parse_date(get(1)) {
            Ok(d) => Some(d),
            Err(e) => {
                part.problem(problem("date", e));
                None
            }
        };
        let kind_text = get(2);
        let Some(kind) = RecordKind::parse(kind_text) else {
            part.problem(problem(
                "record",
                format!(
                    "unknown record '{kind_text}': use {}",
                    <RecordKind as strum::VariantArray>::VARIANTS
                        .iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
            continue;
        };
        let (comp_text, occ_text, amount_text) = (get(3), get(4), get(5));
        let mut target = None;
        let mut occurrence = 0u32;
        let mut amount = None;
        let mut weight = None;
        let mut ok = date.is_some();
        match kind {
            RecordKind::Given | RecordKind::Missed => {
                if let Some(c) = arm.components.iter().position(|c| c.id == comp_text) {
                    target = Some(Target::Component(c as u16));
                } else if let Some(v) = arm.visits.iter().position(|v| v.id == comp_text) {
                    target = Some(Target::Visit(v as u16));
                } else {
                    let known: Vec<&str> = arm
                        .components
                        .iter()
                        .map(|c| c.id.as_str())
                        .chain(arm.visits.iter().map(|v| v.id.as_str()))
                        .collect();
                    part.problem(problem(
                            "component",
                            if comp_text.is_empty() {
                                format!(
                                    "a '{}' row needs a component (arm {} has {})",
                                    kind.as_str(),
                                    arm.id,
                                    known.join(", ")
                                )
                            } else {
                                format!(
                                    "unknown component '{comp_text}' for patient {id} on arm {} (it has {})",
                                    arm.id,
                                    known.join(", ")
                                )
                            },
                        ),
                    );
                    ok = false;
                }
                let count = match target {
                    Some(Target::Component(c)) => arm.components[c as usize].timing.rule.count(),
                    _ => 1,
                };
                occurrence = if occ_text.is_empty() && count == 1 {
                    1
                } else {
                    match occ_text.parse::<u32>() {
                        Ok(k) if (1..=count).contains(&k) => k,
                        _ if target.is_none() => 0,
                        _ => {
                            part.problem(problem(
                                    "occurrence",
                                    format!(
                                        "occurrence '{occ_text}' is out of range: {comp_text} has occurrences 1 to {count}"
                                    ),
                                ),
                            );
                            ok = false;
                            0
                        }
                    }
                };
                if !amount_text.is_empty() {
                    if kind == RecordKind::Missed {
                        part.problem(problem(
                            "amount",
                            "a missed dose has no amount: leave it empty".into(),
                        ));
                        ok = false;
                    } else if let Some(t) = target {
                        match check_amount(trial, arm, t, amount_text) {
                            Ok(a) => amount = Some(a),
                            Err(msg) => {
                                part.problem(problem("amount", msg));
                                ok = false;
                            }
                        }
                    }
                }
            }
            RecordKind::Weight => {
                for (f, t) in [("component", comp_text), ("occurrence", occ_text)] {
                    if !t.is_empty() {
                        part.problem(problem(
                            f,
                            format!("a weight row has no {f}: leave it empty"),
                        ));
                        ok = false;
                    }
                }
                match amount_text.parse::<Kg>() {
                    Ok(w) if (Kg::HARD_MIN..=Kg::HARD_MAX).contains(&w) => {
                        weight = Some(w);
                        // A weight in pounds (150 for 68 kg) is within the hard limits:
                        // outside the scenario's usual range it is warned about.
                        if let Ok(Some(warning)) = crate::schedule::check_weight(w, &trial.weight) {
                            part.warnings.push(format!(
                                "{}:{line}: patient {id}: {warning}",
                                path.display()
                            ));
                        }
                    }
                    Ok(w) => {
                        part.problem(problem(
                            "amount",
                            format!(
                                "weight {w} kg is not a usable body weight (hard limits {}-{} kg)",
                                Kg::HARD_MIN,
                                Kg::HARD_MAX
                            ),
                        ));
                        ok = false;
                    }
                    Err(_) => {
                        part.problem(problem(
                            "amount",
                            format!(
                                "a weight row needs the weight in kg in amount, not '{amount_text}'"
                            ),
                        ));
                        ok = false;
                    }
                }
            }
            RecordKind::Withdrawn | RecordKind::Died => {
                for (f, t) in [
                    ("component", comp_text),
                    ("occurrence", occ_text),
                    ("amount", amount_text),
                ] {
                    if !t.is_empty() {
                        part.problem(problem(
                            f,
                            format!("a '{}' row has no {f}: leave it empty", kind.as_str()),
                        ));
                        ok = false;
                    }
                }
            }
        }
        let Some(date) = date.filter(|_| ok) else {
            continue;
        };
        let day1 = entry.start;
        if date < day1 {
            part.problem(problem(
                "date",
                format!("{date} is before patient {id}'s study day 1 ({day1})"),
            ));
            continue;
        }
        let note = get(6);
        if !note.is_empty() {
            part.notes.push((part.rows.len(), note.into()));
        }
        // Only a row kept has its weight kept (one dated before day 1 is refused above).
        if let Some(w) = weight {
            part.weights.push((part.rows.len(), w));
        }
        part.row_patient.push(i);
        part.rows.push(Record {
            date,
            line: line as u32,
            kind,
            target,
            occurrence: occurrence as u16,
            amount: amount.unwrap_or(f64::NAN),
        });
    }
    part
}

/// A given amount, checked against the scenario's limits for its product.
fn check_amount(
    trial: &Trial,
    arm: &crate::model::Arm,
    target: Target,
    text: &str,
) -> Result<f64, String> {
    let Target::Component(c) = target else {
        return Err("a visit has no amount: leave it empty".into());
    };
    let comp = &arm.components[c as usize];
    if comp.dose.amount == DoseAmount::None {
        return Err(format!(
            "{} is a procedure without a dose: leave amount empty",
            comp.id
        ));
    }
    let unit = trial.products[comp.product].unit;
    let x: f64 = text
        .parse()
        .ok()
        .filter(|x: &f64| x.is_finite())
        .ok_or_else(|| format!("'{text}' is not a number of {}", unit.as_str()))?;
    if x <= 0.0 {
        return Err(format!(
            "{text} {} is not a dose given: record 'missed' for a dose not given",
            unit.as_str()
        ));
    }
    let (lo, hi) = crate::scenario::plausible_dose(unit);
    if !(lo..=hi).contains(&x) {
        return Err(format!(
            "{} {} is outside the doses dosesim accepts ({lo:e} to {hi:e} {}): a typo in the exponent?",
            crate::format::shown(x),
            unit.as_str(),
            unit.as_str()
        ));
    }
    if let Some(max) = comp.dose.max_per_dose
        && x > max
    {
        return Err(format!(
            "{} {} is above the scenario's maximum of {} {} per dose",
            crate::format::shown(x),
            unit.as_str(),
            crate::format::shown(max),
            unit.as_str()
        ));
    }
    if unit == crate::model::Unit::Cells && x.fract() != 0.0 {
        return Err(format!("{text} is not a whole number of cells"));
    }
    if unit == crate::model::Unit::Ml && ((x * 100.0).round() - x * 100.0).abs() > 1e-9 {
        return Err(format!(
            "{text} mL has more than two decimals: give mL to 0.01"
        ));
    }
    Ok(x)
}

/// Where an event stands against the record.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Hash, strum::IntoStaticStr, strum::VariantArray,
)]
#[strum(serialize_all = "snake_case")]
pub enum Status {
    /// After the as-of date (or no record kept): still to come.
    #[default]
    Planned,
    /// Recorded as given (a visit: held).
    Given,
    /// Recorded as missed: it will not be given.
    Missed,
    /// After a withdrawal or death: it will not be given (one that was due before it and
    /// never recorded carries the code `not_given`).
    Cancelled,
    /// On or before the as-of date with nothing recorded: overdue.
    Due,
    /// A dose given late (or early) leaves it no day in its window that keeps its
    /// minimum gap: not to be prepared until someone records what was decided (given on
    /// a date, or missed).
    Held,
}

impl Status {
    /// Every status, in the order the report counts them.
    pub const ALL: &'static [Status] = <Status as strum::VariantArray>::VARIANTS;
    /// How many statuses there are.
    pub const COUNT: usize = Status::ALL.len();

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether the event is in the past of the record (anything but planned).
    pub fn is_recorded_or_due(self) -> bool {
        self != Status::Planned
    }
}

impl serde::Serialize for Status {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

bitflags::bitflags! {
    /// The codes of a [`Deviation`]: each is written as its name in lowercase (`dose_low`),
    /// in this order.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
    pub struct Code: u16 {
        const LATE = 1;
        const EARLY = 1 << 1;
        const OUTSIDE_WINDOW = 1 << 2;
        const DOSE_LOW = 1 << 3;
        const DOSE_HIGH = 1 << 4;
        const MISSED = 1 << 5;
        const OVERDUE = 1 << 6;
        const ORDER = 1 << 7;
        const WEIGHT_CHANGE = 1 << 8;
        /// Due before a death or withdrawal and never recorded: closed as not given.
        const NOT_GIVEN = 1 << 9;
        /// Held: a dose given before it leaves it no day in its window that keeps its
        /// minimum gap; someone has to decide.
        const HELD = 1 << 10;
    }
}

impl Code {
    /// How many codes there are.
    pub const COUNT: usize = Code::all().bits().count_ones() as usize;

    /// Every code with its name, in the order written.
    pub fn names() -> &'static [(Code, String)] {
        static NAMES: std::sync::OnceLock<Vec<(Code, String)>> = std::sync::OnceLock::new();
        NAMES.get_or_init(crate::format::lowercase_flag_names)
    }
}

/// How an event departs from the plan: a set of codes, each with its figure.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Deviation {
    codes: Code,
    /// Days from the date it was expected on (late > 0, early < 0).
    pub days: i32,
    /// Days from its planned date (anchored, before any closed-day move) when that is
    /// beyond the component's window.
    pub beyond: i32,
    /// Per cent from the planned amount.
    pub dose_pct: f64,
    /// Days from its date to the as-of date.
    pub overdue_days: i32,
    /// `weight_change`: per cent from the roster's weight, of the weight a dose was
    /// computed at (a dose row) or of the weight recorded (a weight row of
    /// deviations.csv); never from the weight recorded before it.
    pub weight_pct: f64,
    /// For `not_given`: the death or withdrawal that closed it.
    pub ended: Option<RecordKind>,
}

impl Deviation {
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    pub fn has(&self, code: Code) -> bool {
        self.codes.intersects(code)
    }

    pub fn set(&mut self, code: Code) {
        self.codes |= code;
    }

    /// Sets `weight_change` with its one figure: the per cent from the roster's weight
    /// (the weight the patient was enrolled at) to `weight`, the weight a dose was
    /// computed at or the weight a row records.
    pub fn set_weight_change(&mut self, roster: crate::model::Kg, weight: crate::model::Kg) {
        self.weight_pct = (weight.f64() - roster.f64()) / roster.f64() * 100.0;
        self.set(Code::WEIGHT_CHANGE);
    }

    /// The codes set, by name.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        Code::names()
            .iter()
            .filter(|(c, _)| self.has(*c))
            .map(|(_, n)| n.as_str())
    }

    /// Each code with its figure, `;`-separated: "late:+3d;dose_low:-15%".
    pub fn text(&self) -> String {
        let mut out = Vec::new();
        self.write_to(&mut out);
        String::from_utf8(out).expect("ASCII")
    }

    /// [`Deviation::text`] appended to `out` without allocating for the usual codes (the
    /// pharmacy stream writes one for every overdue row).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let mut num = itoa::Buffer::new();
        let mut days = |out: &mut Vec<u8>, x: i32, signed: bool| {
            if signed && x >= 0 {
                out.push(b'+');
            }
            out.extend_from_slice(num.format(x).as_bytes());
            out.push(b'd');
        };
        let pct = |out: &mut Vec<u8>, x: f64| {
            let t = crate::format::trim_decimals(x.abs(), 1);
            out.push(if x < 0.0 && t != "0" { b'-' } else { b'+' });
            out.extend_from_slice(t.as_bytes());
            out.push(b'%');
        };
        let mut first = true;
        for (code, name) in Code::names() {
            let code = *code;
            if !self.has(code) {
                continue;
            }
            if !first {
                out.push(b';');
            }
            first = false;
            out.extend_from_slice(name.as_bytes());
            match code {
                Code::LATE | Code::EARLY => {
                    out.push(b':');
                    days(out, self.days, true);
                }
                Code::OUTSIDE_WINDOW => {
                    out.push(b':');
                    days(out, self.beyond, true);
                }
                Code::DOSE_LOW | Code::DOSE_HIGH => {
                    out.push(b':');
                    pct(out, self.dose_pct);
                }
                Code::OVERDUE => {
                    out.push(b':');
                    days(out, self.overdue_days, false);
                }
                Code::WEIGHT_CHANGE => {
                    out.push(b':');
                    pct(out, self.weight_pct);
                }
                Code::NOT_GIVEN => {
                    if let Some(k) = self.ended {
                        out.push(b':');
                        out.extend_from_slice(k.as_str().as_bytes());
                    }
                }
                _ => {}
            }
        }
    }
}

impl serde::Serialize for Deviation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::{Duration, Instant};

    /// Rows naming patients not on the roster are gathered by id in linear time: a record
    /// of 160,000 such ids took 33 s, each looked for among those before it. Ten times the
    /// ids may take at most about twenty times as long (the fastest of three runs each).
    #[test]
    fn ids_not_on_the_roster_are_gathered_in_linear_time() {
        let trial = crate::scenario::load(Path::new("scenarios/nct01724398.toml")).unwrap();
        let roster = crate::roster::parse(
            Path::new("r.csv"),
            b"patient_id,arm,weight_kg,start_date\nP1,msc,60,2027-03-01\n".to_vec(),
            &trial,
        )
        .unwrap();
        let log = |n: usize| {
            let mut text =
                String::from("patient_id,date,record,component,occurrence,amount,note\n");
            for i in 0..n {
                text.push_str(&format!("X{i},2027-03-01,given,uc_msc,1,,\n"));
            }
            text.into_bytes()
        };
        let time = |n: usize| {
            let bytes = log(n);
            (0..3)
                .map(|_| {
                    let t = Instant::now();
                    let e = super::parse(
                        Path::new("log.csv"),
                        bytes.clone(),
                        &trial,
                        &roster,
                        None,
                        false,
                    )
                    .unwrap_err();
                    assert!(e.to_string().contains("is not on the roster"));
                    t.elapsed()
                })
                .min()
                .unwrap()
        };
        let small = time(3_000).max(Duration::from_millis(1));
        let large = time(30_000);
        assert!(
            large < small * 20,
            "3,000 ids: {small:?}; 30,000 ids: {large:?} (quadratic growth would be 100 times)"
        );
    }
}
