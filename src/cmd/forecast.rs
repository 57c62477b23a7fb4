//! `dosesim forecast`: a plan simulated many times (from the roster and its administration
//! record, when given), written under `DIR/<trial id>/forecast/` by
//! [`dosesim::bundle::write_forecast`]: weekly.csv, monthly.csv, summary.csv, lots.csv, the fan
//! charts and forecast.html.

use anyhow::Result;

use crate::cli::ForecastArgs;
use dosesim::error::{InputError, Problem};
use dosesim::forecast::{self, MAX_REPLICATES, Model, OnStudy};
use dosesim::inputs::{Load, PlanFile};
use dosesim::{manifest, write};

pub fn run(args: ForecastArgs) -> Result<()> {
    super::guard::Reads::new()
        .scenario(&args.scenario)
        .maybe("forecast plan", args.plan.as_deref())
        .maybe("roster", args.roster.as_deref())
        .record(&args.record)
        .calendars(&args.calendars)
        .check_folder(&args.out, "--out")
        .map_err(InputError::one)?;
    let db = super::common::database(
        &args.db,
        &[
            ("--roster", args.roster.is_some()),
            ("--log", args.record.log.is_some()),
        ],
    )?;
    let loaded = super::common::load(
        Load::named(&args.scenario)
            .database(db.as_ref())
            .flags(flag_problems(&args))
            .plan(args.plan.as_deref())
            .roster(args.roster.as_deref())
            .calendars(&args.calendars)
            .record(
                args.record.log.as_deref().filter(|_| args.roster.is_some()),
                args.record.as_of,
            ),
    )?;
    let trial = &loaded.trial;
    let PlanFile {
        plan,
        sites: calendars,
    } = loaded.plan.as_ref().expect("a plan was asked for");
    let roster = loaded.roster.as_ref().map(|r| &r.roster);
    let roster_sites = &loaded.sites;
    let log = loaded.log.as_ref();
    let roster_path = loaded.roster.as_ref().map(|r| r.path.as_path());
    let inputs = {
        let mut all = calendars.clone();
        all.extend(roster_sites.clone());
        dosesim::bundle::forecast_inputs(trial, plan, &all, roster_path, log)?
    };
    let dir = dosesim::bundle::forecast_folder(&args.out, trial)?;
    manifest::check_target(&dir, &inputs, args.force)?;
    super::common::check_forecast_replaced(&dir, &inputs)?;
    if let Some(r) = roster {
        super::common::warn_roster(r);
    }
    let model = Model::new(
        trial,
        plan,
        calendars,
        roster.zip(roster_path).map(|(roster, path)| OnStudy {
            roster,
            path,
            sites: roster_sites,
            log,
        }),
    )?;
    super::common::warn_forecast(trial, plan, &model, roster, &[]);
    let _lock = write::lock_folder(&args.out)?;
    let f = simulate(model, &args, inputs)?;
    super::common::warn_horizon(&f);
    let charts = dosesim::bundle::forecast_charts(&f)?;
    dosesim::bundle::write_forecast(&f, &charts, &dir)?;
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
    if let Err(e) = super::common::check_out(&args.out) {
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
    let bar = super::common::progress_of(args.replicates, &trial.id, "replicates");
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
