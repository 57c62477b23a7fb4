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

use std::path::Path;

use chrono::NaiveDate;

use crate::csv_in;
use crate::error::{InputError, Problem};
use crate::model::{DoseAmount, Kg, Trial};
pub use crate::recorded::{Code, Deviation, Log, PatientLog, Record, RecordKind, Status, Target};
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

/// A record file's bytes, or why it cannot be read (missing, too large).
pub fn file_bytes(path: &Path) -> Result<Vec<u8>, InputError> {
    let max = crate::limits::MAX_RECORD_BYTES;
    crate::limits::read_input(
        path,
        max,
        "an administration record",
        "3,000,000 rows take about 111 MB",
    )
    .map_err(|msg| InputError::one(Problem::new(path, msg)))
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
    use rayon::prelude::*;
    let header = csv_in::Header::read(path, &bytes)?;
    let col = columns(path, &header)?;
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
    let cx = Context {
        path,
        trial,
        roster,
        ids: &ids,
        col,
        width: header.len(),
        others_skipped,
    };
    // Each row, checked on its own (in parallel slices of a large log: see
    // [`csv_in::slices`]); the checks across rows come after.
    let parts: Vec<Part> = csv_in::slices(&bytes)
        .into_par_iter()
        .map(|s| check_rows(&cx, s))
        .collect();
    // The file's bytes are not needed again: a 3-million-row log is over 100 MB.
    drop(bytes);
    drop(ids);
    let Joined {
        rows,
        row_patient,
        weights,
        notes,
        n_rows,
        latest_other,
        mut warnings,
        mut problems,
    } = join(path, parts);
    let latest = rows.iter().map(|r| r.date).max().max(latest_other);
    warnings.extend(far_as_of(as_of, latest, roster));
    let as_of = as_of.or(latest).unwrap_or_else(|| {
        roster
            .entries
            .iter()
            .map(|e| e.start)
            .min()
            .and_then(|d| d.pred_opt())
            .unwrap_or_default()
    });
    let sorted = by_patient(roster.entries.len(), rows, row_patient, weights, notes);
    warnings.extend(weight_changes(path, trial, roster, &sorted));
    let far_alone = far_alone(&sorted.records, latest_other);
    for (found, warned) in across_patients(path, trial, roster, &sorted, as_of, far_alone) {
        found.into_iter().for_each(|p| problems.push(p));
        warnings.extend(warned);
    }
    // In line order, then "... and N more problems" last.
    problems.check(path)?;
    let Sorted {
        records,
        starts,
        weights,
        notes,
    } = sorted;
    Ok(Log {
        path: path.to_path_buf(),
        as_of,
        rows: n_rows,
        warnings,
        records,
        starts,
        weights,
        notes,
        entries: None,
    })
}

