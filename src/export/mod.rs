//! Output formats. Each format is its own file; all of them render the same [`Row`]s,
//! built here once from the schedule's events, so a column means the same thing in the
//! terminal table, the CSV, the JSON and the calendar file.
//!
//! Exporters produce bytes or write to a `Write`; they never open files (that is
//! `write.rs`'s job).

pub mod csv;
pub mod ics;
pub mod json;
pub mod prep;
pub mod table;

use chrono::NaiveDate;
use serde::Serialize;

use crate::model::{Arm, Trial, Unit};
use crate::schedule::{Event, EventKind, Origin, Patient};
use crate::timing;

/// The calendar CSV columns, in order. The first twenty are a fixed contract (pharmacy
/// and lab spreadsheets depend on them); `product` and `assumed` follow.
pub const COLUMNS: [&str; 22] = [
    "patient_id",
    "trial_id",
    "arm_id",
    "date",
    "study_day",
    "weekday",
    "order_in_day",
    "kind",
    "event",
    "occurrence",
    "occurrences",
    "weight_kg",
    "dose_per_kg",
    "dose",
    "dose_unit",
    "cumulative_dose",
    "volume_ml",
    "window_start",
    "window_end",
    "note",
    "product",
    "assumed",
];

/// An amount in a product's unit: whole cells print as integers, mL as decimals.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Amount {
    pub value: f64,
    pub unit: Unit,
}

impl Amount {
    /// Plain digits for machines: 75000000 (never 7.5e7), 2000, 6.25.
    pub fn plain(&self) -> String {
        match self.unit {
            Unit::Cells => format!("{:.0}", self.value),
            Unit::Ml => trim_decimals(self.value, 2),
        }
    }

    /// For people: 7.50 x 10^7 cells, 2000 mL. Three significant figures can hide cells,
    /// so an inexact one is followed by the exact count: 1.88 x 10^7 cells (exactly 18750000).
    pub fn readable(&self) -> String {
        match self.unit {
            Unit::Cells if sci_is_exact(self.value) => format!("{} cells", sci(self.value)),
            Unit::Cells => format!("{} cells (exactly {})", sci(self.value), self.plain()),
            Unit::Ml => format!("{} mL", trim_decimals(self.value, 2)),
        }
    }
}

impl Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.value.fract() == 0.0 && self.value.abs() < 9.0e15 {
            s.serialize_i64(self.value as i64)
        } else {
            s.serialize_f64(self.value)
        }
    }
}

/// `x` with at most `places` decimals and no trailing zeros: 6.25, 40, 7.57.
pub fn trim_decimals(x: f64, places: usize) -> String {
    let s = format!("{x:.places$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Mantissa (rounded to two decimals) and exponent of `x` in scientific notation.
fn sci_parts(x: f64) -> (f64, i32) {
    let mut exp = x.abs().log10().floor() as i32;
    let mut hundredths = (x / 10f64.powi(exp) * 100.0).round();
    if hundredths.abs() >= 1000.0 {
        exp += 1;
        hundredths = (x / 10f64.powi(exp) * 100.0).round();
    }
    (hundredths / 100.0, exp)
}

/// Scientific notation a clinician reads: 7.50 x 10^7. Values under 1000 print plainly.
pub fn sci(x: f64) -> String {
    if x.abs() < 1000.0 {
        return trim_decimals(x, 2);
    }
    let (m, e) = sci_parts(x);
    format!("{m:.2} x 10^{e}")
}

/// True when [`sci`] shows `x` exactly (to the unit), so no exact figure need follow it.
pub fn sci_is_exact(x: f64) -> bool {
    if x.abs() < 1000.0 {
        return (x * 100.0).round() == x * 100.0;
    }
    let (m, e) = sci_parts(x);
    ((m * 100.0).round() * 10f64.powi(e - 2) - x).abs() < 0.5
}

/// Makes a text cell inert in spreadsheets: a leading =, +, -, @, tab or carriage return
/// would start a formula, so such a cell gets a leading apostrophe.
pub fn inert(text: &str) -> std::borrow::Cow<'_, str> {
    match text.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{text}").into(),
        _ => text.into(),
    }
}

/// One calendar row, typed: what every format renders.
#[derive(Debug, Clone, Serialize)]
pub struct Row<'a> {
    pub patient_id: &'a str,
    pub trial_id: &'a str,
    pub arm_id: &'a str,
    pub date: NaiveDate,
    pub study_day: i64,
    pub weekday: &'static str,
    pub order_in_day: u32,
    pub kind: &'static str,
    pub event: &'a str,
    pub occurrence: u32,
    pub occurrences: u32,
    pub weight_kg: f64,
    pub dose_per_kg: Option<f64>,
    pub dose: Option<Amount>,
    pub dose_unit: Option<&'static str>,
    pub cumulative_dose: Option<Amount>,
    pub volume_ml: Option<f64>,
    pub window_start: Option<NaiveDate>,
    pub window_end: Option<NaiveDate>,
    pub note: String,
    pub product: Option<&'a str>,
    /// Which of this row's values are assumed rather than stated by the record.
    pub assumed: String,
    /// The event's display name (not a CSV column).
    #[serde(skip)]
    pub name: &'a str,
    /// The component this dose follows on the same day (not a CSV column).
    #[serde(skip)]
    pub after_name: Option<&'a str>,
}

