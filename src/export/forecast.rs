//! The forecast's CSV files: weekly.csv and monthly.csv (per period, site and product: doses
//! and amount as mean and percentiles, the cumulative amount, the lots released by then,
//! capacity and the chance of exceeding it), summary.csv (patients, totals, what the
//! record shows, the week of the last dose) and lots.csv (the release plan). Plain numbers
//! only: whole cells without exponents, mL to 0.01, so a spreadsheet reads every cell as
//! the number it is. Every row whose figures rest on an assumed regimen value names them
//! in its `assumed` column, as pharmacy.csv does.

use std::io::Write;

use chrono::NaiveDate;

use crate::forecast::Model;
use crate::forecast::stats::{PERCENTILE_NAMES, PeriodRow, Stats, Summary};
use crate::format::{Amount, inert};
use crate::model::{Assumed, Unit};

/// The doses percentiles shown (the amounts show all of [`PERCENTILE_NAMES`]).
const DOSE_PERCENTILES: [&str; 4] = ["p5", "p50", "p95", "p99"];
/// The cumulative amount's percentiles shown.
const CUMULATIVE_PERCENTILES: [&str; 4] = ["p5", "p50", "p95", "p99"];
/// The site column's value on the rows of all sites together.
pub const ALL_SITES: &str = "all sites";

/// `2027-W03`: the ISO week of a date.
pub fn iso_week(date: NaiveDate) -> String {
    date.format("%G-W%V").to_string()
}

/// Whole numbers as digits, without exponent or decimals.
fn whole(x: f64) -> String {
    format!("{:.0}", x)
}

/// The site column: the site's id, or [`ALL_SITES`].
pub fn site_name<'a>(m: &'a Model, site: Option<usize>) -> &'a str {
    site.map_or(ALL_SITES, |s| m.sites[s].as_str())
}

fn header(first: &[&str]) -> Vec<String> {
    let mut h: Vec<String> = first.iter().map(|s| s.to_string()).collect();
    for c in ["site", "product", "unit", "doses_mean"] {
        h.push(c.into());
    }
    for p in DOSE_PERCENTILES {
        h.push(format!("doses_{p}"));
    }
    h.push("amount_mean".into());
    for p in PERCENTILE_NAMES {
        h.push(format!("amount_{p}"));
    }
    h.push("cumulative_mean".into());
    for p in CUMULATIVE_PERCENTILES {
        h.push(format!("cumulative_{p}"));
    }
    for c in [
        "lot_cells",
        "lots_released_p50",
        "lots_released_p95",
        "capacity_cells_per_week",
        "p_over_capacity",
        "assumed",
    ] {
        h.push(c.into());
    }
    h
}

/// An amount of the product's unit as plain digits: whole cells, mL to 0.01.
fn plain(x: f64, unit: Unit) -> String {
    Amount { value: x, unit }.plain()
}

fn figures(m: &Model, r: &PeriodRow, out: &mut Vec<String>) {
    let p = &m.trial.products[r.product];
    out.push(inert(site_name(m, r.site)).into_owned());
    out.push(inert(&p.id).into_owned());
    out.push(p.unit.as_str().to_string());
    out.push(format!("{:.2}", r.doses.mean));
    for q in DOSE_PERCENTILES {
        out.push(whole(r.doses.p(q)));
    }
    out.push(plain(r.amount.mean, p.unit));
    out.extend(r.amount.q.iter().map(|&q| plain(q, p.unit)));
    out.push(plain(r.cumulative.mean, p.unit));
    for q in CUMULATIVE_PERCENTILES {
        out.push(plain(r.cumulative.p(q), p.unit));
    }
    out.push(r.lot_cells.map(whole).unwrap_or_default());
    out.push(r.lots_released.map(|l| whole(l.0)).unwrap_or_default());
    out.push(r.lots_released.map(|l| whole(l.1)).unwrap_or_default());
    out.push(
        r.capacity_per_week
            .map(|c| whole(c.floor()))
            .unwrap_or_default(),
    );
    out.push(
        r.p_over_capacity
            .map(|p| format!("{p:.4}"))
            .unwrap_or_default(),
    );
    out.push(r.assumed.to_string());
}

