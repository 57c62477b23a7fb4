//! The calendar as a terminal table for people: doses as 7.50 x 10^7 cells with the
//! per-kg dose beside them, units in every header, and the assumed values listed under
//! the table so nobody mistakes an assumption for the record.

use comfy_table::{CellAlignment, presets};

use super::{Calendar, Exporter, Row};
use crate::format::{sci_exact, trim_decimals};
use crate::schedule::EventKind;

pub struct Table;

impl Exporter for Table {
    fn render(&self, c: &Calendar) -> anyhow::Result<Vec<u8>> {
        Ok(render(c).into_bytes())
    }
}

/// The event's name as a calendar reads it: "Visit: ...", "... (after the Plasma exchange)".
pub fn event_name(r: &Row) -> String {
    match (r.kind, r.after_name) {
        (EventKind::Visit, _) => format!("Visit: {}", r.name),
        (EventKind::Background, _) => format!("Background starts: {}", r.name),
        (_, Some(after)) => format!("{} (after the {after})", r.name),
        _ => r.name.to_string(),
    }
}

/// The event column: the event's name, what it follows, and its assumed values.
pub fn event_label(r: &Row) -> String {
    let event = event_name(r);
    if r.assumed.is_empty() {
        event
    } else {
        format!("{event} [assumed: {}]", r.assumed)
    }
}

/// A row's status against the record in words, with its deviations: "given; late:+3d",
/// "HELD: not to prepare until a decision is recorded".
pub fn status_words(r: &Row) -> String {
    use crate::record::Status;
    let s = match r.status {
        Status::Held => "HELD: not to prepare until a decision is recorded".to_string(),
        Status::Due => "DUE: not recorded as given".to_string(),
        s => s.as_str().to_string(),
    };
    let codes: Vec<&str> = r
        .deviation
        .names()
        .filter(|n| !matches!(*n, "held" | "overdue"))
        .collect();
    if codes.is_empty() {
        s
    } else {
        format!("{s}; {}", r.deviation.text())
    }
}

pub fn render(c: &Calendar) -> String {
    let mut out = heading(c);
    out.push_str(&events_table(c).to_string());
    out.push('\n');
    out.push_str(&notes_and_warnings(c));
    out
}

/// The lines above the table: trial, arm, patient, and the site calendar if any.
fn heading(c: &Calendar) -> String {
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
    if let Some(site) = c.site {
        out.push_str(&format!(
            "Site {}: {} (closed: {}; calendar covers {})\n\n",
            site.id,
            site.name,
            site.closed_summary(),
            site.coverage_summary()
        ));
    }
    out
}

/// The table of events: a row per event, numbers right-aligned.
fn events_table(c: &Calendar) -> comfy_table::Table {
    let mut t = comfy_table::Table::new();
    t.load_style(presets::ASCII_MARKDOWN);
    let mut header = vec![
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
    ];
    // Where a site calendar or the record moved or flagged an event, and what the record
    // says of it: a held or overdue dose must not read like any other.
    let moves = c.site.is_some() || c.record.is_some();
    if moves {
        header.push("Moved or flagged");
    }
    if c.record.is_some() {
        header.push("Status (record)");
    }
    t.set_header(header);
    for r in c.rows {
        let mut cells = row_cells(r);
        if moves {
            cells.push(super::placement_note(c.site, r).unwrap_or_default());
        }
        if c.record.is_some() {
            cells.push(status_words(r));
        }
        t.add_row(cells);
    }
    for i in [2, 3, 5, 6, 7, 8, 9] {
        if let Some(col) = t.column_mut(i) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
    t
}

/// The cells every table row has, from the date to the window.
fn row_cells(r: &Row) -> Vec<String> {
    // Long notes would make the table too wide: the column names the event, and the
    // route, duration and notes of each component follow the table once.
    vec![
        r.date.to_string(),
        r.weekday.to_string(),
        r.study_day.to_string(),
        r.order_in_day.to_string(),
        event_label(r),
        if r.is_dose() {
            format!("{}/{}", r.occurrence, r.occurrences)
        } else {
            String::new()
        },
        r.dose.map(|a| a.readable()).unwrap_or_default(),
        r.dose_per_kg
            .map(|k| format!("{} cells/kg", sci_exact(k)))
            .unwrap_or_default(),
        r.cumulative_dose.map(|a| a.readable()).unwrap_or_default(),
        r.volume_ml
            .map(|v| format!("{} mL", trim_decimals(v, 2)))
            .unwrap_or_default(),
        match (r.window_start, r.window_end) {
            (Some(a), Some(b)) => format!("{a} to {b}"),
            _ => String::new(),
        },
    ]
}

/// The lines under the table: the arm's notes, then warnings and assumptions.
fn notes_and_warnings(c: &Calendar) -> String {
    let mut out = String::new();
    let notes = c.notes();
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
