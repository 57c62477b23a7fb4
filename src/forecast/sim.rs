//! The Monte Carlo itself: each replicate enrols patients at each site, allocates, weighs
//! and loses them, and adds up the doses they are given, per site and product, week by
//! week and month by month.
//!
//! No dose or date is computed here: every patient's calendar comes from the schedule core
//! ([`Plan`]) on their site's calendar, exactly as `cohort` makes it. Since a placement
//! depends on (arm, site calendar, start date) and a dose on (arm, weight), both are made
//! once before the replicates run: one schedule per distinct (calendar, arm, start day),
//! one dose per (arm, component, weight on the 0.1 kg grid). A replicate then only draws
//! and adds up. Each replicate has its own random stream (ChaCha8, stream = replicate
//! number), so the same seed gives the same numbers at any thread count.
//!
//! With an administration record, what it shows is a fact in every replicate: doses given
//! (their amounts, on their dates), deaths and withdrawals; only the rest is drawn, from the
//! as-of date, each patient's hazard conditioned on being alive then.
//!
//! Amounts are added as whole multiples of a [`Quantum`] (whole cells, or hundredths of a
//! mL), so every sum is exact whatever order it is made in. Each replicate's weekly and
//! monthly amounts, totals and outcomes ([`Col`]) are kept, per block of replicates and
//! column, in the narrowest integer that holds that block's values (none for zeros); dose
//! counts go straight into exact histograms. A [`Model::pass`] keeps some columns of every
//! replicate, within a budget of bytes: `stats` runs as many passes as the columns need.

use std::ops::Range;
use std::path::Path;

use chrono::{Datelike, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp1, Gamma, Normal};
use rayon::prelude::*;

use super::plan::{DAYS_PER_MONTH, ForecastPlan, Mortality, WeightModel};
use crate::error::{InputError, Problem};
use crate::model::{Assumed, Kg, Trial};
use crate::record::{Log, RecordKind, Status};
use crate::roster::Roster;
use crate::schedule::{Event, EventKind, Expand, Origin, Plan, ScheduleError};
use crate::site::{SiteCalendar, Sites};

/// A patient on study for ever (no death or dropout drawn).
const NEVER: i64 = i64::MAX;
/// Replicates one task runs one after another, their figures stored side by side.
pub const BLOCK: usize = 64;
/// How a roster patient without a site is shown in the site column.
pub const NO_SITE: &str = "no site";
/// Dose counts below this are counted in a histogram's array; larger ones in a list.
const HIST_BINS: usize = 32;

/// The regimen values whose being assumed changes a forecast figure: the dose, its timing,
/// the product, and a closed-day rule that moved it.
pub fn regimen_flags(a: Assumed) -> Assumed {
    let mut out = Assumed::NONE;
    for f in [
        Assumed::DOSE,
        Assumed::TIMING,
        Assumed::PRODUCT,
        Assumed::CLOSED_DAY_RULE,
    ] {
        if a.contains(f) {
            out |= f;
        }
    }
    out
}

/// What one counted unit of a product's amount stands for: `num / scale` of the product's
/// unit (scale 1 for whole cells, 100 for mL to 0.01). Chosen per product as the largest
/// that divides every amount the forecast can add, so that sums are exact integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantum {
    num: u64,
    scale: u64,
}

impl Quantum {
    /// `units` counted units, in the product's unit.
    pub fn amount(self, units: u128) -> f64 {
        (units * u128::from(self.num)) as f64 / self.scale as f64
    }

    /// An amount in counted units (`amount` is a multiple of the quantum by construction).
    fn units(self, amount: f64) -> u64 {
        ((amount * self.scale as f64).round().max(0.0) as u64) / self.num
    }

    /// The largest quantum of which every amount is a whole multiple: the amounts as whole
    /// numbers of the smallest decimal fraction that holds them all (1, 0.1, ..., 10^-6 of
    /// the unit), and their greatest common divisor. Amounts finer than 10^-6 of the unit
    /// (none that a scenario or record can give) would be rounded to it.
    fn of(amounts: &[f64]) -> Quantum {
        let positive: Vec<f64> = amounts.iter().copied().filter(|a| *a > 0.0).collect();
        let whole = |x: f64| x < 9.0e15 && (x - x.round()).abs() <= 1e-7 * x.abs().max(1.0);
        let scale = (0..=6u32)
            .map(|k| 10u64.pow(k))
            .find(|&s| positive.iter().all(|a| whole(a * s as f64)))
            .unwrap_or(1_000_000);
        let num = positive
            .iter()
            .map(|a| (a * scale as f64).round() as u64)
            .fold(0, gcd)
            .max(1);
        Quantum { num, scale }
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Patients already on study, for [`Model::new`]: the roster (its file and the site
/// calendars of its sites) and, when one is given, the administration record.
#[derive(Clone, Copy)]
pub struct OnStudy<'a> {
    pub roster: &'a Roster,
    pub path: &'a Path,
    pub sites: &'a Sites,
    pub log: Option<&'a Log>,
}

/// Everything a replicate needs, made once.
pub struct Model<'t> {
    pub trial: &'t Trial,
    pub plan: &'t ForecastPlan,
    calendars: &'t Sites,
    /// Monday of the first week forecast: the plan start's ISO week, the roster's first
    /// start's when earlier, or the record's as-of week. Day 0 of the forecast.
    pub week0: NaiveDate,
    pub weeks: usize,
    /// Calendar months touching the horizon: first day and days inside the horizon.
    pub months: Vec<(NaiveDate, u32)>,
    month_of_day: Vec<u16>,
    /// The products forecast (those of the arms the plan allocates to or the roster's
    /// patients are on, cells and mL alike), by index into the trial's products.
    pub products: Vec<usize>,
    /// Per forecast product: what one counted unit stands for.
    pub quanta: Vec<Quantum>,
    /// Per arm: whether anyone can be on it (the plan allocates to it, or a roster
    /// patient is on it).
    pub on_arm: Vec<bool>,
    /// The sites demand is split by: the plan's, then the roster's others, then
    /// [`NO_SITE`] when a roster patient has none.
    pub sites: Vec<String>,
    /// Per site and forecast product (`site * products + k`): the assumed regimen values
    /// behind the doses counted there (see [`regimen_flags`]).
    pub assumed: Vec<Assumed>,
    /// Per arm: each component's dose at each grid weight (`grid.len()` x components),
    /// in counted units of its product.
    doses: Vec<Vec<u64>>,
    /// Per arm: each component's product (slot in `products`).
    slots: Vec<Vec<u16>>,
    scheds: Vec<Sched>,
    /// Per plan site: per arm, the schedules (indices into `scheds`) of each start day from
    /// the first (a range of one: the same schedule whatever the start).
    site_scheds: Vec<Vec<(i64, Range<u32>)>>,
    /// Roster patients still on study: their doses to come face the hazards.
    fixed: Vec<Fixed>,
    /// What the record makes certain, the same in every replicate.
    pub facts: Facts,
    /// Roster patients in all, and the forecast day the last of them starts.
    roster_size: u32,
    roster_last_start: Option<i64>,
    /// The first day simulated arrivals may come (after the roster's last start and the
    /// record's as-of date).
    resume: f64,
    /// How many patients the enrolment model adds.
    to_enrol: u32,
    sim_sites: Vec<SiteSim>,
    block: Vec<u16>,
    weight: WeightSampler,
    hazard: Hazard,
    /// The roster's demand as planned (nobody dies or drops out; with a record, what it
    /// shows given and the rest as planned), per product and week, all sites.
    pub observed: Option<Vec<f64>>,
}

/// What the record shows, per site and product (`site * products + k`), week and month:
/// the doses given in the weeks forecast, and those due by the as-of date with nothing
/// recorded (counted on the as-of date: still to give). The same in every replicate.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    /// The day the record is complete to, when there is one.
    pub as_of: Option<NaiveDate>,
    pub week_amount: Vec<f64>,
    pub week_doses: Vec<u32>,
    pub month_amount: Vec<f64>,
    pub month_doses: Vec<u32>,
    /// Every dose the record counts (given at any date, and overdue).
    pub total_amount: Vec<f64>,
    pub total_doses: Vec<u32>,
    /// Given by the as-of date.
    pub given_amount: Vec<f64>,
    pub given_doses: Vec<u32>,
    /// Due by the as-of date with nothing recorded, counted on the as-of date.
    pub overdue_doses: Vec<u32>,
    /// Per site: patients whose course the record ends (died or withdrawn), by outcome.
    pub enrolled: Vec<u32>,
    pub completed: Vec<u32>,
    pub died: Vec<u32>,
    pub dropped_out: Vec<u32>,
    /// The forecast day of the last dose given or overdue.
    pub last_dose_day: Option<i64>,
    /// Patients the record shows dead, and withdrawn.
    pub recorded_deaths: u32,
    pub recorded_withdrawals: u32,
}

/// One (arm, calendar, start) schedule: the doses by scheduled study day (component,
/// product slot), and the last study day with a dose or visit (a patient still on study
/// after it completed).
struct Sched {
    doses: Vec<(i32, u16, u16)>,
    last_day: i32,
}

/// A roster patient still on study: their doses to come, with the amount of each (counted
/// units), their site, and the time (days from the start of study day 1) they are known
/// to be alive at.
struct Fixed {
    start: i64,
    site: u16,
    sched: Sched,
    amounts: Vec<u64>,
    alive_at: f64,
}

struct SiteSim {
    activation: f64,
    rate_per_day: f64,
    shape: Option<f64>,
}

enum WeightSampler {
    /// Normal(mean, sd) truncated to the grid's [min, max]: the grid holds every 0.1 kg.
    Normal {
        normal: Normal<f64>,
        min_tenths: i64,
        span: usize,
    },
    /// Grid index of each roster weight.
    Roster(Vec<u32>),
}

/// The piecewise-constant hazard of death (through the day-28 and day-90 figures, the
/// later rate continuing) and the constant hazard of dropout, per day.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hazard {
    pub death_to_28: f64,
    pub death_after_28: f64,
    pub dropout: f64,
}

impl Hazard {
    pub fn new(m: &Mortality) -> Hazard {
        Hazard {
            death_to_28: -(1.0 - m.day28).ln() / 28.0,
            death_after_28: -((1.0 - m.day90) / (1.0 - m.day28)).ln() / 62.0,
            dropout: -(1.0 - m.dropout_per_month).ln() / DAYS_PER_MONTH,
        }
    }

    /// The cumulative hazard of death from the start of study day 1 to `t` days.
    fn cumulative(&self, t: f64) -> f64 {
        self.death_to_28 * t.min(28.0) + self.death_after_28 * (t - 28.0).max(0.0)
    }

    /// Days from the start of study day 1 to death, drawn by inverting the cumulative
    /// hazard at a unit exponential (infinite when the hazard is zero).
    pub fn death_time<R: Rng>(&self, rng: &mut R) -> f64 {
        self.death_time_after(0.0, rng)
    }

    /// As [`Hazard::death_time`] for a patient known to be alive `t0` days after the start
    /// of study day 1: the hazard from `t0` on (after day 28, the later rate alone), not
    /// from day 1. The cumulative hazard is inverted at its value at `t0` plus a unit
    /// exponential.
    pub fn death_time_after<R: Rng>(&self, t0: f64, rng: &mut R) -> f64 {
        let e: f64 = Exp1.sample(rng);
        let h = if t0 > 0.0 { self.cumulative(t0) + e } else { e };
        let first = self.death_to_28 * 28.0;
        if h < first {
            h / self.death_to_28
        } else if self.death_after_28 > 0.0 {
            28.0 + (h - first) / self.death_after_28
        } else {
            f64::INFINITY
        }
    }

    /// Days from the start of study day 1 to dropout (for a patient on study at `t0`: a
    /// constant hazard has no memory).
    pub fn dropout_time_after<R: Rng>(&self, t0: f64, rng: &mut R) -> f64 {
        if self.dropout > 0.0 {
            let e: f64 = Exp1.sample(rng);
            t0 + e / self.dropout
        } else {
            f64::INFINITY
        }
    }

