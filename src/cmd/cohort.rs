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
    let sites = crate::site::for_roster(&args.calendars, &args.roster, &roster)?;
    check_out(&args.out)?;
    bundle::check(&cohort, &args.out, args.force)?;
    warn(&trial, &roster);
    warn_closed_days(&cohort, &sites);
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

/// Warnings for the patients on a site calendar: each dose, exchange or visit planned on a
/// day the site is closed (the first ten with their roster lines, then how many more), and
/// once per site the first date its calendar does not cover (holidays not yet announced).
/// The schedule itself does not move them yet.
pub fn warn_closed_days(cohort: &Cohort, sites: &crate::site::Sites) {
    use crate::schedule::Origin;
    if sites.is_empty() {
        return;
    }
    let roster = cohort.roster;
    let mut closed = Vec::new();
    let mut uncovered: std::collections::BTreeMap<&str, chrono::NaiveDate> = Default::default();
    for &i in &roster.by_id {
        let e = &roster.entries[i as usize];
        let Some(cal) = roster.site(e).and_then(|s| sites.get(s)) else {
            continue;
        };
        let (p, arm, events) = cohort.calendar(i);
        let arm = &cohort.trial.arms[arm];
        for ev in &events {
            let what = match ev.origin {
                Origin::Component(c) => format!(
                    "{} {}/{}",
                    arm.components[c].name, ev.occurrence, ev.occurrences
                ),
                Origin::Visit(v) => format!("visit '{}'", arm.visits[v].name),
                Origin::Background(_) => continue,
            };
            if !cal.covers(ev.date) {
                let first = uncovered.entry(&cal.id).or_insert(ev.date);
                *first = (*first).min(ev.date);
            }
            // A closed weekday is closed in years the holiday files do not reach too.
            if let Some(why) = cal.day(ev.date).closure() {
                closed.push(format!(
                    "{}:{}: patient {}: {what} on {} {}, a day site {} is closed ({why})",
                    cohort.roster_path.display(),
                    e.line,
                    p.id,
                    crate::timing::weekday_abbrev(ev.date),
                    ev.date,
                    cal.id
                ));
            }
        }
    }
    warn_some(&closed, 10, "events on days their site is closed");
    for (site, first) in uncovered {
        eprintln!(
            "warning: site {site}: its calendar does not cover {first}, and events from then on may fall on holidays not yet announced (provisional)"
        );
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
