//! One dose from the preparation sheet to the record: prepared (with its lot or bag id),
//! checked by a second person who signs by entering their password again, then given or
//! missed. The two preparation steps are entries of the trial's `prep` book
//! ([`PREP_FIELDS`]: date, step, component, occurrence, amount, lot); the dose given or
//! missed is a row of its record, written and checked as `record add` writes one.
//!
//! **Where a rule lives.** What may be prepared is what the preparation sheet lists for
//! that date ([`crate::sheet::build`], the same placement `dosesim prep` uses); a dose the
//! record rules would make unsafe ([`unsafe_dose`]: a second dose of a component on one
//! day, or one inside its minimum gap) is refused here and by `record add` alike. The
//! record's reader refuses the rest (a dose recorded twice, a row after a death or
//! withdrawal), with its own words, inside the same write.

use std::collections::BTreeMap;

use anyhow::Result;
use chrono::NaiveDate;
use rustc_hash::FxHashSet;

use super::books::{self, New, Refused};
use super::entry::{Action, Book, Fields, PREP_FIELDS};
pub use super::safety::unsafe_dose;
use super::{Db, Filter, Head, Store, Writer};
use crate::cohort::Cohort;
use crate::error::{InputError, Problem};
use crate::inputs::Inputs;
use crate::model::Trial;
use crate::record::Target;
use crate::sheet::{Line, Request};

/// The step a preparation entry records.
pub const PREPARED: &str = "prepared";
pub const CHECKED: &str = "checked";

/// The source of a preparation entry.
pub const PREPARED_SOURCE: &str = "dosesim serve: prepared";

/// The source of a check: an electronic signature, with its meaning.
pub const SIGNED_SOURCE: &str = "dosesim serve: signed 'checked' (password entered again)";

/// The source of a record row written from the day's page.
pub const RECORD_SOURCE: &str = "dosesim serve";

// The prep book's fields, in the order this module writes them.
const _: () = assert!(PREP_FIELDS.len() == 6);

/// Which dose: a patient's component and occurrence.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DoseRef {
    pub patient: String,
    pub component: String,
    pub occurrence: u32,
}

impl DoseRef {
    /// "P4398-026 uc_msc 1".
    pub fn words(&self) -> String {
        format!("{} {} {}", self.patient, self.component, self.occurrence)
    }
}

/// A preparation step in effect: its entry, the date the dose is for, the amount (in the
/// product's unit), the lot, who and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub entry: i64,
    pub date: String,
    pub amount: String,
    pub lot: String,
    pub by: String,
    pub at: String,
}

/// How far a dose's preparation has come.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    pub prepared: Option<Step>,
    pub checked: Option<Step>,
}

/// The trial's preparation steps in effect (a correction in the place of what it
/// corrects, a void left out), by dose. A check counts only for the preparation it
/// signed ([`signs`]): voiding or correcting a preparation takes its check out of effect,
/// and the dose is to check again.
pub fn steps(db: &mut Db, trial_id: &str) -> Result<BTreeMap<DoseRef, Progress>> {
    db.read(|s| steps_in(s, trial_id))
}

/// [`steps`], read in the transaction of `s`.
pub fn steps_in(s: &mut dyn Store, trial_id: &str) -> Result<BTreeMap<DoseRef, Progress>> {
    let mut all = Vec::new();
    let mut superseded = FxHashSet::default();
    s.scan(&Filter::trial(trial_id).book(Book::Prep), &mut |e| {
        if let Some(id) = e.fields.supersedes {
            superseded.insert(id);
        }
        if e.fields.action() != Action::Void {
            all.push((e.id, e.fields.clone()));
        }
        Ok(())
    })?;
    all.sort_by_key(|(id, _)| *id);
    let mut prepared: BTreeMap<DoseRef, Step> = BTreeMap::new();
    let mut checks: Vec<(DoseRef, Step)> = Vec::new();
    for (id, f) in all.into_iter().filter(|(id, _)| !superseded.contains(id)) {
        let Some((dose, step)) = step_of(id, &f) else {
            continue;
        };
        match f.values[1].as_str() {
            PREPARED => {
                prepared.insert(dose, step);
            }
            CHECKED if f.source == SIGNED_SOURCE => checks.push((dose, step)),
            _ => {}
        }
    }
    let mut out: BTreeMap<DoseRef, Progress> = BTreeMap::new();
    for (dose, p) in prepared {
        let checked = checks
            .iter()
            .rev()
            .find(|(d, c)| *d == dose && signs(c, &p))
            .map(|(_, c)| c.clone());
        out.insert(
            dose,
            Progress {
                prepared: Some(p),
                checked,
            },
        );
    }
    Ok(out)
}