/// Where each of the log's [`COLUMNS`] is, the header checked: every column there, none
/// twice and no other.
fn columns(path: &Path, header: &csv_in::Header) -> Result<[usize; 7], InputError> {
    if header.has_other_than(&COLUMNS)
        && let Some(hint) = header.other_separator(&COLUMNS)
    {
        return Err(InputError::one(Problem::new(path, hint).at(Some(1))));
    }
    let mut problems = header.twice(path, &COLUMNS, &[]);
    let (col, missing) = header.columns(path, &COLUMNS);
    problems.extend(missing);
    for n in header.names() {
        if !COLUMNS.iter().any(|c| csv_in::name_is(n, c)) {
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
    InputError::check(problems)?;
    Ok(col)
}

/// The slices' rows joined in file order, with what they found.
struct Joined {
    rows: Vec<Record>,
    /// The patient of each row, beside it.
    row_patient: Vec<u32>,
    /// (index into `rows`, kg) of each weight row.
    weights: Vec<(usize, Kg)>,
    notes: Vec<(usize, Box<str>)>,
    n_rows: usize,
    latest_other: Option<NaiveDate>,
    warnings: Vec<String>,
    problems: crate::error::Capped,
}

/// The slices joined in file order; the rows naming patients not on the roster become
/// one problem an id.
fn join(path: &Path, parts: Vec<Part>) -> Joined {
    let n: usize = parts.iter().map(|p| p.rows.len()).sum();
    let mut j = Joined {
        rows: Vec::with_capacity(n),
        row_patient: Vec::with_capacity(n),
        weights: Vec::new(),
        notes: Vec::new(),
        n_rows: 0,
        latest_other: None,
        warnings: Vec::new(),
        problems: crate::error::Capped::new(),
    };
    // Ids not on the roster, in order of first use: (id, first line, rows), found by a
    // hash lookup so that a record of a million such ids stays linear.
    let mut unknown: Vec<(String, usize, usize)> = Vec::new();
    let mut unknown_at: rustc_hash::FxHashMap<String, usize> = Default::default();
    for p in parts {
        let base = j.rows.len();
        j.rows.extend_from_slice(&p.rows);
        j.row_patient.extend_from_slice(&p.row_patient);
        j.weights
            .extend(p.weights.into_iter().map(|(k, w)| (base + k, w)));
        j.notes
            .extend(p.notes.into_iter().map(|(k, n)| (base + k, n)));
        for (id, line, n) in p.unknown {
            match unknown_at.get(&id) {
                Some(&k) => unknown[k].2 += n,
                None => {
                    unknown_at.insert(id.clone(), unknown.len());
                    unknown.push((id, line, n));
                }
            }
        }
        j.problems.extend(p.problems);
        j.problems.count_more(p.more);
        j.n_rows += p.n_rows;
        j.latest_other = j.latest_other.max(p.latest_other);
        j.warnings.extend(p.warnings);
    }
    drop(unknown_at);
    for (id, line, n) in &unknown {
        j.problems.push(
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
    j
}

/// An --as-of far past the record (2099 typed for 2026) makes every event up to it with
/// nothing recorded overdue: said in words, with the record's latest date.
fn far_as_of(
    as_of: Option<NaiveDate>,
    latest: Option<NaiveDate>,
    roster: &Roster,
) -> Option<String> {
    let given = as_of?;
    let (latest_known, what) = match latest {
        Some(d) => (Some(d), "the record's latest date"),
        None => (
            roster.entries.iter().map(|e| e.start).max(),
            "the latest start on the roster (the record has no dated row)",
        ),
    };
    let l = latest_known?;
    let days = (given - l).num_days();
    (days > FAR_PAST_OTHERS_DAYS).then(|| {
        format!(
            "--as-of {given} is {days} days (about {} years) after {what}, {l}: every event up to it with nothing recorded counts as overdue; is the year right?",
            days / 365
        )
    })
}

/// A log's rows with each patient's together, in date order (file order on a date), and
/// the weights and notes by their rows' new places.
struct Sorted {
    records: Vec<Record>,
    /// Patient `i`'s rows are `records[starts[i]..starts[i + 1]]`.
    starts: Vec<u32>,
    weights: Vec<(u32, Kg)>,
    notes: Vec<(u32, Box<str>)>,
}

/// Each patient's rows together (a counting sort by patient, file order kept), then each
/// patient's few rows in date order.
fn by_patient(
    patients: usize,
    rows: Vec<Record>,
    row_patient: Vec<u32>,
    weights: Vec<(usize, Kg)>,
    notes: Vec<(usize, Box<str>)>,
) -> Sorted {
    let mut starts = vec![0u32; patients + 1];
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
    for i in 0..patients {
        let slice = &mut order[starts[i] as usize..starts[i + 1] as usize];
        if slice.len() > 1 {
            slice.sort_by_key(|&k| (rows[k as usize].date, k));
        }
    }
    let mut new_index = vec![0u32; rows.len()];
    for (new, &old) in order.iter().enumerate() {
        new_index[old as usize] = new as u32;
    }
    let mut records = rows;
    permute(&mut records, &order);
    drop(order);
    let mut weights: Vec<(u32, Kg)> = weights
        .into_iter()
        .map(|(k, w)| (new_index[k], w))
        .collect();
    weights.sort_by_key(|w| w.0);
    let mut notes: Vec<(u32, Box<str>)> =
        notes.into_iter().map(|(k, n)| (new_index[k], n)).collect();
    notes.sort_by_key(|n| n.0);
    Sorted {
        records,
        starts,
        weights,
        notes,
    }
}

/// The rows put in `order` (`records[at]` becomes the row at `order[at]`) where they are,
/// following each cycle of the permutation, rather than copied: a second copy of
/// millions of rows.
fn permute(records: &mut [Record], order: &[u32]) {
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
}

/// A recorded weight far from the one before (99 typed in pounds for 45 kg) re-doses
/// every per-kg dose after it: warned about, with its line.
fn weight_changes(path: &Path, trial: &Trial, roster: &Roster, sorted: &Sorted) -> Vec<String> {
    let Sorted {
        records,
        starts,
        weights,
        ..
    } = sorted;
    let mut warnings = Vec::new();
    if weights.is_empty() {
        return warnings;
    }
    let mut w = 0;
    for (i, e) in roster.entries.iter().enumerate() {
        let mut previous = e.weight_kg;
        while w < weights.len() && (weights[w].0 as usize) < starts[i + 1] as usize {
            let (k, kg) = weights[w];
            let change = (kg.f64() - previous.f64()) / previous.f64() * 100.0;
            if change.abs() > BIG_WEIGHT_CHANGE_PCT {
                let follows = follows_weight(trial, e.arm);
                warnings.push(format!(
                    "{}:{}: patient {}: {}",
                    path.display(),
                    records[k as usize].line,
                    e.id,
                    change_words(kg, previous, change, follows)
                ));
            }
            previous = kg;
            w += 1;
        }
    }
    warnings
}

/// Whether any per-kg dose of the arm follows the recorded weight.
fn follows_weight(trial: &Trial, arm: u16) -> bool {
    trial.arms[arm as usize].components.iter().any(|c| {
        matches!(c.dose.amount, crate::model::DoseAmount::PerKg(_))
            && c.dose.weight_basis.value == crate::model::WeightBasis::Current
    })
}

/// A recorded weight far from the one before, in words.
fn change_words(kg: Kg, previous: Kg, change: f64, follows: bool) -> String {
    let effect = if follows {
        "per-kg doses after it change as much"
    } else {
        "no dose changes (the scenario doses at the screening weight), but check it"
    };
    format!("weight {kg} kg is {change:+.0}% from {previous} kg: {effect} (a weight in pounds?)")
}

/// One patient's record warnings, each "line N: ...": a recorded weight outside the
/// scenario's usual range, or far from the one before (the warnings [`read`] gives, keyed
/// by patient for the sheets that print them beside the patient's doses).
pub fn patient_warnings(
    trial: &Trial,
    entry: &crate::roster::Entry,
    log: &PatientLog,
) -> Vec<String> {
    let follows = follows_weight(trial, entry.arm);
    let mut out = Vec::new();
    let mut previous = entry.weight_kg;
    for (_, kg, line) in log.weights() {
        if let Ok(Some(w)) = crate::schedule::check_weight(kg, &trial.weight) {
            out.push(format!("record line {line}: {w}"));
        }
        let change = (kg.f64() - previous.f64()) / previous.f64() * 100.0;
        if change.abs() > BIG_WEIGHT_CHANGE_PCT {
            out.push(format!(
                "record line {line}: {}",
                change_words(kg, previous, change, follows)
            ));
        }
        previous = kg;
    }
    out
}

/// The latest date of the log and the one before it, when that latest is one row alone
/// far past every other (2062 typed for 2026), which would move the as-of date decades
/// on. (Rows of other patients, skipped when one patient's record is read, count too.)
fn far_alone(
    records: &[Record],
    latest_other: Option<NaiveDate>,
) -> Option<(NaiveDate, NaiveDate)> {
    let (mut max1, mut count1, mut max2) = (None::<NaiveDate>, 0usize, None::<NaiveDate>);
    for r in records {
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
    match (max1, max2.max(latest_other)) {
        (Some(a), Some(b)) if count1 == 1 && (a - b).num_days() > FAR_PAST_OTHERS_DAYS => {
            Some((a, b))
        }
        _ => None,
    }
}

/// The checks across each patient's rows ([`check_patient`]), over slices of the patients
/// in parallel: (problems, warnings) a patient, in roster order.
fn across_patients(
    path: &Path,
    trial: &Trial,
    roster: &Roster,
    sorted: &Sorted,
    as_of: NaiveDate,
    far_alone: Option<(NaiveDate, NaiveDate)>,
) -> Vec<(Vec<Problem>, Vec<String>)> {
    use rayon::prelude::*;
    let plans: Vec<crate::schedule::Plan> = trial
        .arms
        .iter()
        .map(|a| crate::schedule::Plan::new(trial, a))
        .collect();
    let Sorted {
        records, starts, ..
    } = sorted;
    (0..roster.entries.len())
        .into_par_iter()
        .with_min_len(4096)
        .map(|i| {
            let rs = &records[starts[i] as usize..starts[i + 1] as usize];
            if rs.is_empty() {
                return (Vec::new(), Vec::new());
            }
            let entry = &roster.entries[i];
            let patient = PatientChecks::new(path, trial, &plans[entry.arm as usize], entry);
            patient.check(rs, as_of, far_alone)
        })
        .collect()
}

/// The checks across one patient's rows (in date order): nothing after --as-of, after
/// a withdrawal or death, or after the patient's schedule has ended; no occurrence
/// recorded twice; no row alone far past every other of the log. Warned about: an
/// occurrence recorded before an earlier one of the same item.
struct PatientChecks<'a> {
    path: &'a Path,
    trial: &'a Trial,
    plan: &'a crate::schedule::Plan<'a>,
    entry: &'a crate::roster::Entry,
    /// The last day the patient's schedule can reach, moves included.
    reach: Option<NaiveDate>,
    /// The end of the follow-up the scenario states, if any.
    follow_up_end: Option<NaiveDate>,
}

impl<'a> PatientChecks<'a> {
    fn new(
        path: &'a Path,
        trial: &'a Trial,
        plan: &'a crate::schedule::Plan<'a>,
        entry: &'a crate::roster::Entry,
    ) -> Self {
        PatientChecks {
            path,
            trial,
            plan,
            entry,
            reach: plan.reach_end(entry.start),
            follow_up_end: trial.follow_up.as_ref().and_then(|f| f.end(entry.start)),
        }
    }

    /// Every check of the patient's rows `rs`: (problems, warnings).
    fn check(
        &self,
        rs: &[Record],
        as_of: NaiveDate,
        far_alone: Option<(NaiveDate, NaiveDate)>,
    ) -> (Vec<Problem>, Vec<String>) {
        let mut found = Vec::new();
        let mut warned = Vec::new();
        let mut end: Option<&Record> = None;
        for (k, r) in rs.iter().enumerate() {
            let at = |field: &str, msg: String| {
                Problem::new(self.path, msg)
                    .at(Some(r.line as usize))
                    .field(field)
            };
            let dates = [
                Self::after_as_of(r, as_of),
                self.far_alone(r, far_alone),
                self.past_schedule(rs, k),
                self.after_end(r, end),
            ];
            found.extend(dates.into_iter().flatten().map(|msg| at("date", msg)));
            if r.kind.ends() && end.is_none() {
                end = Some(r);
            }
            found.extend(self.twice(rs, k).map(|msg| at("occurrence", msg)));
            warned.extend(self.out_of_order(rs, k));
        }
        (found, warned)
    }

    /// The id of what a row is about (a component or a visit).
    fn name(&self, t: Target) -> &str {
        let arm = self.plan.arm;
        match t {
            Target::Component(c) => arm.components[c as usize].id.as_str(),
            Target::Visit(v) => arm.visits[v as usize].id.as_str(),
        }
    }

    fn after_as_of(r: &Record, as_of: NaiveDate) -> Option<String> {
        (r.date > as_of).then(|| {
            format!(
                "{} is after --as-of {as_of}, the day the record is complete to",
                r.date
            )
        })
    }

    /// The row alone far past every other of the log.
    fn far_alone(&self, r: &Record, far_alone: Option<(NaiveDate, NaiveDate)>) -> Option<String> {
        // (A death or withdrawal within a follow-up the scenario states may come long
        // after the last dose.)
        let followed = r.kind.ends() && self.follow_up_end.is_some_and(|f| r.date <= f);
        let (latest, before) = far_alone?;
        (r.date == latest && !followed).then(|| {
            format!(
                "{} is {} days after every other row of the record (the latest before it is {before}): a typo in the year? It would make every dose since then overdue",
                r.date,
                (latest - before).num_days()
            )
        })
    }

    /// How late the doses given in `rows` ran behind their planned dates: under an anchor
    /// the rest of the schedule runs as late.
    fn drift_of(&self, rows: &[Record]) -> i64 {
        let (plan, start) = (self.plan, self.entry.start);
        rows.iter()
            .filter(|p| p.kind == RecordKind::Given)
            .filter_map(|p| {
                let planned = plan.planned_date(p.target?, u32::from(p.occurrence), start)?;
                Some((p.date - planned).num_days())
            })
            .max()
            .unwrap_or(0)
            .max(0)
    }

    /// Row `k` dated after the patient's schedule (and follow-up) has ended.
    fn past_schedule(&self, rs: &[Record], k: usize) -> Option<String> {
        let r = &rs[k];
        // The days the doses given before this row ran late, worked out only for a row
        // past the schedule's planned end (rare): most logs never need them.
        let drift = match self.reach {
            Some(end) if r.date > end => self.drift_of(&rs[..k]),
            _ => 0,
        };
        let limit = self
            .reach
            .and_then(|d| crate::timing::shift_days(d, drift))?;
        let limit = if r.kind.ends() {
            self.follow_up_end.map_or(limit, |f| f.max(limit))
        } else {
            limit
        };
        let checked = !r.kind.ends() || self.trial.follow_up.is_some();
        if !(checked && r.date > limit) {
            return None;
        }
        let late = if drift > 0 {
            format!(", and the {drift} days its doses ran late")
        } else {
            String::new()
        };
        let follow = if r.kind.ends() && self.trial.follow_up.is_some() {
            " and follow-up"
        } else {
            ""
        };
        Some(format!(
            "{} is after patient {}'s schedule{follow} has ended ({limit}: the last event plus how far it may move{late}): a typo in the date?",
            r.date, self.entry.id
        ))
    }

    /// A row after the patient's withdrawal or death (`end`), or a second one.
    fn after_end(&self, r: &Record, end: Option<&Record>) -> Option<String> {
        let e = end.filter(|e| r.date > e.date || r.kind.ends())?;
        Some(format!(
            "a '{}' row for patient {} on {} after they {} on {} (line {}): nothing may be recorded after that",
            r.kind.as_str(),
            self.entry.id,
            r.date,
            if e.kind == RecordKind::Died {
                "died"
            } else {
                "withdrew"
            },
            e.date,
            e.line
        ))
    }

    /// Row `k`'s occurrence recorded before, on an earlier date.
    fn twice(&self, rs: &[Record], k: usize) -> Option<String> {
        let r = &rs[k];
        let t = r.target?;
        let first = rs[..k]
            .iter()
            .filter(|p| p.target == Some(t) && p.occurrence == r.occurrence)
            .min_by_key(|p| p.line)?;
        Some(format!(
            "{} occurrence {} of patient {} is recorded twice (first on line {})",
            self.name(t),
            r.occurrence,
            self.entry.id,
            first.line
        ))
    }

    /// Rows come in date order: an earlier occurrence recorded on a later date than row
    /// `k`, warned about.
    fn out_of_order(&self, rs: &[Record], k: usize) -> Option<String> {
        let r = &rs[k];
        let t = r.target?;
        let earlier = rs[k + 1..]
            .iter()
            .filter(|p| p.target == Some(t) && p.occurrence < r.occurrence && p.date > r.date)
            .min_by_key(|p| p.line)?;
        Some(format!(
            "{}:{}: patient {}: {} {} is recorded {} on {}, before {} {} {} on {} (line {}): check the dates",
            self.path.display(),
            r.line,
            self.entry.id,
            self.name(t),
            r.occurrence,
            r.kind.as_str(),
            r.date,
            self.name(t),
            earlier.occurrence,
            earlier.kind.as_str(),
            earlier.date,
            earlier.line
        ))
    }
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

/// Checks the rows of a slice of the log, each on its own (its line counted by
/// [`csv_in`] from the row's byte offset).
fn check_rows(cx: &Context, slice: csv_in::Slice) -> Part {
    let mut part = Part::default();
    let mut rows = slice.rows();
    let mut record = csv::ByteRecord::new();
    while let Some(read) = rows.read(&mut record) {
        let line = match read {
            Ok(line) => line,
            Err(e) => {
                let msg = format!("cannot read the row: {}", e.error);
                part.problem(Problem::new(cx.path, msg).at(e.line));
                break;
            }
        };
        part.n_rows += 1;
        if csv_in::is_blank(&record) {
            continue;
        }
        // A comma inside an unquoted value (2,000 mL; a withdrawal typed after the note)
        // shifts or adds fields: the row is refused whole rather than half read.
        if record.len() != cx.width {
            part.problem(
                Problem::new(
                    cx.path,
                    format!(
                        "{} fields where the header has {}: a comma inside a value splits it (quote the value, or write 2000 not 2,000); a withdrawal or death is a row of its own",
                        record.len(),
                        cx.width
                    ),
                )
                .at(Some(line)),
            );
            continue;
        }
        let get = |k: usize| -> &str {
            record
                .get(cx.col[k])
                .and_then(|c| std::str::from_utf8(c).ok())
                .unwrap_or("")
                .trim()
        };
        let cells: [&str; 7] = std::array::from_fn(get);
        cx.row(&mut part, &cells, line);
    }
    part
}

/// What a given, missed, weight, withdrawn or died row's own fields gave.
#[derive(Default)]
struct Fields {
    target: Option<Target>,
    occurrence: u32,
    amount: Option<f64>,
    weight: Option<Kg>,
    /// Whether they are all usable.
    ok: bool,
}

impl Context<'_> {
    /// A problem on `line`, in `field`.
    fn at(&self, line: usize, field: &str, msg: String) -> Problem {
        Problem::new(self.path, msg).at(Some(line)).field(field)
    }

    /// Checks one row (its cells in [`COLUMNS`] order) and keeps it.
    fn row(&self, part: &mut Part, cells: &[&str; 7], line: usize) {
        let [id, date_text, kind_text, ..] = *cells;
        let Some(&i) = self.ids.get(id) else {
            self.not_on_roster(part, id, date_text, line);
            return;
        };
        let entry = &self.roster.entries[i as usize];
        let arm = &self.trial.arms[entry.arm as usize];
        let date = match timing::parse_date(date_text) {
            Ok(d) => Some(d),
            Err(e) => {
                part.problem(self.at(line, "date", e));
                None
            }
        };
        let Some(kind) = RecordKind::parse(kind_text) else {
            part.problem(self.at(
                line,
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
            return;
        };
        let fields = match kind {
            RecordKind::Given | RecordKind::Missed => {
                self.dose_fields(part, arm, kind, cells, line)
            }
            RecordKind::Weight => self.weight_fields(part, cells, line),
            RecordKind::Withdrawn | RecordKind::Died => self.end_fields(part, kind, cells, line),
        };
        let Some(date) = date.filter(|_| fields.ok) else {
            return;
        };
        let day1 = entry.start;
        if date < day1 {
            part.problem(self.at(
                line,
                "date",
                format!("{date} is before patient {id}'s study day 1 ({day1})"),
            ));
            return;
        }
        keep(part, i, date, kind, fields, cells[6], line);
    }

    /// A row of a patient not on the roster: counted by id (or, when one patient's record
    /// is read, skipped, its date kept).
    fn not_on_roster(&self, part: &mut Part, id: &str, date_text: &str, line: usize) {
        if self.others_skipped {
            if let Ok(d) = timing::parse_date(date_text) {
                part.latest_other = part.latest_other.max(Some(d));
            }
            return;
        }
        match part.unknown_at.get(id) {
            Some(&k) => part.unknown[k].2 += 1,
            None => {
                part.unknown_at.insert(id.to_string(), part.unknown.len());
                part.unknown.push((id.to_string(), line, 1));
            }
        }
    }

    /// A given or missed row: the component or visit, its occurrence and the amount given.
    fn dose_fields(
        &self,
        part: &mut Part,
        arm: &crate::model::Arm,
        kind: RecordKind,
        cells: &[&str; 7],
        line: usize,
    ) -> Fields {
        let [id, _, _, comp_text, occ_text, amount_text, _] = *cells;
        let mut f = Fields {
            ok: true,
            ..Fields::default()
        };
        f.target = self.target(part, arm, kind, id, comp_text, line);
        f.ok &= f.target.is_some();
        let count = match f.target {
            Some(Target::Component(c)) => arm.components[c as usize].timing.rule.count(),
            _ => 1,
        };
        f.occurrence = if occ_text.is_empty() && count == 1 {
            1
        } else {
            match occ_text.parse::<u32>() {
                Ok(k) if (1..=count).contains(&k) => k,
                _ if f.target.is_none() => 0,
                _ => {
                    part.problem(self.at(
                        line,
                        "occurrence",
                        format!(
                            "occurrence '{occ_text}' is out of range: {comp_text} has occurrences 1 to {count}"
                        ),
                    ));
                    f.ok = false;
                    0
                }
            }
        };
        if amount_text.is_empty() {
            return f;
        }
        if kind == RecordKind::Missed {
            let msg = "a missed dose has no amount: leave it empty".into();
            part.problem(self.at(line, "amount", msg));
            f.ok = false;
        } else if let Some(t) = f.target {
            match check_amount(self.trial, arm, t, amount_text) {
                Ok(a) => f.amount = Some(a),
                Err(msg) => {
                    part.problem(self.at(line, "amount", msg));
                    f.ok = false;
                }
            }
        }
        f
    }

    /// The component or visit a given or missed row names.
    fn target(
        &self,
        part: &mut Part,
        arm: &crate::model::Arm,
        kind: RecordKind,
        id: &str,
        comp_text: &str,
        line: usize,
    ) -> Option<Target> {
        if let Some(c) = arm.components.iter().position(|c| c.id == comp_text) {
            return Some(Target::Component(c as u16));
        }
        if let Some(v) = arm.visits.iter().position(|v| v.id == comp_text) {
            return Some(Target::Visit(v as u16));
        }
        let known: Vec<&str> = arm
            .components
            .iter()
            .map(|c| c.id.as_str())
            .chain(arm.visits.iter().map(|v| v.id.as_str()))
            .collect();
        part.problem(self.at(
            line,
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
        ));
        None
    }

    /// A weight row: the weight in kg in amount, nothing in component or occurrence.
    fn weight_fields(&self, part: &mut Part, cells: &[&str; 7], line: usize) -> Fields {
        let [id, _, _, comp_text, occ_text, amount_text, _] = *cells;
        let mut f = Fields {
            ok: true,
            ..Fields::default()
        };
        for (field, t) in [("component", comp_text), ("occurrence", occ_text)] {
            if !t.is_empty() {
                let msg = format!("a weight row has no {field}: leave it empty");
                part.problem(self.at(line, field, msg));
                f.ok = false;
            }
        }
        match amount_text.parse::<Kg>() {
            Ok(w) if (Kg::HARD_MIN..=Kg::HARD_MAX).contains(&w) => {
                f.weight = Some(w);
                // A weight in pounds (150 for 68 kg) is within the hard limits: outside
                // the scenario's usual range it is warned about.
                if let Ok(Some(warning)) = crate::schedule::check_weight(w, &self.trial.weight) {
                    part.warnings.push(format!(
                        "{}:{line}: patient {id}: {warning}",
                        self.path.display()
                    ));
                }
            }
            Ok(w) => {
                part.problem(self.at(
                    line,
                    "amount",
                    format!(
                        "weight {w} kg is not a usable body weight (hard limits {}-{} kg)",
                        Kg::HARD_MIN,
                        Kg::HARD_MAX
                    ),
                ));
                f.ok = false;
            }
            Err(_) => {
                part.problem(self.at(
                    line,
                    "amount",
                    format!("a weight row needs the weight in kg in amount, not '{amount_text}'"),
                ));
                f.ok = false;
            }
        }
        f
    }

    /// A withdrawn or died row: nothing in component, occurrence or amount.
    fn end_fields(
        &self,
        part: &mut Part,
        kind: RecordKind,
        cells: &[&str; 7],
        line: usize,
    ) -> Fields {
        let [_, _, _, comp_text, occ_text, amount_text, _] = *cells;
        let mut ok = true;
        for (field, t) in [
            ("component", comp_text),
            ("occurrence", occ_text),
            ("amount", amount_text),
        ] {
            if !t.is_empty() {
                let msg = format!("a '{}' row has no {field}: leave it empty", kind.as_str());
                part.problem(self.at(line, field, msg));
                ok = false;
            }
        }
        Fields {
            ok,
            ..Fields::default()
        }
    }
}

/// A checked row kept, with its weight and note beside it.
fn keep(
    part: &mut Part,
    patient: u32,
    date: NaiveDate,
    kind: RecordKind,
    fields: Fields,
    note: &str,
    line: usize,
) {
    if !note.is_empty() {
        part.notes.push((part.rows.len(), note.into()));
    }
    // Only a row kept has its weight kept (one dated before day 1 is refused above).
    if let Some(w) = fields.weight {
        part.weights.push((part.rows.len(), w));
    }
    part.row_patient.push(patient);
    part.rows.push(Record {
        date,
        line: line as u32,
        kind,
        target: fields.target,
        occurrence: fields.occurrence as u16,
        amount: fields.amount.unwrap_or(f64::NAN),
    });
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

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

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
        // The CPU time of this thread, not the wall clock: other work on the machine (two
        // cores shared with a build) stretches the wall clock of one size more than the other.
        let cpu = || {
            let mut t = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: `t` is a valid timespec for clock_gettime to write.
            assert_eq!(
                unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) },
                0
            );
            Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
        };
        let time = |bytes: &Vec<u8>| {
            let t = cpu();
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
            cpu() - t
        };
        // The two sizes take turns, so that other work on the machine weighs on both alike.
        let (a, b) = (log(3_000), log(30_000));
        let (mut small, mut large) = (Duration::MAX, Duration::MAX);
        for _ in 0..3 {
            small = small.min(time(&a));
            large = large.min(time(&b));
        }
        let small = small.max(Duration::from_millis(1));
        assert!(
            large < small * 20,
            "3,000 ids: {small:?}; 30,000 ids: {large:?} (quadratic growth would be 100 times)"
        );
    }
}
