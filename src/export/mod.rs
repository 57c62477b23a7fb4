//! Output formats of a patient's calendar. Every format renders the same typed [`Row`]s,
//! built here once from the schedule's events, through one [`Exporter`] shape; each format
//! is its own file. The CSV columns are named once, in [`Column`]: the header, the CSV row
//! writer and the pharmacy stream (`cohort.rs`) all derive from that list, so adding a
//! column touches one place.
//!
//! Exporters produce bytes; they never open files (that is `write.rs`'s job).

pub mod audit;
pub mod columns;
pub mod csv;
pub mod deviations;
pub mod forecast;
pub mod ics;
pub mod json;
pub mod prep;
pub mod sheet;
pub mod sheet_html;
pub mod table;

use std::borrow::Cow;

use chrono::NaiveDate;
use serde::Serialize;

use crate::format::{Amount, inert, trim_decimals};
use crate::model::{Arm, Assumed, Assumption, Kg, Trial, Unit};
use crate::moves::Flags;
use crate::record::{Deviation, Status};
use crate::schedule::{Event, EventKind, Origin, Patient};
use crate::site::SiteCalendar;
use crate::timing;

/// What a cell's text depends on; the pharmacy stream formats each kind once per arm
/// item, once per patient-day or once per row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The same for every row of a patient.
    Patient,
    /// The same for every row of a patient on one date.
    Day,
    /// The same for every row of an arm (the trial and arm ids).
    Arm,
    /// Fixed by the arm item and its occurrence (the same for every patient).
    Slot,
    /// Computed for each row.
    Event,
}

macro_rules! columns {
    ($($variant:ident = $name:literal, $scope:ident;)*) => {
        /// One column of the calendar CSV (and of pharmacy.csv, which has the same columns).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Column { $($variant),* }

        impl Column {
            /// Every column, in file order.
            pub const ALL: &'static [Column] = &[$(Column::$variant),*];

            /// The header name.
            pub fn name(self) -> &'static str {
                match self { $(Column::$variant => $name),* }
            }

            pub fn scope(self) -> Scope {
                match self { $(Column::$variant => Scope::$scope),* }
            }
        }
    };
}

// The first twenty-two are a fixed contract (pharmacy and lab spreadsheets depend on them);
// later columns are added at the end.
columns! {
    PatientId = "patient_id", Patient;
    TrialId = "trial_id", Arm;
    ArmId = "arm_id", Arm;
    Date = "date", Day;
    StudyDay = "study_day", Day;
    Weekday = "weekday", Day;
    OrderInDay = "order_in_day", Event;
    Kind = "kind", Slot;
    EventId = "event", Slot;
    Occurrence = "occurrence", Slot;
    Occurrences = "occurrences", Slot;
    WeightKg = "weight_kg", Patient;
    DosePerKg = "dose_per_kg", Slot;
    Dose = "dose", Event;
    DoseUnit = "dose_unit", Slot;
    CumulativeDose = "cumulative_dose", Event;
    VolumeMl = "volume_ml", Event;
    WindowStart = "window_start", Event;
    WindowEnd = "window_end", Event;
    Note = "note", Slot;
    Product = "product", Slot;
    AssumedValues = "assumed", Event;
    Site = "site", Patient;
    PlannedDate = "planned_date", Event;
    ShiftDays = "shift_days", Event;
    Flags = "flags", Event;
    Status = "status", Event;
    PlannedAmount = "planned_amount", Event;
    Deviation = "deviation", Event;
    NoteCodes = "note_codes", Slot;
}

