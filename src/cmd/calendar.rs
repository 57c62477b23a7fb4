//! `dosesim calendar`: one patient's calendar as a table, CSV, JSON or iCalendar file.

use anyhow::Result;

use crate::cli::{CalendarArgs, Format};
use crate::error::{InputError, Problem};
use crate::export::{self, Calendar};
use crate::model::{SAFE_ID_RULE, is_safe_id};
use crate::scenario;
use crate::schedule::{Patient, Plan, ScheduleError, check_weight};

pub fn run(mut args: CalendarArgs) -> Result<()> {
    let reads = super::guard::Reads::new()
        .scenario(&args.scenario)
        .maybe("roster", args.roster.as_deref())
        .maybe("administration record", args.log.as_deref())
        .calendars(&args.calendars);
    if let Some(out) = &args.out {
        reads.check_file(out, "--out").map_err(InputError::one)?;
    }
    let trial = scenario::load_named(&args.scenario)?;
    let mut roster_calendar = None;
    if let Some(path) = &args.roster {
        let roster = crate::roster::read(path, &trial)?;
        super::common::warn_roster(&roster);
        let id = args.patient.as_deref().unwrap_or_default();
        let entry = roster.entries.iter().find(|e| &*e.id == id).ok_or_else(|| {
            InputError::one(
                Problem::new(
                    path,
                    format!(
                        "no patient '{id}' in the roster ({} patients; ids are compared as written, case included)",
                        roster.entries.len()
                    ),
                )
                .field("--patient"),
            )
        })?;
        // The patient's site calendar, a missing one said of the roster's line, as cohort does.
        roster_calendar =
            crate::roster::calendars_of(&args.calendars, path, &roster, [entry])?.pop_first();
        args.arm = Some(trial.arms[entry.arm as usize].id.clone());
        args.weight = Some(entry.weight_kg);
        args.start = Some(entry.start);
        args.site = roster.site(entry).map(str::to_string);
    }
    let (Some(arm_id), Some(weight), Some(start)) = (args.arm.clone(), args.weight, args.start)
    else {
        unreachable!("clap requires --arm, --weight and --start without --roster");
    };
    let arm = super::find_arm(&trial, &arm_id);
    let mut problems = Vec::new();
    if let Err(e) = &arm {
        problems.extend(e.problems.iter().cloned());
    }
    let format = match super::output_format(
        args.format,
        args.out.as_deref(),
        &Format::EXTENSIONS,
        Format::Table,
        |f| f.name().to_string(),
    ) {
        Ok(f) => f,
        Err(p) => {
            problems.push(p);
            Format::Table
        }
    };
    // A calendar file must hold an event: none for an arm of background treatment only.
    if format == Format::Ics
        && let Ok(a) = &arm
        && !export::ics::has_events(a)
    {
        problems.push(Problem::flag(
            "--format",
            format!(
                "arm '{}' of {} makes no calendar file: {}; its calendar as csv, json or table lists the background treatment",
                a.id,
                trial.id,
                export::ics::NO_EVENTS
            ),
        ));
    }
    if let Some(out) = &args.out
        && let Err(p) = crate::write::check_out_file(out, "--out")
    {
        problems.push(p);
    }
    let patient_id = match (&args.patient, format) {
        (Some(id), _) => id.clone(),
        (None, Format::Ics) => {
            problems.push(Problem::flag(
                "--patient",
                "name the patient for a calendar file: its event ids are built from the patient id, so two files made for the default 'patient' would replace each other's events in a calendar app",
            ));
            String::new()
        }
        (None, _) => "patient".to_string(),
    };
    if args.patient.is_some() && !is_safe_id(&patient_id) {
        problems.push(Problem::flag(
            "--patient",
            format!("'{patient_id}' is not a valid patient id: use {SAFE_ID_RULE}"),
        ));
    }
    let mut warnings = Vec::new();
    if args.patient.is_some()
        && let Some(reading) = crate::roster::spreadsheet_reading(&patient_id)
    {
        warnings.push(format!(
            "patient id '{patient_id}': a spreadsheet will read it as {reading}, and show or save it differently"
        ));
    }
    let calendar = match &args.site {
        Some(_) if roster_calendar.is_some() => roster_calendar.map(|(_, c)| c),
        Some(site) if !is_safe_id(site) => {
            problems.push(Problem::flag(
                "--site",
                format!("'{site}' is not a valid site id: use {SAFE_ID_RULE}"),
            ));
            None
        }
        Some(site) => {
            let file = args.calendars.join(format!("{site}.toml"));
            if !file.is_file() {
                problems.push(Problem::flag(
                    "--site",
                    format!(
                        "no calendar for site '{site}': {} does not exist (--calendars DIR names the folder of site calendars)",
                        file.display()
                    ),
                ));
                None
            } else {
                match crate::site::load_within(
                    &file,
                    Some(crate::site::Span::of_starts(start, start)),
                ) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        problems.extend(e.problems);
                        None
                    }
                }
            }
        }
        None => None,
    };
    match check_weight(weight, &trial.weight) {
        Ok(Some(w)) => warnings.push(w),
        Ok(None) => {}
        Err(e) => problems.push(Problem::flag("--weight", e.to_string())),
    }
    InputError::check(problems)?;
    let arm = arm?;

    let patient = Patient {
        id: patient_id,
        weight_kg: weight,
        start,
        site: args.site.clone(),
    };
    let plan = Plan::new(&trial, arm);
    let mut events = plan
        .schedule_at(&patient, calendar.as_ref())
        .map_err(|e| schedule_problem(&trial.file, e))?;
    let log = match &args.log {
        Some(path) => {
            let roster = one_patient(&trial, arm, &patient);
            let log = crate::record::read_for(path, &trial, &roster, args.as_of)?;
            super::warn_log(&log);
            let pl = log.patient(0);
            if pl.is_empty() && patient.start <= log.as_of {
                eprintln!(
                    "warning: {} has no rows for patient {}: every event up to {} is shown due (check the id's spelling and case)",
                    path.display(),
                    patient.id,
                    log.as_of
                );
            }
            let shared = match &calendar {
                Some(c) => Some(
                    plan.placement(patient.start, c)
                        .map_err(|e| schedule_problem(&trial.file, e))?,
                ),
                None => None,
            };
            let fixes = plan.fixes(patient.start, shared.as_ref().map(|p| p.slots()), &pl);
            let placement = if fixes.is_empty() {
                shared
            } else {
                // A recorded date can re-project the rest past the calendar: said of its row.
                Some(
                    plan.place_on(patient.start, calendar.as_ref(), &fixes)
                        .map_err(|e| {
                            InputError::one(crate::record::schedule_problem(
                                path,
                                &patient.id,
                                &pl,
                                &e,
                            ))
                        })?,
                )
            };
            plan.actual(
                None,
                patient.weight_kg,
                patient.start,
                placement.as_ref().map(|p| p.slots()),
                &pl,
                log.as_of,
                &mut events,
            )
            .map_err(|e| {
                InputError::one(crate::record::schedule_problem(path, &patient.id, &pl, &e))
            })?;
            Some(log)
        }
        None => None,
    };
    if let Some(cal) = &calendar {
        super::common::warn_placed(cal, &patient.id, arm, &events);
    }
    let rows = export::rows(&trial, arm, &patient, &events);
    let mut assumptions = trial.assumptions_of([arm]);
    if calendar.is_some() {
        assumptions.extend(trial.closed_day_assumptions_of([arm]));
    }
    if let Some(log) = &log {
        assumptions.extend(trial.record_assumptions_of([arm], log.has_weights()));
    }
    if args.remind_days.is_some() && format != Format::Ics {
        eprintln!(
            "warning: --remind-days puts reminders in a calendar file (ics), not in {} output",
            format.name()
        );
    }
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    super::warn_assumptions(&trial, &assumptions);
    let bytes = format.exporter().render(&Calendar {
        trial: &trial,
        arm,
        patient: &patient,
        warnings: &warnings,
        assumptions: &assumptions,
        rows: &rows,
        site: calendar.as_ref(),
        record: log.as_ref().map(|l| export::Recorded {
            as_of: l.as_of,
            rows: l.patient(0).records.len(),
        }),
        // One patient's file to --out has no folder to remember earlier files by.
        sequence_base: 0,
        remind_days: args.remind_days,
    })?;
    match &args.out {
        Some(path) => {
            // The holiday files the site calendar names are inputs too.
            let sources = crate::manifest::calendar_inputs(&calendar.iter().collect::<Vec<_>>())?;
            reads
                .inputs(&sources)
                .check_file(path, "--out")
                .map_err(InputError::one)?;
            let _lock = crate::write::lock_out_file(path)?;
            crate::write::atomic(path, &bytes)
        }
        None => crate::write::stdout(&bytes),
    }
}

