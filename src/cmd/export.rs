//! `dosesim export`: a roster's schedule and record in a format other tools read
//! ([`dosesim::exchange`]: NONMEM/nlmixr2, CDISC SDTM, FHIR R4), written under
//! `DIR/<trial id>/<format>/` by [`dosesim::bundle::write_export`].

use anyhow::Result;

use crate::cli::ExchangeArgs;
use dosesim::cohort::Cohort;
use dosesim::error::{InputError, Problem};
use dosesim::exchange::{self, Export, Format, Options};
use dosesim::inputs::Load;
use dosesim::{manifest, write};

pub fn run(args: ExchangeArgs) -> Result<()> {
    let mut problems = Vec::new();
    if let Err(p) = super::guard::Reads::new()
        .scenario(&args.scenario)
        .maybe("roster", args.roster.as_deref())
        .record(&args.record)
        .calendars(&args.calendars)
        .check_folder(&args.out, "--out")
    {
        problems.push(p);
    }
    if args.expanded && args.format != Format::Nonmem {
        problems.push(Problem::flag(
            "--expanded",
            format!(
                "is for the nonmem event table (every dose on a row of its own); the {} export has no ADDL or II to expand",
                args.format.as_str()
            ),
        ));
    }
    if let Err(e) = super::common::check_out(&args.out) {
        problems.extend(e.problems);
    }
    InputError::check(problems)?;
    let db = super::common::database(
        &args.db,
        &[
            ("--roster", args.roster.is_some()),
            ("--log", args.record.log.is_some()),
        ],
    )?;
    if args.roster.is_none() && db.is_none() {
        return Err(super::common::no_roster().into());
    }
    let inputs = super::common::load(
        Load::named(&args.scenario)
            .database(db.as_ref())
            .without_record_copy()
            .roster(args.roster.as_deref())
            .calendars(&args.calendars)
            .record(args.record.log.as_deref(), args.record.as_of),
    )?;
    let cohort = Cohort::of(&inputs)?;
    super::common::warn(&cohort);
    super::common::warn_closed_days(&cohort);
    let trial = cohort.trial;
    let dir = dosesim::bundle::export_folder(&args.out, trial, args.format)?;
    let made_from = dosesim::bundle::inputs_of(&cohort)?;
    manifest::check_target(&dir, &made_from, args.force)?;
    super::common::check_forecast_replaced(&dir, &made_from)?;
    let export = Export::of(&cohort);
    let options = Options {
        expanded: args.expanded,
        created: export.data_cut(),
    };
    let files = exchange::files(args.format, &export, &options)?;
    let doses: u64 = export
        .subjects
        .iter()
        .map(|s| s.doses().count() as u64)
        .sum();
    let line = format!(
        "{} export of {} patients, {} doses{}",
        args.format.as_str(),
        export.subjects.len(),
        doses,
        export
            .as_of
            .map_or_else(String::new, |d| format!(", record as of {d}"))
    );
    let _lock = write::lock_folder(&args.out)?;
    dosesim::bundle::write_export(&cohort, &files, &made_from, (doses, line.clone()), &dir)?;
    println!("{}: {line}", trial.id);
    println!("{}: {}", args.format.as_str(), dir.display());
    Ok(())
}
