//! The schedule core: (arm, patient) -> the patient's dated events, in order, with doses
//! and running totals. Pure functions over plain data: no I/O, no formatting.
//!
//! An arm is compiled once into a [`Plan`] (its slots: every occurrence of every
//! component, visit and background treatment, with its rank within a day), and the plan
//! is then expanded per patient. The calendar, the cohort, the pharmacy stream and the
//! charts all expand the same plan, so none of them re-derives a date or a dose.
//!
//! Order within a day: background treatment starting that day, then visits (the
//! assessment comes before the dose), then dosing components in file order, except that
//! a component given "after" another on the same day comes after it.

use chrono::{Datelike, NaiveDate};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

use crate::model::*;
use crate::moves::{self, Fix, Flags, Item};
use crate::recorded::{Code, Deviation, PatientLog, Record, RecordKind, Status, Target};
use crate::site::SiteCalendar;
use crate::timing;

/// One patient as the schedule needs them.
#[derive(Debug, Clone, PartialEq)]
pub struct Patient {
    pub id: String,
    /// As entered: per-kg doses are computed from these exact digits.
    pub weight_kg: Kg,
    pub start: NaiveDate,
    /// The site whose calendar the patient is scheduled on, if any.
    pub site: Option<String>,
}

/// Why a schedule cannot be made. The caller knows which file, row or flag to blame.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScheduleError {
    #[error("weight {0} kg is not a usable body weight (hard limits {min}-{max} kg)", min = WEIGHT_HARD_MIN_KG, max = WEIGHT_HARD_MAX_KG)]
    Weight(Kg),
    #[error(
        "{component} dose {occurrence} would be {dose} {unit}, above the scenario's maximum of {max} {unit} per dose",
        dose = crate::format::shown(*dose),
        max = crate::format::shown(*max)
    )]
    AboveMaximum {
        component: String,
        occurrence: u32,
        dose: f64,
        max: f64,
        unit: &'static str,
    },
    #[error(
        "study day {0} falls outside the calendar the outputs can show (0001-01-01 to 9999-12-31)"
    )]
    DateOutOfRange(i64),
    #[error(
        "{component} dose {occurrence} rounds to 0 {unit} (the scenario's dose.round_to is larger than this patient's dose)"
    )]
    RoundsToZero {
        component: String,
        occurrence: u32,
        unit: &'static str,
    },
    #[error("{source} (at the weight recorded on line {line} of the administration record)")]
    AtRecordedWeight {
        line: u32,
        source: Box<ScheduleError>,
    },
}

/// Checks a body weight against the hard limits (error) and the scenario's usual range
/// (the `Ok(Some(..))` warning): [`Kg::check`], its error said as a schedule's.
pub fn check_weight(weight: Kg, usual: &WeightRange) -> Result<Option<String>, ScheduleError> {
    weight.check(usual).map_err(ScheduleError::Weight)
}

/// What a calendar row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum EventKind {
    CellInfusion,
    PlasmaExchange,
    Visit,
    Background,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// An infusion or exchange: something prepared and given, with an occurrence n/N.
    pub fn is_dose(self) -> bool {
        matches!(self, EventKind::CellInfusion | EventKind::PlasmaExchange)
    }
}

impl serde::Serialize for EventKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Which item of the arm an event comes from (an index into that list of the [`Arm`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Component(usize),
    Visit(usize),
    Background(usize),
}

/// One dated row of a patient's calendar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    /// The date it is scheduled on: the planned date, or where a site calendar moved it.
    pub date: NaiveDate,
    /// The date the regimen's study day gives, before any move.
    pub planned: NaiveDate,
    /// What the site calendar did to it (nothing without a calendar).
    pub flags: Flags,
    pub study_day: i64,
    /// 1, 2, ... among this patient's events on this date.
    pub order_in_day: u32,
    pub kind: EventKind,
    pub origin: Origin,
    pub occurrence: u32,
    pub occurrences: u32,
    /// In the product's unit (whole cells, or mL); `None` for visits and background.
    pub dose: Option<f64>,
    /// Cells/kg when the dose is weight-based.
    pub dose_per_kg: Option<f64>,
    /// Running total of this event's product for this patient, this dose included.
    pub cumulative_dose: Option<f64>,
    pub volume_ml: Option<f64>,
    /// The visit window, first and last acceptable date.
    pub window: Option<(NaiveDate, NaiveDate)>,
    /// The component this event follows on the same day, if any.
    pub after: Option<usize>,
    /// Which of this event's values (and, for a running total, of the earlier doses in
    /// it) are assumed rather than stated by the record.
    pub assumed: Assumed,
    /// Where it stands against the administration record (planned without one).
    pub status: Status,
    /// The plan's dose for it at the weight then current, once it is given, missed,
    /// cancelled or due (`dose` is then what was given, if anything).
    pub planned_amount: Option<f64>,
    /// How it departs from the plan, by the record.
    pub deviation: Deviation,
    /// The weight its dose was computed at, when the record changed it from the roster's.
    pub weight: Option<Kg>,
}

impl Event {
    /// The product index of a dosing event.
    pub fn product(&self, arm: &Arm) -> Option<usize> {
        match self.origin {
            Origin::Component(c) => Some(arm.components[c].product),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum When {
    Day(u32),
    /// `months` calendar months after study day `base_day`.
    Months {
        base_day: u32,
        months: u32,
    },
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    when: When,
    rank: u32,
    origin: Origin,
    kind: EventKind,
    occurrence: u32,
    occurrences: u32,
    after: Option<usize>,
    assumed: Assumed,
}

/// How one patient's calendar is expanded ([`Plan::expand`], [`Plan::expand_on`]): at
/// their weight from their start date, and, as a caller has them, the doses computed
/// before, where a site calendar or the record puts the events, and the record applied.
#[derive(Debug, Clone, Copy)]
pub struct Expand<'a> {
    pub weight_kg: Kg,
    pub start: NaiveDate,
    /// Each component's dose ([`Plan::component_doses`]), computed once beforehand;
    /// `None`: computed from the weight. The weight must already have passed
    /// [`check_weight`].
    pub doses: Option<&'a [Option<f64>]>,
    /// Where the events fall ([`Plan::placement`], [`Plan::place_on`]); `None`: the
    /// plan's own dates.
    pub placement: Option<&'a [PlacedSlot]>,
    /// The administration record applied, complete to its as-of date.
    pub record: Option<(&'a PatientLog<'a>, NaiveDate)>,
}

impl<'a> Expand<'a> {
    /// The plan as it is, for a patient of `weight_kg` starting on `start`.
    pub fn new(weight_kg: Kg, start: NaiveDate) -> Self {
        Expand {
            weight_kg,
            start,
            doses: None,
            placement: None,
            record: None,
        }
    }

    /// With the doses computed beforehand.
    pub fn doses(mut self, doses: &'a [Option<f64>]) -> Self {
        self.doses = Some(doses);
        self
    }

    /// With the events where `placement` puts them (`None`: the plan's own dates).
    pub fn placed(mut self, placement: Option<&'a [PlacedSlot]>) -> Self {
        self.placement = placement;
        self
    }

    /// With the record applied: statuses, given doses, deviations (see [`Plan::expand`]).
    pub fn record(mut self, log: &'a PatientLog<'a>, as_of: NaiveDate) -> Self {
        self.record = Some((log, as_of));
        self
    }
}

/// An arm compiled for expansion: every occurrence of everything, ranked.
#[derive(Debug, Clone)]
pub struct Plan<'t> {
    pub trial: &'t Trial,
    pub arm: &'t Arm,
    slots: Vec<Slot>,
    /// Each component's dose rule, compiled to exact decimals once.
    doses: Vec<DoseRule>,
    /// True when no slot depends on calendar months, so `slots` is already in calendar order.
    presorted: bool,
    /// Each component's rank in the day (its slots' `rank`), so that sorting events by
    /// rank looks each one up in constant time.
    component_ranks: Vec<u32>,
}

impl<'t> Plan<'t> {
    pub fn new(trial: &'t Trial, arm: &'t Arm) -> Self {
        let ranks = component_ranks(arm);
        let mut slots = Vec::new();
        push_background_slots(arm, &mut slots);
        push_visit_slots(arm, &mut slots);
        push_component_slots(trial, arm, &ranks, &mut slots);
        let presorted = slots.iter().all(|s| matches!(s.when, When::Day(_)));
        if presorted {
            slots.sort_by_key(|s| match s.when {
                When::Day(d) => (d, s.rank),
                When::Months { .. } => unreachable!(),
            });
        }
        let doses = arm
            .components
            .iter()
            .map(|c| DoseRule::new(&c.dose, trial.products[c.product].unit))
            .collect();
        Plan {
            trial,
            arm,
            slots,
            doses,
            presorted,
            component_ranks: ranks.iter().map(|r| 2 + r).collect(),
        }
    }

