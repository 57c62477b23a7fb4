//! What the administration record says about a cohort: dose intensity per patient and per
//! arm, the count of each deviation, and the rows of deviations.csv. Pure functions over
//! calendars with the record applied (`schedule::Plan::actual`).
//!
//! Dose intensity is, per product, the delivered total divided by the planned total, in
//! per cent, over the doses due by the as-of date while the patient was on study (given,
//! missed, overdue, or due before a withdrawal or death and never given; a dose after it
//! is not due, nor one held for a decision); the planned total is each dose's
//! `planned_amount`, at the weight in force on its date ([`is_due`]).

use chrono::NaiveDate;

use crate::format::Amount;
use crate::model::{Arm, Kg, Trial};
use crate::record::{Code, Deviation, PatientLog, RecordKind, Status, Target};
use crate::schedule::{Event, Origin};
use crate::timing;

/// Delivered and planned totals of one product.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Intensity {
    pub delivered: f64,
    pub planned: f64,
    /// Doses due by the as-of date (given, missed or overdue).
    pub due: u64,
}

impl Intensity {
    /// Delivered over planned, in per cent; `None` before any dose is due.
    pub fn pct(&self) -> Option<f64> {
        (self.planned > 0.0).then(|| self.delivered / self.planned * 100.0)
    }

    fn add(&mut self, o: &Intensity) {
        self.delivered += o.delivered;
        self.planned += o.planned;
        self.due += o.due;
    }
}

/// Whether a dose counts as due in dose intensity: given, missed, overdue, or due before a
/// death or withdrawal and never given (`not_given`). A dose still planned, cancelled by
/// the end of the patient's course, or held for a decision is not (yet) due.
pub fn is_due(e: &Event) -> bool {
    match e.status {
        Status::Given | Status::Missed | Status::Due => true,
        Status::Cancelled => e.deviation.has(Code::NOT_GIVEN),
        Status::Planned | Status::Held => false,
    }
}

/// Per product (the trial's order), one patient's dose intensity.
pub fn patient_intensity(trial: &Trial, arm: &Arm, events: &[Event]) -> Vec<Intensity> {
    let mut out = vec![Intensity::default(); trial.products.len()];
    for e in events {
        let Some(p) = e.product(arm) else { continue };
        let t = &mut out[p];
        if is_due(e) {
            t.due += 1;
            t.planned += e.planned_amount.unwrap_or(0.0);
            if e.status == Status::Given {
                t.delivered += e.dose.unwrap_or(0.0);
            }
        }
    }
    out
}

/// A cohort's adherence per arm.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Adherence {
    pub arms: Vec<ArmAdherence>,
    /// Per product, over every arm.
    pub trial: Vec<Intensity>,
}

/// One arm's patients, taken together.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ArmAdherence {
    pub patients: usize,
    /// Per product.
    pub intensity: Vec<Intensity>,
    /// How many events carry each code, in [`Code::names`] order.
    pub deviations: [u64; Code::COUNT],
    /// How many events have each status, in [`Status::ALL`] order.
    pub statuses: [u64; Status::COUNT],
    pub withdrawn: usize,
    pub died: usize,
}

impl Adherence {
    pub fn new(trial: &Trial) -> Self {
        Adherence {
            arms: trial
                .arms
                .iter()
                .map(|_| ArmAdherence {
                    intensity: vec![Intensity::default(); trial.products.len()],
                    ..ArmAdherence::default()
                })
                .collect(),
            trial: vec![Intensity::default(); trial.products.len()],
        }
    }

    /// Adds one patient's calendar (with the record applied).
    pub fn add(
        &mut self,
        trial: &Trial,
        arm_index: usize,
        events: &[Event],
        log: &PatientLog,
    ) -> Vec<Intensity> {
        let arm = &trial.arms[arm_index];
        let own = patient_intensity(trial, arm, events);
        let a = &mut self.arms[arm_index];
        a.patients += 1;
        for (t, o) in a.intensity.iter_mut().zip(&own) {
            t.add(o);
        }
        for (t, o) in self.trial.iter_mut().zip(&own) {
            t.add(o);
        }
        for e in events {
            for (k, (code, _)) in Code::names().iter().enumerate() {
                if e.deviation.has(*code) {
                    a.deviations[k] += 1;
                }
            }
            let s = Status::ALL
                .iter()
                .position(|s| *s == e.status)
                .expect("every status is listed");
            a.statuses[s] += 1;
        }
        match log.end().map(|e| e.1) {
            Some(RecordKind::Withdrawn) => a.withdrawn += 1,
            Some(RecordKind::Died) => a.died += 1,
            _ => {}
        }
        own
    }

    /// "dose intensity: uc_msc 98.2%, plasma 95.8%", or `None` before any dose is due.
    pub fn words(&self, trial: &Trial) -> Option<String> {
        let parts: Vec<String> = trial
            .products
            .iter()
            .zip(&self.trial)
            .filter_map(|(p, t)| t.pct().map(|x| format!("{} {}", p.id, pct_text(x))))
            .collect();
        (!parts.is_empty()).then(|| format!("dose intensity {}", parts.join(", ")))
    }
}

/// A per cent to one decimal: "98.2%".
pub fn pct_text(x: f64) -> String {
    format!("{x:.1}%")
}

