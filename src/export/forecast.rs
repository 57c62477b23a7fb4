//! The forecast's CSV files: weekly.csv and monthly.csv (per period, site and product: doses
//! and amount as mean and percentiles, the cumulative amount, the lots released by then,
//! capacity and the chance of exceeding it), summary.csv (patients, totals, what the
//! record shows, the week of the last dose) and lots.csv (the release plan). Plain numbers
//! only: whole cells without exponents, mL to 0.01, so a spreadsheet reads every cell as
//! the number it is. Every row whose figures rest on an assumed regimen value names them
//! in its `assumed` column, as pharmacy.csv does. Each file's columns are named once,
//! beside their cells ([`Col`]), over typed rows.

use std::io::Write;

use chrono::NaiveDate;

use super::columns::{Col, col, write_csv};
use crate::forecast::Model;
use crate::forecast::stats::{LotPlan, PeriodRow, Stats, Summary};
use crate::format::{Amount, inert};
use crate::model::{Assumed, Product, Unit};

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

/// An amount of the product's unit as plain digits: whole cells, mL to 0.01.
fn plain(x: f64, unit: Unit) -> String {
    Amount { value: x, unit }.plain()
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

/// A row of weekly.csv or monthly.csv: a period's figures for a site and product.
pub struct Period<'a> {
    pub model: &'a Model<'a>,
    pub row: &'a PeriodRow,
}

impl Period<'_> {
    fn product(&self) -> &Product {
        &self.model.trial.products[self.row.product]
    }

    /// An amount of the row's product, as plain digits.
    fn amount(&self, x: f64) -> String {
        plain(x, self.product().unit)
    }
}

/// The columns weekly.csv and monthly.csv share, after their period's own.
fn period_figures<'a>() -> [Col<Period<'a>>; 26] {
    [
        col("site", |p| {
            inert(site_name(p.model, p.row.site)).into_owned()
        }),
        col("product", |p| inert(&p.product().id).into_owned()),
        col("unit", |p| p.product().unit.as_str().to_string()),
        col("doses_mean", |p| format!("{:.2}", p.row.doses.mean)),
        col("doses_p5", |p| whole(p.row.doses.p("p5"))),
        col("doses_p50", |p| whole(p.row.doses.p("p50"))),
        col("doses_p95", |p| whole(p.row.doses.p("p95"))),
        col("doses_p99", |p| whole(p.row.doses.p("p99"))),
        col("amount_mean", |p| p.amount(p.row.amount.mean)),
        col("amount_p5", |p| p.amount(p.row.amount.p("p5"))),
        col("amount_p25", |p| p.amount(p.row.amount.p("p25"))),
        col("amount_p50", |p| p.amount(p.row.amount.p("p50"))),
        col("amount_p75", |p| p.amount(p.row.amount.p("p75"))),
        col("amount_p95", |p| p.amount(p.row.amount.p("p95"))),
        col("amount_p99", |p| p.amount(p.row.amount.p("p99"))),
        col("cumulative_mean", |p| p.amount(p.row.cumulative.mean)),
        col("cumulative_p5", |p| p.amount(p.row.cumulative.p("p5"))),
        col("cumulative_p50", |p| p.amount(p.row.cumulative.p("p50"))),
        col("cumulative_p95", |p| p.amount(p.row.cumulative.p("p95"))),
        col("cumulative_p99", |p| p.amount(p.row.cumulative.p("p99"))),
        col("lot_cells", |p| {
            p.row.lot_cells.map(whole).unwrap_or_default()
        }),
        col("lots_released_p50", |p| {
            p.row.lots_released.map(|l| whole(l.0)).unwrap_or_default()
        }),
        col("lots_released_p95", |p| {
            p.row.lots_released.map(|l| whole(l.1)).unwrap_or_default()
        }),
        col("capacity_cells_per_week", |p| {
            p.row
                .capacity_per_week
                .map(|c| whole(c.floor()))
                .unwrap_or_default()
        }),
        col("p_over_capacity", |p| {
            p.row
                .p_over_capacity
                .map(|x| format!("{x:.4}"))
                .unwrap_or_default()
        }),
        col("assumed", |p| p.row.assumed.to_string()),
    ]
}

