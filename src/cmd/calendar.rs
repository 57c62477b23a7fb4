//! `dosesim calendar`: one patient's calendar as a table, CSV, JSON or iCalendar file.

use anyhow::Result;

use crate::cli::{CalendarArgs, Format};
use dosesim::cohort::Cohort;
use dosesim::error::{InputError, Problem};
use dosesim::export::{self, Calendar};
use dosesim::inputs::{Load, RosterFile};
use dosesim::model::{Arm, SAFE_ID_RULE, Trial, is_safe_id};
use dosesim::schedule::{Patient, check_weight};
use dosesim::site::{SiteCalendar, Sites};

pub fn run(mut args: CalendarArgs) -> Result<()> {
    let reads = super::guard::Reads::new()
        .scenario(&args.scenario)
        .maybe("roster", args.roster.as_deref())
        .maybe("administration record", args.log.as_deref())
        .calendars(&args.calendars);
    if let Some(out) = &args.out {
        reads.check_file(out, "--out").map_err(InputError::one)?;
    }
    let inputs = Load::named(&args.scenario)
        .roster(args.roster.as_deref())
        .load(&super::warn_line)?;
    let trial = &inputs.trial;
    let (books, db_roster) = db_roster(&args, trial)?;
    let roster_calendar = match inputs.roster.as_ref().or(db_roster.as_ref()) {
        Some(r) => from_roster(&mut args, trial, r)?,
        None => None,
    };
    let asked = check(&args, trial, roster_calendar)?;
    let arm = asked.arm;
    let (patient, calendar) = (&asked.patient, asked.calendar.as_ref());
    let roster = one_patient(trial, arm, patient);
    let log = match &books {
        Some(b) => Some(db_log(b, trial, &roster, patient)?),
        None => read_log(&args, trial, &roster, patient)?,
    };
    let sites: Sites = calendar
        .zip(patient.site.clone())
        .map(|(c, site)| (site, c.clone()))
        .into_iter()
        .collect();
    let cohort = Cohort::one(trial, &roster, &sites, log.as_ref())?;
    let (_, _, events) = cohort.calendar(0);
    if let Some(cal) = calendar {
        super::common::warn_placed(cal, &patient.id, arm, &events);
    }
    let rows = export::rows(trial, arm, patient, &events);
    let mut assumptions = trial.assumptions_of([arm]);
    if calendar.is_some() {
        assumptions.extend(trial.closed_day_assumptions_of([arm]));
    }
    if let Some(log) = &log {
        assumptions.extend(trial.record_assumptions_of([arm], log.has_weights()));
    }
    if args.remind.asked().is_some() && asked.format != Format::Ics {
        let flag = if args.remind.remind_days.is_some() {
            "--remind-days"
        } else {
            "--remind-at"
        };
        eprintln!(
            "warning: {flag} puts reminders in a calendar file (ics), not in {} output",
            asked.format.name()
        );
    }
    // A table on stdout prints its warnings and assumed values under it: not again here.
    if asked.format != Format::Table || args.out.is_some() {
        for w in &asked.warnings {
            eprintln!("warning: {w}");
        }
        super::warn_assumptions(trial, &assumptions);
    }
    let bytes = asked.format.exporter().render(&Calendar {
        trial,
        arm,
        patient,
        warnings: &asked.warnings,
        assumptions: &assumptions,
        rows: &rows,
        site: calendar,
        record: log.as_ref().map(|l| export::Recorded {
            as_of: l.as_of,
            rows: l.entries_of(0),
        }),
        // One patient's file to --out has no folder to remember earlier files by.
        sequence_base: 0,
        remind: args.remind.asked(),
        audience: args.audience,
    })?;
    write_out(&args, reads, calendar, &bytes)
}

/// The trial's books in `--db` and its roster, when `--db` is given.
type DbBooks = (
    dosesim::db::books::Books,
    rustc_hash::FxHashMap<String, u32>,
);

fn db_roster(args: &CalendarArgs, trial: &Trial) -> Result<(Option<DbBooks>, Option<RosterFile>)> {
    let Some(at) = args.db.as_deref().map(dosesim::db::Location::parse) else {
        return Ok((None, None));
    };
    let books = db_books(&at, trial)?;
    let roster = RosterFile {
        path: books.0.roster_label.clone(),
        roster: books.0.roster(trial)?,
    };
    Ok((Some(books), Some(roster)))
}