    /// The rank in the day of the slots `e` comes from (see [`Plan::new`]).
    fn rank_of(&self, e: &Event) -> u32 {
        match e.origin {
            Origin::Background(_) => 0,
            Origin::Visit(_) => 1,
            Origin::Component(c) => self.component_ranks[c],
        }
    }

    /// Whether any event falls by calendar months, so that its study day depends on the
    /// start date.
    pub fn has_month_steps(&self) -> bool {
        !self.presorted
    }

    /// Number of events each patient gets.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// One patient's whole calendar into `out` (cleared first), in calendar order: the
    /// plan's events at their weight from their start, where `how.placement` puts them,
    /// and with `how.record` applied. Each event then gets its [`Status`]; a given dose is
    /// what was given, on the day it was given; a missed or cancelled one has no dose;
    /// per-kg doses that follow recorded weights (`dose.weight_basis = "current"`) are
    /// computed at the weight in force on their date; deviations are coded with their
    /// figures.
    pub fn expand(&self, how: &Expand, out: &mut Vec<Event>) -> Result<(), ScheduleError> {
        let (w, start) = (how.weight_kg, how.start);
        match (how.record, how.placement) {
            (Some((log, as_of)), p) => self.actual(how.doses, w, start, p, log, as_of, out),
            (None, Some(p)) => self.expand_placed(how.doses, w, start, p, out),
            (None, None) => self.expand_with(how.doses, w, start, out),
        }
    }

    /// Only the events of `date` of [`Plan::expand`]'s calendar (same order, same running
    /// totals), without building the rest when it need not: the pharmacy stream calls
    /// this once per patient-day. A record must change no amount
    /// ([`PatientLog::changes_amounts`] false), so that the plan's running totals are
    /// what was given.
    pub fn expand_on(
        &self,
        how: &Expand,
        date: NaiveDate,
        out: &mut Vec<Event>,
    ) -> Result<(), ScheduleError> {
        let (w, start) = (how.weight_kg, how.start);
        match (how.record, how.placement) {
            (Some((log, as_of)), p) => {
                self.actual_on(how.doses, w, start, p, log, as_of, date, out)
            }
            (None, Some(p)) => self.expand_date_placed(how.doses, w, start, p, date, out),
            (None, None) => self.expand_date_with(how.doses, w, start, date, out),
        }
    }

    /// The whole calendar with the patient's [`Plan::component_doses`] computed once
    /// beforehand (`None`: computed here from the weight).
    fn expand_with(
        &self,
        known: Option<&[Option<f64>]>,
        weight_kg: Kg,
        start: NaiveDate,
        out: &mut Vec<Event>,
    ) -> Result<(), ScheduleError> {
        out.clear();
        let doses = self.doses(known, weight_kg);
        for s in &self.slots {
            let (date, study_day) = slot_date(s, start)?;
            out.push(self.slot_event(s, &doses, date, study_day)?);
        }
        if !self.presorted {
            // Stable: equal (date, rank) keep file order.
            out.sort_by_key(|e| (e.date, self.rank_of(e)));
        }
        self.number_and_total(out);
        Ok(())
    }

    /// Numbers each event within its day and sets the running totals, over events in
    /// calendar order.
    fn number_and_total(&self, out: &mut [Event]) {
        let mut totals = Totals::new(self.trial.products.len());
        let mut prev: Option<NaiveDate> = None;
        let mut order = 0;
        for e in out.iter_mut() {
            order = if prev == Some(e.date) { order + 1 } else { 1 };
            prev = Some(e.date);
            e.order_in_day = order;
            // A dose held for a decision is in no running total until it is given.
            if let (Some(d), Some(p), false) =
                (e.dose, e.product(self.arm), e.status == Status::Held)
            {
                (e.cumulative_dose, e.assumed) = totals.add(p, d, e.assumed);
            }
        }
    }

    /// Each component's dose for a patient of `weight_kg` (in component order), for a
    /// caller that expands the same patient on many dates ([`Expand::doses`]).
    pub fn component_doses(&self, weight_kg: Kg) -> impl Iterator<Item = Option<f64>> + '_ {
        self.doses.iter().map(move |r| r.apply(weight_kg).0)
    }

    /// Only the events of one date, exactly as [`Plan::expand_with`] gives them (same
    /// order, same running totals), without building the rest of the calendar when the
    /// plan has no month steps.
    fn expand_date_with(
        &self,
        known: Option<&[Option<f64>]>,
        weight_kg: Kg,
        start: NaiveDate,
        date: NaiveDate,
        out: &mut Vec<Event>,
    ) -> Result<(), ScheduleError> {
        if !self.presorted {
            self.expand_with(known, weight_kg, start, out)?;
            out.retain(|e| e.date == date);
            return Ok(());
        }
        out.clear();
        let day = timing::day_of_date(start, date);
        let day_of = |s: &Slot| match s.when {
            When::Day(d) => i64::from(d),
            When::Months { .. } => unreachable!("presorted plans have study days only"),
        };
        // The slots are sorted by day: today's are a run after the earlier ones.
        let first = self.slots.partition_point(|s| day_of(s) < day);
        let end = first + self.slots[first..].partition_point(|s| day_of(s) == day);
        let today = &self.slots[first..end];
        if today.is_empty() {
            return Ok(());
        }
        let (doses, mut totals) =
            self.day_start(known, weight_kg, today.iter(), self.slots[..first].iter());
        for s in today {
            let e = self.slot_event(s, &doses, date, day)?;
            self.push_in_day(out, e, &mut totals);
        }
        Ok(())
    }

    /// The doses and running totals a day's events start from: doses only when something
    /// is dosed `today` (a visit day needs neither), and the totals of the `earlier` slots'
    /// doses.
    fn day_start<'s>(
        &self,
        known: Option<&[Option<f64>]>,
        weight_kg: Kg,
        mut today: impl Iterator<Item = &'s Slot>,
        earlier: impl Iterator<Item = &'s Slot>,
    ) -> (Doses, Totals) {
        let dosed_today = today.any(|s| matches!(s.origin, Origin::Component(_)));
        let doses = if dosed_today {
            self.doses(known, weight_kg)
        } else {
            Doses::Few([(None, None); 4])
        };
        let mut totals = Totals::new(self.trial.products.len());
        if dosed_today {
            for s in earlier {
                // An earlier dose still counts towards today's running total.
                if let Origin::Component(c) = s.origin
                    && let Some(dose) = doses[c].0
                {
                    totals.add(self.arm.components[c].product, dose, s.assumed);
                }
            }
        }
        (doses, totals)
    }

    /// Appends the next event of a day: numbered in the day, with its running total.
    fn push_in_day(&self, out: &mut Vec<Event>, mut e: Event, totals: &mut Totals) {
        e.order_in_day = out.len() as u32 + 1;
        if let (Some(dose), Some(p)) = (e.dose, e.product(self.arm)) {
            (e.cumulative_dose, e.assumed) = totals.add(p, dose, e.assumed);
        }
        out.push(e);
    }

    /// The event of one slot on its date, without order or running total.
    fn slot_event(
        &self,
        s: &Slot,
        doses: &Doses,
        date: NaiveDate,
        study_day: i64,
    ) -> Result<Event, ScheduleError> {
        let mut e = Event {
            date,
            planned: date,
            flags: Flags::NONE,
            study_day,
            order_in_day: 0,
            kind: s.kind,
            origin: s.origin,
            occurrence: s.occurrence,
            occurrences: s.occurrences,
            dose: None,
            dose_per_kg: None,
            cumulative_dose: None,
            volume_ml: None,
            window: None,
            after: s.after,
            assumed: s.assumed,
            status: Status::Planned,
            planned_amount: None,
            deviation: Deviation::default(),
            weight: None,
        };
        match s.origin {
            Origin::Component(c) => {
                let comp = &self.arm.components[c];
                let product = &self.trial.products[comp.product];
                let (dose, per_kg) = doses[c];
                if let (Some(d), Some(max)) = (dose, comp.dose.max_per_dose)
                    && d > max
                {
                    return Err(ScheduleError::AboveMaximum {
                        component: comp.id.clone(),
                        occurrence: s.occurrence,
                        dose: d,
                        max,
                        unit: product.unit.as_str(),
                    });
                }
                if dose == Some(0.0) {
                    return Err(ScheduleError::RoundsToZero {
                        component: comp.id.clone(),
                        occurrence: s.occurrence,
                        unit: product.unit.as_str(),
                    });
                }
                e.dose = dose;
                e.dose_per_kg = per_kg;
                e.volume_ml = dose.and_then(|d| match product.unit {
                    Unit::Ml => Some(d),
                    Unit::Cells => product.concentration_cells_per_ml.map(|c| d / c),
                });
            }
            Origin::Visit(v) => {
                if let Some(w) = &self.arm.visits[v].window {
                    e.window = Some(window_around(date, w, study_day)?);
                }
            }
            Origin::Background(_) => {}
        }
        Ok(e)
    }

    /// Checks the weight and expands: the whole calendar of one patient.
    fn schedule(&self, patient: &Patient) -> Result<Vec<Event>, ScheduleError> {
        check_weight(patient.weight_kg, &self.trial.weight)?;
        let mut out = Vec::with_capacity(self.slots.len());
        self.expand_with(None, patient.weight_kg, patient.start, &mut out)?;
        Ok(out)
    }
}

