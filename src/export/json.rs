//! The calendar as JSON, for programs: the patient, the trial and arm, the arm's rules,
//! the follow-up, the warnings that apply (assumed values, an unusual weight), and the
//! events with the CSV's fields, numbers as numbers (whole cells as integers, the weight
//! with exactly the digits entered).

use serde::Serialize;

use super::{Calendar, Exporter, Row};
use crate::model::{Assumption, Kg, Provenance};

#[derive(Serialize)]
struct Doc<'a> {
    trial_id: &'a str,
    trial_title: &'a str,
    arm_id: &'a str,
    arm_name: &'a str,
    /// Rules for the whole arm (a stopping rule, say), in the record's words.
    arm_notes: &'a [String],
    patient_id: &'a str,
    weight_kg: Kg,
    start_date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    follow_up: Option<FollowUp<'a>>,
    warnings: &'a [String],
    assumptions: &'a [Assumption],
    events: &'a [Row<'a>],
}

#[derive(Serialize)]
struct FollowUp<'a> {
    months: u32,
    /// The last day of follow-up: `months` calendar months after study day 1.
    end_date: Option<String>,
    #[serde(flatten)]
    provenance: &'a Provenance,
}

pub struct Json;

impl Exporter for Json {
    /// Pretty-printed JSON with a trailing newline.
    fn render(&self, c: &Calendar) -> anyhow::Result<Vec<u8>> {
        let doc = Doc {
            trial_id: &c.trial.id,
            trial_title: &c.trial.title,
            arm_id: &c.arm.id,
            arm_name: &c.arm.name,
            arm_notes: &c.arm.notes,
            patient_id: &c.patient.id,
            weight_kg: c.patient.weight_kg,
            start_date: c.patient.start.to_string(),
            follow_up: c.trial.follow_up.as_ref().map(|f| FollowUp {
                months: f.months,
                end_date: f.end(c.patient.start).map(|d| d.to_string()),
                provenance: &f.provenance,
            }),
            warnings: c.warnings,
            assumptions: c.assumptions,
            events: c.rows,
        };
        let mut s = serde_json::to_vec_pretty(&doc)?;
        s.push(b'\n');
        Ok(s)
    }
}