/// The header names, in order.
pub fn header() -> Vec<&'static str> {
    Column::ALL.iter().map(|c| c.name()).collect()
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
    pub kind: EventKind,
    pub event: &'a str,
    pub occurrence: u32,
    pub occurrences: u32,
    pub weight_kg: Kg,
    pub dose_per_kg: Option<f64>,
    pub dose: Option<Amount>,
    pub dose_unit: Option<&'static str>,
    pub cumulative_dose: Option<Amount>,
    pub volume_ml: Option<f64>,
    pub window_start: Option<NaiveDate>,
    pub window_end: Option<NaiveDate>,
    pub note: String,
    /// On a dose row, the codes of the arm's notes (rules) that apply to it (`stop_on_sae`): the
    /// rules are spelled out once (report, JSON `arm_notes`, .ics, the sheet), not on
    /// every row of pharmacy.csv. Arm notes without a code are `note1`, `note2`, ...
    pub note_codes: String,
    pub product: Option<&'a str>,
    /// Which of this row's values are assumed rather than stated by the record.
    pub assumed: Assumed,
    /// The site whose calendar placed the row (none: every day open).
    pub site: Option<&'a str>,
    /// The date the regimen gives, before a site calendar moved it.
    pub planned_date: NaiveDate,
    /// `date` minus `planned_date`, in days.
    pub shift_days: i64,
    /// What the site calendar did: `closed_day`, `shifted`, ... (`;`-separated).
    pub flags: Flags,
    /// Where it stands against the administration record: planned, given, missed,
    /// cancelled or due.
    pub status: Status,
    /// The plan's dose for it (once given, missed, cancelled or due), in `dose_unit`.
    pub planned_amount: Option<Amount>,
    /// How it departs from the plan: codes with their figures (`;`-separated).
    pub deviation: Deviation,
    /// The event's display name (not a CSV column).
    #[serde(skip)]
    pub name: &'a str,
    /// The component this dose follows on the same day (not a CSV column).
    #[serde(skip)]
    pub after_name: Option<&'a str>,
}

impl Row<'_> {
    pub fn is_dose(&self) -> bool {
        self.kind.is_dose()
    }

    /// The CSV text of one cell: plain digits, YYYY-MM-DD dates, empty where a value does
    /// not apply, text made inert against spreadsheet formulas.
    pub fn cell(&self, c: Column) -> Cow<'_, str> {
        let opt = |v: Option<String>| Cow::Owned(v.unwrap_or_default());
        match c {
            Column::PatientId => inert(self.patient_id),
            Column::TrialId => inert(self.trial_id),
            Column::ArmId => inert(self.arm_id),
            Column::Date => self.date.to_string().into(),
            Column::StudyDay => self.study_day.to_string().into(),
            Column::Weekday => self.weekday.into(),
            Column::OrderInDay => self.order_in_day.to_string().into(),
            Column::Kind => self.kind.as_str().into(),
            Column::EventId => inert(self.event),
            Column::Occurrence => self.occurrence.to_string().into(),
            Column::Occurrences => self.occurrences.to_string().into(),
            Column::WeightKg => self.weight_kg.to_string().into(),
            Column::DosePerKg => opt(self.dose_per_kg.map(|x| x.to_string())),
            Column::Dose => opt(self.dose.map(|a| a.plain())),
            Column::DoseUnit => self.dose_unit.unwrap_or_default().into(),
            Column::CumulativeDose => opt(self.cumulative_dose.map(|a| a.plain())),
            Column::VolumeMl => opt(self.volume_ml.map(|v| trim_decimals(v, 2))),
            Column::WindowStart => opt(self.window_start.map(|d| d.to_string())),
            Column::WindowEnd => opt(self.window_end.map(|d| d.to_string())),
            Column::Note => inert(&self.note),
            Column::NoteCodes => inert(&self.note_codes),
            Column::Product => inert(self.product.unwrap_or_default()),
            Column::AssumedValues => self.assumed.to_string().into(),
            Column::Site => inert(self.site.unwrap_or_default()),
            Column::PlannedDate => self.planned_date.to_string().into(),
            Column::ShiftDays => self.shift_days.to_string().into(),
            Column::Flags => self.flags.codes().into(),
            Column::Status => self.status.as_str().into(),
            Column::PlannedAmount => opt(self.planned_amount.map(|a| a.plain())),
            Column::Deviation => self.deviation.text().into(),
        }
    }
}