/// The dose and step of a preparation entry (`None` when its occurrence is not one).
fn step_of(id: i64, f: &Fields) -> Option<(DoseRef, Step)> {
    let v = &f.values;
    let dose = DoseRef {
        patient: f.patient_id.clone(),
        component: v.get(2)?.clone(),
        occurrence: v.get(3)?.parse().ok()?,
    };
    let step = Step {
        entry: id,
        date: v[0].clone(),
        amount: v.get(4)?.clone(),
        lot: v.get(5)?.clone(),
        by: f.entered_by.clone(),
        at: f.entered_at.clone(),
    };
    Some((dose, step))
}

/// Whether `check` is the signature of the preparation `prepared`: entered after it, by
/// another person, for the same date, amount and lot.
pub fn signs(check: &Step, prepared: &Step) -> bool {
    check.entry > prepared.entry
        && check.by != prepared.by
        && check.lot == prepared.lot
        && check.amount == prepared.amount
        && check.date == prepared.date
}

/// The dose's line on the preparation sheet for `date` (all sites), as `dosesim prep`
/// gives it, and its product's index; or why it is not to be prepared.
pub fn on_sheet(
    inputs: &Inputs,
    dose: &DoseRef,
    date: NaiveDate,
) -> Result<(Line, usize), InputError> {
    let cohort = Cohort::of(inputs)?;
    let request = Request {
        first: Some(date),
        last: Some(date),
        ..Request::default()
    };
    let sheet = crate::sheet::build(&cohort, &request);
    let is = |l: &Line| {
        l.patient_id == dose.patient
            && l.component_id == dose.component
            && l.occurrence == dose.occurrence
    };
    for d in &sheet.days {
        for b in &d.blocks {
            if let Some(l) = b.lines.iter().find(|l| is(l)) {
                return Ok((l.clone(), b.product));
            }
        }
        if d.held.iter().any(|(_, l)| is(l)) {
            return Err(InputError::one(Problem::flag(
                "--date",
                format!(
                    "{} is held on {date}: too close to the dose given before it; it is not to be prepared until someone records what was decided (given on a date, or missed)",
                    dose.words()
                ),
            )));
        }
    }
    let why = recorded_words(&cohort, dose).unwrap_or_else(|| {
        format!(
            "{} is not on the preparation sheet for {date} (as dosesim prep gives it): check the date, the patient and the dose",
            dose.words()
        )
    });
    Err(InputError::one(Problem::flag("--date", why)))
}

/// "... is already recorded as given on D (entry N)": when the record has the dose.
fn recorded_words(cohort: &Cohort, dose: &DoseRef) -> Option<String> {
    let log = cohort.log?;
    let roster = cohort.roster;
    let i = roster.entries.iter().position(|e| *e.id == *dose.patient)?;
    let arm = &cohort.trial.arms[roster.entries[i].arm as usize];
    let c = arm.components.iter().position(|c| c.id == dose.component)?;
    let r = log
        .patient(i as u32)
        .find(Target::Component(c as u16), dose.occurrence)
        .copied()?;
    Some(format!(
        "{} is already recorded as {} on {} (entry {}): a dose recorded is not prepared or recorded again; if that entry is wrong, correct it",
        dose.words(),
        r.kind.as_str(),
        r.date,
        r.line
    ))
}