/// A period file's columns: its period's own, then the shared figures.
fn period_columns<'a>(lead: Vec<Col<Period<'a>>>) -> Vec<Col<Period<'a>>> {
    lead.into_iter().chain(period_figures()).collect()
}

/// A period file: the header and one row per period, site and product.
fn write_periods<'a>(
    m: &'a Model<'a>,
    rows: &'a [PeriodRow],
    lead: Vec<Col<Period<'a>>>,
    out: impl Write,
) -> csv::Result<()> {
    let rows = rows.iter().map(|row| Period { model: m, row });
    write_csv(out, &period_columns(lead), rows)
}

/// weekly.csv: one row per ISO week of the horizon, site (all sites first) and product.
pub fn write_weekly(m: &Model, s: &Summary, out: impl Write) -> csv::Result<()> {
    let lead = vec![
        col("week_start", |p: &Period| p.row.start.to_string()),
        col("iso_week", |p| iso_week(p.row.start)),
    ];
    write_periods(m, &s.weekly, lead, out)
}

/// monthly.csv: one row per calendar month touching the horizon, site and product; a
/// month cut by the horizon says how many of its days are counted.
pub fn write_monthly(m: &Model, s: &Summary, out: impl Write) -> csv::Result<()> {
    let lead = vec![
        col("month", |p: &Period| {
            p.row.start.format("%Y-%m").to_string()
        }),
        col("first_day", |p| p.row.start.to_string()),
        col("days_counted", |p| p.row.days.to_string()),
    ];
    write_periods(m, &s.monthly, lead, out)
}

/// A row of summary.csv: one measure of a site (or all sites) and product.
pub struct SummaryLine<'a> {
    pub measure: &'static str,
    pub site: &'a str,
    pub product: &'a str,
    pub unit: &'a str,
    pub figures: Figures,
    pub assumed: String,
}

/// The figures of a summary.csv row, as its mean and percentile columns print them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Figures {
    /// Patients or doses: the mean to 0.01, the percentiles whole.
    Count(Stats),
    /// An amount of a product's unit: plain digits.
    Amount(Stats, Unit),
    /// Days as ISO weeks: the percentiles only (none when no replicate has one).
    Weeks(Option<[NaiveDate; 3]>),
    /// One figure, in the mean column.
    One(Fact),
}

/// A single figure of summary.csv.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fact {
    /// A share to 0.0001.
    Share(f64),
    Count(u64),
    Date(NaiveDate),
}

impl Figures {
    /// The mean column.
    fn mean(&self) -> String {
        match *self {
            Figures::Count(st) => format!("{:.2}", st.mean),
            Figures::Amount(st, unit) => plain(st.mean, unit),
            Figures::Weeks(_) => String::new(),
            Figures::One(Fact::Share(x)) => format!("{x:.4}"),
            Figures::One(Fact::Count(n)) => n.to_string(),
            Figures::One(Fact::Date(d)) => d.to_string(),
        }
    }

    /// The percentile column `k` of P5, P50, P95.
    fn percentile(&self, k: usize) -> String {
        let name = ["p5", "p50", "p95"][k];
        match *self {
            Figures::Count(st) => whole(st.p(name)),
            Figures::Amount(st, unit) => plain(st.p(name), unit),
            Figures::Weeks(weeks) => weeks.map(|w| iso_week(w[k])).unwrap_or_default(),
            Figures::One(_) => String::new(),
        }
    }
}

/// summary.csv's columns, each named beside its cell.
pub fn summary_columns<'a>() -> [Col<SummaryLine<'a>>; 9] {
    [
        col("measure", |r| r.measure.to_string()),
        col("site", |r| inert(r.site).into_owned()),
        col("product", |r| inert(r.product).into_owned()),
        col("unit", |r| r.unit.to_string()),
        col("mean", |r| r.figures.mean()),
        col("p5", |r| r.figures.percentile(0)),
        col("p50", |r| r.figures.percentile(1)),
        col("p95", |r| r.figures.percentile(2)),
        col("assumed", |r| r.assumed.clone()),
    ]
}

/// A figure the same in every replicate, as statistics.
fn fact(x: f64) -> Stats {
    Stats { mean: x, q: [x; 6] }
}