    /// The study day the patient leaves on (no dose on or after it) and whether by death,
    /// for a patient on study `t0` days after the start of study day 1.
    fn leave_after<R: Rng>(&self, t0: f64, rng: &mut R) -> (i64, bool) {
        let death = self.death_time_after(t0, rng);
        let dropout = self.dropout_time_after(t0, rng);
        let (t, died) = if death <= dropout {
            (death, true)
        } else {
            (dropout, false)
        };
        if t.is_finite() {
            // Study day 1 covers [0, 1) days; t is positive, so truncation is its floor
            // (and `as` saturates for a time beyond i64).
            ((t as i64).saturating_add(1), died)
        } else {
            (NEVER, false)
        }
    }
}

/// What one replicate adds up, beyond the record's facts.
#[derive(Debug, Clone, PartialEq)]
pub struct Tally {
    /// Per site and product (`(site * products + k) * weeks + week`): counted units and
    /// doses inside the horizon.
    pub week: Vec<u64>,
    pub week_doses: Vec<u32>,
    /// Per site, product and month, likewise.
    pub month: Vec<u64>,
    pub month_doses: Vec<u32>,
    /// Per site and product: every dose drawn for the patients enrolled, and the part after
    /// the horizon.
    pub total: Vec<u64>,
    pub total_doses: Vec<u32>,
    pub after: Vec<u64>,
    /// Per site and product: the doses outside the weeks forecast.
    outside: Vec<u64>,
    outside_doses: Vec<u32>,
    /// Per site, the record's patients included.
    pub enrolled: Vec<u32>,
    pub completed: Vec<u32>,
    pub died: Vec<u32>,
    pub dropped_out: Vec<u32>,
    /// Forecast day of the last dose drawn (`None`: no dose).
    pub last_dose_day: Option<i64>,
    /// Forecast day the target was reached (`None`: not within the horizon).
    pub full_day: Option<i64>,
}

/// Why a plan cannot be simulated on this trial: problems named by the plan's fields.
fn plan_problem(plan: &ForecastPlan, field: &str, message: String) -> Problem {
    Problem::new(&plan.file, message).field(field)
}

/// The Monday of a date's ISO week.
pub fn monday(d: NaiveDate) -> NaiveDate {
    d - chrono::Days::new(u64::from(d.weekday().num_days_from_monday()))
}

/// What the stages of [`Model::new`] share: the horizon, and the arms and products it
/// forecasts.
struct Frame<'a> {
    trial: &'a Trial,
    plan: &'a ForecastPlan,
    /// Monday of the first week forecast (forecast day 0), the weeks and their days.
    week0: NaiveDate,
    weeks: usize,
    days: i64,
    /// The products forecast, and each arm's components' slots among them.
    np: usize,
    slots: Vec<Vec<u16>>,
    /// Per arm: whether the plan allocates to it.
    allocated: Vec<bool>,
}

/// A roster patient still on study, with the amount of each dose to come.
type FixedAmounts = (Fixed, Vec<f64>);

/// Per arm, whether the plan allocates to it and whether anyone can be on it; and the
/// products forecast.
type ArmsAndProducts = (Vec<bool>, Vec<bool>, Vec<usize>);

/// The schedules, each one's assumed regimen values per product slot, and per plan site
/// and arm the run of schedules from its first start day.
type Schedules = (Vec<Sched>, Vec<Vec<Assumed>>, Vec<Vec<(i64, Range<u32>)>>);

/// What the record makes certain, the roster's patients still on study, and the roster's
/// demand as planned.
type OnStudyFacts = (Facts, Vec<FixedAmounts>, Option<Vec<f64>>);

/// Week 1 is the start's ISO week, or the first roster patient's when earlier, so that
/// every dose a roster patient is given is in a week; with a record, the as-of date's
/// week, since what came before is known. The horizon's end stays. Returns week 1's
/// Monday and the number of weeks.
fn horizon(
    plan: &ForecastPlan,
    roster: Option<&Roster>,
    log: Option<&Log>,
) -> Result<(NaiveDate, usize), InputError> {
    let end = monday(plan.start) + chrono::Days::new(u64::from(plan.horizon_weeks) * 7);
    let week0 = match (roster, log) {
        (_, Some(l)) => monday(l.as_of),
        (Some(r), None) => monday(
            r.entries
                .iter()
                .map(|e| e.start)
                .min()
                .map_or(plan.start, |d| d.min(plan.start)),
        ),
        (None, None) => monday(plan.start),
    };
    if let Some(l) = log
        && week0 >= end
    {
        return Err(InputError::one(Problem::new(
            &l.path,
            format!(
                "the record is complete to {}, after the forecast's horizon ends ({}, {} weeks from the plan's start): nothing is left to forecast; lengthen horizon_weeks in {} or give an earlier --as-of",
                l.as_of,
                end - chrono::Days::new(1),
                plan.horizon_weeks,
                plan.file.display()
            ),
        )));
    }
    Ok((week0, ((end - week0).num_days() / 7) as usize))
}

/// Per arm, whether the plan allocates to it and whether anyone can be on it; and the
/// products forecast: those of the arms anyone can be on.
fn forecast_products(
    trial: &Trial,
    plan: &ForecastPlan,
    roster: Option<&Roster>,
) -> Result<ArmsAndProducts, InputError> {
    let allocated: Vec<bool> = (0..trial.arms.len())
        .map(|a| plan.allocation.ratio.iter().any(|r| r.0 == a))
        .collect();
    let mut on_arm = allocated.clone();
    for e in roster.iter().flat_map(|r| &r.entries) {
        on_arm[e.arm as usize] = true;
    }
    let mut products: Vec<usize> = trial
        .arms
        .iter()
        .zip(&on_arm)
        .filter(|(_, on)| **on)
        .flat_map(|(a, _)| a.components.iter().map(|c| c.product))
        .collect();
    products.sort_unstable();
    products.dedup();
    if products.is_empty() {
        return Err(InputError::one(plan_problem(
            plan,
            "allocation.ratio",
            format!(
                "no arm the plan allocates to gives {} any product: there is nothing to forecast",
                trial.id
            ),
        )));
    }
    Ok((allocated, on_arm, products))
}

/// Per arm, each component's product slot among `products` (`u16::MAX`: not forecast).
fn product_slots(trial: &Trial, products: &[usize]) -> Vec<Vec<u16>> {
    let slot_of = |p: usize| products.iter().position(|&q| q == p).map(|k| k as u16);
    trial
        .arms
        .iter()
        .map(|a| {
            a.components
                .iter()
                .map(|c| slot_of(c.product).unwrap_or(u16::MAX))
                .collect()
        })
        .collect()
}

/// Each arm's component doses at each grid weight, checked by the schedule core.
fn dose_tables(
    plan: &ForecastPlan,
    plans: &[Plan],
    grid: &[Kg],
) -> Result<Vec<Vec<f64>>, InputError> {
    let mut problems = Vec::new();
    let mut tables = Vec::with_capacity(plans.len());
    for p in plans {
        let n = p.arm.components.len();
        let mut table = Vec::with_capacity(grid.len() * n);
        let mut events = Vec::new();
        let mut failed = false;
        for w in grid {
            if !failed && let Err(e) = p.expand(&Expand::new(*w, plan.start), &mut events) {
                problems.push(match e {
                    // Not the weight's doing: the dates (a start late in 9999).
                    ScheduleError::DateOutOfRange(_) => plan_problem(
                        plan,
                        "start",
                        format!(
                            "arm {} starting on {}: {e}: a typo in the year?",
                            p.arm.id, plan.start
                        ),
                    ),
                    _ => plan_problem(
                        plan,
                        "weight_kg",
                        format!("at {w} kg, arm {}: {e}", p.arm.id),
                    ),
                });
                failed = true;
            }
            table.extend(p.component_doses(*w).map(|d| d.unwrap_or(0.0)));
        }
        tables.push(table);
    }
    InputError::check(problems)?;
    Ok(tables)
}

/// The sites: the plan's, then the roster's others, then patients without one; and each
/// roster patient's site.
fn site_names(plan: &ForecastPlan, roster: Option<&Roster>) -> (Vec<String>, Vec<u16>) {
    let mut sites: Vec<String> = plan.sites.iter().map(|s| s.id.clone()).collect();
    let mut site_index = |name: Option<&str>| -> u16 {
        let name = name.unwrap_or(NO_SITE);
        match sites.iter().position(|s| s == name) {
            Some(k) => k as u16,
            None => {
                sites.push(name.to_string());
                (sites.len() - 1) as u16
            }
        }
    };
    let roster_sites: Vec<u16> = roster
        .map(|r| r.entries.iter().map(|e| site_index(r.site(e))).collect())
        .unwrap_or_default();
    (sites, roster_sites)
}

