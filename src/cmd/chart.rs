//! `dosesim chart`, `compare` and `timeline`: check every argument first (all problems
//! reported together, nothing written), warn about the assumed values the chart uses, then
//! draw with [`dosesim::chart`] and write the file atomically.

use std::path::Path;

use anyhow::Result;

use crate::cli::{ChartArgs, CompareArgs, TimelineArgs};
use dosesim::chart::{self, ChartError};
use dosesim::error::{InputError, Problem};
use dosesim::model::{Arm, ComponentKind, DoseAmount, Trial, Unit};
use dosesim::scenario;
use dosesim::schedule::{ScheduleError, check_weight};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Png,
    Svg,
}

/// The output format, from the file's extension (in any case).
fn out_format(path: &Path, problems: &mut Vec<Problem>) -> Option<Format> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("png") => Some(Format::Png),
        Some("svg") => Some(Format::Svg),
        _ => {
            problems.push(Problem::flag(
                "--out",
                format!(
                    "'{}' must end in .png or .svg (the chart format)",
                    path.display()
                ),
            ));
            None
        }
    }
}

/// Checks `--out` whole: its extension names the format and its folder exists.
fn out_file(path: &Path, problems: &mut Vec<Problem>) -> Option<Format> {
    let format = out_format(path, problems);
    problems.extend(dosesim::write::check_out_file(path, "--out").err());
    format
}

/// Checks a weight against `trial`: a hard-limit failure becomes a problem with `flag`, a
/// weight outside the usual range a warning.
fn weight(
    kg: f64,
    trial: &Trial,
    flag: &str,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<String>,
) {
    match check_weight(dosesim::model::Kg::from_f64(kg), &trial.weight) {
        Ok(Some(w)) => warnings.push(format!("{}: {w}", trial.id)),
        Ok(None) => {}
        Err(e) => {
            let p = Problem::flag(flag, e.to_string());
            if !problems.contains(&p) {
                problems.push(p);
            }
        }
    }
}

/// True when the arm gives a dosed cell product: the arms the compare chart draws.
fn gives_cells(trial: &Trial, arm: &Arm) -> bool {
    arm.components.iter().any(|c| {
        c.kind == ComponentKind::CellInfusion
            && trial.products[c.product].unit == Unit::Cells
            && c.dose.amount != DoseAmount::None
    })
}

/// The flags a chart command takes its weight and start date from, to blame when the
/// schedule cannot be made with them.
struct Flags {
    weight: &'static str,
    /// `None` when the command has no start flag (its charts start on a fixed date).
    start: Option<&'static str>,
}

/// A chart error as the command reports it: a schedule that cannot be made is bad input
/// (exit 2), blamed on the scenario file and the flag behind it; anything else is an
/// ordinary error.
fn command_error(e: ChartError, flags: &Flags) -> anyhow::Error {
    match e {
        ChartError::Schedule { file, arm, error } => {
            let field = match error {
                ScheduleError::DateOutOfRange(_) => flags.start,
                _ => Some(flags.weight),
            };
            let mut p = Problem::new(&file, format!("arm {arm}: {error}"));
            if let Some(field) = field {
                p = p.field(field);
            }
            InputError::one(p).into()
        }
        other => other.into(),
    }
}

/// Refuses an `--out` that would replace a scenario the chart is drawn from, or that lies
/// in a folder of inputs, before anything is read.
fn guard(out: &Path, scenarios: &[&Path]) -> Result<(), InputError> {
    let reads = scenarios
        .iter()
        .fold(super::guard::Reads::new(), |r, s| r.scenario(s));
    reads.check_file(out, "--out").map_err(InputError::one)
}

/// Writes the chart, with the lock of the folder it goes in.
fn write_out(out: &Path, bytes: &[u8]) -> Result<()> {
    let _lock = dosesim::write::lock_out_file(out)?;
    dosesim::write::atomic(out, bytes)
}

fn warn_all(warnings: &[String]) {
    for w in warnings {
        eprintln!("warning: {w}");
    }
}

pub fn run_chart(args: ChartArgs) -> Result<()> {
    guard(&args.out, &[&args.scenario])?;
    let trial = scenario::load_named(&args.scenario)?;
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let mut arms: Vec<&Arm> = Vec::new();
    if args.arms.is_empty() {
        arms = trial.arms.iter().collect();
    } else {
        for id in &args.arms {
            match super::find_arm(&trial, id) {
                Ok(arm) if !arms.iter().any(|a| a.id == arm.id) => arms.push(arm),
                Ok(_) => {}
                Err(e) => problems.extend(e.problems),
            }
        }
    }
    weight(
        args.weight,
        &trial,
        "--weight",
        &mut problems,
        &mut warnings,
    );
    let format = out_file(&args.out, &mut problems);
    InputError::check(problems)?;

    warn_all(&warnings);
    super::warn_assumptions(
        &trial,
        &super::assumptions_of_arms(&trial, arms.iter().copied()),
    );
    let size = chart::DEFAULT_SIZE;
    let bytes = match format {
        Some(Format::Png) => {
            chart::cumulative_png(&trial, &arms, args.weight, args.start, args.per_kg, size)
        }
        _ => chart::cumulative_svg(&trial, &arms, args.weight, args.start, args.per_kg, size)
            .map(String::into_bytes),
    };
    let flags = Flags {
        weight: "--weight",
        start: Some("--start"),
    };
    let bytes = bytes.map_err(|e| command_error(e, &flags))?;
    write_out(&args.out, &bytes)
}

