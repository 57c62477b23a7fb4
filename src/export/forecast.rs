//! The forecast's CSV files: weekly.csv and monthly.csv (per period and product: doses and
//! cells as mean and percentiles, lots, capacity and the chance of exceeding it) and
//! summary.csv (patients, totals, the week of the last dose). Plain numbers only: whole
//! cells without exponents, so a spreadsheet reads every cell as the number it is.

use std::io::Write;

use chrono::NaiveDate;

use crate::forecast::stats::{PERCENTILE_NAMES, PeriodRow, Stats, Summary};
use crate::format::inert;
use crate::model::Trial;

/// The doses percentiles shown (the cells show all of [`PERCENTILE_NAMES`]).
const DOSE_PERCENTILES: [&str; 4] = ["p5", "p50", "p95", "p99"];

/// `2027-W03`: the ISO week of a date.
pub fn iso_week(date: NaiveDate) -> String {
    date.format("%G-W%V").to_string()
}

/// Whole numbers as digits, without exponent or decimals.
fn whole(x: f64) -> String {
    format!("{:.0}", x)
}

fn header(first: &[&str]) -> Vec<String> {
    let mut h: Vec<String> = first.iter().map(|s| s.to_string()).collect();
    h.push("product".into());
    h.push("doses_mean".into());
    for p in DOSE_PERCENTILES {
        h.push(format!("doses_{p}"));
    }
    h.push("cells_mean".into());
    for p in PERCENTILE_NAMES {
        h.push(format!("cells_{p}"));
    }
    for c in [
        "lot_cells",
        "lots_p50",
        "lots_p95",
        "capacity_cells",
        "p_over_capacity",
    ] {
        h.push(c.into());
    }
    h
}

fn figures(trial: &Trial, r: &PeriodRow, out: &mut Vec<String>) {
    out.push(inert(&trial.products[r.product].id).into_owned());
    out.push(format!("{:.2}", r.doses.mean));
    for p in DOSE_PERCENTILES {
        out.push(whole(r.doses.p(p)));
    }
    out.push(whole(r.cells.mean));
    out.extend(r.cells.q.iter().map(|&q| whole(q)));
    out.push(r.lot_cells.map(whole).unwrap_or_default());
    out.push(r.lots.map(|l| whole(l.0)).unwrap_or_default());
    out.push(r.lots.map(|l| whole(l.1)).unwrap_or_default());
    out.push(r.capacity.map(|c| whole(c.floor())).unwrap_or_default());
    out.push(
        r.p_over_capacity
            .map(|p| format!("{p:.4}"))
            .unwrap_or_default(),
    );
}

/// weekly.csv: one row per ISO week of the horizon and product.
pub fn write_weekly(trial: &Trial, s: &Summary, out: impl Write) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(header(&["week_start", "iso_week"]))?;
    for r in &s.weekly {
        let mut rec = vec![r.start.to_string(), iso_week(r.start)];
        figures(trial, r, &mut rec);
        w.write_record(&rec)?;
    }
    w.flush()?;
    Ok(())
}

/// monthly.csv: one row per calendar month touching the horizon and product; a month cut
/// by the horizon says how many of its days are counted.
pub fn write_monthly(trial: &Trial, s: &Summary, out: impl Write) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(header(&["month", "first_day", "days_counted"]))?;
    for r in &s.monthly {
        let mut rec = vec![
            r.start.format("%Y-%m").to_string(),
            r.start.to_string(),
            r.days.to_string(),
        ];
        figures(trial, r, &mut rec);
        w.write_record(&rec)?;
    }
    w.flush()?;
    Ok(())
}

/// summary.csv: patients, totals per product and the weeks of the last dose and of a full
/// enrolment, each as mean, P5, P50 and P95 over the replicates.
pub fn write_summary(
    trial: &Trial,
    s: &Summary,
    date_of: &dyn Fn(i64) -> NaiveDate,
    out: impl Write,
) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(["measure", "product", "unit", "mean", "p5", "p50", "p95"])?;
    let row = |w: &mut csv::Writer<_>, m: &str, p: &str, unit: &str, st: &Stats, dp: usize| {
        let mut rec = vec![
            m.to_string(),
            inert(p).into_owned(),
            unit.to_string(),
            format!("{:.*}", dp, st.mean),
        ];
        rec.extend(["p5", "p50", "p95"].map(|q| whole(st.p(q))));
        w.write_record(&rec)
    };
    row(&mut w, "patients_enrolled", "", "patients", &s.enrolled, 2)?;
    row(
        &mut w,
        "patients_completed",
        "",
        "patients",
        &s.completed,
        2,
    )?;
    row(
        &mut w,
        "patients_died_before_completing",
        "",
        "patients",
        &s.died,
        2,
    )?;
    row(
        &mut w,
        "patients_dropped_out_before_completing",
        "",
        "patients",
        &s.dropped_out,
        2,
    )?;
    for (p, doses, cells, after) in &s.totals {
        let id = &trial.products[*p].id;
        row(&mut w, "doses", id, "doses", doses, 2)?;
        row(&mut w, "cells", id, "cells", cells, 0)?;
        row(&mut w, "cells_after_horizon", id, "cells", after, 0)?;
    }
    let weeks = |w: &mut csv::Writer<_>, m: &str, st: &Option<Stats>| {
        let mut rec = vec![
            m.to_string(),
            String::new(),
            "ISO week".into(),
            String::new(),
        ];
        rec.extend(["p5", "p50", "p95"].map(|q| {
            st.map(|st| iso_week(date_of(st.p(q) as i64)))
                .unwrap_or_default()
        }));
        w.write_record(&rec)
    };
    weeks(&mut w, "last_dose_week", &s.last_dose_day)?;
    weeks(&mut w, "enrolment_complete_week", &s.full_day)?;
    w.write_record([
        "replicates_enrolment_complete",
        "",
        "share of replicates",
        &format!("{:.4}", s.reached_share),
        "",
        "",
        "",
    ])?;
    w.write_record([
        "replicates",
        "",
        "replicates",
        &s.replicates.to_string(),
        "",
        "",
        "",
    ])?;
    w.flush()?;
    Ok(())
}
