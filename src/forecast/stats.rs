//! From replicates to the figures a planner reads: per week and month, per site and for
//! all sites, each product's doses and amount as mean and percentiles, the cumulative
//! amount by the end of the period, the lots that must be released by then, and the
//! chance of exceeding capacity; per trial and site, what happened to the patients.
//!
//! Percentiles are order statistics (the inverted empirical distribution: the smallest
//! value that at least p of the replicates do not exceed), so every figure is one that a
//! replicate actually had: whole cells, whole doses, and P5 <= P50 <= P95 <= P99 always.
//! A cumulative percentile is that of each replicate's own running total (not a sum of
//! weekly percentiles), so it never falls from one week to the next, and its lots read
//! down a column are a release plan. The record's facts, the same in every replicate, are
//! added to every figure they belong to.

use std::collections::{HashMap, VecDeque};
use std::ops::Range;

use chrono::NaiveDate;

use rayon::prelude::*;

use super::sim::{Col, Extras, Limits, Model, Pass, Store, Tick, day_of_code};
use crate::model::{Assumed, Unit};

/// The percentiles reported, in order.
pub const PERCENTILES: [f64; 6] = [0.05, 0.25, 0.50, 0.75, 0.95, 0.99];
/// Their column names.
pub const PERCENTILE_NAMES: [&str; 6] = ["p5", "p25", "p50", "p75", "p95", "p99"];

/// Mean and [`PERCENTILES`] of one figure over the replicates.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Stats {
    pub mean: f64,
    pub q: [f64; 6],
}

impl Stats {
    /// Of `values` (reordered in place). The mean is summed in the given order; each
    /// percentile's order statistic is found by selection, each one in the part of the
    /// slice above the one before, which is what a full sort would give.
    pub fn of(values: &mut [f64]) -> Stats {
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n.max(1) as f64;
        let mut q = [0.0; 6];
        let mut from = 0;
        for (slot, p) in q.iter_mut().zip(PERCENTILES) {
            if n == 0 {
                break;
            }
            let k = rank(n, p);
            let (_, at, _) = values[from..].select_nth_unstable_by(k - from, f64::total_cmp);
            *slot = *at;
            from = k;
        }
        Stats { mean, q }
    }

    pub fn p(&self, name: &str) -> f64 {
        self.q[PERCENTILE_NAMES
            .iter()
            .position(|n| *n == name)
            .expect("a reported percentile")]
    }

    /// The same figures moved by `by` (a fact the same in every replicate).
    fn plus(self, by: f64) -> Stats {
        Stats {
            mean: self.mean + by,
            q: self.q.map(|q| q + by),
        }
    }
}

/// The `p` quantile of sorted `values`: the smallest value at or above which lie no more
/// than 1 - p of them (`values[ceil(p n) - 1]`); 0 for none.
pub fn quantile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[rank(sorted.len(), p)]
}

/// The 0-based index of the `p` quantile among `n` sorted values: `ceil(p n) - 1`.
fn rank(n: usize, p: f64) -> usize {
    ((p * n as f64).ceil() as usize).clamp(1, n) - 1
}

/// Scratch space for [`order_stats`], reused from column to column.
#[derive(Default)]
pub struct Select {
    counts: Vec<u32>,
    slot: Vec<u8>,
    parts: [Vec<u64>; 6],
}