/// weekly.csv: one row per ISO week of the horizon, site (all sites first) and product.
pub fn write_weekly(m: &Model, s: &Summary, out: impl Write) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(header(&["week_start", "iso_week"]))?;
    let mut rec = Vec::new();
    for r in &s.weekly {
        rec.clear();
        rec.push(r.start.to_string());
        rec.push(iso_week(r.start));
        figures(m, r, &mut rec);
        w.write_record(&rec)?;
    }
    w.flush()?;
    Ok(())
}

/// monthly.csv: one row per calendar month touching the horizon, site and product; a
/// month cut by the horizon says how many of its days are counted.
pub fn write_monthly(m: &Model, s: &Summary, out: impl Write) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(header(&["month", "first_day", "days_counted"]))?;
    let mut rec = Vec::new();
    for r in &s.monthly {
        rec.clear();
        rec.push(r.start.format("%Y-%m").to_string());
        rec.push(r.start.to_string());
        rec.push(r.days.to_string());
        figures(m, r, &mut rec);
        w.write_record(&rec)?;
    }
    w.flush()?;
    Ok(())
}

/// The assumed values that decide when a patient's schedule ends (so whether they
/// completed) and when the last dose falls: the timing and closed-day rules.
fn timing_flags(m: &Model) -> Assumed {
    let mut a = Assumed::NONE;
    for k in 0..m.products.len() {
        let all = m.assumed_of(None, k);
        for f in [Assumed::TIMING, Assumed::CLOSED_DAY_RULE] {
            if all.contains(f) {
                a |= f;
            }
        }
    }
    a
}

/// summary.csv: patients, totals per product (all sites, then each site), what the
/// record shows, and the weeks of the last dose and of a full enrolment, each as mean,
/// P5, P50 and P95 over the replicates.
pub fn write_summary(m: &Model, s: &Summary, out: impl Write) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "measure", "site", "product", "unit", "mean", "p5", "p50", "p95", "assumed",
    ])?;
    let timing = timing_flags(m).to_string();
    struct Row<'a> {
        measure: &'a str,
        site: Option<usize>,
        product: &'a str,
        unit: &'a str,
        assumed: &'a str,
    }
    // Means of counts to 0.01, their percentiles whole; amounts as plain digits.
    let row = |w: &mut csv::Writer<_>, r: Row, st: &Stats, show: &dyn Fn(f64) -> String| {
        let count = r.unit == "patients" || r.unit == "doses";
        let mut rec = vec![
            r.measure.to_string(),
            inert(site_name(m, r.site)).into_owned(),
            inert(r.product).into_owned(),
            r.unit.to_string(),
            if count {
                format!("{:.2}", st.mean)
            } else {
                show(st.mean)
            },
        ];
        rec.extend(
            ["p5", "p50", "p95"].map(|q| if count { whole(st.p(q)) } else { show(st.p(q)) }),
        );
        rec.push(r.assumed.to_string());
        w.write_record(&rec)
    };
    let fact = |x: f64| Stats { mean: x, q: [x; 6] };
    let mut patients = vec![(None, &s.enrolled, &s.completed, &s.died, &s.dropped_out)];
    patients.extend(
        s.site_patients
            .iter()
            .map(|p| (p.site, &p.enrolled, &p.completed, &p.died, &p.dropped_out)),
    );
    for (site, enrolled, completed, died, dropped) in patients {
        for (measure, st, assumed) in [
            ("patients_enrolled", enrolled, ""),
            ("patients_completed", completed, timing.as_str()),
            ("patients_died_before_completing", died, timing.as_str()),
            (
                "patients_dropped_out_before_completing",
                dropped,
                timing.as_str(),
            ),
        ] {
            let r = Row {
                measure,
                site,
                product: "",
                unit: "patients",
                assumed,
            };
            row(&mut w, r, st, &whole)?;
        }
    }
    for t in &s.totals {
        let p = &m.trial.products[t.product];
        let assumed = t.assumed.to_string();
        let unit = p.unit.as_str();
        let amount = |x: f64| plain(x, p.unit);
        let r = |measure, unit| Row {
            measure,
            site: t.site,
            product: &p.id,
            unit,
            assumed: &assumed,
        };
        row(&mut w, r("doses", "doses"), &t.doses, &whole)?;
        row(&mut w, r("amount", unit), &t.amount, &amount)?;
        row(
            &mut w,
            r("amount_after_horizon", unit),
            &t.after_horizon,
            &amount,
        )?;
        if m.facts.as_of.is_some() {
            let plain_row = Row {
                assumed: "",
                ..r("doses_given_to_date", "doses")
            };
            row(&mut w, plain_row, &fact(f64::from(t.given_doses)), &whole)?;
            let plain_row = Row {
                assumed: "",
                ..r("amount_given_to_date", unit)
            };
            row(&mut w, plain_row, &fact(t.given_amount), &amount)?;
            row(
                &mut w,
                r("doses_overdue_counted_as_to_give", "doses"),
                &fact(f64::from(t.overdue_doses)),
                &whole,
            )?;
        }
    }
    let date_of = |d: f64| m.date_of(d as i64);
    let weeks = |w: &mut csv::Writer<_>, measure: &str, st: &Option<Stats>, assumed: &str| {
        let mut rec = vec![
            measure.to_string(),
            ALL_SITES.to_string(),
            String::new(),
            "ISO week".into(),
            String::new(),
        ];
        rec.extend(
            ["p5", "p50", "p95"]
                .map(|q| st.map(|st| iso_week(date_of(st.p(q)))).unwrap_or_default()),
        );
        rec.push(assumed.to_string());
        w.write_record(&rec)
    };
    weeks(&mut w, "last_dose_week", &s.last_dose_day, &timing)?;
    weeks(&mut w, "enrolment_complete_week", &s.full_day, "")?;
    let one = |w: &mut csv::Writer<_>, measure: &str, unit: &str, value: String| {
        w.write_record([measure, ALL_SITES, "", unit, &value, "", "", "", ""])
    };
    one(
        &mut w,
        "replicates_enrolment_complete",
        "share of replicates",
        format!("{:.4}", s.reached_share),
    )?;
    one(&mut w, "replicates", "replicates", s.replicates.to_string())?;
    if let Some(as_of) = m.facts.as_of {
        one(&mut w, "record_complete_to", "date", as_of.to_string())?;
        one(
            &mut w,
            "patients_died_recorded",
            "patients",
            m.facts.recorded_deaths.to_string(),
        )?;
        one(
            &mut w,
            "patients_withdrawn_recorded",
            "patients",
            m.facts.recorded_withdrawals.to_string(),
        )?;
    }
    w.flush()?;
    Ok(())
}