/// The first and last dates of a window around a planned date.
fn window_around(
    date: NaiveDate,
    w: &Window,
    study_day: i64,
) -> Result<(NaiveDate, NaiveDate), ScheduleError> {
    let out_of_range = ScheduleError::DateOutOfRange(study_day);
    Ok((
        timing::shift_days(date, -i64::from(w.days_before)).ok_or(out_of_range.clone())?,
        timing::shift_days(date, i64::from(w.days_after)).ok_or(out_of_range)?,
    ))
}

/// A slot's planned date and study day for a patient starting on `start`.
fn slot_date(s: &Slot, start: NaiveDate) -> Result<(NaiveDate, i64), ScheduleError> {
    match s.when {
        When::Day(d) => Ok((
            timing::date_of_day(start, d).ok_or(ScheduleError::DateOutOfRange(i64::from(d)))?,
            i64::from(d),
        )),
        When::Months { base_day, months } => {
            timing::month_step(start, base_day, months).map_err(ScheduleError::DateOutOfRange)
        }
    }
}

/// Where a patient's events fall once a site calendar has moved them: the plan's slots in
/// the order of their scheduled dates, each with its planned date and flags. It depends on
/// the arm, the start date and the calendar, never the weight, so patients who share those
/// share one.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    items: Vec<PlacedSlot>,
}

/// One event of a [`Placement`]: which slot, how many days it moved, and what the site
/// calendar did. Sixteen bytes, so that a cohort's placements stay in cache; the dates
/// follow from the patient's start date.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlacedSlot {
    slot: u32,
    /// The study day it is scheduled on.
    day: i32,
    /// Scheduled minus planned date, in days.
    shift: i32,
    flags: Flags,
    /// Whether an assumed closed-day rule chose the date.
    by_assumed_rule: bool,
    /// Whether an assumed rule (anchor, minimum gap) re-placed it after the record.
    reprojected_by_assumed: bool,
    /// Held by the record's minimum gap: not to be prepared until someone decides.
    held: bool,
    /// Days from where the rules would have put it, when the record fixed its date.
    late: i32,
    /// Days from its anchored planned date when that is beyond its window (else 0).
    beyond: i32,
}

impl Placement {
    /// The placed events, in calendar order: what [`Plan::expand`] expands with [`Expand::placed`].
    pub fn slots(&self) -> &[PlacedSlot] {
        &self.items
    }
}

impl PlacedSlot {
    /// The study day it is scheduled on.
    pub fn study_day(&self) -> i64 {
        i64::from(self.day)
    }

    /// What the site calendar did to it.
    pub fn flags(&self) -> Flags {
        self.flags
    }

    /// Whether the record's minimum gap holds it for a decision.
    pub fn is_held(&self) -> bool {
        self.held
    }
}