/// The sum and the [`PERCENTILES`]' order statistics of whole numbers. Exact, as a sort
/// would give: the values are counted into buckets of equal width by their high bits
/// (about as many buckets as values, at most 65,536), which finds the bucket of each order
/// statistic and its rank inside; the values of those buckets alone are then gathered and
/// selected among. A bucket of one value each, or a rank among the zeros, needs no more.
pub fn order_stats(v: &[u64], s: &mut Select) -> (u128, [u64; 6]) {
    let n = v.len();
    let mut out = [0u64; 6];
    if n == 0 {
        return (0, out);
    }
    let max = v.iter().copied().max().unwrap_or(0);
    if max == 0 {
        return (0, out);
    }
    let zeros = v.iter().filter(|&&x| x == 0).count();
    let sum: u128 = if max < u64::MAX / n as u64 {
        u128::from(v.iter().sum::<u64>())
    } else {
        v.iter().map(|&x| u128::from(x)).sum()
    };
    let bits = (usize::BITS - n.leading_zeros()).clamp(8, 16);
    let shift = (64 - max.leading_zeros()).saturating_sub(bits);
    let buckets = (max >> shift) as usize + 1;
    // Two interleaved counts, so that runs of one bucket (zeros, say) do not wait on each
    // other's increments.
    s.counts.clear();
    s.counts.resize(buckets * 2, 0);
    let (c0, c1) = s.counts.split_at_mut(buckets);
    let mut pairs = v.chunks_exact(2);
    for p in &mut pairs {
        c0[(p[0] >> shift) as usize] += 1;
        c1[(p[1] >> shift) as usize] += 1;
    }
    for &x in pairs.remainder() {
        c0[(x >> shift) as usize] += 1;
    }
    for (a, b) in c0.iter_mut().zip(c1.iter()) {
        *a += b;
    }
    let counts = &s.counts[..buckets];
    // Each rank's bucket, its rank among the bucket's values, and whether that is
    // already its value (ranks never decrease).
    let mut at = [(0usize, 0usize, false); 6];
    let (mut b, mut below) = (0usize, 0usize);
    for (j, p) in PERCENTILES.iter().enumerate() {
        let r = rank(n, *p);
        while below + counts[b] as usize <= r {
            below += counts[b] as usize;
            b += 1;
        }
        at[j] = (b, r - below, shift == 0 || r < zeros);
    }
    s.slot.clear();
    s.slot.resize(buckets, u8::MAX);
    let mut parts = 0u8;
    for &(b, _, known) in &at {
        if !known && s.slot[b] == u8::MAX {
            s.slot[b] = parts;
            s.parts[usize::from(parts)].clear();
            parts += 1;
        }
    }
    if parts > 0 {
        for &x in v {
            let k = s.slot[(x >> shift) as usize];
            if k != u8::MAX {
                s.parts[usize::from(k)].push(x);
            }
        }
    }
    for (o, (b, r, known)) in out.iter_mut().zip(at) {
        *o = if !known {
            let part = &mut s.parts[usize::from(s.slot[b])];
            *part.select_nth_unstable(r).1
        } else if shift == 0 {
            // One value a bucket: the bucket is the value.
            b as u64
        } else {
            0
        };
    }
    (sum, out)
}

/// The mean and percentiles of a histogram's `(value, count)` pairs, in increasing value,
/// over `n` replicates.
fn hist_stats(pairs: impl Iterator<Item = (u64, u64)>, n: usize) -> Stats {
    let mut q = [0.0; 6];
    let mut sum = 0u128;
    let (mut j, mut seen) = (0, 0u64);
    for (v, c) in pairs {
        sum += u128::from(v) * u128::from(c);
        seen += c;
        while j < 6 && (rank(n, PERCENTILES[j]) as u64) < seen {
            q[j] = v as f64;
            j += 1;
        }
    }
    Stats {
        mean: sum as f64 / n.max(1) as f64,
        q,
    }
}

/// One week's or month's figures for one product, at one site or all.
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodRow {
    /// The period's first day inside the horizon.
    pub start: NaiveDate,
    /// Days of the period inside the horizon (7 for a week).
    pub days: u32,
    /// Index into the model's sites; `None`: all sites together.
    pub site: Option<usize>,
    /// Index into the trial's products.
    pub product: usize,
    pub doses: Stats,
    /// The amount given in the period, in the product's unit.
    pub amount: Stats,
    /// The amount given from the first week forecast to the end of the period.
    pub cumulative: Stats,
    /// The plan's lot size for the product (all sites, cell products), if it gives one.
    pub lot_cells: Option<f64>,
    /// Lots that must be released by the end of the period: `ceil(cumulative / lot_cells)`
    /// of the cumulative P50 and P95.
    pub lots_released: Option<(f64, f64)>,
    /// The plan's weekly capacity, when it gives one (all sites, cell products).
    pub capacity_per_week: Option<f64>,
    /// Share of replicates with a week over the capacity: the week itself, or for a month
    /// any week with a day in it.
    pub p_over_capacity: Option<f64>,
    /// The assumed regimen values behind the figures.
    pub assumed: Assumed,
}

