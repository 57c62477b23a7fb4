//! The Monte Carlo itself: each replicate enrols patients at each site, allocates, weighs
//! and loses them, and adds up the doses they are given, week by week and month by month.
//!
//! No dose or date is computed here: every patient's calendar comes from the schedule core
//! ([`Plan`]) on their site's calendar, exactly as `cohort` makes it. Since a placement
//! depends on (arm, site calendar, start date) and a dose on (arm, weight), both are made
//! once before the replicates run: one schedule per distinct (calendar, arm, start day),
//! one dose per (arm, component, weight on the 0.1 kg grid). A replicate then only draws
//! and adds up. Each replicate has its own random stream (ChaCha8, stream = replicate
//! number), so the same seed gives the same numbers at any thread count.

use chrono::{Datelike, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp1, Gamma, Normal};
use rayon::prelude::*;

use super::plan::{DAYS_PER_MONTH, ForecastPlan, Mortality, WeightModel};
use crate::error::{InputError, Problem};
use crate::model::{Kg, Trial, Unit};
use crate::roster::Roster;
use crate::schedule::{EventKind, Origin, Plan, ScheduleError};
use crate::site::{SiteCalendar, Sites};

/// A patient on study for ever (no death or dropout drawn).
const NEVER: i64 = i64::MAX;

/// Everything a replicate needs, made once.
pub struct Model<'t> {
    pub trial: &'t Trial,
    pub plan: &'t ForecastPlan,
    calendars: &'t Sites,
    /// Monday of the plan start's ISO week (or of the roster's first start, when earlier):
    /// day 0 of the forecast.
    pub week0: NaiveDate,
    pub weeks: usize,
    /// Calendar months touching the horizon: first day and days inside the horizon.
    pub months: Vec<(NaiveDate, u32)>,
    month_of_day: Vec<u16>,
    /// The trial's cell products, by index: what the forecast counts.
    pub products: Vec<usize>,
    /// Per arm: each component's dose at each grid weight (`grid.len()` x components).
    doses: Vec<Vec<f64>>,
    /// Per arm: how many components it has.
    ncomp: Vec<usize>,
    scheds: Vec<Sched>,
    /// Per site: per arm, the schedules (indices into `scheds`) of each start day from
    /// the first (a range of one: the same schedule whatever the start).
    site_scheds: Vec<Vec<(i64, std::ops::Range<u32>)>>,
    /// Patients already enrolled (a roster), in every replicate.
    fixed: Vec<Fixed>,
    /// The first day simulated arrivals may come (after the roster's last start).
    resume: f64,
    /// How many patients the enrolment model adds.
    to_enrol: u32,
    sites: Vec<SiteSim>,
    block: Vec<u16>,
    weight: WeightSampler,
    hazard: Hazard,
    /// The roster's demand as planned (nobody dies or drops out), per product and week.
    pub observed: Option<Vec<f64>>,
}

/// One (arm, calendar, start) schedule: the cell doses by scheduled study day, and the last
/// study day with a dose or visit (a patient still on study after it completed).
struct Sched {
    doses: Vec<(i32, u16, u16)>,
    last_day: i32,
}

/// A roster patient: their own schedule, with the amount of each dose.
struct Fixed {
    start: i64,
    sched: Sched,
    amounts: Vec<f64>,
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

    /// Days from the start of study day 1 to death, drawn by inverting the cumulative
    /// hazard at a unit exponential (infinite when the hazard is zero).
    pub fn death_time<R: Rng>(&self, rng: &mut R) -> f64 {
        let e: f64 = Exp1.sample(rng);
        let first = self.death_to_28 * 28.0;
        if e < first {
            e / self.death_to_28
        } else if self.death_after_28 > 0.0 {
            28.0 + (e - first) / self.death_after_28
        } else {
            f64::INFINITY
        }
    }

    /// Days from the start of study day 1 to dropout.
    pub fn dropout_time<R: Rng>(&self, rng: &mut R) -> f64 {
        if self.dropout > 0.0 {
            let e: f64 = Exp1.sample(rng);
            e / self.dropout
        } else {
            f64::INFINITY
        }
    }

