//! The schedule and the record in the formats other tools read and validate (`dosesim
//! export`): NONMEM/nlmixr2 event tables ([`nonmem`]), CDISC SDTM datasets as
//! Dataset-JSON v1.1 and CSV ([`sdtm`]), and FHIR R4 Bundles ([`fhir`]).
//!
//! Each format is a pure function of an [`Export`] (a cohort's patients with their full
//! calendars, the record applied) to [`Files`]: names and bytes, the same bytes for the same
//! inputs. Nothing here writes a file: `bundle::write_export` does.

pub mod fhir;
pub mod nonmem;
pub mod sdtm;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

use crate::cohort::Cohort;
use crate::model::{Arm, Kg, Trial};
use crate::recorded::{RecordKind, Status, Target};
use crate::schedule::{Event, EventKind, Origin, Patient};

/// The files of one export: each name (relative to the export's folder, `/` between
/// folders) with its bytes, in the order written.
pub type Files = Vec<(String, Vec<u8>)>;

/// The formats `dosesim export` writes; each is the name of its folder too.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Format {
    /// NONMEM/nlmixr2 event table (CSV), with the ID map
    Nonmem,
    /// CDISC SDTM datasets (TA, TE, TV, TS, DM, SV, EX, EC, PR) as Dataset-JSON v1.1 and CSV
    Sdtm,
    /// FHIR R4 JSON Bundles, one per patient
    Fhir,
}

impl Format {
    /// The format's name, and the name of its folder in a trial folder.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// What an export is asked for besides its format.
#[derive(Debug, Clone)]
pub struct Options {
    /// NONMEM: every dose on a row of its own (no `ADDL`/`II`).
    pub expanded: bool,
    /// The date and time the files say they were made (Dataset-JSON's
    /// `datasetJSONCreationDateTime`, a Bundle's `timestamp`): never the clock's, so
    /// that the same inputs give the same bytes ([`Export::data_cut`] by default).
    pub created: NaiveDateTime,
}

/// The UTC offset of the sites' clock times: every bundled site is in China (UTC+8, no
/// daylight saving). A site calendar names no time zone, so this is assumed, and said
/// wherever a format needs an offset (FHIR's instants).
pub const SITE_UTC_OFFSET: &str = "+08:00";
/// Why [`SITE_UTC_OFFSET`] is assumed, in words for the outputs.
pub const SITE_UTC_OFFSET_REASON: &str = "a site calendar names no time zone; every bundled site is in China, whose clocks are at UTC+08:00 all year";

/// What the record says of a dose given beyond its date and amount: the clock time and
/// the lot (or bag id) that the day's sheet of `dosesim serve` writes into the `given`
/// row's note ("given at 10:40, lot L", then any note typed), and the note itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Given {
    pub time: Option<NaiveTime>,
    pub lot: Option<String>,
    pub note: Option<String>,
}

impl Given {
    /// The time and lot read from a `given` row's note, and the note as written.
    pub fn from_note(note: Option<&str>) -> Given {
        let Some(note) = note.map(str::trim).filter(|n| !n.is_empty()) else {
            return Given::default();
        };
        let mut g = Given {
            note: Some(note.to_string()),
            ..Given::default()
        };
        if let Some(rest) = note.strip_prefix("given at ")
            && let Some((time, rest)) = rest.split_once(", lot ")
        {
            g.time = NaiveTime::parse_from_str(time, "%H:%M:%S")
                .or_else(|_| NaiveTime::parse_from_str(time, "%H:%M"))
                .ok();
            // The lot runs to the note typed after it, if any ("; ...").
            let lot = rest.split_once("; ").map_or(rest, |(lot, _)| lot).trim();
            if g.time.is_some() && !lot.is_empty() {
                g.lot = Some(lot.to_string());
            } else {
                g.time = None;
            }
        }
        g
    }
}

/// One patient of the roster, with their full calendar (the record applied).
#[derive(Debug, Clone)]
pub struct Subject<'t> {
    /// Index into the roster's entries.
    pub index: u32,
    /// 1, 2, ... in the order of the patients' ids: NONMEM's `ID`.
    pub number: u32,
    pub patient: Patient,
    pub arm: &'t Arm,
    /// Every event of the calendar, in date order (missed and cancelled ones too: each
    /// format says which it keeps).
    pub events: Vec<Event>,
    /// For each event (the same index): what the record's row says of it beyond its date
    /// and amount, for an event recorded as given (its note, and the clock time and lot
    /// the day sheet wrote) or missed (its note: why).
    pub recorded: Vec<Option<Given>>,
    /// The weights the record gives (its `weight` rows), in date order.
    pub weights: Vec<(NaiveDate, Kg)>,
    /// The withdrawal or death, if recorded: (date, kind).
    pub end: Option<(NaiveDate, RecordKind)>,
}

