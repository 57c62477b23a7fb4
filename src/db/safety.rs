//! The record rules the record's reader does not hold, for a dose about to be recorded
//! given: a second dose of a component on one day, or one inside the component's minimum
//! gap. One function, called by `record add` ([`super::books::add_record`]) and by the
//! day's page ([`super::doses::give`]) inside their write, so both refuse the same doses
//! in the same words. And the web's rule for a dose given ([`given_off_sheet`]): on
//! `dosesim serve`, a dose becomes `given` only on the day's sheet, once prepared and
//! checked.

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

/// On the web (`dosesim serve`), a dose of a product (an infusion or an exchange: one
/// of the arms' components, not a visit) becomes `given` only on the day's sheet, after
/// it is prepared and checked ([`super::doses::give`]). A row typed on a page
/// (`before` `None`), or a correction of one (`before` the row corrected), that makes a
/// dose `given` which the row before did not give (a dose missed, a visit, another
/// component or occurrence) is refused, said of the field that makes it so. A given
/// dose's date, amount or note may still be corrected. The commands do not apply this
/// rule: a site may enter a paper record there. `values`: [`super::entry::RECORD_FIELDS`].
pub fn given_off_sheet(
    trial: &Trial,
    before: Option<&[String; 6]>,
    after: &[String; 6],
) -> Vec<Problem> {
    if !is_given(&after[1]) || !is_dose(trial, &after[2]) {
        return Vec::new();
    }
    let flag = match before {
        Some(b) if !is_given(&b[1]) => "--record",
        Some(b) if !b[2].trim().eq_ignore_ascii_case(after[2].trim()) => "--component",
        Some(b) if b[3].trim() != after[3].trim() => "--occurrence",
        Some(_) => return Vec::new(),
        None => "--record",
    };
    vec![Problem::flag(
        flag,
        format!(
            "a dose is recorded given on the day's sheet, after it is prepared and checked: open the day sheet for {}",
            after[0].trim()
        ),
    )]
}

/// A row's `record` that says given (in any letter case: the record's reader refuses
/// all but "given", and this rule must not let another through first).
fn is_given(record: &str) -> bool {
    record.trim().eq_ignore_ascii_case("given")
}

/// Whether `component` names a dosed component (not a visit) of one of the trial's arms.
fn is_dose(trial: &Trial, component: &str) -> bool {
    let c = component.trim();
    trial
        .arms
        .iter()
        .flat_map(|a| &a.components)
        .any(|x| x.id.eq_ignore_ascii_case(c))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row(date: &str, record: &str, component: &str, occurrence: &str) -> [String; 6] {
        [date, record, component, occurrence, "", ""].map(str::to_string)
    }

    /// A dose made given on the web without the day's sheet is refused, said of the field
    /// that makes it so; a given dose's date corrected, a visit held and a weight are not.
    #[test]
    fn a_dose_is_given_on_the_web_only_through_the_day_sheet() {
        let trial =
            crate::scenario::load(std::path::Path::new("scenarios/nct01724398.toml")).unwrap();
        let given = row("2026-11-28", "given", "pe", "1");
        let fields = |p: Vec<Problem>| -> Vec<String> {
            p.into_iter().map(|p| p.field.unwrap_or_default()).collect()
        };
        assert_eq!(fields(given_off_sheet(&trial, None, &given)), ["--record"]);
        let missed = row("2026-11-28", "missed", "pe", "1");
        let p = given_off_sheet(&trial, Some(&missed), &given);
        assert_eq!(p.len(), 1);
        assert!(
            p[0].message
                .ends_with("prepared and checked: open the day sheet for 2026-11-28"),
            "{}",
            p[0].message
        );
        let other = row("2026-11-28", "given", "uc_msc", "1");
        assert_eq!(
            fields(given_off_sheet(&trial, Some(&other), &given)),
            ["--component"]
        );
        let second = row("2026-11-28", "given", "pe", "2");
        assert_eq!(
            fields(given_off_sheet(&trial, Some(&second), &given)),
            ["--occurrence"]
        );
        let moved = row("2026-11-29", "Given", "PE", "1");
        assert!(given_off_sheet(&trial, Some(&given), &moved).is_empty());
        let upper = row("2026-11-28", "GIVEN", "pe", "1");
        assert_eq!(fields(given_off_sheet(&trial, None, &upper)), ["--record"]);
        let visit = row("2026-11-28", "given", "week48", "1");
        assert!(given_off_sheet(&trial, None, &visit).is_empty());
        let weight = row("2026-11-28", "weight", "", "");
        assert!(given_off_sheet(&trial, None, &weight).is_empty());
    }
}