/// The patient's record from the database, with their count of record entries (their
/// events' SEQUENCE counts them): their rows in effect and those not in effect.
fn db_log(
    (books, counts): &DbBooks,
    trial: &Trial,
    roster: &dosesim::roster::Roster,
    patient: &Patient,
) -> Result<dosesim::record::Log, InputError> {
    let mut log = books.record_for(trial, roster, None)?;
    super::warn_log(&log);
    let in_effect = log.patient(0).records.len() as u32;
    log.entries = Some(vec![
        in_effect + counts.get(&patient.id).copied().unwrap_or(0),
    ]);
    Ok(log)
}

/// `--db`: the trial's books, and each patient's count of record entries (their events'
/// SEQUENCE counts them).
fn db_books(at: &dosesim::db::Location, trial: &Trial) -> Result<DbBooks> {
    let mut db = dosesim::db::Db::open(at, dosesim::db::Open::Existing)?;
    let label = db.label().to_string();
    db.read(|s| {
        let books = dosesim::db::books::read(s, &label, &trial.id)?;
        let upto = books.head.map_or(0, |h| h.id);
        let counts = dosesim::db::books::record_entries_not_in_effect(s, &trial.id, upto)?;
        Ok((books, counts))
    })
}

/// The calendar's file to `--out`, or to stdout.
fn write_out(
    args: &CalendarArgs,
    reads: super::guard::Reads,
    calendar: Option<&dosesim::site::SiteCalendar>,
    bytes: &[u8],
) -> Result<()> {
    match &args.out {
        Some(path) => {
            // The holiday files the site calendar names are inputs too.
            let sources =
                dosesim::manifest::calendar_inputs(&calendar.into_iter().collect::<Vec<_>>())?;
            reads
                .inputs(&sources)
                .check_file(path, "--out")
                .map_err(InputError::one)?;
            let _lock = dosesim::write::lock_out_file(path)?;
            dosesim::write::atomic(path, bytes)
        }
        None => dosesim::write::stdout(bytes),
    }
}

/// `--roster`: the patient `--patient` names, their arm, weight, start and site taken
/// from their line, and their site's calendar (a missing one said of the roster's line,
/// as cohort does). The roster's warnings are printed.
fn from_roster(
    args: &mut CalendarArgs,
    trial: &Trial,
    r: &RosterFile,
) -> Result<Option<(String, SiteCalendar)>, InputError> {
    let (path, roster) = (&r.path, &r.roster);
    crate::cmd::common::warn_roster(roster);
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
    let calendar =
        dosesim::roster::calendars_of(&args.calendars, path, roster, [entry])?.pop_first();
    args.arm = Some(trial.arms[entry.arm as usize].id.clone());
    args.weight = Some(entry.weight_kg);
    args.start = Some(entry.start);
    args.site = roster.site(entry).map(str::to_string);
    Ok(calendar)
}

/// What the flags ask for, checked: every problem at once.
struct Asked<'t> {
    arm: &'t Arm,
    format: Format,
    patient: Patient,
    /// The patient's site calendar, if they have one.
    calendar: Option<SiteCalendar>,
    /// Warnings for the calendar's file (a spreadsheet's reading of the id, an unusual
    /// weight).
    warnings: Vec<String>,
}

/// Checks the flags: the arm, the format and `--out`, the patient id, the site and its
/// calendar (`from_roster`: the one the roster's line gave), the weight.
fn check<'t>(
    args: &CalendarArgs,
    trial: &'t Trial,
    from_roster: Option<(String, SiteCalendar)>,
) -> Result<Asked<'t>, InputError> {
    let (Some(arm_id), Some(weight), Some(start)) = (args.arm.clone(), args.weight, args.start)
    else {
        unreachable!("clap requires --arm, --weight and --start without --roster");
    };
    let arm = super::find_arm(trial, &arm_id);
    let mut problems = Vec::new();
    if let Err(e) = &arm {
        problems.extend(e.problems.iter().cloned());
    }
    let format = check_format(args, trial, arm.as_ref().ok().copied(), &mut problems);
    let mut warnings = Vec::new();
    let patient_id = check_patient_id(args, format, &mut problems, &mut warnings);
    let calendar = match &args.site {
        Some(_) if from_roster.is_some() => from_roster.map(|(_, c)| c),
        Some(site) => site_calendar(args, site, start, &mut problems),
        None => None,
    };
    match check_weight(weight, &trial.weight) {
        Ok(Some(w)) => warnings.push(w),
        Ok(None) => {}
        Err(e) => problems.push(Problem::flag("--weight", e.to_string())),
    }
    InputError::check(problems)?;
    Ok(Asked {
        arm: arm?,
        format,
        patient: Patient {
            id: patient_id,
            weight_kg: weight,
            start,
            site: args.site.clone(),
        },
        calendar,
        warnings,
    })
}