/// Totals of one product over the whole trial, at one site or all.
#[derive(Debug, Clone, PartialEq)]
pub struct Totals {
    pub site: Option<usize>,
    pub product: usize,
    pub doses: Stats,
    /// In the product's unit.
    pub amount: Stats,
    pub after_horizon: Stats,
    /// What the record shows given by its as-of date.
    pub given_doses: u32,
    pub given_amount: f64,
    /// Due by the as-of date with nothing recorded: counted as still to give, on the
    /// as-of date.
    pub overdue_doses: u32,
    pub assumed: Assumed,
}

/// What happened to the patients of one site, or of all.
#[derive(Debug, Clone, PartialEq)]
pub struct Patients {
    pub site: Option<usize>,
    pub enrolled: Stats,
    pub completed: Stats,
    pub died: Stats,
    pub dropped_out: Stats,
}

/// A cell product's release plan: for each lot, the first week (index from the first
/// week forecast) by whose end it must be released, at the cumulative P50 and P95.
#[derive(Debug, Clone, PartialEq)]
pub struct LotPlan {
    pub product: usize,
    pub lot_cells: f64,
    pub lead_time_weeks: Option<u32>,
    /// (lot number from 1, week at the P50, week at the P95).
    pub lots: Vec<(u32, Option<usize>, Option<usize>)>,
    pub assumed: Assumed,
}

/// The forecast's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub replicates: u64,
    pub weekly: Vec<PeriodRow>,
    pub monthly: Vec<PeriodRow>,
    pub enrolled: Stats,
    pub completed: Stats,
    pub died: Stats,
    pub dropped_out: Stats,
    /// Per site (`site` set).
    pub site_patients: Vec<Patients>,
    /// Per product: all sites first, then each site.
    pub totals: Vec<Totals>,
    /// Forecast day of the last dose (replicates without one are left out).
    pub last_dose_day: Option<Stats>,
    /// Forecast day the target was reached, over the replicates that reached it, and
    /// their share.
    pub full_day: Option<Stats>,
    pub reached_share: f64,
    pub lots: Vec<LotPlan>,
}

impl Summary {
    /// All sites' totals of each product, in product order.
    pub fn all_sites(&self) -> impl Iterator<Item = &Totals> + '_ {
        self.totals.iter().filter(|t| t.site.is_none())
    }
}

/// Bytes the figures kept in one pass over the replicates may take. Past it the columns
/// are split between passes, each running every replicate again (each replicate has its
/// own random stream, so it gives the same figures every time): memory stays bounded
/// whatever the number of replicates, and the figures are the same whatever the passes.
pub const PASS_BYTES: usize = 512 << 20;

/// Runs `replicates` replicates seeded `seed` on `threads` threads (0: all cores) and
/// summarises them, with the passes over them it took; `tick` is told of each replicate
/// run and of each pass.
pub fn run(
    model: &Model,
    replicates: u64,
    seed: u64,
    threads: usize,
    tick: &(dyn Fn(Tick) + Sync),
) -> anyhow::Result<(Summary, usize)> {
    run_within(model, (replicates, seed), threads, PASS_BYTES, tick)
}

