//! The manufacturing forecast: how much of each product (cells, or mL of plasma) a trial
//! will need each week, per site and in all, simulated.
//!
//! `plan` reads the plan file (enrolment, allocation, weights, mortality, product), `sim`
//! runs the replicates through the schedule core (from the administration record's as-of
//! date when there is one), `stats` turns them into weekly and monthly percentiles,
//! cumulative totals and a release plan of lots. The result is a [`Forecast`]; nothing here
//! writes a file: [`crate::bundle::write_forecast`] writes `DIR/<trial>/forecast/` (CSV
//! files, the fan chart, a page of its own) as one folder with its own manifest, so that a
//! `cohort` or `run` that rewrites the trial folder keeps it, and a new forecast replaces
//! it whole.

pub mod plan;
pub mod sim;
pub mod stats;

use anyhow::Result;

use crate::digest::Input;
use crate::model::Trial;

pub use plan::ForecastPlan;
pub use sim::{Model, OnStudy, Tick};
pub use stats::Summary;

/// Replicates when none are asked for.
pub const DEFAULT_REPLICATES: u64 = 10_000;
/// Most replicates one run may ask for. Memory does not grow with them past
/// [`stats::PASS_BYTES`] of kept figures: more passes over the replicates are made instead.
pub const MAX_REPLICATES: u64 = 1_000_000;
/// The name of the forecast's folder inside a trial's.
pub const FOLDER: &str = crate::layout::FORECAST_FOLDER;

/// A finished forecast: the model it ran, its figures and how it was run.
pub struct Forecast<'t> {
    pub model: Model<'t>,
    pub summary: Summary,
    pub replicates: u64,
    pub seed: u64,
    /// The files it was made from, for the manifest and the page's footer.
    pub inputs: Vec<Input>,
    /// Passes over the replicates it took (more than one when their figures would not
    /// fit in [`stats::PASS_BYTES`]).
    pub passes: usize,
}

/// Runs `replicates` replicates seeded `seed` on `threads` threads (0: all cores);
/// `progress` is told of each replicate run, and of each pass over them all (see
/// [`stats::PASS_BYTES`]).
pub fn simulate<'t>(
    model: Model<'t>,
    replicates: u64,
    seed: u64,
    threads: usize,
    inputs: Vec<Input>,
    progress: &(dyn Fn(Tick) + Sync),
) -> Result<Forecast<'t>> {
    // The replicates' figures are kept a pass at a time and freed once summarised.
    let (summary, passes) = stats::run(&model, replicates, seed, threads, progress)?;
    Ok(Forecast {
        model,
        summary,
        replicates,
        seed,
        inputs,
        passes,
    })
}

/// The fan chart's file names, per product: `fan-<product>.svg` and `.png`.
pub fn chart_name(trial: &Trial, product: usize, ext: &str) -> String {
    format!("fan-{}.{ext}", trial.products[product].id)
}

/// One line: replicates, patients, what the record shows given, and each product's
/// median total, marked when it rests on assumed regimen values.
pub fn summary_line(f: &Forecast) -> String {
    let s = &f.summary;
    let m = &f.model;
    let mut parts = vec![format!(
        "{} replicates (seed {}): {:.1} patients enrolled on average (P5-P95 {:.0}-{:.0})",
        s.replicates,
        f.seed,
        s.enrolled.mean,
        s.enrolled.p("p5"),
        s.enrolled.p("p95")
    )];
    if let Some(as_of) = m.facts.as_of {
        parts.push(record_words(f, as_of));
    }
    for t in s.all_sites() {
        let p = &m.trial.products[t.product];
        let amount = |x: f64| crate::format::Amount {
            value: x,
            unit: p.unit,
        };
        let mut words = format!(
            "{}: median {} in all (P95 {})",
            p.id,
            short(amount(t.amount.p("p50"))),
            short(amount(t.amount.p("p95")))
        );
        words.push_str(&assumed_marks(t.assumed));
        parts.push(words);
    }
    parts.join("; ")
}

/// An amount in three figures: 5.91 x 10⁹ cells, 12000 mL.
pub fn short(a: crate::format::Amount) -> String {
    match a.unit {
        crate::model::Unit::Cells => format!("{} cells", crate::format::sci(a.value)),
        crate::model::Unit::Ml => format!("{} mL", crate::format::trim_decimals(a.value, 2)),
    }
}

