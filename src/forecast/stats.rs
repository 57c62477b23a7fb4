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

use chrono::NaiveDate;

use rayon::prelude::*;

use super::sim::{Model, Scalar, Store};
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

/// How many buckets (2^this) [`order_stats`] counts values into.
const BUCKET_BITS: u32 = 11;

/// Scratch space for [`order_stats`], reused from column to column.
#[derive(Default)]
pub struct Select {
    counts: Vec<u32>,
    slot: Vec<u8>,
    parts: [Vec<u64>; 6],
}

/// The sum and the [`PERCENTILES`]' order statistics of whole numbers. Exact, as a sort
/// would give, in two passes: the values are counted into at most 2,048 buckets of equal
/// width by their high bits, which finds the bucket of each order statistic and its rank
/// inside; the values of those buckets alone are then gathered and selected among.
pub fn order_stats(v: &[u64], s: &mut Select) -> (u128, [u64; 6]) {
    let n = v.len();
    let mut out = [0u64; 6];
    if n == 0 {
        return (0, out);
    }
    let max = v.iter().copied().max().unwrap_or(0);
    let shift = (64 - max.leading_zeros()).saturating_sub(BUCKET_BITS);
    let buckets = (max >> shift) as usize + 1;
    s.counts.clear();
    s.counts.resize(buckets, 0);
    let mut sum = 0u128;
    for &x in v {
        s.counts[(x >> shift) as usize] += 1;
        sum += u128::from(x);
    }
    // Each rank's bucket and its rank among the bucket's values (ranks never decrease).
    let mut at = [(0usize, 0usize); 6];
    let (mut b, mut below) = (0usize, 0usize);
    for (j, p) in PERCENTILES.iter().enumerate() {
        let r = rank(n, *p);
        while below + s.counts[b] as usize <= r {
            below += s.counts[b] as usize;
            b += 1;
        }
        at[j] = (b, r - below);
    }
    if shift == 0 {
        // One value a bucket: the bucket is the value.
        for (o, (b, _)) in out.iter_mut().zip(at) {
            *o = b as u64;
        }
        return (sum, out);
    }
    s.slot.clear();
    s.slot.resize(buckets, u8::MAX);
    let mut parts = 0u8;
    for &(b, _) in &at {
        if s.slot[b] == u8::MAX {
            s.slot[b] = parts;
            s.parts[usize::from(parts)].clear();
            parts += 1;
        }
    }
    for &x in v {
        let k = s.slot[(x >> shift) as usize];
        if k != u8::MAX {
            s.parts[usize::from(k)].push(x);
        }
    }
    for (o, (b, r)) in out.iter_mut().zip(at) {
        let part = &mut s.parts[usize::from(s.slot[b])];
        *o = *part.select_nth_unstable(r).1;
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
    /// Per site (`site` set), when there is more than one.
    pub site_patients: Vec<Patients>,
    /// Per product: all sites first, then each site when there is more than one.
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

/// The figures of the replicates `store` holds.
pub fn summarise(model: &Model, store: &Store) -> Summary {
    let n = store.replicates;
    let (np, ns) = (model.products.len(), model.sites.len());
    // One task per product and series: all sites together, and each site when there are
    // several (with one, its figures are all sites').
    let tasks: Vec<(usize, Option<usize>)> = (0..np)
        .flat_map(|k| {
            std::iter::once(None)
                .chain((0..ns).filter(|_| ns > 1).map(Some))
                .map(move |s| (k, s))
        })
        .collect();
    let done: Vec<(Vec<PeriodRow>, Vec<PeriodRow>)> = tasks
        .par_iter()
        .map(|&(k, site)| series(model, store, k, site))
        .collect();
    let (mut weekly, mut monthly) = (Vec::new(), Vec::new());
    for (w, m) in done {
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

    // Per replicate, a scalar summed over some series or sites.
    let summed = |which: &dyn Fn(usize) -> Scalar, over: &[usize]| -> Vec<u64> {
        let mut v = vec![0u64; n];
        for &i in over {
            for (x, s) in v.iter_mut().zip(store.scalars(model.scalar(which(i)))) {
                *x += s as u64;
            }
        }
        v
    };
    let mut sel = Select::default();
    let mut count_stats = |v: &[u64]| {
        let (sum, q) = order_stats(v, &mut sel);
        Stats {
            mean: sum as f64 / n.max(1) as f64,
            q: q.map(|x| x as f64),
        }
    };
    let groups: Vec<Option<usize>> = std::iter::once(None)
        .chain((0..ns).filter(|_| ns > 1).map(Some))
        .collect();
    let sites_of = |g: Option<usize>| -> Vec<usize> { g.map_or((0..ns).collect(), |s| vec![s]) };
    let mut totals = Vec::new();
    for k in 0..np {
        let q = model.quanta[k];
        for &g in &groups {
            let sps: Vec<usize> = sites_of(g).iter().map(|s| s * np + k).collect();
            let fact = |v: &[f64]| sps.iter().map(|&sp| v[sp]).sum::<f64>();
            let fact_n = |v: &[u32]| sps.iter().map(|&sp| v[sp]).sum::<u32>();
            let f = &model.facts;
            let amount = |v: &[u64], by: f64, sel: &mut Select| {
                let (sum, qs) = order_stats(v, sel);
                Stats {
                    mean: q.amount(sum) / n.max(1) as f64 + by,
                    q: qs.map(|u| q.amount(u128::from(u)) + by),
                }
            };
            let mut sel = Select::default();
            totals.push(Totals {
                site: g,
                product: model.products[k],
                doses: count_stats(&summed(&Scalar::TotalDoses, &sps))
                    .plus(f64::from(fact_n(&f.total_doses))),
                amount: amount(
                    &summed(&Scalar::Total, &sps),
                    fact(&f.total_amount),
                    &mut sel,
                ),
                after_horizon: amount(&summed(&Scalar::After, &sps), 0.0, &mut sel),
                given_doses: fact_n(&f.given_doses),
                given_amount: fact(&f.given_amount),
                overdue_doses: fact_n(&f.overdue_doses),
                assumed: model.assumed_of(g, k),
            });
        }
    }
    let mut patients: Vec<Patients> = groups
        .iter()
        .map(|&g| {
            let s = sites_of(g);
            Patients {
                site: g,
                enrolled: count_stats(&summed(&Scalar::Enrolled, &s)),
                completed: count_stats(&summed(&Scalar::Completed, &s)),
                died: count_stats(&summed(&Scalar::Died, &s)),
                dropped_out: count_stats(&summed(&Scalar::DroppedOut, &s)),
            }
        })
        .collect();
    let all = patients.remove(0);
    let some = |v: Vec<f64>| {
        let mut v = v;
        (!v.is_empty()).then(|| Stats::of(&mut v))
    };
    let fact_last = model.facts.last_dose_day;
    let last: Vec<f64> = store
        .scalars(model.scalar(Scalar::LastDoseDay))
        .filter_map(|d| (d != i64::MIN).then_some(d).max(fact_last))
        .map(|d| d as f64)
        .collect();
    let full: Vec<f64> = store
        .scalars(model.scalar(Scalar::FullDay))
        .filter(|&d| d != i64::MIN)
        .map(|d| d as f64)
        .collect();
    let reached = full.len();
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
        last_dose_day: some(last),
        full_day: some(full),
        reached_share: reached as f64 / n.max(1) as f64,
        lots,
    }
}

/// The weekly and monthly rows of product `k` at `site` (`None`: all sites).
fn series(
    model: &Model,
    store: &Store,
    k: usize,
    site: Option<usize>,
) -> (Vec<PeriodRow>, Vec<PeriodRow>) {
    let n = store.replicates;
    let (np, ns) = (model.products.len(), model.sites.len());
    let sps: Vec<usize> = match site {
        Some(s) => vec![s * np + k],
        None => (0..ns).map(|s| s * np + k).collect(),
    };
    let dose_series = site.map_or(ns * np + k, |s| s * np + k);
    let product = model.products[k];
    let q = model.quanta[k];
    let cells = model.trial.products[product].unit == Unit::Cells;
    let plan = match site {
        None if cells => model.plan.products.get(&product),
        _ => None,
    };
    let assumed = model.assumed_of(site, k);
    let f = &model.facts;
    let (weeks, nm) = (model.weeks, model.months.len());
    let fact = |v: &[f64], per: usize, i: usize| sps.iter().map(|sp| v[sp * per + i]).sum::<f64>();
    let fact_n = |v: &[u32], per: usize, i: usize| {
        sps.iter().map(|sp| v[sp * per + i]).sum::<u32>()
    };
    let mut sel = Select::default();
    let mut units: Vec<u64> = Vec::with_capacity(n);
    let mut tmp: Vec<u64> = Vec::with_capacity(n);
    let mut gather = |column: &dyn Fn(usize) -> usize, units: &mut Vec<u64>| {
        if let [sp] = sps[..] {
            store.column(column(sp), units);
        } else {
            units.clear();
            units.resize(n, 0);
            for &sp in &sps {
                store.column(column(sp), &mut tmp);
                for (u, t) in units.iter_mut().zip(&tmp) {
                    *u += t;
                }
            }
        }
    };
    let mut amount = |v: &[u64], by: f64| {
        let (sum, qs) = order_stats(v, &mut sel);
        Stats {
            mean: q.amount(sum) / n.max(1) as f64 + by,
            q: qs.map(|u| q.amount(u128::from(u)) + by),
        }
    };
    let lots = |cum: &Stats| {
        plan.map(|p| {
            (
                (cum.p("p50") / p.lot_cells).ceil(),
                (cum.p("p95") / p.lot_cells).ceil(),
            )
        })
    };
    let row = |start, days, doses, a, c, lots, over| PeriodRow {
        start,
        days,
        site,
        product,
        doses,
        amount: a,
        cumulative: c,
        lot_cells: plan.map(|p| p.lot_cells),
        lots_released: lots,
        capacity_per_week: plan.map(|p| p.capacity_cells_per_week),
        p_over_capacity: over,
        assumed,
    };

    // Weeks: each replicate's running total, and which replicates are over capacity.
    let mut cum = vec![0u64; n];
    let mut cum_fact = 0.0;
    let mut over_weeks: Vec<Vec<u64>> = Vec::new();
    let mut weekly = Vec::with_capacity(weeks);
    for w in 0..weeks {
        gather(&|sp| model.week_column(sp, w), &mut units);
        for (c, u) in cum.iter_mut().zip(&units) {
            *c += u;
        }
        let by = fact(&f.week_amount, weeks, w);
        cum_fact += by;
        let a = amount(&units, by);
        let c = amount(&cum, cum_fact);
        let doses = hist_stats(store.doses.of(model.dose_column(dose_series, w, false)), n)
            .plus(f64::from(fact_n(&f.week_doses, weeks, w)));
        let over = plan.map(|p| {
            let mut bits = vec![0u64; n.div_ceil(64)];
            let mut count = 0usize;
            for (r, &u) in units.iter().enumerate() {
                if q.amount(u128::from(u)) + by > p.capacity_cells_per_week {
                    bits[r / 64] |= 1 << (r % 64);
                    count += 1;
                }
            }
            over_weeks.push(bits);
            count as f64 / n.max(1) as f64
        });
        let l = lots(&c);
        weekly.push(row(model.date_of(w as i64 * 7), 7, doses, a, c, l, over));
    }

    // Months: their own running totals; a month is over capacity in a replicate when any
    // week with a day in it is.
    cum.fill(0);
    cum_fact = 0.0;
    let mut monthly = Vec::with_capacity(nm);
    let mut first_day = 0usize;
    for (m, &(start, days)) in model.months.iter().enumerate() {
        gather(&|sp| model.month_column(sp, m), &mut units);
        for (c, u) in cum.iter_mut().zip(&units) {
            *c += u;
        }
        let by = fact(&f.month_amount, nm, m);
        cum_fact += by;
        let a = amount(&units, by);
        let c = amount(&cum, cum_fact);
        let doses = hist_stats(store.doses.of(model.dose_column(dose_series, m, true)), n)
            .plus(f64::from(fact_n(&f.month_doses, nm, m)));
        let over = plan.map(|_| {
            let last = first_day + days as usize - 1;
            let mut any = vec![0u64; n.div_ceil(64)];
            for bits in &over_weeks[first_day / 7..=last / 7] {
                for (a, b) in any.iter_mut().zip(bits) {
                    *a |= b;
                }
            }
            any.iter().map(|b| b.count_ones() as usize).sum::<usize>() as f64 / n.max(1) as f64
        });
        let l = lots(&c);
        monthly.push(row(start, days, doses, a, c, l, over));
        first_day += days as usize;
    }
    (weekly, monthly)
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
