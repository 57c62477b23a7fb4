//! deviations.csv: every departure from the plan the administration record shows, one row
//! each, for the trial's deviation log (see `adherence.rs` for what goes in it).

use std::io::Write;

use super::columns::{Col, col};
use crate::adherence::{DeviationRow, Quantity};
use crate::format::inert;

/// An optional cell: its text, or empty.
fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// An amount or weight as the CSV prints it, or empty.
fn quantity(q: Option<Quantity>) -> String {
    q.map(|q| q.plain()).unwrap_or_default()
}

/// deviations.csv's columns, each named beside its cell.
pub const COLUMNS: [Col<DeviationRow>; 14] = [
    col("patient_id", |r| inert(&r.patient_id).into_owned()),
    col("arm_id", |r| inert(&r.arm_id).into_owned()),
    col("component", |r| inert(&r.component).into_owned()),
    col("occurrence", |r| opt(r.occurrence)),
    col("planned_date", |r| opt(r.planned_date)),
    col("date", |r| r.date.to_string()),
    col("scheduled_date", |r| opt(r.scheduled_date)),
    col("days_from_planned", |r| opt(r.days_from_planned)),
    col("days_from_scheduled", |r| opt(r.days_from_scheduled)),
    col("planned_amount", |r| quantity(r.planned_amount)),
    col("amount", |r| quantity(r.amount)),
    col("unit", |r| r.unit.unwrap_or_default().to_string()),
    col("deviation", |r| r.deviation.text()),
    col("note", |r| inert(&r.note).into_owned()),
];

/// Writes the header and `rows` (already in patient, then date order).
pub fn write_csv(rows: &[DeviationRow], out: impl Write) -> csv::Result<()> {
    super::columns::write_csv(out, &COLUMNS, rows)
}