impl Subject<'_> {
    /// The events that are doses to give or given: infusions and exchanges planned,
    /// given, due or held; not those missed or cancelled.
    pub fn doses(&self) -> impl Iterator<Item = (usize, &Event)> {
        self.events
            .iter()
            .enumerate()
            .filter(|(_, e)| e.kind.is_dose() && is_exposure(e.status))
    }
}

/// Whether an event of this status is in a schedule of what is or will be given: planned,
/// given, due (overdue, nothing recorded yet) or held; not missed or cancelled. The same
/// rows as pharmacy.csv's less its missed and cancelled ones.
pub fn is_exposure(status: Status) -> bool {
    !matches!(status, Status::Missed | Status::Cancelled)
}

/// A cohort's patients ready for the formats.
pub struct Export<'t> {
    pub trial: &'t Trial,
    /// In the order of the patients' ids.
    pub subjects: Vec<Subject<'t>>,
    /// The record's as-of date, with a record.
    pub as_of: Option<NaiveDate>,
}

impl<'t> Export<'t> {
    /// Every patient of the cohort with their calendar, in the order of their ids.
    pub fn of(cohort: &Cohort<'t>) -> Self {
        let trial = cohort.trial;
        let subjects = cohort
            .roster
            .by_id
            .iter()
            .enumerate()
            .map(|(k, &i)| {
                let (patient, arm, events) = cohort.calendar(i);
                let arm = &trial.arms[arm];
                let log = cohort.log.map(|l| l.patient(i));
                let recorded = events
                    .iter()
                    .map(|e| {
                        let log = log.as_ref()?;
                        let target = match e.origin {
                            Origin::Component(c) => Target::Component(c as u16),
                            Origin::Visit(v) => Target::Visit(v as u16),
                            Origin::Background(_) => return None,
                        };
                        let note = log.note(log.find(target, e.occurrence)?);
                        match e.status {
                            Status::Given => Some(Given::from_note(note)),
                            // A missed row's note says why; it holds no time or lot.
                            Status::Missed => Some(Given {
                                note: note
                                    .map(str::trim)
                                    .filter(|n| !n.is_empty())
                                    .map(String::from),
                                ..Given::default()
                            }),
                            _ => None,
                        }
                    })
                    .collect();
                let weights = log
                    .as_ref()
                    .map(|l| l.weights().map(|(d, kg, _)| (d, kg)).collect())
                    .unwrap_or_default();
                Subject {
                    index: i,
                    number: k as u32 + 1,
                    patient,
                    arm,
                    events,
                    recorded,
                    weights,
                    end: log.and_then(|l| l.end()),
                }
            })
            .collect();
        Export {
            trial,
            subjects,
            as_of: cohort.log.map(|l| l.as_of),
        }
    }

    /// The date the data are complete to, at midnight: the record's as-of date, else the
    /// latest start date of the roster (a plan alone has no later fact). The default
    /// creation stamp of the files ([`Options::created`]).
    pub fn data_cut(&self) -> NaiveDateTime {
        let date = self
            .as_of
            .or_else(|| self.subjects.iter().map(|s| s.patient.start).max())
            .unwrap_or_default();
        date.and_time(NaiveTime::MIN)
    }
}

/// The files of `format` for `export`.
pub fn files(format: Format, export: &Export, options: &Options) -> anyhow::Result<Files> {
    match format {
        Format::Nonmem => nonmem::files(export, options),
        Format::Sdtm => sdtm::files(export, options),
        Format::Fhir => fhir::files(export, options),
    }
}

/// Whether an event is a dose of a cell product (an infusion), as opposed to a procedure
/// (a plasma exchange), a visit or background treatment.
pub fn is_infusion(e: &Event) -> bool {
    e.kind == EventKind::CellInfusion
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_note_from_the_day_sheet_gives_its_time_and_lot() {
        let g = Given::from_note(Some("given at 10:40:00, lot UC-2611-07; slow start"));
        assert_eq!(g.time, NaiveTime::from_hms_opt(10, 40, 0));
        assert_eq!(g.lot.as_deref(), Some("UC-2611-07"));
        assert_eq!(
            g.note.as_deref(),
            Some("given at 10:40:00, lot UC-2611-07; slow start")
        );
        let g = Given::from_note(Some("given at 08:05, lot B 12"));
        assert_eq!(g.time, NaiveTime::from_hms_opt(8, 5, 0));
        assert_eq!(g.lot.as_deref(), Some("B 12"));
    }

    #[test]
    fn any_other_note_gives_no_time_or_lot() {
        for note in [
            "apheresis unit out of service",
            "given at noon, lot X",
            "given at 10:40",
        ] {
            let g = Given::from_note(Some(note));
            assert_eq!((g.time, g.lot), (None, None), "{note}");
            assert_eq!(g.note.as_deref(), Some(note));
        }
        assert_eq!(Given::from_note(Some("  ")), Given::default());
        assert_eq!(Given::from_note(None), Given::default());
    }
}