impl Plan<'_> {
    /// Places the plan's events for a patient starting on `start` at a site with
    /// `calendar`: each component's occurrences and each visit by its closed-day rules
    /// ([`moves::place`]); background treatment stays where it is (it is not a procedure
    /// the site has to be open for). No event moves before study day 1.
    pub fn placement(
        &self,
        start: NaiveDate,
        calendar: &SiteCalendar,
    ) -> Result<Placement, ScheduleError> {
        self.place_on(start, Some(calendar), &[])
    }

    /// As [`Plan::placement`] (`None`: every day open), with the slots the record fixes
    /// (`fixes`: slot index and date) on their recorded dates: the re-projected plan.
    pub fn place_on(
        &self,
        start: NaiveDate,
        calendar: Option<&SiteCalendar>,
        fixes: &[(usize, Fix)],
    ) -> Result<Placement, ScheduleError> {
        let mut planned = Vec::with_capacity(self.slots.len());
        for s in &self.slots {
            planned.push(slot_date(s, start)?);
        }
        let (item_of, items) = self.placement_items(&planned, fixes);
        let (policies, assumed) = self.placement_policies();
        let first = timing::date_of_day(start, 1).unwrap_or(start);
        let last = NaiveDate::from_ymd_opt(9999, 12, 31).expect("a date");
        let open = |d: NaiveDate| d >= first && d <= last && calendar.is_none_or(|c| c.is_open(d));
        let placed = moves::place(&items, &policies, open, |d| {
            calendar.is_none_or(|c| c.covers(d))
        });
        let moved = Moved {
            items: &items,
            placed: &placed,
            policies: &policies,
            assumed: &assumed,
        };
        let mut out: Vec<(NaiveDate, PlacedSlot)> = (0..self.slots.len())
            .map(|k| {
                let item = Some(item_of[k]).filter(|&i| i != usize::MAX);
                moved.slot(k, planned[k], item)
            })
            .collect();
        // A move, an anchor or a recorded date can push an event past the calendar the
        // outputs can show (a record row dated 9999-12-31): no placement then.
        if let Some((_, p)) = out.iter().find(|(d, _)| *d > last || d.year() < 1) {
            return Err(ScheduleError::DateOutOfRange(i64::from(p.day)));
        }
        // Stable: equal (date, rank) keep slot order, as an unmoved calendar does.
        out.sort_by_key(|(date, p)| (*date, self.slots[p.slot as usize].rank));
        Ok(Placement {
            items: out.into_iter().map(|(_, p)| p).collect(),
        })
    }

    /// The items [`moves::place`] places, from the slots planned on `planned`, and the
    /// item of each slot (`usize::MAX` for background, which has none). Items come in
    /// slot order, so each component's occurrences come in order; a component given
    /// after another follows its occurrence planned the same day.
    fn placement_items(
        &self,
        planned: &[(NaiveDate, i64)],
        fixes: &[(usize, Fix)],
    ) -> (Vec<usize>, Vec<Item>) {
        let n_comp = self.arm.components.len();
        let mut item_of = vec![usize::MAX; self.slots.len()];
        let mut items: Vec<Item> = Vec::with_capacity(self.slots.len());
        let mut by_component: std::collections::HashMap<(usize, NaiveDate), usize> =
            std::collections::HashMap::new();
        for (k, s) in self.slots.iter().enumerate() {
            let series = match s.origin {
                Origin::Component(c) => c,
                Origin::Visit(v) => n_comp + v,
                Origin::Background(_) => continue,
            };
            item_of[k] = items.len();
            if let Origin::Component(c) = s.origin {
                by_component.insert((c, planned[k].0), items.len());
            }
            items.push(Item {
                planned: planned[k].0,
                series,
                leader: None,
                fixed: fixes.iter().find(|f| f.0 == k).map(|f| f.1),
            });
        }
        for (k, s) in self.slots.iter().enumerate() {
            if let Some(a) = s.after
                && item_of[k] != usize::MAX
            {
                items[item_of[k]].leader = by_component.get(&(a, planned[k].0)).copied();
            }
        }
        (item_of, items)
    }

    /// Each series' closed-day policy (components, then visits), and whether it is
    /// assumed.
    fn placement_policies(&self) -> (Vec<moves::Policy>, Vec<bool>) {
        let n = self.arm.components.len() + self.arm.visits.len();
        let mut policies: Vec<moves::Policy> = Vec::with_capacity(n);
        let mut assumed: Vec<bool> = Vec::with_capacity(policies.capacity());
        for c in &self.arm.components {
            policies.push(c.timing.closed_days.policy());
            assumed.push(c.timing.closed_days.is_assumed());
        }
        for v in &self.arm.visits {
            policies.push(v.policy());
            assumed.push(v.policy_assumed());
        }
        (policies, assumed)
    }

    /// As [`Plan::expand_with`], with the events where `placement` puts them.
    fn expand_placed(
        &self,
        known: Option<&[Option<f64>]>,
        weight_kg: Kg,
        start: NaiveDate,
        placement: &[PlacedSlot],
        out: &mut Vec<Event>,
    ) -> Result<(), ScheduleError> {
        out.clear();
        let doses = self.doses(known, weight_kg);
        for p in placement {
            let s = &self.slots[p.slot as usize];
            let (planned, day) = slot_date(s, start)?;
            out.push(self.placed_event(p, &doses, planned, day)?);
        }
        self.number_and_total(out);
        Ok(())
    }

    /// The event of a placed slot planned on `planned` (study day `day`), without order
    /// or running total.
    #[inline]
    fn placed_event(
        &self,
        p: &PlacedSlot,
        doses: &Doses,
        planned: NaiveDate,
        day: i64,
    ) -> Result<Event, ScheduleError> {
        let s = &self.slots[p.slot as usize];
        let shift = i64::from(p.shift);
        let mut e = self.slot_event(s, doses, planned, day + shift)?;
        if shift != 0 {
            e.date = timing::shift_days(planned, shift)
                .ok_or(ScheduleError::DateOutOfRange(day + shift))?;
        }
        e.flags = p.flags;
        e.deviation.days = p.late;
        e.deviation.beyond = p.beyond;
        if p.by_assumed_rule {
            e.assumed |= Assumed::CLOSED_DAY_RULE;
        }
        if p.reprojected_by_assumed {
            e.assumed |= Assumed::REPROJECTION_RULE;
        }
        if p.held {
            e.status = Status::Held;
        }
        Ok(e)
    }

    /// As [`Plan::expand_date_with`], with the events where `placement` puts them: only
    /// those scheduled on `date`, with the running totals of everything before.
    fn expand_date_placed(
        &self,
        known: Option<&[Option<f64>]>,
        weight_kg: Kg,
        start: NaiveDate,
        placement: &[PlacedSlot],
        date: NaiveDate,
        out: &mut Vec<Event>,
    ) -> Result<(), ScheduleError> {
        out.clear();
        let items = placement;
        let day = timing::day_of_date(start, date);
        let first = items.partition_point(|p| i64::from(p.day) < day);
        let end = first + items[first..].partition_point(|p| i64::from(p.day) == day);
        let today = &items[first..end];
        if today.is_empty() {
            return Ok(());
        }
        let slot = |p: &PlacedSlot| &self.slots[p.slot as usize];
        let (doses, mut totals) = self.day_start(
            known,
            weight_kg,
            today.iter().map(slot),
            items[..first].iter().map(slot),
        );
        for p in today {
            let planned_day = day - i64::from(p.shift);
            let planned = if p.shift == 0 {
                date
            } else {
                timing::shift_days(date, -i64::from(p.shift))
                    .ok_or(ScheduleError::DateOutOfRange(planned_day))?
            };
            let e = self.placed_event(p, &doses, planned, planned_day)?;
            self.push_in_day(out, e, &mut totals);
        }
        Ok(())
    }

    /// Checks the weight, places and expands: the whole calendar of one patient at a site
    /// (`None`: every day open, the plan as it is).
    pub fn schedule_at(
        &self,
        patient: &Patient,
        calendar: Option<&SiteCalendar>,
    ) -> Result<Vec<Event>, ScheduleError> {
        let Some(calendar) = calendar else {
            return self.schedule(patient);
        };
        check_weight(patient.weight_kg, &self.trial.weight)?;
        let placement = self.placement(patient.start, calendar)?;
        let mut out = Vec::with_capacity(self.slots.len());
        self.expand_placed(
            None,
            patient.weight_kg,
            patient.start,
            placement.slots(),
            &mut out,
        )?;
        Ok(out)
    }
}