/// Records the dose prepared, with its lot or bag id: refused unless the dose is on the
/// preparation sheet for `date`, not recorded given or missed, and not prepared already.
/// The amount is the sheet's dose, in the product's unit.
pub fn prepare(
    db: &mut Db,
    inputs: &Inputs,
    dose: &DoseRef,
    date: NaiveDate,
    lot: &str,
    by: &str,
) -> Result<(i64, Head), Refused> {
    let mut problems = lot_problems(lot);
    let found = on_sheet(inputs, dose, date);
    let amount = match &found {
        Ok((line, product)) => crate::format::Amount {
            value: line.dose,
            unit: inputs.trial.products[*product].unit,
        }
        .plain(),
        Err(e) => {
            problems.extend(e.problems.iter().cloned());
            String::new()
        }
    };
    InputError::check(problems)?;
    let trial_id = inputs.trial.id.clone();
    let values = [
        date.to_string(),
        PREPARED.to_string(),
        dose.component.clone(),
        dose.occurrence.to_string(),
        amount,
        lot.trim().to_string(),
    ];
    write(db, by, |w| {
        let progress = steps_in(w.store()?, &trial_id)?
            .remove(dose)
            .unwrap_or_default();
        if let Some(p) = &progress.prepared {
            InputError::check(vec![Problem::flag(
                "--lot",
                format!(
                    "{} is already prepared (by {} at {}, lot {}): it is not prepared twice",
                    dose.words(),
                    p.by,
                    time_words(&p.at),
                    p.lot
                ),
            )])?;
        }
        w.append(prep_fields(&trial_id, dose, values, PREPARED_SOURCE))
    })
}

/// Records the dose checked by a second person (whose password the caller has checked
/// again: an electronic signature meaning "checked"): refused when it is not prepared,
/// is checked already, the checker prepared it, or the lot typed is not the lot prepared.
pub fn check(
    db: &mut Db,
    trial_id: &str,
    dose: &DoseRef,
    lot_confirmed: &str,
    by: &str,
) -> Result<(i64, Head), Refused> {
    InputError::check(lot_problems(lot_confirmed))?;
    write(db, by, |w| {
        let progress = steps_in(w.store()?, trial_id)?
            .remove(dose)
            .unwrap_or_default();
        let Some(p) = progress.prepared else {
            return Err(not_prepared(dose).into());
        };
        let mut problems = Vec::new();
        if let Some(c) = &progress.checked {
            problems.push(Problem::flag(
                "--occurrence",
                format!(
                    "{} is already checked (by {} at {})",
                    dose.words(),
                    c.by,
                    time_words(&c.at)
                ),
            ));
        }
        if p.by == by {
            problems.push(Problem::flag(
                "--by",
                format!(
                    "{by} prepared {}: a second person checks it, not the one who prepared it",
                    dose.words()
                ),
            ));
        }
        if lot_confirmed.trim() != p.lot {
            problems.push(Problem::flag(
                "--lot",
                format!(
                    "the lot typed ({}) is not the lot prepared: read it again from the bag's label",
                    lot_confirmed.trim()
                ),
            ));
        }
        InputError::check(problems)?;
        let values = [
            p.date.clone(),
            CHECKED.to_string(),
            dose.component.clone(),
            dose.occurrence.to_string(),
            p.amount.clone(),
            p.lot.clone(),
        ];
        w.append(prep_fields(trial_id, dose, values, SIGNED_SOURCE))
    })
}

/// What was given, as typed on the day's page.
#[derive(Debug, Clone, Default)]
pub struct Given<'a> {
    /// The amount given, in the product's unit.
    pub amount: &'a str,
    /// HH:MM.
    pub time: &'a str,
    pub lot: &'a str,
    pub note: &'a str,
}

