//! From replicates to the figures a planner reads: per week and month, each product's
//! doses and cells as mean and percentiles, lots, and the chance of exceeding capacity;
//! per trial, what happened to the patients.
//!
//! Percentiles are order statistics (the inverted empirical distribution: the smallest
//! value that at least p of the replicates do not exceed), so every figure is one that a
//! replicate actually had: whole cells, whole doses, and P5 <= P50 <= P95 <= P99 always.

use chrono::NaiveDate;

use rayon::prelude::*;

use super::sim::{Model, Tally};

/// The percentiles reported, in order.
pub const PERCENTILES: [f64; 6] = [0.05, 0.25, 0.50, 0.75, 0.95, 0.99];
/// Their column names.
pub const PERCENTILE_NAMES: [&str; 6] = ["p5", "p25", "p50", "p75", "p95", "p99"];

/// Mean and [`PERCENTILES`] of one figure over the replicates.
#[derive(Debug, Clone, Copy, PartialEq)]
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

/// One week's or month's figures for one product.
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodRow {
    /// The period's first day inside the horizon.
    pub start: NaiveDate,
    /// Days of the period inside the horizon (7 for a week).
    pub days: u32,
    /// Index into the trial's products.
    pub product: usize,
    pub doses: Stats,
    pub cells: Stats,
    /// The plan's lot size for the product, if it gives one.
    pub lot_cells: Option<f64>,
    /// Lots to manufacture (`ceil(cells / lot_cells)`), P50 and P95, when the plan gives a lot size.
    pub lots: Option<(f64, f64)>,
    /// The capacity for the period (weekly capacity x days / 7), when the plan gives one.
    pub capacity: Option<f64>,
    /// Share of replicates whose cells exceed the capacity.
    pub p_over_capacity: Option<f64>,
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
    /// Per product (index into the trial's products): total doses, total cells, cells
    /// after the horizon.
    pub totals: Vec<(usize, Stats, Stats, Stats)>,
    /// Forecast day of the last dose (replicates without one are left out).
    pub last_dose_day: Option<Stats>,
    /// Forecast day the target was reached, over the replicates that reached it, and
    /// their share.
    pub full_day: Option<Stats>,
    pub reached_share: f64,
}

/// The figures of `tallies` (in replicate order: sums are taken in that order, so the
/// bytes do not depend on how many threads made them).
pub fn summarise(model: &Model, tallies: &[Tally]) -> Summary {
    let n = tallies.len();
    // Each (product, period) is one column over the replicates, summarised on its own:
    // in parallel, each from the same values in the same order.
    let periods = |starts: &[(NaiveDate, u32)],
                   cells: &(dyn Fn(&Tally, usize) -> f64 + Sync),
                   doses: &(dyn Fn(&Tally, usize) -> u32 + Sync)| {
        let keys: Vec<(usize, usize)> = (0..model.products.len())
            .flat_map(|k| (0..starts.len()).map(move |i| (k, i)))
            .collect();
        keys.par_iter()
            .map(|&(k, i)| {
                let product = model.products[k];
                let plan = model.plan.products.get(&product);
                let (start, days) = starts[i];
                let at = k * starts.len() + i;
                let mut col: Vec<f64> = tallies.iter().map(|t| f64::from(doses(t, at))).collect();
                let d = Stats::of(&mut col);
                for (c, t) in col.iter_mut().zip(tallies) {
                    *c = cells(t, at);
                }
                let capacity = plan.map(|p| p.capacity_cells_per_week * f64::from(days) / 7.0);
                let over = capacity
                    .map(|cap| col.iter().filter(|&&c| c > cap).count() as f64 / n.max(1) as f64);
                let s = Stats::of(&mut col);
                let lots = plan.map(|p| {
                    (
                        (s.p("p50") / p.lot_cells).ceil(),
                        (s.p("p95") / p.lot_cells).ceil(),
                    )
                });
                PeriodRow {
                    start,
                    days,
                    product,
                    doses: d,
                    cells: s,
                    lot_cells: plan.map(|p| p.lot_cells),
                    lots,
                    capacity,
                    p_over_capacity: over,
                }
            })
            .collect::<Vec<_>>()
    };
    let weeks: Vec<(NaiveDate, u32)> = (0..model.weeks)
        .map(|w| (model.date_of(w as i64 * 7), 7))
        .collect();
    let weekly = periods(&weeks, &|t, i| t.week_cells[i], &|t, i| t.week_doses[i]);
    let monthly = periods(&model.months, &|t, i| t.month_cells[i], &|t, i| {
        t.month_doses[i]
    });
    let stat = |f: &dyn Fn(&Tally) -> f64| {
        let mut v: Vec<f64> = tallies.iter().map(f).collect();
        Stats::of(&mut v)
    };
    let totals = model
        .products
        .iter()
        .enumerate()
        .map(|(k, &p)| {
            (
                p,
                stat(&|t| f64::from(t.total_doses[k])),
                stat(&|t| t.total_cells[k]),
                stat(&|t| t.after_cells[k]),
            )
        })
        .collect();
    let some = |f: &dyn Fn(&Tally) -> Option<i64>| {
        let mut v: Vec<f64> = tallies.iter().filter_map(f).map(|d| d as f64).collect();
        (!v.is_empty()).then(|| Stats::of(&mut v))
    };
    let reached = tallies.iter().filter(|t| t.full_day.is_some()).count();
    Summary {
        replicates: n as u64,
        weekly,
        monthly,
        enrolled: stat(&|t| f64::from(t.enrolled)),
        completed: stat(&|t| f64::from(t.completed)),
        died: stat(&|t| f64::from(t.died)),
        dropped_out: stat(&|t| f64::from(t.dropped_out)),
        totals,
        last_dose_day: some(&|t| t.last_dose_day),
        full_day: some(&|t| t.full_day),
        reached_share: reached as f64 / n.max(1) as f64,
    }
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
    }
}
