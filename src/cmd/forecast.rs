//! `dosesim forecast`: a plan simulated many times (from the roster and its administration
//! record, when given), written under `DIR/<trial id>/forecast/` by
//! [`crate::forecast::write`]: weekly.csv, monthly.csv, summary.csv, lots.csv, the fan
//! charts and forecast.html.

use std::path::{Path, PathBuf};

use anyhow::Result;
use chrono::NaiveDate;

use crate::cli::ForecastArgs;
use crate::error::{InputError, Problem};
use crate::forecast::{self, ForecastPlan, MAX_REPLICATES, Model, OnStudy};
use crate::inputs::{Load, PlanFile};
use crate::model::Trial;
use crate::site::Sites;
use crate::{manifest, roster, write};

pub fn run(args: ForecastArgs) -> Result<()> {
    super::guard::Reads::new()
        .scenario(&args.scenario)
        .maybe("forecast plan", args.plan.as_deref())
        .maybe("roster", args.roster.as_deref())
        .record(&args.record)
        .calendars(&args.calendars)
        .check_folder(&args.out, "--out")
        .map_err(InputError::one)?;
    let loaded = Load::named(&args.scenario)
        .flags(flag_problems(&args))
        .plan(args.plan.as_deref())
        .roster(args.roster.as_deref())
        .calendars(&args.calendars)
        .record(
            args.record.log.as_deref().filter(|_| args.roster.is_some()),
            args.record.as_of,
        )
        .load(&super::warn_line)?;
    let trial = &loaded.trial;
    let PlanFile {
        plan,
        sites: calendars,
    } = loaded.plan.as_ref().expect("a plan was asked for");
    let roster = loaded.roster.as_ref().map(|r| &r.roster);
    let roster_sites = &loaded.sites;
    let log = loaded.log.as_ref();
    let inputs = {
        let mut all = calendars.clone();
        all.extend(roster_sites.clone());
        forecast::inputs_of(trial, plan, &all, args.roster.as_deref(), log)?
    };
    let dir = forecast::folder(&args.out, trial)?;
    manifest::check_target(&dir, &inputs, args.force)?;
    check_replaced(&dir, &inputs)?;
    if let Some(r) = roster {
        super::cohort::warn_roster(r);
    }
    let model = Model::new(
        trial,
        plan,
        calendars,
        roster
            .zip(args.roster.as_deref())
            .map(|(roster, path)| OnStudy {
                roster,
                path,
                sites: roster_sites,
                log,
            }),
    )?;
    warn(trial, plan, &model, roster, &[]);
    let _lock = write::lock_folder(&args.out)?;
    let f = simulate(model, &args, inputs)?;
    warn_horizon(&f);
    let charts = forecast::charts(&f)?;
    forecast::write(&f, &charts, &dir)?;
    println!("{}: {}", trial.id, forecast::summary_line(&f));
    println!("forecast: {}", dir.display());
    Ok(())
}

/// The problems of the flags alone: the number of replicates and threads, a record
/// without a roster, an `--out` that is a file.
fn flag_problems(args: &ForecastArgs) -> Vec<Problem> {
    let mut problems = Vec::new();
    if !(1..=MAX_REPLICATES).contains(&args.replicates) {
        problems.push(Problem::flag(
            "--replicates",
            format!(
                "{} is out of range (1 to {MAX_REPLICATES})",
                args.replicates
            ),
        ));
    }
    if args.threads.is_some_and(|t| !(1..=1024).contains(&t)) {
        problems.push(Problem::flag("--threads", "give 1 to 1024 threads"));
    }
    if args.record.log.is_some() && args.roster.is_none() {
        problems.push(Problem::flag(
            "--log",
            "needs --roster: the record is of the roster's patients",
        ));
    }
    if let Err(e) = super::cohort::check_out(&args.out) {
        problems.extend(e.problems);
    }
    problems
}

/// Runs the replicates with a progress bar, and says when they took several passes.
fn simulate<'t>(
    model: Model<'t>,
    args: &ForecastArgs,
    inputs: Vec<manifest::Input>,
) -> Result<forecast::Forecast<'t>> {
    let trial = model.trial;
    let bar = super::cohort::progress_of(args.replicates, &trial.id, "replicates");
    let f = forecast::simulate(
        model,
        args.replicates,
        args.seed,
        args.threads.unwrap_or(0),
        inputs,
        &|t| match t {
            forecast::Tick::Replicate => bar.inc(1),
            // A pass after the first runs every replicate again.
            forecast::Tick::Pass { replicates } if bar.position() > 0 => bar.inc_length(replicates),
            forecast::Tick::Pass { .. } => {}
        },
    )?;
    bar.finish_and_clear();
    if f.passes > 1 {
        eprintln!(
            "note: the replicates' figures would take more than {} MiB of memory: they were kept a part at a time, in {} passes over the replicates, each run again from its own random stream (the same figures as in one pass, in more time)",
            forecast::stats::PASS_BYTES >> 20,
            f.passes
        );
    }
    Ok(f)
}

/// Refuses to replace the forecast folder `dir` when one of the files dosesim made in it
/// is an input of this run.
pub fn check_replaced(dir: &Path, inputs: &[manifest::Input]) -> Result<(), InputError> {
    if let Some(old) = manifest::Manifest::read(dir)? {
        super::guard::check_replaced(dir, &old.files, inputs, "--out").map_err(InputError::one)?;
    }
    Ok(())
}

/// The bundled plan of a scenario: `plans/<trial id>.toml` beside the scenario file, in
/// lower case as the scenarios are named.
pub fn plan_for(scenario: &Path, trial: &Trial) -> PathBuf {
    scenario
        .parent()
        .unwrap_or(Path::new("."))
        .join("plans")
        .join(format!("{}.toml", trial.id.to_ascii_lowercase()))
}

