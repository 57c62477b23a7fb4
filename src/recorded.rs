//! The administration record as data: a checked log ([`Log`]), each patient's rows
//! ([`PatientLog`]), and what became of each event once the record is applied ([`Status`],
//! [`Deviation`]). Plain types, below both the schedule core, whose events carry a status
//! and deviations, and the log's reader (`record.rs`), which fills them.

use std::path::PathBuf;

use chrono::NaiveDate;

use crate::model::Kg;

/// What a row records.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::VariantArray,
)]
#[strum(serialize_all = "snake_case")]
pub enum RecordKind {
    /// A dose given (or a visit held) on the row's date.
    Given,
    /// Not given (or not held), and it will not be: the date is when it was due.
    Missed,
    /// From the date on, the patient weighs `amount` kg.
    Weight,
    /// From the date on, nothing more is given or visited.
    Withdrawn,
    /// As withdrawn; no record may come after it.
    Died,
}

impl RecordKind {
    pub fn parse(s: &str) -> Option<RecordKind> {
        s.parse().ok()
    }

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Withdrawn or died: the end of the patient's course.
    pub fn ends(self) -> bool {
        matches!(self, RecordKind::Withdrawn | RecordKind::Died)
    }
}

/// What a given or missed row is about: one of the arm's components or visits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    Component(u16),
    Visit(u16),
}

/// One checked row of the log: 24 bytes, so that a log of millions of rows stays small.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Record {
    pub date: NaiveDate,
    /// The log's line (for messages).
    pub line: u32,
    /// For given and missed rows.
    pub target: Option<Target>,
    /// 1-based, as in the calendar (given and missed rows; at most 1,000).
    pub occurrence: u16,
    pub kind: RecordKind,
    /// The amount given in the product's unit; NaN: the planned dose (or no amount).
    pub(crate) amount: f64,
}

impl Record {
    /// The amount given in the product's unit; `None`: the planned dose (or no amount).
    pub fn amount(&self) -> Option<f64> {
        (!self.amount.is_nan()).then_some(self.amount)
    }
}

/// A checked log, with each patient's rows together in date order.
#[derive(Debug, Clone)]
pub struct Log {
    pub path: PathBuf,
    /// The day the record is complete to: given with `--as-of`, else its latest date.
    pub as_of: NaiveDate,
    /// Rows in the file (the header not counted).
    pub rows: usize,
    /// Recorded weights outside the scenario's usual range, each with its line: checked,
    /// not refused.
    pub warnings: Vec<String>,
    pub(crate) records: Vec<Record>,
    /// Patient `i`'s rows are `records[starts[i]..starts[i + 1]]` (`i` as in the roster's
    /// entries).
    pub(crate) starts: Vec<u32>,
    /// The weights of the weight rows, by record index (sorted).
    pub(crate) weights: Vec<(u32, Kg)>,
    /// The notes, by record index (sorted).
    pub(crate) notes: Vec<(u32, Box<str>)>,
    /// From a database: how many record entries each patient has (`i` as in the roster's
    /// entries), every one that changed their record counted (rows added, corrections,
    /// voids); `None` for a CSV file, whose rows are all there is.
    pub entries: Option<Vec<u32>>,
}

impl Log {
    /// How many entries made patient `i`'s record: from a database, every record entry
    /// of theirs (corrections and voids too, so it only grows); from a CSV file, their
    /// rows. An event's calendar SEQUENCE counts them.
    pub fn entries_of(&self, i: u32) -> usize {
        match &self.entries {
            Some(v) => v.get(i as usize).map_or(0, |&n| n as usize),
            None => self.patient(i).records.len(),
        }
    }
}

/// One patient's rows of a log (possibly none).
#[derive(Debug, Clone, Copy)]
pub struct PatientLog<'a> {
    pub records: &'a [Record],
    /// The index of `records[0]` in the log.
    pub(crate) first: u32,
    pub(crate) log: Option<&'a Log>,
}