/// What the administration record does to a plan: the fixes it makes and the events it
/// gives. See `record.rs` for the record itself.
impl Plan<'_> {
    /// The slot of an arm item's occurrence.
    fn slot_of(&self, target: Target, occurrence: u32) -> Option<usize> {
        let origin = match target {
            Target::Component(c) => Origin::Component(usize::from(c)),
            Target::Visit(v) => Origin::Visit(usize::from(v)),
        };
        self.slots
            .iter()
            .position(|s| s.origin == origin && s.occurrence == occurrence)
    }

    /// The planned date (the day-1 grid, before any move) of an arm item's occurrence for
    /// a patient starting on `start`.
    pub fn planned_date(
        &self,
        target: Target,
        occurrence: u32,
        start: NaiveDate,
    ) -> Option<NaiveDate> {
        let k = self.slot_of(target, occurrence)?;
        slot_date(&self.slots[k], start).ok().map(|d| d.0)
    }

    /// The last date a patient starting on `start` may have anything recorded on, before
    /// any delay: each event's planned date plus how far it may move (its window after,
    /// else [`moves::DEFAULT_REACH_DAYS`]), the latest of them. `None` for an arm with
    /// nothing scheduled (or a date past 9999).
    pub fn reach_end(&self, start: NaiveDate) -> Option<NaiveDate> {
        let mut end: Option<NaiveDate> = None;
        for s in &self.slots {
            let after = match s.origin {
                Origin::Component(c) => self.arm.components[c]
                    .timing
                    .closed_days
                    .window
                    .as_ref()
                    .map(|w| w.days_after),
                Origin::Visit(v) => self.arm.visits[v].window.as_ref().map(|w| w.days_after),
                Origin::Background(_) => continue,
            }
            .unwrap_or(moves::DEFAULT_REACH_DAYS)
            .max(moves::DEFAULT_REACH_DAYS);
            let (date, _) = slot_date(s, start).ok()?;
            let reach = timing::shift_days(date, i64::from(after))?;
            end = Some(end.map_or(reach, |e| e.max(reach)));
        }
        end
    }

    /// The recorded dates of a patient's given and missed rows, as fixes for
    /// [`Plan::place_on`]; empty when every one is on the date `scheduled` already gives
    /// it (the shared placement, or the plan's own dates), so that none needs re-placing.
    pub fn fixes(
        &self,
        start: NaiveDate,
        scheduled: Option<&[PlacedSlot]>,
        log: &PatientLog,
    ) -> Vec<(usize, Fix)> {
        let mut fixes = Vec::new();
        let mut differs = false;
        for r in log.records {
            let Some(t) = r.target else { continue };
            let Some(k) = self.slot_of(t, u32::from(r.occurrence)) else {
                continue;
            };
            let day = match scheduled {
                Some(p) => p
                    .iter()
                    .find(|p| p.slot as usize == k)
                    .map(|p| i64::from(p.day)),
                None => slot_date(&self.slots[k], start).ok().map(|d| d.1),
            };
            differs |= day != Some(timing::day_of_date(start, r.date));
            fixes.push((
                k,
                Fix {
                    date: r.date,
                    anchors: r.kind == RecordKind::Given,
                },
            ));
        }
        if differs { fixes } else { Vec::new() }
    }

    /// One patient's calendar with the administration record applied, into `out`
    /// (cleared first): `placement` is where the events fall (re-projected from the
    /// record's dates by [`Plan::fixes`] and [`Plan::place_on`] when they moved; `None`:
    /// the plan's own dates). Each event gets its [`Status`]; a given dose is what was
    /// given, on the day it was given; a missed or cancelled one has no dose; per-kg doses
    /// that follow recorded weights (`dose.weight_basis = "current"`) are computed at the
    /// weight in force on their date; deviations are coded with their figures.
    #[allow(clippy::too_many_arguments)]
    fn actual(
        &self,
        known: Option<&[Option<f64>]>,
        weight_kg: Kg,
        start: NaiveDate,
        placement: Option<&[PlacedSlot]>,
        log: &PatientLog,
        as_of: NaiveDate,
        out: &mut Vec<Event>,
    ) -> Result<(), ScheduleError> {
        match placement {
            Some(p) => self.expand_placed(known, weight_kg, start, p, out)?,
            None => self.expand_with(known, weight_kg, start, out)?,
        }
        self.overlay(weight_kg, log, as_of, out)?;
        self.number_and_total(out);
        Ok(())
    }

    /// As [`Plan::actual`], only the events scheduled on `date` (with their running
    /// totals), for a record that changes no amount ([`PatientLog::changes_amounts`]
    /// is false: nothing missed, cancelled, re-weighed or given in another amount), so
    /// that the plan's running totals are what was given. The pharmacy stream calls this
    /// once per patient-day.
    #[allow(clippy::too_many_arguments)]
    fn actual_on(
        &self,
        known: Option<&[Option<f64>]>,
        weight_kg: Kg,
        start: NaiveDate,
        placement: Option<&[PlacedSlot]>,
        log: &PatientLog,
        as_of: NaiveDate,
        date: NaiveDate,
        out: &mut Vec<Event>,
    ) -> Result<(), ScheduleError> {
        debug_assert!(!log.changes_amounts());
        match placement {
            Some(p) => self.expand_date_placed(known, weight_kg, start, p, date, out)?,
            None => self.expand_date_with(known, weight_kg, start, date, out)?,
        }
        // An exchange an infusion follows is given the same day, so the day's events
        // hold everything the order check looks at.
        self.overlay(weight_kg, log, as_of, out)
    }

    /// Applies the record to expanded events (all of a calendar, or all of one day):
    /// statuses, doses at recorded weights, given amounts and deviations; the running
    /// totals are left to the caller.
    fn overlay(
        &self,
        weight_kg: Kg,
        log: &PatientLog,
        as_of: NaiveDate,
        out: &mut [Event],
    ) -> Result<(), ScheduleError> {
        let weights: Vec<(NaiveDate, Kg, u32)> = log.weights().collect();
        // The doses at each recorded weight, computed once.
        let mut at_weight: Vec<Option<Doses>> = (0..weights.len()).map(|_| None).collect();
        let end = log.end();
        for e in out.iter_mut() {
            let target = match e.origin {
                Origin::Component(c) => Some(Target::Component(c as u16)),
                Origin::Visit(v) => Some(Target::Visit(v as u16)),
                Origin::Background(_) => None,
            };
            let rec = target.and_then(|t| log.find(t, e.occurrence));
            e.status = record_status(e, log, target, rec, end, as_of);
            if e.status != Status::Given {
                e.deviation.days = 0;
                e.deviation.beyond = 0;
            }
            self.at_recorded_weight(e, weight_kg, &weights, &mut at_weight)?;
            self.apply_status(e, rec, as_of);
        }
        order_deviations(out);
        Ok(())
    }

    /// The dose of `e` at the weight in force on the day it is given, was due or is
    /// planned, for a per-kg dose that follows recorded weights (`dose.weight_basis`).
    fn at_recorded_weight(
        &self,
        e: &mut Event,
        weight_kg: Kg,
        weights: &[(NaiveDate, Kg, u32)],
        at_weight: &mut [Option<Doses>],
    ) -> Result<(), ScheduleError> {
        // The weight in force on a date: the latest recorded on or before it.
        let weight_on = |d: NaiveDate| weights.iter().rev().find(|w| w.0 <= d).map(|w| (w.1, w.2));
        let follows = match e.origin {
            Origin::Component(c) => {
                self.arm.components[c].dose.weight_basis.value == WeightBasis::Current
            }
            _ => false,
        };
        if let Some((kg, line)) = weight_on(e.date).filter(|_| follows)
            && kg != weight_kg
        {
            e.weight = Some(kg);
            if let Origin::Component(c) = e.origin
                && e.dose_per_kg.is_some()
            {
                let k = weights
                    .iter()
                    .position(|x| x.2 == line)
                    .expect("a recorded weight");
                let doses = at_weight[k].get_or_insert_with(|| self.doses_for(kg));
                let dose = doses[c].0;
                let comp = &self.arm.components[c];
                if let (Some(d), Some(max)) = (dose, comp.dose.max_per_dose)
                    && d > max
                {
                    return Err(ScheduleError::AtRecordedWeight {
                        line,
                        source: Box::new(ScheduleError::AboveMaximum {
                            component: comp.id.clone(),
                            occurrence: e.occurrence,
                            dose: d,
                            max,
                            unit: self.trial.products[comp.product].unit.as_str(),
                        }),
                    });
                }
                e.dose = dose;
                e.volume_ml = self.volume(c, dose);
                e.deviation.set_weight_change(weight_kg, kg);
            }
        }
        Ok(())
    }

    /// The amounts and deviations of `e` its status brings: what was given against
    /// what was planned, what was missed, what is overdue.
    fn apply_status(&self, e: &mut Event, rec: Option<&Record>, as_of: NaiveDate) {
        let planned = e.dose;
        match e.status {
            Status::Planned | Status::Held => {}
            Status::Given => {
                e.planned_amount = planned;
                if let Some(r) = rec
                    && let (Some(a), Origin::Component(c)) = (r.amount(), e.origin)
                {
                    e.dose = Some(a);
                    e.volume_ml = self.volume(c, Some(a));
                }
                self.given_deviations(e, planned);
            }
            Status::Missed | Status::Cancelled => {
                e.planned_amount = planned;
                e.dose = None;
                e.cumulative_dose = None;
                e.volume_ml = None;
                if rec.is_some() {
                    e.deviation.set(Code::MISSED);
                }
            }
            Status::Due => {
                e.planned_amount = planned;
                e.deviation.overdue_days = (as_of - e.date).num_days() as i32;
                e.deviation.set(Code::OVERDUE);
            }
        }
    }

    /// The deviations of a given dose: late, early, outside its window, and an amount
    /// beyond the component's tolerance from the `planned` one.
    fn given_deviations(&self, e: &mut Event, planned: Option<f64>) {
        if e.deviation.days > 0 {
            e.deviation.set(Code::LATE);
        } else if e.deviation.days < 0 {
            e.deviation.set(Code::EARLY);
        }
        if e.deviation.beyond != 0 {
            e.deviation.set(Code::OUTSIDE_WINDOW);
        }
        if let (Some(p), Some(a), Origin::Component(c)) = (planned, e.dose, e.origin)
            && p > 0.0
        {
            let pct = (a - p) / p * 100.0;
            let tol = self.arm.components[c].dose.tolerance_pct.value;
            // A hair over the tolerance in binary arithmetic is not a deviation.
            if pct.abs() > tol + 1e-9 {
                e.deviation.dose_pct = pct;
                e.deviation.set(if pct < 0.0 {
                    Code::DOSE_LOW
                } else {
                    Code::DOSE_HIGH
                });
            }
        }
    }

    /// The volume of `dose` of component `c`'s product, in mL.
    fn volume(&self, c: usize, dose: Option<f64>) -> Option<f64> {
        let product = &self.trial.products[self.arm.components[c].product];
        dose.and_then(|d| match product.unit {
            Unit::Ml => Some(d),
            Unit::Cells => product.concentration_cells_per_ml.map(|c| d / c),
        })
    }
}