/// The patient rows: enrolled, completed, died and dropped out, all sites, then each site.
fn patient_lines<'a>(m: &'a Model, s: &'a Summary, timing: &str) -> Vec<SummaryLine<'a>> {
    let mut patients = vec![(None, &s.enrolled, &s.completed, &s.died, &s.dropped_out)];
    patients.extend(
        s.site_patients
            .iter()
            .map(|p| (p.site, &p.enrolled, &p.completed, &p.died, &p.dropped_out)),
    );
    let mut out = Vec::new();
    for (site, enrolled, completed, died, dropped) in patients {
        for (measure, st, assumed) in [
            ("patients_enrolled", enrolled, ""),
            ("patients_completed", completed, timing),
            ("patients_died_before_completing", died, timing),
            ("patients_dropped_out_before_completing", dropped, timing),
        ] {
            out.push(SummaryLine {
                measure,
                site: site_name(m, site),
                product: "",
                unit: "patients",
                figures: Figures::Count(*st),
                assumed: assumed.to_string(),
            });
        }
    }
    out
}

/// The product rows: doses and amounts per product (all sites, then each site), and with
/// a record, what it shows given and overdue.
fn product_lines<'a>(m: &'a Model, s: &'a Summary) -> Vec<SummaryLine<'a>> {
    let mut out = Vec::new();
    for t in &s.totals {
        let p = &m.trial.products[t.product];
        let assumed = t.assumed.to_string();
        let unit = p.unit.as_str();
        let line = |measure, unit, figures, assumed: &str| SummaryLine {
            measure,
            site: site_name(m, t.site),
            product: &p.id,
            unit,
            figures,
            assumed: assumed.to_string(),
        };
        out.push(line("doses", "doses", Figures::Count(t.doses), &assumed));
        out.push(line(
            "amount",
            unit,
            Figures::Amount(t.amount, p.unit),
            &assumed,
        ));
        out.push(line(
            "amount_after_horizon",
            unit,
            Figures::Amount(t.after_horizon, p.unit),
            &assumed,
        ));
        if m.facts.as_of.is_some() {
            let given = fact(f64::from(t.given_doses));
            out.push(line(
                "doses_given_to_date",
                "doses",
                Figures::Count(given),
                "",
            ));
            let amount = Figures::Amount(fact(t.given_amount), p.unit);
            out.push(line("amount_given_to_date", unit, amount, ""));
            out.push(line(
                "doses_overdue_counted_as_to_give",
                "doses",
                Figures::Count(fact(f64::from(t.overdue_doses))),
                &assumed,
            ));
        }
    }
    out
}

/// The rows of all sites: the weeks of the last dose and of a full enrolment, the
/// replicates, and with a record, what it shows of the cohort.
fn trial_lines(m: &Model, s: &Summary, timing: &str) -> Vec<SummaryLine<'static>> {
    let weeks = |measure, st: &Option<Stats>, assumed: &str| SummaryLine {
        measure,
        site: ALL_SITES,
        product: "",
        unit: "ISO week",
        figures: Figures::Weeks(
            st.map(|st| ["p5", "p50", "p95"].map(|q| m.date_of(st.p(q) as i64))),
        ),
        assumed: assumed.to_string(),
    };
    let one = |measure, unit, fact| SummaryLine {
        measure,
        site: ALL_SITES,
        product: "",
        unit,
        figures: Figures::One(fact),
        assumed: String::new(),
    };
    let mut out = vec![
        weeks("last_dose_week", &s.last_dose_day, timing),
        weeks("enrolment_complete_week", &s.full_day, ""),
        one(
            "replicates_enrolment_complete",
            "share of replicates",
            Fact::Share(s.reached_share),
        ),
        one("replicates", "replicates", Fact::Count(s.replicates)),
    ];
    if let Some(as_of) = m.facts.as_of {
        out.extend([
            one("record_complete_to", "date", Fact::Date(as_of)),
            one(
                "patients_died_recorded",
                "patients",
                Fact::Count(u64::from(m.facts.recorded_deaths)),
            ),
            one(
                "patients_withdrawn_recorded",
                "patients",
                Fact::Count(u64::from(m.facts.recorded_withdrawals)),
            ),
        ]);
    }
    out
}