/// The site calendars the plan's sites name, by calendar id, from `dir`. A missing file
/// is an error on the plan's line and field that names it.
pub fn plan_calendars(dir: &Path, plan: &ForecastPlan) -> Result<Sites, InputError> {
    // Patients start from the first activation to the end of the horizon.
    let first = plan
        .sites
        .iter()
        .map(|s| s.activation)
        .fold(plan.start, NaiveDate::min);
    let last = plan
        .start
        .checked_add_signed(chrono::Duration::weeks(i64::from(plan.horizon_weeks)))
        .unwrap_or(NaiveDate::MAX);
    crate::site::load_each(
        dir,
        plan.sites
            .iter()
            .enumerate()
            .filter_map(|(k, s)| s.calendar.as_deref().map(|id| (id, (k, s.calendar_line)))),
        Some(crate::site::Span::of_starts(first, last.max(first))),
        |id, (k, line), file| {
            Problem::new(
                &plan.file,
                format!(
                    "no site calendar '{id}': {} does not exist (--calendars DIR names the folder of site calendars)",
                    file.display()
                ),
            )
            .at(*line)
            .field(format!("sites[{}].calendar", k + 1))
        },
    )
}

/// The assumed values the forecast uses: the plan's, then those of the arms it gives
/// doses to (and their closed-day rules where a site has a calendar), on stderr, each once.
/// `said`: those already warned about (by the cohort of the same run), left out.
pub fn warn(
    trial: &Trial,
    plan: &ForecastPlan,
    model: &Model,
    roster: Option<&roster::Roster>,
    said: &[crate::model::Assumption],
) {
    let mut used = vec![false; trial.arms.len()];
    for (a, _) in &plan.allocation.ratio {
        used[*a] = true;
    }
    for e in roster.iter().flat_map(|r| &r.entries) {
        used[e.arm as usize] = true;
    }
    let arms = super::arms_used(trial, &used);
    let mut assumed = plan.assumptions.clone();
    assumed.extend(trial.assumptions_of(arms.iter().copied()));
    if plan.sites.iter().any(|s| s.calendar.is_some()) {
        assumed.extend(trial.closed_day_assumptions_of(arms.iter().copied()));
    }
    assumed.retain(|a| {
        !said
            .iter()
            .any(|s| s.what == a.what && s.reason == a.reason)
    });
    super::warn_assumptions(trial, &assumed);
    // Weights the scenario would flag on a roster are flagged here too.
    if let crate::forecast::plan::WeightModel::Normal { min, max, .. } = plan.weight {
        let w = &trial.weight;
        if min < w.usual_min_kg || max > w.usual_max_kg {
            eprintln!(
                "warning: {}: the plan's weights run {}-{} kg, beyond the scenario's usual range of {}-{} kg: check [weight_kg]",
                trial.id,
                crate::format::shown(min),
                crate::format::shown(max),
                crate::format::shown(w.usual_min_kg),
                crate::format::shown(w.usual_max_kg)
            );
        }
    }
    // A calendar that stops before the horizon's end knows no holidays after it.
    let last = model.date_of(model.weeks as i64 * 7 - 1);
    let mut seen = std::collections::BTreeSet::new();
    for (id, cal) in plan
        .sites
        .iter()
        .filter_map(|s| s.calendar.as_ref())
        .filter_map(|c| model.calendar(c).map(|cal| (c, cal)))
    {
        if seen.insert(id) && !cal.covers(last) {
            let counted = match cal.expected() {
                Some(e) => format!(
                    "those weeks count its closed weekdays and {}, expected, but not the make-up working days and bridging days a year's notice adds (provisional)",
                    e.describe()
                ),
                None => "public holidays after its end are not known, so those weeks count only its closed weekdays (provisional)".to_string(),
            };
            eprintln!(
                "warning: {}: site calendar {id} covers {}, not the whole horizon (to {last}): {counted}",
                trial.id,
                cal.coverage_summary()
            );
        }
    }
    let missing: Vec<&str> = model
        .products
        .iter()
        .filter(|&&p| trial.products[p].unit == crate::model::Unit::Cells)
        .filter(|p| !plan.products.contains_key(p))
        .map(|&p| trial.products[p].id.as_str())
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "note: the plan gives no [product.ID] lot_cells and capacity_cells_per_week for {}: no lots or capacity for it",
            missing.join(", ")
        );
    }
}

/// Warnings for a horizon too short for the trial: enrolment not complete, or doses
/// after it (weekly.csv does not count those).
pub fn warn_horizon(f: &forecast::Forecast) {
    let s = &f.summary;
    let id = &f.model.trial.id;
    if s.reached_share < 0.95 {
        eprintln!(
            "warning: {id}: in {:.1}% of replicates fewer than {} patients have enrolled by the horizon's end ({}): lengthen horizon_weeks or check the rates",
            (1.0 - s.reached_share) * 100.0,
            f.model.plan.target_patients,
            f.model.date_of(f.model.weeks as i64 * 7 - 1)
        );
    }
    for t in s.all_sites() {
        if t.after_horizon.p("p50") > 0.0 {
            let p = &f.model.trial.products[t.product];
            eprintln!(
                "warning: {id}: half the replicates or more give {} doses after the horizon ({} at the median), which weekly.csv and monthly.csv do not count: lengthen horizon_weeks",
                p.id,
                forecast::short(crate::format::Amount {
                    value: t.after_horizon.p("p50"),
                    unit: p.unit
                })
            );
        }
    }
}