/// The status the record gives event `e` (`rec` is its own record, if any), with the
/// deviations that come with it.
fn record_status(
    e: &mut Event,
    log: &PatientLog,
    target: Option<Target>,
    rec: Option<&Record>,
    end: Option<(NaiveDate, RecordKind)>,
    as_of: NaiveDate,
) -> Status {
    let held = e.status == Status::Held;
    match (rec.map(|r| r.kind), target, end) {
        (Some(RecordKind::Given), _, _) => Status::Given,
        (Some(_), _, _) => Status::Missed,
        // After a withdrawal or death nothing of the patient's is due: what is
        // unrecorded is closed, background treatment included; what was due
        // before it was not given.
        (None, _, Some((d, kind))) => {
            if target.is_some() && e.date < d {
                e.deviation.set(Code::NOT_GIVEN);
                e.deviation.ended = Some(kind);
            }
            Status::Cancelled
        }
        (None, None, None) => Status::Planned,
        // A later occurrence given closes an earlier one left unrecorded: it
        // was not given before it, and will not be after.
        (None, Some(t), None) if log.given_after(t, e.occurrence) => {
            e.deviation.set(Code::ORDER);
            Status::Missed
        }
        (None, Some(_), None) if held => {
            e.deviation.set(Code::HELD);
            Status::Held
        }
        (None, Some(_), None) if e.date <= as_of => Status::Due,
        (None, Some(_), None) => Status::Planned,
    }
}

/// A dose recorded after another component that day needs that one given that day.
fn order_deviations(out: &mut [Event]) {
    for k in 0..out.len() {
        let e = &out[k];
        if e.status != Status::Given {
            continue;
        }
        if let Some(a) = e.after {
            let date = e.date;
            let with_leader = out.iter().any(|x| {
                x.origin == Origin::Component(a) && x.status == Status::Given && x.date == date
            });
            if !with_leader {
                out[k].deviation.set(Code::ORDER);
            }
        }
    }
}

/// Running totals per product, without allocating for the usual handful of products,
/// each with whether an assumed dose is in it.
struct Totals {
    small: [(f64, bool); 8],
    more: Vec<(f64, bool)>,
}

impl Totals {
    fn new(products: usize) -> Self {
        Totals {
            small: [(0.0, false); 8],
            more: vec![(0.0, false); products.saturating_sub(8)],
        }
    }

    /// Adds a dose of product `p` whose values are `assumed`; returns the new total and
    /// the assumed set of the row that shows it (marked when an earlier assumed dose is
    /// in the total and this dose is not itself assumed).
    fn add(&mut self, p: usize, dose: f64, assumed: Assumed) -> (Option<f64>, Assumed) {
        let t = if p < 8 {
            &mut self.small[p]
        } else {
            &mut self.more[p - 8]
        };
        t.0 += dose;
        let own = assumed.contains(Assumed::DOSE);
        let earlier = t.1 && !own;
        t.1 |= own;
        (
            Some(t.0),
            assumed | Assumed::when(earlier, Assumed::EARLIER_DOSE),
        )
    }
}

/// Each component's (dose, per-kg dose) for one patient, in component order, without
/// allocating for the usual handful of components (the pharmacy stream asks once per
/// patient-day).
enum Doses {
    Few([(Option<f64>, Option<f64>); 4]),
    Many(Vec<(Option<f64>, Option<f64>)>),
}

impl std::ops::Index<usize> for Doses {
    type Output = (Option<f64>, Option<f64>);
    fn index(&self, i: usize) -> &Self::Output {
        match self {
            Doses::Few(a) => &a[i],
            Doses::Many(v) => &v[i],
        }
    }
}

/// The assumed values a component's every event carries.
fn component_assumed(trial: &Trial, c: &Component) -> Assumed {
    let sourced_assumed = |p: Option<&Provenance>| p.is_some_and(Provenance::is_assumed);
    Assumed::when(c.dose.provenance.is_assumed(), Assumed::DOSE)
        | Assumed::when(c.timing.provenance.is_assumed(), Assumed::TIMING)
        | Assumed::when(
            sourced_assumed(c.route.as_ref().map(|r| &r.provenance)),
            Assumed::ROUTE,
        )
        | Assumed::when(
            sourced_assumed(c.duration_min.as_ref().map(|d| &d.provenance)),
            Assumed::DURATION,
        )
        | Assumed::when(
            trial.products[c.product].provenance.is_assumed(),
            Assumed::PRODUCT,
        )
}

impl Plan<'_> {
    /// Every component's dose: `known` (computed before) when given, else from the weight.
    fn doses(&self, known: Option<&[Option<f64>]>, weight_kg: Kg) -> Doses {
        match known {
            Some(k) => self.doses_from(k),
            None => self.doses_for(weight_kg),
        }
    }

    /// [`Doses`] from doses computed before, with each component's per-kg dose.
    fn doses_from(&self, known: &[Option<f64>]) -> Doses {
        let per_kg = |r: &DoseRule| match r.amount {
            DoseAmount::PerKg(k) => Some(k),
            _ => None,
        };
        if self.doses.len() <= 4 {
            let mut a = [(None, None); 4];
            for ((slot, r), d) in a.iter_mut().zip(&self.doses).zip(known) {
                *slot = (*d, per_kg(r));
            }
            Doses::Few(a)
        } else {
            Doses::Many(
                self.doses
                    .iter()
                    .zip(known)
                    .map(|(r, d)| (*d, per_kg(r)))
                    .collect(),
            )
        }
    }

    /// Every component's dose for a patient of `weight_kg`, computed once per call.
    fn doses_for(&self, weight_kg: Kg) -> Doses {
        if self.doses.len() <= 4 {
            let mut a = [(None, None); 4];
            for (slot, r) in a.iter_mut().zip(&self.doses) {
                *slot = r.apply(weight_kg);
            }
            Doses::Few(a)
        } else {
            Doses::Many(self.doses.iter().map(|r| r.apply(weight_kg)).collect())
        }
    }
}

/// A dose compiled to exact decimals: the per-kg amount and the rounding step as the
/// scenario wrote them (1.2e6 is exactly 1200000), so that weight x per-kg dose is exact.
#[derive(Debug, Clone, Copy)]
struct DoseRule {
    amount: DoseAmount,
    per_kg: Option<Decimal>,
    step: Option<Decimal>,
    whole_cells: bool,
}

impl DoseRule {
    fn new(dose: &Dose, unit: Unit) -> Self {
        DoseRule {
            amount: dose.amount,
            per_kg: match dose.amount {
                DoseAmount::PerKg(k) => exact_decimal(k),
                _ => None,
            },
            step: dose.round_to.and_then(exact_decimal),
            whole_cells: unit == Unit::Cells,
        }
    }

    fn apply(&self, weight: Kg) -> (Option<f64>, Option<f64>) {
        match (self.amount, self.per_kg) {
            (DoseAmount::None, _) => (None, None),
            (DoseAmount::PerKg(k), Some(exact)) => {
                let raw = exact_product(weight.decimal(), exact, self.step, self.whole_cells);
                (Some(raw), Some(k))
            }
            (DoseAmount::PerKg(_), None) => {
                unreachable!("scenario.rs accepts only finite per-kg doses of 1e3 to 1e9")
            }
            (DoseAmount::Fixed(x), _) => {
                let v = match exact_decimal(x) {
                    Some(d) => exact_product(d, Decimal::ONE, self.step, self.whole_cells),
                    None => x,
                };
                (Some(v), None)
            }
        }
    }
}

/// `a x b`, rounded half away from zero to a multiple of `step` and then (for cells) to a
/// whole number, in exact decimal arithmetic. Integer arithmetic when the digits fit in
/// 128 bits (every real weight and dose), `Decimal` otherwise.
fn exact_product(a: Decimal, b: Decimal, step: Option<Decimal>, whole: bool) -> f64 {
    if let Some(v) = exact_product_i128(a, b, step, whole) {
        return v;
    }
    let away = RoundingStrategy::MidpointAwayFromZero;
    // Weights are at most 350 kg and doses at most 1e12: the product cannot overflow.
    let mut d = a
        .checked_mul(b)
        .expect("a weight times a checked dose fits a Decimal");
    if let Some(s) = step.filter(|s| !s.is_zero()) {
        d = (d / s).round_dp_with_strategy(0, away) * s;
    }
    if whole {
        d = d.round_dp_with_strategy(0, away);
    }
    d.to_f64().unwrap_or(f64::NAN)
}

fn pow10(n: u32) -> Option<i128> {
    10i128.checked_pow(n)
}

/// `num / den` rounded half away from zero, for positive `den`.
fn div_round(num: i128, den: i128) -> i128 {
    let (q, r) = (num / den, num % den);
    if 2 * r.abs() >= den {
        q + num.signum()
    } else {
        q
    }
}