impl PatientLog<'_> {
    /// No records.
    pub const EMPTY: PatientLog<'static> = PatientLog {
        records: &[],
        first: 0,
        log: None,
    };

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Whether the record makes any dose differ from the plan's: a dose missed, a course
    /// ended, a weight recorded, a dose given in an amount of its own, or one given while
    /// an earlier occurrence is unrecorded.
    pub fn changes_amounts(&self) -> bool {
        self.records.iter().any(|r| match r.kind {
            // A dose given in an amount of its own, or after an earlier one left
            // unrecorded (which it closes as missed).
            RecordKind::Given => {
                r.amount().is_some()
                    || r.target.is_some_and(|t| {
                        (1..r.occurrence).any(|k| self.find(t, u32::from(k)).is_none())
                    })
            }
            _ => true,
        })
    }

    /// The given or missed row about `target`'s occurrence, if any.
    pub fn find(&self, target: Target, occurrence: u32) -> Option<&Record> {
        self.records.iter().find(|r| {
            r.target == Some(target)
                && u32::from(r.occurrence) == occurrence
                && matches!(r.kind, RecordKind::Given | RecordKind::Missed)
        })
    }

    /// Whether an occurrence of `target` after `occurrence` is recorded as given.
    pub fn given_after(&self, target: Target, occurrence: u32) -> bool {
        self.records.iter().any(|r| {
            r.kind == RecordKind::Given
                && r.target == Some(target)
                && u32::from(r.occurrence) > occurrence
        })
    }

    /// The row the schedule is re-projected from: the latest-dated given or missed row
    /// (they fix dates), else the latest row.
    pub fn latest_row(&self) -> Option<&Record> {
        self.records
            .iter()
            .rev()
            .find(|r| r.target.is_some())
            .or(self.records.last())
    }

    /// The withdrawal or death, if recorded: (date, kind).
    pub fn end(&self) -> Option<(NaiveDate, RecordKind)> {
        self.records
            .iter()
            .find(|r| r.kind.ends())
            .map(|r| (r.date, r.kind))
    }

    /// The weight rows, in date order: (date, kg, line).
    pub fn weights(&self) -> impl Iterator<Item = (NaiveDate, Kg, u32)> + '_ {
        let log = self.log;
        self.records
            .iter()
            .enumerate()
            .filter(|(_, r)| r.kind == RecordKind::Weight)
            .filter_map(move |(k, r)| {
                let idx = self.first + k as u32;
                let w = log?.weight_at(idx)?;
                Some((r.date, w, r.line))
            })
    }

    /// The note of a row of this patient's (by reference into `records`), if any.
    pub fn note(&self, r: &Record) -> Option<&str> {
        let k = self
            .records
            .iter()
            .position(|x| std::ptr::eq(x, r))
            .expect("a record of this patient");
        self.log?.note_at(self.first + k as u32)
    }
}

impl Log {
    /// Patient `i`'s rows (`i` as in the roster's entries).
    pub fn patient(&self, i: u32) -> PatientLog<'_> {
        let (a, b) = (self.starts[i as usize], self.starts[i as usize + 1]);
        PatientLog {
            records: &self.records[a as usize..b as usize],
            first: a,
            log: Some(self),
        }
    }

    /// Whether any row records a weight.
    pub fn has_weights(&self) -> bool {
        !self.weights.is_empty()
    }

    /// Whether any patient has a row.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    fn weight_at(&self, idx: u32) -> Option<Kg> {
        self.weights
            .binary_search_by_key(&idx, |w| w.0)
            .ok()
            .map(|k| self.weights[k].1)
    }

    fn note_at(&self, idx: u32) -> Option<&str> {
        self.notes
            .binary_search_by_key(&idx, |n| n.0)
            .ok()
            .map(|k| &*self.notes[k].1)
    }
}

/// Where an event stands against the record.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Hash, strum::IntoStaticStr, strum::VariantArray,
)]
#[strum(serialize_all = "snake_case")]
pub enum Status {
    /// After the as-of date (or no record kept): still to come.
    #[default]
    Planned,
    /// Recorded as given (a visit: held).
    Given,
    /// Recorded as missed: it will not be given.
    Missed,
    /// After a withdrawal or death: it will not be given (one that was due before it and
    /// never recorded carries the code `not_given`).
    Cancelled,
    /// On or before the as-of date with nothing recorded: overdue.
    Due,
    /// A dose given late (or early) leaves it no day in its window that keeps its
    /// minimum gap: not to be prepared until someone records what was decided (given on
    /// a date, or missed).
    Held,
}

impl Status {
    /// Every status, in the order the report counts them.
    pub const ALL: &'static [Status] = <Status as strum::VariantArray>::VARIANTS;
    /// How many statuses there are.
    pub const COUNT: usize = Status::ALL.len();

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether the event is in the past of the record (anything but planned).
    pub fn is_recorded_or_due(self) -> bool {
        self != Status::Planned
    }
}

impl serde::Serialize for Status {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

bitflags::bitflags! {
    /// The codes of a [`Deviation`]: each is written as its name in lowercase (`dose_low`),
    /// in this order.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
    pub struct Code: u16 {
        const LATE = 1;
        const EARLY = 1 << 1;
        const OUTSIDE_WINDOW = 1 << 2;
        const DOSE_LOW = 1 << 3;
        const DOSE_HIGH = 1 << 4;
        const MISSED = 1 << 5;
        const OVERDUE = 1 << 6;
        const ORDER = 1 << 7;
        const WEIGHT_CHANGE = 1 << 8;
        /// Due before a death or withdrawal and never recorded: closed as not given.
        const NOT_GIVEN = 1 << 9;
        /// Held: a dose given before it leaves it no day in its window that keeps its
        /// minimum gap; someone has to decide.
        const HELD = 1 << 10;
    }
}

impl Code {
    /// How many codes there are.
    pub const COUNT: usize = Code::all().bits().count_ones() as usize;