impl Frame<'_> {
    /// Forecast day of a date.
    fn offset(&self, d: NaiveDate) -> i64 {
        (d - self.week0).num_days()
    }

    /// Each plan site's enrolment: its activation day and daily rate.
    fn sim_sites(&self) -> Vec<SiteSim> {
        self.plan
            .sites
            .iter()
            .map(|s| SiteSim {
                activation: self.offset(s.activation) as f64,
                rate_per_day: s.rate_per_month / DAYS_PER_MONTH,
                shape: s.rate_shape,
            })
            .collect()
    }

    /// The first day simulated arrivals may come: after the roster's last start and the
    /// record's as-of date.
    fn resume_day(&self, roster: Option<&Roster>, log: Option<&Log>) -> i64 {
        let mut resume_day = roster
            .and_then(|r| r.entries.iter().map(|e| self.offset(e.start)).max())
            .map_or(0, |d| d + 1);
        if let Some(l) = log {
            resume_day = resume_day.max(self.offset(l.as_of) + 1);
        }
        resume_day
    }

    /// What the record makes certain (the same in every replicate), the roster's patients
    /// still on study, and the roster's demand as planned; `(roster_sites, months,
    /// month_of_day)`: each roster patient's site, and the horizon's months.
    fn facts(
        &self,
        on_study: Option<OnStudy<'_>>,
        (roster_sites, months, month_of_day): (&[u16], usize, &[u16]),
        assumed: &mut [Assumed],
    ) -> Result<OnStudyFacts, InputError> {
        let ns = assumed.len() / self.np;
        let mut facts = Facts::sized(ns * self.np, self.weeks, months, ns);
        facts.as_of = on_study.and_then(|o| o.log).map(|l| l.as_of);
        Ok(match on_study {
            Some(o) => {
                let (fixed, observed) =
                    self.on_study(o, roster_sites, month_of_day, &mut facts, assumed)?;
                (facts, fixed, Some(observed))
            }
            None => (facts, Vec::new(), None),
        })
    }

    /// Sites on the same calendar (or on none), each with the first day anyone may start
    /// there; and each plan site's group.
    fn site_groups(&self, resume_day: i64) -> (Vec<(Option<&str>, i64)>, Vec<usize>) {
        let mut groups: Vec<(Option<&str>, i64)> = Vec::new();
        let mut group_of = Vec::with_capacity(self.plan.sites.len());
        for site in &self.plan.sites {
            let first = self.offset(site.activation).max(resume_day).min(self.days);
            let cal = site.calendar.as_deref();
            match groups.iter().position(|g| g.0 == cal) {
                Some(g) => {
                    groups[g].1 = groups[g].1.min(first);
                    group_of.push(g);
                }
                None => {
                    group_of.push(groups.len());
                    groups.push((cal, first));
                }
            }
        }
        (groups, group_of)
    }

    /// Schedules: sites on the same calendar (or on none) share them. One per start day
    /// for each arm the plan allocates to where the calendar or month steps can move a
    /// date; else one per arm for every start. Returns the schedules, each one's assumed
    /// regimen values per product slot, and per plan site and arm the run of schedules
    /// from its first start day.
    fn schedules(
        &self,
        calendars: &Sites,
        plans: &[Plan],
        resume_day: i64,
        reference: Kg,
    ) -> Result<Schedules, InputError> {
        let (groups, group_of) = self.site_groups(resume_day);
        // Every (calendar, arm, start day) to make, and per group and arm where its run
        // of schedules begins.
        let mut jobs: Vec<(Option<&SiteCalendar>, usize, i64)> = Vec::new();
        let mut group_scheds: Vec<Vec<(i64, Range<u32>)>> = Vec::new();
        for &(cal, first) in &groups {
            let cal = cal.and_then(|c| calendars.get(c));
            let mut per_arm = Vec::new();
            for (a, p) in plans.iter().enumerate() {
                let at = jobs.len() as u32;
                if self.allocated[a] && (cal.is_some() || p.has_month_steps()) {
                    jobs.extend((first..self.days.max(first + 1)).map(|d| (cal, a, d)));
                } else {
                    jobs.push((cal, a, first));
                }
                per_arm.push((first, at..jobs.len() as u32));
            }
            group_scheds.push(per_arm);
        }
        let built: Vec<Result<(Sched, Vec<Assumed>), ScheduleError>> = jobs
            .par_iter()
            .map(|&(cal, a, d)| {
                let start = self.week0 + chrono::Days::new(d.max(0) as u64);
                let p = &plans[a];
                let mut events = Vec::new();
                let placement = cal.map(|c| p.placement(start, c)).transpose()?;
                let how =
                    Expand::new(reference, start).placed(placement.as_ref().map(|p| p.slots()));
                p.expand(&how, &mut events)?;
                let (s, _, flags) = sched_of(&events, &self.slots[a], self.np, |_| true);
                Ok((s, flags))
            })
            .collect();
        let mut scheds = Vec::with_capacity(built.len());
        let mut sched_flags = Vec::with_capacity(built.len());
        for (b, &(_, a, d)) in built.into_iter().zip(&jobs) {
            let (s, f) = b.map_err(|e| {
                InputError::one(plan_problem(
                    self.plan,
                    if matches!(e, ScheduleError::DateOutOfRange(_)) {
                        "start"
                    } else {
                        "horizon_weeks"
                    },
                    format!(
                        "arm {} starting on {}: {e}",
                        self.trial.arms[a].id,
                        self.week0 + chrono::Days::new(d.max(0) as u64)
                    ),
                ))
            })?;
            scheds.push(s);
            sched_flags.push(f);
        }
        let site_scheds = group_of.iter().map(|&g| group_scheds[g].clone()).collect();
        Ok((scheds, sched_flags, site_scheds))
    }

    /// Per site and product slot, the assumed regimen values of the schedules its
    /// allocated arms can have.
    fn site_assumed(
        &self,
        ns: usize,
        site_scheds: &[Vec<(i64, Range<u32>)>],
        sched_flags: &[Vec<Assumed>],
    ) -> Vec<Assumed> {
        let np = self.np;
        let mut assumed = vec![Assumed::NONE; ns * np];
        for (s, per_arm) in site_scheds.iter().enumerate() {
            for (a, (_, ids)) in per_arm.iter().enumerate() {
                if !self.allocated[a] {
                    continue;
                }
                for id in ids.clone() {
                    for (k, f) in sched_flags[id as usize].iter().enumerate() {
                        assumed[s * np + k] |= *f;
                    }
                }
            }
        }
        assumed
    }

    /// The roster's patients: what the record makes certain into `facts` (and the
    /// assumed values of the doses overdue into `assumed`); those still on study, with
    /// their doses to come; and the roster's demand as planned per product and week.
    fn on_study(
        &self,
        o: OnStudy<'_>,
        roster_sites: &[u16],
        month_of_day: &[u16],
        facts: &mut Facts,
        assumed: &mut [Assumed],
    ) -> Result<(Vec<FixedAmounts>, Vec<f64>), InputError> {
        let (np, weeks) = (self.np, self.weeks);
        let r = o.roster;
        let cohort = crate::cohort::Cohort::build(self.trial, r, o.path, o.sites, o.log)?;
        let mut fixed = Vec::new();
        let mut obs = vec![0.0; np * weeks];
        let mut events = Vec::new();
        for i in 0..r.entries.len() as u32 {
            cohort.expand(i, &mut events);
            let e = &r.entries[i as usize];
            let site = roster_sites[i as usize];
            let arm_slots = &self.slots[e.arm as usize];
            let start = self.offset(e.start);
            let end = o.log.and_then(|l| l.patient(i).end());
            // A dose on the record's side of the as-of date is a fact; after it, what
            // is planned faces the hazards (no record: every dose does).
            let keep = |ev: &Event| match o.log {
                None => true,
                Some(_) => end.is_none() && ev.status == Status::Planned,
            };
            let (sched, amounts, flags) = sched_of(&events, arm_slots, np, keep);
            for (k, f) in flags.iter().enumerate() {
                assumed[usize::from(site) * np + k] |= *f;
            }
            for (&(sd, _, p), &d) in sched.doses.iter().zip(&amounts) {
                let day = start + i64::from(sd) - 1;
                if (0..self.days).contains(&day) {
                    obs[usize::from(p) * weeks + (day / 7) as usize] += d;
                }
            }
            if let Some(l) = o.log {
                let patient = (site, arm_slots.as_slice(), end.is_none());
                self.recorded(
                    l,
                    &events,
                    patient,
                    (month_of_day, &mut obs),
                    facts,
                    assumed,
                );
            }
            match end {
                Some((date, kind)) => {
                    let leave = (date - e.start).num_days() + 1;
                    facts.count_end(usize::from(site), leave > i64::from(sched.last_day), kind);
                }
                None => {
                    // On study through the as-of date: alive for its whole study day.
                    let alive_at = match o.log {
                        Some(l) if e.start <= l.as_of => {
                            ((l.as_of - e.start).num_days() + 1) as f64
                        }
                        _ => 0.0,
                    };
                    let f = Fixed {
                        start,
                        site,
                        sched,
                        amounts: Vec::new(),
                        alive_at,
                    };
                    fixed.push((f, amounts));
                }
            }
        }
        Ok((fixed, obs))
    }

    /// One roster patient's recorded doses (`patient`: their site, their arm's product
    /// slots, and whether they are still on study): given ones on their dates, those due
    /// with nothing recorded on the as-of date; into `facts` and the planned demand `obs`.
    fn recorded(
        &self,
        l: &Log,
        events: &[Event],
        (site, arm_slots, on_study): (u16, &[u16], bool),
        (month_of_day, obs): (&[u16], &mut [f64]),
        facts: &mut Facts,
        assumed: &mut [Assumed],
    ) {
        let (np, weeks) = (self.np, self.weeks);
        for ev in events {
            let (Origin::Component(c), true) = (ev.origin, ev.kind != EventKind::Background) else {
                continue;
            };
            let k = arm_slots[c];
            if k == u16::MAX {
                continue;
            }
            let sp = usize::from(site) * np + usize::from(k);
            let amount = ev.dose.unwrap_or(0.0);
            // Missed, cancelled, or closed by the patient's end: not given.
            let day = match ev.status {
                Status::Given => self.offset(ev.date),
                Status::Due if on_study => {
                    facts.overdue_doses[sp] += 1;
                    assumed[sp] |= regimen_flags(ev.assumed);
                    self.offset(l.as_of)
                }
                _ => continue,
            };
            if ev.status == Status::Given {
                facts.given_amount[sp] += amount;
                facts.given_doses[sp] += 1;
            }
            facts.add(sp, day, amount, weeks, month_of_day);
            if (0..self.days).contains(&day) {
                obs[usize::from(k) * weeks + (day / 7) as usize] += amount;
            }
        }
    }

    /// Each product's quantum, from every amount a replicate can add; then each arm's
    /// dose table and each fixed patient's doses in counted units.
    fn quantize(
        &self,
        tables: &[Vec<f64>],
        fixed: Vec<FixedAmounts>,
    ) -> (Vec<Quantum>, Vec<Vec<u64>>, Vec<Fixed>) {
        let slots = &self.slots;
        let mut amounts_of: Vec<Vec<f64>> = vec![Vec::new(); self.np];
        for (a, table) in tables.iter().enumerate() {
            if !self.allocated[a] {
                continue;
            }
            let n = self.trial.arms[a].components.len();
            for (c, &k) in slots[a].iter().enumerate() {
                if k != u16::MAX {
                    amounts_of[usize::from(k)].extend(table.iter().skip(c).step_by(n.max(1)));
                }
            }
        }
        for (f, amounts) in &fixed {
            for (&(_, _, k), &d) in f.sched.doses.iter().zip(amounts) {
                amounts_of[usize::from(k)].push(d);
            }
        }
        let quanta: Vec<Quantum> = amounts_of.iter().map(|a| Quantum::of(a)).collect();
        let doses: Vec<Vec<u64>> = tables
            .iter()
            .enumerate()
            .map(|(a, table)| {
                let n = self.trial.arms[a].components.len().max(1);
                table
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| match slots[a][i % n] {
                        u16::MAX => 0,
                        k => quanta[usize::from(k)].units(d),
                    })
                    .collect()
            })
            .collect();
        let fixed: Vec<Fixed> = fixed
            .into_iter()
            .map(|(mut f, amounts)| {
                f.amounts = f
                    .sched
                    .doses
                    .iter()
                    .zip(&amounts)
                    .map(|(&(_, _, k), &d)| quanta[usize::from(k)].units(d))
                    .collect();
                f
            })
            .collect();
        (quanta, doses, fixed)
    }
}

impl<'t> Model<'t> {
    /// Compiles the plan against the trial: every schedule and dose the replicates can
    /// need, checked once (a weight whose dose is above the scenario's maximum is an
    /// error naming `[weight_kg]`). `on_study`: patients already enrolled, with their
    /// sites, and what the record shows of them.
    pub fn new(
        trial: &'t Trial,
        plan: &'t ForecastPlan,
        calendars: &'t Sites,
        on_study: Option<OnStudy<'_>>,
    ) -> Result<Model<'t>, InputError> {
        let roster = on_study.map(|o| o.roster);
        let log = on_study.and_then(|o| o.log);
        let (week0, weeks) = horizon(plan, roster, log)?;
        let days = weeks as i64 * 7;
        let (months, month_of_day) = months(week0, days);
        let plans: Vec<Plan> = trial.arms.iter().map(|a| Plan::new(trial, a)).collect();
        let (allocated, on_arm, products) = forecast_products(trial, plan, roster)?;
        let slots = product_slots(trial, &products);
        let (grid, weight) = weight_grid(plan);
        if grid.is_empty() {
            let msg = "no weight to 0.1 kg lies between min and max: widen the range".into();
            return Err(InputError::one(plan_problem(plan, "weight_kg.normal", msg)));
        }
        let tables = dose_tables(plan, &plans, &grid)?;
        let frame = Frame {
            trial,
            plan,
            week0,
            weeks,
            days,
            np: products.len(),
            slots,
            allocated,
        };
        let resume_day = frame.resume_day(roster, log);
        let (scheds, sched_flags, site_scheds) =
            frame.schedules(calendars, &plans, resume_day, grid[0])?;
        let (sites, roster_sites) = site_names(plan, roster);
        let mut assumed = frame.site_assumed(sites.len(), &site_scheds, &sched_flags);

        // Patients already enrolled: their calendars exactly as `cohort` makes them, the
        // record applied.
        let (facts, fixed, observed) = frame.facts(
            on_study,
            (&roster_sites, months.len(), &month_of_day),
            &mut assumed,
        )?;
        let (quanta, doses, fixed) = frame.quantize(&tables, fixed);