/// The text of a dosing component's note: its name, what it follows, route, duration and
/// its own note. The arm's rules travel as codes (`note_codes`) beside it.
fn component_note(arm: &Arm, c: usize, after: Option<usize>) -> String {
    let comp = &arm.components[c];
    let mut parts: Vec<String> = vec![comp.name.clone()];
    if let Some(a) = after {
        parts.push(format!(
            "given after the {} that day",
            arm.components[a].name
        ));
    }
    parts.extend(component_details(comp));
    parts.join("; ")
}

/// A component's route, duration and note, as they print.
fn component_details(comp: &crate::model::Component) -> Vec<String> {
    let mut parts = Vec::new();
    if let Some(r) = &comp.route {
        parts.push(r.value.clone());
    }
    if let Some(d) = &comp.duration_min {
        parts.push(format!("over {} min", d.value));
    }
    if let Some(n) = &comp.note {
        parts.push(n.clone());
    }
    parts
}

/// Builds the row for one event.
pub fn row<'a>(trial: &'a Trial, arm: &'a Arm, patient: &'a Patient, e: &Event) -> Row<'a> {
    let (event, name, note, product) = match e.origin {
        Origin::Component(c) => {
            let comp = &arm.components[c];
            (
                comp.id.as_str(),
                comp.name.as_str(),
                component_note(arm, c, e.after),
                Some(&trial.products[comp.product]),
            )
        }
        Origin::Visit(v) => {
            let visit = &arm.visits[v];
            (
                visit.id.as_str(),
                visit.name.as_str(),
                visit.name.clone(),
                None,
            )
        }
        Origin::Background(b) => {
            let bg = &arm.background[b];
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
        kind: e.kind,
        event,
        occurrence: e.occurrence,
        occurrences: e.occurrences,
        weight_kg: e.weight.unwrap_or(patient.weight_kg),
        dose_per_kg: e.dose_per_kg,
        dose: amount(e.dose),
        dose_unit: e.dose.or(e.planned_amount).and(unit).map(Unit::as_str),
        cumulative_dose: amount(e.cumulative_dose),
        volume_ml: e.volume_ml,
        window_start: e.window.map(|w| w.0),
        window_end: e.window.map(|w| w.1),
        note,
        note_codes: if e.kind.is_dose() {
            arm.note_codes.join(";")
        } else {
            String::new()
        },
        product: product.map(|p| p.id.as_str()),
        assumed: e.assumed,
        site: patient.site.as_deref(),
        planned_date: e.planned,
        shift_days: (e.date - e.planned).num_days(),
        flags: e.flags,
        status: e.status,
        planned_amount: amount(e.planned_amount),
        deviation: e.deviation,
        name,
        after_name: e.after.map(|a| arm.components[a].name.as_str()),
    }
}

