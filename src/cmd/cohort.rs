//! `dosesim cohort`: a roster against a trial, written under `DIR/<trial id>/` by
//! [`crate::bundle`]: pharmacy.csv, prep.csv, report.html and `patients/<id>.csv` and .ics.

use std::io::IsTerminal;

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};

use crate::bundle;
use crate::cli::CohortArgs;
use crate::cohort::Cohort;
use crate::model::Trial;
use crate::roster::{self, Roster};
use crate::scenario;

pub fn run(args: CohortArgs) -> Result<()> {
    let trial = scenario::load(&args.scenario)?;
    let roster = roster::read(&args.roster, &trial)?;
    let cohort = Cohort::new(&trial, &roster, &args.roster)?;
    check_out(&args.out)?;
    bundle::check(&cohort, &args.out, args.force)?;
    warn(&trial, &roster);
    let _lock = crate::write::lock_folder(&args.out)?;
    let summary = write(&cohort, &args.out, args.force)?;
    print!("{}", summary.render());
    Ok(())
}

/// `--out` must be a folder (or not exist yet): a file there is bad input.
pub fn check_out(out: &std::path::Path) -> Result<(), crate::error::InputError> {
    if let Some(p) = crate::write::broken_link(out, "--out") {
        return Err(crate::error::InputError::one(p));
    }
    if out.exists() && !out.is_dir() {
        return Err(crate::error::InputError::one(crate::error::Problem::flag(
            "--out",
            format!("{} is a file: name a folder", out.display()),
        )));
    }
    Ok(())
}

/// Writes a cohort's bundle with a progress bar; the caller holds `out`'s lock.
pub fn write(cohort: &Cohort, out: &std::path::Path, force: bool) -> Result<bundle::Summary> {
    let bar = progress(cohort.rows(), &cohort.trial.id);
    let summary = bundle::write_cohort(cohort, out, force, &|n| bar.set_position(n));
    bar.finish_and_clear();
    summary
}

/// Prints the first `limit` of `lines` as warnings, then how many more there are.
fn warn_some(lines: &[String], limit: usize, more: &str) {
    for w in lines.iter().take(limit) {
        eprintln!("warning: {w}");
    }
    if lines.len() > limit {
        eprintln!("warning: ... and {} more {more}", lines.len() - limit);
    }
}

/// Warnings for a roster: ids a spreadsheet would change and unusual weights (the first
/// few of each), and the assumed values its arms use, each once.
pub fn warn(trial: &Trial, roster: &Roster) {
    warn_some(
        &roster.id_warnings,
        10,
        "patient ids that a spreadsheet would read as numbers, dates or booleans",
    );
    warn_some(
        &roster.warnings,
        10,
        "patients outside the usual weight range",
    );
    warn_some(
        &roster.date_warnings,
        10,
        "start dates years away from the rest of the roster",
    );
    let mut used = vec![false; trial.arms.len()];
    for e in &roster.entries {
        used[e.arm as usize] = true;
    }
    let arms = trial
        .arms
        .iter()
        .zip(used)
        .filter(|(_, u)| *u)
        .map(|(a, _)| a);
    super::warn_assumptions(trial, &trial.assumptions_of(arms));
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