        let roster_size = roster.map_or(0, |r| r.entries.len() as u32);
        let to_enrol = plan.target_patients.saturating_sub(roster_size);
        let sim_sites = frame.sim_sites();
        let roster_last_start =
            roster.and_then(|r| r.entries.iter().map(|e| frame.offset(e.start)).max());
        Ok(Model {
            trial,
            plan,
            calendars,
            week0,
            weeks,
            months,
            month_of_day,
            products,
            quanta,
            on_arm,
            sites,
            assumed,
            doses,
            slots: frame.slots,
            scheds,
            site_scheds,
            fixed,
            facts,
            roster_size,
            roster_last_start,
            resume: resume_day as f64,
            to_enrol,
            sim_sites,
            block: plan.allocation.block(),
            weight,
            hazard: Hazard::new(&plan.mortality),
            observed,
        })
    }

    /// The site calendar of that id the plan's sites use, if any.
    pub fn calendar(&self, id: &str) -> Option<&'t SiteCalendar> {
        self.calendars.get(id)
    }

    /// How many roster patients every replicate starts with.
    pub fn enrolled_before(&self) -> usize {
        self.roster_size as usize
    }

    /// The first day of forecast day `day`.
    pub fn date_of(&self, day: i64) -> NaiveDate {
        if day >= 0 {
            self.week0 + chrono::Days::new(day as u64)
        } else {
            self.week0 - chrono::Days::new(day.unsigned_abs())
        }
    }

    /// The assumed regimen values behind product `k`'s figures at `site` (`None`: at every
    /// site).
    pub fn assumed_of(&self, site: Option<usize>, k: usize) -> Assumed {
        let np = self.products.len();
        match site {
            Some(s) => self.assumed[s * np + k],
            None => (0..self.sites.len()).fold(Assumed::NONE, |a, s| a | self.assumed[s * np + k]),
        }
    }

    fn empty_tally(&self) -> Tally {
        let (sp, w, m, s) = (
            self.sites.len() * self.products.len(),
            self.weeks,
            self.months.len(),
            self.sites.len(),
        );
        Tally {
            week: vec![0; sp * w],
            week_doses: vec![0; sp * w],
            month: vec![0; sp * m],
            month_doses: vec![0; sp * m],
            total: vec![0; sp],
            total_doses: vec![0; sp],
            after: vec![0; sp],
            outside: vec![0; sp],
            outside_doses: vec![0; sp],
            enrolled: vec![0; s],
            completed: vec![0; s],
            died: vec![0; s],
            dropped_out: vec![0; s],
            last_dose_day: None,
            full_day: None,
        }
    }

    /// Adds one dose of `units` to series `sp`, given on forecast day `day`. The totals
    /// are summed from the weeks once the replicate is done.
    #[inline(always)]
    fn add_dose(&self, t: &mut Tally, sp: usize, day: i64, units: u64) {
        let days = (self.weeks * 7) as i64;
        if (0..days).contains(&day) {
            let w = sp * self.weeks + (day / 7) as usize;
            t.week[w] += units;
            t.week_doses[w] += 1;
            let m = sp * self.months.len() + usize::from(self.month_of_day[day as usize]);
            t.month[m] += units;
            t.month_doses[m] += 1;
        } else {
            // After the horizon; none can fall before its first day, which is no later
            // than any patient's start, but it would be counted in the totals too.
            if day >= days {
                t.after[sp] += units;
            }
            t.outside[sp] += units;
            t.outside_doses[sp] += 1;
        }
    }

    /// How a patient at `site` who leaves on study day `leave` (by death or not) ends.
    fn outcome(t: &mut Tally, site: usize, leave: i64, died: bool, last_day: i32) {
        t.enrolled[site] += 1;
        if leave > i64::from(last_day) {
            t.completed[site] += 1;
        } else if died {
            t.died[site] += 1;
        } else {
            t.dropped_out[site] += 1;
        }
    }

    /// Replicate `rep` of the forecast seeded `seed`.
    pub fn replicate(&self, seed: u64, rep: u64) -> Tally {
        let mut t = self.empty_tally();
        self.replicate_into(seed, rep, &mut t);
        t
    }

    /// As [`Model::replicate`], into `t` (whatever it held).
    fn replicate_into(&self, seed: u64, rep: u64, t: &mut Tally) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(rep);
        for v in [&mut t.week, &mut t.month, &mut t.after, &mut t.outside] {
            v.fill(0);
        }
        for v in [&mut t.week_doses, &mut t.month_doses, &mut t.outside_doses] {
            v.fill(0);
        }
        let mut last_dose = i64::MIN;
        t.enrolled.copy_from_slice(&self.facts.enrolled);
        t.completed.copy_from_slice(&self.facts.completed);
        t.died.copy_from_slice(&self.facts.died);
        t.dropped_out.copy_from_slice(&self.facts.dropped_out);
        t.last_dose_day = None;
        t.full_day = None;
        let np = self.products.len();
        for f in &self.fixed {
            let (leave, died) = self.hazard.leave_after(f.alive_at, &mut rng);
            let base = usize::from(f.site) * np;
            for (&(sd, _, p), &amount) in f.sched.doses.iter().zip(&f.amounts) {
                if i64::from(sd) >= leave {
                    break;
                }
                let day = f.start + i64::from(sd) - 1;
                self.add_dose(t, base + usize::from(p), day, amount);
                // Doses are in study-day order: the last one added is the latest.
                last_dose = last_dose.max(day);
            }
            Self::outcome(t, usize::from(f.site), leave, died, f.sched.last_day);
        }
        let mut enrolled = self.roster_size;
        if enrolled >= self.plan.target_patients {
            t.full_day = self.roster_last_start;
        }
        self.enrol(&mut rng, |day, site, arm, w, (leave, died)| {
            let (first, ids) = &self.site_scheds[site][arm];
            let id = if ids.len() == 1 {
                ids.start
            } else {
                ids.start + (day - first) as u32
            };
            let s = &self.scheds[id as usize];
            let n = self.slots[arm].len();
            let doses = &self.doses[arm][w * n..(w + 1) * n];
            let base = site * np;
            let mut given = None;
            for &(sd, c, p) in &s.doses {
                if i64::from(sd) >= leave {
                    break;
                }
                given = Some(sd);
                self.add_dose(
                    t,
                    base + usize::from(p),
                    day + i64::from(sd) - 1,
                    doses[usize::from(c)],
                );
            }
            if let Some(sd) = given {
                last_dose = last_dose.max(day + i64::from(sd) - 1);
            }
            Self::outcome(t, site, leave, died, s.last_day);
            enrolled += 1;
            if enrolled == self.plan.target_patients {
                t.full_day = Some(day);
            }
        });
        t.last_dose_day = (last_dose != i64::MIN).then_some(last_dose);
        let (weeks, series) = (self.weeks, t.total.len());
        for sp in 0..series {
            let w = sp * weeks..(sp + 1) * weeks;
            t.total[sp] = t.week[w.clone()].iter().sum::<u64>() + t.outside[sp];
            t.total_doses[sp] = t.week_doses[w].iter().sum::<u32>() + t.outside_doses[sp];
        }
    }

    /// The enrolment model's patients of one replicate, in order of arrival: `each` gets
    /// the start day, site, arm, weight (grid index) and leaving day of each.
    pub fn enrol<R: Rng>(
        &self,
        rng: &mut R,
        mut each: impl FnMut(i64, usize, usize, usize, (i64, bool)),
    ) {
        let days = (self.weeks * 7) as f64;
        // Each site's mean gap between arrivals in this replicate (infinite: none).
        let gaps: Vec<f64> = self
            .sim_sites
            .iter()
            .map(|s| match s.shape {
                Some(shape) => Gamma::new(shape, s.rate_per_day / shape)
                    .expect("a checked shape and rate")
                    .sample(rng),
                None => s.rate_per_day,
            })
            .map(|rate| {
                if rate > 0.0 {
                    1.0 / rate
                } else {
                    f64::INFINITY
                }
            })
            .collect();
        let gap = |rng: &mut R, mean: f64| {
            if mean.is_finite() {
                let e: f64 = Exp1.sample(rng);
                e * mean
            } else {
                f64::INFINITY
            }
        };
        let mut next: Vec<f64> = self
            .sim_sites
            .iter()
            .zip(&gaps)
            .map(|(s, &g)| s.activation.max(self.resume) + gap(rng, g))
            .collect();
        let mut blocks: Vec<Vec<u16>> = vec![Vec::new(); self.sim_sites.len()];
        for _ in 0..self.to_enrol {
            // The site whose next arrival comes first (the first such on a tie; times are
            // positive or infinite, never NaN).
            let (mut s, mut t) = (0, next[0]);
            for (k, &x) in next.iter().enumerate().skip(1) {
                if x < t {
                    (s, t) = (k, x);
                }
            }
            if t >= days {
                break;
            }
            let arm = self.allocate(rng, &mut blocks[s]);
            let w = self.weight.sample(rng);
            let leave = self.hazard.leave_after(0.0, rng);
            // t >= 0: truncation is its floor.
            each(t as i64, s, usize::from(arm), w, leave);
            next[s] = t + gap(rng, gaps[s]);
        }
    }

    /// The next arm of a site's permuted block (a new block, shuffled, when one ends).
    fn allocate<R: Rng>(&self, rng: &mut R, block: &mut Vec<u16>) -> u16 {
        use rand::seq::SliceRandom;
        if block.is_empty() {
            block.extend_from_slice(&self.block);
            block.shuffle(rng);
        }
        block.pop().expect("a block has an arm")
    }
}

impl Facts {
    fn sized(series: usize, weeks: usize, months: usize, sites: usize) -> Facts {
        Facts {
            as_of: None,
            week_amount: vec![0.0; series * weeks],
            week_doses: vec![0; series * weeks],
            month_amount: vec![0.0; series * months],
            month_doses: vec![0; series * months],
            total_amount: vec![0.0; series],
            total_doses: vec![0; series],
            given_amount: vec![0.0; series],
            given_doses: vec![0; series],
            overdue_doses: vec![0; series],
            enrolled: vec![0; sites],
            completed: vec![0; sites],
            died: vec![0; sites],
            dropped_out: vec![0; sites],
            last_dose_day: None,
            recorded_deaths: 0,
            recorded_withdrawals: 0,
        }
    }

    /// A roster patient the record ends (dead or withdrawn) at site `s`: `completed` when
    /// it ends after their last dose or visit.
    fn count_end(&mut self, s: usize, completed: bool, kind: RecordKind) {
        self.enrolled[s] += 1;
        if completed {
            self.completed[s] += 1;
        } else if kind == RecordKind::Died {
            self.died[s] += 1;
        } else {
            self.dropped_out[s] += 1;
        }
        if kind == RecordKind::Died {
            self.recorded_deaths += 1;
        } else {
            self.recorded_withdrawals += 1;
        }
    }

    /// A dose of series `sp` the record makes certain, on forecast day `day`.
    fn add(&mut self, sp: usize, day: i64, amount: f64, weeks: usize, month_of_day: &[u16]) {
        self.total_amount[sp] += amount;
        self.total_doses[sp] += 1;
        self.last_dose_day = self.last_dose_day.max(Some(day));
        if (0..(weeks * 7) as i64).contains(&day) {
            let w = sp * weeks + (day / 7) as usize;
            self.week_amount[w] += amount;
            self.week_doses[w] += 1;
            let months = self.month_amount.len() / self.total_amount.len().max(1);
            let m = sp * months + usize::from(month_of_day[day as usize]);
            self.month_amount[m] += amount;
            self.month_doses[m] += 1;
        }
    }
}

/// Exact histograms of one count (doses) per column over the replicates: counts below
/// 32 in an array, larger ones counted by (column, value), so that the memory follows the
/// columns and the distinct counts, never the number of replicates.
#[derive(Debug, Clone, Default)]
pub struct Hist {
    counts: Vec<u32>,
    larger: rustc_hash::FxHashMap<(u32, u32), u64>,
    /// `larger` in (column, value) order, once [`Hist::finish`] has run.
    sorted: Vec<(u32, u32, u64)>,
}