/// What the record shows, in words: "as of 2026-11-20: 61 doses given (uc_msc 3.05 x 10⁹
/// cells, plasma 36000 mL), 2 overdue counted as still to give; 1 death and 1 withdrawal
/// recorded".
pub fn record_words(f: &Forecast, as_of: chrono::NaiveDate) -> String {
    let m = &f.model;
    let given: Vec<&stats::Totals> = f.summary.all_sites().collect();
    let doses: u32 = given.iter().map(|t| t.given_doses).sum();
    let overdue: u32 = given.iter().map(|t| t.overdue_doses).sum();
    let amounts: Vec<String> = given
        .iter()
        .filter(|t| t.given_doses > 0)
        .map(|t| {
            let p = &m.trial.products[t.product];
            format!(
                "{} {}",
                p.id,
                short(crate::format::Amount {
                    value: t.given_amount,
                    unit: p.unit
                })
            )
        })
        .collect();
    let mut s = format!(
        "as of {as_of}: {} given",
        crate::format::plural(u64::from(doses), "dose")
    );
    if !amounts.is_empty() {
        s.push_str(&format!(" ({})", amounts.join(", ")));
    }
    if overdue > 0 {
        s.push_str(&format!(
            ", {} due with nothing recorded counted as still to give",
            crate::format::plural(u64::from(overdue), "dose")
        ));
    }
    s.push_str(&format!(
        "; {} and {} recorded",
        crate::format::plural(u64::from(m.facts.recorded_deaths), "death"),
        crate::format::plural(u64::from(m.facts.recorded_withdrawals), "withdrawal")
    ));
    s
}

/// How a figure resting on assumed regimen values is marked in a line of text, as `run`'s
/// totals are: " [includes assumed doses]" when the dose is assumed, then
/// " [assumed: product]" naming the others; nothing when none is.
pub fn assumed_marks(a: crate::model::Assumed) -> String {
    use crate::model::Assumed;
    let mut out = String::new();
    if a.contains(Assumed::DOSE) {
        out.push_str(&format!(" [{}]", crate::describe::INCLUDES_ASSUMED));
    }
    let others: Vec<&str> = a.names().filter(|n| *n != "dose").collect();
    if !others.is_empty() {
        out.push_str(&format!(" [assumed: {}]", others.join("; ")));
    }
    out
}

/// The assumed regimen values the forecast's figures rest on, each once with its reason:
/// for each arm anyone can be on, each component's product, dose and timing where they
/// are assumed, and its closed-day rules where one moved a dose (see
/// [`sim::regimen_flags`]).
pub fn regimen_assumptions(m: &Model) -> Vec<crate::model::Assumption> {
    use crate::model::{Assumed, Assumption};
    let t = m.trial;
    let mut out: Vec<Assumption> = Vec::new();
    let mut push = |what: String, reason: &Option<String>| {
        if let Some(reason) = reason {
            let a = Assumption {
                what,
                reason: reason.clone(),
            };
            if !out.contains(&a) {
                out.push(a);
            }
        }
    };
    for (arm, _) in t.arms.iter().zip(&m.on_arm).filter(|(_, on)| **on) {
        for c in &arm.components {
            let Some(k) = m.products.iter().position(|&p| p == c.product) else {
                continue;
            };
            let flags = m.assumed_of(None, k);
            let product = &t.products[c.product];
            if flags.contains(Assumed::PRODUCT) {
                push(
                    format!("product {}", product.id),
                    &product.provenance.assumed,
                );
            }
            if flags.contains(Assumed::DOSE) {
                push(format!("{} dose", c.id), &c.dose.provenance.assumed);
            }
            if flags.contains(Assumed::TIMING) {
                push(format!("{} timing", c.id), &c.timing.provenance.assumed);
            }
        }
        if (0..m.products.len()).any(|k| m.assumed_of(None, k).contains(Assumed::CLOSED_DAY_RULE)) {
            for a in arm.closed_day_assumptions() {
                push(a.what, &Some(a.reason));
            }
        }
    }
    out
}
