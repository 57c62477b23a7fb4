//! `dosesim run`: the main job. Every bundled scenario (or those named) with its demo
//! roster, `scenarios/rosters/<trial id>.csv`, written under `DIR/<trial id>/`, and a summary
//! per trial. Every scenario and roster is checked before anything is written.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::cli::RunArgs;
use dosesim::bundle::{self, REFERENCE_WEIGHT_KG};
use dosesim::chart;
use dosesim::cohort::Cohort;
use dosesim::error::{InputError, Problem};
use dosesim::forecast::{ForecastPlan, Model};
use dosesim::inputs::{Inputs, Load, PlanFile};
use dosesim::manifest::Input;
use dosesim::model::Trial;
use dosesim::{report, write};

pub fn run(args: RunArgs) -> Result<()> {
    args.scenarios
        .iter()
        .fold(super::guard::Reads::new(), |r, s| r.scenario(s))
        .calendars(&args.calendars)
        .check_folder(&args.out, "--out")
        .map_err(InputError::one)?;
    let files = super::scenario_files(&args.scenarios)?;
    let mut problems = Vec::new();
    let db = super::common::database(&args.db, &[])?;
    let loaded = load(&files, &args.calendars, db.as_ref(), &mut problems);
    let mut jobs = prepare(&loaded, &args, &mut problems);
    if let Err(e) = super::common::check_out(&args.out) {
        problems.extend(e.problems);
    }
    check_targets(&mut jobs, &args, &mut problems);
    InputError::check(problems)?;
    if let Some(db) = &db {
        say_from_files(db, &loaded);
    }
    for job in &jobs {
        job.warn();
    }
    let _lock = write::lock_folder(&args.out)?;
    for job in jobs {
        job.write(&args)?;
    }
    write_index(&args.out, &loaded)
}

/// With a database: one line on stderr naming the trials it holds no roster for, which
/// are made from their CSV files as without one.
fn say_from_files(db: &dosesim::db::Location, loaded: &[Inputs]) {
    let ids: Vec<&str> = loaded
        .iter()
        .filter(|i| i.database.is_none())
        .map(|i| i.trial.id.as_str())
        .collect();
    if !ids.is_empty() {
        eprintln!(
            "note: {} holds no roster for {}: made from their files in scenarios/rosters/ and scenarios/logs/",
            db.label(),
            ids.join(", ")
        );
    }
}

/// One trial of the run: its cohort, the forecast of its plan when it has one, and the
/// check that its folder may be written.
struct Job<'i> {
    cohort: Cohort<'i>,
    plan: Option<&'i ForecastPlan>,
    /// The plan's model, the forecast's inputs and its folder.
    forecast: Option<(Model<'i>, Vec<Input>, PathBuf)>,
    checked: Option<bundle::Checked>,
}

/// Every scenario with its demo roster, their site calendars, and the record and plan
/// bundled beside them when there are: each trial's inputs that could be read, and every
/// problem of the others. The record's warnings are printed as each is read.
fn load(
    files: &[PathBuf],
    calendars: &Path,
    db: Option<&dosesim::db::Location>,
    problems: &mut Vec<Problem>,
) -> Vec<Inputs> {
    let mut loaded = Vec::new();
    for f in files {
        let inputs = super::common::load(
            Load::file(f)
                .database(db)
                .demo_roster()
                .calendars(calendars)
                .demo_record()
                .demo_plan(),
        );
        match inputs {
            Ok(i) => loaded.push(i),
            Err(e) => problems.extend(e.problems),
        }
    }
    loaded
}

/// Each trial's cohort and, when it has a plan, the plan's model: every schedule checked
/// and every forecast folder checked before anything is written.
fn prepare<'i>(loaded: &'i [Inputs], args: &RunArgs, problems: &mut Vec<Problem>) -> Vec<Job<'i>> {
    let mut jobs = Vec::new();
    for inputs in loaded {
        match Cohort::of(inputs) {
            Ok(cohort) => jobs.push(Job {
                cohort,
                plan: inputs.plan.as_ref().map(|p| &p.plan),
                forecast: None,
                checked: None,
            }),
            Err(e) => problems.extend(e.problems),
        }
    }
    for (job, inputs) in jobs.iter_mut().zip(loaded) {
        let Some(PlanFile { plan, sites }) = &inputs.plan else {
            continue;
        };
        match model(&inputs.trial, plan, sites, args) {
            Ok(m) => job.forecast = Some(m),
            Err(e) => problems.extend(e.problems),
        }
    }
    jobs
}