/// As [`run`], keeping at most `budget` bytes of figures a pass; also the passes made
/// (those stopped over the budget included).
pub fn run_within(
    model: &Model,
    (replicates, seed): (u64, u64),
    threads: usize,
    budget: usize,
    tick: &(dyn Fn(Tick) + Sync),
) -> anyhow::Result<(Summary, usize)> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let n = replicates as usize;
    let cols = model.stat_columns();
    let limits = capacity_limits(model);
    let mut extras: Option<Extras> = None;
    let mut sum = Summariser::new(model, n);
    // The columns still to keep, in order: first all of them in one pass, which stops as
    // soon as they pass the budget; then in parts sized from what that pass kept.
    let mut todo: VecDeque<Range<usize>> = VecDeque::new();
    todo.push_back(0..cols.len());
    let mut passes = 0;
    while let Some(range) = todo.pop_front() {
        passes += 1;
        let chunk = &cols[range.clone()];
        let limit = (chunk.len() > 1).then_some(budget);
        let counting = extras.is_none().then_some(&limits);
        match model.pass(&pool, (replicates, seed), chunk, limit, counting, tick) {
            Pass::Done(store, got) => {
                if got.is_some() {
                    extras = got;
                }
                let extras = extras.as_ref().expect("counted by the first pass done");
                pool.install(|| sum.take(chunk, &store, extras));
            }
            Pass::OverBudget {
                col_bytes,
                replicates: done,
            } => {
                for part in split(range, &col_bytes, done, n, budget).into_iter().rev() {
                    todo.push_front(part);
                }
            }
        }
    }
    Ok((sum.finish(), passes))
}

/// `range` of columns cut into consecutive parts that should each fit in `budget`, from
/// the bytes each column took (`col_bytes`) in the first `done` replicates of `n`: at
/// least two parts, each of one column or more.
fn split(
    range: Range<usize>,
    col_bytes: &[u64],
    done: u64,
    n: usize,
    budget: usize,
) -> Vec<Range<usize>> {
    let done = done.max(1);
    // Each column's bytes over every replicate (the replicates are alike: those run so
    // far are a fair sample), with a little to spare; a part that passes the budget all
    // the same is stopped and split again.
    let estimate = |c: usize| col_bytes[c] as f64 / done as f64 * n as f64 * 1.05 + 64.0;
    let target = budget as f64 * 0.9;
    let mut parts = Vec::new();
    let (mut start, mut held) = (range.start, 0.0);
    for c in range.clone() {
        let e = estimate(c - range.start);
        if c > start && held + e > target {
            parts.push(start..c);
            start = c;
            held = 0.0;
        }
        held += e;
    }
    parts.push(start..range.end);
    if parts.len() == 1 && range.len() > 1 {
        let mid = range.start + range.len() / 2;
        parts = vec![range.start..mid, mid..range.end];
    }
    parts
}

/// Per forecast product whose capacity is counted (a cell product the plan gives one for),
/// per week, the most counted units all sites may need and stay under it, with the
/// record's facts of the week (`None`: none do).
fn capacity_limits(model: &Model) -> Limits {
    let (np, ns) = (model.products.len(), model.sites.len());
    (0..np)
        .map(|k| {
            let product = model.products[k];
            if model.trial.products[product].unit != Unit::Cells {
                return None;
            }
            let cap = model.plan.products.get(&product)?.capacity_cells_per_week;
            let q = model.quanta[k];
            let f = &model.facts;
            Some(
                (0..model.weeks)
                    .map(|w| {
                        let by: f64 = (0..ns)
                            .map(|s| f.week_amount[(s * np + k) * model.weeks + w])
                            .sum();
                        let fits = |u: u64| q.amount(u128::from(u)) + by <= cap;
                        let mut most = ((cap - by) / q.amount(1))
                            .max(0.0)
                            .min(u64::MAX as f64 / 2.0)
                            as u64;
                        while most > 0 && !fits(most) {
                            most -= 1;
                        }
                        while fits(most + 1) {
                            most += 1;
                        }
                        fits(most).then_some(most)
                    })
                    .collect(),
            )
        })
        .collect()
}

