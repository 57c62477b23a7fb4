//! The subjects: DM (demographics, the minimum dosesim knows) and SV (the planned visits
//! held, from the record: a day with a dose given or a study visit held).

use chrono::NaiveDate;

use super::dataset::{Column, Dataset, Value, int, key, text};
use super::{VisitPlan, armcd, study_day, t, usubjid};
use crate::exchange::{Export, Subject, is_infusion};
use crate::recorded::{RecordKind, Status};

const DM: &[Column] = &[
    key(text("STUDYID", "Study Identifier"), 1),
    text("DOMAIN", "Domain Abbreviation"),
    key(text("USUBJID", "Unique Subject Identifier"), 2),
    text("SUBJID", "Subject Identifier for the Study"),
    text("RFSTDTC", "Subject Reference Start Date/Time"),
    text("RFENDTC", "Subject Reference End Date/Time"),
    text("RFXSTDTC", "Date/Time of First Study Treatment"),
    text("RFXENDTC", "Date/Time of Last Study Treatment"),
    text("RFICDTC", "Date/Time of Informed Consent"),
    text("RFPENDTC", "Date/Time of End of Participation"),
    text("DTHDTC", "Date/Time of Death"),
    text("DTHFL", "Subject Death Flag"),
    text("SITEID", "Study Site Identifier"),
    int("AGE", "Age"),
    text("AGEU", "Age Units"),
    text("SEX", "Sex"),
    text("RACE", "Race"),
    text("ARMCD", "Planned Arm Code"),
    text("ARM", "Description of Planned Arm"),
    text("ACTARMCD", "Actual Arm Code"),
    text("ACTARM", "Description of Actual Arm"),
    text("ARMNRS", "Reason Arm and/or Actual Arm is Null"),
    text("ACTARMUD", "Description of Unplanned Actual Arm"),
    text("COUNTRY", "Country"),
];

const SV: &[Column] = &[
    key(text("STUDYID", "Study Identifier"), 1),
    text("DOMAIN", "Domain Abbreviation"),
    key(text("USUBJID", "Unique Subject Identifier"), 2),
    key(int("VISITNUM", "Visit Number"), 3),
    text("VISIT", "Visit Name"),
    text("SVPRESP", "Pre-Specified"),
    text("SVOCCUR", "Occurrence"),
    int("VISITDY", "Planned Study Day of Visit"),
    text("SVSTDTC", "Start Date/Time of Observation"),
    text("SVENDTC", "End Date/Time of Observation"),
    int("SVSTDY", "Study Day of Start of Observation"),
    int("SVENDY", "Study Day of End of Observation"),
];

/// COUNTRY for every subject: every bundled site is in China (ISO 3166-1 alpha-3).
pub const COUNTRY: &str = "CHN";
/// SITEID for a patient the roster gives no site.
pub const NO_SITE: &str = "UNASSIGNED";

/// DM and SV.
pub fn datasets(export: &Export, plan: &VisitPlan) -> Vec<Dataset> {
    vec![demographics(export), visits(export, plan)]
}

/// The dates of the infusions recorded as given (the EX rows).
fn given_infusions<'a>(s: &'a Subject) -> impl Iterator<Item = NaiveDate> + 'a {
    s.events
        .iter()
        .filter(|e| is_infusion(e) && e.status == Status::Given)
        .map(|e| e.date)
}

fn demographics(export: &Export) -> Dataset {
    let trial = export.trial;
    let mut d = Dataset::new("DM", "Demographics", DM);
    let date = |d: Option<NaiveDate>| d.map_or(Value::Null, |d| t(d.to_string()));
    for s in &export.subjects {
        let first = given_infusions(s).min();
        let last = given_infusions(s).max();
        let end = s.end.map(|(d, _)| d);
        let died = s
            .end
            .filter(|(_, k)| *k == RecordKind::Died)
            .map(|(d, _)| d);
        let (act_cd, act, nrs) = actual_arm(export, s);
        d.push(vec![
            t(&trial.id),
            t("DM"),
            t(usubjid(trial, s)),
            t(&s.patient.id),
            // The roster's start, unless the record is as of a date before it (not yet a fact).
            date(Some(s.patient.start).filter(|d| export.as_of.is_none_or(|a| *d <= a))),
            date(end),
            date(first),
            date(last),
            Value::Null,
            date(end),
            date(died),
            if died.is_some() { t("Y") } else { Value::Null },
            t(s.patient.site.as_deref().unwrap_or(NO_SITE)),
            Value::Null,
            Value::Null,
            // SEX is Required; dosesim's roster has no sex: "U" (Unknown, SEX C17998).
            t("U"),
            Value::Null,
            t(armcd(s.arm)),
            t(&s.arm.name),
            act_cd,
            act,
            nrs,
            Value::Null,
            t(COUNTRY),
        ]);
    }
    d
}

/// ACTARMCD, ACTARM, ARMNRS: only what the record says. With no record nothing is known of
/// treatment: all three empty. With one: a dose given, or an arm with no doses to give and a
/// start on or before the record's as-of date, is treated in the planned arm; a start on or
/// before it with no dose given (not yet, or withdrawn or died first) is "ASSIGNED, NOT
/// TREATED"; a start after it is not known yet: all three empty.
fn actual_arm(export: &Export, s: &Subject) -> (Value, Value, Value) {
    let none = (Value::Null, Value::Null, Value::Null);
    let Some(as_of) = export.as_of else {
        return none;
    };
    if s.patient.start > as_of {
        return none;
    }
    let given = s
        .events
        .iter()
        .any(|e| e.kind.is_dose() && e.status == Status::Given);
    if given || s.arm.components.is_empty() {
        (t(armcd(s.arm)), t(&s.arm.name), Value::Null)
    } else {
        (Value::Null, Value::Null, t("ASSIGNED, NOT TREATED"))
    }
}

fn visits(export: &Export, plan: &VisitPlan) -> Dataset {
    let trial = export.trial;
    let mut d = Dataset::new("SV", "Subject Visits", SV);
    for s in &export.subjects {
        // Each planned visit with a dose given or a study visit held: its first and last date.
        let mut held: Vec<(u32, NaiveDate, NaiveDate)> = Vec::new();
        for e in s.events.iter().filter(|e| e.status == Status::Given) {
            let Some(v) = plan.of_event(s.arm, e) else {
                continue;
            };
            match held.iter_mut().find(|(n, _, _)| *n == v.num) {
                Some((_, a, b)) => {
                    *a = (*a).min(e.date);
                    *b = (*b).max(e.date);
                }
                None => held.push((v.num, e.date, e.date)),
            }
        }
        held.sort();
        for (num, first, last) in held {
            let v = &plan.visits[num as usize - 1];
            let day = match v.when {
                super::When::Day(day) => Value::Int(i64::from(day)),
                super::When::Months { .. } => Value::Null,
            };
            let start = s.patient.start;
            d.push(vec![
                t(&trial.id),
                t("SV"),
                t(usubjid(trial, s)),
                Value::Int(i64::from(num)),
                t(&v.name),
                t("Y"),
                t("Y"),
                day,
                t(first.to_string()),
                t(last.to_string()),
                Value::Int(study_day(start, first)),
                Value::Int(study_day(start, last)),
            ]);
        }
    }
    d
}
