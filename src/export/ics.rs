//! A patient's calendar as an iCalendar file (RFC 5545) that calendar apps import.
//!
//! One all-day VEVENT per infusion, exchange and visit (background treatment is not an
//! appointment and stays in the CSV), no recurrence rules. The UID is built from the
//! trial, patient, event and occurrence so re-importing updates rather than duplicates,
//! and DTSTAMP is the patient's study day 1 at 00:00 UTC so the same inputs give the same
//! bytes. Folding at 75 octets, CRLF line ends and text escaping are the `icalendar`
//! crate's; this file decides only what the events say.

use icalendar::{Calendar, Component, EventLike};

use super::{Row, sci, trim_decimals};
use crate::model::{Arm, Trial, Unit};
use crate::schedule::Patient;

pub fn render(trial: &Trial, arm: &Arm, patient: &Patient, rows: &[Row]) -> String {
    let mut cal = Calendar::empty();
    cal.append_property(("VERSION", "2.0"));
    cal.append_property(("PRODID", "-//dosesim//dosesim calendar//EN"));
    cal.append_property(("CALSCALE", "GREGORIAN"));
    cal.append_property((
        "X-WR-CALNAME",
        format!("{} {} {}", trial.id, arm.id, patient.id).as_str(),
    ));
    let stamp = patient
        .start
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc();
    for r in rows.iter().filter(|r| r.kind != "background") {
        let summary = if r.is_dose() {
            match r.dose {
                Some(d) => format!(
                    "{} {}/{}, {}",
                    r.name,
                    r.occurrence,
                    r.occurrences,
                    d.readable()
                ),
                None => format!("{} {}/{}", r.name, r.occurrence, r.occurrences),
            }
        } else {
            format!("Visit: {}", r.name)
        };
        let mut desc = vec![
            format!("Trial {}: {}", trial.id, trial.title),
            format!("Arm {}: {}", arm.id, arm.name),
            format!("Patient {}, {} kg", patient.id, patient.weight_kg),
            format!("Study day {}", r.study_day),
        ];
        if let Some(k) = r.dose_per_kg {
            desc.push(format!("Dose per kg: {} cells/kg", sci(k)));
        }
        if let Some(d) = r.dose {
            desc.push(match d.unit {
                Unit::Cells => format!("Dose: {} ({} cells)", d.readable(), d.plain()),
                Unit::Ml => format!("Dose: {}", d.readable()),
            });
        }
        if let Some(c) = r.cumulative_dose {
            desc.push(format!("Cumulative: {}", c.readable()));
        }
        if let Some(v) = r.volume_ml {
            desc.push(format!("Volume: {} mL", trim_decimals(v, 2)));
        }
        if let (Some(a), Some(b)) = (r.window_start, r.window_end) {
            desc.push(format!("Window: {a} to {b}"));
        }
        desc.push(r.note.clone());
        if !r.assumed.is_empty() {
            desc.push(format!(
                "Assumed, not stated in the registry record: {}",
                r.assumed
            ));
        }
        let uid = format!(
            "{}-{}-{}-{}@dosesim",
            trial.id, patient.id, r.event, r.occurrence
        );
        let event = icalendar::Event::new()
            .uid(&uid)
            .timestamp(stamp)
            .summary(&summary)
            .description(&desc.join("\n"))
            .starts(r.date)
            .ends(r.date.succ_opt().expect("a date after the schedule exists"))
            .done();
        cal.push(event);
    }
    cal.to_string()
}