/// One series of periods (weeks or months of one product at one site, or all sites) as
/// its columns come in, pass after pass: the running totals so far and the rows made.
#[derive(Default)]
struct Series {
    /// Each replicate's running total of the periods before the next (empty before the
    /// first and after the last).
    cum: Vec<u64>,
    cum_fact: f64,
    /// The running totals' figures of the period before, while nothing is added to them.
    before: Option<Stats>,
    rows: Vec<PeriodRow>,
}

/// The order statistics of a scalar column: its sum and its percentiles' values.
type Raw = (u128, [u64; 6]);

/// The statistics made from each pass's columns, until every column has been through.
struct Summariser<'m, 't> {
    model: &'m Model<'t>,
    n: usize,
    /// By series index (see [`Summariser::series_of`]).
    series: Vec<Series>,
    scalars: HashMap<Col, Raw>,
    last: Vec<f64>,
    full: Vec<f64>,
}

impl<'m, 't> Summariser<'m, 't> {
    fn new(model: &'m Model<'t>, n: usize) -> Self {
        let (np, ns) = (model.products.len(), model.sites.len());
        let per_product = if ns > 1 { ns + 1 } else { 1 };
        Summariser {
            model,
            n,
            series: (0..np * per_product * 2)
                .map(|_| Series::default())
                .collect(),
            scalars: HashMap::new(),
            last: Vec::new(),
            full: Vec::new(),
        }
    }

    /// The index of the series of product `k` at `site` (`None`: all sites), weekly or
    /// monthly.
    fn series_of(&self, k: usize, site: Option<usize>, monthly: bool) -> usize {
        let ns = self.model.sites.len();
        let per_product = if ns > 1 { ns + 1 } else { 1 };
        (k * per_product + site.map_or(0, |s| s + 1)) * 2 + usize::from(monthly)
    }

    /// The figures of a pass's columns (`chunk`, kept in `store`).
    fn take(&mut self, chunk: &[Col], store: &Store, extras: &Extras) {
        // Each series' columns of the pass, in period order (the columns come so).
        let mut tasks: Vec<(usize, Vec<(usize, usize)>)> = Vec::new();
        let mut scalars: Vec<(usize, Col)> = Vec::new();
        for (j, &c) in chunk.iter().enumerate() {
            match c {
                Col::Period {
                    k,
                    site,
                    monthly,
                    p,
                } => {
                    let s = self.series_of(k, site, monthly);
                    match tasks.last_mut() {
                        Some((t, items)) if *t == s => items.push((j, p)),
                        _ => tasks.push((s, vec![(j, p)])),
                    }
                }
                _ => scalars.push((j, c)),
            }
        }
        let model = self.model;
        let n = self.n;
        // (series index, its state, its columns of the pass, its first column).
        type Task = (usize, Series, Vec<(usize, usize)>, Col);
        let work: Vec<Task> = tasks
            .into_iter()
            .map(|(s, items)| {
                let col = chunk[items[0].0];
                (s, std::mem::take(&mut self.series[s]), items, col)
            })
            .collect();
        let done: Vec<(usize, Series)> = work
            .into_par_iter()
            .map(|(s, mut series, items, col)| {
                let Col::Period {
                    k, site, monthly, ..
                } = col
                else {
                    unreachable!("a period's series")
                };
                period_rows(
                    model,
                    store,
                    extras,
                    (k, site, monthly),
                    &items,
                    &mut series,
                    n,
                );
                (s, series)
            })
            .collect();
        for (s, series) in done {
            self.series[s] = series;
        }
        let mut sel = Select::default();
        let mut v: Vec<u64> = Vec::with_capacity(n);
        for (j, c) in scalars {
            store.column(j, &mut v);
            match c {
                Col::LastDoseDay => {
                    let fact_last = model.facts.last_dose_day;
                    self.last = v
                        .iter()
                        .filter_map(|&d| day_of_code(d).max(fact_last))
                        .map(|d| d as f64)
                        .collect();
                }
                Col::FullDay => {
                    self.full = v
                        .iter()
                        .filter_map(|&d| day_of_code(d))
                        .map(|d| d as f64)
                        .collect();
                }
                _ => {
                    self.scalars.insert(c, order_stats(&v, &mut sel));
                }
            }
        }
    }