/// A plan's model, with the forecast's inputs and its folder, which may be replaced.
fn model<'i>(
    trial: &'i dosesim::model::Trial,
    plan: &'i ForecastPlan,
    sites: &'i dosesim::site::Sites,
    args: &RunArgs,
) -> Result<(Model<'i>, Vec<Input>, PathBuf), InputError> {
    let m = Model::new(trial, plan, sites, None)?;
    let inputs = dosesim::bundle::forecast_inputs(trial, plan, sites, None, None)?;
    let dir = dosesim::bundle::forecast_folder(&args.out, trial)
        .map_err(|e| InputError::one(Problem::flag("--out", e.to_string())))?;
    dosesim::manifest::check_target(&dir, &inputs, args.force)?;
    super::common::check_forecast_replaced(&dir, &inputs)?;
    Ok((m, inputs, dir))
}

/// No trial folder is written until every one may be: a folder made with a record is
/// replaced only with a record that holds every row of it (scenarios/logs/<TRIAL>.csv).
/// The index goes beside the trial folders; no input may be where it goes.
fn check_targets(jobs: &mut [Job], args: &RunArgs, problems: &mut Vec<Problem>) {
    for job in jobs.iter_mut() {
        let c = &job.cohort;
        let from = format!(
            "run reads it from {}, which is not there",
            dosesim::layout::log_for(&c.roster_path, &c.trial.id).display()
        );
        match bundle::check(c, &args.out, args.force, &from) {
            Ok(k) => job.checked = Some(k),
            Err(e) => problems.extend(e.problems),
        }
    }
    let mut reads = super::guard::Reads::new();
    for job in jobs.iter() {
        if let Ok(inputs) = bundle::inputs_of(&job.cohort) {
            reads = reads.inputs(&inputs);
        }
    }
    if let Err(p) = reads.check_file(&args.out.join("index.html"), "--out") {
        problems.push(p);
    }
}

impl Job<'_> {
    /// The trial's warnings: its roster's, its assumed values, its closed days, its
    /// forecast's, and the notes of its folder's check.
    fn warn(&self) {
        let c = &self.cohort;
        let said = super::common::warn(c);
        super::common::warn_closed_days(c);
        if let (Some((m, _, _)), Some(plan)) = (&self.forecast, self.plan) {
            super::common::warn_forecast(c.trial, plan, m, None, &said);
        }
        for n in self.checked().notes() {
            eprintln!("warning: {n}");
        }
    }

    fn checked(&self) -> &bundle::Checked {
        self.checked
            .as_ref()
            .expect("every folder is checked before any is written")
    }

    /// Simulates the trial's plan, writes its folder and its forecast folder, and prints
    /// its summary.
    fn write(self, args: &RunArgs) -> Result<()> {
        let Job {
            cohort,
            forecast,
            checked,
            ..
        } = self;
        let checked = checked.expect("every folder is checked before any is written");
        let forecast = match forecast {
            Some((model, inputs, dir)) => {
                let f = dosesim::forecast::simulate(
                    model,
                    dosesim::forecast::DEFAULT_REPLICATES,
                    1,
                    0,
                    inputs,
                    &|_| {},
                )?;
                super::common::warn_horizon(&f);
                let charts = dosesim::bundle::forecast_charts(&f)?;
                Some((f, charts, dir))
            }
            None => None,
        };
        let section = forecast
            .as_ref()
            .map(|(f, charts, _)| dosesim::bundle::forecast_section(f, charts));
        let s = super::common::write(&cohort, &args.out, &checked, args.remind.asked(), section)?;
        print!("{}", s.render());
        if let Some((f, charts, dir)) = &forecast {
            dosesim::bundle::write_forecast(f, charts, dir)?;
            println!("  forecast: {}", dosesim::forecast::summary_line(f));
        }
        Ok(())
    }
}

/// The index lists what is in the folder, from the manifests: this run's trials and any
/// other trial folder a `cohort` left there.
fn write_index(out: &Path, loaded: &[Inputs]) -> Result<()> {
    let mut folders = Vec::new();
    for entry in std::fs::read_dir(out)? {
        let path = entry?.path();
        if path.is_dir()
            && let Some(m) = dosesim::manifest::Manifest::read(&path)?
        {
            folders.push(m);
        }
    }
    folders.sort_by(|a, b| a.contents.trial_id.cmp(&b.contents.trial_id));
    let trials: Vec<Trial> = loaded.iter().map(|i| i.trial.clone()).collect();
    let compare = chart::compare_svg(&trials, REFERENCE_WEIGHT_KG, true, chart::DEFAULT_SIZE)?;
    let index = out.join("index.html");
    write::atomic(
        &index,
        report::index(&folders, &compare, REFERENCE_WEIGHT_KG).as_bytes(),
    )?;
    println!("index: {}", index.display());
    Ok(())
}