    /// Every code with its name, in the order written.
    pub fn names() -> &'static [(Code, String)] {
        static NAMES: std::sync::OnceLock<Vec<(Code, String)>> = std::sync::OnceLock::new();
        // Each code's name in lowercase (`DOSE_LOW` is `dose_low`), in the order declared.
        NAMES.get_or_init(|| {
            let named = <Code as bitflags::Flags>::FLAGS.iter();
            named
                .map(|f| (*f.value(), f.name().to_ascii_lowercase()))
                .collect()
        })
    }
}

/// How an event departs from the plan: a set of codes, each with its figure.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Deviation {
    codes: Code,
    /// Days from the date it was expected on (late > 0, early < 0).
    pub days: i32,
    /// Days from its planned date (anchored, before any closed-day move) when that is
    /// beyond the component's window.
    pub beyond: i32,
    /// Per cent from the planned amount.
    pub dose_pct: f64,
    /// Days from its date to the as-of date.
    pub overdue_days: i32,
    /// `weight_change`: per cent from the roster's weight, of the weight a dose was
    /// computed at (a dose row) or of the weight recorded (a weight row of
    /// deviations.csv); never from the weight recorded before it.
    pub weight_pct: f64,
    /// For `not_given`: the death or withdrawal that closed it.
    pub ended: Option<RecordKind>,
}

impl Deviation {
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    pub fn has(&self, code: Code) -> bool {
        self.codes.intersects(code)
    }

    pub fn set(&mut self, code: Code) {
        self.codes |= code;
    }

    /// Sets `weight_change` with its one figure: the per cent from the roster's weight
    /// (the weight the patient was enrolled at) to `weight`, the weight a dose was
    /// computed at or the weight a row records.
    pub fn set_weight_change(&mut self, roster: crate::model::Kg, weight: crate::model::Kg) {
        self.weight_pct = (weight.f64() - roster.f64()) / roster.f64() * 100.0;
        self.set(Code::WEIGHT_CHANGE);
    }

    /// The codes set, by name.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        Code::names()
            .iter()
            .filter(|(c, _)| self.has(*c))
            .map(|(_, n)| n.as_str())
    }

    /// Each code with its figure, `;`-separated: "late:+3d;dose_low:-15%".
    pub fn text(&self) -> String {
        let mut out = Vec::new();
        self.write_to(&mut out);
        String::from_utf8(out).expect("ASCII")
    }

    /// [`Deviation::text`] appended to `out` without allocating for the usual codes (the
    /// pharmacy stream writes one for every overdue row).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let mut num = itoa::Buffer::new();
        let mut days = |out: &mut Vec<u8>, x: i32, signed: bool| {
            if signed && x >= 0 {
                out.push(b'+');
            }
            out.extend_from_slice(num.format(x).as_bytes());
            out.push(b'd');
        };
        let pct = |out: &mut Vec<u8>, x: f64| {
            let t = crate::format::trim_decimals(x.abs(), 1);
            out.push(if x < 0.0 && t != "0" { b'-' } else { b'+' });
            out.extend_from_slice(t.as_bytes());
            out.push(b'%');
        };
        let mut first = true;
        for (code, name) in Code::names() {
            let code = *code;
            if !self.has(code) {
                continue;
            }
            if !first {
                out.push(b';');
            }
            first = false;
            out.extend_from_slice(name.as_bytes());
            match code {
                Code::LATE | Code::EARLY => {
                    out.push(b':');
                    days(out, self.days, true);
                }
                Code::OUTSIDE_WINDOW => {
                    out.push(b':');
                    days(out, self.beyond, true);
                }
                Code::DOSE_LOW | Code::DOSE_HIGH => {
                    out.push(b':');
                    pct(out, self.dose_pct);
                }
                Code::OVERDUE => {
                    out.push(b':');
                    days(out, self.overdue_days, false);
                }
                Code::WEIGHT_CHANGE => {
                    out.push(b':');
                    pct(out, self.weight_pct);
                }
                Code::NOT_GIVEN => {
                    if let Some(k) = self.ended {
                        out.push(b':');
                        out.extend_from_slice(k.as_str().as_bytes());
                    }
                }
                _ => {}
            }
        }
    }
}

impl serde::Serialize for Deviation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text())
    }
}