    fn finish(self) -> Summary {
        let model = self.model;
        let n = self.n;
        let (np, ns) = (model.products.len(), model.sites.len());
        let mut series = self.series;
        let (mut weekly, mut monthly) = (Vec::new(), Vec::new());
        let copy = |rows: &[PeriodRow]| -> Vec<PeriodRow> {
            rows.iter()
                .map(|r| PeriodRow {
                    site: Some(0),
                    lot_cells: None,
                    lots_released: None,
                    capacity_per_week: None,
                    p_over_capacity: None,
                    ..r.clone()
                })
                .collect()
        };
        let per_product = if ns > 1 { ns + 1 } else { 1 };
        // Per product: all sites, then each site; with one site, its rows are all sites'.
        for k in 0..np {
            for at in 0..per_product {
                let base = (k * per_product + at) * 2;
                let w = std::mem::take(&mut series[base].rows);
                let m = std::mem::take(&mut series[base + 1].rows);
                let (cw, cm) = if ns == 1 {
                    (copy(&w), copy(&m))
                } else {
                    (Vec::new(), Vec::new())
                };
                weekly.extend(w);
                weekly.extend(cw);
                monthly.extend(m);
                monthly.extend(cm);
            }
        }
        let raw = |c: Col| *self.scalars.get(&c).expect("every scalar column was kept");
        let count_stats = |(sum, q): Raw| Stats {
            mean: sum as f64 / n.max(1) as f64,
            q: q.map(|x| x as f64),
        };
        let groups: Vec<Option<usize>> = std::iter::once(None).chain((0..ns).map(Some)).collect();
        let sites_of =
            |g: Option<usize>| -> Vec<usize> { g.map_or((0..ns).collect(), |s| vec![s]) };
        let mut totals = Vec::new();
        for k in 0..np {
            let q = model.quanta[k];
            for &g in &groups {
                let sps: Vec<usize> = sites_of(g).iter().map(|s| s * np + k).collect();
                let fact = |v: &[f64]| sps.iter().map(|&sp| v[sp]).sum::<f64>();
                let fact_n = |v: &[u32]| sps.iter().map(|&sp| v[sp]).sum::<u32>();
                let f = &model.facts;
                let amount = |(sum, qs): Raw, by: f64| Stats {
                    mean: q.amount(sum) / n.max(1) as f64 + by,
                    q: qs.map(|u| q.amount(u128::from(u)) + by),
                };
                totals.push(Totals {
                    site: g,
                    product: model.products[k],
                    doses: count_stats(raw(Col::TotalDoses { k, group: g }))
                        .plus(f64::from(fact_n(&f.total_doses))),
                    amount: amount(raw(Col::Total { k, group: g }), fact(&f.total_amount)),
                    after_horizon: amount(raw(Col::After { k, group: g }), 0.0),
                    given_doses: fact_n(&f.given_doses),
                    given_amount: fact(&f.given_amount),
                    overdue_doses: fact_n(&f.overdue_doses),
                    assumed: model.assumed_of(g, k),
                });
            }
        }
        let mut patients: Vec<Patients> = groups
            .iter()
            .map(|&g| Patients {
                site: g,
                enrolled: count_stats(raw(Col::Enrolled(g))),
                completed: count_stats(raw(Col::Completed(g))),
                died: count_stats(raw(Col::Died(g))),
                dropped_out: count_stats(raw(Col::DroppedOut(g))),
            })
            .collect();
        let all = patients.remove(0);
        let some = |mut v: Vec<f64>| (!v.is_empty()).then(|| Stats::of(&mut v));
        let reached = self.full.len();
        let lots = lot_plans(model, &weekly);
        Summary {
            replicates: n as u64,
            weekly,
            monthly,
            enrolled: all.enrolled,
            completed: all.completed,
            died: all.died,
            dropped_out: all.dropped_out,
            site_patients: patients,
            totals,
            last_dose_day: some(self.last),
            full_day: some(self.full),
            reached_share: reached as f64 / n.max(1) as f64,
            lots,
        }
    }
}

