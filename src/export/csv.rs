//! The calendar as CSV: the [`super::COLUMNS`] header, one row per event.
//!
//! Numbers are plain digits (75000000, never 7.5e7); dates YYYY-MM-DD; empty cells where a
//! value does not apply. Text cells are made inert against spreadsheet formula injection.

use std::io::Write;

use super::{COLUMNS, Row, inert, trim_decimals};

/// The CSV cells of one row, in [`COLUMNS`] order.
pub fn record(r: &Row) -> [String; 22] {
    let opt = |v: Option<String>| v.unwrap_or_default();
    [
        inert(r.patient_id).into_owned(),
        inert(r.trial_id).into_owned(),
        inert(r.arm_id).into_owned(),
        r.date.to_string(),
        r.study_day.to_string(),
        r.weekday.to_string(),
        r.order_in_day.to_string(),
        r.kind.to_string(),
        inert(r.event).into_owned(),
        r.occurrence.to_string(),
        r.occurrences.to_string(),
        r.weight_kg.to_string(),
        opt(r.dose_per_kg.map(|x| x.to_string())),
        opt(r.dose.map(|a| a.plain())),
        r.dose_unit.unwrap_or_default().to_string(),
        opt(r.cumulative_dose.map(|a| a.plain())),
        opt(r.volume_ml.map(|v| trim_decimals(v, 2))),
        opt(r.window_start.map(|d| d.to_string())),
        opt(r.window_end.map(|d| d.to_string())),
        inert(&r.note).into_owned(),
        inert(r.product.unwrap_or_default()).into_owned(),
        inert(&r.assumed).into_owned(),
    ]
}

/// Writes a header and the rows.
pub fn write<'a, W: Write>(out: W, rows: impl IntoIterator<Item = &'a Row<'a>>) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(COLUMNS)?;
    for r in rows {
        w.write_record(record(r))?;
    }
    w.flush()?;
    Ok(())
}