/// Records the dose given, on `date`: refused unless the dose is on the preparation
/// sheet for that date, its amount is given (a number, in the product's unit: stored as
/// typed, never left to mean "the planned dose"), and it was prepared and checked (in
/// effect, [`ready_to_give`]) from the lot given, as the sheet's dose now is. The
/// record's `given` row (its note "given at 10:40, lot L", then any note typed) is
/// written in one write, checked by [`unsafe_dose`] and with the whole record as `record
/// add` is. Gives the entry, the head and the record's warnings.
pub fn give(
    db: &mut Db,
    inputs: &Inputs,
    dose: &DoseRef,
    date: NaiveDate,
    g: &Given,
    by: &str,
) -> Result<(i64, Head, Vec<String>), Refused> {
    let trial = &inputs.trial;
    let found = on_sheet(inputs, dose, date);
    let unit = found.as_ref().ok().map(|(_, p)| trial.products[*p].unit);
    let mut problems = lot_problems(g.lot);
    let time = time_of_day(g.time);
    if let Err(p) = &time {
        problems.push(p.clone());
    }
    if g.amount.trim().is_empty() {
        problems.push(Problem::flag(
            "--amount",
            format!(
                "give the amount given, in {}: the dose prepared, or what was given if less",
                unit.map_or("the product's unit", |u| u.as_str())
            ),
        ));
    }
    problems.extend(books::date_not_ahead(&date.to_string(), "--date"));
    if let Err(e) = &found {
        problems.extend(e.problems.iter().cloned());
    }
    InputError::check(problems)?;
    let time = time.map_err(InputError::one)?;
    let (line, product) = found?;
    let lot = g.lot.trim();
    let mut note = format!("given at {time}, lot {lot}");
    if !g.note.trim().is_empty() {
        note = format!("{note}; {}", g.note.trim());
    }
    let values = [
        date.to_string(),
        "given".to_string(),
        dose.component.clone(),
        dose.occurrence.to_string(),
        g.amount.trim().to_string(),
        note,
    ];
    let sheet = crate::format::Amount {
        value: line.dose,
        unit: trial.products[product].unit,
    };
    record(db, trial, dose, values, by, |s| {
        let progress = steps_in(s, &trial.id)?.remove(dose).unwrap_or_default();
        Ok(ready_to_give(dose, &progress, lot, sheet))
    })
}

/// Why the dose is not to be given from `lot` now (none when it is): it is prepared and
/// checked, the check signed by another person for that preparation, the lot given the
/// lot prepared and checked, and the amount prepared the sheet's dose now (a
/// prescription changed since, a weight corrected say, calls for a new preparation).
pub fn ready_to_give(
    dose: &DoseRef,
    progress: &Progress,
    lot: &str,
    sheet: crate::format::Amount,
) -> Vec<Problem> {
    let (p, c) = match (&progress.prepared, &progress.checked) {
        (None, _) => return not_prepared(dose).problems,
        (Some(p), Some(c)) if signs(c, p) => (p, c),
        (Some(_), _) => return vec![not_checked(dose)],
    };
    let mut problems = Vec::new();
    if p.lot != lot || c.lot != lot {
        problems.push(Problem::flag(
            "--lot",
            format!(
                "the lot typed ({lot}) is not the lot prepared and checked ({}): give the dose from that bag, or record this one prepared and checked first",
                p.lot
            ),
        ));
    }
    if !same_amount(&p.amount, sheet.value) {
        let unit = sheet.unit.as_str();
        problems.push(Problem::flag(
            "--amount",
            format!(
                "the dose on the sheet is now {} {unit}; it was prepared as {} {unit} before the prescription changed: void the preparation and prepare again",
                sheet.plain(),
                p.amount
            ),
        ));
    }
    problems
}

/// Whether an amount prepared (as stored) is the sheet's dose `value`.
pub fn same_amount(prepared: &str, value: f64) -> bool {
    prepared
        .trim()
        .parse::<f64>()
        .is_ok_and(|x| (x - value).abs() <= value.abs() * 1e-12)
}

fn not_checked(dose: &DoseRef) -> Problem {
    Problem::flag(
        "--occurrence",
        format!(
            "{} is prepared but not checked: a second person checks it (and signs) before it is given",
            dose.words()
        ),
    )
}

/// A time of day typed as H:MM or HH:MM (0-23, 0-59), as HH:MM.
pub fn time_of_day(text: &str) -> Result<String, Problem> {
    let t = text.trim();
    let parsed = t.split_once(':').and_then(|(h, m)| {
        let digits = |s: &str, n: std::ops::RangeInclusive<usize>| {
            n.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
        };
        if !digits(h, 1..=2) || !digits(m, 2..=2) {
            return None;
        }
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60).then(|| format!("{h:02}:{m:02}"))
    });
    parsed.ok_or_else(|| {
        Problem::flag(
            "--time",
            format!(
                "'{t}' is not a time of day: give the time it was given as HH:MM, 24-hour (10:40, or 9:05)"
            ),
        )
    })
}