/// The rows of product `k` at `site` (`None`: all sites), weekly or monthly, of the
/// periods `items` (column of the pass, period), after those `series` has had.
fn period_rows(
    model: &Model,
    store: &Store,
    extras: &Extras,
    (k, site, monthly): (usize, Option<usize>, bool),
    items: &[(usize, usize)],
    series: &mut Series,
    n: usize,
) {
    let (np, ns) = (model.products.len(), model.sites.len());
    let sps: Vec<usize> = match site {
        Some(s) => vec![s * np + k],
        None => (0..ns).map(|s| s * np + k).collect(),
    };
    let dose_series = model.dose_series(site, k);
    let product = model.products[k];
    let q = model.quanta[k];
    let cells = model.trial.products[product].unit == Unit::Cells;
    let plan = match site {
        None if cells => model.plan.products.get(&product),
        _ => None,
    };
    let assumed = model.assumed_of(site, k);
    let f = &model.facts;
    let periods = if monthly {
        model.months.len()
    } else {
        model.weeks
    };
    let (fact_amount, fact_doses) = if monthly {
        (&f.month_amount, &f.month_doses)
    } else {
        (&f.week_amount, &f.week_doses)
    };
    let fact = |i: usize| {
        sps.iter()
            .map(|sp| fact_amount[sp * periods + i])
            .sum::<f64>()
    };
    let fact_n = |i: usize| {
        sps.iter()
            .map(|sp| fact_doses[sp * periods + i])
            .sum::<u32>()
    };
    let mut sel = Select::default();
    let mut amount = |v: &[u64], by: f64| {
        let (sum, qs) = order_stats(v, &mut sel);
        Stats {
            mean: q.amount(sum) / n.max(1) as f64 + by,
            q: qs.map(|u| q.amount(u128::from(u)) + by),
        }
    };
    let share = |count: u64| count as f64 / n.max(1) as f64;
    let over = plan.and(extras.over.get(k).and_then(Option::as_ref));
    let mut units: Vec<u64> = Vec::with_capacity(n);
    if series.cum.is_empty() {
        series.cum = vec![0; n];
    }
    for &(j, i) in items {
        store.column(j, &mut units);
        let mut added = false;
        for (c, u) in series.cum.iter_mut().zip(&units) {
            *c += u;
            added |= *u != 0;
        }
        let by = fact(i);
        series.cum_fact += by;
        let a = amount(&units, by);
        // No replicate's running total moved: the same figures, the period's facts added.
        let c = match series.before {
            Some(b) if !added => b.plus(by),
            _ => amount(&series.cum, series.cum_fact),
        };
        series.before = Some(c);
        let doses = hist_stats(
            extras.doses.of(model.dose_column(dose_series, i, monthly)),
            n,
        )
        .plus(f64::from(fact_n(i)));
        let (start, days) = if monthly {
            model.months[i]
        } else {
            (model.date_of(i as i64 * 7), 7)
        };
        // A month is over capacity in a replicate when any week with a day in it is
        // (counted as the replicates ran).
        let p_over = over.map(|(weeks, months)| share(if monthly { months[i] } else { weeks[i] }));
        series.rows.push(PeriodRow {
            start,
            days,
            site,
            product,
            doses,
            amount: a,
            lots_released: plan.map(|p| {
                (
                    (c.p("p50") / p.lot_cells).ceil(),
                    (c.p("p95") / p.lot_cells).ceil(),
                )
            }),
            cumulative: c,
            lot_cells: plan.map(|p| p.lot_cells),
            capacity_per_week: plan.map(|p| p.capacity_cells_per_week),
            p_over_capacity: p_over,
            assumed,
        });
        if i + 1 == periods {
            // The series is done: its running totals are not needed again.
            series.cum = Vec::new();
        }
    }
}

