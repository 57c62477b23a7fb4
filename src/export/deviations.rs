//! deviations.csv: every departure from the plan the administration record shows, one row
//! each, for the trial's deviation log (see `adherence.rs` for what goes in it).

use std::io::Write;

use crate::adherence::{DEVIATION_COLUMNS, DeviationRow};
use crate::format::inert;

/// Writes the header and `rows` (already in patient, then date order).
pub fn write_csv(rows: &[DeviationRow], out: impl Write) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(DEVIATION_COLUMNS)?;
    for r in rows {
        w.write_record([
            inert(&r.patient_id).as_ref(),
            inert(&r.arm_id).as_ref(),
            inert(&r.component).as_ref(),
            &r.occurrence.map(|o| o.to_string()).unwrap_or_default(),
            &r.planned_date.map(|d| d.to_string()).unwrap_or_default(),
            &r.date.to_string(),
            &r.scheduled_date.map(|d| d.to_string()).unwrap_or_default(),
            &r.days_from_planned
                .map(|d| d.to_string())
                .unwrap_or_default(),
            &r.days_from_scheduled
                .map(|d| d.to_string())
                .unwrap_or_default(),
            &r.planned_amount,
            &r.amount,
            &r.unit,
            &r.deviation,
            inert(&r.note).as_ref(),
        ])?;
    }
    w.flush()?;
    Ok(())
}
