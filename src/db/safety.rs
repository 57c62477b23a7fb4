//! The record rules the record's reader does not hold, for a dose about to be recorded
//! given: a second dose of a component on one day, or one inside the component's minimum
//! gap. One function, called by `record add` ([`super::books::add_record`]) and by the
//! day's page ([`super::doses::give`]) inside their write, so both refuse the same doses
//! in the same words.

use anyhow::Result;
use chrono::NaiveDate;
use rustc_hash::FxHashSet;

use super::{Action, Book, Filter, Store};
use crate::error::Problem;
use crate::model::Trial;

/// The record rules the record's reader does not hold, for a row about to be added
/// (`values`: [`super::entry::RECORD_FIELDS`]): a dose given the same day as another of
/// the same component, or inside the component's minimum gap
/// (`timing.min_gap_days`) from one. A dose recorded twice, and a row after a death or
/// withdrawal, are the reader's (`books::check_after`). Reads the patient's entries in
/// effect in the transaction of `s`.
pub fn unsafe_dose(
    s: &mut dyn Store,
    trial: &Trial,
    patient: &str,
    values: &[String; 6],
) -> Result<Vec<Problem>> {
    let Ok(date) = crate::timing::parse_date(values[0].trim()) else {
        return Ok(Vec::new());
    };
    let component = values[2].trim();
    if values[1].trim() != "given" || component.is_empty() {
        return Ok(Vec::new());
    }
    let (arm, given) = patient_doses(s, &trial.id, patient, component)?;
    let Some(comp) = trial
        .arms
        .iter()
        .find(|a| a.id == arm)
        .and_then(|a| a.components.iter().find(|c| c.id == component))
    else {
        return Ok(Vec::new());
    };
    let gap = comp
        .timing
        .closed_days
        .min_gap_days
        .as_ref()
        .map_or(0, |g| g.value);
    let mut problems = Vec::new();
    // The same occurrence again is the reader's "recorded twice".
    let this = values[3].trim();
    for (entry, d, occurrence) in given.into_iter().filter(|g| g.2 != this) {
        let days = (date - d).num_days();
        if days == 0 {
            problems.push(Problem::flag(
                "--date",
                format!(
                    "patient {patient} was already given {component} on {d} (occurrence {occurrence}, entry {entry}): a second dose of a component on one day is refused; if that entry is wrong, correct it"
                ),
            ));
        } else if days.unsigned_abs() < u64::from(gap) {
            problems.push(Problem::flag(
                "--date",
                format!(
                    "{date} is {} day{} {} {component} occurrence {occurrence} given on {d} (entry {entry}): inside the component's minimum gap of {gap} days (timing.min_gap_days), a dose is unsafe; if a date is wrong, correct that entry",
                    days.abs(),
                    if days.abs() == 1 { "" } else { "s" },
                    if days > 0 { "after" } else { "before" },
                ),
            ));
        }
    }
    Ok(problems)
}

/// A dose given in the record: (entry, date, occurrence as typed).
type GivenRow = (i64, NaiveDate, String);

/// The patient's arm (the roster entry in effect) and their `component` doses given in
/// the record in effect: (entry, date, occurrence).
fn patient_doses(
    s: &mut dyn Store,
    trial_id: &str,
    patient: &str,
    component: &str,
) -> Result<(String, Vec<GivenRow>)> {
    let filter = Filter {
        trial: Some(trial_id.to_string()),
        patient: Some(patient.to_string()),
        ..Filter::default()
    };
    let mut entries = Vec::new();
    let mut superseded = FxHashSet::default();
    s.scan(&filter, &mut |e| {
        if let Some(id) = e.fields.supersedes {
            superseded.insert(id);
        }
        if e.fields.action() != Action::Void {
            entries.push((e.id, e.fields.clone()));
        }
        Ok(())
    })?;
    let mut arm = String::new();
    let mut given = Vec::new();
    for (id, f) in entries.iter().filter(|(id, _)| !superseded.contains(id)) {
        match f.book() {
            Book::Roster => arm.clone_from(&f.values[0]),
            Book::Record if f.values[1] == "given" && f.values[2] == component => {
                if let Ok(d) = crate::timing::parse_date(&f.values[0]) {
                    given.push((*id, d, f.values[3].clone()));
                }
            }
            _ => {}
        }
    }
    Ok((arm, given))
}