    /// The study day the patient leaves on (no dose on or after it) and whether by death.
    fn leave<R: Rng>(&self, rng: &mut R) -> (i64, bool) {
        let death = self.death_time(rng);
        let dropout = self.dropout_time(rng);
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

/// What one replicate adds up.
#[derive(Debug, Clone, PartialEq)]
pub struct Tally {
    /// Per product and week (product-major), cells and doses inside the horizon.
    pub week_cells: Vec<f64>,
    pub week_doses: Vec<u32>,
    /// Per product and month.
    pub month_cells: Vec<f64>,
    pub month_doses: Vec<u32>,
    /// Per product: every dose given to the patients enrolled, and the part after the horizon.
    pub total_cells: Vec<f64>,
    pub total_doses: Vec<u32>,
    pub after_cells: Vec<f64>,
    pub enrolled: u32,
    pub completed: u32,
    pub died: u32,
    pub dropped_out: u32,
    /// Forecast day of the last dose (`None`: no dose).
    pub last_dose_day: Option<i64>,
    /// Forecast day the target was reached (`None`: not within the horizon).
    pub full_day: Option<i64>,
}

/// Why a plan cannot be simulated on this trial: problems named by the plan's fields.
fn plan_problem(plan: &ForecastPlan, field: &str, message: String) -> Problem {
    Problem::new(&plan.file, message).field(field)
}

impl<'t> Model<'t> {
    /// Compiles the plan against the trial: every schedule and dose the replicates can
    /// need, checked once (a weight whose dose is above the scenario's maximum is an
    /// error naming `[weight_kg]`). `roster`: patients already enrolled, with their sites.
    pub fn new(
        trial: &'t Trial,
        plan: &'t ForecastPlan,
        calendars: &'t Sites,
        roster: Option<(&'t Roster, &std::path::Path, &'t Sites)>,
    ) -> Result<Model<'t>, InputError> {
        // Week 1 is the start's ISO week, or the first roster patient's when earlier, so
        // that every dose a roster patient is given is in a week; the horizon's end stays.
        let monday =
            |d: NaiveDate| d - chrono::Days::new(u64::from(d.weekday().num_days_from_monday()));
        let first = roster
            .and_then(|(r, _, _)| r.entries.iter().map(|e| e.start).min())
            .map_or(plan.start, |d| d.min(plan.start));
        let week0 = monday(first);
        let weeks =
            plan.horizon_weeks as usize + ((monday(plan.start) - week0).num_days() / 7) as usize;
        let days = weeks as i64 * 7;
        let (months, month_of_day) = months(week0, days);
        let products: Vec<usize> = (0..trial.products.len())
            .filter(|&p| trial.products[p].unit == Unit::Cells)
            .collect();
        let slot_of = |p: usize| products.iter().position(|&q| q == p).map(|k| k as u16);
        let plans: Vec<Plan> = trial.arms.iter().map(|a| Plan::new(trial, a)).collect();
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
        let mut doses = Vec::with_capacity(plans.len());
        for p in &plans {
            let n = p.arm.components.len();
            let mut table = Vec::with_capacity(grid.len() * n);
            let mut events = Vec::new();
            let mut failed = false;
            for w in &grid {
                if !failed && let Err(e) = p.expand_into(*w, plan.start, &mut events) {
                    problems.push(plan_problem(
                        plan,
                        "weight_kg",
                        format!("at {w} kg, arm {}: {e}", p.arm.id),
                    ));
                    failed = true;
                }
                table.extend(p.component_doses(*w).map(|d| d.unwrap_or(0.0)));
            }
            doses.push(table);
        }
        InputError::check(problems)?;

        // Schedules: sites on the same calendar (or on none) share them. One per start day
        // for each arm the plan allocates to where the calendar or month steps can move a
        // date; else one per arm for every start.
        let offset = |d: NaiveDate| (d - week0).num_days();
        let resume_day = roster
            .and_then(|(r, _, _)| r.entries.iter().map(|e| offset(e.start)).max())
            .map_or(0, |d| d + 1);
        let allocated: Vec<bool> = (0..trial.arms.len())
            .map(|a| plan.allocation.ratio.iter().any(|r| r.0 == a))
            .collect();
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
        let mut group_scheds: Vec<Vec<(i64, std::ops::Range<u32>)>> = Vec::new();
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
        let built: Vec<Result<Sched, ScheduleError>> = jobs
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
                Ok(sched_of(p, &events, &slot_of).0)
            })
            .collect();
        let mut scheds = Vec::with_capacity(built.len());
        for (b, &(_, a, d)) in built.into_iter().zip(&jobs) {
            scheds.push(b.map_err(|e| {
                InputError::one(plan_problem(
                    plan,
                    "horizon_weeks",
                    format!(
                        "arm {} starting on {}: {e}",
                        trial.arms[a].id,
                        week0 + chrono::Days::new(d.max(0) as u64)
                    ),
                ))
            })?);
        }
        let site_scheds: Vec<Vec<(i64, std::ops::Range<u32>)>> =
            group_of.iter().map(|&g| group_scheds[g].clone()).collect();