impl Hist {
    fn new(columns: usize) -> Hist {
        Hist {
            counts: vec![0; columns * HIST_BINS],
            ..Hist::default()
        }
    }

    /// Counts `values[j]` in column `first + j`, for each `j`.
    fn add_run(&mut self, first: usize, values: &[u32]) {
        let counts = &mut self.counts[first * HIST_BINS..(first + values.len()) * HIST_BINS];
        for (j, (bins, &v)) in counts.chunks_exact_mut(HIST_BINS).zip(values).enumerate() {
            match bins.get_mut(v as usize) {
                Some(b) => *b += 1,
                None => *self.larger.entry(((first + j) as u32, v)).or_insert(0) += 1,
            }
        }
    }

    /// Both histograms' counts (adding counts gives the same whatever the order).
    fn merge(mut self, other: Hist) -> Hist {
        if self.counts.is_empty() && !other.counts.is_empty() {
            return other.merge(self);
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        for (k, n) in other.larger {
            *self.larger.entry(k).or_insert(0) += n;
        }
        self
    }

    /// Sorts the larger values by column and value, so that each column's are together.
    fn finish(&mut self) {
        self.sorted = self.larger.drain().map(|((c, v), n)| (c, v, n)).collect();
        self.sorted.sort_unstable();
    }

    /// Column `c`'s counts: `(value, replicates)` in increasing value, those with none left out.
    pub fn of(&self, c: usize) -> impl Iterator<Item = (u64, u64)> + '_ {
        let small = self.counts[c * HIST_BINS..(c + 1) * HIST_BINS]
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(v, n)| (v as u64, u64::from(*n)));
        let from = self
            .sorted
            .partition_point(|&(col, _, _)| (col as usize) < c);
        let to = self
            .sorted
            .partition_point(|&(col, _, _)| (col as usize) <= c);
        let large = self.sorted[from..to]
            .iter()
            .map(|&(_, v, n)| (u64::from(v), n));
        small.chain(large)
    }
}

/// One figure every replicate keeps for the statistics (see [`Model::stat_columns`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Col {
    /// Counted units of product `k` at `site` (`None`: all sites) in week `p`, or in
    /// month `p`.
    Period {
        k: usize,
        site: Option<usize>,
        monthly: bool,
        p: usize,
    },
    /// Per product and group of sites (`None`: all sites): the units of every dose drawn,
    /// the doses, and the units after the horizon.
    Total {
        k: usize,
        group: Option<usize>,
    },
    TotalDoses {
        k: usize,
        group: Option<usize>,
    },
    After {
        k: usize,
        group: Option<usize>,
    },
    /// Per group of sites: patients enrolled, completed, dead and dropped out.
    Enrolled(Option<usize>),
    Completed(Option<usize>),
    Died(Option<usize>),
    DroppedOut(Option<usize>),
    /// The forecast day of the last dose, and of the target reached, as [`day_code`]s.
    LastDoseDay,
    FullDay,
}

/// A forecast day (`None`: none) as a whole number: 0 for none, then 1, 2, 3, 4, ... for
/// days 0, -1, 1, -2, ... (small either way, so narrow in a block).
pub fn day_code(day: Option<i64>) -> u64 {
    match day {
        None => 0,
        Some(d) => ((d << 1) ^ (d >> 63)) as u64 + 1,
    }
}

/// The day a [`day_code`] stands for.
pub fn day_of_code(code: u64) -> Option<i64> {
    let z = code.checked_sub(1)?;
    Some((z >> 1) as i64 ^ -((z & 1) as i64))
}

/// Where a run of a pass's columns is read from in each replicate's tally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// `Tally::week`, `Tally::month`: a site's series.
    Week,
    Month,
    /// All sites' sums, per product and week or month.
    AllWeek,
    AllMonth,
    /// The pass's scalar columns, worked out once a replicate.
    Scalars,
}

/// How a pass fills its columns from a replicate's tally: runs of consecutive columns,
/// each from consecutive places of one source.
struct Layout {
    /// (source, first place in it, columns, first column of the pass).
    runs: Vec<(Source, usize, usize, usize)>,
    /// The pass's scalar columns, in order (what `Source::Scalars` holds).
    scalars: Vec<Col>,
    all_sites: bool,
}

impl Layout {
    fn of(model: &Model, cols: &[Col]) -> Layout {
        let (np, ns, w, m) = (
            model.products.len(),
            model.sites.len(),
            model.weeks,
            model.months.len(),
        );
        let mut runs: Vec<(Source, usize, usize, usize)> = Vec::new();
        let mut scalars = Vec::new();
        let mut all_sites = false;
        for (j, c) in cols.iter().enumerate() {
            let (source, at) = match *c {
                Col::Period {
                    k,
                    site,
                    monthly,
                    p,
                } => {
                    let series = |s: usize| s * np + k;
                    match (site, monthly, ns) {
                        // With one site, all sites are that site.
                        (None, false, 1) => (Source::Week, series(0) * w + p),
                        (None, true, 1) => (Source::Month, series(0) * m + p),
                        (None, false, _) => (Source::AllWeek, k * w + p),
                        (None, true, _) => (Source::AllMonth, k * m + p),
                        (Some(s), false, _) => (Source::Week, series(s) * w + p),
                        (Some(s), true, _) => (Source::Month, series(s) * m + p),
                    }
                }
                _ => {
                    scalars.push(*c);
                    (Source::Scalars, scalars.len() - 1)
                }
            };
            all_sites |= matches!(source, Source::AllWeek | Source::AllMonth);
            match runs.last_mut() {
                Some((s, first, len, _)) if *s == source && *first + *len == at => *len += 1,
                _ => runs.push((source, at, 1, j)),
            }
        }
        Layout {
            runs,
            scalars,
            all_sites,
        }
    }
}

/// Scratch space for filling a pass's columns from one replicate.
#[derive(Default)]
struct Fill {
    all_week: Vec<u64>,
    all_month: Vec<u64>,
    scalars: Vec<u64>,
}

impl Model<'_> {
    /// Every figure a replicate keeps, in the order the statistics read them: per product,
    /// per series (all sites, then each site when there are several), its weeks then its
    /// months; then per product and group of sites (all, then each) the totals; per group
    /// the patients' outcomes; the last dose's day and the day the target was reached.
    pub fn stat_columns(&self) -> Vec<Col> {
        let (np, ns) = (self.products.len(), self.sites.len());
        let series: Vec<Option<usize>> = std::iter::once(None)
            .chain((0..ns).filter(|_| ns > 1).map(Some))
            .collect();
        let groups: Vec<Option<usize>> = std::iter::once(None).chain((0..ns).map(Some)).collect();
        let mut cols = Vec::new();
        for k in 0..np {
            for &site in &series {
                for (monthly, periods) in [(false, self.weeks), (true, self.months.len())] {
                    cols.extend((0..periods).map(|p| Col::Period {
                        k,
                        site,
                        monthly,
                        p,
                    }));
                }
            }
        }
        for k in 0..np {
            for &group in &groups {
                cols.extend([
                    Col::Total { k, group },
                    Col::TotalDoses { k, group },
                    Col::After { k, group },
                ]);
            }
        }
        for &g in &groups {
            cols.extend([
                Col::Enrolled(g),
                Col::Completed(g),
                Col::Died(g),
                Col::DroppedOut(g),
            ]);
        }
        cols.extend([Col::LastDoseDay, Col::FullDay]);
        cols
    }

    /// The value of scalar column `c` in tally `t`.
    fn scalar_value(&self, t: &Tally, c: Col) -> u64 {
        let (np, ns) = (self.products.len(), self.sites.len());
        let sites = |g: Option<usize>| g.map_or(0..ns, |s| s..s + 1);
        let per_product = |v: &[u64], k: usize, g| sites(g).map(|s| v[s * np + k]).sum::<u64>();
        let per_site = |v: &[u32], g| sites(g).map(|s| u64::from(v[s])).sum::<u64>();
        match c {
            Col::Total { k, group } => per_product(&t.total, k, group),
            Col::After { k, group } => per_product(&t.after, k, group),
            Col::TotalDoses { k, group } => sites(group)
                .map(|s| u64::from(t.total_doses[s * np + k]))
                .sum(),
            Col::Enrolled(g) => per_site(&t.enrolled, g),
            Col::Completed(g) => per_site(&t.completed, g),
            Col::Died(g) => per_site(&t.died, g),
            Col::DroppedOut(g) => per_site(&t.dropped_out, g),
            Col::LastDoseDay => day_code(t.last_dose_day),
            Col::FullDay => day_code(t.full_day),
            Col::Period { .. } => unreachable!("a period is no scalar"),
        }
    }

    /// Replicate `i` of a block of `len`'s columns (laid out by `layout`) into `values`
    /// (column-major: `values[j * len + i]`).
    fn fill(
        &self,
        t: &Tally,
        layout: &Layout,
        (i, len): (usize, usize),
        values: &mut [u64],
        f: &mut Fill,
    ) {
        let (np, ns, w, m) = (
            self.products.len(),
            self.sites.len(),
            self.weeks,
            self.months.len(),
        );
        if layout.all_sites {
            for (all, site, per) in [
                (&mut f.all_week, &t.week, w),
                (&mut f.all_month, &t.month, m),
            ] {
                all.clear();
                all.resize(np * per, 0);
                for s in 0..ns {
                    for (a, v) in all.iter_mut().zip(&site[s * np * per..(s + 1) * np * per]) {
                        *a += v;
                    }
                }
            }
        }
        if !layout.scalars.is_empty() {
            f.scalars.clear();
            f.scalars
                .extend(layout.scalars.iter().map(|&c| self.scalar_value(t, c)));
        }
        for &(source, at, n, first) in &layout.runs {
            let src: &[u64] = match source {
                Source::Week => &t.week,
                Source::Month => &t.month,
                Source::AllWeek => &f.all_week,
                Source::AllMonth => &f.all_month,
                Source::Scalars => &f.scalars,
            };
            for (dst, &v) in values[first * len + i..]
                .iter_mut()
                .step_by(len)
                .zip(&src[at..at + n])
            {
                *dst = v;
            }
        }
    }
}

/// One block's stored values: per column, its replicates' values in the narrowest of
/// nothing (all zero), u8, u16, u32 and u64 that holds all of them.
struct Block {
    len: usize,
    /// Per column: width in bytes (0, 1, 2, 4 or 8) and where its values start in the
    /// vector of that width.
    cols: Vec<(u8, u32)>,
    byte: Vec<u8>,
    narrow: Vec<u16>,
    mid: Vec<u32>,
    wide: Vec<u64>,
}

impl Block {
    /// From `values`, column-major (`values[c * len + i]`).
    fn pack(values: &[u64], len: usize, columns: usize) -> Block {
        let mut b = Block {
            len,
            cols: Vec::with_capacity(columns),
            byte: Vec::new(),
            narrow: Vec::new(),
            mid: Vec::new(),
            wide: Vec::new(),
        };
        for col in values.chunks_exact(len.max(1)).take(columns) {
            let max = col.iter().copied().max().unwrap_or(0);
            if max == 0 {
                b.cols.push((0, 0));
            } else if max <= u64::from(u8::MAX) {
                b.cols.push((1, b.byte.len() as u32));
                b.byte.extend(col.iter().map(|&v| v as u8));
            } else if max <= u64::from(u16::MAX) {
                b.cols.push((2, b.narrow.len() as u32));
                b.narrow.extend(col.iter().map(|&v| v as u16));
            } else if max <= u64::from(u32::MAX) {
                b.cols.push((4, b.mid.len() as u32));
                b.mid.extend(col.iter().map(|&v| v as u32));
            } else {
                b.cols.push((8, b.wide.len() as u32));
                b.wide.extend_from_slice(col);
            }
        }
        b.byte.shrink_to_fit();
        b.narrow.shrink_to_fit();
        b.mid.shrink_to_fit();
        b.wide.shrink_to_fit();
        b
    }