/// summary.csv: patients, totals per product (all sites, then each site), what the
/// record shows, and the weeks of the last dose and of a full enrolment, each as mean,
/// P5, P50 and P95 over the replicates.
pub fn write_summary(m: &Model, s: &Summary, out: impl Write) -> csv::Result<()> {
    let timing = timing_flags(m).to_string();
    let lines = patient_lines(m, s, &timing)
        .into_iter()
        .chain(product_lines(m, s))
        .chain(trial_lines(m, s, &timing));
    write_csv(out, &summary_columns(), lines)
}

/// The week a lot is first needed at one percentile: its Monday (the day it must be
/// released by) and, with a lead time, the day its manufacture must start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Release {
    pub monday: NaiveDate,
    pub start: Option<NaiveDate>,
}

/// A row of lots.csv: one lot of a cell product.
pub struct LotLine<'a> {
    pub product: &'a str,
    pub lot: u32,
    pub plan: &'a LotPlan,
    pub p50: Option<Release>,
    pub p95: Option<Release>,
    /// The first week forecast (a start before it is late).
    pub week0: NaiveDate,
}

impl LotLine<'_> {
    /// "its P50 and P95 start date is before the first week forecast (...): late unless
    /// already started", or empty.
    fn note(&self) -> String {
        let late: Vec<&str> = [(self.p50, "P50"), (self.p95, "P95")]
            .into_iter()
            .filter(|(r, _)| r.and_then(|r| r.start).is_some_and(|d| d < self.week0))
            .map(|(_, name)| name)
            .collect();
        if late.is_empty() {
            return String::new();
        }
        format!(
            "its {} start date is before the first week forecast ({}): late unless already started",
            late.join(" and "),
            self.week0
        )
    }
}

/// A release's cell, or empty.
fn release(r: Option<Release>, f: impl Fn(Release) -> Option<String>) -> String {
    r.and_then(f).unwrap_or_default()
}

/// lots.csv's columns, each named beside its cell.
pub fn lot_columns<'a>() -> [Col<LotLine<'a>>; 12] {
    [
        col("product", |r| inert(r.product).into_owned()),
        col("lot", |r| r.lot.to_string()),
        col("lot_cells", |r| whole(r.plan.lot_cells)),
        col("iso_week_p50", |r| {
            release(r.p50, |w| Some(iso_week(w.monday)))
        }),
        col("released_by_p50", |r| {
            release(r.p50, |w| Some(w.monday.to_string()))
        }),
        col("start_by_p50", |r| {
            release(r.p50, |w| w.start.map(|d| d.to_string()))
        }),
        col("iso_week_p95", |r| {
            release(r.p95, |w| Some(iso_week(w.monday)))
        }),
        col("released_by_p95", |r| {
            release(r.p95, |w| Some(w.monday.to_string()))
        }),
        col("start_by_p95", |r| {
            release(r.p95, |w| w.start.map(|d| d.to_string()))
        }),
        col("lead_time_weeks", |r| {
            r.plan
                .lead_time_weeks
                .map(|l| l.to_string())
                .unwrap_or_default()
        }),
        col("note", |r| r.note()),
        col("assumed", |r| r.plan.assumed.to_string()),
    ]
}

/// lots.csv: each cell product's release plan. One row per lot: the ISO week in which the
/// cumulative P50 (and P95) first needs it, the Monday it must be released by, and, with a
/// lead time in the plan, the day its manufacture must start.
pub fn write_lots(m: &Model, s: &Summary, out: impl Write) -> csv::Result<()> {
    let rows = s.lots.iter().flat_map(|plan| {
        let release = move |week: Option<usize>| {
            week.map(|week| {
                let monday = m.date_of(week as i64 * 7);
                let start = plan
                    .lead_time_weeks
                    .map(|l| monday - chrono::Days::new(u64::from(l) * 7));
                Release { monday, start }
            })
        };
        plan.lots.iter().map(move |&(lot, p50, p95)| LotLine {
            product: &m.trial.products[plan.product].id,
            lot,
            plan,
            p50: release(p50),
            p95: release(p95),
            week0: m.week0,
        })
    });
    write_csv(out, &lot_columns(), rows)
}