/// lots.csv: each cell product's release plan. One row per lot: the ISO week in which the
/// cumulative P50 (and P95) first needs it, the Monday it must be released by, and, with a
/// lead time in the plan, the day its manufacture must start.
pub fn write_lots(m: &Model, s: &Summary, out: impl Write) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "product",
        "lot",
        "lot_cells",
        "iso_week_p50",
        "released_by_p50",
        "start_by_p50",
        "iso_week_p95",
        "released_by_p95",
        "start_by_p95",
        "lead_time_weeks",
        "note",
        "assumed",
    ])?;
    for plan in &s.lots {
        let id = inert(&m.trial.products[plan.product].id).into_owned();
        let assumed = plan.assumed.to_string();
        for &(lot, p50, p95) in &plan.lots {
            let mut rec = vec![id.clone(), lot.to_string(), whole(plan.lot_cells)];
            let mut late = Vec::new();
            for (week, name) in [(p50, "P50"), (p95, "P95")] {
                match week {
                    Some(week) => {
                        let monday = m.date_of(week as i64 * 7);
                        rec.push(iso_week(monday));
                        rec.push(monday.to_string());
                        let start = plan
                            .lead_time_weeks
                            .map(|l| monday - chrono::Days::new(u64::from(l) * 7));
                        if start.is_some_and(|d| d < m.week0) {
                            late.push(name);
                        }
                        rec.push(start.map(|d| d.to_string()).unwrap_or_default());
                    }
                    None => rec.extend([String::new(), String::new(), String::new()]),
                }
            }
            rec.push(
                plan.lead_time_weeks
                    .map(|l| l.to_string())
                    .unwrap_or_default(),
            );
            rec.push(if late.is_empty() {
                String::new()
            } else {
                format!(
                    "its {} start date is before the first week forecast ({}): late unless already started",
                    late.join(" and "),
                    m.week0
                )
            });
            rec.push(assumed.clone());
            w.write_record(&rec)?;
        }
    }
    w.flush()?;
    Ok(())
}