/// What a site calendar (or the record's re-projection) did to a row, in words, or
/// `None` when nothing moved or flagged it:
/// "moved from Sat 2026-10-03 (closed: National Day 国庆节), 5 days later",
/// "stays on a closed day (Sunday): no open day in its window", "provisional: ...".
pub fn placement_note(site: Option<&SiteCalendar>, r: &Row) -> Option<String> {
    if r.flags.is_empty() {
        return None;
    }
    let why = |d: NaiveDate| {
        site.and_then(|s| s.day(d).closure())
            .map(|c| format!(" (closed: {c})"))
            .unwrap_or_default()
    };
    let mut parts = Vec::new();
    if r.flags.contains(Flags::SHIFTED) {
        let n = r.shift_days.unsigned_abs();
        // A move the record made is said as one, not put down to the planned day's
        // closure.
        let by = if r.flags.contains(Flags::REPROJECTED) {
            " by the administration record".to_string()
        } else {
            why(r.planned_date)
        };
        parts.push(format!(
            "moved from {} {}{by}, {n} day{} {}",
            timing::weekday_abbrev(r.planned_date),
            r.planned_date,
            if n == 1 { "" } else { "s" },
            if r.shift_days > 0 { "later" } else { "earlier" }
        ));
    }
    if r.flags.contains(Flags::CLOSED_DAY) {
        let because = if r.flags.contains(Flags::MIN_GAP) {
            "every open day in its window would break a minimum gap, its own or that of the dose given with it"
        } else if r.flags.contains(Flags::NO_OPEN_DAY_IN_WINDOW) {
            "no open day in its window"
        } else {
            "no rule to move it"
        };
        parts.push(format!("stays on a closed day{}: {because}", why(r.date)));
    }
    if r.flags.contains(Flags::REPROJECTED) {
        parts.push(if r.status == crate::record::Status::Held {
            "held: a dose given before it leaves no day in its window that keeps the minimum gap; not to prepare until what was decided is recorded".into()
        } else {
            "re-projected from the administration record (a dose given late or early before it)".into()
        });
    } else if r.flags.contains(Flags::MIN_GAP) && !r.flags.contains(Flags::CLOSED_DAY) {
        parts.push(
            "on a day that breaks a minimum gap, its own or that of the dose given with it".into(),
        );
    }
    if r.flags.contains(Flags::OUTSIDE_WINDOW) {
        parts.push("beyond its window around its planned date".into());
    }
    if r.flags.contains(Flags::PROVISIONAL) {
        let expected = site.and_then(|s| s.expected()).filter(|e| {
            let (first, last) = e.span();
            (first..=last).contains(&r.date)
        });
        parts.push(match expected {
            Some(e) => format!(
                "provisional: the site calendar's holiday files do not cover this date ({} expected; make-up and bridging days not known)",
                e.describe()
            ),
            None => "provisional: the site calendar does not cover this date".into(),
        });
    }
    Some(parts.join("; "))
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

/// Everything a calendar says about one patient: what every format renders.
pub struct Calendar<'a> {
    pub trial: &'a Trial,
    pub arm: &'a Arm,
    pub patient: &'a Patient,
    /// Checks the patient's inputs raised (an unusual weight, say).
    pub warnings: &'a [String],
    /// The assumed values the calendar uses.
    pub assumptions: &'a [Assumption],
    pub rows: &'a [Row<'a>],
    /// The site calendar the rows were placed on, if any.
    pub site: Option<&'a SiteCalendar>,
    /// The administration record applied, if any.
    pub record: Option<Recorded>,
    /// In a calendar file, a reminder before each dose and visit still to come.
    pub remind: Option<ics::Remind>,
    /// Whom a calendar file is for: the staff (every figure) or the patient (plain words).
    pub audience: ics::Audience,
    /// Added to every event's SEQUENCE: raised by a forced roll-back of the trial folder
    /// above the highest SEQUENCE the replaced folder had, so that no event's SEQUENCE
    /// falls (0: none, and a calendar without a record then has no SEQUENCE at all).
    pub sequence_base: u64,
}

/// What a calendar needs to know of the administration record behind its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    /// The day the record is complete to.
    pub as_of: NaiveDate,
    /// How many rows the record has for this patient; from a database, how many record
    /// entries they have, corrections and voids counted ([`crate::recorded::Log::entries_of`]),
    /// so that a correction raises the SEQUENCE as a new row does.
    pub rows: usize,
}

impl Recorded {
    /// The iCalendar SEQUENCE of an event: twice the patient's recorded rows, plus one
    /// while it is due (overdue). It never falls as the record grows (rows are only
    /// added, the as-of date only moves on), and it rises whenever the event's date or
    /// status changes: a change needs a new row of the patient's (+2, less at most the 1
    /// of a due event re-projected past the as-of date) or the as-of date passing it
    /// (planned to due, +1). The same inputs give the same number. A rerun may not take
    /// rows away or move the as-of date back unless forced (`manifest::check_history`),
    /// and a forced one raises [`Calendar::sequence_base`] instead.
    pub fn sequence(&self, status: Status) -> u64 {
        2 * self.rows as u64 + u64::from(status == Status::Due)
    }
}