/// One row of deviations.csv, typed: the writer (`export::deviations`) formats it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviationRow {
    pub patient_id: String,
    pub arm_id: String,
    /// The component or visit id; "weight", "withdrawn" or "died" for a row of its own.
    pub component: String,
    pub occurrence: Option<u32>,
    pub planned_date: Option<NaiveDate>,
    pub date: NaiveDate,
    /// Where the schedule had it when it happened (the re-projected plan, after site
    /// calendar moves): for a dose given, its date less the days it was late.
    pub scheduled_date: Option<NaiveDate>,
    /// Days from the planned date (the day-1 grid, which windows are judged from) and
    /// from the scheduled date: the two figures a sponsor reads.
    pub days_from_planned: Option<i64>,
    pub days_from_scheduled: Option<i64>,
    /// In `unit`.
    pub planned_amount: Option<Quantity>,
    pub amount: Option<Quantity>,
    /// "cells", "mL" or "kg" (a weight row).
    pub unit: Option<&'static str>,
    pub deviation: Departure,
    pub note: String,
}

/// An amount of a deviations.csv row: of a product, or a weight.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Quantity {
    Dose(Amount),
    Weight(Kg),
}

impl Quantity {
    /// As the CSV prints it: plain digits in the product's unit, a weight as entered.
    pub fn plain(&self) -> String {
        match self {
            Quantity::Dose(a) => a.plain(),
            Quantity::Weight(kg) => kg.to_string(),
        }
    }
}

/// The deviation column of a row: an event's or weight's codes, or the end of the
/// patient's course (`withdrawn`, `died`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Departure {
    Codes(Deviation),
    Ended(RecordKind),
}

impl Departure {
    /// The column's text: "late:+3d;dose_low:-15%", "died".
    pub fn text(&self) -> String {
        match self {
            Departure::Codes(d) => d.text(),
            Departure::Ended(k) => k.as_str().to_string(),
        }
    }
}

/// One patient's rows of deviations.csv, in date order: every event with a deviation,
/// every weight, withdrawal and death recorded, and any other row with a note.
pub fn deviation_rows(
    trial: &Trial,
    arm: &Arm,
    patient_id: &str,
    roster_weight: Kg,
    events: &[Event],
    log: &PatientLog,
) -> Vec<DeviationRow> {
    let mut out: Vec<DeviationRow> = events
        .iter()
        .filter_map(|e| event_row(trial, arm, patient_id, e, log))
        .collect();
    out.extend(record_rows(arm, patient_id, roster_weight, log));
    out.sort_by_key(|r| r.date);
    out
}

/// An event's row: when it has a deviation, or its record row a note.
fn event_row(
    trial: &Trial,
    arm: &Arm,
    patient_id: &str,
    e: &Event,
    log: &PatientLog,
) -> Option<DeviationRow> {
    let (target, component) = match e.origin {
        Origin::Component(c) => (Target::Component(c as u16), arm.components[c].id.clone()),
        Origin::Visit(v) => (Target::Visit(v as u16), arm.visits[v].id.clone()),
        Origin::Background(_) => return None,
    };
    let rec = log.find(target, e.occurrence);
    let note = rec.and_then(|r| log.note(r)).unwrap_or_default();
    if e.deviation.is_empty() && note.is_empty() {
        return None;
    }
    let unit = e.product(arm).map(|p| trial.products[p].unit);
    let amount = |v: Option<f64>| {
        v.zip(unit)
            .map(|(value, unit)| Quantity::Dose(Amount { value, unit }))
    };
    // A dose given is `days` from where the schedule had it; anything else is shown
    // where the schedule has it.
    let late = if e.status == Status::Given {
        i64::from(e.deviation.days)
    } else {
        0
    };
    let scheduled = timing::shift_days(e.date, -late).unwrap_or(e.date);
    Some(DeviationRow {
        patient_id: patient_id.to_string(),
        arm_id: arm.id.clone(),
        component,
        occurrence: Some(e.occurrence),
        planned_date: Some(e.planned),
        date: e.date,
        scheduled_date: Some(scheduled),
        days_from_planned: Some((e.date - e.planned).num_days()),
        days_from_scheduled: Some(late),
        planned_amount: amount(e.planned_amount),
        amount: amount(if e.status == Status::Given {
            e.dose
        } else {
            None
        }),
        unit: unit.map(|u| u.as_str()),
        deviation: Departure::Codes(e.deviation),
        note: note.to_string(),
    })
}

/// The rows of the record's own: each weight, withdrawal and death.
fn record_rows(
    arm: &Arm,
    patient_id: &str,
    roster_weight: Kg,
    log: &PatientLog,
) -> Vec<DeviationRow> {
    let mut out = Vec::new();
    let weights: Vec<_> = log.weights().collect();
    for r in log.records {
        let note = log.note(r).unwrap_or_default().to_string();
        let (component, deviation, planned, amount, unit) = match r.kind {
            RecordKind::Weight => {
                let Some(&(_, kg, _)) = weights.iter().find(|w| w.2 == r.line) else {
                    continue;
                };
                // Measured from the roster's weight, as on the dose rows.
                let mut d = Deviation::default();
                d.set_weight_change(roster_weight, kg);
                (
                    "weight".to_string(),
                    Departure::Codes(d),
                    Some(Quantity::Weight(roster_weight)),
                    Some(Quantity::Weight(kg)),
                    Some("kg"),
                )
            }
            RecordKind::Withdrawn | RecordKind::Died => (
                r.kind.as_str().to_string(),
                Departure::Ended(r.kind),
                None,
                None,
                None,
            ),
            _ => continue,
        };
        out.push(DeviationRow {
            patient_id: patient_id.to_string(),
            arm_id: arm.id.clone(),
            component,
            occurrence: None,
            planned_date: None,
            date: r.date,
            scheduled_date: None,
            days_from_planned: None,
            days_from_scheduled: None,
            planned_amount: planned,
            amount,
            unit,
            deviation,
            note,
        });
    }
    out
}

/// What the record made of a cohort: adherence per arm, deviations.csv's rows.
pub struct RecordTally {
    pub adherence: Adherence,
    pub deviations: Vec<DeviationRow>,
    pub as_of: NaiveDate,
}
