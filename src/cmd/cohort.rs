//! `dosesim cohort`: a roster against a trial, written under `DIR/<trial id>/`:
//! pharmacy.csv, prep.csv and `patients/<id>.csv` and .ics.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::NaiveDate;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

use crate::chart;
use crate::cli::CohortArgs;
use crate::cohort::Cohort;
use crate::export::{self, Amount, prep::Prep};
use crate::model::Trial;
use crate::report;
use crate::roster::{self, Roster};
use crate::scenario;
use crate::write;

/// Size of each patient's cumulative chart (pixels).
pub const PATIENT_CHART: (u32, u32) = (800, 450);
/// Weight of the reference patient in the trial-level charts (kg).
pub const REFERENCE_WEIGHT_KG: f64 = 60.0;

pub fn run(args: CohortArgs) -> Result<()> {
    let trial = scenario::load(&args.scenario)?;
    let roster = roster::read(&args.roster, &trial)?;
    let cohort = Cohort::new(&trial, &roster, &args.roster)?;
    warn(&trial, &roster);
    let summary = write_all(&cohort, &args.out)?;
    print!("{}", summary.render());
    Ok(())
}

/// Warnings for a roster: unusual weights (the first few) and the assumed values its arms use.
pub fn warn(trial: &Trial, roster: &Roster) {
    for w in roster.warnings.iter().take(10) {
        eprintln!("warning: {w}");
    }
    if roster.warnings.len() > 10 {
        eprintln!(
            "warning: ... and {} more patients outside the usual weight range",
            roster.warnings.len() - 10
        );
    }
    let mut used = vec![false; trial.arms.len()];
    for e in &roster.entries {
        used[e.arm as usize] = true;
    }
    for (arm, _) in trial.arms.iter().zip(used).filter(|(_, u)| *u) {
        super::warn_assumptions(trial, arm, &arm.assumptions(trial));
    }
}