impl Calendar<'_> {
    /// The iCalendar SEQUENCE of an event of this calendar with `status`: the base carried
    /// over from a rolled-back folder plus the record's ([`Recorded::sequence`]); none
    /// for a calendar with neither (a first file needs none).
    pub fn sequence(&self, status: Status) -> Option<u64> {
        match self.record {
            Some(r) => Some(self.sequence_base + r.sequence(status)),
            None => (self.sequence_base > 0).then_some(self.sequence_base),
        }
    }

    /// "Follow-up: 5 years after study day 1, to 2032-01-30", when the record states one.
    pub fn follow_up(&self) -> Option<String> {
        let f = self.trial.follow_up.as_ref()?;
        let end = f
            .end(self.patient.start)
            .map_or_else(|| "a date after 9999-12-31".to_string(), |d| d.to_string());
        Some(format!(
            "follow-up: {} after study day 1, to {end}",
            f.words()
        ))
    }

    /// Rules and details for the whole arm, said once under a calendar: the arm's notes,
    /// each component's route, duration and note, background treatment, follow-up.
    pub fn notes(&self) -> Vec<String> {
        let mut notes: Vec<String> = self.arm.notes.clone();
        for c in &self.arm.components {
            let parts = component_details(c);
            if !parts.is_empty() {
                notes.push(format!("{}: {}", c.name, parts.join("; ")));
            }
        }
        for b in &self.arm.background {
            notes.push(format!(
                "background, not a dose: {}",
                crate::describe::background(b)
            ));
        }
        if let Some(f) = self.follow_up() {
            let mut f = f;
            if let Some(c) = &self.trial.follow_up {
                f.push_str(&format!(
                    " ({})",
                    crate::describe::provenance(&c.provenance)
                ));
            }
            notes.push(f);
        }
        notes
    }
}

/// The one shape every calendar format has: a calendar in, the file's bytes out.
pub trait Exporter {
    fn render(&self, calendar: &Calendar) -> anyhow::Result<Vec<u8>>;
}

/// The calendar formats, and the file extensions that name them.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Format {
    /// Aligned text for the terminal
    Table,
    /// The calendar CSV columns
    Csv,
    /// One JSON document
    Json,
    /// An iCalendar file for calendar apps
    Ics,
}

impl Format {
    /// The extensions `--out` accepts, each with the format it picks.
    pub const EXTENSIONS: [(&'static str, Format); 5] = [
        ("txt", Format::Table),
        ("md", Format::Table),
        ("csv", Format::Csv),
        ("json", Format::Json),
        ("ics", Format::Ics),
    ];

    /// The format a file extension names (case-insensitive), if dosesim writes it.
    pub fn from_extension(ext: &str) -> Option<Format> {
        let ext = ext.to_ascii_lowercase();
        Self::EXTENSIONS
            .iter()
            .find(|(e, _)| *e == ext)
            .map(|(_, f)| *f)
    }

    pub fn name(self) -> &'static str {
        self.into()
    }

    pub fn exporter(self) -> &'static dyn Exporter {
        match self {
            Format::Table => &table::Table,
            Format::Csv => &csv::Csv,
            Format::Json => &json::Json,
            Format::Ics => &ics::Ics,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_named_once_in_file_order() {
        assert_eq!(
            header(),
            [
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
                "site",
                "planned_date",
                "shift_days",
                "flags",
                "status",
                "planned_amount",
                "deviation",
                "note_codes",
            ]
        );
    }

    #[test]
    fn extensions_name_formats_case_insensitively() {
        assert_eq!(Format::from_extension("CSV"), Some(Format::Csv));
        assert_eq!(Format::from_extension("ics"), Some(Format::Ics));
        assert_eq!(Format::from_extension("xlsx"), None);
    }
}