    fn extend(&self, c: usize, out: &mut Vec<u64>) {
        let (width, at) = self.cols[c];
        let r = at as usize..at as usize + self.len;
        match width {
            0 => out.resize(out.len() + self.len, 0),
            1 => out.extend(self.byte[r].iter().map(|&v| u64::from(v))),
            2 => out.extend(self.narrow[r].iter().map(|&v| u64::from(v))),
            4 => out.extend(self.mid[r].iter().map(|&v| u64::from(v))),
            _ => out.extend_from_slice(&self.wide[r]),
        }
    }

    /// Bytes it takes, its bookkeeping included.
    fn bytes(&self) -> usize {
        std::mem::size_of::<Block>()
            + self.cols.capacity() * std::mem::size_of::<(u8, u32)>()
            + self.byte.capacity()
            + self.narrow.capacity() * 2
            + self.mid.capacity() * 4
            + self.wide.capacity() * 8
    }

    /// Bytes column `c`'s values take.
    fn col_bytes(&self, c: usize) -> usize {
        usize::from(self.cols[c].0) * self.len + std::mem::size_of::<(u8, u32)>()
    }
}

/// The columns of one pass for every replicate, as [`Model::pass`] leaves them for the
/// statistics: per column each replicate's value, in replicate order.
pub struct Store {
    pub replicates: usize,
    blocks: Vec<Block>,
}

impl Store {
    /// Column `c` (of the pass)'s values, one per replicate in replicate order, into `out`
    /// (cleared).
    pub fn column(&self, c: usize, out: &mut Vec<u64>) {
        out.clear();
        for b in &self.blocks {
            b.extend(c, out);
        }
    }

    /// Bytes the stored figures take.
    pub fn bytes(&self) -> usize {
        self.blocks.iter().map(Block::bytes).sum()
    }
}

/// What a pass counts besides its columns, once for the whole forecast: the dose-count
/// histograms, and per product with a weekly capacity how many replicates need more than
/// it in each week, and in any week with a day in each month.
pub struct Extras {
    pub doses: Hist,
    /// Per forecast product: (weeks, months) counts, when it has a capacity.
    pub over: OverCounts,
}

/// The most counted units of a product that fit under its capacity, per week (`None`:
/// none fit), for the products the capacity is counted for.
pub type Limits = Vec<Option<Vec<Option<u64>>>>;

/// Per forecast product whose capacity is counted: replicates over it, per week and per
/// month.
pub type OverCounts = Vec<Option<(Vec<u64>, Vec<u64>)>>;

/// A pass's outcome: its columns for every replicate, or, when they would take more than
/// its budget, what they took in the replicates run before it stopped.
pub enum Pass {
    Done(Store, Option<Extras>),
    OverBudget {
        /// Per column of the pass, bytes stored, over `replicates` replicates.
        col_bytes: Vec<u64>,
        replicates: u64,
    },
}

/// Progress of [`Model::pass`]: a replicate done, or a pass starting over every
/// replicate (the work grows by that many).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tick {
    Replicate,
    Pass { replicates: u64 },
}

impl Model<'_> {
    /// Dose-count histogram columns: per series and week, then per series and month,
    /// where the series run over the sites and then all sites together
    /// (`site * products + k`, site = `sites.len()` for all).
    pub fn dose_column(&self, series: usize, period: usize, monthly: bool) -> usize {
        let all = (self.sites.len() + 1) * self.products.len();
        if monthly {
            all * self.weeks + series * self.months.len() + period
        } else {
            series * self.weeks + period
        }
    }

    /// The dose histogram series of product `k` at `site` (`None`: all sites, which with
    /// one site are that site's).
    pub fn dose_series(&self, site: Option<usize>, k: usize) -> usize {
        let (np, ns) = (self.products.len(), self.sites.len());
        match site {
            Some(s) => s * np + k,
            None if ns == 1 => k,
            None => ns * np + k,
        }
    }

    fn dose_columns(&self) -> usize {
        (self.sites.len() + 1) * self.products.len() * (self.weeks + self.months.len())
    }

    /// The weeks with a day in each month (by index).
    fn month_weeks(&self) -> Vec<Range<usize>> {
        let mut first_day = 0usize;
        self.months
            .iter()
            .map(|&(_, days)| {
                let last = first_day + days as usize - 1;
                let weeks = first_day / 7..last / 7 + 1;
                first_day += days as usize;
                weeks
            })
            .collect()
    }

    /// One replicate's dose counts into the histograms, and its weeks and months over
    /// capacity into `over`; `all`: scratch for the doses of all sites together.
    fn count_extras(
        &self,
        t: &Tally,
        h: &mut Hist,
        all: &mut Vec<u32>,
        (limits, month_weeks): (&Limits, &[Range<usize>]),
        (over, scratch): (&mut OverCounts, &mut Vec<bool>),
    ) {
        let (np, ns, w) = (self.products.len(), self.sites.len(), self.weeks);
        // The sites' dose columns are laid out as the tally's: one run each for weeks and
        // months; all sites' follow them.
        for (doses, monthly) in [(&t.week_doses, false), (&t.month_doses, true)] {
            h.add_run(self.dose_column(0, 0, monthly), doses);
            // With one site, its columns are all sites' (see `dose_series`).
            if ns == 1 {
                continue;
            }
            let per_site = doses.len() / ns;
            all.clear();
            all.extend_from_slice(&doses[..per_site]);
            for site in doses[per_site..].chunks_exact(per_site) {
                for (a, d) in all.iter_mut().zip(site) {
                    *a += d;
                }
            }
            h.add_run(self.dose_column(ns * np, 0, monthly), all);
        }
        for (k, (most, counts)) in limits.iter().zip(over.iter_mut()).enumerate() {
            let (Some(most), Some((weeks, months))) = (most, counts) else {
                continue;
            };
            scratch.clear();
            for (week, m) in most.iter().enumerate() {
                let units: u64 = (0..ns).map(|s| t.week[(s * np + k) * w + week]).sum();
                let is_over = m.is_none_or(|m| units > m);
                scratch.push(is_over);
                weeks[week] += u64::from(is_over);
            }
            for (count, ws) in months.iter_mut().zip(month_weeks) {
                *count += u64::from(scratch[ws.clone()].iter().any(|&o| o));
            }
        }
    }

    /// Per forecast product whose capacity `limits` counts, no week or month over it yet.
    fn empty_over(&self, limits: Option<&Limits>) -> OverCounts {
        limits.map_or(Vec::new(), |l| {
            l.iter()
                .map(|m| {
                    m.as_ref()
                        .map(|_| (vec![0; self.weeks], vec![0; self.months.len()]))
                })
                .collect()
        })
    }

    /// Block `b` of the `n` replicates into `acc`: each replicate run, its `cols` kept
    /// (packed in one block) and, with `extras`, its dose counts and weeks over capacity.
    /// Returns the block's bytes.
    fn run_block(
        &self,
        acc: &mut Acc,
        (b, n, seed): (usize, usize, u64),
        (layout, width): (&Layout, usize),
        extras: Option<(&Limits, &[Range<usize>])>,
        tick: &(dyn Fn(Tick) + Sync),
    ) -> usize {
        let (mut t, mut all, mut flags, mut fill) = acc
            .scratch
            .take()
            .unwrap_or_else(|| (self.empty_tally(), Vec::new(), Vec::new(), Fill::default()));
        let len = BLOCK.min(n - b * BLOCK);
        acc.values.clear();
        acc.values.resize(width * len, 0);
        for i in 0..len {
            self.replicate_into(seed, (b * BLOCK + i) as u64, &mut t);
            self.fill(&t, layout, (i, len), &mut acc.values, &mut fill);
            if let Some(limits) = extras {
                let scratch = (&mut acc.over, &mut flags);
                self.count_extras(&t, &mut acc.doses, &mut all, limits, scratch);
            }
            tick(Tick::Replicate);
        }
        let block = Block::pack(&acc.values, len, width);
        let bytes = block.bytes();
        acc.blocks.push((b, block));
        acc.scratch = Some((t, all, flags, fill));
        bytes
    }

    /// Every replicate once, on `pool`, keeping `cols` of each (in replicate order), and
    /// with `limits` (`Some`: this pass counts them) the [`Extras`]. With a `budget`, stops
    /// as soon as the kept figures pass that many bytes. `tick` is told of each replicate.
    pub fn pass(
        &self,
        pool: &rayon::ThreadPool,
        (replicates, seed): (u64, u64),
        cols: &[Col],
        budget: Option<usize>,
        limits: Option<&Limits>,
        tick: &(dyn Fn(Tick) + Sync),
    ) -> Pass {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let n = replicates as usize;
        let layout = Layout::of(self, cols);
        let width = cols.len();
        let month_weeks = self.month_weeks();
        let extras = limits.map(|l| (l, month_weeks.as_slice()));
        let stored = AtomicUsize::new(0);
        let over_budget = AtomicBool::new(false);
        tick(Tick::Pass { replicates });
        let acc = pool.install(|| {
            (0..n.div_ceil(BLOCK))
                .into_par_iter()
                .fold(
                    || {
                        let doses = match limits {
                            Some(_) => Hist::new(self.dose_columns()),
                            None => Hist::default(),
                        };
                        Acc::new(doses, self.empty_over(limits))
                    },
                    |mut acc, b| {
                        if over_budget.load(Ordering::Relaxed) {
                            return acc;
                        }
                        let at = (b, n, seed);
                        let bytes = self.run_block(&mut acc, at, (&layout, width), extras, tick);
                        let total = stored.fetch_add(bytes, Ordering::Relaxed) + bytes;
                        if budget.is_some_and(|b| total > b) {
                            over_budget.store(true, Ordering::Relaxed);
                        }
                        acc
                    },
                )
                .reduce(|| Acc::new(Hist::default(), Vec::new()), Acc::merge)
        });
        if over_budget.load(Ordering::Relaxed) {
            return Pass::over_budget(&acc.blocks, width);
        }
        let mut blocks = acc.blocks;
        blocks.sort_unstable_by_key(|b| b.0);
        let extras = limits.map(|_| {
            let mut doses = acc.doses;
            if doses.counts.is_empty() {
                doses = Hist::new(self.dose_columns());
            }
            doses.finish();
            Extras {
                doses,
                over: if acc.over.is_empty() {
                    self.empty_over(limits)
                } else {
                    acc.over
                },
            }
        });
        Pass::Done(
            Store {
                replicates: n,
                blocks: blocks.into_iter().map(|b| b.1).collect(),
            },
            extras,
        )
    }
}

/// Each task's scratch in a [`Model::pass`]: its blocks and extras so far, and a tally,
/// a block's values and the extras' scratch, reused from block to block.
struct Acc {
    blocks: Vec<(usize, Block)>,
    doses: Hist,
    over: OverCounts,
    values: Vec<u64>,
    scratch: Option<(Tally, Vec<u32>, Vec<bool>, Fill)>,
}

impl Acc {
    fn new(doses: Hist, over: OverCounts) -> Acc {
        Acc {
            blocks: Vec::new(),
            doses,
            over,
            values: Vec::new(),
            scratch: None,
        }
    }

    /// Two tasks' blocks and extras together (the scratch is dropped).
    fn merge(mut self, b: Acc) -> Acc {
        self.blocks.extend(b.blocks);
        if self.over.is_empty() {
            self.over = b.over;
        } else {
            for (x, y) in self.over.iter_mut().zip(b.over) {
                if let (Some((xw, xm)), Some((yw, ym))) = (x, y) {
                    for (p, q) in xw.iter_mut().zip(yw) {
                        *p += q;
                    }
                    for (p, q) in xm.iter_mut().zip(ym) {
                        *p += q;
                    }
                }
            }
        }
        Acc {
            blocks: self.blocks,
            doses: self.doses.merge(b.doses),
            over: self.over,
            values: Vec::new(),
            scratch: None,
        }
    }
}

