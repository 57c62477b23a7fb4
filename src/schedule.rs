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

use chrono::NaiveDate;

use crate::model::*;
use crate::timing;

/// Below this weight (kg) a patient weight is an error, not a warning.
pub const WEIGHT_HARD_MIN_KG: f64 = 3.0;
/// Above this weight (kg) a patient weight is an error, not a warning.
pub const WEIGHT_HARD_MAX_KG: f64 = 350.0;

/// One patient as the schedule needs them.
#[derive(Debug, Clone, PartialEq)]
pub struct Patient {
    pub id: String,
    pub weight_kg: f64,
    pub start: NaiveDate,
}

/// Why a schedule cannot be made. The caller knows which file, row or flag to blame.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScheduleError {
    #[error("weight {0} kg is not a usable body weight (hard limits {min}-{max} kg)", min = WEIGHT_HARD_MIN_KG, max = WEIGHT_HARD_MAX_KG)]
    Weight(f64),
    #[error(
        "{component} dose {occurrence} would be {dose} {unit}, above the scenario's maximum of {max} {unit} per dose"
    )]
    AboveMaximum {
        component: String,
        occurrence: u32,
        dose: f64,
        max: f64,
        unit: &'static str,
    },
    #[error("study day {0} falls outside the supported calendar")]
    DateOutOfRange(i64),
}

/// Checks a body weight against the hard limits (error) and the scenario's usual range
/// (the `Ok(Some(..))` warning).
pub fn check_weight(weight_kg: f64, usual: &WeightRange) -> Result<Option<String>, ScheduleError> {
    if !(weight_kg.is_finite() && (WEIGHT_HARD_MIN_KG..=WEIGHT_HARD_MAX_KG).contains(&weight_kg)) {
        return Err(ScheduleError::Weight(weight_kg));
    }
    if weight_kg < usual.usual_min_kg || weight_kg > usual.usual_max_kg {
        return Ok(Some(format!(
            "weight {weight_kg} kg is outside this scenario's usual range of {}-{} kg: check it",
            usual.usual_min_kg, usual.usual_max_kg
        )));
    }
    Ok(None)
}

/// What a calendar row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    CellInfusion,
    PlasmaExchange,
    Visit,
    Background,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::CellInfusion => "cell_infusion",
            EventKind::PlasmaExchange => "plasma_exchange",
            EventKind::Visit => "visit",
            EventKind::Background => "background",
        }
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
    pub date: NaiveDate,
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
}

/// An arm compiled for expansion: every occurrence of everything, ranked.
#[derive(Debug, Clone)]
pub struct Plan<'t> {
    pub trial: &'t Trial,
    pub arm: &'t Arm,
    slots: Vec<Slot>,
    /// True when no slot depends on calendar months, so `slots` is already in calendar order.
    presorted: bool,
}

impl<'t> Plan<'t> {
    pub fn new(trial: &'t Trial, arm: &'t Arm) -> Self {
        let ranks = component_ranks(arm);
        let mut slots = Vec::new();
        for (i, b) in arm.background.iter().enumerate() {
            slots.push(Slot {
                when: When::Day(b.start_day),
                rank: 0,
                origin: Origin::Background(i),
                kind: EventKind::Background,
                occurrence: 1,
                occurrences: 1,
                after: None,
            });
        }
        for (i, v) in arm.visits.iter().enumerate() {
            slots.push(Slot {
                when: When::Day(v.day),
                rank: 1,
                origin: Origin::Visit(i),
                kind: EventKind::Visit,
                occurrence: 1,
                occurrences: 1,
                after: None,
            });
        }
        for (i, c) in arm.components.iter().enumerate() {
            let n = c.timing.rule.count();
            let kind = match c.kind {
                ComponentKind::CellInfusion => EventKind::CellInfusion,
                ComponentKind::PlasmaExchange => EventKind::PlasmaExchange,
            };
            for k in 0..n {
                let when = match &c.timing.rule {
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
                };
                let after = c
                    .timing
                    .after
                    .as_ref()
                    .filter(|a| a.applies_to(k + 1))
                    .map(|a| a.component);
                slots.push(Slot {
                    when,
                    rank: 2 + ranks[i],
                    origin: Origin::Component(i),
                    kind,
                    occurrence: k + 1,
                    occurrences: n,
                    after,
                });
            }
        }
        let presorted = slots.iter().all(|s| matches!(s.when, When::Day(_)));
        if presorted {
            slots.sort_by_key(|s| match s.when {
                When::Day(d) => (d, s.rank),
                When::Months { .. } => unreachable!(),
            });
        }
        Plan {
            trial,
            arm,
            slots,
            presorted,
        }
    }