fn exact_product_i128(a: Decimal, b: Decimal, step: Option<Decimal>, whole: bool) -> Option<f64> {
    // The common case (a weight with a few decimals times a whole per-kg dose, no step)
    // in 64 bits: 128-bit division is a library call, and this runs once per patient-day.
    if step.is_none()
        && whole
        && let (Ok(ma), Ok(mb)) = (u64::try_from(a.mantissa()), u64::try_from(b.mantissa()))
        && let Some(p) = ma.checked_mul(mb)
        && let Some(den) = 10u64.checked_pow(a.scale() + b.scale())
    {
        let (q, r) = (p / den, p % den);
        return Some((q + u64::from(r >= den - r)) as f64);
    }
    // The product is p / 10^s exactly.
    let p = a.mantissa().checked_mul(b.mantissa())?;
    let s = a.scale() + b.scale();
    let (num, den) = match step.filter(|s| !s.is_zero()) {
        Some(st) => {
            // round(p / 10^s / (m / 10^t)) x m / 10^t
            let (m, t) = (st.mantissa().abs(), st.scale());
            let q = div_round(p.checked_mul(pow10(t)?)?, m.checked_mul(pow10(s)?)?);
            (q.checked_mul(m)?, pow10(t)?)
        }
        None => (p, pow10(s)?),
    };
    if whole {
        Some(div_round(num, den) as f64)
    } else {
        Decimal::try_from_i128_with_scale(num, den.ilog10())
            .ok()?
            .to_f64()
    }
}

/// The dose in the product's unit and the per-kg dose it came from, if any.
/// Per-kg doses are the weight times the per-kg dose in exact decimal arithmetic, rounded
/// half away from zero to the scenario's rounding step and then to a whole cell; fixed
/// doses are used as written (rounded the same way).
pub fn dose_amount(dose: &Dose, unit: Unit, weight_kg: Kg) -> (Option<f64>, Option<f64>) {
    DoseRule::new(dose, unit).apply(weight_kg)
}

/// What [`moves::place`] did with a plan's items, with each series' policy and whether
/// it is assumed: what a placed slot is read from.
struct Moved<'a> {
    items: &'a [Item],
    placed: &'a [moves::Placed],
    policies: &'a [moves::Policy],
    assumed: &'a [bool],
}

impl Moved<'_> {
    /// Slot `k`, planned on `date` (study day `day`), where its item (none for
    /// background) was placed, with the date it sorts by.
    fn slot(
        &self,
        k: usize,
        (date, day): (NaiveDate, i64),
        item: Option<usize>,
    ) -> (NaiveDate, PlacedSlot) {
        let mut p = PlacedSlot {
            slot: k as u32,
            // Study days of dates in 0001-9999: under 3.7 million.
            day: day as i32,
            shift: 0,
            flags: Flags::NONE,
            by_assumed_rule: false,
            reprojected_by_assumed: false,
            held: false,
            late: 0,
            beyond: 0,
        };
        let Some(i) = item else {
            return (date, p);
        };
        let (items, assumed) = (self.items, self.assumed);
        let got = self.placed[i];
        // Both dates lie in 0001-9999: under 3.7 million days apart.
        p.shift = (got.date - date).num_days() as i32;
        p.day += p.shift;
        p.flags = got.flags;
        p.held = got.held;
        let by_assumed =
            assumed[items[i].series] || items[i].leader.is_some_and(|l| assumed[items[l].series]);
        p.by_assumed_rule = by_assumed && got.by_rule;
        p.reprojected_by_assumed = by_assumed && got.flags.contains(Flags::REPROJECTED);
        p.late = (got.date - got.expected).num_days() as i32;
        // A window is judged from the planned date (the day-1 grid), whatever
        // an anchor or a site calendar did to the schedule.
        if let Some((before, after)) = self.policies[items[i].series].window {
            let off = (got.date - date).num_days();
            if off < -i64::from(before) || off > i64::from(after) {
                p.beyond = off as i32;
            }
        }
        (got.date, p)
    }
}

/// The arm's background treatments, one slot each, first in their day.
fn push_background_slots(arm: &Arm, slots: &mut Vec<Slot>) {
    for (i, b) in arm.background.iter().enumerate() {
        slots.push(Slot {
            when: When::Day(b.start_day),
            rank: 0,
            origin: Origin::Background(i),
            kind: EventKind::Background,
            occurrence: 1,
            occurrences: 1,
            after: None,
            assumed: Assumed::when(b.provenance.is_assumed(), Assumed::BACKGROUND),
        });
    }
}

/// The arm's visits, one slot each, after background treatment in their day.
fn push_visit_slots(arm: &Arm, slots: &mut Vec<Slot>) {
    for (i, v) in arm.visits.iter().enumerate() {
        slots.push(Slot {
            when: When::Day(v.day),
            rank: 1,
            origin: Origin::Visit(i),
            kind: EventKind::Visit,
            occurrence: 1,
            occurrences: 1,
            after: None,
            assumed: Assumed::when(v.provenance.is_assumed(), Assumed::DAY)
                | Assumed::when(
                    v.window.as_ref().is_some_and(|w| w.provenance.is_assumed()),
                    Assumed::WINDOW,
                ),
        });
    }
}

/// Every occurrence of the arm's components, a slot each, ranked in their day after
/// visits by `ranks`.
fn push_component_slots(trial: &Trial, arm: &Arm, ranks: &[u32], slots: &mut Vec<Slot>) {
    for (i, c) in arm.components.iter().enumerate() {
        let n = c.timing.rule.count();
        let assumed = component_assumed(trial, c);
        let kind = match c.kind {
            ComponentKind::CellInfusion => EventKind::CellInfusion,
            ComponentKind::PlasmaExchange => EventKind::PlasmaExchange,
        };
        for k in 0..n {
            let after = c
                .timing
                .after
                .as_ref()
                .filter(|a| a.applies_to(k + 1))
                .map(|a| a.component);
            slots.push(Slot {
                when: occurrence_when(&c.timing.rule, k),
                rank: 2 + ranks[i],
                origin: Origin::Component(i),
                kind,
                occurrence: k + 1,
                occurrences: n,
                after,
                assumed,
            });
        }
    }
}

/// When occurrence `k` (from 0) of a timing rule falls.
fn occurrence_when(rule: &TimingRule, k: u32) -> When {
    match rule {
        TimingRule::Days(days) => When::Day(days[k as usize]),
        TimingRule::Every {
            start_day,
            interval,
            ..
        } => match interval {
            Interval::Days(d) => When::Day(start_day + k * d),
            Interval::Weeks(w) => When::Day(start_day + k * w * 7),
            Interval::Months(m) => When::Months {
                base_day: *start_day,
                months: k * m,
            },
        },
    }
}

/// Each component's position in a stable topological order of the `after` relation.
fn component_ranks(arm: &Arm) -> Vec<u32> {
    let n = arm.components.len();
    let mut rank = vec![u32::MAX; n];
    let mut next = 0;
    fn visit(arm: &Arm, i: usize, rank: &mut [u32], next: &mut u32, depth: usize) {
        if rank[i] != u32::MAX || depth > arm.components.len() {
            return;
        }
        if let Some(a) = &arm.components[i].timing.after {
            visit(arm, a.component, rank, next, depth + 1);
        }
        if rank[i] == u32::MAX {
            rank[i] = *next;
            *next += 1;
        }
    }
    for i in 0..n {
        visit(arm, i, &mut rank, &mut next, 0);
    }
    rank
}