/// Records the dose missed on `date`, with the reason (required) as its note.
pub fn miss(
    db: &mut Db,
    trial: &Trial,
    dose: &DoseRef,
    date: NaiveDate,
    reason: &str,
    by: &str,
) -> Result<(i64, Head, Vec<String>), Refused> {
    let mut problems = books::date_not_ahead(&date.to_string(), "--date");
    if reason.trim().is_empty() {
        problems.push(Problem::flag(
            "--reason",
            "say why the dose was missed (kept as the record's note)",
        ));
    }
    InputError::check(problems)?;
    let values = [
        date.to_string(),
        "missed".to_string(),
        dose.component.clone(),
        dose.occurrence.to_string(),
        String::new(),
        reason.trim().to_string(),
    ];
    record(db, trial, dose, values, by, |_| Ok(Vec::new()))
}

/// Writes a record row from the day's page in one write: `first`'s problems, then
/// [`unsafe_dose`]'s, then the whole record checked after it.
fn record(
    db: &mut Db,
    trial: &Trial,
    dose: &DoseRef,
    values: [String; 6],
    by: &str,
    first: impl FnOnce(&mut dyn Store) -> Result<Vec<Problem>>,
) -> Result<(i64, Head, Vec<String>), Refused> {
    let label = db.label().to_string();
    let mut added = 0;
    let (warnings, head) = db
        .write(by, |w| {
            let mut problems = first(w.store()?)?;
            problems.extend(unsafe_dose(w.store()?, trial, &dose.patient, &values)?);
            InputError::check(problems)?;
            added = w.append(Fields {
                trial_id: trial.id.clone(),
                book: Some(Book::Record),
                action: Some(Action::Add),
                patient_id: dose.patient.clone(),
                values,
                source: RECORD_SOURCE.to_string(),
                ..Fields::default()
            })?;
            books::check_after(w, &label, trial, &New::Flags(added))
        })
        .map_err(refused)?;
    Ok((added, head, warnings))
}

/// A preparation entry's fields.
fn prep_fields(trial_id: &str, dose: &DoseRef, values: [String; 6], source: &str) -> Fields {
    Fields {
        trial_id: trial_id.to_string(),
        book: Some(Book::Prep),
        action: Some(Action::Add),
        patient_id: dose.patient.clone(),
        values,
        source: source.to_string(),
        ..Fields::default()
    }
}

/// One write of one entry: its id and the head after it.
fn write(
    db: &mut Db,
    by: &str,
    f: impl FnOnce(&mut Writer) -> Result<i64>,
) -> Result<(i64, Head), Refused> {
    db.write(by, f).map_err(refused)
}

/// The longest lot or bag id taken, in characters.
pub const LOT_MAX: usize = 64;

fn lot_problems(lot: &str) -> Vec<Problem> {
    let lot = lot.trim();
    let problem = if lot.is_empty() {
        "give the lot or bag id, as printed on the bag's label".to_string()
    } else if lot.chars().count() > LOT_MAX {
        format!(
            "a lot or bag id is at most {LOT_MAX} characters; this one has {}: read it again from the bag's label",
            lot.chars().count()
        )
    } else if lot.chars().any(char::is_control) {
        "a lot or bag id is printable characters only (no tab or line break): read it again from the bag's label".to_string()
    } else {
        return Vec::new();
    };
    vec![Problem::flag("--lot", problem)]
}

fn not_prepared(dose: &DoseRef) -> InputError {
    InputError::one(Problem::flag(
        "--occurrence",
        format!(
            "{} is not recorded as prepared: it is prepared (with its lot), then checked, before it is given",
            dose.words()
        ),
    ))
}

/// An entry's time ("2026-12-05T10:40:12.123456Z") as "2026-12-05 10:40 UTC".
pub fn time_words(at: &str) -> String {
    match (at.get(..10), at.get(11..16)) {
        (Some(d), Some(t)) => format!("{d} {t} UTC"),
        _ => at.to_string(),
    }
}