/// The output format (`--format`, or the one `--out` names), a calendar file's need of an
/// event, and `--out` itself.
fn check_format(
    args: &CalendarArgs,
    trial: &Trial,
    arm: Option<&Arm>,
    problems: &mut Vec<Problem>,
) -> Format {
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
        && let Some(a) = arm
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
    // The patient's form leaves out what a CSV, JSON or table is for (doses, cell counts):
    // it is a calendar file or nothing, never a staff file handed over by mistake.
    if args.audience == crate::cli::Audience::Patient && format != Format::Ics {
        problems.push(Problem::flag(
            "--for",
            format!(
                "--for patient makes a calendar file for a patient's phone, and {} output is the staff's (with doses and cell counts): add --format ics, or --out a file ending in .ics",
                format.name()
            ),
        ));
    }
    if let Some(out) = &args.out
        && let Err(p) = dosesim::write::check_out_file(out, "--out")
    {
        problems.push(p);
    }
    format
}

/// The patient id: `--patient`, or "patient" (not for a calendar file, whose event ids
/// are built from it).
fn check_patient_id(
    args: &CalendarArgs,
    format: Format,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<String>,
) -> String {
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
    if args.patient.is_some()
        && let Some(reading) = dosesim::roster::spreadsheet_reading(&patient_id)
    {
        warnings.push(format!(
            "patient id '{patient_id}': a spreadsheet will read it as {reading}, and show or save it differently"
        ));
    }
    patient_id
}

/// `--site`'s calendar, `SITE.toml` in `--calendars`, read for the patient's dates.
fn site_calendar(
    args: &CalendarArgs,
    site: &str,
    start: chrono::NaiveDate,
    problems: &mut Vec<Problem>,
) -> Option<SiteCalendar> {
    if !is_safe_id(site) {
        problems.push(Problem::flag(
            "--site",
            format!("'{site}' is not a valid site id: use {SAFE_ID_RULE}"),
        ));
        return None;
    }
    let file = args.calendars.join(format!("{site}.toml"));
    if !file.is_file() {
        problems.push(Problem::flag(
            "--site",
            format!(
                "no calendar for site '{site}': {} does not exist; {} (--calendars DIR names another folder)",
                file.display(),
                dosesim::site::known_calendars(&args.calendars)
            ),
        ));
        return None;
    }
    dosesim::site::load_within(&file, Some(dosesim::site::Span::of_starts(start, start)))
        .map_err(|e| problems.extend(e.problems))
        .ok()
}

/// `--log`: the patient's rows of the record (the rows of other patients skipped), with
/// its warnings, and one if the patient has no rows.
fn read_log(
    args: &CalendarArgs,
    trial: &Trial,
    roster: &dosesim::roster::Roster,
    patient: &Patient,
) -> Result<Option<dosesim::record::Log>, InputError> {
    let Some(path) = &args.log else {
        return Ok(None);
    };
    let log = dosesim::record::read_for(path, trial, roster, args.as_of)?;
    super::warn_log(&log);
    if log.patient(0).is_empty() && patient.start <= log.as_of {
        eprintln!(
            "warning: {} has no rows for patient {}: every event up to {} is shown due (check the id's spelling and case)",
            path.display(),
            patient.id,
            log.as_of
        );
    }
    Ok(Some(log))
}

/// The one patient of a calendar as a roster, to read their rows of a log.
fn one_patient(
    trial: &dosesim::model::Trial,
    arm: &dosesim::model::Arm,
    patient: &Patient,
) -> dosesim::roster::Roster {
    let arm_index = trial
        .arms
        .iter()
        .position(|a| std::ptr::eq(a, arm))
        .expect("the arm is the trial's");
    dosesim::roster::Roster {
        entries: vec![dosesim::roster::Entry {
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