    /// Number of events each patient gets.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Expands the plan for one patient into `out` (cleared first), in calendar order.
    /// The weight must already have passed [`check_weight`].
    pub fn expand_into(
        &self,
        weight_kg: f64,
        start: NaiveDate,
        out: &mut Vec<Event>,
    ) -> Result<(), ScheduleError> {
        out.clear();
        for s in &self.slots {
            let (date, study_day) = match s.when {
                When::Day(d) => (
                    timing::date_of_day(start, d)
                        .ok_or(ScheduleError::DateOutOfRange(i64::from(d)))?,
                    i64::from(d),
                ),
                When::Months { base_day, months } => {
                    let date = timing::date_of_day(start, base_day)
                        .and_then(|b| timing::add_months(b, months))
                        .ok_or(ScheduleError::DateOutOfRange(i64::from(base_day)))?;
                    (date, timing::day_of_date(start, date))
                }
            };
            out.push(self.slot_event(s, weight_kg, date, study_day)?);
        }
        if !self.presorted {
            // Stable: equal (date, rank) keep file order.
            out.sort_by_key(|e| (e.date, rank_of(&self.slots, e)));
        }
        let mut totals = Totals::new(self.trial.products.len());
        let mut prev: Option<NaiveDate> = None;
        let mut order = 0;
        for e in out.iter_mut() {
            order = if prev == Some(e.date) { order + 1 } else { 1 };
            prev = Some(e.date);
            e.order_in_day = order;
            if let (Some(d), Some(p)) = (e.dose, e.product(self.arm)) {
                e.cumulative_dose = Some(totals.add(p, d));
            }
        }
        Ok(())
    }

    /// Only the events of one date, exactly as [`Plan::expand_into`] gives them (same
    /// order, same running totals), without building the rest of the calendar when the
    /// plan has no month steps. The pharmacy stream calls this once per patient-day.
    pub fn expand_date_into(
        &self,
        weight_kg: f64,
        start: NaiveDate,
        date: NaiveDate,
        out: &mut Vec<Event>,
    ) -> Result<(), ScheduleError> {
        if !self.presorted {
            self.expand_into(weight_kg, start, out)?;
            out.retain(|e| e.date == date);
            return Ok(());
        }
        out.clear();
        let day = timing::day_of_date(start, date);
        let mut totals = Totals::new(self.trial.products.len());
        for s in &self.slots {
            let When::Day(d) = s.when else {
                unreachable!("presorted plans have study days only")
            };
            let d = i64::from(d);
            if d > day {
                break;
            }
            if d < day {
                // An earlier dose still counts towards today's running total.
                if let Origin::Component(c) = s.origin {
                    let comp = &self.arm.components[c];
                    let unit = self.trial.products[comp.product].unit;
                    if let (Some(dose), _) = dose_amount(&comp.dose, unit, weight_kg) {
                        totals.add(comp.product, dose);
                    }
                }
                continue;
            }
            let mut e = self.slot_event(s, weight_kg, date, day)?;
            e.order_in_day = out.len() as u32 + 1;
            if let (Some(dose), Some(p)) = (e.dose, e.product(self.arm)) {
                e.cumulative_dose = Some(totals.add(p, dose));
            }
            out.push(e);
        }
        Ok(())
    }

    /// The event of one slot on its date, without order or running total.
    fn slot_event(
        &self,
        s: &Slot,
        weight_kg: f64,
        date: NaiveDate,
        study_day: i64,
    ) -> Result<Event, ScheduleError> {
        let mut e = Event {
            date,
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
        };
        match s.origin {
            Origin::Component(c) => {
                let comp = &self.arm.components[c];
                let product = &self.trial.products[comp.product];
                let (dose, per_kg) = dose_amount(&comp.dose, product.unit, weight_kg);
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
                e.dose = dose;
                e.dose_per_kg = per_kg;
                e.volume_ml = dose.and_then(|d| match product.unit {
                    Unit::Ml => Some(d),
                    Unit::Cells => product.concentration_cells_per_ml.map(|c| d / c),
                });
            }
            Origin::Visit(v) => {
                if let Some(w) = &self.arm.visits[v].window {
                    let out_of_range = ScheduleError::DateOutOfRange(study_day);
                    e.window = Some((
                        timing::shift_days(date, -i64::from(w.days_before))
                            .ok_or(out_of_range.clone())?,
                        timing::shift_days(date, i64::from(w.days_after)).ok_or(out_of_range)?,
                    ));
                }
            }
            Origin::Background(_) => {}
        }
        Ok(e)
    }

    /// Checks the weight and expands: the whole calendar of one patient.
    pub fn schedule(&self, patient: &Patient) -> Result<Vec<Event>, ScheduleError> {
        check_weight(patient.weight_kg, &self.trial.weight)?;
        let mut out = Vec::with_capacity(self.slots.len());
        self.expand_into(patient.weight_kg, patient.start, &mut out)?;
        Ok(out)
    }
}

