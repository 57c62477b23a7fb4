//! The calendar as JSON, for programs: the patient, the trial and arm, the warnings that
//! apply (assumed values, an unusual weight), and the events with the CSV's fields,
//! numbers as numbers (whole cells as integers).

use serde::Serialize;

use super::Row;
use crate::model::Assumption;

#[derive(Serialize)]
struct Doc<'a> {
    trial_id: &'a str,
    trial_title: &'a str,
    arm_id: &'a str,
    arm_name: &'a str,
    patient_id: &'a str,
    weight_kg: f64,
    start_date: String,
    warnings: &'a [String],
    assumptions: &'a [Assumption],
    events: &'a [Row<'a>],
}

/// Everything the JSON document says about one patient's calendar.
pub struct Calendar<'a> {
    pub trial: &'a crate::model::Trial,
    pub arm: &'a crate::model::Arm,
    pub patient: &'a crate::schedule::Patient,
    pub warnings: &'a [String],
    pub assumptions: &'a [Assumption],
    pub rows: &'a [Row<'a>],
}

/// Pretty-printed JSON with a trailing newline.
pub fn to_string(c: &Calendar) -> String {
    let doc = Doc {
        trial_id: &c.trial.id,
        trial_title: &c.trial.title,
        arm_id: &c.arm.id,
        arm_name: &c.arm.name,
        patient_id: &c.patient.id,
        weight_kg: c.patient.weight_kg,
        start_date: c.patient.start.to_string(),
        warnings: c.warnings,
        assumptions: c.assumptions,
        events: c.rows,
    };
    let mut s = serde_json::to_string_pretty(&doc).expect("calendar serialises");
    s.push('\n');
    s
}