pub fn run_compare(args: CompareArgs) -> Result<()> {
    guard(
        &args.out,
        &args
            .scenarios
            .iter()
            .map(|p| p.as_path())
            .collect::<Vec<_>>(),
    )?;
    let files = super::scenario_files(&args.scenarios)?;
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let mut trials = Vec::new();
    for f in &files {
        match scenario::load(f) {
            Ok(t) => trials.push(t),
            Err(e) => problems.extend(e.problems),
        }
    }
    for t in &trials {
        weight(
            args.reference_weight,
            t,
            "--reference-weight",
            &mut problems,
            &mut warnings,
        );
    }
    let format = out_file(&args.out, &mut problems);
    InputError::check(problems)?;

    warn_all(&warnings);
    for t in &trials {
        let arms = t.arms.iter().filter(|a| gives_cells(t, a));
        super::warn_assumptions(t, &super::assumptions_of_arms(t, arms));
    }
    let size = chart::DEFAULT_SIZE;
    let bytes = match format {
        Some(Format::Png) => chart::compare_png(&trials, args.reference_weight, args.log, size),
        _ => chart::compare_svg(&trials, args.reference_weight, args.log, size)
            .map(String::into_bytes),
    };
    let flags = Flags {
        weight: "--reference-weight",
        start: None,
    };
    let bytes = bytes.map_err(|e| command_error(e, &flags))?;
    write_out(&args.out, &bytes)
}

pub fn run_timeline(args: TimelineArgs) -> Result<()> {
    guard(&args.out, &[&args.scenario])?;
    let trial = scenario::load_named(&args.scenario)?;
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    weight(
        args.weight,
        &trial,
        "--weight",
        &mut problems,
        &mut warnings,
    );
    let format = out_file(&args.out, &mut problems);
    InputError::check(problems)?;

    warn_all(&warnings);
    super::warn_assumptions(&trial, &super::assumptions_of_arms(&trial, &trial.arms));
    let size = chart::timeline_size(trial.arms.len());
    let bytes = match format {
        Some(Format::Png) => chart::timeline_png(&trial, args.weight, size),
        _ => chart::timeline_svg(&trial, args.weight, size).map(String::into_bytes),
    };
    let flags = Flags {
        weight: "--weight",
        start: None,
    };
    let bytes = bytes.map_err(|e| command_error(e, &flags))?;
    write_out(&args.out, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_extension_picks_the_format() {
        let mut p = Vec::new();
        assert_eq!(out_format(Path::new("a/b.PNG"), &mut p), Some(Format::Png));
        assert_eq!(out_format(Path::new("b.svg"), &mut p), Some(Format::Svg));
        assert!(p.is_empty());
        assert_eq!(out_format(Path::new("b.pdf"), &mut p), None);
        assert_eq!(out_format(Path::new("b"), &mut p), None);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].field.as_deref(), Some("--out"));
    }

    fn schedule_error(error: ScheduleError) -> ChartError {
        ChartError::Schedule {
            file: "s.toml".into(),
            arm: "high".into(),
            error,
        }
    }

    #[test]
    fn a_schedule_error_blames_the_flag_behind_it() {
        let flags = Flags {
            weight: "--reference-weight",
            start: Some("--start"),
        };
        let late = command_error(schedule_error(ScheduleError::DateOutOfRange(91)), &flags);
        let input = late
            .downcast_ref::<InputError>()
            .expect("bad input, exit 2");
        assert_eq!(input.problems[0].field.as_deref(), Some("--start"));
        assert_eq!(
            input.to_string(),
            "s.toml: --start: arm high: study day 91 falls outside the calendar the outputs can show (0001-01-01 to 9999-12-31)"
        );
        let heavy = command_error(
            schedule_error(ScheduleError::AboveMaximum {
                component: "msc".into(),
                occurrence: 1,
                dose: 2e8,
                max: 1e8,
                unit: "cells",
            }),
            &flags,
        );
        let input = heavy.downcast_ref::<InputError>().unwrap();
        assert_eq!(
            input.problems[0].field.as_deref(),
            Some("--reference-weight")
        );
        // Without a start flag, the date problem is the scenario's alone.
        let fixed = Flags {
            weight: "--weight",
            start: None,
        };
        let late = command_error(schedule_error(ScheduleError::DateOutOfRange(91)), &fixed);
        let input = late.downcast_ref::<InputError>().unwrap();
        assert_eq!(input.problems[0].field, None);
        // Other chart errors stay ordinary errors (exit 1), as before.
        let e = command_error(ChartError::NothingToCompare, &fixed);
        assert!(e.downcast_ref::<InputError>().is_none());
    }
}
