//! `dosesim run`: the main job. Every bundled scenario (or those named) with its demo
//! roster, `scenarios/rosters/<trial id>.csv`, written under `DIR/<trial id>/`, and a summary
//! per trial. Every scenario and roster is checked before anything is written.

use std::path::PathBuf;

use anyhow::Result;

use crate::bundle::REFERENCE_WEIGHT_KG;
use crate::chart;
use crate::cli::RunArgs;
use crate::cohort::Cohort;
use crate::error::{InputError, Problem};
use crate::model::Trial;
use crate::roster::{self, Roster};
use crate::{report, scenario, write};

pub fn run(args: RunArgs) -> Result<()> {
    args.scenarios
        .iter()
        .fold(super::guard::Reads::new(), |r, s| r.scenario(s))
        .calendars(&args.calendars)
        .check_folder(&args.out, "--out")
        .map_err(InputError::one)?;
    let files = super::scenario_files(&args.scenarios)?;
    let mut problems = Vec::new();
    let mut loaded: Vec<(Trial, PathBuf, Roster)> = Vec::new();
    for f in &files {
        let trial = match scenario::load(f) {
            Ok(t) => t,
            Err(e) => {
                problems.extend(e.problems);
                continue;
            }
        };
        let roster_path = crate::layout::roster_for(f, &trial.id);
        if !roster_path.is_file() {
            problems.push(Problem::new(
                &roster_path,
                format!("no demo roster for {} (expected this file)", trial.id),
            ));
            continue;
        }
        match roster::read(&roster_path, &trial) {
            Ok(r) => loaded.push((trial, roster_path, r)),
            Err(e) => problems.extend(e.problems),
        }
    }
    let mut sites = Vec::new();
    for (_, path, roster) in &loaded {
        match crate::roster::calendars(&args.calendars, path, roster) {
            Ok(s) => sites.push(s),
            Err(e) => {
                problems.extend(e.problems);
                sites.push(crate::site::Sites::new());
            }
        }
    }
    // Each trial's administration record, when one is bundled.
    let mut logs = Vec::new();
    for (trial, path, roster) in &loaded {
        let log_path = crate::layout::log_for(path, &trial.id);
        if !log_path.is_file() {
            logs.push(None);
            continue;
        }
        match crate::record::read(&log_path, trial, roster, None) {
            Ok(l) => {
                super::warn_log(&l);
                logs.push(Some(l));
            }
            Err(e) => {
                problems.extend(e.problems);
                logs.push(None);
            }
        }
    }
    let mut cohorts = Vec::new();
    for (((trial, path, roster), s), log) in loaded.iter().zip(&sites).zip(&logs) {
        match Cohort::build(trial, roster, path, s, log.as_ref()) {
            Ok(c) => cohorts.push(c),
            Err(e) => problems.extend(e.problems),
        }
    }
    // Each trial's forecast plan, when one is bundled (scenarios/plans/<trial>.toml).
    let mut plans = Vec::new();
    for c in &cohorts {
        let path = crate::layout::plan_for(&c.trial.file, &c.trial.id);
        if !path.is_file() {
            plans.push(None);
            continue;
        }
        let loaded = crate::forecast::plan::load(&path, c.trial).and_then(|p| {
            let sites = crate::forecast::plan::calendars(&args.calendars, &p)?;
            Ok((p, sites))
        });
        match loaded {
            Ok(p) => plans.push(Some(p)),
            Err(e) => {
                problems.extend(e.problems);
                plans.push(None);
            }
        }
    }
    let mut models = Vec::new();
    for (c, p) in cohorts.iter().zip(&plans) {
        let Some((plan, sites)) = p else {
            models.push(None);
            continue;
        };
        let made = crate::forecast::Model::new(c.trial, plan, sites, None).and_then(|m| {
            let inputs = crate::bundle::forecast_inputs(c.trial, plan, sites, None, None)?;
            let dir = crate::bundle::forecast_folder(&args.out, c.trial)
                .map_err(|e| InputError::one(Problem::flag("--out", e.to_string())))?;
            crate::manifest::check_target(&dir, &inputs, args.force)?;
            super::common::check_forecast_replaced(&dir, &inputs)?;
            Ok((m, inputs, dir))
        });
        match made {
            Ok(m) => models.push(Some(m)),
            Err(e) => {
                problems.extend(e.problems);
                models.push(None);
            }
        }
    }
    if let Err(e) = super::common::check_out(&args.out) {
        problems.extend(e.problems);
    }
    // No trial folder is written until every one may be: a folder made with a record is
    // replaced only with a record that holds every row of it (scenarios/logs/<TRIAL>.csv).
    let mut checked = Vec::new();
    for c in &cohorts {
        let from = format!(
            "run reads it from {}, which is not there",
            crate::layout::log_for(&c.roster_path, &c.trial.id).display()
        );
        match crate::bundle::check(c, &args.out, args.force, &from) {
            Ok(k) => checked.push(k),
            Err(e) => problems.extend(e.problems),
        }
    }
    // The index goes beside the trial folders; no input may be where it goes.
    let mut reads = super::guard::Reads::new();
    for c in &cohorts {
        if let Ok(inputs) = crate::bundle::inputs_of(c) {
            reads = reads.inputs(&inputs);
        }
    }
    if let Err(p) = reads.check_file(&args.out.join("index.html"), "--out") {
        problems.push(p);
    }
    InputError::check(problems)?;

    for (c, ((m, p), k)) in cohorts.iter().zip(models.iter().zip(&plans).zip(&checked)) {
        let said = super::common::warn(c);
        super::common::warn_closed_days(c);
        if let (Some((m, _, _)), Some((plan, _))) = (m, p) {
            super::common::warn_forecast(c.trial, plan, m, None, &said);
        }
        for n in k.notes() {
            eprintln!("warning: {n}");
        }
    }
    let _lock = write::lock_folder(&args.out)?;
    for ((c, m), k) in cohorts.iter().zip(models).zip(&checked) {
        let forecast = match m {
            Some((model, inputs, dir)) => {
                let f = crate::forecast::simulate(
                    model,
                    crate::forecast::DEFAULT_REPLICATES,
                    1,
                    0,
                    inputs,
                    &|_| {},
                )?;
                super::common::warn_horizon(&f);
                let charts = crate::bundle::forecast_charts(&f)?;
                Some((f, charts, dir))
            }
            None => None,
        };
        let section = forecast
            .as_ref()
            .map(|(f, charts, _)| crate::bundle::forecast_section(f, charts));
        let s = super::common::write(c, &args.out, k, args.remind_days, section)?;
        print!("{}", s.render());
        if let Some((f, charts, dir)) = &forecast {
            crate::bundle::write_forecast(f, charts, dir)?;
            println!("  forecast: {}", crate::forecast::summary_line(f));
        }
    }
    // The index lists what is in the folder, from the manifests: this run's trials and
    // any other trial folder a `cohort` left there.
    let mut folders = Vec::new();
    for entry in std::fs::read_dir(&args.out)? {
        let path = entry?.path();
        if path.is_dir()
            && let Some(m) = crate::manifest::Manifest::read(&path)?
        {
            folders.push(m);
        }
    }
    folders.sort_by(|a, b| a.contents.trial_id.cmp(&b.contents.trial_id));
    let trials: Vec<Trial> = cohorts.iter().map(|c| c.trial.clone()).collect();
    let compare = chart::compare_svg(&trials, REFERENCE_WEIGHT_KG, true, chart::DEFAULT_SIZE)?;
    let index = args.out.join("index.html");
    write::atomic(
        &index,
        report::index(&folders, &compare, REFERENCE_WEIGHT_KG).as_bytes(),
    )?;
    println!("index: {}", index.display());
    Ok(())
}
