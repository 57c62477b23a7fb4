//! `dosesim cohort`: a roster against a trial, written under `DIR/<trial id>/` by
//! [`dosesim::bundle`]: pharmacy.csv, prep.csv, report.html and `patients/<id>.csv` and .ics.

use anyhow::Result;

use super::common::check_out;
use crate::cli::CohortArgs;
use dosesim::bundle;
use dosesim::cohort::Cohort;
use dosesim::inputs::Load;

pub fn run(args: CohortArgs) -> Result<()> {
    super::guard::Reads::new()
        .scenario(&args.scenario)
        .maybe("roster", args.roster.as_deref())
        .record(&args.record)
        .calendars(&args.calendars)
        .check_folder(&args.out, "--out")
        .map_err(dosesim::error::InputError::one)?;
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
            .roster(args.roster.as_deref())
            .calendars(&args.calendars)
            .record(args.record.log.as_deref(), args.record.as_of),
    )?;
    let cohort = Cohort::of(&inputs)?;
    check_out(&args.out)?;
    let checked = bundle::check(&cohort, &args.out, args.force, "give it with --log")?;
    let _ = super::common::warn(&cohort);
    super::common::warn_closed_days(&cohort);
    for n in checked.notes() {
        eprintln!("warning: {n}");
    }
    let _lock = dosesim::write::lock_folder(&args.out)?;
    let summary = super::common::write(&cohort, &args.out, &checked, args.remind.asked(), None)?;
    print!("{}", summary.render());
    Ok(())
}