/// An error from inside a write, its bad input kept as such.
fn refused(e: anyhow::Error) -> Refused {
    match e.downcast::<InputError>() {
        Ok(i) => Refused::Input(i),
        Err(e) => Refused::Db(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Location, Open};
    use std::path::Path;

    fn setup() -> (tempfile::TempDir, Db, Trial) {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(&Location::Sqlite(dir.path().join("t.db")), Open::OrCreate).unwrap();
        let trial = crate::scenario::load(Path::new("scenarios/nct01724398.toml")).unwrap();
        let r = Path::new("scenarios/rosters/NCT01724398.csv");
        books::import_roster(&mut db, &trial, r, std::fs::read(r).unwrap(), "t").unwrap();
        let l = Path::new("scenarios/logs/NCT01724398.csv");
        books::import_record(&mut db, &trial, l, std::fs::read(l).unwrap(), "t").unwrap();
        (dir, db, trial)
    }

    fn given(date: &str, occurrence: &str) -> [String; 6] {
        [date, "given", "uc_msc", occurrence, "", ""].map(str::to_string)
    }

    /// P4398-024's uc_msc 2 was given on 2026-11-20 (a 5-day minimum gap): the same day
    /// and 3 days after are refused, 7 days after is not, and the same occurrence again
    /// is left to the reader ("recorded twice").
    #[test]
    fn a_second_dose_on_one_day_or_inside_the_gap_is_unsafe() {
        let (_dir, mut db, trial) = setup();
        let mut unsafe_of = |v: [String; 6]| {
            db.read(|s| unsafe_dose(s, &trial, "P4398-024", &v))
                .unwrap()
                .into_iter()
                .map(|p| p.message)
                .collect::<Vec<_>>()
        };
        let same = unsafe_of(given("2026-11-20", "3"));
        assert!(same[0].contains("on one day"), "{same:?}");
        let inside = unsafe_of(given("2026-11-23", "3"));
        assert!(inside[0].contains("3 days after"), "{inside:?}");
        assert!(unsafe_of(given("2026-11-27", "3")).is_empty());
        assert!(unsafe_of(given("2026-11-20", "2")).is_empty());
        let mut missed = given("2026-11-20", "3");
        missed[1] = "missed".into();
        assert!(unsafe_of(missed).is_empty());
    }

    /// The steps in effect: a void takes a preparation out, so the dose is to prepare
    /// again.
    #[test]
    fn a_voided_preparation_is_not_in_effect() {
        let (_dir, mut db, _trial) = setup();
        let dose = DoseRef {
            patient: "P4398-026".into(),
            component: "uc_msc".into(),
            occurrence: 1,
        };
        let values = ["2026-11-23", PREPARED, "uc_msc", "1", "7560000", "L1"].map(str::to_string);
        let (id, _) = db
            .write("pharm1", |w| {
                w.append(prep_fields("NCT01724398", &dose, values, PREPARED_SOURCE))
            })
            .unwrap();
        let p = steps(&mut db, "NCT01724398").unwrap();
        assert_eq!(p[&dose].prepared.as_ref().unwrap().lot, "L1");
        db.write("pharm1", |w| {
            w.append(Fields {
                action: Some(Action::Void),
                supersedes: Some(id),
                reason: "wrong bag".into(),
                ..prep_fields("NCT01724398", &dose, Default::default(), "test")
            })
        })
        .unwrap();
        assert!(!steps(&mut db, "NCT01724398").unwrap().contains_key(&dose));
        assert_eq!(
            time_words("2026-12-05T10:40:12.123456Z"),
            "2026-12-05 10:40 UTC"
        );
    }
    fn append(db: &mut Db, by: &str, fields: Fields) -> i64 {
        db.write(by, |w| w.append(fields)).unwrap().0
    }

    /// A check signs only the preparation before it, by another person, with its lot:
    /// a correction of the preparation (a new entry) takes the check out of effect, and
    /// so does a check corrected (no longer the signature itself).
    #[test]
    fn a_check_counts_only_for_the_preparation_it_signed() {
        let (_dir, mut db, _trial) = setup();
        let dose = DoseRef {
            patient: "P4398-026".into(),
            component: "uc_msc".into(),
            occurrence: 1,
        };
        let v = |step: &str, lot: &str| {
            ["2026-11-23", step, "uc_msc", "1", "7560000", lot].map(str::to_string)
        };
        let prep = |values| prep_fields("NCT01724398", &dose, values, PREPARED_SOURCE);
        let sign = |values| prep_fields("NCT01724398", &dose, values, SIGNED_SOURCE);
        let checked = |db: &mut Db| steps(db, "NCT01724398").unwrap()[&dose].checked.clone();
        let p = append(&mut db, "pharm1", prep(v(PREPARED, "L1")));
        append(&mut db, "pharm1", sign(v(CHECKED, "L1")));
        assert_eq!(checked(&mut db), None, "by the one who prepared it");
        append(&mut db, "pharm2", sign(v(CHECKED, "L2")));
        assert_eq!(checked(&mut db), None, "another lot");
        append(&mut db, "pharm2", prep(v(CHECKED, "L1")));
        assert_eq!(checked(&mut db), None, "not signed");
        let c = append(&mut db, "pharm2", sign(v(CHECKED, "L1")));
        assert_eq!(checked(&mut db).unwrap().entry, c);
        let fix = Fields {
            action: Some(Action::Correct),
            supersedes: Some(p),
            reason: "lot misread".into(),
            ..prep(v(PREPARED, "L1"))
        };
        let p2 = append(&mut db, "pharm1", fix);
        let now = steps(&mut db, "NCT01724398").unwrap()[&dose].clone();
        assert_eq!(now.prepared.unwrap().entry, p2);
        assert_eq!(now.checked, None, "the correction is to check again");
        let fix = Fields {
            action: Some(Action::Correct),
            supersedes: Some(c),
            reason: "typo".into(),
            source: "record correct".into(),
            ..sign(v(CHECKED, "L1"))
        };
        append(&mut db, "pharm2", fix);
        assert_eq!(
            checked(&mut db),
            None,
            "a corrected check is not a signature"
        );
    }

    /// `give`'s own checks: prepared, checked for that preparation, the lot given the
    /// lot prepared, the amount prepared the sheet's dose now.
    #[test]
    fn a_dose_is_given_only_as_prepared_and_checked() {
        let dose = DoseRef {
            patient: "P".into(),
            component: "uc_msc".into(),
            occurrence: 1,
        };
        let step = |entry, by: &str| Step {
            entry,
            date: "2026-11-23".into(),
            amount: "7560000".into(),
            lot: "L1".into(),
            by: by.into(),
            at: String::new(),
        };
        let sheet = |value| crate::format::Amount {
            value,
            unit: crate::model::Unit::Cells,
        };
        let ready = |p: Option<Step>, c: Option<Step>, lot: &str, dose_now: f64| {
            let progress = Progress {
                prepared: p,
                checked: c,
            };
            ready_to_give(&dose, &progress, lot, sheet(dose_now))
                .into_iter()
                .map(|p| p.message)
                .collect::<Vec<_>>()
                .join(" | ")
        };
        let (p, c) = (Some(step(1, "pharm1")), Some(step(2, "pharm2")));
        assert_eq!(ready(p.clone(), c.clone(), "L1", 7_560_000.0), "");
        assert!(ready(None, c.clone(), "L1", 7_560_000.0).contains("not recorded as prepared"));
        let same = Some(step(2, "pharm1"));
        assert!(ready(p.clone(), same, "L1", 7_560_000.0).contains("not checked"));
        let before = Some(step(0, "pharm2"));
        assert!(ready(p.clone(), before, "L1", 7_560_000.0).contains("not checked"));
        assert!(ready(p.clone(), c.clone(), "L2", 7_560_000.0).contains("not the lot prepared"));
        assert!(ready(p, c, "L1", 8_000_000.0).contains(
            "the dose on the sheet is now 8000000 cells; it was prepared as 7560000 cells"
        ));
    }

    #[test]
    fn a_time_is_h_mm_or_hh_mm_on_the_24_hour_clock() {
        assert_eq!(time_of_day(" 9:05 ").unwrap(), "09:05");
        assert_eq!(time_of_day("23:59").unwrap(), "23:59");
        assert_eq!(time_of_day("0:00").unwrap(), "00:00");
        for bad in [
            "9:5",
            "24:00",
            "12:60",
            "10.40",
            "1040",
            "",
            "+9:05",
            "10:40:00",
            "१०:४०",
        ] {
            let e = time_of_day(bad).unwrap_err();
            assert!(e.message.contains("is not a time of day"), "{bad}: {e}");
        }
        assert!(lot_problems(&"L".repeat(LOT_MAX)).is_empty());
        assert!(!lot_problems(&"L".repeat(LOT_MAX + 1)).is_empty());
        assert!(!lot_problems("L1\tL2").is_empty());
    }
}
