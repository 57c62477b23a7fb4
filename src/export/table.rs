//! The calendar as a terminal table for people: doses as 7.50 x 10^7 cells with the
//! per-kg dose beside them, units in every header, and the assumed values listed under
//! the table so nobody mistakes an assumption for the record.

use comfy_table::{CellAlignment, Table, presets};

use super::{Row, sci, trim_decimals};
use crate::model::Assumption;

pub struct Calendar<'a> {
    pub trial: &'a crate::model::Trial,
    pub arm: &'a crate::model::Arm,
    pub patient: &'a crate::schedule::Patient,
    pub warnings: &'a [String],
    pub assumptions: &'a [Assumption],
    pub rows: &'a [Row<'a>],
}

pub fn render(c: &Calendar) -> String {
    let mut t = Table::new();
    t.load_style(presets::ASCII_MARKDOWN);
    t.set_header(vec![
        "Date",
        "Wkd",
        "Study day",
        "#",
        "Event",
        "Dose n/N",
        "Dose (cells or mL)",
        "Per kg (cells/kg)",
        "Cumulative (cells or mL)",
        "Volume (mL)",
        "Window (dates)",
    ]);
    for r in c.rows {
        let dose = r.dose.map(|a| a.readable()).unwrap_or_default();
        // Long notes would make the table too wide: the column names the event, and the
        // route, duration and notes of each component follow the table once.
        let event = match (r.kind, r.after_name) {
            ("visit", _) => format!("Visit: {}", r.name),
            ("background", _) => format!("Background starts: {}", r.name),
            (_, Some(after)) => format!("{} (after the {after})", r.name),
            _ => r.name.to_string(),
        };
        let event = if r.assumed.is_empty() {
            event
        } else {
            format!("{event} [assumed: {}]", r.assumed)
        };
        t.add_row(vec![
            r.date.to_string(),
            r.weekday.to_string(),
            r.study_day.to_string(),
            r.order_in_day.to_string(),
            event,
            if r.is_dose() {
                format!("{}/{}", r.occurrence, r.occurrences)
            } else {
                String::new()
            },
            dose,
            r.dose_per_kg
                .map(|k| format!("{} cells/kg", sci(k)))
                .unwrap_or_default(),
            r.cumulative_dose.map(|a| a.readable()).unwrap_or_default(),
            r.volume_ml
                .map(|v| format!("{} mL", trim_decimals(v, 2)))
                .unwrap_or_default(),
            match (r.window_start, r.window_end) {
                (Some(a), Some(b)) => format!("{a} to {b}"),
                _ => String::new(),
            },
        ]);
    }
    for i in [2, 3, 5, 6, 7, 8, 9] {
        if let Some(col) = t.column_mut(i) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
    let mut out = format!(
        "{} ({}): arm {} ({})\nPatient {}: {} kg, study day 1 = {} ({})\n\n",
        c.trial.id,
        c.trial.title,
        c.arm.id,
        c.arm.name,
        c.patient.id,
        c.patient.weight_kg,
        c.patient.start,
        crate::timing::weekday_abbrev(c.patient.start),
    );
    out.push_str(&t.to_string());
    out.push('\n');
    let mut notes: Vec<String> = c.arm.notes.clone();
    for c in &c.arm.components {
        let mut parts = Vec::new();
        if let Some(r) = &c.route {
            parts.push(r.value.clone());
        }
        if let Some(d) = &c.duration_min {
            parts.push(format!("over {} min", d.value));
        }
        if let Some(n) = &c.note {
            parts.push(n.clone());
        }
        if !parts.is_empty() {
            notes.push(format!("{}: {}", c.name, parts.join("; ")));
        }
    }
    for b in &c.arm.background {
        notes.push(format!(
            "background, not a dose: {}",
            crate::describe::background(b)
        ));
    }
    if !notes.is_empty() {
        out.push('\n');
        for n in notes {
            out.push_str(&format!("Note: {n}\n"));
        }
    }
    if !c.assumptions.is_empty() || !c.warnings.is_empty() {
        out.push('\n');
    }
    for w in c.warnings {
        out.push_str(&format!("WARNING: {w}\n"));
    }
    for a in c.assumptions {
        out.push_str(&format!(
            "WARNING: assumed, not stated in the registry record: {}: {}\n",
            a.what, a.reason
        ));
    }
    out
}