/// Running totals per product, without allocating for the usual handful of products.
struct Totals {
    small: [f64; 8],
    more: Vec<f64>,
}

impl Totals {
    fn new(products: usize) -> Self {
        Totals {
            small: [0.0; 8],
            more: vec![0.0; products.saturating_sub(8)],
        }
    }

    /// Adds a dose of product `p` and returns the new total.
    fn add(&mut self, p: usize, dose: f64) -> f64 {
        let t = if p < 8 {
            &mut self.small[p]
        } else {
            &mut self.more[p - 8]
        };
        *t += dose;
        *t
    }
}

fn rank_of(slots: &[Slot], e: &Event) -> u32 {
    slots
        .iter()
        .find(|s| s.origin == e.origin)
        .map_or(u32::MAX, |s| s.rank)
}

/// The dose in the product's unit and the per-kg dose it came from, if any.
/// Per-kg doses are multiplied by the weight and rounded to the nearest whole cell, or to
/// the scenario's rounding step; fixed doses are used as written.
pub fn dose_amount(dose: &Dose, unit: Unit, weight_kg: f64) -> (Option<f64>, Option<f64>) {
    let (raw, per_kg) = match dose.amount {
        DoseAmount::PerKg(k) => (k * weight_kg, Some(k)),
        DoseAmount::Fixed(x) => (x, None),
        DoseAmount::None => return (None, None),
    };
    let mut d = match dose.round_to {
        Some(step) => round_half_away(raw / step) * step,
        None => raw,
    };
    if unit == Unit::Cells {
        d = round_half_away(d);
    }
    (Some(d), per_kg)
}

/// `x.round()` (half away from zero), without the libm call `f64::round` becomes on
/// baseline x86-64: the pharmacy stream rounds every dose of every patient-day. For
/// 0.5 <= x < 2^52, x + 0.5 is exact, so truncating it is rounding.
pub(crate) fn round_half_away(x: f64) -> f64 {
    if (0.5..4.5e15).contains(&x) {
        ((x + 0.5) as u64) as f64
    } else {
        x.round()
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

    #[test]
    fn exchange_comes_before_the_infusion_that_follows_it() {
        let t = trial();
        let plan = Plan::new(&t, &t.arms[0]);
        let p = Patient {
            id: "p".into(),
            weight_kg: 62.5,
            start: d("2026-12-30"),
        };
        let ev = plan.schedule(&p).unwrap();
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
            weight_kg: 70.0,
            start: d("2026-11-30"),
        };
        let dates: Vec<_> = plan
            .schedule(&p)
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
            weight_kg: 250.0,
            start: d("2026-01-01"),
        };
        let e = plan.schedule(&p).unwrap_err();
        assert!(matches!(e, ScheduleError::AboveMaximum { .. }), "{e}");
        assert!(e.to_string().contains("above the scenario's maximum"));
    }

    #[test]
    fn weights_have_hard_limits_and_a_usual_range() {
        let t = trial();
        assert!(check_weight(0.0, &t.weight).is_err());
        assert!(check_weight(-5.0, &t.weight).is_err());
        assert!(check_weight(f64::NAN, &t.weight).is_err());
        assert!(check_weight(1000.0, &t.weight).is_err());
        assert!(check_weight(120.0, &t.weight).unwrap().is_some());
        assert!(check_weight(70.0, &t.weight).unwrap().is_none());
    }

    #[test]
    fn fast_rounding_is_round() {
        for x in [
            0.0,
            0.49999999999999994,
            0.5,
            1.5,
            2.5,
            7_567_914.1,
            7_567_914.5,
            7_567_914.499999999,
            4.4e15,
            4.6e15,
            1e300,
            -2.5,
            62.35 * 1e5,
        ] {
            assert_eq!(round_half_away(x), x.round(), "{x}");
        }
        let mut x = 0.3f64;
        while x < 1e12 {
            assert_eq!(round_half_away(x), x.round(), "{x}");
            x = x * 1.37 + 0.123;
        }
    }

    #[test]
    fn rounding_step_and_whole_cells() {
        let dose = Dose {
            amount: DoseAmount::PerKg(123_457.0),
            round_to: None,
            max_per_dose: None,
            provenance: Provenance::default(),
        };
        assert_eq!(dose_amount(&dose, Unit::Cells, 61.3).0, Some(7_567_914.0));
        let stepped = Dose {
            round_to: Some(1e6),
            ..dose
        };
        assert_eq!(dose_amount(&stepped, Unit::Cells, 61.3).0, Some(8e6));
    }
}