/// Each cell product's release plan, from its all-sites weekly rows: lot `j` is due by
/// the first week whose lots released reach `j`.
fn lot_plans(model: &Model, weekly: &[PeriodRow]) -> Vec<LotPlan> {
    let mut out = Vec::new();
    for (k, &product) in model.products.iter().enumerate() {
        let rows: Vec<&PeriodRow> = weekly
            .iter()
            .filter(|r| r.product == product && r.site.is_none())
            .collect();
        let (Some(plan), Some(last)) = (model.plan.products.get(&product), rows.last()) else {
            continue;
        };
        let Some((_, most)) = last.lots_released else {
            continue;
        };
        let first = |j: f64, at: &dyn Fn(&(f64, f64)) -> f64| {
            rows.iter()
                .position(|r| r.lots_released.is_some_and(|l| at(&l) >= j))
        };
        let lots = (1..=most as u32)
            .map(|j| {
                let j_f = f64::from(j);
                (j, first(j_f, &|l| l.0), first(j_f, &|l| l.1))
            })
            .collect();
        out.push(LotPlan {
            product,
            lot_cells: plan.lot_cells,
            lead_time_weeks: plan.lead_time_weeks,
            lots,
            assumed: model.assumed_of(None, k),
        });
    }
    out
}
#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_quantile_is_a_value_a_replicate_had() {
        let v = [1.0, 2.0, 3.0, 4.0, 10.0];
        assert_eq!(quantile(&v, 0.5), 3.0);
        assert_eq!(quantile(&v, 0.05), 1.0);
        assert_eq!(quantile(&v, 0.95), 10.0);
        assert_eq!(quantile(&v, 0.2), 1.0, "ceil(0.2 x 5) = 1: the first value");
        assert_eq!(quantile(&v, 0.21), 2.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }

    proptest! {
        /// P5 <= P25 <= P50 <= P75 <= P95 <= P99, each between the smallest and largest value.
        #[test]
        fn percentiles_are_ordered(mut v in proptest::collection::vec(0.0f64..1e12, 1..400)) {
            let s = Stats::of(&mut v);
            v.sort_by(f64::total_cmp);
            for (q, p) in s.q.iter().zip(PERCENTILES) {
                prop_assert_eq!(*q, quantile(&v, p), "selection gives the sorted order statistic");
            }
            for w in s.q.windows(2) {
                prop_assert!(w[0] <= w[1]);
            }
            prop_assert!(v[0] <= s.q[0] && s.q[5] <= v[v.len() - 1]);
            prop_assert!(v[0] <= s.mean + 1e-3 && s.mean <= v[v.len() - 1] + 1e-3);
            for q in s.q {
                prop_assert!(v.contains(&q));
            }
        }

        /// The bucketed selection gives the sorted order statistics and the exact sum,
        /// whatever the spread of the values (many ties, a few large ones).
        #[test]
        fn order_stats_are_those_of_a_sort(
            v in proptest::collection::vec(
                prop_oneof![0u64..3, 0u64..5_000, 0u64..u64::MAX / 1_000_000],
                1..3_000
            )
        ) {
            let mut sel = Select::default();
            let (sum, q) = order_stats(&v, &mut sel);
            let mut sorted = v.clone();
            sorted.sort_unstable();
            prop_assert_eq!(sum, v.iter().map(|&x| u128::from(x)).sum::<u128>());
            for (got, p) in q.iter().zip(PERCENTILES) {
                prop_assert_eq!(*got, sorted[rank(v.len(), p)]);
            }
            // And from a histogram of the same values.
            let mut counts = std::collections::BTreeMap::new();
            for &x in &v {
                *counts.entry(x).or_insert(0u64) += 1;
            }
            let h = hist_stats(counts.into_iter(), v.len());
            for (got, want) in h.q.iter().zip(q) {
                prop_assert_eq!(*got, want as f64);
            }
        }
    }
}