        // Patients already enrolled: their calendars exactly as `cohort` makes them.
        let mut fixed = Vec::new();
        let mut observed = None;
        if let Some((r, path, sites)) = roster {
            let cohort = crate::cohort::Cohort::build(trial, r, path, sites, None)?;
            let mut obs = vec![0.0; products.len() * weeks];
            let mut events = Vec::new();
            for i in 0..r.entries.len() as u32 {
                cohort.expand(i, &mut events);
                let e = &r.entries[i as usize];
                let (sched, amounts) = sched_of(&plans[e.arm as usize], &events, &slot_of);
                let start = offset(e.start);
                for (&(sd, _, p), &d) in sched.doses.iter().zip(&amounts) {
                    let day = start + i64::from(sd) - 1;
                    if (0..days).contains(&day) {
                        obs[usize::from(p) * weeks + (day / 7) as usize] += d;
                    }
                }
                fixed.push(Fixed {
                    start,
                    sched,
                    amounts,
                });
            }
            observed = Some(obs);
        }
        let to_enrol = plan.target_patients.saturating_sub(fixed.len() as u32);
        let sites = plan
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
            doses,
            ncomp: trial.arms.iter().map(|a| a.components.len()).collect(),
            scheds,
            site_scheds,
            fixed,
            resume: resume_day as f64,
            to_enrol,
            sites,
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
        self.fixed.len()
    }

    /// The first day of forecast day `day`.
    pub fn date_of(&self, day: i64) -> NaiveDate {
        if day >= 0 {
            self.week0 + chrono::Days::new(day as u64)
        } else {
            self.week0 - chrono::Days::new(day.unsigned_abs())
        }
    }

    fn empty_tally(&self) -> Tally {
        let (p, w, m) = (self.products.len(), self.weeks, self.months.len());
        Tally {
            week_cells: vec![0.0; p * w],
            week_doses: vec![0; p * w],
            month_cells: vec![0.0; p * m],
            month_doses: vec![0; p * m],
            total_cells: vec![0.0; p],
            total_doses: vec![0; p],
            after_cells: vec![0.0; p],
            enrolled: 0,
            completed: 0,
            died: 0,
            dropped_out: 0,
            last_dose_day: None,
            full_day: None,
        }
    }

    /// Adds one dose given on forecast day `day`.
    #[inline(always)]
    fn add_dose(&self, t: &mut Tally, p: u16, day: i64, amount: f64) {
        let p = usize::from(p);
        t.total_cells[p] += amount;
        t.total_doses[p] += 1;
        t.last_dose_day = t.last_dose_day.max(Some(day));
        let days = (self.weeks * 7) as i64;
        if (0..days).contains(&day) {
            let w = p * self.weeks + (day / 7) as usize;
            t.week_cells[w] += amount;
            t.week_doses[w] += 1;
            let m = p * self.months.len() + usize::from(self.month_of_day[day as usize]);
            t.month_cells[m] += amount;
            t.month_doses[m] += 1;
        } else if day >= days {
            t.after_cells[p] += amount;
        }
    }

    /// How a patient who leaves on study day `leave` (by death or not) ends.
    fn outcome(t: &mut Tally, leave: i64, died: bool, last_day: i32) {
        t.enrolled += 1;
        if leave > i64::from(last_day) {
            t.completed += 1;
        } else if died {
            t.died += 1;
        } else {
            t.dropped_out += 1;
        }
    }

    /// Replicate `rep` of the forecast seeded `seed`.
    pub fn replicate(&self, seed: u64, rep: u64) -> Tally {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(rep);
        let mut t = self.empty_tally();
        for f in &self.fixed {
            let (leave, died) = self.hazard.leave(&mut rng);
            for (&(sd, _, p), &amount) in f.sched.doses.iter().zip(&f.amounts) {
                if i64::from(sd) >= leave {
                    break;
                }
                self.add_dose(&mut t, p, f.start + i64::from(sd) - 1, amount);
            }
            Self::outcome(&mut t, leave, died, f.sched.last_day);
        }
        if t.enrolled >= self.plan.target_patients {
            t.full_day = self.fixed.iter().map(|f| f.start).max();
        }
        self.enrol(&mut rng, |day, site, arm, w, (leave, died)| {
            let (first, ids) = &self.site_scheds[site][arm];
            let id = if ids.len() == 1 {
                ids.start
            } else {
                ids.start + (day - first) as u32
            };
            let s = &self.scheds[id as usize];
            let n = self.ncomp[arm];
            let doses = &self.doses[arm][w * n..(w + 1) * n];
            for &(sd, c, p) in &s.doses {
                if i64::from(sd) >= leave {
                    break;
                }
                self.add_dose(&mut t, p, day + i64::from(sd) - 1, doses[usize::from(c)]);
            }
            Self::outcome(&mut t, leave, died, s.last_day);
            if t.enrolled == self.plan.target_patients {
                t.full_day = Some(day);
            }
        });
        t
    }

    /// The enrolment model's patients of one replicate, in order of arrival: `each` gets
    /// the start day, site, arm, weight (grid index) and leaving day of each.
    pub fn enrol<R: Rng>(
        &self,
        rng: &mut R,
        mut each: impl FnMut(i64, usize, usize, usize, (i64, bool)),
    ) {
        let days = (self.weeks * 7) as f64;
        let rates: Vec<f64> = self
            .sites
            .iter()
            .map(|s| match s.shape {
                Some(shape) => Gamma::new(shape, s.rate_per_day / shape)
                    .expect("a checked shape and rate")
                    .sample(rng),
                None => s.rate_per_day,
            })
            .collect();
        let gap = |rng: &mut R, rate: f64| {
            if rate > 0.0 {
                let e: f64 = Exp1.sample(rng);
                e / rate
            } else {
                f64::INFINITY
            }
        };
        let mut next: Vec<f64> = self
            .sites
            .iter()
            .zip(&rates)
            .map(|(s, &r)| s.activation.max(self.resume) + gap(rng, r))
            .collect();
        let mut blocks: Vec<Vec<u16>> = vec![Vec::new(); self.sites.len()];
        for _ in 0..self.to_enrol {
            let (s, &t) = next
                .iter()
                .enumerate()
                .min_by(|a, b| a.1.total_cmp(b.1))
                .expect("a plan has a site");
            if t >= days {
                break;
            }
            let arm = self.allocate(rng, &mut blocks[s]);
            let w = self.weight.sample(rng);
            let leave = self.hazard.leave(rng);
            // t >= 0: truncation is its floor.
            each(t as i64, s, usize::from(arm), w, leave);
            next[s] = t + gap(rng, rates[s]);
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

    /// Every replicate, in replicate order, on `threads` threads (0: all cores);
    /// `progress` is told of each one done.
    pub fn run(
        &self,
        replicates: u64,
        seed: u64,
        threads: usize,
        progress: &(dyn Fn() + Sync),
    ) -> anyhow::Result<Vec<Tally>> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()?;
        Ok(pool.install(|| {
            (0..replicates)
                .into_par_iter()
                .map(|r| {
                    let t = self.replicate(seed, r);
                    progress();
                    t
                })
                .collect()
        }))
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

/// The cell doses (study day, component, product slot) of one expanded calendar with its
/// last study day with a dose or visit, and each dose's amount.
fn sched_of(
    plan: &Plan,
    events: &[crate::schedule::Event],
    slot_of: &impl Fn(usize) -> Option<u16>,
) -> (Sched, Vec<f64>) {
    let mut s = Sched {
        doses: Vec::new(),
        last_day: 0,
    };
    let mut amounts = Vec::new();
    for e in events {
        if e.kind == EventKind::Background {
            continue;
        }
        s.last_day = s.last_day.max(e.study_day as i32);
        if let (Origin::Component(c), Some(d)) = (e.origin, e.dose)
            && let Some(p) = slot_of(plan.arm.components[c].product)
        {
            s.doses.push((e.study_day as i32, c as u16, p));
            amounts.push(d);
        }
    }
    (s, amounts)
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
        assert_eq!(h.leave(&mut rng), (NEVER, false));
        // A dropout rate of 10% a month: 10% gone by day 30.4375.
        let h = Hazard::new(&plan::Mortality {
            day28: 0.0,
            day90: 0.0,
            dropout_per_month: 0.1,
        });
        let n = 100_000;
        let gone = (0..n)
            .filter(|_| h.dropout_time(&mut rng) < DAYS_PER_MONTH)
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
        let sites = site("A", "2027-01-04", 8.0, Some(3.0));
        let p = parsed(&t, &plan_text(120, 80, &sites, 0.24, 0.35));
        let model = Model::new(&t, &p, &NO_CALENDARS, None).unwrap();
        let one = model.run(50, 9, 1, &|| {}).unwrap();
        let two = model.run(50, 9, 2, &|| {}).unwrap();
        assert_eq!(one, two);
        assert_eq!(one[17], model.replicate(9, 17));
        assert_ne!(one[0], one[1], "replicates differ");
        // Every dose is whole cells at a weight on the 0.1 kg grid: 1e5 cells/kg.
        for t in &one {
            for c in &t.week_cells {
                assert_eq!(c % 10_000.0, 0.0, "{c}");
            }
            assert_eq!(t.enrolled, t.completed + t.died + t.dropped_out);
        }
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
                f64::from(tally.total_doses[0]) / f64::from(tally.enrolled)
            })
            .collect();
        let (mean, _, se, _) = moments(&per_patient);
        assert!((mean - expected).abs() < 3.0 * se, "{mean} vs {expected}");
        // Whoever died before day 50 did not complete: completed + died = enrolled.
        let tally = model.replicate(5, 0);
        assert_eq!(tally.completed + tally.died, tally.enrolled);
        assert!(tally.died > 0);
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