/// Study-day totals of an arm, for `show` and the report: number of doses and the total
/// per kg (or fixed total) of each component.
pub fn component_totals(c: &Component) -> (u32, Option<f64>) {
    let n = c.timing.rule.count();
    let total = match c.dose.amount {
        DoseAmount::PerKg(k) | DoseAmount::Fixed(k) => Some(k * f64::from(n)),
        DoseAmount::None => None,
    };
    (n, total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario;
    use std::path::Path;

    const SCENARIO: &str = r#"
[trial]
id = "T1"
title = "t"
condition = "c"
seed = "s"
[weight_kg]
usual_min = 40
usual_max = 100
assumed = "test"
[[products]]
id = "msc"
name = "MSC"
unit = "cells"
concentration_cells_per_ml = 1000000
source = "q"
[[products]]
id = "plasma"
name = "Plasma"
unit = "mL"
source = "q"
[[visits]]
id = "w1"
name = "Week 1"
day = 8
window = { days_before = 2, days_after = 3, assumed = "test" }
source = "q"
[[background]]
id = "smt"
name = "Standard treatment"
start_day = 1
until = "albumin 35 g/L"
source = "q"
[[arms]]
id = "a"
name = "A"
source = "q"
[[arms.components]]
id = "pe"
kind = "plasma_exchange"
product = "plasma"
dose = { ml = 2000, source = "q" }
timing = { start_day = 1, every_days = 3, count = 3, source = "q" }
[[arms.components]]
id = "msc"
kind = "cell_infusion"
product = "msc"
dose = { cells_per_kg = 100000, max_per_dose = 20000000, source = "q" }
timing = { days = [1, 7, 14, 21], after = "pe", after_occurrences = [1, 2], source = "q" }
[[arms]]
id = "m"
name = "Monthly"
source = "q"
[[arms.components]]
id = "msc"
kind = "cell_infusion"
product = "msc"
dose = { cells = 40000000, source = "q" }
timing = { every_months = 3, count = 4, source = "q" }
"#;

    fn trial() -> Trial {
        scenario::parse(Path::new("t.toml"), SCENARIO).unwrap()
    }

    fn d(s: &str) -> NaiveDate {
        timing::parse_date(s).unwrap()
    }

    fn kg(s: &str) -> Kg {
        s.parse().unwrap()
    }

    #[test]
    fn exchange_comes_before_the_infusion_that_follows_it() {
        let t = trial();
        let plan = Plan::new(&t, &t.arms[0]);
        let p = Patient {
            id: "p".into(),
            weight_kg: kg("62.5"),
            start: d("2026-12-30"),
            site: None,
        };
        let ev = plan.schedule_at(&p, None).unwrap();
        let day1: Vec<_> = ev.iter().filter(|e| e.study_day == 1).collect();
        assert_eq!(
            day1.iter().map(|e| e.kind).collect::<Vec<_>>(),
            vec![
                EventKind::Background,
                EventKind::PlasmaExchange,
                EventKind::CellInfusion
            ]
        );
        assert_eq!(
            day1.iter().map(|e| e.order_in_day).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert_eq!(day1[2].after, Some(0));
        let msc: Vec<_> = ev
            .iter()
            .filter(|e| e.kind == EventKind::CellInfusion)
            .collect();
        assert_eq!(
            msc.iter().map(|e| e.date).collect::<Vec<_>>(),
            vec![
                d("2026-12-30"),
                d("2027-01-05"),
                d("2027-01-12"),
                d("2027-01-19")
            ]
        );
        assert_eq!(msc[3].after, None, "only the first two follow the exchange");
        assert!(msc.iter().all(|e| e.dose == Some(6_250_000.0)));
        assert_eq!(msc[3].cumulative_dose, Some(25_000_000.0));
        assert_eq!(msc[0].volume_ml, Some(6.25));
        let visit = ev.iter().find(|e| e.kind == EventKind::Visit).unwrap();
        assert_eq!(visit.date, d("2027-01-06"));
        assert_eq!(visit.window, Some((d("2027-01-04"), d("2027-01-09"))));
    }

    #[test]
    fn month_intervals_clamp() {
        let t = trial();
        let plan = Plan::new(&t, &t.arms[1]);
        let p = Patient {
            id: "p".into(),
            weight_kg: kg("70"),
            start: d("2026-11-30"),
            site: None,
        };
        let dates: Vec<_> = plan
            .schedule_at(&p, None)
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == EventKind::CellInfusion)
            .map(|e| (e.date, e.study_day, e.dose))
            .collect();
        assert_eq!(
            dates,
            vec![
                (d("2026-11-30"), 1, Some(4e7)),
                (d("2027-02-28"), 91, Some(4e7)),
                (d("2027-05-30"), 182, Some(4e7)),
                (d("2027-08-30"), 274, Some(4e7)),
            ]
        );
    }

    #[test]
    fn a_dose_above_the_maximum_is_an_error() {
        let t = trial();
        let plan = Plan::new(&t, &t.arms[0]);
        let p = Patient {
            id: "p".into(),
            weight_kg: kg("250"),
            start: d("2026-01-01"),
            site: None,
        };
        let e = plan.schedule_at(&p, None).unwrap_err();
        assert!(matches!(e, ScheduleError::AboveMaximum { .. }), "{e}");
        assert!(e.to_string().contains("above the scenario's maximum"));
    }

    #[test]
    fn weights_have_hard_limits_and_a_usual_range() {
        let t = trial();
        assert!(check_weight(kg("0"), &t.weight).is_err());
        assert!(check_weight(kg("-5"), &t.weight).is_err());
        assert!(check_weight(kg("350.0000001"), &t.weight).is_err());
        assert!(check_weight(kg("350.000"), &t.weight).is_ok());
        assert!(check_weight(kg("2.999"), &t.weight).is_err());
        assert_eq!(Kg::HARD_MIN.f64(), WEIGHT_HARD_MIN_KG);
        assert_eq!(Kg::HARD_MAX.f64(), WEIGHT_HARD_MAX_KG);
        assert!(check_weight(kg("1000"), &t.weight).is_err());
        assert!(check_weight(kg("120"), &t.weight).unwrap().is_some());
        assert!(check_weight(kg("70"), &t.weight).unwrap().is_none());
    }

    #[test]
    fn rounding_step_and_whole_cells() {
        let dose = Dose {
            amount: DoseAmount::PerKg(123_457.0),
            round_to: None,
            max_per_dose: None,
            tolerance_pct: Sourced {
                value: 10.0,
                provenance: Provenance::default(),
            },
            weight_basis: Sourced {
                value: WeightBasis::Current,
                provenance: Provenance::default(),
            },
            provenance: Provenance::default(),
        };
        assert_eq!(
            dose_amount(&dose, Unit::Cells, kg("61.3")).0,
            Some(7_567_914.0)
        );
        let stepped = Dose {
            round_to: Some(1e6),
            ..dose.clone()
        };
        assert_eq!(dose_amount(&stepped, Unit::Cells, kg("61.3")).0, Some(8e6));
    }

    #[test]
    fn per_kg_doses_are_exact_decimals_rounded_half_away() {
        let dose = |k: f64, step: Option<f64>| Dose {
            amount: DoseAmount::PerKg(k),
            round_to: step,
            max_per_dose: None,
            tolerance_pct: Sourced {
                value: 10.0,
                provenance: Provenance::default(),
            },
            weight_basis: Sourced {
                value: WeightBasis::Current,
                provenance: Provenance::default(),
            },
            provenance: Provenance::default(),
        };
        // 50.00000125 x 1.2e6 is exactly 60000001.5: half away from zero is 60000002
        // (f64 arithmetic gave 60000001).
        assert_eq!(
            dose_amount(&dose(12e5, None), Unit::Cells, kg("50.00000125")).0,
            Some(60_000_002.0)
        );
        // 0.1 + 0.2 style binary fractions never creep in: 62.35 x 1e5 = 6235000.
        assert_eq!(
            dose_amount(&dose(1e5, None), Unit::Cells, kg("62.35")).0,
            Some(6_235_000.0)
        );
        // A rounding step: 61.25 x 1e5 = 6125000, to the nearest 1e4 half away: 6130000.
        assert_eq!(
            dose_amount(&dose(1e5, Some(1e4)), Unit::Cells, kg("61.25")).0,
            Some(6_130_000.0)
        );
        // Digits beyond 128-bit integer arithmetic take the Decimal path, still exact.
        assert_eq!(
            dose_amount(&dose(12e5, None), Unit::Cells, kg("63.123456789123456789")).0,
            Some(75_748_148.0)
        );
        // mL per kg keeps its decimals.
        let ml = Dose {
            amount: DoseAmount::PerKg(40.0),
            round_to: None,
            max_per_dose: None,
            tolerance_pct: Sourced {
                value: 10.0,
                provenance: Provenance::default(),
            },
            weight_basis: Sourced {
                value: WeightBasis::Current,
                provenance: Provenance::default(),
            },
            provenance: Provenance::default(),
        };
        assert_eq!(dose_amount(&ml, Unit::Ml, kg("62.5")).0, Some(2500.0));
    }
}