/// The one patient of a calendar as a roster, to read their rows of a log.
fn one_patient(
    trial: &crate::model::Trial,
    arm: &crate::model::Arm,
    patient: &Patient,
) -> crate::roster::Roster {
    let arm_index = trial
        .arms
        .iter()
        .position(|a| std::ptr::eq(a, arm))
        .expect("the arm is the trial's");
    crate::roster::Roster {
        entries: vec![crate::roster::Entry {
            id: patient.id.as_str().into(),
            weight_kg: patient.weight_kg,
            start: patient.start,
            line: 0,
            arm: arm_index as u16,
            site: patient.site.as_ref().map(|_| 0),
        }],
        by_id: vec![0],
        warnings: Vec::new(),
        id_warnings: Vec::new(),
        date_warnings: Vec::new(),
        sites: patient.site.iter().map(|s| s.as_str().into()).collect(),
        site_warnings: Vec::new(),
    }
}

/// A schedule that cannot be made is bad input: blame the scenario and the weight.
pub fn schedule_problem(file: &std::path::Path, e: ScheduleError) -> InputError {
    let field = match e {
        ScheduleError::Weight(_)
        | ScheduleError::AboveMaximum { .. }
        | ScheduleError::RoundsToZero { .. } => "--weight",
        ScheduleError::DateOutOfRange(_) => "--start",
        ScheduleError::AtRecordedWeight { .. } => "--log",
    };
    InputError::one(Problem::new(file, e.to_string()).field(field))
}