/// A progress bar on stderr when stderr is a terminal, and none otherwise.
pub fn progress(len: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {human_pos}/{human_len} rows ({eta} left)")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

/// What a cohort run made, for the summary line.
#[derive(Debug, Clone)]
pub struct Summary {
    pub trial_id: String,
    pub dir: PathBuf,
    pub patients: usize,
    /// Doses of all products (infusions and exchanges).
    pub doses: u64,
    /// Per product given: its id, how many times it is given, and the total.
    pub totals: Vec<(String, u64, Amount)>,
    pub first: Option<NaiveDate>,
    pub last: Option<NaiveDate>,
}

impl Summary {
    pub fn render(&self) -> String {
        let mut s = format!(
            "{}: {} patient{}",
            self.trial_id,
            self.patients,
            if self.patients == 1 { "" } else { "s" }
        );
        for (p, n, a) in &self.totals {
            let _ = write!(
                s,
                "; {p}: {n} dose{}, {}",
                if *n == 1 { "" } else { "s" },
                a.readable()
            );
        }
        if let (Some(a), Some(b)) = (self.first, self.last) {
            let _ = write!(s, "; {a} to {b}");
        }
        let _ = writeln!(s, " -> {}", self.dir.display());
        s
    }
}

/// Writes every file of a checked cohort under `out/<trial id>/`.
pub fn write_all(cohort: &Cohort, out: &Path) -> Result<Summary> {
    let trial = cohort.trial;
    let dir = write::safe_child(out, &trial.id, "")?;
    let patients_dir = dir.join("patients");
    std::fs::create_dir_all(&patients_dir)
        .with_context(|| format!("cannot create {}", patients_dir.display()))?;

    let bar = progress(cohort.rows(), &trial.id);
    write::atomic_with(&dir.join("pharmacy.csv"), |w| {
        cohort.write_pharmacy(w, &|n| bar.set_position(n))
    })?;
    bar.finish_and_clear();

    let calendars: Vec<_> = cohort.calendars().collect();
    let mut prep = Prep::default();
    let mut totals = vec![(0u64, 0.0); trial.products.len()];
    let mut doses = 0u64;
    let (mut first, mut last) = (None::<NaiveDate>, None::<NaiveDate>);
    for (p, arm, events) in &calendars {
        let arm = &trial.arms[*arm];
        prep.add(arm, p, events);
        for e in events {
            first = Some(first.map_or(e.date, |f| f.min(e.date)));
            last = Some(last.map_or(e.date, |l| l.max(e.date)));
            if let (Some(d), Some(prod)) = (e.dose, e.product(arm)) {
                totals[prod].0 += 1;
                totals[prod].1 += d;
                doses += 1;
            }
        }
    }
    write::atomic_with(&dir.join("prep.csv"), |w| {
        prep.write_csv(trial, w).map_err(std::io::Error::other)
    })?;

    // Per patient: calendar CSV and .ics, cumulative chart as SVG and PNG; the rows and the
    // SVG are kept for the report. One plotters backend per task, patients in parallel.
    let patient_files: Vec<(Vec<export::Row>, String)> = calendars
        .par_iter()
        .map(|(p, arm, events)| -> Result<(Vec<export::Row>, String)> {
            let arm = &trial.arms[*arm];
            let rows = export::rows(trial, arm, p, events);
            write::atomic_with(&write::safe_child(&patients_dir, &p.id, ".csv")?, |w| {
                export::csv::write(w, &rows).map_err(std::io::Error::other)
            })?;
            write::atomic(
                &write::safe_child(&patients_dir, &p.id, ".ics")?,
                export::ics::render(trial, arm, p, &rows).as_bytes(),
            )?;
            let (svg, png) = chart::patient_charts(trial, arm, p, PATIENT_CHART)?;
            write::atomic(
                &write::safe_child(&patients_dir, &p.id, ".svg")?,
                svg.as_bytes(),
            )?;
            write::atomic(&write::safe_child(&patients_dir, &p.id, ".png")?, &png)?;
            // The rows and the SVG go on into the report.
            Ok((rows, svg))
        })
        .collect::<Result<_>>()?;
    remove_stale(
        &patients_dir,
        &calendars
            .iter()
            .map(|c| c.0.id.as_str())
            .collect::<Vec<_>>(),
    )?;

    let arms: Vec<&crate::model::Arm> = trial.arms.iter().collect();
    let timeline =
        chart::timeline_svg(trial, REFERENCE_WEIGHT_KG, chart::timeline_size(arms.len()))?;
    let cumulative = chart::cumulative_svg(
        trial,
        &arms,
        REFERENCE_WEIGHT_KG,
        None,
        false,
        chart::DEFAULT_SIZE,
    )?;
    let sections: Vec<report::PatientSection> = calendars
        .iter()
        .zip(&patient_files)
        .map(|((p, arm, _), (rows, svg))| report::PatientSection {
            id: &p.id,
            arm_id: &trial.arms[*arm].id,
            weight_kg: p.weight_kg,
            rows,
            chart_svg: svg,
        })
        .collect();
    let caption = format!(
        "Cumulative cell dose of each arm for a reference patient of {REFERENCE_WEIGHT_KG} kg; each patient's own chart is in their section below."
    );
    let html = report::render(&report::Report {
        trial,
        timeline_svg: &timeline,
        cumulative_svg: &cumulative,
        cumulative_caption: &caption,
        prep: &prep,
        patients: &sections,
    });
    write::atomic(&dir.join("report.html"), html.as_bytes())?;

    Ok(Summary {
        trial_id: trial.id.clone(),
        dir,
        patients: calendars.len(),
        doses,
        totals: trial
            .products
            .iter()
            .zip(totals)
            .filter(|(_, (n, _))| *n > 0)
            .map(|(p, (n, t))| {
                (
                    p.id.clone(),
                    n,
                    Amount {
                        value: t,
                        unit: p.unit,
                    },
                )
            })
            .collect(),
        first,
        last,
    })
}

/// Removes calendars left in `patients/` by an earlier roster, so no one opens the
/// calendar of a patient who is no longer on it. Only dosesim's own file types go.
fn remove_stale(dir: &Path, ids: &[&str]) -> Result<()> {
    let keep: std::collections::HashSet<&str> = ids.iter().copied().collect();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let ours = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "csv" | "ics" | "png" | "svg"));
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        if ours && path.is_file() && !keep.contains(stem) {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove stale {}", path.display()))?;
        }
    }
    Ok(())
}
