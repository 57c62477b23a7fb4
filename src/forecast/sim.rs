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
//! monthly amounts are kept, per block of replicates and column, in the narrowest integer
//! that holds that block's values; dose counts go straight into exact histograms.

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
use crate::schedule::{Event, EventKind, Origin, Plan, ScheduleError};
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
        // Week 1 is the start's ISO week, or the first roster patient's when earlier, so
        // that every dose a roster patient is given is in a week; with a record, the
        // as-of date's week, since what came before is known. The horizon's end stays.
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
        let weeks = ((end - week0).num_days() / 7) as usize;
        let days = weeks as i64 * 7;
        let (months, month_of_day) = months(week0, days);
        let plans: Vec<Plan> = trial.arms.iter().map(|a| Plan::new(trial, a)).collect();
        let allocated: Vec<bool> = (0..trial.arms.len())
            .map(|a| plan.allocation.ratio.iter().any(|r| r.0 == a))
            .collect();
        // The products forecast: those of the arms anyone can be on.
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
        let np = products.len();
        let slot_of = |p: usize| products.iter().position(|&q| q == p).map(|k| k as u16);
        let slots: Vec<Vec<u16>> = trial
            .arms
            .iter()
            .map(|a| {
                a.components
                    .iter()
                    .map(|c| slot_of(c.product).unwrap_or(u16::MAX))
                    .collect()
            })
            .collect();
        let mut problems = Vec::new();

        let (grid, weight) = weight_grid(plan);
        if grid.is_empty() {
            return Err(InputError::one(plan_problem(
                plan,
                "weight_kg.normal",
                "no weight to 0.1 kg lies between min and max: widen the range".into(),
            )));
        }
        // Each arm's component doses at each grid weight, checked by the schedule core.
        let mut tables = Vec::with_capacity(plans.len());
        for p in &plans {
            let n = p.arm.components.len();
            let mut table = Vec::with_capacity(grid.len() * n);
            let mut events = Vec::new();
            let mut failed = false;
            for w in &grid {
                if !failed && let Err(e) = p.expand_into(*w, plan.start, &mut events) {
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

        // Schedules: sites on the same calendar (or on none) share them. One per start day
        // for each arm the plan allocates to where the calendar or month steps can move a
        // date; else one per arm for every start.
        let offset = |d: NaiveDate| (d - week0).num_days();
        let mut resume_day = roster
            .and_then(|r| r.entries.iter().map(|e| offset(e.start)).max())
            .map_or(0, |d| d + 1);
        if let Some(l) = log {
            resume_day = resume_day.max(offset(l.as_of) + 1);
        }
        let mut groups: Vec<(Option<&str>, i64)> = Vec::new();
        let mut group_of = Vec::with_capacity(plan.sites.len());
        for site in &plan.sites {
            let first = offset(site.activation).max(resume_day).min(days);
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
        // Every (calendar, arm, start day) to make, and per group and arm where its run
        // of schedules begins.
        let mut jobs: Vec<(Option<&SiteCalendar>, usize, i64)> = Vec::new();
        let mut group_scheds: Vec<Vec<(i64, Range<u32>)>> = Vec::new();
        for &(cal, first) in &groups {
            let cal = cal.and_then(|c| calendars.get(c));
            let mut per_arm = Vec::new();
            for (a, p) in plans.iter().enumerate() {
                let at = jobs.len() as u32;
                if allocated[a] && (cal.is_some() || p.has_month_steps()) {
                    jobs.extend((first..days.max(first + 1)).map(|d| (cal, a, d)));
                } else {
                    jobs.push((cal, a, first));
                }
                per_arm.push((first, at..jobs.len() as u32));
            }
            group_scheds.push(per_arm);
        }
        let reference = grid[0];
        let built: Vec<Result<(Sched, Vec<Assumed>), ScheduleError>> = jobs
            .par_iter()
            .map(|&(cal, a, d)| {
                let start = week0 + chrono::Days::new(d.max(0) as u64);
                let p = &plans[a];
                let mut events = Vec::new();
                match cal {
                    Some(c) => {
                        let placement = p.placement(start, c)?;
                        p.expand_placed(None, reference, start, placement.slots(), &mut events)?
                    }
                    None => p.expand_into(reference, start, &mut events)?,
                }
                let (s, _, flags) = sched_of(&events, &slots[a], np, |_| true);
                Ok((s, flags))
            })
            .collect();
        let mut scheds = Vec::with_capacity(built.len());
        let mut sched_flags = Vec::with_capacity(built.len());
        for (b, &(_, a, d)) in built.into_iter().zip(&jobs) {
            let (s, f) = b.map_err(|e| {
                InputError::one(plan_problem(
                    plan,
                    if matches!(e, ScheduleError::DateOutOfRange(_)) {
                        "start"
                    } else {
                        "horizon_weeks"
                    },
                    format!(
                        "arm {} starting on {}: {e}",
                        trial.arms[a].id,
                        week0 + chrono::Days::new(d.max(0) as u64)
                    ),
                ))
            })?;
            scheds.push(s);
            sched_flags.push(f);
        }
        let site_scheds: Vec<Vec<(i64, Range<u32>)>> =
            group_of.iter().map(|&g| group_scheds[g].clone()).collect();

        // The sites: the plan's, then the roster's others, then patients without one.
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
        let ns = sites.len();
        let mut assumed = vec![Assumed::NONE; ns * np];
        for (s, per_arm) in site_scheds.iter().enumerate() {
            for (a, (_, ids)) in per_arm.iter().enumerate() {
                if !allocated[a] {
                    continue;
                }
                for id in ids.clone() {
                    for (k, f) in sched_flags[id as usize].iter().enumerate() {
                        assumed[s * np + k] |= *f;
                    }
                }
            }
        }

        // Patients already enrolled: their calendars exactly as `cohort` makes them, the
        // record applied.
        let mut facts = Facts::sized(ns * np, weeks, months.len(), ns);
        facts.as_of = log.map(|l| l.as_of);
        let mut fixed: Vec<(Fixed, Vec<f64>)> = Vec::new();
        let mut observed = None;
        if let Some(o) = on_study {
            let r = o.roster;
            let cohort = crate::cohort::Cohort::build(trial, r, o.path, o.sites, o.log)?;
            let mut obs = vec![0.0; np * weeks];
            let mut events = Vec::new();
            let in_weeks = |day: i64| (0..days).contains(&day);
            for i in 0..r.entries.len() as u32 {
                cohort.expand(i, &mut events);
                let e = &r.entries[i as usize];
                let site = roster_sites[i as usize];
                let arm_slots = &slots[e.arm as usize];
                let start = offset(e.start);
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
                    if in_weeks(day) {
                        obs[usize::from(p) * weeks + (day / 7) as usize] += d;
                    }
                }
                if let Some(l) = o.log {
                    for ev in &events {
                        let (Origin::Component(c), true) =
                            (ev.origin, ev.kind != EventKind::Background)
                        else {
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
                            Status::Given => offset(ev.date),
                            Status::Due if end.is_none() => {
                                facts.overdue_doses[sp] += 1;
                                assumed[sp] |= regimen_flags(ev.assumed);
                                offset(l.as_of)
                            }
                            _ => continue,
                        };
                        if ev.status == Status::Given {
                            facts.given_amount[sp] += amount;
                            facts.given_doses[sp] += 1;
                        }
                        facts.add(sp, day, amount, weeks, &month_of_day);
                        if in_weeks(day) {
                            obs[usize::from(k) * weeks + (day / 7) as usize] += amount;
                        }
                    }
                }
                match end {
                    Some((date, kind)) => {
                        let leave = (date - e.start).num_days() + 1;
                        let s = usize::from(site);
                        facts.enrolled[s] += 1;
                        if leave > i64::from(sched.last_day) {
                            facts.completed[s] += 1;
                        } else if kind == RecordKind::Died {
                            facts.died[s] += 1;
                        } else {
                            facts.dropped_out[s] += 1;
                        }
                        if kind == RecordKind::Died {
                            facts.recorded_deaths += 1;
                        } else {
                            facts.recorded_withdrawals += 1;
                        }
                    }
                    None => {
                        // On study through the as-of date: alive for its whole study day.
                        let alive_at = match o.log {
                            Some(l) if e.start <= l.as_of => {
                                ((l.as_of - e.start).num_days() + 1) as f64
                            }
                            _ => 0.0,
                        };
                        fixed.push((
                            Fixed {
                                start,
                                site,
                                sched,
                                amounts: Vec::new(),
                                alive_at,
                            },
                            amounts,
                        ));
                    }
                }
            }
            observed = Some(obs);
        }

        // Each product's quantum, from every amount a replicate can add.
        let mut amounts_of: Vec<Vec<f64>> = vec![Vec::new(); np];
        for (a, table) in tables.iter().enumerate() {
            if !allocated[a] {
                continue;
            }
            let n = trial.arms[a].components.len();
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
                let n = trial.arms[a].components.len().max(1);
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

        let roster_size = roster.map_or(0, |r| r.entries.len() as u32);
        let to_enrol = plan.target_patients.saturating_sub(roster_size);
        let sim_sites = plan
            .sites
            .iter()
            .map(|s| SiteSim {
                activation: offset(s.activation) as f64,
                rate_per_day: s.rate_per_month / DAYS_PER_MONTH,
                shape: s.rate_shape,
            })
            .collect();
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
            slots,
            scheds,
            site_scheds,
            fixed,
            facts,
            roster_size,
            roster_last_start: roster.and_then(|r| r.entries.iter().map(|e| offset(e.start)).max()),
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

    /// Columns of a replicate's stored amounts: per site, product and week, then per
    /// site, product and month.
    pub fn columns(&self) -> usize {
        self.sites.len() * self.products.len() * (self.weeks + self.months.len())
    }

    /// The column of series `sp` (`site * products + k`) in week `w`.
    pub fn week_column(&self, sp: usize, w: usize) -> usize {
        sp * self.weeks + w
    }

    /// The column of series `sp` in month `m`.
    pub fn month_column(&self, sp: usize, m: usize) -> usize {
        self.sites.len() * self.products.len() * self.weeks + sp * self.months.len() + m
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
/// 32 in an array, larger ones listed.
#[derive(Debug, Clone, Default)]
pub struct Hist {
    counts: Vec<u32>,
    larger: Vec<(u32, u32)>,
}

impl Hist {
    fn new(columns: usize) -> Hist {
        Hist {
            counts: vec![0; columns * HIST_BINS],
            larger: Vec::new(),
        }
    }

    /// Counts `values[j]` in column `first + j`, for each `j`.
    fn add_run(&mut self, first: usize, values: &[u32]) {
        let counts = &mut self.counts[first * HIST_BINS..(first + values.len()) * HIST_BINS];
        for (j, (bins, &v)) in counts.chunks_exact_mut(HIST_BINS).zip(values).enumerate() {
            match bins.get_mut(v as usize) {
                Some(b) => *b += 1,
                None => self.larger.push(((first + j) as u32, v)),
            }
        }
    }

    /// Both histograms' counts (adding counts gives the same whatever the order).
    fn merge(mut self, other: Hist) -> Hist {
        if self.counts.is_empty() {
            return Hist {
                larger: {
                    let mut l = other.larger;
                    l.extend(self.larger);
                    l
                },
                ..other
            };
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.larger.extend(other.larger);
        self
    }

    /// Sorts the larger values by column and value, so that each column's are together.
    fn finish(&mut self) {
        self.larger.sort_unstable();
    }

    /// Column `c`'s counts: `(value, replicates)` in increasing value, those with none left out.
    pub fn of(&self, c: usize) -> impl Iterator<Item = (u64, u64)> + '_ {
        let small = self.counts[c * HIST_BINS..(c + 1) * HIST_BINS]
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(v, n)| (v as u64, u64::from(*n)));
        let from = self.larger.partition_point(|&(col, _)| (col as usize) < c);
        let to = self.larger.partition_point(|&(col, _)| (col as usize) <= c);
        let large = self.larger[from..to]
            .chunk_by(|a, b| a.1 == b.1)
            .map(|run| (u64::from(run[0].1), run.len() as u64));
        small.chain(large)
    }
}

/// One block's stored amounts: per column, its replicates' values in the narrowest of
/// u16, u32 and u64 that holds all of them; and each replicate's scalars.
struct Block {
    len: usize,
    /// Per column: width in bytes (2, 4 or 8) and where its values start in that vector.
    cols: Vec<(u8, u32)>,
    narrow: Vec<u16>,
    mid: Vec<u32>,
    wide: Vec<u64>,
    scalars: Vec<i64>,
}

impl Block {
    /// From `values`, column-major (`values[c * len + i]`).
    fn pack(values: &[u64], len: usize, columns: usize, scalars: Vec<i64>) -> Block {
        let mut b = Block {
            len,
            cols: Vec::with_capacity(columns),
            narrow: Vec::new(),
            mid: Vec::new(),
            wide: Vec::new(),
            scalars,
        };
        for col in values.chunks_exact(len.max(1)).take(columns) {
            let max = col.iter().copied().max().unwrap_or(0);
            if max <= u64::from(u16::MAX) {
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
        b.narrow.shrink_to_fit();
        b.mid.shrink_to_fit();
        b.wide.shrink_to_fit();
        b
    }

    fn extend(&self, c: usize, out: &mut Vec<u64>) {
        let (width, at) = self.cols[c];
        let r = at as usize..at as usize + self.len;
        match width {
            2 => out.extend(self.narrow[r].iter().map(|&v| u64::from(v))),
            4 => out.extend(self.mid[r].iter().map(|&v| u64::from(v))),
            _ => out.extend_from_slice(&self.wide[r]),
        }
    }
}

/// Every replicate's figures, as [`Model::run`] leaves them for the statistics: per
/// column (see [`Model::columns`]) each replicate's counted units, in replicate order;
/// each replicate's scalars; and the histograms of dose counts.
pub struct Store {
    pub replicates: usize,
    blocks: Vec<Block>,
    scalars_width: usize,
    pub doses: Hist,
}

impl Store {
    /// Column `c`'s values, one per replicate in replicate order, into `out` (cleared).
    pub fn column(&self, c: usize, out: &mut Vec<u64>) {
        out.clear();
        for b in &self.blocks {
            b.extend(c, out);
        }
    }

    /// Scalar `j` (see [`Model::scalar`]) of every replicate, in replicate order.
    pub fn scalars(&self, j: usize) -> impl Iterator<Item = i64> + '_ {
        let k = self.scalars_width;
        self.blocks
            .iter()
            .flat_map(move |b| b.scalars.iter().skip(j).step_by(k).copied())
    }

    /// Bytes the stored figures take.
    pub fn bytes(&self) -> usize {
        self.blocks
            .iter()
            .map(|b| b.narrow.len() * 2 + b.mid.len() * 4 + b.wide.len() * 8 + b.scalars.len() * 8)
            .sum()
    }
}

/// The scalars each replicate keeps: per series (`site * products + k`) its total units,
/// doses and units after the horizon; per site its patients enrolled, completed, dead and
/// dropped out; the last dose's day and the day the target was reached (`i64::MIN`: none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalar {
    Total(usize),
    TotalDoses(usize),
    After(usize),
    Enrolled(usize),
    Completed(usize),
    Died(usize),
    DroppedOut(usize),
    LastDoseDay,
    FullDay,
}

impl Model<'_> {
    /// Where scalar `s` is in a replicate's row.
    pub fn scalar(&self, s: Scalar) -> usize {
        let sp = self.sites.len() * self.products.len();
        let ns = self.sites.len();
        match s {
            Scalar::Total(i) => i,
            Scalar::TotalDoses(i) => sp + i,
            Scalar::After(i) => 2 * sp + i,
            Scalar::Enrolled(i) => 3 * sp + i,
            Scalar::Completed(i) => 3 * sp + ns + i,
            Scalar::Died(i) => 3 * sp + 2 * ns + i,
            Scalar::DroppedOut(i) => 3 * sp + 3 * ns + i,
            Scalar::LastDoseDay => 3 * sp + 4 * ns,
            Scalar::FullDay => 3 * sp + 4 * ns + 1,
        }
    }

    fn scalars_width(&self) -> usize {
        self.scalar(Scalar::FullDay) + 1
    }

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

    /// One replicate's tally into the block's column-major values, its scalars and the
    /// dose histograms; `all`: scratch for the doses of all sites together.
    fn keep(
        &self,
        t: &Tally,
        (i, len): (usize, usize),
        values: &mut [u64],
        scalars: &mut [i64],
        h: &mut Hist,
        all: &mut Vec<u32>,
    ) {
        let (weekly, monthly) = values.split_at_mut(t.week.len() * len);
        for (dst, &v) in weekly[i..].iter_mut().step_by(len).zip(&t.week) {
            *dst = v;
        }
        for (dst, &v) in monthly[i..].iter_mut().step_by(len).zip(&t.month) {
            *dst = v;
        }
        let (np, ns) = (self.products.len(), self.sites.len());
        for (j, (&total, (&doses, &after))) in t
            .total
            .iter()
            .zip(t.total_doses.iter().zip(&t.after))
            .enumerate()
        {
            scalars[self.scalar(Scalar::Total(j))] = total as i64;
            scalars[self.scalar(Scalar::TotalDoses(j))] = i64::from(doses);
            scalars[self.scalar(Scalar::After(j))] = after as i64;
        }
        for s in 0..ns {
            scalars[self.scalar(Scalar::Enrolled(s))] = i64::from(t.enrolled[s]);
            scalars[self.scalar(Scalar::Completed(s))] = i64::from(t.completed[s]);
            scalars[self.scalar(Scalar::Died(s))] = i64::from(t.died[s]);
            scalars[self.scalar(Scalar::DroppedOut(s))] = i64::from(t.dropped_out[s]);
        }
        scalars[self.scalar(Scalar::LastDoseDay)] = t.last_dose_day.unwrap_or(i64::MIN);
        scalars[self.scalar(Scalar::FullDay)] = t.full_day.unwrap_or(i64::MIN);
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
    }

    /// Every replicate, on `threads` threads (0: all cores), kept in replicate order;
    /// `progress` is told of each one done.
    pub fn run(
        &self,
        replicates: u64,
        seed: u64,
        threads: usize,
        progress: &(dyn Fn() + Sync),
    ) -> anyhow::Result<Store> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()?;
        let n = replicates as usize;
        let columns = self.columns();
        let k = self.scalars_width();
        // Each task's scratch: a tally, a block's values and the histograms, reused from
        // block to block.
        type Acc = (
            Vec<(usize, Block)>,
            Hist,
            Vec<u64>,
            Option<(Tally, Vec<u32>)>,
        );
        let (mut blocks, mut doses, _, _): Acc = pool.install(|| {
            (0..n.div_ceil(BLOCK))
                .into_par_iter()
                .fold(
                    || (Vec::new(), Hist::new(self.dose_columns()), Vec::new(), None),
                    |(mut out, mut h, mut values, scratch): Acc, b| {
                        let (mut t, mut all) =
                            scratch.unwrap_or_else(|| (self.empty_tally(), Vec::new()));
                        let len = BLOCK.min(n - b * BLOCK);
                        values.clear();
                        values.resize(columns * len, 0);
                        let mut scalars = vec![0; len * k];
                        for (i, row) in scalars.chunks_exact_mut(k).enumerate() {
                            self.replicate_into(seed, (b * BLOCK + i) as u64, &mut t);
                            self.keep(&t, (i, len), &mut values, row, &mut h, &mut all);
                            progress();
                        }
                        out.push((b, Block::pack(&values, len, columns, scalars)));
                        (out, h, values, Some((t, all)))
                    },
                )
                .reduce(
                    || (Vec::new(), Hist::default(), Vec::new(), None),
                    |(mut a, ha, _, _), (b, hb, _, _)| {
                        a.extend(b);
                        (a, ha.merge(hb), Vec::new(), None)
                    },
                )
        });
        blocks.sort_unstable_by_key(|b| b.0);
        doses.finish();
        if doses.counts.is_empty() {
            doses = Hist::new(self.dose_columns());
        }
        Ok(Store {
            replicates: n,
            blocks: blocks.into_iter().map(|b| b.1).collect(),
            scalars_width: k,
            doses,
        })
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
    fn a_replicate_is_the_same_whoever_runs_it() {
        let t = trial();
        let sites = site("A", "2027-01-04", 8.0, Some(3.0)) + &site("B", "2027-02-01", 3.0, None);
        let p = parsed(&t, &plan_text(120, 80, &sites, 0.24, 0.35));
        let model = Model::new(&t, &p, &NO_CALENDARS, None).unwrap();
        // More replicates than a block, so that blocks are spread over the threads.
        let reps = (3 * BLOCK + 44) as u64;
        let one = model.run(reps, 9, 1, &|| {}).unwrap();
        let two = model.run(reps, 9, 2, &|| {}).unwrap();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let r17 = model.replicate(9, 17);
        let last = reps as usize - 1;
        let r_last = model.replicate(9, last as u64);
        for c in 0..model.columns() {
            one.column(c, &mut a);
            two.column(c, &mut b);
            assert_eq!(a, b, "column {c}");
            assert_eq!(a.len(), reps as usize);
            let want = |t: &Tally| t.week.iter().chain(&t.month).nth(c).copied().unwrap();
            assert_eq!(a[17], want(&r17), "column {c}, replicate 17");
            assert_eq!(a[last], want(&r_last), "column {c}, the last replicate");
        }
        for c in 0..model.dose_columns() {
            assert!(one.doses.of(c).eq(two.doses.of(c)), "doses column {c}");
            let n: u64 = one.doses.of(c).map(|(_, n)| n).sum();
            assert_eq!(n, reps, "every replicate counted once in column {c}");
        }
        for j in 0..model.scalars_width() {
            assert!(one.scalars(j).eq(two.scalars(j)), "scalar {j}");
        }
        // A site's week here is under 65,536 counted units: two bytes a value, four for a
        // block of a column that needs more (a busy month).
        let n = reps as usize;
        let scalars = model.scalars_width() * n * 8;
        let narrow = model.columns() * n * 2;
        assert!(one.bytes() >= narrow + scalars);
        assert!(one.bytes() < narrow * 11 / 10 + scalars, "{}", one.bytes());
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