impl Pass {
    /// A pass stopped over its budget: per column, the bytes its `blocks` took, and the
    /// replicates they hold.
    fn over_budget(blocks: &[(usize, Block)], width: usize) -> Pass {
        let mut col_bytes = vec![0u64; width];
        let mut done = 0u64;
        for (_, b) in blocks {
            done += b.len as u64;
            for (c, x) in col_bytes.iter_mut().enumerate() {
                *x += b.col_bytes(c) as u64;
            }
        }
        Pass::OverBudget {
            col_bytes,
            replicates: done,
        }
    }
}

impl WeightSampler {
    fn sample<R: Rng>(&self, rng: &mut R) -> usize {
        match self {
            WeightSampler::Normal {
                normal,
                min_tenths,
                span,
            } => loop {
                // Rounded half up: a negative draw lands below the grid and is drawn again.
                let tenths = (normal.sample(rng) * 10.0 + 0.5) as i64;
                // The grid runs from min to max in tenths of a kg; outside it, draw again.
                if let Ok(i) = usize::try_from(tenths - min_tenths)
                    && i < *span
                {
                    return i;
                }
            },
            WeightSampler::Roster(idx) => idx[rng.random_range(0..idx.len())] as usize,
        }
    }
}

/// The weights a plan can give (0.1 kg steps from min to max, or the roster's distinct
/// weights) and the sampler that picks among them.
fn weight_grid(plan: &ForecastPlan) -> (Vec<Kg>, WeightSampler) {
    match &plan.weight {
        WeightModel::Normal { mean, sd, min, max } => {
            let lo = (min * 10.0).ceil() as i64;
            let hi = (max * 10.0).floor() as i64;
            let grid: Vec<Kg> = (lo..=hi).map(|t| Kg::from_f64(t as f64 / 10.0)).collect();
            let span = grid.len();
            (
                grid,
                WeightSampler::Normal {
                    normal: Normal::new(*mean, *sd).expect("a checked SD"),
                    min_tenths: lo,
                    span,
                },
            )
        }
        WeightModel::Roster { weights, .. } => {
            let mut grid = weights.clone();
            grid.sort();
            grid.dedup();
            let idx = weights
                .iter()
                .map(|w| grid.binary_search(w).expect("in the grid") as u32)
                .collect();
            (grid, WeightSampler::Roster(idx))
        }
    }
}

/// The doses (study day, component, product slot) of one expanded calendar that `keep`
/// keeps, in study-day order, with each one's amount; the calendar's last study day with a
/// dose or visit; and, per product slot, the assumed regimen values of the doses kept.
/// `slots`: each component's product slot (`u16::MAX`: not forecast).
fn sched_of(
    events: &[Event],
    slots: &[u16],
    products: usize,
    keep: impl Fn(&Event) -> bool,
) -> (Sched, Vec<f64>, Vec<Assumed>) {
    let mut s = Sched {
        doses: Vec::new(),
        last_day: 0,
    };
    let mut amounts = Vec::new();
    let mut flags = vec![Assumed::NONE; products];
    for e in events {
        if e.kind == EventKind::Background {
            continue;
        }
        s.last_day = s.last_day.max(e.study_day as i32);
        if let (Origin::Component(c), Some(d)) = (e.origin, e.dose)
            && slots[c] != u16::MAX
            && keep(e)
        {
            s.doses.push((e.study_day as i32, c as u16, slots[c]));
            amounts.push(d);
            flags[usize::from(slots[c])] |= regimen_flags(e.assumed);
        }
    }
    // A patient's doses are tried in order until they leave: by study day.
    if !s.doses.is_sorted_by_key(|d| d.0) {
        let mut both: Vec<((i32, u16, u16), f64)> = s.doses.into_iter().zip(amounts).collect();
        both.sort_by_key(|d| d.0.0);
        (s.doses, amounts) = both.into_iter().unzip();
    }
    (s, amounts, flags)
}