/// Builds the row for one event.
pub fn row<'a>(trial: &'a Trial, arm: &'a Arm, patient: &'a Patient, e: &Event) -> Row<'a> {
    let mut assumed: Vec<&str> = Vec::new();
    let (event, name, note, product) = match e.origin {
        Origin::Component(c) => {
            let comp = &arm.components[c];
            let p = &trial.products[comp.product];
            let mut parts: Vec<String> = vec![comp.name.clone()];
            if let Some(a) = e.after {
                parts.push(format!(
                    "given after the {} that day",
                    arm.components[a].name
                ));
            }
            if let Some(r) = &comp.route {
                parts.push(r.value.clone());
            }
            if let Some(d) = &comp.duration_min {
                parts.push(format!("over {} min", d.value));
            }
            if let Some(n) = &comp.note {
                parts.push(n.clone());
            }
            if comp.dose.provenance.is_assumed() {
                assumed.push("dose");
            }
            if comp.timing.provenance.is_assumed() {
                assumed.push("timing");
            }
            if comp
                .route
                .as_ref()
                .is_some_and(|r| r.provenance.is_assumed())
            {
                assumed.push("route");
            }
            if comp
                .duration_min
                .as_ref()
                .is_some_and(|r| r.provenance.is_assumed())
            {
                assumed.push("duration");
            }
            (
                comp.id.as_str(),
                comp.name.as_str(),
                parts.join("; "),
                Some(p),
            )
        }
        Origin::Visit(v) => {
            let visit = &arm.visits[v];
            if visit.provenance.is_assumed() {
                assumed.push("day");
            }
            if visit
                .window
                .as_ref()
                .is_some_and(|w| w.provenance.is_assumed())
            {
                assumed.push("window");
            }
            (
                visit.id.as_str(),
                visit.name.as_str(),
                visit.name.clone(),
                None,
            )
        }
        Origin::Background(b) => {
            let bg = &arm.background[b];
            if bg.provenance.is_assumed() {
                assumed.push("background");
            }
            let mut note = bg.name.clone();
            if let Some(d) = &bg.detail {
                note.push_str(": ");
                note.push_str(d);
            }
            // On every patient's first row of a pharmacy file: kept short.
            match &bg.until {
                Some(u) => note.push_str(&format!("; until {u}")),
                None => note.push_str("; no stop condition stated"),
            }
            note.push_str("; background, not a dose");
            (bg.id.as_str(), bg.name.as_str(), note, None)
        }
    };
    let unit = product.map(|p| p.unit);
    let amount = |v: Option<f64>| v.zip(unit).map(|(value, unit)| Amount { value, unit });
    Row {
        patient_id: &patient.id,
        trial_id: &trial.id,
        arm_id: &arm.id,
        date: e.date,
        study_day: e.study_day,
        weekday: timing::weekday_abbrev(e.date),
        order_in_day: e.order_in_day,
        kind: e.kind.as_str(),
        event,
        occurrence: e.occurrence,
        occurrences: e.occurrences,
        weight_kg: patient.weight_kg,
        dose_per_kg: e.dose_per_kg,
        dose: amount(e.dose),
        dose_unit: e.dose.and(unit).map(Unit::as_str),
        cumulative_dose: amount(e.cumulative_dose),
        volume_ml: e.volume_ml,
        window_start: e.window.map(|w| w.0),
        window_end: e.window.map(|w| w.1),
        note,
        product: product.map(|p| p.id.as_str()),
        assumed: assumed.join("; "),
        name,
        after_name: e.after.map(|a| arm.components[a].name.as_str()),
    }
}

/// All rows of one patient's calendar.
pub fn rows<'a>(
    trial: &'a Trial,
    arm: &'a Arm,
    patient: &'a Patient,
    events: &[Event],
) -> Vec<Row<'a>> {
    events.iter().map(|e| row(trial, arm, patient, e)).collect()
}

impl Row<'_> {
    pub fn is_dose(&self) -> bool {
        self.kind == EventKind::CellInfusion.as_str()
            || self.kind == EventKind::PlasmaExchange.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scientific_notation_reads_like_a_label() {
        assert_eq!(sci(75_000_000.0), "7.50 x 10^7");
        assert_eq!(sci(1e5), "1.00 x 10^5");
        assert_eq!(sci(1.2e6), "1.20 x 10^6");
        assert_eq!(sci(99_990_000.0), "1.00 x 10^8");
        assert_eq!(sci(40.0), "40");
        assert!(sci_is_exact(75_000_000.0));
        assert!(!sci_is_exact(75_312_500.0));
    }

    #[test]
    fn amounts_print_whole_cells_and_decimal_ml() {
        let c = Amount {
            value: 75_000_000.0,
            unit: Unit::Cells,
        };
        assert_eq!(c.plain(), "75000000");
        assert_eq!(c.readable(), "7.50 x 10^7 cells");
        let m = Amount {
            value: 2000.0,
            unit: Unit::Ml,
        };
        assert_eq!(m.plain(), "2000");
        assert_eq!(m.readable(), "2000 mL");
        let inexact = Amount {
            value: 18_750_000.0,
            unit: Unit::Cells,
        };
        assert_eq!(inexact.readable(), "1.88 x 10^7 cells (exactly 18750000)");
        assert_eq!(serde_json::to_string(&c).unwrap(), "75000000");
    }

    #[test]
    fn formula_like_text_is_made_inert() {
        for bad in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(inert(bad), format!("'{bad}"));
        }
        assert_eq!(inert("P001"), "P001");
        assert_eq!(inert(""), "");
    }
}
