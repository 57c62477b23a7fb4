//! The manufacturing forecast: how many cells a trial will need each week, simulated.
//!
//! `plan` reads the plan file (enrolment, allocation, weights, mortality, product), `sim`
//! runs the replicates through the schedule core, `stats` turns them into weekly and
//! monthly percentiles. [`write()`] writes `DIR/<trial>/forecast/` (CSV files, the fan
//! chart, a page of its own) as one folder with its own manifest, so that a `cohort` or
//! `run` that rewrites the trial folder keeps it, and a new forecast replaces it whole.

pub mod plan;
pub mod sim;
pub mod stats;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::manifest::{self, Contents, Input, Manifest};
use crate::model::Trial;
use crate::write;

pub use plan::ForecastPlan;
pub use sim::Model;
pub use stats::Summary;

/// Replicates when none are asked for.
pub const DEFAULT_REPLICATES: u64 = 10_000;
/// Most replicates one run may ask for (each keeps its weekly tallies until the end).
pub const MAX_REPLICATES: u64 = 1_000_000;
/// The name of the forecast's folder inside a trial's.
pub const FOLDER: &str = "forecast";

/// A finished forecast: the model it ran, its figures and how it was run.
pub struct Forecast<'t> {
    pub model: Model<'t>,
    pub summary: Summary,
    pub replicates: u64,
    pub seed: u64,
    /// The files it was made from, for the manifest and the page's footer.
    pub inputs: Vec<Input>,
}

/// Runs `replicates` replicates seeded `seed` on `threads` threads (0: all cores).
pub fn simulate<'t>(
    model: Model<'t>,
    replicates: u64,
    seed: u64,
    threads: usize,
    inputs: Vec<Input>,
    progress: &(dyn Fn() + Sync),
) -> Result<Forecast<'t>> {
    let tallies = model.run(replicates, seed, threads, progress)?;
    let summary = stats::summarise(&model, &tallies);
    Ok(Forecast {
        model,
        summary,
        replicates,
        seed,
        inputs,
    })
}

/// The trial folder's forecast folder: `out/<trial id>/forecast`.
pub fn folder(out: &Path, trial: &Trial) -> Result<PathBuf> {
    Ok(write::safe_child(out, &trial.id, "")?.join(FOLDER))
}

/// The fan chart's file names, per product: `fan-<product>.svg` and `.png`.
pub fn chart_name(trial: &Trial, product: usize, ext: &str) -> String {
    format!("fan-{}.{ext}", trial.products[product].id)
}

/// Writes `dir` (the forecast folder) as a whole: weekly.csv, monthly.csv, summary.csv,
/// the fan charts ([`charts`]), forecast.html and manifest.json. The caller holds the output folder's
/// lock and has checked `dir` with [`manifest::check_target`].
pub fn write(f: &Forecast, charts: &[Chart], dir: &Path) -> Result<()> {
    let trial = f.model.trial;
    let parent = dir.parent().context("a forecast folder has a parent")?;
    // The trial folder is created if need be and cleared of what a killed run left.
    let _lock = write::lock_folder(parent)?;
    write::swap_folder(dir, &[], |new| {
        let s = &f.summary;
        write::atomic_with(&new.join("weekly.csv"), |w| {
            crate::export::forecast::write_weekly(trial, s, w).map_err(std::io::Error::other)
        })?;
        write::atomic_with(&new.join("monthly.csv"), |w| {
            crate::export::forecast::write_monthly(trial, s, w).map_err(std::io::Error::other)
        })?;
        write::atomic_with(&new.join("summary.csv"), |w| {
            crate::export::forecast::write_summary(trial, s, &|d| f.model.date_of(d), w)
                .map_err(std::io::Error::other)
        })?;
        for (p, svg, png) in charts {
            write::atomic(&new.join(chart_name(trial, *p, "svg")), svg.as_bytes())?;
            write::atomic(&new.join(chart_name(trial, *p, "png")), png)?;
        }
        let svgs: Vec<(usize, &str)> = charts.iter().map(|(p, s, _)| (*p, s.as_str())).collect();
        write::atomic(
            &new.join("forecast.html"),
            crate::report::forecast_page(f, &svgs).as_bytes(),
        )?;
        let doses = f
            .summary
            .totals
            .iter()
            .map(|t| t.1.mean.round() as u64)
            .sum();
        let patients = f.model.plan.target_patients as usize;
        let contents = Contents::of_trial(trial, patients, doses, summary_line(f));
        let m = Manifest::of_folder(new, &f.inputs, contents)?;
        write::atomic(&new.join(manifest::FILE), m.to_json().as_bytes())?;
        Ok(())
    })
}

/// A product's fan chart: the product's index, the SVG and the PNG.
pub type Chart = (usize, String, Vec<u8>);

/// Each cell product's fan chart, as SVG and PNG.
pub fn charts(f: &Forecast) -> Result<Vec<Chart>> {
    let mut out = Vec::new();
    for (k, &p) in f.model.products.iter().enumerate() {
        let (svg, png) = crate::chart::fan_charts(f, k, crate::chart::DEFAULT_SIZE)?;
        out.push((p, svg, png));
    }
    Ok(out)
}

/// The forecast section of the trial's report, with its charts.
pub fn section(f: &Forecast, charts: &[Chart]) -> maud::Markup {
    let svgs: Vec<(usize, &str)> = charts.iter().map(|(p, s, _)| (*p, s.as_str())).collect();
    crate::report::forecast_section(f, &svgs, "forecast/")
}

/// One line: replicates, patients and each product's median total.
pub fn summary_line(f: &Forecast) -> String {
    let s = &f.summary;
    let mut parts = vec![format!(
        "{} replicates (seed {}): {:.1} patients enrolled on average (P5-P95 {:.0}-{:.0})",
        s.replicates,
        f.seed,
        s.enrolled.mean,
        s.enrolled.p("p5"),
        s.enrolled.p("p95")
    )];
    for (p, _, cells, _) in &s.totals {
        parts.push(format!(
            "{}: median {} cells in all (P95 {})",
            f.model.trial.products[*p].id,
            crate::format::sci(cells.p("p50")),
            crate::format::sci(cells.p("p95"))
        ));
    }
    parts.join("; ")
}

/// The plan's and the calendars' files, with their SHA-256, for the manifest.
pub fn inputs_of(
    trial: &Trial,
    plan: &ForecastPlan,
    calendars: &crate::site::Sites,
    roster: Option<&Path>,
) -> Result<Vec<Input>, crate::error::InputError> {
    let mut inputs = vec![
        Input::of("scenario", &trial.file)?,
        Input::of("forecast plan", &plan.file)?,
    ];
    if let plan::WeightModel::Roster { path, .. } = &plan.weight {
        inputs.push(Input::of("weight roster", path)?);
    }
    if let Some(r) = roster {
        inputs.push(Input::of("roster", r)?);
    }
    inputs.extend(manifest::calendar_inputs(
        &calendars.values().collect::<Vec<_>>(),
    )?);
    Ok(inputs)
}
