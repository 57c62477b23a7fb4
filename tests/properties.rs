//! Properties of the schedule core over the library API, for every arm of every bundled
//! scenario, random body weights in the usual range (including decimal weights that are
//! hostile to binary floating point) and random start dates in 2000-2100.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::LazyLock;

use chrono::{Datelike, Days, NaiveDate};
use proptest::prelude::*;

use dosesim::model::Kg;
use dosesim::model::{ComponentKind, DoseAmount, Interval, TimingRule, Trial, Unit};
use dosesim::scenario;
use dosesim::schedule::{Event, EventKind, Expand, Origin, Patient, Plan, check_weight};

static TRIALS: LazyLock<Vec<Trial>> = LazyLock::new(|| {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let files = scenario::files_in(&dir).expect("bundled scenarios");
    assert_eq!(files.len(), 5, "five bundled scenarios");
    files
        .iter()
        .map(|f| scenario::load(f).unwrap_or_else(|e| panic!("{}: {e}", f.display())))
        .collect()
});

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// `base` + `months` calendar months, clamped to the end of a shorter month: written
/// here from the definition, independently of `dosesim::timing`.
fn add_months_ref(base: NaiveDate, months: u32) -> NaiveDate {
    let m0 = base.year() * 12 + base.month0() as i32 + months as i32;
    let (y, m) = (m0.div_euclid(12), m0.rem_euclid(12) as u32 + 1);
    let first_next = if m == 12 {
        NaiveDate::from_ymd_opt(y + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(y, m + 1, 1)
    }
    .unwrap();
    let last = first_next.pred_opt().unwrap().day();
    NaiveDate::from_ymd_opt(y, m, base.day().min(last)).unwrap()
}

/// Date of study day `n`: day 1 is the start.
fn day_ref(start: NaiveDate, n: u32) -> NaiveDate {
    start + Days::new(u64::from(n) - 1)
}

/// A weight in kg, and when it is a decimal with at most three places, its exact value in
/// grams (so the exact dose can be computed in integers).
fn weights() -> impl Strategy<Value = (f64, Option<u64>)> {
    prop_oneof![
        (40.0f64..110.0).prop_map(|w| (w, None)),
        (40_000u64..=110_000).prop_map(|g| (g as f64 / 1000.0, Some(g))),
        (4_000u64..=11_000).prop_map(|c| (c as f64 / 100.0, Some(c * 10))),
        (400u64..=1_100).prop_map(|t| (t as f64 / 10.0, Some(t * 100))),
        prop::sample::select(vec![
            40_000u64, 110_000, 62_500, 70_070, 58_300, 45_005, 99_995, 80_105, 64_350, 73_255,
            40_001, 109_999, 55_555, 66_665,
        ])
        .prop_map(|g| (g as f64 / 1000.0, Some(g))),
    ]
}

/// The exact dose of `k` cells/kg (a whole number) for the weight as its decimal digits
/// say, rounded half up, in integers: an oracle independent of the decimal library.
fn exact_dose(k: f64, kg: Kg) -> f64 {
    assert_eq!(k.fract(), 0.0, "whole cells/kg in every bundled scenario");
    let text = kg.to_string();
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let mantissa: u128 = format!("{int}{frac}").parse().unwrap();
    let scale = 10u128.pow(frac.len() as u32);
    let num = k as u128 * mantissa;
    ((num + scale / 2) / scale) as f64
}

/// Start dates 2000-01-01 to 2100-12-31, with extra weight on month ends and leap days.
fn starts() -> impl Strategy<Value = NaiveDate> {
    let first = d("2000-01-01");
    let span = (d("2100-12-31") - first).num_days() as u64;
    prop_oneof![
        3 => (0..=span).prop_map(move |n| first + Days::new(n)),
        1 => (2000i32..=2100, 1u32..=12).prop_map(|(y, m)| {
            // The last day of month m.
            add_months_ref(NaiveDate::from_ymd_opt(y, m, 1).unwrap(), 1)
                .pred_opt()
                .unwrap()
        }),
        1 => (0i32..=25).prop_map(|k| NaiveDate::from_ymd_opt(2000 + 4 * k, 2, 29)
            .unwrap_or_else(|| NaiveDate::from_ymd_opt(2000 + 4 * k, 2, 28).unwrap())),
    ]
}

/// Every property, for one arm and one patient.
fn check_arm(
    trial: &Trial,
    arm_index: usize,
    weight: f64,
    grams: Option<u64>,
    start: NaiveDate,
) -> Result<(), TestCaseError> {
    let arm = &trial.arms[arm_index];
    let ctx = format!("{} {} {weight} kg from {start}", trial.id, arm.id);
    let kg = Kg::from_f64(weight);
    prop_assert_eq!(check_weight(kg, &trial.weight), Ok(None), "{}", ctx);
    let patient = Patient {
        id: "P1".into(),
        weight_kg: kg,
        start,
        site: None,
    };
    let plan = Plan::new(trial, arm);
    let events: Vec<Event> = plan
        .schedule_at(&patient, None)
        .map_err(|e| TestCaseError::fail(format!("{ctx}: {e}")))?;
    prop_assert_eq!(events.len(), plan.len(), "{}", ctx);

    // Dates and study days.
    for e in &events {
        prop_assert!(e.date >= start, "{}: {:?} before the start", ctx, e);
        prop_assert!(e.study_day >= 1, "{}: {:?}", ctx, e);
        prop_assert_eq!(e.study_day, (e.date - start).num_days() + 1, "{}", ctx);
    }

    // Sorted by (date, order_in_day), and order_in_day is 1..n on each date.
    for w in events.windows(2) {
        prop_assert!(
            (w[0].date, w[0].order_in_day) < (w[1].date, w[1].order_in_day),
            "{}: not in order: {:?} then {:?}",
            ctx,
            w[0],
            w[1]
        );
    }
    let mut per_date: BTreeMap<NaiveDate, Vec<u32>> = BTreeMap::new();
    for e in &events {
        per_date.entry(e.date).or_default().push(e.order_in_day);
    }
    for (date, orders) in &per_date {
        let want: Vec<u32> = (1..=orders.len() as u32).collect();
        prop_assert_eq!(orders, &want, "{}: order_in_day on {}", ctx, date);
    }

    // Cumulative dose per product: running sum, never decreasing, last = sum of doses.
    let mut totals: BTreeMap<usize, f64> = BTreeMap::new();
    for e in &events {
        match (e.dose, e.product(arm)) {
            (Some(dose), Some(p)) => {
                let t = totals.entry(p).or_insert(0.0);
                let before = *t;
                *t += dose;
                let cum = e.cumulative_dose.expect("a dose has a running total");
                prop_assert_eq!(cum, *t, "{}: running total of product {}", ctx, p);
                prop_assert!(cum >= before, "{}: cumulative dose decreased", ctx);
            }
            _ => prop_assert_eq!(e.cumulative_dose, None, "{}: {:?}", ctx, e),
        }
    }
    for (p, total) in &totals {
        let doses: f64 = events
            .iter()
            .filter(|e| e.product(arm) == Some(*p))
            .filter_map(|e| e.dose)
            .sum();
        let last = events
            .iter()
            .rev()
            .find(|e| e.product(arm) == Some(*p) && e.dose.is_some())
            .and_then(|e| e.cumulative_dose)
            .unwrap();
        prop_assert_eq!(last, doses, "{}", ctx);
        prop_assert_eq!(*total, doses, "{}", ctx);
    }

    // Each component: its count, its days, its dose.
    for (ci, c) in arm.components.iter().enumerate() {
        let mine: Vec<&Event> = events
            .iter()
            .filter(|e| e.origin == Origin::Component(ci))
            .collect();
        let n = c.timing.rule.count();
        prop_assert_eq!(mine.len() as u32, n, "{}: {} doses", ctx, c.id);
        let want_kind = match c.kind {
            ComponentKind::CellInfusion => EventKind::CellInfusion,
            ComponentKind::PlasmaExchange => EventKind::PlasmaExchange,
        };
        for (k, e) in mine.iter().enumerate() {
            prop_assert_eq!(e.kind, want_kind, "{}", ctx);
            prop_assert_eq!(e.occurrence, k as u32 + 1, "{}: occurrences in order", ctx);
            prop_assert_eq!(e.occurrences, n, "{}", ctx);
        }
        // Dates from the regimen, computed here from the definitions.
        let want_dates: Vec<NaiveDate> = match &c.timing.rule {
            TimingRule::Days(days) => days.iter().map(|&n| day_ref(start, n)).collect(),
            TimingRule::Every {
                start_day,
                interval,
                count,
            } => (0..*count)
                .map(|k| match interval {
                    Interval::Days(n) => day_ref(start, start_day + k * n),
                    Interval::Weeks(n) => day_ref(start, start_day + k * n * 7),
                    Interval::Months(n) => add_months_ref(day_ref(start, *start_day), k * n),
                })
                .collect(),
        };
        let got_dates: Vec<NaiveDate> = mine.iter().map(|e| e.date).collect();
        prop_assert_eq!(got_dates, want_dates, "{}: dates of {}", ctx, c.id);

        let product = &trial.products[c.product];
        for e in &mine {
            match c.dose.amount {
                DoseAmount::PerKg(k) => {
                    let dose = e.dose.expect("a per-kg component is dosed");
                    prop_assert_eq!(e.dose_per_kg, Some(k), "{}", ctx);
                    prop_assert!(
                        (dose - k * weight).abs() <= 0.5,
                        "{}: {} cells/kg x {} kg gave {}",
                        ctx,
                        k,
                        weight,
                        dose
                    );
                    prop_assert_eq!(dose, exact_dose(k, kg), "{}", ctx);
                    prop_assert_eq!(dose.fract(), 0.0, "{}: whole cells", ctx);
                    if let Some(g) = grams {
                        // k is a whole number of cells/kg (a multiple of 1000 in every
                        // bundled scenario), so k x grams / 1000 is the exact dose.
                        prop_assert_eq!(k.fract(), 0.0);
                        let exact = k as u64 * g;
                        prop_assert_eq!(exact % 1000, 0, "{}: pick whole-cell doses", ctx);
                        prop_assert_eq!(dose, (exact / 1000) as f64, "{}: exact dose", ctx);
                    }
                }
                DoseAmount::Fixed(x) => {
                    prop_assert_eq!(e.dose, Some(x), "{}", ctx);
                    prop_assert_eq!(e.dose_per_kg, None, "{}", ctx);
                }
                DoseAmount::None => prop_assert_eq!(e.dose, None, "{}", ctx),
            }
            let volume = e.dose.and_then(|dose| match product.unit {
                Unit::Ml => Some(dose),
                Unit::Cells => product.concentration_cells_per_ml.map(|c| dose / c),
            });
            prop_assert_eq!(e.volume_ml, volume, "{}", ctx);
            // An infusion given after another component follows it that day.
            if let Some(a) = e.after {
                let before = events.iter().find(|o| {
                    o.origin == Origin::Component(a)
                        && o.date == e.date
                        && o.order_in_day < e.order_in_day
                });
                prop_assert!(before.is_some(), "{}: {:?} follows nothing", ctx, e);
            }
        }
    }

    // Visits and background treatment: on their study day, never dosed.
    for (vi, v) in arm.visits.iter().enumerate() {
        let e: Vec<&Event> = events
            .iter()
            .filter(|e| e.origin == Origin::Visit(vi))
            .collect();
        prop_assert_eq!(e.len(), 1, "{}", ctx);
        prop_assert_eq!(e[0].kind, EventKind::Visit);
        prop_assert_eq!(e[0].date, day_ref(start, v.day), "{}: visit {}", ctx, v.id);
        prop_assert_eq!(e[0].dose, None);
    }
    for (bi, b) in arm.background.iter().enumerate() {
        let e: Vec<&Event> = events
            .iter()
            .filter(|e| e.origin == Origin::Background(bi))
            .collect();
        prop_assert_eq!(e.len(), 1, "{}", ctx);
        prop_assert_eq!(e[0].kind, EventKind::Background);
        prop_assert_eq!(e[0].date, day_ref(start, b.start_day), "{}", ctx);
        prop_assert_eq!(e[0].dose, None);
    }
    prop_assert_eq!(
        events.len(),
        arm.components
            .iter()
            .map(|c| c.timing.rule.count() as usize)
            .sum::<usize>()
            + arm.visits.len()
            + arm.background.len(),
        "{}: nothing else on the calendar",
        ctx
    );
    Ok(())
}

#[test]
fn all_thirteen_arms_are_bundled() {
    let arms: usize = TRIALS.iter().map(|t| t.arms.len()).sum();
    assert_eq!(arms, 13);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn every_arm_holds_the_calendar_properties((weight, grams) in weights(), start in starts()) {
        for trial in TRIALS.iter() {
            for a in 0..trial.arms.len() {
                check_arm(trial, a, weight, grams, start)?;
            }
        }
    }

    /// Expanding the same plan twice, or into a reused buffer, gives the same events.
    #[test]
    fn expansion_is_repeatable((weight, _) in weights(), s1 in starts(), s2 in starts()) {
        for trial in TRIALS.iter() {
            for arm in &trial.arms {
                let plan = Plan::new(trial, arm);
                let mut buf = Vec::new();
                plan.expand(&Expand::new(Kg::from_f64(weight), s2), &mut buf).unwrap();
                plan.expand(&Expand::new(Kg::from_f64(weight), s1), &mut buf).unwrap();
                let p = Patient { id: "P".into(), weight_kg: Kg::from_f64(weight), start: s1, site: None };
                prop_assert_eq!(&buf, &plan.schedule_at(&p, None).unwrap());
            }
        }
    }

    /// The pharmacy stream's one-date expansion gives exactly the full calendar's events
    /// of that date (same order, same running totals), for every date of the calendar and
    /// for dates with nothing on them.
    #[test]
    fn one_date_expansion_equals_the_full_calendar_of_that_date(
        (weight, _) in weights(),
        start in starts(),
    ) {
        for trial in TRIALS.iter() {
            for arm in &trial.arms {
                let plan = Plan::new(trial, arm);
                let p = Patient { id: "P".into(), weight_kg: Kg::from_f64(weight), start, site: None };
                let all = plan.schedule_at(&p, None).unwrap();
                let mut dates: Vec<NaiveDate> = all.iter().map(|e| e.date).collect();
                dates.push(start + Days::new(2));
                dates.push(start + Days::new(1000));
                dates.dedup();
                let mut buf = Vec::new();
                for date in dates {
                    plan.expand_on(&Expand::new(Kg::from_f64(weight), start), date, &mut buf).unwrap();
                    let want: Vec<Event> = all.iter().filter(|e| e.date == date).copied().collect();
                    prop_assert_eq!(&buf, &want, "{} {} {}", trial.id, arm.id, date);
                }
            }
        }
    }
}

/// The reference month arithmetic itself, against the project's worked examples.
#[test]
fn reference_month_arithmetic_matches_the_decisions() {
    let s = d("2026-11-30");
    let got: Vec<NaiveDate> = (0..4).map(|k| add_months_ref(s, 3 * k)).collect();
    assert_eq!(
        got,
        [
            d("2026-11-30"),
            d("2027-02-28"),
            d("2027-05-30"),
            d("2027-08-30")
        ]
    );
    assert_eq!(add_months_ref(d("2027-11-30"), 3), d("2028-02-29"));
    assert_eq!(add_months_ref(d("2027-12-31"), 12), d("2028-12-31"));
    assert_eq!(day_ref(d("2026-12-30"), 4), d("2027-01-02"));
}
