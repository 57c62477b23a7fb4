//! `dosesim calendar`: one patient's calendar as a table, CSV, JSON or iCalendar file.

use anyhow::Result;

use crate::cli::{CalendarArgs, Format};
use crate::error::{InputError, Problem};
use crate::export;
use crate::scenario::{self, is_safe_id};
use crate::schedule::{Patient, Plan, ScheduleError, check_weight};

pub fn run(args: CalendarArgs) -> Result<()> {
    let trial = scenario::load(&args.scenario)?;
    let arm = super::find_arm(&trial, &args.arm);
    let mut problems = Vec::new();
    if let Err(e) = &arm {
        problems.extend(e.problems.iter().cloned());
    }
    if !is_safe_id(&args.patient) {
        problems.push(Problem::flag(
            "--patient",
            format!(
                "'{}' is not a valid patient id: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
                args.patient
            ),
        ));
    }
    let mut warnings = Vec::new();
    match check_weight(args.weight, &trial.weight) {
        Ok(Some(w)) => warnings.push(w),
        Ok(None) => {}
        Err(e) => problems.push(Problem::flag("--weight", e.to_string())),
    }
    InputError::check(problems)?;
    let arm = arm?;

    let patient = Patient {
        id: args.patient.clone(),
        weight_kg: args.weight,
        start: args.start,
    };
    let events = Plan::new(&trial, arm)
        .schedule(&patient)
        .map_err(|e| schedule_problem(&trial.file, e))?;
    let rows = export::rows(&trial, arm, &patient, &events);
    let assumptions = arm.assumptions(&trial);
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    super::warn_assumptions(&trial, arm, &assumptions);

    let bytes = match args.format {
        Format::Table => export::table::render(&export::table::Calendar {
            trial: &trial,
            arm,
            patient: &patient,
            warnings: &warnings,
            assumptions: &assumptions,
            rows: &rows,
        })
        .into_bytes(),
        Format::Csv => {
            let mut buf = Vec::new();
            export::csv::write(&mut buf, &rows)?;
            buf
        }
        Format::Json => export::json::to_string(&export::json::Calendar {
            trial: &trial,
            arm,
            patient: &patient,
            warnings: &warnings,
            assumptions: &assumptions,
            rows: &rows,
        })
        .into_bytes(),
        Format::Ics => export::ics::render(&trial, arm, &patient, &rows).into_bytes(),
    };
    match &args.out {
        Some(path) => crate::write::atomic(path, &bytes),
        None => crate::write::stdout(&bytes),
    }
}

/// A schedule that cannot be made is bad input: blame the scenario and the weight.
pub fn schedule_problem(file: &std::path::Path, e: ScheduleError) -> InputError {
    let field = match e {
        ScheduleError::Weight(_) | ScheduleError::AboveMaximum { .. } => "--weight",
        ScheduleError::DateOutOfRange(_) => "--start",
    };
    InputError::one(Problem::new(file, e.to_string()).field(field))
}