/// The calendar months from `week0` over `days` days: each month's first day (the
/// horizon's first day for the first) and days inside, and each day's month.
fn months(week0: NaiveDate, days: i64) -> (Vec<(NaiveDate, u32)>, Vec<u16>) {
    let mut months: Vec<(NaiveDate, u32)> = Vec::new();
    let mut of_day = Vec::with_capacity(days as usize);
    for d in 0..days {
        let date = week0 + chrono::Days::new(d as u64);
        let first = date.with_day(1).expect("day 1");
        match months.last_mut() {
            Some((f, n)) if f.with_day(1) == Some(first) => *n += 1,
            _ => months.push((date, 1)),
        }
        of_day.push((months.len() - 1) as u16);
    }
    (months, of_day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::plan;
    use std::path::Path;

    fn trial() -> Trial {
        crate::scenario::load(Path::new("scenarios/nct02812121.toml")).expect("bundled scenario")
    }

    /// A plan for NCT02812121 with `sites` (TOML of [[sites]] entries) and the given
    /// mortality; everything else fixed.
    fn plan_text(target: u32, weeks: u32, sites: &str, m28: f64, m90: f64) -> String {
        format!(
            r#"trial = "NCT02812121"
target_patients = {{ value = {target}, assumed = "test" }}
start = {{ value = "2027-01-04", assumed = "test" }}
horizon_weeks = {{ value = {weeks}, assumed = "test" }}
{sites}
[allocation]
ratio = {{ msc-8w = 2, msc-4w = 1, control = 1 }}
block_size = 8
assumed = "test"
[weight_kg]
normal = {{ mean = 67, sd = 14, min = 40, max = 110 }}
assumed = "test"
[mortality]
day28 = {{ value = {m28}, assumed = "test" }}
day90 = {{ value = {m90}, assumed = "test" }}
dropout_per_month = {{ value = 0, assumed = "test" }}
"#
        )
    }

    /// No site calendars: every day open.
    static NO_CALENDARS: Sites = Sites::new();

    fn parsed(t: &Trial, text: &str) -> plan::ForecastPlan {
        plan::parse(Path::new("p.toml"), text, t).unwrap()
    }

    fn site(id: &str, activation: &str, rate: f64, shape: Option<f64>) -> String {
        let shape = shape.map_or(String::new(), |s| {
            format!("rate_shape = {{ value = {s}, assumed = \"test\" }}\n")
        });
        format!(
            "[[sites]]\nid = \"{id}\"\nactivation = {{ value = \"{activation}\", assumed = \"test\" }}\nrate_per_month = {{ value = {rate}, assumed = \"test\" }}\n{shape}"
        )
    }

    #[test]
    fn the_share_dead_by_day_28_and_90_matches_the_plan() {
        // 100,000 patients: the standard error of a share near 0.3 is 0.0015, so 0.5
        // percentage points is over three of them.
        let h = Hazard::new(&plan::Mortality {
            day28: 0.24,
            day90: 0.35,
            dropout_per_month: 0.0,
        });
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let n = 100_000;
        let times: Vec<f64> = (0..n).map(|_| h.death_time(&mut rng)).collect();
        let by = |d: f64| times.iter().filter(|&&t| t < d).count() as f64 / n as f64;
        assert!((by(28.0) - 0.24).abs() < 0.005, "day 28: {}", by(28.0));
        assert!((by(90.0) - 0.35).abs() < 0.005, "day 90: {}", by(90.0));
        // The day 29-90 rate continues: by day 152, 1 - 0.65 x (0.65/0.76) dead.
        let d152 = 1.0 - 0.65 * (0.65 / 0.76);
        assert!((by(152.0) - d152).abs() < 0.005, "day 152: {}", by(152.0));
    }

    #[test]
    fn no_mortality_means_nobody_leaves() {
        let h = Hazard::new(&plan::Mortality {
            day28: 0.0,
            day90: 0.0,
            dropout_per_month: 0.0,
        });
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert_eq!(h.leave_after(0.0, &mut rng), (NEVER, false));
        assert_eq!(h.leave_after(40.0, &mut rng), (NEVER, false));
        // A dropout rate of 10% a month: 10% gone by day 30.4375.
        let h = Hazard::new(&plan::Mortality {
            day28: 0.0,
            day90: 0.0,
            dropout_per_month: 0.1,
        });
        let n = 100_000;
        let gone = (0..n)
            .filter(|_| h.dropout_time_after(0.0, &mut rng) < DAYS_PER_MONTH)
            .count() as f64
            / n as f64;
        assert!((gone - 0.1).abs() < 0.005, "{gone}");
    }

    /// Mean, variance and their Monte Carlo standard errors of `x`.
    fn moments(x: &[f64]) -> (f64, f64, f64, f64) {
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
        let m4 = x.iter().map(|v| (v - mean).powi(4)).sum::<f64>() / n;
        ((mean), var, (var / n).sqrt(), ((m4 - var * var) / n).sqrt())
    }

    /// Patients enrolled by forecast day `by` in each of `reps` replicates.
    fn enrolled_by(model: &Model, reps: u64, by: i64) -> Vec<f64> {
        (0..reps)
            .map(|r| {
                let mut rng = ChaCha8Rng::seed_from_u64(11);
                rng.set_stream(r);
                let mut n = 0;
                model.enrol(&mut rng, |day, _, _, _, _| {
                    if day < by {
                        n += 1;
                    }
                });
                f64::from(n)
            })
            .collect()
    }

    #[test]
    fn enrolment_by_a_date_has_the_poisson_mean_and_variance() {
        let t = trial();
        // Two sites, 4 and 3 a month, the second from day 30; counted by day 200.
        let sites = site("A", "2027-01-04", 4.0, None) + &site("B", "2027-02-03", 3.0, None);
        let p = parsed(&t, &plan_text(100_000, 40, &sites, 0.0, 0.0));
        let model = Model::new(&t, &p, &NO_CALENDARS, None).unwrap();
        let x = enrolled_by(&model, 20_000, 200);
        let lambda = 4.0 / DAYS_PER_MONTH * 200.0 + 3.0 / DAYS_PER_MONTH * 170.0;
        let (mean, var, se_mean, se_var) = moments(&x);
        assert!(
            (mean - lambda).abs() < 3.0 * se_mean,
            "mean {mean} vs {lambda}"
        );
        assert!(
            (var - lambda).abs() < 3.0 * se_var,
            "variance {var} vs {lambda}"
        );
    }

    #[test]
    fn enrolment_by_a_date_has_the_poisson_gamma_mean_and_variance() {
        let t = trial();
        // Rate r ~ Gamma(shape a, mean m): N(t) is negative binomial with mean m t and
        // variance m t + (m t)^2 / a, summed over independent sites.
        let sites =
            site("A", "2027-01-04", 4.0, Some(2.0)) + &site("B", "2027-01-04", 2.0, Some(5.0));
        let p = parsed(&t, &plan_text(100_000, 40, &sites, 0.0, 0.0));
        let model = Model::new(&t, &p, &NO_CALENDARS, None).unwrap();
        let x = enrolled_by(&model, 20_000, 180);
        let (ma, mb) = (4.0 / DAYS_PER_MONTH * 180.0, 2.0 / DAYS_PER_MONTH * 180.0);
        let mean_f = ma + mb;
        let var_f = ma + ma * ma / 2.0 + mb + mb * mb / 5.0;
        let (mean, var, se_mean, se_var) = moments(&x);
        assert!(
            (mean - mean_f).abs() < 3.0 * se_mean,
            "mean {mean} vs {mean_f}"
        );
        assert!(
            (var - var_f).abs() < 3.0 * se_var,
            "variance {var} vs {var_f}"
        );
    }

    #[test]
    fn every_complete_block_has_the_plans_ratio() {
        let t = trial();
        let sites = site("A", "2027-01-04", 30.0, None) + &site("B", "2027-01-04", 20.0, None);
        let p = parsed(&t, &plan_text(5_000, 200, &sites, 0.0, 0.0));
        let model = Model::new(&t, &p, &NO_CALENDARS, None).unwrap();
        for rep in 0..20 {
            let mut rng = ChaCha8Rng::seed_from_u64(3);
            rng.set_stream(rep);
            let mut per_site: Vec<Vec<usize>> = vec![Vec::new(); 2];
            model.enrol(&mut rng, |_, s, arm, _, _| per_site[s].push(arm));
            for arms in &per_site {
                assert!(arms.len() > 100);
                for block in arms.chunks_exact(8) {
                    let count = |a: usize| block.iter().filter(|&&x| x == a).count();
                    // msc-8w : msc-4w : control = 2 : 1 : 1 in blocks of 8.
                    assert_eq!((count(0), count(1), count(2)), (4, 2, 2), "{block:?}");
                }
            }
        }
    }

    #[test]
    fn a_day_code_is_small_either_way_and_reads_back() {
        assert_eq!(day_code(None), 0);
        assert_eq!(day_code(Some(0)), 1);
        assert_eq!(day_code(Some(-1)), 2);
        assert_eq!(day_code(Some(1)), 3);
        for d in [
            None,
            Some(0),
            Some(-5),
            Some(700),
            Some(i64::MIN + 1),
            Some(i64::MAX / 2),
        ] {
            assert_eq!(day_of_code(day_code(d)), d, "{d:?}");
        }
    }

    /// Memory is bounded whatever the replicates: under a budget too small for one pass,
    /// the columns are split between passes that each run every replicate again, and
    /// every figure is the same as from one pass, at any thread count.
    #[test]
    fn passes_under_a_small_budget_give_the_same_figures_as_one() {
        let t = trial();
        let sites = site("A", "2027-01-04", 8.0, Some(3.0)) + &site("B", "2027-02-01", 3.0, None);
        let p = parsed(&t, &plan_text(120, 80, &sites, 0.24, 0.35));
        let model = Model::new(&t, &p, &NO_CALENDARS, None).unwrap();
        let reps = (5 * BLOCK + 7) as u64;
        let whole = |threads| {
            crate::forecast::stats::run_within(&model, (reps, 3), threads, usize::MAX, &|_| {})
                .unwrap()
        };
        let (one, passes) = whole(1);
        assert_eq!(passes, 1);
        // 40 KB: a tenth of what the columns take.
        for threads in [1, 2] {
            let (split, passes) =
                crate::forecast::stats::run_within(&model, (reps, 3), threads, 40_000, &|_| {})
                    .unwrap();
            assert!(passes > 5, "{passes} passes");
            assert_eq!(split, one, "{threads} threads");
        }
        assert_eq!(whole(2).0, one);
    }

    #[test]
    fn a_replicate_is_the_same_whoever_runs_it() {
        let t = trial();
        let sites = site("A", "2027-01-04", 8.0, Some(3.0)) + &site("B", "2027-02-01", 3.0, None);
        let p = parsed(&t, &plan_text(120, 80, &sites, 0.24, 0.35));
        let model = Model::new(&t, &p, &NO_CALENDARS, None).unwrap();
        // More replicates than a block, so that blocks are spread over the threads.
        let reps = (3 * BLOCK + 44) as u64;
        let cols = model.stat_columns();
        let limits: Limits = vec![Some(vec![Some(1_000); model.weeks])];
        let pass = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            match model.pass(&pool, (reps, 9), &cols, None, Some(&limits), &|_| {}) {
                Pass::Done(store, Some(extras)) => (store, extras),
                _ => panic!("a pass without a budget is done, with its extras"),
            }
        };
        let (one, one_extras) = pass(1);
        let (two, two_extras) = pass(2);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let n = reps as usize;
        let picked = [0, 17, n - 1];
        let tallies: Vec<Tally> = picked
            .iter()
            .map(|&r| model.replicate(9, r as u64))
            .collect();
        let (np, w, m) = (model.products.len(), model.weeks, model.months.len());
        for (j, &c) in cols.iter().enumerate() {
            one.column(j, &mut a);
            two.column(j, &mut b);
            assert_eq!(a, b, "column {c:?}");
            assert_eq!(a.len(), n);
            for (&r, t) in picked.iter().zip(&tallies) {
                let sites = |site: Option<usize>| site.map_or(0..2, |s| s..s + 1);
                let want = match c {
                    Col::Period {
                        k,
                        site,
                        monthly: false,
                        p,
                    } => sites(site).map(|s| t.week[(s * np + k) * w + p]).sum(),
                    Col::Period {
                        k,
                        site,
                        monthly: true,
                        p,
                    } => sites(site).map(|s| t.month[(s * np + k) * m + p]).sum(),
                    Col::Enrolled(g) => sites(g).map(|s| u64::from(t.enrolled[s])).sum(),
                    Col::Total { k, group } => sites(group).map(|s| t.total[s * np + k]).sum(),
                    Col::LastDoseDay => day_code(t.last_dose_day),
                    _ => a[r],
                };
                assert_eq!(a[r], want, "column {c:?}, replicate {r}");
            }
        }
        for c in 0..model.dose_columns() {
            assert!(
                one_extras.doses.of(c).eq(two_extras.doses.of(c)),
                "doses column {c}"
            );
            let got: u64 = one_extras.doses.of(c).map(|(_, n)| n).sum();
            assert_eq!(got, reps, "every replicate counted once in column {c}");
        }
        assert_eq!(one_extras.over, two_extras.over);
        // A site's week here is under 65,536 counted units: at most two bytes a value, none
        // for a block of a column that is all zeros (weeks before a site opens).
        let bookkeeping = cols.len() * n.div_ceil(BLOCK) * 8 + n.div_ceil(BLOCK) * 256;
        assert!(
            one.bytes() <= cols.len() * n * 2 + bookkeeping,
            "{}",
            one.bytes()
        );
        // A budget stops a pass early, with what each column took so far.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        match model.pass(&pool, (reps, 9), &cols, Some(1000), None, &|_| {}) {
            Pass::OverBudget {
                col_bytes,
                replicates,
            } => {
                assert_eq!(col_bytes.len(), cols.len());
                assert!((1..reps).contains(&replicates), "{replicates}");
            }
            Pass::Done(..) => panic!("1000 bytes cannot hold a block"),
        }
        assert_ne!(
            model.replicate(9, 0),
            model.replicate(9, 1),
            "replicates differ"
        );
        // Every dose is whole cells at a weight on the 0.1 kg grid: 1e5 cells/kg, so the
        // counted unit is 10^4 cells.
        assert_eq!(model.quanta[0].amount(1), 10_000.0);
        for rep in 0..20 {
            let t = model.replicate(9, rep);
            let sum = |v: &[u32]| v.iter().sum::<u32>();
            assert_eq!(
                sum(&t.enrolled),
                sum(&t.completed) + sum(&t.died) + sum(&t.dropped_out)
            );
            assert_eq!(t.week.len(), 2 * 80, "two sites, one product, 80 weeks");
        }
    }

    #[test]
    fn a_patient_alive_on_day_40_faces_the_later_hazard_alone() {
        // Alive at day 40: dead by day 90 with probability 1 - exp(-h2 x 50), not the
        // unconditioned 35%; and never before day 40.
        let h = Hazard::new(&plan::Mortality {
            day28: 0.24,
            day90: 0.35,
            dropout_per_month: 0.0,
        });
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let n = 100_000;
        let times: Vec<f64> = (0..n).map(|_| h.death_time_after(40.0, &mut rng)).collect();
        assert!(times.iter().all(|&t| t >= 40.0));
        let by90 = times.iter().filter(|&&t| t < 90.0).count() as f64 / n as f64;
        let want = 1.0 - (-h.death_after_28 * 50.0).exp();
        assert!((by90 - want).abs() < 0.005, "{by90} vs {want}");
        // Alive at day 10: 1 - S(28)/S(10) dead by day 28.
        let times: Vec<f64> = (0..n).map(|_| h.death_time_after(10.0, &mut rng)).collect();
        let by28 = times.iter().filter(|&&t| t < 28.0).count() as f64 / n as f64;
        let want = 1.0 - (-h.death_to_28 * 18.0).exp();
        assert!((by28 - want).abs() < 0.005, "{by28} vs {want}");
    }

    #[test]
    fn a_quantum_divides_every_amount() {
        let q = Quantum::of(&[6_700_000.0, 6_710_000.0, 0.0]);
        assert_eq!(q.amount(1), 10_000.0);
        assert_eq!(q.units(6_710_000.0), 671);
        let q = Quantum::of(&[2000.0, 1999.5, 12.25]);
        assert_eq!(q.amount(1), 0.25);
        assert_eq!(q.units(1999.5), 7998);
        let q = Quantum::of(&[]);
        assert_eq!(q.amount(7), 7.0);
    }

    #[test]
    fn a_dose_on_or_after_the_day_of_death_is_not_given() {
        // msc-8w alone, no calendar: doses on study days 1, 8, ..., 50. Death at time t
        // (days from the start of day 1) falls on study day floor(t) + 1, so the dose of
        // day d is given when t >= d: with probability S(d) = exp(-H(d)). Mean doses per
        // patient: the sum of S(d) over the eight days.
        let t = trial();
        let text = plan_text(200, 60, &site("A", "2027-01-04", 20.0, None), 0.24, 0.35)
            .replace("msc-8w = 2, msc-4w = 1, control = 1", "msc-8w = 1")
            .replace("block_size = 8", "block_size = 1");
        let p = parsed(&t, &text);
        let model = Model::new(&t, &p, &NO_CALENDARS, None).unwrap();
        let h = model.hazard;
        let survive = |d: f64| {
            let cum = h.death_to_28 * d.min(28.0) + h.death_after_28 * (d - 28.0).max(0.0);
            (-cum).exp()
        };
        let expected: f64 = (0..8).map(|k| survive(1.0 + 7.0 * f64::from(k))).sum();
        let per_patient: Vec<f64> = (0..2_000)
            .map(|r| {
                let tally = model.replicate(5, r);
                f64::from(tally.total_doses[0]) / f64::from(tally.enrolled[0])
            })
            .collect();
        let (mean, _, se, _) = moments(&per_patient);
        assert!((mean - expected).abs() < 3.0 * se, "{mean} vs {expected}");
        // Whoever died before day 50 did not complete: completed + died = enrolled.
        let tally = model.replicate(5, 0);
        assert_eq!(tally.completed[0] + tally.died[0], tally.enrolled[0]);
        assert!(tally.died[0] > 0);
    }

    #[test]
    fn months_are_counted_across_year_ends_and_february() {
        // From Monday 2027-12-27 over 70 days: 5 days of Dec 2027, Jan 31, Feb 29 (2028
        // is a leap year), 5 of March.
        let week0 = NaiveDate::from_ymd_opt(2027, 12, 27).unwrap();
        let (months, of_day) = months(week0, 70);
        let want = [
            ((2027, 12, 27), 5),
            ((2028, 1, 1), 31),
            ((2028, 2, 1), 29),
            ((2028, 3, 1), 5),
        ];
        let got: Vec<((i32, u32, u32), u32)> = months
            .iter()
            .map(|(d, n)| ((d.year(), d.month(), d.day()), *n))
            .collect();
        assert_eq!(got, want);
        assert_eq!(of_day[4], 0, "2027-12-31");
        assert_eq!(of_day[5], 1, "2028-01-01");
        assert_eq!(of_day[36 + 28], 2, "2028-02-29");
        assert_eq!(of_day[69], 3, "2028-03-05");
    }

    #[test]
    fn a_weight_range_narrower_than_a_tenth_of_a_kg_is_refused() {
        let t = trial();
        let text = plan_text(10, 10, &site("A", "2027-01-04", 2.0, None), 0.0, 0.0).replace(
            "normal = { mean = 67, sd = 14, min = 40, max = 110 }",
            "normal = { mean = 67.02, sd = 1, min = 67.01, max = 67.05 }",
        );
        let p = parsed(&t, &text);
        let e = Model::new(&t, &p, &NO_CALENDARS, None).err().unwrap();
        assert!(
            e.to_string()
                .contains("weight_kg.normal: no weight to 0.1 kg"),
            "{e}"
        );
    }
}
